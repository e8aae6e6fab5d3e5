/*
 * config_env.h - environment variables of the existing deployment that override the config
 * files: the emp-job-queue worker's own (HUB_REDIS_URL, WORKER_ID, MACHINE_ID, ...) and the
 * legacy emp-worker-old/mgpu names (WORKER_REDIS_API_HOST, WORKER_CONNECTORS,
 * WORKER_BASE_COMFYUI_PORT, ...). The table of names is in config_env.c and in the README.
 */
#ifndef EMP_CONFIG_ENV_H
#define EMP_CONFIG_ENV_H

#include "config.h"

typedef char *(*emp_getenv_fn)(const char *name);

/* Scalar overrides (Redis URL, ids, timeouts, capabilities). Called before conf.d is read. */
void emp_config_env_apply(emp_config_t *c, emp_getenv_fn get, emp_errlist_t *e);
/* Connector selection and per-connector overrides (WORKER_CONNECTORS, ports, hosts).
 * Called after conf.d is read and before disabled connectors are dropped. */
void emp_config_env_connectors(emp_config_t *c, emp_getenv_fn get, emp_errlist_t *e);

/* The i-th environment variable this module reads (0-based), NULL past the last: for tests
 * and fuzzers that must start from (or vary) exactly the variables the worker looks at. */
const char *emp_config_env_name(size_t i);

#endif
