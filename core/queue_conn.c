/*
 * queue_conn.c - the two Redis connections: connect (TCP or unix socket, AUTH with ACL user,
 * SELECT, timeouts), run commands and pipelines, load the claim function and the worker
 * scripts, subscribe. Any I/O error disconnects; the worker reconnects with backoff.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "emp_lua_scripts.h"
#include "log.h"
#include "queue_internal.h"
#include "redis_url.h"
#include "xalloc.h"

void q_set_err(emp_queue_t *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof q->err, fmt, ap);
    va_end(ap);
}

const char *emp_queue_error(const emp_queue_t *q) { return q->err; }
int emp_queue_connected(const emp_queue_t *q) { return q->cmd != NULL && q->sub != NULL; }
int emp_queue_sub_fd(const emp_queue_t *q) { return q->sub ? q->sub->fd : -1; }
const emp_queue_stats_t *emp_queue_stats(const emp_queue_t *q) { return &q->stats; }
void emp_queue_count_skip(emp_queue_t *q) { q->stats.scans_skipped++; }

void emp_queue_disconnect(emp_queue_t *q)
{
    if (q->cmd)
        redisFree(q->cmd);
    if (q->sub)
        redisFree(q->sub);
    q->cmd = q->sub = NULL;
    /* q->registered stays set: it means "registered once in this process" */
}

static void lost(emp_queue_t *q, redisContext *c, const char *what)
{
    q_set_err(q, "Redis %s: %s", what, c && c->errstr[0] ? c->errstr : "connection lost");
    emp_queue_disconnect(q);
}

redisReply *q_cmd_argv(emp_queue_t *q, int argc, const char **argv, const size_t *lens)
{
    if (q->cmd == NULL)
        return NULL;
    redisReply *r = redisCommandArgv(q->cmd, argc, argv, lens);
    q->stats.round_trips++;
    q->stats.commands++;
    if (r == NULL)
        lost(q, q->cmd, argv[0]);
    return r;
}

redisReply *q_cmd(emp_queue_t *q, const char *fmt, ...)
{
    if (q->cmd == NULL)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(q->cmd, fmt, ap);
    va_end(ap);
    q->stats.round_trips++;
    q->stats.commands++;
    if (r == NULL)
        lost(q, q->cmd, "command");
    return r;
}

int q_append_argv(emp_queue_t *q, int argc, const char **argv, const size_t *lens)
{
    if (q->cmd == NULL)
        return -1;
    q->stats.commands++;
    return redisAppendCommandArgv(q->cmd, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

int q_collect(emp_queue_t *q, int n, int *errors)
{
    *errors = 0;
    if (q->cmd == NULL)
        return -1;
    q->stats.round_trips++;
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(q->cmd, &r) != REDIS_OK) {
            lost(q, q->cmd, "pipeline");
            return -1;
        }
        redisReply *rr = r;
        if (rr->type == REDIS_REPLY_ERROR) {
            (*errors)++;
            LOG_W("Redis error in pipeline: %s", rr->str);
        }
        freeReplyObject(rr);
    }
    return 0;
}

static const char *const script_sources[EMP_SCRIPT_COUNT][2] = {
    [EMP_SCRIPT_START] = {"job_start", NULL},
    [EMP_SCRIPT_COMPLETE] = {"job_complete", NULL},
    [EMP_SCRIPT_FAIL] = {"job_fail", NULL},
    [EMP_SCRIPT_SWEEP] = {"sweep_worker", NULL},
    [EMP_SCRIPT_PROMOTE] = {"promote_retries", NULL},
    [EMP_SCRIPT_PROGRESS] = {"job_progress", NULL},
};

static const char *script_text(int i)
{
    switch (i) {
    case EMP_SCRIPT_START: return emp_lua_job_start;
    case EMP_SCRIPT_COMPLETE: return emp_lua_job_complete;
    case EMP_SCRIPT_FAIL: return emp_lua_job_fail;
    case EMP_SCRIPT_SWEEP: return emp_lua_sweep_worker;
    case EMP_SCRIPT_PROGRESS: return emp_lua_job_progress;
    default: return emp_lua_promote_retries;
    }
}

