/*
 * gateway/gateway_test.c: the gateway end to end, over real HTTP (libcurl)
 * and a real bus host answering a few methods of the generated schema.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "cn_test.h"
#include "core/codec/codec.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "gateway/gateway_testutil.h"
#include "schemas/cairn_schema.h"

/* ---- the test service ------------------------------------------------------ */

static atomic_int gwt_calls; /* handler invocations, all methods */

static cn_fb_ref gwt_str(cn_fb_builder *b, const char *prefix, cn_fb_str s)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s%.*s", prefix, (int)s.len, s.ptr ? s.ptr : "");
	return cn_fb_create_cstr(b, tmp);
}

static cn_code gwt_create(const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	cn_code c = cn_fb_verify(&cn_schema_cairn, CN_TABLE_CreateExperiment, req->payload,
	                         req->payload_len, err);
	if (c != CN_OK)
		return c;
	cn_fb_str name = cn_CreateExperiment_name(cn_fb_root(req->payload));
	if (cn_fb_str_eq(name, "exists"))
		return cn_err_set(err, CN_RESOURCE_ALREADY_EXISTS,
		                  "Experiment(name=exists) already exists. \"quoted\"");
	cn_fb_ref id = gwt_str(b, "id-", name);
	cn_CreateExperimentResponse_start(b);
	cn_CreateExperimentResponse_add_experiment_id(b, id);
	*resp = cn_CreateExperimentResponse_end(b);
	return CN_OK;
}

static cn_code gwt_get(const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	cn_code c = cn_fb_verify(&cn_schema_cairn, CN_TABLE_GetExperiment, req->payload,
	                         req->payload_len, err);
	if (c != CN_OK)
		return c;
	cn_fb_str id = cn_GetExperiment_experiment_id(cn_fb_root(req->payload));
	if (cn_fb_str_eq(id, "missing"))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=missing exists");
	if (id.ptr && strncmp(id.ptr, "slow-", 5) == 0)
		usleep((useconds_t)atoi(id.ptr + 5) * 1000u);
	if (cn_fb_str_eq(id, "badreply")) {
		/* field 0 (experiment, a table) holding an offset far out of bounds */
		cn_GetExperimentResponse_start(b);
		cn_fb_add_u32(b, CN_F_GetExperimentResponse_experiment, 0x7fffff00u);
		*resp = cn_GetExperimentResponse_end(b);
		return CN_OK;
	}
	cn_fb_ref k = cn_fb_create_cstr(b, "team"), v = cn_fb_create_cstr(b, "ml \u00e9");
	cn_ExperimentTag_start(b);
	cn_ExperimentTag_add_key(b, k);
	cn_ExperimentTag_add_value(b, v);
	cn_fb_ref tag = cn_ExperimentTag_end(b);
	cn_fb_ref tags = cn_fb_create_vec_refs(b, &tag, 1);
	cn_fb_ref eid = gwt_str(b, "", id), name = gwt_str(b, "exp-", id);
	cn_fb_ref stage = cn_fb_create_cstr(b, "active");
	cn_Experiment_start(b);
	cn_Experiment_add_experiment_id(b, eid);
	cn_Experiment_add_name(b, name);
	cn_Experiment_add_lifecycle_stage(b, stage);
	cn_Experiment_add_creation_time(b, 1700000000123LL);
	cn_Experiment_add_tags(b, tags);
	cn_fb_ref exp = cn_Experiment_end(b);
	cn_GetExperimentResponse_start(b);
	cn_GetExperimentResponse_add_experiment(b, exp);
	*resp = cn_GetExperimentResponse_end(b);
	return CN_OK;
}

/* Echoes the request: one experiment named after each order_by entry, the
 * filter as next_page_token, max_results as the first experiment's id. */
