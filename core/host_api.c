/*
 * host_api.c - the emp_host_api_t table the host hands to every plugin (see emp_plugin.h for
 * the contract of each function, plugin_host.h for the instance it works on).
 *
 * Option lookups search, in order: run-plugin --option values, environment overrides, the
 * GPU's services.<plugin> group of the main file, the conf.d connector.options group. Every
 * error names the file:line of the offending setting.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host_http.h"
#include "log.h"
#include "plugin_host.h"
#include "timeutil.h"
#include "xalloc.h"

/* The opaque handle a plugin sees is the instance itself. */
struct emp_host {
    emp_plugin_inst_t inst;
};
#define INST(h) ((emp_plugin_inst_t *)(void *)(h))

/* ---- logging ---- */

static const char *current_job_id(emp_plugin_inst_t *inst, char *buf, size_t len)
{
    pthread_mutex_lock(&inst->mu);
    const char *r = NULL;
    if (inst->current_job) {
        snprintf(buf, len, "%s", inst->current_job->id);
        r = buf;
    }
    pthread_mutex_unlock(&inst->mu);
    return r;
}

static void h_log(emp_host_t *host, emp_log_level_t level, const char *fmt, ...)
{
    emp_plugin_inst_t *inst = INST(host);
    int lvl = (int)level;
    if (lvl < EMP_LOG_LEVEL_ERROR || lvl > EMP_LOG_LEVEL_DEBUG)
        lvl = EMP_LOG_LEVEL_INFO;
    if (!emp_log_enabled(lvl))
        return;
    char jb[256];
    va_list ap;
    va_start(ap, fmt);
    emp_logv_ctx(lvl, inst->name, current_job_id(inst, jb, sizeof jb), fmt, ap);
    va_end(ap);
}

/* ---- options ---- */

typedef struct opt_found {
    const config_setting_t *setting; /* from a file, or NULL */
    const char *str;                 /* from the command line / environment, or NULL */
    const char *where;               /* "file:line" or the source description */
    char buf[512];
} opt_found_t;

static void mark_used(emp_plugin_inst_t *inst, const char *key)
{
    for (size_t i = 0; i < inst->nused; i++)
        if (strcmp(inst->used_keys[i], key) == 0)
            return;
    inst->used_keys = xrealloc(inst->used_keys, (inst->nused + 1) * sizeof *inst->used_keys);
    inst->used_keys[inst->nused++] = xstrdup(key);
}

static int find_opt(emp_plugin_inst_t *inst, const char *key, opt_found_t *f)
{
    memset(f, 0, sizeof *f);
    mark_used(inst, key);
    for (size_t i = 0; i < inst->ncli_opts; i++)
        if (strcmp(inst->cli_opts[i].key, key) == 0) {
            f->str = inst->cli_opts[i].value;
            f->where = inst->cli_opts[i].source;
            return 1;
        }
    if (inst->cfg) {
        for (size_t i = 0; i < inst->cfg->noverrides; i++)
            if (strcmp(inst->cfg->overrides[i].key, key) == 0) {
                f->str = inst->cfg->overrides[i].value;
                f->where = inst->cfg->overrides[i].source;
                return 1;
            }
        const config_setting_t *groups[2] = {inst->cfg->gpu_options, inst->cfg->options};
        for (int g = 0; g < 2; g++) {
            if (groups[g] == NULL)
                continue;
            const config_setting_t *s = config_setting_get_member(groups[g], key);
            if (s) {
                f->setting = s;
                snprintf(f->buf, sizeof f->buf, "%s:%d", emp_config_file_of(s),
                         config_setting_source_line(s));
                f->where = f->buf;
                return 1;
            }
        }
    }
    return 0;
}

