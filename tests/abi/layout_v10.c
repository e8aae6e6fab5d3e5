/* layout_v10.c - the ABI 1.0 layout, from the frozen copy of the 1.0 header. */
#include "emp_plugin_v1_0.h"

#include "abi_layout.h"

_Static_assert(EMP_PLUGIN_ABI_MINOR == 0, "fixtures/emp_plugin_v1_0.h must stay the 1.0 header");

const abi_layout_t abi_layout_v1_0 = ABI_LAYOUT_INIT;
