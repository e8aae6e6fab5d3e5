/*
 * config_env.c - environment overrides (see config_env.h).
 *
 * Precedence, highest first: the environment, then the files, then built-in defaults.
 */
#define _GNU_SOURCE
#include "config_env.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

typedef enum { E_STR, E_INT, E_BOOL, E_DOUBLE, E_LIST } env_type_t;

typedef struct env_spec {
    const char *name;
    env_type_t type;
    size_t off;
    double min, max;
    size_t count_off; /* E_LIST: offset of the size_t count */
} env_spec_t;

#define F(field) offsetof(emp_config_t, field)

/* The first variable found of several aliases wins, so aliases are listed in order. */
static const env_spec_t env_table[] = {
    {"HUB_REDIS_URL", E_STR, F(redis_url), 0, 0, 0},
    {"WORKER_ID", E_STR, F(worker_id), 0, 0, 0},
    {"MACHINE_ID", E_STR, F(machine_id), 0, 0, 0},
    {"UNIFIED_MACHINE_STATUS", E_BOOL, F(unified_machine_status), 0, 1, 0},
    {"WORKER_POLL_INTERVAL_MS", E_INT, F(fallback_poll_ms), 10, 3600000, 0},
    {"WORKER_HEARTBEAT_INTERVAL_MS", E_INT, F(heartbeat_interval_ms), 100, 600000, 0},
    {"JOB_TIMEOUT_MINUTES", E_INT, F(timeout_minutes), 1, 10080, 0},
    {"WORKER_JOB_TIMEOUT_MINUTES", E_INT, F(timeout_minutes), 1, 10080, 0},
    {"WORKER_RAM_GB", E_DOUBLE, F(ram_gb), 0, 1e6, 0},
    {"WORKER_GPU_MEMORY_GB", E_DOUBLE, F(gpu_memory_gb), 0, 1e6, 0},
    {"WORKER_GPU_MODEL", E_STR, F(gpu_model), 0, 0, 0},
    {"WORKER_CUSTOMER_ISOLATION", E_STR, F(isolation), 0, 0, 0},
    {"CUSTOMER_ISOLATION", E_STR, F(isolation), 0, 0, 0},
    {"ALLOWED_CUSTOMERS", E_LIST, F(allowed_customers), 0, 0, F(nallowed)},
    {"DENIED_CUSTOMERS", E_LIST, F(denied_customers), 0, 0, F(ndenied)},
    {"MAX_CONCURRENT_CUSTOMERS", E_INT, F(max_concurrent_customers), 0, 1000000, 0},
    {"WORKER_WORKFLOW_ID", E_STR, F(workflow_id), 0, 0, 0},
    {NULL, E_STR, 0, 0, 0, 0},
};

static void split_list(const char *v, char ***out, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*out)[i]);
    free(*out);
    *out = NULL;
    *n = 0;
    char *copy = xstrdup(v), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (l == 0)
            continue;
        *out = xrealloc(*out, (*n + 2) * sizeof **out);
        (*out)[(*n)++] = xstrdup(tok);
        (*out)[*n] = NULL;
    }
    free(copy);
}

