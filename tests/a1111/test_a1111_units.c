/*
 * test_a1111_units.c - the a1111 connector's pure parts, linked directly (no backend):
 * payload splicing, error classification, progress attribution, result building, and
 * robustness of every parser of untrusted bodies against garbage. The raw JSON scanner itself
 * is tested in tests/plugin-common.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "a1111_errors.h"
#include "a1111_probe.h"
#include "a1111_progress.h"
#include "a1111_request.h"
#include "a1111_result.h"
#include "ebuf.h"
#include "ejson.h"

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- request building ---- */

static char *build(const char *payload, const char *task, a1111_mode_t *mode, char *err)
{
    a1111_request_t r;
    if (a1111_request_build(payload, strlen(payload), task, &r, err, 256) != 0)
        return NULL;
    char *out = strdup(r.body.data);
    *mode = r.mode;
    a1111_request_free(&r);
    assert_int_equal(ejson_validate(out, strlen(out)), 0);
    return out;
}

static void test_request_defaults_and_raw_bytes(void **st)
{
    (void)st;
    a1111_mode_t mode;
    char err[256];
    char *b = build("{ \"prompt\" : \"a cat\",\"seed\":18446744073709551557, \"cfg_scale\": 7.50,"
                    "\"steps\":30,\"override_settings\":{\"x\":9007199254740993}}",
                    "job-1", &mode, err);
    assert_non_null(b);
    assert_int_equal(mode, A1111_TXT2IMG);
    /* the user's members byte for byte */
    assert_non_null(strstr(b, "\"seed\":18446744073709551557"));
    assert_non_null(strstr(b, "\"cfg_scale\": 7.50"));
    assert_non_null(strstr(b, "{\"x\":9007199254740993}"));
    /* defaults only for what is missing */
    assert_int_equal(count_of(b, "\"steps\""), 1);
    assert_int_equal(count_of(b, "\"seed\""), 1);
    assert_int_equal(count_of(b, "\"cfg_scale\""), 1);
    assert_non_null(strstr(b, "\"width\":512"));
    assert_non_null(strstr(b, "\"height\":512"));
    assert_non_null(strstr(b, "\"sampler_name\":\"Euler a\""));
    assert_non_null(strstr(b, "\"scheduler\":\"automatic\""));
    assert_non_null(strstr(b, "\"batch_size\":1"));
    assert_non_null(strstr(b, "\"n_iter\":1"));
    assert_non_null(strstr(b, "\"do_not_save_samples\":true"));
    assert_non_null(strstr(b, "\"do_not_save_grid\":true"));
    assert_non_null(strstr(b, "\"override_settings_restore_afterwards\":true"));
    assert_non_null(strstr(b, "\"force_task_id\":\"job-1\""));
    free(b);

    /* empty object: every default, and a job id that needs escaping */
    b = build("{}", "j\"1\\", &mode, err);
    assert_non_null(b);
    assert_non_null(strstr(b, "\"steps\":20"));
    assert_non_null(strstr(b, "\"seed\":-1"));
    assert_non_null(strstr(b, "\"force_task_id\":\"j\\\"1\\\\\""));
    free(b);

    /* a legacy sampler_index keeps its meaning: no sampler_name default */
    b = build("{\"sampler_index\":\"DDIM\"}", "j", &mode, err);
    assert_int_equal(count_of(b, "sampler_name"), 0);
    free(b);

    /* escaped key names count as the field */
    b = build("{\"st\\u0065ps\":5}", "j", &mode, err);
    assert_int_equal(count_of(b, "\"steps\""), 0);
    free(b);
}

