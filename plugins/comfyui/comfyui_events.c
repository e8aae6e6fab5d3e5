/* comfyui_events.c - WebSocket frame -> event (see comfyui_events.h). */
#define _GNU_SOURCE
#include "comfyui_events.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CFY_EV_MAX_CACHED 100000

static const struct {
    const char *name;
    cfy_ev_type_t type;
} ev_names[] = {
    {"status", CFY_EV_STATUS},
    {"feature_flags", CFY_EV_FEATURE_FLAGS},
    {"execution_start", CFY_EV_EXECUTION_START},
    {"execution_cached", CFY_EV_EXECUTION_CACHED},
    {"executing", CFY_EV_EXECUTING},
    {"progress", CFY_EV_PROGRESS},
    {"executed", CFY_EV_EXECUTED},
    {"execution_success", CFY_EV_EXECUTION_SUCCESS},
    {"execution_error", CFY_EV_EXECUTION_ERROR},
    {"execution_interrupted", CFY_EV_EXECUTION_INTERRUPTED},
};

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Node ids are strings on the wire; tolerate a number by ignoring it (never seen). */
static const char *node_member(const cJSON *obj, const char *key, int *present)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (present)
        *present = it != NULL && (cJSON_IsString(it) || cJSON_IsNull(it));
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int finite_number(const cJSON *it, double *out)
{
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return 0;
    *out = it->valuedouble;
    return 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse_binary(const unsigned char *buf, size_t len, cfy_event_t *ev)
{
    if (len < 4)
        return -1;
    ev->binary_event = be32(buf);
    switch (ev->binary_event) {
    case 1: /* PREVIEW_IMAGE: u32 image type, image bytes */
        if (len < 8)
            return -1;
        ev->type = CFY_EV_PREVIEW;
        ev->preview_mime = be32(buf + 4) == 2 ? "image/png" : "image/jpeg";
        return 0;
    case 4: { /* PREVIEW_IMAGE_WITH_METADATA: u32 len, JSON metadata, image bytes */
        if (len < 8)
            return -1;
        uint32_t mlen = be32(buf + 4);
        if (mlen > len - 8)
            return -1;
        cJSON *meta = cJSON_ParseWithLength((const char *)buf + 8, mlen);
        if (meta == NULL || !cJSON_IsObject(meta)) {
            cJSON_Delete(meta);
            return -1;
        }
        ev->json = meta;
        ev->type = CFY_EV_PREVIEW;
        ev->prompt_id = str_member(meta, "prompt_id");
        ev->node = str_member(meta, "node_id");
        ev->preview_mime = str_member(meta, "image_type");
        return 0;
    }
    case 3: /* TEXT: u32 len, node id, text */
        if (len < 8 || be32(buf + 4) > len - 8)
            return -1;
        ev->type = CFY_EV_BINARY_OTHER;
        return 0;
    default: ev->type = CFY_EV_BINARY_OTHER; return 0;
    }
}

static int parse_cached(const cJSON *data, cfy_event_t *ev)
{
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(data, "nodes");
    if (!cJSON_IsArray(nodes))
        return 0; /* tolerate: no cached list */
    int n = cJSON_GetArraySize(nodes);
    if (n <= 0)
        return 0;
    if (n > CFY_EV_MAX_CACHED)
        n = CFY_EV_MAX_CACHED;
    ev->strv = calloc((size_t)n, sizeof *ev->strv);
    if (ev->strv == NULL)
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, nodes)
    {
        if (ev->ncached >= (size_t)n)
            break;
        if (cJSON_IsString(it))
            ev->strv[ev->ncached++] = it->valuestring;
    }
    ev->cached_nodes = ev->strv;
    return 0;
}

static int parse_text(const unsigned char *buf, size_t len, cfy_event_t *ev)
{
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    if (root == NULL)
        return -1;
    ev->json = root;
    if (!cJSON_IsObject(root))
        return -1;
    const char *type = str_member(root, "type");
    if (type == NULL)
        return -1;
    ev->type_name = type;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    ev->type = CFY_EV_OTHER;
    for (size_t i = 0; i < sizeof ev_names / sizeof ev_names[0]; i++)
        if (strcmp(type, ev_names[i].name) == 0)
            ev->type = ev_names[i].type;
    if (ev->type == CFY_EV_OTHER)
        return 0;
    if (!cJSON_IsObject(data)) {
        /* every type we use carries an object; a known type without one is garbage */
        ev->type = CFY_EV_MALFORMED;
        return -1;
    }
    ev->prompt_id = str_member(data, "prompt_id");
    switch (ev->type) {
    case CFY_EV_STATUS: {
        ev->sid = str_member(data, "sid");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(data, "status");
        const cJSON *ei = cJSON_GetObjectItemCaseSensitive(st, "exec_info");
        double q;
        if (finite_number(cJSON_GetObjectItemCaseSensitive(ei, "queue_remaining"), &q) && q >= 0 &&
            q < 1e9)
            ev->queue_remaining = (long)q;
        break;
    }
    case CFY_EV_EXECUTION_CACHED:
        if (parse_cached(data, ev) != 0)
            return -1;
        break;
    case CFY_EV_EXECUTING:
        ev->node = node_member(data, "node", &ev->node_present);
        if (!ev->node_present) {
            ev->type = CFY_EV_MALFORMED;
            return -1;
        }
        break;
    case CFY_EV_PROGRESS:
        ev->node = node_member(data, "node", NULL);
        if (!finite_number(cJSON_GetObjectItemCaseSensitive(data, "value"), &ev->value) ||
            !finite_number(cJSON_GetObjectItemCaseSensitive(data, "max"), &ev->max) ||
            !(ev->max > 0)) {
            ev->type = CFY_EV_MALFORMED;
            return -1;
        }
        if (ev->value < 0)
            ev->value = 0;
        if (ev->value > ev->max)
            ev->value = ev->max;
        break;
    case CFY_EV_EXECUTED: ev->node = node_member(data, "node", NULL); break;
    case CFY_EV_EXECUTION_ERROR:
    case CFY_EV_EXECUTION_INTERRUPTED:
        ev->exception_type = str_member(data, "exception_type");
        ev->exception_message = str_member(data, "exception_message");
        ev->node_id = node_member(data, "node_id", NULL);
        ev->node_type = str_member(data, "node_type");
        break;
    default: break;
    }
    return 0;
}

int cfy_event_parse(const unsigned char *buf, size_t len, int binary, cfy_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = CFY_EV_MALFORMED;
    ev->queue_remaining = -1;
    if (buf == NULL)
        return -1;
    int rc = binary ? parse_binary(buf, len, ev) : parse_text(buf, len, ev);
    if (rc != 0) {
        ev->type = CFY_EV_MALFORMED;
        return -1;
    }
    return 0;
}

void cfy_event_free(cfy_event_t *ev)
{
    if (ev == NULL)
        return;
    cJSON_Delete(ev->json);
    free(ev->strv);
    memset(ev, 0, sizeof *ev);
}
