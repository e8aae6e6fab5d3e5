/*
 * test_host_options.c - the option half of the host API (core/host_api.c) as a plugin sees it:
 * typed lookups with defaults, type and range errors citing file:line of the libconfig setting,
 * the precedence --option > environment override > the GPU's services.<plugin> group > the
 * conf.d options group, unknown options, option_error, and the context calls.
 *
 * The plugin is an in-test descriptor (emp_plugin_from_descriptor) whose create runs the
 * test's body; its configuration comes from emp_config_load on files written by the test, so
 * every setting has a real file and line.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "host_fixture.h"
#include "plugin_host.h"

/* ---- the in-test plugin: create runs g_body ---- */

typedef int (*body_fn)(const emp_host_api_t *api, emp_host_t *host);
static body_fn g_body;
static const emp_host_api_t *g_api;
static emp_host_t *g_host;

static int tp_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    g_api = api;
    g_host = host;
    *state_out = NULL;
    return g_body ? g_body(api, host) : 0;
}
static emp_result_t tp_run(void *state, emp_job_t *job) { return EMP_OK; }
static void tp_destroy(void *state) {}

static const emp_plugin_t tplug = {
    EMP_PLUGIN_HEADER, .name = "tplug", .version = "0", .create = tp_create, .run = tp_run,
    .destroy = tp_destroy,
};
static const emp_plugin_t tcomfy = {
    EMP_PLUGIN_HEADER, .name = "comfyui", .version = "0", .create = tp_create, .run = tp_run,
    .destroy = tp_destroy,
};

/* ---- fixture ---- */

typedef struct fx {
    char dir[128];
    char main[256];
    char confd[256]; /* the plugin's conf.d file */
    emp_config_t cfg;
    emp_errlist_t e;  /* create's errors */
    emp_errlist_t ce; /* config errors */
    emp_plugin_inst_t *inst;
    int loaded;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    if (f == NULL || hf_mkdtemp(f->dir, sizeof f->dir, "hostopt") != 0)
        return -1;
    snprintf(f->main, sizeof f->main, "%s/worker.conf", f->dir);
    hf_clear_env();
    g_body = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    emp_plugin_unload(f->inst);
    if (f->loaded)
        emp_config_free(&f->cfg);
    emp_errlist_free(&f->e);
    emp_errlist_free(&f->ce);
    int rc = hf_rmtree(f->dir);
    free(f);
    hf_clear_env();
    return rc;
}

/* Writes the main file and conf.d/<plugin>.conf, loads them for `gpu`, and makes an instance
 * of `desc` configured from the connector. */
