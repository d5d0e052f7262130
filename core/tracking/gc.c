/*
 * core/tracking/gc.c: removing deleted runs and experiments for good, the
 * service side of `cairn gc` (schemas/tracking/gc.fbs; the command is
 * core/cli/gc.c). Deleted entities stay restorable until purged here.
 *
 * A run is purged artifacts first, then data: its artifact folder is removed
 * through core/artifacts, then every key of the run (info, runs_by_experiment
 * entry, params, tags, latest metrics, metric history, inputs, model inputs:
 * each column family tracking.h lists under a run id) goes in one atomic
 * batch. A crash in between leaves a deleted run whose artifacts are gone,
 * never bytes that no run points to; running gc again finishes it. The run's
 * stripe lock is held throughout, so a restore cannot slip in between the
 * check and the purge (a log call to another run on the same stripe waits
 * for the artifact removal: gc is rare, and correctness wins).
 *
 * The database also holds the audit trail's column families (core/audit:
 * audit_records, audit_by_entity, added by the service runtime, never in
 * trk_cf_names). gc deliberately leaves them alone: the record that a run
 * was created, changed, deleted and purged must outlive the run, so a
 * purge removes the run's data, never its history (gc_test checks both).
 *
 * The artifact stores are opened lazily at the first purge, from the
 * service's own plugin registry (config plugin_dir), so a service that never
 * purges loads nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/artifacts/artifacts.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

struct trk_gc {
	pthread_mutex_t mu; /* guards the lazy open below */
	char plugin_dir[CN_CFG_STR];
	char destination[CN_CFG_STR];
	cn_plugin_registry *reg;
	cn_artifacts *arts;
};

cn_code trk_gc_open(trk_state *s, const cn_config *cfg, cn_err *err)
{
	struct trk_gc *g = calloc(1, sizeof *g);
	if (!g)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&g->mu, NULL);
	snprintf(g->plugin_dir, sizeof g->plugin_dir, "%s", cfg->plugin_dir);
	snprintf(g->destination, sizeof g->destination, "%s", cfg->artifacts_destination);
	s->gc = g;
	return CN_OK;
}

void trk_gc_close(trk_state *s)
{
	struct trk_gc *g = s->gc;
	if (!g)
		return;
	cn_artifacts_close(g->arts);
	cn_plugin_registry_close(g->reg);
	pthread_mutex_destroy(&g->mu);
	free(g);
	s->gc = NULL;
}

static cn_code trk_gc_artifacts(trk_state *s, cn_artifacts **out, cn_err *err)
{
	struct trk_gc *g = s->gc;
	cn_code rc = CN_OK;
	pthread_mutex_lock(&g->mu);
	if (!g->arts) {
		if (!g->reg)
			rc = cn_plugin_registry_open(&g->reg, g->plugin_dir, err);
		if (rc == CN_OK)
			rc = cn_artifacts_open(&g->arts, g->reg, g->destination, err);
	}
	*out = g->arts;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

/* Remove a run's artifacts. Runs live at <experiment location>/<run id>/
 * artifacts: the run's own folder goes, located as <run id> inside the
 * experiment's location (so the cache of open stores holds one store per
 * location, not one per purged run). An artifact URI of another shape loses
 * only what it names. A URI no store serves is skipped with a warning, as
 * `mlflow gc` bypasses an unresolvable artifact URL. */
static cn_code trk_gc_remove_artifacts(trk_state *s, const trk_run *r, const char *request_id,
                                       cn_err *err)
{
	if (!r->artifact_uri.ptr || r->artifact_uri.len == 0)
		return CN_OK;
	cn_artifacts *arts;
	cn_code rc = trk_gc_artifacts(s, &arts, err);
	if (rc != CN_OK)
		return rc;
	char *uri = malloc(r->artifact_uri.len + 1);
	if (!uri)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	memcpy(uri, r->artifact_uri.ptr, r->artifact_uri.len);
	size_t n = r->artifact_uri.len;
	uri[n] = '\0';
	const char *sub = NULL;
	static const char tail[] = "/artifacts";
	size_t tl = sizeof tail - 1;
	if (n > tl + 33 && strcmp(uri + n - tl, tail) == 0 && uri[n - tl - 33] == '/' &&
	    memcmp(uri + n - tl - 32, r->hex, 32) == 0) {
		uri[n - tl] = '\0';      /* ".../<hex>" */
		uri[n - tl - 33] = '\0'; /* the experiment location */
		sub = uri + n - tl - 32;
	}
	cn_store *store;
	char path[CAIRN_PATH_MAX + 1];
	rc = cn_artifacts_locate(arts, uri, sub, &store, path, sizeof path, err);
	if (rc == CN_OK && path[0] == '\0' && cn_artifacts_is_proxied(uri))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "proxied artifact URI names the whole destination");
	if (rc == CN_INVALID_PARAMETER_VALUE) {
		/* Never fatal: the URI is unusable, not the store. */
		CN_LOGW("GC-ARTIFACTS-SKIPPED", request_id, "run=%s uri=%.*s reason=\"%s\"", r->hex,
		        (int)r->artifact_uri.len, r->artifact_uri.ptr, err->msg);
		rc = CN_OK;
	} else if (rc == CN_OK) {
		rc = cn_store_remove(store, path, true, err);
	}
	free(uri);
	return rc;
}

