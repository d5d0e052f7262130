/*
 * tests/bench/codec_bench.c: the JSON codec's hot paths, alone.
 *
 *   encode: a GetMetricHistoryResponse page of 25,000 metrics (random
 *           values of the kinds training loops log) -> JSON;
 *   decode: a LogBatch body of 1000 metrics -> FlatBuffer.
 *
 * Prints the best and median of several rounds, in ms per call and MB/s of
 * JSON. Not a test: numbers depend on the machine (and its other users).
 * Usage: cn_codec_bench [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/codec/codec.h"
#include "schemas/cairn_schema.h"

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A value like a training loop logs: a loss in (0, 4), an accuracy with few
 * digits, or an integer count. */
static double bench_value(unsigned *seed)
{
	switch (rand_r(seed) % 4) {
	case 0: return (double)rand_r(seed) / RAND_MAX * 4.0;
	case 1: return (double)(rand_r(seed) % 10000) / 10000.0;
	case 2: return (double)(rand_r(seed) % 100000);
	default: return 1.0 / (1.0 + (double)(rand_r(seed) % 1000));
	}
}

static void bench_metrics_json(cn_buf *j, size_t n, unsigned seed, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		char v[40];
		snprintf(v, sizeof v, "%.17g", bench_value(&seed));
		cn_buf_printf(j, "%s{\"key\":\"%s\",\"value\":%s,\"timestamp\":%lld,\"step\":%zu}",
		              i ? "," : "", key, v, 1764000000000LL + (long long)i * 37, i);
	}
}

static void bench_report(const char *what, double *t, int rounds, size_t bytes)
{
	qsort(t, (size_t)rounds, sizeof *t, bench_cmp);
	printf("%-34s best %8.3f ms  median %8.3f ms  (%.0f MB/s at median, %zu bytes)\n", what,
	       t[0] * 1e3, t[rounds / 2] * 1e3, (double)bytes / t[rounds / 2] / 1e6, bytes);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 30;
	if (rounds < 1 || rounds > 10000)
		rounds = 30;
	double *t = calloc((size_t)rounds, sizeof *t);
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_err err;
	if (!t || !b)
		return 1;

	/* encode: build the page by decoding its JSON once */
	cn_buf src = CN_BUF_INIT;
	cn_buf_puts(&src, "{\"metrics\":[");
	bench_metrics_json(&src, 25000, 1, "train/loss");
	cn_buf_puts(&src, "],\"next_page_token\":\"eyJvZmZzZXQiOiAyNTAwMH0=\"}");
	cn_fb_ref root;
	const uint8_t *fb;
	size_t fblen;
	if (cn_json_decode(&cn_schema_cairn, CN_TABLE_GetMetricHistoryResponse, src.p, src.len,
	                   NULL, 0, b, &root, &err) != CN_OK ||
	    !cn_fb_finish(b, root, &fb, &fblen)) {
		fprintf(stderr, "building the page failed: %s\n", err.msg);
		return 1;
	}
	cn_buf out = CN_BUF_INIT;
	for (int r = 0; r < rounds; r++) {
		cn_buf_reset(&out);
		double t0 = bench_now();
		if (cn_json_encode(&cn_schema_cairn, CN_TABLE_GetMetricHistoryResponse,
		                   cn_fb_root(fb), &out) != CN_OK)
			return 1;
		t[r] = bench_now() - t0;
	}
	bench_report("encode GetMetricHistory 25k", t, rounds, out.len);

	/* decode: one LogBatch body of 1000 metrics */
	cn_buf body = CN_BUF_INIT;
	cn_buf_puts(&body, "{\"run_id\":\"0123456789abcdef0123456789abcdef\",\"metrics\":[");
	bench_metrics_json(&body, 1000, 2, "val/accuracy");
	cn_buf_puts(&body, "]}");
	for (int r = 0; r < rounds; r++) {
		cn_fb_builder_reset(b);
		double t0 = bench_now();
		if (cn_json_decode(&cn_schema_cairn, CN_TABLE_LogBatch, body.p, body.len, NULL, 0,
		                   b, &root, &err) != CN_OK) {
			fprintf(stderr, "decode failed: %s\n", err.msg);
			return 1;
		}
		t[r] = bench_now() - t0;
	}
	bench_report("decode LogBatch 1000", t, rounds, body.len);

	cn_buf_free(&src);
	cn_buf_free(&out);
	cn_buf_free(&body);
	cn_fb_builder_free(b);
	free(t);
	return 0;
}
