/*
 * core/tracking/metric_bulk.c: metric history of several runs at once --
 * get-history-bulk-interval (MLflow's sampled charts call) and the UI's
 * get-history-bulk. Both read a run's metric history through
 * trk_metric_scan (metric_chunks.c), in (step, timestamp, seq) order.
 *
 * Sampling follows MLflow's server: the distinct steps logged by all the
 * requested runs are pooled; those in [start_step, end_step] (default 0 ..
 * the largest step) are thinned to max_results evenly spaced ones, always
 * keeping the last, and each run's own smallest and largest step in range
 * are added back. Every point of every run at a sampled step is returned,
 * run by run in request order, then by step and timestamp. Unknown run ids
 * contribute nothing, as in MLflow.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_BULK_MAX_RUNS       100
#define TRK_BULK_MAX_PER_RUN    2500  /* interval: max_results cap and default */
#define TRK_BULK_MAX_POINTS_RUN 25000 /* interval: points per run */
#define TRK_BULK_MAX_HISTORY    25000 /* get-history-bulk: default and cap */

/* A growable array of int64 (steps). */
typedef struct trk_i64s {
	int64_t *v;
	size_t n, cap;
} trk_i64s;

static bool trk_i64s_push(trk_i64s *a, int64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		int64_t *nv = realloc(a->v, cap * sizeof *nv);
		if (!nv)
			return false;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return true;
}

static int trk_i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Sort and drop duplicates. */
static void trk_i64s_uniq(trk_i64s *a)
{
	if (a->n < 2)
		return;
	qsort(a->v, a->n, sizeof *a->v, trk_i64_cmp);
	size_t o = 1;
	for (size_t i = 1; i < a->n; i++)
		if (a->v[i] != a->v[o - 1])
			a->v[o++] = a->v[i];
	a->n = o;
}

/* First index with v[i] >= x (lower) or v[i] > x (upper). */
static size_t trk_i64s_bound(const trk_i64s *a, int64_t x, bool upper)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->v[mid] < x || (upper && a->v[mid] == x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool trk_i64s_has(const trk_i64s *a, int64_t x)
{
	size_t i = trk_i64s_bound(a, x, false);
	return i < a->n && a->v[i] == x;
}

/* A run id of the request: false (contributes nothing) when it cannot name a run. */
static bool trk_bulk_run_id(cn_fb_str rid, uint8_t id[16], char hex[33])
{
	cn_err ignored;
	cn_err_clear(&ignored);
	return trk_run_resolve(rid, (cn_fb_str){NULL, 0}, id, hex, &ignored) == CN_OK;
}

/* Collected MetricWithRunId refs of a response. */
typedef struct trk_out {
	cn_fb_builder *b;
	cn_fb_ref key, run;
	cn_fb_ref *refs;
	size_t n, cap;
} trk_out;

static cn_code trk_out_add(trk_out *o, const trk_history_point *p, cn_err *err)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		cn_fb_ref *nr = realloc(o->refs, cap * sizeof *nr);
		if (!nr)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		o->refs = nr;
		o->cap = cap;
	}
	cn_Metric_start(o->b);
	cn_Metric_add_key(o->b, o->key);
	cn_Metric_add_value(o->b, p->value);
	cn_Metric_add_timestamp(o->b, p->timestamp);
	cn_Metric_add_step(o->b, p->step);
	cn_Metric_add_run_id(o->b, o->run);
	o->refs[o->n++] = cn_Metric_end(o->b);
	return CN_OK;
}

/* Scan pass 1: a run's distinct steps (they arrive sorted). */
static cn_code trk_collect_steps(void *arg, const trk_history_point *p, bool *more, cn_err *err)
{
	trk_i64s *a = arg;
	(void)more;
	if (a->n && a->v[a->n - 1] == p->step)
		return CN_OK;
	return trk_i64s_push(a, p->step) ? CN_OK
	                                 : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
}

typedef struct trk_emit_ctx {
	trk_out *out;
	const trk_i64s *steps;
	size_t left;
} trk_emit_ctx;

/* Scan pass 2: the points at sampled steps. */
static cn_code trk_emit_sampled(void *arg, const trk_history_point *p, bool *more, cn_err *err)
{
	trk_emit_ctx *c = arg;
	if (!trk_i64s_has(c->steps, p->step))
		return CN_OK;
	cn_code rc = trk_out_add(c->out, p, err);
	if (rc == CN_OK && --c->left == 0)
		*more = false;
	return rc;
}

/* MLflow's step sampling over the pooled distinct steps `all` (sorted,
 * unique): the steps in [lo, hi], thinned to max evenly spaced ones plus the
 * last. Appended to *out. */
