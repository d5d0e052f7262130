/*
 * core/config.c: settings from defaults, a YAML file, the environment and flags.
 *
 * Every setting is one row of cfg_table: key, type, where it lives in
 * cn_config, default, MLflow environment name, help. Each source turns its
 * input into (key, text value, source label) and calls the one generic
 * setter, so parsing rules and error messages are the same everywhere.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/log.h"

extern char **environ;

typedef enum cfg_type { CFG_STR, CFG_INT, CFG_INT64, CFG_SIZE, CFG_BOOL, CFG_LEVEL } cfg_type;

/* Converts an MLflow variable's value into the Cairn setting's value. */
typedef cn_code (*cfg_conv_fn)(const char *in, char *out, size_t cap, cn_err *err);

typedef struct cfg_setting {
	const char *key;
	cfg_type type;
	size_t off, size; /* field in cn_config */
	int64_t min, max; /* numeric range, inclusive */
	bool nonempty;    /* strings: "" is an error */
	const char *def;  /* default, parsed like any other value */
	const char *mlflow_env;
	cfg_conv_fn from_mlflow; /* NULL = value used as is */
	const char *help;
} cfg_setting;

static cn_code cfg_backend_uri(const char *in, char *out, size_t cap, cn_err *err);

#define CFG_FIELD(f) offsetof(cn_config, f), sizeof(((cn_config *)0)->f)
#define CFG_DAY_MS   (24LL * 3600 * 1000)

