/* test_codegen.c -- the code generator (lang/codegen.c) on checked programs
 * built by hand (independent of the parser and checker): emitted opcodes,
 * constant folding and dead branches, three-valued short-circuit logic
 * (run through a tiny evaluator), the tables, retention and the file round
 * trip of a compiled image. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "value_cases.h"
#include "../../lang/lang.h"

/* ---- a tiny allocator: everything a test builds is freed at once -------- */

static void *pool[4096];
static int npool;

static void *tnew(size_t n)
{
    ck_assert_int_lt(npool, 4096);
    void *p = calloc(1, n);
    ck_assert_ptr_nonnull(p);
    pool[npool++] = p;
    return p;
}

static void tfree_all(void)
{
    while (npool) free(pool[--npool]);
}

/* ---- expression builders ------------------------------------------------- */

static KExpr *ex(KExprKind k, KType t)
{
    KExpr *e = tnew(sizeof *e);
    e->kind = k;
    e->type = t;
    e->span = (KSpan){ 0, 10, 11 };               /* line 2 of the test source */
    return e;
}
static KExpr *num(double v) { KExpr *e = ex(KEX_NUM, KT_NUMBER); e->num = v; return e; }
static KExpr *boolean(bool v) { KExpr *e = ex(KEX_BOOL, KT_BOOL); e->bval = v; return e; }
static KExpr *dur(int64_t s) { KExpr *e = ex(KEX_DUR, KT_DURATION); e->dur = s; return e; }
static KExpr *string(const char *s)
{
    KExpr *e = ex(KEX_STR, KT_STRING);
    e->str = (char *)s;
    e->slen = strlen(s);
    return e;
}
static KExpr *name(const char *n, KRes res, KType t)
{
    KExpr *e = ex(KEX_NAME, t);
    e->name = (char *)n;
    e->res = res;
    return e;
}
static KExpr *event(const char *n) { return name(n, KRES_EVENT, KT_ERROR); }
static KExpr *tattr(const char *n, KType t) { return name(n, KRES_TRIGGER_ATTR, t); }
static KExpr *bin(KOp op, KExpr *a, KExpr *b, KType t)
{
    KExpr *e = ex(KEX_BINARY, t);
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}
static KExpr *un(KOp op, KExpr *a, KType t)
{
    KExpr *e = ex(KEX_UNARY, t);
    e->op = op;
    e->a = a;
    return e;
}
static KExpr *call(const char *fn, KExpr *arg, KExpr *where, KExpr *within, KType t)
{
    KExpr *e = ex(KEX_CALL, t);
    e->name = (char *)fn;
    e->args = tnew(sizeof *e->args);
    e->args[0] = arg;
    e->nargs = 1;
    e->where = where;
    e->within = within;
    return e;
}
static KExpr *field(KExpr *base, const char *f, KRes res, KType t)
{
    KExpr *e = ex(KEX_FIELD, t);
    e->a = base;
    e->field = (char *)f;
    e->res = res;
    return e;
}
static KExpr *within(KExpr *ev, KExpr *d)
{
    KExpr *e = ex(KEX_WITHIN, KT_BOOL);
    e->a = ev;
    e->b = d;
    return e;
}
static KExpr *in_list(KExpr *x, int n, ...)
{
    KExpr *e = ex(KEX_IN, KT_BOOL);
    e->a = x;
    e->args = tnew(sizeof *e->args * (size_t)n);
    e->nargs = (uint32_t)n;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) e->args[i] = va_arg(ap, KExpr *);
    va_end(ap);
    return e;
}

#define AND(a, b) bin(KOP_AND, (a), (b), KT_BOOL)
#define OR(a, b)  bin(KOP_OR, (a), (b), KT_BOOL)
#define NOT(a)    un(KOP_NOT, (a), KT_BOOL)

/* ---- program builder ----------------------------------------------------- */

static const char test_source[] = "policy\nline two\nline three\n";

typedef struct TP {
    KProgram p;
    KSource srcs[2];
    KFile file;
    KFile *files[1];
    KDecl *channels[3], *surveys[2], *rules_d[8], *caps[2], *quiets[1], *consents[1], *lets[4];
    KRule *rules[8];
} TP;

static KDecl *decl(KDeclKind k, uint32_t src)
{
    KDecl *d = tnew(sizeof *d);
    d->kind = k;
    d->span = (KSpan){ src, 0, 1 };
    return d;
}

static TP *program(void)
{
    TP *t = tnew(sizeof *t);
    t->srcs[0] = (KSource){ .name = "t.kai", .text = (char *)test_source, .len = sizeof test_source - 1 };
    t->srcs[1] = (KSource){ .name = "std/prelude", .text = "", .len = 0, .builtin = true };
    t->p.sources.v = t->srcs;
    t->p.sources.n = 2;
    t->file.src = 0;
    t->files[0] = &t->file;
    t->p.files = t->files;
    t->p.nfiles = 1;
    t->p.policy_name = "t";
    t->p.source_hash = 42;
    /* declared in the policy first, prelude's email after: email still gets index 0 */
    const char *chans[3] = { "pager", "email", "sms" };
    for (int i = 0; i < 3; i++) {
        t->channels[i] = decl(KDECL_CHANNEL, i == 0 ? 0 : 1);
        t->channels[i]->channel.name.s = (char *)chans[i];
    }
    t->p.channels = t->channels;
    t->p.nchannels = 3;
    const char *surv[2] = { "NPS", "CSAT" };
    for (int i = 0; i < 2; i++) {
        t->surveys[i] = decl(KDECL_SURVEY, 1);
        t->surveys[i]->survey.name.s = (char *)surv[i];
    }
    t->p.surveys = t->surveys;
    t->p.nsurveys = 2;
    t->p.rules = t->rules;
    t->p.caps = t->caps;
    t->p.quiets = t->quiets;
    t->p.consents = t->consents;
    return t;
}

