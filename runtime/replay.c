/* replay.c -- the replay engine (kr_engine_*): LANGUAGE.md section 4.
 *
 * The engine takes events one at a time, in replay order, and keeps, per
 * customer, only what the image can read (KrCust, internal.h): kept events
 * per the retention table, traits, zone, opt-out and consent masks, the
 * sends a cap or asked() can still see, and one slot per (customer, rule)
 * with the pending ask (or task) and, for `every` rules, the next boundary.
 *
 * Time: before an event at T is applied, every timer due before T fires;
 * timers due at T fire after all events at T (when time moves on, or at
 * kr_engine_finish).  Timers live in a binary min-heap keyed by (due, kind
 * (boundaries before asks), priority descending, rule order, customer); a
 * cancelled ask is dropped lazily: its generation no longer matches its
 * slot's.  Send times (at windows, quiet hours, best_time, every boundaries)
 * are computed by sendtime.c.
 *
 * Rows of one instant are buffered and sorted (customer bytes, priority
 * descending, rule order, attempt) before they go to the emitter.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "hist.h"
#include "../lang/util.h"


enum { TK_BOUNDARY = 0, TK_ATTEMPT = 1 };
/* What becomes of a trigger, an attempt or a chain: each is decided once,
 * as one of these, and reported by record() alone (see "decisions"). */
typedef enum KrDecision {
    KR_D_PASS = 0,                /* a check that lets the attempt through */
    /* an event of a rule's trigger kind (SPEC 4.4) */
    KR_D_WHERE_HELD,              /* `where` was true: a trigger */
    KR_D_WHERE_FAILED,            /* `where` false or unknown: no trigger */
    /* a trigger (SPEC 4.4) */
    KR_D_HOLDOUT,                 /* the customer is in the holdout: nothing pending */
    KR_D_KEEP,                    /* ignored: a chain is pending (on retrigger keep) */
    KR_D_RESTART,                 /* the pending chain is cancelled (on retrigger restart) */
    KR_D_PENDING,                 /* the chain is pending, its first attempt due */
    KR_D_PAST_TIME_MAX,           /* due after 9999-12-31T23:59:59Z: beyond any horizon */
    KR_D_NO_TIME,                 /* `at` and quiet hours allow no send time */
    /* an attempt that is due (SPEC 4.6; the order is send_checks') */
    KR_D_IF_HELD,                 /* `if` was true: the checks go on */
    KR_D_IF_FAILED,               /* `if` false or unknown: dropped with its attempts */
    KR_D_UNLESS_HELD,             /* `unless` was false: the checks go on */
    KR_D_UNLESS_FAILED,           /* `unless` true or unknown: dropped with its attempts */
    KR_D_TASK,                    /* a task row */
    KR_D_SKIP_OPTOUT,             /* the attempt is skipped: opted out of its channel */
    KR_D_SKIP_CONSENT,            /* the attempt is skipped: no consent on its channel */
    KR_D_REMIND,                  /* a later sent attempt (remind row) */
    KR_D_CAPPED,                  /* dropped with its attempts: a cap is full */
    KR_D_YIELDED,                 /* dropped with its attempts: a higher-priority ask is pending */
    KR_D_SENT,                    /* the ask's first sent attempt (ask row) */
    /* the chain after an attempt (SPEC 4.7), a response, the horizon (4.10) */
    KR_D_NEXT,                    /* the next attempt is due */
    KR_D_NEXT_NO_TIME,            /* the next attempt has no allowed send time: the chain ends */
    KR_D_ALL_SKIPPED,             /* the attempts ran out and none was sent */
    KR_D_ANSWERED,                /* a response cancelled the later attempts */
    KR_D_HORIZON,                 /* due after the horizon, nothing sent yet */
} KrDecision;
enum { ZONE_CACHE = 64 };

/* A slot lives only while its rule has a pending chain for the customer
 * (every-rules: for good; the explained customer: for good too, so that
 * its story lists rules in first-trigger order).  Slots of rule r are
 * slot_size(e, r) bytes in the engine's slab: the trigger's kept attributes
 * follow the record.  Generations come from the customer's counter
 * (KrCust.gen), so a slot made again for the same rule never takes the
 * generation of a stale timer. */
struct KrSlot {
    KrSlot *next;                 /* the customer's next slot (NULL: the last) */
    KrSlot *prev;                 /* its previous slot; the first slot's is the last */
    int64_t due;                  /* due time of the next attempt */
    int64_t every_last;           /* last boundary fired, or INT64_MIN */
    int64_t trig;                 /* time of the pending chain's trigger */
    KzZone *zone;                 /* the customer's zone at trigger time */
    uint32_t rule;
    uint32_t attempt;             /* index of the next attempt */
    uint32_t variant;             /* variant index or KB_NONE */
    uint32_t gen;                 /* generation of the pending chain */
    uint32_t every_gen;           /* generation of the pending boundary timer */
    bool pending;                 /* an ask/task chain is pending */
    bool moved;                   /* the next attempt was moved by quiet hours */
    bool sent;                    /* an attempt of the pending chain was sent (asks:
                                     its first sent attempt counted; tasks: a row) */
    uint8_t blocked;              /* before any sent attempt: why the first skipped
                                     attempt was skipped (KR_D_SKIP_*), else KR_D_PASS */
    bool queued;                  /* in KrEngine.idle, to be looked at by release_idle */
    uint32_t nlist;               /* the customer's first slot: how many slots it has */
    KrValue tattrs[];             /* [tattr_n[rule]]: the trigger's kept attributes
                                     (retention order) */
};

/* A timer: 24 bytes.  key = kind << 63 | rank << 32 | customer, rank being
 * the rule's position in (priority descending, declaration order); two
 * timers never tie on (due, key) unless one is stale. */
typedef struct KrTimer {
    int64_t due;
    uint64_t key;
    uint32_t gen, attempt;
} KrTimer;

#define TIMER_KEY(kind, rank, cust) (((uint64_t)(kind) << 63) | ((uint64_t)(rank) << 32) | (cust))
#define TIMER_KIND(t) ((int)((t)->key >> 63))
#define TIMER_CUST(t) ((uint32_t)(t)->key)
#define TIMER_RANK(t) ((uint32_t)((t)->key >> 32) & 0x7fffffffu)

/* explain: what became of one trigger of the explained customer, in
 * words, for the story's first lines. */
typedef struct KrSum {
    int64_t t;                    /* trigger time */
    uint32_t rule;
    bool open;                    /* nothing settled yet */
    char text[640];               /* the outcome */
    char skips[256];              /* attempts skipped before any was sent */
} KrSum;

/* A `where` of the form ATTRIBUTE RELATION CONSTANT (TATTR or ATTR a t;
 * CONST k; EQ..GE; RET), recognised when the engine is made: evaluated
 * without the VM, with the VM's own coercion and kval_relation, so the
 * result is the same (op 0: not of this form). */
typedef struct WhereFast {
    uint32_t op, attr;
    uint8_t tag;
    KrValue k;
} WhereFast;

typedef struct RowKey {
    KrRow row;
    const char *cs; size_t clen;  /* customer id bytes */
    int32_t prio;
} RowKey;

struct KrEngine {
    const KImage *img;
    KrPool *customers, *values;
    KrEngineOpts opt;
    KvEnv env;
    uint32_t *strval;             /* image string -> value pool id */
    uint32_t *hist_of;            /* event -> hist index, KB_NONE or KR_COUNTED | total index */
    uint32_t *memo_slot, *memo_count;   /* KvEnv's: count(E where F) memos (kv_count_memos) */
    uint32_t *resp_slot;                /* KvEnv's: responded(S) memos (kv_responded_memos) */
    uint32_t *agg_off, *agg_attr;       /* KvEnv's: aggregate memos (kv_agg_memos) */
    uint32_t nkept, ncounted;     /* KrHist and totals per customer */
    uint32_t *chan_val;           /* channel -> value pool id of its name */
    uint64_t *vhash;              /* rule -> FNV-1a state after "POLICY/RULE/" */
    uint32_t *by_event, *by_event_off;   /* after-rules per event: [off[e], off[e+1]) */
    uint32_t *every, nevery;      /* every-rules */
    uint32_t *rank, *rank_rule;   /* rule -> timer rank and back */
    uint32_t *tattr_n;            /* rule -> kept attributes of its trigger event */
    WhereFast *wfast;             /* rule -> its where's fast form, if it has one */
    /* slots: bump-allocated from chunks of SLAB_CHUNK bytes, released ones
     * on a free list per rule (slots of one rule all have one size) */
    char **slab; uint32_t nslab, capslab;
    char *slab_cur; size_t slab_left;
    KrSlot **free_slot;           /* [nrules] */
    /* slots that may have gone idle since the last release_idle (a chain
     * ended, or a trigger left its new slot idle): release_idle looks at
     * these alone, not at all the customer's slots */
    struct IdleSlot { KrSlot *s; uint32_t ci; } *idle;
    uint32_t nidle, capidle;
    /* the slots of customers with more than SLOT_MAP_AT, by (customer,
     * rule): open addressing, linear probes, s NULL when free */
    struct SlotEnt { uint64_t key; KrSlot *s; } *smap;
    size_t smap_cap, smap_n;
    int64_t sent_keep;            /* sends older than now - sent_keep can go */
    uint64_t quiet_mask;          /* channels some quiet window covers */
    KzZone *policy_zone;
    uint32_t ev_identify, ev_response, ev_opt_out, ev_opt_in, ev_grant, ev_revoke;
    uint32_t a_tz, a_channel, a_survey;
    /* zone names seen in identify events: value id -> kz_zone (zone_of) */
    uint32_t zc_id[ZONE_CACHE];
    KzZone *zc_zone[ZONE_CACHE];
    KrBadZones badz;              /* tz values that name no zone */

    /* customers: ncusts records of cstride bytes, a KrCust followed by its
     * ncounted uint64_t totals and its nkept KrHist (kept together: one
     * cache miss per event, not three), in
     * blocks of CUST_BLOCK records that never move (no copying, and at most
     * one block of slack instead of half the array) */
    char **blocks; uint32_t nblocks, capblocks, ncusts; size_t cstride;
    KrTimer *heap; size_t nheap, capheap;
    size_t heap_mark;             /* compact the heap when it reaches this size */
    int64_t last_time;            /* latest event time so far */

    RowKey *rows; size_t nrows, caprows;
    int64_t rows_time;
    bool failed, cut;             /* cut: at the deadline (past_deadline) */
    char errmsg[512];             /* why the run stopped (not out of memory), or "" */

    KrStats stats;

    /* trigger attributes read (img->attr_reads): which an input event carried */
    uint8_t *ar_carried;          /* [nattr_reads] */
    uint32_t *ar_open;            /* event -> reads of it not carried yet */
    KrTypeTally *ar_types;        /* [nattr_reads]: of the reads with a type */
    uint32_t *ty_off, *ty_reads;  /* event -> ty_reads[ty_off[ev] .. ty_off[ev + 1]):
                                     the reads with a type of rules it triggers, one of
                                     each attribute and type */
    uint32_t *ty_same;            /* [nattr_reads]: the read counted for this one, KB_NONE
                                     for a read that takes any type or of an `every` rule */
    bool *ev_seen;                /* event -> an event of the kind was replayed */

    /* explain */
    uint32_t explain_id;          /* customer pool id once seen, else KB_NONE */
    uint32_t explain_rule;        /* KB_NONE: all */
    KeTrace *ke;                  /* sub-expression values (explain only) */
    int rule_width;               /* explain text: width of the rule column */
    int step_width;               /* ... and of the step column */
    KrSum *sums; uint32_t nsums, capsums;   /* one per trigger (explain_first) */
    uint32_t *sum_cur;            /* [nrules]: the summary of the rule's current chain */
};

/* ---- small helpers ------------------------------------------------------- */

static const char *sname(const KImage *img, uint32_t si)
{
    return si < img->nstrings ? img->strings[si] : "?";
}

static uint64_t chan_bit(uint32_t ch) { return ch < 64 ? 1ULL << ch : 0; }

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Window start (exclusive) of (now - w, now]; KB_FOREVER: everything. */
static int64_t win_lo(int64_t now, int64_t w)
{
    if (w == KB_FOREVER || w < 0) return INT64_MIN;
    int64_t r;
    if (__builtin_sub_overflow(now, w, &r)) return INT64_MIN;
    return r;
}

/* A time as YYYY-MM-DDTHH:MM:SSZ; one past 9999-12-31T23:59:59Z (a
 * saturated `time + duration`) is never formatted as a date: it reads
 * "after 9999-12-31T23:59:59Z" (no time before year 0000 reaches here:
 * inputs are range-checked and durations are not negative). */
void kr_fmt_time(int64_t t, char *buf, size_t n)
{
    if (t > KR_TIME_MAX || t < KR_TIME_MIN) {
        snprintf(buf, n, "%s", t > KR_TIME_MAX ? "after 9999-12-31T23:59:59Z" : "before 0000-01-01T00:00:00Z");
        return;
    }
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) { sod += 86400; days--; }
    int y, m, d;
    kz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
}

