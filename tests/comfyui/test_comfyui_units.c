/*
 * test_comfyui_units.c - the ComfyUI plugin's parsers against the captured fixtures of both
 * protocol generations, plus robustness runs (truncations, seeded byte flips, random bytes)
 * over the same inputs; run under ASan/UBSan in the sanitizer build.
 *
 * argv[1]: the fixtures folder (tests/fakes/comfyui_fixtures).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "comfyui_errors.h"
#include "comfyui_events.h"
#include "comfyui_history.h"
#include "comfyui_outputs.h"
#include "comfyui_probe.h"
#include "comfyui_progress.h"
#include "comfyui_util.h"
#include "ejson.h"

static const char *g_dir;
static const char *const VERSIONS[] = {"v0.3.64-a125cd84", "2024-07-20-95fa9545"};

static cJSON *load_fixture(const char *version, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s.json", g_dir, version, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static const char *prompt_id_of(const cJSON *fx)
{
    static char id[64];
    cJSON *r = cJSON_Parse(cJSON_GetObjectItem(fx, "post_response")->valuestring);
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(r, "prompt_id")->valuestring);
    cJSON_Delete(r);
    return id;
}

/* Rebuild a binary frame from its capture record (header + magic, padded to len). */
static unsigned char *binary_frame(const cJSON *fr, size_t *len)
{
    size_t n = (size_t)cJSON_GetObjectItem(fr, "len")->valuedouble;
    unsigned char *b = calloc(1, n);
    const char *hex = cJSON_GetObjectItem(fr, "head_hex")->valuestring;
    size_t h = strlen(hex) / 2;
    for (size_t i = 0; i < h && i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &b[i]);
    const cJSON *meta = cJSON_GetObjectItem(fr, "metadata");
    if (meta) { /* event 4: rebuild the metadata blob exactly */
        char *mj = cJSON_PrintUnformatted(meta);
        uint32_t ml = (uint32_t)strlen(mj);
        uint32_t be = htonl(ml);
        memcpy(b + 4, &be, 4);
        if (8 + ml <= n)
            memcpy(b + 8, mj, ml);
        free(mj);
    }
    *len = n;
    return b;
}

/* ---------------- URL encoding (JSON scanner and buffer: tests/plugin-common) ---------------- */

static void test_urlencode(void **s)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    cfy_urlencode(&b, "a b/ü.png");
    assert_string_equal(b.data, "a%20b%2F%C3%BC.png");
    ebuf_free(&b);
}

/* ---------------- events ---------------- */

static void test_events_all_fixture_frames(void **s)
{
    static const char *files[] = {"01_basic",           "02_cached_rerun", "03_progress_legacy",
                                  "04_progress_flags",  "05_exec_error",   "06_interrupt",
                                  "08_queue_ops",       "09b_loadimage",   "10_no_client_id",
                                  "11_custom_prompt_id"};
    for (int v = 0; v < 2; v++)
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            cJSON *fx = load_fixture(VERSIONS[v], files[f]);
            const cJSON *fr;
            int ends = 0;
            cJSON_ArrayForEach(fr, cJSON_GetObjectItem(fx, "ws"))
            {
                cfy_event_t ev;
                int rc;
                if (strcmp(cJSON_GetObjectItem(fr, "kind")->valuestring, "binary") == 0) {
                    size_t n;
                    unsigned char *b = binary_frame(fr, &n);
                    rc = cfy_event_parse(b, n, 1, &ev);
                    assert_int_equal(ev.type, CFY_EV_PREVIEW);
                    if (cJSON_GetObjectItem(fr, "metadata"))
                        assert_non_null(ev.prompt_id);
                    free(b);
                } else {
                    const char *raw = cJSON_GetObjectItem(fr, "raw")->valuestring;
                    rc = cfy_event_parse((const unsigned char *)raw, strlen(raw), 0, &ev);
                    if (ev.type == CFY_EV_EXECUTING && ev.node == NULL && ev.prompt_id)
                        ends++;
                    if (ev.type == CFY_EV_PROGRESS)
                        assert_true(ev.max > 0 && ev.value <= ev.max);
                    if (ev.type == CFY_EV_EXECUTION_ERROR) {
                        assert_string_equal(ev.node_type, "WireTestSlow");
                        assert_string_equal(ev.node_id, "2");
                        assert_string_equal(ev.exception_type, "RuntimeError");
                    }
                }
                if (rc != 0)
                    fail_msg("%s/%s: frame not understood", VERSIONS[v], files[f]);
                cfy_event_free(&ev);
            }
            /* every captured prompt with a client_id ends with exactly one end marker */
            assert_int_equal(ends, strcmp(files[f], "10_no_client_id") == 0 ? 0 : 1);
            cJSON_Delete(fx);
        }
}

