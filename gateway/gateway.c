/*
 * gateway/gateway.c: starting and stopping the gateway.
 *
 * Start: bus clients, one endpoint per schema route (mounted under /api and
 * /ajax-api), the native routes, one "unmatched" endpoint per method (for
 * metrics of 404s and 405s), the router, then the HTTP server.
 * Stop: stop accepting, let requests finish within the grace period,
 * answer the rest 503, stop the server, close bus clients (which fails
 * their calls still in flight), and free once every request object is back.
 */
#include "gateway/gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/otlp.h"

static void gateway_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static cn_code gateway_open_services(cn_gateway *g, cn_err *err)
{
	const cn_config *c = &g->cfg;
	cn_bus_tls tls = {
	        .cert_file = c->tls_cert[0] ? c->tls_cert : NULL,
	        .key_file = c->tls_key[0] ? c->tls_key : NULL,
	        .ca_file = c->tls_ca[0] ? c->tls_ca : NULL,
	        .server_name = c->tls_server_name[0] ? c->tls_server_name : NULL,
	};
	for (int i = 0; i < c->nservices && i < CN_CFG_MAX_SERVICES; i++) {
		cn_gw_service *s = &g->svc[g->nsvc];
		snprintf(s->name, sizeof s->name, "%s", c->services[i].name);
		bool use_tls = strncmp(c->services[i].addr, "tls+tcp://", 10) == 0;
		cn_code code = cn_bus_client_open(&s->client, s->name, c->services[i].addr,
		                                  use_tls ? &tls : NULL, err);
		if (code != CN_OK)
			return code;
		g->nsvc++;
	}
	return CN_OK;
}

cn_bus_client *cn_gw_client(cn_gateway *g, const char *service)
{
	for (int i = 0; i < g->nsvc; i++)
		if (strcmp(g->svc[i].name, service) == 0)
			return g->svc[i].client;
	return NULL;
}

static size_t gateway_limit(const cn_gateway *g, size_t route_limit)
{
	return route_limit ? route_limit : g->cfg.max_body_bytes;
}

static cn_code gateway_mount_mlflow(cn_gateway *g, cn_gw_endpoint *ep, const cn_route *rt,
                                    cn_err *err)
{
	ep->kind = CN_GW_EP_MLFLOW;
	ep->route = rt;
	ep->method = cn_gw_method_parse(rt->method);
	ep->client = cn_gw_client(g, rt->service);
	ep->max_body = gateway_limit(g, rt->max_body);
	if (ep->method == CN_GW_OTHER || rt->request < 0 || rt->response < 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "schema route %s %s is malformed", rt->method, rt->path);
	/* Label: the path as the schema writes it, except that a route of
	 * another API version than 2 whose method and path a v2 route also
	 * has (traces v2 and v3) is told apart by its full mount. */
	bool clash = false;
	const cn_schema *s = &cn_schema_cairn;
	for (size_t i = 0; i < s->nroutes && rt->api_major != 2; i++)
		if (s->routes[i].api_major == 2 && strcmp(s->routes[i].method, rt->method) == 0 &&
		    strcmp(s->routes[i].path, rt->path) == 0)
			clash = true;
	char label[512];
	if (clash)
		snprintf(label, sizeof label, "/api/%u.0%s", (unsigned)rt->api_major, rt->path);
	else
		snprintf(label, sizeof label, "%s", rt->path);
	if (!(ep->label = strdup(label)))
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	static const char *const prefixes[] = {"/api", "/ajax-api"};
	for (int i = 0; i < 2; i++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%u.0%s", prefixes[i], (unsigned)rt->api_major,
		         rt->path);
		cn_code code = cn_gw_router_add(g->router, ep->method, path, ep, err);
		if (code != CN_OK)
			return code;
	}
	return CN_OK;
}

static cn_code gateway_mount_native(cn_gateway *g, cn_gw_endpoint *ep, const cn_gw_route *nr,
                                    cn_err *err)
{
	if (!nr->method || !nr->path || !nr->on_complete)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "native route needs a method, a path and on_complete");
	ep->kind = CN_GW_EP_NATIVE;
	ep->native = *nr;
	ep->method = cn_gw_method_parse(nr->method);
	ep->max_body = gateway_limit(g, nr->max_body);
	if (ep->method == CN_GW_OTHER)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "native route %s %s: unknown method", nr->method, nr->path);
	ep->label = strdup(nr->label ? nr->label : nr->path);
	ep->path = strdup(nr->path);
	if (!ep->label || !ep->path)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	/* The copy's strings must not depend on the caller's. */
	ep->native.method = cn_gw_method_name(ep->method);
	ep->native.path = ep->path;
	ep->native.label = ep->label;
	return cn_gw_router_add(g->router, ep->method, nr->path, ep, err);
}

