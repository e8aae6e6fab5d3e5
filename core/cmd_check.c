/*
 * cmd_check.c - `--check-config` and `--list-plugins`: load and validate without network I/O.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "plugin_host.h"
#include "setup.h"
#include "xalloc.h"

static char *plugin_dir_for(const emp_cli_t *cli, const emp_config_t *cfg)
{
    if (cli->plugin_dir)
        return xstrdup(cli->plugin_dir);
    if (cfg && cfg->plugin_dir && cfg->plugin_dir[0])
        return xstrdup(cfg->plugin_dir);
    return emp_plugin_default_dir();
}

static void warn_secret_file(const char *path, emp_errlist_t *e)
{
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & S_IROTH))
        return;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[1024];
    int secret = 0;
    while (!secret && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        secret = strstr(line, "password") || strstr(line, "token") ||
                 (strstr(line, "redis://") && strchr(strstr(line, "redis://") + 8, '@'));
    }
    fclose(f);
    if (secret)
        emp_warn_add(e, path, 0, "holds a secret and is world-readable; run `chmod o-r %s`", path);
}

int emp_check_load(const emp_cli_t *cli, emp_config_t *cfg, emp_plugin_inst_t ***insts_out,
                   size_t *ninsts_out, emp_errlist_t *e)
{
    emp_config_load(cfg, cli->config_path, cli->gpu, e);
    *insts_out = NULL;
    *ninsts_out = 0;
    if (cfg->main_path == NULL)
        return -1;
    warn_secret_file(cfg->main_path, e);
    for (size_t i = 0; i < cfg->nconnectors; i++)
        warn_secret_file(cfg->connectors[i].file, e);
    char *dir = plugin_dir_for(cli, cfg);
    emp_plugin_inst_t **insts = xcalloc(cfg->nconnectors + 1, sizeof *insts);
    size_t n = 0;
    for (size_t i = 0; i < cfg->nconnectors; i++) {
        emp_connector_cfg_t *cc = &cfg->connectors[i];
        char err[1024];
        emp_plugin_inst_t *inst = emp_plugin_load(dir, cc->plugin, err, sizeof err);
        if (inst == NULL) {
            emp_err_add(e, cc->file, cc->line, "connector '%s': %s", cc->plugin, err);
            continue;
        }
        inst->cfg = cc;
        inst->worker_id = cfg->worker_id;
        inst->gpu = cfg->gpu;
        inst->timeout_minutes = cc->timeout_minutes;
        if (cc->services) {
            for (size_t k = 0; k < inst->nservices; k++)
                free(inst->services[k]);
            free(inst->services);
            inst->services = xcalloc(cc->nservices + 1, sizeof *inst->services);
            for (size_t k = 0; k < cc->nservices; k++)
                inst->services[k] = xstrdup(cc->services[k]);
            inst->nservices = cc->nservices;
        }
        if (emp_plugin_create(inst, e) != 0) {
            emp_plugin_unload(inst);
            continue;
        }
        /* a service served twice is ambiguous */
        for (size_t k = 0; k < n; k++)
            for (size_t s = 0; s < inst->nservices; s++)
                if (emp_plugin_serves(insts[k], inst->services[s]))
                    emp_err_add(e, cc->file, cc->line,
                                "connector '%s': service \"%s\" is already served by '%s'",
                                cc->plugin, inst->services[s], insts[k]->name);
        insts[n++] = inst;
    }
    free(dir);
    *insts_out = insts;
    *ninsts_out = n;
    return e->n ? -1 : 0;
}

int emp_cmd_check_config(const emp_cli_t *cli)
{
    emp_config_t cfg;
    emp_errlist_t e = {0};
    emp_plugin_inst_t **insts;
    size_t n;
    emp_check_load(cli, &cfg, &insts, &n, &e);
    for (size_t i = 0; i < e.nwarnings; i++)
        fprintf(stderr, "warning: %s\n", e.warnings[i]);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "%s\n", e.msgs[i]);
    int rc = e.n ? 1 : 0;
    if (rc == 0) {
        printf("emp-worker: configuration %s is OK (gpu %d, worker %s, %zu connector(s):",
               cli->config_path, cfg.gpu, cfg.worker_id, n);
        for (size_t i = 0; i < n; i++)
            printf(" %s", insts[i]->name);
        printf(")\n");
    } else {
        fprintf(stderr, "emp-worker: configuration %s has %zu error(s)\n", cli->config_path, e.n);
    }
    for (size_t i = 0; i < n; i++)
        emp_plugin_unload(insts[i]);
    free(insts);
    emp_config_free(&cfg);
    emp_errlist_free(&e);
    return rc;
}

static void list_cb(const char *path, const emp_plugin_t *d, const char *error, void *arg)
{
    int *bad = arg;
    if (d == NULL) {
        printf("%s: REFUSED: %s\n", path, error);
        (*bad)++;
        return;
    }
    printf("%-12s %-10s ABI %u.%u  %s\n", d->name, d->version ? d->version : "?", d->abi_major,
           d->abi_minor, d->description ? d->description : "");
}

int emp_cmd_list_plugins(const emp_cli_t *cli)
{
    emp_config_t cfg;
    emp_errlist_t e = {0};
    char *dir;
    struct stat st;
    if (cli->plugin_dir == NULL && stat(cli->config_path, &st) == 0) {
        emp_config_load(&cfg, cli->config_path, cli->gpu, &e);
        dir = plugin_dir_for(cli, &cfg);
        emp_config_free(&cfg);
    } else {
        dir = plugin_dir_for(cli, NULL);
    }
    emp_errlist_free(&e);
    printf("plugins in %s:\n", dir);
    int bad = 0;
    int rc = emp_plugin_scan(dir, list_cb, &bad);
    free(dir);
    return rc == 0 && bad == 0 ? 0 : 1; /* a refused plugin is worth a non-zero exit */
}