/* Delete every key of column family cf that starts with prefix. */
static cn_code trk_gc_del_prefix(trk_state *s, cn_kv_batch *batch, int cf, const void *prefix,
                                 size_t plen, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, cf, prefix, plen);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		cn_kv_batch_del(batch, cf, k, klen);
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

/* Every column family keyed by a run id first (tracking.h). */
static const int trk_gc_run_cfs[] = {
        TRK_CF_RUN_PARAMS, TRK_CF_RUN_TAGS,         TRK_CF_RUN_LATEST_METRICS, TRK_CF_RUN_METRICS,
        TRK_CF_RUN_INPUTS, TRK_CF_RUN_MODEL_INPUTS, TRK_CF_RUN_MODEL_OUTPUTS};

/* The run's data, in one atomic batch. */
static cn_code trk_gc_remove_data(trk_state *s, const trk_run *r, cn_err *err)
{
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_key k;
	trk_run_key(&k, r->id);
	cn_kv_batch_del(batch, TRK_CF_RUNS, k.b, k.len);
	cn_code rc = CN_OK;
	uint64_t exp;
	if (trk_parse_experiment_id(r->experiment_id.ptr, r->experiment_id.len, &exp)) {
		cn_key_init(&k);
		cn_key_u64(&k, exp);
		cn_key_i64(&k, r->start_time);
		cn_key_raw(&k, r->id, 16);
		cn_kv_batch_del(batch, TRK_CF_RUNS_BY_EXPERIMENT, k.b, k.len);
	}
	for (size_t i = 0; rc == CN_OK && i < sizeof trk_gc_run_cfs / sizeof trk_gc_run_cfs[0]; i++)
		rc = trk_gc_del_prefix(s, batch, trk_gc_run_cfs[i], r->id, 16, err);
	if (rc == CN_OK)
		rc = cn_kv_write(s->db, batch, err);
	cn_kv_batch_free(batch);
	return rc;
}

