/*
 * queue.c - the emp-job-queue protocol operations (see queue.h): registration, heartbeat,
 * claiming, the job lifecycle writes, recovery sweeps. Commands that belong together are
 * pipelined; outcomes that must be fenced run as one Lua script.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_internal.h"
#include "timeutil.h"
#include "xalloc.h"

#ifndef EMP_VERSION
#define EMP_VERSION "0.0.0"
#endif

emp_queue_t *emp_queue_new(const emp_config_t *cfg)
{
    emp_queue_t *q = xcalloc(1, sizeof *q);
    q->cfg = cfg;
    q->machine_channel = xasprintf("machine:%s:worker:%s", cfg->machine_id, cfg->worker_id);
    q->services = xcalloc(1, sizeof *q->services);
    emp_iso_now(q->connected_at, sizeof q->connected_at);
    q->caps_json = q_build_caps(q);
    return q;
}

void emp_queue_free(emp_queue_t *q)
{
    if (q == NULL)
        return;
    emp_queue_disconnect(q);
    for (size_t i = 0; i < q->nservices; i++)
        free(q->services[i]);
    free(q->services);
    free(q->models_json);
    free(q->caps_json);
    free(q->machine_channel);
    free(q);
}

void emp_queue_set_capabilities(emp_queue_t *q, const char *const *services,
                                const char *models_json)
{
    for (size_t i = 0; i < q->nservices; i++)
        free(q->services[i]);
    free(q->services);
    size_t n = 0;
    while (services && services[n])
        n++;
    q->services = xcalloc(n + 1, sizeof *q->services);
    for (size_t i = 0; i < n; i++)
        q->services[i] = xstrdup(services[i]);
    q->nservices = n;
    free(q->models_json);
    q->models_json = xstrdup(models_json);
    free(q->caps_json);
    q->caps_json = q_build_caps(q);
    /* connectors become ready after the registration: keep the registered capabilities
     * (4.1: the services this worker serves) in step with what it claims with */
    if (q->registered && q->cmd && !q->cfg->unified_machine_status) {
        redisReply *r = q_cmd(q, "HSET worker:%s capabilities %s", q->cfg->worker_id, q->caps_json);
        if (r)
            freeReplyObject(r);
    }
}

/* ---- registration and heartbeat (4.1, 4.2) ---- */

static char *registration_events(emp_queue_t *q, long long ms, char **status_msg)
{
    const emp_config_t *c = q->cfg;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "worker_connected");
    cJSON_AddStringToObject(ev, "worker_id", c->worker_id);
    cJSON_AddStringToObject(ev, "machine_id", c->machine_id);
    cJSON *wd = cJSON_AddObjectToObject(ev, "worker_data");
    cJSON_AddStringToObject(wd, "id", c->worker_id);
    cJSON_AddStringToObject(wd, "status", "idle");
    cJSON *caps = cJSON_AddObjectToObject(wd, "capabilities");
    cJSON_AddNumberToObject(caps, "gpu_count", 1);
    cJSON_AddNumberToObject(caps, "gpu_memory_gb", c->gpu_memory_gb);
    cJSON_AddStringToObject(caps, "gpu_model", c->gpu_model);
    cJSON_AddNumberToObject(caps, "cpu_cores", 1);
    cJSON_AddNumberToObject(caps, "ram_gb", c->ram_gb);
    cJSON *svc = cJSON_AddArrayToObject(caps, "services");
    for (size_t i = 0; i < q->nservices; i++)
        cJSON_AddItemToArray(svc, cJSON_CreateString(q->services[i]));
    cJSON_AddArrayToObject(caps, "models");
    cJSON_AddStringToObject(caps, "customer_access", c->isolation);
    cJSON_AddNumberToObject(caps, "max_concurrent_jobs", 1);
    cJSON_AddStringToObject(wd, "connected_at", q->connected_at);
    cJSON_AddNumberToObject(wd, "jobs_completed", 0);
    cJSON_AddNumberToObject(wd, "jobs_failed", 0);
    cJSON_AddNumberToObject(ev, "timestamp", (double)ms);
    char *s = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);

    cJSON *full = cJSON_Parse(q->caps_json);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "worker_id", c->worker_id);
    cJSON_AddStringToObject(st, "machine_id", c->machine_id);
    cJSON_AddStringToObject(st, "status", "idle");
    cJSON *sc = cJSON_AddObjectToObject(st, "capabilities");
    const char *keys[] = {"services", "hardware", "performance", "customer_access", "models"};
    for (int i = 0; i < 5; i++) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(full, keys[i]);
        if (it)
            cJSON_AddItemToObject(sc, keys[i], cJSON_Duplicate(it, 1));
    }
    char iso[40];
    cJSON_AddStringToObject(st, "timestamp", emp_iso_now(iso, sizeof iso));
    cJSON_AddNumberToObject(st, "last_heartbeat", (double)ms);
    cJSON_AddStringToObject(st, "connected_at", q->connected_at);
    char *s2 = cJSON_PrintUnformatted(st);
    cJSON_Delete(st);
    cJSON_Delete(full);
    *status_msg = xstrdup(s2);
    cJSON_free(s2);
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

