/* sendtime.c -- when an attempt may be sent (LANGUAGE.md 4.3, 4.9 and the
 * `every` periods): the rule's at window or best_time and the channel's
 * quiet hours move a nominal time forward, in the customer's local time;
 * and the boundaries of periodic (`every`) rules.  DST: local wall times
 * are mapped with kz_next_local (a nonexistent time -> the end of the gap,
 * an ambiguous one -> its first occurrence at or after the time at hand).
 */
#include "internal.h"

#define PLACE_STEPS 400           /* moves tried before giving up on a send time */

static uint64_t chan_bit(uint32_t ch) { return ch < 64 ? 1ULL << ch : 0; }

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int sec_of_day(const KzLocal *l) { return l->hour * 3600 + l->minute * 60 + l->second; }

/* First instant > t at local date l (+ day_off days), minute m of the day. */
static int64_t local_at(KzZone *z, const KzLocal *l, int day_off, int minute, int64_t t)
{
    return kz_next_local(z, l->year, l->month, l->day + day_off, minute / 60, minute % 60, 0, t + 1);
}

/* The first start of the rule's at window after t (KZ_NONE if none). */
static int64_t at_next_start(KzZone *z, const KbRule *r, const KzLocal *l, int64_t t)
{
    int sod = sec_of_day(l);
    for (int k = 0; k <= 7; k++) {
        if (!(r->at_days & (1u << ((l->wday + k) % 7)))) continue;
        if (k == 0 && sod >= r->at_start * 60) continue;
        int64_t u = local_at(z, l, k, r->at_start, t);
        if (u != KZ_NONE) return u;
    }
    return KZ_NONE;
}

/* best_time (4.9): the first instant >= t, 30 minutes (wall clock) before
 * the start of the local hour-of-week holding most of the kept events h
 * (ties: the earliest from Monday 00:00); t if fewer than 3 events. */
static int64_t best_time(const KImage *img, const KbRule *r, const KrHist *h, KzZone *z, int64_t t)
{
    if (!h || r->best_event >= img->nevents || h->n - h->head < 3) return t;
    uint32_t stride = 1 + img->retention[r->best_event].nattrs;
    uint32_t bins[168] = { 0 };
    for (uint32_t i = h->head; i < h->n; i++) {
        KzLocal l;
        kz_to_local(z, h->cells[(size_t)i * stride].i, &l);
        bins[l.wday * 24 + l.hour]++;
    }
    int best = 0;
    for (int i = 1; i < 168; i++)
        if (bins[i] > bins[best]) best = i;
    int mow = best * 60 - 30;
    if (mow < 0) mow += 7 * 1440;
    int wd = mow / 1440, mod = mow % 1440;
    KzLocal l;
    kz_to_local(z, t, &l);
    for (int k = 0; k <= 8; k++) {
        if ((l.wday + k) % 7 != wd) continue;
        int64_t u = kz_next_local(z, l.year, l.month, l.day + k, mod / 60, mod % 60, 0, t);
        if (u != KZ_NONE) return u;
    }
    return t;
}

int64_t kr_place(const KImage *img, uint64_t quiet_mask, const KbRule *r, bool first, uint32_t ch,
                 KzZone *z, const KrHist *best, int64_t t, bool *moved)
{
    *moved = false;
    if (t > KR_TIME_MAX) return KR_NEVER;
    if (first && r->at == KB_AT_BEST_TIME) t = best_time(img, r, best, z, t);
    uint64_t bit = chan_bit(ch);
    bool at_window = first && r->at == KB_AT_WINDOW;
    if (!at_window && (r->is_task || !(quiet_mask & bit))) return t;      /* nothing to move */
    for (int step = 0; step < PLACE_STEPS; step++) {
        if (t > KR_TIME_MAX) return KR_NEVER;
        KzLocal l;
        kz_to_local(z, t, &l);
        int sod = sec_of_day(&l);
        if (first && r->at == KB_AT_WINDOW) {
            bool ok = (r->at_days & (1u << l.wday)) && sod >= r->at_start * 60 && sod < r->at_end * 60;
            if (!ok) {
                int64_t u = at_next_start(z, r, &l, t);
                t = u == KZ_NONE || u <= t ? t + 60 : u;
                continue;
            }
        }
        bool again = false;
        if (!r->is_task)
            for (uint32_t q = 0; q < img->nquiets && !again; q++) {
                const KbQuiet *qu = &img->quiets[q];
                if (!(qu->channels & bit) || qu->start == qu->end) continue;
                int qs = qu->start * 60, qe = qu->end * 60;
                bool in = qs < qe ? (sod >= qs && sod < qe) : (sod >= qs || sod < qe);
                if (!in) continue;
                int day_off = (qs > qe && sod >= qs) ? 1 : 0;
                int64_t u = local_at(z, &l, day_off, qu->end, t);
                t = u == KZ_NONE || u <= t ? t + 60 : u;
                *moved = again = true;
            }
        if (!again) return t;
    }
    return KR_NEVER;
}

int64_t kr_next_boundary(const KbRule *r, KzZone *z, int64_t first, int64_t tmin)
{
    if (tmin > KR_TIME_MAX) return KR_NEVER;
    int at = r->every_at >= 0 && r->every_at < 1440 ? r->every_at : 0;
    if (r->period == KB_PER_DURATION) {
        int64_t d = r->period_dur;
        if (d <= 0) return KR_NEVER;
        int64_t k = tmin <= first ? 1 : (tmin - first) / d;
        if (k < 1) k = 1;
        for (int i = 0; i < 4; i++, k++) {
            int64_t off;
            if (__builtin_mul_overflow(k, d, &off)) return KR_NEVER;
            int64_t b = add_sat(first, off);
            if (b > KR_TIME_MAX) return KR_NEVER;
            if (r->every_at >= 0) {
                KzLocal l;
                kz_to_local(z, b, &l);
                int64_t u = kz_next_local(z, l.year, l.month, l.day, at / 60, at % 60, 0, b);
                if (u == KZ_NONE) u = kz_next_local(z, l.year, l.month, l.day + 1, at / 60, at % 60, 0, b);
                b = u == KZ_NONE ? b : u;
            }
            if (b >= tmin) return b;
        }
        return KR_NEVER;
    }
    KzLocal l;
    kz_to_local(z, tmin, &l);
    for (int j = -1; j <= 4; j++) {
        int y = l.year, m = l.month, d = l.day;
        switch (r->period) {
        case KB_PER_DAY:     d += j; break;
        case KB_PER_WEEK:    d += 7 * j - l.wday; break;
        case KB_PER_MONTH:   m += j; d = 1; break;
        case KB_PER_QUARTER: m = (m - 1) / 3 * 3 + 1 + 3 * j; d = 1; break;
        case KB_PER_YEAR:    y += j; m = 1; d = 1; break;
        default: return KR_NEVER;
        }
        int64_t b = kz_from_local(z, y, m, d, at / 60, at % 60, 0);
        if (b >= tmin) return b;
    }
    return KR_NEVER;
}
