/* test_replay.c -- runtime/replay.c, output.c and simulate.c: the engine fed
 * with events one at a time (images compiled from policy text), its
 * statistics and explain trace, the schedule writer (temporary file and
 * rename, write errors, quoting, JSON Lines) and kr_simulate end to end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "units.h"
#include "../../lang/lang.h"
#include "../../runtime/internal.h"

static KImage *compile(const char *src)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions o = { 0 };
    KProgram *p = kc_load_text("t.kai", src, strlen(src), &o, &d);
    if (!p || kd_failed(&d)) kd_print(&d, stderr, KD_FMT_TEXT, false);
    ck_assert_ptr_nonnull(p);
    ck_assert(!kd_failed(&d));
    KImage *img = kg_compile(p);
    ck_assert_ptr_nonnull(img);
    kc_free(p);
    kd_free(&d);
    return img;
}

/* ---- a replay harness ------------------------------------------------------ */

typedef struct R {
    KImage *img;
    KrPool *cust, *vals;
    KrEngine *eng;
    KrRow rows[512];
    int nrows;
    int fail_after;               /* emitter fails after this many rows (-1 never) */
    char *trace; size_t tracelen;
    FILE *tf;
} R;

static int collect(void *ctx, const KrRow *row)
{
    R *r = ctx;
    if (r->fail_after >= 0 && r->nrows >= r->fail_after) return -1;
    ck_assert_int_lt(r->nrows, 512);
    r->rows[r->nrows++] = *row;
    return 0;
}

static void r_open(R *r, const char *src, const char *explain, const char *until)
{
    memset(r, 0, sizeof *r);
    r->fail_after = -1;
    r->img = compile(src);
    r->cust = kr_pool_new();
    r->vals = kr_pool_new();
    KrEngineOpts o = { .emit = collect, .emit_ctx = r };
    if (until) {
        o.has_until = true;
        ck_assert_int_eq(kr_parse_time(until, strlen(until), &o.until), 0);
    }
    if (explain) {
        r->tf = open_memstream(&r->trace, &r->tracelen);
        o.explain_customer = explain;
        o.explain_out = r->tf;
    }
    r->eng = kr_engine_new(r->img, r->cust, r->vals, &o);
    ck_assert_ptr_nonnull(r->eng);
}

static void r_close(R *r)
{
    kr_engine_free(r->eng);
    kr_pool_free(r->cust);
    kr_pool_free(r->vals);
    kb_free(r->img);
    if (r->tf) fclose(r->tf);
    free(r->trace);
}

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(kr_parse_time(s, strlen(s), &t), 0);
    return t;
}

/* Feeds an event; attributes as "name=value" (a number if it parses), NULL-ended. */
static int ev(R *r, const char *time, const char *cust, const char *event, ...)
{
    uint32_t ids[16];
    KrValue vals[16];
    uint32_t n = 0;
    va_list ap;
    va_start(ap, event);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        const char *eq = strchr(a, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
        uint32_t id = kb_find_attr(r->img, name);
        if (id == KB_NONE) continue;
        char *end;
        double d = strtod(eq + 1, &end);
        if (*end == '\0' && end != eq + 1) { vals[n].tag = KB_NUM; vals[n].num = d; }
        else { vals[n].tag = KB_STR; vals[n].str = kr_intern(r->vals, eq + 1, strlen(eq + 1)); }
        ids[n++] = id;
    }
    va_end(ap);
    KrEvent e = { .time = T(time), .customer = kr_intern(r->cust, cust, strlen(cust)),
                  .event = kb_find_event(r->img, event), .nattrs = n, .attr_ids = ids,
                  .attr_vals = vals, .file = "test", .line = 1 };
    return kr_engine_event(r->eng, &e);
}

static int finish(R *r, const char *horizon)
{
    int rc = kr_engine_finish(r->eng, horizon ? T(horizon) : kr_engine_last_time(r->eng));
    if (r->tf) fflush(r->tf);
    return rc;
}

