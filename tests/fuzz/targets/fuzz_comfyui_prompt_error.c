/* fuzz_comfyui_prompt_error: the body of a POST /prompt error answer
 * (cfy_prompt_error_describe), and cfy_models_parse on the same bytes (an /object_info body).
 * Invariants: the message is NUL-terminated, not empty, about max_len long at most; the
 * error type is NUL-terminated within its buffer. */
#include "fuzz_common.h"
#include "comfyui_errors.h"
#include "comfyui_probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fz_cstr(data, size);
    ebuf_t msg;
    ebuf_init(&msg, 0);
    char type[48];
    memset(type, 'x', sizeof type);
    cfy_prompt_error_describe(body, size, &msg, 600, type, sizeof type);
    FZ_CHECK(ebuf_ok(&msg));
    FZ_CHECK(msg.data != NULL && msg.len > 0 && strlen(msg.data) == msg.len);
    FZ_CHECK(msg.len <= 600 + 64);
    FZ_CHECK(memchr(type, '\0', sizeof type) != NULL);
    ebuf_free(&msg);

    ebuf_t models;
    ebuf_init(&models, 0);
    int n = cfy_models_parse(body, size, &models);
    if (n >= 0)
        FZ_CHECK(models.data != NULL && models.data[0] == '[');
    ebuf_free(&models);
    free(body);
    return 0;
}
