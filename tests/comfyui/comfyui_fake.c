/* comfyui_fake.c - see comfyui_fake.h. */
#define _GNU_SOURCE
#include "comfyui_fake.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int cfy_fake_start(cfy_fake_t *f, const char *version, const char *scenario,
                   const char *const *extra, int port)
{
    memset(f, 0, sizeof *f);
    const char *py = getenv("EMP_PYTHON3") ? getenv("EMP_PYTHON3") : "/usr/bin/python3";
    const char *script = getenv("COMFYUI_FAKE");
    if (script == NULL) {
        fprintf(stderr, "COMFYUI_FAKE is not set\n");
        return -1;
    }
    snprintf(f->port_file, sizeof f->port_file, "/tmp/cfy-fake-%d-%ld.port", (int)getpid(),
             (long)random());
    unlink(f->port_file);
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    const char *argv[64];
    int n = 0;
    argv[n++] = py;
    argv[n++] = script;
    argv[n++] = "--version";
    argv[n++] = version;
    argv[n++] = "--scenario";
    argv[n++] = scenario;
    argv[n++] = "--port";
    argv[n++] = portbuf;
    argv[n++] = "--port-file";
    argv[n++] = f->port_file;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&f->pid, py, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn %s: %s\n", py, strerror(rc));
        f->pid = 0;
        return -1;
    }
    long deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        FILE *pf = fopen(f->port_file, "r");
        if (pf) {
            int p = 0;
            int ok = fscanf(pf, "%d", &p) == 1;
            fclose(pf);
            if (ok && p > 0) {
                f->port = p;
                unlink(f->port_file);
                return 0;
            }
        }
        int st;
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            fprintf(stderr, "fake_comfyui exited early (status %d)\n", st);
            f->pid = 0;
            return -1;
        }
        poll(NULL, 0, 10);
    }
    fprintf(stderr, "fake_comfyui did not write its port within 10 s\n");
    cfy_fake_stop(f);
    return -1;
}

int cfy_fake_wait_exit(cfy_fake_t *f, int timeout_ms)
{
    if (f->pid <= 0)
        return 0;
    long deadline = now_ms() + timeout_ms;
    do {
        int st;
        pid_t r = waitpid(f->pid, &st, WNOHANG);
        if (r == f->pid || (r < 0 && errno == ECHILD)) {
            f->pid = 0;
            return 0;
        }
        poll(NULL, 0, 10);
    } while (now_ms() < deadline);
    return -1;
}

void cfy_fake_stop(cfy_fake_t *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        if (cfy_fake_wait_exit(f, 5000) != 0) {
            kill(f->pid, SIGKILL);
            cfy_fake_wait_exit(f, 5000);
        }
    }
    f->pid = 0;
    if (f->port_file[0])
        unlink(f->port_file);
}

typedef struct {
    char *p;
    size_t n;
} body_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_t *b = ud;
    size_t k = size * nmemb;
    char *np = realloc(b->p, b->n + k + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->n, ptr, k);
    b->p = np;
    b->n += k;
    b->p[b->n] = '\0';
    return k;
}

static char *request(const cfy_fake_t *f, const char *path, const char *post, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    CURL *e = curl_easy_init();
    body_t b = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *h = NULL;
    if (post) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    }
    CURLcode rc = curl_easy_perform(e);
    if (status)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        free(b.p);
        if (status)
            *status = -1;
        return NULL;
    }
    if (b.p == NULL)
        b.p = calloc(1, 1);
    return b.p;
}

char *cfy_fake_get(const cfy_fake_t *f, const char *path) { return request(f, path, NULL, NULL); }

long cfy_fake_post(const cfy_fake_t *f, const char *path, const char *body)
{
    long st = -1;
    free(request(f, path, body, &st));
    return st;
}

int cfy_fake_wait_for(const cfy_fake_t *f, const char *path, const char *needle, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    do {
        char *b = cfy_fake_get(f, path);
        int found = b && strstr(b, needle) != NULL;
        free(b);
        if (found)
            return 0;
        poll(NULL, 0, 10);
    } while (now_ms() < deadline);
    return -1;
}

int cfy_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}