/* Asserts row i: time, customer, rule name, action, attempt. */
static void row_is(R *r, int i, const char *time, const char *cust, const char *rule, int action,
                   uint32_t attempt)
{
    ck_assert_int_lt(i, r->nrows);
    const KrRow *w = &r->rows[i];
    ck_assert_int_eq(w->time, T(time));
    ck_assert_str_eq(kr_pool_str(r->cust, w->customer, NULL), cust);
    ck_assert_str_eq(r->img->strings[r->img->rules[w->rule].name], rule);
    ck_assert_int_eq(w->action, action);
    ck_assert_uint_eq(w->attempt, attempt);
}

static uint64_t st_of(R *r, uint32_t rule, int which)
{
    return kr_engine_stats(r->eng)->rule[rule][which];
}

/* ---- engine ------------------------------------------------------------------ */

START_TEST(test_delay_and_order)
{
    R r;
    r_open(&r, "policy \"t\"\n"
               "rule lo: ask NPS after purchase + 1h\n"
               "rule hi: ask CSAT after purchase + 1h priority 3\n", NULL, NULL);
    ck_assert_int_eq(ev(&r, "2026-01-01T10:00:00Z", "b", "purchase", NULL), 0);
    ck_assert_int_eq(ev(&r, "2026-01-01T10:00:00Z", "a", "purchase", NULL), 0);
    ck_assert_int_eq(ev(&r, "2026-01-01T10:00:00Z", "a", "unknown_event", NULL), 0);
    ck_assert_int_eq(ev(&r, "2026-01-01T11:00:00Z", "c", "purchase", NULL), 0);
    ck_assert_int_eq(finish(&r, NULL), 0);
    ck_assert_int_eq(r.nrows, 4);
    row_is(&r, 0, "2026-01-01T11:00:00Z", "a", "hi", KR_ACT_ASK, 1);
    row_is(&r, 1, "2026-01-01T11:00:00Z", "a", "lo", KR_ACT_ASK, 1);
    row_is(&r, 2, "2026-01-01T11:00:00Z", "b", "hi", KR_ACT_ASK, 1);
    row_is(&r, 3, "2026-01-01T11:00:00Z", "b", "lo", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_HORIZON), 1);      /* c's ask is due after 11:00 */
    ck_assert_uint_eq(kr_engine_stats(r.eng)->customers, 3);
    ck_assert_uint_eq(kr_engine_stats(r.eng)->events, 4);
    r_close(&r);
}
END_TEST

START_TEST(test_events_before_timers)
{
    /* an event at the due instant is seen by `if`, whatever its input position */
    R r;
    r_open(&r, "ask NPS after purchase + 1h if no refund\n", NULL, NULL);
    ev(&r, "2026-01-01T10:00:00Z", "a", "purchase", NULL);
    ev(&r, "2026-01-01T10:00:00Z", "b", "purchase", NULL);
    ev(&r, "2026-01-01T11:00:00Z", "a", "refund", NULL);
    ev(&r, "2026-01-01T11:00:01Z", "b", "refund", NULL);
    finish(&r, NULL);
    ck_assert_int_eq(r.nrows, 1);
    row_is(&r, 0, "2026-01-01T11:00:00Z", "b", "NPS@1", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_COND), 1);
    r_close(&r);
}
END_TEST

START_TEST(test_restart_keep)
{
    R r;
    r_open(&r, "rule r: ask NPS after ping + 2d\nrule k: ask CSAT after ping + 2d on retrigger keep\n",
           NULL, NULL);
    ev(&r, "2026-01-01T00:00:00Z", "a", "ping", NULL);
    ev(&r, "2026-01-02T00:00:00Z", "a", "ping", NULL);
    ev(&r, "2026-01-10T00:00:00Z", "a", "ping", NULL);
    finish(&r, "2026-01-31T00:00:00Z");
    ck_assert_int_eq(r.nrows, 4);
    row_is(&r, 0, "2026-01-03T00:00:00Z", "a", "k", KR_ACT_ASK, 1);
    row_is(&r, 1, "2026-01-04T00:00:00Z", "a", "r", KR_ACT_ASK, 1);
    row_is(&r, 2, "2026-01-12T00:00:00Z", "a", "r", KR_ACT_ASK, 1);
    row_is(&r, 3, "2026-01-12T00:00:00Z", "a", "k", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_RESTART), 1);
    ck_assert_uint_eq(st_of(&r, 1, KR_ST_KEEP), 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_TRIGGERED), 3);
    r_close(&r);
}
END_TEST

