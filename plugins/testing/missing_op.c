/* plugins/testing/missing_op.c: a store whose required get_read is NULL. */
#include "broken_ops.h"

static const cairn_store_ops missing_op_ops = {.size = sizeof(cairn_store_ops),
                                               BROKEN_STORE_REQUIRED_BUT_GET_READ};

static const cairn_plugin_descriptor missing_op_descriptor = {
        CAIRN_PLUGIN_HEAD,      .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "missing_op",   .version = "0.0.1",
        .ops = &missing_op_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &missing_op_descriptor;
}
