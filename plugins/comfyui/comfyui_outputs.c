/* comfyui_outputs.c - result JSON (see comfyui_outputs.h). */
#define _GNU_SOURCE
#include "comfyui_outputs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_errors.h"
#include "comfyui_util.h"

static void add_trimmed_slashes(cfy_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    size_t i = 0;
    while (i < n && s[i] == '/')
        i++;
    cfy_buf_add(b, s + i, n - i);
}

int cfy_cdn_url(const char *ctx_json, const char *filename, cfy_buf_t *out)
{
    if (ctx_json == NULL || *ctx_json == '\0')
        return 0;
    cJSON *ctx = cJSON_Parse(ctx_json);
    /* ctx may arrive double-encoded (a JSON string holding the object) */
    if (cJSON_IsString(ctx)) {
        cJSON *inner = cJSON_Parse(ctx->valuestring);
        cJSON_Delete(ctx);
        ctx = inner;
    }
    const cJSON *storage = cJSON_GetObjectItemCaseSensitive(ctx, "storage");
    const cJSON *cdn = cJSON_GetObjectItemCaseSensitive(storage, "cdnUrl");
    if (!cJSON_IsString(cdn) || cdn->valuestring[0] == '\0') {
        cJSON_Delete(ctx);
        return 0;
    }
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(ctx, "prefix");
    if (!cJSON_IsString(prefix))
        prefix = cJSON_GetObjectItemCaseSensitive(storage, "prefix");
    const char *host = cdn->valuestring;
    if (strncmp(host, "https://", 8) == 0)
        host += 8;
    else if (strncmp(host, "http://", 7) == 0)
        host += 7;
    cfy_buf_str(out, "https://");
    add_trimmed_slashes(out, host);
    cfy_buf_str(out, "/");
    if (cJSON_IsString(prefix) && prefix->valuestring[0]) {
        add_trimmed_slashes(out, prefix->valuestring);
        cfy_buf_str(out, "/");
    }
    cfy_buf_str(out, filename);
    cJSON_Delete(ctx);
    return 1;
}

static void view_url(cfy_buf_t *b, const char *base, const cfy_file_t *f)
{
    cfy_buf_str(b, base);
    cfy_buf_str(b, "/view?filename=");
    cfy_buf_urlencode(b, f->filename);
    cfy_buf_str(b, "&subfolder=");
    cfy_buf_urlencode(b, f->subfolder);
    cfy_buf_str(b, "&type=");
    cfy_buf_urlencode(b, f->type);
}

/* Download one file through /view and append it base64-encoded. *budget shrinks. */
static emp_result_t embed_file(const cfy_outputs_ctx_t *c, const char *url, cfy_buf_t *out,
                               long long *budget, const cfy_file_t *f)
{
    const emp_host_api_t *api = c->api;
    cfy_http_req_t req = {.method = "GET",
                          .url = url,
                          .cancel_fd = c->cancel_fd,
                          .max_body = (size_t)(*budget > 0 ? *budget : 1)};
    cfy_config_backend_req(c->cfg, &req);
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    emp_result_t r = EMP_OK;
    cfy_http_rc_t rc = cfy_http_request(c->http, &req, &resp);
    if (rc == CFY_HTTP_ECANCELLED)
        r = api->fail(c->job, EMP_CANCELLED, "cancelled", "cancelled while downloading outputs");
    else if (rc == CFY_HTTP_ETOOBIG || *budget <= 0)
        r = api->fail(c->job, EMP_FAIL, "output_too_large",
                      "outputs exceed max_output_bytes (%lld) at %s", c->cfg->max_output_bytes,
                      f->filename);
    else if (rc != CFY_HTTP_DONE)
        r = api->fail(c->job, EMP_RETRY, "output_fetch_failed", "downloading output %s: %s",
                      f->filename, resp.error);
    else if (cfy_http_classify(resp.status) != CFY_HTTP_CLASS_OK)
        r = api->fail(c->job,
                      cfy_http_classify(resp.status) == CFY_HTTP_CLASS_RETRY ? EMP_RETRY : EMP_FAIL,
                      "output_fetch_failed", "ComfyUI answered HTTP %ld for output %s", resp.status,
                      f->filename);
    if (r == EMP_OK) {
        *budget -= (long long)resp.body.n;
        cfy_buf_str(out, ",\"size\":");
        cfy_buf_printf(out, "%zu", resp.body.n);
        cfy_buf_str(out, ",\"base64\":\"");
        cfy_base64_encode(out, (const unsigned char *)resp.body.p, resp.body.n);
        cfy_buf_str(out, "\"");
    }
    cfy_http_resp_free(&resp);
    return r;
}

static void add_ms(cfy_buf_t *b, const char *key, int64_t v, int *first)
{
    if (v < 0)
        return;
    cfy_buf_printf(b, "%s\"%s\":%lld", *first ? "" : ",", key, (long long)v);
    *first = 0;
}

