/* emp_http_util.c - validation and error words shared by both HTTP helpers (see header). */
#define _GNU_SOURCE
#include "emp_http_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar(s[i]))
            return 0;
    return 1;
}

/* At most n bytes of s for a message: one line, control characters shown as '?'. */
static void safe_copy(char *dst, size_t dstlen, const char *s, size_t n)
{
    size_t i = 0;
    for (; s[i] && i < n && i + 1 < dstlen; i++)
        dst[i] = ((unsigned char)s[i] < ' ' || s[i] == 0x7f) ? '?' : s[i];
    dst[i] = '\0';
}

int emp_http_is_https(const char *url) { return strncasecmp(url, "https://", 8) == 0; }

int emp_http_validate(const emp_http_request_t *req, const emp_http_response_t *resp, int *resp_ok,
                      char *err, size_t errlen)
{
    *resp_ok = resp != NULL && resp->struct_size >= EMP_HTTP_RESPONSE_MIN_SIZE;
    if (resp == NULL) {
        snprintf(err, errlen, "resp is NULL");
        return EMP_HTTP_E_INVALID;
    }
    if (!*resp_ok) {
        snprintf(err, errlen,
                 "resp->struct_size is %u, smaller than the %zu bytes of ABI 1.1 (initialise it "
                 "with EMP_HTTP_RESPONSE_INIT)",
                 resp->struct_size, (size_t)EMP_HTTP_RESPONSE_MIN_SIZE);
        return EMP_HTTP_E_INVALID;
    }
    if (req == NULL) {
        snprintf(err, errlen, "req is NULL");
        return EMP_HTTP_E_INVALID;
    }
    if (req->struct_size < EMP_HTTP_REQUEST_MIN_SIZE) {
        snprintf(err, errlen,
                 "req->struct_size is %u, smaller than the %zu bytes of ABI 1.1 (initialise it "
                 "with EMP_HTTP_REQUEST_INIT)",
                 req->struct_size, (size_t)EMP_HTTP_REQUEST_MIN_SIZE);
        return EMP_HTTP_E_INVALID;
    }
    if (req->url == NULL || req->url[0] == '\0') {
        snprintf(err, errlen, "no URL");
        return EMP_HTTP_E_INVALID;
    }
    for (const char *p = req->url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "the URL contains a space or a control character");
            return EMP_HTTP_E_INVALID;
        }
    if (strncasecmp(req->url, "http://", 7) != 0 && !emp_http_is_https(req->url)) {
        snprintf(err, errlen, "%s", EMP_HTTP_TXT_SCHEME);
        return EMP_HTTP_E_SCHEME;
    }
    const char *host = req->url + (emp_http_is_https(req->url) ? 8 : 7);
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
        snprintf(err, errlen, "the URL has no host");
        return EMP_HTTP_E_INVALID;
    }
    if (req->method != NULL && !is_token(req->method, strlen(req->method))) {
        char m[48];
        safe_copy(m, sizeof m, req->method, 40);
        snprintf(err, errlen, "method \"%s\" is not an HTTP token", m);
        return EMP_HTTP_E_INVALID;
    }
    if (req->body == NULL && req->body_len != 0) {
        snprintf(err, errlen, "body is NULL but body_len is %zu", req->body_len);
        return EMP_HTTP_E_INVALID;
    }
    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        const char *h = req->headers[i];
        const char *colon = strchr(h, ':');
        if (colon == NULL || !is_token(h, (size_t)(colon - h)) || strpbrk(h, "\r\n") != NULL) {
            char shown[48];
            safe_copy(shown, sizeof shown, h, 40);
            snprintf(err, errlen, "header %zu (\"%s\") is not a \"Name: value\" line without CR/LF",
                     i, shown);
            return EMP_HTTP_E_INVALID;
        }
    }
    return EMP_HTTP_OK;
}

const char *emp_http_method(const emp_http_request_t *req)
{
    if (req->method != NULL)
        return req->method;
    return req->body != NULL ? "POST" : "GET";
}

uint32_t emp_http_connect_timeout(const emp_http_request_t *req)
{
    return req->connect_timeout_ms ? req->connect_timeout_ms : EMP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
}

uint32_t emp_http_total_timeout(const emp_http_request_t *req, int have_job)
{
    if (req->total_timeout_ms)
        return req->total_timeout_ms;
    return have_job ? 0 : EMP_HTTP_DEFAULT_TOTAL_TIMEOUT_NOJOB_MS;
}

size_t emp_http_max_response(const emp_http_request_t *req)
{
    return req->max_response_bytes ? req->max_response_bytes : EMP_HTTP_DEFAULT_MAX_RESPONSE_BYTES;
}

void emp_http_url_for_log(const char *url, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (url == NULL) {
        snprintf(buf, len, "(no url)");
        return;
    }
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            at = auth + i;
    size_t scheme_len = (size_t)(auth - url);
    const char *hostport = at ? at + 1 : auth;
    size_t rest = strcspn(hostport, "?#");
    snprintf(buf, len, "%.*s%.*s", (int)(scheme_len > 64 ? 64 : scheme_len), url,
             (int)(rest > 400 ? 400 : rest), hostport);
    for (char *p = buf; *p; p++) /* one line, whatever the plugin passed */
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            *p = '?';
}

char *emp_http_error_text(const emp_http_request_t *req, const char *reason)
{
    /* a request with a short struct_size is not read beyond its struct_size */
    int whole = req != NULL && req->struct_size >= EMP_HTTP_REQUEST_MIN_SIZE;
    char u[512];
    emp_http_url_for_log(whole ? req->url : NULL, u, sizeof u);
    const char *m = whole && (req->method == NULL || is_token(req->method, strlen(req->method)))
                        ? emp_http_method(req)
                        : "HTTP";
    char *out = NULL;
    if (asprintf(&out, "%.40s %s: %s", m, u, reason) < 0)
        return NULL;
    return out;
}

void emp_http_timeout_reason(int connected, uint32_t connect_ms, uint32_t total_ms, char *buf,
                             size_t len)
{
    if (!connected && (total_ms == 0 || connect_ms <= total_ms))
        snprintf(buf, len, "connect timed out after %u ms (connect_timeout_ms)", connect_ms);
    else
        snprintf(buf, len, "timed out after %u ms (total_timeout_ms)", total_ms);
}

void emp_http_too_large_reason(size_t max, char *buf, size_t len)
{
    snprintf(buf, len, "response body larger than %zu bytes (max_response_bytes)", max);
}

void emp_http_response_clear(emp_http_response_t *resp)
{
    uint32_t size = resp->struct_size;
    memset((char *)resp + sizeof resp->struct_size, 0,
           EMP_HTTP_RESPONSE_MIN_SIZE - sizeof resp->struct_size);
    resp->struct_size = size;
}
