/*
 * worker.h - the worker for one GPU: the control loop that claims jobs, runs them on the job
 * thread, and writes their outcomes (worker.c). Returns the process exit code.
 * Borrowed: the config and the created plugin instances (the caller unloads them).
 */
#ifndef EMP_WORKER_H
#define EMP_WORKER_H

#include <stddef.h>

#include "config.h"
#include "plugin_host.h"

int emp_worker_run(emp_config_t *cfg, emp_plugin_inst_t **insts, size_t ninsts);

#endif
