/* plugins/testing/new_minor.c: built for a minor newer than the host's. */
#include "broken_ops.h"

static const cairn_store_ops new_minor_ops = {.size = sizeof(cairn_store_ops),
                                              BROKEN_STORE_REQUIRED};

static const cairn_plugin_descriptor new_minor_descriptor = {
        .magic = CAIRN_PLUGIN_MAGIC,
        .size = sizeof(cairn_plugin_descriptor),
        .abi_major = CAIRN_PLUGIN_ABI_MAJOR,
        .abi_minor = CAIRN_PLUGIN_ABI_MINOR + 7,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "new_minor",
        .version = "0.0.1",
        .ops = &new_minor_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &new_minor_descriptor;
}
