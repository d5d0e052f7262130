/*
 * core/traces/store.c: keys, lock stripes, the trace record's index entries
 * and the read API (records, an experiment's traces by time, a trace's
 * spans) that handlers and tracesearch share. Layout: traces_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

pthread_mutex_t *trc_stripe(trc_state *s, const char *trace_id, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)trace_id[i]) * 16777619u;
	return &s->stripes[h % TRC_LOCK_STRIPES];
}

void trc_key_info(cn_key *k, const char *trace_id, size_t len)
{
	cn_key_init(k);
	cn_key_raw(k, trace_id, len);
}

void trc_key_span(cn_key *k, const char *trace_id, size_t tlen, const char *span_id, size_t slen)
{
	cn_key_init(k);
	cn_key_str(k, trace_id, tlen);
	cn_key_raw(k, span_id, slen);
}

void trc_key_by_time(cn_key *k, const char *exp, size_t elen, int64_t ms, const char *trace_id,
                     size_t tlen)
{
	cn_key_init(k);
	cn_key_str(k, exp, elen);
	cn_key_i64(k, -ms);
	cn_key_raw(k, trace_id, tlen);
}

static void trc_key_index(cn_key *k, cn_fb_str exp, cn_fb_str key, cn_fb_str val, int64_t ms,
                          cn_fb_str id)
{
	cn_key_init(k);
	cn_key_str(k, exp.ptr, exp.len);
	cn_key_str(k, key.ptr, key.len);
	cn_key_str(k, val.ptr, val.len < TRC_INDEX_VALUE_MAX ? val.len : TRC_INDEX_VALUE_MAX);
	cn_key_i64(k, -ms);
	cn_key_raw(k, id.ptr, id.len);
}

static void trc_index_pairs(cn_kv_batch *b, int cf, cn_fb_vec v, cn_fb_str exp, int64_t ms,
                            cn_fb_str id, bool del)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_key k;
		trc_key_index(&k, exp, cn_StringPair_key(e), cn_StringPair_value(e), ms, id);
		if (k.overflow)
			continue; /* a key over 1 KiB is not indexed; searches check records */
		if (del)
			cn_kv_batch_del(b, cf, k.b, k.len);
		else
			cn_kv_batch_put(b, cf, k.b, k.len, "", 0);
	}
}

void trc_index_record(cn_kv_batch *b, cn_fb_table rec, bool del)
{
	cn_fb_str id = cn_TraceRecord_trace_id(rec), exp = cn_TraceRecord_experiment_id(rec);
	int64_t ms = cn_TraceRecord_request_time_ms(rec);
	cn_key k;
	trc_key_by_time(&k, exp.ptr, exp.len, ms, id.ptr, id.len);
	if (del)
		cn_kv_batch_del(b, TRC_CF_BY_TIME, k.b, k.len);
	else
		cn_kv_batch_put(b, TRC_CF_BY_TIME, k.b, k.len, "", 0);
	trc_index_pairs(b, TRC_CF_TAG_INDEX, cn_TraceRecord_tags(rec), exp, ms, id, del);
	trc_index_pairs(b, TRC_CF_META_INDEX, cn_TraceRecord_trace_metadata(rec), exp, ms, id, del);
}

cn_code trc_write(trc_state *s, cn_kv_batch *b, cn_err *err)
{
	return cn_kv_write(s->db, b, err);
}

