/*
 * core/otlp/otlp_int.h: what the OTLP decoder's files share (not public).
 *
 * Both wire formats end in the same place: the protobuf-c structures of
 * ExportTraceServiceRequest, allocated in one arena per request (so a
 * request is freed in one go, and its memory is capped). otlp_pb.c unpacks
 * protobuf into them; otlp_json.c builds them from the JSON mapping; the
 * rest reads only them.
 */
#ifndef CN_OTLP_INT_H
#define CN_OTLP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/otlp/otlp.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest otlp_export;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans otlp_rspans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans otlp_sspans;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event otlp_event;
typedef Opentelemetry__Proto__Trace__V1__Status otlp_status;
typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_any;
typedef Opentelemetry__Proto__Common__V1__ArrayValue otlp_array;
typedef Opentelemetry__Proto__Common__V1__KeyValueList otlp_kvlist;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope otlp_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource;

/* ---- arena (otlp_arena.c) --------------------------------------------- */

typedef struct otlp_chunk otlp_chunk;
typedef struct otlp_arena {
	otlp_chunk *head;
	size_t used;           /* bytes handed out plus chunk overhead */
	size_t limit;          /* allocations beyond it fail */
	bool failed;           /* an allocation failed (limit or malloc) */
	ProtobufCAllocator pc; /* protobuf-c's view: alloc from the arena, free a no-op */
} otlp_arena;

void otlp_arena_init(otlp_arena *a, size_t limit);
/* 16-byte aligned, zeroed; NULL (and failed set) past the limit. */
void *otlp_arena_alloc(otlp_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *otlp_arena_strndup(otlp_arena *a, const char *s, size_t n);
void otlp_arena_free(otlp_arena *a);

struct cn_otlp_req {
	otlp_arena arena;
	otlp_export *msg;
	cn_otlp_limits lim;
};

/* ---- the two parsers ------------------------------------------------- */

cn_code otlp_parse_pb(cn_otlp_req *r, const void *body, size_t len, cn_err *err);
cn_code otlp_parse_json(cn_otlp_req *r, const void *body, size_t len, cn_err *err);
/* After either parser: counts, names and key sizes against the limits. */
cn_code otlp_check_limits(const cn_otlp_req *r, cn_err *err);

/* ---- values (otlp_value.c) ------------------------------------------- */

/* Append s[0..n) as a JSON string literal; invalid UTF-8 becomes U+FFFD
 * (FlatBuffer strings must be valid UTF-8, and OTLP strings from a buggy
 * exporter may not be). */
void otlp_json_str(cn_buf *out, const char *s, size_t n);
/* Append s[0..n) as the JSON string literal of its JSON string literal:
 * otlp_json_str twice in one pass (MLflow's form of a string attribute). */
void otlp_json_str2(cn_buf *out, const char *s, size_t n);
/* Append the JSON value of v (null for an empty AnyValue). Depth was
 * checked when parsing. */
void otlp_any_json(cn_buf *out, const otlp_any *v);
/* Append {"key": <value JSON>, ...}: raw JSON values (events, resources). */
void otlp_kvs_json(cn_buf *out, otlp_kv *const *kvs, size_t n);
/* Lowercase hex of bytes. */
void otlp_hex(cn_buf *out, const uint8_t *p, size_t n);
/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid (RFC 3629). */
size_t otlp_utf8_seq(const unsigned char *s, size_t n);
/* True if s[0..n) is one complete JSON value (otlp_jsonv.c). */
bool otlp_is_json(const char *s, size_t n);

/* ---- semantic conventions (otlp_semconv.c) --------------------------- */

typedef struct otlp_semconv {
	const char *span_type; /* MLflow span type (static or in the span); never NULL */
	size_t span_type_len;
	bool has_type_attr;     /* the span carries mlflow.spanType itself */
	bool mlflow_encoded;    /* string values are already JSON (MLflow's own exporter) */
	const otlp_any *inputs; /* attribute holding the inputs, if any and not mlflow's */
	const otlp_any *outputs;
	cn_buf event_inputs; /* inputs gathered from GenAI message events ("" if none) */
	cn_buf event_outputs;
	int64_t tokens_in, tokens_out, tokens_total; /* all > 0 when has_usage */
	bool has_usage;
} otlp_semconv;

/* Read span s's attributes and events; free with otlp_semconv_free. */
void otlp_semconv_read(const otlp_span *s, otlp_semconv *sc);
void otlp_semconv_free(otlp_semconv *sc);
/* A value used as MLflow's inputs/outputs: a string holding JSON is taken
 * as that JSON, as MLflow reads it; anything else is JSON-encoded. */
void otlp_payload_json(cn_buf *out, const otlp_any *v);

/* ---- one span (otlp_span.c) ------------------------------------------ */

/* The SpanRecord of s, or 0 with why[] set when s cannot be stored. tmp and
 * val are scratch space kept across spans. */
cn_fb_ref otlp_span_record(cn_fb_builder *b, const otlp_span *s, cn_fb_ref scope_name,
                           cn_fb_ref resource_json, cn_buf *tmp, cn_buf *val, char *why,
                           size_t why_cap);

#endif