static void test_events_garbage(void **s)
{
    static const char *texts[] = {
        "",
        "x",
        "{",
        "[]",
        "{\"type\":5}",
        "{\"type\":\"executing\"}",
        "{\"type\":\"executing\",\"data\":{}}",
        "{\"type\":\"progress\",\"data\":{\"value\":1,\"max\":0}}",
        "{\"type\":\"progress\",\"data\":{\"value\":\"1\",\"max\":2}}",
        "{\"type\":\"execution_cached\",\"data\":{\"nodes\":[1,null,{}]}}",
        "{\"type\":\"status\",\"data\":{\"status\":{\"exec_info\":{\"queue_remaining\":-1e308}}}}",
        "null",
        "\"status\""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cfy_event_t ev;
        cfy_event_parse((const unsigned char *)texts[i], strlen(texts[i]), 0, &ev);
        assert_true(ev.type == CFY_EV_MALFORMED || ev.type == CFY_EV_OTHER ||
                    ev.type == CFY_EV_EXECUTION_CACHED || ev.type == CFY_EV_STATUS);
        cfy_event_free(&ev);
    }
    static const unsigned char bins[][12] = {{0},
                                             {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff},
                                             {0, 0, 0, 4, 0, 0, 0, 9, '{', '}'},
                                             {0, 0, 0, 3, 0, 0, 1, 0, 'a'}};
    static const size_t blen[] = {1, 8, 10, 9};
    for (size_t i = 0; i < 4; i++) {
        cfy_event_t ev;
        assert_int_equal(cfy_event_parse(bins[i], blen[i], 1, &ev), -1);
        cfy_event_free(&ev);
    }
}

/* ---------------- history ---------------- */

static void check_history(const char *version, const char *file, cfy_hist_outcome_t want,
                          size_t files)
{
    cJSON *fx = load_fixture(version, file);
    char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(fx, "history"));
    cfy_history_t h;
    char err[200];
    assert_int_equal(cfy_history_parse(body, strlen(body), prompt_id_of(fx), &h, err, sizeof err),
                     0);
    assert_int_equal(h.outcome, want);
    assert_int_equal(h.nfiles, files);
    if (files) {
        assert_string_equal(h.files[0].node, "9");
        assert_string_equal(h.files[0].kind, "images");
        assert_string_equal(h.files[0].type, "output");
        assert_non_null(h.outputs_raw.p);
    }
    if (want == CFY_HIST_ERROR || want == CFY_HIST_INTERRUPTED)
        assert_string_equal(h.node_type, "WireTestSlow");
    if (want == CFY_HIST_ERROR)
        assert_non_null(strstr(h.exception_message, "requested failure at step 2"));
    cfy_history_free(&h);
    /* an unknown id is "pending", never an error */
    assert_int_equal(cfy_history_parse(body, strlen(body), "nope", &h, err, sizeof err), 0);
    assert_int_equal(h.outcome, CFY_HIST_PENDING);
    cfy_history_free(&h);
    free(body);
    cJSON_Delete(fx);
}

