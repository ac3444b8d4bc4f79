/* codegen.c -- the code generator (kg_compile): a checked KProgram becomes a
 * self-contained KImage (lang/bytecode.h).
 *
 * Every rule gets up to three functions: where (run at trigger time with
 * the trigger as the current event), if and unless (run at send time).
 * count(E where X) gets a function of its own, run with each counted E as
 * the current event.  Lets are inlined at each use.  Constants are folded
 * (numbers, durations, strings, weekdays, Kleene logic) and dead branches
 * dropped; a where/if that folds to true and an unless that folds to false
 * produce no function at all.  Short-circuit and/or keep three-valued
 * results exact:  a and b  =  a; DUP; JFALSE L; b; L: AND.
 *
 * While emitting, the generator records what the runtime must keep: the
 * retention table per event kind (counts, last events, windows, attributes),
 * the traits read, and how long the send history matters (sent_window).
 * The result is checked with kb_verify (which also fills max_stack); a
 * failure there is an internal error.
 *
 * Tables are filled in first-use order so that the same source always
 * gives the same image, and so the same .kbc bytes.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lang.h"
#include "value.h"

/* ---- growable arrays ----------------------------------------------------- */

typedef struct U32s { uint32_t *v; uint32_t n, cap; } U32s;

/* Grows *v (of elements of size sz, capacity *cap) to hold n+1. */
static bool grow(void **v, uint32_t *cap, uint32_t n, size_t sz)
{
    if (n < *cap) return true;
    uint32_t nc = *cap ? *cap * 2 : 16;
    if (nc <= n || (size_t)nc > SIZE_MAX / sz) return false;
    void *p = realloc(*v, nc * sz);
    if (!p) return false;
    *v = p;
    *cap = nc;
    return true;
}

/* An open-addressing hash index over the ids 0..n-1 of one table: a slot
 * holds id + 1 (0 is empty); the table's owner hashes and compares, so that
 * interning stays linear in the size of the policy. */
typedef struct Index { uint32_t *slot; uint32_t cap, n; } Index;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(h);
}

/* Makes room for one more id, rehashing ids 0..x->n-1 with hash(ctx, id)
 * when the index grows; false when out of memory. */
static bool index_reserve(Index *x, uint64_t (*hash)(const void *ctx, uint32_t id), const void *ctx)
{
    if ((uint64_t)(x->n + 1) * 2 <= x->cap) return true;
    uint32_t nc = x->cap ? x->cap * 2 : 64;
    if (nc <= x->cap) return false;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (uint32_t id = 0; id < x->n; id++) {
        uint32_t i = (uint32_t)hash(ctx, id) & (nc - 1);
        while (ns[i]) i = (i + 1) & (nc - 1);
        ns[i] = id + 1;
    }
    free(x->slot);
    x->slot = ns;
    x->cap = nc;
    return true;
}

/* ---- generator state ------------------------------------------------------- */

typedef struct Gen {
    const KProgram *p;
    bool failed;
    char err[240];

    /* image tables under construction */
    char **strs; uint32_t *str_lens; uint32_t nstrs, cap_strs, cap_lens;
    KbConst *consts; uint32_t nconsts, cap_consts;
    U32s code, lines;
    KbFunc *funcs; uint32_t nfuncs, cap_funcs;
    U32s events, attrs, channels, surveys, traits;
    KbRetention *ret; uint32_t cap_ret;       /* parallel to events */
    int64_t sent_window;

    uint32_t policy_src;                      /* source id of the policy file */
    uint32_t *line_starts; uint32_t nline_starts;
    int let_depth;
    Index str_ix, const_ix;                   /* over strs, consts */
    Index event_ix, attr_ix, channel_ix, survey_ix, trait_ix;   /* over the name tables */

    /* debug information (KbAttrRead, KbLetName) */
    KbAttrRead *areads; uint32_t nareads, cap_areads;
    KbLetName *lnames; uint32_t nlnames, cap_lnames;
    uint32_t cur_rule;                        /* rule being compiled */
    KSpan name_span;                          /* the name gen_attr is reading */
} Gen;

/* A function under construction (its own buffers: a count where-function
 * is finished, and gets its index, before the function that names it). */
typedef struct Fn {
    U32s code, lines;
    uint32_t line;                            /* source line of the node being emitted */
    uint32_t trigger_event;                   /* image index of the rule's trigger, or KB_NONE */
    uint32_t counted_event;                   /* inside a count where-function, else KB_NONE */
    uint32_t last_op;                         /* code word of the last instruction emitted */
    KbLetName *lets; uint32_t nlets, caplets; /* pc relative to the function */
} Fn;

static void fail(Gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Gen *g, const char *fmt, ...)
{
    if (g->failed) return;
    g->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
}

static void push(Gen *g, U32s *a, uint32_t v)
{
    if (!grow((void **)&a->v, &a->cap, a->n, sizeof *a->v)) { fail(g, "out of memory"); return; }
    a->v[a->n++] = v;
}

static uint64_t u32s_hash(const void *ctx, uint32_t id) { return mix64(((const U32s *)ctx)->v[id]); }

/* Position of v in a (whose ids ix indexes), appending it when add; KB_NONE
 * when absent and not added (or out of memory). */
static uint32_t find_u32(Gen *g, U32s *a, Index *ix, uint32_t v, bool add)
{
    if (!index_reserve(ix, u32s_hash, a)) { fail(g, "out of memory"); return KB_NONE; }
    uint32_t i = (uint32_t)mix64(v) & (ix->cap - 1);
    for (; ix->slot[i]; i = (i + 1) & (ix->cap - 1))
        if (a->v[ix->slot[i] - 1] == v) return ix->slot[i] - 1;
    if (!add) return KB_NONE;
    push(g, a, v);
    if (g->failed) return KB_NONE;
    ix->slot[i] = a->n;
    ix->n++;
    return a->n - 1;
}

static void push_unique(Gen *g, U32s *a, Index *ix, uint32_t v)
{
    find_u32(g, a, ix, v, true);
}

/* ---- interning ----------------------------------------------------------- */

static uint64_t str_hash(const void *ctx, uint32_t id)
{
    const Gen *g = ctx;
    return hash_bytes(g->strs[id], g->str_lens[id]);
}

static uint32_t str_n(Gen *g, const char *s, size_t len)
{
    if (!index_reserve(&g->str_ix, str_hash, g)) { fail(g, "out of memory"); return 0; }
    uint32_t slot = (uint32_t)hash_bytes(s, len) & (g->str_ix.cap - 1);
    for (; g->str_ix.slot[slot]; slot = (slot + 1) & (g->str_ix.cap - 1)) {
        uint32_t i = g->str_ix.slot[slot] - 1;
        if (g->str_lens[i] == len && memcmp(g->strs[i], s, len) == 0) return i;
    }
    if (len > UINT32_MAX ||
        !grow((void **)&g->strs, &g->cap_strs, g->nstrs, sizeof *g->strs) ||
        !grow((void **)&g->str_lens, &g->cap_lens, g->nstrs, sizeof *g->str_lens)) {
        fail(g, "out of memory");
        return 0;
    }
    char *c = malloc(len + 1);
    if (!c) { fail(g, "out of memory"); return 0; }
    if (len) memcpy(c, s, len);
    c[len] = '\0';
    g->strs[g->nstrs] = c;
    g->str_lens[g->nstrs] = (uint32_t)len;
    g->str_ix.slot[slot] = g->nstrs + 1;
    g->str_ix.n++;
    return g->nstrs++;
}