START_TEST(test_reminders_and_response)
{
    R r;
    r_open(&r, "rule x: ask NPS via sms then email after 1d then phone after 1d after done\n"
               "quiet 20:00-08:00 on email\n", "b", NULL);
    ev(&r, "2026-01-01T22:00:00Z", "a", "done", NULL);
    ev(&r, "2026-01-01T22:00:00Z", "b", "done", NULL);
    ev(&r, "2026-01-02T12:00:00Z", "b", "response", "survey=NPS", "score=9", NULL);
    ev(&r, "2026-01-02T12:00:00Z", "a", "response", "survey=CSAT", NULL);
    ev(&r, "2026-01-09T00:00:00Z", "z", "noise", NULL);
    finish(&r, NULL);
    /* a: sms 01-01 22:00; email due 01-02 22:00 is in quiet hours -> 01-03 08:00;
     * phone 1d after that; b answered after attempt 1 */
    ck_assert_int_eq(r.nrows, 4);
    row_is(&r, 0, "2026-01-01T22:00:00Z", "a", "x", KR_ACT_ASK, 1);
    row_is(&r, 1, "2026-01-01T22:00:00Z", "b", "x", KR_ACT_ASK, 1);
    row_is(&r, 2, "2026-01-03T08:00:00Z", "a", "x", KR_ACT_REMIND, 2);
    row_is(&r, 3, "2026-01-04T08:00:00Z", "a", "x", KR_ACT_REMIND, 3);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_REM_ANSWERED), 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_REMINDED), 2);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_MOVED), 1);
    ck_assert_ptr_nonnull(strstr(r.trace, "answered"));
    ck_assert_ptr_null(strstr(r.trace, " a "));
    r_close(&r);
}
END_TEST

START_TEST(test_caps_and_yield)
{
    R r;
    r_open(&r, "cap 1 per 10d on email\n"
               "rule big: ask NPS via email after milestone + 1d priority 9\n"
               "rule small: ask CSAT via email after ticket + 1h\n"
               "rule side: ask CES via sms after ticket + 1h\n", "a", NULL);
    ev(&r, "2026-01-01T00:00:00Z", "a", "milestone", NULL);
    ev(&r, "2026-01-01T06:00:00Z", "a", "ticket", NULL);   /* small yields, side (sms) is free */
    ev(&r, "2026-01-01T06:00:00Z", "b", "ticket", NULL);   /* nothing pending: small goes */
    ev(&r, "2026-01-03T00:00:00Z", "b", "milestone", NULL);/* big capped at 01-04 */
    ev(&r, "2026-01-20T00:00:00Z", "z", "noise", NULL);
    finish(&r, NULL);
    ck_assert_int_eq(r.nrows, 4);
    row_is(&r, 0, "2026-01-01T07:00:00Z", "a", "side", KR_ACT_ASK, 1);
    row_is(&r, 1, "2026-01-01T07:00:00Z", "b", "small", KR_ACT_ASK, 1);
    row_is(&r, 2, "2026-01-01T07:00:00Z", "b", "side", KR_ACT_ASK, 1);
    row_is(&r, 3, "2026-01-02T00:00:00Z", "a", "big", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 1, KR_ST_YIELD), 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_CAP), 1);
    ck_assert_ptr_nonnull(strstr(r.trace, "yield"));
    r_close(&r);
}
END_TEST

START_TEST(test_holdout_and_variants)
{
    /* buckets of "exp/onb/cN": c1 55, c4 88, c6 10 */
    R r;
    r_open(&r, "policy \"exp\"\nrule onb: ask CES after signup variant a 50% variant b 30% { + 1h }\n",
           NULL, NULL);
    ev(&r, "2026-01-01T00:00:00Z", "c1", "signup", NULL);
    ev(&r, "2026-01-01T00:00:00Z", "c4", "signup", NULL);
    ev(&r, "2026-01-01T00:00:00Z", "c6", "signup", NULL);
    finish(&r, "2026-01-02T00:00:00Z");
    ck_assert_int_eq(r.nrows, 2);
    row_is(&r, 0, "2026-01-01T00:00:00Z", "c6", "onb", KR_ACT_ASK, 1);
    ck_assert_uint_eq(r.rows[0].variant, 0);
    row_is(&r, 1, "2026-01-01T01:00:00Z", "c1", "onb", KR_ACT_ASK, 1);
    ck_assert_uint_eq(r.rows[1].variant, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_HOLDOUT), 1);
    r_close(&r);
}
END_TEST