static void test_history_fixtures(void **s)
{
    for (int v = 0; v < 2; v++) {
        check_history(VERSIONS[v], "01_basic", CFY_HIST_SUCCESS, 1);
        check_history(VERSIONS[v], "02_cached_rerun", CFY_HIST_SUCCESS, 1);
        check_history(VERSIONS[v], "04_progress_flags", CFY_HIST_SUCCESS, 1);
        check_history(VERSIONS[v], "05_exec_error", CFY_HIST_ERROR, 0);
        check_history(VERSIONS[v], "06_interrupt", CFY_HIST_INTERRUPTED, 0);
        check_history(VERSIONS[v], "11_custom_prompt_id", CFY_HIST_SUCCESS, 1);
    }
    cfy_history_t h;
    char err[100];
    assert_int_equal(cfy_history_parse("{}", 2, "x", &h, err, sizeof err), 0);
    assert_int_equal(h.outcome, CFY_HIST_PENDING);
    assert_int_equal(cfy_history_parse("nope", 4, "x", &h, err, sizeof err), -1);
    /* pre-2024 entries have no status: finished means success */
    const char *old =
        "{\"x\": {\"prompt\": [], \"outputs\": {\"3\": {\"gifs\": [{\"filename\": \"a.gif\"}]}}}}";
    assert_int_equal(cfy_history_parse(old, strlen(old), "x", &h, err, sizeof err), 0);
    assert_int_equal(h.outcome, CFY_HIST_SUCCESS);
    assert_int_equal(h.nfiles, 1);
    assert_string_equal(h.files[0].subfolder, "");
    assert_string_equal(h.files[0].type, "output");
    cfy_history_free(&h);
}

/* Duplicate keys: the last wins (as in Python's json), for the entry and for its outputs, and
 * the files list comes from the same "outputs" member as the raw copy passed on. */
static void test_history_duplicate_keys(void **s)
{
    const char *body =
        "{\"x\": {\"outputs\": {\"1\": {\"images\": [{\"filename\": \"old.png\"}]}}},"
        " \"x\": {\"outputs\": {\"2\": {\"images\": [{\"filename\": \"a.png\"}]}},"
        " \"outputs\": {\"3\": {\"images\": [{\"filename\": \"b.png\"}]}}}}";
    cfy_history_t h;
    char err[100];
    assert_int_equal(cfy_history_parse(body, strlen(body), "x", &h, err, sizeof err), 0);
    assert_int_equal(h.outcome, CFY_HIST_SUCCESS);
    assert_int_equal(h.nfiles, 1);
    assert_string_equal(h.files[0].node, "3");
    assert_string_equal(h.files[0].filename, "b.png");
    assert_non_null(h.outputs_raw.p);
    assert_non_null(memmem(h.outputs_raw.p, h.outputs_raw.len, "b.png", 5));
    assert_null(memmem(h.outputs_raw.p, h.outputs_raw.len, "a.png", 5));
    cfy_history_free(&h);
}

/* ---------------- /prompt errors ---------------- */

static void describe(const char *body, size_t n, char *out, size_t outlen, char *type)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    cfy_prompt_error_describe(body, n, &b, 1500, type, 64);
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    ebuf_free(&b);
}

static void test_prompt_errors(void **s)
{
    struct {
        const char *file, *needle, *type;
    } cases[] = {
        {"07a_invalid_class", "NoSuchNode does not exist", "invalid_prompt"},
        {"07b_invalid_input", "node 1 (EmptyImage): ", "prompt_outputs_failed_validation"},
        {"07c_missing_input", "images: Required input is missing",
         "prompt_outputs_failed_validation"},
        {"07d_no_outputs", "Prompt has no outputs", "prompt_no_outputs"},
        {"07e_no_prompt", "o prompt", "no_prompt"},
        {"07f_bad_json", "Server got itself in trouble", ""},
    };
    for (int v = 0; v < 2; v++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            cJSON *fx = load_fixture(VERSIONS[v], cases[i].file);
            const cJSON *body = cJSON_GetObjectItem(fx, "post_response");
            if (body == NULL)
                body = cJSON_GetObjectItem(fx, "body");
            char msg[2048], type[64];
            describe(body->valuestring, strlen(body->valuestring), msg, sizeof msg, type);
            if (strstr(msg, cases[i].needle) == NULL)
                fail_msg("%s/%s: '%s' lacks '%s'", VERSIONS[v], cases[i].file, msg,
                         cases[i].needle);
            assert_string_equal(type, cases[i].type);
            cJSON_Delete(fx);
        }
    char msg[2048], type[64];
    describe(NULL, 0, msg, sizeof msg, type);
    assert_non_null(strstr(msg, "empty answer"));
}

