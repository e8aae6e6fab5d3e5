/*
 * comfyui_job_internal.h - the state of one job, shared by the three files that run it:
 *   comfyui_job.c      payload, submit, finish (history -> result or failure), run
 *   comfyui_follow.c   the event stream: frames, progress, reconnects, cancellation
 *   comfyui_backend.c  the job's requests to ComfyUI's HTTP API (/queue, /history, stop)
 * Private to the plugin. Everything in job_t is owned by the job and freed by cfy_job_run.
 */
#ifndef COMFYUI_JOB_INTERNAL_H
#define COMFYUI_JOB_INTERNAL_H

#include <stdint.h>

#include "comfyui_events.h"
#include "comfyui_history.h"
#include "comfyui_http.h"
#include "comfyui_job.h"
#include "comfyui_progress.h"
#include "comfyui_ws.h"
#include "ejson.h"

/* After a cancel everything (queue check, interrupt/delete, waiting for the end marker) must fit
 * well inside the host's cancel grace period (cancel_grace_s, 10 s by default). */
#define CFY_CANCEL_WAIT_MS 6000
#define CFY_CANCEL_REQUEST_TIMEOUT_MS 1500
#define CFY_HISTORY_TRIES 4 /* /history after the end marker: retries while it is {} */
#define CFY_RECONNECT_MAX_BACKOFF_MS 5000
#define CFY_FEATURE_FLAGS                                                                          \
    "{\"type\":\"feature_flags\",\"data\":{\"supports_preview_metadata\":true}}"

typedef enum { STOP_WAIT_END, STOP_DONE, STOP_FAILED } stop_rc_t;

struct cJSON;

typedef struct job {
    cfy_state_t *s;
    const emp_host_api_t *api;
    emp_job_t *job;
    int cancel_fd;
    char addr[64];
    char client_id[33];
    char prompt_id[128];
    char ws_path[80];
    char *workflow_copy; /* when payload.workflow was a JSON string */
    ejson_span_t workflow, extra_data;
    struct cJSON *payload;
    int has_workflow_key; /* payload.workflow present (else the payload is the workflow) */
    cfy_progress_t progress;
    int ended;      /* end marker (or history) says the prompt is over */
    int cancelling; /* the host asked to cancel and we acted on it */
    int64_t run_start, submitted_mono, start_mono, end_mono, last_activity, cancel_deadline;
    int64_t submitted_wall;
    int ws_error, ws_interrupted;
    char *err_type, *err_msg, *err_node, *err_node_type; /* from an execution_error frame */
    char **cached;
    size_t ncached;
    unsigned malformed, oversized;
} job_t;

/* comfyui_backend.c */
/* One request to the backend. cancellable: watch the job's cancel fd. */
cfy_http_rc_t cfy_backend(job_t *j, const char *method, const char *path, const char *body,
                          size_t body_len, int cancellable, cfy_http_resp_t *resp);
/* Where is our prompt? 1 running, 2 pending, 0 in neither list, -1 unknown (HTTP failed). */
int cfy_backend_queue_position(job_t *j);
/* GET /history/{id}: 0 with h filled (outcome may be PENDING), -1 transport/HTTP error, -2
 * malformed answer. h->outputs_raw points into resp->body. */
int cfy_backend_history(job_t *j, cfy_http_resp_t *resp, cfy_history_t *h, char *err,
                        size_t errlen);
/* Is the prompt finished according to /history? 1 yes, 0 no, -1 could not tell. */
int cfy_backend_history_has_entry(job_t *j);
/* Stop our prompt: delete it while pending, interrupt it while running. */
stop_rc_t cfy_backend_stop(job_t *j, const char *why);

/* comfyui_follow.c */
/* Connect the job's WebSocket and announce our feature flags. */
cfy_ws_rc_t cfy_follow_connect(job_t *j, char *err, size_t errlen);
/* Follow our prompt until its end marker (j->ended) or a failure/cancel (returned). */
emp_result_t cfy_follow(job_t *j);
/* A wake-up that is really a cancel of this job (see the definition). */
int cfy_follow_really_cancelled(job_t *j);
/* The CANCELLED result (with api->fail). */
emp_result_t cfy_job_cancelled(job_t *j);

#endif