/* Adds `ask NPS after EVENT` (line 2) and returns it for more clauses. */
static KRule *add_rule(TP *t, const char *ev)
{
    KDecl *d = decl(KDECL_RULE, 0);
    KRule *r = &d->rule;
    r->target.s = "NPS";
    r->kw_span = (KSpan){ 0, 8, 11 };
    char *nm = tnew(32);
    snprintf(nm, 32, "NPS@%u", t->p.nrules + 2);
    r->default_name = nm;
    r->after_event.s = (char *)ev;
    r->after_span = (KSpan){ 0, 9, 12 };
    r->every_at = -1;
    r->index = t->p.nrules;
    t->rules[t->p.nrules++] = r;
    return r;
}

static KDecl *add_let(const char *n, KExpr *v)
{
    KDecl *d = decl(KDECL_LET, 1);
    d->let.name.s = (char *)n;
    d->let.value = v;
    return d;
}

static KExpr *use_let(KDecl *let, KType t)
{
    KExpr *e = name(let->let.name.s, KRES_LET, t);
    e->res_let = let;
    return e;
}

static KImage *compile(TP *t)
{
    KImage *img = kg_compile(&t->p);
    ck_assert_ptr_nonnull(img);
    return img;
}

/* The code of function f as "OP OP ..." (names only). */
static const char *ops(const KImage *img, uint32_t f)
{
    static char buf[8192];
    buf[0] = '\0';
    ck_assert_uint_lt(f, img->nfuncs);
    const KbFunc *fn = &img->funcs[f];
    for (uint32_t pc = fn->start; pc < fn->start + fn->len; pc += 1 + kb_opinfo[img->code[pc]].noperands) {
        ck_assert_uint_lt(strlen(buf), sizeof buf - 16);
        if (buf[0]) strcat(buf, " ");
        strcat(buf, kb_opinfo[img->code[pc]].name);
    }
    return buf;
}

static uint32_t operand(const KImage *img, uint32_t f, int nth_instr, int k)
{
    uint32_t pc = img->funcs[f].start;
    for (int i = 0; i < nth_instr; i++) pc += 1 + kb_opinfo[img->code[pc]].noperands;
    return img->code[pc + 1 + (uint32_t)k];
}

static const char *sname(const KImage *img, uint32_t si) { return img->strings[si]; }

/* ---- a three-valued evaluator for the logic subset ----------------------- */

enum { F = 0, T = 1, U = 2 };

/* Runs function f where TRAIT a pushes vals[a - first_trait_attr]. */
static int run(const KImage *img, uint32_t f, const int *vals)
{
    int st[64], sp = 0;
    const KbFunc *fn = &img->funcs[f];
    uint32_t pc = fn->start;
    for (;;) {
        uint32_t op = img->code[pc], nops = kb_opinfo[op].noperands, next = pc + 1 + nops;
        int a, b;
        switch (op) {
        case KB_OP_TRUE: st[sp++] = T; break;
        case KB_OP_FALSE: st[sp++] = F; break;
        case KB_OP_UNKNOWN: st[sp++] = U; break;
        case KB_OP_TRAIT: st[sp++] = vals[img->code[pc + 1] - 4]; break;   /* attrs 0-3 are fixed */
        case KB_OP_DUP: st[sp] = st[sp - 1]; sp++; break;
        case KB_OP_NOT: st[sp - 1] = st[sp - 1] == U ? U : !st[sp - 1]; break;
        case KB_OP_AND: b = st[--sp]; a = st[--sp];
            st[sp++] = (a == F || b == F) ? F : (a == T && b == T) ? T : U; break;
        case KB_OP_OR: b = st[--sp]; a = st[--sp];
            st[sp++] = (a == T || b == T) ? T : (a == F && b == F) ? F : U; break;
        case KB_OP_JFALSE:
            if (st[sp - 1] == F) { next += img->code[pc + 1]; } else sp--;
            break;
        case KB_OP_JTRUE:
            if (st[sp - 1] == T) { next += img->code[pc + 1]; } else sp--;
            break;
        case KB_OP_JUMP: next += img->code[pc + 1]; break;
        case KB_OP_RET: ck_assert_int_eq(sp, 1); return st[0];
        default: ck_abort_msg("unexpected opcode %s", kb_opinfo[op].name);
        }
        pc = next;
    }
}

static int k_and(int a, int b) { return (a == F || b == F) ? F : (a == T && b == T) ? T : U; }
static int k_or(int a, int b) { return (a == T || b == T) ? T : (a == F && b == F) ? F : U; }
static int k_not(int a) { return a == U ? U : !a; }

/* ---- tests ------------------------------------------------------------------ */

