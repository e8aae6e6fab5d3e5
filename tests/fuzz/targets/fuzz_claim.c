/* fuzz_claim: emp_queue_decode_claim, the decoder of the findMatchingJob reply
 * {"jobId": ..., "job": {...}} (bytes from Redis, written by whoever submitted the job).
 * Invariants: a decoded job has an id, a service string and a payload of payload_len bytes;
 * every field can be looked up. */
#include "fuzz_common.h"
#include "job.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct emp_job *j = emp_queue_decode_claim((const char *)data, size);
    if (j == NULL)
        return 0;
    FZ_CHECK(j->id != NULL && j->service != NULL && j->payload != NULL);
    FZ_CHECK(strlen(j->payload) == j->payload_len);
    for (size_t i = 0; i < j->nfields; i++) {
        FZ_CHECK(j->names[i] != NULL && j->values[i] != NULL);
        FZ_CHECK(emp_job_get(j, j->names[i]) != NULL);
    }
    emp_job_free(j);
    return 0;
}
