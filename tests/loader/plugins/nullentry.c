/* nullentry.so: the entry symbol returns NULL. */
#include "emp_plugin.h"

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return NULL; }
