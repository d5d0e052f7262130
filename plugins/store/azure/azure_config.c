/*
 * plugins/store/azure/azure_config.c: the store root URI, settings, the
 * connection string and credentials (the rules are at the top of azure_int.h).
 */
#include "azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The storage emulator's well-known account and key (public, documented by
 * Microsoft), used by "UseDevelopmentStorage=true". */
#define AZ_DEV_ACCOUNT "devstoreaccount1"
#define AZ_DEV_KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define AZ_DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

bool az_conn_parse(char *buf, az_conn *out)
{
	memset(out, 0, sizeof *out);
	char *save = NULL;
	for (char *part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
		while (*part == ' ')
			part++;
		if (!*part)
			continue;
		char *eq = strchr(part, '=');
		if (!eq)
			return false;
		*eq = '\0';
		const char *v = eq + 1;
		if (!strcasecmp(part, "AccountName"))
			out->account = v;
		else if (!strcasecmp(part, "AccountKey"))
			out->key = v;
		else if (!strcasecmp(part, "BlobEndpoint"))
			out->blob_endpoint = v;
		else if (!strcasecmp(part, "SharedAccessSignature"))
			out->sas = v;
		else if (!strcasecmp(part, "DefaultEndpointsProtocol"))
			out->protocol = v;
		else if (!strcasecmp(part, "EndpointSuffix"))
			out->suffix = v;
		else if (!strcasecmp(part, "UseDevelopmentStorage"))
			out->dev_storage = !strcasecmp(v, "true");
	}
	return true;
}

static bool az_container_ok(const char *s, size_t n)
{
	if (n == 5 && memcmp(s, "$root", 5) == 0)
		return true;
	if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && i + 1 < n && s[i + 1] == '-')
			return false;
	}
	return true;
}

/* The prefix must be a safe artifact path itself (no "..", "//", controls). */
static bool az_prefix_ok(const char *p, size_t n)
{
	if (n == 0)
		return true; /* the container's root */
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = i < n ? (unsigned char)p[i] : '/';
		if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == '?' || ch == '#')
			return false;
		if (ch != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && p[start] == '.') ||
		    (clen == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

int az_uri_parse(const char *uri, az_config *c, cairn_error *err)
{
	const char *p;
	bool dfs;
	if (uri && strncmp(uri, "wasbs://", 8) == 0) {
		p = uri + 8;
		dfs = false;
	} else if (uri && strncmp(uri, "abfss://", 8) == 0) {
		p = uri + 8;
		dfs = true;
	} else {
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "not a wasbs:// or abfss:// URI: '%.300s'",
		                       uri ? uri : "(null)");
	}
	const char *at = strchr(p, '@');
	const char *slash = strchr(p, '/');
	if (!at || (slash && slash < at))
		return cairn_error_set(
		        err, CAIRN_ERR_INVALID,
		        "'%.300s': expected <scheme>://<container>@<account host>/<path>", uri);
	size_t clen = (size_t)(at - p);
	if (!az_container_ok(p, clen))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "'%.300s': bad container name (3-63 of a-z, 0-9, '-')", uri);
	memcpy(c->container, p, clen);
	c->container[clen] = '\0';
	const char *host = at + 1;
	size_t hlen = slash ? (size_t)(slash - host) : strlen(host);
	const char *dot = memchr(host, '.', hlen);
	size_t alen = dot ? (size_t)(dot - host) : hlen;
	if (alen < 3 || alen > 24)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "'%.300s': bad storage account name (3-24 of a-z, 0-9)",
		                       uri);
	for (size_t i = 0; i < alen; i++)
		if (!((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= '0' && host[i] <= '9')))
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "'%.300s': bad storage account name (3-24 of a-z, "
			                       "0-9)",
			                       uri);
	for (size_t i = alen; i < hlen; i++)
		if (!((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= '0' && host[i] <= '9') ||
		      host[i] == '.' || host[i] == '-'))
			return cairn_error_set(err, CAIRN_ERR_INVALID, "'%.300s': bad host name",
			                       uri);
	memcpy(c->account, host, alen);
	c->account[alen] = '\0';

	/* The default endpoint: the host with ".dfs." as ".blob.", or the
	 * public cloud's when the URI names only the account. */
	int n;
	if (!dot) {
		n = snprintf(c->endpoint, sizeof c->endpoint, "https://%s.blob.core.windows.net",
		             c->account);
	} else if (dfs && hlen > alen + 5 && memcmp(dot, ".dfs.", 5) == 0) {
		n = snprintf(c->endpoint, sizeof c->endpoint, "https://%s.blob.%.*s", c->account,
		             (int)(hlen - alen - 5), dot + 5);
	} else {
		n = snprintf(c->endpoint, sizeof c->endpoint, "https://%.*s", (int)hlen, host);
	}
	if (n < 0 || (size_t)n >= sizeof c->endpoint)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "'%.300s': host name too long", uri);
	c->endpoint_path = strlen(c->endpoint);

	/* The prefix, without leading or trailing slashes, then with one '/'. */
	const char *pre = slash ? slash : "";
	while (*pre == '/')
		pre++;
	size_t plen = strlen(pre);
	while (plen > 0 && pre[plen - 1] == '/')
		plen--;
	if (plen > CAIRN_PATH_MAX / 2 || !az_prefix_ok(pre, plen))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "'%.300s': bad path after the host (empty, '.' or '..' "
		                       "parts, controls, or too long)",
		                       uri);
	memcpy(c->prefix, pre, plen);
	c->prefix[plen] = '\0';
	if (plen)
		memcpy(c->prefix + plen, "/", 2);
	return CAIRN_OK;
}

