/*
 * bus/bus_int.h: what the bus's files share and nothing else includes.
 *
 * envelope.c builds and checks Envelopes; transport.c opens dialers and
 * listeners (plain or TLS) with the bus's socket options; inproc.c is the
 * direct same-process path that inproc:// addresses take instead of nng.
 * client.c, host.c and events.c are the three roles on top. Prefixes:
 * cn_bus_env_*, cn_bus_tr_* and cn_bus_ip_* here; file-local statics carry
 * their file's prefix.
 */
#ifndef CN_BUS_INT_H
#define CN_BUS_INT_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fb/fb.h"

/* Milliseconds left before deadline_ms, clamped to nng's duration range;
 * <= 0 when already passed. Deadlines cross machines, so they are
 * wall-clock Unix ms (cn_now_ms), not monotonic. */
nng_duration cn_bus_ms_left(int64_t deadline_ms);

/* ---- envelopes (envelope.c) ------------------------------------------ */

/* Fields of an Envelope to build. NULL strings and a NULL payload are left
 * out of the message. */
typedef struct cn_bus_env_out {
	int8_t kind; /* CN_Kind_* */
	const char *request_id;
	const char *method;
	const char *caller;
	int64_t deadline_ms;
	const char *error_code;
	const char *error_message;
	const void *payload;
	size_t payload_len;
	const char *client_addr; /* REQUEST: may be NULL */
} cn_bus_env_out;

/* Build the Envelope in b (reset first); *bytes points into b, valid until
 * b is next reset. Errors: INTERNAL_ERROR (out of memory), or
 * INVALID_PARAMETER_VALUE for a message over CN_BUS_MAX_MSG. */
cn_code cn_bus_env_encode(cn_fb_builder *b, const cn_bus_env_out *f, const uint8_t **bytes,
                          size_t *len, cn_err *err);
/* Copy bytes into a new nng message (*out owned by the caller). */
cn_code cn_bus_env_to_msg(const uint8_t *bytes, size_t len, nng_msg **out, cn_err *err);
/* cn_bus_env_encode, then cn_bus_env_to_msg. */
cn_code cn_bus_env_build(cn_fb_builder *b, const cn_bus_env_out *f, nng_msg **out, cn_err *err);

/* A decoded Envelope; strings point into the message body and are never
 * NULL ("" when absent); payload is NULL when absent. */
typedef struct cn_bus_env_in {
	int8_t kind;
	const char *request_id;
	const char *method;
	const char *caller;
	int64_t deadline_ms;
	const char *error_code; /* "" = OK */
	const char *error_message;
	const uint8_t *payload;
	size_t payload_len;
	const char *client_addr;
} cn_bus_env_in;

/* Verify buf[0..len) as an Envelope, then read its fields into *in.
 * MALFORMED_REQUEST (err says why) when it is not a well-formed Envelope. */
cn_code cn_bus_env_parse(const void *buf, size_t len, cn_bus_env_in *in, cn_err *err);

/* ---- transports (transport.c) ---------------------------------------- */

/* Create a dialer for addr on sock with the bus's reconnect back-off and a
 * TLS configuration for tls+tcp:// (cert/key optional, CA verifies the
 * server), and start it without waiting for a connection. `what` names the
 * peer in messages ("service 'tracking'"). */
cn_code cn_bus_tr_dial(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                       cn_err *err);

/* Create a listener for addr on sock (tls+tcp:// needs cert and key; a CA
 * makes client certificates mandatory) and start it. */
cn_code cn_bus_tr_listen(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                         cn_err *err);

/* Socket options every bus socket gets: receive size limit. */
cn_code cn_bus_tr_socket_setup(nng_socket sock, cn_err *err);

/* The code an nng error maps to when opening something: INTERNAL_ERROR,
 * or INVALID_PARAMETER_VALUE for addresses nng rejects. */
cn_code cn_bus_tr_code(int rv);

/* The address to give nng for a bus address: "nng+inproc://x" is nng's
 * "inproc://x"; every other address is nng's as it is. */
const char *cn_bus_tr_nng_addr(const char *addr);

/* ---- the direct in-process path (inproc.c) ---------------------------- */

/*
 * A client and a host on the same inproc:// address meet at an endpoint: a
 * bounded queue of requests, found by address in a process-wide registry.
 * The client puts a request on the queue, a host worker takes it, serves
 * it and hands the reply to the request's deliver function on the worker's
 * thread. The endpoint lives as long as a client or a host uses it, so
 * requests sent while no host is attached (not started yet, or restarting)
 * wait on the queue until a host serves them or the client gives up.
 *
 * Locks: a client may hold its own lock while it calls into the endpoint;
 * the endpoint never calls out (deliver, anything of the client's) with
 * its own lock held.
 */

/* True for addresses the direct path serves ("inproc://..."). */
int cn_bus_ip_is_direct(const char *addr);