static const cfg_setting cfg_table[] = {
        {"host", CFG_STR, CFG_FIELD(host), 0, 0, true, "127.0.0.1", "MLFLOW_HOST", NULL,
         "address the HTTP gateway listens on"},
        {"port", CFG_INT, CFG_FIELD(port), 0, 65535, false, "5000", "MLFLOW_PORT", NULL,
         "TCP port of the HTTP gateway (0 = any free port)"},
        {"gateway_threads", CFG_INT, CFG_FIELD(gateway_threads), 0, 1024, false, "0",
         "MLFLOW_WORKERS", NULL, "HTTP worker threads (0 = number of CPUs)"},
        {"gateway_per_connection", CFG_BOOL, CFG_FIELD(gateway_per_connection), 0, 0, false,
         "false", NULL, NULL,
         "a thread per HTTP connection that serves in-process calls itself (no hand-offs; "
         "gateway_threads unused)"},
        {"max_body_bytes", CFG_SIZE, CFG_FIELD(max_body_bytes), 1024, 1LL << 32, false, "1MiB",
         NULL, NULL, "largest JSON request body accepted (artifact uploads stream)"},
        {"request_timeout_ms", CFG_INT64, CFG_FIELD(request_timeout_ms), 1, CFG_DAY_MS, false,
         "30000", NULL, NULL, "deadline of one call over the bus, in milliseconds"},
        {"shutdown_grace_ms", CFG_INT64, CFG_FIELD(shutdown_grace_ms), 0, CFG_DAY_MS, false,
         "10000", NULL, NULL, "time in-flight requests get to finish at shutdown"},
        {"data_dir", CFG_STR, CFG_FIELD(data_dir), 0, 0, true, "./cairn-data",
         "MLFLOW_BACKEND_STORE_URI", cfg_backend_uri,
         "directory of the RocksDB databases (MLflow's file:// or rocksdb:// URIs accepted)"},
        {"artifacts_destination", CFG_STR, CFG_FIELD(artifacts_destination), 0, 0, false, "",
         "MLFLOW_ARTIFACTS_DESTINATION", NULL,
         "where proxied artifacts are stored (\"\" = <data_dir>/artifacts)"},
        {"default_artifact_root", CFG_STR, CFG_FIELD(default_artifact_root), 0, 0, false, "",
         "MLFLOW_DEFAULT_ARTIFACT_ROOT", NULL,
         "artifact location of new experiments (\"\" = mlflow-artifacts:/ when serving)"},
        {"serve_artifacts", CFG_BOOL, CFG_FIELD(serve_artifacts), 0, 0, false, "true",
         "MLFLOW_SERVE_ARTIFACTS", NULL,
         "proxy artifact uploads and downloads through the gateway"},
        {"plugin_dir", CFG_STR, CFG_FIELD(plugin_dir), 0, 0, false, "", NULL, NULL,
         "directory of artifact-store and deploy-target plugins (.so)"},
        {"sync_writes", CFG_BOOL, CFG_FIELD(sync_writes), 0, 0, false, "true", NULL, NULL,
         "fsync the write-ahead log before acknowledging a write"},
        {"kv_block_cache_bytes", CFG_SIZE, CFG_FIELD(kv_block_cache_bytes), 1LL << 20, 1LL << 40,
         false, "16MiB", NULL, NULL,
         "RocksDB block cache shared by the service databases of one process"},
        {"listen", CFG_STR, CFG_FIELD(listen), 0, 0, false, "", NULL, NULL,
         "bus address a `cairn service` binds"},
        {"events", CFG_STR, CFG_FIELD(events), 0, 0, false, "", NULL, NULL,
         "bus address of the event PUB/SUB socket (\"\" = in-process)"},
        {"service_workers", CFG_INT, CFG_FIELD(service_workers), 1, 1024, false, "32", NULL, NULL,
         "worker threads per service"},
        {"tls_cert", CFG_STR, CFG_FIELD(tls_cert), 0, 0, false, "", NULL, NULL,
         "PEM certificate for tls+tcp:// bus addresses"},
        {"tls_key", CFG_STR, CFG_FIELD(tls_key), 0, 0, false, "", NULL, NULL,
         "PEM private key for tls+tcp:// bus addresses"},
        {"tls_ca", CFG_STR, CFG_FIELD(tls_ca), 0, 0, false, "", NULL, NULL,
         "PEM CA bundle that bus peers are verified against"},
        {"tls_server_name", CFG_STR, CFG_FIELD(tls_server_name), 0, 0, false, "", NULL, NULL,
         "name expected in services' certificates (default: the host of each address)"},
        {"log_level", CFG_LEVEL, CFG_FIELD(log_level), 0, 0, true, "info", NULL, NULL,
         "debug, info, warn, error or off"},
        {"log_json", CFG_BOOL, CFG_FIELD(log_json), 0, 0, false, "false", NULL, NULL,
         "write log lines as JSON instead of logfmt"},
        {"search_cache_bytes", CFG_SIZE, CFG_FIELD(search_cache_bytes), 0, 1LL << 40, false,
         "512MiB", NULL, NULL, "memory bound of the tracking service's in-memory run search cache"},
        {"artifacts_only", CFG_BOOL, CFG_FIELD(artifacts_only), 0, 0, false, "false", NULL, NULL,
         "serve only the artifact routes, no tracking (mlflow server --artifacts-only)"},
        {"artifact_workers", CFG_INT, CFG_FIELD(artifact_workers), 1, 256, false, "8", NULL, NULL,
         "gateway threads that run blocking artifact-store calls"},
        {"user_header", CFG_STR, CFG_FIELD(user_header), 0, 0, false, "", NULL, NULL,
         "header a trusted proxy sets to the authenticated user, recorded as the caller "
         "(\"\" = none; the HTTP Basic user name is used otherwise)"},
        {"trace_ttl_ms", CFG_INT64, CFG_FIELD(trace_ttl_ms), 0, 1LL << 50, false, "0", NULL, NULL,
         "default trace time-to-live in milliseconds (0 = forever; experiment tag "
         "cairn.trace.ttl overrides)"},
        {"trace_ingest_budget_mb", CFG_INT64, CFG_FIELD(trace_ingest_budget_mb), 1, 1 << 20, false,
         "64", NULL, NULL,
         "MiB of span data the traces service ingests at once; more is refused with 503"},
        {"trace_retention_interval_ms", CFG_INT64, CFG_FIELD(trace_retention_interval_ms), 10,
         CFG_DAY_MS, false, "60000", NULL, NULL,
         "how often the traces service looks for traces past their time-to-live"},
};

#define CFG_COUNT       (sizeof cfg_table / sizeof cfg_table[0])
#define CFG_SERVICE_PFX "service."

static const char *const cfg_type_names[] = {"string", "int", "int", "size", "bool", "level"};

/* "Data-Dir" -> "data_dir": keys accept '-' or '_' and any case. */
static bool cfg_norm(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i]; i++) {
		if (i + 1 >= cap)
			return false;
		char ch = (char)tolower((unsigned char)in[i]);
		out[i] = ch == '-' ? '_' : ch;
	}
	out[i] = '\0';
	return true;
}

