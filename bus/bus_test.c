/*
 * bus/bus_test.c: calls over every transport: round trips, concurrency,
 * errors, deadlines, restarts.
 *
 * inproc:// is the bus's direct path and nng+inproc:// nng's inproc
 * transport; tests written once for both (INPROC_TEST) run on each. Tests
 * of what only one path does say so in their names.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "bus/bus_int.h"
#include "bus/bus_testutil.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

static void tcp_addr(char *out, size_t cap)
{
	snprintf(out, cap, "tcp://127.0.0.1:%d", tu_free_port());
}

#define DIRECT     "inproc://"
#define NNG_INPROC "nng+inproc://"

/* A test body run twice: on the direct path and on nng's inproc. */
#define INPROC_TEST(name)                     \
	static void name(const char *scheme); \
	CN_TEST(name##_direct)                \
	{                                     \
		name(DIRECT);                 \
	}                                     \
	CN_TEST(name##_nng)                   \
	{                                     \
		name(NNG_INPROC);             \
	}                                     \
	static void name(const char *scheme)

/* scheme + name into out; returns out. */
static const char *at(char *out, size_t cap, const char *scheme, const char *name)
{
	snprintf(out, cap, "%s%s", scheme, name);
	return out;
}

/* Echo a short and a large (over nng's default 1 MiB limit) payload. */
static void echo_over(const char *addr)
{
	cn_err err;
	cn_bus_host *h = NULL;
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "echo", addr, NULL, &err), CN_OK);
	if (!h || !c)
		goto out;
	cn_bus_reply r;
	char text[64];
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "hello bus", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_OK);
	CN_CHECK_STR(r.message, "");
	CN_CHECK_STR(tu_payload_text(r.payload, r.payload_len, text, sizeof text), "hello bus");
	cn_bus_reply_free(&r);
	CN_CHECK(r.msg_ == NULL && r.buf_ == NULL && r.payload == NULL);

	size_t big_len = (size_t)3 << 20;
	char *big = malloc(big_len + 1);
	memset(big, 'x', big_len);
	big[big_len] = '\0';
	big[0] = 'B';
	CN_CHECK_EQ_INT(tu_call(c, "Echo", big, 0, 20000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_OK);
	CN_CHECK(r.payload_len > big_len);
	char *back = malloc(big_len + 16);
	CN_CHECK(tu_payload_text(r.payload, r.payload_len, back, big_len + 16) != NULL);
	CN_CHECK(strcmp(back, big) == 0);
	cn_bus_reply_free(&r);
	free(back);
	free(big);

	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.calls, 2);
	CN_CHECK_EQ_INT(st.replies, 2);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	CN_CHECK_EQ_INT(st.timeouts + st.errors + st.error_replies, 0);
out:
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(echo_inproc_direct)
{
	echo_over(DIRECT "bus-test-echo");
}

CN_TEST(echo_inproc_nng)
{
	echo_over(NNG_INPROC "bus-test-echo");
}

CN_TEST(echo_ipc)
{
	char dir[64], addr[128];
	tu_tmpdir(dir, sizeof dir);
	CN_CHECK(dir[0] != '\0');
	snprintf(addr, sizeof addr, "ipc://%s/echo.sock", dir);
	echo_over(addr);
	tu_rmtree(dir);
}

CN_TEST(echo_tcp)
{
	char addr[64];
	tcp_addr(addr, sizeof addr);
	echo_over(addr);
}

INPROC_TEST(request_id_and_caller_reach_the_handler)
{
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-who");
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "who", addr, NULL, &err), CN_OK);
	size_t len;
	uint8_t *p = tu_payload("", 0, &len);
	cn_bus_call call = {.method = "Who",
	                    .request_id = "req-123",
	                    .caller = "alice",
	                    .deadline_ms = cn_now_ms() + 10000,
	                    .payload = p,
	                    .payload_len = len};
	cn_bus_reply r;
	char text[128];
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, &r, &err), CN_OK);
	CN_CHECK_STR(tu_payload_text(r.payload, r.payload_len, text, sizeof text), "req-123|alice");
	cn_bus_reply_free(&r);

	/* Without a request id the client makes one (32 hex digits). */
	call.request_id = NULL;
	call.caller = NULL;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, &r, &err), CN_OK);
	CN_CHECK(tu_payload_text(r.payload, r.payload_len, text, sizeof text) != NULL);
	CN_CHECK_EQ_INT(strlen(text), 33);
	CN_CHECK(text[32] == '|');
	cn_bus_reply_free(&r);
	free(p);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

/* ---- concurrency ------------------------------------------------------- */

typedef struct collect {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, ok, open, fail_code, failed;
	char fail_msg[256]; /* the last failure's message */
} collect;

#define COLLECT_INIT                                                                   \
	{                                                                              \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, "" \
	}

