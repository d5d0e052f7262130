/* gateway/router_test.c: the path trie (literals, {param}, {rest...}, 404 vs 405). */
#include "gateway/gw_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "cn_test.h"

static cn_gw_endpoint router_test_eps[16];

static cn_gw_router *router_test_build(void)
{
	static const struct {
		int m;
		const char *path;
	} routes[] = {
	        {CN_GW_POST, "/api/2.0/mlflow/experiments/create"},
	        {CN_GW_GET, "/api/2.0/mlflow/experiments/get"},
	        {CN_GW_GET, "/api/2.0/mlflow/experiments/search"},
	        {CN_GW_POST, "/api/2.0/mlflow/experiments/search"},
	        {CN_GW_GET, "/api/2.0/mlflow/logged-models/{model_id}"},
	        {CN_GW_DELETE, "/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}"},
	        {CN_GW_GET, "/api/2.0/mlflow/logged-models/search"},
	        {CN_GW_GET, "/api/3.0/mlflow/traces/{trace_id}"},
	        {CN_GW_GET, "/api/3.0/mlflow/traces/{request_id}/info"},
	        {CN_GW_PUT, "/api/2.0/mlflow-artifacts/artifacts/{path...}"},
	        {CN_GW_GET, "/health"},
	};
	cn_gw_router *rt = cn_gw_router_new();
	CN_CHECK(rt != NULL);
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		cn_err err;
		cn_code c = cn_gw_router_add(rt, routes[i].m, routes[i].path, &router_test_eps[i],
		                             &err);
		CN_CHECK_EQ_INT(c, CN_OK);
	}
	return rt;
}

static cn_gw_match router_test_match(cn_gw_router *rt, int m, const char *path)
{
	cn_gw_match mt;
	cn_gw_router_match(rt, m, path, strlen(path), &mt);
	return mt;
}

CN_TEST(router_exact_paths)
{
	cn_gw_router *rt = router_test_build();
	cn_gw_match m = router_test_match(rt, CN_GW_POST, "/api/2.0/mlflow/experiments/create");
	CN_CHECK(m.ep == &router_test_eps[0]);
	CN_CHECK_EQ_INT(m.status, 0);
	CN_CHECK_EQ_INT(m.nparams, 0);
	m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/experiments/search");
	CN_CHECK(m.ep == &router_test_eps[2]);
	m = router_test_match(rt, CN_GW_POST, "/api/2.0/mlflow/experiments/search");
	CN_CHECK(m.ep == &router_test_eps[3]);
	m = router_test_match(rt, CN_GW_GET, "/health");
	CN_CHECK(m.ep == &router_test_eps[10]);
	/* HEAD is served by GET */
	m = router_test_match(rt, CN_GW_HEAD, "/health");
	CN_CHECK(m.ep == &router_test_eps[10]);
	cn_gw_router_free(rt);
}

CN_TEST(router_404_and_405)
{
	cn_gw_router *rt = router_test_build();
	cn_gw_match m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/experiments/nope");
	CN_CHECK(m.ep == NULL);
	CN_CHECK_EQ_INT(m.status, 404);
	m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/experiments/create");
	CN_CHECK(m.ep == NULL);
	CN_CHECK_EQ_INT(m.status, 405);
	CN_CHECK(m.allow == (1u << CN_GW_POST));
	m = router_test_match(rt, CN_GW_GET, "");
	CN_CHECK_EQ_INT(m.status, 404);
	m = router_test_match(rt, CN_GW_GET, "*");
	CN_CHECK_EQ_INT(m.status, 404);
	m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/experiments/create/");
	CN_CHECK_EQ_INT(m.status, 404);
	m = router_test_match(rt, CN_GW_GET, "/");
	CN_CHECK_EQ_INT(m.status, 404);
	cn_gw_router_free(rt);
}

CN_TEST(router_params)
{
	cn_gw_router *rt = router_test_build();
	cn_gw_match m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/logged-models/m-123");
	CN_CHECK(m.ep == &router_test_eps[4]);
	CN_CHECK_EQ_INT(m.nparams, 1);
	CN_CHECK_STR(m.params[0].name, "model_id");
	CN_CHECK(m.params[0].len == 5 && memcmp(m.params[0].val, "m-123", 5) == 0);
	/* a literal beats a parameter */
	m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/logged-models/search");
	CN_CHECK(m.ep == &router_test_eps[6]);
	CN_CHECK_EQ_INT(m.nparams, 0);
	/* ... but falls back to the parameter when the literal lacks the method */
	m = router_test_match(rt, CN_GW_DELETE, "/api/2.0/mlflow/logged-models/m-1/tags/a%2Fb");
	CN_CHECK(m.ep == &router_test_eps[5]);
	CN_CHECK_EQ_INT(m.nparams, 2);
	CN_CHECK_STR(m.params[1].name, "tag_key");
	CN_CHECK(m.params[1].len == 5 && memcmp(m.params[1].val, "a%2Fb", 5) == 0);
	/* names belong to the route, not to the trie position */
	m = router_test_match(rt, CN_GW_GET, "/api/3.0/mlflow/traces/tr-1");
	CN_CHECK(m.ep == &router_test_eps[7]);
	CN_CHECK_STR(m.params[0].name, "trace_id");
	m = router_test_match(rt, CN_GW_GET, "/api/3.0/mlflow/traces/tr-1/info");
	CN_CHECK(m.ep == &router_test_eps[8]);
	CN_CHECK_STR(m.params[0].name, "request_id");
	/* an empty segment is not a parameter */
	m = router_test_match(rt, CN_GW_GET, "/api/2.0/mlflow/logged-models/");
	CN_CHECK_EQ_INT(m.status, 404);
	cn_gw_router_free(rt);
}

