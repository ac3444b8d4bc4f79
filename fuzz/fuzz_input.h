/* fuzz_input.h -- the body of the event-log reader targets (fuzz_csv.c,
 * fuzz_jsonl.c): each defines FUZZ_INPUT_EXT (".csv" or ".jsonl") and
 * includes this file.
 *
 * Once per process: a small fixed policy that reads many attributes and
 * traits is compiled with kc_load_text, and a private temporary directory
 * is made.  Per input: the bytes are written to a file there, then ki_open
 * / ki_next read every event (a) strictly, (b) with --skip-bad-rows and the
 * file given twice (the merge of two files), (c) sharded 1/2.  Invariants
 * checked on every event: time order, valid event / attribute / customer
 * ids, attribute ids increasing, values of a delivered type.  Then (d) the
 * partitioned replay (kp_read, kp_replay) of the file, strictly and with
 * --skip-bad-rows given twice, on one thread and in up to 4 parts of at
 * least 64 bytes (input_par.c): the same status, messages, counts of rows
 * read, skipped and replayed, and schedule.
 */
#ifndef FUZZ_INPUT_EXT
#error "define FUZZ_INPUT_EXT before including fuzz_input.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lang/lang.h"
#include "runtime/internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed policy: declared and undeclared events, typed attributes,
 * traits, the reserved events' attributes. */
static const char fuzz_policy_text[] =
    "policy \"fuzz\"\n"
    "event ticket_closed { sentiment: number, kind: string, solved: bool, closed_at: time }\n"
    "event purchase { amount: number, product: string }\n"
    "ask NPS after ticket_closed + 24h where kind == \"technical\" and sentiment >= 0\n"
    "  if customer.segment != \"x\" and customer.plan == \"pro\" and solved\n"
    "ask CSAT via sms then email after 1d after purchase where product == \"b\" and amount > 3\n"
    "  if last(login).device == \"ios\" and sum(purchase.amount within 30d) > 1\n"
    "  unless responded(CSAT within 7d) or count(page where path == \"/x\") > 2\n";

/* Process-wide state, built once: the compiled image and the temporary
 * directory (a cache for speed: nothing in it changes between inputs). */
static KImage *fuzz_img;
static const char *fuzz_path;

static void fuzz_init_once(void)
{
    if (fuzz_img)
        return;
    KDiags d;
    kd_init(&d, NULL);
    KlOptions opt = { 0 };
    KProgram *p = kc_load_text("fuzz.kai", fuzz_policy_text, sizeof fuzz_policy_text - 1, &opt, &d);
    if (!p || kd_failed(&d)) {
        kd_print(&d, stderr, KD_FMT_TEXT, false);
        FUZZ_ASSERT(0, "the harness's fixed policy does not compile");
    }
    fuzz_img = kg_compile(p);
    FUZZ_ASSERT(fuzz_img != NULL, "kg_compile failed on the fixed policy");
    kd_free(&d);
    kc_free(p);

    fuzz_path = fuzz_tmp_file("in" FUZZ_INPUT_EXT);
}

/* read_all -- one pass over the inputs; checks every event's invariants.
 * Returns ki_next's last status (0 end, -1 error) or -2 if ki_open failed. */
static int read_all(const char *const *inputs, uint32_t ninputs, bool skip, uint32_t shard_n)
{
    KrOptions opt;
    memset(&opt, 0, sizeof opt);
#ifdef FUZZ_SEGMENT
    opt.segment = true;             /* Segment-spec calls (SPEC 5.12) */
#endif
    opt.inputs = (const char **)inputs;
    opt.ninputs = ninputs;
    opt.skip_bad_rows = skip;
    opt.shard_k = 1;
    opt.shard_n = shard_n;
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    FUZZ_ASSERT(customers && values, "kr_pool_new");
    KrInput *in = ki_open(fuzz_img, &opt, customers, values, fuzz_sink());
    if (!in) {
        kr_pool_free(customers);
        kr_pool_free(values);
        return -2;
    }
    KrEvent ev;
    int r;
    int64_t last = INT64_MIN;
    while ((r = ki_next(in, &ev)) == 1) {
        FUZZ_ASSERT(ev.time >= last, "events out of time order (%lld after %lld)",
                    (long long)ev.time, (long long)last);
        last = ev.time;
        FUZZ_ASSERT(ev.event == KB_NONE || ev.event < fuzz_img->nevents, "bad event index %u", ev.event);
        FUZZ_ASSERT(ev.customer < kr_pool_count(customers), "bad customer id %u", ev.customer);
        FUZZ_ASSERT(ev.nattrs <= fuzz_img->nattrs, "%u attributes", ev.nattrs);
        for (uint32_t i = 0; i < ev.nattrs; i++) {
            FUZZ_ASSERT(ev.attr_ids[i] < fuzz_img->nattrs, "bad attribute index %u", ev.attr_ids[i]);
            FUZZ_ASSERT(i == 0 || ev.attr_ids[i] > ev.attr_ids[i - 1], "attribute ids not increasing");
            const KrValue *v = &ev.attr_vals[i];
            FUZZ_ASSERT(v->tag == KB_NUM || v->tag == KB_STR || v->tag == KB_BOOL, "value tag %u", v->tag);
            if (v->tag == KB_STR) {
                size_t len;
                FUZZ_ASSERT(v->str < kr_pool_count(values), "bad string id %u", v->str);
                FUZZ_ASSERT(kr_pool_str(values, v->str, &len) != NULL, "string id %u", v->str);
            }
        }
        FUZZ_ASSERT(ev.file != NULL, "event without a file name");
    }
    (void)ki_rows_read(in);
    (void)ki_rows_skipped(in);
    (void)ki_bytes_read(in);
    ki_close(in);
    kr_pool_free(customers);
    kr_pool_free(values);
    return r;
}