static void collect_done(void *arg, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	collect *k = arg;
	char text[32] = "";
	if (code == CN_OK && reply->code == CN_OK)
		tu_payload_text(reply->payload, reply->payload_len, text, sizeof text);
	cn_bus_reply_free(reply);
	pthread_mutex_lock(&k->mu);
	k->done++;
	if (code == CN_OK) {
		k->ok++;
	} else {
		k->fail_code = code;
		k->failed++;
		snprintf(k->fail_msg, sizeof k->fail_msg, "%.200s", err ? err->msg : "");
	}
	if (strcmp(text, "open") == 0)
		k->open++;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

/* Wait (at most 30 s) until n completions arrived; returns how many did. */
static int collect_wait(collect *k, int n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&k->mu);
	while (k->done < n && pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	int d = k->done;
	pthread_mutex_unlock(&k->mu);
	return d;
}

typedef struct gate_arg {
	cn_bus_client *c;
	collect *k;
	int started;
} gate_arg;

static void *gate_thread(void *arg)
{
	gate_arg *g = arg;
	size_t len;
	uint8_t *p = tu_payload("", 64, &len);
	for (int i = 0; i < 8; i++) {
		cn_bus_call call = {.method = "Gate",
		                    .deadline_ms = cn_now_ms() + 20000,
		                    .payload = p,
		                    .payload_len = len};
		cn_err err;
		if (cn_bus_call_async(g->c, &call, collect_done, g->k, &err) == CN_OK)
			g->started++;
	}
	free(p); /* the call copied it */
	return NULL;
}

/* 64 calls from 8 threads, all inside the handler at once. */
static void sixty_four_over(const char *addr)
{
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 64, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "gate", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	pthread_t th[8];
	gate_arg ga[8];
	for (int i = 0; i < 8; i++) {
		ga[i] = (gate_arg){c, &k, 0};
		pthread_create(&th[i], NULL, gate_thread, &ga[i]);
	}
	int started = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		started += ga[i].started;
	}
	CN_CHECK_EQ_INT(started, 64);
	CN_CHECK_EQ_INT(collect_wait(&k, 64), 64);
	/* Every Gate handler saw 64 calls inside at once: all were in flight together. */
	CN_CHECK_EQ_INT(k.ok, 64);
	CN_CHECK_EQ_INT(k.open, 64);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(sixty_four_calls_in_flight_on_one_client_tcp)
{
	char addr[64];
	tcp_addr(addr, sizeof addr);
	sixty_four_over(addr);
}

CN_TEST(sixty_four_calls_in_flight_on_one_client_direct)
{
	sixty_four_over(DIRECT "bus-test-gate");
}

typedef struct echo_arg {
	cn_bus_client *c;
	int id;
	int good;
} echo_arg;

static void *echo_thread(void *arg)
{
	echo_arg *e = arg;
	for (int i = 0; i < 100; i++) {
		char want[64], got[64];
		snprintf(want, sizeof want, "thread %d call %d", e->id, i);
		cn_bus_reply r;
		cn_err err;
		if (tu_call(e->c, "Echo", want, 0, 20000, &r, &err) != CN_OK)
			continue;
		if (tu_payload_text(r.payload, r.payload_len, got, sizeof got) &&
		    strcmp(got, want) == 0)
			e->good++;
		cn_bus_reply_free(&r);
	}
	return NULL;
}

INPROC_TEST(replies_go_to_their_own_callers)
{
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-many");
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 4, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "echo", addr, NULL, &err), CN_OK);
	pthread_t th[8];
	echo_arg ea[8];
	for (int i = 0; i < 8; i++) {
		ea[i] = (echo_arg){c, i, 0};
		pthread_create(&th[i], NULL, echo_thread, &ea[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CN_CHECK_EQ_INT(ea[i].good, 100);
	}
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.calls, 800);
	CN_CHECK_EQ_INT(st.replies, 800);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

INPROC_TEST(async_calls_complete_once_each)
{
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-async");
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 4, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "echo", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	size_t len;
	uint8_t *p = tu_payload("open", 0, &len);
	for (int i = 0; i < 16; i++) {
		cn_bus_call call = {.method = i % 4 == 3 ? "Fail" : "Echo",
		                    .deadline_ms = cn_now_ms() + 10000,
		                    .payload = p,
		                    .payload_len = len};
		CN_CHECK_EQ_INT(cn_bus_call_async(c, &call, collect_done, &k, &err), CN_OK);
	}
	free(p);
	CN_CHECK_EQ_INT(collect_wait(&k, 16), 16);
	CN_CHECK_EQ_INT(k.ok, 16);   /* every call got a reply ... */
	CN_CHECK_EQ_INT(k.open, 12); /* ... 12 echoes and 4 error replies */
	tu_sleep_ms(50);
	CN_CHECK_EQ_INT(k.done, 16); /* and no callback ran twice */
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.error_replies, 4);

	/* Argument errors fail at once and never call back. */
	cn_bus_call bad = {.method = NULL, .deadline_ms = cn_now_ms() + 1000};
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &bad, collect_done, &k, &err),
	                CN_INVALID_PARAMETER_VALUE);
	bad.method = "Echo";
	bad.deadline_ms = cn_now_ms() - 5;
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &bad, collect_done, &k, &err),
	                CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(err.msg, "deadline"));
	tu_sleep_ms(50);
	CN_CHECK_EQ_INT(k.done, 16);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

