/*
 * gateway/artifacts.h: the artifact routes of the gateway.
 *
 * Artifact bytes never travel over the bus: the gateway streams them
 * between the HTTP connection and the store plugin (core/artifacts), in
 * bounded buffers, with every blocking store call on a small pool of worker
 * threads rather than on an HTTP event thread. Served (under /api/2.0 and
 * /ajax-api/2.0 unless noted), as MLflow's server does:
 *
 *   GET|HEAD|PUT|DELETE /mlflow-artifacts/artifacts/<path>   proxied download
 *                       (Range, Content-Type by extension), upload, delete
 *   GET  /mlflow-artifacts/artifacts?path=                    list
 *   POST /mlflow-artifacts/mpu/create|complete|abort/<dir>    multipart upload
 *   PUT  /mlflow-artifacts/mpu/part/<dir>/<name>?upload_id=&part_number=
 *                       Cairn's part upload, for stores that cannot presign
 *   GET  /mlflow/artifacts/list?run_id=&path=                 a run's artifacts
 *   GET  /get-artifact?run_uuid=&path=  (root only)           the UI's download
 *   GET  /mlflow/logged-models/{id}/artifacts/directories?artifact_directory_path=
 *   GET  /mlflow/logged-models/{id}/artifacts/files?artifact_file_path=
 *
 * The proxied routes need serve_artifacts (else 503, as MLflow's
 * --no-serve-artifacts); the run routes need the tracking service (503 in
 * artifacts_only mode, as MLflow's --artifacts-only). Paths are checked as
 * MLflow's validate_path_is_safe does, plus symbolic links (400
 * INVALID_PARAMETER_VALUE, nothing read or written).
 */
#ifndef CN_GW_ARTIFACTS_H
#define CN_GW_ARTIFACTS_H

#include <stddef.h>

#include "core/artifacts/artifacts.h"
#include "core/config.h"
#include "core/error.h"
#include "gateway/native.h"

typedef struct cn_gw_artifacts cn_gw_artifacts;

/* Uses from cfg: serve_artifacts, artifacts_only, artifact_workers,
 * request_timeout_ms. arts stays the caller's and must outlive the result;
 * it may be NULL when artifacts are neither served nor listed (the routes
 * then answer 503). */
cn_code cn_gw_artifacts_new(cn_gw_artifacts **out, cn_artifacts *arts, const cn_config *cfg,
                            cn_err *err);
/* Native routes to pass to cn_gateway_start_with (at most
 * CN_GW_ARTIFACT_ROUTES); their arg is a. */
#define CN_GW_ARTIFACT_ROUTES 32
size_t cn_gw_artifacts_routes(cn_gw_artifacts *a, cn_gw_route *out, size_t cap);
/* Stop the workers and free; only after cn_gateway_stop. NULL is a no-op. */
void cn_gw_artifacts_free(cn_gw_artifacts *a);

#endif
