/* misnamed.so: a valid plugin whose descriptor calls itself "othername". */
#include "broken_common.h"

static const emp_plugin_t desc = {
    EMP_PLUGIN_HEADER, .name = "othername", .create = b_create, .run = b_run,
    .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
