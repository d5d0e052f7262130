/*
 * core/traces/trace_metrics.h: the aggregation behind GET
 * /api/2.0/cairn/traces/metrics (trace_metrics.c serves it).
 *
 * A trc_metrics collects, per time bucket of a window, what one pass over
 * the window's traces yields: counts, errors, execution times (kept whole,
 * so percentiles are exact nearest-rank values), token sums, and per-tool
 * call and error counts. Plain memory, no storage: unit-testable alone.
 *
 * Why a scan of the window and not aggregates kept at ingestion: spans
 * arrive in any order and late, traces are re-sent, deleted and expired by
 * retention, and ingestion has a throughput target; counters maintained on
 * that path would need the same bookkeeping again for every one of those
 * cases and would tax every span written, while percentiles cannot be
 * merged exactly from counters at all. The scan reads only the window's
 * traces (the by-time index is ordered per experiment), so its cost follows
 * what is asked for; TRC_METRICS_MAX_TRACES bounds it.
 */
#ifndef CN_TRACE_METRICS_H
#define CN_TRACE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/fb/fb.h"
#include "core/service.h"

#define TRC_METRICS_MAX_BUCKETS 10000
#define TRC_METRICS_MAX_TRACES  1000000 /* traces one request may scan */
#define TRC_METRICS_MAX_TOOLS   1000 /* distinct tool names per bucket; more fold into "(other)" */

typedef struct trc_tool_stat {
	char *name; /* owned */
	size_t name_len;
	int64_t calls, errors;
} trc_tool_stat;

typedef struct trc_metrics_bucket {
	int64_t start_ms, end_ms;
	int64_t traces, errors, in_progress;
	int64_t input_tokens, output_tokens, total_tokens;
	int64_t *lat; /* execution times of finished traces; owned */
	size_t nlat, caplat;
	bool sorted;
	trc_tool_stat *tools; /* owned */
	size_t ntools, captools;
} trc_metrics_bucket;

typedef struct trc_metrics {
	int64_t start_ms, end_ms, bucket_ms;
	size_t nbuckets;
	trc_metrics_bucket *buckets; /* owned */
	trc_metrics_bucket total;
} trc_metrics;

/* One trace as the aggregation sees it. */
typedef struct trc_metrics_trace {
	int64_t timestamp_ms;
	bool error;       /* state ERROR */
	bool in_progress; /* no execution time yet */
	int64_t latency_ms;
	int64_t input_tokens, output_tokens, total_tokens;
} trc_metrics_trace;

/* Checks the window (start < end, bucket > 0, at most
 * TRC_METRICS_MAX_BUCKETS buckets) with clear messages, then sets m up.
 * Errors: CN_INVALID_PARAMETER_VALUE, or CN_INTERNAL_ERROR out of memory. */
cn_code trc_metrics_init(trc_metrics *m, int64_t start_ms, int64_t end_ms, int64_t bucket_ms,
                         cn_err *err);
void trc_metrics_free(trc_metrics *m);
/* Adds a trace (ignored outside the window). false: out of memory. */
bool trc_metrics_add_trace(trc_metrics *m, const trc_metrics_trace *t);
/* Adds one call of tool `name` by a trace at timestamp_ms. false: out of memory. */
bool trc_metrics_add_tool(trc_metrics *m, int64_t timestamp_ms, const char *name, size_t len,
                          bool error);
/* Nearest-rank q-th percentile (0 < q <= 100) of b's latencies; false when
 * b has none. Sorts b's latencies on first use. */
bool trc_metrics_percentile(trc_metrics_bucket *b, double q, int64_t *out);
/* Sorts b's tools by calls (most first), then name. */
void trc_metrics_sort_tools(trc_metrics_bucket *b);

/* Reads MLflow's token usage JSON ({"input_tokens": 3, "output_tokens": 5,
 * "total_tokens": 8}), itself possibly JSON-encoded inside a JSON string as
 * span attributes are, adding to *in, *out, *total (total defaults to
 * in + out). false when the text is not such an object. */
bool trc_metrics_token_usage(const char *json, size_t len, int64_t *in, int64_t *out,
                             int64_t *total);

/* The GetTraceMetrics method of the traces service (trace_metrics.c). */
cn_code trc_get_trace_metrics(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                              cn_fb_ref *resp, cn_err *err);

#endif
