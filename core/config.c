/*
 * config.c - loading and validating the main file and conf.d (see config.h).
 *
 * Scalar keys are described by tables (key, type, field, range); a generic walker checks each
 * group against its table, so an unknown key, a wrong type or an out-of-range value is
 * reported with the file:line of the setting and its full path.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_env.h"
#include "redis_url.h"
#include "xalloc.h"

typedef enum { K_STR, K_INT, K_BOOL, K_DOUBLE, K_LLONG, K_LOGLEVEL } key_type_t;

typedef struct key_spec {
    const char *name;
    key_type_t type;
    size_t off;
    double min, max;
} key_spec_t;

#define F(field) offsetof(emp_config_t, field)

static const key_spec_t worker_keys[] = {
    {"machine_id", K_STR, F(machine_id), 0, 0},
    {"worker_id", K_STR, F(worker_id), 0, 0},
    {"worker_id_format", K_STR, F(worker_id_format), 0, 0},
    {"plugin_dir", K_STR, F(plugin_dir), 0, 0},
    {"conf_dir", K_STR, F(conf_dir), 0, 0},
    {"log_level", K_LOGLEVEL, F(log_level), 0, 0},
    {NULL, K_STR, 0, 0, 0},
};

static const key_spec_t redis_keys[] = {
    {"url", K_STR, F(redis_url), 0, 0},
    {"connect_timeout_ms", K_INT, F(connect_timeout_ms), 10, 600000},
    {"command_timeout_ms", K_INT, F(command_timeout_ms), 10, 600000},
    {"load_function", K_BOOL, F(load_function), 0, 1},
    {"max_scan", K_INT, F(max_scan), 1, 100000},
    {"fallback_poll_ms", K_INT, F(fallback_poll_ms), 10, 3600000},
    {"wake_jitter_ms", K_INT, F(wake_jitter_ms), 0, 10000},
    {"heartbeat_interval_ms", K_INT, F(heartbeat_interval_ms), 100, 600000},
    {"heartbeat_ttl_s", K_INT, F(heartbeat_ttl_s), 1, 86400},
    {"sweep_interval_ms", K_INT, F(sweep_interval_ms), 100, 3600000},
    {"unified_machine_status", K_BOOL, F(unified_machine_status), 0, 1},
    {NULL, K_STR, 0, 0, 0},
};

static const key_spec_t jobs_keys[] = {
    {"timeout_minutes", K_INT, F(timeout_minutes), 1, 10080},
    {"shutdown_grace_s", K_INT, F(shutdown_grace_s), 0, 86400},
    {"cancel_grace_s", K_INT, F(cancel_grace_s), 1, 3600},
    {"progress_interval_ms", K_INT, F(progress_interval_ms), 0, 60000},
    {"retry_backoff_base_ms", K_INT, F(retry_backoff_base_ms), 0, 3600000},
    {"retry_backoff_max_ms", K_INT, F(retry_backoff_max_ms), 0, 86400000},
    {"max_result_bytes", K_LLONG, F(max_result_bytes), 1024, 1073741824.0},
    {NULL, K_STR, 0, 0, 0},
};

static const key_spec_t hardware_keys[] = {
    {"ram_gb", K_DOUBLE, F(ram_gb), 0, 1e6},
    {"gpu_memory_gb", K_DOUBLE, F(gpu_memory_gb), 0, 1e6},
    {"gpu_model", K_STR, F(gpu_model), 0, 0},
    {NULL, K_STR, 0, 0, 0},
};

static const key_spec_t customer_keys[] = {
    {"isolation", K_STR, F(isolation), 0, 0},
    {"max_concurrent_customers", K_INT, F(max_concurrent_customers), 0, 1000000},
    {"allowed_customers", K_STR, 0, -1, 0}, /* arrays: handled by hand (min = -1 marks them) */
    {"denied_customers", K_STR, 0, -1, 0},
    {NULL, K_STR, 0, 0, 0},
};

static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

const char *emp_config_file_of(const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    return f ? f : "(config)";
}

