/* explain.c -- the values behind a condition, for `kairos explain` (ke_).
 *
 * The runtime sees bytecode, not syntax, so the text of each sub-expression
 * is recovered from the code: a function's instructions are replayed on a
 * stack of expression nodes instead of values (the code generator's shapes
 * are plain postfix: `a; DUP; JFALSE L; b; L: AND` becomes and(a, b)), and
 * each node is printed back in the language's syntax with its precedence.
 * A traced evaluation (KvCtx.tvals, filled by kv_eval) records the value
 * each instruction produced; a node's value is the one recorded at the
 * instruction that produced it, and a node whose instruction did not run
 * (the right side of a short-circuited `and`/`or`) was not evaluated.
 *
 * Lets are inlined by the compiler; the image's debug table names the
 * instruction that leaves each let's value, so a let shows by its name
 * (its expansion beneath it in the value lines).  Code that
 * does not decompile (a hand-made .kbc with unusual jumps) gives no tree:
 * explain then shows only the condition's result.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include "internal.h"
#include "../lang/util.h"

#define KE_MAX_TEXT   400         /* bytes of one expression's text */
#define KE_MAX_DEPTH  48          /* nesting printed; deeper is "..." */
#define KE_MAX_LINES  64          /* value lines per condition */
#define KE_MAX_LIST   12          /* nesting listed in the value lines */

typedef struct KeNode {
    uint32_t pc;                  /* absolute code index of its instruction */
    uint32_t op;                  /* KbOp */
    uint32_t nkids, kid0;         /* kids: tree->kids[kid0 .. kid0 + nkids) */
} KeNode;

typedef struct KeTree {
    KeNode *nodes;
    uint32_t *kids;
    uint32_t nnodes, nkids;
    uint32_t root;                /* UINT32_MAX: the code did not decompile */
} KeTree;

struct KeTrace {
    const KImage *img;
    const KrPool *values;
    KrValue *vals;                /* [ncode] value produced at each instruction */
    uint8_t *seen;                /* [ncode] 1 if that instruction ran */
    KeTree **trees;               /* [nfuncs] built on first use */
    /* rendering modes: let_top -- a let-valued node is shown by its name
     * even as the whole expression; subst -- evaluated operands are shown
     * by their values ("1 > 0") */
    bool let_top, subst;
};

/* The name of the let whose value the instruction at code word pc leaves,
 * or NULL (img->let_names is ascending). */
static const char *let_name(const KeTrace *t, uint32_t pc)
{
    const KImage *img = t->img;
    uint32_t lo = 0, hi = img->nlet_names;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (img->let_names[mid].pc < pc) lo = mid + 1;
        else hi = mid;
    }
    if (lo < img->nlet_names && img->let_names[lo].pc == pc && img->let_names[lo].name < img->nstrings)
        return img->strings[img->let_names[lo].name];
    return NULL;
}

KeTrace *ke_new(const KImage *img, const KrPool *values)
{
    KeTrace *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->img = img;
    t->values = values;
    t->vals = calloc((size_t)img->ncode + 1, sizeof *t->vals);
    t->seen = calloc((size_t)img->ncode + 1, 1);
    t->trees = calloc((size_t)img->nfuncs + 1, sizeof *t->trees);
    if (!t->vals || !t->seen || !t->trees) { ke_free(t); return NULL; }
    return t;
}

static void tree_free(KeTree *tr)
{
    if (!tr) return;
    free(tr->nodes);
    free(tr->kids);
    free(tr);
}

void ke_free(KeTrace *t)
{
    if (!t) return;
    if (t->trees)
        for (uint32_t i = 0; i < t->img->nfuncs; i++) tree_free(t->trees[i]);
    free(t->trees);
    free(t->vals);
    free(t->seen);
    free(t);
}

void ke_begin(KeTrace *t, KvCtx *ctx, uint32_t fn)
{
    ctx->tvals = NULL;
    ctx->tseen = NULL;
    if (!t || fn >= t->img->nfuncs) return;
    const KbFunc *f = &t->img->funcs[fn];
    if (f->start > t->img->ncode || f->len > t->img->ncode - f->start) return;
    memset(t->seen + f->start, 0, f->len);
    ctx->tvals = t->vals;
    ctx->tseen = t->seen;
}

/* ---- decompiling --------------------------------------------------------- */

/* Replays function fn's code on a stack of nodes.  The tree, or NULL when
 * out of memory; tree->root is UINT32_MAX when the code has a shape the
 * code generator never produces. */
