/*
 * comfyui_inputs - input images of a job: payload `images: [{name, image}]`, where image is
 * base64 (optionally a data: URI) or an http(s) URL, uploaded with POST /upload/image before
 * the prompt is queued.
 *
 * Owns: the downloaded/decoded bytes while one image is being uploaded, and the URL policy:
 * http/https only, no redirects, size-capped, and (unless allowed by option) no loopback,
 * private or link-local addresses; the checked address is pinned so DNS cannot change it
 * between check and fetch.
 */
#ifndef COMFYUI_INPUTS_H
#define COMFYUI_INPUTS_H

#include "comfyui_config.h"
#include "comfyui_http.h"
#include "emp_plugin.h"

typedef struct cfy_inputs_ctx {
    const emp_host_api_t *api;
    emp_job_t *job;
    const cfy_config_t *cfg;
    cfy_http_t *http;
    int cancel_fd;
} cfy_inputs_ctx_t;

/* Upload every image listed in `images` (a cJSON array, passed as void * to keep cJSON out
 * of this header). Returns EMP_OK, or the result of api->fail (FAIL for bad input, RETRY for
 * a backend or source that is down, CANCELLED). */
emp_result_t cfy_inputs_upload(const cfy_inputs_ctx_t *c, const void *images_json);

#endif
