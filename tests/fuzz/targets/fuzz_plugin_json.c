/* fuzz_plugin_json: the raw JSON scanner and buffer both service plugins share (plugins/common:
 * ejson, ebuf) on any bytes, in an exact-size copy (no NUL after it: ASan sees a read past
 * len). Invariants: validation agrees with skip_value; every member/element span lies inside
 * the text, in order, and is valid JSON itself; every key decodes; ejson_find returns the LAST
 * member with a key; a string written by ebuf_json_string validates and decodes back to the
 * same bytes. */
#include "ebuf.h"
#include "ejson.h"
#include "fuzz_common.h"

#define FZ_MAX_LOOKUPS 16

static int inside(ejson_span_t sp, const char *s, size_t len)
{
    return sp.p >= s && sp.len <= len && (size_t)(sp.p - s) <= len - sp.len;
}

static void check_object(const char *s, size_t len)
{
    ejson_iter_t it;
    ejson_member_t m;
    ebuf_t key;
    const char *prev = s;
    int r, n = 0;
    FZ_CHECK(ejson_object_begin(&it, s, len) == 0);
    ebuf_init(&key, 0);
    while ((r = ejson_object_next(&it, &m)) == 1) {
        FZ_CHECK(inside(m.member, s, len) && inside(m.key, s, len) && inside(m.value, s, len));
        FZ_CHECK(m.member.p >= prev && m.key.p == m.member.p);
        FZ_CHECK(m.value.p + m.value.len == m.member.p + m.member.len);
        FZ_CHECK(ejson_validate(m.value.p, m.value.len) == 0);
        prev = m.member.p + m.member.len;
        ebuf_reset(&key);
        FZ_CHECK(ejson_string_decode(m.key, &key) == 0);
        if (n++ >= FZ_MAX_LOOKUPS || memchr(key.data, '\0', key.len) != NULL)
            continue;
        FZ_CHECK(ejson_string_equals(m.key, key.data));
        /* the last member with this key: at or after this one */
        ejson_span_t v;
        FZ_CHECK(ejson_find(s, len, key.data, &v) == 1);
        FZ_CHECK(inside(v, s, len) && v.p >= m.value.p);
    }
    FZ_CHECK(r == 0);
    ebuf_free(&key);
}

static void check_array(const char *s, size_t len)
{
    ejson_iter_t it;
    ejson_span_t e;
    const char *prev = s;
    int r;
    FZ_CHECK(ejson_array_begin(&it, s, len) == 0);
    while ((r = ejson_array_next(&it, &e)) == 1) {
        FZ_CHECK(inside(e, s, len) && e.p >= prev);
        FZ_CHECK(ejson_validate(e.p, e.len) == 0);
        prev = e.p + e.len;
    }
    FZ_CHECK(r == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        abort();
    if (size)
        memcpy(s, data, size);

    int valid = ejson_validate(s, size) == 0;
    size_t pos = 0;
    int skipped = ejson_skip_value(s, size, &pos) == 0;
    FZ_CHECK(!valid || skipped);
    if (skipped)
        FZ_CHECK(pos <= size);
    char first = ejson_first_char(s, size);
    if (valid && first == '{')
        check_object(s, size);
    else if (valid && first == '[')
        check_array(s, size);
    else if (first != '{')
        FZ_CHECK(ejson_find(s, size, "a", NULL) == -1);

    /* the loose pieces on the same bytes: iterators stop at malformed text, never crash */
    ejson_iter_t it;
    ejson_member_t m;
    ejson_span_t e;
    if (ejson_object_begin(&it, s, size) == 0)
        while (ejson_object_next(&it, &m) == 1)
            ejson_string_equals(m.key, "workflow");
    if (ejson_array_begin(&it, s, size) == 0)
        while (ejson_array_next(&it, &e) == 1)
            ;

    /* written as a JSON string, any bytes read back unchanged */
    ebuf_t lit, back;
    ebuf_init(&lit, 0);
    ebuf_init(&back, 0);
    FZ_CHECK(ebuf_json_string(&lit, s, size) == 0);
    FZ_CHECK(ejson_validate(lit.data, lit.len) == 0);
    FZ_CHECK(ejson_string_decode((ejson_span_t){lit.data, lit.len}, &back) == 0);
    FZ_CHECK(back.len == size && (size == 0 || memcmp(back.data, s, size) == 0));
    ebuf_free(&lit);
    ebuf_free(&back);
    free(s);
    return 0;
}