INPROC_TEST(close_fails_calls_in_flight)
{
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-close");
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "sleepy", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	size_t len;
	uint8_t *p = tu_payload("zz", 1000, &len);
	cn_bus_call call = {.method = "Sleep",
	                    .deadline_ms = cn_now_ms() + 20000,
	                    .payload = p,
	                    .payload_len = len};
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &call, collect_done, &k, &err), CN_OK);
	free(p);
	tu_sleep_ms(100);
	int64_t t0 = tu_now_ms();
	cn_bus_client_close(c); /* returns after the callback ran */
	CN_CHECK(tu_now_ms() - t0 < 10000);
	CN_CHECK_EQ_INT(k.done, 1);
	CN_CHECK_EQ_INT(k.fail_code, CN_TEMPORARILY_UNAVAILABLE);
	cn_bus_host_stop(h);
}

/* ---- errors ------------------------------------------------------------ */

INPROC_TEST(error_replies_carry_code_and_message)
{
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-errors");
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "errs", addr, NULL, &err), CN_OK);
	cn_bus_reply r;
	CN_CHECK_EQ_INT(tu_call(c, "Fail", "42", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_STR(r.message, "Experiment '42' does not exist");
	CN_CHECK(r.payload == NULL && r.payload_len == 0);
	cn_bus_reply_free(&r);

	CN_CHECK_EQ_INT(tu_call(c, "NoReply", "", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_INTERNAL_ERROR);
	CN_CHECK(tu_has(r.message, "NoReply"));
	cn_bus_reply_free(&r);

	CN_CHECK_EQ_INT(tu_call(c, "Nope", "", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_ENDPOINT_NOT_FOUND);
	cn_bus_reply_free(&r);

	/* A payload the handler cannot verify. */
	cn_bus_call call = {.method = "Echo",
	                    .deadline_ms = cn_now_ms() + 10000,
	                    .payload = "\x01\x02\x03",
	                    .payload_len = 3};
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_INVALID_PARAMETER_VALUE);
	cn_bus_reply_free(&r);

	/* Bad arguments: reply stays zeroed. */
	call.deadline_ms = 0;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, &r, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(r.msg_ == NULL && r.buf_ == NULL && r.payload == NULL);

	cn_bus_host_stats hs;
	cn_bus_host_stats_get(h, &hs);
	CN_CHECK_EQ_INT(hs.requests, 4);
	CN_CHECK_EQ_INT(hs.errors, 4);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.error_replies, 4);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(open_errors)
{
	cn_err err;
	cn_bus_host *h = NULL, *h2 = NULL;
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, "bogus://nowhere", NULL, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(h == NULL);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "x", "bogus://nowhere", NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(c == NULL);
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, NULL, NULL, 1, tu_handler, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);

	char addr[64];
	tcp_addr(addr, sizeof addr);
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_host_start(&h2, addr, NULL, 1, tu_handler, NULL, &err),
	                CN_INTERNAL_ERROR);
	CN_CHECK(tu_has(err.msg, addr));
	CN_CHECK(h2 == NULL);
	cn_bus_host_stop(h);

	/* One host per inproc:// address too; the first keeps serving. */
	const char *ip = DIRECT "bus-test-twice";
	CN_CHECK_EQ_INT(cn_bus_host_start(&h, ip, NULL, 1, tu_handler, NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_host_start(&h2, ip, NULL, 1, tu_handler, NULL, &err),
	                CN_INTERNAL_ERROR);
	CN_CHECK(tu_has(err.msg, ip));
	CN_CHECK(tu_has(err.msg, "in use"));
	CN_CHECK(h2 == NULL);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "twice", ip, NULL, &err), CN_OK);
	cn_bus_reply r;
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "first", 0, 10000, &r, &err), CN_OK);
	cn_bus_reply_free(&r);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);

	cn_bus_host_stop(NULL);
	cn_bus_client_close(NULL);
}

/* ---- deadlines and availability ----------------------------------------- */

INPROC_TEST(slow_handler_times_out_at_the_deadline)
{
	char addr[64];
	at(addr, sizeof addr, scheme, "bus-test-slow");
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	cn_bus_reply r;
	int64_t t0 = tu_now_ms();
	CN_CHECK_EQ_INT(tu_call(c, "Sleep", "zz", 3000, 200, &r, &err), CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_now_ms() - t0 < 2000); /* liveness: well before the handler ends */
	CN_CHECK(tu_has(err.msg, "Service 'tracking' did not answer within"));
	CN_CHECK(tu_has(err.msg, addr));
	CN_CHECK(r.msg_ == NULL && r.buf_ == NULL);
	/* The other worker still serves. */
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "still here", 0, 10000, &r, &err), CN_OK);
	cn_bus_reply_free(&r);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.timeouts, 1);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

