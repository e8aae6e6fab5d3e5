/*
 * test_a1111_plugin.c - the built a1111.so, loaded by the test kit, against the fake A1111
 * (tests/fakes/fake_a1111.py). Each test starts its own fake on a free loopback port and
 * stops it by PID. Timing: the fake's sampling steps are tens of milliseconds, so a multi-step
 * generation takes about a second; every wait is on a condition with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "a1111_fakeproc.h"
#include "emp_testkit.h"

typedef struct fixture {
    fake_a1111_t fake;
    emp_tk_t *tk;
} fixture_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static emp_tk_t *open_kit(void)
{
    char err[512];
    emp_tk_t *tk = emp_tk_open(A1111_SO, err, sizeof err);
    if (tk == NULL)
        fail_msg("cannot load %s: %s", A1111_SO, err);
    emp_tk_set_verbose(tk, getenv("A1111_TEST_VERBOSE") != NULL);
    return tk;
}

/* Starts a fake (extra args may be NULL) and a kit pointed at it with the given options
 * ("key", "value", ..., NULL). */
static void setup_with(fixture_t *fx, const char *const *fake_args, ...)
{
    char port[16];
    memset(fx, 0, sizeof *fx);
    assert_int_equal(fake_a1111_start(&fx->fake, 0, fake_args), 0);
    fx->tk = open_kit();
    snprintf(port, sizeof port, "%d", fx->fake.port);
    emp_tk_set_option(fx->tk, "port", port);
    emp_tk_set_option(fx->tk, "poll_interval_ms", "100");
    va_list ap;
    va_start(ap, fake_args);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;)
        emp_tk_set_option(fx->tk, k, va_arg(ap, const char *));
    va_end(ap);
}

static void teardown_fx(fixture_t *fx)
{
    emp_tk_close(fx->tk);
    fx->tk = NULL;
    fake_a1111_stop(&fx->fake);
}

/* cmocka runs these around each test, also after a failed assertion (which longjmps out). */
static int fx_setup(void **state)
{
    *state = calloc(1, sizeof(fixture_t));
    return *state ? 0 : -1;
}

static int fx_teardown(void **state)
{
    teardown_fx(*state);
    free(*state);
    return 0;
}

static void ready(fixture_t *fx)
{
    if (emp_tk_create(fx->tk) != 0)
        fail_msg("create failed: %s", emp_tk_errors(fx->tk));
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_READY);
}

static char *fake_get(fixture_t *fx, const char *path)
{
    char *body = NULL;
    assert_int_equal(fake_a1111_call(&fx->fake, path, NULL, &body), 200);
    return body;
}

static void expect_fail(fixture_t *fx, emp_result_t r, emp_result_t cls, const char *code,
                        const char *in_message)
{
    assert_int_equal(r, cls);
    assert_int_equal(emp_tk_fail_class(fx->tk), cls);
    assert_non_null(emp_tk_fail_code(fx->tk));
    assert_string_equal(emp_tk_fail_code(fx->tk), code);
    if (in_message && strstr(emp_tk_fail_message(fx->tk), in_message) == NULL)
        fail_msg("message '%s' lacks '%s'", emp_tk_fail_message(fx->tk), in_message);
    assert_null(emp_tk_result(fx->tk));
}

/* ---- success, progress, defaults, force_task_id, models ---- */

