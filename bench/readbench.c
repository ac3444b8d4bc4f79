/* readbench.c -- kairos-bench read: the event reader alone, through the
 * ki_ API, with a hand-made image that keeps what bench/policy.kai reads
 * (ticket_closed kind/sentiment, purchase product_type, response
 * survey/score, identify segment/tz, channel of consent/opt-out), in
 * stream mode as kairos simulate uses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"
#include "bench.h"

static char *S[] = {
    "ticket_opened", "ticket_closed", "login", "purchase", "response", "identify",
    "opt_out", "opt_in", "consent_granted", "consent_revoked",
    "kind", "sentiment", "survey", "score", "channel", "tz", "segment", "product_type",
};
enum { NS = sizeof S / sizeof S[0] };

int bench_read(int argc, char **argv)
{
    uint32_t lens[NS], events[10], attrs[8], traits[1] = { 6 };
    uint32_t closed[2] = { 0, 1 }, purchase[1] = { 7 };
    KbRetention ret[10] = { 0 };
    for (uint32_t i = 0; i < NS; i++) lens[i] = (uint32_t)strlen(S[i]);
    for (uint32_t i = 0; i < 10; i++) events[i] = i;
    for (uint32_t i = 0; i < 8; i++) attrs[i] = 10 + i;
    ret[1] = (KbRetention){ KB_RET_LAST, 0, closed, 2 };
    ret[3] = (KbRetention){ KB_RET_LAST, 0, purchase, 1 };
    KImage img = { 0 };
    img.strings = S; img.string_lens = lens; img.nstrings = NS;
    img.events = events; img.nevents = 10; img.retention = ret;
    img.attrs = attrs; img.nattrs = 8; img.traits = traits; img.ntraits = 1;
    KrOptions opt = { 0 };
    if (argc > 0 && strcmp(argv[0], "--skip-bad-rows") == 0) { opt.skip_bad_rows = true; argc--; argv++; }
    opt.inputs = (const char **)argv;
    opt.ninputs = (uint32_t)argc;
    KrPool *cus = kr_pool_new(), *val = kr_pool_new();
    if (!cus || !val) return 1;
    double t0 = bench_now();
    KrInput *in = ki_open(&img, &opt, cus, val, stderr);
    if (!in) return 1;
    ki_stream(in);                  /* as kairos simulate reads */
    KrEvent ev;
    int k;
    unsigned long long n = 0, sum = 0;
    while ((k = ki_next(in, &ev)) >= 1) {
        if (k == 2) { n = sum = 0; continue; }      /* not sorted: started over */
        n++;
        sum += ev.customer + ev.nattrs;
    }
    double dt = bench_now() - t0;
    printf("events %llu customers %u bytes %llu seconds %.4f check %llu skipped %llu\n", n, kr_pool_count(cus),
           (unsigned long long)ki_bytes_read(in), dt, sum, (unsigned long long)ki_rows_skipped(in));
    ki_close(in);
    kr_pool_free(cus);
    kr_pool_free(val);
    return k < 0;
}