/* "2026-03-02T10:00:00Z (11:00 Mon local)" for explain. */
static void fmt_both(KzZone *z, int64_t t, char *buf, size_t n)
{
    static const char *const wd[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
    char u[40];
    kr_fmt_time(t, u, sizeof u);
    if (t > KR_TIME_MAX || t < KR_TIME_MIN) { snprintf(buf, n, "%s", u); return; }
    KzLocal l;
    kz_to_local(z, t, &l);
    snprintf(buf, n, "%s (%02d:%02d %s local)", u, l.hour, l.minute, wd[l.wday]);
}

static const char *rule_name(const KrEngine *e, uint32_t r)
{
    return r < e->img->nrules ? sname(e->img, e->img->rules[r].name) : "";
}

static const char *chan_name(const KrEngine *e, uint32_t ch)
{
    return ch < e->img->nchannels ? sname(e->img, e->img->channels[ch]) : "?";
}

#define CUST_BLOCK 1024u

static inline KrCust *cust_at(const KrEngine *e, uint32_t ci)
{
    return (KrCust *)(e->blocks[ci / CUST_BLOCK] + (size_t)(ci % CUST_BLOCK) * e->cstride);
}

/* ---- explain ------------------------------------------------------------- */

static bool tracing(const KrEngine *e, uint32_t ci, uint32_t ri)
{
    return e->opt.explain_out && ci == e->explain_id &&
           (e->explain_rule == KB_NONE || ri == KB_NONE || ri == e->explain_rule);
}

/* "2026-03-04" */
static void fmt_date(int64_t t, char *buf, size_t n)
{
    int64_t days = t / 86400;
    if (t % 86400 < 0) days--;
    int y, m, d;
    kz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
}

/* The summary of rule ri's current chain for the explained customer, or
 * NULL (not traced, none). */
static KrSum *sum_of(KrEngine *e, uint32_t ci, uint32_t ri)
{
    if (!tracing(e, ci, ri) || !e->sum_cur || ri >= e->img->nrules || e->sum_cur[ri] == KB_NONE)
        return NULL;
    return &e->sums[e->sum_cur[ri]];
}

/* A new summary for a trigger of rule ri at t; NULL when not traced. */
static KrSum *sum_new(KrEngine *e, uint32_t ci, uint32_t ri, int64_t t)
{
    if (!tracing(e, ci, ri) || !e->sum_cur || ri >= e->img->nrules) return NULL;
    if (e->nsums == e->capsums) {
        uint32_t nc = e->capsums ? e->capsums * 2 : 16;
        KrSum *ns = realloc(e->sums, nc * sizeof *ns);
        if (!ns) return NULL;
        e->sums = ns;
        e->capsums = nc;
    }
    KrSum *m = &e->sums[e->nsums];
    m->t = t;
    m->rule = ri;
    m->open = true;
    m->text[0] = m->skips[0] = '\0';
    e->sum_cur[ri] = e->nsums++;
    return m;
}

/* A text of cap bytes that vsnprintf cut: it ends on a whole character,
 * then "..." (the answers and the trace lines alike). */
static void mark_cut(char *buf, size_t cap)
{
    memcpy(buf + ku_utf8_cut(buf, cap - 4), "...", 4);
}

/* Sets (replace) or extends (!replace) the outcome of summary m. */
static void sum_say(KrSum *m, bool replace, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sum_say(KrSum *m, bool replace, const char *fmt, ...)
{
    if (!m) return;
    size_t at = replace ? 0 : strlen(m->text);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(m->text + at, sizeof m->text - at, fmt, ap);
    va_end(ap);
    m->open = false;
    if (w >= 0 && (size_t)w < sizeof m->text - at) return;
    mark_cut(m->text, sizeof m->text);
}

/* Adds "attempt K: WHY" to the skipped attempts of summary m (an ask none
 * of whose attempts was sent says them all). */
static void sum_skip(KrSum *m, uint32_t attempt, const char *why, const char *ch)
{
    if (!m) return;
    size_t at = strlen(m->skips);
    snprintf(m->skips + at, sizeof m->skips - at, "%sattempt %u: %s%s%s", at ? "; " : "", attempt, why,
             *ch ? " " : "", ch);
}

/* Why condition fn of rule ri stopped a trigger or an ask: "`if X` was
 * false (WHY)", into the summary. */
static void sum_cond(KrEngine *e, KrSum *m, const char *what, const char *kw, uint32_t fn, int tv,
                     int64_t t)
{
    if (!m) return;
    char cond[420], why[900], day[16];
    ke_describe(e->ke, fn, cond, sizeof cond, why, sizeof why);
    fmt_date(t, day, sizeof day);
    sum_say(m, true, "%s on %s \xe2\x80\x94 `%s %s` was %s%s%s%s", what, day, kw, cond,
            tv == 1 ? "true" : tv == 0 ? "false" : "unknown", *why ? " (" : "", why, *why ? ")" : "");
}

/* s as a JSON string, with its quotes (kt_json_str: the one JSON string
 * writer). */
static void put_json_chars(FILE *o, const char *s) { kt_json_str(o, s, strlen(s)); }

/* The keys every explain object starts with, without the closing brace. */
static void trace_json_head(KrEngine *e, const char *ts, uint32_t ri, const char *step,
                            const char *detail)
{
    FILE *o = e->opt.explain_out;
    fprintf(o, "{\"time\":\"%s\",\"rule\":", ts);
    put_json_chars(o, ri == KB_NONE ? "" : rule_name(e, ri));
    fprintf(o, ",\"step\":\"%s\",\"detail\":", step);
    put_json_chars(o, detail);
}

/* put_shown -- s on a text line of explain: its control characters (C0,
 * DEL and C1: a line break in a customer id or a string value) as `?`, so
 * that an answer or a trace line is always one line, as kairos test prints
 * them (SPEC 4.15); JSON Lines carries them escaped. */
static void put_shown(FILE *o, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) putc('?', o);
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { putc('?', o); p++; }
        else putc(*p, o);
    }
}

/* One line of the customer's story: time, rule (or none), step, message. */
static void trace(KrEngine *e, uint32_t ci, int64_t t, uint32_t ri, const char *step,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void trace(KrEngine *e, uint32_t ci, int64_t t, uint32_t ri, const char *step,
                  const char *fmt, ...)
{
    if (!tracing(e, ci, ri) || t < e->opt.explain_from) return;
    char ts[40], msg[1024];
    kr_fmt_time(t, ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w >= (int)sizeof msg) mark_cut(msg, sizeof msg);
    FILE *o = e->opt.explain_out;
    if (e->opt.explain_jsonl) {
        trace_json_head(e, ts, ri, step, msg);
        fputs("}\n", o);
    } else {
        fprintf(o, "%s  %-*s %-*s ", ts, e->rule_width, ri == KB_NONE ? "-" : rule_name(e, ri), e->step_width, step);
        put_shown(o, msg);
        putc('\n', o);
    }
}

/* The value lines of one condition (step "value"): each sub-expression
 * with the value it had, indented by depth (text) or with keys expr,
 * value (JSON: number, string, boolean or null for unknown) and depth. */
typedef struct ValueLines {
    KrEngine *e;
    uint32_t ci, ri;
    int64_t t;
} ValueLines;

static void value_line(void *arg, int depth, const char *expr, const char *vtext, const KrValue *v)
{
    ValueLines *vl = arg;
    KrEngine *e = vl->e;
    if (vl->t < e->opt.explain_from) return;
    char detail[1024];
    if (!expr) snprintf(detail, sizeof detail, "%*s(more values left out)", depth * 2, "");
    else snprintf(detail, sizeof detail, "%*s%s -> %s", depth * 2, "", expr, vtext ? vtext : "not evaluated");
    if (!e->opt.explain_jsonl) {
        trace(e, vl->ci, vl->t, vl->ri, "value", "%s", detail);
        return;
    }
    FILE *o = e->opt.explain_out;
    char ts[40];
    kr_fmt_time(vl->t, ts, sizeof ts);
    trace_json_head(e, ts, vl->ri, "value", detail + depth * 2);
    fputs(",\"expr\":", o);
    if (expr) put_json_chars(o, expr);
    else fputs("null", o);
    fputs(",\"value\":", o);
    if (!v || v->tag == KB_UNKNOWN) fputs("null", o);
    else if (v->tag == KB_BOOL) fputs(v->b ? "true" : "false", o);
    else if (v->tag == KB_NUM && isfinite(v->num)) fputs(vtext, o);
    else if (v->tag == KB_STR) {               /* the string itself, not its quoted text */
        size_t len = 0;
        const char *str = kr_pool_str(e->values, v->str, &len);
        kt_json_str(o, str ? str : "", str ? len : 0);
    } else put_json_chars(o, vtext ? vtext : "");
    fprintf(o, ",\"evaluated\":%s,\"depth\":%d}\n", v ? "true" : "false", depth);
}

/* Evaluates condition fn at ctx; when this customer and rule are being
 * explained, records the values of its sub-expressions for
 * explain_values.  1 true, 0 false, -1 unknown. */
static int eval_cond(KrEngine *e, uint32_t ci, uint32_t ri, KvCtx *ctx, uint32_t fn)
{
    KrValue v;
    if (e->ke && tracing(e, ci, ri)) ke_begin(e->ke, ctx, fn);
    kv_eval(ctx, fn, &v);
    ctx->tvals = NULL;
    ctx->tseen = NULL;
    return kv_truth(&v);
}

static const char *value_str(const void *ctx, uint32_t id, size_t *len)
{
    return kr_pool_str(ctx, id, len);
}

/* The where w of a trigger event at ev: 1 true, 0 false, -1 unknown, as
 * kv_eval would find (kv_coerce: a value keeps its tag or, of another tag,
 * is unknown; tag KB_TIME never takes this path). */
static int where_fast(const KrEngine *e, const WhereFast *w, const KrEvent *ev)
{
    KrValue a = { .tag = KB_UNKNOWN };
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (ev->attr_ids[i] == w->attr) {
            a = ev->attr_vals[i];
            if (w->tag != KB_UNTYPED && a.tag != w->tag) a.tag = KB_UNKNOWN;
            break;
        }
    if (a.tag == KB_UNKNOWN) return -1;
    if (a.tag == KB_STR && w->k.tag == KB_STR && (w->op == KB_OP_EQ || w->op == KB_OP_NE))
        return (a.str == w->k.str) == (w->op == KB_OP_EQ);   /* interned: equal ids, equal bytes */
    KValStrings ss = { value_str, e->values };
    KrValue r = kval_relation((KbOp)w->op, &a, &w->k, &ss);
    return kval_truth(&r);
}

/* Recognises rule ri's where as a WhereFast (see there), or leaves op 0. */
static void where_fast_init(KrEngine *e, uint32_t ri)
{
    const KImage *img = e->img;
    const KbRule *r = &img->rules[ri];
    WhereFast *w = &e->wfast[ri];
    if (r->where_fn == KB_NONE || r->where_fn >= img->nfuncs) return;
    const KbFunc *f = &img->funcs[r->where_fn];
    if (f->len != 7 || f->start > img->ncode || img->ncode - f->start < 7) return;
    const uint32_t *c = img->code + f->start;
    if ((c[0] != KB_OP_TATTR && c[0] != KB_OP_ATTR) || c[3] != KB_OP_CONST || c[6] != KB_OP_RET) return;
    if (c[5] < KB_OP_EQ || c[5] > KB_OP_GE || c[4] >= img->nconsts) return;
    uint8_t tag = (uint8_t)c[2];
    if (tag != KB_UNTYPED && tag != KB_NUM && tag != KB_STR && tag != KB_BOOL) return;
    const KbConst *k = &img->consts[c[4]];
    if (k->tag == KB_NUM) w->k = kval_num(k->num);
    else if (k->tag == KB_BOOL) w->k = kval_bool(k->b);
    else if (k->tag == KB_STR && k->str < img->nstrings) w->k = (KrValue){ .tag = KB_STR, .str = e->strval[k->str] };
    else return;
    w->attr = c[1];
    w->tag = tag;
    w->op = c[5];
}

/* Prints the value lines of the condition fn evaluated last by eval_cond. */
static void explain_values(KrEngine *e, uint32_t ci, int64_t t, uint32_t ri, uint32_t fn)
{
    if (!e->ke || !tracing(e, ci, ri)) return;
    ValueLines vl = { e, ci, ri, t };
    ke_walk(e->ke, fn, value_line, &vl);
}

/* ---- timers -------------------------------------------------------------- */

static inline bool timer_before(const KrTimer *a, const KrTimer *b)
{
    return a->due < b->due || (a->due == b->due && a->key < b->key);
}

static int cmp_timer(const void *a, const void *b)
{
    return timer_before(a, b) ? -1 : timer_before(b, a) ? 1 : 0;
}

/* Puts t at hole i of the heap, moving earlier-due parents down. */
static void sift_up(KrEngine *e, size_t i, KrTimer t)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&t, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = t;
}

static void heap_compact(KrEngine *e);
#define HEAP_COMPACT_MIN 4096     /* no compaction below this many timers */

static int heap_push(KrEngine *e, KrTimer t)
{
    if (e->nheap >= HEAP_COMPACT_MIN && e->nheap >= e->heap_mark) heap_compact(e);
    if (e->nheap == e->capheap) {
        size_t nc = e->capheap ? e->capheap * 2 : 1024;
        KrTimer *nh = realloc(e->heap, nc * sizeof *nh);
        if (!nh) return -1;
        e->heap = nh;
        e->capheap = nc;
    }
    sift_up(e, e->nheap++, t);
    return 0;
}

/* Removes the first timer.  Bottom-up: the hole at the root goes down
 * along the earlier child to a leaf (one comparison per level), then the
 * last timer moves up from there (it belongs near the bottom: few steps). */
static KrTimer heap_pop(KrEngine *e)
{
    KrTimer top = e->heap[0];
    KrTimer last = e->heap[--e->nheap];
    size_t i = 0, n = e->nheap;
    if (n == 0) return top;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && timer_before(&e->heap[l + 1], &e->heap[l])) l++;
        e->heap[i] = e->heap[l];
        i = l;
    }
    sift_up(e, i, last);
    return top;
}

/* ---- customers and slots ------------------------------------------------- */

#define SLAB_CHUNK (64u * 1024u)

static size_t slot_size(const KrEngine *e, uint32_t rule)
{
    return sizeof(KrSlot) + (size_t)e->tattr_n[rule] * sizeof(KrValue);
}

/* ---- a customer's slots -------------------------------------------------
 * A customer's slots are a list in the order they were made (the priority
 * yield and the answers walk it in that order).  A customer with few is
 * found by walking it; one with more than SLOT_MAP_AT (n rules pending at
 * once: each trigger and attempt of each looked through all n) is found
 * through the engine's map by (customer, rule), so n rules on one event
 * cost O(n), not O(n²), lookups.  The first slot's prev is the last slot,
 * so a slot is appended and unlinked in O(1). */
#define SLOT_MAP_AT 8u

static inline uint64_t slot_key(uint32_t ci, uint32_t rule) { return (uint64_t)ci << 32 | rule; }

static inline size_t smap_home(const KrEngine *e, uint64_t k)
{
    k ^= k >> 31;
    k *= 0x9e3779b97f4a7c15ull;
    return (size_t)(k >> 29) & (e->smap_cap - 1);
}

static KrSlot *smap_find(const KrEngine *e, uint64_t key)
{
    if (!e->smap_cap) return NULL;
    for (size_t i = smap_home(e, key);; i = (i + 1) & (e->smap_cap - 1)) {
        const struct SlotEnt *x = &e->smap[i];
        if (!x->s) return NULL;
        if (x->key == key) return x->s;
    }
}

