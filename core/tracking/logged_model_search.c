/*
 * core/tracking/logged_model_search.c: SearchLoggedModels, as MLflow's
 * handler and SQL store (search_logged_models) answer it.
 *
 * - experiment_ids are required; deleted models never match.
 * - filter: the logged-model dialect of core/search (attributes, metrics.,
 *   params., tags.). A metric clause matches when any of the model's metrics
 *   of that key does -- each the latest point of a (key, dataset) -- and,
 *   when `datasets` is given, only metrics of one of those datasets count
 *   (a dataset without digest matches any digest). With datasets and no
 *   metric clause, a model must have some metric on one of them.
 * - order_by entries are {field_name, ascending, dataset_name,
 *   dataset_digest}: an attribute (aliases included) or metrics.<key>, whose
 *   value is the model's latest point of that key (by timestamp, then step)
 *   among the metrics of the given dataset; missing values sort last. Ties:
 *   creation_timestamp DESC (unless ordered), then model_id.
 * - max_results defaults to 50 (the proto's default); page tokens are
 *   offsets bound to the query (core/search tokens).
 * Models are few per experiment next to runs: the experiment's index is
 * scanned, each model loaded, filtered and sorted in memory.
 */
#include <stdlib.h>
#include <string.h>

#include "core/search/search.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_LM_SEARCH_DEFAULT 50
#define TRK_LM_MAX_ORDER      16

typedef struct trk_lm_ds {
	cn_fb_str name, digest; /* digest.ptr NULL: any digest */
} trk_lm_ds;

typedef struct trk_lm_order {
	cn_search_order o;
	bool metric;
	trk_lm_ds ds; /* metric scope; a NULL part matches any */
} trk_lm_order;

typedef struct trk_lm_query {
	trk_lm_ds *ds;
	uint32_t nds;
	trk_lm_order orders[TRK_LM_MAX_ORDER + 2];
	size_t norders;
} trk_lm_query;

/* What the filter getter sees: a model and the request's dataset scope. */
typedef struct trk_lm_entity {
	const trk_lm *m;
	const trk_lm_query *q;
} trk_lm_entity;

static const char *trk_status_name(int32_t st)
{
	switch (st) {
	case CN_LoggedModelStatus_LOGGED_MODEL_PENDING: return "LOGGED_MODEL_PENDING";
	case CN_LoggedModelStatus_LOGGED_MODEL_READY: return "LOGGED_MODEL_READY";
	case CN_LoggedModelStatus_LOGGED_MODEL_UPLOAD_FAILED: return "LOGGED_MODEL_UPLOAD_FAILED";
	default: return "LOGGED_MODEL_STATUS_UNSPECIFIED";
	}
}

static bool trk_attr(const trk_lm *m, const char *key, cn_search_value *out)
{
	cn_fb_str v;
	if (!strcmp(key, "creation_timestamp_ms")) {
		*out = cn_search_value_int(m->creation);
		return true;
	}
	if (!strcmp(key, "last_updated_timestamp_ms")) {
		*out = cn_search_value_int(m->last_updated);
		return true;
	}
	if (!strcmp(key, "status")) {
		*out = cn_search_value_str(trk_status_name(m->status));
		return true;
	}
	if (!strcmp(key, "model_id"))
		v = (cn_fb_str){m->id_str, 34};
	else if (!strcmp(key, "name"))
		v = m->name;
	else if (!strcmp(key, "model_type"))
		v = m->model_type;
	else if (!strcmp(key, "source_run_id"))
		v = m->source_run_id;
	else if (!strcmp(key, "experiment_id"))
		v = m->experiment_id;
	else if (!strcmp(key, "artifact_location"))
		v = m->artifact_uri;
	else
		return false;
	if (!v.ptr)
		return false; /* NULL column: only IS NULL would match */
	*out = cn_search_value_strn(v.ptr, v.len);
	return true;
}

