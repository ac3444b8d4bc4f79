/* gen.c -- deterministic generator of a benchmark event log (kairos-bench
 * gen): about N events for C customers over D days, time-ordered, in CSV or
 * JSON Lines, with the event mix of a support desk: logins, purchases,
 * tickets opened and closed (kind, sentiment), survey responses (survey,
 * score), identify (tz, segment), consent and opt-out.  Customer ids are
 * "cust" and six digits, or with -i uuid 36-byte UUIDs (version 4 in
 * form, drawn from the customer number: the same customers either way).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

static uint64_t rng_state;

/* xorshift64* -- small, fast, the same sequence on every platform */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n) { return (uint32_t)((rnd() >> 32) % n); }

static void civil(int64_t t, char *out)
{
    int64_t days = t / 86400, s = t % 86400;
    /* civil from days (H. Hinnant) */
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    sprintf(out, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

/* uuid -- customer c's id in the form of a random (version 4) UUID */
static void uuid(uint32_t c, char *out, size_t n)
{
    uint64_t w[2];
    for (int i = 0; i < 2; i++) {              /* splitmix64 of the number */
        uint64_t z = (uint64_t)c * 2u + (uint64_t)i + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        w[i] = z ^ (z >> 31);
    }
    snprintf(out, n, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(w[0] >> 32), (unsigned)(w[0] >> 16) & 0xffffu,
             (unsigned)w[0] & 0xfffu, 0x8000u | ((unsigned)(w[1] >> 48) & 0x3fffu),
             (unsigned long long)(w[1] & 0xffffffffffffULL));
}

static const char *KINDS[] = { "standard", "technical", "complex", "escalated" };
static const char *PRODUCTS[] = { "physical", "consumable", "software", "b2b" };
static const char *TZS[] = { "Europe/Oslo", "America/New_York", "Asia/Tokyo", "Europe/London", "UTC" };
static const char *SEGMENTS[] = { "enterprise", "mid", "startup", "consumer" };
static const char *CHANNELS[] = { "sms", "email", "whatsapp" };

int bench_gen(int argc, char **argv)
{
    long customers = 8000, days = 90, events = 1000000;
    unsigned long long seed = 1;
    const char *fmt = "csv", *out = NULL, *ids = "cust";
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "-c")) customers = atol(v);
        else if (!strcmp(o, "-d")) days = atol(v);
        else if (!strcmp(o, "-n")) events = atol(v);
        else if (!strcmp(o, "-s")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(o, "-f")) fmt = v;
        else if (!strcmp(o, "-o")) out = v;
        else if (!strcmp(o, "-i")) ids = v;
        else { fprintf(stderr, "gen: unknown option %s\n", o); return 2; }
    }
    if (customers < 1 || days < 1 || events < 1) { fprintf(stderr, "gen: bad sizes\n"); return 2; }
    if (strcmp(ids, "cust") != 0 && strcmp(ids, "uuid") != 0) { fprintf(stderr, "gen: -i takes cust or uuid\n"); return 2; }
    bool uuids = strcmp(ids, "uuid") == 0;
    bool jsonl = strcmp(fmt, "jsonl") == 0;
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) { perror(out); return 1; }
    static char obuf[1 << 20];
    setvbuf(f, obuf, _IOFBF, sizeof obuf);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    const int64_t start = 1767225600;          /* 2026-01-01T00:00:00Z */
    const int64_t span = (int64_t)days * 86400;
    if (!jsonl) fputs("time,customer,event,kind,sentiment,product_type,survey,score,tz,segment,channel\n", f);
    char ts[32], cust[40];
    for (long i = 0; i < events; i++) {
        int64_t t = start + (int64_t)((double)i * (double)span / (double)events);
        /* a skewed pick: some customers are much busier than others */
        uint32_t a = below((uint32_t)customers), b = below((uint32_t)customers);
        uint32_t c = a < b ? a : b;
        if (uuids) uuid(c, cust, sizeof cust);
        else snprintf(cust, sizeof cust, "cust%06u", c);
        civil(t, ts);
        uint32_t r = below(1000);
        const char *ev;
        char k[160] = "", kj[200] = "";
        if (r < 450) ev = "login";
        else if (r < 570) {
            ev = "purchase";
            const char *p = PRODUCTS[below(4)];
            snprintf(k, sizeof k, ",,,%s,,,,,", p);
            snprintf(kj, sizeof kj, ",\"product_type\":\"%s\"", p);
        } else if (r < 680) ev = "ticket_opened";
        else if (r < 790) {
            ev = "ticket_closed";
            const char *kd = KINDS[below(4)];
            int s = (int)below(201) - 100;
            char sent[16];
            snprintf(sent, sizeof sent, "%s%d.%02d", s < 0 ? "-" : "", abs(s) / 100, abs(s) % 100);
            snprintf(k, sizeof k, ",%s,%s,,,,,,", kd, sent);
            snprintf(kj, sizeof kj, ",\"kind\":\"%s\",\"sentiment\":%s", kd, sent);
        } else if (r < 880) {
            ev = "response";
            const char *sv = below(3) ? "NPS" : "CSAT";
            unsigned sc = strcmp(sv, "NPS") == 0 ? below(11) : 1 + below(5);
            snprintf(k, sizeof k, ",,,,%s,%u,,,", sv, sc);
            snprintf(kj, sizeof kj, ",\"survey\":\"%s\",\"score\":%u", sv, sc);
        } else if (r < 940) {
            ev = "identify";
            const char *tz = TZS[below(5)], *sg = SEGMENTS[below(4)];
            snprintf(k, sizeof k, ",,,,,,%s,%s,", tz, sg);
            snprintf(kj, sizeof kj, ",\"tz\":\"%s\",\"segment\":\"%s\"", tz, sg);
        } else if (r < 985) {
            ev = "consent_granted";
            const char *ch = CHANNELS[below(3)];
            snprintf(k, sizeof k, ",,,,,,,,%s", ch);
            snprintf(kj, sizeof kj, ",\"channel\":\"%s\"", ch);
        } else {
            ev = "opt_out";
            const char *ch = CHANNELS[below(3)];
            snprintf(k, sizeof k, ",,,,,,,,%s", ch);
            snprintf(kj, sizeof kj, ",\"channel\":\"%s\"", ch);
        }
        if (jsonl) fprintf(f, "{\"time\":\"%s\",\"customer\":\"%s\",\"event\":\"%s\"%s}\n", ts, cust, ev, kj);
        else fprintf(f, "%s,%s,%s%s\n", ts, cust, ev, *k ? k : ",,,,,,,,");
    }
    if (fflush(f) != 0 || (out && fclose(f) != 0)) { perror(out ? out : "stdout"); return 1; }
    return 0;
}