static bool trk_sample_steps(const trk_i64s *all, int64_t lo, int64_t hi, int64_t max,
                             trk_i64s *out)
{
	size_t a = trk_i64s_bound(all, lo, false), z = trk_i64s_bound(all, hi, true);
	if (z <= a)
		return true;
	size_t num = z - a;
	if ((int64_t)num <= max) {
		for (size_t i = a; i < z; i++)
			if (!trk_i64s_push(out, all->v[i]))
				return false;
		return true;
	}
	for (int64_t i = 0; i < max; i++)
		if (!trk_i64s_push(out, all->v[a + (size_t)((uint64_t)i * num / (uint64_t)max)]))
			return false;
	return trk_i64s_push(out, all->v[z - 1]);
}

cn_code trk_get_metric_history_bulk_interval(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                             cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	(void)ctx;
	cn_fb_vec rids = cn_GetMetricHistoryBulkInterval_run_ids(req);
	if (rids.n == 0)
		return trk_missing(err, "run_ids");
	if (rids.n > TRK_BULK_MAX_RUNS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "GetMetricHistoryBulkInterval request must specify at most %d "
		                  "run_ids. Received %u run_ids.",
		                  TRK_BULK_MAX_RUNS, rids.n);
	cn_fb_str mkey = cn_GetMetricHistoryBulkInterval_metric_key(req);
	if (!mkey.ptr || mkey.len == 0)
		return trk_missing(err, "metric_key");
	int64_t max = TRK_BULK_MAX_PER_RUN;
	if (cn_GetMetricHistoryBulkInterval_has_max_results(req)) {
		max = cn_GetMetricHistoryBulkInterval_max_results(req);
		if (max < 1 || max > TRK_BULK_MAX_PER_RUN)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "max_results must be between 1 and %d.",
			                  TRK_BULK_MAX_PER_RUN);
	}
	bool has_start = cn_GetMetricHistoryBulkInterval_has_start_step(req),
	     has_end = cn_GetMetricHistoryBulkInterval_has_end_step(req);
	int64_t lo = cn_GetMetricHistoryBulkInterval_start_step(req),
	        hi = cn_GetMetricHistoryBulkInterval_end_step(req);
	if (has_start != has_end)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "If either start step or end step are specified, both must be "
		                  "specified.");
	if (has_start && lo > hi)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "end_step must be greater than start_step. Found start_step=%" PRId64
		        " and end_step=%" PRId64 ".",
		        lo, hi);

	/* Pass 1: every run's distinct steps, pooled. */
	trk_i64s all = {0}, ends = {0}, sampled = {0}, run = {0};
	cn_code rc = CN_OK;
	for (uint32_t r = 0; rc == CN_OK && r < rids.n; r++) {
		uint8_t id[16];
		char hex[33];
		if (!trk_bulk_run_id(cn_fb_vec_str(rids, r), id, hex))
			continue;
		run.n = 0;
		rc = trk_metric_scan(s, id, mkey, trk_collect_steps, &run, err);
		if (rc != CN_OK || run.n == 0)
			continue;
		if (!trk_i64s_push(&ends, run.v[0]) || !trk_i64s_push(&ends, run.v[run.n - 1]))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		for (size_t i = 0; rc == CN_OK && i < run.n; i++)
			if (!trk_i64s_push(&all, run.v[i]))
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	free(run.v);
	if (rc == CN_OK) {
		trk_i64s_uniq(&all);
		if (!has_start) {
			lo = 0;
			hi = all.n ? all.v[all.n - 1] : 0;
		}
		if (!trk_sample_steps(&all, lo, hi, max, &sampled))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		for (size_t i = 0; rc == CN_OK && i < ends.n; i++)
			if (ends.v[i] >= lo && ends.v[i] <= hi &&
			    !trk_i64s_push(&sampled, ends.v[i]))
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		trk_i64s_uniq(&sampled);
	}

	/* Pass 2: each run's points at the sampled steps. */
	trk_out out = {.b = b};
	if (rc == CN_OK && sampled.n)
		out.key = cn_fb_create_string(b, mkey.ptr, mkey.len);
	for (uint32_t r = 0; rc == CN_OK && sampled.n && r < rids.n; r++) {
		uint8_t id[16];
		char hex[33];
		if (!trk_bulk_run_id(cn_fb_vec_str(rids, r), id, hex))
			continue;
		out.run = cn_fb_create_string(b, hex, 32);
		trk_emit_ctx c = {&out, &sampled, TRK_BULK_MAX_POINTS_RUN};
		rc = trk_metric_scan(s, id, mkey, trk_emit_sampled, &c, err);
	}
	free(all.v);
	free(ends.v);
	free(sampled.v);
	cn_fb_ref vec = rc == CN_OK && out.n ? cn_fb_create_vec_refs(b, out.refs, out.n) : 0;
	free(out.refs);
	if (rc != CN_OK)
		return rc;
	cn_GetMetricHistoryBulkIntervalResponse_start(b);
	if (vec)
		cn_GetMetricHistoryBulkIntervalResponse_add_metrics(b, vec);
	*resp = cn_GetMetricHistoryBulkIntervalResponse_end(b);
	return CN_OK;
}

