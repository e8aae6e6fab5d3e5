/*
 * test_host_job.c - the job half of the host API (core/host_api.c, core/job.c) and the job
 * thread (core/job_thread.c): payload and fields passed through raw, progress (monotonic,
 * copied, sequenced, notifying), set_result, fail, cancellation (flag, fd, early sleep_ms),
 * and the job thread's start / run / busy refusal / completion notify / shutdown.
 *
 * Waits are on conditions (eventfds, condition variables) with deadlines that only bound a
 * failure; there is no fixed sleep.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "host_fixture.h"
#include "job.h"
#include "job_thread.h"
#include "plugin_host.h"

#define DEADLINE_MS 10000

static const emp_host_api_t *A;

static const char BIG_PAYLOAD[] =
    "{\"seed\": 18446744073709551557, \"workflow\": {\"3\": {\"inputs\": {\"seed\": "
    "9007199254740993, \"cfg\": 7.50}}}, \"s\": \"caf\\u00e9\"}";

static struct emp_job *new_job(const char *payload)
{
    const char *names[] = {"id", "service_required", "payload", "ctx", "retry_count"};
    const char *values[] = {"job-7", "mock", payload, "{\"k\":1}", "2"};
    return emp_job_new(NULL, NULL, names, values, payload ? 5 : 0);
}

static uint64_t drain(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return 0;
    return v;
}

/* ---- job fields ---- */

static void test_job_fields(void **state)
{
    struct emp_job *job = new_job(BIG_PAYLOAD);
    assert_string_equal(A->job_id(job), "job-7");
    assert_string_equal(A->job_service(job), "mock");
    size_t len = 0;
    const char *p = A->job_payload(job, &len);
    /* byte for byte: the 64-bit seed and the 7.50 are not re-serialised */
    assert_int_equal(len, strlen(BIG_PAYLOAD));
    assert_memory_equal(p, BIG_PAYLOAD, len);
    assert_non_null(strstr(p, "18446744073709551557"));
    assert_non_null(strstr(p, "9007199254740993"));
    assert_non_null(p = A->job_field(job, "ctx", &len));
    assert_string_equal(p, "{\"k\":1}");
    assert_int_equal(len, 7);
    assert_string_equal(A->job_field(job, "retry_count", NULL), "2");
    assert_null(A->job_field(job, "workflow_id", &len));
    assert_int_equal(len, 7); /* untouched when absent */
    emp_job_free(job);

    /* explicit id/service win over the fields; no payload field means "{}" */
    const char *names[] = {"id"};
    const char *values[] = {"from-field"};
    job = emp_job_new("given", "svc", names, values, 1);
    assert_string_equal(A->job_id(job), "given");
    assert_string_equal(A->job_service(job), "svc");
    p = A->job_payload(job, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "{}", 2);
    assert_string_equal(A->job_field(job, "id", NULL), "from-field");
    emp_job_free(job);
}

/* ---- progress ---- */

static void test_progress(void **state)
{
    struct emp_job *job = new_job("{}");
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(efd >= 0);
    job->notify_fd = efd;
    unsigned long seq = 0;
    double frac;
    char *msg;
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 0);

    char buf[32];
    snprintf(buf, sizeof buf, "step 1");
    A->progress(job, 0.25, buf);
    snprintf(buf, sizeof buf, "changed"); /* the host copied it */
    assert_true(hf_wait_readable(efd, 0));
    assert_int_equal(drain(efd), 1);
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 1);
    assert_true(frac == 0.25);
    assert_string_equal(msg, "step 1");
    free(msg);
    unsigned long s1 = seq;
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 0); /* nothing new */

    /* backwards: clamped to the high-water mark, and nothing changes */
    A->progress(job, 0.10, "step 1");
    assert_false(hf_wait_readable(efd, 0));
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 0);
    /* a new message at a lower fraction: the message changes, the fraction does not */
    A->progress(job, 0.10, "step 2");
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 1);
    assert_true(frac == 0.25);
    assert_string_equal(msg, "step 2");
    free(msg);
    assert_true(seq == s1 + 1);
    /* NULL message keeps the last one; out-of-range fractions are clamped; NaN is ignored */
    A->progress(job, 7.0, NULL);
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 1);
    assert_true(frac == 1.0);
    assert_string_equal(msg, "step 2");
    free(msg);
    A->progress(job, NAN, "nan");
    A->progress(job, -3.0, NULL);
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 0);
    assert_true(job->progress == 1.0);

    /* a long message is cut at the host's limit (512) */
    char *longmsg = malloc(5000);
    memset(longmsg, 'x', 4999);
    longmsg[4999] = '\0';
    A->progress(job, 1.0, longmsg);
    assert_int_equal(emp_job_take_progress(job, &seq, &frac, &msg), 1);
    assert_int_equal(strlen(msg), 512);
    free(msg);
    free(longmsg);

    /* several updates between two takes are coalesced into the latest */
    struct emp_job *j2 = new_job("{}");
    unsigned long seq2 = 0;
    A->progress(j2, 0.1, "a");
    A->progress(j2, 0.2, "b");
    A->progress(j2, 0.3, "c");
    assert_int_equal(emp_job_take_progress(j2, &seq2, &frac, &msg), 1);
    assert_true(frac == 0.3);
    assert_string_equal(msg, "c");
    assert_int_equal(seq2, 3);
    free(msg);
    emp_job_free(j2);
    close(efd);
    emp_job_free(job);
}

