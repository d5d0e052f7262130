/*
 * gateway/http_server.c: the HTTP/1.1 server, on libmicrohttpd (MHD).
 *
 * Why MHD and not nng's HTTP server: nng 1.5's server reads a whole request
 * body into memory before it calls a handler and cannot take chunked
 * request bodies, while MHD hands the body over piece by piece as it
 * arrives (so a multi-GB artifact upload can stream straight to a store
 * plugin) and can stream a response from a callback. MHD can also park a
 * connection (suspend/resume), which lets a few threads serve many
 * requests that wait on the bus.
 *
 * Threading: MHD's internal pool of threads, each with its own epoll set;
 * a connection stays on one thread, so all callbacks of one request except
 * a completer's (bus callback, async native route) run on one thread.
 * Or, with gateway_per_connection, a thread per connection: calls to
 * in-process services run on it (cn_bus_call_here: no hand-off to a
 * service worker and back, no resume through MHD's event loop), and what
 * parks a connection in the pool (gate, async routes) waits on the
 * request's condition variable instead. Not MHD's suspend/resume there:
 * in libmicrohttpd 0.9.75 every suspended thread-per-connection thread
 * waits on the daemon's one wake-up channel and the first to wake clears
 * it, so with two parked connections one sleeps until its timeout.
 *
 * Call sequence of MHD for one request, and what we do:
 *   uri_log(raw target)            take a request object, keep the raw target
 *   access(phase NEW)              route, request id, Content-Length check
 *   access(data, size > 0) ...     body chunks
 *   access(size == 0)              body done: dispatch (answer now or park)
 *   access(size == 0) after resume build the response from the result
 *   completed(...)                 account, drop MHD's reference
 * MHD only accepts a response before the body starts or after it ends, and
 * one queued before the body ends closes the connection, so errors found
 * while reading a body are answered at its end.
 */
#include "gateway/gw_int.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"

/* Idle keep-alive connections are closed after this long. */
#define SERVER_IDLE_TIMEOUT_S 120
/* A refused body is still read (and dropped) up to this much past the
 * limit, so that a client sending it anyway gets the error rather than a
 * reset connection; past it the connection is closed. */
#define SERVER_DROP_BUDGET ((uint64_t)32 << 20)

static void server_log_mhd(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
static void server_log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	CN_LOGW("GATEWAY-HTTP", NULL, "%s", msg);
}

/* ---- flow control ---------------------------------------------------------- */

/* MHD reads a streamed body through a buffer of this size per response. */
#define SERVER_STREAM_BLOCK (256u << 10)

static void server_unsuspended(cn_gw_request *r);
static enum MHD_Result server_resumed(cn_gw_request *r);

/* The gate parks a connection whose body consumer or response producer is
 * behind, and cn_gw_wake lets it go on. gate_mu makes "park" and "wake"
 * happen in one order: MHD_resume_connection only ever follows
 * MHD_suspend_connection, and a wake that comes first is remembered. */
bool cn_gw_gate_park(cn_gw_request *r)
{
	pthread_mutex_lock(&r->gate_mu);
	if (r->gw->per_connection) {
		/* The connection's own thread: wait here, then go on. */
		while (!r->gate_wake)
			pthread_cond_wait(&r->gate_cv, &r->gate_mu);
		r->gate_wake = false;
		pthread_mutex_unlock(&r->gate_mu);
		return false;
	}
	if (r->gate_wake) {
		r->gate_wake = false;
		pthread_mutex_unlock(&r->gate_mu);
		return false;
	}
	MHD_suspend_connection(r->conn);
	r->gate_susp = true;
	atomic_fetch_add(&r->gw->suspended, 1);
	r->suspended = true;
	pthread_mutex_unlock(&r->gate_mu);
	return true;
}

void cn_gw_wake(cn_gw_request *r)
{
	pthread_mutex_lock(&r->gate_mu);
	if (!r->gate_closed) {
		if (r->gate_susp) {
			r->gate_susp = false;
			MHD_resume_connection(r->conn);
		} else {
			r->gate_wake = true;
			pthread_cond_signal(&r->gate_cv); /* per-connection mode */
		}
	}
	pthread_mutex_unlock(&r->gate_mu);
}

