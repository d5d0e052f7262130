/*
 * core/plugin/store.h: the artifact-store API the rest of Cairn uses.
 *
 * A thin layer over a store plugin's ops: it picks the plugin from the URI
 * scheme, checks every path before the plugin sees it, supplies the
 * behaviour of ops or capabilities a plugin lacks (stat, ranged reads, list
 * paging, recursive remove), and turns cairn_error into cn_err:
 *   NOT_FOUND -> CN_RESOURCE_DOES_NOT_EXIST   INVALID     -> CN_INVALID_PARAMETER_VALUE
 *   IO        -> CN_INTERNAL_ERROR            TIMEOUT     -> CN_DEADLINE_EXCEEDED
 *   CANCELLED -> CN_CANCELLED                 PERMISSION  -> CN_PERMISSION_DENIED
 *   UNSUPPORTED -> CN_NOT_IMPLEMENTED         NO_MEMORY   -> CN_RESOURCE_EXHAUSTED
 *   EXISTS    -> CN_RESOURCE_ALREADY_EXISTS   (unknown)   -> CN_INTERNAL_ERROR
 * Messages are "<plugin>: <the plugin's message>".
 *
 * Threads: every call may block (disk, network) and must not run on an
 * event-loop thread. A cn_store may be used by many threads at once; a
 * writer or reader by one thread at a time. Paths are as cairn/plugin.h
 * defines them; a bad path fails with CN_INVALID_PARAMETER_VALUE before the
 * plugin is called.
 */
#ifndef CN_PLUGIN_STORE_H
#define CN_PLUGIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"
#include "core/error.h"
#include "core/plugin/loader.h"

typedef struct cn_store cn_store;
typedef struct cn_store_writer cn_store_writer;
typedef struct cn_store_reader cn_store_reader;
typedef cairn_object_info cn_store_info;
typedef cairn_list_entry cn_store_entry;

/*
 * The store plugin serving uri: "file://..." or a plain path -> "local",
 * "s3://" -> "s3", "gs://" -> "gcs", "wasbs://" and "abfss://" -> "azure".
 * NULL for another scheme.
 */
const char *cn_store_plugin_for_uri(const char *uri);

/*
 * Open the store rooted at uri, loading its plugin into reg if needed.
 * On success *out belongs to the caller (cn_store_close). Errors: those of
 * cn_plugin_load; CN_INVALID_PARAMETER_VALUE (unknown scheme, or the plugin
 * refused the URI); the plugin's open errors, mapped.
 */
cn_code cn_store_open(cn_plugin_registry *reg, const char *uri, cn_store **out, cn_err *err);
/* The same with an already loaded plugin (of kind CAIRN_PLUGIN_ARTIFACT_STORE). */
cn_code cn_store_open_with(cn_plugin *plugin, const char *uri, cn_store **out, cn_err *err);
/* Close the store; every writer and reader of it must be closed. NULL is a no-op. */
void cn_store_close(cn_store *store);

uint64_t cn_store_caps(const cn_store *store);
const cn_plugin *cn_store_plugin(const cn_store *store);

/*
 * Start writing path; size_hint is the final size or -1. On success *out
 * belongs to the caller, who ends it with exactly one of cn_store_put_commit
 * or cn_store_put_abort.
 */
cn_code cn_store_put_begin(cn_store *store, const char *path, int64_t size_hint,
                           cn_store_writer **out, cn_err *err);
/* Append len bytes (buf stays the caller's). On failure the writer stays open;
 * abort it. */
cn_code cn_store_put_write(cn_store_writer *w, const void *buf, size_t len, cn_err *err);
/* Publish atomically. Frees w on success and on failure. */
cn_code cn_store_put_commit(cn_store_writer *w, cn_err *err);
/* Drop what was written and free w; nothing is left behind. NULL is a no-op. */
void cn_store_put_abort(cn_store_writer *w);
/* put_begin + put_write + put_commit of a buffer; aborts on failure. */
cn_code cn_store_put_bytes(cn_store *store, const char *path, const void *data, size_t len,
                           cn_err *err);

