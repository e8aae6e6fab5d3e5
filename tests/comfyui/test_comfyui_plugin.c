/*
 * test_comfyui_plugin.c - runs captured ComfyUI sessions through the real comfyui.so.
 *
 * Each test starts its own fake ComfyUI (tests/fakes/fake_comfyui.py, replaying the fixtures of
 * COMFYUI_VERSION), loads the plugin through the test kit, runs one job and checks what the
 * plugin reported (result, failure class and code, progress) and what the fake saw.
 *
 * Environment: COMFYUI_SO (plugin path), COMFYUI_FAKE, COMFYUI_VERSION (v0.3.64 | 2024),
 * COMFYUI_GROUP (flow | errors | faults | cancel | inputs | start), EMP_PYTHON3.
 *
 * Cancellation is driven deterministically: the plugin is wrapped in a descriptor whose API
 * table routes cancelled()/cancel_fd() to this test, so a helper thread can cancel exactly when
 * the fake reports the state under test (running / pending), then call the plugin's cancel
 * from another thread as the host's control thread does.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "comfyui_fake.h"
#include "emp_testkit.h"

static const char *g_version;

/* ---- the wrapping descriptor ---- */

typedef struct ctl {
    const emp_plugin_t *real;
    const emp_host_api_t *real_api;
    emp_host_api_t api;
    void *state;
    emp_job_t *volatile job;
    int own_cancel; /* route cancel to our pipe instead of the kit's */
    int pipe[2];
    volatile int flag;
    volatile int progress_seen;
} ctl_t;

static ctl_t g_ctl; /* test-only global: the wrapper callbacks need it */
static emp_plugin_t g_wrap;
static void *g_dl;

static int w_cancelled(emp_job_t *job)
{
    return g_ctl.own_cancel ? __atomic_load_n(&g_ctl.flag, __ATOMIC_SEQ_CST)
                            : g_ctl.real_api->cancelled(job);
}

static int w_cancel_fd(emp_job_t *job)
{
    return g_ctl.own_cancel ? g_ctl.pipe[0] : g_ctl.real_api->cancel_fd(job);
}

static int w_sleep_ms(emp_job_t *job, unsigned ms)
{
    if (!g_ctl.own_cancel)
        return g_ctl.real_api->sleep_ms(job, ms);
    struct pollfd p = {.fd = g_ctl.pipe[0], .events = POLLIN};
    return poll(&p, 1, (int)ms) > 0 ? 1 : w_cancelled(job);
}

static void w_progress(emp_job_t *job, double f, const char *m)
{
    __atomic_store_n(&g_ctl.progress_seen, 1, __ATOMIC_SEQ_CST);
    g_ctl.real_api->progress(job, f, m);
}

static int w_create(const emp_host_api_t *api, emp_host_t *host, void **out)
{
    g_ctl.real_api = api;
    g_ctl.api = *api;
    g_ctl.api.cancelled = w_cancelled;
    g_ctl.api.cancel_fd = w_cancel_fd;
    g_ctl.api.sleep_ms = w_sleep_ms;
    g_ctl.api.progress = w_progress;
    int rc = g_ctl.real->create(&g_ctl.api, host, out);
    g_ctl.state = rc == 0 ? *out : NULL;
    return rc;
}

static emp_result_t w_run(void *state, emp_job_t *job)
{
    g_ctl.job = job;
    emp_result_t r = g_ctl.real->run(state, job);
    g_ctl.job = NULL;
    return r;
}

static void w_cancel(void *state, emp_job_t *job) { g_ctl.real->cancel(state, job); }

static void load_plugin(void)
{
    if (g_dl)
        return;
    const char *so = getenv("COMFYUI_SO");
    assert_non_null(so);
    g_dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (g_dl == NULL)
        fail_msg("dlopen %s: %s", so, dlerror());
    emp_plugin_entry_fn entry = (emp_plugin_entry_fn)dlsym(g_dl, EMP_PLUGIN_ENTRY_SYMBOL);
    assert_non_null(entry);
    g_ctl.real = entry();
    g_wrap = *g_ctl.real;
    g_wrap.create = w_create;
    g_wrap.run = w_run;
    g_wrap.cancel = w_cancel;
}

/* ---- per-test fixture ---- */

typedef struct t {
    cfy_fake_t fake;
    emp_tk_t *tk;
    cJSON *result;
} t_t;

static t_t *T;

static int setup(void **state)
{
    load_plugin();
    g_ctl.own_cancel = 0;
    g_ctl.flag = 0;
    g_ctl.progress_seen = 0;
    if (pipe(g_ctl.pipe) != 0)
        return -1;
    T = calloc(1, sizeof *T);
    *state = T;
    return 0;
}

static int teardown(void **state)
{
    t_t *t = *state;
    emp_tk_close(t->tk);
    cfy_fake_stop(&t->fake);
    cJSON_Delete(t->result);
    close(g_ctl.pipe[0]);
    close(g_ctl.pipe[1]);
    free(t);
    T = NULL;
    return 0;
}

