/*
 * test_config_load.c - unit tests of emp_config_load (core/config.c, core/config_env.c):
 * defaults, environment overrides (current and legacy names), WORKER_CONNECTORS, per-GPU port
 * overrides, worker id formats, GPU selection and per-GPU / per-connector enabling.
 *
 * Each test writes its files into a fresh directory under one mkdtemp() root and starts from
 * an environment with every variable the loader reads removed.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_env.h"
#include "errlist.h"

/* Every variable config_env.c reads (scalar table, legacy Redis, connectors, ports). */

static char g_root[64];
static int g_case;

typedef struct fx {
    char dir[256];
    char main[300];
    emp_config_t cfg;
    emp_errlist_t e;
} fx_t;

static void clear_env(void)
{
    for (size_t i = 0; emp_config_env_name(i); i++)
        unsetenv(emp_config_env_name(i));
}

static void write_file(const fx_t *f, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    char *slash = strrchr(path, '/');
    if (slash && strncmp(rel, "conf.d/", 7) == 0) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int group_setup(void **state)
{
    snprintf(g_root, sizeof g_root, "/tmp/emp-cfgtest-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/case%d", g_root, ++g_case);
    if (mkdir(f->dir, 0755) != 0)
        return -1;
    snprintf(f->main, sizeof f->main, "%s/worker.conf", f->dir);
    clear_env();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    emp_config_free(&f->cfg);
    emp_errlist_free(&f->e);
    free(f);
    clear_env();
    return 0;
}

/* Load; on an unexpected result print every error so the failure says why. */
static int load(fx_t *f, int gpu)
{
    emp_config_free(&f->cfg);
    emp_errlist_free(&f->e);
    int rc = emp_config_load(&f->cfg, f->main, gpu, &f->e);
    for (size_t i = 0; i < f->e.n; i++)
        print_message("  config error: %s\n", f->e.msgs[i]);
    return rc;
}

static const emp_connector_cfg_t *conn(const fx_t *f, const char *plugin)
{
    for (size_t i = 0; i < f->cfg.nconnectors; i++)
        if (strcmp(f->cfg.connectors[i].plugin, plugin) == 0)
            return &f->cfg.connectors[i];
    return NULL;
}

static const emp_option_override_t *override(const emp_connector_cfg_t *cc, const char *key)
{
    for (size_t i = 0; i < cc->noverrides; i++)
        if (strcmp(cc->overrides[i].key, key) == 0)
            return &cc->overrides[i];
    return NULL;
}

static const char MOCK_CONF[] = "connector = {\n  plugin = \"mock\";\n};\n";

/* ---- defaults and file values ---- */

static void test_defaults(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "# every value at its default\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    assert_int_equal(load(f, -1), 0);
    const emp_config_t *c = &f->cfg;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char want_id[300];
    snprintf(want_id, sizeof want_id, "%s-worker-mock-0", host);
    assert_string_equal(c->machine_id, host);
    assert_string_equal(c->worker_id, want_id);
    assert_string_equal(c->worker_id_format, "{machine}-worker-{type}-{gpu}");
    assert_string_equal(c->conf_dir, "conf.d");
    assert_null(c->plugin_dir);
    assert_int_equal(c->log_level, EMP_LOG_LEVEL_INFO);
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6379");
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->command_timeout_ms, 5000);
    assert_int_equal(c->load_function, 1);
    assert_int_equal(c->max_scan, 100);
    assert_int_equal(c->fallback_poll_ms, 5000);
    assert_int_equal(c->wake_jitter_ms, 2);
    assert_int_equal(c->heartbeat_interval_ms, 10000);
    assert_int_equal(c->heartbeat_ttl_s, 60);
    assert_int_equal(c->sweep_interval_ms, 15000);
    assert_int_equal(c->unified_machine_status, 0);
    assert_int_equal(c->timeout_minutes, 30);
    assert_int_equal(c->shutdown_grace_s, 25);
    assert_int_equal(c->cancel_grace_s, 10);
    assert_int_equal(c->progress_interval_ms, 250);
    assert_int_equal(c->retry_backoff_base_ms, 2000);
    assert_int_equal(c->retry_backoff_max_ms, 60000);
    assert_true(c->max_result_bytes == 32LL * 1024 * 1024);
    assert_true(c->ram_gb == 8.0 && c->gpu_memory_gb == 8.0);
    assert_string_equal(c->gpu_model, "unknown");
    assert_string_equal(c->isolation, "loose");
    assert_int_equal(c->max_concurrent_customers, 10);
    assert_int_equal(c->nallowed, 0);
    assert_int_equal(c->ndenied, 0);
    assert_null(c->workflow_id);
    assert_null(c->custom_caps);
    /* no gpus list: a single implicit GPU 0 */
    assert_int_equal(c->gpu, 0);
    assert_int_equal(c->ngpus, 0);
    assert_null(c->gpu_section);
    assert_int_equal(c->nconnectors, 1);
    const emp_connector_cfg_t *m = conn(f, "mock");
    assert_non_null(m);
    char want_file[600];
    snprintf(want_file, sizeof want_file, "%s/conf.d/mock.conf", f->dir);
    assert_string_equal(m->file, want_file);
    assert_int_equal(m->line, 1);
    assert_null(m->services);
    assert_int_equal(m->timeout_minutes, 0);
    assert_null(m->options);
    assert_null(m->gpu_options);
    assert_int_equal(m->noverrides, 0);
    assert_int_equal(f->e.nwarnings, 0);
}

