/*
 * gateway/request.c: request objects, their pool, and answering.
 *
 * Request objects are pooled so that the steady state allocates nothing
 * per request: an object keeps its buffers (URI, body, response, FlatBuffer
 * builder) between uses and only gives back memory that one unusually large
 * request made it grow. The pool is sharded by CPU so that HTTP threads and
 * bus threads returning objects rarely meet on a lock. Objects are freed
 * only with the gateway, which lets cn_gateway_stop walk all of them.
 */
#include "gateway/gw_int.h"

#include <microhttpd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Buffers that grew past this are freed when the object goes back. */
#define REQUEST_KEEP_BYTES (256u << 10)

void cn_gw_pool_init(cn_gw_pool *p)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < CN_GW_POOL_SHARDS; i++)
		pthread_mutex_init(&p->shard[i].mu, NULL);
	atomic_init(&p->all, NULL);
	atomic_init(&p->live, 0);
}

static void request_free_buffers(cn_gw_request *r)
{
	cn_buf_free(&r->uri);
	cn_buf_free(&r->scratch);
	cn_buf_free(&r->body);
	cn_buf_free(&r->out);
	cn_buf_free(&r->hdrs);
	cn_fb_builder_free(r->fb);
	r->fb = NULL;
	cn_fb_builder_free(r->reply_fb);
	r->reply_fb = NULL;
}

void cn_gw_pool_destroy(cn_gw_pool *p)
{
	cn_gw_request *r = atomic_load(&p->all);
	while (r) {
		cn_gw_request *next = r->next_all;
		request_free_buffers(r);
		pthread_cond_destroy(&r->gate_cv);
		pthread_mutex_destroy(&r->gate_mu);
		free(r);
		r = next;
	}
	for (int i = 0; i < CN_GW_POOL_SHARDS; i++)
		pthread_mutex_destroy(&p->shard[i].mu);
}

static unsigned request_shard(void)
{
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : (unsigned)cpu % CN_GW_POOL_SHARDS;
}

cn_gw_request *cn_gw_request_get(cn_gateway *g)
{
	cn_gw_pool *p = &g->pool;
	unsigned s = request_shard();
	cn_gw_request *r = NULL;
	/* Own shard first, then the others: a bus thread may have returned
	 * objects to a shard no HTTP thread takes from. */
	for (unsigned i = 0; i < CN_GW_POOL_SHARDS && !r; i++) {
		unsigned k = (s + i) % CN_GW_POOL_SHARDS;
		pthread_mutex_lock(&p->shard[k].mu);
		r = p->shard[k].free;
		if (r)
			p->shard[k].free = r->next_free;
		pthread_mutex_unlock(&p->shard[k].mu);
	}
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
		atomic_init(&r->state, CN_GW_ST_ACTIVE);
		atomic_init(&r->refs, 0);
		atomic_init(&r->answered, false);
		pthread_mutex_init(&r->gate_mu, NULL);
		pthread_cond_init(&r->gate_cv, NULL);
		r->next_all = atomic_load(&p->all);
		while (!atomic_compare_exchange_weak(&p->all, &r->next_all, r))
			;
	}
	atomic_fetch_add(&p->live, 1);
	r->gw = g;
	r->conn = NULL;
	r->phase = CN_GW_PH_NEW;
	r->method = CN_GW_OTHER;
	r->method_str = "";
	cn_buf_reset(&r->uri);
	cn_buf_reset(&r->scratch);
	cn_buf_reset(&r->body);
	cn_buf_reset(&r->out);
	cn_buf_reset(&r->hdrs);
	r->gate_susp = r->gate_wake = r->gate_closed = r->pause_req = false;
	r->pause_taken = 0;
	r->route_state = NULL;
	r->closed_told = false;
	r->has_stream = false;
	memset(&r->stream, 0, sizeof r->stream);
	r->path_len = 0;
	r->query = "";
	r->query_len = 0;
	r->ep = NULL;
	r->nparams = 0;
	r->max_body = 0;
	r->body_seen = 0;
	r->drop_budget = 0;
	r->refused = r->abort = r->parked = r->suspended = r->has_err = false;
	r->req_id[0] = '\0';
	r->t0_ns = 0;
	r->bus_pending = false;
	r->bus_code = CN_OK;
	memset(&r->reply, 0, sizeof r->reply);
	r->bus_msg[0] = '\0';
	r->responded = r->close = false;
	r->status = 0;
	r->ctype[0] = '\0';
	atomic_store(&r->answered, false);
	atomic_store(&r->refs, 1);
	atomic_store(&r->state, CN_GW_ST_ACTIVE);
	return r;
}

