/*
 * core/registry/search.c: registered-model and model-version search, with
 * MLflow's filter language (core/search dialects registered_models and
 * model_versions), order_by, max_results and page tokens. Prompts (tagged
 * mlflow.prompt.is_prompt = 'true') are left out unless the filter asks
 * about that tag, as MLflow's stores do.
 *
 * A search reads every model (or version) and sorts the matches: registries
 * hold thousands of models, not millions, and this keeps results exact
 * under any filter and order. Page tokens carry an offset into that order
 * and a fingerprint of the query they continue.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/registry/registry_int.h"
#include "core/search/search.h"
#include "schemas/cairn_schema.h"

#define REG_MAX_ORDER 16

typedef struct reg_sort {
	cn_search_order orders[REG_MAX_ORDER];
	size_t n;
	bool versions;
} reg_sort;

/* The value of one field of a stored tree (model or version). */
static bool reg_field(json_t *doc, cn_search_entity ent, const char *key, bool versions,
                      cn_search_value *out)
{
	json_t *j = NULL;
	if (ent == CN_SEARCH_TAG) {
		const char *v = reg_tag_get(doc, "tags", key);
		if (!v)
			return false;
		*out = cn_search_value_str(v);
		return true;
	}
	if (strcmp(key, "version_number") == 0) {
		j = json_object_get(doc, "version");
		if (!json_is_string(j))
			return false;
		*out = cn_search_value_int(strtoll(json_string_value(j), NULL, 10));
		return true;
	}
	j = json_object_get(doc, strcmp(key, "source_path") == 0 ? "source" : key);
	if (json_is_integer(j)) {
		*out = cn_search_value_int(json_integer_value(j));
		return true;
	}
	if (!json_is_string(j))
		return false;
	*out = cn_search_value_strn(json_string_value(j), json_string_length(j));
	return true;
}

typedef struct reg_get_ctx {
	json_t *doc;
	bool versions;
} reg_get_ctx;

static bool reg_getter(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	reg_get_ctx *g = entity;
	return index == 0 && reg_field(g->doc, c->entity, c->key, g->versions, out);
}

static int reg_cmp(const void *pa, const void *pb, void *arg)
{
	const reg_sort *s = arg;
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	for (size_t i = 0; i < s->n; i++) {
		const cn_search_order *o = &s->orders[i];
		cn_search_value va, vb;
		bool ha = reg_field(a, o->entity, o->key, s->versions, &va);
		bool hb = reg_field(b, o->entity, o->key, s->versions, &vb);
		int c = cn_search_order_compare(o, ha ? &va : NULL, hb ? &vb : NULL);
		if (c)
			return c;
	}
	return 0;
}

/* Whether any clause addresses the prompt tag (then prompts are not hidden). */
static bool reg_asks_prompts(const cn_search_filter *f)
{
	for (size_t i = 0; i < cn_search_filter_count(f); i++) {
		const cn_search_clause *c = cn_search_filter_clause(f, i);
		if (c->entity == CN_SEARCH_TAG && strcmp(c->key, REG_PROMPT_TAG) == 0)
			return true;
	}
	return false;
}

static void reg_fp(cn_buf *fp, cn_fb_str s)
{
	cn_buf_printf(fp, "|%u:", (unsigned)s.len);
	if (s.ptr)
		cn_buf_append(fp, s.ptr, s.len);
}

typedef struct reg_query {
	const cn_search_dialect *d;
	bool versions;
	cn_fb_str filter, page_token;
	cn_fb_vec order_by;
	int64_t max_results;
	int64_t max_allowed;
} reg_query;

/* Collect, filter, sort and page. *page is a new array (references into
 * the sorted list); *next is the next page's token or empty. */
