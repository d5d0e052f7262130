/* plugins/testing/bad_magic.c: a descriptor whose magic is not Cairn's. */
#include "broken_ops.h"

static const cairn_store_ops bad_magic_ops = {.size = sizeof(cairn_store_ops),
                                              BROKEN_STORE_REQUIRED};

static const cairn_plugin_descriptor bad_magic_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .magic = 0xDEADBEEFu, /* overrides the head's */
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "bad_magic",
        .version = "0.0.1",
        .ops = &bad_magic_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &bad_magic_descriptor;
}