/* Room for extra more entries (at most half full); false: no memory. */
static bool smap_reserve(KrEngine *e, size_t extra)
{
    if ((e->smap_n + extra) * 2 <= e->smap_cap) return true;
    size_t cap = e->smap_cap ? e->smap_cap : 64;
    while ((e->smap_n + extra) * 2 > cap) cap *= 2;
    struct SlotEnt *old = e->smap, *nm = calloc(cap, sizeof *nm);
    if (!nm) return false;
    size_t oldcap = e->smap_cap;
    e->smap = nm;
    e->smap_cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].s) continue;
        size_t j = smap_home(e, old[i].key);
        while (nm[j].s) j = (j + 1) & (cap - 1);
        nm[j] = old[i];
    }
    free(old);
    return true;
}

static void smap_put(KrEngine *e, uint64_t key, KrSlot *s)      /* room reserved */
{
    size_t i = smap_home(e, key);
    while (e->smap[i].s) i = (i + 1) & (e->smap_cap - 1);
    e->smap[i] = (struct SlotEnt){ key, s };
    e->smap_n++;
}

/* Removes key, moving back the entries after it that its place is on the
 * probe path of (no tombstones). */
static void smap_del(KrEngine *e, uint64_t key)
{
    size_t mask = e->smap_cap - 1, i = smap_home(e, key);
    for (;; i = (i + 1) & mask) {
        if (!e->smap[i].s) return;              /* not there */
        if (e->smap[i].key == key) break;
    }
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!e->smap[j].s) break;
        size_t k = smap_home(e, e->smap[j].key);
        if (((j - k) & mask) >= ((j - i) & mask)) {
            e->smap[i] = e->smap[j];
            i = j;
        }
    }
    e->smap[i].s = NULL;
    e->smap_n--;
}

static inline KrSlot *find_slot(const KrEngine *e, const KrCust *c, uint32_t ci, uint32_t rule)
{
    const KrSlot *h = c->slots;
    if (h && h->nlist > SLOT_MAP_AT) return smap_find(e, slot_key(ci, rule));
    for (KrSlot *s = c->slots; s; s = s->next)
        if (s->rule == rule) return s;
    return NULL;
}

/* ---- cancelled timers ----------------------------------------------------
 * A cancelled ask (a restart, a response, an ended chain) or a replaced
 * boundary leaves its timer in the heap, recognised as stale by its
 * generation when it comes due.  So that they cannot pile up (a retrigger
 * every second with a 40-day delay kept every one of them: 75 MB for 3 M
 * events; so did 3 M events at one instant), the heap is compacted
 * whenever it has doubled since the last compaction: stale timers are
 * dropped, the live ones re-heapified (O(n), so O(1) per push amortized),
 * and spare capacity is given back.  The heap therefore holds at most
 * twice the live timers, or HEAP_COMPACT_MIN (SPEC 9.2).  Live timers keep
 * their order: no two live timers tie on (due, key). */
static bool timer_live(const KrEngine *e, const KrTimer *t)
{
    const KrSlot *s = find_slot(e, cust_at(e, TIMER_CUST(t)), TIMER_CUST(t), e->rank_rule[TIMER_RANK(t)]);
    if (!s) return false;
    if (TIMER_KIND(t) == TK_BOUNDARY) return s->every_gen == t->gen;
    return s->pending && s->gen == t->gen && s->attempt == t->attempt;
}

static void sift_down(KrEngine *e, size_t i)
{
    KrTimer t = e->heap[i];
    size_t n = e->nheap;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && timer_before(&e->heap[l + 1], &e->heap[l])) l++;
        if (!timer_before(&e->heap[l], &t)) break;
        e->heap[i] = e->heap[l];
        i = l;
    }
    e->heap[i] = t;
}

static void heap_compact(KrEngine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nheap; i++)
        if (timer_live(e, &e->heap[i])) e->heap[n++] = e->heap[i];
    e->nheap = n;
    for (size_t i = n / 2; i-- > 0;) sift_down(e, i);
    e->heap_mark = 2 * n;
    size_t want = 2 * (n > 1024 ? n : 1024);
    if (e->capheap > 2 * want) {
        KrTimer *nh = realloc(e->heap, want * sizeof *nh);
        if (nh) { e->heap = nh; e->capheap = want; }
    }
}

/* A fresh slot of rule from the free list or the slab; NULL: no memory. */
static KrSlot *slot_alloc(KrEngine *e, uint32_t rule)
{
    KrSlot *s = e->free_slot[rule];
    if (s) {
        e->free_slot[rule] = s->next;
        return s;
    }
    size_t sz = slot_size(e, rule);
    if (sz > e->slab_left) {
        size_t csz = sz > SLAB_CHUNK ? sz : SLAB_CHUNK;
        if (e->nslab == e->capslab) {
            uint32_t nc = e->capslab ? e->capslab * 2 : 16;
            char **ns = realloc(e->slab, nc * sizeof *ns);
            if (!ns) return NULL;
            e->slab = ns;
            e->capslab = nc;
        }
        char *chunk = malloc(csz);
        if (!chunk) return NULL;
        e->slab[e->nslab++] = chunk;
        e->slab_cur = chunk;
        e->slab_left = csz;
    }
    s = (KrSlot *)(void *)e->slab_cur;
    e->slab_cur += sz;                  /* sz is a multiple of 8: alignment kept */
    e->slab_left -= sz;
    return s;
}

/* Slot s of customer ci may go idle: release_idle looks at it.  No
 * memory for the queue fails the engine (out of memory). */
static inline void queue_idle(KrEngine *e, uint32_t ci, KrSlot *s)
{
    if (s->queued) return;
    if (__builtin_expect(e->nidle == e->capidle, 0)) {
        uint32_t nc = e->capidle ? e->capidle * 2 : 16;
        struct IdleSlot *ni = nc > e->capidle ? realloc(e->idle, nc * sizeof *ni) : NULL;
        if (!ni) { e->failed = true; return; }
        e->idle = ni;
        e->capidle = nc;
    }
    s->queued = true;
    e->idle[e->nidle++] = (struct IdleSlot){ s, ci };
}

/* The slot of (c, rule), made (at the end of c's list) if it has none;
 * NULL: no memory. */
static KrSlot *get_slot(KrEngine *e, KrCust *c, uint32_t ci, uint32_t rule)
{
    KrSlot *s = find_slot(e, c, ci, rule), *h = c->slots;
    if (s) return s;
    uint32_t n = h ? h->nlist + 1u : 1u;
    if (n > SLOT_MAP_AT && !smap_reserve(e, n == SLOT_MAP_AT + 1u ? n : 1u)) return NULL;
    s = slot_alloc(e, rule);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->rule = rule;
    s->variant = KB_NONE;
    s->every_last = INT64_MIN;
    if (!h) {
        c->slots = h = s;
    } else {
        h->prev->next = s;
        s->prev = h->prev;
    }
    h->prev = s;
    h->nlist = n;
    if (n == SLOT_MAP_AT + 1u)                  /* from now on found through the map */
        for (KrSlot *x = h; x; x = x->next) smap_put(e, slot_key(ci, x->rule), x);
    else if (n > SLOT_MAP_AT)
        smap_put(e, slot_key(ci, rule), s);
    return s;                       /* a caller that leaves it idle queues it (queue_idle) */
}

static void end_chain(KrEngine *e, uint32_t ci, KrSlot *s)
{
    s->pending = false;
    queue_idle(e, ci, s);
}

/* Slot s of customer ci (c) back to its rule's free list. */
static inline void slot_release(KrEngine *e, KrCust *c, uint32_t ci, KrSlot *s)
{
    KrSlot *h = c->slots;
    uint32_t n = h->nlist - 1u;
    if (h->nlist > SLOT_MAP_AT) smap_del(e, slot_key(ci, s->rule));
    if (s == h) {
        c->slots = h = s->next;
        if (h) h->prev = s->prev;
    } else {
        s->prev->next = s->next;
        if (s->next) s->next->prev = s->prev;
        else h->prev = s->prev;
    }
    if (h) {
        h->nlist = n;
        if (n == SLOT_MAP_AT)                   /* walked again: out of the map */
            for (KrSlot *x = h; x; x = x->next) smap_del(e, slot_key(ci, x->rule));
    }
    s->next = e->free_slot[s->rule];
    e->free_slot[s->rule] = s;
}

static inline bool slot_idle(const KrEngine *e, const KrSlot *s)
{
    return !s->pending && e->img->rules[s->rule].trigger != KB_TRIG_EVERY;
}

/* Gives back the slots that hold nothing any more: no pending chain and
 * not an every-rule (kept for the explained customer).  The slots looked
 * at are those queued since the last call (a chain ended, or a slot made
 * and left idle: queue_idle); each event and timer of a customer ends with
 * this call, so no slot pointer is in use across it.  So n rules' asks
 * fired on one event cost n looks, not n walks of n slots; the slots left
 * keep their order. */
static void release_queued(KrEngine *e)
{
    for (uint32_t i = 0; i < e->nidle; i++) {
        KrSlot *s = e->idle[i].s;
        s->queued = false;
        uint32_t ci = e->idle[i].ci;
        if (ci != e->explain_id && slot_idle(e, s)) slot_release(e, cust_at(e, ci), ci, s);
    }
    e->nidle = 0;
}

static inline void release_idle(KrEngine *e)
{
    if (e->nidle) release_queued(e);
}

static void cust_free(KrEngine *e, KrCust *c)
{
    if (c->hist)
        for (uint32_t i = 0; i < e->nkept; i++) free(c->hist[i].cells);
    for (uint32_t ev = 0; c->hist && ev < e->img->nevents; ev++) {
        uint32_t h = e->hist_of[ev];
        if (h == KB_NONE || (h & KR_COUNTED) || !c->hist[h].memo) continue;
        for (uint32_t k = 0; k < e->memo_count[ev]; k++) free(c->hist[h].memo[k].pref);
        KrAggMemo *agg = (KrAggMemo *)(void *)(c->hist[h].memo + e->memo_count[ev]);
        for (uint32_t k = 0; k < e->agg_off[ev + 1u] - e->agg_off[ev]; k++) {
            free(agg[k].c);
            free(agg[k].bmin);
            free(agg[k].bmax);
        }
        free(c->hist[h].memo);
    }
    free(c->traits);
    free(c->sent);
}

/* ---- sends --------------------------------------------------------------- */

static int record_send(KrEngine *e, KrCust *c, int64_t t, uint32_t rule, uint32_t ch)
{
    /* drop what no cap or asked() can see any more */
    int64_t lo = win_lo(t, e->sent_keep);
    while (c->sent_head < c->nsent && c->sent[c->sent_head].time <= lo) c->sent_head++;
    if (c->sent_head > 0 && (c->sent_head * 2 >= c->nsent || c->nsent == c->capsent)) {
        memmove(c->sent, c->sent + c->sent_head, (c->nsent - c->sent_head) * sizeof *c->sent);
        c->nsent -= c->sent_head;
        c->sent_head = 0;
    }
    if (e->sent_keep == 0) return 0;
    if (c->nsent == c->capsent) {
        uint32_t nc = c->capsent ? c->capsent * 2 : 2;
        KrSent *ns = realloc(c->sent, nc * sizeof *ns);
        if (!ns) return -1;
        c->sent = ns;
        c->capsent = nc;
    }
    c->sent[c->nsent++] = (KrSent){ t, rule, ch };
    return 0;
}

/* Sends in (lo, hi] on a channel of mask (all rules), or of rule r (mask 0). */
static uint32_t count_sends(const KrCust *c, int64_t lo, int64_t hi, uint64_t mask, uint32_t rule)
{
    uint32_t n = 0;
    for (uint32_t i = c->nsent; i-- > c->sent_head;) {     /* sends are in time order */
        const KrSent *s = &c->sent[i];
        if (s->time > hi) continue;
        if (s->time <= lo) break;
        if (mask ? (chan_bit(s->channel) & mask) != 0 : s->rule == rule) n++;
    }
    return n;
}

/* ---- history ------------------------------------------------------------- */

/* Value of attribute a in an event, or unknown. */
static KrValue event_attr(const KrEvent *ev, uint32_t a)
{
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (ev->attr_ids[i] == a) return ev->attr_vals[i];
    KrValue u = { .tag = KB_UNKNOWN };
    return u;
}

/* The records h->cells has room for (it has at least this many; see
 * KrHist): the least power of two >= max(n, least), 0 without cells. */
static uint64_t hist_room(const KrHist *h, uint32_t least)
{
    if (!h->cells) return 0;
    uint64_t r = least;
    while (r < h->n) r *= 2;
    return r;
}

static int record_event(KrEngine *e, KrCust *c, const KrEvent *ev)
{
    uint32_t hi = e->hist_of[ev->event];
    if (hi == KB_NONE) return 0;
    if (hi & KR_COUNTED) {
        kr_cust_totals(c)[hi & ~KR_COUNTED]++;
        return 0;
    }
    const KbRetention *ret = &e->img->retention[ev->event];
    KrHist *h = &c->hist[hi];
    h->total++;
    bool keep_last = (ret->flags & KB_RET_LAST) != 0;
    if (ret->window == 0 && !keep_last) return 0;
    uint32_t stride = 1 + ret->nattrs;
    uint32_t least = ret->window == 0 ? 1 : 4;   /* only the last record read: room for one */
    uint64_t room = hist_room(h, least);
    if (ret->window == 0) {
        h->head = h->n = 0;
    } else if (h->n == room) {
        /* full: first drop the records out of every window (at or before
         * now - window), keeping the last one if it is read */
        int64_t lo = win_lo(ev->time, ret->window);
        uint32_t keep_from = keep_last && h->n ? h->n - 1 : h->n;
        while (h->head < keep_from && h->cells[(size_t)h->head * stride].i <= lo) h->head++;
        if (h->head > 0) {
            memmove(h->cells, h->cells + (size_t)h->head * stride,
                    (size_t)(h->n - h->head) * stride * sizeof *h->cells);
            h->n -= h->head;
            h->head = 0;
        }
    }
    if (h->n == room) {                 /* still full (or no cells yet): double */
        uint64_t nc = room ? room * 2 : least;
        if (nc > UINT32_MAX || nc * stride > SIZE_MAX / sizeof *h->cells) return -1;
        KrValue *ncells = realloc(h->cells, (size_t)nc * stride * sizeof *ncells);
        if (!ncells) return -1;
        h->cells = ncells;
    }
    KrValue *rec = &h->cells[(size_t)h->n * stride];
    rec[0].tag = KB_TIME;
    rec[0].i = ev->time;
    for (uint32_t i = 0; i < ret->nattrs; i++) rec[1 + i] = event_attr(ev, ret->attrs[i]);
    h->n++;
    return 0;
}

