/*
 * fuzz_comfyui.c - libFuzzer target for every parser of ComfyUI input the plugin has.
 * The first byte picks the parser, the rest is the input:
 *   0 text frame, 1 binary frame, 2 /history body, 3 /prompt 400 body, 4 /object_info body,
 *   5 raw JSON member lookup + validation, 6 workflow for the progress tracker + a frame.
 * Build (clang only): cmake -DCMAKE_C_COMPILER=clang -DCOMFYUI_FUZZ=ON; then
 *   ./tests/comfyui/fuzz_comfyui -max_total_time=60 [corpus dir]
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "comfyui_errors.h"
#include "comfyui_events.h"
#include "comfyui_history.h"
#include "comfyui_json.h"
#include "comfyui_probe.h"
#include "comfyui_progress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned char *p = data + 1;
    const char *s = (const char *)p;
    size_t n = size - 1;
    cfy_event_t ev;
    cfy_buf_t b;
    cfy_buf_init(&b);
    switch (data[0] % 7) {
    case 0:
    case 1:
        cfy_event_parse(p, n, data[0] % 7, &ev);
        cfy_event_free(&ev);
        break;
    case 2: {
        cfy_history_t h;
        char err[64];
        if (cfy_history_parse(s, n, "p", &h, err, sizeof err) == 0)
            cfy_history_free(&h);
        break;
    }
    case 3: {
        char type[32];
        cfy_prompt_error_describe(s, n, &b, 500, type, sizeof type);
        break;
    }
    case 4:
        cfy_models_parse(s, n, &b);
        break;
    case 5: {
        cfy_span_t sp;
        if (cfy_json_member(s, n, "workflow", &sp) == 0)
            cfy_json_is_valid(sp.p, sp.n);
        cfy_json_is_valid(s, n);
        break;
    }
    default: { /* workflow up to the first NUL, then one frame */
        const unsigned char *z = memchr(p, 0, n);
        size_t wl = z ? (size_t)(z - p) : n;
        cfy_progress_t pr;
        if (cfy_progress_init(&pr, s, wl) == 0) {
            cfy_event_parse(z ? z + 1 : p + n, z ? n - wl - 1 : 0, 0, &ev);
            double f;
            char msg[64];
            cfy_progress_apply(&pr, &ev, &f, msg, sizeof msg);
            cfy_event_free(&ev);
            cfy_progress_free(&pr);
        }
        break;
    }
    }
    cfy_buf_free(&b);
    return 0;
}
