/*
 * worker.c - the control thread's event loop: the worker for one GPU.
 *
 * Owns: the signal fd, the job thread and its notify eventfd, the queue (Redis), the current
 * job and its pending outcome, and every timer (heartbeat, sweep, fallback poll, wake jitter,
 * reconnect backoff, progress flush, job timeout, cancel grace, shutdown grace, watchdog).
 * One job at a time. The job thread never touches Redis: progress and the result cross
 * through the job's mailbox (job.h) and the notify eventfd polled here.
 *
 * Outcome rules: a result is written only through the fenced scripts; if Redis is down it is
 * kept (one job's outcome, plus its latest progress) and written after the reconnect, and no
 * new job is claimed until then.
 */
#define _GNU_SOURCE
#include "worker.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "job_thread.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "redis_url.h"
#include "timeutil.h"
#include "xalloc.h"

typedef enum outcome_kind { OUT_NONE = 0, OUT_COMPLETE, OUT_FAIL } outcome_kind_t;

typedef struct worker {
    emp_config_t *cfg;
    emp_plugin_inst_t **insts;
    size_t ninsts;
    emp_queue_t *q;
    emp_jt_t *jt;
    int notify_fd, sig_fd;

    /* the current job */
    struct emp_job *job;
    emp_plugin_inst_t *job_inst;
    long long job_t0, job_deadline, cancel_deadline;
    unsigned long progress_seq;
    long long last_progress_write;
    int progress_dirty;
    double progress_frac;
    char *progress_msg;

    /* an outcome waiting to be written (Redis down) */
    outcome_kind_t outcome;
    int out_retryable, out_immediate;
    char *out_code, *out_message;
    long long out_processing_ms;
    int outcome_held_logged;

    /* timers (monotonic ms; 0 = off) */
    long long next_heartbeat, next_sweep, next_poll, wake_at, next_reconnect, next_watchdog;
    long long watchdog_interval;
    int reconnect_attempts;
    int first_connect_done;
    int claim_now;
    char *wake_job_id;

    int stopping;
    long long stop_deadline;
    int exit_code;
    int done;
    char *services_key; /* the served services last sent to the queue, to detect changes */
} worker_t;

static long long jitter_ms(long long max)
{
    return max > 0 ? (long long)(random() % (max + 1)) : 0;
}

/* ---- capabilities: the services of READY plugins ---- */

static void refresh_capabilities(worker_t *w)
{
    size_t cap = 1;
    for (size_t i = 0; i < w->ninsts; i++)
        cap += w->insts[i]->nservices;
    const char **svcs = xcalloc(cap, sizeof *svcs);
    size_t n = 0;
    cJSON *models = cJSON_CreateObject();
    char key[4096] = "";
    for (size_t i = 0; i < w->ninsts; i++) {
        emp_plugin_inst_t *in = w->insts[i];
        if (__atomic_load_n(&in->state_ready, __ATOMIC_SEQ_CST) != EMP_INST_READY)
            continue;
        pthread_mutex_lock(&in->mu);
        cJSON *m = in->models_json ? cJSON_Parse(in->models_json) : NULL;
        pthread_mutex_unlock(&in->mu);
        for (size_t k = 0; k < in->nservices; k++) {
            svcs[n++] = in->services[k];
            strncat(key, in->services[k], sizeof key - strlen(key) - 2);
            strncat(key, ",", sizeof key - strlen(key) - 1);
            if (cJSON_IsArray(m))
                cJSON_AddItemToObject(models, in->services[k], cJSON_Duplicate(m, 1));
        }
        cJSON_Delete(m);
    }
    char *mtext = cJSON_PrintUnformatted(models);
    cJSON_Delete(models);
    strncat(key, mtext, sizeof key - strlen(key) - 1);
    if (w->services_key == NULL || strcmp(w->services_key, key) != 0) {
        emp_queue_set_capabilities(w->q, svcs, mtext);
        free(w->services_key);
        w->services_key = xstrdup(key);
        w->claim_now = 1;
    }
    cJSON_free(mtext);
    free(svcs);
}