/* ---- rows ---------------------------------------------------------------- */

static int row_cmp(const void *pa, const void *pb)
{
    const RowKey *a = pa, *b = pb;
    if (a->row.customer != b->row.customer) {
        size_t n = a->clen < b->clen ? a->clen : b->clen;
        int c = memcmp(a->cs, b->cs, n);
        if (c) return c;
        if (a->clen != b->clen) return a->clen < b->clen ? -1 : 1;
    }
    if (a->prio != b->prio) return a->prio > b->prio ? -1 : 1;
    if (a->row.rule != b->row.rule) return a->row.rule < b->row.rule ? -1 : 1;
    if (a->row.attempt != b->row.attempt) return a->row.attempt < b->row.attempt ? -1 : 1;
    return 0;
}

static void flush_rows(KrEngine *e)
{
    if (e->nrows == 0) return;
    qsort(e->rows, e->nrows, sizeof *e->rows, row_cmp);
    for (size_t i = 0; i < e->nrows && !e->failed; i++)
        if (e->opt.emit && e->opt.emit(e->opt.emit_ctx, &e->rows[i].row) != 0) e->failed = true;
    e->nrows = 0;
}

static void add_row(KrEngine *e, const KrRow *row)
{
    if (e->nrows && row->time != e->rows_time) flush_rows(e);
    e->rows_time = row->time;
    if (e->nrows == e->caprows) {
        size_t nc = e->caprows ? e->caprows * 2 : 256;
        RowKey *nr = realloc(e->rows, nc * sizeof *nr);
        if (!nr) { e->failed = true; return; }
        e->rows = nr;
        e->caprows = nc;
    }
    RowKey *k = &e->rows[e->nrows++];
    k->row = *row;
    k->cs = kr_pool_str(e->customers, row->customer, &k->clen);
    if (!k->cs) { k->cs = ""; k->clen = 0; }
    k->prio = e->img->rules[row->rule].priority;
}

/* ---- triggers ------------------------------------------------------------ */

/* The customer's kept events of the rule's best_time event in *sp (hist.h),
 * or NULL. */
static const KrHistSpan *best_span(const KrEngine *e, const KbRule *r, const KrCust *c, KrHistSpan *sp)
{
    if (r->at != KB_AT_BEST_TIME) return NULL;
    return kr_hist_span(&e->env, c, r->best_event, sp) ? sp : NULL;
}

static uint32_t first_channel(const KbRule *r, uint32_t variant)
{
    if (variant != KB_NONE && variant < r->nvariants && r->variants[variant].channel != KB_NONE)
        return r->variants[variant].channel;
    return r->attempts[0].channel;
}

/* The channel of attempt k (from 0) of rule r for a customer in variant. */
static uint32_t attempt_channel(const KbRule *r, uint32_t variant, uint32_t k)
{
    return k == 0 ? first_channel(r, variant) : r->attempts[k].channel;
}

/* Variant of customer ci for rule ri: its index, KB_NONE without variants,
 * or KB_NONE - 1 for the holdout. */
#define HOLDOUT (KB_NONE - 1)
static uint32_t pick_variant(const KrEngine *e, uint32_t ri, uint32_t ci)
{
    const KbRule *r = &e->img->rules[ri];
    if (r->nvariants == 0) return KB_NONE;
    size_t n;
    const char *id = kr_pool_str(e->customers, ci, &n);
    uint64_t h = kb_fnv1a64(id ? id : "", id ? n : 0, e->vhash[ri]);
    uint32_t bucket = (uint32_t)(h % 100), acc = 0;
    for (uint32_t i = 0; i < r->nvariants; i++) {
        acc += r->variants[i].pct;
        if (bucket < acc) return i;
    }
    return HOLDOUT;
}

/* ---- decisions, and the one place that reports them ----------------------
 * The code that decides what becomes of a trigger, an attempt or a chain
 * returns a KrDecision (top of the file) with its details in a Decided;
 * record() alone reports it: the statistics (--stats) always, the story
 * (explain) when the customer is traced.  No decision is reported anywhere
 * else, and none is told apart by the text of a message. */
typedef struct Decided {
    /* set by decided() */
    uint32_t ci, ri;              /* customer and rule */
    KrCust *c;
    const KbRule *r;
    KrSlot *s;                    /* the rule's slot (NULL: holdout) */
    int64_t t;                    /* when */
    uint32_t k, ch;               /* the attempt (from 0) and its channel */
    KvCtx *ctx;                   /* the conditions' context (first attempt) */
    const KrEvent *ev;            /* PENDING, PAST_TIME_MAX, NO_TIME: the trigger event (NULL: a boundary) */
    uint32_t prev;                /* KEEP, RESTART: summary index of the pending chain, or KB_NONE */
    /* details, each set by the code that makes a decision that reads it
     * (not zeroed: a Decided is made for every trigger and attempt) */
    int64_t nominal, due;         /* those three, NEXT: nominal and final time; HORIZON: due */
    bool moved;                   /* those three, NEXT: moved by quiet hours */
    uint32_t variant;             /* those three */
    uint32_t fn;                  /* WHERE_*, IF_*, UNLESS_*: the condition */
    int tv;                       /* and its truth */
    uint32_t cap;                 /* CAPPED: index of the full top-level cap, or ncaps: the rule's */
    uint32_t to;                  /* YIELDED: the pending higher-priority rule */
    int64_t horizon;              /* HORIZON */
    const KrHistSpan *best;       /* PENDING, NO_TIME, PAST_TIME_MAX: the best_time history, or NULL */
} Decided;

/* *x about customer ci's rule ri (slot s, or NULL) at t: the fields above
 * the details. */
static inline void decided(Decided *x, KrEngine *e, uint32_t ci, uint32_t ri, KrSlot *s, int64_t t)
{
    x->ci = ci;
    x->ri = ri;
    x->c = cust_at(e, ci);
    x->r = &e->img->rules[ri];
    x->s = s;
    x->t = t;
    x->k = x->ch = 0;
    x->ctx = NULL;
    x->ev = NULL;
    x->prev = KB_NONE;
}

static const char *truth_name(int t) { return t == 1 ? "true" : t == 0 ? "false" : "unknown"; }

/* For explain: "top-level cap 1 per 30d on sms, email, full: sent
 * 2026-03-01T10:00:00Z by csat" -- the cap as written and the sends in
 * (lo, hi] that fill it (mask: on those channels; 0: of rule). */
static void describe_cap(const KrEngine *e, const KrCust *c, const char *kind, uint32_t n, int64_t w,
                         uint64_t mask, uint32_t rule, int64_t lo, int64_t hi, char *out, size_t on)
{
    char dur[KU_DUR_BUF];
    ku_fmt_dur(w, false, dur);                  /* as policies write them: 1h30m (SPEC 4.15) */
    int at = snprintf(out, on, "%s cap %u per %s", kind, n, dur);
    if (mask && mask != UINT64_MAX) {
        const char *sep = " on ";
        for (uint32_t ch = 0; ch < e->img->nchannels && ch < 64 && at > 0 && (size_t)at < on; ch++)
            if (mask & chan_bit(ch)) {
                at += snprintf(out + at, on - (size_t)at, "%s%s", sep, chan_name(e, ch));
                sep = ", ";
            }
    }
    const char *sep = " is full: sent ";
    uint32_t listed = 0;
    for (uint32_t i = c->sent_head; i < c->nsent && at > 0 && (size_t)at < on; i++) {
        const KrSent *x = &c->sent[i];
        if (x->time <= lo || x->time > hi) continue;
        if (mask ? (chan_bit(x->channel) & mask) == 0 : x->rule != rule) continue;
        if (++listed > 5) { at += snprintf(out + at, on - (size_t)at, ", ..."); break; }
        char tb[40];
        kr_fmt_time(x->time, tb, sizeof tb);
        at += snprintf(out + at, on - (size_t)at, "%s%s by %s", sep, tb, rule_name(e, x->rule));
        sep = ", ";
    }
}

/* The trigger line of the story and the trigger's summary (PENDING,
 * PAST_TIME_MAX, NO_TIME). */
static KrSum *tell_trigger(KrEngine *e, const Decided *x)
{
    const KImage *img = e->img;
    const KbRule *r = x->r;
    KzZone *z = x->c->zone;
    int64_t nominal = x->nominal, fin = x->due;
    uint32_t v = x->variant;
    if (tracing(e, x->ci, x->ri)) {
        char nb[80], fb[80];
        fmt_both(z, nominal, nb, sizeof nb);
        if (fin == KR_NEVER && nominal > KR_TIME_MAX)
            snprintf(fb, sizeof fb, "never: past the last time, 9999-12-31T23:59:59Z");
        else if (fin == KR_NEVER) snprintf(fb, sizeof fb, "never: no allowed time");
        else fmt_both(z, fin, fb, sizeof fb);
        /* quiet hours may move it after the at window or the best time
         * did: placed again without quiet hours, each move is named */
        bool at_moved = false;
        if (fin != KR_NEVER && r->at != KB_AT_NONE) {
            bool q;
            at_moved = kr_place(img, 0, r, true, first_channel(r, v), z, x->best, nominal, &q) != nominal;
        }
        const char *at_why = r->at == KB_AT_BEST_TIME ? "to the best time" : "into the at window";
        char why[80] = "";
        if (x->moved) snprintf(why, sizeof why, ", moved %s%sout of quiet hours", at_moved ? at_why : "",
                               at_moved ? ", then " : "");
        else if (fin != nominal && fin != KR_NEVER) snprintf(why, sizeof why, ", moved %s", at_why);
        trace(e, x->ci, x->t, x->ri, "trigger", "%s%s; nominal %s; due %s%s; zone %s%s%s",
              x->ev ? "by " : "boundary", x->ev ? sname(img, img->events[x->ev->event]) : "", nb, fb,
              why, kz_name(z), v != KB_NONE ? "; variant " : "",
              v != KB_NONE ? sname(img, r->variants[v].name) : "");
    }
    return sum_new(e, x->ci, x->ri, x->t);
}

/* The story's part of record(): tells decision d when x's customer and
 * rule are traced (explain's trace lines and the trigger's summary). */
