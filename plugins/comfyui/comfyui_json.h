/*
 * comfyui_json - raw JSON helpers that never re-serialise numbers.
 *
 * Owns: the JSON scanner (find a member's exact byte span inside an object, skip or validate a
 * value) and cfy_buf_t, the growable byte buffer every module uses to build JSON texts, URLs
 * and messages. The scanner is used to splice the user's workflow and the backend's outputs
 * into new texts as raw bytes, so 64-bit integers survive untouched.
 *
 * All scanner functions take untrusted input: they never read past `len`, never recurse deeper
 * than CFY_JSON_MAX_DEPTH and report malformed text with -1.
 */
#ifndef COMFYUI_JSON_H
#define COMFYUI_JSON_H

#include <stddef.h>

#define CFY_JSON_MAX_DEPTH 128

/* A borrowed byte range inside some other buffer. */
typedef struct cfy_span {
    const char *p;
    size_t n;
} cfy_span_t;

/* Advance *pos past one JSON value (leading whitespace skipped). 0 or -1 when malformed. */
int cfy_json_skip_value(const char *s, size_t len, size_t *pos);

/* True (1) when s[0..len) is exactly one JSON value with optional surrounding whitespace. */
int cfy_json_is_valid(const char *s, size_t len);

/* Look up `key` among the members of the object that is the whole of s[0..len) (whitespace
 * allowed around it). Returns 0 and sets *out to the member value's bytes, 1 when the key is
 * absent, -1 when the text is not a well-formed object. The first occurrence wins. */
int cfy_json_member(const char *s, size_t len, const char *key, cfy_span_t *out);

/* The first non-whitespace byte of s, or 0 when there is none. */
char cfy_json_first_char(const char *s, size_t len);

/* Growable buffer. Always NUL-terminated after a successful append. On allocation failure
 * `oom` is set and later appends do nothing: check it once at the end (cfy_buf_ok). */
typedef struct cfy_buf {
    char *p;
    size_t n, cap;
    int oom;
} cfy_buf_t;

void cfy_buf_init(cfy_buf_t *b);
void cfy_buf_free(cfy_buf_t *b);
void cfy_buf_reset(cfy_buf_t *b); /* keep the storage, empty the text */
int cfy_buf_ok(const cfy_buf_t *b);
void cfy_buf_add(cfy_buf_t *b, const void *p, size_t n);
void cfy_buf_str(cfy_buf_t *b, const char *s);
void cfy_buf_printf(cfy_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s (n bytes, or strlen when n == (size_t)-1) as a quoted, escaped JSON string. */
void cfy_buf_json_str(cfy_buf_t *b, const char *s, size_t n);
/* Append s with every byte outside [A-Za-z0-9-._~] percent-encoded (URL query values). */
void cfy_buf_urlencode(cfy_buf_t *b, const char *s);
/* Hand the storage to the caller (who frees it); the buffer is left empty. NULL on oom. */
char *cfy_buf_take(cfy_buf_t *b, size_t *len);

#endif