/* Start the fake with a scenario and extra args (NULL-terminated list). */
static void fake_up(const char *scenario, ...)
{
    const char *extra[32];
    int n = 0;
    va_list ap;
    va_start(ap, scenario);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        extra[n++] = a;
    va_end(ap);
    extra[n] = NULL;
    if (cfy_fake_start(&T->fake, g_version, scenario, extra, 0) != 0)
        fail_msg("could not start the fake");
}

/* Open the plugin with options (key, value pairs, NULL-terminated). Port = the fake's. */
static void plugin_up_port(int port, ...)
{
    char err[512];
    T->tk = emp_tk_open_descriptor(&g_wrap, err, sizeof err);
    if (T->tk == NULL)
        fail_msg("open: %s", err);
    emp_tk_set_verbose(T->tk, getenv("COMFYUI_VERBOSE") != NULL);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    emp_tk_set_option(T->tk, "host", "127.0.0.1");
    emp_tk_set_option(T->tk, "port", p);
    emp_tk_set_option(T->tk, "connect_timeout_ms", "5000");
    emp_tk_set_option(T->tk, "request_timeout_ms", "5000");
    emp_tk_set_option(T->tk, "reconnect_window_ms", "3000");
    /* a stalled fake must fail the test in seconds, not after the 10 min default */
    emp_tk_set_option(T->tk, "inactivity_timeout_ms", "20000");
    va_list ap;
    va_start(ap, port);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        emp_tk_set_option(T->tk, k, v);
    }
    va_end(ap);
    if (emp_tk_create(T->tk) != 0)
        fail_msg("create failed: %s", emp_tk_errors(T->tk));
}

#define plugin_up(...) plugin_up_port(T->fake.port, __VA_ARGS__)

static const char *WF_BASIC =
    "{\"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 48, "
    "\"batch_size\": 1, \"color\": 16711680, \"seed\": 9007199254740993}}, \"9\": "
    "{\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": "
    "\"wiretest_basic\"}}}";

static const char *WF_SLOW =
    "{\"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 48, "
    "\"batch_size\": 1, \"color\": 16711680}}, \"2\": {\"class_type\": \"WireTestSlow\", "
    "\"inputs\": {\"image\": [\"1\", 0], \"steps\": 4, \"delay\": 0.1, \"fail\": false, "
    "\"preview\": true}}, \"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": "
    "[\"2\", 0], \"filename_prefix\": \"wiretest_prog\"}}}";

static char *payload_of(const char *wf)
{
    size_t n = strlen(wf) + 32;
    char *p = malloc(n);
    snprintf(p, n, "{\"workflow\": %s}", wf);
    return p;
}

static emp_result_t run_payload(const char *payload)
{
    emp_result_t r = emp_tk_run(T->tk, "job-1", "comfyui", payload);
    if (getenv("COMFYUI_VERBOSE"))
        fprintf(stderr, "run -> %d code=%s msg=%s\nresult=%s\n", (int)r,
                emp_tk_fail_code(T->tk) ? emp_tk_fail_code(T->tk) : "-",
                emp_tk_fail_message(T->tk) ? emp_tk_fail_message(T->tk) : "-",
                emp_tk_result(T->tk) ? emp_tk_result(T->tk) : "-");
    cJSON_Delete(T->result);
    T->result = emp_tk_result(T->tk) ? cJSON_Parse(emp_tk_result(T->tk)) : NULL;
    return r;
}

static emp_result_t run_wf(const char *wf)
{
    char *p = payload_of(wf);
    emp_result_t r = run_payload(p);
    free(p);
    return r;
}

#define assert_fail(r, cls, code)                                                                  \
    do {                                                                                           \
        assert_int_equal((r), (cls));                                                              \
        assert_non_null(emp_tk_fail_code(T->tk));                                                  \
        if (strcmp(emp_tk_fail_code(T->tk), (code)) != 0)                                          \
            fail_msg("fail code %s (%s), expected %s", emp_tk_fail_code(T->tk),                    \
                     emp_tk_fail_message(T->tk), (code));                                          \
    } while (0)

#define assert_msg_has(s)                                                                          \
    do {                                                                                           \
        const char *m_ = emp_tk_fail_message(T->tk);                                               \
        if (m_ == NULL || strstr(m_, (s)) == NULL)                                                 \
            fail_msg("message '%s' lacks '%s'", m_ ? m_ : "(null)", (s));                          \
    } while (0)

static const cJSON *first_output(void)
{
    assert_non_null(T->result);
    const cJSON *outs = cJSON_GetObjectItem(T->result, "outputs");
    assert_true(cJSON_IsArray(outs));
    assert_true(cJSON_GetArraySize(outs) >= 1);
    return cJSON_GetArrayItem(outs, 0);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(it) ? it->valuestring : "";
}

