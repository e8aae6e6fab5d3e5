/* comfyui_follow.c - following one prompt's event stream (see comfyui_job_internal.h). */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_job_internal.h"
#include "comfyui_util.h"

typedef enum { RECON_OK, RECON_FINISHED, RECON_LOST, RECON_DOWN, RECON_CANCELLED } recon_rc_t;

static void free_str(char **p)
{
    free(*p);
    *p = NULL;
}

static char *dup_s(const char *s) { return s ? strdup(s) : NULL; }

/* The WebSocket layer reports a cancel when the job's cancel fd fired or cancel() woke it up.
 * A wake-up that came late (from the previous job's cancel) is not a cancel of this job. */
int cfy_follow_really_cancelled(job_t *j)
{
    if (j->api->cancelled(j->job))
        return 1;
    cfy_ws_clear_wake(j->s->ws);
    return 0;
}

/* Sleep that ignores cancellation (used while cleaning up after a cancel). */
static void plain_sleep(long ms) { poll(NULL, 0, (int)ms); }

/* ---- events ---- */

static void take_error_detail(job_t *j, const cfy_event_t *ev)
{
    free_str(&j->err_type);
    free_str(&j->err_msg);
    free_str(&j->err_node);
    free_str(&j->err_node_type);
    j->err_type = dup_s(ev->exception_type);
    j->err_msg = dup_s(ev->exception_message);
    j->err_node = dup_s(ev->node_id);
    j->err_node_type = dup_s(ev->node_type);
}

static void take_cached(job_t *j, const cfy_event_t *ev)
{
    for (size_t i = 0; i < j->ncached; i++)
        free(j->cached[i]);
    free(j->cached);
    j->cached = NULL;
    j->ncached = 0;
    if (ev->ncached == 0)
        return;
    j->cached = calloc(ev->ncached, sizeof *j->cached);
    if (j->cached == NULL)
        return;
    for (size_t i = 0; i < ev->ncached; i++)
        if ((j->cached[j->ncached] = strdup(ev->cached_nodes[i])) != NULL)
            j->ncached++;
}

static void on_message(job_t *j, const cfy_ws_msg_t *m)
{
    if (m->oversized) {
        if (j->oversized++ == 0)
            j->api->log(j->s->host, EMP_LOG_WARN,
                        "ignoring a WebSocket message larger than %u bytes", CFY_WS_MAX_MESSAGE);
        return;
    }
    cfy_event_t ev;
    if (cfy_event_parse(m->data, m->len, m->binary, &ev) != 0) {
        if (j->malformed++ == 0)
            j->api->log(j->s->host, EMP_LOG_WARN,
                        "ignoring malformed WebSocket message(s) from ComfyUI (%zu bytes)", m->len);
        cfy_event_free(&ev);
        return;
    }
    int ours;
    if (ev.prompt_id)
        ours = strcmp(ev.prompt_id, j->prompt_id) == 0;
    else /* our socket only gets execution frames of our prompts; the re-sync after a
            reconnect and pre-2024 progress frames carry no prompt_id */
        ours = (ev.type == CFY_EV_EXECUTING && ev.node != NULL) || ev.type == CFY_EV_PROGRESS;
    if (!ours) {
        cfy_event_free(&ev);
        return;
    }
    switch (ev.type) {
    case CFY_EV_EXECUTING:
        if (ev.node == NULL) {
            j->ended = 1;
            j->end_mono = cfy_now_ms();
        }
        break;
    case CFY_EV_EXECUTION_START:
        if (!j->start_mono)
            j->start_mono = cfy_now_ms();
        break;
    case CFY_EV_EXECUTION_CACHED: take_cached(j, &ev); break;
    case CFY_EV_EXECUTION_ERROR:
        j->ws_error = 1;
        take_error_detail(j, &ev);
        break;
    case CFY_EV_EXECUTION_INTERRUPTED: j->ws_interrupted = 1; break;
    default: break;
    }
    double f;
    char msg[200];
    if (!j->cancelling && cfy_progress_apply(&j->progress, &ev, &f, msg, sizeof msg))
        j->api->progress(j->job, f, msg);
    cfy_event_free(&ev);
}

