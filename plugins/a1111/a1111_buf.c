/* a1111_buf.c - growable byte buffer (see a1111_buf.h). */
#include "a1111_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void a1111_buf_init(a1111_buf_t *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

static int buf_reserve(a1111_buf_t *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->max != 0 && (extra > b->max || b->len > b->max - extra)) {
        b->overflow = b->failed = 1;
        return -1;
    }
    if (extra > (size_t)-1 - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    char *n = realloc(b->data, cap);
    if (n == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = n;
    b->cap = cap;
    return 0;
}

int a1111_buf_append(a1111_buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int a1111_buf_puts(a1111_buf_t *b, const char *s) { return a1111_buf_append(b, s, strlen(s)); }

int a1111_buf_printf(a1111_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int a1111_buf_json_string(a1111_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (a1111_buf_append(b, "\"", 1) != 0)
        return -1;
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        } else {
            continue;
        }
        if (a1111_buf_append(b, s + run, i - run) != 0 || a1111_buf_append(b, esc, elen) != 0)
            return -1;
        run = i + 1;
    }
    if (a1111_buf_append(b, s + run, n - run) != 0)
        return -1;
    return a1111_buf_append(b, "\"", 1);
}

void a1111_buf_reset(a1111_buf_t *b)
{
    b->len = 0;
    b->overflow = b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void a1111_buf_free(a1111_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
