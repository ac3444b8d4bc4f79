/* merge.c -- `kairos merge POLICY SCHEDULE...`: the schedules of disjoint
 * customer shards (as `kairos simulate --shard K/N` wrote them, CSV or JSON
 * Lines) merged into exactly the bytes one `simulate` over every customer
 * writes.
 *
 * Why a k-way merge on (time, customer) is enough: the schedule's order is
 * time, then customer (byte-wise), then priority descending, then rule
 * declaration order.  Customers are disjoint between shards, so rows that tie
 * on (time, customer) all come from one input, which already holds them in
 * the right order; the merge only interleaves whole (time, customer) groups.
 *
 * What is checked, each a clear error naming the file and the line:
 *   - every input has the schedule's form (CSV header, 8 fields; or JSON Lines
 *     objects with the schedule's keys in order), all inputs the same format;
 *   - every row holds a real time, names a rule of POLICY, with that rule's
 *     survey (or task name), an action it can have, a channel of the policy,
 *     and a declared variant of it (none only for a rule without variants):
 *     a schedule of another policy fails here;
 *   - each input is in the schedule's order (its own rows sorted);
 *   - no customer appears in two inputs (the inputs are disjoint shards).
 * Memory: one row per input, plus the set of customer ids seen (to prove
 * disjointness).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/lang.h"
#include "lang/util.h"
#include "runtime/runtime.h"
#include "cli.h"

#define SCHED_HEADER "time,customer,rule,action,survey,channel,attempt,variant"
#define NFIELDS 8

#define READOUT_HEADER "rule,variant,asks,answered,rate,low,high"
#define READOUT_FIELDS 7

typedef enum { FMT_UNKNOWN, FMT_CSV, FMT_JSONL, FMT_READOUT } SchedFormat;

typedef struct Field { char *p; size_t n; } Field;

typedef struct Input {
    const char *path;
    FILE *f;
    unsigned long line;          /* line where the current record starts */
    unsigned long next_line;     /* line after it */
    char *rec; size_t reclen, reccap;   /* the raw record, with its line end */
    const char *bad;             /* why read_line failed when it was not a read error */
    char *buf; size_t bufcap;    /* decoded fields */
    Field fld[NFIELDS];
    uint32_t rule;               /* rule index of the current row */
    uint32_t attempt;            /* and its attempt */
    bool done;
    /* the previous row, for the order check */
    char prev_time[32]; char *prev_cust; size_t prev_custlen, prev_custcap;
    uint32_t prev_rule, prev_attempt; bool has_prev;
} Input;

/* ---- the set of customer ids: open addressing on FNV-1a ----------------- */

typedef struct CustSet {
    struct Slot { uint64_t h; char *id; size_t n; uint32_t input; unsigned long line; } *slot;
    size_t cap, len;
} CustSet;

static int cs_grow(CustSet *s)
{
    size_t nc = s->cap ? s->cap * 2 : 1024;
    struct Slot *ns = calloc(nc, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i].id) continue;
        size_t j = s->slot[i].h & (nc - 1);
        while (ns[j].id) j = (j + 1) & (nc - 1);
        ns[j] = s->slot[i];
    }
    free(s->slot);
    s->slot = ns;
    s->cap = nc;
    return 0;
}

/* Finds or adds id; *found gets the entry (new or old).  -1 on no memory. */
static int cs_add(CustSet *s, const char *id, size_t n, uint32_t input, unsigned long line,
                  struct Slot **found)
{
    if ((s->len + 1) * 4 > s->cap * 3 && cs_grow(s) != 0) return -1;
    uint64_t h = kb_fnv1a64(id, n, KB_FNV_OFFSET);
    size_t j = h & (s->cap - 1);
    while (s->slot[j].id) {
        if (s->slot[j].h == h && s->slot[j].n == n && memcmp(s->slot[j].id, id, n) == 0) {
            *found = &s->slot[j];
            return 0;
        }
        j = (j + 1) & (s->cap - 1);
    }
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, id, n);
    copy[n] = '\0';
    s->slot[j] = (struct Slot){ h, copy, n, input, line };
    s->len++;
    *found = &s->slot[j];
    return 0;
}

static void cs_free(CustSet *s)
{
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i].id);
    free(s->slot);
}

/* ---- reading records ------------------------------------------------------ */