static const cfg_setting *cfg_find(const char *key)
{
	char k[64];
	if (!cfg_norm(key, k, sizeof k))
		return NULL;
	for (size_t i = 0; i < CFG_COUNT; i++)
		if (strcmp(cfg_table[i].key, k) == 0)
			return &cfg_table[i];
	return NULL;
}

/* Copies s without leading and trailing blanks (for numbers and bools). */
static void cfg_trim(const char *s, char *out, size_t cap)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static cn_code cfg_bad(cn_err *err, const char *key, const char *value, const char *what,
                       const char *source)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "config: %s: '%s' %s (from %s)", key,
	                  value, what, source);
}

static bool cfg_parse_i64(const char *s, int64_t *out)
{
	if (!*s || !(isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return false;
	*out = v;
	return true;
}

/* "1048576", "512k", "1 MiB", "2GB". All suffixes are binary (k = KiB):
 * that is what people mean for memory and body limits. */
static bool cfg_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *sfx;
		unsigned shift;
	} units[] = {{"", 0},     {"b", 0},   {"k", 10},   {"kb", 10}, {"kib", 10},
	             {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},
	             {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40}};
	if (!isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(end, units[i].sfx) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return false;
		*out = (uint64_t)v << units[i].shift;
		return true;
	}
	return false;
}

static bool cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* The generic setter: parses `value` by the setting's type into a temporary
 * and stores it only when valid, so a bad value leaves the config unchanged. */
static cn_code cfg_apply(cn_config *c, const cfg_setting *s, const char *value, const char *source,
                         cn_err *err)
{
	char *field = (char *)c + s->off;
	char t[128];
	if (s->type == CFG_STR) {
		size_t n = strlen(value);
		if (n >= s->size) {
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s: value is too long (%zu bytes, at most %zu) "
			                  "(from %s)",
			                  s->key, n, s->size - 1, source);
		}
		if (s->nonempty && n == 0)
			return cfg_bad(err, s->key, value, "must not be empty", source);
		memcpy(field, value, n + 1);
		return CN_OK;
	}
	cfg_trim(value, t, sizeof t);
	switch (s->type) {
	case CFG_INT:
	case CFG_INT64:
	case CFG_SIZE: {
		int64_t v;
		if (s->type == CFG_SIZE) {
			uint64_t u;
			if (!cfg_parse_size(t, &u))
				return cfg_bad(err, s->key, value,
				               "is not a size (bytes, or a number with k, m, g "
				               "or KiB, MiB, GiB)",
				               source);
			v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
		} else if (!cfg_parse_i64(t, &v)) {
			return cfg_bad(err, s->key, value, "is not an integer", source);
		}
		if (v < s->min || v > s->max) {
			char what[96];
			snprintf(what, sizeof what, "is out of range (%" PRId64 "..%" PRId64 ")",
			         s->min, s->max);
			return cfg_bad(err, s->key, value, what, source);
		}
		if (s->type == CFG_INT)
			*(int *)field = (int)v;
		else if (s->type == CFG_INT64)
			*(int64_t *)field = v;
		else
			*(size_t *)field = (size_t)v;
		return CN_OK;
	}
	case CFG_BOOL: {
		bool b;
		if (!cfg_parse_bool(t, &b))
			return cfg_bad(err, s->key, value,
			               "is not a boolean (true/false, 1/0, yes/no, on/off)",
			               source);
		*(bool *)field = b;
		return CN_OK;
	}
	case CFG_LEVEL: {
		cn_log_level l;
		if (!cn_log_level_parse(t, &l))
			return cfg_bad(err, s->key, value,
			               "is not a log level (debug, info, warn, error, off)",
			               source);
		snprintf(field, s->size, "%s", cn_log_level_name(l));
		return CN_OK;
	}
	case CFG_STR: break;
	}
	return cn_err_set(err, CN_INTERNAL_ERROR, "config: %s: unknown setting type", s->key);
}