static int load_script(emp_queue_t *q, int i)
{
    char *text = xasprintf("%s\n%s", emp_lua_common, script_text(i));
    redisReply *r = q_cmd(q, "SCRIPT LOAD %s", text);
    free(text);
    if (r == NULL)
        return -1;
    int ok = r->type == REDIS_REPLY_STRING && r->len < (int)sizeof q->sha[i];
    if (ok)
        memcpy(q->sha[i], r->str, (size_t)r->len + 1);
    else
        q_set_err(q, "SCRIPT LOAD %s failed: %s", script_sources[i][0],
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

redisReply *q_script(emp_queue_t *q, int script, int argc, const char **argv)
{
    const char **a = xcalloc((size_t)argc + 3, sizeof *a);
    a[0] = "EVALSHA";
    a[1] = q->sha[script];
    a[2] = "0";
    for (int i = 0; i < argc; i++)
        a[i + 3] = argv[i];
    redisReply *r = q_cmd_argv(q, argc + 3, a, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        r = NULL;
        if (load_script(q, script) == 0) {
            a[1] = q->sha[script];
            r = q_cmd_argv(q, argc + 3, a, NULL);
        }
    }
    free(a);
    return r;
}

redisReply *q_script_pipeline(emp_queue_t *q, int n, const q_script_call_t *calls)
{
    if (q->cmd == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char **a = xcalloc((size_t)calls[i].argc + 3, sizeof *a);
        a[0] = "EVALSHA";
        a[1] = q->sha[calls[i].script];
        a[2] = "0";
        for (int k = 0; k < calls[i].argc; k++)
            a[k + 3] = calls[i].argv[k];
        q->stats.commands++;
        int ok = redisAppendCommandArgv(q->cmd, calls[i].argc + 3, a, NULL) == REDIS_OK;
        free(a);
        if (!ok) {
            lost(q, q->cmd, "pipeline");
            return NULL;
        }
    }
    q->stats.round_trips++;
    redisReply *last = NULL;
    int noscript = 0;
    for (int i = 0; i < n; i++) {
        void *rv = NULL;
        if (redisGetReply(q->cmd, &rv) != REDIS_OK) {
            if (last)
                freeReplyObject(last);
            lost(q, q->cmd, "pipeline");
            return NULL;
        }
        redisReply *r = rv;
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
            noscript = 1;
        else if (r->type == REDIS_REPLY_ERROR && i < n - 1)
            LOG_W("script %s failed: %s", script_sources[calls[i].script][0], r->str);
        if (i == n - 1)
            last = r;
        else
            freeReplyObject(r);
    }
    if (!noscript)
        return last;
    /* the server lost its script cache (restart, SCRIPT FLUSH): go one by one */
    freeReplyObject(last);
    last = NULL;
    for (int i = 0; i < n; i++) {
        redisReply *r = q_script(q, calls[i].script, calls[i].argc, calls[i].argv);
        if (r == NULL)
            return NULL;
        if (i == n - 1)
            last = r;
        else
            freeReplyObject(r);
    }
    return last;
}

/* hiredis 0.14's reader trusts the element count of an aggregate reply and callocs it up
 * front ("*4000000000" allocates gigabytes before a single element arrives; 1.x added
 * maxelements). The guard wraps the reader's createArray and refuses counts above
 * EMP_MAX_REPLY_ELEMENTS, which hiredis reports as an error: the connection is dropped and
 * reconnected. No reply of this protocol comes near the limit (SCAN pages hold 1000 keys). */
#define EMP_MAX_REPLY_ELEMENTS (1 << 20)

/* The reader functions hiredis installs by default (one static table inside hiredis, the same
 * for every context), and our copy with the guarded createArray. Process-wide, written once by
 * the control thread, which alone opens connections. */
static redisReplyObjectFunctions *g_reader_default;
static redisReplyObjectFunctions g_reader_guarded;

static void *guarded_create_array(const redisReadTask *task, int elements)
{
    if (elements > EMP_MAX_REPLY_ELEMENTS)
        return NULL; /* hiredis: "Out of memory" error on this reader */
    return g_reader_default->createArray(task, elements);
}

void q_guard_reader(redisContext *c)
{
    if (c == NULL || c->reader == NULL || c->reader->fn == NULL ||
        c->reader->fn == &g_reader_guarded)
        return;
    if (g_reader_default == NULL) {
        g_reader_default = c->reader->fn;
        g_reader_guarded = *g_reader_default;
        g_reader_guarded.createArray = guarded_create_array;
    }
    if (c->reader->fn == g_reader_default)
        c->reader->fn = &g_reader_guarded;
}

static redisContext *open_one(emp_queue_t *q, const emp_redis_url_t *u)
{
    struct timeval ct = {q->cfg->connect_timeout_ms / 1000,
                         (q->cfg->connect_timeout_ms % 1000) * 1000};
    struct timeval tt = {q->cfg->command_timeout_ms / 1000,
                         (q->cfg->command_timeout_ms % 1000) * 1000};
    redisContext *c = u->socket ? redisConnectUnixWithTimeout(u->socket, ct)
                                : redisConnectWithTimeout(u->host, u->port, ct);
    if (c == NULL || c->err) {
        q_set_err(q, "cannot connect to Redis at %s%s%d: %s", u->socket ? u->socket : u->host,
                  u->socket ? "" : ":", u->socket ? 0 : u->port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tt);
    q_guard_reader(c);
    if (!u->socket)
        redisEnableKeepAlive(c);
    redisReply *r = NULL;
    if (u->password) {
        if (u->user)
            r = redisCommand(c, "AUTH %s %s", u->user, u->password);
        else
            r = redisCommand(c, "AUTH %s", u->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            q_set_err(q, "Redis AUTH failed%s%s", r ? ": " : "", r ? r->str : "");
            goto fail;
        }
        freeReplyObject(r);
    }
    if (u->db) {
        r = redisCommand(c, "SELECT %d", u->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            q_set_err(q, "Redis SELECT %d failed%s%s", u->db, r ? ": " : "", r ? r->str : "");
            goto fail;
        }
        freeReplyObject(r);
    }
    return c;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return NULL;
}

/* findMatchingJob must exist; load ours (library jobMatching) when allowed. */
static int ensure_function(emp_queue_t *q)
{
    redisReply *r = q_cmd(q, "FUNCTION LIST LIBRARYNAME jobMatching");
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        q_set_err(q, "Redis does not support functions (%s): emp-worker needs Redis 7 or newer",
                  r->str);
        freeReplyObject(r);
        return -1;
    }
    int present = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    freeReplyObject(r);
    if (present)
        return 0;
    if (!q->cfg->load_function) {
        q_set_err(q, "the Redis function findMatchingJob (library jobMatching) is not loaded and "
                     "redis.load_function is false: load it (FUNCTION LOAD) or allow emp-worker "
                     "to load its own");
        return -1;
    }
    r = q_cmd(q, "FUNCTION LOAD %s", emp_lua_job_matching);
    if (r == NULL)
        return -1;
    int ok = r->type != REDIS_REPLY_ERROR || strstr(r->str, "already exists") != NULL;
    if (!ok)
        q_set_err(q, "FUNCTION LOAD jobMatching failed: %s", r->str);
    else
        LOG_I("loaded emp-worker's own claim function (library jobMatching)");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int emp_queue_connect(emp_queue_t *q)
{
    emp_queue_disconnect(q);
    emp_redis_url_t u;
    char err[256];
    if (emp_redis_url_parse(q->cfg->redis_url, &u, err, sizeof err) != 0) {
        q_set_err(q, "bad Redis URL: %s", err);
        return -1;
    }
    if (u.tls) {
        q_set_err(q, "rediss:// (TLS) needs hiredis with SSL, which this build lacks; use a local "
                     "TLS tunnel (stunnel or spiped) and a redis:// URL (see README)");
        emp_redis_url_free(&u);
        return -1;
    }
    q->cmd = open_one(q, &u);
    if (q->cmd)
        q->sub = open_one(q, &u);
    emp_redis_url_free(&u);
    if (q->cmd == NULL || q->sub == NULL) {
        emp_queue_disconnect(q);
        return -1;
    }
    if (ensure_function(q) != 0)
        goto fail;
    for (int i = 0; i < EMP_SCRIPT_COUNT; i++)
        if (load_script(q, i) != 0)
            goto fail;
    redisReply *r = redisCommand(q->sub, "SUBSCRIBE job_submitted cancel_job emp-worker:wake");
    if (r == NULL) {
        lost(q, q->sub, "SUBSCRIBE");
        return -1;
    }
    freeReplyObject(r);
    /* the two other subscribe confirmations */
    for (int i = 0; i < 2; i++) {
        void *rr = NULL;
        if (redisGetReply(q->sub, &rr) != REDIS_OK) {
            lost(q, q->sub, "SUBSCRIBE");
            return -1;
        }
        freeReplyObject(rr);
    }
    return 0;
fail : {
    char keep[sizeof q->err];
    memcpy(keep, q->err, sizeof keep);
    emp_queue_disconnect(q);
    memcpy(q->err, keep, sizeof keep);
}
    return -1;
}

/* Pub/sub messages: ["message", channel, payload]. job_submitted carries the whole payload,
 * so only messages up to a size cap are parsed; a larger one wakes the worker anyway. */
#define EMP_SUBMITTED_PARSE_MAX (1024 * 1024)

static void dispatch(redisReply *r, emp_queue_event_cb cb, void *arg)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *chan = r->element[1]->str;
    const char *body = r->element[2]->str;
    size_t len = r->element[2]->len;
    emp_queue_event_t ev = {0};
    if (strcmp(chan, "emp-worker:wake") == 0) {
        ev.kind = EMP_QEV_JOB_SUBMITTED;
        ev.service = body;
        cb(&ev, arg);
        return;
    }
    int submitted = strcmp(chan, "job_submitted") == 0;
    if (!submitted && strcmp(chan, "cancel_job") != 0)
        return;
    ev.kind = submitted ? EMP_QEV_JOB_SUBMITTED : EMP_QEV_CANCEL;
    cJSON *j = len <= EMP_SUBMITTED_PARSE_MAX ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "job_id");
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(j, "service_required");
    ev.job_id = cJSON_IsString(id) ? id->valuestring : NULL;
    ev.service = cJSON_IsString(svc) ? svc->valuestring : NULL;
    if (submitted || ev.job_id)
        cb(&ev, arg);
    cJSON_Delete(j);
}

int emp_queue_read_events(emp_queue_t *q, emp_queue_event_cb cb, void *arg)
{
    if (q->sub == NULL)
        return -1;
    if (redisBufferRead(q->sub) != REDIS_OK) {
        lost(q, q->sub, "subscriber");
        return -1;
    }
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(q->sub, &r) != REDIS_OK) {
            lost(q, q->sub, "subscriber");
            return -1;
        }
        if (r == NULL)
            return 0;
        dispatch(r, cb, arg);
        freeReplyObject(r);
    }
}
