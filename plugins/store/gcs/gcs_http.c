/*
 * plugins/store/gcs/gcs_http.c: one GCS request through the host's HTTP
 * client (token, timeouts, retries), GCS's JSON errors mapped to statuses,
 * URLs, names and paths.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gcs.h"

#define GCS_DEFAULT_MAX_BODY (4u << 20)
#define GCS_ATTEMPTS         3

/* ------------------------------------------------------------------------ */
/* Buffers */

void gcs_buf_free(gcs_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

bool gcs_buf_add(gcs_buf *b, const void *data, size_t len)
{
	if (b->max && b->len + len > b->max)
		return false;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return false;
		b->p = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return true;
}

const char *gcs_buf_str(gcs_buf *b)
{
	if (!b->p && !GCS_LIT(b, ""))
		return "";
	return b->p;
}

/* ------------------------------------------------------------------------ */
/* URLs, names, paths */

bool gcs_pct(gcs_buf *out, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		bool plain = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
		             (keep_slash && c == '/');
		char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
		if (!(plain ? gcs_buf_add(out, p, 1) : gcs_buf_add(out, esc, 3)))
			return false;
	}
	return GCS_LIT(out, "");
}

bool gcs_object_url(const cairn_store *s, const char *name, const char *suffix, gcs_buf *out)
{
	return gcs_buf_add(out, s->endpoint, strlen(s->endpoint)) &&
	       GCS_LIT(out, "/storage/v1/b/") && gcs_pct(out, s->bucket, false) &&
	       GCS_LIT(out, "/o/") && gcs_pct(out, name, false) &&
	       (!suffix || gcs_buf_add(out, suffix, strlen(suffix)));
}

char *gcs_name(const cairn_store *s, const char *path)
{
	size_t a = strlen(s->prefix), b = strlen(path);
	char *n = malloc(a + b + 1);
	if (n) {
		memcpy(n, s->prefix, a);
		memcpy(n + a, path, b + 1);
	}
	return n;
}

bool gcs_path_ok(const char *path, bool allow_root)
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
		const char *comp = path + start;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.') ||
		    (start == 0 && clen == strlen(GCS_MPU_DIR) && !memcmp(comp, GCS_MPU_DIR, clen)))
			return false;
		start = i + 1;
	}
	return true;
}

int gcs_bad_path(cairn_error *err, const char *path)
{
	return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
	                       path ? path : "(null)");
}

static int gcs_month(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (strncmp(m, names + 3 * i, 3) == 0)
			return i;
	return -1;
}

int64_t gcs_parse_time(const char *s)
{
	if (!s)
		return 0;
	struct tm tm = {0};
	int ms = 0;
	char mon[4] = "";
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min, &tm.tm_sec) == 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		const char *frac = strchr(s, '.');
		if (frac) { /* milliseconds: the first three digits */
			int digits = 0;
			for (frac++; isdigit((unsigned char)*frac) && digits < 3; frac++, digits++)
				ms = ms * 10 + (*frac - '0');
			for (; digits < 3; digits++)
				ms *= 10;
		}
	} else if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d", &tm.tm_mday, mon, &tm.tm_year,
	                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6 &&
	           gcs_month(mon) >= 0) {
		tm.tm_year -= 1900;
		tm.tm_mon = gcs_month(mon);
	} else {
		return 0;
	}
	time_t t = timegm(&tm);
	return t < 0 ? 0 : (int64_t)t * 1000 + ms;
}

/* ------------------------------------------------------------------------ */
/* Requests */

void gcs_resp_free(gcs_resp *resp)
{
	gcs_buf_free(&resp->body);
}

static int gcs_on_body(void *arg, const void *data, size_t len)
{
	gcs_resp *r = arg;
	return gcs_buf_add(&r->body, data, len) ? CAIRN_OK : CAIRN_ERR_NO_MEMORY;
}