static void no_service_over(const char *addr)
{
	cn_err err;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "registry", addr, NULL, &err), CN_OK);
	cn_bus_reply r;
	int64_t t0 = tu_now_ms();
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "anyone?", 0, 300, &r, &err),
	                CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_now_ms() - t0 < 3000);
	CN_CHECK(tu_has(err.msg, "Service 'registry' did not answer within"));
	CN_CHECK(tu_has(err.msg, addr));
	CN_CHECK(tu_has(err.msg, "not connected"));
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.timeouts, 1);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_bus_client_close(c);
}

CN_TEST(no_service_fails_at_the_deadline_tcp)
{
	char addr[64];
	tcp_addr(addr, sizeof addr);
	no_service_over(addr);
}

CN_TEST(no_service_fails_at_the_deadline_direct)
{
	no_service_over(DIRECT "bus-test-nobody");
}

static void restart_over(const char *addr)
{
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	cn_bus_reply r;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "one", 0, 10000, &r, &err), CN_OK);
	cn_bus_reply_free(&r);

	cn_bus_host_stop(h);
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "two", 0, 300, &r, &err), CN_TEMPORARILY_UNAVAILABLE);

	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	char text[16];
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "three", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_STR(tu_payload_text(r.payload, r.payload_len, text, sizeof text), "three");
	cn_bus_reply_free(&r);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(restarted_service_is_used_again_tcp)
{
	char addr[64];
	tcp_addr(addr, sizeof addr);
	restart_over(addr);
}

CN_TEST(restarted_service_is_used_again_direct)
{
	restart_over(DIRECT "bus-test-restart");
}

CN_TEST(queued_request_moves_to_restarted_service)
{
	char addr[64];
	tcp_addr(addr, sizeof addr);
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect busy = COLLECT_INIT;
	collect queued = COLLECT_INIT;
	size_t l1, l2;
	uint8_t *p1 = tu_payload("slow", 500, &l1), *p2 = tu_payload("open", 0, &l2);
	cn_bus_call a = {.method = "Sleep",
	                 .deadline_ms = cn_now_ms() + 20000,
	                 .payload = p1,
	                 .payload_len = l1};
	cn_bus_call b = {.method = "Echo",
	                 .deadline_ms = cn_now_ms() + 20000,
	                 .payload = p2,
	                 .payload_len = l2};
	/* The only worker is busy with a, so b waits at the host ... */
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &a, collect_done, &busy, &err), CN_OK);
	tu_sleep_ms(100);
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &b, collect_done, &queued, &err), CN_OK);
	tu_sleep_ms(100);
	/* ... when the host stops: a is finished and answered, b never ran. */
	cn_bus_host_stop(h);
	CN_CHECK_EQ_INT(collect_wait(&busy, 1), 1);
	CN_CHECK_EQ_INT(busy.ok, 1);
	/* b's connection dropped, so nng sends it again to the next host. */
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(collect_wait(&queued, 1), 1);
	CN_CHECK_EQ_INT(queued.ok, 1);
	CN_CHECK_EQ_INT(queued.open, 1);
	free(p1);
	free(p2);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

/* ---- the direct path only ------------------------------------------------ */

/* Wait (at most 20 s) until h's stats satisfy want; returns the stats. */
static cn_bus_host_stats host_stats_when(cn_bus_host *h, int (*want)(const cn_bus_host_stats *))
{
	cn_bus_host_stats hs;
	int64_t until = tu_now_ms() + 20000;
	for (;;) {
		cn_bus_host_stats_get(h, &hs);
		if (want(&hs) || tu_now_ms() > until)
			return hs;
		tu_sleep_ms(5);
	}
}

static int one_taken(const cn_bus_host_stats *hs)
{
	return hs->requests >= 1;
}

static int late_reply_settled(const cn_bus_host_stats *hs)
{
	return hs->send_failed + hs->expired >= 1;
}

/* Start an async call of method with text/num and a deadline timeout_ms away. */
static cn_code start_call(cn_bus_client *c, const char *method, const char *text, int64_t num,
                          int64_t timeout_ms, collect *k)
{
	size_t len;
	uint8_t *p = tu_payload(text, num, &len);
	cn_bus_call call = {.method = method,
	                    .deadline_ms = cn_now_ms() + timeout_ms,
	                    .payload = p,
	                    .payload_len = len};
	cn_err err;
	cn_code rc = cn_bus_call_async(c, &call, collect_done, k, &err);
	free(p);
	return rc;
}

