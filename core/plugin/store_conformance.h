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
 *
 * With CAIRN_STORE_CAP_MULTIPART: three parts (mpu_part_bytes, mpu_part_bytes
 * and 1007 bytes) written in the order 3, 1, 2 and handed to complete in the
 * order 2, 3, 1 give exactly the pattern in part-number order, and nothing
 * (neither the object nor any staging entry) is listed or stat-able before
 * complete; abort leaves nothing, and the aborted id is then unknown to
 * part writes (at begin, write or commit), complete and abort
 * (CN_RESOURCE_DOES_NOT_EXIST; an id the store never issued may instead be
 * refused as CN_INVALID_PARAMETER_VALUE); complete with a changed ETag, or
 * with a part never uploaded, fails and publishes nothing, after which the
 * same upload still completes with the right ETag (so stores whose native
 * part ids are not ETags, e.g. Azure block ids, must still verify them); a
 * 0-byte part is allowed, alone (an empty object) or last.
 *
 * With CAIRN_STORE_CAP_PRESIGN, through the host's HTTP client: GET of a
 * presigned URL returns the object (200); PUT to a presigned URL creates it
 * (2xx); a GET URL for a missing object answers >= 400; and, with
 * multipart, a part PUT to its presigned URL, completed with the ETag
 * header of that response (or "presigned-part-1" when the response has
 * none, which such stores must accept), gives the part's bytes.
 *
 * Cancellation: a listing callback stopping at the first entry (plain and
 * paged) gives CN_CANCELLED and no further entries; a reader closed after
 * part of an object, or before reading, leaves the store serving it; a
 * writer aborted mid-stream (more announced than written) keeps the old
 * object or leaves none; a multipart part aborted mid-stream can be sent
 * again and completes.
 *
 * Size: the big object is big_object_bytes (64 MiB by default, so CI stays
 * fast); the environment variable CAIRN_CONFORMANCE_BIG_BYTES ("5GiB",
 * "5368709120") overrides it and the caller's option, so an operator can run
 * any store's suite at multi-GB sizes without rebuilding.
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
	/* Members below were added later; zero keeps the default. */
	int64_t mpu_part_bytes; /* size of multipart parts but the last; default 5 MiB
	                           (S3's minimum) */
	uint32_t waive;         /* CN_CONF_WAIVE_* bits: checks a store cannot meet, each
	                           skipped with a "WAIVED" line on stderr */
} cn_store_conformance_opts;

/*
 * Waivers: declared, visible exceptions for stores whose service cannot
 * behave as a check requires. Each waived check prints why it was skipped.
 *   STATELESS_UPLOADS  upload ids carry no state in the service (Azure's
 *                      staged blocks: abort cannot forget them), so an
 *                      aborted id is not detected as unknown.
 *   UNCHECKED_ETAGS    the service does not verify part ETags at complete.
 *   UNCHECKED_PARTS    the service cannot be asked to complete with a part
 *                      that was never uploaded (s3rver 3.7 dies on it; S3
 *                      answers InvalidPart).
 */
#define CN_CONF_WAIVE_STATELESS_UPLOADS (1u << 0)
#define CN_CONF_WAIVE_UNCHECKED_ETAGS   (1u << 1)
#define CN_CONF_WAIVE_UNCHECKED_PARTS   (1u << 2)

/* Runs the suite with default options; returns the number of failed checks. */
int cn_store_conformance_run(cn_store *store, const char *label);
/* The same with options; zero members take their defaults. */
int cn_store_conformance_run_opts(cn_store *store, const char *label,
                                  const cn_store_conformance_opts *opts);

#endif
