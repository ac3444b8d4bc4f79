/* internal.h -- shared by the files of runtime/ only (never included from
 * lang/ or cli/).  Prefixes: kv_ VM (vm.c), kr_ replay (replay.c,
 * simulate.c), kz_ time zones (tz.c), ki_ input readers (input.c, csv.c,
 * jsonl.c), ko_ schedule output (output.c), kp_pool string pools (pool.c).
 */
#ifndef KAIROS_RUNTIME_INTERNAL_H
#define KAIROS_RUNTIME_INTERNAL_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "runtime.h"

/* ---- values ---------------------------------------------------------- */

/* A runtime value.  tag is a KbTag (bytecode.h).  Strings are ids in the
 * run's value pool (KrPool), so equality is integer equality. */
typedef struct KrValue {
    uint8_t tag;
    union { double num; int64_t i; uint32_t str; bool b; };
} KrValue;

/* ---- string pools (pool.c) -------------------------------------------- */

/* An interning pool: each distinct byte string gets a dense id from 0. */
typedef struct KrPool KrPool;
KrPool     *kr_pool_new(void);
void        kr_pool_free(KrPool *p);
uint32_t    kr_intern(KrPool *p, const char *s, size_t len);
/* Returns the id if already interned, else UINT32_MAX (no insertion). */
uint32_t    kr_lookup(const KrPool *p, const char *s, size_t len);
const char *kr_pool_str(const KrPool *p, uint32_t id, size_t *len);
uint32_t    kr_pool_count(const KrPool *p);

/* ---- events from the input readers (input.c, csv.c, jsonl.c) ------------ */

/* One event, as delivered to the replay in replay order (time, then input
 * order: files in command-line order, rows in file order).  Only the
 * attributes the image can ever read are delivered (see ki_open). */
typedef struct KrEvent {
    int64_t time;                 /* Unix seconds */
    uint32_t customer;            /* id in the customer pool */
    uint32_t event;               /* image event index, or KB_NONE for an
                                     event the image does not know (still
                                     counts for "first event" and horizon) */
    uint32_t nattrs;
    const uint32_t *attr_ids;     /* image attribute indexes */
    const KrValue *attr_vals;     /* KB_NUM, KB_STR (value pool) or KB_BOOL */
    const char *file;             /* for messages */
    uint64_t line;
} KrEvent;

typedef struct KrInput KrInput;

/* Opens every input of opt (files, "-", .gz).  For each event kind e the
 * reader keeps the attributes img->retention[e].attrs; for the reserved
 * events also: identify -> the image's traits and "tz"; response ->
 * "survey" and "score"; opt_out/opt_in/consent_granted/consent_revoked ->
 * "channel" (if the image lists these attribute names; the compiler always
 * lists them).  Rows outside the shard (opt->shard_n) are dropped.
 * Returns NULL after printing "FILE: message" to err. */
KrInput *ki_open(const KImage *img, const KrOptions *opt, KrPool *customers,
                 KrPool *values, FILE *err);
/* Next event in replay order: 1 = *ev filled (valid until the next call),
 * 0 = end of input, -1 = error (message "FILE:LINE[:COL]: ..." printed to
 * err; with opt->skip_bad_rows bad rows are counted and skipped instead). */
int  ki_next(KrInput *in, KrEvent *ev);
uint64_t ki_rows_read(const KrInput *in);
uint64_t ki_rows_skipped(const KrInput *in);
uint64_t ki_bytes_read(const KrInput *in);
void ki_close(KrInput *in);

/* ---- time zones (tz.c) --------------------------------------------------- */

typedef struct KzZone KzZone;
/* Cached by name; NULL if the name is not a zone of the system database. */
KzZone *kz_zone(const char *name);
KzZone *kz_utc(void);
/* Local broken-down time of a UTC instant. */
typedef struct KzLocal { int year, month, day, hour, minute, second, wday; /* wday 0 = mon */ } KzLocal;
void    kz_to_local(KzZone *z, int64_t t, KzLocal *out);
/* UTC instant of a local wall time; a nonexistent time maps to the next
 * valid instant, an ambiguous one to its first occurrence. */
int64_t kz_from_local(KzZone *z, int year, int month, int day, int hour, int minute, int second);

#endif