static uint32_t str(Gen *g, const char *s)
{
    return str_n(g, s ? s : "", s ? strlen(s) : 0);
}

/* Index in a name table (of string indexes) of name s, appending it if new. */
static uint32_t table_index(Gen *g, U32s *t, const char *s, bool add)
{
    uint32_t si = str(g, s);
    Index *ix = t == &g->events ? &g->event_ix : t == &g->attrs ? &g->attr_ix :
                t == &g->channels ? &g->channel_ix : &g->survey_ix;
    if (g->failed) return add ? 0 : KB_NONE;
    uint32_t i = find_u32(g, t, ix, si, add);
    return i == KB_NONE && add ? 0 : i;
}

static uint32_t event_index(Gen *g, const char *name)
{
    uint32_t before = g->events.n;
    uint32_t e = table_index(g, &g->events, name, true);
    if (g->events.n != before) {
        if (!grow((void **)&g->ret, &g->cap_ret, e, sizeof *g->ret)) { fail(g, "out of memory"); return 0; }
        memset(&g->ret[e], 0, sizeof g->ret[e]);
    }
    return g->failed ? 0 : e;
}

static uint32_t attr_index(Gen *g, const char *name) { return table_index(g, &g->attrs, name, true); }

static uint32_t channel_index(Gen *g, const char *name)
{
    uint32_t c = table_index(g, &g->channels, name, false);
    if (c == KB_NONE) fail(g, "unknown channel `%s`", name ? name : "?");
    return c;
}

static uint32_t survey_index(Gen *g, const char *name)
{
    uint32_t s = table_index(g, &g->surveys, name, false);
    if (s == KB_NONE) fail(g, "unknown survey `%s`", name ? name : "?");
    return s;
}

/* The bits that make a constant equal to another of its tag. */
static uint64_t const_key(const KbConst *c)
{
    uint64_t k;
    if (c->tag == KB_NUM) memcpy(&k, &c->num, sizeof k);
    else if (c->tag == KB_STR) k = c->str;
    else if (c->tag == KB_BOOL) k = c->b;
    else k = (uint64_t)c->i;
    return k;
}

static uint64_t const_hash(const void *ctx, uint32_t id)
{
    const KbConst *c = &((const Gen *)ctx)->consts[id];
    return mix64(const_key(c) ^ ((uint64_t)c->tag << 56) ^ c->tag);
}

static uint32_t const_index(Gen *g, KbConst c)
{
    if (c.tag == KB_NUM && c.num == 0) c.num = 0;          /* -0 is 0 */
    if (!index_reserve(&g->const_ix, const_hash, g)) { fail(g, "out of memory"); return 0; }
    uint64_t key = const_key(&c);
    uint32_t slot = (uint32_t)mix64(key ^ ((uint64_t)c.tag << 56) ^ c.tag) & (g->const_ix.cap - 1);
    for (; g->const_ix.slot[slot]; slot = (slot + 1) & (g->const_ix.cap - 1)) {
        const KbConst *k = &g->consts[g->const_ix.slot[slot] - 1];
        if (k->tag == c.tag && const_key(k) == key) return g->const_ix.slot[slot] - 1;
    }
    if (!grow((void **)&g->consts, &g->cap_consts, g->nconsts, sizeof *g->consts)) {
        fail(g, "out of memory");
        return 0;
    }
    g->consts[g->nconsts] = c;
    g->const_ix.slot[slot] = g->nconsts + 1;
    g->const_ix.n++;
    return g->nconsts++;
}

static uint32_t dur_const(Gen *g, int64_t seconds)
{
    return const_index(g, (KbConst){ .tag = KB_DUR, .i = seconds });
}

/* ---- retention bookkeeping ---------------------------------------------- */

static void keep_window(Gen *g, uint32_t e, int64_t w)
{
    if (g->failed) return;
    if (w > g->ret[e].window) g->ret[e].window = w;
}

static void keep_attr(Gen *g, uint32_t e, uint32_t a)
{
    if (g->failed || e == KB_NONE) return;
    KbRetention *r = &g->ret[e];
    for (uint32_t i = 0; i < r->nattrs; i++)
        if (r->attrs[i] == a) return;
    uint32_t *v = realloc(r->attrs, (r->nattrs + 1) * sizeof *v);
    if (!v) { fail(g, "out of memory"); return; }
    v[r->nattrs++] = a;
    r->attrs = v;
}

static void keep_sent(Gen *g, int64_t w)
{
    if (w > g->sent_window) g->sent_window = w;
}

/* ---- source lines ------------------------------------------------------- */

static void build_lines(Gen *g)
{
    const KSources *s = &g->p->sources;
    if (g->policy_src >= s->n) return;
    const KSource *src = &s->v[g->policy_src];
    U32s t = {0};
    push(g, &t, 0);
    for (size_t i = 0; i < src->len; i++)
        if (src->text[i] == '\n') push(g, &t, (uint32_t)(i + 1));
    g->line_starts = t.v;
    g->nline_starts = t.n;
}

/* Line of a byte offset in the policy file (binary search). */
static uint32_t policy_line(const Gen *g, uint32_t off)
{
    uint32_t lo = 0, hi = g->nline_starts;
    if (!hi) return 0;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->line_starts[mid] <= off) lo = mid;
        else hi = mid;
    }
    return lo + 1;
}

/* Line of a span in any source (rules from stdlib modules too). */
static uint32_t span_line(const Gen *g, KSpan sp)
{
    if (sp.src == g->policy_src) return policy_line(g, sp.lo);
    const KSources *s = &g->p->sources;
    if (sp.src >= s->n) return 0;
    const KSource *src = &s->v[sp.src];
    uint32_t line = 1;
    for (uint32_t i = 0; i < sp.lo && i < src->len; i++)
        if (src->text[i] == '\n') line++;
    return line;
}

/* ---- emitting ------------------------------------------------------------ */

static void emit(Gen *g, Fn *f, KbOp op, int nops, ...)
{
    f->last_op = f->code.n;
    push(g, &f->code, (uint32_t)op);
    push(g, &f->lines, f->line);
    va_list ap;
    va_start(ap, nops);
    for (int i = 0; i < nops; i++) {
        push(g, &f->code, va_arg(ap, uint32_t));
        push(g, &f->lines, 0);
    }
    va_end(ap);
}

/* Emits a forward jump; returns the position of its operand for patch(). */
static uint32_t emit_jump(Gen *g, Fn *f, KbOp op)
{
    emit(g, f, op, 1, 0u);
    return f->code.n - 1;
}

