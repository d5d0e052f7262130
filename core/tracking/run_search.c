/*
 * core/tracking/run_search.c: SearchRuns -- MLflow's filter language over
 * metrics (latest values), params, tags, run attributes and dataset inputs
 * (datasets.name/digest/context, any input matching), order_by (default
 * start_time DESC with run_id ASC as tie-breaker), view types and offset page
 * tokens bound to the query.
 *
 * Each request scans runs_by_experiment for every experiment id, loads each
 * run's info, latest metrics, params and tags (prefix scans), filters, sorts
 * with qsort_r and pages. This is correct and simple but linear in the runs of
 * the searched experiments per request; the planned path to the 100k-runs
 * latency target is a secondary index / in-memory columnar cache of the
 * searchable fields, so filters and sort keys need no per-run loads.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/search/search.h"
#include "core/service.h"
#include "core/store/key.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

/* One metric, param or tag of a run: owned copies. */
typedef struct trk_field_ent {
	char *key;
	char *val; /* params, tags */
	size_t vlen;
	double num; /* metrics */
} trk_field_ent;

typedef struct trk_field_set {
	trk_field_ent *e;
	size_t n;
} trk_field_set;

typedef struct trk_run_hit {
	uint8_t *buf; /* owned copy of the stored RunInfo; r points into it */
	trk_run r;
	trk_field_set metrics, params, tags;
	trk_input_refs inputs; /* dataset inputs, for datasets.* */
} trk_run_hit;

static const char *const trk_status_names[] = {"",         "RUNNING", "SCHEDULED",
                                               "FINISHED", "FAILED",  "KILLED"};

static void trk_set_free(trk_field_set *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->e[i].key);
		free(fs->e[i].val);
	}
	free(fs->e);
	fs->e = NULL;
	fs->n = 0;
}

static void trk_run_hit_free(trk_run_hit *h)
{
	trk_set_free(&h->metrics);
	trk_set_free(&h->params);
	trk_set_free(&h->tags);
	trk_input_refs_free(&h->inputs);
	free(h->buf);
}

static const trk_field_ent *trk_set_find(const trk_field_set *fs, const char *key)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!strcmp(fs->e[i].key, key))
			return &fs->e[i];
	return NULL;
}

static bool trk_run_field(const trk_run_hit *h, cn_search_entity ent, const char *key,
                          cn_search_value *out)
{
	const trk_field_ent *fe;
	switch (ent) {
	case CN_SEARCH_METRIC:
		if (!(fe = trk_set_find(&h->metrics, key)))
			return false;
		*out = cn_search_value_double(fe->num);
		return true;
	case CN_SEARCH_PARAM:
	case CN_SEARCH_TAG:
		if (!(fe = trk_set_find(ent == CN_SEARCH_PARAM ? &h->params : &h->tags, key)))
			return false;
		*out = cn_search_value_strn(fe->val, fe->vlen);
		return true;
	case CN_SEARCH_ATTRIBUTE: break;
	default: return false;
	}
	const trk_run *r = &h->r;
	if (!strcmp(key, "run_id"))
		*out = cn_search_value_strn(r->hex, 32);
	else if (!strcmp(key, "run_name"))
		*out = cn_search_value_strn(r->run_name.ptr ? r->run_name.ptr : "",
		                            r->run_name.len);
	else if (!strcmp(key, "user_id"))
		*out = cn_search_value_strn(r->user_id.ptr ? r->user_id.ptr : "", r->user_id.len);
	else if (!strcmp(key, "artifact_uri"))
		*out = cn_search_value_strn(r->artifact_uri.ptr ? r->artifact_uri.ptr : "",
		                            r->artifact_uri.len);
	else if (!strcmp(key, "status")) {
		if (r->status < 1 || r->status > 5)
			return false;
		*out = cn_search_value_str(trk_status_names[r->status]);
	} else if (!strcmp(key, "start_time"))
		*out = cn_search_value_int(r->start_time);
	else if (!strcmp(key, "end_time")) {
		if (!r->has_end_time)
			return false;
		*out = cn_search_value_int(r->end_time);
	} else
		return false;
	return true;
}