START_TEST(test_kleene)
{
    TP *t = program();
    KExpr *x = name("x", KRES_TRAIT, KT_BOOL), *y = name("y", KRES_TRAIT, KT_BOOL), *z = name("z", KRES_TRAIT, KT_BOOL);
    /* rule 0: x and y;  rule 1: x or y;  rule 2: (x and y) or not z;  rule 3: no x and (y or z) */
    add_rule(t, "e")->if_expr = AND(x, y);
    add_rule(t, "e")->if_expr = OR(x, y);
    add_rule(t, "e")->if_expr = OR(AND(x, y), NOT(z));
    add_rule(t, "e")->if_expr = AND(un(KOP_NO, x, KT_BOOL), OR(y, z));
    KImage *img = compile(t);
    ck_assert_str_eq(ops(img, img->rules[0].if_fn), "TRAIT DUP JFALSE TRAIT AND RET");
    ck_assert_str_eq(ops(img, img->rules[1].if_fn), "TRAIT DUP JTRUE TRAIT OR RET");
    for (int v = 0; v < 27; v++) {
        int vals[3] = { v % 3, v / 3 % 3, v / 9 };
        int X = vals[0], Y = vals[1], Z = vals[2];
        ck_assert_int_eq(run(img, img->rules[0].if_fn, vals), k_and(X, Y));
        ck_assert_int_eq(run(img, img->rules[1].if_fn, vals), k_or(X, Y));
        ck_assert_int_eq(run(img, img->rules[2].if_fn, vals), k_or(k_and(X, Y), k_not(Z)));
        ck_assert_int_eq(run(img, img->rules[3].if_fn, vals), k_and(k_not(X), k_or(Y, Z)));
    }
    ck_assert_uint_eq(img->ntraits, 3);
    ck_assert_str_eq(sname(img, img->attrs[img->traits[0]]), "x");
    kb_free(img);
    tfree_all();
}
END_TEST

START_TEST(test_folding)
{
    TP *t = program();
    KExpr *s = tattr("sentiment", KT_NUMBER);
    /* if 1 + 2 == 3: dropped */
    add_rule(t, "e")->if_expr = bin(KOP_EQ, bin(KOP_ADD, num(1), num(2), KT_NUMBER), num(3), KT_BOOL);
    /* if false and X: a function returning false */
    add_rule(t, "e")->if_expr = AND(boolean(false), bin(KOP_GE, s, num(0), KT_BOOL));
    /* if true and X -> X;  unless false -> dropped;  where 2d > 1d -> dropped */
    KRule *r = add_rule(t, "e");
    r->if_expr = AND(boolean(true), bin(KOP_GE, s, num(0), KT_BOOL));
    r->unless_expr = OR(boolean(false), boolean(false));
    r->where = bin(KOP_GT, dur(172800), dur(86400), KT_BOOL);
    /* if 1 / 0 > 2: unknown (division by zero), kept as a function */
    add_rule(t, "e")->if_expr = bin(KOP_GT, bin(KOP_DIV, num(1), num(0), KT_NUMBER), num(2), KT_BOOL);
    /* if "b" in ["a", "b"] and 1h * 2 == 2h and not (3 < -1): true */
    add_rule(t, "e")->if_expr =
        AND(AND(in_list(string("b"), 2, string("a"), string("b")),
                bin(KOP_EQ, bin(KOP_MUL, dur(3600), num(2), KT_DURATION), dur(7200), KT_BOOL)),
            NOT(bin(KOP_LT, num(3), un(KOP_NEG, num(1), KT_NUMBER), KT_BOOL)));
    /* a let folded through: let big = 10 * 10;  if sentiment > big */
    KDecl *big = add_let("big", bin(KOP_MUL, num(10), num(10), KT_NUMBER));
    add_rule(t, "e")->if_expr = bin(KOP_GT, tattr("sentiment", KT_NUMBER), use_let(big, KT_NUMBER), KT_BOOL);
    KImage *img = compile(t);
    ck_assert_uint_eq(img->rules[0].if_fn, KB_NONE);
    ck_assert_str_eq(ops(img, img->rules[1].if_fn), "FALSE RET");
    ck_assert_str_eq(ops(img, img->rules[2].if_fn), "TATTR CONST GE RET");
    ck_assert_uint_eq(img->rules[2].unless_fn, KB_NONE);
    ck_assert_uint_eq(img->rules[2].where_fn, KB_NONE);
    ck_assert_str_eq(ops(img, img->rules[3].if_fn), "UNKNOWN RET");
    ck_assert_uint_eq(img->rules[4].if_fn, KB_NONE);
    ck_assert_str_eq(ops(img, img->rules[5].if_fn), "TATTR CONST GT RET");
    uint32_t k = operand(img, img->rules[5].if_fn, 1, 0);
    ck_assert_int_eq(img->consts[k].tag, KB_NUM);
    ck_assert(img->consts[k].num == 100);
    /* constants are deduplicated: one 0 for rules 1 and 2 */
    ck_assert_uint_eq(operand(img, img->rules[2].if_fn, 1, 0), operand(img, img->rules[2].if_fn, 1, 0));
    kb_free(img);
    tfree_all();
}
END_TEST

/* ---- folding and execution agree (value_cases.h) ------------------------ */

static KExpr *case_expr(const CaseVal *v)
{
    switch (v->tag) {
    case KB_NUM: return num(v->num);
    case KB_DUR: return dur(v->i);
    case KB_WEEKDAY: { KExpr *e = ex(KEX_WEEKDAY, KT_WEEKDAY); e->weekday = (int)v->i; return e; }
    case KB_STR: return string(v->s);
    default: return boolean(v->b);
    }
}

