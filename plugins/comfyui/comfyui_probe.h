/*
 * comfyui_probe - readiness of the backend (start): GET /system_stats, and optionally the
 * checkpoint list from GET /object_info/CheckpointLoaderSimple reported as models.
 *
 * Owns nothing beyond one call. cfy_models_parse takes untrusted input (fuzzing entry point)
 * and reads both COMBO shapes: [["a.safetensors", ...], {...}] and ["COMBO", {"options": [...]}].
 */
#ifndef COMFYUI_PROBE_H
#define COMFYUI_PROBE_H

#include <stddef.h>

#include "comfyui_job.h"
#include "ebuf.h"

emp_start_t cfy_probe(cfy_state_t *s);

/* Append the checkpoint names found in an /object_info(/CheckpointLoaderSimple) body to out
 * as a JSON array of strings. Returns the number of names, or -1 when none could be read. */
int cfy_models_parse(const char *body, size_t len, ebuf_t *out);

#endif
