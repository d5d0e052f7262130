/*
 * bus/host.c: serving requests (REP side).
 *
 * A pool of worker threads, each with its own REP context, its own aio and
 * its own two builders (one for the handler's reply table, one for the
 * envelope around it), blocks in receive -> handle -> send. Threads rather
 * than aio callbacks because handlers block (RocksDB syncs, plugin calls)
 * and must never run on nng's few callback threads.
 *
 * On inproc:// addresses there is no socket: workers take requests from
 * the address's queue (inproc.c) and hand each reply to its caller's
 * deliver function. Both ways share host_process, from request Envelope
 * bytes to reply Envelope bytes, so verification, deadlines, handler
 * errors and reply building are the same code.
 *
 * Stopping: a worker waiting for a request is cancelled; one busy with a
 * request finishes it and sends the reply, then sees `stopping` and exits.
 * The mutex orders "check stopping, start receive" against "set stopping,
 * cancel receives", so no worker can start a receive that nobody cancels.
 * On inproc:// detaching from the endpoint does both at once under the
 * endpoint's lock.
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
	nng_socket sock;  /* nng addresses */
	cn_bus_ip_ep *ep; /* inproc://: the endpoint this host serves */
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

/* What processing one request came to. */
typedef enum host_outcome {
	HOST_REPLY,   /* a reply Envelope is ready in the worker's env_b */
	HOST_EXPIRED, /* dropped: its deadline had passed */
	HOST_NONE     /* no reply could be built (logged) */
} host_outcome;

/* Build an error reply (no payload) into w->env_b. */
static host_outcome host_error(host_worker *w, const cn_bus_env_in *in, cn_code code,
                               const char *message, const uint8_t **out, size_t *len)
{
	atomic_fetch_add(&w->h->errors, 1);
	cn_bus_env_out f = {
	        .kind = CN_Kind_REPLY,
	        .request_id = in ? in->request_id : NULL,
	        .method = in ? in->method : NULL,
	        .error_code = cn_code_name(code),
	        .error_message = message,
	};
	cn_err err;
	if (cn_bus_env_encode(w->env_b, &f, out, len, &err) != CN_OK) {
		CN_LOGE("BUS-REPLY-BUILD-FAILED", f.request_id, "%s", err.msg);
		return HOST_NONE;
	}
	return HOST_REPLY;
}

/* Run the handler and build its reply; returns the reply code and, on
 * success, the finished reply table in (*bytes, *len). */
static cn_code host_run(cn_bus_host *h, const cn_bus_request *req, cn_fb_builder *b,
                        const uint8_t **bytes, size_t *len, cn_err *err)
{
	cn_fb_builder_reset(b);
	cn_fb_ref resp = 0;
	cn_code code = h->fn(h->arg, req, b, &resp, err);
	if (code != CN_OK) {
		if (!err->msg[0])
			cn_err_set(err, code, "%s", cn_code_name(code));
		cn_log(code == CN_INTERNAL_ERROR ? CN_LOG_WARN : CN_LOG_DEBUG, "BUS-HANDLER-ERROR",
		       req->request_id, "%s on %s: %s %s", req->method, h->addr, cn_code_name(code),
		       err->msg);
		return code;
	}
	if (resp == 0 || cn_fb_builder_failed(b) || !cn_fb_finish(b, resp, bytes, len)) {
		CN_LOGE("BUS-HANDLER-BAD-REPLY", req->request_id, "handler of %s on %s returned %s",
		        req->method, h->addr, resp == 0 ? "no reply table" : "a failed builder");
		return cn_err_set(err, CN_INTERNAL_ERROR, "Service failed to build its reply to %s",
		                  req->method);
	}
	return CN_OK;
}

/* Drop a request whose deadline has passed (counted, logged): true. */
static bool host_expired(cn_bus_host *h, const char *method, const char *request_id,
                         int64_t deadline_ms)
{
	if (deadline_ms <= 0 || cn_now_ms() < deadline_ms)
		return false;
	atomic_fetch_add(&h->expired, 1);
	CN_LOGD("BUS-DEADLINE-EXPIRED", request_id, "%s on %s dropped: deadline passed %lld ms ago",
	        method, h->addr, (long long)(cn_now_ms() - deadline_ms));
	return true;
}

cn_code cn_bus_host_serve_here(cn_bus_host *h, const cn_bus_request *req, cn_fb_builder *b,
                               const uint8_t **bytes, size_t *len, bool *expired, cn_err *err)
{
	atomic_fetch_add(&h->requests, 1);
	*expired = host_expired(h, req->method, req->request_id, req->deadline_ms);
	if (*expired)
		return CN_TEMPORARILY_UNAVAILABLE;
	cn_code code = host_run(h, req, b, bytes, len, err);
	if (code != CN_OK)
		atomic_fetch_add(&h->errors, 1);
	return code;
}

