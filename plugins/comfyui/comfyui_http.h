/*
 * comfyui_http - blocking HTTP requests on the job thread that stop at once when the job is
 * cancelled (libcurl multi + curl_multi_poll with the job's cancel fd as an extra fd).
 *
 * Owns: one CURLM handle for the plugin's lifetime (created in create, freed in destroy) and
 * the easy handle of the request in flight. Only cfy_http_wakeup may be called from another
 * thread. No process-global curl state is touched (the host calls curl_global_init).
 */
#ifndef COMFYUI_HTTP_H
#define COMFYUI_HTTP_H

#include <stddef.h>

#include "ebuf.h"

typedef struct cfy_http cfy_http_t;

/* Outcome of cfy_http_request (the HTTP status is in resp->status when CFY_HTTP_DONE). */
typedef enum cfy_http_rc {
    CFY_HTTP_DONE = 0,        /* an HTTP answer arrived (any status) */
    CFY_HTTP_ECONNECT = -1,   /* refused, unreachable, DNS, TLS handshake, connection reset */
    CFY_HTTP_ETIMEOUT = -2,   /* connect or request timeout */
    CFY_HTTP_ECANCELLED = -3, /* the cancel fd became readable */
    CFY_HTTP_ETOOBIG = -4,    /* the body exceeded max_body */
    CFY_HTTP_EINTERNAL = -5   /* out of memory, bad URL, curl refused the options */
} cfy_http_rc_t;

typedef struct cfy_http_req {
    const char *method; /* "GET" or "POST" */
    const char *url;    /* absolute http(s) URL */
    const char *body;   /* POST body or NULL */
    size_t body_len;
    const char *content_type; /* of the body */
    /* multipart upload instead of body: one file part named `form_file_field` */
    const char *form_file_field;
    const char *form_file_name;
    const unsigned char *form_file_data;
    size_t form_file_len;
    const char *const *form_fields; /* extra name, value pairs, NULL-terminated */
    const char *auth_header;        /* Authorization value, NULL for none */
    const char *ca_file;            /* CA bundle for https, NULL = the system's */
    const char *pin_resolve;        /* CURLOPT_RESOLVE entry "host:port:addr" to pin DNS, or NULL */
    int cancel_fd;                  /* -1: not cancellable (cleanup requests) */
    long connect_timeout_ms, timeout_ms;
    size_t max_body; /* 0 = 16 MiB default */
} cfy_http_req_t;

typedef struct cfy_http_resp {
    long status;
    ebuf_t body;
    char content_type[128];
    char error[256]; /* transport error text when rc != DONE */
} cfy_http_resp_t;

cfy_http_t *cfy_http_new(void);
void cfy_http_free(cfy_http_t *h);
/* Any thread: make a running cfy_http_request re-check its cancel fd now. */
void cfy_http_wakeup(cfy_http_t *h);

void cfy_http_resp_init(cfy_http_resp_t *r);
void cfy_http_resp_free(cfy_http_resp_t *r);

/* Perform one request and wait for it. resp must have been initialised (its old content is
 * replaced). */
cfy_http_rc_t cfy_http_request(cfy_http_t *h, const cfy_http_req_t *req, cfy_http_resp_t *resp);

/* A readable word for an rc ("connection failed", "timed out"...). Static. */
const char *cfy_http_rc_text(cfy_http_rc_t rc);

#endif
