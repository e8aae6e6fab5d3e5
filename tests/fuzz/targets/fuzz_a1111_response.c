/* fuzz_a1111_response: every A1111 answer the connector parses, on the same bytes: the error
 * classifier (a1111_error_from_http, status from the first two bytes), GET /sdapi/v1/progress
 * and POST /internal/progress with the ownership tracker, the 200 answer of txt2img/img2img
 * (a1111_result_build, inline output only: nothing is written to disk), and
 * GET /sdapi/v1/sd-models. Invariants: messages are NUL-terminated and non-empty for errors;
 * fractions in [0, 1], never going down; a built result is a JSON object. */
#include "fuzz_common.h"
#include "a1111_errors.h"
#include "a1111_probe.h"
#include "a1111_progress.h"
#include "a1111_result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = 100 + (long)(((unsigned)data[0] << 8 | data[1]) % 500);
    char *body = fz_cstr(data + 2, size - 2);
    size_t len = size - 2;

    a1111_error_t e;
    a1111_error_from_http(status, body, len, &e);
    FZ_CHECK(e.cls == EMP_RETRY || e.cls == EMP_FAIL);
    FZ_CHECK(e.code != NULL && memchr(e.message, '\0', sizeof e.message) && e.message[0]);
    a1111_error_from_http(status, NULL, 0, &e);

    a1111_progress_snap_t snap;
    a1111_task_snap_t task;
    int ps = a1111_progress_parse(body, len, &snap);
    int ts = a1111_task_parse(body, len, &task);
    a1111_tracker_t t;
    a1111_tracker_init(&t, "scripts_txt2img", ts == 0);
    a1111_tracker_baseline(&t, ps == 0 ? &snap : NULL);
    double last = 0;
    for (int i = 0; i < 3; i++) {
        double f = -1;
        char msg[160];
        if (a1111_tracker_update(&t, ps == 0 ? &snap : NULL, ts == 0 ? &task : NULL, &f, msg,
                                 sizeof msg)) {
            FZ_CHECK(f >= 0 && f <= 1 && f >= last);
            FZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
            last = f;
        }
    }

    a1111_result_opts_t o = {A1111_OUTPUT_INLINE, NULL, "fuzz-job"};
    ebuf_t out;
    ebuf_init(&out, 64u << 20);
    size_t nimages = 0;
    a1111_error_t err;
    if (a1111_result_build(body, len, &o, &out, &nimages, &err) == 0)
        FZ_CHECK(out.data && out.len > 0 && out.data[0] == '{');
    else
        FZ_CHECK(err.code != NULL && err.message[0]);
    ebuf_free(&out);

    ebuf_t b64;
    ebuf_init(&b64, 0);
    a1111_base64_decode(body, len, &b64);
    ebuf_free(&b64);

    ebuf_t models;
    ebuf_init(&models, 0);
    if (a1111_models_parse(body, len, &models) == 0)
        FZ_CHECK(models.data && models.data[0] == '[');
    ebuf_free(&models);
    free(body);
    return 0;
}
