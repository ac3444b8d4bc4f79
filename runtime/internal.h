/* internal.h -- shared by the files of runtime/ only (never included from
 * lang/ or cli/).  Prefixes: kv_ VM (vm.c), kr_ replay (replay.c,
 * simulate.c), kz_ time zones (tz.c), ki_ input readers (input.c, csv.c,
 * jsonl.c), ko_ schedule output (output.c), kp_pool string pools (pool.c).
 */
#ifndef KAIROS_RUNTIME_INTERNAL_H
#define KAIROS_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "runtime.h"
#include "../lang/value.h"

/* ---- values ---------------------------------------------------------- */

/* A runtime value: lang/value.h's KValue, whose operations the VM and the
 * compiler's folding share.  Strings are ids in the run's value pool
 * (KrPool), so equality is integer equality. */
typedef KValue KrValue;

/* ---- string pools (pool.c) -------------------------------------------- */

/* An interning pool: each distinct byte string gets a dense id from 0. */
typedef struct KrPool KrPool;
KrPool     *kr_pool_new(void);
void        kr_pool_free(KrPool *p);
uint32_t    kr_intern(KrPool *p, const char *s, size_t len);
/* kr_prefix16 -- the first min(len, 16) bytes of s, zero-padded, as two
 * words, with fixed-size loads only (overlapping, little endian): a cheap
 * exact key for short strings (with the length). */
static inline void kr_prefix16(const char *s, size_t len, uint64_t k[2])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t a, b;
    uint32_t x, y;
    if (len >= 16) { memcpy(&a, s, 8); memcpy(&b, s + 8, 8); k[0] = a; k[1] = b; }
    else if (len > 8) {
        memcpy(&a, s, 8); memcpy(&b, s + len - 8, 8);
        k[0] = a; k[1] = b >> (8u * (16u - len));
    } else if (len == 8) { memcpy(&a, s, 8); k[0] = a; k[1] = 0; }
    else if (len >= 4) {
        memcpy(&x, s, 4); memcpy(&y, s + len - 4, 4);
        k[0] = x | ((uint64_t)y << (8u * (len - 4u))); k[1] = 0;
    } else {
        k[0] = k[1] = 0;
        for (size_t i = 0; i < len; i++) k[0] |= (uint64_t)(unsigned char)s[i] << (8u * i);
    }
#else
    k[0] = k[1] = 0;
    if (len) memcpy(k, s, len < 16 ? len : 16);
#endif
}

/* Returns the id if already interned, else UINT32_MAX (no insertion). */
uint32_t    kr_lookup(const KrPool *p, const char *s, size_t len);
const char *kr_pool_str(const KrPool *p, uint32_t id, size_t *len);
uint32_t    kr_pool_count(const KrPool *p);
/* (pool.c) kr_intern returns UINT32_MAX when out of memory.  The pointer
 * from kr_pool_str stays valid (and NUL-terminated) until kr_pool_free.
 * kr_hash_bytes: the pools' fast 64-bit table hash (not stable across
 * versions; use kb_fnv1a64 for anything persisted or user-visible). */
uint64_t    kr_hash_bytes(const char *s, size_t len);
/* kr_intern given h = kr_hash_bytes(s, len); kr_pool_prefetch(p, h) starts
 * loading the table slot of h (call it early, intern later: hides a cache
 * miss). */
uint32_t    kr_intern_hashed(KrPool *p, const char *s, size_t len, uint64_t h);
void        kr_pool_prefetch(const KrPool *p, uint64_t h);
/* kr_pool_prefetch_key, later (once h's slot has had time to arrive),
 * starts loading the stored bytes that interning s (len bytes, hash h)
 * will compare: only a string longer than 16 bytes has any (shorter ones
 * are found in the slot), so it does nothing for others. */
void        kr_pool_prefetch_key(const KrPool *p, uint64_t h, const char *s, size_t len);
/* kr_pool_prefetch_str starts loading string id's entry (bytes false), or
 * its bytes (bytes true: load the entry first, or that read waits). */
void        kr_pool_prefetch_str(const KrPool *p, uint32_t id, bool bytes);
/* kr_pool_add_ref appends s (len bytes, NUL-terminated, kept by another
 * pool that outlives p) as p's next id, neither copied nor hashed: a pool
 * of such strings answers kr_pool_str and kr_pool_count only; kr_intern
 * refuses (UINT32_MAX), and kr_lookup finds nothing, as it has no table; it
 * is for strings already distinct (a bucket's customers, partition.c).
 * UINT32_MAX also when out of memory or when p holds interned strings. */
uint32_t    kr_pool_add_ref(KrPool *p, const char *s, size_t len);

/* kr_temp_fd -- a temporary file for spilling, in $TMPDIR (or /tmp) as
 * NAME-XXXXXX, unlinked at once (nothing is left behind, even after a
 * crash); its descriptor, or -1 with errno set.  (rows.c) */
int kr_temp_fd(const char *name);
/* Writes len bytes from p at offset `at` of fd; reads len bytes there into
 * p.  0, or -1 (an error, or for a read the file ending first).  (rows.c) */
int kr_write_at(int fd, const void *p, size_t len, uint64_t at);
int kr_read_at(int fd, void *p, size_t len, uint64_t at);

/* kr_thread_start -- pthread_create for every thread of the runtime: the
 * new thread has the asynchronous signals (SIGINT, SIGTERM, SIGPIPE, ...)
 * blocked, so the CLI's handler always runs on the command's own thread.
 * (thread.c) */
