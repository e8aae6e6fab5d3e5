/* comfyui_backend.c - a job's requests to ComfyUI's HTTP API (see comfyui_job_internal.h). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_job_internal.h"
#include "comfyui_util.h"

static void url_for(job_t *j, ebuf_t *b, const char *path)
{
    ebuf_reset(b);
    ebuf_puts(b, j->s->cfg.base_url);
    ebuf_puts(b, path);
}

cfy_http_rc_t cfy_backend(job_t *j, const char *method, const char *path, const char *body,
                          size_t body_len, int cancellable, cfy_http_resp_t *resp)
{
    ebuf_t url;
    ebuf_init(&url, 0);
    url_for(j, &url, path);
    if (!ebuf_ok(&url))
        return CFY_HTTP_EINTERNAL;
    const cfy_config_t *cfg = &j->s->cfg;
    cfy_http_req_t req = {.method = method,
                          .url = url.data,
                          .body = body,
                          .body_len = body_len,
                          .content_type = body ? "application/json" : NULL,
                          .cancel_fd = cancellable ? j->cancel_fd : -1};
    cfy_config_backend_req(cfg, &req);
    if (j->cancelling) { /* cleanup after a cancel is on the clock (see CFY_CANCEL_WAIT_MS) */
        if (req.timeout_ms > CFY_CANCEL_REQUEST_TIMEOUT_MS)
            req.timeout_ms = CFY_CANCEL_REQUEST_TIMEOUT_MS;
        if (req.connect_timeout_ms > CFY_CANCEL_REQUEST_TIMEOUT_MS)
            req.connect_timeout_ms = CFY_CANCEL_REQUEST_TIMEOUT_MS;
    }
    cfy_http_rc_t rc = cfy_http_request(j->s->http, &req, resp);
    ebuf_free(&url);
    return rc;
}

/* Where is our prompt? 1 running, 2 pending, 0 in neither list, -1 unknown (HTTP failed). */
int cfy_backend_queue_position(job_t *j)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    int pos = -1;
    if (cfy_backend(j, "GET", "/queue", NULL, 0, 0, &resp) == CFY_HTTP_DONE && resp.status == 200) {
        cJSON *q = cJSON_ParseWithLength(resp.body.data, resp.body.len);
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
int cfy_backend_history(job_t *j, cfy_http_resp_t *resp, cfy_history_t *h, char *err, size_t errlen)
{
    char path[200];
    ebuf_t enc;
    ebuf_init(&enc, 0);
    cfy_urlencode(&enc, j->prompt_id);
    snprintf(path, sizeof path, "/history/%s", enc.data ? enc.data : "");
    ebuf_free(&enc);
    cfy_http_rc_t rc = cfy_backend(j, "GET", path, NULL, 0, 0, resp);
    if (rc != CFY_HTTP_DONE) {
        snprintf(err, errlen, "GET /history: %s", resp->error);
        return -1;
    }
    if (resp->status != 200) {
        snprintf(err, errlen, "GET /history answered HTTP %ld", resp->status);
        return -1;
    }
    char perr[160];
    if (cfy_history_parse(resp->body.data, resp->body.len, j->prompt_id, h, perr, sizeof perr) !=
        0) {
        snprintf(err, errlen, "GET /history: %s", perr);
        return -2;
    }
    return 0;
}

/* Is the prompt finished according to /history? 1 yes, 0 no, -1 could not tell. */
int cfy_backend_history_has_entry(job_t *j)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    cfy_history_t h;
    char err[200];
    int rc = cfy_backend_history(j, &resp, &h, err, sizeof err);
    int r = rc == 0 ? h.outcome != CFY_HIST_PENDING : -1;
    if (rc == 0)
        cfy_history_free(&h);
    cfy_http_resp_free(&resp);
    return r;
}

/* Ask the backend to stop our prompt: delete it while pending, interrupt it while running. */
stop_rc_t cfy_backend_stop(job_t *j, const char *why)
{
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    ebuf_t body;
    ebuf_init(&body, 0);
    stop_rc_t r = STOP_FAILED;
    for (int attempt = 0; attempt < 2; attempt++) {
        int pos = cfy_backend_queue_position(j);
        if (pos < 0)
            break;
        if (pos == 0) {
            r = STOP_DONE; /* finished or never ran: nothing to stop */
            break;
        }
        if (pos == 2) {
            ebuf_reset(&body);
            ebuf_puts(&body, "{\"delete\":[");
            ebuf_json_cstr(&body, j->prompt_id);
            ebuf_puts(&body, "]}");
            if (!ebuf_ok(&body) ||
                cfy_backend(j, "POST", "/queue", body.data, body.len, 0, &resp) != CFY_HTTP_DONE)
                break;
            j->api->log(j->s->host, EMP_LOG_INFO, "%s: removed pending prompt %s", why,
                        j->prompt_id);
            continue; /* confirm it is gone (it may have started meanwhile) */
        }
        /* running: servers since 2025-09 interrupt only this prompt; older ones interrupt
         * whatever runs, which we just checked is ours */
        ebuf_reset(&body);
        ebuf_puts(&body, "{\"prompt_id\":");
        ebuf_json_cstr(&body, j->prompt_id);
        ebuf_puts(&body, "}");
        if (ebuf_ok(&body) &&
            cfy_backend(j, "POST", "/interrupt", body.data, body.len, 0, &resp) == CFY_HTTP_DONE &&
            resp.status == 200) {
            j->api->log(j->s->host, EMP_LOG_INFO, "%s: interrupted running prompt %s", why,
                        j->prompt_id);
            r = STOP_WAIT_END;
        }
        break;
    }
    cfy_http_resp_free(&resp);
    ebuf_free(&body);
    return r;
}
