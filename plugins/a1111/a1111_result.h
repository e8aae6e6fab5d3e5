/*
 * a1111_result.h - A1111's 200 answer -> the job's result object.
 *
 * Owns: the parsing of {"images": [...], "parameters": {...}, "info": "<JSON text>"} (an
 * untrusted body: any bytes, any size up to the cap; never crashes), the decoding of base64
 * images and writing them to output_dir when output = "files", and the text of the result.
 *
 * Numbers are never converted: parameters is copied byte for byte and info's string is
 * unescaped into its JSON text and copied as is, so 64-bit seeds keep every digit.
 *
 * Result, inline:  {"images":["<base64>",...],"parameters":{...},"info":{...}}
 * Result, files:   {"files":[{"path":"/dir/<job>-0.png","mime_type":"image/png","size":N},...],
 *                   "parameters":{...},"info":{...}}
 */
#ifndef A1111_RESULT_H
#define A1111_RESULT_H

#include <stddef.h>

#include "a1111_config.h"
#include "a1111_errors.h"
#include "ebuf.h"

typedef struct a1111_result_opts {
    a1111_output_t output;
    const char *output_dir; /* files mode only */
    const char *job_id;     /* names the files (made safe for a file name) */
} a1111_result_opts_t;

/* Builds the result text into out. Returns 0 and the number of images in *nimages, or -1 with
 * *err set: a body that is not A1111's answer (EMP_RETRY "bad_response"), or a file that could
 * not be written (EMP_RETRY "output_write"). Files already written by a failed call are
 * removed. */
int a1111_result_build(const char *body, size_t len, const a1111_result_opts_t *o, ebuf_t *out,
                       size_t *nimages, a1111_error_t *err);

/* Decodes standard base64 (optional "data:...;base64," prefix, padding optional) into out.
 * 0 / -1. Exposed for tests and fuzzing. */
int a1111_base64_decode(const char *s, size_t len, ebuf_t *out);

#endif