static KOp ast_op(uint32_t op)
{
    switch (op) {
    case KB_OP_ADD: return KOP_ADD;
    case KB_OP_SUB: return KOP_SUB;
    case KB_OP_MUL: return KOP_MUL;
    case KB_OP_DIV: return KOP_DIV;
    case KB_OP_EQ: return KOP_EQ;
    case KB_OP_NE: return KOP_NE;
    case KB_OP_LT: return KOP_LT;
    case KB_OP_LE: return KOP_LE;
    case KB_OP_GT: return KOP_GT;
    case KB_OP_GE: return KOP_GE;
    case KB_OP_AND: return KOP_AND;
    case KB_OP_OR: return KOP_OR;
    case KB_OP_NOT: return KOP_NOT;
    default: return KOP_NEG;
    }
}

/* Every case of value_cases.h folded by the code generator gives its
 * `want` (test_vm.c's test_value_cases_executed runs the same cases):
 * rule i is `if x == (CASE)`, whose code must be TATTR, one push of the
 * folded value, EQ, RET. */
START_TEST(test_value_cases_folded)
{
    /* one program per case */
    for (size_t i = 0; i < NVALUE_CASES; i++) {
        const ValueCase *c = &value_cases[i];
        TP *tp = program();
        KOp op = ast_op(c->op);
        KExpr *e = (op == KOP_NOT || op == KOP_NEG)
            ? un(op, case_expr(&c->a), KT_ERROR)
            : bin(op, case_expr(&c->a), case_expr(&c->b), KT_ERROR);
        add_rule(tp, "e")->if_expr = bin(KOP_EQ, tattr("x", KT_ERROR), e, KT_BOOL);
        KImage *img = compile(tp);
        uint32_t f = img->rules[0].if_fn;
        const char *code = ops(img, f);
        uint32_t first = img->funcs[f].start;
        uint32_t pc = first + 1 + kb_opinfo[img->code[first]].noperands;    /* after TATTR */
        uint32_t push = img->code[pc];
        char want_code[64];
        snprintf(want_code, sizeof want_code, "TATTR %s EQ RET", kb_opinfo[push].name);
        ck_assert_msg(!strcmp(code, want_code) &&
                      (push == KB_OP_CONST || push == KB_OP_TRUE || push == KB_OP_FALSE || push == KB_OP_UNKNOWN),
                      "case %zu not folded: %s", i, code);
        uint8_t tag = push == KB_OP_UNKNOWN ? KB_UNKNOWN : push == KB_OP_CONST ? img->consts[img->code[pc + 1]].tag : KB_BOOL;
        ck_assert_msg(tag == c->want.tag, "case %zu: tag %u, want %u", i, tag, c->want.tag);
        if (push == KB_OP_TRUE || push == KB_OP_FALSE)
            ck_assert_msg((push == KB_OP_TRUE) == c->want.b, "case %zu: wrong boolean", i);
        else if (push == KB_OP_CONST && tag == KB_NUM)
            ck_assert_msg(img->consts[img->code[pc + 1]].num == c->want.num, "case %zu: %g, want %g", i,
                          img->consts[img->code[pc + 1]].num, c->want.num);
        else if (push == KB_OP_CONST)
            ck_assert_msg(img->consts[img->code[pc + 1]].i == c->want.i, "case %zu: wrong value", i);
        kb_free(img);
        tfree_all();
    }
}
END_TEST

