/*
 * gateway/gateway_testutil.h: HTTP client helpers for the gateway tests
 * (libcurl), not part of cn_gateway.
 */
#ifndef CN_GATEWAY_TESTUTIL_H
#define CN_GATEWAY_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

typedef struct gt_resp {
	long status;   /* 0 when the transfer failed */
	int curl_code; /* CURLcode */
	cn_buf body;
	char request_id[128];
	char cairn_version[64];
	char content_type[128];
	char allow[128];
	char connection[64];
	long connects;  /* new connections this transfer opened */
	double seconds; /* total time */
} gt_resp;

/* Options of one request; zero-initialise and set what is needed. */
typedef struct gt_req {
	const char *method; /* NULL = GET */
	const char *body;   /* NULL = none */
	size_t body_len;
	bool chunked;           /* send the body with Transfer-Encoding: chunked */
	bool no_expect;         /* never wait for "100 Continue": send the body at once */
	const char *request_id; /* X-Request-Id to send, NULL = none */
	long timeout_ms;        /* 0 = 10 s */
} gt_req;

/* One request on a fresh connection. */
void gt_http(int port, const char *path, const gt_req *req, gt_resp *out);
/* One request on a kept handle (keep-alive across calls); handle is a CURL *. */
void gt_http_on(void *handle, int port, const char *path, const gt_req *req, gt_resp *out);
void *gt_handle_new(void);
void gt_handle_free(void *handle);
void gt_resp_free(gt_resp *r);

/* Defaults with host 127.0.0.1, port 0, 2 threads, and service.tracking = addr. */
void gt_config(cn_config *c, const char *tracking_addr);

int64_t gt_now_ms(void);
void gt_sleep_ms(int ms);

/* True if s contains sub. */
bool gt_has(const char *s, const char *sub);

#endif
