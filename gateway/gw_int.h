/*
 * gateway/gw_int.h: what the gateway's files share (not a public header).
 *
 * Files and their jobs:
 *   gateway.c      start/stop: bus clients, endpoint table, orderly shutdown
 *   http_server.c  the libmicrohttpd daemon: callbacks, parking, responses
 *   router.c       method + path -> endpoint, with path parameters
 *   request.c      per-request objects (pooled), accessors, responding
 *   mlflow.c       MLflow routes: decode -> bus call -> encode
 *   metrics.c      counters and histograms; /health, /version, /metrics
 *   art*.c         the artifact routes (gateway/artifacts.h; see art_int.h)
 *
 * Names: cn_gw_ for what crosses files, the file's prefix for statics.
 *
 * A request's life and who owns it. A request object (cn_gw_request) comes
 * from the gateway's pool when the request line arrives and carries a
 * reference count: one reference belongs to libmicrohttpd's connection
 * (dropped when MHD reports the request completed), one more to whoever
 * will complete a parked request (the bus callback, or an async native
 * route). The object returns to the pool when both are gone, so neither
 * side can see it freed under it.
 *
 * Parking. To wait for the bus without holding a worker thread the HTTP
 * thread suspends the connection, sets state WAIT and starts the work. The
 * one who moves the state out of WAIT owns the answer:
 *   completer   WAIT -> COMPLETING (claim), writes the result, -> READY, resumes
 *   stop        WAIT -> ABANDONED, resumes (the client gets 503)
 * A completer that loses the race writes nothing and only drops its
 * reference. A resumed connection re-enters the access handler on its HTTP
 * thread, which builds and queues the response there.
 */
#ifndef CN_GW_INT_H
#define CN_GW_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/buf.h"
#include "core/codec/codec.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/fb/schema.h"
#include "gateway/gateway.h"
#include "gateway/native.h"

struct MHD_Connection;
struct MHD_Daemon;

/* ---- methods ----------------------------------------------------------- */

enum {
	CN_GW_GET,
	CN_GW_HEAD,
	CN_GW_POST,
	CN_GW_PUT,
	CN_GW_PATCH,
	CN_GW_DELETE,
	CN_GW_OPTIONS,
	CN_GW_OTHER,
	CN_GW_NMETHODS
};
/* Method index of an HTTP method name (exact, upper case); CN_GW_OTHER if unknown. */
int cn_gw_method_parse(const char *name);
const char *cn_gw_method_name(int m);

/* Who makes the call and from where (identity.c), for the envelope and so
 * the audit trail: caller is the configured trusted header's value
 * (user_header, set by an authenticating proxy), else the HTTP Basic user
 * name, else "" (anonymous); client_addr is the peer's "ip:port". Until
 * the gateway authenticates users itself, a caller from Basic auth is what
 * the client claims. */
#define CN_GW_CALLER_MAX 256
#define CN_GW_ADDR_MAX   64
typedef struct cn_gw_request cn_gw_request;
void cn_gw_identity(const cn_gw_request *r, char *caller, size_t ccap, char *addr, size_t acap);

/* ---- statistics (metrics.c) -------------------------------------------- */

#define CN_GW_NSTATUS  17 /* fixed status slots plus "other" */
#define CN_GW_NBUCKETS 17 /* histogram bounds plus +Inf */

/* One endpoint's counters: relaxed atomics only, no locks. Aligned so that
 * two endpoints never share a cache line. */
typedef struct cn_gw_stats {
	alignas(64) atomic_uint_fast64_t status[CN_GW_NSTATUS];
	atomic_uint_fast64_t bucket[CN_GW_NBUCKETS]; /* not cumulative; summed when rendered */
	atomic_uint_fast64_t sum_us;
} cn_gw_stats;

void cn_gw_stats_record(cn_gw_stats *s, int status, uint64_t duration_us);

/* ---- endpoints ---------------------------------------------------------- */

typedef enum cn_gw_ep_kind { CN_GW_EP_MLFLOW, CN_GW_EP_NATIVE, CN_GW_EP_UNMATCHED } cn_gw_ep_kind;

/* What a method + path resolves to. Immutable once the gateway serves,
 * except the stats. /api and /ajax-api mounts share one endpoint. */
typedef struct cn_gw_endpoint {
	cn_gw_stats stats;
	cn_gw_ep_kind kind;
	int method;            /* CN_GW_* */
	char *label;           /* owned: "route" label in /metrics */
	char *path;            /* owned: NATIVE: the path template */
	size_t max_body;       /* body limit in bytes */
	const cn_route *route; /* MLFLOW */
	cn_bus_client *client; /* MLFLOW: NULL when the service has no address */
	cn_gw_route native;    /* NATIVE: copy of the registration */
} cn_gw_endpoint;

