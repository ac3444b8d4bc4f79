/* fuzz_kbc_replay.c -- libFuzzer target: arbitrary bytes as a .kbc file,
 * and every image that kb_read accepts (so: verified) is run.
 *
 * fuzz_kbc stops at the reader; here an accepted image is listed
 * (kb_disasm), then replayed over a small fixed log -- a CSV file to a CSV
 * schedule, the same events as JSON Lines sharded 0/2 and 1/2 to JSON
 * Lines schedules -- and `explain` tells customer c1's story (text or JSON
 * Lines).  Then a second log, one customer's last day of 9999-12-31, is
 * replayed and explained: saturated `time + duration` sums, reminders and
 * quiet hours past the last representable instant.  Invariants: a replay
 * of valid events through a verified image ends with status 0, and the
 * shards' rows add up to the whole.
 *
 * Like fuzz_kbc, each input runs twice: as is, and with the header's file
 * length and checksum repaired (fuzz_kbc_fixed_up).  Seeds: the .kbc seeds
 * (fuzz/corpus/kbc and those run.sh compiles from the policy seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lang/bytecode.h"
#include "runtime/runtime.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char csv_events[] =
    "time,customer,event,tz,kind,sentiment,survey,score,channel,amount\n"
    "2026-03-27T08:00:00Z,c1,identify,Europe/Oslo,,,,,,\n"
    "2026-03-27T08:00:00Z,\"c,2\",identify,America/New_York,,,,,,\n"
    "2026-03-27T09:00:00Z,c1,consent_granted,,,,,,sms,\n"
    "2026-03-27T09:30:00Z,c1,ticket_opened,,,,,,,\n"
    "2026-03-27T12:00:00Z,c1,ticket_closed,,technical,0.5,,,,\n"
    "2026-03-27T12:00:00Z,\"c,2\",purchase,,,,,,,42.5\n"
    "2026-03-28T18:00:00Z,c3,response,,,,NPS,3,,\n"
    "2026-03-29T01:30:00Z,c1,login,,,,,,,\n"
    "2026-03-29T06:00:00Z,\"c,2\",opt_out,,,,,,email,\n"
    "2026-03-30T07:00:00Z,c1,ticket_closed,,standard,-0.2,,,,\n";

/* One customer at the end of the representable range (UTC+14 locally). */
static const char far_events[] =
    "time,customer,event,tz,kind\n"
    "9999-12-31T00:00:00Z,f1,identify,Pacific/Kiritimati,\n"
    "9999-12-31T09:00:00Z,f1,ticket_closed,,technical\n"
    "9999-12-31T23:00:00Z,f1,login,,\n"
    "9999-12-31T23:59:59Z,f1,purchase,,\n";

static const char jsonl_events[] =
    "{\"time\":\"2026-03-27T08:00:00Z\",\"customer\":\"c1\",\"event\":\"identify\",\"tz\":\"Europe/Oslo\"}\n"
    "{\"time\":\"2026-03-27T08:00:00Z\",\"customer\":\"c,2\",\"event\":\"identify\",\"tz\":\"America/New_York\"}\n"
    "{\"time\":\"2026-03-27T09:00:00Z\",\"customer\":\"c1\",\"event\":\"consent_granted\",\"channel\":\"sms\"}\n"
    "{\"time\":\"2026-03-27T09:30:00Z\",\"customer\":\"c1\",\"event\":\"ticket_opened\"}\n"
    "{\"time\":\"2026-03-27T12:00:00Z\",\"customer\":\"c1\",\"event\":\"ticket_closed\",\"kind\":\"technical\",\"sentiment\":0.5}\n"
    "{\"time\":\"2026-03-27T12:00:00Z\",\"customer\":\"c,2\",\"event\":\"purchase\",\"amount\":42.5}\n"
    "{\"time\":\"2026-03-28T18:00:00Z\",\"customer\":\"c3\",\"event\":\"response\",\"survey\":\"NPS\",\"score\":3}\n"
    "{\"time\":\"2026-03-29T01:30:00Z\",\"customer\":\"c1\",\"event\":\"login\"}\n"
    "{\"time\":\"2026-03-29T06:00:00Z\",\"customer\":\"c,2\",\"event\":\"opt_out\",\"channel\":\"email\"}\n"
    "{\"time\":\"2026-03-30T07:00:00Z\",\"customer\":\"c1\",\"event\":\"ticket_closed\",\"kind\":\"standard\",\"sentiment\":-0.2}\n";

