/* plugins/testing/wrong_kind.c: a deployment target in an artifact store's file. */
#include "broken_ops.h"

static const cairn_deploy_ops wrong_kind_ops = {
        .size = sizeof(cairn_deploy_ops),
        .open = broken_deploy_open,
        .close = broken_deploy_close,
        .create_deployment = broken_deploy_op,
        .delete_deployment = broken_deploy_op,
        .get_deployment = broken_deploy_op,
        .list_deployments = broken_deploy_op,
        .predict = broken_deploy_op,
};

static const cairn_plugin_descriptor wrong_kind_descriptor = {
        CAIRN_PLUGIN_HEAD,      .kind = CAIRN_PLUGIN_DEPLOY_TARGET,
        .name = "wrong_kind",   .version = "0.0.1",
        .ops = &wrong_kind_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &wrong_kind_descriptor;
}