static void test_file_values(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf",
               "worker = { machine_id = \"box\"; log_level = \"debug\";\n"
               "           plugin_dir = \"/opt/plugins\"; };\n"
               "redis = { url = \"redis://10.1.1.1:6400/2\"; max_scan = 7; load_function = false;\n"
               "          heartbeat_interval_ms = 500; heartbeat_ttl_s = 5;\n"
               "          unified_machine_status = true; };\n"
               "jobs = { timeout_minutes = 3; max_result_bytes = 3000000000L; };\n"
               "capabilities = {\n"
               "  hardware = { ram_gb = 64; gpu_memory_gb = 24.5; gpu_model = \"rtx4090\"; };\n"
               "  customer_access = { isolation = \"strict\"; allowed_customers = [\"a\", \"b\"];\n"
               "                      denied_customers = (\"x\"); max_concurrent_customers = 2; };\n"
               "  custom = { region = \"eu\"; };\n"
               "};\n");
    write_file(f, "conf.d/mock.conf",
               "connector = {\n  plugin = \"mock\";\n  services = [\"mock\", \"mock2\"];\n"
               "  timeout_minutes = 5;\n  options = { default_delay_ms = 1; };\n};\n");
    /* max_result_bytes is the only error: a 64-bit value above the 1 GiB cap */
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 1);
    char want[600];
    snprintf(want, sizeof want,
             "%s:6: 'jobs.max_result_bytes': value 3000000000 is out of range [1024, 1073741824]",
             f->main);
    assert_string_equal(f->e.msgs[0], want);
    const emp_config_t *c = &f->cfg;
    assert_string_equal(c->machine_id, "box");
    assert_string_equal(c->worker_id, "box-worker-mock-0");
    assert_int_equal(c->log_level, EMP_LOG_LEVEL_DEBUG);
    assert_string_equal(c->plugin_dir, "/opt/plugins");
    assert_string_equal(c->redis_url, "redis://10.1.1.1:6400/2");
    assert_int_equal(c->max_scan, 7);
    assert_int_equal(c->load_function, 0);
    assert_int_equal(c->heartbeat_interval_ms, 500);
    assert_int_equal(c->heartbeat_ttl_s, 5);
    assert_int_equal(c->unified_machine_status, 1);
    assert_int_equal(c->timeout_minutes, 3);
    assert_true(c->max_result_bytes == 32LL * 1024 * 1024); /* refused: default kept */
    assert_true(c->ram_gb == 64.0 && c->gpu_memory_gb == 24.5);
    assert_string_equal(c->gpu_model, "rtx4090");
    assert_string_equal(c->isolation, "strict");
    assert_int_equal(c->nallowed, 2);
    assert_string_equal(c->allowed_customers[0], "a");
    assert_string_equal(c->allowed_customers[1], "b");
    assert_null(c->allowed_customers[2]);
    assert_int_equal(c->ndenied, 1);
    assert_string_equal(c->denied_customers[0], "x");
    assert_int_equal(c->max_concurrent_customers, 2);
    assert_non_null(c->custom_caps);
    assert_string_equal(config_setting_get_string(config_setting_get_member(c->custom_caps,
                                                                            "region")),
                        "eu");
    const emp_connector_cfg_t *m = conn(f, "mock");
    assert_non_null(m);
    assert_int_equal(m->nservices, 2);
    assert_string_equal(m->services[1], "mock2");
    assert_int_equal(m->timeout_minutes, 5);
    assert_non_null(m->options);
    assert_int_equal(config_setting_source_line(config_setting_get_member(m->options,
                                                                          "default_delay_ms")),
                     5);
}

