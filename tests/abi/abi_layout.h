/*
 * abi_layout.h - the layout of the ABI 1.0 structs, recorded member by member, so that a test
 * can compare the v1.0 header (fixtures/emp_plugin_v1_0.h) with the current one. Includes no
 * SDK header itself: layout_v10.c and layout_cur.c each fill one abi_layout_t from their own.
 */
#ifndef ABI_LAYOUT_H
#define ABI_LAYOUT_H

#include <stddef.h>

/* Every member of emp_host_api_t / emp_plugin_t as of ABI 1.0, in order. */
#define ABI_HOST_MEMBERS_V1_0(X)                                                                \
    X(struct_size) X(abi_major) X(abi_minor) X(log) X(option_string) X(option_int)              \
    X(option_double) X(option_bool) X(option_enum) X(option_error) X(worker_id) X(gpu_index)    \
    X(set_models) X(job_id) X(job_service) X(job_payload) X(job_field) X(progress)              \
    X(set_result) X(fail) X(cancelled) X(cancel_fd) X(sleep_ms)
#define ABI_PLUGIN_MEMBERS_V1_0(X)                                                              \
    X(struct_size) X(abi_major) X(abi_minor) X(name) X(version) X(description) X(services)      \
    X(create) X(start) X(run) X(cancel) X(stop) X(destroy)

typedef struct abi_member {
    const char *name;
    size_t offset, size;
} abi_member_t;

typedef struct abi_layout {
    int abi_major, abi_minor;
    const char *entry_symbol;
    size_t host_api_size, plugin_size, plugin_min_size;
    abi_member_t host[32];   /* the v1.0 members, then {NULL} */
    abi_member_t plugin[16];
    int result_codes[4];     /* EMP_OK, EMP_RETRY, EMP_FAIL, EMP_CANCELLED */
    int start_codes[3];      /* READY, NOT_READY, FATAL */
    int log_levels[4];       /* ERROR, WARN, INFO, DEBUG */
} abi_layout_t;

#define ABI_MEMBER(type, m) {#m, offsetof(type, m), sizeof(((type *)0)->m)},

/* Fill an abi_layout_t from whichever emp_plugin.h was included before. */
#define ABI_LAYOUT_INIT                                                                         \
    {                                                                                           \
        .abi_major = EMP_PLUGIN_ABI_MAJOR, .abi_minor = EMP_PLUGIN_ABI_MINOR,                   \
        .entry_symbol = EMP_PLUGIN_ENTRY_SYMBOL, .host_api_size = sizeof(emp_host_api_t),       \
        .plugin_size = sizeof(emp_plugin_t), .plugin_min_size = EMP_PLUGIN_MIN_SIZE,            \
        .host = {ABI_HOST_MEMBERS_V1_0(ABI_HOST_M){NULL, 0, 0}},                                \
        .plugin = {ABI_PLUGIN_MEMBERS_V1_0(ABI_PLUGIN_M){NULL, 0, 0}},                          \
        .result_codes = {EMP_OK, EMP_RETRY, EMP_FAIL, EMP_CANCELLED},                           \
        .start_codes = {EMP_START_READY, EMP_START_NOT_READY, EMP_START_FATAL},                 \
        .log_levels = {EMP_LOG_ERROR, EMP_LOG_WARN, EMP_LOG_INFO, EMP_LOG_DEBUG},               \
    }
#define ABI_HOST_M(m) ABI_MEMBER(emp_host_api_t, m)
#define ABI_PLUGIN_M(m) ABI_MEMBER(emp_plugin_t, m)

extern const abi_layout_t abi_layout_v1_0; /* layout_v10.c: the fixture header */
extern const abi_layout_t abi_layout_cur;  /* layout_cur.c: plugin-sdk/include/emp_plugin.h */

#endif