static cn_code gwt_search(const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	cn_code c = cn_fb_verify(&cn_schema_cairn, CN_TABLE_SearchExperiments, req->payload,
	                         req->payload_len, err);
	if (c != CN_OK)
		return c;
	cn_fb_table t = cn_fb_root(req->payload);
	cn_fb_vec ob = cn_SearchExperiments_order_by(t);
	cn_fb_ref exps[16];
	uint32_t n = ob.n < 16 ? ob.n : 16;
	char maxr[32];
	snprintf(maxr, sizeof maxr, "%lld", (long long)cn_SearchExperiments_max_results(t));
	for (uint32_t i = 0; i < n; i++) {
		cn_fb_ref name = gwt_str(b, "", cn_fb_vec_str(ob, i));
		cn_fb_ref id = cn_fb_create_cstr(b, i == 0 ? maxr : "x");
		cn_Experiment_start(b);
		cn_Experiment_add_experiment_id(b, id);
		cn_Experiment_add_name(b, name);
		exps[i] = cn_Experiment_end(b);
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, exps, n);
	cn_fb_ref tok = gwt_str(b, "", cn_SearchExperiments_filter(t));
	cn_SearchExperimentsResponse_start(b);
	cn_SearchExperimentsResponse_add_experiments(b, vec);
	cn_SearchExperimentsResponse_add_next_page_token(b, tok);
	*resp = cn_SearchExperimentsResponse_end(b);
	return CN_OK;
}

static cn_code gwt_handler(void *arg, const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp,
                           cn_err *err)
{
	atomic_fetch_add(&gwt_calls, 1);
	if (strcmp(req->method, "CreateExperiment") == 0)
		return gwt_create(req, b, resp, err);
	if (strcmp(req->method, "GetExperiment") == 0)
		return gwt_get(req, b, resp, err);
	if (strcmp(req->method, "SearchExperiments") == 0)
		return gwt_search(req, b, resp, err);
	return cn_err_set(err, CN_ENDPOINT_NOT_FOUND, "no method %s", req->method);
}

/* ---- fixture --------------------------------------------------------------- */

typedef struct gwt_fixture {
	char addr[64];
	cn_bus_host *host;
	cn_gateway *gw;
	int port;
} gwt_fixture;

static void gwt_up(gwt_fixture *f, void (*tweak)(cn_config *))
{
	static atomic_int seq;
	snprintf(f->addr, sizeof f->addr, "inproc://gw-test-%d-%d", (int)getpid(),
	         atomic_fetch_add(&seq, 1));
	cn_err err;
	cn_code c = cn_bus_host_start(&f->host, f->addr, NULL, 8, gwt_handler, NULL, &err);
	CN_CHECK_EQ_INT(c, CN_OK);
	cn_config cfg;
	gt_config(&cfg, f->addr);
	cfg.max_body_bytes = 1 << 20;
	cfg.request_timeout_ms = 5000;
	cfg.shutdown_grace_ms = 5000;
	if (tweak)
		tweak(&cfg);
	c = cn_gateway_start(&f->gw, &cfg, &err);
	if (c != CN_OK)
		fprintf(stderr, "gateway start: %s\n", err.msg);
	CN_CHECK_EQ_INT(c, CN_OK);
	f->port = f->gw ? cn_gateway_port(f->gw) : 0;
	CN_CHECK(f->port > 0);
}

static void gwt_down(gwt_fixture *f)
{
	cn_gateway_stop(f->gw);
	cn_bus_host_stop(f->host);
}

static void gwt_post(int port, const char *path, const char *json, gt_resp *r)
{
	gt_req q = {.method = "POST", .body = json, .body_len = strlen(json)};
	gt_http(port, path, &q, r);
}

/* ---- tests ----------------------------------------------------------------- */