static cn_code gateway_build_routes(cn_gateway *g, const cn_gw_route *extra, size_t nextra,
                                    cn_err *err)
{
	cn_gw_route builtin[8];
	size_t nbuiltin = cn_gw_builtin_routes(g, builtin, 8);
	nbuiltin += cn_gw_otlp_routes(g, builtin + nbuiltin, 8 - nbuiltin); /* POST /v1/traces */
	const cn_schema *s = &cn_schema_cairn;
	size_t n = s->nroutes + nbuiltin + nextra + CN_GW_NMETHODS;
	/* Endpoints are 64-byte aligned (their counters have a cache line each). */
	g->eps = aligned_alloc(64, n * sizeof *g->eps);
	g->router = cn_gw_router_new();
	if (!g->eps || !g->router)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	memset(g->eps, 0, n * sizeof *g->eps);
	cn_code code = CN_OK;
	size_t e = 0;
	for (size_t i = 0; i < s->nroutes && code == CN_OK; i++)
		code = gateway_mount_mlflow(g, &g->eps[e++], &s->routes[i], err);
	for (size_t i = 0; i < nbuiltin && code == CN_OK; i++)
		code = gateway_mount_native(g, &g->eps[e++], &builtin[i], err);
	for (size_t i = 0; i < nextra && code == CN_OK; i++)
		code = gateway_mount_native(g, &g->eps[e++], &extra[i], err);
	for (int m = 0; m < CN_GW_NMETHODS && code == CN_OK; m++) {
		cn_gw_endpoint *ep = &g->eps[e++];
		ep->kind = CN_GW_EP_UNMATCHED;
		ep->method = m;
		ep->max_body = g->cfg.max_body_bytes;
		if (!(ep->label = strdup("unmatched")))
			code = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	g->neps = e;
	return code;
}

static void gateway_free(cn_gateway *g)
{
	for (int i = 0; i < g->nsvc; i++)
		cn_bus_client_close(g->svc[i].client);
	g->nsvc = 0;
	/* Bus callbacks are over; async native routes may still owe answers. */
	for (int waited = 0; atomic_load(&g->pool.live) > 0; waited += 10) {
		if (waited && waited % 5000 == 0)
			CN_LOGW("GATEWAY-STOP", NULL,
			        "waiting for %ld request(s) owed by native routes",
			        atomic_load(&g->pool.live));
		gateway_sleep_ms(10);
	}
	cn_gw_router_free(g->router);
	for (size_t i = 0; i < g->neps; i++) {
		free(g->eps[i].label);
		free(g->eps[i].path);
	}
	free(g->eps);
	cn_gw_pool_destroy(&g->pool);
	free(g);
}

cn_code cn_gateway_start_with(cn_gateway **out, const cn_config *cfg, const cn_gw_route *extra,
                              size_t nextra, cn_err *err)
{
	*out = NULL;
	cn_gateway *g = calloc(1, sizeof *g);
	if (!g)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	g->cfg = *cfg;
	g->listen_fd = -1;
	cn_gw_pool_init(&g->pool);
	atomic_init(&g->in_flight, 0);
	atomic_init(&g->suspended, 0);
	atomic_init(&g->resumers, 0);
	atomic_init(&g->serving, 0);
	atomic_init(&g->stopping, false);
	atomic_init(&g->abandon, false);
	if (g->cfg.request_timeout_ms <= 0)
		g->cfg.request_timeout_ms = 30000;
	cn_code code = gateway_open_services(g, err);
	if (code == CN_OK)
		code = gateway_build_routes(g, extra, nextra, err);
	if (code == CN_OK)
		code = cn_gw_server_start(g, err);
	if (code != CN_OK) {
		gateway_free(g);
		return code;
	}
	*out = g;
	return CN_OK;
}

cn_code cn_gateway_start(cn_gateway **out, const cn_config *cfg, cn_err *err)
{
	return cn_gateway_start_with(out, cfg, NULL, 0, err);
}

int cn_gateway_port(const cn_gateway *g)
{
	return g->port;
}

void cn_gateway_stop(cn_gateway *g)
{
	if (!g)
		return;
	int64_t t0 = cn_mono_ms();
	cn_gw_server_quiesce(g);
	CN_LOGI("GATEWAY-STOP", NULL, "port=%d in_flight=%d grace_ms=%lld", g->port,
	        atomic_load(&g->in_flight), (long long)g->cfg.shutdown_grace_ms);
	while (atomic_load(&g->in_flight) > 0 && cn_mono_ms() - t0 < g->cfg.shutdown_grace_ms)
		gateway_sleep_ms(5);
	int left = atomic_load(&g->in_flight);
	if (left > 0)
		CN_LOGW("GATEWAY-STOP", NULL, "grace period over with %d request(s) in flight",
		        left);
	/* Answer whatever still waits (503) and let those answers go out. */
	cn_gw_server_abandon_parked(g);
	int64_t t1 = cn_mono_ms(), warned = t1;
	/* Calls served on HTTP threads (gateway_per_connection) cannot be
	 * abandoned: they answer when their handler returns, which stopping
	 * the service would wait for anyway. */
	while ((atomic_load(&g->suspended) > 0 || atomic_load(&g->resumers) > 0) ||
	       atomic_load(&g->serving) > 0 ||
	       (atomic_load(&g->in_flight) > 0 && cn_mono_ms() - t1 < 1000)) {
		/* Resumed connections are taken off MHD's suspended list by its
		 * own threads; this only waits for them to get round to it. */
		if (cn_mono_ms() - warned >= 5000) {
			warned = cn_mono_ms();
			CN_LOGW("GATEWAY-STOP", NULL,
			        "still waiting for %d parked connection(s), %d call(s) being "
			        "served",
			        atomic_load(&g->suspended), atomic_load(&g->serving));
		}
		gateway_sleep_ms(2);
	}
	/* No connection is parked now (MHD refuses to stop with one), and
	 * none can be: parking is refused once `abandon` is set. */
	cn_gw_server_stop(g);
	gateway_free(g);
	CN_LOGI("GATEWAY-STOP", NULL, "stopped after %lld ms", (long long)(cn_mono_ms() - t0));
}
