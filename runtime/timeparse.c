/* timeparse.c -- hand-written parsers for event-log cells: RFC 3339 times
 * and integer Unix seconds (kr_parse_time), civil dates (days from civil),
 * and strtod-like decimal numbers (ki_parse_num).  No strptime, mktime or
 * locale: these run once or more per input row.
 */
#include <stdlib.h>
#include <string.h>
#include "../lang/util.h"
#include "input_impl.h"

/* ki_days_from_civil -- days since 1970-01-01 of a proleptic Gregorian
 * date (H. Hinnant's algorithm; exact for any year). */
int64_t ki_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (m > 2 ? m - 3 : m + 9) + 2u) / 5u + d - 1u;
    unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4u == 0 && y % 100u != 0) || y % 400u == 0)) return 29;
    return dim[m - 1];
}

#define DIG(c) ((unsigned)((unsigned char)(c) - '0') < 10u)
#define D2(p) ((unsigned)((p)[0] - '0') * 10u + (unsigned)((p)[1] - '0'))

/* ki_parse_int64 -- [-]digits (1 to 18 digits), the whole of s. */
int ki_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len && s[0] == '-') { neg = true; i = 1; }
    if (i == len || len - i > 18) return -1;
    int64_t v = 0;
    for (; i < len; i++) {
        if (!DIG(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* month_part -- the year and month of the "YYYY-MM-" that starts p (at
 * least 8 bytes); false if it is not one. */
static bool month_part(const char *p, unsigned *y, unsigned *mo)
{
    if (!(DIG(p[0]) && DIG(p[1]) && DIG(p[2]) && DIG(p[3]) && p[4] == '-' && DIG(p[5]) && DIG(p[6])
          && p[7] == '-'))
        return false;
    *y = D2(p) * 100u + D2(p + 2);
    *mo = D2(p + 5);
    return *mo >= 1 && *mo <= 12;
}

/* day_part -- the day "DD" at p of a month of dim days, or 0. */
static unsigned day_part(const char *p, unsigned dim)
{
    if (!(DIG(p[0]) && DIG(p[1]))) return 0;
    unsigned d = D2(p);
    return d >= 1 && d <= dim ? d : 0;
}

/* date_part -- days since the epoch of the YYYY-MM-DD that starts s (at
 * least 10 bytes), or INT64_MIN if it is not a valid date. */
static int64_t date_part(const char *p)
{
    unsigned y, mo, d;
    if (!month_part(p, &y, &mo) || !(d = day_part(p + 8, days_in_month(y, mo)))) return INT64_MIN;
    return ki_days_from_civil(y, mo, d);
}

/* hms -- the seconds of the day of the "HH:MM:SS" at p, or -1.  The eight
 * bytes are read as one little-endian word: each digit's byte minus '0'
 * must be 0-9 (a byte below '0' borrows, which sets its high nibble), each
 * colon's ':' ('0' + 10).  Second 60 is read as 59. */
static long hms(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
                 (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
    uint64_t d = v - 0x3030303030303030ull;
    const uint64_t colons = 0x0000ff0000ff0000ull;     /* bytes 2 and 5 */
    uint64_t digits = d & ~colons;
    if (((digits | (digits + 0x0606060606060606ull)) & 0xf0f0f0f0f0f0f0f0ull & ~colons) != 0 ||
        (d & colons) != 0x00000a00000a0000ull)
        return -1;
    unsigned h = (unsigned)(d & 0xff) * 10u + (unsigned)(d >> 8 & 0xff);
    unsigned mi = (unsigned)(d >> 24 & 0xff) * 10u + (unsigned)(d >> 32 & 0xff);
    unsigned se = (unsigned)(d >> 48 & 0xff) * 10u + (unsigned)(d >> 56 & 0xff);
    if (h > 23 || mi > 59 || se > 60) return -1;
    if (se == 60) se = 59;
    return (long)(h * 3600u + mi * 60u + se);
}

/* clock_part -- the rest of an RFC 3339 time after its date (s has at
 * least 20 bytes): seconds to add to the date's midnight, or -1. */
static int clock_part(const char *s, size_t len, int64_t *secs)
{
    long hs = s[10] == 'T' || s[10] == 't' || s[10] == ' ' ? hms(s + 11) : -1;
    if (hs < 0) return -1;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && DIG(s[i])) i++;
        if (i == f) return -1;
    }
    if (i >= len) return -1;
    int64_t off = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i < 6) return -1;
        const char *o = s + i + 1;
        if (!(DIG(o[0]) && DIG(o[1]) && o[2] == ':' && DIG(o[3]) && DIG(o[4]))) return -1;
        unsigned oh = D2(o), om = D2(o + 3);
        if (oh > 23 || om > 59) return -1;
        off = (int64_t)(oh * 3600u + om * 60u);
        if (s[i] == '-') off = -off;
        i += 6;
    } else {
        return -1;
    }
    if (i != len) return -1;
    *secs = (int64_t)hs - off;
    return 0;
}