CN_TEST(health_and_version)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_http(f.port, "/health", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "OK");
	CN_CHECK_STR(r.cairn_version, CAIRN_VERSION);
	CN_CHECK_EQ_INT(strlen(r.request_id), 32);
	gt_resp_free(&r);
	gt_http(f.port, "/version", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, CAIRN_MLFLOW_API_VERSION);
	CN_CHECK(gt_has(r.content_type, "text/plain"));
	gt_resp_free(&r);
	gt_req head = {.method = "HEAD"};
	gt_http(f.port, "/health", &head, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_EQ_INT(r.body.len, 0);
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(post_json_round_trip_both_prefixes)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gwt_post(f.port, "/api/2.0/mlflow/experiments/create", "{\"name\": \"alpha\"}", &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "{\"experiment_id\":\"id-alpha\"}");
	CN_CHECK_STR(r.content_type, "application/json");
	gt_resp_free(&r);
	gwt_post(f.port, "/ajax-api/2.0/mlflow/experiments/create", "{\"name\": \"b\\u00e9ta\"}",
	         &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "{\"experiment_id\":\"id-b\u00e9ta\"}");
	gt_resp_free(&r);
	/* POST search with a JSON body */
	gwt_post(f.port, "/api/2.0/mlflow/experiments/search",
	         "{\"max_results\": 7, \"order_by\": [\"name\", \"creation_time DESC\"]}", &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK(gt_has(r.body.p, "{\"experiment_id\":\"7\",\"name\":\"name\"}"));
	CN_CHECK(gt_has(r.body.p, "\"name\":\"creation_time DESC\""));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(get_query_string_with_repeated_keys)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=42", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK(gt_has(r.body.p, "\"experiment_id\":\"42\""));
	CN_CHECK(gt_has(r.body.p, "\"name\":\"exp-42\""));
	CN_CHECK(gt_has(r.body.p, "\"creation_time\":1700000000123"));
	CN_CHECK(gt_has(r.body.p, "\"tags\":[{\"key\":\"team\",\"value\":\"ml \u00e9\"}]"));
	gt_resp_free(&r);
	gt_http(f.port,
	        "/ajax-api/2.0/mlflow/experiments/search?max_results=3&order_by=a&order_by=b%20c"
	        "&order_by=d&filter=name%20LIKE%20%27x%25%27",
	        NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK(gt_has(r.body.p, "{\"experiment_id\":\"3\",\"name\":\"a\"}"));
	CN_CHECK(gt_has(r.body.p, "\"name\":\"b c\""));
	CN_CHECK(gt_has(r.body.p, "\"name\":\"d\""));
	CN_CHECK(gt_has(r.body.p, "\"next_page_token\":\"name LIKE 'x%'\""));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(request_ids)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_req q = {.request_id = "client-req.42_x"};
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=1", &q, &r);
	CN_CHECK_STR(r.request_id, "client-req.42_x");
	gt_resp_free(&r);
	q.request_id = "has space";
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=1", &q, &r);
	CN_CHECK_EQ_INT(strlen(r.request_id), 32);
	gt_resp_free(&r);
	char longid[80];
	memset(longid, 'a', 65);
	longid[65] = '\0';
	q.request_id = longid;
	gt_http(f.port, "/health", &q, &r);
	CN_CHECK_EQ_INT(strlen(r.request_id), 32);
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(service_errors_keep_mlflow_shape)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=missing", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 404);
	CN_CHECK_STR(r.body.p, "{\"error_code\": \"RESOURCE_DOES_NOT_EXIST\", "
	                       "\"message\": \"No Experiment with id=missing exists\"}");
	CN_CHECK_STR(r.content_type, "application/json");
	gt_resp_free(&r);
	gwt_post(f.port, "/api/2.0/mlflow/experiments/create", "{\"name\": \"exists\"}", &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"RESOURCE_ALREADY_EXISTS\""));
	CN_CHECK(gt_has(r.body.p, "already exists. \\\"quoted\\\""));
	gt_resp_free(&r);
	/* a reply that does not verify against the response table */
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=badreply", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 500);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"INTERNAL_ERROR\""));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(unknown_route_and_wrong_method)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_http(f.port, "/x", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 404);
	CN_CHECK_STR(r.body.p, "{\"error_code\": \"ENDPOINT_NOT_FOUND\", \"message\": \"No API "
	                       "endpoint for GET /x\"}");
	CN_CHECK_EQ_INT(strlen(r.request_id), 32);
	gt_resp_free(&r);
	gwt_post(f.port, "/api/2.0/mlflow/nope?a=b", "{}", &r);
	CN_CHECK_EQ_INT(r.status, 404);
	CN_CHECK(gt_has(r.body.p, "No API endpoint for POST /api/2.0/mlflow/nope\""));
	gt_resp_free(&r);
	/* the v2 experiments API is not served under 3.0 */
	gwt_post(f.port, "/api/3.0/mlflow/experiments/create", "{\"name\": \"a\"}", &r);
	CN_CHECK_EQ_INT(r.status, 404);
	gt_resp_free(&r);
	gt_http(f.port, "/api/2.0/mlflow/experiments/create", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 405);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"ENDPOINT_NOT_FOUND\""));
	CN_CHECK_STR(r.allow, "POST");
	gt_resp_free(&r);
	gt_req put = {.method = "PUT", .body = "{}", .body_len = 2};
	gt_http(f.port, "/api/2.0/mlflow/experiments/search", &put, &r);
	CN_CHECK_EQ_INT(r.status, 405);
	CN_CHECK_STR(r.allow, "GET, HEAD, POST");
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(bad_bodies)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gwt_post(f.port, "/api/2.0/mlflow/experiments/create", "{\"name\": ", &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"MALFORMED_REQUEST\""));
	gt_resp_free(&r);
	gwt_post(f.port, "/api/2.0/mlflow/experiments/create", "{}", &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"INVALID_PARAMETER_VALUE\""));
	CN_CHECK(gt_has(r.body.p, "name"));
	gt_resp_free(&r);
	gt_http(f.port, "/api/2.0/mlflow/experiments/search?max_results=abc", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "max_results"));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(body_over_the_limit_is_refused_unread)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	size_t n = 10u << 20;
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "{\"name\": \"huge\"", 15);
	big[n - 1] = '}';
	big[n] = '\0';
	int before = atomic_load(&gwt_calls);
	gt_resp r;
	int64_t t0 = gt_now_ms();
	gwt_post(f.port, "/api/2.0/mlflow/experiments/create", big, &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"INVALID_PARAMETER_VALUE\""));
	CN_CHECK(gt_has(r.body.p, "Request body of at least 10485760 bytes exceeds the limit of "
	                          "1048576 bytes"));
	CN_CHECK(gt_now_ms() - t0 < 3000);
	gt_resp_free(&r);
	/* a client that sends the body without waiting for 100 Continue still
	 * gets the error, not a reset connection */
	gt_req eager = {.method = "POST", .body = big, .body_len = n, .no_expect = true};
	gt_http(f.port, "/api/2.0/mlflow/experiments/create", &eager, &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK_EQ_INT(r.curl_code, 0);
	CN_CHECK(gt_has(r.body.p, "Request body of at least 10485760 bytes exceeds the limit"));
	CN_CHECK_STR(r.connection, "close");
	gt_resp_free(&r);
	/* chunked: no Content-Length, refused once the limit is crossed */
	gt_req q = {.method = "POST", .body = big, .body_len = 3u << 20, .chunked = true};
	gt_http(f.port, "/api/2.0/mlflow/experiments/create", &q, &r);
	CN_CHECK_EQ_INT(r.status, 400);
	CN_CHECK(gt_has(r.body.p, "exceeds the limit of 1048576 bytes"));
	CN_CHECK_STR(r.connection, "close");
	gt_resp_free(&r);
	CN_CHECK_EQ_INT(atomic_load(&gwt_calls), before);
	/* a body just under the limit still works */
	gt_req ok = {.method = "POST", .body = big, .body_len = (1u << 20) - 1};
	big[ok.body_len - 1] = '}';
	gt_http(f.port, "/api/2.0/mlflow/experiments/create", &ok, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK_STR(r.body.p, "{\"experiment_id\":\"id-huge\"}");
	gt_resp_free(&r);
	free(big);
	gwt_down(&f);
}

static void gwt_short_timeout(cn_config *c)
{
	c->request_timeout_ms = 300;
	/* nobody listens here */
	snprintf(c->services[0].addr, sizeof c->services[0].addr, "inproc://gw-test-nobody-%d",
	         (int)getpid());
}

CN_TEST(service_down_is_503_within_the_deadline)
{
	gwt_fixture f;
	gwt_up(&f, gwt_short_timeout);
	gt_resp r;
	int64_t t0 = gt_now_ms();
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=1", NULL, &r);
	int64_t took = gt_now_ms() - t0;
	CN_CHECK_EQ_INT(r.status, 503);
	CN_CHECK(gt_has(r.body.p, "\"error_code\": \"TEMPORARILY_UNAVAILABLE\""));
	CN_CHECK(took >= 250 && took < 2000);
	gt_resp_free(&r);
	gwt_down(&f);
}

static void gwt_no_services(cn_config *c)
{
	c->nservices = 0;
}

CN_TEST(service_without_address_is_503)
{
	gwt_fixture f;
	gwt_up(&f, gwt_no_services);
	gt_resp r;
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=1", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 503);
	CN_CHECK(gt_has(r.body.p, "service 'tracking' has no address"));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(metrics_count_requests)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	for (int i = 0; i < 3; i++) {
		gwt_post(f.port, "/api/2.0/mlflow/experiments/create", "{\"name\": \"m\"}", &r);
		gt_resp_free(&r);
	}
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=missing", NULL, &r);
	gt_resp_free(&r);
	gt_http(f.port, "/nope", NULL, &r);
	gt_resp_free(&r);
	gt_http(f.port, "/metrics", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 200);
	CN_CHECK(gt_has(r.content_type, "text/plain; version=0.0.4"));
	const char *m = r.body.p;
	CN_CHECK(gt_has(m, "# TYPE cairn_http_requests_total counter\n"));
	CN_CHECK(gt_has(m, "cairn_http_requests_total{route=\"/mlflow/experiments/create\","
	                   "method=\"POST\",status=\"200\"} 3\n"));
	CN_CHECK(gt_has(m, "cairn_http_requests_total{route=\"/mlflow/experiments/get\","
	                   "method=\"GET\",status=\"404\"} 1\n"));
	CN_CHECK(gt_has(m, "cairn_http_requests_total{route=\"unmatched\",method=\"GET\","
	                   "status=\"404\"} 1\n"));
	CN_CHECK(gt_has(m, "# TYPE cairn_http_request_duration_seconds histogram\n"));
	CN_CHECK(gt_has(m, "cairn_http_request_duration_seconds_bucket{route=\"/mlflow/experiments/"
	                   "create\",method=\"POST\",le=\"+Inf\"} 3\n"));
	CN_CHECK(gt_has(m, "cairn_http_request_duration_seconds_count{route=\"/mlflow/experiments/"
	                   "create\",method=\"POST\"} 3\n"));
	CN_CHECK(gt_has(m, "cairn_http_requests_in_flight 1\n")); /* the scrape itself */
	CN_CHECK(gt_has(m, "cairn_bus_calls_total{service=\"tracking\"} 4\n"));
	CN_CHECK(gt_has(m, "process_resident_memory_bytes "));
	CN_CHECK(gt_has(m, "process_start_time_seconds "));
	gt_resp_free(&r);
	gwt_down(&f);
}

CN_TEST(keep_alive_reuses_the_connection)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	void *h = gt_handle_new();
	gt_resp r;
	long connects = 0;
	for (int i = 0; i < 20; i++) {
		gt_http_on(h, f.port,
		           i % 2 ? "/health" : "/api/2.0/mlflow/experiments/get?experiment_id=7",
		           NULL, &r);
		CN_CHECK_EQ_INT(r.status, 200);
		connects += r.connects;
		gt_resp_free(&r);
	}
	/* errors answered after the body keep the connection too */
	gt_http_on(h, f.port, "/api/2.0/mlflow/experiments/get?experiment_id=missing", NULL, &r);
	connects += r.connects;
	gt_resp_free(&r);
	gt_http_on(h, f.port, "/nope", NULL, &r);
	connects += r.connects;
	gt_resp_free(&r);
	gt_http_on(h, f.port, "/health", NULL, &r);
	connects += r.connects;
	gt_resp_free(&r);
	CN_CHECK_EQ_INT(connects, 1);
	gt_handle_free(h);
	gwt_down(&f);
}

