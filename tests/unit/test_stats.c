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
 */
#include <math.h>
#include <stdlib.h>
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
    suite_add_tcase(s, tc);
    return s;
}