static emp_plugin_inst_t *plugin_for(worker_t *w, const char *service)
{
    for (size_t i = 0; i < w->ninsts; i++)
        if (emp_plugin_serves(w->insts[i], service) &&
            __atomic_load_n(&w->insts[i]->state_ready, __ATOMIC_SEQ_CST) == EMP_INST_READY)
            return w->insts[i];
    return NULL;
}

static int serves(worker_t *w, const char *service)
{
    return service == NULL || plugin_for(w, service) != NULL;
}

/* ---- outcomes ---- */

static void clear_job(worker_t *w)
{
    emp_job_free(w->job);
    w->job = NULL;
    w->job_inst = NULL;
    w->outcome = OUT_NONE;
    free(w->out_code);
    free(w->out_message);
    w->out_code = w->out_message = NULL;
    free(w->progress_msg);
    w->progress_msg = NULL;
    w->progress_dirty = 0;
    w->job_deadline = w->cancel_deadline = 0;
    w->claim_now = 1;
    emp_notify_status("idle");
}

/* Try to write the pending outcome. Returns 0 when written (or dropped by the fence). */
static int write_outcome(worker_t *w)
{
    if (!emp_queue_connected(w->q)) {
        if (!w->outcome_held_logged)
            LOG_W("Redis is unreachable: holding the outcome of job %s until it is back",
                  w->job->id);
        w->outcome_held_logged = 1;
        return -1;
    }
    w->outcome_held_logged = 0;
    struct emp_job *job = w->job;
    char seen[64] = "";
    int rc;
    if (w->outcome == OUT_COMPLETE) {
        rc = emp_queue_complete(w->q, job, job->result ? job->result : "{}", w->out_processing_ms,
                                w->progress_dirty ? w->progress_frac : -1.0, w->progress_msg, seen,
                                sizeof seen);
        if (rc == 1)
            LOG_I("job %s completed in %lld ms", job->id, w->out_processing_ms);
        else if (rc == 0)
            LOG_W("job %s finished, but it is no longer ours (status now \"%s\"): result "
                  "dropped, the other outcome stands",
                  job->id, seen);
    } else {
        rc = emp_queue_fail(w->q, job, w->out_retryable, w->out_immediate, w->out_code,
                            w->out_message, seen, sizeof seen);
        if (rc == 1)
            LOG_W("job %s failed (%s): %s -> %s", job->id, w->out_code, w->out_message,
                  strcmp(seen, "failed") == 0 ? "failed permanently" : "requeued");
        else if (rc == 0)
            LOG_I("job %s ended (%s) after it stopped being ours (status \"%s\"): nothing "
                  "overwritten",
                  job->id, w->out_code, seen);
    }
    if (rc < 0) {
        LOG_W("could not write the outcome of job %s (%s); keeping it until Redis is back", job->id,
              emp_queue_error(w->q));
        return -1;
    }
    clear_job(w);
    return 0;
}

static void set_outcome_fail(worker_t *w, int retryable, int immediate, const char *code,
                             const char *msg)
{
    w->outcome = OUT_FAIL;
    w->out_retryable = retryable;
    w->out_immediate = immediate;
    free(w->out_code);
    free(w->out_message);
    w->out_code = xstrdup(code);
    w->out_message = xstrdup(msg);
}

static void flush_progress(worker_t *w, int force);