static KeTree *decompile(const KImage *img, uint32_t fn)
{
    KeTree *tr = calloc(1, sizeof *tr);
    if (!tr) return NULL;
    tr->root = UINT32_MAX;
    if (fn >= img->nfuncs) return tr;
    const KbFunc *f = &img->funcs[fn];
    if (f->start > img->ncode || f->len > img->ncode - f->start) return tr;
    tr->nodes = malloc(((size_t)f->len + 1) * sizeof *tr->nodes);
    tr->kids = malloc(((size_t)f->len * 2 + KB_MAX_STACK + 1) * sizeof *tr->kids);
    if (!tr->nodes || !tr->kids) { tree_free(tr); return NULL; }
    size_t kcap = (size_t)f->len * 2 + KB_MAX_STACK;
    uint32_t stack[KB_MAX_STACK], sp = 0;
    const uint32_t *code = img->code + f->start;
    for (uint32_t pc = 0; pc < f->len;) {
        uint32_t op = code[pc];
        if (op >= KB_OP__COUNT) return tr;
        uint32_t next = pc + 1 + kb_opinfo[op].noperands;
        if (next > f->len) return tr;
        uint32_t in = kb_opinfo[op].stack_in;
        switch ((KbOp)op) {
        case KB_OP_DUP:
            if (sp == 0 || sp >= KB_MAX_STACK) return tr;
            stack[sp] = stack[sp - 1];
            sp++;
            pc = next;
            continue;
        case KB_OP_JFALSE: case KB_OP_JTRUE:      /* the fall-through path pops */
            if (sp == 0) return tr;
            sp--;
            pc = next;
            continue;
        case KB_OP_JUMP:
            return tr;                           /* never generated */
        case KB_OP_RET:
            if (sp != 1) return tr;
            tr->root = stack[0];
            return tr;
        case KB_OP_IN:
            in = code[pc + 1] + 1;
            break;
        default:
            break;
        }
        if (in > sp || sp - in >= KB_MAX_STACK || tr->nkids + in > kcap) return tr;
        KeNode *n = &tr->nodes[tr->nnodes];
        n->pc = f->start + pc;
        n->op = op;
        n->nkids = in;
        n->kid0 = tr->nkids;
        memcpy(&tr->kids[tr->nkids], &stack[sp - in], in * sizeof *stack);
        tr->nkids += in;
        sp -= in;
        stack[sp++] = tr->nnodes++;
        pc = next;
    }
    return tr;
}

static const KeTree *tree_of(KeTrace *t, uint32_t fn)
{
    if (fn >= t->img->nfuncs) return NULL;
    if (!t->trees[fn]) t->trees[fn] = decompile(t->img, fn);
    const KeTree *tr = t->trees[fn];
    return tr && tr->root != UINT32_MAX ? tr : NULL;
}

/* ---- text ---------------------------------------------------------------- */

/* A bounded text buffer: appends stop at KE_MAX_TEXT, ending in "...". */
typedef struct Buf {
    char s[KE_MAX_TEXT + 8];
    size_t n;
    bool full;
} Buf;

static void put(Buf *b, const char *s, size_t len)
{
    if (b->full) return;
    if (len > KE_MAX_TEXT - b->n) {
        len = ku_utf8_cut(s, KE_MAX_TEXT - b->n);                            /* whole characters */
        b->full = true;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    if (b->full) { memcpy(b->s + b->n, "...", 3); b->n += 3; }
    b->s[b->n] = '\0';
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(Buf *b, const char *fmt, ...)
{
    char tmp[96];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w > 0) put(b, tmp, (size_t)w < sizeof tmp ? (size_t)w : sizeof tmp - 1);
}

static const char *str_of(const KImage *img, uint32_t si)
{
    return si < img->nstrings && img->strings[si] ? img->strings[si] : "?";
}

static void put_any(void *b, const char *s, size_t len) { put(b, s, len); }

/* A string in the language's quotes (ku_lang_str). */
static void put_quoted(Buf *b, const char *s, size_t len)
{
    ku_lang_str(s, len, put_any, b);
}

static void put_num(Buf *b, double d)
{
    char tmp[KU_NUM_TEXT];
    ku_num_text(d, tmp);
    puts_(b, tmp);
}

/* A duration as the language writes it, in one unit: the largest that
 * divides it ("24h", "72h", "90m"; days from a week on: "30d"). */
static void put_dur(Buf *b, int64_t s)
{
    char t[KU_DUR_BUF];
    ku_fmt_dur(s, true, t);
    puts_(b, t);
}

static void put_time(Buf *b, int64_t t)
{
    if (t < -62167219200LL || t > 253402300799LL) { putf(b, "@%" PRId64, t); return; }
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) { sod += 86400; days--; }
    int y, m, d;
    kz_civil_from_days(days, &y, &m, &d);
    putf(b, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
         (int)(sod % 60));
}

