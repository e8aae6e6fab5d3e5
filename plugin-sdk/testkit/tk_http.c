/*
 * tk_http.c - the test kit's HTTP helper over plain sockets (see tk_http.h).
 *
 * One request per connection ("Connection: close"). The response is read as it arrives and
 * parsed incrementally: status line and headers, then a body delimited by Content-Length,
 * chunked transfer coding, or the end of the connection. Every wait is a poll() on the
 * socket and the job's cancel fd, bounded by the request's deadlines.
 */
#define _GNU_SOURCE
#include "tk_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "emp_http_util.h"

typedef struct tk_resp {
    char *body;
    size_t len;
    char *headers;
    char *content_type;
    char *error_text;
} tk_resp_t;

typedef struct tk_buf {
    char *p;
    size_t len, cap;
} tk_buf_t;

typedef struct tk_conn {
    int fd;
    int cancel_fd;
    volatile int *cancelled;
    long long deadline; /* total deadline in ms (0: none) */
} tk_conn_t;

enum { TK_WAIT_OK = 0, TK_WAIT_TIMEOUT = 1, TK_WAIT_CANCELLED = 2, TK_WAIT_ERROR = 3 };

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xalloc(void *p, size_t n)
{
    void *r = realloc(p, n ? n : 1);
    if (r == NULL)
        abort(); /* the test kit, like the host, does not survive OOM */
    return r;
}

