/* test_lexer.c -- the scanner (lang/lexer.l): every token kind with its
 * value and byte location, and every bad token with its diagnostic code,
 * location and recovery (scanning goes on after an error). */
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "lang/parse_impl.h"
#include "parser.h"

int kx_debug_tokens(KArena *arena, KSources *sources, uint32_t src, KDiags *diags,
                    int *kinds, KLoc *locs, YYSTYPE *vals, int max);

enum { MAXT = 128 };

typedef struct Lex {
    KArena arena;
    KSources src;
    KDiags d;
    int kinds[MAXT];
    KLoc locs[MAXT];
    YYSTYPE vals[MAXT];
    int n;
} Lex;

static Lex *lex(const char *text)
{
    Lex *l = calloc(1, sizeof *l);
    ka_arena_init(&l->arena);
    kd_sources_init(&l->src);
    kd_source_add(&l->src, "t.kai", text, strlen(text), false);
    kd_init(&l->d, &l->src);
    l->n = kx_debug_tokens(&l->arena, &l->src, 0, &l->d, l->kinds, l->locs, l->vals, MAXT);
    return l;
}

static void lex_free(Lex *l)
{
    kd_free(&l->d);
    kd_sources_free(&l->src);
    ka_arena_free(&l->arena);
    free(l);
}

/* The only diagnostic's code and position. */
static void one_error(Lex *l, const char *code, uint32_t lo, uint32_t hi)
{
    ck_assert_uint_eq(l->d.n, 1);
    ck_assert_str_eq(l->d.v[0].code, code);
    ck_assert_uint_eq(l->d.v[0].span.lo, lo);
    ck_assert_uint_eq(l->d.v[0].span.hi, hi);
}

START_TEST(keywords)
{
    static const struct { const char *w; int t; } kw[] = {
        { "policy", POLICY }, { "import", IMPORT }, { "timezone", TIMEZONE }, { "event", EVENT },
        { "survey", SURVEY }, { "channel", CHANNEL }, { "let", LET }, { "cap", CAP }, { "per", PER },
        { "on", ON }, { "quiet", QUIET }, { "require", REQUIRE }, { "consent", CONSENT },
        { "rule", RULE }, { "ask", ASK }, { "task", TASK }, { "via", VIA }, { "then", THEN },
        { "after", AFTER }, { "where", WHERE }, { "every", EVERY }, { "at", AT }, { "if", IF },
        { "unless", UNLESS }, { "priority", PRIORITY }, { "variant", VARIANT },
        { "retrigger", RETRIGGER }, { "and", AND }, { "or", OR }, { "not", NOT }, { "no", NO },
        { "in", IN }, { "within", WITHIN }, { "true", TRUE }, { "false", FALSE },
        { "best_time", BEST_TIME },
    };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        Lex *l = lex(kw[i].w);
        ck_assert_int_eq(l->n, 1);
        ck_assert_int_eq(l->kinds[0], kw[i].t);
        ck_assert_uint_eq(l->d.n, 0);
        lex_free(l);
    }
}
END_TEST

START_TEST(names_and_weekdays)
{
    Lex *l = lex("ticket_closed _x2 policy_name mon sun monday mon-fri sat-sun");
    ck_assert_int_eq(l->n, 8);
    ck_assert_int_eq(l->kinds[0], NAME);
    ck_assert_str_eq(l->vals[0].s, "ticket_closed");
    ck_assert_int_eq(l->kinds[1], NAME);
    ck_assert_int_eq(l->kinds[2], NAME);
    ck_assert_int_eq(l->kinds[3], WEEKDAY);
    ck_assert_int_eq(l->vals[3].ival, 0);
    ck_assert_int_eq(l->kinds[4], WEEKDAY);
    ck_assert_int_eq(l->vals[4].ival, 6);
    ck_assert_int_eq(l->kinds[5], NAME);
    ck_assert_int_eq(l->kinds[6], DAYRANGE);
    ck_assert_int_eq(l->vals[6].ival, 0 * 8 + 4);
    ck_assert_uint_eq(l->locs[6].lo, 45);
    ck_assert_uint_eq(l->locs[6].hi, 52);
    ck_assert_int_eq(l->kinds[7], DAYRANGE);
    ck_assert_int_eq(l->vals[7].ival, 5 * 8 + 6);
    lex_free(l);
}
END_TEST

