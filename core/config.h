/*
 * core/config.h: configuration of every role.
 *
 * Sources, later ones winning: built-in defaults < YAML file (--config or
 * CAIRN_CONFIG) < environment < command-line flags. Every setting has one
 * key, used in all four places: `data_dir` is `data_dir:` in the file,
 * CAIRN_DATA_DIR in the environment and --data-dir on the command line.
 * Where MLflow's server has an environment variable for the same thing,
 * it is honoured too (MLFLOW_HOST, MLFLOW_PORT, MLFLOW_DEFAULT_ARTIFACT_ROOT,
 * MLFLOW_ARTIFACTS_DESTINATION, MLFLOW_SERVE_ARTIFACTS, MLFLOW_WORKERS,
 * MLFLOW_BACKEND_STORE_URI), below the CAIRN_ name.
 * Settings are described by one declarative table (config.c), from which
 * parsing, `cairn config` output and the README's table come.
 */
#ifndef CN_CONFIG_H
#define CN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define CN_CFG_STR          512
#define CN_CFG_MAX_SERVICES 16

typedef struct cn_service_addr {
	char name[32];         /* "tracking" */
	char addr[CN_CFG_STR]; /* "tcp://10.0.0.5:7001" */
} cn_service_addr;

#define CN_CFG_MAX_PLUGIN_SETTINGS 48
#define CN_CFG_PLUGIN_KEY          96
#define CN_CFG_PLUGIN_VALUE        1024

/* A plugin setting: "store.s3.endpoint" -> "http://127.0.0.1:9000". */
typedef struct cn_plugin_setting {
	char key[CN_CFG_PLUGIN_KEY]; /* normalized: lower case, '_' for '-' */
	char value[CN_CFG_PLUGIN_VALUE];
} cn_plugin_setting;

typedef struct cn_config {
	/* gateway */
	char host[CN_CFG_STR]; /* host: 127.0.0.1 */
	int port;              /* port: 5000 */
	int gateway_threads;   /* gateway_threads: 0 = number of CPUs */
	size_t max_body_bytes; /* max_body_bytes: 1 MiB... for JSON bodies (artifacts stream) */
	int64_t request_timeout_ms; /* request_timeout_ms: bus deadline per call, 30000 */
	int64_t shutdown_grace_ms;  /* shutdown_grace_ms: 10000 */
	/* gateway_per_connection: false (MHD's thread pool); true: a thread per
	 * connection, serving in-process calls itself */
	bool gateway_per_connection;
	/* storage and artifacts */
	char data_dir[CN_CFG_STR];              /* data_dir: ./cairn-data */
	char artifacts_destination[CN_CFG_STR]; /* artifacts_destination: <data_dir>/artifacts */
	char default_artifact_root[CN_CFG_STR]; /* default_artifact_root: "" = mlflow-artifacts:/
	                                           when serving */
	bool serve_artifacts;                   /* serve_artifacts: true */
	char plugin_dir[CN_CFG_STR]; /* plugin_dir: directory of store/deploy .so files */
	bool sync_writes;            /* sync_writes: true (WAL fsync per acknowledged write) */
	size_t kv_block_cache_bytes; /* kv_block_cache_bytes: 16 MiB, one RocksDB block cache
	                                shared by the service databases of a process */
	/* services (split mode) */
	char listen[CN_CFG_STR]; /* listen: bus address a `cairn service` binds */
	char events[CN_CFG_STR]; /* events: PUB/SUB address ("" = inproc default) */
	int service_workers;     /* service_workers: worker threads per service, 32 */
	cn_service_addr
	        services[CN_CFG_MAX_SERVICES]; /* service.<name>: address, for the gateway */
	int nservices;
	/* bus TLS (tls+tcp:// addresses) */
	char tls_cert[CN_CFG_STR]; /* tls_cert */
	char tls_key[CN_CFG_STR];  /* tls_key */
	char tls_ca[CN_CFG_STR];   /* tls_ca */
	char tls_server_name[256]; /* tls_server_name: expected in services' certificates */
	/* logging */
	char log_level[16]; /* log_level: info */
	bool log_json;      /* log_json: false */
	/* tracking */
	size_t search_cache_bytes; /* search_cache_bytes: 512 MiB bound of the run search cache */
	/* plugin settings: store.<plugin>.<name>, deploy.<plugin>.<name>, handed
	 * to plugins (cn_plugin_host_config_set) by the executable */
	cn_plugin_setting plugin_settings[CN_CFG_MAX_PLUGIN_SETTINGS];
	int nplugin_settings;
	/* artifact proxy */
	bool artifacts_only;  /* artifacts_only: false (gateway serves only artifact routes) */
	int artifact_workers; /* artifact_workers: threads for blocking store calls, 8 */
	/* user_header: request header a trusted proxy sets to the authenticated
	 * user (e.g. X-Forwarded-User); "" = none. The audit trail's `caller`. */
	char user_header[64];
	/* traces */
	int64_t trace_ttl_ms;                /* trace_ttl_ms: 0 = keep traces forever */
	int64_t trace_ingest_budget_mb;      /* trace_ingest_budget_mb: span bytes in flight, 64 */
	int64_t trace_retention_interval_ms; /* trace_retention_interval_ms: TTL sweep period */
} cn_config;

void cn_config_defaults(cn_config *c);
/* Apply a YAML file (a flat mapping of keys; `services:` is a mapping of
 * name -> address). Unknown keys are errors naming the key and the line. */
cn_code cn_config_load_file(cn_config *c, const char *path, cn_err *err);
/* Apply CAIRN_* and the MLflow variables listed above. */
cn_code cn_config_load_env(cn_config *c, cn_err *err);
/* Apply one setting by key ("port", "data-dir" and "data_dir" alike, or
 * "service.tracking"), from a flag. Errors name the key and the value. */
cn_code cn_config_set(cn_config *c, const char *key, const char *value, cn_err *err);
/* Address of a service by name, NULL when not configured. */
const char *cn_config_service_addr(const cn_config *c, const char *name);
/*
 * Plugin settings (config_plugins.c). Keys are <kind>.<plugin>.<name> with
 * kind "store" or "deploy": `store: {s3: {endpoint: ...}}` or
 * `store.s3.endpoint: ...` in the file, CAIRN_STORE_S3_ENDPOINT in the
 * environment, --store.s3.endpoint on the command line. Values are never
 * shown in messages; `cairn config` masks those whose name holds key,
 * secret, token, password or credential.
 */
bool cn_config_is_plugin_key(const char *key);
cn_code cn_config_set_plugin(cn_config *c, const char *key, const char *value, const char *source,
                             cn_err *err);
/* The environment's CAIRN_STORE_* and CAIRN_DEPLOY_* (part of cn_config_load_env). */
cn_code cn_config_plugin_env(cn_config *c, cn_err *err);
/* True when the key's last part names a secret (masked in output). */
bool cn_config_is_secret(const char *key);

/* Print every setting with its current value (for `cairn config`). */
void cn_config_dump(const cn_config *c, void *file /* FILE* */);
/* Print every setting's key, type, default, environment names and help
 * (for `cairn config --help` and the README's table). */
void cn_config_help(void *file /* FILE* */);
/* Fill derived defaults once all sources are applied: data_dir becomes
 * absolute (relative to the working directory), artifacts_destination ""
 * becomes <data_dir>/artifacts, gateway_threads 0 becomes the number of
 * online CPUs. A path that would not fit CN_CFG_STR is left as it was and a
 * CONFIG-PATH-TOO-LONG warning is logged. Idempotent; never blocks. */
void cn_config_resolve(cn_config *c);

#endif