/* ---- concurrency and shutdown ------------------------------------------- */

typedef struct gwt_job {
	int port;
	const char *path;
	int n;
	int ok;
	long status;
	char body[256];
} gwt_job;

static void *gwt_worker(void *arg)
{
	gwt_job *j = arg;
	void *h = gt_handle_new();
	for (int i = 0; i < j->n; i++) {
		gt_resp r;
		gt_http_on(h, j->port, j->path, NULL, &r);
		j->status = r.status;
		snprintf(j->body, sizeof j->body, "%s", r.body.p ? r.body.p : "");
		if (r.status == 200)
			j->ok++;
		gt_resp_free(&r);
	}
	gt_handle_free(h);
	return NULL;
}

CN_TEST(many_concurrent_requests)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	enum { THREADS = 32, EACH = 40 };
	pthread_t th[THREADS];
	gwt_job jobs[THREADS];
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (gwt_job){.port = f.port,
		                    .path = "/api/2.0/mlflow/experiments/get?experiment_id=5",
		                    .n = EACH};
		pthread_create(&th[i], NULL, gwt_worker, &jobs[i]);
	}
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += jobs[i].ok;
	}
	CN_CHECK_EQ_INT(ok, THREADS * EACH);
	gwt_down(&f);
}

CN_TEST(graceful_stop_finishes_a_slow_request)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	gwt_job j = {.port = f.port,
	             .path = "/api/2.0/mlflow/experiments/get?experiment_id=slow-700",
	             .n = 1};
	pthread_t th;
	pthread_create(&th, NULL, gwt_worker, &j);
	gt_sleep_ms(200); /* the request is parked waiting for the service */
	int64_t t0 = gt_now_ms();
	cn_gateway_stop(f.gw);
	int64_t took = gt_now_ms() - t0;
	pthread_join(th, NULL);
	CN_CHECK_EQ_INT(j.status, 200);
	CN_CHECK(gt_has(j.body, "\"experiment_id\":\"slow-700\""));
	CN_CHECK(took >= 300 && took < 3000);
	/* no longer listening */
	gt_resp r;
	gt_http(f.port, "/health", NULL, &r);
	CN_CHECK_EQ_INT(r.status, 0);
	gt_resp_free(&r);
	cn_bus_host_stop(f.host);
}

