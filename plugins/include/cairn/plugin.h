/*
 * cairn/plugin.h: the Cairn plugin ABI. The one header a plugin author needs.
 *
 * A plugin is a shared object that links nothing of Cairn. It exports one
 * function,
 *
 *     CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void);
 *
 * returning a pointer to a static const descriptor (a function, because dlsym
 * is only guaranteed to work for functions). The descriptor names the plugin,
 * the ABI it was built for, its kind, its capability bits and the ops table of
 * its kind. The host hands the plugin a table of host services
 * (cairn_host_api: logging, settings, clock, randomness, hashing, base64, an
 * HTTP client) so that the plugin needs no library of Cairn.
 *
 * Loading (what the host does, in this order):
 *   1. dlopen(<plugin_dir>/cairn_<kind>_<name>.so, RTLD_NOW | RTLD_LOCAL);
 *      plugins load only from the configured plugin directory, by bare name.
 *   2. dlsym("cairn_plugin_entry"); missing: the object is closed and refused.
 *   3. Call the entry; check magic, descriptor size, ABI major and minor,
 *      kind, name, ops table size and required ops. Any mismatch: the object
 *      is closed and refused with a message naming every differing field.
 *   4. Only then call init (if not NULL).
 * Nothing is unloaded before the host's plugin registry is closed (normally at
 * process exit); fini runs then, after every handle the plugin made is closed.
 *
 * Versioning (the SQLite VFS rule): structs only grow at their end. Each
 * struct that can grow starts with its own size, as built; each block of
 * members is marked "since 1.N". The host refuses a plugin whose ABI major
 * differs from its own, or whose minor is newer than its own; it reads only
 * the members an older plugin's sizes cover and treats the rest as NULL/0.
 * A plugin must likewise check host->size before using a host member marked
 * newer than 1.0 (use CAIRN_HOST_HAS(host, member)). Ops marked optional may
 * be NULL: the host copies each ops table and supplies the behaviour of NULL
 * optional ops and of capability bits a plugin does not set.
 *
 *   ABI 1.0  first version: artifact stores, deployment targets, host API.
 *
 * Errors: every fallible op returns a cairn_status (as int) and, on failure,
 * fills the caller's cairn_error with the same code and a human message. The
 * host zeroes the cairn_error before each call. Messages must not contain
 * secrets (keys, signatures, presigned query strings).
 *
 * Threads: ops run on host worker threads, never on an event-loop thread, so
 * they may block (disk, network). A store or deployment-target handle may be
 * used by many threads at once; a writer or reader by one thread at a time.
 * init and fini run once, on the thread that loads or unloads the plugin.
 *
 * This header includes only standard C headers.
 */
#ifndef CAIRN_PLUGIN_H
#define CAIRN_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CAIRN_PLUGIN_EXPORT       __attribute__((visibility("default")))
#define CAIRN_PRINTF_(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define CAIRN_PLUGIN_EXPORT
#define CAIRN_PRINTF_(fmt, first)
#endif

/* ------------------------------------------------------------------------ */
/* Versions and constants                                                   */

#define CAIRN_PLUGIN_MAGIC        0xCA1A5EEDu
#define CAIRN_PLUGIN_ABI_MAJOR    1
#define CAIRN_PLUGIN_ABI_MINOR    0
#define CAIRN_PLUGIN_ENTRY_SYMBOL "cairn_plugin_entry"

/* Longest artifact path (bytes, without the NUL) the host ever passes. */
#define CAIRN_PATH_MAX 1024
/* Size of the buffer the host gives list() for the next page token. */
#define CAIRN_PAGE_TOKEN_MAX 1024
/* Size of buffers for multipart upload ids and part ETags. */
#define CAIRN_UPLOAD_ID_MAX 1024
#define CAIRN_ETAG_MAX      256

/* Plugin kinds. The file name prefix of each is cairn_store_ / cairn_deploy_. */
typedef enum cairn_plugin_kind {
	CAIRN_PLUGIN_ARTIFACT_STORE = 1,
	CAIRN_PLUGIN_DEPLOY_TARGET = 2,
} cairn_plugin_kind;

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

