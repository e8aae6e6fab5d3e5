/*
 * emp_testkit.c - the fake host (see emp_testkit.h). Self-contained: standard C, POSIX and
 * dlopen only, so it installs with the SDK and builds anywhere the SDK does. The HTTP helper
 * is tk_http.c (plain sockets), fake backend processes tk_proc.c.
 */
#define _GNU_SOURCE
#include "emp_testkit.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emp_plugin_check.h"
#include "tk_http.h"

typedef struct tk_kv {
    char *key;
    char *value;
    int used;
} tk_kv_t;

typedef struct tk_progress {
    double fraction;
    char *message;
} tk_progress_t;

struct emp_job {
    emp_tk_t *tk;
    const char *id;
    const char *service;
    const char *payload;
    size_t payload_len;
    int cancel_pipe[2];
    volatile int cancelled;
};

struct emp_host {
    emp_tk_t *tk;
};

struct emp_tk {
    void *dl;
    const emp_plugin_t *plugin;
    void *state;
    int created, started, verbose, gpu;
    char *worker_id;
    struct emp_host host;
    emp_host_api_t api;
    tk_kv_t *opts;
    size_t nopts;
    tk_kv_t *fields;
    size_t nfields;
    unsigned cancel_after_ms;
    int in_create;          /* create is running: the HTTP helper refuses network I/O */
    pthread_mutex_t run_mu; /* guards `running`: a cancel never races the end of a run */
    struct emp_job *running;
    pthread_mutex_t mu; /* guards the recorded outputs below (progress may come from any thread) */
    tk_progress_t *progress;
    size_t nprogress;
    char *result, *fail_code, *fail_message, *models;
    emp_result_t fail_class;
    char *errors;
};

static char *tk_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static void tk_append_error(emp_tk_t *tk, const char *line)
{
    size_t old = tk->errors ? strlen(tk->errors) : 0;
    char *n = realloc(tk->errors, old + strlen(line) + 2);
    if (n == NULL)
        abort();
    memcpy(n + old, line, strlen(line));
    n[old + strlen(line)] = '\n';
    n[old + strlen(line) + 1] = '\0';
    tk->errors = n;
}

static tk_kv_t *tk_find_opt(emp_tk_t *tk, const char *key, size_t *idx)
{
    for (size_t i = 0; i < tk->nopts; i++)
        if (strcmp(tk->opts[i].key, key) == 0) {
            tk->opts[i].used = 1;
            if (idx)
                *idx = i;
            return &tk->opts[i];
        }
    return NULL;
}

static void tk_opt_err(emp_tk_t *tk, size_t idx, const char *key, const char *msg)
{
    char line[512];
    snprintf(line, sizeof line, "testkit:%zu: option '%s': %s", idx + 1, key, msg);
    tk_append_error(tk, line);
}

/* ---- host API implementation ---- */

