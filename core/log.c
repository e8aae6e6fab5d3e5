/* log.c - prefixed log lines on stderr (see log.h). */
#define _GNU_SOURCE
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The process's log settings: top-level state, written once before any thread starts. */
static struct {
    int level;
    int gpu;
    char worker_id[128];
    int journal;
} g_log = {EMP_LOG_LEVEL_INFO, -1, "", 0};

void emp_log_setup(int level, int gpu, const char *worker_id)
{
    g_log.level = level;
    g_log.gpu = gpu;
    snprintf(g_log.worker_id, sizeof g_log.worker_id, "%s", worker_id ? worker_id : "");
    g_log.journal = getenv("JOURNAL_STREAM") != NULL;
}

int emp_log_enabled(int level) { return level <= g_log.level; }

void emp_logv_ctx(int level, const char *plugin, const char *job_id, const char *fmt, va_list ap)
{
    if (level > g_log.level)
        return;
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    static const int prio[] = {3, 4, 6, 7};
    char line[4096];
    size_t n = 0;
    if (g_log.journal) {
        n += (size_t)snprintf(line, sizeof line, "<%d>", prio[level]);
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        n += strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ ", (long)(tv.tv_usec / 1000));
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "%s", names[level]);
    if (g_log.gpu >= 0)
        n += (size_t)snprintf(line + n, sizeof line - n, " gpu=%d", g_log.gpu);
    if (g_log.worker_id[0])
        n += (size_t)snprintf(line + n, sizeof line - n, " worker=%s", g_log.worker_id);
    if (plugin)
        n += (size_t)snprintf(line + n, sizeof line - n, " plugin=%s", plugin);
    if (job_id)
        n += (size_t)snprintf(line + n, sizeof line - n, " job=%s", job_id);
    if (n < sizeof line - 2) {
        line[n++] = ':';
        line[n++] = ' ';
        int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
        n = w < 0 ? n : n + (size_t)w;
    }
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    /* one line per message: newlines inside the message would split journal entries */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void emp_log_ctx(int level, const char *plugin, const char *job_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emp_logv_ctx(level, plugin, job_id, fmt, ap);
    va_end(ap);
}

void emp_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emp_logv_ctx(level, NULL, NULL, fmt, ap);
    va_end(ap);
}
