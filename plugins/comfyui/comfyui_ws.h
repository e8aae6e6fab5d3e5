/*
 * comfyui_ws - the WebSocket client (libwebsockets) that follows ComfyUI's /ws stream.
 *
 * Owns: one lws context for the plugin's lifetime and at most one client connection at a
 * time, the queue of complete messages received on it, the outgoing text message and a
 * watched copy (dup) of the job's cancel fd. Every function runs on the job thread except
 * cfy_ws_wakeup, which calls lws_cancel_service (the one thread-safe lws call).
 *
 * lws has no async DNS: cfy_ws_connect takes a numeric address (resolved by the caller).
 * Messages larger than CFY_WS_MAX_MESSAGE are discarded and reported as `oversized`.
 */
#ifndef COMFYUI_WS_H
#define COMFYUI_WS_H

#include <stddef.h>

#define CFY_WS_MAX_MESSAGE (8u << 20)

typedef struct cfy_ws cfy_ws_t;

typedef struct cfy_ws_target {
    const char *address; /* numeric IPv4/IPv6 address */
    int port;
    int tls;
    const char *host_header; /* Host: value (the configured name) */
    const char *path;        /* "/ws?clientId=..." */
    const char *auth_header; /* Authorization value or NULL (secret, not logged) */
} cfy_ws_target_t;

/* One received message. data is owned by the message (free with cfy_ws_msg_free). */
typedef struct cfy_ws_msg {
    unsigned char *data;
    size_t len;
    int binary;
    int oversized; /* the message exceeded CFY_WS_MAX_MESSAGE; data is NULL */
} cfy_ws_msg_t;

typedef enum cfy_ws_rc {
    CFY_WS_MESSAGE = 0,    /* *msg filled */
    CFY_WS_TIMEOUT = 1,    /* nothing within the timeout */
    CFY_WS_CLOSED = -1,    /* connection closed or failed; the error text says why */
    CFY_WS_CANCELLED = -2, /* the watched cancel fd became readable */
    CFY_WS_EINTERNAL = -3
} cfy_ws_rc_t;

/* Create the context (no network). tls: allow wss (initialises the TLS client context). */
cfy_ws_t *cfy_ws_new(int tls, const char *ca_file, char *err, size_t errlen);
void cfy_ws_free(cfy_ws_t *ws);
/* Any thread: wake the job thread out of cfy_ws_connect/cfy_ws_next. */
void cfy_ws_wakeup(cfy_ws_t *ws);

/* Watch `fd` (the job's cancel fd; -1 to stop watching). A dup is watched, the original is
 * never read or closed. Once it fires, it is no longer watched. */
int cfy_ws_watch_cancel(cfy_ws_t *ws, int fd);

/* Forget a wake-up from cfy_ws_wakeup (one that turned out not to be a cancel of this job). */
void cfy_ws_clear_wake(cfy_ws_t *ws);

/* Connect and wait up to timeout_ms for the upgrade. 0, or CFY_WS_CLOSED/CANCELLED with a
 * reason in err. */
cfy_ws_rc_t cfy_ws_connect(cfy_ws_t *ws, const cfy_ws_target_t *t, long timeout_ms, char *err,
                           size_t errlen);
int cfy_ws_is_open(const cfy_ws_t *ws);
/* Queue one text message (copied); sent as soon as the socket is writable. 0 or -1. */
int cfy_ws_send_text(cfy_ws_t *ws, const char *text, size_t len);
/* Wait up to timeout_ms for the next message. Queued messages are returned even after the
 * connection closed; CLOSED comes once the queue is empty. */
cfy_ws_rc_t cfy_ws_next(cfy_ws_t *ws, long timeout_ms, cfy_ws_msg_t *msg, char *err, size_t errlen);
/* Drop the connection (if any) and discard queued messages. */
void cfy_ws_close(cfy_ws_t *ws);
void cfy_ws_msg_free(cfy_ws_msg_t *msg);

#endif