static bool trk_kv_find(const trk_lm_kv *kv, uint32_t n, const char *key, cn_search_value *out)
{
	size_t kl = strlen(key);
	for (uint32_t i = 0; i < n; i++)
		if (kv[i].klen == kl && memcmp(kv[i].key, key, kl) == 0) {
			*out = cn_search_value_strn(kv[i].value, kv[i].vlen);
			return true;
		}
	return false;
}

static bool trk_ds_match(const trk_lm_metric *x, const trk_lm_ds *d)
{
	if (x->nlen != d->name.len || memcmp(x->ds_name, d->name.ptr, d->name.len) != 0)
		return false;
	return !d->digest.ptr || (x->dlen == d->digest.len &&
	                          memcmp(x->ds_digest, d->digest.ptr, d->digest.len) == 0);
}

static bool trk_metric_in_scope(const trk_lm_metric *x, const trk_lm_query *q)
{
	if (q->nds == 0)
		return true;
	for (uint32_t i = 0; i < q->nds; i++)
		if (trk_ds_match(x, &q->ds[i]))
			return true;
	return false;
}

static bool trk_getter(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	const trk_lm_entity *e = entity;
	const trk_lm *m = e->m;
	switch (c->entity) {
	case CN_SEARCH_ATTRIBUTE: return index == 0 && trk_attr(m, c->key, out);
	case CN_SEARCH_PARAM: return index == 0 && trk_kv_find(m->params, m->nparams, c->key, out);
	case CN_SEARCH_TAG: return index == 0 && trk_kv_find(m->tags, m->ntags, c->key, out);
	case CN_SEARCH_METRIC: {
		size_t kl = strlen(c->key), seen = 0;
		for (uint32_t i = 0; i < m->nmetrics; i++) {
			const trk_lm_metric *x = &m->metrics[i];
			if (x->klen != kl || memcmp(x->key, c->key, kl) != 0 ||
			    !trk_metric_in_scope(x, e->q))
				continue;
			if (seen++ == index) {
				*out = cn_search_value_double(x->value);
				return true;
			}
		}
		return false;
	}
	default: return false;
	}
}

/* The value an order sorts a model by; false when it has none. */
static bool trk_order_value(const trk_lm *m, const trk_lm_order *o, cn_search_value *out)
{
	if (!o->metric)
		return trk_attr(m, o->o.key, out);
	size_t kl = strlen(o->o.key);
	const trk_lm_metric *best = NULL;
	for (uint32_t i = 0; i < m->nmetrics; i++) {
		const trk_lm_metric *x = &m->metrics[i];
		if (x->klen != kl || memcmp(x->key, o->o.key, kl) != 0)
			continue;
		/* As MLflow: name and digest each narrow the scope when given. */
		if (o->ds.name.ptr &&
		    (x->nlen != o->ds.name.len || memcmp(x->ds_name, o->ds.name.ptr, x->nlen) != 0))
			continue;
		if (o->ds.digest.ptr && (x->dlen != o->ds.digest.len ||
		                         memcmp(x->ds_digest, o->ds.digest.ptr, x->dlen) != 0))
			continue;
		if (!best || x->timestamp > best->timestamp ||
		    (x->timestamp == best->timestamp && x->step > best->step))
			best = x;
	}
	if (best)
		*out = cn_search_value_double(best->value);
	return best != NULL;
}

static int trk_cmp(const void *a, const void *b, void *arg)
{
	const trk_lm_query *q = arg;
	const trk_lm *x = a, *y = b;
	for (size_t i = 0; i < q->norders; i++) {
		cn_search_value vx, vy;
		const trk_lm_order *o = &q->orders[i];
		bool hx = trk_order_value(x, o, &vx), hy = trk_order_value(y, o, &vy);
		int c = cn_search_order_compare(&o->o, hx ? &vx : NULL, hy ? &vy : NULL);
		if (c)
			return c;
	}
	return 0;
}

