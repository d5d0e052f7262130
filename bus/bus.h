/*
 * bus/bus.h: the Cairn message bus on nng (plus a direct path for inproc://).
 *
 * Commands are REQ/REP with contexts on both ends, so one socket carries
 * many requests in flight: a client opens one REQ socket per service address
 * and each call uses its own nng context; a service host runs a pool of
 * workers, each with its own REP context on one socket. Events are PUB/SUB.
 * Every message is a cairn.bus.Envelope FlatBuffer (schemas/envelope.fbs).
 *
 * Addresses: inproc://name (one process), ipc:///path, tcp://host:port and
 * tls+tcp://host:port (needs cn_bus_tls with certificate files).
 * inproc://name is the bus's own direct path, not nng's: the caller's
 * thread puts the request on the host's queue and the host's worker calls
 * the caller back with the reply, because going through nng's inproc
 * transport costs about five thread switches per call and capped `cairn
 * server` well below its HTTP front. Same envelopes, deadlines and error
 * messages; requests wait (until their deadline) for a host that is not
 * started yet, at most CN_BUS_INPROC_QUEUE per address. Commands only:
 * events on inproc:// use nng's transport. nng+inproc://name is nng's own
 * inproc transport (inproc://name to nng), for tests of the nng path.
 *
 * Deadlines: a call carries an absolute deadline; if no reply has arrived by
 * then (service down, overloaded, or gone mid-call) the call fails with
 * CN_TEMPORARILY_UNAVAILABLE and a message naming the service. The host
 * drops requests whose deadline has already passed instead of doing work no
 * one waits for. Reconnection is nng's: a client keeps dialling in the
 * background, so a restarted service is used again without any restart of
 * the caller.
 *
 * Delivery (nng addresses): nng's timed REQ resend is effectively off (its period is longer
 * than any deadline) because service writes are not idempotent and a slow
 * reply is not a lost one. The one resend is nng's own when the connection
 * carrying a request drops before the reply: the request is queued again
 * and goes out on the next connection (a restarted service), within the
 * call's deadline. A request the old service had already executed may thus
 * run twice; a caller that sees TEMPORARILY_UNAVAILABLE does not know
 * whether the work was done. On the direct inproc:// path nothing is sent
 * twice: requests still queued when their host stops fail at once.
 */
#ifndef CN_BUS_H
#define CN_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/fb/fb.h"

typedef struct cn_bus_tls {
	const char *cert_file;   /* PEM certificate (server: own; client: own for mTLS, optional) */
	const char *key_file;    /* PEM private key matching cert_file */
	const char *ca_file;     /* PEM CA bundle to verify the peer; NULL = no verification */
	const char *server_name; /* client side: expected peer name; NULL = host of the address */
} cn_bus_tls;

/* ---- client side (the gateway, and services calling services) ---------- */

typedef struct cn_bus_client cn_bus_client;

/* Open a client for one service at `addr`; dialling is non-blocking and
 * retried forever in the background. tls may be NULL. *out owned by caller. */
cn_code cn_bus_client_open(cn_bus_client **out, const char *service_name, const char *addr,
                           const cn_bus_tls *tls, cn_err *err);
/* Fails calls still in flight (their `done` runs with
 * CN_TEMPORARILY_UNAVAILABLE), waits for those callbacks, frees. NULL is a
 * no-op. Must not be called from a `done` callback of the same client. */
void cn_bus_client_close(cn_bus_client *c);

/* Largest message (request or reply envelope) the bus accepts, bytes. */
#define CN_BUS_MAX_MSG ((size_t)64 << 20)
/* Requests an inproc:// address holds for its workers (or for a host not
 * started yet); a call beyond that fails at once (TEMPORARILY_UNAVAILABLE). */
#define CN_BUS_INPROC_QUEUE 4096

/* Counters for /metrics; monotonic except in_flight. */
typedef struct cn_bus_stats {
	uint64_t calls;         /* calls started */
	uint64_t replies;       /* calls that got a reply (any reply code) */
	uint64_t error_replies; /* replies whose code is not CN_OK */
	uint64_t timeouts;  /* calls failed TEMPORARILY_UNAVAILABLE (deadline, no peer, closed) */
	uint64_t errors;    /* calls failed otherwise (bad reply, out of memory) */
	uint64_t in_flight; /* calls started and not yet completed */
} cn_bus_stats;
void cn_bus_client_stats(cn_bus_client *c, cn_bus_stats *out);

