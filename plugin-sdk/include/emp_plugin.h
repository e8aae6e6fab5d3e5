/*
 * emp_plugin.h - the emp-worker plugin SDK (public, versioned ABI).
 *
 * This header is the whole contract between the emp-worker host and a service plugin (a
 * "connector" such as comfyui.so or a1111.so). It includes only standard C headers and uses no
 * third-party types: the host hands the plugin a table of function pointers, so a plugin never
 * links against the host and is linked with -Wl,-z,defs.
 *
 * A plugin exports exactly one symbol, EMP_PLUGIN_ENTRY_SYMBOL ("emp_plugin_entry_v1"), that
 * returns a pointer to a static, size-prefixed descriptor (emp_plugin_t). The host refuses a
 * plugin whose major ABI differs from its own, whose minor ABI is newer than its own, whose
 * descriptor is smaller than the v1.0 descriptor, or that lacks a mandatory callback.
 *
 * ABI policy:
 *  - A minor bump appends members to the END of emp_plugin_t, emp_host_api_t or a
 *    size-prefixed argument struct (emp_http_request_t, emp_http_response_t). Nothing is
 *    reordered, resized or removed, and EMP_PLUGIN_MIN_SIZE stays the v1.0 size. A plugin
 *    built against 1.x loads in any host 1.y with y >= x.
 *  - The descriptor's abi_minor is the oldest host minor the plugin runs in; the host refuses
 *    a newer one. EMP_PLUGIN_HEADER claims this header's minor. A plugin that also wants to run
 *    in older hosts claims less (EMP_PLUGIN_HEADER_MINOR(0)) and checks EMP_HOST_HAS(api, fn)
 *    before each function appended after the minor it claims.
 *  - A major bump changes the entry symbol's name (emp_plugin_entry_v2), so an old plugin is
 *    refused by name and with a clear message.
 *  - History: 1.0 first release; 1.1 appended http_request and http_response_free to
 *    emp_host_api_t (and added the emp_http_* types).
 *
 * Lifecycle (see plugin-sdk/README.md for the diagram):
 *   create   control thread, once at start-up: parse options, allocate state. No network I/O.
 *   start    job thread, before the first job and again after a NOT_READY answer (with backoff):
 *            probe the backend. Returns READY, NOT_READY (retry later) or FATAL (configuration
 *            error: the host stops using this plugin and says why).
 *   run      job thread, one job at a time, may block for as long as the job takes. Returns
 *            OK, RETRY, FAIL or CANCELLED: the plugin classifies, the host schedules.
 *   cancel   control thread, while run is in progress; must not block. Optional: the host also
 *            raises the job's cancel flag and cancel fd before calling it.
 *   stop     job thread, after the last run, before destroy: close backend connections.
 *   destroy  control thread, last call: free the state. Never called while run is active.
 *
 * Ownership: nothing is freed across the boundary. Every pointer the host returns is borrowed,
 * valid for the period written next to the function. Every pointer the plugin passes in is copied
 * by the host before the call returns.
 *
 * Process-global library state (curl_global_init, lws_set_log_level, cJSON_InitHooks, signal
 * handlers, setlocale, exit) belongs to the host. A plugin never touches it.
 */
#ifndef EMP_PLUGIN_H
#define EMP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMP_PLUGIN_ABI_MAJOR 1
#define EMP_PLUGIN_ABI_MINOR 1 /* 1.0: first release; 1.1: http_request, http_response_free */

/* The one symbol a plugin exports; its name carries the major ABI version. */
#define EMP_PLUGIN_ENTRY emp_plugin_entry_v1
#define EMP_PLUGIN_ENTRY_SYMBOL "emp_plugin_entry_v1"

#if defined(__GNUC__)
#define EMP_PLUGIN_EXPORT __attribute__((visibility("default")))
#define EMP_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define EMP_PLUGIN_EXPORT
#define EMP_PRINTF(fmt_idx, arg_idx)
#endif

/* Opaque handles. The host owns both; a plugin only passes them back. */
typedef struct emp_host emp_host_t; /* one per plugin instance, valid from create to destroy */
typedef struct emp_job emp_job_t;   /* one per job, valid only inside run (and cancel) */

