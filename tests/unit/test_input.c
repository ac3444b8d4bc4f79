/* test_input.c -- the event-log readers: RFC 4180 CSV, JSON Lines, .gz,
 * standard formats of time, every error message with its line/column,
 * ordering (unsorted files, ties across files), shards, string pools.
 * Inputs are written to a temporary directory by the tests themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "units.h"
#include "runtime/internal.h"
#include "runtime/input_impl.h"
#include <fcntl.h>

/* ---- a hand-made image -------------------------------------------------- */

static const char *T_STRINGS[] = {
    "ticket_opened", "ticket_closed", "login", "purchase", "response", "identify",
    "opt_out", "opt_in", "consent_granted", "consent_revoked",
    "kind", "sentiment", "survey", "score", "channel", "tz", "segment", "product_type", "note",
};
enum { S_NSTR = sizeof T_STRINGS / sizeof T_STRINGS[0] };

typedef struct TImg {
    KImage img;
    char *strings[S_NSTR];
    uint32_t lens[S_NSTR];
    uint32_t events[10], attrs[9], traits[1];
    KbRetention ret[10];
    uint32_t closed_attrs[2], purchase_attrs[1];
} TImg;

static TImg *timg(void)
{
    TImg *t = calloc(1, sizeof *t);
    for (uint32_t i = 0; i < S_NSTR; i++) { t->strings[i] = (char *)T_STRINGS[i]; t->lens[i] = (uint32_t)strlen(T_STRINGS[i]); }
    for (uint32_t i = 0; i < 10; i++) t->events[i] = i;
    for (uint32_t i = 0; i < 9; i++) t->attrs[i] = 10 + i;      /* kind=0 sentiment=1 survey=2 score=3 channel=4 tz=5 segment=6 product_type=7 note=8 */
    t->traits[0] = 6;
    t->closed_attrs[0] = 0; t->closed_attrs[1] = 1;
    t->ret[1] = (KbRetention){ KB_RET_LAST, 0, t->closed_attrs, 2 };
    t->purchase_attrs[0] = 7;
    t->ret[3] = (KbRetention){ KB_RET_LAST, 0, t->purchase_attrs, 1 };
    KImage *m = &t->img;
    m->strings = t->strings; m->string_lens = t->lens; m->nstrings = S_NSTR;
    m->events = t->events; m->nevents = 10; m->retention = t->ret;
    m->attrs = t->attrs; m->nattrs = 9;
    m->traits = t->traits; m->ntraits = 1;
    return t;
}

/* ---- running the reader -------------------------------------------------- */

static char tdir[256];

static void setup_dir(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/kairos-test-input-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void teardown_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    if (system(cmd) != 0) { /* best effort */ }
}

static const char *wfile(const char *name, const char *text)
{
    static char paths[8][320];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 320, "%s/%s", tdir, name);
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, ".gz") == 0) {
        gzFile g = gzopen(p, "wb");
        ck_assert_ptr_nonnull(g);
        gzwrite(g, text, (unsigned)strlen(text));
        gzclose(g);
    } else {
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
    }
    return p;
}

typedef struct Run {
    char *out; size_t outlen;       /* one line per event */
    char *err; size_t errlen;       /* messages, with the directory stripped */
    int rc;                         /* 0 ok, -1 error */
    uint64_t read, skipped;
    uint32_t ncust;                 /* customers interned */
} Run;

static void fmt_event(FILE *o, const KImage *img, KrPool *cus, KrPool *val, const KrEvent *ev)
{
    size_t l;
    const char *c = kr_pool_str(cus, ev->customer, &l);
    fprintf(o, "%lld %s %s", (long long)ev->time, c,
            ev->event == KB_NONE ? "?" : img->strings[img->events[ev->event]]);
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const KrValue *v = &ev->attr_vals[i];
        fprintf(o, " %s=", img->strings[img->attrs[ev->attr_ids[i]]]);
        if (v->tag == KB_NUM) fprintf(o, "%g", v->num);
        else if (v->tag == KB_BOOL) fprintf(o, "%s", v->b ? "true" : "false");
        else fprintf(o, "'%s'", kr_pool_str(val, v->str, &l));
    }
    fprintf(o, " @%llu\n", (unsigned long long)ev->line);
}

static Run run_opt(KrOptions *opt)
{
    TImg *t = timg();
    KrPool *cus = kr_pool_new(), *val = kr_pool_new();
    Run r = { 0 };
    FILE *o = open_memstream(&r.out, &r.outlen);
    FILE *e = open_memstream(&r.err, &r.errlen);
    KrInput *in = ki_open(&t->img, opt, cus, val, e);
    if (!in) r.rc = -1;
    else {
        KrEvent ev;
        int k;
        while ((k = ki_next(in, &ev)) == 1) fmt_event(o, &t->img, cus, val, &ev);
        r.rc = k;
        r.read = ki_rows_read(in);
        r.skipped = ki_rows_skipped(in);
        ki_close(in);
    }
    fclose(o);
    fclose(e);
    /* strip the temporary directory from messages */
    size_t dl = strlen(tdir) + 1;
    char *p;
    while ((p = strstr(r.err, tdir)) != NULL) memmove(p, p + dl, strlen(p + dl) + 1);
    r.ncust = kr_pool_count(cus);
    kr_pool_free(cus);
    kr_pool_free(val);
    free(t);
    return r;
}

static Run run_files(const char **paths, uint32_t n, bool skip)
{
    KrOptions opt = { 0 };
    opt.inputs = paths;
    opt.ninputs = n;
    opt.skip_bad_rows = skip;
    return run_opt(&opt);
}

static Run run1(const char *name, const char *text)
{
    const char *p = wfile(name, text);
    return run_files(&p, 1, false);
}

static void done(Run *r) { free(r->out); free(r->err); }

#define EXPECT_OUT(r, s) do { ck_assert_int_eq((r).rc, 0); ck_assert_str_eq((r).err, ""); ck_assert_str_eq((r).out, s); } while (0)
/* The first line of a message ("FILE:LINE[:COL]: error: MESSAGE\n"); the
 * shown input line and hint that follow are checked by EXPECT_ERR_ALL. */
static const char *first_line(const char *s)
{
    static char buf[1024];
    size_t n = strcspn(s, "\n");
    if (s[n] == '\n') n++;
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}
#define EXPECT_ERR(r, s) do { ck_assert_int_eq((r).rc, -1); ck_assert_str_eq(first_line((r).err), s); } while (0)
#define EXPECT_ERR_ALL(r, s) do { ck_assert_int_eq((r).rc, -1); ck_assert_str_eq((r).err, s); } while (0)

/* ---- time parsing ---------------------------------------------------------- */

static int64_t T(const char *s)
{
    int64_t v = 0;
    ck_assert_msg(kr_parse_time(s, strlen(s), &v) == 0, "should parse: %s", s);
    return v;
}

static bool bad_time(const char *s)
{
    int64_t v;
    return kr_parse_time(s, strlen(s), &v) != 0;
}

