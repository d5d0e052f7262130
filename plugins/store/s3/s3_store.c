/*
 * plugins/store/s3/s3_store.c: the S3 artifact store (s3://bucket/prefix),
 * for Amazon S3 and any S3-compatible server. Builds as cairn_store_s3.so
 * and links nothing of Cairn: requests go through the host's HTTP client,
 * signatures through the host's SHA-256 and HMAC.
 *
 * Settings (the host's config_get keys; unset keys fall back to the
 * environment variable CAIRN_STORE_S3_..., then to the names below):
 *   store.s3.endpoint      endpoint URL (http[s]://host[:port][/path]) of an
 *                          S3-compatible server; else MLFLOW_S3_ENDPOINT_URL,
 *                          AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; else
 *                          https://s3.<region>.amazonaws.com
 *   store.s3.region        signing region; else AWS_REGION, AWS_DEFAULT_REGION,
 *                          else us-east-1
 *   store.s3.path_style    true: http://endpoint/bucket/key; false:
 *                          http://bucket.endpoint/key (virtual-hosted).
 *                          Default: path-style with a custom endpoint,
 *                          virtual-hosted on AWS (path-style anyway for bucket
 *                          names that are not DNS labels)
 *   store.s3.sse           server-side encryption of new objects: AES256
 *                          (SSE-S3) or aws:kms (SSE-KMS); default none
 *   store.s3.sse_kms_key_id  KMS key for aws:kms (default: the account's key)
 *   store.s3.part_size_mb  multipart part size, 5..5120 (default 8): what a
 *                          writer buffers at most; larger objects go up in parts
 *   store.s3.timeout_ms    per request, plus 1 s per 256 KiB of body (default 60000)
 *   store.s3.connect_timeout_ms  (default 10000)
 *   store.s3.max_attempts  tries of a request that failed transiently (5xx,
 *                          network), default 3
 *   store.s3.ca_file       PEM bundle to trust; else AWS_CA_BUNDLE; else the system's
 *   store.s3.access_key_id, store.s3.secret_access_key, store.s3.session_token
 *                          credentials; when unset, see s3_creds.c (environment,
 *                          shared file and profile, container, instance metadata)
 *
 * Objects: an artifact "a/b.txt" is the key "<prefix>/a/b.txt"; directories
 * are common prefixes under the delimiter '/'. Listings are in byte order of
 * paths, as the ABI says (a directory "b" before "b-c" and "b.txt", where S3
 * itself puts "b/" after them): see s3_list.c.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "1.0.0"
#endif

static const char *s3_setting(const cairn_host_api *h, const char *key, const char *const *envs)
{
	const char *v = h->config_get ? h->config_get(key) : NULL;
	for (; (!v || !*v) && envs && *envs; envs++)
		v = getenv(*envs);
	return v && *v ? v : NULL;
}

static int64_t s3_setting_int(const cairn_host_api *h, const char *key, int64_t def, int64_t lo,
                              int64_t hi)
{
	const char *v = s3_setting(h, key, NULL);
	if (!v)
		return def;
	char *end = NULL;
	long long x = strtoll(v, &end, 10);
	if (!end || *end || x < lo || x > hi) {
		h->log(CAIRN_LOG_WARN, "STORE-S3-SETTING",
		       "s3: %s='%.40s' is not in %lld..%lld; using %lld", key, v, (long long)lo,
		       (long long)hi, (long long)def);
		return def;
	}
	return x;
}

/* A bucket name usable as a DNS label in a virtual-hosted URL. */
static bool s3_bucket_dns_ok(const char *b, bool tls)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      (c == '.' && !tls)))
			return false;
	}
	return true;
}