CN_TEST(late_reply_after_the_deadline_is_dropped_direct)
{
	const char *addr = DIRECT "bus-test-late";
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	/* The worker is inside the handler long before the deadline, which
	 * passes long before the handler replies. */
	CN_CHECK_EQ_INT(start_call(c, "Sleep", "late", 2500, 1000, &k), CN_OK);
	CN_CHECK_EQ_INT(collect_wait(&k, 1), 1);
	CN_CHECK_EQ_INT(k.fail_code, CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(k.fail_msg, "Service 'tracking' did not answer within 1000 ms"));
	/* The reply comes after all, and goes nowhere (ASan checks it is
	 * freed once). */
	cn_bus_host_stats hs = host_stats_when(h, late_reply_settled);
	CN_CHECK_EQ_INT(hs.send_failed, 1);
	CN_CHECK_EQ_INT(hs.expired, 0);
	CN_CHECK_EQ_INT(k.done, 1);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.timeouts, 1);
	CN_CHECK_EQ_INT(st.replies, 0);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

typedef struct race_arg {
	cn_bus_client *c;
	collect *k;
	int started;
} race_arg;

static void *race_thread(void *arg)
{
	race_arg *a = arg;
	size_t len;
	uint8_t *p = tu_payload("race", 1, &len);
	for (int i = 0; i < 200; i++) {
		/* 1 ms handlers, deadlines of 1-20 ms: some calls are answered,
		 * some expire queued, some while a worker serves them. */
		cn_bus_call call = {.method = i % 2 ? "Sleep" : "Echo",
		                    .deadline_ms = cn_now_ms() + 1 + i % 20,
		                    .payload = p,
		                    .payload_len = len};
		cn_err err;
		if (cn_bus_call_async(a->c, &call, collect_done, a->k, &err) == CN_OK)
			a->started++;
	}
	free(p);
	return NULL;
}

