/*
 * main.c - emp-worker's entry point: parses the command line and dispatches to a subcommand
 * (commands.h). Owns the process-global library state: curl_global_init, the lws log level,
 * and signal dispositions are set here (or in the worker loop), never in a plugin.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "emp_plugin.h"

#ifndef EMP_VERSION
#define EMP_VERSION "0.0.0"
#endif
#ifndef EMP_DEFAULT_CONFIG
#define EMP_DEFAULT_CONFIG "/etc/emp-worker/worker.conf"
#endif

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: emp-worker [--config FILE] [--gpu N] [--plugin-dir DIR]\n"
        "       emp-worker --check-config [--config FILE] [--gpu N]\n"
        "       emp-worker --list-plugins [--config FILE] [--plugin-dir DIR]\n"
        "       emp-worker run-plugin PLUGIN --job FILE.json [--option KEY=VALUE]...\n"
        "       emp-worker status [--config FILE] [--gpu N]\n"
        "       emp-worker --version | --help\n"
        "\n"
        "Claims emp-job-queue jobs from Redis for one GPU and runs them through service\n"
        "plugins (comfyui.so, a1111.so, ...).\n"
        "\n"
        "  -c, --config FILE   main configuration (default %s)\n"
        "  -g, --gpu N         the GPU this process serves (its section of the config)\n"
        "  -p, --plugin-dir D  where plugins are loaded from (overrides the config)\n"
        "  -t, --check-config  load and validate everything, load the plugins and run their\n"
        "                      option checks, with no network I/O; exit 0 or print every error\n"
        "  -l, --list-plugins  name, version, ABI and description of every plugin found\n"
        "  -V, --version       print the version and the plugin ABI\n"
        "  -h, --help          this text\n"
        "\n"
        "run-plugin runs one job payload through one plugin with no Redis, printing progress\n"
        "and the result; see `emp-worker run-plugin --help`.\n",
        EMP_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    emp_cli_t cli = {.config_path = EMP_DEFAULT_CONFIG, .gpu = -1};
    int check = 0, list = 0;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"gpu", required_argument, NULL, 'g'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"check-config", no_argument, NULL, 't'},
        {"list-plugins", no_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Subcommands come first: emp-worker run-plugin ... / emp-worker status ... */
    int (*sub)(const emp_cli_t *) = NULL;
    if (argc > 1 && strcmp(argv[1], "run-plugin") == 0)
        sub = emp_cmd_run_plugin;
    else if (argc > 1 && strcmp(argv[1], "status") == 0)
        sub = emp_cmd_status;
    if (sub == emp_cmd_run_plugin) {
        cli.argc = argc - 1;
        cli.argv = argv + 1;
    } else {
        int first = sub ? 2 : 1;
        optind = first;
        int c;
        while ((c = getopt_long(argc, argv, "+c:g:p:tlVh", opts, NULL)) != -1) {
            switch (c) {
            case 'c': cli.config_path = optarg; break;
            case 'g': {
                char *end;
                long v = strtol(optarg, &end, 10);
                if (*end != '\0' || v < 0 || v > 1023) {
                    fprintf(stderr, "emp-worker: --gpu: expected an index 0..1023, got \"%s\"\n",
                            optarg);
                    return 2;
                }
                cli.gpu = (int)v;
                break;
            }
            case 'p': cli.plugin_dir = optarg; break;
            case 't': check = 1; break;
            case 'l': list = 1; break;
            case 'V':
                printf("emp-worker %s (plugin ABI %d.%d)\n", EMP_VERSION, EMP_PLUGIN_ABI_MAJOR,
                       EMP_PLUGIN_ABI_MINOR);
                return 0;
            case 'h': usage(stdout); return 0;
            default: usage(stderr); return 2;
            }
        }
        if (optind < argc) {
            fprintf(stderr, "emp-worker: unexpected argument \"%s\"\n", argv[optind]);
            usage(stderr);
            return 2;
        }
    }

    /* Process-global library state: the host's alone. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lws_set_log_level(LLL_ERR, NULL);

    int rc;
    if (sub)
        rc = sub(&cli);
    else if (check)
        rc = emp_cmd_check_config(&cli);
    else if (list)
        rc = emp_cmd_list_plugins(&cli);
    else
        rc = emp_cmd_run_worker(&cli);
    curl_global_cleanup();
    return rc;
}