START_TEST(test_every_and_tz_change)
{
    R r;
    r_open(&r, "timezone \"Europe/Oslo\"\nrule d: ask NPS every day at 09:00\n", NULL, NULL);
    ev(&r, "2026-01-05T12:00:00Z", "a", "login", NULL);                 /* first: 01-06 08:00Z */
    ev(&r, "2026-01-06T10:00:00Z", "a", "identify", "tz=America/New_York", NULL);
    ev(&r, "2026-01-08T00:00:00Z", "a", "identify", "tz=Nowhere/Bad", NULL);   /* back to Oslo */
    finish(&r, "2026-01-09T12:00:00Z");
    ck_assert_int_eq(r.nrows, 5);
    row_is(&r, 0, "2026-01-06T08:00:00Z", "a", "d", KR_ACT_ASK, 1);
    row_is(&r, 1, "2026-01-06T14:00:00Z", "a", "d", KR_ACT_ASK, 1);    /* 09:00 EST */
    row_is(&r, 2, "2026-01-07T14:00:00Z", "a", "d", KR_ACT_ASK, 1);
    row_is(&r, 3, "2026-01-08T08:00:00Z", "a", "d", KR_ACT_ASK, 1);    /* Oslo again */
    row_is(&r, 4, "2026-01-09T08:00:00Z", "a", "d", KR_ACT_ASK, 1);
    r_close(&r);
}
END_TEST

START_TEST(test_tasks_ignore_contact_rules)
{
    R r;
    r_open(&r, "cap 1 per 30d\nquiet 00:00-23:59\nrequire consent on phone\n"
               "rule t: task call via phone after response + 1h\n"
               "rule n: ask NPS after purchase\n", NULL, NULL);
    ev(&r, "2026-01-01T00:00:00Z", "a", "opt_out", NULL);
    ev(&r, "2026-01-01T01:00:00Z", "a", "response", "survey=NPS", NULL);
    ev(&r, "2026-01-01T03:00:00Z", "b", "response", "survey=NPS", NULL);
    ev(&r, "2026-01-01T05:00:00Z", "b", "purchase", NULL);
    ev(&r, "2026-01-02T00:00:00Z", "z", "noise", NULL);
    finish(&r, NULL);
    ck_assert_int_eq(r.nrows, 3);
    row_is(&r, 0, "2026-01-01T02:00:00Z", "a", "t", KR_ACT_TASK, 1);
    row_is(&r, 1, "2026-01-01T04:00:00Z", "b", "t", KR_ACT_TASK, 1);
    /* quiet 00:00-23:59 moves the ask to 23:59 */
    row_is(&r, 2, "2026-01-01T23:59:00Z", "b", "n", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_TASKS), 2);
    r_close(&r);
}
END_TEST

START_TEST(test_until_stops_timers)
{
    R r;
    r_open(&r, "ask NPS after purchase + 1d\n", NULL, "2026-01-02T00:00:00Z");
    ev(&r, "2026-01-01T00:00:00Z", "a", "purchase", NULL);
    ev(&r, "2026-01-01T00:00:01Z", "b", "purchase", NULL);
    ev(&r, "2026-01-05T00:00:00Z", "c", "purchase", NULL);     /* after --until */
    finish(&r, "2026-01-02T00:00:00Z");
    ck_assert_int_eq(r.nrows, 1);
    row_is(&r, 0, "2026-01-02T00:00:00Z", "a", "NPS@1", KR_ACT_ASK, 1);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_HORIZON), 2);
    r_close(&r);
}
END_TEST

/* The engine of a partitioned replay that is known to fail (SPEC 5.10):
 * cut at an event or a timer after the deadline, with no message (and
 * its rows not flushed: they do not matter); a timer at the deadline
 * still fires. */
