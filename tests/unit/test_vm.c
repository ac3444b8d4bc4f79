/* test_vm.c -- runtime/vm.c: every opcode on hand-assembled functions,
 * unknown propagation, Kleene logic, coercions, the history opcodes and
 * their half-open windows, and malformed code (never a crash). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "value_cases.h"
#include "../../runtime/internal.h"
#include "../../runtime/hist.h"

/* ---- a hand-built image ----------------------------------------------------
 * events: 0 purchase {amount, name}, 1 response {survey}
 * attrs:  0 amount, 1 survey, 2 when, 3 flag, 4 name, 5 ts, 6 vip
 * surveys: 0 NPS, 1 CSAT; rules: 0 ask NPS, 1 ask CSAT, 2 task "NPS"-named  */

enum { E_PURCHASE, E_RESPONSE };
enum { A_AMOUNT, A_SURVEY, A_WHEN, A_FLAG, A_NAME, A_TS, A_VIP };

typedef struct TB {
    KImage *img;
    KrPool *values;
    uint32_t strval[64];
    uint32_t hist_of[2];
    KvEnv env;
    KrCust cust;
    KrHist hist[2];
} TB;

static TB tb;

static uint32_t str(const char *s)
{
    KImage *img = tb.img;
    for (uint32_t i = 0; i < img->nstrings; i++)
        if (strcmp(img->strings[i], s) == 0) return i;
    ck_assert_uint_lt(img->nstrings, 64);
    img->strings = realloc(img->strings, (img->nstrings + 1) * sizeof *img->strings);
    img->string_lens = realloc(img->string_lens, (img->nstrings + 1) * sizeof *img->string_lens);
    img->strings[img->nstrings] = strdup(s);
    img->string_lens[img->nstrings] = (uint32_t)strlen(s);
    return img->nstrings++;
}

static uint32_t *u32s(uint32_t n, ...)
{
    uint32_t *a = malloc((n ? n : 1) * sizeof *a);
    va_list ap;
    va_start(ap, n);
    for (uint32_t i = 0; i < n; i++) a[i] = va_arg(ap, uint32_t);
    va_end(ap);
    return a;
}

static uint32_t konst(KbConst k)
{
    KImage *img = tb.img;
    img->consts = realloc(img->consts, (img->nconsts + 1) * sizeof *img->consts);
    img->consts[img->nconsts] = k;
    return img->nconsts++;
}
static uint32_t knum(double d) { KbConst k = { .tag = KB_NUM }; k.num = d; return konst(k); }
static uint32_t kdur(int64_t s) { KbConst k = { .tag = KB_DUR }; k.i = s; return konst(k); }
static uint32_t ktime(int64_t s) { KbConst k = { .tag = KB_TIME }; k.i = s; return konst(k); }
static uint32_t kwday(int64_t s) { KbConst k = { .tag = KB_WEEKDAY }; k.i = s; return konst(k); }
static uint32_t kstr(const char *s) { KbConst k = { .tag = KB_STR }; k.str = str(s); return konst(k); }

static int64_t now;
static KvAttrs cur, trig;

static void setup(void)
{
    memset(&tb, 0, sizeof tb);
    now = 1774746000LL;   /* 2026-03-29T01:00:00Z = 03:00 CEST Sunday */
    cur = trig = (KvAttrs){ 0, NULL, NULL };
    KImage *img = tb.img = calloc(1, sizeof *img);
    tb.values = kr_pool_new();
    img->policy_name = str("vmtest");
    img->timezone = KB_NONE;
    img->nevents = 2;
    img->events = u32s(2, str("purchase"), str("response"));
    img->nattrs = 7;
    img->attrs = u32s(7, str("amount"), str("survey"), str("when"), str("flag"), str("name"),
                      str("ts"), str("vip"));
    img->nsurveys = 2;
    img->surveys = u32s(2, str("NPS"), str("CSAT"));
    img->nchannels = 1;
    img->channels = u32s(1, str("email"));
    img->ntraits = 1;
    img->traits = u32s(1, A_VIP);
    img->retention = calloc(2, sizeof *img->retention);
    img->retention[E_PURCHASE] = (KbRetention){ KB_RET_COUNT | KB_RET_LAST, 7 * 86400, u32s(2, A_AMOUNT, A_NAME), 2 };
    img->retention[E_RESPONSE] = (KbRetention){ 0, KB_FOREVER, u32s(1, A_SURVEY), 1 };
    img->nrules = 3;
    img->rules = calloc(3, sizeof *img->rules);
    img->rules[0].target = 0;
    img->rules[1].target = 1;
    img->rules[2].is_task = true;
    img->rules[2].target = 0;
    for (int i = 0; i < 3; i++) {
        img->rules[i].attempts = calloc(1, sizeof(KbAttempt));
        img->rules[i].nattempts = 1;
        img->rules[i].name = str(i == 0 ? "r0" : i == 1 ? "r1" : "r2");
    }
    tb.hist_of[0] = 0;
    tb.hist_of[1] = 1;
    tb.cust.hist = tb.hist;
    tb.cust.first = 0;
    tb.cust.zone = kz_utc();
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) free(tb.hist[i].cells);
    free(tb.cust.sent);
    free(tb.cust.traits);
    kb_free(tb.img);
    kr_pool_free(tb.values);
}

/* Adds a function from words; returns its index. */
static uint32_t fn(uint32_t n, const uint32_t *words)
{
    KImage *img = tb.img;
    img->code = realloc(img->code, (img->ncode + n + 1) * sizeof *img->code);
    memcpy(img->code + img->ncode, words, n * sizeof *words);
    img->funcs = realloc(img->funcs, (img->nfuncs + 1) * sizeof *img->funcs);
    img->funcs[img->nfuncs] = (KbFunc){ img->ncode, n, KB_MAX_STACK };
    img->ncode += n;
    return img->nfuncs++;
}
#define FN(...) fn(sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t), (uint32_t[]){ __VA_ARGS__ })


static void make_env(void)
{
    for (uint32_t i = 0; i < tb.img->nstrings; i++)
        tb.strval[i] = kr_intern(tb.values, tb.img->strings[i], tb.img->string_lens[i]);
    tb.env = (KvEnv){ .img = tb.img, .values = tb.values, .strval = tb.strval, .hist_of = tb.hist_of,
                      .ev_response = E_RESPONSE, .response_survey = 0 };
}

static int eval(uint32_t f, KrValue *out)
{
    make_env();
    KvCtx ctx = { .env = &tb.env, .cust = &tb.cust, .now = now, .zone = tb.cust.zone,
                  .cur = cur, .trig = trig };
    return kv_eval(&ctx, f, out);
}

static KrValue run(uint32_t f)
{
    KrValue v;
    ck_assert_int_eq(eval(f, &v), 0);
    return v;
}