CN_TEST(deadlines_racing_replies_complete_once_direct)
{
	const char *addr = DIRECT "bus-test-race";
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	pthread_t th[8];
	race_arg ra[8];
	for (int i = 0; i < 8; i++) {
		ra[i] = (race_arg){c, &k, 0};
		pthread_create(&th[i], NULL, race_thread, &ra[i]);
	}
	int started = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		started += ra[i].started;
	}
	CN_CHECK_EQ_INT(collect_wait(&k, started), started);
	/* Stopping the host waits for late replies; none completes twice. */
	cn_bus_host_stop(h);
	CN_CHECK_EQ_INT(k.done, started);
	CN_CHECK_EQ_INT(k.ok + k.failed, started);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.replies, (uint64_t)k.ok);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_bus_client_close(c);

	/* Again with no host: every call expires, mostly while it is being
	 * queued; none may stay behind on the queue (LeakSanitizer). */
	CN_CHECK_EQ_INT(
	        cn_bus_client_open(&c, "tracking", DIRECT "bus-test-race-nobody", NULL, &err),
	        CN_OK);
	collect k2 = COLLECT_INIT;
	started = 0;
	for (int i = 0; i < 8; i++) {
		ra[i] = (race_arg){c, &k2, 0};
		pthread_create(&th[i], NULL, race_thread, &ra[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		started += ra[i].started;
	}
	CN_CHECK_EQ_INT(collect_wait(&k2, started), started);
	CN_CHECK_EQ_INT(k2.failed, started);
	cn_bus_client_close(c);
}

CN_TEST(host_stop_fails_queued_calls_and_restart_serves_direct)
{
	const char *addr = DIRECT "bus-test-stop-queued";
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect busy = COLLECT_INIT, queued = COLLECT_INIT;
	CN_CHECK_EQ_INT(start_call(c, "Sleep", "busy", 1500, 20000, &busy), CN_OK);
	host_stats_when(h, one_taken);
	/* The only worker is busy: these wait on the queue. */
	for (int i = 0; i < 3; i++)
		CN_CHECK_EQ_INT(start_call(c, "Echo", "open", 0, 20000, &queued), CN_OK);
	cn_bus_host_stop(h); /* returns once the busy call is answered */
	CN_CHECK_EQ_INT(collect_wait(&busy, 1), 1);
	CN_CHECK_EQ_INT(busy.ok, 1);
	CN_CHECK_EQ_INT(collect_wait(&queued, 3), 3);
	CN_CHECK_EQ_INT(queued.failed, 3);
	CN_CHECK_EQ_INT(queued.fail_code, CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(queued.fail_msg, "Service 'tracking' stopped before answering"));

	/* A new host on the same address: the same client uses it. */
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	cn_bus_reply r;
	char text[16];
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "again", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_STR(tu_payload_text(r.payload, r.payload_len, text, sizeof text), "again");
	cn_bus_reply_free(&r);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.calls, 5);
	CN_CHECK_EQ_INT(st.replies, 2);
	CN_CHECK_EQ_INT(st.timeouts, 3);
	CN_CHECK_EQ_INT(st.in_flight, 0);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(calls_wait_for_a_host_that_starts_later_direct)
{
	const char *addr = DIRECT "bus-test-later";
	cn_err err;
	cn_bus_client *c;
	cn_bus_host *h;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	CN_CHECK_EQ_INT(start_call(c, "Echo", "open", 0, 20000, &k), CN_OK);
	CN_CHECK_EQ_INT(start_call(c, "Echo", "open", 0, 20000, &k), CN_OK);
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(collect_wait(&k, 2), 2);
	CN_CHECK_EQ_INT(k.ok, 2);
	CN_CHECK_EQ_INT(k.open, 2);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

CN_TEST(close_fails_queued_and_running_calls_direct)
{
	const char *addr = DIRECT "bus-test-close-queued";
	cn_err err;
	cn_bus_host *h;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	CN_CHECK_EQ_INT(start_call(c, "Sleep", "busy", 1000, 20000, &k), CN_OK);
	host_stats_when(h, one_taken);
	CN_CHECK_EQ_INT(start_call(c, "Echo", "open", 0, 20000, &k), CN_OK);
	CN_CHECK_EQ_INT(start_call(c, "Echo", "open", 0, 20000, &k), CN_OK);
	/* Every callback has run when close returns; it does not wait for
	 * the handler still busy with the first call. */
	cn_bus_client_close(c);
	CN_CHECK_EQ_INT(k.done, 3);
	CN_CHECK_EQ_INT(k.failed, 3);
	CN_CHECK(tu_has(k.fail_msg, "client closed"));
	/* The busy call's reply is dropped; the queued ones never ran. */
	cn_bus_host_stats hs = host_stats_when(h, late_reply_settled);
	CN_CHECK_EQ_INT(hs.send_failed, 1);
	CN_CHECK_EQ_INT(hs.requests, 1);
	cn_bus_host_stop(h);
	CN_CHECK_EQ_INT(k.done, 3);
}

CN_TEST(full_queue_refuses_calls_at_once_direct)
{
	/* No host: every call stays queued. */
	const char *addr = DIRECT "bus-test-full";
	cn_err err;
	cn_bus_client *c;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", addr, NULL, &err), CN_OK);
	collect k = COLLECT_INIT;
	size_t len;
	uint8_t *p = tu_payload("x", 0, &len);
	cn_bus_call call = {.method = "Echo",
	                    .deadline_ms = cn_now_ms() + 60000,
	                    .payload = p,
	                    .payload_len = len};
	int started = 0;
	for (int i = 0; i < CN_BUS_INPROC_QUEUE; i++)
		started += cn_bus_call_async(c, &call, collect_done, &k, &err) == CN_OK;
	CN_CHECK_EQ_INT(started, CN_BUS_INPROC_QUEUE);
	CN_CHECK_EQ_INT(cn_bus_call_async(c, &call, collect_done, &k, &err),
	                CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK(tu_has(err.msg, "overloaded"));
	CN_CHECK(tu_has(err.msg, addr));
	free(p);
	cn_bus_stats st;
	cn_bus_client_stats(c, &st);
	CN_CHECK_EQ_INT(st.calls, CN_BUS_INPROC_QUEUE + 1);
	CN_CHECK_EQ_INT(st.timeouts, 1);
	CN_CHECK_EQ_INT(st.in_flight, CN_BUS_INPROC_QUEUE);
	CN_CHECK_EQ_INT(k.done, 0);
	cn_bus_client_close(c);
	CN_CHECK_EQ_INT(k.done, CN_BUS_INPROC_QUEUE);
	CN_CHECK_EQ_INT(k.failed, CN_BUS_INPROC_QUEUE);
}

/* A request put on an endpoint by hand, as the direct path's twin of a raw
 * nng peer: the host must treat its bytes exactly as those from a socket. */
typedef struct raw_direct {
	cn_bus_ip_req req; /* first: deliver gets &req */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	cn_bus_ip_outcome how;
	char code[64]; /* the reply's error_code, "(bad)" when not an envelope */
} raw_direct;

static bool raw_direct_deliver(cn_bus_ip_req *r, cn_bus_ip_outcome how, uint8_t *reply, size_t len)
{
	raw_direct *d = (raw_direct *)(void *)r;
	pthread_mutex_lock(&d->mu);
	d->how = how;
	cn_err err;
	if (!reply) {
		snprintf(d->code, sizeof d->code, "(none)");
	} else if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_Envelope, reply, len, &err) != CN_OK) {
		snprintf(d->code, sizeof d->code, "(bad)");
	} else {
		cn_fb_str code = cn_Envelope_error_code(cn_fb_root(reply));
		snprintf(d->code, sizeof d->code, "%.*s", (int)code.len, code.ptr ? code.ptr : "");
	}
	free(reply);
	d->done = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return true;
}

static const char *raw_direct_call(cn_bus_ip_ep *ep, const void *bytes, size_t len,
                                   cn_bus_ip_outcome *how, char *out, size_t cap)
{
	raw_direct d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	d.req.env = bytes;
	d.req.env_len = len;
	d.req.deliver = raw_direct_deliver;
	cn_err err;
	if (cn_bus_ip_push(ep, &d.req, &err) != CN_OK)
		return "(push failed)";
	pthread_mutex_lock(&d.mu);
	while (!d.done)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
	*how = d.how;
	snprintf(out, cap, "%s", d.code);
	return out;
}

static size_t raw_envelope(uint8_t *out, size_t cap, int8_t kind, const char *rid,
                           const char *method, int64_t deadline);

CN_TEST(garbage_and_expired_requests_direct)
{
	const char *addr = DIRECT "bus-test-garbage";
	cn_err err;
	cn_bus_host *h;
	cn_bus_ip_ep *ep;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_bus_ip_open(&ep, addr, &err), CN_OK);
	char out[64];
	cn_bus_ip_outcome how = CN_BUS_IP_REPLY;
	CN_CHECK_STR(raw_direct_call(ep, "this is not a flatbuffer", 24, &how, out, sizeof out),
	             "MALFORMED_REQUEST");
	CN_CHECK_EQ_INT(how, CN_BUS_IP_REPLY);
	CN_CHECK_STR(raw_direct_call(ep, "", 0, &how, out, sizeof out), "MALFORMED_REQUEST");
	uint8_t env[512];
	size_t n = raw_envelope(env, sizeof env, CN_Kind_EVENT, "r1", "Echo", 0);
	CN_CHECK_STR(raw_direct_call(ep, env, n, &how, out, sizeof out), "MALFORMED_REQUEST");
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r2", "Echo", 0);
	CN_CHECK_STR(raw_direct_call(ep, env, n / 2, &how, out, sizeof out), "MALFORMED_REQUEST");
	/* Past its deadline: dropped, and the caller told so. */
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r3", "Echo", cn_now_ms() - 1000);
	CN_CHECK_STR(raw_direct_call(ep, env, n, &how, out, sizeof out), "(none)");
	CN_CHECK_EQ_INT(how, CN_BUS_IP_EXPIRED);
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r4", "Echo", 0);
	CN_CHECK_STR(raw_direct_call(ep, env, n, &how, out, sizeof out), "INVALID_PARAMETER_VALUE");
	cn_bus_host_stats hs;
	cn_bus_host_stats_get(h, &hs);
	CN_CHECK_EQ_INT(hs.requests, 6);
	CN_CHECK_EQ_INT(hs.bad, 4);
	CN_CHECK_EQ_INT(hs.expired, 1);
	cn_bus_ip_release(ep);
	cn_bus_host_stop(h);
}

