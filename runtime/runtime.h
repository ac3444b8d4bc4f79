/* runtime.h -- the runtime's one public header (prefixes: kv_ VM, kr_ replay,
 * kz_ time zones, ki_ event input readers, ko_ schedule output).
 *
 * The runtime sees only a loaded KImage (lang/bytecode.h), never the syntax
 * tree: the same whether the image was compiled in memory or read from a
 * .kbc file.
 */
#ifndef KAIROS_RUNTIME_H
#define KAIROS_RUNTIME_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "../lang/bytecode.h"

typedef enum { KR_OUT_CSV = 0, KR_OUT_JSONL = 1 } KrOutFormat;

typedef struct KrOptions {
    const char **inputs;          /* event files; "-" is standard input (CSV
                                     unless input_format says otherwise) */
    uint32_t ninputs;
    const char *output;           /* NULL or "-": standard output; else written
                                     to a temporary file and renamed */
    KrOutFormat format;
    bool has_until;
    int64_t until;                /* horizon, Unix seconds */
    bool stats;                   /* summary on stderr */
    bool skip_bad_rows;           /* skip bad rows, count them on stderr */
    uint32_t shard_k, shard_n;    /* shard_n == 0: no sharding */
    bool progress;                /* progress line on stderr if a terminal */
    const char *stdin_format;     /* "csv" or "jsonl" for "-" (default csv) */
    /* explain (may be NULL): customer id whose decisions are traced */
    const char *explain_customer;
    const char *explain_rule;     /* NULL: all rules */
    bool explain_jsonl;
    FILE *explain_out;            /* where the story goes (NULL: standard output) */
    /* the log's schema (--map, --schema; NULL: Kairos's own names) and
     * whether the logs are Segment-spec JSON Lines (--input segment) */
    const struct KrSchema *schema;
    bool segment;
} KrOptions;

/* ---- mapping a log's schema (schema.c, SPEC.md 5.10) ---------------------- */
typedef struct KrSchema KrSchema;
KrSchema *kr_schema_new(void);
/* Adds "--map KAIROS=SOURCE,..."; 0, or -1 with msg set (bad usage). */
int  kr_schema_map(KrSchema *sc, const char *spec, char *msg, size_t cap);
/* Reads a schema file (YAML); 0, or -1 after printing FILE:LINE:COL: error. */
int  kr_schema_load(KrSchema *sc, const char *path, FILE *err);
/* Whether the schema file said `input: segment`. */
bool kr_schema_segment(const KrSchema *sc);
void kr_schema_free(KrSchema *sc);
/* The event sources built in, e.g. "csv jsonl segment postgresql sqlite". */
const char *kr_sources(void);

/* Replays the inputs through the image and writes the schedule.  Errors
 * (unreadable file, bad row, write failure) are printed to err as
 * "FILE:LINE[:COL]: message" and give exit status 1; no partial output
 * file is left.  Returns the process exit status (0 or 1). */
int kr_simulate(const KImage *img, const KrOptions *opt, FILE *err);

/* Parses an RFC 3339 time or integer Unix seconds; 0 on success. */
int kr_parse_time(const char *s, size_t len, int64_t *out);

#endif
