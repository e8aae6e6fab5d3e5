/* ejson.c - raw JSON scanning without number conversion (see ejson.h). */
#include "ejson.h"

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

/* s[*pos] must be the opening quote; leaves *pos just past the closing one. */
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
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': break;
        case 'u':
            if (len - i < 5)
                return -1;
            for (int k = 1; k <= 4; k++)
                if (hexval(s[i + (size_t)k]) < 0)
                    return -1;
            i += 4;
            break;
        default: return -1;
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

/* s[*pos] is '{' or '['; `depth` containers are already open around it. The recursion goes
 * through here only, one level per container, so it is at most EJSON_MAX_DEPTH deep. */
static int scan_container(const char *s, size_t len, size_t *pos, int depth)
{
    char close = s[*pos] == '{' ? '}' : ']';
    int object = close == '}';
    if (depth >= EJSON_MAX_DEPTH)
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
    case '[': return scan_container(s, len, pos, depth);
    case '"': return scan_string(s, len, pos);
    case 't': return scan_literal(s, len, pos, "true");
    case 'f': return scan_literal(s, len, pos, "false");
    case 'n': return scan_literal(s, len, pos, "null");
    default: return scan_number(s, len, pos);
    }
}

int ejson_skip_value(const char *s, size_t len, size_t *pos)
{
    if (s == NULL || pos == NULL || *pos > len)
        return -1;
    return scan_value(s, len, pos, 0);
}

int ejson_validate(const char *s, size_t len)
{
    size_t pos = 0;
    if (ejson_skip_value(s, len, &pos) != 0)
        return -1;
    skip_ws(s, len, &pos);
    return pos == len ? 0 : -1;
}

char ejson_first_char(const char *s, size_t len)
{
    size_t pos = 0;
    if (s == NULL)
        return '\0';
    skip_ws(s, len, &pos);
    return pos < len ? s[pos] : '\0';
}

/* ---- iteration ---- */

static int iter_begin(ejson_iter_t *it, const char *s, size_t len, char open)
{
    memset(it, 0, sizeof *it);
    it->s = s;
    it->len = len;
    if (s != NULL)
        skip_ws(s, len, &it->pos);
    if (s == NULL || it->pos >= len || s[it->pos] != open) {
        it->done = -1;
        return -1;
    }
    it->pos++;
    return 0;
}

/* Before an element: expect the closing bracket, or (after the first element) a comma.
 * 1 an element follows, 0 closed, -1 malformed. */
static int iter_separator(ejson_iter_t *it, char close)
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

/* Scans one value at it->pos (children of the container: depth 1) into *v. 0 / -1. */
static int iter_value(ejson_iter_t *it, ejson_span_t *v)
{
    size_t start = it->pos;
    if (scan_value(it->s, it->len, &it->pos, 1) != 0)
        return -1;
    v->p = it->s + start;
    v->len = it->pos - start;
    return 0;
}

int ejson_object_begin(ejson_iter_t *it, const char *s, size_t len)
{
    return iter_begin(it, s, len, '{');
}

int ejson_object_next(ejson_iter_t *it, ejson_member_t *m)
{
    if (it->done)
        return it->done > 0 ? 0 : -1;
    int r = iter_separator(it, '}');
    if (r == 0)
        return 0;
    size_t start = it->pos;
    if (r < 0 || scan_string(it->s, it->len, &it->pos) != 0)
        goto bad;
    m->key.p = it->s + start;
    m->key.len = it->pos - start;
    skip_ws(it->s, it->len, &it->pos);
    if (it->pos >= it->len || it->s[it->pos] != ':')
        goto bad;
    it->pos++;
    skip_ws(it->s, it->len, &it->pos);
    if (iter_value(it, &m->value) != 0)
        goto bad;
    m->member.p = m->key.p;
    m->member.len = (size_t)(m->value.p + m->value.len - m->key.p);
    return 1;
bad:
    it->done = -1;
    return -1;
}