/* ---- raw peers ---------------------------------------------------------- */

/* An Envelope built by hand, as a misbehaving peer might send it. */
static size_t raw_envelope(uint8_t *out, size_t cap, int8_t kind, const char *rid,
                           const char *method, int64_t deadline)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref r = cn_fb_create_cstr(b, rid);
	cn_fb_ref m = cn_fb_create_cstr(b, method);
	cn_Envelope_start(b);
	cn_Envelope_add_kind(b, kind);
	cn_Envelope_add_request_id(b, r);
	cn_Envelope_add_method(b, m);
	cn_Envelope_add_deadline_ms(b, deadline);
	cn_fb_ref root = cn_Envelope_end(b);
	const uint8_t *p;
	size_t len = 0;
	if (cn_fb_finish(b, root, &p, &len) && len <= cap)
		memcpy(out, p, len);
	else
		len = 0;
	cn_fb_builder_free(b);
	return len;
}

/* Send bytes on a raw REQ socket; returns the reply's error_code ("" = OK),
 * "(none)" when no reply came within wait_ms, "(bad)" for a malformed one. */
static const char *raw_request(nng_socket s, const void *buf, size_t len, int wait_ms, char *out,
                               size_t cap)
{
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, wait_ms);
	if (nng_send(s, (void *)buf, len, 0) != 0)
		return "(send failed)";
	nng_msg *m;
	if (nng_recvmsg(s, &m, 0) != 0)
		return "(none)";
	cn_err err;
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_Envelope, nng_msg_body(m), nng_msg_len(m),
	                 &err) != CN_OK) {
		nng_msg_free(m);
		return "(bad)";
	}
	cn_fb_table t = cn_fb_root(nng_msg_body(m));
	cn_fb_str code = cn_Envelope_error_code(t);
	snprintf(out, cap, "%s%.*s", cn_Envelope_kind(t) == CN_Kind_REPLY ? "" : "(kind)",
	         (int)code.len, code.ptr ? code.ptr : "");
	nng_msg_free(m);
	return out;
}

