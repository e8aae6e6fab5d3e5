/* comfyui_outputs.c - result JSON (see comfyui_outputs.h). */
#define _GNU_SOURCE
#include "comfyui_outputs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_errors.h"
#include "comfyui_util.h"

static void add_trimmed_slashes(ebuf_t *b, const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    size_t i = 0;
    while (i < n && s[i] == '/')
        i++;
    ebuf_append(b, s + i, n - i);
}

int cfy_cdn_url(const char *ctx_json, const char *filename, ebuf_t *out)
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
    ebuf_puts(out, "https://");
    add_trimmed_slashes(out, host);
    ebuf_puts(out, "/");
    if (cJSON_IsString(prefix) && prefix->valuestring[0]) {
        add_trimmed_slashes(out, prefix->valuestring);
        ebuf_puts(out, "/");
    }
    ebuf_puts(out, filename);
    cJSON_Delete(ctx);
    return 1;
}

static void view_url(ebuf_t *b, const char *base, const cfy_file_t *f)
{
    ebuf_puts(b, base);
    ebuf_puts(b, "/view?filename=");
    cfy_urlencode(b, f->filename);
    ebuf_puts(b, "&subfolder=");
    cfy_urlencode(b, f->subfolder);
    ebuf_puts(b, "&type=");
    cfy_urlencode(b, f->type);
}

/* Download one file through /view and append it base64-encoded. *budget shrinks. */
static emp_result_t embed_file(const cfy_outputs_ctx_t *c, const char *url, ebuf_t *out,
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
        *budget -= (long long)resp.body.len;
        ebuf_puts(out, ",\"size\":");
        ebuf_printf(out, "%zu", resp.body.len);
        ebuf_puts(out, ",\"base64\":\"");
        cfy_base64_encode(out, (const unsigned char *)resp.body.data, resp.body.len);
        ebuf_puts(out, "\"");
    }
    cfy_http_resp_free(&resp);
    return r;
}

static void add_ms(ebuf_t *b, const char *key, int64_t v, int *first)
{
    if (v < 0)
        return;
    ebuf_printf(b, "%s\"%s\":%lld", *first ? "" : ",", key, (long long)v);
    *first = 0;
}

emp_result_t cfy_outputs_publish(const cfy_outputs_ctx_t *c)
{
    const emp_host_api_t *api = c->api;
    const cfy_history_t *h = c->history;
    ebuf_t b, url;
    ebuf_init(&b, 0);
    ebuf_init(&url, 0);
    emp_result_t r = EMP_OK;
    long long budget = c->cfg->max_output_bytes;

    ebuf_puts(&b, "{\"prompt_id\":");
    ebuf_json_cstr(&b, c->prompt_id);
    ebuf_puts(&b, ",\"client_id\":");
    ebuf_json_cstr(&b, c->client_id);
    ebuf_puts(&b, ",\"status\":\"success\",\"outputs\":[");
    for (size_t i = 0; i < h->nfiles && r == EMP_OK; i++) {
        const cfy_file_t *f = &h->files[i];
        ebuf_reset(&url);
        view_url(&url, c->cfg->base_url, f);
        const char *cls = cfy_progress_class(c->progress, f->node);
        ebuf_puts(&b, i ? ",{" : "{");
        ebuf_puts(&b, "\"node\":");
        ebuf_json_cstr(&b, f->node);
        if (cls) {
            ebuf_puts(&b, ",\"class_type\":");
            ebuf_json_cstr(&b, cls);
        }
        ebuf_puts(&b, ",\"kind\":");
        ebuf_json_cstr(&b, f->kind);
        ebuf_puts(&b, ",\"filename\":");
        ebuf_json_cstr(&b, f->filename);
        ebuf_puts(&b, ",\"subfolder\":");
        ebuf_json_cstr(&b, f->subfolder);
        ebuf_puts(&b, ",\"type\":");
        ebuf_json_cstr(&b, f->type);
        ebuf_puts(&b, ",\"mime_type\":");
        ebuf_json_cstr(&b, cfy_mime_for_name(f->filename));
        ebuf_puts(&b, ",\"url\":");
        ebuf_json_string(&b, url.data ? url.data : "", url.len);
        if (c->cfg->outputs == CFY_OUTPUTS_BASE64 && ebuf_ok(&url))
            r = embed_file(c, url.data, &b, &budget, f);
        ebuf_puts(&b, "}");
    }
    if (r != EMP_OK)
        goto out;
    ebuf_puts(&b, "],\"cached_nodes\":[");
    for (size_t i = 0; i < c->ncached; i++) {
        if (i)
            ebuf_puts(&b, ",");
        ebuf_json_cstr(&b, c->cached_nodes[i]);
    }
    ebuf_puts(&b, "],\"timings\":{");
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
    ebuf_puts(&b, "}");

    /* The reference worker's fields: first file's CDN URL when ctx names a CDN. */
    const char *ctx = api->job_field(c->job, "ctx", NULL);
    if (h->nfiles > 0) {
        ebuf_reset(&url);
        if (cfy_cdn_url(ctx, h->files[0].filename, &url) == 1) {
            ebuf_puts(&b, ",\"image_url\":");
            ebuf_json_string(&b, url.data, url.len);
            ebuf_puts(&b, ",\"mime_type\":");
            ebuf_json_cstr(&b, cfy_mime_for_name(h->files[0].filename));
            ebuf_puts(&b, ",\"content_type\":\"image\"");
        }
    }
    if (h->outputs_raw.p) {
        ebuf_puts(&b, ",\"comfyui_outputs\":");
        ebuf_append(&b, h->outputs_raw.p, h->outputs_raw.len);
    }
    ebuf_puts(&b, "}");
    if (!ebuf_ok(&b) || !ebuf_ok(&url)) {
        r = api->fail(c->job, EMP_RETRY, "internal", "out of memory building the result");
        goto out;
    }
    if (api->set_result(c->job, b.data, b.len) != 0)
        r = api->fail(c->job, EMP_FAIL, "result_rejected",
                      "the host refused the result (%zu bytes): too large or not an object", b.len);
out:
    ebuf_free(&b);
    ebuf_free(&url);
    return r;
}
