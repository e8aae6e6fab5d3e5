/*
 * comfyui_fake - start/stop tests/fakes/fake_comfyui.py from C tests (reusable by the
 * end-to-end Redis test): posix_spawn on 127.0.0.1 port 0, wait for its port file with a
 * deadline, query its test hooks over HTTP, stop it by PID.
 *
 * Environment: EMP_PYTHON3 (default /usr/bin/python3), COMFYUI_FAKE (path of the script).
 */
#ifndef COMFYUI_FAKE_H
#define COMFYUI_FAKE_H

#include <sys/types.h>

typedef struct cfy_fake {
    pid_t pid;
    int port;
    char port_file[128];
} cfy_fake_t;

/* Start the fake: --version version --scenario scenario [extra args...] (NULL-terminated).
 * port 0 = any free port. Returns 0 once it listens (port set), -1 on failure/timeout. */
int cfy_fake_start(cfy_fake_t *f, const char *version, const char *scenario,
                   const char *const *extra, int port);
/* SIGTERM, wait (bounded), SIGKILL if needed. Safe on a stopped fake. */
void cfy_fake_stop(cfy_fake_t *f);
/* Wait up to timeout_ms for the fake to exit by itself (kill_after fault). 0 exited, -1 not. */
int cfy_fake_wait_exit(cfy_fake_t *f, int timeout_ms);
/* GET http://127.0.0.1:<port><path>; returns a malloc'ed NUL-terminated body or NULL. */
char *cfy_fake_get(const cfy_fake_t *f, const char *path);
/* POST a JSON body; returns the HTTP status or -1. */
long cfy_fake_post(const cfy_fake_t *f, const char *path, const char *body);
/* Poll GET path every 10 ms until `needle` appears in the body or timeout_ms passes.
 * Returns 0 when found. */
int cfy_fake_wait_for(const cfy_fake_t *f, const char *path, const char *needle, int timeout_ms);
/* A port on 127.0.0.1 with nothing listening (bound then closed). */
int cfy_free_port(void);

#endif