/* A raw nng peer needs nng's inproc; the direct path's twin is below. */
CN_TEST(garbage_and_expired_requests_nng)
{
	const char *addr = NNG_INPROC "bus-test-garbage";
	cn_err err;
	cn_bus_host *h;
	CN_CHECK_EQ_INT(tu_host(&h, addr, NULL, 2, &err), CN_OK);
	nng_socket s;
	CN_CHECK_EQ_INT(nng_req0_open(&s), 0);
	CN_CHECK_EQ_INT(nng_dial(s, "inproc://bus-test-garbage", NULL, 0), 0);
	char out[64];
	CN_CHECK_STR(raw_request(s, "this is not a flatbuffer", 24, 10000, out, sizeof out),
	             "MALFORMED_REQUEST");
	CN_CHECK_STR(raw_request(s, "", 0, 10000, out, sizeof out), "MALFORMED_REQUEST");
	uint8_t env[512];
	size_t n = raw_envelope(env, sizeof env, CN_Kind_EVENT, "r1", "Echo", 0);
	CN_CHECK_STR(raw_request(s, env, n, 10000, out, sizeof out), "MALFORMED_REQUEST");
	/* Truncated envelope. */
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r2", "Echo", 0);
	CN_CHECK_STR(raw_request(s, env, n / 2, 10000, out, sizeof out), "MALFORMED_REQUEST");
	/* Past its deadline: dropped without a reply. */
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r3", "Echo", cn_now_ms() - 1000);
	CN_CHECK_STR(raw_request(s, env, n, 300, out, sizeof out), "(none)");
	/* No payload at all: the handler refuses it, the host survives. */
	n = raw_envelope(env, sizeof env, CN_Kind_REQUEST, "r4", "Echo", 0);
	CN_CHECK_STR(raw_request(s, env, n, 10000, out, sizeof out), "INVALID_PARAMETER_VALUE");
	nng_close(s);

	cn_bus_host_stats hs;
	cn_bus_host_stats_get(h, &hs);
	CN_CHECK_EQ_INT(hs.requests, 6);
	CN_CHECK_EQ_INT(hs.bad, 4);
	CN_CHECK_EQ_INT(hs.expired, 1);

	cn_bus_client *c;
	cn_bus_reply r;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "echo", addr, NULL, &err), CN_OK);
	CN_CHECK_EQ_INT(tu_call(c, "Echo", "fine", 0, 10000, &r, &err), CN_OK);
	CN_CHECK_EQ_INT(r.code, CN_OK);
	cn_bus_reply_free(&r);
	cn_bus_client_close(c);
	cn_bus_host_stop(h);
}

/* A fake service answering each request with the given reply bytes. */
typedef struct fake_rep {
	nng_socket s;
	int mode; /* 0: garbage, 1: reply with another request id, 2: a REQUEST */
} fake_rep;

static void *fake_rep_main(void *arg)
{
	fake_rep *f = arg;
	nng_msg *m;
	while (nng_recvmsg(f->s, &m, 0) == 0) {
		uint8_t env[512];
		size_t n = f->mode == 0
		                   ? 5
		                   : raw_envelope(env, sizeof env,
		                                  f->mode == 1 ? CN_Kind_REPLY : CN_Kind_REQUEST,
		                                  "someone-else", "Echo", 0);
		if (f->mode == 0)
			memcpy(env, "junk!", 5);
		nng_msg_clear(m);
		nng_msg_append(m, env, n);
		if (nng_sendmsg(f->s, m, 0) != 0)
			nng_msg_free(m);
	}
	return NULL;
}

CN_TEST(malformed_or_mismatched_replies_fail_the_call)
{
	for (int mode = 0; mode < 3; mode++) {
		char addr[64];
		snprintf(addr, sizeof addr, NNG_INPROC "bus-test-fake-%d", mode);
		fake_rep f = {.mode = mode};
		CN_CHECK_EQ_INT(nng_rep0_open(&f.s), 0);
		CN_CHECK_EQ_INT(nng_listen(f.s, addr + strlen("nng+"), NULL, 0), 0);
		pthread_t th;
		pthread_create(&th, NULL, fake_rep_main, &f);
		cn_err err;
		cn_bus_client *c;
		cn_bus_reply r;
		CN_CHECK_EQ_INT(cn_bus_client_open(&c, "fake", addr, NULL, &err), CN_OK);
		CN_CHECK_EQ_INT(tu_call(c, "Echo", "x", 0, 10000, &r, &err), CN_INTERNAL_ERROR);
		CN_CHECK(tu_has(err.msg, mode == 0 ? "malformed" : "does not match"));
		CN_CHECK(r.msg_ == NULL && r.buf_ == NULL);
		cn_bus_stats st;
		cn_bus_client_stats(c, &st);
		CN_CHECK_EQ_INT(st.errors, 1);
		cn_bus_client_close(c);
		nng_close(f.s);
		pthread_join(th, NULL);
	}
}

static void quiet_logs(void) __attribute__((constructor));
static void quiet_logs(void)
{
	/* Tests provoke warnings on purpose; CN_TEST_LOG=debug shows them. */
	const char *lvl = getenv("CN_TEST_LOG");
	cn_log_init(lvl ? cn_log_level_from_name(lvl) : CN_LOG_OFF, 0);
}

CN_TEST_MAIN()
