/*
 * host_http.c - the HTTP helper the host lends to plugins (see host_http.h, and emp_plugin.h
 * for the contract). One easy handle driven by a private multi handle, so that
 * curl_multi_poll can wait on the transfer and on the job's cancel fd at the same time.
 * Validation and the words of every error come from plugin-sdk/src/emp_http_util.c, shared
 * with the test kit.
 */
#define _GNU_SOURCE
#include "host_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "emp_http_util.h"
#include "job.h"
#include "log.h"
#include "plugin_host.h"
#include "xalloc.h"

#define HH_POLL_MS 1000 /* upper bound of one curl_multi_poll; curl shortens it as needed */

/* Everything a response points to; freed by http_response_free. */
typedef struct hh_resp {
    char *body;
    size_t len, cap;
    char *headers;
    size_t hlen, hcap;
    char *content_type;
    char *error_text;
} hh_resp_t;

typedef struct hh_xfer {
    hh_resp_t *r;
    size_t max_body;
    int too_large;   /* the body went past max_body */
    int headers_big; /* the header block went past EMP_HTTP_MAX_HEADER_BYTES */
} hh_xfer_t;

static emp_plugin_inst_t *inst_of(emp_host_t *host) { return (emp_plugin_inst_t *)(void *)host; }

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void buf_add(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        *buf = xrealloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static size_t hh_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    hh_xfer_t *x = userdata;
    size_t n = size * nmemb;
    if (x->r->len + n > x->max_body) {
        x->too_large = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    buf_add(&x->r->body, &x->r->len, &x->r->cap, ptr, n);
    return n;
}

static size_t hh_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    hh_xfer_t *x = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        x->r->hlen = 0; /* a new response (after 100 Continue): keep only the final one */
    else if (n == 2 && ptr[0] == '\r')
        return n; /* the blank line ending the block */
    else {
        if (x->r->hlen + n > EMP_HTTP_MAX_HEADER_BYTES) {
            x->headers_big = 1;
            return 0;
        }
        buf_add(&x->r->headers, &x->r->hlen, &x->r->hcap, ptr, n);
    }
    return n;
}

/* Fill resp from r (which it then owns) and return err. */
static int hh_finish(emp_http_response_t *resp, hh_resp_t *r, int status, int err)
{
    if (r->body == NULL)
        r->body = xstrdup("");
    if (r->headers == NULL)
        r->headers = xstrdup("");
    if (r->error_text == NULL)
        r->error_text = xstrdup("");
    resp->status = status;
    resp->error = err;
    resp->error_text = r->error_text;
    resp->body = r->body;
    resp->body_len = r->len;
    resp->content_type = r->content_type;
    resp->headers = r->headers;
    resp->host_private = r;
    return err;
}

static int hh_fail(const emp_http_request_t *req, emp_http_response_t *resp, hh_resp_t *r,
                   int status, int err, const char *reason)
{
    free(r->error_text);
    r->error_text = emp_http_error_text(req, reason);
    if (r->error_text == NULL)
        abort();
    return hh_finish(resp, r, status, err);
}

static int hh_setup(CURL *e, const emp_http_request_t *req, int have_job, hh_xfer_t *x,
                    struct curl_slist **hdrs, char *errbuf)
{
    int bad = 0;
    const char *method = emp_http_method(req);
    bad |= curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK; /* never via $http_proxy */
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)emp_http_connect_timeout(req)) !=
           CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)emp_http_total_timeout(req, have_job)) !=
           CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hh_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hh_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;

    if (strcmp(method, "HEAD") == 0)
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    else if (strcmp(method, "GET") == 0 && req->body == NULL)
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    else if (strcmp(method, "POST") != 0 && req->body == NULL)
        bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
    else {
        /* a body (or a POST without one): POSTFIELDS borrows req->body for the call */
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
        bad |=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") != CURLE_OK;
        if (strcmp(method, "POST") != 0)
            bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
    }

    int has_expect = 0;
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        has_expect |= strncasecmp(req->headers[i], "Expect:", 7) == 0;
        struct curl_slist *l = curl_slist_append(*hdrs, req->headers[i]);
        if (l == NULL)
            return -1;
        *hdrs = l;
    }
    if (!has_expect) { /* no 100-continue round trip for large bodies */
        struct curl_slist *l = curl_slist_append(*hdrs, "Expect:");
        if (l == NULL)
            return -1;
        *hdrs = l;
    }
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs) != CURLE_OK;
    return bad ? -1 : 0;
}

/* Map a finished transfer's CURLcode to our error and reason text. */
static int hh_classify(CURL *e, CURLcode cc, const hh_xfer_t *x, const emp_http_request_t *req,
                       int have_job, const char *errbuf, char *reason, size_t rlen)
{
    long oserr = 0;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OK: return EMP_HTTP_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(reason, rlen, "%s", EMP_HTTP_TXT_SCHEME);
        return EMP_HTTP_E_SCHEME;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(reason, rlen, "cannot resolve the host name (%s)", detail);
        return EMP_HTTP_E_RESOLVE;
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED) {
            snprintf(reason, rlen, "%s", EMP_HTTP_TXT_REFUSED);
            return EMP_HTTP_E_REFUSED;
        }
        snprintf(reason, rlen, "cannot connect: %s", oserr ? strerror((int)oserr) : detail);
        return EMP_HTTP_E_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connected_us = 0;
        curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connected_us);
        emp_http_timeout_reason(connected_us > 0, emp_http_connect_timeout(req),
                                emp_http_total_timeout(req, have_job), reason, rlen);
        return EMP_HTTP_E_TIMEOUT;
    }
    case CURLE_FILESIZE_EXCEEDED:
        emp_http_too_large_reason(x->max_body, reason, rlen);
        return EMP_HTTP_E_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        if (x->too_large) {
            emp_http_too_large_reason(x->max_body, reason, rlen);
            return EMP_HTTP_E_TOO_LARGE;
        }
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        snprintf(reason, rlen, "TLS: %s", detail);
        return EMP_HTTP_E_TLS;
    case CURLE_OUT_OF_MEMORY: snprintf(reason, rlen, "out of memory"); return EMP_HTTP_E_NOMEM;
    default: break;
    }
    if (x->headers_big)
        snprintf(reason, rlen, "response headers larger than %zu bytes",
                 (size_t)EMP_HTTP_MAX_HEADER_BYTES);
    else
        snprintf(reason, rlen, "%s", detail);
    return EMP_HTTP_E_IO;
}

