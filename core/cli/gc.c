/*
 * core/cli/gc.c: `cairn gc` -- remove deleted runs and experiments for good,
 * with `mlflow gc`'s options. The tracking service does the purging
 * (core/tracking/gc.c); this asks it over HTTP what to purge
 * (/cairn/gc/candidates, which also makes `mlflow gc`'s checks), then purges
 * runs in small batches and then each experiment, drawing a progress bar on
 * stderr when it is a terminal (or with --progress). HTTP goes through the
 * host's client (core/plugin/host_http.c), which loads libcurl on first use.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/cli/cli.h"
#include "core/plugin/loader.h"

#define GC_BATCH 25 /* runs per purge call: a bar step, and a bounded call */

typedef struct gc_opts {
	const char *older_than, *experiment_ids, *run_ids, *tracking_uri;
	int progress; /* 1 forced on, 0 auto (a terminal) */
} gc_opts;

static void gc_usage(FILE *f)
{
	fprintf(f, "usage: cairn gc [--older-than 1d2h3m4s] [--experiment-ids ID,...] [--run-ids "
	           "ID,...]\n"
	           "                [--tracking-uri URL] [--progress]\n"
	           "\n"
	           "Permanently delete runs and experiments in the `deleted` lifecycle stage,\n"
	           "with their artifacts (as `mlflow gc`). Without --run-ids: every deleted run;\n"
	           "without --experiment-ids: every deleted experiment, with all its runs.\n"
	           "  --older-than D        only what was deleted more than D ago (#d#h#m#s,\n"
	           "                        decimals allowed: 1.5d, 2h30m)\n"
	           "  --experiment-ids IDS  comma-separated deleted experiments to purge\n"
	           "  --run-ids IDS         comma-separated deleted runs to purge\n"
	           "  --tracking-uri URL    the server (default $MLFLOW_TRACKING_URI, else\n"
	           "                        http://127.0.0.1:5000)\n"
	           "  --progress            draw the progress bar even when stderr is not a "
	           "terminal\n");
}

/* MLflow's #d#h#m#s (each part optional, in that order, decimals allowed)
 * into milliseconds. "" is 0, as MLflow's pattern accepts it. */
static int gc_parse_duration(const char *s, int64_t *ms)
{
	static const char units[] = "dhms";
	static const double unit_ms[] = {86400e3, 3600e3, 60e3, 1e3};
	double total = 0;
	int next = 0;
	while (*s) {
		const char *p = s;
		while (isdigit((unsigned char)*p) || *p == '.')
			p++;
		if (p == s)
			return -1;
		const char *u = strchr(units + next, *p);
		if (!*p || !u)
			return -1;
		char num[64];
		size_t n = (size_t)(p - s);
		if (n >= sizeof num)
			return -1;
		memcpy(num, s, n);
		num[n] = '\0';
		char *end;
		double v = strtod(num, &end);
		if (*end || !isfinite(v))
			return -1;
		total += v * unit_ms[u - units];
		next = (int)(u - units) + 1;
		s = p + 1;
	}
	if (total > 9.2e18)
		return -1;
	*ms = (int64_t)total;
	return 0;
}

/* "a,b,,c" into a JSON array of the non-empty parts. */
static json_t *gc_id_list(const char *s)
{
	json_t *a = json_array();
	while (a && s && *s) {
		size_t n = strcspn(s, ",");
		size_t b = 0, e = n;
		while (b < e && isspace((unsigned char)s[b]))
			b++;
		while (e > b && isspace((unsigned char)s[e - 1]))
			e--;
		if (e > b)
			json_array_append_new(a, json_stringn(s + b, e - b));
		s += n + (s[n] == ',');
	}
	return a;
}

static int gc_collect(void *arg, const void *data, size_t len)
{
	cn_buf_append(arg, data, len);
	return ((cn_buf *)arg)->failed ? CAIRN_ERR_NO_MEMORY : CAIRN_OK;
}

/* POST body to <uri>/api/2.0/cairn/gc/<call>; *out is the answer's JSON.
 * On failure prints why and returns -1. */
static int gc_call(const char *uri, const char *call, json_t *body, json_t **out)
{
	char *text = json_dumps(body, JSON_COMPACT);
	char url[2048];
	snprintf(url, sizeof url, "%s/api/2.0/cairn/gc/%s", uri, call);
	cn_buf resp = CN_BUF_INIT;
	cairn_http_header hdr = {"Content-Type", "application/json"};
	cairn_http_request req = {.size = sizeof req,
	                          .method = "POST",
	                          .url = url,
	                          .headers = &hdr,
	                          .nheaders = 1,
	                          .body = text,
	                          .body_len = text ? strlen(text) : 0,
	                          .on_body = gc_collect,
	                          .response_arg = &resp,
	                          .connect_timeout_ms = 10000};
	cairn_http_response r = {.size = sizeof r};
	cairn_error herr = {0};
	int rc = text ? cn_plugin_host_api()->http(&req, &r, &herr) : CAIRN_ERR_NO_MEMORY;
	free(text);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "cairn gc: %s: %s\n", url,
		        herr.message[0] ? herr.message : "failed");
		cn_buf_free(&resp);
		return -1;
	}
	json_error_t jerr;
	json_t *j = json_loadb(resp.p ? resp.p : "", resp.len, 0, &jerr);
	if (r.status != 200 || !json_is_object(j)) {
		const char *code = json_string_value(json_object_get(j, "error_code"));
		const char *msg = json_string_value(json_object_get(j, "message"));
		if (code && msg)
			fprintf(stderr, "cairn gc: %s: %s\n", code, msg);
		else
			fprintf(stderr, "cairn gc: %s answered %d: %.*s\n", url, r.status,
			        (int)(resp.len > 300 ? 300 : resp.len), resp.p ? resp.p : "");
		json_decref(j);
		cn_buf_free(&resp);
		return -1;
	}
	cn_buf_free(&resp);
	*out = j;
	return 0;
}

