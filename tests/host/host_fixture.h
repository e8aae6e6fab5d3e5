/*
 * host_fixture.h - shared by the tests/host unit tests: a temporary directory, files written
 * into it, and an environment cleared of every variable the config loader reads.
 */
#ifndef HOST_FIXTURE_H
#define HOST_FIXTURE_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config_env.h"

static inline void hf_clear_env(void)
{
    for (size_t i = 0; emp_config_env_name(i); i++)
        unsetenv(emp_config_env_name(i));
}

/* mkdtemp under /tmp; returns 0 or -1. */
static inline int hf_mkdtemp(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/emp-%s-XXXXXX", tag);
    return mkdtemp(buf) ? 0 : -1;
}

static inline int hf_rmtree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes dir/rel (creating dir/conf.d when rel is under it); 0 or -1. */
static inline int hf_write(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/conf.d", dir);
    if (strncmp(rel, "conf.d/", 7) == 0 && mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

static inline long long hf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is readable or `ms` pass; returns 1 when readable. No fixed sleep: the
 * deadline is only the failure bound. */
static inline int hf_wait_readable(int fd, int ms)
{
    long long end = hf_now_ms() + ms;
    for (;;) {
        long long left = end - hf_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0 || (r < 0 && errno != EINTR))
            return 0;
    }
}

#endif