/* Sets, replaces or (with an empty address) removes service.<name>. */
static cn_code cfg_set_service(cn_config *c, const char *rawname, const char *addr,
                               const char *source, cn_err *err)
{
	char name[sizeof c->services[0].name];
	if (!*rawname || !cfg_norm(rawname, name, sizeof name))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "config: service name '%s' must be 1 to %zu characters (from %s)",
		                  rawname, sizeof name - 1, source);
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "config: service name '%s' may hold only letters, digits, "
			        "'-' and '_' (from %s)",
			        rawname, source);
	size_t alen = strlen(addr);
	if (alen >= sizeof c->services[0].addr)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "config: service.%s: address is too long (%zu bytes) (from %s)",
		                  name, alen, source);
	int at = -1;
	for (int i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			at = i;
	if (alen == 0) {
		if (at >= 0) {
			memmove(&c->services[at], &c->services[at + 1],
			        (size_t)(c->nservices - at - 1) * sizeof c->services[0]);
			c->nservices--;
		}
		return CN_OK;
	}
	if (at < 0) {
		if (c->nservices >= CN_CFG_MAX_SERVICES)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "config: service.%s: too many services (at most %d) "
			                  "(from %s)",
			                  name, CN_CFG_MAX_SERVICES, source);
		at = c->nservices++;
		memcpy(c->services[at].name, name, strlen(name) + 1);
	}
	memcpy(c->services[at].addr, addr, alen + 1);
	return CN_OK;
}

/* One entry point for every source: "service.<name>" or a table key. */
static cn_code cfg_set_any(cn_config *c, const char *key, const char *value, const char *source,
                           cn_err *err)
{
	if (strncasecmp(key, CFG_SERVICE_PFX, strlen(CFG_SERVICE_PFX)) == 0)
		return cfg_set_service(c, key + strlen(CFG_SERVICE_PFX), value, source, err);
	if (cn_config_is_plugin_key(key))
		return cn_config_set_plugin(c, key, value, source, err);
	const cfg_setting *s = cfg_find(key);
	if (!s)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "config: unknown setting '%s' (from %s)", key, source);
	return cfg_apply(c, s, value, source, err);
}

void cn_config_defaults(cn_config *c)
{
	memset(c, 0, sizeof *c);
	/* Defaults are valid by construction (the unit test proves each one). */
	for (size_t i = 0; i < CFG_COUNT; i++)
		cfg_apply(c, &cfg_table[i], cfg_table[i].def, "default", NULL);
}

cn_code cn_config_set(cn_config *c, const char *key, const char *value, cn_err *err)
{
	char source[80];
	if (strncasecmp(key, CFG_SERVICE_PFX, strlen(CFG_SERVICE_PFX)) == 0) {
		snprintf(source, sizeof source, "--service");
	} else if (cn_config_is_plugin_key(key)) {
		snprintf(source, sizeof source, "--%.70s", key);
	} else {
		snprintf(source, sizeof source, "--%s", key);
		for (char *p = source + 2; *p; p++)
			*p = *p == '_' ? '-' : *p;
	}
	return cfg_set_any(c, key, value ? value : "", source, err);
}

const char *cn_config_service_addr(const cn_config *c, const char *name)
{
	char n[sizeof c->services[0].name];
	if (!name || !cfg_norm(name, n, sizeof n))
		return NULL;
	for (int i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, n) == 0)
			return c->services[i].addr;
	return NULL;
}

/* ---- environment ---- */

static int cfg_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* MLFLOW_BACKEND_STORE_URI -> data_dir. A plain path, file:///p,
 * file://localhost/p, file:/p and rocksdb://p name a directory; any other
 * scheme (sqlite, postgresql, ...) is a database Cairn cannot use. The
 * message names only the scheme: database URIs often carry passwords. */