/* Sets the endpoint from a URL ("http[s]://host[:port][/path]"). */
static int az_set_endpoint(az_config *c, const char *url, cairn_error *err)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	const char *rest = !strncmp(url, "https://", 8)  ? url + 8
	                   : !strncmp(url, "http://", 7) ? url + 7
	                                                 : NULL;
	if (!rest || n >= sizeof c->endpoint || rest >= url + n)
		return cairn_error_set(
		        err, CAIRN_ERR_INVALID,
		        "bad Azure Blob endpoint (want http[s]://host[:port][/path])");
	for (const char *q = url; q < url + n; q++)
		if ((unsigned char)*q <= 0x20 || *q == '?' || *q == '#' || *q == '@')
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "bad Azure Blob endpoint (spaces, '?', '#' or '@')");
	memcpy(c->endpoint, url, n);
	c->endpoint[n] = '\0';
	const char *path = memchr(rest, '/', (size_t)(url + n - rest));
	c->endpoint_path = path ? (size_t)(path - url) : n;
	return CAIRN_OK;
}

static int az_set_key(const cairn_host_api *host, az_config *c, const char *b64, cairn_error *err)
{
	size_t n = 0;
	int rc = host->base64_decode(b64, strlen(b64), c->key, sizeof c->key, &n, 0);
	if (rc != CAIRN_OK || n == 0) {
		c->key_len = 0;
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "the Azure storage account key is not valid base64");
	}
	c->key_len = n;
	return CAIRN_OK;
}

static int az_set_sas(az_config *c, const char *sas, cairn_error *err)
{
	while (*sas == '?')
		sas++;
	if (!*sas)
		return CAIRN_OK;
	for (const char *q = sas; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == '#')
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "the Azure SAS token has spaces or '#'");
	free(c->sas);
	c->sas = strdup(sas);
	return c->sas ? CAIRN_OK : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
}

static int64_t az_setting_num(const cairn_host_api *host, const char *key, int64_t def, int64_t min,
                              int64_t max)
{
	const char *v = host->config_get(key);
	if (!v || !*v)
		return def;
	char *end = NULL;
	long long x = strtoll(v, &end, 10);
	if (*end || x < min || x > max) {
		host->log(CAIRN_LOG_WARN, "STORE-AZURE-SETTING",
		          "%s: '%.40s' is not a number in %lld..%lld; using %lld", key, v,
		          (long long)min, (long long)max, (long long)def);
		return def;
	}
	return x;
}

