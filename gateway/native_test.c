/*
 * gateway/native_test.c: native routes (gateway/native.h) over real HTTP:
 * path parameters, streamed bodies, async answers from another thread,
 * chunk errors, registration conflicts.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "gateway/gateway_testutil.h"

/* A plain TCP connection to the gateway (for clients that misbehave). */
static int gt_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET /things/{id}/parts/{part}: echoes method, params, query and a header. */
static void nt_echo(void *arg, cn_gw_request *r)
{
	size_t ql = 0;
	const char *q = cn_gw_query(r, &ql);
	const char *h = cn_gw_header(r, "X-Test");
	cn_buf *b = cn_gw_response_buf(r);
	cn_buf_printf(b, "%s id=%s part=%s q=%.*s h=%s", cn_gw_method(r), cn_gw_param(r, "id"),
	              cn_gw_param(r, "part"), (int)ql, q, h ? h : "-");
	cn_gw_respond_buf(r, 200, "text/plain");
}

/* PUT /store/{path...}: counts streamed bytes, answers with the count. */
typedef struct nt_stream {
	atomic_ullong bytes;
	atomic_int chunks;
} nt_stream;

static cn_code nt_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err)
{
	nt_stream *s = arg;
	if (len == 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "empty chunk");
	if (len >= 4 && memcmp(data, "FAIL", 4) == 0)
		return cn_err_set(err, CN_PERMISSION_DENIED, "store says no");
	atomic_fetch_add(&s->bytes, len);
	atomic_fetch_add(&s->chunks, 1);
	return CN_OK;
}

static void nt_stored(void *arg, cn_gw_request *r)
{
	nt_stream *s = arg;
	char msg[128];
	int n = snprintf(msg, sizeof msg, "{\"path\": \"%s\", \"bytes\": %llu}",
	                 cn_gw_param(r, "path"), (unsigned long long)atomic_load(&s->bytes));
	cn_gw_respond(r, 201, "application/json", msg, (size_t)n);
}

/* POST /async: answered from another thread after `delay` ms (body = delay). */
static void *nt_later(void *arg)
{
	cn_gw_request *r = arg;
	size_t len = 0;
	const char *body = cn_gw_body(r, &len);
	int delay = atoi(body);
	usleep((useconds_t)delay * 1000u);
	if (delay == 13)
		cn_gw_respond_error(r, CN_RESOURCE_CONFLICT, "unlucky");
	else
		cn_gw_respond(r, 200, "text/plain", "later", 5);
	return NULL;
}

static void nt_async(void *arg, cn_gw_request *r)
{
	pthread_t th;
	pthread_create(&th, NULL, nt_later, r);
	pthread_detach(th);
}

/* GET /silent: a synchronous handler that forgets to answer. */
static void nt_silent(void *arg, cn_gw_request *r)
{
}

static nt_stream nt_store;

/* ---- flow control: body pause/wake, streamed responses, on_closed ------- */

typedef struct nt_flow {
	atomic_ullong bytes;
	atomic_ullong hash; /* FNV-1a of the bytes in order */
	atomic_int pauses;
	atomic_int closed;
	atomic_int done;
	atomic_int calls;
} nt_flow;

static nt_flow nt_fl;

static uint64_t nt_fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static void *nt_waker(void *arg)
{
	gt_sleep_ms(1);
	cn_gw_wake(arg);
	return NULL;
}

/* PUT /slow/{path...}: takes at most 777 bytes per call and pauses; a thread
 * wakes the body a moment later, or (every third call) the wake comes first. */
static cn_code nt_slow_chunk(void *arg, cn_gw_request *r, const char *data, size_t len, cn_err *err)
{
	nt_flow *f = arg;
	size_t take = len < 777 ? len : 777;
	atomic_store(&f->hash, nt_fnv(atomic_load(&f->hash), data, take));
	atomic_fetch_add(&f->bytes, take);
	atomic_fetch_add(&f->pauses, 1);
	if (atomic_fetch_add(&f->calls, 1) % 3 == 0) {
		cn_gw_wake(r); /* before the pause: remembered, no park */
	} else {
		pthread_t th;
		pthread_create(&th, NULL, nt_waker, r);
		pthread_detach(th);
	}
	cn_gw_body_pause(r, take);
	return CN_OK;
}

