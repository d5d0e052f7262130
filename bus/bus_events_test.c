/* bus/bus_events_test.c: PUB/SUB events: delivery, topic filtering, garbage, close. */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "bus/bus_int.h"
#include "bus/bus_testutil.h"
#include "cn_test.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

#define SEEN_MAX 64

/* What one subscriber saw. */
typedef struct seen {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	int warm; /* warm-up events, counted apart: they may still land late */
	char topic[SEEN_MAX][64];
	char rid[SEEN_MAX][64];
	char text[SEEN_MAX][64];
} seen;

static void seen_init(seen *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

static void seen_fn(void *arg, const char *topic, const char *rid, const uint8_t *p, size_t len)
{
	seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (strcmp(topic, "tracking.warmup") == 0)
		s->warm++;
	else if (s->n < SEEN_MAX) {
		snprintf(s->topic[s->n], 64, "%s", topic);
		snprintf(s->rid[s->n], 64, "%s", rid);
		if (!tu_payload_text(p, len, s->text[s->n], 64))
			snprintf(s->text[s->n], 64, "(bad payload)");
		s->n++;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Wait (at most 10 s) for at least n events; returns the count. */
static int seen_wait(seen *s, int n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&s->mu);
	while (s->n < n && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
		;
	int got = s->n;
	pthread_mutex_unlock(&s->mu);
	return got;
}

static int seen_count(seen *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static int seen_warm(seen *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->warm;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static cn_code publish_text(cn_bus_pub *p, const char *topic, const char *rid, const char *text)
{
	size_t len;
	uint8_t *buf = tu_payload(text, 0, &len);
	cn_code rc = cn_bus_publish(p, topic, rid, buf, len);
	free(buf);
	return rc;
}

/* PUB/SUB connects asynchronously and drops until then: publish a warm-up
 * event until the subscriber has seen one (at most 10 s). */
static int warm_up(cn_bus_pub *p, seen *s)
{
	for (int i = 0; i < 200; i++) {
		publish_text(p, "tracking.warmup", NULL, "warm");
		tu_sleep_ms(50);
		if (seen_warm(s) > 0)
			return 0;
	}
	return -1;
}

static void pubsub_over(const char *addr)
{
	cn_err err;
	cn_bus_pub *p = NULL;
	cn_bus_sub *all = NULL, *tracking = NULL;
	seen s_all, s_tr;
	seen_init(&s_all);
	seen_init(&s_tr);
	CN_CHECK_EQ_INT(cn_bus_pub_open(&p, addr, NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_sub_open(&all, addr, NULL, "", seen_fn, &s_all, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_sub_open(&tracking, addr, NULL, "tracking.", seen_fn, &s_tr, &err),
	                CN_OK);
	if (!p || !all || !tracking)
		goto out;
	CN_CHECK_EQ_INT(warm_up(p, &s_all), 0);
	CN_CHECK_EQ_INT(warm_up(p, &s_tr), 0);

	CN_CHECK_EQ_INT(publish_text(p, "registry.model.created", "rid-1", "model m"), CN_OK);
	CN_CHECK_EQ_INT(publish_text(p, "tracking.run.finished", "rid-2", "run r"), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_publish(p, "trackingx.other", NULL, NULL, 0), CN_OK);
	CN_CHECK_EQ_INT(publish_text(p, "tracking.sentinel", NULL, "end"), CN_OK);
	CN_CHECK_EQ_INT(seen_wait(&s_all, 4), 4);
	/* Events on one connection arrive in order: had the filter let the
	 * registry or "trackingx" events in, they would sit before the sentinel. */
	CN_CHECK_EQ_INT(seen_wait(&s_tr, 2), 2);
	CN_CHECK_STR(s_tr.topic[1], "tracking.sentinel");
	CN_CHECK_STR(s_all.topic[0], "registry.model.created");
	CN_CHECK_STR(s_all.rid[0], "rid-1");
	CN_CHECK_STR(s_all.text[0], "model m");
	CN_CHECK_STR(s_all.topic[2], "trackingx.other");
	CN_CHECK_STR(s_all.rid[2], "");
	CN_CHECK_STR(s_tr.topic[0], "tracking.run.finished");
	CN_CHECK_STR(s_tr.rid[0], "rid-2");
	CN_CHECK_STR(s_tr.text[0], "run r");

	/* After close, nothing more is delivered to that subscriber. */
	cn_bus_sub_close(tracking);
	tracking = NULL;
	int after = seen_count(&s_tr);
	CN_CHECK_EQ_INT(publish_text(p, "tracking.run.deleted", NULL, "gone"), CN_OK);
	CN_CHECK_EQ_INT(seen_wait(&s_all, 5), 5);
	CN_CHECK_EQ_INT(seen_count(&s_tr), after);

	cn_bus_pub_stats ps;
	cn_bus_pub_stats_get(p, &ps);
	CN_CHECK(ps.published >= 5);
	CN_CHECK_EQ_INT(ps.dropped, 0);
out:
	cn_bus_sub_close(tracking);
	cn_bus_sub_close(all);
	cn_bus_pub_close(p);
}

CN_TEST(pubsub_inproc)
{
	/* Events take nng's inproc transport under both schemes. */
	pubsub_over("inproc://bus-test-events");
}

CN_TEST(pubsub_nng_inproc)
{
	pubsub_over("nng+inproc://bus-test-events-nng");
}

CN_TEST(pubsub_tcp)
{
	char addr[64];
	snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", tu_free_port());
	pubsub_over(addr);
}

CN_TEST(subscriber_drops_garbage)
{
	const char *addr = "inproc://bus-test-raw-pub";
	nng_socket raw;
	CN_CHECK_EQ_INT(nng_pub0_open(&raw), 0);
	CN_CHECK_EQ_INT(nng_listen(raw, addr, NULL, 0), 0);
	cn_err err;
	cn_bus_sub *s;
	seen got;
	seen_init(&got);
	CN_CHECK_EQ_INT(cn_bus_sub_open(&s, addr, NULL, "", seen_fn, &got, &err), CN_OK);
	size_t len;
	uint8_t *req = tu_payload("x", 0, &len); /* an Envelope, but kind REQUEST */
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_env_out f = {.kind = CN_Kind_EVENT, .method = "raw.valid", .request_id = "r"};
	nng_msg *valid;
	CN_CHECK_EQ_INT(cn_bus_env_build(b, &f, &valid, &err), CN_OK);
	/* Garbage and then a real event, until a real one has arrived. */
	for (int i = 0; i < 500 && seen_count(&got) == 0; i++) {
		nng_send(raw, "garbage bytes", 13, 0);
		nng_send(raw, "", 0, 0);
		nng_send(raw, req, len, 0);
		nng_send(raw, nng_msg_body(valid), nng_msg_len(valid), 0);
		tu_sleep_ms(20);
	}
	int n = seen_count(&got);
	CN_CHECK(n > 0);
	/* Only the well-formed events got through. */
	for (int i = 0; i < n && i < SEEN_MAX; i++)
		CN_CHECK_STR(got.topic[i], "raw.valid");
	cn_bus_sub_close(s);
	nng_msg_free(valid);
	cn_fb_builder_free(b);
	free(req);
	nng_close(raw);
}

CN_TEST(publish_errors)
{
	cn_err err;
	cn_bus_pub *p = NULL;
	CN_CHECK_EQ_INT(cn_bus_pub_open(&p, "bogus://x", NULL, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(p == NULL);
	CN_CHECK_EQ_INT(cn_bus_pub_open(&p, "inproc://bus-test-pub-errors", NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_publish(p, "", NULL, NULL, 0), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_bus_publish(p, NULL, NULL, NULL, 0), CN_INVALID_PARAMETER_VALUE);
	/* No subscriber: still fine, PUB drops. */
	CN_CHECK_EQ_INT(cn_bus_publish(p, "t", "r", "abc", 3), CN_OK);
	cn_bus_pub *dup = NULL;
	CN_CHECK(cn_bus_pub_open(&dup, "inproc://bus-test-pub-errors", NULL, &err) != CN_OK);
	CN_CHECK(dup == NULL);
	cn_bus_sub *s = NULL;
	CN_CHECK_EQ_INT(cn_bus_sub_open(&s, "inproc://x", NULL, "", NULL, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	char tls_addr[64];
	snprintf(tls_addr, sizeof tls_addr, "tls+tcp://127.0.0.1:%d", tu_free_port());
	CN_CHECK_EQ_INT(cn_bus_pub_open(&dup, tls_addr, NULL, &err), CN_INVALID_PARAMETER_VALUE);
	cn_bus_pub_close(p);
	cn_bus_pub_close(NULL);
	cn_bus_sub_close(NULL);
}

static void events_setup(void) __attribute__((constructor));
static void events_setup(void)
{
	const char *lvl = getenv("CN_TEST_LOG");
	cn_log_init(lvl ? cn_log_level_from_name(lvl) : CN_LOG_OFF, 0);
}

CN_TEST_MAIN()
