/* test_stats.c -- runtime/stats.c: Wilson score and Newcombe hybrid score
 * intervals against values computed independently:
 *   - textbook: Newcombe (1998), "Two-sided confidence intervals for the
 *     single proportion", Stat Med 17:857-872, Table I (Wilson score,
 *     z = 1.96), and "Interval estimation for the difference between
 *     independent proportions", Stat Med 17:873-890, Table II (method 10),
 *     both to 4 decimals (compared within 0.00006: the tables round
 *     z = 1.96 results, one of them on a 5 in the fifth decimal);
 *   - a table computed with python3 (plain math module, an independent
 *     implementation of the same formulas, z = 1.959964) to 1e-9.
 * Also contact pressure, quantiles of values counted by value (KrTally)
 * and the sort in runs (KrSort, extsort.c), each against a direct count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "runtime/runtime.h"
#include "runtime/internal.h"

static const struct { unsigned x, n; double lo, hi; } wilson_book[] = {
    { 81, 263, 0.2553, 0.3662 },
    { 15, 148, 0.0624, 0.1605 },
    { 0, 20, 0.0000, 0.1611 },
    { 1, 29, 0.0061, 0.1718 },
};

static const struct { unsigned x1, n1, x2, n2; double lo, hi; } newcombe_book[] = {
    { 56, 70, 48, 80, 0.0524, 0.3339 },
    { 9, 10, 3, 10, 0.1705, 0.8090 },
    { 6, 7, 2, 7, 0.0582, 0.8062 },
    { 5, 56, 0, 29, -0.0381, 0.1926 },
    { 0, 10, 0, 20, -0.1611, 0.2775 },
    { 0, 10, 0, 10, -0.2775, 0.2775 },
    { 10, 10, 0, 20, 0.6791, 1.0000 },
    { 10, 10, 0, 10, 0.6075, 1.0000 },
};

/* python3: z = 1.959964 */
static const struct { unsigned x, n; double lo, hi; } wilson_py[] = {
    { 0, 1, 0.000000000000, 0.793450688208 },
    { 1, 1, 0.206549311792, 1.000000000000 },
    { 1, 2, 0.094531204639, 0.905468795361 },
    { 3, 10, 0.107791266556, 0.603221854654 },
    { 7, 10, 0.396778145346, 0.892208733444 },
    { 12, 100, 0.069994064074, 0.198120994991 },
    { 50, 100, 0.403831529635, 0.596168470365 },
    { 99, 100, 0.945513803251, 0.998232567955 },
    { 250, 1000, 0.224153098788, 0.277760280485 },
    { 1, 10000, 0.000017652673, 0.000566268904 },
    { 37, 41, 0.774523185682, 0.961402915370 },
};

static const struct { unsigned x1, n1, x2, n2; double lo, hi; } newcombe_py[] = {
    { 30, 100, 12, 100, 0.067429229424, 0.288108915513 },
    { 5, 20, 15, 20, -0.695357056353, -0.190710250260 },
    { 1, 3, 2, 3, -0.717775112913, 0.315800687258 },
    { 120, 400, 80, 400, 0.040032376398, 0.159076506201 },
    { 0, 5, 5, 5, -1.000000000000, -0.385549000209 },
};

#define N(a) (sizeof a / sizeof a[0])

START_TEST(wilson_textbook)
{
    for (size_t i = 0; i < N(wilson_book); i++) {
        double lo, hi;
        kr_wilson(wilson_book[i].x, wilson_book[i].n, 1.96, &lo, &hi);
        ck_assert_msg(fabs(lo - wilson_book[i].lo) < 0.00005 && fabs(hi - wilson_book[i].hi) < 0.00005,
                      "%u/%u: [%.5f, %.5f]", wilson_book[i].x, wilson_book[i].n, lo, hi);
    }
}
END_TEST

START_TEST(newcombe_textbook)
{
    for (size_t i = 0; i < N(newcombe_book); i++) {
        double lo, hi;
        kr_newcombe(newcombe_book[i].x1, newcombe_book[i].n1, newcombe_book[i].x2, newcombe_book[i].n2,
                    1.96, &lo, &hi);
        ck_assert_msg(fabs(lo - newcombe_book[i].lo) < 0.00006 && fabs(hi - newcombe_book[i].hi) < 0.00006,
                      "case %zu: [%.5f, %.5f]", i, lo, hi);
    }
}
END_TEST

