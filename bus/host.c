/*
 * bus/host.c: serving requests (REP side).
 *
 * A pool of worker threads, each with its own REP context, its own aio and
 * its own two builders (one for the handler's reply table, one for the
 * envelope around it), blocks in receive -> handle -> send. Threads rather
 * than aio callbacks because handlers block (RocksDB syncs, plugin calls)
 * and must never run on nng's few callback threads.
 *
 * Stopping: a worker waiting for a request is cancelled; one busy with a
 * request finishes it and sends the reply, then sees `stopping` and exits.
 * The mutex orders "check stopping, start receive" against "set stopping,
 * cancel receives", so no worker can start a receive that nobody cancels.
 */
#include "bus/bus_int.h"

#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "schemas/cairn_schema.h"

#define HOST_DEFAULT_WORKERS 4
#define HOST_MAX_WORKERS     1024
/* How long a worker waits to hand a reply to a connection that is backed up
 * before giving up on that caller and serving the next one. */
#define HOST_SEND_TIMEOUT_MS 5000

typedef struct host_worker {
	cn_bus_host *h;
	pthread_t thread;
	nng_ctx ctx;
	nng_aio *aio;
	cn_fb_builder *reply_b; /* handed to the handler, reset per request */
	cn_fb_builder *env_b;   /* the reply envelope */
	int receiving;          /* guarded by h->mu */
	int has_thread;
} host_worker;

struct cn_bus_host {
	nng_socket sock;
	char *addr;
	cn_bus_handler_fn fn;
	void *arg;
	host_worker *workers;
	int nworkers;
	pthread_mutex_t mu; /* guards stopping and each worker's receiving */
	int stopping;
	atomic_uint_fast64_t requests, bad, expired, errors, send_failed;
};

void cn_bus_host_stats_get(cn_bus_host *h, cn_bus_host_stats *out)
{
	out->requests = atomic_load(&h->requests);
	out->bad = atomic_load(&h->bad);
	out->expired = atomic_load(&h->expired);
	out->errors = atomic_load(&h->errors);
	out->send_failed = atomic_load(&h->send_failed);
}

static void host_send(host_worker *w, nng_msg *reply, const char *rid)
{
	nng_aio_set_msg(w->aio, reply);
	nng_aio_set_timeout(w->aio, HOST_SEND_TIMEOUT_MS);
	nng_ctx_send(w->ctx, w->aio);
	nng_aio_wait(w->aio);
	int rv = nng_aio_result(w->aio);
	if (rv != 0) {
		/* A failed send leaves the message with us. */
		nng_msg_free(nng_aio_get_msg(w->aio));
		nng_aio_set_msg(w->aio, NULL);
		atomic_fetch_add(&w->h->send_failed, 1);
		CN_LOGD("BUS-REPLY-SEND-FAILED", rid, "reply on %s not sent: %s", w->h->addr,
		        nng_strerror(rv));
	}
}

/* Reply with an error envelope (no payload). */
static void host_send_error(host_worker *w, const cn_bus_env_in *in, cn_code code,
                            const char *message)
{
	atomic_fetch_add(&w->h->errors, 1);
	cn_bus_env_out f = {
	        .kind = CN_Kind_REPLY,
	        .request_id = in ? in->request_id : NULL,
	        .method = in ? in->method : NULL,
	        .error_code = cn_code_name(code),
	        .error_message = message,
	};
	nng_msg *reply;
	cn_err err;
	if (cn_bus_env_build(w->env_b, &f, &reply, &err) != CN_OK) {
		CN_LOGE("BUS-REPLY-BUILD-FAILED", f.request_id, "%s", err.msg);
		return;
	}
	host_send(w, reply, f.request_id);
}

/* Run the handler and build its reply; returns the reply code and, on
 * success, the finished reply table in (*bytes, *len). */