static void test_classification_tables(void **s)
{
    assert_int_equal(cfy_http_classify(200), CFY_HTTP_CLASS_OK);
    assert_int_equal(cfy_http_classify(400), CFY_HTTP_CLASS_FAIL);
    assert_int_equal(cfy_http_classify(401), CFY_HTTP_CLASS_AUTH);
    assert_int_equal(cfy_http_classify(403), CFY_HTTP_CLASS_AUTH);
    assert_int_equal(cfy_http_classify(429), CFY_HTTP_CLASS_RETRY);
    assert_int_equal(cfy_http_classify(502), CFY_HTTP_CLASS_RETRY);
    assert_true(cfy_exception_is_oom("torch.OutOfMemoryError", ""));
    assert_true(cfy_exception_is_oom("RuntimeError", "CUDA out of memory. Tried to allocate"));
    assert_true(cfy_exception_is_oom(NULL, "Allocation on device 0"));
    assert_false(cfy_exception_is_oom("RuntimeError", "wiretest: requested failure at step 2\n"));
    assert_false(cfy_exception_is_oom(NULL, NULL));
}

/* ---------------- progress ---------------- */

static void test_progress_replay(void **s)
{
    for (int v = 0; v < 2; v++) {
        cJSON *fx = load_fixture(VERSIONS[v], "04_progress_flags");
        char *wf = cJSON_PrintUnformatted(
            cJSON_GetObjectItem(cJSON_GetObjectItem(fx, "request"), "prompt"));
        cfy_progress_t p;
        assert_int_equal(cfy_progress_init(&p, wf, strlen(wf)), 0);
        assert_int_equal(p.nnodes, 3);
        double last = 0;
        int saw_step = 0;
        const cJSON *fr;
        cJSON_ArrayForEach(fr, cJSON_GetObjectItem(fx, "ws"))
        {
            const cJSON *raw = cJSON_GetObjectItem(fr, "raw");
            if (!cJSON_IsString(raw))
                continue;
            cfy_event_t ev;
            cfy_event_parse((const unsigned char *)raw->valuestring, strlen(raw->valuestring), 0,
                            &ev);
            double f;
            char msg[128];
            if (cfy_progress_apply(&p, &ev, &f, msg, sizeof msg)) {
                assert_true(f >= last && f < 1.0);
                last = f;
                if (strcmp(msg, "WireTestSlow 2/4") == 0)
                    saw_step = 1;
            }
            cfy_event_free(&ev);
        }
        assert_true(saw_step);
        assert_true(last > 0.6); /* cached 1 + WireTestSlow done + SaveImage executed */
        cfy_progress_free(&p);
        free(wf);
        cJSON_Delete(fx);
    }
}

/* ---------------- robustness: truncations, byte flips, random bytes ---------------- */

static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