START_TEST(time_formats)
{
    ck_assert_int_eq(T("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(T("2026-03-01T09:30:00Z"), 1772357400);
    ck_assert_int_eq(T("2026-03-01T10:30:00+01:00"), 1772357400);
    ck_assert_int_eq(T("2026-03-01T04:00:00-05:30"), 1772357400);
    ck_assert_int_eq(T("2026-03-01t09:30:00z"), 1772357400);
    ck_assert_int_eq(T("2026-03-01 09:30:00Z"), 1772357400);
    ck_assert_int_eq(T("2026-03-01T09:30:00.999Z"), 1772357400);       /* truncated */
    ck_assert_int_eq(T("1969-12-31T23:59:59.5Z"), -1);                 /* toward the earlier second */
    ck_assert_int_eq(T("2024-02-29T00:00:00Z"), 1709164800);           /* leap year */
    ck_assert_int_eq(T("2000-02-29T00:00:00Z"), 951782400);
    ck_assert_int_eq(T("2016-12-31T23:59:60Z"), T("2016-12-31T23:59:59Z"));
    ck_assert_int_eq(T("0000-01-01T00:00:00Z"), -62167219200LL);
    ck_assert_int_eq(T("9999-12-31T23:59:59Z"), 253402300799LL);
    ck_assert_int_eq(T("1772357400"), 1772357400);
    ck_assert_int_eq(T("-86400"), -86400);
    ck_assert_int_eq(T("0"), 0);
}
END_TEST

START_TEST(time_bad)
{
    ck_assert(bad_time(""));
    ck_assert(bad_time("2023-02-29T00:00:00Z"));   /* not a leap year */
    ck_assert(bad_time("1900-02-29T00:00:00Z"));
    ck_assert(bad_time("2026-13-01T00:00:00Z"));
    ck_assert(bad_time("2026-00-01T00:00:00Z"));
    ck_assert(bad_time("2026-04-31T00:00:00Z"));
    ck_assert(bad_time("2026-04-00T00:00:00Z"));
    ck_assert(bad_time("2026-04-01T24:00:00Z"));
    ck_assert(bad_time("2026-04-01T23:60:00Z"));
    ck_assert(bad_time("2026-04-01T23:59:61Z"));
    ck_assert(bad_time("2026-04-01T23:59:59"));    /* no offset */
    ck_assert(bad_time("2026-04-01T23:59:59+0100"));
    ck_assert(bad_time("2026-04-01T23:59:59+24:00"));
    ck_assert(bad_time("2026-04-01T23:59:59.Z"));
    ck_assert(bad_time("2026-04-01T23:59:59Zx"));
    ck_assert(bad_time("2026-4-01T23:59:59Z"));
    ck_assert(bad_time("12.5"));
    ck_assert(bad_time("1e9"));
    ck_assert(bad_time("-"));
    ck_assert(bad_time("abc"));
    ck_assert(bad_time("1234567890123456789"));    /* too many digits */
}
END_TEST

/* The clock of "...THH:MM:SSZ" read a byte at a time, as a reference for
 * the parsers' word-at-a-time reading: its seconds, or -1. */
static long ref_clock(const char *s)
{
    for (int i = 11; i <= 18; i++)
        if (i == 13 || i == 16 ? s[i] != ':' : !(s[i] >= '0' && s[i] <= '9')) return -1;
    int h = (s[11] - '0') * 10 + s[12] - '0', m = (s[14] - '0') * 10 + s[15] - '0';
    int sec = (s[17] - '0') * 10 + s[18] - '0';
    if (h > 23 || m > 59 || sec > 60) return -1;
    return h * 3600L + m * 60L + (sec == 60 ? 59 : sec);
}

/* The cached parser gives what kr_parse_time gives, for every byte in
 * every place, on a fresh cache, one that holds another month, one that
 * holds the same month (a day of another length: 31 against 30 or 28) and
 * one that holds this date; and with the clock changed, both give what
 * reading it a byte at a time gives (ref_clock). */
START_TEST(time_cached_same)
{
    static const char *base[] = {
        "2026-03-01T09:30:00Z", "2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z", "2026-03-01 19:05:09z", "2026-03-01T09:30:00+01:00",
        "2026-03-01T09:30:00.5Z", "2024-02-29T12:00:00Z", "2023-02-28T12:00:00Z",
        "2026-04-30T12:00:00Z", "1900-02-28T00:00:00Z", "2000-02-29T00:00:00Z",
    };
    int checked = 0;
    for (size_t b = 0; b < sizeof base / sizeof *base; b++) {
        size_t len = strlen(base[b]);
        for (size_t pos = 0; pos < len; pos++) {
            for (int ch = 0; ch < 256; ch++) {
                char s[40];
                memcpy(s, base[b], len);
                s[pos] = (char)ch;
                int64_t want = 0, got = 0, got2 = 0;
                int rw = kr_parse_time(s, len, &want);
                KiTimeCache fresh = { 0 }, other = { 0 }, month = { 0 };
                int64_t dummy, got3 = 0;
                ck_assert_int_eq(ki_parse_time_cached(&other, "2001-01-01T00:00:00Z", 20, &dummy), 0);
                char first[21];
                memcpy(first, base[b], 8);
                memcpy(first + 8, "01T00:00:00Z", 13);
                ck_assert_int_eq(ki_parse_time_cached(&month, first, 20, &dummy), 0);
                int rg = ki_parse_time_cached(&fresh, s, len, &got);
                int rg2 = ki_parse_time_cached(&other, s, len, &got2);
                int rg3 = ki_parse_time_cached(&month, s, len, &got3);
                ck_assert_msg(rw == rg && rw == rg2 && rw == rg3, "%.*s: %d against %d/%d/%d", (int)len, s, rw, rg,
                              rg2, rg3);
                if (len == 20 && pos >= 11 && pos <= 18 && base[b][10] == 'T' && base[b][19] == 'Z') {
                    long ref = ref_clock(s);
                    ck_assert_msg((rw == 0) == (ref >= 0), "%.*s: %d, reference %ld", (int)len, s, rw, ref);
                    if (rw == 0) ck_assert_msg(want - ref == T(base[b]) - ref_clock(base[b]), "%.*s", (int)len, s);
                }
                if (rw == 0) {
                    ck_assert_msg(want == got && want == got2 && want == got3, "%.*s", (int)len, s);
                    /* and again, from the cache that now holds this date */
                    ck_assert_int_eq(ki_parse_time_cached(&fresh, s, len, &got), 0);
                    ck_assert_int_eq(got, want);
                }
                checked++;
            }
        }
    }
    ck_assert_int_gt(checked, 10000);
}
END_TEST

/* ---- pools ------------------------------------------------------------------ */

START_TEST(pool_basics)
{
    KrPool *p = kr_pool_new();
    ck_assert_uint_eq(kr_intern(p, "a", 1), 0);
    ck_assert_uint_eq(kr_intern(p, "b", 1), 1);
    ck_assert_uint_eq(kr_intern(p, "a", 1), 0);
    ck_assert_uint_eq(kr_intern(p, "", 0), 2);
    ck_assert_uint_eq(kr_intern(p, "a\0b", 3), 3);
    ck_assert_uint_eq(kr_lookup(p, "a\0b", 3), 3);
    ck_assert_uint_eq(kr_lookup(p, "zz", 2), UINT32_MAX);
    char buf[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(buf, sizeof buf, "customer-%d", i);
        ck_assert_uint_eq(kr_intern(p, buf, (size_t)n), (uint32_t)i + 4u);
    }
    const char *first = kr_pool_str(p, 4, NULL);
    for (int i = 0; i < 100000; i += 997) {
        int n = snprintf(buf, sizeof buf, "customer-%d", i);
        ck_assert_uint_eq(kr_lookup(p, buf, (size_t)n), (uint32_t)i + 4u);
        size_t l;
        ck_assert_str_eq(kr_pool_str(p, (uint32_t)i + 4u, &l), buf);
        ck_assert_uint_eq(l, (size_t)n);
    }
    ck_assert_str_eq(first, "customer-0");          /* pointers stay valid */
    ck_assert_uint_eq(kr_pool_count(p), 100004);
    char big[100000];
    memset(big, 'x', sizeof big);
    uint32_t id = kr_intern(p, big, sizeof big);
    ck_assert_uint_eq(kr_lookup(p, big, sizeof big), id);
    /* a pool of references (kr_pool_add_ref): the other pool's bytes, in
     * order; no interning into it, and none into p's own strings either */
    KrPool *refs = kr_pool_new();
    ck_assert_uint_eq(kr_pool_add_ref(p, "x", 1), UINT32_MAX);       /* p holds interned strings */
    ck_assert_uint_eq(kr_pool_add_ref(refs, kr_pool_str(p, 5, NULL), 10), 0);
    ck_assert_uint_eq(kr_pool_add_ref(refs, kr_pool_str(p, 4, NULL), 10), 1);
    size_t l;
    ck_assert_ptr_eq(kr_pool_str(refs, 0, &l), kr_pool_str(p, 5, NULL));
    ck_assert_uint_eq(l, 10);
    ck_assert_str_eq(kr_pool_str(refs, 1, NULL), "customer-0");
    ck_assert_uint_eq(kr_pool_count(refs), 2);
    ck_assert_uint_eq(kr_intern(refs, "customer-0", 10), UINT32_MAX);
    ck_assert_uint_eq(kr_lookup(refs, "customer-0", 10), UINT32_MAX);
    kr_pool_free(refs);
    kr_pool_free(p);
}
END_TEST

/* Strings longer than 16 bytes keep their first 8 in the table slot and
 * the rest where they are stored, behind their length: ids that share a
 * long prefix (UUIDs of one system, emails of one domain), lengths on both
 * sides of 16 and 31, NUL bytes inside, a table that grows under them. */
START_TEST(pool_long_strings)
{
    KrPool *p = kr_pool_new();
    char buf[64], big[200];
    memset(big, 'x', sizeof big);
    uint32_t lens[] = { 8, 15, 16, 17, 24, 30, 31, 32, 33, 64, 199, 200 };
    uint32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = kr_intern(p, big, lens[i]);
    for (int i = 0; i < 12; i++) {
        ck_assert_uint_eq(kr_lookup(p, big, lens[i]), ids[i]);
        for (int j = 0; j < i; j++) ck_assert_uint_ne(ids[i], ids[j]);
        size_t l;
        const char *s = kr_pool_str(p, ids[i], &l);
        ck_assert_uint_eq(l, lens[i]);
        ck_assert_int_eq(memcmp(s, big, l), 0);
        ck_assert_int_eq(s[l], 0);
    }
    ck_assert_uint_eq(kr_lookup(p, big, 34), UINT32_MAX);
    ck_assert_uint_eq(kr_lookup(p, big, 18), UINT32_MAX);
    /* the same prefix and length, one byte apart: the last, the ninth, a NUL */
    char a[40], b[40];
    memset(a, 'u', sizeof a);
    memcpy(b, a, sizeof b);
    b[39] = 'v';
    uint32_t ia = kr_intern(p, a, 40), ib = kr_intern(p, b, 40);
    ck_assert_uint_ne(ia, ib);
    b[39] = 'u';
    b[8] = '\0';
    uint32_t ic = kr_intern(p, b, 40);
    ck_assert_uint_ne(ic, ia);
    ck_assert_uint_ne(ic, ib);
    ck_assert_uint_eq(kr_intern(p, a, 40), ia);
    ck_assert_uint_eq(kr_lookup(p, b, 40), ic);
    /* 200,000 UUID-like ids of one prefix: the table grows under them */
    uint32_t base = kr_pool_count(p);
    for (uint32_t i = 0; i < 200000; i++) {
        int n = snprintf(buf, sizeof buf, "6f1c2a9e-0000-4000-8000-%012u", i * 7919u);
        uint64_t h = kr_hash_bytes(buf, (size_t)n);
        kr_pool_prefetch(p, h);
        kr_pool_prefetch_key(p, h, buf, (size_t)n);   /* absent: a hint, nothing more */
        ck_assert_uint_eq(kr_intern_hashed(p, buf, (size_t)n, h), base + i);
    }
    const char *first = kr_pool_str(p, base, NULL);
    for (uint32_t i = 0; i < 200000; i += 331) {
        int n = snprintf(buf, sizeof buf, "6f1c2a9e-0000-4000-8000-%012u", i * 7919u);
        kr_pool_prefetch_key(p, kr_hash_bytes(buf, (size_t)n), buf, (size_t)n);
        ck_assert_uint_eq(kr_lookup(p, buf, (size_t)n), base + i);
        size_t l;
        ck_assert_str_eq(kr_pool_str(p, base + i, &l), buf);
        ck_assert_uint_eq(l, (size_t)n);
        buf[n - 1] ^= 1;                            /* one bit off: not there */
        ck_assert_uint_eq(kr_lookup(p, buf, (size_t)n), UINT32_MAX);
    }
    ck_assert_str_eq(first, "6f1c2a9e-0000-4000-8000-000000000000");   /* pointers stay valid */
    kr_pool_free(p);
}
END_TEST

/* A large pool's table grows where it lies (pool.c grow_in_place): after
 * each doubling from 256K slots to 2M every id is still found, with its
 * own bytes, and no other. */
START_TEST(pool_grows_in_place)
{
    KrPool *p = kr_pool_new();
    char buf[32];
    const uint32_t n = 800000;
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "id%u", i * 2654435761u);
        ck_assert_uint_eq(kr_intern(p, buf, (size_t)len), i);
        if (i == 200000 || i == 400000 || i == n - 1) {   /* past each doubling */
            for (uint32_t j = 0; j <= i; j++) {
                int l = snprintf(buf, sizeof buf, "id%u", j * 2654435761u);
                if (kr_lookup(p, buf, (size_t)l) != j) ck_abort_msg("id %u lost after %u", j, i);
            }
        }
    }
    ck_assert_uint_eq(kr_lookup(p, "id1", 3), UINT32_MAX);
    ck_assert_str_eq(kr_pool_str(p, 12345, NULL), "id2703968361");     /* 12345 * 2654435761 mod 2^32 */
    kr_pool_free(p);
}
END_TEST

