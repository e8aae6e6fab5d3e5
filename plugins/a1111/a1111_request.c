/* a1111_request.c - payload -> request body (see a1111_request.h). */
#include "a1111_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ejson.h"

/* The reference worker's defaults, applied only to fields the payload lacks. A default is also
 * skipped when the payload sets the field named in `unless` (a legacy sampler_index would
 * otherwise lose to our sampler_name). */
static const struct {
    const char *key;
    const char *json;
    const char *unless;
} a1111_defaults[] = {
    {"width", "512", NULL},
    {"height", "512", NULL},
    {"steps", "20", NULL},
    {"cfg_scale", "7", NULL},
    {"sampler_name", "\"Euler a\"", "sampler_index"},
    {"scheduler", "\"automatic\"", NULL},
    {"seed", "-1", NULL},
    {"batch_size", "1", NULL},
    {"n_iter", "1", NULL},
    {"do_not_save_samples", "true", NULL},
    {"do_not_save_grid", "true", NULL},
    {"override_settings_restore_afterwards", "true", NULL},
};
#define A1111_NDEFAULTS (sizeof a1111_defaults / sizeof a1111_defaults[0])

/* Keys that steer the plugin and are never sent to A1111 (force_task_id is replaced). */
static const char *const a1111_routing_keys[] = {"endpoint", "mode", "force_task_id"};

/* Values an explicit `endpoint` or `mode` may take. */
static const struct {
    const char *value;
    a1111_mode_t mode;
} a1111_mode_names[] = {
    {"txt2img", A1111_TXT2IMG},
    {"img2img", A1111_IMG2IMG},
    {"/sdapi/v1/txt2img", A1111_TXT2IMG},
    {"/sdapi/v1/img2img", A1111_IMG2IMG},
};

const char *a1111_mode_path(a1111_mode_t mode)
{
    return mode == A1111_IMG2IMG ? "/sdapi/v1/img2img" : "/sdapi/v1/txt2img";
}

const char *a1111_mode_state_job(a1111_mode_t mode)
{
    return mode == A1111_IMG2IMG ? "scripts_img2img" : "scripts_txt2img";
}

const char *a1111_mode_name(a1111_mode_t mode)
{
    return mode == A1111_IMG2IMG ? "img2img" : "txt2img";
}

static int is_routing_key(ejson_span_t key)
{
    for (size_t i = 0; i < sizeof a1111_routing_keys / sizeof a1111_routing_keys[0]; i++)
        if (ejson_string_equals(key, a1111_routing_keys[i]))
            return 1;
    return 0;
}

/* An explicit endpoint/mode value -> mode. 0, or -1 when it names nothing we know. */
static int parse_mode_value(ejson_span_t v, a1111_mode_t *mode)
{
    if (ejson_first_char(v.p, v.len) != '"')
        return -1;
    for (size_t i = 0; i < sizeof a1111_mode_names / sizeof a1111_mode_names[0]; i++)
        if (ejson_string_equals(v, a1111_mode_names[i].value)) {
            *mode = a1111_mode_names[i].mode;
            return 0;
        }
    return -1;
}

/* A non-empty array: the payload carries init images. */
static int non_empty_array(ejson_span_t v)
{
    ejson_iter_t it;
    ejson_span_t e;
    return ejson_array_begin(&it, v.p, v.len) == 0 && ejson_array_next(&it, &e) == 1;
}

int a1111_request_build(const char *payload, size_t len, const char *task_id, a1111_request_t *out,
                        char *err, size_t errlen)
{
    ejson_iter_t it;
    ejson_member_t m;
    int have[A1111_NDEFAULTS] = {0};
    int explicit_mode = 0, has_init = 0, r, first = 1;
    a1111_mode_t mode = A1111_TXT2IMG;

    memset(out, 0, sizeof *out);
    ebuf_init(&out->body, 0);
    if (payload == NULL || ejson_validate(payload, len) != 0) {
        snprintf(err, errlen, "payload is not valid JSON");
        return -1;
    }
    if (ejson_object_begin(&it, payload, len) != 0) {
        snprintf(err, errlen, "payload must be a JSON object of txt2img/img2img fields");
        return -1;
    }
    /* First pass: routing and which defaults are needed. */
    while ((r = ejson_object_next(&it, &m)) == 1) {
        if (ejson_string_equals(m.key, "endpoint") || ejson_string_equals(m.key, "mode")) {
            if (parse_mode_value(m.value, &mode) != 0) {
                snprintf(err, errlen, "payload field '%s' must be \"txt2img\" or \"img2img\"",
                         ejson_string_equals(m.key, "mode") ? "mode" : "endpoint");
                return -1;
            }
            explicit_mode = 1;
            continue;
        }
        if (ejson_string_equals(m.key, "init_images"))
            has_init = non_empty_array(m.value);
        for (size_t d = 0; d < A1111_NDEFAULTS; d++)
            if (ejson_string_equals(m.key, a1111_defaults[d].key) ||
                (a1111_defaults[d].unless && ejson_string_equals(m.key, a1111_defaults[d].unless)))
                have[d] = 1;
    }
    if (r < 0) {
        snprintf(err, errlen, "payload is not valid JSON");
        return -1;
    }
    out->mode = explicit_mode ? mode : (has_init ? A1111_IMG2IMG : A1111_TXT2IMG);

    /* Second pass: copy the user's members verbatim, then defaults, then our task id. */
    ebuf_t *b = &out->body;
    if (ebuf_append(b, "{", 1) != 0)
        goto oom;
    ejson_object_begin(&it, payload, len);
    while (ejson_object_next(&it, &m) == 1) {
        if (is_routing_key(m.key))
            continue;
        if ((!first && ebuf_append(b, ",", 1) != 0) ||
            ebuf_append(b, m.member.p, m.member.len) != 0)
            goto oom;
        first = 0;
    }
    for (size_t d = 0; d < A1111_NDEFAULTS; d++) {
        if (have[d])
            continue;
        if (ebuf_printf(b, "%s\"%s\":%s", first ? "" : ",", a1111_defaults[d].key,
                        a1111_defaults[d].json) != 0)
            goto oom;
        first = 0;
    }
    if (ebuf_printf(b, "%s\"force_task_id\":", first ? "" : ",") != 0 ||
        ebuf_json_cstr(b, task_id) != 0 || ebuf_append(b, "}", 1) != 0)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory building the request");
    a1111_request_free(out);
    return -1;
}

void a1111_request_free(a1111_request_t *req) { ebuf_free(&req->body); }