static void r_deadline(R *r, const char *deadline)
{
    kr_engine_free(r->eng);
    KrEngineOpts o = { .emit = collect, .emit_ctx = r, .has_deadline = true, .deadline = T(deadline) };
    r->eng = kr_engine_new(r->img, r->cust, r->vals, &o);
    ck_assert_ptr_nonnull(r->eng);
}

START_TEST(test_deadline_cut)
{
    R r;
    r_open(&r, "ask NPS after purchase + 1d\n", NULL, NULL);
    r_deadline(&r, "2026-01-02T00:00:00Z");
    ck_assert_int_eq(ev(&r, "2026-01-01T00:00:00Z", "a", "purchase", NULL), 0);
    ck_assert_int_eq(ev(&r, "2026-01-01T12:00:00Z", "b", "purchase", NULL), 0);
    ck_assert_int_eq(finish(&r, "2026-01-03T00:00:00Z"), -1);    /* b's ask is due after it */
    ck_assert(kr_engine_cut(r.eng));
    ck_assert_ptr_null(kr_engine_error(r.eng));
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_SENT), 1);              /* a's, at the deadline */
    r_deadline(&r, "2026-01-02T00:00:00Z");                        /* an event after it */
    ck_assert_int_eq(ev(&r, "2026-01-02T00:00:00Z", "a", "purchase", NULL), 0);
    ck_assert(!kr_engine_cut(r.eng));
    ck_assert_int_eq(ev(&r, "2026-01-02T00:00:01Z", "a", "purchase", NULL), -1);
    ck_assert(kr_engine_cut(r.eng));
    r_close(&r);
}
END_TEST

/* kr_every_bound_first: the latest first event past the `every` bound
 * (SPEC 9.3), the same bound as the engine's check when the first boundary
 * is scheduled against a known horizon. */
START_TEST(test_every_bound_first)
{
    int64_t h = T("2027-01-01T00:00:00Z");
    KImage *img = compile("ask NPS after purchase + 1d\n");
    ck_assert(kr_every_bound_first(img, h) == INT64_MIN);
    kb_free(img);
    img = compile("rule a: ask NPS every day\nrule b: ask CSAT every 10s\n");
    ck_assert(kr_every_bound_first(img, h) == h - 10 * (int64_t)KR_MAX_BOUNDARIES);
    ck_assert(kr_every_bound_first(img, INT64_MIN) == INT64_MIN);     /* a log without rows */
    kb_free(img);
    img = compile("ask NPS every 15250284452471w\n");
    ck_assert(kr_every_bound_first(img, h) == INT64_MIN);
    kb_free(img);
    /* a customer whose first event is at the bound fails at it, one a
     * second later does not (with the horizon known: has_horizon) */
    const char *first[2] = { "2023-10-31T14:13:20Z", "2023-10-31T14:13:21Z" };
    ck_assert(T(first[0]) == h - 10 * (int64_t)KR_MAX_BOUNDARIES);
    for (int k = 0; k < 2; k++) {
        R r;
        r_open(&r, "ask NPS every 10s\n", NULL, NULL);
        kr_engine_free(r.eng);
        KrEngineOpts o = { .emit = collect, .emit_ctx = &r, .has_horizon = true, .horizon = h };
        ck_assert_ptr_nonnull(r.eng = kr_engine_new(r.img, r.cust, r.vals, &o));
        ck_assert_int_eq(ev(&r, first[k], "c", "login", NULL), k == 0 ? -1 : 0);
        if (k == 0) ck_assert_ptr_nonnull(strstr(kr_engine_error(r.eng), "and 2027-01-01T00:00:00Z"));
        r_close(&r);
    }
}
END_TEST

/* kv_count_memos: the where-functions of counts that read only the
 * counted event are memoized (one slot per function, per kind), not those
 * reading the trigger, now or another count, nor plain counts. */
