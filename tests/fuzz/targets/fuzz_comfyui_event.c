/* fuzz_comfyui_event: one WebSocket message from ComfyUI (cfy_event_parse; the first input
 * byte's low bit says text or binary frame), then fed to a progress tracker built from a small
 * fixed workflow, as the job loop does. Invariants: a PROGRESS event has max > 0; reported
 * fractions stay in [0, 1] and never go down; messages are NUL-terminated within the buffer. */
#include "fuzz_common.h"
#include "comfyui_events.h"
#include "comfyui_progress.h"

static const char WORKFLOW[] =
    "{\"3\":{\"class_type\":\"KSampler\",\"inputs\":{}},\"4\":{\"class_type\":\"CheckpointLoaderSimple\"},"
    "\"9\":{\"class_type\":\"SaveImage\",\"inputs\":{}},\"10\":{\"inputs\":{}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    cfy_progress_t p;
    FZ_CHECK(cfy_progress_init(&p, WORKFLOW, sizeof WORKFLOW - 1) == 0);
    double last = 0;
    /* several frames in one input, separated by a 0xFF 0x00 pair */
    const uint8_t *cur = data + 1, *end = data + size;
    int binary = data[0] & 1;
    while (cur <= end) {
        const uint8_t *next = cur;
        while (next + 1 < end && !(next[0] == 0xFF && next[1] == 0x00))
            next++;
        size_t n = (next + 1 < end) ? (size_t)(next - cur) : (size_t)(end - cur);
        cfy_event_t ev;
        int rc = cfy_event_parse(cur, n, binary, &ev);
        FZ_CHECK((rc == 0) == (ev.type != CFY_EV_MALFORMED));
        if (ev.type == CFY_EV_PROGRESS)
            FZ_CHECK(ev.max > 0);
        for (size_t i = 0; i < ev.ncached; i++)
            FZ_CHECK(ev.cached_nodes[i] != NULL);
        double f = -1;
        char msg[128];
        memset(msg, 'x', sizeof msg);
        if (cfy_progress_apply(&p, &ev, &f, msg, sizeof msg)) {
            FZ_CHECK(f >= 0 && f <= 1);
            FZ_CHECK(f >= last);
            FZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
            last = f;
        }
        cfy_event_free(&ev);
        if (next + 1 >= end)
            break;
        cur = next + 2;
    }
    cfy_progress_free(&p);
    return 0;
}
