/*
 * a1111_buf.h - a growable byte buffer with a size cap.
 *
 * Owns: the bytes it holds (malloc'd, freed by a1111_buf_free). The text is always kept
 * NUL-terminated so that small bodies can be handed to string functions, but it may contain
 * NULs itself: use ->len. Every append returns 0, or -1 when memory runs out or the cap
 * (->max, 0 = none) would be exceeded; ->overflow then tells the two apart. A refusal is sticky
 * (->failed): every later append fails too, so a run of appends can be checked once at the end.
 */
#ifndef A1111_BUF_H
#define A1111_BUF_H

#include <stddef.h>

typedef struct a1111_buf {
    char *data;   /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;   /* 0 = no cap */
    int overflow; /* set when an append was refused because of max */
    int failed;   /* set by any refused append; cleared by a1111_buf_reset */
} a1111_buf_t;

void a1111_buf_init(a1111_buf_t *b, size_t max);
int a1111_buf_append(a1111_buf_t *b, const void *p, size_t n);
int a1111_buf_puts(a1111_buf_t *b, const char *s);
int a1111_buf_printf(a1111_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `s` (n bytes) as a JSON string literal, quotes included. */
int a1111_buf_json_string(a1111_buf_t *b, const char *s, size_t n);
void a1111_buf_reset(a1111_buf_t *b); /* len = 0, keeps memory */
void a1111_buf_free(a1111_buf_t *b);

#endif