/* ki_bad_id (SPEC 5.4) takes ASCII 8 bytes at a time: a NUL byte or a
 * non-ASCII byte at any place, within a word or in the tail, is still
 * looked at, and valid UTF-8 across a word's edge still passes. */
START_TEST(bad_id_every_place)
{
    char s[48];
    for (size_t len = 0; len <= 40; len++) {
        memset(s, 'k', len);
        ck_assert_ptr_null(ki_bad_id(s, len));
        for (size_t i = 0; i < len; i++) {
            memset(s, 'k', len);
            s[i] = 0;
            ck_assert_str_eq(ki_bad_id(s, len), "it holds a NUL byte");
            s[i] = (char)0xff;
            ck_assert_str_eq(ki_bad_id(s, len), "it is not valid UTF-8");
            s[i] = (char)0xc3;                      /* a lead byte, its follower missing or 'k' */
            ck_assert_str_eq(ki_bad_id(s, len), "it is not valid UTF-8");
            if (i + 3u <= len) {                    /* the euro sign, wherever it falls */
                memcpy(s + i, "\xe2\x82\xac", 3);
                ck_assert_ptr_null(ki_bad_id(s, len));
                s[i + 2u] = 0;
                ck_assert_str_eq(ki_bad_id(s, len), "it is not valid UTF-8");
            }
        }
    }
}
END_TEST

/* ---- CSV -------------------------------------------------------------------- */

START_TEST(csv_basic)
{
    Run r = run1("a.csv",
        "time,customer,event,kind,sentiment,note\n"
        "2026-03-01T09:30:00Z,c1,ticket_closed,technical,-0.5,hello\n"
        "2026-03-01T09:31:00Z,c2,login,technical,1,x\n"
        "2026-03-01T09:32:00Z,c1,ticket_closed,,,\n"
        "2026-03-01T09:33:00Z,c3,mystery,a,b,c\n");
    EXPECT_OUT(r,
        "1772357400 c1 ticket_closed kind='technical' sentiment=-0.5 @2\n"
        "1772357460 c2 login @3\n"
        "1772357520 c1 ticket_closed @4\n"
        "1772357580 c3 ? @5\n");
    ck_assert_uint_eq(r.read, 4);
    done(&r);
}
END_TEST

START_TEST(csv_rfc4180)
{
    /* column order, BOM, CRLF, quotes, doubled quotes, embedded comma and
     * newline, an empty quoted cell, a quoted number, no final line end */
    Run r = run1("b.csv",
        "\xEF\xBB\xBF" "event,\"kind\",customer,time,sentiment\r\n"
        "ticket_closed,\"a,b\",\"c 1\",2026-03-01T09:30:00Z,\"3\"\r\n"
        "ticket_closed,\"say \"\"hi\"\"\",c2,2026-03-01T09:30:01Z,1e3\r\n"
        "ticket_closed,\"two\nlines\",c3,2026-03-01T09:30:02Z,\"\"\r\n"
        "\r\n"
        "ticket_closed,\"\",\"c\"\"4\",2026-03-01T09:30:03Z,.5\r\n"
        "ticket_closed,x\"y,c5,2026-03-01T09:30:04Z,+7");
    EXPECT_OUT(r,
        "1772357400 c 1 ticket_closed kind='a,b' sentiment=3 @2\n"
        "1772357401 c2 ticket_closed kind='say \"hi\"' sentiment=1000 @3\n"
        "1772357402 c3 ticket_closed kind='two\nlines' @4\n"
        "1772357403 c\"4 ticket_closed sentiment=0.5 @7\n"
        "1772357404 c5 ticket_closed kind='x\"y' sentiment=7 @8\n");
    done(&r);
}
END_TEST

