/* a1111_json.c - raw JSON scanning without number conversion (see a1111_json.h). */
#include "a1111_json.h"

#include <string.h>

static void skip_ws(const char *s, size_t len, size_t *pos)
{
    while (*pos < len && (s[*pos] == ' ' || s[*pos] == '\t' || s[*pos] == '\n' || s[*pos] == '\r'))
        (*pos)++;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

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

static int scan_string(const char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i >= len || s[i] != '"')
        return -1;
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\')
            continue;
        if (++i >= len)
            return -1;
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (len - i < 5)
                return -1;
            for (int k = 1; k <= 4; k++)
                if (hexval(s[i + (size_t)k]) < 0)
                    return -1;
            i += 4;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

static int scan_number(const char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !is_digit(s[i]))
        return -1;
    if (s[i] == '0')
        i++;
    else
        while (i < len && is_digit(s[i]))
            i++;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i]))
            return -1;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return -1;
        while (i < len && is_digit(s[i]))
            i++;
    }
    *pos = i;
    return 0;
}

static int scan_literal(const char *s, size_t len, size_t *pos, const char *word)
{
    size_t n = strlen(word);
    if (len - *pos < n || memcmp(s + *pos, word, n) != 0)
        return -1;
    *pos += n;
    return 0;
}

static int scan_value(const char *s, size_t len, size_t *pos, int depth);

static int scan_container(const char *s, size_t len, size_t *pos, int depth)
{
    char close = s[*pos] == '{' ? '}' : ']';
    int object = close == '}';
    if (depth >= A1111_JSON_MAX_DEPTH)
        return -1;
    (*pos)++;
    skip_ws(s, len, pos);
    if (*pos < len && s[*pos] == close) {
        (*pos)++;
        return 0;
    }
    for (;;) {
        skip_ws(s, len, pos);
        if (object) {
            if (scan_string(s, len, pos) != 0)
                return -1;
            skip_ws(s, len, pos);
            if (*pos >= len || s[*pos] != ':')
                return -1;
            (*pos)++;
        }
        if (scan_value(s, len, pos, depth + 1) != 0)
            return -1;
        skip_ws(s, len, pos);
        if (*pos >= len)
            return -1;
        if (s[*pos] == ',') {
            (*pos)++;
            continue;
        }
        if (s[*pos] != close)
            return -1;
        (*pos)++;
        return 0;
    }
}

static int scan_value(const char *s, size_t len, size_t *pos, int depth)
{
    skip_ws(s, len, pos);
    if (*pos >= len)
        return -1;
    switch (s[*pos]) {
    case '{':
    case '[':
        return scan_container(s, len, pos, depth);
    case '"':
        return scan_string(s, len, pos);
    case 't':
        return scan_literal(s, len, pos, "true");
    case 'f':
        return scan_literal(s, len, pos, "false");
    case 'n':
        return scan_literal(s, len, pos, "null");
    default:
        return scan_number(s, len, pos);
    }
}

int a1111_json_skip_value(const char *s, size_t len, size_t *pos)
{
    if (s == NULL || *pos > len)
        return -1;
    return scan_value(s, len, pos, 0);
}

int a1111_json_validate(const char *s, size_t len)
{
    size_t pos = 0;
    if (a1111_json_skip_value(s, len, &pos) != 0)
        return -1;
    skip_ws(s, len, &pos);
    return pos == len ? 0 : -1;
}

char a1111_json_kind(const char *s, a1111_span_t v) { return v.len ? s[v.off] : '\0'; }

static int iter_begin(a1111_json_iter_t *it, const char *s, a1111_span_t span, char open)
{
    memset(it, 0, sizeof *it);
    it->s = s;
    it->len = span.off + span.len;
    it->pos = span.off;
    skip_ws(s, it->len, &it->pos);
    if (it->pos >= it->len || s[it->pos] != open)
        return -1;
    it->pos++;
    return 0;
}

/* Shared step of both iterators: after an element, expect ',' or the closing bracket. */
static int iter_separator(a1111_json_iter_t *it, char close)
{
    skip_ws(it->s, it->len, &it->pos);
    if (!it->started) {
        it->started = 1;
        if (it->pos < it->len && it->s[it->pos] == close) {
            it->pos++;
            it->done = 1;
            return 0;
        }
        return 1;
    }
    if (it->pos >= it->len)
        return -1;
    if (it->s[it->pos] == close) {
        it->pos++;
        it->done = 1;
        return 0;
    }
    if (it->s[it->pos] != ',')
        return -1;
    it->pos++;
    skip_ws(it->s, it->len, &it->pos);
    return 1;
}

