/*
 * bus/client.c: calling a service (REQ side).
 *
 * nng addresses: one REQ socket per service address; each call opens its
 * own nng context, so any number of calls share the socket and its
 * connection. A call is a two-step state machine on one aio (send, then
 * receive), driven by nng's callbacks. The send step's timeout covers "no
 * connection yet": nng holds the request until a pipe is up, so a service
 * that is down fails the call at its deadline, and one that comes back
 * before it is used at once.
 *
 * inproc:// addresses (the direct path, inproc.c): a call puts its request
 * Envelope on the address's queue and the host's worker calls back with
 * the reply. Nothing in nng times such a call out, so the client keeps its
 * calls in a list and one deadline thread per client fails those whose
 * deadline passes. A call can thus end three ways at once (reply, deadline,
 * close); an atomic claim picks the one that completes it, and a reference
 * count (completion, host side, and the caller while it queues the call)
 * frees it after the losers are done with it.
 *
 * Both paths build the request with the same envelope code, check the
 * reply with the same code, and fail with the same messages; the blocking
 * call is the asynchronous one plus a condition variable.
 */
#include "bus/bus_int.h"

#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

/* Request builders kept for reuse, per client. Requests with larger
 * payloads get a builder of their own, so what is kept stays small. */
#define CLIENT_SPARE_BUILDERS    8
#define CLIENT_SPARE_MAX_PAYLOAD ((size_t)64 << 10)

typedef struct client_direct client_direct;

struct cn_bus_client {
	nng_socket sock;  /* nng addresses */
	cn_bus_ip_ep *ep; /* inproc:// */
	char *service;
	char *addr;
	atomic_uint_fast64_t calls, replies, error_replies, timeouts, errors, in_flight;
	pthread_mutex_t spare_mu; /* guards spare and nspare only */
	cn_fb_builder *spare[CLIENT_SPARE_BUILDERS];
	int nspare;
	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t idle;
	/* Calls whose completion has not finished running; in_flight drops
	 * before `done` runs (so a caller that was just woken sees it), pending
	 * after (so close knows no callback still touches the client). */
	uint64_t pending;
	/* inproc:// only */
	client_direct *calls_head; /* calls not yet unlinked by their completion */
	bool closing;
	bool has_timer;
	bool timer_stop;
	int64_t timer_at; /* Unix ms the deadline thread wakes at; INT64_MAX: idle */
	pthread_cond_t timer_cv;
	pthread_t timer;
};

enum { CLIENT_OP_SEND, CLIENT_OP_RECV };

/* One nng call in flight; freed by its own completion. */
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

/* One inproc:// call: from cn_bus_call_async until its completion, the
 * host side and cn_bus_call_async itself have all let go of it (refs). */
struct client_direct {
	cn_bus_ip_req req; /* what the endpoint queues; env points into data */
	cn_bus_client *c;
	atomic_int claimed;         /* CLIENT_CLAIM_*: who completes the call */
	atomic_int refs;            /* the completion's, the host side's, the caller's */
	client_direct *prev, *next; /* c->calls_head, under c->mu */
	client_direct *batch;       /* the deadline thread's or close's claims */
	int64_t started_ms;
	int64_t deadline_ms;
	cn_bus_done_fn done;
	void *arg;
	const char *request_id; /* in data, after the envelope */
	uint8_t data[];         /* the request Envelope (8-aligned here), then the id */
};

/* ---- shared by both paths ------------------------------------------------ */

/* A lock of their own: calls and completions contend for mu, and a
 * builder is needed before a call exists. */
static cn_fb_builder *client_builder_take(cn_bus_client *c, size_t payload_len)
{
	cn_fb_builder *b = NULL;
	if (payload_len <= CLIENT_SPARE_MAX_PAYLOAD) {
		pthread_mutex_lock(&c->spare_mu);
		if (c->nspare > 0)
			b = c->spare[--c->nspare];
		pthread_mutex_unlock(&c->spare_mu);
	}
	return b ? b : cn_fb_builder_new(payload_len + 256);
}