static void test_conf_dir_absolute_and_missing_main(void **state)
{
    fx_t *f = *state;
    char other[300], text[600];
    snprintf(other, sizeof other, "%s/elsewhere.d", f->dir);
    mkdir(other, 0755);
    snprintf(text, sizeof text, "worker = { conf_dir = \"%s\"; };\n", other);
    write_file(f, "worker.conf", text);
    write_file(f, "elsewhere.d/mock.conf", MOCK_CONF);
    assert_int_equal(load(f, -1), 0);
    assert_int_equal(f->cfg.nconnectors, 1);

    /* a main file that does not exist: one error, and free is still safe */
    snprintf(f->main, sizeof f->main, "%s/nope.conf", f->dir);
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 1);
    snprintf(text, sizeof text, "%s: cannot read: No such file or directory", f->main);
    assert_string_equal(f->e.msgs[0], text);
}

/* ---- environment ---- */

static void test_env_overrides(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf",
               "worker = { machine_id = \"file-box\"; worker_id = \"file-id\"; };\n"
               "redis = { url = \"redis://file:1\"; unified_machine_status = true; };\n"
               "capabilities = { customer_access = { isolation = \"strict\"; }; };\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    setenv("HUB_REDIS_URL", "redis://hub:6379", 1);
    setenv("WORKER_ID", "env-worker", 1);
    setenv("MACHINE_ID", "env-box", 1);
    setenv("UNIFIED_MACHINE_STATUS", "false", 1);
    setenv("WORKER_HEARTBEAT_INTERVAL_MS", "2000", 1);
    setenv("WORKER_POLL_INTERVAL_MS", "750", 1);
    setenv("JOB_TIMEOUT_MINUTES", "12", 1);
    setenv("WORKER_JOB_TIMEOUT_MINUTES", "99", 1); /* the alias listed first wins */
    setenv("WORKER_RAM_GB", "24.5", 1);
    setenv("WORKER_GPU_MODEL", "a100", 1);
    setenv("CUSTOMER_ISOLATION", "none", 1);
    setenv("WORKER_CUSTOMER_ISOLATION", "loose", 1);
    setenv("ALLOWED_CUSTOMERS", " a, b ,,c ", 1);
    setenv("MAX_CONCURRENT_CUSTOMERS", "4", 1);
    setenv("WORKER_WORKFLOW_ID", "wf-1", 1);
    assert_int_equal(load(f, -1), 0);
    const emp_config_t *c = &f->cfg;
    assert_string_equal(c->redis_url, "redis://hub:6379");
    assert_string_equal(c->worker_id, "env-worker");
    assert_string_equal(c->machine_id, "env-box");
    assert_int_equal(c->unified_machine_status, 0);
    assert_int_equal(c->heartbeat_interval_ms, 2000);
    assert_int_equal(c->fallback_poll_ms, 750);
    assert_int_equal(c->timeout_minutes, 12);
    assert_true(c->ram_gb == 24.5);
    assert_string_equal(c->gpu_model, "a100");
    assert_string_equal(c->isolation, "loose");
    assert_int_equal(c->nallowed, 3);
    assert_string_equal(c->allowed_customers[0], "a");
    assert_string_equal(c->allowed_customers[1], "b");
    assert_string_equal(c->allowed_customers[2], "c");
    assert_int_equal(c->max_concurrent_customers, 4);
    assert_string_equal(c->workflow_id, "wf-1");

    /* UNIFIED_MACHINE_STATUS=true / 1 turn it on; an empty variable is ignored */
    setenv("UNIFIED_MACHINE_STATUS", "1", 1);
    setenv("HUB_REDIS_URL", "", 1);
    unsetenv("WORKER_ID");
    assert_int_equal(load(f, -1), 0);
    assert_int_equal(f->cfg.unified_machine_status, 1);
    assert_string_equal(f->cfg.redis_url, "redis://file:1");
    assert_string_equal(f->cfg.worker_id, "file-id");
}