static cn_code trk_gc_exp_stage(trk_state *s, cn_fb_str sid, bool *deleted, cn_err *err)
{
	uint64_t eid;
	*deleted = false;
	if (!trk_parse_experiment_id(sid.ptr, sid.len, &eid))
		return CN_OK;
	cn_kv_val val;
	trk_experiment e;
	cn_code rc = trk_experiment_load(s, eid, &val, &e, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return CN_OK; /* an orphan run: its experiment is gone */
	if (rc != CN_OK)
		return rc;
	*deleted = !trk_str_is(e.lifecycle_stage, trk_active_stage);
	trk_experiment_view_free(&e);
	cn_kv_val_release(&val);
	return CN_OK;
}

/* Purge one run. *gone is set when there was nothing (left) to purge.
 * exp_deleted_known: the caller holds the experiment, known to be deleted. */
static cn_code trk_gc_purge_run(trk_state *s, const uint8_t id[16], bool exp_deleted_known,
                                const char *request_id, cn_err *err)
{
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	cn_kv_val val;
	trk_run r;
	cn_code rc = trk_run_load(s, id, &val, &r, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		pthread_mutex_unlock(mu);
		return CN_OK; /* purged already: retries are harmless */
	}
	if (rc != CN_OK) {
		pthread_mutex_unlock(mu);
		return rc;
	}
	bool purgeable = exp_deleted_known || trk_str_is(r.lifecycle_stage, trk_deleted_stage);
	if (!purgeable)
		rc = trk_gc_exp_stage(s, r.experiment_id, &purgeable, err);
	if (rc == CN_OK && !purgeable)
		rc = cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Run %s is not in `deleted` lifecycle stage. Only runs in `deleted` "
		        "lifecycle stage can be deleted.",
		        r.hex);
	if (rc == CN_OK)
		rc = trk_gc_remove_artifacts(s, &r, request_id, err);
	if (rc == CN_OK)
		rc = trk_gc_remove_data(s, &r, err);
	/* The one place a run disappears for good: the search cache forgets it
	 * while the run's stripe is still held. */
	if (rc == CN_OK)
		trk_search_cache_run_forgotten(s, id);
	if (rc == CN_OK)
		CN_LOGI("GC-RUN-PURGED", request_id, "run=%s experiment=%.*s", r.hex,
		        (int)r.experiment_id.len, r.experiment_id.ptr);
	cn_kv_val_release(&val);
	pthread_mutex_unlock(mu);
	return rc;
}

cn_code trk_gc_purge_runs(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                          cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	cn_fb_vec ids = cn_GcPurgeRuns_run_ids(req);
	/* Every id is checked before anything is purged. */
	for (uint32_t i = 0; i < ids.n; i++) {
		uint8_t id[16];
		char hex[33];
		cn_code rc =
		        trk_run_resolve(cn_fb_vec_str(ids, i), (cn_fb_str){NULL, 0}, id, hex, err);
		if (rc != CN_OK)
			return rc;
	}
	int64_t purged = 0;
	for (uint32_t i = 0; i < ids.n; i++) {
		uint8_t id[16];
		char hex[33];
		cn_code rc =
		        trk_run_resolve(cn_fb_vec_str(ids, i), (cn_fb_str){NULL, 0}, id, hex, err);
		if (rc == CN_OK)
			rc = trk_gc_purge_run(s, id, false, ctx->request_id, err);
		if (rc != CN_OK)
			return rc;
		purged++;
	}
	cn_GcPurgeRunsResponse_start(b);
	cn_GcPurgeRunsResponse_add_purged(b, purged);
	*resp = cn_GcPurgeRunsResponse_end(b);
	return CN_OK;
}

/* Run ids of experiment exp (raw 16 bytes each, malloc'd), from runs_by_experiment. */
static cn_code trk_gc_experiment_runs(trk_state *s, uint64_t exp, uint8_t **out, size_t *n,
                                      cn_err *err)
{
	cn_key p;
	cn_key_init(&p);
	cn_key_u64(&p, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS_BY_EXPERIMENT, p.b, p.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t cap = 0, cnt = 0;
	uint8_t *ids = NULL;
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen < 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt runs_by_experiment key");
			break;
		}
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 64;
			uint8_t *g = realloc(ids, nc * 16);
			if (!g) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			ids = g;
			cap = nc;
		}
		memcpy(ids + 16 * cnt++, k + klen - 16, 16);
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

/* Every column family keyed by a logged model's id first (tracking.h). */
static const int trk_gc_model_cfs[] = {TRK_CF_LOGGED_MODEL_PARAMS, TRK_CF_LOGGED_MODEL_TAGS,
                                       TRK_CF_LOGGED_MODEL_METRICS};

/* A logged model's artifacts: "<experiment location>/models/<id>/artifacts"
 * is removed as the tree "models/<id>" of the experiment's location. */
