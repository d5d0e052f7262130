/*
 * plugins/store/s3/s3_http.c: one signed S3 request through the host's HTTP
 * client: URL and canonical form for the store's addressing style, SigV4
 * headers, retries of transient failures, and S3's XML errors turned into
 * cairn statuses with S3's own message.
 */
#include "s3_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_ERR_BODY_MAX (64 * 1024)

int s3_status_of(int http_status, const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = {
	        {"NoSuchKey", CAIRN_ERR_NOT_FOUND},
	        {"NoSuchUpload", CAIRN_ERR_NOT_FOUND},
	        {"NoSuchBucket", CAIRN_ERR_NOT_FOUND},
	        {"NotFound", CAIRN_ERR_NOT_FOUND},
	        {"AccessDenied", CAIRN_ERR_PERMISSION},
	        {"InvalidAccessKeyId", CAIRN_ERR_PERMISSION},
	        {"SignatureDoesNotMatch", CAIRN_ERR_PERMISSION},
	        {"ExpiredToken", CAIRN_ERR_PERMISSION},
	        {"InvalidToken", CAIRN_ERR_PERMISSION},
	        {"TokenRefreshRequired", CAIRN_ERR_PERMISSION},
	        {"AllAccessDisabled", CAIRN_ERR_PERMISSION},
	        {"AccountProblem", CAIRN_ERR_PERMISSION},
	        {"RequestTimeTooSkewed", CAIRN_ERR_PERMISSION},
	        {"KMS.DisabledException", CAIRN_ERR_PERMISSION},
	        {"InvalidRange", CAIRN_ERR_INVALID},
	        {"InvalidArgument", CAIRN_ERR_INVALID},
	        {"InvalidPart", CAIRN_ERR_INVALID},
	        {"InvalidPartOrder", CAIRN_ERR_INVALID},
	        {"EntityTooSmall", CAIRN_ERR_INVALID},
	        {"EntityTooLarge", CAIRN_ERR_INVALID},
	        {"KeyTooLongError", CAIRN_ERR_INVALID},
	        {"InvalidRequest", CAIRN_ERR_INVALID},
	        {"MalformedXML", CAIRN_ERR_INVALID},
	        {"InvalidBucketName", CAIRN_ERR_INVALID},
	        {"RequestTimeout", CAIRN_ERR_TIMEOUT},
	        {"NotImplemented", CAIRN_ERR_UNSUPPORTED},
	};
	for (size_t i = 0; code && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(code, map[i].code))
			return map[i].status;
	switch (http_status) {
	case 404: return CAIRN_ERR_NOT_FOUND;
	case 401:
	case 403: return CAIRN_ERR_PERMISSION;
	case 400:
	case 411:
	case 416: return CAIRN_ERR_INVALID;
	case 408: return CAIRN_ERR_TIMEOUT;
	case 501: return CAIRN_ERR_UNSUPPORTED;
	}
	return CAIRN_ERR_IO;
}

bool s3_key_of(const cairn_store *s, const char *path, char *out, size_t cap)
{
	int n = s->prefix[0] ? snprintf(out, cap, "%s%s%s", s->prefix, path[0] ? "/" : "", path)
	                     : snprintf(out, cap, "%s", path);
	return n >= 0 && (size_t)n < cap;
}

/* "/<base>/<encoded key>" (or "/<base>/" for the bucket). */
static void s3_canonical_uri(const cairn_store *s, const char *key, s3_buf *out)
{
	s3_buf_str(out, s->base_path);
	s3_buf_str(out, "/");
	if (key)
		s3_buf_uri_encode(out, key, strlen(key), true);
}

typedef struct s3_xfer {
	s3_resp *resp;
	s3_buf *out;
	bool strict; /* out is the caller's: overflow is an error */
} s3_xfer;

static bool s3_hname(const char *n, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(n, want, len) == 0;
}