static char *xdup(const char *s, size_t n)
{
    char *d = xalloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void buf_add(tk_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->len + n + 1)
            c *= 2;
        b->p = xalloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int is_cancelled(const tk_conn_t *c)
{
    return c->cancelled != NULL && __atomic_load_n(c->cancelled, __ATOMIC_SEQ_CST);
}

/* Wait for `events` on c->fd until min(deadline, c->deadline); deadline 0 = none. */
static int wait_fd(const tk_conn_t *c, short events, long long deadline)
{
    if (c->deadline && (deadline == 0 || c->deadline < deadline))
        deadline = c->deadline;
    for (;;) {
        if (is_cancelled(c))
            return TK_WAIT_CANCELLED;
        int ms = -1;
        if (deadline) {
            long long left = deadline - now_ms();
            if (left <= 0)
                return TK_WAIT_TIMEOUT;
            ms = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = events},
                              {.fd = c->cancel_fd, .events = POLLIN}};
        int r = poll(p, c->cancel_fd >= 0 ? 2 : 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return TK_WAIT_ERROR;
        if (c->cancel_fd >= 0 && (p[1].revents & POLLIN))
            return TK_WAIT_CANCELLED;
        if (p[0].revents)
            return TK_WAIT_OK;
    }
}

/* ---- URL ---- */

typedef struct tk_url {
    char host[256];
    char port[8];
    char hostport[280]; /* for the Host header, as written in the URL */
    char userinfo[256];
    const char *target; /* path + query, "/" when absent */
} tk_url_t;

static int parse_url(const char *url, tk_url_t *u, char *reason, size_t rlen)
{
    memset(u, 0, sizeof *u);
    const char *a = url + 7; /* after "http://" (validated) */
    size_t alen = strcspn(a, "/?#");
    u->target = a[alen] == '/' ? a + alen : a[alen] == '?' ? a + alen : "/";
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    if (at) {
        snprintf(u->userinfo, sizeof u->userinfo, "%.*s", (int)(at - a), a);
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    snprintf(u->hostport, sizeof u->hostport, "%.*s", (int)alen, a);
    const char *port = NULL;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (close == NULL) {
            snprintf(reason, rlen, "bad IPv6 address in the URL");
            return -1;
        }
        snprintf(u->host, sizeof u->host, "%.*s", (int)(close - a - 1), a + 1);
        if (close + 1 < a + alen && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(a, ':', alen);
        size_t hl = colon ? (size_t)(colon - a) : alen;
        snprintf(u->host, sizeof u->host, "%.*s", (int)hl, a);
        if (colon)
            port = colon + 1;
    }
    size_t plen = port ? (size_t)(a + alen - port) : 0;
    if (port && (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)) {
        snprintf(reason, rlen, "bad port in the URL");
        return -1;
    }
    snprintf(u->port, sizeof u->port, "%.*s", (int)(port ? plen : 2), port ? port : "80");
    if (u->host[0] == '\0') {
        snprintf(reason, rlen, "the URL has no host");
        return -1;
    }
    return 0;
}

static void base64(const char *in, char *out, size_t outlen)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- response parsing ---- */

typedef struct tk_parse {
    size_t hdr_end;   /* offset of the body (0 while the headers are incomplete) */
    size_t hdr_start; /* offset of the final response's status line */
    int status;
    int chunked;
    long long content_length; /* -1: not given */
    int no_body;              /* HEAD, 1xx, 204, 304 */
} tk_parse_t;

static const char *find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

/* Header value of `name` within [p, end), or NULL; *vlen its length. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Parse the header block(s) once complete. Returns 1 when parsed, 0 need more, -1 bad. */
static int parse_headers(const tk_buf_t *b, int is_head, tk_parse_t *ps)
{
    for (;;) {
        const char *start = b->p + ps->hdr_start;
        const char *e = find_crlf2(start, b->len - ps->hdr_start);
        if (e == NULL)
            return b->len - ps->hdr_start > EMP_HTTP_MAX_HEADER_BYTES ? -2 : 0;
        int minor, status;
        if (sscanf(start, "HTTP/1.%d %3d", &minor, &status) != 2 || status < 100 || status > 999)
            return -1;
        if (status < 200) { /* 100 Continue and friends: skip to the next block */
            ps->hdr_start = (size_t)(e + 4 - b->p);
            continue;
        }
        ps->status = status;
        ps->hdr_end = (size_t)(e + 4 - b->p);
        ps->content_length = -1;
        size_t vl;
        const char *v = header_value(start, e + 2, "Transfer-Encoding", &vl);
        ps->chunked = v != NULL && vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
        v = header_value(start, e + 2, "Content-Length", &vl);
        if (v != NULL && !ps->chunked) {
            char num[24];
            snprintf(num, sizeof num, "%.*s", (int)(vl < 23 ? vl : 23), v);
            char *endp;
            long long cl = strtoll(num, &endp, 10);
            if (endp == num || *endp != '\0' || cl < 0)
                return -1;
            ps->content_length = cl;
        }
        ps->no_body = is_head || status == 204 || status == 304;
        return 1;
    }
}

/* Decode a chunked body in [p, p+n). Returns 1 complete (out filled), 0 need more, -1 bad,
 * -2 too large. */
static int dechunk(const char *p, size_t n, size_t max, tk_buf_t *out)
{
    size_t i = 0;
    out->len = 0;
    for (;;) {
        const char *eol = memchr(p + i, '\n', n - i);
        if (eol == NULL)
            return 0;
        char *endp;
        unsigned long long sz = strtoull(p + i, &endp, 16);
        if (endp == p + i)
            return -1;
        size_t data = (size_t)(eol + 1 - p);
        if (sz == 0) { /* last chunk; skip trailers up to the empty line */
            size_t j = data;
            for (;;) {
                const char *l = memchr(p + j, '\n', n - j);
                if (l == NULL)
                    return 0;
                size_t ll = (size_t)(l - (p + j));
                j = (size_t)(l + 1 - p);
                if (ll == 0 || (ll == 1 && p[j - 2] == '\r'))
                    return 1;
            }
        }
        if (out->len + sz > max)
            return -2;
        if (n - data < sz + 2)
            return 0;
        buf_add(out, p + data, (size_t)sz);
        i = data + (size_t)sz + 2;
    }
}

/* ---- the exchange ---- */

static void resp_fill(emp_http_response_t *resp, tk_resp_t *r, int status, int err)
{
    if (r->body == NULL)
        r->body = xdup("", 0);
    if (r->headers == NULL)
        r->headers = xdup("", 0);
    if (r->error_text == NULL)
        r->error_text = xdup("", 0);
    resp->status = status;
    resp->error = err;
    resp->error_text = r->error_text;
    resp->body = r->body;
    resp->body_len = r->len;
    resp->content_type = r->content_type;
    resp->headers = r->headers;
    resp->host_private = r;
}

static int resp_fail(const emp_http_request_t *req, emp_http_response_t *resp, tk_resp_t *r,
                     int err, const char *reason)
{
    r->error_text = emp_http_error_text(req, reason);
    if (r->error_text == NULL)
        abort();
    resp_fill(resp, r, 0, err);
    return err;
}

int tk_http_refuse(const emp_http_request_t *req, emp_http_response_t *resp, int err,
                   const char *reason)
{
    tk_resp_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    return resp_fail(req, resp, r, err, reason);
}

/* Connect to one of the addresses. Returns fd, or -1 with *err and reason set. */
static int do_connect(tk_conn_t *c, const tk_url_t *u, uint32_t connect_ms, uint32_t total_ms,
                      int *err, char *reason, size_t rlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(u->host, u->port, &hints, &ai);
    if (g != 0) {
        *err = EMP_HTTP_E_RESOLVE;
        snprintf(reason, rlen, "cannot resolve the host name (%s)", gai_strerror(g));
        return -1;
    }
    long long cdeadline = now_ms() + connect_ms;
    int last = 0, fd = -1;
    for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            last = errno;
            continue;
        }
        if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
            fd = s;
            break;
        }
        if (errno != EINPROGRESS) {
            last = errno;
            close(s);
            continue;
        }
        c->fd = s;
        int w = wait_fd(c, POLLOUT, cdeadline);
        if (w != TK_WAIT_OK) {
            close(s);
            c->fd = -1;
            if (w == TK_WAIT_CANCELLED) {
                *err = EMP_HTTP_E_CANCELLED;
                snprintf(reason, rlen, "%s", EMP_HTTP_TXT_CANCELLED);
            } else if (w == TK_WAIT_TIMEOUT) {
                *err = EMP_HTTP_E_TIMEOUT;
                emp_http_timeout_reason(0, connect_ms, total_ms, reason, rlen);
            } else {
                *err = EMP_HTTP_E_CONNECT;
                snprintf(reason, rlen, "cannot connect: %s", strerror(errno));
            }
            freeaddrinfo(ai);
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr == 0) {
            fd = s;
            break;
        }
        last = soerr;
        close(s);
        c->fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        *err = last == ECONNREFUSED ? EMP_HTTP_E_REFUSED : EMP_HTTP_E_CONNECT;
        if (last == ECONNREFUSED)
            snprintf(reason, rlen, "%s", EMP_HTTP_TXT_REFUSED);
        else
            snprintf(reason, rlen, "cannot connect: %s", strerror(last));
    }
    return fd;
}

