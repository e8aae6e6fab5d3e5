/*
 * host_http.h - the host's HTTP helper for plugins (emp_host_api_t.http_request and
 * http_response_free, ABI 1.1), over libcurl easy + multi.
 *
 * Owns: one easy and one multi handle per call (nothing is kept between calls) and the
 * response memory it hands out until http_response_free. Never touches process-global curl
 * state (main calls curl_global_init before any thread starts).
 * Threading: any thread; calls are independent. A call with a job polls that job's cancel fd
 * together with the transfer, so cancellation interrupts it at once.
 */
#ifndef EMP_HOST_HTTP_H
#define EMP_HOST_HTTP_H

#include "emp_plugin.h"

int emp_host_http_request(emp_host_t *host, emp_job_t *job, const emp_http_request_t *req,
                          emp_http_response_t *resp);
void emp_host_http_response_free(emp_host_t *host, emp_http_response_t *resp);

/* Non-zero while the calling thread is inside a plugin's create (host_api.c): the helper
 * refuses network I/O there. */
int emp_host_in_create(void);

#endif
