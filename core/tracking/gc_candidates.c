/*
 * core/tracking/gc_candidates.c: GcListCandidates -- what `cairn gc` would
 * purge, with `mlflow gc`'s checks (mlflow/cli.py gc): named runs and
 * experiments must exist, be deleted and, with older_than_ms, have been
 * deleted before now - older_than_ms (runs by deleted_time, experiments by
 * last_update_time, which deletion sets). Runs deleted before deleted_time
 * was stored count as deleted at time 0. Without names, every deleted run or
 * experiment that is old enough. The run list also holds every run of the
 * experiments to purge, since purging an experiment takes its runs along.
 * Nothing is changed: the purge calls (gc.c) check each run again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

typedef struct trk_idset {
	uint8_t *ids; /* 16 bytes each */
	size_t n, cap;
} trk_idset;

static bool trk_idset_add(trk_idset *s, const uint8_t id[16])
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 64;
		uint8_t *g = realloc(s->ids, nc * 16);
		if (!g)
			return false;
		s->ids = g;
		s->cap = nc;
	}
	memcpy(s->ids + 16 * s->n++, id, 16);
	return true;
}

static int trk_id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

typedef struct trk_gc_query {
	bool aged;
	int64_t older_ms, threshold; /* purge what was deleted before threshold (ms) */
	cn_buf bad;                  /* ids failing a check, "'1', '2'" */
} trk_gc_query;

static void trk_bad_add(cn_buf *bad, const char *id, size_t len)
{
	cn_buf_printf(bad, "%s'%.*s'", bad->len ? ", " : "", (int)len, id);
}

/* Named experiments: all deleted and old enough, or 400 naming the others. */
static cn_code trk_named_experiments(trk_state *s, cn_fb_vec v, trk_gc_query *q, uint64_t *out,
                                     cn_err *err)
{
	for (int pass = 0; pass < 2; pass++) {
		q->bad.len = 0;
		for (uint32_t i = 0; i < v.n; i++) {
			cn_fb_str sid = cn_fb_vec_str(v, i);
			uint64_t id;
			if (!trk_parse_experiment_id(sid.ptr, sid.len, &id))
				return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
				                  "No Experiment with id=%.*s exists", (int)sid.len,
				                  sid.ptr ? sid.ptr : "");
			cn_kv_val val;
			trk_experiment e;
			cn_code rc = trk_experiment_load(s, id, &val, &e, err);
			if (rc != CN_OK)
				return rc;
			bool fails = pass == 0 ? trk_str_is(e.lifecycle_stage, trk_active_stage)
			                       : q->aged && e.last_update_time >= q->threshold;
			if (fails)
				trk_bad_add(&q->bad, sid.ptr, sid.len);
			out[i] = id;
			trk_experiment_view_free(&e);
			cn_kv_val_release(&val);
		}
		if (q->bad.len && pass == 0)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Experiments [%.*s] are not in the deleted lifecycle stage. "
			        "Only experiments in the deleted lifecycle stage can be "
			        "hard-deleted.",
			        (int)q->bad.len, q->bad.p);
		if (q->bad.len)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Experiments [%.*s] are not older than the required age. Only "
			        "experiments deleted more than %" PRId64 " ms ago can be deleted.",
			        (int)q->bad.len, q->bad.p, q->older_ms);
		if (!q->aged)
			break;
	}
	return CN_OK;
}

/* Every deleted experiment old enough. */
static cn_code trk_deleted_experiments(trk_state *s, const trk_gc_query *q, uint64_t **out,
                                       size_t *n, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_EXPERIMENTS, NULL, 0);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t cap = 0, cnt = 0;
	uint64_t *ids = NULL;
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vlen;
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		trk_experiment e;
		if ((rc = trk_experiment_view(v, vlen, &e, err)) != CN_OK)
			break;
		bool take = !trk_str_is(e.lifecycle_stage, trk_active_stage) &&
		            (!q->aged || e.last_update_time < q->threshold);
		uint64_t id = e.id;
		trk_experiment_view_free(&e);
		if (!take)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 16;
			uint64_t *g = realloc(ids, nc * sizeof *ids);
			if (!g) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			ids = g;
			cap = nc;
		}
		ids[cnt++] = id;
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc != CN_OK) {
		free(ids);
		return rc;
	}
	*out = ids;
	*n = cnt;
	return CN_OK;
}

static bool trk_run_old_enough(const trk_run *r, const trk_gc_query *q)
{
	return !q->aged || (r->has_deleted_time ? r->deleted_time : 0) < q->threshold;
}

/* Named runs: each must exist, be deleted and be old enough. */
static cn_code trk_named_runs(trk_state *s, cn_fb_vec v, const trk_gc_query *q, trk_idset *out,
                              cn_err *err)
{
	for (uint32_t i = 0; i < v.n; i++) {
		uint8_t id[16];
		char hex[33];
		cn_code rc =
		        trk_run_resolve(cn_fb_vec_str(v, i), (cn_fb_str){NULL, 0}, id, hex, err);
		cn_kv_val val;
		trk_run r;
		if (rc == CN_OK)
			rc = trk_run_load(s, id, &val, &r, err);
		if (rc != CN_OK)
			return rc;
		if (!trk_str_is(r.lifecycle_stage, trk_deleted_stage))
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Run %s is not in `deleted` lifecycle stage. Only runs in "
			                "`deleted` lifecycle stage can be deleted.",
			                hex);
		else if (!trk_run_old_enough(&r, q))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Run %s is not older than the required age. Only runs deleted "
			        "more than %" PRId64 " ms ago can be deleted.",
			        hex, q->older_ms);
		cn_kv_val_release(&val);
		if (rc != CN_OK)
			return rc;
		if (!trk_idset_add(out, id))
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	return CN_OK;
}

