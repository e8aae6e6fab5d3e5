/*
 * queue_msg.c - the JSON messages and values the reference worker writes, built with cJSON
 * (the plugin's result is spliced in raw with cJSON_CreateRaw, never re-parsed), and the
 * capabilities JSON sent to findMatchingJob (emp-job-queue.md 3.4).
 */
#define _GNU_SOURCE
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "queue_internal.h"
#include "xalloc.h"

#ifndef EMP_VERSION
#define EMP_VERSION "0.0.0"
#endif

static char *print_free(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (s == NULL)
        abort();
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

char *q_msg_worker_status(const emp_queue_t *q, const char *old_status, const char *new_status,
                          const char *job_id, long long ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "worker_id", q->cfg->worker_id);
    cJSON_AddStringToObject(j, "old_status", old_status);
    cJSON_AddStringToObject(j, "new_status", new_status);
    cJSON_AddStringToObject(j, "current_job_id", job_id ? job_id : "");
    cJSON_AddNumberToObject(j, "timestamp", (double)ms);
    return print_free(j);
}

static cJSON *services_array(const emp_queue_t *q)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < q->nservices; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(q->services[i]));
    return a;
}

char *q_msg_machine_event(const emp_queue_t *q, const char *status, const char *job_id,
                          long long ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "worker_id", q->cfg->worker_id);
    cJSON_AddStringToObject(j, "event_type", "worker_status_changed");
    cJSON *d = cJSON_AddObjectToObject(j, "data");
    cJSON_AddStringToObject(d, "status", status);
    cJSON_AddBoolToObject(d, "is_connected", strcmp(status, "offline") != 0);
    if (job_id && job_id[0])
        cJSON_AddStringToObject(d, "current_job_id", job_id);
    else
        cJSON_AddNullToObject(d, "current_job_id");
    cJSON_AddNumberToObject(d, "last_activity", (double)ms);
    cJSON_AddStringToObject(d, "version", EMP_VERSION);
    cJSON_AddStringToObject(d, "build_timestamp", __DATE__ " " __TIME__);
    cJSON_AddStringToObject(d, "build_info", "status-events-v2");
    cJSON_AddItemToObject(d, "capabilities", services_array(q));
    cJSON_AddNumberToObject(j, "timestamp", (double)ms);
    return print_free(j);
}

char *q_msg_progress(const emp_queue_t *q, const struct emp_job *job, double percent,
                     const char *message, long long ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "job_id", job->id);
    cJSON_AddStringToObject(j, "worker_id", q->cfg->worker_id);
    cJSON_AddNumberToObject(j, "progress", percent);
    cJSON_AddStringToObject(j, "status", "in_progress");
    cJSON_AddStringToObject(j, "message", message ? message : "");
    const char *cs = emp_job_get(job, "current_step");
    const char *ts = emp_job_get(job, "total_steps");
    cJSON_AddStringToObject(j, "current_step", cs ? cs : "");
    cJSON_AddNumberToObject(j, "total_steps", ts && ts[0] ? atof(ts) : 0);
    cJSON_AddStringToObject(j, "estimated_completion", "");
    cJSON_AddNumberToObject(j, "timestamp", (double)ms);
    return print_free(j);
}

char *q_msg_job_result(const char *result_json, long long processing_ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "success", 1);
    cJSON_AddItemToObject(j, "data", cJSON_CreateRaw(result_json ? result_json : "{}"));
    cJSON_AddNumberToObject(j, "processing_time_ms", (double)processing_ms);
    return print_free(j);
}

char *q_msg_completed_value(const char *job_result, const char *iso)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "success", 1);
    cJSON_AddItemToObject(j, "data", cJSON_CreateRaw(job_result));
    cJSON_AddStringToObject(j, "completed_at", iso);
    return print_free(j);
}