static void assert_progress_sane(void)
{
    size_t n = emp_tk_progress_count(T->tk);
    assert_true(n >= 2);
    for (size_t i = 1; i < n; i++)
        if (emp_tk_progress_fraction(T->tk, i) + 1e-9 < emp_tk_progress_fraction(T->tk, i - 1))
            fail_msg("progress went down at %zu: %f -> %f", i,
                     emp_tk_progress_fraction(T->tk, i - 1), emp_tk_progress_fraction(T->tk, i));
    assert_true(emp_tk_progress_fraction(T->tk, n - 1) == 1.0);
}

static int progress_has(const char *text)
{
    for (size_t i = 0; i < emp_tk_progress_count(T->tk); i++)
        if (strstr(emp_tk_progress_message(T->tk, i), text))
            return 1;
    return 0;
}

static int count_in_log(const char *needle)
{
    char *log = cfy_fake_get(&T->fake, "/__fake/log");
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

/* ======================= flow ======================= */

static void test_basic(void **s)
{
    fake_up("basic", NULL);
    plugin_up(NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_READY);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    const cJSON *o = first_output();
    assert_string_equal(jstr(o, "filename"), "wiretest_basic_00001_.png");
    assert_string_equal(jstr(o, "node"), "9");
    assert_string_equal(jstr(o, "class_type"), "SaveImage");
    assert_string_equal(jstr(o, "type"), "output");
    assert_string_equal(jstr(o, "mime_type"), "image/png");
    assert_non_null(
        strstr(jstr(o, "url"), "/view?filename=wiretest_basic_00001_.png&subfolder=&type=output"));
    assert_true(strlen(jstr(T->result, "prompt_id")) == 36);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(T->result, "timings")));
    assert_true(
        cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(T->result, "timings"), "total_ms")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(T->result, "comfyui_outputs")));
    assert_null(cJSON_GetObjectItem(T->result, "image_url")); /* no ctx: no CDN fields */
    assert_progress_sane();
    /* the 64-bit seed reached ComfyUI byte for byte */
    assert_int_equal(count_in_log("9007199254740993"), 1);
    /* feature_flags was our first text frame */
    char *st = cfy_fake_get(&T->fake, "/__fake/state");
    assert_non_null(strstr(st, "\\\"type\\\":\\\"feature_flags\\\""));
    free(st);
    /* a second job on the same plugin instance */
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_int_equal(count_in_log("\"path\": \"/ws?clientId="), 2);
}

static void test_payload_is_workflow(void **s)
{
    fake_up("basic", NULL);
    plugin_up(NULL);
    assert_int_equal(run_payload(WF_BASIC), EMP_OK);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_basic_00001_.png");
}

static void test_workflow_as_string(void **s)
{
    fake_up("basic", NULL);
    plugin_up(NULL);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "workflow", WF_BASIC);
    char *txt = cJSON_PrintUnformatted(p);
    assert_int_equal(run_payload(txt), EMP_OK);
    free(txt);
    cJSON_Delete(p);
    assert_int_equal(count_in_log("9007199254740993"), 1);
}

static void test_extra_data_passthrough(void **s)
{
    /* payload.extra_data reaches ComfyUI byte for byte (and lets a job pick a fake scenario) */
    fake_up("basic", NULL);
    plugin_up(NULL);
    size_t n = strlen(WF_BASIC) + 200;
    char *p = malloc(n);
    snprintf(p, n,
             "{\"workflow\": %s, \"extra_data\": {\"fake_scenario\": \"error\", "
             "\"extra_pnginfo\": {\"n\": 18446744073709551615}}}",
             WF_BASIC);
    assert_fail(run_payload(p), EMP_FAIL, "execution_error");
    free(p);
    assert_int_equal(count_in_log("18446744073709551615"), 1);
}

