/* comfyui_progress.c - see comfyui_progress.h. */
#define _GNU_SOURCE
#include "comfyui_progress.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFY_PROGRESS_CAP 0.99

int cfy_progress_init(cfy_progress_t *p, const char *workflow, size_t len)
{
    memset(p, 0, sizeof *p);
    p->current = -1;
    cJSON *root = cJSON_ParseWithLength(workflow, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return 0;
    }
    int n = cJSON_GetArraySize(root);
    p->nodes = n > 0 ? calloc((size_t)n, sizeof *p->nodes) : NULL;
    if (n > 0 && p->nodes == NULL) {
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *node;
    cJSON_ArrayForEach(node, root)
    {
        if (!cJSON_IsObject(node) || node->string == NULL)
            continue;
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(node, "class_type");
        cfy_pnode_t *pn = &p->nodes[p->nnodes];
        pn->id = strdup(node->string);
        pn->class_type = strdup(cJSON_IsString(ct) ? ct->valuestring : "");
        p->nnodes++;
        if (pn->id == NULL || pn->class_type == NULL) {
            cJSON_Delete(root);
            cfy_progress_free(p);
            return -1;
        }
    }
    cJSON_Delete(root);
    return 0;
}

void cfy_progress_free(cfy_progress_t *p)
{
    for (size_t i = 0; i < p->nnodes; i++) {
        free(p->nodes[i].id);
        free(p->nodes[i].class_type);
    }
    free(p->nodes);
    memset(p, 0, sizeof *p);
    p->current = -1;
}

static long find_node(const cfy_progress_t *p, const char *id)
{
    if (id == NULL)
        return -1;
    for (size_t i = 0; i < p->nnodes; i++)
        if (strcmp(p->nodes[i].id, id) == 0)
            return (long)i;
    return -1;
}

const char *cfy_progress_class(const cfy_progress_t *p, const char *id)
{
    long i = find_node(p, id);
    return i >= 0 && p->nodes[i].class_type[0] ? p->nodes[i].class_type : NULL;
}

static void mark_done(cfy_progress_t *p, long i)
{
    if (i >= 0 && !p->nodes[i].done) {
        p->nodes[i].done = 1;
        p->ndone++;
    }
}

static double compute(cfy_progress_t *p)
{
    double f = 0;
    if (p->nnodes > 0) {
        double running = (p->current >= 0 && !p->nodes[p->current].done) ? p->step : 0;
        f = ((double)p->ndone + running) / (double)p->nnodes;
    }
    if (f > CFY_PROGRESS_CAP)
        f = CFY_PROGRESS_CAP;
    if (f < p->last)
        f = p->last;
    p->last = f;
    return f;
}

/* Display name of the running node: its class, else "node <id>". */
static void current_name(const cfy_progress_t *p, char *out, size_t outlen)
{
    if (p->current >= 0 && p->nodes[p->current].class_type[0])
        snprintf(out, outlen, "%s", p->nodes[p->current].class_type);
    else if (p->current >= 0)
        snprintf(out, outlen, "node %s", p->nodes[p->current].id);
    else if (p->current_id[0])
        snprintf(out, outlen, "node %s", p->current_id);
    else
        snprintf(out, outlen, "running");
}

int cfy_progress_apply(cfy_progress_t *p, const cfy_event_t *ev, double *fraction, char *msg,
                       size_t msglen)
{
    char name[160];
    switch (ev->type) {
    case CFY_EV_EXECUTION_START:
        *fraction = compute(p);
        snprintf(msg, msglen, "started");
        return 1;
    case CFY_EV_EXECUTION_CACHED:
        for (size_t i = 0; i < ev->ncached; i++)
            mark_done(p, find_node(p, ev->cached_nodes[i]));
        *fraction = compute(p);
        snprintf(msg, msglen, "cached %zu of %zu nodes", ev->ncached, p->nnodes);
        return 1;
    case CFY_EV_EXECUTING:
        if (ev->node == NULL)
            return 0; /* the end marker is handled by the job */
        if (p->current >= 0)
            mark_done(p, p->current); /* the previous node finished */
        p->current = find_node(p, ev->node);
        snprintf(p->current_id, sizeof p->current_id, "%s", ev->node);
        p->step = 0;
        *fraction = compute(p);
        current_name(p, name, sizeof name);
        snprintf(msg, msglen, "%s", name);
        return 1;
    case CFY_EV_PROGRESS: {
        /* progress of another node than the one executing (old servers send node null) */
        long idx = ev->node ? find_node(p, ev->node) : p->current;
        if (ev->node && idx != p->current && idx >= 0 && !p->nodes[idx].done) {
            if (p->current >= 0)
                mark_done(p, p->current);
            p->current = idx;
        }
        p->step = ev->max > 0 ? ev->value / ev->max : 0;
        *fraction = compute(p);
        current_name(p, name, sizeof name);
        snprintf(msg, msglen, "%s %.0f/%.0f", name, ev->value, ev->max);
        return 1;
    }
    case CFY_EV_EXECUTED: {
        long idx = find_node(p, ev->node);
        mark_done(p, idx);
        *fraction = compute(p);
        snprintf(msg, msglen, "%s done",
                 idx >= 0 && p->nodes[idx].class_type[0] ? p->nodes[idx].class_type : "output");
        return 1;
    }
    default: return 0;
    }
}