/* Process-wide paths, made once (a cache: their content never changes). */
static const char *csv_path, *jsonl_path, *far_path, *out_path;

static void fuzz_init_once(void)
{
    if (csv_path)
        return;
    csv_path = fuzz_tmp_file("events.csv");
    jsonl_path = fuzz_tmp_file("events.jsonl");
    far_path = fuzz_tmp_file("far.csv");
    out_path = fuzz_tmp_file("out");
    fuzz_write_file(csv_path, csv_events, sizeof csv_events - 1);
    fuzz_write_file(jsonl_path, jsonl_events, sizeof jsonl_events - 1);
    fuzz_write_file(far_path, far_events, sizeof far_events - 1);
}

/* The number of records of the file at path (0 if absent): lines, except
 * that in CSV a line feed inside a quoted field (a rule or task name that a
 * hostile image spells with one) does not end a record. */
static size_t file_records(const char *path, bool csv)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t k = 0;
    bool quoted = false;
    int c;
    while ((c = getc(f)) != EOF) {
        if (csv && c == '"')
            quoted = !quoted;
        else if (c == '\n' && !quoted)
            k++;
    }
    fclose(f);
    return k;
}

/* The options of a run over the one log inputs[0]. */
static KrOptions one_log(const char **inputs)
{
    KrOptions opt;
    memset(&opt, 0, sizeof opt);
    opt.inputs = inputs;
    opt.ninputs = 1;
    return opt;
}

/* replay -- kr_simulate over one log (horizon: the log's last event);
 * returns the number of records written (the header is one). */
static size_t replay(const KImage *img, const char *events, KrOutFormat fmt, uint32_t k, uint32_t n)
{
    const char *inputs[1] = { events };
    KrOptions opt = one_log(inputs);
    fuzz_replay_to(&opt, out_path, fmt, k, n);
    int st = kr_simulate(img, &opt, fuzz_sink());
    FUZZ_ASSERT(fclose(opt.out) == 0, "cannot write %s", out_path);
    FUZZ_ASSERT(st == 0, "kr_simulate failed (status %d) on a valid log", st);
    return file_records(out_path, fmt == KR_OUT_CSV);
}

static void explain(const KImage *img, const char *events, const char *customer, bool jsonl)
{
    const char *inputs[1] = { events };
    KrOptions opt = one_log(inputs);
    opt.explain_customer = customer;
    opt.explain_jsonl = jsonl;
    opt.explain_out = fuzz_sink();
    int st = kr_simulate(img, &opt, fuzz_sink());
    FUZZ_ASSERT(st == 0, "explain failed (status %d) on a valid log", st);
}

static void one_file(const uint8_t *data, size_t size, bool jsonl_story)
{
    char err[512];
    err[0] = '\0';
    KImage *img = kb_read(data, size, err, sizeof err);
    if (!img) {
        FUZZ_ASSERT(err[0] != '\0', "kb_read failed without a message");
        return;
    }
    kb_disasm(img, fuzz_sink());
    size_t whole = replay(img, csv_path, KR_OUT_CSV, 0, 0);
    size_t shards = 0;
    for (uint32_t k = 0; k < 2; k++)
        shards += replay(img, jsonl_path, KR_OUT_JSONL, k, 2);
    FUZZ_ASSERT(whole == shards + 1, "shards hold %zu rows, the whole %zu", shards,
                whole ? whole - 1 : 0);
    explain(img, csv_path, "c1", jsonl_story);
    replay(img, far_path, KR_OUT_CSV, 0, 0);
    explain(img, far_path, "f1", !jsonl_story);
    kb_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init_once();
    one_file(data, size, size & 1);
    uint8_t *b = fuzz_kbc_fixed_up(data, size);
    if (b) {
        one_file(b, size, !(size & 1));
        free(b);
    }
    return 0;
}
