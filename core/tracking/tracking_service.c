/*
 * core/tracking/tracking_service.c: the tracking service's definition, its
 * state's life cycle (open the database, find the next id, make sure the
 * Default experiment exists) and its method table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/store/key.h"
#include "core/tracking/tracking.h"
#include "core/tracking/tracking_int.h"

const char *const trk_cf_names[TRK_CF_COUNT_] = {
        [TRK_CF_EXPERIMENTS] = "experiments",
        [TRK_CF_EXPERIMENT_NAMES] = "experiment_names",
        [TRK_CF_RUNS] = "runs",
        [TRK_CF_RUNS_BY_EXPERIMENT] = "runs_by_experiment",
        [TRK_CF_RUN_PARAMS] = "run_params",
        [TRK_CF_RUN_TAGS] = "run_tags",
        [TRK_CF_RUN_LATEST_METRICS] = "run_latest_metrics",
        [TRK_CF_RUN_METRICS] = "run_metrics",
        [TRK_CF_DATASETS] = "datasets",
        [TRK_CF_RUN_INPUTS] = "run_inputs",
        [TRK_CF_RUN_MODEL_INPUTS] = "run_model_inputs",
        [TRK_CF_LOGGED_MODELS] = "logged_models",
        [TRK_CF_LOGGED_MODELS_BY_EXPERIMENT] = "logged_models_by_experiment",
        [TRK_CF_LOGGED_MODEL_PARAMS] = "logged_model_params",
        [TRK_CF_LOGGED_MODEL_TAGS] = "logged_model_tags",
        [TRK_CF_LOGGED_MODEL_METRICS] = "logged_model_metrics",
        [TRK_CF_RUN_MODEL_OUTPUTS] = "run_model_outputs",
};

/* Where new experiments' artifacts go: MLflow's rules for `mlflow server`. */
static void trk_artifact_root(const cn_config *cfg, char *out, size_t cap)
{
	if (cfg->default_artifact_root[0])
		snprintf(out, cap, "%s", cfg->default_artifact_root);
	else if (cfg->serve_artifacts)
		snprintf(out, cap, "mlflow-artifacts:/");
	else if (cfg->artifacts_destination[0])
		snprintf(out, cap, "%s", cfg->artifacts_destination);
	else
		snprintf(out, cap, "%.480s/artifacts", cfg->data_dir);
}

static cn_code trk_init_ids(trk_state *s, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_EXPERIMENTS, NULL, 0);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_kv_iter_seek_last(it);
	bool any = cn_kv_iter_valid(it);
	uint64_t last = 0;
	if (any) {
		size_t klen, pos = 0;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (!cn_key_get_u64(k, klen, &pos, &last)) {
			cn_kv_iter_free(it);
			return cn_err_set(err, CN_DATA_LOSS, "corrupt experiment key");
		}
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc != CN_OK)
		return rc;
	s->next_experiment_id = any ? last + 1 : 1;
	if (any)
		return CN_OK;
	/* First start: the Default experiment, id 0, as every MLflow store has. */
	char loc[CN_CFG_STR + 8];
	size_t rl = strlen(s->artifact_root);
	int n = snprintf(loc, sizeof loc, "%s%s0", s->artifact_root,
	                 rl && s->artifact_root[rl - 1] == '/' ? "" : "/");
	trk_experiment e = {.id = 0,
	                    .name = {"Default", 7},
	                    .artifact_location = {loc, (uint32_t)n},
	                    .lifecycle_stage = {"active", 6}};
	e.creation_time = e.last_update_time = cn_now_ms();
	return trk_experiment_store(s, &e, NULL, NULL, NULL, err);
}

static void trk_free(trk_state *s)
{
	trk_search_cache_free(s->search_cache);
	trk_gc_close(s);
	if (s->db)
		cn_kv_close(s->db);
	for (int i = 0; i < s->npending; i++)
		free(s->pending[i].name);
	pthread_mutex_destroy(&s->names_mu);
	pthread_cond_destroy(&s->names_cv);
	for (int i = 0; i < TRK_LOCK_STRIPES; i++) {
		pthread_mutex_destroy(&s->stripes[i]);
		pthread_mutex_destroy(&s->run_stripes[i]);
		pthread_mutex_destroy(&s->model_stripes[i]);
	}
	free(s);
}

