/* fuzz_config: emp_config_load on any file text. The input is the main file; text after a
 * line "#@confd" becomes conf.d/fuzz.conf. Invariants: the load returns 0 exactly when no
 * error was recorded; every error names its file; a successful load has a worker id, a Redis
 * URL and at least one connector; emp_config_free always works.
 * Inputs containing "include" are skipped: libconfig's @include would read arbitrary files
 * (a FIFO or /dev/stdin blocks), which is an operator's choice, not a parser bug. */
#include "fuzz_common.h"
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char g_dir[64], g_main[128], g_confd[128];

static void setup(void)
{
    if (g_dir[0])
        return;
    snprintf(g_dir, sizeof g_dir, "/tmp/emp-fuzz-config.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        abort();
    snprintf(g_main, sizeof g_main, "%s/worker.conf", g_dir);
    char d[128];
    snprintf(d, sizeof d, "%s/conf.d", g_dir);
    mkdir(d, 0700);
    snprintf(g_confd, sizeof g_confd, "%s/conf.d/fuzz.conf", g_dir);
    /* the environment must not change what is parsed */
    const char *vars[] = {"HUB_REDIS_URL", "WORKER_ID", "MACHINE_ID", "CONNECTORS",
                          "WORKER_CONNECTORS", "UNIFIED_MACHINE_STATUS", NULL};
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
}

static void put(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    for (size_t i = 0; i + 7 <= size; i++)
        if (strncasecmp((const char *)data + i, "include", 7) == 0)
            return 0;
    const uint8_t *sep = memmem(data, size, "#@confd\n", 8);
    size_t main_len = sep ? (size_t)(sep - data) : size;
    put(g_main, data, main_len);
    if (sep)
        put(g_confd, sep + 8, size - main_len - 8);
    else
        unlink(g_confd);
    emp_config_t cfg;
    emp_errlist_t e = {0};
    int rc = emp_config_load(&cfg, g_main, -1, &e);
    FZ_CHECK((rc == 0) == (e.n == 0));
    for (size_t i = 0; i < e.n; i++)
        FZ_CHECK(e.msgs[i] != NULL && e.msgs[i][0] != '\0');
    if (rc == 0) {
        FZ_CHECK(cfg.worker_id && cfg.worker_id[0] && cfg.redis_url && cfg.machine_id);
        FZ_CHECK(cfg.heartbeat_interval_ms < cfg.heartbeat_ttl_s * 1000);
    }
    emp_config_free(&cfg);
    emp_errlist_free(&e);
    return 0;
}
