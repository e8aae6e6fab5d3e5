/* a1111_job.c - one job's event loop (see a1111_job.h). */
#include "a1111_job.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "a1111_http.h"
#include "a1111_progress.h"
#include "a1111_request.h"
#include "a1111_result.h"

/* Longest sleep in curl_multi_poll: bounds how late a missed wake-up could be noticed. */
#define A1111_POLL_SLICE_MS 1000
/* At most this many interrupts per job (re-sent while our job is seen still sampling). */
#define A1111_MAX_INTERRUPTS 10

typedef struct job_ctx {
    a1111_state_t *s;
    const emp_host_api_t *api;
    emp_job_t *job;
    CURLM *multi;
    a1111_request_t req;
    ebuf_t task_body; /* body of POST /internal/progress for our task id */
    /* One slot per kind of request; `on` = added to the multi handle. */
    a1111_http_t gen, poll, task, intr;
    int gen_on, poll_on, task_on, intr_on;
    int gen_sent, gen_done;
    CURLcode gen_rc;
    int baseline_done;
    int tick_open; /* a progress tick's requests are out */
    int have_snap, have_task;
    a1111_progress_snap_t snap;
    a1111_task_snap_t task_snap;
    a1111_tracker_t tracker;
    long long next_poll_at;
    int cancel_seen;
    long long cancel_deadline, last_interrupt_at;
    int interrupts;
} job_ctx_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prepares slot h and adds it to the multi handle. 0 / -1. */
static int add(job_ctx_t *c, a1111_http_t *h, int *on, const char *path, const char *body,
               size_t body_len, long long timeout_ms)
{
    if (a1111_http_init(h, &c->s->cfg, path, body, body_len, timeout_ms) != 0)
        return -1;
    if (curl_multi_add_handle(c->multi, h->easy) != CURLM_OK) {
        a1111_http_cleanup(h);
        return -1;
    }
    *on = 1;
    return 0;
}

static void drop(job_ctx_t *c, a1111_http_t *h, int *on)
{
    if (*on)
        curl_multi_remove_handle(c->multi, h->easy);
    *on = 0;
    a1111_http_cleanup(h);
}

static int send_generation(job_ctx_t *c)
{
    c->gen_sent = 1;
    return add(c, &c->gen, &c->gen_on, a1111_mode_path(c->req.mode), c->req.body.data,
               c->req.body.len, c->s->cfg.request_timeout_ms);
}

static void send_interrupt(job_ctx_t *c, long long now)
{
    if (c->intr_on || c->interrupts >= A1111_MAX_INTERRUPTS)
        return;
    if (add(c, &c->intr, &c->intr_on, "/sdapi/v1/interrupt", "", 0, c->s->cfg.probe_timeout_ms) !=
        0)
        return;
    c->interrupts++;
    c->last_interrupt_at = now;
    c->api->log(c->s->host, EMP_LOG_INFO, "cancel: POST /sdapi/v1/interrupt (%d)", c->interrupts);
}

static void start_tick(job_ctx_t *c)
{
    long long t = c->s->cfg.probe_timeout_ms;
    c->have_snap = c->have_task = 0;
    add(c, &c->poll, &c->poll_on, "/sdapi/v1/progress?skip_current_image=true", NULL, 0, t);
    if (c->tracker.tracked && c->task_body.data)
        add(c, &c->task, &c->task_on, "/internal/progress", c->task_body.data, c->task_body.len, t);
    c->tick_open = c->poll_on || c->task_on;
}

/* Both answers of a tick are in: let the tracker decide, report what it says. */
static void finish_tick(job_ctx_t *c)
{
    double fraction;
    char msg[160];
    c->tick_open = 0;
    if (a1111_tracker_update(&c->tracker, c->have_snap ? &c->snap : NULL,
                             c->have_task ? &c->task_snap : NULL, &fraction, msg, sizeof msg))
        c->api->progress(c->job, fraction, msg);
}

/* A transfer finished: record what it brought and release its slot (except the generation's,
 * whose status and body run() still needs). */
