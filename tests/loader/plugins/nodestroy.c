/* nodestroy.so: the mandatory destroy callback is NULL. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    EMP_PLUGIN_HEADER, .name = "nodestroy", .create = b_create, .run = b_run,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
