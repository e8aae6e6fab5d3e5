/*
 * a1111_config.h - the connector's options: table, defaults, validation.
 *
 * Owns: the option table (names, types, defaults, ranges) and the a1111_config_t it fills.
 * Strings in the config are borrowed from the host (valid until destroy); base_url is our own.
 * The backend address comes only from here, never from a job's payload.
 */
#ifndef A1111_CONFIG_H
#define A1111_CONFIG_H

#include "emp_plugin.h"

typedef enum a1111_output { A1111_OUTPUT_INLINE = 0, A1111_OUTPUT_FILES = 1 } a1111_output_t;

typedef struct a1111_config {
    const char *host;     /* borrowed */
    long long port;       /* default 3001 + GPU index */
    const char *username; /* borrowed; NULL when A1111 runs without --api-auth */
    const char *password; /* borrowed; never logged */
    long long poll_interval_ms;
    long long connect_timeout_ms;
    long long request_timeout_ms; /* the whole generation call */
    long long probe_timeout_ms;   /* start's probes and each progress poll */
    long long interrupt_wait_ms;  /* after a cancel: how long to wait for A1111 to return */
    a1111_output_t output;
    const char *output_dir; /* borrowed; required when output = "files" */
    long long max_response_bytes;
    char base_url[320]; /* "http://host:port" */
} a1111_config_t;

/* Reads every option through the host's typed lookups. 0, or -1 after the host recorded at
 * least one error (each lookup is still made, so that every mistake is reported at once). */
int a1111_config_read(const emp_host_api_t *api, emp_host_t *host, a1111_config_t *cfg);

#endif
