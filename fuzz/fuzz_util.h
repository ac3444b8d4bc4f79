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
#include <unistd.h>
#include "lang/bytecode.h"
#include "runtime/runtime.h"

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

/* The harness's private temporary directory ($TMPDIR or /tmp), made on the
 * first fuzz_tmp_file, and the files named in it; all are removed at exit.
 * Process-wide state (a cache: the paths never change once made). */
typedef struct FuzzTmp {
    char dir[64];
    char path[8][128];
    int n;
} FuzzTmp;

static inline FuzzTmp *fuzz_tmp(void)
{
    static FuzzTmp t;
    return &t;
}

static inline void fuzz_tmp_cleanup(void)
{
    FuzzTmp *t = fuzz_tmp();
    for (int i = 0; i < t->n; i++) unlink(t->path[i]);
    if (t->dir[0]) rmdir(t->dir);
}

/* The path of a file NAME in the temporary directory (not created). */
static inline const char *fuzz_tmp_file(const char *name)
{
    FuzzTmp *t = fuzz_tmp();
    if (!t->dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(t->dir, sizeof t->dir, "%s/kairos-fuzz-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
        FUZZ_ASSERT(mkdtemp(t->dir) != NULL, "mkdtemp %s", t->dir);
        atexit(fuzz_tmp_cleanup);
    }
    FUZZ_ASSERT(t->n < (int)(sizeof t->path / sizeof t->path[0]), "more than 8 temporary files");
    char *p = t->path[t->n++];
    snprintf(p, sizeof t->path[0], "%s/%s", t->dir, name);
    return p;
}

/* Writes n bytes to the file at path (replacing it). */
static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f != NULL, "cannot write %s", path);
    FUZZ_ASSERT(fwrite(data, 1, n, f) == n && fclose(f) == 0, "write %s", path);
}

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

/* fuzz_kbc_round_trip -- an image writes to a .kbc file that reads again
 * (and disassembles) and writes the same bytes: the format is canonical
 * for a given image.  Out of memory in kb_write skips the check. */
static inline void fuzz_kbc_round_trip(const KImage *img)
{
    char err[512];
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (kb_write(img, &a, &alen) == 0) {
        KImage *back = kb_read(a, alen, err, sizeof err);
        FUZZ_ASSERT(back != NULL, "kb_read rejects kb_write's output: %s", err);
        kb_disasm(back, fuzz_sink());
        FUZZ_ASSERT(kb_write(back, &b, &blen) == 0, "second kb_write failed");
        FUZZ_ASSERT(alen == blen && memcmp(a, b, alen) == 0,
                    "write(read(write(img))) differs from write(img) (%zu vs %zu bytes)", alen, blen);
        kb_free(back);
    }
    free(a);
    free(b);
}

/* fuzz_replay_to -- opt set for a replay with --stats writing format fmt
 * (shard k of n; n 0: unsharded) to the fresh file out, opened here;
 * the caller closes opt->out. */
static inline void fuzz_replay_to(KrOptions *opt, const char *out, KrOutFormat fmt, uint32_t k, uint32_t n)
{
    opt->out_name = out;
    opt->format = fmt;
    opt->stats = true;
    opt->shard_k = k;
    opt->shard_n = n;
    opt->out = fopen(out, "w");
    opt->out_fresh = true;
    FUZZ_ASSERT(opt->out != NULL, "cannot create %s", out);
}

#endif
