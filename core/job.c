/* job.c - a claimed job and its report mailbox (see job.h). */
#define _GNU_SOURCE
#include "job.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xalloc.h"

struct emp_job *emp_job_new(const char *id, const char *service, const char *const *names,
                            const char *const *values, size_t n)
{
    struct emp_job *j = xcalloc(1, sizeof *j);
    j->names = xcalloc(n + 1, sizeof *j->names);
    j->values = xcalloc(n + 1, sizeof *j->values);
    for (size_t i = 0; i < n; i++) {
        j->names[i] = xstrdup(names[i]);
        j->values[i] = xstrdup(values[i]);
    }
    j->nfields = n;
    const char *fid = emp_job_get(j, "id");
    const char *fsvc = emp_job_get(j, "service_required");
    j->id = xstrdup(id ? id : fid ? fid : "");
    j->service = xstrdup(service ? service : fsvc ? fsvc : "");
    const char *p = emp_job_get(j, "payload");
    j->payload = p && p[0] ? p : "{}";
    j->payload_len = strlen(j->payload);
    j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (j->cancel_fd < 0)
        abort();
    j->notify_fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    return j;
}

void emp_job_free(struct emp_job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nfields; i++) {
        free(j->names[i]);
        free(j->values[i]);
    }
    free(j->names);
    free(j->values);
    free(j->id);
    free(j->service);
    close(j->cancel_fd);
    pthread_mutex_destroy(&j->mu);
    free(j->progress_msg);
    free(j->result);
    free(j->fail_code);
    free(j->fail_message);
    free(j);
}

const char *emp_job_get(const struct emp_job *j, const char *name)
{
    for (size_t i = 0; i < j->nfields; i++)
        if (strcmp(j->names[i], name) == 0)
            return j->values[i];
    return NULL;
}

void emp_job_cancel(struct emp_job *j, emp_cancel_reason_t why)
{
    int expected = EMP_CANCEL_NONE;
    __atomic_compare_exchange_n(&j->cancel_reason, &expected, (int)why, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    uint64_t one = 1;
    ssize_t w = write(j->cancel_fd, &one, sizeof one);
    (void)w;
}

emp_cancel_reason_t emp_job_cancel_reason(struct emp_job *j)
{
    return (emp_cancel_reason_t)__atomic_load_n(&j->cancel_reason, __ATOMIC_SEQ_CST);
}

int emp_job_take_progress(struct emp_job *j, unsigned long *seq, double *fraction, char **msg)
{
    /* re-arm the wake-up before reading, so a report made after this read wakes us again */
    __atomic_store_n(&j->progress_notified, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&j->mu);
    int changed = j->progress_seq != *seq;
    if (changed) {
        *seq = j->progress_seq;
        *fraction = j->progress;
        *msg = xstrdup(j->progress_msg ? j->progress_msg : "");
    }
    pthread_mutex_unlock(&j->mu);
    return changed;
}