static void client_builder_give(cn_bus_client *c, cn_fb_builder *b, size_t payload_len)
{
	if (payload_len <= CLIENT_SPARE_MAX_PAYLOAD) {
		pthread_mutex_lock(&c->spare_mu);
		if (c->nspare < CLIENT_SPARE_BUILDERS) {
			c->spare[c->nspare++] = b;
			b = NULL;
		}
		pthread_mutex_unlock(&c->spare_mu);
	}
	cn_fb_builder_free(b);
}

/* Count a completion in the client's stats, just before `done` runs. */
static void client_count(cn_bus_client *c, cn_code code, const cn_bus_reply *reply)
{
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
}

/* Check buf as the reply Envelope to request rid and fill reply's public
 * fields (pointing into buf). CN_OK, or INTERNAL_ERROR (logged) when it is
 * malformed or answers something else. */
static cn_code client_read_reply(cn_bus_client *c, const char *rid, const void *buf, size_t len,
                                 cn_bus_reply *reply, cn_err *err)
{
	cn_bus_env_in in;
	if (cn_bus_env_parse(buf, len, &in, err) != CN_OK) {
		CN_LOGE("BUS-BAD-ENVELOPE", rid, "reply from service '%s' (%s): %s", c->service,
		        c->addr, err->msg);
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "Service '%s' sent a malformed reply (%s)", c->service, c->addr);
	}
	if (in.kind != CN_Kind_REPLY || strcmp(in.request_id, rid) != 0) {
		CN_LOGE("BUS-REPLY-MISMATCH", rid,
		        "service '%s' (%s) answered kind %d for request '%s'", c->service, c->addr,
		        in.kind, in.request_id);
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "Service '%s' sent a reply that does not match the request (%s)",
		                  c->service, c->addr);
	}
	reply->code =
	        in.error_code[0] ? cn_code_from_name(in.error_code, strlen(in.error_code)) : CN_OK;
	if (reply->code != CN_OK) {
		reply->message = in.error_message;
	} else {
		reply->message = "";
		reply->payload = in.payload;
		reply->payload_len = in.payload_len;
	}
	return CN_OK;
}

static void client_timeout_err(cn_bus_client *c, const char *rid, int64_t started_ms,
                               int64_t deadline_ms, bool connected, cn_err *err)
{
	cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
	           "Service '%s' did not answer within %lld ms (%s)%s", c->service,
	           (long long)(deadline_ms - started_ms), c->addr,
	           connected ? "" : ": not connected");
	CN_LOGW("BUS-CALL-TIMEOUT", rid, "%s", err->msg);
}

static void client_closed_err(cn_bus_client *c, const char *rid, cn_err *err)
{
	cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
	           "Call to service '%s' cancelled: client closed (%s)", c->service, c->addr);
	CN_LOGD("BUS-CALL-CLOSED", rid, "%s", err->msg);
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
	free(r->buf_);
	memset(r, 0, sizeof *r);
}

/* ---- nng addresses ------------------------------------------------------- */