static void set_defaults(emp_config_t *c)
{
    c->worker_id_format = xstrdup("{machine}-worker-{type}-{gpu}");
    c->conf_dir = xstrdup("conf.d");
    c->log_level = EMP_LOG_LEVEL_INFO;
    c->redis_url = xstrdup("redis://127.0.0.1:6379");
    c->connect_timeout_ms = 5000;
    c->command_timeout_ms = 5000;
    c->load_function = 1;
    c->max_scan = 100;
    c->fallback_poll_ms = 5000;
    c->wake_jitter_ms = 2;
    c->heartbeat_interval_ms = 10000;
    c->heartbeat_ttl_s = 60;
    c->sweep_interval_ms = 15000;
    c->timeout_minutes = 30;
    c->shutdown_grace_s = 25;
    c->cancel_grace_s = 10;
    c->progress_interval_ms = 250;
    c->retry_backoff_base_ms = 2000;
    c->retry_backoff_max_ms = 60000;
    c->max_result_bytes = 32LL * 1024 * 1024;
    c->ram_gb = 8;
    c->gpu_memory_gb = 8;
    c->gpu_model = xstrdup("unknown");
    c->isolation = xstrdup("loose");
    c->max_concurrent_customers = 10;
    c->gpu = -1;
}

/* Full dotted path of a setting, for messages ("redis.max_scan", "gpus.[1].index"). */
static void setting_path(const config_setting_t *s, char *buf, size_t len)
{
    const char *parts[32];
    int n = 0;
    for (const config_setting_t *p = s; p && !config_setting_is_root(p) && n < 32;
         p = config_setting_parent(p)) {
        parts[n++] = config_setting_name(p) ? config_setting_name(p) : "[]";
    }
    buf[0] = '\0';
    for (int i = n - 1; i >= 0; i--) {
        strncat(buf, parts[i], len - strlen(buf) - 1);
        if (i > 0)
            strncat(buf, ".", len - strlen(buf) - 1);
    }
}

static void err_at(emp_errlist_t *e, const config_setting_t *s, const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));

static void err_at(emp_errlist_t *e, const config_setting_t *s, const char *fmt, const char *arg)
{
    char path[256];
    setting_path(s, path, sizeof path);
    char msg[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof msg, fmt, arg);
#pragma GCC diagnostic pop
    emp_err_add(e, emp_config_file_of(s), config_setting_source_line(s), "'%s': %s", path, msg);
}

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT: return "an integer";
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "a value";
    }
}

static int is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double number_of(const config_setting_t *s)
{
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_FLOAT)
        return config_setting_get_float(s);
    return (double)config_setting_get_int64(s);
}

/* Validates one scalar against its spec and stores it. */
static void apply_key(emp_config_t *c, const key_spec_t *k, const config_setting_t *s,
                      emp_errlist_t *e)
{
    char *base = (char *)c;
    char msg[200];
    int t = config_setting_type(s);
    switch (k->type) {
    case K_STR: {
        if (t != CONFIG_TYPE_STRING) {
            err_at(e, s, "expected a string, found %s", type_name(t));
            return;
        }
        char **dst = (char **)(base + k->off);
        free(*dst);
        *dst = xstrdup(config_setting_get_string(s));
        return;
    }
    case K_LOGLEVEL: {
        const char *v = t == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
        for (int i = 0; v && log_level_names[i]; i++)
            if (strcmp(v, log_level_names[i]) == 0) {
                *(int *)(base + k->off) = i;
                return;
            }
        err_at(e, s, "%s", "expected one of \"error\", \"warn\", \"info\", \"debug\"");
        return;
    }
    case K_BOOL:
        if (t != CONFIG_TYPE_BOOL) {
            err_at(e, s, "expected a boolean (true or false), found %s", type_name(t));
            return;
        }
        *(int *)(base + k->off) = config_setting_get_bool(s);
        return;
    case K_INT:
    case K_LLONG:
    case K_DOUBLE: {
        if (!is_number(s) || (k->type != K_DOUBLE && t == CONFIG_TYPE_FLOAT)) {
            err_at(e, s, "expected %s", k->type == K_DOUBLE ? "a number" : "an integer");
            return;
        }
        double v = number_of(s);
        if (v < k->min || v > k->max) {
            if (k->type == K_DOUBLE)
                snprintf(msg, sizeof msg, "value %g is out of range [%g, %g]", v, k->min, k->max);
            else /* integers in full: %g would print 1073741825 as 1.07374e+09 */
                snprintf(msg, sizeof msg, "value %.0f is out of range [%.0f, %.0f]", v, k->min,
                         k->max);
            err_at(e, s, "%s", msg);
            return;
        }
        if (k->type == K_INT)
            *(int *)(base + k->off) = (int)v;
        else if (k->type == K_LLONG)
            *(long long *)(base + k->off) = config_setting_get_int64(s);
        else
            *(double *)(base + k->off) = v;
        return;
    }
    }
}

