/*
 * a1111_request.h - turns a job payload into the body of a txt2img/img2img request.
 *
 * Owns: the decision which endpoint a payload goes to, the table of default fields, and the
 * splicing of the user's raw JSON into the request body. The user's members are copied byte for
 * byte (never through cJSON numbers), routing keys and any force_task_id are dropped, defaults
 * are appended only for fields the payload lacks, and force_task_id is set to the job id.
 * Pure functions of their input: no host, no network.
 */
#ifndef A1111_REQUEST_H
#define A1111_REQUEST_H

#include <stddef.h>

#include "ebuf.h"

typedef enum a1111_mode { A1111_TXT2IMG = 0, A1111_IMG2IMG = 1 } a1111_mode_t;

/* "/sdapi/v1/txt2img" or "/sdapi/v1/img2img". */
const char *a1111_mode_path(a1111_mode_t mode);
/* The state.job A1111 shows while one of our requests runs: "scripts_txt2img"/"scripts_img2img". */
const char *a1111_mode_state_job(a1111_mode_t mode);
const char *a1111_mode_name(a1111_mode_t mode);

typedef struct a1111_request {
    a1111_mode_t mode;
    ebuf_t body; /* owned; free with a1111_request_free */
} a1111_request_t;

/* Builds the request for `payload` (len bytes, not necessarily NUL-terminated). task_id becomes
 * force_task_id. Returns 0, or -1 with a message for the job's failure in err (the payload is
 * the user's mistake: not a JSON object, an unknown endpoint/mode...). */
int a1111_request_build(const char *payload, size_t len, const char *task_id, a1111_request_t *out,
                        char *err, size_t errlen);
void a1111_request_free(a1111_request_t *req);

#endif
