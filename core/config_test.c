/* core/config_test.c: defaults, file, environment, flags, precedence, MLflow names, errors. */
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_test.h"

/* CN_CHECK_STR formats both strings into a 512-byte message; with config's
 * 512-byte fields GCC proves the message may be cut, which is fine here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

extern char **environ;

/* Every test starts from an environment without CAIRN_ or MLFLOW_ variables. */
static void clean_env(void)
{
	for (;;) {
		char name[256] = "";
		for (char **e = environ; e && *e; e++) {
			if (strncmp(*e, "CAIRN_", 6) == 0 || strncmp(*e, "MLFLOW_", 7) == 0) {
				size_t n = strcspn(*e, "=");
				if (n < sizeof name) {
					memcpy(name, *e, n);
					name[n] = '\0';
				}
				break;
			}
		}
		if (!name[0])
			return;
		unsetenv(name);
	}
}

/* Writes text to a temp file; path receives its name (caller unlinks). */
static void write_file(char path[64], const char *text)
{
	snprintf(path, 64, "/tmp/cn-config-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

static cn_code load_text(cn_config *c, const char *text, cn_err *err)
{
	char path[64];
	write_file(path, text);
	cn_code rc = cn_config_load_file(c, path, err);
	unlink(path);
	return rc;
}

CN_TEST(defaults)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	CN_CHECK_STR(c.host, "127.0.0.1");
	CN_CHECK_EQ_INT(c.port, 5000);
	CN_CHECK_EQ_INT(c.gateway_threads, 0);
	CN_CHECK_EQ_INT(c.max_body_bytes, 1 << 20);
	CN_CHECK_EQ_INT(c.request_timeout_ms, 30000);
	CN_CHECK_EQ_INT(c.shutdown_grace_ms, 10000);
	CN_CHECK_STR(c.data_dir, "./cairn-data");
	CN_CHECK_STR(c.artifacts_destination, "");
	CN_CHECK_STR(c.default_artifact_root, "");
	CN_CHECK(c.serve_artifacts);
	CN_CHECK_STR(c.plugin_dir, "");
	CN_CHECK(c.sync_writes);
	CN_CHECK_STR(c.listen, "");
	CN_CHECK_STR(c.events, "");
	CN_CHECK_EQ_INT(c.service_workers, 32);
	CN_CHECK_EQ_INT(c.nservices, 0);
	CN_CHECK_STR(c.tls_cert, "");
	CN_CHECK_STR(c.tls_key, "");
	CN_CHECK_STR(c.tls_ca, "");
	CN_CHECK_STR(c.log_level, "info");
	CN_CHECK(!c.log_json);
	/* an empty environment changes nothing */
	cn_config d = c;
	cn_err err;
	CN_CHECK_EQ_INT(cn_config_load_env(&d, &err), CN_OK);
	CN_CHECK(memcmp(&c, &d, sizeof c) == 0);
}

CN_TEST(file_values_and_services)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	cn_err err;
	cn_code rc = load_text(&c,
	                       "# Cairn\n"
	                       "host: 0.0.0.0\n"
	                       "port: 8080\n"
	                       "data-dir: /var/lib/cairn\n"
	                       "max_body_bytes: 4 MiB\n"
	                       "serve_artifacts: off\n"
	                       "log_level: WARNING\n"
	                       "log_json: yes\n"
	                       "default_artifact_root: ~\n"
	                       "tls_ca: \"/etc/ca.pem\"\n"
	                       "services:\n"
	                       "  tracking: tcp://10.0.0.5:7001\n"
	                       "  model-registry: \"ipc:///tmp/reg\"\n"
	                       "service.prompts: tcp://10.0.0.6:7003\n",
	                       &err);
	CN_CHECK_EQ_INT(rc, CN_OK);
	if (rc != CN_OK)
		fprintf(stderr, "  %s\n", err.msg);
	CN_CHECK_STR(c.host, "0.0.0.0");
	CN_CHECK_EQ_INT(c.port, 8080);
	CN_CHECK_STR(c.data_dir, "/var/lib/cairn");
	CN_CHECK_EQ_INT(c.max_body_bytes, 4 << 20);
	CN_CHECK(!c.serve_artifacts);
	CN_CHECK_STR(c.log_level, "warn");
	CN_CHECK(c.log_json);
	CN_CHECK_STR(c.default_artifact_root, "");
	CN_CHECK_STR(c.tls_ca, "/etc/ca.pem");
	CN_CHECK_EQ_INT(c.nservices, 3);
	CN_CHECK_STR(cn_config_service_addr(&c, "tracking"), "tcp://10.0.0.5:7001");
	CN_CHECK_STR(cn_config_service_addr(&c, "model_registry"), "ipc:///tmp/reg");
	CN_CHECK_STR(cn_config_service_addr(&c, "Model-Registry"), "ipc:///tmp/reg");
	CN_CHECK_STR(cn_config_service_addr(&c, "prompts"), "tcp://10.0.0.6:7003");
	CN_CHECK(cn_config_service_addr(&c, "serving") == NULL);

	/* empty files and a bare document are fine */
	cn_config d = c;
	CN_CHECK_EQ_INT(load_text(&d, "", &err), CN_OK);
	CN_CHECK_EQ_INT(load_text(&d, "# only a comment\n", &err), CN_OK);
	CN_CHECK_EQ_INT(load_text(&d, "---\n", &err), CN_OK);
	CN_CHECK_EQ_INT(load_text(&d, "services:\n", &err), CN_OK);
	CN_CHECK(memcmp(&c, &d, sizeof c) == 0);
}

