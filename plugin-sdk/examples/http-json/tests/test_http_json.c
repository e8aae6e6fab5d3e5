/*
 * test_http_json.c - the http_json plugin under the SDK test kit (a fake host), against
 * tests/fake_backend.py (started here on a free port, stopped by its PID).
 * Usage: test_http_json PATH/TO/http_json.so PYTHON3 PATH/TO/fake_backend.py
 * No test framework: CHECK prints what failed and the run goes on; exit 1 if anything failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "emp_testkit.h"

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b) CHECK((a) != NULL && strcmp((a), (b)) == 0)
#define CHECK_HAS(s, sub) CHECK((s) != NULL && strstr((s), (sub)) != NULL)

static const char *so_path;
static int port;
static emp_tk_t *last_tk; /* for the canceller */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A kit with the plugin created against the fake backend; extra options as "k=v" strings. */
static emp_tk_t *open_kit(const char *const *opts)
{
    char err[1024];
    emp_tk_t *tk = emp_tk_open(so_path, err, sizeof err);
    if (tk == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", so_path, err);
        exit(1);
    }
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    emp_tk_set_option(tk, "port", p);
    for (size_t i = 0; opts && opts[i]; i++) {
        char k[64];
        const char *eq = strchr(opts[i], '=');
        snprintf(k, sizeof k, "%.*s", (int)(eq - opts[i]), opts[i]);
        emp_tk_set_option(tk, k, eq + 1);
    }
    return tk;
}

/* The fake backend's own view, through a raw socket (so the test does not need the plugin). */
static char *backend_get(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    char req[256];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && len + 1 < cap && (r = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)r;
    close(fd);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    char *out = body ? strdup(body + 4) : NULL;
    free(buf);
    return out;
}

static void test_ok(void)
{
    emp_tk_t *tk = open_kit(NULL);
    CHECK(emp_tk_create(tk) == 0);
    CHECK(emp_tk_start(tk) == EMP_START_READY);
    CHECK_STR(emp_tk_models(tk), "[\"llama3\",\"tiny\"]");
    /* a seed above 2^53 must reach the backend digit for digit */
    emp_result_t r = emp_tk_run(tk, "j1", "http_json",
                                "{\"prompt\": \"hello\", \"options\": {\"seed\": "
                                "18446744073709551557}}");
    CHECK(r == EMP_OK);
    CHECK_HAS(emp_tk_result(tk), "\"response\": \"echo: hello\"");
    CHECK_HAS(emp_tk_result(tk), "18446744073709551557");
    size_t np = emp_tk_progress_count(tk);
    CHECK(np >= 2 && emp_tk_progress_fraction(tk, np - 1) == 1.0);
    char *last = backend_get("/_last");
    CHECK_HAS(last, "{\"model\":\"llama3\",\"stream\":false,\"prompt\": \"hello\"");
    CHECK_HAS(last, "\"seed\": 18446744073709551557}");
    free(last);

    /* the payload's own model wins, and is not sent twice */
    r = emp_tk_run(tk, "j2", "http_json", "{\"model\": \"tiny\", \"prompt\": \"hi\"}");
    CHECK(r == EMP_OK);
    CHECK_HAS(emp_tk_result(tk), "\"model\": \"tiny\"");
    last = backend_get("/_last");
    CHECK_STR(last, "{\"stream\":false,\"model\": \"tiny\", \"prompt\": \"hi\"}");
    free(last);
    emp_tk_close(tk);
}

typedef struct expect {
    const char *payload;
    emp_result_t result;
    const char *code;
    const char *message_part;
} expect_t;

static void test_classification(void)
{
    static const expect_t cases[] = {
        {"{\"prompt\": \"bad\"}", EMP_FAIL, "backend_rejected", "HTTP 400: invalid prompt"},
        {"{\"prompt\": \"x\", \"model\": \"missing\"}", EMP_FAIL, "backend_rejected",
         "HTTP 404: model 'missing' not found"},
        {"{\"prompt\": \"busy\"}", EMP_RETRY, "backend_busy", "HTTP 429"},
        {"{\"prompt\": \"boom\"}", EMP_RETRY, "backend_error", "HTTP 500: internal error"},
        {"{\"prompt\": \"garbage\"}", EMP_RETRY, "bad_response", "not a JSON object"},
        {"[1, 2]", EMP_FAIL, "bad_input", "not a JSON object"},
        {"{\"text\": \"no prompt\"}", EMP_FAIL, "bad_input", "no \"prompt\""},
        {"{\"prompt\": \"x\", \"stream\": true}", EMP_FAIL, "bad_input",
         "\"stream\" must be false"},
        {"{\"prompt\": \"x\", \"model\": 7}", EMP_FAIL, "bad_input", "\"model\" must be a string"},
    };
    emp_tk_t *tk = open_kit(NULL);
    CHECK(emp_tk_create(tk) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        emp_result_t r = emp_tk_run(tk, "j", "http_json", cases[i].payload);
        if (r != cases[i].result)
            fprintf(stderr, "case %zu: got %d (%s: %s)\n", i, (int)r,
                    emp_tk_fail_code(tk) ? emp_tk_fail_code(tk) : "-",
                    emp_tk_fail_message(tk) ? emp_tk_fail_message(tk) : "-");
        CHECK(r == cases[i].result);
        CHECK(emp_tk_fail_class(tk) == cases[i].result);
        CHECK_STR(emp_tk_fail_code(tk), cases[i].code);
        CHECK_HAS(emp_tk_fail_message(tk), cases[i].message_part);
        CHECK(emp_tk_result(tk) == NULL);
    }
    emp_tk_close(tk);
}

