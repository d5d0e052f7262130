/*
 * plugins/store/s3/s3_int.h: what the S3 plugin's files share. Nothing here
 * is exported from the .so; the unit tests compile the files they test.
 */
#ifndef CAIRN_S3_INT_H
#define CAIRN_S3_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"

/* ------------------------------------------------------------------------ */
/* Growable byte buffer: every append fails soft (oom set, data kept). */

typedef struct s3_buf {
	char *p;
	size_t len, cap;
	size_t max; /* 0 = no limit; appends past it set oom */
	bool oom;
} s3_buf;

void s3_buf_add(s3_buf *b, const void *data, size_t len);
void s3_buf_str(s3_buf *b, const char *s);
void s3_buf_printf(s3_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Percent-encodes s per SigV4 (unreserved A-Za-z0-9-._~ kept); '/' kept
 * when keep_slash. */
void s3_buf_uri_encode(s3_buf *b, const char *s, size_t len, bool keep_slash);
/* NUL-terminated view of b (empty string when nothing or out of memory). */
const char *s3_buf_cstr(s3_buf *b);
void s3_buf_free(s3_buf *b);

/* ------------------------------------------------------------------------ */
/* Signature V4 (s3_sigv4.c) */

typedef struct s3_param {
	const char *name, *value; /* raw (not encoded); value may be "" */
} s3_param;

/* "name=value&..." with both encoded and sorted by encoded name, then value:
 * the canonical query string, also usable as the URL's query. */
void s3_query_build(s3_buf *out, const s3_param *params, size_t n);

typedef struct s3_sign_in {
	const char *method;
	const char *canonical_uri;        /* encoded path, e.g. "/bucket/a%20b" */
	const char *canonical_query;      /* from s3_query_build, or "" */
	const cairn_http_header *headers; /* signed; must include host and x-amz-date */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 or "UNSIGNED-PAYLOAD" */
	const char *amz_date;     /* "20150830T123600Z" */
	const char *region, *service;
	const char *access_key, *secret_key;
} s3_sign_in;

/* Signature of in: signed_headers gets "host;x-amz-date" (cap bytes),
 * sig_hex the 64 hex digits. Returns false when out of memory or a buffer
 * is too small. */
bool s3_sign(const cairn_host_api *h, const s3_sign_in *in, char *signed_headers, size_t sh_cap,
             char sig_hex[65]);
/* The Authorization header value for in. */
bool s3_sign_authorization(const cairn_host_api *h, const s3_sign_in *in, char *out, size_t cap);
/* "20150830T123600Z" from ms since the epoch. */
void s3_amz_date(int64_t now_ms, char out[17]);
void s3_hex(const uint8_t *in, size_t n, char *out);
/* MD5 of data (s3_md5.c): only for Content-MD5 headers. */
void s3_md5(const void *data, size_t len, uint8_t out[16]);

/* ------------------------------------------------------------------------ */
/* XML (s3_xml.c): a bounded scanner for S3's flat response documents. */

/* The next element named name (exact, case-sensitive) at or after *pos in
 * doc[0, len): its raw inner text in *inner / *inner_len; *pos moves past
 * its end tag. A self-closing element has empty inner text. Returns false
 * when there is none (or the document is cut off). */
bool s3_xml_next(const char *doc, size_t len, size_t *pos, const char *name, const char **inner,
                 size_t *inner_len);
/* The first element name inside doc, decoded into out (cap bytes,
 * NUL-terminated). Returns false when absent, badly escaped or too long. */
bool s3_xml_text(const char *doc, size_t len, const char *name, char *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Credentials (s3_creds.c) */

typedef struct s3_creds {
	char access_key[128];
	char secret_key[256];
	char token[4096];   /* session token, "" when none */
	int64_t expires_ms; /* 0 = does not expire */
	char source[32];    /* "environment", "shared file", "container", "instance" */
} s3_creds;

typedef struct s3_cred_provider {
	const cairn_host_api *host;
	pthread_mutex_t mu;
	bool have;
	s3_creds cached;
	char profile[128];
	char file[1024];
	/* The last lookup found nothing: its status and message, repeated
	 * until fail_until_ms rather than probing every source per request. */
	int64_t fail_until_ms;
	int fail_status;
	char fail_msg[512];
} s3_cred_provider;

void s3_creds_init(s3_cred_provider *p, const cairn_host_api *host);
void s3_creds_fini(s3_cred_provider *p);
/* Current credentials, refreshed when they expire within five minutes.
 * Errors: PERMISSION (none found), IO, TIMEOUT. */
int s3_creds_get(s3_cred_provider *p, s3_creds *out, cairn_error *err);
/* The JSON string member name of a flat object, decoded into out. */
bool s3_json_string(const char *doc, size_t len, const char *name, char *out, size_t cap);
/* ISO 8601 "2026-01-02T03:04:05Z" (fraction and offset allowed) to ms. */
bool s3_iso8601_ms(const char *s, int64_t *ms);

/* ------------------------------------------------------------------------ */
/* The store and requests (s3_store.c, s3_http.c) */

struct cairn_store {
	const cairn_host_api *host;
	s3_cred_provider creds;
	char bucket[64];
	char prefix[CAIRN_PATH_MAX + 1]; /* key prefix, no leading or trailing '/' */
	char scheme[8];                  /* "https" or "http" */
	char host_hdr[336];              /* Host header: [bucket.]endpoint-host[:port] */
	char base_path[336];             /* endpoint path + "/bucket" when path-style */
	char region[64];
	char sse[32]; /* "", "AES256" or "aws:kms" */
	char sse_kms_key[256];
	char ca_file[1024];
	int64_t part_size;
	int64_t timeout_ms;
	int64_t connect_timeout_ms;
	int max_attempts;
};

/* One S3 request. */
typedef struct s3_req {
	const char *method;
	const char *key; /* full object key (not encoded); NULL = the bucket */
	const s3_param *query;
	size_t nquery;
	const cairn_http_header *headers; /* extra, all signed */
	size_t nheaders;
	const void *body;
	size_t body_len;
	bool sse; /* send the configured server-side encryption headers */
	/* Response body: into out (bounded by out->max). */
	s3_buf *out;
} s3_req;

typedef struct s3_resp {
	int status;
	char etag[CAIRN_ETAG_MAX];
	int64_t content_length;
	int64_t range_total; /* from Content-Range "bytes a-b/total", else -1 */
	int64_t mtime_ms;
} s3_resp;

/* Signs and sends r (retrying 5xx and network failures), fills resp.
 * Returns CAIRN_OK when a response arrived with 2xx; otherwise the status
 * mapped from S3's error (NOT_FOUND, PERMISSION, ...) with err set. */
int s3_call(cairn_store *s, const s3_req *r, s3_resp *resp, cairn_error *err);
/* S3 error code -> cairn status (by code, else by HTTP status). */
int s3_status_of(int http_status, const char *code);
/* The full key of an artifact path ("" = the prefix itself) into out. */
bool s3_key_of(const cairn_store *s, const char *path, char *out, size_t cap);
/* A presigned URL for method on key (with extra query params, signed). */
int s3_presign_url(cairn_store *s, const char *method, const char *key, const s3_param *extra,
                   size_t nextra, int64_t expires_s, char *url, size_t cap, cairn_error *err);

/* The ops (s3_io.c: objects, parts, presign; s3_list.c: list, stat, remove). */
bool s3_path_ok(const char *path, bool allow_root);
int s3_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                 cairn_error *err);
int s3_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err);
int s3_put_commit(cairn_store_writer *w, cairn_error *err);
void s3_put_abort(cairn_store_writer *w);
int s3_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                cairn_store_reader **out, cairn_object_info *info, cairn_error *err);
int s3_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err);
void s3_get_close(cairn_store_reader *r);
int s3_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
            cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
            cairn_error *err);
int s3_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err);
int s3_remove(cairn_store *s, const char *path, int recursive, cairn_error *err);
int s3_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err);
int s3_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                      int64_t size, cairn_store_writer **out, cairn_error *err);
int s3_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err);
int s3_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                    const cairn_mpu_part *parts, size_t nparts, cairn_error *err);
int s3_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err);
int s3_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
               int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err);
/* HEAD of key: size, mtime, ETag into resp. */
int s3_head(cairn_store *s, const char *key, s3_resp *resp, cairn_error *err);

#endif