static cn_code trk_gc_remove_model_artifacts(trk_state *s, const trk_lm *m, const char *request_id,
                                             cn_err *err)
{
	if (!m->artifact_uri.ptr || m->artifact_uri.len == 0)
		return CN_OK;
	cn_artifacts *arts;
	cn_code rc = trk_gc_artifacts(s, &arts, err);
	if (rc != CN_OK)
		return rc;
	size_t n = m->artifact_uri.len;
	char *uri = malloc(n + 1);
	if (!uri)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	memcpy(uri, m->artifact_uri.ptr, n);
	uri[n] = '\0';
	char tail[64];
	int tl = snprintf(tail, sizeof tail, "/models/%s/artifacts", m->id_str);
	char sub[48];
	snprintf(sub, sizeof sub, "models/%s", m->id_str);
	cn_store *store;
	char path[CAIRN_PATH_MAX + 1];
	if (n > (size_t)tl && strcmp(uri + n - (size_t)tl, tail) == 0) {
		uri[n - (size_t)tl] = '\0';
		rc = cn_artifacts_locate(arts, uri, sub, &store, path, sizeof path, err);
	} else {
		/* A location of another shape: its own root, emptied. */
		rc = cn_artifacts_locate(arts, uri, NULL, &store, path, sizeof path, err);
	}
	if (rc == CN_OK && path[0] == '\0' && cn_artifacts_is_proxied(uri))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "proxied artifact URI names the whole destination");
	if (rc == CN_INVALID_PARAMETER_VALUE) {
		CN_LOGW("GC-ARTIFACTS-SKIPPED", request_id, "model=%s uri=%.*s reason=\"%s\"",
		        m->id_str, (int)n, m->artifact_uri.ptr, err->msg);
		rc = CN_OK;
	} else if (rc == CN_OK) {
		rc = cn_store_remove(store, path, true, err);
	}
	free(uri);
	return rc;
}

/* Purge every logged model of experiment exp (deleted or not, as MLflow's
 * cascade): artifacts first, then all its keys in one batch per model. */
static cn_code trk_gc_purge_models(trk_state *s, uint64_t exp, const char *request_id,
                                   size_t *purged, cn_err *err)
{
	cn_key p;
	cn_key_init(&p);
	cn_key_u64(&p, exp);
	for (;;) {
		/* One model at a time from the front of the index: each purge
		 * removes its index key, so the loop ends when the index is empty. */
		cn_kv_iter *it =
		        cn_kv_iter_new(s->db, TRK_CF_LOGGED_MODELS_BY_EXPERIMENT, p.b, p.len);
		if (!it)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		cn_kv_iter_seek_first(it);
		uint8_t id[16], ikey[64];
		size_t iklen = 0;
		bool any = cn_kv_iter_valid(it);
		if (any) {
			const uint8_t *k = cn_kv_iter_key(it, &iklen);
			if (iklen < 16 || iklen > sizeof ikey) {
				cn_kv_iter_free(it);
				return cn_err_set(err, CN_DATA_LOSS,
				                  "corrupt logged_models_by_experiment key");
			}
			memcpy(ikey, k, iklen);
			memcpy(id, k + iklen - 16, 16);
		}
		cn_code rc = cn_kv_iter_status(it, err);
		cn_kv_iter_free(it);
		if (rc != CN_OK || !any)
			return rc;
		pthread_mutex_t *mu = trk_lm_stripe(s, id);
		pthread_mutex_lock(mu);
		trk_lm m;
		cn_err e2;
		bool loaded = trk_lm_load(s, id, false, &m, &e2) == CN_OK;
		if (loaded)
			rc = trk_gc_remove_model_artifacts(s, &m, request_id, err);
		cn_kv_batch *batch = NULL;
		if (rc == CN_OK && !(batch = cn_kv_batch_new()))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		if (rc == CN_OK) {
			cn_kv_batch_del(batch, TRK_CF_LOGGED_MODELS_BY_EXPERIMENT, ikey, iklen);
			cn_kv_batch_del(batch, TRK_CF_LOGGED_MODELS, id, 16);
			for (size_t i = 0; rc == CN_OK &&
			                   i < sizeof trk_gc_model_cfs / sizeof trk_gc_model_cfs[0];
			     i++)
				rc = trk_gc_del_prefix(s, batch, trk_gc_model_cfs[i], id, 16, err);
			if (rc == CN_OK)
				rc = cn_kv_write(s->db, batch, err);
		}
		if (batch)
			cn_kv_batch_free(batch);
		if (rc == CN_OK && loaded)
			CN_LOGI("GC-MODEL-PURGED", request_id, "model=%s experiment=%" PRIu64,
			        m.id_str, exp);
		if (loaded)
			trk_lm_free(&m);
		pthread_mutex_unlock(mu);
		if (rc != CN_OK)
			return rc;
		(*purged)++;
	}
}

