/*
 * mock.c - the plugin for the reference system's "mock" service: tests, the demo and the
 * benchmarks run jobs through it.
 *
 * Payload: {"delay_ms": 100, "should_fail": false, "fail_permanently": false, "test_data": any}
 * Progress 10% -> 80% -> 100% across the delay; the delay honours cancellation.
 * Result:  {"test_data": ..., "mock_url": "mock://<job id>", "processing_time_ms": n}
 * Failure: "Mock failure requested" (retryable, as the reference's mock connector; with
 *          fail_permanently it is permanent).
 * Options: default_delay_ms (delay when the payload has none; default 100).
 * test_data is re-serialised through cJSON (numbers above 2^53 lose precision here; the real
 * connectors pass payloads through raw).
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emp_plugin.h"

typedef struct mock_state {
    const emp_host_api_t *api;
    emp_host_t *host;
    long long default_delay_ms;
} mock_state_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mock_create(const emp_host_api_t *api, emp_host_t *host, void **state_out)
{
    mock_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->api = api;
    s->host = host;
    if (api->option_int(host, "default_delay_ms", 100, 0, 86400000LL, &s->default_delay_ms) < 0) {
        free(s);
        return -1;
    }
    *state_out = s;
    return 0;
}

/* Sleep `ms` in two parts around the 80% mark; returns 1 if cancelled. */
static int mock_wait(mock_state_t *s, emp_job_t *job, long long ms)
{
    if (ms <= 0)
        return s->api->cancelled(job);
    return s->api->sleep_ms(job, (unsigned)ms);
}

static emp_result_t mock_run(void *state, emp_job_t *job)
{
    mock_state_t *s = state;
    const emp_host_api_t *api = s->api;
    long long start = now_ms();
    size_t len;
    const char *raw = api->job_payload(job, &len);
    cJSON *payload = cJSON_ParseWithLength(raw, len);
    if (payload == NULL || !cJSON_IsObject(payload)) {
        cJSON_Delete(payload);
        return api->fail(job, EMP_FAIL, "bad_payload", "mock: payload is not a JSON object");
    }
    long long delay = s->default_delay_ms;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(payload, "delay_ms");
    if (cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 86400000.0)
        delay = (long long)d->valuedouble;
    int should_fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(payload, "should_fail"));
    int permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(payload, "fail_permanently"));

    api->progress(job, 0.10, "mock: started");
    if (mock_wait(s, job, delay * 7 / 10)) {
        cJSON_Delete(payload);
        return api->fail(job, EMP_CANCELLED, "cancelled", "mock: cancelled");
    }
    api->progress(job, 0.80, "mock: processing");
    if (mock_wait(s, job, delay - delay * 7 / 10)) {
        cJSON_Delete(payload);
        return api->fail(job, EMP_CANCELLED, "cancelled", "mock: cancelled");
    }
    if (should_fail || permanent) {
        cJSON_Delete(payload);
        return api->fail(job, permanent ? EMP_FAIL : EMP_RETRY, "mock_failure",
                         "Mock failure requested");
    }
    api->progress(job, 1.0, "mock: done");

    cJSON *out = cJSON_CreateObject();
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(payload, "test_data");
    cJSON_AddItemToObject(out, "test_data", td ? cJSON_Duplicate(td, 1) : cJSON_CreateNull());
    char url[512];
    snprintf(url, sizeof url, "mock://%s", api->job_id(job));
    cJSON_AddStringToObject(out, "mock_url", url);
    cJSON_AddNumberToObject(out, "processing_time_ms", (double)(now_ms() - start));
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    cJSON_Delete(payload);
    if (text == NULL)
        return api->fail(job, EMP_RETRY, "oom", "mock: out of memory");
    int rc = api->set_result(job, text, strlen(text));
    cJSON_free(text);
    if (rc != 0)
        return api->fail(job, EMP_FAIL, "result_too_large", "mock: result refused by host");
    return EMP_OK;
}

static void mock_destroy(void *state) { free(state); }

static const char *const mock_services[] = {"mock", NULL};

static const emp_plugin_t mock_plugin = {
    EMP_PLUGIN_HEADER_MINOR(0), /* uses no ABI 1.1 function: loads in 1.0 hosts too */
    .name = "mock",
    .version = "1.0.0",
    .description = "Mock service for tests, demos and benchmarks (delay, progress, failure)",
    .services = mock_services,
    .create = mock_create,
    .run = mock_run,
    .destroy = mock_destroy,
};

EMP_PLUGIN_EXPORT const emp_plugin_t *EMP_PLUGIN_ENTRY(void) { return &mock_plugin; }
