/*
 * core/service.h: what a service is, and the runtime that hosts one.
 *
 * A service (tracking, registry, prompts, traces, evaluation, serving) is a
 * cn_service_def: open/close of its state (its own RocksDB under
 * <data_dir>/<name>) and a table of methods, one per request table whose
 * `service` attribute names it. The runtime binds the service to a bus
 * address, verifies every incoming payload against the method's request
 * table (so methods read their request without further checks), calls the
 * method on a worker thread, and wraps the reply or error in an envelope.
 * It also records every call of a mutating method in the audit trail
 * (core/audit/audit.h), so a service needs no audit code of its own.
 * The same code serves `cairn server` (inproc://) and `cairn service`
 * (ipc://, tcp://, tls+tcp://).
 */
#ifndef CN_SERVICE_H
#define CN_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/store/kv.h"

typedef struct cn_service_env {
	const cn_config *config;
	const char *data_dir; /* this service's own directory: <config.data_dir>/<name> */
	cn_bus_pub *events;   /* where to publish change events; may be NULL */
	/* How the service opens its database (cn_service_kv_opts); NULL = alone */
	const cn_kv_opts *kv_opts;
} cn_service_env;

/* The options a service opens its RocksDB with: the runtime's (the block
 * cache shared by the process's databases, and the audit trail's column
 * families, which the service never addresses itself), or, for a service
 * opened without a runtime (unit tests), sync as configured and nothing
 * shared. */
static inline cn_kv_opts cn_service_kv_opts(const cn_service_env *env)
{
	if (env->kv_opts)
		return *env->kv_opts;
	return (cn_kv_opts){.sync = env->config->sync_writes};
}

typedef struct cn_call_ctx {
	const char *request_id;
	const char *caller;
	int64_t deadline_ms;
	const char *client_addr; /* HTTP client "ip:port", "" when unknown */
} cn_call_ctx;

/* A method: read the verified request `req`, build the reply table in b and
 * set *resp (the reply's type is the route's `response` table); or return
 * an error code with err set. Runs concurrently on worker threads. */
typedef cn_code (*cn_method_fn)(void *state, const cn_call_ctx *ctx, cn_fb_table req,
                                cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);

typedef struct cn_method {
	const char *name; /* request table short name, e.g. "CreateExperiment" */
	cn_method_fn fn;
} cn_method;

typedef struct cn_service_def {
	const char *name;
	cn_code (*open)(void **state, const cn_service_env *env, cn_err *err);
	void (*close)(void *state);
	const cn_method *methods;
	size_t nmethods;
	/* Worker threads at most (0 = config service_workers): a service whose
	 * calls are rare and never wait on an fsync needs few, and each idle
	 * worker costs its stack and reply builder. */
	int max_workers;
} cn_service_def;

/* The built-in services (core/services.c), NULL-terminated, and by name. */
extern const cn_service_def *const cn_builtin_services[];
const cn_service_def *cn_service_find(const char *name);

typedef struct cn_service_runtime cn_service_runtime;

/* Open the service's state and serve it on addr until stopped. */
cn_code cn_service_start(cn_service_runtime **out, const cn_service_def *def, const cn_config *cfg,
                         const char *addr, cn_bus_pub *events, cn_err *err);
void cn_service_stop(cn_service_runtime *rt);

#endif
