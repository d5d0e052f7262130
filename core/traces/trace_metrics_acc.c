/*
 * core/traces/trace_metrics_acc.c: per-bucket aggregation of trace metrics
 * (see trace_metrics.h); no storage here.
 */
#include "core/traces/trace_metrics.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

cn_code trc_metrics_init(trc_metrics *m, int64_t start_ms, int64_t end_ms, int64_t bucket_ms,
                         cn_err *err)
{
	memset(m, 0, sizeof *m);
	if (start_ms < 0 || end_ms <= start_ms)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid time window: start_ms (%lld) must be before end_ms (%lld) "
		        "and not negative",
		        (long long)start_ms, (long long)end_ms);
	if (bucket_ms <= 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid bucket_ms: %lld. It must be a positive number of "
		                  "milliseconds",
		                  (long long)bucket_ms);
	uint64_t span = (uint64_t)end_ms - (uint64_t)start_ms;
	uint64_t n = span / (uint64_t)bucket_ms + (span % (uint64_t)bucket_ms != 0);
	if (n > TRC_METRICS_MAX_BUCKETS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid bucket_ms: %lld gives %llu buckets over the window; at "
		                  "most %d are allowed",
		                  (long long)bucket_ms, (unsigned long long)n,
		                  TRC_METRICS_MAX_BUCKETS);
	m->buckets = calloc((size_t)n, sizeof *m->buckets);
	if (!m->buckets)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	m->start_ms = start_ms;
	m->end_ms = end_ms;
	m->bucket_ms = bucket_ms;
	m->nbuckets = (size_t)n;
	for (size_t i = 0; i < m->nbuckets; i++) {
		m->buckets[i].start_ms = start_ms + (int64_t)i * bucket_ms;
		int64_t e = m->buckets[i].start_ms + bucket_ms;
		m->buckets[i].end_ms = e < end_ms ? e : end_ms;
	}
	m->total.start_ms = start_ms;
	m->total.end_ms = end_ms;
	return CN_OK;
}

static void metrics_bucket_free(trc_metrics_bucket *b)
{
	free(b->lat);
	for (size_t i = 0; i < b->ntools; i++)
		free(b->tools[i].name);
	free(b->tools);
}

void trc_metrics_free(trc_metrics *m)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		metrics_bucket_free(&m->buckets[i]);
	free(m->buckets);
	metrics_bucket_free(&m->total);
	memset(m, 0, sizeof *m);
}

static trc_metrics_bucket *metrics_bucket_of(trc_metrics *m, int64_t ts)
{
	if (ts < m->start_ms || ts >= m->end_ms)
		return NULL;
	return &m->buckets[(uint64_t)(ts - m->start_ms) / (uint64_t)m->bucket_ms];
}

static bool metrics_bucket_add(trc_metrics_bucket *b, const trc_metrics_trace *t)
{
	b->traces++;
	b->errors += t->error;
	b->in_progress += t->in_progress;
	b->input_tokens += t->input_tokens;
	b->output_tokens += t->output_tokens;
	b->total_tokens += t->total_tokens;
	if (t->in_progress)
		return true;
	if (b->nlat == b->caplat) {
		size_t ncap = b->caplat ? b->caplat * 2 : 16;
		int64_t *nl = realloc(b->lat, ncap * sizeof *nl);
		if (!nl)
			return false;
		b->lat = nl;
		b->caplat = ncap;
	}
	b->lat[b->nlat++] = t->latency_ms;
	b->sorted = false;
	return true;
}

bool trc_metrics_add_trace(trc_metrics *m, const trc_metrics_trace *t)
{
	trc_metrics_bucket *b = metrics_bucket_of(m, t->timestamp_ms);
	if (!b)
		return true;
	return metrics_bucket_add(b, t) && metrics_bucket_add(&m->total, t);
}

static bool metrics_tool_add(trc_metrics_bucket *b, const char *name, size_t len, bool error)
{
	static const char other[] = "(other)";
	trc_tool_stat *t = NULL;
	for (size_t i = 0; i < b->ntools && !t; i++)
		if (b->tools[i].name_len == len && memcmp(b->tools[i].name, name, len) == 0)
			t = &b->tools[i];
	if (!t && b->ntools >= TRC_METRICS_MAX_TOOLS) {
		/* Unbounded distinct names must not grow a reply without bound. */
		name = other;
		len = sizeof other - 1;
		for (size_t i = 0; i < b->ntools && !t; i++)
			if (b->tools[i].name_len == len && memcmp(b->tools[i].name, name, len) == 0)
				t = &b->tools[i];
	}
	if (!t) {
		if (b->ntools == b->captools) {
			size_t ncap = b->captools ? b->captools * 2 : 8;
			trc_tool_stat *nt = realloc(b->tools, ncap * sizeof *nt);
			if (!nt)
				return false;
			b->tools = nt;
			b->captools = ncap;
		}
		char *copy = malloc(len + 1);
		if (!copy)
			return false;
		memcpy(copy, name, len);
		copy[len] = '\0';
		t = &b->tools[b->ntools++];
		*t = (trc_tool_stat){.name = copy, .name_len = len};
	}
	t->calls++;
	t->errors += error;
	return true;
}

bool trc_metrics_add_tool(trc_metrics *m, int64_t timestamp_ms, const char *name, size_t len,
                          bool error)
{
	trc_metrics_bucket *b = metrics_bucket_of(m, timestamp_ms);
	if (!b)
		return true;
	return metrics_tool_add(b, name, len, error) &&
	       metrics_tool_add(&m->total, name, len, error);
}

static int metrics_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

bool trc_metrics_percentile(trc_metrics_bucket *b, double q, int64_t *out)
{
	if (!b->nlat || q <= 0 || q > 100)
		return false;
	if (!b->sorted) {
		qsort(b->lat, b->nlat, sizeof *b->lat, metrics_cmp_i64);
		b->sorted = true;
	}
	/* Nearest rank: the smallest value with at least q% of values <= it. */
	double r = q / 100.0 * (double)b->nlat;
	size_t rank = (size_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	*out = b->lat[rank - 1];
	return true;
}

static int metrics_cmp_tool(const void *a, const void *b)
{
	const trc_tool_stat *x = a, *y = b;
	if (x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

void trc_metrics_sort_tools(trc_metrics_bucket *b)
{
	if (b->ntools > 1)
		qsort(b->tools, b->ntools, sizeof *b->tools, metrics_cmp_tool);
}

static int64_t metrics_int(json_t *o, const char *key, bool *found)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v)) {
		*found = true;
		return (int64_t)json_integer_value(v);
	}
	if (json_is_real(v)) {
		*found = true;
		return (int64_t)json_real_value(v);
	}
	return 0;
}

bool trc_metrics_token_usage(const char *json, size_t len, int64_t *in, int64_t *out,
                             int64_t *total)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	if (json_is_string(j)) {
		/* A span attribute: the object JSON-encoded once more. */
		json_t *inner = json_loadb(json_string_value(j), json_string_length(j), 0, NULL);
		json_decref(j);
		j = inner;
	}
	bool ok = json_is_object(j);
	if (ok) {
		bool fi = false, fo = false, ft = false;
		int64_t i = metrics_int(j, "input_tokens", &fi);
		int64_t o = metrics_int(j, "output_tokens", &fo);
		int64_t t = metrics_int(j, "total_tokens", &ft);
		ok = fi || fo || ft;
		*in += i;
		*out += o;
		*total += ft ? t : i + o;
	}
	json_decref(j);
	return ok;
}
