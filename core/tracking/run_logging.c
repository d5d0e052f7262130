/*
 * core/tracking/run_logging.c: logging to a run -- log-parameter,
 * log-metric, set via log-batch, and metric history. Every call validates
 * all its items first, then, under the run's stripe lock, checks the run is
 * active, checks param immutability, folds the points into the latest
 * metrics and writes everything in one synced batch: all or nothing.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_MAX_PARAM_VALUE     6000
#define TRK_MAX_RUN_TAG_VALUE   8000
#define TRK_MAX_BATCH_METRICS   1000
#define TRK_MAX_BATCH_PARAMS    100
#define TRK_MAX_BATCH_TAGS      100
#define TRK_MAX_BATCH_ENTITIES  1000
#define TRK_HISTORY_MAX_RESULTS 25000
#define TRK_RUN_NAME_TAG        "mlflow.runName"

typedef struct trk_point {
	cn_fb_str key, model_id, ds_name, ds_digest;
	double value;
	int64_t timestamp, step;
} trk_point;

typedef struct trk_items {
	trk_point *metrics;
	uint32_t nmetrics;
	trk_tag *params;
	uint32_t nparams;
	trk_tag *tags;
	uint32_t ntags;
} trk_items;

static cn_fb_ref trk_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

static cn_code trk_check_param(cn_fb_str key, cn_fb_str value, cn_err *err)
{
	cn_code rc = trk_validate_entity_key(key, "key", "Param key", err);
	if (rc == CN_OK)
		rc = trk_validate_length(value, "Param value", TRK_MAX_PARAM_VALUE, err);
	return rc;
}

static cn_code trk_check_tag(cn_fb_str key, cn_fb_str value, cn_err *err)
{
	cn_code rc = trk_validate_entity_key(key, "key", "Tag key", err);
	if (rc == CN_OK)
		rc = trk_validate_length(value, "Tag value", TRK_MAX_RUN_TAG_VALUE, err);
	return rc;
}

static cn_code trk_check_metric(cn_fb_str key, cn_err *err)
{
	return trk_validate_entity_key(key, "key", "Metric name", err);
}

/* Latest value per metric key within one call. */
typedef struct trk_latest_slot {
	cn_fb_str key;
	trk_latest l;
	bool have, dirty;
} trk_latest_slot;