static cn_code cfg_backend_uri(const char *in, char *out, size_t cap, cn_err *err)
{
	const char *colon = strchr(in, ':');
	bool is_uri = false;
	if (colon && colon > in && isalpha((unsigned char)in[0])) {
		is_uri = true;
		for (const char *p = in; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
				is_uri = false;
		/* "my:dir" is a path; a scheme is followed by "//" or is file: */
		if (is_uri && strncmp(colon, "://", 3) != 0 && strncasecmp(in, "file:", 5) != 0)
			is_uri = false;
	}
	const char *path = in;
	if (is_uri) {
		size_t slen = (size_t)(colon - in);
		if (slen == 4 && strncasecmp(in, "file", 4) == 0) {
			path = colon + 1;
			if (strncmp(path, "//", 2) == 0) {
				path += 2;
				if (strncasecmp(path, "localhost/", 10) == 0)
					path += 9;
				if (*path != '/')
					return cn_err_set(
					        err, CN_INVALID_PARAMETER_VALUE,
					        "config: data_dir: MLFLOW_BACKEND_STORE_URI "
					        "'%s' names a remote host; give a local "
					        "directory",
					        in);
			}
		} else if (slen == 7 && strncasecmp(in, "rocksdb", 7) == 0) {
			path = colon + 3; /* rocksdb:///abs or rocksdb://relative */
		} else {
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "config: data_dir: MLFLOW_BACKEND_STORE_URI uses scheme "
			                  "'%.*s', but Cairn stores in RocksDB: give a directory, "
			                  "file:///path or rocksdb:///path",
			                  (int)slen, in);
		}
	}
	size_t o = 0;
	for (const char *p = path; *p; p++) {
		char ch = *p;
		if (is_uri && ch == '%') {
			int hi = cfg_hexval(p[1]), lo = hi < 0 ? -1 : cfg_hexval(p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                  "config: data_dir: MLFLOW_BACKEND_STORE_URI '%s' "
				                  "has a bad %%-escape",
				                  in);
			ch = (char)(hi * 16 + lo);
			p += 2;
		}
		if (o + 1 >= cap)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "config: data_dir: MLFLOW_BACKEND_STORE_URI is too long");
		out[o++] = ch;
	}
	out[o] = '\0';
	if (o == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "config: data_dir: MLFLOW_BACKEND_STORE_URI '%s' has no path",
		                  in);
	return CN_OK;
}

static cn_code cfg_env(cn_config *c, cn_err *err)
{
	for (size_t i = 0; i < CFG_COUNT; i++) {
		const cfg_setting *s = &cfg_table[i];
		char name[80] = "CAIRN_";
		for (size_t j = 0; s->key[j]; j++)
			name[6 + j] = (char)toupper((unsigned char)s->key[j]);
		const char *v = getenv(name);
		if (v) {
			cn_code rc = cfg_apply(c, s, v, name, err);
			if (rc != CN_OK)
				return rc;
			continue; /* the CAIRN_ name wins over the MLflow one */
		}
		if (!s->mlflow_env || !(v = getenv(s->mlflow_env)))
			continue;
		if (s->from_mlflow) {
			char conv[CN_CFG_STR];
			cn_code rc = s->from_mlflow(v, conv, sizeof conv, err);
			if (rc != CN_OK)
				return rc;
			rc = cfg_apply(c, s, conv, s->mlflow_env, err);
			if (rc != CN_OK)
				return rc;
		} else {
			cn_code rc = cfg_apply(c, s, v, s->mlflow_env, err);
			if (rc != CN_OK)
				return rc;
		}
	}
	static const char pfx[] = "CAIRN_SERVICE_";
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, pfx, sizeof pfx - 1) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		size_t nlen = eq ? (size_t)(eq - *e) : 0;
		char var[80], name[80];
		if (!eq || nlen >= sizeof var)
			continue;
		memcpy(var, *e, nlen);
		var[nlen] = '\0';
		snprintf(name, sizeof name, "%s", var + sizeof pfx - 1);
		/* CAIRN_SERVICE_WORKERS is the setting service_workers, read
		 * above, not the address of a service called "workers". */
		bool is_setting = false;
		for (size_t i = 0; i < CFG_COUNT && !is_setting; i++) {
			const char *k = cfg_table[i].key;
			size_t j = 0;
			while (k[j] && var[6 + j] == (char)toupper((unsigned char)k[j]))
				j++;
			is_setting = !k[j] && var[6 + j] == '\0';
		}
		if (is_setting)
			continue;
		cn_code rc = cfg_set_service(c, name, eq + 1, var, err);
		if (rc != CN_OK)
			return rc;
	}
	return cn_config_plugin_env(c, err);
}

cn_code cn_config_load_env(cn_config *c, cn_err *err)
{
	/* Apply to a copy so that an environment with an error changes nothing. */
	cn_config *tmp = malloc(sizeof *tmp);
	if (!tmp)
		return cn_err_set(err, CN_INTERNAL_ERROR, "config: out of memory");
	*tmp = *c;
	cn_code rc = cfg_env(tmp, err);
	if (rc == CN_OK)
		*c = *tmp;
	free(tmp);
	return rc;
}