static void nt_slow_done(void *arg, cn_gw_request *r)
{
	nt_flow *f = arg;
	char msg[64];
	int n = snprintf(msg, sizeof msg, "%llu %016llx",
	                 (unsigned long long)atomic_load(&f->bytes),
	                 (unsigned long long)atomic_load(&f->hash));
	cn_gw_respond(r, 200, "text/plain", msg, (size_t)n);
}

static void nt_slow_closed(void *arg, cn_gw_request *r)
{
	nt_flow *f = arg;
	atomic_fetch_add(&f->closed, 1);
}

/* GET /stream/{n}: n bytes 'a'+(pos%26) produced by a reader that is "not
 * ready" every other call, woken from another thread. */
typedef struct nt_src {
	cn_gw_request *r;
	bool ready;
} nt_src;

static long nt_src_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	nt_src *s = arg;
	if (!s->ready) {
		s->ready = true;
		pthread_t th;
		pthread_create(&th, NULL, nt_waker, s->r);
		pthread_detach(th);
		return CN_GW_STREAM_WAIT;
	}
	s->ready = false;
	size_t n = max < 5000 ? max : 5000;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (pos + i) % 26);
	return (long)n;
}

static void nt_src_done(void *arg)
{
	atomic_fetch_add(&nt_fl.done, 1);
	free(arg);
}

static void nt_stream_get(void *arg, cn_gw_request *r)
{
	nt_src *s = calloc(1, sizeof *s);
	s->r = r;
	cn_gw_stream st = {.length = strtoull(cn_gw_param(r, "n"), NULL, 10),
	                   .read = nt_src_read,
	                   .done = nt_src_done,
	                   .arg = s};
	cn_gw_hdr h = {"X-Stream", "yes"};
	cn_gw_respond_stream(r, 200, "application/octet-stream", &h, 1, &st);
}

static const cn_gw_route nt_routes[] = {
        {.method = "GET", .path = "/things/{id}/parts/{part}", .on_complete = nt_echo},
        {.method = "PUT",
         .path = "/store/{path...}",
         .label = "/store",
         .max_body = CN_GW_UNLIMITED,
         .on_body_chunk = nt_chunk,
         .on_complete = nt_stored,
         .arg = &nt_store},
        {.method = "POST", .path = "/async", .async = true, .on_complete = nt_async},
        {.method = "GET", .path = "/silent", .on_complete = nt_silent},
        {.method = "PUT",
         .path = "/slow/{path...}",
         .max_body = CN_GW_UNLIMITED,
         .on_body_chunk = nt_slow_chunk,
         .on_complete = nt_slow_done,
         .arg = &nt_fl,
         .on_closed = nt_slow_closed},
        {.method = "GET", .path = "/stream/{n}", .on_complete = nt_stream_get},
};

static cn_gateway *nt_up(int *port)
{
	cn_config cfg;
	gt_config(&cfg, NULL);
	cfg.max_body_bytes = 1 << 20;
	cfg.shutdown_grace_ms = 3000;
	cn_gateway *g = NULL;
	cn_err err;
	cn_code c = cn_gateway_start_with(&g, &cfg, nt_routes,
	                                  sizeof nt_routes / sizeof nt_routes[0], &err);
	if (c != CN_OK)
		fprintf(stderr, "start: %s\n", err.msg);
	CN_CHECK_EQ_INT(c, CN_OK);
	*port = g ? cn_gateway_port(g) : 0;
	return g;
}

CN_TEST(native_params_query_headers)
{
	int port;
	cn_gateway *g = nt_up(&port);
	gt_resp r;
	gt_http(port, "/things/a%2Fb/parts/x%20y?k=v&k=w", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "GET id=a/b part=x y q=k=v&k=w h=-");
	gt_resp_free(&r);
	gt_http(port, "/things/1/parts", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 404);
	gt_resp_free(&r);
	cn_gateway_stop(g);
}

