/*
 * core/tracking/dataset_search.c: the UI's experiments/search-datasets --
 * the distinct (experiment, dataset name, digest, context) of the dataset
 * inputs of the experiments' runs, deleted runs included, at most 1000, as
 * MLflow's handler and SQL store (_search_datasets) answer it. context is
 * the input tag mlflow.data.context, absent when the input has none.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_DATASETS_MAX_EXPERIMENTS 20
#define TRK_DATASETS_MAX_RESULTS     1000

typedef struct trk_summary {
	uint64_t exp;
	trk_input_ref in; /* owned strings moved out of a run's inputs */
} trk_summary;

typedef struct trk_summaries {
	trk_summary *e;
	size_t n;
} trk_summaries;

static bool trk_eq(const char *a, size_t al, const char *b, size_t bl)
{
	if (!a || !b)
		return !a && !b;
	return al == bl && memcmp(a, b, al) == 0;
}

/* Move the run's inputs not seen yet in experiment exp into out. */
static void trk_take(trk_summaries *out, uint64_t exp, trk_input_refs *refs)
{
	for (size_t i = 0; i < refs->n && out->n < TRK_DATASETS_MAX_RESULTS; i++) {
		trk_input_ref *x = &refs->e[i];
		bool seen = false;
		for (size_t j = 0; j < out->n && !seen; j++) {
			const trk_input_ref *y = &out->e[j].in;
			seen = out->e[j].exp == exp &&
			       trk_eq(x->name, x->name_len, y->name, y->name_len) &&
			       trk_eq(x->digest, x->digest_len, y->digest, y->digest_len) &&
			       trk_eq(x->context, x->context_len, y->context, y->context_len);
		}
		if (seen)
			continue;
		out->e[out->n].exp = exp;
		out->e[out->n].in = *x;
		out->n++;
		memset(x, 0, sizeof *x); /* ownership moved */
	}
}

static cn_code trk_scan_experiment(trk_state *s, uint64_t exp, trk_summaries *out, cn_err *err)
{
	cn_key p;
	cn_key_init(&p);
	cn_key_u64(&p, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS_BY_EXPERIMENT, p.b, p.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it);
	     rc == CN_OK && cn_kv_iter_valid(it) && out->n < TRK_DATASETS_MAX_RESULTS;
	     cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen < p.len + 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run index key");
			break;
		}
		trk_input_refs refs = {0};
		rc = trk_run_inputs_load(s, k + klen - 16, &refs, err);
		if (rc == CN_OK)
			trk_take(out, exp, &refs);
		trk_input_refs_free(&refs);
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

static cn_fb_ref trk_opt(cn_fb_builder *b, const char *p, size_t n)
{
	return p ? cn_fb_create_string(b, p, n) : 0;
}

cn_code trk_search_datasets(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                            cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	cn_fb_vec ids = cn_SearchDatasets_experiment_ids(req);
	if (ids.n == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "SearchDatasets request must specify at least one experiment_id.");
	if (ids.n > TRK_DATASETS_MAX_EXPERIMENTS)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "SearchDatasets request cannot specify more than %d experiment_ids. "
		        "Received %u experiment_ids.",
		        TRK_DATASETS_MAX_EXPERIMENTS, (unsigned)ids.n);
	trk_summaries out = {malloc(TRK_DATASETS_MAX_RESULTS * sizeof *out.e), 0};
	cn_code rc = out.e ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (uint32_t i = 0; rc == CN_OK && i < ids.n; i++) {
		cn_fb_str sid = cn_fb_vec_str(ids, i);
		uint64_t exp;
		bool dup = false;
		for (uint32_t j = 0; j < i; j++)
			dup = dup || trk_str_is(cn_fb_vec_str(ids, j), sid);
		/* An id that names no experiment matches nothing, as in MLflow. */
		if (!dup && trk_parse_experiment_id(sid.ptr, sid.len, &exp))
			rc = trk_scan_experiment(s, exp, &out, err);
	}
	cn_fb_ref *refs = rc == CN_OK && out.n ? malloc(out.n * sizeof *refs) : NULL;
	if (rc == CN_OK && out.n && !refs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; rc == CN_OK && i < out.n; i++) {
		const trk_summary *x = &out.e[i];
		char eb[24];
		int el = snprintf(eb, sizeof eb, "%" PRIu64, x->exp);
		cn_fb_ref e = cn_fb_create_string(b, eb, (size_t)el);
		cn_fb_ref n = trk_opt(b, x->in.name, x->in.name_len);
		cn_fb_ref d = trk_opt(b, x->in.digest, x->in.digest_len);
		cn_fb_ref c = trk_opt(b, x->in.context, x->in.context_len);
		cn_DatasetSummary_start(b);
		cn_DatasetSummary_add_experiment_id(b, e);
		if (n)
			cn_DatasetSummary_add_name(b, n);
		if (d)
			cn_DatasetSummary_add_digest(b, d);
		if (c)
			cn_DatasetSummary_add_context(b, c);
		refs[i] = cn_DatasetSummary_end(b);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = out.n ? cn_fb_create_vec_refs(b, refs, out.n) : 0;
		cn_SearchDatasetsResponse_start(b);
		if (vec)
			cn_SearchDatasetsResponse_add_dataset_summaries(b, vec);
		*resp = cn_SearchDatasetsResponse_end(b);
	}
	free(refs);
	for (size_t i = 0; i < out.n; i++) {
		free(out.e[i].in.name);
		free(out.e[i].in.digest);
		free(out.e[i].in.context);
	}
	free(out.e);
	return rc;
}