void cn_gw_request_ref(cn_gw_request *r)
{
	atomic_fetch_add(&r->refs, 1);
}

static void request_trim(cn_buf *b)
{
	if (b->cap > REQUEST_KEEP_BYTES)
		cn_buf_free(b);
}

void cn_gw_request_unref(cn_gw_request *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	cn_gw_pool *p = &r->gw->pool;
	/* A reply nobody turned into a response (the client went away). */
	cn_bus_reply_free(&r->reply);
	if (r->has_stream) {
		r->has_stream = false;
		r->stream.done(r->stream.arg);
	}
	/* The builder grows with the body it encoded; drop both together. */
	if (r->body.cap > REQUEST_KEEP_BYTES || r->out.cap > REQUEST_KEEP_BYTES) {
		cn_fb_builder_free(r->fb);
		r->fb = NULL;
	}
	/* A large answer (a search of thousands of runs) gives its memory back. */
	if (r->reply_fb)
		cn_fb_builder_reset_shrink(r->reply_fb, REQUEST_KEEP_BYTES);
	request_trim(&r->uri);
	request_trim(&r->scratch);
	request_trim(&r->body);
	request_trim(&r->out);
	request_trim(&r->hdrs);
	unsigned s = request_shard();
	pthread_mutex_lock(&p->shard[s].mu);
	r->next_free = p->shard[s].free;
	p->shard[s].free = r;
	pthread_mutex_unlock(&p->shard[s].mu);
	atomic_fetch_sub(&p->live, 1);
}

void cn_gw_pool_foreach(cn_gw_pool *p, void (*fn)(cn_gw_request *r, void *arg), void *arg)
{
	for (cn_gw_request *r = atomic_load(&p->all); r; r = r->next_all)
		fn(r, arg);
}

/* ---- errors and ids ------------------------------------------------------- */

void cn_gw_error_json(cn_buf *out, cn_code code, const char *message)
{
	const char *name = cn_code_name(code);
	cn_buf_puts(out, "{\"error_code\": ");
	cn_buf_json_str(out, name, strlen(name));
	cn_buf_puts(out, ", \"message\": ");
	cn_buf_json_str(out, message ? message : "", message ? strlen(message) : 0);
	cn_buf_putc(out, '}');
}

void cn_gw_set_error(cn_gw_request *r, cn_code code, const char *fmt, ...)
{
	char msg[CN_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cn_buf_reset(&r->out);
	cn_buf_reset(&r->hdrs);
	if (r->has_stream) { /* an error replaces a stream not yet sent */
		r->has_stream = false;
		r->stream.done(r->stream.arg);
	}
	cn_gw_error_json(&r->out, code, msg);
	r->status = cn_code_http_status(code);
	/* Overload and unavailability are worth retrying: say when (a second). */
	if (r->status == 503 || r->status == 429) {
		cn_buf_append(&r->hdrs, "Retry-After", sizeof "Retry-After");
		cn_buf_append(&r->hdrs, "1", sizeof "1");
	}
	memcpy(r->ctype, "application/json", sizeof "application/json");
	r->responded = true;
}

bool cn_gw_request_id_ok(const char *s)
{
	if (!s || !*s)
		return false;
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= 64)
			return false;
	}
	return true;
}

/* ---- native-route accessors ------------------------------------------------ */

const char *cn_gw_method(const cn_gw_request *r)
{
	return r->method_str;
}

const char *cn_gw_path(const cn_gw_request *r, size_t *len)
{
	if (len)
		*len = r->path_len;
	return r->uri.p ? r->uri.p : "";
}

const char *cn_gw_query(const cn_gw_request *r, size_t *len)
{
	if (len)
		*len = r->query_len;
	return r->query;
}

const char *cn_gw_param(const cn_gw_request *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].key, name) == 0)
			return r->params[i].value;
	return NULL;
}

const char *cn_gw_param_raw(const cn_gw_request *r, const char *name, size_t *len)
{
	for (size_t i = 0; i < r->match.nparams; i++)
		if (strcmp(r->match.params[i].name, name) == 0) {
			*len = r->match.params[i].len;
			return r->match.params[i].val;
		}
	return NULL;
}

