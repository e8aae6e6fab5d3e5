/* emp_plugin_check.c - descriptor validation and dlopen of one plugin file (see header). */
#define _GNU_SOURCE
#include "emp_plugin_check.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int emp_plugin_check(const emp_plugin_t *p, const char *what, char *err, size_t errlen)
{
    if (p == NULL) {
        snprintf(err, errlen, "%s: entry symbol %s returned NULL", what, EMP_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    if (p->abi_major != EMP_PLUGIN_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: built for plugin ABI %u.%u, this host speaks ABI %d.x; rebuild the plugin "
                 "against this host's emp_plugin.h",
                 what, p->abi_major, p->abi_minor, EMP_PLUGIN_ABI_MAJOR);
        return -1;
    }
    if (p->abi_minor > EMP_PLUGIN_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: built for plugin ABI %u.%u, newer than this host's %d.%d; upgrade "
                 "emp-worker or rebuild the plugin against the older SDK",
                 what, p->abi_major, p->abi_minor, EMP_PLUGIN_ABI_MAJOR, EMP_PLUGIN_ABI_MINOR);
        return -1;
    }
    if (p->struct_size < EMP_PLUGIN_MIN_SIZE) {
        snprintf(err, errlen,
                 "%s: descriptor is %u bytes, smaller than the %zu bytes of ABI %d.0; the plugin "
                 "was not built with emp_plugin.h (use EMP_PLUGIN_HEADER)",
                 what, p->struct_size, (size_t)EMP_PLUGIN_MIN_SIZE, EMP_PLUGIN_ABI_MAJOR);
        return -1;
    }
    if (p->name == NULL || p->name[0] == '\0') {
        snprintf(err, errlen, "%s: descriptor has no name", what);
        return -1;
    }
    const char *missing = p->create == NULL    ? "create"
                          : p->run == NULL     ? "run"
                          : p->destroy == NULL ? "destroy"
                                               : NULL;
    if (missing != NULL) {
        snprintf(err, errlen, "%s: plugin '%s' has no %s callback, which is mandatory", what,
                 p->name, missing);
        return -1;
    }
    return 0;
}

const emp_plugin_t *emp_plugin_open(const char *path, void **handle_out, char *err, size_t errlen)
{
    *handle_out = NULL;
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        if (why == NULL)
            why = "unknown dlopen error";
        if (strstr(why, "undefined symbol") != NULL)
            snprintf(err, errlen,
                     "%s: unresolved symbol: %s (run `ldd -r %s` to see what the plugin needs; "
                     "plugins must be linked with -Wl,-z,defs against their libraries)",
                     path, why, path);
        else
            snprintf(err, errlen, "%s: cannot load: %s", path, why);
        return NULL;
    }
    dlerror();
    void *sym = dlsym(h, EMP_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL) {
        void *old = dlsym(h, "emp_plugin_entry_v0");
        int other_major = 0;
        char name[32];
        for (int m = 2; m < 10 && old == NULL; m++) {
            snprintf(name, sizeof name, "emp_plugin_entry_v%d", m);
            old = dlsym(h, name);
            other_major = m;
        }
        if (old != NULL)
            snprintf(err, errlen,
                     "%s: exports the entry of plugin ABI %d, this host speaks ABI %d; rebuild "
                     "the plugin against this host's emp_plugin.h",
                     path, other_major, EMP_PLUGIN_ABI_MAJOR);
        else
            snprintf(err, errlen,
                     "%s: no entry symbol %s; not an emp-worker plugin (define it with "
                     "EMP_PLUGIN_EXPORT)",
                     path, EMP_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return NULL;
    }
    emp_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const emp_plugin_t *p = entry();
    if (emp_plugin_check(p, path, err, errlen) != 0) {
        dlclose(h);
        return NULL;
    }
    *handle_out = h;
    return p;
}