static void test_env_errors(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "# defaults\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    setenv("WORKER_HEARTBEAT_INTERVAL_MS", "abc", 1);
    setenv("UNIFIED_MACHINE_STATUS", "yes", 1);
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 2);
    assert_string_equal(f->e.msgs[0],
                        "environment variable UNIFIED_MACHINE_STATUS: expected true or false, "
                        "got \"yes\"");
    assert_string_equal(f->e.msgs[1],
                        "environment variable WORKER_HEARTBEAT_INTERVAL_MS: expected an integer "
                        "in [100, 600000], got \"abc\"");
    assert_int_equal(f->cfg.heartbeat_interval_ms, 10000); /* unchanged */

    /* an interval not below the TTL is refused whichever source set it */
    unsetenv("UNIFIED_MACHINE_STATUS");
    setenv("WORKER_HEARTBEAT_INTERVAL_MS", "60000", 1);
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 1);
    char want[600];
    snprintf(want, sizeof want,
             "%s: 'redis.heartbeat_interval_ms' (60000) must be shorter than "
             "'redis.heartbeat_ttl_s' (60 s), or the worker looks dead between beats",
             f->main);
    assert_string_equal(f->e.msgs[0], want);
}

static void test_legacy_redis_env(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "redis = { url = \"redis://file:1\"; };\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);

    setenv("WORKER_REDIS_API_HOST", "10.0.0.5", 1);
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.redis_url, "redis://10.0.0.5:6379");

    setenv("WORKER_REDIS_API_PORT", "6380", 1);
    setenv("WORKER_WEBSOCKET_AUTH_TOKEN", "s3cret", 1);
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.redis_url, "redis://:s3cret@10.0.0.5:6380");

    setenv("WORKER_USE_SSL", "true", 1);
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.redis_url, "rediss://:s3cret@10.0.0.5:6380");

    /* the current name wins over the legacy ones */
    setenv("HUB_REDIS_URL", "redis://hub:7000", 1);
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.redis_url, "redis://hub:7000");
}

static void test_worker_connectors_env(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "worker = { machine_id = \"m\"; };\n");
    write_file(f, "conf.d/a1111.conf", "connector = { plugin = \"a1111\"; };\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);

    /* without the variable: both files are enabled, in sorted file order */
    assert_int_equal(load(f, -1), 0);
    assert_int_equal(f->cfg.nconnectors, 2);
    assert_string_equal(f->cfg.connectors[0].plugin, "a1111");
    assert_string_equal(f->cfg.worker_id, "m-worker-a1111+mock-0");

    /* named without a file: enabled; not named: disabled; ":count" is ignored */
    setenv("WORKER_CONNECTORS", "comfyui:2, mock", 1);
    assert_int_equal(load(f, -1), 0);
    assert_int_equal(f->cfg.nconnectors, 2);
    assert_null(conn(f, "a1111"));
    assert_non_null(conn(f, "mock"));
    const emp_connector_cfg_t *cu = conn(f, "comfyui");
    assert_non_null(cu);
    assert_string_equal(cu->file, "environment variable WORKER_CONNECTORS");
    assert_int_equal(cu->line, 0);
    assert_null(cu->options);
    assert_string_equal(f->cfg.worker_id, "m-worker-mock+comfyui-0");

    /* the legacy name CONNECTORS is read when WORKER_CONNECTORS is absent */
    unsetenv("WORKER_CONNECTORS");
    setenv("CONNECTORS", "a1111", 1);
    assert_int_equal(load(f, -1), 0);
    assert_int_equal(f->cfg.nconnectors, 1);
    assert_string_equal(f->cfg.connectors[0].plugin, "a1111");

    /* a name that is not one is refused */
    setenv("CONNECTORS", "a1111,../x", 1);
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 1);
    assert_string_equal(f->e.msgs[0],
                        "environment variable CONNECTORS: \"../x\" is not a connector name");
}