START_TEST(test_count_memos)
{
    KImage *img = compile("event purchase { amount: number, kind: string }\n"
                          "rule a: ask NPS after purchase if count(purchase where amount > 10 within 1d) >= 1"
                          " and count(purchase where kind in [\"x\", \"y\"] or not (amount * 2 < 7)) > 2\n"
                          "rule b: ask CSAT after purchase if count(purchase where amount > trigger.amount) >= 1\n"
                          "rule c: ask CES after purchase if count(purchase where count(login within 1d) > 0) >= 1\n"
                          "rule d: ask NPS after login if count(login where now - 1d > now - 2d) >= 1 and count(login) > 1\n");
    uint32_t *slot = malloc(img->nfuncs * sizeof *slot), *count = malloc(img->nevents * sizeof *count);
    kv_count_memos(img, slot, count);
    uint32_t purchase = kb_find_event(img, "purchase"), login = kb_find_event(img, "login");
    ck_assert_uint_eq(count[purchase], 2);
    ck_assert_uint_eq(count[login], 0);
    uint32_t n = 0, seen = 0;
    for (uint32_t f = 0; f < img->nfuncs; f++)
        if (slot[f] != KB_NONE) { n++; seen |= 1u << slot[f]; }
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(seen, 3u);
    free(slot);
    free(count);
    kb_free(img);
}
END_TEST

START_TEST(test_emitter_failure)
{
    R r;
    r_open(&r, "ask NPS after purchase\n", NULL, NULL);
    r.fail_after = 1;
    ck_assert_int_eq(ev(&r, "2026-01-01T00:00:00Z", "a", "purchase", NULL), 0);
    ck_assert_int_eq(ev(&r, "2026-01-01T00:00:00Z", "b", "purchase", NULL), 0);
    ck_assert_int_eq(finish(&r, NULL), -1);
    ck_assert_int_eq(ev(&r, "2026-01-03T00:00:00Z", "c", "purchase", NULL), -1);
    r_close(&r);
}
END_TEST

START_TEST(test_no_allowed_time)
{
    R r;
    r_open(&r, "quiet 00:00-12:00 on sms\nquiet 12:00-00:00 on sms\n"
               "ask NPS via sms after purchase\n", NULL, NULL);
    ev(&r, "2026-01-01T00:00:00Z", "a", "purchase", NULL);
    finish(&r, "2026-02-01T00:00:00Z");
    ck_assert_int_eq(r.nrows, 0);
    ck_assert_uint_eq(st_of(&r, 0, KR_ST_NOTIME), 1);
    r_close(&r);
}
END_TEST

/* ---- output ------------------------------------------------------------------ */

static char tmpdir[256];