static uint32_t pool_id(const char *s) { return kr_intern(tb.values, s, strlen(s)); }

#define ASSERT_NUM(v, x)   do { KrValue v_ = (v); ck_assert_int_eq(v_.tag, KB_NUM); ck_assert(v_.num == (x)); } while (0)
#define ASSERT_INT(v, t, x) do { KrValue v_ = (v); ck_assert_int_eq(v_.tag, t); ck_assert_int_eq(v_.i, (x)); } while (0)
#define ASSERT_BOOL(v, x)  do { KrValue v_ = (v); ck_assert_int_eq(v_.tag, KB_BOOL); ck_assert_int_eq(v_.b, (x)); } while (0)
#define ASSERT_UNK(v)      ck_assert_int_eq((v).tag, KB_UNKNOWN)

/* binary operation on two constants */
static KrValue bin(uint32_t op, uint32_t ka, uint32_t kb)
{
    return run(FN(KB_OP_CONST, ka, KB_OP_CONST, kb, op, KB_OP_RET));
}

/* ---- folding and execution agree (value_cases.h) ------------------------ */

static uint32_t case_const(const CaseVal *v)
{
    switch (v->tag) {
    case KB_NUM: return knum(v->num);
    case KB_DUR: return kdur(v->i);
    case KB_WEEKDAY: return kwday(v->i);
    case KB_STR: return kstr(v->s);
    default: { KbConst k = { .tag = KB_BOOL }; k.b = v->b; return konst(k); }
    }
}

static void assert_case_value(size_t i, KrValue got, const CaseVal *want)
{
    ck_assert_msg(got.tag == want->tag, "case %zu: tag %u, want %u", i, got.tag, want->tag);
    switch (want->tag) {
    case KB_NUM: ck_assert_msg(got.num == want->num, "case %zu: %g, want %g", i, got.num, want->num); break;
    case KB_BOOL: ck_assert_msg(got.b == want->b, "case %zu: %d, want %d", i, got.b, want->b); break;
    case KB_UNKNOWN: break;
    default: ck_assert_msg(got.i == want->i, "case %zu: %lld, want %lld", i, (long long)got.i, (long long)want->i);
    }
}

/* Every case of value_cases.h executed by the VM gives its `want`;
 * test_codegen.c's test_value_cases_folded folds the same cases. */
START_TEST(test_value_cases_executed)
{
    for (size_t i = 0; i < NVALUE_CASES; i++) {
        const ValueCase *c = &value_cases[i];
        uint32_t ka = case_const(&c->a);
        KrValue got;
        if (c->op == KB_OP_NOT || c->op == KB_OP_NEG) got = run(FN(KB_OP_CONST, ka, c->op, KB_OP_RET));
        else got = run(FN(KB_OP_CONST, ka, KB_OP_CONST, case_const(&c->b), c->op, KB_OP_RET));
        assert_case_value(i, got, &c->want);
    }
}
END_TEST

START_TEST(test_literals)
{
    ASSERT_NUM(run(FN(KB_OP_CONST, knum(2.5), KB_OP_RET)), 2.5);
    ASSERT_BOOL(run(FN(KB_OP_TRUE, KB_OP_RET)), true);
    ASSERT_BOOL(run(FN(KB_OP_FALSE, KB_OP_RET)), false);
    ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_RET)));
    KrValue v = run(FN(KB_OP_CONST, kstr("hello"), KB_OP_RET));
    ck_assert_int_eq(v.tag, KB_STR);
    ck_assert_uint_eq(v.str, pool_id("hello"));
    ASSERT_INT(run(FN(KB_OP_CONST, kdur(60), KB_OP_RET)), KB_DUR, 60);
    ASSERT_INT(run(FN(KB_OP_CONST, ktime(5), KB_OP_RET)), KB_TIME, 5);
    ASSERT_INT(run(FN(KB_OP_CONST, kwday(2), KB_OP_RET)), KB_WEEKDAY, 2);
    /* DUP */
    ASSERT_NUM(run(FN(KB_OP_CONST, knum(3), KB_OP_DUP, KB_OP_ADD, KB_OP_RET)), 6);
}
END_TEST

START_TEST(test_arithmetic)
{
    ASSERT_NUM(bin(KB_OP_ADD, knum(2), knum(3)), 5);
    ASSERT_INT(bin(KB_OP_ADD, kdur(60), kdur(30)), KB_DUR, 90);
    ASSERT_INT(bin(KB_OP_ADD, ktime(1000), kdur(30)), KB_TIME, 1030);
    ASSERT_INT(bin(KB_OP_ADD, kdur(30), ktime(1000)), KB_TIME, 1030);
    ASSERT_UNK(bin(KB_OP_ADD, knum(1), kstr("x")));
    ASSERT_UNK(bin(KB_OP_ADD, kdur(INT64_MAX - 1), kdur(5)));
    ASSERT_NUM(bin(KB_OP_SUB, knum(2), knum(3)), -1);
    ASSERT_INT(bin(KB_OP_SUB, ktime(1000), ktime(400)), KB_DUR, 600);
    ASSERT_INT(bin(KB_OP_SUB, ktime(1000), kdur(400)), KB_TIME, 600);
    ASSERT_INT(bin(KB_OP_SUB, kdur(10), kdur(40)), KB_DUR, -30);
    ASSERT_UNK(bin(KB_OP_SUB, kdur(INT64_MIN + 1), kdur(5)));
    ASSERT_NUM(bin(KB_OP_MUL, knum(4), knum(2.5)), 10);
    ASSERT_INT(bin(KB_OP_MUL, kdur(60), knum(1.5)), KB_DUR, 90);
    ASSERT_INT(bin(KB_OP_MUL, knum(2), kdur(60)), KB_DUR, 120);
    ASSERT_UNK(bin(KB_OP_MUL, kdur(60), kdur(2)));
    ASSERT_UNK(bin(KB_OP_MUL, kdur(INT64_MAX / 2), knum(4)));
    ASSERT_NUM(bin(KB_OP_DIV, knum(1), knum(4)), 0.25);
    ASSERT_UNK(bin(KB_OP_DIV, knum(1), knum(0)));
    ASSERT_UNK(bin(KB_OP_DIV, knum(0), knum(0)));
    ASSERT_INT(bin(KB_OP_DIV, kdur(90), knum(2)), KB_DUR, 45);
    ASSERT_UNK(bin(KB_OP_DIV, kdur(90), knum(0)));
    ASSERT_NUM(bin(KB_OP_DIV, kdur(90), kdur(45)), 2);
    ASSERT_UNK(bin(KB_OP_DIV, kdur(90), kdur(0)));
    ASSERT_NUM(run(FN(KB_OP_CONST, knum(3), KB_OP_NEG, KB_OP_RET)), -3);
    ASSERT_INT(run(FN(KB_OP_CONST, kdur(3), KB_OP_NEG, KB_OP_RET)), KB_DUR, -3);
    ASSERT_UNK(run(FN(KB_OP_CONST, kstr("a"), KB_OP_NEG, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_NEG, KB_OP_RET)));
    /* unknown propagates through every arithmetic operator */
    uint32_t ops[] = { KB_OP_ADD, KB_OP_SUB, KB_OP_MUL, KB_OP_DIV };
    for (int i = 0; i < 4; i++) {
        ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_CONST, knum(1), ops[i], KB_OP_RET)));
        ASSERT_UNK(run(FN(KB_OP_CONST, knum(1), KB_OP_UNKNOWN, ops[i], KB_OP_RET)));
    }
    /* inf - inf is not a number: unknown */
    ASSERT_UNK(bin(KB_OP_SUB, knum(INFINITY), knum(INFINITY)));
}
END_TEST