static int fail(const Input *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const Input *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%lu: error: ", in->path, in->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* A record (a row, its quoted line breaks included), at most: as an event
 * log's (SPEC 9.2), so that an endless line (/dev/zero) stops at once. */
#define MAX_RECORD (64u << 20)

/* Appends one physical line to in->rec; 0 at end of file, 1 read, -1 error
 * (in->bad says why when it was not a read error: read_failed). */
static int read_line(Input *in)
{
    int c;
    size_t start = in->reclen;
    in->bad = NULL;
    while ((c = getc(in->f)) != EOF) {
        if (c == '\0') { in->bad = "a NUL byte (a schedule or a readout is text)"; return -1; }
        if (in->reclen >= MAX_RECORD) { in->bad = "a row longer than 64 MiB (not a schedule or a readout)"; return -1; }
        if (in->reclen + 2 > in->reccap) {
            size_t nc = in->reccap ? in->reccap * 2 : 256;
            char *nr = realloc(in->rec, nc);
            if (!nr) { errno = ENOMEM; return -1; }
            in->rec = nr;
            in->reccap = nc;
        }
        in->rec[in->reclen++] = (char)c;
        if (c == '\n') break;
    }
    if (ferror(in->f)) return -1;
    if (in->reclen == start) return 0;
    in->next_line++;
    return 1;
}

/* read_line failed: says why, naming the file (and the line when the
 * input is at fault); -1. */
static int read_failed(const Input *in)
{
    if (in->bad) {
        Input at = *in;
        at.line = in->next_line;     /* the line being read */
        return fail(&at, "%s", in->bad);
    }
    fprintf(stderr, "%s: error: read error: %s\n", in->path, strerror(errno));
    return -1;
}

/* Ensures the decode buffer holds n bytes. */
static int buf_need(Input *in, size_t n)
{
    if (n <= in->bufcap) return 0;
    char *nb = realloc(in->buf, n);
    if (!nb) return -1;
    in->buf = nb;
    in->bufcap = n;
    return 0;
}

/* Splits a CSV record (RFC 4180, as the schedule writer quotes it) into
 * nfields fields. */
static int split_csv(Input *in, size_t nfields)
{
    if (buf_need(in, in->reclen + 1) != 0) return fail(in, "%s", strerror(ENOMEM));
    size_t end = in->reclen;
    if (end == 0 || in->rec[end - 1] != '\n') return fail(in, "%s", "the last row has no line end (a truncated schedule?)");
    end--;
    char *out = in->buf;
    size_t i = 0, k = 0;
    for (;;) {
        if (k == nfields) return fail(in, "%s", "this row has more fields than the header");
        in->fld[k].p = out;
        if (i < end && in->rec[i] == '"') {
            i++;
            for (;;) {
                if (i >= end) return fail(in, "%s", "unterminated quoted field");
                if (in->rec[i] == '"') {
                    if (i + 1 < end && in->rec[i + 1] == '"') { *out++ = '"'; i += 2; continue; }
                    i++;
                    break;
                }
                *out++ = in->rec[i++];
            }
            if (i < end && in->rec[i] != ',') return fail(in, "%s", "a quoted field must end at a comma");
        } else {
            while (i < end && in->rec[i] != ',') {
                if (in->rec[i] == '"') return fail(in, "%s", "a quote inside an unquoted field");
                *out++ = in->rec[i++];
            }
        }
        in->fld[k].n = (size_t)(out - in->fld[k].p);
        k++;
        if (i >= end) break;
        i++; /* the comma */
    }
    if (k != nfields) return fail(in, "%s", "this row has fewer fields than the header");
    return 0;
}

/* Decodes a JSON string at s (after its opening quote) into out; returns the
 * position after the closing quote, or NULL. */
static const char *json_str(const char *s, const char *end, char **out)
{
    char *o = *out;
    while (s < end && *s != '"') {
        if (*s != '\\') { *o++ = *s++; continue; }
        if (++s >= end) return NULL;
        switch (*s) {
        case '"': case '\\': case '/': *o++ = *s++; break;
        case 'n': *o++ = '\n'; s++; break;
        case 'r': *o++ = '\r'; s++; break;
        case 't': *o++ = '\t'; s++; break;
        case 'b': *o++ = '\b'; s++; break;
        case 'f': *o++ = '\f'; s++; break;
        case 'u': {
            /* any JSON escape of a character, as a tool that rewrote the
             * schedule may have written it (Python's json.dumps: Jos\u00e9),
             * written out as UTF-8; a lone surrogate is no character */
            int hv = end - s >= 5 ? ku_hex4(s + 1) : -1;
            if (hv < 0) return NULL;
            unsigned v = (unsigned)hv;
            s += 5;
            if (v >= 0xD800 && v <= 0xDBFF) {
                int lo = end - s >= 6 && s[0] == '\\' && s[1] == 'u' ? ku_hex4(s + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
                v = 0x10000u + ((v - 0xD800u) << 10) + ((unsigned)lo - 0xDC00u);
                s += 6;
            } else if (v >= 0xDC00 && v <= 0xDFFF) {
                return NULL;
            }
            if (v < 0x80) *o++ = (char)v;
            else if (v < 0x800) { *o++ = (char)(0xC0 | (v >> 6)); *o++ = (char)(0x80 | (v & 0x3F)); }
            else if (v < 0x10000) {
                *o++ = (char)(0xE0 | (v >> 12)); *o++ = (char)(0x80 | ((v >> 6) & 0x3F)); *o++ = (char)(0x80 | (v & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (v >> 18)); *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((v >> 6) & 0x3F)); *o++ = (char)(0x80 | (v & 0x3F));
            }
            break;
        }
        default: return NULL;
        }
    }
    if (s >= end) return NULL;
    *out = o;
    return s + 1;
}

/* Splits a JSON Lines schedule row: {"time":"..","customer":"..",...} with
 * the schedule's keys in its order (attempt is a number). */
static int split_jsonl(Input *in)
{
    static const char *const keys[NFIELDS] = {
        "time", "customer", "rule", "action", "survey", "channel", "attempt", "variant" };
    if (buf_need(in, in->reclen + 1) != 0) return fail(in, "%s", strerror(ENOMEM));
    const char *s = in->rec, *end = in->rec + in->reclen;
    if (end == s || end[-1] != '\n') return fail(in, "%s", "the last row has no line end (a truncated schedule?)");
    end--;
    char *out = in->buf;
    if (s >= end || *s++ != '{') return fail(in, "%s", "not a schedule row: expected '{'");
    for (int k = 0; k < NFIELDS; k++) {
        size_t kl = strlen(keys[k]);
        if (k > 0 && (s >= end || *s++ != ','))
            return fail(in, "not a schedule row: expected key \"%s\"", keys[k]);
        if (end - s < (ptrdiff_t)(kl + 3) || s[0] != '"' || memcmp(s + 1, keys[k], kl) != 0 ||
            s[kl + 1] != '"' || s[kl + 2] != ':')
            return fail(in, "not a schedule row: expected key \"%s\"", keys[k]);
        s += kl + 3;
        in->fld[k].p = out;
        bool number = k == 6;               /* attempt; every other value is a string */
        if (!number && s < end && *s == '"') {
            s = json_str(s + 1, end, &out);
            if (!s) return fail(in, "bad string value of \"%s\"", keys[k]);
        } else if (number) {
            while (s < end && *s >= '0' && *s <= '9') *out++ = *s++;
            /* 1.0, 1e0, -1: numbers, but not as simulate writes an attempt */
            if (out == in->fld[k].p || (s < end && *s != ',' && *s != '}'))
                return fail(in, "bad value of \"%s\" (a whole number as simulate writes it, e.g. 1)", keys[k]);
        } else {
            return fail(in, "bad value of \"%s\" (a string)", keys[k]);
        }
        in->fld[k].n = (size_t)(out - in->fld[k].p);
    }
    if (s >= end || *s++ != '}' || s != end) return fail(in, "%s", "not a schedule row: expected '}' at the end");
    return 0;
}

static bool field_is(const Field *f, const char *s)
{
    size_t n = strlen(s);
    return f->n == n && memcmp(f->p, s, n) == 0;
}

/* A time as simulate writes it: YYYY-MM-DDTHH:MM:SSZ, and a real one (no
 * February 30th, no hour 24). */
static bool is_time(const Field *f)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (f->n != sizeof pat - 1) return false;
    for (size_t i = 0; i < f->n; i++) {
        char c = f->p[i];
        if (pat[i] == 'd' ? (c < '0' || c > '9') : c != pat[i]) return false;
    }
    int64_t t;               /* (second 60 reads as 59 in an event log; simulate never writes it) */
    return !(f->p[17] == '6' && f->p[18] == '0') && kr_parse_time(f->p, f->n, &t) == 0;
}

/* Checks a row against the policy; sets in->rule. */
static int check_row(Input *in, const KImage *img)
{
    const Field *f = in->fld;
    if (!is_time(&f[0])) return fail(in, "%s", "bad time (expected YYYY-MM-DDTHH:MM:SSZ)");
    if (f[1].n == 0) return fail(in, "%s", "empty customer id");
    const char *why = kr_bad_customer_id(f[1].p, f[1].n);
    if (why) return fail(in, "not a customer id simulate writes: %s (SPEC 5.4)", why);
    uint32_t r;
    for (r = 0; r < img->nrules; r++)
        if (field_is(&f[2], img->strings[img->rules[r].name])) break;
    if (r == img->nrules) {
        return fail(in, "rule \"%.*s\" is not a rule of the policy (a schedule of another policy?)",
                    (int)(f[2].n > 100 ? 100 : f[2].n), f[2].p);
    }
    const KbRule *rule = &img->rules[r];
    const char *target = rule->is_task ? img->strings[rule->target]
                                       : img->strings[img->surveys[rule->target]];
    const char *rname = img->strings[rule->name];
    if (!field_is(&f[4], target))
        return fail(in, "the survey (or task) does not match rule \"%s\" of the policy", rname);
    if (rule->is_task ? !field_is(&f[3], "task")
                      : !(field_is(&f[3], "ask") || field_is(&f[3], "remind")))
        return fail(in, "action \"%.*s\": rule \"%s\" of the policy has %s", (int)(f[3].n > 20 ? 20 : f[3].n),
                    f[3].p, rname, rule->is_task ? "tasks only (task)" : "asks and reminders only (ask, remind)");
    if (f[5].n == 0) return fail(in, "%s", "empty channel");
    uint32_t ch;
    for (ch = 0; ch < img->nchannels; ch++)
        if (field_is(&f[5], img->strings[img->channels[ch]])) break;
    if (ch == img->nchannels) return fail(in, "%s", "a channel the policy does not name (a schedule of another policy?)");
    if (f[6].n == 0 || f[6].n > 9 || f[6].p[0] == '0')
        return fail(in, "%s", "bad attempt number");
    in->attempt = 0;
    for (size_t i = 0; i < f[6].n; i++) {
        if (f[6].p[i] < '0' || f[6].p[i] > '9') return fail(in, "%s", "bad attempt number");
        in->attempt = in->attempt * 10 + (uint32_t)(f[6].p[i] - '0');
    }
    if (f[7].n == 0 && rule->nvariants > 0)
        return fail(in, "no variant, but rule \"%s\" of the policy declares variants", rname);
    uint32_t v = KB_NONE;
    if (f[7].n > 0) {
        for (v = 0; v < rule->nvariants; v++)
            if (field_is(&f[7], img->strings[rule->variants[v].name])) break;
        if (v == rule->nvariants)
            return fail(in, "a variant that rule \"%s\" of the policy does not declare", rname);
    }
    /* what the replay can write for this attempt (SPEC 4.4): an attempt of
     * the rule's chain, a reminder only after the first attempt, on the
     * channel of that attempt (the variant's for the first) */
    if (in->attempt > rule->nattempts)
        return fail(in, "attempt %u: rule \"%.100s\" of the policy has %u attempt%s", in->attempt, rname,
                    rule->nattempts, rule->nattempts == 1 ? "" : "s");
    if (in->attempt == 1 && field_is(&f[3], "remind"))
        return fail(in, "a remind at attempt 1 (rule \"%.100s\"): a reminder follows a sent attempt", rname);
    uint32_t want = in->attempt == 1 && v != KB_NONE && rule->variants[v].channel != KB_NONE
                  ? rule->variants[v].channel : rule->attempts[in->attempt - 1].channel;
    if (ch != want && want < img->nchannels)
        return fail(in, "channel \"%.100s\": attempt %u of rule \"%.100s\" of the policy goes on \"%.100s\"",
                    img->strings[img->channels[ch]], in->attempt, rname, img->strings[img->channels[want]]);
    in->rule = r;
    return 0;
}

/* Compares (time, customer) of two rows. */
static int key_cmp(const Field *at, const Field *ac, const Field *bt, const Field *bc)
{
    int c = memcmp(at->p, bt->p, at->n < bt->n ? at->n : bt->n);
    if (c || at->n != bt->n) return c ? c : (at->n < bt->n ? -1 : 1);
    size_t n = ac->n < bc->n ? ac->n : bc->n;
    c = memcmp(ac->p, bc->p, n);
    if (c) return c;
    return ac->n == bc->n ? 0 : (ac->n < bc->n ? -1 : 1);
}

/* Rule r1 may follow rule r0 at one (time, customer): priority descending,
 * then declaration order. */
static bool rule_order_ok(const KImage *img, uint32_t r0, uint32_t r1)
{
    int32_t p0 = img->rules[r0].priority, p1 = img->rules[r1].priority;
    return p0 > p1 || (p0 == p1 && r0 <= r1);
}

/* Reads the next row of in; 0 ok (in->done at the end), -1 error. */
static int next_row(Input *in, SchedFormat fmt, const KImage *img)
{
    in->reclen = 0;
    in->line = in->next_line;
    int r = read_line(in);
    if (r < 0) return read_failed(in);
    if (r == 0) { in->done = true; return 0; }
    if (fmt == FMT_CSV) {
        /* a quoted field may hold line breaks: read on while quotes are open */
        for (;;) {
            size_t q = 0;
            for (size_t i = 0; i < in->reclen; i++) q += in->rec[i] == '"';
            if (q % 2 == 0) break;
            r = read_line(in);
            if (r < 0) return read_failed(in);
            if (r == 0) return fail(in, "%s", "unterminated quoted field at the end of the file");
        }
        if (split_csv(in, NFIELDS) != 0) return -1;
    } else if (split_jsonl(in) != 0) {
        return -1;
    }
    if (check_row(in, img) != 0) return -1;
    if (in->has_prev) {
        Field pt = { in->prev_time, strlen(in->prev_time) }, pc = { in->prev_cust, in->prev_custlen };
        int c = key_cmp(&pt, &pc, &in->fld[0], &in->fld[1]);
        /* at one (time, customer): by priority and rule order, one rule's
         * rows by attempt (SPEC 4.13; two equal rows are no schedule) */
        if (c > 0 || (c == 0 && !rule_order_ok(img, in->prev_rule, in->rule)) ||
            (c == 0 && in->prev_rule == in->rule && in->prev_attempt >= in->attempt))
            return fail(in, "%s", "rows out of the schedule's order (not a schedule as simulate writes it)");
    }
    memcpy(in->prev_time, in->fld[0].p, in->fld[0].n);
    in->prev_time[in->fld[0].n] = '\0';
    if (in->fld[1].n > in->prev_custcap) {
        char *nc = realloc(in->prev_cust, in->fld[1].n);
        if (!nc) return fail(in, "%s", strerror(ENOMEM));
        in->prev_cust = nc;
        in->prev_custcap = in->fld[1].n;
    }
    memcpy(in->prev_cust, in->fld[1].p, in->fld[1].n);
    in->prev_custlen = in->fld[1].n;
    in->prev_rule = in->rule;
    in->prev_attempt = in->attempt;
    in->has_prev = true;
    return 0;
}

/* The format of an input, from its first bytes; reads the CSV header. */
static SchedFormat open_input(Input *in, SchedFormat want)
{
    in->line = in->next_line = 1;
    int c = getc(in->f);
    if (c == EOF) {
        if (ferror(in->f)) { fprintf(stderr, "%s: error: read error: %s\n", in->path, strerror(errno)); return FMT_UNKNOWN; }
        /* an empty file: a JSON Lines schedule without rows */
        if (want == FMT_CSV) { fail(in, "%s", "empty file: a CSV schedule starts with its header"); return FMT_UNKNOWN; }
        in->done = true;
        return FMT_JSONL;
    }
    if (c == 0x1F && getc(in->f) == 0x8B) {   /* no schedule starts with 0x1F: nothing to give back */
        fail(in, "%s", "a gzip-compressed file: merge reads schedules as simulate writes them "
             "(gunzip it first, or: gunzip -c FILE | kairos merge POLICY - ...)");
        return FMT_UNKNOWN;
    }
    if (c == 0x1F) {
        fail(in, "not a schedule or a readout: the first line must be the header " SCHED_HEADER " or " READOUT_HEADER);
        return FMT_UNKNOWN;
    }
    ungetc(c, in->f);
    SchedFormat fmt = c == '{' ? FMT_JSONL : FMT_CSV;
    if (want != FMT_UNKNOWN && (fmt == FMT_JSONL) != (want == FMT_JSONL)) {
        fail(in, "%s", "all schedules must have one format (CSV or JSON Lines)");
        return FMT_UNKNOWN;
    }
    if (fmt == FMT_CSV) {
        int r = read_line(in);
        if (r < 0) { read_failed(in); return FMT_UNKNOWN; }
        if (in->reclen == sizeof READOUT_HEADER && memcmp(in->rec, READOUT_HEADER "\n", in->reclen) == 0)
            fmt = FMT_READOUT;
        else if (in->reclen != sizeof SCHED_HEADER || memcmp(in->rec, SCHED_HEADER "\n", in->reclen) != 0) {
            /* the usual reasons a file that was a schedule is not one now: an
             * editor's or a converter's byte order mark and CR LF line ends
             * (simulate writes neither; merge compares bytes) */
            bool bom = in->reclen >= 3 && memcmp(in->rec, "\xEF\xBB\xBF", 3) == 0;
            bool crlf = in->reclen >= 2 && in->rec[in->reclen - 2] == '\r';
            bool blank = in->reclen <= 2 && (in->rec[0] == '\n' || (in->rec[0] == '\r' && crlf));
            fail(in, "not a schedule or a readout: the first line must be the header "
                 SCHED_HEADER " or " READOUT_HEADER ", or a JSON Lines schedule's first object%s",
                 blank ? " (this one is blank, which simulate never writes)"
                 : bom && crlf ? " (this one starts with a byte order mark and ends with CR LF, which simulate never writes)"
                 : bom ? " (this one starts with a byte order mark, which simulate never writes)"
                 : crlf ? " (this one ends with CR LF; simulate writes LF line ends)" : "");
            return FMT_UNKNOWN;
        }
        if (want != FMT_UNKNOWN && fmt != want) {
            fail(in, "%s", "all inputs must be of one kind (schedules or readouts)");
            return FMT_UNKNOWN;
        }
    }
    return fmt;
}

/* ---- the heap of inputs ordered by their current row -------------------- */

static bool less(const Input *a, const Input *b)
{
    return key_cmp(&a->fld[0], &a->fld[1], &b->fld[0], &b->fld[1]) < 0;
}

static void sift_down(Input **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && less(h[l], h[m])) m = l;
        if (l + 1 < n && less(h[l + 1], h[m])) m = l + 1;
        if (m == i) return;
        Input *t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* ---- output --------------------------------------------------------------- */

/* The output function of every command (cli/output_file.c). */
/* The output.  Standard output, a device or a FIFO (written in place)
 * gets the rows only once the merge has succeeded, as simulate's does: a
 * bad row found late must not leave a partial schedule behind.  They wait
 * in a temporary file (held) until then. */
typedef struct Out { CliOut c; FILE *f; FILE *held; } Out;

static int out_open(Out *o, const char *path)
{
    o->held = NULL;
    if (cli_out_open(&o->c, path ? path : "-") != 0) return -1;
    o->f = o->c.f;
    if (!o->c.tmp) {
        if (!(o->held = tmpfile())) {
            fprintf(stderr, "kairos merge: cannot create a temporary file: %s\n", strerror(errno));
            cli_out_close(&o->c, false);
            return -1;
        }
        o->f = o->held;
    }
    return 0;
}

static int out_close(Out *o, bool ok)
{
    if (o->held) {
        char buf[1 << 16];
        size_t k;
        if (ok && (fflush(o->held) != 0 || fseek(o->held, 0, SEEK_SET) != 0)) {
            fprintf(stderr, "kairos merge: temporary file: %s\n", strerror(errno));
            ok = false;
        }
        while (ok && !o->c.err && (k = fread(buf, 1, sizeof buf, o->held)) > 0)
            if (fwrite(buf, 1, k, o->c.f) != k) o->c.err = errno ? errno : EIO;
        if (ok && ferror(o->held)) {
            fprintf(stderr, "kairos merge: temporary file: %s\n", strerror(errno ? errno : EIO));
            ok = false;
        }
        fclose(o->held);
        o->held = NULL;
    }
    return cli_out_close(&o->c, ok);
}

/* ---- readouts: counts add up ------------------------------------------------- */

/* A count cell: digits, at most 2^64 - 1 (what merge itself may write
 * as a sum, SPEC 6). */
static bool parse_count(const Field *f, uint64_t *v)
{
    if (f->n == 0 || f->n > 20) return false;
    *v = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->p[i] < '0' || f->p[i] > '9') return false;
        uint64_t d = (uint64_t)(f->p[i] - '0');
        if (*v > (UINT64_MAX - d) / 10u) return false;
        *v = *v * 10u + d;
    }
    return true;
}

