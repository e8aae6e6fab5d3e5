/* redis_url.c - Redis URL parsing (see redis_url.h). */
#define _GNU_SOURCE
#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

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

/* Percent-decodes [s, s+n) into a new string; NULL on a bad escape. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int a = i + 2 < n ? hexval(s[i + 1]) : -1;
            int b = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (a < 0 || b < 0) {
                free(out);
                return NULL;
            }
            out[w++] = (char)(a * 16 + b);
            i += 2;
        } else {
            out[w++] = s[i];
        }
    }
    out[w] = '\0';
    return out;
}

static int parse_int(const char *s, size_t n, long min, long max, long *out)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* userinfo = [user][:password] */
static int parse_userinfo(const char *s, size_t n, emp_redis_url_t *u, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    if (ulen > 0) {
        u->user = pct_decode(s, ulen);
        if (u->user == NULL)
            goto bad;
    }
    if (colon) {
        u->password = pct_decode(colon + 1, n - ulen - 1);
        if (u->password == NULL)
            goto bad;
    } else if (ulen > 0) {
        /* "redis://secret@host": a lone userinfo is the password (as redis-cli does) */
        u->password = u->user;
        u->user = NULL;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad percent-escape in the URL's user or password");
    return -1;
}

int emp_redis_url_parse(const char *url, emp_redis_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (url == NULL || url[0] == '\0') {
        snprintf(err, errlen, "empty Redis URL");
        return -1;
    }
    const char *p;
    int is_unix = 0;
    if (strncmp(url, "redis://", 8) == 0)
        p = url + 8;
    else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        u->tls = 1;
    } else if (strncmp(url, "unix://", 7) == 0) {
        p = url + 7;
        is_unix = 1;
    } else {
        snprintf(err, errlen, "Redis URL must start with redis://, rediss:// or unix://");
        return -1;
    }
    const char *at = strrchr(p, '@');
    const char *slash_before_at = NULL;
    if (at) {
        slash_before_at = memchr(p, '/', (size_t)(at - p));
        if (!is_unix && slash_before_at)
            at = NULL; /* an '@' in the path, not userinfo */
    }
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), u, err, errlen) != 0)
            goto fail;
        p = at + 1;
    }
    if (is_unix) {
        const char *q = strchr(p, '?');
        size_t plen = q ? (size_t)(q - p) : strlen(p);
        if (plen == 0 || p[0] != '/') {
            snprintf(err, errlen,
                     "unix:// URL needs an absolute socket path (unix:///run/redis.sock)");
            goto fail;
        }
        u->socket = xstrndup(p, plen);
        if (q) {
            long db;
            if (strncmp(q, "?db=", 4) != 0 ||
                parse_int(q + 4, strlen(q + 4), 0, 1000000, &db) != 0) {
                snprintf(err, errlen, "unix:// URL: only ?db=N is understood after the path");
                goto fail;
            }
            u->db = (int)db;
        }
        return 0;
    }
    const char *end = p + strcspn(p, "/?#");
    const char *hs = p, *he = end, *port_s = NULL;
    if (*hs == '[') { /* [ipv6]:port */
        const char *rb = memchr(hs, ']', (size_t)(end - hs));
        if (rb == NULL) {
            snprintf(err, errlen, "unterminated [IPv6] host in Redis URL");
            goto fail;
        }
        u->host = xstrndup(hs + 1, (size_t)(rb - hs - 1));
        if (rb + 1 < end && rb[1] == ':')
            port_s = rb + 2;
        else if (rb + 1 != end) {
            snprintf(err, errlen, "unexpected text after [IPv6] host in Redis URL");
            goto fail;
        }
    } else {
        const char *colon = memchr(hs, ':', (size_t)(he - hs));
        if (colon) {
            port_s = colon + 1;
            he = colon;
        }
        if (he == hs) {
            snprintf(err, errlen, "Redis URL has no host");
            goto fail;
        }
        u->host = xstrndup(hs, (size_t)(he - hs));
    }
    if (port_s) {
        long port;
        if (parse_int(port_s, (size_t)(end - port_s), 1, 65535, &port) != 0) {
            snprintf(err, errlen, "Redis URL port must be 1..65535");
            goto fail;
        }
        u->port = (int)port;
    }
    const char *rest = end;
    if (*end == '/' && end[1] != '\0') {
        long db;
        const char *ds = end + 1;
        size_t dl = strcspn(ds, "?#");
        if (parse_int(ds, dl, 0, 1000000, &db) != 0) {
            snprintf(err, errlen, "Redis URL database must be a number (redis://host:6379/0)");
            goto fail;
        }
        u->db = (int)db;
        rest = ds + dl;
    } else if (*end == '/') {
        rest = end + 1;
    }
    if (*rest != '\0') {
        /* silently ignoring "?password=..." would fail AUTH later and print the secret */
        snprintf(err, errlen,
                 "Redis URL: query parameters and fragments are not understood "
                 "(the password goes before the host: redis://:password@host)");
        goto fail;
    }
    return 0;
fail:
    emp_redis_url_free(u);
    return -1;
}

void emp_redis_url_free(emp_redis_url_t *u)
{
    free(u->host);
    free(u->socket);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

/* The URL with any query or fragment other than a plain "?db=N" replaced by "?***". */
static char *redact_query(char *u)
{
    char *q = strpbrk(u, "?#");
    if (q == NULL)
        return u;
    const char *d = q + 4;
    if (strncmp(q, "?db=", 4) == 0 && *d && strspn(d, "0123456789") == strlen(d))
        return u;
    *q = '\0';
    char *out = xasprintf("%s?***", u);
    free(u);
    return out;
}

char *emp_redis_url_redacted(const char *url)
{
    if (url == NULL)
        return xstrdup("");
    const char *scheme = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (scheme == NULL || at == NULL || at < scheme)
        return redact_query(xstrdup(url));
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
    const char *cut = colon ? colon + 1 : scheme + 3;
    return redact_query(xasprintf("%.*s***%s", (int)(cut - url), url, at));
}