static void configure(fx_t *f, const emp_plugin_t *desc, const char *main_text,
                      const char *confd_text, int gpu)
{
    char rel[128];
    snprintf(rel, sizeof rel, "conf.d/%s.conf", desc->name);
    snprintf(f->confd, sizeof f->confd, "%s/%s", f->dir, rel);
    assert_int_equal(hf_write(f->dir, "worker.conf", main_text), 0);
    assert_int_equal(hf_write(f->dir, rel, confd_text), 0);
    int rc = emp_config_load(&f->cfg, f->main, gpu, &f->ce);
    f->loaded = 1;
    for (size_t i = 0; i < f->ce.n; i++)
        print_message("  config error: %s\n", f->ce.msgs[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(f->cfg.nconnectors, 1);
    f->inst = emp_plugin_from_descriptor(desc);
    assert_non_null(f->inst);
    f->inst->cfg = &f->cfg.connectors[0];
    f->inst->worker_id = f->cfg.worker_id;
    f->inst->gpu = f->cfg.gpu;
}

static int create(fx_t *f, body_fn body)
{
    g_body = body;
    int rc = emp_plugin_create(f->inst, &f->e);
    for (size_t i = 0; i < f->e.n; i++)
        print_message("  create error: %s\n", f->e.msgs[i]);
    return rc;
}

/* "<confd>:<line>: <rest>" */
static void assert_msg_at(const char *got, const char *file, int line, const char *rest)
{
    char want[1024];
    if (line > 0)
        snprintf(want, sizeof want, "%s:%d: %s", file, line, rest);
    else
        snprintf(want, sizeof want, "%s: %s", file, rest);
    assert_string_equal(got, want);
}

/* ---- the API table itself ---- */

static void test_api_table(void **state)
{
    const emp_host_api_t *api = emp_host_api();
    assert_int_equal(api->struct_size, sizeof(emp_host_api_t));
    assert_int_equal(api->abi_major, EMP_PLUGIN_ABI_MAJOR);
    assert_int_equal(api->abi_minor, EMP_PLUGIN_ABI_MINOR);
    assert_true(EMP_HOST_HAS(api, log) && EMP_HOST_HAS(api, option_string) &&
                EMP_HOST_HAS(api, option_int) && EMP_HOST_HAS(api, option_double) &&
                EMP_HOST_HAS(api, option_bool) && EMP_HOST_HAS(api, option_enum) &&
                EMP_HOST_HAS(api, option_error) && EMP_HOST_HAS(api, worker_id) &&
                EMP_HOST_HAS(api, gpu_index) && EMP_HOST_HAS(api, set_models) &&
                EMP_HOST_HAS(api, job_id) && EMP_HOST_HAS(api, job_service) &&
                EMP_HOST_HAS(api, job_payload) && EMP_HOST_HAS(api, job_field) &&
                EMP_HOST_HAS(api, progress) && EMP_HOST_HAS(api, set_result) &&
                EMP_HOST_HAS(api, fail) && EMP_HOST_HAS(api, cancelled) &&
                EMP_HOST_HAS(api, cancel_fd) && EMP_HOST_HAS(api, sleep_ms));
}

/* ---- typed lookups ---- */

static const char *g_s;
static long long g_i;
static double g_d;
static int g_b, g_enum, g_rc[16];

static const char *const modes[] = {"fast", "balanced", "quality", NULL};

static int body_all_types(const emp_host_api_t *api, emp_host_t *host)
{
    int k = 0;
    g_rc[k++] = api->option_string(host, "s", "def", &g_s);
    g_rc[k++] = api->option_int(host, "i", 0, -100, 100, &g_i);
    g_rc[k++] = api->option_double(host, "d", 0, 0, 10, &g_d);
    g_rc[k++] = api->option_bool(host, "b", 0, &g_b);
    g_rc[k++] = api->option_enum(host, "mode", modes, 0, &g_enum);
    return 0;
}

static void test_found_values(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "connector = {\n  plugin = \"tplug\";\n  options = {\n    s = \"hello\";\n"
              "    i = -42;\n    d = 2.5;\n    b = true;\n    mode = \"quality\";\n  };\n};\n",
              -1);
    assert_int_equal(create(f, body_all_types), 0);
    for (int k = 0; k < 5; k++)
        assert_int_equal(g_rc[k], 0);
    assert_string_equal(g_s, "hello");
    assert_int_equal(g_i, -42);
    assert_true(g_d == 2.5);
    assert_int_equal(g_b, 1);
    assert_int_equal(g_enum, 2);
    assert_int_equal(f->e.n, 0);
    assert_int_equal(f->inst->created, 1);
}

static void test_integer_accepted_as_double(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "connector = { plugin = \"tplug\"; options = { d = 3; }; };\n", -1);
    assert_int_equal(create(f, body_all_types), 0);
    assert_true(g_d == 3.0);
}

static void test_defaults(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n", "connector = { plugin = \"tplug\"; };\n", -1);
    assert_int_equal(create(f, body_all_types), 0);
    for (int k = 0; k < 5; k++)
        assert_int_equal(g_rc[k], 1);
    assert_string_equal(g_s, "def");
    assert_int_equal(g_i, 0);
    assert_true(g_d == 0);
    assert_int_equal(g_b, 0);
    assert_int_equal(g_enum, 0);
    assert_int_equal(f->e.n, 0);
}

