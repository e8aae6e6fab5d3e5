/*
 * comfyui_config - the connector's typed options, read once in create through the host's
 * option API (which reports wrong types and ranges with file:line).
 *
 * Owns: cfy_config_t. Strings in it are borrowed from the host (valid until destroy) except
 * auth_header, which is built here and freed by cfy_config_free. The backend address comes
 * only from these options, never from a job.
 */
#ifndef COMFYUI_CONFIG_H
#define COMFYUI_CONFIG_H

#include "emp_plugin.h"

typedef enum cfy_outputs_mode { CFY_OUTPUTS_URLS = 0, CFY_OUTPUTS_BASE64 = 1 } cfy_outputs_mode_t;

typedef struct cfy_config {
    const char *host;        /* name or IP of the ComfyUI server */
    int port;                /* default 8188 + gpu index */
    int tls;                 /* https:// and wss:// */
    const char *tls_ca_file; /* CA bundle to verify the backend's certificate, NULL = system */
    const char *username;    /* basic auth (with password), or NULL */
    const char *password;    /* secret: never logged */
    const char *token;       /* bearer token, secret: never logged */
    long connect_timeout_ms;
    long request_timeout_ms;
    long inactivity_timeout_ms;
    long reconnect_window_ms; /* how long a dropped WebSocket may stay down during a job */
    cfy_outputs_mode_t outputs;
    long long max_output_bytes;
    long long max_input_bytes;
    int allow_private_input_urls;
    int report_models;
    char *auth_header; /* Authorization header value ("Basic ..."/"Bearer ...") or NULL; owned,
                          secret */
    char *base_url;    /* "http://host:port", owned */
} cfy_config_t;

struct cfy_http_req;

/* Read and check every option. Returns 0, or -1 after the host has recorded the errors. */
int cfy_config_read(cfy_config_t *cfg, const emp_host_api_t *api, emp_host_t *host);
void cfy_config_free(cfy_config_t *cfg);

/* Fill the backend-related fields of an HTTP request (auth, CA file, timeouts). */
void cfy_config_backend_req(const cfy_config_t *cfg, struct cfy_http_req *req);

#endif
