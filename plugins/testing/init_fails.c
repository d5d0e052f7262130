/* plugins/testing/init_fails.c: a valid descriptor whose init refuses to start. */
#include "broken_ops.h"

static const cairn_store_ops init_fails_ops = {.size = sizeof(cairn_store_ops),
                                               BROKEN_STORE_REQUIRED};

static int init_fails_init(const cairn_host_api *host, void **state, cairn_error *err)
{
	return cairn_error_set(err, CAIRN_ERR_PERMISSION, "credentials for %s are missing",
	                       "init_fails");
}

static void init_fails_fini(void *state)
{
}

static const cairn_plugin_descriptor init_fails_descriptor = {
        CAIRN_PLUGIN_HEAD,       .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "init_fails",    .version = "0.0.1",
        .ops = &init_fails_ops,  .init = init_fails_init,
        .fini = init_fails_fini,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &init_fails_descriptor;
}