START_TEST(test_comparisons)
{
    ASSERT_BOOL(bin(KB_OP_EQ, knum(1), knum(1)), true);
    ASSERT_BOOL(bin(KB_OP_EQ, knum(-0.0), knum(0)), true);
    ASSERT_BOOL(bin(KB_OP_NE, knum(1), knum(2)), true);
    ASSERT_BOOL(bin(KB_OP_LT, knum(1), knum(2)), true);
    ASSERT_BOOL(bin(KB_OP_LE, knum(2), knum(2)), true);
    ASSERT_BOOL(bin(KB_OP_GT, knum(2), knum(2)), false);
    ASSERT_BOOL(bin(KB_OP_GE, knum(2), knum(2)), true);
    ASSERT_BOOL(bin(KB_OP_EQ, kstr("abc"), kstr("abc")), true);
    ASSERT_BOOL(bin(KB_OP_LT, kstr("a"), kstr("b")), true);
    ASSERT_BOOL(bin(KB_OP_GT, kstr("ab"), kstr("a")), true);
    ASSERT_BOOL(bin(KB_OP_LT, kstr("B"), kstr("a")), true);        /* byte-wise */
    ASSERT_BOOL(bin(KB_OP_LT, kstr("\xc3\xa9"), kstr("z")), false); /* bytes >= 0x80 sort last */
    ASSERT_BOOL(bin(KB_OP_LT, kdur(5), kdur(6)), true);
    ASSERT_BOOL(bin(KB_OP_GE, ktime(5), ktime(6)), false);
    ASSERT_BOOL(bin(KB_OP_LT, kwday(0), kwday(4)), true);
    ASSERT_UNK(bin(KB_OP_EQ, knum(1), kstr("1")));                 /* types differ */
    ASSERT_UNK(bin(KB_OP_LT, kdur(1), ktime(1)));
    uint32_t ops[] = { KB_OP_EQ, KB_OP_NE, KB_OP_LT, KB_OP_LE, KB_OP_GT, KB_OP_GE };
    for (int i = 0; i < 6; i++) {
        ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_CONST, knum(1), ops[i], KB_OP_RET)));
        ASSERT_UNK(run(FN(KB_OP_CONST, knum(1), KB_OP_UNKNOWN, ops[i], KB_OP_RET)));
        ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_UNKNOWN, ops[i], KB_OP_RET)));
    }
    ASSERT_BOOL(run(FN(KB_OP_TRUE, KB_OP_TRUE, KB_OP_EQ, KB_OP_RET)), true);
    ASSERT_BOOL(run(FN(KB_OP_TRUE, KB_OP_FALSE, KB_OP_EQ, KB_OP_RET)), false);
}
END_TEST

/* T, F, U as opcodes */
static const uint32_t tv[3] = { KB_OP_TRUE, KB_OP_FALSE, KB_OP_UNKNOWN };
enum { T, F, U };

static int truth_of(KrValue v) { return v.tag == KB_UNKNOWN ? U : v.b ? T : F; }

START_TEST(test_kleene)
{
    static const int and_t[3][3] = { { T, F, U }, { F, F, F }, { U, F, U } };
    static const int or_t[3][3]  = { { T, T, T }, { T, F, U }, { T, U, U } };
    static const int not_t[3] = { F, T, U };
    for (int a = 0; a < 3; a++) {
        ck_assert_int_eq(truth_of(run(FN(tv[a], KB_OP_NOT, KB_OP_RET))), not_t[a]);
        for (int b = 0; b < 3; b++) {
            ck_assert_int_eq(truth_of(run(FN(tv[a], tv[b], KB_OP_AND, KB_OP_RET))), and_t[a][b]);
            ck_assert_int_eq(truth_of(run(FN(tv[a], tv[b], KB_OP_OR, KB_OP_RET))), or_t[a][b]);
            /* short-circuit forms: a; DUP; JFALSE/JTRUE +1; b; AND/OR */
            ck_assert_int_eq(truth_of(run(FN(tv[a], KB_OP_DUP, KB_OP_JFALSE, 1, tv[b], KB_OP_AND, KB_OP_RET))),
                             and_t[a][b]);
            ck_assert_int_eq(truth_of(run(FN(tv[a], KB_OP_DUP, KB_OP_JTRUE, 1, tv[b], KB_OP_OR, KB_OP_RET))),
                             or_t[a][b]);
        }
    }
    /* a non-boolean is unknown to the logic */
    ASSERT_UNK(run(FN(KB_OP_CONST, knum(1), KB_OP_NOT, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_CONST, knum(1), KB_OP_TRUE, KB_OP_AND, KB_OP_RET)));
    /* the skipped branch is not run: it would fail */
    ASSERT_BOOL(run(FN(KB_OP_FALSE, KB_OP_JFALSE, 2, KB_OP_ADD, KB_OP_RET, KB_OP_RET)), false);
    ASSERT_BOOL(run(FN(KB_OP_TRUE, KB_OP_JTRUE, 2, KB_OP_ADD, KB_OP_RET, KB_OP_RET)), true);
    /* JUMP */
    ASSERT_NUM(run(FN(KB_OP_JUMP, 3, KB_OP_CONST, knum(1), KB_OP_RET, KB_OP_CONST, knum(2), KB_OP_RET)), 2);
}
END_TEST

