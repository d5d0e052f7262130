/*
 * plugins/store/azure/azure_int.h: the Azure Blob artifact store's internals,
 * shared by its files and its unit tests. Builds as cairn_store_azure.so and
 * links nothing of Cairn: every service comes through cairn_host_api.
 *
 * URIs (the store root):
 *   wasbs://<container>@<account>.blob.core.windows.net[/<prefix>]
 *   abfss://<container>@<account>.dfs.core.windows.net[/<prefix>]
 * abfss (ADLS Gen2) is served through the Blob endpoint of the same account
 * (".dfs." becomes ".blob."), so both name the same blobs. Other clouds'
 * suffixes (blob.core.chinacloudapi.cn, ...) work the same way.
 *
 * Settings (config_get; each unset key falls back to CAIRN_ + the key in
 * capitals with '.' as '_', e.g. CAIRN_STORE_AZURE_ACCOUNT_KEY):
 *   store.azure.endpoint          Blob service URL of the account, replacing
 *                                 https://<account>.blob.<suffix>; for emulators
 *                                 and private endpoints, e.g.
 *                                 http://127.0.0.1:10000/devstoreaccount1
 *   store.azure.account_key       base64 account key: Shared Key requests and
 *                                 presigned (service SAS) URLs
 *   store.azure.sas_token         an account or container SAS ("sv=...&sig=..."),
 *                                 appended to every request when there is no key
 *   store.azure.connection_string as AZURE_STORAGE_CONNECTION_STRING
 *   store.azure.create_container  "1": create the container at open if missing
 *   store.azure.block_size        staged-upload block bytes (default 8 MiB;
 *                                 grown to fit a size hint in 50,000 blocks)
 *   store.azure.read_chunk        bytes per ranged Get Blob (default 4 MiB)
 *   store.azure.timeout_ms        per request (default 120000)
 *   store.azure.connect_timeout_ms (default 10000)
 *   store.azure.ca_file           PEM bundle to trust instead of the system's
 * Then, as MLflow and the Azure SDKs read them:
 *   AZURE_STORAGE_CONNECTION_STRING  AccountName, AccountKey, BlobEndpoint,
 *                                 SharedAccessSignature, DefaultEndpointsProtocol,
 *                                 EndpointSuffix, UseDevelopmentStorage=true
 *   AZURE_STORAGE_ACCESS_KEY      the account key
 * Explicit store.azure.* settings win over the connection string, which wins
 * over AZURE_STORAGE_ACCESS_KEY. A connection string for another account than
 * the URI's is ignored. No credentials: anonymous requests (public containers).
 *
 * Keys, SAS tokens and signatures never appear in messages or logs.
 */
#ifndef CAIRN_AZURE_INT_H
#define CAIRN_AZURE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"

/* The Blob service REST version spoken (x-ms-version and SAS sv). */
#define AZ_API_VERSION "2024-08-04"

#define AZ_MAX_BLOCKS       50000
#define AZ_MAX_BLOCK_BYTES  (4000ll << 20)
#define AZ_UPLOAD_ID_LEN    32 /* hex characters */
#define AZ_BLOCK_ID_RAW_LEN 44 /* "<upload id>-<part %05d>-<block %05d>" */
#define AZ_BLOCK_ID_B64_CAP 64

/* ------------------------------------------------------------------------ */
/* Configuration (azure_config.c) */

typedef struct az_config {
	char account[64];
	char container[64];
	char prefix[CAIRN_PATH_MAX + 2]; /* "" or "a/b/" (with the trailing '/') */
	char endpoint[512];              /* scheme://host[:port][/path], no trailing '/' */
	size_t endpoint_path;            /* offset of the path part of endpoint */
	uint8_t key[96];
	size_t key_len; /* 0: no account key */
	char *sas;      /* owned; without '?'; NULL: none */
	char *ca_file;  /* owned; NULL: the system's */
	int64_t timeout_ms;
	int64_t connect_timeout_ms;
	size_t block_size;
	size_t read_chunk;
	bool create_container;
} az_config;

