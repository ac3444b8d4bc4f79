/* vm.c -- the bytecode interpreter (kv_): evaluates one function of a
 * verified image for one customer at one instant.
 *
 * One function, one switch, one case per opcode, each preceded by the
 * opcode's documentation from the KB_OPCODES X-macro (lang/bytecode.h),
 * and a single exit path.  Values are typed (KrValue); every operation on
 * unknown gives unknown, except AND/OR/NOT (Kleene logic).  Strings are
 * value-pool ids: equality is id equality, order is byte-wise.
 *
 * History opcodes read the customer state kept by the replay through
 * kr_hist_* (hist.h) alone, never the engine's layout: windows are half-open, (now - w, now]; inside where-functions their values
 * are remembered for the rest of the top-level evaluation (KvMemo).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "hist.h"

/* Nested where-functions (COUNT inside COUNT): the verifier bounds the
 * nesting by KB_MAX_NEST, so verified code never reaches this; each level
 * costs one kv_eval frame (a KB_MAX_STACK array, 4 KiB) of C stack. */
#define KV_MAX_DEPTH KB_MAX_NEST

/* Values and their operations are lang/value.h's, shared with the
 * compiler's constant folding. */
#define unknown_value kval_unknown
#define mk_num kval_num
#define mk_bool kval_bool
#define mk_int kval_int

/* ---- memo of history values inside where-functions -----------------------
 * COUNT, AGG, ASKED and RESPONDED read the customer, `now` and the trigger,
 * never the current (counted) event.  Within one top-level evaluation those
 * are fixed, so an instruction of a where-function (depth > 0) gives the
 * same value for every counted event of the enclosing count: it is computed
 * once and remembered here, keyed by its code word index.  Without it,
 * count(x where count(y where count(z ...) > 0) > 0) costs n^depth; with it
 * every level's history is read once per top-level evaluation (SPEC 9.1).
 * An open-addressing table, allocated at the first nested history value;
 * if memory runs out values are just computed again. */
struct KvMemo {
    uint32_t *keys;               /* code word index + 1; 0: empty */
    KrValue *vals;
    uint32_t cap, n;
};

static uint32_t memo_slot(const struct KvMemo *m, uint32_t key)
{
    uint32_t i = (key * 2654435761u) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key + 1) i = (i + 1) & (m->cap - 1);
    return i;
}

static bool memo_get(const KvCtx *c, uint32_t key, KrValue *v)
{
    const struct KvMemo *m = c->memo;
    if (c->depth == 0 || !m || !m->cap) return false;
    uint32_t i = memo_slot(m, key);
    if (!m->keys[i]) return false;
    *v = m->vals[i];
    return true;
}

static void memo_put(const KvCtx *c, uint32_t key, KrValue v)
{
    struct KvMemo *m = c->memo;
    if (c->depth == 0 || !m) return;
    if (2 * (m->n + 1) > m->cap) {
        uint32_t nc = m->cap ? m->cap * 2 : 16;
        if (nc > (1u << 30)) return;
        uint32_t *nk = calloc(nc, sizeof *nk);
        KrValue *nv = malloc(nc * sizeof *nv);
        if (!nk || !nv) { free(nk); free(nv); return; }
        struct KvMemo g = { nk, nv, nc, m->n };
        for (uint32_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                uint32_t j = memo_slot(&g, m->keys[i] - 1);
                nk[j] = m->keys[i];
                nv[j] = m->vals[i];
            }
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    uint32_t i = memo_slot(m, key);
    if (!m->keys[i]) { m->keys[i] = key + 1; m->n++; }
    m->vals[i] = v;
}

int kv_truth(const KrValue *v) { return kval_truth(v); }

/* ---- coercion ------------------------------------------------------------ */

KrValue kv_coerce(const KvEnv *env, KrValue v, uint8_t tag)
{
    if (v.tag == KB_UNKNOWN || tag == KB_UNTYPED || v.tag == tag) return v;
    switch (tag) {
    case KB_TIME:
        if (v.tag == KB_NUM) {
            if (!isfinite(v.num) || v.num < -9.2e18 || v.num > 9.2e18) return unknown_value;
            return mk_int(KB_TIME, (int64_t)floor(v.num));
        }
        if (v.tag == KB_STR) {
            size_t len;
            const char *s = kr_pool_str(env->values, v.str, &len);
            int64_t t;
            if (s && kr_parse_time(s, len, &t) == 0) return mk_int(KB_TIME, t);
        }
        return unknown_value;
    default:                      /* a boolean only from a boolean (cells `true`/`false` are booleans) */
        return unknown_value;
    }
}

/* Value of attribute a in set s, coerced; unknown if absent. */
static KrValue attr_of(const KvEnv *env, const KvAttrs *s, uint32_t a, uint8_t tag)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->ids[i] == a) return kv_coerce(env, s->vals[i], tag);
    return unknown_value;
}

/* ---- comparisons --------------------------------------------------------- */

/* ---- history ------------------------------------------------------------- */

