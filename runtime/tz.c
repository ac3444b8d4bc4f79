/* tz.c -- time zones for the replay (kz_ of internal.h): UTC offsets from
 * the system's IANA database through GLib's GTimeZone, local wall time of
 * an instant, and the instant of a local wall time (DST-correct: a
 * nonexistent wall time maps to the end of the gap, an ambiguous one to its
 * first occurrence).  Never touches TZ or localtime.
 *
 * Cache: zones are loaded once per name and kept for the life of the
 * process in a small table (behind a mutex: the partitioned replay runs on
 * several threads); the offsets of the UTC days a thread asked about are
 * memoized per thread (a direct-mapped thread-local table keyed by zone and
 * day), so the hot path (kz_offset) is an array lookup without a lock.
 * GLib's GTimeZone is immutable once loaded, safe to read from any thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include "internal.h"
#include "../lang/util.h"

#define DAY_CACHE 1024          /* memoized (zone, UTC day)s per thread (direct mapped) */
#define MAX_OFFSET 93600        /* no UTC offset is 26 hours or more */

/* One memoized UTC day: the offset at its start (off0) and at its end
 * (off1); if they differ, trans is the first second with off1.  A day has
 * at most one transition (true of every zone of the database). */
typedef struct KzDay { const KzZone *z; int64_t day; int64_t trans; int32_t off0, off1; } KzDay;

struct KzZone {
    GTimeZone *tz;
    char *name;
    uint64_t serial;              /* spreads zones over the day table */
};

/* Process-wide cache of loaded zones, by name (see the file comment). */
static struct {
    KzZone **zones;
    uint32_t n, cap;
    KzZone *utc;
    uint64_t serial;
} cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local KzDay day_cache[DAY_CACHE];

/* ---- calendar ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month and day may
 * be out of range: they carry into the year / the following days). */
int64_t kz_days_from_civil(int64_t y, int m, int d)
{
    int64_t mm = (int64_t)m - 1;
    int64_t carry = floor_div(mm, 12);
    y += carry;
    unsigned mo = (unsigned)(mm - carry * 12) + 1u;
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (mo > 2 ? mo - 3 : mo + 9) + 2u) / 5u;
    unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (int64_t)doe - 719468 + (int64_t)d - 1;
}

void kz_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    unsigned mp = (5u * doy + 2u) / 153u;
    unsigned dd = doy - (153u * mp + 2u) / 5u + 1u;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

/* ---- loading ------------------------------------------------------------- */

static KzZone *zone_new(GTimeZone *tz, const char *name)
{
    KzZone *z = malloc(sizeof *z);
    if (!z) return NULL;
    z->name = strdup(name);
    if (!z->name) { free(z); return NULL; }
    z->tz = tz;
    z->serial = ++cache.serial;
    return z;
}

static KzZone *utc_locked(void)
{
    if (!cache.utc) {
        GTimeZone *tz = g_time_zone_new_utc();
        if (!tz) return NULL;
        cache.utc = zone_new(tz, "UTC");
        if (!cache.utc) g_time_zone_unref(tz);
    }
    return cache.utc;
}

KzZone *kz_utc(void)
{
    pthread_mutex_lock(&cache_lock);
    KzZone *z = utc_locked();
    pthread_mutex_unlock(&cache_lock);
    return z;
}

static KzZone *zone_locked(const char *name)
{
    for (uint32_t i = 0; i < cache.n; i++)
        if (strcmp(cache.zones[i]->name, name) == 0) return cache.zones[i];
    if (strcmp(name, "UTC") == 0) return utc_locked();
    /* the one rule for zone names (lang/util.h), shared with check: GLib
     * also takes paths, POSIX TZ strings, offsets and non-zone files */
    if (!ku_zone_name(name)) return NULL;
    GTimeZone *tz = g_time_zone_new_identifier(name);
    if (!tz) return NULL;
    if (cache.n == cache.cap) {
        uint32_t nc = cache.cap ? cache.cap * 2 : 16;
        KzZone **nz = realloc(cache.zones, nc * sizeof *nz);
        if (!nz) { g_time_zone_unref(tz); return NULL; }
        cache.zones = nz;
        cache.cap = nc;
    }
    KzZone *z = zone_new(tz, name);
    if (!z) { g_time_zone_unref(tz); return NULL; }
    cache.zones[cache.n++] = z;
    return z;
}

