/* comfyui_http.c - see comfyui_http.h. */
#define _GNU_SOURCE
#include "comfyui_http.h"

#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFY_HTTP_DEFAULT_MAX_BODY (16u << 20)

struct cfy_http {
    CURLM *multi;
};

typedef struct sink {
    ebuf_t *buf;
    size_t max;
    int too_big;
} sink_t;

cfy_http_t *cfy_http_new(void)
{
    cfy_http_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

void cfy_http_free(cfy_http_t *h)
{
    if (h == NULL)
        return;
    curl_multi_cleanup(h->multi);
    free(h);
}

void cfy_http_wakeup(cfy_http_t *h)
{
    if (h != NULL)
        curl_multi_wakeup(h->multi);
}

void cfy_http_resp_init(cfy_http_resp_t *r)
{
    memset(r, 0, sizeof *r);
    ebuf_init(&r->body, 0);
}

void cfy_http_resp_free(cfy_http_resp_t *r)
{
    ebuf_free(&r->body);
    memset(r, 0, sizeof *r);
}

const char *cfy_http_rc_text(cfy_http_rc_t rc)
{
    switch (rc) {
    case CFY_HTTP_DONE: return "done";
    case CFY_HTTP_ECONNECT: return "connection failed";
    case CFY_HTTP_ETIMEOUT: return "timed out";
    case CFY_HTTP_ECANCELLED: return "cancelled";
    case CFY_HTTP_ETOOBIG: return "answer too large";
    default: return "internal error";
    }
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (s->buf->len + n > s->max) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    ebuf_append(s->buf, ptr, n);
    return ebuf_ok(s->buf) ? n : 0;
}

static cfy_http_rc_t map_curl_error(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT: return CFY_HTTP_ETIMEOUT;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return CFY_HTTP_EINTERNAL;
    default: return CFY_HTTP_ECONNECT;
    }
}

/* Build the easy handle for req. Returns NULL on failure. */
static CURL *make_easy(const cfy_http_req_t *req, sink_t *sink, struct curl_slist **headers,
                       struct curl_slist **resolve, curl_mime **mime, char *errbuf)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, sink) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "emp-worker-comfyui/1") != CURLE_OK;
    /* no "Expect: 100-continue" round trip for uploads */
    *headers = curl_slist_append(*headers, "Expect:");
    if (req->content_type && req->body) {
        char line[160];
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        *headers = curl_slist_append(*headers, line);
    }
    if (req->auth_header) {
        size_t n = strlen(req->auth_header) + 32;
        char *line = malloc(n);
        if (line == NULL)
            bad = 1;
        else {
            snprintf(line, n, "Authorization: %s", req->auth_header);
            *headers = curl_slist_append(*headers, line);
            memset(line, 0, n);
            free(line);
        }
    }
    if (*headers == NULL)
        bad = 1;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers) != CURLE_OK;
    if (req->ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) != CURLE_OK;
    if (req->pin_resolve) {
        *resolve = curl_slist_append(NULL, req->pin_resolve);
        bad |= *resolve == NULL || curl_easy_setopt(e, CURLOPT_RESOLVE, *resolve) != CURLE_OK;
    }
    if (req->form_file_field) {
        *mime = curl_mime_init(e);
        curl_mimepart *part = *mime ? curl_mime_addpart(*mime) : NULL;
        bad |= part == NULL;
        if (part) {
            bad |= curl_mime_name(part, req->form_file_field) != CURLE_OK;
            bad |= curl_mime_filename(part, req->form_file_name) != CURLE_OK;
            bad |= curl_mime_data(part, (const char *)req->form_file_data, req->form_file_len) !=
                   CURLE_OK;
        }
        for (const char *const *f = req->form_fields; !bad && f && f[0] && f[1]; f += 2) {
            curl_mimepart *fp = curl_mime_addpart(*mime);
            bad |= fp == NULL || curl_mime_name(fp, f[0]) != CURLE_OK ||
                   curl_mime_data(fp, f[1], CURL_ZERO_TERMINATED) != CURLE_OK;
        }
        if (!bad)
            bad |= curl_easy_setopt(e, CURLOPT_MIMEPOST, *mime) != CURLE_OK;
    } else if (req->body || strcmp(req->method, "POST") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(req->body ? req->body_len : 0)) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    if (bad) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

cfy_http_rc_t cfy_http_request(cfy_http_t *h, const cfy_http_req_t *req, cfy_http_resp_t *resp)
{
    ebuf_reset(&resp->body);
    resp->status = 0;
    resp->content_type[0] = '\0';
    resp->error[0] = '\0';
    sink_t sink = {.buf = &resp->body,
                   .max = req->max_body ? req->max_body : CFY_HTTP_DEFAULT_MAX_BODY};
    struct curl_slist *headers = NULL, *resolve = NULL;
    curl_mime *mime = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    cfy_http_rc_t rc = CFY_HTTP_EINTERNAL;
    CURL *e = make_easy(req, &sink, &headers, &resolve, &mime, errbuf);
    if (e == NULL) {
        snprintf(resp->error, sizeof resp->error, "could not set up the request");
        goto out;
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        snprintf(resp->error, sizeof resp->error, "could not start the request");
        goto out_easy;
    }
    int running = 1;
    CURLcode result = CURLE_OK;
    int cancelled = 0;
    while (running) {
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            break;
        if (!running)
            break;
        struct curl_waitfd extra = {.fd = req->cancel_fd, .events = CURL_WAIT_POLLIN};
        int nfds = 0;
        if (curl_multi_poll(h->multi, req->cancel_fd >= 0 ? &extra : NULL,
                            req->cancel_fd >= 0 ? 1 : 0, 1000, &nfds) != CURLM_OK)
            break;
        if (req->cancel_fd >= 0) {
            struct pollfd p = {.fd = req->cancel_fd, .events = POLLIN};
            if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
                cancelled = 1;
                break;
            }
        }
    }
    CURLMsg *m;
    int left;
    int finished = 0;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
            result = m->data.result;
            finished = 1;
        }
    curl_multi_remove_handle(h->multi, e);
    if (cancelled) {
        rc = CFY_HTTP_ECANCELLED;
        snprintf(resp->error, sizeof resp->error, "cancelled");
    } else if (!finished) {
        rc = CFY_HTTP_EINTERNAL;
        snprintf(resp->error, sizeof resp->error, "transfer did not finish");
    } else if (sink.too_big || result == CURLE_FILESIZE_EXCEEDED) {
        rc = CFY_HTTP_ETOOBIG;
        snprintf(resp->error, sizeof resp->error, "answer larger than %zu bytes", sink.max);
    } else if (result != CURLE_OK) {
        rc = map_curl_error(result);
        snprintf(resp->error, sizeof resp->error, "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(result));
    } else if (!ebuf_ok(&resp->body)) {
        rc = CFY_HTTP_EINTERNAL;
        snprintf(resp->error, sizeof resp->error, "out of memory");
    } else {
        rc = CFY_HTTP_DONE;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
        char *ct = NULL;
        if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
        if (resp->body.data == NULL)
            ebuf_append(&resp->body, "", 0);
    }
out_easy:
    curl_easy_cleanup(e);
out:
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    return rc;
}
