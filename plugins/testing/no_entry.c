/* plugins/testing/no_entry.c: a shared object that exports no cairn_plugin_entry. */
#include "broken_ops.h"

CAIRN_PLUGIN_EXPORT int cairn_plugin_entry_point(void);

/* A plausible typo of the real entry name. */
CAIRN_PLUGIN_EXPORT int cairn_plugin_entry_point(void)
{
	return 42;
}