static void finish_run(worker_t *w, int value)
{
    struct emp_job *job = w->job;
    w->out_processing_ms = emp_mono_ms() - w->job_t0;
    emp_cancel_reason_t why = emp_job_cancel_reason(job);
    pthread_mutex_lock(&job->mu);
    char *code = xstrdup(job->fail_code ? job->fail_code : "error");
    char *msg = xstrdup(job->fail_message ? job->fail_message : "the plugin gave no reason");
    pthread_mutex_unlock(&job->mu);
    char buf[256];
    /* the plugin's last progress (its 100%) may still be unwritten: it is written with the
     * completion, before it, as the reference does (5.1 steps 4-6) */
    if (why == EMP_CANCEL_NONE && value == EMP_OK) {
        double f;
        char *m;
        if (emp_job_take_progress(job, &w->progress_seq, &f, &m)) {
            w->progress_frac = f;
            free(w->progress_msg);
            w->progress_msg = m;
            w->progress_dirty = 1;
        }
    }
    switch (why) {
    case EMP_CANCEL_USER: set_outcome_fail(w, 0, 0, "cancelled", "Job cancelled by user"); break;
    case EMP_CANCEL_TIMEOUT:
        snprintf(buf, sizeof buf, "Job timeout after %lld ms",
                 w->job_deadline ? (w->job_deadline - w->job_t0) : 0);
        set_outcome_fail(w, 1, 0, "timeout", buf);
        break;
    case EMP_CANCEL_SHUTDOWN:
        set_outcome_fail(w, 1, 1, "shutdown", "Worker shutdown: job requeued");
        break;
    case EMP_CANCEL_LOST:
        set_outcome_fail(w, 0, 0, "lost", "job taken over by another worker");
        break;
    case EMP_CANCEL_NONE:
        if (value == EMP_OK) {
            w->outcome = OUT_COMPLETE;
        } else if (value == EMP_RETRY || value == EMP_FAIL) {
            set_outcome_fail(w, value == EMP_RETRY, 0, code, msg);
        } else if (value == EMP_CANCELLED) {
            set_outcome_fail(w, 1, 0, code, msg);
        } else {
            snprintf(buf, sizeof buf, "plugin '%s' returned an invalid result code %d",
                     w->job_inst->name, value);
            set_outcome_fail(w, 1, 0, "plugin_error", buf);
        }
        break;
    }
    free(code);
    free(msg);
    write_outcome(w);
}

/* ---- progress ---- */

static void flush_progress(worker_t *w, int force)
{
    if (w->job == NULL || w->outcome != OUT_NONE)
        return;
    double f;
    char *msg;
    if (emp_job_take_progress(w->job, &w->progress_seq, &f, &msg)) {
        w->progress_frac = f;
        free(w->progress_msg);
        w->progress_msg = msg;
        w->progress_dirty = 1;
    }
    if (!w->progress_dirty || !emp_queue_connected(w->q))
        return;
    long long now = emp_mono_ms();
    if (!force && now - w->last_progress_write < w->cfg->progress_interval_ms)
        return;
    int rc = emp_queue_progress(w->q, w->job, w->progress_frac, w->progress_msg);
    if (rc >= 0) {
        w->progress_dirty = 0;
        w->last_progress_write = now;
    }
    if (rc == 0 && emp_job_cancel_reason(w->job) == EMP_CANCEL_NONE) {
        /* the fence said no: another worker owns the job now (we were presumed dead), or
         * the API cancelled it; stop the backend work, the outcome will not be written */
        LOG_W("job %s is no longer ours (taken over or cancelled): stopping it", w->job->id);
        emp_job_cancel(w->job, EMP_CANCEL_LOST);
        if (w->job_inst && w->job_inst->desc->cancel)
            w->job_inst->desc->cancel(w->job_inst->state, w->job);
        w->cancel_deadline = now + (long long)w->cfg->cancel_grace_s * 1000;
    }
}

/* ---- claiming ---- */

static long long job_timeout_ms(worker_t *w, struct emp_job *job, emp_plugin_inst_t *inst)
{
    double minutes = inst->timeout_minutes > 0 ? inst->timeout_minutes : w->cfg->timeout_minutes;
    const char *req = emp_job_get(job, "requirements");
    if (req && req[0]) {
        cJSON *r = cJSON_Parse(req);
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(r, "positive_requirements");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(pos ? pos : r, "timeout_minutes");
        if (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble <= 10080)
            minutes = t->valuedouble;
        cJSON_Delete(r);
    }
    return (long long)(minutes * 60000.0);
}

