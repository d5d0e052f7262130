/*
 * core/traces/trace_filter.h: MLflow's search_traces filter and order_by
 * applied to stored traces: the bridge from the traces service's records
 * (TraceRecord, SpanRecord, assessments) to core/search's trace dialect.
 *
 *   cn_search_filter *f;
 *   if (trc_filter_compile(text, len, &f, err) != CN_OK) return err->code;
 *   for each candidate record rec:
 *       trc_filter_view v;
 *       trc_filter_view_init(&v, s, rec);
 *       bool keep = trc_filter_match(&v, f);
 *       ... trc_filter_order_value(&v, &order, &val) for sorting ...
 *       trc_filter_view_free(&v);
 *   cn_search_filter_free(f);
 *
 * Spans and assessments are read only when a clause needs them
 * (cn_search_trace_needs): a trace's spans are copied once when there are
 * few (TRC_FILTER_CACHE_SPANS, TRC_FILTER_CACHE_BYTES), else streamed one at
 * a time, so a 50,000-span trace is never held in memory for a filter. A storage
 * error while reading them counts as "no spans" for that trace.
 * span.content (and trace.text) search a span's attributes JSON, which holds
 * its inputs and outputs (mlflow.spanInputs / mlflow.spanOutputs).
 */
#ifndef CN_TRACE_FILTER_H
#define CN_TRACE_FILTER_H

#include "core/search/search_traces.h"
#include "core/traces/assessments.h"
#include "core/traces/traces_int.h"

#define TRC_FILTER_CACHE_SPANS 256
#define TRC_FILTER_CACHE_BYTES (256 * 1024)

typedef struct trc_filter_view {
	trc_state *s;
	cn_fb_table rec;
	cn_search_trace t;
	/* Spans of a small trace are copied once and served from memory; a
	 * larger one is streamed, the iterator restarted when a clause asks for
	 * span 0 again. */
	bool span_cache_tried, span_cached;
	uint8_t **span_cache;
	size_t nspan_cache;
	trc_span_iter *spans;
	size_t span_next; /* index of the span the iterator yields next */
	bool asms_loaded;
	trc_asm_list asms;
} trc_filter_view;

/* An index that serves a filter: its first equality on a tag (name is the
 * mlflow.traceName tag) or a metadata key with a value short enough to be
 * indexed whole; every result is still checked against the whole filter. */
typedef struct trc_index_hint {
	int cf; /* TRC_CF_TAG_INDEX or TRC_CF_META_INDEX */
	const char *key, *val;
	size_t klen, vlen;
} trc_index_hint;
bool trc_filter_index_hint(const cn_search_filter *f, trc_index_hint *h);

/* Parses a filter under cn_search_dialect_traces (MLflow's messages). */
cn_code trc_filter_compile(const char *text, size_t len, cn_search_filter **out, cn_err *err);
/* rec must stay readable until trc_filter_view_free. */
void trc_filter_view_init(trc_filter_view *v, trc_state *s, cn_fb_table rec);
void trc_filter_view_free(trc_filter_view *v);
bool trc_filter_match(trc_filter_view *v, const cn_search_filter *f);
/* Sort value of the trace under o (from cn_search_orders_build with
 * cn_search_dialect_traces); false: none (sorts last). */
bool trc_filter_order_value(trc_filter_view *v, const cn_search_order *o, cn_search_value *out);

#endif