static void build_request(const emp_http_request_t *req, const tk_url_t *u, tk_buf_t *out)
{
    const char *method = emp_http_method(req);
    char line[1024];
    size_t tl = strcspn(u->target, "#");
    buf_add(out, method, strlen(method));
    buf_add(out, " ", 1);
    buf_add(out, u->target, tl);
    snprintf(line, sizeof line, " HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", u->hostport);
    buf_add(out, line, strlen(line));
    if (u->userinfo[0]) {
        char b64[400];
        base64(u->userinfo, b64, sizeof b64);
        snprintf(line, sizeof line, "Authorization: Basic %s\r\n", b64);
        buf_add(out, line, strlen(line));
    }
    if (req->body != NULL || strcmp(method, "POST") == 0) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", req->body_len);
        buf_add(out, line, strlen(line));
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        buf_add(out, req->headers[i], strlen(req->headers[i]));
        buf_add(out, "\r\n", 2);
    }
    buf_add(out, "\r\n", 2);
    if (req->body_len)
        buf_add(out, req->body, req->body_len);
}

static int wait_err(int w, int connected, uint32_t connect_ms, uint32_t total_ms, char *reason,
                    size_t rlen)
{
    if (w == TK_WAIT_CANCELLED) {
        snprintf(reason, rlen, "%s", EMP_HTTP_TXT_CANCELLED);
        return EMP_HTTP_E_CANCELLED;
    }
    if (w == TK_WAIT_TIMEOUT) {
        emp_http_timeout_reason(connected, connect_ms, total_ms, reason, rlen);
        return EMP_HTTP_E_TIMEOUT;
    }
    snprintf(reason, rlen, "%s", strerror(errno));
    return EMP_HTTP_E_IO;
}