START_TEST(csv_values)
{
    Run r = run1("v.csv",
        "time,customer,event,score,survey,channel,tz,segment,product_type\n"
        "1,a,response,9,NPS,x,y,z,w\n"
        "2,a,identify,1,2,3,Europe/Oslo,gold,w\n"
        "3,a,opt_out,1,2,sms,,,\n"
        "4,a,response, 5,1.5e-3,,,,\n"
        "5,a,response,-0,12abc,,,,\n"
        "6,a,purchase,,,,,,\"\"\n"
        "7,a,identify,,,,,true,\n"
        "8,a,identify,,,,,\"false\",\n"
        "9,a,identify,,,,,True,\n"
        "10,a,identify,,,,,\"true \",\n");
    EXPECT_OUT(r,
        "1 a response survey='NPS' score=9 @2\n"
        "2 a identify tz='Europe/Oslo' segment='gold' @3\n"
        "3 a opt_out channel='sms' @4\n"
        "4 a response survey=0.0015 score=' 5' @5\n"
        "5 a response survey='12abc' score=-0 @6\n"
        "6 a purchase @7\n"
        "7 a identify segment=true @8\n"           /* a cell true or false is a boolean, */
        "8 a identify segment=false @9\n"          /* quoted or not; */
        "9 a identify segment='True' @10\n"        /* only in lower case, exactly */
        "10 a identify segment='true ' @11\n");
    done(&r);
}
END_TEST

START_TEST(csv_errors)
{
    Run r;
    r = run1("e1.csv", "time,customer,event\n1,a,login\n2,b\n");
    EXPECT_ERR_ALL(r, "e1.csv:3:4: error: wrong number of fields: 2, the header has 3\n"
                      "    3 | 2,b\n"
                      "      |    ^\n"); done(&r);
    r = run1("e2.csv", "time,customer,event\n1,a,login,extra\n");
    EXPECT_ERR(r, "e2.csv:2:11: error: wrong number of fields: 4, the header has 3\n"); done(&r);
    r = run1("e3.csv", "time,customer,event\n1,,login\n");
    EXPECT_ERR(r, "e3.csv:2:3: error: missing customer\n"); done(&r);
    r = run1("e4.csv", "time,customer,event\n\"x\ny\",a,login\n2026-13-01T00:00:00Z,a,login\n");
    /* a line break in the cell is escaped in the message; the shown line is the row's first */
    EXPECT_ERR_ALL(r, "e4.csv:2:1: error: bad time \"x\\ny\" (expected RFC 3339 like 2026-03-01T09:30:00Z, or integer Unix seconds)\n"
                      "    2 | \"x\n"
                      "      | ^\n"); done(&r);
    r = run1("em.csv", "time,customer,event\n1,a,login\n1772366580000,a,login\n");
    EXPECT_ERR_ALL(r, "em.csv:3:1: error: time 1772366580000 is out of range for Unix seconds (years 0000 to 9999)\n"
                      "    3 | 1772366580000,a,login\n"
                      "      | ^\n"
                      "      = hint: it looks like milliseconds: 1772366580000 is 2026-03-01T12:03:00Z; "
                      "write Unix seconds (1772366580) or RFC 3339, or read it as it is: --schema with time: {unit: ms}\n"); done(&r);
    r = run1("e5.csv", "time,customer,event\n,a,login\n");
    EXPECT_ERR(r, "e5.csv:2:1: error: missing time\n"); done(&r);
    r = run1("e6.csv", "time,customer,event\n1,a,login\n2,\"b,login\n3,c,login\n");
    EXPECT_ERR(r, "e6.csv:3:3: error: unterminated quoted field\n"); done(&r);
    r = run1("e7.csv", "time,event,x\n1,login,2\n");
    EXPECT_ERR(r, "e7.csv:1:1: error: missing required column \"customer\" in the header row\n"); done(&r);
    r = run1("e8.csv", "time,customer,event\n1,\"a\"b,login\n");
    EXPECT_ERR(r, "e8.csv:2:3: error: unexpected character after a closing quote\n"); done(&r);
    r = run1("e9.csv", "");
    EXPECT_ERR(r, "e9.csv:1:1: error: empty file: expected a header row with the columns time, customer, event\n"); done(&r);
    r = run1("e10.csv", "time,customer,event,kind,kind\n");
    EXPECT_ERR(r, "e10.csv:1:26: error: duplicate column \"kind\"\n"); done(&r);
    r = run1("e11.csv", "time,customer,event\n1,a,\n");
    EXPECT_ERR(r, "e11.csv:2:5: error: missing event\n"); done(&r);
    /* the column counts characters, not bytes; the line is where the row starts */
    r = run1("e12.csv", "time,customer,event,note\n1,\"é\nü\",login,x,y\n");
    EXPECT_ERR_ALL(r, "e12.csv:2:12: error: wrong number of fields: 5, the header has 4\n"
                      "    3 | ü\",login,x,y\n"
                      "      |            ^\n"); done(&r);
    r = run1("e13.csv", "time,customer,event\n1,é,login\n1,é,lögin,1\n");
    EXPECT_ERR(r, "e13.csv:3:11: error: wrong number of fields: 4, the header has 3\n"); done(&r);
    const char *missing = "/nonexistent/x.csv";
    r = run_files(&missing, 1, false);
    EXPECT_ERR(r, "/nonexistent/x.csv: error: cannot open: No such file or directory\n"); done(&r);
    r = run1("bad.txt", "x");
    EXPECT_ERR(r, "bad.txt: error: unknown event file format (expected .csv, .jsonl or .ndjson, optionally .gz)\n"); done(&r);
}
END_TEST

START_TEST(csv_skip_bad_rows)
{
    const char *p = wfile("s.csv",
        "time,customer,event\n"
        "1,a,login\n"
        "2,b\n"
        "x,c,login\n"
        "3,\"d\"x,login\n"
        "4,e,login\n"
        "5,\"f,login\n");
    Run r = run_files(&p, 1, true);
    EXPECT_OUT(r, "1 a login @2\n4 e login @6\n");
    ck_assert_uint_eq(r.skipped, 4);
    ck_assert_uint_eq(r.read, 2);
    done(&r);
}
END_TEST

/* ---- .gz read-ahead ----------------------------------------------------------
 * The same bytes, end and message at the same place with the read-ahead
 * thread as without it, whatever the sizes asked for. */

/* gz_all -- reads path through ki_gz_read (ahead or not) in reads of the
 * sizes of sizes[] in turn; the bytes into *out, the result of the last
 * read (0 or -1) returned, its message into msg. */
static long gz_all(const char *path, bool ahead, char **out, size_t *n, char *msg, size_t msgcap)
{
    static const size_t sizes[] = { 1, 4093, 300000, 65536, 17, 262144, 262145, 1u << 20 };
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    KiGz *g = ki_gz_open(fd, ahead);
    ck_assert_ptr_nonnull(g);
    ck_assert(ki_gz_ahead(g) == ahead);
    size_t cap = 1u << 20, len = 0;
    char *buf = malloc(cap);
    long got;
    msg[0] = '\0';
    for (size_t i = 0;; i++) {
        size_t want = sizes[i % (sizeof sizes / sizeof sizes[0])];
        while (cap - len < want) buf = realloc(buf, cap *= 2);
        const char *m = NULL;
        got = ki_gz_read(g, buf + len, want, &m);
        if (got < 0) { snprintf(msg, msgcap, "%s", m); break; }
        if (got == 0) break;
        ck_assert_uint_le((size_t)got, want);
        len += (size_t)got;
    }
    ki_gz_close(g);
    *out = buf;
    *n = len;
    return got;
}

/* gz_write -- text as `members` gzip members, the file cut to keep bytes
 * (0: whole) */
static void gz_write(const char *path, const char *text, size_t len, int members, size_t keep)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int m = 0; m < members; m++) {
        size_t a = len * (size_t)m / (size_t)members, b = len * (size_t)(m + 1) / (size_t)members;
        z_stream z;
        memset(&z, 0, sizeof z);
        ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        uLong bound = deflateBound(&z, (uLong)(b - a));
        unsigned char *o = malloc(bound);
        z.next_in = (unsigned char *)(uintptr_t)(text + a);
        z.avail_in = (uInt)(b - a);
        z.next_out = o;
        z.avail_out = (uInt)bound;
        ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
        fwrite(o, 1, z.total_out, f);
        deflateEnd(&z);
        free(o);
    }
    fclose(f);
    if (keep) ck_assert_int_eq(truncate(path, (off_t)keep), 0);
}

