/*
 * broken_common.h - callbacks shared by the deliberately broken test plugins in this folder.
 * Each broken plugin is one tiny .c file whose descriptor (or missing symbol) is wrong in
 * exactly one way; the callbacks themselves are valid.
 */
#ifndef BROKEN_COMMON_H
#define BROKEN_COMMON_H

#include "emp_plugin.h"

static inline int b_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    (void)api;
    (void)host;
    *state_out = NULL;
    return 0;
}

static inline emp_result_t b_run(void *state, emp_job_t *job)
{
    (void)state;
    (void)job;
    return EMP_OK;
}

static inline void b_destroy(void *state) { (void)state; }

#endif
