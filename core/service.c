/*
 * core/service.c: the runtime that hosts one service on a bus address.
 *
 * Each incoming request names its method (the request table's short name).
 * The runtime resolves it once per call through a small sorted index built
 * at start, verifies the payload against that table before any method code
 * reads it, and hands the method a fresh builder. Methods never see bytes
 * that have not been verified.
 */
#include "core/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

typedef struct service_entry {
	const char *name;
	int table; /* request table index in cn_schema_cairn */
	cn_method_fn fn;
} service_entry;

struct cn_service_runtime {
	const cn_service_def *def;
	void *state;
	cn_bus_host *host;
	service_entry *entries; /* sorted by name */
	size_t nentries;
	char data_dir[CN_CFG_STR + 64];
};

static int service_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const service_entry *)a)->name, ((const service_entry *)b)->name);
}

static const service_entry *service_lookup(const cn_service_runtime *rt, const char *name)
{
	service_entry key = {name, 0, NULL};
	return bsearch(&key, rt->entries, rt->nentries, sizeof key, service_entry_cmp);
}

static cn_code service_dispatch(void *arg, const cn_bus_request *req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	cn_service_runtime *rt = arg;
	const service_entry *e = service_lookup(rt, req->method);
	if (!e)
		return cn_err_set(err, CN_ENDPOINT_NOT_FOUND, "Service '%s' has no method '%s'",
		                  rt->def->name, req->method);
	cn_code rc = cn_fb_verify(&cn_schema_cairn, e->table, req->payload, req->payload_len, err);
	if (rc != CN_OK)
		return rc;
	cn_call_ctx ctx = {req->request_id, req->caller, req->deadline_ms};
	return e->fn(rt->state, &ctx, cn_fb_root(req->payload), b, resp, err);
}

/* Every method must name a request table routed to this service, and every
 * routed request table of this service must have a method: a mismatch is a
 * programming error caught at start, not a 404 at run time. */
static cn_code service_index(cn_service_runtime *rt, cn_err *err)
{
	const cn_service_def *def = rt->def;
	rt->entries = calloc(def->nmethods ? def->nmethods : 1, sizeof *rt->entries);
	if (!rt->entries)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; i < def->nmethods; i++) {
		int t = cn_schema_table_index(&cn_schema_cairn, def->methods[i].name);
		if (t < 0)
			return cn_err_set(err, CN_INTERNAL_ERROR,
			                  "service '%s': method '%s' has no request table",
			                  def->name, def->methods[i].name);
		rt->entries[i] = (service_entry){def->methods[i].name, t, def->methods[i].fn};
	}
	rt->nentries = def->nmethods;
	qsort(rt->entries, rt->nentries, sizeof *rt->entries, service_entry_cmp);
	for (size_t i = 0; i < cn_schema_cairn.nroutes; i++) {
		const cn_route *r = &cn_schema_cairn.routes[i];
		if (strcmp(r->service, def->name) != 0)
			continue;
		const char *m = cn_schema_cairn.tables[r->request].short_name;
		if (!service_lookup(rt, m))
			return cn_err_set(err, CN_INTERNAL_ERROR,
			                  "service '%s' does not implement routed method '%s'",
			                  def->name, m);
	}
	return CN_OK;
}

cn_code cn_service_start(cn_service_runtime **out, const cn_service_def *def, const cn_config *cfg,
                         const char *addr, cn_bus_pub *events, cn_err *err)
{
	*out = NULL;
	cn_service_runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	rt->def = def;
	snprintf(rt->data_dir, sizeof rt->data_dir, "%s/%s", cfg->data_dir, def->name);
	cn_code rc = service_index(rt, err);
	if (rc == CN_OK) {
		cn_service_env env = {cfg, rt->data_dir, events};
		rc = def->open(&rt->state, &env, err);
	}
	if (rc == CN_OK) {
		cn_bus_tls tls = {cfg->tls_cert[0] ? cfg->tls_cert : NULL,
		                  cfg->tls_key[0] ? cfg->tls_key : NULL,
		                  cfg->tls_ca[0] ? cfg->tls_ca : NULL, NULL};
		rc = cn_bus_host_start(&rt->host, addr, &tls, cfg->service_workers,
		                       service_dispatch, rt, err);
		if (rc != CN_OK)
			def->close(rt->state);
	}
	if (rc != CN_OK) {
		free(rt->entries);
		free(rt);
		return rc;
	}
	CN_LOGI("SERVICE-START", NULL, "service %s serving on %s (data %s, %zu methods)", def->name,
	        addr, rt->data_dir, rt->nentries);
	*out = rt;
	return CN_OK;
}

void cn_service_stop(cn_service_runtime *rt)
{
	if (!rt)
		return;
	/* Stop the host first so no method runs while the state closes. */
	cn_bus_host_stop(rt->host);
	rt->def->close(rt->state);
	CN_LOGI("SERVICE-STOP", NULL, "service %s stopped", rt->def->name);
	free(rt->entries);
	free(rt);
}