/* Complete op: release its context, hand the outcome to `done`, free. */
static void client_op_finish(client_op *op, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	cn_bus_client *c = op->c;
	/* Closing the context first makes nng discard a reply that is late. */
	nng_ctx_close(op->ctx);
	client_count(c, code, reply);
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
		client_timeout_err(c, op->request_id, op->started_ms, op->deadline_ms,
		                   op->state != CLIENT_OP_SEND, &err);
		break;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		cn_err_set(&err, code, "Service '%s' closed the connection during the call (%s)",
		           c->service, c->addr);
		CN_LOGW("BUS-CALL-RESET", op->request_id, "%s", err.msg);
		break;
	case NNG_ECLOSED:
	case NNG_ECANCELED: client_closed_err(c, op->request_id, &err); break;
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
	cn_err err;
	cn_err_clear(&err);
	cn_bus_reply reply;
	memset(&reply, 0, sizeof reply);
	cn_code rc = client_read_reply(op->c, op->request_id, nng_msg_body(msg), nng_msg_len(msg),
	                               &reply, &err);
	if (rc != CN_OK) {
		nng_msg_free(msg);
		memset(&reply, 0, sizeof reply);
		client_op_finish(op, rc, &reply, &err);
		return;
	}
	reply.msg_ = msg;
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

static cn_code client_call_nng(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                               const char *rid, int64_t now, nng_duration left, cn_bus_done_fn done,
                               void *arg, cn_err *err)
{
	size_t rid_len = strlen(rid);
	size_t plen = call->payload ? call->payload_len : 0;
	client_op *op = calloc(1, sizeof *op + rid_len + 1);
	cn_fb_builder *b = client_builder_take(c, plen);
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
	        .client_addr = client_addr,
	        .deadline_ms = call->deadline_ms,
	        .payload = call->payload,
	        .payload_len = plen,
	};
	nng_msg *msg;
	cn_code rc = cn_bus_env_build(b, &f, &msg, err);
	client_builder_give(c, b, plen);
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

/* ---- inproc:// ------------------------------------------------------------ */

enum {
	CLIENT_CLAIM_NONE,
	CLIENT_CLAIM_REPLY, /* the host side delivered */
	CLIENT_CLAIM_ABORT  /* the deadline thread, close, or a refused push */
};

static bool client_direct_claim(client_direct *op, int who)
{
	int none = CLIENT_CLAIM_NONE;
	return atomic_compare_exchange_strong(&op->claimed, &none, who);
}

/* Take op off the client's list of calls; close waits for that list to empty. */
static void client_direct_unlist(cn_bus_client *c, client_direct *op)
{
	pthread_mutex_lock(&c->mu);
	if (op->prev)
		op->prev->next = op->next;
	else
		c->calls_head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	if (--c->pending == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->mu);
}

static void client_direct_unref(client_direct *op)
{
	if (atomic_fetch_sub(&op->refs, 1) == 1)
		free(op);
}

/* The claimer completes op: `done`, then leave the client's list (which
 * keeps the client alive for close until here), then drop the completion's
 * reference. */
static void client_direct_finish(client_direct *op, cn_code code, cn_bus_reply *reply,
                                 const cn_err *err)
{
	cn_bus_client *c = op->c;
	client_count(c, code, reply);
	op->done(op->arg, code, reply, err);
	client_direct_unlist(c, op);
	client_direct_unref(op);
}

/* Fail a claimed call that the host side may still hold: take it back off
 * the queue if it is there (then the host never delivers it). */
static void client_direct_abort(client_direct *op, bool closing)
{
	cn_bus_client *c = op->c;
	int where = cn_bus_ip_cancel(c->ep, &op->req);
	if (where != 0)
		client_direct_unref(op); /* the host side's reference */
	cn_err err;
	if (closing)
		client_closed_err(c, op->request_id, &err);
	else
		client_timeout_err(c, op->request_id, op->started_ms, op->deadline_ms, where != 2,
		                   &err);
	cn_bus_reply none;
	memset(&none, 0, sizeof none);
	client_direct_finish(op, CN_TEMPORARILY_UNAVAILABLE, &none, &err);
}

/* The host side's outcome, on the worker's thread (or a stopping host's). */
static bool client_direct_deliver(cn_bus_ip_req *r, cn_bus_ip_outcome how, uint8_t *buf, size_t len)
{
	client_direct *op = (client_direct *)(void *)((char *)r - offsetof(client_direct, req));
	if (!client_direct_claim(op, CLIENT_CLAIM_REPLY)) {
		/* The deadline or close got there first; nobody wants this. */
		free(buf);
		client_direct_unref(op);
		return false;
	}
	cn_bus_client *c = op->c;
	cn_bus_reply reply;
	memset(&reply, 0, sizeof reply);
	cn_err err;
	cn_err_clear(&err);
	cn_code code = CN_OK;
	switch (how) {
	case CN_BUS_IP_REPLY:
		/* Verified although our own code built it in this process: the
		 * check is cheap next to the call, and both paths then hand the
		 * caller exactly the same guarantees. */
		code = client_read_reply(c, op->request_id, buf, len, &reply, &err);
		if (code == CN_OK) {
			reply.buf_ = buf;
			buf = NULL;
		} else {
			memset(&reply, 0, sizeof reply);
		}
		break;
	case CN_BUS_IP_EXPIRED:
		code = CN_TEMPORARILY_UNAVAILABLE;
		client_timeout_err(c, op->request_id, op->started_ms, op->deadline_ms, true, &err);
		break;
	case CN_BUS_IP_STOPPED:
		code = CN_TEMPORARILY_UNAVAILABLE;
		cn_err_set(&err, code, "Service '%s' stopped before answering the call (%s)",
		           c->service, c->addr);
		CN_LOGW("BUS-CALL-RESET", op->request_id, "%s", err.msg);
		break;
	case CN_BUS_IP_FAILED:
	default:
		code = CN_INTERNAL_ERROR;
		cn_err_set(&err, code, "Call to service '%s' failed (%s): no reply could be built",
		           c->service, c->addr);
		CN_LOGE("BUS-CALL-FAILED", op->request_id, "%s", err.msg);
		break;
	}
	free(buf);
	client_direct_finish(op, code, &reply, &err);
	client_direct_unref(op); /* the host side's reference */
	return true;
}

/* Absolute CLOCK_MONOTONIC time ms milliseconds from now. */
static struct timespec client_mono_after(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* The deadline thread: sleeps until the earliest deadline among the calls
 * in flight, fails the calls whose deadline passed, and sleeps again. A
 * new call wakes it only if its deadline is earlier than the one it sleeps
 * towards, and a completed call never does (a wake-up finds nothing and
 * rescans), so under steady load it wakes about once per deadline span,
 * not per call. */
static void *client_timer_main(void *arg)
{
	cn_bus_client *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->timer_stop) {
		int64_t now = cn_now_ms();
		int64_t next = INT64_MAX;
		client_direct *batch = NULL;
		for (client_direct *op = c->calls_head; op; op = op->next) {
			if (op->deadline_ms > now) {
				if (op->deadline_ms < next)
					next = op->deadline_ms;
			} else if (client_direct_claim(op, CLIENT_CLAIM_ABORT)) {
				op->batch = batch;
				batch = op;
			}
		}
		c->timer_at = next;
		if (batch) {
			/* Completions run callbacks and take locks: not under mu. */
			pthread_mutex_unlock(&c->mu);
			while (batch) {
				client_direct *op = batch;
				batch = op->batch;
				client_direct_abort(op, false);
			}
			pthread_mutex_lock(&c->mu);
			continue;
		}
		if (next == INT64_MAX) {
			pthread_cond_wait(&c->timer_cv, &c->mu);
		} else {
			int64_t wait = next - now;
			struct timespec until = client_mono_after(wait > 1 ? wait : 1);
			pthread_cond_timedwait(&c->timer_cv, &c->mu, &until);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static cn_code client_call_direct(cn_bus_client *c, const cn_bus_call *call,
                                  const char *client_addr, const char *rid, int64_t now,
                                  cn_bus_done_fn done, void *arg, cn_err *err)
{
	size_t plen = call->payload ? call->payload_len : 0;
	cn_fb_builder *b = client_builder_take(c, plen);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_bus_env_out f = {
	        .kind = CN_Kind_REQUEST,
	        .request_id = rid,
	        .method = call->method,
	        .caller = call->caller,
	        .client_addr = client_addr,
	        .deadline_ms = call->deadline_ms,
	        .payload = call->payload,
	        .payload_len = plen,
	};
	const uint8_t *env = NULL;
	size_t env_len = 0;
	cn_code rc = cn_bus_env_encode(b, &f, &env, &env_len, err);
	if (rc != CN_OK) {
		client_builder_give(c, b, plen);
		return rc;
	}
	size_t rid_size = strlen(rid) + 1;
	/* One allocation per call: the call, its envelope and its id. */
	client_direct *op = malloc(sizeof *op + env_len + rid_size);
	if (!op) {
		client_builder_give(c, b, plen);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	memset(op, 0, sizeof *op);
	uint8_t *id = op->data + env_len;
	memcpy(op->data, env, env_len);
	memcpy(id, rid, rid_size);
	client_builder_give(c, b, plen);
	op->req.env = op->data;
	op->req.env_len = env_len;
	op->req.deliver = client_direct_deliver;
	op->c = c;
	atomic_init(&op->claimed, CLIENT_CLAIM_NONE);
	/* The caller's own reference keeps op alive through the push below,
	 * which a fast reply or the deadline thread may overtake. */
	atomic_init(&op->refs, 3);
	op->started_ms = now;
	op->deadline_ms = call->deadline_ms;
	op->done = done;
	op->arg = arg;
	op->request_id = (const char *)id;

	atomic_fetch_add(&c->calls, 1);
	atomic_fetch_add(&c->in_flight, 1); /* before a worker can complete it */
	/* List the call before queueing it, so that its completion (which
	 * unlists it) cannot come first; queue it outside mu, which the
	 * completions of other calls need. */
	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		atomic_fetch_sub(&c->in_flight, 1);
		atomic_fetch_add(&c->timeouts, 1);
		free(op);
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "cannot start a call to service '%s': client closed", c->service);
	}
	op->next = c->calls_head;
	if (op->next)
		op->next->prev = op;
	c->calls_head = op;
	c->pending++;
	if (op->deadline_ms < c->timer_at) {
		c->timer_at = op->deadline_ms;
		pthread_cond_signal(&c->timer_cv);
	}
	pthread_mutex_unlock(&c->mu);
	rc = cn_bus_ip_push(c->ep, &op->req, err);
	if (rc == CN_OK) {
		/* Listed before queued: the deadline thread may have failed the
		 * call in between, and its cancel found nothing to take back.
		 * Take it back now, or it would wait on the queue for nobody. */
		if (atomic_load(&op->claimed) == CLIENT_CLAIM_ABORT &&
		    cn_bus_ip_cancel(c->ep, &op->req) != 0)
			client_direct_unref(op); /* the host side's */
		client_direct_unref(op);         /* the caller's */
		return CN_OK;
	}
	CN_LOGW("BUS-CALL-REFUSED", rid, "%s", err ? err->msg : "");
	if (!client_direct_claim(op, CLIENT_CLAIM_ABORT)) {
		/* The deadline or close got it in the meantime and completes
		 * it with its own error: to the caller the call started. */
		client_direct_unref(op); /* the host side's: it never had the call */
		client_direct_unref(op); /* the caller's */
		return CN_OK;
	}
	/* Ours to undo, every reference included: `done` never runs. */
	client_direct_unlist(c, op);
	atomic_fetch_sub(&c->in_flight, 1);
	atomic_fetch_add(&c->timeouts, 1);
	free(op);
	return rc;
}

/* Fail every call still in flight, wait for every completion, stop the
 * deadline thread. */
static void client_close_direct(cn_bus_client *c)
{
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	client_direct *batch = NULL;
	for (client_direct *op = c->calls_head; op; op = op->next)
		if (client_direct_claim(op, CLIENT_CLAIM_ABORT)) {
			op->batch = batch;
			batch = op;
		}
	pthread_mutex_unlock(&c->mu);
	while (batch) {
		client_direct *op = batch;
		batch = op->batch;
		client_direct_abort(op, true);
	}
	pthread_mutex_lock(&c->mu);
	/* Completions claimed by a worker or the deadline thread. */
	while (c->pending > 0)
		pthread_cond_wait(&c->idle, &c->mu);
	c->timer_stop = true;
	pthread_cond_signal(&c->timer_cv);
	pthread_mutex_unlock(&c->mu);
	if (c->has_timer)
		pthread_join(c->timer, NULL);
	/* Calls a busy worker still holds are freed by that worker. */
	cn_bus_ip_release(c->ep);
}

/* ---- opening, closing, calling -------------------------------------------- */

static cn_code client_open_nng(cn_bus_client *c, const char *addr, const cn_bus_tls *tls,
                               const char *what, cn_err *err)
{
	int rv = nng_req0_open(&c->sock);
	if (rv != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot open REQ socket: %s", what,
		                  nng_strerror(rv));
	cn_code rc = cn_bus_tr_socket_setup(c->sock, err);
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
	if (rc != CN_OK)
		nng_close(c->sock);
	return rc;
}

static cn_code client_open_direct(cn_bus_client *c, const char *addr, const char *what, cn_err *err)
{
	cn_code rc = cn_bus_ip_open(&c->ep, addr, err);
	if (rc != CN_OK)
		return rc;
	c->timer_at = INT64_MAX;
	if (pthread_create(&c->timer, NULL, client_timer_main, c) != 0) {
		cn_bus_ip_release(c->ep);
		c->ep = NULL;
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: cannot start the deadline thread",
		                  what);
	}
	c->has_timer = true;
	return CN_OK;
}

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
	pthread_mutex_init(&c->spare_mu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->idle, NULL);
	/* The deadline thread sleeps on the monotonic clock: a wall-clock
	 * step must not make it oversleep by hours. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->timer_cv, &ca);
	pthread_condattr_destroy(&ca);

	char what[200];
	snprintf(what, sizeof what, "bus client of service '%s'", service_name);
	cn_code rc = cn_bus_ip_is_direct(addr) ? client_open_direct(c, addr, what, err)
	                                       : client_open_nng(c, addr, tls, what, err);
	if (rc != CN_OK) {
		pthread_cond_destroy(&c->timer_cv);
		pthread_cond_destroy(&c->idle);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->spare_mu);
		free(c->service);
		free(c->addr);
		free(c);
		return rc;
	}
	CN_LOGD("BUS-CLIENT-OPEN", NULL, "client of service '%s' %s %s", service_name,
	        c->ep ? "calling directly in-process at" : "dialling", addr);
	*out = c;
	return CN_OK;
}

void cn_bus_client_close(cn_bus_client *c)
{
	if (!c)
		return;
	if (c->ep) {
		client_close_direct(c);
	} else {
		/* Closing the socket fails every call still in flight; wait for
		 * their completions, which touch c, before freeing it. */
		nng_close(c->sock);
		pthread_mutex_lock(&c->mu);
		while (c->pending > 0)
			pthread_cond_wait(&c->idle, &c->mu);
		pthread_mutex_unlock(&c->mu);
	}
	for (int i = 0; i < c->nspare; i++)
		cn_fb_builder_free(c->spare[i]);
	pthread_cond_destroy(&c->timer_cv);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->spare_mu);
	free(c->service);
	free(c->addr);
	free(c);
}