START_TEST(test_counts_and_retention)
{
    TP *t = program();
    /* let open_ticket = count(ticket_opened) > count(ticket_closed) (in the prelude)
     * ask NPS after ticket_closed + 24h if no open_ticket and sentiment >= 0 */
    KDecl *open = add_let("open_ticket",
        bin(KOP_GT, call("count", event("ticket_opened"), NULL, NULL, KT_NUMBER),
                    call("count", event("ticket_closed"), NULL, NULL, KT_NUMBER), KT_BOOL));
    KRule *r = add_rule(t, "ticket_closed");
    r->has_delay = true;
    r->delay = 86400;
    r->if_expr = AND(un(KOP_NO, use_let(open, KT_BOOL), KT_BOOL),
                     bin(KOP_GE, tattr("sentiment", KT_NUMBER), num(0), KT_BOOL));
    /* rule 2: if count(ticket_opened where kind == "tech" and trigger.kind == kind within 7d) > 2
     *         and login within 24h and no logout within 2d and since(login) < 3d
     *         and last(login).device == "ios" and avg(order.amount within 30d) > 10
     *         and asked(NPS within 90d) and not responded(CSAT)  */
    KRule *r2 = add_rule(t, "ticket_closed");
    KExpr *cw = AND(bin(KOP_EQ, name("kind", KRES_EVENT_ATTR, KT_STRING), string("tech"), KT_BOOL),
                    bin(KOP_EQ, field(name("trigger", KRES_NONE, KT_ERROR), "kind", KRES_TRIGGER_ATTR, KT_STRING),
                        name("kind", KRES_EVENT_ATTR, KT_STRING), KT_BOOL));
    KExpr *c1 = bin(KOP_GT, call("count", event("ticket_opened"), cw, dur(7 * 86400), KT_NUMBER), num(2), KT_BOOL);
    KExpr *c2 = within(event("login"), dur(86400));
    KExpr *c3 = un(KOP_NO, within(event("logout"), dur(2 * 86400)), KT_BOOL);
    KExpr *c4 = bin(KOP_LT, call("since", event("login"), NULL, NULL, KT_DURATION), dur(3 * 86400), KT_BOOL);
    KExpr *c5 = bin(KOP_EQ, field(call("last", event("login"), NULL, NULL, KT_ERROR), "device", KRES_EVENT_ATTR, KT_UNTYPED),
                    string("ios"), KT_BOOL);
    KExpr *c6 = bin(KOP_GT, call("avg", field(event("order"), "amount", KRES_EVENT_ATTR, KT_NUMBER), NULL, dur(30 * 86400), KT_NUMBER),
                    num(10), KT_BOOL);
    KExpr *c7 = call("asked", name("NPS", KRES_SURVEY, KT_ERROR), NULL, dur(90 * 86400), KT_BOOL);
    KExpr *c8 = NOT(call("responded", name("CSAT", KRES_SURVEY, KT_ERROR), NULL, NULL, KT_BOOL));
    r2->if_expr = AND(AND(AND(AND(AND(AND(AND(c1, c2), c3), c4), c5), c6), c7), c8);
    r2->at_kind = KAT_BEST_TIME;
    r2->best_event.s = "email_open";

    KImage *img = compile(t);
    if (getenv("KG_DUMP")) kb_disasm(img, stdout);
    /* rule 1 */
    ck_assert_str_eq(ops(img, img->rules[0].if_fn),
                     "COUNT COUNT GT NOT DUP JFALSE TATTR CONST GE AND RET");
    ck_assert_uint_eq(img->rules[0].event, kb_find_event(img, "ticket_closed"));
    ck_assert_int_eq(img->rules[0].delay, 86400);
    ck_assert_uint_eq(img->rules[0].nattempts, 1);
    ck_assert_str_eq(sname(img, img->channels[img->rules[0].attempts[0].channel]), "email");
    ck_assert_str_eq(sname(img, img->rules[0].name), "NPS@2");
    ck_assert_uint_eq(img->rules[0].line, 2);
    /* reserved events first, fixed attributes first, prelude channels first */
    ck_assert_str_eq(sname(img, img->events[0]), "identify");
    ck_assert_str_eq(sname(img, img->events[5]), "consent_revoked");
    ck_assert_str_eq(sname(img, img->attrs[3]), "tz");
    ck_assert_str_eq(sname(img, img->channels[0]), "email");
    ck_assert_str_eq(sname(img, img->channels[2]), "pager");

    uint32_t opened = kb_find_event(img, "ticket_opened"), closed = kb_find_event(img, "ticket_closed");
    uint32_t login = kb_find_event(img, "login"), logout = kb_find_event(img, "logout");
    uint32_t order = kb_find_event(img, "order"), resp = kb_find_event(img, "response");
    uint32_t eopen = kb_find_event(img, "email_open");
    /* count(E) without where/window: a running count */
    ck_assert_int_eq(img->retention[closed].flags, KB_RET_COUNT);
    ck_assert_int_eq(img->retention[closed].window, 0);
    /* the trigger's attributes read by the rules are kept with it */
    ck_assert_uint_eq(img->retention[closed].nattrs, 2);
    ck_assert_str_eq(sname(img, img->attrs[img->retention[closed].attrs[0]]), "sentiment");
    ck_assert_str_eq(sname(img, img->attrs[img->retention[closed].attrs[1]]), "kind");
    /* count with where and window: the window and the attributes read */
    ck_assert_int_eq(img->retention[opened].flags, KB_RET_COUNT);
    ck_assert_int_eq(img->retention[opened].window, 7 * 86400);
    ck_assert_uint_eq(img->retention[opened].nattrs, 1);
    ck_assert_int_eq(img->retention[login].flags, KB_RET_LAST);
    ck_assert_int_eq(img->retention[login].window, 86400);
    ck_assert_str_eq(sname(img, img->attrs[img->retention[login].attrs[0]]), "device");
    ck_assert_int_eq(img->retention[logout].window, 2 * 86400);
    ck_assert_int_eq(img->retention[order].window, 30 * 86400);
    ck_assert_int_eq(img->retention[resp].window, KB_FOREVER);
    ck_assert_str_eq(sname(img, img->attrs[img->retention[resp].attrs[0]]), "survey");
    ck_assert_int_eq(img->retention[eopen].window, KB_FOREVER);
    ck_assert_uint_eq(img->rules[1].best_event, eopen);
    ck_assert_int_eq(img->sent_window, 90 * 86400);

    /* the count where-function comes first and reads ATTR / TATTR */
    uint32_t f = img->rules[1].if_fn;
    ck_assert_uint_eq(f, 2);
    ck_assert_str_eq(ops(img, 1), "ATTR CONST EQ DUP JFALSE TATTR ATTR EQ AND RET");
    ck_assert_int_eq(operand(img, 1, 0, 1), KB_STR);
    ck_assert_str_eq(ops(img, f),
        "COUNT CONST GT DUP JFALSE COUNT CONST GT AND DUP JFALSE COUNT CONST EQ AND "
        "DUP JFALSE SINCE CONST LT AND DUP JFALSE LAST CONST EQ AND DUP JFALSE AGG CONST GT AND "
        "DUP JFALSE ASKED AND DUP JFALSE RESPONDED NOT AND RET");
    ck_assert_uint_eq(operand(img, f, 0, 1), 1);                /* COUNT ... where fn 1 */
    ck_assert_int_eq(operand(img, f, 23, 2), KB_STR);           /* LAST login.device as string (from ==) */
    ck_assert_int_eq(operand(img, f, 29, 0), 1);                /* AGG avg */
    kb_free(img);
    tfree_all();
}
END_TEST

