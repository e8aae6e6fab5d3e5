/*
 * http_json.c - an example emp-worker plugin for an HTTP JSON backend (Ollama-like
 * `POST /api/generate`), built on the host's HTTP helper: no HTTP library of its own.
 * Copy this folder to start a new plugin.
 *
 * Job payload (a JSON object):  {"prompt": "...", "model": "...", ...any other field...}
 *   Sent to the backend as is (raw bytes, never re-serialised, so a 64-bit "seed" survives),
 *   with "model" (the model option) and "stream": false added when absent. A payload that is
 *   not an object, has no "prompt" string, or asks for "stream": true fails the job (FAIL).
 * Result: the backend's JSON object, unchanged (becomes JobResult.data).
 * Classification (declarative tables below):
 *   2xx + JSON object            OK
 *   2xx, not a JSON object       RETRY bad_response
 *   408, 429                     RETRY backend_busy   (the backend asks to come back later)
 *   other 4xx                    FAIL  backend_rejected (the request itself is wrong)
 *   5xx                          RETRY backend_error
 *   refused/unreachable/timeout  RETRY backend_down / backend_timeout
 *   body over max_response_bytes FAIL  response_too_large
 *   cancelled by the host        CANCELLED
 * start probes GET <probe_path> (Ollama's model list) and reports the models it finds.
 *
 * Options (conf.d connector.options, or run-plugin --option KEY=VALUE):
 *   host "127.0.0.1", port 11434, https false, path "/api/generate", probe_path "/api/tags"
 *   ("" = no probe), model "llama3", api_key "" (sent as "Authorization: Bearer ..."),
 *   connect_timeout_ms 2000, timeout_ms 300000 (one request), max_response_bytes 8 MiB.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emp_plugin.h"

typedef struct hj_state {
    const emp_host_api_t *api;
    emp_host_t *host;
    char base[320];   /* scheme://host:port */
    const char *path; /* borrowed from the host until destroy */
    const char *probe_path;
    const char *model;
    char *auth_header; /* "Authorization: Bearer ...", or NULL */
    long long connect_timeout_ms, timeout_ms, max_response_bytes;
} hj_state_t;

/* ---- create: options only, no network ---- */

static int hj_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    /* The descriptor claims ABI 1.1, so an older host refuses this plugin before create; this
     * check is what a plugin claiming an older minor would do (EMP_PLUGIN_HEADER_MINOR). */
    if (!EMP_HOST_HAS(api, http_request))
        return api->option_error(host, NULL,
                                 "the http_json plugin needs the host's HTTP helper (plugin ABI "
                                 "1.1); this emp-worker speaks ABI %u.%u: upgrade emp-worker",
                                 api->abi_major, api->abi_minor);
    hj_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->api = api;
    s->host = host;
    const char *h, *api_key;
    long long port;
    int https;
    int bad = 0; /* check every option, report every error, then fail */
    bad |= api->option_string(host, "host", "127.0.0.1", &h) < 0;
    bad |= api->option_int(host, "port", 11434, 1, 65535, &port) < 0;
    bad |= api->option_bool(host, "https", 0, &https) < 0;
    bad |= api->option_string(host, "path", "/api/generate", &s->path) < 0;
    bad |= api->option_string(host, "probe_path", "/api/tags", &s->probe_path) < 0;
    bad |= api->option_string(host, "model", "llama3", &s->model) < 0;
    bad |= api->option_string(host, "api_key", "", &api_key) < 0;
    bad |= api->option_int(host, "connect_timeout_ms", 2000, 1, 600000, &s->connect_timeout_ms) < 0;
    bad |= api->option_int(host, "timeout_ms", 300000, 1, 86400000, &s->timeout_ms) < 0;
    bad |= api->option_int(host, "max_response_bytes", 8 << 20, 1024, 1LL << 30,
                           &s->max_response_bytes) < 0;
    if (!bad && (h[0] == '\0' || strpbrk(h, "/?#@ ") != NULL))
        bad = api->option_error(host, "host", "\"%s\" is not a host name or address", h);
    if (!bad && s->path[0] != '/')
        bad = api->option_error(host, "path", "must start with '/', got \"%s\"", s->path);
    if (!bad && s->probe_path[0] != '\0' && s->probe_path[0] != '/')
        bad = api->option_error(host, "probe_path", "must be empty or start with '/'");
    if (!bad && s->model[0] == '\0')
        bad = api->option_error(host, "model", "must not be empty");
    if (!bad) {
        int v6 = strchr(h, ':') != NULL; /* an IPv6 literal goes in brackets */
        snprintf(s->base, sizeof s->base, "%s://%s%s%s:%lld", https ? "https" : "http",
                 v6 ? "[" : "", h, v6 ? "]" : "", port);
        if (api_key[0] != '\0') {
            size_t n = strlen(api_key) + sizeof "Authorization: Bearer ";
            s->auth_header = malloc(n);
            if (s->auth_header == NULL)
                bad = 1;
            else
                snprintf(s->auth_header, n, "Authorization: Bearer %s", api_key);
        }
    }
    if (bad) {
        free(s->auth_header);
        free(s);
        return -1;
    }
    *state_out = s;
    return 0;
}

