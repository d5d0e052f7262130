/*
 * core/plugin/store_conformance.h: the behaviour every artifact store must
 * show, as one reusable suite. A new store's test is a few lines:
 *
 *     CN_TEST(s3_conformance) {
 *         cn_store *s = ...open s3://bucket/prefix...;
 *         CN_CHECK_EQ_INT(cn_store_conformance_run(s, "s3"), 0);
 *         cn_store_close(s);
 *     }
 *
 * The suite works under its own fresh prefix ("conformance-<label>-<random>")
 * so that it can run against a shared bucket, and removes it at the end. It
 * uses only the cn_store API, so it also exercises the host's defaults for
 * capabilities a plugin lacks. Each failed check is reported through
 * cn_test_fail (file:line, check, label) and counted. Blocks; runs on the
 * calling thread plus the worker threads it starts itself.
 *
 * What it checks: put/get round trip and overwrite; ranged reads (inside,
 * across the end, empty, past the end); a 0-byte object; a big object
 * streamed in chunks and verified by SHA-256 without ever being held whole;
 * listing (sorted, nesting, is_dir, sizes, paging by token, missing dir,
 * early stop); stat of objects and directories; remove and recursive remove;
 * not-found errors; refused unsafe paths; concurrent writers to distinct
 * paths; concurrent writers and readers on one path (no torn objects); abort
 * leaves nothing behind and keeps the old object.
 */
#ifndef CN_STORE_CONFORMANCE_H
#define CN_STORE_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/plugin/store.h"

typedef struct cn_store_conformance_opts {
	int64_t big_object_bytes; /* default 64 MiB */
	size_t chunk_bytes;       /* write chunk of the big object; default 64 KiB */
	int threads;              /* concurrent writers; default 8 */
} cn_store_conformance_opts;

/* Runs the suite with default options; returns the number of failed checks. */
int cn_store_conformance_run(cn_store *store, const char *label);
/* The same with options; zero members take their defaults. */
int cn_store_conformance_run_opts(cn_store *store, const char *label,
                                  const cn_store_conformance_opts *opts);

#endif