START_TEST(test_in)
{
    uint32_t one = knum(1), two = knum(2), three = knum(3), four = knum(4);
    ASSERT_BOOL(run(FN(KB_OP_CONST, two, KB_OP_CONST, one, KB_OP_CONST, two, KB_OP_CONST, three, KB_OP_IN, 3, KB_OP_RET)), true);
    ASSERT_BOOL(run(FN(KB_OP_CONST, four, KB_OP_CONST, one, KB_OP_CONST, two, KB_OP_CONST, three, KB_OP_IN, 3, KB_OP_RET)), false);
    ASSERT_UNK(run(FN(KB_OP_CONST, four, KB_OP_CONST, one, KB_OP_UNKNOWN, KB_OP_IN, 2, KB_OP_RET)));
    ASSERT_BOOL(run(FN(KB_OP_CONST, one, KB_OP_CONST, one, KB_OP_UNKNOWN, KB_OP_IN, 2, KB_OP_RET)), true);
    ASSERT_UNK(run(FN(KB_OP_UNKNOWN, KB_OP_CONST, one, KB_OP_IN, 1, KB_OP_RET)));
    ASSERT_BOOL(run(FN(KB_OP_CONST, one, KB_OP_IN, 0, KB_OP_RET)), false);
    ASSERT_BOOL(run(FN(KB_OP_CONST, kstr("b"), KB_OP_CONST, kstr("a"), KB_OP_CONST, kstr("b"), KB_OP_IN, 2, KB_OP_RET)), true);
    /* the stack below the operands is kept */
    ASSERT_NUM(run(FN(KB_OP_CONST, four, KB_OP_CONST, one, KB_OP_CONST, one, KB_OP_IN, 1, KB_OP_JFALSE, 0, KB_OP_RET)), 4);
}
END_TEST

static KrValue vnum(double d) { KrValue v = { .tag = KB_NUM }; v.num = d; return v; }
static KrValue vstr(const char *s) { KrValue v = { .tag = KB_STR }; v.str = pool_id(s); return v; }
static KrValue vbool(bool b) { KrValue v = { .tag = KB_BOOL }; v.b = b; return v; }

START_TEST(test_attr_coercion)
{
    static uint32_t ids[6] = { A_AMOUNT, A_WHEN, A_FLAG, A_NAME, A_TS, A_VIP };
    KrValue vals[6] = { vnum(12.5), vstr("2026-03-01T10:00:00+01:00"), vstr("true"), vstr("bob"),
                        vnum(1700000000.7), vbool(false) };
    cur = (KvAttrs){ 6, ids, vals };
    static uint32_t tids[1] = { A_AMOUNT };
    KrValue tvals[1] = { vnum(99) };
    trig = (KvAttrs){ 1, tids, tvals };
    ASSERT_NUM(run(FN(KB_OP_ATTR, A_AMOUNT, KB_NUM, KB_OP_RET)), 12.5);
    ASSERT_NUM(run(FN(KB_OP_TATTR, A_AMOUNT, KB_NUM, KB_OP_RET)), 99);
    ASSERT_UNK(run(FN(KB_OP_TATTR, A_NAME, KB_STR, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_AMOUNT, KB_STR, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_NAME, KB_NUM, KB_OP_RET)));
    ASSERT_INT(run(FN(KB_OP_ATTR, A_WHEN, KB_TIME, KB_OP_RET)), KB_TIME, 1772355600LL);
    ASSERT_INT(run(FN(KB_OP_ATTR, A_TS, KB_TIME, KB_OP_RET)), KB_TIME, 1700000000LL);
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_NAME, KB_TIME, KB_OP_RET)));
    /* a boolean only from a boolean: the readers make cells true/false
     * booleans, so a string "true" is text and unknown where a boolean is needed */
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_FLAG, KB_BOOL, KB_OP_RET)));
    ASSERT_BOOL(run(FN(KB_OP_ATTR, A_VIP, KB_BOOL, KB_OP_RET)), false);
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_NAME, KB_BOOL, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_AMOUNT, KB_BOOL, KB_OP_RET)));
    KrValue v = run(FN(KB_OP_ATTR, A_NAME, KB_UNTYPED, KB_OP_RET));
    ck_assert_int_eq(v.tag, KB_STR);
    ck_assert_uint_eq(v.str, pool_id("bob"));
    ASSERT_NUM(run(FN(KB_OP_ATTR, A_AMOUNT, KB_UNTYPED, KB_OP_RET)), 12.5);
    ASSERT_UNK(run(FN(KB_OP_ATTR, A_SURVEY, KB_STR, KB_OP_RET)));       /* absent */
    /* traits */
    ASSERT_UNK(run(FN(KB_OP_TRAIT, A_VIP, KB_BOOL, KB_OP_RET)));         /* no identify yet */
    tb.cust.traits = calloc(1, sizeof *tb.cust.traits);
    tb.cust.traits[0] = vbool(false);
    ASSERT_BOOL(run(FN(KB_OP_TRAIT, A_VIP, KB_BOOL, KB_OP_RET)), false);
    tb.cust.traits[0] = vstr("false");
    ASSERT_UNK(run(FN(KB_OP_TRAIT, A_VIP, KB_BOOL, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_TRAIT, A_NAME, KB_STR, KB_OP_RET)));         /* not a trait */
    cur = trig = (KvAttrs){ 0, NULL, NULL };
}
END_TEST

START_TEST(test_now_hour_weekday)
{
    ASSERT_INT(run(FN(KB_OP_NOW, KB_OP_RET)), KB_TIME, now);
    ASSERT_NUM(run(FN(KB_OP_HOUR, KB_OP_RET)), 1);                      /* UTC */
    ASSERT_INT(run(FN(KB_OP_WEEKDAY, KB_OP_RET)), KB_WEEKDAY, 6);        /* Sunday */
    tb.cust.zone = kz_zone("Europe/Oslo");
    ASSERT_NUM(run(FN(KB_OP_HOUR, KB_OP_RET)), 3);                      /* 03:00 CEST */
    tb.cust.zone = kz_zone("America/New_York");
    ASSERT_NUM(run(FN(KB_OP_HOUR, KB_OP_RET)), 21);                     /* Saturday 21:00 EDT */
    ASSERT_INT(run(FN(KB_OP_WEEKDAY, KB_OP_RET)), KB_WEEKDAY, 5);
}
END_TEST

/* Appends a purchase record (amount may be unknown) to the history. */
static void purchase(int64_t t, KrValue amount, const char *name)
{
    KrHist *h = &tb.hist[E_PURCHASE];
    h->cells = realloc(h->cells, (h->n + 1) * 3 * sizeof *h->cells);
    KrValue *r = &h->cells[h->n * 3];
    r[0].tag = KB_TIME;
    r[0].i = t;
    r[1] = amount;
    r[2] = name ? vstr(name) : (KrValue){ .tag = KB_UNKNOWN };
    h->n++;
    h->total++;
}

static void response(int64_t t, const char *survey)
{
    KrHist *h = &tb.hist[E_RESPONSE];
    h->cells = realloc(h->cells, (h->n + 1) * 2 * sizeof *h->cells);
    KrValue *r = &h->cells[h->n * 2];
    r[0].tag = KB_TIME;
    r[0].i = t;
    r[1] = vstr(survey);
    h->n++;
    h->total++;
}