static void test_type_errors(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "connector = {\n  plugin = \"tplug\";\n  options = {\n"
              "    s = 5;\n"           /* line 4 */
              "    i = 1.5;\n"         /* 5 */
              "    d = \"x\";\n"       /* 6 */
              "    b = 1;\n"           /* 7 */
              "    mode = \"turbo\";\n" /* 8 */
              "  };\n};\n",
              -1);
    assert_int_not_equal(create(f, body_all_types), 0);
    for (int k = 0; k < 5; k++)
        assert_int_equal(g_rc[k], -1);
    /* defaults are still set on error */
    assert_string_equal(g_s, "def");
    assert_int_equal(g_i, 0);
    assert_int_equal(f->e.n, 5);
    assert_msg_at(f->e.msgs[0], f->confd, 4, "'tplug' option 's': expected a string");
    assert_msg_at(f->e.msgs[1], f->confd, 5, "'tplug' option 'i': expected an integer");
    assert_msg_at(f->e.msgs[2], f->confd, 6, "'tplug' option 'd': expected a number");
    assert_msg_at(f->e.msgs[3], f->confd, 7,
                  "'tplug' option 'b': expected a boolean (true or false)");
    assert_msg_at(f->e.msgs[4], f->confd, 8,
                  "'tplug' option 'mode': expected one of \"fast\", \"balanced\", \"quality\"");
}

static int body_big_int(const emp_host_api_t *api, emp_host_t *host)
{
    g_rc[0] = api->option_int(host, "big", 0, 0, LLONG_MAX, &g_i);
    return 0;
}

/* 64-bit option values keep every digit (no detour through double) */
static void test_big_int_exact(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "connector = {\n  plugin = \"tplug\";\n  options = {\n"
              "    big = 9007199254740993L;\n  };\n};\n",
              -1);
    assert_int_equal(create(f, body_big_int), 0);
    assert_int_equal(g_rc[0], 0);
    assert_true(g_i == 9007199254740993LL);
}

static void test_range_errors(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "connector = {\n  plugin = \"tplug\";\n  options = {\n"
              "    i = 101;\n    d = -0.5;\n  };\n};\n",
              -1);
    assert_int_not_equal(create(f, body_all_types), 0);
    assert_int_equal(g_rc[1], -1);
    assert_int_equal(g_rc[2], -1);
    assert_int_equal(f->e.n, 2);
    assert_msg_at(f->e.msgs[0], f->confd, 4,
                  "'tplug' option 'i': value 101 is out of range [-100, 100]");
    assert_msg_at(f->e.msgs[1], f->confd, 5, "'tplug' option 'd': value -0.5 is out of range [0, 10]");
    assert_int_equal(f->inst->created, 1); /* body returned 0: errors alone fail create */
}

/* ---- precedence: --option > environment > GPU services group > conf.d options ---- */

static long long g_port, g_retries;
static const char *g_hostname;

static int body_comfy(const emp_host_api_t *api, emp_host_t *host)
{
    g_rc[0] = api->option_int(host, "port", 1, 1, 65535, &g_port);
    g_rc[1] = api->option_string(host, "host", "localhost", &g_hostname);
    g_rc[2] = api->option_int(host, "retries", 0, 0, 10, &g_retries);
    return 0;
}

static const char COMFY_MAIN[] =
    "gpus = (\n"
    "  { index = 0; services = { comfyui = { port = 8188; }; }; },\n"
    "  { index = 1;\n"
    "    services = { comfyui = { port = 8189; host = \"gpuhost\"; enabled = true; }; }; }\n"
    ");\n";
static const char COMFY_CONFD[] =
    "connector = {\n  plugin = \"comfyui\";\n"
    "  options = { port = 7188; host = \"confhost\"; retries = 3; };\n};\n";

