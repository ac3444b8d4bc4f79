/* gen.c -- random event logs for the differential tests (tests/diff/run.sh).
 *
 *   gen -s SEED -o DIR [-c CUSTOMERS] [-n EVENTS] [-d DAYS] [-t TIE%]
 *
 * Draws one random event log (shape from the seed unless given: number of
 * customers, events, days, share of equal timestamps, event mix, customer
 * ids that need CSV quoting, time zones through identify) and writes the
 * SAME events several ways into DIR:
 *
 *   events.csv      time order, ties in draw order (the reference)
 *   events.jsonl    the same rows as JSON Lines
 *   shuffled.csv    rows permuted; rows with equal timestamps keep their order
 *   part1.csv part2.jsonl part3.csv
 *                   the rows split by timestamp (all rows of one timestamp in
 *                   one file), each file shuffled the same way: any order of
 *                   these files on the command line gives the same replay
 *   grouped.csv grouped.jsonl
 *                   grouped by customer (each customer's rows in time order),
 *                   as most exports come: runs of one customer's rows
 *
 * Every copy writes each time in a randomly chosen but equivalent spelling
 * (RFC 3339 with Z, with an offset, with a fraction, or Unix seconds).
 * Numbers are written as JSON numbers and strings never look like numbers,
 * so CSV and JSON Lines carry identical values.  Deterministic: a fixed
 * xorshift generator, the same bytes on every platform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 1;

/* xorshift64* */
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n) { return n ? (uint32_t)((rnd() >> 32) % n) : 0; }

/* ---- the event log ------------------------------------------------------- */

enum { A_TZ, A_SEGMENT, A_DEVICE, A_AMOUNT, A_PRODUCT, A_KIND, A_SENTIMENT,
       A_SURVEY, A_SCORE, A_CHANNEL, A_PATH, NATTR };
static const char *const attr_names[NATTR] = {
    "tz", "segment", "device", "amount", "product", "kind", "sentiment",
    "survey", "score", "channel", "path",
};
static const int attr_is_num[NATTR] = { 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0 };

typedef struct Row {
    int64_t time;
    uint32_t seq;                 /* draw order: ties keep it */
    uint32_t customer;
    const char *event;
    const char *val[NATTR];       /* string values; NULL: absent */
    char num[NATTR][24];          /* numeric values; "": absent */
} Row;

static const char *const TZS[] = {
    "Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "UTC",
    "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham",
};
static const char *const SEGMENTS[] = { "enterprise", "mid", "startup", "consumer" };
static const char *const DEVICES[] = { "ios", "android", "web" };
static const char *const PRODUCTS[] = { "physical", "consumable", "software", "b2b" };
static const char *const KINDS[] = { "standard", "technical", "complex", "escalated" };
static const char *const SURVEYS[] = { "NPS", "CSAT", "CES" };
static const char *const CHANNELS[] = { "sms", "email", "whatsapp", "in_app", "phone" };
static const char *const PATHS[] = { "/home", "/billing", "/help, faq", "/x\"y" };

#define PICK(a) (a)[below((uint32_t)(sizeof (a) / sizeof *(a)))]

static int64_t num_customers, num_events, num_days, tie_pct;
static Row *rows;

/* customer_id -- the id of customer i; some need CSV quoting or are UTF-8. */
static void customer_id(uint32_t i, char *out, size_t n)
{
    switch (i % 11) {
    case 3: snprintf(out, n, "c,%u", i); break;
    case 5: snprintf(out, n, "c\"%u\"", i); break;
    case 7: snprintf(out, n, "\xc3\xa9l\xc3\xa8ve %u", i); break;
    case 9: snprintf(out, n, "C%u", i); break;
    default: snprintf(out, n, "c%u", i); break;
    }
}

static void set_num(Row *r, int a, double v, int decimals)
{
    snprintf(r->num[a], sizeof r->num[a], "%.*f", decimals, v);
}

/* value -- attribute a of r as text, or NULL when absent.  Numbers live in
 * the row itself (rows move when sorted: no pointers into them). */
static const char *value(const Row *r, int a)
{
    if (attr_is_num[a]) return r->num[a][0] ? r->num[a] : NULL;
    return r->val[a];
}