static void test_txt2img_progress(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "60", NULL}, NULL);
    ready(fx);
    assert_non_null(emp_tk_models(fx->tk));
    assert_non_null(strstr(emp_tk_models(fx->tk), "\"v1-5-pruned-emaonly\""));

    emp_result_t r = emp_tk_run(fx->tk, "job-ok-1", "a1111",
                                "{\"prompt\":\"a red cube\",\"steps\":20,\"n_iter\":2}");
    if (r != EMP_OK)
        fail_msg("run: %d %s", r, emp_tk_fail_message(fx->tk));
    const char *res = emp_tk_result(fx->tk);
    assert_non_null(res);
    assert_non_null(strstr(res, "\"images\":[\"iVBORw0KGgo"));
    assert_non_null(strstr(res, "\"parameters\":{"));
    assert_non_null(strstr(res, "\"info\":{\"prompt\": \"a red cube\""));
    assert_non_null(strstr(res, "\"all_seeds\": ["));

    /* progress: several distinct values, monotonic, step counts and eta in messages, 1.0 last */
    size_t n = emp_tk_progress_count(fx->tk), distinct = 0;
    double last = -1;
    int saw_steps = 0, saw_eta = 0, saw_batch2 = 0;
    for (size_t i = 0; i < n; i++) {
        double f = emp_tk_progress_fraction(fx->tk, i);
        const char *m = emp_tk_progress_message(fx->tk, i);
        assert_true(f >= last);
        assert_true(f >= 0 && f <= 1);
        distinct += f > last;
        last = f;
        saw_steps |= strstr(m, "/20") != NULL;
        saw_eta |= strstr(m, "eta ") != NULL;
        saw_batch2 |= strstr(m, "batch 2/2") != NULL;
    }
    if (distinct < 5)
        fail_msg("only %zu distinct progress values in %zu reports", distinct, n);
    assert_true(saw_steps && saw_eta && saw_batch2);
    assert_true(last == 1.0);

    /* what A1111 received: the user's fields once, the defaults, our task id */
    char *body = fake_get(fx, "/fake/last-body");
    assert_non_null(strstr(body, "\"steps\":20"));
    assert_int_equal(count_of(body, "\"steps\""), 1); /* the user's, no default added */
    assert_non_null(strstr(body, "\"sampler_name\":\"Euler a\""));
    assert_non_null(strstr(body, "\"scheduler\":\"automatic\""));
    assert_non_null(strstr(body, "\"do_not_save_samples\":true"));
    assert_non_null(strstr(body, "\"force_task_id\":\"job-ok-1\""));
    free(body);
    char *state = fake_get(fx, "/fake/state");
    assert_non_null(strstr(state, "\"finished\":[\"job-ok-1\"]"));
    free(state);
}

/* The same with the Gradio routes: progress is matched to our task id. */
static void test_txt2img_progress_webui(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "50", "--webui", NULL}, NULL);
    ready(fx);
    assert_int_equal(emp_tk_run(fx->tk, "job-webui", "a1111", "{\"prompt\":\"x\",\"steps\":16}"), EMP_OK);
    size_t n = emp_tk_progress_count(fx->tk), distinct = 0;
    double last = -1;
    for (size_t i = 0; i < n; i++) {
        double f = emp_tk_progress_fraction(fx->tk, i);
        assert_true(f >= last);
        distinct += f > last;
        last = f;
    }
    if (distinct < 4)
        fail_msg("only %zu distinct progress values", distinct);
}

static const char tiny_png_b64[] =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

static void test_img2img(void **st)
{
    fixture_t *fx = *st;
    char payload[512];
    setup_with(fx, (const char *const[]){"--step-ms", "10", NULL}, NULL);
    ready(fx);
    snprintf(payload, sizeof payload,
             "{\"prompt\":\"make it blue\",\"init_images\":[\"data:image/png;base64,%s\"],"
             "\"denoising_strength\":0.5,\"steps\":5}", tiny_png_b64);
    emp_result_t r = emp_tk_run(fx->tk, "job-i2i", "a1111", payload);
    if (r != EMP_OK)
        fail_msg("run: %d %s", r, emp_tk_fail_message(fx->tk));
    char *reqs = fake_get(fx, "/fake/requests");
    assert_non_null(strstr(reqs, "\"path\":\"/sdapi/v1/img2img\""));
    free(reqs);
    /* the response nulls init_images (include_init_images false) */
    assert_non_null(strstr(emp_tk_result(fx->tk), "\"init_images\":null"));

    /* explicit mode without images: A1111's 404, a permanent failure; the routing key is not sent */
    r = emp_tk_run(fx->tk, "job-i2i-2", "a1111", "{\"mode\":\"img2img\",\"prompt\":\"p\"}");
    expect_fail(fx, r, EMP_FAIL, "invalid_request", "Init image not found");
    char *body = fake_get(fx, "/fake/last-body");
    assert_null(strstr(body, "\"mode\""));
    free(body);

    /* an image A1111 cannot decode: 500 "Invalid encoded image", still permanent */
    r = emp_tk_run(fx->tk, "job-i2i-3", "a1111", "{\"init_images\":[\"@@not base64@@\"]}");
    expect_fail(fx, r, EMP_FAIL, "invalid_image", "Invalid encoded image");
}

