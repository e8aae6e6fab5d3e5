/*
 * a1111_state.h - one connector instance (what create allocates and destroy frees).
 *
 * Owns: the parsed options, the libcurl multi handle shared by every job of this instance
 * (its connection cache keeps one keep-alive connection to A1111), and what start and run
 * learn about the backend. Threads: the job thread uses everything; the control thread's
 * cancel only takes `mu` to wake the multi handle up.
 */
#ifndef A1111_STATE_H
#define A1111_STATE_H

#include <curl/curl.h>
#include <pthread.h>

#include "a1111_config.h"
#include "emp_plugin.h"

typedef struct a1111_state {
    const emp_host_api_t *api; /* borrowed from the host until destroy */
    emp_host_t *host;
    a1111_config_t cfg;
    pthread_mutex_t mu;     /* guards `multi` against cancel's curl_multi_wakeup */
    CURLM *multi;           /* created on first use (job thread), freed by stop/destroy */
    int have_task_progress; /* start found POST /internal/progress (Gradio UI running) */
    int auth_refused;       /* a run got 401: the next start is FATAL */
} a1111_state_t;

/* The multi handle, created on first use. NULL when curl cannot allocate. Job thread. */
CURLM *a1111_state_multi(a1111_state_t *s);
/* Frees the multi handle (and with it the cached connections). Job thread, no run active. */
void a1111_state_close(a1111_state_t *s);

#endif