/* Workflow fields are added when the job has them (the reference means to and fails). */
static void add_workflow_fields(cJSON *j, const struct emp_job *job, int with_priority)
{
    const char *wf = emp_job_get(job, "workflow_id");
    if (wf == NULL || wf[0] == '\0')
        return;
    cJSON_AddStringToObject(j, "workflow_id", wf);
    static const char *const nums[] = {"current_step", "total_steps", "workflow_priority",
                                       "workflow_datetime"};
    for (int i = 0; i < (with_priority ? 4 : 2); i++) {
        const char *v = emp_job_get(job, nums[i]);
        if (v && v[0]) {
            char *end;
            double d = strtod(v, &end);
            if (*end == '\0')
                cJSON_AddNumberToObject(j, nums[i], d);
            else
                cJSON_AddStringToObject(j, nums[i], v);
        }
    }
}

char *q_msg_complete_job(const emp_queue_t *q, const struct emp_job *job, const char *job_result,
                         long long ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "job_id", job->id);
    cJSON_AddStringToObject(j, "worker_id", q->cfg->worker_id);
    cJSON_AddNumberToObject(j, "progress", 100);
    cJSON_AddStringToObject(j, "status", "completed");
    cJSON_AddStringToObject(j, "message", "Job completed successfully");
    cJSON_AddItemToObject(j, "result", cJSON_CreateRaw(job_result));
    cJSON_AddNumberToObject(j, "timestamp", (double)ms);
    add_workflow_fields(j, job, 1);
    return print_free(j);
}

/* The attestation keeps a copy of the result as a JSON string; large results (inline
 * base64 images) are summarised so that attestations stay small. */
#define EMP_ATTEST_RESULT_MAX (64 * 1024)

char *q_msg_attestation(const emp_queue_t *q, const struct emp_job *job, const char *job_result,
                        const char *iso)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "job_id", job->id);
    cJSON_AddStringToObject(j, "worker_id", q->cfg->worker_id);
    cJSON_AddStringToObject(j, "status", "completed");
    cJSON_AddStringToObject(j, "completed_at", iso);
    size_t rl = strlen(job_result);
    if (rl <= EMP_ATTEST_RESULT_MAX) {
        cJSON_AddStringToObject(j, "result", job_result);
    } else {
        char note[96];
        snprintf(note, sizeof note, "[result of %zu bytes omitted]", rl);
        cJSON_AddStringToObject(j, "result", note);
    }
    cJSON_AddNullToObject(j, "raw_service_output");
    cJSON_AddNullToObject(j, "raw_service_request");
    const char *rc = emp_job_get(job, "retry_count");
    cJSON_AddNumberToObject(j, "retry_count", rc ? atof(rc) : 0);
    const char *wf = emp_job_get(job, "workflow_id");
    cJSON_AddStringToObject(j, "workflow_id", wf ? wf : "");
    const char *cs = emp_job_get(job, "current_step"), *ts = emp_job_get(job, "total_steps");
    cJSON_AddStringToObject(j, "current_step", cs ? cs : "");
    cJSON_AddStringToObject(j, "total_steps", ts ? ts : "");
    cJSON_AddStringToObject(j, "machine_id", q->cfg->machine_id);
    cJSON_AddStringToObject(j, "worker_version", EMP_VERSION);
    cJSON_AddStringToObject(j, "attestation_created_at", iso);
    return print_free(j);
}

/* libconfig setting -> cJSON (for capabilities.custom). */
cJSON *q_setting_to_json(const void *setting)
{
    const config_setting_t *s = setting;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return cJSON_CreateNumber((double)config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT: return cJSON_CreateNumber(config_setting_get_float(s));
    case CONFIG_TYPE_STRING: return cJSON_CreateString(config_setting_get_string(s));
    case CONFIG_TYPE_BOOL: return cJSON_CreateBool(config_setting_get_bool(s));
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; i < config_setting_length(s); i++)
            cJSON_AddItemToArray(a, q_setting_to_json(config_setting_get_elem(s, (unsigned)i)));
        return a;
    }
    case CONFIG_TYPE_GROUP: {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *c = config_setting_get_elem(s, (unsigned)i);
            cJSON_AddItemToObject(o, config_setting_name(c), q_setting_to_json(c));
        }
        return o;
    }
    default: return cJSON_CreateNull();
    }
}