/* Window bound: events with time > lo count (lo = now - w, or INT64_MIN). */
static int64_t window_lo(const KImage *img, int64_t now, uint32_t wconst)
{
    if (wconst == KB_NONE || wconst >= img->nconsts || img->consts[wconst].tag != KB_DUR)
        return INT64_MIN;
    int64_t w = img->consts[wconst].i;
    if (w == KB_FOREVER || w < 0) return INT64_MIN;
    int64_t lo;
    if (__builtin_sub_overflow(now, w, &lo)) return INT64_MIN;
    return lo;
}

/* The kept attributes of record r of kind e, as an attribute set. */
static KvAttrs record_attrs(const KImage *img, uint32_t e, const KrHistSpan *h, uint32_t r)
{
    const KbRetention *ret = &img->retention[e];
    KvAttrs s = { ret->nattrs, ret->attrs, kr_hist_attrs(h, r) };
    return s;
}

/* The first record of span h later than t (h->hi if none): the records
 * are in time order. */
static uint32_t first_after(const KrHistSpan *h, int64_t t)
{
    uint32_t lo = h->lo, hi = h->hi;
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (kr_hist_time(h, m) <= t) lo = m + 1; else hi = m;
    }
    return lo;
}

/* Whether function f reads only the counted event (its attributes),
 * constants and pure operations: then it is true or not of an event for
 * good.  Opcodes not listed (now, the trigger, the customer, histories;
 * any added later) make it not. */
static bool reads_event_only(const KImage *img, uint32_t fn)
{
    const KbFunc *f = &img->funcs[fn];
    if (f->start > img->ncode || f->len > img->ncode - f->start) return false;
    const uint32_t *code = img->code + f->start;
    for (uint32_t pc = 0; pc < f->len; pc += 1 + kb_opinfo[code[pc]].noperands) {
        switch (code[pc]) {
        case KB_OP_CONST: case KB_OP_TRUE: case KB_OP_FALSE: case KB_OP_UNKNOWN: case KB_OP_ATTR:
        case KB_OP_NEG: case KB_OP_ADD: case KB_OP_SUB: case KB_OP_MUL: case KB_OP_DIV:
        case KB_OP_EQ: case KB_OP_NE: case KB_OP_LT: case KB_OP_LE: case KB_OP_GT: case KB_OP_GE:
        case KB_OP_NOT: case KB_OP_AND: case KB_OP_OR: case KB_OP_JFALSE: case KB_OP_JTRUE:
        case KB_OP_JUMP: case KB_OP_IN: case KB_OP_RET: case KB_OP_DUP:
            break;
        default:
            return false;
        }
    }
    return true;
}

/* Calls fn(ctx, operands) for every instruction op in img's code whose
 * operands lie inside its function: the one walk of the code that finds
 * what the memos serve. */
static void each_op(const KImage *img, uint32_t op, void (*fn)(void *ctx, const uint32_t *operands), void *ctx)
{
    for (uint32_t fi = 0; fi < img->nfuncs; fi++) {
        const KbFunc *f = &img->funcs[fi];
        if (f->start > img->ncode || f->len > img->ncode - f->start) continue;
        const uint32_t *code = img->code + f->start;
        for (uint32_t pc = 0; pc < f->len && code[pc] < KB_OP__COUNT; pc += 1 + kb_opinfo[code[pc]].noperands)
            if (code[pc] == op && pc + kb_opinfo[op].noperands < f->len) fn(ctx, code + pc + 1);
    }
}

/* kv_count_memos: slot[f] first holds the kind f counts (KB_NONE: none
 * yet; COUNTS_MANY: more than one, then f is left out). */
#define COUNTS_MANY (KB_NONE - 1u)
typedef struct CountKinds { const KImage *img; uint32_t *slot; } CountKinds;

static void count_kind(void *ctx, const uint32_t *x)       /* COUNT e f w */
{
    CountKinds *k = ctx;
    uint32_t e = x[0], f = x[1];
    if (f >= k->img->nfuncs || e >= k->img->nevents) return;
    k->slot[f] = k->slot[f] == KB_NONE || k->slot[f] == e ? e : COUNTS_MANY;
}

void kv_count_memos(const KImage *img, uint32_t *slot, uint32_t *count)
{
    for (uint32_t e = 0; e < img->nevents; e++) count[e] = 0;
    for (uint32_t f = 0; f < img->nfuncs; f++) slot[f] = KB_NONE;
    CountKinds k = { img, slot };
    each_op(img, KB_OP_COUNT, count_kind, &k);
    for (uint32_t f = 0; f < img->nfuncs; f++) {
        uint32_t e = slot[f];
        slot[f] = e < img->nevents && reads_event_only(img, f) ? count[e]++ : KB_NONE;
    }
}

typedef struct RespKinds { const KImage *img; uint32_t *slot; } RespKinds;

static void resp_survey(void *ctx, const uint32_t *x)      /* RESPONDED s w */
{
    RespKinds *k = ctx;
    if (x[0] < k->img->nsurveys) k->slot[x[0]] = 0;
}

void kv_responded_memos(const KImage *img, uint32_t ev_response, uint32_t *slot, uint32_t *count)
{
    for (uint32_t s = 0; s < img->nsurveys; s++) slot[s] = KB_NONE;
    if (ev_response >= img->nevents) return;
    RespKinds k = { img, slot };
    each_op(img, KB_OP_RESPONDED, resp_survey, &k);
    for (uint32_t s = 0; s < img->nsurveys; s++)
        if (slot[s] == 0) slot[s] = count[ev_response]++;
}

