/*
 * gateway/art_put.c: streamed uploads, for PUT of an artifact and PUT of a
 * multipart-upload part.
 *
 * Two buffers of ART_BUF_BYTES: the HTTP thread copies body chunks into
 * one while a pool job writes the other to the store. When both are taken
 * the body is paused (cn_gw_body_pause) and the job wakes it when a buffer
 * is free, so an upload holds at most two buffers however large it is and
 * however slow the store. The writer is opened by the first job, committed
 * after the last buffer, and aborted (nothing visible) when the client goes
 * away or any write fails.
 */
#include "gateway/art_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct art_put {
	cn_art_job job;
	cn_gw_artifacts *ga;
	cn_gw_request *r; /* a reference is held until the state is freed */
	pthread_mutex_t mu;
	char path[CAIRN_PATH_MAX + 1];
	int64_t size_hint;
	bool part; /* an mpu part: upload_id, part_number */
	int part_number;
	char upload_id[CAIRN_UPLOAD_ID_MAX];
	cn_store_writer *w;
	char *buf[2];
	size_t fill[2];
	bool busy[2]; /* queued or being written */
	int cur;      /* the buffer the HTTP side fills */
	int q[2];     /* buffers queued for the job, oldest first */
	int qn;
	bool running;   /* the job is queued or running */
	bool want_wake; /* the body is paused until a buffer frees */
	bool opened;    /* the job tried to open the writer */
	bool finished;  /* the body ended: commit after the last buffer */
	bool cancelled; /* the HTTP side has gone: abort */
	bool failed;
	cn_err err;
} art_put;

static void art_put_run(cn_art_job *job);

/* Queue the job unless it runs already. Under p->mu. */
static void art_put_kick(art_put *p)
{
	if (p->running)
		return;
	p->running = true;
	cn_art_pool_submit(p->ga->pool, &p->job);
}

static void art_put_free(art_put *p)
{
	free(p->buf[0]);
	free(p->buf[1]);
	pthread_mutex_destroy(&p->mu);
	cn_gw_request_unref(p->r);
	free(p);
}

/* Content-Length as a size hint, -1 when absent or odd. */
static int64_t art_put_length(cn_gw_request *r)
{
	const char *cl = cn_gw_header(r, "Content-Length");
	if (!cl || !*cl)
		return -1;
	int64_t v = 0;
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*cl - '0');
	}
	return *cl ? -1 : v;
}

/* The state of r's upload, made on first use (HTTP thread); NULL with the
 * request answered or err set when the request is refused. */
static art_put *art_put_state(cn_gw_artifacts *ga, cn_gw_request *r, bool part, cn_err *err)
{
	art_put *p = cn_gw_state(r);
	if (p)
		return p;
	if (!ga->serve || !ga->arts) {
		cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		           "Endpoint disabled due to the Cairn server running with serve_artifacts "
		           "off (--no-serve-artifacts)");
		return NULL;
	}
	size_t len = 0;
	const char *raw = cn_gw_param_raw(r, "path", &len);
	p = calloc(1, sizeof *p);
	if (!p) {
		cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	if (cn_art_path(raw ? raw : "", raw ? len : 0, false, false, p->path, sizeof p->path,
	                err) != CN_OK) {
		free(p);
		return NULL;
	}
	if (part) {
		size_t qlen;
		const char *q = cn_gw_query(r, &qlen);
		char num[32];
		char *end = NULL;
		long v = 0;
		if (cn_art_query(q, qlen, "part_number", num, sizeof num) > 0)
			v = strtol(num, &end, 10);
		if (cn_art_query(q, qlen, "upload_id", p->upload_id, sizeof p->upload_id) <= 0 ||
		    !p->upload_id[0] || !end || *end || v < 1 || v > 10000) {
			cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "a part upload needs upload_id and part_number (1..10000) in the "
			        "query string");
			free(p);
			return NULL;
		}
		p->part = true;
		p->part_number = (int)v;
	}
	if (!(p->buf[0] = malloc(ART_BUF_BYTES))) {
		free(p);
		cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	p->ga = ga;
	p->r = r;
	p->size_hint = art_put_length(r);
	p->job.fn = art_put_run;
	pthread_mutex_init(&p->mu, NULL);
	cn_gw_request_ref(r);
	cn_gw_set_state(r, p);
	return p;
}

/* HTTP side: copy data into the buffers; pause when both are taken. */
static cn_code art_put_feed(art_put *p, cn_gw_request *r, const char *data, size_t len, cn_err *err)
{
	size_t taken = 0;
	pthread_mutex_lock(&p->mu);
	if (p->failed) {
		*err = p->err;
		p->cancelled = true; /* the gateway answers the error; we are done */
		art_put_kick(p);
		pthread_mutex_unlock(&p->mu);
		return err->code;
	}
	while (taken < len) {
		int c = p->cur;
		if (p->fill[c] == ART_BUF_BYTES) {
			int o = c ^ 1;
			if (p->busy[o]) {
				p->want_wake = true;
				break;
			}
			if (!p->buf[o] && !(p->buf[o] = malloc(ART_BUF_BYTES))) {
				*err = (cn_err){.code = CN_INTERNAL_ERROR};
				snprintf(err->msg, sizeof err->msg, "out of memory");
				p->cancelled = true;
				art_put_kick(p);
				pthread_mutex_unlock(&p->mu);
				return CN_INTERNAL_ERROR;
			}
			p->busy[c] = true;
			p->q[p->qn++] = c;
			p->cur = o;
			p->fill[o] = 0;
			art_put_kick(p);
			continue;
		}
		size_t n = ART_BUF_BYTES - p->fill[c];
		if (n > len - taken)
			n = len - taken;
		memcpy(p->buf[c] + p->fill[c], data + taken, n);
		p->fill[c] += n;
		taken += n;
	}
	pthread_mutex_unlock(&p->mu);
	if (taken < len)
		cn_gw_body_pause(r, taken);
	return CN_OK;
}

