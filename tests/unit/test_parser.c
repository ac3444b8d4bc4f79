/* test_parser.c -- the parser (lang/parser.y): every declaration form,
 * rule clause and expression production, the assembly of rules from their
 * clause items (reminder chains, `every ... at`, windows, variants), the
 * peeling of a trailing `within`, syntax error messages and recovery. */
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "lang/lang.h"

typedef struct P {
    KArena arena;
    KSources src;
    KDiags d;
    KFile *f;
} P;

static P *parse(const char *text)
{
    P *p = calloc(1, sizeof *p);
    ka_arena_init(&p->arena);
    kd_sources_init(&p->src);
    kd_source_add(&p->src, "t.kai", text, strlen(text), false);
    kd_init(&p->d, &p->src);
    p->f = kp_parse(&p->arena, &p->src, 0, &p->d);
    return p;
}

static void pfree(P *p)
{
    kd_free(&p->d);
    kd_sources_free(&p->src);
    ka_arena_free(&p->arena);
    free(p);
}

static KDecl *nth(P *p, int n)
{
    KDecl *d = p->f->decls;
    while (d && n-- > 0) d = d->next;
    ck_assert_ptr_nonnull(d);
    return d;
}

static int ndecls(P *p)
{
    int n = 0;
    for (KDecl *d = p->f->decls; d; d = d->next) n++;
    return n;
}

static bool has_code(P *p, const char *code)
{
    for (uint32_t i = 0; i < p->d.n; i++)
        if (!strcmp(p->d.v[i].code, code)) return true;
    return false;
}

START_TEST(declarations)
{
    P *p = parse("policy \"acme\"\nimport \"std/x\"\ntimezone \"Europe/Oslo\"\n"
                 "event login\nevent ticket_closed { sentiment: number, kind: string, ok: bool, at_: time, }\n"
                 "survey Stars\nsurvey Stars2 { scale: 1-5 }\nsurvey S3 {}\nchannel fax\nlet x = 1\n"
                 "cap 1 per 30d\ncap 2 per 7d on sms, email\nquiet 20:00-08:00 on sms\nquiet 22:00-24:00\n"
                 "require consent on sms, whatsapp\n");
    ck_assert_uint_eq(p->d.n, 0);
    ck_assert_int_eq(ndecls(p), 15);
    ck_assert_int_eq(nth(p, 0)->kind, KDECL_POLICY);
    ck_assert_str_eq(nth(p, 0)->policy.str, "acme");
    ck_assert_str_eq(nth(p, 1)->import.str, "std/x");
    ck_assert_str_eq(nth(p, 2)->timezone.str, "Europe/Oslo");
    KDecl *e = nth(p, 4);
    ck_assert_int_eq(e->kind, KDECL_EVENT);
    ck_assert_uint_eq(e->event.nattrs, 4);
    ck_assert(e->event.has_body);
    ck_assert_int_eq(e->event.attrs[0].type, KT_NUMBER);
    ck_assert_int_eq(e->event.attrs[1].type, KT_STRING);
    ck_assert_int_eq(e->event.attrs[2].type, KT_BOOL);
    ck_assert_int_eq(e->event.attrs[3].type, KT_TIME);
    ck_assert(!nth(p, 3)->event.has_body);
    ck_assert(!nth(p, 5)->survey.has_scale);
    ck_assert(nth(p, 6)->survey.has_scale);
    ck_assert(nth(p, 6)->survey.scale_lo == 1 && nth(p, 6)->survey.scale_hi == 5);
    ck_assert_str_eq(nth(p, 8)->channel.name.s, "fax");
    ck_assert_int_eq(nth(p, 9)->let.value->kind, KEX_NUM);
    ck_assert_uint_eq(nth(p, 10)->cap.n, 1);
    ck_assert_int_eq(nth(p, 10)->cap.window, 30 * 86400);
    ck_assert_uint_eq(nth(p, 10)->cap.channels.n, 0);
    ck_assert_uint_eq(nth(p, 11)->cap.channels.n, 2);
    ck_assert_str_eq(nth(p, 11)->cap.channels.v[1].s, "email");
    ck_assert_int_eq(nth(p, 12)->quiet.start, 1200);
    ck_assert_int_eq(nth(p, 12)->quiet.end, 480);
    ck_assert_int_eq(nth(p, 13)->quiet.end, 0);          /* 24:00 ends at midnight */
    ck_assert_uint_eq(nth(p, 14)->consent.channels.n, 2);
    /* spans are byte ranges of the declaration */
    ck_assert_uint_eq(nth(p, 0)->span.lo, 0);
    ck_assert_uint_eq(nth(p, 0)->span.hi, 13);
    pfree(p);
}
END_TEST

