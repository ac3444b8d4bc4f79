/* fuzz_replay.c -- libFuzzer target: arbitrary bytes as a policy, replayed.
 *
 * A policy that compiles without errors is written to .kbc and read back
 * (so the VM only ever sees verified code), then kr_simulate replays a
 * fixed event log through it -- every customer, reserved event, time zone
 * and DST change of one spring weekend -- with --stats, once to CSV and
 * once, sharded, to JSON Lines.  Invariants: the replay ends with status 0
 * (the events are valid, so nothing may fail), the whole and the union of
 * the shards hold the same number of rows, and the same replay again gives
 * the same bytes.  Then `explain` of one customer (text or JSON Lines)
 * runs the traced VM and the bytecode decompiler behind its value lines.
 * Its seeds are the policy seeds (fuzz/corpus/policy).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lang/lang.h"
#include "runtime/runtime.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The event log: Europe moves to summer time on 2026-03-29 at 01:00 UTC. */
static const char fuzz_events[] =
    "time,customer,event,tz,segment,kind,sentiment,survey,score,channel,product,amount,device\n"
    "2026-03-27T08:00:00Z,c1,identify,Europe/Oslo,enterprise,,,,,,,,\n"
    "2026-03-27T08:00:00Z,\"c,2\",identify,America/New_York,mid,,,,,,,,\n"
    "2026-03-27T09:00:00Z,c1,consent_granted,,,,,,,sms,,,\n"
    "2026-03-27T09:30:00Z,c1,ticket_opened,,,,,,,,,,\n"
    "2026-03-27T10:00:00Z,c1,login,,,,,,,,,,ios\n"
    "2026-03-27T12:00:00Z,c1,ticket_closed,,,technical,0.5,,,,,,\n"
    "2026-03-27T12:00:00Z,\"c,2\",purchase,,,,,,,,physical,42.5,\n"
    "2026-03-27T13:00:00Z,c3,onboarding_done,,,,,,,,,,\n"
    "2026-03-27T18:00:00Z,c3,response,,,,,NPS,3,,,,\n"
    "2026-03-28T00:00:00Z,\"c,2\",opt_out,,,,,,,email,,,\n"
    "2026-03-28T09:15:00Z,c4,login,,,,,,,,,,android\n"
    "2026-03-28T10:00:00Z,c4,ticket_closed,,,standard,-0.2,,,,,,\n"
    "2026-03-28T23:30:00Z,c1,response,,,,,CSAT,5,,,,\n"
    "2026-03-29T00:30:00Z,c4,identify,Europe/Berlin,consumer,,,,,,,,\n"
    "2026-03-29T01:30:00Z,c1,login,,,,,,,,,,web\n"
    "2026-03-29T06:00:00Z,\"c,2\",opt_in,,,,,,,,,,\n"
    "2026-03-29T12:00:00Z,c3,purchase,,,,,,,,consumable,3,\n"
    "2026-03-30T07:00:00Z,c4,consent_revoked,,,,,,,sms,,,\n";

/* Process-wide paths, made once (a cache: their content never changes). */
static const char *events_path, *out_path, *shard_path;

static void fuzz_init_once(void)
{
    if (events_path)
        return;
    events_path = fuzz_tmp_file("events.csv");
    out_path = fuzz_tmp_file("out.csv");
    shard_path = fuzz_tmp_file("shard.jsonl");
    fuzz_write_file(events_path, fuzz_events, sizeof fuzz_events - 1);
}

/* slurp -- the content of path (malloc'd) and its length; NULL if absent. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    FUZZ_ASSERT(b != NULL, "out of memory");
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            b = realloc(b, cap *= 2);
            FUZZ_ASSERT(b != NULL, "out of memory");
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static size_t count_lines(const char *b, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += b[i] == '\n';
    return k;
}

/* Options reading the fixed log up to 2026-04-01 (inputs: one slot). */
static KrOptions log_options(const char **inputs)
{
    KrOptions opt;
    memset(&opt, 0, sizeof opt);
    inputs[0] = events_path;
    opt.inputs = inputs;
    opt.ninputs = 1;
    opt.has_until = true;
    opt.until = 1775001600;                      /* 2026-04-01T00:00:00Z */
    return opt;
}

/* replay -- kr_simulate over the fixed log; returns the output (malloc'd). */
static char *replay(const KImage *img, const char *out, KrOutFormat fmt, uint32_t k, uint32_t n,
                    size_t *len)
{
    const char *inputs[1];
    KrOptions opt = log_options(inputs);
    fuzz_replay_to(&opt, out, fmt, k, n);
    int st = kr_simulate(img, &opt, fuzz_sink());
    FUZZ_ASSERT(fclose(opt.out) == 0, "cannot write the output file");
    FUZZ_ASSERT(st == 0, "kr_simulate failed (status %d) on a valid log", st);
    char *b = slurp(out, len);
    FUZZ_ASSERT(b != NULL, "no output file after a successful replay");
    return b;
}

/* explain -- the story of customer c1 (who has every kind of event) into
 * the sink. */
static void explain(const KImage *img, bool jsonl)
{
    const char *inputs[1];
    KrOptions opt = log_options(inputs);
    opt.explain_customer = "c1";
    opt.explain_jsonl = jsonl;
    opt.explain_out = fuzz_sink();
    int st = kr_simulate(img, &opt, fuzz_sink());
    FUZZ_ASSERT(st == 0, "explain failed (status %d) on a valid log", st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init_once();
    KDiags d;
    kd_init(&d, NULL);
    KlOptions lopt = { 0 };
    KProgram *p = kc_load_text("fuzz.kai", (const char *)data, size, &lopt, &d);
    KImage *img = p && !kd_failed(&d) ? kg_compile(p) : NULL;
    kd_free(&d);
    if (p)
        kc_free(p);
    if (!img)
        return 0;

    /* through the file format: the VM runs verified code only */
    uint8_t *kbc = NULL;
    size_t kbclen = 0;
    char err[512];
    FUZZ_ASSERT(kb_write(img, &kbc, &kbclen) == 0, "kb_write");
    kb_free(img);
    img = kb_read(kbc, kbclen, err, sizeof err);
    free(kbc);
    FUZZ_ASSERT(img != NULL, "kb_read rejects a compiled image: %s", err);

    size_t alen = 0, blen = 0, slen = 0, total = 0;
    char *a = replay(img, out_path, KR_OUT_CSV, 0, 0, &alen);
    char *b = replay(img, out_path, KR_OUT_CSV, 0, 0, &blen);
    FUZZ_ASSERT(alen == blen && memcmp(a, b, alen) == 0, "two replays differ");
    for (uint32_t k = 0; k < 2; k++) {
        char *s = replay(img, shard_path, KR_OUT_JSONL, k, 2, &slen);
        total += count_lines(s, slen);
        free(s);
    }
    FUZZ_ASSERT(total + 1 == count_lines(a, alen), "shards hold %zu rows, the whole %zu",
                total, count_lines(a, alen) - 1);
    explain(img, size & 1);
    free(a);
    free(b);
    kb_free(img);
    return 0;
}
