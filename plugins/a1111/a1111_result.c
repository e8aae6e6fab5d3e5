/* a1111_result.c - A1111's answer -> result object (see a1111_result.h). */
#include "a1111_result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "a1111_json.h"

/* Image kinds recognised by their first bytes. */
static const struct {
    const char *magic;
    size_t magic_len;
    size_t offset;
    const char *mime;
    const char *ext;
} a1111_image_kinds[] = {
    {"\x89PNG\r\n\x1a\n", 8, 0, "image/png", "png"},
    {"\xff\xd8\xff", 3, 0, "image/jpeg", "jpg"},
    {"WEBP", 4, 8, "image/webp", "webp"},
};

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int a1111_base64_decode(const char *s, size_t len, a1111_buf_t *out)
{
    const char *comma;
    if (len > 5 && memcmp(s, "data:", 5) == 0 && (comma = memchr(s, ',', len)) != NULL) {
        len -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    unsigned long acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xFF);
            if (a1111_buf_append(out, &c, 1) != 0)
                return -1;
        }
    }
    return 0;
}

static int image_kind(const char *data, size_t len)
{
    for (size_t i = 0; i < sizeof a1111_image_kinds / sizeof a1111_image_kinds[0]; i++) {
        size_t off = a1111_image_kinds[i].offset, n = a1111_image_kinds[i].magic_len;
        if (len >= off + n && memcmp(data + off, a1111_image_kinds[i].magic, n) == 0)
            return (int)i;
    }
    return -1;
}

/* The job id made safe as a file name: [A-Za-z0-9._-], anything else becomes '_'. */
static void safe_name(const char *id, char *out, size_t outlen)
{
    size_t n = 0;
    for (; id && *id && n + 1 < outlen; id++, n++) {
        char c = *id;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && n > 0); /* no leading dot */
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, outlen, "job");
}

/* Writes data to path through a temporary file and a rename. 0, or -1 with errno. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e ? e : EIO;
            return -1;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

typedef struct written {
    char (*paths)[4096];
    size_t n;
} written_t;

static void remove_written(written_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        unlink(w->paths[i]);
}

/* images array -> "files":[...] (decoding and writing each). */
static int put_files(const char *body, a1111_span_t images, const a1111_result_opts_t *o,
                     a1111_buf_t *out, size_t *count, written_t *w, a1111_error_t *err)
{
    a1111_json_iter_t it;
    a1111_span_t e;
    a1111_buf_t b64, bin;
    char name[200], path[4096];
    int r, rc = -1;
    a1111_buf_init(&b64, 0);
    a1111_buf_init(&bin, 0);
    safe_name(o->job_id, name, sizeof name);
    if (mkdir(o->output_dir, 0755) != 0 && errno != EEXIST) {
        a1111_error_set(err, EMP_RETRY, "output_write", "cannot create output_dir %s: %s",
                        o->output_dir, strerror(errno));
        goto done;
    }
    a1111_buf_puts(out, "\"files\":[");
    a1111_json_array_init(&it, body, images);
    while ((r = a1111_json_array_next(&it, &e)) == 1) {
        a1111_buf_reset(&b64);
        a1111_buf_reset(&bin);
        if (a1111_json_string_decode(body, e, &b64) != 0 ||
            a1111_base64_decode(b64.data ? b64.data : "", b64.len, &bin) != 0 || bin.len == 0) {
            a1111_error_set(err, EMP_RETRY, "bad_response", "A1111 image %zu is not base64", *count);
            goto done;
        }
        int k = image_kind(bin.data, bin.len);
        snprintf(path, sizeof path, "%s/%s-%zu.%s", o->output_dir, name, *count,
                 k >= 0 ? a1111_image_kinds[k].ext : "bin");
        if (write_file(path, bin.data, bin.len) != 0) {
            a1111_error_set(err, EMP_RETRY, "output_write", "cannot write %s: %s", path,
                            strerror(errno));
            goto done;
        }
        char (*np)[4096] = realloc(w->paths, (w->n + 1) * sizeof *np);
        if (np == NULL) {
            unlink(path);
            a1111_error_set(err, EMP_RETRY, "out_of_memory", "out of memory writing images");
            goto done;
        }
        w->paths = np;
        memcpy(w->paths[w->n++], path, sizeof path);
        if (*count)
            a1111_buf_puts(out, ",");
        a1111_buf_puts(out, "{\"path\":");
        a1111_buf_json_string(out, path, strlen(path));
        a1111_buf_printf(out, ",\"mime_type\":\"%s\",\"size\":%zu}",
                         k >= 0 ? a1111_image_kinds[k].mime : "application/octet-stream", bin.len);
        (*count)++;
    }
    if (r < 0 || a1111_buf_puts(out, "]") != 0) {
        a1111_error_set(err, EMP_RETRY, "out_of_memory", "out of memory writing images");
        goto done;
    }
    rc = 0;
done:
    a1111_buf_free(&b64);
    a1111_buf_free(&bin);
    return rc;
}