static void tk_log(emp_host_t *host, emp_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (!host->tk->verbose && level > EMP_LOG_WARN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[testkit %s] %s: ", host->tk->plugin->name,
            names[(unsigned)level < 4 ? (unsigned)level : 3]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int tk_option_string(emp_host_t *host, const char *key, const char *def, const char **out)
{
    tk_kv_t *kv = tk_find_opt(host->tk, key, NULL);
    *out = kv ? kv->value : def;
    return kv ? 0 : 1;
}

static int tk_option_int(emp_host_t *host, const char *key, long long def, long long min,
                         long long max, long long *out)
{
    size_t idx;
    tk_kv_t *kv = tk_find_opt(host->tk, key, &idx);
    *out = def;
    if (kv == NULL)
        return 1;
    char *end;
    errno = 0;
    long long v = strtoll(kv->value, &end, 10);
    char msg[160];
    if (errno != 0 || end == kv->value || *end != '\0') {
        tk_opt_err(host->tk, idx, key, "expected an integer");
        return -1;
    }
    if (v < min || v > max) {
        snprintf(msg, sizeof msg, "%lld is out of range [%lld, %lld]", v, min, max);
        tk_opt_err(host->tk, idx, key, msg);
        return -1;
    }
    *out = v;
    return 0;
}

static int tk_option_double(emp_host_t *host, const char *key, double def, double min, double max,
                            double *out)
{
    size_t idx;
    tk_kv_t *kv = tk_find_opt(host->tk, key, &idx);
    *out = def;
    if (kv == NULL)
        return 1;
    char *end;
    double v = strtod(kv->value, &end);
    if (end == kv->value || *end != '\0' || isnan(v)) {
        tk_opt_err(host->tk, idx, key, "expected a number");
        return -1;
    }
    if (v < min || v > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "%g is out of range [%g, %g]", v, min, max);
        tk_opt_err(host->tk, idx, key, msg);
        return -1;
    }
    *out = v;
    return 0;
}

static int tk_option_bool(emp_host_t *host, const char *key, int def, int *out)
{
    size_t idx;
    tk_kv_t *kv = tk_find_opt(host->tk, key, &idx);
    *out = def;
    if (kv == NULL)
        return 1;
    if (strcmp(kv->value, "true") == 0)
        *out = 1;
    else if (strcmp(kv->value, "false") == 0)
        *out = 0;
    else {
        tk_opt_err(host->tk, idx, key, "expected true or false");
        return -1;
    }
    return 0;
}

static int tk_option_enum(emp_host_t *host, const char *key, const char *const *choices,
                          int def_index, int *out_index)
{
    size_t idx;
    tk_kv_t *kv = tk_find_opt(host->tk, key, &idx);
    *out_index = def_index;
    if (kv == NULL)
        return 1;
    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(choices[i], kv->value) == 0) {
            *out_index = i;
            return 0;
        }
    tk_opt_err(host->tk, idx, key, "not one of the allowed values");
    return -1;
}

static int tk_option_error(emp_host_t *host, const char *key, const char *fmt, ...)
{
    size_t idx = 0;
    if (key == NULL || tk_find_opt(host->tk, key, &idx) == NULL)
        idx = 0;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tk_opt_err(host->tk, idx, key ? key : "options", msg);
    return -1;
}

static const char *tk_worker_id(emp_host_t *host) { return host->tk->worker_id; }
static int tk_gpu_index(emp_host_t *host) { return host->tk->gpu; }

static void tk_set_models(emp_host_t *host, const char *json)
{
    pthread_mutex_lock(&host->tk->mu);
    free(host->tk->models);
    host->tk->models = tk_strdup(json);
    pthread_mutex_unlock(&host->tk->mu);
}

static const char *tk_job_id(emp_job_t *job) { return job->id; }
static const char *tk_job_service(emp_job_t *job) { return job->service; }

static const char *tk_job_payload(emp_job_t *job, size_t *len)
{
    if (len)
        *len = job->payload_len;
    return job->payload;
}

static const char *tk_job_field(emp_job_t *job, const char *name, size_t *len)
{
    for (size_t i = 0; i < job->tk->nfields; i++)
        if (strcmp(job->tk->fields[i].key, name) == 0) {
            if (len)
                *len = strlen(job->tk->fields[i].value);
            return job->tk->fields[i].value;
        }
    return NULL;
}

static void tk_progress(emp_job_t *job, double fraction, const char *message)
{
    emp_tk_t *tk = job->tk;
    pthread_mutex_lock(&tk->mu);
    tk_progress_t *n = realloc(tk->progress, (tk->nprogress + 1) * sizeof *n);
    if (n == NULL)
        abort();
    tk->progress = n;
    n[tk->nprogress].fraction = fraction;
    n[tk->nprogress].message = tk_strdup(message ? message : "");
    tk->nprogress++;
    pthread_mutex_unlock(&tk->mu);
    if (tk->verbose)
        fprintf(stderr, "[testkit] progress %.3f %s\n", fraction, message ? message : "");
}

static int tk_set_result(emp_job_t *job, const char *json, size_t len)
{
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r'))
        i++;
    if (i == len || json[i] != '{')
        return -1;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, json, len);
    copy[len] = '\0';
    pthread_mutex_lock(&job->tk->mu);
    free(job->tk->result);
    job->tk->result = copy;
    pthread_mutex_unlock(&job->tk->mu);
    return 0;
}