/* ---- cancellation ---- */

static void test_interrupt(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "100", NULL}, NULL);
    ready(fx);
    emp_tk_cancel_after(fx->tk, 700);
    long long t0 = now_ms();
    emp_result_t r = emp_tk_run(fx->tk, "job-cancel", "a1111", "{\"prompt\":\"x\",\"steps\":40}");
    long long took = now_ms() - t0;
    expect_fail(fx, r, EMP_CANCELLED, "cancelled", "discarded");
    assert_true(took < 3000); /* 40 steps would take 4 s */
    char *state = fake_get(fx, "/fake/state");
    assert_non_null(strstr(state, "\"interrupted_tasks\":[\"job-cancel\"]"));
    free(state);
}

/* A backend that ignores the interrupt: run gives up after interrupt_wait_ms. */
static void test_interrupt_ignored(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "100", NULL}, "interrupt_wait_ms", "400", NULL);
    ready(fx);
    assert_int_equal(fake_a1111_config(&fx->fake, "{\"ignore_interrupt\":true}"), 0);
    emp_tk_cancel_after(fx->tk, 300);
    long long t0 = now_ms();
    emp_result_t r = emp_tk_run(fx->tk, "job-stuck", "a1111", "{\"steps\":50}");
    expect_fail(fx, r, EMP_CANCELLED, "cancelled", "had not returned");
    assert_true(now_ms() - t0 < 2500);
}

/* Another client's job runs first: its progress is not reported as ours, it is not
 * interrupted by our cancel, and ours is interrupted once it starts. */
static void run_foreign(fixture_t *fx, const char *const *fake_args, int webui)
{
    setup_with(fx, fake_args, NULL);
    ready(fx);
    assert_int_equal(fake_a1111_call(&fx->fake, "/fake/foreign",
                                     "{\"steps\":15,\"task_id\":\"task(someone-else)\"}", NULL), 200);
    assert_true(fake_a1111_wait_state(&fx->fake, "\"sampling_step\":1,", 5000));
    emp_result_t r = emp_tk_run(fx->tk, "job-second", "a1111", "{\"prompt\":\"x\",\"steps\":8}");
    if (r != EMP_OK)
        fail_msg("run: %d %s", r, emp_tk_fail_message(fx->tk));
    int queued_msg = 0;
    for (size_t i = 0; i < emp_tk_progress_count(fx->tk); i++) {
        const char *m = emp_tk_progress_message(fx->tk, i);
        if (strstr(m, "/15"))
            fail_msg("the other job's progress was reported: '%s'", m);
        queued_msg |= strstr(m, "In queue") != NULL;
    }
    if (webui)
        assert_true(queued_msg);

    /* cancel while queued behind another job */
    assert_int_equal(fake_a1111_call(&fx->fake, "/fake/foreign",
                                     "{\"steps\":12,\"task_id\":\"task(other-2)\"}", NULL), 200);
    assert_true(fake_a1111_wait_state(&fx->fake, "\"current_task\":\"task(other-2)\"", 5000));
    emp_tk_cancel_after(fx->tk, 250);
    r = emp_tk_run(fx->tk, "job-third", "a1111", "{\"prompt\":\"x\",\"steps\":30}");
    assert_int_equal(r, EMP_CANCELLED);
    char *state = fake_get(fx, "/fake/state");
    if (strstr(state, "\"task(other-2)\"") == NULL ||
        strstr(state, "\"interrupted_tasks\":[\"job-third\"]") == NULL)
        fail_msg("expected other-2 finished uninterrupted and job-third interrupted: %s", state);
    free(state);
}

