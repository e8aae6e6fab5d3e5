/* comfyui_ws.c - libwebsockets client (see comfyui_ws.h). */
#define _GNU_SOURCE
#include "comfyui_ws.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comfyui_util.h"

#define CFY_WS_QUEUE_MAX_BYTES (64u << 20)
#define CFY_WS_QUEUE_MAX_COUNT 100000u
#define CFY_WS_PROTOCOL "emp-comfyui"

typedef enum { WS_IDLE = 0, WS_CONNECTING, WS_OPEN, WS_CLOSED } ws_state_t;

typedef struct msgnode {
    struct msgnode *next;
    cfy_ws_msg_t m;
} msgnode_t;

struct cfy_ws {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws *wsi;        /* the client connection, NULL when none */
    struct lws *cancel_wsi; /* raw-file wsi watching a dup of the cancel fd */
    ws_state_t state;
    char reason[200]; /* why the connection closed or failed */
    int cancel_fired; /* the watched fd became readable */
    int wake_cancel;  /* set (atomically) by cfy_ws_wakeup from another thread */
    int timer_fired;
    lws_sorted_usec_list_t sul;
    msgnode_t *head, *tail;
    size_t queued_bytes, queued_count, dropped;
    unsigned char *rx; /* the message being assembled */
    size_t rx_len, rx_cap;
    int rx_active, rx_binary, rx_oversized;
    unsigned char *tx; /* LWS_PRE + pending text, NULL when none */
    size_t tx_len;
    char *auth; /* copy of the Authorization value for the handshake (secret) */
};

static void set_reason(cfy_ws_t *ws, const char *what, const char *detail, size_t dlen)
{
    if (detail && dlen)
        snprintf(ws->reason, sizeof ws->reason, "%s: %.*s", what, (int)(dlen > 150 ? 150 : dlen),
                 detail);
    else
        snprintf(ws->reason, sizeof ws->reason, "%s", what);
}

static void push_message(cfy_ws_t *ws)
{
    msgnode_t *n = calloc(1, sizeof *n);
    if (n == NULL || ws->queued_bytes + ws->rx_len > CFY_WS_QUEUE_MAX_BYTES ||
        ws->queued_count >= CFY_WS_QUEUE_MAX_COUNT) {
        free(n);
        ws->dropped++;
        ws->rx_len = 0;
        return;
    }
    n->m.binary = ws->rx_binary;
    n->m.oversized = ws->rx_oversized;
    if (!ws->rx_oversized) {
        n->m.data = ws->rx; /* hand the buffer over; a new one is grown for the next message */
        n->m.len = ws->rx_len;
        ws->rx = NULL;
        ws->rx_cap = 0;
        if (n->m.data == NULL) { /* empty message */
            n->m.data = malloc(1);
            if (n->m.data == NULL) {
                free(n);
                ws->dropped++;
                ws->rx_len = 0;
                return;
            }
        }
    }
    ws->rx_len = 0;
    ws->queued_bytes += n->m.len;
    ws->queued_count++;
    if (ws->tail)
        ws->tail->next = n;
    else
        ws->head = n;
    ws->tail = n;
}

