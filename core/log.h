/*
 * log.h - the host's log lines: one line per call on stderr, prefixed with the GPU, the worker
 * id, and (when given) the plugin and the job id. Under systemd (JOURNAL_STREAM set) each line
 * starts with a syslog priority "<N>" so the journal files it at the right level; otherwise
 * it starts with an ISO timestamp.
 *
 * Owns the process's log settings (level, GPU, worker id): set once at start-up by main.
 * Thread-safe: lines are written with a single write(2).
 */
#ifndef EMP_LOG_H
#define EMP_LOG_H

#include <stdarg.h>

#include "config.h"

void emp_log_setup(int level, int gpu, const char *worker_id);
int emp_log_enabled(int level);

void emp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With plugin and job context (either may be NULL). */
void emp_logv_ctx(int level, const char *plugin, const char *job_id, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void emp_log_ctx(int level, const char *plugin, const char *job_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_E(...) emp_log(EMP_LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_W(...) emp_log(EMP_LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_I(...) emp_log(EMP_LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_D(...) emp_log(EMP_LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