static void test_foreign_job_global(void **st)
{
    run_foreign(*st, (const char *const[]){"--step-ms", "60", NULL}, 0);
}

static void test_foreign_job_webui(void **st)
{
    run_foreign(*st, (const char *const[]){"--step-ms", "60", "--webui", NULL}, 1);
}

/* Progress answers slower than poll_interval_ms: the job loop waits for them, it does not spin. */
static void test_slow_progress_no_spin(void **st)
{
    fixture_t *fx = *st;
    struct rusage r0, r1;
    setup_with(fx, (const char *const[]){"--step-ms", "50", NULL}, "poll_interval_ms", "50", NULL);
    ready(fx);
    assert_int_equal(fake_a1111_config(&fx->fake, "{\"progress_delay_ms\":400}"), 0);
    long long t0 = now_ms();
    getrusage(RUSAGE_THREAD, &r0);
    assert_int_equal(emp_tk_run(fx->tk, "job-slowpoll", "a1111", "{\"steps\":30}"), EMP_OK);
    getrusage(RUSAGE_THREAD, &r1);
    long long wall = now_ms() - t0;
    long long cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000 +
                    (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1000;
    if (cpu * 4 > wall)
        fail_msg("the job thread used %lld ms of CPU in %lld ms", cpu, wall);
    assert_true(emp_tk_progress_count(fx->tk) >= 2);
}

/* ---- errors ---- */

static void test_validation_422(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "10", NULL}, NULL);
    ready(fx);
    emp_result_t r = emp_tk_run(fx->tk, "job-422", "a1111",
                                "{\"prompt\":\"x\",\"steps\":\"abc\",\"styles\":[\"ok\",{}]}");
    expect_fail(fx, r, EMP_FAIL, "invalid_request", "body.steps: value is not a valid integer");
    assert_non_null(strstr(emp_tk_fail_message(fx->tk), "body.styles[1]: str type expected"));

    r = emp_tk_run(fx->tk, "job-400", "a1111", "{\"sampler_name\":\"No Such Sampler\"}");
    expect_fail(fx, r, EMP_FAIL, "invalid_request", "Sampler not found");

    /* a payload that is not an object never reaches A1111 */
    r = emp_tk_run(fx->tk, "job-bad", "a1111", "[\"prompt\"]");
    expect_fail(fx, r, EMP_FAIL, "invalid_payload", "JSON object");
}

static void test_500_and_oom(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "20", NULL}, NULL);
    ready(fx);
    assert_int_equal(fake_a1111_config(&fx->fake,
        "{\"error_next\":{\"status\":500,\"error\":\"RuntimeError\",\"detail\":\"Model load failed\","
        "\"errors\":\"model 'x.safetensors' not found\",\"after_steps\":1}}"), 0);
    emp_result_t r = emp_tk_run(fx->tk, "job-500", "a1111", "{\"steps\":5}");
    expect_fail(fx, r, EMP_RETRY, "backend_error", "A1111 HTTP 500 RuntimeError: Model load failed");

    assert_int_equal(fake_a1111_config(&fx->fake,
        "{\"error_next\":{\"status\":500,\"error\":\"OutOfMemoryError\",\"detail\":\"\","
        "\"errors\":\"CUDA out of memory. Tried to allocate 20.00 GiB\",\"after_steps\":2}}"), 0);
    r = emp_tk_run(fx->tk, "job-oom", "a1111", "{\"steps\":5,\"width\":4096,\"height\":4096}");
    expect_fail(fx, r, EMP_RETRY, "oom", "CUDA out of memory");
}

