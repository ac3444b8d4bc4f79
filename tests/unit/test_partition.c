/* test_partition.c -- runtime/partition.c: the partitioned replay gives the
 * schedule and the statistics of one engine fed the whole log in replay
 * order (ki_next), for any --jobs, with spilling, for grouped, shuffled and
 * several input files whose rows share timestamps (buckets replayed in time
 * order, customer by customer as they lie, or sorted by customer); and so
 * does each lane of a run with two policies (diff, readout, report). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "units.h"
#include "../../lang/lang.h"
#include "../../runtime/internal.h"

static char dir[64];
static bool runs_forced;               /* kp_row_runs_force in effect: rows go to runs */
static bool xsort_forced;              /* kp_load_limit_force in effect: buckets sorted in runs */

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

/* A policy reading most of the state the engine keeps: zones (identify
 * tz), windows, counts, opt-out, caps, quiet hours, reminders, a task. */
static const char *POLICY =
    "policy \"p\"\ntimezone \"Europe/Oslo\"\n"
    "event ticket_closed { kind: string }\nsurvey REVIEW\n"
    "cap 1 per 3d\nquiet 20:00-08:00 on sms\n"
    "rule a:\n  ask CSAT via email\n  after ticket_closed + 2h where kind == \"x\"\n"
    "  if count(login within 1d) >= 1\n  priority 5\n"
    "rule b:\n  ask REVIEW via sms then email after 3h\n  after purchase + 1h\n"
    "rule c:\n  task call via phone after response + 30m where score <= 6\n";

static const char *EVENTS[] = { "login", "login", "login", "purchase", "ticket_closed",
                                "response", "identify", "opt_out", "other" };
static const char *ZONES[] = { "UTC", "Asia/Tokyo", "America/New_York", "Europe/Oslo" };

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Writes nfiles CSV files of n rows each over ncust customers; times on a
 * coarse grid (many ties within and across files); order: 0 time-sorted,
 * 1 grouped by customer, 2 shuffled, 3 grouped by customer with each
 * customer's rows out of time order. */
