/*
 * tk_http.h - the test kit's HTTP helper (internal; see emp_testkit.h "HTTP helper").
 *
 * A small HTTP/1.1 client over plain sockets, http:// only, so that the test kit needs no
 * libcurl: enough to run a plugin against a fake backend on loopback. Same contract, limits
 * and error words as the host's (emp_http_util.c); https:// is refused with EMP_HTTP_E_SCHEME.
 * Threading: any thread; calls are independent.
 */
#ifndef TK_HTTP_H
#define TK_HTTP_H

#include "emp_plugin.h"

/* cancel_fd: readable once the job is cancelled (-1: no job); cancelled: the job's flag
 * (NULL: no job). */
int tk_http_request(int cancel_fd, volatile int *cancelled, const emp_http_request_t *req,
                    emp_http_response_t *resp);
void tk_http_response_free(emp_http_response_t *resp);
/* Fill resp with a refusal (EMP_HTTP_E_INVALID and reason) without any I/O. */
int tk_http_refuse(const emp_http_request_t *req, emp_http_response_t *resp, int err,
                   const char *reason);

#endif