/* ---- YAML file ---- */

typedef struct cfg_yaml {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *path;
	cn_err *err;
} cfg_yaml;

/* Next event into y->ev (the previous one is freed); errors name the line. */
static cn_code cfg_yaml_next(cfg_yaml *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE, "config: %s line %zu: %s",
		                  y->path, y->parser.problem_mark.line + 1,
		                  y->parser.problem ? y->parser.problem : "YAML syntax error");
	y->have_ev = true;
	if (y->ev.type == YAML_ALIAS_EVENT)
		return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
		                  "config: %s line %zu: aliases are not supported", y->path,
		                  y->ev.start_mark.line + 1);
	return CN_OK;
}

static size_t cfg_yaml_line(const cfg_yaml *y)
{
	return y->ev.start_mark.line + 1;
}

/* A scalar's text; plain ~ and null mean "empty". */
static const char *cfg_yaml_scalar(const cfg_yaml *y)
{
	const char *v = (const char *)y->ev.data.scalar.value;
	if (y->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0))
		return "";
	return v;
}

/* Reads the pairs of `services:` after its MAPPING_START. */
static cn_code cfg_yaml_services(cfg_yaml *y, cn_config *c)
{
	for (;;) {
		cn_code rc = cfg_yaml_next(y);
		if (rc != CN_OK)
			return rc;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return CN_OK;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s line %zu: services: expected a service name",
			                  y->path, cfg_yaml_line(y));
		char name[64], source[CN_CFG_STR + 32];
		snprintf(name, sizeof name, "%s", cfg_yaml_scalar(y));
		size_t line = cfg_yaml_line(y);
		if ((rc = cfg_yaml_next(y)) != CN_OK)
			return rc;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s line %zu: services: %s: expected an address",
			                  y->path, line, name);
		snprintf(source, sizeof source, "%s line %zu", y->path, line);
		if ((rc = cfg_set_service(c, name, cfg_yaml_scalar(y), source, y->err)) != CN_OK)
			return rc;
	}
}

/* Reads a plugin section (`store:`, `deploy:`) after its MAPPING_START:
 * nested mappings join their keys with '.', so `store: {s3: {region: x}}`
 * is store.s3.region. */
static cn_code cfg_yaml_plugin(cfg_yaml *y, cn_config *c, const char *prefix, int depth)
{
	for (;;) {
		cn_code rc = cfg_yaml_next(y);
		if (rc != CN_OK)
			return rc;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return CN_OK;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s line %zu: %s: expected a setting name",
			                  y->path, cfg_yaml_line(y), prefix);
		char key[CN_CFG_PLUGIN_KEY + 80], source[CN_CFG_STR + 32];
		snprintf(key, sizeof key, "%.80s.%.80s", prefix, cfg_yaml_scalar(y));
		snprintf(source, sizeof source, "%s line %zu", y->path, cfg_yaml_line(y));
		if ((rc = cfg_yaml_next(y)) != CN_OK)
			return rc;
		if (y->ev.type == YAML_MAPPING_START_EVENT && depth < 4)
			rc = cfg_yaml_plugin(y, c, key, depth + 1);
		else if (y->ev.type == YAML_SCALAR_EVENT)
			rc = cn_config_set_plugin(c, key, cfg_yaml_scalar(y), source, y->err);
		else
			rc = cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                "config: %s: expected a value or a mapping (from %s)", key,
			                source);
		if (rc != CN_OK)
			return rc;
	}
}