int ejson_array_begin(ejson_iter_t *it, const char *s, size_t len)
{
    return iter_begin(it, s, len, '[');
}

int ejson_array_next(ejson_iter_t *it, ejson_span_t *elem)
{
    if (it->done)
        return it->done > 0 ? 0 : -1;
    int r = iter_separator(it, ']');
    if (r == 0)
        return 0;
    if (r < 0 || iter_value(it, elem) != 0) {
        it->done = -1;
        return -1;
    }
    return 1;
}

int ejson_find(const char *s, size_t len, const char *key, ejson_span_t *value)
{
    ejson_iter_t it;
    ejson_member_t m;
    int found = 0, r;
    if (ejson_object_begin(&it, s, len) != 0)
        return -1;
    while ((r = ejson_object_next(&it, &m)) == 1)
        if (ejson_string_equals(m.key, key)) {
            if (value)
                *value = m.value; /* keep going: the last duplicate wins */
            found = 1;
        }
    if (r < 0)
        return -1;
    skip_ws(s, len, &it.pos);
    return it.pos == len ? found : -1;
}

/* ---- strings ---- */

/* 1 when str is exactly one string literal (quotes included). */
static int is_string_literal(ejson_span_t str)
{
    size_t pos = 0;
    return str.p != NULL && scan_string(str.p, str.len, &pos) == 0 && pos == str.len;
}

static unsigned long hex4(const char *p)
{
    return (unsigned long)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
                           hexval(p[3]));
}

static size_t put_utf8(unsigned long cp, char u[4])
{
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* s[*i] is a backslash inside a validated string literal whose closing quote is at `last`
 * (so the escape is complete and may be read without checks). Decodes it into u, advances *i
 * past it and returns the number of bytes (1..4). */
static size_t unescape(const char *s, size_t *i, size_t last, char u[4])
{
    char e = s[*i + 1];
    *i += 2;
    switch (e) {
    case 'b': u[0] = '\b'; return 1;
    case 'f': u[0] = '\f'; return 1;
    case 'n': u[0] = '\n'; return 1;
    case 'r': u[0] = '\r'; return 1;
    case 't': u[0] = '\t'; return 1;
    case 'u': break;
    default: u[0] = e; return 1; /* '"', '\\', '/' */
    }
    unsigned long cp = hex4(s + *i);
    *i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && last - *i >= 6 && s[*i] == '\\' && s[*i + 1] == 'u') {
        unsigned long lo = hex4(s + *i + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *i += 6;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD; /* a lone surrogate: replaced, as Python's decoder would not keep it */
    return put_utf8(cp, u);
}

int ejson_string_decode(ejson_span_t str, ebuf_t *out)
{
    if (!is_string_literal(str))
        return -1; /* validated first, so unescape() may read escapes without checks */
    const char *s = str.p;
    size_t i = 1, last = str.len - 1, run = i;
    while (i < last) {
        if (s[i] != '\\') {
            i++;
            continue;
        }
        char u[4];
        if (ebuf_append(out, s + run, i - run) != 0)
            return -1;
        size_t n = unescape(s, &i, last, u);
        if (ebuf_append(out, u, n) != 0)
            return -1;
        run = i;
    }
    return ebuf_append(out, s + run, last - run);
}

int ejson_string_equals(ejson_span_t str, const char *name)
{
    size_t n = strlen(name), k = 0;
    if (!is_string_literal(str))
        return 0;
    const char *s = str.p;
    size_t i = 1, last = str.len - 1;
    if (memchr(s, '\\', str.len) == NULL) /* no escapes: the raw bytes are the text */
        return last - 1 == n && memcmp(s + 1, name, n) == 0;
    while (i < last) {
        char u[4];
        size_t un = 1;
        if (s[i] == '\\')
            un = unescape(s, &i, last, u);
        else
            u[0] = s[i++];
        if (un > n - k || memcmp(name + k, u, un) != 0)
            return 0;
        k += un;
    }
    return k == n;
}