/* datasets.name/digest/context: the index-th dataset input having the field
 * (context is the input tag mlflow.data.context, which an input may lack). */
static bool trk_run_dataset_field(const trk_run_hit *h, const char *key, size_t index,
                                  cn_search_value *out)
{
	for (size_t i = 0; i < h->inputs.n; i++) {
		const trk_input_ref *e = &h->inputs.e[i];
		const char *v;
		size_t len;
		if (!strcmp(key, "name")) {
			v = e->name;
			len = e->name_len;
		} else if (!strcmp(key, "digest")) {
			v = e->digest;
			len = e->digest_len;
		} else if (!strcmp(key, "context")) {
			v = e->context;
			len = e->context_len;
		} else {
			return false;
		}
		if (!v)
			continue;
		if (index-- == 0) {
			*out = cn_search_value_strn(v, len);
			return true;
		}
	}
	return false;
}

static bool trk_run_getter(void *entity, const cn_search_clause *c, size_t index,
                           cn_search_value *out)
{
	if (c->entity == CN_SEARCH_DATASET)
		return trk_run_dataset_field(entity, c->key, index, out);
	return index == 0 && trk_run_field(entity, c->entity, c->key, out);
}

static int trk_run_hit_cmp(const void *a, const void *b, void *arg)
{
	const trk_sort *s = arg;
	const trk_run_hit *x = a, *y = b;
	for (size_t i = 0; i < s->norders; i++) {
		cn_search_value vx, vy;
		const cn_search_order *o = &s->orders[i];
		bool hx = trk_run_field(x, o->entity, o->key, &vx);
		bool hy = trk_run_field(y, o->entity, o->key, &vy);
		int c = cn_search_order_compare(o, hx ? &vx : NULL, hy ? &vy : NULL);
		if (c)
			return c;
	}
	return 0;
}

/* The request a page token continues: tokens are refused for another query. */
static void trk_run_fingerprint(cn_buf *fp, cn_fb_vec exps, cn_fb_str filter, cn_fb_vec ob,
                                int view)
{
	cn_buf_printf(fp, "runs|v%d|%u", view, (unsigned)exps.n);
	for (uint32_t i = 0; i < exps.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(exps, i));
	trk_fp_str(fp, filter);
	for (uint32_t i = 0; i < ob.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(ob, i));
}

static bool trk_run_view_ok(const trk_run *r, int view)
{
	bool active = trk_str_is(r->lifecycle_stage, trk_active_stage);
	if (view == CN_ViewType_ALL)
		return true;
	return view == CN_ViewType_DELETED_ONLY ? !active : active;
}

/* Load one run's (run id + key) entries of column family cf into *fs. */
static cn_code trk_load_set(trk_state *s, int cf, bool metric, const uint8_t id[16],
                            trk_field_set *fs, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, cf, id, 16);
	char *kbuf = malloc(CN_KEY_MAX);
	size_t cap = 0;
	cn_code rc = it && kbuf ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, keylen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, kbuf, CN_KEY_MAX, &keylen)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run entry key");
			break;
		}
		if (fs->n == cap) {
			size_t nc = cap ? 2 * cap : 8;
			trk_field_ent *ne = realloc(fs->e, nc * sizeof *ne);
			if (!ne) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			fs->e = ne;
			cap = nc;
		}
		trk_field_ent *fe = &fs->e[fs->n];
		memset(fe, 0, sizeof *fe);
		if (metric) {
			trk_latest l;
			if (!trk_latest_unpack(v, vlen, &l)) {
				rc = cn_err_set(err, CN_DATA_LOSS, "corrupt latest metric");
				break;
			}
			fe->num = l.value;
		} else {
			fe->val = malloc(vlen + 1);
			if (fe->val) {
				memcpy(fe->val, v, vlen);
				fe->val[vlen] = '\0';
				fe->vlen = vlen;
			}
		}
		fe->key = malloc(keylen + 1);
		if (fe->key) {
			memcpy(fe->key, kbuf, keylen);
			fe->key[keylen] = '\0';
		}
		fs->n++;
		if (!fe->key || (!metric && !fe->val)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(kbuf);
	return rc;
}

