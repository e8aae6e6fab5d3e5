/* a1111_probe.c - start's probes (see a1111_probe.h). */
#include "a1111_probe.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "a1111_http.h"

#define A1111_MODELS_BODY_MAX (16 * 1024 * 1024)

/* Answer of a probe POST /internal/progress for a task id that does not exist. */
static const char a1111_task_probe_body[] =
    "{\"id_task\":\"emp-worker-probe\",\"id_live_preview\":-1,\"live_preview\":false}";

int a1111_models_parse(const char *body, size_t len, ebuf_t *out)
{
    if (body == NULL || len == 0 || len > A1111_MODELS_BODY_MAX)
        return -1;
    cJSON *root = cJSON_ParseWithLength(body, len), *m;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return -1;
    }
    int n = 0;
    ebuf_puts(out, "[");
    cJSON_ArrayForEach(m, root)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "model_name");
        if (!cJSON_IsString(name))
            name = cJSON_GetObjectItemCaseSensitive(m, "title");
        if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
            continue;
        if (n++)
            ebuf_puts(out, ",");
        ebuf_json_cstr(out, name->valuestring);
    }
    ebuf_puts(out, "]");
    cJSON_Delete(root);
    return out->failed ? -1 : 0;
}

/* One blocking exchange. Returns the status (0 on a transport failure, with *rc set). */
static long probe(a1111_state_t *s, a1111_http_t *h, const char *path, const char *body,
                  CURLcode *rc)
{
    *rc = CURLE_OUT_OF_MEMORY;
    if (a1111_http_init(h, &s->cfg, path, body, body ? strlen(body) : 0, s->cfg.probe_timeout_ms) !=
        0)
        return 0;
    *rc = a1111_http_perform(h);
    return *rc == CURLE_OK ? a1111_http_status(h) : 0;
}

static void probe_models(a1111_state_t *s)
{
    a1111_http_t h;
    CURLcode rc;
    ebuf_t names;
    ebuf_init(&names, 0);
    long status = probe(s, &h, "/sdapi/v1/sd-models", NULL, &rc);
    if (status == 200 && a1111_models_parse(h.body.data, h.body.len, &names) == 0)
        s->api->set_models(s->host, names.data);
    else
        s->api->log(s->host, EMP_LOG_WARN,
                    "A1111 GET /sdapi/v1/sd-models failed (%s); "
                    "models not advertised",
                    status ? "bad answer" : curl_easy_strerror(rc));
    ebuf_free(&names);
    a1111_http_cleanup(&h);
}

static void probe_task_progress(a1111_state_t *s)
{
    a1111_http_t h;
    CURLcode rc;
    long status = probe(s, &h, "/internal/progress", a1111_task_probe_body, &rc);
    cJSON *root = status == 200 ? cJSON_ParseWithLength(h.body.data, h.body.len) : NULL;
    s->have_task_progress = cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(root, "active"));
    cJSON_Delete(root);
    a1111_http_cleanup(&h);
    s->api->log(s->host, EMP_LOG_DEBUG, "A1111 /internal/progress %s",
                s->have_task_progress ? "available: progress is matched to our task id"
                                      : "absent (--nowebui): progress is matched by job state");
}

emp_start_t a1111_probe(a1111_state_t *s)
{
    const emp_host_api_t *api = s->api;
    a1111_http_t h;
    CURLcode rc;
    emp_start_t verdict = EMP_START_NOT_READY;

    if (s->auth_refused) {
        api->log(s->host, EMP_LOG_ERROR,
                 "A1111 at %s refused our credentials during a job "
                 "(HTTP 401): fix options username/password to match its --api-auth, then restart",
                 s->cfg.base_url);
        return EMP_START_FATAL;
    }
    long status = probe(s, &h, "/sdapi/v1/options", NULL, &rc);
    if (status == 0) {
        api->log(s->host, EMP_LOG_INFO, "A1111 not ready at %s: %s", s->cfg.base_url,
                 h.errbuf[0] ? h.errbuf : curl_easy_strerror(rc));
    } else if (status == 401) {
        api->log(s->host, EMP_LOG_ERROR,
                 "A1111 at %s refused %s (HTTP 401): set options "
                 "username/password to match its --api-auth",
                 s->cfg.base_url,
                 s->cfg.username ? "our credentials" : "a request without credentials");
        verdict = EMP_START_FATAL;
    } else if (status == 404) {
        api->log(s->host, EMP_LOG_WARN,
                 "A1111 at %s has no /sdapi/v1/options (404): still "
                 "starting, or not run with --api / --nowebui",
                 s->cfg.base_url);
    } else if (status != 200) {
        api->log(s->host, EMP_LOG_INFO, "A1111 not ready at %s: GET /sdapi/v1/options answered %ld",
                 s->cfg.base_url, status);
    } else {
        cJSON *root = cJSON_ParseWithLength(h.body.data, h.body.len);
        if (cJSON_IsObject(root))
            verdict = EMP_START_READY;
        else
            api->log(s->host, EMP_LOG_WARN,
                     "%s answers GET /sdapi/v1/options with something "
                     "that is not A1111's settings object",
                     s->cfg.base_url);
        cJSON_Delete(root);
    }
    a1111_http_cleanup(&h);
    if (verdict != EMP_START_READY)
        return verdict;
    probe_models(s);
    probe_task_progress(s);
    api->log(s->host, EMP_LOG_INFO, "A1111 ready at %s", s->cfg.base_url);
    return EMP_START_READY;
}