static void gen(int nfiles, int n, int ncust, int order)
{
    for (int f = 0; f < nfiles; f++) {
        typedef struct { long t; int c, e, x; } Row;
        Row *rows = malloc((size_t)n * sizeof *rows);
        ck_assert_ptr_nonnull(rows);
        for (int i = 0; i < n; i++)
            rows[i] = (Row){ 1767225600L + 3600L * rnd(500), (int)rnd((uint32_t)ncust), (int)rnd(9), (int)rnd(10) };
        if (order == 0 || order == 1 || order == 3)
            for (int i = 1; i < n; i++) {             /* stable insertion sort */
                Row x = rows[i];
                int j = i;
                while (j > 0 && (order == 0 ? rows[j - 1].t > x.t
                                 : order == 3 ? rows[j - 1].c > x.c
                                 : rows[j - 1].c > x.c || (rows[j - 1].c == x.c && rows[j - 1].t > x.t))) {
                    rows[j] = rows[j - 1];
                    j--;
                }
                rows[j] = x;
            }
        char path[128];
        snprintf(path, sizeof path, "%s/e%d.csv", dir, f);
        FILE *o = fopen(path, "w");
        ck_assert_ptr_nonnull(o);
        fputs("time,customer,event,kind,score,tz,channel\n", o);
        for (int i = 0; i < n; i++) {
            const Row *r = &rows[i];
            fprintf(o, "%ld,c%d,%s,%s,%d,%s,%s\n", r->t, r->c, EVENTS[r->e], r->x < 5 ? "x" : "y", r->x,
                    r->e == 6 ? ZONES[r->x % 4] : "", r->e == 7 ? (r->x < 5 ? "sms" : "email") : "");
        }
        fclose(o);
        free(rows);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char b[65536];
    size_t k;
    while ((k = fread(b, 1, sizeof b, f)) > 0) fwrite(b, 1, k, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* replay_csv -- kp_replay of run into the CSV file out; its bytes (the
 * caller frees them). */
static char *replay_csv(KpRun *run, const KImage *img, KrPool *cust, const char *out)
{
    FILE *of = fopen(out, "w");
    ck_assert_ptr_nonnull(of);
    KoWriter *w = ko_open(of, true, out, KR_OUT_CSV, img, cust, stderr);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(kp_replay(run, kp_last_time(run), ko_emit, w), 0);
    ck_assert_int_eq(ko_close(w, true), 0);
    fclose(of);
    return slurp(out);
}

/* A partitioned run over the inputs of op: its pools, its input and the
 * run of the reader image u with n lane images (kp_new_lanes; run_one:
 * one image, kp_new). */
typedef struct Run { KrPool *cust, *vals; KrInput *in; KpRun *run; } Run;

static Run run_open(const KImage *u, const KImage *const *imgs, uint32_t n, const KrOptions *op, FILE *err)
{
    Run x = { kr_pool_new(), kr_pool_new(), NULL, NULL };
    ck_assert(x.cust && x.vals);
    x.in = ki_open(u, op, x.cust, x.vals, err);
    ck_assert_ptr_nonnull(x.in);
    x.run = kp_new_lanes(u, imgs, n, op, x.cust, x.vals);
    ck_assert_ptr_nonnull(x.run);
    return x;
}

static Run run_one(const KImage *img, const KrOptions *op, FILE *err) { return run_open(img, &img, 1, op, err); }

static void run_free(Run *x)
{
    kp_free(x->run);
    ki_close(x->in);
    kr_pool_free(x->cust);
    kr_pool_free(x->vals);
}

/* The statistics as one number: every rule's counts, weighted by kind. */
static uint64_t stats_sum(const KrStats *st, uint32_t nrules)
{
    uint64_t sum = 0;
    for (uint32_t r = 0; r < nrules; r++)
        for (int k = 0; k < KR_ST__COUNT; k++) sum += st->rule[r][k] * (uint64_t)(k + 1);
    return sum;
}

/* The reference: one engine over ki_next's globally sorted stream. */
static char *reference(const KImage *img, const KrOptions *opt, uint64_t *events, uint64_t *sent)
{
    KrPool *cust = kr_pool_new(), *vals = kr_pool_new();
    KrInput *in = ki_open(img, opt, cust, vals, stderr);
    ck_assert_ptr_nonnull(in);
    char out[128];
    snprintf(out, sizeof out, "%s/ref.csv", dir);
    FILE *of = fopen(out, "w");
    ck_assert_ptr_nonnull(of);
    KoWriter *w = ko_open(of, true, out, KR_OUT_CSV, img, cust, stderr);
    ck_assert_ptr_nonnull(w);
    KrEngineOpts eo = { .emit = ko_emit, .emit_ctx = w };
    KrEngine *e = kr_engine_new(img, cust, vals, &eo);
    KrEvent ev;
    int rc;
    while ((rc = ki_next(in, &ev)) == 1) ck_assert_int_eq(kr_engine_event(e, &ev), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(kr_engine_finish(e, kr_engine_last_time(e)), 0);
    ck_assert_int_eq(ko_close(w, true), 0);
    fclose(of);
    *events = kr_engine_stats(e)->events;
    *sent = stats_sum(kr_engine_stats(e), img->nrules);
    kr_engine_free(e);
    ki_close(in);
    kr_pool_free(cust);
    kr_pool_free(vals);
    return slurp(out);
}

static void check_case(int nfiles, int n, int ncust, int order)
{
    snprintf(dir, sizeof dir, "/tmp/kairos-part-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    gen(nfiles, n, ncust, order);
    KImage *img = compile(POLICY);
    char paths[4][128], out[128];
    const char *inputs[4];
    for (int f = 0; f < nfiles; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/e%d.csv", dir, f);
        inputs[f] = paths[f];
    }
    snprintf(out, sizeof out, "%s/out.csv", dir);
    KrOptions opt = { .inputs = inputs, .ninputs = (uint32_t)nfiles };
    uint64_t ref_events, ref_sum;
    char *want = reference(img, &opt, &ref_events, &ref_sum);
    ck_assert(strlen(want) > 1000);                 /* not vacuous: many rows */
    ki_par_min_part(64u << 10);                     /* a one-file log: up to 4 parts */
    for (uint32_t jobs = 1; jobs <= 4; jobs++) {
        for (int spill = 0; spill < 2; spill++) {
            uint64_t par0, fb0, par1, fb1;
            ki_par_counts(&par0, &fb0);
            KrOptions o = opt;
            o.jobs = jobs;
            o.memory = spill ? (512u << 10) : 0;    /* 64 KiB of records and rows */
            Run x = run_one(img, &o, stderr);
            KpRun *run = x.run;
            ck_assert_int_eq(kp_read(run, x.in, stderr), 0);
            /* more than one job: read in parts, none failed */
            ki_par_counts(&par1, &fb1);
            ck_assert_uint_eq(par1 - par0, jobs > 1 ? 1u : 0u);
            ck_assert_uint_eq(fb1, fb0);
            if (spill) ck_assert_uint_gt(kp_spilled(run), 0);
            else ck_assert_uint_eq(kp_spilled(run), 0);
            /* pass 1 holds at most its budget of records (pages included) */
            ck_assert_uint_le(kp_buffered_peak(run), kp_budget(run));
            if (spill) ck_assert_uint_eq(kp_budget(run), 64u << 10);
            char *got = replay_csv(run, img, x.cust, out);
            /* grouped: buckets replayed customer by customer; a customer
             * back in a later file, or out of time order: replayed sorted */
            uint32_t grouped, regrouped;
            kp_bucket_modes(run, &grouped, &regrouped);
            if (order == 1 && nfiles == 1) ck_assert(grouped > 0 && regrouped == 0);
            else if (order == 1 || order == 3) ck_assert(grouped == 0 && regrouped > 0);
            else ck_assert(grouped == 0 && regrouped == 0);
            /* rows go to the file past the budget (a bucket of more than 32) */
            if (xsort_forced) ck_assert_uint_gt(kp_sorted_runs(run), 1);
            if (runs_forced) ck_assert_uint_gt(kp_row_runs(run), 0);
            else if (!spill || ncust < 2000) ck_assert(spill || kp_rows_spilled(run) == 0);
            else ck_assert_uint_gt(kp_rows_spilled(run), 0);
            ck_assert_str_eq(got, want);
            free(got);
            ck_assert_uint_eq(kp_stats(run)->events, ref_events);
            ck_assert_uint_eq(stats_sum(kp_stats(run), img->nrules), ref_sum);
            run_free(&x);
        }
    }
    ki_par_min_part(0);
    free(want);
    kb_free(img);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A second policy that names the events and attributes in another order
 * and keeps other attributes (purchase.kind, no ticket_closed.kind): its
 * lane is translated from the reader image of both (multi.c). */
static const char *POLICY2 =
    "policy \"q\"\n"
    "event purchase { kind: string }\nsurvey REVIEW\n"
    "cap 2 per 1d\n"
    "rule z:\n  ask REVIEW via email then sms after 1h\n  after purchase + 30m where kind == \"y\"\n"
    "  if count(login within 2d) >= 1\n"
    "rule a:\n  ask CSAT via sms\n  after ticket_closed + 1h\n  unless count(opt_out within 30d) >= 1\n";

static int count_row(void *ctx, const KrEvent *ev)
{
    (void)ev;
    ++*(uint64_t *)ctx;
    return 0;
}

/* Two policies replayed as lanes of one partitioned run: each lane's rows
 * and statistics are those of its policy replayed alone by one engine. */
static void check_lanes(const char *src0, const char *src1, int nfiles, int n, int ncust, int order)
{
    snprintf(dir, sizeof dir, "/tmp/kairos-part-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    gen(nfiles, n, ncust, order);
    const KImage *imgs[2] = { compile(src0), compile(src1) };
    KImage *u = kr_reader_image(imgs, 2, NULL);
    ck_assert_ptr_nonnull(u);
    char paths[4][128], out[2][128];
    const char *inputs[4];
    for (int f = 0; f < nfiles; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/e%d.csv", dir, f);
        inputs[f] = paths[f];
    }
    KrOptions opt = { .inputs = inputs, .ninputs = (uint32_t)nfiles };
    char *want[2];
    uint64_t ref_events[2], ref_sum[2];
    for (int k = 0; k < 2; k++) {
        want[k] = reference(imgs[k], &opt, &ref_events[k], &ref_sum[k]);
        ck_assert(strlen(want[k]) > 1000);          /* not vacuous: many rows */
        snprintf(out[k], sizeof out[k], "%s/out%d.csv", dir, k);
    }
    if (src0 != src1) ck_assert_str_ne(want[0], want[1]);
    for (uint32_t jobs = 1; jobs <= 3; jobs++) {
        for (int spill = 0; spill < 2; spill++) {
            KrOptions o = opt;
            o.jobs = jobs;
            o.memory = spill ? (512u << 10) : 0;
            Run x = run_open(u, imgs, 2, &o, stderr);
            KpRun *run = x.run;
            uint64_t rows = 0;
            kp_on_row(run, count_row, &rows);
            ck_assert_int_eq(kp_read(run, x.in, stderr), 0);
            if (spill) ck_assert_uint_gt(kp_spilled(run), 0);
            FILE *of[2];
            KoWriter *w[2];
            for (int k = 0; k < 2; k++) {
                of[k] = fopen(out[k], "w");
                ck_assert_ptr_nonnull(of[k]);
                w[k] = ko_open(of[k], true, out[k], KR_OUT_CSV, imgs[k], x.cust, stderr);
            }
            KrEmit emit[2] = { ko_emit, ko_emit };
            void *ctx[2] = { w[0], w[1] };
            ck_assert_int_eq(kp_replay_lanes(run, kp_last_time(run), emit, ctx), 0);
            if (runs_forced) ck_assert_uint_gt(kp_row_runs(run), 0);
            if (xsort_forced) ck_assert_uint_gt(kp_sorted_runs(run), 1);
            for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(ko_close(w[k], true), 0);
                fclose(of[k]);
                char *got = slurp(out[k]);
                ck_assert_str_eq(got, want[k]);
                free(got);
                const KrStats *st = kp_lane_stats(run, (uint32_t)k);
                ck_assert_uint_eq(st->events, ref_events[k]);
                ck_assert_uint_eq(stats_sum(st, imgs[k]->nrules), ref_sum[k]);
            }
            ck_assert_uint_eq(rows, ref_events[0]);  /* every kept row, once */
            run_free(&x);
        }
    }
    for (int k = 0; k < 2; k++) { free(want[k]); kb_free((KImage *)imgs[k]); }
    kr_reader_image_free(u);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Records larger than a record page (1 KiB at this budget): 80 kept
 * attributes of 20 bytes.  Grouped input, spilled, any --jobs: the same
 * schedule as one engine; the pages above the budget are at most one
 * record. */
START_TEST(test_wide_records)
{
    snprintf(dir, sizeof dir, "/tmp/kairos-part-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    enum { NA = 80, NROWS = 4000, NCUST = 300 };
    char *src = NULL;
    size_t srclen = 0;
    FILE *m = open_memstream(&src, &srclen);
    fputs("policy \"w\"\nevent wide {", m);
    for (int a = 0; a < NA; a++) fprintf(m, "%s a%d: number", a ? "," : "", a);
    fputs(" }\nrule r: task t after wide + 1h where a0 >= 0", m);
    for (int a = 1; a < NA; a++) fprintf(m, " and a%d >= 0", a);
    fputs("\n", m);
    fclose(m);
    KImage *img = compile(src);
    free(src);
    char path[128], out[128];
    snprintf(path, sizeof path, "%s/e0.csv", dir);
    FILE *o = fopen(path, "w");
    ck_assert_ptr_nonnull(o);
    fputs("time,customer,event", o);
    for (int a = 0; a < NA; a++) fprintf(o, ",a%d", a);
    fputs("\n", o);
    for (int c = 0; c < NCUST; c++)                  /* grouped by customer */
        for (int i = 0; i < NROWS / NCUST; i++) {
            fprintf(o, "%ld,c%d,%s", 1767225600L + 3600L * (long)rnd(500), c, rnd(4) ? "wide" : "login");
            int neg = (int)rnd(NA * 4);               /* a quarter of the rows fail the where */
            for (int a = 0; a < NA; a++) fprintf(o, ",%d", a == neg ? -1 : (int)rnd(100));
            fputs("\n", o);
        }
    fclose(o);
    const char *inputs[1] = { path };
    snprintf(out, sizeof out, "%s/out.csv", dir);
    KrOptions opt = { .inputs = inputs, .ninputs = 1 };
    uint64_t ref_events, ref_sum;
    char *want = reference(img, &opt, &ref_events, &ref_sum);
    ck_assert(strlen(want) > 1000);
    for (uint32_t jobs = 1; jobs <= 2; jobs++) {
        KrOptions op = opt;
        op.jobs = jobs;
        op.memory = 512u << 10;
        Run x = run_one(img, &op, stderr);
        KpRun *run = x.run;
        ck_assert_int_eq(kp_read(run, x.in, stderr), 0);
        ck_assert_uint_gt(kp_spilled(run), 0);
        /* every wide record is larger than a page (the budget / 128, at least 1 KiB) */
        ck_assert_uint_gt(24u + NA * 20u, kp_budget(run) / 128u > 1024u ? kp_budget(run) / 128u : 1024u);
        ck_assert_uint_le(kp_buffered_peak(run), kp_budget(run) + 24u + NA * 20u);
        char *got = replay_csv(run, img, x.cust, out);
        ck_assert_str_eq(got, want);
        free(got);
        ck_assert_uint_eq(kp_stats(run)->events, ref_events);
        run_free(&x);
    }
    free(want);
    kb_free(img);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* An image of more than 65,534 events: records keep 24-byte headers (the
 * 16-byte ones hold event indexes in 16 bits); the same schedule as one
 * engine, for event indexes above 65,535 and events the image does not
 * know. */
START_TEST(test_many_event_kinds)
{
    snprintf(dir, sizeof dir, "/tmp/kairos-part-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    enum { NEV = 65540, NROWS = 6000, NCUST = 200 };
    char *src = NULL;
    size_t srclen = 0;
    FILE *m = open_memstream(&src, &srclen);
    fputs("policy \"k\"\n", m);
    for (int i = 0; i < NEV; i++) fprintf(m, "event e%d { v: number }\n", i);
    /* an event is in the image if a rule reads it: sums of 190 counts (the
     * nesting limit is 200) */
    for (int j = 0; j < NEV; j += 190) {
        fprintf(m, "rule r%d: task t after e%d + 1h where v >= 5 unless count(e%d)", j, NEV - 1, j);
        for (int i = j + 1; i < NEV && i < j + 190; i++) fprintf(m, " + count(e%d)", i);
        fputs(" > 1000000\n", m);
    }
    fputs("rule q: task u after e1 + 2h\n", m);
    fclose(m);
    KImage *img = compile(src);
    free(src);
    ck_assert_uint_ge(img->nevents, 0xffffu);
    char path[128], out[128];
    snprintf(path, sizeof path, "%s/e0.csv", dir);
    FILE *o = fopen(path, "w");
    ck_assert_ptr_nonnull(o);
    fputs("time,customer,event,v\n", o);
    static const char *KINDS[] = { "e65539", "e1", "login", "e65535", "nosuch" };
    for (int i = 0; i < NROWS; i++)                  /* shuffled */
        fprintf(o, "%ld,c%u,%s,%u\n", 1767225600L + 3600L * (long)rnd(500), rnd(NCUST), KINDS[rnd(5)], rnd(10));
    fclose(o);
    const char *inputs[1] = { path };
    snprintf(out, sizeof out, "%s/out.csv", dir);
    KrOptions opt = { .inputs = inputs, .ninputs = 1 };
    uint64_t ref_events, ref_sum;
    char *want = reference(img, &opt, &ref_events, &ref_sum);
    ck_assert(strlen(want) > 1000);
    for (uint32_t jobs = 1; jobs <= 2; jobs++) {
        KrOptions op = opt;
        op.jobs = jobs;
        op.memory = 512u << 10;
        Run x = run_one(img, &op, stderr);
        KpRun *run = x.run;
        ck_assert_int_eq(kp_read(run, x.in, stderr), 0);
        ck_assert_uint_gt(kp_spilled(run), 0);
        char *got = replay_csv(run, img, x.cust, out);
        ck_assert_str_eq(got, want);
        free(got);
        ck_assert_uint_eq(kp_stats(run)->events, ref_events);
        run_free(&x);
    }
    free(want);
    kb_free(img);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_sorted_one_file) { check_case(1, 60000, 3000, 0); }
END_TEST
START_TEST(test_grouped_one_file) { check_case(1, 60000, 3000, 1); }
END_TEST
START_TEST(test_shuffled_three_files) { check_case(3, 20000, 2000, 2); }
END_TEST
START_TEST(test_grouped_three_files) { check_case(3, 20000, 500, 1); }
END_TEST
START_TEST(test_grouped_out_of_order) { check_case(1, 60000, 3000, 3); }
END_TEST
START_TEST(test_sorted_three_files) { check_case(3, 20000, 500, 0); }
END_TEST


/* A log read in parts, where a part cannot be read alone: a quoted field
 * with line feeds across a cut, a bad row past the first part (the message
 * and the exit of a sequential read), bad rows skipped in several parts.
 * mode 0: quoted field, 1: bad row, 2: skipped rows.  The rows are in
 * nfiles files (a new one every n / nfiles rows, each with its header). */
static void check_fallback(int mode, int nfiles)
{
    snprintf(dir, sizeof dir, "/tmp/kairos-part-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char paths[3][128], out[128];
    const char *inputs[3];
    snprintf(out, sizeof out, "%s/out.csv", dir);
    FILE *o = NULL;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        if (i % (n / nfiles) == 0 && i / (n / nfiles) < nfiles) {
            int fi = i / (n / nfiles);
            if (o) fclose(o);
            snprintf(paths[fi], sizeof paths[fi], "%s/e%d.csv", dir, fi);
            inputs[fi] = paths[fi];
            o = fopen(paths[fi], "w");
            ck_assert_ptr_nonnull(o);
            fputs("time,customer,event,kind,score,tz,channel\n", o);
        }
        long t = 1767225600L + 60L * i;
        int c = (int)rnd(700), e = (int)rnd(9), x = (int)rnd(10);
        if (mode == 0 && i == n * 2 / 5) {            /* about a fifth of the file, in quotes */
            fprintf(o, "%ld,c%d,ticket_closed,\"", t, c);
            for (int k = 0; k < 40000; k++) fputs("a line, \"\"quoted\"\"\n", o);
            fputs("\",1,,\n", o);
            continue;
        }
        if (mode >= 1 && (i == n * 4 / 5 || (mode == 2 && i == n / 3))) {
            fprintf(o, "not-a-time,c%d,login,,,,\n", c);
            continue;
        }
        fprintf(o, "%ld,c%d,%s,%s,%d,%s,%s\n", t, c, EVENTS[e], x < 5 ? "x" : "y", x,
                e == 6 ? ZONES[x % 4] : "", e == 7 ? (x < 5 ? "sms" : "email") : "");
    }
    fclose(o);
    KImage *img = compile(POLICY);
    KrOptions opt = { .inputs = inputs, .ninputs = (uint32_t)nfiles, .skip_bad_rows = mode == 2 };
    ki_par_min_part(16u << 10);
    char *want = NULL, *wantmsg = NULL;
    uint64_t wantskip = 0;
    for (uint32_t jobs = 1; jobs <= 4; jobs += 3) {
        uint64_t par0, fb0, par1, fb1;
        ki_par_counts(&par0, &fb0);
        KrOptions op = opt;
        op.jobs = jobs;
        char *msg = NULL;
        size_t msglen = 0;
        FILE *err = open_memstream(&msg, &msglen);
        Run x = run_one(img, &op, err);
        int rc = kp_read(x.run, x.in, err);
        ki_par_counts(&par1, &fb1);
        ck_assert_uint_eq(par1 - par0, jobs > 1 ? 1u : 0u);
        ck_assert_uint_eq(fb1 - fb0, jobs > 1 && mode != 2 ? 1u : 0u);
        ck_assert_int_eq(rc, mode == 1 ? -1 : 0);
        fclose(err);
        char *got = rc == 0 ? replay_csv(x.run, img, x.cust, out) : strdup("");
        if (jobs == 1) {
            want = got;
            wantmsg = msg;
            wantskip = ki_rows_skipped(x.in);
            /* the bad row's line: 16,002 of one file; 2 + 16000 - 13332 of the third */
            if (mode == 1) ck_assert_ptr_nonnull(strstr(msg, nfiles == 1 ? "e0.csv:16002:" : "e2.csv:2670:"));
            else ck_assert(strlen(want) > 1000);
            if (mode == 2) ck_assert_uint_eq(wantskip, 2);
        } else {
            ck_assert_str_eq(got, want);
            ck_assert_str_eq(msg, wantmsg);
            ck_assert_uint_eq(ki_rows_skipped(x.in), wantskip);
            free(got);
            free(msg);
        }
        run_free(&x);
    }
    ki_par_min_part(0);
    free(want);
    free(wantmsg);
    kb_free(img);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_parts_quoted_line_feeds) { check_fallback(0, 1); check_fallback(0, 3); }
END_TEST
START_TEST(test_parts_bad_row) { check_fallback(1, 1); check_fallback(1, 3); }
END_TEST
START_TEST(test_parts_skipped_rows) { check_fallback(2, 1); check_fallback(2, 3); }
END_TEST
START_TEST(test_shuffled_one_file) { check_case(1, 60000, 3000, 2); }
END_TEST

/* pass 2 prefetching the customers ahead (from 131,072 customers by
 * default), on a streamed (sorted) and a radix-sorted (grouped) bucket */
START_TEST(test_prefetch_ahead)
{
    kp_ahead_customers(0);
    check_case(1, 20000, 1500, 0);
    check_case(1, 20000, 1500, 1);
    kp_ahead_customers(UINT32_MAX);
}
END_TEST

/* A bucket's rows past the worker's share (one customer with millions of
 * asks) go to runs in the temporary file, merged when the bucket ends:
 * forced to a few rows per run, and 2 or 64 runs merged at once (many
 * passes, or one), in time order, grouped, shuffled, and with two lanes:
 * the rows of one engine, for any --jobs and budget (SPEC 5.10). */
START_TEST(test_row_runs)
{
    static const size_t rows[] = { 1, 7 };
    static const uint32_t fanin[] = { 2, 64 };
    runs_forced = true;
    for (int i = 0; i < 2; i++) {
        kp_row_runs_force(rows[i], fanin[i]);
        check_case(1, 20000, 500, 0);
        check_case(1, 20000, 500, 1);
        check_case(1, 20000, 500, 2);
        check_lanes(POLICY, POLICY2, 1, 20000, 500, 2);
    }
    kp_row_runs_force(0, 0);
    runs_forced = false;
}
END_TEST

/* An unsorted bucket too large to load (one customer with millions of
 * events, standard input's 64 buckets) is sorted in runs in the temporary
 * file and merged as it is fed: forced to runs of 256 bytes and of 4 KiB
 * (records larger than a run, many runs), shuffled and grouped out of
 * order, with two lanes, and with rows in runs too: the rows of one engine
 * (SPEC 5.10). */
START_TEST(test_sorted_runs)
{
    static const size_t limit[] = { 1024, 16384 };
    xsort_forced = true;
    for (int i = 0; i < 2; i++) {
        kp_load_limit_force(limit[i]);
        check_case(1, 20000, 500, 2);
        check_case(1, 20000, 500, 3);
        check_case(3, 20000, 500, 2);
        check_lanes(POLICY, POLICY2, 1, 20000, 500, 2);
    }
    runs_forced = true;
    kp_row_runs_force(3, 2);
    check_case(1, 20000, 500, 2);
    kp_row_runs_force(0, 0);
    runs_forced = false;
    kp_load_limit_force(0);
    xsort_forced = false;
}
END_TEST

START_TEST(test_lanes_translated) { check_lanes(POLICY, POLICY2, 2, 20000, 1500, 2); }
END_TEST
START_TEST(test_lanes_same_names) { check_lanes(POLICY2, POLICY2, 1, 30000, 2000, 1); }
END_TEST

Suite *partition_suite(void)
{
    Suite *s = suite_create("partition");
    TCase *tc = tcase_create("same-as-one-engine");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sorted_one_file);
    tcase_add_test(tc, test_prefetch_ahead);
    tcase_add_test(tc, test_grouped_one_file);
    tcase_add_test(tc, test_shuffled_three_files);
    tcase_add_test(tc, test_grouped_three_files);
    tcase_add_test(tc, test_grouped_out_of_order);
    tcase_add_test(tc, test_sorted_three_files);
    tcase_add_test(tc, test_lanes_translated);
    tcase_add_test(tc, test_row_runs);
    tcase_add_test(tc, test_sorted_runs);
    tcase_add_test(tc, test_lanes_same_names);
    tcase_add_test(tc, test_wide_records);
    tcase_add_test(tc, test_many_event_kinds);
    tcase_add_test(tc, test_shuffled_one_file);
    tcase_add_test(tc, test_parts_quoted_line_feeds);
    tcase_add_test(tc, test_parts_bad_row);
    tcase_add_test(tc, test_parts_skipped_rows);
    suite_add_tcase(s, tc);
    return s;
}