/* Applies a connection string (when it is for our account). */
static int az_apply_conn(const cairn_host_api *host, az_config *c, const char *cs, cairn_error *err)
{
	char *buf = strdup(cs);
	if (!buf)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	az_conn k;
	int rc = CAIRN_OK;
	if (!az_conn_parse(buf, &k)) {
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "the Azure storage connection string is malformed (want "
		                     "Name=value;...)");
	} else if (k.dev_storage) {
		if (strcmp(c->account, AZ_DEV_ACCOUNT) == 0) {
			rc = az_set_endpoint(c, AZ_DEV_ENDPOINT, err);
			if (rc == CAIRN_OK)
				rc = az_set_key(host, c, AZ_DEV_KEY, err);
		}
	} else if (k.account && strcmp(k.account, c->account) != 0) {
		host->log(CAIRN_LOG_WARN, "STORE-AZURE-CONN-ACCOUNT",
		          "the Azure connection string is for account '%.64s', not '%s': ignored",
		          k.account, c->account);
	} else {
		if (k.blob_endpoint) {
			rc = az_set_endpoint(c, k.blob_endpoint, err);
		} else if (k.suffix || k.protocol) {
			char url[512];
			snprintf(url, sizeof url, "%s://%s.blob.%s",
			         k.protocol ? k.protocol : "https", c->account,
			         k.suffix ? k.suffix : "core.windows.net");
			rc = az_set_endpoint(c, url, err);
		}
		if (rc == CAIRN_OK && k.key)
			rc = az_set_key(host, c, k.key, err);
		if (rc == CAIRN_OK && k.sas)
			rc = az_set_sas(c, k.sas, err);
	}
	free(buf);
	return rc;
}

int az_config_load(const cairn_host_api *host, const char *uri, az_config *c, cairn_error *err)
{
	memset(c, 0, sizeof *c);
	int rc = az_uri_parse(uri, c, err);
	if (rc != CAIRN_OK)
		return rc;
	/* Lowest precedence first; each later source overrides. */
	const char *v = getenv("AZURE_STORAGE_ACCESS_KEY");
	if (v && *v && (rc = az_set_key(host, c, v, err)) != CAIRN_OK)
		goto fail;
	v = host->config_get("store.azure.connection_string");
	if (!v || !*v)
		v = getenv("AZURE_STORAGE_CONNECTION_STRING");
	if (v && *v && (rc = az_apply_conn(host, c, v, err)) != CAIRN_OK)
		goto fail;
	if ((v = host->config_get("store.azure.endpoint")) && *v &&
	    (rc = az_set_endpoint(c, v, err)) != CAIRN_OK)
		goto fail;
	if ((v = host->config_get("store.azure.account_key")) && *v &&
	    (rc = az_set_key(host, c, v, err)) != CAIRN_OK)
		goto fail;
	if ((v = host->config_get("store.azure.sas_token")) && *v &&
	    (rc = az_set_sas(c, v, err)) != CAIRN_OK)
		goto fail;
	if ((v = host->config_get("store.azure.ca_file")) && *v && !(c->ca_file = strdup(v))) {
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		goto fail;
	}
	v = host->config_get("store.azure.create_container");
	c->create_container = v && (!strcmp(v, "1") || !strcasecmp(v, "true"));
	c->block_size = (size_t)az_setting_num(host, "store.azure.block_size", 8 << 20, 64 << 10,
	                                       AZ_MAX_BLOCK_BYTES);
	c->read_chunk =
	        (size_t)az_setting_num(host, "store.azure.read_chunk", 4 << 20, 4 << 10, 256 << 20);
	c->timeout_ms = az_setting_num(host, "store.azure.timeout_ms", 120000, 0, 86400000);
	c->connect_timeout_ms =
	        az_setting_num(host, "store.azure.connect_timeout_ms", 10000, 0, 600000);
	return CAIRN_OK;
fail:
	az_config_free(c);
	return rc;
}

void az_config_free(az_config *c)
{
	free(c->sas);
	free(c->ca_file);
	c->sas = c->ca_file = NULL;
	memset(c->key, 0, sizeof c->key);
	c->key_len = 0;
}

bool az_path_ok(const char *path, bool allow_root)
{
	if (!path)
		return false;
	size_t len = strlen(path);
	if (len == 0)
		return allow_root;
	if (len > CAIRN_PATH_MAX || path[0] == '/' || path[len - 1] == '/')
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)path[i] : '/';
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
		if (c != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && path[start] == '.') ||
		    (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}
