/*
 * core/service.c: the runtime that hosts one service on a bus address.
 *
 * Each incoming request names its method (the request table's short name).
 * The runtime resolves it once per call through a small sorted index built
 * at start, verifies the payload against that table before any method code
 * reads it, and hands the method a fresh builder. Methods never see bytes
 * that have not been verified.
 *
 * Audit: every call of a mutating method (core/audit/audit.h decides which)
 * is recorded, success or failure, after the method and before the reply
 * leaves, so each service has an audit trail without code of its own.
 */
#include "core/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit/audit.h"
#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

typedef struct service_entry {
	const char *name;
	int table; /* request table index in cn_schema_cairn */
	cn_method_fn fn;
	bool audited;   /* mutating: every call is recorded */
	int resp_table; /* reply table index, -1 if unknown */
} service_entry;

struct cn_service_runtime {
	const cn_service_def *def;
	void *state;
	cn_bus_host *host;
	service_entry *entries; /* sorted by name */
	size_t nentries;
	char data_dir[CN_CFG_STR + 64];
	cn_audit_log *audit; /* NULL when no method is audited */
};

static int service_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const service_entry *)a)->name, ((const service_entry *)b)->name);
}

static const service_entry *service_lookup(const cn_service_runtime *rt, const char *name)
{
	service_entry key = {name, 0, NULL, false, -1};
	return bsearch(&key, rt->entries, rt->nentries, sizeof key, service_entry_cmp);
}

/* Append the call's record; a failure is logged, never turned into the
 * call's answer: the method's effect is already durable (audit.h). */
static void service_audit(cn_service_runtime *rt, const service_entry *e, const cn_bus_request *req,
                          bool verified, cn_code rc, cn_fb_builder *b, cn_fb_ref resp,
                          const cn_err *err, int64_t t0)
{
	cn_audit_call c = {
	        .service = rt->def->name,
	        .method = e->name,
	        .caller = req->caller,
	        .client_addr = req->client_addr,
	        .request_id = req->request_id,
	        .req_table = e->table,
	        .resp_table = e->resp_table,
	        .req = verified ? cn_fb_root(req->payload) : (cn_fb_table){NULL, 0},
	        .resp = resp ? cn_fb_builder_table(b, resp) : (cn_fb_table){NULL, 0},
	        .outcome = rc == CN_OK ? "OK" : cn_code_name(rc),
	        .error_message = rc == CN_OK ? "" : err->msg,
	        .duration_us = (cn_mono_ns() - t0) / 1000,
	};
	cn_err aerr;
	cn_err_clear(&aerr);
	if (cn_audit_append(rt->audit, &c, &aerr) != CN_OK)
		CN_LOGE("AUDIT-WRITE-FAILED", req->request_id, "service=%s method=%s: %s",
		        rt->def->name, e->name, aerr.msg);
}

static cn_code service_dispatch(void *arg, const cn_bus_request *req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	cn_service_runtime *rt = arg;
	const service_entry *e = service_lookup(rt, req->method);
	if (!e)
		return cn_err_set(err, CN_ENDPOINT_NOT_FOUND, "Service '%s' has no method '%s'",
		                  rt->def->name, req->method);
	bool audited = e->audited && rt->audit;
	int64_t t0 = audited ? cn_mono_ns() : 0;
	cn_code rc = cn_fb_verify(&cn_schema_cairn, e->table, req->payload, req->payload_len, err);
	bool verified = rc == CN_OK;
	if (verified) {
		cn_call_ctx ctx = {req->request_id, req->caller, req->deadline_ms,
		                   req->client_addr};
		rc = e->fn(rt->state, &ctx, cn_fb_root(req->payload), b, resp, err);
	}
	if (audited)
		service_audit(rt, e, req, verified, rc, b, rc == CN_OK ? *resp : 0, err, t0);
	return rc;
}

/* The reply table of request table t: its route's, else <Name>Response. */
static int service_resp_table(int t)
{
	for (size_t i = 0; i < cn_schema_cairn.nroutes; i++)
		if (cn_schema_cairn.routes[i].request == t)
			return cn_schema_cairn.routes[i].response;
	char name[256];
	snprintf(name, sizeof name, "%sResponse", cn_schema_cairn.tables[t].short_name);
	return cn_schema_table_index(&cn_schema_cairn, name);
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
		rt->entries[i] = (service_entry){def->methods[i].name, t, def->methods[i].fn,
		                                 cn_audit_is_mutating(t), service_resp_table(t)};
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
	bool any_audited = false;
	for (size_t i = 0; rc == CN_OK && i < rt->nentries; i++)
		any_audited |= rt->entries[i].audited;
	if (rc == CN_OK && any_audited)
		rc = cn_audit_acquire(&rt->audit, cfg->data_dir, cfg->sync_writes, err);
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
		cn_audit_release(rt->audit);
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
	cn_audit_release(rt->audit);
	CN_LOGI("SERVICE-STOP", NULL, "service %s stopped", rt->def->name);
	free(rt->entries);
	free(rt);
}