static cn_code reg_search(reg_state *s, const reg_query *q, json_t **page, cn_buf *next,
                          cn_err *err)
{
	if (q->max_results < 1)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value for request parameter max_results. It must be a "
		                  "positive integer, but got %" PRId64,
		                  q->max_results);
	if (q->max_results > q->max_allowed)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value for request parameter max_results. It must be at "
		                  "most %" PRId64 ", but got value %" PRId64,
		                  q->max_allowed, q->max_results);
	reg_sort sort = {.versions = q->versions};
	const char *clauses[REG_MAX_ORDER];
	if (q->order_by.n > REG_MAX_ORDER)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d order_by clauses are supported", REG_MAX_ORDER);
	for (uint32_t i = 0; i < q->order_by.n; i++)
		clauses[i] = cn_fb_vec_str(q->order_by, i).ptr;
	cn_code rc = cn_search_orders_build(q->d, clauses, q->order_by.n, sort.orders,
	                                    REG_MAX_ORDER, &sort.n, err);
	if (rc != CN_OK)
		return rc;
	cn_buf fp = {0};
	reg_fp(&fp, q->filter);
	for (uint32_t i = 0; i < q->order_by.n; i++)
		reg_fp(&fp, cn_fb_vec_str(q->order_by, i));
	cn_search_token tok;
	rc = cn_search_token_decode(q->page_token.ptr, q->page_token.len, fp.p, fp.len, &tok, err);
	cn_search_filter *f = NULL;
	if (rc == CN_OK)
		rc = cn_search_filter_parse(q->d, q->filter.ptr, q->filter.len, &f, err);
	json_t *all = json_array();
	cn_kv_iter *it =
	        rc == CN_OK ? cn_kv_iter_new(s->db, q->versions ? REG_CF_VERSIONS : REG_CF_MODELS,
	                                     NULL, 0)
	                    : NULL;
	if (rc == CN_OK && !it)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	bool hide_prompts = rc == CN_OK && !reg_asks_prompts(f);
	int table = q->versions ? CN_TABLE_ModelVersion : CN_TABLE_RegisteredModel;
	if (it)
		cn_kv_iter_seek_first(it);
	for (; it && rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vl;
		const uint8_t *v = cn_kv_iter_value(it, &vl);
		json_t *doc;
		rc = reg_decode_value(table, v, vl, &doc, err);
		if (rc != CN_OK)
			break;
		reg_get_ctx g = {doc, q->versions};
		if ((hide_prompts && reg_is_prompt(doc)) ||
		    !cn_search_filter_match(f, reg_getter, &g))
			json_decref(doc);
		else
			json_array_append_new(all, doc);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	cn_search_filter_free(f);
	if (rc == CN_OK) {
		size_t n = json_array_size(all);
		json_t **items = malloc((n ? n : 1) * sizeof *items);
		if (!items) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			for (size_t i = 0; i < n; i++)
				items[i] = json_array_get(all, i);
			qsort_r(items, n, sizeof *items, reg_cmp, &sort);
			json_t *out = json_array();
			uint64_t end = tok.offset + (uint64_t)q->max_results;
			for (uint64_t i = tok.offset; i < n && i < end; i++)
				json_array_append(out, items[i]);
			free(items);
			if (end < n) {
				cn_search_token nt = {.offset = end};
				rc = cn_search_token_encode(&nt, fp.p, fp.len, next, err);
			}
			if (rc == CN_OK)
				*page = out;
			else
				json_decref(out);
		}
	}
	json_decref(all);
	cn_buf_free(&fp);
	return rc;
}

static cn_code reg_search_answer(reg_state *s, const reg_query *q, const char *field, int table,
                                 cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	json_t *page = NULL;
	cn_buf next = {0};
	cn_code rc = reg_search(s, q, &page, &next, err);
	if (rc != CN_OK) {
		cn_buf_free(&next);
		return rc;
	}
	json_t *models = json_object();
	size_t i;
	json_t *doc;
	json_array_foreach(page, i, doc)
	{
		const char *name = json_string_value(json_object_get(doc, "name"));
		json_t *m = NULL;
		if (q->versions) {
			/* Aliases of each version come from its model. */
			m = json_object_get(models, name);
			if (!m && reg_model_load(s, name, strlen(name), &m, err) == CN_OK)
				json_object_set_new(models, name, m);
			if (m)
				reg_version_aliases(m, doc);
		} else if (rc == CN_OK) {
			rc = reg_model_full(s, doc, err);
		}
	}
	json_decref(models);
	if (rc == CN_OK) {
		json_t *resp_doc = json_pack("{s:O}", field, page);
		if (next.len)
			json_object_set_new(resp_doc, "next_page_token",
			                    json_stringn(next.p, next.len));
		rc = reg_answer(b, table, resp_doc, resp, err);
		json_decref(resp_doc);
	}
	json_decref(page);
	cn_buf_free(&next);
	return rc;
}

REG_METHOD(reg_search_models)
{
	reg_query q = {
	        .d = &cn_search_dialect_registered_models,
	        .filter = cn_SearchRegisteredModels_filter(req),
	        .page_token = cn_SearchRegisteredModels_page_token(req),
	        .order_by = cn_SearchRegisteredModels_order_by(req),
	        .max_results = cn_SearchRegisteredModels_has_max_results(req)
	                               ? cn_SearchRegisteredModels_max_results(req)
	                               : 100,
	        .max_allowed = 1000,
	};
	return reg_search_answer(st, &q, "registered_models",
	                         CN_TABLE_SearchRegisteredModelsResponse, b, resp, err);
}

REG_METHOD(reg_search_versions)
{
	reg_query q = {
	        .d = &cn_search_dialect_model_versions,
	        .versions = true,
	        .filter = cn_SearchModelVersions_filter(req),
	        .page_token = cn_SearchModelVersions_page_token(req),
	        .order_by = cn_SearchModelVersions_order_by(req),
	        .max_results = cn_SearchModelVersions_has_max_results(req)
	                               ? cn_SearchModelVersions_max_results(req)
	                               : 10000,
	        .max_allowed = 200000,
	};
	return reg_search_answer(st, &q, "model_versions", CN_TABLE_SearchModelVersionsResponse, b,
	                         resp, err);
}