typedef struct AggSets { const KImage *img; uint32_t *off, *end, *attr; } AggSets;

static void agg_count(void *ctx, const uint32_t *x)        /* AGG k e a w */
{
    AggSets *g = ctx;
    if (x[1] < g->img->nevents) g->off[x[1] + 1u]++;
}

static void agg_add(void *ctx, const uint32_t *x)
{
    AggSets *g = ctx;
    uint32_t e = x[1], a = x[2];
    if (e >= g->img->nevents) return;
    uint32_t i = g->off[e];
    while (i < g->end[e] && g->attr[i] != a) i++;
    if (i == g->end[e]) g->attr[g->end[e]++] = a;
}

int kv_agg_memos(const KImage *img, uint32_t **off, uint32_t **attr)
{
    uint32_t ne = img->nevents;
    AggSets g = { img, calloc((size_t)ne + 1u, sizeof(uint32_t)), malloc(((size_t)ne + 1u) * sizeof(uint32_t)), NULL };
    if (!g.off || !g.end) goto fail;
    each_op(img, KB_OP_AGG, agg_count, &g);          /* the AGGs of each kind, ... */
    for (uint32_t e = 0; e < ne; e++) g.off[e + 1u] += g.off[e];
    if (!(g.attr = malloc(((size_t)g.off[ne] + 1u) * sizeof(uint32_t)))) goto fail;
    memcpy(g.end, g.off, ((size_t)ne + 1u) * sizeof(uint32_t));
    each_op(img, KB_OP_AGG, agg_add, &g);            /* ... their attributes once each, ... */
    uint32_t n = 0;
    for (uint32_t e = 0; e < ne; e++) {              /* ... packed */
        uint32_t from = g.off[e];
        g.off[e] = n;
        for (uint32_t i = from; i < g.end[e]; i++) g.attr[n++] = g.attr[i];
    }
    g.off[ne] = n;
    free(g.end);
    *off = g.off;
    *attr = g.attr;
    return 0;
fail:
    free(g.off);
    free(g.end);
    free(g.attr);
    return -1;
}

/* Whether where-function f is true of record r of span h (kind e): 1, 0
 * (false or unknown), -1 f failed. */
static int where_true(const KvCtx *c, uint32_t e, uint32_t f, const KrHistSpan *h, uint32_t r)
{
    KvCtx sub = *c;
    sub.cur = record_attrs(c->env->img, e, h, r);
    sub.depth = c->depth + 1;
    sub.tvals = NULL;                        /* explain traces the top level only */
    sub.tseen = NULL;
    KrValue v;
    if (kv_eval(&sub, f, &v) != 0) return -1;
    return kv_truth(&v) == 1;
}

/* How many of the first events a memo keeps (those numbered base .. base +
 * n - 1) it forgets before it serves a window from event sa on: none while
 * those before sa are fewer than 64 or than half of what it keeps, else
 * those before sa, in whole units; UINT32_MAX when it keeps nothing of the
 * window (then it starts at sa: *base = sa, and the caller empties it). */
static uint32_t memo_forget(uint64_t *base, uint32_t n, uint64_t sa, uint32_t unit)
{
    if (sa < *base || sa > *base + n) {
        *base = sa;
        return UINT32_MAX;
    }
    uint64_t d = sa - *base;
    return d < 64u || d * 2u < n ? 0 : (uint32_t)(d / unit) * unit;
}

/* The capacity a memo grows to from cap to hold need entries: doubled,
 * at least least. */
static uint32_t memo_cap(uint32_t cap, uint32_t need, uint32_t least)
{
    uint32_t nc = cap < least ? least : cap;
    while (nc < need) nc = nc > UINT32_MAX / 2u ? need : nc * 2u;
    return nc;
}

/* The events numbered [sa, sb) (span h's record r is event seq0 + r) for
 * which where-function f is true, through memo m: f runs once per event,
 * on the events the memo has not seen (those before the window are
 * forgotten once they are half of it).  0; -1 f failed; -2 out of memory
 * (the caller counts them one by one). */
typedef int (*EventTest)(const KvCtx *c, uint32_t e, uint32_t f, const KrHistSpan *h, uint32_t r);

static int memo_count(const KvCtx *c, uint32_t e, EventTest test, uint32_t f, const KrHistSpan *h, KrCountMemo *m,
                      uint64_t seq0, uint64_t sa, uint64_t sb, uint64_t *out)
{
    uint32_t k = memo_forget(&m->base, m->n, sa, 1);
    if (k == UINT32_MAX) {
        m->n = 0;
    } else if (k) {
        uint32_t sub = m->pref[k];
        for (uint32_t i = 0; i + k <= m->n; i++) m->pref[i] = m->pref[i + k] - sub;
        m->base += k;
        m->n -= k;
    }
    if (sb - m->base >= UINT32_MAX) return -2;
    uint32_t need = (uint32_t)(sb - m->base) + 1u;
    if (need > m->cap) {
        uint32_t nc = memo_cap(m->cap, need, 16u);
        uint32_t *np = realloc(m->pref, (size_t)nc * sizeof *np);
        if (!np) return -2;
        m->pref = np;
        m->cap = nc;
    }
    if (m->n == 0) m->pref[0] = 0;
    for (uint64_t s = m->base + m->n; s < sb; s++) {
        int t = test(c, e, f, h, (uint32_t)(s - seq0));
        if (t < 0) return -1;
        m->pref[m->n + 1] = m->pref[m->n] + (uint32_t)t;
        m->n++;
    }
    *out = m->pref[sb - m->base] - m->pref[sa - m->base];
    return 0;
}