CN_TEST(router_rest)
{
	cn_gw_router *rt = router_test_build();
	const char *p = "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/MLmodel";
	cn_gw_match m = router_test_match(rt, CN_GW_PUT, p);
	CN_CHECK(m.ep == &router_test_eps[9]);
	CN_CHECK_EQ_INT(m.nparams, 1);
	CN_CHECK_STR(m.params[0].name, "path");
	CN_CHECK(m.params[0].len == strlen("1/abc/artifacts/model/MLmodel"));
	m = router_test_match(rt, CN_GW_GET, p);
	CN_CHECK_EQ_INT(m.status, 405);
	m = router_test_match(rt, CN_GW_PUT, "/api/2.0/mlflow-artifacts/artifacts/");
	CN_CHECK_EQ_INT(m.status, 404);
	cn_gw_router_free(rt);
}

CN_TEST(router_rejects_bad_templates)
{
	cn_gw_router *rt = cn_gw_router_new();
	cn_gw_endpoint ep;
	cn_err err;
	CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_GET, "/a/{x}", &ep, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_GET, "/a/{y}", &ep, &err),
	                CN_INVALID_PARAMETER_VALUE); /* same method + shape */
	CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_GET, "no-slash", &ep, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_GET, "/a/{}", &ep, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_GET, "/b/{r...}/c", &ep, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_gw_router_free(rt);
}

CN_TEST(router_many_routes_and_deep_paths)
{
	cn_gw_router *rt = cn_gw_router_new();
	static cn_gw_endpoint eps[500];
	char path[128];
	for (int i = 0; i < 500; i++) {
		cn_err err;
		snprintf(path, sizeof path, "/api/2.0/mlflow/r%03d/{id}/x", i);
		CN_CHECK_EQ_INT(cn_gw_router_add(rt, CN_GW_POST, path, &eps[i], &err), CN_OK);
	}
	cn_gw_match m;
	for (int i = 0; i < 500; i += 37) {
		snprintf(path, sizeof path, "/api/2.0/mlflow/r%03d/abc/x", i);
		cn_gw_router_match(rt, CN_GW_POST, path, strlen(path), &m);
		CN_CHECK(m.ep == &eps[i]);
	}
	/* thousands of slashes: refused, not walked */
	char *deep = malloc(20001);
	memset(deep, '/', 20000);
	deep[20000] = '\0';
	cn_gw_router_match(rt, CN_GW_GET, deep, 20000, &m);
	CN_CHECK_EQ_INT(m.status, 404);
	free(deep);
	cn_gw_router_free(rt);
}

CN_TEST(router_method_names)
{
	CN_CHECK_EQ_INT(cn_gw_method_parse("GET"), CN_GW_GET);
	CN_CHECK_EQ_INT(cn_gw_method_parse("PATCH"), CN_GW_PATCH);
	CN_CHECK_EQ_INT(cn_gw_method_parse("get"), CN_GW_OTHER);
	CN_CHECK_EQ_INT(cn_gw_method_parse("BREW"), CN_GW_OTHER);
	CN_CHECK_STR(cn_gw_method_name(CN_GW_DELETE), "DELETE");
}

CN_TEST(request_id_validation)
{
	CN_CHECK(cn_gw_request_id_ok("abc-DEF_1.2"));
	CN_CHECK(!cn_gw_request_id_ok(""));
	CN_CHECK(!cn_gw_request_id_ok(NULL));
	CN_CHECK(!cn_gw_request_id_ok("a b"));
	CN_CHECK(!cn_gw_request_id_ok("a\"b"));
	char s[70];
	memset(s, 'a', 64);
	s[64] = '\0';
	CN_CHECK(cn_gw_request_id_ok(s));
	s[64] = 'a';
	s[65] = '\0';
	CN_CHECK(!cn_gw_request_id_ok(s));
}

CN_TEST_MAIN()
