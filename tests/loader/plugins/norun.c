/* norun.so: the mandatory run callback is NULL. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    EMP_PLUGIN_HEADER, .name = "norun", .create = b_create, .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