/* kr_parse_time -- RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
 * 'T' may be 't' or a space, 'Z' may be 'z'; the fraction is dropped, which
 * truncates toward the earlier second; second 60 is read as 59) or integer
 * Unix seconds.  Returns 0 and sets *out, or -1. */
/* Unix seconds are accepted in the range RFC 3339 can write: years 0000 to
 * 9999 (SPEC section 9); anything outside is a bad time, not a replay of
 * billions of calendar periods. */
#define KI_MIN_TIME (-62167219200LL)    /* 0000-01-01T00:00:00Z */
#define KI_MAX_TIME 253402300799LL      /* 9999-12-31T23:59:59Z */

static int parse_unix(const char *s, size_t len, int64_t *out)
{
    int64_t t;
    if (ki_parse_int64(s, len, &t) != 0 || t < KI_MIN_TIME || t > KI_MAX_TIME) return -1;
    *out = t;
    return 0;
}

/* An RFC 3339 time whose offset carries it outside years 0000-9999 UTC
 * (`0000-01-01T00:00:00+01:00`) is a bad time too: every time in a
 * schedule has four digits. */
static int in_range(int64_t t, int64_t *out)
{
    if (t < KI_MIN_TIME || t > KI_MAX_TIME) return -1;
    *out = t;
    return 0;
}

int kr_parse_time(const char *s, size_t len, int64_t *out)
{
    if (len < 20 || s[4] != '-') return parse_unix(s, len, out);
    int64_t days = date_part(s), secs;
    if (days == INT64_MIN || clock_part(s, len, &secs) != 0) return -1;
    return in_range(days * 86400 + secs, out);
}

/* ki_parse_time_cached -- kr_parse_time, remembering the month of the last
 * date seen in *c: a log's rows mostly fall in the month of the row before,
 * so then only the day is read.  Same results as kr_parse_time. */
int ki_parse_time_cached(KiTimeCache *c, const char *s, size_t len, int64_t *out)
{
    if (len < 20 || s[4] != '-') return parse_unix(s, len, out);
    uint64_t m8;
    memcpy(&m8, s, 8);
    if (!c->valid || m8 != c->month8) {
        unsigned y, mo;
        if (!month_part(s, &y, &mo)) return -1;
        c->month8 = m8;
        c->day1 = ki_days_from_civil(y, mo, 1);
        c->dim = days_in_month(y, mo);
        c->valid = true;
    }
    unsigned d = day_part(s + 8, c->dim);
    int64_t secs;
    if (!d || clock_part(s, len, &secs) != 0) return -1;
    return in_range((c->day1 + d - 1) * 86400 + secs, out);
}

/* Exact powers of ten for the fast path (all exactly representable). */
static const double pow10tab[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* ki_parse_num -- true if the whole of s is a decimal number
 * [+-](digits[.digits*]|.digits)[(e|E)[+-]digits], value in *out.  Exact
 * (correctly rounded): the common case (at most 19 significant digits,
 * small exponent) is computed directly, the rest goes through strtod. */
bool ki_parse_num(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (len == 0) return false;
    if (s[0] == '+' || s[0] == '-') { neg = s[0] == '-'; i = 1; }
    uint64_t m = 0;
    int nsig = 0, dexp = 0, ndig = 0;
    bool exact = true;
    for (; i < len && DIG(s[i]); i++, ndig++) {
        if (m == 0 && s[i] == '0') continue;
        if (nsig < 19) { m = m * 10u + (uint64_t)(s[i] - '0'); nsig++; }
        else { dexp++; if (s[i] != '0') exact = false; }
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && DIG(s[i]); i++, ndig++) {
            if (m == 0 && s[i] == '0') { dexp--; continue; }
            if (nsig < 19) { m = m * 10u + (uint64_t)(s[i] - '0'); nsig++; dexp--; }
            else if (s[i] != '0') exact = false;
        }
    }
    if (ndig == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-')) { eneg = s[i] == '-'; i++; }
        if (i == len) return false;
        int e = 0;
        for (; i < len && DIG(s[i]); i++) if (e < 100000) e = e * 10 + (s[i] - '0');
        dexp += eneg ? -e : e;
    }
    if (i != len) return false;
    if (exact && m <= (1ULL << 53) && dexp >= -22 && dexp <= 22) {
        double v = (double)m;
        v = dexp >= 0 ? v * pow10tab[dexp] : v / pow10tab[-dexp];
        *out = neg ? -v : v;
        return true;
    }
    if (m == 0) { *out = neg ? -0.0 : 0.0; return true; }
    /* slow path: strtod on a NUL-terminated copy (the syntax is checked) */
    char buf[128];
    char *c = len < sizeof buf ? buf : malloc(len + 1);
    if (!c) return false;
    memcpy(c, s, len);
    c[len] = 0;
    *out = strtod(c, NULL);
    if (c != buf) free(c);
    return true;
}

