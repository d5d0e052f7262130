/*
 * gateway/fuzz_router.c: libFuzzer target for the gateway's path router,
 * which sees every raw request path from outside. Mounts every MLflow
 * route of the schema (both prefixes) plus parameter and rest templates,
 * then matches arbitrary bytes as a path with each method. The router must
 * never read outside the path, and any parameter it reports must lie
 * inside it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cn_gw_router *fuzz_router(void)
{
	static cn_gw_router *rt;
	static cn_gw_endpoint eps[512];
	if (rt)
		return rt;
	rt = cn_gw_router_new();
	size_t n = 0;
	cn_err err;
	for (size_t i = 0; i < cn_schema_cairn.nroutes && n + 2 < 500; i++) {
		const cn_route *r = &cn_schema_cairn.routes[i];
		char path[512];
		int m = cn_gw_method_parse(r->method);
		snprintf(path, sizeof path, "/api/%d.0%s", r->api_major, r->path);
		cn_gw_router_add(rt, m, path, &eps[n++], &err);
		snprintf(path, sizeof path, "/ajax-api/%d.0%s", r->api_major, r->path);
		cn_gw_router_add(rt, m, path, &eps[n++], &err);
	}
	const char *extra[] = {"/api/2.0/mlflow/logged-models/{model_id}",
	                       "/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}",
	                       "/api/2.0/mlflow-artifacts/artifacts/{path...}", "/health"};
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		cn_gw_router_add(rt, cn_gw_method_parse("GET"), extra[i], &eps[n++], &err);
	return rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cn_gw_router *rt = fuzz_router();
	/* Copy into an exact-size heap buffer so ASan sees any overread. */
	char *path = malloc(size ? size : 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	static const char *methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		cn_gw_match m;
		cn_gw_router_match(rt, cn_gw_method_parse(methods[i]), path, size, &m);
		if (m.nparams > CN_GW_MAX_PARAMS)
			abort();
		for (size_t p = 0; p < m.nparams; p++)
			if (m.params[p].val < path ||
			    m.params[p].val + m.params[p].len > path + size)
				abort();
	}
	free(path);
	return 0;
}