void cn_gw_body_pause(cn_gw_request *r, size_t taken)
{
	r->pause_req = true;
	r->pause_taken = taken;
}

static ssize_t server_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	cn_gw_request *r = cls;
	server_unsuspended(r);
	for (;;) {
		long n = r->stream.read(r->stream.arg, pos, buf, max);
		if (n > 0)
			return (ssize_t)n;
		if (n != CN_GW_STREAM_WAIT)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (cn_gw_gate_park(r))
			return 0; /* parked: MHD calls again after the wake */
	}
}

static void server_stream_free(void *cls)
{
	cn_gw_request *r = cls;
	r->stream.done(r->stream.arg);
	cn_gw_request_unref(r);
}

/* ---- responses ------------------------------------------------------------ */

static void server_account(cn_gw_request *r, int status, size_t bytes)
{
	uint64_t us = (uint64_t)(cn_mono_ns() - r->t0_ns) / 1000u;
	cn_gw_stats_record(&r->ep->stats, status, us);
	if (cn_log_enabled(CN_LOG_INFO))
		CN_LOGI("HTTP-ACCESS", r->req_id,
		        "method=%s path=%.*s status=%d bytes=%zu duration_us=%llu", r->method_str,
		        (int)(r->path_len > 512 ? 512 : r->path_len), r->uri.p ? r->uri.p : "",
		        status, bytes, (unsigned long long)us);
}

static void server_allow(unsigned mask, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	if (mask & (1u << CN_GW_GET))
		mask |= 1u << CN_GW_HEAD; /* GET routes answer HEAD too */
	for (int m = 0; m < CN_GW_OTHER && n < cap; m++)
		if (mask & (1u << m))
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "",
			                      cn_gw_method_name(m));
}