START_TEST(gz_read_ahead)
{
    /* 3 MB of rows: a dozen of the read-ahead's blocks */
    size_t cap = 4u << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "time,customer,event\n");
    for (uint32_t i = 0; len < (3u << 20); i++)
        len += (size_t)snprintf(text + len, cap - len, "%u,c%u,login\n", 1772323200u + i * 7u, (i * 2654435761u) % 9973u);
    char path[300];
    snprintf(path, sizeof path, "%s/ahead.csv.gz", tdir);
    for (int members = 1; members <= 3; members += 2) {
        gz_write(path, text, len, members, 0);
        char *a, *b, ma[160], mb[160];
        size_t na, nb;
        ck_assert_int_eq(gz_all(path, false, &a, &na, ma, sizeof ma), 0);
        ck_assert_int_eq(gz_all(path, true, &b, &nb, mb, sizeof mb), 0);
        ck_assert_uint_eq(na, len);
        ck_assert_uint_eq(nb, len);
        ck_assert(memcmp(a, text, len) == 0 && memcmp(b, text, len) == 0);
        free(a); free(b);
    }
    /* cut in the middle: the same bytes, then the same message */
    gz_write(path, text, len, 1, 0);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long whole = ftell(f);
    fclose(f);
    gz_write(path, text, len, 1, (size_t)whole / 2);
    char *a, *b, ma[160], mb[160];
    size_t na, nb;
    ck_assert_int_eq(gz_all(path, false, &a, &na, ma, sizeof ma), -1);
    ck_assert_int_eq(gz_all(path, true, &b, &nb, mb, sizeof mb), -1);
    ck_assert_uint_eq(na, nb);
    ck_assert(na > 0 && memcmp(a, b, na) == 0 && memcmp(a, text, na) == 0);
    ck_assert_str_eq(ma, mb);
    ck_assert(strstr(ma, "truncated gzip file") != NULL);
    free(a); free(b);
    /* closed after one byte, the thread waiting on a full ring: it ends */
    gz_write(path, text, len, 1, 0);
    int fd = open(path, O_RDONLY);
    KiGz *g = ki_gz_open(fd, true);
    ck_assert(ki_gz_ahead(g));
    const char *m;
    char one;
    ck_assert_int_eq(ki_gz_read(g, &one, 1, &m), 1);
    ck_assert_int_eq(one, 't');
    usleep(20000);
    ki_gz_close(g);
    free(text);
}
END_TEST

/* ---- records cut in batches, their customers hashed ahead (csv.c cut_batch)
 * One record at a time and batches of 32 and of 5 (forced, however few
 * customers) give the same events: the customer in the third column after a quoted field holding a
 * comma, quoted ids, ids with doubled quotes, blank lines, runs of one
 * customer (short ones, and a stretch of 50-row runs that turns batches
 * off and on again), 1.7 MB (buffer refills cut batches short). */
START_TEST(csv_batch)
{
    size_t cap = 4u << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "kind,time,customer,event,sentiment\n");
    for (uint32_t i = 0; i < 40000; i++) {
        uint32_t c = i % 7 < 3 ? (i / 7 * 7919u) % 1500u : (i * 7919u) % 1500u;
        if (i >= 15000 && i < 25000) c = (i / 50u * 7919u) % 1500u;    /* grouped: batches stop, then start again */
        const char *kind = i % 11 == 0 ? "\"tech,nical\"" : i % 5 == 0 ? "technical" : "billing";
        char id[32];
        if (c % 97 == 0) snprintf(id, sizeof id, "\"c\"\"%u\"", c);
        else if (i % 13 == 0) snprintf(id, sizeof id, "\"c%u\"", c);
        else snprintf(id, sizeof id, "c%u", c);
        len += (size_t)snprintf(text + len, cap - len, "%s,%u,%s,ticket_closed,%d\n%s",
                                kind, 1772323200u + i * 7u, id, (int)(i % 3) - 1, i % 101 == 0 ? "\r\n" : "");
    }
    uint64_t before, mid, after;
    ki_csv_batch(1, &before);
    Run one = run1("batch.csv", text);
    ki_csv_batch(32, &mid);
    Run batch = run1("batch.csv", text);
    ki_csv_batch(5, &after);
    Run five = run1("batch.csv", text);
    ki_csv_batch(0, NULL);
    ck_assert_int_eq(five.rc, 0);
    ck_assert(one.outlen == five.outlen && memcmp(one.out, five.out, one.outlen) == 0);
    done(&five);
    ck_assert_int_eq(one.rc, 0);
    ck_assert_int_eq(batch.rc, 0);
    ck_assert_uint_eq(one.read, 40000);
    ck_assert_str_eq(one.err, batch.err);
    ck_assert(one.outlen == batch.outlen && memcmp(one.out, batch.out, one.outlen) == 0);
    ck_assert(strstr(one.out, " c\"97 ") != NULL);
    ck_assert_uint_eq(one.ncust, 1500);
    ck_assert_uint_eq(batch.ncust, 1500);
    /* hashed in the batch: every row but those with doubled quotes in the
     * id, those of the same customer as the row before and the grouped
     * stretch's */
    ck_assert_uint_gt(after - mid, 15000);
    ck_assert_uint_lt(after - mid, 36000);
    done(&one);
    done(&batch);
    free(text);
}
END_TEST

/* ---- JSON Lines: customer ids glanced at ahead (jsonl.c jsonl_ahead)
 * Glancing is a hint only: forced on (however few customers) and left to
 * itself the same events come, on lines that lead a glance astray (the
 * customer's key inside a string, spaces around the colon, an escaped id,
 * numbers (glanced at too), nested objects, blank and CRLF lines, a last line without a
 * line feed), ids short and long (36 bytes, 40 with a shared prefix), and
 * 1.4 MB (buffer refills in the middle of the look-ahead). */
START_TEST(jsonl_peek)
{
    size_t cap = 4u << 20, len = 0;
    char *text = malloc(cap);
    for (uint32_t i = 0; i < 12000; i++) {
        uint32_t c = (i * 7919u) % 2500u;
        char id[64];
        if (c % 3 == 0) snprintf(id, sizeof id, "c%u", c);
        else if (c % 3 == 1) snprintf(id, sizeof id, "%08x-1234-4abc-8def-%012u", c * 2654435761u, c);
        else snprintf(id, sizeof id, "shared-prefix-of-forty-bytes-%011u", c);
        const char *t = "";
        switch (i % 17) {
        case 0: t = "{\"note\":\"\\\"customer\\\":\\\"decoy\\\"\",\"time\":%u,\"customer\":\"%s\",\"event\":\"login\"}\n"; break;
        case 1: t = "{\"time\":%u, \"customer\" :  \"%s\", \"event\":\"login\"}\r\n"; break;
        case 2: t = "{\"x\":{\"customer\":\"nested\"},\"time\":%u,\"customer\":\"%s\",\"event\":\"ticket_closed\",\"sentiment\":-0.5}\n\n"; break;
        case 3: t = "{\"time\":%u,\"customer\":\"\\u0041%s\",\"event\":\"login\"}\n"; break;
        case 4: t = "{\"customer\":\"%2$s\",\"time\":%1$u,\"event\":\"login\",\"kind\":\"customer\"}\n"; break;
        case 5: t = "{\"time\":%u,\"customer\":-%.5s,\"event\":\"login\"}\n"; snprintf(id, sizeof id, "%u", 10000u + c); break;
        default: t = "{\"time\":%u,\"customer\":\"%s\",\"event\":\"login\"}\n"; break;
        }
        len += (size_t)snprintf(text + len, cap - len, t, 1772323200u + i * 7u, id);
    }
    len += (size_t)snprintf(text + len, cap - len, "{\"time\":1772323200,\"customer\":12345,\"event\":\"login\"}\n");
    len += (size_t)snprintf(text + len, cap - len, "{\"time\":1772323201,\"customer\":\"%s\",\"event\":\"login\"}",
                            "0000abcd-1234-4abc-8def-000000000001");
    uint64_t before, mid, after;
    ki_jsonl_peek(false, &before);
    Run own = run1("peek.jsonl", text);
    ki_jsonl_peek(true, &mid);
    Run forced = run1("peek.jsonl", text);
    ki_jsonl_peek(false, &after);
    ck_assert_int_eq(own.rc, 0);
    ck_assert_int_eq(forced.rc, 0);
    ck_assert_uint_eq(own.read, 12002);
    ck_assert_str_eq(own.err, forced.err);
    ck_assert(own.outlen == forced.outlen && memcmp(own.out, forced.out, own.outlen) == 0);
    ck_assert(strstr(own.out, " Ac1257 login") != NULL);       /* line 4: the escaped id */
    ck_assert(strstr(own.out, "1772323200 12345 login") != NULL);   /* the number */
    ck_assert(strstr(own.out, " -12095 login") != NULL);           /* line 6: a number (c = 2095) */
    ck_assert(strstr(own.out, " nested ") == NULL);
    ck_assert_uint_eq(mid - before, 0);          /* 2,500 customers: no glances by itself */
    ck_assert_uint_gt(after - mid, 9000);        /* forced: most lines (not the escaped ids) */
    done(&own);
    done(&forced);
    free(text);
}
END_TEST

