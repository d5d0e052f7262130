/*
 * core/plugin/host_http.c: the HTTP client of the host table, on libcurl
 * easy handles.
 *
 * Connection reuse: an easy handle keeps its idle connections, so finished
 * handles go back to a small pool instead of being cleaned up (libcurl's
 * shared connection cache is not safe across threads, a known libcurl bug;
 * the pool is). DNS and TLS sessions are shared between all handles through
 * a share object with one lock per kind of data, as libcurl asks.
 *
 * libcurl itself is loaded with dlopen on the first request, not linked:
 * its dependency tree (Kerberos, LDAP, SSH, RTMP, ...) is about 1.7 MiB
 * resident, which the embedded default -- whose local store never makes an
 * HTTP call -- should not carry. Only cloud plugins pay for it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Calls go through function pointers, so libcurl's type-checking macros
 * (which wrap the real function names) must be off. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>

#include "core/plugin/host_internal.h"

#define HTTP_POOL_MAX 16
#define HTTP_CURL_LIB "libcurl.so.4"

/* The libcurl functions used here: return type, name without "curl_", arguments. */
#define HTTP_CURL_FUNCS(X)                                                        \
	X(CURLcode, global_init, (long))                                          \
	X(CURLSH *, share_init, (void))                                           \
	X(CURLSHcode, share_setopt, (CURLSH *, CURLSHoption, ...))                \
	X(CURL *, easy_init, (void))                                              \
	X(void, easy_reset, (CURL *))                                             \
	X(void, easy_cleanup, (CURL *))                                           \
	X(CURLcode, easy_setopt, (CURL *, CURLoption, ...))                       \
	X(CURLcode, easy_perform, (CURL *))                                       \
	X(CURLcode, easy_getinfo, (CURL *, CURLINFO, ...))                        \
	X(const char *, easy_strerror, (CURLcode))                                \
	X(struct curl_slist *, slist_append, (struct curl_slist *, const char *)) \
	X(void, slist_free_all, (struct curl_slist *))

#define HTTP_CURL_PTR_(ret, name, args) ret(*name) args;
typedef struct http_curl_api {
	HTTP_CURL_FUNCS(HTTP_CURL_PTR_)
} http_curl_api;
#undef HTTP_CURL_PTR_

/* The process's one HTTP client state, made once by http_init. */
static struct {
	pthread_once_t once;
	bool ok;
	char why[256]; /* why the client is unavailable, when !ok */
	void *lib;     /* dlopen handle of libcurl, kept for the process's life */
	http_curl_api curl;
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_mu;
	CURL *pool[HTTP_POOL_MAX];
	int npool;
} http_global = {.once = PTHREAD_ONCE_INIT};

static void http_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&http_global.locks[data]);
}

static void http_unlock(CURL *h, curl_lock_data data, void *arg)
{
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&http_global.locks[data]);
}