CN_TEST(native_streams_large_bodies)
{
	int port;
	cn_gateway *g = nt_up(&port);
	atomic_store(&nt_store.bytes, 0);
	atomic_store(&nt_store.chunks, 0);
	size_t n = 8u << 20; /* over max_body_bytes: this route has no limit */
	char *big = malloc(n);
	memset(big, 'z', n);
	gt_resp r;
	gt_req q = {.method = "PUT", .body = big, .body_len = n};
	gt_http(port, "/store/1/abc/artifacts/model.bin", &q, &r);
	CN_CHECK_EQ_INT(r.status, 201);
	CN_CHECK_STR(r.body.p, "{\"path\": \"1/abc/artifacts/model.bin\", \"bytes\": 8388608}");
	CN_CHECK(atomic_load(&nt_store.chunks) > 1); /* it came in pieces */
	gt_resp_free(&r);
	/* chunked upload too */
	atomic_store(&nt_store.bytes, 0);
	q.chunked = true;
	q.body_len = 3u << 20;
	gt_http(port, "/store/x", &q, &r);
	CN_CHECK_EQ_INT(r.status, 201);
	CN_CHECK(gt_has(r.body.p, "\"bytes\": 3145728"));
	gt_resp_free(&r);
	/* a chunk the store refuses: its error, and no on_complete */
	memcpy(big, "FAIL", 4);
	q.chunked = false;
	q.body_len = 1000;
	gt_http(port, "/store/y", &q, &r);
	CN_CHECK_EQ_INT(r.status, 403);
	CN_CHECK_STR(r.body.p,
	             "{\"error_code\": \"PERMISSION_DENIED\", \"message\": \"store says no\"}");
	gt_resp_free(&r);
	free(big);
	gt_http(port, "/metrics", NULL, &r);
	CN_CHECK(gt_has(r.body.p, "cairn_http_requests_total{route=\"/store\",method=\"PUT\","
	                          "status=\"201\"} 2\n"));
	gt_resp_free(&r);
	cn_gateway_stop(g);
}

CN_TEST(native_async_answers_from_another_thread)
{
	int port;
	cn_gateway *g = nt_up(&port);
	gt_resp r;
	gt_req q = {.method = "POST", .body = "50", .body_len = 2};
	gt_http(port, "/async", &q, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "later");
	gt_resp_free(&r);
	q.body = "13";
	gt_http(port, "/async", &q, &r);
	CN_CHECK_EQ_INT(r.status, 409);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"RESOURCE_CONFLICT\""));
	gt_resp_free(&r);
	q.body = "0";
	q.body_len = 1;
	gt_http(port, "/async", &q, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	gt_resp_free(&r);
	cn_gateway_stop(g);
}

CN_TEST(native_handler_that_does_not_answer)
{
	int port;
	cn_gateway *g = nt_up(&port);
	gt_resp r;
	gt_http(port, "/silent", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 500);
	CN_CHECK(gt_has(r.body.p, "handler of GET /silent did not respond"));
	gt_resp_free(&r);
	cn_gateway_stop(g);
}

