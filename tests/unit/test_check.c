/* test_check.c -- the checker (lang/check.c, check_expr.c): program
 * tables, name resolution (lets, built-ins, events, attributes, traits,
 * surveys), types of every node, let re-checking per rule, clause rules
 * and warnings, --strict, loading from a file and from text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "units.h"
#include "lang/lang.h"

typedef struct C {
    KDiags d;
    KProgram *p;
} C;

static C *load_opt(const char *text, bool strict)
{
    C *c = calloc(1, sizeof *c);
    kd_init(&c->d, NULL);
    KlOptions o = { .strict = strict };
    c->p = kc_load_text("t.kai", text, strlen(text), &o, &c->d);
    ck_assert_ptr_nonnull(c->p);
    return c;
}

static C *load(const char *text) { return load_opt(text, false); }

static void cfree(C *c)
{
    kd_free(&c->d);
    kc_free(c->p);
    free(c);
}

static uint32_t count_code(C *c, const char *code)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->d.n; i++)
        if (!strcmp(c->d.v[i].code, code)) n++;
    return n;
}

/* No diagnostic from the checker.  Lints (K07xx, lang/lint.c) are tested by
 * the cases in tests/fmt/lint/ and are not counted here. */
static void expect_clean(C *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->d.n; i++)
        if (strncmp(c->d.v[i].code, "K07", 3) != 0) n++;
    if (n) {
        kd_print(&c->d, stderr, KD_FMT_TEXT, false);
        ck_abort_msg("expected no diagnostics, got %u", n);
    }
}

static void expect_code(const char *text, const char *code)
{
    C *c = load(text);
    if (!count_code(c, code)) {
        kd_print(&c->d, stderr, KD_FMT_TEXT, false);
        ck_abort_msg("expected %s for: %s", code, text);
    }
    cfree(c);
}

static uint32_t event_id(C *c, const char *name)
{
    for (uint32_t i = 0; i < c->p->nevents; i++)
        if (!strcmp(c->p->events[i].name, name)) return i;
    return UINT32_MAX;
}

static const char *attr_name(C *c, uint32_t id) { return c->p->attrs[id]; }

START_TEST(tables)
{
    C *c = load("policy \"acme\"\ntimezone \"Europe/Oslo\"\nevent ticket_closed { sentiment: number }\n"
                "channel fax\ncap 1 per 30d\nquiet 20:00-08:00 on sms\nrequire consent on sms\n"
                "ask NPS after ticket_closed via fax\nrule b: task call after response\n");
    expect_clean(c);
    KProgram *p = c->p;
    ck_assert_str_eq(p->policy_name, "acme");
    ck_assert_str_eq(p->timezone, "Europe/Oslo");
    ck_assert_uint_eq(p->nfiles, 2);                 /* the policy and the prelude */
    ck_assert_uint_eq(p->nsurveys, 3);
    ck_assert_str_eq(p->surveys[0]->survey.name.s, "NPS");
    ck_assert_uint_eq(p->nchannels, 7);
    ck_assert_str_eq(p->channels[0]->channel.name.s, "email");   /* prelude's first */
    ck_assert_str_eq(p->channels[6]->channel.name.s, "fax");
    ck_assert_uint_eq(p->nlets, 1);
    ck_assert_uint_eq(p->nrules, 2);
    ck_assert_str_eq(p->rules[0]->default_name, "NPS@8");
    ck_assert_str_eq(p->rules[1]->default_name, "b");
    ck_assert_uint_eq(p->rules[1]->index, 1);
    ck_assert_uint_eq(p->ncaps, 1);
    ck_assert_uint_eq(p->nquiets, 1);
    ck_assert_uint_eq(p->nconsents, 1);
    /* reserved events first, with their attributes */
    ck_assert_str_eq(p->events[0].name, "identify");
    uint32_t r = event_id(c, "response");
    ck_assert(p->events[r].reserved && p->events[r].used);
    ck_assert_uint_eq(p->events[r].nattrs, 2);
    ck_assert_str_eq(attr_name(c, p->events[r].attrs[1]), "score");
    ck_assert_int_eq(p->events[r].attr_types[1], KT_NUMBER);
    uint32_t t = event_id(c, "ticket_closed");
    ck_assert(p->events[t].declared && !p->events[t].reserved);
    ck_assert_ptr_nonnull(p->events[t].decl);
    ck_assert(event_id(c, "ticket_opened") != UINT32_MAX);   /* used by the prelude's let */
    const char *text = "policy \"acme\"";
    (void)text;
    cfree(c);

    c = load("cap 1 per 30d\n");
    ck_assert_str_eq(c->p->policy_name, "t");             /* the file's base name */
    ck_assert_ptr_null(c->p->timezone);
    cfree(c);
}
END_TEST