/* What run returns. The host turns it into Redis state (see README: "Results and retries"). */
typedef enum emp_result {
    EMP_OK = 0,    /* job done; the result set with set_result is published */
    EMP_RETRY = 1, /* transient failure (backend down, 5xx, timeout, OOM): requeue with backoff */
    EMP_FAIL = 2,  /* permanent failure (invalid workflow, 4xx): fail the job, do not retry */
    EMP_CANCELLED = 3 /* the host asked to cancel and the plugin stopped the backend work */
} emp_result_t;

/* What start returns. */
typedef enum emp_start {
    EMP_START_READY = 0,     /* backend answered; the host may claim jobs for this plugin */
    EMP_START_NOT_READY = 1, /* backend not up yet; the host retries start with backoff */
    EMP_START_FATAL = 2      /* configuration error (bad credentials...): plugin disabled */
} emp_start_t;

typedef enum emp_log_level {
    EMP_LOG_ERROR = 0,
    EMP_LOG_WARN = 1,
    EMP_LOG_INFO = 2,
    EMP_LOG_DEBUG = 3
} emp_log_level_t;

/*
 * HTTP helper (ABI 1.1): the types of http_request / http_response_free below.
 *
 * Both structs are size-prefixed like the tables: the plugin sets struct_size (use the INIT
 * macros), the host reads only the request members that fit in req->struct_size and writes
 * only the response members that fit in resp->struct_size. Members are only ever appended.
 */

/* What http_request returns (also stored in resp->error). Negative values are transport
 * failures: no HTTP status is available (resp->status is 0). */
typedef enum emp_http_error {
    EMP_HTTP_OK = 0,           /* a response arrived, whatever its status: check resp->status */
    EMP_HTTP_E_INVALID = -1,   /* bad arguments: NULL/empty url, struct_size too small, a header
                                  without ':' or with CR/LF, called from create */
    EMP_HTTP_E_SCHEME = -2,    /* the URL is not http:// or https:// ("bad scheme") */
    EMP_HTTP_E_RESOLVE = -3,   /* the host name did not resolve */
    EMP_HTTP_E_REFUSED = -4,   /* connection refused: nothing listens on that port */
    EMP_HTTP_E_CONNECT = -5,   /* could not connect for another reason (unreachable, ...) */
    EMP_HTTP_E_TIMEOUT = -6,   /* connect_timeout_ms or total_timeout_ms expired */
    EMP_HTTP_E_TOO_LARGE = -7, /* the response body exceeds max_response_bytes */
    EMP_HTTP_E_CANCELLED = -8, /* the job was cancelled while the request was in flight */
    EMP_HTTP_E_TLS = -9,       /* TLS handshake or certificate verification failed */
    EMP_HTTP_E_IO = -10,       /* the connection broke, or the answer was not valid HTTP */
    EMP_HTTP_E_NOMEM = -11     /* the host ran out of memory */
} emp_http_error_t;

typedef struct emp_http_request {
    uint32_t struct_size;       /* sizeof(emp_http_request_t): use EMP_HTTP_REQUEST_INIT */
    const char *method;         /* "GET", "POST", "PUT", "DELETE", "HEAD", ...; NULL means GET,
                                   or POST when body is not NULL */
    const char *url;            /* absolute http:// or https:// URL; any other scheme is refused
                                   (EMP_HTTP_E_SCHEME). Redirects are not followed (a 3xx is
                                   returned as is); proxy environment variables are ignored */
    const char *const *headers; /* NULL, or a NULL-terminated list of "Name: value" lines (no
                                   CR/LF). A "Content-Type" for a body is the plugin's job */
    const void *body;           /* request body or NULL; body_len bytes, need not be text */
    size_t body_len;
    uint32_t connect_timeout_ms; /* 0 = 10000 */
    uint32_t total_timeout_ms;   /* whole exchange, connect included. 0 = no limit when a job
                                    is given (the job timeout cancels it), 30000 without a job */
    size_t max_response_bytes;   /* cap on the response body; 0 = 16 MiB */
} emp_http_request_t;

