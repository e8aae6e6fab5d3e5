/*
 * plugin_loader.c - finding, checking and loading plugin files (see plugin_host.h).
 * Loads only from the configured directory, refuses writable-by-others files, and reports
 * every failure precisely (the descriptor checks are shared with the test kit).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emp_plugin_check.h"
#include "plugin_host.h"
#include "xalloc.h"

static int check_perms(const char *path, int is_dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a %s", path, is_dir ? "directory" : "regular file");
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s: refused: %s is writable by group or others (mode %03o); run `chmod go-w %s`",
                 path, is_dir ? "plugin directory" : "plugin file", (unsigned)(st.st_mode & 0777),
                 path);
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s: refused: owned by uid %u, neither root nor the service user (uid %u)", path,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

static void set_services(emp_plugin_inst_t *inst)
{
    const char *const *svc = inst->desc->services;
    size_t n = 0;
    if (svc)
        while (svc[n])
            n++;
    inst->services = xcalloc(n + 2, sizeof *inst->services);
    if (n == 0) {
        inst->services[0] = xstrdup(inst->desc->name);
        n = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            inst->services[i] = xstrdup(svc[i]);
    }
    inst->nservices = n;
}

static emp_plugin_inst_t *inst_new(const emp_plugin_t *desc, void *dl, const char *path)
{
    emp_plugin_inst_t *inst = xcalloc(1, sizeof *inst);
    inst->desc = desc;
    inst->dl = dl;
    inst->path = xstrdup(path);
    inst->name = xstrdup(desc->name);
    inst->gpu = 0;
    pthread_mutex_init(&inst->mu, NULL);
    set_services(inst);
    return inst;
}

emp_plugin_inst_t *emp_plugin_load(const char *dir, const char *name, char *err, size_t errlen)
{
    if (check_perms(dir, 1, err, errlen) != 0)
        return NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "%s: no such plugin (is %s.so installed in %s?)", path, name, dir);
        return NULL;
    }
    if (check_perms(path, 0, err, errlen) != 0)
        return NULL;
    void *dl;
    const emp_plugin_t *desc = emp_plugin_open(path, &dl, err, errlen);
    if (desc == NULL)
        return NULL;
    if (strcmp(desc->name, name) != 0) {
        snprintf(err, errlen, "%s: the plugin calls itself \"%s\", not \"%s\"; rename the file",
                 path, desc->name, name);
        dlclose(dl);
        return NULL;
    }
    return inst_new(desc, dl, path);
}

emp_plugin_inst_t *emp_plugin_from_descriptor(const emp_plugin_t *desc)
{
    char err[256];
    if (emp_plugin_check(desc, "(linked-in)", err, sizeof err) != 0)
        return NULL;
    return inst_new(desc, NULL, "(linked-in)");
}

void emp_plugin_unload(emp_plugin_inst_t *inst)
{
    if (inst == NULL)
        return;
    if (inst->created && inst->desc->destroy)
        inst->desc->destroy(inst->state);
    if (inst->dl)
        dlclose(inst->dl);
    for (size_t i = 0; i < inst->nservices; i++)
        free(inst->services[i]);
    free(inst->services);
    for (size_t i = 0; i < inst->nused; i++)
        free(inst->used_keys[i]);
    free(inst->used_keys);
    free(inst->models_json);
    free(inst->path);
    free(inst->name);
    pthread_mutex_destroy(&inst->mu);
    free(inst);
}

int emp_plugin_serves(const emp_plugin_inst_t *inst, const char *service)
{
    for (size_t i = 0; i < inst->nservices; i++)
        if (strcmp(inst->services[i], service) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int emp_plugin_scan(const char *dir, emp_plugin_list_cb cb, void *arg)
{
    char err[1024];
    if (check_perms(dir, 1, err, sizeof err) != 0) {
        cb(dir, NULL, err, arg);
        return -1;
    }
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 3 && strcmp(de->d_name + l - 3, ".so") == 0) {
            names = xrealloc(names, (n + 1) * sizeof *names);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        /* list what loading <stem> would do, with the same checks and messages (a file whose
         * descriptor has another name is refused, as emp_plugin_load refuses it) */
        char stem[NAME_MAX + 1];
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 3), names[i]);
        emp_plugin_inst_t *inst = emp_plugin_load(dir, stem, err, sizeof err);
        cb(path, inst ? inst->desc : NULL, inst ? NULL : err, arg);
        emp_plugin_unload(inst);
        free(names[i]);
    }
    free(names);
    return 0;
}

char *emp_plugin_default_dir(void)
{
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *rel[] = {"plugins", "../lib/emp-worker/plugins", NULL};
        for (int i = 0; rel[i]; i++) {
            char *cand = xasprintf("%s/%s", exe, rel[i]);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
                char *real = realpath(cand, NULL);
                free(cand);
                return real ? real : xstrdup(exe);
            }
            free(cand);
        }
    }
    return xstrdup(EMP_DEFAULT_PLUGIN_DIR);
}