START_TEST(rule_clauses)
{
    P *p = parse("rule r:\n  ask NPS via sms then email after 24h then phone after 2d after ticket_closed + 4h where kind == \"x\"\n"
                 "  if a unless b at mon-fri,sun 09:00-16:00 cap 1 per 30d priority -3\n"
                 "  variant now 50% variant later 40% { + 24h via email } on retrigger keep\n");
    ck_assert_uint_eq(p->d.n, 0);
    KRule *r = &nth(p, 0)->rule;
    ck_assert_str_eq(r->name.s, "r");
    ck_assert(!r->is_task);
    ck_assert_str_eq(r->target.s, "NPS");
    ck_assert_uint_eq(r->nattempts, 3);
    ck_assert_str_eq(r->attempts[0].channel.s, "sms");
    ck_assert_int_eq(r->attempts[0].after, 0);
    ck_assert_str_eq(r->attempts[1].channel.s, "email");
    ck_assert_int_eq(r->attempts[1].after, 86400);
    ck_assert_int_eq(r->attempts[2].after, 2 * 86400);
    ck_assert_str_eq(r->after_event.s, "ticket_closed");
    ck_assert(r->has_delay);
    ck_assert_int_eq(r->delay, 4 * 3600);
    ck_assert_ptr_nonnull(r->where);
    ck_assert_ptr_nonnull(r->if_expr);
    ck_assert_ptr_nonnull(r->unless_expr);
    ck_assert_int_eq(r->at_kind, KAT_WINDOW);
    ck_assert_uint_eq(r->at_days, 0x1f | 0x40);
    ck_assert_int_eq(r->at_start, 540);
    ck_assert_int_eq(r->at_end, 960);
    ck_assert_uint_eq(r->cap_n, 1);
    ck_assert_int_eq(r->priority, -3);
    ck_assert_uint_eq(r->nvariants, 2);
    ck_assert(r->variants[0].pct == 50 && !r->variants[0].has_delay);
    ck_assert(r->variants[1].has_delay && r->variants[1].delay == 86400);
    ck_assert(r->variants[1].has_channel);
    ck_assert_str_eq(r->variants[1].channel.s, "email");
    ck_assert_int_eq(r->retrigger, KRT_KEEP);
    ck_assert_int_eq(r->every_at, -1);
    pfree(p);
}
END_TEST

START_TEST(periodic_and_windows)
{
    P *p = parse("ask NPS every quarter at 09:30 at sat,sun\n"
                 "task t every 90d at best_time(login)\n"
                 "ask CES every week at mon 10:00-24:00\n");
    ck_assert_uint_eq(p->d.n, 0);
    KRule *r = &nth(p, 0)->rule;
    ck_assert_int_eq(r->period, KPER_QUARTER);
    ck_assert_int_eq(r->every_at, 570);
    ck_assert_uint_eq(r->at_days, 0x60);
    ck_assert_int_eq(r->at_start, 0);
    ck_assert_int_eq(r->at_end, 1440);
    r = &nth(p, 1)->rule;
    ck_assert(r->is_task);
    ck_assert_int_eq(r->period, KPER_DURATION);
    ck_assert_int_eq(r->period_dur, 90 * 86400);
    ck_assert_int_eq(r->at_kind, KAT_BEST_TIME);
    ck_assert_str_eq(r->best_event.s, "login");
    r = &nth(p, 2)->rule;
    ck_assert_int_eq(r->period, KPER_WEEK);
    ck_assert_int_eq(r->every_at, -1);
    ck_assert_uint_eq(r->at_days, 1);
    ck_assert_int_eq(r->at_end, 1440);
    pfree(p);
}
END_TEST

