/* comfyui_job.c - one job, start to finish (see comfyui_job.h and comfyui_job_internal.h). */
#define _GNU_SOURCE
#include "comfyui_job.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_errors.h"
#include "comfyui_inputs.h"
#include "comfyui_job_internal.h"
#include "comfyui_outputs.h"
#include "comfyui_util.h"

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

emp_result_t cfy_job_cancelled(job_t *j)
{
    return j->api->fail(j->job, EMP_CANCELLED, "cancelled", "cancelled%s%s",
                        j->prompt_id[0] ? "; ComfyUI prompt " : "", j->prompt_id);
}

/* ---- payload ---- */

static emp_result_t read_payload(job_t *j)
{
    const emp_host_api_t *api = j->api;
    size_t len = 0;
    const char *raw = api->job_payload(j->job, &len);
    if (raw == NULL || ejson_first_char(raw, len) != '{' || ejson_validate(raw, len) != 0)
        return api->fail(j->job, EMP_FAIL, "bad_input", "the job payload is not a JSON object");
    j->payload = cJSON_ParseWithLength(raw, len);
    if (j->payload == NULL) /* well-formed text cJSON refuses (a lone UTF-16 surrogate escape) */
        return api->fail(j->job, EMP_FAIL, "bad_input",
                         "the job payload is not a JSON object (unreadable \\u escape?)");
    ejson_span_t wf;
    int r = ejson_find(raw, len, "workflow", &wf); /* duplicate keys: the last one */
    if (r == 1) {
        if (ejson_first_char(wf.p, wf.len) == '"') { /* a workflow sent as a JSON string */
            /* decoded from the member found above (cJSON's lookup would take the first of
             * duplicate keys), and cut at a NUL as cJSON's C string was */
            ebuf_t text;
            ebuf_init(&text, 0);
            j->workflow_copy = ejson_string_decode(wf, &text) == 0 ? ebuf_take(&text, NULL) : NULL;
            ebuf_free(&text);
            if (j->workflow_copy == NULL)
                return api->fail(j->job, EMP_FAIL, "bad_input", "payload.workflow is unreadable");
            wf.p = j->workflow_copy;
            wf.len = strlen(j->workflow_copy);
        }
        j->workflow = wf;
        j->has_workflow_key = 1;
        ejson_span_t extra;
        if (ejson_find(raw, len, "extra_data", &extra) == 1 &&
            ejson_first_char(extra.p, extra.len) == '{')
            j->extra_data = extra;
    } else {
        j->workflow.p = raw; /* the payload is the workflow itself */
        j->workflow.len = len;
    }
    if (ejson_first_char(j->workflow.p, j->workflow.len) != '{' ||
        ejson_validate(j->workflow.p, j->workflow.len) != 0)
        return api->fail(j->job, EMP_FAIL, "bad_input",
                         "payload.workflow must be a ComfyUI API-format workflow (a JSON object)");
    if (cfy_progress_init(&j->progress, j->workflow.p, j->workflow.len) != 0)
        return api->fail(j->job, EMP_RETRY, "internal", "out of memory reading the workflow");
    if (j->progress.nnodes == 0)
        return api->fail(j->job, EMP_FAIL, "bad_input", "the workflow has no nodes");
    return EMP_OK;
}

/* ---- submit ---- */