int emp_queue_register(emp_queue_t *q)
{
    const emp_config_t *c = q->cfg;
    char iso[40], ttl[16];
    emp_iso_now(iso, sizeof iso);
    snprintf(ttl, sizeof ttl, "%d", c->heartbeat_ttl_s);
    long long ms = emp_epoch_ms();
    char *hb_key = xasprintf("worker:%s:heartbeat", c->worker_id);
    char *wkey = xasprintf("worker:%s", c->worker_id);
    char *status_chan = xasprintf("worker_status:%s", c->worker_id);
    char *machine_msg = q_msg_machine_event(q, "idle", NULL, ms);
    int n = 0;
    char *status_msg = NULL, *ev = NULL;
    if (!c->unified_machine_status) {
        ev = registration_events(q, ms, &status_msg);
        /* the counters start at 0 when the process starts; a re-registration after a
         * reconnect keeps them */
        const char *hm[] = {"HSET",
                            wkey,
                            "worker_id",
                            c->worker_id,
                            "machine_id",
                            c->machine_id,
                            "capabilities",
                            q->caps_json,
                            "status",
                            "idle",
                            "connected_at",
                            q->connected_at,
                            "last_heartbeat",
                            iso,
                            "current_job_id",
                            "",
                            "total_jobs_completed",
                            "0",
                            "total_jobs_failed",
                            "0"};
        q_append_argv(q, q->registered ? 16 : 20, hm, NULL);
        const char *sadd[] = {"SADD", "workers:active", c->worker_id};
        q_append_argv(q, 3, sadd, NULL);
        n += 2;
    }
    const char *setex[] = {"SETEX", hb_key, ttl, iso};
    q_append_argv(q, 4, setex, NULL);
    n++;
    if (!c->unified_machine_status) {
        const char *p1[] = {"PUBLISH", "worker:events", ev};
        const char *p2[] = {"PUBLISH", status_chan, status_msg};
        q_append_argv(q, 3, p1, NULL);
        q_append_argv(q, 3, p2, NULL);
        n += 2;
    }
    const char *p3[] = {"PUBLISH", q->machine_channel, machine_msg};
    q_append_argv(q, 3, p3, NULL);
    n++;
    int errors;
    int rc = q_collect(q, n, &errors);
    free(hb_key);
    free(wkey);
    free(status_chan);
    free(machine_msg);
    free(status_msg);
    free(ev);
    if (rc == 0)
        q->registered = 1;
    return rc;
}

