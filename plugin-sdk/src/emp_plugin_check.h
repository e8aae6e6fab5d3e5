/*
 * emp_plugin_check.h - validation of a plugin descriptor against the host's ABI.
 *
 * Shared by the host's loader (core/plugin_loader.c) and the test kit, so that a plugin that
 * loads under test loads in production and is refused with the same words when it does not.
 */
#ifndef EMP_PLUGIN_CHECK_H
#define EMP_PLUGIN_CHECK_H

#include <stddef.h>

#include "emp_plugin.h"

/* Returns 0 when `p` can be used by a host of ABI EMP_PLUGIN_ABI_MAJOR.EMP_PLUGIN_ABI_MINOR;
 * otherwise -1 with a one-line reason in err (what is wrong and what to do). `what` names the
 * plugin in the message (its path). */
int emp_plugin_check(const emp_plugin_t *p, const char *what, char *err, size_t errlen);

/* dlopen (RTLD_NOW|RTLD_LOCAL) + dlsym of the entry + emp_plugin_check. On success returns the
 * descriptor and stores the dlopen handle in *handle_out (caller dlcloses it). On failure NULL
 * and a precise reason in err. Performs no permission checks (the host's loader does those). */
const emp_plugin_t *emp_plugin_open(const char *path, void **handle_out, char *err, size_t errlen);

#endif