START_TEST(csv_gz)
{
    Run r = run1("z.csv.gz", "time,customer,event\n2,a,login\n1,b,login\n");
    EXPECT_OUT(r, "1 b login @3\n2 a login @2\n");
    done(&r);
    r = run1("z.jsonl.gz", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_OUT(r, "1 a login @1\n");
    done(&r);
}
END_TEST

/* ---- ordering, shards ----------------------------------------------------- */

START_TEST(order_unsorted_and_ties)
{
    const char *p[3];
    p[0] = wfile("o1.csv", "time,customer,event\n5,a,login\n3,a,login\n5,b,login\n1,c,login\n3,d,login\n");
    p[1] = wfile("o2.jsonl", "{\"time\":3,\"customer\":\"x\",\"event\":\"login\"}\n"
                             "{\"time\":5,\"customer\":\"y\",\"event\":\"login\"}\n");
    p[2] = wfile("o3.csv", "time,customer,event\n0,z,login\n3,w,login\n");
    Run r = run_files(p, 3, false);
    EXPECT_OUT(r,
        "0 z login @2\n"
        "1 c login @5\n"
        "3 a login @3\n"
        "3 d login @6\n"
        "3 x login @1\n"
        "3 w login @3\n"
        "5 a login @2\n"
        "5 b login @4\n"
        "5 y login @2\n");
    done(&r);
}
END_TEST

/* big files: a sorted one large enough to go to the temporary file while
 * it is parsed, an unsorted one loaded and sorted; values survive packing */
START_TEST(order_big)
{
    enum { NA = 600000, NB = 300000 };
    char *a = malloc((size_t)NA * 64u + 64u), *b = malloc((size_t)NB * 64u + 64u);
    size_t la = (size_t)sprintf(a, "time,customer,event,kind,sentiment\n");
    size_t lb = (size_t)sprintf(b, "time,customer,event,kind,sentiment\n");
    for (int i = 0; i < NA; i++)
        la += (size_t)sprintf(a + la, "%d,c%d,ticket_closed,k%d,%d.5\n", i / 2, i % 1000, i % 7, i);
    for (int i = 0; i < NB; i++)
        lb += (size_t)sprintf(b + lb, "%d,d%d,ticket_closed,k%d,-%d\n", (int)(((long long)i * 7919) % NB), i % 1000, i % 5, i);
    const char *p[2] = { wfile("big1.csv", a), wfile("big2.csv", b) };
    free(a); free(b);
    TImg *t = timg();
    KrPool *cus = kr_pool_new(), *val = kr_pool_new();
    KrOptions opt = { 0 };
    opt.inputs = p; opt.ninputs = 2;
    KrInput *in = ki_open(&t->img, &opt, cus, val, stderr);
    ck_assert_ptr_nonnull(in);
    KrEvent ev;
    int64_t last = -1, n = 0, na = 0;
    uint64_t last_line = 0;
    const char *lastfile = NULL;
    /* (plain checks in the loop: a Check assertion per event is slow) */
    int64_t bad = 0, first_bad = -1;
#define OK(c) do { if (!(c)) { if (!bad++) first_bad = n; } } while (0)
    while (ki_next(in, &ev) == 1) {
        OK(ev.time >= last);
        if (ev.time == last && ev.file == lastfile) OK(ev.line > last_line);
        if (ev.time == last && ev.file != lastfile) OK(lastfile == p[0] && ev.file == p[1]);
        OK(ev.nattrs == 2 && ev.attr_ids[0] == 0 && ev.attr_ids[1] == 1);
        OK(ev.attr_vals[0].tag == KB_STR && ev.attr_vals[1].tag == KB_NUM);
        int64_t i = (int64_t)ev.line - 2;
        if (ev.file == p[0]) {
            na++;
            OK(ev.time == i / 2);
            OK(ev.attr_vals[1].num == (double)i + 0.5);
            size_t l;
            char want[16];
            snprintf(want, sizeof want, "c%d", (int)(i % 1000));
            OK(strcmp(kr_pool_str(cus, ev.customer, &l), want) == 0);
        } else {
            OK(ev.attr_vals[1].num == -(double)i);
            OK(ev.time == ((long long)i * 7919) % NB);
        }
        last = ev.time;
        last_line = ev.line;
        lastfile = ev.file;
        n++;
    }
#undef OK
    ck_assert_msg(bad == 0, "%lld bad events, the first at event %lld", (long long)bad, (long long)first_bad);
    ck_assert_int_eq(n, NA + NB);
    ck_assert_int_eq(na, NA);
    ki_close(in);
    kr_pool_free(cus); kr_pool_free(val); free(t);
}
END_TEST

START_TEST(shards)
{
    const char *text = "time,customer,event\n1,a,login\n2,b,login\n3,c,login\n4,d,login\n5,e,login\n6,f,login\n";
    const char *p = wfile("sh.csv", text);
    size_t total = 0;
    for (uint32_t k = 0; k < 3; k++) {
        KrOptions opt = { 0 };
        opt.inputs = &p; opt.ninputs = 1; opt.shard_k = k; opt.shard_n = 3;
        Run r = run_opt(&opt);
        ck_assert_int_eq(r.rc, 0);
        /* every delivered customer hashes to k */
        char *line = r.out;
        while (line && *line) {
            char cust[8];
            ck_assert_int_eq(sscanf(line, "%*d %7s", cust), 1);
            ck_assert_uint_eq(kb_fnv1a64(cust, strlen(cust), KB_FNV_OFFSET) % 3u, k);
            total++;
            line = strchr(line, '\n');
            if (line) line++;
        }
        done(&r);
    }
    ck_assert_uint_eq(total, 6);
}
END_TEST

/* ---- JSON Lines ------------------------------------------------------------ */

START_TEST(jsonl_basic)
{
    Run r = run1("a.jsonl",
        "{\"time\":\"2026-03-01T09:30:00Z\",\"customer\":\"c1\",\"event\":\"ticket_closed\",\"kind\":\"tech\",\"sentiment\":-0.5,\"note\":\"x\"}\n"
        "\n"
        "  {\"event\":\"response\",\"customer\":42,\"time\":1772357401,\"survey\":\"NPS\",\"score\":\"7\"}  \r\n"
        "{\"time\":1772357402,\"customer\":\"c\\\"3\",\"event\":\"identify\",\"segment\":true,\"tz\":null,\"x\":{\"a\":[1,2]}}\n"
        "{\"time\":1772357403,\"customer\":\"c4\",\"event\":\"ticket_closed\",\"kind\":[\"a\"],\"sentiment\":\"\",\"kind\":\"b\"}\n"
        "{\"time\":1772357404,\"customer\":\"c5\",\"event\":\"nope\",\"kind\":\"b\"}\n"
        "{\"time\":1772357405,\"customer\":\"c6\",\"event\":\"identify\",\"segment\":\"false\"}");
    EXPECT_OUT(r,
        "1772357400 c1 ticket_closed kind='tech' sentiment=-0.5 @1\n"
        "1772357401 42 response survey='NPS' score=7 @3\n"
        "1772357402 c\"3 identify segment=true @4\n"
        "1772357403 c4 ticket_closed kind='b' @5\n"
        "1772357404 c5 ? @6\n"
        "1772357405 c6 identify segment=false @7\n");   /* a string typed like a CSV cell */
    done(&r);
}
END_TEST

START_TEST(jsonl_errors)
{
    Run r;
    r = run1("j1.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\"}\n{\"time\":2,\"customer\":\"a\"}\n");
    EXPECT_ERR_ALL(r, "j1.jsonl:2: error: missing event\n"
                      "    2 | {\"time\":2,\"customer\":\"a\"}\n"); done(&r);
    /* an integer time out of range that looks like milliseconds (or micro-, nanoseconds) */
    r = run1("jm.jsonl", "{\"time\":1772366580000,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR_ALL(r, "jm.jsonl:1:9: error: time 1772366580000 is out of range for Unix seconds (years 0000 to 9999)\n"
                      "    1 | {\"time\":1772366580000,\"customer\":\"a\",\"event\":\"login\"}\n"
                      "      |         ^\n"
                      "      = hint: it looks like milliseconds: 1772366580000 is 2026-03-01T12:03:00Z; "
                      "write Unix seconds (1772366580) or RFC 3339, or read it as it is: --schema with time: {unit: ms}\n"); done(&r);
    r = run1("ju.jsonl", "{\"customer\":\"a\",\"event\":\"login\",\"time\":\"1772366580000000\"}\n");
    EXPECT_ERR_ALL(r, "ju.jsonl:1:40: error: time 1772366580000000 is out of range for Unix seconds (years 0000 to 9999)\n"
                      "    1 | {\"customer\":\"a\",\"event\":\"login\",\"time\":\"1772366580000000\"}\n"
                      "      |                                        ^\n"
                      "      = hint: it looks like microseconds: 1772366580000000 is 2026-03-01T12:03:00Z; "
                      "write Unix seconds (1772366580) or RFC 3339, or read it as it is: --schema with time: {unit: us}\n"); done(&r);
    /* out of range, but not a plausible recent time in any unit: no hint */
    r = run1("jn.jsonl", "{\"time\":-99999999999999,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR_ALL(r, "jn.jsonl:1:9: error: time -99999999999999 is out of range for Unix seconds (years 0000 to 9999)\n"
                      "    1 | {\"time\":-99999999999999,\"customer\":\"a\",\"event\":\"login\"}\n"
                      "      |         ^\n"); done(&r);
    r = run1("j2.jsonl", "{\"time\":\"yesterday\",\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j2.jsonl:1:9: error: bad time \"yesterday\" (expected RFC 3339 like 2026-03-01T09:30:00Z, or integer Unix seconds)\n"); done(&r);
    r = run1("j3.jsonl", "\n\n{\"time\":1,\"customer\":\"a\",\"event\":\"login\"\n");
    EXPECT_ERR(r, "j3.jsonl:3: error: incomplete JSON object (expected one object per line)\n"); done(&r);
    r = run1("j4.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\",}\n");
    EXPECT_ERR(r, "j4.jsonl:1:43: error: invalid JSON: invalid object key (must be a string)\n"); done(&r);
    r = run1("j5.jsonl", "[1,2]\n");
    EXPECT_ERR(r, "j5.jsonl:1: error: expected a JSON object, not an array\n"); done(&r);
    r = run1("j6.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\"} {\"time\":1}\n");
    EXPECT_ERR(r, "j6.jsonl:1: error: more than one JSON value on the line\n"); done(&r);
    r = run1("j7.jsonl", "{\"time\":1.5,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j7.jsonl:1:9: error: bad time 1.5 (expected an RFC 3339 string or integer Unix seconds)\n"); done(&r);
    r = run1("j8.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\",\"time\":2}\n");
    EXPECT_ERR(r, "j8.jsonl:1: error: duplicate key \"time\"\n"); done(&r);
    r = run1("j9.jsonl", "{\"time\":1,\"customer\":true,\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j9.jsonl:1: error: bad customer: true (expected a string or a number)\n"); done(&r);
    r = run1("j10.jsonl", "{\"time\":1,\"customer\":\"\",\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j10.jsonl:1: error: missing customer\n"); done(&r);
    r = run1("j11.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":5}\n");
    EXPECT_ERR(r, "j11.jsonl:1: error: bad event 5 (expected a string)\n"); done(&r);
    r = run1("j12.jsonl", "17\n");
    EXPECT_ERR(r, "j12.jsonl:1: error: expected a JSON object\n"); done(&r);
    r = run1("j13.jsonl", "{\"time\":null,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j13.jsonl:1: error: missing time\n"); done(&r);
    r = run1("j14.jsonl", "{\"time\":1,\"customer\":{\"id\":1},\"event\":\"login\"}\n");
    EXPECT_ERR(r, "j14.jsonl:1: error: bad customer: an object\n"); done(&r);
}
END_TEST

/* A required key (time, customer, event) given twice is an error whatever
 * the values, null and "" too; bytes after the object are one message, at
 * the first of them; a boolean time is a bad time at its column.  Each on
 * the flat-object path and through yajl (a key with an escape). */
START_TEST(jsonl_duplicates_and_trailing)
{
    static const char *const dup[][2] = {
        { "{\"time\":1,\"time\":null,\"customer\":\"a\",\"event\":\"login\"}", "time" },
        { "{\"time\":\"\",\"time\":1,\"customer\":\"a\",\"event\":\"login\"}", "time" },
        { "{\"t\\u0069me\":1,\"time\":null,\"customer\":\"a\",\"event\":\"login\"}", "time" },
        { "{\"time\":1,\"customer\":null,\"customer\":\"a\",\"event\":\"login\"}", "customer" },
        { "{\"time\":1,\"customer\":\"a\",\"customer\":\"\",\"event\":\"login\"}", "customer" },
        { "{\"time\":1,\"customer\":\"a\",\"event\":\"login\",\"event\":null}", "event" },
        { "{\"time\":1,\"customer\":\"a\",\"event\":\"login\",\"event\":{}}", "event" },
        { "{\"time\":1,\"customer\":\"\\u0061\",\"event\":null,\"event\":\"login\"}", "event" },
    };
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        char text[256], want[128];
        snprintf(text, sizeof text, "%s\n", dup[i][0]);
        snprintf(want, sizeof want, "d.jsonl:1: error: duplicate key \"%s\"\n", dup[i][1]);
        Run r = run1("d.jsonl", text);
        EXPECT_ERR(r, want); done(&r);
    }
    Run r = run1("b.jsonl", "{\"time\":true,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR_ALL(r, "b.jsonl:1:9: error: bad time true (expected an RFC 3339 string or integer Unix seconds)\n"
                      "    1 | {\"time\":true,\"customer\":\"a\",\"event\":\"login\"}\n"
                      "      |         ^\n"); done(&r);
    r = run1("b.jsonl", "{\"x\":\"\\u0041\", \"time\" : false,\"customer\":\"a\",\"event\":\"login\"}\n");
    EXPECT_ERR(r, "b.jsonl:1:25: error: bad time false (expected an RFC 3339 string or integer Unix seconds)\n"); done(&r);
    /* after the object (41 bytes): \v, \f, a non-breaking space, a token */
    static const char *const after[] = { "\v", "\f", "\xc2\xa0", " null", "]", "}", " [1]", " 5", "\t\"x\"", "t" };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++)
        for (int esc = 0; esc < 2; esc++) {
            char text[128], want[160];
            snprintf(text, sizeof text, "{\"time\":1,\"customer\":\"%s\",\"event\":\"login\"}%s\n", esc ? "\\u0061" : "a", after[i]);
            size_t col = (esc ? 47u : 42u) + (after[i][0] == ' ' || after[i][0] == '\t');
            snprintf(want, sizeof want, "t.jsonl:1:%zu: error: invalid JSON: something follows the object (expected one object per line)\n", col);
            r = run1("t.jsonl", text);
            EXPECT_ERR(r, want); done(&r);
        }
    r = run1("t.jsonl", "{\"time\":1,\"customer\":\"a\",\"event\":\"login\"} {\"time\":2}\n");
    EXPECT_ERR(r, "t.jsonl:1: error: more than one JSON value on the line\n"); done(&r);
}
END_TEST