static void string_array(const config_setting_t *s, char ***out, size_t *n, emp_errlist_t *e)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
        err_at(e, s, "expected an array of strings, found %s", type_name(t));
        return;
    }
    int len = config_setting_length(s);
    for (int i = 0; i < len; i++) {
        const config_setting_t *it = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(it) != CONFIG_TYPE_STRING) {
            err_at(e, s, "%s", "every element must be a string");
            return;
        }
    }
    for (size_t i = 0; i < *n; i++)
        free((*out)[i]);
    free(*out);
    *out = xcalloc((size_t)len + 1, sizeof **out);
    *n = (size_t)len;
    for (int i = 0; i < len; i++)
        (*out)[i] = xstrdup(config_setting_get_string_elem(s, (unsigned)i));
}

/* Walk a group: every child must be in the table. */
static void walk_group(emp_config_t *c, const config_setting_t *g, const key_spec_t *table,
                       emp_errlist_t *e)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        err_at(e, g, "expected a group { ... }, found %s", type_name(config_setting_type(g)));
        return;
    }
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const key_spec_t *k = table;
        while (k->name && strcmp(k->name, config_setting_name(s)) != 0)
            k++;
        if (k->name == NULL) {
            err_at(e, s, "%s", "unknown key");
            continue;
        }
        if (k->min < 0 && k->max == 0 && k->type == K_STR) {
            if (strcmp(k->name, "allowed_customers") == 0)
                string_array(s, &c->allowed_customers, &c->nallowed, e);
            else
                string_array(s, &c->denied_customers, &c->ndenied, e);
            continue;
        }
        apply_key(c, k, s, e);
    }
}

static void load_capabilities(emp_config_t *c, const config_setting_t *g, emp_errlist_t *e)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        err_at(e, g, "expected a group { ... }, found %s", type_name(config_setting_type(g)));
        return;
    }
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        if (strcmp(name, "hardware") == 0)
            walk_group(c, s, hardware_keys, e);
        else if (strcmp(name, "customer_access") == 0)
            walk_group(c, s, customer_keys, e);
        else if (strcmp(name, "custom") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                err_at(e, s, "%s", "expected a group { ... }");
            else
                c->custom_caps = s;
        } else
            err_at(e, s, "%s", "unknown key (expected hardware, customer_access or custom)");
    }
}

