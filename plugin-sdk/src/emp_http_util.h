/*
 * emp_http_util.h - the parts of the HTTP helper (ABI 1.1) that the host (core/host_http.c,
 * over libcurl) and the test kit (plain sockets) share: argument validation, effective limits,
 * and the words of every error text, so that a plugin sees the same messages under test as in
 * production. Not installed: a plugin only sees emp_plugin.h.
 */
#ifndef EMP_HTTP_UTIL_H
#define EMP_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "emp_plugin.h"

/* Host defaults for the request members left at 0 (documented in emp_plugin.h). */
#define EMP_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define EMP_HTTP_DEFAULT_TOTAL_TIMEOUT_NOJOB_MS 30000u
#define EMP_HTTP_DEFAULT_MAX_RESPONSE_BYTES ((size_t)16 << 20)
#define EMP_HTTP_MAX_HEADER_BYTES ((size_t)64 << 10) /* response header block cap */

/* Check req (and that resp can be written). Returns EMP_HTTP_OK, EMP_HTTP_E_INVALID or
 * EMP_HTTP_E_SCHEME with the reason (no "METHOD url:" prefix) in err. resp_ok is set to 1
 * when resp is large enough to be filled in, even if req is bad. */
int emp_http_validate(const emp_http_request_t *req, const emp_http_response_t *resp, int *resp_ok,
                      char *err, size_t errlen);

/* The method actually sent: req->method, else GET / POST (body present). */
const char *emp_http_method(const emp_http_request_t *req);
/* Is the scheme https:// (case-insensitive)? Call after validation. */
int emp_http_is_https(const char *url);

/* Effective limits (0 replaced by the defaults). total 0 means no limit. */
uint32_t emp_http_connect_timeout(const emp_http_request_t *req);
uint32_t emp_http_total_timeout(const emp_http_request_t *req, int have_job);
size_t emp_http_max_response(const emp_http_request_t *req);

/* Zero the v1.1 fields of a response, keeping struct_size (after its private part is freed):
 * a freed response reads as empty, and freeing it again is harmless. */
void emp_http_response_clear(emp_http_response_t *resp);

/* The URL as it may appear in a log or error text: without userinfo and query/fragment. */
void emp_http_url_for_log(const char *url, char *buf, size_t len);

/* "<METHOD> <url for log>: <reason>" into a malloc'ed string (NULL on OOM). */
char *emp_http_error_text(const emp_http_request_t *req, const char *reason);

/* The reason texts, shared so that host and test kit use the same words. */
#define EMP_HTTP_TXT_REFUSED "connection refused"
#define EMP_HTTP_TXT_CANCELLED "cancelled"
#define EMP_HTTP_TXT_SCHEME "bad scheme: only http:// and https:// URLs are allowed"
/* "connect timed out after N ms" / "timed out after N ms (total_timeout_ms)" */
void emp_http_timeout_reason(int connected, uint32_t connect_ms, uint32_t total_ms, char *buf,
                             size_t len);
/* "response body larger than N bytes (max_response_bytes)" */
void emp_http_too_large_reason(size_t max, char *buf, size_t len);

#endif