/* An attribute key given twice: the last value wins, whatever it is; a
 * null, "" or nested last value makes the attribute missing. */
START_TEST(jsonl_last_value_wins)
{
    Run r = run1("l.jsonl",
        "{\"time\":1,\"customer\":\"a\",\"event\":\"ticket_closed\",\"kind\":\"x\",\"kind\":null}\n"
        "{\"time\":2,\"customer\":\"b\",\"event\":\"ticket_closed\",\"kind\":\"x\",\"kind\":\"\"}\n"
        "{\"time\":3,\"customer\":\"c\",\"event\":\"ticket_closed\",\"kind\":\"x\",\"kind\":{\"y\":1}}\n"
        "{\"time\":4,\"customer\":\"d\",\"event\":\"ticket_closed\",\"kind\":\"x\",\"kind\":[1]}\n"
        "{\"time\":5,\"customer\":\"e\",\"event\":\"ticket_closed\",\"kind\":null,\"kind\":\"y\"}\n"
        "{\"time\":6,\"customer\":\"f\",\"event\":\"ticket_closed\",\"kind\":[],\"kind\":\"y\",\"sentiment\":1,\"sentiment\":null,\"sentiment\":2}\n"
        "{\"time\":7,\"customer\":\"\\u0067\",\"event\":\"ticket_closed\",\"kind\":\"x\",\"kind\":null}\n"
        "{\"time\":8,\"customer\":\"h\",\"event\":\"ticket_closed\",\"sentiment\":true,\"sentiment\":false}\n"
        "{\"time\":9,\"customer\":\"i\",\"event\":\"ticket_closed\",\"sentiment\":-1,\"kind\":\"z\",\"sentiment\":null}\n");
    EXPECT_OUT(r,
        "1 a ticket_closed @1\n"
        "2 b ticket_closed @2\n"
        "3 c ticket_closed @3\n"
        "4 d ticket_closed @4\n"
        "5 e ticket_closed kind='y' @5\n"
        "6 f ticket_closed kind='y' sentiment=2 @6\n"
        "7 g ticket_closed @7\n"
        "8 h ticket_closed sentiment=false @8\n"
        "9 i ticket_closed kind='z' @9\n");
    done(&r);
}
END_TEST

