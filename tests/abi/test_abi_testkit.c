/*
 * test_abi_testkit.c - the 1.1 test kit runs a plugin built against the 1.0 header, with the
 * current table and with the 1.0 table it can emulate (emp_tk_set_host_abi_minor(tk, 0)).
 * Usage: test_abi_testkit FIXTURE_PLUGIN_DIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "emp_testkit.h"

static const char *g_dir;

static void run_v10(int host_minor)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/abi_v10.so", g_dir);
    emp_tk_t *tk = emp_tk_open(path, err, sizeof err);
    if (tk == NULL)
        fail_msg("%s", err);
    assert_int_equal(emp_tk_plugin(tk)->abi_minor, 0);
    if (host_minor >= 0)
        assert_int_equal(emp_tk_set_host_abi_minor(tk, host_minor), 0);
    emp_tk_set_option(tk, "greeting", "hey");
    assert_int_equal(emp_tk_create(tk), 0);
    assert_int_equal(emp_tk_start(tk), EMP_START_READY);
    assert_string_equal(emp_tk_models(tk), "[\"v10-model\"]");
    emp_tk_set_job_field(tk, "ctx", "{\"a\":[1,2]}");
    assert_int_equal(emp_tk_run(tk, "j1", "abi_v10", "{\"delay_ms\": 1}"), EMP_OK);
    char want[256];
    snprintf(want, sizeof want,
             "{\"plugin_abi\":\"1.0\",\"host_abi\":\"1.%d\",\"host_table_ok\":true,"
             "\"greeting\":\"hey\",\"payload_bytes\":15,\"ctx\":{\"a\":[1,2]},\"job\":\"j1\"}",
             host_minor >= 0 ? host_minor : EMP_PLUGIN_ABI_MINOR);
    assert_string_equal(emp_tk_result(tk), want);
    size_t n = emp_tk_progress_count(tk);
    assert_int_equal(n, 2);
    assert_true(emp_tk_progress_fraction(tk, n - 1) == 1.0);
    /* cancelled mid-sleep */
    emp_tk_cancel_after(tk, 1);
    assert_int_equal(emp_tk_run(tk, "j2", "abi_v10", "{\"delay_ms\": 30000}"), EMP_CANCELLED);
    emp_tk_close(tk);
}

static void t_current_table(void **st)
{
    (void)st;
    run_v10(-1);
}

static void t_v10_table(void **st)
{
    (void)st;
    run_v10(0);
}

static void t_unknown_minor(void **st)
{
    (void)st;
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/abi_v10.so", g_dir);
    emp_tk_t *tk = emp_tk_open(path, err, sizeof err);
    assert_non_null(tk);
    assert_int_equal(emp_tk_set_host_abi_minor(tk, EMP_PLUGIN_ABI_MINOR + 1), -1);
    emp_tk_close(tk);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    g_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_current_table),
        cmocka_unit_test(t_v10_table),
        cmocka_unit_test(t_unknown_minor),
    };
    return cmocka_run_group_tests_name("abi_testkit", tests, NULL, NULL);
}