/* Every key under prefix in cf, deleted in batch. */
static cn_code trc_del_prefix(trc_state *s, cn_kv_batch *b, int cf, const cn_key *prefix,
                              cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, cf, prefix->b, prefix->len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *key = cn_kv_iter_key(it, &klen);
		cn_kv_batch_del(b, cf, key, klen);
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

cn_code trc_delete_trace_batch(trc_state *s, cn_kv_batch *b, cn_fb_table rec, cn_err *err)
{
	cn_fb_str id = cn_TraceRecord_trace_id(rec);
	cn_key k;
	trc_key_info(&k, id.ptr, id.len);
	cn_kv_batch_del(b, TRC_CF_INFO, k.b, k.len);
	trc_index_record(b, rec, true);
	/* Spans: a range of keys under str(trace id). */
	cn_key_init(&k);
	cn_key_str(&k, id.ptr, id.len);
	cn_code rc = trc_del_prefix(s, b, TRC_CF_SPANS, &k, err);
	if (rc == CN_OK)
		rc = trc_del_prefix(s, b, TRC_CF_ASSESSMENTS, &k, err);
	if (rc != CN_OK)
		return rc;
	/* Run links, both directions. */
	cn_key_init(&k);
	cn_key_u8(&k, 't');
	cn_key_str(&k, id.ptr, id.len);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRC_CF_RUN_LINKS, k.b, k.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *key = cn_kv_iter_key(it, &klen);
		cn_kv_batch_del(b, TRC_CF_RUN_LINKS, key, klen);
		cn_key r;
		cn_key_init(&r);
		cn_key_u8(&r, 'r');
		size_t pos = k.len;
		char run[256];
		size_t rlen = klen - pos < sizeof run ? klen - pos : sizeof run;
		memcpy(run, key + pos, rlen);
		cn_key_str(&r, run, rlen);
		cn_key_raw(&r, id.ptr, id.len);
		cn_kv_batch_del(b, TRC_CF_RUN_LINKS, r.b, r.len);
	}
	rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

cn_code trc_info_get(trc_state *s, const char *trace_id, size_t len, trc_info *out, cn_err *err)
{
	cn_key k;
	trc_key_info(&k, trace_id, len);
	memset(out, 0, sizeof *out);
	cn_code rc = cn_kv_get(s->db, TRC_CF_INFO, k.b, k.len, &out->val, err);
	if (rc != CN_OK)
		return rc;
	/* Written only by this service, from buffers it built itself. */
	out->t = cn_fb_root(out->val.data);
	return CN_OK;
}

void trc_info_release(trc_info *i)
{
	if (i && i->val.pin_)
		cn_kv_val_release(&i->val);
}

/* ---- an experiment's traces by time ---- */

struct trc_exp_iter {
	cn_kv_iter *it;
	bool newest_first, started, skip_first;
	cn_key prefix, start;
	char id[TRC_ID_MAX + 1];
};

trc_exp_iter *trc_exp_iter_new(trc_state *s, const char *experiment_id, bool newest_first,
                               int64_t after_time_ms, const char *after_id)
{
	trc_exp_iter *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	size_t elen = strlen(experiment_id);
	cn_key_init(&x->prefix);
	cn_key_str(&x->prefix, experiment_id, elen);
	x->newest_first = newest_first;
	if (after_id) {
		trc_key_by_time(&x->start, experiment_id, elen, after_time_ms, after_id,
		                strlen(after_id));
		x->skip_first = true;
	}
	x->it = cn_kv_iter_new(s->db, TRC_CF_BY_TIME, x->prefix.b, x->prefix.len);
	if (!x->it) {
		free(x);
		return NULL;
	}
	return x;
}

bool trc_exp_iter_next(trc_exp_iter *x, int64_t *request_time_ms, const char **trace_id,
                       size_t *len)
{
	if (!x->started) {
		x->started = true;
		if (x->skip_first) {
			if (x->newest_first)
				cn_kv_iter_seek(x->it, x->start.b, x->start.len);
			else
				cn_kv_iter_seek_for_prev(x->it, x->start.b, x->start.len);
			/* Step past the token's own entry (or stay if it was deleted). */
			if (cn_kv_iter_valid(x->it)) {
				size_t klen;
				const uint8_t *key = cn_kv_iter_key(x->it, &klen);
				if (klen == x->start.len && memcmp(key, x->start.b, klen) == 0) {
					if (x->newest_first)
						cn_kv_iter_next(x->it);
					else
						cn_kv_iter_prev(x->it);
				}
			}
		} else if (x->newest_first) {
			cn_kv_iter_seek_first(x->it);
		} else {
			cn_kv_iter_seek_last(x->it);
		}
	} else if (x->newest_first) {
		cn_kv_iter_next(x->it);
	} else {
		cn_kv_iter_prev(x->it);
	}
	if (!cn_kv_iter_valid(x->it))
		return false;
	size_t klen, pos = x->prefix.len;
	const uint8_t *key = cn_kv_iter_key(x->it, &klen);
	int64_t neg = 0;
	if (!cn_key_get_i64(key, klen, &pos, &neg) || klen - pos > TRC_ID_MAX)
		return false;
	memcpy(x->id, key + pos, klen - pos);
	x->id[klen - pos] = '\0';
	*request_time_ms = -neg;
	*trace_id = x->id;
	*len = klen - pos;
	return true;
}

cn_code trc_exp_iter_status(trc_exp_iter *x, cn_err *err)
{
	return cn_kv_iter_status(x->it, err);
}

void trc_exp_iter_free(trc_exp_iter *x)
{
	if (!x)
		return;
	cn_kv_iter_free(x->it);
	free(x);
}

/* ---- a trace's spans ---- */

struct trc_span_iter {
	cn_kv_iter *it;
	bool started;
	cn_key prefix, start;
	bool has_start;
};

trc_span_iter *trc_span_iter_new(trc_state *s, const char *trace_id, size_t len,
                                 const char *after_span_id)
{
	trc_span_iter *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	cn_key_init(&x->prefix);
	cn_key_str(&x->prefix, trace_id, len);
	if (after_span_id) {
		trc_key_span(&x->start, trace_id, len, after_span_id, strlen(after_span_id));
		x->has_start = true;
	}
	x->it = cn_kv_iter_new(s->db, TRC_CF_SPANS, x->prefix.b, x->prefix.len);
	if (!x->it) {
		free(x);
		return NULL;
	}
	return x;
}

bool trc_span_iter_next(trc_span_iter *x, cn_fb_table *span, const char **span_id, size_t *len)
{
	if (!x->started) {
		x->started = true;
		if (x->has_start) {
			cn_kv_iter_seek(x->it, x->start.b, x->start.len);
			if (cn_kv_iter_valid(x->it)) {
				size_t klen;
				const uint8_t *key = cn_kv_iter_key(x->it, &klen);
				if (klen == x->start.len && memcmp(key, x->start.b, klen) == 0)
					cn_kv_iter_next(x->it);
			}
		} else {
			cn_kv_iter_seek_first(x->it);
		}
	} else {
		cn_kv_iter_next(x->it);
	}
	if (!cn_kv_iter_valid(x->it))
		return false;
	size_t klen, vlen;
	const uint8_t *key = cn_kv_iter_key(x->it, &klen);
	const uint8_t *val = cn_kv_iter_value(x->it, &vlen);
	*span_id = (const char *)key + x->prefix.len;
	*len = klen - x->prefix.len;
	*span = cn_fb_root(val);
	return true;
}

cn_code trc_span_iter_status(trc_span_iter *x, cn_err *err)
{
	return cn_kv_iter_status(x->it, err);
}

void trc_span_iter_free(trc_span_iter *x)
{
	if (!x)
		return;
	cn_kv_iter_free(x->it);
	free(x);
}