/* ---- connection ---- */

cfy_ws_rc_t cfy_follow_connect(job_t *j, char *err, size_t errlen)
{
    const cfy_config_t *cfg = &j->s->cfg;
    cfy_ws_target_t t = {.address = j->addr,
                         .port = cfg->port,
                         .tls = cfg->tls,
                         .host_header = cfg->host,
                         .path = j->ws_path,
                         .auth_header = cfg->auth_header};
    long timeout = cfg->connect_timeout_ms;
    if (j->cancelling) {
        int64_t left = j->cancel_deadline - cfy_now_ms();
        timeout = left < 0 ? 0 : (left < timeout ? (long)left : timeout);
    }
    cfy_ws_rc_t rc = cfy_ws_connect(j->s->ws, &t, timeout, err, errlen);
    if (rc == CFY_WS_MESSAGE) /* announce we read preview metadata; 2024 servers ignore it */
        cfy_ws_send_text(j->s->ws, CFY_FEATURE_FLAGS, strlen(CFY_FEATURE_FLAGS));
    return rc;
}

/* The socket dropped mid-job: reconnect with backoff, then catch up from /history and /queue
 * (ComfyUI buffers nothing for a disconnected client). */
static recon_rc_t reconnect(job_t *j, char *err, size_t errlen)
{
    const cfy_config_t *cfg = &j->s->cfg;
    int64_t give_up = cfy_now_ms() + cfg->reconnect_window_ms;
    long backoff = 100;
    int attempts = 0;
    for (;;) {
        attempts++;
        if (j->cancelling && give_up > j->cancel_deadline)
            give_up = j->cancel_deadline;
        cfy_ws_rc_t rc = cfy_follow_connect(j, err, errlen);
        if (rc == CFY_WS_CANCELLED && !j->cancelling && cfy_follow_really_cancelled(j))
            return RECON_CANCELLED;
        if (rc == CFY_WS_MESSAGE) {
            int h = cfy_backend_history_has_entry(j);
            if (h == 1)
                return RECON_FINISHED;
            if (h == 0) {
                int pos = cfy_backend_queue_position(j);
                if (pos > 0) {
                    j->api->log(j->s->host, EMP_LOG_INFO,
                                "WebSocket reconnected after %d attempt(s); prompt %s is %s",
                                attempts, j->prompt_id, pos == 1 ? "running" : "pending");
                    return RECON_OK;
                }
                if (pos == 0) { /* finished between the two looks? */
                    h = cfy_backend_history_has_entry(j);
                    if (h == 1)
                        return RECON_FINISHED;
                    if (h == 0) {
                        snprintf(err, errlen,
                                 "prompt %s is neither queued nor in history (ComfyUI restarted?)",
                                 j->prompt_id);
                        return RECON_LOST;
                    }
                }
            }
            snprintf(err, errlen, "ComfyUI accepted the WebSocket but its HTTP API did not answer");
            cfy_ws_close(j->s->ws);
        }
        if (cfy_now_ms() + backoff > give_up)
            return RECON_DOWN;
        if (j->cancelling)
            plain_sleep(backoff);
        else if (j->api->sleep_ms(j->job, (unsigned)backoff))
            return RECON_CANCELLED;
        backoff =
            backoff * 2 > CFY_RECONNECT_MAX_BACKOFF_MS ? CFY_RECONNECT_MAX_BACKOFF_MS : backoff * 2;
    }
}

/* ---- follow ---- */

/* The host asked to cancel: stop the backend work. Returns 1 when we can return CANCELLED
 * right away, 0 when we should wait (bounded) for the end marker. */
static int begin_cancel(job_t *j)
{
    j->cancelling = 1;
    cfy_ws_watch_cancel(j->s->ws, -1);
    j->cancel_deadline = cfy_now_ms() + CFY_CANCEL_WAIT_MS;
    return cfy_backend_stop(j, "cancel") != STOP_WAIT_END;
}