static void hammer(const unsigned char *data, size_t n, int binary, const char *pid, uint32_t *seed)
{
    unsigned char *copy = malloc(n + 1);
    /* truncations (every one for short inputs, ~24 spread over long ones: the suite runs under
     * ASan with slow unwinding in CI, where each parse costs) */
    size_t step = n / 24 + 1;
    for (size_t cut = 0; cut <= n; cut += step) {
        memcpy(copy, data, cut);
        cfy_event_t ev;
        cfy_event_parse(copy, cut, binary, &ev);
        cfy_event_free(&ev);
        cfy_history_t h;
        char err[64];
        if (cfy_history_parse((const char *)copy, cut, pid, &h, err, sizeof err) == 0)
            cfy_history_free(&h);
        ebuf_t b;
        ebuf_init(&b, 0);
        cfy_prompt_error_describe((const char *)copy, cut, &b, 300, err, sizeof err);
        cfy_models_parse((const char *)copy, cut, &b);
        ebuf_free(&b);
    }
    for (int round = 0; round < 24; round++) { /* seeded byte flips */
        memcpy(copy, data, n);
        for (int k = 0; k < 1 + (int)(lcg(seed) % 4) && n; k++)
            copy[lcg(seed) % n] = (unsigned char)lcg(seed);
        cfy_event_t ev;
        cfy_event_parse(copy, n, binary, &ev);
        cfy_event_free(&ev);
        cfy_history_t h;
        char err[64];
        if (cfy_history_parse((const char *)copy, n, pid, &h, err, sizeof err) == 0)
            cfy_history_free(&h);
        ejson_span_t sp;
        ejson_find((const char *)copy, n, "prompt", &sp);
        cfy_progress_t p;
        if (cfy_progress_init(&p, (const char *)copy, n) == 0)
            cfy_progress_free(&p);
    }
    free(copy);
}

static void test_robustness(void **s)
{
    uint32_t seed = 12345;
    static const char *files[] = {"01_basic",     "04_progress_flags", "05_exec_error",
                                  "06_interrupt", "07b_invalid_input", "03_progress_legacy"};
    for (int v = 0; v < 2; v++)
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            cJSON *fx = load_fixture(VERSIONS[v], files[f]);
            const cJSON *fr;
            cJSON_ArrayForEach(fr, cJSON_GetObjectItem(fx, "ws"))
            {
                const cJSON *raw = cJSON_GetObjectItem(fr, "raw");
                if (cJSON_IsString(raw)) {
                    hammer((const unsigned char *)raw->valuestring, strlen(raw->valuestring), 0,
                           "x", &seed);
                } else {
                    size_t n;
                    unsigned char *b = binary_frame(fr, &n);
                    hammer(b, n < 300 ? n : 300, 1, "x", &seed);
                    free(b);
                }
            }
            const cJSON *hist = cJSON_GetObjectItem(fx, "history");
            if (hist) {
                char *body = cJSON_PrintUnformatted(hist);
                hammer((const unsigned char *)body, strlen(body), 0, prompt_id_of(fx), &seed);
                free(body);
            }
            const cJSON *pr = cJSON_GetObjectItem(fx, "post_response");
            if (cJSON_IsString(pr))
                hammer((const unsigned char *)pr->valuestring, strlen(pr->valuestring), 0, "x",
                       &seed);
            cJSON_Delete(fx);
        }
    unsigned char rnd[4096];
    for (int round = 0; round < 200; round++) { /* random bytes */
        size_t n = lcg(&seed) % sizeof rnd;
        for (size_t i = 0; i < n; i++)
            rnd[i] = (unsigned char)lcg(&seed);
        cfy_event_t ev;
        cfy_event_parse(rnd, n, round & 1, &ev);
        cfy_event_free(&ev);
        cfy_history_t h;
        char err[64];
        if (cfy_history_parse((const char *)rnd, n, "x", &h, err, sizeof err) == 0)
            cfy_history_free(&h);
    }
}

/* ---------------- small helpers ---------------- */

static void test_base64(void **s)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    cfy_base64_encode(&b, (const unsigned char *)"hello world", 11);
    assert_string_equal(b.data, "aGVsbG8gd29ybGQ=");
    unsigned char *out;
    size_t n;
    assert_int_equal(cfy_base64_decode(b.data, b.len, &out, &n, 100), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "hello world", 11);
    free(out);
    assert_int_equal(cfy_base64_decode("aGVs\nbG8", 8, &out, &n, 100), 0); /* no padding, newline */
    assert_int_equal(n, 5);
    free(out);
    assert_int_equal(cfy_base64_decode("aGVsbG8gd29ybGQ=", 16, &out, &n, 4), -2);
    assert_int_equal(cfy_base64_decode("a$b=", 4, &out, &n, 100), -1);
    assert_int_equal(cfy_base64_decode("a", 1, &out, &n, 100), -1);
    ebuf_free(&b);
}