static cn_code trk_bad_order(cn_fb_str f, const char *tail, cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid order by field name: %.*s%s",
	                  (int)f.len, f.ptr, tail);
}

/* One order_by entry of the request. */
static cn_code trk_parse_order(cn_fb_table t, trk_lm_order *o, cn_err *err)
{
	cn_fb_str f = cn_SearchLoggedModelsOrderBy_field_name(t);
	if (!f.ptr || f.len == 0)
		return trk_missing(err, "field_name");
	memset(o, 0, sizeof *o);
	bool asc = !cn_SearchLoggedModelsOrderBy_has_ascending(t) ||
	           cn_SearchLoggedModelsOrderBy_ascending(t);
	const char *dot = memchr(f.ptr, '.', f.len);
	if (!dot) {
		char name[CN_SEARCH_ORDER_KEY_MAX];
		if (f.len >= sizeof name || memchr(f.ptr, ' ', f.len) || memchr(f.ptr, '`', f.len))
			return trk_bad_order(f, "", err);
		memcpy(name, f.ptr, f.len);
		name[f.len] = '\0';
		cn_err perr;
		if (cn_search_order_parse(&cn_search_dialect_logged_models, name, &o->o, &perr) !=
		            CN_OK ||
		    o->o.entity != CN_SEARCH_ATTRIBUTE)
			return trk_bad_order(f, "", err);
		o->o.ascending = asc;
		return CN_OK;
	}
	size_t plen = (size_t)(dot - f.ptr);
	if (plen != 7 || memcmp(f.ptr, "metrics", 7) != 0)
		return trk_bad_order(f, ". Only metrics are supported.", err);
	const char *k = dot + 1;
	size_t kl = f.len - plen - 1;
	if (kl >= 2 && k[0] == '`' && k[kl - 1] == '`') {
		k++;
		kl -= 2;
	}
	if (kl == 0 || kl >= CN_SEARCH_ORDER_KEY_MAX)
		return trk_bad_order(f, "", err);
	memcpy(o->o.key, k, kl);
	o->o.key[kl] = '\0';
	o->o.entity = CN_SEARCH_METRIC;
	o->o.kind = CN_SEARCH_NUMERIC;
	o->o.ascending = asc;
	o->metric = true;
	o->ds.name = cn_SearchLoggedModelsOrderBy_dataset_name(t);
	o->ds.digest = cn_SearchLoggedModelsOrderBy_dataset_digest(t);
	if (o->ds.name.ptr && o->ds.name.len == 0)
		o->ds.name.ptr = NULL;
	if (o->ds.digest.ptr && o->ds.digest.len == 0)
		o->ds.digest.ptr = NULL;
	return CN_OK;
}

static bool trk_has_attr_order(const trk_lm_query *q, const char *key)
{
	for (size_t i = 0; i < q->norders; i++)
		if (!q->orders[i].metric && !strcmp(q->orders[i].o.key, key))
			return true;
	return false;
}

static cn_code trk_add_tiebreak(trk_lm_query *q, const char *clause, cn_err *err)
{
	trk_lm_order *o = &q->orders[q->norders];
	memset(o, 0, sizeof *o);
	cn_code rc = cn_search_order_parse(&cn_search_dialect_logged_models, clause, &o->o, err);
	if (rc == CN_OK && !trk_has_attr_order(q, o->o.key))
		q->norders++;
	return rc;
}

