/*
 * core/traces/trace_metrics.c: GetTraceMetrics, Cairn's dashboard data
 * (GET /api/2.0/cairn/traces/metrics?experiment_id=&start_ms=&end_ms=&bucket_ms=).
 *
 * One pass over the experiment's traces_by_time index from end_ms back to
 * start_ms (newest first, the index's own order), reading each trace's
 * record (state, execution time, token usage metadata) and its spans (TOOL
 * spans by name, and span token usage when the trace has no total). Why a
 * bounded scan rather than counters kept at ingestion: trace_metrics.h.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/traces/trace_metrics.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TM_DAY_MS          (24 * 3600 * 1000LL)
#define TM_DEFAULT_BUCKETS 60
#define TM_TOKEN_META      "mlflow.trace.tokenUsage"
#define TM_TOKEN_ATTR      "mlflow.chat.tokenUsage"

/* The trace's metadata value of key, if any. */
static cn_fb_str tm_meta(cn_fb_table rec, const char *key)
{
	cn_fb_vec v = cn_TraceRecord_trace_metadata(rec);
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		if (cn_fb_str_eq(cn_StringPair_key(e), key))
			return cn_StringPair_value(e);
	}
	return (cn_fb_str){0};
}

/* A span attribute's value inside the attributes JSON object, cheaply
 * prefiltered: most spans carry no token usage. */
static void tm_span_tokens(cn_fb_str attrs, trc_metrics_trace *t)
{
	if (!attrs.ptr || !memmem(attrs.ptr, attrs.len, TM_TOKEN_ATTR, sizeof TM_TOKEN_ATTR - 1))
		return;
	json_t *o = json_loadb(attrs.ptr, attrs.len, 0, NULL);
	json_t *v = json_object_get(o, TM_TOKEN_ATTR);
	if (json_is_string(v))
		trc_metrics_token_usage(json_string_value(v), json_string_length(v),
		                        &t->input_tokens, &t->output_tokens, &t->total_tokens);
	json_decref(o);
}

/* Adds one trace (record in hand) and its tool calls to m. Its spans are
 * read through `spans`, one iterator over the whole span column family for
 * the scan, positioned on the trace's key prefix: an iterator per trace
 * would cost more than reading its few spans. */
static cn_code tm_add(cn_kv_iter *spans, trc_metrics *m, const char *id, size_t len, int64_t ts,
                      cn_fb_table rec, cn_err *err)
{
	int32_t state = cn_TraceRecord_state(rec);
	trc_metrics_trace t = {.timestamp_ms = ts, .error = state == 2 /* ERROR */};
	t.in_progress =
	        state == 3 /* IN_PROGRESS */ || !cn_TraceRecord_has_execution_duration_ms(rec);
	t.latency_ms = t.in_progress ? 0 : cn_TraceRecord_execution_duration_ms(rec);
	cn_fb_str tok = tm_meta(rec, TM_TOKEN_META);
	bool have_tokens = tok.ptr && trc_metrics_token_usage(tok.ptr, tok.len, &t.input_tokens,
	                                                      &t.output_tokens, &t.total_tokens);
	cn_key prefix;
	cn_key_init(&prefix);
	cn_key_str(&prefix, id, len);
	bool ok = true;
	for (cn_kv_iter_seek(spans, prefix.b, prefix.len); ok && cn_kv_iter_valid(spans);
	     cn_kv_iter_next(spans)) {
		size_t klen, vlen;
		const uint8_t *key = cn_kv_iter_key(spans, &klen);
		if (klen < prefix.len || memcmp(key, prefix.b, prefix.len) != 0)
			break;
		cn_fb_table sp = cn_fb_root(cn_kv_iter_value(spans, &vlen));
		if (cn_fb_str_eq(cn_SpanRecord_span_type(sp), "TOOL")) {
			cn_fb_str name = cn_SpanRecord_name(sp);
			bool failed =
			        cn_fb_str_eq(cn_SpanRecord_status_code(sp), "STATUS_CODE_ERROR");
			ok = trc_metrics_add_tool(m, ts, name.ptr ? name.ptr : "", name.len,
			                          failed);
		}
		if (!have_tokens)
			tm_span_tokens(cn_SpanRecord_attributes(sp), &t);
	}
	cn_code rc = cn_kv_iter_status(spans, err);
	if (rc == CN_OK && !(ok && trc_metrics_add_trace(m, &t)))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	return rc;
}

static cn_code tm_scan(trc_state *s, trc_metrics *m, const char *exp, cn_err *err)
{
	/* Keys order by -request_time: starting "after" (end_ms - 1, "") lands on
	 * the newest trace before end_ms, as no trace id is empty. */
	trc_exp_iter *it = trc_exp_iter_new(s, exp, true, m->end_ms - 1, "");
	cn_kv_iter *spans = cn_kv_iter_new(s->db, TRC_CF_SPANS, NULL, 0);
	if (!it || !spans) {
		trc_exp_iter_free(it);
		cn_kv_iter_free(spans);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	int64_t ts;
	const char *id;
	size_t len;
	size_t scanned = 0;
	cn_code rc = CN_OK;
	while (rc == CN_OK && trc_exp_iter_next(it, &ts, &id, &len) && ts >= m->start_ms) {
		if (++scanned > TRC_METRICS_MAX_TRACES) {
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "The window holds more than %d traces; ask for a shorter one.",
			        TRC_METRICS_MAX_TRACES);
			break;
		}
		trc_info info;
		cn_code irc = trc_info_get(s, id, len, &info, err);
		if (irc == CN_RESOURCE_DOES_NOT_EXIST)
			continue; /* deleted since the index entry was read */
		if (irc != CN_OK) {
			rc = irc;
			break;
		}
		rc = tm_add(spans, m, id, len, ts, info.t, err);
		trc_info_release(&info);
	}
	if (rc == CN_OK)
		rc = trc_exp_iter_status(it, err);
	trc_exp_iter_free(it);
	cn_kv_iter_free(spans);
	return rc;
}