START_TEST(source_hash)
{
    const char *t = "cap 1 per 30d\n";
    C *c = load(t);
    ck_assert(c->p->source_hash == kb_fnv1a64(t, strlen(t), KB_FNV_OFFSET));
    cfree(c);
}
END_TEST

START_TEST(resolution)
{
    C *c = load("event ticket_closed { sentiment: number, kind: string }\ncap 1 per 30d\n"
                "let happy = sentiment > 0\n"
                "ask NPS after ticket_closed where kind == \"x\" if happy and customer.segment == \"smb\" and "
                "count(ticket_closed where kind == trigger.kind within 7d) > 1 and hour >= 9 and weekday != sun "
                "and since(login) > 2d and last(login).device == \"ios\" and asked(CSAT within 30d) and now > now - 1d\n");
    expect_clean(c);
    KRule *r = c->p->rules[0];
    KExpr *w = r->where;
    ck_assert_int_eq(w->type, KT_BOOL);
    ck_assert_int_eq(w->a->res, KRES_TRIGGER_ATTR);
    ck_assert_str_eq(attr_name(c, w->a->res_id), "kind");
    ck_assert_int_eq(w->a->type, KT_STRING);
    /* walk the `and` chain of the if clause: left-assoc, so the first operand is deepest */
    KExpr *e = r->if_expr;
    KExpr *terms[16];
    int n = 0;
    while (e->kind == KEX_BINARY && e->op == KOP_AND) { terms[n++] = e->b; e = e->a; }
    terms[n++] = e;
    ck_assert_int_eq(n, 9);
    KExpr *happy = terms[8];
    ck_assert_int_eq(happy->res, KRES_LET);
    ck_assert_ptr_nonnull(happy->res_let);
    ck_assert_int_eq(happy->type, KT_BOOL);
    ck_assert_int_eq(happy->res_let->let.value->a->res, KRES_TRIGGER_ATTR);
    ck_assert_int_eq(happy->res_let->let.value->a->type, KT_NUMBER);   /* checked in this rule's context */
    KExpr *seg = terms[7]->a;
    ck_assert_int_eq(seg->kind, KEX_FIELD);
    ck_assert_int_eq(seg->res, KRES_TRAIT);
    ck_assert_int_eq(seg->type, KT_UNTYPED);
    KExpr *cnt = terms[6]->a;
    ck_assert_int_eq(cnt->type, KT_NUMBER);
    ck_assert_int_eq(cnt->args[0]->res, KRES_EVENT);
    ck_assert_uint_eq(cnt->args[0]->res_id, event_id(c, "ticket_closed"));
    ck_assert_int_eq(cnt->where->a->res, KRES_EVENT_ATTR);           /* kind of each counted event */
    ck_assert_int_eq(cnt->where->b->res, KRES_TRIGGER_ATTR);         /* trigger.kind */
    ck_assert_int_eq(cnt->within->type, KT_DURATION);
    ck_assert_int_eq(terms[5]->a->res, KRES_HOUR);
    ck_assert_int_eq(terms[4]->a->res, KRES_WEEKDAY_NOW);
    ck_assert_int_eq(terms[4]->b->type, KT_WEEKDAY);
    ck_assert_int_eq(terms[3]->a->type, KT_DURATION);
    ck_assert_int_eq(terms[2]->a->res, KRES_EVENT_ATTR);              /* last(login).device */
    ck_assert_int_eq(terms[1]->type, KT_BOOL);
    ck_assert_int_eq(terms[1]->args[0]->res, KRES_SURVEY);
    ck_assert_int_eq(terms[0]->a->res, KRES_NOW);
    ck_assert_int_eq(terms[0]->b->type, KT_TIME);
    cfree(c);
}
END_TEST

