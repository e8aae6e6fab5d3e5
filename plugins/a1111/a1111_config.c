/* a1111_config.c - option table and validation (see a1111_config.h). */
#include "a1111_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Integer options: key, default, min, max, where to store. */
static const struct {
    const char *key;
    long long def, min, max;
    size_t offset;
} a1111_int_options[] = {
    {"poll_interval_ms", 1000, 50, 60000, offsetof(a1111_config_t, poll_interval_ms)},
    {"connect_timeout_ms", 5000, 100, 600000, offsetof(a1111_config_t, connect_timeout_ms)},
    {"request_timeout_ms", 3600000, 1000, 86400000, offsetof(a1111_config_t, request_timeout_ms)},
    {"probe_timeout_ms", 10000, 100, 600000, offsetof(a1111_config_t, probe_timeout_ms)},
    {"interrupt_wait_ms", 8000, 100, 600000, offsetof(a1111_config_t, interrupt_wait_ms)},
    {"max_response_bytes", 256LL << 20, 4096, 4LL << 30,
     offsetof(a1111_config_t, max_response_bytes)},
};

static const char *const a1111_output_names[] = {"inline", "files", NULL};

/* A host name or address literal: no scheme, path, credentials or spaces. */
static int host_ok(const char *h)
{
    if (h == NULL || h[0] == '\0' || strlen(h) > 253)
        return 0;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_'))
            return 0;
    return 1;
}

int a1111_config_read(const emp_host_api_t *api, emp_host_t *host, a1111_config_t *cfg)
{
    int bad = 0, out_idx = 0;
    memset(cfg, 0, sizeof *cfg);

    bad |= api->option_string(host, "host", "127.0.0.1", &cfg->host) < 0;
    bad |= api->option_int(host, "port", 3001 + api->gpu_index(host), 1, 65535, &cfg->port) < 0;
    bad |= api->option_string(host, "username", NULL, &cfg->username) < 0;
    bad |= api->option_string(host, "password", NULL, &cfg->password) < 0;
    for (size_t i = 0; i < sizeof a1111_int_options / sizeof a1111_int_options[0]; i++)
        bad |= api->option_int(host, a1111_int_options[i].key, a1111_int_options[i].def,
                               a1111_int_options[i].min, a1111_int_options[i].max,
                               (long long *)((char *)cfg + a1111_int_options[i].offset)) < 0;
    bad |= api->option_enum(host, "output", a1111_output_names, 0, &out_idx) < 0;
    cfg->output = (a1111_output_t)out_idx;
    bad |= api->option_string(host, "output_dir", NULL, &cfg->output_dir) < 0;

    if (!bad && !host_ok(cfg->host))
        bad |= api->option_error(host, "host",
                                 "'%s' is not a host name or IP address (no scheme, port or path: "
                                 "the port is its own option)",
                                 cfg->host ? cfg->host : "");
    if (!bad && (cfg->username == NULL) != (cfg->password == NULL))
        bad |= api->option_error(host, cfg->username ? "username" : "password",
                                 "set both username and password (A1111 --api-auth user:pass), "
                                 "or neither");
    if (!bad && cfg->username && strchr(cfg->username, ':'))
        bad |= api->option_error(host, "username", "a Basic-auth user name cannot contain ':'");
    if (!bad && cfg->output == A1111_OUTPUT_FILES &&
        (cfg->output_dir == NULL || !cfg->output_dir[0]))
        bad |= api->option_error(host, "output", "output = \"files\" needs output_dir");
    if (!bad && cfg->output_dir && cfg->output_dir[0] != '/')
        bad |= api->option_error(host, "output_dir", "must be an absolute path");
    if (bad)
        return -1;

    int ipv6 = strchr(cfg->host, ':') != NULL;
    snprintf(cfg->base_url, sizeof cfg->base_url, "http://%s%s%s:%lld", ipv6 ? "[" : "", cfg->host,
             ipv6 ? "]" : "", cfg->port);
    return 0;
}