START_TEST(test_rule_tables)
{
    TP *t = program();
    KRule *r = add_rule(t, "signup");
    r->nattempts = 2;
    r->attempts = tnew(2 * sizeof *r->attempts);
    r->attempts[0].channel.s = "sms";
    r->attempts[1].channel.s = "email";
    r->attempts[1].after = 86400;
    r->cap_span = (KSpan){ 0, 1, 2 };
    r->cap_n = 1;
    r->cap_window = 14 * 86400;
    r->priority = 5;
    r->nvariants = 2;
    r->variants = tnew(2 * sizeof *r->variants);
    r->variants[0].name.s = "now";
    r->variants[0].pct = 50;
    r->variants[1].name.s = "later";
    r->variants[1].pct = 40;
    r->variants[1].has_delay = true;
    r->variants[1].delay = 3600;
    r->variants[1].has_channel = true;
    r->variants[1].channel.s = "pager";
    r->retrigger = KRT_KEEP;
    r->at_kind = KAT_WINDOW;
    r->at_days = 0x1f;
    r->at_start = 540;
    r->at_end = 960;
    /* a task on a period */
    KDecl *d = decl(KDECL_RULE, 0);
    KRule *task = &d->rule;
    task->is_task = true;
    task->target.s = "call_back";
    task->default_name = "call_back@3";
    task->kw_span = (KSpan){ 0, 17, 18 };
    task->period = KPER_WEEK;
    task->every_at = 540;
    t->rules[t->p.nrules++] = task;
    /* top level: cap 1 per 30d; cap 2 per 7d on sms, pager; quiet 20:00-08:00 on sms; consent on sms */
    t->caps[0] = decl(KDECL_CAP, 0);
    t->caps[0]->cap.n = 1;
    t->caps[0]->cap.window = 30 * 86400;
    t->caps[1] = decl(KDECL_CAP, 0);
    t->caps[1]->cap.n = 2;
    t->caps[1]->cap.window = 7 * 86400;
    KName two[2] = { { "sms", { 0, 0, 0 } }, { "pager", { 0, 0, 0 } } };
    t->caps[1]->cap.channels = (KNameList){ two, 2 };
    t->p.ncaps = 2;
    t->quiets[0] = decl(KDECL_QUIET, 0);
    t->quiets[0]->quiet.start = 1200;
    t->quiets[0]->quiet.end = 480;
    t->quiets[0]->quiet.channels = (KNameList){ two, 1 };
    t->p.nquiets = 1;
    t->consents[0] = decl(KDECL_CONSENT, 0);
    t->consents[0]->consent.channels = (KNameList){ two, 1 };
    t->p.nconsents = 1;
    t->p.timezone = "Europe/Oslo";

    KImage *img = compile(t);
    const KbRule *o = &img->rules[0];
    ck_assert_uint_eq(o->nattempts, 2);
    ck_assert_str_eq(sname(img, img->channels[o->attempts[0].channel]), "sms");
    ck_assert_int_eq(o->attempts[1].after, 86400);
    ck_assert(o->has_cap);
    ck_assert_int_eq(o->cap_window, 14 * 86400);
    ck_assert_int_eq(o->priority, 5);
    ck_assert_uint_eq(o->nvariants, 2);
    ck_assert_uint_eq(o->variants[1].pct, 40);
    ck_assert_uint_eq(o->variants[0].channel, KB_NONE);
    ck_assert_str_eq(sname(img, img->channels[o->variants[1].channel]), "pager");
    ck_assert_int_eq(o->retrigger, 1);
    ck_assert_int_eq(o->at, KB_AT_WINDOW);
    ck_assert_int_eq(o->at_days, 0x1f);
    const KbRule *tk = &img->rules[1];
    ck_assert(tk->is_task);
    ck_assert_str_eq(sname(img, tk->target), "call_back");
    ck_assert_int_eq(tk->trigger, KB_TRIG_EVERY);
    ck_assert_int_eq(tk->period, KB_PER_WEEK);
    ck_assert_int_eq(tk->every_at, 540);
    ck_assert_uint_eq(tk->line, 3);
    ck_assert_uint_eq(img->caps[0].channels, UINT64_MAX);
    ck_assert_uint_eq(img->caps[1].channels, (1u << 1) | (1u << 2));   /* sms = 1, pager = 2 */
    ck_assert_uint_eq(img->quiets[0].channels, 1u << 1);
    ck_assert_uint_eq(img->consent_channels, 1u << 1);
    ck_assert_int_eq(img->sent_window, 30 * 86400);
    ck_assert_str_eq(sname(img, img->timezone), "Europe/Oslo");
    ck_assert_str_eq(sname(img, img->policy_name), "t");
    ck_assert_uint_eq(img->source_hash, 42);

    /* file round trip, and the listing */
    uint8_t *a, *b;
    size_t alen, blen;
    ck_assert_int_eq(kb_write(img, &a, &alen), 0);
    char err[200];
    KImage *back = kb_read(a, alen, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    ck_assert_int_eq(kb_write(back, &b, &blen), 0);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
    char *text = NULL;
    size_t tlen = 0;
    FILE *m = open_memstream(&text, &tlen);
    kb_disasm(back, m);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(text, "chain     sms, then email after 1d"));
    ck_assert_ptr_nonnull(strstr(text, "variant   later 40% (buckets 50-89) + 1h via pager"));
    ck_assert_ptr_nonnull(strstr(text, "holdout   10%"));
    ck_assert_ptr_nonnull(strstr(text, "trigger   every week at 09:00"));
    ck_assert_ptr_nonnull(strstr(text, "cap 2 per 7d on sms, pager"));
    free(text);
    free(a);
    free(b);
    kb_free(back);
    kb_free(img);

    /* the same program compiles to the same bytes */
    KImage *i1 = compile(t), *i2 = compile(t);
    ck_assert_int_eq(kb_write(i1, &a, &alen), 0);
    ck_assert_int_eq(kb_write(i2, &b, &blen), 0);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
    free(a);
    free(b);
    kb_free(i1);
    kb_free(i2);
    tfree_all();
}
END_TEST

