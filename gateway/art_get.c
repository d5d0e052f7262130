/*
 * gateway/art_get.c: streamed downloads (GET and HEAD of an artifact, of a
 * run's artifact through /get-artifact, of a model version's through
 * /model-versions/get-artifact), with single Range requests.
 *
 * A pool job opens the object and fills the first of two buffers, then
 * answers with a stream (cn_gw_respond_stream). The HTTP thread drains one
 * buffer while the job refills the other; when the HTTP side catches up it
 * waits (the connection is parked, no thread held) until the job wakes it.
 * An open download holds at most two buffers.
 */
#include "gateway/art_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct art_get {
	cn_art_job job;
	cn_gw_artifacts *ga;
	cn_gw_request *r; /* a reference is held until the state is freed */
	pthread_mutex_t mu;
	char *uri;        /* root of path (proxied root, or the run's artifact URI) */
	char run_id[256]; /* or the logged model's id, with model; the registered model's
	                   * name, with version */
	bool model;
	char version[64]; /* a model version (of the registered model run_id) */
	char path[CAIRN_PATH_MAX + 1];
	bool head;
	char range[256];
	bool has_range;
	cn_store_reader *rd;
	uint64_t to_read; /* bytes still to read from the store */
	char *buf[2];
	size_t cap, len[2], off[2];
	bool full[2];
	int rd_i, wr_i;
	bool started;   /* the response is out: the stream owns the HTTP side */
	bool running;   /* the job is queued or running */
	bool want_wake; /* the HTTP side waits for a buffer */
	bool gone;      /* the stream is done: free */
	bool failed;
} art_get;

static void art_get_run(cn_art_job *job);

static void art_get_kick(art_get *g)
{
	if (g->running)
		return;
	g->running = true;
	cn_art_pool_submit(g->ga->pool, &g->job);
}

static void art_get_free(art_get *g)
{
	cn_store_get_close(g->rd);
	free(g->buf[0]);
	free(g->buf[1]);
	free(g->uri);
	pthread_mutex_destroy(&g->mu);
	cn_gw_request_unref(g->r);
	free(g);
}

/* ---- the stream (HTTP thread) -------------------------------------------------- */