static void tell(KrEngine *e, const Decided *x, KrDecision d) __attribute__((noinline, cold));
static void tell(KrEngine *e, const Decided *x, KrDecision d)
{
    const KImage *img = e->img;
    const KbRule *r = x->r;
    const KrSlot *s = x->s;
    uint32_t ci = x->ci, ri = x->ri, k = x->k;
    int64_t now = x->t;
    if (!tracing(e, ci, ri)) return;
    char day[16];
    fmt_date(now, day, sizeof day);
    switch (d) {
    case KR_D_PASS:
        break;
    case KR_D_HOLDOUT:
        sum_say(sum_new(e, ci, ri, now), true, "not sent on %s \xe2\x80\x94 the customer is in the "
                "experiment's holdout", day);
        trace(e, ci, now, ri, "holdout", "customer is in the experiment's holdout: nothing is sent");
        break;
    case KR_D_KEEP:
        trace(e, ci, now, ri, "keep", "ignored: an ask is pending (on retrigger keep)");
        sum_say(sum_new(e, ci, ri, now), true, "trigger ignored on %s \xe2\x80\x94 an ask was "
                "pending (on retrigger keep)", day);
        if (x->prev != KB_NONE) e->sum_cur[ri] = x->prev;    /* the pending chain's stays current */
        break;
    case KR_D_RESTART:
        if (x->prev != KB_NONE) {
            KrSum *prev = &e->sums[x->prev];
            if (s->sent) sum_say(prev, false, "; later attempts cancelled on %s by a new trigger", day);
            else sum_say(prev, true, "not sent \xe2\x80\x94 cancelled on %s by a new trigger (on "
                         "retrigger restart)", day);
        }
        trace(e, ci, now, ri, "restart", "the pending %s (attempt %u) is cancelled",
              r->is_task ? "task" : "ask", s->attempt + 1);
        break;
    case KR_D_PENDING:
        tell_trigger(e, x);
        break;
    case KR_D_PAST_TIME_MAX:
        /* SPEC 9.3: due after the last time Kairos computes: beyond any horizon */
        sum_say(tell_trigger(e, x), true, "not sent \xe2\x80\x94 due after 9999-12-31T23:59:59Z, beyond any horizon");
        break;
    case KR_D_NO_TIME:
        sum_say(tell_trigger(e, x), true, "not sent \xe2\x80\x94 its `at` window and quiet hours allow no send time");
        break;
    case KR_D_WHERE_HELD: case KR_D_WHERE_FAILED:
        trace(e, ci, now, ri, "where", "condition is %s%s", truth_name(x->tv),
              d == KR_D_WHERE_HELD ? "" : ": no trigger");
        if (d == KR_D_WHERE_FAILED) {         /* a summary of its own; a pending chain keeps its */
            uint32_t cur = e->sum_cur ? e->sum_cur[ri] : KB_NONE;
            sum_cond(e, sum_new(e, ci, ri, now), "not triggered", "where", x->fn, x->tv, now);
            if (e->sum_cur) e->sum_cur[ri] = cur;
        }
        explain_values(e, ci, now, ri, x->fn);
        break;
    case KR_D_IF_HELD: case KR_D_IF_FAILED: case KR_D_UNLESS_HELD: case KR_D_UNLESS_FAILED: {
        bool failed = d == KR_D_IF_FAILED || d == KR_D_UNLESS_FAILED;
        const char *step = d == KR_D_IF_HELD || d == KR_D_IF_FAILED ? "if" : "unless";
        trace(e, ci, now, ri, step, "condition is %s%s", truth_name(x->tv), failed ? ": not sent" : "");
        if (failed) sum_cond(e, sum_of(e, ci, ri), "not sent", step, x->fn, x->tv, now);
        explain_values(e, ci, now, ri, x->fn);
        break;
    }
    case KR_D_TASK:
        trace(e, ci, now, ri, "task", "task %s (attempt %u) via %s", sname(img, r->target), k + 1,
              chan_name(e, x->ch));
        sum_say(sum_of(e, ci, ri), k == 0, "%screated on %s via %s", k ? "; again " : "", day,
                chan_name(e, x->ch));
        break;
    case KR_D_SKIP_OPTOUT: case KR_D_SKIP_CONSENT: {
        const char *why = d == KR_D_SKIP_OPTOUT ? "opted out of" : "no consent on";
        trace(e, ci, now, ri, "blocked", "attempt %u skipped: %s %s%s", k + 1, why, chan_name(e, x->ch),
              s->sent ? "" : " (nothing sent yet: not counted)");
        if (!s->sent) sum_skip(sum_of(e, ci, ri), k + 1, why, chan_name(e, x->ch));
        break;
    }
    case KR_D_REMIND:
        trace(e, ci, now, ri, "remind", "attempt %u sent via %s", k + 1, chan_name(e, x->ch));
        sum_say(sum_of(e, ci, ri), false, "; reminded on %s via %s", day, chan_name(e, x->ch));
        break;
    case KR_D_CAPPED: {
        char which[512];
        if (x->cap < img->ncaps) {
            const KbCap *cap = &img->caps[x->cap];
            describe_cap(e, x->c, "top-level", cap->n, cap->window, cap->channels, 0,
                         win_lo(now, cap->window), now, which, sizeof which);
        } else {
            describe_cap(e, x->c, "rule", r->cap_n, r->cap_window, 0, ri, win_lo(now, r->cap_window),
                         now, which, sizeof which);
        }
        trace(e, ci, now, ri, "capped", "%s: dropped", which);
        sum_say(sum_of(e, ci, ri), true, "not sent on %s \xe2\x80\x94 capped: %s", day, which);
        break;
    }
    case KR_D_YIELDED:
        trace(e, ci, now, ri, "yield", "dropped: it would fill a cap before the pending "
              "higher-priority ask %s", rule_name(e, x->to));
        sum_say(sum_of(e, ci, ri), true, "not sent on %s \xe2\x80\x94 yielded: it would fill a cap "
                "before the pending higher-priority ask %s", day, rule_name(e, x->to));
        break;
    case KR_D_SENT: {
        KrSum *m = sum_of(e, ci, ri);
        if (m && k == 0) sum_say(m, true, "sent on %s via %s", day, chan_name(e, x->ch));
        else if (m) sum_say(m, true, "sent on %s via %s, attempt %u (%s)", day, chan_name(e, x->ch),
                            k + 1, m->skips);
        if (k == 0)
            trace(e, ci, now, ri, "ask", "sent %s via %s", sname(img, img->surveys[r->target]),
                  chan_name(e, x->ch));
        else
            trace(e, ci, now, ri, "ask", "sent %s via %s (attempt %u: the first sent, counted)",
                  sname(img, img->surveys[r->target]), chan_name(e, x->ch), k + 1);
        break;
    }
    case KR_D_NEXT: {
        char fb[40];
        kr_fmt_time(x->due, fb, sizeof fb);
        trace(e, ci, now, ri, "next", "attempt %u via %s due %s%s", k + 1, chan_name(e, x->ch), fb,
              x->moved ? " (moved out of quiet hours)" : "");
        break;
    }
    case KR_D_NEXT_NO_TIME:
        trace(e, ci, now, ri, "remind", "attempt %u: no allowed send time", k + 1);
        if (s->sent) break;
        /* the chain ends having sent nothing (record: spared by the first skip) */
        sum_skip(sum_of(e, ci, ri), k + 1, "no allowed send time", "");
        /* fall through */
    case KR_D_ALL_SKIPPED: {
        trace(e, ci, now, ri, "blocked", "no attempt was sent: the ask counts nothing");
        KrSum *m = sum_of(e, ci, ri);
        if (m) sum_say(m, true, "not sent \xe2\x80\x94 every attempt was skipped (%s)", m->skips);
        break;
    }
    case KR_D_ANSWERED:
        trace(e, ci, now, ri, "response", "answered: attempts from %u on are cancelled", s->attempt + 1);
        sum_say(sum_of(e, ci, ri), false, "; answered on %s, later attempts cancelled", day);
        break;
    case KR_D_HORIZON: {
        char hb[40], db[40];
        kr_fmt_time(x->horizon, hb, sizeof hb);
        kr_fmt_time(x->due, db, sizeof db);
        trace(e, ci, now, ri, "horizon", "due after the horizon %s: not sent", hb);
        sum_say(sum_of(e, ci, ri), true, "not sent \xe2\x80\x94 due %s, after the horizon %s", db, hb);
        break;
    }
    }
}

/* Records decision d: counts it in the --stats counters, and has tell()
 * tell it when the customer is the one explained.  The one place a
 * decision is reported.  Inlined: d is a constant at most calls, so the
 * counting folds to one increment. */
static inline void record(KrEngine *e, const Decided *x, KrDecision d) __attribute__((always_inline));
static inline void record(KrEngine *e, const Decided *x, KrDecision d)
{
    uint64_t *st = e->stats.rule[x->ri];
    const KrSlot *s = x->s;
    switch (d) {
    case KR_D_HOLDOUT:       st[KR_ST_HOLDOUT]++; break;
    case KR_D_KEEP:          st[KR_ST_KEEP]++; break;
    case KR_D_RESTART:       if (!s->sent) st[KR_ST_RESTART]++; break;
    case KR_D_PAST_TIME_MAX: st[KR_ST_HORIZON]++; break;       /* SPEC 9.3: beyond any horizon */
    case KR_D_NO_TIME:       st[KR_ST_NOTIME]++; break;
    case KR_D_IF_FAILED: case KR_D_UNLESS_FAILED: st[KR_ST_COND]++; break;
    case KR_D_TASK:          st[KR_ST_TASKS]++; break;
    case KR_D_SKIP_OPTOUT: case KR_D_SKIP_CONSENT:
        if (s->sent) st[KR_ST_REM_BLOCKED]++;    /* else counted if the chain sends nothing */
        break;
    case KR_D_REMIND:        st[KR_ST_REMINDED]++; st[KR_ST_MOVED] += s->moved; break;
    case KR_D_CAPPED:        st[KR_ST_CAP]++; break;
    case KR_D_YIELDED:       st[KR_ST_YIELD]++; break;
    case KR_D_SENT:          st[KR_ST_SENT]++; st[KR_ST_MOVED] += s->moved; break;
    case KR_D_NEXT_NO_TIME:                      /* the chain ends: spared if nothing was sent */
        if (s->sent || !s->blocked) break;
        /* fall through */
    case KR_D_ALL_SKIPPED:
        st[s->blocked == KR_D_SKIP_OPTOUT ? KR_ST_OPTOUT : KR_ST_CONSENT]++;
        break;
    case KR_D_ANSWERED:      st[KR_ST_REM_ANSWERED]++; break;
    case KR_D_HORIZON:       st[KR_ST_HORIZON]++; break;
    case KR_D_PASS: case KR_D_WHERE_HELD: case KR_D_WHERE_FAILED: case KR_D_PENDING:
    case KR_D_IF_HELD: case KR_D_UNLESS_HELD: case KR_D_NEXT:
        break;                                   /* told only */
    }
    if (e->opt.explain_out && x->ci == e->explain_id) tell(e, x, d);
}

/* ---- triggering ------------------------------------------------------------ */

/* A trigger of rule ri for customer ci at time T; ev: the trigger
 * event (NULL for every-boundaries).  Leaves an idle slot behind (see
 * trigger). */
static int trigger_chain(KrEngine *e, uint32_t ci, uint32_t ri, int64_t T, const KrEvent *ev)
{
    const KImage *img = e->img;
    const KbRule *r = &img->rules[ri];
    KrCust *c = cust_at(e, ci);
    if (NEVER(r->nattempts == 0)) return 0; /* rejected by the verifier */
    e->stats.rule[ri][KR_ST_TRIGGERED]++;
    Decided x;
    decided(&x, e, ci, ri, NULL, T);
    x.ev = ev;
    uint32_t v = pick_variant(e, ri, ci);
    if (v == HOLDOUT) {
        record(e, &x, KR_D_HOLDOUT);
        return 0;
    }
    KrSlot *s = x.s = get_slot(e, c, ci, ri);
    if (!s) return -1;
    if (s->pending) {
        const KrSum *prev = sum_of(e, ci, ri);
        if (prev) x.prev = (uint32_t)(prev - e->sums);
        if (r->retrigger == KB_RETRIGGER_KEEP) {
            record(e, &x, KR_D_KEEP);
            return 0;
        }
        record(e, &x, KR_D_RESTART);
        end_chain(e, ci, s);
    }
    int64_t delay = (v != KB_NONE && r->variants[v].has_delay) ? r->variants[v].delay : r->delay;
    x.nominal = add_sat(T, delay);
    x.variant = v;
    KrHistSpan best;
    x.best = best_span(e, r, c, &best);
    x.due = kr_place(e->img, e->quiet_mask, r, true, first_channel(r, v), c->zone, x.best, x.nominal, &x.moved);
    if (x.due == KR_NEVER) {
        record(e, &x, x.nominal > KR_TIME_MAX ? KR_D_PAST_TIME_MAX : KR_D_NO_TIME);
        queue_idle(e, ci, s);           /* a slot made here, or one the restart ended */
        return 0;
    }
    record(e, &x, KR_D_PENDING);
    s->pending = true;
    s->moved = x.moved;
    s->sent = false;
    s->blocked = KR_D_PASS;
    s->attempt = 0;
    s->variant = v;
    s->gen = ++c->gen;
    s->due = x.due;
    s->zone = c->zone;
    s->trig = T;
    if (ev && e->tattr_n[ri]) {
        const KbRetention *ret = &img->retention[r->event];
        for (uint32_t i = 0; i < e->tattr_n[ri]; i++) s->tattrs[i] = event_attr(ev, ret->attrs[i]);
    }
    KrTimer t = { .due = x.due, .key = TIMER_KEY(TK_ATTEMPT, e->rank[ri], ci), .gen = s->gen,
                  .attempt = 0 };
    return heap_push(e, t);
}

/* trigger_chain, then gives back the customer's idle slots. */
static int trigger(KrEngine *e, uint32_t ci, uint32_t ri, int64_t T, const KrEvent *ev)
{
    int rc = trigger_chain(e, ci, ri, T, ev);
    release_idle(e);
    return rc;
}

/* ---- firing -------------------------------------------------------------- */

/* Would sending ask ri on channel ch now leave a top-level cap covering it
 * and a pending higher-priority ask's channel full at that ask's due time?
 * Pending asks that have sent nothing yet are looked at, with the due time
 * and channel of their next attempt. */
static bool must_yield(const KrEngine *e, const KrCust *c, uint32_t ri, uint32_t ch, int64_t now,
                       uint32_t *to)
{
    const KImage *img = e->img;
    const KbRule *r = &img->rules[ri];
    if (img->ncaps == 0) return false;          /* only a top-level cap makes an ask yield */
    for (const KrSlot *s = c->slots; s; s = s->next) {
        if (!s->pending || s->sent || s->rule == ri) continue;
        const KbRule *o = &img->rules[s->rule];
        if (o->is_task || o->priority <= r->priority) continue;
        uint64_t both = chan_bit(ch) | chan_bit(attempt_channel(o, s->variant, s->attempt));
        for (uint32_t k = 0; k < img->ncaps; k++) {
            const KbCap *cap = &img->caps[k];
            if ((cap->channels & both) != both) continue;
            int64_t lo = win_lo(s->due, cap->window);
            uint32_t n = count_sends(c, lo, s->due, cap->channels, 0) + (now > lo ? 1 : 0);
            if (n >= cap->n) { *to = s->rule; return true; }
        }
    }
    return false;
}

/* Is a first attempt of rule ri on channel ch capped now?  *which: the
 * index of the full top-level cap, or img->ncaps for the rule's own. */
static bool is_capped(const KrEngine *e, const KrCust *c, uint32_t ri, uint32_t ch, int64_t now,
                      uint32_t *which)
{
    const KImage *img = e->img;
    for (uint32_t k = 0; k < img->ncaps; k++) {
        const KbCap *cap = &img->caps[k];
        if (!(cap->channels & chan_bit(ch))) continue;
        int64_t lo = win_lo(now, cap->window);
        uint32_t n = count_sends(c, lo, now, cap->channels, 0);
        if (n >= cap->n) { *which = k; return true; }
    }
    const KbRule *r = &img->rules[ri];
    if (r->has_cap) {
        int64_t lo = win_lo(now, r->cap_window);
        uint32_t n = count_sends(c, lo, now, 0, ri);
        if (n >= r->cap_n) { *which = img->ncaps; return true; }
    }
    return false;
}

/* Schedules the next attempt of the chain of slot s after attempt k at now,
 * or ends the chain (an ask none of whose attempts was sent is spared by
 * the first skip's reason). */
static int next_attempt(KrEngine *e, uint32_t ci, KrSlot *s, int64_t now)
{
    const KbRule *r = &e->img->rules[s->rule];
    uint32_t k = s->attempt + 1;
    Decided x;
    decided(&x, e, ci, s->rule, s, now);
    x.k = k;
    if (k >= r->nattempts) {
        if (!s->sent && s->blocked) record(e, &x, KR_D_ALL_SKIPPED);
        end_chain(e, ci, s);
        return 0;
    }
    x.ch = r->attempts[k].channel;
    x.due = kr_place(e->img, e->quiet_mask, r, false, x.ch, s->zone, NULL,
                     add_sat(now, r->attempts[k].after), &x.moved);
    if (x.due == KR_NEVER) {
        record(e, &x, KR_D_NEXT_NO_TIME);
        end_chain(e, ci, s);
        return 0;
    }
    record(e, &x, KR_D_NEXT);
    s->attempt = k;
    s->due = x.due;
    s->moved = x.moved;
    KrTimer t = { .due = x.due, .key = TIMER_KEY(TK_ATTEMPT, e->rank[s->rule], ci), .gen = s->gen,
                  .attempt = k };
    return heap_push(e, t);
}

/* ---- the checks when an attempt is due (SPEC 4.6) --------------------------
 * Each check returns KR_D_PASS (it does not apply, or lets the attempt
 * through), its row's decision (which ends the walk), or another decision
 * that is told and lets the walk go on (a condition that held). */