/* COUNT e f w */
static int op_count(const KvCtx *c, uint32_t e, uint32_t f, uint32_t w, KrValue *out)
{
    const KImage *img = c->env->img;
    *out = mk_num(0);
    int64_t lo = window_lo(img, c->now, w);
    if (f == KB_NONE && lo == INT64_MIN && (img->retention[e].flags & KB_RET_COUNT)) {
        uint64_t total;
        if (kr_hist_total(c->env, c->cust, e, &total)) *out = mk_num((double)total);
        return 0;
    }
    KrHistSpan h;
    if (!kr_hist_span(c->env, c->cust, e, &h)) return 0;
    if (f != KB_NONE && c->depth >= KV_MAX_DEPTH) return -1;
    /* the records in (lo, now], by two binary searches: the records are in
     * time order, and a busy customer's window can hold many (a walk made
     * each count linear in them) */
    uint32_t a = first_after(&h, lo), b = first_after(&h, c->now);
    if (f == KB_NONE || b <= a) {
        *out = mk_num((double)(b > a ? b - a : 0));
        return 0;
    }
    uint64_t n = 0;
    const KvEnv *env = c->env;
    uint32_t slot = env->memo_slot && f < img->nfuncs ? env->memo_slot[f] : KB_NONE;
    uint64_t seq0;
    KrCountMemo *m;
    if (slot != KB_NONE && (m = kr_hist_memo(env, c->cust, e, slot, &seq0))) {
        int rc = memo_count(c, e, where_true, f, &h, m, seq0, seq0 + a, seq0 + b, &n);
        if (rc == -1) return -1;
        if (rc == 0) { *out = mk_num((double)n); return 0; }
    }
    for (uint32_t r = b; r-- > a;) {
        int t = where_true(c, e, f, &h, r);
        if (t < 0) return -1;
        n += (uint64_t)t;
    }
    *out = mk_num((double)n);
    return 0;
}

/* Index of the last record of kind e at or before now (its span in *h),
 * or UINT32_MAX. */
static uint32_t last_record(const KvCtx *c, uint32_t e, KrHistSpan *h)
{
    if (!kr_hist_span(c->env, c->cust, e, h)) return UINT32_MAX;
    for (uint32_t r = h->hi; r > h->lo; r--)
        if (kr_hist_time(h, r - 1) <= c->now) return r - 1;
    return UINT32_MAX;
}

/* The number attribute a of record r of span h (kind e) holds, or false. */
static bool record_num(const KvCtx *c, uint32_t e, uint32_t a, const KrHistSpan *h, uint32_t r, double *d)
{
    KvAttrs s = record_attrs(c->env->img, e, h, r);
    KrValue v = attr_of(c->env, &s, a, KB_NUM);
    *d = v.num;
    return v.tag == KB_NUM;
}

#define AGG_BLOCK 64u
#define AGG_WHOLE 1099511627776.0     /* 2^40: whole numbers up to it are summed as integers */

/* The memo m of attribute a of kind e kept up to the events numbered
 * [sa, sb) (as memo_count keeps its counts): the events before the window
 * are forgotten, in whole blocks, once they are half of it.  0; -2 out of
 * memory. */