static emp_result_t tk_fail(emp_job_t *job, emp_result_t cls, const char *code, const char *fmt,
                            ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&job->tk->mu);
    free(job->tk->fail_code);
    free(job->tk->fail_message);
    job->tk->fail_code = tk_strdup(code ? code : "error");
    job->tk->fail_message = tk_strdup(msg);
    job->tk->fail_class = cls;
    pthread_mutex_unlock(&job->tk->mu);
    if (job->tk->verbose)
        fprintf(stderr, "[testkit] fail %d %s: %s\n", (int)cls, code ? code : "", msg);
    return cls;
}

static int tk_cancelled(emp_job_t *job)
{
    return __atomic_load_n(&job->cancelled, __ATOMIC_SEQ_CST);
}
static int tk_cancel_fd(emp_job_t *job) { return job->cancel_pipe[0]; }

static int tk_sleep_ms(emp_job_t *job, unsigned ms)
{
    struct pollfd pfd = {.fd = job->cancel_pipe[0], .events = POLLIN};
    int r = poll(&pfd, 1, (int)ms);
    return r > 0 ? 1 : tk_cancelled(job);
}

static int tk_http(emp_host_t *host, emp_job_t *job, const emp_http_request_t *req,
                   emp_http_response_t *resp)
{
    int rc;
    if (host->tk->in_create) {
        int resp_ok = resp != NULL && resp->struct_size >= EMP_HTTP_RESPONSE_MIN_SIZE;
        rc = resp_ok ? tk_http_refuse(req, resp, EMP_HTTP_E_INVALID,
                                      "http_request called from create (no network I/O before "
                                      "start)")
                     : EMP_HTTP_E_INVALID;
    } else if (job != NULL)
        rc = tk_http_request(job->cancel_pipe[0], &job->cancelled, req, resp);
    else
        rc = tk_http_request(-1, NULL, req, resp);
    if (host->tk->verbose && resp != NULL && resp->struct_size >= EMP_HTTP_RESPONSE_MIN_SIZE) {
        if (rc == EMP_HTTP_OK)
            fprintf(stderr, "[testkit] http -> %d, %zu bytes\n", resp->status, resp->body_len);
        else if (resp->error_text)
            fprintf(stderr, "[testkit] http %s\n", resp->error_text);
    }
    return rc;
}

static void tk_http_free(emp_host_t *host, emp_http_response_t *resp)
{
    (void)host;
    tk_http_response_free(resp);
}

/* ---- kit ---- */

static emp_tk_t *tk_new(void)
{
    emp_tk_t *tk = calloc(1, sizeof *tk);
    if (tk == NULL)
        abort();
    pthread_mutex_init(&tk->mu, NULL);
    pthread_mutex_init(&tk->run_mu, NULL);
    tk->worker_id = tk_strdup("testkit-worker-0");
    tk->host.tk = tk;
    tk->errors = tk_strdup("");
    emp_host_api_t *a = &tk->api;
    a->struct_size = sizeof *a;
    a->abi_major = EMP_PLUGIN_ABI_MAJOR;
    a->abi_minor = EMP_PLUGIN_ABI_MINOR;
    a->log = tk_log;
    a->option_string = tk_option_string;
    a->option_int = tk_option_int;
    a->option_double = tk_option_double;
    a->option_bool = tk_option_bool;
    a->option_enum = tk_option_enum;
    a->option_error = tk_option_error;
    a->worker_id = tk_worker_id;
    a->gpu_index = tk_gpu_index;
    a->set_models = tk_set_models;
    a->job_id = tk_job_id;
    a->job_service = tk_job_service;
    a->job_payload = tk_job_payload;
    a->job_field = tk_job_field;
    a->progress = tk_progress;
    a->set_result = tk_set_result;
    a->fail = tk_fail;
    a->cancelled = tk_cancelled;
    a->cancel_fd = tk_cancel_fd;
    a->sleep_ms = tk_sleep_ms;
    a->http_request = tk_http;
    a->http_response_free = tk_http_free;
    return tk;
}

