/*
 * test_plugin_common.c - plugins/common (emp_plugin_common), the code both service plugins
 * link: the raw JSON scanner (ejson), the byte buffer (ebuf) and the base64 alphabet.
 *
 * The scanner is fed exact-size heap copies wherever it matters, so that the ASan build
 * catches a read past `len` (nothing here relies on a NUL terminator).
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ebase64.h"
#include "ebuf.h"
#include "ejson.h"

/* An exact-size heap copy of s (no NUL after it). */
static char *exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static int validate(const char *s)
{
    size_t n = strlen(s);
    char *p = exact(s, n);
    int r = ejson_validate(p, n);
    free(p);
    return r;
}

static ejson_span_t span_of(const char *s) { return (ejson_span_t){s, strlen(s)}; }

/* ---- validation ---- */

static void test_validate(void **st)
{
    (void)st;
    static const char *good[] = {"{}",
                                 "[]",
                                 "0",
                                 "-0",
                                 "1.5e-3",
                                 "2E+10",
                                 "true",
                                 "false",
                                 "null",
                                 "\"\"",
                                 " [1, -2.5e+3, \"a\\u00e9\\n\", true, false, null] ",
                                 "{\"a\":{\"b\":[{}]}}",
                                 "18446744073709551557",
                                 "\"\\ud83d\\ude00\"",
                                 "\"\\ud800\"", /* a lone surrogate */
                                 "[1, 2.5e-3, -0, \"\\u00e9\", true, false, null, {}]",
                                 "\t\r\n {\"a\" : [ ] }\n",
                                 "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                                 "\"caf\xc3\xa9\"",
                                 "\"\x7f\""};
    static const char *bad[] = {"",
                                " ",
                                "{",
                                "}",
                                "[",
                                "{\"a\"}",
                                "{\"a\":}",
                                "{\"a\":1,}",
                                "[1,]",
                                "[,1]",
                                "{,}",
                                "{\"a\" 1}",
                                "{1:2}",
                                "01",
                                "1.",
                                ".5",
                                "-",
                                "+1",
                                "1e",
                                "1e+",
                                "0x10",
                                "NaN",
                                "Infinity",
                                "tru",
                                "nul",
                                "falsey",
                                "\"\\x\"",
                                "\"a",
                                "\"\\u12\"",
                                "\"\\u12g4\"",
                                "\"\\",
                                "{} x",
                                "[] []",
                                "[\"\x01\"]",
                                "{'a':1}",
                                "[1 2]",
                                "{\"a\":1}}",
                                "[1]]",
                                "{\"a\":\"\\x\"}",
                                "{\"a\":01}",
                                "{\"a\":\"\x01\"}",
                                "{\"a\":tru}",
                                "\"\t\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (validate(good[i]) != 0)
            fail_msg("refused: %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (validate(bad[i]) != -1)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(ejson_validate(NULL, 0), -1);
    /* an embedded NUL is not whitespace */
    assert_int_equal(ejson_validate("1\0", 2), -1);
}

static void test_skip_value(void **st)
{
    (void)st;
    const char *s = "  {\"a\":[1,2]} , 7";
    size_t pos = 0;
    assert_int_equal(ejson_skip_value(s, strlen(s), &pos), 0);
    assert_int_equal(pos, 13); /* just past '}', the whitespace after it is not skipped */
    pos = 15;
    assert_int_equal(ejson_skip_value(s, strlen(s), &pos), 0);
    assert_int_equal(pos, strlen(s));
    pos = strlen(s); /* nothing left */
    assert_int_equal(ejson_skip_value(s, strlen(s), &pos), -1);
    pos = strlen(s) + 1; /* out of range */
    assert_int_equal(ejson_skip_value(s, strlen(s), &pos), -1);
    assert_int_equal(ejson_skip_value(NULL, 0, &pos), -1);
    pos = 0;
    assert_int_equal(ejson_skip_value(s, 5, &pos), -1); /* cut inside the object */
}

/* `n` nested arrays [[[1]]] or objects {"a":{"a":1}} in an exact-size buffer. */
static char *nested(int n, int objects, size_t *len)
{
    const char *open = objects ? "{\"a\":" : "[";
    size_t olen = strlen(open), w = 0;
    char *p = malloc((size_t)n * (olen + 1) + 1);
    assert_non_null(p);
    for (int i = 0; i < n; i++, w += olen)
        memcpy(p + w, open, olen);
    p[w++] = '1';
    for (int i = 0; i < n; i++)
        p[w++] = objects ? '}' : ']';
    *len = w;
    return p;
}

static void test_depth_limit(void **st)
{
    (void)st;
    size_t n;
    for (int objects = 0; objects < 2; objects++) {
        char *ok = nested(EJSON_MAX_DEPTH, objects, &n);
        assert_int_equal(ejson_validate(ok, n), 0);
        free(ok);
        char *deep = nested(EJSON_MAX_DEPTH + 1, objects, &n);
        assert_int_equal(ejson_validate(deep, n), -1);
        /* the iterator counts the container it walks as the first level */
        ejson_iter_t it;
        ejson_member_t m;
        ejson_span_t e;
        if (objects) {
            assert_int_equal(ejson_object_begin(&it, deep, n), 0);
            assert_int_equal(ejson_object_next(&it, &m), -1);
            assert_int_equal(ejson_object_next(&it, &m), -1); /* and stays failed */
            assert_int_equal(ejson_find(deep, n, "a", NULL), -1);
        } else {
            assert_int_equal(ejson_array_begin(&it, deep, n), 0);
            assert_int_equal(ejson_array_next(&it, &e), -1);
        }
        free(deep);
    }
    /* far deeper than the limit: refused, not a stack overflow */
    n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    assert_int_equal(ejson_validate(deep, n), -1);
    memset(deep, '{', n);
    assert_int_equal(ejson_validate(deep, n), -1);
    free(deep);
    char d2[5000];
    memset(d2, '[', 2500);
    memset(d2 + 2500, ']', 2500);
    assert_int_equal(ejson_validate(d2, sizeof d2), -1);
}

static void test_first_char(void **st)
{
    (void)st;
    assert_int_equal(ejson_first_char(" \t\r\n{", 5), '{');
    assert_int_equal(ejson_first_char("  ", 2), '\0');
    assert_int_equal(ejson_first_char("x{", 0), '\0');
    assert_int_equal(ejson_first_char(NULL, 3), '\0');
    assert_int_equal(ejson_first_char("-1", 2), '-');
}

/* ---- member lookup ---- */

static void test_find(void **st)
{
    (void)st;
    const char *t = " {\"a\": 1, \"w\\u006frkflow\": {\"seed\": 18446744073709551615, \"x\": [1, "
                    "{\"y\": \"}\"}]}, \"b\": null } ";
    size_t n = strlen(t);
    char *p = exact(t, n);
    ejson_span_t sp;
    assert_int_equal(ejson_find(p, n, "workflow", &sp), 1); /* an escaped key matches */
    assert_true(sp.p > p && sp.p + sp.len <= p + n);
    assert_true(sp.len > 10 && sp.p[0] == '{' && sp.p[sp.len - 1] == '}');
    assert_non_null(memmem(sp.p, sp.len, "18446744073709551615", 20)); /* raw bytes */
    assert_int_equal(ejson_find(p, n, "nope", &sp), 0);
    assert_int_equal(ejson_find(p, n, "b", &sp), 1);
    assert_int_equal((int)sp.len, 4);
    assert_memory_equal(sp.p, "null", 4);
    assert_int_equal(ejson_find(p, n, "a", NULL), 1); /* value may be NULL */
    assert_int_equal(ejson_find(p, n, "y", NULL), 0); /* members of members are not looked at */
    free(p);

    assert_int_equal(ejson_find("{}", 2, "a", &sp), 0);
    static const char *bad[] = {"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1]", "{\"a\":1} x",
                                "{\"a\":tru}", "{\"a\":\"\\x\"}", "{\"a\":01}", "{\"a\":\"\x01\"}",
                                "\"a\"",
                                /* malformed after the match: still -1 */
                                "{\"a\":1,\"b\":}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bn = strlen(bad[i]);
        char *bp = exact(bad[i], bn);
        if (ejson_find(bp, bn, "a", &sp) != -1)
            fail_msg("not refused: %s", bad[i]);
        free(bp);
    }
    assert_int_equal(ejson_find(NULL, 0, "a", &sp), -1);
}

static void test_find_duplicates(void **st)
{
    (void)st;
    /* Python's json (both backends, our fakes) keeps the last of duplicate keys: so do we */
    const char *t =
        "{\"seed\":1,\"x\":{\"seed\":9},\"s\\u0065ed\":2,\"seed\":18446744073709551615}";
    size_t n = strlen(t);
    char *p = exact(t, n);
    ejson_span_t sp;
    assert_int_equal(ejson_find(p, n, "seed", &sp), 1);
    assert_int_equal(sp.len, 20);
    assert_memory_equal(sp.p, "18446744073709551615", 20);
    free(p);
    /* the last even when it is spelled with an escape */
    const char *t2 = "{\"workflow\":{\"a\":1},\"w\\u006frkflow\":\"{}\"}";
    assert_int_equal(ejson_find(t2, strlen(t2), "workflow", &sp), 1);
    assert_int_equal(ejson_first_char(sp.p, sp.len), '"');
    /* and the same through the iterator: every occurrence is visited, in order */
    ejson_iter_t it;
    ejson_member_t m;
    int seen = 0;
    assert_int_equal(ejson_object_begin(&it, t2, strlen(t2)), 0);
    while (ejson_object_next(&it, &m) == 1)
        seen += ejson_string_equals(m.key, "workflow");
    assert_int_equal(seen, 2);
}

/* ---- iteration ---- */

static void test_object_iter(void **st)
{
    (void)st;
    const char *t = " { \"k\" : [1, 2] ,\"e\\n\":{\"z\":null}, \"n\": -1.5e3 } trailing";
    size_t n = strlen(t);
    char *p = exact(t, n);
    ejson_iter_t it;
    ejson_member_t m;
    assert_int_equal(ejson_object_begin(&it, p, n), 0);
    assert_int_equal(ejson_object_next(&it, &m), 1);
    assert_int_equal(m.key.len, 3);
    assert_memory_equal(m.key.p, "\"k\"", 3);
    assert_int_equal(m.value.len, 6);
    assert_memory_equal(m.value.p, "[1, 2]", 6);
    assert_int_equal(m.member.len, 12);
    assert_memory_equal(m.member.p, "\"k\" : [1, 2]", 12);
    assert_int_equal(ejson_object_next(&it, &m), 1);
    assert_true(ejson_string_equals(m.key, "e\n"));
    assert_memory_equal(m.value.p, "{\"z\":null}", m.value.len);
    assert_int_equal(ejson_object_next(&it, &m), 1);
    assert_memory_equal(m.value.p, "-1.5e3", m.value.len);
    assert_int_equal(ejson_object_next(&it, &m), 0); /* the bytes after '}' are not looked at */
    assert_int_equal(ejson_object_next(&it, &m), 0);
    free(p);

    assert_int_equal(ejson_object_begin(&it, " {  }", 5), 0);
    assert_int_equal(ejson_object_next(&it, &m), 0);
    assert_int_equal(ejson_object_begin(&it, "[1]", 3), -1);
    assert_int_equal(ejson_object_next(&it, &m), -1);
    assert_int_equal(ejson_object_begin(&it, "   ", 3), -1);
    assert_int_equal(ejson_object_begin(&it, NULL, 0), -1);

    static const char *bad[] = {
        "{",          "{\"a\"", "{\"a\":",   "{\"a\":1",          "{\"a\":1,",
        "{\"a\":1,}", "{a:1}",  "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{,\"a\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bn = strlen(bad[i]);
        char *bp = exact(bad[i], bn);
        int r;
        assert_int_equal(ejson_object_begin(&it, bp, bn), 0);
        while ((r = ejson_object_next(&it, &m)) == 1)
            ;
        if (r != -1)
            fail_msg("not refused: %s", bad[i]);
        free(bp);
    }
}

static void test_array_iter(void **st)
{
    (void)st;
    const char *t = "[ \"a\" , {\"b\":[]},3 ,[ ] ]";
    size_t n = strlen(t);
    char *p = exact(t, n);
    static const char *want[] = {"\"a\"", "{\"b\":[]}", "3", "[ ]"};
    ejson_iter_t it;
    ejson_span_t e;
    size_t k = 0;
    assert_int_equal(ejson_array_begin(&it, p, n), 0);
    while (ejson_array_next(&it, &e) == 1) {
        assert_true(k < 4);
        assert_int_equal(e.len, strlen(want[k]));
        assert_memory_equal(e.p, want[k], e.len);
        k++;
    }
    assert_int_equal(k, 4);
    assert_int_equal(ejson_array_next(&it, &e), 0);
    free(p);
    assert_int_equal(ejson_array_begin(&it, "[]", 2), 0);
    assert_int_equal(ejson_array_next(&it, &e), 0);
    assert_int_equal(ejson_array_begin(&it, "{}", 2), -1);
    static const char *bad[] = {"[", "[1", "[1,", "[1,]", "[,1]", "[1 2]", "[tru]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bn = strlen(bad[i]);
        char *bp = exact(bad[i], bn);
        int r;
        assert_int_equal(ejson_array_begin(&it, bp, bn), 0);
        while ((r = ejson_array_next(&it, &e)) == 1)
            ;
        if (r != -1)
            fail_msg("not refused: %s", bad[i]);
        free(bp);
    }
}

/* ---- strings ---- */

static void test_string_decode(void **st)
{
    (void)st;
    ebuf_t b;
    ebuf_init(&b, 0);
    const char *s = "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/\\b\\f\\n\\r\\t\\\\ \\u20AC\"";
    size_t n = strlen(s);
    char *p = exact(s, n);
    assert_int_equal(ejson_string_decode((ejson_span_t){p, n}, &b), 0);
    assert_string_equal(b.data, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" /\b\f\n\r\t\\ \xe2\x82\xac");
    free(p);
    ebuf_reset(&b);
    /* lone surrogates become U+FFFD; \u0000 is a NUL byte */
    assert_int_equal(ejson_string_decode(span_of("\"\\ud800x\\udc00\""), &b), 0);
    assert_string_equal(b.data, "\xef\xbf\xbdx\xef\xbf\xbd");
    ebuf_reset(&b);
    assert_int_equal(ejson_string_decode(span_of("\"a\\u0000b\""), &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    ebuf_reset(&b);
    assert_int_equal(ejson_string_decode(span_of("\"\""), &b), 0);
    assert_int_equal(b.len, 0);
    /* not exactly one string literal */
    static const char *bad[] = {"",       "\"", "\"a",     "a\"",       "\"a\" ",
                                " \"a\"", "1",  "\"\\x\"", "\"\\u00\"", "\"a\"\"b\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ejson_string_decode(span_of(bad[i]), &b), -1);
    assert_int_equal(ejson_string_decode((ejson_span_t){NULL, 0}, &b), -1);
    /* an output that refuses: -1 */
    ebuf_t small;
    ebuf_init(&small, 2);
    assert_int_equal(ejson_string_decode(span_of("\"abc\""), &small), -1);
    assert_true(small.overflow);
    ebuf_free(&small);
    ebuf_free(&b);
}

static void test_string_equals(void **st)
{
    (void)st;
    assert_true(ejson_string_equals(span_of("\"steps\""), "steps"));
    assert_true(ejson_string_equals(span_of("\"st\\u0065ps\""), "steps"));
    assert_true(ejson_string_equals(span_of("\"\\u00e9t\\u00E9\""), "\xc3\xa9t\xc3\xa9"));
    assert_true(ejson_string_equals(span_of("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80"));
    assert_true(ejson_string_equals(span_of("\"\""), ""));
    assert_false(ejson_string_equals(span_of("\"step\""), "steps"));
    assert_false(ejson_string_equals(span_of("\"stepss\""), "steps"));
    assert_false(ejson_string_equals(span_of("\"st\\u0065p\""), "steps"));
    assert_false(ejson_string_equals(span_of("\"st\\u0065pss\""), "steps"));
    assert_false(ejson_string_equals(span_of("\"a\\u0000\""), "a"));
    assert_false(ejson_string_equals(span_of("steps"), "steps")); /* not a literal */
    assert_false(ejson_string_equals(span_of("\"steps"), "steps"));
    assert_false(ejson_string_equals(span_of("\"st\\eps\""), "st\\eps"));
    assert_false(ejson_string_equals((ejson_span_t){NULL, 0}, ""));
}

/* every prefix of every sample, in exact-size buffers: no crash, no read past len */
static void test_truncations(void **st)
{
    (void)st;
    static const char *samples[] = {
        "{\"a\":[1,2.5e-3,{\"b\":\"\\ud83d\\ude00\"}],\"c\":null,\"a\":true}",
        "[\"\\u00e9\", -0.0e+1, false, {\"\":{}}]", "\"\\\"\\\\\\u0041\""};
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        size_t len = strlen(samples[s]);
        for (size_t cut = 0; cut <= len; cut++) {
            char *p = exact(samples[s], cut);
            ejson_span_t sp;
            ejson_iter_t it;
            ejson_member_t m;
            ebuf_t b;
            size_t pos = 0;
            int v = ejson_validate(p, cut);
            assert_int_equal(v, cut == len ? 0 : -1);
            ejson_skip_value(p, cut, &pos);
            ejson_find(p, cut, "a", &sp);
            if (ejson_object_begin(&it, p, cut) == 0)
                while (ejson_object_next(&it, &m) == 1)
                    ejson_string_equals(m.key, "a");
            if (ejson_array_begin(&it, p, cut) == 0)
                while (ejson_array_next(&it, &sp) == 1)
                    ;
            ebuf_init(&b, 0);
            ejson_string_decode((ejson_span_t){p, cut}, &b);
            ebuf_free(&b);
            free(p);
        }
    }
}

/* ---- buffer ---- */

static void test_buf_basics(void **st)
{
    (void)st;
    ebuf_t b;
    ebuf_init(&b, 0);
    assert_null(b.data);
    assert_true(ebuf_ok(&b));
    assert_int_equal(ebuf_append(&b, NULL, 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(ebuf_append(&b, "ab\0c", 4), 0);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.data[4], '\0');
    assert_int_equal(ebuf_puts(&b, NULL), 0);
    assert_int_equal(b.len, 4);
    ebuf_reset(&b);
    assert_int_equal(ebuf_puts(&b, "x="), 0);
    assert_int_equal(ebuf_printf(&b, "%d/%s", 42, "y"), 0);
    assert_string_equal(b.data, "x=42/y");
    /* longer than the stack buffer of ebuf_printf */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ebuf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 6 + 2 + 999);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(strlen(b.data), b.len);
    /* growth well past the first allocation */
    for (int i = 0; i < 5000; i++)
        assert_int_equal(ebuf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 1007 + 50000);
    assert_true(b.cap > b.len);
    ebuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_buf_cap_and_sticky_failure(void **st)
{
    (void)st;
    ebuf_t b;
    ebuf_init(&b, 5);
    assert_int_equal(ebuf_puts(&b, "abcde"), 0);
    assert_int_equal(ebuf_puts(&b, "f"), -1);
    assert_true(b.overflow);
    assert_false(ebuf_ok(&b));
    assert_string_equal(b.data, "abcde");    /* unchanged */
    assert_int_equal(ebuf_puts(&b, ""), -1); /* sticky, even for nothing */
    /* reset empties the text but keeps the refusal: a scratch buffer reused in a loop still
     * reports at the end what went wrong in an earlier round */
    ebuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_false(ebuf_ok(&b));
    assert_true(b.overflow);
    assert_int_equal(ebuf_puts(&b, "a"), -1); /* it would fit, but the buffer has failed */
    assert_int_equal(ebuf_printf(&b, "%d", 1), -1);
    assert_int_equal(ebuf_json_cstr(&b, "a"), -1);
    assert_int_equal(b.len, 0);
    assert_null(ebuf_take(&b, NULL)); /* a refused append: nothing to hand out */
    assert_null(b.data);
    assert_true(ebuf_ok(&b));                       /* take starts over */
    assert_int_equal(b.max, 5);                     /* the cap survives take and free */
    assert_int_equal(ebuf_puts(&b, "abcdefg"), -1); /* too big at once */
    assert_true(b.overflow);
    assert_int_equal(b.len, 0);
    ebuf_free(&b); /* free starts over too */
    assert_int_equal(b.max, 5);
    assert_true(ebuf_ok(&b));
    assert_false(b.overflow);
    assert_int_equal(ebuf_puts(&b, "abc"), 0);
    ebuf_free(&b);
    /* a printf that does not fit the cap */
    ebuf_init(&b, 10);
    assert_int_equal(ebuf_printf(&b, "%s", "0123456789x"), -1);
    assert_true(b.overflow);
    ebuf_free(&b);
}

static void test_buf_take(void **st)
{
    (void)st;
    ebuf_t b;
    size_t len = 99;
    ebuf_init(&b, 0);
    char *s = ebuf_take(&b, &len); /* empty: "" */
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    ebuf_puts(&b, "hello");
    s = ebuf_take(&b, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data); /* the buffer no longer owns it */
    assert_int_equal(b.len, 0);
    free(s);
    ebuf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    ebuf_free(&b);
}

static void test_buf_json_string(void **st)
{
    (void)st;
    ebuf_t b;
    ebuf_init(&b, 0);
    ebuf_json_cstr(&b, "a\"b\\c\n\x01");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    ebuf_reset(&b);
    ebuf_json_string(&b, "\r\t\b\f\x1f\x7f/\xc3\xa9\0z", 11);
    assert_string_equal(b.data, "\"\\r\\t\\u0008\\u000c\\u001f\\u007f/\xc3\xa9\\u0000z\"");
    ebuf_reset(&b);
    ebuf_json_cstr(&b, NULL);
    assert_string_equal(b.data, "\"\"");
    ebuf_reset(&b);
    ebuf_json_string(&b, NULL, 0);
    assert_string_equal(b.data, "\"\"");
    ebuf_reset(&b);
    ebuf_json_cstr(&b, "j\"1\\");
    assert_string_equal(b.data, "\"j\\\"1\\\\\"");
    assert_true(ebuf_ok(&b));
    /* what it writes, the scanner reads back to the same bytes */
    char all[255];
    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1);
    ebuf_reset(&b);
    ebuf_json_string(&b, all, sizeof all);
    assert_int_equal(ejson_validate(b.data, b.len), 0);
    ebuf_t back;
    ebuf_init(&back, 0);
    assert_int_equal(ejson_string_decode((ejson_span_t){b.data, b.len}, &back), 0);
    assert_int_equal(back.len, sizeof all);
    assert_memory_equal(back.data, all, sizeof all);
    ebuf_free(&back);
    ebuf_free(&b);
}

/* ---- base64 alphabet ---- */

static void test_base64_digit(void **st)
{
    (void)st;
    const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++)
        assert_int_equal(ebase64_digit((unsigned char)std[i]), i);
    assert_int_equal(ebase64_digit('-'), 62);
    assert_int_equal(ebase64_digit('_'), 63);
    int valid = 0;
    for (int c = 0; c < 256; c++)
        valid += ebase64_digit((unsigned char)c) >= 0;
    assert_int_equal(valid, 66);
    assert_int_equal(ebase64_digit('='), -1);
    assert_int_equal(ebase64_digit(' '), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_skip_value),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_first_char),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_find_duplicates),
        cmocka_unit_test(test_object_iter),
        cmocka_unit_test(test_array_iter),
        cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_string_equals),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_buf_basics),
        cmocka_unit_test(test_buf_cap_and_sticky_failure),
        cmocka_unit_test(test_buf_take),
        cmocka_unit_test(test_buf_json_string),
        cmocka_unit_test(test_base64_digit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