static void test_request_routing(void **st)
{
    (void)st;
    a1111_mode_t mode;
    char err[256];
    char *b = build("{\"init_images\":[\"iVBO\"],\"force_task_id\":\"theirs\",\"prompt\":\"p\"}", "ours",
                    &mode, err);
    assert_int_equal(mode, A1111_IMG2IMG);
    assert_int_equal(count_of(b, "force_task_id"), 1);
    assert_non_null(strstr(b, "\"force_task_id\":\"ours\""));
    free(b);

    b = build("{\"init_images\":[],\"prompt\":\"p\"}", "j", &mode, err);
    assert_int_equal(mode, A1111_TXT2IMG);
    free(b);

    b = build("{\"mode\":\"img2img\",\"prompt\":\"p\"}", "j", &mode, err);
    assert_int_equal(mode, A1111_IMG2IMG);
    assert_null(strstr(b, "\"mode\""));
    free(b);

    b = build("{\"endpoint\":\"/sdapi/v1/txt2img\",\"init_images\":[\"x\"]}", "j", &mode, err);
    assert_int_equal(mode, A1111_TXT2IMG);
    assert_null(strstr(b, "endpoint"));
    free(b);

    assert_null(build("{\"endpoint\":\"/sdapi/v1/server-kill\"}", "j", &mode, err));
    assert_non_null(strstr(err, "endpoint"));
    assert_null(build("{\"mode\":3}", "j", &mode, err));
    assert_null(build("[1,2]", "j", &mode, err));
    assert_non_null(strstr(err, "JSON object"));
    assert_null(build("{\"prompt\":", "j", &mode, err));
    assert_non_null(strstr(err, "not valid JSON"));
    assert_string_equal(a1111_mode_path(A1111_IMG2IMG), "/sdapi/v1/img2img");
    assert_string_equal(a1111_mode_state_job(A1111_TXT2IMG), "scripts_txt2img");
}

/* ---- error classification ---- */

static a1111_error_t classify(long status, const char *body)
{
    a1111_error_t e;
    a1111_error_from_http(status, body, body ? strlen(body) : 0, &e);
    return e;
}

static void test_errors(void **st)
{
    (void)st;
    a1111_error_t e = classify(422, "{\"detail\":[{\"loc\":[\"body\",\"steps\"],\"msg\":\"value is not a "
                                    "valid integer\",\"type\":\"type_error.integer\"},{\"loc\":[\"body\","
                                    "\"styles\",1],\"msg\":\"str type expected\",\"type\":\"type_error.str\"}]}");
    assert_int_equal(e.cls, EMP_FAIL);
    assert_string_equal(e.code, "invalid_request");
    assert_non_null(strstr(e.message, "body.steps: value is not a valid integer"));
    assert_non_null(strstr(e.message, "body.styles[1]: str type expected"));

    e = classify(422, "{\"error\":\"HTTPException\",\"detail\":\"Script 'foo' not found\",\"body\":\"\",\"errors\":\"\"}");
    assert_int_equal(e.cls, EMP_FAIL);
    assert_non_null(strstr(e.message, "Script 'foo' not found"));

    e = classify(500, "{\"error\":\"OutOfMemoryError\",\"detail\":\"\",\"body\":\"\",\"errors\":\"CUDA out of "
                      "memory. Tried to allocate 2.00 GiB\"}");
    assert_int_equal(e.cls, EMP_RETRY);
    assert_string_equal(e.code, "oom");
    assert_non_null(strstr(e.message, "CUDA out of memory"));

    e = classify(500, "{\"error\":\"RuntimeError\",\"detail\":\"\",\"body\":\"\",\"errors\":\"model 'x' not found\"}");
    assert_int_equal(e.cls, EMP_RETRY);
    assert_string_equal(e.code, "backend_error");
    assert_non_null(strstr(e.message, "RuntimeError: model 'x' not found"));

    e = classify(500, "{\"error\":\"HTTPException\",\"detail\":\"Invalid encoded image\",\"body\":\"\",\"errors\":\"\"}");
    assert_int_equal(e.cls, EMP_FAIL);
    assert_string_equal(e.code, "invalid_image");

    e = classify(400, "{\"error\":\"HTTPException\",\"detail\":\"Sampler not found\",\"body\":\"\",\"errors\":\"\"}");
    assert_int_equal(e.cls, EMP_FAIL);
    assert_non_null(strstr(e.message, "Sampler not found"));

    e = classify(401, "{\"error\":\"HTTPException\",\"detail\":\"Incorrect username or password\",\"body\":\"\",\"errors\":\"\"}");
    assert_int_equal(e.auth, 1);
    assert_int_equal(e.cls, EMP_RETRY);
    assert_string_equal(e.code, "auth");

    e = classify(502, "<html><body>Bad Gateway\n\x01</body></html>");
    assert_int_equal(e.cls, EMP_RETRY);
    assert_non_null(strstr(e.message, "unexpected body: <html>"));
    assert_null(strchr(e.message, '\n'));

    e = classify(503, NULL);
    assert_int_equal(e.cls, EMP_RETRY);
    e = classify(404, "{\"detail\":\"Not Found\"}");
    assert_int_equal(e.cls, EMP_FAIL);

    /* a long validation list is cut, and the message stays bounded */
    ebuf_t big;
    ebuf_init(&big, 0);
    ebuf_puts(&big, "{\"detail\":[");
    for (int i = 0; i < 500; i++)
        ebuf_printf(&big, "%s{\"loc\":[\"body\",\"f%d\"],\"msg\":\"%0300d\",\"type\":\"t\"}",
                    i ? "," : "", i, 0);
    ebuf_puts(&big, "]}");
    e = classify(422, big.data);
    assert_true(strlen(e.message) < sizeof e.message);
    assert_non_null(strstr(e.message, "body.f0"));
    ebuf_free(&big);
}

