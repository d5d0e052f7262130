/*
 * bus/bus_here_test.c: cn_bus_call_here, calls served on the caller's own
 * thread: where they run, errors and deadlines, the bound they share with
 * the host's workers, the fallbacks, and a host stop during one.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "bus/bus_testutil.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/log.h"

/* The test handler, noting the thread that ran the last call. */
typedef struct here_svc {
	pthread_t thread;
	atomic_int calls;
} here_svc;

static cn_code here_handler(void *arg, const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp,
                            cn_err *err)
{
	here_svc *s = arg;
	s->thread = pthread_self();
	atomic_fetch_add(&s->calls, 1);
	return tu_handler(NULL, req, b, resp, err);
}

/* call_here of method with text/num, deadline timeout_ms from now. */
static cn_code here_call(cn_bus_client *c, cn_fb_builder *b, const char *method, const char *text,
                         int64_t num, int64_t timeout_ms, cn_bus_reply *reply, cn_err *err)
{
	size_t len;
	uint8_t *p = tu_payload(text, num, &len);
	cn_bus_call call = {.method = method,
	                    .request_id = "rid-here",
	                    .caller = "alice",
	                    .deadline_ms = cn_now_ms() + timeout_ms,
	                    .payload = p,
	                    .payload_len = len};
	cn_err_clear(err);
	cn_code rc = cn_bus_call_here(c, &call, "10.0.0.1:5", b, reply, err);
	free(p);
	return rc;
}

static const char *here_text(const cn_bus_reply *r, char *out, size_t cap)
{
	return tu_payload_text(r->payload, r->payload_len, out, cap);
}

