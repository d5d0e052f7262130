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
 * is recorded, success or failure, so each service has an audit trail
 * without code of its own. The record rides in the call's first write
 * batch to the service's database (a cn_kv_hook installed around the
 * method), so it costs no fsync of its own; the cases that cannot are
 * written after the method, before the reply leaves (audit.h lists them).
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
	bool inline_ok; /* its record can ride in its write: the reply adds no entity */
	int resp_table; /* reply table index, -1 if unknown */
} service_entry;

struct cn_service_runtime {
	const cn_service_def *def;
	void *state;
	cn_bus_host *host;
	service_entry *entries; /* sorted by name */
	size_t nentries;
	char data_dir[CN_CFG_STR + 64];
	cn_audit_log *audit; /* the process's trail and shared storage */
	cn_kv_opts kv_opts;  /* what the service opens its database with */
	cn_kv *db;           /* the service's database, once opened; NULL if none */
};

/* One audited call in flight on a worker thread: the kv hook that puts its
 * record into its first write to the service's database. */
typedef struct service_call {
	cn_kv_hook hook;
	cn_service_runtime *rt;
	const service_entry *e;
	const cn_bus_request *req;
	int64_t t0;
	bool pending;  /* record added to the batch being written */
	bool recorded; /* a batch carrying the record was applied */
} service_call;

/* The database the service opened (cn_kv_opts.opened): its first. */
static void service_db_opened(void *arg, cn_kv *db)
{
	cn_service_runtime *rt = arg;
	if (!rt->db)
		rt->db = db;
}

static int service_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const service_entry *)a)->name, ((const service_entry *)b)->name);
}

static const service_entry *service_lookup(const cn_service_runtime *rt, const char *name)
{
	service_entry key = {name, 0, NULL, false, false, -1};
	return bsearch(&key, rt->entries, rt->nentries, sizeof key, service_entry_cmp);
}

static cn_audit_call service_audit_call(const service_call *sc, bool verified, cn_code rc,
                                        cn_fb_builder *b, cn_fb_ref resp, const cn_err *err)
{
	const cn_bus_request *req = sc->req;
	return (cn_audit_call){
	        .service = sc->rt->def->name,
	        .method = sc->e->name,
	        .caller = req->caller,
	        .client_addr = req->client_addr,
	        .request_id = req->request_id,
	        .req_table = sc->e->table,
	        .resp_table = sc->e->resp_table,
	        .req = verified ? cn_fb_root(req->payload) : (cn_fb_table){NULL, 0},
	        .resp = resp ? cn_fb_builder_table(b, resp) : (cn_fb_table){NULL, 0},
	        .outcome = rc == CN_OK ? "OK" : cn_code_name(rc),
	        .error_message = rc == CN_OK ? "" : err->msg,
	        .duration_us = (cn_mono_ns() - sc->t0) / 1000,
	};
}

static void service_audit_failed(const service_call *sc, const cn_err *aerr)
{
	CN_LOGE("AUDIT-WRITE-FAILED", sc->req->request_id, "service=%s method=%s: %s",
	        sc->rt->def->name, sc->e->name, aerr->msg);
}

/* The hook: the first batch the call writes to its service's database
 * carries the record (outcome OK: the call got as far as its write). A
 * record that cannot be built is logged and the write goes on without it;
 * the runtime then writes it after the method. */
static void service_before_write(cn_kv_hook *h, cn_kv *db, cn_kv_batch *batch)
{
	service_call *sc = (service_call *)h;
	int rcf, ecf;
	if (sc->recorded || db != sc->rt->db || !cn_audit_db_cfs(db, &rcf, &ecf))
		return;
	cn_audit_call c = service_audit_call(sc, true, CN_OK, NULL, 0, NULL);
	cn_err aerr;
	cn_err_clear(&aerr);
	sc->pending = cn_audit_put(sc->rt->audit, &c, batch, rcf, ecf, &aerr) == CN_OK;
	if (!sc->pending)
		service_audit_failed(sc, &aerr);
}