static void opt_err(emp_plugin_inst_t *inst, const opt_found_t *f, const char *key, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static void opt_err(emp_plugin_inst_t *inst, const opt_found_t *f, const char *key, const char *fmt,
                    ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (inst->opt_errors == NULL) {
        emp_log_ctx(EMP_LOG_LEVEL_ERROR, inst->name, NULL, "%s: option '%s': %s",
                    f && f->where ? f->where : "(options)", key, msg);
        return;
    }
    if (f && f->setting)
        emp_err_add(inst->opt_errors, emp_config_file_of(f->setting),
                    config_setting_source_line(f->setting), "'%s' option '%s': %s", inst->name, key,
                    msg);
    else
        emp_err_add(inst->opt_errors,
                    f && f->where ? f->where
                    : inst->cfg   ? inst->cfg->file
                                  : "(options)",
                    inst->cfg && !(f && f->where) ? inst->cfg->line : 0, "'%s' option '%s': %s",
                    inst->name, key, msg);
}

static int h_option_string(emp_host_t *host, const char *key, const char *def, const char **out)
{
    emp_plugin_inst_t *inst = INST(host);
    opt_found_t f;
    *out = def;
    if (!find_opt(inst, key, &f))
        return 1;
    if (f.str) {
        *out = f.str;
        return 0;
    }
    if (config_setting_type(f.setting) != CONFIG_TYPE_STRING) {
        opt_err(inst, &f, key, "expected a string");
        return -1;
    }
    *out = config_setting_get_string(f.setting);
    return 0;
}

/* Reads a number from either source; returns 0 ok, -1 type error. */
static int opt_number(emp_plugin_inst_t *inst, opt_found_t *f, const char *key, int want_int,
                      double *out)
{
    if (f->str) {
        char *end;
        errno = 0;
        double v = strtod(f->str, &end);
        if (errno || end == f->str || *end != '\0' || isnan(v) || (want_int && v != floor(v))) {
            opt_err(inst, f, key, "expected %s, got \"%s\"", want_int ? "an integer" : "a number",
                    f->str);
            return -1;
        }
        *out = v;
        return 0;
    }
    int t = config_setting_type(f->setting);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        *out = (double)config_setting_get_int64(f->setting);
        return 0;
    }
    if (t == CONFIG_TYPE_FLOAT && !want_int) {
        *out = config_setting_get_float(f->setting);
        return 0;
    }
    opt_err(inst, f, key, "expected %s", want_int ? "an integer" : "a number");
    return -1;
}