static void test_precedence(void **state)
{
    fx_t *f = *state;
    setenv("WORKER_COMFYUI_PORT", "9001", 1);
    configure(f, &tcomfy, COMFY_MAIN, COMFY_CONFD, 1);
    emp_option_override_t cli[] = {{"port", "7001", "--option port"}};
    f->inst->cli_opts = cli;
    f->inst->ncli_opts = 1;
    assert_int_equal(create(f, body_comfy), 0);
    assert_int_equal(g_port, 7001);                /* --option */
    assert_string_equal(g_hostname, "gpuhost");    /* GPU group over conf.d */
    assert_int_equal(g_retries, 3);                /* conf.d only */
    /* `enabled` in the GPU group is the host's, not an unknown option */
    assert_int_equal(f->e.n, 0);
}

static void test_precedence_env(void **state)
{
    fx_t *f = *state;
    setenv("WORKER_COMFYUI_PORT", "9001", 1);
    configure(f, &tcomfy, COMFY_MAIN, COMFY_CONFD, 1);
    assert_int_equal(create(f, body_comfy), 0);
    assert_int_equal(g_port, 9001);
}

static void test_precedence_gpu_group(void **state)
{
    fx_t *f = *state;
    configure(f, &tcomfy, COMFY_MAIN, COMFY_CONFD, 1);
    assert_int_equal(create(f, body_comfy), 0);
    assert_int_equal(g_port, 8189);
}

static void test_precedence_base_port(void **state)
{
    fx_t *f = *state;
    setenv("WORKER_BASE_COMFYUI_PORT", "9100", 1);
    configure(f, &tcomfy, COMFY_MAIN, COMFY_CONFD, 1);
    assert_int_equal(create(f, body_comfy), 0);
    assert_int_equal(g_port, 9101);
}

static void test_override_errors_cite_source(void **state)
{
    fx_t *f = *state;
    setenv("WORKER_COMFYUI_PORT", "http", 1);
    configure(f, &tcomfy, COMFY_MAIN, COMFY_CONFD, 0);
    assert_int_not_equal(create(f, body_comfy), 0);
    assert_int_equal(f->e.n, 1);
    assert_string_equal(f->e.msgs[0],
                        "environment variable WORKER_COMFYUI_PORT: 'comfyui' option 'port': "
                        "expected an integer, got \"http\"");

    /* a GPU group value is cited at its line in the main file */
    emp_plugin_unload(f->inst);
    f->inst = NULL;
    emp_config_free(&f->cfg);
    f->loaded = 0;
    emp_errlist_free(&f->e);
    unsetenv("WORKER_COMFYUI_PORT");
    configure(f, &tcomfy,
              "gpus = (\n  { index = 0;\n    services = {\n      comfyui = { port = 70000; };\n"
              "    };\n  }\n);\n",
              COMFY_CONFD, 0);
    assert_int_not_equal(create(f, body_comfy), 0);
    assert_int_equal(f->e.n, 1);
    assert_msg_at(f->e.msgs[0], f->main, 4,
                  "'comfyui' option 'port': value 70000 is out of range [1, 65535]");

    /* a bad --option value is cited as the command-line option */
    emp_errlist_free(&f->e);
    emp_option_override_t cli[] = {{"retries", "many", "--option retries"},
                                   {"port", "8188", "--option port"}};
    emp_plugin_unload(f->inst);
    f->inst = emp_plugin_from_descriptor(&tcomfy);
    f->inst->cfg = &f->cfg.connectors[0];
    f->inst->cli_opts = cli;
    f->inst->ncli_opts = 2;
    assert_int_not_equal(create(f, body_comfy), 0);
    assert_int_equal(f->e.n, 1);
    assert_string_equal(f->e.msgs[0], "--option retries: 'comfyui' option 'retries': expected an "
                                      "integer, got \"many\"");
}

/* ---- unknown options ---- */

static int body_one_key(const emp_host_api_t *api, emp_host_t *host)
{
    long long v;
    return api->option_int(host, "known", 0, 0, 100, &v) < 0 ? -1 : 0;
}

