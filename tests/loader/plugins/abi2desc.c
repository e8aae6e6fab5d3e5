/* abi2desc.so: the v1 entry symbol, but the descriptor says ABI major 2. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    .struct_size = sizeof(emp_plugin_t), .abi_major = 2, .abi_minor = 0, .name = "abi2desc",
    .create = b_create, .run = b_run, .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
