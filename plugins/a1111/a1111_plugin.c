/*
 * a1111_plugin.c - the AUTOMATIC1111 connector's descriptor and lifecycle glue.
 *
 * Owns: the only exported symbol (emp_plugin_entry_v1) and the a1111_state_t of each instance.
 * The work is done elsewhere: options in a1111_config.c, start's probes in a1111_probe.c, a
 * job in a1111_job.c.
 */
#include <stdlib.h>

#include "a1111_job.h"
#include "a1111_probe.h"
#include "a1111_state.h"
#include "emp_plugin.h"

CURLM *a1111_state_multi(a1111_state_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->multi == NULL)
        s->multi = curl_multi_init();
    CURLM *m = s->multi;
    pthread_mutex_unlock(&s->mu);
    return m;
}

void a1111_state_close(a1111_state_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    s->multi = NULL;
    pthread_mutex_unlock(&s->mu);
}

static int a1111_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    a1111_state_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        api->log(host, EMP_LOG_ERROR, "out of memory");
        return -1;
    }
    s->api = api;
    s->host = host;
    if (a1111_config_read(api, host, &s->cfg) != 0 || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return -1;
    }
    api->log(host, EMP_LOG_DEBUG, "A1111 backend %s%s, output %s", s->cfg.base_url,
             s->cfg.username ? " (basic auth)" : "",
             s->cfg.output == A1111_OUTPUT_FILES ? "files" : "inline");
    *state_out = s;
    return 0;
}

static emp_start_t a1111_start(void *state) { return a1111_probe(state); }

static emp_result_t a1111_run(void *state, emp_job_t *job) { return a1111_job_run(state, job); }

/* Control thread: the cancel flag and fd are already raised; wake the job loop so that it
 * sends the interrupt at once. Never blocks beyond the mutex that guards the handle. */
static void a1111_cancel(void *state, emp_job_t *job)
{
    a1111_state_t *s = state;
    (void)job;
    pthread_mutex_lock(&s->mu);
    if (s->multi)
        curl_multi_wakeup(s->multi);
    pthread_mutex_unlock(&s->mu);
}

static void a1111_stop(void *state) { a1111_state_close(state); }

static void a1111_destroy(void *state)
{
    a1111_state_t *s = state;
    if (s == NULL)
        return;
    a1111_state_close(s);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const char *const a1111_services[] = {"a1111", NULL};

/* Claims ABI 1.0: the plugin calls no host function appended later (it does its own HTTP, on
 * one multi handle, because the generation call and the progress polls run side by side). */
static const emp_plugin_t a1111_plugin = {
    EMP_PLUGIN_HEADER_MINOR(0),
    .name = "a1111",
    .version = "0.1.0",
    .description = "AUTOMATIC1111 stable-diffusion-webui (v1.8+ API): txt2img/img2img with "
                   "progress polling and interrupt",
    .services = a1111_services,
    .create = a1111_create,
    .start = a1111_start,
    .run = a1111_run,
    .cancel = a1111_cancel,
    .stop = a1111_stop,
    .destroy = a1111_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void);
EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &a1111_plugin; }
