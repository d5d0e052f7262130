/*
 * bus/client.c: calling a service (REQ side).
 *
 * One REQ socket per service address; each call opens its own nng context,
 * so any number of calls share the socket and its connection. A call is a
 * two-step state machine on one aio (send, then receive), driven by nng's
 * callbacks; the blocking call is the same machine plus a condition
 * variable, so both paths behave identically.
 *
 * The send step's timeout covers "no connection yet": nng holds the request
 * until a pipe is up, so a service that is down fails the call at its
 * deadline, and one that comes back before it is used at once.
 */
#include "bus/bus_int.h"

#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

struct cn_bus_client {
	nng_socket sock;
	char *service;
	char *addr;
	atomic_uint_fast64_t calls, replies, error_replies, timeouts, errors, in_flight;
	pthread_mutex_t mu; /* guards pending */
	pthread_cond_t idle;
	/* Calls whose completion has not finished running; in_flight drops
	 * before `done` runs (so a caller that was just woken sees it), pending
	 * after (so close knows no callback still touches the client). */
	uint64_t pending;
};

enum { CLIENT_OP_SEND, CLIENT_OP_RECV };

/* One call in flight; freed by its own completion. */
typedef struct client_op {
	cn_bus_client *c;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	int64_t started_ms;
	int64_t deadline_ms;
	cn_bus_done_fn done;
	void *arg;
	char request_id[]; /* to match the reply against */
} client_op;

cn_code cn_bus_client_open(cn_bus_client **out, const char *service_name, const char *addr,
                           const cn_bus_tls *tls, cn_err *err)
{
	*out = NULL;
	if (!service_name || !addr)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "bus client needs a service name and an address");
	cn_bus_client *c = calloc(1, sizeof *c);
	if (!c)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	c->service = strdup(service_name);
	c->addr = strdup(addr);
	if (!c->service || !c->addr) {
		free(c->service);
		free(c->addr);
		free(c);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->idle, NULL);

	char what[200];
	snprintf(what, sizeof what, "bus client of service '%s'", service_name);
	cn_code rc = CN_OK;
	int rv = nng_req0_open(&c->sock);
	if (rv != 0) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot open REQ socket: %s", what,
		                nng_strerror(rv));
		goto fail_nosock;
	}
	rc = cn_bus_tr_socket_setup(c->sock, err);
	/* Resend timer longer than any deadline (they are clamped to the same
	 * value): never a timed resend, since writes are not idempotent. It must
	 * stay finite: nng re-queues a request whose connection dropped only
	 * when resending is enabled; "infinite" fails it with ECONNRESET. See
	 * bus.h, "Delivery". */
	if (rc == CN_OK &&
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, INT32_MAX)) != 0)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot set resend time: %s", what,
		                nng_strerror(rv));
	if (rc == CN_OK)
		rc = cn_bus_tr_dial(c->sock, addr, tls, what, err);
	if (rc != CN_OK) {
		nng_close(c->sock);
		goto fail_nosock;
	}
	CN_LOGD("BUS-CLIENT-OPEN", NULL, "client of service '%s' dialling %s", service_name, addr);
	*out = c;
	return CN_OK;

fail_nosock:
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mu);
	free(c->service);
	free(c->addr);
	free(c);
	return rc;
}

void cn_bus_client_close(cn_bus_client *c)
{
	if (!c)
		return;
	/* Closing the socket fails every call still in flight; wait for their
	 * completions, which touch c, before freeing it. */
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	while (c->pending > 0)
		pthread_cond_wait(&c->idle, &c->mu);
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mu);
	free(c->service);
	free(c->addr);
	free(c);
}

void cn_bus_client_stats(cn_bus_client *c, cn_bus_stats *out)
{
	out->calls = atomic_load(&c->calls);
	out->replies = atomic_load(&c->replies);
	out->error_replies = atomic_load(&c->error_replies);
	out->timeouts = atomic_load(&c->timeouts);
	out->errors = atomic_load(&c->errors);
	out->in_flight = atomic_load(&c->in_flight);
}

void cn_bus_reply_free(cn_bus_reply *r)
{
	if (!r)
		return;
	if (r->msg_)
		nng_msg_free(r->msg_);
	memset(r, 0, sizeof *r);
}