static void gwt_short_grace(cn_config *c)
{
	c->shutdown_grace_ms = 200;
}

CN_TEST(stop_after_grace_answers_503)
{
	gwt_fixture f;
	gwt_up(&f, gwt_short_grace);
	gwt_job j = {.port = f.port,
	             .path = "/api/2.0/mlflow/experiments/get?experiment_id=slow-2000",
	             .n = 1};
	pthread_t th;
	pthread_create(&th, NULL, gwt_worker, &j);
	gt_sleep_ms(200);
	int64_t t0 = gt_now_ms();
	cn_gateway_stop(f.gw);
	int64_t took = gt_now_ms() - t0;
	pthread_join(th, NULL);
	if (getenv("CN_TEST_GATEWAY_PER_CONNECTION")) {
		/* Served on the connection's thread: it cannot be abandoned,
		 * and the stop waits for its answer. */
		CN_CHECK_EQ_INT(j.status, 200);
		CN_CHECK(gt_has(j.body, "slow-2000"));
	} else {
		CN_CHECK_EQ_INT(j.status, 503);
		CN_CHECK(gt_has(j.body, "shutting down"));
		CN_CHECK(took < 1900);
	}
	cn_bus_host_stop(f.host);
}

CN_TEST(client_gone_while_parked)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	/* the client gives up while its request waits for the service */
	for (int i = 0; i < 3; i++) {
		gt_resp r;
		gt_req q = {.timeout_ms = 100};
		gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=slow-300", &q, &r);
		CN_CHECK_EQ_INT(r.status, 0);
		gt_resp_free(&r);
	}
	gt_sleep_ms(500); /* the replies arrive for connections that are gone */
	gt_resp r;
	gt_http(f.port, "/metrics", NULL, &r);
	/* each was answered into a closed socket (200) or dropped (499) */
	const char *key =
	        "cairn_http_requests_total{route=\"/mlflow/experiments/get\",method=\"GET\"";
	long counted = 0;
	for (const char *p = strstr(r.body.p, key); p; p = strstr(p + 1, key))
		counted += strtol(strchr(p, '}') + 1, NULL, 10);
	CN_CHECK_EQ_INT(counted, 3);
	CN_CHECK(gt_has(r.body.p, "cairn_http_requests_in_flight 1\n"));
	gt_resp_free(&r);
	/* and nothing is left parked: stop does not wait for them */
	int64_t t0 = gt_now_ms();
	gwt_down(&f);
	CN_CHECK(gt_now_ms() - t0 < 1000);
}

