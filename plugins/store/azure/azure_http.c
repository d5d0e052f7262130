/*
 * plugins/store/azure/azure_http.c: one Blob service request through the
 * host's HTTP client: the URL, Shared Key signing (or the configured SAS),
 * response headers and body, retries, and Azure errors as cairn statuses.
 */
#include "azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AZ_ATTEMPTS 3

/* ------------------------------------------------------------------------ */
/* Response callbacks */

static bool az_hname(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static void az_hcopy(char *dst, size_t cap, const char *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static int az_on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	az_call *c = arg;
	if (az_hname(name, nlen, "ETag")) {
		az_hcopy(c->etag, sizeof c->etag, value, vlen);
	} else if (az_hname(name, nlen, "Content-Length")) {
		char num[24];
		az_hcopy(num, sizeof num, value, vlen);
		c->content_length = strtoll(num, NULL, 10);
	} else if (az_hname(name, nlen, "Content-Range")) {
		az_hcopy(c->content_range, sizeof c->content_range, value, vlen);
	} else if (az_hname(name, nlen, "Last-Modified")) {
		az_hcopy(c->last_modified, sizeof c->last_modified, value, vlen);
	} else if (az_hname(name, nlen, "x-ms-meta-hdi_isfolder")) {
		c->is_folder = vlen == 4 && strncasecmp(value, "true", 4) == 0;
	}
	return CAIRN_OK;
}

static int az_on_body(void *arg, const void *data, size_t len)
{
	az_call *c = arg;
	/* The first bytes also go aside: they hold the error, if it is one. */
	size_t room = sizeof c->err_body - 1 - c->err_len;
	size_t keep = len < room ? len : room;
	memcpy(c->err_body + c->err_len, data, keep);
	c->err_len += keep;
	c->err_body[c->err_len] = '\0';
	az_buf *b = c->out;
	if (!b)
		return CAIRN_OK;
	if (b->len + len > b->max) {
		b->overflow = true;
		return CAIRN_ERR_NO_MEMORY;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 64 << 10;
		while (cap < b->len + len)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return CAIRN_ERR_NO_MEMORY;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* The URL: <endpoint>/<container>[/<blob>][?<query>[&<sas>]] */

static char *az_url(const az_config *cfg, const az_call *c, size_t *path_off)
{
	size_t blen = c->blob ? strlen(c->blob) : 0;
	size_t cap = strlen(cfg->endpoint) + strlen(cfg->container) + 3 * blen + 16 +
	             (cfg->sas && !cfg->key_len ? strlen(cfg->sas) + 1 : 0);
	for (size_t i = 0; i < c->nquery; i++)
		cap += 3 * (strlen(c->query[i].name) + strlen(c->query[i].value)) + 2;
	char *url = malloc(cap);
	if (!url)
		return NULL;
	size_t n = (size_t)snprintf(url, cap, "%s/%s", cfg->endpoint, cfg->container);
	if (c->blob) {
		url[n++] = '/';
		n += az_url_encode(c->blob, blen, true, url + n, cap - n);
	}
	*path_off = cfg->endpoint_path;
	char sep = '?';
	for (size_t i = 0; i < c->nquery; i++) {
		url[n++] = sep;
		sep = '&';
		n += az_url_encode(c->query[i].name, strlen(c->query[i].name), false, url + n,
		                   cap - n);
		url[n++] = '=';
		n += az_url_encode(c->query[i].value, strlen(c->query[i].value), false, url + n,
		                   cap - n);
	}
	if (cfg->sas && !cfg->key_len) {
		url[n++] = sep;
		memcpy(url + n, cfg->sas, strlen(cfg->sas));
		n += strlen(cfg->sas);
	}
	url[n] = '\0';
	return url;
}

/* The path part of url (from path_off up to '?'), as a new string. */
static char *az_url_path(const char *url, size_t path_off)
{
	const char *p = url + path_off;
	size_t n = strcspn(p, "?");
	char *out = malloc(n + 1);
	if (out) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return out;
}

static void az_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

#define AZ_MAX_HEADERS 12

int az_send(const cairn_host_api *host, const az_config *cfg, az_call *c, cairn_error *err)
{
	if (c->nheaders > AZ_MAX_HEADERS - 3)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "too many headers");
	size_t path_off = 0;
	char *url = az_url(cfg, c, &path_off);
	char *path = url ? az_url_path(url, path_off) : NULL;
	if (!url || !path) {
		free(url);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	int rc = CAIRN_OK;
	for (int attempt = 0; attempt < AZ_ATTEMPTS; attempt++) {
		char date[32], auth[160];
		az_http_date(host->now_ms(), date);
		az_kv xms[AZ_MAX_HEADERS];
		size_t nx = 0;
		xms[nx++] = (az_kv){"x-ms-date", date};
		xms[nx++] = (az_kv){"x-ms-version", AZ_API_VERSION};
		for (size_t i = 0; i < c->nheaders; i++)
			xms[nx++] = c->headers[i];
		cairn_http_header h[AZ_MAX_HEADERS + 3];
		size_t nh = 0;
		for (size_t i = 0; i < nx; i++)
			h[nh++] = (cairn_http_header){xms[i].name, xms[i].value};
		if (c->content_type)
			h[nh++] = (cairn_http_header){"Content-Type", c->content_type};
		if (c->if_match)
			h[nh++] = (cairn_http_header){"If-Match", c->if_match};
		if (cfg->key_len) {
			az_sign_input in = {
			        .method = c->method,
			        .content_length = (int64_t)c->body_len,
			        .content_type = c->content_type,
			        .if_match = c->if_match,
			        .headers = xms,
			        .nheaders = nx,
			        .account = cfg->account,
			        .path = path,
			        .query = c->query,
			        .nquery = c->nquery,
			};
			char *sts = az_string_to_sign(&in);
			if (!sts) {
				rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
				break;
			}
			rc = az_shared_key_header(host, cfg->account, cfg->key, cfg->key_len, sts,
			                          auth, sizeof auth);
			free(sts);
			if (rc != CAIRN_OK) {
				cairn_error_set(err, rc, "authorization header too long");
				break;
			}
			h[nh++] = (cairn_http_header){"Authorization", auth};
		}
		/* A fresh response for each attempt. */
		c->status = 0;
		c->etag[0] = c->content_range[0] = c->last_modified[0] = '\0';
		c->content_length = -1;
		c->is_folder = false;
		c->err_len = 0;
		c->err_body[0] = '\0';
		if (c->out) {
			c->out->len = 0;
			c->out->overflow = false;
		}
		cairn_http_request req = {
		        .size = sizeof req,
		        .method = c->method,
		        .url = url,
		        .headers = h,
		        .nheaders = nh,
		        .body = c->body,
		        .body_len = c->body_len,
		        .on_header = az_on_header,
		        .on_body = az_on_body,
		        .response_arg = c,
		        .timeout_ms = cfg->timeout_ms,
		        .connect_timeout_ms = cfg->connect_timeout_ms,
		        .ca_file = cfg->ca_file,
		};
		cairn_http_response resp = {.size = sizeof resp};
		cairn_error e = {0};
		rc = host->http(&req, &resp, &e);
		if (rc == CAIRN_OK) {
			c->status = resp.status;
			bool busy = resp.status == 500 || resp.status == 502 ||
			            resp.status == 503 || resp.status == 504;
			if (!busy || attempt + 1 == AZ_ATTEMPTS)
				break;
		} else if (rc == CAIRN_ERR_NO_MEMORY && c->out && c->out->overflow) {
			rc = cairn_error_set(err, CAIRN_ERR_IO,
			                     "the Blob service answered more than %zu bytes",
			                     c->out->max);
			break;
		} else if (rc != CAIRN_ERR_IO || attempt + 1 == AZ_ATTEMPTS) {
			/* The host's message names the method and the cause, never
			 * the URL (which may carry a SAS). */
			cairn_error_set(err, rc, "%s", e.message);
			break;
		}
		host->log(CAIRN_LOG_WARN, "STORE-AZURE-RETRY", "%s %s/%s: %s; retrying", c->method,
		          cfg->container, c->blob ? c->blob : "",
		          rc == CAIRN_OK ? "server busy" : e.message);
		az_sleep_ms(200L << (2 * attempt));
	}
	free(path);
	free(url);
	return rc;
}

int az_fail(const az_call *c, const char *what, const char *path, cairn_error *err)
{
	char code[64], msg[320];
	az_xml_error(c->err_body, c->err_len, code, sizeof code, msg, sizeof msg);
	int st;
	switch (c->status) {
	case 404: st = CAIRN_ERR_NOT_FOUND; break;
	case 401:
	case 403: st = CAIRN_ERR_PERMISSION; break;
	case 400:
	case 416: st = CAIRN_ERR_INVALID; break;
	case 409: st = !strcmp(code, "BlobAlreadyExists") ? CAIRN_ERR_EXISTS : CAIRN_ERR_IO; break;
	case 408:
	case 504: st = CAIRN_ERR_TIMEOUT; break;
	default: st = CAIRN_ERR_IO; break;
	}
	if (!strcmp(code, "ContainerNotFound"))
		return cairn_error_set(err, st, "%s '%.300s': the container does not exist (%s)",
		                       what, path, msg[0] ? msg : "ContainerNotFound");
	if (st == CAIRN_ERR_PERMISSION)
		/* Azure's detail may quote the string to sign: useful, no secret. */
		return cairn_error_set(err, st,
		                       "%s '%.300s': permission denied (HTTP %d %s%s%s); check the "
		                       "account key or SAS token and its permissions",
		                       what, path, c->status, code, msg[0] ? ": " : "", msg);
	return cairn_error_set(err, st, "%s '%.300s': HTTP %d %s%s%s", what, path, c->status,
	                       code[0] ? code : "", msg[0] ? ": " : "", msg);
}