static void try_claim(worker_t *w)
{
    w->claim_now = 0;
    w->wake_at = 0;
    if (w->wake_job_id) {
        /* cheap check: the job we were woken for may already be gone */
        int p = emp_queue_job_pending(w->q, w->wake_job_id);
        free(w->wake_job_id);
        w->wake_job_id = NULL;
        if (p == 0) {
            emp_queue_count_skip(w->q);
            w->next_poll = emp_mono_ms() + w->cfg->fallback_poll_ms;
            return;
        }
    }
    struct emp_job *job = NULL;
    int rc = emp_queue_claim(w->q, &job);
    long long now = emp_mono_ms();
    if (rc <= 0) {
        w->next_poll = now + w->cfg->fallback_poll_ms;
        return;
    }
    w->job = job;
    w->job_t0 = now;
    w->progress_seq = 0;
    w->last_progress_write =
        now; /* a job shorter than the interval writes only its final progress */
    emp_plugin_inst_t *inst = plugin_for(w, job->service);
    LOG_I("claimed job %s (service %s)", job->id, job->service);
    if (inst == NULL) {
        /* the claim function matched a service we do not run (or a hash without
         * service_required): give it back for a worker that can */
        w->job_inst = NULL;
        char msg[256];
        snprintf(msg, sizeof msg, "worker %s has no connector for service \"%s\"",
                 w->cfg->worker_id, job->service);
        set_outcome_fail(w, 1, 1, "unknown_service", msg);
        write_outcome(w);
        return;
    }
    w->job_inst = inst;
    int started = emp_queue_job_started(w->q, job);
    if (started == 0) {
        LOG_W("job %s was cancelled or taken before it started; skipping it", job->id);
        set_outcome_fail(w, 0, 0, "lost", "job no longer ours at start");
        write_outcome(w);
        return;
    }
    /* started < 0: Redis went away after the claim; the job is ours, so run it and write
     * the outcome when Redis is back */
    job->notify_fd = w->notify_fd;
    job->max_result_bytes = w->cfg->max_result_bytes;
    w->job_deadline = now + job_timeout_ms(w, job, inst);
    char st[300];
    snprintf(st, sizeof st, "busy: job %s (%s)", job->id, job->service);
    emp_notify_status(st);
    if (emp_jt_post_run(w->jt, inst, job) != 0) {
        /* cannot happen while claims wait for an idle job thread; never strand the job */
        LOG_E("job thread busy: giving job %s back", job->id);
        set_outcome_fail(w, 1, 1, "internal", "worker job thread busy");
        write_outcome(w);
    }
}

/* ---- events ---- */

static void on_event(const emp_queue_event_t *ev, void *arg)
{
    worker_t *w = arg;
    if (ev->kind == EMP_QEV_CANCEL) {
        if (w->job && ev->job_id && strcmp(ev->job_id, w->job->id) == 0 && w->outcome == OUT_NONE) {
            LOG_I("cancel_job received for the running job %s: stopping it", w->job->id);
            emp_job_cancel(w->job, EMP_CANCEL_USER);
            if (w->job_inst && w->job_inst->desc->cancel)
                w->job_inst->desc->cancel(w->job_inst->state, w->job);
            w->cancel_deadline = emp_mono_ms() + (long long)w->cfg->cancel_grace_s * 1000;
        }
        return;
    }
    /* job_submitted: wake only for services served here, after a small jitter */
    if (w->job || w->stopping || !serves(w, ev->service && ev->service[0] ? ev->service : NULL))
        return;
    if (w->wake_at == 0) {
        w->wake_at = emp_mono_ms() + jitter_ms(w->cfg->wake_jitter_ms);
        free(w->wake_job_id);
        w->wake_job_id = ev->job_id ? xstrdup(ev->job_id) : NULL;
    } else if (ev->job_id == NULL || (w->wake_job_id && strcmp(w->wake_job_id, ev->job_id))) {
        /* several jobs: no single job to check cheaply */
        free(w->wake_job_id);
        w->wake_job_id = NULL;
    }
}

/* ---- connection ---- */