/* Points the jump whose operand is at `at` to the current end of f. */
static void patch(Gen *g, Fn *f, uint32_t at)
{
    if (g->failed) return;
    f->code.v[at] = f->code.n - (at + 1);
}

/* ---- constant values and folding --------------------------------------- */

/* A compile-time value: tag KB_UNKNOWN is the known "unknown". */
typedef struct CV {
    uint8_t tag;
    double num;
    int64_t i;
    bool b;
    const char *s; size_t slen;
} CV;

static KbTag tag_of(KType t)
{
    switch (t) {
    case KT_NUMBER: return KB_NUM;
    case KT_STRING: return KB_STR;
    case KT_BOOL: return KB_BOOL;
    case KT_DURATION: return KB_DUR;
    case KT_TIME: return KB_TIME;
    case KT_WEEKDAY: return KB_WEEKDAY;
    default: return KB_UNTYPED;
    }
}

static bool is_kleene(const CV *c) { return c->tag == KB_BOOL || c->tag == KB_UNKNOWN; }

static CV cv_bool(bool b) { return (CV){ .tag = KB_BOOL, .b = b }; }

/* ---- the bridge to lang/value.h: folding computes with the VM's functions */

/* The KValue of c; a string gets the id `id` into the folded operands. */
static KValue kv_of(const CV *c, uint32_t id)
{
    KValue v = { .tag = c->tag };
    switch (c->tag) {
    case KB_NUM: v.num = c->num; break;
    case KB_BOOL: v.b = c->b; break;
    case KB_STR: v.str = id; break;
    default: v.i = c->i; break;
    }
    return v;
}

/* The CV of a computed value (never a string). */
static CV cv_of(KValue v)
{
    switch (v.tag) {
    case KB_NUM: return (CV){ .tag = KB_NUM, .num = v.num };
    case KB_BOOL: return cv_bool(v.b);
    case KB_UNKNOWN: return (CV){ .tag = KB_UNKNOWN };
    default: return (CV){ .tag = v.tag, .i = v.i };
    }
}

/* String ids of folded operands index an array of CVs. */
static const char *cv_str(const void *ctx, uint32_t id, size_t *len)
{
    const CV *v = ((const CV *const *)ctx)[id];
    *len = v->slen;
    return v->s ? v->s : "";
}

KbOp kg_vm_op(KOp op)
{
    switch (op) {
    case KOP_ADD: return KB_OP_ADD;
    case KOP_SUB: return KB_OP_SUB;
    case KOP_MUL: return KB_OP_MUL;
    case KOP_DIV: return KB_OP_DIV;
    case KOP_EQ: return KB_OP_EQ;
    case KOP_NE: return KB_OP_NE;
    case KOP_LT: return KB_OP_LT;
    case KOP_LE: return KB_OP_LE;
    case KOP_GT: return KB_OP_GT;
    default: return KB_OP_GE;
    }
}

static const KExpr *let_value(const KExpr *e)
{
    if (e->res != KRES_LET || !e->res_let || e->res_let->kind != KDECL_LET) return NULL;
    return e->res_let->let.value;
}

/* True when operand e of `no` names an event (no E [within D]) rather
 * than a boolean (no X = not X). */
static bool names_event(const KExpr *e)
{
    return e->kind == KEX_WITHIN || (e->kind == KEX_NAME && e->res == KRES_EVENT);
}

static bool fold(Gen *g, const KExpr *e, CV *out);

/* Folds arithmetic on two known values with kval_arith, the VM's own.
 * duration * number, number * duration and duration / number are folded
 * only when the result is a whole number of seconds (the VM truncates;
 * leaving the rest to run time keeps the compiled code as it was). */
static bool fold_arith(KOp op, const CV *a, const CV *b, CV *out)
{
    const CV *d = a->tag == KB_DUR ? a : b, *n = a->tag == KB_DUR ? b : a;
    if (d->tag == KB_DUR && n->tag == KB_NUM && (op == KOP_MUL || (op == KOP_DIV && a == d)) &&
        !(op == KOP_DIV && n->num == 0)) {
        double r = op == KOP_MUL ? (double)d->i * n->num : (double)d->i / n->num;
        if (!isfinite(r) || r != floor(r) || fabs(r) >= 9.0e18) return false;
    }
    KValue x = kv_of(a, 0), y = kv_of(b, 1);
    *out = cv_of(kval_arith(kg_vm_op(op), &x, &y));
    return true;
}

static bool fold_binary(Gen *g, const KExpr *e, CV *out)
{
    CV a, b;
    bool fa = fold(g, e->a, &a), fb = fold(g, e->b, &b);
    switch (e->op) {
    case KOP_AND:
        if ((fa && a.tag == KB_BOOL && !a.b) || (fb && b.tag == KB_BOOL && !b.b)) { *out = cv_bool(false); return true; }
        if (fa && fb && is_kleene(&a) && is_kleene(&b)) {
            KValue x = kv_of(&a, 0), y = kv_of(&b, 1);
            *out = cv_of(kval_and(&x, &y));
            return true;
        }
        return false;
    case KOP_OR:
        if ((fa && a.tag == KB_BOOL && a.b) || (fb && b.tag == KB_BOOL && b.b)) { *out = cv_bool(true); return true; }
        if (fa && fb && is_kleene(&a) && is_kleene(&b)) {
            KValue x = kv_of(&a, 0), y = kv_of(&b, 1);
            *out = cv_of(kval_or(&x, &y));
            return true;
        }
        return false;
    default:
        break;
    }
    if (!fa || !fb) return false;
    switch (e->op) {
    case KOP_ADD: case KOP_SUB: case KOP_MUL: case KOP_DIV:
        return fold_arith(e->op, &a, &b, out);
    case KOP_EQ: case KOP_NE: case KOP_LT: case KOP_LE: case KOP_GT: case KOP_GE: {
        const CV *strs[2] = { &a, &b };
        KValStrings ss = { cv_str, strs };
        KValue x = kv_of(&a, 0), y = kv_of(&b, 1);
        *out = cv_of(kval_relation(kg_vm_op(e->op), &x, &y, &ss));
        return true;
    }
    default:
        return false;
    }
}

/* Folds e to a compile-time value when every leaf is a literal (lets are
 * looked through).  Never emits anything. */