/* Complete op: release its context, hand the outcome to `done`, free. */
static void client_op_finish(client_op *op, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	cn_bus_client *c = op->c;
	/* Closing the context first makes nng discard a reply that is late. */
	nng_ctx_close(op->ctx);
	if (code == CN_TEMPORARILY_UNAVAILABLE)
		atomic_fetch_add(&c->timeouts, 1);
	else if (code != CN_OK)
		atomic_fetch_add(&c->errors, 1);
	else {
		atomic_fetch_add(&c->replies, 1);
		if (reply->code != CN_OK)
			atomic_fetch_add(&c->error_replies, 1);
	}
	atomic_fetch_sub(&c->in_flight, 1);
	op->done(op->arg, code, reply, err);
	/* We are inside op->aio's callback: it can only be freed from elsewhere. */
	nng_aio_reap(op->aio);
	free(op);
	pthread_mutex_lock(&c->mu);
	if (--c->pending == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->mu);
}

static void client_op_fail(client_op *op, int rv)
{
	cn_bus_client *c = op->c;
	cn_err err;
	cn_code code = CN_TEMPORARILY_UNAVAILABLE;
	switch (rv) {
	case NNG_ETIMEDOUT:
		cn_err_set(&err, code, "Service '%s' did not answer within %lld ms (%s)%s",
		           c->service, (long long)(op->deadline_ms - op->started_ms), c->addr,
		           op->state == CLIENT_OP_SEND ? ": not connected" : "");
		CN_LOGW("BUS-CALL-TIMEOUT", op->request_id, "%s", err.msg);
		break;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		cn_err_set(&err, code, "Service '%s' closed the connection during the call (%s)",
		           c->service, c->addr);
		CN_LOGW("BUS-CALL-RESET", op->request_id, "%s", err.msg);
		break;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		cn_err_set(&err, code, "Call to service '%s' cancelled: client closed (%s)",
		           c->service, c->addr);
		CN_LOGD("BUS-CALL-CLOSED", op->request_id, "%s", err.msg);
		break;
	default:
		code = CN_INTERNAL_ERROR;
		cn_err_set(&err, code, "Call to service '%s' failed (%s): %s", c->service, c->addr,
		           nng_strerror(rv));
		CN_LOGE("BUS-CALL-FAILED", op->request_id, "%s", err.msg);
		break;
	}
	cn_bus_reply none;
	memset(&none, 0, sizeof none);
	client_op_finish(op, code, &none, &err);
}

/* Turn the received message into a reply, or fail the call. */
static void client_op_reply(client_op *op, nng_msg *msg)
{
	cn_bus_client *c = op->c;
	cn_bus_env_in in;
	cn_err err;
	cn_err_clear(&err);
	cn_bus_reply reply;
	memset(&reply, 0, sizeof reply);
	if (cn_bus_env_parse(nng_msg_body(msg), nng_msg_len(msg), &in, &err) != CN_OK) {
		CN_LOGE("BUS-BAD-ENVELOPE", op->request_id, "reply from service '%s' (%s): %s",
		        c->service, c->addr, err.msg);
		nng_msg_free(msg);
		cn_err_set(&err, CN_INTERNAL_ERROR, "Service '%s' sent a malformed reply (%s)",
		           c->service, c->addr);
		client_op_finish(op, CN_INTERNAL_ERROR, &reply, &err);
		return;
	}
	if (in.kind != CN_Kind_REPLY || strcmp(in.request_id, op->request_id) != 0) {
		CN_LOGE("BUS-REPLY-MISMATCH", op->request_id,
		        "service '%s' (%s) answered kind %d for request '%s'", c->service, c->addr,
		        in.kind, in.request_id);
		nng_msg_free(msg);
		cn_err_set(&err, CN_INTERNAL_ERROR,
		           "Service '%s' sent a reply that does not match the request (%s)",
		           c->service, c->addr);
		client_op_finish(op, CN_INTERNAL_ERROR, &reply, &err);
		return;
	}
	reply.msg_ = msg;
	reply.code =
	        in.error_code[0] ? cn_code_from_name(in.error_code, strlen(in.error_code)) : CN_OK;
	if (reply.code != CN_OK) {
		reply.message = in.error_message;
	} else {
		reply.message = "";
		reply.payload = in.payload;
		reply.payload_len = in.payload_len;
	}
	client_op_finish(op, CN_OK, &reply, &err);
}