int emp_tk_set_host_abi_minor(emp_tk_t *tk, int minor)
{
    emp_host_api_t *a = &tk->api;
    if (minor == 0) {
        a->struct_size = EMP_HOST_API_V1_0_SIZE;
        a->http_request = NULL; /* a v1.0 host has no such members: NULL and out of size */
        a->http_response_free = NULL;
    } else if (minor == EMP_PLUGIN_ABI_MINOR) {
        a->struct_size = sizeof *a;
        a->http_request = tk_http;
        a->http_response_free = tk_http_free;
    } else
        return -1;
    a->abi_minor = (uint16_t)minor;
    return 0;
}

emp_tk_t *emp_tk_open(const char *so_path, char *err, size_t errlen)
{
    void *dl;
    const emp_plugin_t *p = emp_plugin_open(so_path, &dl, err, errlen);
    if (p == NULL)
        return NULL;
    emp_tk_t *tk = tk_new();
    tk->dl = dl;
    tk->plugin = p;
    return tk;
}

emp_tk_t *emp_tk_open_descriptor(const emp_plugin_t *plugin, char *err, size_t errlen)
{
    if (emp_plugin_check(plugin, "descriptor", err, errlen) != 0)
        return NULL;
    emp_tk_t *tk = tk_new();
    tk->plugin = plugin;
    return tk;
}

static int tk_kv_add(tk_kv_t **arr, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i].key, key) == 0) {
            free((*arr)[i].value);
            (*arr)[i].value = tk_strdup(value);
            return 0;
        }
    tk_kv_t *a = realloc(*arr, (*n + 1) * sizeof *a);
    if (a == NULL)
        abort();
    a[*n].key = tk_strdup(key);
    a[*n].value = tk_strdup(value);
    a[*n].used = 0;
    *arr = a;
    (*n)++;
    return 0;
}

int emp_tk_set_option(emp_tk_t *tk, const char *key, const char *value)
{
    return tk_kv_add(&tk->opts, &tk->nopts, key, value);
}

int emp_tk_set_job_field(emp_tk_t *tk, const char *name, const char *value)
{
    return tk_kv_add(&tk->fields, &tk->nfields, name, value);
}

void emp_tk_set_gpu(emp_tk_t *tk, int gpu_index) { tk->gpu = gpu_index; }
void emp_tk_set_verbose(emp_tk_t *tk, int verbose) { tk->verbose = verbose; }

void emp_tk_set_worker_id(emp_tk_t *tk, const char *worker_id)
{
    free(tk->worker_id);
    tk->worker_id = tk_strdup(worker_id);
}

int emp_tk_create(emp_tk_t *tk)
{
    tk->in_create = 1;
    int rc = tk->plugin->create(&tk->api, &tk->host, &tk->state);
    tk->in_create = 0;
    if (rc != 0) {
        /* create must clean up after itself on failure */
        tk->state = NULL;
        return -1;
    }
    tk->created = 1;
    int unknown = 0;
    for (size_t i = 0; i < tk->nopts; i++)
        if (!tk->opts[i].used) {
            tk_opt_err(tk, i, tk->opts[i].key, "unknown option");
            unknown = 1;
        }
    return unknown ? -1 : 0;
}

emp_start_t emp_tk_start(emp_tk_t *tk)
{
    tk->started = 1;
    return tk->plugin->start ? tk->plugin->start(tk->state) : EMP_START_READY;
}

void emp_tk_cancel_after(emp_tk_t *tk, unsigned ms) { tk->cancel_after_ms = ms; }

int emp_tk_cancel_now(emp_tk_t *tk)
{
    pthread_mutex_lock(&tk->run_mu);
    struct emp_job *job = tk->running;
    if (job != NULL) {
        __atomic_store_n(&job->cancelled, 1, __ATOMIC_SEQ_CST);
        ssize_t w = write(job->cancel_pipe[1], "x", 1);
        (void)w;
        if (tk->plugin->cancel) /* while run is active, as the host does */
            tk->plugin->cancel(tk->state, job);
    }
    pthread_mutex_unlock(&tk->run_mu);
    return job != NULL ? 0 : -1;
}

typedef struct tk_canceller {
    emp_tk_t *tk;
    int stop_pipe[2];
} tk_canceller_t;

static void *tk_cancel_thread(void *arg)
{
    tk_canceller_t *c = arg;
    struct pollfd pfd = {.fd = c->stop_pipe[0], .events = POLLIN};
    if (poll(&pfd, 1, (int)c->tk->cancel_after_ms) == 0)
        emp_tk_cancel_now(c->tk);
    return NULL;
}