void emp_config_env_apply(emp_config_t *c, emp_getenv_fn get, emp_errlist_t *e)
{
    char *base = (char *)c;
    unsigned char seen[F(workflow_id) + sizeof(char *)];
    memset(seen, 0, sizeof seen);
    for (const env_spec_t *s = env_table; s->name; s++) {
        const char *v = get(s->name);
        if (v == NULL || v[0] == '\0' || seen[s->off])
            continue;
        seen[s->off] = 1;
        char *end;
        switch (s->type) {
        case E_STR: {
            char **dst = (char **)(base + s->off);
            free(*dst);
            *dst = xstrdup(v);
            break;
        }
        case E_BOOL:
            if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
                *(int *)(base + s->off) = 1;
            else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
                *(int *)(base + s->off) = 0;
            else
                emp_err_add(e, NULL, 0,
                            "environment variable %s: expected true or false, got \"%s\"", s->name,
                            v);
            break;
        case E_INT:
        case E_DOUBLE: {
            errno = 0;
            double d = strtod(v, &end);
            if (errno || end == v || *end != '\0' || isnan(d) || d < s->min || d > s->max ||
                (s->type == E_INT && d != (double)(long long)d)) {
                if (s->type == E_INT) /* integers in full, not 3.6e+06 */
                    emp_err_add(e, NULL, 0,
                                "environment variable %s: expected an integer in [%.0f, %.0f], "
                                "got \"%s\"",
                                s->name, s->min, s->max, v);
                else
                    emp_err_add(e, NULL, 0,
                                "environment variable %s: expected a number in [%g, %g], got "
                                "\"%s\"",
                                s->name, s->min, s->max, v);
                break;
            }
            if (s->type == E_INT)
                *(int *)(base + s->off) = (int)d;
            else
                *(double *)(base + s->off) = d;
            break;
        }
        case E_LIST:
            split_list(v, (char ***)(base + s->off), (size_t *)(base + s->count_off));
            break;
        }
    }

    /* Legacy (emp-worker-old / mgpu): WORKER_REDIS_API_HOST[:PORT] + auth token -> Redis URL.
     * The token is percent-encoded: it may hold '/', '@', ':' or '%' (the URL parser decodes it).
     */
    const char *hub = get("HUB_REDIS_URL");
    const char *host = get("WORKER_REDIS_API_HOST");
    if ((hub == NULL || hub[0] == '\0') && host && host[0]) {
        const char *port = get("WORKER_REDIS_API_PORT");
        const char *token = get("WORKER_WEBSOCKET_AUTH_TOKEN");
        const char *scheme = get("WORKER_USE_SSL") && strcmp(get("WORKER_USE_SSL"), "true") == 0
                                 ? "rediss"
                                 : "redis";
        free(c->redis_url);
        if (token && token[0]) {
            char *enc = xmalloc(strlen(token) * 3 + 1), *o = enc;
            for (const unsigned char *t = (const unsigned char *)token; *t; t++) {
                if ((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
                    (*t >= '0' && *t <= '9') || strchr("-._~", *t))
                    *o++ = (char)*t;
                else
                    o += sprintf(o, "%%%02X", *t);
            }
            *o = '\0';
            c->redis_url =
                xasprintf("%s://:%s@%s:%s", scheme, enc, host, port && port[0] ? port : "6379");
            free(enc);
        } else
            c->redis_url = xasprintf("%s://%s:%s", scheme, host, port && port[0] ? port : "6379");
    }
}

static void add_override(emp_connector_cfg_t *cc, const char *key, const char *value,
                         const char *var)
{
    for (size_t i = 0; i < cc->noverrides; i++)
        if (strcmp(cc->overrides[i].key, key) == 0)
            return; /* first (most specific) variable wins */
    cc->overrides = xrealloc(cc->overrides, (cc->noverrides + 1) * sizeof *cc->overrides);
    emp_option_override_t *o = &cc->overrides[cc->noverrides++];
    o->key = xstrdup(key);
    o->value = xstrdup(value);
    o->source = xasprintf("environment variable %s", var);
}

/* Per-connector variables: exact port first, then base port + GPU, then host. */
typedef struct port_env {
    const char *plugin;
    const char *exact[3];
    const char *base[3];
    const char *host[2];
} port_env_t;

static const port_env_t port_envs[] = {
    {"comfyui",
     {"WORKER_COMFYUI_PORT", "COMFYUI_PORT", NULL},
     {"WORKER_BASE_COMFYUI_PORT", "COMFYUI_BASE_PORT", NULL},
     {"COMFYUI_HOST", NULL}},
    {"a1111",
     {"WORKER_A1111_PORT", "A1111_PORT", NULL},
     {"WORKER_BASE_A1111_PORT", "A1111_BASE_PORT", NULL},
     {"A1111_HOST", NULL}},
    {NULL, {NULL}, {NULL}, {NULL}},
};

static void connector_env(emp_config_t *c, emp_connector_cfg_t *cc, emp_getenv_fn get,
                          emp_errlist_t *e)
{
    for (const port_env_t *p = port_envs; p->plugin; p++) {
        if (strcmp(p->plugin, cc->plugin) != 0)
            continue;
        for (int i = 0; p->exact[i]; i++) {
            const char *v = get(p->exact[i]);
            if (v && v[0])
                add_override(cc, "port", v, p->exact[i]);
        }
        for (int i = 0; p->base[i]; i++) {
            const char *v = get(p->base[i]);
            if (v == NULL || v[0] == '\0')
                continue;
            char *end;
            long base = strtol(v, &end, 10);
            if (*end != '\0' || base < 1 || base > 65535) {
                emp_err_add(e, NULL, 0, "environment variable %s: expected a port, got \"%s\"",
                            p->base[i], v);
                continue;
            }
            char port[16];
            snprintf(port, sizeof port, "%ld", base + c->gpu);
            add_override(cc, "port", port, p->base[i]);
        }
        for (int i = 0; p->host[i]; i++) {
            const char *v = get(p->host[i]);
            if (v && v[0])
                add_override(cc, "host", v, p->host[i]);
        }
    }
}

void emp_config_env_connectors(emp_config_t *c, emp_getenv_fn get, emp_errlist_t *e)
{
    const char *list = get("WORKER_CONNECTORS");
    const char *var = "WORKER_CONNECTORS";
    if (list == NULL || list[0] == '\0') {
        list = get("CONNECTORS");
        var = "CONNECTORS";
    }
    if (list && list[0]) {
        char **names = NULL;
        size_t n = 0;
        split_list(list, &names, &n);
        /* "type" or "type:count": the count is a multi-process notion; one worker here */
        for (size_t i = 0; i < n; i++) {
            char *colon = strchr(names[i], ':');
            if (colon)
                *colon = '\0';
        }
        /* Connectors configured in conf.d but not named are disabled; named ones without a
         * conf.d file are enabled with default options. */
        for (size_t k = 0; k < c->nconnectors; k++) {
            int named = 0;
            for (size_t i = 0; i < n; i++)
                named |= strcmp(names[i], c->connectors[k].plugin) == 0;
            if (!named)
                c->connectors[k].timeout_minutes = -1;
        }
        for (size_t i = 0; i < n; i++) {
            int found = 0;
            for (size_t k = 0; k < c->nconnectors; k++)
                found |= strcmp(names[i], c->connectors[k].plugin) == 0;
            if (found)
                continue;
            if (strpbrk(names[i], "/. ") != NULL) {
                emp_err_add(e, NULL, 0, "environment variable %s: \"%s\" is not a connector name",
                            var, names[i]);
                continue;
            }
            c->connectors = xrealloc(c->connectors, (c->nconnectors + 1) * sizeof *c->connectors);
            emp_connector_cfg_t *cc = &c->connectors[c->nconnectors++];
            memset(cc, 0, sizeof *cc);
            cc->plugin = xstrdup(names[i]);
            cc->file = xasprintf("environment variable %s", var);
            if (c->gpu_section) {
                const config_setting_t *svcs =
                    config_setting_get_member(c->gpu_section, "services");
                if (svcs && config_setting_type(svcs) == CONFIG_TYPE_GROUP)
                    cc->gpu_options = config_setting_get_member(svcs, names[i]);
            }
        }
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    for (size_t k = 0; k < c->nconnectors; k++)
        connector_env(c, &c->connectors[k], get, e);
}

/* The variables read outside the tables above (legacy Redis address, connector selection). */
static const char *const other_names[] = {"WORKER_REDIS_API_HOST",
                                          "WORKER_REDIS_API_PORT",
                                          "WORKER_WEBSOCKET_AUTH_TOKEN",
                                          "WORKER_USE_SSL",
                                          "WORKER_CONNECTORS",
                                          "CONNECTORS",
                                          NULL};

const char *emp_config_env_name(size_t i)
{
    size_t n = 0;
    for (const env_spec_t *s = env_table; s->name; s++)
        if (n++ == i)
            return s->name;
    for (int k = 0; other_names[k]; k++)
        if (n++ == i)
            return other_names[k];
    for (const port_env_t *p = port_envs; p->plugin; p++) {
        const char *const *lists[3] = {p->exact, p->base, p->host};
        for (int l = 0; l < 3; l++)
            for (int k = 0; lists[l][k]; k++)
                if (n++ == i)
                    return lists[l][k];
    }
    return NULL;
}
