/* job_thread.c - one thread running plugin calls on request (see job_thread.h). */
#define _GNU_SOURCE
#include "job_thread.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "xalloc.h"

struct emp_jt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int notify_fd;
    /* command slot, guarded by mu */
    emp_jt_kind_t posted;
    int running;
    int done;
    int value;
    int quit;
    emp_plugin_inst_t *inst;
    struct emp_job *job;
    emp_plugin_inst_t **stop_list;
    size_t nstop;
};

static void *jt_main(void *arg)
{
    emp_jt_t *jt = arg;
    pthread_mutex_lock(&jt->mu);
    for (;;) {
        while (jt->posted == EMP_JT_NONE && !jt->quit)
            pthread_cond_wait(&jt->cv, &jt->mu);
        if (jt->posted == EMP_JT_NONE && jt->quit)
            break;
        emp_jt_kind_t kind = jt->posted;
        emp_plugin_inst_t *inst = jt->inst;
        struct emp_job *job = jt->job;
        jt->running = 1;
        pthread_mutex_unlock(&jt->mu);

        int value = 0;
        if (kind == EMP_JT_START) {
            inst->started = 1;
            value = inst->desc->start ? (int)inst->desc->start(inst->state) : EMP_START_READY;
        } else if (kind == EMP_JT_RUN) {
            pthread_mutex_lock(&inst->mu);
            inst->current_job = job;
            pthread_mutex_unlock(&inst->mu);
            value = (int)inst->desc->run(inst->state, job);
            pthread_mutex_lock(&inst->mu);
            inst->current_job = NULL;
            pthread_mutex_unlock(&inst->mu);
        } else if (kind == EMP_JT_STOP) {
            for (size_t i = 0; i < jt->nstop; i++)
                if (jt->stop_list[i]->started && jt->stop_list[i]->desc->stop)
                    jt->stop_list[i]->desc->stop(jt->stop_list[i]->state);
        }

        pthread_mutex_lock(&jt->mu);
        jt->running = 0;
        jt->done = 1;
        jt->value = value;
        jt->posted = EMP_JT_NONE;
        pthread_cond_broadcast(&jt->cv);
        if (jt->notify_fd >= 0) {
            uint64_t one = 1;
            ssize_t w = write(jt->notify_fd, &one, sizeof one);
            (void)w;
        }
        jt->stop_list = kind == EMP_JT_STOP ? NULL : jt->stop_list;
        (void)kind;
    }
    pthread_mutex_unlock(&jt->mu);
    return NULL;
}

emp_jt_t *emp_jt_new(int notify_fd)
{
    emp_jt_t *jt = xcalloc(1, sizeof *jt);
    jt->notify_fd = notify_fd;
    pthread_mutex_init(&jt->mu, NULL);
    pthread_cond_init(&jt->cv, NULL);
    if (pthread_create(&jt->th, NULL, jt_main, jt) != 0)
        abort();
    return jt;
}

static int post(emp_jt_t *jt, emp_jt_kind_t kind, emp_plugin_inst_t *inst, struct emp_job *job)
{
    pthread_mutex_lock(&jt->mu);
    if (jt->posted != EMP_JT_NONE || jt->running || jt->done) {
        pthread_mutex_unlock(&jt->mu);
        return -1;
    }
    jt->posted = kind;
    jt->inst = inst;
    jt->job = job;
    pthread_cond_broadcast(&jt->cv);
    pthread_mutex_unlock(&jt->mu);
    return 0;
}

int emp_jt_post_start(emp_jt_t *jt, emp_plugin_inst_t *inst)
{
    return post(jt, EMP_JT_START, inst, NULL);
}

int emp_jt_post_run(emp_jt_t *jt, emp_plugin_inst_t *inst, struct emp_job *job)
{
    return post(jt, EMP_JT_RUN, inst, job);
}

int emp_jt_busy(emp_jt_t *jt)
{
    pthread_mutex_lock(&jt->mu);
    /* a finished command whose result was not collected yet still occupies the slot */
    int b = jt->posted != EMP_JT_NONE || jt->running || jt->done;
    pthread_mutex_unlock(&jt->mu);
    return b;
}

static emp_jt_kind_t last_kind(emp_jt_t *jt) { return jt->job ? EMP_JT_RUN : EMP_JT_START; }

int emp_jt_take_done(emp_jt_t *jt, emp_jt_kind_t *kind, int *value, emp_plugin_inst_t **inst)
{
    pthread_mutex_lock(&jt->mu);
    int d = jt->done;
    if (d) {
        *kind = last_kind(jt);
        *value = jt->value;
        *inst = jt->inst;
        jt->done = 0;
        jt->inst = NULL;
        jt->job = NULL;
    }
    pthread_mutex_unlock(&jt->mu);
    return d;
}

void emp_jt_shutdown(emp_jt_t *jt, emp_plugin_inst_t **insts, size_t n)
{
    if (jt == NULL)
        return;
    pthread_mutex_lock(&jt->mu);
    while (jt->posted != EMP_JT_NONE || jt->running)
        pthread_cond_wait(&jt->cv, &jt->mu);
    jt->done = 0;
    jt->stop_list = insts;
    jt->nstop = n;
    jt->posted = EMP_JT_STOP;
    jt->inst = NULL;
    jt->job = NULL;
    pthread_cond_broadcast(&jt->cv);
    while (jt->posted != EMP_JT_NONE || jt->running)
        pthread_cond_wait(&jt->cv, &jt->mu);
    jt->quit = 1;
    pthread_cond_broadcast(&jt->cv);
    pthread_mutex_unlock(&jt->mu);
    pthread_join(jt->th, NULL);
    pthread_mutex_destroy(&jt->mu);
    pthread_cond_destroy(&jt->cv);
    free(jt);
}

void emp_jt_abandon(emp_jt_t *jt)
{
    (void)jt; /* the thread may still be inside a plugin: leave it to process exit */
}
