/*
 * core/cli/roles.c: the three long-running roles. Each wires the same
 * parts -- services on bus addresses, the gateway, the event bus, plugins
 * -- and differs only in which of them run here and at what addresses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/bus.h"
#include "core/cli/cli.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/artifacts/artifacts.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"
#include "core/service.h"
#include "gateway/artifacts.h"
#include "gateway/gateway.h"

#define CLI_MAX_SERVICES 16

static int cli_wait(const sigset_t *sigs)
{
	int sig = 0;
	sigwait(sigs, &sig);
	CN_LOGI("SIGNAL", NULL, "received %s, shutting down",
	        sig == SIGTERM ? "SIGTERM" : "SIGINT");
	return sig;
}

static int cli_fail(const char *what, const cn_err *err)
{
	CN_LOGE("STARTUP-FAILED", NULL, "%s: %s", what, err->msg);
	fprintf(stderr, "cairn: %s: %s\n", what, err->msg);
	return 1;
}

static cn_bus_tls cli_tls(const cn_config *c)
{
	cn_bus_tls t = {c->tls_cert[0] ? c->tls_cert : NULL, c->tls_key[0] ? c->tls_key : NULL,
	                c->tls_ca[0] ? c->tls_ca : NULL, NULL};
	return t;
}

/* The artifact store is a plugin even in the embedded default: loading it
 * at start proves the plugin path and fails early on a bad destination. */
static cn_code cli_open_artifacts(const cn_config *cfg, cn_plugin_registry **reg, cn_store **store,
                                  cn_err *err)
{
	cn_code rc = cn_plugin_registry_open(reg, cfg->plugin_dir, err);
	if (rc != CN_OK)
		return rc;
	if (!strstr(cfg->artifacts_destination, "://") &&
	    (errno = cn_mkdirs(cfg->artifacts_destination, 0755)) != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot create %s: %s",
		                  cfg->artifacts_destination, strerror(errno));
	return cn_store_open(*reg, cfg->artifacts_destination, store, err);
}

/* The gateway with the artifact routes (proxy and run listings) mounted;
 * *ga is freed by the caller after cn_gateway_stop. */
static cn_code cli_start_gateway(const cn_config *cfg, cn_artifacts *arts, cn_gw_artifacts **ga,
                                 cn_gateway **gw, cn_err *err)
{
	cn_code rc = cn_gw_artifacts_new(ga, arts, cfg, err);
	if (rc != CN_OK)
		return rc;
	cn_gw_route routes[CN_GW_ARTIFACT_ROUTES];
	size_t n = cn_gw_artifacts_routes(*ga, routes, CN_GW_ARTIFACT_ROUTES);
	rc = cn_gateway_start_with(gw, cfg, routes, n, err);
	if (rc != CN_OK) {
		cn_gw_artifacts_free(*ga);
		*ga = NULL;
	}
	return rc;
}

int cli_run_server(cli_opts *o, const sigset_t *sigs, int64_t start_ns)
{
	cn_config *cfg = &o->cfg;
	cn_err err;
	if ((errno = cn_mkdirs(cfg->data_dir, 0755)) != 0) {
		cn_err_set(&err, CN_INTERNAL_ERROR, "%s", strerror(errno));
		return cli_fail(cfg->data_dir, &err);
	}
	cn_plugin_registry *plugins = NULL;
	cn_store *artifacts = NULL;
	cn_artifacts *arts = NULL;
	if (cli_open_artifacts(cfg, &plugins, &artifacts, &err) != CN_OK ||
	    cn_artifacts_open(&arts, plugins, cfg->artifacts_destination, &err) != CN_OK)
		return cli_fail("artifact store", &err);

	const char *events_addr = cfg->events[0] ? cfg->events : "inproc://cairn-events";
	cn_bus_tls tls = cli_tls(cfg);
	cn_bus_pub *events = NULL;
	if (cn_bus_pub_open(&events, events_addr, &tls, &err) != CN_OK)
		return cli_fail("event bus", &err);

	cn_service_runtime *rts[CLI_MAX_SERVICES] = {0};
	int nrt = 0, status = 0;
	/* --artifacts-only: no services; the gateway serves the artifact routes. */
	for (size_t i = 0; !cfg->artifacts_only && cn_builtin_services[i] && nrt < CLI_MAX_SERVICES;
	     i++) {
		const cn_service_def *def = cn_builtin_services[i];
		char addr[128], key[64];
		snprintf(addr, sizeof addr, "inproc://cairn-%s", def->name);
		snprintf(key, sizeof key, "service.%s", def->name);
		if (cn_config_set(cfg, key, addr, &err) != CN_OK ||
		    cn_service_start(&rts[nrt], def, cfg, addr, events, &err) != CN_OK) {
			status = cli_fail(def->name, &err);
			goto out;
		}
		nrt++;
	}
	cn_gateway *gw = NULL;
	cn_gw_artifacts *ga = NULL;
	if (cli_start_gateway(cfg, arts, &ga, &gw, &err) != CN_OK) {
		status = cli_fail("gateway", &err);
		goto out;
	}
	CN_LOGI("SERVER-READY", NULL,
	        "cairn %s serving MLflow API %s on http://%s:%d (data %s) in %.1f ms",
	        CAIRN_VERSION, CAIRN_MLFLOW_API_VERSION, cfg->host, cn_gateway_port(gw),
	        cfg->data_dir, (double)(cn_mono_ns() - start_ns) / 1e6);
	cli_wait(sigs);
	/* Stop taking requests first, then the services they would reach. */
	cn_gateway_stop(gw);
	cn_gw_artifacts_free(ga);
out:
	while (nrt > 0)
		cn_service_stop(rts[--nrt]);
	cn_bus_pub_close(events);
	cn_artifacts_close(arts);
	cn_store_close(artifacts);
	cn_plugin_registry_close(plugins);
	return status;
}