CN_TEST(here_runs_on_the_callers_thread)
{
	const char *addr = "inproc://here-thread";
	here_svc s = {0};
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, addr, NULL, 2, here_handler, &s, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_reply r;
	char text[128];
	CN_CHECK_EQ_INT(here_call(c, b, "Who", "", 0, 5000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_OK);
	CN_CHECK_STR(here_text(&r, text, sizeof text), "rid-here|alice");
	CN_CHECK(pthread_equal(s.thread, pthread_self()));
	cn_bus_reply_free(&r);

	/* A handler's error is a reply with its code; its message is owned
	 * by the reply (ASan checks the free). */
	CN_CHECK_EQ_INT(here_call(c, b, "Fail", "exp-9", 0, 5000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK(tu_has(r.message, "Experiment 'exp-9' does not exist"));
	CN_CHECK(r.payload == NULL);
	cn_bus_reply_free(&r);

	/* A deadline already passed: the handler does not run. */
	int before = atomic_load(&s.calls);
	CN_CHECK_EQ_INT(here_call(c, b, "Echo", "late", 0, -5, &r, &err),
	                CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(err.msg, "Service 'tracking' did not answer"));
	CN_CHECK_EQ_INT(atomic_load(&s.calls), before);

	cn_bus_host_stats hs;
	cn_bus_host_stats_get(h, &hs);
	CN_CHECK_EQ_INT(hs.requests, 3);
	CN_CHECK_EQ_INT(hs.errors, 1);
	CN_CHECK_EQ_INT(hs.expired, 1);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.calls, 3);
	CN_CHECK_EQ_INT(st.replies, 2);
	CN_CHECK_EQ_INT(st.error_replies, 1);
	CN_CHECK_EQ_INT(st.timeouts, 1);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_fb_builder_free(b);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

typedef struct here_async {
	atomic_int done;
	cn_code code;
} here_async;

static void here_async_done(void *arg, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	here_async *a = arg;
	a->code = code;
	cn_bus_reply_free(reply);
	atomic_store(&a->done, 1);
}

static int here_wait_requests(cn_bus_host *h, uint64_t n)
{
	for (int i = 0; i < 1000; i++) {
		cn_bus_host_stats hs;
		cn_bus_host_stats_get(h, &hs);
		if (hs.requests >= n)
			return 1;
		tu_sleep_ms(5);
	}
	return 0;
}

CN_TEST(here_shares_the_hosts_bound_with_its_workers)
{
	const char *addr = "inproc://here-bound";
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	/* The one worker is busy for 800 ms. */
	here_async a = {0};
	size_t len;
	uint8_t *p = tu_payload("slow", 800, &len);
	cn_bus_call call = {.method = "Sleep",
	                    .deadline_ms = cn_now_ms() + 5000,
	                    .payload = p,
	                    .payload_len = len};
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &call, here_async_done, &a, &err), CN_OK);
	free(p);
	CN_CHECK(here_wait_requests(h, 1));
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_reply r;
	/* No room before a 100 ms deadline. */
	int64_t t0 = tu_now_ms();
	CN_CHECK_EQ_INT(here_call(c, b, "Echo", "x", 0, 100, &r, &err), CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(err.msg, "Service 'tracking' is busy"));
	CN_CHECK(tu_now_ms() - t0 >= 90);
	/* Room once the worker is done. */
	char text[64];
	CN_CHECK_EQ_INT(here_call(c, b, "Echo", "after", 0, 5000, &r, &err), CN_OK);
	CN_CHECK_STR(here_text(&r, text, sizeof text), "after");
	CN_CHECK_EQ_INT(atomic_load(&a.done), 1);
	CN_CHECK_EQ_INT(a.code, CN_OK);
	cn_bus_reply_free(&r);
	cn_fb_builder_free(b);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

typedef struct here_later {
	const char *addr;
	cn_bus_host *h;
} here_later;

static void *here_start_later(void *arg)
{
	here_later *l = arg;
	tu_sleep_ms(150);
	cn_err err;
	if (tu_host(&l->h, l->addr, NULL, 2, &err) != CN_OK)
		l->h = NULL;
	return NULL;
}

CN_TEST(here_falls_back_to_the_queue_and_to_nng)
{
	/* No host yet: the call waits on the queue for the one to come. */
	here_later l = {.addr = "inproc://here-later"};
	cn_err err;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", l.addr, NULL, &err), CN_OK);
	pthread_t th;
	pthread_create(&th, NULL, here_start_later, &l);
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_reply r;
	char text[64];
	CN_CHECK_EQ_INT(here_call(c, b, "Echo", "queued", 0, 5000, &r, &err), CN_OK);
	CN_CHECK_STR(here_text(&r, text, sizeof text), "queued");
	cn_bus_reply_free(&r);
	pthread_join(th, NULL);
	CN_CHECK(l.h != NULL);
	cn_bus_client_close(c);
	cn_bus_host_stop(l.h);

	/* Not the direct path: an ordinary blocking call. */
	const char *addr = "nng+inproc://here-nng";
	cn_bus_host *h;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(here_call(c, b, "Who", "", 0, 5000, &r, &err), CN_OK);
	CN_CHECK_STR(here_text(&r, text, sizeof text), "rid-here|alice");
	cn_bus_reply_free(&r);
	cn_fb_builder_free(b);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

typedef struct here_slow {
	cn_bus_client *c;
	cn_code code;
	char text[64];
} here_slow;

static void *here_slow_call(void *arg)
{
	here_slow *s = arg;
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_reply r;
	cn_err err;
	s->code = here_call(s->c, b, "Sleep", "slow", 400, 5000, &r, &err);
	if (s->code == CN_OK)
		here_text(&r, s->text, sizeof s->text);
	cn_bus_reply_free(&r);
	cn_fb_builder_free(b);
	return NULL;
}

CN_TEST(host_stop_waits_for_calls_served_here)
{
	const char *addr = "inproc://here-stop";
	cn_err err;
	cn_bus_host *h;
	here_slow s = {0};
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&s.c, "tracking", addr, NULL, &err), CN_OK);
	pthread_t th;
	pthread_create(&th, NULL, here_slow_call, &s);
	CN_CHECK(here_wait_requests(h, 1));
	int64_t t0 = tu_now_ms();
	cn_bus_host_stop(h); /* the handler uses the host until it returns */
	CN_CHECK(tu_now_ms() - t0 >= 200);
	pthread_join(th, NULL);
	CN_CHECK_EQ_INT(s.code, CN_OK);
	CN_CHECK_STR(s.text, "slow");
	cn_bus_client_close(s.c);
}

static void here_quiet(void) __attribute__((constructor));
static void here_quiet(void)
{
	/* Tests provoke warnings on purpose; CN_TEST_LOG=debug shows them. */
	const char *lvl = getenv("CN_TEST_LOG");
	cn_log_init(lvl ? cn_log_level_from_name(lvl) : CN_LOG_OFF, 0);
}

CN_TEST_MAIN()
