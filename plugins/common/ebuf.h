/*
 * ebuf.h - a growable byte buffer with an optional size cap, shared by the service plugins.
 *
 * Owns: the bytes it holds (malloc'd; freed by ebuf_free, or handed to the caller by
 * ebuf_take). The text is always NUL-terminated after a successful append, so small bodies can
 * go to string functions, but it may contain NULs itself: use ->len.
 *
 * Errors are checked once: every append returns 0, or -1 when memory runs out or the cap
 * (->max, 0 = none) would be exceeded (->overflow tells the two apart). A refusal is sticky
 * (->failed): every later append fails too and leaves the text as it was, so a run of appends
 * can be checked once at the end with ebuf_ok(). It survives ebuf_reset, so a scratch buffer
 * reused in a loop still reports at the end a refusal from an earlier round; only ebuf_free,
 * ebuf_take and ebuf_init start over.
 *
 * Part of emp_plugin_common (plugins/common): linked statically into each plugin with hidden
 * visibility. No state outside the ebuf_t; not thread-safe per buffer (one owner at a time).
 */
#ifndef EBUF_H
#define EBUF_H

#include <stddef.h>

typedef struct ebuf {
    char *data;   /* NULL until the first append; owned by the buffer */
    size_t len;   /* bytes held, not counting the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* 0 = no cap; else len never exceeds it */
    int overflow; /* set when an append was refused because of max */
    int failed;   /* set by any refused append (cap or memory); kept by ebuf_reset */
} ebuf_t;

/* Empty buffer, nothing allocated. `max` caps ->len (0 = none). */
void ebuf_init(ebuf_t *b, size_t max);

/* Copies n bytes from p (which may be NULL when n == 0); the caller keeps p. 0 / -1. */
int ebuf_append(ebuf_t *b, const void *p, size_t n);
/* Copies the C string s; NULL appends nothing. 0 / -1. */
int ebuf_puts(ebuf_t *b, const char *s);
/* Appends the formatted text; the arguments are only read. 0 / -1 (also when vsnprintf fails,
 * which counts as a refused append). */
int ebuf_printf(ebuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string literal, quotes included: '"' and '\\' escaped as \" and
 * \\, newline/CR/tab as \n \r \t, other bytes below 0x20 and DEL as \u00XX; every other byte
 * (UTF-8 included) is copied as is. s may be NULL when n == 0. 0 / -1. */
int ebuf_json_string(ebuf_t *b, const char *s, size_t n);
/* The same for a C string; NULL is appended as "". 0 / -1. */
int ebuf_json_cstr(ebuf_t *b, const char *s);

/* 1 when no append has been refused since ebuf_init/free/take, else 0. */
int ebuf_ok(const ebuf_t *b);
/* Empties the text; keeps the memory, ->max and a refusal (->failed, ->overflow). */
void ebuf_reset(ebuf_t *b);
/* Frees the memory; the buffer is empty and may be reused (->max kept). */
void ebuf_free(ebuf_t *b);
/* Hands the text to the caller, who frees it with free(); *len (if not NULL) gets ->len. An
 * empty buffer gives "" (allocated). NULL when an append was refused (the memory is freed).
 * Either way the buffer is left empty and reusable (->max kept). */
char *ebuf_take(ebuf_t *b, size_t *len);

#endif
