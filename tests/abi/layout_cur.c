/* layout_cur.c - the same members, from the current header. */
#include "emp_plugin.h"

#include "abi_layout.h"

const abi_layout_t abi_layout_cur = ABI_LAYOUT_INIT;

/* the size of the 1.0 table, as the current header names it */
const size_t abi_cur_host_api_v1_0_size = EMP_HOST_API_V1_0_SIZE;
