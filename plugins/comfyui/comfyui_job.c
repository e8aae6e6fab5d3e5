/* comfyui_job.c - one job, start to finish (see comfyui_job.h). */
#define _GNU_SOURCE
#include "comfyui_job.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_errors.h"
#include "comfyui_events.h"
#include "comfyui_history.h"
#include "comfyui_inputs.h"
#include "comfyui_json.h"
#include "comfyui_outputs.h"
#include "comfyui_progress.h"
#include "comfyui_util.h"

#define CFY_CANCEL_WAIT_MS 15000   /* after interrupt: wait this long for the end marker */
#define CFY_HISTORY_TRIES 4        /* /history after the end marker: retries while it is {} */
#define CFY_RECONNECT_MAX_BACKOFF_MS 5000
#define CFY_FEATURE_FLAGS "{\"type\":\"feature_flags\",\"data\":{\"supports_preview_metadata\":true}}"

typedef enum { STOP_WAIT_END, STOP_DONE, STOP_FAILED } stop_rc_t;
typedef enum { RECON_OK, RECON_FINISHED, RECON_LOST, RECON_DOWN, RECON_CANCELLED } recon_rc_t;

typedef struct job {
    cfy_state_t *s;
    const emp_host_api_t *api;
    emp_job_t *job;
    int cancel_fd;
    char addr[64];
    char client_id[33];
    char prompt_id[128];
    char ws_path[80];
    char *workflow_copy; /* when payload.workflow was a JSON string */
    cfy_span_t workflow, extra_data;
    cJSON *payload;
    int has_workflow_key; /* payload.workflow present (else the payload is the workflow) */
    cfy_progress_t progress;
    int ended;                 /* end marker (or history) says the prompt is over */
    int cancelling;            /* the host asked to cancel and we acted on it */
    int64_t run_start, submitted_mono, start_mono, end_mono, last_activity, cancel_deadline;
    int64_t submitted_wall;
    int ws_error, ws_interrupted;
    char *err_type, *err_msg, *err_node, *err_node_type; /* from an execution_error frame */
    char **cached;
    size_t ncached;
    unsigned malformed, oversized;
} job_t;

/* ---- small helpers ---- */

static void free_str(char **p)
{
    free(*p);
    *p = NULL;
}

static char *dup_s(const char *s) { return s ? strdup(s) : NULL; }

static void url_for(job_t *j, cfy_buf_t *b, const char *path)
{
    cfy_buf_reset(b);
    cfy_buf_str(b, j->s->cfg.base_url);
    cfy_buf_str(b, path);
}

/* One request to the backend. cancellable: watch the job's cancel fd. */
static cfy_http_rc_t backend(job_t *j, const char *method, const char *path, const char *body,
                             size_t body_len, int cancellable, cfy_http_resp_t *resp)
{
    cfy_buf_t url;
    cfy_buf_init(&url);
    url_for(j, &url, path);
    if (!cfy_buf_ok(&url))
        return CFY_HTTP_EINTERNAL;
    const cfy_config_t *cfg = &j->s->cfg;
    cfy_http_req_t req = {.method = method,
                          .url = url.p,
                          .body = body,
                          .body_len = body_len,
                          .content_type = body ? "application/json" : NULL,
                          .cancel_fd = cancellable ? j->cancel_fd : -1};
    cfy_config_backend_req(cfg, &req);
    cfy_http_rc_t rc = cfy_http_request(j->s->http, &req, resp);
    cfy_buf_free(&url);
    return rc;
}

/* The WebSocket layer reports a cancel when the job's cancel fd fired or cancel() woke it up.
 * A wake-up that came late (from the previous job's cancel) is not a cancel of this job. */
static int really_cancelled(job_t *j)
{
    if (j->api->cancelled(j->job))
        return 1;
    cfy_ws_clear_wake(j->s->ws);
    return 0;
}

/* Sleep that ignores cancellation (used while cleaning up after a cancel). */
static void plain_sleep(long ms) { poll(NULL, 0, (int)ms); }

