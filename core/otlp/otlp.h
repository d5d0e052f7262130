/*
 * core/otlp/otlp.h: the OTLP/HTTP trace decoder (OpenTelemetry protocol).
 *
 * Turns the body of a POST /v1/traces -- an ExportTraceServiceRequest in
 * protobuf (application/x-protobuf) or in the OTLP JSON mapping
 * (application/json: hex ids, 64-bit integers as strings, lowerCamelCase
 * names) -- into one IngestSpans FlatBuffer (schemas/traces/spans.fbs):
 * ids as lowercase hex, statuses by name, attributes in MLflow's form (every
 * value JSON-encoded) and the semantic conventions (MLflow's own
 * mlflow.* attributes, OpenTelemetry GenAI, OpenInference) mapped onto
 * MLflow's span type, inputs, outputs and token usage. It also writes the
 * ExportTraceServiceResponse and inflates gzip/deflate bodies.
 *
 * Nothing here does I/O or keeps state: the gateway owns the HTTP side and
 * the bus call. Every size is bounded by cn_otlp_limits; a request over a
 * limit or not well-formed is refused whole (INVALID_PARAMETER_VALUE, or
 * MALFORMED_REQUEST for bytes that are not the format at all), while a
 * well-formed span that cannot be stored (bad ids) is rejected alone and
 * counted for the response's partial_success, as OTLP specifies.
 *
 * Files: otlp_arena.c (allocation), otlp_pb.c (protobuf), otlp_json.c (JSON
 * mapping), otlp_value.c (AnyValue -> JSON text), otlp_semconv.c (semantic
 * conventions), otlp_span.c (one span -> SpanRecord), otlp_ingest.c (the
 * request -> IngestSpans), otlp_response.c, otlp_inflate.c.
 */
#ifndef CN_OTLP_H
#define CN_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/fb/fb.h"

typedef enum cn_otlp_format { CN_OTLP_PROTOBUF, CN_OTLP_JSON } cn_otlp_format;

typedef struct cn_otlp_limits {
	size_t max_body;   /* body bytes once inflated */
	size_t max_memory; /* decoded request in memory (protobuf structures) */
	int max_depth;     /* nesting of attribute values (arrays and key-value lists) */
	size_t max_key;    /* bytes of an attribute key */
	size_t max_name;   /* bytes of a span or event name */
	size_t max_spans;  /* spans in one request */
} cn_otlp_limits;

/* 64 MiB bodies, 512 MiB decoded, depth 16, keys 4 KiB, names 64 KiB,
 * 200,000 spans. */
cn_otlp_limits cn_otlp_default_limits(void);

/* Format of a Content-Type value (parameters such as charset ignored);
 * -1 when it is neither OTLP encoding. */
int cn_otlp_format_of(const char *content_type);

/* A parsed ExportTraceServiceRequest; owns all its memory. */
typedef struct cn_otlp_req cn_otlp_req;

cn_code cn_otlp_parse(cn_otlp_format f, const void *body, size_t len, const cn_otlp_limits *lim,
                      cn_otlp_req **out, cn_err *err);
void cn_otlp_req_free(cn_otlp_req *r);
/* Spans in the request (valid or not). */
size_t cn_otlp_span_count(const cn_otlp_req *r);

typedef struct cn_otlp_result {
	size_t accepted; /* SpanRecords built */
	size_t rejected; /* spans left out (bad ids) */
	char error[256]; /* why the first one was rejected */
} cn_otlp_result;

/* Build IngestSpans{experiment_id, spans} in b (reset by the caller) and
 * set *root. Fails only when out of memory (INTERNAL_ERROR). */
cn_code cn_otlp_build(const cn_otlp_req *r, const char *experiment_id, cn_fb_builder *b,
                      cn_fb_ref *root, cn_otlp_result *res, cn_err *err);

/* Append an ExportTraceServiceResponse to out: empty when rejected == 0,
 * else with partial_success {rejected_spans, error_message}. */
void cn_otlp_response(cn_otlp_format f, int64_t rejected, const char *message, cn_buf *out);

/* Inflate a Content-Encoding gzip or deflate body into out (appended), at
 * most max bytes: INVALID_PARAMETER_VALUE when corrupt or larger. */
cn_code cn_otlp_inflate(const void *in, size_t len, size_t max, cn_buf *out, cn_err *err);

#endif
