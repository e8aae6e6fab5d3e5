/* cmd_worker.c - placeholder until the Redis core lands. */
#include <stdio.h>

#include "commands.h"

int emp_cmd_run_worker(const emp_cli_t *cli)
{
    (void)cli;
    fprintf(stderr, "emp-worker: the Redis worker loop is not built yet\n");
    return 1;
}

int emp_cmd_status(const emp_cli_t *cli)
{
    (void)cli;
    fprintf(stderr, "emp-worker: status is not built yet\n");
    return 1;
}
