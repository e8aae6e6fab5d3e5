/* small.so: a descriptor whose struct_size is smaller than the v1.0 layout. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    .struct_size = 16, .abi_major = EMP_PLUGIN_ABI_MAJOR, .abi_minor = EMP_PLUGIN_ABI_MINOR,
    .name = "small", .create = b_create, .run = b_run, .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
