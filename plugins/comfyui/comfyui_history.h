/*
 * comfyui_history - parser for GET /history/{prompt_id}, the authoritative record of a
 * finished prompt (outputs, status, execution messages) on every ComfyUI version.
 *
 * Owns: cfy_history_t and everything in it (copied strings). `outputs_raw` is the one
 * exception: it points into the caller's body, which must outlive its use, so that the
 * backend's outputs object can be passed on byte for byte.
 *
 * cfy_history_parse is a fuzzing entry point: any byte sequence gives 0 or -1, never a crash.
 */
#ifndef COMFYUI_HISTORY_H
#define COMFYUI_HISTORY_H

#include <stddef.h>

#include "ejson.h"

#define CFY_HISTORY_MAX_FILES 4096

typedef struct cfy_file {
    char *node; /* output node id */
    char *kind; /* the UI key: "images", "gifs", "audio", "video"... */
    char *filename;
    char *subfolder; /* "" when absent */
    char *type;      /* "output", "temp", "input" ("output" when absent) */
} cfy_file_t;

typedef enum cfy_hist_outcome {
    CFY_HIST_PENDING = 0, /* {} : unknown id or not finished yet */
    CFY_HIST_SUCCESS,     /* status success, or (old servers) no status but an entry */
    CFY_HIST_ERROR,       /* execution_error recorded (or status error without detail) */
    CFY_HIST_INTERRUPTED  /* execution_interrupted recorded */
} cfy_hist_outcome_t;

typedef struct cfy_history {
    cfy_hist_outcome_t outcome;
    int has_status; /* the entry had a status object (servers since 2024-01) */
    char *exception_type, *exception_message, *node_id, *node_type; /* error/interrupt detail */
    double ts_start, ts_end; /* epoch ms from messages, 0 when absent (old servers) */
    cfy_file_t *files;
    size_t nfiles;
    ejson_span_t outputs_raw; /* the entry's "outputs" object, borrowed from the body */
} cfy_history_t;

/* Parse a /history/{id} body for prompt_id. Returns 0 (outcome says what was found) or -1
 * when the body is not a JSON object or the entry is malformed; err says why. */
int cfy_history_parse(const char *body, size_t len, const char *prompt_id, cfy_history_t *h,
                      char *err, size_t errlen);
void cfy_history_free(cfy_history_t *h);

#endif
