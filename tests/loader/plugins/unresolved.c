/*
 * unresolved.so: calls a function no library defines. Linked WITHOUT -z defs (unlike real
 * plugins), so the link succeeds and dlopen(RTLD_NOW) fails on the undefined symbol.
 */
#include "broken_common.h"

extern int emp_test_undefined_function(void);

static emp_result_t u_run(void *state, emp_job_t *job)
{
    (void)state;
    (void)job;
    return emp_test_undefined_function() ? EMP_OK : EMP_FAIL;
}

static const emp_plugin_t desc = {
    EMP_PLUGIN_HEADER, .name = "unresolved", .create = b_create, .run = u_run,
    .destroy = b_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &desc; }