static const char *const weekday_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

static void put_weekday(Buf *b, int64_t w)
{
    if (w >= 0 && w < 7) puts_(b, weekday_names[w]);
    else putf(b, "weekday(%" PRId64 ")", w);
}

/* A runtime value as text: numbers, "strings", true/false, 24h, times in
 * UTC, weekdays, unknown. */
static void put_value(const KeTrace *t, Buf *b, const KrValue *v)
{
    switch (v->tag) {
    case KB_NUM: put_num(b, v->num); break;
    case KB_BOOL: puts_(b, v->b ? "true" : "false"); break;
    case KB_DUR: put_dur(b, v->i); break;
    case KB_TIME: put_time(b, v->i); break;
    case KB_WEEKDAY: put_weekday(b, v->i); break;
    case KB_STR: {
        size_t len = 0;
        const char *s = kr_pool_str(t->values, v->str, &len);
        if (s) put_quoted(b, s, len); else puts_(b, "\"?\"");
        break;
    }
    default: puts_(b, "unknown"); break;
    }
}

static void put_const(const KeTrace *t, Buf *b, uint32_t k)
{
    const KImage *img = t->img;
    if (k >= img->nconsts) { puts_(b, "?"); return; }
    const KbConst *c = &img->consts[k];
    if (c->tag != KB_STR) {                  /* the same text as the value it pushes */
        KrValue v = { .tag = c->tag };
        if (c->tag == KB_NUM) v.num = c->num;
        else if (c->tag == KB_BOOL) v.b = c->b;
        else v.i = c->i;
        put_value(t, b, &v);
    } else if (c->str < img->nstrings && img->strings[c->str]) {
        put_quoted(b, img->strings[c->str], img->string_lens ? img->string_lens[c->str]
                                                             : strlen(img->strings[c->str]));
    } else {
        puts_(b, "\"?\"");
    }
}

/* " within D" for a window operand (nothing for KB_NONE). */
static void put_window(const KeTrace *t, Buf *b, uint32_t w)
{
    const KImage *img = t->img;
    if (w == KB_NONE || w >= img->nconsts || img->consts[w].tag != KB_DUR) return;
    puts_(b, " within ");
    put_dur(b, img->consts[w].i);
}

/* Binding strength of a node's syntax: or 1, and 2, not 3, comparisons and
 * in 4, + - 5, * / 6, unary minus 7, everything else 8. */
static int prec_of(uint32_t op)
{
    switch (op) {
    case KB_OP_OR: return 1;
    case KB_OP_AND: return 2;
    case KB_OP_NOT: return 3;
    case KB_OP_EQ: case KB_OP_NE: case KB_OP_LT: case KB_OP_LE: case KB_OP_GT: case KB_OP_GE:
    case KB_OP_IN: return 4;
    case KB_OP_ADD: case KB_OP_SUB: return 5;
    case KB_OP_MUL: case KB_OP_DIV: return 6;
    case KB_OP_NEG: return 7;
    default: return 8;
    }
}

static const char *infix_of(uint32_t op)
{
    switch (op) {
    case KB_OP_OR: return " or ";
    case KB_OP_AND: return " and ";
    case KB_OP_EQ: return " == ";
    case KB_OP_NE: return " != ";
    case KB_OP_LT: return " < ";
    case KB_OP_LE: return " <= ";
    case KB_OP_GT: return " > ";
    case KB_OP_GE: return " >= ";
    case KB_OP_ADD: return " + ";
    case KB_OP_SUB: return " - ";
    case KB_OP_MUL: return " * ";
    case KB_OP_DIV: return " / ";
    default: return NULL;
    }
}

/* The operands of the left-associative chain of node ni's operator
 * (((a op b) op c) -> a, b, c), leftmost first; malloc'd, NULL when out of
 * memory. */