START_TEST(test_untyped_and_in)
{
    TP *t = program();
    /* after purchase (undeclared) if amount > 10 and tier in ["gold", "silver"] and weekday in [sat, sun] */
    KExpr *wk1 = ex(KEX_WEEKDAY, KT_WEEKDAY), *wk2 = ex(KEX_WEEKDAY, KT_WEEKDAY);
    wk1->weekday = 5;
    wk2->weekday = 6;
    add_rule(t, "purchase")->if_expr =
        AND(AND(bin(KOP_GT, tattr("amount", KT_UNTYPED), num(10), KT_BOOL),
                in_list(tattr("tier", KT_UNTYPED), 2, string("gold"), string("silver"))),
            in_list(name("weekday", KRES_WEEKDAY_NOW, KT_WEEKDAY), 2, wk1, wk2));
    /* a bare untyped attribute as a condition reads as bool */
    add_rule(t, "purchase")->unless_expr = tattr("test_order", KT_UNTYPED);
    KImage *img = compile(t);
    uint32_t f = img->rules[0].if_fn;
    ck_assert_str_eq(ops(img, f),
                     "TATTR CONST GT DUP JFALSE TATTR CONST CONST IN AND DUP JFALSE WEEKDAY CONST CONST IN AND RET");
    ck_assert_int_eq(operand(img, f, 0, 1), KB_NUM);
    ck_assert_int_eq(operand(img, f, 5, 1), KB_STR);
    ck_assert_int_eq(operand(img, f, 8, 0), 2);
    ck_assert_int_eq(img->consts[operand(img, f, 13, 0)].tag, KB_WEEKDAY);
    ck_assert_int_eq(img->consts[operand(img, f, 13, 0)].i, 5);
    ck_assert_int_eq(operand(img, img->rules[1].unless_fn, 0, 1), KB_BOOL);
    /* lines: every instruction start carries the source line (2) */
    ck_assert_uint_eq(img->lines[img->funcs[f].start], 2);
    kb_free(img);
    tfree_all();

    /* a long list is split into IN chunks joined like `or` (stack bound) */
    t = program();
    KExpr *big = in_list(name("n", KRES_TRAIT, KT_NUMBER), 0);
    big->nargs = 300;
    big->args = tnew(300 * sizeof *big->args);
    for (int i = 0; i < 300; i++) big->args[i] = num(i);
    add_rule(t, "e")->if_expr = big;
    img = compile(t);
    f = img->rules[0].if_fn;
    ck_assert_uint_eq(img->funcs[f].max_stack, 130);   /* r1, x, 128 items */
    const char *o = ops(img, f);
    ck_assert_str_eq(o + strlen(o) - 21, "CONST CONST IN OR RET");
    int nin = 0;
    for (const char *q = o; (q = strstr(q, " IN ")) != NULL; q++) nin++;
    ck_assert_int_eq(nin, 3);                               /* 128 + 128 + 44 items */
    kb_free(img);
    tfree_all();
}
END_TEST


/* ---- policies through the real front end --------------------------------- */

/* Compiles policy text (checked, no errors allowed); the image or a failure. */
static KImage *compile_text(const char *text)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions opt = {0};
    KProgram *p = kc_load_text("t.kai", text, strlen(text), &opt, &d);
    ck_assert_ptr_nonnull(p);
    if (d.nerrors) {
        kd_print(&d, stderr, KD_FMT_TEXT, false);
        ck_abort_msg("policy has errors");
    }
    KImage *img = kg_compile(p);
    kd_free(&d);
    kc_free(p);
    ck_assert_ptr_nonnull(img);
    return img;
}