/* ---- progress ---- */

static a1111_progress_snap_t snap(const char *job, const char *ts, long long count, long long no,
                                  long long step, long long steps)
{
    char body[512];
    a1111_progress_snap_t s;
    snprintf(body, sizeof body,
             "{\"progress\":0.5,\"eta_relative\":2.5,\"state\":{\"skipped\":false,\"interrupted\":false,"
             "\"job\":\"%s\",\"job_count\":%lld,\"job_timestamp\":\"%s\",\"job_no\":%lld,"
             "\"sampling_step\":%lld,\"sampling_steps\":%lld},\"current_image\":null,\"textinfo\":null}",
             job, count, ts, no, step, steps);
    assert_int_equal(a1111_progress_parse(body, strlen(body), &s), 0);
    return s;
}

static void test_progress_parse(void **st)
{
    (void)st;
    a1111_progress_snap_t s = snap("scripts_txt2img", "20240727120000", 2, 1, 5, 20);
    assert_string_equal(s.job, "scripts_txt2img");
    assert_int_equal(s.job_count, 2);
    assert_int_equal(s.sampling_step, 5);
    assert_true(s.eta_relative > 2.4 && s.eta_relative < 2.6);
    const char *bad[] = {"", "null", "[]", "{\"x\":1}", "garbage", "{\"progress\":\"a\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(a1111_progress_parse(bad[i], strlen(bad[i]), &s), -1);
    a1111_task_snap_t t;
    const char *tb = "{\"active\":false,\"queued\":true,\"completed\":false,\"progress\":null,\"eta\":null,"
                     "\"live_preview\":null,\"id_live_preview\":-1,\"textinfo\":\"In queue: 1/2\"}";
    assert_int_equal(a1111_task_parse(tb, strlen(tb), &t), 0);
    assert_true(t.queued && !t.active);
    assert_string_equal(t.textinfo, "In queue: 1/2");
    assert_int_equal(a1111_task_parse("{\"detail\":\"Not Found\"}", 22, &t), -1);
}

static void test_tracker_global(void **st)
{
    (void)st;
    a1111_tracker_t t;
    double f = -1, last = -1;
    char msg[160];
    a1111_progress_snap_t s;

    /* idle at baseline: the first scripts_txt2img job is ours */
    a1111_tracker_init(&t, "scripts_txt2img", 0);
    a1111_tracker_baseline(&t, NULL);
    s = snap("", "0", 0, 0, 0, 0);
    assert_int_equal(a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg), 0);
    s = snap("scripts_txt2img", "20240727120001", -1, 0, 0, 0);
    assert_int_equal(a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg), 1);
    assert_int_equal(t.owner, A1111_OWNER_OURS);
    for (int step = 1; step <= 20; step += 3) {
        s = snap("scripts_txt2img", "20240727120001", 2, step > 10, step % 10, 10);
        if (a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg)) {
            assert_true(f >= last);
            last = f;
        }
    }
    assert_true(last > 0.5 && last <= 0.99);
    assert_non_null(strstr(msg, "batch 2/2"));
    assert_non_null(strstr(msg, "eta 2.5 s"));

    /* a Gradio UI job (state.job "task(...)") is never ours */
    a1111_tracker_init(&t, "scripts_txt2img", 0);
    a1111_tracker_baseline(&t, NULL);
    s = snap("task(abc)", "20240727120002", 1, 0, 3, 10);
    assert_int_equal(a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg), 0);
    assert_int_equal(t.owner, A1111_OWNER_OTHER);

    /* busy at baseline with another API job: not ours until a new job starts */
    a1111_tracker_init(&t, "scripts_txt2img", 0);
    s = snap("scripts_txt2img", "20240727120003", 1, 0, 3, 15);
    a1111_tracker_baseline(&t, &s);
    assert_int_equal(t.owner, A1111_OWNER_OTHER);
    s = snap("scripts_txt2img", "20240727120003", 1, 0, 9, 15);
    assert_int_equal(a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg), 0);
    assert_int_equal(t.owner, A1111_OWNER_OTHER);
    /* same second, but the counters went back: a new job, ours */
    s = snap("scripts_txt2img", "20240727120003", 1, 0, 1, 10);
    assert_int_equal(a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg), 1);
    assert_int_equal(t.owner, A1111_OWNER_OURS);
    assert_non_null(strstr(msg, "step 1/10"));

    /* img2img request: a txt2img job is someone else's */
    a1111_tracker_init(&t, "scripts_img2img", 0);
    a1111_tracker_baseline(&t, NULL);
    s = snap("scripts_txt2img", "20240727120004", 1, 0, 1, 10);
    a1111_tracker_update(&t, &s, NULL, &f, msg, sizeof msg);
    assert_int_equal(t.owner, A1111_OWNER_OTHER);
}