static long art_get_read(void *arg, uint64_t pos, char *out, size_t max)
{
	art_get *g = arg;
	pthread_mutex_lock(&g->mu);
	int i = g->rd_i;
	if (!g->full[i]) {
		long rc = CN_GW_STREAM_WAIT;
		if (g->failed || g->to_read == 0)
			rc = CN_GW_STREAM_ERROR;
		else {
			g->want_wake = true;
			art_get_kick(g);
		}
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	size_t n = g->len[i] - g->off[i];
	if (n > max)
		n = max;
	memcpy(out, g->buf[i] + g->off[i], n);
	g->off[i] += n;
	if (g->off[i] == g->len[i]) {
		g->full[i] = false;
		g->rd_i = i ^ 1;
		if (g->to_read > 0 && !g->failed)
			art_get_kick(g); /* refill ahead */
	}
	pthread_mutex_unlock(&g->mu);
	return (long)n;
}

static void art_get_done(void *arg)
{
	art_get *g = arg;
	pthread_mutex_lock(&g->mu);
	g->gone = true;
	art_get_kick(g); /* the job frees (closing a reader may block) */
	pthread_mutex_unlock(&g->mu);
}

/* ---- the job ------------------------------------------------------------------- */

/* Fill buf with up to want bytes; false on a store error or an early end. */
static bool art_get_fill(art_get *g, char *buf, size_t want, size_t *got)
{
	size_t n = 0;
	while (n < want) {
		size_t k = 0;
		cn_err err;
		cn_err_clear(&err);
		if (cn_store_get_read(g->rd, buf + n, want - n, &k, &err) != CN_OK || k == 0)
			return false;
		n += k;
	}
	*got = n;
	return true;
}

/* Refill free buffers until both are full, the object is read, or the
 * stream is gone. */
static void art_get_pump(art_get *g)
{
	pthread_mutex_lock(&g->mu);
	for (;;) {
		int i = g->wr_i;
		if (g->gone || g->failed || g->to_read == 0 || g->full[i])
			break;
		size_t want = g->to_read < g->cap ? (size_t)g->to_read : g->cap;
		pthread_mutex_unlock(&g->mu);
		size_t got = 0;
		bool ok = art_get_fill(g, g->buf[i], want, &got);
		pthread_mutex_lock(&g->mu);
		if (!ok) {
			g->failed = true;
		} else {
			g->len[i] = got;
			g->off[i] = 0;
			g->full[i] = true;
			g->to_read -= got;
			g->wr_i = i ^ 1;
		}
		if (g->want_wake) {
			g->want_wake = false;
			pthread_mutex_unlock(&g->mu);
			cn_gw_wake(g->r);
			pthread_mutex_lock(&g->mu);
		}
	}
	bool gone = g->gone;
	g->running = false;
	pthread_mutex_unlock(&g->mu);
	if (gone)
		art_get_free(g);
}

static void art_get_basename(const char *path, char *out, size_t cap)
{
	const char *b = strrchr(path, '/');
	snprintf(out, cap, "%s", b ? b + 1 : path);
}

/* Open the object, answer with the stream (or an error). */
static void art_get_start(art_get *g)
{
	cn_err err;
	cn_err_clear(&err);
	cn_store *store = NULL;
	char full[CAIRN_PATH_MAX + 1];
	char uri[CN_CFG_STR + 64];
	snprintf(uri, sizeof uri, "%s", g->uri ? g->uri : ART_PROXY_ROOT);
	cn_code rc = CN_OK;
	if (g->version[0])
		rc = art_version_uri(g->ga, g->r, g->run_id, g->version, uri, sizeof uri, &err);
	else if (g->run_id[0])
		rc = art_entity_uri(g->ga, g->r, g->model, g->run_id, uri, sizeof uri, &err);
	if (rc == CN_OK)
		rc = art_locate(g->ga, uri, g->path, &store, full, sizeof full, &err);
	cn_store_info info = {0};
	if (rc == CN_OK)
		rc = cn_store_stat(store, full, &info, &err);
	if (rc == CN_OK && info.is_dir)
		rc = cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		                "Invalid path: '%.300s' is a directory", g->path);
	if (rc != CN_OK) {
		art_reply_err(g->r, &err);
		art_get_free(g);
		return;
	}
	uint64_t size = (uint64_t)info.size, first = 0, last = size ? size - 1 : 0;
	int range = cn_art_range(g->has_range ? g->range : NULL, size, &first, &last);
	char crange[96];
	if (range == CN_ART_RANGE_UNSAT) {
		snprintf(crange, sizeof crange, "bytes */%llu", (unsigned long long)size);
		cn_buf body = {0};
		cn_gw_error_json(&body, CN_INVALID_PARAMETER_VALUE,
		                 "Requested range not satisfiable");
		cn_gw_hdr h = {"Content-Range", crange};
		cn_gw_respond_full(g->r, 416, "application/json", &h, 1, body.p ? body.p : "",
		                   body.len);
		cn_buf_free(&body);
		art_get_free(g);
		return;
	}
	uint64_t count = size == 0 ? 0 : last - first + 1;
	if (!g->head && count > 0) {
		rc = cn_store_get_open(store, full, (int64_t)first, (int64_t)count, &g->rd, NULL,
		                       &err);
		g->cap = count < ART_BUF_BYTES ? (size_t)count : ART_BUF_BYTES;
		if (rc == CN_OK && (!(g->buf[0] = malloc(g->cap)) || !(g->buf[1] = malloc(g->cap))))
			rc = cn_err_set(&err, CN_INTERNAL_ERROR, "out of memory");
		if (rc != CN_OK) {
			art_reply_err(g->r, &err);
			art_get_free(g);
			return;
		}
		g->to_read = count;
		/* The first buffer before the headers: a store that fails at once
		 * still gets a proper error answer. */
		size_t got = 0;
		size_t want = g->cap;
		if (!art_get_fill(g, g->buf[0], want, &got)) {
			cn_err_set(&err, CN_INTERNAL_ERROR,
			           "reading '%.300s' from the store failed", g->path);
			art_reply_err(g->r, &err);
			art_get_free(g);
			return;
		}
		g->len[0] = got;
		g->full[0] = true;
		g->to_read -= got;
		g->wr_i = 1;
	}
	char name[CAIRN_PATH_MAX + 1], disp[CAIRN_PATH_MAX + 64];
	art_get_basename(g->path, name, sizeof name);
	snprintf(disp, sizeof disp, "attachment; filename=%s", name);
	cn_gw_hdr h[4] = {{"Content-Disposition", disp},
	                  {"X-Content-Type-Options", "nosniff"},
	                  {"Accept-Ranges", "bytes"},
	                  {"Content-Range", crange}};
	size_t nh = 3;
	int status = 200;
	if (range == CN_ART_RANGE_OK) {
		snprintf(crange, sizeof crange, "bytes %llu-%llu/%llu", (unsigned long long)first,
		         (unsigned long long)last, (unsigned long long)size);
		nh = 4;
		status = 206;
	}
	cn_gw_stream s = {.length = count, .read = art_get_read, .done = art_get_done, .arg = g};
	pthread_mutex_lock(&g->mu);
	g->started = true;
	g->running = true; /* this job goes on pumping after the answer */
	pthread_mutex_unlock(&g->mu);
	cn_gw_respond_stream(g->r, status, cn_art_content_type(name), h, nh, &s);
	art_get_pump(g);
}

static void art_get_run(cn_art_job *job)
{
	art_get *g = (art_get *)job;
	if (!g->started)
		art_get_start(g);
	else
		art_get_pump(g);
}