START_TEST(no_forms)
{
    C *c = load("cap 1 per 30d\nask NPS after purchase if no open_ticket and no login within 7d and no refund\n");
    expect_clean(c);
    KExpr *e = c->p->rules[0]->if_expr;
    ck_assert_int_eq(e->b->op, KOP_NO);
    ck_assert_int_eq(e->b->a->res, KRES_EVENT);                      /* no refund: an event */
    ck_assert_int_eq(e->a->b->a->kind, KEX_WITHIN);
    ck_assert_int_eq(e->a->a->a->res, KRES_LET);                     /* no open_ticket: a let */
    cfree(c);
}
END_TEST

START_TEST(types)
{
    expect_code("cap 1 per 30d\nask NPS after x if since(login) > 14\n", "K0404");
    expect_code("cap 1 per 30d\nask NPS after x if count(login) == \"a\"\n", "K0404");
    expect_code("cap 1 per 30d\nask NPS after x if true < false\n", "K0405");
    expect_code("cap 1 per 30d\nask NPS after x if \"a\" * 2 > 1\n", "K0406");
    expect_code("cap 1 per 30d\nask NPS after x if -\"a\" == 1\n", "K0406");
    expect_code("cap 1 per 30d\nask NPS after x if 1 and true\n", "K0403");
    expect_code("cap 1 per 30d\nask NPS after x if not 1\n", "K0403");
    expect_code("cap 1 per 30d\nask NPS after x if no 3d\n", "K0407");
    expect_code("cap 1 per 30d\nask NPS after x if count(login)\n", "K0419");
    expect_code("cap 1 per 30d\nask NPS after x if login within 3\n", "K0402");
    expect_code("cap 1 per 30d\nask NPS after x if (1 + 1) within 3d\n", "K0401");
    /* what is accepted */
    C *c = load("event e { t: time, n: number }\ncap 1 per 30d\n"
                "ask NPS after e if t + 1d < now and now - t > 2h and n * 1d > 3d and 3d / 1d > n "
                "and 2 * 3d == 6d and x == 1 and y == \"s\" and z and weekday in [mon-fri] and -n < 0 and -1d < 0s\n");
    ck_assert_uint_eq(c->d.nerrors, 3);          /* x, y, z: e is declared and closed */
    cfree(c);
    c = load("cap 1 per 30d\nask NPS after e if opened_at + 1d < now and now - opened_at > 2h and quantity * 1d > 3d "
             "and region_code == 1 and segment_name == \"s\" and is_vip\n");
    expect_clean(c);                             /* e undeclared: untyped attributes adapt */
    cfree(c);
}
END_TEST