static uint32_t *chain_items(const KeTrace *t, const KeTree *tr, uint32_t ni, uint32_t *len)
{
    /* a let inside the chain is one item (shown by its name) */
#define CHAINS(c) (tr->nodes[c].op == op && tr->nodes[c].nkids == 2 && \
                   ((c) == ni || t->subst || !let_name(t, tr->nodes[c].pc)))
    uint32_t op = tr->nodes[ni].op, n = 1, cur = ni;
    while (CHAINS(cur)) {
        n++;
        cur = tr->kids[tr->nodes[cur].kid0];
    }
    uint32_t *items = malloc((size_t)n * sizeof *items);
    if (!items) return NULL;
    uint32_t k = n;
    cur = ni;
    while (CHAINS(cur)) {
        items[--k] = tr->kids[tr->nodes[cur].kid0 + 1];
        cur = tr->kids[tr->nodes[cur].kid0];
    }
    items[0] = cur;
    *len = n;
    return items;
#undef CHAINS
}

static void render(KeTrace *t, const KeTree *tr, uint32_t ni, Buf *b, int depth, bool in_where);

static bool is_constant(uint32_t op)
{
    return op == KB_OP_CONST || op == KB_OP_TRUE || op == KB_OP_FALSE || op == KB_OP_UNKNOWN;
}

/* The text of function fn (a where-function inside count). */
static void render_fn(KeTrace *t, uint32_t fn, Buf *b, int depth)
{
    const KeTree *tr = depth < KE_MAX_DEPTH ? tree_of(t, fn) : NULL;
    if (!tr) { puts_(b, "..."); return; }
    render(t, tr, tr->root, b, depth + 1, true);
}

/* Kid i of node n. */
static uint32_t kid(const KeTree *tr, const KeNode *n, uint32_t i) { return tr->kids[n->kid0 + i]; }

/* Writes kid k of a node of precedence p, in parentheses when it binds
 * less tightly than `need`. */
static void render_kid(KeTrace *t, const KeTree *tr, uint32_t k, int need, Buf *b, int depth,
                       bool in_where)
{
    bool paren = prec_of(tr->nodes[k].op) < need;
    if (paren) puts_(b, "(");
    render(t, tr, k, b, depth + 1, in_where);
    if (paren) puts_(b, ")");
}

/* Writes node ni in the language's syntax.  in_where: inside a count's
 * where-function, where ATTR names the counted event's attribute. */
