/*
 * test_abi_load.c - an ABI 1.0 plugin in the current (1.1) host, in-process:
 *  - layout: every ABI 1.0 member of emp_host_api_t and emp_plugin_t has the offset and size it
 *    had in the 1.0 header (fixtures/emp_plugin_v1_0.h): 1.1 only appended; EMP_PLUGIN_MIN_SIZE
 *    is still the 1.0 descriptor size; codes and the entry symbol are unchanged;
 *  - abi_v10.so (built against the 1.0 header) loads with emp_plugin_load, creates with
 *    options, starts, runs jobs (payload, job field, progress, result, cancellation), stops;
 *  - abi_next.so (minor + 1) and abi_v2.so (major 2) are refused with the loader's messages:
 *    the words are the ones tests/loader/broken_cases.h pins (newminor, abi2sym); this file
 *    reuses that table rather than restating them.
 * Usage: test_abi_load FIXTURE_PLUGIN_DIR
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../loader/broken_cases.h"
#include "abi_layout.h"
#include "errlist.h"
#include "job.h"
#include "plugin_host.h"

extern const size_t abi_cur_host_api_v1_0_size;
static const char *g_src_dir;
static char g_dir[64];

static void copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        fail_msg("cannot open %s (was it built?)", src);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(dst, 0644), 0);
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/emp-abi-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    assert_int_equal(chmod(g_dir, 0755), 0);
    static const char *const names[] = {"abi_v10", "abi_next", "abi_v2"};
    for (size_t i = 0; i < 3; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/%s.so", g_src_dir, names[i]);
        snprintf(dst, sizeof dst, "%s/%s.so", g_dir, names[i]);
        copy_file(src, dst);
    }
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    static const char *const names[] = {"abi_v10", "abi_next", "abi_v2"};
    for (size_t i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s.so", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

static void t_layout(void **st)
{
    (void)st;
    const abi_layout_t *old = &abi_layout_v1_0, *cur = &abi_layout_cur;
    assert_int_equal(old->abi_major, cur->abi_major);
    assert_int_equal(old->abi_minor, 0);
    assert_true(cur->abi_minor >= 1);
    assert_string_equal(old->entry_symbol, cur->entry_symbol);
    for (size_t i = 0; old->host[i].name; i++) {
        assert_string_equal(old->host[i].name, cur->host[i].name);
        if (old->host[i].offset != cur->host[i].offset || old->host[i].size != cur->host[i].size)
            fail_msg("emp_host_api_t.%s moved: 1.0 offset %zu size %zu, now %zu/%zu",
                     old->host[i].name, old->host[i].offset, old->host[i].size,
                     cur->host[i].offset, cur->host[i].size);
    }
    for (size_t i = 0; old->plugin[i].name; i++)
        if (old->plugin[i].offset != cur->plugin[i].offset ||
            old->plugin[i].size != cur->plugin[i].size)
            fail_msg("emp_plugin_t.%s moved", old->plugin[i].name);
    /* appended, never shrunk; the minimum descriptor is still the 1.0 one */
    assert_true(cur->host_api_size > old->host_api_size);
    assert_true(cur->plugin_size >= old->plugin_size);
    assert_int_equal(old->plugin_min_size, old->plugin_size);
    assert_int_equal(cur->plugin_min_size, old->plugin_size);
    assert_int_equal(abi_cur_host_api_v1_0_size, old->host_api_size);
    assert_memory_equal(old->result_codes, cur->result_codes, sizeof old->result_codes);
    assert_memory_equal(old->start_codes, cur->start_codes, sizeof old->start_codes);
    assert_memory_equal(old->log_levels, cur->log_levels, sizeof old->log_levels);
    /* the host hands every plugin the full current table */
    assert_int_equal(emp_host_api()->struct_size, cur->host_api_size);
    assert_int_equal(emp_host_api()->abi_minor, cur->abi_minor);
}

static struct emp_job *new_job(const char *id, const char *payload, const char *ctx)
{
    const char *names[] = {"payload", "ctx"};
    const char *values[] = {payload, ctx};
    return emp_job_new(id, "abi_v10", names, values, ctx ? 2 : 1);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void t_v10_runs(void **st)
{
    (void)st;
    char err[2048];
    emp_plugin_inst_t *inst = emp_plugin_load(g_dir, "abi_v10", err, sizeof err);
    if (inst == NULL)
        fail_msg("the 1.0 plugin is refused: %s", err);
    assert_int_equal(inst->desc->abi_major, 1);
    assert_int_equal(inst->desc->abi_minor, 0);
    assert_int_equal(inst->desc->struct_size, abi_layout_v1_0.plugin_size);

    static char key[] = "greeting", value[] = "hi", source[] = "--option greeting";
    emp_option_override_t opt = {.key = key, .value = value, .source = source};
    inst->cli_opts = &opt;
    inst->ncli_opts = 1;
    emp_errlist_t e = {0};
    int rc = emp_plugin_create(inst, &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "%s\n", e.msgs[i]);
    emp_errlist_free(&e);
    assert_int_equal(rc, 0);
    inst->started = 1;
    assert_int_equal(inst->desc->start(inst->state), EMP_START_READY);
    assert_string_equal(inst->models_json, "[\"v10-model\"]");

    struct emp_job *job = new_job("j-v10", "{\"delay_ms\": 5}", "{\"k\":1}");
    job->inst = inst;
    assert_int_equal(inst->desc->run(inst->state, job), EMP_OK);
    assert_non_null(job->result);
    char want[256];
    snprintf(want, sizeof want,
             "{\"plugin_abi\":\"1.0\",\"host_abi\":\"1.%d\",\"host_table_ok\":true,"
             "\"greeting\":\"hi\",\"payload_bytes\":15,\"ctx\":{\"k\":1},\"job\":\"j-v10\"}",
             EMP_PLUGIN_ABI_MINOR);
    assert_string_equal(job->result, want);
    assert_true(job->progress == 1.0);
    assert_string_equal(job->progress_msg, "v1.0 plugin done");
    emp_job_free(job);

    /* cancellation reaches a 1.0 plugin through the same flag and fd */
    job = new_job("j-v10-cancel", "{\"delay_ms\": 30000}", NULL);
    emp_job_cancel(job, EMP_CANCEL_USER);
    long long t0 = now_ms();
    assert_int_equal(inst->desc->run(inst->state, job), EMP_CANCELLED);
    assert_true(now_ms() - t0 < 5000);
    assert_string_equal(job->fail_code, "cancelled");
    emp_job_free(job);

    inst->desc->stop(inst->state);
    emp_plugin_unload(inst);
}

static void t_refused(void **st)
{
    (void)st;
    static const struct {
        const char *file, *case_name; /* our fixture, and its tests/loader twin */
    } refused[] = {{"abi_next", "newminor"}, {"abi_v2", "abi2sym"}};
    for (size_t i = 0; i < 2; i++) {
        char err[2048], path[512], want[2048];
        assert_null(emp_plugin_load(g_dir, refused[i].file, err, sizeof err));
        snprintf(path, sizeof path, "%s/%s.so", g_dir, refused[i].file);
        assert_int_equal(broken_expected(refused[i].case_name, path, want, sizeof want), 1);
        assert_string_equal(err, want);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    g_src_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_layout),
        cmocka_unit_test(t_v10_runs),
        cmocka_unit_test(t_refused),
    };
    return cmocka_run_group_tests_name("abi_load", tests, setup, teardown);
}