/* ---- router (router.c) -------------------------------------------------- */

#define CN_GW_MAX_PARAMS 8

typedef struct cn_gw_router cn_gw_router;

typedef struct cn_gw_pathval {
	const char *name; /* from the route template */
	const char *val;  /* raw (percent-encoded) value inside the matched path */
	size_t len;
} cn_gw_pathval;

typedef struct cn_gw_match {
	cn_gw_endpoint *ep; /* NULL when nothing matched */
	int status;         /* 0 matched, 404 no such path, 405 path known with other methods */
	unsigned allow;     /* 405: bit (1 << CN_GW_*) per method the path accepts */
	size_t nparams;
	cn_gw_pathval params[CN_GW_MAX_PARAMS];
} cn_gw_match;

cn_gw_router *cn_gw_router_new(void);
/* Mount ep at method + path template: "/a/{x}/b" ({x} = one non-empty
 * segment) and a last segment "{x...}" (the rest, non-empty). Errors:
 * INVALID_PARAMETER_VALUE for a malformed template, more than
 * CN_GW_MAX_PARAMS parameters or a method + path already taken;
 * INTERNAL_ERROR when out of memory. */
cn_code cn_gw_router_add(cn_gw_router *rt, int method, const char *path, cn_gw_endpoint *ep,
                         cn_err *err);
/* Look up a raw request path (no query). Literal segments win over
 * parameters, and parameters over a rest match; HEAD falls back to GET.
 * Lock-free and allocation-free; safe from many threads. */
void cn_gw_router_match(const cn_gw_router *rt, int method, const char *path, size_t len,
                        cn_gw_match *m);
void cn_gw_router_free(cn_gw_router *rt);

/* ---- requests (request.c) ----------------------------------------------- */

enum {                      /* cn_gw_request.state, atomic */
       CN_GW_ST_ACTIVE,     /* on its HTTP thread */
       CN_GW_ST_WAIT,       /* parked, nobody has claimed it yet */
       CN_GW_ST_COMPLETING, /* claimed by its completer */
       CN_GW_ST_READY,      /* result written, resumed */
       CN_GW_ST_ABANDONED,  /* taken by cn_gateway_stop, resumed */
       CN_GW_ST_CLOSED      /* connection went away while parked */
};

enum {                /* cn_gw_request.phase: only the HTTP thread reads or writes it */
       CN_GW_PH_NEW,  /* request line seen, headers not yet handled */
       CN_GW_PH_BODY, /* receiving the body */
       CN_GW_PH_WAIT, /* parked */
       CN_GW_PH_DONE  /* response queued */
};

typedef struct cn_gw_request cn_gw_request;
struct cn_gw_request {
	cn_gateway *gw;
	struct MHD_Connection *conn;
	atomic_int state;
	atomic_int refs;
	int phase;
	int method;             /* CN_GW_* */
	const char *method_str; /* MHD's copy; valid while the request lives */
	/* request target, raw: uri.p[0..path_len) is the path, query follows */
	cn_buf uri;
	size_t path_len;
	const char *query;
	size_t query_len;
	cn_gw_endpoint *ep;
	cn_gw_match match;
	cn_codec_kv params[CN_GW_MAX_PARAMS]; /* decoded path parameters */
	size_t nparams;
	cn_buf scratch; /* storage of decoded parameter values */
	cn_buf body;
	size_t max_body;
	uint64_t body_seen;   /* body bytes received, kept or not */
	uint64_t drop_budget; /* refused: bytes still read and dropped before closing */
	bool refused;         /* body refused: dropping the rest */
	bool abort;           /* close the connection without an answer */
	bool parked;          /* async: answers go through claim/resume */
	bool suspended;       /* counted in cn_gateway.suspended */
	atomic_bool answered; /* a parked request's completer has answered */
	bool has_err;         /* an error answer is already in out */
	char req_id[65];
	int64_t t0_ns;           /* monotonic, request line arrival */
	cn_fb_builder *fb;       /* kept across uses of the object */
	cn_fb_builder *reply_fb; /* a reply served on this thread; kept likewise */
	/* result of a bus call, written by its completer */
	bool bus_pending;
	cn_code bus_code;
	cn_bus_reply reply;
	char bus_msg[256];
	/* flow control (http_server.c): gate_mu orders a park against a wake */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv; /* per-connection mode: a park waits here, not suspended */
	bool gate_susp;         /* parked by the gate (body pause or stream wait) */
	bool gate_wake;         /* woken before the gate parked */
	bool gate_closed;       /* request over: wakes do nothing */
	bool pause_req;         /* on_body_chunk asked to pause */
	size_t pause_taken;
	void *route_state; /* cn_gw_set_state */
	bool closed_told;  /* on_closed ran */
	/* the response */
	bool responded;
	bool has_stream;
	cn_gw_stream stream;
	cn_buf hdrs; /* extra headers: "name\0value\0" pairs */
	bool close;
	int status;
	char ctype[96];
	cn_buf out;
	/* pool links */
	cn_gw_request *next_free;
	cn_gw_request *next_all;
};

