/*
 * job.h - one claimed job as the host holds it, and the mailbox through which the job thread
 * reports to the control thread.
 *
 * Owns: the job's hash fields (raw strings as read from Redis, never re-serialised), the
 * cancel eventfd, and what the plugin reported (latest progress, result, failure).
 * Threading: fields are immutable while the job runs; the report part is guarded by `mu`;
 * `cancelled` is atomic; the control thread is woken through the notify eventfd it owns.
 */
#ifndef EMP_JOB_H
#define EMP_JOB_H

#include <pthread.h>
#include <stddef.h>

#include "emp_plugin.h"

typedef enum emp_cancel_reason {
    EMP_CANCEL_NONE = 0,
    EMP_CANCEL_USER,     /* cancel_job from the API */
    EMP_CANCEL_TIMEOUT,  /* job timeout */
    EMP_CANCEL_SHUTDOWN, /* SIGTERM past the grace period */
    EMP_CANCEL_LOST      /* the job was taken from us (another worker owns it now) */
} emp_cancel_reason_t;

struct emp_plugin_inst;

struct emp_job {
    char *id;
    char *service;
    char **names, **values; /* the job hash, raw */
    size_t nfields;
    const char *payload; /* points into values; "{}" when absent */
    size_t payload_len;

    struct emp_plugin_inst *inst; /* borrowed: the plugin running it */
    long long max_result_bytes;

    int cancel_fd;     /* eventfd, readable once cancelled */
    int cancel_reason; /* atomic; emp_cancel_reason_t */

    pthread_mutex_t mu;    /* guards everything below */
    int notify_fd;         /* borrowed: the control thread's eventfd (-1: none) */
    int progress_notified; /* atomic: 1 while a progress wake-up is pending (one eventfd
                              write per batch of progress calls, not one per call) */
    double progress;       /* latest fraction, monotonic */
    char *progress_msg;
    unsigned long progress_seq;
    char *result; /* JSON object text */
    size_t result_len;
    int failed; /* fail() was called */
    emp_result_t fail_class;
    char *fail_code;
    char *fail_message;
};

/* A new job from raw hash fields (copied). id and service are taken from the fields
 * ("id"/"service_required") unless given. */
struct emp_job *emp_job_new(const char *id, const char *service, const char *const *names,
                            const char *const *values, size_t n);
void emp_job_free(struct emp_job *job);
const char *emp_job_get(const struct emp_job *job, const char *name);

/* Control thread: raise the cancel flag and fd (idempotent; the first reason sticks). */
void emp_job_cancel(struct emp_job *job, emp_cancel_reason_t why);
emp_cancel_reason_t emp_job_cancel_reason(struct emp_job *job);

/* Take the latest progress if it changed since *seq (returns 1 and a copy of the message,
 * which the caller frees). */
int emp_job_take_progress(struct emp_job *job, unsigned long *seq, double *fraction, char **msg);

#endif