typedef struct cn_bus_call {
	const char *method;     /* request table short name */
	const char *request_id; /* may be NULL */
	const char *caller;     /* may be NULL */
	int64_t deadline_ms;    /* absolute Unix ms; must be > 0 */
	const void *payload;    /* FlatBuffer of the request table */
	size_t payload_len;
} cn_bus_call;

/* A reply; owns the received message. Free with cn_bus_reply_free. */
typedef struct cn_bus_reply {
	void *msg_;             /* private: nng_msg * (nng addresses) */
	void *buf_;             /* private: malloc'd reply Envelope (inproc://) */
	cn_code code;           /* CN_OK or the service's error code */
	const char *message;    /* error message (NUL-terminated) or "" */
	const uint8_t *payload; /* reply FlatBuffer (unverified), NULL on error */
	size_t payload_len;
} cn_bus_reply;

/* Blocking call; safe from many threads at once on one client. Returns
 * CN_OK when a reply arrived (its own code is in reply->code), or an error
 * (CN_TEMPORARILY_UNAVAILABLE on deadline, CN_INTERNAL_ERROR otherwise)
 * with reply zeroed. */
cn_code cn_bus_call_sync(cn_bus_client *c, const cn_bus_call *call, cn_bus_reply *reply,
                         cn_err *err);
void cn_bus_reply_free(cn_bus_reply *r);

/* A blocking call served on the calling thread when it can be: for a
 * service hosted in this process on inproc:// (the client's address has a
 * started host), the caller waits for room under the host's bound (its
 * worker count, shared with its workers) until the deadline, then runs the
 * handler itself, building the reply table in b: no queue, no worker
 * wake-up, no envelope. The deadline is checked before the handler starts,
 * not while it runs: a handler that overruns it still answers (the caller
 * was the one running it). reply->payload then points into b (valid until
 * b is reset or freed); free the reply with cn_bus_reply_free as always.
 * Otherwise (other addresses, or no host started yet) this is
 * cn_bus_call_sync on behalf of client_addr, and b is not used. Returns
 * as cn_bus_call_sync; TEMPORARILY_UNAVAILABLE also when no room came
 * before the deadline. */
cn_code cn_bus_call_here(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                         cn_fb_builder *b, cn_bus_reply *reply, cn_err *err);

/* Asynchronous call, for event-driven callers (the gateway suspends the HTTP
 * connection and resumes it from `done`). `done` runs exactly once, on a
 * bus thread (nng's; on inproc:// the service worker that served the call,
 * or the client's deadline thread), unless this function itself returns an
 * error (then never).
 * `done` owns *reply (free with cn_bus_reply_free); when code != CN_OK the
 * reply is zeroed and err says why. The call's payload is copied before
 * this returns. Must not block for long inside `done`. */
typedef void (*cn_bus_done_fn)(void *arg, cn_code code, cn_bus_reply *reply, const cn_err *err);
cn_code cn_bus_call_async(cn_bus_client *c, const cn_bus_call *call, cn_bus_done_fn done, void *arg,
                          cn_err *err);
/* The same, on behalf of the HTTP client at client_addr ("ip:port", may be
 * NULL), which the envelope carries to the service (its audit trail). A
 * separate function, not a cn_bus_call field, so existing positional
 * initializers of cn_bus_call stay valid. */
cn_code cn_bus_call_async_from(cn_bus_client *c, const cn_bus_call *call, const char *client_addr,
                               cn_bus_done_fn done, void *arg, cn_err *err);
/* Both call functions fail at once (done never runs) with
 * INVALID_PARAMETER_VALUE for a NULL method or deadline_ms <= 0,
 * TEMPORARILY_UNAVAILABLE when the deadline has already passed (or, on
 * inproc://, the service's queue is full), and INTERNAL_ERROR when out of
 * memory. A reply that is not a well-formed
 * REPLY Envelope for this request fails the call with INTERNAL_ERROR. */

/* ---- service side ---------------------------------------------------- */

typedef struct cn_bus_request {
	const char *method; /* NUL-terminated, never NULL ("" when absent); valid during the call */
	const char *request_id;
	const char *caller;
	int64_t deadline_ms;
	const uint8_t *payload; /* unverified bytes: handlers verify against the method's table */
	size_t payload_len;
	const char *client_addr; /* "" when absent */
} cn_bus_request;

