/*
 * comfyui_outputs - builds the job result (JobResult.data) from a finished prompt's history.
 *
 * Owns: the result JSON text. It lists every output file (node, class_type, kind, filename,
 * subfolder, type, /view URL, MIME type; with outputs = "base64" also the bytes, downloaded
 * through /view under max_output_bytes in total), the execution timings, the reference
 * worker's CDN fields (image_url, mime_type, content_type) when the job's ctx carries
 * storage.cdnUrl, and the backend's raw outputs object byte for byte.
 */
#ifndef COMFYUI_OUTPUTS_H
#define COMFYUI_OUTPUTS_H

#include <stdint.h>

#include "comfyui_config.h"
#include "comfyui_history.h"
#include "comfyui_http.h"
#include "comfyui_progress.h"
#include "emp_plugin.h"

typedef struct cfy_timings {
    int64_t submitted_wall_ms; /* when POST /prompt answered (epoch ms) */
    int64_t started_mono_ms;   /* run start, monotonic */
    int64_t queued_ms;         /* POST answered -> execution_start seen (-1 unknown) */
    int64_t execution_ms;      /* execution_start -> end marker (-1 unknown) */
    int64_t total_ms;          /* run start -> result */
} cfy_timings_t;

typedef struct cfy_outputs_ctx {
    const emp_host_api_t *api;
    emp_job_t *job;
    const cfy_config_t *cfg;
    cfy_http_t *http;
    int cancel_fd;
    const char *prompt_id, *client_id;
    const cfy_progress_t *progress; /* node id -> class_type */
    const cfy_history_t *history;
    const cfy_timings_t *timings;
    const char *const *cached_nodes; /* from execution_cached, may be NULL */
    size_t ncached;
} cfy_outputs_ctx_t;

/* Build the result and hand it to api->set_result. Returns EMP_OK or the api->fail result. */
emp_result_t cfy_outputs_publish(const cfy_outputs_ctx_t *c);

/* The reference worker's CDN URL rule: https://<cdnUrl>/<prefix>/<filename>, from the job's
 * ctx JSON text ({"storage": {"cdnUrl"}, "prefix"} or storage.prefix). Appends nothing and
 * returns 0 when ctx has no cdnUrl; 1 when a URL was appended to out. */
int cfy_cdn_url(const char *ctx_json, const char *filename, ebuf_t *out);

#endif
