/* fuzz_comfyui_payload: a job payload as the ComfyUI connector reads it (read_payload in
 * comfyui_job.c, mirrored here with the same public functions): the raw JSON scanner
 * (ejson_validate, ejson_find), cJSON, the workflow's node list (cfy_progress_init),
 * and the job's ctx field for the CDN URL rule (cfy_cdn_url). Invariants: a member span lies
 * inside its object and is valid JSON itself; a CDN URL is https. */
#include "fuzz_common.h"
#include <cjson/cJSON.h>

#include "comfyui_outputs.h"
#include "comfyui_progress.h"
#include "ejson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = fz_cstr(data, size);
    if (ejson_first_char(raw, size) == '{' && ejson_validate(raw, size) == 0) {
        /* text the scanner accepts may still be refused by cJSON (a lone surrogate escape):
         * the plugin then fails the job as bad input (tests/faults backend_comfyui_bad_payload;
         * it used to report "out of memory" and retry: regressions/fuzz_comfyui_payload) */
        cJSON *j = cJSON_ParseWithLength(raw, size);
        cJSON_Delete(j);
        ejson_span_t wf;
        int r = ejson_find(raw, size, "workflow", &wf);
        FZ_CHECK(r == 0 || r == 1);
        if (r == 1) {
            FZ_CHECK(wf.p >= raw && wf.p + wf.len <= raw + size);
            FZ_CHECK(ejson_validate(wf.p, wf.len) == 0);
        } else {
            wf.p = raw;
            wf.len = size;
        }
        cfy_progress_t p;
        FZ_CHECK(cfy_progress_init(&p, wf.p, wf.len) == 0);
        for (size_t i = 0; i < p.nnodes; i++)
            FZ_CHECK(p.nodes[i].id && p.nodes[i].class_type);
        cfy_progress_free(&p);
    }
    ebuf_t url;
    ebuf_init(&url, 0);
    int c = cfy_cdn_url(raw, "ComfyUI_00001_.png", &url);
    if (c == 1)
        FZ_CHECK(url.data && strncmp(url.data, "https://", 8) == 0);
    ebuf_free(&url);
    free(raw);
    return 0;
}