typedef struct cn_bus_ip_ep cn_bus_ip_ep;
typedef struct cn_bus_ip_req cn_bus_ip_req;

/* How a request left the host side. */
typedef enum cn_bus_ip_outcome {
	CN_BUS_IP_REPLY,   /* served: reply is the reply Envelope */
	CN_BUS_IP_EXPIRED, /* dropped unserved: its deadline had passed */
	CN_BUS_IP_STOPPED, /* dropped unserved: the host stopped */
	CN_BUS_IP_FAILED   /* no reply could be built (out of memory) */
} cn_bus_ip_outcome;

/* Called exactly once per request the host side took off the queue (never
 * for one removed with cn_bus_ip_cancel), on the host's thread, without
 * endpoint locks held. Takes ownership of reply (malloc'd; NULL unless
 * CN_BUS_IP_REPLY). Returns false when nobody waited for the outcome any
 * more (the caller gave up). The host side never touches r afterwards. */
typedef bool (*cn_bus_ip_deliver_fn)(cn_bus_ip_req *r, cn_bus_ip_outcome how, uint8_t *reply,
                                     size_t len);

/* A request, embedded in the client's own call object. The client fills
 * env, env_len and deliver; links and `queued` belong to the endpoint. env
 * must stay valid until deliver runs or cn_bus_ip_cancel removed r. */
struct cn_bus_ip_req {
	cn_bus_ip_req *prev, *next;
	bool queued;
	const uint8_t *env;
	size_t env_len;
	cn_bus_ip_deliver_fn deliver;
};

/* The endpoint of addr, created on first use; each open takes a reference
 * that cn_bus_ip_release drops. INTERNAL_ERROR when out of memory. */
cn_code cn_bus_ip_open(cn_bus_ip_ep **out, const char *addr, cn_err *err);
void cn_bus_ip_release(cn_bus_ip_ep *ep);

/* Client side. Queue r; TEMPORARILY_UNAVAILABLE (err says why) when the
 * queue holds CN_BUS_INPROC_QUEUE requests already. */
cn_code cn_bus_ip_push(cn_bus_ip_ep *ep, cn_bus_ip_req *r, cn_err *err);
/* Take r back off the queue if it is still there. Returns 0 when it was
 * not queued (a worker has it and will deliver), 1 when it was removed,
 * 2 when it was removed and no host was attached. */
int cn_bus_ip_cancel(cn_bus_ip_ep *ep, cn_bus_ip_req *r);

/* Host side. Attach `host` (any unique pointer) as the endpoint's server,
 * serving at most `limit` calls at once: INTERNAL_ERROR "address in use"
 * when another host is attached. */
cn_code cn_bus_ip_attach(cn_bus_ip_ep *ep, const void *host, int limit, cn_err *err);
/* A worker of `host`: wait for the next request and room under the bound
 * to serve it; NULL once host is no longer attached (stop). `served`: the
 * worker has finished the request of its previous pop (one lock for both;
 * pass it on the call that returns NULL too). */
cn_bus_ip_req *cn_bus_ip_pop(cn_bus_ip_ep *ep, const void *host, bool served);
/* The host's bound: at most `limit` calls are served at once, by its
 * workers (a popped request counts until the worker's next pop) and by callers
 * on their own threads (cn_bus_ip_enter .. cn_bus_ip_leave) together. */

/* A caller about to serve a call on its own thread (cn_bus_call_here):
 * waits for room under the bound until deadline_ms (Unix ms) and returns
 * the attached host, which stays attached until the matching
 * cn_bus_ip_leave. NULL when no host is attached (*busy false) or the
 * deadline passed first (*busy true); then there is nothing to leave. */
const void *cn_bus_ip_enter(cn_bus_ip_ep *ep, int64_t deadline_ms, bool *busy);
void cn_bus_ip_leave(cn_bus_ip_ep *ep);
/* Detach host (its workers' cn_bus_ip_pop return NULL), deliver
 * CN_BUS_IP_STOPPED to every request still queued, and wait until every
 * caller that entered has left. */
void cn_bus_ip_detach(cn_bus_ip_ep *ep, const void *host);

/* ---- serving on the caller's thread (host.c, for client.c) -------------- */

/* Serve req with h's handler on this thread, the reply table built in b:
 * the handler's code (its message in err), with the reply table in
 * (*bytes, *len) on CN_OK. When req's deadline has already passed the
 * handler does not run: *expired is set (and the code is meaningless).
 * Counted in h's stats like a request from the queue. The caller has
 * entered h's endpoint (cn_bus_ip_enter). */
cn_code cn_bus_host_serve_here(cn_bus_host *h, const cn_bus_request *req, cn_fb_builder *b,
                               const uint8_t **bytes, size_t *len, bool *expired, cn_err *err);

#endif
