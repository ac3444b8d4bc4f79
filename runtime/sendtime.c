/* sendtime.c -- when an attempt may be sent (LANGUAGE.md 4.3, 4.9 and the
 * `every` periods): the rule's at window or best_time and the channel's
 * quiet hours move a nominal time forward to the first allowed instant,
 * each instant judged by its own local wall time (so DST is handled by the
 * instants, not by mapping wall times: see the placing section); and the
 * boundaries of periodic (`every`) rules, whose local wall times are mapped
 * with kz_next_local (a nonexistent time -> the end of the gap, an
 * ambiguous one -> its first occurrence at or after the time at hand).
 */
#include "internal.h"
#include "hist.h"

#define PLACE_STEPS 400           /* offset changes crossed before giving up on a send time */

static uint64_t chan_bit(uint32_t ch) { return ch < 64 ? 1ULL << ch : 0; }

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* best_time (4.9): the first instant >= t that lies 1,800 s before an
 * instant at which the local hour-of-week holding most of the kept events
 * h starts (ties: the earliest from Monday 00:00); t if fewer than 3
 * events.  The hour starts at each occurrence of its local HH:00 (both, on
 * a day that repeats it), or at the end of the gap that skips it. */
static int64_t best_time(const KImage *img, const KbRule *r, const KrHistSpan *h, KzZone *z, int64_t t)
{
    if (!h || r->best_event >= img->nevents || h->hi - h->lo < 3) return t;
    uint32_t bins[168] = { 0 };
    for (uint32_t i = h->lo; i < h->hi; i++) {
        KzLocal l;
        kz_to_local(z, kr_hist_time(h, i), &l);
        bins[l.wday * 24 + l.hour]++;
    }
    int best = 0;
    for (int i = 1; i < 168; i++)
        if (bins[i] > bins[best]) best = i;
    int wd = best / 24, hour = best % 24;
    int64_t s0 = add_sat(t, 1800);
    KzLocal l;
    kz_to_local(z, s0, &l);
    for (int k = -1; k <= 8; k++) {
        if ((l.wday + k + 7) % 7 != wd) continue;
        int64_t s = kz_next_local(z, l.year, l.month, l.day + k, hour, 0, 0, s0);
        if (s != KZ_NONE) return s - 1800;
    }
    return t;
}

/* ---- placing an attempt (4.3 of the contract, SPEC 4.5) -------------------
 *
 * The allowed instants are those whose local wall time is inside the at
 * window (first attempt) and outside every quiet window of the channel
 * (asks).  "Wall seconds" below are local times counted as seconds since
 * 1970-01-01 as if they were UTC (instant + UTC offset).  Between two
 * changes of the zone's offset the wall clock runs with the instants, so
 * the search goes segment by segment: find the first allowed wall time at
 * or after the current one on the wall clock alone, and take it if the
 * offset does not change before the instant it stands for; otherwise go on
 * from the instant the offset changes.  So a window start or quiet end that
 * recurs in a repeated hour (DST fall-back) is reached at its first
 * occurrence after the due instant, and one in a skipped hour at the end
 * of the gap. */

#define WALL_SPAN (8 * 86400LL)   /* the wall-clock predicate repeats weekly */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Weekday (0 = Monday) of wall day d (days since 1970-01-01, a Thursday). */
static int wall_wday(int64_t d) { return (int)(((d % 7) + 7 + 3) % 7); }

/* The first wall time >= w inside the at window of r. */
static int64_t at_next(const KbRule *r, int64_t w)
{
    int64_t day = floor_div(w, 86400);
    for (int k = 0; k <= 7; k++) {
        if (!(r->at_days & (1u << wall_wday(day + k)))) continue;
        int64_t s = (day + k) * 86400 + r->at_start * 60, e = (day + k) * 86400 + r->at_end * 60;
        int64_t c = w > s ? w : s;
        if (c < e) return c;
    }
    return INT64_MAX;             /* not reached: at_days is never empty */
}

/* If wall time w is inside quiet window q: the wall time q ends (> w); else w. */
static int64_t quiet_end(const KbQuiet *q, int64_t w)
{
    int64_t day = floor_div(w, 86400);
    int sod = (int)(w - day * 86400), qs = q->start * 60, qe = q->end * 60;
    if (qs < qe) return sod >= qs && sod < qe ? day * 86400 + qe : w;
    if (sod >= qs) return (day + 1) * 86400 + qe;
    return sod < qe ? day * 86400 + qe : w;
}

/* The first allowed wall time >= w, or INT64_MAX if no wall time is
 * allowed.  *quiet: a quiet window moved the candidate. */
static int64_t wall_first(const KImage *img, const KbRule *r, bool at_window, uint64_t bit,
                          int64_t w, bool *quiet)
{
    int64_t limit = w + WALL_SPAN;
    while (w < limit) {
        if (at_window) {
            int64_t a = at_next(r, w);
            if (a != w) { w = a; continue; }
        }
        bool again = false;
        if (!r->is_task)
            for (uint32_t i = 0; i < img->nquiets; i++) {
                const KbQuiet *q = &img->quiets[i];
                if (!(q->channels & bit) || q->start == q->end) continue;
                int64_t e = quiet_end(q, w);
                if (e != w) { w = e; *quiet = again = true; break; }
            }
        if (!again) return w;
    }
    return INT64_MAX;
}

/* Is z's UTC offset off at every instant of [a, b]?  If not, *chg is the
 * first instant after a with another offset.  (A UTC day holds at most one
 * change, as in tz.c.) */
static bool offset_holds(KzZone *z, int32_t off, int64_t a, int64_t b, int64_t *chg)
{
    int64_t lo = a;
    while (lo < b) {
        int64_t hi = b - lo > 43200 ? lo + 43200 : b;
        if (kz_offset(z, hi) != off) {
            while (hi - lo > 1) {                   /* off at lo, another at hi */
                int64_t mid = lo + (hi - lo) / 2;
                if (kz_offset(z, mid) == off) lo = mid; else hi = mid;
            }
            *chg = hi;
            return false;
        }
        lo = hi;
    }
    return true;
}

int64_t kr_place(const KImage *img, uint64_t quiet_mask, const KbRule *r, bool first, uint32_t ch,
                 KzZone *z, const KrHistSpan *best, int64_t t, bool *moved)
{
    *moved = false;
    if (t > KR_TIME_MAX) return KR_NEVER;
    if (first && r->at == KB_AT_BEST_TIME) t = best_time(img, r, best, z, t);
    uint64_t bit = chan_bit(ch);
    bool at_window = first && r->at == KB_AT_WINDOW;
    if (!at_window && (r->is_task || !(quiet_mask & bit))) return t;      /* nothing to move */
    for (int step = 0; step < PLACE_STEPS; step++) {
        if (t > KR_TIME_MAX) return KR_NEVER;
        int32_t off = kz_offset(z, t);
        int64_t w = wall_first(img, r, at_window, bit, t + off, moved);
        if (w == INT64_MAX) return KR_NEVER;
        int64_t u = w - off, chg;
        if (u == t || offset_holds(z, off, t, u, &chg)) return u > KR_TIME_MAX ? KR_NEVER : u;
        t = chg;
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