START_TEST(cap_after_rule)
{
    /* the layout rule: a cap in column 1 after a rule is top-level; an
     * indented one is the rule's clause; comments and blank lines between
     * change nothing */
    P *p = parse("ask NPS after purchase\ncap 1 per 30d\n");
    ck_assert_int_eq(ndecls(p), 2);
    ck_assert_uint_eq(nth(p, 0)->rule.cap_n, 0);
    ck_assert_int_eq(nth(p, 1)->kind, KDECL_CAP);
    ck_assert_uint_eq(p->d.n, 0);
    pfree(p);
    p = parse("rule a:\n  ask CSAT via email after purchase + 24h\n\n# global cap\ncap 1 per 30d\n");
    ck_assert_int_eq(ndecls(p), 2);
    ck_assert_int_eq(nth(p, 1)->kind, KDECL_CAP);
    ck_assert_uint_eq(p->d.n, 0);
    pfree(p);
    p = parse("ask NPS after purchase\n\n  # a comment at column 3\n# and one at column 1\n\n  cap 1 per 30d\n");
    ck_assert_int_eq(ndecls(p), 1);
    ck_assert_uint_eq(nth(p, 0)->rule.cap_n, 1);
    ck_assert_uint_eq(p->d.n, 0);
    pfree(p);
    /* a clause word in column 1 is K0222 and read as if indented */
    p = parse("rule r:\n  ask NPS\nafter purchase\n  priority 2\n");
    ck_assert_int_eq(ndecls(p), 1);
    ck_assert_str_eq(nth(p, 0)->rule.after_event.s, "purchase");
    ck_assert_int_eq(nth(p, 0)->rule.priority, 2);
    ck_assert(has_code(p, "K0222"));
    ck_assert_uint_eq(p->d.n, 1);
    pfree(p);
    /* the `}` ending an event's or a survey's list may stand in column 1 */
    p = parse("event e {\n  a: number\n}\nsurvey S {\n  scale: 1-5\n}\nask NPS after e\n");
    ck_assert_int_eq(ndecls(p), 3);
    ck_assert_uint_eq(p->d.n, 0);
    pfree(p);
    /* any other closing bracket in column 1 would start a declaration:
     * K0222, and read as if indented (no follow-on error) */
    p = parse("ask NPS after e\n  variant v 50% {\n    + 1h\n}\n");
    ck_assert_int_eq(ndecls(p), 1);
    ck_assert(has_code(p, "K0222"));
    ck_assert_uint_eq(p->d.n, 1);
    pfree(p);
    p = parse("ask NPS after e if (a == 1\n)\n");
    ck_assert_int_eq(ndecls(p), 1);
    ck_assert(has_code(p, "K0222"));
    ck_assert_uint_eq(p->d.n, 1);
    pfree(p);
    /* indented, it goes on with the declaration */
    p = parse("event e {\n  a: number\n  }\nask NPS after e if (a == 1\n  )\n");
    ck_assert_int_eq(ndecls(p), 2);
    ck_assert_uint_eq(p->d.n, 0);
    pfree(p);
}
END_TEST

/* Parses "let x = SRC" and returns the expression. */
static KExpr *expr_of(P *p)
{
    ck_assert_uint_eq(p->d.n, 0);
    return nth(p, 0)->let.value;
}

START_TEST(expression_precedence)
{
    P *p = parse("let x = a or b and not c == 1 + 2 * -3");
    KExpr *e = expr_of(p);
    ck_assert_int_eq(e->kind, KEX_BINARY);
    ck_assert_int_eq(e->op, KOP_OR);
    KExpr *and = e->b;
    ck_assert_int_eq(and->op, KOP_AND);
    ck_assert_int_eq(and->b->kind, KEX_UNARY);
    ck_assert_int_eq(and->b->op, KOP_NOT);
    KExpr *eq = and->b->a;
    ck_assert_int_eq(eq->op, KOP_EQ);
    ck_assert_int_eq(eq->b->op, KOP_ADD);
    ck_assert_int_eq(eq->b->b->op, KOP_MUL);
    ck_assert_int_eq(eq->b->b->b->op, KOP_NEG);
    pfree(p);

    p = parse("let x = no login within 7d + 1");
    e = expr_of(p);
    ck_assert_int_eq(e->op, KOP_ADD);
    ck_assert_int_eq(e->a->op, KOP_NO);
    ck_assert_int_eq(e->a->a->kind, KEX_WITHIN);
    pfree(p);

    p = parse("let x = (a - b) - c");
    e = expr_of(p);
    ck_assert_int_eq(e->op, KOP_SUB);
    ck_assert(e->a->paren);
    pfree(p);
}
END_TEST

