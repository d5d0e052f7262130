/*
 * tests/bench/traces_bench.c: SearchTracesV3 over 1,000,000 traces.
 *
 * Loads N traces (default 1,000,000) into one experiment of a fresh traces
 * database through the service's own IngestSpans method (batches of 1000
 * root spans, so every trace is created exactly as the OTLP receiver
 * creates it: record, tags, indexes), then times SearchTracesV3 with
 * max_results 100 and several filters, called in process (the service
 * method, as a bus worker calls it; no HTTP, no JSON):
 *
 *   no filter                                   newest 100 of 1M
 *   tags.mlflow.traceName = 'agent-42'          1% of the traces match
 *   tags.mlflow.traceName = 'rare'              0.01% match
 *   tags.mlflow.trace.spansLocation = 'TRACKING_STORE'   all match
 *   trace.status = 'ERROR'                      10% match, no index
 *
 * Prints load rate and p50/p99 of each query. Not a test (numbers depend
 * on the machine and its other users); never run by ctest.
 * Usage: cn_traces_bench [N] [DIR]   (DIR kept for `cairn server --data`)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/service.h"
#include "core/traces/traces.h"
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

static cn_method_fn bench_method(const char *name)
{
	for (size_t i = 0; i < cn_traces_service.nmethods; i++)
		if (strcmp(cn_traces_service.methods[i].name, name) == 0)
			return cn_traces_service.methods[i].fn;
	fprintf(stderr, "no method %s\n", name);
	exit(1);
}

/* Call a method with the request root built in rb; returns the reply code. */
static cn_code bench_call(void *st, cn_method_fn fn, cn_fb_builder *rb, cn_fb_ref root,
                          cn_fb_builder *out, cn_err *err)
{
	const uint8_t *buf;
	size_t len;
	if (!cn_fb_finish(rb, root, &buf, &len))
		return CN_INTERNAL_ERROR;
	cn_call_ctx ctx = {
	        .request_id = "bench", .caller = "bench", .deadline_ms = 0, .client_addr = ""};
	cn_fb_builder_reset(out);
	cn_fb_ref resp = 0;
	return fn(st, &ctx, cn_fb_root(buf), out, &resp, err);
}

static void bench_load(void *st, long n)
{
	cn_method_fn ingest = bench_method("IngestSpans");
	cn_fb_builder *rb = cn_fb_builder_new(1 << 20), *out = cn_fb_builder_new(1 << 16);
	cn_fb_ref *refs = malloc(1000 * sizeof *refs);
	const int64_t t0 = 1700000000000000000LL;
	double start = bench_now();
	for (long base = 0; base < n; base += 1000) {
		cn_fb_builder_reset(rb);
		long m = n - base < 1000 ? n - base : 1000;
		for (long i = 0; i < m; i++) {
			long k = base + i;
			char tid[33], sid[17], name[32];
			snprintf(tid, sizeof tid, "%032lx", (unsigned long)k + 1);
			snprintf(sid, sizeof sid, "%016lx", (unsigned long)k + 1);
			if (k % 10000 == 5000)
				snprintf(name, sizeof name, "rare");
			else
				snprintf(name, sizeof name, "agent-%ld", k % 100);
			cn_fb_ref t = cn_fb_create_cstr(rb, tid), s = cn_fb_create_cstr(rb, sid);
			cn_fb_ref nm = cn_fb_create_cstr(rb, name);
			cn_fb_ref ty = cn_fb_create_cstr(rb, "AGENT");
			cn_fb_ref code = cn_fb_create_cstr(rb, k % 10 == 3 ? "STATUS_CODE_ERROR"
			                                                   : "STATUS_CODE_OK");
			cn_fb_ref attrs =
			        cn_fb_create_cstr(rb, "{\"mlflow.spanInputs\":\"{\\\"q\\\": "
			                              "\\\"what is the weather\\\"}\","
			                              "\"mlflow.spanOutputs\":\"\\\"sunny\\\"\"}");
			cn_SpanRecord_start(rb);
			cn_SpanRecord_add_trace_id(rb, t);
			cn_SpanRecord_add_span_id(rb, s);
			cn_SpanRecord_add_name(rb, nm);
			cn_SpanRecord_add_span_type(rb, ty);
			cn_SpanRecord_add_status_code(rb, code);
			cn_SpanRecord_add_attributes(rb, attrs);
			/* one trace per millisecond */
			cn_SpanRecord_add_start_time_unix_nano(rb, t0 + k * 1000000LL);
			cn_SpanRecord_add_end_time_unix_nano(rb, t0 + k * 1000000LL + 250000000LL);
			refs[i] = cn_SpanRecord_end(rb);
		}
		cn_fb_ref vec = cn_fb_create_vec_refs(rb, refs, (size_t)m);
		cn_fb_ref exp = cn_fb_create_cstr(rb, "1");
		cn_IngestSpans_start(rb);
		cn_IngestSpans_add_experiment_id(rb, exp);
		cn_IngestSpans_add_spans(rb, vec);
		cn_fb_ref root = cn_IngestSpans_end(rb);
		cn_err err;
		if (bench_call(st, ingest, rb, root, out, &err) != CN_OK) {
			fprintf(stderr, "ingest: %s\n", err.msg);
			exit(1);
		}
	}
	double s = bench_now() - start;
	printf("loaded %ld traces (one root span each) in %.1f s: %.0f traces/s\n", n, s, n / s);
	free(refs);
	cn_fb_builder_free(rb);
	cn_fb_builder_free(out);
}

