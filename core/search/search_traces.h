/*
 * core/search/search_traces.h: applying a parsed trace filter
 * (cn_search_dialect_traces) and trace order_by clauses to one trace.
 *
 * The traces service describes a trace through a cn_search_trace view: its
 * fixed fields, and callbacks for tags, metadata, spans and assessments, so
 * this code knows nothing of how traces are stored. The semantics are
 * MLflow's SQL store's:
 *  - name is the mlflow.traceName tag, run_id the mlflow.sourceRun metadata
 *    or a run the trace is linked to (run_id != 'x' is the negation of that,
 *    and needs a source run),
 *    text any span's content, end_time_ms timestamp_ms + execution_time_ms;
 *  - a span clause matches when some span satisfies it (span.name != 'x'
 *    means "a span not named x"), each clause on its own;
 *  - span.status compares MLflow's names (OK, ERROR, UNSET): an OTel
 *    "STATUS_CODE_OK" is read as OK;
 *  - span.attributes.<key> compares the attribute's value: a JSON string's
 *    text, or the JSON text of anything else (0.7, true);
 *  - feedback.<name> / expectation.<name> look at valid assessments of that
 *    name and kind; the value compared is a JSON string's text or the JSON
 *    text of anything else, so 'true' and < 0.5 both work; IS NULL matches a
 *    trace with no such assessment.
 */
#ifndef CN_SEARCH_TRACES_H
#define CN_SEARCH_TRACES_H

#include "core/search/search.h"

/* One span as the filter sees it. Strings are (pointer, length), but a NUL
 * must follow each: RLIKE's regexec reads to it under ASan's interceptor even
 * with REG_STARTEND (stored traces' strings always have one). */
typedef struct cn_search_trace_span {
	cn_search_value name, type, status; /* CN_SEARCH_V_STRING or V_NONE */
	/* The span's JSON, for span.content LIKE. */
	const char *content;
	size_t content_len;
	/* JSON object of the span's attributes, each value itself JSON-encoded
	 * (MLflow's span form: {"model": "\"gpt-4\"", "temperature": "0.7"}). */
	const char *attributes;
	size_t attributes_len;
} cn_search_trace_span;

typedef struct cn_search_trace_assessment {
	const char *name;
	size_t name_len;
	bool expectation; /* else feedback */
	bool valid;       /* false once overridden; invalid ones never match */
	/* The value as JSON text (feedback.value or expectation.value). */
	const char *value_json;
	size_t value_len;
} cn_search_trace_assessment;

typedef struct cn_search_trace {
	cn_search_value trace_id, client_request_id, state, experiment_id; /* V_NONE if absent */
	int64_t timestamp_ms;
	int64_t execution_time_ms;
	bool has_execution_time;
	const void *ctx; /* passed to the callbacks */
	/* Value of tag / metadata `key` (NUL-terminated) into *out; false when absent. */
	bool (*tag)(const void *ctx, const char *key, cn_search_value *out);
	bool (*metadata)(const void *ctx, const char *key, cn_search_value *out);
	/* The i-th span / assessment into *out; false past the last. May be NULL. */
	bool (*span)(const void *ctx, size_t i, cn_search_trace_span *out);
	bool (*assessment)(const void *ctx, size_t i, cn_search_trace_assessment *out);
	/* Whether the trace is linked to run `run_id` besides its mlflow.sourceRun
	 * (MLflow's link_traces_to_run); run_id = / IN match either. May be NULL. */
	bool (*run_linked)(const void *ctx, const char *run_id, size_t len);
} cn_search_trace;

/* True when t satisfies every clause of f (parsed with
 * cn_search_dialect_traces; NULL matches every trace). */
bool cn_search_trace_match(const cn_search_filter *f, const cn_search_trace *t);

/* Which parts of a trace f reads, so a caller can skip loading the rest. */
#define CN_SEARCH_TRACE_NEEDS_SPANS       0x1u
#define CN_SEARCH_TRACE_NEEDS_ASSESSMENTS 0x2u
unsigned cn_search_trace_needs(const cn_search_filter *f);

/* The value o (from cn_search_order_parse / cn_search_orders_build with
 * cn_search_dialect_traces) sorts t by, for cn_search_order_compare; false
 * when t has none (it then sorts last). */
bool cn_search_trace_order_value(const cn_search_order *o, const cn_search_trace *t,
                                 cn_search_value *out);

#endif
