/* core/plugin/store_conformance_int.h: what the conformance suite's files share. */
#ifndef CN_STORE_CONFORMANCE_INT_H
#define CN_STORE_CONFORMANCE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "cn_test.h"
#include "core/plugin/store_conformance.h"

/* One run: the store, its label, the run's own prefix, options, failures. */
typedef struct cn_conf {
	cn_store *s;
	const char *label;
	char base[96];
	cn_store_conformance_opts o;
	int failures;
} cn_conf;

/* Reports a failed check (through cn_test_fail, labelled) unless ok; returns ok.
 * Main thread only: workers collect failures and the main thread reports them. */
bool cn_conf_report(cn_conf *c, bool ok, const char *file, int line, const char *what);
/* Checks that a call returned want, showing both code names and the message. */
bool cn_conf_code(cn_conf *c, cn_code got, cn_code want, const cn_err *err, const char *file,
                  int line, const char *expr);

#define CN_CONF_CHECK(c, expr) cn_conf_report((c), (expr), __FILE__, __LINE__, #expr)
#define CN_CONF_CODE(c, call, want, err) \
	cn_conf_code((c), (call), (want), (err), __FILE__, __LINE__, #call)
#define CN_CONF_OK(c, call, err) CN_CONF_CODE(c, call, CN_OK, err)

/* "<base>/<fmt...>" into out. */
void cn_conf_path(const cn_conf *c, char *out, size_t cap, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Writes size bytes of the pattern of seed in writes of chunk bytes; the
 * SHA-256 of what was written goes to digest unless NULL. */
cn_code cn_conf_put_pattern(cn_store *s, const char *path, uint64_t seed, int64_t size,
                            size_t chunk, uint8_t digest[32], cn_err *err);
/* Reads [off, off+len) in reads of at most cap bytes, checking each byte
 * against the pattern; *total gets the bytes read, *match the verdict. */
cn_code cn_conf_read_pattern(cn_store *s, const char *path, uint64_t seed, int64_t off, int64_t len,
                             size_t cap, int64_t *total, bool *match, cn_store_info *info,
                             cn_err *err);

/* The pattern bytes [off, off+n) of seed into buf. */
void cn_conf_fill(uint8_t *buf, size_t n, uint64_t seed, uint64_t off);
/* Reads a whole small object into out (cap bytes); *n gets its length. */
cn_code cn_conf_read_small(cn_store *s, const char *path, char *out, size_t cap, size_t *n,
                           cn_err *err);

#define CN_CONF_LIST_MAX 64

/* A listing collected by cn_conf_list_cb (the first CN_CONF_LIST_MAX entries). */
typedef struct cn_conf_list {
	char path[CN_CONF_LIST_MAX][256];
	int is_dir[CN_CONF_LIST_MAX];
	int64_t size[CN_CONF_LIST_MAX];
	int n;
	int stop_after; /* > 0: stop the listing after that many */
	bool overflow;
} cn_conf_list;

int cn_conf_list_cb(void *arg, const cairn_list_entry *e);

/* Concurrent writers on distinct paths; racing writers and readers on one. */
void cn_conf_concurrent(cn_conf *c);
/* Multipart uploads (CAIRN_STORE_CAP_MULTIPART only; store_conformance_mpu.c). */
void cn_conf_multipart(cn_conf *c);
/* Presigned URLs through the host's HTTP client (CAIRN_STORE_CAP_PRESIGN only). */
void cn_conf_presign(cn_conf *c);
/* Cancellation: a reader closed and writers aborted mid-stream. */
void cn_conf_cancel(cn_conf *c);

#endif
