/*
 * test_host_limits.c - the host's limits on what a plugin reports (docs/bad-input.md):
 * progress messages are cut to 512 bytes (at a UTF-8 character boundary, so the published
 * JSON stays valid UTF-8), fractions are clamped and never go down, results over
 * jobs.max_result_bytes or not a JSON object are refused, failure messages are bounded.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"
#include "plugin_host.h"

static struct emp_job *new_job(void)
{
    const char *names[] = {"id", "service_required", "payload"};
    const char *values[] = {"job-1", "mock", "{}"};
    struct emp_job *j = emp_job_new(NULL, NULL, names, values, 3);
    j->max_result_bytes = 1024;
    return j;
}

static char *take_msg(struct emp_job *j, double *f)
{
    unsigned long seq = 0;
    char *msg = NULL;
    assert_int_equal(emp_job_take_progress(j, &seq, f, &msg), 1);
    return msg;
}

/* 1 when s is valid UTF-8 */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2
                : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void huge_progress_message_is_cut_to_512(void **st)
{
    (void)st;
    const emp_host_api_t *api = emp_host_api();
    struct emp_job *j = new_job();
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    api->progress(j, 0.5, big);
    double f;
    char *msg = take_msg(j, &f);
    assert_int_equal(strlen(msg), 512);
    assert_true(f == 0.5);
    free(msg);
    free(big);
    emp_job_free(j);
}

static void cut_keeps_utf8_characters_whole(void **st)
{
    (void)st;
    const emp_host_api_t *api = emp_host_api();
    /* 511 ASCII bytes then 'é' (2 bytes) and '€' (3 bytes): byte 512 falls inside 'é' */
    for (int lead = 508; lead <= 511; lead++) {
        struct emp_job *j = new_job();
        char buf[600];
        memset(buf, 'a', (size_t)lead);
        strcpy(buf + lead, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 tail");
        api->progress(j, 0.1, buf);
        double f;
        char *msg = take_msg(j, &f);
        assert_true(strlen(msg) <= 512);
        assert_true(strlen(msg) >= 509);
        assert_true(utf8_ok((const unsigned char *)msg));
        free(msg);
        emp_job_free(j);
    }
}

static void fraction_is_clamped_and_monotonic(void **st)
{
    (void)st;
    const emp_host_api_t *api = emp_host_api();
    struct emp_job *j = new_job();
    double f;
    api->progress(j, 7.0, "over");
    char *m = take_msg(j, &f);
    assert_true(f == 1.0);
    free(m);
    emp_job_free(j);
    j = new_job();
    api->progress(j, 0.6, "a");
    api->progress(j, 0.2, "b");  /* lower: the fraction stays */
    api->progress(j, NAN, "c");  /* ignored entirely */
    api->progress(j, -3.0, "d"); /* clamped to 0, still not lower than 0.6 */
    m = take_msg(j, &f);
    assert_true(f == 0.6);
    assert_string_equal(m, "d");
    free(m);
    emp_job_free(j);
}

static void results_over_the_cap_or_not_objects_are_refused(void **st)
{
    (void)st;
    const emp_host_api_t *api = emp_host_api();
    struct emp_job *j = new_job(); /* cap 1024 */
    char big[2048];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    assert_int_equal(api->set_result(j, big, sizeof big), -1);
    assert_null(j->result);
    assert_int_equal(api->set_result(j, "[1]", 3), -1);
    assert_int_equal(api->set_result(j, "", 0), -1);
    assert_int_equal(api->set_result(j, "   ", 3), -1);
    assert_int_equal(api->set_result(j, " \n{\"a\":1}", 9), 0);
    assert_string_equal(j->result, " \n{\"a\":1}");
    emp_job_free(j);
}

static void failure_message_is_bounded(void **st)
{
    (void)st;
    const emp_host_api_t *api = emp_host_api();
    struct emp_job *j = new_job();
    char *big = malloc(20001);
    memset(big, 'e', 20000);
    big[20000] = '\0';
    assert_int_equal((api->fail)(j, EMP_FAIL, NULL, "%s", big), EMP_FAIL);
    assert_true(strlen(j->fail_message) < 4096);
    assert_string_equal(j->fail_code, "error");
    /* a long message of 3-byte characters is not cut inside one */
    for (int i = 0; i + 3 <= 20000; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3);
    big[19998] = '\0';
    for (int shift = 0; shift < 3; shift++) {
        (api->fail)(j, EMP_RETRY, "x", "%.*s%s", shift, "ab", big);
        assert_true(strlen(j->fail_message) < 4096);
        assert_true(utf8_ok((const unsigned char *)j->fail_message));
    }
    free(big);
    emp_job_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(huge_progress_message_is_cut_to_512),
        cmocka_unit_test(cut_keeps_utf8_characters_whole),
        cmocka_unit_test(fraction_is_clamped_and_monotonic),
        cmocka_unit_test(results_over_the_cap_or_not_objects_are_refused),
        cmocka_unit_test(failure_message_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
