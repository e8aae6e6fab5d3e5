/* comfyui_config.c - option table and checks (see comfyui_config.h). */
#define _GNU_SOURCE
#include "comfyui_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comfyui_http.h"
#include "comfyui_util.h"
#include "ebuf.h"

/* Integer options: key, default, min, max, where it goes. */
typedef struct int_opt {
    const char *key;
    long long def, min, max;
    size_t offset; /* of a long in cfy_config_t */
} int_opt_t;

#define LONG_FIELD(f) offsetof(cfy_config_t, f)

static const int_opt_t int_opts[] = {
    {"connect_timeout_ms", 10000, 50, 600000, LONG_FIELD(connect_timeout_ms)},
    {"request_timeout_ms", 30000, 50, 3600000, LONG_FIELD(request_timeout_ms)},
    {"inactivity_timeout_ms", 600000, 100, 86400000, LONG_FIELD(inactivity_timeout_ms)},
    {"reconnect_window_ms", 60000, 100, 3600000, LONG_FIELD(reconnect_window_ms)},
};

static const char *const outputs_choices[] = {"urls", "base64", NULL};

static int host_is_sane(const char *h)
{
    if (h == NULL || *h == '\0' || strlen(h) > 253)
        return 0;
    for (const char *c = h; *c; c++)
        if (*c <= ' ' || *c == '/' || *c == '@' || *c == '?' || *c == '#' || *c == '\\' ||
            (unsigned char)*c >= 0x7f)
            return 0;
    return 1;
}

static char *build_auth_header(const cfy_config_t *cfg)
{
    ebuf_t b;
    ebuf_init(&b, 0);
    if (cfg->token && *cfg->token) {
        ebuf_puts(&b, "Bearer ");
        ebuf_puts(&b, cfg->token);
    } else if (cfg->username && *cfg->username) {
        ebuf_t raw;
        ebuf_init(&raw, 0);
        ebuf_printf(&raw, "%s:%s", cfg->username, cfg->password ? cfg->password : "");
        ebuf_puts(&b, "Basic ");
        cfy_base64_encode(&b, (const unsigned char *)raw.data, raw.len);
        if (raw.data)
            memset(raw.data, 0, raw.len); /* do not leave the secret in freed memory */
        ebuf_free(&raw);
    } else {
        return NULL;
    }
    return ebuf_take(&b, NULL);
}

int cfy_config_read(cfy_config_t *cfg, const emp_host_api_t *api, emp_host_t *host)
{
    memset(cfg, 0, sizeof *cfg);
    int bad = 0;
    long long v;
    if (api->option_string(host, "host", "127.0.0.1", &cfg->host) < 0)
        bad = 1;
    else if (!host_is_sane(cfg->host))
        bad = api->option_error(host, "host",
                                "'%s' is not a host name or IP address (no scheme, path or "
                                "user part)",
                                cfg->host ? cfg->host : "");
    int gpu = api->gpu_index(host);
    long long def_port = 8188 + (gpu > 0 ? gpu : 0);
    if (def_port > 65535)
        def_port = 8188;
    if (api->option_int(host, "port", def_port, 1, 65535, &v) < 0)
        bad = 1;
    cfg->port = (int)v;
    if (api->option_bool(host, "tls", 0, &cfg->tls) < 0)
        bad = 1;
    if (api->option_string(host, "tls_ca_file", NULL, &cfg->tls_ca_file) < 0)
        bad = 1;
    else if (cfg->tls_ca_file && *cfg->tls_ca_file == '\0')
        cfg->tls_ca_file = NULL;
    if (cfg->tls_ca_file && !cfg->tls)
        bad = api->option_error(host, "tls_ca_file", "tls_ca_file is set but tls is false");
    if (api->option_string(host, "username", NULL, &cfg->username) < 0 ||
        api->option_string(host, "password", NULL, &cfg->password) < 0 ||
        api->option_string(host, "token", NULL, &cfg->token) < 0)
        bad = 1;
    for (size_t i = 0; i < sizeof int_opts / sizeof int_opts[0]; i++) {
        if (api->option_int(host, int_opts[i].key, int_opts[i].def, int_opts[i].min,
                            int_opts[i].max, &v) < 0)
            bad = 1;
        *(long *)((char *)cfg + int_opts[i].offset) = (long)v;
    }
    int idx;
    if (api->option_enum(host, "outputs", outputs_choices, CFY_OUTPUTS_URLS, &idx) < 0)
        bad = 1;
    cfg->outputs = (cfy_outputs_mode_t)idx;
    if (api->option_int(host, "max_output_bytes", 64ll << 20, 1, 1ll << 40,
                        &cfg->max_output_bytes) < 0)
        bad = 1;
    if (api->option_int(host, "max_input_bytes", 32ll << 20, 1, 1ll << 40, &cfg->max_input_bytes) <
        0)
        bad = 1;
    if (api->option_bool(host, "allow_private_input_urls", 0, &cfg->allow_private_input_urls) < 0)
        bad = 1;
    if (api->option_bool(host, "report_models", 0, &cfg->report_models) < 0)
        bad = 1;

    int have_user = cfg->username && *cfg->username;
    int have_pass = cfg->password && *cfg->password;
    int have_token = cfg->token && *cfg->token;
    if (have_user && have_token)
        bad = api->option_error(host, "token",
                                "set either token (bearer) or username/password, not both");
    if (have_pass && !have_user)
        bad = api->option_error(host, "password", "password is set but username is not");
    if (bad)
        return -1;

    cfg->auth_header = build_auth_header(cfg);
    ebuf_t b;
    ebuf_init(&b, 0);
    int v6 = strchr(cfg->host, ':') != NULL; /* an IPv6 literal needs brackets in a URL */
    ebuf_printf(&b, "%s://%s%s%s:%d", cfg->tls ? "https" : "http", v6 ? "[" : "", cfg->host,
                v6 ? "]" : "", cfg->port);
    cfg->base_url = ebuf_take(&b, NULL);
    if (cfg->base_url == NULL || ((have_user || have_token) && cfg->auth_header == NULL)) {
        cfy_config_free(cfg);
        return api->option_error(host, NULL, "out of memory");
    }
    return 0;
}

void cfy_config_backend_req(const cfy_config_t *cfg, struct cfy_http_req *req)
{
    req->auth_header = cfg->auth_header;
    req->ca_file = cfg->tls_ca_file;
    req->connect_timeout_ms = cfg->connect_timeout_ms;
    req->timeout_ms = cfg->request_timeout_ms;
}

void cfy_config_free(cfy_config_t *cfg)
{
    if (cfg->auth_header) {
        memset(cfg->auth_header, 0, strlen(cfg->auth_header));
        free(cfg->auth_header);
    }
    free(cfg->base_url);
    cfg->auth_header = NULL;
    cfg->base_url = NULL;
}
