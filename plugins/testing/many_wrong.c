/*
 * plugins/testing/many_wrong.c: several fields wrong at once (newer minor,
 * name not matching the file, no version, MULTIPART without its ops, a
 * required op missing), so the loader must name each one.
 */
#include "broken_ops.h"

static const cairn_store_ops many_wrong_ops = {.size = CAIRN_STORE_OPS_SIZE_1_0,
                                               BROKEN_STORE_REQUIRED_BUT_GET_READ};

static const cairn_plugin_descriptor many_wrong_descriptor = {
        .magic = CAIRN_PLUGIN_MAGIC,
        .size = sizeof(cairn_plugin_descriptor),
        .abi_major = CAIRN_PLUGIN_ABI_MAJOR,
        .abi_minor = CAIRN_PLUGIN_ABI_MINOR + 3,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "someone_else",
        .version = NULL,
        .capabilities = CAIRN_STORE_CAP_MULTIPART,
        .ops = &many_wrong_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &many_wrong_descriptor;
}