/* ---- result and failure ---- */

static void test_set_result(void **state)
{
    struct emp_job *job = new_job("{}");
    assert_int_equal(A->set_result(job, "[1,2]", 5), -1);
    assert_int_equal(A->set_result(job, "\"str\"", 5), -1);
    assert_int_equal(A->set_result(job, "   ", 3), -1);
    assert_int_equal(A->set_result(job, "", 0), -1);
    /* a text that starts like an object but is not valid JSON, or has trailing garbage */
    assert_int_equal(A->set_result(job, "{broken", 7), -1);
    assert_int_equal(A->set_result(job, "{} {}", 5), -1);
    assert_int_equal(A->set_result(job, "{\"a\":1}x", 8), -1);
    assert_null(job->result);
    /* raw bytes, exactly len of them (the input need not be NUL-terminated) */
    const char r[] = " \n{\"seed\":18446744073709551557}TRAILING";
    size_t rl = strlen(r) - strlen("TRAILING");
    assert_int_equal(A->set_result(job, r, rl), 0);
    assert_int_equal(job->result_len, rl);
    assert_string_equal(job->result, " \n{\"seed\":18446744073709551557}");
    /* a second call replaces the first */
    assert_int_equal(A->set_result(job, "{}", 2), 0);
    assert_string_equal(job->result, "{}");

    /* the cap: max_result_bytes itself passes, one more byte is refused */
    job->max_result_bytes = 16;
    assert_int_equal(A->set_result(job, "{\"a\":\"0123456\"}", 15), 0);
    assert_int_equal(A->set_result(job, "{\"a\":\"01234567\"}", 16), 0);
    assert_int_equal(A->set_result(job, "{\"a\":\"012345678\"}", 17), -1);
    assert_string_equal(job->result, "{\"a\":\"01234567\"}"); /* the refused one left no trace */
    emp_job_free(job);
}

static void test_fail(void **state)
{
    struct emp_job *job = new_job("{}");
    char code[16] = "oom";
    assert_int_equal((A->fail)(job, EMP_RETRY, code, "out of %s on GPU %d", "memory", 1), EMP_RETRY);
    code[0] = 'X';
    assert_int_equal(job->failed, 1);
    assert_int_equal(job->fail_class, EMP_RETRY);
    assert_string_equal(job->fail_code, "oom");
    assert_string_equal(job->fail_message, "out of memory on GPU 1");
    assert_int_equal((A->fail)(job, EMP_FAIL, NULL, "bad"), EMP_FAIL);
    assert_string_equal(job->fail_code, "error");
    assert_int_equal(job->fail_class, EMP_FAIL);
    assert_int_equal((A->fail)(job, EMP_CANCELLED, "", "%s", "stopped"), EMP_CANCELLED);
    assert_string_equal(job->fail_code, "error");
    assert_string_equal(job->fail_message, "stopped");
    emp_job_free(job);
}

/* ---- cancellation ---- */

typedef struct sleeper {
    struct emp_job *job;
    int efd_started; /* written when the sleeper is about to sleep */
    int result;
    long long took_ms;
} sleeper_t;

static void *sleeper_main(void *arg)
{
    sleeper_t *s = arg;
    uint64_t one = 1;
    if (write(s->efd_started, &one, sizeof one) != (ssize_t)sizeof one)
        abort();
    long long t0 = hf_now_ms();
    s->result = A->sleep_ms(s->job, 60000);
    s->took_ms = hf_now_ms() - t0;
    return NULL;
}

