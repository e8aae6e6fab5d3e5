/*
 * test_testkit_refuses.c - the SDK test kit (plugin-sdk/testkit, linked alone: no core code)
 * refuses the same broken plugin files as the host, with the same messages (broken_cases.h
 * holds the expected texts both tests use). The checks only the host makes (file name,
 * permissions, ownership) are not the kit's: it opens a path, as a plugin's own tests do.
 *
 * Usage: test_testkit_refuses BROKEN_DIR PLUGIN_BUILD_DIR
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broken_cases.h"
#include "emp_testkit.h"

static const char *g_broken_dir;
static const char *g_plugin_dir;

static void test_refuses_broken(void **state)
{
    (void)state;
    int n = 0;
    for (size_t i = 0; broken_cases[i].name; i++, n++) {
        const char *name = broken_cases[i].name;
        char path[512], err[2048], want[2048];
        snprintf(path, sizeof path, "%s/%s.so", g_broken_dir, name);
        memset(err, 0, sizeof err);
        emp_tk_t *tk = emp_tk_open(path, err, sizeof err);
        if (tk != NULL)
            fail_msg("the test kit accepted %s", path);
        if (broken_expected(name, path, want, sizeof want)) {
            if (strcmp(err, want) != 0)
                fail_msg("%s:\n  got  %s\n  want %s", name, err, want);
        } else if (strncmp(err, want, strlen(want)) != 0 || !broken_unresolved_ok(err, path)) {
            fail_msg("%s: unexpected message: %s", name, err);
        }
        if (strstr(err, broken_cases[i].phrase) == NULL)
            fail_msg("\"%s\" lacks \"%s\"", err, broken_cases[i].phrase);
    }
    assert_int_equal(n, 11);
}

static void test_accepts_mock(void **state)
{
    (void)state;
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/mock.so", g_plugin_dir);
    emp_tk_t *tk = emp_tk_open(path, err, sizeof err);
    if (tk == NULL)
        fail_msg("mock refused: %s", err);
    assert_string_equal(emp_tk_plugin(tk)->name, "mock");
    assert_int_equal(emp_tk_create(tk), 0);
    assert_int_equal(emp_tk_run(tk, "j1", "mock", "{\"delay_ms\": 0}"), EMP_OK);
    assert_non_null(strstr(emp_tk_result(tk), "\"mock_url\":\"mock://j1\""));
    emp_tk_close(tk);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s BROKEN_DIR PLUGIN_BUILD_DIR\n", argv[0]);
        return 2;
    }
    g_broken_dir = argv[1];
    g_plugin_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_broken),
        cmocka_unit_test(test_accepts_mock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