START_TEST(expression_atoms)
{
    P *p = parse("let x = [1, \"s\", true, false, 3d, mon, trigger.kind, customer.tz, last(e).a, f()]");
    ck_assert(p->d.n > 0);            /* a list is not an expression on its own */
    pfree(p);
    p = parse("let x = weekday in [mon-wed, sat]");
    KExpr *e = expr_of(p);
    ck_assert_int_eq(e->kind, KEX_IN);
    ck_assert_uint_eq(e->nargs, 4);
    ck_assert_int_eq(e->args[2]->weekday, 2);
    ck_assert_int_eq(e->args[3]->weekday, 5);
    pfree(p);
    p = parse("let x = last(ticket_closed).kind == trigger.kind and customer.tz != \"\"");
    e = expr_of(p);
    ck_assert_int_eq(e->a->a->kind, KEX_FIELD);
    ck_assert_int_eq(e->a->a->a->kind, KEX_CALL);
    ck_assert_str_eq(e->a->a->field, "kind");
    pfree(p);
    p = parse("let x = survey == \"NPS\" and channel == \"sms\"");
    e = expr_of(p);
    ck_assert_str_eq(e->a->a->name, "survey");
    pfree(p);
}
END_TEST

START_TEST(within_peeling)
{
    P *p = parse("let x = count(t where kind == \"x\" within 7d)");
    KExpr *e = expr_of(p);
    ck_assert_int_eq(e->kind, KEX_CALL);
    ck_assert_ptr_nonnull(e->where);
    ck_assert_ptr_nonnull(e->within);
    ck_assert_int_eq(e->within->dur, 7 * 86400);
    ck_assert_int_eq(e->where->b->kind, KEX_STR);
    pfree(p);
    p = parse("let x = count(login within 7d)");
    e = expr_of(p);
    ck_assert_int_eq(e->args[0]->kind, KEX_NAME);
    ck_assert_ptr_nonnull(e->within);
    pfree(p);
    p = parse("let x = count(t where (a within 7d))");   /* parenthesised: stays */
    e = expr_of(p);
    ck_assert_ptr_null(e->within);
    ck_assert_int_eq(e->where->kind, KEX_WITHIN);
    pfree(p);
    p = parse("let x = sum(order.amount within 30d) > 0 and asked(NPS within 90d)");
    e = expr_of(p);
    ck_assert_ptr_nonnull(e->a->a->within);
    ck_assert_int_eq(e->a->a->args[0]->kind, KEX_FIELD);
    ck_assert_ptr_nonnull(e->b->within);
    pfree(p);
}
END_TEST

