/*
 * queue.h - the emp-job-queue Redis protocol: the only module that talks to Redis.
 *
 * Owns two hiredis connections (commands, and a subscriber for job_submitted / cancel_job /
 * emp-worker:wake), the loaded script SHAs, and the worker's identity and capabilities JSON.
 * Every write the API, monitor and webhook service can see is byte-compatible with the
 * reference worker (../shared/protocol/emp-job-queue.md sections 4-5); completion and failure
 * are fenced Lua scripts that write only if this worker still owns the job.
 *
 * Threading: control thread only. Errors: functions return -1 on a connection problem (the
 * queue is then disconnected; the caller reconnects with backoff) and describe it in
 * emp_queue_error().
 */
#ifndef EMP_QUEUE_H
#define EMP_QUEUE_H

#include <stddef.h>

#include "config.h"
#include "job.h"

typedef struct emp_queue emp_queue_t;

typedef enum emp_queue_event_kind {
    EMP_QEV_JOB_SUBMITTED, /* job_submitted (or our wake channel): service + job id */
    EMP_QEV_CANCEL         /* cancel_job: job id */
} emp_queue_event_kind_t;

typedef struct emp_queue_event {
    emp_queue_event_kind_t kind;
    const char *job_id;  /* may be NULL; borrowed for the callback */
    const char *service; /* may be NULL */
} emp_queue_event_t;

typedef void (*emp_queue_event_cb)(const emp_queue_event_t *ev, void *arg);

emp_queue_t *emp_queue_new(const emp_config_t *cfg);
void emp_queue_free(emp_queue_t *q);
const char *emp_queue_error(const emp_queue_t *q);

/* Set what this worker serves and its models (JSON object text {service:[...]}); rebuilds
 * the capabilities JSON used for claiming. services: NULL-terminated. */
void emp_queue_set_capabilities(emp_queue_t *q, const char *const *services,
                                const char *models_json);

/* Connect both connections (AUTH, SELECT, timeouts), make sure findMatchingJob is loaded
 * (loading ours when allowed), load the worker scripts, subscribe. 0 or -1. */
int emp_queue_connect(emp_queue_t *q);
void emp_queue_disconnect(emp_queue_t *q);
int emp_queue_connected(const emp_queue_t *q);
/* The subscriber's fd to poll for readability (-1 when disconnected). */
int emp_queue_sub_fd(const emp_queue_t *q);
/* Read and dispatch whatever the subscriber has buffered. 0 or -1. */
int emp_queue_read_events(emp_queue_t *q, emp_queue_event_cb cb, void *arg);

/* Registration (skipped in unified mode except for the machine event) and heartbeat. */
int emp_queue_register(emp_queue_t *q);
int emp_queue_heartbeat(emp_queue_t *q);
int emp_queue_deregister(emp_queue_t *q, const char *reason);

/* Requeue what jobs:active:<own id> still holds from a previous life. Returns the count. */
int emp_queue_requeue_own(emp_queue_t *q);
/* Fleet sweep: requeue jobs of workers whose heartbeat expired (one sweeper per interval,
 * via a lock key) and promote retries whose backoff has passed. */
int emp_queue_sweep(emp_queue_t *q);

/* Cheap check: is `job_id` still in jobs:pending? 1 yes, 0 no, -1 error. */
int emp_queue_job_pending(emp_queue_t *q, const char *job_id);

/* FCALL findMatchingJob. 1 with *job_out (caller frees with emp_job_free), 0 none, -1 error.
 * A reply that cannot be decoded is logged and treated as none. */
int emp_queue_claim(emp_queue_t *q, struct emp_job **job_out);

/* Decode a findMatchingJob reply ({"jobId","job":{...}}); NULL when it is not that shape.
 * Pure (no Redis): exposed for tests and fuzzing. Caller frees with emp_job_free. */
struct emp_job *emp_queue_decode_claim(const char *text, size_t len);

/* assigned -> in_progress + busy events. 1 started, 0 the job is no longer ours, -1 error. */
int emp_queue_job_started(emp_queue_t *q, struct emp_job *job);
/* progress: fraction 0..1 -> integer percent, message; fenced. 1 written, 0 the job is no
 * longer ours (the caller cancels it), -1 error. */
int emp_queue_progress(emp_queue_t *q, struct emp_job *job, double fraction, const char *msg);
/* Fenced completion with the plugin's result object (raw JSON text). final_progress >= 0
 * writes that last progress (fenced) in the same round trip, before the completion.
 * 1 written, 0 dropped (the job is no longer ours; *seen_status says what it is), -1 error. */
int emp_queue_complete(emp_queue_t *q, struct emp_job *job, const char *result_json,
                       long long processing_ms, double final_progress, const char *final_msg,
                       char *seen_status, size_t seen_len);
/* Fenced failure: retryable or permanent; `outcome` receives "retry", "delayed", "failed"
 * or the status seen when dropped. `immediate` skips the retry backoff (a job requeued by a
 * shutdown did not fail). 1 written, 0 dropped, -1 error. */
int emp_queue_fail(emp_queue_t *q, struct emp_job *job, int retryable, int immediate,
                   const char *code, const char *message, char *outcome, size_t outcome_len);

/* Counters for tests and benchmarks. */
typedef struct emp_queue_stats {
    unsigned long long round_trips;
    unsigned long long commands;
    unsigned long long claims, claims_empty, scans_skipped;
} emp_queue_stats_t;
const emp_queue_stats_t *emp_queue_stats(const emp_queue_t *q);
void emp_queue_count_skip(emp_queue_t *q);

#endif
