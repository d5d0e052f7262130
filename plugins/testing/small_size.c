/* plugins/testing/small_size.c: a descriptor claiming fewer bytes than ABI 1.0 has. */
#include "broken_ops.h"

static const cairn_store_ops small_size_ops = {.size = sizeof(cairn_store_ops),
                                               BROKEN_STORE_REQUIRED};

static const cairn_plugin_descriptor small_size_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .size = 12, /* overrides the head's: magic, size and version only */
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "small_size",
        .version = "0.0.1",
        .ops = &small_size_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &small_size_descriptor;
}