static void test_transport(void)
{
    /* nothing listens: RETRY, and start says NOT_READY */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    char opt[32];
    snprintf(opt, sizeof opt, "port=%d", ntohs(a.sin_port));
    const char *const dead[] = {opt, NULL};
    emp_tk_t *tk = open_kit(dead);
    CHECK(emp_tk_create(tk) == 0);
    CHECK(emp_tk_start(tk) == EMP_START_NOT_READY);
    CHECK(emp_tk_run(tk, "j", "http_json", "{\"prompt\": \"hello\"}") == EMP_RETRY);
    CHECK_STR(emp_tk_fail_code(tk), "backend_down");
    CHECK_HAS(emp_tk_fail_message(tk), "/api/generate: connection refused");
    emp_tk_close(tk);

    /* a request that takes longer than timeout_ms: RETRY backend_timeout */
    const char *const quick[] = {"timeout_ms=300", NULL};
    tk = open_kit(quick);
    CHECK(emp_tk_create(tk) == 0);
    long long t0 = now_ms();
    CHECK(emp_tk_run(tk, "j", "http_json", "{\"prompt\": \"hang-timeout\"}") == EMP_RETRY);
    CHECK(now_ms() - t0 < 5000);
    CHECK_STR(emp_tk_fail_code(tk), "backend_timeout");
    CHECK_HAS(emp_tk_fail_message(tk), "timed out after 300 ms");
    emp_tk_close(tk);

    /* an answer larger than max_response_bytes: FAIL */
    const char *const small[] = {"max_response_bytes=4096", NULL};
    tk = open_kit(small);
    CHECK(emp_tk_create(tk) == 0);
    CHECK(emp_tk_run(tk, "j", "http_json", "{\"prompt\": \"huge\"}") == EMP_FAIL);
    CHECK_STR(emp_tk_fail_code(tk), "response_too_large");
    emp_tk_close(tk);
}

static void *canceller(void *arg)
{
    (void)arg;
    long long deadline = now_ms() + 10000;
    while (now_ms() < deadline) { /* until the backend holds the request */
        char *seen = backend_get("/_seen?prompt=hang-cancel");
        int yes = seen && strcmp(seen, "yes") == 0;
        free(seen);
        if (yes)
            break;
    }
    emp_tk_cancel_now(last_tk);
    return NULL;
}

static void test_cancel(void)
{
    const char *const bounded[] = {"timeout_ms=20000", NULL}; /* if the cancel went missing */
    emp_tk_t *tk = open_kit(bounded);
    CHECK(emp_tk_create(tk) == 0);
    last_tk = tk;
    pthread_t th;
    pthread_create(&th, NULL, canceller, NULL);
    long long t0 = now_ms();
    emp_result_t r = emp_tk_run(tk, "j", "http_json", "{\"prompt\": \"hang-cancel\"}");
    pthread_join(th, NULL);
    CHECK(r == EMP_CANCELLED);
    CHECK(now_ms() - t0 < 10000);
    CHECK_STR(emp_tk_fail_code(tk), "cancelled");
    CHECK_HAS(emp_tk_fail_message(tk), ": cancelled");
    emp_tk_close(tk);
}

static void test_options(void)
{
    const char *const bad_port[] = {"port=70000", NULL};
    emp_tk_t *tk = open_kit(bad_port);
    CHECK(emp_tk_create(tk) == -1);
    CHECK_HAS(emp_tk_errors(tk), "option 'port': 70000 is out of range [1, 65535]");
    emp_tk_close(tk);

    const char *const bad_path[] = {"path=api/generate", NULL};
    tk = open_kit(bad_path);
    CHECK(emp_tk_create(tk) == -1);
    CHECK_HAS(emp_tk_errors(tk), "option 'path': must start with '/'");
    emp_tk_close(tk);

    const char *const unknown[] = {"modle=llama3", NULL};
    tk = open_kit(unknown);
    CHECK(emp_tk_create(tk) == -1);
    CHECK_HAS(emp_tk_errors(tk), "option 'modle': unknown option");
    emp_tk_close(tk);

    /* a v1.0 host (no HTTP helper): create refuses with a clear message */
    tk = open_kit(NULL);
    CHECK(emp_tk_set_host_abi_minor(tk, 0) == 0);
    CHECK(emp_tk_create(tk) == -1);
    CHECK_HAS(emp_tk_errors(tk), "needs the host's HTTP helper (plugin ABI 1.1)");
    emp_tk_close(tk);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s http_json.so PYTHON3 fake_backend.py\n", argv[0]);
        return 2;
    }
    so_path = argv[1];
    char err[512];
    const char *const cmd[] = {argv[2], argv[3], NULL};
    emp_tk_proc_t *backend = emp_tk_proc_start(cmd, 15000, &port, err, sizeof err);
    if (backend == NULL) {
        fprintf(stderr, "fake backend: %s\n", err);
        return 1;
    }
    test_ok();
    test_classification();
    test_transport();
    test_cancel();
    test_options();
    emp_tk_proc_stop(backend);
    printf("%s: %s\n", argv[0], failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