static void render(KeTrace *t, const KeTree *tr, uint32_t ni, Buf *b, int depth, bool in_where)
{
    if (b->full) return;
    if (depth > KE_MAX_DEPTH || ni >= tr->nnodes) { puts_(b, "..."); return; }
    const KImage *img = t->img;
    const KeNode *n = &tr->nodes[ni];
    const uint32_t *o = img->code + n->pc + 1;       /* operands */
    int p = prec_of(n->op);
    const char *inf = infix_of(n->op);
    const char *let = t->subst || (depth == 0 && !t->let_top) ? NULL : let_name(t, n->pc);
    if (let) { puts_(b, let); return; }
    bool op = inf || n->op == KB_OP_NOT || n->op == KB_OP_NEG || n->op == KB_OP_IN;
    if (t->subst && !op && !is_constant(n->op) && !in_where && t->seen[n->pc]) {
        put_value(t, b, &t->vals[n->pc]);
        return;
    }
    if (inf && n->nkids == 2) {
        bool assoc = n->op == KB_OP_AND || n->op == KB_OP_OR || n->op == KB_OP_ADD || n->op == KB_OP_MUL;
        if (!assoc) {
            bool cmp = p == 4;                   /* comparisons do not chain */
            render_kid(t, tr, kid(tr, n, 0), cmp ? p + 1 : p, b, depth, in_where);
            puts_(b, inf);
            render_kid(t, tr, kid(tr, n, 1), p + 1, b, depth, in_where);
            return;
        }
        /* a chain of one operator (a and b and c) as one list, without
         * recursing along it: a 20,000-term `and` stays flat */
        uint32_t len;
        uint32_t *items = chain_items(t, tr, ni, &len);
        if (!items) { puts_(b, "..."); return; }
        for (uint32_t i = 0; i < len && !b->full; i++) {
            if (i) puts_(b, inf);
            render_kid(t, tr, items[i], i ? p + 1 : p, b, depth, in_where);
        }
        free(items);
        return;
    }
    switch ((KbOp)n->op) {
    case KB_OP_CONST: put_const(t, b, o[0]); return;
    case KB_OP_TRUE: puts_(b, "true"); return;
    case KB_OP_FALSE: puts_(b, "false"); return;
    case KB_OP_UNKNOWN: puts_(b, "unknown"); return;
    case KB_OP_ATTR:
        if (!in_where) puts_(b, "trigger.");
        puts_(b, o[0] < img->nattrs ? str_of(img, img->attrs[o[0]]) : "?");
        return;
    case KB_OP_TATTR:
        puts_(b, "trigger.");
        puts_(b, o[0] < img->nattrs ? str_of(img, img->attrs[o[0]]) : "?");
        return;
    case KB_OP_TRAIT:
        puts_(b, "customer.");
        puts_(b, o[0] < img->nattrs ? str_of(img, img->attrs[o[0]]) : "?");
        return;
    case KB_OP_NOW: puts_(b, "now"); return;
    case KB_OP_HOUR: puts_(b, "hour"); return;
    case KB_OP_WEEKDAY: puts_(b, "weekday"); return;
    case KB_OP_COUNT:
        puts_(b, "count(");
        puts_(b, o[0] < img->nevents ? str_of(img, img->events[o[0]]) : "?");
        if (o[1] != KB_NONE) { puts_(b, " where "); render_fn(t, o[1], b, depth); }
        put_window(t, b, o[2]);
        puts_(b, ")");
        return;
    case KB_OP_SINCE:
        puts_(b, "since(");
        puts_(b, o[0] < img->nevents ? str_of(img, img->events[o[0]]) : "?");
        puts_(b, ")");
        return;
    case KB_OP_LAST:
        puts_(b, "last(");
        puts_(b, o[0] < img->nevents ? str_of(img, img->events[o[0]]) : "?");
        puts_(b, ").");
        puts_(b, o[1] < img->nattrs ? str_of(img, img->attrs[o[1]]) : "?");
        return;
    case KB_OP_AGG: {
        static const char *const aggs[4] = { "sum(", "avg(", "min(", "max(" };
        puts_(b, o[0] < 4 ? aggs[o[0]] : "?(");
        puts_(b, o[1] < img->nevents ? str_of(img, img->events[o[1]]) : "?");
        puts_(b, ".");
        puts_(b, o[2] < img->nattrs ? str_of(img, img->attrs[o[2]]) : "?");
        put_window(t, b, o[3]);
        puts_(b, ")");
        return;
    }
    case KB_OP_ASKED: case KB_OP_RESPONDED:
        puts_(b, n->op == KB_OP_ASKED ? "asked(" : "responded(");
        puts_(b, o[0] < img->nsurveys ? str_of(img, img->surveys[o[0]]) : "?");
        put_window(t, b, o[1]);
        puts_(b, ")");
        return;
    case KB_OP_NEG:
        puts_(b, "-");
        if (n->nkids == 1) render_kid(t, tr, kid(tr, n, 0), p, b, depth, in_where);
        return;
    case KB_OP_NOT:
        puts_(b, "not ");               /* not (a < b): clearer than the grammar needs */
        if (n->nkids == 1) render_kid(t, tr, kid(tr, n, 0), 5, b, depth, in_where);
        return;
    case KB_OP_IN:
        if (n->nkids == 0) return;
        render_kid(t, tr, kid(tr, n, 0), p + 1, b, depth, in_where);
        puts_(b, " in [");
        for (uint32_t i = 1; i < n->nkids && !b->full; i++) {
            if (i > 1) puts_(b, ", ");
            render_kid(t, tr, kid(tr, n, i), 1, b, depth, in_where);
        }
        puts_(b, "]");
        return;
    default:
        puts_(b, "?");
        return;
    }
}

/* ---- the value lines ----------------------------------------------------- */

typedef struct Walk {
    KeTrace *t;
    const KeTree *tr;
    KeEmit emit;
    void *arg;
    unsigned lines;
} Walk;


static void walk(Walk *w, uint32_t ni, int depth)
{
    const KeTree *tr = w->tr;
    if (ni >= tr->nnodes || w->lines > KE_MAX_LINES) return;
    const KeNode *n = &tr->nodes[ni];
    if (is_constant(n->op)) return;
    if (w->lines == KE_MAX_LINES) {
        w->lines++;
        w->emit(w->arg, depth, NULL, NULL, NULL);
        return;
    }
    Buf text = { .n = 0 }, val = { .n = 0 };
    bool ran = w->t->seen[n->pc];
    if (ran) put_value(w->t, &val, &w->t->vals[n->pc]);
    const char *let = let_name(w->t, n->pc);
    if (let) {                          /* the let by its name, its expansion beneath */
        w->lines++;
        w->emit(w->arg, depth, let, ran ? val.s : NULL, ran ? &w->t->vals[n->pc] : NULL);
        if (!ran || depth >= KE_MAX_LIST || w->lines >= KE_MAX_LINES) return;
        depth++;
    }
    render(w->t, tr, ni, &text, 0, false);
    w->lines++;
    w->emit(w->arg, depth, text.s, ran ? val.s : NULL, ran ? &w->t->vals[n->pc] : NULL);
    if (!ran || depth >= KE_MAX_LIST) return;
    if (n->op == KB_OP_AND || n->op == KB_OP_OR) {
        /* a chain of one operator is one list: a and b and c */
        uint32_t len;
        uint32_t *items = chain_items(w->t, tr, ni, &len);
        if (!items) return;
        for (uint32_t i = 0; i < len && w->lines <= KE_MAX_LINES; i++) walk(w, items[i], depth + 1);
        free(items);
        return;
    }
    for (uint32_t i = 0; i < n->nkids; i++) walk(w, kid(tr, n, i), depth + 1);
}