static void on_done(job_ctx_t *c, CURL *easy, CURLcode rc)
{
    if (easy == c->gen.easy) {
        curl_multi_remove_handle(c->multi, easy);
        c->gen_on = 0;
        c->gen_done = 1;
        c->gen_rc = rc;
    } else if (easy == c->poll.easy) {
        int ok = rc == CURLE_OK && a1111_http_status(&c->poll) == 200 &&
                 a1111_progress_parse(c->poll.body.data, c->poll.body.len, &c->snap) == 0;
        if (!c->baseline_done) {
            c->baseline_done = 1;
            a1111_tracker_baseline(&c->tracker, ok ? &c->snap : NULL);
        } else {
            c->have_snap = ok;
        }
        drop(c, &c->poll, &c->poll_on);
    } else if (easy == c->task.easy) {
        long status = rc == CURLE_OK ? a1111_http_status(&c->task) : 0;
        c->have_task = status == 200 &&
                       a1111_task_parse(c->task.body.data, c->task.body.len, &c->task_snap) == 0;
        if (status == 404) { /* A1111 restarted with --nowebui since start: match by state */
            c->tracker.tracked = 0;
            c->s->have_task_progress = 0;
        }
        drop(c, &c->task, &c->task_on);
    } else if (easy == c->intr.easy) {
        long status = a1111_http_status(&c->intr);
        if (rc != CURLE_OK || status != 200)
            c->api->log(c->s->host, EMP_LOG_WARN,
                        "cancel: POST /sdapi/v1/interrupt failed (%s %ld)",
                        rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP", status);
        drop(c, &c->intr, &c->intr_on);
    }
}

/* Cancellation: interrupt A1111 while the job it runs may be ours; never interrupt a job that
 * is known to be someone else's (ours then waits in A1111's queue and is interrupted once it
 * starts, or dropped when interrupt_wait_ms runs out). */
static void handle_cancel(job_ctx_t *c, long long now)
{
    if (!c->cancel_seen) {
        c->cancel_seen = 1;
        c->cancel_deadline = now + c->s->cfg.interrupt_wait_ms;
        c->api->log(c->s->host, EMP_LOG_INFO, "cancel requested");
    }
    if (!c->gen_sent || c->tracker.owner == A1111_OWNER_OTHER)
        return;
    int again = c->tracker.owner == A1111_OWNER_OURS && c->have_snap && !c->snap.interrupted &&
                now - c->last_interrupt_at >= c->s->cfg.poll_interval_ms;
    if (c->interrupts == 0 || again)
        send_interrupt(c, now);
}

/* The loop: returns when the generation call is done, or the job was cancelled and either
 * nothing had been sent or interrupt_wait_ms ran out. */
static void loop(job_ctx_t *c)
{
    const a1111_config_t *cfg = &c->s->cfg;
    int cancel_fd = c->api->cancel_fd(c->job);
    for (;;) {
        int running, left;
        CURLMsg *m;
        curl_multi_perform(c->multi, &running);
        while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE)
                on_done(c, m->easy_handle, m->data.result);
        if (c->gen_done)
            return;
        if (c->baseline_done && !c->gen_sent && !c->api->cancelled(c->job)) {
            if (send_generation(c) != 0) {
                c->gen_done = 1;
                c->gen_rc = CURLE_OUT_OF_MEMORY;
                return;
            }
            continue; /* start the transfer right away */
        }
        if (c->tick_open && !c->poll_on && !c->task_on)
            finish_tick(c);

        long long now = now_ms();
        if (c->api->cancelled(c->job)) {
            handle_cancel(c, now);
            if (!c->gen_sent || now >= c->cancel_deadline)
                return;
        }
        if (c->gen_sent && !c->tick_open && now >= c->next_poll_at) {
            start_tick(c);
            c->next_poll_at = now + cfg->poll_interval_ms;
        }

        /* Transfers wake curl_multi_poll themselves; the timeout is for our own timers: the
         * next tick (none while one is out: a slow poll must not turn this into a spin) and
         * the cancel deadline. */
        long long wait = c->gen_sent && !c->tick_open ? c->next_poll_at - now : A1111_POLL_SLICE_MS;
        if (c->cancel_seen && c->cancel_deadline - now < wait)
            wait = c->cancel_deadline - now;
        if (wait > A1111_POLL_SLICE_MS)
            wait = A1111_POLL_SLICE_MS;
        if (wait < 0)
            wait = 0;
        /* The cancel fd stays readable once raised: watch it only until the cancel is seen. */
        struct curl_waitfd extra = {.fd = cancel_fd, .events = CURL_WAIT_POLLIN};
        int nextra = !c->cancel_seen && cancel_fd >= 0;
        if (curl_multi_poll(c->multi, nextra ? &extra : NULL, nextra ? 1 : 0, (int)wait, NULL) !=
            CURLM_OK) {
            c->gen_done = 1; /* cannot wait any more: fail the job (retryable) */
            c->gen_rc = CURLE_FAILED_INIT;
            return;
        }
    }
}