void cn_gw_set_state(cn_gw_request *r, void *state)
{
	r->route_state = state;
}

void *cn_gw_state(const cn_gw_request *r)
{
	return r->route_state;
}

const char *cn_gw_header(const cn_gw_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *cn_gw_body(const cn_gw_request *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.p ? r->body.p : "";
}

const char *cn_gw_request_id(const cn_gw_request *r)
{
	return r->req_id;
}

/* ---- responding --------------------------------------------------------- */

/* What an answer carries; one of body, use_out, stream or err_msg. */
typedef struct request_reply {
	int status;
	const char *ctype;
	const cn_gw_hdr *headers;
	size_t nheaders;
	const void *body;
	size_t len;
	bool use_out;
	const cn_gw_stream *stream;
	cn_code err_code;
	const char *err_msg;
} request_reply;

static void request_write(cn_gw_request *r, const request_reply *a)
{
	if (a->err_msg) {
		cn_gw_set_error(r, a->err_code, "%s", a->err_msg);
		return;
	}
	if (!a->use_out) {
		cn_buf_reset(&r->out);
		cn_buf_append(&r->out, a->body, a->len);
	}
	cn_buf_reset(&r->hdrs);
	for (size_t i = 0; i < a->nheaders; i++) {
		cn_buf_append(&r->hdrs, a->headers[i].name, strlen(a->headers[i].name) + 1);
		cn_buf_append(&r->hdrs, a->headers[i].value, strlen(a->headers[i].value) + 1);
	}
	r->status = a->status;
	snprintf(r->ctype, sizeof r->ctype, "%s", a->ctype ? a->ctype : "text/plain");
	r->responded = true;
	if (a->stream) {
		r->stream = *a->stream;
		r->has_stream = true;
	}
	if (cn_buf_failed(&r->out) || cn_buf_failed(&r->hdrs))
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory");
}

/* Writes the answer into r when this caller may answer: directly on the
 * HTTP thread of a synchronous route, through claim/unpark for a parked
 * one. A stream that is not used is handed back through its done. */
static void request_answer(cn_gw_request *r, const request_reply *a)
{
	bool claimed = true;
	/* A second answer to a parked request would drop a reference twice. */
	if (r->parked && atomic_exchange(&r->answered, true)) {
		if (a->stream)
			a->stream->done(a->stream->arg);
		return;
	}
	if (r->parked)
		claimed = cn_gw_claim(r);
	else if (r->responded)
		claimed = false; /* answered twice: the first answer stands */
	if (claimed)
		request_write(r, a);
	else if (a->stream)
		a->stream->done(a->stream->arg);
	if (r->parked)
		cn_gw_unpark(r, claimed);
}

void cn_gw_respond(cn_gw_request *r, int status, const char *content_type, const void *body,
                   size_t len)
{
	request_reply a = {.status = status, .ctype = content_type, .body = body, .len = len};
	request_answer(r, &a);
}

cn_buf *cn_gw_response_buf(cn_gw_request *r)
{
	return &r->out;
}

void cn_gw_respond_buf(cn_gw_request *r, int status, const char *content_type)
{
	request_reply a = {.status = status, .ctype = content_type, .use_out = true};
	request_answer(r, &a);
}

void cn_gw_respond_error(cn_gw_request *r, cn_code code, const char *message)
{
	request_reply a = {.err_code = code, .err_msg = message ? message : ""};
	request_answer(r, &a);
}

void cn_gw_respond_full(cn_gw_request *r, int status, const char *content_type,
                        const cn_gw_hdr *headers, size_t nheaders, const void *body, size_t len)
{
	request_reply a = {.status = status,
	                   .ctype = content_type,
	                   .headers = headers,
	                   .nheaders = nheaders,
	                   .body = body,
	                   .len = len};
	request_answer(r, &a);
}

void cn_gw_respond_stream(cn_gw_request *r, int status, const char *content_type,
                          const cn_gw_hdr *headers, size_t nheaders, const cn_gw_stream *s)
{
	request_reply a = {.status = status,
	                   .ctype = content_type,
	                   .headers = headers,
	                   .nheaders = nheaders,
	                   .stream = s};
	request_answer(r, &a);
}
