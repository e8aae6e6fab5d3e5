/* newminor.so: built against a newer minor ABI than the host's. */
#include "broken_common.h"

static const emp_plugin_t desc = {
    .struct_size = sizeof(emp_plugin_t), .abi_major = EMP_PLUGIN_ABI_MAJOR,
    .abi_minor = EMP_PLUGIN_ABI_MINOR + 1, .name = "newminor",
    .create = b_create, .run = b_run, .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