/* Re-point a string of a view from one buffer to a copy of it. */
static void trk_rebase(cn_fb_str *s, const uint8_t *from, const uint8_t *to)
{
	if (s->ptr)
		s->ptr = (const char *)to + ((const uint8_t *)s->ptr - from);
}

/* Load run id into *h (owned copies); *found false when it vanished. */
static cn_code trk_run_hit_load(trk_state *s, const uint8_t id[16], trk_run_hit *h, bool *found,
                                cn_err *err)
{
	memset(h, 0, sizeof *h);
	cn_kv_val val;
	cn_code rc = trk_run_load(s, id, &val, &h->r, err);
	*found = rc != CN_RESOURCE_DOES_NOT_EXIST;
	if (!*found)
		return CN_OK;
	if (rc != CN_OK)
		return rc;
	h->buf = malloc(val.len ? val.len : 1);
	if (!h->buf) {
		cn_kv_val_release(&val);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	memcpy(h->buf, val.data, val.len);
	trk_rebase(&h->r.run_name, val.data, h->buf);
	trk_rebase(&h->r.experiment_id, val.data, h->buf);
	trk_rebase(&h->r.user_id, val.data, h->buf);
	trk_rebase(&h->r.artifact_uri, val.data, h->buf);
	trk_rebase(&h->r.lifecycle_stage, val.data, h->buf);
	cn_kv_val_release(&val);
	return CN_OK;
}

static cn_code trk_run_hit_fill(trk_state *s, trk_run_hit *h, cn_err *err)
{
	cn_code rc = trk_load_set(s, TRK_CF_RUN_LATEST_METRICS, true, h->r.id, &h->metrics, err);
	if (rc == CN_OK)
		rc = trk_load_set(s, TRK_CF_RUN_PARAMS, false, h->r.id, &h->params, err);
	if (rc == CN_OK)
		rc = trk_load_set(s, TRK_CF_RUN_TAGS, false, h->r.id, &h->tags, err);
	if (rc == CN_OK)
		rc = trk_run_inputs_load(s, h->r.id, &h->inputs, err);
	return rc;
}

typedef struct trk_run_hits {
	trk_run_hit *h;
	size_t n, cap;
} trk_run_hits;

static void trk_run_hits_free(trk_run_hits *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		trk_run_hit_free(&hs->h[i]);
	free(hs->h);
}

/* Scan the runs of experiment exp; keep those in view matching f. */
static cn_code trk_collect_experiment(trk_state *s, uint64_t exp, const cn_search_filter *f,
                                      int view, trk_run_hits *hs, cn_err *err)
{
	cn_key prefix;
	cn_key_init(&prefix);
	cn_key_u64(&prefix, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS_BY_EXPERIMENT, prefix.b, prefix.len);
	cn_code rc = it ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen < prefix.len + 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt runs_by_experiment key");
			break;
		}
		uint8_t id[16];
		memcpy(id, k + klen - 16, 16);
		if (hs->n == hs->cap) {
			size_t nc = hs->cap ? 2 * hs->cap : 64;
			trk_run_hit *nh = realloc(hs->h, nc * sizeof *nh);
			if (!nh) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			hs->h = nh;
			hs->cap = nc;
		}
		trk_run_hit *h = &hs->h[hs->n];
		bool found;
		rc = trk_run_hit_load(s, id, h, &found, err);
		if (rc != CN_OK || !found)
			continue;
		if (!trk_run_view_ok(&h->r, view)) {
			trk_run_hit_free(h);
			continue;
		}
		rc = trk_run_hit_fill(s, h, err);
		if (rc == CN_OK && cn_search_filter_match(f, trk_run_getter, h))
			hs->n++;
		else
			trk_run_hit_free(h);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

static cn_code trk_collect_runs(trk_state *s, cn_fb_vec exps, const cn_search_filter *f, int view,
                                trk_run_hits *hs, cn_err *err)
{
	cn_code rc = CN_OK;
	for (uint32_t i = 0; rc == CN_OK && i < exps.n; i++) {
		cn_fb_str e = cn_fb_vec_str(exps, i);
		uint64_t id;
		/* Unknown or malformed ids contribute nothing, as in MLflow. */
		if (!e.ptr || !trk_parse_experiment_id(e.ptr, e.len, &id))
			continue;
		bool dup = false;
		for (uint32_t j = 0; j < i && !dup; j++) {
			cn_fb_str p = cn_fb_vec_str(exps, j);
			uint64_t pid;
			dup = p.ptr && trk_parse_experiment_id(p.ptr, p.len, &pid) && pid == id;
		}
		if (!dup)
			rc = trk_collect_experiment(s, id, f, view, hs, err);
	}
	return rc;
}

cn_code trk_search_runs(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                        cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	int64_t max = cn_SearchRuns_has_max_results(req) ? cn_SearchRuns_max_results(req)
	                                                 : TRK_SEARCH_DEFAULT;
	cn_code mrc = trk_check_max_results(max, err);
	if (mrc != CN_OK)
		return mrc;
	int view = cn_SearchRuns_has_run_view_type(req) ? cn_SearchRuns_run_view_type(req)
	                                                : CN_ViewType_ACTIVE_ONLY;
	cn_fb_vec exps = cn_SearchRuns_experiment_ids(req);
	cn_fb_str filter = cn_SearchRuns_filter(req);
	cn_fb_vec ob = cn_SearchRuns_order_by(req);
	cn_fb_str tok = cn_SearchRuns_page_token(req);

	trk_sort sort;
	cn_code rc = trk_search_orders(&cn_search_dialect_runs, ob, &sort, err);
	if (rc != CN_OK)
		return rc;
	cn_search_filter *f = NULL;
	rc = cn_search_filter_parse(&cn_search_dialect_runs, filter.ptr, filter.len, &f, err);
	if (rc != CN_OK)
		return rc;
	cn_buf fp = CN_BUF_INIT;
	trk_run_fingerprint(&fp, exps, filter, ob, view);
	cn_search_token token;
	rc = cn_search_token_decode(tok.ptr, tok.len, fp.p, fp.len, &token, err);
	trk_run_hits hs = {0};
	if (rc == CN_OK)
		rc = trk_collect_runs(s, exps, f, view, &hs, err);
	cn_search_filter_free(f);
	if (rc != CN_OK) {
		trk_run_hits_free(&hs);
		cn_buf_free(&fp);
		return rc;
	}
	size_t n = hs.n;
	if (n > 1)
		qsort_r(hs.h, n, sizeof *hs.h, trk_run_hit_cmp, &sort);

	size_t start = token.offset < n ? (size_t)token.offset : n;
	size_t end = (size_t)max < n - start ? start + (size_t)max : n;
	cn_fb_ref *refs = malloc((end - start + 1) * sizeof *refs);
	cn_fb_ref next = 0;
	if (!refs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = start; rc == CN_OK && i < end; i++)
		rc = trk_run_build_full(s, b, &hs.h[i].r, &refs[i - start], err);
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
		cn_SearchRunsResponse_start(b);
		if (vec)
			cn_SearchRunsResponse_add_runs(b, vec);
		if (next)
			cn_SearchRunsResponse_add_next_page_token(b, next);
		*resp = cn_SearchRunsResponse_end(b);
	}
	free(refs);
	trk_run_hits_free(&hs);
	cn_buf_free(&fp);
	return rc;
}