/* Queue r->out with r->status. HTTP thread only. */
static enum MHD_Result server_queue(cn_gw_request *r)
{
	cn_gateway *g = r->gw;
	r->phase = CN_GW_PH_DONE;
	if (cn_buf_failed(&r->out)) {
		cn_buf_free(&r->out);
		cn_buf_puts(&r->out,
		            "{\"error_code\": \"INTERNAL_ERROR\", \"message\": \"out of memory\"}");
		r->status = 500;
	}
	struct MHD_Response *resp;
	size_t bytes = r->out.len;
	if (r->has_stream) {
		/* The response owns the stream from here; it holds a reference
		 * to r because MHD may free the response after reporting the
		 * request completed. */
		r->has_stream = false;
		cn_gw_request_ref(r);
		resp = MHD_create_response_from_callback(r->stream.length, SERVER_STREAM_BLOCK,
		                                         server_stream_read, r, server_stream_free);
		if (!resp)
			server_stream_free(r);
		bytes = (size_t)r->stream.length;
	} else {
		/* The body stays in r->out, which lives until MHD reports the
		 * request completed, i.e. after the last byte is sent: no copy. */
		resp = MHD_create_response_from_buffer(r->out.len, r->out.p,
		                                       MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		r->abort = true;
		return MHD_NO;
	}
	for (size_t off = 0; off < r->hdrs.len;) {
		const char *name = r->hdrs.p + off;
		const char *value = name + strlen(name) + 1;
		off += strlen(name) + strlen(value) + 2;
		MHD_add_response_header(resp, name, value);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        r->ctype[0] ? r->ctype : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->req_id);
	MHD_add_response_header(resp, "X-Cairn-Version", CAIRN_VERSION);
	if (r->status == 405) {
		char allow[96];
		server_allow(r->match.allow, allow, sizeof allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	if (r->close || atomic_load_explicit(&g->stopping, memory_order_relaxed))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	server_account(r, r->status, bytes);
	return ok;
}

/* ---- parking ------------------------------------------------------------- */

/* Resume a parked connection: MHD's, or the waiting thread's. */
static void server_resume(cn_gw_request *r)
{
	if (!r->gw->per_connection) {
		MHD_resume_connection(r->conn);
		return;
	}
	pthread_mutex_lock(&r->gate_mu);
	pthread_cond_signal(&r->gate_cv);
	pthread_mutex_unlock(&r->gate_mu);
}

/* Per-connection mode: wait on this thread until the completer (or stop)
 * has moved the request out of WAIT and COMPLETING. */
static void server_wait_here(cn_gw_request *r)
{
	pthread_mutex_lock(&r->gate_mu);
	for (;;) {
		int st = atomic_load(&r->state);
		if (st != CN_GW_ST_WAIT && st != CN_GW_ST_COMPLETING)
			break;
		pthread_cond_wait(&r->gate_cv, &r->gate_mu);
	}
	pthread_mutex_unlock(&r->gate_mu);
}

bool cn_gw_park(cn_gw_request *r)
{
	cn_gateway *g = r->gw;
	if (!g->per_connection) {
		MHD_suspend_connection(r->conn);
		atomic_fetch_add(&g->suspended, 1);
		r->suspended = true;
	}
	r->phase = CN_GW_PH_WAIT;
	r->parked = true;
	/* Store WAIT, then read `abandon`; cn_gateway_stop sets `abandon`, then
	 * scans for WAIT. Both sequentially consistent: either the scan sees
	 * this request or this sees the flag. */
	atomic_store(&r->state, CN_GW_ST_WAIT);
	if (atomic_load(&g->abandon)) {
		int expect = CN_GW_ST_WAIT;
		if (atomic_compare_exchange_strong(&r->state, &expect, CN_GW_ST_ABANDONED))
			server_resume(r);
		return false;
	}
	cn_gw_request_ref(r); /* the completer's */
	return true;
}

bool cn_gw_claim(cn_gw_request *r)
{
	atomic_fetch_add(&r->gw->resumers, 1);
	int expect = CN_GW_ST_WAIT;
	return atomic_compare_exchange_strong(&r->state, &expect, CN_GW_ST_COMPLETING);
}

void cn_gw_unpark(cn_gw_request *r, bool claimed)
{
	cn_gateway *g = r->gw;
	if (claimed) {
		atomic_store(&r->state, CN_GW_ST_READY);
		server_resume(r);
	}
	atomic_fetch_sub(&g->resumers, 1);
	cn_gw_request_unref(r);
}

static void server_abandon_one(cn_gw_request *r, void *arg)
{
	int expect = CN_GW_ST_WAIT;
	if (atomic_compare_exchange_strong(&r->state, &expect, CN_GW_ST_ABANDONED))
		server_resume(r);
}

void cn_gw_server_abandon_parked(cn_gateway *g)
{
	atomic_store(&g->abandon, true);
	cn_gw_pool_foreach(&g->pool, server_abandon_one, g);
}

/* ---- request phases -------------------------------------------------------- */

/* Percent-decode the matched path parameters into r->scratch. */
static void server_params(cn_gw_request *r)
{
	size_t off[CN_GW_MAX_PARAMS];
	cn_buf_reset(&r->scratch);
	for (size_t i = 0; i < r->match.nparams; i++) {
		const char *v = r->match.params[i].val;
		size_t n = r->match.params[i].len;
		off[i] = r->scratch.len;
		for (size_t k = 0; k < n; k++) {
			int hi, lo;
			if (v[k] == '%' && k + 2 < n && (hi = cn_hex_value(v[k + 1])) >= 0 &&
			    (lo = cn_hex_value(v[k + 2])) >= 0) {
				cn_buf_putc(&r->scratch, (char)(hi * 16 + lo));
				k += 2;
			} else {
				cn_buf_putc(&r->scratch, v[k]);
			}
		}
		cn_buf_putc(&r->scratch, '\0');
	}
	if (cn_buf_failed(&r->scratch)) {
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory");
		r->has_err = true;
		return;
	}
	for (size_t i = 0; i < r->match.nparams; i++) {
		r->params[i].key = r->match.params[i].name;
		r->params[i].value = r->scratch.p + off[i];
	}
	r->nparams = r->match.nparams;
}

/* Content-Length as a number; UINT64_MAX when absent or unparsable. */
static uint64_t server_content_length(struct MHD_Connection *conn)
{
	const char *cl =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return UINT64_MAX;
	uint64_t v = 0;
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX - 1; /* absurdly large: refuse */
		v = v * 10 + (uint64_t)(*cl - '0');
	}
	return v;
}

static void server_refuse_body(cn_gw_request *r, uint64_t at_least)
{
	cn_gw_set_error(r, CN_INVALID_PARAMETER_VALUE,
	                "Request body of at least %llu bytes exceeds the limit of %zu bytes",
	                (unsigned long long)at_least, r->max_body);
	r->has_err = true;
	r->refused = true;
	r->close = true;
	r->drop_budget = SERVER_DROP_BUDGET;
	cn_buf_free(&r->body);
}

/* Headers are in: route, request id, limits. */
static enum MHD_Result server_begin(cn_gw_request *r, const char *method)
{
	cn_gateway *g = r->gw;
	r->method_str = method;
	r->method = cn_gw_method_parse(method);
	cn_gw_router_match(g->router, r->method, r->uri.p ? r->uri.p : "", r->path_len, &r->match);
	r->ep = r->match.ep ? r->match.ep : &g->eps[g->neps - CN_GW_NMETHODS + r->method];
	const char *rid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
	if (cn_gw_request_id_ok(rid))
		snprintf(r->req_id, sizeof r->req_id, "%s", rid);
	else
		cn_id_request(r->req_id);
	r->max_body = r->ep->max_body;
	if (r->match.nparams)
		server_params(r);
	r->phase = CN_GW_PH_BODY;
	uint64_t cl = server_content_length(r->conn);
	if (cl != UINT64_MAX && cl > r->max_body) {
		server_refuse_body(r, cl);
		/* A client that waits for "100 Continue" is answered now and
		 * never sends the body. One that does not (Python's http.client,
		 * so MLflow's client) is already sending it: closing now would
		 * reset the connection under it and it would see a reset, not
		 * our error, so a body of reasonable size is read and dropped
		 * and the error sent after it. Nothing of it is kept or
		 * forwarded either way. */
		const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
		                                                 MHD_HTTP_HEADER_EXPECT);
		if ((expect && strcasecmp(expect, "100-continue") == 0) ||
		    cl - r->max_body > SERVER_DROP_BUDGET)
			return server_queue(r);
		r->drop_budget = cl;
	}
	return MHD_YES;
}

/* Feed a body chunk; returns how much of it was consumed (less than len
 * only when the route paused the body and the connection is now parked). */
static size_t server_body(cn_gw_request *r, const char *data, size_t len)
{
	if (r->refused) {
		r->body_seen += len;
		if (len > r->drop_budget)
			r->abort = true;
		else
			r->drop_budget -= len;
		return len;
	}
	if (r->body_seen + len > r->max_body) {
		server_refuse_body(r, r->body_seen + len);
		return len;
	}
	const cn_gw_endpoint *ep = r->ep;
	if (ep->kind == CN_GW_EP_UNMATCHED) {
		r->body_seen += len;
		return len; /* answered 404/405 at the end; nothing to keep */
	}
	if (ep->kind == CN_GW_EP_NATIVE && ep->native.on_body_chunk) {
		size_t used = 0;
		while (used < len) {
			cn_err err;
			cn_err_clear(&err);
			r->pause_req = false;
			cn_code code = ep->native.on_body_chunk(ep->native.arg, r, data + used,
			                                        len - used, &err);
			if (code != CN_OK) {
				cn_gw_set_error(r, code, "%s", err.msg);
				r->has_err = true;
				r->closed_told = true; /* no further callback */
				r->refused = true;
				r->drop_budget = SERVER_DROP_BUDGET;
				r->body_seen += len - used;
				return len;
			}
			size_t taken = r->pause_req ? r->pause_taken : len - used;
			if (taken > len - used)
				taken = len - used;
			used += taken;
			r->body_seen += taken;
			if (r->pause_req && cn_gw_gate_park(r))
				break; /* the rest comes again after the wake */
		}
		return used;
	}
	r->body_seen += len;
	cn_buf_append(&r->body, data, len);
	return len;
}

static void server_native(cn_gw_request *r)
{
	const cn_gw_route *nr = &r->ep->native;
	r->closed_told = true; /* on_complete runs: on_closed never will */
	if (nr->async) {
		if (!cn_gw_park(r))
			return;
		/* r may be answered and resumed before this returns: no
		 * touching it afterwards. */
		nr->on_complete(nr->arg, r);
		return;
	}
	nr->on_complete(nr->arg, r);
	if (!r->responded)
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "handler of %s %s did not respond",
		                cn_gw_method_name(r->ep->method), nr->path);
}