/* Reads the top-level mapping's pairs after its MAPPING_START. */
static cn_code cfg_yaml_mapping(cfg_yaml *y, cn_config *c)
{
	bool seen[CFG_COUNT] = {false};
	for (;;) {
		cn_code rc = cfg_yaml_next(y);
		if (rc != CN_OK)
			return rc;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return CN_OK;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s line %zu: expected a setting name", y->path,
			                  cfg_yaml_line(y));
		char key[128], source[CN_CFG_STR + 32];
		snprintf(key, sizeof key, "%s", (const char *)y->ev.data.scalar.value);
		size_t line = cfg_yaml_line(y);
		snprintf(source, sizeof source, "%s line %zu", y->path, line);
		if ((rc = cfg_yaml_next(y)) != CN_OK)
			return rc;
		if (strcasecmp(key, "services") == 0) {
			if (y->ev.type == YAML_MAPPING_START_EVENT) {
				if ((rc = cfg_yaml_services(y, c)) != CN_OK)
					return rc;
				continue;
			}
			if (y->ev.type == YAML_SCALAR_EVENT && !*cfg_yaml_scalar(y))
				continue; /* `services:` with nothing under it */
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: services: expected a mapping of name: address "
			                  "(from %s)",
			                  source);
		}
		if ((strcasecmp(key, "store") == 0 || strcasecmp(key, "deploy") == 0) &&
		    (y->ev.type == YAML_MAPPING_START_EVENT ||
		     (y->ev.type == YAML_SCALAR_EVENT && !*cfg_yaml_scalar(y)))) {
			if (y->ev.type == YAML_MAPPING_START_EVENT &&
			    (rc = cfg_yaml_plugin(y, c, key, 1)) != CN_OK)
				return rc;
			continue;
		}
		const cfg_setting *s = cfg_find(key);
		if (!s && strncasecmp(key, CFG_SERVICE_PFX, strlen(CFG_SERVICE_PFX)) != 0 &&
		    !cn_config_is_plugin_key(key))
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: unknown setting '%s' (from %s)", key, source);
		if (y->ev.type != YAML_SCALAR_EVENT)
			return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
			                  "config: %s: expected a single value, not a list or "
			                  "mapping (from %s)",
			                  key, source);
		if (s) {
			size_t idx = (size_t)(s - cfg_table);
			if (seen[idx])
				return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
				                  "config: %s: set twice in the file (from %s)",
				                  key, source);
			seen[idx] = true;
		}
		if ((rc = cfg_set_any(c, key, cfg_yaml_scalar(y), source, y->err)) != CN_OK)
			return rc;
	}
}

static cn_code cfg_yaml_document(cfg_yaml *y, cn_config *c)
{
	cn_code rc;
	if ((rc = cfg_yaml_next(y)) != CN_OK) /* STREAM_START */
		return rc;
	if ((rc = cfg_yaml_next(y)) != CN_OK)
		return rc;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return CN_OK;                 /* empty file: nothing to apply */
	if ((rc = cfg_yaml_next(y)) != CN_OK) /* after DOCUMENT_START */
		return rc;
	if (y->ev.type == YAML_MAPPING_START_EVENT) {
		if ((rc = cfg_yaml_mapping(y, c)) != CN_OK)
			return rc;
	} else if (!(y->ev.type == YAML_SCALAR_EVENT && !*cfg_yaml_scalar(y))) {
		return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
		                  "config: %s line %zu: expected a mapping of settings", y->path,
		                  cfg_yaml_line(y));
	}
	if ((rc = cfg_yaml_next(y)) != CN_OK) /* DOCUMENT_END */
		return rc;
	if ((rc = cfg_yaml_next(y)) != CN_OK)
		return rc;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return cn_err_set(y->err, CN_INVALID_PARAMETER_VALUE,
		                  "config: %s line %zu: only one YAML document is allowed", y->path,
		                  cfg_yaml_line(y));
	return CN_OK;
}

cn_code cn_config_load_file(cn_config *c, const char *path, cn_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "config: cannot open '%s': %s",
		                  path, strerror(errno));
	cfg_yaml y = {.path = path, .err = err};
	if (!yaml_parser_initialize(&y.parser)) {
		fclose(f);
		return cn_err_set(err, CN_INTERNAL_ERROR, "config: out of memory");
	}
	yaml_parser_set_input_file(&y.parser, f);
	/* Apply to a copy so that a file with an error changes nothing. */
	cn_config *tmp = malloc(sizeof *tmp);
	cn_code rc;
	if (!tmp) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "config: out of memory");
	} else {
		*tmp = *c;
		rc = cfg_yaml_document(&y, tmp);
		if (rc == CN_OK)
			*c = *tmp;
		free(tmp);
	}
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	fclose(f);
	return rc;
}

/* ---- output and derived values ---- */