cn_code trk_gc_purge_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	cn_fb_str sid = cn_GcPurgeExperiment_experiment_id(req);
	uint64_t eid;
	if (!trk_parse_experiment_id(sid.ptr, sid.len, &eid))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%.*s exists", (int)sid.len,
		                  sid.ptr ? sid.ptr : "");
	/* The experiment's stripe (as experiments.c takes it) keeps a restore out. */
	pthread_mutex_t *mu = &s->stripes[eid % TRK_LOCK_STRIPES];
	pthread_mutex_lock(mu);
	cn_kv_val val;
	trk_experiment e;
	cn_code rc = trk_experiment_load(s, eid, &val, &e, err);
	if (rc != CN_OK) {
		pthread_mutex_unlock(mu);
		return rc;
	}
	if (trk_str_is(e.lifecycle_stage, trk_active_stage))
		rc = cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Experiments ['%" PRIu64 "'] are not in the deleted lifecycle stage. "
		        "Only experiments in the deleted lifecycle stage can be hard-deleted.",
		        eid);
	/* Its runs, whatever their state, as MLflow's cascade removes them. No
	 * run can be created meanwhile: the experiment is not active. */
	uint8_t *ids = NULL;
	size_t n = 0;
	if (rc == CN_OK)
		rc = trk_gc_experiment_runs(s, eid, &ids, &n, err);
	for (size_t i = 0; rc == CN_OK && i < n; i++)
		rc = trk_gc_purge_run(s, ids + 16 * i, true, ctx->request_id, err);
	free(ids);
	size_t models = 0;
	if (rc == CN_OK)
		rc = trk_gc_purge_models(s, eid, ctx->request_id, &models, err);
	cn_kv_batch *batch = NULL;
	if (rc == CN_OK && !(batch = cn_kv_batch_new()))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		cn_key k;
		cn_key_init(&k);
		cn_key_u64(&k, eid);
		cn_kv_batch_del(batch, TRK_CF_EXPERIMENTS, k.b, k.len);
		rc = trk_gc_del_prefix(s, batch, TRK_CF_DATASETS, k.b, k.len, err);
		/* The name becomes free, unless (it cannot, but be safe) another
		 * experiment holds it now. */
		uint64_t holder;
		cn_err e2;
		if (rc == CN_OK &&
		    trk_experiment_id_by_name(s, e.name.ptr, e.name.len, &holder, &e2) == CN_OK &&
		    holder == eid)
			cn_kv_batch_del(batch, TRK_CF_EXPERIMENT_NAMES, e.name.ptr, e.name.len);
		if (rc == CN_OK)
			rc = cn_kv_write(s->db, batch, err);
	}
	if (batch)
		cn_kv_batch_free(batch);
	if (rc == CN_OK)
		trk_search_cache_experiment_forgotten(s, eid);
	if (rc == CN_OK)
		CN_LOGI("GC-EXPERIMENT-PURGED", ctx->request_id,
		        "experiment=%" PRIu64 " runs=%zu models=%zu", eid, n, models);
	trk_experiment_view_free(&e);
	cn_kv_val_release(&val);
	pthread_mutex_unlock(mu);
	if (rc != CN_OK)
		return rc;
	cn_GcPurgeExperimentResponse_start(b);
	cn_GcPurgeExperimentResponse_add_runs_purged(b, (int64_t)n);
	*resp = cn_GcPurgeExperimentResponse_end(b);
	return CN_OK;
}
