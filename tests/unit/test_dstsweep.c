/* test_dstsweep.c -- runtime/sendtime.c (kr_place) swept across both DST
 * transitions of 2026 in five zones, against a brute-force scan written
 * here (LANGUAGE.md 4.3 and 4.9, SPEC 4.5).
 *
 * The scan never calls Kairos's time-zone code: the transitions and each
 * minute's local weekday and time come from GLib's GDateTime, and the
 * first allowed instant is found by walking the instants minute by minute.
 * (Every window bound and every transition of these zones lies on a whole
 * minute, so an instant is allowed exactly when its minute is.)
 *
 * Sweeps, for each zone and transition T, with due instants every 15
 * minutes from T - 8h to T + 8h (some of them off the grid by -1 s or
 * +7m13s):
 *   - every `at HH:MM-HH:MM` window on a 15-minute grid (all days);
 *   - every quiet window on a 15-minute grid (wrapping or not);
 *   - `at` windows on an hourly grid restricted to the transition's
 *     weekday, and to every day but it;
 *   - random pairs of an `at` window and a quiet window (some allow no
 *     instant at all: the ask is dropped, KR_NEVER);
 *   - best_time for every hour of the week: the send is the first instant
 *     at or after the due instant that lies 1,800 s before an instant at
 *     which that local hour starts (at each occurrence of HH:00, or at the
 *     end of a gap that skips it). */
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "units.h"
#include "../../runtime/internal.h"
#include "../../runtime/hist.h"

static const char *const ZONES[] = {
    "America/New_York", "Europe/Oslo", "Australia/Sydney", "Pacific/Chatham", "America/St_Johns",
};

#define Y2026 1767225600LL        /* 2026-01-01T00:00:00Z */
#define Y2027 1798761600LL        /* 2027-01-01T00:00:00Z */
#define DUE_BEFORE (8 * 60)       /* due instants from T - 8h ... */
#define DUE_AFTER  (8 * 60)       /* ... to T + 8h (minutes) */

/* ---- the independent side: GLib ------------------------------------------ */

static int32_t glib_offset(GTimeZone *tz, int64_t t)
{
    GDateTime *u = g_date_time_new_from_unix_utc(t);
    GDateTime *l = g_date_time_to_timezone(u, tz);
    int32_t off = (int32_t)(g_date_time_get_utc_offset(l) / G_TIME_SPAN_SECOND);
    g_date_time_unref(l);
    g_date_time_unref(u);
    return off;
}

/* The instants of 2026 at which tz's UTC offset changes (exactly 2). */
static void transitions(GTimeZone *tz, int64_t out[2])
{
    int n = 0;
    int32_t prev = glib_offset(tz, Y2026);
    for (int64_t t = Y2026 + 3600; t <= Y2027; t += 3600) {
        int32_t off = glib_offset(tz, t);
        if (off == prev) continue;
        int64_t lo = t - 3600, hi = t;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (glib_offset(tz, mid) == prev) lo = mid; else hi = mid;
        }
        ck_assert_int_lt(n, 2);
        ck_assert_int_eq(hi % 60, 0);
        out[n++] = hi;
        prev = off;
    }
    ck_assert_int_eq(n, 2);
}

/* Minutes [t0, t0 + 60 n): each one's local weekday (0 = Monday), minute
 * of the day and wall seconds (local time counted as if it were UTC). */
typedef struct Span {
    int64_t t0;
    int n;
    uint8_t *wday;
    int16_t *mod;
    int64_t *wall;
    int32_t *next;                /* scratch: next allowed minute index, or -1 */
    bool *ok;                     /* scratch: the minute is allowed */
} Span;

static void span_init(Span *s, GTimeZone *tz, int64_t t0, int n)
{
    s->t0 = t0;
    s->n = n;
    s->wday = malloc((size_t)n);
    s->mod = malloc((size_t)n * sizeof *s->mod);
    s->wall = malloc((size_t)n * sizeof *s->wall);
    s->next = malloc((size_t)n * sizeof *s->next);
    s->ok = malloc((size_t)n);
    ck_assert(s->wday && s->mod && s->wall && s->next && s->ok);
    for (int i = 0; i < n; i++) {
        int64_t t = t0 + 60LL * i;
        GDateTime *u = g_date_time_new_from_unix_utc(t);
        GDateTime *l = g_date_time_to_timezone(u, tz);
        s->wday[i] = (uint8_t)(g_date_time_get_day_of_week(l) - 1);
        s->mod[i] = (int16_t)(g_date_time_get_hour(l) * 60 + g_date_time_get_minute(l));
        s->wall[i] = t + g_date_time_get_utc_offset(l) / G_TIME_SPAN_SECOND;
        ck_assert_int_eq(g_date_time_get_second(l), 0);
        g_date_time_unref(l);
        g_date_time_unref(u);
    }
}