typedef enum cairn_status {
	CAIRN_OK = 0,
	CAIRN_ERR_NOT_FOUND = 1,   /* no such object, deployment, endpoint */
	CAIRN_ERR_INVALID = 2,     /* bad argument, bad path, bad range, is a directory */
	CAIRN_ERR_IO = 3,          /* disk or network failure, unexpected server reply */
	CAIRN_ERR_TIMEOUT = 4,     /* a deadline passed */
	CAIRN_ERR_CANCELLED = 5,   /* the caller cancelled, or a callback asked to stop */
	CAIRN_ERR_PERMISSION = 6,  /* access denied by the file system or the service */
	CAIRN_ERR_UNSUPPORTED = 7, /* the plugin does not implement this */
	CAIRN_ERR_NO_MEMORY = 8,   /* allocation failed, or a buffer was too small */
	CAIRN_ERR_EXISTS = 9,      /* the object or name already exists */
} cairn_status;

typedef struct cairn_error {
	int code; /* a cairn_status */
	char message[512];
} cairn_error;

/* Fills err (may be NULL) and returns code, so ops can write
 * `return cairn_error_set(err, CAIRN_ERR_IO, "write %s: %s", path, why);`. */
static inline int cairn_error_set(cairn_error *err, int code, const char *fmt, ...)
        CAIRN_PRINTF_(3, 4);
