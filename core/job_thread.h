/*
 * job_thread.h - the job thread: it runs a plugin's start, run and stop calls, one at a time,
 * so that the control thread never blocks on a backend.
 *
 * The control thread posts one command, then waits for its completion on `notify_fd` (an
 * eventfd it owns and polls) and collects it with emp_jt_take_done. Never kill this thread:
 * a plugin that does not return is handled by exiting the process (see worker.c).
 * Owns: the thread and the command slot. Borrowed: the instances and jobs passed in.
 */
#ifndef EMP_JOB_THREAD_H
#define EMP_JOB_THREAD_H

#include "emp_plugin.h"
#include "job.h"
#include "plugin_host.h"

typedef struct emp_jt emp_jt_t;

typedef enum emp_jt_kind { EMP_JT_NONE = 0, EMP_JT_START, EMP_JT_RUN, EMP_JT_STOP } emp_jt_kind_t;

emp_jt_t *emp_jt_new(int notify_fd);
/* Post a command; -1 when one is still in progress. */
int emp_jt_post_start(emp_jt_t *jt, emp_plugin_inst_t *inst);
int emp_jt_post_run(emp_jt_t *jt, emp_plugin_inst_t *inst, struct emp_job *job);
/* True while a command is posted, running, or finished but not yet collected. */
int emp_jt_busy(emp_jt_t *jt);
/* If the posted command finished: returns 1 with its kind and value (emp_start_t or
 * emp_result_t) and the instance; the slot is free again. */
int emp_jt_take_done(emp_jt_t *jt, emp_jt_kind_t *kind, int *value, emp_plugin_inst_t **inst);
/* Synchronous: call stop on each started instance, then end and join the thread. Only when
 * not busy. */
void emp_jt_shutdown(emp_jt_t *jt, emp_plugin_inst_t **insts, size_t n);
/* Free without joining a thread stuck in a plugin (process is about to exit). */
void emp_jt_abandon(emp_jt_t *jt);

#endif