static void bench_search(void *st, const char *label, const char *filter, int reps)
{
	cn_method_fn search = bench_method("SearchTracesV3");
	cn_fb_builder *rb = cn_fb_builder_new(4096), *out = cn_fb_builder_new(1 << 20);
	double *t = malloc((size_t)reps * sizeof *t);
	for (int r = 0; r < reps; r++) {
		cn_fb_builder_reset(rb);
		cn_fb_ref e = cn_fb_create_cstr(rb, "1");
		cn_MlflowExperimentLocation_start(rb);
		cn_MlflowExperimentLocation_add_experiment_id(rb, e);
		cn_fb_ref me = cn_MlflowExperimentLocation_end(rb);
		cn_TraceLocation_start(rb);
		cn_TraceLocation_add_type(rb, CN_TraceLocationType_MLFLOW_EXPERIMENT);
		cn_TraceLocation_add_mlflow_experiment(rb, me);
		cn_fb_ref loc = cn_TraceLocation_end(rb);
		cn_fb_ref locs = cn_fb_create_vec_refs(rb, &loc, 1);
		cn_fb_ref f = cn_fb_create_cstr(rb, filter);
		cn_SearchTracesV3_start(rb);
		cn_SearchTracesV3_add_locations(rb, locs);
		cn_SearchTracesV3_add_filter(rb, f);
		cn_SearchTracesV3_add_max_results(rb, 100);
		cn_fb_ref root = cn_SearchTracesV3_end(rb);
		cn_err err;
		double t0 = bench_now();
		if (bench_call(st, search, rb, root, out, &err) != CN_OK) {
			fprintf(stderr, "search %s: %s\n", filter, err.msg);
			exit(1);
		}
		t[r] = (bench_now() - t0) * 1000;
	}
	qsort(t, (size_t)reps, sizeof *t, bench_cmp);
	printf("%-52s p50 %7.2f ms  p99 %7.2f ms  (%d runs)\n", label, t[reps / 2],
	       t[(reps * 99) / 100], reps);
	free(t);
	cn_fb_builder_free(rb);
	cn_fb_builder_free(out);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	char dir[512];
	if (argc > 2)
		snprintf(dir, sizeof dir, "%s/traces", argv[2]);
	else
		snprintf(dir, sizeof dir, "/tmp/cn-traces-bench-%d", (int)getpid());
	cn_config cfg;
	cn_config_defaults(&cfg);
	cfg.sync_writes = false; /* loading, not durability, is not what is measured */
	cn_config_resolve(&cfg);
	cn_service_env env = {.config = &cfg, .data_dir = dir, .events = NULL};
	void *st = NULL;
	cn_err err;
	if (cn_traces_service.open(&st, &env, &err) != CN_OK) {
		fprintf(stderr, "open %s: %s\n", dir, err.msg);
		return 1;
	}
	bench_load(st, n);
	bench_search(st, "no filter (newest 100)", "", 200);
	bench_search(st, "tags.mlflow.traceName = 'agent-42' (1%)",
	             "tags.mlflow.traceName = 'agent-42'", 200);
	bench_search(st, "tags.mlflow.traceName = 'rare' (0.01%)", "tags.mlflow.traceName = 'rare'",
	             200);
	bench_search(st, "tags.mlflow.trace.spansLocation = 'TRACKING_STORE'",
	             "tags.mlflow.trace.spansLocation = 'TRACKING_STORE'", 200);
	bench_search(st, "trace.status = 'ERROR' (10%, no index)", "trace.status = 'ERROR'", 200);
	bench_search(st, "tags.mlflow.traceName = 'agent-7' AND status = 'ERROR'",
	             "tags.mlflow.traceName = 'agent-7' AND trace.status = 'ERROR'", 50);
	cn_traces_service.close(st);
	if (argc <= 2)
		printf("data left in %s (remove it when done)\n", dir);
	return 0;
}
