/* comfyui_probe.c - start-time probe and model list (see comfyui_probe.h). */
#define _GNU_SOURCE
#include "comfyui_probe.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "comfyui_errors.h"

#define CFY_MAX_MODELS 10000

int cfy_models_parse(const char *body, size_t len, ebuf_t *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(root, "CheckpointLoaderSimple");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(node, "input");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(input, "required");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req, "ckpt_name");
    const cJSON *first = cJSON_GetArrayItem(spec, 0);
    const cJSON *names = NULL;
    if (cJSON_IsArray(first)) /* classic: [[names...], {options}] */
        names = first;
    else if (cJSON_IsString(first) && strcmp(first->valuestring, "COMBO") == 0) /* V3 schema */
        names = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(spec, 1), "options");
    if (!cJSON_IsArray(names)) {
        cJSON_Delete(root);
        return -1;
    }
    int n = 0;
    ebuf_puts(out, "[");
    const cJSON *it;
    cJSON_ArrayForEach(it, names)
    {
        if (!cJSON_IsString(it) || n >= CFY_MAX_MODELS)
            continue;
        if (n++)
            ebuf_puts(out, ",");
        ebuf_json_cstr(out, it->valuestring);
    }
    ebuf_puts(out, "]");
    cJSON_Delete(root);
    return n;
}

static void report_models(cfy_state_t *s)
{
    ebuf_t url, models;
    ebuf_init(&url, 0);
    ebuf_init(&models, 0);
    ebuf_puts(&url, s->cfg.base_url);
    ebuf_puts(&url, "/object_info/CheckpointLoaderSimple");
    cfy_http_req_t req = {.method = "GET", .url = url.data, .cancel_fd = -1};
    cfy_config_backend_req(&s->cfg, &req);
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    cfy_http_rc_t rc = ebuf_ok(&url) ? cfy_http_request(s->http, &req, &resp) : CFY_HTTP_EINTERNAL;
    int n = -1;
    if (rc == CFY_HTTP_DONE && resp.status == 200)
        n = cfy_models_parse(resp.body.data, resp.body.len, &models);
    if (n >= 0 && ebuf_ok(&models)) {
        s->api->set_models(s->host, models.data);
        s->api->log(s->host, EMP_LOG_INFO, "reported %d checkpoint(s) as models", n);
    } else {
        s->api->log(s->host, EMP_LOG_WARN,
                    "report_models: could not read the checkpoint list (%s, HTTP %ld)",
                    rc == CFY_HTTP_DONE ? "unexpected answer" : resp.error, resp.status);
    }
    cfy_http_resp_free(&resp);
    ebuf_free(&url);
    ebuf_free(&models);
}

emp_start_t cfy_probe(cfy_state_t *s)
{
    const emp_host_api_t *api = s->api;
    ebuf_t url;
    ebuf_init(&url, 0);
    ebuf_puts(&url, s->cfg.base_url);
    ebuf_puts(&url, "/system_stats");
    cfy_http_req_t req = {.method = "GET", .url = url.data, .cancel_fd = -1};
    cfy_config_backend_req(&s->cfg, &req);
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    emp_start_t st = EMP_START_NOT_READY;
    cfy_http_rc_t rc = ebuf_ok(&url) ? cfy_http_request(s->http, &req, &resp) : CFY_HTTP_EINTERNAL;
    if (rc != CFY_HTTP_DONE) {
        api->log(s->host, EMP_LOG_INFO, "ComfyUI at %s not ready: %s", s->cfg.base_url, resp.error);
    } else {
        cfy_http_class_t cls = cfy_http_classify(resp.status);
        if (cls == CFY_HTTP_CLASS_OK) {
            cJSON *root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
            const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "system");
            const cJSON *ver = cJSON_GetObjectItemCaseSensitive(sys, "comfyui_version");
            if (cJSON_IsObject(sys)) {
                api->log(s->host, EMP_LOG_INFO, "ComfyUI at %s is up (version %s)", s->cfg.base_url,
                         cJSON_IsString(ver) ? ver->valuestring : "unknown");
                st = EMP_START_READY;
            } else {
                api->log(s->host, EMP_LOG_WARN,
                         "%s/system_stats answered 200 but not with ComfyUI's JSON; not ready",
                         s->cfg.base_url);
            }
            cJSON_Delete(root);
        } else if (cls == CFY_HTTP_CLASS_AUTH) {
            api->log(s->host, EMP_LOG_ERROR,
                     "ComfyUI at %s refused our credentials (HTTP %ld): check username/password "
                     "or token in the connector options",
                     s->cfg.base_url, resp.status);
            st = EMP_START_FATAL;
        } else {
            api->log(s->host, EMP_LOG_INFO, "ComfyUI at %s not ready: HTTP %ld", s->cfg.base_url,
                     resp.status);
        }
    }
    cfy_http_resp_free(&resp);
    ebuf_free(&url);
    if (st == EMP_START_READY && s->cfg.report_models)
        report_models(s);
    return st;
}
