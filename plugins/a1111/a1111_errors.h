/*
 * a1111_errors.h - classification of A1111's failures into retry / fail.
 *
 * Owns: the table that maps an HTTP status and A1111's error body (FastAPI's 422 validation
 * list, or A1111's {"error","detail","body","errors"} envelope) to a result class, a short code
 * and a one-line message. The caller logs or reports it; nothing here prints.
 * a1111_error_from_http takes an untrusted body of any size and never crashes on garbage.
 */
#ifndef A1111_ERRORS_H
#define A1111_ERRORS_H

#include <stddef.h>

#include "emp_plugin.h"

#define A1111_ERROR_MSG_MAX 1024

typedef struct a1111_error {
    emp_result_t cls; /* EMP_RETRY or EMP_FAIL */
    const char *code; /* static string: "invalid_request", "oom", "auth", "backend_error"... */
    int auth;         /* 1 when A1111 refused our credentials (401) */
    char message[A1111_ERROR_MSG_MAX];
} a1111_error_t;

/* Classifies a non-2xx answer. `body` may be NULL, binary or huge. */
void a1111_error_from_http(long status, const char *body, size_t len, a1111_error_t *out);

/* Fills *out. `message` is formatted. Returns out->cls. */
emp_result_t a1111_error_set(a1111_error_t *out, emp_result_t cls, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