static void mk_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kairos-replay-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_files(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", tmpdir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    ck_assert_int_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

START_TEST(test_writer)
{
    mk_tmpdir();
    KImage *img = compile("rule x: ask NPS via sms after p variant v 100%\n");
    KrPool *cust = kr_pool_new();
    KrRow row = { .time = T("2026-01-01T00:00:00Z"), .customer = kr_intern(cust, "a,\"b\"", 5),
                  .rule = 0, .channel = kb_find_channel(img, "sms"), .attempt = 1, .variant = 0,
                  .action = KR_ACT_ASK };
    char path[300], err[1024];
    snprintf(path, sizeof path, "%s/out.csv", tmpdir);
    FILE *ef = fmemopen(err, sizeof err, "w");
    /* a fresh file is written as rows come */
    FILE *f = fopen(path, "w");
    KoWriter *w = ko_open(f, true, path, KR_OUT_CSV, img, cust, ef);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(ko_row(w, &row), 0);
    ck_assert_int_eq(ko_close(w, true), 0);
    fflush(f);
    ck_assert_str_eq(slurp(path), "time,customer,rule,action,survey,channel,attempt,variant\n"
                     "2026-01-01T00:00:00Z,\"a,\"\"b\"\"\",x,ask,NPS,sms,1,v\n");
    /* a writer opened again on it (a replay that starts over) empties it */
    w = ko_open(f, true, path, KR_OUT_JSONL, img, cust, ef);
    ck_assert_int_eq(ko_close(w, true), 0);
    fflush(f);
    ck_assert_str_eq(slurp(path), "");
    fclose(f);
    /* another stream gets the rows held back: nothing after a failed run */
    f = fopen(path, "w");
    w = ko_open(f, false, path, KR_OUT_JSONL, img, cust, ef);
    ck_assert_int_eq(ko_row(w, &row), 0);
    ck_assert_int_eq(ko_close(w, false), -1);
    fflush(f);
    ck_assert_str_eq(slurp(path), "");
    /* JSON Lines, written at ko_close(w, true) */
    row.variant = KB_NONE;
    row.action = KR_ACT_REMIND;
    row.attempt = 2;
    w = ko_open(f, false, path, KR_OUT_JSONL, img, cust, ef);
    ck_assert_int_eq(ko_row(w, &row), 0);
    fflush(f);
    ck_assert_str_eq(slurp(path), "");
    ck_assert_int_eq(ko_close(w, true), 0);
    fclose(f);
    ck_assert_str_eq(slurp(path), "{\"time\":\"2026-01-01T00:00:00Z\",\"customer\":\"a,\\\"b\\\"\","
                     "\"rule\":\"x\",\"action\":\"remind\",\"survey\":\"NPS\",\"channel\":\"sms\","
                     "\"attempt\":2,\"variant\":\"\"}\n");
    ck_assert_int_eq(count_files(), 1);
    /* A write that fails when the rows are flushed at close: a file size
     * limit makes write() fail with EFBIG (our own file, the same for every
     * run; never a device the whole machine shares). */
    struct rlimit old_lim, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 16;
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    f = fopen(path, "w");
    w = ko_open(f, true, path, KR_OUT_CSV, img, cust, ef);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ko_row(w, &row);
    int rc = ko_close(w, true);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_xfsz);
    fclose(f);
    ck_assert_int_eq(rc, -1);
    /* A held-back schedule written to a FIFO whose reader has gone */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/pipe", tmpdir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    f = fopen(fifo, "w");
    ck_assert_ptr_nonnull(f);
    w = ko_open(f, false, fifo, KR_OUT_CSV, img, cust, ef);
    ck_assert_ptr_nonnull(w);
    close(rd);
    ko_row(w, &row);
    rc = ko_close(w, true);
    fclose(f);
    signal(SIGPIPE, old_pipe);
    ck_assert_int_eq(rc, -1);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    fclose(ef);
    char want[400];
    snprintf(want, sizeof want, "%s: error: write error: File too large", path);
    ck_assert_ptr_nonnull(strstr(err, want));
    snprintf(want, sizeof want, "%s: error: write error: Broken pipe", fifo);
    ck_assert_ptr_nonnull(strstr(err, want));
    kr_pool_free(cust);
    kb_free(img);
    rm_tmpdir();
}
END_TEST