static cJSON *str_list(char **v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

char *q_build_caps(const emp_queue_t *q)
{
    const emp_config_t *c = q->cfg;
    cJSON *j = cJSON_CreateObject();
    /* custom capability keys first, so the fixed ones below win on a name clash */
    if (c->custom_caps) {
        cJSON *custom = q_setting_to_json(c->custom_caps);
        cJSON *it = custom->child;
        while (it) {
            cJSON *next = it->next;
            cJSON_AddItemToObject(j, it->string, cJSON_DetachItemViaPointer(custom, it));
            it = next;
        }
        cJSON_Delete(custom);
    }
    const char *fixed[] = {"worker_id", "machine_id", "services",        "job_service_required_map",
                           "hardware",  "models",     "customer_access", "performance",
                           "metadata",  "workflow_id"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(j, fixed[i]);
    cJSON_AddStringToObject(j, "worker_id", c->worker_id);
    cJSON_AddStringToObject(j, "machine_id", c->machine_id);
    cJSON_AddItemToObject(j, "services", services_array(q));
    cJSON_AddItemToObject(j, "job_service_required_map", services_array(q));
    cJSON *hw = cJSON_AddObjectToObject(j, "hardware");
    cJSON_AddNumberToObject(hw, "ram_gb", c->ram_gb);
    cJSON_AddNumberToObject(hw, "gpu_memory_gb", c->gpu_memory_gb);
    cJSON_AddStringToObject(hw, "gpu_model", c->gpu_model);
    cJSON *models = q->models_json ? cJSON_Parse(q->models_json) : NULL;
    cJSON_AddItemToObject(j, "models", cJSON_IsObject(models) ? models : cJSON_CreateObject());
    if (models && !cJSON_IsObject(models))
        cJSON_Delete(models);
    cJSON *ca = cJSON_AddObjectToObject(j, "customer_access");
    cJSON_AddStringToObject(ca, "isolation", c->isolation);
    if (c->nallowed)
        cJSON_AddItemToObject(ca, "allowed_customers", str_list(c->allowed_customers, c->nallowed));
    if (c->ndenied)
        cJSON_AddItemToObject(ca, "denied_customers", str_list(c->denied_customers, c->ndenied));
    cJSON_AddNumberToObject(ca, "max_concurrent_customers", c->max_concurrent_customers);
    cJSON *perf = cJSON_AddObjectToObject(j, "performance");
    cJSON_AddNumberToObject(perf, "concurrent_jobs", 1);
    const char *ql[] = {"fast", "balanced", "quality"};
    cJSON_AddItemToObject(perf, "quality_levels", cJSON_CreateStringArray(ql, 3));
    cJSON_AddNumberToObject(perf, "max_processing_time_minutes", c->timeout_minutes);
    cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
    cJSON_AddStringToObject(meta, "version", EMP_VERSION);
    cJSON_AddStringToObject(meta, "platform", "linux");
    struct utsname un;
    cJSON_AddStringToObject(meta, "arch", uname(&un) == 0 ? un.machine : "unknown");
    if (c->workflow_id && c->workflow_id[0])
        cJSON_AddStringToObject(j, "workflow_id", c->workflow_id);
    /* requirements.timeout_minutes acts as a filter in findMatchingJob (3.3): advertise the
     * longest job this worker accepts, unless custom capabilities say otherwise */
    if (!cJSON_GetObjectItemCaseSensitive(j, "timeout_minutes"))
        cJSON_AddNumberToObject(j, "timeout_minutes", c->timeout_minutes);
    return print_free(j);
}
