/*
 * commands.h - the emp-worker subcommands, one file each. Each takes the parsed command line
 * and returns the process exit code; main.c only dispatches.
 */
#ifndef EMP_COMMANDS_H
#define EMP_COMMANDS_H

typedef struct emp_cli {
    const char *config_path;
    int gpu;                /* -1: not given */
    const char *plugin_dir; /* --plugin-dir, or NULL */
    int argc;               /* remaining arguments after the subcommand */
    char **argv;
} emp_cli_t;

int emp_cmd_check_config(const emp_cli_t *cli);
int emp_cmd_list_plugins(const emp_cli_t *cli);
int emp_cmd_run_plugin(const emp_cli_t *cli);
int emp_cmd_run_worker(const emp_cli_t *cli);
int emp_cmd_status(const emp_cli_t *cli);

#endif