static void test_port_overrides(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf",
               "gpus = (\n"
               "  { index = 0; services = { comfyui = { port = 8188; }; }; },\n"
               "  { index = 1; services = { comfyui = { port = 8189; }; }; }\n"
               ");\n");
    setenv("WORKER_CONNECTORS", "comfyui", 1);
    setenv("WORKER_BASE_COMFYUI_PORT", "9100", 1);
    assert_int_equal(load(f, 1), 0);
    const emp_connector_cfg_t *cu = conn(f, "comfyui");
    assert_non_null(cu);
    /* the GPU's services.comfyui group is attached even without a conf.d file */
    assert_non_null(cu->gpu_options);
    assert_int_equal(config_setting_get_int(config_setting_get_member(cu->gpu_options, "port")),
                     8189);
    const emp_option_override_t *o = override(cu, "port");
    assert_non_null(o);
    assert_string_equal(o->value, "9101"); /* base + GPU index */
    assert_string_equal(o->source, "environment variable WORKER_BASE_COMFYUI_PORT");

    /* an exact port wins over base + GPU; the host goes with it */
    setenv("WORKER_COMFYUI_PORT", "9555", 1);
    setenv("COMFYUI_HOST", "127.0.0.2", 1);
    assert_int_equal(load(f, 1), 0);
    cu = conn(f, "comfyui");
    assert_int_equal(cu->noverrides, 2);
    assert_string_equal(override(cu, "port")->value, "9555");
    assert_string_equal(override(cu, "port")->source, "environment variable WORKER_COMFYUI_PORT");
    assert_string_equal(override(cu, "host")->value, "127.0.0.2");

    /* a bad base port */
    unsetenv("WORKER_COMFYUI_PORT");
    setenv("WORKER_BASE_COMFYUI_PORT", "http", 1);
    assert_int_not_equal(load(f, 0), 0);
    assert_int_equal(f->e.n, 1);
    assert_string_equal(f->e.msgs[0],
                        "environment variable WORKER_BASE_COMFYUI_PORT: expected a port, got "
                        "\"http\"");
}

/* ---- worker id ---- */

static void test_worker_id_format(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "gpus = ( { index = 0; }, { index = 1; } );\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    setenv("MACHINE_ID", "m1", 1);
    assert_int_equal(load(f, 1), 0);
    assert_string_equal(f->cfg.worker_id, "m1-worker-mock-1");

    write_file(f, "worker.conf",
               "worker = { worker_id_format = \"worker-gpu{gpu}\"; };\n"
               "gpus = ( { index = 0; }, { index = 1; } );\n");
    assert_int_equal(load(f, 1), 0);
    assert_string_equal(f->cfg.worker_id, "worker-gpu1");
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.worker_id, "worker-gpu0");

    write_file(f, "worker.conf",
               "worker = { worker_id_format = \"{type}@{machine}/{gpu}{gpu}{unknown}\"; };\n");
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.worker_id, "mock@m1/00{unknown}");

    /* an explicit id wins over the format, and WORKER_ID over both */
    write_file(f, "worker.conf",
               "worker = { worker_id = \"fixed\"; worker_id_format = \"worker-gpu{gpu}\"; };\n");
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.worker_id, "fixed");
    setenv("WORKER_ID", "from-env", 1);
    assert_int_equal(load(f, -1), 0);
    assert_string_equal(f->cfg.worker_id, "from-env");
}

/* ---- GPU selection and per-GPU / per-connector enabling ---- */

static void test_gpu_selection(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf",
               "gpus = (\n  { index = 2; services = { mock = { default_delay_ms = 2; }; }; },\n"
               "  { index = 3; }\n);\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    assert_int_equal(load(f, -1), 0); /* -1: the first listed */
    assert_int_equal(f->cfg.gpu, 2);
    assert_int_equal(f->cfg.ngpus, 2);
    assert_int_equal(f->cfg.gpu_indexes[1], 3);
    assert_non_null(f->cfg.gpu_section);
    assert_non_null(conn(f, "mock")->gpu_options);
    assert_int_equal(config_setting_source_line(conn(f, "mock")->gpu_options), 2);

    assert_int_equal(load(f, 3), 0);
    assert_int_equal(f->cfg.gpu, 3);
    assert_null(conn(f, "mock")->gpu_options);

    assert_int_not_equal(load(f, 0), 0);
    assert_int_equal(f->e.n, 1);
    char want[600];
    snprintf(want, sizeof want,
             "%s: GPU 0 is not listed in 'gpus'; this machine's config lists 2 GPU(s)", f->main);
    assert_string_equal(f->e.msgs[0], want);
}