static void on_receive(cfy_ws_t *ws, struct lws *wsi, const void *in, size_t len)
{
    if (!ws->rx_active) {
        ws->rx_active = 1;
        ws->rx_binary = lws_frame_is_binary(wsi);
        ws->rx_oversized = 0;
        ws->rx_len = 0;
    }
    if (!ws->rx_oversized) {
        if (len > CFY_WS_MAX_MESSAGE - ws->rx_len) {
            ws->rx_oversized = 1;
            free(ws->rx);
            ws->rx = NULL;
            ws->rx_cap = 0;
            ws->rx_len = 0;
        } else if (ws->rx_len + len > ws->rx_cap) {
            size_t cap = ws->rx_cap ? ws->rx_cap : 4096;
            while (cap < ws->rx_len + len)
                cap *= 2;
            unsigned char *p = realloc(ws->rx, cap);
            if (p == NULL) { /* treat like an oversized message: dropped, reported */
                ws->rx_oversized = 1;
                free(ws->rx);
                ws->rx = NULL;
                ws->rx_cap = 0;
                ws->rx_len = 0;
            } else {
                ws->rx = p;
                ws->rx_cap = cap;
            }
        }
        if (!ws->rx_oversized && len) {
            memcpy(ws->rx + ws->rx_len, in, len);
            ws->rx_len += len;
        }
    }
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        ws->rx_active = 0;
        push_message(ws);
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    cfy_ws_t *ws = ctx ? lws_context_user(ctx) : NULL;
    if (ws == NULL)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (wsi == ws->wsi && ws->auth) {
            unsigned char **p = (unsigned char **)in, *end = *p + len;
            if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                             (const unsigned char *)ws->auth, (int)strlen(ws->auth),
                                             p, end))
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (wsi == ws->wsi) {
            ws->state = WS_OPEN;
            if (ws->tx)
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi == ws->wsi || ws->state == WS_CONNECTING) {
            set_reason(ws, "WebSocket connection failed", in,
                       in ? strnlen(in, len ? len : 150) : 0);
            ws->state = WS_CLOSED;
            ws->wsi = NULL;
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == ws->wsi) {
            set_reason(ws, "WebSocket closed by the server", NULL, 0);
            ws->state = WS_CLOSED;
            ws->wsi = NULL;
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wsi == ws->wsi) {
            if (ws->state != WS_CLOSED)
                set_reason(ws, "WebSocket connection lost", NULL, 0);
            ws->state = WS_CLOSED;
            ws->wsi = NULL;
        }
        if (wsi == ws->cancel_wsi)
            ws->cancel_wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (wsi == ws->wsi)
            on_receive(ws, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (wsi == ws->wsi && ws->tx) {
            int n = lws_write(wsi, ws->tx + LWS_PRE, ws->tx_len, LWS_WRITE_TEXT);
            free(ws->tx);
            ws->tx = NULL;
            ws->tx_len = 0;
            if (n < 0)
                return -1;
        }
        break;
    case LWS_CALLBACK_RAW_RX_FILE:
        if (wsi == ws->cancel_wsi) {
            ws->cancel_fired = 1;
            ws->cancel_wsi = NULL;
            return -1; /* close the watcher (and its dup); the job takes it from here */
        }
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == ws->cancel_wsi)
            ws->cancel_wsi = NULL;
        break;
    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {CFY_WS_PROTOCOL, callback, 0, 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

cfy_ws_t *cfy_ws_new(int tls, const char *ca_file, char *err, size_t errlen)
{
    cfy_ws_t *ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = ws;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    /* lws only builds a client TLS context when asked to "init" TLS; with OpenSSL >= 1.1 that
     * init is idempotent and process-safe, so we ask only when wss is configured. */
    info.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
    info.client_ssl_ca_filepath = ca_file; /* NULL: the system's CA store */
    ws->ctx = lws_create_context(&info);
    if (ws->ctx == NULL) {
        snprintf(err, errlen, "libwebsockets could not create a context");
        free(ws);
        return NULL;
    }
    ws->vh = lws_get_vhost_by_name(ws->ctx, "default");
    return ws;
}

static void drop_queue(cfy_ws_t *ws)
{
    msgnode_t *n = ws->head;
    while (n) {
        msgnode_t *next = n->next;
        free(n->m.data);
        free(n);
        n = next;
    }
    ws->head = ws->tail = NULL;
    ws->queued_bytes = ws->queued_count = 0;
}

void cfy_ws_close(cfy_ws_t *ws)
{
    if (ws->wsi) {
        struct lws *w = ws->wsi;
        set_reason(ws, "closed by us", NULL, 0);
        ws->state = WS_CLOSED;
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        ws->wsi = NULL;
    }
    ws->state = WS_IDLE;
    drop_queue(ws);
    free(ws->rx);
    ws->rx = NULL;
    ws->rx_len = ws->rx_cap = 0;
    ws->rx_active = 0;
    free(ws->tx);
    ws->tx = NULL;
    ws->tx_len = 0;
    if (ws->auth) {
        memset(ws->auth, 0, strlen(ws->auth));
        free(ws->auth);
        ws->auth = NULL;
    }
}

void cfy_ws_free(cfy_ws_t *ws)
{
    if (ws == NULL)
        return;
    cfy_ws_close(ws);
    cfy_ws_watch_cancel(ws, -1);
    lws_context_destroy(ws->ctx);
    free(ws);
}

void cfy_ws_wakeup(cfy_ws_t *ws)
{
    if (ws == NULL)
        return;
    __atomic_store_n(&ws->wake_cancel, 1, __ATOMIC_SEQ_CST);
    lws_cancel_service(ws->ctx);
}

void cfy_ws_clear_wake(cfy_ws_t *ws) { __atomic_store_n(&ws->wake_cancel, 0, __ATOMIC_SEQ_CST); }

int cfy_ws_watch_cancel(cfy_ws_t *ws, int fd)
{
    if (ws->cancel_wsi) {
        struct lws *w = ws->cancel_wsi;
        ws->cancel_wsi = NULL;
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
    ws->cancel_fired = 0;
    __atomic_store_n(&ws->wake_cancel, 0, __ATOMIC_SEQ_CST);
    if (fd < 0)
        return 0;
    int copy = dup(fd);
    if (copy < 0)
        return -1;
    lws_sock_file_fd_type f;
    f.filefd = copy;
    /* on failure lws closes `copy` itself */
    ws->cancel_wsi =
        lws_adopt_descriptor_vhost(ws->vh, LWS_ADOPT_RAW_FILE_DESC, f, CFY_WS_PROTOCOL, NULL);
    return ws->cancel_wsi ? 0 : -1;
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
    cfy_ws_t *ws = lws_container_of(sul, cfy_ws_t, sul);
    ws->timer_fired = 1;
}

static int cancel_pending(cfy_ws_t *ws)
{
    return ws->cancel_fired || __atomic_load_n(&ws->wake_cancel, __ATOMIC_SEQ_CST);
}

/* One round of lws service, returning by `deadline` (monotonic ms) at the latest. */
static void pump(cfy_ws_t *ws, int64_t deadline)
{
    int64_t remain = deadline - cfy_now_ms();
    if (remain < 0)
        remain = 0;
    ws->timer_fired = 0;
    lws_sul_schedule(ws->ctx, 0, &ws->sul, on_timer, (lws_usec_t)remain * 1000 + 1);
    lws_service(ws->ctx, 0);
    lws_sul_cancel(&ws->sul);
}

cfy_ws_rc_t cfy_ws_connect(cfy_ws_t *ws, const cfy_ws_target_t *t, long timeout_ms, char *err,
                           size_t errlen)
{
    cfy_ws_close(ws);
    ws->reason[0] = '\0';
    if (t->auth_header) {
        ws->auth = strdup(t->auth_header);
        if (ws->auth == NULL) {
            snprintf(err, errlen, "out of memory");
            return CFY_WS_EINTERNAL;
        }
    }
    struct lws_client_connect_info cc;
    memset(&cc, 0, sizeof cc);
    cc.context = ws->ctx;
    cc.address = t->address;
    cc.port = t->port;
    cc.ssl_connection = t->tls ? LCCSCF_USE_SSL : 0;
    cc.path = t->path;
    cc.host = t->host_header;
    cc.origin = NULL; /* ComfyUI refuses a foreign Origin; send none */
    cc.protocol = NULL;
    cc.local_protocol_name = CFY_WS_PROTOCOL;
    cc.pwsi = &ws->wsi;
    ws->state = WS_CONNECTING;
    if (lws_client_connect_via_info(&cc) == NULL) {
        ws->wsi = NULL;
        if (ws->state == WS_CONNECTING)
            set_reason(ws, "WebSocket connection could not be started", NULL, 0);
        ws->state = WS_CLOSED;
    }
    int64_t deadline = cfy_now_ms() + timeout_ms;
    while (ws->state == WS_CONNECTING) {
        if (cancel_pending(ws)) {
            cfy_ws_close(ws);
            snprintf(err, errlen, "cancelled");
            return CFY_WS_CANCELLED;
        }
        if (cfy_now_ms() >= deadline) {
            cfy_ws_close(ws);
            snprintf(err, errlen, "WebSocket connection timed out after %ld ms", timeout_ms);
            return CFY_WS_CLOSED;
        }
        pump(ws, deadline);
    }
    if (ws->state != WS_OPEN) {
        snprintf(err, errlen, "%s", ws->reason[0] ? ws->reason : "WebSocket connection failed");
        cfy_ws_close(ws);
        return CFY_WS_CLOSED;
    }
    return CFY_WS_MESSAGE;
}

int cfy_ws_is_open(const cfy_ws_t *ws) { return ws->state == WS_OPEN && ws->wsi != NULL; }

int cfy_ws_send_text(cfy_ws_t *ws, const char *text, size_t len)
{
    if (!cfy_ws_is_open(ws) || ws->tx)
        return -1;
    ws->tx = malloc(LWS_PRE + len);
    if (ws->tx == NULL)
        return -1;
    memcpy(ws->tx + LWS_PRE, text, len);
    ws->tx_len = len;
    lws_callback_on_writable(ws->wsi);
    /* flush now: the next thing the job does is an HTTP call, during which lws is not serviced,
     * and feature_flags must reach the server before the prompt runs */
    int64_t deadline = cfy_now_ms() + 2000;
    while (ws->tx && cfy_ws_is_open(ws) && cfy_now_ms() < deadline && !cancel_pending(ws))
        pump(ws, deadline);
    return ws->tx ? -1 : 0;
}

cfy_ws_rc_t cfy_ws_next(cfy_ws_t *ws, long timeout_ms, cfy_ws_msg_t *msg, char *err, size_t errlen)
{
    memset(msg, 0, sizeof *msg);
    int64_t deadline = cfy_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (ws->head) {
            msgnode_t *n = ws->head;
            ws->head = n->next;
            if (ws->head == NULL)
                ws->tail = NULL;
            ws->queued_bytes -= n->m.len;
            ws->queued_count--;
            *msg = n->m;
            free(n);
            return CFY_WS_MESSAGE;
        }
        if (cancel_pending(ws)) {
            snprintf(err, errlen, "cancelled");
            return CFY_WS_CANCELLED;
        }
        if (ws->state != WS_OPEN) {
            snprintf(err, errlen, "%s", ws->reason[0] ? ws->reason : "WebSocket not connected");
            return CFY_WS_CLOSED;
        }
        if (cfy_now_ms() >= deadline)
            return CFY_WS_TIMEOUT;
        pump(ws, deadline);
    }
}

void cfy_ws_msg_free(cfy_ws_msg_t *msg)
{
    if (msg == NULL)
        return;
    free(msg->data);
    memset(msg, 0, sizeof *msg);
}
