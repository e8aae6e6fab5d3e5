/* fuzz_a1111_request: a job payload turned into a txt2img/img2img request body
 * (a1111_request_build). Invariants: a built body is a JSON object the JSON validator accepts
 * and carries our force_task_id; a refusal has a message. */
#include "fuzz_common.h"
#include "a1111_request.h"
#include "ejson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *payload = fz_cstr(data, size);
    a1111_request_t req;
    char err[512] = "";
    if (a1111_request_build(payload, size, "job-0123", &req, err, sizeof err) == 0) {
        FZ_CHECK(req.body.data && req.body.len > 1 && req.body.data[0] == '{');
        FZ_CHECK(ejson_validate(req.body.data, req.body.len) == 0);
        FZ_CHECK(memmem(req.body.data, req.body.len, "\"force_task_id\"", 15) != NULL);
        a1111_request_free(&req);
    } else {
        FZ_CHECK(err[0] != '\0');
    }
    free(payload);
    return 0;
}
