/* stats.c -- interval estimates for the readout (kr_wilson, kr_newcombe;
 * runtime.h) and contact pressure (kr_busiest_windows; diff and report).  Tested against independently computed values in
 * tests/unit/test_stats.c.
 */
#include <math.h>
#include <stdlib.h>
#include "internal.h"

void kr_wilson(uint64_t x, uint64_t n, double z, double *low, double *high)
{
    if (n == 0) { *low = 0; *high = 1; return; }
    double nn = (double)n, p = (double)x / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double centre = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    double lo = centre - half, hi = centre + half;
    /* at x = 0 or x = n the bound is exactly 0 or 1: no rounding residue */
    *low = x == 0 || lo < 0 ? 0.0 : lo;
    *high = x == n || hi > 1 ? 1.0 : hi;
}

void kr_newcombe(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double z, double *low, double *high)
{
    double l1, u1, l2, u2;
    kr_wilson(x1, n1, z, &l1, &u1);
    kr_wilson(x2, n2, z, &l2, &u2);
    double p1 = n1 ? (double)x1 / (double)n1 : 0, p2 = n2 ? (double)x2 / (double)n2 : 0, d = p1 - p2;
    *low = d - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    *high = d + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

static int askref_cmp(const void *pa, const void *pb)
{
    const KrAskRef *a = pa, *b = pb;
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    return a->time < b->time ? -1 : a->time > b->time;
}

void kr_busiest_windows(KrAskRef *v, size_t n, int64_t w, void (*fn)(void *arg, uint32_t cust, uint32_t most),
                        void *arg)
{
    if (n) qsort(v, n, sizeof *v, askref_cmp);
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && v[e].cust == v[i].cust) e++;
        uint32_t best = 0;
        size_t lo = i;
        for (size_t x = i; x < e; x++) {
            while (v[lo].time <= v[x].time - w) lo++;       /* window (t - w, t] */
            uint32_t c = (uint32_t)(x - lo + 1);
            if (c > best) best = c;
        }
        fn(arg, v[i].cust, best);
        i = e;
    }
}