static bool fold(Gen *g, const KExpr *e, CV *out)
{
    if (!e || g->failed) return false;
    switch (e->kind) {
    case KEX_NUM: *out = (CV){ .tag = KB_NUM, .num = e->num }; return true;
    case KEX_STR: *out = (CV){ .tag = KB_STR, .s = e->str ? e->str : "", .slen = e->str ? e->slen : 0 }; return true;
    case KEX_BOOL: *out = cv_bool(e->bval); return true;
    case KEX_DUR: *out = (CV){ .tag = KB_DUR, .i = e->dur }; return true;
    case KEX_WEEKDAY: *out = (CV){ .tag = KB_WEEKDAY, .i = e->weekday }; return true;
    case KEX_NAME: {
        const KExpr *v = let_value(e);
        if (!v) return false;
        if (g->let_depth > 100) { fail(g, "lets nested too deeply"); return false; }
        g->let_depth++;
        bool ok = fold(g, v, out);
        g->let_depth--;
        return ok;
    }
    case KEX_UNARY: {
        CV a;
        if (e->op == KOP_NO && names_event(e->a)) return false;
        if (!fold(g, e->a, &a)) return false;
        if (!is_kleene(&a) && (e->op == KOP_NOT || e->op == KOP_NO)) return false;
        KValue x = kv_of(&a, 0);
        *out = cv_of(e->op == KOP_NEG ? kval_neg(&x) : kval_not(&x));
        return true;
    }
    case KEX_BINARY:
        return fold_binary(g, e, out);
    case KEX_IN: {
        CV x;
        if (!fold(g, e->a, &x)) return false;
        CV *cv = calloc((size_t)e->nargs + 1, sizeof *cv);
        const CV **strs = calloc((size_t)e->nargs + 1, sizeof *strs);
        KValue *kv = calloc((size_t)e->nargs + 1, sizeof *kv);
        bool ok = cv && strs && kv;
        if (!ok) fail(g, "out of memory");
        for (uint32_t i = 0; ok && i < e->nargs; i++) ok = fold(g, e->args[i], &cv[i + 1]);
        if (ok) {
            cv[0] = x;
            for (uint32_t i = 0; i <= e->nargs; i++) { strs[i] = &cv[i]; kv[i] = kv_of(&cv[i], i); }
            KValStrings ss = { cv_str, strs };
            *out = cv_of(kval_in(&kv[0], &kv[1], e->nargs, &ss));
        }
        free(cv);
        free(strs);
        free(kv);
        return ok;
    }
    default:
        return false;
    }
}

static void emit_cv(Gen *g, Fn *f, const CV *c)
{
    switch (c->tag) {
    case KB_UNKNOWN: emit(g, f, KB_OP_UNKNOWN, 0); return;
    case KB_BOOL: emit(g, f, c->b ? KB_OP_TRUE : KB_OP_FALSE, 0); return;
    case KB_NUM: emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_NUM, .num = c->num })); return;
    case KB_STR: {
        uint32_t s = str_n(g, c->s, c->slen);
        emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_STR, .str = s }));
        return;
    }
    default: emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = c->tag, .i = c->i })); return;
    }
}

/* ---- expressions ----------------------------------------------------------- */

static void gen(Gen *g, Fn *f, const KExpr *e, KbTag hint);
static uint32_t compile_fn(Gen *g, const KExpr *e, uint32_t trigger_event, uint32_t counted_event);

/* The expected-type operand for a value of type t read from an event or
 * trait: its own type if known, else what the context wants. */
static uint32_t want_tag(KType t, KbTag hint)
{
    KbTag k = tag_of(t);
    if (k != KB_UNTYPED) return k;
    return hint == KB_UNKNOWN ? KB_UNTYPED : hint;
}

/* The window operand of a `within D` (KB_NONE without one); *secs gets its
 * length (KB_FOREVER without one). */
static uint32_t window_of(Gen *g, const KExpr *d, int64_t *secs)
{
    *secs = KB_FOREVER;
    if (!d) return KB_NONE;
    CV c;
    if (!fold(g, d, &c) || c.tag != KB_DUR || c.i < 0) {
        fail(g, "a `within` window is not a constant duration");
        return KB_NONE;
    }
    *secs = c.i;
    return dur_const(g, c.i);
}

/* The event named by e (an event name). */
static uint32_t event_of(Gen *g, const KExpr *e)
{
    if (!e || e->kind != KEX_NAME || !e->name) { fail(g, "expected an event name"); return 0; }
    return event_index(g, e->name);
}

static const char *field_name(const KExpr *e)
{
    return e->field ? e->field : e->name;
}

static void gen_count(Gen *g, Fn *f, uint32_t ev, const KExpr *where, const KExpr *within, uint32_t trigger_event)
{
    int64_t w;
    uint32_t wi = window_of(g, within, &w);
    uint32_t fn = KB_NONE;
    if (where) {
        CV c;
        if (fold(g, where, &c) && is_kleene(&c)) {
            if (!(c.tag == KB_BOOL && c.b)) {            /* nothing counts */
                emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_NUM, .num = 0 }));
                return;
            }
        } else {
            fn = compile_fn(g, where, trigger_event, ev);
        }
    }
    if (g->failed) return;
    if (fn == KB_NONE && !within) g->ret[ev].flags |= KB_RET_COUNT;
    else keep_window(g, ev, w);
    emit(g, f, KB_OP_COUNT, 3, ev, fn, wi);
}

/* count(E [where X] [within D]) with the parser's layouts: the window in
 * e->within, or (unpeeled) the argument written as `E within D`. */
static void split_event_arg(const KExpr *e, const KExpr **ev, const KExpr **within)
{
    *ev = e->nargs ? e->args[0] : NULL;
    *within = e->within;
    if (*ev && (*ev)->kind == KEX_WITHIN && !*within) {
        *within = (*ev)->b;
        *ev = (*ev)->a;
    }
}

static void gen_call(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    const char *name = e->name ? e->name : "";
    const KExpr *arg, *within;
    split_event_arg(e, &arg, &within);
    if (!arg) { fail(g, "%s() without an argument", name); return; }
    int64_t w;
    if (strcmp(name, "count") == 0) {
        gen_count(g, f, event_of(g, arg), e->where, within, f->trigger_event);
    } else if (strcmp(name, "since") == 0) {
        uint32_t ev = event_of(g, arg);
        if (g->failed) return;
        g->ret[ev].flags |= KB_RET_LAST;
        emit(g, f, KB_OP_SINCE, 1, ev);
    } else if (strcmp(name, "asked") == 0 || strcmp(name, "responded") == 0) {
        bool asked = name[0] == 'a';
        uint32_t s = survey_index(g, arg->name);
        uint32_t wi = window_of(g, within, &w);
        if (g->failed) return;
        if (asked) {
            keep_sent(g, w);
        } else {
            uint32_t resp = event_index(g, KB_EV_RESPONSE);
            keep_window(g, resp, w);
            keep_attr(g, resp, attr_index(g, "survey"));
        }
        emit(g, f, asked ? KB_OP_ASKED : KB_OP_RESPONDED, 2, s, wi);
    } else {
        static const char *const aggs[4] = { [KB_AGG_SUM] = "sum", [KB_AGG_AVG] = "avg", [KB_AGG_MIN] = "min",
                                              [KB_AGG_MAX] = "max" };
        uint32_t k = 0;
        while (k < 4 && strcmp(name, aggs[k]) != 0) k++;
        if (k == 4) { fail(g, "unknown function %s()", name); return; }
        if (arg->kind != KEX_FIELD || !arg->a) { fail(g, "%s() expects E.attr", name); return; }
        uint32_t ev = event_of(g, arg->a);
        uint32_t a = attr_index(g, field_name(arg));
        uint32_t wi = window_of(g, within, &w);
        if (g->failed) return;
        keep_window(g, ev, w);
        keep_attr(g, ev, a);
        emit(g, f, KB_OP_AGG, 4, k, ev, a, wi);
    }
    (void)hint;
}

