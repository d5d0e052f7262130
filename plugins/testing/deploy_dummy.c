/*
 * plugins/testing/deploy_dummy.c: a valid deployment target that does
 * nothing, to test loading of the deploy kind and the init/fini order:
 * init reads the setting "deploy.dummy.fini_file" through the host table and
 * fini writes "fini" into that file, which the test then reads.
 */
#include "broken_ops.h"

#include <stdlib.h>
#include <string.h>

typedef struct dummy_state {
	char path[512];
} dummy_state;

static int dummy_init(const cairn_host_api *host, void **state, cairn_error *err)
{
	const char *path = host->config_get("deploy.dummy.fini_file");
	dummy_state *s = calloc(1, sizeof *s);
	if (!s)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (path)
		snprintf(s->path, sizeof s->path, "%s", path);
	host->log(CAIRN_LOG_INFO, "DEPLOY-DUMMY-INIT", "dummy target ready (fini file %s)",
	          path ? path : "none");
	*state = s;
	return CAIRN_OK;
}

static void dummy_fini(void *state)
{
	dummy_state *s = state;
	if (s->path[0]) {
		FILE *f = fopen(s->path, "w");
		if (f) {
			fputs("fini", f);
			fclose(f);
		}
	}
	free(s);
}

static const cairn_deploy_ops dummy_ops = {
        .size = sizeof(cairn_deploy_ops),
        .open = broken_deploy_open,
        .close = broken_deploy_close,
        .create_deployment = broken_deploy_op,
        .delete_deployment = broken_deploy_op,
        .get_deployment = broken_deploy_op,
        .list_deployments = broken_deploy_op,
        .predict = broken_deploy_op,
};

static const cairn_plugin_descriptor dummy_descriptor = {
        CAIRN_PLUGIN_HEAD,  .kind = CAIRN_PLUGIN_DEPLOY_TARGET,
        .name = "dummy",    .version = "0.0.1",
        .ops = &dummy_ops,  .init = dummy_init,
        .fini = dummy_fini,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &dummy_descriptor;
}
