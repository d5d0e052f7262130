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
#include <unistd.h>

#include "cn_test.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "gateway/gateway_testutil.h"

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