START_TEST(names)
{
    expect_code("cap 1 per 30d\nask NPZ after x\n", "K0304");
    expect_code("cap 1 per 30d\nask NPS via fax after x\n", "K0303");
    expect_code("cap 1 per 30d\nask NPS after x if asked(NPZ)\n", "K0304");
    expect_code("event e\ncap 1 per 30d\nask NPS after e if a == 1\n", "K0310");
    expect_code("event e { a: number }\ncap 1 per 30d\nask NPS after e if trigger.b == 1\n", "K0310");
    expect_code("cap 1 per 30d\nask NPS every day if a == 1\n", "K0409");
    expect_code("cap 1 per 30d\nask NPS every day if trigger.a == 1\n", "K0409");
    expect_code("cap 1 per 30d\nask NPS after x if cnt(y) > 1\n", "K0418");
    expect_code("cap 1 per 30d\nask NPS after x if last(y) > 1\n", "K0413");
    expect_code("cap 1 per 30d\nask NPS after x if y.z > 1\n", "K0412");
    expect_code("cap 1 per 30d\nask NPS after x if sum(y) > 1\n", "K0414");
    expect_code("event y { s: string }\ncap 1 per 30d\nask NPS after x if sum(y.s) > 1\n", "K0415");
    expect_code("cap 1 per 30d\nask NPS after x if count(a, b) > 1\n", "K0411");
    expect_code("cap 1 per 30d\nask NPS after x if since(a where b) > 1d\n", "K0410");
    expect_code("cap 1 per 30d\nask NPS after x if trigger\n", "K0408");
    expect_code("cap 1 per 30d\nask NPS after x if best_time(y)\n", "K0417");
    expect_code("cap 1 per 30d\nask NPS after x if asked(1)\n", "K0416");
    expect_code("let a = b\nlet b = a\ncap 1 per 30d\n", "K0309");
    expect_code("let hour = 1\ncap 1 per 30d\n", "K0315");
    expect_code("import \"std/nope\"\ncap 1 per 30d\n", "K0308");
    expect_code("timezone \"Mars/Olympus\"\ncap 1 per 30d\n", "K0314");
    expect_code("timezone \"UTC\"\ntimezone \"UTC\"\ncap 1 per 30d\n", "K0306");
    expect_code("policy \"\"\ncap 1 per 30d\n", "K0313");
    expect_code("event e\nevent e\ncap 1 per 30d\nask NPS after e\n", "K0307");
    expect_code("survey CSAT\ncap 1 per 30d\n", "K0307");
    expect_code("event e { a: number, a: number }\ncap 1 per 30d\nask NPS after e\n", "K0311");
    expect_code("event opt_out { channel: number }\ncap 1 per 30d\n", "K0312");
    expect_code("cap 1 per 30d\nrule a: ask NPS after x\nrule a: ask CES after x\n", "K0305");
}
END_TEST

START_TEST(reserved_redeclared)
{
    C *c = load("event response { comment: string }\ncap 1 per 30d\n"
                "task t after response where survey == \"NPS\" and score <= 6 and comment != \"\"\n");
    expect_clean(c);
    uint32_t r = event_id(c, "response");
    ck_assert_uint_eq(c->p->events[r].nattrs, 3);
    cfree(c);
    c = load("cap 1 per 30d\nask NPS after identify where plan == \"pro\"\n");
    expect_clean(c);                 /* identify's attributes are open */
    cfree(c);
}
END_TEST

START_TEST(undeclared_events)
{
    /* an undeclared near-twin of a declared event is an error */
    C *c = load("event ticket_closed\ncap 1 per 30d\nask NPS after ticket_close\nask CES after purchase\n");
    ck_assert_uint_eq(count_code(c, "K0302"), 1);
    ck_assert_uint_eq(count_code(c, "K0301"), 0);
    ck_assert_uint_eq(c->d.nerrors, 1);
    cfree(c);
    /* two close undeclared spellings: each is warned, suggesting the other
     * (LANGUAGE.md section 2: distance <= 2, whatever the length) */
    c = load("cap 1 per 30d\nask NPS after ticket_reopened if count(ticket_reopened) > 1\n"
             "ask CES after purchase if ticket_reopend within 7d\n");
    ck_assert_uint_eq(count_code(c, "K0301"), 2);
    ck_assert_uint_eq(c->d.nerrors, 0);
    cfree(c);
    /* short names too: 2 edits from a declared event is an error, from a used one a warning */
    c = load("event login\ncap 1 per 30d\nrule a: ask NPS after login\nrule b: ask CES after lgn\n"
             "rule c: task tc after view\nrule d: task td after vue\n");
    ck_assert_uint_eq(count_code(c, "K0302"), 1);
    ck_assert_uint_eq(count_code(c, "K0301"), 2);
    cfree(c);
    /* three edits apart: not close */
    c = load("cap 1 per 30d\nrule a: ask NPS after abc\nrule b: ask CES after xyz\n");
    ck_assert_uint_eq(count_code(c, "K0301"), 0);
    cfree(c);
    c = load_opt("event ticket_closed\ncap 1 per 30d\nask NPS after ticket_close\nask CES after purchase\n", true);
    ck_assert_uint_eq(count_code(c, "K0302"), 2);
    cfree(c);
    /* strict: an event used only through a prelude let is reported at the use site */
    c = load_opt("event e\ncap 1 per 30d\nask NPS after e if no open_ticket\n", true);
    ck_assert_uint_eq(count_code(c, "K0302"), 2);
    ck_assert_uint_eq(c->d.v[0].span.src, 0);
    cfree(c);
    /* the prelude's own uses are not reported */
    c = load_opt("cap 1 per 30d\n", true);
    expect_clean(c);
    cfree(c);
}
END_TEST