START_TEST(test_history)
{
    const int64_t W = 7 * 86400;
    KrValue unk = { .tag = KB_UNKNOWN };
    /* nothing yet */
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, KB_NONE, KB_NONE, KB_OP_RET)), 0);
    ASSERT_UNK(run(FN(KB_OP_SINCE, E_PURCHASE, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_LAST, E_PURCHASE, A_NAME, KB_STR, KB_OP_RET)));
    ASSERT_NUM(run(FN(KB_OP_AGG, 0, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)), 0);
    ASSERT_UNK(run(FN(KB_OP_AGG, 1, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_AGG, 2, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)));
    ASSERT_UNK(run(FN(KB_OP_AGG, 3, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)));

    purchase(now - W - 100, vnum(1000), "old");
    purchase(now - W, vnum(5), "edge");        /* exactly now - 7d: outside (now - 7d, now] */
    purchase(now - W + 1, vnum(20), "in1");
    purchase(now - 60, unk, "in2");
    purchase(now, vnum(8), "last");            /* exactly now: inside */
    uint32_t w7 = kdur(W), w1 = kdur(86400);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, KB_NONE, w7, KB_OP_RET)), 3);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, KB_NONE, w1, KB_OP_RET)), 2);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, KB_NONE, KB_NONE, KB_OP_RET)), 5);   /* running total */
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_RESPONSE, KB_NONE, KB_NONE, KB_OP_RET)), 0);
    /* where: amount > 10 (counted event's attribute; unknown does not count) */
    uint32_t where = FN(KB_OP_ATTR, A_AMOUNT, KB_NUM, KB_OP_CONST, knum(10), KB_OP_GT, KB_OP_RET);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, where, w7, KB_OP_RET)), 1);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, where, KB_NONE, KB_OP_RET)), 2);
    /* where with the trigger's attribute: amount > trigger.amount */
    static uint32_t tids[1] = { A_AMOUNT };
    KrValue tvals[1] = { vnum(6) };
    trig = (KvAttrs){ 1, tids, tvals };
    uint32_t where2 = FN(KB_OP_ATTR, A_AMOUNT, KB_NUM, KB_OP_TATTR, A_AMOUNT, KB_NUM, KB_OP_GT, KB_OP_RET);
    ASSERT_NUM(run(FN(KB_OP_COUNT, E_PURCHASE, where2, w7, KB_OP_RET)), 2);
    trig = (KvAttrs){ 0, NULL, NULL };
    /* since / last */
    ASSERT_INT(run(FN(KB_OP_SINCE, E_PURCHASE, KB_OP_RET)), KB_DUR, 0);
    KrValue v = run(FN(KB_OP_LAST, E_PURCHASE, A_NAME, KB_STR, KB_OP_RET));
    ck_assert_uint_eq(v.str, pool_id("last"));
    ASSERT_NUM(run(FN(KB_OP_LAST, E_PURCHASE, A_AMOUNT, KB_NUM, KB_OP_RET)), 8);
    ASSERT_UNK(run(FN(KB_OP_LAST, E_PURCHASE, A_SURVEY, KB_STR, KB_OP_RET)));
    now -= 30;      /* the record at now is in the future now: last is in2 */
    ASSERT_INT(run(FN(KB_OP_SINCE, E_PURCHASE, KB_OP_RET)), KB_DUR, 30);
    ASSERT_UNK(run(FN(KB_OP_LAST, E_PURCHASE, A_AMOUNT, KB_NUM, KB_OP_RET)));
    now += 30;
    /* aggregates over (now - 7d, now]: 20, unknown (skipped), 8 */
    ASSERT_NUM(run(FN(KB_OP_AGG, 0, E_PURCHASE, A_AMOUNT, w7, KB_OP_RET)), 28);
    ASSERT_NUM(run(FN(KB_OP_AGG, 1, E_PURCHASE, A_AMOUNT, w7, KB_OP_RET)), 14);
    ASSERT_NUM(run(FN(KB_OP_AGG, 2, E_PURCHASE, A_AMOUNT, w7, KB_OP_RET)), 8);
    ASSERT_NUM(run(FN(KB_OP_AGG, 3, E_PURCHASE, A_AMOUNT, w7, KB_OP_RET)), 20);
    ASSERT_NUM(run(FN(KB_OP_AGG, 3, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)), 1000);
    ASSERT_NUM(run(FN(KB_OP_AGG, 2, E_PURCHASE, A_AMOUNT, KB_NONE, KB_OP_RET)), 5);
}
END_TEST

/* What the engine does to a customer's purchases as they come (the memo
 * tests): every 500th event (and the 2400th) drops what is 2 days old,
 * every 97th moves the head a quarter in (records before it are gone). */
static void churn(KrHist *h, int i, int64_t t, int64_t W)
{
    if (i % 500 == 499 || i == 2399) {
        uint32_t k = 0;
        while (k < h->n && h->cells[(size_t)k * 3].i <= t - 2 * W) k++;
        memmove(h->cells, h->cells + (size_t)k * 3, (size_t)(h->n - k) * 3 * sizeof *h->cells);
        h->n -= k;
    } else if (i % 97 == 0) {
        h->head = h->n / 4;
    }
}

/* count(E where F), F reading only the counted event: through the memo
 * (kv_count_memos, KrCountMemo) the same counts as one by one, while the
 * history grows, drops its oldest records (as the engine compacts it),
 * and now moves forward, back a little, and past the whole window; the
 * memo keeps about the window, not the history. */