int cli_run_service(cli_opts *o, const char *name, const sigset_t *sigs)
{
	cn_config *cfg = &o->cfg;
	cn_err err;
	const cn_service_def *def = cn_service_find(name);
	if (!def) {
		fprintf(stderr, "cairn service: unknown service '%s'; known:", name);
		for (size_t i = 0; cn_builtin_services[i]; i++)
			fprintf(stderr, " %s", cn_builtin_services[i]->name);
		fprintf(stderr, "\n");
		return 2;
	}
	if (!cfg->listen[0]) {
		fprintf(stderr,
		        "cairn service %s: --listen ADDRESS is required "
		        "(e.g. tcp://127.0.0.1:7001)\n",
		        name);
		return 2;
	}
	if ((errno = cn_mkdirs(cfg->data_dir, 0755)) != 0) {
		cn_err_set(&err, CN_INTERNAL_ERROR, "%s", strerror(errno));
		return cli_fail(cfg->data_dir, &err);
	}
	cn_bus_tls tls = cli_tls(cfg);
	cn_bus_pub *events = NULL;
	if (cfg->events[0] && cn_bus_pub_open(&events, cfg->events, &tls, &err) != CN_OK)
		return cli_fail("event bus", &err);
	cn_service_runtime *rt = NULL;
	if (cn_service_start(&rt, def, cfg, cfg->listen, events, &err) != CN_OK) {
		cn_bus_pub_close(events);
		return cli_fail(name, &err);
	}
	CN_LOGI("SERVICE-READY", NULL, "service %s ready on %s", name, cfg->listen);
	cli_wait(sigs);
	cn_service_stop(rt);
	cn_bus_pub_close(events);
	return 0;
}

int cli_run_gateway(cli_opts *o, const sigset_t *sigs, int64_t start_ns)
{
	cn_config *cfg = &o->cfg;
	cn_err err;
	if (cfg->nservices == 0 && !cfg->artifacts_only) {
		fprintf(stderr, "cairn gateway: name at least one service with --service "
		                "NAME=ADDRESS (e.g. --service tracking=tcp://127.0.0.1:7001)\n");
		return 2;
	}
	/* The gateway streams proxied artifacts itself: it opens the destination. */
	cn_plugin_registry *plugins = NULL;
	cn_store *artifacts = NULL;
	cn_artifacts *arts = NULL;
	if (cli_open_artifacts(cfg, &plugins, &artifacts, &err) != CN_OK ||
	    cn_artifacts_open(&arts, plugins, cfg->artifacts_destination, &err) != CN_OK) {
		cn_store_close(artifacts);
		cn_plugin_registry_close(plugins);
		return cli_fail("artifact store", &err);
	}
	cn_gateway *gw = NULL;
	cn_gw_artifacts *ga = NULL;
	int status = 0;
	if (cli_start_gateway(cfg, arts, &ga, &gw, &err) != CN_OK) {
		status = cli_fail("gateway", &err);
	} else {
		CN_LOGI("GATEWAY-READY", NULL, "gateway on http://%s:%d ready in %.1f ms",
		        cfg->host, cn_gateway_port(gw), (double)(cn_mono_ns() - start_ns) / 1e6);
		cli_wait(sigs);
		cn_gateway_stop(gw);
		cn_gw_artifacts_free(ga);
	}
	cn_artifacts_close(arts);
	cn_store_close(artifacts);
	cn_plugin_registry_close(plugins);
	return status;
}