static void test_cached_rerun(void **s)
{
    fake_up("cached", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    /* on 2024 no executed frame arrives: the output must come from /history */
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_basic_00001_.png");
    const cJSON *cached = cJSON_GetObjectItem(T->result, "cached_nodes");
    assert_int_equal(cJSON_GetArraySize(cached), 2);
    assert_true(progress_has("cached 2 of 2 nodes"));
    assert_progress_sane();
}

static void test_progress_previews(void **s)
{
    fake_up("progress", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK);
    /* we send feature_flags first -> 04: type-4 previews (with metadata) on v0.3.64, type-1
     * previews on 2024 (it ignores the flags); 4 steps either way */
    assert_true(progress_has("WireTestSlow 4/4"));
    assert_true(progress_has("WireTestSlow 1/"));
    assert_progress_sane();
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_prog2_00001_.png");
}

static void test_progress_legacy(void **s)
{
    fake_up("progress_legacy", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK);
    assert_true(progress_has("WireTestSlow 1/3"));
    assert_true(progress_has("WireTestSlow 3/3"));
    assert_progress_sane();
}

static void test_custom_prompt_id(void **s)
{
    fake_up("custom_prompt_id", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_pid_00001_.png");
}

static void test_outputs_base64(void **s)
{
    fake_up("basic", NULL);
    plugin_up("outputs", "base64", NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    const char *b64 = jstr(first_output(), "base64");
    assert_true(strncmp(b64, "iVBORw0KGg", 10) == 0); /* PNG magic */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(first_output(), "size")), 368);
}

static void test_outputs_base64_cap(void **s)
{
    fake_up("basic", NULL);
    plugin_up("outputs", "base64", "max_output_bytes", "100", NULL);
    assert_fail(run_wf(WF_BASIC), EMP_FAIL, "output_too_large");
    assert_msg_has("max_output_bytes");
}

static void test_cdn_ctx(void **s)
{
    fake_up("basic", NULL);
    plugin_up(NULL);
    emp_tk_set_job_field(T->tk, "ctx",
                         "{\"storage\": {\"provider\": \"azure\", \"bucket\": \"b\", \"cdnUrl\": "
                         "\"cdn.example.com/\"}, \"prefix\": \"/jobs/abc/\"}");
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_string_equal(jstr(T->result, "image_url"),
                        "https://cdn.example.com/jobs/abc/wiretest_basic_00001_.png");
    assert_string_equal(jstr(T->result, "mime_type"), "image/png");
    assert_string_equal(jstr(T->result, "content_type"), "image");
}

static int count_fds(void)
{
    int n = 0;
    char path[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

static void test_no_fd_leak(void **s)
{
    /* every job opens a WebSocket and watches a dup of the cancel fd: nothing may pile up */
    fake_up("basic", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    int before = count_fds();
    for (int i = 0; i < 10; i++)
        assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    /* curl's connection cache may hold one more or one fewer kept-alive socket at either
     * moment; a per-job leak would show as 10 or more */
    int after = count_fds();
    if (after > before + 2)
        fail_msg("%d fds before 10 jobs, %d after", before, after);
}

/* ======================= inputs ======================= */

static const char *WF_LOAD =
    "{\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"wt/wiretest_in.png\"}}, "
    "\"2\": {\"class_type\": \"ImageScale\", \"inputs\": {\"image\": [\"1\", 0], "
    "\"upscale_method\": \"nearest-exact\", \"width\": 80, \"height\": 60, \"crop\": "
    "\"disabled\"}}, \"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"2\", 0], "
    "\"filename_prefix\": \"wiretest_scaled\"}}}";

static emp_result_t run_with_image(const char *image_value, const char *name)
{
    size_t n = strlen(WF_LOAD) + strlen(image_value) + 256;
    char *p = malloc(n);
    snprintf(p, n,
             "{\"workflow\": %s, \"images\": [{\"name\": \"%s\", \"subfolder\": \"wt\", "
             "\"image\": \"%s\"}]}",
             WF_LOAD, name, image_value);
    emp_result_t r = run_payload(p);
    free(p);
    return r;
}

static void test_upload_base64(void **s)
{
    fake_up("loadimage", NULL);
    plugin_up(NULL);
    assert_int_equal(run_with_image("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8"
                                    "BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
                                    "wiretest_in.png"),
                     EMP_OK);
    char *st = cfy_fake_get(&T->fake, "/__fake/state");
    assert_non_null(strstr(st, "wt/wiretest_in.png"));
    free(st);
    /* uploaded before the prompt was queued */
    char *log = cfy_fake_get(&T->fake, "/__fake/log");
    char *up = strstr(log, "/upload/image"), *pr = strstr(log, "\"/prompt\"");
    assert_non_null(up);
    assert_non_null(pr);
    assert_true(up < pr);
    free(log);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_scaled_00001_.png");
}

static void test_upload_data_uri(void **s)
{
    fake_up("loadimage", NULL);
    plugin_up(NULL);
    assert_int_equal(run_with_image("data:image/png;base64,aGVsbG8gd29ybGQ=", "wiretest_in.png"),
                     EMP_OK);
}

static void test_upload_bad_inputs(void **s)
{
    fake_up("loadimage", NULL);
    plugin_up("max_input_bytes", "16", NULL);
    assert_fail(run_with_image("!!!not base64!!!", "wiretest_in.png"), EMP_FAIL, "bad_input");
    assert_fail(run_with_image("aGVsbG8=", "../etc/passwd"), EMP_FAIL, "bad_input");
    assert_fail(run_with_image("ftp://example.com/x.png", "x.png"), EMP_FAIL, "bad_input");
    assert_fail(run_with_image("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "x.png"),
                EMP_FAIL, "input_too_large");
    assert_int_equal(count_in_log("/upload/image"), 0);
    assert_int_equal(count_in_log("\"/prompt\""), 0);
}

static void test_upload_url_private_refused(void **s)
{
    fake_up("loadimage", NULL);
    plugin_up(NULL);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/__fake/blob?size=500", T->fake.port);
    assert_fail(run_with_image(url, "wiretest_in.png"), EMP_FAIL, "input_url_refused");
    assert_msg_has("allow_private_input_urls");
    assert_int_equal(count_in_log("/__fake/blob"), 0); /* refused before any request */
}

static void test_upload_url_allowed(void **s)
{
    fake_up("loadimage", NULL);
    plugin_up("allow_private_input_urls", "true", "max_input_bytes", "2048", NULL);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/__fake/blob?size=1500", T->fake.port);
    assert_int_equal(run_with_image(url, "wiretest_in.png"), EMP_OK);
    assert_int_equal(count_in_log("/__fake/blob"), 1);
    char *log = cfy_fake_get(&T->fake, "/__fake/log");
    assert_non_null(strstr(log, "/upload/image"));
    free(log);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/__fake/blob?size=5000", T->fake.port);
    assert_fail(run_with_image(url, "wiretest_in.png"), EMP_FAIL, "input_too_large");
}

/* ======================= errors ======================= */

static void test_invalid_class(void **s)
{
    fake_up("invalid_class", NULL);
    plugin_up(NULL);
    assert_fail(run_wf("{\"1\": {\"class_type\": \"NoSuchNode\", \"inputs\": {}}}"), EMP_FAIL,
                "invalid_prompt");
    assert_msg_has("invalid_prompt");
    assert_msg_has("NoSuchNode does not exist");
    assert_msg_has("Node ID '#1'");
}

static void test_invalid_input(void **s)
{
    fake_up("invalid_input", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_BASIC), EMP_FAIL, "invalid_prompt");
    assert_msg_has("prompt_outputs_failed_validation");
    assert_msg_has("node 1 (EmptyImage)");
    assert_msg_has("height: Failed to convert an input value to a INT value");
    assert_msg_has("width: Value 0 smaller than min of 1");
}

static void test_missing_input(void **s)
{
    fake_up("missing_input", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_BASIC), EMP_FAIL, "invalid_prompt");
    assert_msg_has("node 9 (SaveImage)");
    assert_msg_has("images: Required input is missing");
}

static void test_no_outputs(void **s)
{
    fake_up("no_outputs", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_BASIC), EMP_FAIL, "invalid_prompt");
    assert_msg_has("prompt_no_outputs");
    assert_msg_has("Prompt has no outputs");
}

static void test_bad_payload(void **s)
{
    fake_up("basic", NULL);
    plugin_up(NULL);
    assert_fail(run_payload("[1,2]"), EMP_FAIL, "bad_input");
    assert_fail(run_payload("{\"workflow\": 5}"), EMP_FAIL, "bad_input");
    assert_fail(run_payload("{\"workflow\": {\"1\": "), EMP_FAIL, "bad_input");
    assert_fail(run_payload("{\"workflow\": {}}"), EMP_FAIL, "bad_input");
    assert_int_equal(count_in_log("\"/prompt\""), 0);
}

static void test_exec_error(void **s)
{
    fake_up("error", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_SLOW), EMP_FAIL, "execution_error");
    assert_msg_has("exception_type=RuntimeError");
    assert_msg_has("wiretest: requested failure at step 2");
    assert_msg_has("node_id=2");
    assert_msg_has("node_type=WireTestSlow");
    assert_null(emp_tk_result(T->tk));
}

static void test_exec_oom(void **s)
{
    fake_up("oom", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_SLOW), EMP_RETRY, "oom");
    assert_msg_has("OutOfMemoryError");
}