/* gpus = ( { index = N; services = { name = { ... }; ... }; }, ... ) */
static void load_gpus(emp_config_t *c, const config_setting_t *list, int want, emp_errlist_t *e)
{
    int t = config_setting_type(list);
    if (t != CONFIG_TYPE_LIST) {
        err_at(e, list, "expected a list ( { index = 0; ... }, ... ), found %s", type_name(t));
        return;
    }
    int n = config_setting_length(list);
    c->gpu_indexes = xcalloc((size_t)n + 1, sizeof *c->gpu_indexes);
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            err_at(e, g, "%s", "each GPU must be a group { index = N; services = { ... }; }");
            continue;
        }
        int index = -1, ok = 1;
        for (int j = 0; j < config_setting_length(g); j++) {
            const config_setting_t *s = config_setting_get_elem(g, (unsigned)j);
            const char *name = config_setting_name(s);
            if (strcmp(name, "index") == 0) {
                if (config_setting_type(s) != CONFIG_TYPE_INT) {
                    err_at(e, s, "%s", "expected an integer");
                    ok = 0;
                } else if (config_setting_get_int(s) < 0 || config_setting_get_int(s) > 1023) {
                    err_at(e, s, "%s", "value is out of range [0, 1023]");
                    ok = 0;
                } else
                    index = config_setting_get_int(s);
            } else if (strcmp(name, "services") == 0) {
                if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                    err_at(e, s, "%s", "expected a group { connector = { port = N; }; ... }");
                    ok = 0;
                    continue;
                }
                for (int k = 0; k < config_setting_length(s); k++) {
                    const config_setting_t *svc = config_setting_get_elem(s, (unsigned)k);
                    if (config_setting_type(svc) != CONFIG_TYPE_GROUP) {
                        err_at(e, svc, "%s", "expected a group of options { port = N; }");
                        ok = 0;
                    }
                }
            } else {
                err_at(e, s, "%s", "unknown key (expected index or services)");
            }
        }
        if (index < 0) {
            if (ok)
                emp_err_add(e, emp_config_file_of(g), config_setting_source_line(g),
                            "'gpus': a GPU entry has no index");
            continue;
        }
        for (size_t k = 0; k < c->ngpus; k++)
            if (c->gpu_indexes[k] == index)
                emp_err_add(e, emp_config_file_of(g), config_setting_source_line(g),
                            "'gpus': GPU %d is listed twice", index);
        c->gpu_indexes[c->ngpus++] = index;
        if (index == want || (want < 0 && c->gpu < 0)) {
            c->gpu = index;
            c->gpu_section = g;
        }
    }
}

