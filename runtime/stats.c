/* stats.c -- interval estimates for the readout (kr_wilson, kr_newcombe;
 * runtime.h), contact pressure (KrPressure; diff and report) and values
 * counted by value for their quantiles (KrTally; diff and readout).  Tested
 * against independently computed values in tests/unit/test_stats.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- contact pressure as the asks come, in time order (KrPressure) ----------
 * The asks of the last w seconds wait in a ring, oldest first; each new ask
 * first lets those of (-inf, t - w] leave their customers' counts, so a
 * customer's count is its asks in (t - w, t], and its most is the most
 * over every ask's t (where the count can only have grown). */

int kr_pressure_add(KrPressure *p, uint32_t cust, int64_t t)
{
    if (cust >= p->ncust) {
        size_t nc = p->ncust ? p->ncust : 1024u;
        while (nc <= cust) nc *= 2;
        uint32_t *cur = realloc(p->cur, nc * sizeof *cur);
        if (!cur) return -1;
        p->cur = cur;
        uint32_t *best = realloc(p->best, nc * sizeof *best);
        if (!best) return -1;
        p->best = best;
        memset(p->cur + p->ncust, 0, (nc - p->ncust) * sizeof *cur);
        memset(p->best + p->ncust, 0, (nc - p->ncust) * sizeof *best);
        p->ncust = nc;
    }
    /* the asks that left the window (t - w, t] leave their customers' counts */
    while (p->len && p->q[p->head].time <= t - p->w) {
        p->cur[p->q[p->head].cust]--;
        p->head = (p->head + 1u) & (p->cap - 1u);
        p->len--;
    }
    if (p->len == p->cap) {                        /* the ring doubles, its asks in order */
        size_t nc = p->cap ? p->cap * 2u : 1024u;
        KrAskRef *nq = malloc(nc * sizeof *nq);
        if (!nq) return -1;
        for (size_t i = 0; i < p->len; i++) nq[i] = p->q[(p->head + i) & (p->cap - 1u)];
        free(p->q);
        p->q = nq;
        p->cap = nc;
        p->head = 0;
    }
    p->q[(p->head + p->len) & (p->cap - 1u)] = (KrAskRef){ cust, t };
    p->len++;
    if (++p->cur[cust] > p->best[cust]) p->best[cust] = p->cur[cust];
    return 0;
}

void kr_pressure_each(const KrPressure *p, void (*fn)(void *arg, uint32_t cust, uint32_t most), void *arg)
{
    for (size_t c = 0; c < p->ncust; c++)
        if (p->best[c]) fn(arg, (uint32_t)c, p->best[c]);
}

void kr_pressure_free(KrPressure *p)
{
    free(p->cur);
    free(p->best);
    free(p->q);
    memset(p, 0, sizeof *p);
}

/* ---- values counted by value (KrTally) ------------------------------------------
 * Open addressing on the value (Fibonacci hashing), kept at most half full;
 * a quantile packs the used entries to the front, sorts them by value and
 * walks their counts to the nearest rank. */

static size_t tally_home(int64_t v, size_t cap)
{
    return (size_t)((uint64_t)v * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1u);
}

int kr_tally_add(KrTally *t, int64_t v)
{
    if (2u * (t->n + 1u) > t->cap) {
        size_t nc = t->cap ? t->cap * 2u : 64u;
        KrTallyEnt *ne = calloc(nc, sizeof *ne);
        if (!ne) return -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->e[i].n) continue;
            size_t j = tally_home(t->e[i].v, nc);
            while (ne[j].n) j = (j + 1u) & (nc - 1u);
            ne[j] = t->e[i];
        }
        free(t->e);
        t->e = ne;
        t->cap = nc;
    }
    size_t j = tally_home(v, t->cap);
    while (t->e[j].n && t->e[j].v != v) j = (j + 1u) & (t->cap - 1u);
    if (!t->e[j].n) { t->e[j].v = v; t->n++; }
    t->e[j].n++;
    t->total++;
    return 0;
}

static int tally_cmp(const void *pa, const void *pb)
{
    const KrTallyEnt *a = pa, *b = pb;
    return a->v < b->v ? -1 : a->v > b->v;
}

int64_t kr_tally_quantile(KrTally *t, double q)
{
    if (!t->total) return 0;
    if (!t->frozen) {
        size_t n = 0;
        for (size_t i = 0; i < t->cap; i++)
            if (t->e[i].n) t->e[n++] = t->e[i];
        qsort(t->e, n, sizeof *t->e, tally_cmp);
        t->frozen = true;
    }
    /* the rank as kt_quantile's: ceil(q * total), within [1, total] */
    uint64_t k = (uint64_t)ceil(q * (double)t->total), seen = 0;
    if (k < 1) k = 1;
    if (k > t->total) k = t->total;
    for (size_t i = 0; i < t->n; i++)
        if ((seen += t->e[i].n) >= k) return t->e[i].v;
    return t->e[t->n - 1].v;
}

void kr_tally_free(KrTally *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}