static void test_tracker_tracked(void **st)
{
    (void)st;
    a1111_tracker_t t;
    a1111_task_snap_t q = {.queued = 1}, a = {.active = 1};
    double f;
    char msg[160];
    snprintf(q.textinfo, sizeof q.textinfo, "In queue: 1/1");
    a1111_tracker_init(&t, "scripts_txt2img", 1);
    a1111_progress_snap_t other = snap("scripts_txt2img", "1", 1, 0, 7, 10);
    assert_int_equal(a1111_tracker_update(&t, &other, &q, &f, msg, sizeof msg), 1);
    assert_int_equal(t.owner, A1111_OWNER_OTHER);
    assert_true(f == 0);
    assert_non_null(strstr(msg, "In queue: 1/1"));
    assert_int_equal(a1111_tracker_update(&t, &other, &q, &f, msg, sizeof msg), 0); /* no repeat */
    a1111_progress_snap_t ours = snap("scripts_txt2img", "2", 1, 0, 4, 8);
    assert_int_equal(a1111_tracker_update(&t, &ours, &a, &f, msg, sizeof msg), 1);
    assert_int_equal(t.owner, A1111_OWNER_OURS);
    assert_true(f > 0.49 && f < 0.51);
    /* poll failed this tick: unknown, nothing reported */
    assert_int_equal(a1111_tracker_update(&t, &ours, NULL, &f, msg, sizeof msg), 0);
    assert_int_equal(t.owner, A1111_OWNER_UNKNOWN);
}

/* ---- result ---- */

