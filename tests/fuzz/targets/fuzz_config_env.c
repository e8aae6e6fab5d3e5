/* fuzz_config_env: the deployment's environment variables (HUB_REDIS_URL, WORKER_ID, the
 * legacy WORKER_REDIS_API_* / WORKER_CONNECTORS / *_PORT names...) applied over a valid config.
 * Input: lines NAME=VALUE (names outside the known list are ignored). Invariants: the load
 * returns 0 exactly when no error was recorded (no undefined behaviour on the way: "nan" once
 * reached a double-to-integer conversion); numbers read are not NaN; when the legacy hub variables build the Redis
 * URL from a plain host and port, the URL parses back and its password is the token, byte for
 * byte (the token may hold any character). */
#include "fuzz_common.h"
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "redis_url.h"

static const char *const NAMES[] = {
    "HUB_REDIS_URL", "WORKER_ID", "MACHINE_ID", "UNIFIED_MACHINE_STATUS",
    "WORKER_POLL_INTERVAL_MS", "WORKER_HEARTBEAT_INTERVAL_MS", "JOB_TIMEOUT_MINUTES",
    "WORKER_JOB_TIMEOUT_MINUTES", "WORKER_RAM_GB", "WORKER_GPU_MEMORY_GB", "WORKER_GPU_MODEL",
    "WORKER_CUSTOMER_ISOLATION", "CUSTOMER_ISOLATION", "ALLOWED_CUSTOMERS", "DENIED_CUSTOMERS",
    "MAX_CONCURRENT_CUSTOMERS", "WORKER_WORKFLOW_ID", "WORKER_REDIS_API_HOST",
    "WORKER_REDIS_API_PORT", "WORKER_WEBSOCKET_AUTH_TOKEN", "WORKER_USE_SSL",
    "WORKER_CONNECTORS", "CONNECTORS", "WORKER_COMFYUI_PORT", "COMFYUI_PORT",
    "WORKER_BASE_COMFYUI_PORT", "COMFYUI_BASE_PORT", "COMFYUI_HOST", "WORKER_A1111_PORT",
    "A1111_PORT", "WORKER_BASE_A1111_PORT", "A1111_BASE_PORT", "A1111_HOST", NULL,
};

static char g_main[128];

static void setup(void)
{
    if (g_main[0])
        return;
    char dir[64] = "/tmp/emp-fuzz-env.XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    char p[160];
    snprintf(p, sizeof p, "%s/conf.d", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/conf.d/mock.conf", dir);
    FILE *f = fopen(p, "w");
    if (f == NULL)
        abort();
    fputs("connector = { plugin = \"mock\"; enabled = true; };\n", f);
    fclose(f);
    snprintf(g_main, sizeof g_main, "%s/worker.conf", dir);
    f = fopen(g_main, "w");
    if (f == NULL)
        abort();
    fputs("worker = { machine_id = \"m\"; };\nredis = { url = \"redis://127.0.0.1:6379\"; };\n"
          "gpus = ( { index = 0; }, { index = 1; } );\n", f);
    fclose(f);
}

static int plain_host(const char *h)
{
    if (h == NULL || h[0] == '\0')
        return 0;
    for (const char *c = h; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
            return 0;
    return 1;
}

static int plain_port(const char *p)
{
    if (p == NULL || p[0] == '\0' || strlen(p) > 5)
        return p == NULL || p[0] == '\0';
    long v = 0;
    for (const char *c = p; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        v = v * 10 + (*c - '0');
    }
    return v >= 1 && v <= 65535;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    for (int i = 0; NAMES[i]; i++)
        unsetenv(NAMES[i]);
    char *text = fz_cstr(data, size);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        for (int i = 0; NAMES[i]; i++)
            if (strcmp(line, NAMES[i]) == 0)
                setenv(NAMES[i], eq + 1, 1);
    }
    free(text);
    emp_config_t cfg;
    emp_errlist_t e = {0};
    int rc = emp_config_load(&cfg, g_main, -1, &e);
    FZ_CHECK((rc == 0) == (e.n == 0));
    if (rc == 0) /* "nan" must be refused like any other bad number */
        FZ_CHECK(cfg.ram_gb == cfg.ram_gb && cfg.gpu_memory_gb == cfg.gpu_memory_gb);
    const char *hub = getenv("HUB_REDIS_URL"), *host = getenv("WORKER_REDIS_API_HOST");
    const char *port = getenv("WORKER_REDIS_API_PORT");
    const char *token = getenv("WORKER_WEBSOCKET_AUTH_TOKEN");
    const char *ssl = getenv("WORKER_USE_SSL");
    if (cfg.redis_url && (hub == NULL || hub[0] == '\0') && plain_host(host) && plain_port(port)) {
        emp_redis_url_t u;
        char err[256];
        FZ_CHECK(emp_redis_url_parse(cfg.redis_url, &u, err, sizeof err) == 0);
        FZ_CHECK(strcmp(u.host, host) == 0);
        FZ_CHECK(u.tls == (ssl != NULL && strcmp(ssl, "true") == 0));
        if (token && token[0])
            FZ_CHECK(u.password != NULL && strcmp(u.password, token) == 0);
        else
            FZ_CHECK(u.password == NULL);
        char *red = emp_redis_url_redacted(cfg.redis_url);
        if (token && strlen(token) >= 4)
            FZ_CHECK(strstr(red, token) == NULL || strstr(host, token) != NULL);
        free(red);
        emp_redis_url_free(&u);
    }
    emp_config_free(&cfg);
    emp_errlist_free(&e);
    return 0;
}