static void gcs_copy_header(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int gcs_on_header(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
	gcs_resp *r = arg;
	static const struct {
		const char *name;
		size_t off, cap;
	} keep[] = {
	        {"location", offsetof(gcs_resp, location), sizeof r->location},
	        {"x-goog-generation", offsetof(gcs_resp, generation), sizeof r->generation},
	        {"content-range", offsetof(gcs_resp, content_range), sizeof r->content_range},
	        {"range", offsetof(gcs_resp, range), sizeof r->range},
	        {"last-modified", offsetof(gcs_resp, last_modified), sizeof r->last_modified},
	};
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (strlen(keep[i].name) == nlen && strncasecmp(name, keep[i].name, nlen) == 0)
			gcs_copy_header((char *)r + keep[i].off, keep[i].cap, v, vlen);
	return CAIRN_OK;
}

static void gcs_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool gcs_retryable(int rc, int status)
{
	if (rc != CAIRN_OK)
		return rc == CAIRN_ERR_IO;
	return status == 429 || status == 408 || status >= 500;
}

int gcs_call(cairn_store *s, const gcs_req *req, gcs_resp *resp, cairn_error *err)
{
	char auth[4200];
	bool refreshed = false;
	int rc = CAIRN_OK;
	for (int attempt = 0; attempt < GCS_ATTEMPTS; attempt++) {
		gcs_buf_free(&resp->body);
		memset(resp, 0, sizeof *resp);
		resp->body.max = req->max_body ? req->max_body : GCS_DEFAULT_MAX_BODY;
		cairn_http_header h[12];
		size_t nh = 0;
		if (!req->no_auth && s->creds && s->creds->kind != GCS_AUTH_NONE) {
			char token[4096];
			rc = gcs_token(s, token, sizeof token, err);
			if (rc != CAIRN_OK)
				return rc;
			snprintf(auth, sizeof auth, "Bearer %s", token);
			h[nh++] = (cairn_http_header){"Authorization", auth};
		}
		if (req->content_type)
			h[nh++] = (cairn_http_header){"Content-Type", req->content_type};
		if (req->content_range)
			h[nh++] = (cairn_http_header){"Content-Range", req->content_range};
		if (req->range)
			h[nh++] = (cairn_http_header){"Range", req->range};
		for (size_t i = 0; i < req->nextra && nh < sizeof h / sizeof h[0]; i++)
			h[nh++] = req->extra[i];
		cairn_http_request hr = {
		        .size = sizeof hr,
		        .method = req->method,
		        .url = req->url,
		        .headers = h,
		        .nheaders = nh,
		        .body = req->body,
		        .body_len = req->body_len,
		        .on_header = gcs_on_header,
		        .on_body = gcs_on_body,
		        .response_arg = resp,
		        .timeout_ms = s->timeout_ms,
		        .connect_timeout_ms = s->connect_timeout_ms,
		        .ca_file = s->ca_file,
		};
		cairn_http_response out = {.size = sizeof out};
		if (err)
			memset(err, 0, sizeof *err);
		rc = s->host->http(&hr, &out, err);
		resp->status = rc == CAIRN_OK ? out.status : 0;
		if (rc == CAIRN_OK && resp->status == 401 && !refreshed && !req->no_auth &&
		    s->creds && s->creds->kind != GCS_AUTH_NONE) {
			/* A revoked or expired token: one more try with a new one. */
			gcs_token_forget(s);
			refreshed = true;
			attempt--;
			continue;
		}
		if (req->no_retry || !gcs_retryable(rc, resp->status) ||
		    attempt + 1 == GCS_ATTEMPTS)
			break;
		s->host->log(CAIRN_LOG_WARN, "STORE-GCS-RETRY",
		             "gcs: %s on bucket %s: %s, retrying", req->method, s->bucket,
		             rc != CAIRN_OK ? (err ? err->message : "failed") : "server error");
		gcs_sleep_ms(200LL << attempt);
	}
	if (rc != CAIRN_OK && err && !err->message[0])
		cairn_error_set(err, rc, "request to Cloud Storage failed");
	return rc;
}

int gcs_fail_reply(const gcs_resp *resp, const char *what, const char *name, cairn_error *err)
{
	int st = resp->status;
	int code = st == 404                ? CAIRN_ERR_NOT_FOUND
	           : st == 401 || st == 403 ? CAIRN_ERR_PERMISSION
	           : st == 400 || st == 416 ? CAIRN_ERR_INVALID
	           : st == 409 || st == 412 ? CAIRN_ERR_EXISTS
	           : st == 408              ? CAIRN_ERR_TIMEOUT
	                                    : CAIRN_ERR_IO;
	/* {"error": {"code": 404, "message": "No such object: b/o", ...}} */
	char msg[300] = "";
	json_t *root = resp->body.len ? json_loadb(resp->body.p, resp->body.len, 0, NULL) : NULL;
	json_t *e = json_object_get(root, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	if (!m) /* OAuth2 errors: {"error": "invalid_grant", "error_description": "..."} */
		m = json_string_value(json_object_get(root, "error_description"));
	if (!m)
		m = json_string_value(e);
	if (m)
		snprintf(msg, sizeof msg, ": %s", m);
	json_decref(root);
	return cairn_error_set(err, code, "%s '%.300s': HTTP %d%s", what, name, st, msg);
}
