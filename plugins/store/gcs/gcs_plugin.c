/*
 * plugins/store/gcs/gcs_plugin.c: the Google Cloud Storage artifact store
 * (gs://bucket/prefix URIs). Builds as cairn_store_gcs.so; links nothing of
 * Cairn, only cairn/plugin.h, the C library and libjansson.
 *
 * Settings (config_get, or the CAIRN_STORE_GCS_* environment variables):
 *   store.gcs.endpoint            JSON API base URL (default
 *                                 https://storage.googleapis.com; else
 *                                 STORAGE_EMULATOR_HOST when set)
 *   store.gcs.credentials_file    service-account key (else
 *                                 GOOGLE_APPLICATION_CREDENTIALS)
 *   store.gcs.auth                key | metadata | none (default: by what is set)
 *   store.gcs.metadata_host       metadata server (else GCE_METADATA_HOST)
 *   store.gcs.timeout_ms          per request (default 120000)
 *   store.gcs.connect_timeout_ms  default 10000
 *   store.gcs.upload_chunk_bytes  resumable chunk (default 8 MiB, a multiple
 *                                 of 256 KiB); smaller objects go in one
 *                                 media upload
 *   store.gcs.read_chunk_bytes    bytes per ranged GET (default 8 MiB)
 *   store.gcs.ca_file             PEM bundle to trust instead of the system's
 */
#include <stdlib.h>
#include <string.h>

#include "gcs.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "1.0.0"
#endif

static int gcs_init(const cairn_host_api *host, void **state, cairn_error *err)
{
	gcs_state *st = calloc(1, sizeof *st);
	if (!st)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	*state = st;
	return CAIRN_OK;
}

static void gcs_fini(void *state)
{
	gcs_state *st = state;
	if (!st)
		return;
	gcs_creds_free_all(st);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static int64_t gcs_setting_int(const cairn_host_api *host, const char *key, int64_t def,
                               int64_t min, int64_t max)
{
	const char *v = host->config_get(key);
	if (!v || !v[0])
		return def;
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (*end || n < min || n > max) {
		host->log(CAIRN_LOG_WARN, "STORE-GCS-SETTING",
		          "gcs: ignoring %s='%.40s' (want %lld..%lld)", key, v, (long long)min,
		          (long long)max);
		return def;
	}
	return n;
}

static bool gcs_bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 222)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

static void gcs_close(cairn_store *s)
{
	if (!s)
		return;
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s);
}

/* The JSON API base: the setting, else STORAGE_EMULATOR_HOST ("host:port"
 * or a URL), else Google's. Without a trailing '/'. */
static char *gcs_endpoint(const cairn_host_api *host)
{
	const char *e = host->config_get("store.gcs.endpoint");
	if (!e || !e[0])
		e = getenv("STORAGE_EMULATOR_HOST");
	if (!e || !e[0])
		e = GCS_DEFAULT_ENDPOINT;
	bool scheme = strstr(e, "://") != NULL;
	size_t n = strlen(e);
	while (n > 0 && e[n - 1] == '/')
		n--;
	char *out = malloc(n + 8);
	if (out)
		snprintf(out, n + 8, "%s%.*s", scheme ? "" : "http://", (int)n, e);
	return out;
}

static int gcs_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                    cairn_store **out, cairn_error *err)
{
	if (!root_uri || strncmp(root_uri, "gs://", 5) != 0)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "not a gs:// URI: '%.300s'",
		                       root_uri ? root_uri : "(null)");
	if (!plugin_state)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "gcs plugin used without init");
	const char *b = root_uri + 5;
	const char *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	if (!gcs_bucket_ok(b, blen))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "bad bucket name in '%.300s' (3 to 222 of a-z 0-9 - _ .)",
		                       root_uri);
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen > 0 && p[plen - 1] == '/')
		plen--;
	char prefix[CAIRN_PATH_MAX + 2];
	if (plen > CAIRN_PATH_MAX)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "prefix too long in '%.300s'",
		                       root_uri);
	memcpy(prefix, p, plen);
	prefix[plen] = '\0';
	if (!gcs_path_ok(prefix, true))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad prefix in '%.300s'", root_uri);
	if (plen) {
		prefix[plen++] = '/';
		prefix[plen] = '\0';
	}

	cairn_store *s = calloc(1, sizeof *s);
	if (!s)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	s->host = host;
	s->endpoint = gcs_endpoint(host);
	s->bucket = strndup(b, blen);
	s->prefix = strdup(prefix);
	if (!s->endpoint || !s->bucket || !s->prefix) {
		gcs_close(s);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	if (strncmp(s->endpoint, "http://", 7) != 0 && strncmp(s->endpoint, "https://", 8) != 0) {
		gcs_close(s);
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "store.gcs.endpoint must be an http:// or https:// URL");
	}
	s->timeout_ms = gcs_setting_int(host, "store.gcs.timeout_ms", 120000, 1, 86400000);
	s->connect_timeout_ms =
	        gcs_setting_int(host, "store.gcs.connect_timeout_ms", 10000, 1, 600000);
	int64_t chunk = gcs_setting_int(host, "store.gcs.upload_chunk_bytes", 8 << 20,
	                                GCS_CHUNK_QUANTUM, 1LL << 30);
	s->upload_chunk = (size_t)(chunk / GCS_CHUNK_QUANTUM * GCS_CHUNK_QUANTUM);
	s->read_chunk = (size_t)gcs_setting_int(host, "store.gcs.read_chunk_bytes", 8 << 20, 4096,
	                                        1LL << 30);
	s->ca_file = host->config_get("store.gcs.ca_file");
	int rc = gcs_creds_get(plugin_state, host, &s->creds, err);
	if (rc != CAIRN_OK) {
		gcs_close(s);
		return rc;
	}
	*out = s;
	return CAIRN_OK;
}

static const cairn_store_ops gcs_ops = {
        .size = sizeof(cairn_store_ops),
        .open = gcs_open,
        .close = gcs_close,
        .put_begin = gcs_put_begin,
        .put_write = gcs_put_write,
        .put_commit = gcs_put_commit,
        .put_abort = gcs_put_abort,
        .get_open = gcs_get_open,
        .get_read = gcs_get_read,
        .get_close = gcs_get_close,
        .list = gcs_list,
        .stat = gcs_stat,
        .remove = gcs_remove,
        .mpu_create = gcs_mpu_create,
        .mpu_part_begin = gcs_mpu_part_begin,
        .mpu_part_commit = gcs_mpu_part_commit,
        .mpu_complete = gcs_mpu_complete,
        .mpu_abort = gcs_mpu_abort,
        .presign = gcs_presign,
};

static const cairn_plugin_descriptor gcs_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "gcs",
        .version = CAIRN_VERSION,
        .capabilities = CAIRN_STORE_CAP_RANGE | CAIRN_STORE_CAP_LIST_PAGED |
                        CAIRN_STORE_CAP_DELETE_RECURSIVE | CAIRN_STORE_CAP_MULTIPART |
                        CAIRN_STORE_CAP_PRESIGN,
        .ops = &gcs_ops,
        .init = gcs_init,
        .fini = gcs_fini,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &gcs_descriptor;
}