static cn_code trk_parse_query(cn_fb_table req, trk_lm_query *q, cn_buf *fp, cn_err *err)
{
	cn_fb_vec dv = cn_SearchLoggedModels_datasets(req);
	cn_fb_vec ov = cn_SearchLoggedModels_order_by(req);
	if (ov.n > TRK_LM_MAX_ORDER)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d order_by clauses are supported", TRK_LM_MAX_ORDER);
	q->ds = dv.n ? calloc(dv.n, sizeof *q->ds) : NULL;
	if (dv.n && !q->ds)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_buf_printf(fp, "logged_models");
	cn_fb_vec ids = cn_SearchLoggedModels_experiment_ids(req);
	for (uint32_t i = 0; i < ids.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(ids, i));
	trk_fp_str(fp, cn_SearchLoggedModels_filter(req));
	for (uint32_t i = 0; i < dv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(dv, i);
		trk_lm_ds *d = &q->ds[q->nds++];
		d->name = cn_SearchLoggedModelsDataset_dataset_name(t);
		d->digest = cn_SearchLoggedModelsDataset_dataset_digest(t);
		if (!d->name.ptr || d->name.len == 0)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "`dataset_name` in the `datasets` clause must be specified.");
		if (d->digest.ptr && d->digest.len == 0)
			d->digest.ptr = NULL;
		cn_buf_printf(fp, "|ds");
		trk_fp_str(fp, d->name);
		trk_fp_str(fp, d->digest);
	}
	for (uint32_t i = 0; i < ov.n; i++) {
		cn_fb_table t = cn_fb_vec_table(ov, i);
		cn_code rc = trk_parse_order(t, &q->orders[q->norders], err);
		if (rc != CN_OK)
			return rc;
		const trk_lm_order *o = &q->orders[q->norders++];
		cn_buf_printf(fp, "|ob%d", o->o.ascending ? 1 : 0);
		trk_fp_str(fp, cn_SearchLoggedModelsOrderBy_field_name(t));
		trk_fp_str(fp, o->ds.name);
		trk_fp_str(fp, o->ds.digest);
	}
	cn_code rc = trk_add_tiebreak(q, "creation_timestamp_ms DESC", err);
	if (rc == CN_OK)
		rc = trk_add_tiebreak(q, "model_id ASC", err);
	return rc;
}

typedef struct trk_lm_hits {
	trk_lm *m;
	size_t n, cap;
} trk_lm_hits;

static void trk_hits_free(trk_lm_hits *h)
{
	for (size_t i = 0; i < h->n; i++)
		trk_lm_free(&h->m[i]);
	free(h->m);
}

static bool trk_filter_has_metric(const cn_search_filter *f)
{
	for (size_t i = 0; i < cn_search_filter_count(f); i++)
		if (cn_search_filter_clause(f, i)->entity == CN_SEARCH_METRIC)
			return true;
	return false;
}

/* Whether m passes the filter and the dataset scope. */
static bool trk_keep(const trk_lm *m, const cn_search_filter *f, bool metric_clauses,
                     const trk_lm_query *q)
{
	if (trk_str_is(m->lifecycle_stage, (cn_fb_str){"deleted", 7}))
		return false;
	trk_lm_entity e = {m, q};
	if (!cn_search_filter_match(f, trk_getter, &e))
		return false;
	if (q->nds == 0 || metric_clauses)
		return true;
	for (uint32_t i = 0; i < m->nmetrics; i++)
		if (trk_metric_in_scope(&m->metrics[i], q))
			return true;
	return false;
}

