/*
 * errlist.h - an ordered list of error messages, collected rather than printed, so that
 * --check-config can report every problem at once and tests can compare exact texts.
 * The list owns its strings.
 */
#ifndef EMP_ERRLIST_H
#define EMP_ERRLIST_H

#include <stddef.h>

typedef struct emp_errlist {
    char **msgs;
    size_t n;
    char **warnings;
    size_t nwarnings;
} emp_errlist_t;

/* "FILE:LINE: message" (file may be NULL: "message" only; line 0: "FILE: message"). */
void emp_err_add(emp_errlist_t *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void emp_warn_add(emp_errlist_t *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void emp_errlist_free(emp_errlist_t *e);

#endif
