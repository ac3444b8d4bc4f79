/* fuzz_util.h -- small helpers shared by the libFuzzer targets in fuzz/:
 * a sink for diagnostics and listings, and a hard failure that names the
 * broken invariant.  Harness code only: never linked into kairos.
 */
#ifndef KAIROS_FUZZ_UTIL_H
#define KAIROS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lang/bytecode.h"

/* A FILE that discards what is written to it (opened once per process and
 * kept: a cache, not state -- every run writes to it and never reads it). */
static FILE *fuzz_sink(void)
{
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    if (!sink) { perror("fuzz: /dev/null"); abort(); }
    return sink;
}

/* An invariant of the code under test does not hold: report and crash, so
 * that libFuzzer saves the input. */
#define FUZZ_ASSERT(cond, ...) do { \
    if (!(cond)) { \
        fprintf(stderr, "fuzz: invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); \
    } } while (0)

/* fuzz_kbc_fixed_up -- a copy of a .kbc file's bytes with the header's file
 * length (bytes 28..35) and the trailing FNV-1a 64 checksum recomputed, or
 * NULL when it is too short to hold a header and a checksum: a mutated file
 * almost never has them right, and this lets the fuzzer reach the section
 * readers, the verifier and (fuzz_kbc_replay) the replay. */
static inline uint8_t *fuzz_kbc_fixed_up(const uint8_t *data, size_t size)
{
    if (size < 60)
        return NULL;
    uint8_t *b = malloc(size);
    FUZZ_ASSERT(b != NULL, "out of memory");
    memcpy(b, data, size);
    for (int i = 0; i < 8; i++)
        b[28 + i] = (uint8_t)((uint64_t)size >> (8 * i));
    uint64_t sum = kb_fnv1a64(b, size - 8, KB_FNV_OFFSET);
    for (int i = 0; i < 8; i++)
        b[size - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
    return b;
}

#endif