static void test_cdn_url(void **s)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    assert_int_equal(
        cfy_cdn_url("{\"storage\":{\"cdnUrl\":\"https://cdn.x.io/\"},\"prefix\":\"a/b\"}", "f.png",
                    &b),
        1);
    assert_string_equal(b.data, "https://cdn.x.io/a/b/f.png");
    ebuf_reset(&b);
    assert_int_equal(
        cfy_cdn_url("{\"storage\":{\"cdnUrl\":\"cdn.x.io\",\"prefix\":\"p\"}}", "f.png", &b), 1);
    assert_string_equal(b.data, "https://cdn.x.io/p/f.png");
    ebuf_reset(&b);
    assert_int_equal(
        cfy_cdn_url("\"{\\\"storage\\\":{\\\"cdnUrl\\\":\\\"c.io\\\"}}\"", "f.png", &b), 1);
    assert_string_equal(b.data, "https://c.io/f.png");
    ebuf_reset(&b);
    assert_int_equal(cfy_cdn_url("", "f.png", &b), 0);
    assert_int_equal(cfy_cdn_url("{\"storage\":{}}", "f.png", &b), 0);
    assert_int_equal(cfy_cdn_url("garbage", "f.png", &b), 0);
    ebuf_free(&b);
}

static int priv4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return cfy_addr_is_private((struct sockaddr *)&a);
}

static int priv6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return cfy_addr_is_private((struct sockaddr *)&a);
}

static void test_private_addresses(void **s)
{
    assert_true(priv4("127.0.0.1"));
    assert_true(priv4("10.1.2.3"));
    assert_true(priv4("172.16.0.1"));
    assert_true(priv4("192.168.1.1"));
    assert_true(priv4("169.254.169.254"));
    assert_true(priv4("100.64.0.1"));
    assert_true(priv4("0.0.0.0"));
    assert_false(priv4("8.8.8.8"));
    assert_false(priv4("172.32.0.1"));
    assert_true(priv6("::1"));
    assert_true(priv6("fe80::1"));
    assert_true(priv6("fd00::1"));
    assert_true(priv6("::ffff:127.0.0.1"));
    assert_false(priv6("2606:4700::1111"));
}

static void test_models_parse(void **s)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    const char *classic = "{\"CheckpointLoaderSimple\":{\"input\":{\"required\":{\"ckpt_name\":[["
                          "\"a.ckpt\",\"b \\\"q\\\".safetensors\"],{\"tooltip\":\"x\"}]}}}}";
    assert_int_equal(cfy_models_parse(classic, strlen(classic), &b), 2);
    assert_string_equal(b.data, "[\"a.ckpt\",\"b \\\"q\\\".safetensors\"]");
    ebuf_reset(&b);
    const char *v3 = "{\"CheckpointLoaderSimple\":{\"input\":{\"required\":{\"ckpt_name\":["
                     "\"COMBO\",{\"options\":[\"c.safetensors\"]}]}}}}";
    assert_int_equal(cfy_models_parse(v3, strlen(v3), &b), 1);
    assert_string_equal(b.data, "[\"c.safetensors\"]");
    ebuf_reset(&b);
    assert_int_equal(cfy_models_parse("{}", 2, &b), -1);
    ebuf_free(&b);
}

int main(int argc, char **argv)
{
    g_dir = argc > 1 ? argv[1] : getenv("COMFYUI_FIXTURES");
    if (g_dir == NULL) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencode),
        cmocka_unit_test(test_events_all_fixture_frames),
        cmocka_unit_test(test_events_garbage),
        cmocka_unit_test(test_history_fixtures),
        cmocka_unit_test(test_history_duplicate_keys),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_classification_tables),
        cmocka_unit_test(test_progress_replay),
        cmocka_unit_test(test_robustness),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_cdn_url),
        cmocka_unit_test(test_private_addresses),
        cmocka_unit_test(test_models_parse),
    };
    return cmocka_run_group_tests_name("comfyui_units", tests, NULL, NULL);
}
