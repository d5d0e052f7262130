/*
 * core/prompts/prompts_service.c: the prompts service's definition, its
 * state's life cycle (links database, bus clients to the registry and
 * tracking) and its method table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/prompts/prompts.h"
#include "core/prompts/prompts_int.h"

static const char *const pr_cf_names[PR_CF_COUNT_] = {[PR_CF_LINKS] = "links"};

static void pr_free(pr_state *s)
{
	for (int i = 0; i < PR_PEERS_; i++)
		cn_bus_client_close(s->peers[i]);
	if (s->db)
		cn_kv_close(s->db);
	pthread_mutex_destroy(&s->run_mu);
	free(s);
}

static cn_code pr_open(void **state, const cn_service_env *env, cn_err *err)
{
	pr_state *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&s->run_mu, NULL);
	s->events = env->events;
	const cn_config *cfg = env->config;
	s->timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 30000;
	if ((errno = cn_mkdirs(env->data_dir, 0755)) != 0) {
		pr_free(s);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot create data directory %s: %s",
		                  env->data_dir, strerror(errno));
	}
	cn_kv_opts opts = cn_service_kv_opts(env);
	cn_code rc = cn_kv_open(&s->db, env->data_dir, pr_cf_names, PR_CF_COUNT_, &opts, err);
	cn_bus_tls tls = {cfg->tls_cert[0] ? cfg->tls_cert : NULL,
	                  cfg->tls_key[0] ? cfg->tls_key : NULL,
	                  cfg->tls_ca[0] ? cfg->tls_ca : NULL,
	                  cfg->tls_server_name[0] ? cfg->tls_server_name : NULL};
	static const char *const peers[PR_PEERS_] = {"registry", "tracking"};
	for (int i = 0; rc == CN_OK && i < PR_PEERS_; i++) {
		const char *addr = cn_config_service_addr(cfg, peers[i]);
		/* Without the registry nothing here works: refuse to start. Without
		 * tracking only lineage of runs fails (503 naming the setting). */
		if (!addr || !*addr) {
			if (i == PR_REGISTRY)
				rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                "the prompts service needs the registry's address: "
				                "--service registry=ADDRESS");
			continue;
		}
		snprintf(s->peer_addr[i], sizeof s->peer_addr[i], "%s", addr);
		rc = cn_bus_client_open(&s->peers[i], peers[i], addr, &tls, err);
	}
	if (rc != CN_OK) {
		pr_free(s);
		return rc;
	}
	*state = s;
	return CN_OK;
}

static void pr_close(void *state)
{
	if (state)
		pr_free(state);
}

static const cn_method pr_methods[] = {
        {"CreatePrompt", pr_create_prompt},
        {"GetPrompt", pr_get_prompt},
        {"DeletePrompt", pr_delete_prompt},
        {"SearchPrompts", pr_search_prompts},
        {"SetPromptAlias", pr_set_alias},
        {"DeletePromptAlias", pr_delete_alias},
        {"SetPromptTag", pr_set_tag},
        {"DeletePromptTag", pr_delete_tag},
        {"CreatePromptVersion", pr_create_version},
        {"GetPromptVersion", pr_get_version},
        {"ListPromptVersions", pr_list_versions},
        {"DeletePromptVersion", pr_delete_version},
        {"RenderPrompt", pr_render_prompt},
        {"DiffPromptVersions", pr_diff_versions},
        {"LinkPromptVersions", pr_link},
        {"GetPromptLineage", pr_lineage},
};

const cn_service_def cn_prompts_service = {
        .name = "prompts",
        .open = pr_open,
        .close = pr_close,
        .methods = pr_methods,
        .nmethods = sizeof pr_methods / sizeof pr_methods[0],
};
