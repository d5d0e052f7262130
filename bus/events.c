/*
 * bus/events.c: change events over PUB/SUB.
 *
 * The topic travels inside the Envelope (its `method`), not as a byte
 * prefix of the message, so nng's own prefix subscriptions cannot match it:
 * subscribers take everything ("") and filter after verifying the envelope.
 * The subscriber is an aio receive loop: each completion delivers one event
 * and starts the next receive; closing the socket ends the loop.
 */
#include "bus/bus_int.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "schemas/cairn_schema.h"

struct cn_bus_pub {
	nng_socket sock;
	char *addr;
	pthread_mutex_t mu; /* guards b: publishers share one envelope builder */
	cn_fb_builder *b;
	atomic_uint_fast64_t published, dropped;
};

struct cn_bus_sub {
	nng_socket sock;
	nng_aio *aio;
	char *addr;
	char *prefix;
	size_t prefix_len;
	cn_bus_event_fn fn;
	void *arg;
};

cn_code cn_bus_pub_open(cn_bus_pub **out, const char *addr, const cn_bus_tls *tls, cn_err *err)
{
	*out = NULL;
	if (!addr)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "event publisher needs an address");
	cn_bus_pub *p = calloc(1, sizeof *p);
	if (!p)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	p->addr = strdup(addr);
	p->b = cn_fb_builder_new(1024);
	if (!p->addr || !p->b) {
		free(p->addr);
		cn_fb_builder_free(p->b);
		free(p);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	pthread_mutex_init(&p->mu, NULL);
	cn_code rc = CN_OK;
	int rv = nng_pub0_open(&p->sock);
	if (rv != 0) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "event publisher: cannot open socket: %s",
		                nng_strerror(rv));
	} else {
		rc = cn_bus_tr_listen(p->sock, addr, tls, "event publisher", err);
		if (rc != CN_OK)
			nng_close(p->sock);
	}
	if (rc != CN_OK) {
		pthread_mutex_destroy(&p->mu);
		cn_fb_builder_free(p->b);
		free(p->addr);
		free(p);
		return rc;
	}
	CN_LOGI("BUS-PUB-START", NULL, "publishing events on %s", addr);
	*out = p;
	return CN_OK;
}

void cn_bus_pub_close(cn_bus_pub *p)
{
	if (!p)
		return;
	nng_close(p->sock);
	pthread_mutex_destroy(&p->mu);
	cn_fb_builder_free(p->b);
	free(p->addr);
	free(p);
}

void cn_bus_pub_stats_get(cn_bus_pub *p, cn_bus_pub_stats *out)
{
	out->published = atomic_load(&p->published);
	out->dropped = atomic_load(&p->dropped);
}

cn_code cn_bus_publish(cn_bus_pub *p, const char *topic, const char *request_id,
                       const void *payload, size_t len)
{
	if (!p || !topic || !topic[0])
		return CN_INVALID_PARAMETER_VALUE;
	cn_bus_env_out f = {
	        .kind = CN_Kind_EVENT,
	        .request_id = request_id,
	        .method = topic,
	        .payload = payload,
	        .payload_len = payload ? len : 0,
	};
	nng_msg *msg;
	cn_err err;
	pthread_mutex_lock(&p->mu);
	cn_code rc = cn_bus_env_build(p->b, &f, &msg, &err);
	pthread_mutex_unlock(&p->mu);
	if (rc != CN_OK) {
		atomic_fetch_add(&p->dropped, 1);
		CN_LOGW("BUS-EVENT-DROPPED", request_id, "event %s not published: %s", topic,
		        err.msg);
		return rc;
	}
	int rv = nng_sendmsg(p->sock, msg, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		nng_msg_free(msg); /* a failed send leaves it with us */
		atomic_fetch_add(&p->dropped, 1);
		CN_LOGD("BUS-EVENT-DROPPED", request_id, "event %s dropped on %s: %s", topic,
		        p->addr, nng_strerror(rv));
		return CN_TEMPORARILY_UNAVAILABLE;
	}
	atomic_fetch_add(&p->published, 1);
	return CN_OK;
}

/* Deliver one received event if it is well-formed and matches. */
static void events_deliver(cn_bus_sub *s, nng_msg *msg)
{
	cn_bus_env_in in;
	cn_err err;
	if (cn_bus_env_parse(nng_msg_body(msg), nng_msg_len(msg), &in, &err) != CN_OK) {
		CN_LOGW("BUS-BAD-ENVELOPE", NULL, "event from %s dropped: %s", s->addr, err.msg);
		return;
	}
	if (in.kind != CN_Kind_EVENT || !in.method[0]) {
		CN_LOGW("BUS-BAD-ENVELOPE", in.request_id,
		        "event from %s dropped: kind %d, topic '%s'", s->addr, in.kind, in.method);
		return;
	}
	if (strncmp(in.method, s->prefix, s->prefix_len) != 0)
		return;
	s->fn(s->arg, in.method, in.request_id, in.payload, in.payload_len);
}

static void events_recv_cb(void *arg)
{
	cn_bus_sub *s = arg;
	int rv = nng_aio_result(s->aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return; /* closing: end the loop */
	if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(s->aio);
		nng_aio_set_msg(s->aio, NULL);
		events_deliver(s, msg);
		nng_msg_free(msg);
	} else {
		CN_LOGW("BUS-SUB-RECV-FAILED", NULL, "event receive from %s failed: %s", s->addr,
		        nng_strerror(rv));
	}
	nng_recv_aio(s->sock, s->aio);
}

static void events_sub_free(cn_bus_sub *s)
{
	if (s->aio)
		nng_aio_free(s->aio); /* waits for a callback in progress */
	free(s->prefix);
	free(s->addr);
	free(s);
}

cn_code cn_bus_sub_open(cn_bus_sub **out, const char *addr, const cn_bus_tls *tls,
                        const char *topic_prefix, cn_bus_event_fn fn, void *arg, cn_err *err)
{
	*out = NULL;
	if (!addr || !fn)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "event subscriber needs an address and a callback");
	cn_bus_sub *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	s->addr = strdup(addr);
	s->prefix = strdup(topic_prefix ? topic_prefix : "");
	if (!s->addr || !s->prefix) {
		events_sub_free(s);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	s->prefix_len = strlen(s->prefix);
	s->fn = fn;
	s->arg = arg;
	int rv = nng_sub0_open(&s->sock);
	if (rv != 0) {
		events_sub_free(s);
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "event subscriber: cannot open socket: %s", nng_strerror(rv));
	}
	cn_code rc = cn_bus_tr_socket_setup(s->sock, err);
	if (rc == CN_OK && (rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "event subscriber: subscribe: %s",
		                nng_strerror(rv));
	if (rc == CN_OK && (rv = nng_aio_alloc(&s->aio, events_recv_cb, s)) != 0)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "event subscriber: aio: %s",
		                nng_strerror(rv));
	if (rc == CN_OK)
		rc = cn_bus_tr_dial(s->sock, addr, tls, "event subscriber", err);
	if (rc != CN_OK) {
		nng_close(s->sock);
		events_sub_free(s);
		return rc;
	}
	nng_recv_aio(s->sock, s->aio);
	*out = s;
	return CN_OK;
}

void cn_bus_sub_close(cn_bus_sub *s)
{
	if (!s)
		return;
	/* The pending receive fails with NNG_ECLOSED and the loop ends;
	 * nng_aio_free then waits for any callback still running. */
	nng_close(s->sock);
	events_sub_free(s);
}
