/*
 * comfyui_events - turns one WebSocket message from ComfyUI into a typed event.
 *
 * Owns: the frame -> event parser for both protocol generations (2024-07 and 0.3.64+): text
 * frames {"type","data"} and binary frames (4-byte big-endian event type: 1 preview, 3 text,
 * 4 preview with JSON metadata). It never trusts the input: garbage, truncated, oversized or
 * wrongly typed frames give CFY_EV_MALFORMED or CFY_EV_OTHER, never a crash.
 *
 * cfy_event_parse is the fuzzing entry point. Strings in the event point into ev->json (or
 * into the caller's buffer for nothing: every string is inside the parsed tree), so they live
 * until cfy_event_free.
 */
#ifndef COMFYUI_EVENTS_H
#define COMFYUI_EVENTS_H

#include <stddef.h>

typedef enum cfy_ev_type {
    CFY_EV_MALFORMED = 0, /* not JSON, no "type", binary too short... */
    CFY_EV_OTHER,         /* well-formed but a type we do not use (progress_state, logs...) */
    CFY_EV_STATUS,        /* queue_remaining (+ sid on connect) */
    CFY_EV_FEATURE_FLAGS, /* server answered our feature_flags */
    CFY_EV_EXECUTION_START,
    CFY_EV_EXECUTION_CACHED, /* cached_nodes */
    CFY_EV_EXECUTING,        /* node (NULL = end of prompt when prompt_id matches) */
    CFY_EV_PROGRESS,         /* value / max (node may be NULL) */
    CFY_EV_EXECUTED,         /* node finished with UI output */
    CFY_EV_EXECUTION_SUCCESS,
    CFY_EV_EXECUTION_ERROR, /* exception_type/message, node_id/node_type */
    CFY_EV_EXECUTION_INTERRUPTED,
    CFY_EV_PREVIEW,     /* binary event 1 or 4 */
    CFY_EV_BINARY_OTHER /* binary event 3 (text) or unknown */
} cfy_ev_type_t;

typedef struct cfy_event {
    cfy_ev_type_t type;
    const char *type_name; /* the "type" string of a text frame, NULL for binary */
    const char *prompt_id; /* NULL when the frame has none (status, old progress, re-sync) */
    const char *node;      /* executing/progress/executed node id; NULL when null/absent */
    int node_present;      /* executing: 1 when "node" was present (null or string) */
    const char *sid;       /* status on connect */
    long queue_remaining;  /* status; -1 when absent */
    double value, max;     /* progress; max > 0 guaranteed when type is PROGRESS */
    const char *const *cached_nodes; /* execution_cached; ncached entries */
    size_t ncached;
    const char *exception_type, *exception_message, *node_id, *node_type; /* error/interrupt */
    unsigned binary_event;    /* binary frames: the event number */
    const char *preview_mime; /* preview: "image/jpeg"... when known */
    void *json;               /* parsed tree (cJSON *), owned */
    const char **strv;        /* storage for cached_nodes, owned */
} cfy_event_t;

/* Parse one message. Always fills *ev (type MALFORMED at worst); returns 0 when the frame was
 * understood (any type but MALFORMED), -1 otherwise. Call cfy_event_free afterwards either way. */
int cfy_event_parse(const unsigned char *buf, size_t len, int binary, cfy_event_t *ev);
void cfy_event_free(cfy_event_t *ev);

#endif