static cn_code host_run(host_worker *w, const cn_bus_env_in *in, const uint8_t **bytes, size_t *len,
                        cn_err *err)
{
	cn_bus_host *h = w->h;
	cn_bus_request req = {
	        .method = in->method,
	        .request_id = in->request_id,
	        .caller = in->caller,
	        .deadline_ms = in->deadline_ms,
	        .payload = in->payload,
	        .payload_len = in->payload_len,
	};
	cn_fb_builder_reset(w->reply_b);
	cn_fb_ref resp = 0;
	cn_code code = h->fn(h->arg, &req, w->reply_b, &resp, err);
	if (code != CN_OK) {
		if (!err->msg[0])
			cn_err_set(err, code, "%s", cn_code_name(code));
		cn_log(code == CN_INTERNAL_ERROR ? CN_LOG_WARN : CN_LOG_DEBUG, "BUS-HANDLER-ERROR",
		       in->request_id, "%s on %s: %s %s", in->method, h->addr, cn_code_name(code),
		       err->msg);
		return code;
	}
	if (resp == 0 || cn_fb_builder_failed(w->reply_b) ||
	    !cn_fb_finish(w->reply_b, resp, bytes, len)) {
		CN_LOGE("BUS-HANDLER-BAD-REPLY", in->request_id, "handler of %s on %s returned %s",
		        in->method, h->addr, resp == 0 ? "no reply table" : "a failed builder");
		return cn_err_set(err, CN_INTERNAL_ERROR, "Service failed to build its reply to %s",
		                  in->method);
	}
	return CN_OK;
}

/* Serve one received message; consumes msg. */
static void host_serve(host_worker *w, nng_msg *msg)
{
	cn_bus_host *h = w->h;
	atomic_fetch_add(&h->requests, 1);
	cn_bus_env_in in;
	cn_err err;
	cn_err_clear(&err);
	if (cn_bus_env_parse(nng_msg_body(msg), nng_msg_len(msg), &in, &err) != CN_OK ||
	    in.kind != CN_Kind_REQUEST || !in.method[0]) {
		if (err.code == CN_OK)
			cn_err_set(&err, CN_MALFORMED_REQUEST,
			           "bus envelope is not a request with a method");
		atomic_fetch_add(&h->bad, 1);
		CN_LOGW("BUS-BAD-ENVELOPE", NULL, "request on %s (%zu bytes) refused: %s", h->addr,
		        nng_msg_len(msg), err.msg);
		nng_msg_free(msg);
		/* The caller's request id is unknown: an error without one. */
		host_send_error(w, NULL, CN_MALFORMED_REQUEST, err.msg);
		return;
	}
	if (in.deadline_ms > 0 && cn_now_ms() >= in.deadline_ms) {
		atomic_fetch_add(&h->expired, 1);
		CN_LOGD("BUS-DEADLINE-EXPIRED", in.request_id,
		        "%s on %s dropped: deadline passed %lld ms ago", in.method, h->addr,
		        (long long)(cn_now_ms() - in.deadline_ms));
		nng_msg_free(msg);
		return;
	}
	const uint8_t *bytes = NULL;
	size_t len = 0;
	cn_code code = host_run(w, &in, &bytes, &len, &err);
	if (code != CN_OK) {
		host_send_error(w, &in, code, err.msg);
		nng_msg_free(msg);
		return;
	}
	cn_bus_env_out f = {
	        .kind = CN_Kind_REPLY,
	        .request_id = in.request_id,
	        .method = in.method,
	        .payload = bytes,
	        .payload_len = len,
	};
	nng_msg *reply;
	if (cn_bus_env_build(w->env_b, &f, &reply, &err) != CN_OK) {
		CN_LOGE("BUS-REPLY-BUILD-FAILED", in.request_id, "%s", err.msg);
		host_send_error(w, &in, err.code, err.msg);
		nng_msg_free(msg);
		return;
	}
	char rid[128];
	snprintf(rid, sizeof rid, "%s", in.request_id);
	nng_msg_free(msg); /* in's strings die here */
	host_send(w, reply, rid);
}

static void *host_worker_main(void *arg)
{
	host_worker *w = arg;
	cn_bus_host *h = w->h;
	for (;;) {
		pthread_mutex_lock(&h->mu);
		if (h->stopping) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		w->receiving = 1;
		nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(w->ctx, w->aio);
		pthread_mutex_unlock(&h->mu);
		nng_aio_wait(w->aio);
		pthread_mutex_lock(&h->mu);
		w->receiving = 0;
		pthread_mutex_unlock(&h->mu);
		int rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0) {
			CN_LOGW("BUS-HOST-RECV-FAILED", NULL, "receive on %s failed: %s", h->addr,
			        nng_strerror(rv));
			continue;
		}
		nng_msg *msg = nng_aio_get_msg(w->aio);
		nng_aio_set_msg(w->aio, NULL);
		host_serve(w, msg);
	}
	return NULL;
}