typedef struct emp_http_response {
    uint32_t struct_size;   /* sizeof(emp_http_response_t): use EMP_HTTP_RESPONSE_INIT */
    int status;             /* HTTP status of the final response (200, 404, 503...); 0 when
                               no response arrived */
    int error;              /* emp_http_error_t: the value http_request returned */
    const char *error_text; /* one line saying what happened, for logs and fail(): "POST
                               http://127.0.0.1:11434/api/generate: connection refused".
                               "" on success. Never contains the URL's query or userinfo */
    const char *body;       /* body_len bytes, followed by a NUL that body_len does not count
                               (so a JSON body can be parsed as a string). "" when empty */
    size_t body_len;
    const char *content_type; /* the Content-Type header's value, or NULL */
    const char *headers;      /* the final response's header lines, "Name: value\r\n" each */
    void *host_private;       /* the host's bookkeeping: never touch */
} emp_http_response_t;

/* Designated-initialiser fragments: `emp_http_request_t req = {EMP_HTTP_REQUEST_INIT,
 * .url = url};` and `emp_http_response_t resp = {EMP_HTTP_RESPONSE_INIT};`. */
#define EMP_HTTP_REQUEST_INIT .struct_size = sizeof(emp_http_request_t)
#define EMP_HTTP_RESPONSE_INIT .struct_size = sizeof(emp_http_response_t)

/* The smallest request / response the host accepts: the ABI 1.1 layouts. Pinned: members
 * appended later do not change these. */
#define EMP_HTTP_REQUEST_MIN_SIZE                                                                  \
    (offsetof(emp_http_request_t, max_response_bytes) + sizeof(size_t))
#define EMP_HTTP_RESPONSE_MIN_SIZE (offsetof(emp_http_response_t, host_private) + sizeof(void *))

/*
 * The host API table. The host passes it to create; the pointer stays valid until destroy
 * returns. Functions are only ever appended (minor bump). "Any thread" means the function is
 * thread-safe; otherwise the thread is named.
 */