static void try_connect(worker_t *w)
{
    long long now = emp_mono_ms();
    if (emp_queue_connect(w->q) != 0) {
        int n = ++w->reconnect_attempts;
        long long backoff = 250LL << (n < 8 ? n : 8);
        if (backoff > 30000)
            backoff = 30000;
        backoff = backoff / 2 + jitter_ms(backoff / 2);
        w->next_reconnect = now + backoff;
        LOG_W("%s; retrying in %lld ms", emp_queue_error(w->q), backoff);
        emp_notify_status("waiting for Redis");
        return;
    }
    if (w->reconnect_attempts || w->first_connect_done)
        LOG_I("connected to Redis again");
    w->reconnect_attempts = 0;
    refresh_capabilities(w);
    /* Requeue what jobs:active:<own id> holds that we are not running: leftovers from before
     * a restart, and, after a reconnect, a claim whose reply was lost (the server ran the
     * FCALL after our command timeout gave up on it). Only while idle: claims happen only
     * then, and a running job is in that hash legitimately. */
    if (!w->first_connect_done || w->job == NULL) {
        int n = emp_queue_requeue_own(w->q);
        if (n > 0 && !w->first_connect_done)
            LOG_W("requeued %d job(s) this worker held before it restarted", n);
        else if (n > 0)
            LOG_W("requeued %d job(s) assigned to this worker by a claim whose reply was lost", n);
        w->first_connect_done = 1;
    }
    emp_queue_register(w->q);
    /* the registration says idle: a job that runs on through the outage makes us busy again */
    if (w->job && w->outcome == OUT_NONE && emp_queue_connected(w->q))
        emp_queue_job_started(w->q, w->job);
    w->next_heartbeat = now + w->cfg->heartbeat_interval_ms;
    w->next_sweep = now + jitter_ms(w->cfg->sweep_interval_ms);
    w->claim_now = 1;
    if (w->job && w->outcome != OUT_NONE)
        write_outcome(w);
    else if (w->job)
        flush_progress(w, 1);
    if (w->job == NULL)
        emp_notify_status("idle");
}

/* ---- plugins ---- */

static void start_plugins(worker_t *w)
{
    if (emp_jt_busy(w->jt) || w->job)
        return;
    long long now = emp_mono_ms();
    for (size_t i = 0; i < w->ninsts; i++) {
        emp_plugin_inst_t *in = w->insts[i];
        int st = __atomic_load_n(&in->state_ready, __ATOMIC_SEQ_CST);
        if ((st == EMP_INST_NEW || st == EMP_INST_NOT_READY) && now >= in->next_start_ms) {
            emp_jt_post_start(w->jt, in);
            return;
        }
    }
}

static void on_start_done(worker_t *w, emp_plugin_inst_t *in, int value)
{
    long long now = emp_mono_ms();
    if (value == EMP_START_READY) {
        if (in->state_ready != EMP_INST_READY)
            LOG_I("connector '%s' is ready", in->name);
        __atomic_store_n(&in->state_ready, EMP_INST_READY, __ATOMIC_SEQ_CST);
        in->start_failures = 0;
    } else if (value == EMP_START_FATAL) {
        __atomic_store_n(&in->state_ready, EMP_INST_FATAL, __ATOMIC_SEQ_CST);
        LOG_E("connector '%s' has a configuration error (see above): it will take no jobs "
              "until emp-worker is restarted with a fixed configuration",
              in->name);
    } else {
        int n = ++in->start_failures;
        long long backoff = 500LL << (n < 6 ? n : 6);
        if (backoff > 30000)
            backoff = 30000;
        in->next_start_ms = now + backoff / 2 + jitter_ms(backoff / 2);
        if (n == 1 || n % 10 == 0)
            LOG_W("connector '%s': backend not ready; retrying (attempt %d)", in->name, n);
        __atomic_store_n(&in->state_ready, EMP_INST_NOT_READY, __ATOMIC_SEQ_CST);
    }
    refresh_capabilities(w);
}

static void on_notify(worker_t *w)
{
    uint64_t x;
    ssize_t r = read(w->notify_fd, &x, sizeof x);
    (void)r;
    emp_jt_kind_t kind;
    int value;
    emp_plugin_inst_t *in;
    while (emp_jt_take_done(w->jt, &kind, &value, &in)) {
        if (kind == EMP_JT_START)
            on_start_done(w, in, value);
        else if (kind == EMP_JT_RUN && w->job)
            finish_run(w, value);
    }
    if (w->job)
        flush_progress(w, 0);
}