static int h_option_int(emp_host_t *host, const char *key, long long def, long long min,
                        long long max, long long *out)
{
    emp_plugin_inst_t *inst = INST(host);
    opt_found_t f;
    *out = def;
    if (!find_opt(inst, key, &f))
        return 1;
    /* integers stay integers (no detour through double: 2^53 and LLONG_MAX matter) */
    long long v;
    if (f.str) {
        char *end;
        errno = 0;
        v = strtoll(f.str, &end, 10);
        if (errno == ERANGE || end == f.str || *end != '\0') {
            opt_err(inst, &f, key, "expected an integer, got \"%s\"", f.str);
            return -1;
        }
    } else {
        int t = config_setting_type(f.setting);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
            opt_err(inst, &f, key, "expected an integer");
            return -1;
        }
        v = config_setting_get_int64(f.setting);
    }
    if (v < min || v > max) {
        opt_err(inst, &f, key, "value %lld is out of range [%lld, %lld]", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int h_option_double(emp_host_t *host, const char *key, double def, double min, double max,
                           double *out)
{
    emp_plugin_inst_t *inst = INST(host);
    opt_found_t f;
    *out = def;
    if (!find_opt(inst, key, &f))
        return 1;
    double v;
    if (opt_number(inst, &f, key, 0, &v) != 0)
        return -1;
    if (v < min || v > max) {
        opt_err(inst, &f, key, "value %g is out of range [%g, %g]", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int h_option_bool(emp_host_t *host, const char *key, int def, int *out)
{
    emp_plugin_inst_t *inst = INST(host);
    opt_found_t f;
    *out = def;
    if (!find_opt(inst, key, &f))
        return 1;
    if (f.str) {
        if (strcmp(f.str, "true") == 0 || strcmp(f.str, "1") == 0)
            *out = 1;
        else if (strcmp(f.str, "false") == 0 || strcmp(f.str, "0") == 0)
            *out = 0;
        else {
            opt_err(inst, &f, key, "expected true or false, got \"%s\"", f.str);
            return -1;
        }
        return 0;
    }
    if (config_setting_type(f.setting) != CONFIG_TYPE_BOOL) {
        opt_err(inst, &f, key, "expected a boolean (true or false)");
        return -1;
    }
    *out = config_setting_get_bool(f.setting);
    return 0;
}

static int h_option_enum(emp_host_t *host, const char *key, const char *const *choices,
                         int def_index, int *out_index)
{
    emp_plugin_inst_t *inst = INST(host);
    opt_found_t f;
    *out_index = def_index;
    if (!find_opt(inst, key, &f))
        return 1;
    const char *v = f.str;
    if (v == NULL && config_setting_type(f.setting) == CONFIG_TYPE_STRING)
        v = config_setting_get_string(f.setting);
    for (int i = 0; v && choices[i]; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out_index = i;
            return 0;
        }
    char allowed[512] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(allowed, i ? ", \"" : "\"", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, choices[i], sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, "\"", sizeof allowed - strlen(allowed) - 1);
    }
    opt_err(inst, &f, key, "expected one of %s", allowed);
    return -1;
}

static int h_option_error(emp_host_t *host, const char *key, const char *fmt, ...)
{
    emp_plugin_inst_t *inst = INST(host);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    opt_found_t f;
    memset(&f, 0, sizeof f);
    if (key)
        find_opt(inst, key, &f);
    opt_err(inst, &f, key ? key : "options", "%s", msg);
    return -1;
}

/* ---- context ---- */

static const char *h_worker_id(emp_host_t *host)
{
    return INST(host)->worker_id ? INST(host)->worker_id : "";
}

static int h_gpu_index(emp_host_t *host) { return INST(host)->gpu; }

static void h_set_models(emp_host_t *host, const char *json_array)
{
    emp_plugin_inst_t *inst = INST(host);
    pthread_mutex_lock(&inst->mu);
    free(inst->models_json);
    inst->models_json = json_array ? xstrdup(json_array) : NULL;
    pthread_mutex_unlock(&inst->mu);
}

/* ---- the job ---- */

static const char *h_job_id(emp_job_t *job) { return job->id; }
static const char *h_job_service(emp_job_t *job) { return job->service; }

static const char *h_job_payload(emp_job_t *job, size_t *len)
{
    if (len)
        *len = job->payload_len;
    return job->payload;
}

static const char *h_job_field(emp_job_t *job, const char *name, size_t *len)
{
    const char *v = emp_job_get(job, name);
    if (v && len)
        *len = strlen(v);
    return v;
}

static void notify(emp_job_t *job)
{
    if (job->notify_fd >= 0 &&
        __atomic_exchange_n(&job->progress_notified, 1, __ATOMIC_SEQ_CST) == 0) {
        uint64_t one = 1;
        ssize_t w = write(job->notify_fd, &one, sizeof one);
        (void)w;
    }
}

#define EMP_PROGRESS_MSG_MAX 512

/* The length of s cut to at most max bytes without splitting a UTF-8 character: the text is
 * published inside JSON messages, which must stay valid UTF-8. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t l = strnlen(s, max + 1);
    if (l <= max)
        return l;
    l = max;
    while (l > 0 && ((unsigned char)s[l] & 0xC0) == 0x80)
        l--;
    return l;
}

static void h_progress(emp_job_t *job, double fraction, const char *message)
{
    if (isnan(fraction))
        return;
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    pthread_mutex_lock(&job->mu);
    int changed = 0;
    if (fraction > job->progress) {
        job->progress = fraction;
        changed = 1;
    }
    if (message && (job->progress_msg == NULL || strcmp(job->progress_msg, message) != 0)) {
        free(job->progress_msg);
        job->progress_msg = xstrndup(message, utf8_cut(message, EMP_PROGRESS_MSG_MAX));
        changed = 1;
    }
    if (changed)
        job->progress_seq++;
    pthread_mutex_unlock(&job->mu);
    if (changed)
        notify(job);
}

static int h_set_result(emp_job_t *job, const char *json, size_t len)
{
    if (job->max_result_bytes > 0 && (long long)len > job->max_result_bytes)
        return -1;
    /* must be one JSON object and nothing else; the raw bytes are kept (never re-serialised) */
    const char *end = NULL;
    cJSON *probe = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    int ok = cJSON_IsObject(probe);
    cJSON_Delete(probe);
    while (ok && end && (size_t)(end - json) < len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (!ok || end == NULL || (size_t)(end - json) != len)
        return -1;
    char *copy = xstrndup(json, len);
    pthread_mutex_lock(&job->mu);
    free(job->result);
    job->result = copy;
    job->result_len = len;
    pthread_mutex_unlock(&job->mu);
    return 0;
}

static emp_result_t h_fail(emp_job_t *job, emp_result_t cls, const char *code, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[utf8_cut(msg, sizeof msg - 2)] = '\0';
    va_end(ap);
    pthread_mutex_lock(&job->mu);
    free(job->fail_code);
    free(job->fail_message);
    job->fail_code = xstrdup(code && code[0] ? code : "error");
    job->fail_message = xstrdup(msg);
    job->fail_class = cls;
    job->failed = 1;
    pthread_mutex_unlock(&job->mu);
    return cls;
}

static int h_cancelled(emp_job_t *job) { return emp_job_cancel_reason(job) != EMP_CANCEL_NONE; }
static int h_cancel_fd(emp_job_t *job) { return job->cancel_fd; }

static int h_sleep_ms(emp_job_t *job, unsigned ms)
{
    struct pollfd p = {.fd = job->cancel_fd, .events = POLLIN};
    long long deadline = emp_mono_ms() + ms;
    for (;;) {
        long long left = deadline - emp_mono_ms();
        if (left < 0)
            left = 0;
        int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (r > 0 || h_cancelled(job))
            return 1;
        if (r == 0 || (r < 0 && errno != EINTR))
            return 0;
    }
}

static const emp_host_api_t host_api = {
    .struct_size = sizeof(emp_host_api_t),
    .abi_major = EMP_PLUGIN_ABI_MAJOR,
    .abi_minor = EMP_PLUGIN_ABI_MINOR,
    .log = h_log,
    .option_string = h_option_string,
    .option_int = h_option_int,
    .option_double = h_option_double,
    .option_bool = h_option_bool,
    .option_enum = h_option_enum,
    .option_error = h_option_error,
    .worker_id = h_worker_id,
    .gpu_index = h_gpu_index,
    .set_models = h_set_models,
    .job_id = h_job_id,
    .job_service = h_job_service,
    .job_payload = h_job_payload,
    .job_field = h_job_field,
    .progress = h_progress,
    .set_result = h_set_result,
    .fail = h_fail,
    .cancelled = h_cancelled,
    .cancel_fd = h_cancel_fd,
    .sleep_ms = h_sleep_ms,
    /* 1.1 */
    .http_request = emp_host_http_request,
    .http_response_free = emp_host_http_response_free,
};

const emp_host_api_t *emp_host_api(void) { return &host_api; }

/* Set while this thread is inside a plugin's create: the HTTP helper refuses to run there. */
static _Thread_local int in_create;

int emp_host_in_create(void) { return in_create; }

/* Keys of a group that no lookup asked for are unknown options. */
static void check_unknown(emp_plugin_inst_t *inst, const config_setting_t *g, emp_errlist_t *e,
                          int is_gpu_group)
{
    if (g == NULL)
        return;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        if (is_gpu_group && strcmp(name, "enabled") == 0)
            continue;
        int used = 0;
        for (size_t k = 0; k < inst->nused && !used; k++)
            used = strcmp(inst->used_keys[k], name) == 0;
        if (!used)
            emp_err_add(e, emp_config_file_of(s), config_setting_source_line(s),
                        "'%s' option '%s': unknown option", inst->name, name);
    }
}

int emp_plugin_create(emp_plugin_inst_t *inst, emp_errlist_t *e)
{
    size_t before = e->n;
    inst->opt_errors = e;
    void *state = NULL;
    in_create = 1;
    int rc = inst->desc->create(&host_api, (emp_host_t *)(void *)inst, &state);
    in_create = 0;
    if (rc == 0) {
        inst->state = state;
        inst->created = 1;
    } else if (e->n == before) {
        emp_err_add(e, inst->cfg ? inst->cfg->file : inst->path, inst->cfg ? inst->cfg->line : 0,
                    "plugin '%s': create failed (see the log above)", inst->name);
    }
    if (inst->cfg) {
        check_unknown(inst, inst->cfg->options, e, 0);
        check_unknown(inst, inst->cfg->gpu_options, e, 1);
    }
    for (size_t i = 0; i < inst->ncli_opts; i++) {
        int used = 0;
        for (size_t k = 0; k < inst->nused && !used; k++)
            used = strcmp(inst->used_keys[k], inst->cli_opts[i].key) == 0;
        if (!used)
            emp_err_add(e, inst->cli_opts[i].source, 0, "'%s' option '%s': unknown option",
                        inst->name, inst->cli_opts[i].key);
    }
    inst->opt_errors = NULL;
    return e->n == before ? 0 : -1;
}