typedef struct emp_host_api {
    uint32_t struct_size; /* sizeof(emp_host_api_t) as the host was built: check before using
                             functions appended after your minor (EMP_HOST_HAS) */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- logging (any thread) ----
     * The host prefixes the line with GPU, worker id, plugin name and the current job id.
     * The message is copied. Never log secrets. */
    void (*log)(emp_host_t *host, emp_log_level_t level, const char *fmt, ...) EMP_PRINTF(3, 4);

    /* ---- options (create only, control thread) ----
     * Options come from the plugin's conf.d file (connector.options) and the GPU's service
     * section of the main config (for example its port). Each lookup returns:
     *   0  the key was found and *out is set,
     *   1  the key is absent and *out is set to the default,
     *  -1  the key has the wrong type or is out of range: the host has recorded an error that
     *      names file:line and the key; create should go on checking and return -1 at the end.
     * Keys present in the config that no lookup asked for are reported as unknown options after
     * create returns. Strings are borrowed until destroy returns. */
    int (*option_string)(emp_host_t *host, const char *key, const char *def, const char **out);
    int (*option_int)(emp_host_t *host, const char *key, long long def, long long min,
                      long long max, long long *out);
    int (*option_double)(emp_host_t *host, const char *key, double def, double min, double max,
                         double *out);
    int (*option_bool)(emp_host_t *host, const char *key, int def, int *out);
    /* One of `choices` (NULL-terminated); *out_index is the index of the value found. */
    int (*option_enum)(emp_host_t *host, const char *key, const char *const *choices, int def_index,
                       int *out_index);
    /* Record a semantic error about an option (for example "port clashes with ..."): the host
     * prints it with the file:line of `key` (or of the options group when key is absent).
     * Always returns -1 so that create can `return api->option_error(...)`. */
    int (*option_error)(emp_host_t *host, const char *key, const char *fmt, ...) EMP_PRINTF(3, 4);

    /* ---- context (any thread; strings borrowed until destroy) ---- */
    const char *(*worker_id)(emp_host_t *host);
    int (*gpu_index)(emp_host_t *host);
    /* Report the models this backend has, as a JSON array of strings; the host advertises them
     * as capabilities.models.<service>. Copied. Call from start or run. */
    void (*set_models)(emp_host_t *host, const char *json_array);

    /* ---- the job (job thread, inside run; borrowed until run returns) ---- */
    const char *(*job_id)(emp_job_t *job);
    const char *(*job_service)(emp_job_t *job); /* service_required */
    /* The raw payload bytes exactly as stored in Redis (a JSON text); never re-serialised, so
     * 64-bit integers survive. Not NUL-terminated in general: use *len. */
    const char *(*job_payload)(emp_job_t *job, size_t *len);
    /* Any other field of the job hash, raw ("requirements", "ctx", "retry_count",
     * "workflow_id", ...). NULL when absent. NUL-terminated, *len optional (may be NULL). */
    const char *(*job_field)(emp_job_t *job, const char *name, size_t *len);

    /* Progress: fraction in [0,1], message may be NULL. Any thread. Copied. The host makes it
     * monotonic, rate-limits it and writes the latest value; a plugin reports what it knows. */
    void (*progress)(emp_job_t *job, double fraction, const char *message);

    /* The job's result: a JSON object text (raw, not re-serialised), copied. It becomes
     * JobResult.data in complete_job and jobs:completed. Returns 0, or -1 when the text is not
     * a JSON object or is larger than the host's result cap (the job then fails). */
    int (*set_result)(emp_job_t *job, const char *json, size_t len);

    /* Describe a failure. `cls` is EMP_RETRY or EMP_FAIL (or EMP_CANCELLED); `code` is a short
     * machine-readable word ("backend_down", "invalid_prompt", "oom"...). The message is copied.
     * Returns cls, so that run can `return api->fail(job, EMP_FAIL, "bad_input", "...")`. */
    emp_result_t (*fail)(emp_job_t *job, emp_result_t cls, const char *code, const char *fmt, ...)
        EMP_PRINTF(4, 5);

    /* ---- cancellation (job thread) ---- */
    int (*cancelled)(emp_job_t *job); /* non-zero once the host asked to stop (cancel, timeout,
                                         shutdown) */
    /* A file descriptor that becomes readable when the job is cancelled: add it to your
     * poll()/curl_multi_poll() set. Owned by the host; never read, write or close it. */
    int (*cancel_fd)(emp_job_t *job);
    /* Sleep up to ms milliseconds; returns 0 after the full sleep, 1 if cancelled earlier. */
    int (*sleep_ms)(emp_job_t *job, unsigned ms);

    /* ================= ABI 1.0 ends here. Appended in 1.1: ================= */

    /* ---- HTTP helper (1.1; check EMP_HOST_HAS(api, http_request)) ----
     * One blocking HTTP/1.1 exchange over http:// or https:// (the host's libcurl, so the
     * plugin needs no HTTP library of its own). Returns EMP_HTTP_OK (0) when a response
     * arrived - any status, 4xx and 5xx included: classify resp->status yourself - or a
     * negative emp_http_error_t with resp->error_text saying why.
     *   job   the running job, or NULL. With a job the request is cancellable: it returns
     *         EMP_HTTP_E_CANCELLED promptly once the host cancels the job (the call polls the
     *         job's cancel fd). Without a job (start, stop, your own helpers) it is not, so
     *         keep total_timeout_ms short there.
     *   req   borrowed for the duration of the call; nothing in it is kept.
     *   resp  filled in by the host (set struct_size first). After EVERY call, whatever it
     *         returned, hand it back with http_response_free: the strings it points to are
     *         owned by the host until then.
     * Threading: any thread, concurrent calls allowed (each has its own connection), between
     * start and stop. Not from create (no network I/O there: refused with EMP_HTTP_E_INVALID)
     * and never from cancel (which must not block). With a job: only while its run is active. */
    int (*http_request)(emp_host_t *host, emp_job_t *job, const emp_http_request_t *req,
                        emp_http_response_t *resp);
    /* Release what http_request put in resp and reset its members (struct_size is kept, so
     * resp can be reused). Any thread. Safe on a response that was zero-initialised with
     * EMP_HTTP_RESPONSE_INIT, or already freed. */
    void (*http_response_free)(emp_host_t *host, emp_http_response_t *resp);
} emp_host_api_t;