START_TEST(wilson_table)
{
    for (size_t i = 0; i < N(wilson_py); i++) {
        double lo, hi;
        kr_wilson(wilson_py[i].x, wilson_py[i].n, KR_Z95, &lo, &hi);
        ck_assert_msg(fabs(lo - wilson_py[i].lo) < 1e-9 && fabs(hi - wilson_py[i].hi) < 1e-9,
                      "%u/%u: [%.12f, %.12f]", wilson_py[i].x, wilson_py[i].n, lo, hi);
    }
}
END_TEST

START_TEST(newcombe_table)
{
    for (size_t i = 0; i < N(newcombe_py); i++) {
        double lo, hi;
        kr_newcombe(newcombe_py[i].x1, newcombe_py[i].n1, newcombe_py[i].x2, newcombe_py[i].n2, KR_Z95, &lo, &hi);
        ck_assert_msg(fabs(lo - newcombe_py[i].lo) < 1e-9 && fabs(hi - newcombe_py[i].hi) < 1e-9,
                      "case %zu: [%.12f, %.12f]", i, lo, hi);
    }
}
END_TEST

/* The bounds at 0 and n are exactly 0 and 1 (no "-0.0000" in the CSV). */
START_TEST(wilson_edges_exact)
{
    for (unsigned n = 1; n < 2000; n += 37) {
        double lo, hi;
        kr_wilson(0, n, KR_Z95, &lo, &hi);
        ck_assert(lo == 0.0 && !signbit(lo) && hi < 1.0);
        kr_wilson(n, n, KR_Z95, &lo, &hi);
        ck_assert(hi == 1.0 && lo > 0.0);
    }
}
END_TEST

/* KrPressure: the most asks per customer in any window (t - w, t], the
 * asks given in time order, against a brute force over every window end, on
 * a fixed pseudo-random set (customers in any order, equal times, asks
 * exactly w apart; more asks in one window than the ring's first size, so
 * that it grows while it wraps). */
typedef struct Most { uint32_t got[64]; int calls; } Most;
static void most_cb(void *arg, uint32_t cust, uint32_t most)
{
    Most *m = arg;
    ck_assert_uint_lt(cust, 64);
    ck_assert_uint_eq(m->got[cust], 0);      /* once per customer */
    m->got[cust] = most;
    m->calls++;
}

static int by_time(const void *pa, const void *pb)
{
    const KrAskRef *a = pa, *b = pb;
    return a->time < b->time ? -1 : a->time > b->time;
}

START_TEST(pressure_windows)
{
    enum { N = 3000, W = 1500 };
    static KrAskRef v[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i].cust = (uint32_t)((x >> 33) % 40);
        v[i].time = (int64_t)((x >> 13) % 2000) + 10000;
    }
    v[0] = (KrAskRef){ 41, 100 }; v[1] = (KrAskRef){ 41, 100 + W }; v[2] = (KrAskRef){ 41, 100 + W };
    qsort(v, N, sizeof *v, by_time);
    KrPressure p = { .w = W };
    for (int i = 0; i < N; i++) ck_assert_int_eq(kr_pressure_add(&p, v[i].cust, v[i].time), 0);
    Most m;
    memset(&m, 0, sizeof m);
    kr_pressure_each(&p, most_cb, &m);
    uint32_t best[64] = { 0 };
    for (int i = 0; i < N; i++) {
        uint32_t k = 0;
        for (int j = 0; j < N; j++)
            k += v[j].cust == v[i].cust && v[j].time > v[i].time - W && v[j].time <= v[i].time;
        if (k > best[v[i].cust]) best[v[i].cust] = k;
    }
    int custs = 0;
    for (uint32_t c = 0; c < 64; c++) {
        custs += best[c] > 0;
        ck_assert_uint_eq(m.got[c], best[c]);
    }
    ck_assert_int_eq(m.calls, custs);
    ck_assert_uint_eq(m.got[41], 2);      /* 100 is outside (1600 - 1500, 1600] */
    ck_assert_uint_gt(p.cap, 1024);
    kr_pressure_free(&p);
    KrPressure none = { .w = W };
    kr_pressure_each(&none, most_cb, &m);  /* nothing: no call */
    ck_assert_int_eq(m.calls, custs);
}
END_TEST

