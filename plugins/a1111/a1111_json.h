/*
 * a1111_json.h - a validating scanner over raw JSON text that never converts numbers.
 *
 * Owns nothing: every function reads a caller's buffer and reports byte spans into it. It
 * exists because cJSON 1.7 turns every number into a double, which loses 64-bit seeds; with
 * spans the plugin copies the user's and the backend's JSON byte for byte. cJSON is still used
 * where numbers do not matter (error bodies, progress).
 *
 * All functions take untrusted input: they bound nesting depth (A1111_JSON_MAX_DEPTH), never
 * read past `len`, and return -1 on anything that is not RFC 8259 JSON.
 */
#ifndef A1111_JSON_H
#define A1111_JSON_H

#include <stddef.h>

#include "a1111_buf.h"

#define A1111_JSON_MAX_DEPTH 200

typedef struct a1111_span {
    size_t off;
    size_t len;
} a1111_span_t;

/* Skips whitespace and one JSON value from *pos; on success *pos is just past it. 0 / -1. */
int a1111_json_skip_value(const char *s, size_t len, size_t *pos);
/* 0 when the whole of s[0..len) is exactly one JSON value (whitespace around it allowed). */
int a1111_json_validate(const char *s, size_t len);
/* The first byte of the value at `v` ('{', '[', '"', 't', 'f', 'n' or a number's first). */
char a1111_json_kind(const char *s, a1111_span_t v);

/* Iterates the members of a JSON object (the text must start, after whitespace, with '{'). */
typedef struct a1111_json_iter {
    const char *s;
    size_t len;
    size_t pos;
    int started;
    int done;
} a1111_json_iter_t;

typedef struct a1111_json_member {
    a1111_span_t key;    /* the key's string literal, quotes included */
    a1111_span_t value;  /* the value's text */
    a1111_span_t member; /* from the key's opening quote to the value's last byte */
} a1111_json_member_t;

/* Starts at the value span `obj` of s. 0, or -1 when it is not an object. */
int a1111_json_iter_init(a1111_json_iter_t *it, const char *s, a1111_span_t obj);
/* 1 and *m filled; 0 at the closing brace; -1 on malformed text. */
int a1111_json_iter_next(a1111_json_iter_t *it, a1111_json_member_t *m);
/* Finds the last member named `key` in the object `obj` (JSON parsers keep the last of
 * duplicates). 1 found, 0 absent, -1 malformed. */
int a1111_json_find(const char *s, a1111_span_t obj, const char *key, a1111_span_t *value);

/* Iterates the elements of a JSON array. */
int a1111_json_array_init(a1111_json_iter_t *it, const char *s, a1111_span_t arr);
/* 1 and *elem filled; 0 at the closing bracket; -1 on malformed text. */
int a1111_json_array_next(a1111_json_iter_t *it, a1111_span_t *elem);

/* Appends the decoded (UTF-8) content of the string literal at `str` to out. 0 / -1. */
int a1111_json_string_decode(const char *s, a1111_span_t str, a1111_buf_t *out);
/* 1 when the string literal at `str` decodes to exactly `name`, else 0. */
int a1111_json_string_equals(const char *s, a1111_span_t str, const char *name);

#endif
