/*
 * core/traces/traces_service.c: the traces service's definition, its
 * state's life cycle (database, experiment facts, retention thread) and its
 * method table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/traces/traces.h"
#include "core/traces/traces_int.h"
#include "core/traces/assessments.h"
#include "core/traces/trace_metrics.h"

const char *const trc_cf_names[TRC_CF_COUNT_] = {
        [TRC_CF_INFO] = "trace_info",
        [TRC_CF_SPANS] = "trace_spans",
        [TRC_CF_BY_TIME] = "traces_by_time",
        [TRC_CF_TAG_INDEX] = "trace_tag_index",
        [TRC_CF_META_INDEX] = "trace_metadata_index",
        [TRC_CF_RUN_LINKS] = "trace_run_links",
        [TRC_CF_ASSESSMENTS] = "trace_assessments",
};

/* Where trace artifacts would go when the experiment's location is unknown
 * (no tracking service to ask): MLflow's rules for `mlflow server`. */
static void trc_artifact_root(const cn_config *cfg, char *out, size_t cap)
{
	if (cfg->default_artifact_root[0])
		snprintf(out, cap, "%s", cfg->default_artifact_root);
	else if (cfg->serve_artifacts)
		snprintf(out, cap, "mlflow-artifacts:/");
	else
		snprintf(out, cap, "%s", cfg->artifacts_destination);
}

static void trc_free(trc_state *s)
{
	trc_retention_stop(s);
	trc_exps_close(s);
	if (s->db)
		cn_kv_close(s->db);
	for (int i = 0; i < TRC_LOCK_STRIPES; i++)
		pthread_mutex_destroy(&s->stripes[i]);
	free(s);
}

static cn_code trc_open(void **state, const cn_service_env *env, cn_err *err)
{
	trc_state *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (int i = 0; i < TRC_LOCK_STRIPES; i++)
		pthread_mutex_init(&s->stripes[i], NULL);
	atomic_init(&s->ingest_inflight, 0);
	s->ingest_budget = env->config->trace_ingest_budget_mb * 1024 * 1024;
	s->default_ttl_ms = env->config->trace_ttl_ms;
	s->retention_interval_ms = env->config->trace_retention_interval_ms;
	trc_artifact_root(env->config, s->artifact_root, sizeof s->artifact_root);
	cn_code rc = CN_OK;
	if ((errno = cn_mkdirs(env->data_dir, 0755)) != 0) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "cannot create data directory %s: %s",
		                env->data_dir, strerror(errno));
		goto fail;
	}
	cn_kv_opts opts = cn_service_kv_opts(env);
	/* Span content is written once per span and read only for GetTrace:
	 * LZ4 on it was a twentieth of ingestion's CPU (flush and compaction). */
	const char *const bulk[] = {trc_cf_names[TRC_CF_SPANS]};
	opts.bulk_cfs = bulk;
	opts.nbulk = 1;
	rc = cn_kv_open(&s->db, env->data_dir, trc_cf_names, TRC_CF_COUNT_, &opts, err);
	if (rc == CN_OK)
		rc = trc_exps_open(s, env->config, err);
	if (rc == CN_OK)
		rc = trc_retention_start(s, err);
	if (rc != CN_OK)
		goto fail;
	*state = s;
	return CN_OK;
fail:
	trc_free(s);
	return rc;
}

static void trc_close(void *state)
{
	if (state)
		trc_free(state);
}

static const cn_method trc_methods[] = {
        {"StartTraceV3", trc_start_trace_v3},
        {"GetTraceInfoV3", trc_get_trace_info_v3},
        {"GetTrace", trc_get_trace},
        {"BatchGetTraces", trc_batch_get_traces},
        {"BatchGetTraceInfos", trc_batch_get_trace_infos},
        {"SearchTracesV3", trc_search_traces_v3},
        {"SetTraceTagV3", trc_set_trace_tag_v3},
        {"DeleteTraceTagV3", trc_delete_trace_tag_v3},
        {"DeleteTracesV3", trc_delete_traces_v3},
        {"LinkTracesToRun", trc_link_traces_to_run},
        {"StartTrace", trc_start_trace_v2},
        {"EndTrace", trc_end_trace_v2},
        {"GetTraceInfo", trc_get_trace_info_v2},
        {"SearchTraces", trc_search_traces_v2},
        {"SetTraceTag", trc_set_trace_tag_v2},
        {"DeleteTraceTag", trc_delete_trace_tag_v2},
        {"DeleteTraces", trc_delete_traces_v2},
        {"GetTraceArtifact", trc_get_trace_artifact},
        {"IngestSpans", trc_ingest_spans},
        {"LogSpans", trc_ingest_spans},
        {"CreateAssessment", trc_create_assessment},
        {"GetAssessmentRequest", trc_get_assessment},
        {"UpdateAssessment", trc_update_assessment},
        {"DeleteAssessmentRequest", trc_delete_assessment},
        {"GetTraceMetrics", trc_get_trace_metrics},
};

const cn_service_def cn_traces_service = {
        .name = "traces",
        .open = trc_open,
        .close = trc_close,
        .methods = trc_methods,
        .nmethods = sizeof trc_methods / sizeof trc_methods[0],
};
