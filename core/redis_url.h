/*
 * redis_url.h - parsing of HUB_REDIS_URL / redis.url:
 *   redis://[[user]:password@]host[:port][/db]   rediss:// (TLS; refused: see README)
 *   unix:///path/to/socket[?db=N]  (also unix://[:password@]/path)
 * Pure and allocation-owning: the parsed struct owns its strings (emp_redis_url_free).
 */
#ifndef EMP_REDIS_URL_H
#define EMP_REDIS_URL_H

#include <stddef.h>

typedef struct emp_redis_url {
    char *host; /* NULL for unix sockets */
    int port;
    char *socket;   /* NULL for TCP */
    char *user;     /* NULL = default user */
    char *password; /* NULL = no AUTH */
    int db;
    int tls;
} emp_redis_url_t;

/* 0 on success; -1 with a reason in err (never echoing the password). */
int emp_redis_url_parse(const char *url, emp_redis_url_t *out, char *err, size_t errlen);
void emp_redis_url_free(emp_redis_url_t *u);
/* The URL with the password replaced by "***", for logs. Caller frees. */
char *emp_redis_url_redacted(const char *url);

#endif
