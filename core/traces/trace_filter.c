/*
 * core/traces/trace_filter.c: a stored trace as a cn_search_trace view
 * (see trace_filter.h).
 */
#include "core/traces/trace_filter.h"

#include <stdlib.h>
#include <string.h>

#include "schemas/cairn_schema.h"

cn_code trc_filter_compile(const char *text, size_t len, cn_search_filter **out, cn_err *err)
{
	return cn_search_filter_parse(&cn_search_dialect_traces, text, len, out, err);
}

static cn_search_value tf_str(cn_fb_str s)
{
	return s.ptr ? cn_search_value_strn(s.ptr, s.len) : (cn_search_value){0};
}

static bool tf_pair(cn_fb_vec v, const char *key, cn_search_value *out)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		if (cn_fb_str_eq(cn_StringPair_key(e), key)) {
			*out = tf_str(cn_StringPair_value(e));
			return out->type == CN_SEARCH_V_STRING;
		}
	}
	return false;
}

static bool tf_tag(const void *ctx, const char *key, cn_search_value *out)
{
	const trc_filter_view *v = ctx;
	return tf_pair(cn_TraceRecord_tags(v->rec), key, out);
}

static bool tf_meta(const void *ctx, const char *key, cn_search_value *out)
{
	const trc_filter_view *v = ctx;
	return tf_pair(cn_TraceRecord_trace_metadata(v->rec), key, out);
}

static void tf_span_cache_free(trc_filter_view *v)
{
	for (size_t i = 0; i < v->nspan_cache; i++)
		free(v->span_cache[i]);
	free(v->span_cache);
	v->span_cache = NULL;
	v->nspan_cache = 0;
}

/* Copies the trace's spans when they are few and small; false (nothing
 * kept) otherwise, or on any failure: the caller streams instead. */
static bool tf_span_cache_fill(trc_filter_view *v)
{
	cn_fb_str id = cn_TraceRecord_trace_id(v->rec);
	cn_key prefix;
	cn_key_init(&prefix);
	cn_key_str(&prefix, id.ptr, id.len);
	cn_kv_iter *it = cn_kv_iter_new(v->s->db, TRC_CF_SPANS, prefix.b, prefix.len);
	if (!it)
		return false;
	v->span_cache = calloc(TRC_FILTER_CACHE_SPANS, sizeof *v->span_cache);
	bool ok = v->span_cache != NULL;
	size_t bytes = 0;
	for (cn_kv_iter_seek_first(it); ok && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vlen;
		const uint8_t *val = cn_kv_iter_value(it, &vlen);
		bytes += vlen;
		ok = v->nspan_cache < TRC_FILTER_CACHE_SPANS && bytes <= TRC_FILTER_CACHE_BYTES;
		uint8_t *copy = ok ? malloc(vlen) : NULL;
		ok = copy != NULL;
		if (ok) {
			memcpy(copy, val, vlen);
			v->span_cache[v->nspan_cache++] = copy;
		}
	}
	cn_err err;
	ok = ok && cn_kv_iter_status(it, &err) == CN_OK;
	cn_kv_iter_free(it);
	if (!ok)
		tf_span_cache_free(v);
	return ok;
}

static void tf_span_out(cn_fb_table sp, cn_search_trace_span *out)
{
	cn_fb_str attrs = cn_SpanRecord_attributes(sp);
	*out = (cn_search_trace_span){
	        .name = tf_str(cn_SpanRecord_name(sp)),
	        .type = tf_str(cn_SpanRecord_span_type(sp)),
	        .status = tf_str(cn_SpanRecord_status_code(sp)),
	        .content = attrs.ptr,
	        .content_len = attrs.ptr ? attrs.len : 0,
	        .attributes = attrs.ptr,
	        .attributes_len = attrs.ptr ? attrs.len : 0,
	};
}

/* The matcher walks spans 0, 1, 2, ... and starts again at 0 for the next
 * clause: from the copies, or from an iterator restarted on 0. */
static bool tf_span(const void *ctx, size_t i, cn_search_trace_span *out)
{
	trc_filter_view *v = (trc_filter_view *)ctx;
	if (!v->span_cache_tried) {
		v->span_cache_tried = true;
		v->span_cached = tf_span_cache_fill(v);
	}
	if (v->span_cached) {
		if (i >= v->nspan_cache)
			return false;
		tf_span_out(cn_fb_root(v->span_cache[i]), out);
		return true;
	}
	if (i == 0 || !v->spans || i != v->span_next) {
		trc_span_iter_free(v->spans);
		cn_fb_str id = cn_TraceRecord_trace_id(v->rec);
		v->spans = trc_span_iter_new(v->s, id.ptr, id.len, NULL);
		v->span_next = 0;
		if (!v->spans)
			return false;
		/* Random access (not used by the matcher) replays from the start. */
		cn_fb_table skip;
		const char *sid;
		size_t slen;
		while (v->span_next < i && trc_span_iter_next(v->spans, &skip, &sid, &slen))
			v->span_next++;
		if (v->span_next != i)
			return false;
	}
	cn_fb_table sp;
	const char *sid;
	size_t slen;
	if (!trc_span_iter_next(v->spans, &sp, &sid, &slen))
		return false;
	v->span_next++;
	tf_span_out(sp, out);
	return true;
}

