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
#include "config_env.h"
#include "redis_url.h"


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
    for (size_t i = 0; emp_config_env_name(i); i++)
        unsetenv(emp_config_env_name(i));
    char *text = fz_cstr(data, size);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        for (size_t i = 0; emp_config_env_name(i); i++)
            if (strcmp(line, emp_config_env_name(i)) == 0)
                setenv(emp_config_env_name(i), eq + 1, 1);
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