static void span_free(Span *s)
{
    free(s->wday); free(s->mod); free(s->wall); free(s->next); free(s->ok);
}

/* next[i]: the first allowed minute index >= i (-1: none in the span),
 * from ok[], walking the minutes. */
static void span_scan(Span *s)
{
    int32_t nx = -1;
    for (int i = s->n - 1; i >= 0; i--) {
        if (s->ok[i]) nx = i;
        s->next[i] = nx;
    }
}

static bool in_at(int days, int st, int en, int wday, int mod)
{
    return (days & (1 << wday)) && mod >= st && mod < en;
}

static bool in_quiet(int st, int en, int mod)
{
    return st < en ? mod >= st && mod < en : mod >= st || mod < en;
}

/* ---- the sweep harness -------------------------------------------------- */

typedef struct Sweep {
    const char *zone;
    KzZone *z;
    int64_t trans;                /* T */
    Span sp;
    int64_t calls;
} Sweep;

/* Checks kr_place for the due instants around T against s->sp.next.
 * may_never: the span reaches 8 days past the last due instant, so a scan
 * that finds nothing means no instant is ever allowed. */
static void check_dues(Sweep *s, const KImage *img, uint64_t qmask, const KbRule *r, bool may_never,
                       const char *what)
{
    Span *sp = &s->sp;
    int base = (int)((s->trans - sp->t0) / 60);
    for (int j = base - DUE_BEFORE, k = 0; j <= base + DUE_AFTER; j += 15, k++) {
        for (int v = 0; v < 3; v++) {
            if (v > 0 && k % 4 != v) continue;
            int64_t due = sp->t0 + 60LL * j + (v == 0 ? 0 : v == 1 ? -1 : 7 * 60 + 13);
            int m = (int)((due - sp->t0) / 60);          /* the minute holding due */
            int64_t want;
            if (sp->ok[m]) want = due;
            else if (m + 1 < sp->n && sp->next[m + 1] >= 0) want = sp->t0 + 60LL * sp->next[m + 1];
            else {
                if (!may_never)
                    ck_abort_msg("%s %s: the scan found no allowed instant (span too short)", s->zone, what);
                want = KR_NEVER;
            }
            bool moved;
            int64_t got = kr_place(img, qmask, r, true, 0, s->z, NULL, due, &moved);
            s->calls++;
            if (got != want) {
                GDateTime *d = g_date_time_new_from_unix_utc(due);
                gchar *ds = g_date_time_format_iso8601(d);
                ck_abort_msg("%s, transition %lld, %s: due %s (%lld): kr_place %lld, scan %lld",
                             s->zone, (long long)s->trans, what, ds, (long long)due,
                             (long long)got, (long long)want);
            }
        }
    }
}

static void sweep_init(Sweep *s, const char *zone, GTimeZone *tz, int64_t trans, int days_after)
{
    memset(s, 0, sizeof *s);
    s->zone = zone;
    s->z = kz_zone(zone);
    ck_assert_ptr_nonnull(s->z);
    s->trans = trans;
    int64_t t0 = trans - (DUE_BEFORE + 60) * 60LL;
    int n = DUE_BEFORE + 60 + DUE_AFTER + days_after * 1440;
    span_init(&s->sp, tz, t0, n);
}

static KbRule at_rule(int days, int st, int en)
{
    KbRule r;
    memset(&r, 0, sizeof r);
    r.at = KB_AT_WINDOW;
    r.at_days = (uint8_t)days;
    r.at_start = st;
    r.at_end = en;
    r.best_event = KB_NONE;
    return r;
}

static void fill_ok(Span *sp, int days, int ast, int aen, int qst, int qen)
{
    for (int i = 0; i < sp->n; i++)
        sp->ok[i] = (days == 0 || in_at(days, ast, aen, sp->wday[i], sp->mod[i])) &&
                    (qst < 0 || !in_quiet(qst, qen, sp->mod[i]));
    span_scan(sp);
}

/* Runs f for every zone and both of its 2026 transitions. */
static void each_transition(void (*f)(const char *zone, GTimeZone *tz, int64_t trans))
{
    for (size_t i = 0; i < sizeof ZONES / sizeof ZONES[0]; i++) {
        GTimeZone *tz = g_time_zone_new_identifier(ZONES[i]);
        ck_assert_msg(tz != NULL, "zone %s missing from the system's database", ZONES[i]);
        int64_t tr[2];
        transitions(tz, tr);
        for (int k = 0; k < 2; k++) f(ZONES[i], tz, tr[k]);
        g_time_zone_unref(tz);
    }
}

/* ---- the sweeps ---------------------------------------------------------- */