int tk_http_request(int cancel_fd, volatile int *cancelled, const emp_http_request_t *req,
                    emp_http_response_t *resp)
{
    char reason[512];
    int resp_ok;
    int v = emp_http_validate(req, resp, &resp_ok, reason, sizeof reason);
    if (v == EMP_HTTP_OK && emp_http_is_https(req->url)) {
        v = EMP_HTTP_E_SCHEME;
        snprintf(reason, sizeof reason,
                 "the test kit speaks plain http:// only (emp-worker itself does https://)");
    }
    if (v != EMP_HTTP_OK)
        return resp_ok ? tk_http_refuse(req, resp, v, reason) : v;

    int have_job = cancelled != NULL;
    uint32_t connect_ms = emp_http_connect_timeout(req);
    uint32_t total_ms = emp_http_total_timeout(req, have_job);
    size_t max = emp_http_max_response(req);
    tk_resp_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    tk_conn_t c = {.fd = -1,
                   .cancel_fd = cancel_fd,
                   .cancelled = cancelled,
                   .deadline = total_ms ? now_ms() + total_ms : 0};
    if (is_cancelled(&c))
        return resp_fail(req, resp, r, EMP_HTTP_E_CANCELLED, EMP_HTTP_TXT_CANCELLED);
    tk_url_t u;
    if (parse_url(req->url, &u, reason, sizeof reason) != 0)
        return resp_fail(req, resp, r, EMP_HTTP_E_INVALID, reason);

    int err = EMP_HTTP_OK;
    tk_buf_t out = {0}, in = {0}, body = {0};
    c.fd = do_connect(&c, &u, connect_ms, total_ms, &err, reason, sizeof reason);
    if (c.fd < 0)
        goto done;

    build_request(req, &u, &out);
    for (size_t off = 0; off < out.len;) {
        ssize_t w = send(c.fd, out.p + off, out.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            err = EMP_HTTP_E_IO;
            snprintf(reason, sizeof reason, "send failed: %s", strerror(errno));
            goto done;
        }
        int ws = wait_fd(&c, POLLOUT, 0);
        if (ws != TK_WAIT_OK) {
            err = wait_err(ws, 1, connect_ms, total_ms, reason, sizeof reason);
            goto done;
        }
    }

    tk_parse_t ps = {0};
    int is_head = strcmp(emp_http_method(req), "HEAD") == 0;
    for (;;) {
        int eof = 0;
        char chunk[16384];
        ssize_t n = recv(c.fd, chunk, sizeof chunk, 0);
        if (n > 0)
            buf_add(&in, chunk, (size_t)n);
        else if (n == 0)
            eof = 1;
        else if (errno == EAGAIN || errno == EINTR) {
            int ws = wait_fd(&c, POLLIN, 0);
            if (ws != TK_WAIT_OK) {
                err = wait_err(ws, 1, connect_ms, total_ms, reason, sizeof reason);
                goto done;
            }
            continue;
        } else {
            err = EMP_HTTP_E_IO;
            snprintf(reason, sizeof reason, "receive failed: %s", strerror(errno));
            goto done;
        }
        if (ps.hdr_end == 0) {
            int h = in.len ? parse_headers(&in, is_head, &ps) : 0;
            if (h < 0 || (h == 0 && eof)) {
                err = EMP_HTTP_E_IO;
                snprintf(reason, sizeof reason,
                         h == -2       ? "response headers larger than 65536 bytes"
                         : in.len == 0 ? "the server closed the connection without answering"
                                       : "malformed HTTP response");
                goto done;
            }
            if (h == 0)
                continue;
            if (ps.content_length >= 0 && !ps.no_body &&
                (unsigned long long)ps.content_length > max) {
                err = EMP_HTTP_E_TOO_LARGE;
                emp_http_too_large_reason(max, reason, sizeof reason);
                goto done;
            }
        }
        size_t have = in.len - ps.hdr_end;
        const char *bp = in.p + ps.hdr_end;
        if (ps.no_body)
            break;
        if (ps.chunked) {
            int d = dechunk(bp, have, max, &body);
            if (d == 1)
                break;
            if (d == -2) {
                err = EMP_HTTP_E_TOO_LARGE;
                emp_http_too_large_reason(max, reason, sizeof reason);
                goto done;
            }
            if (d < 0 || eof) {
                err = EMP_HTTP_E_IO;
                snprintf(reason, sizeof reason,
                         d < 0 ? "malformed chunked body" : "the connection closed mid-body");
                goto done;
            }
        } else if (ps.content_length >= 0) {
            if (have >= (size_t)ps.content_length) {
                body.len = 0;
                buf_add(&body, bp, (size_t)ps.content_length);
                break;
            }
            if (eof) {
                err = EMP_HTTP_E_IO;
                snprintf(reason, sizeof reason, "the connection closed mid-body");
                goto done;
            }
        } else {
            if (have > max) {
                err = EMP_HTTP_E_TOO_LARGE;
                emp_http_too_large_reason(max, reason, sizeof reason);
                goto done;
            }
            if (eof) {
                body.len = 0;
                buf_add(&body, bp, have);
                break;
            }
        }
    }

    /* the final response's header lines, without the status line */
    const char *hs = in.p + ps.hdr_start;
    const char *first = memchr(hs, '\n', ps.hdr_end - ps.hdr_start);
    size_t hlen = (size_t)(in.p + ps.hdr_end - 2 - (first + 1));
    r->headers = xdup(first + 1, hlen);
    size_t ctl;
    const char *ct = header_value(r->headers, r->headers + hlen, "Content-Type", &ctl);
    if (ct)
        r->content_type = xdup(ct, ctl);
    r->body = body.p ? body.p : xdup("", 0);
    r->len = body.len;
    body.p = NULL;
    resp_fill(resp, r, ps.status, EMP_HTTP_OK);

done:
    if (c.fd >= 0)
        close(c.fd);
    free(out.p);
    free(in.p);
    free(body.p);
    if (err != EMP_HTTP_OK)
        return resp_fail(req, resp, r, err, reason);
    return EMP_HTTP_OK;
}

void tk_http_response_free(emp_http_response_t *resp)
{
    if (resp == NULL || resp->struct_size < EMP_HTTP_RESPONSE_MIN_SIZE)
        return;
    tk_resp_t *r = resp->host_private;
    if (r != NULL) {
        free(r->body);
        free(r->headers);
        free(r->content_type);
        free(r->error_text);
        free(r);
    }
    emp_http_response_clear(resp);
}