START_TEST(test_count_memo)
{
    const int64_t W = 86400;
    uint32_t w1 = kdur(W);
    uint32_t where = FN(KB_OP_ATTR, A_AMOUNT, KB_NUM, KB_OP_CONST, knum(10), KB_OP_GT, KB_OP_RET);
    uint32_t count = FN(KB_OP_COUNT, E_PURCHASE, where, w1, KB_OP_RET);
    uint32_t slot[8], per_event[2];
    ck_assert_uint_le(tb.img->nfuncs, 8);
    kv_count_memos(tb.img, slot, per_event);
    ck_assert_uint_eq(slot[where], 0);
    ck_assert_uint_eq(slot[count], KB_NONE);
    ck_assert_uint_eq(per_event[E_PURCHASE], 1);
    ck_assert_uint_eq(per_event[E_RESPONSE], 0);
    KrHist *h = &tb.hist[E_PURCHASE];
    int64_t t = now;
    uint32_t seed = 7;
    for (int i = 0; i < 6000; i++) {
        seed = seed * 1103515245u + 12345u;
        t += 60 + (int64_t)(seed >> 16) % 1800;
        if (i == 3000) t += 3 * W;                     /* a gap: the window empties */
        KrValue amount = (seed >> 8) % 7 == 0 ? (KrValue){ .tag = KB_UNKNOWN } : vnum((double)((seed >> 4) % 20));
        purchase(t, amount, NULL);
        churn(h, i, t, W);
        if (i >= 2000 && i < 2400) continue;           /* no count for 4 days: what the memo
                                                          has not seen leaves the window, and
                                                          the history */
        now = i % 13 == 0 ? t - 3600 : t;             /* now a little before the last record */
        uint64_t want = 0;
        for (uint32_t r = h->head; r < h->n; r++) {
            const KrValue *c = &h->cells[(size_t)r * 3];
            if (c[0].i > now - W && c[0].i <= now && c[1].tag == KB_NUM && c[1].num > 10) want++;
        }
        make_env();
        tb.env.memo_slot = slot;
        tb.env.memo_count = per_event;
        KvCtx ctx = { .env = &tb.env, .cust = &tb.cust, .now = now, .zone = tb.cust.zone };
        KrValue v;
        ck_assert_int_eq(kv_eval(&ctx, count, &v), 0);
        ck_assert_int_eq(v.tag, KB_NUM);
        ck_assert_msg(v.num == (double)want, "event %d: %g, want %llu", i, v.num, (unsigned long long)want);
        h->head = 0;
    }
    ck_assert_ptr_nonnull(h->memo);
    ck_assert_uint_le(h->memo[0].cap, 1024);           /* a day holds about 90 records */
    free(h->memo[0].pref);
    free(h->memo);
    h->memo = NULL;
}
END_TEST

/* sum/avg/min/max(E.A within W): through the memo (kv_agg_memos,
 * KrAggMemo) the very numbers the walk gives, bit for bit, while the
 * history grows, drops its oldest records, and now moves forward, back a
 * little, and past the whole window; with values the memo cannot sum
 * exactly (fractions, 2^40 and more, infinities) or order (-0 among
 * zeros), for which it walks. */
static double agg_walk(KbAgg k, const KrHist *h, int64_t lo, int64_t hi, bool *unk)
{
    double acc = 0;
    uint64_t n = 0;
    for (uint32_t r = h->n; r-- > h->head;) {
        const KrValue *c = &h->cells[(size_t)r * 3];
        if (c[0].i > hi || c[0].i <= lo || c[1].tag != KB_NUM) continue;
        double d = c[1].num;
        if (n == 0 && (k == KB_AGG_MIN || k == KB_AGG_MAX)) acc = d;
        else if (k == KB_AGG_MIN) acc = d < acc ? d : acc;
        else if (k == KB_AGG_MAX) acc = d > acc ? d : acc;
        else acc += d;
        n++;
    }
    *unk = n == 0 && k != KB_AGG_SUM;
    return k == KB_AGG_AVG && n ? acc / (double)n : acc;
}

START_TEST(test_agg_memo)
{
    const int64_t W = 86400;
    uint32_t w1 = kdur(W);
    uint32_t fns[4];
    for (int k = 0; k < 4; k++) fns[k] = FN(KB_OP_AGG, (uint32_t)k, E_PURCHASE, A_AMOUNT, w1, KB_OP_RET);
    uint32_t *off, *attr;
    ck_assert_int_eq(kv_agg_memos(tb.img, &off, &attr), 0);
    ck_assert_uint_eq(off[E_PURCHASE + 1] - off[E_PURCHASE], 1);       /* one attribute, four uses */
    ck_assert_uint_eq(attr[off[E_PURCHASE]], A_AMOUNT);
    ck_assert_uint_eq(off[E_RESPONSE + 1] - off[E_RESPONSE], 0);
    KrHist *h = &tb.hist[E_PURCHASE];
    int64_t t = now;
    uint32_t seed = 11;
    int walked = 0;
    for (int i = 0; i < 6000; i++) {
        seed = seed * 1103515245u + 12345u;
        t += 60 + (int64_t)(seed >> 16) % 1800;
        if (i == 3000) t += 3 * W;                     /* a gap: the window empties */
        uint32_t r = (seed >> 4) % 1000;
        double d = (double)((int)((seed >> 8) % 41) - 20);
        /* mostly whole numbers; in stretches also what the memo leaves to the walk */
        bool odd = (i / 700) % 3 == 1;
        KrValue amount = r < 120 ? (KrValue){ .tag = KB_UNKNOWN } : vnum(d);
        if (odd && r < 30) amount = vnum(d + 0.1);
        else if (odd && r < 40) amount = vnum(-0.0);
        else if (odd && r < 45) amount = vnum(r % 2 ? INFINITY : -INFINITY);
        else if (odd && r < 50) amount = vnum(1099511627776.0 * 8);
        else if ((i / 700) % 3 == 2 && r >= 120) amount = vnum(r % 2 ? -0.0 : 0.0);   /* min, max: a zero */
        purchase(t, amount, NULL);
        churn(h, i, t, W);
        if (i >= 2000 && i < 2400) continue;           /* nothing asked for 4 days */
        now = i % 13 == 0 ? t - 3600 : t;             /* now a little before the last record */
        make_env();
        tb.env.agg_off = off;
        tb.env.agg_attr = attr;
        KvCtx ctx = { .env = &tb.env, .cust = &tb.cust, .now = now, .zone = tb.cust.zone };
        for (int k = 0; k < 4; k++) {
            bool unk;
            double want = agg_walk((KbAgg)k, h, now - W, now, &unk);
            KrValue v;
            ck_assert_int_eq(kv_eval(&ctx, fns[k], &v), 0);
            if (unk || want != want) { ck_assert_int_eq(v.tag, KB_UNKNOWN); continue; }   /* inf - inf */
            ck_assert_msg(v.tag == KB_NUM, "event %d agg %d: tag %d, want %.17g", i, k, v.tag, want);
            ck_assert_msg(memcmp(&v.num, &want, sizeof want) == 0,
                          "event %d agg %d: %.17g, want %.17g", i, k, v.num, want);
        }
        walked += odd;
        h->head = 0;
    }
    ck_assert_int_gt(walked, 0);
    ck_assert_ptr_nonnull(h->memo);
    KrAggMemo *m = (KrAggMemo *)(void *)h->memo;       /* no count memos: the aggregate's is first */
    ck_assert_uint_le(m->cap, 1024);                  /* a day holds about 90 records */
    free(m->c);
    free(m->bmin);
    free(m->bmax);
    free(h->memo);
    h->memo = NULL;
    free(off);
    free(attr);
}
END_TEST