int cfy_resolve_backend(const cfy_config_t *cfg, char *addr, size_t addrlen, char *err,
                        size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(cfg->host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve ComfyUI host '%s': %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    const void *src = res->ai_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    const char *ok = inet_ntop(res->ai_family, src, addr, (socklen_t)addrlen);
    freeaddrinfo(res);
    if (ok == NULL) {
        snprintf(err, errlen, "cannot format the address of '%s'", cfg->host);
        return -1;
    }
    return 0;
}

/* ---- payload ---- */

static emp_result_t read_payload(job_t *j)
{
    const emp_host_api_t *api = j->api;
    size_t len = 0;
    const char *raw = api->job_payload(j->job, &len);
    if (raw == NULL || cfy_json_first_char(raw, len) != '{' || !cfy_json_is_valid(raw, len))
        return api->fail(j->job, EMP_FAIL, "bad_input", "the job payload is not a JSON object");
    j->payload = cJSON_ParseWithLength(raw, len);
    if (j->payload == NULL)
        return api->fail(j->job, EMP_RETRY, "internal", "out of memory reading the payload");
    cfy_span_t wf;
    int r = cfy_json_member(raw, len, "workflow", &wf);
    if (r == 0) {
        if (cfy_json_first_char(wf.p, wf.n) == '"') { /* a workflow sent as a JSON string */
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(j->payload, "workflow");
            j->workflow_copy = cJSON_IsString(s) ? strdup(s->valuestring) : NULL;
            if (j->workflow_copy == NULL)
                return api->fail(j->job, EMP_FAIL, "bad_input", "payload.workflow is unreadable");
            wf.p = j->workflow_copy;
            wf.n = strlen(j->workflow_copy);
        }
        j->workflow = wf;
        j->has_workflow_key = 1;
        cfy_span_t extra;
        if (cfy_json_member(raw, len, "extra_data", &extra) == 0 &&
            cfy_json_first_char(extra.p, extra.n) == '{')
            j->extra_data = extra;
    } else {
        j->workflow.p = raw; /* the payload is the workflow itself */
        j->workflow.n = len;
    }
    if (cfy_json_first_char(j->workflow.p, j->workflow.n) != '{' ||
        !cfy_json_is_valid(j->workflow.p, j->workflow.n))
        return api->fail(j->job, EMP_FAIL, "bad_input",
                         "payload.workflow must be a ComfyUI API-format workflow (a JSON object)");
    if (cfy_progress_init(&j->progress, j->workflow.p, j->workflow.n) != 0)
        return api->fail(j->job, EMP_RETRY, "internal", "out of memory reading the workflow");
    if (j->progress.nnodes == 0)
        return api->fail(j->job, EMP_FAIL, "bad_input", "the workflow has no nodes");
    return EMP_OK;
}

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
                        "ignoring malformed WebSocket message(s) from ComfyUI (%zu bytes)",
                        m->len);
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
    case CFY_EV_EXECUTION_CACHED:
        take_cached(j, &ev);
        break;
    case CFY_EV_EXECUTION_ERROR:
        j->ws_error = 1;
        take_error_detail(j, &ev);
        break;
    case CFY_EV_EXECUTION_INTERRUPTED:
        j->ws_interrupted = 1;
        break;
    default:
        break;
    }
    double f;
    char msg[200];
    if (!j->cancelling && cfy_progress_apply(&j->progress, &ev, &f, msg, sizeof msg))
        j->api->progress(j->job, f, msg);
    cfy_event_free(&ev);
}

/* ---- queue / history ---- */

