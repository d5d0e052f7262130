/*
 * core/traces/record.c: a trace record (TraceRecord) as a C struct that the
 * handlers edit (tags, metadata, times) and encode back. Strings point into
 * the request or the pinned stored value they came from, so decoding copies
 * nothing; encoding writes one new FlatBuffer.
 */
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

void trc_rec_init(trc_rec *r)
{
	memset(r, 0, sizeof *r);
	r->execution_duration_ms = -1;
}

void trc_rec_free(trc_rec *r)
{
	free(r->metadata.p);
	free(r->tags.p);
	r->metadata = (trc_pairs){0};
	r->tags = (trc_pairs){0};
}

static bool trc_pairs_from_vec(trc_pairs *ps, cn_fb_vec v)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_str k = cn_StringPair_key(e), val = cn_StringPair_value(e);
		if (!trc_pairs_set(ps, k.ptr ? k.ptr : "", k.len, val.ptr ? val.ptr : "", val.len))
			return false;
	}
	return true;
}

void trc_rec_from_fb(trc_rec *r, cn_fb_table t)
{
	trc_rec_init(r);
	r->trace_id = cn_TraceRecord_trace_id(t);
	r->experiment_id = cn_TraceRecord_experiment_id(t);
	r->client_request_id = cn_TraceRecord_client_request_id(t);
	r->request_preview = cn_TraceRecord_request_preview(t);
	r->response_preview = cn_TraceRecord_response_preview(t);
	r->root_span_id = cn_TraceRecord_root_span_id(t);
	r->request_time_ms = cn_TraceRecord_request_time_ms(t);
	r->execution_duration_ms = cn_TraceRecord_has_execution_duration_ms(t)
	                                   ? cn_TraceRecord_execution_duration_ms(t)
	                                   : -1;
	r->state = cn_TraceRecord_state(t);
	r->info_from_client = cn_TraceRecord_info_from_client(t);
	r->min_start_ns = cn_TraceRecord_min_start_ns(t);
	r->max_end_ns = cn_TraceRecord_max_end_ns(t);
	r->span_count = cn_TraceRecord_span_count(t);
	r->span_bytes = cn_TraceRecord_span_bytes(t);
	/* Out of memory here leaves fewer pairs; encoding then fails the same way. */
	(void)trc_pairs_from_vec(&r->metadata, cn_TraceRecord_trace_metadata(t));
	(void)trc_pairs_from_vec(&r->tags, cn_TraceRecord_tags(t));
}

bool trc_pairs_set(trc_pairs *ps, const char *k, size_t klen, const char *v, size_t vlen)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->p[i].klen == klen && memcmp(ps->p[i].k, k, klen) == 0) {
			ps->p[i].v = v;
			ps->p[i].vlen = vlen;
			return true;
		}
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 8;
		trc_pair *np = realloc(ps->p, cap * sizeof *np);
		if (!np)
			return false;
		ps->p = np;
		ps->cap = cap;
	}
	ps->p[ps->n++] = (trc_pair){k, v, klen, vlen};
	return true;
}

bool trc_pairs_del(trc_pairs *ps, const char *k, size_t klen)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->p[i].klen == klen && memcmp(ps->p[i].k, k, klen) == 0) {
			memmove(&ps->p[i], &ps->p[i + 1], (ps->n - i - 1) * sizeof ps->p[0]);
			ps->n--;
			return true;
		}
	}
	return false;
}

const trc_pair *trc_pairs_get(const trc_pairs *ps, const char *k)
{
	size_t klen = strlen(k);
	for (size_t i = 0; i < ps->n; i++)
		if (ps->p[i].klen == klen && memcmp(ps->p[i].k, k, klen) == 0)
			return &ps->p[i];
	return NULL;
}

static cn_fb_ref trc_pairs_encode(cn_fb_builder *b, const trc_pairs *ps)
{
	cn_fb_ref stack[64] = {0};
	cn_fb_ref *refs = ps->n <= 64 ? stack : malloc(ps->n * sizeof *refs);
	if (!refs)
		return 0;
	for (size_t i = 0; i < ps->n; i++) {
		cn_fb_ref k = cn_fb_create_string(b, ps->p[i].k, ps->p[i].klen);
		cn_fb_ref v = cn_fb_create_string(b, ps->p[i].v, ps->p[i].vlen);
		cn_StringPair_start(b);
		cn_StringPair_add_key(b, k);
		cn_StringPair_add_value(b, v);
		refs[i] = cn_StringPair_end(b);
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, ps->n);
	if (refs != stack)
		free(refs);
	return vec;
}

static cn_fb_ref trc_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

bool trc_rec_encode(const trc_rec *r, cn_fb_builder *b, const uint8_t **out, size_t *len)
{
	cn_fb_builder_reset(b);
	cn_fb_ref id = trc_str(b, r->trace_id), exp = trc_str(b, r->experiment_id),
	          crid = trc_str(b, r->client_request_id), rq = trc_str(b, r->request_preview),
	          rs = trc_str(b, r->response_preview), root = trc_str(b, r->root_span_id);
	cn_fb_ref md = trc_pairs_encode(b, &r->metadata), tags = trc_pairs_encode(b, &r->tags);
	cn_TraceRecord_start(b);
	if (id)
		cn_TraceRecord_add_trace_id(b, id);
	if (exp)
		cn_TraceRecord_add_experiment_id(b, exp);
	if (crid)
		cn_TraceRecord_add_client_request_id(b, crid);
	cn_TraceRecord_add_request_time_ms(b, r->request_time_ms);
	if (r->execution_duration_ms >= 0)
		cn_TraceRecord_add_execution_duration_ms(b, r->execution_duration_ms);
	cn_TraceRecord_add_state(b, r->state);
	if (rq)
		cn_TraceRecord_add_request_preview(b, rq);
	if (rs)
		cn_TraceRecord_add_response_preview(b, rs);
	if (md)
		cn_TraceRecord_add_trace_metadata(b, md);
	if (tags)
		cn_TraceRecord_add_tags(b, tags);
	cn_TraceRecord_add_info_from_client(b, r->info_from_client);
	if (root)
		cn_TraceRecord_add_root_span_id(b, root);
	cn_TraceRecord_add_min_start_ns(b, r->min_start_ns);
	cn_TraceRecord_add_max_end_ns(b, r->max_end_ns);
	cn_TraceRecord_add_span_count(b, r->span_count);
	cn_TraceRecord_add_span_bytes(b, r->span_bytes);
	cn_fb_ref t = cn_TraceRecord_end(b);
	return cn_fb_finish(b, t, out, len) && !cn_fb_builder_failed(b);
}