static inline int cairn_error_set(cairn_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A sink for bytes (response bodies, JSON results). Returns CAIRN_OK to go
 * on; any other status stops the producer, which then fails with that status. */
typedef int (*cairn_write_fn)(void *arg, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Host services                                                            */

typedef enum cairn_log_level {
	CAIRN_LOG_DEBUG = 0,
	CAIRN_LOG_INFO = 1,
	CAIRN_LOG_WARN = 2,
	CAIRN_LOG_ERROR = 3,
} cairn_log_level;

typedef struct cairn_http_header {
	const char *name;  /* no CR, LF or ':' */
	const char *value; /* no CR or LF; "" sends an empty header */
} cairn_http_header;

/* Request-body source: copy up to cap bytes into buf and set *n; *n == 0
 * means the body is complete. Return CAIRN_OK, or a status to abort. */
typedef int (*cairn_http_read_fn)(void *arg, void *buf, size_t cap, size_t *n);
/* Restart the request body from its first byte (the client needs this to
 * resend a body, e.g. after "417 Expectation Failed"). Return CAIRN_OK, or
 * CAIRN_ERR_UNSUPPORTED when the source cannot rewind. */
typedef int (*cairn_http_rewind_fn)(void *arg);
/* One response header, name and value trimmed, not NUL-terminated. Headers of
 * interim (1xx) responses are not reported. Return CAIRN_OK or a status to abort. */
typedef int (*cairn_http_header_fn)(void *arg, const char *name, size_t name_len, const char *value,
                                    size_t value_len);
/* Polled during the transfer (at least about once a second, more often while
 * data flows): return non-zero to cancel; the request then fails with
 * CAIRN_ERR_CANCELLED. Called on the thread that called http(). */
typedef int (*cairn_http_cancel_fn)(void *arg);

typedef struct cairn_http_request {
	uint32_t size; /* sizeof(cairn_http_request) as the plugin was built */
	/* since 1.0 */
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE", ... */
	const char *url;    /* http:// or https://; redirects are not followed */
	const cairn_http_header *headers;
	size_t nheaders;
	/* Body: either in memory (body, body_len) or streamed (body_read != NULL,
	 * which wins). body_size is the streamed body's length, or -1 when unknown
	 * (sent with chunked transfer encoding). PUT, POST and PATCH always send
	 * a body (possibly empty); other methods send one only when given. */
	const void *body;
	size_t body_len;
	cairn_http_read_fn body_read;
	cairn_http_rewind_fn body_rewind; /* may be NULL */
	void *body_arg;
	int64_t body_size;
	/* Response: headers and body are streamed to these (either may be NULL:
	 * that part is discarded). */
	cairn_http_header_fn on_header;
	cairn_write_fn on_body;
	void *response_arg;
	int64_t timeout_ms;                /* whole transfer; 0 = no limit */
	int64_t connect_timeout_ms;        /* 0 = the client's default (about 30 s) */
	cairn_http_cancel_fn is_cancelled; /* may be NULL */
	void *cancel_arg;
	const char *ca_file; /* PEM bundle to trust instead of the system's; NULL = system */
} cairn_http_request;

typedef struct cairn_http_response {
	uint32_t size; /* sizeof(cairn_http_response) as the plugin was built */
	/* since 1.0 */
	int status;         /* final HTTP status, e.g. 200, 404 */
	int64_t body_bytes; /* response body bytes received */
} cairn_http_response;

typedef struct cairn_sha256_ctx cairn_sha256_ctx; /* opaque, owned by the host */

/* Flags of base64_encode and base64_decode. */
#define CAIRN_BASE64_URL 1u /* RFC 4648 section 5 alphabet ('-', '_'), no '=' padding */

/*
 * The host's services, passed to init() and open(). The table is static and
 * lives as long as the process. Every member may be called from any thread
 * at any time unless it says otherwise.
 */
typedef struct cairn_host_api {
	uint32_t size; /* sizeof(cairn_host_api) as the host was built */
	uint16_t abi_major;
	uint16_t abi_minor;
	/* since 1.0 */

	/* Log one event. event_id is a stable id for the kind of event
	 * ("STORE-S3-RETRY"), never reworded; fmt is printf-style. Never blocks
	 * for long (a line to stderr). */
	void (*log)(int level, const char *event_id, const char *fmt, ...) CAIRN_PRINTF_(3, 4);

	/* A plugin setting such as "store.s3.region", or NULL when unset. Values
	 * come from the host's configuration; unset keys fall back to the
	 * environment variable CAIRN_ + the key upper-cased with '.' and '-' as
	 * '_' ("CAIRN_STORE_S3_REGION"). The host owns the string; it stays valid
	 * and unchanged until the process exits. Does not block. */
	const char *(*config_get)(const char *key);

	/* Wall-clock time, milliseconds since the Unix epoch. */
	int64_t (*now_ms)(void);

	/* Fill buf with len cryptographically strong random bytes. Returns
	 * CAIRN_OK or CAIRN_ERR_IO (entropy source failed). */
	int (*random_bytes)(void *buf, size_t len);

	/* SHA-256 of data into out[32]. */
	void (*sha256)(const void *data, size_t len, uint8_t out[32]);
	/* Streaming SHA-256: begin returns a context (NULL when out of memory),
	 * update feeds bytes, end writes the digest to out (unless out is NULL)
	 * and frees the context. A context is used by one thread at a time. */
	cairn_sha256_ctx *(*sha256_begin)(void);
	void (*sha256_update)(cairn_sha256_ctx *ctx, const void *data, size_t len);
	void (*sha256_end)(cairn_sha256_ctx *ctx, uint8_t out[32]);

	/* HMAC-SHA-256 of data under key into out[32]. */
	void (*hmac_sha256)(const void *key, size_t key_len, const void *data, size_t len,
	                    uint8_t out[32]);

	/* Base64 (RFC 4648) of in into out. Returns the encoded length without
	 * the NUL; writes out (NUL-terminated) only when cap exceeds that
	 * length, so a call with cap 0 asks for the size, as snprintf does. */
	size_t (*base64_encode)(const void *in, size_t len, char *out, size_t cap, unsigned flags);
	/* Decode base64 text (padding optional; no whitespace) into out; sets
	 * *out_len. Returns CAIRN_OK, CAIRN_ERR_INVALID (not base64) or
	 * CAIRN_ERR_NO_MEMORY (cap < the decoded length; 3 * (len / 4) + 2 always
	 * suffices). */
	int (*base64_decode)(const char *in, size_t len, void *out, size_t cap, size_t *out_len,
	                     unsigned flags);

	/* RSASSA-PKCS1-v1_5 SHA-256 signature ("RS256", used for Google service
	 * account tokens) of data with a PEM private key. Writes the signature
	 * to sig and its length to *sig_len. Returns CAIRN_OK, CAIRN_ERR_INVALID
	 * (not a usable RSA key), CAIRN_ERR_NO_MEMORY (cap too small; 512 bytes
	 * suffice for 4096-bit keys). */
	int (*rsa_sha256_sign)(const char *pem_key, size_t pem_len, const void *data, size_t len,
	                       uint8_t *sig, size_t cap, size_t *sig_len, cairn_error *err);

	/* One HTTP request, run to completion on the calling thread (blocks).
	 * Callbacks run on the calling thread. TLS peers are verified. Connections
	 * are reused across calls and threads.
	 * Returns CAIRN_OK when a response arrived, whatever its status (see
	 * resp->status); CAIRN_ERR_INVALID (bad method, URL or header),
	 * CAIRN_ERR_TIMEOUT, CAIRN_ERR_CANCELLED, CAIRN_ERR_IO (DNS, connect,
	 * TLS, protocol), CAIRN_ERR_NO_MEMORY, or the status a callback returned.
	 * The request, its headers and body belong to the caller and are not
	 * kept after the call. */
	int (*http)(const cairn_http_request *req, cairn_http_response *resp, cairn_error *err);
} cairn_host_api;

/* True when the host table has member m (a plugin built for a newer minor
 * than the host it runs in must test this before using newer members). */
#define CAIRN_HOST_HAS(host, m) \
	((host)->size >= offsetof(cairn_host_api, m) + sizeof((host)->m) && (host)->m != NULL)

/* ------------------------------------------------------------------------ */
/* The descriptor                                                           */

/* init: set up plugin-global state (clients, caches) and store it in *state
 * (may stay NULL). Called once, after every check passed, on the loading
 * thread; may block. Returns CAIRN_OK, or a status with err set: the plugin
 * is then refused and fini is not called, so init frees what it made.
 * host stays valid until fini returns. */
typedef int (*cairn_plugin_init_fn)(const cairn_host_api *host, void **state, cairn_error *err);
/* fini: free the state init made. Called once when the host unloads the
 * plugin, after every handle the plugin returned has been closed. */
typedef void (*cairn_plugin_fini_fn)(void *state);

typedef struct cairn_plugin_descriptor {
	uint32_t magic;     /* CAIRN_PLUGIN_MAGIC */
	uint32_t size;      /* sizeof(cairn_plugin_descriptor) as the plugin was built */
	uint16_t abi_major; /* CAIRN_PLUGIN_ABI_MAJOR as the plugin was built */
	uint16_t abi_minor; /* CAIRN_PLUGIN_ABI_MINOR as the plugin was built */
	/* since 1.0 */
	uint32_t kind;         /* a cairn_plugin_kind */
	const char *name;      /* "local", "s3": matches the file name, [a-z0-9_-], <= 64 bytes */
	const char *version;   /* the plugin's own version, free text, e.g. "1.2.0" */
	uint64_t capabilities; /* CAIRN_STORE_CAP_* or CAIRN_DEPLOY_CAP_* bits */
	const void *ops;       /* const cairn_store_ops * or const cairn_deploy_ops * by kind */
	cairn_plugin_init_fn init; /* may be NULL */
	cairn_plugin_fini_fn fini; /* may be NULL */
} cairn_plugin_descriptor;

#define CAIRN_PLUGIN_DESCRIPTOR_SIZE_1_0 \
	(offsetof(cairn_plugin_descriptor, fini) + sizeof(cairn_plugin_fini_fn))

/* Fills the fixed head of a descriptor:
 *   static const cairn_plugin_descriptor d = { CAIRN_PLUGIN_HEAD, .kind = ... }; */
#define CAIRN_PLUGIN_HEAD                                                     \
	.magic = CAIRN_PLUGIN_MAGIC, .size = sizeof(cairn_plugin_descriptor), \
	.abi_major = CAIRN_PLUGIN_ABI_MAJOR, .abi_minor = CAIRN_PLUGIN_ABI_MINOR

/* The one symbol a plugin exports. */
typedef const cairn_plugin_descriptor *(*cairn_plugin_entry_fn)(void);
CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void);

/* ------------------------------------------------------------------------ */
/* Artifact stores (kind CAIRN_PLUGIN_ARTIFACT_STORE)                       */

/*
 * Capabilities. Each bit promises an op or a behaviour; without it the host
 * emulates the behaviour through the required ops, so a minimal store is
 * correct, only slower.
 */
#define CAIRN_STORE_CAP_RANGE            (1u << 0) /* get_open honours offset/length */
#define CAIRN_STORE_CAP_MULTIPART        (1u << 1) /* mpu_* ops present */
#define CAIRN_STORE_CAP_PRESIGN          (1u << 2) /* presign op present */
#define CAIRN_STORE_CAP_LIST_PAGED       (1u << 3) /* list honours page_token/max_entries */
#define CAIRN_STORE_CAP_DELETE_RECURSIVE (1u << 4) /* remove honours recursive */

/*
 * Paths. An artifact path is relative to the store's root, '/'-separated,
 * at most CAIRN_PATH_MAX bytes, with no empty, "." or ".." component, no
 * leading or trailing '/', no backslash and no control character. "" names
 * the root itself (list, stat and recursive remove only). The host checks
 * every path before calling; a plugin must still refuse bad ones with
 * CAIRN_ERR_INVALID (defence in depth).
 */

/* Handles: each plugin defines these structs privately. */
typedef struct cairn_store cairn_store;
typedef struct cairn_store_writer cairn_store_writer;
typedef struct cairn_store_reader cairn_store_reader;

/* What get_open and stat report. The host zeroes it first; members a plugin
 * does not know stay 0. */
typedef struct cairn_object_info {
	int64_t size;     /* whole object size in bytes (not the range's); 0 for a directory */
	int64_t mtime_ms; /* last modification, ms since the epoch; 0 if unknown */
	int is_dir;       /* a directory (object stores: a common prefix) */
} cairn_object_info;

/* One entry of a listing. path is relative to the store root ("dir/a.txt");
 * path is valid only during the callback. */
typedef struct cairn_list_entry {
	const char *path;
	int is_dir;
	int64_t size;     /* 0 for directories */
	int64_t mtime_ms; /* 0 if unknown */
} cairn_list_entry;

/* Listing callback: return 0 to go on; non-zero stops the listing, which
 * then returns CAIRN_ERR_CANCELLED. */
typedef int (*cairn_list_fn)(void *arg, const cairn_list_entry *entry);

typedef struct cairn_mpu_part {
	int part_number;  /* 1 .. 10000 */
	const char *etag; /* as mpu_part_commit returned it */
} cairn_mpu_part;

/*
 * Every op may block and is called on a host worker thread. Ops on one
 * cairn_store may run concurrently on many threads; ops on one writer or
 * reader are never concurrent. Unless stated, on failure an op returns a
 * cairn_status other than CAIRN_OK with err filled, and its out parameters
 * are left untouched.
 */
typedef struct cairn_store_ops {
	uint32_t size; /* sizeof(cairn_store_ops) as the plugin was built */
	/* since 1.0 */

	/* Open the store rooted at root_uri ("file:///srv/a", "s3://bucket/prefix").
	 * On success *store belongs to the host until close(). Errors: INVALID
	 * (URI not for this plugin), PERMISSION, IO, NO_MEMORY. Required. */
	int (*open)(const char *root_uri, const cairn_host_api *host, void *plugin_state,
	            cairn_store **store, cairn_error *err);
	/* Release the store. Every writer and reader of it is closed before.
	 * Required. */
	void (*close)(cairn_store *store);

	/* Start writing the object at path (replacing any existing object when
	 * committed). size_hint is the final size, or -1 if unknown. Parent
	 * "directories" are implied. On success *writer belongs to the host, who
	 * ends it with exactly one of put_commit or put_abort. Errors: INVALID,
	 * PERMISSION, IO, NO_MEMORY. Required. */
	int (*put_begin)(cairn_store *store, const char *path, int64_t size_hint,
	                 cairn_store_writer **writer, cairn_error *err);
	/* Append len bytes. buf belongs to the caller; the plugin must not keep
	 * it after returning. On failure the writer is still open and the host
	 * aborts it. Errors: IO, NO_MEMORY, TIMEOUT. Required. */
	int (*put_write)(cairn_store_writer *writer, const void *buf, size_t len, cairn_error *err);
	/* Publish the object atomically and durably: readers see the old
	 * object (or none) or the whole new one, never a part; once this
	 * returns OK the object survives a crash. Frees the writer on success
	 * AND on failure. After a failure nothing new is visible, except when
	 * only the final durability step failed (reported as IO). Errors: IO,
	 * EXISTS (a directory or file is in the way), PERMISSION, TIMEOUT.
	 * Required. */
	int (*put_commit)(cairn_store_writer *writer, cairn_error *err);
	/* Drop everything written and free the writer; leaves nothing behind.
	 * Required. */
	void (*put_abort)(cairn_store_writer *writer);

	/* Open the object at path for reading from byte offset, for length
	 * bytes (-1 = to the end; a range past the end is cut at the end).
	 * offset > object size is INVALID. Fills *info (size is the whole
	 * object's). On success *reader belongs to the host until get_close.
	 * Errors: NOT_FOUND, INVALID (bad path or range, a directory),
	 * PERMISSION, IO. Without CAIRN_STORE_CAP_RANGE the host always passes
	 * offset 0 and length -1. Required. */
	int (*get_open)(cairn_store *store, const char *path, int64_t offset, int64_t length,
	                cairn_store_reader **reader, cairn_object_info *info, cairn_error *err);
	/* Read up to cap bytes into buf (owned by the caller); *n == 0 only at
	 * the end of the range. Errors: IO, TIMEOUT. Required. */
	int (*get_read)(cairn_store_reader *reader, void *buf, size_t cap, size_t *n,
	                cairn_error *err);
	/* Free the reader. Required. */
	void (*get_close)(cairn_store_reader *reader);

	/* Call cb for the direct children of dir ("" = root), sorted by path in
	 * byte order, directories included (is_dir = 1). With
	 * CAIRN_STORE_CAP_LIST_PAGED: start after the child whose token is
	 * page_token (NULL or "" = from the start), stop after max_entries
	 * (0 = no limit) and, when more remain, write the token to resume from
	 * into next_token (cap bytes, NUL-terminated); otherwise set it to "".
	 * Without the capability the host passes NULL and 0 and pages itself.
	 * A dir that does not exist, or is a file, lists as empty (CAIRN_OK):
	 * object stores cannot tell the difference. Errors: INVALID,
	 * PERMISSION, IO, CANCELLED (cb stopped it). Required. */
	int (*list)(cairn_store *store, const char *dir, const char *page_token, size_t max_entries,
	            cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
	            cairn_error *err);

	/* Describe path (an object or a directory). Errors: NOT_FOUND, INVALID,
	 * PERMISSION, IO. Optional: the host uses get_open then list. */
	int (*stat)(cairn_store *store, const char *path, cairn_object_info *info,
	            cairn_error *err);

	/* Remove the object at path. With recursive (and
	 * CAIRN_STORE_CAP_DELETE_RECURSIVE) remove the directory and all below
	 * it; a missing path is then not an error, and "" empties the store.
	 * Without recursive, a missing object is NOT_FOUND, a directory with
	 * children is INVALID and an empty directory is removed (or NOT_FOUND
	 * where directories are not real). Without the capability the host
	 * never passes recursive and removes a tree through list and remove.
	 * Errors: NOT_FOUND, INVALID, PERMISSION, IO. Required. */
	int (*remove)(cairn_store *store, const char *path, int recursive, cairn_error *err);

	/* Multipart upload (all required with CAIRN_STORE_CAP_MULTIPART, else
	 * NULL). mpu_create starts an upload of path and writes its id into
	 * upload_id (cap >= CAIRN_UPLOAD_ID_MAX). mpu_part_begin starts part
	 * part_number (size bytes) and returns a writer fed with put_write and
	 * ended with mpu_part_commit (which writes the part's ETag into etag,
	 * cap >= CAIRN_ETAG_MAX, and frees the writer on success and failure) or
	 * put_abort. mpu_complete publishes the object atomically from the parts,
	 * in part_number order; mpu_abort drops the upload. Errors: NOT_FOUND
	 * (unknown upload), INVALID, PERMISSION, IO, TIMEOUT. */
	int (*mpu_create)(cairn_store *store, const char *path, char *upload_id, size_t cap,
	                  cairn_error *err);
	int (*mpu_part_begin)(cairn_store *store, const char *path, const char *upload_id,
	                      int part_number, int64_t size, cairn_store_writer **writer,
	                      cairn_error *err);
	int (*mpu_part_commit)(cairn_store_writer *writer, char *etag, size_t cap,
	                       cairn_error *err);
	int (*mpu_complete)(cairn_store *store, const char *path, const char *upload_id,
	                    const cairn_mpu_part *parts, size_t nparts, cairn_error *err);
	int (*mpu_abort)(cairn_store *store, const char *path, const char *upload_id,
	                 cairn_error *err);

	/* A URL that lets a client do method ("GET" or "PUT") on path without
	 * credentials for expires_s seconds; with upload_id, the URL to PUT
	 * part part_number of that upload. Written into url (cap bytes).
	 * Required with CAIRN_STORE_CAP_PRESIGN, else NULL. Errors: INVALID,
	 * NO_MEMORY (cap too small), IO. */
	int (*presign)(cairn_store *store, const char *path, const char *method,
	               const char *upload_id, int part_number, int64_t expires_s, char *url,
	               size_t cap, cairn_error *err);
} cairn_store_ops;

#define CAIRN_STORE_OPS_SIZE_1_0 (offsetof(cairn_store_ops, presign) + sizeof(void (*)(void)))

/* ------------------------------------------------------------------------ */
/* Deployment targets (kind CAIRN_PLUGIN_DEPLOY_TARGET)                     */

/* The target serves the endpoint ops (MLflow's create/update/delete/get/
 * list_endpoint(s)); they are then all required. */
#define CAIRN_DEPLOY_CAP_ENDPOINTS (1u << 0)

typedef struct cairn_deploy_target cairn_deploy_target;

/* Arguments of a deployment op, MLflow's BaseDeploymentClient parameters.
 * Members an op does not use are NULL; every string belongs to the caller. */
typedef struct cairn_deploy_args {
	uint32_t size; /* sizeof(cairn_deploy_args) as the host was built */
	/* since 1.0 */
	const char *name;        /* deployment name */
	const char *model_uri;   /* "models:/m/1", "runs:/<id>/model", ... */
	const char *flavor;      /* "python_function", ... or NULL */
	const char *config_json; /* JSON object of target-specific settings, or NULL */
	const char *endpoint;    /* endpoint name, or NULL */
	const char *inputs_json; /* predict(): the inputs as JSON */
} cairn_deploy_args;

/* A deployment op: do it and write the result, one JSON value (MLflow's
 * dict or list), to out(out_arg, ...), possibly in several pieces. Blocks
 * (remote calls); called on a host worker thread; concurrent calls on one
 * target are allowed. Errors: NOT_FOUND, EXISTS, INVALID, PERMISSION, IO,
 * TIMEOUT, or the status out returned. */
typedef int (*cairn_deploy_op)(cairn_deploy_target *target, const cairn_deploy_args *args,
                               cairn_write_fn out, void *out_arg, cairn_error *err);

typedef struct cairn_deploy_ops {
	uint32_t size; /* sizeof(cairn_deploy_ops) as the plugin was built */
	/* since 1.0 */
	/* Open the target named by target_uri ("sagemaker:/us-east-1"). On
	 * success *target belongs to the host until close(). Required. */
	int (*open)(const char *target_uri, const cairn_host_api *host, void *plugin_state,
	            cairn_deploy_target **target, cairn_error *err);
	void (*close)(cairn_deploy_target *target); /* Required. */
	cairn_deploy_op create_deployment;          /* Required. */
	cairn_deploy_op update_deployment;          /* Optional: the host answers UNSUPPORTED. */
	cairn_deploy_op delete_deployment;          /* Required. */
	cairn_deploy_op get_deployment;             /* Required. */
	cairn_deploy_op list_deployments;           /* Required: a JSON array. */
	cairn_deploy_op predict;                    /* Required. */
	cairn_deploy_op create_endpoint;            /* Required with CAIRN_DEPLOY_CAP_ENDPOINTS. */
	cairn_deploy_op update_endpoint;            /* Required with CAIRN_DEPLOY_CAP_ENDPOINTS. */
	cairn_deploy_op delete_endpoint;            /* Required with CAIRN_DEPLOY_CAP_ENDPOINTS. */
	cairn_deploy_op get_endpoint;               /* Required with CAIRN_DEPLOY_CAP_ENDPOINTS. */
	cairn_deploy_op list_endpoints;             /* Required with CAIRN_DEPLOY_CAP_ENDPOINTS. */
} cairn_deploy_ops;

#define CAIRN_DEPLOY_OPS_SIZE_1_0 \
	(offsetof(cairn_deploy_ops, list_endpoints) + sizeof(cairn_deploy_op))

#ifdef __cplusplus
}
#endif

#endif
