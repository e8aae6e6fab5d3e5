/* a1111_http.c - one HTTP exchange with A1111 (see a1111_http.h). */
#include "a1111_http.h"

#include <stdio.h>
#include <string.h>

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    a1111_http_t *h = userdata;
    size_t n = size * nmemb;
    if (ebuf_append(&h->body, ptr, n) != 0)
        return CURL_WRITEFUNC_ERROR; /* too large or out of memory: abort the transfer */
    return n;
}

int a1111_http_init(a1111_http_t *h, const a1111_config_t *cfg, const char *path, const char *body,
                    size_t body_len, long long timeout_ms)
{
    char url[sizeof cfg->base_url + 128];
    memset(h, 0, sizeof *h);
    h->path = path;
    ebuf_init(&h->body, (size_t)cfg->max_response_bytes);
    h->easy = curl_easy_init();
    if (h->easy == NULL)
        return -1;
    snprintf(url, sizeof url, "%s%s", cfg->base_url, path);
    CURL *e = h->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK; /* never via $http_proxy */
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |=
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_response_bytes) !=
           CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, h) != CURLE_OK;
    if (cfg->username) {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_USERNAME, cfg->username) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, cfg->password) != CURLE_OK;
    }
    h->headers = curl_slist_append(NULL, "Accept: application/json");
    if (body) {
        struct curl_slist *l = curl_slist_append(h->headers, "Content-Type: application/json");
        l = l ? curl_slist_append(l, "Expect:") : NULL; /* no 100-continue round trip */
        if (l == NULL)
            bad = 1;
        else
            h->headers = l;
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK;
    }
    bad |= h->headers == NULL || curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK;
    if (bad) {
        a1111_http_cleanup(h);
        return -1;
    }
    return 0;
}

void a1111_http_cleanup(a1111_http_t *h)
{
    if (h->easy)
        curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->headers);
    ebuf_free(&h->body);
    h->easy = NULL;
    h->headers = NULL;
}

CURLcode a1111_http_perform(a1111_http_t *h) { return curl_easy_perform(h->easy); }

long a1111_http_status(a1111_http_t *h)
{
    long status = 0;
    if (h->easy == NULL || curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return 0;
    return status;
}

emp_result_t a1111_http_transport_error(const a1111_http_t *h, CURLcode rc,
                                        const a1111_config_t *cfg, a1111_error_t *out)
{
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    const char *path = h->path ? h->path : "request";
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return a1111_error_set(out, EMP_RETRY, "backend_down", "A1111 is not reachable at %s (%s)",
                               cfg->base_url, why);
    case CURLE_OPERATION_TIMEDOUT:
        return a1111_error_set(out, EMP_RETRY, "timeout", "A1111 %s timed out (%s)", path, why);
    case CURLE_FILESIZE_EXCEEDED:
        return a1111_error_set(out, EMP_FAIL, "response_too_large",
                               "A1111 %s answered more than max_response_bytes (%lld)", path,
                               cfg->max_response_bytes);
    case CURLE_WRITE_ERROR:
        if (h->body.overflow)
            return a1111_error_set(out, EMP_FAIL, "response_too_large",
                                   "A1111 %s answered more than max_response_bytes (%lld)", path,
                                   cfg->max_response_bytes);
        return a1111_error_set(out, EMP_RETRY, "out_of_memory",
                               "out of memory reading A1111's answer to %s", path);
    default:
        return a1111_error_set(out, EMP_RETRY, "backend_error", "A1111 %s failed: %s", path, why);
    }
}