int kr_thread_start(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* ---- events from the input readers (input.c, csv.c, jsonl.c) ------------ */

/* One event, as delivered to the replay in replay order (time, then input
 * order: files in command-line order, rows in file order).  Only the
 * attributes the image can ever read are delivered (see ki_open), in
 * increasing attribute index order, each at most once. */
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
    uint32_t route;               /* from the readers: the high half of kr_hash_bytes
                                     of the customer id (the same in every pool) */
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
/* (input.c) The first ki_next parses every input completely (row errors
 * are reported then); later calls only merge.  After ki_stream, time-sorted
 * files are instead parsed row by row as the merge needs them (memory does
 * not grow with the input); ki_next may then return 2: an input is not
 * sorted, the reader has started over in the default way, and the caller
 * must discard everything it took so far and call ki_next again (from the
 * first event).  ki_stream returns whether it is on (never with standard
 * input among the inputs, which cannot be read twice).  ki_rows_read: rows parsed
 * and kept (rows of other shards and skipped bad rows not counted);
 * ki_bytes_read: input bytes read (after gzip decompression). */
bool ki_stream(KrInput *in);
/* Customer id of the event the next ki_next will deliver, when the reader
 * knows it already (stream mode), else KB_NONE: a hint for prefetching. */
uint32_t ki_peek_customer(const KrInput *in);
uint64_t ki_rows_read(const KrInput *in);
/* Whether some row of the input named image event e (*known: false when
 * memory to note it ran out, then the answer is not known). */
bool ki_kind_seen(const KrInput *in, uint32_t e, bool *known);
/* Of the event names the rows had that the policy does not name, the one
 * closest to want (ks_closest; only the 256 byte-wise smallest of them are
 * kept), its length in *len; NULL when none is close. */
const char *ki_unnamed_closest(const KrInput *in, const char *want, size_t *len);
uint64_t ki_rows_skipped(const KrInput *in);
/* The latest time of the rows dropped by --shard (INT64_MIN if none), so
 * that the default horizon does not depend on the sharding. */
int64_t ki_other_shards_latest(const KrInput *in);
/* The time of the latest row of every input, other shards' included
 * (INT64_MIN: none), once ki_next has read them all: after its first call
 * when the inputs are not streamed (ki_stream).  false before then. */
bool ki_latest(const KrInput *in, int64_t *t);
uint64_t ki_bytes_read(const KrInput *in);
void ki_close(KrInput *in);
/* (input.c) The other way to read: parses every input once, in command-line
 * order, rows in file order, handing each kept row to sink (file: the
 * input's index in opt->inputs; ev valid during the call) instead of
 * sorting anything.  A nonzero sink return stops the read with
 * "FILE:LINE: error: out of memory or temporary space".  0, or -1 after a
 * message (a bad row: the same message ki_next would print).  Not with
 * ki_stream or ki_next on the same input. */
typedef int (*KiSink)(void *arg, uint32_t file, const KrEvent *ev);
int ki_drain(KrInput *in, KiSink sink, void *arg);
/* ki_drain with the inputs, when they are regular uncompressed CSV or JSON
 * Lines files with enough rows, cut into n parts (at most KI_PARTS_MAX) parsed at once on a
 * thread each (input_par.c).  Part p's rows go to sink(arg[p], ...), in file
 * order within the part, from part p's thread; begin(arg[p]) comes first,
 * from that thread.  The customer ids of the part's rows are those of the
 * shared pool in part 0, of a pool of the part's own in another (so the
 * sink routes by KrEvent.route, the same in every pool).  When all parts
 * are read, for each part p > 0 that is kept, in order, remap(arg[p], cmap,
 * nc, vmap, nv) gives the shared pools' ids of its customer and value ids
 * (the arrays are the callee's to free); parts that failed are dropped
 * (drop(arg[p]): forget their rows), and the first of them is read again
 * sequentially into its own sink, begin called again (the shared pools'
 * ids then).  Inputs that do not qualify go to
 * part 0 only, without begin.  Rows, order within a customer, messages and
 * pool ids are those of ki_drain. */
/* (each part past the first keeps its own copy of the customer ids it saw
 * until the parts are read: more parts, more memory with many customers) */
#define KI_PARTS_MAX 4u
/* input_par.c: the threads --jobs asks for (opt->jobs; 0: one per online
 * processor), at least 1 */
uint32_t ki_jobs(const KrOptions *opt);
typedef struct KiParts {
    uint32_t n;
    KiSink sink;
    void *arg[KI_PARTS_MAX];
    int  (*begin)(void *arg);
    void (*drop)(void *arg);
    int  (*remap)(void *arg, uint32_t *cmap, uint32_t nc, uint32_t *vmap, uint32_t nv);
    /* (may be NULL) a row whose customer id hashes to route (KrEvent.route)
     * will come to the sink soon: a hint, for prefetching where it goes */
    void (*ahead)(void *arg, uint32_t route);
} KiParts;
int ki_drain_parts(KrInput *in, const KiParts *kp);
/* input_par.c, for tests: the least bytes a part holds (default 1 MiB;
 * 16 KiB in fuzz builds); files read in parts so far, and how many of
 * them were read on sequentially from a part that failed. */
void ki_par_min_part(uint64_t n);
void ki_par_counts(uint64_t *parallel, uint64_t *fallbacks);
/* (input.c) The attributes ki_open keeps for img, as a bitset: bit a of
 * word bits[e * words + a / 64] for event e (words >= nattrs / 64 + 1;
 * bits zeroed by the caller, nevents rows). */
void ki_image_wants(const KImage *img, uint64_t *bits, uint32_t words);

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
/* The earliest instant >= tmin whose local wall time is the given one (for
 * a nonexistent wall time: the instant the gap ends, i.e. the transition),
 * or KZ_NONE if there is none at or after tmin.  Fields may be out of range
 * (day 0, minute 90, ...): they are normalized as a calendar would. */
#define KZ_NONE INT64_MIN
int64_t kz_next_local(KzZone *z, int year, int month, int day, int hour, int minute,
                      int second, int64_t tmin);
/* UTC offset in seconds in force at instant t. */
int32_t kz_offset(KzZone *z, int64_t t);
/* The zone's name ("UTC" for kz_utc). */
const char *kz_name(const KzZone *z);
/* Civil calendar helpers (proleptic Gregorian, any year). */
int64_t kz_days_from_civil(int64_t y, int m, int d);
void    kz_civil_from_days(int64_t days, int *y, int *m, int *d);

/* ---- send times (sendtime.c) ---------------------------------------------- */

#define KR_NEVER    INT64_MAX             /* no allowed send time */
#define KR_TIME_MAX 253402300799LL        /* 9999-12-31T23:59:59Z: later is never */
#define KR_MAX_BOUNDARIES 10000000      /* every-rule boundaries per customer and rule (SPEC 9.3) */
#define KR_TIME_MIN (-62167219200LL)      /* 0000-01-01T00:00:00Z: the earliest input time */

typedef struct KrHist KrHist;
typedef struct KrCountMemo KrCountMemo;
typedef struct KrAggMemo KrAggMemo;
typedef struct KrHistSpan KrHistSpan;   /* hist.h */
/* The final send time of an attempt of rule r nominally due at t: moved
 * forward into the rule's at window or to its best_time (first attempt
 * only; best: the customer's kept best_time events, read through hist.h,
 * or NULL) and out of the quiet hours covering channel ch (asks only;
 * quiet_mask: the channels any quiet window covers), in zone z.  KR_NEVER
 * if no allowed instant is found.  *moved: quiet hours moved it. */
int64_t kr_place(const KImage *img, uint64_t quiet_mask, const KbRule *r, bool first, uint32_t ch,
                 KzZone *z, const KrHistSpan *best, int64_t t, bool *moved);
/* The first boundary of every-rule r at or after tmin, for a customer
 * whose first event was at `first`, in zone z; KR_NEVER if none. */
int64_t kr_next_boundary(const KbRule *r, KzZone *z, int64_t first, int64_t tmin);

/* ---- schedule rows and the engine (replay.c) ------------------------------ */

enum { KR_ACT_ASK = 0, KR_ACT_REMIND = 1, KR_ACT_TASK = 2 };

/* One schedule row, as the engine produces it. */
typedef struct KrRow {
    int64_t time;
    int64_t trigger;              /* time of the chain's trigger (event or boundary):
                                     with customer and rule it names the chain */
    KzZone *zone;                 /* the customer's zone at the trigger */
    uint32_t customer;            /* customer pool id */
    uint32_t rule;                /* image rule index */
    uint32_t channel;             /* image channel index */
    uint32_t attempt;             /* from 1 */
    uint32_t variant;             /* variant index, or KB_NONE */
    uint8_t action;               /* KR_ACT_* */
    uint64_t idkey[2];            /* the merge's (partition.c): the customer id's first
                                     16 bytes, big-endian, zero-padded; 0 elsewhere */
} KrRow;

/* Receives the rows, sorted (time, customer bytes, priority desc, rule
 * order).  Returns 0, or -1 to stop the run (a write error). */
typedef int (*KrEmit)(void *ctx, const KrRow *row);

/* Statistics per rule (KR_ST_*), summed over customers. */
enum {
    KR_ST_TRIGGERED = 0,          /* matching triggers (after `where`) */
    KR_ST_SENT,                   /* first attempts sent (action ask) */
    KR_ST_REMINDED,               /* reminders sent */
    KR_ST_TASKS,                  /* task rows */
    KR_ST_MOVED,                  /* sends moved by quiet hours */
    /* asks spared, by reason */
    KR_ST_COND,                   /* if/unless not satisfied (false or unknown) */
    KR_ST_CAP,                    /* a cap was full */
    KR_ST_YIELD,                  /* yielded to a higher-priority pending ask */
    KR_ST_OPTOUT,                 /* first attempt blocked by opt-out */
    KR_ST_CONSENT,                /* first attempt blocked: no consent */
    KR_ST_HOLDOUT,                /* customer in the experiment's holdout */
    KR_ST_HORIZON,                /* due after the horizon */
    KR_ST_KEEP,                   /* trigger ignored: one pending (keep) */
    KR_ST_RESTART,                /* pending ask cancelled by a new trigger (restart) */
    KR_ST_NOTIME,                 /* no allowed send time within 8 weeks */
    /* reminders not sent */
    KR_ST_REM_BLOCKED,            /* reminder skipped: opt-out or consent */
    KR_ST_REM_ANSWERED,           /* later attempts cancelled by a response */
    KR_ST__COUNT
};
typedef struct KrStats {
    uint64_t events;              /* events replayed */
    uint64_t customers;
    uint32_t nrules;
    uint64_t (*rule)[KR_ST__COUNT];   /* [nrules] */
} KrStats;

typedef struct KrEngineOpts {
    bool has_until;
    int64_t until;                /* no timer after it fires before finish */
    /* the horizon, when it is known before the events (--until, or the
     * partitioned replay's latest event): each customer's `every`
     * boundaries are bounded against it when the first is scheduled
     * (SPEC 9.3), not as they fire */
    bool has_horizon;
    int64_t horizon;
    /* the replay is cut (kr_engine_cut) at an event or timer after the
     * deadline: the run is known to fail then (kr_every_bound_first), and
     * a failure here could only come later */
    bool has_deadline;
    int64_t deadline;
    KrEmit emit; void *emit_ctx;
    /* explain: trace the decisions for one customer (NULL: none) */
    const char *explain_customer;
    const char *explain_rule;     /* NULL: every rule */
    bool explain_jsonl;
    FILE *explain_out;
    bool has_explain_from;
    int64_t explain_from;         /* story lines before it are not shown */
} KrEngineOpts;

typedef struct KrEngine KrEngine;
/* values: the run's value pool (image strings are interned into it). */
KrEngine *kr_engine_new(const KImage *img, KrPool *customers, KrPool *values,
                        const KrEngineOpts *opt);
/* Feeds one event (events in replay order).  0, or -1 (out of memory or
 * the emitter failed). */
int  kr_engine_event(KrEngine *e, const KrEvent *ev);
/* Fires every timer due at or before the horizon, flushes the last rows,
 * counts what is left as beyond the horizon.  0 or -1. */
int  kr_engine_finish(KrEngine *e, int64_t horizon);
/* kr_engine_finish for the customers fed so far, after which events of
 * customers not fed yet may follow, from any time (the clock starts
 * again): customers are independent (LANGUAGE.md section 4), so a replay
 * customer by customer, each from its first event to the horizon, sends
 * each the same as one in time order over all of them.  Rows then come
 * customer after customer.  0 or -1. */
int  kr_engine_finish_customers(KrEngine *e, int64_t horizon);
const KrStats *kr_engine_stats(const KrEngine *e);
/* Why kr_engine_event/finish failed when it was not memory or the emitter
 * (a limit of SPEC 9: too many `every` boundaries), else NULL. */
const char *kr_engine_error(const KrEngine *e);
/* The horizon, known before the first event (KrEngineOpts.horizon): for
 * a replay that learns it only once its reader has read every row. */
void kr_engine_set_horizon(KrEngine *e, int64_t horizon);
/* Whether the engine stopped at the deadline (KrEngineOpts) */
bool kr_engine_cut(const KrEngine *e);
/* The latest first event from which a customer's `every` boundaries up to
 * horizon pass KR_MAX_BOUNDARIES for a rule of img (SPEC 9.3: such a
 * customer stops the run at its first event), INT64_MIN when none can. */
int64_t kr_every_bound_first(const KImage *img, int64_t horizon);
/* explain: whether the explained customer appeared in the input; the
 * story's first lines (one per trigger, in words: what became of it and
 * why) written to out as text or JSON Lines (step "summary"); returns how
 * many. */
bool kr_engine_explained(const KrEngine *e);
int  kr_engine_summaries(const KrEngine *e, FILE *out);
/* Starts loading customer ci's state into the cache (a hint: the next
 * event is probably about ci). */
void kr_engine_prefetch(const KrEngine *e, uint32_t ci);
/* Whether trigger attribute read i (img->attr_reads[i]) names an attribute
 * that no replayed event of its rule's trigger kind carried, while at
 * least one event of that kind was replayed. */
bool kr_engine_attr_unseen(const KrEngine *e, uint32_t i);
/* Latest event time fed so far (INT64_MIN before the first). */
int64_t kr_engine_last_time(const KrEngine *e);
/* For summing kr_engine_attr_unseen over several engines (partition.c):
 * whether an event carried trigger attribute read i, and whether an event
 * of kind ev was replayed. */
bool kr_engine_attr_carried(const KrEngine *e, uint32_t i);
bool kr_engine_event_seen(const KrEngine *e, uint32_t ev);
/* Trigger attribute read i as its type (img->attr_reads[i].tag, not
 * KB_UNTYPED): the events of the rule's trigger kind that carried the
 * attribute, how many of them held a value of another type (which the
 * rule reads as unknown: SPEC 4.14), and the earliest such value as text
 * (ties: the byte-wise smallest text; the same whatever the order or the
 * buckets the events come in). */
enum { KR_TALLY_TEXT = 40 };
typedef struct KrTypeTally {
    uint64_t carried, other;
    int64_t first_time;           /* of the earliest value of another type; INT64_MAX: none */
    uint8_t first_tag;            /* its type (KB_NUM, KB_STR, KB_BOOL) */
    uint8_t first_len;            /* bytes of first */
    bool first_cut;               /* the value was longer than KR_TALLY_TEXT bytes */
    char first[KR_TALLY_TEXT];
} KrTypeTally;
/* kr_engine_type_tally: read i's tally (NULL for a read that takes any type). */
const KrTypeTally *kr_engine_type_tally(const KrEngine *e, uint32_t i);
/* A time as YYYY-MM-DDTHH:MM:SSZ (one past the last formattable second as
 * "after 9999-12-31T23:59:59Z"). */
void kr_fmt_time(int64_t t, char *buf, size_t n);
void kr_type_tally_merge(KrTypeTally *to, const KrTypeTally *from);
/* The tz values of identify events that name no time zone (SPEC 4.11: the
 * customer keeps the policy's zone), as a KrBadZones. */
enum { KR_BAD_ZONES = 8 };
typedef struct KrBadZones {
    uint64_t events;              /* identify events whose tz names no zone */
    uint32_t ids[KR_BAD_ZONES], n;   /* the smallest value pool ids among their names,
                                        ascending (the same whatever the order they come in) */
    bool more;                    /* more names than ids holds */
    uint64_t others;              /* identify events whose tz is a number or a boolean */
} KrBadZones;
const KrBadZones *kr_engine_bad_zones(const KrEngine *e);
/* Adds name id (and its events) to b; kr_bad_zones_merge adds all of from. */
void kr_bad_zone_add(KrBadZones *b, uint32_t id, uint64_t events);
void kr_bad_zones_merge(KrBadZones *b, const KrBadZones *from);
/* The warnings' verb phrase for n such events (simulate.c, report.c). */
static inline const char *kr_bad_zones_keep(uint64_t n)
{
    return n == 1 ? "its customer keeps" : "those customers keep";
}
void kr_engine_free(KrEngine *e);

#define KR_MEMORY_DEFAULT (512ull << 20)   /* --memory's default */

/* ---- partitioned replay (partition.c) ---------------------------------------

 * One pass routes the rows to customer buckets (customer pool id modulo the
 * bucket count), spilled to a temporary file past the memory budget; then
 * the buckets are replayed independently, each by its own engine, on
 * opt->jobs threads, and their rows merged into the schedule's order. */
typedef struct KpRun KpRun;
KpRun *kp_new(const KImage *img, const KrOptions *opt, KrPool *customers, KrPool *values);
/* With lanes (diff, readout, report: multi.c): pass 1 reads through reader
 * image u (kr_reader_image), pass 2 replays each bucket with one engine per
 * image imgs[0..n) (n <= KP_LANES), each record translated to that image's
 * indexes and kept attributes.  kp_new(img) is kp_new_lanes(img, &img, 1). */
#define KP_LANES 2
KpRun *kp_new_lanes(const KImage *u, const KImage *const *imgs, uint32_t n, const KrOptions *opt,
                    KrPool *customers, KrPool *values);
/* Before kp_read: fn sees every kept row in pass 1 (u's indexes, in input
 * order: files in command-line order, rows in file order; one thread); a
 * nonzero return stops the read as out of memory. */
void kp_on_row(KpRun *r, int (*fn)(void *ctx, const KrEvent *ev), void *ctx);
/* Pass 1: reads every input (ki_drain), with opt->progress a progress line
 * on err if a terminal.  0, or -1 after a message. */
int  kp_read(KpRun *r, KrInput *in, FILE *err);
/* Latest time of the rows kept (INT64_MIN: none). */
int64_t kp_last_time(const KpRun *r);
/* Bytes of records written to the temporary file so far, and the bucket count. */
uint64_t kp_spilled(const KpRun *r);
uint32_t kp_buckets(const KpRun *r);
/* The most bytes of record pages pass 1 held at once (at most the budget,
 * an eighth of opt->memory, plus the largest record; more only if the
 * temporary file could not be written), and the budget. */
size_t kp_buffered_peak(const KpRun *r);
size_t kp_budget(const KpRun *r);
/* After kp_replay: schedule rows that waited for the merge in the file. */
uint64_t kp_rows_spilled(const KpRun *r);
/* After kp_replay: runs of rows written while buckets were replayed (a
 * bucket's rows past the worker's share of the budget, SPEC 5.10). */
uint64_t kp_row_runs(const KpRun *r);
/* After kp_replay: runs the unsorted buckets too large to load were sorted
 * in (SPEC 5.10). */
uint64_t kp_sorted_runs(const KpRun *r);
/* After kp_replay: buckets replayed customer by customer as their records
 * lay (grouped by customer), and buckets that looked so but were not and
 * were sorted by customer first. */
void kp_bucket_modes(const KpRun *r, uint32_t *grouped, uint32_t *regrouped);
/* For tests: the shared customer pool's size from which pass 2 prefetches
 * the customers of the records ahead (UINT32_MAX: the default, 131,072). */
void kp_ahead_customers(uint32_t n);
/* For tests: rows a worker holds per lane before it writes a run, and runs
 * merged at once (0, 0: the defaults, from the budget, and 64). */
void kp_row_runs_force(size_t rows, uint32_t fanin);
/* For tests: the bytes of an unsorted bucket a worker loads whole, at most
 * (0: the default, an eighth of --memory over the workers). */
void kp_load_limit_force(size_t bytes);
/* Pass 2: replays every bucket up to horizon and hands the rows to emit in
 * the schedule's order (time, customer bytes, priority descending, rule
 * order, attempt).  0; -1 out of memory or an engine limit (kp_error);
 * -2 emit failed. */
int  kp_replay(KpRun *r, int64_t horizon, KrEmit emit, void *emit_ctx);
/* The same with lanes: lane k's rows go to emit[k], lane 0's first.  emit
 * NULL: the rows wait for kp_merge_open. */
int  kp_replay_lanes(KpRun *r, int64_t horizon, const KrEmit *emit, void *const *emit_ctx);
/* After kp_replay_lanes(r, horizon, NULL, NULL): lane's rows in the
 * schedule's order, pulled one at a time (diff walks two lanes' at once).
 * kp_merge_next: 1 and the row in *row; 0 at the end; -1 the temporary
 * file could not be read.  A lane is merged once, and closed before the
 * run is freed (it may read the run on a thread of its own).  NULL: out of
 * memory or an unreadable temporary file. */
typedef struct KpMerge KpMerge;
KpMerge *kp_merge_open(KpRun *r, uint32_t lane);
int  kp_merge_next(KpMerge *m, KrRow *row);
void kp_merge_close(KpMerge *m);
/* After kp_replay: the statistics summed over the buckets, and
 * kr_engine_attr_unseen's answer for the whole input. */
const KrStats *kp_stats(const KpRun *r);
const KrStats *kp_lane_stats(const KpRun *r, uint32_t lane);   /* kp_stats is lane 0's */
/* After kp_replay returned -1: the message of an engine limit (SPEC 9: of
 * the earliest failure: time of the event being replayed, or the horizon,
 * then the lowest bucket), or NULL (out of memory). */
const char *kp_error(const KpRun *r);
bool kp_attr_unseen(const KpRun *r, uint32_t i);
const KrTypeTally *kp_type_tally(const KpRun *r, uint32_t i);   /* kr_engine_type_tally's, summed */
const KrBadZones *kp_bad_zones(const KpRun *r);   /* lane 0's, summed over the buckets */
/* (simulate.c) The warning about them on err, after a run (nothing when
 * there were none); img: the policy whose zone they keep, or NULL (several
 * policies). */
void kr_bad_zones_warn(FILE *err, const KImage *img, const KrBadZones *b, const KrPool *values);
void kp_free(KpRun *r);

/* ---- one read, several engines (multi.c) ---------------------------------- */

/* The reader image of policies imgs[0..n): the union of their event and
 * attribute names (imgs[0]'s first, same indexes), each event keeping what
 * some policy keeps, plus extra_trait (may be NULL) as a trait.  Only the
 * name tables, retention and traits are filled: for ki_open and lookups
 * (kb_find_event/kb_find_attr), never for an engine.  NULL: out of memory. */
KImage *kr_reader_image(const KImage *const *imgs, uint32_t n, const char *extra_trait);
void    kr_reader_image_free(KImage *u);

#define KR_MULTI_MAX KP_LANES
typedef struct KrMulti {
    const KImage *imgs[KR_MULTI_MAX]; uint32_t nimgs;
    KrEmit emit[KR_MULTI_MAX]; void *emit_ctx[KR_MULTI_MAX];
    /* every event, in the reader image's indexes, as pass 1 reads it (in
     * input order, not time order; before any row is emitted) (may be
     * NULL); nonzero stops the run (out of memory) */
    int (*on_event)(void *ctx, const KrEvent *ev);
    void *event_ctx;
    /* after a successful run, before the engines are freed (may be NULL):
     * engine k's statistics, the horizon, the rows skipped, the tz names
     * that are no time zone (report) */
    void (*on_finish)(void *ctx, uint32_t k, const KrStats *st, int64_t horizon, uint64_t skipped,
                      const KrBadZones *badz);
    /* if not NULL, instead of the emitters: called once the buckets are
     * replayed, to pull the rows itself (kp_merge_open); 0, -1 (out of
     * memory: said here), or -2 (a failure the caller tells) */
    int (*pull)(void *ctx, KpRun *run);
    void *pull_ctx;
} KrMulti;
/* Reads opt's inputs once through reader image u and replays them through
 * one engine per image, partitioned (kp_new_lanes: opt->jobs threads,
 * opt->memory): each image's rows reach its emitter in the schedule's
 * order, image 0's first (horizon as kr_simulate), or to m->pull.  0, or 1
 * after a message. */
int kr_multi_run(const KrMulti *m, const KImage *u, const KrOptions *opt, KrPool *customers,
                 KrPool *values, FILE *err);

/* ---- the readout as a collector (readout.c; used by report.c) -------------- */

/* One row of the readout's csv form: a (rule, variant) with asks. */
typedef struct KrReadoutArm {
    uint32_t rule, variant;       /* image indexes; variant KB_NONE without variants */
    uint64_t asks, answered;
    double low, high;             /* Wilson 95 % interval of answered / asks */
} KrReadoutArm;
typedef struct KrReadoutRun KrReadoutRun;
/* A readout of img fed by a kr_multi_run over reader image u with value
 * pool values: pass kr_readout_emit as img's emitter (ctx: the run),
 * kr_readout_event as the multi's event hook.  It keeps up to budget bytes
 * of sends and responses in memory, the rest in a temporary file
 * (kr_sort_budget).  NULL: out of memory. */
KrReadoutRun *kr_readout_begin(const KImage *img, const KImage *u, const KrReadoutOptions *ropt, KrPool *values,
                               uint64_t budget);
int  kr_readout_emit(void *ctx, const KrRow *row);
int  kr_readout_event(void *ctx, const KrEvent *ev);
/* After the run: attributes the responses; *arms (malloc'd, *narms) in the
 * csv form's order.  0, or -1 out of memory. */
int  kr_readout_end(KrReadoutRun *r, KrReadoutArm **arms, size_t *narms, uint64_t *responses, uint64_t *attributed);
void kr_readout_free(KrReadoutRun *r);

/* Contact pressure (stats.c), for diff and report: the most asks each
 * customer got in any window (t - w, t], the asks given in time order (a
 * schedule's rows): memory for the asks inside one window and two counts
 * per customer, not for every ask.  Start from {.w = w}; kr_pressure_add:
 * 0, or -1 out of memory; kr_pressure_each calls fn once per customer with
 * asks, in id order. */
typedef struct KrAskRef { uint32_t cust; int64_t time; } KrAskRef;
typedef struct KrPressure {
    int64_t w;
    uint32_t *cur, *best; size_t ncust;     /* [customer] asks in the window; most */
    KrAskRef *q; size_t head, len, cap;     /* the window's asks, a ring (cap a power of two) */
} KrPressure;
int  kr_pressure_add(KrPressure *p, uint32_t cust, int64_t t);
void kr_pressure_each(const KrPressure *p, void (*fn)(void *arg, uint32_t cust, uint32_t most), void *arg);
void kr_pressure_free(KrPressure *p);

/* Values counted by value (stats.c), for quantiles of many values that take
 * few distinct ones (diff's shifts, readout's times to response): memory
 * for the distinct values, not for each.  Start from {0}; kr_tally_add: 0,
 * or -1 out of memory; kr_tally_quantile: the nearest rank, as kt_quantile
 * (0 when empty), after which nothing more may be added. */
typedef struct KrTallyEnt { int64_t v; uint64_t n; } KrTallyEnt;
typedef struct KrTally {
    KrTallyEnt *e; size_t n, cap;           /* open addressing (n == 0: empty; cap a power of
                                               two), then sorted in [0, n) once frozen */
    uint64_t total;
    bool frozen;
} KrTally;
int     kr_tally_add(KrTally *t, int64_t v);
int64_t kr_tally_quantile(KrTally *t, double q);
void    kr_tally_free(KrTally *t);

/* Fixed-size records sorted within a memory budget (extsort.c): past the
 * budget the records so far are sorted and written to an unlinked
 * temporary file (NAME-XXXXXX) as a run, and the runs are merged at the
 * end; when no temporary file can be written, memory grows past the
 * budget instead.  cmp must be a total order.  kr_sort_slot: room for one
 * more record, which the caller fills, or NULL (out of memory);
 * kr_sort_finish: 0, or -1; then kr_sort_next: each record in order,
 * through out (room for one) or in place, valid until the next call; NULL
 * at the end or on an error (kr_sort_failed). */
typedef struct KrSort KrSort;
KrSort     *kr_sort_new(size_t size, int (*cmp)(const void *, const void *), size_t budget, const char *name);
void       *kr_sort_slot(KrSort *s);
int         kr_sort_finish(KrSort *s);
const void *kr_sort_next(KrSort *s, void *out);
bool        kr_sort_failed(const KrSort *s);
uint64_t    kr_sort_spilled(const KrSort *s);    /* records written to the temporary file */
/* The budget of a command's KrSort: an eighth of --memory, 4 MiB at most. */
uint64_t    kr_sort_budget(const KrOptions *opt);
void        kr_sort_free(KrSort *s);

/* ---- text writers for diff and readout (textout.c) ------------------------ */

/* YYYY-MM-DDTHH:MM:SSZ as the schedule writes it; returns the length. */
size_t kt_time(int64_t t, char *buf, size_t n);
void   kt_csv_field(FILE *f, const char *s, size_t n);   /* RFC 4180 quoting as needed */
void   kt_json_str(FILE *f, const char *s, size_t n);
void   kt_md_text(FILE *f, const char *s, size_t n);     /* Markdown-escaped */
void   kt_duration(FILE *f, int64_t s, bool sign);       /* 1d2h, -30m, 0s (+1d2h with sign) */
/* Nearest-rank quantile (sorts v); 0 when n == 0. */
int64_t kt_quantile(int64_t *v, size_t n, double q);
int64_t kt_median(int64_t *v, size_t n);

/* ---- per-customer state (replay.c; the VM reads it only through hist.h) ---- */

/* Kept events of one kind for one customer (only what the image's
 * retention table asks for).  Records of (1 + nattrs) cells: cell 0's .i is
 * the event time, then the values of retention[e].attrs in that order
 * (tag KB_UNKNOWN when absent).  Live records: [head, n). */
struct KrHist {
    KrValue *cells;               /* room for a power of two of records, at least
                                     max(n, 4) (1 when only the last is kept) */
    uint64_t total;               /* every event of the kind so far */
    uint32_t head, n;             /* in records */
    KrCountMemo *memo;            /* [KvEnv.memo_count of the kind], then (in the same
                                     allocation) its KrAggMemo [KvEnv.agg_off[e + 1] -
                                     agg_off[e]], or NULL until a count or an aggregate
                                     reads one (hist.h, kr_hist_memo, kr_hist_agg_memo) */
};

/* count(E where F), F reading only the counted event (vm.c, op_count):
 * F's truth for the kept events of E numbered base .. base + n - 1 (an
 * event's number: the kind's events before it, KrHist.total then) as
 * running counts, pref[i] the events among the first i for which F is
 * true (pref[0] = 0; pref has cap entries). */
struct KrCountMemo {
    uint64_t base;
    uint32_t n, cap;
    uint32_t *pref;
};

/* sum/avg/min/max(E.A within W) (vm.c, op_agg), one per attribute A of E
 * that the policy aggregates: for the kept events of E numbered base ..
 * base + n - 1, running figures c[i] over the first i of them (c has
 * cap + 1 entries; the counters wrap: only differences are read): how
 * many held a number, how many a -0 (min and max then look one by one:
 * which zero wins depends on the order), how many a number that is not a
 * whole one of at most 2^40 (sum and avg then add one by one: the order of
 * the additions could change the sum), and of the others their sum and
 * the sum of their magnitudes; and per block of 64 events from base the
 * least and greatest number (+inf and -inf when none). */
typedef struct KrAggCell { uint32_t num, negz, inexact, pad; uint64_t isum, abs; } KrAggCell;
struct KrAggMemo {
    uint64_t base;
    uint32_t n, cap;
    KrAggCell *c;
    double *bmin, *bmax;          /* [cap / 64 + 1] */
};

/* A first attempt that was sent (asks only). */
typedef struct KrSent { int64_t time; uint32_t rule, channel; } KrSent;

typedef struct KrSlot KrSlot;     /* per (customer, rule): replay.c */

/* One customer.  The engine keeps the record and its KrHist array
 * together (hist points right behind the record) in blocks (no malloc per
 * customer).  slots: the rules with a pending chain (and every-rules), a
 * list in creation order, in the engine's slab (replay.c). */
typedef struct KrCust KrCust;

/* A kind only counted over all time (count(E) with no window, no last
 * event read) has no KrHist: hist_of[e] is KR_COUNTED | k, and the total
 * is kr_cust_totals(c)[k], in the engine's customer record right after the
 * KrCust (before its KrHist array). */
#define KR_COUNTED 0x80000000u

struct KrCust {
    int64_t first;                /* time of the customer's first event */
    uint64_t optout;              /* channels opted out of */
    uint64_t consent;             /* channels with consent granted */
    KzZone *zone;                 /* the customer's zone now */
    KrValue *traits;              /* [img->ntraits], or NULL (all unknown) */
    KrHist *hist;                 /* [engine's kept kinds], or NULL */
    KrSent *sent;
    KrSlot *slots;
    uint32_t sent_head, nsent, capsent;
    uint32_t gen;                 /* last generation handed out to a timer of this customer */
};

static inline uint64_t *kr_cust_totals(const KrCust *c)
{
    return (uint64_t *)(uintptr_t)(c + 1);
}


/* ---- the VM (vm.c) -------------------------------------------------------- */

/* A set of attribute values: ids[i] (image attribute index) has vals[i]. */
typedef struct KvAttrs { uint32_t n; const uint32_t *ids; const KrValue *vals; } KvAttrs;

/* What stays the same for a whole run. */
typedef struct KvEnv {
    const KImage *img;
    const KrPool *values;
    const uint32_t *strval;       /* image string index -> value pool id */
    const uint32_t *hist_of;      /* event index -> index in KrCust.hist, KB_NONE, or
                                     KR_COUNTED | k (see kr_cust_totals): read by
                                     hist.h's kr_hist_*, not by the VM itself */
    uint32_t ev_response;         /* event index of `response` (KB_NONE if absent) */
    uint32_t response_survey;     /* position of "survey" in retention[response].attrs, or KB_NONE */
    /* count(E where F) with F reading only the counted event (kv_count_memos):
     * memo_slot[F] its place in the customer's KrHist.memo of E, KB_NONE
     * for any other function; memo_count[E] how many E has */
    const uint32_t *memo_slot, *memo_count;
    /* responded(S within W) (kv_responded_memos): resp_slot[S] the place
     * of S's memo among the count memos of `response` (the responses that
     * name S, counted as a count(response where survey == S) would be),
     * KB_NONE for a survey no responded() reads; NULL: none */
    const uint32_t *resp_slot;
    /* sum/avg/min/max(E.A within W) (kv_agg_memos): the attributes of E
     * aggregated, agg_attr[agg_off[E] .. agg_off[E + 1]], each one's place
     * among E's KrAggMemo; NULL: none kept */
    const uint32_t *agg_off, *agg_attr;
} KvEnv;

/* One evaluation: the customer, the send time (or trigger time), the zone,
 * the current event (trigger, or the counted event inside COUNT's where)
 * and the trigger event's kept attributes. */
typedef struct KvCtx {
    const KvEnv *env;
    const KrCust *cust;
    int64_t now;
    KzZone *zone;
    KvAttrs cur, trig;
    int depth;                    /* nesting of where-functions (internal) */
    struct KvMemo *memo;          /* history values of one top-level evaluation (internal) */
    /* explain (NULL otherwise): tvals[i]/tseen[i] get the value produced by
     * the instruction at code word i of the top-level function (ke_begin) */
    KrValue *tvals;
    uint8_t *tseen;
} KvCtx;

/* Runs function fn; its value in *out.  0, or -1 if the code is malformed
 * (out is unknown then; cannot happen with verified code). */
int kv_eval(const KvCtx *ctx, uint32_t fn, KrValue *out);
/* 1 for true, 0 for false, -1 for unknown (or a non-boolean). */
int kv_truth(const KrValue *v);
/* The where-functions F of img's `COUNT e F w` instructions that read only
 * the counted event (its attributes, constants and pure operations: not
 * now, the trigger, the customer or a history), each counting one kind
 * only: slot[F] (img->nfuncs entries) their place among their kind's,
 * count[e] (img->nevents entries) how many a kind has; KB_NONE and 0
 * elsewhere.  Such an F is true or not of an event for good, so a count
 * keeps its results (KrCountMemo). */
void kv_count_memos(const KImage *img, uint32_t *slot, uint32_t *count);
/* The surveys img's `RESPONDED s w` instructions read, each given a count
 * memo of the `response` kind (event index ev_response) after those of
 * kv_count_memos: slot[s] (img->nsurveys entries) its place, count[] as
 * kv_count_memos left it, grown; KB_NONE elsewhere. */
void kv_responded_memos(const KImage *img, uint32_t ev_response, uint32_t *slot, uint32_t *count);
/* The attributes each event kind is aggregated by (KvEnv.agg_off, agg_attr;
 * *off has img->nevents + 1 entries; the caller frees both): 0, or -1 out
 * of memory. */
int kv_agg_memos(const KImage *img, uint32_t **off, uint32_t **attr);
/* Coerces a stored attribute value to an expected tag (KB_UNTYPED: as is). */
KrValue kv_coerce(const KvEnv *env, KrValue v, uint8_t tag);

/* ---- the values behind a condition (explain.c) ---------------------------- */

/* For `kairos explain`: the text of each sub-expression of a condition,
 * recovered from its bytecode, with the value it had in a traced run. */
typedef struct KeTrace KeTrace;
KeTrace *ke_new(const KImage *img, const KrPool *values);
void     ke_free(KeTrace *t);
/* Makes the next kv_eval(ctx, fn) record its values (t may be NULL: then
 * ctx is left untraced).  Clear ctx->tvals/tseen afterwards. */
void     ke_begin(KeTrace *t, KvCtx *ctx, uint32_t fn);
/* Called per sub-expression, depth-first from the whole condition (depth
 * 0): its text and its value as text and as a value, or value NULL when
 * it was not evaluated (short-circuit).  expr NULL: more lines were left
 * out.  Constants are not listed. */
typedef void (*KeEmit)(void *arg, int depth, const char *expr, const char *value_text,
                       const KrValue *value);
/* Lists the values of function fn's last traced run; returns the number of
 * lines (0 when the code does not decompile). */
int      ke_walk(KeTrace *t, uint32_t fn, KeEmit emit, void *arg);
/* For explain's first line: the condition of function fn as the author
 * wrote it (a let by its name) in cond, and why it had its value in why:
 * "LET = EXPANSION = VALUES" for a let ("open_ticket = count(a) > count(b)
 * = 1 > 0"), else the condition with its operands' values ("1 > 0"), or ""
 * when that says nothing more.  From the last traced run of fn. */
void     ke_describe(KeTrace *t, uint32_t fn, char *cond, size_t cn, char *why, size_t wn);
/* A duration as policies write it ("30d", "24h", "1h30m"). */
void     ke_dur(int64_t s, char *out, size_t n);

/* ---- schedule output (output.c) ------------------------------------------- */

typedef struct KoWriter KoWriter;
/* Opens the schedule writer on f (NULL: standard output).  fresh: f is a
 * new file of the caller's, emptied here and written as rows come; else the
 * rows are held back and written to f by ko_close(w, true) only, so a failed
 * run writes nothing.  name names f in messages.  NULL after a message. */
KoWriter *ko_open(FILE *f, bool fresh, const char *name, KrOutFormat fmt, const KImage *img,
                  const KrPool *customers, FILE *err);
/* A writer of bytes as they are given (kr_diff's CSV rows), to f as ko_open's:
 * held back unless fresh, written out by ko_close(w, true) only. */
KoWriter *ko_open_bytes(FILE *f, bool fresh, const char *name, FILE *err);
/* n bytes at p.  0, or -1 on a write error (message printed by ko_close). */
int ko_bytes(KoWriter *w, const char *p, size_t n);
/* Writes one row.  0, or -1 on a write error (message printed by ko_close). */
int ko_row(KoWriter *w, const KrRow *row);
/* ok: writes what was held back and flushes; else drops it.  Returns 0, or
 * -1 after printing "NAME: error: write error: REASON" ("kairos: error writing
 * standard output: REASON", and the stream's error flag cleared, for
 * standard output).  Never closes f. */
int ko_close(KoWriter *w, bool ok);
/* KrEmit adapter: ctx is a KoWriter. */
int ko_emit(void *ctx, const KrRow *row);
/* Whether a write error happened (ko_close(w, true) then prints it). */
bool ko_failed(const KoWriter *w);

#endif