static void hj_destroy(void *state)
{
    hj_state_t *s = state;
    free(s->auth_header);
    free(s);
}

/* One request to the backend; the caller frees resp with http_response_free. */
static int hj_request(hj_state_t *s, emp_job_t *job, const char *method, const char *path,
                      const char *body, size_t body_len, long long total_ms,
                      emp_http_response_t *resp)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    const char *headers[4];
    size_t n = 0;
    headers[n++] = "Accept: application/json";
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    if (s->auth_header != NULL)
        headers[n++] = s->auth_header;
    headers[n] = NULL;
    emp_http_request_t req = {
        EMP_HTTP_REQUEST_INIT,
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body_len,
        .connect_timeout_ms = (uint32_t)s->connect_timeout_ms,
        .total_timeout_ms = (uint32_t)total_ms,
        .max_response_bytes = (size_t)s->max_response_bytes,
    };
    return s->api->http_request(s->host, job, &req, resp);
}

/* ---- start: probe the backend ---- */

static emp_start_t hj_start(void *state)
{
    hj_state_t *s = state;
    const emp_host_api_t *api = s->api;
    if (s->probe_path[0] == '\0')
        return EMP_START_READY;
    emp_http_response_t resp = {EMP_HTTP_RESPONSE_INIT};
    /* no job here, so not cancellable: keep it short */
    long long t = s->connect_timeout_ms + 5000;
    int rc = hj_request(s, NULL, "GET", s->probe_path, NULL, 0,
                        t < s->timeout_ms ? t : s->timeout_ms, &resp);
    emp_start_t ret = EMP_START_NOT_READY;
    if (rc != EMP_HTTP_OK) {
        api->log(s->host, EMP_LOG_WARN, "backend not ready: %s", resp.error_text);
    } else if (resp.status == 401 || resp.status == 403) {
        api->log(s->host, EMP_LOG_ERROR, "backend refuses our credentials (HTTP %d): check api_key",
                 resp.status);
        ret = EMP_START_FATAL;
    } else if (resp.status / 100 != 2) {
        api->log(s->host, EMP_LOG_WARN, "backend not ready: HTTP %d from %s", resp.status,
                 s->probe_path);
    } else {
        /* {"models":[{"name":"llama3"},...]} -> ["llama3",...] */
        cJSON *doc = cJSON_ParseWithLength(resp.body, resp.body_len);
        const cJSON *models = cJSON_GetObjectItemCaseSensitive(doc, "models");
        cJSON *names = cJSON_CreateArray();
        const cJSON *m;
        cJSON_ArrayForEach(m, models)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
            if (cJSON_IsString(name) && names != NULL)
                cJSON_AddItemToArray(names, cJSON_CreateString(name->valuestring));
        }
        char *text = names ? cJSON_PrintUnformatted(names) : NULL;
        if (text != NULL)
            api->set_models(s->host, text);
        cJSON_free(text);
        cJSON_Delete(names);
        cJSON_Delete(doc);
        ret = EMP_START_READY;
    }
    api->http_response_free(s->host, &resp);
    return ret;
}

/* ---- run: one job ---- */

/* How a transport error is classified. */
static const struct {
    int error;
    emp_result_t cls;
    const char *code;
} transport_table[] = {
    {EMP_HTTP_E_REFUSED, EMP_RETRY, "backend_down"},
    {EMP_HTTP_E_CONNECT, EMP_RETRY, "backend_down"},
    {EMP_HTTP_E_RESOLVE, EMP_RETRY, "backend_down"},
    {EMP_HTTP_E_TIMEOUT, EMP_RETRY, "backend_timeout"},
    {EMP_HTTP_E_IO, EMP_RETRY, "backend_io"},
    {EMP_HTTP_E_NOMEM, EMP_RETRY, "oom"},
    {EMP_HTTP_E_CANCELLED, EMP_CANCELLED, "cancelled"},
    {EMP_HTTP_E_TOO_LARGE, EMP_FAIL, "response_too_large"},
    {EMP_HTTP_E_TLS, EMP_FAIL, "tls"},
    {EMP_HTTP_E_SCHEME, EMP_FAIL, "bad_config"},
    {EMP_HTTP_E_INVALID, EMP_FAIL, "bad_request"},
};

/* How an HTTP status other than 2xx is classified: first matching range wins. */
static const struct {
    int lo, hi;
    emp_result_t cls;
    const char *code;
} status_table[] = {
    {408, 408, EMP_RETRY, "backend_busy"},    {429, 429, EMP_RETRY, "backend_busy"},
    {400, 499, EMP_FAIL, "backend_rejected"}, {500, 599, EMP_RETRY, "backend_error"},
    {0, 999, EMP_FAIL, "unexpected_status"},
};