int emp_queue_heartbeat(emp_queue_t *q)
{
    const emp_config_t *c = q->cfg;
    char iso[40], ttl[16];
    emp_iso_now(iso, sizeof iso);
    snprintf(ttl, sizeof ttl, "%d", c->heartbeat_ttl_s);
    char *hb_key = xasprintf("worker:%s:heartbeat", c->worker_id);
    char *wkey = xasprintf("worker:%s", c->worker_id);
    const char *h[] = {"HSET", wkey, "last_heartbeat", iso};
    const char *s[] = {"SETEX", hb_key, ttl, iso};
    q_append_argv(q, 4, h, NULL);
    q_append_argv(q, 4, s, NULL);
    int n = 2;
    if (!c->unified_machine_status) {
        /* a sweeper that took us for dead (a pause past the TTL) removed us from the set */
        const char *sa[] = {"SADD", "workers:active", c->worker_id};
        q_append_argv(q, 3, sa, NULL);
        n++;
    }
    int errors;
    int rc = q_collect(q, n, &errors);
    free(hb_key);
    free(wkey);
    return rc;
}

int emp_queue_deregister(emp_queue_t *q, const char *reason)
{
    const emp_config_t *c = q->cfg;
    long long ms = emp_epoch_ms();
    char iso[40];
    emp_iso_now(iso, sizeof iso);
    cJSON *sd = cJSON_CreateObject();
    cJSON_AddStringToObject(sd, "event_type", "shutdown");
    cJSON_AddStringToObject(sd, "machine_id", c->machine_id);
    cJSON_AddStringToObject(sd, "worker_id", c->worker_id);
    cJSON_AddStringToObject(sd, "reason", reason ? reason : "shutdown");
    cJSON_AddNumberToObject(sd, "timestamp", (double)ms);
    char *sd_s = cJSON_PrintUnformatted(sd);
    cJSON_Delete(sd);
    cJSON *dc = cJSON_CreateObject();
    cJSON_AddStringToObject(dc, "type", "worker_disconnected");
    cJSON_AddStringToObject(dc, "worker_id", c->worker_id);
    cJSON_AddStringToObject(dc, "machine_id", c->machine_id);
    cJSON_AddNumberToObject(dc, "timestamp", (double)ms);
    char *dc_s = cJSON_PrintUnformatted(dc);
    cJSON_Delete(dc);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "worker_id", c->worker_id);
    cJSON_AddStringToObject(st, "machine_id", c->machine_id);
    cJSON_AddStringToObject(st, "status", "offline");
    cJSON_AddStringToObject(st, "timestamp", iso);
    char *st_s = cJSON_PrintUnformatted(st);
    cJSON_Delete(st);
    char *machine_msg = q_msg_machine_event(q, "offline", NULL, ms);
    char *status_chan = xasprintf("worker_status:%s", c->worker_id);
    char *wkey = xasprintf("worker:%s", c->worker_id);
    char *hb_key = xasprintf("worker:%s:heartbeat", c->worker_id);
    const char *c1[] = {"PUBLISH", "machine:startup:events", sd_s};
    const char *c2[] = {"PUBLISH", "worker:events", dc_s};
    const char *c3[] = {"PUBLISH", status_chan, st_s};
    const char *c4[] = {"PUBLISH", q->machine_channel, machine_msg};
    const char *c5[] = {"SREM", "workers:active", c->worker_id};
    const char *c6[] = {"DEL", wkey, hb_key};
    q_append_argv(q, 3, c1, NULL);
    q_append_argv(q, 3, c2, NULL);
    q_append_argv(q, 3, c3, NULL);
    q_append_argv(q, 3, c4, NULL);
    q_append_argv(q, 3, c5, NULL);
    q_append_argv(q, 3, c6, NULL);
    int errors;
    int rc = q_collect(q, 6, &errors);
    cJSON_free(sd_s);
    cJSON_free(dc_s);
    cJSON_free(st_s);
    free(machine_msg);
    free(status_chan);
    free(wkey);
    free(hb_key);
    return rc;
}

/* ---- recovery ---- */