/* Where is our prompt? 1 running, 2 pending, 0 in neither list, -1 unknown (HTTP failed). */
static int queue_position(job_t *j)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    int pos = -1;
    if (backend(j, "GET", "/queue", NULL, 0, 0, &resp) == CFY_HTTP_DONE && resp.status == 200) {
        cJSON *q = cJSON_ParseWithLength(resp.body.p, resp.body.n);
        static const char *lists[] = {"queue_running", "queue_pending"};
        if (cJSON_IsObject(q)) {
            pos = 0;
            for (int l = 0; l < 2 && pos == 0; l++) {
                const cJSON *item;
                cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(q, lists[l]))
                {
                    /* [number, prompt_id, prompt, extra_data, outputs] */
                    const cJSON *id = cJSON_GetArrayItem(item, 1);
                    if (cJSON_IsString(id) && strcmp(id->valuestring, j->prompt_id) == 0) {
                        pos = l + 1;
                        break;
                    }
                }
            }
        }
        cJSON_Delete(q);
    }
    cfy_http_resp_free(&resp);
    return pos;
}

/* GET /history/{id}. 0 with h filled (outcome may be PENDING), -1 transport/HTTP error, -2
 * malformed answer. body receives the raw text (h->outputs_raw points into it). */
static int fetch_history(job_t *j, cfy_http_resp_t *resp, cfy_history_t *h, char *err,
                         size_t errlen)
{
    char path[200];
    cfy_buf_t enc;
    cfy_buf_init(&enc);
    cfy_buf_urlencode(&enc, j->prompt_id);
    snprintf(path, sizeof path, "/history/%s", enc.p ? enc.p : "");
    cfy_buf_free(&enc);
    cfy_http_rc_t rc = backend(j, "GET", path, NULL, 0, 0, resp);
    if (rc != CFY_HTTP_DONE) {
        snprintf(err, errlen, "GET /history: %s", resp->error);
        return -1;
    }
    if (resp->status != 200) {
        snprintf(err, errlen, "GET /history answered HTTP %ld", resp->status);
        return -1;
    }
    char perr[160];
    if (cfy_history_parse(resp->body.p, resp->body.n, j->prompt_id, h, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "GET /history: %s", perr);
        return -2;
    }
    return 0;
}

/* Is the prompt finished according to /history? 1 yes, 0 no, -1 could not tell. */
static int history_has_entry(job_t *j)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    cfy_history_t h;
    char err[200];
    int rc = fetch_history(j, &resp, &h, err, sizeof err);
    int r = rc == 0 ? h.outcome != CFY_HIST_PENDING : -1;
    if (rc == 0)
        cfy_history_free(&h);
    cfy_http_resp_free(&resp);
    return r;
}

/* Ask the backend to stop our prompt: delete it while pending, interrupt it while running. */
static stop_rc_t stop_backend(job_t *j, const char *why)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    cfy_buf_t body;
    cfy_buf_init(&body);
    stop_rc_t r = STOP_FAILED;
    for (int attempt = 0; attempt < 2; attempt++) {
        int pos = queue_position(j);
        if (pos < 0)
            break;
        if (pos == 0) {
            r = STOP_DONE; /* finished or never ran: nothing to stop */
            break;
        }
        if (pos == 2) {
            cfy_buf_reset(&body);
            cfy_buf_str(&body, "{\"delete\":[");
            cfy_buf_json_str(&body, j->prompt_id, (size_t)-1);
            cfy_buf_str(&body, "]}");
            if (!cfy_buf_ok(&body) ||
                backend(j, "POST", "/queue", body.p, body.n, 0, &resp) != CFY_HTTP_DONE)
                break;
            j->api->log(j->s->host, EMP_LOG_INFO, "%s: removed pending prompt %s", why,
                        j->prompt_id);
            continue; /* confirm it is gone (it may have started meanwhile) */
        }
        /* running: servers since 2025-09 interrupt only this prompt; older ones interrupt
         * whatever runs, which we just checked is ours */
        cfy_buf_reset(&body);
        cfy_buf_str(&body, "{\"prompt_id\":");
        cfy_buf_json_str(&body, j->prompt_id, (size_t)-1);
        cfy_buf_str(&body, "}");
        if (cfy_buf_ok(&body) &&
            backend(j, "POST", "/interrupt", body.p, body.n, 0, &resp) == CFY_HTTP_DONE &&
            resp.status == 200) {
            j->api->log(j->s->host, EMP_LOG_INFO, "%s: interrupted running prompt %s", why,
                        j->prompt_id);
            r = STOP_WAIT_END;
        }
        break;
    }
    cfy_http_resp_free(&resp);
    cfy_buf_free(&body);
    return r;
}

