/*
 * plugins/store/gcs/gcs.h: what the Google Cloud Storage store's files share.
 *
 * The plugin speaks the GCS JSON API (storage/v1) through the host's HTTP
 * client and links nothing of Cairn. Its one library of its own is Debian's
 * libjansson (already a build dependency of Cairn, so every machine that
 * builds Cairn has it): Google's replies are JSON with escapes, nesting and
 * 64-bit numbers as strings, which a real parser reads more safely than a
 * field scanner written for the occasion would.
 *
 * Files: gcs_plugin.c (descriptor, open/close, settings), gcs_auth.c
 * (OAuth2 tokens from a service-account key or the metadata server),
 * gcs_http.c (requests, URLs, error mapping), gcs_read.c (get, stat, list,
 * remove), gcs_write.c (media and resumable uploads), gcs_mpu.c (multipart
 * uploads through compose), gcs_sign.c (V4 signed URLs).
 */
#ifndef CAIRN_GCS_H
#define CAIRN_GCS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"

#define GCS_DEFAULT_ENDPOINT  "https://storage.googleapis.com"
#define GCS_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GCS_SCOPE             "https://www.googleapis.com/auth/devstorage.read_write"
#define GCS_METADATA_HOST     "metadata.google.internal"
/* Resumable upload chunks must be multiples of this (Google's rule). */
#define GCS_CHUNK_QUANTUM (256 * 1024)
/* Top-level folder of the store that holds multipart temporaries; hidden
 * from listings and refused as an artifact path. */
#define GCS_MPU_DIR ".cairn-mpu"

/* ------------------------------------------------------------------------ */
/* Credentials */

typedef enum gcs_auth_kind {
	GCS_AUTH_NONE = 0,     /* anonymous (emulators, public buckets) */
	GCS_AUTH_KEY = 1,      /* service-account key file: signed JWT -> token */
	GCS_AUTH_METADATA = 2, /* the GCE/GKE metadata server */
} gcs_auth_kind;

/* One credential source and its cached access token. Shared by every store
 * opened with the same source (the plugin state owns them), so a process
 * asks for a token once per hour, not once per store. */
typedef struct gcs_creds {
	struct gcs_creds *next;
	gcs_auth_kind kind;
	char *source; /* key file path, or metadata host: the identity of this entry */
	/* GCS_AUTH_KEY */
	char *client_email;
	char *private_key; /* PEM */
	char *private_key_id;
	char *token_uri;
	/* the token cache */
	pthread_mutex_t mu;
	char token[4096];
	int64_t expires_ms; /* 0: none cached */
} gcs_creds;

/* The plugin's state (init/fini): the credential sources in use. */
typedef struct gcs_state {
	pthread_mutex_t mu;
	gcs_creds *creds;
} gcs_state;

/* ------------------------------------------------------------------------ */
/* The store */

struct cairn_store {
	const cairn_host_api *host;
	gcs_creds *creds; /* owned by the plugin state */
	char *endpoint;   /* "https://storage.googleapis.com", no trailing '/' */
	char *bucket;
	char *prefix; /* "" or "a/b/" (with the trailing '/') */
	int64_t timeout_ms;
	int64_t connect_timeout_ms;
	size_t upload_chunk; /* resumable chunk, a multiple of GCS_CHUNK_QUANTUM */
	size_t read_chunk;   /* bytes per ranged GET */
	const char *ca_file; /* NULL: the system's */
};

/* A growable byte buffer that refuses to grow past max. */
typedef struct gcs_buf {
	char *p;
	size_t len, cap, max;
} gcs_buf;

void gcs_buf_free(gcs_buf *b);
/* Appends; returns false when it would pass max or memory ran out. */
bool gcs_buf_add(gcs_buf *b, const void *data, size_t len);
/* Appends a string literal. */
#define GCS_LIT(b, lit) gcs_buf_add((b), (lit), sizeof(lit) - 1)
/* NUL-terminated view of the contents (the NUL is not counted). */
const char *gcs_buf_str(gcs_buf *b);

/* A reply: status, the headers the plugin uses, and the body. */
typedef struct gcs_resp {
	int status;
	gcs_buf body;
	char location[2048];
	char generation[32];
	char content_range[128];
	char range[128];
	char last_modified[64];
} gcs_resp;

/* A request. url is complete; body may be NULL. */
typedef struct gcs_req {
	const char *method;
	const char *url;
	const char *content_type;  /* NULL: none */
	const char *content_range; /* NULL: none */
	const char *range;         /* NULL: none */
	const cairn_http_header *extra;
	size_t nextra;
	const void *body;
	size_t body_len;
	size_t max_body; /* response bytes kept; 0 = 4 MiB */
	bool no_auth;    /* signed URLs, token endpoints */
	bool no_retry;   /* not safe to send twice */
} gcs_req;