START_TEST(test_asked_responded)
{
    uint32_t w1 = kdur(86400);
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 0, KB_NONE, KB_OP_RET)), false);
    tb.cust.sent = calloc(4, sizeof *tb.cust.sent);
    tb.cust.sent[0] = (KrSent){ now - 86400, 1, 0 };    /* CSAT exactly 1d ago */
    tb.cust.sent[1] = (KrSent){ now - 3600, 2, 0 };     /* the task (target 0 is a string) */
    tb.cust.nsent = 2;
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 1, KB_NONE, KB_OP_RET)), true);
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 1, w1, KB_OP_RET)), false);     /* (now - 1d, now] */
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 0, KB_NONE, KB_OP_RET)), false); /* a task is no ask */
    tb.cust.sent[2] = (KrSent){ now, 0, 0 };
    tb.cust.nsent = 3;
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 0, w1, KB_OP_RET)), true);
    tb.cust.sent_head = 3;                               /* pruned */
    ASSERT_BOOL(run(FN(KB_OP_ASKED, 0, w1, KB_OP_RET)), false);

    ASSERT_BOOL(run(FN(KB_OP_RESPONDED, 0, KB_NONE, KB_OP_RET)), false);
    response(now - 2 * 86400, "CSAT");     /* history is in time order */
    response(now - 3600, "NPS");
    ASSERT_BOOL(run(FN(KB_OP_RESPONDED, 0, w1, KB_OP_RET)), true);
    ASSERT_BOOL(run(FN(KB_OP_RESPONDED, 1, w1, KB_OP_RET)), false);
    ASSERT_BOOL(run(FN(KB_OP_RESPONDED, 1, KB_NONE, KB_OP_RET)), true);
}
END_TEST

START_TEST(test_malformed)
{
    KrValue v;
    ck_assert_int_eq(eval(999, &v), -1);
    ASSERT_UNK(v);
    ck_assert_int_eq(eval(FN(KB_OP_ADD, KB_OP_RET), &v), -1);               /* underflow */
    ck_assert_int_eq(eval(FN(KB_OP_TRUE), &v), -1);                         /* no RET */
    ck_assert_int_eq(eval(FN(KB_OP_RET), &v), -1);                          /* empty stack */
    ck_assert_int_eq(eval(FN(250, KB_OP_RET), &v), -1);                     /* bad opcode */
    ck_assert_int_eq(eval(FN(KB_OP_CONST), &v), -1);                        /* operand missing */
    ck_assert_int_eq(eval(FN(KB_OP_CONST, 4000, KB_OP_RET), &v), -1);       /* bad constant */
    ck_assert_int_eq(eval(FN(KB_OP_JUMP, 100, KB_OP_RET), &v), -1);         /* jump out */
    ck_assert_int_eq(eval(FN(KB_OP_JUMP, (uint32_t)-5, KB_OP_RET), &v), -1);
    ck_assert_int_eq(eval(FN(KB_OP_COUNT, 77, KB_NONE, KB_NONE, KB_OP_RET), &v), -1);
    /* a where-function that counts with itself: the depth limit stops it */
    purchase(now, vnum(1), "x");
    uint32_t self = tb.img->nfuncs;
    ck_assert_uint_eq(FN(KB_OP_COUNT, E_PURCHASE, self, KB_NONE, KB_OP_CONST, knum(0), KB_OP_GT, KB_OP_RET), self);
    ck_assert_int_eq(eval(self, &v), -1);
    /* overflowing the stack */
    uint32_t words[KB_MAX_STACK + 2];
    for (int i = 0; i <= KB_MAX_STACK; i++) words[i] = KB_OP_TRUE;
    words[KB_MAX_STACK + 1] = KB_OP_RET;
    ck_assert_int_eq(eval(fn(KB_MAX_STACK + 2, words), &v), -1);
    ck_assert_int_eq(kv_truth(&v), -1);
}
END_TEST

/* ---- explain: traced values and the decompiled text (runtime/explain.c) -- */

static char xlines[80][512];
static int nx;

static void collect(void *arg, int depth, const char *expr, const char *vtext, const KrValue *v)
{
    (void)arg; (void)v;
    if (nx < 80)
        snprintf(xlines[nx++], sizeof xlines[0], "%d|%s|%s", depth, expr ? expr : "(more)",
                 vtext ? vtext : "not evaluated");
}

/* Traced run of f; the value lines in xlines; returns their number. */
static int explain(uint32_t f)
{
    make_env();
    KeTrace *t = ke_new(tb.img, tb.values);
    ck_assert_ptr_nonnull(t);
    KvCtx ctx = { .env = &tb.env, .cust = &tb.cust, .now = now, .zone = tb.cust.zone,
                  .cur = cur, .trig = trig };
    ke_begin(t, &ctx, f);
    KrValue v;
    kv_eval(&ctx, f, &v);
    nx = 0;
    int n = ke_walk(t, f, collect, NULL);
    ke_free(t);
    ck_assert_int_eq(n, nx);
    return n;
}

START_TEST(test_explain_values)
{
    /* a > b and not true: the right side runs only when the left is true */
    uint32_t k3 = knum(3), k2 = knum(2);
    uint32_t f = FN(KB_OP_CONST, k3, KB_OP_CONST, k2, KB_OP_GT, KB_OP_DUP, KB_OP_JFALSE, 2,
                    KB_OP_TRUE, KB_OP_NOT, KB_OP_AND, KB_OP_RET);
    ck_assert_int_eq(explain(f), 3);
    ck_assert_str_eq(xlines[0], "0|3 > 2 and not true|false");
    ck_assert_str_eq(xlines[1], "1|3 > 2|true");
    ck_assert_str_eq(xlines[2], "1|not true|false");
    uint32_t g = FN(KB_OP_CONST, k2, KB_OP_CONST, k3, KB_OP_GT, KB_OP_DUP, KB_OP_JFALSE, 2,
                    KB_OP_TRUE, KB_OP_NOT, KB_OP_AND, KB_OP_RET);
    ck_assert_int_eq(explain(g), 3);
    ck_assert_str_eq(xlines[1], "1|2 > 3|false");
    ck_assert_str_eq(xlines[2], "1|not true|not evaluated");

    /* history and attributes: names from the image, windows, values */
    uint32_t w = kdur(7 * 86400), d2 = kdur(2 * 3600);
    uint32_t c = FN(KB_OP_COUNT, E_PURCHASE, KB_NONE, w, KB_OP_CONST, knum(0), KB_OP_EQ, KB_OP_RET);
    ck_assert_int_eq(explain(c), 2);
    ck_assert_str_eq(xlines[0], "0|count(purchase within 7d) == 0|true");
    ck_assert_str_eq(xlines[1], "1|count(purchase within 7d)|0");
    uint32_t a = FN(KB_OP_TATTR, A_NAME, KB_STR, KB_OP_CONST, kstr("a\"b"), KB_OP_IN, 1,
                    KB_OP_NOT, KB_OP_RET);
    ck_assert_int_eq(explain(a), 3);
    ck_assert_str_eq(xlines[0], "0|not (trigger.name in [\"a\\\"b\"])|unknown");
    ck_assert_str_eq(xlines[2], "2|trigger.name|unknown");
    uint32_t sn = FN(KB_OP_SINCE, E_PURCHASE, KB_OP_CONST, d2, KB_OP_CONST, knum(2), KB_OP_MUL,
                     KB_OP_GT, KB_OP_RET);
    explain(sn);
    ck_assert_str_eq(xlines[0], "0|since(purchase) > 2h * 2|unknown");
}
END_TEST

