/* abi2sym.so: a plugin of a future major ABI: it exports emp_plugin_entry_v2 only. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    EMP_PLUGIN_HEADER, .name = "abi2sym", .create = b_create, .run = b_run, .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *emp_plugin_entry_v2(void);
EMP_PLUGIN_EXPORT const emp_plugin_t *emp_plugin_entry_v2(void) { return &desc; }