/* The request body: the payload's own bytes with "model" and "stream" added when absent. */
static char *hj_body(const hj_state_t *s, const char *payload, size_t len, int has_model,
                     int has_stream, size_t *out_len)
{
    const char *open = memchr(payload, '{', len);
    const char *close = payload + len;
    while (close > open && close[-1] != '}')
        close--;
    if (open == NULL || close <= open) /* cannot happen for a parsed object */
        return NULL;
    cJSON *m = cJSON_CreateString(s->model);
    char *model_json = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    if (model_json == NULL)
        return NULL;
    size_t inner = (size_t)(close - 1 - (open + 1)); /* between the braces */
    size_t cap = inner + strlen(model_json) + 64;
    char *body = malloc(cap);
    if (body != NULL) {
        int n = snprintf(body, cap, "{%s%s%s%s",
                         has_model ? "" : "\"model\":", has_model ? "" : model_json,
                         has_model ? "" : ",", has_stream ? "" : "\"stream\":false,");
        memcpy(body + n, open + 1, inner);
        body[n + inner] = '}';
        body[n + inner + 1] = '\0';
        *out_len = (size_t)n + inner + 1;
    }
    cJSON_free(model_json);
    return body;
}

/* The backend's "error" text, if its answer has one. */
static void backend_error(const emp_http_response_t *resp, char *buf, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    snprintf(buf, len, "%s", cJSON_IsString(e) ? e->valuestring : "(no error text)");
    cJSON_Delete(doc);
}

static emp_result_t hj_run(void *state, emp_job_t *job)
{
    hj_state_t *s = state;
    const emp_host_api_t *api = s->api;
    size_t len;
    const char *payload = api->job_payload(job, &len);

    /* inspect the payload (never re-serialise it) */
    cJSON *doc = cJSON_ParseWithLength(payload, len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return api->fail(job, EMP_FAIL, "bad_input", "the payload is not a JSON object");
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(doc, "prompt");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(doc, "stream");
    const char *why = !cJSON_IsString(prompt) || prompt->valuestring[0] == '\0'
                          ? "the payload has no \"prompt\" string"
                      : model != NULL && !cJSON_IsString(model) ? "\"model\" must be a string"
                      : stream != NULL && !cJSON_IsFalse(stream)
                          ? "\"stream\" must be false (this plugin reads one answer)"
                          : NULL;
    int has_model = model != NULL, has_stream = stream != NULL;
    cJSON_Delete(doc);
    if (why != NULL)
        return api->fail(job, EMP_FAIL, "bad_input", "%s", why);

    size_t body_len = 0;
    char *body = hj_body(s, payload, len, has_model, has_stream, &body_len);
    if (body == NULL)
        return api->fail(job, EMP_RETRY, "oom", "out of memory");

    api->progress(job, 0.05, "sent to the backend");
    emp_http_response_t resp = {EMP_HTTP_RESPONSE_INIT};
    int rc = hj_request(s, job, "POST", s->path, body, body_len, s->timeout_ms, &resp);
    free(body);

    emp_result_t ret = EMP_OK;
    if (rc != EMP_HTTP_OK) {
        ret = EMP_RETRY;
        const char *code = "backend_io";
        for (size_t i = 0; i < sizeof transport_table / sizeof transport_table[0]; i++)
            if (transport_table[i].error == rc) {
                ret = transport_table[i].cls;
                code = transport_table[i].code;
                break;
            }
        api->fail(job, ret, code, "%s", resp.error_text);
    } else if (resp.status / 100 != 2) {
        char err[256];
        backend_error(&resp, err, sizeof err);
        for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
            if (resp.status >= status_table[i].lo && resp.status <= status_table[i].hi) {
                ret = api->fail(job, status_table[i].cls, status_table[i].code,
                                "backend answered HTTP %d: %s", resp.status, err);
                break;
            }
    } else {
        cJSON *answer = cJSON_ParseWithLength(resp.body, resp.body_len);
        int is_object = cJSON_IsObject(answer);
        cJSON_Delete(answer);
        if (!is_object)
            ret = api->fail(job, EMP_RETRY, "bad_response",
                            "backend answered HTTP %d with something that is not a JSON object",
                            resp.status);
        else if (api->set_result(job, resp.body, resp.body_len) != 0)
            ret = api->fail(job, EMP_FAIL, "result_too_large",
                            "the backend's answer (%zu bytes) was refused by the host",
                            resp.body_len);
        else
            api->progress(job, 1.0, "done");
    }
    api->http_response_free(s->host, &resp);
    return ret;
}

static const char *const hj_services[] = {"http_json", NULL};

static const emp_plugin_t hj_plugin = {
    EMP_PLUGIN_HEADER,
    .name = "http_json",
    .version = "1.0.0",
    .description = "Example: an HTTP JSON backend (Ollama-like POST /api/generate)",
    .services = hj_services,
    .create = hj_create,
    .start = hj_start,
    .run = hj_run,
    .destroy = hj_destroy,
    /* no cancel callback: http_request already returns as soon as the job is cancelled */
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &hj_plugin; }