typedef struct gc_bar {
	bool on;
	size_t total, done;
} gc_bar;

static void gc_bar_draw(const gc_bar *b, const char *what)
{
	if (!b->on)
		return;
	const int width = 30;
	int fill = b->total ? (int)(width * b->done / b->total) : width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\rgc [%s] %zu/%zu %-12s", bar, b->done, b->total, what);
	fflush(stderr);
}

static int gc_parse_args(int argc, char **argv, gc_opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			gc_usage(stdout);
			return 1;
		}
		if (!strcmp(a, "--progress")) {
			o->progress = 1;
			continue;
		}
		if (!strcmp(a, "--older-than"))
			slot = &o->older_than;
		else if (!strcmp(a, "--experiment-ids"))
			slot = &o->experiment_ids;
		else if (!strcmp(a, "--run-ids"))
			slot = &o->run_ids;
		else if (!strcmp(a, "--tracking-uri"))
			slot = &o->tracking_uri;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr, "cairn gc: %s '%s'\n\n",
			        slot ? "missing value after" : "unknown option", a);
			gc_usage(stderr);
			return 2;
		}
		*slot = argv[++i];
	}
	return 0;
}

int cli_run_gc(int argc, char **argv)
{
	gc_opts o = {0};
	int prc = gc_parse_args(argc, argv, &o);
	if (prc)
		return prc == 1 ? 0 : 2;
	json_t *body = json_object();
	if (o.older_than) {
		int64_t ms;
		if (gc_parse_duration(o.older_than, &ms) != 0) {
			fprintf(stderr,
			        "cairn gc: Could not parse any time information from '%s'. "
			        "Examples of "
			        "valid strings: '8h', '2d8h5m20s', '2m4s'\n",
			        o.older_than);
			json_decref(body);
			return 2;
		}
		json_object_set_new(body, "older_than_ms", json_integer(ms));
	}
	if (o.run_ids)
		json_object_set_new(body, "run_ids", gc_id_list(o.run_ids));
	if (o.experiment_ids)
		json_object_set_new(body, "experiment_ids", gc_id_list(o.experiment_ids));
	char uri[1024];
	const char *u = o.tracking_uri ? o.tracking_uri : getenv("MLFLOW_TRACKING_URI");
	snprintf(uri, sizeof uri, "%s", u && *u ? u : "http://127.0.0.1:5000");
	for (size_t n = strlen(uri); n && uri[n - 1] == '/'; n--)
		uri[n - 1] = '\0';
	if (strncmp(uri, "http://", 7) && strncmp(uri, "https://", 8)) {
		fprintf(stderr,
		        "cairn gc: the tracking URI must be http:// or https://, got '%s'\n", uri);
		json_decref(body);
		return 2;
	}

	json_t *cand = NULL;
	int rc = gc_call(uri, "candidates", body, &cand);
	json_decref(body);
	if (rc)
		return 1;
	json_t *runs = json_object_get(cand, "run_ids");
	json_t *exps = json_object_get(cand, "experiment_ids");
	size_t nruns = json_array_size(runs), nexps = json_array_size(exps);
	gc_bar bar = {.on = o.progress || isatty(STDERR_FILENO), .total = nruns + nexps};
	gc_bar_draw(&bar, "runs");
	size_t purged_runs = 0, purged_exps = 0;
	for (size_t i = 0; rc == 0 && i < nruns; i += GC_BATCH) {
		json_t *batch = json_array();
		for (size_t j = i; j < nruns && j < i + GC_BATCH; j++)
			json_array_append(batch, json_array_get(runs, j));
		json_t *req = json_pack("{s:o}", "run_ids", batch);
		json_t *ans = NULL;
		rc = gc_call(uri, "purge-runs", req, &ans);
		json_decref(req);
		if (rc == 0) {
			size_t got = (size_t)json_integer_value(json_object_get(ans, "purged"));
			purged_runs += got;
			bar.done += got;
			gc_bar_draw(&bar, "runs");
		}
		json_decref(ans);
	}
	for (size_t i = 0; rc == 0 && i < nexps; i++) {
		json_t *req = json_pack("{s:O}", "experiment_id", json_array_get(exps, i));
		json_t *ans = NULL;
		rc = gc_call(uri, "purge-experiment", req, &ans);
		json_decref(req);
		if (rc == 0) {
			purged_exps++;
			bar.done++;
			gc_bar_draw(&bar, "experiments");
		}
		json_decref(ans);
	}
	json_decref(cand);
	if (bar.on)
		fputc('\n', stderr);
	printf("cairn gc: %s %zu of %zu runs and %zu of %zu experiments\n",
	       rc ? "stopped after purging" : "purged", purged_runs, nruns, purged_exps, nexps);
	return rc ? 1 : 0;
}