/* Handle one request. Build the reply table in `b` (reset by the host) and
 * set *resp; or return an error code with err set (then b is ignored).
 * Called concurrently from the host's worker threads. */
typedef cn_code (*cn_bus_handler_fn)(void *arg, const cn_bus_request *req, cn_fb_builder *b,
                                     cn_fb_ref *resp, cn_err *err);

typedef struct cn_bus_host cn_bus_host;

/* Listen on addr and serve with `workers` threads (<= 0: 4) until
 * cn_bus_host_stop. Each worker blocks in its own REP context (inproc://:
 * on the address's queue) and runs the handler on its own thread, so
 * handlers may block (RocksDB syncs) without stalling nng's threads.
 * Errors: INVALID_PARAMETER_VALUE for a bad address or a tls+tcp://
 * address without cert_file/key_file, INTERNAL_ERROR when the address
 * cannot be listened on (or another host serves that inproc:// address).
 * tls is ignored for non-TLS addresses. */
cn_code cn_bus_host_start(cn_bus_host **out, const char *addr, const cn_bus_tls *tls, int workers,
                          cn_bus_handler_fn fn, void *arg, cn_err *err);
/* Stop accepting, finish requests in progress, free. NULL is a no-op.
 * Requests received but not yet picked up by a worker are dropped; their
 * callers see the connection close (and, with nng 1.5, resend to whichever
 * host listens on the address next). On inproc:// they fail at once with
 * TEMPORARILY_UNAVAILABLE, and later calls wait for the next host. */
void cn_bus_host_stop(cn_bus_host *h);

typedef struct cn_bus_host_stats {
	uint64_t requests;    /* requests received (valid or not) */
	uint64_t bad;         /* not an Envelope REQUEST: answered MALFORMED_REQUEST */
	uint64_t expired;     /* dropped unanswered: deadline already passed */
	uint64_t errors;      /* answered with an error code (handler or host) */
	uint64_t send_failed; /* replies that could not be sent (caller gone or gave up) */
} cn_bus_host_stats;
void cn_bus_host_stats_get(cn_bus_host *h, cn_bus_host_stats *out);

/* ---- events (PUB/SUB) -------------------------------------------------- */

typedef struct cn_bus_pub cn_bus_pub;
cn_code cn_bus_pub_open(cn_bus_pub **out, const char *addr, const cn_bus_tls *tls, cn_err *err);
void cn_bus_pub_close(cn_bus_pub *p);
/* Publish an event Envelope (kind EVENT, method = topic). Never blocks:
 * PUB drops for slow subscribers, so events are notifications, not a log.
 * CN_OK once handed to nng (subscribers may still miss it);
 * TEMPORARILY_UNAVAILABLE when dropped here (counted in stats);
 * INVALID_PARAMETER_VALUE for an empty topic; INTERNAL_ERROR when out of memory.
 * Safe from many threads at once. */
cn_code cn_bus_publish(cn_bus_pub *p, const char *topic, const char *request_id,
                       const void *payload, size_t len);

typedef struct cn_bus_pub_stats {
	uint64_t published; /* events handed to nng */
	uint64_t dropped;   /* events dropped (socket full or out of memory) */
} cn_bus_pub_stats;
void cn_bus_pub_stats_get(cn_bus_pub *p, cn_bus_pub_stats *out);

typedef struct cn_bus_sub cn_bus_sub;
typedef void (*cn_bus_event_fn)(void *arg, const char *topic, const char *request_id,
                                const uint8_t *payload, size_t len);
/* Dial a publisher; fn is called on an nng thread for each event whose topic
 * starts with topic_prefix ("" = all), one event at a time, with pointers
 * valid only during the call. Dialling retries in the background like the
 * client's. Events that are not well-formed EVENT Envelopes are dropped. */
cn_code cn_bus_sub_open(cn_bus_sub **out, const char *addr, const cn_bus_tls *tls,
                        const char *topic_prefix, cn_bus_event_fn fn, void *arg, cn_err *err);
/* Stops delivery (no fn call starts after this returns), frees. Must not be
 * called from fn. NULL is a no-op. */
void cn_bus_sub_close(cn_bus_sub *s);

#endif
