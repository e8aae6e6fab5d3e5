/* a1111_result.c - A1111's answer -> result object (see a1111_result.h). */
#include "a1111_result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebase64.h"
#include "ejson.h"

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

int a1111_base64_decode(const char *s, size_t len, ebuf_t *out)
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
        int v = ebase64_digit((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xFF);
            if (ebuf_append(out, &c, 1) != 0)
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
static int put_files(ejson_span_t images, const a1111_result_opts_t *o, ebuf_t *out, size_t *count,
                     written_t *w, a1111_error_t *err)
{
    ejson_iter_t it;
    ejson_span_t e;
    ebuf_t b64, bin;
    char name[200], path[4096];
    int r, rc = -1;
    ebuf_init(&b64, 0);
    ebuf_init(&bin, 0);
    safe_name(o->job_id, name, sizeof name);
    if (mkdir(o->output_dir, 0755) != 0 && errno != EEXIST) {
        a1111_error_set(err, EMP_RETRY, "output_write", "cannot create output_dir %s: %s",
                        o->output_dir, strerror(errno));
        goto done;
    }
    ebuf_puts(out, "\"files\":[");
    ejson_array_begin(&it, images.p, images.len);
    while ((r = ejson_array_next(&it, &e)) == 1) {
        ebuf_reset(&b64);
        ebuf_reset(&bin);
        if (ejson_string_decode(e, &b64) != 0 ||
            a1111_base64_decode(b64.data ? b64.data : "", b64.len, &bin) != 0 || bin.len == 0) {
            a1111_error_set(err, EMP_RETRY, "bad_response", "A1111 image %zu is not base64",
                            *count);
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
        char(*np)[4096] = realloc(w->paths, (w->n + 1) * sizeof *np);
        if (np == NULL) {
            unlink(path);
            a1111_error_set(err, EMP_RETRY, "out_of_memory", "out of memory writing images");
            goto done;
        }
        w->paths = np;
        memcpy(w->paths[w->n++], path, sizeof path);
        if (*count)
            ebuf_puts(out, ",");
        ebuf_puts(out, "{\"path\":");
        ebuf_json_cstr(out, path);
        ebuf_printf(out, ",\"mime_type\":\"%s\",\"size\":%zu}",
                    k >= 0 ? a1111_image_kinds[k].mime : "application/octet-stream", bin.len);
        (*count)++;
    }
    if (r < 0 || ebuf_puts(out, "]") != 0) {
        a1111_error_set(err, EMP_RETRY, "out_of_memory", "out of memory writing images");
        goto done;
    }
    rc = 0;
done:
    ebuf_free(&b64);
    ebuf_free(&bin);
    return rc;
}

/* images array -> "images":[...] copied as is, after checking every element is a string. */
static int put_inline(ejson_span_t images, ebuf_t *out, size_t *count, a1111_error_t *err)
{
    ejson_iter_t it;
    ejson_span_t e;
    ejson_array_begin(&it, images.p, images.len);
    while (ejson_array_next(&it, &e) == 1) {
        if (ejson_first_char(e.p, e.len) != '"') {
            a1111_error_set(err, EMP_RETRY, "bad_response", "A1111 image %zu is not a string",
                            *count);
            return -1;
        }
        (*count)++;
    }
    ebuf_puts(out, "\"images\":");
    return ebuf_append(out, images.p, images.len);
}

/* info is a JSON document serialised into a string: put the document itself when it parses,
 * else the string as A1111 sent it. */
static void put_info(int found, ejson_span_t info, ebuf_t *out)
{
    ebuf_puts(out, ",\"info\":");
    if (!found || ejson_first_char(info.p, info.len) == 'n') {
        ebuf_puts(out, "null");
        return;
    }
    if (ejson_first_char(info.p, info.len) != '"') {
        ebuf_append(out, info.p, info.len); /* already a JSON value */
        return;
    }
    ebuf_t text;
    ebuf_init(&text, 0);
    if (ejson_string_decode(info, &text) == 0 && text.len > 0 &&
        ejson_validate(text.data, text.len) == 0)
        ebuf_append(out, text.data, text.len);
    else
        ebuf_append(out, info.p, info.len);
    ebuf_free(&text);
}

int a1111_result_build(const char *body, size_t len, const a1111_result_opts_t *o, ebuf_t *out,
                       size_t *nimages, a1111_error_t *err)
{
    ejson_span_t images = {NULL, 0}, params = {NULL, 0}, info = {NULL, 0};
    ejson_iter_t it;
    ejson_member_t m;
    written_t w = {NULL, 0};
    int has_images = 0, has_params = 0, has_info = 0, r;
    *nimages = 0;
    if (body == NULL || ejson_validate(body, len) != 0) {
        a1111_error_set(err, EMP_RETRY, "bad_response",
                        "A1111 answered 200 with a body that is not JSON");
        return -1;
    }
    if (ejson_object_begin(&it, body, len) != 0) {
        a1111_error_set(err, EMP_RETRY, "bad_response",
                        "A1111 answered 200 with JSON that is not an object");
        return -1;
    }
    /* One pass over the members (the body may be many megabytes); the last duplicate wins. */
    while ((r = ejson_object_next(&it, &m)) == 1) {
        if (ejson_string_equals(m.key, "images")) {
            images = m.value;
            has_images = 1;
        } else if (ejson_string_equals(m.key, "parameters")) {
            params = m.value;
            has_params = ejson_first_char(params.p, params.len) == '{';
        } else if (ejson_string_equals(m.key, "info")) {
            info = m.value;
            has_info = 1;
        }
    }
    if (r < 0 || !has_images ||
        (ejson_first_char(images.p, images.len) != '[' &&
         ejson_first_char(images.p, images.len) != 'n')) {
        a1111_error_set(err, EMP_RETRY, "bad_response", "A1111's answer has no images list");
        return -1;
    }

    ebuf_reset(out);
    ebuf_puts(out, "{");
    if (ejson_first_char(images.p, images.len) == 'n') {
        ebuf_puts(out, o->output == A1111_OUTPUT_FILES ? "\"files\":[]" : "\"images\":[]");
    } else if (o->output == A1111_OUTPUT_FILES) {
        if (put_files(images, o, out, nimages, &w, err) != 0)
            goto fail;
    } else if (put_inline(images, out, nimages, err) != 0) {
        goto fail;
    }
    ebuf_puts(out, ",\"parameters\":");
    if (has_params)
        ebuf_append(out, params.p, params.len);
    else
        ebuf_puts(out, "null");
    put_info(has_info, info, out);
    if (ebuf_puts(out, "}") != 0 || out->failed) {
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
