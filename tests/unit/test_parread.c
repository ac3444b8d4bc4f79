/* test_parread.c -- runtime/input_par.c: the parallel first pass hands the
 * sink the same rows (times, customer and value pool ids, attributes, line
 * numbers), in the same order, with the same messages and counts, as the
 * sequential read, whatever the range size and the number of threads:
 * cut points, quoted fields with line breaks across cuts, CRLF, a BOM,
 * blank lines, an error in a later range, skipped bad rows, shards, JSON
 * Lines. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "units.h"
#include "../../lang/lang.h"
#include "../../runtime/input_impl.h"

static KImage *compile(const char *src)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions o = { 0 };
    KProgram *p = kc_load_text("t.kai", src, strlen(src), &o, &d);
    ck_assert_ptr_nonnull(p);
    ck_assert(!kd_failed(&d));
    KImage *img = kg_compile(p);
    ck_assert_ptr_nonnull(img);
    kc_free(p);
    kd_free(&d);
    return img;
}

static const char *POLICY =
    "policy \"p\"\nevent ticket_closed { kind: string, n: number }\n"
    "rule a:\n  ask CSAT via email\n  after ticket_closed + 2h where kind == \"x\" and n > 1\n";

typedef struct Seen { FILE *m; KrPool *cust, *vals; } Seen;

/* The sink: one text line per row, every field of it. */
static int render(void *arg, uint32_t file, const KrEvent *ev)
{
    Seen *s = arg;
    size_t len;
    const char *c = kr_pool_str(s->cust, ev->customer, &len);
    fprintf(s->m, "%u %s:%llu t=%lld c=%u:%s e=%u", file, ev->file, (unsigned long long)ev->line,
            (long long)ev->time, ev->customer, c, ev->event);
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const KrValue *v = &ev->attr_vals[i];
        fprintf(s->m, " a%u=", ev->attr_ids[i]);
        if (v->tag == KB_STR) fprintf(s->m, "s%u:%s", v->str, kr_pool_str(s->vals, v->str, &len));
        else if (v->tag == KB_NUM) fprintf(s->m, "n%.17g", v->num);
        else fprintf(s->m, "b%d", (int)v->b);
    }
    fputc('\n', s->m);
    return 0;
}

/* One read of the files with `jobs` threads: the rows, then the messages
 * and the counts, as text. */
