/*
 * broken_cases.h - the broken plugins built in plugins/ and the message each must be refused
 * with. Shared by test_loader.c (the host's loader) and test_testkit_refuses.c (the SDK test
 * kit), so both are held to the same words.
 */
#ifndef BROKEN_CASES_H
#define BROKEN_CASES_H

#include <stdio.h>
#include <string.h>

#include "emp_plugin.h"

typedef struct broken_case {
    const char *name;        /* the file is <name>.so */
    const char *phrase;      /* a key phrase the message must contain */
} broken_case_t;

/* Refused by the descriptor / symbol checks, which host and test kit share. */
static const broken_case_t broken_cases[] = {
    {"noentry", "no entry symbol"},
    {"abi2sym", "ABI 2"},
    {"abi2desc", "ABI 2"},
    {"newminor", "newer than this host"},
    {"small", "smaller than"},
    {"nocreate", "has no create callback"},
    {"norun", "has no run callback"},
    {"nodestroy", "has no destroy callback"},
    {"nullentry", "returned NULL"},
    {"noname", "has no name"},
    {"unresolved", "unresolved symbol"},
    {NULL, NULL},
};

/*
 * The exact message for the plugin file at `path`. Returns 1 with the text in buf, or 0 when
 * part of the text comes from dlerror() (unresolved): then *prefix gets what it starts with.
 */
static inline int broken_expected(const char *name, const char *path, char *buf, size_t len)
{
    if (strcmp(name, "noentry") == 0)
        snprintf(buf, len,
                 "%s: no entry symbol emp_plugin_entry_v1; not an emp-worker plugin (define it "
                 "with EMP_PLUGIN_EXPORT)",
                 path);
    else if (strcmp(name, "abi2sym") == 0)
        snprintf(buf, len,
                 "%s: exports the entry of plugin ABI 2, this host speaks ABI %d; rebuild the "
                 "plugin against this host's emp_plugin.h",
                 path, EMP_PLUGIN_ABI_MAJOR);
    else if (strcmp(name, "abi2desc") == 0)
        snprintf(buf, len,
                 "%s: built for plugin ABI 2.0, this host speaks ABI %d.x; rebuild the plugin "
                 "against this host's emp_plugin.h",
                 path, EMP_PLUGIN_ABI_MAJOR);
    else if (strcmp(name, "newminor") == 0)
        snprintf(buf, len,
                 "%s: built for plugin ABI %d.%d, newer than this host's %d.%d; upgrade "
                 "emp-worker or rebuild the plugin against the older SDK",
                 path, EMP_PLUGIN_ABI_MAJOR, EMP_PLUGIN_ABI_MINOR + 1, EMP_PLUGIN_ABI_MAJOR,
                 EMP_PLUGIN_ABI_MINOR);
    else if (strcmp(name, "small") == 0)
        snprintf(buf, len,
                 "%s: descriptor is 16 bytes, smaller than the %zu bytes of ABI %d.0; the plugin "
                 "was not built with emp_plugin.h (use EMP_PLUGIN_HEADER)",
                 path, (size_t)EMP_PLUGIN_MIN_SIZE, EMP_PLUGIN_ABI_MAJOR);
    else if (strncmp(name, "no", 2) == 0 &&
             (strcmp(name + 2, "create") == 0 || strcmp(name + 2, "run") == 0 ||
              strcmp(name + 2, "destroy") == 0))
        snprintf(buf, len, "%s: plugin '%s' has no %s callback, which is mandatory", path, name,
                 name + 2);
    else if (strcmp(name, "nullentry") == 0)
        snprintf(buf, len, "%s: entry symbol emp_plugin_entry_v1 returned NULL", path);
    else if (strcmp(name, "noname") == 0)
        snprintf(buf, len, "%s: descriptor has no name", path);
    else if (strcmp(name, "unresolved") == 0) {
        snprintf(buf, len, "%s: unresolved symbol: ", path);
        return 0;
    } else
        snprintf(buf, len, "(no expectation for %s)", name);
    return 1;
}

/* Checks the dlerror()-dependent rest of the unresolved message; returns 1 when it is right. */
static inline int broken_unresolved_ok(const char *msg, const char *path)
{
    char ldd[1200];
    snprintf(ldd, sizeof ldd, "(run `ldd -r %s` to see what the plugin needs; plugins must be "
                              "linked with -Wl,-z,defs against their libraries)",
             path);
    size_t l = strlen(msg), k = strlen(ldd);
    return strstr(msg, "undefined symbol: emp_test_undefined_function") != NULL && l > k &&
           strcmp(msg + l - k, ldd) == 0;
}

#endif