/* ---- messages about bad times (SPEC 5.6) --------------------------------- */

/* YYYY-MM-DDTHH:MM:SSZ of Unix seconds t (years 0000 to 9999). */
static void format_utc(int64_t t, char *out, size_t cap)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), secs = t - days * 86400;
    /* civil from days (H. Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365u * yoe + yoe / 4u - yoe / 100u), mp = (5u * doy + 2u) / 153u;
    unsigned d = doy - (153u * mp + 2u) / 5u + 1u, m = mp < 10u ? mp + 3u : mp - 9u;
    if (m <= 2) y++;
    snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d, (unsigned)(secs / 3600),
             (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

void ki_shown_cell(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0, n = len > 40 ? ku_utf8_cut(s, 40) : len;
    for (size_t i = 0; i < n && o + 5 < cap; i++) o += ku_shown_byte((unsigned char)s[i], out + o);
    if (n < len && o + 4 <= cap) { memcpy(out + o, "...", 3); o += 3; }
    out[o] = '\0';
}

void ki_bad_time_text(const char *s, size_t len, bool json, char *msg, size_t mcap, char *hint, size_t hcap)
{
    hint[0] = '\0';
    char cell[200];
    ki_shown_cell(s, len, cell, sizeof cell);
    int shown = (int)strlen(cell);
    /* an integer: out of range (the only way an integer is a bad time) */
    size_t i = len && s[0] == '-' ? 1 : 0, digits = 0;
    while (i + digits < len && DIG(s[i + digits])) digits++;
    s = cell;
    if (digits > 0 && i + digits == len) {
        snprintf(msg, mcap, "time %.*s is out of range for Unix seconds (years 0000 to 9999)", shown, s);
        if (digits > 19) return;
        uint64_t v = 0;
        for (size_t k = 0; k < digits; k++) v = v * 10u + (uint64_t)(s[i + k] - '0');
        static const struct { uint64_t div; const char *unit, *schema; } units[] = {
            { 1000u, "milliseconds", "ms" }, { 1000000u, "microseconds", "us" }, { 1000000000u, "nanoseconds", NULL },
        };
        for (size_t k = 0; k < 3; k++) {
            uint64_t secs = v / units[k].div;
            if (secs > (uint64_t)KI_MAX_TIME) continue;
            /* plausible only for a recent time: from the year 2000 on */
            if (i == 1 || secs < 946684800u) return;
            char when[32];
            format_utc((int64_t)secs, when, sizeof when);
            /* and how to read the log as it is (a schema file's time unit, SPEC 5.10) */
            char how[80] = "";
            if (units[k].schema)
                snprintf(how, sizeof how, ", or read it as it is: --schema with time: {unit: %s}", units[k].schema);
            snprintf(hint, hcap, "it looks like %s: %.*s is %s; write Unix seconds (%llu) or RFC 3339%s",
                     units[k].unit, shown, s, when, (unsigned long long)secs, how);
            return;
        }
        return;
    }
    if (json)
        snprintf(msg, mcap, "bad time %.*s (expected an RFC 3339 string or integer Unix seconds)", shown, s);
    else
        snprintf(msg, mcap, "bad time \"%.*s\" (expected RFC 3339 like 2026-03-01T09:30:00Z, or integer Unix seconds)",
                 shown, s);
}