/* Stop the workers that were started, close the socket, free everything. */
static void host_teardown(cn_bus_host *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	for (int i = 0; i < h->nworkers; i++)
		if (h->workers[i].receiving)
			nng_aio_cancel(h->workers[i].aio);
	pthread_mutex_unlock(&h->mu);
	for (int i = 0; i < h->nworkers; i++)
		if (h->workers[i].has_thread)
			pthread_join(h->workers[i].thread, NULL);
	nng_close(h->sock);
	for (int i = 0; i < h->nworkers; i++) {
		host_worker *w = &h->workers[i];
		if (w->aio)
			nng_aio_free(w->aio);
		cn_fb_builder_free(w->reply_b);
		cn_fb_builder_free(w->env_b);
	}
	pthread_mutex_destroy(&h->mu);
	free(h->workers);
	free(h->addr);
	free(h);
}

static cn_code host_worker_init(cn_bus_host *h, host_worker *w, cn_err *err)
{
	w->h = h;
	int rv = nng_aio_alloc(&w->aio, NULL, NULL);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "bus host: aio: %s", nng_strerror(rv));
	rv = nng_ctx_open(&w->ctx, h->sock);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "bus host: context: %s",
		                  nng_strerror(rv));
	w->reply_b = cn_fb_builder_new(4096);
	w->env_b = cn_fb_builder_new(4096);
	if (!w->reply_b || !w->env_b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	return CN_OK;
}

cn_code cn_bus_host_start(cn_bus_host **out, const char *addr, const cn_bus_tls *tls, int workers,
                          cn_bus_handler_fn fn, void *arg, cn_err *err)
{
	*out = NULL;
	if (!addr || !fn)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "bus host needs an address and a handler");
	if (workers <= 0)
		workers = HOST_DEFAULT_WORKERS;
	if (workers > HOST_MAX_WORKERS)
		workers = HOST_MAX_WORKERS;
	cn_bus_host *h = calloc(1, sizeof *h);
	if (!h)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	h->addr = strdup(addr);
	h->workers = calloc((size_t)workers, sizeof *h->workers);
	if (!h->addr || !h->workers) {
		free(h->addr);
		free(h->workers);
		free(h);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	h->fn = fn;
	h->arg = arg;
	h->nworkers = workers;
	pthread_mutex_init(&h->mu, NULL);

	int rv = nng_rep0_open(&h->sock);
	if (rv != 0) {
		cn_err_set(err, CN_INTERNAL_ERROR, "bus host: cannot open REP socket: %s",
		           nng_strerror(rv));
		pthread_mutex_destroy(&h->mu);
		free(h->workers);
		free(h->addr);
		free(h);
		return CN_INTERNAL_ERROR;
	}
	cn_code rc = cn_bus_tr_socket_setup(h->sock, err);
	for (int i = 0; rc == CN_OK && i < workers; i++)
		rc = host_worker_init(h, &h->workers[i], err);
	for (int i = 0; rc == CN_OK && i < workers; i++) {
		if (pthread_create(&h->workers[i].thread, NULL, host_worker_main, &h->workers[i]))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "bus host: cannot start a worker");
		else
			h->workers[i].has_thread = 1;
	}
	/* Listen last: once the address accepts connections, workers are ready. */
	if (rc == CN_OK)
		rc = cn_bus_tr_listen(h->sock, addr, tls, "bus host", err);
	if (rc != CN_OK) {
		CN_LOGE("BUS-HOST-START-FAILED", NULL, "%s", err ? err->msg : addr);
		host_teardown(h);
		return rc;
	}
	CN_LOGI("BUS-HOST-START", NULL, "serving on %s with %d workers", addr, workers);
	*out = h;
	return CN_OK;
}

void cn_bus_host_stop(cn_bus_host *h)
{
	if (!h)
		return;
	CN_LOGI("BUS-HOST-STOP", NULL, "stopping host on %s", h->addr);
	host_teardown(h);
}