/* get-history-bulk: a run's first max points, reordered as MLflow's UI
 * handler does, by (timestamp, step, value). */
typedef struct trk_hist_buf {
	trk_history_point *v;
	size_t n, cap, max;
} trk_hist_buf;

static cn_code trk_collect_points(void *arg, const trk_history_point *p, bool *more, cn_err *err)
{
	trk_hist_buf *h = arg;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		trk_history_point *nv = realloc(h->v, cap * sizeof *nv);
		if (!nv)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n++] = *p;
	if (h->n == h->max)
		*more = false;
	return CN_OK;
}

static int trk_point_time_cmp(const void *pa, const void *pb)
{
	const trk_history_point *a = pa, *b = pb;
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp ? -1 : 1;
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (isless(a->value, b->value))
		return -1;
	if (isgreater(a->value, b->value))
		return 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int trk_str_cmp(const void *pa, const void *pb)
{
	const cn_fb_str *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

cn_code trk_get_metric_history_bulk(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                    cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	(void)ctx;
	cn_fb_vec rv = cn_GetMetricHistoryBulk_run_id(req);
	if (rv.n == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "GetMetricHistoryBulk request must specify at least one run_id.");
	if (rv.n > TRK_BULK_MAX_RUNS)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "GetMetricHistoryBulk request cannot specify more than %d run_ids. "
		        "Received %u run_ids.",
		        TRK_BULK_MAX_RUNS, rv.n);
	cn_fb_str mkey = cn_GetMetricHistoryBulk_metric_key(req);
	if (!mkey.ptr)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "GetMetricHistoryBulk request must specify a metric_key.");
	int64_t max = TRK_BULK_MAX_HISTORY;
	if (cn_GetMetricHistoryBulk_has_max_results(req)) {
		max = cn_GetMetricHistoryBulk_max_results(req);
		if (max < 1)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid value %" PRId64 " for parameter 'max_results' "
			                  "supplied. It must be a positive integer.",
			                  max);
		if (max > TRK_BULK_MAX_HISTORY)
			max = TRK_BULK_MAX_HISTORY;
	}
	/* MLflow reads the runs in sorted id order. */
	cn_fb_str *ids = malloc(rv.n * sizeof *ids);
	if (!ids)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (uint32_t i = 0; i < rv.n; i++)
		ids[i] = cn_fb_vec_str(rv, i);
	qsort(ids, rv.n, sizeof *ids, trk_str_cmp);
	trk_out out = {.b = b};
	trk_hist_buf h = {.max = (size_t)max};
	cn_code rc = CN_OK;
	out.key = cn_fb_create_string(b, mkey.ptr, mkey.len);
	for (uint32_t r = 0; rc == CN_OK && r < rv.n && out.n < (size_t)max; r++) {
		uint8_t id[16];
		char hex[33];
		if (!trk_bulk_run_id(ids[r], id, hex))
			continue;
		h.n = 0;
		rc = trk_metric_scan(s, id, mkey, trk_collect_points, &h, err);
		if (rc != CN_OK || h.n == 0)
			continue;
		qsort(h.v, h.n, sizeof *h.v, trk_point_time_cmp);
		out.run = cn_fb_create_string(b, hex, 32);
		for (size_t i = 0; rc == CN_OK && i < h.n && out.n < (size_t)max; i++)
			rc = trk_out_add(&out, &h.v[i], err);
	}
	free(ids);
	free(h.v);
	cn_fb_ref vec = rc == CN_OK && out.n ? cn_fb_create_vec_refs(b, out.refs, out.n) : 0;
	free(out.refs);
	if (rc != CN_OK)
		return rc;
	cn_GetMetricHistoryBulkResponse_start(b);
	if (vec)
		cn_GetMetricHistoryBulkResponse_add_metrics(b, vec);
	*resp = cn_GetMetricHistoryBulkResponse_end(b);
	return CN_OK;
}