/*
 * Open path for reading bytes [offset, offset + length) (length -1 = to the
 * end; cut at the end). info (may be NULL) receives the whole object's size.
 * On success *out belongs to the caller (cn_store_get_close). Errors:
 * CN_RESOURCE_DOES_NOT_EXIST, CN_INVALID_PARAMETER_VALUE (bad path, offset
 * past the end, negative offset, a directory), others mapped.
 */
cn_code cn_store_get_open(cn_store *store, const char *path, int64_t offset, int64_t length,
                          cn_store_reader **out, cn_store_info *info, cn_err *err);
/* Read up to cap bytes; *n == 0 only at the end of the range. */
cn_code cn_store_get_read(cn_store_reader *r, void *buf, size_t cap, size_t *n, cn_err *err);
/* NULL is a no-op. */
void cn_store_get_close(cn_store_reader *r);

/*
 * List the direct children of dir ("" = root), sorted by path. Pages: start
 * after page_token (NULL or "" = from the start), at most max_entries
 * (0 = all); next_token (cap >= CAIRN_PAGE_TOKEN_MAX) receives the token of
 * the next page, "" when this was the last. Tokens are opaque. A missing dir
 * lists as empty. cb returning non-zero stops with CN_CANCELLED. entry->path
 * is valid only during cb.
 */
cn_code cn_store_list(cn_store *store, const char *dir, const char *page_token, size_t max_entries,
                      cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
                      cn_err *err);

/* Describe path ("" = root). Errors: CN_RESOURCE_DOES_NOT_EXIST, ... */
cn_code cn_store_stat(cn_store *store, const char *path, cn_store_info *info, cn_err *err);

/*
 * Remove the object at path; with recursive, the directory tree at path
 * ("" = everything; missing is not an error). Without recursive a directory
 * is CN_INVALID_PARAMETER_VALUE and a missing object
 * CN_RESOURCE_DOES_NOT_EXIST.
 */
cn_code cn_store_remove(cn_store *store, const char *path, bool recursive, cn_err *err);

/*
 * Multipart uploads (plugins with CAIRN_STORE_CAP_MULTIPART; others get
 * CN_NOT_IMPLEMENTED). cn_store_mpu_create writes the upload id into
 * upload_id (cap >= CAIRN_UPLOAD_ID_MAX). A part is written like an object:
 * cn_store_mpu_part_begin gives a writer, fed with cn_store_put_write and
 * ended with cn_store_mpu_part_commit (which writes the part's ETag into
 * etag, cap >= CAIRN_ETAG_MAX, and frees the writer on success and failure)
 * or cn_store_put_abort. part_number is 1..10000; size is the part's size in
 * bytes. cn_store_mpu_complete publishes the object from parts (any order
 * given; the plugin assembles by part_number). Unknown upload ids are
 * CN_RESOURCE_DOES_NOT_EXIST.
 */
cn_code cn_store_mpu_create(cn_store *store, const char *path, char *upload_id, size_t cap,
                            cn_err *err);
cn_code cn_store_mpu_part_begin(cn_store *store, const char *path, const char *upload_id,
                                int part_number, int64_t size, cn_store_writer **out, cn_err *err);
cn_code cn_store_mpu_part_commit(cn_store_writer *w, char *etag, size_t cap, cn_err *err);
cn_code cn_store_mpu_complete(cn_store *store, const char *path, const char *upload_id,
                              const cairn_mpu_part *parts, size_t nparts, cn_err *err);
cn_code cn_store_mpu_abort(cn_store *store, const char *path, const char *upload_id, cn_err *err);

/*
 * A URL that lets a client do method ("GET" or "PUT") on path for expires_s
 * seconds (1..604800) without credentials; with upload_id (not NULL), the
 * URL to PUT part part_number of that upload. Plugins without
 * CAIRN_STORE_CAP_PRESIGN: CN_NOT_IMPLEMENTED (callers then proxy the bytes).
 */
cn_code cn_store_presign(cn_store *store, const char *path, const char *method,
                         const char *upload_id, int part_number, int64_t expires_s, char *url,
                         size_t cap, cn_err *err);

/* cairn_status -> cn_code, as the table above. */
cn_code cn_store_code_from_status(int status);

#endif