typedef KrDecision (*SendCheck)(KrEngine *e, Decided *x);

static KrDecision check_if(KrEngine *e, Decided *x)
{
    if (x->k != 0 || x->r->if_fn == KB_NONE) return KR_D_PASS;
    x->fn = x->r->if_fn;
    x->tv = eval_cond(e, x->ci, x->ri, x->ctx, x->fn);
    return x->tv == 1 ? KR_D_IF_HELD : KR_D_IF_FAILED;
}

static KrDecision check_unless(KrEngine *e, Decided *x)
{
    if (x->k != 0 || x->r->unless_fn == KB_NONE) return KR_D_PASS;
    x->fn = x->r->unless_fn;
    x->tv = eval_cond(e, x->ci, x->ri, x->ctx, x->fn);
    return x->tv == 0 ? KR_D_UNLESS_HELD : KR_D_UNLESS_FAILED;
}

static KrDecision check_task(KrEngine *e, Decided *x)
{
    (void)e;
    return x->r->is_task ? KR_D_TASK : KR_D_PASS;
}

static KrDecision check_optout(KrEngine *e, Decided *x)
{
    (void)e;
    return x->c->optout & chan_bit(x->ch) ? KR_D_SKIP_OPTOUT : KR_D_PASS;
}

static KrDecision check_consent(KrEngine *e, Decided *x)
{
    uint64_t bit = chan_bit(x->ch);
    return (e->img->consent_channels & bit) && !(x->c->consent & bit) ? KR_D_SKIP_CONSENT : KR_D_PASS;
}

static KrDecision check_reminder(KrEngine *e, Decided *x)
{
    (void)e;
    return x->s->sent ? KR_D_REMIND : KR_D_PASS;
}

static KrDecision check_cap(KrEngine *e, Decided *x)
{
    return is_capped(e, x->c, x->ri, x->ch, x->t, &x->cap) ? KR_D_CAPPED : KR_D_PASS;
}

static KrDecision check_yield(KrEngine *e, Decided *x)
{
    return must_yield(e, x->c, x->ri, x->ch, x->t, &x->to) ? KR_D_YIELDED : KR_D_PASS;
}

/* The order of the checks: SPEC 4.6 quotes this table (tools/sendchecks.sh
 * prints it from here; tests/spec/run.sh compares).  Each row: the
 * decision that ends the walk, the check, its name in SPEC 4.6.  When no
 * row decides, the ask is sent (KR_D_SENT). */
typedef struct SendCheckRow { KrDecision decides; SendCheck check; const char *spec; } SendCheckRow;
static const SendCheckRow send_checks[] = {
    /* send-checks:begin */
    { KR_D_IF_FAILED,     check_if,       "if (first attempt)" },
    { KR_D_UNLESS_FAILED, check_unless,   "unless (first attempt)" },
    { KR_D_TASK,          check_task,     "task (a task row, no further check)" },
    { KR_D_SKIP_OPTOUT,   check_optout,   "opt-out" },
    { KR_D_SKIP_CONSENT,  check_consent,  "consent" },
    { KR_D_REMIND,        check_reminder, "reminder (an earlier attempt was sent)" },
    { KR_D_CAPPED,        check_cap,      "cap" },
    { KR_D_YIELDED,       check_yield,    "priority yield" },
    /* send-checks:end */
};

/* Walks send_checks: the decision of the first row that decides, else
 * KR_D_SENT.  Decisions that let the walk go on are recorded on the way. */
static KrDecision decide_attempt(KrEngine *e, Decided *x)
{
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16                           /* then every call is direct, and inlined */
#endif
    for (size_t i = 0; i < sizeof send_checks / sizeof *send_checks; i++) {
        KrDecision d = send_checks[i].check(e, x);
        if (d == KR_D_PASS) continue;
        if (d == send_checks[i].decides) return d;
        record(e, x, d);
    }
    return KR_D_SENT;
}

/* Fires attempt timer t (stale ones are ignored): decides, records the
 * decision, acts on it.  May leave the slot idle (see fire_attempt). */
static int fire_attempt_slot(KrEngine *e, const KrTimer *t)
{
    const KImage *img = e->img;
    uint32_t ci = TIMER_CUST(t), ri = e->rank_rule[TIMER_RANK(t)], k = t->attempt;
    KrCust *c = cust_at(e, ci);
    KrSlot *s = find_slot(e, c, ci, ri);
    if (!s || !s->pending || s->gen != t->gen || s->attempt != t->attempt) return 0;
    const KbRule *r = &img->rules[ri];
    int64_t now = t->due;
    uint32_t ch = attempt_channel(r, s->variant, k);
    KvCtx ctx = { .env = &e->env, .cust = c, .now = now, .zone = s->zone };
    if (k == 0) {
        const KbRetention *ret = r->trigger == KB_TRIG_AFTER && r->event < img->nevents
                                 ? &img->retention[r->event] : NULL;
        if (ret && e->tattr_n[ri]) ctx.cur = ctx.trig = (KvAttrs){ ret->nattrs, ret->attrs, s->tattrs };
    }
    Decided x;
    decided(&x, e, ci, ri, s, now);
    x.k = k;
    x.ch = ch;
    x.ctx = &ctx;
    KrDecision d = decide_attempt(e, &x);
    record(e, &x, d);
    KrRow row = { .time = now, .customer = ci, .rule = ri, .channel = ch, .attempt = k + 1,
                  .variant = s->variant, .action = KR_ACT_ASK, .trigger = s->trig,
                  .zone = s->zone };
    switch (d) {
    case KR_D_SKIP_OPTOUT: case KR_D_SKIP_CONSENT:
        if (!s->sent && !s->blocked) s->blocked = (uint8_t)d;
        return next_attempt(e, ci, s, now);
    case KR_D_TASK:
        row.action = KR_ACT_TASK;
        s->sent = true;
        break;
    case KR_D_REMIND:
        row.action = KR_ACT_REMIND;
        break;
    case KR_D_SENT:
        if (record_send(e, c, now, ri, ch) != 0) return -1;
        s->sent = true;
        break;
    default:                            /* if/unless, cap, yield: dropped with its attempts */
        end_chain(e, ci, s);
        return 0;
    }
    add_row(e, &row);
    return next_attempt(e, ci, s, now);
}

static int fire_attempt(KrEngine *e, const KrTimer *t)
{
    int rc = fire_attempt_slot(e, t);
    release_idle(e);
    return rc;
}

/* The shortest one period of every-rule r can be, in seconds: a calendar
 * day may have 23 hours, a month 28 days, and so on (an `at` time moves
 * every boundary by less than a day plus an hour, so boundaries up to time
 * T number at most (T - first) / period_min + 2). */
static int64_t period_min(const KbRule *r)
{
    switch (r->period) {
    case KB_PER_DAY:     return 86400 - 3600;
    case KB_PER_WEEK:    return 7 * 86400 - 3600;
    case KB_PER_MONTH:   return 28 * 86400 - 3600;
    case KB_PER_QUARTER: return 89 * 86400 - 3600;
    case KB_PER_YEAR:    return 365 * 86400 - 3600;
    default:             return r->period_dur > 0 ? r->period_dur : 1;
    }
}

/* The latest first event from which rule r's boundaries up to `upto`
 * number more than KR_MAX_BOUNDARIES (SPEC 9.3: at most (upto - first) / P
 * + 2, P the shortest period), INT64_MIN when none can (upto may be
 * INT64_MIN: the horizon of a log without rows). */
static int64_t bound_first(const KbRule *r, int64_t upto)
{
    int64_t p = period_min(r), f;
    if (p > INT64_MAX / 4 / KR_MAX_BOUNDARIES || __builtin_sub_overflow(upto, p * KR_MAX_BOUNDARIES, &f))
        return INT64_MIN;
    return f;
}

int64_t kr_every_bound_first(const KImage *img, int64_t horizon)
{
    int64_t t = INT64_MIN;
    for (uint32_t i = 0; i < img->nrules; i++)
        if (img->rules[i].trigger == KB_TRIG_EVERY) {
            int64_t f = bound_first(&img->rules[i], horizon);
            if (f > t) t = f;
        }
    return t;
}

/* SPEC 9.3: one customer gets at most KR_MAX_BOUNDARIES boundaries of one
 * every-rule.  Checked before boundary work up to `upto` (the horizon when
 * it is known before the events, else each boundary as it fires): past
 * the bound the run stops with a message.  The partitioned replay and
 * explain both know the horizon, so for them the check at the first event
 * (schedule_boundary) always comes first; the check as each boundary fires
 * (fire_boundary) is the safety net for an engine made without one. */
static int boundary_bound(KrEngine *e, uint32_t ci, uint32_t ri, int64_t upto)
{
    const KrCust *c = cust_at(e, ci);
    const KbRule *r = &e->img->rules[ri];
    if (c->first > bound_first(r, upto)) return 0;
    size_t len = 0;
    const char *id = kr_pool_str(e->customers, ci, &len);
    char fb[40], ub[40];
    kr_fmt_time(c->first, fb, sizeof fb);
    kr_fmt_time(upto, ub, sizeof ub);
    snprintf(e->errmsg, sizeof e->errmsg,
             "rule `%s`: its `every` period gives customer \"%.*s%s\" more than %d boundaries "
             "between its first event (%s) and %s; use a longer period or an earlier --until",
             rule_name(e, ri), (int)(len > 64 ? 64 : len), id ? id : "", len > 64 ? "..." : "",
             KR_MAX_BOUNDARIES, fb, ub);
    e->failed = true;
    return -1;
}

static int schedule_boundary(KrEngine *e, uint32_t ci, uint32_t ri, int64_t tmin)
{
    KrCust *c = cust_at(e, ci);
    const KbRule *r = &e->img->rules[ri];
    if (e->opt.has_horizon && boundary_bound(e, ci, ri, e->opt.horizon) != 0) return -1;
    KrSlot *s = get_slot(e, c, ci, ri);
    if (!s) return -1;
    if (s->every_last != INT64_MIN && tmin <= s->every_last) tmin = s->every_last + 1;
    if (tmin < c->first) tmin = c->first;
    int64_t b = kr_next_boundary(r, c->zone, c->first, tmin);
    s->every_gen = ++c->gen;
    if (b == KR_NEVER) return 0;
    KrTimer t = { .due = b, .key = TIMER_KEY(TK_BOUNDARY, e->rank[ri], ci), .gen = s->every_gen,
                  .attempt = 0 };
    return heap_push(e, t);
}

static int fire_boundary(KrEngine *e, const KrTimer *t)
{
    uint32_t ci = TIMER_CUST(t), ri = e->rank_rule[TIMER_RANK(t)];
    KrSlot *s = find_slot(e, cust_at(e, ci), ci, ri);
    if (!s || s->every_gen != t->gen) return 0;
    if (boundary_bound(e, ci, ri, t->due) != 0) return -1;
    s->every_last = t->due;
    if (trigger(e, ci, ri, t->due, NULL) != 0) return -1;
    return schedule_boundary(e, ci, ri, t->due + 1);
}

/* Whether t is after the run's deadline (KrEngineOpts): then the engine
 * stops, cut. */
static inline bool past_deadline(KrEngine *e, int64_t t)
{
    if (!e->opt.has_deadline || t <= e->opt.deadline) return false;
    e->failed = e->cut = true;
    return true;
}

/* Fires every timer due before limit (and not after --until). */
static int advance(KrEngine *e, int64_t limit)
{
    while (e->nheap > 0 && !e->failed) {
        const KrTimer *top = &e->heap[0];
        if (top->due >= limit || (e->opt.has_until && top->due > e->opt.until)) break;
        if (past_deadline(e, top->due)) return -1;
        KrTimer t = heap_pop(e);
        int rc = TIMER_KIND(&t) == TK_BOUNDARY ? fire_boundary(e, &t) : fire_attempt(e, &t);
        if (rc != 0) return -1;
    }
    return e->failed ? -1 : 0;
}

/* ---- events -------------------------------------------------------------- */

static uint32_t channel_of(const KrEngine *e, const KrEvent *ev, bool *present)
{
    KrValue v = e->a_channel == KB_NONE ? (KrValue){ .tag = KB_UNKNOWN } : event_attr(ev, e->a_channel);
    *present = v.tag != KB_UNKNOWN;
    if (v.tag != KB_STR) return KB_NONE;
    for (uint32_t i = 0; i < e->img->nchannels; i++)
        if (e->chan_val[i] == v.str) return i;
    return KB_NONE;
}

/* The zone named by value-pool string id, or NULL (kz_zone, remembered in
 * a small direct-mapped cache: identify events repeat a few names). */
static KzZone *zone_of(KrEngine *e, uint32_t id)
{
    uint32_t k = id % ZONE_CACHE;
    if (e->zc_id[k] != id) {
        e->zc_zone[k] = kz_zone(kr_pool_str(e->values, id, NULL));
        e->zc_id[k] = id;
    }
    return e->zc_zone[k];
}