static int agg_keep(const KvCtx *c, uint32_t e, uint32_t a, const KrHistSpan *h, KrAggMemo *m, uint64_t seq0,
                    uint64_t sa, uint64_t sb)
{
    uint32_t k = memo_forget(&m->base, m->n, sa, AGG_BLOCK);
    if (k == UINT32_MAX) {
        m->n = 0;
    } else if (k) {
        uint32_t nb = (m->n - k) / AGG_BLOCK + 1u;
        memmove(m->c, m->c + k, (size_t)(m->n - k + 1u) * sizeof *m->c);
        memmove(m->bmin, m->bmin + k / AGG_BLOCK, nb * sizeof *m->bmin);
        memmove(m->bmax, m->bmax + k / AGG_BLOCK, nb * sizeof *m->bmax);
        m->base += k;
        m->n -= k;
    }
    if (sb - m->base >= UINT32_MAX / 2u) return -2;
    uint32_t need = (uint32_t)(sb - m->base) + 1u;
    if (need > m->cap) {
        uint32_t nc = memo_cap(m->cap, need, AGG_BLOCK);
        KrAggCell *np = realloc(m->c, (size_t)nc * sizeof *np);
        if (np) m->c = np;
        double *bl = np ? realloc(m->bmin, (nc / AGG_BLOCK + 1u) * sizeof *bl) : NULL;
        if (bl) m->bmin = bl;
        double *bh = bl ? realloc(m->bmax, (nc / AGG_BLOCK + 1u) * sizeof *bh) : NULL;
        if (!bh) return -2;
        m->bmax = bh;
        m->cap = nc;
    }
    if (m->n == 0) m->c[0] = (KrAggCell){ 0 };
    for (uint64_t s = m->base + m->n; s < sb; s++) {
        KrAggCell x = m->c[m->n];
        uint32_t b = m->n / AGG_BLOCK;
        if (m->n % AGG_BLOCK == 0) { m->bmin[b] = INFINITY; m->bmax[b] = -INFINITY; }
        double d;
        if (record_num(c, e, a, h, (uint32_t)(s - seq0), &d)) {
            x.num++;
            if (d == 0 && signbit(d)) x.negz++;
            if (!(fabs(d) <= AGG_WHOLE) || d != trunc(d)) {
                x.inexact++;
            } else {
                x.isum += (uint64_t)(int64_t)d;
                x.abs += (uint64_t)fabs(d);
            }
            if (d < m->bmin[b]) m->bmin[b] = d;
            if (d > m->bmax[b]) m->bmax[b] = d;
        }
        m->c[++m->n] = x;
    }
    return 0;
}

/* The aggregate k of the events numbered [sa, sb) (span h's record r is
 * event seq0 + r) from memo m, as the walk of op_agg gives it: 0; 1 the
 * memo cannot say exactly (a -0 for min/max, a fraction or a large number
 * for sum/avg: op_agg walks); -2 out of memory (op_agg walks). */
static int memo_agg(const KvCtx *c, KbAgg k, uint32_t e, uint32_t a, const KrHistSpan *h, KrAggMemo *m,
                    uint64_t seq0, uint64_t sa, uint64_t sb, KrValue *out)
{
    if (sb - sa >= (1u << 23)) return 1;     /* the magnitudes' sum could wrap */
    if (agg_keep(c, e, a, h, m, seq0, sa, sb) != 0) return -2;
    uint32_t ia = (uint32_t)(sa - m->base), ib = (uint32_t)(sb - m->base);
    const KrAggCell *A = &m->c[ia], *B = &m->c[ib];
    uint32_t n = B->num - A->num;
    if (k == KB_AGG_SUM || k == KB_AGG_AVG) {
        if (B->inexact != A->inexact || B->abs - A->abs > (1ull << 53)) return 1;
        double sum = (double)(int64_t)(B->isum - A->isum);
        *out = k == KB_AGG_SUM ? mk_num(sum) : n == 0 ? unknown_value : mk_num(sum / (double)n);
        return 0;
    }
    if (n == 0) { *out = unknown_value; return 0; }
    if (B->negz != A->negz) return 1;
    bool min = k == KB_AGG_MIN;
    double acc = min ? INFINITY : -INFINITY, d;
    uint32_t i = ia;
    for (; i < ib && i % AGG_BLOCK; i++)                    /* the first block's part */
        if (record_num(c, e, a, h, (uint32_t)(m->base + i - seq0), &d) && (min ? d < acc : d > acc)) acc = d;
    for (; i + AGG_BLOCK <= ib; i += AGG_BLOCK) {           /* whole blocks */
        d = min ? m->bmin[i / AGG_BLOCK] : m->bmax[i / AGG_BLOCK];
        if (min ? d < acc : d > acc) acc = d;
    }
    for (; i < ib; i++)                                     /* the last block's part */
        if (record_num(c, e, a, h, (uint32_t)(m->base + i - seq0), &d) && (min ? d < acc : d > acc)) acc = d;
    *out = mk_num(acc);
    return 0;
}

/* AGG k e a w: the numbers attribute a of the kind's events in the window
 * held, newest first (the order the sum is added in), through the memo
 * when it can say exactly. */
static void op_agg(const KvCtx *c, KbAgg k, uint32_t e, uint32_t a, uint32_t w, KrValue *out)
{
    const KImage *img = c->env->img;
    KrHistSpan h;
    double acc = 0;
    uint64_t n = 0;
    if (kr_hist_span(c->env, c->cust, e, &h)) {
        uint32_t ra = first_after(&h, window_lo(img, c->now, w)), rb = first_after(&h, c->now);
        uint64_t seq0;
        KrAggMemo *m = rb > ra ? kr_hist_agg_memo(c->env, c->cust, e, a, &seq0) : NULL;
        if (m && memo_agg(c, k, e, a, &h, m, seq0, seq0 + ra, seq0 + rb, out) == 0) return;
        for (uint32_t r = rb; r-- > ra;) {
            double d;
            if (!record_num(c, e, a, &h, r, &d)) continue;
            if (n == 0 && (k == KB_AGG_MIN || k == KB_AGG_MAX)) acc = d;
            else if (k == KB_AGG_MIN) acc = d < acc ? d : acc;
            else if (k == KB_AGG_MAX) acc = d > acc ? d : acc;
            else acc += d;
            n++;
        }
    }
    if (k == KB_AGG_SUM) *out = mk_num(acc);
    else if (n == 0) *out = unknown_value;
    else if (k == KB_AGG_AVG) *out = mk_num(acc / (double)n);
    else *out = mk_num(acc);
}

