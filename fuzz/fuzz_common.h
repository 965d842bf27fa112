/*
 * fuzz_common.h: checks shared by the fuzz targets.
 *
 * A fuzz target aborts on anything that is a bug whatever the input: a parser
 * that fails without saying why, one that reports an error and succeeds, or
 * canonical output that does not survive its own parser.
 */
#ifndef VMS_FUZZ_COMMON_H
#define VMS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmsnap/vmsnap.h>

/* The entry point libFuzzer calls; replay.c calls it too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "fuzz: ");                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

/* A failed parse must leave exactly one error with a message a user can read. */
static inline void fuzz_check_failure(const char *what, vmsnap_error *err)
{
    if (!err)
        fuzz_fail("%s failed without setting an error", what);
    const char *msg = vmsnap_error_get_message(err);
    if (!msg || !*msg)
        fuzz_fail("%s failed with an empty error message", what);
}

/* A successful call must not leave an error behind. */
static inline void fuzz_check_success(const char *what, vmsnap_error *err)
{
    if (err)
        fuzz_fail("%s succeeded but set an error: %s", what, vmsnap_error_get_message(err));
}

/* Canonical output must be stable: formatting the reparsed text gives it back. */
static inline void fuzz_check_same(const char *what, const char *first, const char *second)
{
    if (!first || !second)
        fuzz_fail("%s: formatting returned NULL", what);
    if (strcmp(first, second) != 0)
        fuzz_fail("%s is not stable.\n--- first format:\n%s\n--- after reparse:\n%s", what, first,
                  second);
}

#endif