static bool http_load_curl(void)
{
	http_global.lib = dlopen(HTTP_CURL_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!http_global.lib) {
		snprintf(http_global.why, sizeof http_global.why, "cannot load %s: %s",
		         HTTP_CURL_LIB, dlerror());
		return false;
	}
	void *sym;
#define HTTP_CURL_SYM_(ret, name, args)                                                \
	if (!(sym = dlsym(http_global.lib, "curl_" #name))) {                          \
		snprintf(http_global.why, sizeof http_global.why, "%s has no curl_%s", \
		         HTTP_CURL_LIB, #name);                                        \
		return false;                                                          \
	}                                                                              \
	memcpy(&http_global.curl.name, &sym, sizeof sym);
	HTTP_CURL_FUNCS(HTTP_CURL_SYM_)
#undef HTTP_CURL_SYM_
	return true;
}

static void http_init(void)
{
	if (!http_load_curl())
		return;
	if (http_global.curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(http_global.why, sizeof http_global.why, "curl_global_init failed");
		return;
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&http_global.locks[i], NULL);
	pthread_mutex_init(&http_global.pool_mu, NULL);
	http_global.share = http_global.curl.share_init();
	if (http_global.share) {
		http_global.curl.share_setopt(http_global.share, CURLSHOPT_LOCKFUNC, http_lock);
		http_global.curl.share_setopt(http_global.share, CURLSHOPT_UNLOCKFUNC, http_unlock);
		http_global.curl.share_setopt(http_global.share, CURLSHOPT_SHARE,
		                              CURL_LOCK_DATA_DNS);
		http_global.curl.share_setopt(http_global.share, CURLSHOPT_SHARE,
		                              CURL_LOCK_DATA_SSL_SESSION);
	}
	http_global.ok = true;
}

static CURL *http_take(void)
{
	CURL *h = NULL;
	pthread_mutex_lock(&http_global.pool_mu);
	if (http_global.npool > 0)
		h = http_global.pool[--http_global.npool];
	pthread_mutex_unlock(&http_global.pool_mu);
	if (h)
		http_global.curl.easy_reset(h); /* options go, idle connections stay */
	else
		h = http_global.curl.easy_init();
	return h;
}

static void http_give_back(CURL *h)
{
	pthread_mutex_lock(&http_global.pool_mu);
	if (http_global.npool < HTTP_POOL_MAX) {
		http_global.pool[http_global.npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&http_global.pool_mu);
	if (h)
		http_global.curl.easy_cleanup(h);
}

/* One transfer's state, seen by the callbacks. */
typedef struct http_xfer {
	const cairn_http_request *req;
	size_t body_off; /* in-memory body: bytes sent */
	int cb_status;   /* first non-OK status a callback returned */
	bool in_interim; /* reading headers of a 1xx response */
	int64_t received;
} http_xfer;

static size_t http_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	http_xfer *x = arg;
	size_t cap = size * nitems;
	if (x->req->body_read) {
		size_t n = 0;
		int rc = x->req->body_read(x->req->body_arg, buf, cap, &n);
		if (rc != CAIRN_OK || n > cap) {
			x->cb_status = rc != CAIRN_OK ? rc : CAIRN_ERR_INVALID;
			return CURL_READFUNC_ABORT;
		}
		return n;
	}
	size_t left = x->req->body_len - x->body_off;
	size_t n = left < cap ? left : cap;
	if (n)
		memcpy(buf, (const char *)x->req->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static int http_seek_cb(void *arg, curl_off_t offset, int origin)
{
	http_xfer *x = arg;
	if (origin != SEEK_SET || offset != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (x->req->body_read) {
		if (!x->req->body_rewind || x->req->body_rewind(x->req->body_arg) != CAIRN_OK)
			return CURL_SEEKFUNC_CANTSEEK;
		return CURL_SEEKFUNC_OK;
	}
	x->body_off = 0;
	return CURL_SEEKFUNC_OK;
}

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	http_xfer *x = arg;
	size_t n = size * nmemb;
	x->received += (int64_t)n;
	if (x->req->on_body && n) {
		int rc = x->req->on_body(x->req->response_arg, data, n);
		if (rc != CAIRN_OK) {
			x->cb_status = rc;
			return 0; /* anything but n aborts the transfer */
		}
	}
	return n;
}

static size_t http_header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	http_xfer *x = arg;
	size_t n = size * nitems;
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* Status line: "HTTP/1.1 100 Continue" starts an interim response. */
		const char *sp = memchr(line, ' ', n);
		x->in_interim = sp && (size_t)(sp - line) + 1 < n && sp[1] == '1';
		return n;
	}
	if (x->in_interim || !x->req->on_header)
		return n;
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return n; /* the blank line ending the headers */
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	int rc = x->req->on_header(x->req->response_arg, line, nlen, v, (size_t)(end - v));
	if (rc != CAIRN_OK) {
		x->cb_status = rc;
		return 0;
	}
	return n;
}

static int http_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
	http_xfer *x = arg;
	if (x->req->is_cancelled && x->req->is_cancelled(x->req->cancel_arg)) {
		x->cb_status = CAIRN_ERR_CANCELLED;
		return 1;
	}
	return 0;
}

static bool http_token_ok(const char *s, bool is_name)
{
	if (!s || (is_name && !s[0]))
		return false;
	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || (is_name && (*s == ':' || *s == ' ')))
			return false;
	return true;
}

/* Builds the header list into a new curl list (NULL when there are none);
 * on a bad header or no memory sets *rc and err. */
static struct curl_slist *http_headers(const cairn_http_request *req, cairn_error *err, int *rc)
{
	struct curl_slist *list = NULL;
	bool has_expect = false;
	for (size_t i = 0; i < req->nheaders; i++) {
		const cairn_http_header *h = &req->headers[i];
		has_expect |= h->name && strcasecmp(h->name, "Expect") == 0;
		if (!http_token_ok(h->name, true) || !http_token_ok(h->value, false)) {
			*rc = cairn_error_set(err, CAIRN_ERR_INVALID,
			                      "bad HTTP header #%zu (CR, LF, or bad name)", i);
			goto fail;
		}
		size_t len = strlen(h->name) + strlen(h->value) + 3;
		char *line = malloc(len);
		if (!line) {
			*rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			goto fail;
		}
		/* "Name;" is libcurl's way to send a header with an empty value. */
		if (h->value[0])
			snprintf(line, len, "%s: %s", h->name, h->value);
		else
			snprintf(line, len, "%s;", h->name);
		struct curl_slist *next = http_global.curl.slist_append(list, line);
		free(line);
		if (!next) {
			*rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			goto fail;
		}
		list = next;
	}
	/* libcurl sends "Expect: 100-continue" before larger uploads and then
	 * waits up to a second for an interim answer that many servers (and
	 * webhook receivers) never send. "Expect:" with no value turns that
	 * off; a caller that wants it sets the header itself. */
	if (!has_expect) {
		struct curl_slist *next = http_global.curl.slist_append(list, "Expect:");
		if (!next) {
			*rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			goto fail;
		}
		list = next;
	}
	*rc = CAIRN_OK;
	return list;
fail:
	http_global.curl.slist_free_all(list);
	return NULL;
}

static int http_status_of(CURLcode c, const http_xfer *x)
{
	if (x->cb_status != CAIRN_OK)
		return x->cb_status;
	switch (c) {
	case CURLE_OK: return CAIRN_OK;
	case CURLE_OPERATION_TIMEDOUT: return CAIRN_ERR_TIMEOUT;
	case CURLE_ABORTED_BY_CALLBACK: return CAIRN_ERR_CANCELLED;
	case CURLE_OUT_OF_MEMORY: return CAIRN_ERR_NO_MEMORY;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return CAIRN_ERR_INVALID;
	default: return CAIRN_ERR_IO;
	}
}

static bool http_method_ok(const char *m)
{
	if (!m || !m[0] || strlen(m) > 16)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

static int http_perform(CURL *h, const cairn_http_request *req, cairn_http_response *resp,
                        cairn_error *err)
{
	http_xfer x = {.req = req};
	char errbuf[CURL_ERROR_SIZE] = "";
	int rc = CAIRN_OK;
	struct curl_slist *headers = http_headers(req, err, &rc);
	if (rc != CAIRN_OK)
		return rc;

	http_global.curl.easy_setopt(h, CURLOPT_URL, req->url);
	http_global.curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	http_global.curl.easy_setopt(h, CURLOPT_NOSIGNAL,
	                             1L); /* threads: no SIGALRM for DNS timeouts */
	http_global.curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	http_global.curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (http_global.share)
		http_global.curl.easy_setopt(h, CURLOPT_SHARE, http_global.share);
	if (headers)
		http_global.curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (req->ca_file)
		http_global.curl.easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	if (req->timeout_ms > 0)
		http_global.curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	if (req->connect_timeout_ms > 0)
		http_global.curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
		                             (long)req->connect_timeout_ms);

	const char *m = req->method;
	bool has_body = req->body_read || req->body || req->body_len;
	bool always_body = !strcmp(m, "PUT") || !strcmp(m, "POST") || !strcmp(m, "PATCH");
	if (!strcmp(m, "HEAD")) {
		http_global.curl.easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (has_body || always_body) {
		/* Upload mode streams the body through the read callback for any
		 * method; CUSTOMREQUEST then names the method on the wire. */
		http_global.curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
		http_global.curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
		http_global.curl.easy_setopt(h, CURLOPT_READFUNCTION, http_read_cb);
		http_global.curl.easy_setopt(h, CURLOPT_READDATA, &x);
		http_global.curl.easy_setopt(h, CURLOPT_SEEKFUNCTION, http_seek_cb);
		http_global.curl.easy_setopt(h, CURLOPT_SEEKDATA, &x);
		curl_off_t size =
		        req->body_read ? (curl_off_t)req->body_size : (curl_off_t)req->body_len;
		http_global.curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
		                             size < 0 ? (curl_off_t)-1 : size);
	} else if (strcmp(m, "GET") != 0) {
		http_global.curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
	}
	http_global.curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
	http_global.curl.easy_setopt(h, CURLOPT_WRITEDATA, &x);
	http_global.curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
	http_global.curl.easy_setopt(h, CURLOPT_HEADERDATA, &x);
	http_global.curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	http_global.curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	http_global.curl.easy_setopt(h, CURLOPT_XFERINFODATA, &x);

	CURLcode c = http_global.curl.easy_perform(h);
	http_global.curl.slist_free_all(headers);
	/* Do not leave pointers to this stack frame in a pooled handle. */
	http_global.curl.easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);

	rc = http_status_of(c, &x);
	if (rc != CAIRN_OK) {
		if (x.cb_status == CAIRN_ERR_CANCELLED)
			return cairn_error_set(err, rc, "%s request cancelled", m);
		if (x.cb_status != CAIRN_OK)
			return cairn_error_set(
			        err, rc, "%s request stopped by a callback (status %d)", m, rc);
		return cairn_error_set(err, rc, "%s request failed: %s", m,
		                       errbuf[0] ? errbuf : http_global.curl.easy_strerror(c));
	}
	long status = 0;
	http_global.curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	resp->status = (int)status;
	resp->body_bytes = x.received;
	return CAIRN_OK;
}

