/*
 * cmd_run_plugin.c - `emp-worker run-plugin PLUGIN --job FILE.json [--option k=v]...`:
 * load one plugin and run one job payload through it with no Redis, using the real host API
 * and job thread. Prints "progress <fraction> <message>" lines and then either
 * "result <json>" (exit 0) or "failed <RETRY|FAIL|CANCELLED> <code>: <message>" (exit 1).
 * SIGINT cancels the job (as cancel_job would).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "job_thread.h"
#include "log.h"
#include "plugin_host.h"
#include "xalloc.h"

static void rp_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: emp-worker run-plugin PLUGIN --job FILE.json [options]\n"
        "  PLUGIN                 a plugin name (looked up in --plugin-dir) or a path to a .so\n"
        "  -j, --job FILE         the job payload (a JSON object; '-' reads stdin)\n"
        "  -o, --option KEY=VALUE a plugin option (repeatable)\n"
        "  -f, --field NAME=VALUE another job field, e.g. ctx={...} (repeatable)\n"
        "  -s, --service NAME     service_required (default: the plugin's first service)\n"
        "  -i, --job-id ID        job id (default: run-plugin-<pid>)\n"
        "  -g, --gpu N            GPU index the plugin sees (default 0)\n"
        "  -p, --plugin-dir DIR   plugin directory (default: next to the binary)\n"
        "  -C, --cancel-after MS  cancel the job after MS milliseconds\n"
        "  -T, --timeout MS       cancel the job after MS milliseconds and report a timeout\n"
        "  -v, --verbose          debug logging\n");
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *result_name(int r)
{
    switch (r) {
    case EMP_OK: return "OK";
    case EMP_RETRY: return "RETRY";
    case EMP_FAIL: return "FAIL";
    case EMP_CANCELLED: return "CANCELLED";
    default: return "INVALID";
    }
}

typedef struct rp_args {
    const char *plugin, *job_file, *service, *job_id;
    const char *plugin_dir;
    int gpu, verbose;
    long long cancel_after, timeout;
    emp_option_override_t *opts;
    size_t nopts;
    char **fnames, **fvalues;
    size_t nfields;
} rp_args_t;

static int split_kv(const char *arg, char **k, char **v)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return -1;
    *k = xstrndup(arg, (size_t)(eq - arg));
    *v = xstrdup(eq + 1);
    return 0;
}

static int parse_args(const emp_cli_t *cli, rp_args_t *a)
{
    static const struct option opts[] = {
        {"job", required_argument, NULL, 'j'},
        {"option", required_argument, NULL, 'o'},
        {"field", required_argument, NULL, 'f'},
        {"service", required_argument, NULL, 's'},
        {"job-id", required_argument, NULL, 'i'},
        {"gpu", required_argument, NULL, 'g'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"cancel-after", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    char *k, *v;
    while ((c = getopt_long(cli->argc, cli->argv, "j:o:f:s:i:g:p:C:T:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': a->job_file = optarg; break;
        case 'o':
            if (split_kv(optarg, &k, &v) != 0) {
                fprintf(stderr, "run-plugin: --option expects KEY=VALUE, got \"%s\"\n", optarg);
                return -1;
            }
            a->opts = xrealloc(a->opts, (a->nopts + 1) * sizeof *a->opts);
            a->opts[a->nopts].key = k;
            a->opts[a->nopts].value = v;
            a->opts[a->nopts].source = xasprintf("--option %s", k);
            a->nopts++;
            break;
        case 'f':
            if (split_kv(optarg, &k, &v) != 0) {
                fprintf(stderr, "run-plugin: --field expects NAME=VALUE, got \"%s\"\n", optarg);
                return -1;
            }
            a->fnames = xrealloc(a->fnames, (a->nfields + 1) * sizeof *a->fnames);
            a->fvalues = xrealloc(a->fvalues, (a->nfields + 1) * sizeof *a->fvalues);
            a->fnames[a->nfields] = k;
            a->fvalues[a->nfields++] = v;
            break;
        case 's': a->service = optarg; break;
        case 'i': a->job_id = optarg; break;
        case 'g': a->gpu = atoi(optarg); break;
        case 'p': a->plugin_dir = optarg; break;
        case 'C': a->cancel_after = atoll(optarg); break;
        case 'T': a->timeout = atoll(optarg); break;
        case 'v': a->verbose = 1; break;
        case 'h': rp_usage(stdout); exit(0);
        default: rp_usage(stderr); return -1;
        }
    }
    if (optind < cli->argc)
        a->plugin = cli->argv[optind++];
    if (a->plugin == NULL || a->job_file == NULL || optind < cli->argc) {
        rp_usage(stderr);
        return -1;
    }
    return 0;
}

static void free_args(rp_args_t *a)
{
    for (size_t i = 0; i < a->nopts; i++) {
        free(a->opts[i].key);
        free(a->opts[i].value);
        free(a->opts[i].source);
    }
    free(a->opts);
    for (size_t i = 0; i < a->nfields; i++) {
        free(a->fnames[i]);
        free(a->fvalues[i]);
    }
    free(a->fnames);
    free(a->fvalues);
}

static void print_progress(struct emp_job *job, unsigned long *seq)
{
    double f;
    char *msg;
    if (emp_job_take_progress(job, seq, &f, &msg)) {
        printf("progress %.3f %s\n", f, msg);
        fflush(stdout);
        free(msg);
    }
}

int emp_cmd_run_plugin(const emp_cli_t *cli)
{
    rp_args_t a = {0};
    if (cli->plugin_dir)
        a.plugin_dir = cli->plugin_dir;
    if (parse_args(cli, &a) != 0) {
        free_args(&a);
        return 2;
    }
    emp_log_setup(a.verbose ? EMP_LOG_LEVEL_DEBUG : EMP_LOG_LEVEL_INFO, a.gpu, NULL);
    int rc = 1;
    char err[1024];
    char *dir = NULL, *name = NULL;
    if (strchr(a.plugin, '/')) {
        char *p1 = xstrdup(a.plugin), *p2 = xstrdup(a.plugin);
        dir = xstrdup(dirname(p1));
        char *base = basename(p2);
        size_t l = strlen(base);
        name = l > 3 && strcmp(base + l - 3, ".so") == 0 ? xstrndup(base, l - 3) : xstrdup(base);
        free(p1);
        free(p2);
    } else {
        dir = a.plugin_dir ? xstrdup(a.plugin_dir) : emp_plugin_default_dir();
        name = xstrdup(a.plugin);
    }
    size_t plen = 0;
    char *payload = read_all(a.job_file, &plen);
    emp_plugin_inst_t *inst = NULL;
    struct emp_job *job = NULL;
    emp_jt_t *jt = NULL;
    int efd = -1, sfd = -1;
    if (payload == NULL) {
        fprintf(stderr, "run-plugin: cannot read %s: %s\n", a.job_file, strerror(errno));
        goto out;
    }
    cJSON *probe = cJSON_ParseWithLength(payload, plen);
    int is_obj = cJSON_IsObject(probe);
    cJSON_Delete(probe);
    if (!is_obj) {
        fprintf(stderr, "run-plugin: %s: the job payload must be a JSON object\n", a.job_file);
        goto out;
    }
    inst = emp_plugin_load(dir, name, err, sizeof err);
    if (inst == NULL) {
        fprintf(stderr, "run-plugin: %s\n", err);
        goto out;
    }
    inst->cli_opts = a.opts;
    inst->ncli_opts = a.nopts;
    inst->gpu = a.gpu;
    inst->worker_id = "run-plugin";
    emp_errlist_t e = {0};
    if (emp_plugin_create(inst, &e) != 0) {
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "%s\n", e.msgs[i]);
        emp_errlist_free(&e);
        goto out;
    }
    emp_errlist_free(&e);

    /* the job: payload + extra fields */
    size_t nf = a.nfields + 1;
    const char **names = xcalloc(nf, sizeof *names), **values = xcalloc(nf, sizeof *values);
    names[0] = "payload";
    values[0] = payload;
    for (size_t i = 0; i < a.nfields; i++) {
        names[i + 1] = a.fnames[i];
        values[i + 1] = a.fvalues[i];
    }
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "run-plugin-%d", (int)getpid());
    job = emp_job_new(a.job_id ? a.job_id : idbuf, a.service ? a.service : inst->services[0], names,
                      values, nf);
    free(names);
    free(values);

    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    job->notify_fd = efd;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    jt = emp_jt_new(efd);

    /* start (probe the backend) */
    emp_jt_post_start(jt, inst);
    emp_jt_kind_t kind;
    int value;
    emp_plugin_inst_t *done_inst;
    for (;;) {
        struct pollfd p[2] = {{.fd = efd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        poll(p, 2, -1);
        uint64_t x;
        ssize_t rr = read(efd, &x, sizeof x);
        (void)rr;
        if (emp_jt_take_done(jt, &kind, &value, &done_inst))
            break;
    }
    if (value != EMP_START_READY) {
        printf("failed %s start: the backend is %s\n", value == EMP_START_FATAL ? "FAIL" : "RETRY",
               value == EMP_START_FATAL ? "misconfigured (see the log)" : "not ready");
        goto stop;
    }

    long long t0 = mono_ms();
    emp_jt_post_run(jt, inst, job);
    unsigned long seq = 0;
    int timed_out = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = efd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        long long deadline = -1;
        if (a.cancel_after > 0)
            deadline = t0 + a.cancel_after;
        if (a.timeout > 0 && (deadline < 0 || t0 + a.timeout < deadline))
            deadline = t0 + a.timeout;
        int wait = -1;
        if (deadline >= 0 && emp_job_cancel_reason(job) == EMP_CANCEL_NONE) {
            long long left = deadline - mono_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        int pr = poll(p, 2, wait);
        if (pr == 0 && emp_job_cancel_reason(job) == EMP_CANCEL_NONE) {
            timed_out = a.timeout > 0 && mono_ms() >= t0 + a.timeout;
            emp_job_cancel(job, timed_out ? EMP_CANCEL_TIMEOUT : EMP_CANCEL_USER);
            if (inst->desc->cancel)
                inst->desc->cancel(inst->state, job);
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            ssize_t rr = read(sfd, &si, sizeof si);
            (void)rr;
            emp_job_cancel(job, EMP_CANCEL_USER);
            if (inst->desc->cancel)
                inst->desc->cancel(inst->state, job);
        }
        if (p[0].revents & POLLIN) {
            uint64_t x;
            ssize_t rr = read(efd, &x, sizeof x);
            (void)rr;
        }
        print_progress(job, &seq);
        if (emp_jt_take_done(jt, &kind, &value, &done_inst))
            break;
    }
    print_progress(job, &seq);
    if (value == EMP_OK && job->result) {
        printf("result %s\n", job->result);
        rc = 0;
    } else if (value == EMP_OK) {
        printf("result {}\n");
        rc = 0;
    } else {
        printf("failed %s %s: %s\n", result_name(value), job->fail_code ? job->fail_code : "error",
               job->fail_message ? job->fail_message
               : timed_out       ? "job timeout"
                                 : "(the plugin gave no reason)");
    }
    fflush(stdout);
stop:
    emp_jt_shutdown(jt, &inst, 1);
    jt = NULL;
out:
    if (sfd >= 0)
        close(sfd);
    if (efd >= 0)
        close(efd);
    emp_job_free(job);
    emp_plugin_unload(inst);
    free(payload);
    free(dir);
    free(name);
    free_args(&a);
    return rc;
}