/* Body complete. */
static enum MHD_Result server_dispatch(cn_gw_request *r)
{
	if (cn_buf_failed(&r->body)) {
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory reading the request body");
	} else if (r->has_err) {
		/* the answer is already in r->out */
	} else if (!r->match.ep) {
		cn_code code = CN_ENDPOINT_NOT_FOUND;
		int len = (int)(r->path_len > 1024 ? 1024 : r->path_len);
		cn_gw_set_error(r, code, "No API endpoint for %s %.*s", r->method_str, len,
		                r->uri.p ? r->uri.p : "");
		r->status = r->match.status; /* 404, or 405 for a known path */
	} else if (r->ep->kind == CN_GW_EP_MLFLOW) {
		cn_gw_mlflow_dispatch(r);
	} else {
		server_native(r);
	}
	if (r->phase == CN_GW_PH_WAIT) {
		if (!r->gw->per_connection)
			return MHD_YES; /* MHD calls again after the resume */
		server_wait_here(r);
		return server_resumed(r);
	}
	return server_queue(r);
}

/* Re-entered after a resume. */
static void server_unsuspended(cn_gw_request *r)
{
	if (r->suspended)
		atomic_fetch_sub(&r->gw->suspended, 1);
	r->suspended = false;
}

static enum MHD_Result server_resumed(cn_gw_request *r)
{
	server_unsuspended(r);
	int st = atomic_load(&r->state);
	if (st == CN_GW_ST_ABANDONED) {
		cn_gw_set_error(r, CN_TEMPORARILY_UNAVAILABLE,
		                "the Cairn gateway is shutting down; retry the request");
		r->close = true;
	} else if (r->bus_pending) {
		cn_gw_mlflow_reply(r);
	}
	if (!r->responded)
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "request resumed without an answer");
	return server_queue(r);
}

