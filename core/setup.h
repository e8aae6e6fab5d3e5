/*
 * setup.h - the start-up step shared by --check-config and the worker: load the config for
 * the selected GPU, load every enabled plugin and run its create (option checks, no network).
 * Errors go to `e`; on return the caller owns cfg (emp_config_free), the array and each
 * instance (emp_plugin_unload), whatever the result.
 */
#ifndef EMP_SETUP_H
#define EMP_SETUP_H

#include "commands.h"
#include "config.h"
#include "plugin_host.h"

int emp_check_load(const emp_cli_t *cli, emp_config_t *cfg, emp_plugin_inst_t ***insts_out,
                   size_t *ninsts_out, emp_errlist_t *e);

#endif