/* draw_event -- fills the attributes of one event of a weighted mix. */
static void draw_event(Row *r, uint32_t mix)
{
    uint32_t x = below(1000);
    /* mix shifts the weights: some logs are login-heavy, some ticket-heavy */
    if (mix == 1 && x < 500) x = 100;
    if (mix == 2 && x < 300) x = 600;
    if (x < 250) { r->event = "login"; if (below(3)) r->val[A_DEVICE] = PICK(DEVICES); }
    else if (x < 330) { r->event = "page"; r->val[A_PATH] = PICK(PATHS); }
    else if (x < 420) {
        r->event = "purchase";
        r->val[A_PRODUCT] = PICK(PRODUCTS);
        if (below(5)) set_num(r, A_AMOUNT, (double)below(200000) / 100.0, 2);
    } else if (x < 520) r->event = "ticket_opened";
    else if (x < 640) {
        r->event = "ticket_closed";
        r->val[A_KIND] = PICK(KINDS);
        if (below(6)) set_num(r, A_SENTIMENT, ((double)below(201) - 100.0) / 100.0, 2);
    } else if (x < 730) {
        r->event = "response";
        r->val[A_SURVEY] = PICK(SURVEYS);
        if (below(8)) set_num(r, A_SCORE, (double)below(11), 0);
    } else if (x < 790) {
        r->event = "identify";
        if (below(4)) r->val[A_TZ] = PICK(TZS);
        if (below(2)) r->val[A_SEGMENT] = PICK(SEGMENTS);
    } else if (x < 830) r->event = "onboarding_done";
    else if (x < 870) r->event = "project_done";
    else if (x < 910) { r->event = "consent_granted"; r->val[A_CHANNEL] = PICK(CHANNELS); }
    else if (x < 930) { r->event = "consent_revoked"; r->val[A_CHANNEL] = PICK(CHANNELS); }
    else if (x < 955) { r->event = "opt_out"; if (below(3)) r->val[A_CHANNEL] = PICK(CHANNELS); }
    else if (x < 975) { r->event = "opt_in"; if (below(3)) r->val[A_CHANNEL] = PICK(CHANNELS); }
    else r->event = "signup";
}

static int by_time(const void *a, const void *b)
{
    const Row *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void generate(void)
{
    const int64_t start = 1771545600;          /* 2026-02-20T00:00:00Z: spans the DST changes */
    rows = calloc((size_t)num_events + 1, sizeof *rows);
    if (!rows) { perror("gen"); exit(1); }
    uint32_t mix = below(3);
    for (int64_t i = 0; i < num_events; i++) {
        Row *r = &rows[i];
        r->seq = (uint32_t)i;
        /* busy customers: the minimum of two draws skews toward low ids */
        uint32_t a = below((uint32_t)num_customers), b = below((uint32_t)num_customers);
        r->customer = a < b ? a : b;
        if (i > 0 && (int64_t)below(100) < tie_pct) {
            r->time = rows[below((uint32_t)i)].time;          /* a tie with an earlier row */
        } else {
            int64_t t = start + (int64_t)((rnd() >> 11) % (uint64_t)(num_days * 86400));
            if (below(4) == 0) t -= t % 3600;                 /* on the hour: more ties */
            r->time = t;
        }
        draw_event(r, mix);
    }
    qsort(rows, (size_t)num_events, sizeof *rows, by_time);
}

/* ---- writing ---------------------------------------------------------------- */

static void civil(int64_t t, int *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s)
{
    int64_t days = t / 86400, sec = t % 86400;
    if (sec < 0) { sec += 86400; days--; }
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *mo = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*mo <= 2));
    *h = (int)(sec / 3600); *mi = (int)(sec / 60 % 60); *s = (int)(sec % 60);
}

