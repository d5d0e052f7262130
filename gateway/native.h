/*
 * gateway/native.h: native routes, in-process HTTP handlers of the gateway.
 *
 * Most of the API is MLflow routes generated from the schemas and answered
 * over the bus. A native route is answered inside the gateway instead:
 * /health, /version and /metrics today; artifact streaming, OTLP and the UI
 * later. A native route sees the body chunk by chunk as it arrives (so a
 * multi-GB upload can be streamed to a store plugin) or, without a chunk
 * callback, buffered whole up to its limit.
 *
 * Life of a request on a native route, all on one HTTP worker thread unless
 * noted:
 *   1. headers arrive; the path matched (`path` with {param} segments
 *      matching one segment each and a last segment {name...} matching the
 *      rest, at least one segment);
 *   2. on_body_chunk(data, len) for each piece of the body, in order, never
 *      with len 0; without on_body_chunk the body is kept (cn_gw_body). A
 *      body over max_body is refused with 400 before any callback;
 *   3. on_complete once, when the body has ended. A synchronous route must
 *      call one of the cn_gw_respond* functions before returning. An async
 *      route may return first and respond later from any thread, exactly
 *      once; until then the connection is parked and no worker thread is
 *      held. An async route must respond even to requests it no longer
 *      cares about: cn_gateway_stop waits for every response it owes
 *      (after its grace period it answers the client 503 itself, but still
 *      waits for the route's cn_gw_respond before freeing the request).
 * If on_body_chunk returns an error, no further callback is made for the
 * request and the client gets that error (after the rest of the body is
 * read and dropped, or with the connection closed when the rest is large).
 *
 * Pointers returned by the accessors stay valid until the request is
 * answered. Errors sent with cn_gw_respond_error are MLflow-shaped.
 */
#ifndef CN_GW_NATIVE_H
#define CN_GW_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

typedef struct cn_gw_request cn_gw_request;

/* Body chunk: return CN_OK to go on, or an error with err set. */
typedef cn_code (*cn_gw_body_fn)(void *arg, cn_gw_request *r, const char *data, size_t len,
                                 cn_err *err);
/* Body complete: respond (now, or later if the route is async). */
typedef void (*cn_gw_complete_fn)(void *arg, cn_gw_request *r);

/* max_body value for routes that stream bodies of any size. */
#define CN_GW_UNLIMITED SIZE_MAX

typedef struct cn_gw_route {
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE"; GET also serves HEAD */
	const char *path;   /* "/health", "/api/2.0/mlflow-artifacts/artifacts/{path...}" */
	const char *label;  /* route label in /metrics; NULL = path */
	size_t max_body;    /* 0 = the configured max_body_bytes; CN_GW_UNLIMITED = none */
	bool async;         /* on_complete may return before responding */
	cn_gw_body_fn on_body_chunk;   /* NULL = buffer the body */
	cn_gw_complete_fn on_complete; /* required */
	void *arg;                     /* passed to both callbacks */
} cn_gw_route;

/* ---- request accessors (valid until the request is answered) ---------- */

const char *cn_gw_method(const cn_gw_request *r);
/* Path as the client sent it (percent-encoded), without the query. */
const char *cn_gw_path(const cn_gw_request *r, size_t *len);
/* Raw query string without '?' ("" when none); not decoded. */
const char *cn_gw_query(const cn_gw_request *r, size_t *len);
/* Decoded value of path parameter `name`, NULL when the route has none. */
const char *cn_gw_param(const cn_gw_request *r, const char *name);
/* Request header (case-insensitive name), NULL when absent. Only from the
 * callbacks themselves (HTTP worker thread), not from a later thread. */
const char *cn_gw_header(const cn_gw_request *r, const char *name);
/* Buffered body (routes without on_body_chunk); "" with *len 0 when empty. */
const char *cn_gw_body(const cn_gw_request *r, size_t *len);
/* The request id sent back as X-Request-Id (NUL-terminated, <= 64 chars). */
const char *cn_gw_request_id(const cn_gw_request *r);

/* ---- responding: exactly one of these, once per request --------------- */

/* Copies body; content_type is copied too (at most 95 characters). */
void cn_gw_respond(cn_gw_request *r, int status, const char *content_type, const void *body,
                   size_t len);
/* Sends whatever was appended to cn_gw_response_buf(r), without a copy.
 * Only inside on_complete of a synchronous route (an async answer may race
 * with the gateway answering 503 at shutdown, so it goes through a copy). */
cn_buf *cn_gw_response_buf(cn_gw_request *r);
void cn_gw_respond_buf(cn_gw_request *r, int status, const char *content_type);
/* MLflow-shaped error: status cn_code_http_status(code), JSON body with
 * error_code and message (escaped). */
void cn_gw_respond_error(cn_gw_request *r, cn_code code, const char *message);

#endif
