/*
 * a1111_job.h - run one job: the generation call, progress polls and cancellation.
 *
 * Owns: the event loop of one job on the instance's multi handle. The generation POST blocks
 * in A1111 for the whole job; beside it, every poll_interval_ms, GET /sdapi/v1/progress (and
 * POST /internal/progress for our task id when the server has it) feed the tracker. The host's
 * cancel fd is one of curl_multi_poll's extra fds; a cancel sends POST /sdapi/v1/interrupt
 * (only while the job A1111 runs may be ours), waits up to interrupt_wait_ms for the
 * generation call to come back, and discards whatever images it brings.
 */
#ifndef A1111_JOB_H
#define A1111_JOB_H

#include "a1111_state.h"

emp_result_t a1111_job_run(a1111_state_t *s, emp_job_t *job);

#endif