/* Debug information: rule g->cur_rule reads attribute a of its trigger
 * event as type t, named at g->name_span (the first such place per rule
 * and attribute is kept; reads as two types keep KB_UNTYPED). */
static void note_attr_read(Gen *g, const Fn *f, uint32_t a, uint32_t t)
{
    if (f->trigger_event == KB_NONE || g->cur_rule == KB_NONE) return;
    for (uint32_t i = g->nareads; i-- > 0 && g->areads[i].rule == g->cur_rule;)
        if (g->areads[i].attr == a) {
            if (g->areads[i].tag != t) g->areads[i].tag = KB_UNTYPED;
            return;
        }
    const KSources *s = &g->p->sources;
    KSpan sp = g->name_span;
    if (sp.src >= s->n) return;
    /* line and column (characters from 1, as diagnostics count them),
     * without touching the source's caches */
    const KSource *src = &s->v[sp.src];
    uint32_t line = span_line(g, sp), col = 1, lo = sp.lo < src->len ? sp.lo : (uint32_t)src->len;
    uint32_t start = lo;
    while (start > 0 && src->text[start - 1] != '\n') start--;
    for (uint32_t i = start; i < lo; i++)
        if (((unsigned char)src->text[i] & 0xC0) != 0x80) col++;
    uint32_t file = str(g, s->v[sp.src].name ? s->v[sp.src].name : "?");
    if (!grow((void **)&g->areads, &g->cap_areads, g->nareads, sizeof *g->areads)) {
        fail(g, "out of memory");
        return;
    }
    g->areads[g->nareads++] = (KbAttrRead){ g->cur_rule, a, file, line, col, t };
}

/* Reads an attribute: of the trigger (TATTR), of the counted event (ATTR)
 * or a profile trait (TRAIT). */
static void gen_attr(Gen *g, Fn *f, KRes res, const char *name, uint32_t t)
{
    uint32_t a = attr_index(g, name);
    if (g->failed) return;
    switch (res) {
    case KRES_TRIGGER_ATTR:
        keep_attr(g, f->trigger_event, a);
        note_attr_read(g, f, a, t);
        emit(g, f, KB_OP_TATTR, 2, a, t);
        break;
    case KRES_EVENT_ATTR:
        if (f->counted_event == KB_NONE) {          /* outside a count: the trigger's */
            keep_attr(g, f->trigger_event, a);
            note_attr_read(g, f, a, t);
            emit(g, f, KB_OP_TATTR, 2, a, t);
        } else {
            keep_attr(g, f->counted_event, a);
            emit(g, f, KB_OP_ATTR, 2, a, t);
        }
        break;
    default:
        push_unique(g, &g->traits, &g->trait_ix, a);
        emit(g, f, KB_OP_TRAIT, 2, a, t);
        break;
    }
}

static void gen_name(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    switch (e->res) {
    case KRES_LET: {
        const KExpr *v = let_value(e);
        if (!v) { fail(g, "let `%s` has no value", e->name ? e->name : "?"); return; }
        if (g->let_depth > 100) { fail(g, "lets nested too deeply"); return; }
        g->let_depth++;
        uint32_t before = f->code.n;
        gen(g, f, v, hint);
        g->let_depth--;
        if (g->failed || f->code.n == before || !e->name) return;
        uint32_t name = str(g, e->name);
        if (f->nlets && f->lets[f->nlets - 1].pc == f->last_op) {
            f->lets[f->nlets - 1].name = name;      /* let a = b: the outer name */
            return;
        }
        if (!grow((void **)&f->lets, &f->caplets, f->nlets, sizeof *f->lets)) {
            fail(g, "out of memory");
            return;
        }
        f->lets[f->nlets++] = (KbLetName){ f->last_op, name };
        return;
    }
    case KRES_NOW: emit(g, f, KB_OP_NOW, 0); return;
    case KRES_HOUR: emit(g, f, KB_OP_HOUR, 0); return;
    case KRES_WEEKDAY_NOW: emit(g, f, KB_OP_WEEKDAY, 0); return;
    case KRES_TRIGGER_ATTR: case KRES_EVENT_ATTR:
        /* a bare attribute name: of the counted event inside a where-function,
         * else of the trigger (decided here, not by e->res: a let's body is
         * shared by all its uses, and each use is checked in its own context) */
        g->name_span = e->span;
        gen_attr(g, f, KRES_EVENT_ATTR, e->name, want_tag(e->type, hint));
        return;
    case KRES_TRAIT:
        gen_attr(g, f, e->res, e->name, want_tag(e->type, hint));
        return;
    case KRES_EVENT: {                                 /* an event as a condition: it happened */
        gen_count(g, f, event_of(g, e), NULL, NULL, f->trigger_event);
        emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_NUM, .num = 0 }));
        emit(g, f, KB_OP_GT, 0);
        return;
    }
    default:
        fail(g, "unresolved name `%s`", e->name ? e->name : "?");
    }
}

static void gen_field(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    const KExpr *base = e->a;
    const char *fname = field_name(e);
    uint32_t t = want_tag(e->type, hint);
    if (base && base->kind == KEX_CALL && base->name && strcmp(base->name, "last") == 0) {
        const KExpr *arg, *within;
        split_event_arg(base, &arg, &within);
        uint32_t ev = event_of(g, arg);
        uint32_t a = attr_index(g, fname);
        if (g->failed) return;
        g->ret[ev].flags |= KB_RET_LAST;
        keep_attr(g, ev, a);
        emit(g, f, KB_OP_LAST, 3, ev, a, t);
        return;
    }
    KRes res = e->res;
    if (res != KRES_TRIGGER_ATTR && res != KRES_TRAIT && res != KRES_EVENT_ATTR && base && base->kind == KEX_NAME && base->name)
        res = strcmp(base->name, "customer") == 0 ? KRES_TRAIT : KRES_TRIGGER_ATTR;
    if (res == KRES_EVENT_ATTR) res = KRES_TRIGGER_ATTR;   /* trigger.attr inside a count */
    g->name_span = e->field_span.hi > 0 ? e->field_span : e->span;
    gen_attr(g, f, res, fname, t);
}

/* The tag an untyped operand of arithmetic takes, given the node's tag
 * (its type, or for an untyped node the tag its context wants: `when + 2d`
 * compared with a time is a time) and the other operand's tag.  Where the
 * context leaves the node untyped, an attribute is not read as a duration
 * when a time would do: no cell is ever a duration (SPEC 4.12), so that
 * reading could only be unknown. */
