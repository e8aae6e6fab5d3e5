/*
 * emp_testkit.h - a fake emp-worker host for unit-testing a plugin without Redis.
 *
 * The test kit loads one plugin .so with the same checks as the real host, hands it an
 * in-process host API table, and records everything the plugin reports (progress, result,
 * failure, models, option errors) so that a test can assert on it. Link with -lemp_testkit.
 *
 * Options are given as strings; the typed lookups parse them (ints, doubles, "true"/"false").
 * Option errors cite "testkit:<n>" where n is the 1-based order in which the option was set.
 *
 * Ownership: every emp_tk_* getter returns memory owned by the kit, valid until the next
 * emp_tk_run or emp_tk_close. Strings passed in are copied.
 * Threading: one kit per thread; emp_tk_cancel_after cancels from a helper thread, as the real
 * host does from its control thread; emp_tk_cancel_now may be called from any thread.
 *
 * HTTP helper (ABI 1.1 http_request / http_response_free): the kit implements it itself over
 * plain sockets, for http:// only (https:// is refused with EMP_HTTP_E_SCHEME), so that it
 * needs no libcurl. Same arguments, defaults, limits, cancellation and error codes as the host
 * (which uses libcurl), and the same error texts for refused, timed out, too large, cancelled
 * and bad scheme; enough to test a plugin against a fake backend on loopback.
 *
 * Dependencies: libc, libdl, libpthread and libm only (see emp-plugin-testkit.pc). The kit
 * includes nothing but emp_plugin.h and standard headers.
 */
#ifndef EMP_TESTKIT_H
#define EMP_TESTKIT_H

#include "emp_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct emp_tk emp_tk_t;

/* Load `so_path`. On failure returns NULL and writes why into err (the loader's message). */
emp_tk_t *emp_tk_open(const char *so_path, char *err, size_t errlen);
/* Same, but with an already resolved descriptor (for plugins linked into the test binary). */
emp_tk_t *emp_tk_open_descriptor(const emp_plugin_t *plugin, char *err, size_t errlen);

int emp_tk_set_option(emp_tk_t *tk, const char *key, const char *value); /* before create */
void emp_tk_set_gpu(emp_tk_t *tk, int gpu_index);
void emp_tk_set_worker_id(emp_tk_t *tk, const char *worker_id);
void emp_tk_set_verbose(emp_tk_t *tk, int verbose); /* print plugin logs to stderr */
/* Hand the plugin the API table of an older 1.x host (before create): minor 0 gives a v1.0
 * table (struct_size EMP_HOST_API_V1_0_SIZE, abi_minor 0, later members NULL), to test a
 * plugin's EMP_HOST_HAS fallbacks. Returns 0, or -1 for a minor this kit does not know. */
int emp_tk_set_host_abi_minor(emp_tk_t *tk, int minor);

/* Calls create; 0 or -1. Unknown options (set but never looked up) also make it -1. */
int emp_tk_create(emp_tk_t *tk);
/* Calls start (EMP_START_READY if the plugin has none). */
emp_start_t emp_tk_start(emp_tk_t *tk);

/* Add a job-hash field ("ctx", "requirements", ...) for the next run; copied. */
int emp_tk_set_job_field(emp_tk_t *tk, const char *name, const char *value);
/* Cancel the next run `ms` milliseconds after it starts (0 = no cancel). */
void emp_tk_cancel_after(emp_tk_t *tk, unsigned ms);
/* Cancel the run in progress now, as the host's control thread would: raise the flag and the
 * fd, then call the plugin's cancel. From any thread other than the one in emp_tk_run (wait
 * for a condition, e.g. "the fake backend got the request", then call this). Returns 0, or -1
 * when no run is in progress. */
int emp_tk_cancel_now(emp_tk_t *tk);
/* Run one job; returns what run returned. */
emp_result_t emp_tk_run(emp_tk_t *tk, const char *job_id, const char *service,
                        const char *payload_json);

/* What the last run reported. */
const char *emp_tk_result(const emp_tk_t *tk);    /* set_result text or NULL */
const char *emp_tk_fail_code(const emp_tk_t *tk); /* NULL when fail was not called */
const char *emp_tk_fail_message(const emp_tk_t *tk);
emp_result_t emp_tk_fail_class(const emp_tk_t *tk);
size_t emp_tk_progress_count(const emp_tk_t *tk);
double emp_tk_progress_fraction(const emp_tk_t *tk, size_t i);
const char *emp_tk_progress_message(const emp_tk_t *tk, size_t i); /* "" when NULL was sent */
const char *emp_tk_models(const emp_tk_t *tk); /* last set_models text or NULL */
const char *emp_tk_errors(const emp_tk_t *tk); /* option errors, one per line, or "" */
const emp_plugin_t *emp_tk_plugin(const emp_tk_t *tk);

/* stop (if started), destroy (if created), dlclose, free. NULL is allowed. */
void emp_tk_close(emp_tk_t *tk);

/*
 * Fake backends: start a helper process (say `python3 fake_backend.py`) that listens on a free
 * port of its choosing and prints that port, in decimal, as the first line of its stdout (then
 * flushes; it should log to stderr). emp_tk_proc_start runs argv (argv[0] through PATH), waits
 * up to timeout_ms for that line and stores the port; on failure it returns NULL with the reason
 * in err (and the process, if any, is stopped). The child gets SIGTERM if the test dies.
 * emp_tk_proc_stop sends SIGTERM, waits up to 5 s (then SIGKILL), reaps it and returns its
 * wait status (-1 for NULL). Stop it with this, by its PID: never with pkill.
 */
typedef struct emp_tk_proc emp_tk_proc_t;
emp_tk_proc_t *emp_tk_proc_start(const char *const *argv, unsigned timeout_ms, int *port, char *err,
                                 size_t errlen);
long emp_tk_proc_pid(const emp_tk_proc_t *p);
int emp_tk_proc_stop(emp_tk_proc_t *p);

#ifdef __cplusplus
}
#endif

#endif /* EMP_TESTKIT_H */
