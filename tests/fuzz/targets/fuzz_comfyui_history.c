/* fuzz_comfyui_history: a GET /history/{prompt_id} body (cfy_history_parse). Input: the prompt
 * id, a newline, the body. Invariants: files have node, kind and filename; outputs_raw, when
 * set, lies inside the body. */
#include "fuzz_common.h"
#include "comfyui_history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (nl == NULL)
        return 0;
    char *id = fz_cstr(data, (size_t)(nl - data));
    size_t blen = size - (size_t)(nl - data) - 1;
    char *body = fz_cstr(nl + 1, blen); /* heap copy: ASan sees reads past len */
    cfy_history_t h;
    char err[256] = "";
    int rc = cfy_history_parse(body, blen, id, &h, err, sizeof err);
    if (rc == 0) {
        FZ_CHECK(h.outcome >= CFY_HIST_PENDING && h.outcome <= CFY_HIST_INTERRUPTED);
        FZ_CHECK(h.nfiles <= CFY_HISTORY_MAX_FILES);
        for (size_t i = 0; i < h.nfiles; i++)
            FZ_CHECK(h.files[i].node && h.files[i].kind && h.files[i].filename &&
                     h.files[i].subfolder && h.files[i].type);
        if (h.outputs_raw.p)
            FZ_CHECK(h.outputs_raw.p >= body && h.outputs_raw.p + h.outputs_raw.len <= body + blen);
    }
    cfy_history_free(&h);
    free(body);
    free(id);
    return 0;
}
