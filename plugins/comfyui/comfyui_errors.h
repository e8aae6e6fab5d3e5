/*
 * comfyui_errors - every error classification the connector makes, as tables.
 *
 * Owns: the HTTP status table (which answers are permanent, retryable or auth failures), the
 * out-of-memory detector for execution_error, and the parser that turns a 400 answer of
 * POST /prompt into one readable message. Both answer shapes are accepted:
 *   new (2025-04+): {"error": {type, message, details, extra_info}, "node_errors": {...}}
 *   old:            {"error": "no prompt", "node_errors": []} and node_errors [] for
 *                   invalid_prompt / prompt_no_outputs.
 * The parser takes untrusted input (fuzzing entry point) and always produces some message.
 */
#ifndef COMFYUI_ERRORS_H
#define COMFYUI_ERRORS_H

#include <stddef.h>

#include "ebuf.h"

typedef enum cfy_http_class {
    CFY_HTTP_CLASS_OK = 0, /* 2xx */
    CFY_HTTP_CLASS_RETRY,  /* 408, 425, 429, 5xx: the backend may recover */
    CFY_HTTP_CLASS_AUTH,   /* 401, 403: credentials or origin rejected */
    CFY_HTTP_CLASS_FAIL    /* any other 4xx (and 1xx/3xx we do not follow) */
} cfy_http_class_t;

cfy_http_class_t cfy_http_classify(long status);
/* A short word for logs and fail codes: "ok", "retry", "auth", "fail". */
const char *cfy_http_class_name(cfy_http_class_t c);

/* 1 when an execution_error is an out-of-memory condition (retry on a fresh process/GPU). */
int cfy_exception_is_oom(const char *exception_type, const char *exception_message);

/* Append to msg a one-line description of a POST /prompt 400 body, naming the error type,
 * and for each failing node its id, class and the problems (input name, message, details).
 * Writes at most about max_len bytes. Sets *error_type to a static/borrowed-free copy of the
 * error type word when known ("invalid_prompt", "prompt_outputs_failed_validation",
 * "no_prompt"...), truncated to type_len. */
void cfy_prompt_error_describe(const char *body, size_t len, ebuf_t *msg, size_t max_len,
                               char *error_type, size_t type_len);

#endif