int cn_host_http(const cairn_http_request *req_in, cairn_http_response *resp_in, cairn_error *err)
{
	if (!req_in || !resp_in)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "no request or response");
	/* Read only what the caller's struct sizes cover; the rest stays zero. */
	cairn_http_request req = {0};
	if (req_in->size < offsetof(cairn_http_request, ca_file) + sizeof(req.ca_file))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "request size %u too small",
		                       (unsigned)req_in->size);
	memcpy(&req, req_in, req_in->size < sizeof req ? req_in->size : sizeof req);
	if (resp_in->size < offsetof(cairn_http_response, body_bytes) + sizeof(int64_t))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "response size %u too small",
		                       (unsigned)resp_in->size);
	if (!http_method_ok(req.method))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad HTTP method");
	if (!req.url ||
	    (strncmp(req.url, "http://", 7) != 0 && strncmp(req.url, "https://", 8) != 0))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "URL must be http:// or https://");
	if (req.nheaders && !req.headers)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "nheaders > 0 but no headers");
	if (!req.body_read && req.body_len && !req.body)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "body_len > 0 but no body");

	pthread_once(&http_global.once, http_init);
	if (!http_global.ok)
		return cairn_error_set(err, CAIRN_ERR_IO, "HTTP client unavailable: %s",
		                       http_global.why);
	CURL *h = http_take();
	if (!h)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	cairn_http_response resp = {.size = sizeof resp};
	int rc = http_perform(h, &req, &resp, err);
	http_give_back(h);
	if (rc == CAIRN_OK) {
		uint32_t keep = resp_in->size;
		memcpy(resp_in, &resp, keep < sizeof resp ? keep : sizeof resp);
		resp_in->size = keep;
	}
	return rc;
}
