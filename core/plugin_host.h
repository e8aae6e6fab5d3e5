/*
 * plugin_host.h - a loaded plugin instance and the host API table handed to it.
 *
 * Owns: the dlopen handle, the plugin's state pointer (through create/destroy), the services
 * it serves, the models it reported, and the option bookkeeping (which keys were asked for,
 * so that unknown options are errors with file:line).
 * Threading: create/destroy/cancel on the control thread; start/run/stop on the job thread.
 */
#ifndef EMP_PLUGIN_HOST_H
#define EMP_PLUGIN_HOST_H

#include <pthread.h>
#include <stddef.h>

#include "config.h"
#include "emp_plugin.h"
#include "errlist.h"
#include "job.h"

typedef enum emp_inst_state {
    EMP_INST_NEW = 0,   /* created, never started */
    EMP_INST_READY,     /* start said READY */
    EMP_INST_NOT_READY, /* start said NOT_READY: retry later */
    EMP_INST_FATAL      /* start said FATAL or create failed: never used */
} emp_inst_state_t;

typedef struct emp_plugin_inst {
    const emp_plugin_t *desc; /* borrowed from the .so */
    void *dl;                 /* dlopen handle (NULL for linked-in plugins) */
    void *state;              /* the plugin's own */
    char *path;
    char *name;
    const emp_connector_cfg_t *cfg;  /* borrowed (NULL in run-plugin mode) */
    emp_option_override_t *cli_opts; /* borrowed (run-plugin --option k=v) */
    size_t ncli_opts;
    char **services; /* owned, NULL-terminated */
    size_t nservices;
    int timeout_minutes;   /* 0 = default */
    const char *worker_id; /* borrowed from config */
    int gpu;

    int created;
    int started;             /* start was called at least once (stop is due) */
    int state_ready;         /* emp_inst_state_t, set by the job thread (atomic) */
    long long next_start_ms; /* when to try start again (NOT_READY backoff) */
    int start_failures;

    pthread_mutex_t mu; /* guards models_json and current_job */
    char *models_json;
    struct emp_job *current_job;

    char **used_keys; /* option keys asked for during create */
    size_t nused;
    emp_errlist_t *opt_errors; /* where option errors go during create (borrowed) */
} emp_plugin_inst_t;

/* Load <dir>/<name>.so: permission checks (not group/world-writable, owned by root or us),
 * dlopen RTLD_NOW|RTLD_LOCAL, ABI checks. NULL with a precise message in err on failure. */
emp_plugin_inst_t *emp_plugin_load(const char *dir, const char *name, char *err, size_t errlen);
/* Same for a descriptor linked into the binary (tests). */
emp_plugin_inst_t *emp_plugin_from_descriptor(const emp_plugin_t *desc);

/* Call create with the host API; option errors (including unknown options) go to `e`.
 * Returns 0 or -1. */
int emp_plugin_create(emp_plugin_inst_t *inst, emp_errlist_t *e);
/* destroy (if created) + dlclose + free. NULL allowed. */
void emp_plugin_unload(emp_plugin_inst_t *inst);

/* Does this instance serve `service`? */
int emp_plugin_serves(const emp_plugin_inst_t *inst, const char *service);

/* The host API table (static, shared by all instances). */
const emp_host_api_t *emp_host_api(void);

/* Check a plugin directory for --list-plugins: calls cb for every *.so found. */
typedef void (*emp_plugin_list_cb)(const char *path, const emp_plugin_t *desc, const char *error,
                                   void *arg);
int emp_plugin_scan(const char *dir, emp_plugin_list_cb cb, void *arg);

/* Resolve the plugin directory: configured, else next to the binary. Caller frees. */
char *emp_plugin_default_dir(void);

#endif
