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
	/* Optional: the request ended before on_complete could run (client
	 * gone or connection cut mid-body, server stop), on the HTTP thread, at
	 * most once; never after on_body_chunk returned an error (the route
	 * cleans up itself then). A route that holds resources for the request
	 * (a store writer fed by on_body_chunk) releases them here. */
	void (*on_closed)(void *arg, cn_gw_request *r);
} cn_gw_route;

/* ---- request accessors (valid until the request is answered) ---------- */

const char *cn_gw_method(const cn_gw_request *r);
/* Path as the client sent it (percent-encoded), without the query. */
const char *cn_gw_path(const cn_gw_request *r, size_t *len);
/* Raw query string without '?' ("" when none); not decoded. */
const char *cn_gw_query(const cn_gw_request *r, size_t *len);
/* Decoded value of path parameter `name`, NULL when the route has none. */
const char *cn_gw_param(const cn_gw_request *r, const char *name);
/* Raw (still percent-encoded) value of path parameter `name` and its length,
 * for routes that must see exactly what the client sent (artifact paths:
 * "%00" would cut the decoded C string). NULL when the route has none. */
const char *cn_gw_param_raw(const cn_gw_request *r, const char *name, size_t *len);
/* A pointer the route keeps with the request (NULL when the request starts). */
void cn_gw_set_state(cn_gw_request *r, void *state);
void *cn_gw_state(const cn_gw_request *r);
/* Request header (case-insensitive name), NULL when absent. Only from the
 * callbacks themselves (HTTP worker thread), not from a later thread. */
const char *cn_gw_header(const cn_gw_request *r, const char *name);
/* Buffered body (routes without on_body_chunk); "" with *len 0 when empty. */
const char *cn_gw_body(const cn_gw_request *r, size_t *len);
/* The request id sent back as X-Request-Id (NUL-terminated, <= 64 chars). */
const char *cn_gw_request_id(const cn_gw_request *r);

/* ---- flow control (streaming bodies and responses) -------------------- */

/* From on_body_chunk: take only the first `taken` bytes (0..len) of this
 * chunk and hold the body: the connection is parked (no thread held, no more
 * bytes read from the socket) until cn_gw_wake, after which the rest of the
 * chunk is offered again. This is the back-pressure that keeps an upload's
 * memory bounded while the consumer (a store writer) catches up. */
void cn_gw_body_pause(cn_gw_request *r, size_t taken);
/* Any thread: the consumer or producer of a paused body or a waiting stream
 * can go on. A wake that comes before the pause takes effect is kept, so the
 * pause then does not park. Harmless on a request that has ended. */
void cn_gw_wake(cn_gw_request *r);

/* ---- responding: exactly one of these, once per request --------------- */

typedef struct cn_gw_hdr {
	const char *name;  /* no CR, LF or ':' */
	const char *value; /* no CR or LF */
} cn_gw_hdr;

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
/* As cn_gw_respond, with extra response headers (copied). */
void cn_gw_respond_full(cn_gw_request *r, int status, const char *content_type,
                        const cn_gw_hdr *headers, size_t nheaders, const void *body, size_t len);

/* A response body produced piece by piece, never held whole. `length` is
 * the Content-Length. read runs on the request's HTTP thread whenever the
 * connection can take more: copy up to max bytes (the body from byte pos)
 * into buf and return how many (> 0); or CN_GW_STREAM_WAIT when nothing is
 * ready yet (the connection is parked until cn_gw_wake); or
 * CN_GW_STREAM_ERROR to cut the connection (the client sees a short body).
 * read is not called for HEAD or a zero length. done runs exactly once when
 * the gateway no longer needs the stream (sent, client gone, refused at
 * shutdown), on any thread; the producer frees its state there. */
#define CN_GW_STREAM_WAIT  (-1)
#define CN_GW_STREAM_ERROR (-2)
typedef struct cn_gw_stream {
	uint64_t length;
	long (*read)(void *arg, uint64_t pos, char *buf, size_t max);
	void (*done)(void *arg);
	void *arg;
} cn_gw_stream;
void cn_gw_respond_stream(cn_gw_request *r, int status, const char *content_type,
                          const cn_gw_hdr *headers, size_t nheaders, const cn_gw_stream *s);

#endif