static void test_prompt_5xx(void **s)
{
    fake_up("basic", "--fault", "prompt_status=500", NULL);
    plugin_up(NULL);
    assert_fail(run_wf(WF_BASIC), EMP_RETRY, "backend_error");
    assert_msg_has("HTTP 500");
    assert_msg_has("Server got itself in trouble");
}

static void test_prompt_timeout(void **s)
{
    fake_up("basic", "--fault", "prompt_delay_ms=5000", NULL);
    plugin_up("request_timeout_ms", "300", NULL);
    assert_fail(run_wf(WF_BASIC), EMP_RETRY, "timeout");
}

static void test_backend_down(void **s)
{
    int port = cfy_free_port();
    plugin_up_port(port, NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_NOT_READY);
    assert_fail(run_wf(WF_BASIC), EMP_RETRY, "backend_down");
}

static void test_start_states(void **s)
{
    fake_up("basic", "--system-stats-status", "503", NULL);
    plugin_up(NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_NOT_READY);
}

static void test_auth(void **s)
{
    fake_up("basic", "--require-token", "s3cret", NULL);
    plugin_up(NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_FATAL);
    assert_fail(run_wf(WF_BASIC), EMP_RETRY, "backend_down"); /* the WS upgrade got 401 */
    emp_tk_close(T->tk);
    plugin_up("token", "s3cret", NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_READY);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
}

static void test_basic_auth(void **s)
{
    fake_up("basic", "--require-basic", "ann:pa ss", NULL);
    plugin_up("username", "ann", "password", "pa ss", NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_READY);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
}