static cn_code trk_collect(trk_state *s, uint64_t exp, const cn_search_filter *f,
                           const trk_lm_query *q, trk_lm_hits *h, cn_err *err)
{
	cn_key p;
	cn_key_init(&p);
	cn_key_u64(&p, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_LOGGED_MODELS_BY_EXPERIMENT, p.b, p.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	bool mc = trk_filter_has_metric(f);
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen != p.len + 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt logged model index key");
			break;
		}
		if (h->n == h->cap) {
			size_t nc = h->cap ? 2 * h->cap : 16;
			trk_lm *g = realloc(h->m, nc * sizeof *g);
			if (!g) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			h->m = g;
			h->cap = nc;
		}
		trk_lm *m = &h->m[h->n];
		rc = trk_lm_load(s, k + p.len, true, m, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST) { /* index without model: skip */
			rc = CN_OK;
			continue;
		}
		if (rc != CN_OK)
			break;
		if (trk_keep(m, f, mc, q))
			h->n++;
		else
			trk_lm_free(m);
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

static cn_code trk_reply(cn_fb_builder *b, const trk_lm_hits *h, size_t start, size_t end,
                         const cn_buf *fp, cn_fb_ref *resp, cn_err *err)
{
	cn_fb_ref *refs = end > start ? malloc((end - start) * sizeof *refs) : NULL;
	if (end > start && !refs)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = start; i < end; i++)
		refs[i - start] = trk_lm_build(b, &h->m[i]);
	cn_code rc = CN_OK;
	cn_fb_ref next = 0;
	if (end < h->n) {
		cn_search_token nt = {.offset = end};
		cn_buf tb = CN_BUF_INIT;
		rc = cn_search_token_encode(&nt, fp->p, fp->len, &tb, err);
		if (rc == CN_OK)
			next = cn_fb_create_string(b, tb.p, tb.len);
		cn_buf_free(&tb);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = end > start ? cn_fb_create_vec_refs(b, refs, end - start) : 0;
		cn_SearchLoggedModelsResponse_start(b);
		if (vec)
			cn_SearchLoggedModelsResponse_add_models(b, vec);
		if (next)
			cn_SearchLoggedModelsResponse_add_next_page_token(b, next);
		*resp = cn_SearchLoggedModelsResponse_end(b);
	}
	free(refs);
	return rc;
}

cn_code trk_search_logged_models(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                 cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	cn_fb_vec ids = cn_SearchLoggedModels_experiment_ids(req);
	if (ids.n == 0)
		return trk_missing(err, "experiment_ids");
	int64_t max = TRK_LM_SEARCH_DEFAULT;
	if (cn_SearchLoggedModels_has_max_results(req) && cn_SearchLoggedModels_max_results(req))
		max = cn_SearchLoggedModels_max_results(req);
	cn_code rc = trk_check_max_results(max, err);
	if (rc != CN_OK)
		return rc;
	trk_lm_query *q = calloc(1, sizeof *q);
	if (!q)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_buf fp = CN_BUF_INIT;
	rc = trk_parse_query(req, q, &fp, err);
	cn_search_token token;
	cn_fb_str tok = cn_SearchLoggedModels_page_token(req);
	if (rc == CN_OK)
		rc = cn_search_token_decode(tok.ptr, tok.len, fp.p, fp.len, &token, err);
	cn_search_filter *f = NULL;
	cn_fb_str filter = cn_SearchLoggedModels_filter(req);
	if (rc == CN_OK)
		rc = cn_search_filter_parse(&cn_search_dialect_logged_models, filter.ptr,
		                            filter.len, &f, err);
	trk_lm_hits h = {0};
	for (uint32_t i = 0; rc == CN_OK && i < ids.n; i++) {
		cn_fb_str sid = cn_fb_vec_str(ids, i);
		uint64_t exp;
		bool dup = false;
		for (uint32_t j = 0; j < i; j++)
			dup = dup || trk_str_is(cn_fb_vec_str(ids, j), sid);
		if (dup)
			continue;
		if (!trk_parse_experiment_id(sid.ptr, sid.len, &exp))
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid experiment ID: '%.*s'", (int)sid.len,
			                sid.ptr ? sid.ptr : "");
		else
			rc = trk_collect(s, exp, f, q, &h, err);
	}
	cn_search_filter_free(f);
	if (rc == CN_OK) {
		qsort_r(h.m, h.n, sizeof *h.m, trk_cmp, q);
		size_t start = token.offset < h.n ? (size_t)token.offset : h.n;
		size_t end = (size_t)max < h.n - start ? start + (size_t)max : h.n;
		rc = trk_reply(b, &h, start, end, &fp, resp, err);
	}
	trk_hits_free(&h);
	free(q->ds);
	free(q);
	cn_buf_free(&fp);
	return rc;
}