static int job_cancelled(emp_job_t *job)
{
    return job != NULL && emp_job_cancel_reason(job) != EMP_CANCEL_NONE;
}

int emp_host_http_request(emp_host_t *host, emp_job_t *job, const emp_http_request_t *req,
                          emp_http_response_t *resp)
{
    emp_plugin_inst_t *inst = inst_of(host);
    const char *job_id = job ? job->id : NULL;
    char reason[CURL_ERROR_SIZE + 128];
    int resp_ok;
    int v = emp_http_validate(req, resp, &resp_ok, reason, sizeof reason);
    if (v == EMP_HTTP_OK && emp_host_in_create()) {
        snprintf(reason, sizeof reason,
                 "http_request called from create (no network I/O "
                 "before start)");
        v = EMP_HTTP_E_INVALID;
    }
    if (v != EMP_HTTP_OK) {
        emp_log_ctx(EMP_LOG_LEVEL_WARN, inst->name, job_id, "http_request refused: %s", reason);
        if (!resp_ok)
            return v; /* nowhere to write the answer */
        hh_resp_t *r = xcalloc(1, sizeof *r);
        return hh_fail(req, resp, r, 0, v, reason);
    }

    hh_resp_t *r = xcalloc(1, sizeof *r);
    hh_xfer_t x = {.r = r, .max_body = emp_http_max_response(req)};
    if (job_cancelled(job))
        return hh_fail(req, resp, r, 0, EMP_HTTP_E_CANCELLED, EMP_HTTP_TXT_CANCELLED);

    long long t0 = now_ms();
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    CURLM *m = curl_multi_init();
    CURL *e = curl_easy_init();
    int rc;
    long status = 0;
    if (m == NULL || e == NULL || hh_setup(e, req, job != NULL, &x, &hdrs, errbuf) != 0 ||
        curl_multi_add_handle(m, e) != CURLM_OK) {
        rc = hh_fail(req, resp, r, 0, EMP_HTTP_E_NOMEM, "cannot set up the transfer");
        goto out;
    }

    int running = 1, cancelled = 0;
    CURLcode cc = CURLE_OK;
    while (running) {
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            snprintf(errbuf, sizeof errbuf, "%s", curl_multi_strerror(mc));
            cc = CURLE_RECV_ERROR;
            break;
        }
        if (!running)
            break;
        if (job_cancelled(job)) {
            cancelled = 1;
            break;
        }
        struct curl_waitfd wfd = {.fd = job ? job->cancel_fd : -1, .events = CURL_WAIT_POLLIN};
        mc = curl_multi_poll(m, job ? &wfd : NULL, job ? 1 : 0, HH_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            snprintf(errbuf, sizeof errbuf, "%s", curl_multi_strerror(mc));
            cc = CURLE_RECV_ERROR;
            break;
        }
        if (job_cancelled(job)) {
            cancelled = 1;
            break;
        }
    }
    if (!cancelled && cc == CURLE_OK) {
        int left;
        CURLMsg *msg;
        cc = CURLE_RECV_ERROR;
        while ((msg = curl_multi_info_read(m, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
                cc = msg->data.result;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (cancelled) {
        rc = hh_fail(req, resp, r, 0, EMP_HTTP_E_CANCELLED, EMP_HTTP_TXT_CANCELLED);
    } else {
        int err = hh_classify(e, cc, &x, req, job != NULL, errbuf, reason, sizeof reason);
        if (err == EMP_HTTP_OK) {
            const char *ct = NULL;
            if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                r->content_type = xstrdup(ct);
            rc = hh_finish(resp, r, (int)status, EMP_HTTP_OK);
        } else {
            /* a status is only reported when the whole response arrived */
            rc = hh_fail(req, resp, r, 0, err, reason);
        }
    }
    if (rc == EMP_HTTP_OK) {
        char u[512];
        emp_http_url_for_log(req->url, u, sizeof u);
        emp_log_ctx(EMP_LOG_LEVEL_DEBUG, inst->name, job_id, "http %s %s -> %d, %zu bytes, %lld ms",
                    emp_http_method(req), u, resp->status, resp->body_len, now_ms() - t0);
    } else
        emp_log_ctx(EMP_LOG_LEVEL_DEBUG, inst->name, job_id, "http %s (after %lld ms)",
                    resp->error_text, now_ms() - t0);
out:
    if (m && e)
        curl_multi_remove_handle(m, e);
    if (e)
        curl_easy_cleanup(e);
    if (m)
        curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    return rc;
}

void emp_host_http_response_free(emp_host_t *host, emp_http_response_t *resp)
{
    (void)host;
    if (resp == NULL || resp->struct_size < EMP_HTTP_RESPONSE_MIN_SIZE)
        return;
    hh_resp_t *r = resp->host_private;
    if (r != NULL) {
        free(r->body);
        free(r->headers);
        free(r->content_type);
        free(r->error_text);
        free(r);
    }
    emp_http_response_clear(resp);
}