static const char ok_body[] =
    "{\"images\":[\"iVBORw0KGgo=\",\"iVBORw0KGgo=\"],\"parameters\":{\"prompt\":\"p\",\"seed\":18446744073709551557,"
    "\"cfg_scale\":7.0},\"info\":\"{\\\"seed\\\": 18446744073709551557, \\\"all_seeds\\\": [18446744073709551557, "
    "9007199254740993], \\\"infotexts\\\": [\\\"p\\\\nSteps: 20\\\"]}\"}";

static void test_result_inline(void **st)
{
    (void)st;
    ebuf_t out;
    a1111_error_t err;
    size_t n;
    a1111_result_opts_t o = {A1111_OUTPUT_INLINE, NULL, "job"};
    ebuf_init(&out, 0);
    assert_int_equal(a1111_result_build(ok_body, strlen(ok_body), &o, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ejson_validate(out.data, out.len), 0);
    assert_non_null(strstr(out.data, "\"images\":[\"iVBORw0KGgo=\",\"iVBORw0KGgo=\"]"));
    assert_non_null(strstr(out.data, "\"parameters\":{\"prompt\":\"p\",\"seed\":18446744073709551557,\"cfg_scale\":7.0}"));
    assert_non_null(strstr(out.data, "\"info\":{\"seed\": 18446744073709551557, \"all_seeds\": "
                                     "[18446744073709551557, 9007199254740993], \"infotexts\": [\"p\\nSteps: 20\"]}"));

    /* info that is a string but not JSON stays a string */
    const char *b2 = "{\"images\":[],\"parameters\":{},\"info\":\"not json\"}";
    assert_int_equal(a1111_result_build(b2, strlen(b2), &o, &out, &n, &err), 0);
    assert_non_null(strstr(out.data, "\"info\":\"not json\""));
    assert_int_equal(n, 0);

    const char *bad[] = {"", "<html>", "[]", "{}", "{\"images\":5}", "{\"images\":[1]}",
                         "{\"images\":[\"a\"],", "{\"images\":{\"a\":1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(a1111_result_build(bad[i], strlen(bad[i]), &o, &out, &n, &err), -1);
        assert_int_equal(err.cls, EMP_RETRY);
        assert_string_equal(err.code, "bad_response");
    }
    ebuf_free(&out);
}

static void test_result_files(void **st)
{
    (void)st;
    char dir[] = "/tmp/a1111-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* an 8-byte PNG signature + 2 bytes, base64 */
    const char *body = "{\"images\":[\"iVBORw0KGgoAAA==\",\"/9j/4AAQ\"],\"parameters\":{},\"info\":\"{}\"}";
    ebuf_t out;
    a1111_error_t err;
    size_t n;
    a1111_result_opts_t o = {A1111_OUTPUT_FILES, dir, "job/../x"};
    ebuf_init(&out, 0);
    assert_int_equal(a1111_result_build(body, strlen(body), &o, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    char p0[512], p1[512];
    snprintf(p0, sizeof p0, "%s/job_.._x-0.png", dir);
    snprintf(p1, sizeof p1, "%s/job_.._x-1.jpg", dir);
    struct stat sb;
    assert_int_equal(stat(p0, &sb), 0);
    assert_int_equal(sb.st_size, 10);
    assert_int_equal(stat(p1, &sb), 0);
    assert_non_null(strstr(out.data, "\"mime_type\":\"image/png\",\"size\":10"));
    assert_non_null(strstr(out.data, "\"mime_type\":\"image/jpeg\""));
    assert_null(strstr(out.data, "\"images\""));
    unlink(p0);
    unlink(p1);

    /* a bad image after a good one: nothing is left behind */
    const char *bad = "{\"images\":[\"iVBORw0KGgoAAA==\",\"!!!\"],\"parameters\":{},\"info\":\"{}\"}";
    assert_int_equal(a1111_result_build(bad, strlen(bad), &o, &out, &n, &err), -1);
    assert_string_equal(err.code, "bad_response");
    assert_int_not_equal(stat(p0, &sb), 0);
    ebuf_free(&out);
    rmdir(dir);
}

static void test_base64_and_models(void **st)
{
    (void)st;
    ebuf_t b;
    ebuf_init(&b, 0);
    assert_int_equal(a1111_base64_decode("aGVsbG8=", 8, &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    ebuf_reset(&b);
    assert_int_equal(a1111_base64_decode("data:image/png;base64,aGk", 25, &b), 0);
    assert_memory_equal(b.data, "hi", 2);
    ebuf_reset(&b);
    assert_int_equal(a1111_base64_decode("a", 1, &b), -1);
    assert_int_equal(a1111_base64_decode("a b=", 4, &b), -1);

    ebuf_reset(&b);
    const char *models = "[{\"title\":\"v1.safetensors [abc]\",\"model_name\":\"v1\"},{\"title\":\"t2\"},{\"x\":1},7]";
    assert_int_equal(a1111_models_parse(models, strlen(models), &b), 0);
    assert_string_equal(b.data, "[\"v1\",\"t2\"]");
    ebuf_reset(&b);
    assert_int_equal(a1111_models_parse("{\"detail\":\"Not Found\"}", 22, &b), -1);
    ebuf_free(&b);
}

/* ---- garbage: every parser of untrusted bodies, fed random bytes and every truncation ---- */

static void feed_all(const char *data, size_t len)
{
    a1111_progress_snap_t ps;
    a1111_task_snap_t ts;
    a1111_error_t e;
    ebuf_t b;
    size_t n;
    char err[256];
    a1111_result_opts_t o = {A1111_OUTPUT_INLINE, NULL, "j"};
    a1111_request_t r;
    ebuf_init(&b, 0);
    a1111_progress_parse(data, len, &ps);
    a1111_task_parse(data, len, &ts);
    a1111_error_from_http(500, data, len, &e);
    a1111_error_from_http(422, data, len, &e);
    a1111_result_build(data, len, &o, &b, &n, (a1111_error_t[1]){0});
    ebuf_reset(&b);
    a1111_models_parse(data, len, &b);
    ebuf_reset(&b);
    a1111_base64_decode(data, len, &b);
    if (a1111_request_build(data, len, "j", &r, err, sizeof err) == 0)
        a1111_request_free(&r);
    ebuf_free(&b);
}

static void test_garbage(void **st)
{
    (void)st;
    const char *samples[] = {ok_body,
                             "{\"detail\":[{\"loc\":[\"body\",3,{\"x\":[]}],\"msg\":null,\"type\":7}]}",
                             "{\"progress\":1e400,\"eta_relative\":-1e400,\"state\":{\"job_count\":1e300,"
                             "\"job_no\":-9e300,\"sampling_step\":\"x\",\"sampling_steps\":[],\"job\":5}}",
                             "{\"error\":{},\"detail\":[],\"errors\":[1]}"};
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        size_t len = strlen(samples[s]);
        char *copy = malloc(len);
        for (size_t cut = 0; cut <= len; cut++) { /* every prefix, in an exact-size buffer */
            memcpy(copy, samples[s], cut);
            feed_all(copy, cut);
        }
        free(copy);
    }
    srand(42);
    unsigned char buf[600];
    const char alphabet[] = "{}[]\",:0123456789.-+eE\\u tfnrl\x01\xff";
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(rand() % (int)sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (unsigned char)(i % 2 ? rand() : alphabet[rand() % (int)(sizeof alphabet - 1)]);
        feed_all((const char *)buf, len);
    }
    feed_all(NULL, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_defaults_and_raw_bytes),
        cmocka_unit_test(test_request_routing),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_progress_parse),
        cmocka_unit_test(test_tracker_global),
        cmocka_unit_test(test_tracker_tracked),
        cmocka_unit_test(test_result_inline),
        cmocka_unit_test(test_result_files),
        cmocka_unit_test(test_base64_and_models),
        cmocka_unit_test(test_garbage),
    };
    int rc = cmocka_run_group_tests_name("a1111_units", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