KzZone *kz_zone(const char *name)
{
    if (!name) return NULL;
    pthread_mutex_lock(&cache_lock);
    KzZone *z = zone_locked(name);
    pthread_mutex_unlock(&cache_lock);
    return z;
}

const char *kz_name(const KzZone *z) { return z ? z->name : "UTC"; }

/* ---- offsets ------------------------------------------------------------- */

/* GLib's offset at instant t (one interval search). */
static int32_t glib_offset(const KzZone *z, int64_t t)
{
    gint64 tt = t;
    gint iv = g_time_zone_find_interval(z->tz, G_TIME_TYPE_UNIVERSAL, tt);
    if (iv < 0) return 0;
    return g_time_zone_get_offset(z->tz, iv);
}

/* Instants far outside years 0000-9999 (a saturated `time + duration` from
 * hostile bytecode) are clamped so that the day arithmetic below cannot
 * overflow; the replay never sends or formats such a time. */
#define KZ_T_LIMIT (INT64_C(1) << 52)
static int64_t clamp_t(int64_t t) { return t > KZ_T_LIMIT ? KZ_T_LIMIT : t < -KZ_T_LIMIT ? -KZ_T_LIMIT : t; }

int32_t kz_offset(KzZone *z, int64_t t)
{
    if (!z) return 0;
    t = clamp_t(t);
    int64_t day = floor_div(t, 86400);
    KzDay *c = &day_cache[((uint64_t)day + z->serial * 0x9E37u) % DAY_CACHE];
    if (c->day != day || c->z != z) {
        int64_t start = day * 86400;
        c->z = z;
        c->day = day;
        c->off0 = glib_offset(z, start);
        c->off1 = glib_offset(z, start + 86399);
        c->trans = start + 86400;
        if (c->off0 != c->off1) {
            /* bisect for the first second with off1 */
            int64_t lo = start, hi = start + 86399;     /* off(lo) = off0, off(hi) = off1 */
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (glib_offset(z, mid) == c->off0) lo = mid; else hi = mid;
            }
            c->trans = hi;
        }
    }
    return t < c->trans ? c->off0 : c->off1;
}

void kz_to_local(KzZone *z, int64_t t, KzLocal *out)
{
    t = clamp_t(t);
    int64_t l = t + kz_offset(z, t);
    int64_t days = floor_div(l, 86400);
    int64_t sod = l - days * 86400;
    kz_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    /* 1970-01-01 was a Thursday (3 when Monday is 0) */
    out->wday = (int)(((days % 7) + 7 + 3) % 7);
}

/* Local seconds (wall time counted as if it were UTC) of an instant. */
static int64_t local_secs(KzZone *z, int64_t t) { return t + kz_offset(z, t); }

int64_t kz_next_local(KzZone *z, int year, int month, int day, int hour, int minute,
                      int second, int64_t tmin)
{
    int64_t L = kz_days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 +
                (int64_t)minute * 60 + second;
    if (!z) return L >= tmin ? L : KZ_NONE;
    /* candidate offsets: those in force around L (at most one transition
     * in a day either side, but probe the middle too) */
    int32_t offs[3] = { kz_offset(z, L - MAX_OFFSET), kz_offset(z, L), kz_offset(z, L + MAX_OFFSET) };
    int64_t best = KZ_NONE;
    bool any = false;
    for (int i = 0; i < 3; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) dup |= offs[j] == offs[i];
        if (dup) continue;
        int64_t u = L - offs[i];
        if (kz_offset(z, u) != offs[i]) continue;
        any = true;
        if (u >= tmin && (best == KZ_NONE || u < best)) best = u;
    }
    if (any) return best;
    /* a gap: the first instant whose wall time is past L */
    int64_t lo = L - MAX_OFFSET, hi = L + MAX_OFFSET;    /* local(lo) < L < local(hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (local_secs(z, mid) > L) hi = mid; else lo = mid;
    }
    return hi >= tmin ? hi : KZ_NONE;
}

int64_t kz_from_local(KzZone *z, int year, int month, int day, int hour, int minute, int second)
{
    return kz_next_local(z, year, month, day, hour, minute, second, INT64_MIN + 1);
}