static void test_unknown_options(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug,
              "gpus = (\n  { index = 0;\n    services = { tplug = { enabled = true; gpukey = 1; "
              "}; };\n  }\n);\n",
              "connector = {\n  plugin = \"tplug\";\n  options = {\n    known = 1;\n"
              "    typo = 2;\n  };\n};\n",
              0);
    emp_option_override_t cli[] = {{"clikey", "1", "--option clikey"}};
    f->inst->cli_opts = cli;
    f->inst->ncli_opts = 1;
    assert_int_not_equal(create(f, body_one_key), 0);
    assert_int_equal(f->e.n, 3);
    assert_msg_at(f->e.msgs[0], f->confd, 5, "'tplug' option 'typo': unknown option");
    assert_msg_at(f->e.msgs[1], f->main, 3, "'tplug' option 'gpukey': unknown option");
    assert_string_equal(f->e.msgs[2], "--option clikey: 'tplug' option 'clikey': unknown option");
    /* the plugin's create succeeded: destroy is still due */
    assert_int_equal(f->inst->created, 1);
}

/* ---- option_error, create failure, context ---- */

static int body_option_error(const emp_host_api_t *api, emp_host_t *host)
{
    long long port;
    api->option_int(host, "port", 1, 1, 65535, &port);
    int r1 = api->option_error(host, "port", "port %lld clashes with %s", port, "a1111");
    int r2 = api->option_error(host, NULL, "no backend configured");
    int r3 = api->option_error(host, "absent", "needed");
    return r1 == -1 && r2 == -1 && r3 == -1 ? -1 : 0;
}

static void test_option_error(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n",
              "# tplug\nconnector = {\n  plugin = \"tplug\";\n  options = {\n    port = 3001;\n"
              "  };\n};\n",
              -1);
    assert_int_not_equal(create(f, body_option_error), 0);
    assert_int_equal(f->e.n, 3);
    assert_msg_at(f->e.msgs[0], f->confd, 5, "'tplug' option 'port': port 3001 clashes with a1111");
    /* no key, or a key that is not set: the connector's own file:line */
    assert_msg_at(f->e.msgs[1], f->confd, 2, "'tplug' option 'options': no backend configured");
    assert_msg_at(f->e.msgs[2], f->confd, 2, "'tplug' option 'absent': needed");
    /* create returned -1: the plugin freed its state, so destroy is not due */
    assert_int_equal(f->inst->created, 0);
}

static int body_fail_silently(const emp_host_api_t *api, emp_host_t *host) { return -1; }

static void test_create_failure_reported(void **state)
{
    fx_t *f = *state;
    configure(f, &tplug, "# defaults\n", "\nconnector = { plugin = \"tplug\"; };\n", -1);
    assert_int_not_equal(create(f, body_fail_silently), 0);
    assert_int_equal(f->e.n, 1);
    assert_msg_at(f->e.msgs[0], f->confd, 2, "plugin 'tplug': create failed (see the log above)");
}

static const char *g_wid;
static int g_gpu;

static int body_context(const emp_host_api_t *api, emp_host_t *host)
{
    g_wid = api->worker_id(host);
    g_gpu = api->gpu_index(host);
    char models[] = "[\"sdxl\", \"flux\"]";
    api->set_models(host, models);
    models[2] = 'X'; /* copied */
    return 0;
}

static void test_context(void **state)
{
    fx_t *f = *state;
    setenv("MACHINE_ID", "box", 1);
    configure(f, &tplug, "gpus = ( { index = 0; }, { index = 3; } );\n",
              "connector = { plugin = \"tplug\"; };\n", 3);
    assert_int_equal(create(f, body_context), 0);
    assert_string_equal(g_wid, "box-worker-tplug-3");
    assert_int_equal(g_gpu, 3);
    assert_string_equal(f->inst->models_json, "[\"sdxl\", \"flux\"]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_table),
        cmocka_unit_test_setup_teardown(test_found_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_accepted_as_double, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_int_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_gpu_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence_base_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_errors_cite_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_option_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_failure_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
