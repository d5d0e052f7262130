/* plugins/testing/old_abi.c: built for ABI 0.9, an older major. */
#include "broken_ops.h"

static const cairn_store_ops old_abi_ops = {.size = sizeof(cairn_store_ops), BROKEN_STORE_REQUIRED};

static const cairn_plugin_descriptor old_abi_descriptor = {
        .magic = CAIRN_PLUGIN_MAGIC,
        .size = sizeof(cairn_plugin_descriptor),
        .abi_major = 0,
        .abi_minor = 9,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "old_abi",
        .version = "0.0.1",
        .ops = &old_abi_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &old_abi_descriptor;
}