/* time_text -- t in one of several equivalent spellings. */
static void time_text(int64_t t, char *out, size_t n, int *is_int)
{
    int y, h, mi, s;
    unsigned mo, d;
    *is_int = 0;
    switch (below(5)) {
    case 0:
        snprintf(out, n, "%lld", (long long)t);
        *is_int = 1;
        return;
    case 1: {                                 /* with an offset of -12h..+14h, whole quarters */
        int q = (int)below(105) - 48, off = q * 15 * 60;
        civil(t + off, &y, &mo, &d, &h, &mi, &s);
        int a = off < 0 ? -off : off;
        snprintf(out, n, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", y, mo, d, h, mi, s,
                 off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
        return;
    }
    case 2:
        civil(t, &y, &mo, &d, &h, &mi, &s);
        snprintf(out, n, "%04d-%02u-%02uT%02d:%02d:%02d.%03uZ", y, mo, d, h, mi, s, below(1000));
        return;
    default:
        civil(t, &y, &mo, &d, &h, &mi, &s);
        snprintf(out, n, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
        return;
    }
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    return f;
}

static void close_out(FILE *f)
{
    if (ferror(f) || fclose(f) != 0) { perror("gen: write"); exit(1); }
}

/* write_rows -- rows order[0..n) to f as CSV or JSON Lines.  The CSV header
 * lists the columns in a random order (the reader must not care). */
static void write_rows(FILE *f, int jsonl, const uint32_t *order, size_t n)
{
    int cols[NATTR + 3];
    for (int i = 0; i < NATTR + 3; i++) cols[i] = i - 3;      /* -3 time, -2 customer, -1 event */
    for (int i = NATTR + 2; i > 0; i--) {
        int j = (int)below((uint32_t)i + 1), t = cols[i];
        cols[i] = cols[j];
        cols[j] = t;
    }
    if (!jsonl) {
        for (int i = 0; i < NATTR + 3; i++) {
            if (i) fputc(',', f);
            fputs(cols[i] == -3 ? "time" : cols[i] == -2 ? "customer" : cols[i] == -1 ? "event"
                  : attr_names[cols[i]], f);
        }
        fputs(below(3) ? "\n" : "\r\n", f);
    }
    char ts[64], cust[64];
    for (size_t k = 0; k < n; k++) {
        const Row *r = &rows[order[k]];
        int is_int;
        time_text(r->time, ts, sizeof ts, &is_int);
        customer_id(r->customer, cust, sizeof cust);
        if (jsonl) {
            fputc('{', f);
            int first = 1;
            for (int i = 0; i < NATTR + 3; i++) {
                int c = cols[i];
                if (c >= 0 && !value(r, c)) continue;
                if (!first) fputc(',', f);
                first = 0;
                if (c == -3) { fputs("\"time\":", f); if (is_int) fputs(ts, f); else json_string(f, ts); }
                else if (c == -2) { fputs("\"customer\":", f); json_string(f, cust); }
                else if (c == -1) { fputs("\"event\":", f); json_string(f, r->event); }
                else {
                    json_string(f, attr_names[c]);
                    fputc(':', f);
                    if (attr_is_num[c]) fputs(value(r, c), f); else json_string(f, value(r, c));
                }
            }
            fputs("}\n", f);
        } else {
            for (int i = 0; i < NATTR + 3; i++) {
                int c = cols[i];
                if (i) fputc(',', f);
                if (c == -3) csv_field(f, ts);
                else if (c == -2) csv_field(f, cust);
                else if (c == -1) csv_field(f, r->event);
                else if (value(r, c)) {
                    if (!attr_is_num[c] && !strchr(value(r, c), '"') && below(4) == 0) {
                        fputc('"', f); fputs(value(r, c), f); fputc('"', f);   /* quoted without need */
                    } else {
                        csv_field(f, value(r, c));
                    }
                } else if (below(5) == 0) {
                    fputs("\"\"", f);                            /* quoted empty = missing */
                }
            }
            fputc('\n', f);
        }
    }
}

/* shuffle_keep_ties -- a random permutation of rows idx[0..n) (time order on
 * entry) in which rows with equal timestamps keep their relative order. */
static void shuffle_keep_ties(uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = below((uint32_t)i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    /* re-deal the rows of each timestamp to that timestamp's positions, in
     * order: positions of a time are visited left to right, and the rows of
     * that time were sorted by seq (they are consecutive in rows[]) */
    size_t *next = calloc((size_t)num_events + 1, sizeof *next);
    if (!next) { perror("gen"); exit(1); }
    for (size_t k = 0; k < n; k++) {
        uint32_t r = idx[k];
        size_t first = r;
        while (first > 0 && rows[first - 1].time == rows[r].time) first--;
        idx[k] = (uint32_t)(first + next[first]++);
    }
    free(next);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    unsigned long long seed = 1;
    num_customers = num_events = num_days = tie_pct = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "-s")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(o, "-o")) dir = v;
        else if (!strcmp(o, "-c")) num_customers = atoll(v);
        else if (!strcmp(o, "-n")) num_events = atoll(v);
        else if (!strcmp(o, "-d")) num_days = atoll(v);
        else if (!strcmp(o, "-t")) tie_pct = atoll(v);
        else { fprintf(stderr, "gen: unknown option %s\n", o); return 2; }
    }
    if (!dir) { fprintf(stderr, "usage: gen -s SEED -o DIR [-c N] [-n N] [-d DAYS] [-t TIE%%]\n"); return 2; }
    rng = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
    rnd();
    /* the shape of this log, unless given */
    static const int64_t cust_choice[] = { 1, 2, 5, 20, 60, 200 };
    static const int64_t ev_choice[] = { 0, 1, 10, 80, 300, 1000, 2500 };
    static const int64_t day_choice[] = { 1, 3, 14, 40, 100 };
    static const int64_t tie_choice[] = { 0, 5, 30, 80 };
    if (num_customers < 1) num_customers = PICK(cust_choice);
    if (num_events < 0) num_events = PICK(ev_choice);
    if (num_days < 1) num_days = PICK(day_choice);
    if (tie_pct < 0) tie_pct = PICK(tie_choice);
    generate();

    size_t n = (size_t)num_events;
    uint32_t *idx = calloc(n + 1, sizeof *idx);
    if (!idx) { perror("gen"); return 1; }
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;

    FILE *f = open_out(dir, "events.csv");
    write_rows(f, 0, idx, n);
    close_out(f);
    f = open_out(dir, "events.jsonl");
    write_rows(f, 1, idx, n);
    close_out(f);

    shuffle_keep_ties(idx, n);
    f = open_out(dir, "shuffled.csv");
    write_rows(f, 0, idx, n);
    close_out(f);

    /* parts: a timestamp's rows all go to the part its time hashes to */
    static const char *const parts[3] = { "part1.csv", "part2.jsonl", "part3.csv" };
    for (int p = 0; p < 3; p++) {
        uint32_t *sel = calloc(n + 1, sizeof *sel);
        if (!sel) { perror("gen"); return 1; }
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t h = (uint64_t)rows[idx[k]].time * 0x9E3779B97F4A7C15ULL;
            if ((int)((h >> 40) % 3) == p) sel[m++] = idx[k];
        }
        f = open_out(dir, parts[p]);
        write_rows(f, p == 1, sel, m);
        close_out(f);
        free(sel);
    }
    /* grouped by customer: a stable counting sort of the time order by
     * customer (written last, so the files above stay as they were) */
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    uint32_t *grp = calloc(n + 1, sizeof *grp);
    size_t *start = calloc((size_t)num_customers + 1, sizeof *start);
    if (!grp || !start) { perror("gen"); return 1; }
    for (size_t i = 0; i < n; i++) start[rows[i].customer + 1]++;
    for (int64_t c = 0; c < num_customers; c++) start[c + 1] += start[c];
    for (size_t i = 0; i < n; i++) grp[start[rows[i].customer]++] = (uint32_t)i;
    f = open_out(dir, "grouped.csv");
    write_rows(f, 0, grp, n);
    close_out(f);
    f = open_out(dir, "grouped.jsonl");
    write_rows(f, 1, grp, n);
    close_out(f);
    free(grp);
    free(start);
    printf("seed %llu: %lld customers, %lld events, %lld days, %lld%% ties\n", seed,
           (long long)num_customers, (long long)num_events, (long long)num_days, (long long)tie_pct);
    free(idx);
    free(rows);
    return 0;
}
