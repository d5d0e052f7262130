/*
 * core/traces/ingest.c: IngestSpans (the bus call span producers make: the
 * gateway's OTLP receiver) and LogSpans (the same over JSON).
 *
 * Spans are grouped by trace; each trace's record is created or extended
 * under its lock stripe: a trace whose StartTraceV3 has not come yet gets
 * its request time, duration, state and previews from its root span (or,
 * before the root arrives, from the spans seen so far, IN_PROGRESS), in any
 * order, however late. Stripes are taken in ascending order, so requests
 * touching several traces cannot deadlock; every span and record of a
 * request goes to disk in one atomic batch.
 *
 * Overload: the bytes of span data being ingested at once are bounded by
 * trace_ingest_budget_mb; past it a request is refused at once with
 * TEMPORARILY_UNAVAILABLE (the gateway answers 503 with Retry-After)
 * instead of waiting in memory. One request alone is always admitted.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

typedef struct trc_in_span {
	cn_fb_table t;
	cn_fb_str trace_hex, span_id, parent;
	int stripe;
	uint32_t order; /* position in the request: later copies of a span win */
	char trace_id[TRC_ID_MAX];
} trc_in_span;

static int trc_in_cmp(const void *a, const void *b)
{
	const trc_in_span *x = a, *y = b;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	int c = strcmp(x->trace_id, y->trace_id);
	if (c)
		return c;
	return x->order < y->order ? -1 : (x->order > y->order); /* arrival order */
}