static void test_garbage_responses(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "20", NULL}, "max_response_bytes", "8192", NULL);
    ready(fx);
    assert_int_equal(fake_a1111_config(&fx->fake,
        "{\"raw_next\":{\"status\":200,\"body\":\"<html>oops</html>\",\"content_type\":\"text/html\"}}"), 0);
    emp_result_t r = emp_tk_run(fx->tk, "job-g1", "a1111", "{\"steps\":2}");
    expect_fail(fx, r, EMP_RETRY, "bad_response", "not JSON");

    assert_int_equal(fake_a1111_config(&fx->fake,
        "{\"raw_next\":{\"status\":200,\"body\":\"{\\\"images\\\": 5, \\\"info\\\": 7}\"}}"), 0);
    r = emp_tk_run(fx->tk, "job-g2", "a1111", "{\"steps\":2}");
    expect_fail(fx, r, EMP_RETRY, "bad_response", "no images");

    assert_int_equal(fake_a1111_config(&fx->fake,
        "{\"raw_next\":{\"status\":502,\"body\":\"<html>Bad Gateway</html>\",\"content_type\":\"text/html\"}}"), 0);
    r = emp_tk_run(fx->tk, "job-g3", "a1111", "{\"steps\":2}");
    expect_fail(fx, r, EMP_RETRY, "backend_error", "502");

    /* garbage progress answers are ignored; the job still succeeds */
    assert_int_equal(fake_a1111_config(&fx->fake, "{\"progress_raw\":\"{\\\"state\\\": [1,2\"}"), 0);
    r = emp_tk_run(fx->tk, "job-g4", "a1111", "{\"steps\":10}");
    assert_int_equal(r, EMP_OK);
    assert_int_equal(fake_a1111_config(&fx->fake, "{\"progress_raw\":null}"), 0);

    /* an answer over max_response_bytes */
    r = emp_tk_run(fx->tk, "job-g5", "a1111", "{\"steps\":1,\"batch_size\":30}");
    expect_fail(fx, r, EMP_FAIL, "response_too_large", "max_response_bytes");
}

/* ---- 64-bit seeds ---- */

static void test_seed_64bit(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, (const char *const[]){"--step-ms", "10", NULL}, NULL);
    ready(fx);
    const char *seeds[] = {"18446744073709551557", "9007199254740993"};
    for (size_t i = 0; i < 2; i++) {
        char payload[128], want[128];
        snprintf(payload, sizeof payload, "{\"prompt\":\"s\",\"steps\":2,\"seed\":%s}", seeds[i]);
        assert_int_equal(emp_tk_run(fx->tk, "job-seed", "a1111", payload), EMP_OK);
        char *body = fake_get(fx, "/fake/last-body");
        snprintf(want, sizeof want, "\"seed\":%s", seeds[i]);
        assert_non_null(strstr(body, want));
        free(body);
        const char *res = emp_tk_result(fx->tk);
        assert_non_null(strstr(res, want)); /* parameters, compact */
        snprintf(want, sizeof want, "\"seed\": %s", seeds[i]);
        assert_non_null(strstr(res, want)); /* info, as A1111's json.dumps wrote it */
        snprintf(want, sizeof want, "\"all_seeds\": [%s]", seeds[i]);
        assert_non_null(strstr(res, want));
    }
}

/* ---- readiness, auth ---- */

static void test_down_then_up(void **st)
{
    fixture_t *fx = *st;
    setup_with(fx, NULL, "connect_timeout_ms", "1000", NULL);
    int port = fx->fake.port;
    fake_a1111_stop(&fx->fake); /* the port is now closed */
    assert_int_equal(emp_tk_create(fx->tk), 0);
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_NOT_READY);
    emp_result_t r = emp_tk_run(fx->tk, "job-down", "a1111", "{\"steps\":1}");
    expect_fail(fx, r, EMP_RETRY, "backend_down", "not reachable");

    assert_int_equal(fake_a1111_start(&fx->fake, port, (const char *const[]){"--step-ms", "10", NULL}), 0);
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_READY);
    assert_int_equal(emp_tk_run(fx->tk, "job-up", "a1111", "{\"steps\":2}"), EMP_OK);
}