static int64_t s3_parse_i64(const char *v, size_t len)
{
	int64_t x = 0;
	size_t i = 0;
	for (; i < len && isdigit((unsigned char)v[i]); i++) {
		if (x > (INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return i ? x : -1;
}

static int s3_on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	s3_xfer *x = arg;
	char v[256];
	size_t n = vlen < sizeof v - 1 ? vlen : sizeof v - 1;
	memcpy(v, value, n);
	v[n] = '\0';
	if (s3_hname(name, nlen, "ETag")) {
		snprintf(x->resp->etag, sizeof x->resp->etag, "%s", v);
	} else if (s3_hname(name, nlen, "Content-Length")) {
		x->resp->content_length = s3_parse_i64(v, n);
	} else if (s3_hname(name, nlen, "Content-Range")) {
		const char *slash = strrchr(v, '/');
		if (slash && slash[1] != '*')
			x->resp->range_total = s3_parse_i64(slash + 1, strlen(slash + 1));
	} else if (s3_hname(name, nlen, "Last-Modified")) {
		struct tm tm = {0};
		const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S", &tm);
		if (end)
			x->resp->mtime_ms = (int64_t)timegm(&tm) * 1000;
	}
	return CAIRN_OK;
}

static int s3_on_body(void *arg, const void *data, size_t len)
{
	s3_xfer *x = arg;
	s3_buf_add(x->out, data, len);
	if (x->out->oom && x->strict)
		return CAIRN_ERR_NO_MEMORY;
	x->out->oom = false; /* an error body is only read for its head */
	return CAIRN_OK;
}

/* Fills err from S3's error document in body (or the bare HTTP status). */
static int s3_fail(const s3_req *r, int status, const s3_buf *body, cairn_error *err)
{
	char code[128] = "", msg[300] = "";
	if (body->p && body->len) {
		s3_xml_text(body->p, body->len, "Code", code, sizeof code);
		s3_xml_text(body->p, body->len, "Message", msg, sizeof msg);
	}
	int st = s3_status_of(status, code[0] ? code : NULL);
	return cairn_error_set(err, st, "%s %.300s: HTTP %d%s%s%s%s", r->method,
	                       r->key ? (r->key[0] ? r->key : "(prefix)") : "(bucket)", status,
	                       code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

static bool s3_transient(int rc, int status, const s3_buf *body)
{
	if (rc == CAIRN_ERR_IO)
		return true;
	if (rc != CAIRN_OK)
		return false;
	if (status == 500 || status == 502 || status == 503 || status == 504)
		return true;
	char code[64] = "";
	if (status == 400 && body->p)
		s3_xml_text(body->p, body->len, "Code", code, sizeof code);
	return !strcmp(code, "RequestTimeout");
}

static void s3_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One attempt: sign now and send. */
static int s3_attempt(cairn_store *s, const s3_req *r, const s3_creds *c, const char *uri,
                      const char *query, const char *payload_hash, s3_xfer *x, int *status,
                      cairn_error *err)
{
	char date[17], authz[1400];
	s3_amz_date(s->host->now_ms(), date);
	enum { S3_MAX_HDRS = 16 };
	cairn_http_header h[S3_MAX_HDRS + 1];
	size_t n = 0;
	h[n++] = (cairn_http_header){"Host", s->host_hdr};
	h[n++] = (cairn_http_header){"x-amz-date", date};
	h[n++] = (cairn_http_header){"x-amz-content-sha256", payload_hash};
	if (c->token[0])
		h[n++] = (cairn_http_header){"x-amz-security-token", c->token};
	if (r->sse && s->sse[0]) {
		h[n++] = (cairn_http_header){"x-amz-server-side-encryption", s->sse};
		if (s->sse_kms_key[0])
			h[n++] = (cairn_http_header){"x-amz-server-side-encryption-aws-kms-key-id",
			                             s->sse_kms_key};
	}
	for (size_t i = 0; i < r->nheaders && n < S3_MAX_HDRS; i++)
		h[n++] = r->headers[i];
	s3_sign_in in = {
	        .method = r->method,
	        .canonical_uri = uri,
	        .canonical_query = query,
	        .headers = h,
	        .nheaders = n,
	        .payload_hash = payload_hash,
	        .amz_date = date,
	        .region = s->region,
	        .service = "s3",
	        .access_key = c->access_key,
	        .secret_key = c->secret_key,
	};
	if (!s3_sign_authorization(s->host, &in, authz, sizeof authz))
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "cannot sign the request");
	h[n++] = (cairn_http_header){"Authorization", authz};
	s3_buf url = {0};
	s3_buf_printf(&url, "%s://%s%s%s%s", s->scheme, s->host_hdr, uri, query[0] ? "?" : "",
	              query);
	if (url.oom) {
		s3_buf_free(&url);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	cairn_http_request req = {
	        .size = sizeof req,
	        .method = r->method,
	        .url = url.p,
	        .headers = h,
	        .nheaders = n,
	        .body = r->body,
	        .body_len = r->body_len,
	        .on_header = s3_on_header,
	        .on_body = s3_on_body,
	        .response_arg = x,
	        .timeout_ms = s->timeout_ms + (int64_t)(r->body_len / (256 * 1024)) * 1000,
	        .connect_timeout_ms = s->connect_timeout_ms,
	        .ca_file = s->ca_file[0] ? s->ca_file : NULL,
	};
	cairn_http_response resp = {.size = sizeof resp};
	int rc = s->host->http(&req, &resp, err);
	memset(authz, 0, sizeof authz);
	s3_buf_free(&url);
	*status = resp.status;
	if (rc == CAIRN_ERR_NO_MEMORY && x->strict && x->out->oom)
		return cairn_error_set(err, CAIRN_ERR_IO,
		                       "%s %.300s: response larger than expected", r->method,
		                       r->key ? r->key : "(bucket)");
	if (rc != CAIRN_OK) {
		/* The host's message names the method and cause, never the URL. */
		char why[400];
		snprintf(why, sizeof why, "%.399s", err ? err->message : "");
		return cairn_error_set(err, rc, "%s %.300s: %s", r->method,
		                       r->key ? r->key : "(bucket)", why);
	}
	return CAIRN_OK;
}

int s3_call(cairn_store *s, const s3_req *r, s3_resp *resp, cairn_error *err)
{
	s3_creds c;
	int rc = s3_creds_get(&s->creds, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	s3_buf uri = {0}, query = {0}, local = {.max = S3_ERR_BODY_MAX};
	s3_canonical_uri(s, r->key, &uri);
	s3_query_build(&query, r->query, r->nquery);
	s3_buf_add(&query, "", 0);
	char payload[65];
	uint8_t d[32];
	s->host->sha256(r->body ? r->body : "", r->body ? r->body_len : 0, d);
	s3_hex(d, 32, payload);
	s3_xfer x = {.resp = resp, .out = r->out ? r->out : &local, .strict = r->out != NULL};
	if (uri.oom || query.oom) {
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		goto done;
	}
	for (int attempt = 1;; attempt++) {
		memset(resp, 0, sizeof *resp);
		resp->content_length = -1;
		resp->range_total = -1;
		x.out->len = 0;
		x.out->oom = false;
		int status = 0;
		rc = s3_attempt(s, r, &c, uri.p, query.p, payload, &x, &status, err);
		resp->status = status;
		if (attempt < s->max_attempts && s3_transient(rc, status, x.out)) {
			s->host->log(CAIRN_LOG_WARN, "STORE-S3-RETRY",
			             "s3: %s %.300s: %s; retry %d of %d", r->method,
			             r->key ? r->key : "(bucket)",
			             rc != CAIRN_OK ? (err ? err->message : "failed")
			                            : "server error",
			             attempt, s->max_attempts - 1);
			s3_sleep_ms(100ll << (2 * (attempt - 1)));
			continue;
		}
		break;
	}
	if (rc == CAIRN_OK && (resp->status < 200 || resp->status > 299))
		rc = s3_fail(r, resp->status, x.out, err);
done:
	memset(&c, 0, sizeof c);
	s3_buf_free(&uri);
	s3_buf_free(&query);
	s3_buf_free(&local);
	return rc;
}

int s3_presign_url(cairn_store *s, const char *method, const char *key, const s3_param *extra,
                   size_t nextra, int64_t expires_s, char *url, size_t cap, cairn_error *err)
{
	s3_creds c;
	int rc = s3_creds_get(&s->creds, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	char date[17], date8[9], cred[512], expires[24];
	s3_amz_date(s->host->now_ms(), date);
	memcpy(date8, date, 8);
	date8[8] = '\0';
	snprintf(cred, sizeof cred, "%s/%s/%s/s3/aws4_request", c.access_key, date8, s->region);
	snprintf(expires, sizeof expires, "%lld", (long long)expires_s);
	s3_param p[12];
	size_t n = 0;
	p[n++] = (s3_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
	p[n++] = (s3_param){"X-Amz-Credential", cred};
	p[n++] = (s3_param){"X-Amz-Date", date};
	p[n++] = (s3_param){"X-Amz-Expires", expires};
	p[n++] = (s3_param){"X-Amz-SignedHeaders", "host"};
	if (c.token[0])
		p[n++] = (s3_param){"X-Amz-Security-Token", c.token};
	for (size_t i = 0; i < nextra && n < sizeof p / sizeof p[0]; i++)
		p[n++] = extra[i];
	s3_buf uri = {0}, query = {0}, out = {0};
	s3_canonical_uri(s, key, &uri);
	s3_query_build(&query, p, n);
	cairn_http_header host = {"host", s->host_hdr};
	char sh[64], sig[65];
	s3_sign_in in = {
	        .method = method,
	        .canonical_uri = s3_buf_cstr(&uri),
	        .canonical_query = s3_buf_cstr(&query),
	        .headers = &host,
	        .nheaders = 1,
	        .payload_hash = "UNSIGNED-PAYLOAD",
	        .amz_date = date,
	        .region = s->region,
	        .service = "s3",
	        .access_key = c.access_key,
	        .secret_key = c.secret_key,
	};
	if (uri.oom || query.oom || !s3_sign(s->host, &in, sh, sizeof sh, sig)) {
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	} else {
		s3_buf_printf(&out, "%s://%s%s?%s&X-Amz-Signature=%s", s->scheme, s->host_hdr,
		              uri.p, query.p, sig);
		if (out.oom || out.len >= cap)
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
			                     "presigned URL longer than the %zu bytes given", cap);
		else
			memcpy(url, out.p, out.len + 1);
	}
	memset(&c, 0, sizeof c);
	if (out.p)
		memset(out.p, 0, out.cap);
	s3_buf_free(&uri);
	s3_buf_free(&query);
	s3_buf_free(&out);
	return rc;
}