static int sweep_one(emp_queue_t *q, const char *wid, int force)
{
    char iso[40], ms[32];
    emp_iso_now(iso, sizeof iso);
    snprintf(ms, sizeof ms, "%lld", emp_epoch_ms());
    const char *argv[] = {
        wid, iso, ms, force ? "1" : "0", q->cfg->worker_id, q->cfg->machine_id, EMP_VERSION};
    redisReply *r = q_script(q, EMP_SCRIPT_SWEEP, 7, argv);
    if (r == NULL)
        return -1;
    int moved = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        long long rq = r->element[0]->integer, fl = r->element[1]->integer;
        moved = (int)(rq + fl);
        if (moved)
            LOG_W("recovered %lld job(s) of %s worker %s (requeued %lld, failed %lld: retries "
                  "spent)",
                  rq + fl, force ? "this" : "dead", wid, rq, fl);
    } else if (r->type == REDIS_REPLY_ERROR) {
        LOG_E("sweep of worker %s failed: %s", wid, r->str);
    }
    freeReplyObject(r);
    return moved;
}

int emp_queue_requeue_own(emp_queue_t *q) { return sweep_one(q, q->cfg->worker_id, 1); }

static int promote(emp_queue_t *q)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", emp_epoch_ms());
    const char *argv[] = {ms, "100"};
    redisReply *r = q_script(q, EMP_SCRIPT_PROMOTE, 2, argv);
    if (r == NULL)
        return -1;
    int n = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0;
    freeReplyObject(r);
    return n;
}

int emp_queue_sweep(emp_queue_t *q)
{
    if (promote(q) < 0)
        return -1;
    /* One sweeper per interval across the fleet. */
    char px[32];
    snprintf(px, sizeof px, "%d", q->cfg->sweep_interval_ms);
    redisReply *r = q_cmd(q, "SET emp-worker:sweep-lock %s NX PX %s", q->cfg->worker_id, px);
    if (r == NULL)
        return -1;
    int got = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!got)
        return 0;
    char cursor[32] = "0";
    int total = 0;
    do {
        r = q_cmd(q, "SCAN %s MATCH jobs:active:* COUNT 1000", cursor);
        if (r == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return total;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *wid = keys->element[i]->str + strlen("jobs:active:");
            if (strcmp(wid, q->cfg->worker_id) == 0)
                continue;
            int m = sweep_one(q, wid, 0);
            if (m < 0) {
                freeReplyObject(r);
                return -1;
            }
            total += m;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return total;
}

int emp_queue_job_pending(emp_queue_t *q, const char *job_id)
{
    redisReply *r = q_cmd(q, "ZSCORE jobs:pending %s", job_id);
    if (r == NULL)
        return -1;
    int pending = r->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return pending;
}

/* ---- claim (3.1) ---- */

struct emp_job *emp_queue_decode_claim(const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "jobId");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "job");
    if (!cJSON_IsString(id) || !cJSON_IsObject(job)) {
        cJSON_Delete(root);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(job);
    const char **names = xcalloc(n + 1, sizeof *names), **values = xcalloc(n + 1, sizeof *values);
    char **owned = xcalloc(n + 1, sizeof *owned);
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, job)
    {
        if (k >= n || it->string == NULL)
            break;
        names[k] = it->string;
        if (cJSON_IsString(it))
            values[k] = it->valuestring;
        else {
            /* the hash holds strings only; anything else is kept as its JSON text */
            owned[k] = cJSON_PrintUnformatted(it);
            values[k] = owned[k] ? owned[k] : "";
        }
        k++;
    }
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(job, "service_required");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(job, "job_type");
    const char *service = cJSON_IsString(svc) && svc->valuestring[0] ? svc->valuestring
                          : cJSON_IsString(jt)                       ? jt->valuestring
                                                                     : "";
    struct emp_job *j = emp_job_new(id->valuestring, service, names, values, k);
    for (size_t i = 0; i < k; i++)
        if (owned[i])
            cJSON_free(owned[i]);
    free(owned);
    free(names);
    free(values);
    cJSON_Delete(root);
    return j;
}