static void sweep_at_all_days(const char *zone, GTimeZone *tz, int64_t trans)
{
    Sweep s;
    sweep_init(&s, zone, tz, trans, 2);
    KImage img;
    memset(&img, 0, sizeof img);
    for (int st = 0; st < 1440; st += 15)
        for (int en = st + 15; en <= 1440; en += 15) {
            fill_ok(&s.sp, 0x7f, st, en, -1, -1);
            KbRule r = at_rule(0x7f, st, en);
            char what[64];
            snprintf(what, sizeof what, "at %02d:%02d-%02d:%02d", st / 60, st % 60, en / 60, en % 60);
            check_dues(&s, &img, 0, &r, false, what);
        }
    ck_assert_int_gt(s.calls, 4656 * 65);
    span_free(&s.sp);
}

static void sweep_quiet(const char *zone, GTimeZone *tz, int64_t trans)
{
    Sweep s;
    sweep_init(&s, zone, tz, trans, 2);
    KbQuiet q = { 0, 0, ~0ULL };
    KImage img;
    memset(&img, 0, sizeof img);
    img.quiets = &q;
    img.nquiets = 1;
    KbRule r;
    memset(&r, 0, sizeof r);
    r.best_event = KB_NONE;
    for (int st = 0; st < 1440; st += 15)
        for (int en = 0; en < 1440; en += 15) {
            if (st == en) continue;
            q.start = st;
            q.end = en;
            fill_ok(&s.sp, 0, 0, 0, st, en);
            char what[64];
            snprintf(what, sizeof what, "quiet %02d:%02d-%02d:%02d", st / 60, st % 60, en / 60, en % 60);
            check_dues(&s, &img, ~0ULL, &r, false, what);
        }
    ck_assert_int_gt(s.calls, 9120 * 65);
    span_free(&s.sp);
}

static void sweep_at_days(const char *zone, GTimeZone *tz, int64_t trans)
{
    Sweep s;
    sweep_init(&s, zone, tz, trans, 9);
    KImage img;
    memset(&img, 0, sizeof img);
    int tday = s.sp.wday[(trans - s.sp.t0) / 60];           /* the transition's local weekday */
    int masks[2] = { 1 << tday, 0x7f & ~(1 << tday) };
    for (int k = 0; k < 2; k++)
        for (int st = 0; st < 1440; st += 60)
            for (int en = st + 60; en <= 1440; en += 60) {
                fill_ok(&s.sp, masks[k], st, en, -1, -1);
                KbRule r = at_rule(masks[k], st, en);
                char what[64];
                snprintf(what, sizeof what, "at days 0x%02x %02d:00-%02d:00", masks[k], st / 60, en / 60);
                check_dues(&s, &img, 0, &r, false, what);
            }
    span_free(&s.sp);
}

static void sweep_at_and_quiet(const char *zone, GTimeZone *tz, int64_t trans)
{
    Sweep s;
    sweep_init(&s, zone, tz, trans, 9);
    KbQuiet q = { 0, 0, ~0ULL };
    KImage img;
    memset(&img, 0, sizeof img);
    img.quiets = &q;
    img.nquiets = 1;
    uint32_t seed = (uint32_t)(trans ^ (trans >> 32)) | 1u;
    int nevers = 0;
    for (int i = 0; i < 300; i++) {
        seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
        int ast = (int)(seed % 96) * 15, aen = ast + 15 * (1 + (int)((seed >> 8) % (uint32_t)((1440 - ast) / 15)));
        int qst = (int)((seed >> 16) % 96) * 15, qen = (int)((seed >> 24) % 96) * 15;
        if (qst == qen) continue;
        int days = i % 3 == 0 ? (int)((seed >> 5) % 127) + 1 : 0x7f;
        q.start = qst;
        q.end = qen;
        fill_ok(&s.sp, days, ast, aen, qst, qen);
        KbRule r = at_rule(days, ast, aen);
        char what[96];
        snprintf(what, sizeof what, "at days 0x%02x %d-%d, quiet %d-%d (minutes)", days, ast, aen, qst, qen);
        check_dues(&s, &img, ~0ULL, &r, true, what);
        nevers += s.sp.next[0] < 0;
    }
    ck_assert_int_gt(nevers, 0);                            /* the never path was reached */
    span_free(&s.sp);
}