/* Reserved events: traits and zone, opt-out/in, consent, responses. */
static int apply_reserved(KrEngine *e, uint32_t ci, const KrEvent *ev, bool *zone_changed)
{
    const KImage *img = e->img;
    KrCust *c = cust_at(e, ci);
    uint32_t en = ev->event;
    if (en == e->ev_identify) {
        for (uint32_t i = 0; i < ev->nattrs; i++) {
            uint32_t a = ev->attr_ids[i];
            if (a == e->a_tz) {
                KrValue v = ev->attr_vals[i];
                KzZone *z = NULL;
                if (v.tag == KB_STR && !(z = zone_of(e, v.str))) kr_bad_zone_add(&e->badz, v.str, 1);
                else if (v.tag == KB_NUM || v.tag == KB_BOOL) e->badz.others++;
                if (!z) z = e->policy_zone;
                if (z != c->zone) {
                    *zone_changed = true;
                    c->zone = z;
                    trace(e, ci, ev->time, KB_NONE, "identify", "time zone is now %s", kz_name(z));
                }
            }
            for (uint32_t t = 0; t < img->ntraits; t++) {
                if (img->traits[t] != a) continue;
                if (!c->traits) {
                    c->traits = calloc(img->ntraits, sizeof *c->traits);
                    if (!c->traits) return -1;
                }
                c->traits[t] = ev->attr_vals[i];
            }
        }
        return 0;
    }
    bool present;
    if (en == e->ev_opt_out || en == e->ev_opt_in || en == e->ev_grant || en == e->ev_revoke) {
        uint32_t ch = channel_of(e, ev, &present);
        uint64_t mask = present ? chan_bit(ch) : ~0ULL;
        if (present && ch == KB_NONE) mask = 0;
        if (en == e->ev_opt_out) c->optout |= mask;
        else if (en == e->ev_opt_in) c->optout &= ~mask;
        else if (en == e->ev_grant) c->consent |= mask;
        else c->consent &= ~mask;
        if (tracing(e, ci, KB_NONE))
            trace(e, ci, ev->time, KB_NONE, sname(img, img->events[en]), "%s",
                  present ? (ch == KB_NONE ? "(a channel the policy does not know)" : chan_name(e, ch))
                          : "all channels");
        return 0;
    }
    if (en == e->ev_response && e->a_survey != KB_NONE) {
        KrValue v = event_attr(ev, e->a_survey);
        if (v.tag != KB_STR) return 0;
        /* a response after the ask's first sent attempt cancels the later attempts */
        for (KrSlot *s = c->slots; s; s = s->next) {
            const KbRule *r = &img->rules[s->rule];
            if (!s->pending || !s->sent || r->is_task || r->target >= img->nsurveys) continue;
            if (e->strval[img->surveys[r->target]] != v.str) continue;
            Decided x;
            decided(&x, e, ci, s->rule, s, ev->time);
            record(e, &x, KR_D_ANSWERED);
            end_chain(e, ci, s);
        }
        release_idle(e);
    }
    return 0;
}

static int new_customer(KrEngine *e, uint32_t ci, int64_t t)
{
    if (NEVER(ci >= (1u << 30))) return -1; /* ids are dense pool ids */
    while (ci >= e->ncusts) {
        if (e->nblocks == e->capblocks) {
            uint32_t nc = e->capblocks ? e->capblocks * 2 : 16;
            char **nb = realloc(e->blocks, nc * sizeof *nb);
            if (!nb) return -1;
            e->blocks = nb;
            e->capblocks = nc;
        }
        char *b = calloc(CUST_BLOCK, e->cstride);
        if (!b) return -1;
        e->blocks[e->nblocks++] = b;
        uint32_t old = e->ncusts;
        e->ncusts += CUST_BLOCK;
        for (uint32_t i = old; i < e->ncusts; i++) {
            KrCust *x = cust_at(e, i);
            x->hist = e->nkept ? (KrHist *)(void *)(kr_cust_totals(x) + e->ncounted) : NULL;
            x->first = INT64_MIN;
        }
    }
    KrCust *c = cust_at(e, ci);
    if (c->first != INT64_MIN) return 0;
    c->first = t;
    c->zone = e->policy_zone;
    e->stats.customers++;
    if (e->explain_id == KB_NONE && e->opt.explain_customer) {
        size_t n;
        const char *s = kr_pool_str(e->customers, ci, &n);
        if (s && n == strlen(e->opt.explain_customer) && memcmp(s, e->opt.explain_customer, n) == 0)
            e->explain_id = ci;
    }
    return 1;
}

/* Marks the trigger attributes read by the rules that ev carries. */
static void note_carried(KrEngine *e, const KrEvent *ev)
{
    const KImage *img = e->img;
    for (uint32_t i = 0; i < img->nattr_reads; i++) {
        const KbAttrRead *a = &img->attr_reads[i];
        if (e->ar_carried[i] || img->rules[a->rule].event != ev->event) continue;
        if (event_attr(ev, a->attr).tag == KB_UNKNOWN) continue;
        e->ar_carried[i] = 1;
        e->ar_open[ev->event]--;
    }
}

/* Counts the trigger attributes that ev carries as a value of another
 * type than a rule reads them as (kr_engine_type_tally). */
static void tally_types(KrEngine *e, const KrEvent *ev)
{
    const KImage *img = e->img;
    for (uint32_t k = e->ty_off[ev->event]; k < e->ty_off[ev->event + 1]; k++) {
        uint32_t i = e->ty_reads[k];
        const KbAttrRead *a = &img->attr_reads[i];
        KrValue v = event_attr(ev, a->attr);
        if (v.tag == KB_UNKNOWN) continue;
        KrTypeTally *t = &e->ar_types[i];
        t->carried++;
        if (kv_coerce(&e->env, v, (uint8_t)a->tag).tag != KB_UNKNOWN) continue;
        t->other++;
        if (ev->time > t->first_time) continue;
        KrTypeTally one = { .carried = 0, .first_time = ev->time, .first_tag = v.tag };
        if (v.tag == KB_STR) {
            size_t n = 0;
            const char *str = kr_pool_str(e->env.values, v.str, &n);
            one.first_cut = n > KR_TALLY_TEXT;
            one.first_len = (uint8_t)(one.first_cut ? ku_utf8_cut(str, KR_TALLY_TEXT) : n);
            if (str) memcpy(one.first, str, one.first_len);
        } else if (v.tag == KB_BOOL) {
            one.first_len = (uint8_t)snprintf(one.first, sizeof one.first, "%s", v.b ? "true" : "false");
        } else if (v.tag == KB_NUM) {
            char buf[KU_NUM_TEXT];
            one.first_len = (uint8_t)ku_num_text(v.num, buf);
            memcpy(one.first, buf, one.first_len);
        } else {
            continue;
        }
        kr_type_tally_merge(t, &one);
    }
}

/* The earlier of the two first values: by time, then text, then type. */
static bool first_before(const KrTypeTally *a, const KrTypeTally *b)
{
    if (a->first_time != b->first_time) return a->first_time < b->first_time;
    size_t n = a->first_len < b->first_len ? a->first_len : b->first_len;
    int c = memcmp(a->first, b->first, n);
    if (c != 0) return c < 0;
    if (a->first_len != b->first_len) return a->first_len < b->first_len;
    if (a->first_cut != b->first_cut) return !a->first_cut;
    return a->first_tag < b->first_tag;
}

void kr_type_tally_merge(KrTypeTally *to, const KrTypeTally *from)
{
    to->carried += from->carried;
    to->other += from->other;
    if (from->first_time == INT64_MAX || !first_before(from, to)) return;
    to->first_time = from->first_time;
    to->first_tag = from->first_tag;
    to->first_len = from->first_len;
    to->first_cut = from->first_cut;
    memcpy(to->first, from->first, sizeof to->first);
}

const KrTypeTally *kr_engine_type_tally(const KrEngine *e, uint32_t i)
{
    if (i >= e->img->nattr_reads || e->ty_same[i] == KB_NONE) return NULL;
    return &e->ar_types[e->ty_same[i]];
}

bool kr_engine_attr_unseen(const KrEngine *e, uint32_t i)
{
    const KImage *img = e->img;
    if (i >= img->nattr_reads || e->ar_carried[i]) return false;
    const KbRule *r = &img->rules[img->attr_reads[i].rule];
    return r->trigger == KB_TRIG_AFTER && r->event < img->nevents && e->ev_seen[r->event];
}

int kr_engine_event(KrEngine *e, const KrEvent *ev)
{
    if (e->failed) return -1;
    const KImage *img = e->img;
    int64_t T = ev->time < e->last_time ? e->last_time : ev->time;   /* the reader sorts */
    if (past_deadline(e, T) || advance(e, T) != 0) return -1;
    e->last_time = T;
    e->stats.events++;
    int fresh = new_customer(e, ev->customer, T);
    if (fresh < 0) return -1;
    uint32_t ci = ev->customer;
    bool zone_changed = false;
    uint32_t en = ev->event;
    if (en != KB_NONE && en < img->nevents) {
        KrEvent evt = *ev;
        evt.time = T;
        if (tracing(e, ci, KB_NONE) && en != e->ev_opt_out && en != e->ev_opt_in &&
            en != e->ev_grant && en != e->ev_revoke)
            trace(e, ci, T, KB_NONE, "event", "%s", sname(img, img->events[en]));
        e->ev_seen[en] = true;
        if (e->ar_open[en]) note_carried(e, &evt);
        if (e->ty_off[en] != e->ty_off[en + 1]) tally_types(e, &evt);
        if (apply_reserved(e, ci, &evt, &zone_changed) != 0) return -1;
        KrCust *c = cust_at(e, ci);         /* blocks never move */
        if (record_event(e, c, &evt) != 0) return -1;
        for (uint32_t i = e->by_event_off[en]; i < e->by_event_off[en + 1]; i++) {
            uint32_t ri = e->by_event[i];
            const KbRule *r = &img->rules[ri];
            if (r->where_fn != KB_NONE && e->wfast[ri].op && !e->ke) {
                if (where_fast(e, &e->wfast[ri], &evt) != 1) continue;
            } else if (r->where_fn != KB_NONE) {
                KvAttrs cur = { evt.nattrs, evt.attr_ids, evt.attr_vals };
                KvCtx ctx = { .env = &e->env, .cust = c, .now = T,
                              .zone = c->zone, .cur = cur, .trig = cur };
                Decided x;
                decided(&x, e, ci, ri, NULL, T);
                x.fn = r->where_fn;
                x.tv = eval_cond(e, ci, ri, &ctx, r->where_fn);
                record(e, &x, x.tv == 1 ? KR_D_WHERE_HELD : KR_D_WHERE_FAILED);
                if (x.tv != 1) continue;
            }
            if (trigger_chain(e, ci, ri, T, &evt) != 0) return -1;
        }
        release_idle(e);                    /* what the triggers left idle */
    }
    if (fresh || zone_changed)
        for (uint32_t i = 0; i < e->nevery; i++)
            if (schedule_boundary(e, ci, e->every[i], T) != 0) return -1;
    return e->failed ? -1 : 0;
}

int kr_engine_finish(KrEngine *e, int64_t horizon)
{
    if (e->failed) return -1;
    if (horizon < INT64_MAX && advance(e, horizon + 1) != 0) return -1;
    flush_rows(e);
    /* what is left was due after the horizon; the explained customer's
     * in the order of time (then rule rank), as the rest of its story */
    if (e->opt.explain_out && e->nheap > 1) qsort(e->heap, e->nheap, sizeof *e->heap, cmp_timer);
    for (size_t i = 0; i < e->nheap; i++) {
        const KrTimer *t = &e->heap[i];
        if (TIMER_KIND(t) != TK_ATTEMPT) continue;
        uint32_t ci = TIMER_CUST(t), ri = e->rank_rule[TIMER_RANK(t)];
        KrSlot *s = find_slot(e, cust_at(e, ci), ci, ri);
        /* the live timer of a chain that has sent nothing yet */
        if (!s || !s->pending || s->gen != t->gen || s->attempt != t->attempt || s->sent) continue;
        Decided x;
        decided(&x, e, ci, ri, s, t->due);
        x.due = t->due;
        x.horizon = horizon;
        record(e, &x, KR_D_HORIZON);
    }
    e->nheap = 0;
    return e->failed ? -1 : 0;
}

int kr_engine_finish_customers(KrEngine *e, int64_t horizon)
{
    int rc = kr_engine_finish(e, horizon);
    e->last_time = INT64_MIN;       /* the next customers start from their first event */
    return rc;
}

const KrStats *kr_engine_stats(const KrEngine *e) { return &e->stats; }
const char *kr_engine_error(const KrEngine *e) { return e->errmsg[0] ? e->errmsg : NULL; }
bool kr_engine_cut(const KrEngine *e) { return e->cut; }

void kr_engine_set_horizon(KrEngine *e, int64_t horizon)
{
    e->opt.has_horizon = true;
    e->opt.horizon = horizon;
}

bool kr_engine_explained(const KrEngine *e) { return e->explain_id != KB_NONE; }

int kr_engine_summaries(const KrEngine *e, FILE *out)
{
    const KImage *img = e->img;
    size_t idlen = 0;
    const char *id = e->explain_id == KB_NONE ? NULL : kr_pool_str(e->customers, e->explain_id, &idlen);
    int n = 0;
    for (uint32_t i = 0; id && i < e->nsums; i++) {
        const KrSum *m = &e->sums[i];
        if (m->t < e->opt.explain_from) continue;
        const KbRule *r = &img->rules[m->rule];
        const char *what = r->is_task ? sname(img, r->target)
                         : r->target < img->nsurveys ? sname(img, img->surveys[r->target]) : "?";
        const char *text = m->open ? "still pending at the end of the replay" : m->text;
        /* the whole line, however long the customer id (SPEC 5.4 allows any length) */
        int len = snprintf(NULL, 0, "%.*s: %s%s %s", (int)idlen, id, r->is_task ? "task " : "", what, text);
        char *line = len < 0 ? NULL : malloc((size_t)len + 1);
        if (!line) return -1;
        snprintf(line, (size_t)len + 1, "%.*s: %s%s %s", (int)idlen, id, r->is_task ? "task " : "", what, text);
        if (e->opt.explain_jsonl) {
            char ts[40];
            kr_fmt_time(m->t, ts, sizeof ts);
            fprintf(out, "{\"time\":\"%s\",\"rule\":", ts);
            put_json_chars(out, rule_name(e, m->rule));
            fputs(",\"step\":\"summary\",\"detail\":", out);
            put_json_chars(out, line);
            fputs("}\n", out);
        } else {
            put_shown(out, line);
            putc('\n', out);
        }
        free(line);
        n++;
    }
    return n;
}

void kr_engine_prefetch(const KrEngine *e, uint32_t ci)
{
#if defined(__GNUC__)
    if (ci >= e->ncusts) return;
    const char *p = (const char *)cust_at(e, ci);
    for (size_t off = 0; off < e->cstride; off += 64) __builtin_prefetch(p + off);
#else
    (void)e; (void)ci;
#endif
}
int64_t kr_engine_last_time(const KrEngine *e) { return e->last_time; }
bool kr_engine_attr_carried(const KrEngine *e, uint32_t i)
{
    return i < e->img->nattr_reads && e->ar_carried[i];
}
bool kr_engine_event_seen(const KrEngine *e, uint32_t ev)
{
    return ev < e->img->nevents && e->ev_seen[ev];
}

void kr_bad_zone_add(KrBadZones *b, uint32_t id, uint64_t events)
{
    b->events += events;
    uint32_t i = 0;
    while (i < b->n && b->ids[i] < id) i++;
    if (i < b->n && b->ids[i] == id) return;
    if (i == KR_BAD_ZONES) { b->more = true; return; }
    if (b->n == KR_BAD_ZONES) b->more = true;            /* the largest goes */
    uint32_t keep = b->n < KR_BAD_ZONES ? b->n : KR_BAD_ZONES - 1u;
    memmove(&b->ids[i + 1u], &b->ids[i], (keep - i) * sizeof *b->ids);
    b->ids[i] = id;
    if (b->n < KR_BAD_ZONES) b->n++;
}

