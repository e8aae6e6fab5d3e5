/* comfyui_inputs.c - input image download/decode and upload (see comfyui_inputs.h). */
#define _GNU_SOURCE
#include "comfyui_inputs.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "comfyui_errors.h"
#include "comfyui_util.h"

#define CFY_MAX_INPUT_IMAGES 64

/* A plain file name: no path separators, no "..", printable, not too long. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strcmp(name, ".") == 0 || strstr(name, "..") != NULL)
        return 0;
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '/' || *c == '\\' || *c == '"')
            return 0;
    return 1;
}

/* Split an http(s) URL into host and port for the address check. 0 or -1. */
static int parse_url(const char *url, int *https, char *host, size_t hostlen, int *port)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        *https = 0;
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        *https = 1;
        p = url + 8;
    } else {
        return -1;
    }
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        return -1; /* no credentials in input URLs */
    const char *hs = p, *he, *colon;
    if (*p == '[') {
        he = memchr(p, ']', (size_t)(end - p));
        if (he == NULL)
            return -1;
        hs = p + 1;
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = *https ? 443 : 80;
    if (colon) {
        char *e;
        long v = strtol(colon + 1, &e, 10);
        if (e != end || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
    }
    return 0;
}

/* Resolve host, refuse private addresses unless allowed, and build a CURLOPT_RESOLVE pin. */
static int check_address(const char *host, int port, int allow_private, char *pin, size_t pinlen,
                         char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(why, whylen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -2;
    }
    int ok = -1;
    char addr[INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (!allow_private && cfy_addr_is_private(a->ai_addr)) {
            ok = -1;
            snprintf(why, whylen,
                     "%s resolves to a private or loopback address (set "
                     "allow_private_input_urls to allow it)",
                     host);
            break;
        }
        if (ok != 0) {
            const void *src = a->ai_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
            if (inet_ntop(a->ai_family, src, addr, sizeof addr) != NULL)
                ok = 0;
        }
    }
    freeaddrinfo(res);
    if (ok == 0) {
        int v6 = strchr(addr, ':') != NULL;
        snprintf(pin, pinlen, "%s:%d:%s%s%s", host, port, v6 ? "[" : "", addr, v6 ? "]" : "");
    }
    return ok;
}

static emp_result_t fetch_url(const cfy_inputs_ctx_t *c, const char *url, cfy_http_resp_t *resp)
{
    const emp_host_api_t *api = c->api;
    char host[256], pin[512], why[512];
    int https, port;
    if (parse_url(url, &https, host, sizeof host, &port) != 0)
        return api->fail(c->job, EMP_FAIL, "bad_input",
                         "input image URL is not a plain http(s) URL");
    int chk = check_address(host, port, c->cfg->allow_private_input_urls, pin, sizeof pin, why,
                            sizeof why);
    if (chk == -2)
        return api->fail(c->job, EMP_FAIL, "input_fetch_failed", "input image URL: %s", why);
    if (chk != 0)
        return api->fail(c->job, EMP_FAIL, "input_url_refused", "input image URL refused: %s", why);
    cfy_http_req_t req = {.method = "GET",
                          .url = url,
                          .pin_resolve = pin,
                          .cancel_fd = c->cancel_fd,
                          .connect_timeout_ms = c->cfg->connect_timeout_ms,
                          .timeout_ms = c->cfg->request_timeout_ms,
                          .max_body = (size_t)c->cfg->max_input_bytes};
    cfy_http_rc_t rc = cfy_http_request(c->http, &req, resp);
    if (rc == CFY_HTTP_ECANCELLED)
        return api->fail(c->job, EMP_CANCELLED, "cancelled", "cancelled while fetching inputs");
    if (rc == CFY_HTTP_ETOOBIG)
        return api->fail(c->job, EMP_FAIL, "input_too_large",
                         "input image at %s is larger than max_input_bytes (%lld)", host,
                         c->cfg->max_input_bytes);
    if (rc != CFY_HTTP_DONE)
        return api->fail(c->job, EMP_RETRY, "input_fetch_failed",
                         "could not fetch input image from %s: %s", host, resp->error);
    cfy_http_class_t cls = cfy_http_classify(resp->status);
    if (cls == CFY_HTTP_CLASS_RETRY)
        return api->fail(c->job, EMP_RETRY, "input_fetch_failed",
                         "input image source %s answered HTTP %ld", host, resp->status);
    if (cls != CFY_HTTP_CLASS_OK)
        return api->fail(c->job, EMP_FAIL, "input_fetch_failed",
                         "input image source %s answered HTTP %ld", host, resp->status);
    return EMP_OK;
}

static emp_result_t upload_one(const cfy_inputs_ctx_t *c, const char *name, const char *subfolder,
                               const unsigned char *data, size_t len)
{
    const emp_host_api_t *api = c->api;
    ebuf_t url;
    ebuf_init(&url, 0);
    ebuf_puts(&url, c->cfg->base_url);
    ebuf_puts(&url, "/upload/image");
    const char *fields[] = {"type",    "input", "overwrite", "true", subfolder ? "subfolder" : NULL,
                            subfolder, NULL,    NULL};
    cfy_http_req_t req = {.method = "POST",
                          .url = url.data,
                          .form_file_field = "image",
                          .form_file_name = name,
                          .form_file_data = data,
                          .form_file_len = len,
                          .form_fields = fields,
                          .cancel_fd = c->cancel_fd,
                          .max_body = 1 << 20};
    cfy_config_backend_req(c->cfg, &req);
    cfy_http_resp_t resp;
    cfy_http_resp_init(&resp);
    emp_result_t r = EMP_OK;
    cfy_http_rc_t rc = ebuf_ok(&url) ? cfy_http_request(c->http, &req, &resp) : CFY_HTTP_EINTERNAL;
    if (rc == CFY_HTTP_ECANCELLED)
        r = api->fail(c->job, EMP_CANCELLED, "cancelled", "cancelled while uploading inputs");
    else if (rc != CFY_HTTP_DONE)
        r = api->fail(c->job, EMP_RETRY, "backend_down", "uploading input '%s' to ComfyUI: %s",
                      name, resp.error[0] ? resp.error : cfy_http_rc_text(rc));
    else if (cfy_http_classify(resp.status) != CFY_HTTP_CLASS_OK)
        r = api->fail(c->job,
                      cfy_http_classify(resp.status) == CFY_HTTP_CLASS_RETRY ? EMP_RETRY : EMP_FAIL,
                      "upload_failed", "ComfyUI refused the upload of input '%s': HTTP %ld", name,
                      resp.status);
    cfy_http_resp_free(&resp);
    ebuf_free(&url);
    return r;
}

emp_result_t cfy_inputs_upload(const cfy_inputs_ctx_t *c, const void *images_json)
{
    const emp_host_api_t *api = c->api;
    const cJSON *images = images_json;
    if (images == NULL || cJSON_IsNull(images))
        return EMP_OK;
    if (!cJSON_IsArray(images))
        return api->fail(c->job, EMP_FAIL, "bad_input", "payload.images must be an array");
    if (cJSON_GetArraySize(images) > CFY_MAX_INPUT_IMAGES)
        return api->fail(c->job, EMP_FAIL, "bad_input", "payload.images has more than %d entries",
                         CFY_MAX_INPUT_IMAGES);
    const cJSON *it;
    int idx = 0;
    cJSON_ArrayForEach(it, images)
    {
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *ji = cJSON_GetObjectItemCaseSensitive(it, "image");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "subfolder");
        if (!cJSON_IsString(jn) || !cJSON_IsString(ji))
            return api->fail(c->job, EMP_FAIL, "bad_input",
                             "payload.images[%d] needs string fields name and image", idx);
        if (!name_ok(jn->valuestring))
            return api->fail(c->job, EMP_FAIL, "bad_input",
                             "payload.images[%d].name is not a plain file name", idx);
        const char *sub = cJSON_IsString(js) && js->valuestring[0] ? js->valuestring : NULL;
        if (sub && !name_ok(sub))
            return api->fail(c->job, EMP_FAIL, "bad_input",
                             "payload.images[%d].subfolder is not a plain folder name", idx);
        const char *src = ji->valuestring;
        emp_result_t r;
        if (strncasecmp(src, "http://", 7) == 0 || strncasecmp(src, "https://", 8) == 0) {
            cfy_http_resp_t resp;
            cfy_http_resp_init(&resp);
            r = fetch_url(c, src, &resp);
            if (r == EMP_OK)
                r = upload_one(c, jn->valuestring, sub, (const unsigned char *)resp.body.data,
                               resp.body.len);
            cfy_http_resp_free(&resp);
        } else if (strstr(src, "://") != NULL) {
            return api->fail(c->job, EMP_FAIL, "bad_input",
                             "payload.images[%d].image: only http and https URLs are accepted",
                             idx);
        } else {
            if (strncasecmp(src, "data:", 5) == 0) { /* data:image/png;base64,.... */
                const char *comma = strchr(src, ',');
                if (comma == NULL || strstr(src, ";base64,") == NULL)
                    return api->fail(c->job, EMP_FAIL, "bad_input",
                                     "payload.images[%d].image: data URI is not base64", idx);
                src = comma + 1;
            }
            unsigned char *bytes;
            size_t n;
            int d =
                cfy_base64_decode(src, strlen(src), &bytes, &n, (size_t)c->cfg->max_input_bytes);
            if (d == -2)
                return api->fail(c->job, EMP_FAIL, "input_too_large",
                                 "payload.images[%d] is larger than max_input_bytes (%lld)", idx,
                                 c->cfg->max_input_bytes);
            if (d != 0 || n == 0) {
                free(bytes);
                return api->fail(c->job, EMP_FAIL, "bad_input",
                                 "payload.images[%d].image is neither base64 nor an http(s) URL",
                                 idx);
            }
            r = upload_one(c, jn->valuestring, sub, bytes, n);
            free(bytes);
        }
        if (r != EMP_OK)
            return r;
        idx++;
    }
    return EMP_OK;
}
