/* fuzz_util.h -- small helpers shared by the libFuzzer targets in fuzz/:
 * a sink for diagnostics and listings, and a hard failure that names the
 * broken invariant.  Harness code only: never linked into kairos.
 */
#ifndef KAIROS_FUZZ_UTIL_H
#define KAIROS_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