/* Follow our prompt until the end marker. EMP_OK when it ended (j->ended). */
emp_result_t cfy_follow(job_t *j)
{
    const emp_host_api_t *api = j->api;
    const cfy_config_t *cfg = &j->s->cfg;
    char err[300];
    j->last_activity = cfy_now_ms();
    while (!j->ended) {
        if (!j->cancelling && api->cancelled(j->job) && begin_cancel(j))
            return cfy_job_cancelled(j);
        int64_t now = cfy_now_ms();
        if (j->cancelling && now >= j->cancel_deadline) {
            api->log(j->s->host, EMP_LOG_WARN,
                     "prompt %s did not confirm the interrupt within %d ms", j->prompt_id,
                     CFY_CANCEL_WAIT_MS);
            return cfy_job_cancelled(j);
        }
        int64_t idle_deadline = j->last_activity + cfg->inactivity_timeout_ms;
        int64_t until = j->cancelling && j->cancel_deadline < idle_deadline ? j->cancel_deadline
                                                                            : idle_deadline;
        long wait = (long)(until - now);
        if (wait > 1000)
            wait = 1000; /* re-check the cancel flag at least every second */
        if (wait < 0)
            wait = 0;
        cfy_ws_msg_t m;
        cfy_ws_rc_t rc = cfy_ws_next(j->s->ws, wait, &m, err, sizeof err);
        if (rc == CFY_WS_MESSAGE) {
            j->last_activity = cfy_now_ms();
            on_message(j, &m);
            cfy_ws_msg_free(&m);
            continue;
        }
        if (rc == CFY_WS_CANCELLED) {
            if (!j->cancelling) {
                if (cfy_follow_really_cancelled(j) && begin_cancel(j))
                    return cfy_job_cancelled(j);
            } else {
                cfy_ws_watch_cancel(j->s->ws, -1); /* a second wake-up: already on it */
            }
            continue;
        }
        if (rc == CFY_WS_CLOSED) {
            api->log(j->s->host, EMP_LOG_WARN, "%s; reconnecting", err);
            recon_rc_t rr = reconnect(j, err, sizeof err);
            j->last_activity = cfy_now_ms();
            switch (rr) {
            case RECON_OK: continue;
            case RECON_FINISHED:
                j->ended = 1;
                j->end_mono = cfy_now_ms();
                continue;
            case RECON_CANCELLED:
                if (begin_cancel(j))
                    return cfy_job_cancelled(j);
                continue;
            case RECON_LOST:
                return j->cancelling ? cfy_job_cancelled(j)
                                     : api->fail(j->job, EMP_RETRY, "prompt_lost", "%s", err);
            case RECON_DOWN:
                return j->cancelling
                           ? cfy_job_cancelled(j)
                           : api->fail(j->job, EMP_RETRY, "backend_down",
                                       "ComfyUI at %s went away mid-job and did not come back "
                                       "within %ld ms: %s",
                                       cfg->base_url, cfg->reconnect_window_ms, err);
            }
            continue;
        }
        if (rc == CFY_WS_TIMEOUT && cfy_now_ms() >= idle_deadline) {
            /* silence: maybe we missed the end; otherwise the backend is stuck */
            if (cfy_backend_history_has_entry(j) == 1) {
                j->ended = 1;
                j->end_mono = cfy_now_ms();
                continue;
            }
            if (j->cancelling)
                return cfy_job_cancelled(j);
            cfy_backend_stop(j, "inactivity timeout");
            return api->fail(j->job, EMP_RETRY, "inactivity_timeout",
                             "no message from ComfyUI for %ld ms (inactivity_timeout_ms) while "
                             "prompt %s was %s",
                             cfg->inactivity_timeout_ms, j->prompt_id,
                             j->start_mono ? "running" : "queued");
        }
        if (rc == CFY_WS_EINTERNAL)
            return api->fail(j->job, EMP_RETRY, "internal", "WebSocket: %s", err);
    }
    return EMP_OK;
}