static cn_code trk_open(void **state, const cn_service_env *env, cn_err *err)
{
	trk_state *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&s->names_mu, NULL);
	pthread_cond_init(&s->names_cv, NULL);
	for (int i = 0; i < TRK_LOCK_STRIPES; i++) {
		pthread_mutex_init(&s->stripes[i], NULL);
		pthread_mutex_init(&s->run_stripes[i], NULL);
		pthread_mutex_init(&s->model_stripes[i], NULL);
	}
	atomic_init(&s->metric_seq, (uint64_t)cn_now_ms() << 16);
	s->events = env->events;
	trk_artifact_root(env->config, s->artifact_root, sizeof s->artifact_root);
	if ((errno = cn_mkdirs(env->data_dir, 0755)) != 0) {
		trk_free(s);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot create data directory %s: %s",
		                  env->data_dir, strerror(errno));
	}
	cn_kv_opts opts = cn_service_kv_opts(env);
	cn_code rc = cn_kv_open(&s->db, env->data_dir, trk_cf_names, TRK_CF_COUNT_, &opts, err);
	if (rc == CN_OK)
		rc = trk_init_ids(s, err);
	if (rc == CN_OK)
		rc = trk_search_cache_new(env->config->search_cache_bytes, &s->search_cache, err);
	if (rc == CN_OK)
		rc = trk_gc_open(s, env->config, err);
	if (rc != CN_OK) {
		trk_free(s);
		return rc;
	}
	*state = s;
	return CN_OK;
}

static void trk_close(void *state)
{
	if (state)
		trk_free(state);
}

static const cn_method trk_methods[] = {
        {"CreateExperiment", trk_create_experiment},
        {"GetExperiment", trk_get_experiment},
        {"GetExperimentByName", trk_get_experiment_by_name},
        {"SearchExperiments", trk_search_experiments},
        {"UpdateExperiment", trk_update_experiment},
        {"DeleteExperiment", trk_delete_experiment},
        {"RestoreExperiment", trk_restore_experiment},
        {"SetExperimentTag", trk_set_experiment_tag},
        {"DeleteExperimentTag", trk_delete_experiment_tag},
        {"CreateRun", trk_create_run},
        {"GetRun", trk_get_run},
        {"UpdateRun", trk_update_run},
        {"DeleteRun", trk_delete_run},
        {"RestoreRun", trk_restore_run},
        {"SetTag", trk_set_tag},
        {"DeleteTag", trk_delete_tag},
        {"LogParam", trk_log_param},
        {"LogMetric", trk_log_metric},
        {"LogBatch", trk_log_batch},
        {"GetMetricHistory", trk_get_metric_history},
        {"GetMetricHistoryBulkInterval", trk_get_metric_history_bulk_interval},
        {"GetMetricHistoryBulk", trk_get_metric_history_bulk},
        {"SearchRuns", trk_search_runs},
        {"LogInputs", trk_log_inputs},
        {"LogModel", trk_log_model},
        {"CreateLoggedModel", trk_create_logged_model},
        {"GetLoggedModel", trk_get_logged_model},
        {"FinalizeLoggedModel", trk_finalize_logged_model},
        {"DeleteLoggedModel", trk_delete_logged_model},
        {"SetLoggedModelTags", trk_set_logged_model_tags},
        {"DeleteLoggedModelTag", trk_delete_logged_model_tag},
        {"LogLoggedModelParamsRequest", trk_log_logged_model_params},
        {"SearchLoggedModels", trk_search_logged_models},
        {"LogOutputs", trk_log_outputs},
        {"SearchDatasets", trk_search_datasets},
        {"GcListCandidates", trk_gc_list_candidates},
        {"GcPurgeRuns", trk_gc_purge_runs},
        {"GcPurgeExperiment", trk_gc_purge_experiment},
};

const cn_service_def cn_tracking_service = {
        .name = "tracking",
        .open = trk_open,
        .close = trk_close,
        .methods = trk_methods,
        .nmethods = sizeof trk_methods / sizeof trk_methods[0],
};
