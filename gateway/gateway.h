/*
 * gateway/gateway.h: the HTTP/1.1 front door of Cairn.
 *
 * The gateway serves MLflow's REST API and Cairn's own endpoints on one
 * port. Every MLflow route comes from the schemas (cn_schema_cairn.routes):
 * it is mounted at /api/<major>.0<path> and /ajax-api/<major>.0<path>, its
 * request is decoded from the query string (GET) or the JSON body
 * (POST/PATCH/PUT; DELETE falls back to the query string when the body is
 * empty) into the route's request FlatBuffer, sent over the bus to the
 * route's service, and the reply is encoded back to MLflow's JSON. Beside
 * them sit native routes: in-process handlers (gateway/native.h), of which
 * /health, /version and /metrics are built in.
 *
 * Status codes and error bodies are MLflow's:
 *   {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}
 * with the HTTP status of that code (cn_code_http_status). Gateway-made
 * errors:
 *   unknown path                     404 ENDPOINT_NOT_FOUND
 *   known path, other method         405 ENDPOINT_NOT_FOUND (the path exists,
 *                                    the endpoint "METHOD path" does not;
 *                                    MLflow's Flask app answers 405 too)
 *   body over the limit              400 INVALID_PARAMETER_VALUE, connection closed;
 *                                    nothing is kept or forwarded. Sent before
 *                                    the body when Content-Length says so and
 *                                    the client waits for 100 Continue; else
 *                                    after reading and dropping the body (up
 *                                    to 32 MiB past the limit, beyond which
 *                                    the connection is just closed), so that
 *                                    clients that send bodies eagerly (MLflow's
 *                                    Python client) see the error, not a reset
 *   undecodable request              400 MALFORMED_REQUEST / INVALID_PARAMETER_VALUE
 *   service unreachable or too slow  503 TEMPORARILY_UNAVAILABLE
 *   service reply not well-formed    500 INTERNAL_ERROR
 * Every response carries X-Request-Id (the client's, when it is 1 to 64
 * characters of [A-Za-z0-9._-], else 32 fresh random hex digits) and
 * X-Cairn-Version.
 *
 * Threads: a pool of HTTP worker threads (libmicrohttpd, epoll); a request
 * waiting for the bus parks its connection and frees the thread, so a few
 * threads serve many concurrent requests.
 */
#ifndef CN_GATEWAY_H
#define CN_GATEWAY_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "gateway/native.h"

typedef struct cn_gateway cn_gateway;

/* Start serving: binds cfg->host:cfg->port (port 0 = any free port; see
 * cn_gateway_port), opens one bus client per cfg->services[i], builds the
 * route table and starts the worker threads (cfg->gateway_threads, or one
 * per CPU when 0). Uses from cfg: host, port, gateway_threads,
 * max_body_bytes, request_timeout_ms, shutdown_grace_ms, services; cfg is
 * copied and need not outlive the call. A route whose service has no
 * address answers 503 TEMPORARILY_UNAVAILABLE.
 *
 * On success *out is owned by the caller, who must call cn_gateway_stop.
 * On failure nothing is left running or allocated and err says why:
 * INVALID_PARAMETER_VALUE for a host that does not resolve or a bad service
 * address, INTERNAL_ERROR when the port cannot be bound (the message names
 * host, port and the system error) or out of memory. Logs GATEWAY-LISTEN. */
cn_code cn_gateway_start(cn_gateway **out, const cn_config *cfg, cn_err *err);

/* As cn_gateway_start, with extra native routes mounted beside the built-in
 * ones (copied; the array need not outlive the call, but each route's `arg`
 * must outlive the gateway). A native route whose method and path are
 * already taken (by an MLflow route, a built-in or an earlier extra route)
 * is refused with INVALID_PARAMETER_VALUE naming it. */
cn_code cn_gateway_start_with(cn_gateway **out, const cn_config *cfg, const cn_gw_route *extra,
                              size_t nextra, cn_err *err);

/* The TCP port actually bound (useful after asking for port 0). */
int cn_gateway_port(const cn_gateway *g);

/* Graceful stop, then free. Stops accepting connections at once; requests
 * already received run to completion for up to cfg->shutdown_grace_ms
 * (responses sent meanwhile carry "Connection: close"). Requests still
 * waiting after the grace period are answered 503 TEMPORARILY_UNAVAILABLE;
 * then open connections are closed, bus clients closed and everything
 * freed. Blocks until done; must not be called from a gateway thread.
 * NULL is a no-op. Logs GATEWAY-STOP. */
void cn_gateway_stop(cn_gateway *g);

#endif