START_TEST(test_explain_malformed)
{
    /* code the compiler never produces gives no lines, never a crash */
    ck_assert_int_eq(explain(FN(KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE, KB_OP_JUMP, 0, KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE, KB_OP_TRUE, KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE, KB_OP_IN, 5, KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE, KB_OP_ADD, KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE, 9999, KB_OP_RET)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_CONST)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_TRUE)), 0);
    ck_assert_int_eq(explain(FN(KB_OP_COUNT, 99, 77, 55, KB_OP_RET)) >= 0, 1);
}
END_TEST

START_TEST(test_explain_bounds)
{
    /* a 20,000-term `and` chain (now and now and ...: every term runs, as
     * `now` is not a boolean): a flat, bounded text and a bounded list */
    uint32_t n = 20000, len = 1 + 5 * (n - 1) + 1;
    uint32_t *w = malloc(len * sizeof *w), k = 0;
    w[k++] = KB_OP_NOW;
    for (uint32_t i = 1; i < n; i++) {           /* JFALSE's offset 1 skips NOW, lands on AND */
        w[k++] = KB_OP_DUP; w[k++] = KB_OP_JFALSE; w[k++] = 1;
        w[k++] = KB_OP_NOW; w[k++] = KB_OP_AND;
    }
    w[k++] = KB_OP_RET;
    ck_assert_uint_eq(k, len);
    uint32_t f = fn(len, w);
    free(w);
    int lines = explain(f);
    ck_assert_int_eq(lines, 65);                 /* 64 lines, then "more" */
    ck_assert(strlen(xlines[0]) < 450);
    ck_assert_msg(strncmp(xlines[0], "0|now and now and now and ", 26) == 0, "%s", xlines[0]);
    ck_assert_msg(strstr(xlines[0], "...|unknown") != NULL, "%s", xlines[0]);
    ck_assert_str_eq(xlines[1], "1|now|2026-03-29T01:00:00Z");
    ck_assert_str_eq(xlines[lines - 1], "1|(more)|not evaluated");
}
END_TEST

/* runtime/hist.h: the VM's only way into the engine's customer record
 * (kept records, totals of counted kinds, sends, traits). */
START_TEST(test_hist_interface)
{
    make_env();
    KrHistSpan sp;
    uint64_t n = 99;
    ck_assert(!kr_hist_span(&tb.env, NULL, E_PURCHASE, &sp));          /* no customer */
    ck_assert(!kr_hist_total(&tb.env, NULL, E_PURCHASE, &n));
    ck_assert(kr_hist_span(&tb.env, &tb.cust, E_PURCHASE, &sp));
    ck_assert_uint_eq(sp.hi - sp.lo, 0);
    purchase(100, vnum(5), "a");
    purchase(200, vnum(7), "b");
    tb.hist[E_PURCHASE].head = 1;                                        /* the first dropped */
    ck_assert(kr_hist_span(&tb.env, &tb.cust, E_PURCHASE, &sp));
    ck_assert_uint_eq(sp.lo, 1);
    ck_assert_uint_eq(sp.hi, 2);
    ck_assert_int_eq(kr_hist_time(&sp, 1), 200);
    ck_assert(kr_hist_attrs(&sp, 1)[0].num == 7);
    ck_assert_uint_eq(kr_hist_attrs(&sp, 1)[1].str, pool_id("b"));
    ck_assert(kr_hist_total(&tb.env, &tb.cust, E_PURCHASE, &n));
    ck_assert_uint_eq(n, 2);                                             /* every one, kept or not */
    ck_assert(!kr_hist_span(&tb.env, &tb.cust, 2, &sp));                /* not an event kind */
    /* a kind only counted: no records, its total right after the record */
    struct { KrCust c; uint64_t totals[1]; } rec = { .c = tb.cust, .totals = { 41 } };
    tb.hist_of[E_PURCHASE] = KR_COUNTED | 0;
    ck_assert(!kr_hist_span(&tb.env, &rec.c, E_PURCHASE, &sp));
    ck_assert(kr_hist_total(&tb.env, &rec.c, E_PURCHASE, &n));
    ck_assert_uint_eq(n, 41);
    tb.hist_of[E_PURCHASE] = KB_NONE;                                   /* not read at all */
    ck_assert(!kr_hist_total(&tb.env, &rec.c, E_PURCHASE, &n));
    tb.hist_of[E_PURCHASE] = 0;
    /* sends still kept, and traits */
    uint32_t ns = 9;
    ck_assert_ptr_null(kr_hist_sends(&tb.cust, &ns));
    ck_assert_uint_eq(ns, 0);
    tb.cust.sent = calloc(3, sizeof *tb.cust.sent);
    for (uint32_t i = 0; i < 3; i++) tb.cust.sent[i] = (KrSent){ 10 * (i + 1), i, 0 };
    tb.cust.nsent = tb.cust.capsent = 3;
    tb.cust.sent_head = 1;
    const KrSent *x = kr_hist_sends(&tb.cust, &ns);
    ck_assert_uint_eq(ns, 2);
    ck_assert_int_eq(x[0].time, 20);
    ck_assert_uint_eq(x[1].rule, 2);
    ASSERT_UNK(kr_hist_trait(&tb.cust, 0));
    tb.cust.traits = calloc(1, sizeof *tb.cust.traits);
    tb.cust.traits[0] = vbool(true);
    ASSERT_BOOL(kr_hist_trait(&tb.cust, 0), true);
    ASSERT_UNK(kr_hist_trait(NULL, 0));
}
END_TEST

Suite *vm_suite(void)
{
    Suite *s = suite_create("vm");
    TCase *tc = tcase_create("vm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_literals);
    tcase_add_test(tc, test_value_cases_executed);
    tcase_add_test(tc, test_arithmetic);
    tcase_add_test(tc, test_comparisons);
    tcase_add_test(tc, test_kleene);
    tcase_add_test(tc, test_in);
    tcase_add_test(tc, test_attr_coercion);
    tcase_add_test(tc, test_now_hour_weekday);
    tcase_add_test(tc, test_history);
    tcase_add_test(tc, test_count_memo);
    tcase_add_test(tc, test_agg_memo);
    tcase_add_test(tc, test_asked_responded);
    tcase_add_test(tc, test_hist_interface);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_explain_values);
    tcase_add_test(tc, test_explain_malformed);
    tcase_add_test(tc, test_explain_bounds);
    suite_add_tcase(s, tc);
    return s;
}