/* ASKED s w: an ask of survey s had its first sent attempt in the window. */
static bool op_asked(const KvCtx *c, uint32_t s, uint32_t w)
{
    const KImage *img = c->env->img;
    uint32_t n;
    const KrSent *sent = kr_hist_sends(c->cust, &n);
    int64_t lo = window_lo(img, c->now, w);
    for (uint32_t i = n; i-- > 0;) {
        const KrSent *x = &sent[i];
        if (x->time > c->now || x->rule >= img->nrules) continue;
        if (x->time <= lo) break;
        const KbRule *r = &img->rules[x->rule];
        if (!r->is_task && r->target == s) return true;
    }
    return false;
}

/* Whether record r of the responses names survey want (a value-pool id):
 * memo_count's test for RESPONDED. */
static int survey_is(const KvCtx *c, uint32_t e, uint32_t want, const KrHistSpan *h, uint32_t r)
{
    (void)e;
    const KrValue *v = &kr_hist_attrs(h, r)[c->env->response_survey];
    return v->tag == KB_STR && v->str == want;
}

/* RESPONDED s w: a response with survey == the name of s in the window. */
static bool op_responded(const KvCtx *c, uint32_t s, uint32_t w)
{
    const KvEnv *env = c->env;
    const KImage *img = env->img;
    if (env->ev_response == KB_NONE || env->response_survey == KB_NONE || s >= img->nsurveys)
        return false;
    KrHistSpan h;
    if (!kr_hist_span(env, c->cust, env->ev_response, &h)) return false;
    uint32_t want = env->strval[img->surveys[s]];
    /* the responses in (lo, now], by two binary searches; then how many
     * name the survey, through the customer's memo of the survey (as a
     * count(response where survey == S) keeps it): a walk was linear in
     * the window's responses of other surveys, for every evaluation */
    uint32_t a = first_after(&h, window_lo(img, c->now, w)), b = first_after(&h, c->now);
    if (b <= a) return false;
    uint32_t slot = env->resp_slot ? env->resp_slot[s] : KB_NONE;
    uint64_t seq0, n;
    KrCountMemo *m;
    if (slot != KB_NONE && (m = kr_hist_memo(env, c->cust, env->ev_response, slot, &seq0)) &&
        memo_count(c, env->ev_response, survey_is, want, &h, m, seq0, seq0 + a, seq0 + b, &n) == 0)
        return n > 0;
    for (uint32_t r = b; r-- > a;)
        if (survey_is(c, env->ev_response, want, &h, r)) return true;
    return false;
}

/* String ids of the VM are value-pool ids. */
static const char *pool_get(const void *ctx, uint32_t id, size_t *len)
{
    return kr_pool_str((const KrPool *)ctx, id, len);
}

static KrValue relation(const KvEnv *env, int op, const KrValue *a, const KrValue *b)
{
    KValStrings ss = { pool_get, env->values };
    return kval_relation((KbOp)op, a, b, &ss);
}

static KrValue constant(const KvEnv *env, const KbConst *k)
{
    switch (k->tag) {
    case KB_NUM:  return mk_num(k->num);
    case KB_BOOL: return mk_bool(k->b);
    case KB_STR:
        if (k->str >= env->img->nstrings) return unknown_value;
        { KrValue v = { .tag = KB_STR }; v.str = env->strval[k->str]; return v; }
    case KB_DUR: case KB_TIME: case KB_WEEKDAY:
        return mk_int(k->tag, k->i);
    default:
        return unknown_value;
    }
}

/* ---- the interpreter ----------------------------------------------------- */

/* An instruction popping in and pushing out values fits a stack of sp. */
static inline bool stack_fits(uint32_t sp, uint32_t in, uint32_t out)
{
    return sp >= in && sp - in + out <= KB_MAX_STACK;
}

