/*
 * xalloc.h - the core's allocation wrappers. Allocation failure in the host is not
 * recoverable: these abort with a message (as Redis' zmalloc does). Plugins handle NULL
 * themselves and never use these.
 */
#ifndef EMP_XALLOC_H
#define EMP_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