/* ---- connection ---- */

static cfy_ws_rc_t connect_ws(job_t *j, char *err, size_t errlen)
{
    const cfy_config_t *cfg = &j->s->cfg;
    cfy_ws_target_t t = {.address = j->addr,
                         .port = cfg->port,
                         .tls = cfg->tls,
                         .host_header = cfg->host,
                         .path = j->ws_path,
                         .auth_header = cfg->auth_header};
    cfy_ws_rc_t rc = cfy_ws_connect(j->s->ws, &t, cfg->connect_timeout_ms, err, errlen);
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
        cfy_ws_rc_t rc = connect_ws(j, err, errlen);
        if (rc == CFY_WS_CANCELLED && !j->cancelling && really_cancelled(j))
            return RECON_CANCELLED;
        if (rc == CFY_WS_MESSAGE) {
            int h = history_has_entry(j);
            if (h == 1)
                return RECON_FINISHED;
            if (h == 0) {
                int pos = queue_position(j);
                if (pos > 0) {
                    j->api->log(j->s->host, EMP_LOG_INFO,
                                "WebSocket reconnected after %d attempt(s); prompt %s is %s",
                                attempts, j->prompt_id, pos == 1 ? "running" : "pending");
                    return RECON_OK;
                }
                if (pos == 0) { /* finished between the two looks? */
                    h = history_has_entry(j);
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
        backoff = backoff * 2 > CFY_RECONNECT_MAX_BACKOFF_MS ? CFY_RECONNECT_MAX_BACKOFF_MS
                                                             : backoff * 2;
    }
}

/* ---- submit ---- */

static emp_result_t submit(job_t *j)
{
    const emp_host_api_t *api = j->api;
    cfy_buf_t body;
    cfy_buf_init(&body);
    cfy_buf_str(&body, "{\"prompt\":");
    cfy_buf_add(&body, j->workflow.p, j->workflow.n); /* raw bytes: 64-bit seeds survive */
    cfy_buf_str(&body, ",\"client_id\":");
    cfy_buf_json_str(&body, j->client_id, (size_t)-1);
    if (j->extra_data.p) {
        cfy_buf_str(&body, ",\"extra_data\":");
        cfy_buf_add(&body, j->extra_data.p, j->extra_data.n);
    }
    cfy_buf_str(&body, "}");
    if (!cfy_buf_ok(&body)) {
        cfy_buf_free(&body);
        return api->fail(j->job, EMP_RETRY, "internal", "out of memory building the prompt");
    }
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    /* not cancellable: once sent, we need the prompt_id to clean up after a cancel */
    cfy_http_rc_t rc = backend(j, "POST", "/prompt", body.p, body.n, 0, &resp);
    cfy_buf_free(&body);
    emp_result_t r = EMP_OK;
    if (rc != CFY_HTTP_DONE) {
        r = api->fail(j->job, EMP_RETRY, rc == CFY_HTTP_ETIMEOUT ? "timeout" : "backend_down",
                      "POST /prompt to ComfyUI at %s: %s", j->s->cfg.base_url, resp.error);
        goto out;
    }
    cfy_http_class_t cls = cfy_http_classify(resp.status);
    if (resp.status == 400) {
        cfy_buf_t msg;
        cfy_buf_init(&msg);
        char type[64];
        cfy_prompt_error_describe(resp.body.p, resp.body.n, &msg, 1500, type, sizeof type);
        r = api->fail(j->job, EMP_FAIL, "invalid_prompt", "%s",
                      msg.p ? msg.p : "ComfyUI rejected the prompt");
        cfy_buf_free(&msg);
        goto out;
    }
    if (cls != CFY_HTTP_CLASS_OK) {
        size_t n = resp.body.n < 200 ? resp.body.n : 200;
        r = api->fail(j->job,
                      cls == CFY_HTTP_CLASS_RETRY ? EMP_RETRY : EMP_FAIL,
                      cls == CFY_HTTP_CLASS_AUTH    ? "auth"
                      : cls == CFY_HTTP_CLASS_RETRY ? "backend_error"
                                                    : "backend_rejected",
                      "POST /prompt answered HTTP %ld: %.*s", resp.status, (int)n,
                      resp.body.p ? resp.body.p : "");
        goto out;
    }
    cJSON *ans = cJSON_ParseWithLength(resp.body.p, resp.body.n);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(ans, "prompt_id");
    if (!cJSON_IsString(pid) || pid->valuestring[0] == '\0' ||
        strlen(pid->valuestring) >= sizeof j->prompt_id) {
        r = api->fail(j->job, EMP_RETRY, "bad_backend_answer",
                      "POST /prompt answered 200 without a usable prompt_id");
    } else {
        snprintf(j->prompt_id, sizeof j->prompt_id, "%s", pid->valuestring);
        const cJSON *ne = cJSON_GetObjectItemCaseSensitive(ans, "node_errors");
        if (cJSON_IsObject(ne) && ne->child)
            api->log(j->s->host, EMP_LOG_WARN,
                     "ComfyUI queued prompt %s but dropped some outputs that failed validation",
                     j->prompt_id);
    }
    cJSON_Delete(ans);
out:
    cfy_http_resp_free(&resp);
    return r;
}

/* ---- follow ---- */

/* The host asked to cancel: stop the backend work. Returns 1 when we can return CANCELLED
 * right away, 0 when we should wait (bounded) for the end marker. */
static int begin_cancel(job_t *j)
{
    j->cancelling = 1;
    cfy_ws_watch_cancel(j->s->ws, -1);
    j->cancel_deadline = cfy_now_ms() + CFY_CANCEL_WAIT_MS;
    return stop_backend(j, "cancel") != STOP_WAIT_END;
}

static emp_result_t cancelled(job_t *j)
{
    return j->api->fail(j->job, EMP_CANCELLED, "cancelled", "cancelled%s%s",
                        j->prompt_id[0] ? "; ComfyUI prompt " : "", j->prompt_id);
}

/* Follow our prompt until the end marker. EMP_OK when it ended (j->ended). */
static emp_result_t follow(job_t *j)
{
    const emp_host_api_t *api = j->api;
    const cfy_config_t *cfg = &j->s->cfg;
    char err[300];
    j->last_activity = cfy_now_ms();
    while (!j->ended) {
        if (!j->cancelling && api->cancelled(j->job) && begin_cancel(j))
            return cancelled(j);
        int64_t now = cfy_now_ms();
        if (j->cancelling && now >= j->cancel_deadline) {
            api->log(j->s->host, EMP_LOG_WARN,
                     "prompt %s did not confirm the interrupt within %d ms", j->prompt_id,
                     CFY_CANCEL_WAIT_MS);
            return cancelled(j);
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
                if (really_cancelled(j) && begin_cancel(j))
                    return cancelled(j);
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
            case RECON_OK:
                continue;
            case RECON_FINISHED:
                j->ended = 1;
                j->end_mono = cfy_now_ms();
                continue;
            case RECON_CANCELLED:
                if (begin_cancel(j))
                    return cancelled(j);
                continue;
            case RECON_LOST:
                return j->cancelling ? cancelled(j)
                                     : api->fail(j->job, EMP_RETRY, "prompt_lost", "%s", err);
            case RECON_DOWN:
                return j->cancelling
                           ? cancelled(j)
                           : api->fail(j->job, EMP_RETRY, "backend_down",
                                       "ComfyUI at %s went away mid-job and did not come back "
                                       "within %ld ms: %s",
                                       cfg->base_url, cfg->reconnect_window_ms, err);
            }
            continue;
        }
        if (rc == CFY_WS_TIMEOUT && cfy_now_ms() >= idle_deadline) {
            /* silence: maybe we missed the end; otherwise the backend is stuck */
            if (history_has_entry(j) == 1) {
                j->ended = 1;
                j->end_mono = cfy_now_ms();
                continue;
            }
            if (j->cancelling)
                return cancelled(j);
            stop_backend(j, "inactivity timeout");
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

/* ---- finish ---- */

static emp_result_t execution_failed(job_t *j, const char *type, const char *msg,
                                     const char *node, const char *node_type)
{
    int oom = cfy_exception_is_oom(type, msg);
    cfy_buf_t clean;
    cfy_buf_init(&clean);
    const char *m = msg ? msg : "";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    cfy_buf_add(&clean, m, n);
    emp_result_t r = j->api->fail(
        j->job, oom ? EMP_RETRY : EMP_FAIL, oom ? "oom" : "execution_error",
        "ComfyUI execution error: exception_type=%s exception_message=%s node_id=%s node_type=%s",
        type ? type : "?", clean.p ? clean.p : "", node ? node : "?",
        node_type ? node_type : "?");
    cfy_buf_free(&clean);
    return r;
}

static emp_result_t finish(job_t *j)
{
    const emp_host_api_t *api = j->api;
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    cfy_history_t h;
    memset(&h, 0, sizeof h);
    char err[300] = "";
    int rc = -1;
    for (int attempt = 0; attempt < CFY_HISTORY_TRIES; attempt++) {
        cfy_history_free(&h);
        rc = fetch_history(j, &resp, &h, err, sizeof err);
        if (rc != 0 || h.outcome != CFY_HIST_PENDING)
            break;
        if (api->sleep_ms(j->job, 100u << attempt)) { /* history is written before the end
                                                          marker; a miss is a rare race */
            cfy_history_free(&h);
            cfy_http_resp_free(&resp);
            return cancelled(j);
        }
    }
    emp_result_t r;
    if (rc != 0)
        r = api->fail(j->job, EMP_RETRY, rc == -2 ? "bad_backend_answer" : "backend_down", "%s",
                      err);
    else if (h.outcome == CFY_HIST_ERROR)
        r = execution_failed(j, h.exception_type ? h.exception_type : j->err_type,
                             h.exception_message ? h.exception_message : j->err_msg,
                             h.node_id ? h.node_id : j->err_node,
                             h.node_type ? h.node_type : j->err_node_type);
    else if (h.outcome == CFY_HIST_INTERRUPTED)
        r = api->fail(j->job, EMP_FAIL, "interrupted",
                      "prompt %s was interrupted on the ComfyUI server (not by this worker) in "
                      "node %s (%s)",
                      j->prompt_id, h.node_id ? h.node_id : "?", h.node_type ? h.node_type : "?");
    else if (h.outcome == CFY_HIST_PENDING && j->ws_error)
        r = execution_failed(j, j->err_type, j->err_msg, j->err_node, j->err_node_type);
    else if (h.outcome == CFY_HIST_PENDING)
        r = api->fail(j->job, EMP_RETRY, "history_missing",
                      "prompt %s ended but ComfyUI has no history for it", j->prompt_id);
    else {
        cfy_timings_t t = {.submitted_wall_ms = j->submitted_wall,
                           .queued_ms = j->start_mono ? j->start_mono - j->submitted_mono : -1,
                           .execution_ms =
                               j->start_mono && j->end_mono ? j->end_mono - j->start_mono : -1,
                           .total_ms = cfy_now_ms() - j->run_start};
        cfy_outputs_ctx_t oc = {.api = api,
                                .job = j->job,
                                .cfg = &j->s->cfg,
                                .http = j->s->http,
                                .cancel_fd = j->cancel_fd,
                                .prompt_id = j->prompt_id,
                                .client_id = j->client_id,
                                .progress = &j->progress,
                                .history = &h,
                                .timings = &t,
                                .cached_nodes = (const char *const *)j->cached,
                                .ncached = j->ncached};
        r = cfy_outputs_publish(&oc);
        if (r == EMP_OK)
            api->progress(j->job, 1.0, "done");
    }
    cfy_history_free(&h);
    cfy_http_resp_free(&resp);
    return r;
}

/* ---- run ---- */

static emp_result_t run_job(job_t *j)
{
    const emp_host_api_t *api = j->api;
    char err[300];
    if (api->cancelled(j->job))
        return cancelled(j);
    emp_result_t r = read_payload(j);
    if (r != EMP_OK)
        return r;
    if (cfy_random_hex(j->client_id, 16) != 0)
        return api->fail(j->job, EMP_RETRY, "internal", "no randomness for a client id");
    snprintf(j->ws_path, sizeof j->ws_path, "/ws?clientId=%s", j->client_id);
    if (cfy_resolve_backend(&j->s->cfg, j->addr, sizeof j->addr, err, sizeof err) != 0)
        return api->fail(j->job, EMP_RETRY, "backend_down", "%s", err);

    const cJSON *images = cJSON_GetObjectItemCaseSensitive(j->payload, "images");
    if (images && j->has_workflow_key) {
        cfy_inputs_ctx_t ic = {.api = api,
                               .job = j->job,
                               .cfg = &j->s->cfg,
                               .http = j->s->http,
                               .cancel_fd = j->cancel_fd};
        r = cfy_inputs_upload(&ic, images);
        if (r != EMP_OK)
            return r;
    }

    cfy_ws_rc_t wrc;
    for (int tries = 0;; tries++) {
        wrc = connect_ws(j, err, sizeof err);
        if (wrc != CFY_WS_CANCELLED)
            break;
        if (really_cancelled(j) || tries >= 2)
            return cancelled(j);
    }
    if (wrc != CFY_WS_MESSAGE)
        return api->fail(j->job, EMP_RETRY, "backend_down", "ComfyUI at %s: %s",
                         j->s->cfg.base_url, err);
    if (api->cancelled(j->job))
        return cancelled(j);

    r = submit(j);
    if (r != EMP_OK)
        return r;
    j->submitted_mono = cfy_now_ms();
    j->submitted_wall = cfy_wall_ms();
    api->log(j->s->host, EMP_LOG_INFO, "queued ComfyUI prompt %s (%zu nodes)", j->prompt_id,
             j->progress.nnodes);
    api->progress(j->job, 0.0, "queued");

    r = follow(j);
    if (r != EMP_OK)
        return r;
    if (j->cancelling)
        return cancelled(j);
    return finish(j);
}

emp_result_t cfy_job_run(cfy_state_t *s, emp_job_t *job)
{
    job_t j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.api = s->api;
    j.job = job;
    j.cancel_fd = s->api->cancel_fd(job);
    j.run_start = cfy_now_ms();
    j.progress.current = -1;
    if (cfy_ws_watch_cancel(s->ws, j.cancel_fd) != 0)
        s->api->log(s->host, EMP_LOG_WARN, "could not watch the cancel fd; relying on cancel()");
    emp_result_t r = run_job(&j);
    cfy_ws_close(s->ws);
    cfy_ws_watch_cancel(s->ws, -1);
    cJSON_Delete(j.payload);
    free(j.workflow_copy);
    cfy_progress_free(&j.progress);
    free_str(&j.err_type);
    free_str(&j.err_msg);
    free_str(&j.err_node);
    free_str(&j.err_node_type);
    for (size_t i = 0; i < j.ncached; i++)
        free(j.cached[i]);
    free(j.cached);
    return r;
}

void cfy_job_cancel(cfy_state_t *s)
{
    cfy_ws_wakeup(s->ws);
    cfy_http_wakeup(s->http);
}