static bool s3_bucket_ok(const char *b)
{
	size_t n = strlen(b);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* bucket and prefix of "s3://bucket[/prefix]". */
static bool s3_parse_uri(const char *uri, cairn_store *s)
{
	if (strncmp(uri, "s3://", 5) != 0)
		return false;
	const char *b = uri + 5, *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	if (blen == 0 || blen >= sizeof s->bucket)
		return false;
	memcpy(s->bucket, b, blen);
	s->bucket[blen] = '\0';
	if (!s3_bucket_ok(s->bucket))
		return false;
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	if (plen >= sizeof s->prefix)
		return false;
	memcpy(s->prefix, p, plen);
	s->prefix[plen] = '\0';
	for (size_t i = 0; i < plen; i++) /* the prefix is part of every key: keep it clean */
		if ((unsigned char)p[i] < 0x20 || p[i] == '\\' || (p[i] == '/' && p[i + 1] == '/'))
			return false;
	return true;
}

/* scheme, host (authority) and path of the endpoint URL. */
static bool s3_parse_endpoint(const char *ep, char *scheme, size_t scap, char *host, size_t hcap,
                              char *path, size_t pcap)
{
	const char *rest;
	if (!strncmp(ep, "https://", 8)) {
		snprintf(scheme, scap, "https");
		rest = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		snprintf(scheme, scap, "http");
		rest = ep + 7;
	} else {
		return false;
	}
	const char *slash = strchr(rest, '/');
	size_t hlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (hlen == 0 || hlen >= hcap || memchr(rest, '@', hlen) || memchr(rest, '?', hlen))
		return false;
	memcpy(host, rest, hlen);
	host[hlen] = '\0';
	const char *p = slash ? slash : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	if (plen >= pcap || strchr(p, '?') || strchr(p, '#'))
		return false;
	memcpy(path, p, plen);
	path[plen] = '\0';
	return true;
}

static int s3_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                   cairn_store **out, cairn_error *err)
{
	if (!root_uri)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "no store URI");
	cairn_store *s = calloc(1, sizeof *s);
	if (!s)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	s->host = host;
	if (!s3_parse_uri(root_uri, s)) {
		free(s);
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "not an s3://bucket[/prefix] URI: '%.300s'", root_uri);
	}
	static const char *const region_env[] = {"AWS_REGION", "AWS_DEFAULT_REGION", NULL};
	static const char *const ep_env[] = {"MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	                                     "AWS_ENDPOINT_URL", NULL};
	static const char *const ca_env[] = {"AWS_CA_BUNDLE", NULL};
	const char *region = s3_setting(host, "store.s3.region", region_env);
	snprintf(s->region, sizeof s->region, "%s", region ? region : "us-east-1");
	const char *ep = s3_setting(host, "store.s3.endpoint", ep_env);
	char aws_ep[128], ep_host[256], ep_path[200];
	if (!ep) {
		snprintf(aws_ep, sizeof aws_ep, "https://s3.%s.amazonaws.com", s->region);
		ep = aws_ep;
	}
	if (!s3_parse_endpoint(ep, s->scheme, sizeof s->scheme, ep_host, sizeof ep_host, ep_path,
	                       sizeof ep_path)) {
		free(s);
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "S3 endpoint '%.200s' is not an http:// or https:// URL",
		                       ep);
	}
	const char *ps = s3_setting(host, "store.s3.path_style", NULL);
	bool path_style = ep != aws_ep;
	if (ps)
		path_style = !strcmp(ps, "true") || !strcmp(ps, "1") || !strcmp(ps, "yes");
	if (!path_style && !s3_bucket_dns_ok(s->bucket, !strcmp(s->scheme, "https"))) {
		host->log(CAIRN_LOG_INFO, "STORE-S3-PATH-STYLE",
		          "s3: bucket '%s' is not a DNS label; using path-style addressing",
		          s->bucket);
		path_style = true;
	}
	if (path_style) {
		snprintf(s->host_hdr, sizeof s->host_hdr, "%s", ep_host);
		snprintf(s->base_path, sizeof s->base_path, "%s/%s", ep_path, s->bucket);
	} else {
		snprintf(s->host_hdr, sizeof s->host_hdr, "%s.%s", s->bucket, ep_host);
		snprintf(s->base_path, sizeof s->base_path, "%s", ep_path);
	}
	const char *sse = s3_setting(host, "store.s3.sse", NULL);
	if (sse && strcmp(sse, "AES256") != 0 && strcmp(sse, "aws:kms") != 0) {
		free(s);
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "store.s3.sse must be AES256 or aws:kms, not '%.40s'", sse);
	}
	snprintf(s->sse, sizeof s->sse, "%s", sse ? sse : "");
	const char *kms = s3_setting(host, "store.s3.sse_kms_key_id", NULL);
	if (kms && strcmp(s->sse, "aws:kms") != 0) {
		free(s);
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "store.s3.sse_kms_key_id needs store.s3.sse=aws:kms");
	}
	snprintf(s->sse_kms_key, sizeof s->sse_kms_key, "%s", kms ? kms : "");
	const char *ca = s3_setting(host, "store.s3.ca_file", ca_env);
	snprintf(s->ca_file, sizeof s->ca_file, "%s", ca ? ca : "");
	s->part_size = s3_setting_int(host, "store.s3.part_size_mb", 8, 5, 5120) << 20;
	s->timeout_ms = s3_setting_int(host, "store.s3.timeout_ms", 60000, 100, 3600000);
	s->connect_timeout_ms =
	        s3_setting_int(host, "store.s3.connect_timeout_ms", 10000, 100, 600000);
	s->max_attempts = (int)s3_setting_int(host, "store.s3.max_attempts", 3, 1, 10);
	s3_creds_init(&s->creds, host);
	*out = s;
	return CAIRN_OK;
}

static void s3_close(cairn_store *s)
{
	s3_creds_fini(&s->creds);
	free(s);
}

static const cairn_store_ops s3_ops = {
        .size = sizeof(cairn_store_ops),
        .open = s3_open,
        .close = s3_close,
        .put_begin = s3_put_begin,
        .put_write = s3_put_write,
        .put_commit = s3_put_commit,
        .put_abort = s3_put_abort,
        .get_open = s3_get_open,
        .get_read = s3_get_read,
        .get_close = s3_get_close,
        .list = s3_list,
        .stat = s3_stat,
        .remove = s3_remove,
        .mpu_create = s3_mpu_create,
        .mpu_part_begin = s3_mpu_part_begin,
        .mpu_part_commit = s3_mpu_part_commit,
        .mpu_complete = s3_mpu_complete,
        .mpu_abort = s3_mpu_abort,
        .presign = s3_presign,
};

static const cairn_plugin_descriptor s3_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "s3",
        .version = CAIRN_VERSION,
        .capabilities = CAIRN_STORE_CAP_RANGE | CAIRN_STORE_CAP_MULTIPART |
                        CAIRN_STORE_CAP_PRESIGN | CAIRN_STORE_CAP_LIST_PAGED |
                        CAIRN_STORE_CAP_DELETE_RECURSIVE,
        .ops = &s3_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &s3_descriptor;
}