static void cfg_format(const cn_config *c, const cfg_setting *s, char *out, size_t cap)
{
	const char *field = (const char *)c + s->off;
	switch (s->type) {
	case CFG_STR:
	case CFG_LEVEL: snprintf(out, cap, "%s", field); break;
	case CFG_INT: snprintf(out, cap, "%d", *(const int *)field); break;
	case CFG_INT64: snprintf(out, cap, "%" PRId64, *(const int64_t *)field); break;
	case CFG_SIZE: snprintf(out, cap, "%zu", *(const size_t *)field); break;
	case CFG_BOOL: snprintf(out, cap, "%s", *(const bool *)field ? "true" : "false"); break;
	}
}

void cn_config_dump(const cn_config *c, void *file)
{
	FILE *f = file;
	char v[CN_CFG_STR];
	for (size_t i = 0; i < CFG_COUNT; i++) {
		cfg_format(c, &cfg_table[i], v, sizeof v);
		fprintf(f, "%s = %s\n", cfg_table[i].key, v);
	}
	for (int i = 0; i < c->nservices; i++)
		fprintf(f, "service.%s = %s\n", c->services[i].name, c->services[i].addr);
	for (int i = 0; i < c->nplugin_settings; i++) {
		const cn_plugin_setting *p = &c->plugin_settings[i];
		fprintf(f, "%s = %s\n", p->key,
		        cn_config_is_secret(p->key) ? (p->value[0] ? "********" : "") : p->value);
	}
}

void cn_config_help(void *file)
{
	FILE *f = file;
	for (size_t i = 0; i < CFG_COUNT; i++) {
		const cfg_setting *s = &cfg_table[i];
		char env[80] = "CAIRN_";
		for (size_t j = 0; s->key[j]; j++)
			env[6 + j] = (char)toupper((unsigned char)s->key[j]);
		fprintf(f, "%s (%s, default \"%s\"; env %s%s%s): %s\n", s->key,
		        cfg_type_names[s->type], s->def, env, s->mlflow_env ? ", " : "",
		        s->mlflow_env ? s->mlflow_env : "", s->help);
	}
	fprintf(f, "service.<name> (string; env CAIRN_SERVICE_<NAME>; YAML services: {name: "
	           "addr}): bus address of a service, for the gateway\n");
	fprintf(f, "store.<plugin>.<name>, deploy.<plugin>.<name> (string; env "
	           "CAIRN_STORE_<PLUGIN>_<NAME>, CAIRN_DEPLOY_<PLUGIN>_<NAME>; YAML store: {s3: "
	           "{endpoint: ...}}): settings handed to plugins; values named *key*, *secret*, "
	           "*token*, *password* are masked in output\n");
}

static bool cfg_join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);
	return n >= 0 && (size_t)n < cap;
}

void cn_config_resolve(cn_config *c)
{
	char tmp[CN_CFG_STR];
	if (c->data_dir[0] && c->data_dir[0] != '/') {
		char cwd[PATH_MAX];
		const char *rel = c->data_dir;
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2; /* "./cairn-data" -> "<cwd>/cairn-data" */
		if (strcmp(rel, ".") == 0)
			rel = "";
		if (!getcwd(cwd, sizeof cwd)) {
			CN_LOGW("CONFIG-NO-CWD", NULL, "data_dir %s stays relative: %s",
			        c->data_dir, strerror(errno));
		} else if (!(*rel ? cfg_join(tmp, sizeof tmp, cwd, rel)
		                  : snprintf(tmp, sizeof tmp, "%s", cwd) < (int)sizeof tmp)) {
			CN_LOGW("CONFIG-PATH-TOO-LONG", NULL, "data_dir %s stays relative",
			        c->data_dir);
		} else {
			memcpy(c->data_dir, tmp, strlen(tmp) + 1);
		}
	}
	size_t n = strlen(c->data_dir);
	while (n > 1 && c->data_dir[n - 1] == '/')
		c->data_dir[--n] = '\0';
	if (!c->artifacts_destination[0]) {
		if (cfg_join(tmp, sizeof tmp, c->data_dir, "artifacts"))
			memcpy(c->artifacts_destination, tmp, strlen(tmp) + 1);
		else
			CN_LOGW("CONFIG-PATH-TOO-LONG", NULL,
			        "artifacts_destination left empty: data_dir is too long");
	}
	if (c->gateway_threads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		c->gateway_threads = cpus > 0 ? (cpus > 1024 ? 1024 : (int)cpus) : 1;
	}
}