/* A parsed connection string; pointers into the caller's copy. */
typedef struct az_conn {
	const char *account;
	const char *key; /* base64 */
	const char *blob_endpoint;
	const char *sas;
	const char *protocol;
	const char *suffix;
	bool dev_storage;
} az_conn;

/* Splits "Name=value;..." in place (buf is modified). Unknown names are
 * ignored. Returns false on a part without '='. */
bool az_conn_parse(char *buf, az_conn *out);

/* Account, container, prefix and the default endpoint from a wasbs:// or
 * abfss:// URI. Returns CAIRN_OK or CAIRN_ERR_INVALID. */
int az_uri_parse(const char *uri, az_config *c, cairn_error *err);

/* Everything above plus settings and credentials (see the top of this file). */
int az_config_load(const cairn_host_api *host, const char *uri, az_config *c, cairn_error *err);
void az_config_free(az_config *c);

/* The same rules as the host's path check ("" only when allow_root). */
bool az_path_ok(const char *path, bool allow_root);

/* ------------------------------------------------------------------------ */
/* Signing and encoding (azure_auth.c) */

typedef struct az_kv {
	const char *name;
	const char *value;
} az_kv;

/* Percent-encodes in (len bytes) for a URL, keeping RFC 3986 unreserved
 * characters and, when keep_slash, '/'. Writes out (NUL-terminated) when it
 * fits in cap; returns the encoded length either way. */
size_t az_url_encode(const char *in, size_t len, bool keep_slash, char *out, size_t cap);

/* "Sun, 06 Nov 1994 08:49:37 GMT" (30 bytes with the NUL). */
void az_http_date(int64_t ms, char out[32]);
/* "2026-11-25T12:00:00Z" (21 bytes with the NUL). */
void az_iso8601(int64_t ms, char out[24]);
/* An HTTP date (RFC 1123) to ms since the epoch; -1 when not one. */
int64_t az_parse_http_date(const char *s, size_t len);

/* What a Shared Key signature covers. headers: the x-ms-* headers, names in
 * lower case, values as sent; query: the decoded query parameters. */
typedef struct az_sign_input {
	const char *method;
	int64_t content_length; /* < 0 or 0: the empty string, as 2015-02-21+ */
	const char *content_type;
	const char *if_match;
	const az_kv *headers;
	size_t nheaders;
	const char *account;
	const char *path; /* the encoded URI path, e.g. "/container/a%20b" */
	const az_kv *query;
	size_t nquery;
} az_sign_input;

/* The string to sign (malloc'd; NULL when out of memory). */
char *az_string_to_sign(const az_sign_input *in);
/* "SharedKey <account>:<base64 HMAC-SHA256 of sts under key>" into out. */
int az_shared_key_header(const cairn_host_api *host, const char *account, const uint8_t *key,
                         size_t key_len, const char *sts, char *out, size_t cap);
/* A service SAS query string for one blob ("sv=...&se=...&sr=b&sp=...&sig=...").
 * blob is the full, unencoded blob name. Returns CAIRN_OK or NO_MEMORY. */