static void test_auth(void **st)
{
    fixture_t *fx = *st;
    const char *const auth[] = {"--api-auth", "alice:s3cret", "--step-ms", "10", NULL};

    setup_with(fx, auth, NULL); /* no credentials */
    assert_int_equal(emp_tk_create(fx->tk), 0);
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_FATAL);
    teardown_fx(fx);

    setup_with(fx, auth, "username", "alice", "password", "wrong", NULL);
    assert_int_equal(emp_tk_create(fx->tk), 0);
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_FATAL);
    teardown_fx(fx);

    setup_with(fx, auth, "username", "alice", "password", "s3cret", NULL);
    ready(fx);
    assert_int_equal(emp_tk_run(fx->tk, "job-auth", "a1111", "{\"steps\":2}"), EMP_OK);
    /* the credentials change under a running worker: retry elsewhere, then stop */
    assert_int_equal(fake_a1111_config(&fx->fake, "{\"api_auth\":\"alice:rotated\"}"), 0);
    emp_result_t r = emp_tk_run(fx->tk, "job-auth-2", "a1111", "{\"steps\":2}");
    expect_fail(fx, r, EMP_RETRY, "auth", "Incorrect username or password");
    assert_null(strstr(emp_tk_fail_message(fx->tk), "s3cret"));
    assert_int_equal(emp_tk_start(fx->tk), EMP_START_FATAL);
}

/* ---- output = files ---- */

static void test_output_files(void **st)
{
    fixture_t *fx = *st;
    char dir[] = "/tmp/a1111-files-XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    setup_with(fx, (const char *const[]){"--step-ms", "10", NULL}, "output", "files",
               "output_dir", dir, NULL);
    ready(fx);
    assert_int_equal(emp_tk_run(fx->tk, "job-files", "a1111", "{\"steps\":2,\"batch_size\":2}"), EMP_OK);
    const char *res = emp_tk_result(fx->tk);
    assert_null(strstr(res, "\"images\""));
    assert_non_null(strstr(res, "\"mime_type\":\"image/png\""));
    for (int i = 0; i < 2; i++) {
        unsigned char sig[8];
        snprintf(path, sizeof path, "%s/job-files-%d.png", dir, i);
        assert_non_null(strstr(res, path));
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(sig, 1, 8, f), 8);
        fclose(f);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- options ---- */

static void bad_options(const char *const *kv, const char *want)
{
    emp_tk_t *tk = open_kit();
    for (size_t i = 0; kv[i]; i += 2)
        emp_tk_set_option(tk, kv[i], kv[i + 1]);
    assert_int_equal(emp_tk_create(tk), -1);
    if (strstr(emp_tk_errors(tk), want) == NULL)
        fail_msg("errors '%s' lack '%s'", emp_tk_errors(tk), want);
    emp_tk_close(tk);
}

static void test_options(void **st)
{
    (void)st;
    bad_options((const char *const[]){"output", "files", NULL}, "needs output_dir");
    bad_options((const char *const[]){"host", "http://example", NULL}, "not a host name");
    bad_options((const char *const[]){"username", "u", NULL}, "set both username and password");
    bad_options((const char *const[]){"port", "70000", NULL}, "out of range");
    bad_options((const char *const[]){"poll_interval_ms", "fast", NULL}, "expected an integer");
    bad_options((const char *const[]){"output", "s3", NULL}, "not one of the allowed values");
    bad_options((const char *const[]){"endpoint", "/x", NULL}, "unknown option");

    /* the default port is 3001 + the GPU index: nothing listens there in the test */
    emp_tk_t *tk = open_kit();
    emp_tk_set_gpu(tk, 7);
    emp_tk_set_option(tk, "connect_timeout_ms", "500");
    assert_int_equal(emp_tk_create(tk), 0);
    assert_int_equal(emp_tk_run(tk, "job-port", "a1111", "{}"), EMP_RETRY);
    assert_non_null(strstr(emp_tk_fail_message(tk), "127.0.0.1:3008"));
    emp_tk_close(tk);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_txt2img_progress, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_txt2img_progress_webui, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_img2img, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_ignored, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_job_global, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_job_webui, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_slow_progress_no_spin, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_validation_422, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_500_and_oom, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_responses, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_seed_64bit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_down_then_up, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_output_files, fx_setup, fx_teardown),
        cmocka_unit_test(test_options),
    };
    int rc = cmocka_run_group_tests_name("a1111_plugin", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