emp_result_t cfy_outputs_publish(const cfy_outputs_ctx_t *c)
{
    const emp_host_api_t *api = c->api;
    const cfy_history_t *h = c->history;
    cfy_buf_t b, url;
    cfy_buf_init(&b);
    cfy_buf_init(&url);
    emp_result_t r = EMP_OK;
    long long budget = c->cfg->max_output_bytes;

    cfy_buf_str(&b, "{\"prompt_id\":");
    cfy_buf_json_str(&b, c->prompt_id, (size_t)-1);
    cfy_buf_str(&b, ",\"client_id\":");
    cfy_buf_json_str(&b, c->client_id, (size_t)-1);
    cfy_buf_str(&b, ",\"status\":\"success\",\"outputs\":[");
    for (size_t i = 0; i < h->nfiles && r == EMP_OK; i++) {
        const cfy_file_t *f = &h->files[i];
        cfy_buf_reset(&url);
        view_url(&url, c->cfg->base_url, f);
        const char *cls = cfy_progress_class(c->progress, f->node);
        cfy_buf_str(&b, i ? ",{" : "{");
        cfy_buf_str(&b, "\"node\":");
        cfy_buf_json_str(&b, f->node, (size_t)-1);
        if (cls) {
            cfy_buf_str(&b, ",\"class_type\":");
            cfy_buf_json_str(&b, cls, (size_t)-1);
        }
        cfy_buf_str(&b, ",\"kind\":");
        cfy_buf_json_str(&b, f->kind, (size_t)-1);
        cfy_buf_str(&b, ",\"filename\":");
        cfy_buf_json_str(&b, f->filename, (size_t)-1);
        cfy_buf_str(&b, ",\"subfolder\":");
        cfy_buf_json_str(&b, f->subfolder, (size_t)-1);
        cfy_buf_str(&b, ",\"type\":");
        cfy_buf_json_str(&b, f->type, (size_t)-1);
        cfy_buf_str(&b, ",\"mime_type\":");
        cfy_buf_json_str(&b, cfy_mime_for_name(f->filename), (size_t)-1);
        cfy_buf_str(&b, ",\"url\":");
        cfy_buf_json_str(&b, url.p ? url.p : "", url.n);
        if (c->cfg->outputs == CFY_OUTPUTS_BASE64 && cfy_buf_ok(&url))
            r = embed_file(c, url.p, &b, &budget, f);
        cfy_buf_str(&b, "}");
    }
    if (r != EMP_OK)
        goto out;
    cfy_buf_str(&b, "],\"cached_nodes\":[");
    for (size_t i = 0; i < c->ncached; i++) {
        if (i)
            cfy_buf_str(&b, ",");
        cfy_buf_json_str(&b, c->cached_nodes[i], (size_t)-1);
    }
    cfy_buf_str(&b, "],\"timings\":{");
    int first = 1;
    add_ms(&b, "queued_ms", c->timings->queued_ms, &first);
    add_ms(&b, "execution_ms", c->timings->execution_ms, &first);
    add_ms(&b, "total_ms", c->timings->total_ms, &first);
    add_ms(&b, "submitted_at_ms", c->timings->submitted_wall_ms, &first);
    if (h->ts_start > 0)
        add_ms(&b, "backend_started_at_ms", (int64_t)h->ts_start, &first);
    if (h->ts_end > 0)
        add_ms(&b, "backend_finished_at_ms", (int64_t)h->ts_end, &first);
    if (h->ts_start > 0 && h->ts_end >= h->ts_start)
        add_ms(&b, "backend_execution_ms", (int64_t)(h->ts_end - h->ts_start), &first);
    cfy_buf_str(&b, "}");

    /* The reference worker's fields: first file's CDN URL when ctx names a CDN. */
    const char *ctx = api->job_field(c->job, "ctx", NULL);
    if (h->nfiles > 0) {
        cfy_buf_reset(&url);
        if (cfy_cdn_url(ctx, h->files[0].filename, &url) == 1) {
            cfy_buf_str(&b, ",\"image_url\":");
            cfy_buf_json_str(&b, url.p, url.n);
            cfy_buf_str(&b, ",\"mime_type\":");
            cfy_buf_json_str(&b, cfy_mime_for_name(h->files[0].filename), (size_t)-1);
            cfy_buf_str(&b, ",\"content_type\":\"image\"");
        }
    }
    if (h->outputs_raw.p) {
        cfy_buf_str(&b, ",\"comfyui_outputs\":");
        cfy_buf_add(&b, h->outputs_raw.p, h->outputs_raw.n);
    }
    cfy_buf_str(&b, "}");
    if (!cfy_buf_ok(&b) || !cfy_buf_ok(&url)) {
        r = api->fail(c->job, EMP_RETRY, "internal", "out of memory building the result");
        goto out;
    }
    if (api->set_result(c->job, b.p, b.n) != 0)
        r = api->fail(c->job, EMP_FAIL, "result_rejected",
                      "the host refused the result (%zu bytes): too large or not an object", b.n);
out:
    cfy_buf_free(&b);
    cfy_buf_free(&url);
    return r;
}
