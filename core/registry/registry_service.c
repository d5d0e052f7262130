/*
 * core/registry/registry_service.c: the registry service's definition, its
 * state's life cycle and its method table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/registry/registry.h"
#include "core/registry/registry_int.h"

static const char *const reg_cf_names[REG_CF_COUNT_] = {
        [REG_CF_MODELS] = "models",
        [REG_CF_VERSIONS] = "versions",
        [REG_CF_COUNTERS] = "version_counters",
        [REG_CF_WEBHOOKS] = "webhooks",
        [REG_CF_DELIVERIES] = "webhook_deliveries",
        [REG_CF_STAGES] = "version_stages",
};

static void reg_free(reg_state *s)
{
	reg_webhooks_stop(s);
	if (s->tracking)
		cn_bus_client_close(s->tracking);
	reg_wh_log_close(s);
	if (s->db)
		cn_kv_close(s->db);
	pthread_mutex_destroy(&s->tracking_mu);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static cn_code reg_open(void **state, const cn_service_env *env, cn_err *err)
{
	reg_state *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->tracking_mu, NULL);
	s->events = env->events;
	s->config = env->config;
	cn_code rc = reg_wh_log_open(s, err);
	if (rc != CN_OK) {
		reg_free(s);
		return rc;
	}
	if ((errno = cn_mkdirs(env->data_dir, 0755)) != 0) {
		reg_free(s);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot create data directory %s: %s",
		                  env->data_dir, strerror(errno));
	}
	cn_kv_opts opts = cn_service_kv_opts(env);
	rc = cn_kv_open(&s->db, env->data_dir, reg_cf_names, REG_CF_COUNT_, &opts, err);
	if (rc != CN_OK) {
		reg_free(s);
		return rc;
	}
	rc = reg_stage_index_backfill(s, err);
	if (rc == CN_OK)
		rc = reg_webhooks_start(s, err);
	if (rc != CN_OK) {
		reg_free(s);
		return rc;
	}
	*state = s;
	return CN_OK;
}

static void reg_close(void *state)
{
	if (state)
		reg_free(state);
}

static const cn_method reg_methods[] = {
        {"CreateRegisteredModel", reg_create_model},
        {"GetRegisteredModel", reg_get_model},
        {"RenameRegisteredModel", reg_rename_model},
        {"UpdateRegisteredModel", reg_update_model},
        {"DeleteRegisteredModel", reg_delete_model},
        {"SearchRegisteredModels", reg_search_models},
        {"GetLatestVersions", reg_get_latest_versions},
        {"SetRegisteredModelTag", reg_set_model_tag},
        {"DeleteRegisteredModelTag", reg_delete_model_tag},
        {"SetRegisteredModelAlias", reg_set_alias},
        {"DeleteRegisteredModelAlias", reg_delete_alias},
        {"GetModelVersionByAlias", reg_get_by_alias},
        {"CreateModelVersion", reg_create_version},
        {"CreatePromptModelVersion", reg_create_prompt_version},
        {"GetModelVersion", reg_get_version},
        {"UpdateModelVersion", reg_update_version},
        {"DeleteModelVersion", reg_delete_version},
        {"SearchModelVersions", reg_search_versions},
        {"GetModelVersionDownloadUri", reg_get_download_uri},
        {"SetModelVersionTag", reg_set_version_tag},
        {"DeleteModelVersionTag", reg_delete_version_tag},
        {"TransitionModelVersionStage", reg_transition_stage},
        {"ResolveModelUri", reg_resolve_uri},
        {"CreateWebhook", reg_create_webhook},
        {"ListWebhooks", reg_list_webhooks},
        {"GetWebhook", reg_get_webhook},
        {"UpdateWebhook", reg_update_webhook},
        {"DeleteWebhook", reg_delete_webhook},
        {"TestWebhook", reg_test_webhook},
        {"ListWebhookDeliveries", reg_list_webhook_deliveries},
};

const cn_service_def cn_registry_service = {
        .name = "registry",
        .open = reg_open,
        .close = reg_close,
        .methods = reg_methods,
        .nmethods = sizeof reg_methods / sizeof reg_methods[0],
};