/* ---- the answer -------------------------------------------------------- */

static cn_fb_ref tm_build_bucket(cn_fb_builder *b, trc_metrics_bucket *k)
{
	trc_metrics_sort_tools(k);
	cn_fb_ref tools = 0;
	if (k->ntools) {
		cn_fb_ref *refs = malloc(k->ntools * sizeof *refs);
		if (!refs)
			return 0;
		for (size_t i = 0; i < k->ntools; i++) {
			trc_tool_stat *t = &k->tools[i];
			cn_fb_ref name = cn_fb_create_string(b, t->name, t->name_len);
			cn_TraceToolStats_start(b);
			cn_TraceToolStats_add_name(b, name);
			cn_TraceToolStats_add_call_count(b, t->calls);
			cn_TraceToolStats_add_error_count(b, t->errors);
			cn_TraceToolStats_add_error_rate(
			        b, t->calls ? (double)t->errors / (double)t->calls : 0.0);
			refs[i] = cn_TraceToolStats_end(b);
		}
		tools = cn_fb_create_vec_refs(b, refs, k->ntools);
		free(refs);
	}
	int64_t p50 = 0, p90 = 0, p99 = 0;
	bool have = trc_metrics_percentile(k, 50, &p50);
	trc_metrics_percentile(k, 90, &p90);
	trc_metrics_percentile(k, 99, &p99);
	cn_TraceMetricsBucket_start(b);
	cn_TraceMetricsBucket_add_start_ms(b, k->start_ms);
	cn_TraceMetricsBucket_add_end_ms(b, k->end_ms);
	cn_TraceMetricsBucket_add_trace_count(b, k->traces);
	cn_TraceMetricsBucket_add_error_count(b, k->errors);
	cn_TraceMetricsBucket_add_in_progress_count(b, k->in_progress);
	cn_TraceMetricsBucket_add_error_rate(b, k->traces ? (double)k->errors / (double)k->traces
	                                                  : 0.0);
	if (have) {
		cn_TraceMetricsBucket_add_latency_p50_ms(b, p50);
		cn_TraceMetricsBucket_add_latency_p90_ms(b, p90);
		cn_TraceMetricsBucket_add_latency_p99_ms(b, p99);
	}
	cn_TraceMetricsBucket_add_input_tokens(b, k->input_tokens);
	cn_TraceMetricsBucket_add_output_tokens(b, k->output_tokens);
	cn_TraceMetricsBucket_add_total_tokens(b, k->total_tokens);
	cn_TraceMetricsBucket_add_tools(b, tools);
	return cn_TraceMetricsBucket_end(b);
}

static cn_code tm_answer(trc_metrics *m, cn_fb_str exp, cn_fb_builder *b, cn_fb_ref *resp,
                         cn_err *err)
{
	cn_fb_ref *refs = malloc(m->nbuckets * sizeof *refs);
	if (!refs)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; i < m->nbuckets; i++)
		refs[i] = tm_build_bucket(b, &m->buckets[i]);
	cn_fb_ref buckets = cn_fb_create_vec_refs(b, refs, m->nbuckets);
	free(refs);
	cn_fb_ref summary = tm_build_bucket(b, &m->total);
	cn_fb_ref eid = cn_fb_create_string(b, exp.ptr, exp.len);
	cn_GetTraceMetricsResponse_start(b);
	cn_GetTraceMetricsResponse_add_experiment_id(b, eid);
	cn_GetTraceMetricsResponse_add_start_ms(b, m->start_ms);
	cn_GetTraceMetricsResponse_add_end_ms(b, m->end_ms);
	cn_GetTraceMetricsResponse_add_bucket_ms(b, m->bucket_ms);
	cn_GetTraceMetricsResponse_add_buckets(b, buckets);
	cn_GetTraceMetricsResponse_add_summary(b, summary);
	*resp = cn_GetTraceMetricsResponse_end(b);
	return cn_fb_builder_failed(b) ? cn_err_set(err, CN_INTERNAL_ERROR, "out of memory")
	                               : CN_OK;
}

TRC_METHOD(trc_get_trace_metrics)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str exp = cn_GetTraceMetrics_experiment_id(req);
	if (!exp.ptr || !exp.len)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'experiment_id'.");
	int64_t end =
	        cn_GetTraceMetrics_has_end_ms(req) ? cn_GetTraceMetrics_end_ms(req) : cn_now_ms();
	int64_t start = cn_GetTraceMetrics_has_start_ms(req) ? cn_GetTraceMetrics_start_ms(req)
	                                                     : end - TM_DAY_MS;
	int64_t bucket;
	if (cn_GetTraceMetrics_has_bucket_ms(req))
		bucket = cn_GetTraceMetrics_bucket_ms(req);
	else
		bucket = end > start ? (end - start + TM_DEFAULT_BUCKETS - 1) / TM_DEFAULT_BUCKETS
		                     : 1;
	trc_exp_facts facts;
	cn_code rc = trc_exp_facts_get(s, exp.ptr, exp.len, &facts, err);
	if (rc == CN_OK && !facts.exists)
		rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                "No Experiment with id=%.*s exists", (int)exp.len, exp.ptr);
	trc_metrics m;
	if (rc == CN_OK)
		rc = trc_metrics_init(&m, start, end, bucket, err);
	if (rc != CN_OK)
		return rc;
	rc = tm_scan(s, &m, exp.ptr, err);
	if (rc == CN_OK)
		rc = tm_answer(&m, exp, b, resp, err);
	trc_metrics_free(&m);
	return rc;
}