static void tls_paths(char *cert, char *key, size_t n)
{
    const char *fake = getenv("COMFYUI_FAKE");
    const char *slash = strrchr(fake, '/');
    int d = slash ? (int)(slash - fake) : 1;
    snprintf(cert, n, "%.*s/comfyui_tls/cert.pem", d, slash ? fake : ".");
    snprintf(key, n, "%.*s/comfyui_tls/key.pem", d, slash ? fake : ".");
}

static void test_tls(void **s)
{
    /* transport only, the same for both protocol generations; loading CA stores is slow under
     * ASan, so it runs once */
    if (strcmp(g_version, "v0.3.64") != 0)
        skip();
    char cert[1024], key[1024];
    tls_paths(cert, key, sizeof cert);
    fake_up("progress", "--tls-cert", cert, "--tls-key", key, NULL);
    plugin_up("host", "localhost", "tls", "true", "tls_ca_file", cert, "outputs", "base64", NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_READY);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK); /* https for the API, wss for the events */
    assert_true(progress_has("WireTestSlow 4/4"));
    assert_non_null(strstr(jstr(first_output(), "url"), "https://localhost:"));
    assert_true(strlen(jstr(first_output(), "base64")) > 100);
    emp_tk_close(T->tk);
    /* the self-signed certificate is refused without the CA file */
    plugin_up("host", "localhost", "tls", "true", NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_NOT_READY);
    assert_fail(run_wf(WF_SLOW), EMP_RETRY, "backend_down");
}

static void test_report_models(void **s)
{
    fake_up("basic", "--models", strcmp(g_version, "2024") == 0 ? "classic" : "v3", NULL);
    plugin_up("report_models", "true", NULL);
    assert_int_equal(emp_tk_start(T->tk), EMP_START_READY);
    const char *m = emp_tk_models(T->tk);
    assert_non_null(m);
    cJSON *arr = cJSON_Parse(m);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    assert_string_equal(cJSON_GetArrayItem(arr, 2)->valuestring,
                        "flux1-dev-fp8 \"quoted\".safetensors");
    cJSON_Delete(arr);
}