CN_TEST(native_route_conflicts_are_refused)
{
	cn_config cfg;
	gt_config(&cfg, NULL);
	cn_gw_route dup[] = {{.method = "GET", .path = "/health", .on_complete = nt_silent}};
	cn_gateway *g = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_gateway_start_with(&g, &cfg, dup, 1, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(g == NULL);
	CN_CHECK(gt_has(err.msg, "GET /health"));
	cn_gw_route mlflow[] = {{.method = "POST",
	                         .path = "/api/2.0/mlflow/experiments/create",
	                         .on_complete = nt_silent}};
	CN_CHECK_EQ_INT(cn_gateway_start_with(&g, &cfg, mlflow, 1, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_gw_route bad[] = {{.method = "BREW", .path = "/tea", .on_complete = nt_silent}};
	CN_CHECK_EQ_INT(cn_gateway_start_with(&g, &cfg, bad, 1, &err), CN_INVALID_PARAMETER_VALUE);
	cn_gw_route none[] = {{.method = "GET", .path = "/x"}};
	CN_CHECK_EQ_INT(cn_gateway_start_with(&g, &cfg, none, 1, &err), CN_INVALID_PARAMETER_VALUE);
}

CN_TEST(native_body_pause_and_wake)
{
	int port;
	cn_gateway *g = nt_up(&port);
	size_t n = 300000;
	char *body = malloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)(i * 7 + (i >> 9));
	atomic_store(&nt_fl.bytes, 0);
	atomic_store(&nt_fl.hash, 14695981039346656037ull);
	atomic_store(&nt_fl.pauses, 0);
	gt_resp r;
	gt_req q = {.method = "PUT", .body = body, .body_len = n};
	gt_http(port, "/slow/x", &q, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	char want[64];
	snprintf(want, sizeof want, "%zu %016llx", n,
	         (unsigned long long)nt_fnv(14695981039346656037ull, body, n));
	CN_CHECK_STR(r.body.p, want); /* every byte once, in order */
	CN_CHECK(atomic_load(&nt_fl.pauses) >= (int)(n / 777));
	gt_resp_free(&r);
	free(body);
	cn_gateway_stop(g);
}

CN_TEST(native_streamed_response)
{
	int port;
	cn_gateway *g = nt_up(&port);
	atomic_store(&nt_fl.done, 0);
	gt_resp r;
	gt_http(port, "/stream/200000", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_EQ_INT(r.body.len, 200000);
	bool ok = r.body.len == 200000;
	for (size_t i = 0; ok && i < r.body.len; i++)
		ok = r.body.p[i] == (char)('a' + i % 26);
	CN_CHECK(ok);
	gt_resp_free(&r);
	gt_http(port, "/stream/0", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_EQ_INT(r.body.len, 0);
	gt_resp_free(&r);
	cn_gateway_stop(g);
	CN_CHECK_EQ_INT(atomic_load(&nt_fl.done), 2); /* done once per stream */
}

CN_TEST(native_on_closed_when_client_leaves_mid_body)
{
	int port;
	cn_gateway *g = nt_up(&port);
	atomic_store(&nt_fl.closed, 0);
	int fd = gt_connect(port);
	CN_CHECK(fd >= 0);
	const char *head = "PUT /slow/y HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
	CN_CHECK(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	char part[3000];
	memset(part, 'q', sizeof part);
	CN_CHECK(write(fd, part, sizeof part) == (ssize_t)sizeof part);
	gt_sleep_ms(100);
	close(fd);
	for (int i = 0; i < 200 && atomic_load(&nt_fl.closed) == 0; i++)
		gt_sleep_ms(10);
	CN_CHECK_EQ_INT(atomic_load(&nt_fl.closed), 1);
	cn_gateway_stop(g);
}

typedef struct nt_call {
	int port;
	gt_resp r;
} nt_call;

static void *nt_call_async(void *arg)
{
	nt_call *c = arg;
	gt_req q = {.method = "POST", .body = "500", .body_len = 3};
	gt_http(c->port, "/async", &q, &c->r);
	return NULL;
}

CN_TEST(stop_waits_for_async_answers)
{
	int port;
	cn_gateway *g = nt_up(&port);
	/* stop while an async answer is 500 ms away (grace 3 s): it is delivered */
	nt_call call = {.port = port};
	pthread_t th;
	pthread_create(&th, NULL, nt_call_async, &call);
	gt_sleep_ms(150);
	cn_gateway_stop(g);
	pthread_join(th, NULL);
	CN_CHECK_EQ_INT(call.r.status, 200);
	CN_CHECK_STR(call.r.body.p, "later");
	gt_resp_free(&call.r);
}

int main(void)
{
	cn_log_init(CN_LOG_WARN, 0);
	return cn_test_main();
}
