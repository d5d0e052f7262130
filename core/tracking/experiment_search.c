/*
 * core/tracking/experiment_search.c: SearchExperiments -- MLflow's filter
 * language, order_by (default creation_time DESC, experiment_id ASC as
 * tie-breaker), view types and offset page tokens, over the experiments
 * column family. Experiments number in the thousands, not millions, so a
 * scan with an in-memory sort is the right tool; runs get indexes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/search/search.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

typedef struct trk_hit {
	uint8_t *buf; /* owned copy of the stored value */
	trk_experiment e;
} trk_hit;

static bool trk_field(const trk_experiment *e, cn_search_entity ent, const char *key,
                      cn_search_value *out)
{
	if (ent == CN_SEARCH_TAG) {
		size_t kl = strlen(key);
		for (uint32_t i = 0; i < e->ntags; i++)
			if (e->tags[i].key.len == kl && memcmp(e->tags[i].key.ptr, key, kl) == 0) {
				*out = cn_search_value_strn(e->tags[i].value.ptr,
				                            e->tags[i].value.len);
				return true;
			}
		return false;
	}
	if (ent != CN_SEARCH_ATTRIBUTE)
		return false;
	if (!strcmp(key, "name"))
		*out = cn_search_value_strn(e->name.ptr, e->name.len);
	else if (!strcmp(key, "creation_time"))
		*out = cn_search_value_int(e->creation_time);
	else if (!strcmp(key, "last_update_time"))
		*out = cn_search_value_int(e->last_update_time);
	else if (!strcmp(key, "experiment_id"))
		*out = cn_search_value_int((int64_t)e->id);
	else
		return false;
	return true;
}

static bool trk_getter(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	return index == 0 && trk_field(entity, c->entity, c->key, out);
}

static int trk_hit_cmp(const void *a, const void *b, void *arg)
{
	const trk_sort *s = arg;
	const trk_experiment *x = &((const trk_hit *)a)->e, *y = &((const trk_hit *)b)->e;
	for (size_t i = 0; i < s->norders; i++) {
		cn_search_value vx, vy;
		const cn_search_order *o = &s->orders[i];
		bool hx = trk_field(x, o->entity, o->key, &vx);
		bool hy = trk_field(y, o->entity, o->key, &vy);
		int c = cn_search_order_compare(o, hx ? &vx : NULL, hy ? &vy : NULL);
		if (c)
			return c;
	}
	return 0;
}

/* The request a page token continues: tokens are refused for another query. */
static void trk_fingerprint(cn_buf *fp, cn_fb_str filter, cn_fb_vec ob, int view)
{
	cn_buf_printf(fp, "experiments|v%d", view);
	trk_fp_str(fp, filter);
	for (uint32_t i = 0; i < ob.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(ob, i));
}

static bool trk_view_ok(const trk_experiment *e, int view)
{
	bool active = e->lifecycle_stage.len == 6 && !memcmp(e->lifecycle_stage.ptr, "active", 6);
	if (view == CN_ViewType_ALL)
		return true;
	return view == CN_ViewType_DELETED_ONLY ? !active : active;
}

static void trk_hits_free(trk_hit *hits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		trk_experiment_view_free(&hits[i].e);
		free(hits[i].buf);
	}
	free(hits);
}

/* Scan, filter and collect matching experiments (owned copies). */
static cn_code trk_collect(trk_state *s, const cn_search_filter *f, int view, trk_hit **out,
                           size_t *nout, cn_err *err)
{
	size_t n = 0, cap = 64;
	trk_hit *hits = malloc(cap * sizeof *hits);
	if (!hits)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_EXPERIMENTS, NULL, 0);
	cn_code rc = it ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vlen;
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		trk_experiment e;
		if ((rc = trk_experiment_view(v, vlen, &e, err)) != CN_OK)
			break;
		bool keep = trk_view_ok(&e, view) && cn_search_filter_match(f, trk_getter, &e);
		trk_experiment_view_free(&e);
		if (!keep)
			continue;
		if (n == cap) {
			trk_hit *grown = realloc(hits, 2 * cap * sizeof *hits);
			if (!grown) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			hits = grown;
			cap *= 2;
		}
		uint8_t *copy = malloc(vlen);
		if (!copy) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		memcpy(copy, v, vlen);
		hits[n].buf = copy;
		if ((rc = trk_experiment_view(copy, vlen, &hits[n].e, err)) != CN_OK) {
			free(copy);
			break;
		}
		n++;
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc != CN_OK) {
		trk_hits_free(hits, n);
		return rc;
	}
	*out = hits;
	*nout = n;
	return CN_OK;
}

cn_code trk_search_experiments(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                               cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	int64_t max = cn_SearchExperiments_has_max_results(req)
	                      ? cn_SearchExperiments_max_results(req)
	                      : TRK_SEARCH_DEFAULT;
	cn_code mrc = trk_check_max_results(max, err);
	if (mrc != CN_OK)
		return mrc;
	int view = cn_SearchExperiments_has_view_type(req) ? cn_SearchExperiments_view_type(req)
	                                                   : CN_ViewType_ACTIVE_ONLY;
	cn_fb_str filter = cn_SearchExperiments_filter(req);
	cn_fb_vec ob = cn_SearchExperiments_order_by(req);
	cn_fb_str tok = cn_SearchExperiments_page_token(req);

	trk_sort sort;
	cn_code rc = trk_search_orders(&cn_search_dialect_experiments, ob, &sort, err);
	if (rc != CN_OK)
		return rc;
	cn_buf fp = CN_BUF_INIT;
	trk_fingerprint(&fp, filter, ob, view);
	cn_search_token token;
	rc = cn_search_token_decode(tok.ptr, tok.len, fp.p, fp.len, &token, err);
	cn_search_filter *f = NULL;
	if (rc == CN_OK)
		rc = cn_search_filter_parse(&cn_search_dialect_experiments, filter.ptr, filter.len,
		                            &f, err);
	trk_hit *hits = NULL;
	size_t n = 0;
	if (rc == CN_OK)
		rc = trk_collect(s, f, view, &hits, &n, err);
	cn_search_filter_free(f);
	if (rc != CN_OK) {
		cn_buf_free(&fp);
		return rc;
	}
	qsort_r(hits, n, sizeof *hits, trk_hit_cmp, &sort);

	size_t start = token.offset < n ? (size_t)token.offset : n;
	size_t end = (size_t)max < n - start ? start + (size_t)max : n;
	cn_fb_ref *refs = malloc((end - start + 1) * sizeof *refs);
	cn_fb_ref next = 0;
	if (!refs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = start; rc == CN_OK && i < end; i++)
		refs[i - start] = trk_experiment_build(b, &hits[i].e);
	if (rc == CN_OK && end < n) {
		cn_search_token nt = {.offset = end};
		cn_buf tb = CN_BUF_INIT;
		rc = cn_search_token_encode(&nt, fp.p, fp.len, &tb, err);
		if (rc == CN_OK)
			next = cn_fb_create_string(b, tb.p, tb.len);
		cn_buf_free(&tb);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = end > start ? cn_fb_create_vec_refs(b, refs, end - start) : 0;
		cn_SearchExperimentsResponse_start(b);
		if (vec)
			cn_SearchExperimentsResponse_add_experiments(b, vec);
		if (next)
			cn_SearchExperimentsResponse_add_next_page_token(b, next);
		*resp = cn_SearchExperimentsResponse_end(b);
	}
	free(refs);
	trk_hits_free(hits, n);
	cn_buf_free(&fp);
	return rc;
}