/* ---- MHD callbacks -------------------------------------------------------- */

static void *server_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	cn_gateway *g = cls;
	cn_gw_request *r = cn_gw_request_get(g);
	if (!r)
		return NULL;
	r->conn = conn;
	r->t0_ns = cn_mono_ns();
	atomic_fetch_add(&g->in_flight, 1);
	size_t n = strlen(uri);
	cn_buf_append(&r->uri, uri, n);
	const char *q = r->uri.p ? memchr(r->uri.p, '?', n) : NULL;
	r->path_len = q ? (size_t)(q - r->uri.p) : n;
	if (q) {
		r->query = q + 1;
		r->query_len = n - r->path_len - 1;
	}
	return r;
}

static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
	cn_gw_request *r = *con_cls;
	if (!r || cn_buf_failed(&r->uri))
		return MHD_NO; /* out of memory: drop the connection */
	switch (r->phase) {
	case CN_GW_PH_NEW: return server_begin(r, method);
	case CN_GW_PH_BODY:
		server_unsuspended(r); /* back from a body pause */
		if (*upload_data_size) {
			*upload_data_size -= server_body(r, upload_data, *upload_data_size);
			return r->abort ? MHD_NO : MHD_YES;
		}
		return server_dispatch(r);
	case CN_GW_PH_WAIT: return server_resumed(r);
	default: *upload_data_size = 0; return MHD_YES;
	}
}