int az_service_sas(const cairn_host_api *host, const char *account, const uint8_t *key,
                   size_t key_len, const char *container, const char *blob, const char *permissions,
                   const char *expiry_iso, char *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* XML (azure_xml.c): only what the Blob service answers, bounded */

/* The content of the first element <tag ...>...</tag> (or <tag/>) in
 * [p, end): *v and *vlen; *next points past the element. */
bool az_xml_elem(const char *p, const char *end, const char *tag, const char **v, size_t *vlen,
                 const char **next);
/* Decodes the five entities and &#N; / &#xN; (UTF-8). Returns the length
 * written (NUL-terminated), or (size_t)-1 when malformed or over cap. */
size_t az_xml_unescape(const char *in, size_t len, char *out, size_t cap);
/* Code and Message of an <Error> body (each "" when absent). */
void az_xml_error(const char *body, size_t len, char *code, size_t code_cap, char *msg,
                  size_t msg_cap);

/* One entry of a listing, its path relative to the store root. */
typedef struct az_entry {
	char *path;
	int is_dir;
	int64_t size;
	int64_t mtime_ms;
} az_entry;

typedef struct az_entries {
	az_entry *v;
	size_t n, cap;
} az_entries;

void az_entries_free(az_entries *a);
/* The entries of one List Blobs answer (body, len) made with prefix
 * list_prefix (which starts with root_prefix, the store's): paths relative
 * to the root, sorted by byte order, an ADLS folder blob and its prefix as
 * one directory; names outside list_prefix, "dir/" marker blobs, encoded
 * and overlong names skipped, and unless flat (a listing without the '/'
 * delimiter, for removal) names that are no safe artifact path. Returns
 * CAIRN_OK, NO_MEMORY or INVALID. */
int az_parse_list(const char *body, size_t len, const char *root_prefix, const char *list_prefix,
                  bool flat, az_entries *out, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* Requests (azure_http.c) */

/* A growable response buffer, never beyond max bytes. */
typedef struct az_buf {
	uint8_t *p;
	size_t len, cap, max;
	bool overflow;
} az_buf;

typedef struct az_call {
	const char *method;
	const char *blob; /* full blob name (prefix included); NULL: the container */
	const az_kv *query;
	size_t nquery;
	const az_kv *headers; /* extra x-ms-* headers, lower-case names */
	size_t nheaders;
	const char *content_type;
	const char *if_match;
	const void *body;
	size_t body_len;
	az_buf *out; /* the response body; NULL: kept only for error messages */
	/* Response. */
	int status;
	char etag[128];
	int64_t content_length;
	char content_range[96];
	char last_modified[64];
	bool is_folder; /* x-ms-meta-hdi_isfolder: true (ADLS directories) */
	char err_body[2048];
	size_t err_len;
} az_call;

/* Sends the call (signed, retried on 5xx and connection failures). Returns
 * CAIRN_OK when a response arrived (see c->status), else a transport status
 * with err set. */
int az_send(const cairn_host_api *host, const az_config *cfg, az_call *c, cairn_error *err);
/* Turns a failed response into a status and message ("<what> '<path>': ..."). */
int az_fail(const az_call *c, const char *what, const char *path, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* The store (azure_store.c, azure_io.c) */

struct cairn_store {
	const cairn_host_api *host;
	az_config cfg;
};

int az_bad_path(cairn_error *err, const char *path);
/* The full blob name of an artifact path (the store prefix + path), malloc'd. */
char *az_blob_name(const cairn_store *s, const char *path);
/* True when some blob's name starts with "<blob>/". */
int az_has_children(cairn_store *s, const char *blob, bool *any, cairn_error *err);
/* Get Blob Properties: size, mtime, folder marker; NOT_FOUND when absent. */
int az_head(cairn_store *s, const char *blob, const char *path, cairn_object_info *info, char *etag,
            size_t etag_cap, cairn_error *err);

int az_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                 cairn_error *err);
int az_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err);
int az_put_commit(cairn_store_writer *w, cairn_error *err);
void az_put_abort(cairn_store_writer *w);
int az_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                cairn_store_reader **out, cairn_object_info *info, cairn_error *err);
int az_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err);
void az_get_close(cairn_store_reader *r);
int az_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err);
int az_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                      int64_t size, cairn_store_writer **out, cairn_error *err);
int az_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err);
int az_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                    const cairn_mpu_part *parts, size_t nparts, cairn_error *err);
int az_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err);
int az_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
               int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err);
/* The raw block id of a block (AZ_BLOCK_ID_RAW_LEN bytes + NUL) and its
 * base64 form (what the service sees). */
void az_block_id(const char *upload_id, int part, int sub, char *b64, size_t cap,
                 const cairn_host_api *host);

#endif
