/*
 * gateway/art_int.h: what the artifact-route files share (not public).
 *
 *   artifacts.c  the routes table, modes, list, delete, the run routes
 *   art_put.c    streamed uploads (PUT of an artifact, PUT of an mpu part)
 *   art_get.c    streamed downloads (GET, HEAD, Range)
 *   art_mpu.c    multipart create / complete / abort
 *   art_pool.c   the worker threads; art_util.c paths, ranges, types
 *
 * Threads: route callbacks run on HTTP threads and only parse, copy and
 * queue; every store call runs in a job on the pool. A transfer's state is
 * shared by its HTTP side and its job under the state's mutex, and holds a
 * reference to the request so that a late wake never touches a recycled
 * request object.
 */
#ifndef CN_GW_ART_INT_H
#define CN_GW_ART_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "cairn/plugin.h"
#include "core/artifacts/artifacts.h"
#include "core/buf.h"
#include "core/fb/fb.h"
#include "gateway/art_pool.h"
#include "gateway/art_util.h"
#include "gateway/artifacts.h"
#include "gateway/gw_int.h"

/* Transfer buffers: two per transfer (one filled by the network side while
 * the other is written or read by the store side). */
#define ART_BUF_BYTES (1u << 20)

struct cn_gw_artifacts {
	cn_artifacts *arts;
	cn_art_pool *pool;
	bool serve;                            /* serve_artifacts */
	bool artifacts_only;                   /* no tracking behind this gateway */
	int64_t timeout_ms;                    /* bus deadline of GetRun */
	char paths[CN_GW_ARTIFACT_ROUTES][96]; /* route paths until the gateway copies them */
};

/* The proxied root: paths of the mlflow-artifacts routes are relative to
 * the artifacts destination. */
#define ART_PROXY_ROOT "mlflow-artifacts:/"

/* Refuse a proxied route when artifacts are not served (MLflow answers 503
 * "--no-serve-artifacts"); true when refused (r answered). */
bool art_refuse_unserved(cn_gw_artifacts *ga, cn_gw_request *r);
/* The checked artifact path of route parameter "path" into out
 * (cap > CAIRN_PATH_MAX); answers r and returns false when unsafe. */
bool art_param_path(cn_gw_request *r, bool trim, char *out, size_t cap);
/* Locate ART_PROXY_ROOT + path (symbolic links checked). Worker thread. */
cn_code art_locate(cn_gw_artifacts *ga, const char *uri, const char *path, cn_store **store,
                   char *out, size_t cap, cn_err *err);
/* The artifact URI of a run, or of a logged model when model is true, from
 * the tracking service (blocking: worker thread). */
cn_code art_entity_uri(cn_gw_artifacts *ga, cn_gw_request *r, bool model, const char *id, char *uri,
                       size_t cap, cn_err *err);
/* The artifact URI of a model version's files, from the registry (runs:/
 * and models:/ sources resolved; blocking: worker thread). */
cn_code art_version_uri(cn_gw_artifacts *ga, cn_gw_request *r, const char *name,
                        const char *version, char *uri, size_t cap, cn_err *err);
/* Encode a finished FlatBuffer of `table` to JSON and answer 200 with it. */
void art_reply_fb(cn_gw_request *r, int table, cn_fb_builder *b, cn_fb_ref root);
/* Answer an MLflow error from err. */
void art_reply_err(cn_gw_request *r, const cn_err *err);

/* Route callbacks. */
cn_code art_put_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err);
void art_put_complete(void *arg, cn_gw_request *r);
void art_put_closed(void *arg, cn_gw_request *r);
cn_code art_part_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err);
void art_get_complete(void *arg, cn_gw_request *r);
void art_get_run_complete(void *arg, cn_gw_request *r);
void art_get_model_complete(void *arg, cn_gw_request *r);
void art_get_version_complete(void *arg, cn_gw_request *r);
void art_mpu_create(void *arg, cn_gw_request *r);
void art_mpu_complete(void *arg, cn_gw_request *r);
void art_mpu_abort(void *arg, cn_gw_request *r);

#endif