static int parse_file(config_t *cf, const char *path, emp_errlist_t *e)
{
    config_init(cf);
    if (config_read_file(cf, path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
        emp_err_add(e, path, 0, "cannot read: %s", strerror(errno ? errno : ENOENT));
    else
        emp_err_add(e, config_error_file(cf) ? config_error_file(cf) : path, config_error_line(cf),
                    "syntax error: %s", config_error_text(cf));
    return -1;
}

static int int_in_array(const config_setting_t *arr, int v)
{
    for (int i = 0; i < config_setting_length(arr); i++)
        if (config_setting_get_int_elem(arr, i) == v)
            return 1;
    return 0;
}

/* One conf.d file: connector = { plugin; enabled; gpus; services; timeout_minutes; options }. */
static void load_connector_file(emp_config_t *c, config_t *cf, const char *path, emp_errlist_t *e)
{
    const config_setting_t *root = config_root_setting(cf);
    const config_setting_t *conn = NULL;
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (strcmp(config_setting_name(s), "connector") == 0)
            conn = s;
        else
            err_at(e, s, "%s", "unknown key (a conf.d file holds one connector = { ... } group)");
    }
    if (conn == NULL) {
        emp_err_add(e, path, 0, "no connector = { ... } group");
        return;
    }
    if (config_setting_type(conn) != CONFIG_TYPE_GROUP) {
        err_at(e, conn, "%s", "expected a group { plugin = \"name\"; ... }");
        return;
    }
    const char *plugin = NULL;
    int enabled = 1, timeout = 0, bad = 0;
    const config_setting_t *gpus = NULL, *services = NULL, *options = NULL;
    for (int i = 0; i < config_setting_length(conn); i++) {
        const config_setting_t *s = config_setting_get_elem(conn, (unsigned)i);
        const char *name = config_setting_name(s);
        int t = config_setting_type(s);
        if (strcmp(name, "plugin") == 0) {
            if (t != CONFIG_TYPE_STRING || config_setting_get_string(s)[0] == '\0' ||
                strpbrk(config_setting_get_string(s), "/. ") != NULL) {
                err_at(e, s, "%s", "expected a plugin name such as \"comfyui\" (no path)");
                bad = 1;
            } else
                plugin = config_setting_get_string(s);
        } else if (strcmp(name, "enabled") == 0) {
            if (t != CONFIG_TYPE_BOOL) {
                err_at(e, s, "expected a boolean (true or false), found %s", type_name(t));
                bad = 1;
            } else
                enabled = config_setting_get_bool(s);
        } else if (strcmp(name, "timeout_minutes") == 0) {
            if (t != CONFIG_TYPE_INT || config_setting_get_int(s) < 1 ||
                config_setting_get_int(s) > 10080) {
                err_at(e, s, "%s", "expected an integer in [1, 10080]");
                bad = 1;
            } else
                timeout = config_setting_get_int(s);
        } else if (strcmp(name, "gpus") == 0) {
            int ok = t == CONFIG_TYPE_ARRAY;
            for (int k = 0; ok && k < config_setting_length(s); k++)
                ok =
                    config_setting_type(config_setting_get_elem(s, (unsigned)k)) == CONFIG_TYPE_INT;
            if (!ok) {
                err_at(e, s, "%s", "expected an array of GPU indexes, e.g. [0, 1]");
                bad = 1;
            } else
                gpus = s;
        } else if (strcmp(name, "services") == 0) {
            int ok = t == CONFIG_TYPE_ARRAY && config_setting_length(s) > 0;
            for (int k = 0; ok && k < config_setting_length(s); k++)
                ok = config_setting_type(config_setting_get_elem(s, (unsigned)k)) ==
                     CONFIG_TYPE_STRING;
            if (!ok) {
                err_at(e, s, "%s", "expected a non-empty array of service names");
                bad = 1;
            } else
                services = s;
        } else if (strcmp(name, "options") == 0) {
            if (t != CONFIG_TYPE_GROUP) {
                err_at(e, s, "expected a group { key = value; ... }, found %s", type_name(t));
                bad = 1;
            } else
                options = s;
        } else {
            err_at(e, s, "%s",
                   "unknown key (expected plugin, enabled, gpus, services, timeout_minutes, "
                   "options)");
        }
    }
    if (plugin == NULL) {
        if (!bad)
            emp_err_add(e, path, config_setting_source_line(conn),
                        "'connector': missing required key 'plugin'");
        return;
    }
    /* duplicates across files, whether or not enabled here */
    for (size_t i = 0; i < c->nconnectors; i++)
        if (strcmp(c->connectors[i].plugin, plugin) == 0) {
            emp_err_add(e, path, config_setting_source_line(conn),
                        "'connector': plugin \"%s\" is already configured in %s:%d", plugin,
                        c->connectors[i].file, c->connectors[i].line);
            return;
        }
    if (bad)
        return;
    const config_setting_t *gpu_opts = NULL;
    if (c->gpu_section) {
        const config_setting_t *svcs = config_setting_get_member(c->gpu_section, "services");
        if (svcs && config_setting_type(svcs) == CONFIG_TYPE_GROUP)
            gpu_opts = config_setting_get_member(svcs, plugin);
    }
    int here = enabled && (gpus == NULL || int_in_array(gpus, c->gpu));
    if (gpu_opts) {
        const config_setting_t *en = config_setting_get_member(gpu_opts, "enabled");
        if (en && config_setting_type(en) == CONFIG_TYPE_BOOL && !config_setting_get_bool(en))
            here = 0;
    }
    c->connectors = xrealloc(c->connectors, (c->nconnectors + 1) * sizeof *c->connectors);
    emp_connector_cfg_t *cc = &c->connectors[c->nconnectors++];
    memset(cc, 0, sizeof *cc);
    cc->plugin = xstrdup(plugin);
    cc->file = xstrdup(path);
    cc->line = config_setting_source_line(conn);
    cc->timeout_minutes = timeout;
    cc->options = options;
    cc->gpu_options = gpu_opts;
    if (services) {
        cc->nservices = (size_t)config_setting_length(services);
        cc->services = xcalloc(cc->nservices + 1, sizeof *cc->services);
        for (size_t k = 0; k < cc->nservices; k++)
            cc->services[k] = xstrdup(config_setting_get_string_elem(services, (int)k));
    }
    if (!here)
        cc->timeout_minutes = -1; /* marker: configured but not enabled on this GPU */
}

static void drop_disabled(emp_config_t *c)
{
    size_t w = 0;
    for (size_t i = 0; i < c->nconnectors; i++) {
        emp_connector_cfg_t *cc = &c->connectors[i];
        if (cc->timeout_minutes < 0) {
            free(cc->plugin);
            free(cc->file);
            for (size_t k = 0; k < cc->nservices; k++)
                free(cc->services[k]);
            free(cc->services);
            for (size_t k = 0; k < cc->noverrides; k++) {
                free(cc->overrides[k].key);
                free(cc->overrides[k].value);
                free(cc->overrides[k].source);
            }
            free(cc->overrides);
            continue;
        }
        c->connectors[w++] = *cc;
    }
    c->nconnectors = w;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

static void load_confd(emp_config_t *c, emp_errlist_t *e)
{
    char *main_dir = dir_of(c->main_path);
    char *dir =
        c->conf_dir[0] == '/' ? xstrdup(c->conf_dir) : xasprintf("%s/%s", main_dir, c->conf_dir);
    free(main_dir);
    char *pattern = xasprintf("%s/*.conf", dir);
    glob_t g;
    memset(&g, 0, sizeof g);
    int r = glob(pattern, 0, NULL, &g); /* glob sorts by default */
    if (r == 0) {
        c->confd = xcalloc(g.gl_pathc, sizeof *c->confd);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            config_t *cf = &c->confd[c->nconfd++];
            if (parse_file(cf, g.gl_pathv[i], e) == 0)
                load_connector_file(c, cf, g.gl_pathv[i], e);
        }
    } else if (r == GLOB_NOMATCH) {
        if (access(dir, R_OK | X_OK) != 0)
            emp_warn_add(e, dir, 0,
                         "conf.d directory not found: no connector is enabled by a file");
    } else {
        emp_err_add(e, dir, 0, "cannot read conf.d directory");
    }
    globfree(&g);
    free(pattern);
    free(dir);
}

static char *build_worker_id(const emp_config_t *c)
{
    char type[256] = "";
    for (size_t i = 0; i < c->nconnectors; i++) {
        if (i)
            strncat(type, "+", sizeof type - strlen(type) - 1);
        strncat(type, c->connectors[i].plugin, sizeof type - strlen(type) - 1);
    }
    if (type[0] == '\0')
        snprintf(type, sizeof type, "none");
    char gpu[16];
    snprintf(gpu, sizeof gpu, "%d", c->gpu < 0 ? 0 : c->gpu);
    size_t cap = strlen(c->worker_id_format) * 4 + 512;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (const char *p = c->worker_id_format; *p;) {
        const char *sub = NULL;
        size_t skip = 0;
        if (strncmp(p, "{machine}", 9) == 0)
            sub = c->machine_id, skip = 9;
        else if (strncmp(p, "{type}", 6) == 0)
            sub = type, skip = 6;
        else if (strncmp(p, "{gpu}", 5) == 0)
            sub = gpu, skip = 5;
        if (sub) {
            strncat(out, sub, cap - strlen(out) - 1);
            p += skip;
        } else {
            size_t l = strlen(out);
            if (l + 1 < cap) {
                out[l] = *p;
                out[l + 1] = '\0';
            }
            p++;
        }
    }
    return out;
}

int emp_config_load(emp_config_t *c, const char *path, int gpu, emp_errlist_t *e)
{
    memset(c, 0, sizeof *c);
    set_defaults(c);
    c->main_path = xstrdup(path);
    if (parse_file(&c->main, path, e) != 0) {
        c->nconfd = 0;
        return -1;
    }
    const config_setting_t *root = config_root_setting(&c->main);
    const config_setting_t *gpus = NULL;
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        if (strcmp(name, "worker") == 0)
            walk_group(c, s, worker_keys, e);
        else if (strcmp(name, "redis") == 0)
            walk_group(c, s, redis_keys, e);
        else if (strcmp(name, "jobs") == 0)
            walk_group(c, s, jobs_keys, e);
        else if (strcmp(name, "capabilities") == 0)
            load_capabilities(c, s, e);
        else if (strcmp(name, "gpus") == 0)
            gpus = s;
        else
            err_at(e, s, "%s", "unknown key (expected worker, redis, jobs, capabilities or gpus)");
    }
    if (gpus)
        load_gpus(c, gpus, gpu, e);
    if (gpu >= 0 && c->gpu != gpu && !(gpus == NULL && gpu == 0)) {
        emp_err_add(e, path, 0,
                    "GPU %d is not listed in 'gpus'; this machine's config lists %zu GPU(s)", gpu,
                    c->ngpus);
        c->gpu = gpu;
    } else if (c->gpu < 0) {
        c->gpu = 0; /* no gpus list: a single implicit GPU 0 */
    }
    emp_config_env_apply(c, getenv, e);
    emp_redis_url_t url;
    char uerr[256];
    if (emp_redis_url_parse(c->redis_url, &url, uerr, sizeof uerr) != 0)
        emp_err_add(e, path, 0, "the Redis URL (redis.url or HUB_REDIS_URL) is not usable: %s",
                    uerr); /* never the URL itself: it may hold the password */
    else
        emp_redis_url_free(&url);
    load_confd(c, e);
    emp_config_env_connectors(c, getenv, e);
    drop_disabled(c);
    if (c->machine_id == NULL || c->machine_id[0] == '\0') {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        free(c->machine_id);
        c->machine_id = xstrdup(host);
    }
    if (c->worker_id == NULL || c->worker_id[0] == '\0') {
        free(c->worker_id);
        c->worker_id = build_worker_id(c);
    }
    /* the id names Redis keys and channels: it must be non-empty and printable */
    int id_ok = c->worker_id[0] != '\0';
    for (const char *p = c->worker_id; *p && id_ok; p++)
        id_ok = (unsigned char)*p > ' ' && *p != 0x7f;
    if (!id_ok)
        emp_err_add(e, path, 0,
                    "the worker id \"%s\" is empty or has spaces or control characters (check "
                    "$WORKER_ID, worker.worker_id and worker.worker_id_format)",
                    c->worker_id);
    if (c->nconnectors == 0)
        emp_err_add(e, path, 0,
                    "no connector is enabled for GPU %d: drop a connector file into "
                    "%s (see conf.d/*.conf examples) or set WORKER_CONNECTORS",
                    c->gpu, c->conf_dir);
    if (c->retry_backoff_max_ms < c->retry_backoff_base_ms)
        emp_err_add(e, path, 0,
                    "'jobs.retry_backoff_max_ms' (%d) is smaller than "
                    "'jobs.retry_backoff_base_ms' (%d)",
                    c->retry_backoff_max_ms, c->retry_backoff_base_ms);
    if (c->heartbeat_interval_ms >= c->heartbeat_ttl_s * 1000)
        emp_err_add(e, path, 0,
                    "'redis.heartbeat_interval_ms' (%d) must be shorter than "
                    "'redis.heartbeat_ttl_s' (%d s), or the worker looks dead between beats",
                    c->heartbeat_interval_ms, c->heartbeat_ttl_s);
    return e->n == 0 ? 0 : -1;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void emp_config_free(emp_config_t *c)
{
    for (size_t i = 0; i < c->nconnectors; i++) {
        free(c->connectors[i].plugin);
        free(c->connectors[i].file);
        free_strv(c->connectors[i].services, c->connectors[i].nservices);
        for (size_t k = 0; k < c->connectors[i].noverrides; k++) {
            free(c->connectors[i].overrides[k].key);
            free(c->connectors[i].overrides[k].value);
            free(c->connectors[i].overrides[k].source);
        }
        free(c->connectors[i].overrides);
    }
    free(c->connectors);
    for (size_t i = 0; i < c->nconfd; i++)
        config_destroy(&c->confd[i]);
    free(c->confd);
    if (c->main_path)
        config_destroy(&c->main);
    free(c->main_path);
    free(c->machine_id);
    free(c->worker_id);
    free(c->worker_id_format);
    free(c->plugin_dir);
    free(c->conf_dir);
    free(c->redis_url);
    free(c->gpu_model);
    free(c->isolation);
    free(c->workflow_id);
    free_strv(c->allowed_customers, c->nallowed);
    free_strv(c->denied_customers, c->ndenied);
    free(c->gpu_indexes);
    memset(c, 0, sizeof *c);
}