/* No gpus list means one implicit GPU 0: `--gpu 0` (what emp-worker@0 passes) must select it,
 * and any other index is not listed. */
static void test_implicit_gpu0(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "# no gpus list\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    assert_int_equal(load(f, 0), 0);
    assert_int_equal(f->cfg.gpu, 0);
    assert_int_not_equal(load(f, 1), 0);
    assert_int_equal(f->e.n, 1);
    char want[600];
    snprintf(want, sizeof want,
             "%s: GPU 1 is not listed in 'gpus'; this machine's config lists 0 GPU(s)", f->main);
    assert_string_equal(f->e.msgs[0], want);
}

static void test_gpu_service_disabled(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf",
               "gpus = (\n"
               "  { index = 0; services = { mock = { enabled = false; }; }; },\n"
               "  { index = 1; services = { mock = { enabled = true; }; }; }\n"
               ");\n");
    write_file(f, "conf.d/a1111.conf", "connector = { plugin = \"a1111\"; };\n");
    write_file(f, "conf.d/mock.conf", MOCK_CONF);
    assert_int_equal(load(f, 0), 0);
    assert_int_equal(f->cfg.nconnectors, 1);
    assert_null(conn(f, "mock"));
    assert_non_null(conn(f, "a1111"));
    assert_int_equal(load(f, 1), 0);
    assert_int_equal(f->cfg.nconnectors, 2);
    assert_non_null(conn(f, "mock"));
}

static void test_connector_gpus_filter(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "gpus = ( { index = 0; }, { index = 1; }, { index = 2; } );\n");
    write_file(f, "conf.d/a1111.conf", "connector = { plugin = \"a1111\"; gpus = [0, 2]; };\n");
    write_file(f, "conf.d/mock.conf",
               "connector = {\n  plugin = \"mock\";\n  gpus = [1, 2];\n};\n");
    assert_int_equal(load(f, 0), 0);
    assert_int_equal(f->cfg.nconnectors, 1);
    assert_non_null(conn(f, "a1111"));
    assert_int_equal(load(f, 1), 0);
    assert_int_equal(f->cfg.nconnectors, 1);
    assert_non_null(conn(f, "mock"));
    assert_int_equal(load(f, 2), 0);
    assert_int_equal(f->cfg.nconnectors, 2);

    /* gpus = [] enables it nowhere; enabled = false wins over a matching gpus list */
    write_file(f, "conf.d/a1111.conf", "connector = { plugin = \"a1111\"; gpus = []; };\n");
    write_file(f, "conf.d/mock.conf",
               "connector = { plugin = \"mock\"; enabled = false; gpus = [0]; };\n");
    assert_int_not_equal(load(f, 0), 0);
    assert_int_equal(f->cfg.nconnectors, 0);
    assert_int_equal(f->e.n, 1);
    char want[600];
    snprintf(want, sizeof want,
             "%s: no connector is enabled for GPU 0: drop a connector file into conf.d (see "
             "conf.d/*.conf examples) or set WORKER_CONNECTORS",
             f->main);
    assert_string_equal(f->e.msgs[0], want);
}

static void test_error_locations(void **state)
{
    fx_t *f = *state;
    write_file(f, "worker.conf", "redis = {\n  max_scan = 5;\n  bogus = 1;\n};\n");
    write_file(f, "conf.d/10-mock.conf", MOCK_CONF);
    write_file(f, "conf.d/20-mock.conf", "\n\nconnector = { plugin = \"mock\"; };\n");
    assert_int_not_equal(load(f, -1), 0);
    assert_int_equal(f->e.n, 2);
    char want[1200];
    snprintf(want, sizeof want, "%s:3: 'redis.bogus': unknown key", f->main);
    assert_string_equal(f->e.msgs[0], want);
    snprintf(want, sizeof want,
             "%s/conf.d/20-mock.conf:3: 'connector': plugin \"mock\" is already configured in "
             "%s/conf.d/10-mock.conf:1",
             f->dir, f->dir);
    assert_string_equal(f->e.msgs[1], want);
    assert_int_equal(f->cfg.max_scan, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_dir_absolute_and_missing_main, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_redis_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_connectors_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_id_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_implicit_gpu0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_service_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_gpus_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_locations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