/* Serve one request Envelope, whichever way it came: verify it, drop it if
 * its deadline passed, run the handler, and build the reply Envelope (an
 * error one when anything fails) in w->env_b. On HOST_REPLY *out points
 * there, valid until the worker's next request; the request bytes may go
 * as soon as this returns. */
static host_outcome host_process(host_worker *w, const uint8_t *req, size_t req_len,
                                 const uint8_t **out, size_t *len)
{
	cn_bus_host *h = w->h;
	atomic_fetch_add(&h->requests, 1);
	cn_bus_env_in in;
	cn_err err;
	cn_err_clear(&err);
	if (cn_bus_env_parse(req, req_len, &in, &err) != CN_OK || in.kind != CN_Kind_REQUEST ||
	    !in.method[0]) {
		if (err.code == CN_OK)
			cn_err_set(&err, CN_MALFORMED_REQUEST,
			           "bus envelope is not a request with a method");
		atomic_fetch_add(&h->bad, 1);
		CN_LOGW("BUS-BAD-ENVELOPE", NULL, "request on %s (%zu bytes) refused: %s", h->addr,
		        req_len, err.msg);
		/* The caller's request id is unknown: an error without one. */
		return host_error(w, NULL, CN_MALFORMED_REQUEST, err.msg, out, len);
	}
	if (host_expired(h, in.method, in.request_id, in.deadline_ms))
		return HOST_EXPIRED;
	cn_bus_request breq = {
	        .method = in.method,
	        .request_id = in.request_id,
	        .caller = in.caller,
	        .client_addr = in.client_addr,
	        .deadline_ms = in.deadline_ms,
	        .payload = in.payload,
	        .payload_len = in.payload_len,
	};
	const uint8_t *bytes = NULL;
	size_t blen = 0;
	cn_code code = host_run(h, &breq, w->reply_b, &bytes, &blen, &err);
	if (code != CN_OK)
		return host_error(w, &in, code, err.msg, out, len);
	cn_bus_env_out f = {
	        .kind = CN_Kind_REPLY,
	        .request_id = in.request_id,
	        .method = in.method,
	        .payload = bytes,
	        .payload_len = blen,
	};
	if (cn_bus_env_encode(w->env_b, &f, out, len, &err) != CN_OK) {
		CN_LOGE("BUS-REPLY-BUILD-FAILED", in.request_id, "%s", err.msg);
		return host_error(w, &in, err.code, err.msg, out, len);
	}
	return HOST_REPLY;
}

/* ---- nng addresses ------------------------------------------------------ */

static void host_send(host_worker *w, const uint8_t *bytes, size_t len)
{
	nng_msg *reply;
	cn_err err;
	if (cn_bus_env_to_msg(bytes, len, &reply, &err) != CN_OK) {
		atomic_fetch_add(&w->h->send_failed, 1);
		CN_LOGE("BUS-REPLY-SEND-FAILED", NULL, "reply on %s not sent: %s", w->h->addr,
		        err.msg);
		return;
	}
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
		if (cn_log_enabled(CN_LOG_DEBUG)) {
			/* The request is gone; its id is in the reply we built. */
			cn_fb_str rid = cn_Envelope_request_id(cn_fb_root(bytes));
			char id[128];
			snprintf(id, sizeof id, "%.*s", (int)rid.len, rid.ptr ? rid.ptr : "");
			CN_LOGD("BUS-REPLY-SEND-FAILED", id, "reply on %s not sent: %s", w->h->addr,
			        nng_strerror(rv));
		}
	}
}

/* Reply builders are kept per worker for reuse; past this size (one huge
 * answer, e.g. a search of thousands of runs) their memory goes back, or
 * every worker would pin the largest answer it ever built. */
#define HOST_BUILDER_KEEP ((size_t)1 << 20)

static void host_trim(host_worker *w)
{
	cn_fb_builder_reset_shrink(w->reply_b, HOST_BUILDER_KEEP);
	cn_fb_builder_reset_shrink(w->env_b, HOST_BUILDER_KEEP);
}