static void client_op_cb(void *arg)
{
	client_op *op = arg;
	int rv = nng_aio_result(op->aio);
	if (op->state == CLIENT_OP_SEND) {
		if (rv != 0) {
			/* A failed send leaves the message with us. */
			nng_msg_free(nng_aio_get_msg(op->aio));
			nng_aio_set_msg(op->aio, NULL);
			client_op_fail(op, rv);
			return;
		}
		op->state = CLIENT_OP_RECV;
		nng_duration left = cn_bus_ms_left(op->deadline_ms);
		if (left <= 0) {
			client_op_fail(op, NNG_ETIMEDOUT);
			return;
		}
		nng_aio_set_timeout(op->aio, left);
		nng_ctx_recv(op->ctx, op->aio);
		return;
	}
	if (rv != 0) {
		client_op_fail(op, rv);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(op->aio);
	nng_aio_set_msg(op->aio, NULL);
	client_op_reply(op, msg);
}

cn_code cn_bus_call_async(cn_bus_client *c, const cn_bus_call *call, cn_bus_done_fn done, void *arg,
                          cn_err *err)
{
	if (!c || !call || !call->method || !done || call->deadline_ms <= 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "bus call needs a client, a method, a callback and a deadline");
	int64_t now = cn_now_ms();
	nng_duration left = cn_bus_ms_left(call->deadline_ms);
	if (left <= 0) {
		atomic_fetch_add(&c->calls, 1);
		atomic_fetch_add(&c->timeouts, 1);
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "Service '%s' not called: the deadline had already passed (%s)",
		                  c->service, c->addr);
	}
	char gen[CN_ID_HEX32_LEN + 1];
	const char *rid = call->request_id;
	if (!rid || !rid[0]) {
		/* Every envelope carries an id: logs correlate and replies match. */
		cn_id_request(gen);
		rid = gen;
	}
	size_t rid_len = strlen(rid);
	client_op *op = calloc(1, sizeof *op + rid_len + 1);
	cn_fb_builder *b = cn_fb_builder_new(call->payload_len + 256);
	if (!op || !b) {
		free(op);
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	memcpy(op->request_id, rid, rid_len + 1);
	cn_bus_env_out f = {
	        .kind = CN_Kind_REQUEST,
	        .request_id = rid,
	        .method = call->method,
	        .caller = call->caller,
	        .deadline_ms = call->deadline_ms,
	        .payload = call->payload,
	        .payload_len = call->payload ? call->payload_len : 0,
	};
	nng_msg *msg;
	cn_code rc = cn_bus_env_build(b, &f, &msg, err);
	cn_fb_builder_free(b);
	if (rc != CN_OK) {
		free(op);
		return rc;
	}
	int rv = nng_aio_alloc(&op->aio, client_op_cb, op);
	if (rv == 0 && (rv = nng_ctx_open(&op->ctx, c->sock)) != 0)
		nng_aio_free(op->aio);
	if (rv != 0) {
		nng_msg_free(msg);
		free(op);
		return cn_err_set(
		        err, rv == NNG_ECLOSED ? CN_TEMPORARILY_UNAVAILABLE : CN_INTERNAL_ERROR,
		        "cannot start a call to service '%s': %s", c->service, nng_strerror(rv));
	}
	op->c = c;
	op->state = CLIENT_OP_SEND;
	op->started_ms = now;
	op->deadline_ms = call->deadline_ms;
	op->done = done;
	op->arg = arg;
	atomic_fetch_add(&c->calls, 1);
	atomic_fetch_add(&c->in_flight, 1);
	pthread_mutex_lock(&c->mu);
	c->pending++;
	pthread_mutex_unlock(&c->mu);

	nng_aio_set_msg(op->aio, msg);
	nng_aio_set_timeout(op->aio, left);
	nng_ctx_send(op->ctx, op->aio);
	return CN_OK;
}

/* The blocking call waits on this for its own asynchronous completion. */
typedef struct client_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
	cn_code code;
	cn_bus_reply reply;
	cn_err err;
} client_wait;

static void client_wait_done(void *arg, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	client_wait *w = arg;
	pthread_mutex_lock(&w->mu);
	w->code = code;
	w->reply = *reply;
	if (err)
		w->err = *err;
	w->finished = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

cn_code cn_bus_call_sync(cn_bus_client *c, const cn_bus_call *call, cn_bus_reply *reply,
                         cn_err *err)
{
	memset(reply, 0, sizeof *reply);
	client_wait w;
	memset(&w, 0, sizeof w);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	cn_code rc = cn_bus_call_async(c, call, client_wait_done, &w, err);
	if (rc == CN_OK) {
		/* Bounded: the aio's timeout is the call's deadline. */
		pthread_mutex_lock(&w.mu);
		while (!w.finished)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = w.code;
		if (rc == CN_OK)
			*reply = w.reply;
		else if (err)
			*err = w.err;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}