START_TEST(test_text_policy)
{
    KImage *img = compile_text(
        "policy \"acme\"\n"
        "timezone \"Europe/Oslo\"\n"
        "event ticket_closed { sentiment: number, kind: string }\n"
        "cap 1 per 30d\n"
        "quiet 20:00-08:00 on sms\n"
        "ask NPS after ticket_closed + 24h if no open_ticket and sentiment >= 0\n"
        "rule tech:\n"
        "  ask CSAT via email then sms after 2d\n"
        "  after ticket_closed where kind == \"technical\"\n"
        "  if login within 24h and count(login where device == \"ios\" within 7d) > 1\n"
        "  unless 1 > 2\n"
        "  priority 5\n");
    ck_assert_str_eq(sname(img, img->policy_name), "acme");
    ck_assert_str_eq(sname(img, img->timezone), "Europe/Oslo");
    ck_assert_uint_eq(img->nrules, 2);
    const KbRule *r0 = &img->rules[0], *r1 = &img->rules[1];
    ck_assert_str_eq(sname(img, r0->name), "NPS@6");
    ck_assert_uint_eq(r0->line, 6);
    ck_assert_int_eq(r0->delay, 86400);
    ck_assert_uint_eq(r0->where_fn, KB_NONE);
    ck_assert_str_eq(ops(img, r0->if_fn), "COUNT COUNT GT NOT DUP JFALSE TATTR CONST GE AND RET");
    ck_assert_str_eq(sname(img, r1->name), "tech");
    ck_assert_str_eq(ops(img, r1->where_fn), "TATTR CONST EQ RET");
    ck_assert_uint_eq(r1->unless_fn, KB_NONE);
    ck_assert_str_eq(ops(img, r1->if_fn), "COUNT CONST GT DUP JFALSE COUNT CONST GT AND RET");
    ck_assert_str_eq(ops(img, r1->if_fn - 1), "ATTR CONST EQ RET");
    ck_assert_uint_eq(r1->nattempts, 2);
    ck_assert_int_eq(r1->attempts[1].after, 2 * 86400);
    ck_assert_int_eq(r1->priority, 5);
    ck_assert_uint_eq(img->lines[img->funcs[r1->if_fn].start], 10);
    /* retention */
    uint32_t closed = kb_find_event(img, "ticket_closed"), login = kb_find_event(img, "login");
    ck_assert_int_eq(img->retention[closed].flags, KB_RET_COUNT);
    ck_assert_uint_eq(img->retention[closed].nattrs, 2);
    ck_assert_int_eq(img->retention[login].window, 7 * 86400);
    ck_assert_str_eq(sname(img, img->attrs[img->retention[login].attrs[0]]), "device");
    ck_assert_uint_eq(img->ncaps, 1);
    ck_assert_uint_eq(img->quiets[0].channels, 1u << kb_find_channel(img, "sms"));
    ck_assert_int_eq(img->sent_window, 30 * 86400);
    kb_free(img);
}
END_TEST

/* The compiled image of a small policy survives every truncation and
 * every byte flip of its .kbc, and a rewrite gives the same bytes. */
START_TEST(test_text_kbc_corruption)
{
    KImage *img = compile_text(
        "ask NPS after purchase + 3d if no complaint within 14d and amount > 10\n"
        "  variant a 50% variant b 30% { + 1d }\n");
    uint8_t *a, *b;
    size_t alen, blen;
    ck_assert_int_eq(kb_write(img, &a, &alen), 0);
    char err[200];
    KImage *back = kb_read(a, alen, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    ck_assert_int_eq(kb_write(back, &b, &blen), 0);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
    kb_free(back);
    free(b);
    uint8_t *c = malloc(alen);
    for (size_t n = 0; n < alen; n++) {
        memcpy(c, a, n);
        ck_assert_ptr_null(kb_read(c, n, err, sizeof err));
    }
    for (size_t i = 0; i < alen; i++) {
        memcpy(c, a, alen);
        c[i] ^= 0x5a;
        KImage *x = kb_read(c, alen, err, sizeof err);
        ck_assert_ptr_null(x);
        ck_assert(err[0] != '\0');
    }
    free(c);
    free(a);
    kb_free(img);
}
END_TEST

/* tests/kbc/NAME.kai compiles to the listing tests/kbc/NAME.disasm
 * (KAIROS_UPDATE_GOLDEN=1 rewrites the listings). */
START_TEST(test_disasm_golden)
{
    static const char *const cases[] = { "support", "segments" };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/kbc/%s.kai", cases[i]);
        FILE *in = fopen(path, "rb");
        if (!in) continue;                              /* not run from the repository root */
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, in);
        fclose(in);
        text[n] = '\0';
        KImage *img = compile_text(text);
        char *got = NULL;
        size_t glen = 0;
        FILE *m = open_memstream(&got, &glen);
        kb_disasm(img, m);
        fclose(m);
        snprintf(path, sizeof path, "tests/kbc/%s.disasm", cases[i]);
        if (getenv("KAIROS_UPDATE_GOLDEN")) {
            FILE *out = fopen(path, "wb");
            ck_assert_ptr_nonnull(out);
            fwrite(got, 1, glen, out);
            fclose(out);
        }
        FILE *ef = fopen(path, "rb");
        ck_assert_msg(ef != NULL, "missing %s", path);
        static char want[262144];
        size_t wlen = fread(want, 1, sizeof want - 1, ef);
        fclose(ef);
        want[wlen] = '\0';
        ck_assert_msg(wlen == glen && memcmp(want, got, glen) == 0, "%s differs", path);
        free(got);
        kb_free(img);
    }
}
END_TEST

Suite *codegen_suite(void)
{
    Suite *s = suite_create("codegen");
    TCase *tc = tcase_create("codegen");
    tcase_add_test(tc, test_kleene);
    tcase_add_test(tc, test_folding);
    tcase_add_test(tc, test_value_cases_folded);
    tcase_add_test(tc, test_counts_and_retention);
    tcase_add_test(tc, test_rule_tables);
    tcase_add_test(tc, test_untyped_and_in);
    tcase_add_test(tc, test_text_policy);
    tcase_add_test(tc, test_text_kbc_corruption);
    tcase_add_test(tc, test_disasm_golden);
    suite_add_tcase(s, tc);
    return s;
}