static void test_cancel(void **state)
{
    struct emp_job *job = new_job("{}");
    int fd = A->cancel_fd(job);
    assert_true(fd >= 0);
    assert_int_equal(A->cancelled(job), 0);
    assert_false(hf_wait_readable(fd, 0));
    assert_int_equal(A->sleep_ms(job, 1), 0); /* the full (short) sleep */
    assert_int_equal(A->sleep_ms(job, 0), 0);

    /* a sleeper on the job thread is woken by a cancel from this (control) thread */
    sleeper_t s = {.job = job, .efd_started = eventfd(0, EFD_CLOEXEC)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
    assert_true(hf_wait_readable(s.efd_started, DEADLINE_MS));
    emp_job_cancel(job, EMP_CANCEL_USER);
    pthread_join(th, NULL);
    close(s.efd_started);
    assert_int_equal(s.result, 1);
    assert_true(s.took_ms < DEADLINE_MS);
    assert_int_not_equal(A->cancelled(job), 0);
    assert_true(hf_wait_readable(fd, 0));
    /* once cancelled, sleeps return at once; the first reason sticks */
    assert_int_equal(A->sleep_ms(job, 60000), 1);
    emp_job_cancel(job, EMP_CANCEL_TIMEOUT);
    assert_int_equal(emp_job_cancel_reason(job), EMP_CANCEL_USER);
    emp_job_free(job);
}

/* ---- the job thread ---- */

typedef struct jt_plugin_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int release;      /* run blocks until set */
    int in_run;
    int stops;
    int starts;
    pthread_t stop_thread;
    struct emp_job *seen_job; /* inst->current_job as seen inside run */
    emp_plugin_inst_t *inst;
    emp_start_t start_answer;
} jps_t;

static jps_t *g_jps[2];
static int g_next;

static int jp_create(const emp_host_api_t *api, emp_host_t *host, void **out)
{
    jps_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    g_jps[g_next++] = s;
    *out = s;
    return 0;
}

static emp_start_t jp_start(void *state)
{
    jps_t *s = state;
    s->starts++;
    return s->start_answer;
}

static emp_result_t jp_run(void *state, emp_job_t *job)
{
    jps_t *s = state;
    pthread_mutex_lock(&s->mu);
    s->in_run = 1;
    pthread_mutex_lock(&s->inst->mu);
    s->seen_job = s->inst->current_job;
    pthread_mutex_unlock(&s->inst->mu);
    pthread_cond_broadcast(&s->cv);
    while (!s->release)
        pthread_cond_wait(&s->cv, &s->mu);
    s->in_run = 0;
    pthread_mutex_unlock(&s->mu);
    A->progress(job, 1.0, "done");
    A->set_result(job, "{\"ok\":true}", 11);
    return EMP_OK;
}

static void jp_stop(void *state)
{
    jps_t *s = state;
    s->stops++;
    s->stop_thread = pthread_self();
}