/* images array -> "images":[...] copied as is, after checking every element is a string. */
static int put_inline(const char *body, a1111_span_t images, a1111_buf_t *out, size_t *count,
                      a1111_error_t *err)
{
    a1111_json_iter_t it;
    a1111_span_t e;
    a1111_json_array_init(&it, body, images);
    while (a1111_json_array_next(&it, &e) == 1) {
        if (a1111_json_kind(body, e) != '"') {
            a1111_error_set(err, EMP_RETRY, "bad_response", "A1111 image %zu is not a string",
                            *count);
            return -1;
        }
        (*count)++;
    }
    a1111_buf_puts(out, "\"images\":");
    return a1111_buf_append(out, body + images.off, images.len);
}

/* info is a JSON document serialised into a string: put the document itself when it parses,
 * else the string as A1111 sent it. */
static void put_info(const char *body, int found, a1111_span_t info, a1111_buf_t *out)
{
    a1111_buf_puts(out, ",\"info\":");
    if (!found || a1111_json_kind(body, info) == 'n') {
        a1111_buf_puts(out, "null");
        return;
    }
    if (a1111_json_kind(body, info) != '"') {
        a1111_buf_append(out, body + info.off, info.len); /* already a JSON value */
        return;
    }
    a1111_buf_t text;
    a1111_buf_init(&text, 0);
    if (a1111_json_string_decode(body, info, &text) == 0 && text.len > 0 &&
        a1111_json_validate(text.data, text.len) == 0)
        a1111_buf_append(out, text.data, text.len);
    else
        a1111_buf_append(out, body + info.off, info.len);
    a1111_buf_free(&text);
}

int a1111_result_build(const char *body, size_t len, const a1111_result_opts_t *o,
                       a1111_buf_t *out, size_t *nimages, a1111_error_t *err)
{
    a1111_span_t whole = {0, len}, images = {0, 0}, params = {0, 0}, info = {0, 0};
    a1111_json_iter_t it;
    a1111_json_member_t m;
    written_t w = {NULL, 0};
    int has_images = 0, has_params = 0, has_info = 0, r;
    *nimages = 0;
    if (body == NULL || a1111_json_validate(body, len) != 0) {
        a1111_error_set(err, EMP_RETRY, "bad_response", "A1111 answered 200 with a body that is not JSON");
        return -1;
    }
    if (a1111_json_iter_init(&it, body, whole) != 0) {
        a1111_error_set(err, EMP_RETRY, "bad_response",
                        "A1111 answered 200 with JSON that is not an object");
        return -1;
    }
    /* One pass over the members (the body may be many megabytes); the last duplicate wins. */
    while ((r = a1111_json_iter_next(&it, &m)) == 1) {
        if (a1111_json_string_equals(body, m.key, "images")) {
            images = m.value;
            has_images = 1;
        } else if (a1111_json_string_equals(body, m.key, "parameters")) {
            params = m.value;
            has_params = a1111_json_kind(body, params) == '{';
        } else if (a1111_json_string_equals(body, m.key, "info")) {
            info = m.value;
            has_info = 1;
        }
    }
    if (r < 0 || !has_images ||
        (a1111_json_kind(body, images) != '[' && a1111_json_kind(body, images) != 'n')) {
        a1111_error_set(err, EMP_RETRY, "bad_response", "A1111's answer has no images list");
        return -1;
    }

    a1111_buf_reset(out);
    a1111_buf_puts(out, "{");
    if (a1111_json_kind(body, images) == 'n') {
        a1111_buf_puts(out, o->output == A1111_OUTPUT_FILES ? "\"files\":[]" : "\"images\":[]");
    } else if (o->output == A1111_OUTPUT_FILES) {
        if (put_files(body, images, o, out, nimages, &w, err) != 0)
            goto fail;
    } else if (put_inline(body, images, out, nimages, err) != 0) {
        goto fail;
    }
    a1111_buf_puts(out, ",\"parameters\":");
    if (has_params)
        a1111_buf_append(out, body + params.off, params.len);
    else
        a1111_buf_puts(out, "null");
    put_info(body, has_info, info, out);
    if (a1111_buf_puts(out, "}") != 0 || out->failed) {
        a1111_error_set(err, EMP_RETRY, "out_of_memory", "out of memory building the result");
        goto fail;
    }
    free(w.paths);
    return 0;
fail:
    remove_written(&w);
    free(w.paths);
    return -1;
}