cn_code cn_bus_call_async(cn_bus_client *c, const cn_bus_call *call, cn_bus_done_fn done, void *arg,
                          cn_err *err)
{
	return cn_bus_call_async_from(c, call, NULL, done, arg, err);
}

cn_code cn_bus_call_async_from(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                               cn_bus_done_fn done, void *arg, cn_err *err)
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
	if (c->ep)
		return client_call_direct(c, call, client_addr, rid, now, done, arg, err);
	return client_call_nng(c, call, client_addr, rid, now, left, done, arg, err);
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

/* The blocking call, on behalf of client_addr (may be NULL). */
static cn_code client_call_wait(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                                cn_bus_reply *reply, cn_err *err)
{
	memset(reply, 0, sizeof *reply);
	client_wait w;
	memset(&w, 0, sizeof w);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	cn_code rc = cn_bus_call_async_from(c, call, client_addr, client_wait_done, &w, err);
	if (rc == CN_OK) {
		/* Bounded: the call's deadline (nng's aio timeout, or the
		 * client's deadline thread on inproc://) ends it. */
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

cn_code cn_bus_call_sync(cn_bus_client *c, const cn_bus_call *call, cn_bus_reply *reply,
                         cn_err *err)
{
	return client_call_wait(c, call, NULL, reply, err);
}

/* ---- on the caller's thread ------------------------------------------------ */

/* Serve the call with host h (entered) on this thread; see cn_bus_call_here. */
static cn_code client_call_here(cn_bus_client *c, cn_bus_host *h, const cn_bus_call *call,
                                const char *client_addr, const char *rid, cn_fb_builder *b,
                                cn_bus_reply *reply, cn_err *err)
{
	cn_bus_request req = {
	        .method = call->method,
	        .request_id = rid,
	        .caller = call->caller ? call->caller : "",
	        .deadline_ms = call->deadline_ms,
	        .payload = call->payload_len ? call->payload : NULL,
	        .payload_len = call->payload ? call->payload_len : 0,
	        .client_addr = client_addr ? client_addr : "",
	};
	cn_err herr;
	cn_err_clear(&herr);
	const uint8_t *bytes = NULL;
	size_t len = 0;
	bool expired = false;
	int64_t started = cn_now_ms();
	cn_code code = cn_bus_host_serve_here(h, &req, b, &bytes, &len, &expired, &herr);
	if (expired) {
		client_timeout_err(c, rid, started, call->deadline_ms, true, err);
		return CN_TEMPORARILY_UNAVAILABLE;
	}
	reply->code = code;
	if (code == CN_OK) {
		reply->message = "";
		reply->payload = bytes;
		reply->payload_len = len;
		return CN_OK;
	}
	/* The message is the reply's own, as on the other paths. */
	char *msg = strdup(herr.msg);
	if (!msg) {
		memset(reply, 0, sizeof *reply);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	reply->buf_ = msg;
	reply->message = msg;
	return CN_OK;
}

cn_code cn_bus_call_here(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                         cn_fb_builder *b, cn_bus_reply *reply, cn_err *err)
{
	memset(reply, 0, sizeof *reply);
	if (!c || !call || !call->method || !b || call->deadline_ms <= 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "bus call needs a client, a method, a builder and a deadline");
	if (!c->ep)
		return client_call_wait(c, call, client_addr, reply, err);
	bool busy = false;
	cn_bus_host *h = (cn_bus_host *)cn_bus_ip_enter(c->ep, call->deadline_ms, &busy);
	if (!h && !busy) /* no host yet: queue the call for the one to come */
		return client_call_wait(c, call, client_addr, reply, err);
	char gen[CN_ID_HEX32_LEN + 1];
	const char *rid = call->request_id;
	if (!rid || !rid[0]) {
		cn_id_request(gen);
		rid = gen;
	}
	atomic_fetch_add(&c->calls, 1);
	if (!h) {
		atomic_fetch_add(&c->timeouts, 1);
		cn_err_set(
		        err, CN_TEMPORARILY_UNAVAILABLE,
		        "Service '%s' is busy: no room to serve the call before its deadline (%s)",
		        c->service, c->addr);
		CN_LOGW("BUS-CALL-TIMEOUT", rid, "%s", err->msg);
		return CN_TEMPORARILY_UNAVAILABLE;
	}
	atomic_fetch_add(&c->in_flight, 1);
	cn_err e;
	cn_err_clear(&e);
	cn_code rc = client_call_here(c, h, call, client_addr, rid, b, reply, &e);
	cn_bus_ip_leave(c->ep);
	if (rc != CN_OK && err)
		*err = e;
	client_count(c, rc, reply);
	return rc;
}
