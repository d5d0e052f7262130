/*
 * core/cli/artifacts_remote.h: where `cairn artifacts` reads and writes:
 * either a store opened directly through its plugin (any store URI), or a
 * tracking server's artifact proxy over HTTP (/api/2.0/mlflow-artifacts/,
 * as MLflow's client uses it for mlflow-artifacts:/ URIs). Both stream:
 * no file is ever held whole in memory.
 *
 * Paths given here are relative to the remote's root ("" = the root) and
 * are checked as artifact paths before use.
 */
#ifndef CN_CLI_ARTIFACTS_REMOTE_H
#define CN_CLI_ARTIFACTS_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "cairn/plugin.h"
#include "core/cli/cli_progress.h"
#include "core/error.h"
#include "core/plugin/store.h"

#define CLI_URL_MAX 2048

typedef struct cli_remote {
	bool http;
	cn_store *store;               /* direct: borrowed */
	char base_url[CLI_URL_MAX];    /* http: the tracking server, no trailing '/' */
	char root[CAIRN_PATH_MAX + 1]; /* path of the artifact URI's root in the store / proxy */
	int64_t timeout_ms;            /* http: per request; 0 = none */
	int64_t stall_ms;              /* http: give up when no byte moved this long; 0 = never */
} cli_remote;

typedef struct cli_entry {
	char *name; /* one safe path component */
	bool is_dir;
	int64_t size;
} cli_entry;

typedef struct cli_entries {
	cli_entry *v;
	size_t n, cap;
} cli_entries;

void cli_entries_free(cli_entries *e);

/* The direct children of rel, sorted as the remote gives them. Entries whose
 * names are not a single safe component are refused (an error), so nothing
 * a server sends can make a download write outside its destination. */
cn_code cli_remote_list(cli_remote *r, const char *rel, cli_entries *out, cn_err *err);
/* Streams rel into fd; progress gets every byte. */
cn_code cli_remote_get(cli_remote *r, const char *rel, int fd, cli_progress *p, cn_err *err);
/* Streams size bytes of fd (from offset 0) to rel. */
cn_code cli_remote_put(cli_remote *r, const char *rel, int fd, int64_t size, cli_progress *p,
                       cn_err *err);
/* Direct stores: whether rel is a directory, and its size when a file.
 * CN_RESOURCE_DOES_NOT_EXIST when absent. HTTP: lists rel (the proxy has
 * no stat): a non-empty listing is a directory, else a file of size -1. */
cn_code cli_remote_stat(cli_remote *r, const char *rel, bool *is_dir, int64_t *size, cn_err *err);

/* GET <r->base_url>/api/2.0/mlflow/runs/get?run_id=: the run's artifact_uri
 * (r's stall limit applies; the whole call is limited to a minute). */
cn_code cli_run_artifact_uri(const cli_remote *r, const char *run_id, char *out, size_t cap,
                             cn_err *err);

/* The path of a proxied URI: "mlflow-artifacts:/1/r/artifacts" and
 * "mlflow-artifacts://host:5000/1/r/artifacts" -> "1/r/artifacts". */
cn_code cli_proxied_path(const char *uri, char *out, size_t cap, cn_err *err);

/* "a" + "b/c" -> "a/b/c"; either may be "". */
cn_code cli_join(char *out, size_t cap, const char *a, const char *b, cn_err *err);

/* Percent-encodes everything but unreserved characters (and '/' when
 * keep_slash) of in into out. False when out is too small. */
bool cli_url_encode(const char *in, bool keep_slash, char *out, size_t cap);

#endif
