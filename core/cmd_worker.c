/*
 * cmd_worker.c - the default command (run the worker for one GPU) and `status` (what the
 * worker is doing, from its own Redis records).
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "commands.h"
#include "log.h"
#include "redis_url.h"
#include "setup.h"
#include "worker.h"

int emp_cmd_run_worker(const emp_cli_t *cli)
{
    emp_config_t cfg;
    emp_errlist_t e = {0};
    emp_plugin_inst_t **insts;
    size_t n;
    emp_check_load(cli, &cfg, &insts, &n, &e);
    emp_log_setup(cfg.log_level, cfg.gpu, cfg.worker_id);
    for (size_t i = 0; i < e.nwarnings; i++)
        LOG_W("%s", e.warnings[i]);
    int rc;
    if (e.n && n == 0) {
        for (size_t i = 0; i < e.n; i++)
            LOG_E("%s", e.msgs[i]);
        LOG_E("no usable connector: not starting (check with --check-config)");
        rc = 1;
    } else {
        /* errors in one connector do not stop the others (a broken plugin is refused) */
        for (size_t i = 0; i < e.n; i++)
            LOG_E("%s", e.msgs[i]);
        rc = emp_worker_run(&cfg, insts, n);
    }
    /* (a plugin stuck after a cancel never returns here: the worker leaves with _exit(3)) */
    for (size_t i = 0; i < n; i++)
        emp_plugin_unload(insts[i]);
    free(insts);
    emp_config_free(&cfg);
    emp_errlist_free(&e);
    return rc;
}

static void print_reply_hash(redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "capabilities") == 0)
            continue;
        printf("  %-22s %s\n", r->element[i]->str, r->element[i + 1]->str);
    }
}

int emp_cmd_status(const emp_cli_t *cli)
{
    emp_config_t cfg;
    emp_errlist_t e = {0};
    emp_config_load(&cfg, cli->config_path, cli->gpu, &e);
    emp_redis_url_t u;
    char err[256];
    int rc = 1;
    if (emp_redis_url_parse(cfg.redis_url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "status: %s\n", err);
        goto out;
    }
    struct timeval tv = {2, 0};
    redisContext *c = u.socket ? redisConnectUnixWithTimeout(u.socket, tv)
                               : redisConnectWithTimeout(u.host, u.port, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "status: cannot connect to Redis: %s\n", c ? c->errstr : "oom");
        if (c)
            redisFree(c);
        emp_redis_url_free(&u);
        goto out;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (u.password) {
        r = u.user ? redisCommand(c, "AUTH %s %s", u.user, u.password)
                   : redisCommand(c, "AUTH %s", u.password);
        if (r)
            freeReplyObject(r);
    }
    if (u.db) {
        r = redisCommand(c, "SELECT %d", u.db);
        if (r)
            freeReplyObject(r);
    }
    emp_redis_url_free(&u);
    printf("worker %s (gpu %d, machine %s)\n", cfg.worker_id, cfg.gpu, cfg.machine_id);
    r = redisCommand(c, "TTL worker:%s:heartbeat", cfg.worker_id);
    long long ttl = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
    if (r)
        freeReplyObject(r);
    printf("  %-22s %s", "alive", ttl >= 0 ? "yes" : "no (no heartbeat)");
    if (ttl >= 0)
        printf(" (heartbeat expires in %lld s)", ttl);
    printf("\n");
    r = redisCommand(c, "HGETALL worker:%s", cfg.worker_id);
    print_reply_hash(r);
    if (r)
        freeReplyObject(r);
    r = redisCommand(c, "HKEYS jobs:active:%s", cfg.worker_id);
    if (r && r->type == REDIS_REPLY_ARRAY) {
        printf("  %-22s", "active jobs");
        for (size_t i = 0; i < r->elements; i++)
            printf(" %s", r->element[i]->str);
        printf("%s\n", r->elements ? "" : " none");
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *p = redisCommand(c, "HMGET job:%s status service_required started_at",
                                         r->element[i]->str);
            redisReply *g =
                redisCommand(c, "HMGET job:%s:progress progress message", r->element[i]->str);
            if (p && p->type == REDIS_REPLY_ARRAY && p->elements == 3 && g &&
                g->type == REDIS_REPLY_ARRAY && g->elements == 2)
                printf("  job %s: %s, service %s, started %s, progress %s%% %s\n",
                       r->element[i]->str, p->element[0]->str ? p->element[0]->str : "?",
                       p->element[1]->str ? p->element[1]->str : "?",
                       p->element[2]->str ? p->element[2]->str : "?",
                       g->element[0]->str ? g->element[0]->str : "0",
                       g->element[1]->str ? g->element[1]->str : "");
            if (p)
                freeReplyObject(p);
            if (g)
                freeReplyObject(g);
        }
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    rc = ttl >= 0 ? 0 : 3;
out:
    emp_config_free(&cfg);
    emp_errlist_free(&e);
    return rc;
}
