/* a1111_fakeproc.c - the fake A1111 as a child process (see a1111_fakeproc.h). */
#include "a1111_fakeproc.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fake_a1111_start(fake_a1111_t *f, int port, const char *const *extra_args)
{
    const char *argv[32];
    char portbuf[16];
    int n = 0, pipefd[2];
    memset(f, 0, sizeof *f);
    f->out_fd = -1;
    snprintf(portbuf, sizeof portbuf, "%d", port);
    argv[n++] = EMP_PYTHON3;
    argv[n++] = FAKE_A1111_PY;
    argv[n++] = "--port";
    argv[n++] = portbuf;
    argv[n++] = "--exit-with-parent"; /* a crashed test leaves no fake behind */
    for (size_t i = 0; extra_args && extra_args[i] && n < 30; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    if (pipe(pipefd) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    int rc = posix_spawn(&f->pid, EMP_PYTHON3, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        f->pid = 0;
        return -1;
    }
    f->out_fd = pipefd[0];
    char line[32];
    size_t got = 0;
    long long deadline = now_ms() + 10000;
    while (got < sizeof line - 1 && memchr(line, '\n', got) == NULL) {
        struct pollfd p = {.fd = f->out_fd, .events = POLLIN};
        long long left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(f->out_fd, line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    line[got] = '\0';
    f->port = atoi(line);
    if (f->port <= 0) {
        fprintf(stderr, "fake_a1111 did not report a port (got '%s')\n", line);
        fake_a1111_stop(f);
        return -1;
    }
    return 0;
}

void fake_a1111_stop(fake_a1111_t *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        long long deadline = now_ms() + 5000;
        int status;
        while (waitpid(f->pid, &status, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, &status, 0);
                break;
            }
            struct pollfd none = {.fd = -1};
            poll(&none, 0, 10); /* re-check the child every 10 ms until the deadline */
        }
    }
    if (f->out_fd >= 0)
        close(f->out_fd);
    f->pid = 0;
    f->out_fd = -1;
}

typedef struct sink {
    char *data;
    size_t len;
} sink_t;

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
    sink_t *s = ud;
    char *d = realloc(s->data, s->len + size * n + 1);
    if (d == NULL)
        return 0;
    memcpy(d + s->len, p, size * n);
    s->data = d;
    s->len += size * n;
    d[s->len] = '\0';
    return size * n;
}

int fake_a1111_call(const fake_a1111_t *f, const char *path, const char *body, char **out)
{
    char url[256];
    sink_t s = {NULL, 0};
    long status = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    CURL *e = curl_easy_init();
    if (e == NULL)
        return -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    if (out)
        *out = s.data ? s.data : strdup("");
    else
        free(s.data);
    return (int)status;
}

int fake_a1111_config(const fake_a1111_t *f, const char *json)
{
    return fake_a1111_call(f, "/fake/config", json, NULL) == 200 ? 0 : -1;
}

int fake_a1111_wait_state(const fake_a1111_t *f, const char *needle, unsigned timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    do {
        char *body = NULL;
        int found = fake_a1111_call(f, "/fake/state", NULL, &body) == 200 && strstr(body, needle);
        free(body);
        if (found)
            return 1;
        struct pollfd none = {.fd = -1};
        poll(&none, 0, 20);
    } while (now_ms() < deadline);
    return 0;
}