CN_TEST(access_log_line)
{
	char path[] = "/tmp/gw-test-log-XXXXXX";
	int fd = mkstemp(path);
	CN_CHECK(fd >= 0);
	int old = cn_log_set_fd(fd);
	cn_log_init(CN_LOG_INFO, 0);
	gwt_fixture f;
	gwt_up(&f, NULL);
	gt_resp r;
	gt_req q = {.request_id = "log-me-1"};
	gt_http(f.port, "/api/2.0/mlflow/experiments/get?experiment_id=9", &q, &r);
	gt_resp_free(&r);
	gwt_down(&f);
	cn_log_init(CN_LOG_WARN, 0);
	cn_log_set_fd(old);
	char buf[8192] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	CN_CHECK(n > 0);
	CN_CHECK(gt_has(buf, "GATEWAY-LISTEN"));
	CN_CHECK(gt_has(buf, "GATEWAY-STOP"));
	CN_CHECK(gt_has(buf, "HTTP-ACCESS"));
	CN_CHECK(gt_has(buf, "log-me-1"));
	CN_CHECK(gt_has(buf, "status=200"));
	CN_CHECK(gt_has(buf, "path=/api/2.0/mlflow/experiments/get"));
	close(fd);
	unlink(path);
}

CN_TEST(start_fails_cleanly_on_a_taken_port)
{
	gwt_fixture f;
	gwt_up(&f, NULL);
	cn_config cfg;
	gt_config(&cfg, f.addr);
	cfg.port = f.port;
	cn_gateway *g2 = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_gateway_start(&g2, &cfg, &err), CN_INTERNAL_ERROR);
	CN_CHECK(g2 == NULL);
	CN_CHECK(gt_has(err.msg, "cannot listen on 127.0.0.1"));
	snprintf(cfg.host, sizeof cfg.host, "no-such-host.invalid");
	cfg.port = 0;
	CN_CHECK_EQ_INT(cn_gateway_start(&g2, &cfg, &err), CN_INVALID_PARAMETER_VALUE);
	gwt_down(&f);
}

int main(void)
{
	cn_log_init(CN_LOG_WARN, 0);
	return cn_test_main();
}
