/* a1111_errors.c - A1111 error bodies -> class, code, message (see a1111_errors.h). */
#include "a1111_errors.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ebuf.h"

/* Bodies larger than this are not parsed (A1111's error bodies are a few hundred bytes). */
#define A1111_ERROR_BODY_PARSE_MAX (1024 * 1024)
/* At most this many validation entries are listed in a message. */
#define A1111_ERROR_MAX_FIELDS 8

/* First matching row wins. status 0..0 matches any status; error/needle NULL match anything.
 * `needle` is looked for, case-insensitively, in detail and errors. */
static const struct a1111_rule {
    long status_min, status_max;
    const char *error; /* A1111's exception class name ("error" field) */
    const char *needle;
    emp_result_t cls;
    const char *code;
} a1111_rules[] = {
    {0, 0, "OutOfMemoryError", NULL, EMP_RETRY, "oom"},
    {0, 0, NULL, "out of memory", EMP_RETRY, "oom"},
    {401, 401, NULL, NULL, EMP_RETRY, "auth"},
    {422, 422, NULL, NULL, EMP_FAIL, "invalid_request"},
    {500, 500, NULL, "Invalid encoded image", EMP_FAIL, "invalid_image"},
    {400, 499, NULL, NULL, EMP_FAIL, "invalid_request"},
    {500, 599, NULL, NULL, EMP_RETRY, "backend_error"},
    {0, 0, NULL, NULL, EMP_RETRY, "backend_error"}, /* 1xx/3xx: not A1111's API */
};

emp_result_t a1111_error_set(a1111_error_t *out, emp_result_t cls, const char *code,
                             const char *fmt, ...)
{
    va_list ap;
    out->cls = cls;
    out->code = code;
    out->auth = 0;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    return cls;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* Appends text, replacing control bytes with spaces, so a message stays one line. */
static void put_clean(ebuf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = iscntrl((unsigned char)s[i]) ? ' ' : s[i];
        if (ebuf_append(b, &c, 1) != 0)
            return;
    }
}

static const char *str_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* FastAPI's 422: {"detail": [{"loc": [...], "msg": "...", "type": "..."}, ...]} */
static void put_validation(ebuf_t *b, const cJSON *list)
{
    int n = 0, total = cJSON_GetArraySize(list);
    const cJSON *e;
    ebuf_puts(b, "validation failed: ");
    cJSON_ArrayForEach(e, list)
    {
        if (n == A1111_ERROR_MAX_FIELDS) {
            ebuf_printf(b, "; (+%d more)", total - n);
            break;
        }
        if (n++)
            ebuf_puts(b, "; ");
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "loc"), *l;
        int first = 1;
        cJSON_ArrayForEach(l, loc)
        {
            if (cJSON_IsString(l)) {
                if (!first)
                    ebuf_puts(b, ".");
                put_clean(b, l->valuestring, strlen(l->valuestring));
            } else if (cJSON_IsNumber(l)) {
                ebuf_printf(b, "[%.0f]", l->valuedouble);
            }
            first = 0;
        }
        const char *msg = str_field(e, "msg"), *type = str_field(e, "type");
        ebuf_puts(b, first ? "" : ": ");
        if (msg)
            put_clean(b, msg, strlen(msg));
        if (type)
            ebuf_printf(b, " (%.60s)", type);
    }
}

void a1111_error_from_http(long status, const char *body, size_t len, a1111_error_t *out)
{
    cJSON *root = NULL;
    const char *error = NULL, *detail = NULL, *errors = NULL;
    const cJSON *detail_list = NULL;
    ebuf_t msg;

    if (body && len > 0 && len <= A1111_ERROR_BODY_PARSE_MAX)
        root = cJSON_ParseWithLength(body, len);
    if (cJSON_IsObject(root)) {
        error = str_field(root, "error");
        detail = str_field(root, "detail");
        errors = str_field(root, "errors");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "detail");
        if (cJSON_IsArray(d))
            detail_list = d;
    }

    const struct a1111_rule *rule = &a1111_rules[sizeof a1111_rules / sizeof a1111_rules[0] - 1];
    for (size_t i = 0; i < sizeof a1111_rules / sizeof a1111_rules[0]; i++) {
        const struct a1111_rule *r = &a1111_rules[i];
        if (r->status_max && (status < r->status_min || status > r->status_max))
            continue;
        if (r->error && (error == NULL || strcmp(r->error, error) != 0))
            continue;
        if (r->needle && !contains_nocase(detail, r->needle) && !contains_nocase(errors, r->needle))
            continue;
        rule = r;
        break;
    }

    ebuf_init(&msg, sizeof out->message - 1);
    ebuf_printf(&msg, "A1111 HTTP %ld", status);
    if (error)
        ebuf_printf(&msg, " %.80s", error);
    ebuf_puts(&msg, ": ");
    if (detail_list)
        put_validation(&msg, detail_list);
    else if (detail || errors) {
        /* detail is what A1111 meant to say; errors is str(exception), empty for HTTPExceptions */
        const char *text = detail ? detail : errors;
        put_clean(&msg, text, strlen(text));
        if (detail && errors && strcmp(detail, errors) != 0) {
            ebuf_puts(&msg, " (");
            put_clean(&msg, errors, strlen(errors));
            ebuf_puts(&msg, ")");
        }
    } else if (root == NULL && body && len > 0) {
        size_t n = len < 200 ? len : 200;
        ebuf_puts(&msg, "unexpected body: ");
        put_clean(&msg, body, n);
        if (n < len)
            ebuf_puts(&msg, "...");
    } else {
        ebuf_puts(&msg, "no error detail");
    }

    out->cls = rule->cls;
    out->code = rule->code;
    out->auth = status == 401;
    snprintf(out->message, sizeof out->message, "%s", msg.data ? msg.data : "A1111 error");
    ebuf_free(&msg);
    cJSON_Delete(root);
}
