/* comfyui_history.c - GET /history/{id} parser (see comfyui_history.h). */
#define _GNU_SOURCE
#include "comfyui_history.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or(const char *s, const char *def)
{
    const char *v = s ? s : def;
    return v ? strdup(v) : NULL;
}

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double ts_member(const cJSON *obj)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "timestamp");
    return cJSON_IsNumber(it) && isfinite(it->valuedouble) && it->valuedouble > 0 ? it->valuedouble
                                                                                  : 0;
}

static int add_file(cfy_history_t *h, const char *node, const char *kind, const cJSON *item)
{
    const char *filename = str_member(item, "filename");
    if (filename == NULL || h->nfiles >= CFY_HISTORY_MAX_FILES)
        return 0;
    cfy_file_t *n = realloc(h->files, (h->nfiles + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    h->files = n;
    cfy_file_t *f = &n[h->nfiles];
    f->node = strdup(node);
    f->kind = strdup(kind);
    f->filename = strdup(filename);
    f->subfolder = dup_or(str_member(item, "subfolder"), "");
    f->type = dup_or(str_member(item, "type"), "output");
    h->nfiles++;
    if (!f->node || !f->kind || !f->filename || !f->subfolder || !f->type)
        return -1;
    return 0;
}

/* outputs: {"<node>": {"images": [{filename, subfolder, type}], "text": [...], ...}} */
static int collect_files(cfy_history_t *h, const cJSON *outputs)
{
    const cJSON *node;
    cJSON_ArrayForEach(node, outputs)
    {
        if (!cJSON_IsObject(node) || node->string == NULL)
            continue;
        const cJSON *kind;
        cJSON_ArrayForEach(kind, node)
        {
            if (!cJSON_IsArray(kind) || kind->string == NULL)
                continue;
            const cJSON *item;
            cJSON_ArrayForEach(item, kind)
            {
                if (cJSON_IsObject(item) && add_file(h, node->string, kind->string, item) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

static int take_detail(cfy_history_t *h, const cJSON *data)
{
    h->exception_type = dup_or(str_member(data, "exception_type"), NULL);
    h->exception_message = dup_or(str_member(data, "exception_message"), NULL);
    h->node_id = dup_or(str_member(data, "node_id"), NULL);
    h->node_type = dup_or(str_member(data, "node_type"), NULL);
    return 0;
}

static void read_status(cfy_history_t *h, const cJSON *status)
{
    const char *st = str_member(status, "status_str");
    const cJSON *completed = cJSON_GetObjectItemCaseSensitive(status, "completed");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(status, "messages");
    int saw_error = 0, saw_interrupt = 0, saw_success = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        /* each message is [type, data] */
        if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) < 2)
            continue;
        const cJSON *t = cJSON_GetArrayItem(m, 0), *d = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsString(t) || !cJSON_IsObject(d))
            continue;
        if (strcmp(t->valuestring, "execution_start") == 0) {
            h->ts_start = ts_member(d);
        } else if (strcmp(t->valuestring, "execution_success") == 0) {
            saw_success = 1;
            h->ts_end = ts_member(d);
        } else if (strcmp(t->valuestring, "execution_error") == 0 && !saw_error) {
            saw_error = 1;
            h->ts_end = ts_member(d);
            take_detail(h, d);
        } else if (strcmp(t->valuestring, "execution_interrupted") == 0 && !saw_interrupt &&
                   !saw_error) {
            saw_interrupt = 1;
            h->ts_end = ts_member(d);
            take_detail(h, d);
        }
    }
    if (saw_error)
        h->outcome = CFY_HIST_ERROR;
    else if (saw_interrupt)
        h->outcome = CFY_HIST_INTERRUPTED;
    else if (saw_success || (st && strcmp(st, "success") == 0) ||
             (st == NULL && cJSON_IsTrue(completed)))
        h->outcome = CFY_HIST_SUCCESS;
    else
        h->outcome = CFY_HIST_ERROR; /* "error" with no message we understand */
}

int cfy_history_parse(const char *body, size_t len, const char *prompt_id, cfy_history_t *h,
                      char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (err && errlen)
        err[0] = '\0';
    ejson_span_t entry;
    int r = ejson_find(body, len, prompt_id, &entry);
    if (r < 0) {
        if (err)
            snprintf(err, errlen, "history is not a JSON object");
        return -1;
    }
    if (r == 0)
        return 0; /* pending / unknown */
    cJSON *root = cJSON_ParseWithLength(entry.p, entry.len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        if (err)
            snprintf(err, errlen, "history entry is not an object");
        return -1;
    }
    ejson_span_t outputs;
    if (ejson_find(entry.p, entry.len, "outputs", &outputs) == 1 &&
        ejson_first_char(outputs.p, outputs.len) == '{')
        h->outputs_raw = outputs;
    /* the files must come from that same member: of duplicate keys ejson_find takes the last,
     * cJSON's lookup the first */
    const cJSON *outs = NULL, *m;
    cJSON_ArrayForEach(m, root)
    {
        if (m->string && strcmp(m->string, "outputs") == 0)
            outs = m;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (cJSON_IsObject(status)) {
        h->has_status = 1;
        read_status(h, status);
    } else {
        h->outcome = CFY_HIST_SUCCESS; /* servers before 2024-01 record only finished prompts */
    }
    int rc = collect_files(h, outs);
    cJSON_Delete(root);
    if (rc != 0) {
        if (err)
            snprintf(err, errlen, "out of memory reading history");
        cfy_history_free(h);
        return -1;
    }
    return 0;
}

void cfy_history_free(cfy_history_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nfiles; i++) {
        free(h->files[i].node);
        free(h->files[i].kind);
        free(h->files[i].filename);
        free(h->files[i].subfolder);
        free(h->files[i].type);
    }
    free(h->files);
    free(h->exception_type);
    free(h->exception_message);
    free(h->node_id);
    free(h->node_type);
    memset(h, 0, sizeof *h);
}