/* Segment input (SPEC.md 5.12): the call's own keys given twice are an
 * error whatever the values; any other key's last value wins, a missing
 * one (null, "", an array) too, at every depth. */
START_TEST(segment_duplicates_and_last_wins)
{
#define SEG_TS "\"timestamp\":\"2026-03-01T09:30:00.000Z\""
    static const char *const dup[][2] = {
        { "{\"type\":\"track\",\"userId\":\"a\",\"userId\":null,\"event\":\"login\"," SEG_TS "}", "userId" },
        { "{\"type\":\"track\",\"userId\":\"\",\"userId\":\"a\",\"event\":\"login\"," SEG_TS "}", "userId" },
        { "{\"type\":\"track\",\"userId\":\"a\",\"event\":\"login\",\"event\":\"\"," SEG_TS "}", "event" },
        { "{\"type\":\"track\",\"userId\":\"a\",\"event\":\"login\",\"ev\\u0065nt\":{}," SEG_TS "}", "event" },
        { "{\"type\":\"track\",\"userId\":\"a\",\"event\":\"login\"," SEG_TS ",\"timestamp\":null}", "timestamp" },
        { "{\"type\":\"track\",\"anonymousId\":\"a\",\"anonymousId\":\"a\",\"event\":\"login\"," SEG_TS "}", "anonymousId" },
        { "{\"type\":\"track\",\"type\":\"track\",\"userId\":\"a\",\"event\":\"login\"," SEG_TS "}", "type" },
        { "{\"type\":\"identify\",\"userId\":\"a\",\"event\":1,\"event\":2," SEG_TS "}", "event" },
        { "{\"type\":\"alias\",\"userId\":\"a\",\"userId\":\"b\"," SEG_TS "}", "userId" },
    };
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        char text[256], want[128];
        snprintf(text, sizeof text, "%s\n", dup[i][0]);
        snprintf(want, sizeof want, "d.jsonl:1: error: duplicate key \"%s\"\n", dup[i][1]);
        const char *p = wfile("d.jsonl", text);
        KrOptions opt = { 0 };
        opt.inputs = &p; opt.ninputs = 1; opt.segment = true;
        Run r = run_opt(&opt);
        EXPECT_ERR(r, want); done(&r);
    }
#define SEG_TC "{\"type\":\"track\",\"event\":\"ticket_closed\"," SEG_TS
    const char *p = wfile("l.jsonl",
        SEG_TC ",\"userId\":\"a\",\"properties\":{\"kind\":\"x\",\"kind\":null}}\n"
        SEG_TC ",\"userId\":\"b\",\"properties\":{\"kind\":\"x\",\"kind\":\"\"}}\n"
        SEG_TC ",\"userId\":\"c\",\"properties\":{\"kind\":\"x\",\"kind\":[1]}}\n"
        SEG_TC ",\"userId\":\"d\",\"properties\":{\"kind\":\"x\",\"kind\":{\"y\":1}}}\n"
        SEG_TC ",\"userId\":\"e\",\"properties\":{\"kind\":null,\"kind\":\"y\",\"sentiment\":1,\"sentiment\":null,\"sentiment\":2}}\n"
        SEG_TC ",\"userId\":\"f\",\"properties\":{\"kind\":\"x\"},\"properties\":{\"sentiment\":true}}\n"
        SEG_TC ",\"userId\":\"g\",\"properties\":{\"kind\":\"x\",\"k\\u0069nd\":null,\"sentiment\":-1}}\n"
        "{\"type\":\"identify\",\"userId\":\"h\"," SEG_TS ",\"traits\":{\"segment\":\"gold\",\"segment\":null}}\n"
        "{\"type\":\"identify\",\"userId\":\"i\"," SEG_TS ",\"traits\":{\"segment\":null,\"segment\":\"gold\"}}\n");
    KrOptions opt = { 0 };
    opt.inputs = &p; opt.ninputs = 1; opt.segment = true;
    Run r = run_opt(&opt);
    EXPECT_OUT(r,
        "1772357400 a ticket_closed @1\n"
        "1772357400 b ticket_closed @2\n"
        "1772357400 c ticket_closed @3\n"
        "1772357400 d ticket_closed @4\n"
        "1772357400 e ticket_closed kind='y' sentiment=2 @5\n"
        "1772357400 f ticket_closed sentiment=true @6\n"
        "1772357400 g ticket_closed sentiment=-1 @7\n"
        "1772357400 h identify @8\n"
        "1772357400 i identify segment='gold' @9\n");
    done(&r);
#undef SEG_TC
#undef SEG_TS
}
END_TEST

START_TEST(jsonl_skip_bad_rows)
{
    const char *p = wfile("s.ndjson",
        "{\"time\":1,\"customer\":\"a\",\"event\":\"login\"}\n"
        "{\"time\":2,\"customer\":\"b\",\n"
        "{\"time\":\"x\",\"customer\":\"c\",\"event\":\"login\"}\n"
        "nonsense\n"
        "{\"time\":4,\"customer\":\"e\",\"event\":\"login\"}\n");
    Run r = run_files(&p, 1, true);
    EXPECT_OUT(r, "1 a login @1\n4 e login @5\n");
    ck_assert_uint_eq(r.skipped, 3);
    done(&r);
}
END_TEST

START_TEST(stdin_input)
{
    const char *p = wfile("in.jsonl", "{\"time\":2,\"customer\":\"a\",\"event\":\"login\"}\n"
                                      "{\"time\":1,\"customer\":\"b\",\"event\":\"login\"}\n");
    FILE *f = freopen(p, "rb", stdin);
    ck_assert_ptr_nonnull(f);
    const char *dash = "-";
    KrOptions opt = { 0 };
    opt.inputs = &dash; opt.ninputs = 1; opt.stdin_format = "jsonl";
    Run r = run_opt(&opt);
    EXPECT_OUT(r, "1 b login @2\n2 a login @1\n");
    done(&r);
}
END_TEST

Suite *input_suite(void)
{
    Suite *s = suite_create("input");
    TCase *tc = tcase_create("time");
    /* 800,000 ids interned and looked up again (pool_grows_in_place) took
     * past Check's default 4 s on a machine loaded twelvefold */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, time_formats);
    tcase_add_test(tc, time_bad);
    tcase_add_test(tc, time_cached_same);
    tcase_add_test(tc, pool_basics);
    tcase_add_test(tc, pool_long_strings);
    tcase_add_test(tc, pool_grows_in_place);
    tcase_add_test(tc, bad_id_every_place);
    suite_add_tcase(s, tc);
    tc = tcase_create("readers");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, csv_basic);
    tcase_add_test(tc, csv_rfc4180);
    tcase_add_test(tc, csv_values);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, csv_skip_bad_rows);
    tcase_add_test(tc, csv_gz);
    tcase_add_test(tc, gz_read_ahead);
    tcase_add_test(tc, csv_batch);
    tcase_add_test(tc, jsonl_peek);
    tcase_add_test(tc, order_unsorted_and_ties);
    tcase_add_test(tc, order_big);
    tcase_add_test(tc, shards);
    tcase_add_test(tc, jsonl_basic);
    tcase_add_test(tc, jsonl_errors);
    tcase_add_test(tc, jsonl_duplicates_and_trailing);
    tcase_add_test(tc, jsonl_last_value_wins);
    tcase_add_test(tc, jsonl_skip_bad_rows);
    tcase_add_test(tc, segment_duplicates_and_last_wins);
    tcase_add_test(tc, stdin_input);
    suite_add_tcase(s, tc);
    return s;
}