static char *drain(const KImage *img, const KrOptions *opt, uint32_t jobs, int *rc)
{
    char *text = NULL, *err = NULL;
    size_t tlen = 0, elen = 0;
    Seen s = { open_memstream(&text, &tlen), kr_pool_new(), kr_pool_new() };
    FILE *e = open_memstream(&err, &elen);
    KrInput *in = ki_open(img, opt, s.cust, s.vals, e);
    ck_assert_ptr_nonnull(in);
    *rc = ki_drain_jobs(in, render, &s, jobs);
    fprintf(s.m, "rc=%d bytes=%llu read=%llu skipped=%llu other=%lld customers=%u values=%u\n", *rc,
            (unsigned long long)ki_bytes_read(in),
            (unsigned long long)ki_rows_read(in), (unsigned long long)ki_rows_skipped(in),
            (long long)ki_other_shards_latest(in), kr_pool_count(s.cust), kr_pool_count(s.vals));
    ki_close(in);
    fclose(e);
    fprintf(s.m, "messages:\n%s", err);
    free(err);
    fclose(s.m);
    kr_pool_free(s.cust);
    kr_pool_free(s.vals);
    return text;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Kinds of file content. */
enum { F_PLAIN = 1, F_QUOTED_NL = 2, F_CRLF = 4, F_BOM = 8, F_BLANK = 16, F_BAD = 32 };

/* Writes n rows to path; with F_BAD, row bad (0-based) has a bad time. */
static void write_log(const char *path, int n, int flags, int bad)
{
    FILE *o = fopen(path, "wb");
    ck_assert_ptr_nonnull(o);
    const char *nl = flags & F_CRLF ? "\r\n" : "\n";
    if (flags & F_BOM) fputs("\xEF\xBB\xBF", o);
    fprintf(o, "time,customer,event,kind,n%s", nl);
    for (int i = 0; i < n; i++) {
        if ((flags & F_BLANK) && rnd(7) == 0) fputs(nl, o);
        char t[32];
        if ((flags & F_BAD) && (i == bad || (bad < 0 && rnd(50) == 0))) snprintf(t, sizeof t, "2026-13-01T00:00:00Z");
        else snprintf(t, sizeof t, "%ld", 1767225600L + 60L * rnd(5000));
        const char *ev = rnd(3) == 0 ? "login" : "ticket_closed";
        fprintf(o, "%s,c%u,%s,", t, rnd(300), ev);
        if ((flags & F_QUOTED_NL) && rnd(3) == 0)
            fprintf(o, "\"k%u,\"\"q\"\"%s%s%u\"", rnd(20), nl, rnd(2) ? nl : "", rnd(9));
        else if (rnd(4) == 0) fprintf(o, "\"v%u\"", rnd(50));
        else fprintf(o, "%s", rnd(2) ? "x" : "y");
        fprintf(o, ",%u%s", rnd(5), nl);
    }
    fclose(o);
}

/* Writes n JSON Lines rows to path; with F_BAD, row bad has a bad time. */
static void write_jsonl(const char *path, int n, int flags, int bad)
{
    FILE *o = fopen(path, "wb");
    ck_assert_ptr_nonnull(o);
    const char *nl = flags & F_CRLF ? "\r\n" : "\n";
    if (flags & F_BOM) fputs("\xEF\xBB\xBF", o);
    for (int i = 0; i < n; i++) {
        if ((flags & F_BLANK) && rnd(7) == 0) fputs(nl, o);
        char t[40];
        if ((flags & F_BAD) && i == bad) snprintf(t, sizeof t, "\"2026-13-01T00:00:00Z\"");
        else snprintf(t, sizeof t, "%ld", 1767225600L + 60L * rnd(5000));
        fprintf(o, "{\"time\": %s, \"customer\": \"c%u\", \"event\": \"%s\", \"kind\": \"%s%u\", \"n\": %u}%s", t,
                rnd(300), rnd(3) == 0 ? "login" : "ticket_closed", rnd(2) ? "x" : "k\\n", rnd(9), rnd(5), nl);
    }
    fclose(o);
}

/* The read with 2 to 4 threads and several range sizes gives the
 * sequential one; returns the sequential text (caller frees). */
static char *same_as_sequential(const char *path, const KrOptions *base, int *rc1, uint64_t *handed,
                                uint64_t *fallbacks)
{
    uint64_t h0, f0;
    ki_par_counts(&h0, &f0);
    KImage *img = compile(POLICY);
    KrOptions opt = *base;
    const char *inputs[1] = { path };
    opt.inputs = inputs;
    opt.ninputs = 1;
    ki_par_range_bytes(512u << 10);
    char *want = drain(img, &opt, 1, rc1);
    static const uint64_t sizes[] = { 97, 1000, 4096, 20000 };
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (uint32_t jobs = 2; jobs <= 4; jobs++) {
            ki_par_range_bytes(sizes[z]);
            int rc;
            char *got = drain(img, &opt, jobs, &rc);
            ck_assert_int_eq(rc, *rc1);
            size_t d = 0;
            while (got[d] && got[d] == want[d]) d++;
            ck_assert_msg(got[d] == want[d], "range %llu, %u jobs: differs at byte %zu: \"%.80s\" vs \"%.80s\"",
                          (unsigned long long)sizes[z], jobs, d, got + d, want + d);
            free(got);
        }
    ki_par_range_bytes(512u << 10);
    kb_free(img);
    ki_par_counts(handed, fallbacks);
    *handed -= h0;
    *fallbacks -= f0;
    return want;
}

static char *tmp_path(const char *name)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/kairos-parread-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    char *p = malloc(128);
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

/* Every cut is just after a line feed, in increasing order, about one
 * range size apart. */
START_TEST(test_cut_points)
{
    char *path = tmp_path("cuts.csv");
    write_log(path, 3000, F_PLAIN, 0);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    off_t size = lseek(fd, 0, SEEK_END);
    char *all = malloc((size_t)size);
    ck_assert_int_eq(pread(fd, all, (size_t)size, 0), size);
    uint64_t h = (uint64_t)(strchr(all, '\n') - all) + 1u;
    uint64_t at[4096];
    ki_par_range_bytes(1000);
    uint32_t n = ki_par_cuts(fd, h, (uint64_t)size, at, 4096);
    ck_assert_uint_gt(n, (uint64_t)size / 1100u);
    ck_assert_uint_eq(at[0], h);
    for (uint32_t i = 1; i < n; i++) {
        ck_assert_uint_gt(at[i], at[i - 1u]);
        ck_assert_uint_lt(at[i], (uint64_t)size);
        ck_assert_int_eq(all[at[i] - 1u], '\n');
        ck_assert_uint_ge(at[i] - at[i - 1u], 1000u);
        ck_assert(memchr(all + at[i - 1u] + 999u, '\n', at[i] - at[i - 1u] - 999u) == all + at[i] - 1u);
    }
    ck_assert_uint_lt((uint64_t)size - at[n - 1u], 1000u + 64u);
    /* max bounds the count */
    ck_assert_uint_eq(ki_par_cuts(fd, h, (uint64_t)size, at, 3), 3);
    ki_par_range_bytes(512u << 10);
    close(fd);
    free(all);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_plain_and_crlf_bom_blank)
{
    static const int kinds[] = { F_PLAIN, F_CRLF, F_BOM | F_BLANK, F_CRLF | F_BOM | F_BLANK };
    for (size_t k = 0; k < 4; k++) {
        char *path = tmp_path("plain.csv");
        write_log(path, 4000, kinds[k], 0);
        KrOptions o = { 0 };
        int rc;
        uint64_t handed, fallbacks;
        char *want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
        ck_assert_int_eq(rc, 0);
        if (!(kinds[k] & F_BLANK)) ck_assert_ptr_nonnull(strstr(want, "plain.csv:4001 "));   /* row 4000's line */
        ck_assert_uint_gt(strlen(want), 100000u);
        ck_assert_uint_gt(handed, 1000u);          /* the ranges were read in parallel */
        ck_assert_uint_eq(fallbacks, 0);
        free(want);
        unlink(path);
        free(path);
    }
}
END_TEST

/* Quoted fields with line breaks: cuts fall inside them; the read falls
 * back to sequential from the first doubtful range, same rows and lines. */
START_TEST(test_quoted_newlines)
{
    static const int kinds[] = { F_QUOTED_NL, F_QUOTED_NL | F_CRLF };
    for (size_t k = 0; k < 2; k++) {
        char *path = tmp_path("quoted.csv");
        write_log(path, 4000, kinds[k], 0);
        KrOptions o = { 0 };
        int rc;
        uint64_t handed, fallbacks;
        char *want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_gt(strlen(want), 100000u);
        ck_assert_uint_gt(fallbacks, 0);           /* some cut fell inside quotes */
        /* skipping bad rows changes nothing either */
        o.skip_bad_rows = true;
        free(want);
        want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
        ck_assert_int_eq(rc, 0);
        ck_assert(strstr(want, "skipped=0 ") != NULL);
        ck_assert_uint_gt(fallbacks, 0);
        free(want);
        unlink(path);
        free(path);
    }
}
END_TEST

/* A bad time far into the file (a later range): the same message, naming
 * the right line, and no rows after it. */
START_TEST(test_error_in_later_range)
{
    static const int kinds[] = { F_BAD, F_BAD | F_CRLF | F_BLANK, F_BAD | F_QUOTED_NL };
    for (size_t k = 0; k < 3; k++) {
        char *path = tmp_path("bad.csv");
        write_log(path, 4000, kinds[k], 3000);
        KrOptions o = { 0 };
        int rc;
        uint64_t handed, fallbacks;
        char *want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
        ck_assert_int_eq(rc, -1);
        if (!(kinds[k] & F_QUOTED_NL)) ck_assert_uint_gt(handed, 100u);   /* ranges before the error: in parallel */
        ck_assert_uint_gt(fallbacks, 0);
        const char *m = strstr(want, "bad.csv:");
        m = m ? strstr(want, "messages:\n") : NULL;
        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_nonnull(strstr(m, "error: bad time"));
        if (kinds[k] == F_BAD) ck_assert_ptr_nonnull(strstr(m, "bad.csv:3002:1: error"));
        free(want);
        unlink(path);
        free(path);
    }
}
END_TEST

/* Many bad rows skipped (--skip-bad-rows), and a shard. */
START_TEST(test_skipped_rows_and_shard)
{
    char *path = tmp_path("skip.csv");
    write_log(path, 4000, F_BAD | F_BLANK, -1);
    KrOptions o = { .skip_bad_rows = true };
    int rc;
    uint64_t handed, fallbacks;
    char *want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
    ck_assert_int_eq(rc, 0);
    ck_assert(strstr(want, "skipped=0 ") == NULL);
    ck_assert_uint_gt(handed, 1000u);
    ck_assert_uint_eq(fallbacks, 0);               /* skipped rows need no fallback */
    free(want);
    KrOptions s = { .skip_bad_rows = true, .shard_n = 3, .shard_k = 1 };
    want = same_as_sequential(path, &s, &rc, &handed, &fallbacks);
    ck_assert_int_eq(rc, 0);
    ck_assert(strstr(want, "other=-") == NULL);      /* rows of other shards were seen */
    free(want);
    unlink(path);
    free(path);
}
END_TEST

/* JSON Lines files are read in parallel too: a BOM on line 1, CRLF,
 * blank lines, a bad time far into the file. */
START_TEST(test_jsonl)
{
    static const int kinds[] = { F_PLAIN, F_BOM | F_CRLF | F_BLANK, F_BAD, F_BAD | F_BOM | F_BLANK };
    for (size_t k = 0; k < 4; k++) {
        char *path = tmp_path("log.jsonl");
        write_jsonl(path, 3000, kinds[k], 2000);
        KrOptions o = { 0 };
        int rc;
        uint64_t handed, fallbacks;
        char *want = same_as_sequential(path, &o, &rc, &handed, &fallbacks);
        ck_assert_int_eq(rc, kinds[k] & F_BAD ? -1 : 0);
        ck_assert_uint_gt(handed, 100u);
        ck_assert_uint_eq(fallbacks, kinds[k] & F_BAD ? 12u : 0u);   /* 4 range sizes x 3 thread counts */
        if (kinds[k] == F_BAD) ck_assert_ptr_nonnull(strstr(want, "log.jsonl:2001:"));
        if (!(kinds[k] & F_BAD)) ck_assert_ptr_nonnull(strstr(want, "rc=0 bytes="));
        free(want);
        unlink(path);
        free(path);
    }
}
END_TEST

Suite *parread_suite(void)
{
    Suite *s = suite_create("parread");
    TCase *tc = tcase_create("same-as-sequential");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cut_points);
    tcase_add_test(tc, test_plain_and_crlf_bom_blank);
    tcase_add_test(tc, test_quoted_newlines);
    tcase_add_test(tc, test_error_in_later_range);
    tcase_add_test(tc, test_skipped_rows_and_shard);
    tcase_add_test(tc, test_jsonl);
    suite_add_tcase(s, tc);
    return s;
}
