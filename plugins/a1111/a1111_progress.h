/*
 * a1111_progress.h - A1111's progress answers and whether they describe our request.
 *
 * Owns: the parsers of GET /sdapi/v1/progress and POST /internal/progress (untrusted bodies,
 * fuzzable, no host calls), and the tracker that decides, tick by tick, whether the job A1111
 * reports is ours, and what fraction and message to report (monotonic).
 *
 * A1111's /sdapi/v1/progress describes whatever job holds its queue lock, not a request. The
 * tracker attributes it in one of two ways:
 *  - tracked: when the server has /internal/progress (Gradio UI running), our force_task_id is
 *    asked about directly: `active` means ours runs, `queued` means we wait behind another job.
 *  - global (--nowebui): a snapshot taken just before our request is sent is the baseline. A
 *    job that runs then is not ours; the first job with state.job = scripts_<mode> that starts
 *    after it (a new job_timestamp, progress going back, or the server idle in between) is.
 *    This cannot tell two API clients apart that submit within the same poll interval: the
 *    worker assumes it is the only API client of its GPU's A1111, as the deployment intends.
 */
#ifndef A1111_PROGRESS_H
#define A1111_PROGRESS_H

#include <stddef.h>

typedef struct a1111_progress_snap {
    double progress;     /* the server's own figure */
    double eta_relative; /* seconds; 0 when unknown */
    int has_state;       /* the "state" object was present and usable */
    char job[64];        /* state.job (truncated) */
    char job_timestamp[32];
    long long job_count, job_no, sampling_step, sampling_steps;
    int interrupted;
} a1111_progress_snap_t;

/* GET /sdapi/v1/progress body -> snap. 0, or -1 when it is not a progress object. */
int a1111_progress_parse(const char *body, size_t len, a1111_progress_snap_t *out);

typedef struct a1111_task_snap {
    int active, queued, completed;
    char textinfo[96]; /* "In queue: 1/2", "Waiting..." or state.textinfo */
} a1111_task_snap_t;

/* POST /internal/progress body -> snap. 0, or -1 when it lacks the "active" flag. */
int a1111_task_parse(const char *body, size_t len, a1111_task_snap_t *out);

typedef enum a1111_owner {
    A1111_OWNER_UNKNOWN = 0, /* nothing runs, or it cannot be told */
    A1111_OWNER_OURS = 1,
    A1111_OWNER_OTHER = 2 /* another client's job runs; ours waits in A1111's queue */
} a1111_owner_t;

typedef struct a1111_tracker {
    char state_job[32]; /* what state.job shows for our request */
    int tracked;        /* /internal/progress available */
    int baseline_busy;
    char baseline_ts[32];
    double baseline_pos;
    int gap_seen; /* the server was idle after the baseline */
    int ours_seen;
    char our_ts[32];
    a1111_owner_t owner;  /* verdict of the last update */
    double last_fraction; /* last reported, -1 before the first */
    char last_message[160];
} a1111_tracker_t;

void a1111_tracker_init(a1111_tracker_t *t, const char *state_job, int tracked);
/* The snapshot taken before our request was sent (NULL when that poll failed). */
void a1111_tracker_baseline(a1111_tracker_t *t, const a1111_progress_snap_t *snap);
/* One tick. snap and task may be NULL (poll failed / not tracked). Returns 1 when
 * (*fraction, msg) is a new report for the host, 0 otherwise; t->owner is updated either way. */
int a1111_tracker_update(a1111_tracker_t *t, const a1111_progress_snap_t *snap,
                         const a1111_task_snap_t *task, double *fraction, char *msg, size_t msglen);

#endif