static emp_result_t submit(job_t *j)
{
    const emp_host_api_t *api = j->api;
    ebuf_t body;
    ebuf_init(&body, 0);
    ebuf_puts(&body, "{\"prompt\":");
    ebuf_append(&body, j->workflow.p, j->workflow.len); /* raw bytes: 64-bit seeds survive */
    ebuf_puts(&body, ",\"client_id\":");
    ebuf_json_cstr(&body, j->client_id);
    if (j->extra_data.p) {
        ebuf_puts(&body, ",\"extra_data\":");
        ebuf_append(&body, j->extra_data.p, j->extra_data.len);
    }
    ebuf_puts(&body, "}");
    if (!ebuf_ok(&body)) {
        ebuf_free(&body);
        return api->fail(j->job, EMP_RETRY, "internal", "out of memory building the prompt");
    }
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    /* not cancellable: once sent, we need the prompt_id to clean up after a cancel */
    cfy_http_rc_t rc = cfy_backend(j, "POST", "/prompt", body.data, body.len, 0, &resp);
    ebuf_free(&body);
    emp_result_t r = EMP_OK;
    if (rc != CFY_HTTP_DONE) {
        r = api->fail(j->job, EMP_RETRY, rc == CFY_HTTP_ETIMEOUT ? "timeout" : "backend_down",
                      "POST /prompt to ComfyUI at %s: %s", j->s->cfg.base_url, resp.error);
        goto out;
    }
    cfy_http_class_t cls = cfy_http_classify(resp.status);
    if (resp.status == 400) {
        ebuf_t msg;
        ebuf_init(&msg, 0);
        char type[64];
        cfy_prompt_error_describe(resp.body.data, resp.body.len, &msg, 1500, type, sizeof type);
        r = api->fail(j->job, EMP_FAIL, "invalid_prompt", "%s",
                      msg.data ? msg.data : "ComfyUI rejected the prompt");
        ebuf_free(&msg);
        goto out;
    }
    if (cls != CFY_HTTP_CLASS_OK) {
        size_t n = resp.body.len < 200 ? resp.body.len : 200;
        r = api->fail(j->job, cls == CFY_HTTP_CLASS_RETRY ? EMP_RETRY : EMP_FAIL,
                      cls == CFY_HTTP_CLASS_AUTH    ? "auth"
                      : cls == CFY_HTTP_CLASS_RETRY ? "backend_error"
                                                    : "backend_rejected",
                      "POST /prompt answered HTTP %ld: %.*s", resp.status, (int)n,
                      resp.body.data ? resp.body.data : "");
        goto out;
    }
    cJSON *ans = cJSON_ParseWithLength(resp.body.data, resp.body.len);
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

/* ---- finish ---- */

static emp_result_t execution_failed(job_t *j, const char *type, const char *msg, const char *node,
                                     const char *node_type)
{
    int oom = cfy_exception_is_oom(type, msg);
    ebuf_t clean;
    ebuf_init(&clean, 0);
    const char *m = msg ? msg : "";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    ebuf_append(&clean, m, n);
    emp_result_t r = j->api->fail(
        j->job, oom ? EMP_RETRY : EMP_FAIL, oom ? "oom" : "execution_error",
        "ComfyUI execution error: exception_type=%s exception_message=%s node_id=%s node_type=%s",
        type ? type : "?", clean.data ? clean.data : "", node ? node : "?",
        node_type ? node_type : "?");
    ebuf_free(&clean);
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
        rc = cfy_backend_history(j, &resp, &h, err, sizeof err);
        if (rc != 0 || h.outcome != CFY_HIST_PENDING)
            break;
        if (api->sleep_ms(j->job, 100u << attempt)) { /* history is written before the end
                                                          marker; a miss is a rare race */
            cfy_history_free(&h);
            cfy_http_resp_free(&resp);
            return cfy_job_cancelled(j);
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
        return cfy_job_cancelled(j);
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
        wrc = cfy_follow_connect(j, err, sizeof err);
        if (wrc != CFY_WS_CANCELLED)
            break;
        if (cfy_follow_really_cancelled(j) || tries >= 2)
            return cfy_job_cancelled(j);
    }
    if (wrc != CFY_WS_MESSAGE)
        return api->fail(j->job, EMP_RETRY, "backend_down", "ComfyUI at %s: %s", j->s->cfg.base_url,
                         err);
    if (api->cancelled(j->job))
        return cfy_job_cancelled(j);

    r = submit(j);
    if (r != EMP_OK)
        return r;
    j->submitted_mono = cfy_now_ms();
    j->submitted_wall = cfy_wall_ms();
    api->log(j->s->host, EMP_LOG_INFO, "queued ComfyUI prompt %s (%zu nodes)", j->prompt_id,
             j->progress.nnodes);
    api->progress(j->job, 0.0, "queued");

    r = cfy_follow(j);
    if (r != EMP_OK)
        return r;
    if (j->cancelling)
        return cfy_job_cancelled(j);
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
    free(j.err_type);
    free(j.err_msg);
    free(j.err_node);
    free(j.err_node_type);
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