int a1111_json_iter_init(a1111_json_iter_t *it, const char *s, a1111_span_t obj)
{
    return iter_begin(it, s, obj, '{');
}

int a1111_json_iter_next(a1111_json_iter_t *it, a1111_json_member_t *m)
{
    if (it->done)
        return 0;
    int r = iter_separator(it, '}');
    if (r <= 0)
        return r;
    size_t start = it->pos;
    if (scan_string(it->s, it->len, &it->pos) != 0)
        return -1;
    m->key.off = start;
    m->key.len = it->pos - start;
    skip_ws(it->s, it->len, &it->pos);
    if (it->pos >= it->len || it->s[it->pos] != ':')
        return -1;
    it->pos++;
    skip_ws(it->s, it->len, &it->pos);
    size_t vstart = it->pos;
    if (scan_value(it->s, it->len, &it->pos, 1) != 0)
        return -1;
    m->value.off = vstart;
    m->value.len = it->pos - vstart;
    m->member.off = start;
    m->member.len = it->pos - start;
    return 1;
}

int a1111_json_array_init(a1111_json_iter_t *it, const char *s, a1111_span_t arr)
{
    return iter_begin(it, s, arr, '[');
}

int a1111_json_array_next(a1111_json_iter_t *it, a1111_span_t *elem)
{
    if (it->done)
        return 0;
    int r = iter_separator(it, ']');
    if (r <= 0)
        return r;
    size_t start = it->pos;
    if (scan_value(it->s, it->len, &it->pos, 1) != 0)
        return -1;
    elem->off = start;
    elem->len = it->pos - start;
    return 1;
}

int a1111_json_find(const char *s, a1111_span_t obj, const char *key, a1111_span_t *value)
{
    a1111_json_iter_t it;
    a1111_json_member_t m;
    int found = 0, r;
    if (a1111_json_iter_init(&it, s, obj) != 0)
        return -1;
    while ((r = a1111_json_iter_next(&it, &m)) == 1)
        if (a1111_json_string_equals(s, m.key, key)) {
            *value = m.value;
            found = 1;
        }
    return r < 0 ? -1 : found;
}

static int put_utf8(a1111_buf_t *out, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return a1111_buf_append(out, u, n);
}

static unsigned long hex4(const char *p)
{
    return (unsigned long)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

int a1111_json_string_decode(const char *s, a1111_span_t str, a1111_buf_t *out)
{
    size_t end = str.off + str.len, pos = str.off;
    if (scan_string(s, end, &pos) != 0 || pos != end)
        return -1; /* validated first, so the loop below may read escapes without checks */
    size_t i = str.off + 1, last = end - 1, run = i;
    while (i < last) {
        if (s[i] != '\\') {
            i++;
            continue;
        }
        if (a1111_buf_append(out, s + run, i - run) != 0)
            return -1;
        char e = s[i + 1], c;
        i += 2;
        switch (e) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned long cp = hex4(s + i);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && last - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') {
                unsigned long lo = hex4(s + i + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* a lone surrogate: replaced, as Python's decoder would not keep it */
            if (put_utf8(out, cp) != 0)
                return -1;
            run = i;
            continue;
        }
        default: c = e; break; /* '"', '\\', '/' */
        }
        if (a1111_buf_append(out, &c, 1) != 0)
            return -1;
        run = i;
    }
    return a1111_buf_append(out, s + run, last - run);
}

int a1111_json_string_equals(const char *s, a1111_span_t str, const char *name)
{
    size_t n = strlen(name);
    /* Fast path: no escapes, so the raw bytes are the key. */
    if (str.len == n + 2 && s[str.off] == '"' && memcmp(s + str.off + 1, name, n) == 0)
        return 1;
    if (memchr(s + str.off, '\\', str.len) == NULL)
        return 0;
    a1111_buf_t b;
    a1111_buf_init(&b, 4 * n + 16);
    int eq = a1111_json_string_decode(s, str, &b) == 0 && b.len == n && memcmp(b.data, name, n) == 0;
    a1111_buf_free(&b);
    return eq;
}