static void test_options_rejected(void **s)
{
    static const char *const bad[][2] = {
        {"port", "0"},         {"outputs", "files"}, {"inactivity_timeout_ms", "abc"},
        {"host", "http://x/"}, {"password", "only"}, {"no_such_option", "1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512];
        emp_tk_t *tk = emp_tk_open(getenv("COMFYUI_SO"), err, sizeof err);
        assert_non_null(tk);
        emp_tk_set_option(tk, bad[i][0], bad[i][1]);
        assert_int_equal(emp_tk_create(tk), -1);
        if (strstr(emp_tk_errors(tk), bad[i][0]) == NULL)
            fail_msg("error for %s lacks the key: %s", bad[i][0], emp_tk_errors(tk));
        emp_tk_close(tk);
    }
    /* token and username together */
    char err[512];
    emp_tk_t *tk = emp_tk_open(getenv("COMFYUI_SO"), err, sizeof err);
    emp_tk_set_option(tk, "token", "t");
    emp_tk_set_option(tk, "username", "u");
    assert_int_equal(emp_tk_create(tk), -1);
    assert_non_null(strstr(emp_tk_errors(tk), "not both"));
    assert_null(strstr(emp_tk_errors(tk), "t\n")); /* secrets are not echoed */
    emp_tk_close(tk);
    /* default port follows the GPU index */
    tk = emp_tk_open(getenv("COMFYUI_SO"), err, sizeof err);
    emp_tk_set_gpu(tk, 3);
    assert_int_equal(emp_tk_create(tk), 0);
    emp_tk_close(tk);
}

/* ======================= faults ======================= */

static void test_garbage_frames(void **s)
{
    fake_up("progress", "--fault", "garbage", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK);
    assert_progress_sane();
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_prog2_00001_.png");
}

static void test_oversized_frame(void **s)
{
    fake_up("basic", "--fault", "oversized=9437184", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_basic_00001_.png");
}

static void test_ws_drop_mid_job(void **s)
{
    /* socket cut after 4 frames; the fake holds the job until we are back: we reconnect while
     * it still runs (the fake sends the re-sync "executing" frame), find it running in /queue
     * and follow it to the end */
    fake_up("progress", "--fault", "ws_drop_after=4", "--drop-pause-ms", "-1", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK);
    /* >= : on a loaded machine a reconnect attempt may time out and be retried */
    assert_true(count_in_log("\"path\": \"/ws?clientId=") >= 2);
    assert_true(count_in_log("\"path\": \"/queue\"") >= 1);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_prog2_00001_.png");
}

static void test_ws_drop_end_lost(void **s)
{
    /* socket cut before the end marker: the prompt finishes while we are away, /history says so */
    int frames = strcmp(g_version, "2024") == 0 ? 6 : 10; /* 01_basic minus connect frames */
    char drop[32];
    snprintf(drop, sizeof drop, "ws_drop_after=%d", frames - 1);
    fake_up("basic", "--fault", drop, "--drop-pause-ms", "0", NULL);
    plugin_up(NULL);
    assert_int_equal(run_wf(WF_BASIC), EMP_OK);
    assert_string_equal(jstr(first_output(), "filename"), "wiretest_basic_00001_.png");
    assert_true(count_in_log("\"path\": \"/ws?clientId=") >= 2);
}

static void test_server_killed(void **s)
{
    fake_up("progress", "--fault", "kill_after=5", NULL);
    plugin_up("reconnect_window_ms", "1000", NULL);
    assert_fail(run_wf(WF_SLOW), EMP_RETRY, "backend_down");
    assert_msg_has("went away");
}

/* The server is killed mid-job and restarted (empty queue and history): prompt lost. */
static void *restart_thread(void *arg)
{
    cfy_fake_t *f = arg;
    int port = f->port;
    if (cfy_fake_wait_exit(f, 10000) == 0)
        cfy_fake_start(f, g_version, "basic", NULL, port);
    return NULL;
}

static void test_server_restarted(void **s)
{
    fake_up("progress", "--fault", "kill_after=5", NULL);
    plugin_up("reconnect_window_ms", "8000", NULL);
    pthread_t th;
    pthread_create(&th, NULL, restart_thread, &T->fake);
    emp_result_t r = run_wf(WF_SLOW);
    pthread_join(th, NULL);
    assert_fail(r, EMP_RETRY, "prompt_lost");
}

static void test_slow_job(void **s)
{
    /* 1/100 time scale: the reference worker's fixed 60 s job timeout is 600 ms here; this job
     * is silent for 900 ms (90 s) and lasts well over that, under a 3 s (300 s) inactivity
     * timeout: it must succeed */
    fake_up("progress", "--fault", "gap_after=5:900", "--frame-delay-ms", "20", NULL);
    plugin_up("inactivity_timeout_ms", "3000", NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(run_wf(WF_SLOW), EMP_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 900);
    assert_progress_sane();
}

static void test_inactivity_timeout(void **s)
{
    fake_up("progress", "--fault", "gap_after=5:20000", NULL);
    plugin_up("inactivity_timeout_ms", "400", NULL);
    assert_fail(run_wf(WF_SLOW), EMP_RETRY, "inactivity_timeout");
    assert_msg_has("400 ms");
    /* the stuck prompt was interrupted, not left running */
    assert_int_equal(count_in_log("\"path\": \"/interrupt\""), 1);
}

/* ======================= cancel ======================= */

typedef struct canceller {
    const char *path, *needle; /* fake state to wait for */
    int need_progress;
    int fired;
} canceller_t;

static void *cancel_thread(void *arg)
{
    canceller_t *c = arg;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 10)
            return NULL;
        if (g_ctl.job != NULL && (!c->need_progress || g_ctl.progress_seen) &&
            cfy_fake_wait_for(&T->fake, c->path, c->needle, 0) == 0)
            break;
        poll(NULL, 0, 10);
    }
    __atomic_store_n(&g_ctl.flag, 1, __ATOMIC_SEQ_CST);
    ssize_t w = write(g_ctl.pipe[1], "x", 1);
    (void)w;
    g_ctl.real->cancel(g_ctl.state, g_ctl.job);
    c->fired = 1;
    return NULL;
}

static emp_result_t run_with_cancel(const char *wf, canceller_t *c)
{
    g_ctl.own_cancel = 1;
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, c);
    emp_result_t r = run_wf(wf);
    pthread_join(th, NULL);
    assert_true(c->fired);
    return r;
}

static void test_cancel_running(void **s)
{
    fake_up("interrupt", NULL);
    plugin_up(NULL);
    canceller_t c = {.path = "/__fake/state", .needle = "\"running\": \"", .need_progress = 1};
    assert_fail(run_with_cancel(WF_SLOW, &c), EMP_CANCELLED, "cancelled");
    assert_int_equal(count_in_log("\"path\": \"/interrupt\""), 1);
    assert_int_equal(count_in_log("{\\\"prompt_id\\\":"), 1);
    /* the backend really stopped: the prompt is in history as interrupted */
    assert_int_equal(cfy_fake_wait_for(&T->fake, "/__fake/state", "\"running\": null", 2000), 0);
}

static void test_cancel_interrupt_ignored(void **s)
{
    /* the running node never notices the interrupt: we still answer CANCELLED well inside the
     * host's cancel grace period (10 s by default) */
    if (strcmp(g_version, "v0.3.64") != 0)
        skip(); /* version-independent, and it takes the full wait */
    fake_up("interrupt", "--fault", "ignore_interrupt", NULL);
    plugin_up(NULL);
    canceller_t c = {.path = "/__fake/state", .needle = "\"running\": \"", .need_progress = 1};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_fail(run_with_cancel(WF_SLOW, &c), EMP_CANCELLED, "cancelled");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms < 9000);
    assert_int_equal(count_in_log("\"path\": \"/interrupt\""), 1);
}