static bool trc_hex_ok(cn_fb_str s, size_t n)
{
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s.ptr[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

static int64_t trc_span_cost(cn_fb_table sp)
{
	return 128 + (int64_t)cn_SpanRecord_attributes(sp).len + cn_SpanRecord_events(sp).len +
	       cn_SpanRecord_name(sp).len + cn_SpanRecord_resource_attributes(sp).len;
}

/* The span as its own SpanRecord buffer (copied field by field). */
static bool trc_span_copy(cn_fb_builder *b, cn_fb_table sp, const uint8_t **out, size_t *len)
{
	cn_fb_builder_reset(b);
#define TRC_S(f)                                                                  \
	cn_fb_ref f = cn_SpanRecord_has_##f(sp)                                   \
	                      ? cn_fb_create_string(b, cn_SpanRecord_##f(sp).ptr, \
	                                            cn_SpanRecord_##f(sp).len)    \
	                      : 0
	TRC_S(trace_id);
	TRC_S(span_id);
	TRC_S(parent_span_id);
	TRC_S(name);
	TRC_S(span_type);
	TRC_S(status_code);
	TRC_S(status_message);
	TRC_S(attributes);
	TRC_S(events);
	TRC_S(trace_state);
	TRC_S(resource_attributes);
	TRC_S(scope_name);
#undef TRC_S
	cn_SpanRecord_start(b);
#define TRC_A(f) \
	if (f)   \
	cn_SpanRecord_add_##f(b, f)
	TRC_A(trace_id);
	TRC_A(span_id);
	TRC_A(parent_span_id);
	TRC_A(name);
	TRC_A(span_type);
	TRC_A(status_code);
	TRC_A(status_message);
	TRC_A(attributes);
	TRC_A(events);
	TRC_A(trace_state);
	TRC_A(resource_attributes);
	TRC_A(scope_name);
#undef TRC_A
	cn_SpanRecord_add_start_time_unix_nano(b, cn_SpanRecord_start_time_unix_nano(sp));
	cn_SpanRecord_add_end_time_unix_nano(b, cn_SpanRecord_end_time_unix_nano(sp));
	cn_fb_ref root = cn_SpanRecord_end(b);
	return cn_fb_finish(b, root, out, len) && !cn_fb_builder_failed(b);
}

/* ---- one top-level attribute without parsing the whole object ----
 * Span attributes are an object of a dozen keys whose values (messages,
 * documents) can be kilobytes; ingestion needs two or three of them. A
 * structural scan finds a key's value text and only that is given to
 * jansson. Anything the scan is not sure of (escaped keys, broken
 * structure) falls back to parsing the whole object, so for valid JSON the
 * answer is jansson's (the last copy of a duplicated key wins). The scan
 * checks structure, not every token: an object that is malformed only
 * inside some other key's value (which only a hand-made LogSpans request
 * could send) still yields the wanted key. */

static const char *trc_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string starting at p ('"'); NULL if unterminated. *esc is set
 * when it holds an escape. Found with memchr (vectorised): attribute values
 * are most of the text. Control characters are not looked for; the
 * wanted value itself still goes through jansson. */
static const char *trc_skip_str(const char *p, const char *end, bool *esc)
{
	for (p++; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return NULL;
		const char *bs = memchr(p, '\\', (size_t)(q - p));
		if (!bs)
			return q + 1;
		*esc = true;
		p = bs + 2; /* the escaped character, whatever it is */
	}
	return NULL;
}

/* Past the value starting at p; NULL if it is not well formed. */
static const char *trc_skip_value(const char *p, const char *end)
{
	bool esc = false;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return trc_skip_str(p, end, &esc);
	if (*p == '{' || *p == '[') {
		char stack[64];
		size_t depth = 0;
		while (p < end) {
			char c = *p;
			if (c == '"') {
				p = trc_skip_str(p, end, &esc);
				if (!p)
					return NULL;
				continue;
			}
			if (c == '{' || c == '[') {
				if (depth == sizeof stack)
					return NULL;
				stack[depth++] = c == '{' ? '}' : ']';
			} else if (c == '}' || c == ']') {
				if (depth == 0 || stack[depth - 1] != c)
					return NULL;
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return NULL;
	}
	const char *s = p;
	while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' ||
	                   *p == '+' || *p == '.' || *p == 'E'))
		p++;
	return p > s ? p : NULL;
}

int trc_json_find(cn_fb_str doc, const char *key, cn_fb_str *val)
{
	const char *p = doc.ptr, *end = doc.ptr + doc.len;
	size_t klen = strlen(key);
	int found = 0;
	p = trc_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = trc_ws(p + 1, end);
	if (p < end && *p == '}')
		return trc_ws(p + 1, end) == end ? 0 : -1;
	for (;;) {
		if (p >= end || *p != '"')
			return -1;
		bool esc = false;
		const char *k = p + 1, *ke = trc_skip_str(p, end, &esc);
		if (!ke || esc)
			return -1;
		p = trc_ws(ke, end);
		if (p >= end || *p != ':')
			return -1;
		p = trc_ws(p + 1, end);
		const char *v = p;
		p = trc_skip_value(p, end);
		if (!p)
			return -1;
		if ((size_t)(ke - 1 - k) == klen && memcmp(k, key, klen) == 0) {
			*val = (cn_fb_str){v, (size_t)(p - v)};
			found = 1;
		}
		p = trc_ws(p, end);
		if (p < end && *p == ',') {
			p = trc_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			break;
		return -1;
	}
	return trc_ws(p + 1, end) == end ? found : -1;
}

/* The attribute key of the object attrs, decoded (a new reference), or NULL. */
static json_t *trc_attr_get(cn_fb_str attrs, const char *key)
{
	cn_fb_str v = {0};
	if (!attrs.len)
		return NULL;
	int r = trc_json_find(attrs, key, &v);
	if (r == 0)
		return NULL;
	if (r > 0)
		return json_loadb(v.ptr, v.len, JSON_DECODE_ANY, NULL);
	json_t *a = json_loadb(attrs.ptr, attrs.len, 0, NULL);
	json_t *x = json_incref(json_object_get(a, key));
	json_decref(a);
	return x;
}

/* MLflow's preview of a root span attribute: the JSON-encoded value,
 * truncated to TRC_PREVIEW_MAX bytes (at a UTF-8 boundary). Copied into
 * keep (owned by the caller). */
static cn_fb_str trc_preview(cn_fb_str attrs, const char *key, cn_buf *keep)
{
	json_t *v = trc_attr_get(attrs, key);
	const char *txt = json_is_string(v) ? json_string_value(v) : NULL;
	if (!txt) {
		json_decref(v);
		return (cn_fb_str){0};
	}
	size_t n = strlen(txt);
	if (n > TRC_PREVIEW_MAX) {
		n = TRC_PREVIEW_MAX;
		while (n > 0 && ((unsigned char)txt[n] & 0xC0) == 0x80)
			n--;
	}
	cn_buf_reset(keep);
	cn_buf_append(keep, txt, n);
	json_decref(v);
	return (cn_fb_str){keep->p, keep->len};
}

typedef struct trc_group_ctx {
	trc_state *s;
	const trc_exp_facts *facts;
	cn_fb_str exp;
	cn_kv_batch *batch;
	cn_fb_builder *fb;
	cn_buf loc, name, req_prev, resp_prev, usage;
} trc_group_ctx;

/* MLflow's trace-level token usage (metadata mlflow.trace.tokenUsage): the
 * sum over spans of their mlflow.chat.tokenUsage attribute, kept up to date
 * as spans arrive until the client's own info (which carries its own
 * total) has been written. Only spans that mention the key are parsed. */
typedef struct trc_usage {
	int64_t in, out, total;
	bool any;
} trc_usage;

/* An integer token as jansson reads one; false for anything else. */
static bool trc_int_token(cn_fb_str x, int64_t *out)
{
	size_t i = x.len && x.ptr[0] == '-' ? 1 : 0, nd = x.len - i;
	if (nd == 0 || nd > 18 || (nd > 1 && x.ptr[i] == '0'))
		return false;
	int64_t v = 0;
	for (; i < x.len; i++) {
		if (x.ptr[i] < '0' || x.ptr[i] > '9')
			return false;
		v = v * 10 + (x.ptr[i] - '0');
	}
	*out = x.ptr[0] == '-' ? -v : v;
	return true;
}

/* The usual usage value (a short string of an object of integers, only
 * quotes escaped) read without jansson; false = let jansson read it. */
static bool trc_usage_fast(trc_usage *u, cn_fb_str attrs, const char *key)
{
	cn_fb_str v = {0};
	char txt[256];
	size_t n = 0;
	if (trc_json_find(attrs, key, &v) != 1 || v.len < 2 || v.len > sizeof txt ||
	    v.ptr[0] != '"')
		return false;
	for (size_t i = 1; i + 1 < v.len; i++) {
		char c = v.ptr[i];
		if (c == '\\') {
			if (v.ptr[i + 1] != '"')
				return false;
			i++;
		} else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x80) {
			return false;
		}
		txt[n++] = v.ptr[i];
	}
	static const char *const names[3] = {"input_tokens", "output_tokens", "total_tokens"};
	int64_t val[3] = {0, 0, 0};
	bool has[3] = {false, false, false};
	for (int k = 0; k < 3; k++) {
		cn_fb_str x = {0};
		int r = trc_json_find((cn_fb_str){txt, n}, names[k], &x);
		if (r < 0 || (r > 0 && !trc_int_token(x, &val[k])))
			return false;
		has[k] = r > 0;
	}
	u->in += val[0];
	u->out += val[1];
	u->total += has[2] ? val[2] : val[0] + val[1];
	u->any = true;
	return true;
}

static void trc_usage_add(trc_usage *u, cn_fb_str attrs)
{
	static const char key[] = "mlflow.chat.tokenUsage";
	if (!attrs.len || !memmem(attrs.ptr, attrs.len, key, sizeof key - 1))
		return;
	if (trc_usage_fast(u, attrs, key))
		return;
	json_t *v = trc_attr_get(attrs, key);
	json_t *usage = json_is_string(v) ? json_loads(json_string_value(v), 0, NULL) : NULL;
	if (json_is_object(usage)) {
		json_t *i = json_object_get(usage, "input_tokens");
		json_t *o = json_object_get(usage, "output_tokens");
		json_t *t = json_object_get(usage, "total_tokens");
		int64_t in = json_is_integer(i) ? json_integer_value(i) : 0;
		int64_t out = json_is_integer(o) ? json_integer_value(o) : 0;
		u->in += in;
		u->out += out;
		u->total += json_is_integer(t) ? json_integer_value(t) : in + out;
		u->any = true;
	}
	json_decref(usage);
	json_decref(v);
}

static int32_t trc_state_of(cn_fb_table root)
{
	if (cn_fb_str_eq(cn_SpanRecord_status_code(root), "STATUS_CODE_ERROR"))
		return CN_TraceState_ERROR;
	if (cn_SpanRecord_end_time_unix_nano(root) <= 0)
		return CN_TraceState_IN_PROGRESS;
	return CN_TraceState_OK;
}

/* One trace's spans in[0..n): record created or extended, spans put. */
static cn_code trc_ingest_group(trc_group_ctx *g, trc_in_span *in, size_t n, cn_err *err)
{
	trc_state *s = g->s;
	const char *id = in[0].trace_id;
	size_t idlen = strlen(id);
	trc_info old;
	cn_code rc = trc_info_get(s, id, idlen, &old, err);
	bool existed = rc == CN_OK;
	if (rc != CN_OK && rc != CN_RESOURCE_DOES_NOT_EXIST)
		return rc;
	rc = CN_OK;
	trc_rec r;
	if (existed) {
		trc_rec_from_fb(&r, old.t);
		trc_index_record(g->batch, old.t, true);
	} else {
		trc_rec_init(&r);
		r.trace_id = (cn_fb_str){id, idlen};
		r.experiment_id = g->exp;
		r.state = CN_TraceState_IN_PROGRESS;
		cn_buf_reset(&g->loc);
		cn_buf_printf(&g->loc, "%s/traces/%s/artifacts", g->facts->artifact_location, id);
		trc_pairs_set(&r.tags, "mlflow.artifactLocation", 23, g->loc.p, g->loc.len);
		trc_pairs_set(&r.tags, "mlflow.trace.spansLocation", 26, "TRACKING_STORE", 14);
	}
	trc_usage usage = {0};
	const trc_pair *prev = trc_pairs_get(&r.metadata, "mlflow.trace.tokenUsage");
	if (prev && !r.info_from_client) {
		json_t *p = json_loadb(prev->v, prev->vlen, 0, NULL);
		usage.in = json_integer_value(json_object_get(p, "input_tokens"));
		usage.out = json_integer_value(json_object_get(p, "output_tokens"));
		usage.total = json_integer_value(json_object_get(p, "total_tokens"));
		json_decref(p);
	}
	for (size_t i = 0; i < n && rc == CN_OK; i++) {
		cn_fb_table sp = in[i].t;
		const uint8_t *buf;
		size_t len;
		if (!trc_span_copy(g->fb, sp, &buf, &len)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		cn_key k;
		trc_key_span(&k, id, idlen, in[i].span_id.ptr, in[i].span_id.len);
		cn_kv_batch_put(g->batch, TRC_CF_SPANS, k.b, k.len, buf, len);
		int64_t st = cn_SpanRecord_start_time_unix_nano(sp);
		int64_t en = cn_SpanRecord_end_time_unix_nano(sp);
		if (st > 0 && (r.min_start_ns == 0 || st < r.min_start_ns))
			r.min_start_ns = st;
		if (en > r.max_end_ns)
			r.max_end_ns = en;
		r.span_count++;
		r.span_bytes += (int64_t)len;
		if (!r.info_from_client)
			trc_usage_add(&usage, cn_SpanRecord_attributes(sp));
		if (in[i].parent.len == 0) {
			r.root_span_id = in[i].span_id;
			if (!r.info_from_client) {
				r.request_time_ms = st / 1000000;
				r.execution_duration_ms = en > st ? (en - st) / 1000000 : -1;
				r.state = trc_state_of(sp);
				cn_fb_str a = cn_SpanRecord_attributes(sp);
				r.request_preview =
				        trc_preview(a, "mlflow.spanInputs", &g->req_prev);
				r.response_preview =
				        trc_preview(a, "mlflow.spanOutputs", &g->resp_prev);
				cn_fb_str nm = cn_SpanRecord_name(sp);
				cn_buf_reset(&g->name);
				cn_buf_append(&g->name, nm.ptr ? nm.ptr : "", nm.len);
				trc_pairs_set(&r.tags, "mlflow.traceName", 16,
				              g->name.p ? g->name.p : "", g->name.len);
			}
		}
	}
	if (rc == CN_OK && !r.info_from_client && r.root_span_id.len == 0) {
		/* No root yet: what the spans so far say. */
		r.request_time_ms = r.min_start_ns / 1000000;
		r.execution_duration_ms = r.max_end_ns > r.min_start_ns
		                                  ? (r.max_end_ns - r.min_start_ns) / 1000000
		                                  : -1;
		r.state = CN_TraceState_IN_PROGRESS;
	}
	if (rc == CN_OK && usage.any) {
		cn_buf_reset(&g->usage);
		cn_buf_printf(
		        &g->usage,
		        "{\"input_tokens\": %lld, \"output_tokens\": %lld, \"total_tokens\": %lld}",
		        (long long)usage.in, (long long)usage.out, (long long)usage.total);
		trc_pairs_set(&r.metadata, "mlflow.trace.tokenUsage", 23, g->usage.p, g->usage.len);
	}
	if (rc == CN_OK) {
		const uint8_t *buf;
		size_t len;
		if (!trc_rec_encode(&r, g->fb, &buf, &len)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			cn_key k;
			trc_key_info(&k, id, idlen);
			cn_kv_batch_put(g->batch, TRC_CF_INFO, k.b, k.len, buf, len);
			trc_index_record(g->batch, cn_fb_root(buf), false);
		}
	}
	trc_rec_free(&r);
	if (existed)
		trc_info_release(&old);
	return rc;
}

TRC_METHOD(trc_ingest_spans)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str exp = cn_IngestSpans_experiment_id(req);
	cn_fb_vec spans = cn_IngestSpans_spans(req);
	if (!exp.ptr || exp.len == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'experiment_id'.");
	int64_t cost = 0;
	for (uint32_t i = 0; i < spans.n; i++)
		cost += trc_span_cost(cn_fb_vec_table(spans, i));
	int64_t before = atomic_fetch_add(&s->ingest_inflight, cost);
	if (before > 0 && before + cost > s->ingest_budget) {
		atomic_fetch_sub(&s->ingest_inflight, cost);
		return cn_err_set(
		        err, CN_TEMPORARILY_UNAVAILABLE,
		        "Span ingestion is at capacity (%lld bytes in flight); retry later",
		        (long long)before);
	}
	trc_in_span *in = calloc(spans.n ? spans.n : 1, sizeof *in);
	cn_kv_batch *batch = cn_kv_batch_new();
	cn_fb_builder *fb = cn_fb_builder_new(4096);
	trc_exp_facts facts;
	cn_code rc = CN_OK;
	if (!in || !batch || !fb) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		goto out;
	}
	rc = trc_exp_facts_get(s, exp.ptr, exp.len, &facts, err);
	if (rc == CN_OK && !facts.exists)
		rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                "Could not find experiment with ID %.*s", (int)exp.len, exp.ptr);
	/* Validate everything before anything is written. */
	for (uint32_t i = 0; i < spans.n && rc == CN_OK; i++) {
		trc_in_span *x = &in[i];
		x->order = i;
		x->t = cn_fb_vec_table(spans, i);
		x->trace_hex = cn_SpanRecord_trace_id(x->t);
		x->span_id = cn_SpanRecord_span_id(x->t);
		x->parent = cn_SpanRecord_parent_span_id(x->t);
		if (!trc_hex_ok(x->trace_hex, 32) ||
		    !trc_trace_id_from_otel(x->trace_hex.ptr, x->trace_hex.len, x->trace_id))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid trace_id of span %u: expected 32 lowercase hex digits", i);
		else if (!trc_hex_ok(x->span_id, 16))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid span_id of span %u: expected 16 lowercase hex digits", i);
		else if (x->parent.len && !trc_hex_ok(x->parent, 16))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid parent_span_id of span %u: expected 16 lowercase hex "
			        "digits",
			        i);
		else
			x->stripe = (int)(trc_stripe(s, x->trace_id, 35) - s->stripes);
	}
	if (rc != CN_OK)
		goto out;
	qsort(in, spans.n, sizeof *in, trc_in_cmp);
	/* Stripes in ascending order; each taken once. */
	for (uint32_t i = 0; i < spans.n; i++)
		if (i == 0 || in[i].stripe != in[i - 1].stripe)
			pthread_mutex_lock(&s->stripes[in[i].stripe]);
	trc_group_ctx g = {.s = s, .facts = &facts, .exp = exp, .batch = batch, .fb = fb};
	size_t ntraces = 0;
	for (uint32_t i = 0; i < spans.n && rc == CN_OK;) {
		uint32_t j = i + 1;
		while (j < spans.n && strcmp(in[j].trace_id, in[i].trace_id) == 0)
			j++;
		rc = trc_ingest_group(&g, &in[i], j - i, err);
		ntraces++;
		i = j;
	}
	if (rc == CN_OK)
		rc = trc_write(s, batch, err);
	for (uint32_t i = 0; i < spans.n; i++)
		if (i == 0 || in[i].stripe != in[i - 1].stripe)
			pthread_mutex_unlock(&s->stripes[in[i].stripe]);
	cn_buf_free(&g.loc);
	cn_buf_free(&g.name);
	cn_buf_free(&g.req_prev);
	cn_buf_free(&g.resp_prev);
	cn_buf_free(&g.usage);
	if (rc == CN_OK) {
		cn_fb_ref *ids = malloc((ntraces ? ntraces : 1) * sizeof *ids);
		size_t k = 0;
		for (uint32_t i = 0; ids && i < spans.n; i++)
			if (i == 0 || strcmp(in[i].trace_id, in[i - 1].trace_id) != 0)
				ids[k++] = cn_fb_create_cstr(b, in[i].trace_id);
		cn_fb_ref vec = ids ? cn_fb_create_vec_refs(b, ids, k) : 0;
		free(ids);
		cn_IngestSpansResponse_start(b);
		cn_IngestSpansResponse_add_accepted_spans(b, (int32_t)spans.n);
		if (vec)
			cn_IngestSpansResponse_add_traces(b, vec);
		*resp = cn_IngestSpansResponse_end(b);
	}
out:
	atomic_fetch_sub(&s->ingest_inflight, cost);
	free(in);
	cn_kv_batch_free(batch);
	cn_fb_builder_free(fb);
	return rc;
}
