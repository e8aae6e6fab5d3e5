/* ebuf.c - growable byte buffer (see ebuf.h). */
#include "ebuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ebuf_init(ebuf_t *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* Room for `extra` more bytes plus the NUL. 0, or -1 with ->failed set. */
static int reserve(ebuf_t *b, size_t extra)
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

int ebuf_append(ebuf_t *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ebuf_puts(ebuf_t *b, const char *s) { return ebuf_append(b, s, s ? strlen(s) : 0); }

int ebuf_printf(ebuf_t *b, const char *fmt, ...)
{
    char small[256]; /* most texts fit: format once */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n < sizeof small)
        return ebuf_append(b, small, (size_t)n);
    if (reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ebuf_json_string(ebuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (ebuf_append(b, "\"", 1) != 0)
        return -1;
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        char esc[6] = {'\\', (char)c};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\': break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
            break;
        }
        if (ebuf_append(b, s + run, i - run) != 0 || ebuf_append(b, esc, elen) != 0)
            return -1;
        run = i + 1;
    }
    if (ebuf_append(b, s ? s + run : NULL, n - run) != 0)
        return -1;
    return ebuf_append(b, "\"", 1);
}

int ebuf_json_cstr(ebuf_t *b, const char *s) { return ebuf_json_string(b, s, s ? strlen(s) : 0); }

int ebuf_ok(const ebuf_t *b) { return !b->failed; }

void ebuf_reset(ebuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ebuf_free(ebuf_t *b)
{
    free(b->data);
    ebuf_init(b, b->max);
}

char *ebuf_take(ebuf_t *b, size_t *len)
{
    if (b->data == NULL)
        ebuf_append(b, "", 0);
    if (b->failed) {
        ebuf_free(b);
        return NULL;
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    ebuf_init(b, b->max);
    return p;
}
