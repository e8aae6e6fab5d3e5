/* noentry.so: a shared object with no emp_plugin_entry_v1 at all. */
#include "emp_plugin.h"

EMP_PLUGIN_EXPORT int not_a_plugin(void);
EMP_PLUGIN_EXPORT int not_a_plugin(void) { return 42; }