int emp_queue_claim(emp_queue_t *q, struct emp_job **job_out)
{
    *job_out = NULL;
    char scan[16];
    snprintf(scan, sizeof scan, "%d", q->cfg->max_scan);
    const char *argv[] = {"FCALL", "findMatchingJob", "0", q->caps_json, scan};
    redisReply *r = q_cmd_argv(q, 5, argv, NULL);
    if (r == NULL)
        return -1;
    q->stats.claims++;
    int rc = 0;
    if (r->type == REDIS_REPLY_NIL) {
        q->stats.claims_empty++;
    } else if (r->type == REDIS_REPLY_STRING) {
        *job_out = emp_queue_decode_claim(r->str, (size_t)r->len);
        if (*job_out == NULL)
            LOG_E("findMatchingJob returned a reply that is not {jobId, job}: %.200s", r->str);
        else
            rc = 1;
    } else if (r->type == REDIS_REPLY_ERROR) {
        LOG_E("findMatchingJob failed: %s", r->str);
        if (strstr(r->str, "Function not found")) {
            q_set_err(q, "findMatchingJob disappeared: %s", r->str);
            freeReplyObject(r);
            emp_queue_disconnect(q);
            return -1;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* ---- lifecycle (5.1) ---- */

int emp_queue_job_started(emp_queue_t *q, struct emp_job *job)
{
    long long ms = emp_epoch_ms();
    char iso[40];
    emp_iso_now(iso, sizeof iso);
    char *st = q_msg_worker_status(q, "idle", "busy", job->id, ms);
    char *me = q_msg_machine_event(q, "busy", job->id, ms);
    const char *p1[] = {"PUBLISH", "worker_status", st};
    const char *p2[] = {"PUBLISH", q->machine_channel, me};
    q_append_argv(q, 3, p1, NULL);
    q_append_argv(q, 3, p2, NULL);
    const char *ev[] = {"EVALSHA", q->sha[EMP_SCRIPT_START], "0", job->id, q->cfg->worker_id, iso};
    q_append_argv(q, 6, ev, NULL);
    free(st);
    free(me);
    if (q->cmd == NULL)
        return -1;
    q->stats.round_trips++;
    int started = -1;
    for (int i = 0; i < 3; i++) {
        void *rv = NULL;
        if (redisGetReply(q->cmd, &rv) != REDIS_OK) {
            q_set_err(q, "Redis: %s", q->cmd->errstr);
            emp_queue_disconnect(q);
            return -1;
        }
        redisReply *r = rv;
        if (i == 2) {
            if (r->type == REDIS_REPLY_INTEGER)
                started = (int)r->integer;
            else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
                freeReplyObject(r);
                const char *a[] = {job->id, q->cfg->worker_id, iso};
                r = q_script(q, EMP_SCRIPT_START, 3, a);
                if (r == NULL)
                    return -1;
                started = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
            }
        }
        freeReplyObject(r);
    }
    return started < 0 ? -1 : started;
}

int emp_queue_progress(emp_queue_t *q, struct emp_job *job, double fraction, const char *msg)
{
    long long ms = emp_epoch_ms();
    char iso[40], pct[16];
    emp_iso_now(iso, sizeof iso);
    int ipct = (int)(fraction * 100.0 + 0.5);
    snprintf(pct, sizeof pct, "%d", ipct);
    char *m = q_msg_progress(q, job, (double)ipct, msg, ms);
    const char *argv[] = {job->id, q->cfg->worker_id, pct, msg ? msg : "", iso, m};
    redisReply *r = q_script(q, EMP_SCRIPT_PROGRESS, 6, argv);
    free(m);
    if (r == NULL)
        return -1;
    int rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 1;
    if (r->type == REDIS_REPLY_ERROR)
        LOG_W("progress script failed: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* The reply of a fenced outcome script: {1|0, status or outcome}. Frees r (NULL allowed).
 * Returns 1 written, 0 dropped by the fence, -1 error. */
static int fenced_reply(emp_queue_t *q, redisReply *r, const char *what, char *text,
                        size_t text_len)
{
    if (r == NULL)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        rc = (int)r->element[0]->integer;
        snprintf(text, text_len, "%s", r->element[1]->str ? r->element[1]->str : "");
    } else if (r->type == REDIS_REPLY_ERROR) {
        q_set_err(q, "%s script failed: %s", what, r->str);
        LOG_E("%s", q->err);
    }
    freeReplyObject(r);
    return rc;
}

int emp_queue_complete(emp_queue_t *q, struct emp_job *job, const char *result_json,
                       long long processing_ms, double final_progress, const char *final_msg,
                       char *seen, size_t seen_len)
{
    long long ms = emp_epoch_ms();
    char iso[40];
    emp_iso_now(iso, sizeof iso);
    /* the plugin's last progress, if still unwritten, goes in the same round trip, first */
    char pct[16];
    char *pm = NULL;
    const char *pargv[6];
    if (final_progress >= 0) {
        int ipct = (int)(final_progress * 100.0 + 0.5);
        snprintf(pct, sizeof pct, "%d", ipct);
        pm = q_msg_progress(q, job, (double)ipct, final_msg, ms);
        pargv[0] = job->id;
        pargv[1] = q->cfg->worker_id;
        pargv[2] = pct;
        pargv[3] = final_msg ? final_msg : "";
        pargv[4] = iso;
        pargv[5] = pm;
    }
    char *jr = q_msg_job_result(result_json, processing_ms);
    char *att = q_msg_attestation(q, job, jr, iso);
    char *val = q_msg_completed_value(jr, iso);
    char *cj = q_msg_complete_job(q, job, jr, ms);
    char *st = q_msg_worker_status(q, "busy", "idle", NULL, ms);
    char *me = q_msg_machine_event(q, "idle", NULL, ms);
    const char *argv[] = {job->id, q->cfg->worker_id,  iso, "", att, val, cj,
                          st,      q->machine_channel, me};
    q_script_call_t calls[2] = {{EMP_SCRIPT_PROGRESS, 6, pargv}, {EMP_SCRIPT_COMPLETE, 10, argv}};
    redisReply *r =
        pm ? q_script_pipeline(q, 2, calls) : q_script(q, EMP_SCRIPT_COMPLETE, 10, argv);
    free(pm);
    free(jr);
    free(att);
    free(val);
    free(cj);
    free(st);
    free(me);
    return fenced_reply(q, r, "completion", seen, seen_len);
}

int emp_queue_fail(emp_queue_t *q, struct emp_job *job, int retryable, int immediate,
                   const char *code, const char *message, char *outcome, size_t outcome_len)
{
    long long ms = emp_epoch_ms();
    char iso[40], msbuf[32], base[16], cap[16], jitter[32];
    emp_iso_now(iso, sizeof iso);
    snprintf(msbuf, sizeof msbuf, "%lld", ms);
    snprintf(base, sizeof base, "%d", immediate ? 0 : q->cfg->retry_backoff_base_ms);
    snprintf(cap, sizeof cap, "%d", q->cfg->retry_backoff_max_ms);
    snprintf(jitter, sizeof jitter, "%.6f", (double)random() / (double)RAND_MAX);
    char *st = q_msg_worker_status(q, "busy", "idle", NULL, ms);
    char *me = q_msg_machine_event(q, "idle", NULL, ms);
    const char *argv[] = {job->id,
                          q->cfg->worker_id,
                          iso,
                          msbuf,
                          retryable ? "1" : "0",
                          message ? message : "unknown error",
                          base,
                          cap,
                          jitter,
                          q->cfg->machine_id,
                          EMP_VERSION,
                          code ? code : "error",
                          st,
                          q->machine_channel,
                          me};
    redisReply *r = q_script(q, EMP_SCRIPT_FAIL, 15, argv);
    free(st);
    free(me);
    return fenced_reply(q, r, "failure", outcome, outcome_len);
}