static void write_file(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_simulate)
{
    mk_tmpdir();
    KImage *img = compile("cap 1 per 30d\nask NPS after purchase + 1h\n");
    write_file("good.csv", "time,customer,event\n2026-01-01T00:00:00Z,a,purchase\n"
                           "2026-01-01T00:30:00Z,a,purchase\n2026-01-01T05:00:00Z,b,login\n");
    write_file("bad.csv", "time,customer,event\n2026-01-01T00:00:00Z,a,purchase\nnot-a-time,b,x\n");
    char good[300], bad[300], out[300], err[2048];
    snprintf(good, sizeof good, "%s/good.csv", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.csv", tmpdir);
    snprintf(out, sizeof out, "%s/out.csv", tmpdir);
    const char *in1[] = { good };
    KrOptions o = { .inputs = in1, .ninputs = 1, .out_name = out, .stats = true };
    FILE *ef = fmemopen(err, sizeof err, "w");
    ck_assert_ptr_nonnull(o.out = fopen(out, "w"));
    ck_assert_int_eq(kr_simulate(img, &o, ef), 0);
    fclose(o.out);
    fflush(ef);
    ck_assert_str_eq(slurp(out), "time,customer,rule,action,survey,channel,attempt,variant\n"
                     "2026-01-01T01:30:00Z,a,NPS@2,ask,NPS,email,1,\n");
    ck_assert_ptr_nonnull(strstr(err, "3 events, 2 customers"));
    ck_assert_ptr_nonnull(strstr(err, "restart-cancelled 1"));
    /* a bad row: status 1, the reader's message, nothing written to a
     * held-back output */
    const char *in2[] = { bad };
    o.inputs = in2;
    o.stats = false;
    ck_assert_ptr_nonnull(o.out = fopen(out, "a"));
    ck_assert_int_eq(kr_simulate(img, &o, ef), 1);
    fclose(o.out);
    o.out = NULL;
    fclose(ef);
    ck_assert_ptr_nonnull(strstr(err, "bad.csv:3"));
    ck_assert_str_eq(slurp(out), "time,customer,rule,action,survey,channel,attempt,variant\n"
                     "2026-01-01T01:30:00Z,a,NPS@2,ask,NPS,email,1,\n");
    ck_assert_int_eq(count_files(), 3);
    /* skipped bad rows are counted */
    err[0] = '\0';
    ef = fmemopen(err, sizeof err, "w");
    o.skip_bad_rows = true;
    ck_assert_ptr_nonnull(o.out = fopen("/dev/null", "w"));
    ck_assert_int_eq(kr_simulate(img, &o, ef), 0);
    fclose(o.out);
    fclose(ef);
    ck_assert_ptr_nonnull(strstr(err, "skipped 1 bad row"));
    /* explain of an unknown rule */
    ef = fmemopen(err, sizeof err, "w");
    o.explain_customer = "a";
    o.explain_rule = "nope";
    ck_assert_int_eq(kr_simulate(img, &o, ef), 1);
    fclose(ef);
    ck_assert_ptr_nonnull(strstr(err, "no rule named 'nope'"));
    kb_free(img);
    rm_tmpdir();
}
END_TEST

/* kr_bad_zone_add: the names kept are the smallest ids, ascending, in
 * whatever order they come and however the lists are merged (the buckets
 * are replayed on threads), with the events summed and "more" set once a
 * name is left out. */
START_TEST(test_bad_zones)
{
    KrBadZones a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
    for (uint32_t i = 0; i < 12; i++) kr_bad_zone_add(&a, 100u + i, 1);
    for (uint32_t i = 12; i-- > 0;) kr_bad_zone_add(&b, 100u + i, 1);
    for (uint32_t i = 0; i < 12; i += 2) kr_bad_zone_add(&c, 100u + i, 1);
    for (uint32_t i = 1; i < 12; i += 2) kr_bad_zone_add(&d, 100u + i, 1);
    kr_bad_zone_add(&d, 101u, 3);                    /* a name again: counted, not kept twice */
    c.others = 2;
    d.others = 1;
    kr_bad_zones_merge(&d, &c);
    ck_assert_uint_eq(d.others, 3);                  /* numbers and booleans: summed */
    ck_assert_uint_eq(a.n, KR_BAD_ZONES);
    ck_assert(a.more && b.more && d.more && !c.more);
    ck_assert_uint_eq(a.events, 12);
    ck_assert_uint_eq(d.events, 15);
    for (uint32_t i = 0; i < KR_BAD_ZONES; i++) {
        ck_assert_uint_eq(a.ids[i], 100u + i);
        ck_assert_uint_eq(b.ids[i], 100u + i);
        ck_assert_uint_eq(d.ids[i], 100u + i);
    }
    KrBadZones e = { 0 };
    kr_bad_zone_add(&e, 7, 1);
    kr_bad_zone_add(&e, 7, 1);
    ck_assert(e.n == 1 && !e.more && e.events == 2);
}
END_TEST

Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_delay_and_order);
    tcase_add_test(tc, test_events_before_timers);
    tcase_add_test(tc, test_restart_keep);
    tcase_add_test(tc, test_reminders_and_response);
    tcase_add_test(tc, test_caps_and_yield);
    tcase_add_test(tc, test_holdout_and_variants);
    tcase_add_test(tc, test_every_and_tz_change);
    tcase_add_test(tc, test_tasks_ignore_contact_rules);
    tcase_add_test(tc, test_until_stops_timers);
    tcase_add_test(tc, test_deadline_cut);
    tcase_add_test(tc, test_every_bound_first);
    tcase_add_test(tc, test_count_memos);
    tcase_add_test(tc, test_emitter_failure);
    tcase_add_test(tc, test_no_allowed_time);
    tcase_add_test(tc, test_bad_zones);
    suite_add_tcase(s, tc);
    TCase *to = tcase_create("output");
    tcase_add_test(to, test_writer);
    tcase_add_test(to, test_simulate);
    suite_add_tcase(s, to);
    return s;
}
