/*
 * config.h - the worker's configuration: the libconfig main file, the conf.d directory,
 * environment overrides, and the selection of one GPU.
 *
 * Owns: every config_t (the main file and one per conf.d file, kept alive for the whole run
 * so that plugin option lookups can still cite file:line), and every string in emp_config_t.
 * Errors are collected in an emp_errlist_t, never printed here.
 */
#ifndef EMP_CONFIG_H
#define EMP_CONFIG_H

#include <libconfig.h>
#include <stddef.h>

#include "errlist.h"

enum { EMP_LOG_LEVEL_ERROR = 0, EMP_LOG_LEVEL_WARN, EMP_LOG_LEVEL_INFO, EMP_LOG_LEVEL_DEBUG };

/* An option value set from the environment (legacy port variables...); wins over files. */
typedef struct emp_option_override {
    char *key;
    char *value;
    char *source; /* "environment variable WORKER_BASE_COMFYUI_PORT" */
} emp_option_override_t;

/* One connector enabled (by a conf.d file) on the selected GPU. */
typedef struct emp_connector_cfg {
    char *plugin;    /* plugin name: <plugin_dir>/<plugin>.so */
    char **services; /* service_required values; NULL = the plugin's defaults */
    size_t nservices;
    int timeout_minutes;                 /* 0 = jobs.timeout_minutes */
    const config_setting_t *options;     /* conf.d connector.options (may be NULL); borrowed */
    const config_setting_t *gpu_options; /* gpus[i].services.<plugin> (may be NULL); borrowed */
    emp_option_override_t *overrides;    /* owned */
    size_t noverrides;
    char *file; /* the conf.d file that enabled it ("environment" if none) */
    int line;
} emp_connector_cfg_t;

typedef struct emp_config {
    char *main_path;
    config_t main;
    config_t *confd; /* one per conf.d file, in sorted order */
    size_t nconfd;

    /* worker */
    char *machine_id;
    char *worker_id; /* final id (env, config, or built from the format) */
    char *worker_id_format;
    char *plugin_dir;
    char *conf_dir;
    int log_level;

    /* redis */
    char *redis_url;
    int connect_timeout_ms, command_timeout_ms;
    int load_function;
    int max_scan;
    int fallback_poll_ms, wake_jitter_ms;
    int heartbeat_interval_ms, heartbeat_ttl_s, sweep_interval_ms;
    int unified_machine_status;

    /* jobs */
    int timeout_minutes, shutdown_grace_s, cancel_grace_s, progress_interval_ms;
    int retry_backoff_base_ms, retry_backoff_max_ms;
    long long max_result_bytes;

    /* capabilities */
    double ram_gb, gpu_memory_gb;
    char *gpu_model;
    char *isolation;
    char **allowed_customers;
    size_t nallowed;
    char **denied_customers;
    size_t ndenied;
    int max_concurrent_customers;
    char *workflow_id;                   /* WORKER_WORKFLOW_ID restriction, or NULL */
    const config_setting_t *custom_caps; /* capabilities.custom group, borrowed; may be NULL */

    /* GPUs */
    int *gpu_indexes;
    size_t ngpus;
    int gpu;                             /* the selected GPU */
    const config_setting_t *gpu_section; /* borrowed */

    emp_connector_cfg_t *connectors; /* enabled on the selected GPU */
    size_t nconnectors;
} emp_config_t;

/*
 * Load `path` (the main file) and its conf.d, apply environment overrides from `envp`-style
 * getenv, select GPU `gpu` (-1 = the first listed), and validate everything.
 * Returns 0 when e->n stays 0; the config must be freed with emp_config_free either way.
 */
int emp_config_load(emp_config_t *cfg, const char *path, int gpu, emp_errlist_t *e);
void emp_config_free(emp_config_t *cfg);

/* file:line of a setting (file may be NULL for settings made from the environment). */
const char *emp_config_file_of(const config_setting_t *s);

#endif