CN_TEST(file_errors_name_key_and_line)
{
	clean_env();
	cn_config c, before;
	cn_config_defaults(&c);
	before = c;
	cn_err err;
	CN_CHECK_EQ_INT(load_text(&c, "host: a\nprot: 1\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "unknown setting 'prot'") && strstr(err.msg, "line 2"));
	CN_CHECK(memcmp(&c, &before, sizeof c) == 0); /* a bad file changes nothing */

	CN_CHECK_EQ_INT(load_text(&c, "port: 80\nport: abc\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "set twice") && strstr(err.msg, "line 2"));
	CN_CHECK_EQ_INT(load_text(&c, "\n\nport: abc\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "config: port: 'abc' is not an integer (from /tmp/") &&
	         strstr(err.msg, " line 3)"));
	CN_CHECK_EQ_INT(load_text(&c, "host: [a, b]\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "host: expected a single value"));
	CN_CHECK_EQ_INT(load_text(&c, "- a\n- b\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "expected a mapping"));
	CN_CHECK_EQ_INT(load_text(&c, "host: a\n  port: : :\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "line 2"));
	CN_CHECK_EQ_INT(load_text(&c, "services: tcp://x\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "services: expected a mapping"));
	CN_CHECK_EQ_INT(load_text(&c, "services:\n  tracking: [1]\n", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "tracking: expected an address") && strstr(err.msg, "line 2"));
	CN_CHECK_EQ_INT(load_text(&c, "services:\n  bad/name: tcp://x\n", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "service name 'bad/name'"));
	CN_CHECK_EQ_INT(load_text(&c, "a: &x 1\nhost: *x\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(load_text(&c, "host: a\n---\nhost: b\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "only one YAML document"));
	CN_CHECK(memcmp(&c, &before, sizeof c) == 0);

	CN_CHECK_EQ_INT(cn_config_load_file(&c, "/nonexistent/cairn.yaml", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "cannot open '/nonexistent/cairn.yaml'"));
}

CN_TEST(env_and_precedence)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	cn_err err;
	CN_CHECK_EQ_INT(load_text(&c, "port: 6000\nhost: filehost\nservice_workers: 3\n", &err),
	                CN_OK);
	setenv("CAIRN_PORT", "7000", 1);
	setenv("CAIRN_SYNC_WRITES", "0", 1);
	setenv("CAIRN_REQUEST_TIMEOUT_MS", "45000", 1);
	setenv("CAIRN_SERVICE_TRACKING", "tcp://t:1", 1);
	setenv("CAIRN_SERVICE_MODEL_REGISTRY", "tcp://r:2", 1);
	/* A setting whose name starts with "service", not a service address. */
	setenv("CAIRN_SERVICE_WORKERS", "5", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
	CN_CHECK_EQ_INT(c.port, 7000);    /* env beats file */
	CN_CHECK_STR(c.host, "filehost"); /* file beats default */
	CN_CHECK_EQ_INT(c.service_workers, 5);
	CN_CHECK(cn_config_service_addr(&c, "workers") == NULL);
	CN_CHECK(!c.sync_writes);
	CN_CHECK_EQ_INT(c.request_timeout_ms, 45000);
	CN_CHECK_STR(cn_config_service_addr(&c, "tracking"), "tcp://t:1");
	CN_CHECK_STR(cn_config_service_addr(&c, "model-registry"), "tcp://r:2");

	/* flags beat everything; '-' and '_' alike */
	CN_CHECK_EQ_INT(cn_config_set(&c, "port", "7100", &err), CN_OK);
	CN_CHECK_EQ_INT(cn_config_set(&c, "data-dir", "/d1", &err), CN_OK);
	CN_CHECK_STR(c.data_dir, "/d1");
	CN_CHECK_EQ_INT(cn_config_set(&c, "data_dir", "/d2", &err), CN_OK);
	CN_CHECK_STR(c.data_dir, "/d2");
	CN_CHECK_EQ_INT(cn_config_set(&c, "service.tracking", "tcp://flag:9", &err), CN_OK);
	CN_CHECK_EQ_INT(c.port, 7100);
	CN_CHECK_STR(cn_config_service_addr(&c, "tracking"), "tcp://flag:9");
	CN_CHECK_EQ_INT(c.nservices, 2);
	/* an empty address removes a service */
	CN_CHECK_EQ_INT(cn_config_set(&c, "service.tracking", "", &err), CN_OK);
	CN_CHECK(cn_config_service_addr(&c, "tracking") == NULL);
	CN_CHECK_EQ_INT(c.nservices, 1);
	clean_env();
}

CN_TEST(env_errors_name_the_variable)
{
	clean_env();
	cn_config c, before;
	cn_config_defaults(&c);
	before = c;
	cn_err err;
	setenv("CAIRN_HOST", "envhost", 1);
	setenv("CAIRN_PORT", "abc", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "config: port: 'abc' is not an integer (from CAIRN_PORT)");
	CN_CHECK(memcmp(&c, &before, sizeof c) == 0); /* nothing applied, not even host */
	setenv("CAIRN_PORT", "70000", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "config: port: '70000' is out of range (0..65535) (from CAIRN_PORT)");
	unsetenv("CAIRN_PORT");
	setenv("CAIRN_SERVICE_BAD$NAME", "tcp://x", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "CAIRN_SERVICE_BAD$NAME") != NULL);
	clean_env();
}

CN_TEST(mlflow_names)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	cn_err err;
	setenv("MLFLOW_HOST", "0.0.0.0", 1);
	setenv("MLFLOW_PORT", "5001", 1);
	setenv("MLFLOW_WORKERS", "4", 1);
	setenv("MLFLOW_DEFAULT_ARTIFACT_ROOT", "s3://bucket/root", 1);
	setenv("MLFLOW_ARTIFACTS_DESTINATION", "/srv/artifacts", 1);
	setenv("MLFLOW_SERVE_ARTIFACTS", "false", 1);
	setenv("MLFLOW_BACKEND_STORE_URI", "file:///srv/mlruns%20x", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
	CN_CHECK_STR(c.host, "0.0.0.0");
	CN_CHECK_EQ_INT(c.port, 5001);
	CN_CHECK_EQ_INT(c.gateway_threads, 4);
	CN_CHECK_STR(c.default_artifact_root, "s3://bucket/root");
	CN_CHECK_STR(c.artifacts_destination, "/srv/artifacts");
	CN_CHECK(!c.serve_artifacts);
	CN_CHECK_STR(c.data_dir, "/srv/mlruns x");

	/* the CAIRN_ name wins over the MLflow one */
	setenv("CAIRN_PORT", "6001", 1);
	setenv("CAIRN_DATA_DIR", "/cairn", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
	CN_CHECK_EQ_INT(c.port, 6001);
	CN_CHECK_STR(c.data_dir, "/cairn");
	unsetenv("CAIRN_DATA_DIR");

	static const struct {
		const char *uri, *dir;
	} ok[] = {{"/plain/path", "/plain/path"},   {"relative/dir", "relative/dir"},
	          {"rocksdb:///var/db", "/var/db"}, {"rocksdb://rel", "rel"},
	          {"file://localhost/x/y", "/x/y"}, {"file:/abs", "/abs"},
	          {"./my:dir", "./my:dir"},         {"my:dir", "my:dir"}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		setenv("MLFLOW_BACKEND_STORE_URI", ok[i].uri, 1);
		CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
		CN_CHECK_STR(c.data_dir, ok[i].dir);
	}
	setenv("MLFLOW_BACKEND_STORE_URI", "postgresql://user:secret@db/mlflow", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "scheme 'postgresql'") && strstr(err.msg, "RocksDB"));
	CN_CHECK(strstr(err.msg, "secret") == NULL); /* credentials never echoed */
	setenv("MLFLOW_BACKEND_STORE_URI", "sqlite:///mlflow.db", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "scheme 'sqlite'"));
	setenv("MLFLOW_BACKEND_STORE_URI", "file://otherhost/x", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	setenv("MLFLOW_BACKEND_STORE_URI", "file:///bad%zzescape", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	setenv("MLFLOW_BACKEND_STORE_URI", "rocksdb://", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	/* CAIRN_DATA_DIR set: the MLflow variable is not even looked at */
	setenv("CAIRN_DATA_DIR", "/ok", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
	CN_CHECK_STR(c.data_dir, "/ok");
	unsetenv("CAIRN_DATA_DIR");
	setenv("MLFLOW_BACKEND_STORE_URI", "/fine", 1);
	setenv("MLFLOW_SERVE_ARTIFACTS", "maybe", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "(from MLFLOW_SERVE_ARTIFACTS)"));
	clean_env();
}

CN_TEST(value_parsing_and_flag_errors)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	cn_err err;
	static const struct {
		const char *v;
		size_t want;
	} sizes[] = {{"2048", 2048},       {"512k", 512 << 10}, {"512KB", 512 << 10},
	             {"1 MiB", 1 << 20},   {"3m", 3 << 20},     {"1g", 1u << 30},
	             {"2GiB", 2ull << 30}, {" 4096 ", 4096},    {"1024b", 1024}};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		CN_CHECK_EQ_INT(cn_config_set(&c, "max-body-bytes", sizes[i].v, &err), CN_OK);
		CN_CHECK_EQ_INT(c.max_body_bytes, sizes[i].want);
	}
	static const char *const bad_sizes[] = {"", "k", "1x", "-5", "1.5m", "99999999999999999t"};
	for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
		CN_CHECK_EQ_INT(cn_config_set(&c, "max_body_bytes", bad_sizes[i], &err),
		                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "is not a size"));
	CN_CHECK_EQ_INT(cn_config_set(&c, "max_body_bytes", "100", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "out of range"));
	CN_CHECK_EQ_INT(c.max_body_bytes, 1024); /* last good value kept */

	static const char *const yes[] = {"true", "1", "yes", "on", "TRUE", "On"};
	static const char *const no[] = {"false", "0", "no", "off", "False", "OFF"};
	for (size_t i = 0; i < 6; i++) {
		CN_CHECK_EQ_INT(cn_config_set(&c, "log-json", yes[i], &err), CN_OK);
		CN_CHECK(c.log_json);
		CN_CHECK_EQ_INT(cn_config_set(&c, "log-json", no[i], &err), CN_OK);
		CN_CHECK(!c.log_json);
	}
	CN_CHECK_EQ_INT(cn_config_set(&c, "log_json", "2", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "config: log_json: '2' is not a boolean (true/false, 1/0, yes/no, "
	                      "on/off) (from --log-json)");

	CN_CHECK_EQ_INT(cn_config_set(&c, "port", "12ab", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "config: port: '12ab' is not an integer (from --port)");
	CN_CHECK_EQ_INT(cn_config_set(&c, "port", "-1", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "port", "99999999999999999999", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "service_workers", "0", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "request_timeout_ms", "0", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "shutdown-grace-ms", "0", &err), CN_OK);
	CN_CHECK_EQ_INT(c.shutdown_grace_ms, 0);
	CN_CHECK_EQ_INT(cn_config_set(&c, "log_level", "loud", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "is not a log level"));
	CN_CHECK_EQ_INT(cn_config_set(&c, "log-level", "DEBUG", &err), CN_OK);
	CN_CHECK_STR(c.log_level, "debug");
	CN_CHECK_EQ_INT(cn_config_set(&c, "host", "", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "must not be empty"));
	CN_CHECK_EQ_INT(cn_config_set(&c, "nope", "1", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_STR(err.msg, "config: unknown setting 'nope' (from --nope)");

	char big[CN_CFG_STR + 10];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CN_CHECK_EQ_INT(cn_config_set(&c, "plugin_dir", big, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "too long"));
	big[CN_CFG_STR - 1] = '\0'; /* exactly the maximum fits */
	CN_CHECK_EQ_INT(cn_config_set(&c, "plugin_dir", big, &err), CN_OK);
	CN_CHECK_EQ_INT(strlen(c.plugin_dir), CN_CFG_STR - 1);

	CN_CHECK_EQ_INT(cn_config_set(&c, "service.", "tcp://x", &err), CN_INVALID_PARAMETER_VALUE);
	char name[64];
	for (int i = 0; i < CN_CFG_MAX_SERVICES; i++) {
		snprintf(name, sizeof name, "service.s%d", i);
		CN_CHECK_EQ_INT(cn_config_set(&c, name, "tcp://x", &err), CN_OK);
	}
	CN_CHECK_EQ_INT(cn_config_set(&c, "service.one_too_many", "tcp://x", &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "too many services"));
	CN_CHECK_EQ_INT(cn_config_set(&c, "service.s3", "tcp://replaced", &err), CN_OK);
	CN_CHECK_STR(cn_config_service_addr(&c, "s3"), "tcp://replaced");
}

CN_TEST(resolve_and_dump)
{
	clean_env();
	cn_config c;
	cn_config_defaults(&c);
	char cwd[4096], want[4200];
	CN_CHECK(getcwd(cwd, sizeof cwd) != NULL);
	cn_config_resolve(&c);
	snprintf(want, sizeof want, "%s/cairn-data", cwd);
	CN_CHECK_STR(c.data_dir, want);
	snprintf(want, sizeof want, "%s/cairn-data/artifacts", cwd);
	CN_CHECK_STR(c.artifacts_destination, want);
	CN_CHECK(c.gateway_threads >= 1);
	cn_config d = c;
	cn_config_resolve(&d); /* idempotent */
	CN_CHECK(memcmp(&c, &d, sizeof c) == 0);

	cn_err err;
	cn_config_defaults(&c);
	cn_config_set(&c, "data_dir", "/abs/dir//", &err);
	cn_config_set(&c, "artifacts_destination", "s3://b/a", &err);
	cn_config_set(&c, "gateway_threads", "3", &err);
	cn_config_set(&c, "service.tracking", "tcp://h:1", &err);
	cn_config_resolve(&c);
	CN_CHECK_STR(c.data_dir, "/abs/dir");
	CN_CHECK_STR(c.artifacts_destination, "s3://b/a");
	CN_CHECK_EQ_INT(c.gateway_threads, 3);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cn_config_dump(&c, f);
	fclose(f);
	CN_CHECK(strstr(text, "host = 127.0.0.1\n") != NULL);
	CN_CHECK(strstr(text, "port = 5000\n") != NULL);
	CN_CHECK(strstr(text, "max_body_bytes = 1048576\n") != NULL);
	CN_CHECK(strstr(text, "serve_artifacts = true\n") != NULL);
	CN_CHECK(strstr(text, "data_dir = /abs/dir\n") != NULL);
	CN_CHECK(strstr(text, "plugin_dir = \n") != NULL);
	CN_CHECK(strstr(text, "log_level = info\n") != NULL);
	CN_CHECK(strstr(text, "service.tracking = tcp://h:1\n") != NULL);
	free(text);

	f = open_memstream(&text, &len);
	cn_config_help(f);
	fclose(f);
	CN_CHECK(strstr(text, "CAIRN_DATA_DIR, MLFLOW_BACKEND_STORE_URI") != NULL);
	CN_CHECK(strstr(text, "port (int, default \"5000\"; env CAIRN_PORT, MLFLOW_PORT)") != NULL);
	CN_CHECK(strstr(text, "CAIRN_SERVICE_<NAME>") != NULL);
	free(text);
}

static const char *plugin_value(const cn_config *c, const char *key)
{
	for (int i = 0; i < c->nplugin_settings; i++)
		if (strcmp(c->plugin_settings[i].key, key) == 0)
			return c->plugin_settings[i].value;
	return NULL;
}

#define CHECK_PLUGIN(c, key, want)                             \
	do {                                                   \
		const char *got_ = plugin_value((c), (key));   \
		CN_CHECK(got_ != NULL);                        \
		CN_CHECK_STR(got_ ? got_ : "(unset)", (want)); \
	} while (0)

CN_TEST(plugin_settings_from_file_env_and_flags)
{
	clean_env();
	cn_config c;
	cn_err err;
	cn_config_defaults(&c);
	CN_CHECK_EQ_INT(load_text(&c,
	                          "port: 5001\n"
	                          "store:\n"
	                          "  s3:\n"
	                          "    endpoint: http://127.0.0.1:9000\n"
	                          "    region: eu-west-1\n"
	                          "    secret_access_key: s3cr3t\n"
	                          "  azure: {account_key: azkey, account-name: acct}\n"
	                          "  my_plugin:\n"
	                          "    x: file\n"
	                          "deploy:\n"
	                          "  sagemaker:\n"
	                          "    region: us-east-1\n"
	                          "store.gcs.project: flat\n",
	                          &err),
	                CN_OK);
	CN_CHECK_EQ_INT(c.port, 5001);
	CHECK_PLUGIN(&c, "store.s3.endpoint", "http://127.0.0.1:9000");
	CHECK_PLUGIN(&c, "store.azure.account_name", "acct");
	CHECK_PLUGIN(&c, "deploy.sagemaker.region", "us-east-1");
	CHECK_PLUGIN(&c, "store.gcs.project", "flat");
	/* The environment wins over the file, under the exact name a plugin's
	 * config_get would read; new names are added. */
	setenv("CAIRN_STORE_S3_REGION", "from-env", 1);
	setenv("CAIRN_STORE_MY_PLUGIN_X", "env", 1);
	setenv("CAIRN_STORE_GCS_CREDENTIALS_FILE", "/k.json", 1);
	setenv("CAIRN_DEPLOY_SAGEMAKER_ROLE", "arn", 1);
	CN_CHECK_EQ_INT(cn_config_load_env(&c, &err), CN_OK);
	CHECK_PLUGIN(&c, "store.s3.region", "from-env");
	CHECK_PLUGIN(&c, "store.my_plugin.x", "env");
	CHECK_PLUGIN(&c, "store.gcs.credentials_file", "/k.json");
	CHECK_PLUGIN(&c, "deploy.sagemaker.role", "arn");
	/* Flags win over both. */
	CN_CHECK_EQ_INT(cn_config_set(&c, "store.s3.region", "from-flag", &err), CN_OK);
	CN_CHECK_EQ_INT(cn_config_set(&c, "Store.S3.Path-Style", "true", &err), CN_OK);
	CHECK_PLUGIN(&c, "store.s3.region", "from-flag");
	CHECK_PLUGIN(&c, "store.s3.path_style", "true");
	clean_env();

	/* `cairn config` shows the settings, secrets masked. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cn_config_dump(&c, f);
	fclose(f);
	CN_CHECK(strstr(text, "store.s3.endpoint = http://127.0.0.1:9000\n") != NULL);
	CN_CHECK(strstr(text, "store.s3.secret_access_key = ********\n") != NULL);
	CN_CHECK(strstr(text, "store.azure.account_key = ********\n") != NULL);
	CN_CHECK(strstr(text, "s3cr3t") == NULL);
	CN_CHECK(strstr(text, "azkey") == NULL);
	free(text);
	CN_CHECK(cn_config_is_secret("store.s3.session_token"));
	CN_CHECK(cn_config_is_secret("store.x.PASSWORD"));
	CN_CHECK(!cn_config_is_secret("store.s3.region"));

	/* Bad keys and values: clear errors that never show the value. */
	cn_config before = c;
	CN_CHECK_EQ_INT(cn_config_set(&c, "store.s3", "v", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "store..x", "v", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_config_set(&c, "store.s3.a b", "v", &err), CN_INVALID_PARAMETER_VALUE);
	char *big = malloc(CN_CFG_PLUGIN_VALUE + 1);
	memset(big, 'S', CN_CFG_PLUGIN_VALUE);
	big[CN_CFG_PLUGIN_VALUE] = '\0';
	CN_CHECK_EQ_INT(cn_config_set(&c, "store.s3.secret_access_key", big, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "SSSS") == NULL);
	free(big);
	CN_CHECK(memcmp(&before, &c, sizeof c) == 0);
	CN_CHECK_EQ_INT(load_text(&c, "store:\n  s3: [1, 2]\n", &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "store.s3") != NULL);
	CN_CHECK(memcmp(&before, &c, sizeof c) == 0);
}

CN_TEST_MAIN()
