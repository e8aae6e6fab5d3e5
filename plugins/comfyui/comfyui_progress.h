/*
 * comfyui_progress - turns the event stream of one prompt into a single monotonic fraction and
 * a short message ("KSampler 12/30").
 *
 * Owns: cfy_progress_t, the list of the workflow's nodes (id -> class_type) and which of them
 * are done. fraction = (nodes done + step fraction of the running node) / nodes in the
 * workflow, capped below 1 until the prompt ends; it never goes down.
 */
#ifndef COMFYUI_PROGRESS_H
#define COMFYUI_PROGRESS_H

#include <stddef.h>

#include "comfyui_events.h"

typedef struct cfy_pnode {
    char *id;
    char *class_type; /* "" when the workflow did not say */
    int done;
} cfy_pnode_t;

typedef struct cfy_progress {
    cfy_pnode_t *nodes;
    size_t nnodes, ndone;
    long current;        /* index of the running node, -1 when none */
    char current_id[64]; /* id of the running node when it is not in the workflow */
    double step;         /* 0..1 of the running node */
    double last;         /* last fraction reported */
} cfy_progress_t;

/* Read node ids and class_type from the workflow (a JSON object, raw bytes). 0 or -1 (out of
 * memory). A workflow that cannot be read gives an empty node list, not an error. */
int cfy_progress_init(cfy_progress_t *p, const char *workflow, size_t len);
void cfy_progress_free(cfy_progress_t *p);

/* The class_type of node `id`, or NULL when unknown. */
const char *cfy_progress_class(const cfy_progress_t *p, const char *id);

/* Apply one event that belongs to our prompt. Returns 1 and fills *fraction/msg when the
 * job's progress should be reported, 0 otherwise. */
int cfy_progress_apply(cfy_progress_t *p, const cfy_event_t *ev, double *fraction, char *msg,
                       size_t msglen);

#endif