static void service_after_write(cn_kv_hook *h, cn_kv *db, bool applied)
{
	(void)db;
	service_call *sc = (service_call *)h;
	if (sc->pending && applied)
		sc->recorded = true;
	sc->pending = false;
}

/* After the method: record the call unless its write already did (and it
 * succeeded). A failure is logged, never turned into the call's answer. */
static void service_audit_after(service_call *sc, bool verified, cn_code rc, cn_fb_builder *b,
                                cn_fb_ref resp, const cn_err *err)
{
	if (sc->recorded && rc == CN_OK)
		return;
	cn_err aerr;
	cn_err_clear(&aerr);
	if (!sc->rt->db) {
		cn_err_set(&aerr, CN_INTERNAL_ERROR, "the service has no database");
		service_audit_failed(sc, &aerr);
		return;
	}
	cn_audit_call c = service_audit_call(sc, verified, rc, b, resp, err);
	/* Synced only when the call succeeds: its reply says it happened. */
	if (cn_audit_append(sc->rt->audit, sc->rt->db, &c, rc == CN_OK, &aerr) != CN_OK)
		service_audit_failed(sc, &aerr);
}

static cn_code service_dispatch(void *arg, const cn_bus_request *req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	cn_service_runtime *rt = arg;
	const service_entry *e = service_lookup(rt, req->method);
	if (!e)
		return cn_err_set(err, CN_ENDPOINT_NOT_FOUND, "Service '%s' has no method '%s'",
		                  rt->def->name, req->method);
	service_call sc = {.rt = rt, .e = e, .req = req};
	if (e->audited) {
		sc.t0 = cn_mono_ns();
		sc.hook.before_write = service_before_write;
		sc.hook.after_write = service_after_write;
	}
	cn_code rc = cn_fb_verify(&cn_schema_cairn, e->table, req->payload, req->payload_len, err);
	bool verified = rc == CN_OK;
	if (verified) {
		cn_call_ctx ctx = {req->request_id, req->caller, req->deadline_ms,
		                   req->client_addr};
		cn_kv_hook *prev = e->audited && e->inline_ok ? cn_kv_hook_set(&sc.hook) : NULL;
		rc = e->fn(rt->state, &ctx, cn_fb_root(req->payload), b, resp, err);
		if (e->audited && e->inline_ok)
			cn_kv_hook_set(prev);
	}
	if (e->audited)
		service_audit_after(&sc, verified, rc, b, rc == CN_OK ? *resp : 0, err);
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
		int resp = service_resp_table(t);
		rt->entries[i] = (service_entry){def->methods[i].name,
		                                 t,
		                                 def->methods[i].fn,
		                                 cn_audit_is_mutating(t),
		                                 !cn_audit_reply_adds_entities(t, resp),
		                                 resp};
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
	if (rc == CN_OK)
		rc = cn_audit_acquire(&rt->audit, cfg, err);
	if (rc == CN_OK) {
		cn_audit_kv_opts(rt->audit, cfg->sync_writes, &rt->kv_opts);
		rt->kv_opts.opened = service_db_opened;
		rt->kv_opts.opened_arg = rt;
		cn_service_env env = {cfg, rt->data_dir, events, &rt->kv_opts};
		rc = def->open(&rt->state, &env, err);
	}
	if (rc == CN_OK) {
		cn_bus_tls tls = {cfg->tls_cert[0] ? cfg->tls_cert : NULL,
		                  cfg->tls_key[0] ? cfg->tls_key : NULL,
		                  cfg->tls_ca[0] ? cfg->tls_ca : NULL, NULL};
		int workers = cfg->service_workers;
		if (def->max_workers > 0 && workers > def->max_workers)
			workers = def->max_workers;
		rc = cn_bus_host_start(&rt->host, addr, &tls, workers, service_dispatch, rt, err);
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
