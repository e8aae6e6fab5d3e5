/*
 * a1111_fakeproc.h - start, drive and stop tests/fakes/fake_a1111.py from a C test.
 *
 * Owns: the fake's process (started with posix_spawn, stopped by its PID) and the pipe its
 * first stdout line (the port) comes through. Every wait has a deadline; nothing sleeps blind.
 */
#ifndef A1111_FAKEPROC_H
#define A1111_FAKEPROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct fake_a1111 {
    pid_t pid;
    int port;
    int out_fd; /* read end of the fake's stdout */
} fake_a1111_t;

/* Starts the fake with extra arguments (NULL-terminated, may be NULL). port 0 = any free
 * port. Waits up to 10 s for the port line. 0 / -1. */
int fake_a1111_start(fake_a1111_t *f, int port, const char *const *extra_args);
/* SIGTERM, wait up to 5 s, then SIGKILL. Safe on a stopped fake. */
void fake_a1111_stop(fake_a1111_t *f);

/* One HTTP call to the fake (GET when body is NULL). Returns the HTTP status, or -1; the body
 * goes to *out (malloc'd, NUL-terminated; caller frees) when out is not NULL. */
int fake_a1111_call(const fake_a1111_t *f, const char *path, const char *body, char **out);
/* POST /fake/config with a JSON object. 0 / -1. */
int fake_a1111_config(const fake_a1111_t *f, const char *json);
/* Polls GET /fake/state every 20 ms until its body contains `needle` (1) or timeout_ms (0). */
int fake_a1111_wait_state(const fake_a1111_t *f, const char *needle, unsigned timeout_ms);

#endif