int kv_eval(const KvCtx *c, uint32_t fn, KrValue *out)
{
    struct KvMemo memo = { 0 };
    KvCtx top;
    if (c->depth == 0 && !c->memo) {          /* a top-level evaluation: a fresh memo */
        top = *c;
        top.memo = &memo;
        c = &top;
    }
    const KvEnv *env = c->env;
    const KImage *img = env->img;
    KrValue stack[KB_MAX_STACK];
    uint32_t sp = 0;                  /* number of values on the stack */
    int status = -1;
    *out = unknown_value;
    if (fn >= img->nfuncs) goto done;
    const KbFunc *f = &img->funcs[fn];
    if (f->start > img->ncode || f->len > img->ncode - f->start) goto done;
    const uint32_t *code = img->code + f->start;
    uint32_t pc = 0, end = f->len;

/* operand i of the current instruction (checked against the function end) */
#define OPND(i) (code[pc + 1 + (i)])
#define NEED(in, outn) do { if (!stack_fits(sp, (in), (outn))) goto done; } while (0)
#define PUSH(v) (stack[sp++] = (v))

    while (pc < end) {
        uint32_t op = code[pc];
        if (op >= KB_OP__COUNT || pc + 1 + kb_opinfo[op].noperands > end) goto done;
        uint32_t next = pc + 1 + kb_opinfo[op].noperands;
        switch ((KbOp)op) {
        /* CONST k: push constant k */
        case KB_OP_CONST:
            NEED(0, 1);
            if (OPND(0) >= img->nconsts) goto done;
            PUSH(constant(env, &img->consts[OPND(0)]));
            break;
        /* TRUE: push true */
        case KB_OP_TRUE:
            NEED(0, 1);
            PUSH(mk_bool(true));
            break;
        /* FALSE: push false */
        case KB_OP_FALSE:
            NEED(0, 1);
            PUSH(mk_bool(false));
            break;
        /* UNKNOWN: push unknown */
        case KB_OP_UNKNOWN:
            NEED(0, 1);
            PUSH(unknown_value);
            break;
        /* ATTR a t: push attribute a of the current event (the counted event
         * inside a where-function, else the trigger), coerced to tag t;
         * unknown if absent or not coercible */
        case KB_OP_ATTR:
            NEED(0, 1);
            PUSH(attr_of(env, &c->cur, OPND(0), (uint8_t)OPND(1)));
            break;
        /* TATTR a t: push attribute a of the trigger event, coerced to tag t */
        case KB_OP_TATTR:
            NEED(0, 1);
            PUSH(attr_of(env, &c->trig, OPND(0), (uint8_t)OPND(1)));
            break;
        /* TRAIT a t: push the customer's profile trait a (from identify),
         * coerced to tag t */
        case KB_OP_TRAIT: {
            NEED(0, 1);
            KrValue v = unknown_value;
            for (uint32_t i = 0; i < img->ntraits; i++)
                if (img->traits[i] == OPND(0)) {
                    v = kv_coerce(env, kr_hist_trait(c->cust, i), (uint8_t)OPND(1));
                    break;
                }
            PUSH(v);
            break;
        }
        /* NOW: push the send time (time) */
        case KB_OP_NOW:
            NEED(0, 1);
            PUSH(mk_int(KB_TIME, c->now));
            break;
        /* HOUR: push the local hour 0-23 of the send time (number) */
        case KB_OP_HOUR: {
            NEED(0, 1);
            KzLocal l;
            kz_to_local(c->zone, c->now, &l);
            PUSH(mk_num(l.hour));
            break;
        }
        /* WEEKDAY: push the local weekday of the send time */
        case KB_OP_WEEKDAY: {
            NEED(0, 1);
            KzLocal l;
            kz_to_local(c->zone, c->now, &l);
            PUSH(mk_int(KB_WEEKDAY, l.wday));
            break;
        }
        /* COUNT e f w: push the number of the customer's events e in
         * (now - w, now] (w: constant index of a duration, or NONE for all
         * time) for which function f (NONE: always) returns true */
        case KB_OP_COUNT: {
            NEED(0, 1);
            KrValue v;
            if (OPND(0) >= img->nevents) goto done;
            if (!memo_get(c, f->start + pc, &v)) {
                if (op_count(c, OPND(0), OPND(1), OPND(2), &v) != 0) goto done;
                memo_put(c, f->start + pc, v);
            }
            PUSH(v);
            break;
        }
        /* SINCE e: push now minus the time of the customer's last event e at
         * or before now (duration); unknown if none */
        case KB_OP_SINCE: {
            NEED(0, 1);
            if (OPND(0) >= img->nevents) goto done;
            KrHistSpan h;
            uint32_t r = last_record(c, OPND(0), &h);
            PUSH(r == UINT32_MAX ? unknown_value : mk_int(KB_DUR, c->now - kr_hist_time(&h, r)));
            break;
        }
        /* LAST e a t: push attribute a (coerced to t) of the customer's last
         * event e at or before now; unknown if none or absent */
        case KB_OP_LAST: {
            NEED(0, 1);
            if (OPND(0) >= img->nevents) goto done;
            KrHistSpan h;
            uint32_t r = last_record(c, OPND(0), &h);
            KrValue v = unknown_value;
            if (r != UINT32_MAX) {
                KvAttrs s = record_attrs(img, OPND(0), &h, r);
                v = attr_of(env, &s, OPND(1), (uint8_t)OPND(2));
            }
            PUSH(v);
            break;
        }
        /* AGG k e a w: push sum(k=0) avg(1) min(2) max(3) of numeric
         * attribute a over events e in (now - w, now] (w as for COUNT); sum
         * of none is 0, avg/min/max of none are unknown */
        case KB_OP_AGG: {
            NEED(0, 1);
            if (OPND(1) >= img->nevents || OPND(0) > KB_AGG_MAX) goto done;
            KrValue v;
            if (!memo_get(c, f->start + pc, &v)) {
                op_agg(c, (KbAgg)OPND(0), OPND(1), OPND(2), OPND(3), &v);
                memo_put(c, f->start + pc, v);
            }
            PUSH(v);
            break;
        }
        /* ASKED s w: push whether survey s was sent to the customer (an ask's
         * first sent attempt, by any rule) in (now - w, now] (w as for COUNT) */
        case KB_OP_ASKED: {
            NEED(0, 1);
            KrValue v;
            if (!memo_get(c, f->start + pc, &v)) {
                v = mk_bool(op_asked(c, OPND(0), OPND(1)));
                memo_put(c, f->start + pc, v);
            }
            PUSH(v);
            break;
        }
        /* RESPONDED s w: push whether a response event with survey == name
         * of s arrived in (now - w, now] */
        case KB_OP_RESPONDED: {
            NEED(0, 1);
            KrValue v;
            if (!memo_get(c, f->start + pc, &v)) {
                v = mk_bool(op_responded(c, OPND(0), OPND(1)));
                memo_put(c, f->start + pc, v);
            }
            PUSH(v);
            break;
        }
        /* NEG: negate a number or duration */
        case KB_OP_NEG: {
            NEED(1, 1);
            stack[sp - 1] = kval_neg(&stack[sp - 1]);
            break;
        }
        /* ADD: a + b (number+number, duration+duration, time+duration) */
        case KB_OP_ADD:
        /* SUB: a - b (number, duration, time-duration -> time, time-time ->
         * duration) */
        case KB_OP_SUB:
        /* MUL: a * b (number*number, duration*number, number*duration) */
        case KB_OP_MUL:
        /* DIV: a / b (number/number, duration/number -> duration,
         * duration/duration -> number); division by zero is unknown */
        case KB_OP_DIV:
            NEED(2, 1);
            stack[sp - 2] = kval_arith((KbOp)op, &stack[sp - 2], &stack[sp - 1]);
            sp--;
            break;
        /* EQ: a == b; unknown if either is unknown */
        case KB_OP_EQ:
        /* NE: a != b */
        case KB_OP_NE:
        /* LT: a < b (numbers, durations, times, weekdays; strings byte-wise) */
        case KB_OP_LT:
        /* LE: a <= b */
        case KB_OP_LE:
        /* GT: a > b */
        case KB_OP_GT:
        /* GE: a >= b */
        case KB_OP_GE:
            NEED(2, 1);
            stack[sp - 2] = relation(env, (int)op, &stack[sp - 2], &stack[sp - 1]);
            sp--;
            break;
        /* NOT: Kleene not: true<->false, unknown stays unknown */
        case KB_OP_NOT: {
            NEED(1, 1);
            stack[sp - 1] = kval_not(&stack[sp - 1]);
            break;
        }
        /* AND: Kleene and of a and b */
        case KB_OP_AND:
            NEED(2, 1);
            stack[sp - 2] = kval_and(&stack[sp - 2], &stack[sp - 1]);
            sp--;
            break;
        /* OR: Kleene or of a and b */
        case KB_OP_OR:
            NEED(2, 1);
            stack[sp - 2] = kval_or(&stack[sp - 2], &stack[sp - 1]);
            sp--;
            break;
        /* JFALSE off: if the top is false, jump by off keeping it; else pop
         * it (short-circuit of AND) */
        case KB_OP_JFALSE:
        /* JTRUE off: if the top is true, jump by off keeping it; else pop it
         * (short-circuit of OR) */
        case KB_OP_JTRUE: {
            NEED(1, 1);
            int want = op == KB_OP_JTRUE ? 1 : 0;
            if (kv_truth(&stack[sp - 1]) == want) {
                int64_t to = (int64_t)next + (int32_t)OPND(0);
                if (to < 0 || to > end) goto done;
                next = (uint32_t)to;
            } else {
                sp--;
            }
            break;
        }
        /* JUMP off: jump by off */
        case KB_OP_JUMP: {
            int64_t to = (int64_t)next + (int32_t)OPND(0);
            if (to < 0 || to > end) goto done;
            next = (uint32_t)to;
            break;
        }
        /* IN n: pop n items then a value x; push true if x equals an item,
         * else unknown if x or an item is unknown, else false */
        case KB_OP_IN: {
            uint32_t n = OPND(0);
            if (n >= KB_MAX_STACK) goto done;
            NEED(n + 1, 1);
            KValStrings ss = { pool_get, env->values };
            KrValue r = kval_in(&stack[sp - n - 1], &stack[sp - n], n, &ss);
            sp -= n + 1;
            PUSH(r);
            break;
        }
        /* RET: return the top of the stack as the function's value */
        case KB_OP_RET:
            NEED(1, 0);
            *out = stack[sp - 1];
            status = 0;
            goto done;
        /* DUP: push a copy of the top (short-circuit AND/OR: a; DUP; JFALSE
         * L; b; L: AND) */
        case KB_OP_DUP:
            NEED(1, 2);
            stack[sp] = stack[sp - 1];
            sp++;
            break;
        default:
            goto done;
        }
        if (c->tvals && kb_opinfo[op].stack_out && op != KB_OP_DUP && op != KB_OP_JFALSE &&
            op != KB_OP_JTRUE) {                 /* explain: what this instruction produced */
            c->tvals[f->start + pc] = stack[sp - 1];
            c->tseen[f->start + pc] = 1;
        }
        pc = next;
    }
done:
#undef OPND
#undef NEED
#undef PUSH
    free(memo.keys);
    free(memo.vals);
    return status;
}