/* The rate, low and high cells of a readout row of asks and answered,
 * as readout writes them. */
static void rates(uint64_t asks, uint64_t answered, char out[3][32])
{
    double lo = 0, hi = 0;
    if (asks) kr_wilson(answered, asks, KR_Z95, &lo, &hi);
    snprintf(out[0], sizeof out[0], "%.4f", asks ? (double)answered / (double)asks : 0.0);
    snprintf(out[1], sizeof out[1], "%.4f", lo);
    snprintf(out[2], sizeof out[2], "%.4f", hi);
}

/* `readout --format csv` of disjoint shards: asks and answered are sums over
 * customers, so they add; rate and interval are computed again from the sums,
 * exactly as readout computes them. */
static int merge_readouts(Input *in, int n, const KImage *img, FILE *out)
{
    uint32_t *base = calloc(img->nrules + 1, sizeof *base);
    if (!base) { fprintf(stderr, "kairos merge: %s\n", strerror(ENOMEM)); return -1; }
    for (uint32_t r = 0; r < img->nrules; r++)
        base[r + 1] = base[r] + (img->rules[r].nvariants ? img->rules[r].nvariants : 1);
    uint64_t (*cnt)[2] = calloc(base[img->nrules] + 1, sizeof *cnt);
    if (!cnt) { free(base); fprintf(stderr, "kairos merge: %s\n", strerror(ENOMEM)); return -1; }
    int rc = -1;
    for (int i = 0; i < n; i++) {
        Input *p = &in[i];
        uint32_t prev = UINT32_MAX;        /* the arm of the previous row: readout writes each once, in order */
        for (;;) {
            p->reclen = 0;
            p->line = p->next_line;
            int r = read_line(p);
            if (r < 0) { read_failed(p); goto done; }
            if (r == 0) break;
            if (split_csv(p, READOUT_FIELDS) != 0) goto done;
            const Field *f = p->fld;
            uint32_t ri;
            for (ri = 0; ri < img->nrules; ri++)
                if (!img->rules[ri].is_task && field_is(&f[0], img->strings[img->rules[ri].name])) break;
            if (ri == img->nrules) { fail(p, "%s", "a rule that is not an ask rule of the policy"); goto done; }
            const KbRule *rule = &img->rules[ri];
            uint32_t v = 0;
            if (rule->nvariants) {
                for (v = 0; v < rule->nvariants; v++)
                    if (field_is(&f[1], img->strings[rule->variants[v].name])) break;
                if (v == rule->nvariants) { fail(p, "%s", "a variant the rule does not declare"); goto done; }
            } else if (f[1].n) {
                fail(p, "%s", "a variant for a rule without variants");
                goto done;
            }
            uint32_t arm = base[ri] + v;
            if (prev != UINT32_MAX && arm <= prev) {
                fail(p, "%s", arm == prev ? "this rule and variant's row is given twice in one readout"
                              : "rows out of readout's order (rules, then their variants, in declaration order)");
                goto done;
            }
            prev = arm;
            uint64_t asks, answered;
            if (!parse_count(&f[2], &asks) || !parse_count(&f[3], &answered) || answered > asks) {
                fail(p, "%s", "asks and answered must be counts, answered at most asks");
                goto done;
            }
            char want[3][32];
            rates(asks, answered, want);
            for (int k = 0; k < 3; k++)
                if (!field_is(&f[4 + k], want[k])) {
                    fail(p, "rate, low and high are not those of the row's asks and answered "
                         "(readout writes %s,%s,%s)", want[0], want[1], want[2]);
                    goto done;
                }
            if (cnt[arm][0] + asks < asks) {
                fail(p, "%s", "the asks of this rule and variant add up past 18446744073709551615");
                goto done;
            }
            cnt[arm][0] += asks;
            cnt[arm][1] += answered;
        }
    }
    if (fputs(READOUT_HEADER "\n", out) == EOF) goto write_error;
    for (uint32_t ri = 0; ri < img->nrules; ri++) {
        const KbRule *rule = &img->rules[ri];
        if (rule->is_task) continue;
        for (uint32_t v = 0; v < base[ri + 1] - base[ri]; v++) {
            uint64_t asks = cnt[base[ri] + v][0], hit = cnt[base[ri] + v][1];
            if (!asks) continue;
            char r3[3][32];
            rates(asks, hit, r3);
            if (fprintf(out, "%s,%s,%llu,%llu,%s,%s,%s\n", img->strings[rule->name],
                        rule->nvariants ? img->strings[rule->variants[v].name] : "",
                        (unsigned long long)asks, (unsigned long long)hit, r3[0], r3[1], r3[2]) < 0)
                goto write_error;
        }
    }
    rc = 0;
    goto done;
write_error:
    if (out == stdout) cli_stdout_error(errno ? errno : EIO);
    else fprintf(stderr, "kairos merge: write error: %s\n", strerror(errno ? errno : EIO));
done:
    free(base);
    free(cnt);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

int cli_merge(const KImage *img, char **paths, int n, const char *outpath)
{
    Input *in = calloc((size_t)n, sizeof *in);
    Input **heap = calloc((size_t)n, sizeof *heap);
    CustSet seen = {0};
    Out out;
    bool out_opened = false;
    KrTableOut *table = NULL;
    int rc = 1;
    if (!in || !heap) { fprintf(stderr, "kairos merge: %s\n", strerror(ENOMEM)); goto done; }

    SchedFormat fmt = FMT_UNKNOWN;
    for (int i = 0; i < n; i++) {
        in[i].path = paths[i];
        in[i].f = strcmp(paths[i], "-") == 0 ? stdin : fopen(paths[i], "rb");
        if (!in[i].f) {
            fprintf(stderr, "%s: error: cannot read file: %s\n", paths[i], strerror(errno));
            goto done;
        }
    }
    /* The format comes from the first input that has a row or a header. */
    for (int i = 0; i < n; i++) {
        SchedFormat f = open_input(&in[i], fmt == FMT_UNKNOWN && !in[i].done ? FMT_UNKNOWN : fmt);
        if (f == FMT_UNKNOWN) goto done;
        if (!in[i].done || f == FMT_CSV) {
            if (fmt == FMT_UNKNOWN) fmt = f;
        }
    }
    if (fmt == FMT_UNKNOWN) fmt = FMT_JSONL;   /* every input empty */
    /* An empty file counts as JSON Lines; with CSV inputs it is an error. */
    for (int i = 0; i < n && (fmt == FMT_CSV || fmt == FMT_READOUT); i++) {
        if (in[i].done && in[i].line == 1 && in[i].reclen == 0) {
            fail(&in[i], "%s", "empty file: a CSV schedule starts with its header");
            goto done;
        }
    }

    if (cli_out_format("merge", outpath, fmt == FMT_JSONL ? "jsonl" : "csv", fmt == FMT_JSONL ? "json" : NULL)) {
        rc = 2;
        goto done;
    }
    if (kr_output_is_table(outpath)) {
        /* a database table (SPEC 5.13): the rows as simulate -o writes them */
        if (fmt != FMT_CSV) {
            fprintf(stderr, "kairos merge: error: -o names a database table, which takes CSV schedules; "
                    "these are %s\n", fmt == FMT_READOUT ? "readouts" : "JSON Lines schedules");
            goto done;
        }
        if (!(table = kr_table_open(outpath, stderr))) goto done;
        if (kr_table_write(table, SCHED_HEADER "\n", sizeof SCHED_HEADER) != 0) goto done;
    } else {
        if (out_open(&out, outpath) != 0) goto done;
        out_opened = true;
    }
    if (fmt == FMT_READOUT) {
        rc = merge_readouts(in, n, img, out.f) == 0 ? 0 : 1;
        goto done;
    }
    if (fmt == FMT_CSV && !table && fputs(SCHED_HEADER "\n", out.f) == EOF) goto write_error;

    size_t hn = 0;
    for (int i = 0; i < n; i++) {
        if (in[i].done) continue;
        if (next_row(&in[i], fmt, img) != 0) goto done;
        if (!in[i].done) heap[hn++] = &in[i];
    }
    for (size_t i = hn; i-- > 0;) sift_down(heap, hn, i);

    while (hn > 0) {
        Input *top = heap[0];
        /* Disjointness: the first row of each customer group registers it. */
        struct Slot *s;
        if (cs_add(&seen, top->fld[1].p, top->fld[1].n, (uint32_t)(top - in), top->line, &s) != 0) {
            fprintf(stderr, "kairos merge: %s\n", strerror(ENOMEM));
            goto done;
        }
        if (s->input != (uint32_t)(top - in)) {
            fprintf(stderr, "%s:%lu: error: customer \"%s\" is also in %s (line %lu): "
                    "the inputs are not disjoint shards\n", top->path, top->line, s->id,
                    in[s->input].path, s->line);
            goto done;
        }
        if (table) {                   /* one write a record, as simulate's writer does */
            if (kr_table_write(table, top->rec, top->reclen) != 0) goto done;
        } else if (fwrite(top->rec, 1, top->reclen, out.f) != top->reclen) {
            goto write_error;
        }
        if (next_row(top, fmt, img) != 0) goto done;
        if (top->done) heap[0] = heap[--hn];
        sift_down(heap, hn, 0);
    }
    rc = 0;
    goto done;

write_error:
    if (out.held) fprintf(stderr, "kairos merge: temporary file: write error: %s\n", strerror(errno ? errno : EIO));
    else if (out.c.is_stdout) cli_stdout_error(errno ? errno : EIO);
    else fprintf(stderr, "%s: error: write error: %s\n", outpath, strerror(errno ? errno : EIO));
done:
    if (out_opened && out_close(&out, rc == 0) != 0) rc = 1;
    if (table && kr_table_close(table, rc == 0) != 0) rc = 1;
    for (int i = 0; in && i < n; i++) {
        if (in[i].f && in[i].f != stdin) fclose(in[i].f);
        free(in[i].rec);
        free(in[i].buf);
        free(in[i].prev_cust);
    }
    free(in);
    free(heap);
    cs_free(&seen);
    return rc;
}