void kr_bad_zones_merge(KrBadZones *b, const KrBadZones *from)
{
    b->events += from->events;
    b->others += from->others;
    b->more |= from->more;
    for (uint32_t i = 0; i < from->n; i++) kr_bad_zone_add(b, from->ids[i], 0);
}

const KrBadZones *kr_engine_bad_zones(const KrEngine *e) { return &e->badz; }

/* ---- setup --------------------------------------------------------------- */

typedef struct RankKey { int32_t prio; uint32_t rule; } RankKey;

/* Priority descending, then declaration order: a total order, so the
 * result is what a stable sort by priority gives. */
static int rank_cmp(const void *a, const void *b)
{
    const RankKey *x = a, *y = b;
    if (x->prio != y->prio) return x->prio > y->prio ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

void kr_engine_free(KrEngine *e)
{
    if (!e) return;
    for (uint32_t i = 0; i < e->ncusts; i++) cust_free(e, cust_at(e, i));
    for (uint32_t i = 0; i < e->nblocks; i++) free(e->blocks[i]);
    free(e->blocks);
    for (uint32_t i = 0; i < e->nslab; i++) free(e->slab[i]);
    free(e->slab);
    free(e->free_slot);
    free(e->idle);
    free(e->smap);
    free(e->tattr_n);
    free(e->wfast);
    free(e->heap);
    free(e->rows);
    free(e->strval);
    free(e->hist_of);
    free(e->memo_slot);
    free(e->memo_count);
    free(e->resp_slot);
    free(e->agg_off);
    free(e->agg_attr);
    free(e->chan_val);
    free(e->vhash);
    free(e->by_event);
    free(e->by_event_off);
    free(e->every);
    free(e->rank);
    free(e->rank_rule);
    free(e->ar_carried);
    free(e->ar_open);
    free(e->ar_types);
    free(e->ty_off);
    free(e->ty_reads);
    free(e->ty_same);
    free(e->ev_seen);
    ke_free(e->ke);
    free(e->sums);
    free(e->sum_cur);
    free(e->stats.rule);
    free(e);
}

KrEngine *kr_engine_new(const KImage *img, KrPool *customers, KrPool *values,
                        const KrEngineOpts *opt)
{
    KrEngine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->img = img;
    e->customers = customers;
    e->values = values;
    e->opt = *opt;
    if (!opt->has_explain_from) e->opt.explain_from = INT64_MIN;
    e->last_time = INT64_MIN;
    e->explain_id = KB_NONE;
    e->explain_rule = KB_NONE;
    for (uint32_t i = 0; i < ZONE_CACHE; i++) e->zc_id[i] = KB_NONE;
    e->stats.nrules = img->nrules;
    e->strval = malloc((img->nstrings + 1) * sizeof *e->strval);
    e->hist_of = malloc((img->nevents + 1) * sizeof *e->hist_of);
    e->chan_val = malloc((img->nchannels + 1) * sizeof *e->chan_val);
    e->vhash = malloc((img->nrules + 1) * sizeof *e->vhash);
    e->by_event_off = calloc(img->nevents + 2, sizeof *e->by_event_off);
    e->by_event = malloc((img->nrules + 1) * sizeof *e->by_event);
    e->every = malloc((img->nrules + 1) * sizeof *e->every);
    e->stats.rule = calloc(img->nrules + 1, sizeof *e->stats.rule);
    e->rank = malloc((img->nrules + 1) * sizeof *e->rank);
    e->rank_rule = malloc((img->nrules + 1) * sizeof *e->rank_rule);
    e->tattr_n = calloc(img->nrules + 1, sizeof *e->tattr_n);
    e->wfast = calloc(img->nrules + 1, sizeof *e->wfast);
    e->free_slot = calloc(img->nrules + 1, sizeof *e->free_slot);
    e->ar_carried = calloc(img->nattr_reads + 1, 1);
    e->ar_open = calloc(img->nevents + 1, sizeof *e->ar_open);
    e->ev_seen = calloc(img->nevents + 1, sizeof *e->ev_seen);
    e->ar_types = calloc(img->nattr_reads + 1, sizeof *e->ar_types);
    e->ty_off = calloc(img->nevents + 2, sizeof *e->ty_off);
    e->ty_reads = malloc((img->nattr_reads + 1) * sizeof *e->ty_reads);
    e->ty_same = malloc((img->nattr_reads + 1) * sizeof *e->ty_same);
    if (img->nrules > 0x7fffffffu || !e->rank || !e->rank_rule || !e->tattr_n || !e->wfast || !e->free_slot ||
        !e->ar_carried || !e->ar_open || !e->ev_seen || !e->ar_types || !e->ty_off || !e->ty_reads ||
        !e->ty_same)
        goto fail;
    /* the typed reads of `after` rules to count (ty_same: KB_NONE for the
     * others): the first of each trigger event, attribute and type, which
     * the later ones of other rules share */
    for (uint32_t i = 0; i < img->nattr_reads; i++) {
        const KbAttrRead *a = &img->attr_reads[i];
        const KbRule *r = &img->rules[a->rule];
        e->ar_types[i].first_time = INT64_MAX;
        e->ty_same[i] = KB_NONE;
        if (r->trigger != KB_TRIG_AFTER || r->event >= img->nevents) continue;
        e->ar_open[r->event]++;
        if (a->tag == KB_UNTYPED) continue;
        e->ty_same[i] = i;
        for (uint32_t j = 0; j < i && e->ty_same[i] == i; j++) {
            const KbAttrRead *b = &img->attr_reads[j];
            if (e->ty_same[j] != KB_NONE && b->attr == a->attr && b->tag == a->tag &&
                img->rules[b->rule].event == r->event)
                e->ty_same[i] = e->ty_same[j];
        }
        if (e->ty_same[i] == i) e->ty_off[r->event + 2]++;
    }
    /* ... by trigger event (a counting sort) */
    for (uint32_t v = 0; v < img->nevents; v++) e->ty_off[v + 2] += e->ty_off[v + 1];
    for (uint32_t i = 0; i < img->nattr_reads; i++)
        if (e->ty_same[i] == i) e->ty_reads[e->ty_off[img->rules[img->attr_reads[i].rule].event + 1]++] = i;
    if (!e->strval || !e->hist_of || !e->chan_val || !e->vhash || !e->by_event_off ||
        !e->by_event || !e->every || !e->stats.rule)
        goto fail;
    for (uint32_t i = 0; i < img->nstrings; i++) {
        e->strval[i] = kr_intern(values, img->strings[i], img->string_lens[i]);
        if (e->strval[i] == UINT32_MAX) goto fail;
    }
    for (uint32_t i = 0; i < img->nevents; i++) {
        const KbRetention *r = &img->retention[i];
        /* attributes alone are kept for triggers (KrSlot), not here */
        if (r->window || (r->flags & KB_RET_LAST)) e->hist_of[i] = e->nkept++;
        else if (r->flags & KB_RET_COUNT) e->hist_of[i] = KR_COUNTED | e->ncounted++;
        else e->hist_of[i] = KB_NONE;
    }
    if (e->nkept >= KR_COUNTED || e->ncounted >= KR_COUNTED) goto fail;
    e->cstride = sizeof(KrCust) + (size_t)e->ncounted * sizeof(uint64_t) +
                 (size_t)e->nkept * sizeof(KrHist);
    for (uint32_t i = 0; i < img->nchannels; i++) e->chan_val[i] = e->strval[img->channels[i]];
    for (uint32_t i = 0; i < img->nrules; i++) where_fast_init(e, i);
    if (opt->explain_out && !(e->ke = ke_new(img, values))) goto fail;
    if (opt->explain_out) {
        e->sum_cur = malloc((img->nrules + 1) * sizeof *e->sum_cur);
        if (!e->sum_cur) goto fail;
        for (uint32_t i = 0; i <= img->nrules; i++) e->sum_cur[i] = KB_NONE;
    }
    e->rule_width = 16;                          /* wider for longer names, up to 40 */
    for (uint32_t i = 0; i < img->nrules; i++) {
        size_t n = strlen(rule_name(e, i));
        if (n > (size_t)e->rule_width) e->rule_width = n < 40 ? (int)n : 40;
    }
    e->ev_identify = kb_find_event(img, KB_EV_IDENTIFY);
    e->ev_response = kb_find_event(img, KB_EV_RESPONSE);
    e->ev_opt_out = kb_find_event(img, KB_EV_OPT_OUT);
    e->ev_opt_in = kb_find_event(img, KB_EV_OPT_IN);
    e->ev_grant = kb_find_event(img, KB_EV_CONSENT_GRANTED);
    e->ev_revoke = kb_find_event(img, KB_EV_CONSENT_REVOKED);
    /* the step column: 10 wide, wider for the consent and opt-out events
     * the policy reads, whose lines name them as their step */
    e->step_width = 10;
    const uint32_t named[] = { e->ev_opt_out, e->ev_opt_in, e->ev_grant, e->ev_revoke };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i] < img->nevents) {
            size_t n = strlen(sname(img, img->events[named[i]]));
            if (n > (size_t)e->step_width && n <= 40) e->step_width = (int)n;
        }
    e->a_tz = kb_find_attr(img, "tz");
    e->a_channel = kb_find_attr(img, "channel");
    e->a_survey = kb_find_attr(img, "survey");

    /* rules: per trigger event, every-rules, variant hash prefixes */
    for (uint32_t i = 0; i < img->nrules; i++) {
        const KbRule *r = &img->rules[i];
        if (r->trigger == KB_TRIG_AFTER && r->event < img->nevents) {
            e->by_event_off[r->event + 1]++;
            e->tattr_n[i] = img->retention[r->event].nattrs;
        }
        else if (r->trigger == KB_TRIG_EVERY) e->every[e->nevery++] = i;
        const char *pn = sname(img, img->policy_name);
        uint64_t h = kb_fnv1a64(pn, img->policy_name < img->nstrings ? img->string_lens[img->policy_name] : 0,
                                KB_FNV_OFFSET);
        h = kb_fnv1a64("/", 1, h);
        h = kb_fnv1a64(sname(img, r->name), r->name < img->nstrings ? img->string_lens[r->name] : 0, h);
        e->vhash[i] = kb_fnv1a64("/", 1, h);
    }
    /* timer ranks: priority descending, then declaration order (qsort on
     * that total order: O(n log n) whatever order the priorities come in;
     * the insertion sort it replaces took 9 s for 100 k ascending ones) */
    if (img->nrules) {
        RankKey *rk = malloc(img->nrules * sizeof *rk);
        if (!rk) goto fail;
        for (uint32_t i = 0; i < img->nrules; i++) rk[i] = (RankKey){ img->rules[i].priority, i };
        qsort(rk, img->nrules, sizeof *rk, rank_cmp);
        for (uint32_t i = 0; i < img->nrules; i++) e->rank_rule[i] = rk[i].rule;
        free(rk);
    }
    for (uint32_t i = 0; i < img->nrules; i++) e->rank[e->rank_rule[i]] = i;
    for (uint32_t i = 0; i < img->nevents; i++) e->by_event_off[i + 1] += e->by_event_off[i];
    {
        uint32_t *fill = calloc(img->nevents + 1, sizeof *fill);
        if (!fill) goto fail;
        for (uint32_t i = 0; i < img->nrules; i++) {
            const KbRule *r = &img->rules[i];
            if (r->trigger == KB_TRIG_AFTER && r->event < img->nevents)
                e->by_event[e->by_event_off[r->event] + fill[r->event]++] = i;
        }
        free(fill);
    }

    for (uint32_t i = 0; i < img->nquiets; i++)
        if (img->quiets[i].start != img->quiets[i].end) e->quiet_mask |= img->quiets[i].channels;
    /* how long sends must be kept: every cap window and asked() window */
    e->sent_keep = img->sent_window;
    for (uint32_t i = 0; i < img->ncaps; i++)
        if (img->caps[i].window > e->sent_keep) e->sent_keep = img->caps[i].window;
    for (uint32_t i = 0; i < img->nrules; i++)
        if (img->rules[i].has_cap && img->rules[i].cap_window > e->sent_keep)
            e->sent_keep = img->rules[i].cap_window;

    e->policy_zone = img->timezone != KB_NONE ? kz_zone(sname(img, img->timezone)) : NULL;
    if (!e->policy_zone) e->policy_zone = kz_utc();
    if (!e->policy_zone) goto fail;

    e->env.img = img;
    e->env.values = values;
    e->env.strval = e->strval;
    e->env.hist_of = e->hist_of;
    if (!(e->memo_slot = malloc(((size_t)img->nfuncs + 1u) * sizeof *e->memo_slot)) ||
        !(e->memo_count = malloc(((size_t)img->nevents + 1u) * sizeof *e->memo_count)) ||
        kv_agg_memos(img, &e->agg_off, &e->agg_attr) != 0)
        goto fail;
    kv_count_memos(img, e->memo_slot, e->memo_count);
    if (!(e->resp_slot = malloc(((size_t)img->nsurveys + 1u) * sizeof *e->resp_slot))) goto fail;
    kv_responded_memos(img, e->ev_response, e->resp_slot, e->memo_count);
    e->env.resp_slot = e->resp_slot;
    e->env.memo_slot = e->memo_slot;
    e->env.memo_count = e->memo_count;
    e->env.agg_off = e->agg_off;
    e->env.agg_attr = e->agg_attr;
    e->env.ev_response = e->ev_response;
    e->env.response_survey = KB_NONE;
    if (e->ev_response != KB_NONE && e->a_survey != KB_NONE) {
        const KbRetention *r = &img->retention[e->ev_response];
        for (uint32_t i = 0; i < r->nattrs; i++)
            if (r->attrs[i] == e->a_survey) e->env.response_survey = i;
    }
    if (opt->explain_rule)
        for (uint32_t i = 0; i < img->nrules; i++)
            if (strcmp(sname(img, img->rules[i].name), opt->explain_rule) == 0) e->explain_rule = i;
    return e;
fail:
    kr_engine_free(e);
    return NULL;
}