START_TEST(rule_assembly_errors)
{
    static const struct { const char *src; const char *code; } cases[] = {
        { "ask NPS after x then sms after 1d", "K0202" },
        { "ask NPS after x at 09:00", "K0203" },
        { "ask NPS after x priority 1 priority 2", "K0204" },
        { "ask NPS after x every day", "K0204" },
        { "ask NPS via sms after 24h", "K0205" },
        { "ask NPS via sms then email after x", "K0206" },
        { "ask NPS via sms then email", "K0206" },
        { "ask NPS after x at 16:00-09:00", "K0207" },
        { "ask NPS after x at 24:00-24:00", "K0208" },
        { "ask NPS after x variant a 1.5%", "K0209" },
        { "ask NPS after x cap 1 per 1d on sms", "K0210" },
        { "ask NPS after x on sms", "K0210" },
        { "ask NPS every fortnight", "K0212" },
        { "event e { a: money }", "K0213" },
        { "survey S { range: 1-5 }", "K0214" },
        { "survey S { scale: 5-1 }", "K0215" },
        { "ask NPS after x variant a 5% { + 1d + 2d }", "K0216" },
        { "cap 1 per 0s", "K0217" },
        { "ask NPS via sms then email after 0s after x", "K0218" },
        { "ask NPS every 0d", "K0219" },
        { "ask NPS after x on retrigger later", "K0220" },
        { "quiet 24:00-08:00", "K0208" },
        { "quiet 08:00-08:00", "K0207" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        P *p = parse(cases[i].src);
        if (!has_code(p, cases[i].code))
            ck_abort_msg("%s: expected %s, got %u diagnostics (%s)", cases[i].src, cases[i].code, p->d.n,
                         p->d.n ? p->d.v[0].code : "-");
        pfree(p);
    }
}
END_TEST

START_TEST(syntax_errors_and_recovery)
{
    P *p = parse("ask NPS after + 24h\nask CSAT after x\nevent 42\nevent ok\n");
    ck_assert_uint_eq(p->d.n, 2);
    ck_assert_str_eq(p->d.v[0].code, "K0201");
    ck_assert_str_eq(p->d.v[0].msg, "expected an event name after `after`, found `+`");
    ck_assert_uint_eq(p->d.v[0].span.lo, 14);
    ck_assert_str_eq(p->d.v[1].msg, "expected an event name after `event`, found `42`");
    /* the declarations around the errors survive */
    ck_assert_int_eq(ndecls(p), 2);
    ck_assert_int_eq(nth(p, 0)->kind, KDECL_RULE);
    ck_assert_str_eq(nth(p, 0)->rule.target.s, "CSAT");
    ck_assert_str_eq(nth(p, 1)->event.name.s, "ok");
    pfree(p);

    p = parse("ask NPS after x if");
    ck_assert_uint_eq(p->d.n, 1);
    ck_assert_str_eq(p->d.v[0].msg, "expected an expression after `if`, found the end of the file");
    ck_assert_uint_eq(p->d.v[0].span.lo, 18);
    pfree(p);

    p = parse("let x = (a\nevent e");
    ck_assert_uint_eq(p->d.n, 1);
    ck_assert_str_eq(p->d.v[0].msg, "expected `)` or an operator after `a`, found `event`");
    pfree(p);

    p = parse("let x = 1 < a < 2");
    ck_assert_uint_eq(p->d.n, 1);
    ck_assert_ptr_nonnull(p->d.v[0].hint);
    pfree(p);

    p = parse("");
    ck_assert_uint_eq(p->d.n, 0);
    ck_assert_ptr_null(p->f->decls);
    pfree(p);
}
END_TEST

START_TEST(comments_kept)
{
    P *p = parse("# one\nask NPS after x # two\n#three");
    ck_assert_uint_eq(p->f->ncomments, 3);
    ck_assert_uint_eq(p->f->comments[0].span.lo, 0);
    ck_assert_uint_eq(p->f->comments[0].span.hi, 5);
    ck_assert_uint_eq(p->f->comments[2].span.hi, 34);
    pfree(p);
}
END_TEST

START_TEST(deep_nesting)
{
    /* bison's stack grows; a very deep nesting is an error, not a crash */
    size_t n = 20000;
    char *s = malloc(n * 2 + 16);
    strcpy(s, "let x = ");
    size_t k = strlen(s);
    for (size_t i = 0; i < n; i++) s[k++] = '(';
    s[k++] = '1';
    for (size_t i = 0; i < n; i++) s[k++] = ')';
    s[k] = '\0';
    P *p = parse(s);
    ck_assert(p->d.n >= 1);
    pfree(p);
    free(s);
}
END_TEST

Suite *parser_suite(void)
{
    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("productions");
    tcase_add_test(tc, declarations);
    tcase_add_test(tc, rule_clauses);
    tcase_add_test(tc, periodic_and_windows);
    tcase_add_test(tc, cap_after_rule);
    tcase_add_test(tc, expression_precedence);
    tcase_add_test(tc, expression_atoms);
    tcase_add_test(tc, within_peeling);
    tcase_add_test(tc, comments_kept);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, rule_assembly_errors);
    tcase_add_test(tc, syntax_errors_and_recovery);
    tcase_add_test(tc, deep_nesting);
    suite_add_tcase(s, tc);
    return s;
}
