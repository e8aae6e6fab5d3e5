/*
 * a1111_http.h - one HTTP exchange with A1111 over libcurl.
 *
 * Owns: the easy handle, its header list and the response buffer of one request, the curl
 * options every request shares (http only, no proxy, no signals, Basic auth from the options,
 * size cap), and the classification of transport failures. It does not own the multi handle:
 * the job loop adds and removes a1111_http_t's easy handle itself.
 * No global curl state is touched: curl_global_init is the host's.
 */
#ifndef A1111_HTTP_H
#define A1111_HTTP_H

#include <curl/curl.h>

#include "a1111_config.h"
#include "a1111_errors.h"
#include "ebuf.h"

typedef struct a1111_http {
    CURL *easy;
    struct curl_slist *headers;
    ebuf_t body; /* response body, capped at max_response_bytes */
    char errbuf[CURL_ERROR_SIZE];
    const char *path; /* static string; for messages */
} a1111_http_t;

/* Prepares a GET (body NULL) or a JSON POST of path on the configured backend. `body` is
 * borrowed until the exchange ends. 0, or -1 when curl could not allocate. */
int a1111_http_init(a1111_http_t *h, const a1111_config_t *cfg, const char *path, const char *body,
                    size_t body_len, long long timeout_ms);
void a1111_http_cleanup(a1111_http_t *h); /* safe on a zeroed or cleaned struct */

/* Blocking exchange (start's probes). Returns the CURLcode. */
CURLcode a1111_http_perform(a1111_http_t *h);
long a1111_http_status(a1111_http_t *h); /* 0 when no response */

/* Classifies a transport failure (rc != CURLE_OK) of h into *out. Returns out->cls. */
emp_result_t a1111_http_transport_error(const a1111_http_t *h, CURLcode rc,
                                        const a1111_config_t *cfg, a1111_error_t *out);

#endif
