/* comfyui_json.c - raw JSON scanner and string buffer (see comfyui_json.h). */
#define _GNU_SOURCE
#include "comfyui_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void skip_ws(const char *s, size_t len, size_t *pos)
{
    while (*pos < len && is_ws(s[*pos]))
        (*pos)++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* *pos is at the opening quote. Leaves *pos after the closing quote. */
static int skip_string(const char *s, size_t len, size_t *pos)
{
    size_t i = *pos + 1;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (i + 1 >= len)
                return -1;
            char e = s[i + 1];
            if (e == 'u') {
                if (i + 5 >= len)
                    return -1;
                for (int k = 2; k < 6; k++)
                    if (hexval(s[i + k]) < 0)
                        return -1;
                i += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
                return -1;
            i += 2;
            continue;
        }
        i++;
    }
    return -1;
}

static int skip_number(const char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return -1;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return -1;
    if (i < len && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return -1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return -1;
    }
    *pos = i;
    return 0;
}

static int skip_literal(const char *s, size_t len, size_t *pos, const char *lit)
{
    size_t n = strlen(lit);
    if (len - *pos < n || memcmp(s + *pos, lit, n) != 0)
        return -1;
    *pos += n;
    return 0;
}

static int skip_value_depth(const char *s, size_t len, size_t *pos, int depth)
{
    if (depth > CFY_JSON_MAX_DEPTH)
        return -1;
    skip_ws(s, len, pos);
    if (*pos >= len)
        return -1;
    char c = s[*pos];
    if (c == '"')
        return skip_string(s, len, pos);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        (*pos)++;
        skip_ws(s, len, pos);
        if (*pos < len && s[*pos] == close) {
            (*pos)++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                skip_ws(s, len, pos);
                if (*pos >= len || s[*pos] != '"' || skip_string(s, len, pos) != 0)
                    return -1;
                skip_ws(s, len, pos);
                if (*pos >= len || s[*pos] != ':')
                    return -1;
                (*pos)++;
            }
            if (skip_value_depth(s, len, pos, depth + 1) != 0)
                return -1;
            skip_ws(s, len, pos);
            if (*pos >= len)
                return -1;
            if (s[*pos] == ',') {
                (*pos)++;
                continue;
            }
            if (s[*pos] == close) {
                (*pos)++;
                return 0;
            }
            return -1;
        }
    }
    if (c == 't')
        return skip_literal(s, len, pos, "true");
    if (c == 'f')
        return skip_literal(s, len, pos, "false");
    if (c == 'n')
        return skip_literal(s, len, pos, "null");
    return skip_number(s, len, pos);
}

int cfy_json_skip_value(const char *s, size_t len, size_t *pos)
{
    if (s == NULL || pos == NULL || *pos > len)
        return -1;
    return skip_value_depth(s, len, pos, 0);
}

int cfy_json_is_valid(const char *s, size_t len)
{
    size_t pos = 0;
    if (cfy_json_skip_value(s, len, &pos) != 0)
        return 0;
    skip_ws(s, len, &pos);
    return pos == len;
}

char cfy_json_first_char(const char *s, size_t len)
{
    size_t pos = 0;
    if (s == NULL)
        return 0;
    skip_ws(s, len, &pos);
    return pos < len ? s[pos] : 0;
}

/* Compare the JSON string token s[a..b) (quotes excluded, escapes allowed) with key. */
static int key_equals(const char *s, size_t a, size_t b, const char *key)
{
    size_t k = 0, klen = strlen(key);
    size_t i = a;
    while (i < b) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\') {
            char e = s[i + 1];
            unsigned cp;
            if (e == 'u') {
                cp = (unsigned)(hexval(s[i + 2]) << 12 | hexval(s[i + 3]) << 8 |
                                hexval(s[i + 4]) << 4 | hexval(s[i + 5]));
                i += 6;
                if (cp >= 0x80)
                    return 0; /* keys we look up are ASCII */
            } else {
                static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
                const char *f = strchr(from, e);
                cp = (unsigned char)to[f - from];
                i += 2;
            }
            ch = (unsigned char)cp;
        } else {
            i++;
        }
        if (k >= klen || (unsigned char)key[k] != ch)
            return 0;
        k++;
    }
    return k == klen;
}

int cfy_json_member(const char *s, size_t len, const char *key, cfy_span_t *out)
{
    size_t pos = 0;
    if (s == NULL)
        return -1;
    skip_ws(s, len, &pos);
    if (pos >= len || s[pos] != '{')
        return -1;
    pos++;
    skip_ws(s, len, &pos);
    if (pos < len && s[pos] == '}')
        return 1;
    int found = 0;
    for (;;) {
        skip_ws(s, len, &pos);
        if (pos >= len || s[pos] != '"')
            return -1;
        size_t kstart = pos + 1;
        if (skip_string(s, len, &pos) != 0)
            return -1;
        size_t kend = pos - 1;
        skip_ws(s, len, &pos);
        if (pos >= len || s[pos] != ':')
            return -1;
        pos++;
        skip_ws(s, len, &pos);
        size_t vstart = pos;
        if (skip_value_depth(s, len, &pos, 1) != 0)
            return -1;
        if (!found && key_equals(s, kstart, kend, key)) {
            found = 1;
            if (out) {
                out->p = s + vstart;
                out->n = pos - vstart;
            }
        }
        skip_ws(s, len, &pos);
        if (pos >= len)
            return -1;
        if (s[pos] == ',') {
            pos++;
            continue;
        }
        if (s[pos] != '}')
            return -1;
        pos++;
        skip_ws(s, len, &pos);
        if (pos != len)
            return -1;
        return found ? 0 : 1;
    }
}

/* ---- buffer ---- */

void cfy_buf_init(cfy_buf_t *b) { memset(b, 0, sizeof *b); }

void cfy_buf_free(cfy_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void cfy_buf_reset(cfy_buf_t *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

int cfy_buf_ok(const cfy_buf_t *b) { return !b->oom; }

static int buf_reserve(cfy_buf_t *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->n) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->n + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void cfy_buf_add(cfy_buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void cfy_buf_str(cfy_buf_t *b, const char *s) { cfy_buf_add(b, s ? s : "", s ? strlen(s) : 0); }

void cfy_buf_printf(cfy_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cfy_buf_add(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void cfy_buf_json_str(cfy_buf_t *b, const char *s, size_t n)
{
    if (s == NULL)
        s = "";
    if (n == (size_t)-1)
        n = strlen(s);
    cfy_buf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        cfy_buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': cfy_buf_add(b, "\\\"", 2); break;
        case '\\': cfy_buf_add(b, "\\\\", 2); break;
        case '\n': cfy_buf_add(b, "\\n", 2); break;
        case '\r': cfy_buf_add(b, "\\r", 2); break;
        case '\t': cfy_buf_add(b, "\\t", 2); break;
        default: cfy_buf_printf(b, "\\u%04x", c); break;
        }
    }
    cfy_buf_add(b, s + run, n - run);
    cfy_buf_add(b, "\"", 1);
}

void cfy_buf_urlencode(cfy_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            cfy_buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            cfy_buf_add(b, e, 3);
        }
    }
}

char *cfy_buf_take(cfy_buf_t *b, size_t *len)
{
    if (b->oom) {
        cfy_buf_free(b);
        return NULL;
    }
    if (b->p == NULL)
        cfy_buf_add(b, "", 0);
    char *p = b->p;
    if (len)
        *len = b->n;
    memset(b, 0, sizeof *b);
    return p;
}