/* Serve one received message; consumes msg. */
static void host_serve(host_worker *w, nng_msg *msg)
{
	const uint8_t *out;
	size_t len;
	host_outcome o = host_process(w, nng_msg_body(msg), nng_msg_len(msg), &out, &len);
	nng_msg_free(msg);
	if (o == HOST_REPLY)
		host_send(w, out, len);
	host_trim(w);
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

/* ---- inproc:// (the direct path, inproc.c) -------------------------------- */

/* Hand the outcome of one request back to its caller, on this thread. */
static void host_deliver(host_worker *w, cn_bus_ip_req *r, host_outcome o, const uint8_t *out,
                         size_t len)
{
	cn_bus_ip_outcome how = o == HOST_REPLY     ? CN_BUS_IP_REPLY
	                        : o == HOST_EXPIRED ? CN_BUS_IP_EXPIRED
	                                            : CN_BUS_IP_FAILED;
	uint8_t *reply = NULL;
	if (how == CN_BUS_IP_REPLY) {
		/* A copy the reply owns: env_b is reused by the next request. */
		reply = malloc(len ? len : 1);
		if (reply)
			memcpy(reply, out, len);
		else
			how = CN_BUS_IP_FAILED;
	}
	if (!r->deliver(r, how, reply, how == CN_BUS_IP_REPLY ? len : 0) && how == CN_BUS_IP_REPLY)
		atomic_fetch_add(&w->h->send_failed, 1); /* the caller gave up first */
}

static void *host_worker_direct(void *arg)
{
	host_worker *w = arg;
	cn_bus_host *h = w->h;
	cn_bus_ip_req *r;
	bool served = false;
	/* NULL once the host is detached: stop. A request taken before that
	 * is served and answered first. */
	while ((r = cn_bus_ip_pop(h->ep, h, served)) != NULL) {
		served = true;
		const uint8_t *out = NULL;
		size_t len = 0;
		host_outcome o = host_process(w, r->env, r->env_len, &out, &len);
		host_deliver(w, r, o, out, len);
		host_trim(w);
	}
	return NULL;
}

/* ---- both ------------------------------------------------------------------ */

/* Stop the workers that were started, close the socket or leave the
 * inproc:// endpoint, free everything. */
static void host_teardown(cn_bus_host *h)
{
	if (h->ep) {
		/* Queued requests fail now; busy workers answer theirs, see
		 * that they are detached and exit. */
		cn_bus_ip_detach(h->ep, h);
	} else {
		pthread_mutex_lock(&h->mu);
		h->stopping = 1;
		for (int i = 0; i < h->nworkers; i++)
			if (h->workers[i].receiving)
				nng_aio_cancel(h->workers[i].aio);
		pthread_mutex_unlock(&h->mu);
	}
	for (int i = 0; i < h->nworkers; i++)
		if (h->workers[i].has_thread)
			pthread_join(h->workers[i].thread, NULL);
	if (h->ep)
		cn_bus_ip_release(h->ep);
	else
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
	if (!h->ep) {
		int rv = nng_aio_alloc(&w->aio, NULL, NULL);
		if (rv != 0)
			return cn_err_set(err, CN_INTERNAL_ERROR, "bus host: aio: %s",
			                  nng_strerror(rv));
		rv = nng_ctx_open(&w->ctx, h->sock);
		if (rv != 0)
			return cn_err_set(err, CN_INTERNAL_ERROR, "bus host: context: %s",
			                  nng_strerror(rv));
	}
	w->reply_b = cn_fb_builder_new(4096);
	w->env_b = cn_fb_builder_new(4096);
	if (!w->reply_b || !w->env_b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	return CN_OK;
}

/* The endpoint or socket, before any worker exists. */
static cn_code host_open(cn_bus_host *h, cn_err *err)
{
	if (cn_bus_ip_is_direct(h->addr))
		return cn_bus_ip_open(&h->ep, h->addr, err);
	int rv = nng_rep0_open(&h->sock);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "bus host: cannot open REP socket: %s",
		                  nng_strerror(rv));
	return cn_bus_tr_socket_setup(h->sock, err);
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

	cn_code rc = host_open(h, err);
	if (rc != CN_OK) {
		if (!cn_bus_ip_is_direct(addr))
			nng_close(h->sock); /* harmless on a socket that never opened */
		CN_LOGE("BUS-HOST-START-FAILED", NULL, "%s", err ? err->msg : addr);
		pthread_mutex_destroy(&h->mu);
		free(h->workers);
		free(h->addr);
		free(h);
		return rc;
	}
	for (int i = 0; rc == CN_OK && i < workers; i++)
		rc = host_worker_init(h, &h->workers[i], err);
	/* inproc://: attach before the workers start, so that they wait for
	 * this host's requests; requests that come first just queue. */
	if (rc == CN_OK && h->ep)
		rc = cn_bus_ip_attach(h->ep, h, workers, err);
	for (int i = 0; rc == CN_OK && i < workers; i++) {
		if (pthread_create(&h->workers[i].thread, NULL,
		                   h->ep ? host_worker_direct : host_worker_main, &h->workers[i]))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "bus host: cannot start a worker");
		else
			h->workers[i].has_thread = 1;
	}
	/* Listen last: once the address accepts connections, workers are ready. */
	if (rc == CN_OK && !h->ep)
		rc = cn_bus_tr_listen(h->sock, addr, tls, "bus host", err);
	if (rc != CN_OK) {
		CN_LOGE("BUS-HOST-START-FAILED", NULL, "%s", err ? err->msg : addr);
		host_teardown(h);
		return rc;
	}
	CN_LOGI("BUS-HOST-START", NULL, "serving on %s with %d workers%s", addr, workers,
	        h->ep ? " (direct in-process path)" : "");
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
