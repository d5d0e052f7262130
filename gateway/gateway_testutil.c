/* gateway/gateway_testutil.c: libcurl helpers for the gateway tests. */
#include "gateway/gateway_testutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct gt_upload {
	const char *p;
	size_t left;
} gt_upload;

static size_t gt_write(char *ptr, size_t size, size_t n, void *arg)
{
	cn_buf_append(arg, ptr, size * n);
	return size * n;
}

static size_t gt_read(char *ptr, size_t size, size_t n, void *arg)
{
	gt_upload *u = arg;
	size_t k = size * n < u->left ? size * n : u->left;
	memcpy(ptr, u->p, k);
	u->p += k;
	u->left -= k;
	return k;
}

static void gt_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	size_t vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
		vl--;
	snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t gt_header(char *ptr, size_t size, size_t n, void *arg)
{
	gt_resp *r = arg;
	size_t len = size * n;
	gt_header_value(ptr, len, "X-Request-Id", r->request_id, sizeof r->request_id);
	gt_header_value(ptr, len, "X-Cairn-Version", r->cairn_version, sizeof r->cairn_version);
	gt_header_value(ptr, len, "Content-Type", r->content_type, sizeof r->content_type);
	gt_header_value(ptr, len, "Allow", r->allow, sizeof r->allow);
	gt_header_value(ptr, len, "Connection", r->connection, sizeof r->connection);
	return len;
}

void *gt_handle_new(void)
{
	return curl_easy_init();
}
void gt_handle_free(void *handle)
{
	curl_easy_cleanup(handle);
}

void gt_http_on(void *handle, int port, const char *path, const gt_req *req, gt_resp *out)
{
	static const gt_req none = {0};
	CURL *h = handle;
	if (!req)
		req = &none;
	memset(out, 0, sizeof *out);
	char url[4096];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gt_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, gt_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	struct curl_slist *hdrs = NULL;
	char rid[256];
	if (req->request_id) {
		snprintf(rid, sizeof rid, "X-Request-Id: %s", req->request_id);
		hdrs = curl_slist_append(hdrs, rid);
	}
	gt_upload up = {req->body, req->body_len};
	if (req->body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		if (req->no_expect)
			hdrs = curl_slist_append(hdrs, "Expect:");
		if (req->chunked) {
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, gt_read);
			curl_easy_setopt(h, CURLOPT_READDATA, &up);
		} else {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		}
	}
	if (req->method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->method && strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	out->curl_code = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &out->seconds);
	cn_buf_putc(&out->body, '\0'); /* make an empty body a "" string */
	out->body.len--;
	curl_slist_free_all(hdrs);
}

void gt_http(int port, const char *path, const gt_req *req, gt_resp *out)
{
	CURL *h = curl_easy_init();
	gt_http_on(h, port, path, req, out);
	curl_easy_cleanup(h);
}

void gt_resp_free(gt_resp *r)
{
	cn_buf_free(&r->body);
}

void gt_config(cn_config *c, const char *tracking_addr)
{
	cn_config_defaults(c);
	snprintf(c->host, sizeof c->host, "127.0.0.1");
	c->port = 0;
	c->gateway_threads = 2;
	/* The same tests in the other threading mode (see CMakeLists.txt). */
	c->gateway_per_connection = getenv("CN_TEST_GATEWAY_PER_CONNECTION") != NULL;
	c->nservices = 0;
	if (tracking_addr) {
		snprintf(c->services[0].name, sizeof c->services[0].name, "tracking");
		snprintf(c->services[0].addr, sizeof c->services[0].addr, "%s", tracking_addr);
		c->nservices = 1;
	}
}

int64_t gt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gt_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

bool gt_has(const char *s, const char *sub)
{
	return s && sub && strstr(s, sub) != NULL;
}
