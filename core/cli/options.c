/*
 * core/cli/options.c: command-line flags onto the configuration.
 *
 * Flags are the configuration keys themselves (--data-dir, --port, ...),
 * plus `mlflow server`'s spellings so operators can reuse their scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cli/cli.h"
#include "core/plugin/loader.h"

/* `mlflow server` flag -> Cairn key (NULL value = boolean flag with that value). */
static const struct {
	const char *flag, *key, *implied;
} cli_aliases[] = {
        {"data", "data_dir", NULL},
        {"backend-store-uri", "data_dir", NULL},
        {"workers", "gateway_threads", NULL},
        {"serve-artifacts", "serve_artifacts", "true"},
        {"no-serve-artifacts", "serve_artifacts", "false"},
        {"log-json", "log_json", "true"},
        {"artifacts-only", "artifacts_only", "true"},
};

static cn_code cli_set(cn_config *c, const char *flag, const char *value, cn_err *err)
{
	if (!strcmp(flag, "service")) {
		const char *eq = value ? strchr(value, '=') : NULL;
		if (!eq || eq == value || !eq[1])
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "--service wants NAME=ADDRESS, got '%s'",
			                  value ? value : "");
		char key[64];
		snprintf(key, sizeof key, "service.%.*s", (int)(eq - value), value);
		return cn_config_set(c, key, eq + 1, err);
	}
	for (size_t i = 0; i < sizeof cli_aliases / sizeof cli_aliases[0]; i++)
		if (!strcmp(flag, cli_aliases[i].flag))
			return cn_config_set(
			        c, cli_aliases[i].key,
			        cli_aliases[i].implied ? cli_aliases[i].implied : value, err);
	return cn_config_set(c, flag, value, err);
}

static bool cli_is_bool_flag(const char *flag)
{
	for (size_t i = 0; i < sizeof cli_aliases / sizeof cli_aliases[0]; i++)
		if (!strcmp(flag, cli_aliases[i].flag) && cli_aliases[i].implied)
			return true;
	return !strcmp(flag, "sync-writes");
}

/* Plugins ship beside the executable (build tree: <build>/plugins) or in
 * <prefix>/lib/cairn/plugins when installed. */
static void cli_default_plugin_dir(cn_config *c)
{
	char exe[CN_CFG_STR];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	struct stat st;
	snprintf(c->plugin_dir, sizeof c->plugin_dir, "%.480s/plugins", exe);
	if (stat(c->plugin_dir, &st) != 0)
		snprintf(c->plugin_dir, sizeof c->plugin_dir, "%.480s/../lib/cairn/plugins", exe);
}

cn_code cli_parse(cli_opts *o, int argc, char **argv, cn_err *err)
{
	cn_config_defaults(&o->cfg);
	/* The file comes first whatever its place on the line. */
	const char *file = getenv("CAIRN_CONFIG");
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			file = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
	}
	cn_code rc;
	if (file && *file && (rc = cn_config_load_file(&o->cfg, file, err)) != CN_OK)
		return rc;
	if ((rc = cn_config_load_env(&o->cfg, err)) != CN_OK)
		return rc;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || !a[2])
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "unexpected argument '%s'", a);
		char flag[128];
		const char *eq = strchr(a + 2, '=');
		const char *value;
		if (eq) {
			snprintf(flag, sizeof flag, "%.*s", (int)(eq - a - 2), a + 2);
			value = eq + 1;
		} else {
			snprintf(flag, sizeof flag, "%s", a + 2);
			if (cli_is_bool_flag(flag)) {
				value = "true";
			} else {
				if (i + 1 >= argc)
					return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
					                  "option --%s needs a value", flag);
				value = argv[++i];
			}
		}
		if (!strcmp(flag, "config"))
			continue;
		if ((rc = cli_set(&o->cfg, flag, value, err)) != CN_OK)
			return rc;
	}
	if (!o->cfg.plugin_dir[0])
		cli_default_plugin_dir(&o->cfg);
	cn_config_resolve(&o->cfg);
	/* Plugins read their settings through config_get; what the file, the
	 * environment and the flags decided goes there before any plugin loads. */
	for (int i = 0; i < o->cfg.nplugin_settings; i++) {
		const cn_plugin_setting *p = &o->cfg.plugin_settings[i];
		if ((rc = cn_plugin_host_config_set(p->key, p->value, err)) != CN_OK)
			return rc;
	}
	return CN_OK;
}