cn_code art_put_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err)
{
	art_put *p = art_put_state(arg, r, false, err);
	return p ? art_put_feed(p, r, data, len, err) : err->code;
}

cn_code art_part_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err)
{
	art_put *p = art_put_state(arg, r, true, err);
	return p ? art_put_feed(p, r, data, len, err) : err->code;
}

void art_put_complete(void *arg, cn_gw_request *r)
{
	cn_err err;
	cn_err_clear(&err);
	size_t n;
	const char *path = cn_gw_path(r, &n);
	bool part = strstr(path, "/mlflow-artifacts/mpu/part/") != NULL;
	art_put *p = art_put_state(arg, r, part, &err); /* an empty body had no chunk */
	if (!p) {
		cn_gw_respond_error(r, err.code, err.msg);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->finished = true;
	if (p->fill[p->cur] > 0) {
		p->busy[p->cur] = true;
		p->q[p->qn++] = p->cur;
	}
	art_put_kick(p);
	pthread_mutex_unlock(&p->mu);
}

void art_put_closed(void *arg, cn_gw_request *r)
{
	art_put *p = cn_gw_state(r);
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->cancelled = true;
	art_put_kick(p);
	pthread_mutex_unlock(&p->mu);
}

/* ---- the job ---------------------------------------------------------------- */

static cn_code art_put_open(art_put *p, cn_err *err)
{
	cn_store *store = NULL;
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = art_locate(p->ga, ART_PROXY_ROOT, p->path, &store, full, sizeof full, err);
	if (rc != CN_OK)
		return rc;
	if (p->part)
		return cn_store_mpu_part_begin(store, full, p->upload_id, p->part_number,
		                               p->size_hint, &p->w, err);
	return cn_store_put_begin(store, full, p->size_hint, &p->w, err);
}

/* Commit or abort, answer when the body had ended, free. */
static void art_put_finish(art_put *p)
{
	cn_err err = p->err;
	bool ok = !p->failed && p->finished;
	char etag[CAIRN_ETAG_MAX] = "";
	if (p->w && !ok)
		cn_store_put_abort(p->w);
	else if (p->w && p->part)
		ok = cn_store_mpu_part_commit(p->w, etag, sizeof etag, &err) == CN_OK;
	else if (p->w)
		ok = cn_store_put_commit(p->w, &err) == CN_OK;
	p->w = NULL;
	if (p->finished) {
		if (!ok) {
			art_reply_err(p->r, &err);
		} else if (p->part) {
			cn_gw_hdr h = {"ETag", etag};
			cn_gw_respond_full(p->r, 200, "application/json", &h, 1, "{}", 2);
		} else {
			cn_gw_respond(p->r, 200, "application/json", "{}", 2);
		}
	}
	art_put_free(p);
}

static void art_put_run(cn_art_job *job)
{
	art_put *p = (art_put *)job;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->cancelled && !p->finished)
			break;
		if (!p->opened) {
			p->opened = true;
			cn_err err;
			cn_err_clear(&err);
			pthread_mutex_unlock(&p->mu);
			cn_code rc = art_put_open(p, &err);
			pthread_mutex_lock(&p->mu);
			if (rc != CN_OK && !p->failed) {
				p->failed = true;
				p->err = err;
			}
			continue;
		}
		if (p->qn > 0) {
			int i = p->q[0];
			p->q[0] = p->q[1];
			p->qn--;
			if (!p->failed) {
				cn_err err;
				cn_err_clear(&err);
				pthread_mutex_unlock(&p->mu);
				cn_code rc = cn_store_put_write(p->w, p->buf[i], p->fill[i], &err);
				pthread_mutex_lock(&p->mu);
				if (rc != CN_OK && !p->failed) {
					p->failed = true;
					p->err = err;
				}
			}
			p->busy[i] = false;
			if (p->want_wake) {
				p->want_wake = false;
				pthread_mutex_unlock(&p->mu);
				cn_gw_wake(p->r);
				pthread_mutex_lock(&p->mu);
			}
			if (p->qn > 0 && !p->cancelled) {
				/* More to write: go to the back of the queue, so that a
				 * fast upload cannot keep a worker from the others. */
				pthread_mutex_unlock(&p->mu);
				cn_art_pool_submit(p->ga->pool, &p->job);
				return;
			}
			continue;
		}
		if (p->finished || p->cancelled)
			break;
		if (p->failed && p->want_wake) {
			/* Let the paused body go on so that it sees the failure. */
			p->want_wake = false;
			pthread_mutex_unlock(&p->mu);
			cn_gw_wake(p->r);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		p->running = false;
		pthread_mutex_unlock(&p->mu);
		return;
	}
	/* finished or cancelled: the HTTP side will not touch p again */
	pthread_mutex_unlock(&p->mu);
	art_put_finish(p);
}
