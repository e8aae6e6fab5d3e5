/* comfyui_errors.c - error classification tables and the /prompt 400 parser. */
#define _GNU_SOURCE
#include "comfyui_errors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    long lo, hi;
    cfy_http_class_t cls;
} http_table[] = {
    {200, 299, CFY_HTTP_CLASS_OK},    {401, 401, CFY_HTTP_CLASS_AUTH},
    {403, 403, CFY_HTTP_CLASS_AUTH},  {407, 407, CFY_HTTP_CLASS_AUTH},
    {408, 408, CFY_HTTP_CLASS_RETRY}, {425, 425, CFY_HTTP_CLASS_RETRY},
    {429, 429, CFY_HTTP_CLASS_RETRY}, {500, 599, CFY_HTTP_CLASS_RETRY},
};

cfy_http_class_t cfy_http_classify(long status)
{
    for (size_t i = 0; i < sizeof http_table / sizeof http_table[0]; i++)
        if (status >= http_table[i].lo && status <= http_table[i].hi)
            return http_table[i].cls;
    return CFY_HTTP_CLASS_FAIL;
}

const char *cfy_http_class_name(cfy_http_class_t c)
{
    static const char *names[] = {"ok", "retry", "auth", "fail"};
    return (unsigned)c < 4 ? names[c] : "fail";
}

/* Substrings (case-insensitive) that mark an execution_error as out of memory. */
static const char *const oom_types[] = {"OutOfMemoryError", "OutOfMemory", "MemoryError", NULL};
static const char *const oom_messages[] = {"CUDA out of memory",
                                           "out of memory",
                                           "Allocation on device",
                                           "CUBLAS_STATUS_ALLOC_FAILED",
                                           "HIP out of memory",
                                           "MPS backend out of memory",
                                           NULL};

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

int cfy_exception_is_oom(const char *exception_type, const char *exception_message)
{
    for (int i = 0; oom_types[i]; i++)
        if (contains_ci(exception_type, oom_types[i]))
            return 1;
    for (int i = 0; oom_messages[i]; i++)
        if (contains_ci(exception_message, oom_messages[i]))
            return 1;
    return 0;
}

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Append "s" trimmed of trailing whitespace/newlines (ComfyUI messages end in "\n"). */
static void add_trimmed(ebuf_t *msg, const char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];
        ebuf_append(msg, &c, 1);
    }
}

static void describe_one_error(ebuf_t *msg, const cJSON *e)
{
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(e, "extra_info");
    const char *input = str_member(extra, "input_name");
    const char *m = str_member(e, "message");
    const char *details = str_member(e, "details");
    if (input) {
        ebuf_puts(msg, input);
        ebuf_puts(msg, ": ");
    }
    add_trimmed(msg, m ? m : str_member(e, "type"));
    if (details && *details && (input == NULL || strcmp(details, input) != 0)) {
        ebuf_puts(msg, " (");
        add_trimmed(msg, details);
        ebuf_puts(msg, ")");
    }
}

static void describe_node_errors(ebuf_t *msg, const cJSON *node_errors, size_t max_len)
{
    const cJSON *node;
    cJSON_ArrayForEach(node, node_errors)
    {
        if (msg->len >= max_len)
            break;
        if (!cJSON_IsObject(node))
            continue;
        ebuf_puts(msg, "; node ");
        ebuf_puts(msg, node->string ? node->string : "?");
        const char *cls = str_member(node, "class_type");
        if (cls) {
            ebuf_puts(msg, " (");
            ebuf_puts(msg, cls);
            ebuf_puts(msg, ")");
        }
        ebuf_puts(msg, ": ");
        const cJSON *errs = cJSON_GetObjectItemCaseSensitive(node, "errors");
        const cJSON *e;
        int first = 1;
        cJSON_ArrayForEach(e, errs)
        {
            if (!cJSON_IsObject(e))
                continue;
            if (!first)
                ebuf_puts(msg, ", ");
            first = 0;
            describe_one_error(msg, e);
            if (msg->len >= max_len)
                break;
        }
    }
}

void cfy_prompt_error_describe(const char *body, size_t len, ebuf_t *msg, size_t max_len,
                               char *error_type, size_t type_len)
{
    size_t start = msg->len;
    if (error_type && type_len)
        error_type[0] = '\0';
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root)) {
        ebuf_puts(msg, "ComfyUI rejected the prompt: ");
        if (body && len) {
            size_t n = len < 200 ? len : 200;
            for (size_t i = 0; i < n; i++) {
                char c = (unsigned char)body[i] < 0x20 ? ' ' : body[i];
                ebuf_append(msg, &c, 1);
            }
        } else {
            ebuf_puts(msg, "(empty answer)");
        }
        cJSON_Delete(root);
        return;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    const char *type = NULL;
    if (cJSON_IsString(err)) { /* old servers: "error": "no prompt" */
        ebuf_puts(msg, "ComfyUI rejected the prompt: ");
        add_trimmed(msg, err->valuestring);
        type = strcasecmp(err->valuestring, "no prompt") == 0 ? "no_prompt" : NULL;
    } else if (cJSON_IsObject(err)) {
        type = str_member(err, "type");
        const char *m = str_member(err, "message");
        const char *details = str_member(err, "details");
        ebuf_puts(msg, "ComfyUI rejected the prompt");
        if (type) {
            ebuf_puts(msg, " (");
            ebuf_puts(msg, type);
            ebuf_puts(msg, ")");
        }
        ebuf_puts(msg, ": ");
        add_trimmed(msg, m ? m : "no message");
        if (details && *details) {
            ebuf_puts(msg, " [");
            add_trimmed(msg, details);
            ebuf_puts(msg, "]");
        }
    } else {
        ebuf_puts(msg, "ComfyUI rejected the prompt (no error object)");
    }
    const cJSON *ne = cJSON_GetObjectItemCaseSensitive(root, "node_errors");
    if (cJSON_IsObject(ne)) /* [] on old servers: nothing to add */
        describe_node_errors(msg, ne, start + max_len);
    if (type && error_type && type_len)
        snprintf(error_type, type_len, "%s", type);
    cJSON_Delete(root);
    if (msg->len > start + max_len && msg->data) { /* cut, marking the cut */
        msg->len = start + max_len;
        msg->data[msg->len] = '\0';
        ebuf_puts(msg, "...");
    }
}