static bool tf_asm(const void *ctx, size_t i, cn_search_trace_assessment *out)
{
	trc_filter_view *v = (trc_filter_view *)ctx;
	if (!v->asms_loaded) {
		cn_err err;
		cn_fb_str id = cn_TraceRecord_trace_id(v->rec);
		v->asms_loaded = true;
		if (trc_asm_list_load(v->s, id.ptr, id.len, &v->asms, &err) != CN_OK)
			trc_asm_list_free(&v->asms);
	}
	return trc_asm_list_view(&v->asms, i, out);
}

static bool tf_run_linked(const void *ctx, const char *run, size_t len)
{
	const trc_filter_view *v = ctx;
	cn_fb_str id = cn_TraceRecord_trace_id(v->rec);
	cn_key k;
	cn_key_init(&k);
	cn_key_u8(&k, 'r');
	cn_key_str(&k, run, len);
	cn_key_raw(&k, id.ptr, id.len);
	if (k.overflow)
		return false;
	cn_kv_val val;
	cn_err err;
	if (cn_kv_get(v->s->db, TRC_CF_RUN_LINKS, k.b, k.len, &val, &err) != CN_OK)
		return false;
	cn_kv_val_release(&val);
	return true;
}

bool trc_filter_index_hint(const cn_search_filter *f, trc_index_hint *h)
{
	size_t n = cn_search_filter_count(f);
	for (size_t i = 0; i < n; i++) {
		const cn_search_clause *c = cn_search_filter_clause(f, i);
		if (c->op != CN_SEARCH_EQ || c->value.type != CN_SEARCH_V_STRING ||
		    c->value.len >= TRC_INDEX_VALUE_MAX)
			continue;
		if (c->entity == CN_SEARCH_TAG || c->entity == CN_SEARCH_METADATA) {
			h->cf = c->entity == CN_SEARCH_TAG ? TRC_CF_TAG_INDEX : TRC_CF_META_INDEX;
			h->key = c->key;
		} else if (c->entity == CN_SEARCH_ATTRIBUTE && strcmp(c->key, "name") == 0) {
			h->cf = TRC_CF_TAG_INDEX;
			h->key = "mlflow.traceName";
		} else {
			continue;
		}
		h->klen = strlen(h->key);
		h->val = c->value.str;
		h->vlen = c->value.len;
		return true;
	}
	return false;
}

static cn_search_value tf_state(int32_t state)
{
	static const char *const names[] = {"STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS"};
	return cn_search_value_str(state >= 0 && state < 4 ? names[state] : names[0]);
}

void trc_filter_view_init(trc_filter_view *v, trc_state *s, cn_fb_table rec)
{
	memset(v, 0, sizeof *v);
	v->s = s;
	v->rec = rec;
	v->t = (cn_search_trace){
	        .trace_id = tf_str(cn_TraceRecord_trace_id(rec)),
	        .client_request_id = tf_str(cn_TraceRecord_client_request_id(rec)),
	        .state = tf_state(cn_TraceRecord_state(rec)),
	        .experiment_id = tf_str(cn_TraceRecord_experiment_id(rec)),
	        .timestamp_ms = cn_TraceRecord_request_time_ms(rec),
	        .execution_time_ms = cn_TraceRecord_execution_duration_ms(rec),
	        .has_execution_time = cn_TraceRecord_has_execution_duration_ms(rec),
	        .ctx = v,
	        .tag = tf_tag,
	        .metadata = tf_meta,
	        .span = tf_span,
	        .assessment = tf_asm,
	        .run_linked = tf_run_linked,
	};
}

void trc_filter_view_free(trc_filter_view *v)
{
	tf_span_cache_free(v);
	trc_span_iter_free(v->spans);
	trc_asm_list_free(&v->asms);
	memset(v, 0, sizeof *v);
}

bool trc_filter_match(trc_filter_view *v, const cn_search_filter *f)
{
	return cn_search_trace_match(f, &v->t);
}

bool trc_filter_order_value(trc_filter_view *v, const cn_search_order *o, cn_search_value *out)
{
	return cn_search_trace_order_value(o, &v->t, out);
}
