/*
 * fuzz_common.h - shared by the libFuzzer targets in this folder.
 *
 * Each target defines LLVMFuzzerTestOneInput. Built two ways: by tests/fuzz/run with clang
 * (-fsanitize=fuzzer,address,undefined) for fuzzing, and by CMake with the normal compiler and
 * replay_main.c, which runs the target once over files (seeds and regressions/<target>/).
 * A target aborts (a crash for libFuzzer) when an invariant of the parser under test breaks.
 */
#ifndef EMP_FUZZ_COMMON_H
#define EMP_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, asprintf */
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (the parsers under test take C strings). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#define FZ_CHECK(cond)                                                                      \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif
