/*
 * comfyui_plugin.c - the descriptor and lifecycle of comfyui.so (the only exported symbol).
 *
 * create reads the options and builds the HTTP and WebSocket clients (no network I/O);
 * start probes the backend; run follows one job (comfyui_job.c); cancel only wakes the job
 * thread up; stop closes any connection; destroy frees everything.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "comfyui_config.h"
#include "comfyui_job.h"
#include "comfyui_probe.h"
#include "emp_plugin.h"

static int cfy_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    cfy_state_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        api->log(host, EMP_LOG_ERROR, "out of memory");
        return -1;
    }
    s->api = api;
    s->host = host;
    if (cfy_config_read(&s->cfg, api, host) != 0) {
        free(s);
        return -1;
    }
    char err[200];
    s->http = cfy_http_new();
    s->ws = s->http ? cfy_ws_new(s->cfg.tls, s->cfg.tls_ca_file, err, sizeof err) : NULL;
    if (s->http == NULL || s->ws == NULL) {
        api->log(host, EMP_LOG_ERROR, "cannot set up the ComfyUI clients: %s",
                 s->http ? err : "curl_multi_init failed");
        cfy_http_free(s->http);
        cfy_config_free(&s->cfg);
        free(s);
        return -1;
    }
    api->log(host, EMP_LOG_INFO, "ComfyUI backend %s (outputs: %s, inactivity timeout %ld ms)",
             s->cfg.base_url, s->cfg.outputs == CFY_OUTPUTS_BASE64 ? "base64" : "urls",
             s->cfg.inactivity_timeout_ms);
    *state_out = s;
    return 0;
}

static emp_start_t cfy_start(void *state) { return cfy_probe(state); }

static emp_result_t cfy_run(void *state, emp_job_t *job) { return cfy_job_run(state, job); }

static void cfy_cancel(void *state, emp_job_t *job)
{
    (void)job;
    cfy_job_cancel(state);
}

static void cfy_stop(void *state)
{
    cfy_state_t *s = state;
    cfy_ws_close(s->ws);
}

static void cfy_destroy(void *state)
{
    cfy_state_t *s = state;
    if (s == NULL)
        return;
    cfy_ws_free(s->ws);
    cfy_http_free(s->http);
    cfy_config_free(&s->cfg);
    free(s);
}

static const char *const cfy_services[] = {"comfyui", NULL};

static const emp_plugin_t cfy_plugin = {
    EMP_PLUGIN_HEADER_MINOR(0), /* uses no ABI 1.1 function: loads in 1.0 hosts too */
    .name = "comfyui",
    .version = "1.0.0",
    .description = "ComfyUI connector: POST /prompt + /ws events, /history outputs, interrupt",
    .services = cfy_services,
    .create = cfy_create,
    .start = cfy_start,
    .run = cfy_run,
    .cancel = cfy_cancel,
    .stop = cfy_stop,
    .destroy = cfy_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &cfy_plugin; }
