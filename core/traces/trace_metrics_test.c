/* core/traces/trace_metrics_test.c: the trace metrics aggregation: buckets,
 * exact nearest-rank percentiles, tool counts, token usage parsing. */
#include "core/traces/trace_metrics.h"

#include <string.h>

#include "cn_test.h"

CN_TEST(metrics_window_checks)
{
	trc_metrics m;
	cn_err err;
	CN_CHECK(trc_metrics_init(&m, 100, 100, 10, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(trc_metrics_init(&m, -5, 100, 10, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(trc_metrics_init(&m, 0, 100, 0, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(trc_metrics_init(&m, 0, 1000000, 1, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "at most 10000") != NULL);
	CN_CHECK(trc_metrics_init(&m, 0, 105, 10, &err) == CN_OK);
	CN_CHECK_EQ_INT(m.nbuckets, 11);
	CN_CHECK_EQ_INT(m.buckets[10].start_ms, 100);
	CN_CHECK_EQ_INT(m.buckets[10].end_ms, 105); /* the last bucket ends with the window */
	trc_metrics_free(&m);
}

CN_TEST(metrics_buckets_and_percentiles)
{
	trc_metrics m;
	cn_err err;
	CN_CHECK(trc_metrics_init(&m, 1000, 3000, 1000, &err) == CN_OK);
	/* Bucket 0: latencies 1..100, every 10th an error. */
	for (int i = 1; i <= 100; i++) {
		trc_metrics_trace t = {.timestamp_ms = 1000 + i,
		                       .error = i % 10 == 0,
		                       .latency_ms = 101 - i,
		                       .input_tokens = 2,
		                       .output_tokens = 3,
		                       .total_tokens = 5};
		CN_CHECK(trc_metrics_add_trace(&m, &t));
	}
	/* Bucket 1: one finished, one in progress; outside the window: ignored. */
	trc_metrics_trace a = {.timestamp_ms = 2500, .latency_ms = 7};
	trc_metrics_trace b = {.timestamp_ms = 2999, .in_progress = true};
	trc_metrics_trace out1 = {.timestamp_ms = 999, .latency_ms = 1};
	trc_metrics_trace out2 = {.timestamp_ms = 3000, .latency_ms = 1};
	CN_CHECK(trc_metrics_add_trace(&m, &a) && trc_metrics_add_trace(&m, &b));
	CN_CHECK(trc_metrics_add_trace(&m, &out1) && trc_metrics_add_trace(&m, &out2));

	trc_metrics_bucket *b0 = &m.buckets[0], *b1 = &m.buckets[1];
	CN_CHECK_EQ_INT(b0->traces, 100);
	CN_CHECK_EQ_INT(b0->errors, 10);
	CN_CHECK_EQ_INT(b0->total_tokens, 500);
	int64_t p;
	CN_CHECK(trc_metrics_percentile(b0, 50, &p) && p == 50);
	CN_CHECK(trc_metrics_percentile(b0, 90, &p) && p == 90);
	CN_CHECK(trc_metrics_percentile(b0, 99, &p) && p == 99);
	CN_CHECK(trc_metrics_percentile(b0, 100, &p) && p == 100);
	CN_CHECK_EQ_INT(b1->traces, 2);
	CN_CHECK_EQ_INT(b1->in_progress, 1);
	CN_CHECK(trc_metrics_percentile(b1, 50, &p) && p == 7);
	CN_CHECK(trc_metrics_percentile(b1, 99, &p) && p == 7);
	CN_CHECK_EQ_INT(m.total.traces, 102);
	CN_CHECK(trc_metrics_percentile(&m.total, 50, &p) && p == 50);
	trc_metrics_bucket empty = {0};
	CN_CHECK(!trc_metrics_percentile(&empty, 50, &p));
	trc_metrics_free(&m);
}

CN_TEST(metrics_tools)
{
	trc_metrics m;
	cn_err err;
	CN_CHECK(trc_metrics_init(&m, 0, 100, 50, &err) == CN_OK);
	CN_CHECK(trc_metrics_add_tool(&m, 10, "search", 6, false));
	CN_CHECK(trc_metrics_add_tool(&m, 20, "weather", 7, true));
	CN_CHECK(trc_metrics_add_tool(&m, 30, "weather", 7, false));
	CN_CHECK(trc_metrics_add_tool(&m, 60, "weather", 7, true));
	CN_CHECK(trc_metrics_add_tool(&m, 160, "late", 4, true)); /* outside */
	trc_metrics_sort_tools(&m.buckets[0]);
	CN_CHECK_EQ_INT(m.buckets[0].ntools, 2);
	CN_CHECK_STR(m.buckets[0].tools[0].name, "weather");
	CN_CHECK_EQ_INT(m.buckets[0].tools[0].calls, 2);
	CN_CHECK_EQ_INT(m.buckets[0].tools[0].errors, 1);
	CN_CHECK_STR(m.buckets[0].tools[1].name, "search");
	trc_metrics_sort_tools(&m.total);
	CN_CHECK_EQ_INT(m.total.tools[0].calls, 3);
	CN_CHECK_EQ_INT(m.total.tools[0].errors, 2);
	/* Past TRC_METRICS_MAX_TOOLS distinct names, the rest fold into one. */
	char name[16];
	for (int i = 0; i < TRC_METRICS_MAX_TOOLS + 5; i++) {
		int n = snprintf(name, sizeof name, "t%d", i);
		CN_CHECK(trc_metrics_add_tool(&m, 70, name, (size_t)n, false));
	}
	CN_CHECK_EQ_INT(m.buckets[1].ntools, TRC_METRICS_MAX_TOOLS + 1);
	trc_metrics_free(&m);
}

CN_TEST(metrics_token_usage)
{
	int64_t i = 0, o = 0, t = 0;
	const char *plain = "{\"input_tokens\": 3, \"output_tokens\": 5, \"total_tokens\": 8}";
	CN_CHECK(trc_metrics_token_usage(plain, strlen(plain), &i, &o, &t));
	const char *enc = "\"{\\\"input_tokens\\\": 10, \\\"output_tokens\\\": 1}\"";
	CN_CHECK(trc_metrics_token_usage(enc, strlen(enc), &i, &o, &t));
	CN_CHECK_EQ_INT(i, 13);
	CN_CHECK_EQ_INT(o, 6);
	CN_CHECK_EQ_INT(t, 19); /* total defaults to input + output */
	CN_CHECK(!trc_metrics_token_usage("nope", 4, &i, &o, &t));
	CN_CHECK(!trc_metrics_token_usage("{\"x\": 1}", 8, &i, &o, &t));
	CN_CHECK(!trc_metrics_token_usage("[1]", 3, &i, &o, &t));
	CN_CHECK_EQ_INT(i, 13);
}

CN_TEST_MAIN()