static void sweep_best_time(const char *zone, GTimeZone *tz, int64_t trans)
{
    Sweep s;
    sweep_init(&s, zone, tz, trans, 9);
    Span *sp = &s.sp;
    KbRetention ret;
    memset(&ret, 0, sizeof ret);
    uint32_t ev = 0;
    KImage img;
    memset(&img, 0, sizeof img);
    img.events = &ev;
    img.nevents = 1;
    img.retention = &ret;
    KbRule r;
    memset(&r, 0, sizeof r);
    r.at = KB_AT_BEST_TIME;
    r.best_event = 0;
    int base = (int)((trans - sp->t0) / 60);
    for (int how = 0; how < 168; how++) {
        int W = how / 24, H = how % 24;
        /* the minutes at which hour H of weekday W starts: its HH:00, or
         * the end of a gap that skips it */
        for (int i = 0; i < sp->n; i++) {
            bool st = sp->wday[i] == W && sp->mod[i] == H * 60;
            if (!st && i > 0) {
                int64_t dayst = sp->wall[i] / 86400 * 86400;
                for (int back = 0; back <= 1 && !st; back++) {
                    int64_t X = dayst - back * 86400LL + H * 3600LL;
                    int wd = (sp->wday[i] + 7 - back) % 7;
                    st = wd == W && sp->wall[i - 1] < X && X < sp->wall[i];
                }
            }
            sp->ok[i] = st;
        }
        span_scan(sp);
        /* three events in that hour: a minute of the span in it */
        KrValue cells[3];
        int found = -1;
        for (int i = 0; i < sp->n && found < 0; i++)
            if (sp->wday[i] == W && sp->mod[i] / 60 == H) found = i;
        ck_assert_int_ge(found, 0);
        for (int k = 0; k < 3; k++) cells[k].i = sp->t0 + 60LL * found + 60 * k;
        KrHistSpan h = { cells, 0, 3, 1 };   /* three kept events, no attributes */
        for (int j = base - DUE_BEFORE; j <= base + DUE_AFTER; j += 15)
            for (int v = 0; v < 2; v++) {
                int64_t due = sp->t0 + 60LL * j - v;
                /* first start s >= due + 1800, minute by minute */
                int64_t want = KR_NEVER;
                for (int i = 0; i < sp->n; i++)
                    if (sp->t0 + 60LL * i >= due + 1800) {
                        ck_assert_int_ge(sp->next[i], 0);
                        want = sp->t0 + 60LL * sp->next[i] - 1800;
                        break;
                    }
                bool moved;
                int64_t got = kr_place(&img, 0, &r, true, 0, s.z, &h, due, &moved);
                if (got != want)
                    ck_abort_msg("%s, transition %lld, best hour %d (weekday %d, %02d:00): due %lld: "
                                 "kr_place %lld, scan %lld", zone, (long long)trans, how, W, H,
                                 (long long)due, (long long)got, (long long)want);
            }
    }
    span_free(sp);
}

START_TEST(test_sweep_at)     { each_transition(sweep_at_all_days); }
END_TEST
START_TEST(test_sweep_quiet)  { each_transition(sweep_quiet); }
END_TEST
START_TEST(test_sweep_at_days) { each_transition(sweep_at_days); }
END_TEST
START_TEST(test_sweep_at_and_quiet) { each_transition(sweep_at_and_quiet); }
END_TEST
START_TEST(test_sweep_best_time) { each_transition(sweep_best_time); }
END_TEST

/* The reproductions of issue 13 as plain assertions (New York, fall back
 * 2026-11-01T06:00:00Z; Oslo, best hour Sunday 03:00). */
START_TEST(test_issue_reproductions)
{
    KzZone *ny = kz_zone("America/New_York");
    KImage img;
    memset(&img, 0, sizeof img);
    KbRule r = at_rule(0x7f, 75, 105);                      /* at 01:15-01:45 */
    bool moved;
    ck_assert_int_eq(kr_place(&img, 0, &r, true, 0, ny, NULL, 1793512200LL, &moved),   /* 05:50Z */
                     1793513700LL);                                                    /* 06:15Z */
    ck_assert_int_eq(kr_place(&img, 0, &r, true, 0, ny, NULL, 1793514000LL, &moved),   /* 06:20Z */
                     1793514000LL);
    KbQuiet q = { 105, 75, ~0ULL };                          /* quiet 01:45-01:15 */
    img.quiets = &q;
    img.nquiets = 1;
    KbRule plain;
    memset(&plain, 0, sizeof plain);
    ck_assert_int_eq(kr_place(&img, ~0ULL, &plain, true, 0, ny, NULL, 1793512200LL, &moved),
                     1793513700LL);
    ck_assert(moved);
}
END_TEST

Suite *dstsweep_suite(void)
{
    Suite *s = suite_create("dstsweep");
    TCase *tc = tcase_create("dstsweep");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_issue_reproductions);
    tcase_add_test(tc, test_sweep_at);
    tcase_add_test(tc, test_sweep_quiet);
    tcase_add_test(tc, test_sweep_at_days);
    tcase_add_test(tc, test_sweep_at_and_quiet);
    tcase_add_test(tc, test_sweep_best_time);
    suite_add_tcase(s, tc);
    return s;
}