static KbTag arith_hint(KOp op, KbTag n, KbTag other, bool left)
{
    if (n == KB_UNTYPED && other == KB_DUR && (op == KOP_ADD || (op == KOP_SUB && left))) return KB_TIME;
    if (n == KB_NUM) return KB_NUM;
    if (n == KB_DUR) {
        if (op == KOP_MUL || op == KOP_DIV) return other == KB_DUR ? KB_NUM : KB_DUR;
        if (op == KOP_SUB && other == KB_TIME) return KB_TIME;
        return KB_DUR;
    }
    if (n == KB_TIME) return other == KB_DUR ? KB_TIME : (left ? KB_TIME : KB_DUR);
    return other;
}

/* The tag an untyped expression will have (arith_hint's choices for an
 * untyped node without a context), or KB_UNTYPED. */
static KbTag result_tag(const KExpr *e, int depth)
{
    KbTag t = tag_of(e->type);
    if (t != KB_UNTYPED || e->kind != KEX_BINARY || depth > 64) return t;
    if (e->op != KOP_ADD && e->op != KOP_SUB) return KB_UNTYPED;
    KbTag a = result_tag(e->a, depth + 1), b = result_tag(e->b, depth + 1);
    bool add = e->op == KOP_ADD;
    if (a == KB_UNTYPED && b == KB_DUR) return KB_TIME;                     /* when + 2d, when - 2d */
    if (add && a == KB_DUR && b == KB_UNTYPED) return KB_TIME;              /* 2d + when */
    if (!add && ((a == KB_UNTYPED && b == KB_TIME) || (a == KB_TIME && b == KB_UNTYPED)))
        return KB_DUR;                                                      /* when - now, now - when */
    /* both known (an untyped node over typed results): the operators' types */
    if ((a == KB_TIME && b == KB_DUR) || (add && a == KB_DUR && b == KB_TIME)) return KB_TIME;
    if (!add && a == KB_TIME && b == KB_TIME) return KB_DUR;
    if (a == KB_DUR && b == KB_DUR) return KB_DUR;
    if (a == KB_NUM && b == KB_NUM) return KB_NUM;
    return KB_UNTYPED;
}

static void gen_binary(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    if (e->op == KOP_AND || e->op == KOP_OR) {
        CV a, b;
        bool neutral = e->op == KOP_AND;                 /* true for and, false for or */
        if (fold(g, e->a, &a) && a.tag == KB_BOOL && a.b == neutral) { gen(g, f, e->b, KB_BOOL); return; }
        if (fold(g, e->b, &b) && b.tag == KB_BOOL && b.b == neutral) { gen(g, f, e->a, KB_BOOL); return; }
        gen(g, f, e->a, KB_BOOL);
        emit(g, f, KB_OP_DUP, 0);
        uint32_t j = emit_jump(g, f, e->op == KOP_AND ? KB_OP_JFALSE : KB_OP_JTRUE);
        gen(g, f, e->b, KB_BOOL);
        patch(g, f, j);
        emit(g, f, e->op == KOP_AND ? KB_OP_AND : KB_OP_OR, 0);
        return;
    }
    KbTag ta = tag_of(e->a->type), tb = tag_of(e->b->type);
    KbTag ha = ta, hb = tb;
    bool arith = e->op == KOP_ADD || e->op == KOP_SUB || e->op == KOP_MUL || e->op == KOP_DIV;
    KbTag node = tag_of(e->type);
    if (node == KB_UNTYPED && hint != KB_BOOL && hint != KB_UNKNOWN) node = hint;
    if (!arith && ta == KB_UNTYPED && tb == KB_UNTYPED) {
        /* two untyped sides: a side whose structure fixes its tag gives it
         * to the other (`when + 2d >= customer.since`: both times) */
        KbTag ra = result_tag(e->a, 0), rb = result_tag(e->b, 0);
        ha = rb != KB_UNTYPED ? rb : ra;
        hb = ra != KB_UNTYPED ? ra : rb;
    } else {
        if (ta == KB_UNTYPED) ha = arith ? arith_hint(e->op, node, tb, true) : tb;
        if (tb == KB_UNTYPED) hb = arith ? arith_hint(e->op, node, ta, false) : ta;
    }
    if (arith && ha == KB_UNTYPED && hint != KB_BOOL) ha = hint;
    if (arith && hb == KB_UNTYPED && hint != KB_BOOL) hb = hint;
    gen(g, f, e->a, ha);
    gen(g, f, e->b, hb);
    if (e->op < KOP_ADD || e->op > KOP_GE) { fail(g, "bad binary operator"); return; }
    emit(g, f, kg_vm_op(e->op), 0);
}

static void gen_unary(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    switch (e->op) {
    case KOP_NEG:
        gen(g, f, e->a, tag_of(e->a->type) != KB_UNTYPED ? tag_of(e->a->type) : (hint == KB_BOOL ? KB_NUM : hint));
        emit(g, f, KB_OP_NEG, 0);
        return;
    case KOP_NO: case KOP_NOT:
        if (e->op == KOP_NO && names_event(e->a)) {  /* no E [within D]: count == 0 */
            const KExpr *ev = e->a->kind == KEX_WITHIN ? e->a->a : e->a;
            const KExpr *within = e->a->kind == KEX_WITHIN ? e->a->b : NULL;
            gen_count(g, f, event_of(g, ev), NULL, within, f->trigger_event);
            emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_NUM, .num = 0 }));
            emit(g, f, KB_OP_EQ, 0);
            return;
        }
        /* not X, and `no X` on a boolean */
        gen(g, f, e->a, KB_BOOL);
        emit(g, f, KB_OP_NOT, 0);
        return;
    default:
        fail(g, "bad unary operator");
    }
}

/* x in [items]: one IN per chunk of at most IN_CHUNK items (so the stack
 * stays within KB_MAX_STACK), chunks joined like `or`, which gives the
 * same three-valued result as a single IN. */
#define IN_CHUNK 128
static void gen_in(Gen *g, Fn *f, const KExpr *e)
{
    KbTag tx = tag_of(e->a->type), ti = KB_UNTYPED;
    for (uint32_t i = 0; i < e->nargs && ti == KB_UNTYPED; i++) ti = tag_of(e->args[i]->type);
    uint32_t lo = 0;
    do {
        uint32_t hi = e->nargs - lo > IN_CHUNK ? lo + IN_CHUNK : e->nargs;
        uint32_t j = 0;
        if (lo > 0) {
            emit(g, f, KB_OP_DUP, 0);
            j = emit_jump(g, f, KB_OP_JTRUE);
        }
        gen(g, f, e->a, tx != KB_UNTYPED ? tx : ti);
        for (uint32_t i = lo; i < hi; i++) {
            KbTag t = tag_of(e->args[i]->type);
            gen(g, f, e->args[i], t != KB_UNTYPED ? t : tx);
        }
        emit(g, f, KB_OP_IN, 1, hi - lo);
        if (lo > 0) {
            patch(g, f, j);
            emit(g, f, KB_OP_OR, 0);
        }
        lo = hi;
    } while (lo < e->nargs);
}

/* Emits code leaving e's value on the stack.  hint: the tag an untyped
 * attribute should be read as (from the context), or KB_UNTYPED. */
