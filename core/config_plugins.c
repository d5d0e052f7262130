/*
 * core/config_plugins.c: plugin settings ("store.s3.endpoint",
 * "deploy.sagemaker.region"): free-form keys under a plugin's name that Cairn
 * does not interpret but hands to plugins (their config_get). They come
 * from the same four sources as every setting; the environment spells
 * them CAIRN_STORE_<PLUGIN>_<KEY> (the key upper-cased, '.' and '-' as '_'),
 * which is also what a plugin's config_get falls back to.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

extern char **environ;

static const char *const cfg_plugin_kinds[] = {"store", "deploy"};

bool cn_config_is_plugin_key(const char *key)
{
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(cfg_plugin_kinds[i]);
		if (strncasecmp(key, cfg_plugin_kinds[i], n) == 0 && key[n] == '.')
			return true;
	}
	return false;
}

bool cn_config_is_secret(const char *key)
{
	static const char *const words[] = {"key", "secret", "token", "password", "credential"};
	const char *last = strrchr(key, '.');
	last = last ? last + 1 : key;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcasestr(last, words[i]))
			return true;
	return false;
}

/* "Store.S3.Account-Key" -> "store.s3.account_key"; false unless it is
 * <kind>.<plugin>.<name> with non-empty parts of [a-z0-9_]. */
static bool cfg_plugin_norm(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in), dots = 0;
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = (char)tolower((unsigned char)in[i]);
		if (ch == '-')
			ch = '_';
		if (ch == '.' || ch == '\0') {
			if (i == 0 || out[i - 1] == '.')
				return false; /* empty part */
			dots += ch == '.';
		} else if (!isalnum((unsigned char)ch) && ch != '_') {
			return false;
		}
		out[i] = ch;
	}
	return dots >= 2;
}

cn_code cn_config_set_plugin(cn_config *c, const char *key, const char *value, const char *source,
                             cn_err *err)
{
	char k[CN_CFG_PLUGIN_KEY];
	if (!cfg_plugin_norm(key, k, sizeof k))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "config: plugin setting '%.100s' must be store.<plugin>.<name> or "
		        "deploy.<plugin>.<name> (letters, digits, '_', '-'; at most %d "
		        "bytes) (from %s)",
		        key, CN_CFG_PLUGIN_KEY - 1, source);
	size_t vlen = strlen(value);
	/* The value itself is never shown: plugin settings hold secrets. */
	if (vlen >= CN_CFG_PLUGIN_VALUE)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "config: %s: value is too long (%zu bytes, at most %d; give a "
		                  "file name instead) (from %s)",
		                  k, vlen, CN_CFG_PLUGIN_VALUE - 1, source);
	int at = -1;
	for (int i = 0; i < c->nplugin_settings; i++)
		if (strcmp(c->plugin_settings[i].key, k) == 0)
			at = i;
	if (at < 0) {
		if (c->nplugin_settings >= CN_CFG_MAX_PLUGIN_SETTINGS)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "config: %s: too many plugin settings (at most %d) (from %s)", k,
			        CN_CFG_MAX_PLUGIN_SETTINGS, source);
		at = c->nplugin_settings++;
		memcpy(c->plugin_settings[at].key, k, strlen(k) + 1);
	}
	memcpy(c->plugin_settings[at].value, value, vlen + 1);
	return CN_OK;
}

/* The environment name of a plugin key, as a plugin's config_get reads it. */
static void cfg_plugin_env_name(const char *key, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "CAIRN_");
	for (const char *k = key; *k && n + 1 < cap; k++)
		out[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
	out[n] = '\0';
}

cn_code cn_config_plugin_env(cn_config *c, cn_err *err)
{
	/* Keys the file set: their exact environment name wins over the file. */
	char name[CN_CFG_PLUGIN_KEY + 16];
	for (int i = 0; i < c->nplugin_settings; i++) {
		cfg_plugin_env_name(c->plugin_settings[i].key, name, sizeof name);
		const char *v = getenv(name);
		if (v) {
			cn_code rc =
			        cn_config_set_plugin(c, c->plugin_settings[i].key, v, name, err);
			if (rc != CN_OK)
				return rc;
		}
	}
	/* Other CAIRN_STORE_* / CAIRN_DEPLOY_*: CAIRN_STORE_S3_ACCOUNT_KEY is
	 * store.s3.account_key (the plugin name ends at the first '_'). */
	for (char **e = environ; e && *e; e++) {
		const char *kind = NULL;
		if (strncmp(*e, "CAIRN_STORE_", 12) == 0)
			kind = "store";
		else if (strncmp(*e, "CAIRN_DEPLOY_", 13) == 0)
			kind = "deploy";
		if (!kind)
			continue;
		const char *rest = *e + 7 + strlen(kind);
		const char *eq = strchr(rest, '=');
		const char *us = strchr(rest, '_');
		if (!eq || !us || us > eq || us == rest || us + 1 == eq)
			continue;
		char key[CN_CFG_PLUGIN_KEY + 8];
		int n = snprintf(key, sizeof key, "%s.%.*s.%.*s", kind, (int)(us - rest), rest,
		                 (int)(eq - us - 1), us + 1);
		if (n < 0 || (size_t)n >= sizeof key)
			continue;
		bool known = false;
		for (int i = 0; i < c->nplugin_settings && !known; i++) {
			cfg_plugin_env_name(c->plugin_settings[i].key, name, sizeof name);
			known = strlen(name) == (size_t)(eq - *e) &&
			        strncmp(name, *e, (size_t)(eq - *e)) == 0;
		}
		if (known)
			continue;
		snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
		cn_code rc = cn_config_set_plugin(c, key, eq + 1, name, err);
		if (rc != CN_OK)
			return rc;
	}
	return CN_OK;
}