/* One chunk per metric key of the call, from the points slot_of maps to it. */
static cn_code trk_put_chunks(cn_kv_batch *batch, const uint8_t id[16], const trk_items *it,
                              const trk_latest_slot *slots, uint32_t nslots,
                              const uint32_t *slot_of, uint64_t seq, cn_err *err)
{
	trk_chunk_point *pts = malloc(it->nmetrics * sizeof *pts);
	if (!pts)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (uint32_t j = 0; rc == CN_OK && j < nslots; j++) {
		size_t n = 0;
		for (uint32_t i = 0; i < it->nmetrics; i++)
			if (slot_of[i] == j)
				pts[n++] = (trk_chunk_point){it->metrics[i].step,
				                             it->metrics[i].timestamp, seq + i,
				                             it->metrics[i].value};
		if (!trk_chunk_put(batch, id, slots[j].key, pts, n))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	free(pts);
	return rc;
}

/* Tell the search cache what was committed, so it patches its copy of the
 * run instead of reading it back from the store (r carries the new name). */
static void trk_cache_patch(trk_state *s, const uint8_t id[16], const trk_run *r,
                            const trk_items *it, const trk_latest_slot *slots, uint32_t nslots)
{
	trk_sc_latest *m = nslots ? malloc(nslots * sizeof *m) : NULL;
	if (nslots && !m) {
		trk_search_cache_run_changed(s, id); /* the slow way still works */
		return;
	}
	uint32_t n = 0;
	for (uint32_t j = 0; j < nslots; j++)
		if (slots[j].dirty)
			m[n++] = (trk_sc_latest){slots[j].key, slots[j].l};
	bool renamed = false;
	for (uint32_t i = 0; i < it->ntags; i++)
		renamed = renamed || cn_fb_str_eq(it->tags[i].key, TRK_RUN_NAME_TAG);
	trk_sc_patch p = {.metrics = m,
	                  .nmetrics = n,
	                  .params = it->params,
	                  .nparams = it->nparams,
	                  .tags = it->tags,
	                  .ntags = it->ntags,
	                  .name_changed = renamed,
	                  .run_name = r->run_name};
	trk_search_cache_run_logged(s, id, r->experiment_id, &p);
	free(m);
}

static cn_code trk_apply(trk_state *s, cn_fb_str run_id, cn_fb_str run_uuid, const trk_items *it,
                         cn_err *err)
{
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(run_id, run_uuid, id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_batch *batch = cn_kv_batch_new();
	trk_latest_slot *slots = it->nmetrics ? calloc(it->nmetrics, sizeof *slots) : NULL;
	if (!batch || (it->nmetrics && !slots)) {
		cn_kv_batch_free(batch);
		free(slots);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	uint32_t nslots = 0;
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	cn_kv_val rv;
	trk_run r;
	rc = trk_run_load(s, id, &rv, &r, err);
	if (rc != CN_OK)
		goto out_unlocked_val;
	rc = trk_run_require_active(&r, err);
	/* Params are immutable: an existing key (stored, or earlier in this
	 * call) must carry the same value. */
	for (uint32_t i = 0; rc == CN_OK && i < it->nparams; i++) {
		cn_fb_str k = it->params[i].key, v = it->params[i].value;
		cn_fb_str old = {NULL, 0};
		cn_kv_val ov = {0};
		bool pinned = false;
		for (uint32_t j = 0; j < i; j++)
			if (trk_str_is(it->params[j].key, k))
				old = it->params[j].value;
		if (!old.ptr) {
			cn_key key;
			trk_run_sub_key(&key, id, k);
			cn_code g = cn_kv_get(s->db, TRK_CF_RUN_PARAMS, key.b, key.len, &ov, err);
			if (g == CN_OK) {
				pinned = true;
				old = (cn_fb_str){(const char *)ov.data, (uint32_t)ov.len};
			} else if (g != CN_RESOURCE_DOES_NOT_EXIST) {
				rc = g;
			} else {
				cn_kv_batch_put(batch, TRK_CF_RUN_PARAMS, key.b, key.len, v.ptr,
				                v.len);
			}
		}
		if (old.ptr && !(old.len == v.len && memcmp(old.ptr, v.ptr, v.len) == 0))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Changing param values is not allowed. Param with key='%.*s' was "
			        "already logged with value='%.*s' for run ID='%s'. Attempted "
			        "logging new value '%.*s'.",
			        (int)k.len, k.ptr, (int)old.len, old.ptr, hex, (int)v.len, v.ptr);
		if (pinned)
			cn_kv_val_release(&ov);
	}
	bool info_changed = false;
	for (uint32_t i = 0; rc == CN_OK && i < it->ntags; i++) {
		cn_key key;
		trk_run_sub_key(&key, id, it->tags[i].key);
		cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, key.b, key.len, it->tags[i].value.ptr,
		                it->tags[i].value.len);
		if (cn_fb_str_eq(it->tags[i].key, TRK_RUN_NAME_TAG)) {
			r.run_name = it->tags[i].value;
			info_changed = true;
		}
	}
	uint64_t seq = it->nmetrics ? atomic_fetch_add(&s->metric_seq, it->nmetrics) : 0;
	/* Plain points go into one chunk per metric key (metric_chunks.c);
	 * slot[i] records each point's key slot so chunks gather in one pass. */
	uint32_t *slot_of = it->nmetrics ? malloc(it->nmetrics * sizeof *slot_of) : NULL;
	if (it->nmetrics && !slot_of && rc == CN_OK)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (uint32_t i = 0; rc == CN_OK && i < it->nmetrics; i++) {
		const trk_point *p = &it->metrics[i];
		cn_key key;
		slot_of[i] = UINT32_MAX;
		if (p->model_id.len || p->ds_name.len || p->ds_digest.len) {
			/* Points with strings keep one key each (tracking.h). */
			trk_metric_key(&key, id, p->key, p->step, p->timestamp, seq + i);
			size_t vlen;
			uint8_t *val = trk_point_pack(p->value, p->model_id, p->ds_name,
			                              p->ds_digest, &vlen);
			if (!val) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			cn_kv_batch_put(batch, TRK_CF_RUN_METRICS, key.b, key.len, val, vlen);
			free(val);
		}
		if (p->model_id.len) /* the point shows on its logged model too */
			trk_lm_metric_put(batch, p->model_id, p->key, p->ds_name, p->ds_digest,
			                  p->timestamp, p->step, seq + i, p->value, id);
		uint32_t j = 0;
		while (j < nslots && !trk_str_is(slots[j].key, p->key))
			j++;
		if (!(p->model_id.len || p->ds_name.len || p->ds_digest.len))
			slot_of[i] = j;
		if (j == nslots) {
			slots[nslots++].key = p->key;
			trk_run_sub_key(&key, id, p->key);
			cn_kv_val lv;
			cn_code g = cn_kv_get(s->db, TRK_CF_RUN_LATEST_METRICS, key.b, key.len, &lv,
			                      err);
			if (g == CN_OK) {
				slots[j].have = trk_latest_unpack(lv.data, lv.len, &slots[j].l);
				cn_kv_val_release(&lv);
			} else if (g != CN_RESOURCE_DOES_NOT_EXIST) {
				rc = g;
				break;
			}
		}
		trk_latest n = {p->value, p->timestamp, p->step};
		if (!slots[j].have || trk_latest_newer(&n, &slots[j].l)) {
			slots[j].l = n;
			slots[j].have = slots[j].dirty = true;
		}
	}
	if (rc == CN_OK && it->nmetrics)
		rc = trk_put_chunks(batch, id, it, slots, nslots, slot_of, seq, err);
	free(slot_of);
	for (uint32_t j = 0; rc == CN_OK && j < nslots; j++) {
		if (!slots[j].dirty)
			continue;
		cn_key key;
		uint8_t packed[24];
		trk_run_sub_key(&key, id, slots[j].key);
		trk_latest_pack(&slots[j].l, packed);
		cn_kv_batch_put(batch, TRK_CF_RUN_LATEST_METRICS, key.b, key.len, packed,
		                sizeof packed);
	}
	if (rc == CN_OK && info_changed)
		rc = trk_run_put(batch, &r, false, err);
	if (rc == CN_OK)
		rc = cn_kv_write(s->db, batch, err);
	if (rc == CN_OK)
		trk_cache_patch(s, id, &r, it, slots, nslots);
	cn_kv_val_release(&rv);
out_unlocked_val:
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	free(slots);
	return rc;
}

cn_code trk_log_param(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                      cn_fb_ref *resp, cn_err *err)
{
	trk_tag p = {cn_LogParam_key(req), cn_LogParam_value(req)};
	if (!p.key.ptr || p.key.len == 0)
		return trk_missing(err, "key");
	if (!p.value.ptr)
		return trk_missing(err, "value");
	cn_code rc = trk_check_param(p.key, p.value, err);
	trk_items it = {.params = &p, .nparams = 1};
	if (rc == CN_OK)
		rc = trk_apply(st, cn_LogParam_run_id(req), cn_LogParam_run_uuid(req), &it, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

cn_code trk_log_metric(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	trk_point p = {.key = cn_LogMetric_key(req),
	               .model_id = cn_LogMetric_model_id(req),
	               .ds_name = cn_LogMetric_dataset_name(req),
	               .ds_digest = cn_LogMetric_dataset_digest(req),
	               .value = cn_LogMetric_value(req),
	               .timestamp = cn_LogMetric_timestamp(req),
	               .step = cn_LogMetric_step(req)};
	if (!p.key.ptr || p.key.len == 0)
		return trk_missing(err, "key");
	if (!cn_LogMetric_has_value(req))
		return trk_missing(err, "value");
	if (!cn_LogMetric_has_timestamp(req))
		return trk_missing(err, "timestamp");
	cn_code rc = trk_check_metric(p.key, err);
	trk_items it = {.metrics = &p, .nmetrics = 1};
	if (rc == CN_OK)
		rc = trk_apply(st, cn_LogMetric_run_id(req), cn_LogMetric_run_uuid(req), &it, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_batch_limit(const char *what, uint32_t limit, uint32_t n, cn_err *err)
{
	if (n <= limit)
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "A batch logging request can contain at most %u %s. Got %u %s. Please "
	                  "split up %s across multiple requests and try again.",
	                  limit, what, n, what, what);
}

cn_code trk_log_batch(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                      cn_fb_ref *resp, cn_err *err)
{
	cn_fb_vec mv = cn_LogBatch_metrics(req), pv = cn_LogBatch_params(req),
	          tv = cn_LogBatch_tags(req);
	cn_code rc = trk_batch_limit("metrics", TRK_MAX_BATCH_METRICS, mv.n, err);
	if (rc == CN_OK)
		rc = trk_batch_limit("params", TRK_MAX_BATCH_PARAMS, pv.n, err);
	if (rc == CN_OK)
		rc = trk_batch_limit("tags", TRK_MAX_BATCH_TAGS, tv.n, err);
	if (rc == CN_OK)
		rc = trk_batch_limit("metrics, params, and tags", TRK_MAX_BATCH_ENTITIES,
		                     mv.n + pv.n + tv.n, err);
	if (rc != CN_OK)
		return rc;
	trk_items it = {0};
	it.metrics = mv.n ? calloc(mv.n, sizeof *it.metrics) : NULL;
	it.params = pv.n ? calloc(pv.n, sizeof *it.params) : NULL;
	it.tags = tv.n ? calloc(tv.n, sizeof *it.tags) : NULL;
	if ((mv.n && !it.metrics) || (pv.n && !it.params) || (tv.n && !it.tags))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (uint32_t i = 0; rc == CN_OK && i < mv.n; i++) {
		cn_fb_table m = cn_fb_vec_table(mv, i);
		trk_point *p = &it.metrics[it.nmetrics++];
		*p = (trk_point){.key = cn_Metric_key(m),
		                 .model_id = cn_Metric_model_id(m),
		                 .ds_name = cn_Metric_dataset_name(m),
		                 .ds_digest = cn_Metric_dataset_digest(m),
		                 .value = cn_Metric_value(m),
		                 .timestamp = cn_Metric_timestamp(m),
		                 .step = cn_Metric_step(m)};
		rc = trk_check_metric(p->key, err);
	}
	for (uint32_t i = 0; rc == CN_OK && i < pv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(pv, i);
		trk_tag *p = &it.params[it.nparams++];
		*p = (trk_tag){cn_Param_key(t), cn_Param_value(t)};
		if (!p->value.ptr)
			p->value = (cn_fb_str){"", 0};
		rc = trk_check_param(p->key, p->value, err);
	}
	for (uint32_t i = 0; rc == CN_OK && i < tv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tv, i);
		trk_tag *p = &it.tags[it.ntags++];
		*p = (trk_tag){cn_RunTag_key(t), cn_RunTag_value(t)};
		if (!p->value.ptr)
			p->value = (cn_fb_str){"", 0};
		rc = trk_check_tag(p->key, p->value, err);
	}
	if (rc == CN_OK)
		rc = trk_apply(st, cn_LogBatch_run_id(req), cn_LogBatch_run_uuid(req), &it, err);
	free(it.metrics);
	free(it.params);
	free(it.tags);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

/* Page tokens: hex of the (step, timestamp, seq) key suffix of the first
 * point of the next page; inserts elsewhere never shift a page. */
#define TRK_SUFFIX_LEN 24

static bool trk_token_decode(cn_fb_str t, uint8_t out[TRK_SUFFIX_LEN])
{
	if (t.len != 2 * TRK_SUFFIX_LEN)
		return false;
	for (int i = 0; i < TRK_SUFFIX_LEN; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = t.ptr[2 * i + j];
			int d = c >= '0' && c <= '9'   ? c - '0'
			        : c >= 'a' && c <= 'f' ? c - 'a' + 10
			                               : -1;
			if (d < 0)
				return false;
			v = v << 4 | d;
		}
		out[i] = (uint8_t)v;
	}
	return true;
}

/* One page of get-history: max points, then the position of the next. */
typedef struct trk_hist_page {
	cn_fb_builder *b;
	cn_fb_ref key, run;
	cn_fb_ref *refs;
	size_t n, cap, max;
	bool has_next;
	uint8_t next[TRK_SUFFIX_LEN];
} trk_hist_page;

static cn_code trk_hist_add(void *arg, const trk_history_point *p, bool *more, cn_err *err)
{
	trk_hist_page *pg = arg;
	cn_fb_builder *b = pg->b;
	if (pg->n == pg->max) {
		trk_point_suffix(pg->next, p->step, p->timestamp, p->seq);
		pg->has_next = true;
		*more = false;
		return CN_OK;
	}
	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? 2 * pg->cap : 1024;
		if (cap > pg->max)
			cap = pg->max;
		cn_fb_ref *nr = realloc(pg->refs, cap * sizeof *nr);
		if (!nr)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		pg->refs = nr;
		pg->cap = cap;
	}
	cn_fb_ref mr =
	        p->model_id.len ? cn_fb_create_string(b, p->model_id.ptr, p->model_id.len) : 0;
	cn_fb_ref dn = p->ds_name.len ? cn_fb_create_string(b, p->ds_name.ptr, p->ds_name.len) : 0;
	cn_fb_ref dd =
	        p->ds_digest.len ? cn_fb_create_string(b, p->ds_digest.ptr, p->ds_digest.len) : 0;
	cn_Metric_start(b);
	cn_Metric_add_key(b, pg->key);
	cn_Metric_add_value(b, p->value);
	cn_Metric_add_timestamp(b, p->timestamp);
	cn_Metric_add_step(b, p->step);
	if (dn)
		cn_Metric_add_dataset_name(b, dn);
	if (dd)
		cn_Metric_add_dataset_digest(b, dd);
	if (mr)
		cn_Metric_add_model_id(b, mr);
	cn_Metric_add_run_id(b, pg->run);
	pg->refs[pg->n++] = cn_Metric_end(b);
	return CN_OK;
}

cn_code trk_get_metric_history(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                               cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(cn_GetMetricHistory_run_id(req),
	                             cn_GetMetricHistory_run_uuid(req), id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_str mkey = cn_GetMetricHistory_metric_key(req);
	if (!mkey.ptr || mkey.len == 0)
		return trk_missing(err, "metric_key");
	int64_t max = TRK_HISTORY_MAX_RESULTS;
	if (cn_GetMetricHistory_has_max_results(req)) {
		max = cn_GetMetricHistory_max_results(req);
		if (max <= 0 || max > TRK_HISTORY_MAX_RESULTS)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid value %" PRId64 " for parameter 'max_results' "
			                  "supplied. It must be between 1 and %d.",
			                  max, TRK_HISTORY_MAX_RESULTS);
	}
	uint8_t suffix[TRK_SUFFIX_LEN];
	cn_fb_str tok = cn_GetMetricHistory_page_token(req);
	bool has_tok = tok.ptr && tok.len;
	if (has_tok && !trk_token_decode(tok, suffix))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid page token");
	cn_kv_val rv;
	trk_run r;
	rc = trk_run_load(s, id, &rv, &r, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_val_release(&rv);

	trk_hist_page pg = {.b = b, .max = (size_t)max};
	pg.key = cn_fb_create_string(b, mkey.ptr, mkey.len);
	pg.run = cn_fb_create_string(b, hex, 32);
	rc = trk_metric_scan_from(s, id, mkey, has_tok ? suffix : NULL, trk_hist_add, &pg, err);
	cn_fb_ref vec = rc == CN_OK && pg.n ? cn_fb_create_vec_refs(b, pg.refs, pg.n) : 0;
	free(pg.refs);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref next = 0;
	if (pg.has_next) {
		char t[2 * TRK_SUFFIX_LEN + 1];
		for (int i = 0; i < TRK_SUFFIX_LEN; i++)
			snprintf(t + 2 * i, 3, "%02x", pg.next[i]);
		next = cn_fb_create_string(b, t, 2 * TRK_SUFFIX_LEN);
	}
	cn_GetMetricHistoryResponse_start(b);
	if (vec)
		cn_GetMetricHistoryResponse_add_metrics(b, vec);
	if (next)
		cn_GetMetricHistoryResponse_add_next_page_token(b, next);
	*resp = cn_GetMetricHistoryResponse_end(b);
	return CN_OK;
}