/* replay_parts -- the partitioned replay of the inputs with `jobs` threads
 * (parts of at least 64 bytes with more than one); *msg its messages,
 * *out its schedule (CSV), both malloc'd; returns kp_read's status, or
 * 10 + kp_replay's when the read succeeded and the replay did not. */
static int replay_parts(const char *const *inputs, uint32_t ninputs, bool skip, uint32_t jobs, char **msg,
                        char **out)
{
    KrOptions opt;
    memset(&opt, 0, sizeof opt);
#ifdef FUZZ_SEGMENT
    opt.segment = true;             /* Segment-spec calls (SPEC 5.12) */
#endif
    opt.inputs = (const char **)inputs;
    opt.ninputs = ninputs;
    opt.skip_bad_rows = skip;
    opt.jobs = jobs;
    opt.memory = 16u << 20;
    ki_par_min_part(jobs > 1 ? 64u : 0);
    size_t mlen = 0, olen = 0;
    FILE *err = open_memstream(msg, &mlen), *o = open_memstream(out, &olen);
    FUZZ_ASSERT(err && o, "open_memstream");
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    FUZZ_ASSERT(customers && values, "kr_pool_new");
    KrInput *in = ki_open(fuzz_img, &opt, customers, values, err);
    FUZZ_ASSERT(in != NULL, "ki_open failed on a readable file");
    KpRun *run = kp_new(fuzz_img, &opt, customers, values);
    FUZZ_ASSERT(run != NULL, "kp_new");
    int rc = kp_read(run, in, err);
    if (rc == 0) {
        KoWriter *w = ko_open(o, false, "out.csv", KR_OUT_CSV, fuzz_img, customers, err);
        FUZZ_ASSERT(w != NULL, "ko_open");
        int r2 = kp_replay(run, kp_last_time(run), ko_emit, w);
        if (ko_close(w, r2 == 0) != 0 && r2 == 0) r2 = -3;
        if (r2 != 0) rc = 10 + r2;
        /* the counts too (a skipped row leaves no message) */
        fprintf(err, "rows read %llu, skipped %llu, events %llu\n", (unsigned long long)ki_rows_read(in),
                (unsigned long long)ki_rows_skipped(in), (unsigned long long)kp_stats(run)->events);
    }
    kp_free(run);
    ki_close(in);
    kr_pool_free(customers);
    kr_pool_free(values);
    ki_par_min_part(0);
    fclose(err);
    fclose(o);
    return rc;
}

/* parts_same -- replay_parts on one thread and in parts agree. */
static void parts_same(const char *const *inputs, uint32_t ninputs, bool skip)
{
    char *msg[2], *out[2];
    int rc[2];
    for (int k = 0; k < 2; k++) rc[k] = replay_parts(inputs, ninputs, skip, k ? 4u : 1u, &msg[k], &out[k]);
    FUZZ_ASSERT(rc[0] == rc[1], "in parts: status %d, on one thread %d", rc[1], rc[0]);
    FUZZ_ASSERT(strcmp(msg[0], msg[1]) == 0, "in parts, other messages:\n%s\non one thread:\n%s", msg[1], msg[0]);
    FUZZ_ASSERT(strcmp(out[0], out[1]) == 0, "in parts, another schedule");
    for (int k = 0; k < 2; k++) {
        free(msg[k]);
        free(out[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init_once();
    fuzz_write_file(fuzz_path, data, size);

    const char *one[1] = { fuzz_path };
    const char *two[2] = { fuzz_path, fuzz_path };
    int strict = read_all(one, 1, false, 0);
    FUZZ_ASSERT(strict != -2, "ki_open failed on a readable file");
    int skipping = read_all(two, 2, true, 0);
    FUZZ_ASSERT(strict != 0 || skipping == 0, "a file read cleanly fails with --skip-bad-rows");
    read_all(one, 1, true, 2);
    parts_same(one, 1, false);
    parts_same(two, 2, true);
    return 0;
}