static void tk_clear_outputs(emp_tk_t *tk)
{
    for (size_t i = 0; i < tk->nprogress; i++)
        free(tk->progress[i].message);
    free(tk->progress);
    tk->progress = NULL;
    tk->nprogress = 0;
    free(tk->result);
    free(tk->fail_code);
    free(tk->fail_message);
    tk->result = tk->fail_code = tk->fail_message = NULL;
    tk->fail_class = EMP_OK;
}

emp_result_t emp_tk_run(emp_tk_t *tk, const char *job_id, const char *service,
                        const char *payload_json)
{
    tk_clear_outputs(tk);
    struct emp_job job = {.tk = tk,
                          .id = job_id,
                          .service = service,
                          .payload = payload_json,
                          .payload_len = strlen(payload_json)};
    if (pipe(job.cancel_pipe) != 0)
        abort();
    pthread_mutex_lock(&tk->run_mu);
    tk->running = &job;
    pthread_mutex_unlock(&tk->run_mu);
    tk_canceller_t c = {.tk = tk};
    pthread_t th;
    int have_thread = 0;
    if (tk->cancel_after_ms > 0) {
        if (pipe(c.stop_pipe) != 0)
            abort();
        if (pthread_create(&th, NULL, tk_cancel_thread, &c) != 0)
            abort();
        have_thread = 1;
    }
    emp_result_t r = tk->plugin->run(tk->state, &job);
    pthread_mutex_lock(&tk->run_mu);
    tk->running = NULL;
    pthread_mutex_unlock(&tk->run_mu);
    if (have_thread) {
        ssize_t w = write(c.stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(th, NULL);
        close(c.stop_pipe[0]);
        close(c.stop_pipe[1]);
    }
    close(job.cancel_pipe[0]);
    close(job.cancel_pipe[1]);
    for (size_t i = 0; i < tk->nfields; i++) {
        free(tk->fields[i].key);
        free(tk->fields[i].value);
    }
    free(tk->fields);
    tk->fields = NULL;
    tk->nfields = 0;
    tk->cancel_after_ms = 0;
    return r;
}

const char *emp_tk_result(const emp_tk_t *tk) { return tk->result; }
const char *emp_tk_fail_code(const emp_tk_t *tk) { return tk->fail_code; }
const char *emp_tk_fail_message(const emp_tk_t *tk) { return tk->fail_message; }
emp_result_t emp_tk_fail_class(const emp_tk_t *tk) { return tk->fail_class; }
size_t emp_tk_progress_count(const emp_tk_t *tk) { return tk->nprogress; }
const char *emp_tk_models(const emp_tk_t *tk) { return tk->models; }
const char *emp_tk_errors(const emp_tk_t *tk) { return tk->errors; }
const emp_plugin_t *emp_tk_plugin(const emp_tk_t *tk) { return tk->plugin; }

double emp_tk_progress_fraction(const emp_tk_t *tk, size_t i)
{
    return i < tk->nprogress ? tk->progress[i].fraction : -1.0;
}

const char *emp_tk_progress_message(const emp_tk_t *tk, size_t i)
{
    return i < tk->nprogress ? tk->progress[i].message : NULL;
}

void emp_tk_close(emp_tk_t *tk)
{
    if (tk == NULL)
        return;
    if (tk->started && tk->plugin->stop)
        tk->plugin->stop(tk->state);
    if (tk->created)
        tk->plugin->destroy(tk->state);
    if (tk->dl)
        dlclose(tk->dl);
    tk_clear_outputs(tk);
    for (size_t i = 0; i < tk->nopts; i++) {
        free(tk->opts[i].key);
        free(tk->opts[i].value);
    }
    free(tk->opts);
    for (size_t i = 0; i < tk->nfields; i++) {
        free(tk->fields[i].key);
        free(tk->fields[i].value);
    }
    free(tk->fields);
    free(tk->models);
    free(tk->errors);
    free(tk->worker_id);
    pthread_mutex_destroy(&tk->mu);
    pthread_mutex_destroy(&tk->run_mu);
    free(tk);
}