START_TEST(clause_rules)
{
    expect_code("cap 1 per 30d\nask NPS if true\n", "K0501");
    expect_code("task t via phone then email after 1d after x\n", "K0503");
    expect_code("task t after x cap 1 per 1d\n", "K0504");
    expect_code("task t after x variant a 10%\n", "K0505");
    expect_code("cap 1 per 30d\nask NPS after x variant a 60% variant b 41%\n", "K0506");
    expect_code("cap 1 per 30d\nask NPS after x variant a 6% variant a 4%\n", "K0507");
    C *c = load("cap 1 per 30d\nask NPS after x variant a 60% variant b 40% { + 1d via sms }\n");
    expect_clean(c);
    cfree(c);
}
END_TEST

START_TEST(warnings)
{
    expect_code("ask NPS after x\n", "K0601");
    expect_code("cap 1 per 30d\nask NPS after x cap 1 per 7d\n", "K0602");
    expect_code("event unused\ncap 1 per 30d\n", "K0603");
    expect_code("quiet 20:00-08:00 on sms, sms\ncap 1 per 30d\n", "K0604");
    C *c = load("cap 1 per 7d on sms\nask NPS after x cap 1 per 30d\ntask t after x\n");
    expect_clean(c);          /* a channel-limited top-level cap is not compared; tasks need no cap */
    cfree(c);
    c = load("ask NPS after x cap 1 per 30d\n");
    expect_clean(c);
    cfree(c);
}
END_TEST

START_TEST(from_file)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/kairos-check-%ld.kai", (long)getpid());
    FILE *tf = fopen(path, "w");
    ck_assert_ptr_nonnull(tf);
    int fd = fileno(tf);
    const char *t = "cap 1 per 30d\nask NPS after purchase\n";
    ck_assert_int_eq(write(fd, t, strlen(t)), (int)strlen(t));
    fclose(tf);
    KDiags d;
    kd_init(&d, NULL);
    KProgram *p = kc_load(path, NULL, &d);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(d.n, 0);
    ck_assert(!strncmp(p->policy_name, "kairos-check-", 13));
    kc_free(p);
    kd_free(&d);
    unlink(path);
    kd_init(&d, NULL);
    p = kc_load("/nonexistent/x.kai", NULL, &d);
    ck_assert_ptr_null(p);
    ck_assert_uint_eq(d.nerrors, 1);
    ck_assert_str_eq(d.v[0].msg, "cannot read file: No such file or directory");
    ck_assert_ptr_null(d.sources);
    kd_free(&d);
}
END_TEST

START_TEST(werror_option)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions o = { .werror = true };
    const char *t = "ask NPS after x\n";
    KProgram *p = kc_load_text("w.kai", t, strlen(t), &o, &d);
    ck_assert(kd_failed(&d));
    kc_free(p);
    kd_free(&d);
}
END_TEST

Suite *checker_suite(void)
{
    Suite *s = suite_create("checker");
    TCase *tc = tcase_create("checker");
    tcase_add_test(tc, tables);
    tcase_add_test(tc, source_hash);
    tcase_add_test(tc, resolution);
    tcase_add_test(tc, no_forms);
    tcase_add_test(tc, types);
    tcase_add_test(tc, names);
    tcase_add_test(tc, reserved_redeclared);
    tcase_add_test(tc, undeclared_events);
    tcase_add_test(tc, clause_rules);
    tcase_add_test(tc, warnings);
    tcase_add_test(tc, from_file);
    tcase_add_test(tc, werror_option);
    suite_add_tcase(s, tc);
    return s;
}