/* Runs req with the store's token, timeouts and retries (5xx, 429, network
 * errors: 3 attempts with backoff; 401: once more with a fresh token).
 * Returns CAIRN_OK when a reply arrived (whatever its status) or the
 * failure. resp is reset first; the caller frees resp->body. */
int gcs_call(cairn_store *s, const gcs_req *req, gcs_resp *resp, cairn_error *err);
/* The failure for a reply with an unexpected status: GCS's JSON error
 * message, mapped (404 NOT_FOUND, 401/403 PERMISSION, 400/416 INVALID,
 * 409/412 EXISTS, others IO). what names the operation. */
int gcs_fail_reply(const gcs_resp *resp, const char *what, const char *name, cairn_error *err);
void gcs_resp_free(gcs_resp *resp);

/* Percent-encodes s (all but RFC 3986 unreserved; '/' too unless keep_slash). */
bool gcs_pct(gcs_buf *out, const char *s, bool keep_slash);
/* "<endpoint>/storage/v1/b/<bucket>/o/<enc(name)>" + suffix into out. */
bool gcs_object_url(const cairn_store *s, const char *name, const char *suffix, gcs_buf *out);
/* The full object name of an artifact path (prefix + path) into a new string. */
char *gcs_name(const cairn_store *s, const char *path);
/* The artifact-path rules of cairn/plugin.h, plus: the first component may
 * not be GCS_MPU_DIR. */
bool gcs_path_ok(const char *path, bool allow_root);
int gcs_bad_path(cairn_error *err, const char *path);
/* RFC 3339 ("2024-01-02T03:04:05.678Z") or RFC 7231 dates -> ms; 0 if not one. */
int64_t gcs_parse_time(const char *s);

/* ------------------------------------------------------------------------ */
/* Auth (gcs_auth.c) */

/* Finds or makes the credential source for the settings in force. */
int gcs_creds_get(gcs_state *st, const cairn_host_api *host, gcs_creds **out, cairn_error *err);
void gcs_creds_free_all(gcs_state *st);
/* A valid access token (cached, refreshed 5 minutes before expiry) into
 * buf; "" for GCS_AUTH_NONE. */
int gcs_token(cairn_store *s, char *buf, size_t cap, cairn_error *err);
/* Drops the cached token (after a 401). */
void gcs_token_forget(cairn_store *s);
/* The signed JWT assertion for a key at time now_s (exposed for tests). */
int gcs_jwt_assertion(const cairn_host_api *host, const gcs_creds *c, int64_t now_s, gcs_buf *out,
                      cairn_error *err);
/* Loads a service-account key file into c (exposed for tests). */
int gcs_creds_load_key(gcs_creds *c, const char *path, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* Ops (gcs_read.c, gcs_write.c, gcs_mpu.c, gcs_sign.c) */

int gcs_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                 cairn_store_reader **out, cairn_object_info *info, cairn_error *err);
int gcs_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err);
void gcs_get_close(cairn_store_reader *r);
int gcs_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
             cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
             cairn_error *err);
int gcs_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err);
int gcs_remove(cairn_store *s, const char *path, int recursive, cairn_error *err);
/* Deletes every object whose name starts with name_prefix (recursive remove,
 * multipart cleanup); *count gets how many. */
int gcs_delete_prefix(cairn_store *s, const char *name_prefix, int *count, cairn_error *err);
/* Deletes one object by full name; NOT_FOUND when absent. */
int gcs_delete_object(cairn_store *s, const char *name, cairn_error *err);

/* A writer of the object with the full name `name` (which it copies). */
int gcs_writer_new(cairn_store *s, const char *name, cairn_store_writer **out, cairn_error *err);
int gcs_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                  cairn_error *err);
int gcs_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err);
int gcs_put_commit(cairn_store_writer *w, cairn_error *err);
/* Commits and writes the new object's generation into gen (cap bytes). */
int gcs_put_commit_gen(cairn_store_writer *w, char *gen, size_t cap, cairn_error *err);
void gcs_put_abort(cairn_store_writer *w);

int gcs_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err);
int gcs_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                       int64_t size, cairn_store_writer **out, cairn_error *err);
int gcs_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err);
int gcs_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                     const cairn_mpu_part *parts, size_t nparts, cairn_error *err);
int gcs_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err);
/* The full object name of a part's temporary (for presign). */
int gcs_mpu_part_name(cairn_store *s, const char *upload_id, int part_number, gcs_buf *out,
                      cairn_error *err);

int gcs_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
                int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err);
/* The V4 signed URL of method on the full object name at time now_s; the
 * canonical request goes to canonical when not NULL (tests). */
int gcs_sign_url(cairn_store *s, const char *method, const char *name, int64_t expires_s,
                 int64_t now_s, gcs_buf *url, gcs_buf *canonical, cairn_error *err);

#endif