#define CN_GW_POOL_SHARDS 8

typedef struct cn_gw_pool {
	struct {
		alignas(64) pthread_mutex_t mu;
		cn_gw_request *free;
	} shard[CN_GW_POOL_SHARDS];
	_Atomic(cn_gw_request *) all; /* every object ever made; append-only */
	atomic_long live;             /* objects out of the pool */
} cn_gw_pool;

void cn_gw_pool_init(cn_gw_pool *p);
/* Frees every object; all must be back (live == 0). */
void cn_gw_pool_destroy(cn_gw_pool *p);
/* A clean request object with one reference, or NULL when out of memory. */
cn_gw_request *cn_gw_request_get(cn_gateway *g);
void cn_gw_request_ref(cn_gw_request *r);
/* Drops a reference; the last one returns the object to the pool. Any thread. */
void cn_gw_request_unref(cn_gw_request *r);
/* Calls fn on every object, in the pool or not (for cn_gateway_stop). */
void cn_gw_pool_foreach(cn_gw_pool *p, void (*fn)(cn_gw_request *r, void *arg), void *arg);

/* Answer with an MLflow error (HTTP thread, or a completer owning the claim). */
void cn_gw_set_error(cn_gw_request *r, cn_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Appends {"error_code": "...", "message": "..."} to out. */
void cn_gw_error_json(cn_buf *out, cn_code code, const char *message);
/* Gate: park r's connection until cn_gw_wake, unless a wake came first
 * (then returns false and the caller goes on). HTTP thread. */
bool cn_gw_gate_park(cn_gw_request *r);
/* True if a client's X-Request-Id is usable: 1..64 of [A-Za-z0-9._-]. */
bool cn_gw_request_id_ok(const char *s);
/* The bus client of a service by name, NULL when this gateway has none. */
cn_bus_client *cn_gw_client(cn_gateway *g, const char *service);

/* ---- parking (http_server.c) -------------------------------------------- */

/* HTTP thread, before starting async work: suspends the connection and
 * takes the completer's reference. False when the gateway is abandoning
 * requests: then do not start the work (the client gets 503). */
bool cn_gw_park(cn_gw_request *r);
/* Completer: claim the right to answer. Whatever it returns, the completer
 * must call cn_gw_unpark(r, claimed) exactly once afterwards; write the
 * result into r only when it returned true. */
bool cn_gw_claim(cn_gw_request *r);
void cn_gw_unpark(cn_gw_request *r, bool claimed);

/* ---- the gateway --------------------------------------------------------- */

typedef struct cn_gw_service {
	char name[32];
	cn_bus_client *client;
} cn_gw_service;

struct cn_gateway {
	cn_config cfg;
	struct MHD_Daemon *mhd;
	int listen_fd;
	int port;
	cn_gw_router *router;
	cn_gw_endpoint *eps; /* neps endpoints; the last CN_GW_NMETHODS are "unmatched" */
	size_t neps;
	cn_gw_service svc[CN_CFG_MAX_SERVICES];
	int nsvc;
	cn_gw_pool pool;
	atomic_int in_flight; /* requests between request line and completion */
	atomic_int suspended; /* connections parked, not yet re-entered nor closed */
	atomic_int resumers;  /* completers between claim and resume */
	atomic_int serving;   /* per-connection mode: calls running on HTTP threads */
	bool per_connection;  /* MHD runs a thread per connection: calls are served on it */
	atomic_bool stopping; /* answer with Connection: close */
	atomic_bool abandon;  /* grace period over: no more parking */
};

/* http_server.c: bind and start the daemon / stop accepting / stop. */
cn_code cn_gw_server_start(cn_gateway *g, cn_err *err);
void cn_gw_server_quiesce(cn_gateway *g);
void cn_gw_server_abandon_parked(cn_gateway *g);
void cn_gw_server_stop(cn_gateway *g);

/* mlflow.c: body complete -> decode and call (or answer an error). */
void cn_gw_mlflow_dispatch(cn_gw_request *r);
/* After resume: turn the bus result into the response. */
void cn_gw_mlflow_reply(cn_gw_request *r);

/* metrics.c: the built-in native routes, arg = the gateway. */
size_t cn_gw_builtin_routes(cn_gateway *g, cn_gw_route *out, size_t max);
/* Appends the Prometheus text exposition of g to out. */
void cn_gw_metrics_render(cn_gateway *g, cn_buf *out);

#endif