/* KrTally against kt_quantile on the same values: few distinct values
 * many times over, and all distinct, at the ranks the readout and diff
 * ask for and at the ends. */
START_TEST(tally_quantiles)
{
    enum { N = 5001 };
    static int64_t v[N], w[N];
    const double qs[] = { 0.0, 0.01, 0.5, 0.9, 0.999, 1.0 };
    for (int round = 0; round < 2; round++) {
        KrTally t = { 0 };
        uint64_t x = 99;
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            v[i] = round == 0 ? (int64_t)((x >> 33) % 37) * 3600 - 7200 : (int64_t)(x >> 11) - (INT64_C(1) << 52);
            ck_assert_int_eq(kr_tally_add(&t, v[i]), 0);
        }
        ck_assert_uint_eq(t.total, N);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            memcpy(w, v, sizeof v);
            ck_assert_int_eq(kr_tally_quantile(&t, qs[k]), kt_quantile(w, N, qs[k]));
        }
        kr_tally_free(&t);
    }
    KrTally empty = { 0 };
    ck_assert_int_eq(kr_tally_quantile(&empty, 0.5), 0);
    KrTally one = { 0 };
    ck_assert_int_eq(kr_tally_add(&one, -5), 0);
    ck_assert_int_eq(kr_tally_quantile(&one, 0.5), -5);
    ck_assert_int_eq(kr_tally_quantile(&one, 0.9), -5);
    kr_tally_free(&one);
}
END_TEST

/* KrSort: records in the comparison's order whether they stayed in memory,
 * went to runs on disk (a budget of 64 records: dozens of runs, the last
 * records left in memory), or could not (no temporary directory: memory
 * grows instead). */
typedef struct SRec { uint32_t key, seq; } SRec;
static int srec_cmp(const void *pa, const void *pb)
{
    const SRec *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void sort_check(size_t budget, uint32_t n, bool want_spill)
{
    KrSort *s = kr_sort_new(sizeof(SRec), srec_cmp, budget, "kairos-unit");
    ck_assert_ptr_nonnull(s);
    uint64_t x = 7;
    for (uint32_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        SRec *r = kr_sort_slot(s);
        ck_assert_ptr_nonnull(r);
        *r = (SRec){ (uint32_t)((x >> 33) % 100), i };
    }
    ck_assert_int_eq(kr_sort_spilled(s) > 0, want_spill);
    ck_assert_int_eq(kr_sort_finish(s), 0);
    ck_assert_ptr_null(kr_sort_slot(s));       /* nothing is added after the end */
    SRec buf, prev = { 0, 0 };
    const SRec *r;
    uint32_t got = 0;
    uint64_t sum = 0;
    while ((r = kr_sort_next(s, &buf))) {
        if (got) ck_assert_int_lt(srec_cmp(&prev, r), 0);
        prev = *r;
        sum += r->seq;
        got++;
    }
    ck_assert(!kr_sort_failed(s));
    ck_assert_uint_eq(got, n);
    ck_assert_uint_eq(sum, (uint64_t)n * (n - 1u) / 2u);     /* each record once */
    ck_assert_ptr_null(kr_sort_next(s, &buf));
    kr_sort_free(s);
}

START_TEST(sort_in_runs)
{
    sort_check(1u << 20, 10000, false);        /* in memory */
    sort_check(0, 0, false);                   /* nothing */
    sort_check(64 * sizeof(SRec), 10000, true);    /* 156 runs and 16 records in memory */
    sort_check(64 * sizeof(SRec), 6400, true);     /* runs only */
    const char *old = getenv("TMPDIR");
    char *keep = old ? strdup(old) : NULL;
    setenv("TMPDIR", "/nonexistent-kairos-unit", 1);
    sort_check(64 * sizeof(SRec), 10000, false);   /* no temporary file: in memory */
    if (keep) { setenv("TMPDIR", keep, 1); free(keep); } else unsetenv("TMPDIR");
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("intervals");
    tcase_add_test(tc, wilson_textbook);
    tcase_add_test(tc, newcombe_textbook);
    tcase_add_test(tc, wilson_table);
    tcase_add_test(tc, newcombe_table);
    tcase_add_test(tc, wilson_edges_exact);
    tcase_add_test(tc, pressure_windows);
    tcase_add_test(tc, tally_quantiles);
    tcase_add_test(tc, sort_in_runs);
    suite_add_tcase(s, tc);
    return s;
}