/* True when the host's API table includes member `fn` (appended in a later minor). */
#define EMP_HOST_HAS(api, fn)                                                                      \
    ((api)->struct_size >= offsetof(emp_host_api_t, fn) + sizeof((api)->fn) && (api)->fn != NULL)

/*
 * The plugin descriptor. Static storage in the plugin, returned by the entry symbol.
 * Mandatory: create, run, destroy. Optional (NULL allowed): start, cancel, stop.
 */
typedef struct emp_plugin {
    uint32_t struct_size; /* sizeof(emp_plugin_t) as the plugin was built */
    uint16_t abi_major;   /* EMP_PLUGIN_ABI_MAJOR */
    uint16_t abi_minor;   /* EMP_PLUGIN_ABI_MINOR */
    const char *name;    /* short name, [a-z0-9_-], matches the file name (comfyui -> comfyui.so) */
    const char *version; /* the plugin's own version, free text */
    const char *description;
    /* NULL-terminated list of the job service_required values this plugin serves by default
     * (config may override). NULL means { name }. */
    const char *const *services;

    /* Control thread. Read options through `api`, allocate state, no network I/O.
     * Store the state in *state_out (owned by the plugin, freed in destroy).
     * Returns 0, or -1 after recording option errors / logging why. `api` and `host` stay
     * valid until destroy returns. */
    int (*create)(const emp_host_api_t *api, emp_host_t *host, void **state_out);

    /* Job thread. Probe the backend. See emp_start_t. */
    emp_start_t (*start)(void *state);

    /* Job thread. Run one job. `job` is valid until run returns. See emp_result_t. */
    emp_result_t (*run)(void *state, emp_job_t *job);

    /* Control thread, while run is active. Ask the backend to stop (an HTTP interrupt, say)
     * or just wake run up; must return quickly. The cancel flag and fd are already set. */
    void (*cancel)(void *state, emp_job_t *job);

    /* Job thread, after the last run. Close backend connections. */
    void (*stop)(void *state);

    /* Control thread, last call. Free everything create allocated. */
    void (*destroy)(void *state);
} emp_plugin_t;

/* Minimum descriptor size the host accepts: the v1.0 layout, so that every 1.x plugin loads.
 * Pinned to the last v1.0 member (destroy): fields appended in later minors do not change it.
 * The host reads an appended descriptor field only when struct_size covers it. */
#define EMP_PLUGIN_MIN_SIZE (offsetof(emp_plugin_t, destroy) + sizeof(void (*)(void *)))

/* Size of the v1.0 host API table (the host's struct_size is at least this). */
#define EMP_HOST_API_V1_0_SIZE (offsetof(emp_host_api_t, sleep_ms) + sizeof(int (*)(void)))

/* Initialiser for the descriptor's header fields: claims this header's minor, so a host
 * older than this SDK refuses the plugin with a message saying so. */
#define EMP_PLUGIN_HEADER EMP_PLUGIN_HEADER_MINOR(EMP_PLUGIN_ABI_MINOR)

/* Same, claiming an older minor: the plugin runs in every host >= 1.minor and checks
 * EMP_HOST_HAS before calling a function appended after `minor`. */
#define EMP_PLUGIN_HEADER_MINOR(minor)                                                             \
    .struct_size = sizeof(emp_plugin_t), .abi_major = EMP_PLUGIN_ABI_MAJOR, .abi_minor = (minor)

/* The entry symbol every plugin defines: `EMP_PLUGIN_EXPORT const emp_plugin_t
 * *EMP_PLUGIN_ENTRY(void) { return &my_plugin; }` */
typedef const emp_plugin_t *(*emp_plugin_entry_fn)(void);

/* Declared here so that a plugin's definition has a prototype. */
EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* EMP_PLUGIN_H */
