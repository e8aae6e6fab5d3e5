/*
 * queue_internal.h - state shared by the queue_*.c files (not for other modules).
 */
#ifndef EMP_QUEUE_INTERNAL_H
#define EMP_QUEUE_INTERNAL_H

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "queue.h"

enum {
    EMP_SCRIPT_START = 0,
    EMP_SCRIPT_COMPLETE,
    EMP_SCRIPT_FAIL,
    EMP_SCRIPT_SWEEP,
    EMP_SCRIPT_PROMOTE,
    EMP_SCRIPT_PROGRESS,
    EMP_SCRIPT_COUNT
};

struct emp_queue {
    const emp_config_t *cfg; /* borrowed for the queue's lifetime */
    redisContext *cmd;       /* commands; NULL when disconnected */
    redisContext *sub;       /* subscriber; NULL when disconnected */
    char sha[EMP_SCRIPT_COUNT][48];
    char *caps_json; /* FCALL argument */
    char **services; /* served (ready) services, NULL-terminated */
    size_t nservices;
    char *models_json;     /* {service:[models]} */
    char *machine_channel; /* machine:<mid>:worker:<wid> */
    char connected_at[32];
    int registered;
    char err[512];
    emp_queue_stats_t stats;
};

/* queue_conn.c */
/* Refuse absurd aggregate sizes in replies read on `c` (see queue_conn.c). */
void q_guard_reader(redisContext *c);
void q_set_err(emp_queue_t *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs a command (argv form) and returns the reply (caller frees), or NULL and disconnects. */
redisReply *q_cmd_argv(emp_queue_t *q, int argc, const char **argv, const size_t *lens);
redisReply *q_cmd(emp_queue_t *q, const char *fmt, ...);
/* EVALSHA script with ARGV (no keys); reloads on NOSCRIPT. */
redisReply *q_script(emp_queue_t *q, int script, int argc, const char **argv);
/* Several scripts in one round trip; returns the last one's reply (earlier errors are
 * logged). On NOSCRIPT the scripts are reloaded and the calls made one by one. */
typedef struct q_script_call {
    int script;
    int argc;
    const char **argv;
} q_script_call_t;
redisReply *q_script_pipeline(emp_queue_t *q, int n, const q_script_call_t *calls);
/* Pipelined commands: append, then collect n replies (freed); -1 on I/O error. */
int q_append_argv(emp_queue_t *q, int argc, const char **argv, const size_t *lens);
int q_collect(emp_queue_t *q, int n, int *errors);

/* queue_msg.c: JSON messages (caller frees the returned text) */
char *q_msg_worker_status(const emp_queue_t *q, const char *old_status, const char *new_status,
                          const char *job_id, long long ms);
char *q_msg_machine_event(const emp_queue_t *q, const char *status, const char *job_id,
                          long long ms);
char *q_msg_progress(const emp_queue_t *q, const struct emp_job *job, double percent,
                     const char *message, long long ms);
char *q_msg_job_result(const char *result_json, long long processing_ms);
char *q_msg_completed_value(const char *job_result, const char *iso);
char *q_msg_complete_job(const emp_queue_t *q, const struct emp_job *job, const char *job_result,
                         long long ms);
char *q_msg_attestation(const emp_queue_t *q, const struct emp_job *job, const char *job_result,
                        const char *iso);
char *q_build_caps(const emp_queue_t *q);
cJSON *q_setting_to_json(const void *setting);

#endif