/* HTTP thread: the request's path, method and Range into a new state. */
static art_get *art_get_new(cn_gw_artifacts *ga, cn_gw_request *r)
{
	art_get *g = calloc(1, sizeof *g);
	if (!g) {
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	g->ga = ga;
	g->r = r;
	g->head = strcmp(cn_gw_method(r), "HEAD") == 0;
	const char *range = cn_gw_header(r, "Range");
	if (range && strlen(range) < sizeof g->range) {
		memcpy(g->range, range, strlen(range) + 1);
		g->has_range = true;
	}
	g->job.fn = art_get_run;
	pthread_mutex_init(&g->mu, NULL);
	return g;
}

/* A request refused before it was submitted: nothing but g itself to free. */
static void art_get_discard(art_get *g)
{
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static void art_get_submit(art_get *g)
{
	cn_gw_request_ref(g->r);
	cn_art_pool_submit(g->ga->pool, &g->job);
}

/* GET|HEAD /mlflow-artifacts/artifacts/<path> */
void art_get_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (art_refuse_unserved(ga, r))
		return;
	art_get *g = art_get_new(ga, r);
	if (!g)
		return;
	if (!art_param_path(r, false, g->path, sizeof g->path)) {
		art_get_discard(g);
		return;
	}
	art_get_submit(g);
}

/* GET /get-artifact?path=&run_uuid= (MLflow's UI) */
void art_get_run_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (ga->artifacts_only || !ga->arts) {
		cn_gw_respond_error(r, CN_TEMPORARILY_UNAVAILABLE,
		                    "Endpoint: /get-artifact disabled due to the Cairn server "
		                    "running in artifacts_only mode (--artifacts-only)");
		return;
	}
	art_get *g = art_get_new(ga, r);
	if (!g)
		return;
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	cn_err err;
	cn_err_clear(&err);
	if (cn_art_query(q, qlen, "run_id", g->run_id, sizeof g->run_id) <= 0 || !g->run_id[0])
		cn_art_query(q, qlen, "run_uuid", g->run_id, sizeof g->run_id);
	int has = cn_art_query(q, qlen, "path", raw, sizeof raw);
	if (!g->run_id[0])
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		           "Missing value for required parameter 'run_uuid'.");
	else if (has <= 0)
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		           "Missing value for required parameter 'path'.");
	else
		cn_art_path(raw, strlen(raw), false, false, g->path, sizeof g->path, &err);
	if (err.code != CN_OK) {
		art_reply_err(r, &err);
		art_get_discard(g);
		return;
	}
	art_get_submit(g);
}

/* GET /mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path= */
void art_get_model_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (ga->artifacts_only || !ga->arts) {
		cn_gw_respond_error(r, CN_TEMPORARILY_UNAVAILABLE,
		                    "Endpoint disabled due to the Cairn server running in "
		                    "artifacts_only mode (--artifacts-only)");
		return;
	}
	art_get *g = art_get_new(ga, r);
	if (!g)
		return;
	const char *id = cn_gw_param(r, "model_id");
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	cn_err err;
	cn_err_clear(&err);
	int has = cn_art_query(q, qlen, "artifact_file_path", raw, sizeof raw);
	if (!id || !id[0] || strlen(id) >= sizeof g->run_id)
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "Invalid model_id");
	else if (has <= 0 || !raw[0])
		cn_err_set(&err, CN_BAD_REQUEST,
		           "Request must include the \"artifact_file_path\" query parameter.");
	else
		cn_art_path(raw, strlen(raw), false, false, g->path, sizeof g->path, &err);
	if (err.code != CN_OK) {
		art_reply_err(r, &err);
		art_get_discard(g);
		return;
	}
	snprintf(g->run_id, sizeof g->run_id, "%s", id);
	g->model = true;
	art_get_submit(g);
}

/* GET /model-versions/get-artifact?name=&version=&path= (MLflow's UI) */
void art_get_version_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (ga->artifacts_only || !ga->arts) {
		cn_gw_respond_error(
		        r, CN_TEMPORARILY_UNAVAILABLE,
		        "Endpoint: /model-versions/get-artifact disabled due to the Cairn "
		        "server running in artifacts_only mode (--artifacts-only)");
		return;
	}
	art_get *g = art_get_new(ga, r);
	if (!g)
		return;
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	cn_err err;
	cn_err_clear(&err);
	int has_name = cn_art_query(q, qlen, "name", g->run_id, sizeof g->run_id);
	int has_ver = cn_art_query(q, qlen, "version", g->version, sizeof g->version);
	int has = cn_art_query(q, qlen, "path", raw, sizeof raw);
	if (has_name <= 0 || !g->run_id[0])
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		           "Missing value for required parameter 'name'.");
	else if (has_ver <= 0 || !g->version[0])
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		           "Missing value for required parameter 'version'.");
	else if (has <= 0)
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE,
		           "Missing value for required parameter 'path'.");
	else
		cn_art_path(raw, strlen(raw), false, false, g->path, sizeof g->path, &err);
	if (err.code != CN_OK) {
		art_reply_err(r, &err);
		art_get_discard(g);
		return;
	}
	art_get_submit(g);
}