static void jp_destroy(void *state)
{
    jps_t *s = state;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static const emp_plugin_t jplug = {
    EMP_PLUGIN_HEADER, .name = "jplug", .create = jp_create, .start = jp_start, .run = jp_run,
    .stop = jp_stop, .destroy = jp_destroy,
};

static emp_plugin_inst_t *make_inst(void)
{
    emp_plugin_inst_t *inst = emp_plugin_from_descriptor(&jplug);
    assert_non_null(inst);
    emp_errlist_t e = {0};
    assert_int_equal(emp_plugin_create(inst, &e), 0);
    emp_errlist_free(&e);
    ((jps_t *)inst->state)->inst = inst;
    return inst;
}

/* Waits for the job thread's completion notify and takes the result. */
static void wait_done(emp_jt_t *jt, int efd, emp_jt_kind_t *kind, int *value,
                      emp_plugin_inst_t **inst)
{
    long long end = hf_now_ms() + DEADLINE_MS;
    for (;;) {
        long long left = end - hf_now_ms();
        assert_true(left > 0);
        assert_true(hf_wait_readable(efd, (int)left));
        drain(efd);
        if (emp_jt_take_done(jt, kind, value, inst))
            return;
    }
}

static void test_job_thread(void **state)
{
    g_next = 0;
    emp_plugin_inst_t *a = make_inst(), *b = make_inst();
    jps_t *sa = a->state, *sb = b->state;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    emp_jt_t *jt = emp_jt_new(efd);
    emp_jt_kind_t kind;
    int value;
    emp_plugin_inst_t *who;

    /* start: READY comes back through the notify fd */
    assert_int_equal(emp_jt_take_done(jt, &kind, &value, &who), 0);
    assert_int_equal(emp_jt_post_start(jt, a), 0);
    wait_done(jt, efd, &kind, &value, &who);
    assert_int_equal(kind, EMP_JT_START);
    assert_int_equal(value, EMP_START_READY);
    assert_ptr_equal(who, a);
    assert_int_equal(sa->starts, 1);
    assert_int_equal(a->started, 1);
    assert_int_equal(b->started, 0);

    /* run: blocks in the plugin; a second post is refused while busy */
    struct emp_job *job = new_job("{}");
    job->notify_fd = efd;
    assert_int_equal(emp_jt_post_run(jt, a, job), 0);
    pthread_mutex_lock(&sa->mu);
    while (!sa->in_run)
        pthread_cond_wait(&sa->cv, &sa->mu);
    pthread_mutex_unlock(&sa->mu);
    assert_true(emp_jt_busy(jt));
    assert_int_equal(emp_jt_post_run(jt, a, job), -1);
    assert_int_equal(emp_jt_post_start(jt, b), -1);
    assert_int_equal(emp_jt_take_done(jt, &kind, &value, &who), 0);
    assert_ptr_equal(sa->seen_job, job); /* the instance knows its current job during run */

    pthread_mutex_lock(&sa->mu);
    sa->release = 1;
    pthread_cond_broadcast(&sa->cv);
    pthread_mutex_unlock(&sa->mu);
    /* progress also writes to efd: wait_done loops until the completion itself */
    wait_done(jt, efd, &kind, &value, &who);
    assert_int_equal(kind, EMP_JT_RUN);
    assert_int_equal(value, EMP_OK);
    assert_ptr_equal(who, a);
    assert_string_equal(job->result, "{\"ok\":true}");
    assert_null(a->current_job);
    assert_false(emp_jt_busy(jt));

    /* a finished command that was not taken yet also blocks the next post */
    sb->start_answer = EMP_START_NOT_READY;
    drain(efd); /* the job thread notifies under its lock: nothing is pending after a take */
    assert_int_equal(emp_jt_post_start(jt, b), 0);
    assert_true(hf_wait_readable(efd, DEADLINE_MS)); /* done, not taken */
    /* busy until collected: the worker must not claim a job it could not post (a start that
     * finished just before a claim once stranded the claimed job) */
    assert_true(emp_jt_busy(jt));
    assert_int_equal(emp_jt_post_start(jt, a), -1);
    wait_done(jt, efd, &kind, &value, &who);
    assert_int_equal(kind, EMP_JT_START);
    assert_int_equal(value, EMP_START_NOT_READY);
    assert_ptr_equal(who, b);

    /* shutdown: stop on every started instance (both now), on the job thread */
    emp_plugin_inst_t *insts[] = {a, b};
    emp_jt_shutdown(jt, insts, 2);
    assert_int_equal(sa->stops, 1);
    assert_int_equal(sb->stops, 1);
    assert_false(pthread_equal(sa->stop_thread, pthread_self()));

    emp_job_free(job);
    close(efd);
    emp_plugin_unload(a);
    emp_plugin_unload(b);
}

static void test_shutdown_stops_started_only(void **state)
{
    g_next = 0;
    emp_plugin_inst_t *a = make_inst(), *b = make_inst();
    jps_t *sa = a->state, *sb = b->state;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    emp_jt_t *jt = emp_jt_new(efd);
    emp_jt_kind_t kind;
    int value;
    emp_plugin_inst_t *who;
    assert_int_equal(emp_jt_post_start(jt, b), 0);
    wait_done(jt, efd, &kind, &value, &who);
    emp_plugin_inst_t *insts[] = {a, b};
    emp_jt_shutdown(jt, insts, 2);
    assert_int_equal(sa->stops, 0); /* never started: no stop */
    assert_int_equal(sb->stops, 1);

    /* a thread that never ran anything shuts down cleanly too */
    jt = emp_jt_new(-1);
    emp_jt_shutdown(jt, NULL, 0);
    close(efd);
    emp_plugin_unload(a);
    emp_plugin_unload(b);
}

int main(void)
{
    A = emp_host_api();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_fields),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_set_result),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_job_thread),
        cmocka_unit_test(test_shutdown_stops_started_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
