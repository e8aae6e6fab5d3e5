/*
 * tk_proc.c - fake backend processes for plugin tests (see emp_testkit.h "Fake backends").
 * fork + execvp with stdout on a pipe; the first line is the port. Waits are poll() with a
 * deadline (on the pipe, then on a pidfd); the child is stopped by its PID only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emp_testkit.h"

struct emp_tk_proc {
    pid_t pid;
    int out_fd; /* read end of the child's stdout, kept open until stop */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long emp_tk_proc_pid(const emp_tk_proc_t *p) { return p ? (long)p->pid : -1; }

/* Wait for the child to exit until deadline; 1 when reaped (status in *st). Waits on a pidfd
 * (readable when the child exits); without one (kernel < 5.3), polls in 5 ms steps. */
static int reap_until(pid_t pid, long long deadline, int *st)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int done = 0;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            done = 1;
            break;
        }
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, (int)left);
        } else {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (pfd >= 0)
        close(pfd);
    return done;
}

int emp_tk_proc_stop(emp_tk_proc_t *p)
{
    if (p == NULL)
        return -1;
    int st = -1;
    kill(p->pid, SIGTERM);
    if (!reap_until(p->pid, now_ms() + 5000, &st)) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    free(p);
    return st;
}

emp_tk_proc_t *emp_tk_proc_start(const char *const *argv, unsigned timeout_ms, int *port, char *err,
                                 size_t errlen)
{
    int fds[2];
    if (argv == NULL || argv[0] == NULL) {
        snprintf(err, errlen, "no command");
        return NULL;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return NULL;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], STDOUT_FILENO); /* dup2 clears close-on-exec on the copy */
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "emp_tk_proc_start: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    emp_tk_proc_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->pid = pid;
    p->out_fd = fds[0];

    char line[64];
    size_t n = 0;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "%s did not print its port within %u ms", argv[0], timeout_ms);
            break;
        }
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t got = read(p->out_fd, line + n, 1); /* byte by byte: leave the rest unread */
        if (got <= 0) {
            snprintf(err, errlen, "%s exited before printing its port", argv[0]);
            break;
        }
        if (line[n] == '\n') {
            line[n] = '\0';
            char *end;
            long v = strtol(line, &end, 10);
            if (end == line || (*end != '\0' && *end != '\r') || v <= 0 || v > 65535) {
                snprintf(err, errlen, "%s printed \"%s\", not a port", argv[0], line);
                break;
            }
            *port = (int)v;
            return p;
        }
        if (++n == sizeof line - 1) {
            line[n] = '\0';
            snprintf(err, errlen, "%s printed \"%s...\", not a port", argv[0], line);
            break;
        }
    }
    emp_tk_proc_stop(p);
    return NULL;
}