/* Every deleted run old enough: a scan of the runs column family. */
static cn_code trk_deleted_runs(trk_state *s, const trk_gc_query *q, trk_idset *out, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS, NULL, 0);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (klen != 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run key");
			break;
		}
		/* Read the two fields straight from the stored RunInfo. */
		if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_RunInfo, v, vlen, err) != CN_OK) {
			rc = cn_err_set(err, CN_DATA_LOSS, "stored run is corrupt: %s", err->msg);
			break;
		}
		cn_fb_table t = cn_fb_root(v);
		trk_run r = {.lifecycle_stage = cn_RunInfo_lifecycle_stage(t),
		             .has_deleted_time = cn_RunInfo_has_deleted_time(t),
		             .deleted_time = cn_RunInfo_deleted_time(t)};
		if (trk_str_is(r.lifecycle_stage, trk_deleted_stage) && trk_run_old_enough(&r, q) &&
		    !trk_idset_add(out, k)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

/* Every run of experiment exp, whatever its state. */
static cn_code trk_experiment_runs(trk_state *s, uint64_t exp, trk_idset *out, cn_err *err)
{
	cn_key p;
	cn_key_init(&p);
	cn_key_u64(&p, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS_BY_EXPERIMENT, p.b, p.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen < 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt runs_by_experiment key");
			break;
		}
		if (!trk_idset_add(out, k + klen - 16)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

static cn_fb_ref trk_build_answer(cn_fb_builder *b, trk_idset *runs, const uint64_t *exps,
                                  size_t nexps)
{
	/* Sorted and without duplicates (a named run may be in a purged experiment). */
	if (runs->n)
		qsort(runs->ids, runs->n, 16, trk_id_cmp);
	size_t n = 0;
	for (size_t i = 0; i < runs->n; i++)
		if (n == 0 || memcmp(runs->ids + 16 * (n - 1), runs->ids + 16 * i, 16) != 0)
			memmove(runs->ids + 16 * n++, runs->ids + 16 * i, 16);
	size_t most = n > nexps ? n : nexps;
	cn_fb_ref *refs = malloc((most + 1) * sizeof *refs);
	if (!refs)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char hex[33];
		for (int j = 0; j < 16; j++)
			snprintf(hex + 2 * j, 3, "%02x", runs->ids[16 * i + j]);
		refs[i] = cn_fb_create_string(b, hex, 32);
	}
	cn_fb_ref rv = n ? cn_fb_create_vec_refs(b, refs, n) : 0;
	for (size_t i = 0; i < nexps; i++) {
		char id[24];
		int l = snprintf(id, sizeof id, "%" PRIu64, exps[i]);
		refs[i] = cn_fb_create_string(b, id, (size_t)l);
	}
	cn_fb_ref ev = nexps ? cn_fb_create_vec_refs(b, refs, nexps) : 0;
	free(refs);
	cn_GcListCandidatesResponse_start(b);
	if (rv)
		cn_GcListCandidatesResponse_add_run_ids(b, rv);
	if (ev)
		cn_GcListCandidatesResponse_add_experiment_ids(b, ev);
	return cn_GcListCandidatesResponse_end(b);
}

cn_code trk_gc_list_candidates(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                               cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	trk_gc_query q = {.bad = CN_BUF_INIT};
	if (cn_GcListCandidates_has_older_than_ms(req)) {
		int64_t older = cn_GcListCandidates_older_than_ms(req);
		if (older < 0)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "older_than_ms must not be negative, got %" PRId64,
			                  older);
		q.aged = true;
		q.older_ms = older;
		q.threshold = cn_now_ms() - older;
	}
	cn_fb_vec named_exps = cn_GcListCandidates_experiment_ids(req);
	cn_fb_vec named_runs = cn_GcListCandidates_run_ids(req);
	uint64_t *exps = NULL;
	size_t nexps = 0;
	trk_idset runs = {0};
	cn_code rc = CN_OK;
	if (named_exps.n) {
		exps = malloc(named_exps.n * sizeof *exps);
		nexps = named_exps.n;
		rc = exps ? trk_named_experiments(s, named_exps, &q, exps, err)
		          : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	} else {
		rc = trk_deleted_experiments(s, &q, &exps, &nexps, err);
	}
	if (rc == CN_OK)
		rc = named_runs.n ? trk_named_runs(s, named_runs, &q, &runs, err)
		                  : trk_deleted_runs(s, &q, &runs, err);
	for (size_t i = 0; rc == CN_OK && i < nexps; i++)
		rc = trk_experiment_runs(s, exps[i], &runs, err);
	if (rc == CN_OK) {
		*resp = trk_build_answer(b, &runs, exps, nexps);
		if (!*resp)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	free(exps);
	free(runs.ids);
	cn_buf_free(&q.bad);
	return rc;
}