static void gen(Gen *g, Fn *f, const KExpr *e, KbTag hint)
{
    if (g->failed) return;
    if (!e) { fail(g, "missing expression"); return; }
    uint32_t saved = f->line;
    if (e->span.src == g->policy_src && e->span.hi > 0) f->line = policy_line(g, e->span.lo);
    CV c;
    if (fold(g, e, &c)) {
        emit_cv(g, f, &c);
    } else {
        switch (e->kind) {
        case KEX_NAME: gen_name(g, f, e, hint); break;
        case KEX_FIELD: gen_field(g, f, e, hint); break;
        case KEX_CALL: gen_call(g, f, e, hint); break;
        case KEX_UNARY: gen_unary(g, f, e, hint); break;
        case KEX_BINARY: gen_binary(g, f, e, hint); break;
        case KEX_IN: gen_in(g, f, e); break;
        case KEX_WITHIN: {
            const KExpr *ev = e->a;
            gen_count(g, f, event_of(g, ev), NULL, e->b, f->trigger_event);
            emit(g, f, KB_OP_CONST, 1, const_index(g, (KbConst){ .tag = KB_NUM, .num = 0 }));
            emit(g, f, KB_OP_GT, 0);
            break;
        }
        default:
            fail(g, "unexpected expression kind %d", (int)e->kind);
        }
    }
    f->line = saved;
}

/* Compiles e as a function of its own and appends it to the image; returns
 * its index. */
static uint32_t compile_fn(Gen *g, const KExpr *e, uint32_t trigger_event, uint32_t counted_event)
{
    Fn f = { .trigger_event = trigger_event, .counted_event = counted_event };
    if (e->span.src == g->policy_src && e->span.hi > 0) f.line = policy_line(g, e->span.lo);
    gen(g, &f, e, KB_BOOL);
    emit(g, &f, KB_OP_RET, 0);
    uint32_t idx = KB_NONE;
    if (!g->failed && grow((void **)&g->funcs, &g->cap_funcs, g->nfuncs, sizeof *g->funcs)) {
        g->funcs[g->nfuncs] = (KbFunc){ .start = g->code.n, .len = f.code.n };
        uint32_t start = g->code.n;
        for (uint32_t i = 0; i < f.code.n; i++) {
            push(g, &g->code, f.code.v[i]);
            push(g, &g->lines, f.lines.v[i]);
        }
        idx = g->nfuncs++;
        for (uint32_t i = 0; i < f.nlets && !g->failed; i++) {
            if (!grow((void **)&g->lnames, &g->cap_lnames, g->nlnames, sizeof *g->lnames)) {
                fail(g, "out of memory");
                break;
            }
            g->lnames[g->nlnames++] = (KbLetName){ start + f.lets[i].pc, f.lets[i].name };
        }
    } else {
        fail(g, "out of memory");
    }
    free(f.code.v);
    free(f.lines.v);
    free(f.lets);
    return idx;
}

/* A condition's function, or KB_NONE when it folds to `skip` (true for
 * where/if, false for unless). */
static uint32_t condition(Gen *g, const KExpr *e, uint32_t trigger_event, bool skip)
{
    if (!e) return KB_NONE;
    CV c;
    if (fold(g, e, &c) && c.tag == KB_BOOL && c.b == skip) return KB_NONE;
    return compile_fn(g, e, trigger_event, KB_NONE);
}

/* ---- tables -------------------------------------------------------------- */

static uint64_t channel_mask(Gen *g, const KNameList *l)
{
    if (l->n == 0) return UINT64_MAX;
    uint64_t m = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        uint32_t c = channel_index(g, l->v[i].s);
        if (g->failed) return 0;
        if (c < 64) m |= (uint64_t)1 << c;
    }
    return m;
}

/* Where a declaration comes from: 0 the prelude, 1 another stdlib module,
 * 2 the policy (channels are numbered in that order). */
static int origin(const Gen *g, KSpan sp)
{
    const KSources *s = &g->p->sources;
    if (sp.src >= s->n || sp.src == g->policy_src) return 2;
    const KSource *src = &s->v[sp.src];
    if (src->name && strcmp(src->name, "std/prelude") == 0) return 0;
    return src->builtin ? 1 : 2;
}

static void setup_tables(Gen *g)
{
    const KProgram *p = g->p;
    static const char *const reserved[] = {
        KB_EV_IDENTIFY, KB_EV_RESPONSE, KB_EV_OPT_OUT, KB_EV_OPT_IN,
        KB_EV_CONSENT_GRANTED, KB_EV_CONSENT_REVOKED,
    };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) event_index(g, reserved[i]);
    static const char *const fixed_attrs[] = { "channel", "survey", "score", "tz" };
    for (size_t i = 0; i < sizeof fixed_attrs / sizeof *fixed_attrs; i++) attr_index(g, fixed_attrs[i]);
    for (int o = 0; o <= 2; o++)
        for (uint32_t i = 0; i < p->nchannels; i++) {
            const KDecl *d = p->channels[i];
            if (origin(g, d->span) == o) table_index(g, &g->channels, d->channel.name.s, true);
        }
    if (g->channels.n > KB_MAX_CHANNELS)
        fail(g, "%u channels declared; at most %u are supported", g->channels.n, KB_MAX_CHANNELS);
    for (uint32_t i = 0; i < p->nsurveys; i++)
        table_index(g, &g->surveys, p->surveys[i]->survey.name.s, true);
}