START_TEST(numbers_durations_clocks)
{
    Lex *l = lex("14 2.5 0 30s 15m 24h 7d 2w 1h30m 1w2d3h4m5s 08:00 24:00 00:00");
    int want[] = { NUMBER, NUMBER, NUMBER, DURATION, DURATION, DURATION, DURATION, DURATION,
                   DURATION, DURATION, CLOCK, CLOCK, CLOCK };
    ck_assert_int_eq(l->n, 13);
    for (int i = 0; i < 13; i++) ck_assert_int_eq(l->kinds[i], want[i]);
    ck_assert(l->vals[0].num == 14);
    ck_assert(l->vals[1].num == 2.5);
    ck_assert_int_eq(l->vals[3].dur, 30);
    ck_assert_int_eq(l->vals[4].dur, 900);
    ck_assert_int_eq(l->vals[5].dur, 86400);
    ck_assert_int_eq(l->vals[6].dur, 7 * 86400);
    ck_assert_int_eq(l->vals[7].dur, 14 * 86400);
    ck_assert_int_eq(l->vals[8].dur, 5400);
    ck_assert_int_eq(l->vals[9].dur, 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    ck_assert_int_eq(l->vals[10].ival, 480);
    ck_assert_int_eq(l->vals[11].ival, 1440);
    ck_assert_int_eq(l->vals[12].ival, 0);
    ck_assert_uint_eq(l->d.n, 0);
    lex_free(l);
}
END_TEST

START_TEST(strings_and_escapes)
{
    Lex *l = lex("\"a\\\"b\\\\c\\nd\\te\" \"caf\xc3\xa9\" \"\"");
    ck_assert_int_eq(l->n, 3);
    ck_assert_int_eq(l->kinds[0], STRING);
    ck_assert_str_eq(l->vals[0].str.s, "a\"b\\c\nd\te");
    ck_assert_uint_eq(l->vals[0].str.n, 9);
    ck_assert_str_eq(l->vals[1].str.s, "caf\xc3\xa9");
    ck_assert_uint_eq(l->vals[2].str.n, 0);
    ck_assert_uint_eq(l->d.n, 0);
    lex_free(l);
}
END_TEST

START_TEST(punctuation_and_operators)
{
    Lex *l = lex("== != <= >= < > = + - * / ( ) [ ] { } , : . %");
    int want[] = { EQ, NE, LE, GE, '<', '>', '=', '+', '-', '*', '/', '(', ')', '[', ']', '{', '}',
                   ',', ':', '.', '%' };
    ck_assert_int_eq(l->n, 21);
    for (int i = 0; i < 21; i++) ck_assert_int_eq(l->kinds[i], want[i]);
    lex_free(l);
}
END_TEST

START_TEST(comments_and_whitespace)
{
    Lex *l = lex("# a comment with caf\xc3\xa9\nask\t\r\n  # another\nNPS # end");
    ck_assert_int_eq(l->n, 2);
    ck_assert_int_eq(l->kinds[0], ASK);
    ck_assert_int_eq(l->kinds[1], NAME);
    ck_assert_uint_eq(l->d.n, 0);
    lex_free(l);
}
END_TEST

START_TEST(bad_characters)
{
    Lex *l = lex("a @ b");
    one_error(l, "K0101", 2, 3);
    ck_assert_int_eq(l->n, 2);               /* scanning goes on */
    lex_free(l);
    l = lex("x \xe2\x82\xac y");
    one_error(l, "K0101", 2, 5);
    ck_assert(strstr(l->d.v[0].msg, "U+20AC") != NULL);
    lex_free(l);
    l = lex("x \xff y");
    one_error(l, "K0102", 2, 3);
    ck_assert(strstr(l->d.v[0].msg, "0xFF") != NULL);
    lex_free(l);
    l = lex("x \x01");
    one_error(l, "K0101", 2, 3);
    lex_free(l);
    l = lex("# bad \xc3\x28\n");
    one_error(l, "K0102", 6, 7);
    lex_free(l);
    l = lex("\"bad \xc0\xaf\"");
    one_error(l, "K0102", 5, 6);
    lex_free(l);
}
END_TEST

START_TEST(bad_strings)
{
    Lex *l = lex("x == \"open\ny");
    one_error(l, "K0103", 5, 6);            /* at the opening quote */
    ck_assert_int_eq(l->n, 4);
    ck_assert_int_eq(l->kinds[2], STRING);
    ck_assert_int_eq(l->kinds[3], NAME);
    lex_free(l);
    l = lex("\"a\\qb\"");
    one_error(l, "K0104", 2, 4);
    lex_free(l);
    l = lex("\"unclosed at end");
    one_error(l, "K0103", 0, 1);
    lex_free(l);
    l = lex("\"ends in backslash\\\nnext");
    one_error(l, "K0103", 0, 1);
    lex_free(l);
}
END_TEST

START_TEST(bad_numbers)
{
    Lex *l = lex("3days");
    one_error(l, "K0105", 0, 5);
    lex_free(l);
    l = lex("30m1h");
    one_error(l, "K0105", 0, 5);
    lex_free(l);
    l = lex("1h1h");
    one_error(l, "K0105", 0, 4);
    lex_free(l);
    l = lex("2.5d");
    one_error(l, "K0105", 0, 4);
    lex_free(l);
    l = lex("99999999999999999999w");
    one_error(l, "K0106", 0, 21);
    lex_free(l);
    l = lex("15250w");                      /* fits */
    ck_assert_uint_eq(l->d.n, 0);
    lex_free(l);
    l = lex("8:00");
    one_error(l, "K0107", 0, 4);
    lex_free(l);
    l = lex("24:01 25:00 12:60");
    ck_assert_uint_eq(l->d.n, 3);
    ck_assert_int_eq(l->n, 3);
    lex_free(l);
    char big[200];
    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    l = lex(big);
    one_error(l, "K0108", 0, 199);
    lex_free(l);
}
END_TEST

START_TEST(nul_byte)
{
    KArena a;
    KSources s;
    KDiags d;
    ka_arena_init(&a);
    kd_sources_init(&s);
    kd_source_add(&s, "t.kai", "a\0b", 3, false);
    kd_init(&d, &s);
    int kinds[8];
    int n = kx_debug_tokens(&a, &s, 0, &d, kinds, NULL, NULL, 8);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(d.n, 1);
    ck_assert_str_eq(d.v[0].code, "K0101");
    kd_free(&d);
    kd_sources_free(&s);
    ka_arena_free(&a);
}
END_TEST

Suite *lexer_suite(void)
{
    Suite *s = suite_create("lexer");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, keywords);
    tcase_add_test(tc, names_and_weekdays);
    tcase_add_test(tc, numbers_durations_clocks);
    tcase_add_test(tc, strings_and_escapes);
    tcase_add_test(tc, punctuation_and_operators);
    tcase_add_test(tc, comments_and_whitespace);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, bad_characters);
    tcase_add_test(tc, bad_strings);
    tcase_add_test(tc, bad_numbers);
    tcase_add_test(tc, nul_byte);
    suite_add_tcase(s, tc);
    return s;
}
