/*
 * core/artifacts/artifacts.h: where an artifact URI's bytes live.
 *
 * Experiments, runs and logged models carry artifact URIs in one of two
 * forms, as in MLflow:
 *   - proxied: "mlflow-artifacts:/<path>" (or "mlflow-artifacts://host:port/<path>"),
 *     meaning <path> under the server's artifacts destination
 *     (config artifacts_destination, itself any store URI);
 *   - direct: a store URI ("file:///srv/a", a plain path, "s3://bucket/p",
 *     "gs://...", "wasbs://...", "abfss://...") that the store plugin opens
 *     as its root.
 * cn_artifacts_locate turns such a URI (plus an optional relative sub-path
 * inside it) into an open store and a checked path within it. A direct URI
 * becomes the store's root itself, so a request can never reach above the
 * location the entity was created with. Open stores are cached per root
 * URI (a few dozen at most in practice: one per destination, plus one per
 * directly stored experiment) and live until cn_artifacts_close.
 *
 * Threads: every function may be called from many threads at once; the
 * store a locate returns may be used concurrently (see core/plugin/store.h).
 */
#ifndef CN_ARTIFACTS_H
#define CN_ARTIFACTS_H

#include <stddef.h>

#include "cairn/plugin.h"
#include "core/error.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"

typedef struct cn_artifacts cn_artifacts;

/* reg stays the caller's and must outlive the result. destination is the
 * artifacts destination URI (copied). */
cn_code cn_artifacts_open(cn_artifacts **out, cn_plugin_registry *reg, const char *destination,
                          cn_err *err);
/* Closes every cached store; no store from a locate may be in use. NULL is a no-op. */
void cn_artifacts_close(cn_artifacts *a);

/*
 * Resolve uri + sub ("" or NULL for none; '/'-separated, relative) into
 * *store (borrowed from the cache) and path (cap >= CAIRN_PATH_MAX + 1; ""
 * is the store root). Errors: CN_INVALID_PARAMETER_VALUE (unknown scheme,
 * unsafe sub-path or proxied path: "..", absolute, empty parts, backslash,
 * control characters; on a local store, a symbolic link on the way that
 * leads outside the root), the store plugin's open errors.
 */
cn_code cn_artifacts_locate(cn_artifacts *a, const char *uri, const char *sub, cn_store **store,
                            char *path, size_t cap, cn_err *err);

/* True when uri is a proxied mlflow-artifacts: URI. */
int cn_artifacts_is_proxied(const char *uri);

#endif