static emp_result_t finish(job_ctx_t *c)
{
    const emp_host_api_t *api = c->api;
    a1111_error_t err;

    if (api->cancelled(c->job)) {
        if (!c->gen_sent)
            return api->fail(c->job, EMP_CANCELLED, "cancelled",
                             "cancelled before A1111 was asked");
        if (!c->gen_done) {
            api->log(c->s->host, EMP_LOG_WARN,
                     "cancel: A1111 did not answer within %lld ms of "
                     "the interrupt; dropping the request",
                     c->s->cfg.interrupt_wait_ms);
            return api->fail(c->job, EMP_CANCELLED, "cancelled",
                             "cancelled; A1111 had not returned %lld ms after the interrupt",
                             c->s->cfg.interrupt_wait_ms);
        }
        return api->fail(c->job, EMP_CANCELLED, "cancelled",
                         "cancelled; A1111's answer (partial images) was discarded");
    }
    if (c->gen_rc != CURLE_OK) {
        a1111_http_transport_error(&c->gen, c->gen_rc, &c->s->cfg, &err);
        return api->fail(c->job, err.cls, err.code, "%s", err.message);
    }
    long status = a1111_http_status(&c->gen);
    if (status != 200) {
        a1111_error_from_http(status, c->gen.body.data, c->gen.body.len, &err);
        if (err.auth) {
            c->s->auth_refused = 1;
            api->log(c->s->host, EMP_LOG_ERROR,
                     "A1111 at %s refused our credentials (HTTP 401); "
                     "the job is retried elsewhere and this connector stops at its next start: "
                     "fix options username/password",
                     c->s->cfg.base_url);
        }
        return api->fail(c->job, err.cls, err.code, "%s", err.message);
    }

    ebuf_t result;
    size_t nimages = 0;
    a1111_result_opts_t o = {c->s->cfg.output, c->s->cfg.output_dir, api->job_id(c->job)};
    ebuf_init(&result, 0);
    if (a1111_result_build(c->gen.body.data, c->gen.body.len, &o, &result, &nimages, &err) != 0) {
        ebuf_free(&result);
        return api->fail(c->job, err.cls, err.code, "%s", err.message);
    }
    emp_result_t r = EMP_OK;
    if (api->set_result(c->job, result.data, result.len) != 0)
        r = api->fail(c->job, EMP_FAIL, "result_too_large",
                      "the host refused the result (%zu bytes, %zu images): too large; "
                      "try output = \"files\"",
                      result.len, nimages);
    else
        api->progress(c->job, 1.0, "done");
    ebuf_free(&result);
    return r;
}

emp_result_t a1111_job_run(a1111_state_t *s, emp_job_t *job)
{
    const emp_host_api_t *api = s->api;
    job_ctx_t c;
    char err[256];
    size_t len = 0;
    const char *payload = api->job_payload(job, &len);
    const char *task_id = api->job_id(job);

    memset(&c, 0, sizeof c);
    c.s = s;
    c.api = api;
    c.job = job;
    if (a1111_request_build(payload, len, task_id, &c.req, err, sizeof err) != 0)
        return api->fail(job, EMP_FAIL, "invalid_payload", "%s", err);
    c.multi = a1111_state_multi(s);
    if (c.multi == NULL) {
        a1111_request_free(&c.req);
        return api->fail(job, EMP_RETRY, "out_of_memory", "cannot create a libcurl multi handle");
    }
    a1111_tracker_init(&c.tracker, a1111_mode_state_job(c.req.mode), s->have_task_progress);
    ebuf_init(&c.task_body, 0);
    ebuf_puts(&c.task_body, "{\"id_task\":");
    ebuf_json_cstr(&c.task_body, task_id);
    ebuf_puts(&c.task_body, ",\"id_live_preview\":-1,\"live_preview\":false}");
    if (c.task_body.failed)
        c.tracker.tracked = 0;
    char first[64];
    snprintf(first, sizeof first, "sending %s to A1111", a1111_mode_name(c.req.mode));
    api->progress(job, 0.0, first);

    /* The baseline progress snapshot goes out first; the generation follows when it is in. */
    if (add(&c, &c.poll, &c.poll_on, "/sdapi/v1/progress?skip_current_image=true", NULL, 0,
            s->cfg.probe_timeout_ms) != 0) {
        c.baseline_done = 1;
        a1111_tracker_baseline(&c.tracker, NULL);
    }
    c.next_poll_at = now_ms() + s->cfg.poll_interval_ms;
    loop(&c);
    emp_result_t r = finish(&c);

    drop(&c, &c.gen, &c.gen_on);
    drop(&c, &c.poll, &c.poll_on);
    drop(&c, &c.task, &c.task_on);
    drop(&c, &c.intr, &c.intr_on);
    ebuf_free(&c.task_body);
    a1111_request_free(&c.req);
    return r;
}