static void on_signal(worker_t *w)
{
    struct signalfd_siginfo si;
    while (read(w->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGPIPE)
            continue;
        if (!w->stopping) {
            w->stopping = 1;
            w->stop_deadline = emp_mono_ms() + (long long)w->cfg->shutdown_grace_s * 1000;
            LOG_I("signal %u: stopping (no new jobs; the running job has %d s to finish)",
                  si.ssi_signo, w->cfg->shutdown_grace_s);
            emp_notify_stopping();
        } else {
            w->stop_deadline = emp_mono_ms(); /* a second signal: do not wait */
        }
    }
}

/* ---- the loop ---- */

static long long earliest(long long a, long long b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

static void tick(worker_t *w)
{
    long long now = emp_mono_ms();
    int connected = emp_queue_connected(w->q);
    int plugins_probed = 1;
    for (size_t i = 0; i < w->ninsts; i++)
        plugins_probed &=
            __atomic_load_n(&w->insts[i]->state_ready, __ATOMIC_SEQ_CST) != EMP_INST_NEW;
    if (!connected && now >= w->next_reconnect && (plugins_probed || w->first_connect_done)) {
        try_connect(w);
        connected = emp_queue_connected(w->q);
    }
    if (connected && now >= w->next_heartbeat) {
        emp_queue_heartbeat(w->q);
        w->next_heartbeat = now + w->cfg->heartbeat_interval_ms;
    }
    if (emp_queue_connected(w->q) && now >= w->next_sweep && !w->stopping) {
        emp_queue_sweep(w->q);
        w->next_sweep = now + w->cfg->sweep_interval_ms / 2 + jitter_ms(w->cfg->sweep_interval_ms);
    }
    if (w->job && w->outcome != OUT_NONE && emp_queue_connected(w->q))
        write_outcome(w);
    if (w->job && w->outcome == OUT_NONE) {
        flush_progress(w, 0);
        emp_cancel_reason_t why = emp_job_cancel_reason(w->job);
        if (why == EMP_CANCEL_NONE && now >= w->job_deadline) {
            LOG_W("job %s timed out: cancelling it", w->job->id);
            emp_job_cancel(w->job, EMP_CANCEL_TIMEOUT);
        } else if (why == EMP_CANCEL_NONE && w->stopping && now >= w->stop_deadline) {
            LOG_W("shutdown grace period over: cancelling job %s and requeueing it", w->job->id);
            emp_job_cancel(w->job, EMP_CANCEL_SHUTDOWN);
        }
        if (why == EMP_CANCEL_NONE && emp_job_cancel_reason(w->job) != EMP_CANCEL_NONE) {
            if (w->job_inst->desc->cancel)
                w->job_inst->desc->cancel(w->job_inst->state, w->job);
            w->cancel_deadline = now + (long long)w->cfg->cancel_grace_s * 1000;
        }
        if (w->cancel_deadline && now >= w->cancel_deadline) {
            LOG_E("plugin '%s' did not stop job %s within %d s of being cancelled: failing the "
                  "job (retryable) and exiting so that the service manager restarts us clean",
                  w->job_inst->name, w->job->id, w->cfg->cancel_grace_s);
            set_outcome_fail(w, 1, 1, "plugin_stuck", "plugin did not stop after cancellation");
            if (emp_queue_connected(w->q)) {
                char seen[64];
                emp_queue_fail(w->q, w->job, 1, 1, w->out_code, w->out_message, seen, sizeof seen);
            }
            w->exit_code = 3;
            w->done = 2; /* abandon the job thread */
            return;
        }
    }
    if (!w->job && !emp_jt_busy(w->jt) && !w->stopping)
        start_plugins(w);
    if (w->stopping && !w->job && !emp_jt_busy(w->jt)) {
        w->done = 1;
        return;
    }
    if (!w->job && !w->stopping && emp_queue_connected(w->q) && !emp_jt_busy(w->jt)) {
        int any_ready = 0;
        for (size_t i = 0; i < w->ninsts; i++)
            any_ready |=
                __atomic_load_n(&w->insts[i]->state_ready, __ATOMIC_SEQ_CST) == EMP_INST_READY;
        if (any_ready && (w->claim_now || (w->wake_at && now >= w->wake_at) ||
                          (w->next_poll && now >= w->next_poll) || w->next_poll == 0))
            try_claim(w);
    }
    if (w->next_watchdog && now >= w->next_watchdog) {
        emp_notify_watchdog();
        w->next_watchdog = now + w->watchdog_interval;
    }
}

static int poll_timeout(worker_t *w)
{
    long long now = emp_mono_ms();
    long long t = 0;
    if (!emp_queue_connected(w->q))
        t = earliest(t, w->next_reconnect);
    else {
        t = earliest(t, w->next_heartbeat);
        t = earliest(t, w->next_sweep);
        if (!w->job && !w->stopping) {
            t = earliest(t, w->next_poll);
            t = earliest(t, w->wake_at);
        }
    }
    if (w->job) {
        t = earliest(t, w->job_deadline);
        t = earliest(t, w->cancel_deadline);
        if (w->progress_dirty)
            t = earliest(t, w->last_progress_write + w->cfg->progress_interval_ms);
        if (w->stopping)
            t = earliest(t, w->stop_deadline);
        if (w->outcome != OUT_NONE)
            t = earliest(t, now + 1000);
    }
    for (size_t i = 0; i < w->ninsts; i++)
        if (w->insts[i]->state_ready == EMP_INST_NOT_READY)
            t = earliest(t, w->insts[i]->next_start_ms);
    t = earliest(t, w->next_watchdog);
    if (w->claim_now)
        return 0;
    if (t == 0)
        return 1000;
    long long d = t - now;
    return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

int emp_worker_run(emp_config_t *cfg, emp_plugin_inst_t **insts, size_t ninsts)
{
    worker_t w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.insts = insts;
    w.ninsts = ninsts;
    srandom((unsigned)(emp_epoch_ms() ^ (getpid() << 16)));
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before the job thread starts: it inherits it */
    w.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    w.notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w.sig_fd < 0 || w.notify_fd < 0) {
        LOG_E("cannot create signal/event fds: %s", strerror(errno));
        return 1;
    }
    w.q = emp_queue_new(cfg);
    w.jt = emp_jt_new(w.notify_fd);
    w.watchdog_interval = emp_notify_watchdog_interval_ms();
    if (w.watchdog_interval > 0)
        w.next_watchdog = emp_mono_ms() + w.watchdog_interval;
    char *url = emp_redis_url_redacted(cfg->redis_url);
    LOG_I("emp-worker starting: gpu %d, worker %s, machine %s, redis %s, %zu connector(s)",
          cfg->gpu, cfg->worker_id, cfg->machine_id, url, ninsts);
    free(url);

    /* READY as soon as the configuration and plugins are loaded: a worker waiting for Redis
     * is up (STATUS says what it waits for) and must not be restart-looped by systemd */
    emp_notify_ready();
    while (!w.done) {
        tick(&w);
        if (w.done)
            break;
        struct pollfd p[3] = {{.fd = w.sig_fd, .events = POLLIN},
                              {.fd = w.notify_fd, .events = POLLIN},
                              {.fd = emp_queue_sub_fd(w.q), .events = POLLIN}};
        int np = p[2].fd >= 0 ? 3 : 2;
        int r = poll(p, (nfds_t)np, poll_timeout(&w));
        if (r < 0 && errno != EINTR) {
            LOG_E("poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents & POLLIN)
            on_signal(&w);
        if (p[1].revents & POLLIN)
            on_notify(&w);
        if (np == 3 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
            emp_queue_read_events(w.q, on_event, &w);
    }

    if (w.done == 2) {
        /* a plugin is stuck in run: leave the thread, exit non-zero. _exit, not a return: the
         * caller would free the config the plugin borrows and main() would run
         * curl_global_cleanup and the exit handlers while the job thread is still inside the
         * plugin (a crash, or a hang in the sanitizers' death handler). The job's failure is
         * already written; the log is unbuffered. */
        emp_jt_abandon(w.jt);
        emp_queue_free(w.q);
        _exit(w.exit_code);
    }
    if (emp_queue_connected(w.q))
        emp_queue_deregister(w.q, "shutdown");
    emp_jt_shutdown(w.jt, insts, ninsts);
    emp_queue_free(w.q);
    free(w.services_key);
    free(w.wake_job_id);
    close(w.sig_fd);
    close(w.notify_fd);
    LOG_I("emp-worker stopped");
    return w.exit_code;
}
