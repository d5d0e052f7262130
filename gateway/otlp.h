/*
 * gateway/otlp.h: the OTLP/HTTP trace receiver, POST /v1/traces.
 *
 * OpenTelemetry exporters post ExportTraceServiceRequest bodies here
 * (application/x-protobuf or application/json, optionally gzip/deflate
 * Content-Encoding) with the MLflow experiment in the x-mlflow-experiment-id
 * header, as MLflow's server takes them. The body is decoded by core/otlp
 * into one IngestSpans call on the traces service; the answer is an
 * ExportTraceServiceResponse in the request's encoding (partial_success
 * when some spans were rejected). An overloaded traces service
 * (TEMPORARILY_UNAVAILABLE, RESOURCE_EXHAUSTED) becomes 503 or 429 with
 * Retry-After, which OTLP exporters honour by retrying later.
 */
#ifndef CN_GW_OTLP_H
#define CN_GW_OTLP_H

#include <stddef.h>

#include "gateway/native.h"

typedef struct cn_gateway cn_gateway;

/* The receiver's native routes (arg = g) into out; returns how many (1). */
size_t cn_gw_otlp_routes(cn_gateway *g, cn_gw_route *out, size_t max);

#endif