static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
	cn_gateway *g = cls;
	cn_gw_request *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	/* A resumed connection whose client has gone is closed without
	 * re-entering the access handler. */
	server_unsuspended(r);
	pthread_mutex_lock(&r->gate_mu);
	r->gate_closed = true;
	pthread_mutex_unlock(&r->gate_mu);
	if (r->phase != CN_GW_PH_DONE && r->ep && r->ep->kind == CN_GW_EP_NATIVE &&
	    r->ep->native.on_closed && !r->closed_told) {
		r->closed_told = true;
		r->ep->native.on_closed(r->ep->native.arg, r);
	}
	if (r->phase != CN_GW_PH_DONE) {
		/* Never answered: the client went away, or we closed on it. */
		int expect = CN_GW_ST_WAIT;
		atomic_compare_exchange_strong(&r->state, &expect, CN_GW_ST_CLOSED);
		if (!r->ep)
			r->ep = &g->eps[g->neps - CN_GW_NMETHODS + CN_GW_OTHER];
		server_account(r, r->abort ? 400 : 499, 0);
	}
	atomic_fetch_sub(&g->in_flight, 1);
	cn_gw_request_unref(r);
}

/* ---- daemon --------------------------------------------------------------- */

static cn_code server_listen(cn_gateway *g, cn_err *err)
{
	const cn_config *c = &g->cfg;
	if (c->port < 0 || c->port > 65535)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "gateway port %d is out of range", c->port);
	char port[16];
	snprintf(port, sizeof port, "%d", c->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(c->host[0] ? c->host : NULL, port, &hints, &res);
	if (rc != 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "gateway host '%s' does not resolve: %s", c->host,
		                  gai_strerror(rc));
	int fd = -1, e = 0;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot listen on %s:%d: %s", c->host,
		                  c->port, strerror(e));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		g->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	g->listen_fd = fd;
	return CN_OK;
}

static enum MHD_Result server_accept_policy(void *cls, const struct sockaddr *addr,
                                            socklen_t addrlen)
{
	cn_gateway *g = cls;
	return atomic_load(&g->stopping) ? MHD_NO : MHD_YES;
}

cn_code cn_gw_server_start(cn_gateway *g, cn_err *err)
{
	cn_code code = server_listen(g, err);
	if (code != CN_OK)
		return code;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = g->cfg.gateway_threads > 0 ? (unsigned)g->cfg.gateway_threads
	                                              : (unsigned)(ncpu > 0 ? ncpu : 1);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	g->per_connection = g->cfg.gateway_per_connection;
	if (g->per_connection) {
		/* Nothing suspends in this mode (see the top of this file). */
		flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
		        MHD_USE_POLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
		threads = 0;
	}
	/* The logger must come first to catch messages about the other options;
	 * the pool size last, so that per-connection mode ends the list there
	 * (MHD warns about a pool size it does not use). */
	// clang-format off
	g->mhd = MHD_start_daemon(flags, 0, server_accept_policy, g, server_access, g,
		MHD_OPTION_EXTERNAL_LOGGER, server_log_mhd, g,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)g->listen_fd,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_IDLE_TIMEOUT_S,
		MHD_OPTION_URI_LOG_CALLBACK, server_uri_log, g,
		MHD_OPTION_NOTIFY_COMPLETED, server_completed, g,
		g->per_connection ? MHD_OPTION_END : MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_END);
	// clang-format on
	if (!g->mhd) {
		close(g->listen_fd);
		g->listen_fd = -1;
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot start the HTTP server on %s:%d",
		                  g->cfg.host, g->port);
	}
	g->listen_fd = -1; /* MHD's now; it closes it with the daemon */
	CN_LOGI("GATEWAY-LISTEN", NULL, "host=%s port=%d threads=%u%s endpoints=%zu", g->cfg.host,
	        g->port, threads, g->per_connection ? " (one per connection)" : "", g->neps);
	return CN_OK;
}

/* Stop taking connections. Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75
 * with a thread pool on epoll it races the workers removing the listening
 * socket from their epoll sets and aborts the process ("Failed to remove
 * listen FD from epoll set"). Refusing new connections in the accept policy
 * has the same effect for clients and no race; the listening socket closes
 * with the daemon. */
void cn_gw_server_quiesce(cn_gateway *g)
{
	atomic_store(&g->stopping, true);
}

void cn_gw_server_stop(cn_gateway *g)
{
	if (g->mhd)
		MHD_stop_daemon(g->mhd);
	g->mhd = NULL;
}
