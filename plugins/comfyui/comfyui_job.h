/*
 * comfyui_job - one job from payload to result: inputs, WebSocket, POST /prompt, following
 * the event stream, recovery after a dropped socket, cancellation, history and outputs.
 *
 * Owns: the plugin instance state (cfy_state_t: config, the HTTP and WebSocket clients, both
 * alive from create to destroy) and, during run, everything one job allocates (freed before
 * run returns). Runs on the job thread; cfy_job_cancel is the only entry for other threads.
 */
#ifndef COMFYUI_JOB_H
#define COMFYUI_JOB_H

#include "comfyui_config.h"
#include "comfyui_http.h"
#include "comfyui_ws.h"
#include "emp_plugin.h"

typedef struct cfy_state {
    const emp_host_api_t *api; /* borrowed from the host until destroy */
    emp_host_t *host;
    cfy_config_t cfg;
    cfy_http_t *http; /* owned */
    cfy_ws_t *ws;     /* owned */
} cfy_state_t;

/* Job thread: run one job. */
emp_result_t cfy_job_run(cfy_state_t *s, emp_job_t *job);
/* Any thread, non-blocking: wake the job thread so that it notices the cancel flag. */
void cfy_job_cancel(cfy_state_t *s);

/* Job thread: resolve the configured host to a numeric address for libwebsockets (which has
 * no async DNS). 0 or -1 with a reason in err. */
int cfy_resolve_backend(const cfy_config_t *cfg, char *addr, size_t addrlen, char *err,
                        size_t errlen);

#endif