static void test_cancel_pending(void **s)
{
    fake_up("queued", NULL);
    plugin_up(NULL);
    canceller_t c = {.path = "/__fake/state", .needle = "\"pending\": [\""};
    assert_fail(run_with_cancel(WF_SLOW, &c), EMP_CANCELLED, "cancelled");
    assert_int_equal(count_in_log("{\\\"delete\\\":"), 1);
    assert_int_equal(count_in_log("\"path\": \"/interrupt\""), 0); /* the foreign prompt runs on */
    assert_int_equal(cfy_fake_wait_for(&T->fake, "/__fake/state", "\"pending\": []", 1000), 0);
    char *st = cfy_fake_get(&T->fake, "/__fake/state");
    assert_non_null(strstr(st, "\"running_foreign\": true"));
    free(st);
}

static void test_cancel_by_host_timer(void **s)
{
    /* the test kit's own cancel path (flag + fd + cancel() from its thread), at a fixed delay:
     * whatever state the job is in then, the answer is CANCELLED and nothing keeps running */
    fake_up("interrupt", NULL);
    plugin_up(NULL);
    emp_tk_cancel_after(T->tk, 300);
    assert_fail(run_wf(WF_SLOW), EMP_CANCELLED, "cancelled");
    assert_int_equal(cfy_fake_wait_for(&T->fake, "/__fake/state", "\"running\": null", 3000), 0);
}

static void *foreign_interrupt_thread(void *arg)
{
    (void)arg;
    if (cfy_fake_wait_for(&T->fake, "/__fake/state", "\"running\": \"", 10000) == 0) {
        while (!g_ctl.progress_seen)
            poll(NULL, 0, 10);
        cfy_fake_post(&T->fake, "/interrupt", "{}");
    }
    return NULL;
}

static void test_interrupted_by_someone_else(void **s)
{
    fake_up("interrupt", NULL);
    plugin_up(NULL);
    pthread_t th;
    pthread_create(&th, NULL, foreign_interrupt_thread, NULL);
    emp_result_t r = run_wf(WF_SLOW);
    pthread_join(th, NULL);
    assert_fail(r, EMP_FAIL, "interrupted");
    assert_msg_has("not by this worker");
}

/* ======================= main ======================= */

#define T_(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    g_version = getenv("COMFYUI_VERSION") ? getenv("COMFYUI_VERSION") : "v0.3.64";
    const char *group = getenv("COMFYUI_GROUP") ? getenv("COMFYUI_GROUP") : "all";
    curl_global_init(CURL_GLOBAL_DEFAULT); /* the host's job, done here for the test kit */
    srandom((unsigned)getpid());
    const struct CMUnitTest flow[] = {
        T_(test_basic),
        T_(test_payload_is_workflow),
        T_(test_workflow_as_string),
        T_(test_cached_rerun),
        T_(test_progress_previews),
        T_(test_progress_legacy),
        T_(test_custom_prompt_id),
        T_(test_outputs_base64),
        T_(test_outputs_base64_cap),
        T_(test_cdn_ctx),
        T_(test_extra_data_passthrough),
        T_(test_no_fd_leak),
    };
    const struct CMUnitTest inputs[] = {
        T_(test_upload_base64),      T_(test_upload_data_uri),
        T_(test_upload_bad_inputs),  T_(test_upload_url_private_refused),
        T_(test_upload_url_allowed),
    };
    const struct CMUnitTest errors[] = {
        T_(test_invalid_class),  T_(test_invalid_input), T_(test_missing_input),
        T_(test_no_outputs),     T_(test_bad_payload),   T_(test_exec_error),
        T_(test_exec_oom),       T_(test_backend_down),  T_(test_prompt_5xx),
        T_(test_prompt_timeout),
    };
    const struct CMUnitTest start[] = {
        T_(test_start_states),     T_(test_auth), T_(test_basic_auth), T_(test_report_models),
        T_(test_options_rejected), T_(test_tls),
    };
    const struct CMUnitTest faults[] = {
        T_(test_garbage_frames),   T_(test_oversized_frame),    T_(test_ws_drop_mid_job),
        T_(test_ws_drop_end_lost), T_(test_server_killed),      T_(test_server_restarted),
        T_(test_slow_job),         T_(test_inactivity_timeout),
    };
    const struct CMUnitTest cancel[] = {
        T_(test_cancel_running),
        T_(test_cancel_interrupt_ignored),
        T_(test_cancel_pending),
        T_(test_cancel_by_host_timer),
        T_(test_interrupted_by_someone_else),
    };
    int rc = 0;
    int all = strcmp(group, "all") == 0;
#define RUN(name, arr)                                                                             \
    if (all || strcmp(group, name) == 0)                                                           \
    rc |= _cmocka_run_group_tests("comfyui_" name, arr, sizeof arr / sizeof arr[0], NULL, NULL)
    RUN("flow", flow);
    RUN("inputs", inputs);
    RUN("errors", errors);
    RUN("start", start);
    RUN("faults", faults);
    RUN("cancel", cancel);
    if (g_dl)
        dlclose(g_dl);
    curl_global_cleanup();
    return rc;
}