/* The part of node ni that decided its value: down an `and` that was
 * false to its first false operand, an `or` that was true to its first
 * true one (not through lets, which are explained by their expansion). */
static uint32_t decider(KeTrace *t, const KeTree *tr, uint32_t ni)
{
    for (int guard = 0; guard < KE_MAX_DEPTH; guard++) {
        const KeNode *n = &tr->nodes[ni];
        if (!t->seen[n->pc] || (n->op != KB_OP_AND && n->op != KB_OP_OR)) return ni;
        /* false and: the first false operand; true or: the first true one;
         * unknown either: the first unknown one */
        const KrValue *v = &t->vals[n->pc];
        bool unknown = v->tag != KB_BOOL;
        if (!unknown && v->b != (n->op == KB_OP_OR)) return ni;
        uint32_t len, next = ni;
        uint32_t *items = chain_items(t, tr, ni, &len);
        if (!items) return ni;
        for (uint32_t i = 0; i < len; i++) {
            const KeNode *k = &tr->nodes[items[i]];
            if (!t->seen[k->pc]) continue;
            const KrValue *kv = &t->vals[k->pc];
            if (unknown ? kv->tag != KB_BOOL : kv->tag == KB_BOOL && kv->b == v->b) {
                next = items[i];
                break;
            }
        }
        free(items);
        if (next == ni || let_name(t, tr->nodes[next].pc)) return next;
        ni = next;
    }
    return ni;
}

void ke_describe(KeTrace *t, uint32_t fn, char *cond, size_t cn, char *why, size_t wn)
{
    const KeTree *tr = t ? tree_of(t, fn) : NULL;
    if (cn) cond[0] = '\0';
    if (wn) why[0] = '\0';
    if (!tr) return;
    Buf c = { .n = 0 };
    t->let_top = true;
    render(t, tr, tr->root, &c, 0, false);
    snprintf(cond, cn, "%s", c.s);
    uint32_t d = decider(t, tr, tr->root);
    Buf dn = { .n = 0 }, x = { .n = 0 }, v = { .n = 0 }, val = { .n = 0 };
    render(t, tr, d, &dn, 0, false);                /* the decider as written */
    t->let_top = false;
    render(t, tr, d, &x, 0, false);                 /* expanded if a let */
    t->subst = true;
    render(t, tr, d, &v, 0, false);                 /* with its operands' values */
    t->subst = false;
    const KeNode *n = &tr->nodes[d];
    if (t->seen[n->pc]) put_value(t, &val, &t->vals[n->pc]);
    const char *let = let_name(t, n->pc);
    int at = 0;
    if (d != tr->root) at = snprintf(why, wn, "`%s` was %s%s", dn.s, val.s, let || strcmp(dn.s, v.s) ? ": " : "");
    if (at < 0 || (size_t)at >= wn) return;
    if (let && strcmp(x.s, v.s) != 0) snprintf(why + at, wn - at, "%s = %s = %s", let, x.s, v.s);
    else if (let) snprintf(why + at, wn - at, "%s = %s", let, x.s);
    else if (strcmp(dn.s, v.s) != 0) snprintf(why + at, wn - at, "%s", v.s);
}

void ke_dur(int64_t s, char *out, size_t n)
{
    Buf b = { .n = 0 };
    put_dur(&b, s);
    snprintf(out, n, "%s", b.s);
}

int ke_walk(KeTrace *t, uint32_t fn, KeEmit emit, void *arg)
{
    const KeTree *tr = t ? tree_of(t, fn) : NULL;
    if (!tr) return 0;
    Walk w = { t, tr, emit, arg, 0 };
    walk(&w, tr->root, 0);
    return (int)w.lines;
}
