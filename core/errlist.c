/* errlist.c - collected error messages (see errlist.h). */
#define _GNU_SOURCE
#include "errlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "xalloc.h"

static char *format_at(const char *file, int line, const char *fmt, va_list ap)
{
    char *body = NULL;
    if (vasprintf(&body, fmt, ap) < 0)
        abort();
    char *out;
    if (file == NULL)
        out = xstrdup(body);
    else if (line > 0)
        out = xasprintf("%s:%d: %s", file, line, body);
    else
        out = xasprintf("%s: %s", file, body);
    free(body);
    return out;
}

void emp_err_add(emp_errlist_t *e, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = format_at(file, line, fmt, ap);
    va_end(ap);
    e->msgs = xrealloc(e->msgs, (e->n + 1) * sizeof *e->msgs);
    e->msgs[e->n++] = m;
}

void emp_warn_add(emp_errlist_t *e, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = format_at(file, line, fmt, ap);
    va_end(ap);
    e->warnings = xrealloc(e->warnings, (e->nwarnings + 1) * sizeof *e->warnings);
    e->warnings[e->nwarnings++] = m;
}

void emp_errlist_free(emp_errlist_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    for (size_t i = 0; i < e->nwarnings; i++)
        free(e->warnings[i]);
    free(e->msgs);
    free(e->warnings);
    e->msgs = e->warnings = NULL;
    e->n = e->nwarnings = 0;
}
