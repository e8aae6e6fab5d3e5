/*
 * ejson.h - a validating scanner over raw JSON text that never converts numbers.
 *
 * Owns nothing: every function reads a caller's buffer and reports byte spans into it (spans
 * are borrowed: valid as long as the caller's text is). It exists because cJSON 1.7 turns every
 * number into a double, which loses 64-bit seeds; with spans the plugins copy the user's and
 * the backend's JSON byte for byte. cJSON stays where numbers do not matter.
 *
 * Every function takes untrusted input and guarantees:
 *  - it never reads outside s[0..len) (or outside the span it is given): no NUL terminator is
 *    needed, and text cut anywhere is simply malformed;
 *  - bounded recursion: a value may nest at most EJSON_MAX_DEPTH arrays/objects (counted from
 *    the value a function is given, which is level 1 when it is a container); deeper text is
 *    malformed, so the stack used is bounded whatever the input;
 *  - RFC 8259 grammar, strictly: no trailing commas, no leading zeros, no single quotes, no
 *    raw control bytes in strings, \u with four hex digits. Not checked: that string bytes are
 *    valid UTF-8, and that \u escapes pair their surrogates (a lone one decodes to U+FFFD).
 *    Anything else is reported with -1.
 *
 * Duplicate object keys: the LAST occurrence wins (ejson_find), as in Python's json module,
 * which both real backends and our fakes use. Note that cJSON's lookups return the FIRST: a
 * caller that reads the same object both ways must pick the last member itself.
 *
 * Part of emp_plugin_common (plugins/common), linked statically into each plugin with hidden
 * visibility. No global state: safe from any thread.
 */
#ifndef EJSON_H
#define EJSON_H

#include <stddef.h>

#include "ebuf.h"

/* Deepest nesting of arrays/objects accepted (128 levels; 129 is malformed). */
#define EJSON_MAX_DEPTH 128

/* A borrowed byte range inside the caller's text. */
typedef struct ejson_span {
    const char *p;
    size_t len;
} ejson_span_t;

/* Skips whitespace and one JSON value from s[*pos]; on success *pos is just past the value
 * (whitespace after it is not skipped). 0, or -1 when malformed (*pos then undefined). */
int ejson_skip_value(const char *s, size_t len, size_t *pos);

/* 0 when the whole of s[0..len) is exactly one JSON value (whitespace around it allowed),
 * else -1. */
int ejson_validate(const char *s, size_t len);

/* The first non-whitespace byte of s[0..len) ('{', '[', '"', 't', 'f', 'n', '-' or a digit
 * for a valid value), or '\0' when there is none. Does not validate. */
char ejson_first_char(const char *s, size_t len);

/* Looks up `key` (compared with the decoded key text, so escaped keys match) among the
 * members of the object that is the whole of s[0..len) (whitespace allowed around it). The
 * LAST member with that key wins. 1 found (*value, if not NULL, set to the member value's
 * bytes, inside s), 0 absent, -1 when s is not exactly one well-formed object. */
int ejson_find(const char *s, size_t len, const char *key, ejson_span_t *value);

/* Iteration over the members of an object or the elements of an array, one pass, without
 * allocating. Each element is validated as it is reached; the bytes after the closing bracket
 * are not looked at (call ejson_validate first when they matter). The iterator borrows s. */
typedef struct ejson_iter {
    const char *s;
    size_t len;
    size_t pos;
    int started;
    int done; /* 1 after the closing bracket, -1 after malformed text */
} ejson_iter_t;

typedef struct ejson_member {
    ejson_span_t key;    /* the key's string literal, quotes included */
    ejson_span_t value;  /* the value's text */
    ejson_span_t member; /* from the key's opening quote to the value's last byte */
} ejson_member_t;

/* Starts on s[0..len), whose first non-whitespace byte must be '{'. 0, or -1 when it is not. */
int ejson_object_begin(ejson_iter_t *it, const char *s, size_t len);
/* 1 and *m filled; 0 after the closing brace; -1 on malformed text (and on every later call). */
int ejson_object_next(ejson_iter_t *it, ejson_member_t *m);
/* Starts on s[0..len), whose first non-whitespace byte must be '['. 0, or -1 when it is not. */
int ejson_array_begin(ejson_iter_t *it, const char *s, size_t len);
/* 1 and *elem filled; 0 after the closing bracket; -1 on malformed text (and later calls). */
int ejson_array_next(ejson_iter_t *it, ejson_span_t *elem);

/* Appends the decoded (UTF-8) content of the string literal `str` (exactly a literal, quotes
 * included) to out, which the caller owns. 0, or -1 when str is not a string literal or out
 * refused an append. */
int ejson_string_decode(ejson_span_t str, ebuf_t *out);
/* 1 when the string literal `str` decodes to exactly the C string `name`, else 0 (also when
 * str is not a string literal). Does not allocate. */
int ejson_string_equals(ejson_span_t str, const char *name);

#endif