static void compile_rule(Gen *g, const KRule *r, KbRule *o)
{
    o->name = str(g, r->default_name ? r->default_name : r->name.s);
    o->line = span_line(g, r->kw_span);
    o->is_task = r->is_task;
    o->target = r->is_task ? str(g, r->target.s) : survey_index(g, r->target.s);
    o->event = KB_NONE;
    o->where_fn = o->if_fn = o->unless_fn = KB_NONE;
    o->every_at = -1;
    o->best_event = KB_NONE;
    uint32_t trig = KB_NONE;
    if (r->after_event.s) {
        o->trigger = KB_TRIG_AFTER;
        trig = o->event = event_index(g, r->after_event.s);
        o->delay = r->has_delay ? r->delay : 0;
        o->where_fn = condition(g, r->where, trig, true);
    } else {
        o->trigger = KB_TRIG_EVERY;
        o->period = (uint8_t)r->period;
        o->period_dur = r->period == KPER_DURATION ? r->period_dur : 0;
        o->every_at = r->every_at;
    }
    o->if_fn = condition(g, r->if_expr, trig, true);
    o->unless_fn = condition(g, r->unless_expr, trig, false);

    uint32_t n = r->nattempts ? r->nattempts : 1;
    o->attempts = calloc(n, sizeof *o->attempts);
    if (!o->attempts) { fail(g, "out of memory"); return; }
    o->nattempts = n;
    if (r->nattempts == 0) {
        o->attempts[0].channel = channel_index(g, "email");
    } else {
        for (uint32_t i = 0; i < n; i++) {
            o->attempts[i].channel = channel_index(g, r->attempts[i].channel.s);
            o->attempts[i].after = i ? r->attempts[i].after : 0;
        }
    }
    if (r->cap_span.hi > 0) {
        o->has_cap = true;
        o->cap_n = r->cap_n;
        o->cap_window = r->cap_window;
        keep_sent(g, r->cap_window);
    }
    o->priority = r->priority;
    if (r->nvariants) {
        o->variants = calloc(r->nvariants, sizeof *o->variants);
        if (!o->variants) { fail(g, "out of memory"); return; }
        o->nvariants = r->nvariants;
        for (uint32_t i = 0; i < r->nvariants; i++) {
            const KVariant *v = &r->variants[i];
            KbVariant *ov = &o->variants[i];
            ov->name = str(g, v->name.s);
            ov->pct = v->pct > 0 ? (uint32_t)llround(v->pct) : 0;
            ov->has_delay = v->has_delay;
            ov->delay = v->has_delay ? v->delay : 0;
            ov->channel = v->has_channel ? channel_index(g, v->channel.s) : KB_NONE;
        }
    }
    o->retrigger = r->retrigger == KRT_KEEP ? KB_RETRIGGER_KEEP : KB_RETRIGGER_RESTART;
    o->at = (uint8_t)r->at_kind;
    if (r->at_kind == KAT_WINDOW) {
        o->at_days = r->at_days & 0x7f ? r->at_days & 0x7f : 0x7f;
        o->at_start = r->at_start;
        o->at_end = r->at_end;
        if (o->at_start == 0 && o->at_end == 0) o->at_end = 1440;   /* `at DAYS` alone: whole days */
    } else if (r->at_kind == KAT_BEST_TIME) {
        o->best_event = event_index(g, r->best_event.s);
        keep_window(g, o->best_event, KB_FOREVER);
    }
}

static void compile_policy_tables(Gen *g, KImage *img)
{
    const KProgram *p = g->p;
    if (p->ncaps) {
        img->caps = calloc(p->ncaps, sizeof *img->caps);
        if (!img->caps) { fail(g, "out of memory"); return; }
        img->ncaps = p->ncaps;
        for (uint32_t i = 0; i < p->ncaps; i++) {
            const KDecl *d = p->caps[i];
            img->caps[i] = (KbCap){ d->cap.n, d->cap.window, channel_mask(g, &d->cap.channels) };
            keep_sent(g, d->cap.window);
        }
    }
    if (p->nquiets) {
        img->quiets = calloc(p->nquiets, sizeof *img->quiets);
        if (!img->quiets) { fail(g, "out of memory"); return; }
        img->nquiets = p->nquiets;
        for (uint32_t i = 0; i < p->nquiets; i++) {
            const KDecl *d = p->quiets[i];
            img->quiets[i] = (KbQuiet){ d->quiet.start, d->quiet.end, channel_mask(g, &d->quiet.channels) };
        }
    }
    for (uint32_t i = 0; i < p->nconsents; i++)
        img->consent_channels |= channel_mask(g, &p->consents[i]->consent.channels);
}

/* Moves the generator's tables into the image (the generator keeps none). */
static void hand_over(Gen *g, KImage *img)
{
    img->strings = g->strs; img->string_lens = g->str_lens; img->nstrings = g->nstrs;
    g->strs = NULL; g->str_lens = NULL;
    img->consts = g->consts; img->nconsts = g->nconsts; g->consts = NULL;
    img->code = g->code.v; img->lines = g->lines.v; img->ncode = g->code.n;
    g->code.v = g->lines.v = NULL;
    img->funcs = g->funcs; img->nfuncs = g->nfuncs; g->funcs = NULL;
    img->events = g->events.v; img->nevents = g->events.n; g->events.v = NULL;
    img->retention = g->ret; g->ret = NULL;
    img->attrs = g->attrs.v; img->nattrs = g->attrs.n; g->attrs.v = NULL;
    img->channels = g->channels.v; img->nchannels = g->channels.n; g->channels.v = NULL;
    img->surveys = g->surveys.v; img->nsurveys = g->surveys.n; g->surveys.v = NULL;
    img->traits = g->traits.v; img->ntraits = g->traits.n; g->traits.v = NULL;
    img->sent_window = g->sent_window;
    img->attr_reads = g->areads; img->nattr_reads = g->nareads; g->areads = NULL;
    img->let_names = g->lnames; img->nlet_names = g->nlnames; g->lnames = NULL;
}

static void gen_free(Gen *g)
{
    for (uint32_t i = 0; g->strs && i < g->nstrs; i++) free(g->strs[i]);
    free(g->strs);
    free(g->str_lens);
    free(g->consts);
    free(g->code.v);
    free(g->lines.v);
    free(g->funcs);
    for (uint32_t i = 0; g->ret && i < g->events.n; i++) free(g->ret[i].attrs);
    free(g->ret);
    free(g->events.v);
    free(g->attrs.v);
    free(g->channels.v);
    free(g->surveys.v);
    free(g->traits.v);
    free(g->line_starts);
    free(g->areads);
    free(g->lnames);
    Index *ix[] = { &g->str_ix, &g->const_ix, &g->event_ix, &g->attr_ix, &g->channel_ix, &g->survey_ix, &g->trait_ix };
    for (size_t i = 0; i < sizeof ix / sizeof *ix; i++) free(ix[i]->slot);
}

KImage *kg_compile(const KProgram *p)
{
    Gen g = { .p = p, .cur_rule = KB_NONE };
    g.policy_src = p->nfiles && p->files[0] ? p->files[0]->src : 0;
    KImage *img = calloc(1, sizeof *img);
    if (!img) {
        fputs("kairos: error: out of memory while generating bytecode\n", stderr);
        return NULL;
    }
    build_lines(&g);

    img->policy_name = str(&g, p->policy_name ? p->policy_name : "policy");
    img->timezone = p->timezone ? str(&g, p->timezone) : KB_NONE;
    img->source_hash = p->source_hash;
    setup_tables(&g);
    compile_policy_tables(&g, img);

    if (p->nrules && !g.failed) {
        img->rules = calloc(p->nrules, sizeof *img->rules);
        if (!img->rules) fail(&g, "out of memory");
        else img->nrules = p->nrules;
    }
    for (uint32_t i = 0; i < p->nrules && !g.failed; i++) {
        g.cur_rule = i;
        compile_rule(&g, p->rules[i], &img->rules[i]);
    }

    if (!g.failed) hand_over(&g, img);
    gen_free(&g);
    char verr[200];
    if (!g.failed && kb_verify(img, verr, sizeof verr) != 0)
        fail(&g, "generated bytecode does not verify: %s", verr);
    if (g.failed) {
        if (strcmp(g.err, "out of memory") == 0)     /* not a bug: the machine's limit */
            fputs("kairos: error: out of memory while generating bytecode\n", stderr);
        else
            fprintf(stderr, "kairos: internal error in the code generator: %s\n", g.err);
        kb_free(img);
        return NULL;
    }
    return img;
}
