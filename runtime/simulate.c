/* simulate.c -- kr_simulate (runtime.h): opens the event inputs, feeds the
 * replay engine, writes the schedule (or, with explain_customer, one
 * customer's story), prints --stats, the skipped-rows count and a progress
 * line.  Exit status 0, or 1 after a message naming the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "spared.h"
#include "lang/util.h"

#define PROGRESS_EVERY 65536u     /* events between clock checks */

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* What the input's events did with the trigger attributes the rules read
 * (SPEC 4.14): whether read i went unseen, and its type tally; of one
 * engine, or of a partitioned run (all its buckets). */
typedef struct Reads {
    bool (*unseen)(const void *src, uint32_t i);
    const KrTypeTally *(*tally)(const void *src, uint32_t i);
    const void *src;
    const KrInput *in;            /* the event kinds its rows named */
} Reads;
static bool engine_unseen(const void *src, uint32_t i) { return kr_engine_attr_unseen(src, i); }
static bool run_unseen(const void *src, uint32_t i) { return kp_attr_unseen(src, i); }
static const KrTypeTally *engine_tally(const void *src, uint32_t i) { return kr_engine_type_tally(src, i); }
static const KrTypeTally *run_tally(const void *src, uint32_t i) { return kp_type_tally(src, i); }

/* "s" unless n is 1: "1 customer", "2 customers". */
static const char *plural(uint64_t n) { return n == 1 ? "" : "s"; }

/* One rule's (or the total's) lines of the --stats summary. */
static void stats_block(FILE *err, const char *label, const uint64_t *s, bool task)
{
    fprintf(err, "%s: %llu triggered", label, (unsigned long long)s[KR_ST_TRIGGERED]);
    if (task) {
        fprintf(err, ", %llu task%s", (unsigned long long)s[KR_ST_TASKS], plural(s[KR_ST_TASKS]));
    } else {
        fprintf(err, ", %llu ask%s sent, %llu reminder%s sent", (unsigned long long)s[KR_ST_SENT],
                plural(s[KR_ST_SENT]), (unsigned long long)s[KR_ST_REMINDED], plural(s[KR_ST_REMINDED]));
        if (s[KR_ST_TASKS]) fprintf(err, ", %llu task%s", (unsigned long long)s[KR_ST_TASKS], plural(s[KR_ST_TASKS]));
        fprintf(err, ", %llu moved by quiet hours", (unsigned long long)s[KR_ST_MOVED]);
    }
    fputc('\n', err);
    uint64_t total = 0;
    for (size_t i = 0; i < KR_NSPARED; i++) total += s[kr_spared[i].st];
    fprintf(err, "  spared: %llu", (unsigned long long)total);
    const char *sep = " (";
    for (size_t i = 0; i < KR_NSPARED; i++) {
        if (!s[kr_spared[i].st]) continue;
        fprintf(err, "%s%s %llu", sep, kr_spared[i].name, (unsigned long long)s[kr_spared[i].st]);
        sep = ", ";
    }
    fputs(*sep == ',' ? ")\n" : "\n", err);
    if (s[KR_ST_REM_BLOCKED] || s[KR_ST_REM_ANSWERED])
        fprintf(err, "  reminders not sent: %llu blocked (opt-out or consent), %llu answered\n",
                (unsigned long long)s[KR_ST_REM_BLOCKED], (unsigned long long)s[KR_ST_REM_ANSWERED]);
}

static const char *istr(const KImage *img, uint32_t si)
{
    return si < img->nstrings ? img->strings[si] : "?";
}

/* Whether trigger attribute reads i and j name the same attribute of the
 * same trigger event. */
static bool same_name(const KImage *img, uint32_t i, uint32_t j)
{
    const KbAttrRead *a = &img->attr_reads[i], *b = &img->attr_reads[j];
    return a->attr == b->attr && img->rules[a->rule].event == img->rules[b->rule].event;
}

/* The two things a read can warn about: no trigger event carried the
 * attribute, or some carried a value of another type than the read's. */
enum { R_UNSEEN, R_MISTYPED };

static bool read_warns(const Reads *r, int what, uint32_t i)
{
    if (what == R_UNSEEN) return r->unseen(r->src, i);
    const KrTypeTally *t = r->tally(r->src, i);
    return t && t->other;
}

/* Reads i and j warn as one: the same name (and for a type, the same type). */
static bool same_warning(const KImage *img, int what, uint32_t i, uint32_t j)
{
    return same_name(img, i, j) && (what == R_UNSEEN || img->attr_reads[i].tag == img->attr_reads[j].tag);
}

static const char *tag_phrase(uint32_t tag)
{
    switch (tag) {
    case KB_NUM: return "a number";
    case KB_STR: return "a string";
    case KB_BOOL: return "a boolean";
    case KB_TIME: return "a time";
    case KB_DUR: return "a duration";
    case KB_WEEKDAY: return "a weekday";
    default: return "a value";
    }
}

/* The earliest value of another type, as the warning quotes it: a string
 * as a string literal of the language, a number or a boolean as is. */
static void put_first(FILE *err, const KrTypeTally *t)
{
    if (t->first_tag == KB_STR) ku_lang_str(t->first, t->first_len, ku_put_file, err);
    else fwrite(t->first, 1, t->first_len, err);
    if (t->first_cut) fputs("...", err);
    char ts[40];
    kr_fmt_time(t->first_time, ts, sizeof ts);
    fprintf(err, " at %s", ts);
}

/* The attributes rules read from their trigger event that no such event
 * in the input carried, then those some events carried as a value of
 * another type: one warning per name (the first rule that reads it, and
 * the other rules after "also"), or with stats one line per rule. */
static void attr_warnings(FILE *err, const KImage *img, const Reads *r, bool stats)
{
    for (int what = R_UNSEEN; what <= R_MISTYPED; what++) {
        bool head = false;
        for (uint32_t i = 0; i < img->nattr_reads; i++) {
            if (!read_warns(r, what, i)) continue;
            const KbAttrRead *a = &img->attr_reads[i];
            const char *rule = istr(img, img->rules[a->rule].name);
            const char *ev = istr(img, img->events[img->rules[a->rule].event]);
            const char *attr = a->attr < img->nattrs ? istr(img, img->attrs[a->attr]) : "?";
            const KrTypeTally *t = what == R_MISTYPED ? r->tally(r->src, i) : NULL;
            if (stats) {
                if (!head)
                    fputs(what == R_UNSEEN ? "attributes no trigger event carried:\n"
                                           : "attributes some trigger events carried as another type:\n", err);
                head = true;
                fprintf(err, "  rule %s reads \"%s\" of %s", rule, attr, ev);
                if (t)
                    fprintf(err, " as %s: %llu of %llu held another value", tag_phrase(a->tag),
                            (unsigned long long)t->other, (unsigned long long)t->carried);
                fprintf(err, " (%s:%u:%u)\n", istr(img, a->file), a->line, a->col);
                continue;
            }
            bool before = false;
            for (uint32_t j = 0; j < i && !before; j++)
                before = read_warns(r, what, j) && same_warning(img, what, i, j);
            if (before) continue;
            fprintf(err, "%s:%u:%u: warning: rule %s reads attribute \"%s\" of %s", istr(img, a->file),
                    a->line, a->col, rule, attr, ev);
            if (!t) {
                fprintf(err, ", which no %s event in the input carried", ev);
            } else {
                fprintf(err, " as %s, but ", tag_phrase(a->tag));
                if (t->carried == 1) fprintf(err, "the one %s event", ev);
                else if (t->other == t->carried) fprintf(err, "all %llu %s events", (unsigned long long)t->carried, ev);
                else fprintf(err, "%llu of the %llu %s events", (unsigned long long)t->other,
                             (unsigned long long)t->carried, ev);
                fputs(" that carried it held another value (the first: ", err);
                put_first(err, t);
                fputs("), which the rule reads as unknown", err);
            }
            const char *sep = " (also read by ";
            for (uint32_t j = i + 1; j < img->nattr_reads; j++) {
                if (!read_warns(r, what, j) || !same_warning(img, what, i, j)) continue;
                const KbAttrRead *b = &img->attr_reads[j];
                fprintf(err, "%srule %s at %s:%u:%u", sep, istr(img, img->rules[b->rule].name),
                        istr(img, b->file), b->line, b->col);
                sep = ", ";
            }
            fputs(*sep == ',' ? ")\n" : "\n", err);
        }
    }
}

/* Whether rule ri triggers on an event no row of the input was (SPEC
 * 4.14): never after an input without rows, or when the kinds are not
 * known (memory ran out noting them). */
static bool trigger_unseen(const KImage *img, const KrInput *in, uint32_t ri)
{
    const KbRule *r = &img->rules[ri];
    bool known;
    if (r->trigger != KB_TRIG_AFTER || r->event >= img->nevents || ki_rows_read(in) == 0) return false;
    return !ki_kind_seen(in, r->event, &known) && known;
}

/* The rules whose trigger event no row of the input was: one warning per
 * event (its rules in policy order) with the closest name the rows had
 * that the policy does not name; with stats one line per rule; with json
 * the entries of "unseen_triggers". */
enum { T_WARN, T_STATS, T_JSON };
static void trigger_warnings(FILE *err, const KImage *img, const KrInput *in, int how)
{
    bool head = false;
    for (uint32_t i = 0; i < img->nrules; i++) {
        if (!trigger_unseen(img, in, i)) continue;
        uint32_t e = img->rules[i].event;
        const char *rule = istr(img, img->rules[i].name), *ev = istr(img, img->events[e]);
        size_t cl = 0;
        const char *close = ki_unnamed_closest(in, ev, &cl);
        if (how == T_JSON) {
            fputs(head ? ",{\"rule\":" : "{\"rule\":", err);
            kt_json_str(err, rule, strlen(rule));
            fputs(",\"event\":", err);
            kt_json_str(err, ev, strlen(ev));
            fputs(",\"closest\":", err);
            if (close) kt_json_str(err, close, cl);
            else fputs("null", err);
            fputc('}', err);
            head = true;
            continue;
        }
        if (how == T_STATS) {
            if (!head) fputs("rules whose trigger no input row was:\n", err);
            head = true;
            fprintf(err, "  rule %s: no %s event", rule, ev);
        } else {
            bool before = false;
            for (uint32_t j = 0; j < i && !before; j++) before = trigger_unseen(img, in, j) && img->rules[j].event == e;
            if (before) continue;
            uint32_t n = 0, k = 0;
            for (uint32_t j = i; j < img->nrules; j++) n += trigger_unseen(img, in, j) && img->rules[j].event == e;
            fprintf(err, "kairos: warning: rule%s ", n > 1 ? "s" : "");
            for (uint32_t j = i; j < img->nrules; j++) {
                if (!trigger_unseen(img, in, j) || img->rules[j].event != e) continue;
                k++;
                fprintf(err, "%s%s", k == 1 ? "" : k == n ? " and " : ", ", istr(img, img->rules[j].name));
            }
            fprintf(err, " never triggered: the input had no %s event", ev);
        }
        if (close) {
            fputs(how == T_STATS ? " (closest: " : " (the closest event name of the input that the policy does not name: ", err);
            ku_lang_str(close, cl, ku_put_file, err);
            fputc(')', err);
        }
        fputc('\n', err);
    }
}

/* kr_bad_zones_warn (internal.h) -- the warning for identify events whose
 * tz names no time zone (SPEC 4.11: their customers keep the policy's
 * zone, img's when given), naming up to KR_BAD_ZONES of the names
 * (printable ASCII, at most 64 bytes each). */
void kr_bad_zones_warn(FILE *err, const KImage *img, const KrBadZones *b, const KrPool *values)
{
    const char *sep = img ? ", " : "";
    const char *zone = !img ? "" : img->timezone < img->nstrings ? img->strings[img->timezone] : "UTC";
    if (b->others)
        fprintf(err, "kairos: warning: %llu identify event%s set tz to a number or a boolean, not a time zone's "
                "name: %s the policy's zone%s%s\n", (unsigned long long)b->others, plural(b->others),
                kr_bad_zones_keep(b->others), sep, zone);
    if (!b->events) return;
    fprintf(err, "kairos: warning: %llu identify event%s set tz to a name that is not a time zone (",
            (unsigned long long)b->events, plural(b->events));
    for (uint32_t i = 0; i < b->n; i++) {
        size_t n;
        const char *s = kr_pool_str(values, b->ids[i], &n);
        fputs(i ? ", \"" : "\"", err);
        for (size_t k = 0; s && k < n && k < 64; k++) fputc(s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?', err);
        fputs(n > 64 ? "...\"" : "\"", err);
    }
    fprintf(err, "%s): %s the policy's zone%s%s\n", b->more ? ", and others" : "", kr_bad_zones_keep(b->events),
            sep, zone);
}

static void print_stats(FILE *err, const KImage *img, const KrStats *st, uint64_t rows,
                        uint64_t skipped)
{
    fprintf(err, "kairos simulate: %llu event%s, %llu customer%s, %llu row%s read",
            (unsigned long long)st->events, plural(st->events), (unsigned long long)st->customers,
            plural(st->customers), (unsigned long long)rows, plural(rows));
    if (skipped) fprintf(err, ", %llu bad row%s skipped", (unsigned long long)skipped, plural(skipped));
    fputc('\n', err);
    uint64_t total[KR_ST__COUNT] = { 0 };
    for (uint32_t r = 0; r < img->nrules; r++) {
        const KbRule *rule = &img->rules[r];
        char label[256];
        snprintf(label, sizeof label, "%s %s", rule->is_task ? "task" : "rule",
                 rule->name < img->nstrings ? img->strings[rule->name] : "?");
        stats_block(err, label, st->rule[r], rule->is_task);
        for (int k = 0; k < KR_ST__COUNT; k++) total[k] += st->rule[r][k];
    }
    if (img->nrules > 1) stats_block(err, "total", total, false);
}

/* ---- --stats as JSON (SPEC.md 4.14): one document, every key always present */

static void json_string(FILE *out, const char *s) { kt_json_str(out, s, strlen(s)); }

static void stats_json_counts(FILE *out, const uint64_t *s)
{
#define U(k) (unsigned long long)s[k]
    fprintf(out, "\"triggered\":%llu,\"asks_sent\":%llu,\"reminders_sent\":%llu,\"tasks\":%llu,"
            "\"moved_by_quiet_hours\":%llu,\"spared\":{", U(KR_ST_TRIGGERED), U(KR_ST_SENT),
            U(KR_ST_REMINDED), U(KR_ST_TASKS), U(KR_ST_MOVED));
    uint64_t total = 0;
    for (size_t i = 0; i < KR_NSPARED; i++) total += s[kr_spared[i].st];
    fprintf(out, "\"total\":%llu", (unsigned long long)total);
    for (size_t i = 0; i < KR_NSPARED; i++)
        fprintf(out, ",\"%s\":%llu", kr_spared[i].key, U(kr_spared[i].st));
    fprintf(out, "},\"reminders_not_sent\":{\"blocked\":%llu,\"answered\":%llu}",
            U(KR_ST_REM_BLOCKED), U(KR_ST_REM_ANSWERED));
#undef U
}

static void print_stats_json(FILE *err, const KImage *img, const KrStats *st, const Reads *reads,
                             uint64_t rows, uint64_t skipped)
{
    fprintf(err, "{\"events\":%llu,\"customers\":%llu,\"rows_read\":%llu,\"rows_skipped\":%llu,"
            "\"rules\":[", (unsigned long long)st->events, (unsigned long long)st->customers,
            (unsigned long long)rows, (unsigned long long)skipped);
    uint64_t total[KR_ST__COUNT] = { 0 };
    for (uint32_t r = 0; r < img->nrules; r++) {
        const KbRule *rule = &img->rules[r];
        fputs(r ? ",{\"name\":" : "{\"name\":", err);
        json_string(err, rule->name < img->nstrings ? img->strings[rule->name] : "?");
        fprintf(err, ",\"kind\":\"%s\",", rule->is_task ? "task" : "ask");
        stats_json_counts(err, st->rule[r]);
        fputc('}', err);
        for (int k = 0; k < KR_ST__COUNT; k++) total[k] += st->rule[r][k];
    }
    fputs("],\"total\":{", err);
    stats_json_counts(err, total);
    fputs("},\"unseen_attributes\":[", err);
    for (int what = R_UNSEEN; what <= R_MISTYPED; what++) {
        if (what == R_MISTYPED) fputs("],\"mistyped_attributes\":[", err);
        bool first = true;
        for (uint32_t i = 0; i < img->nattr_reads; i++) {
            if (!read_warns(reads, what, i)) continue;
            const KbAttrRead *a = &img->attr_reads[i];
            fputs(first ? "{\"rule\":" : ",{\"rule\":", err);
            first = false;
            json_string(err, istr(img, img->rules[a->rule].name));
            fputs(",\"attribute\":", err);
            json_string(err, a->attr < img->nattrs ? istr(img, img->attrs[a->attr]) : "?");
            fputs(",\"event\":", err);
            json_string(err, istr(img, img->events[img->rules[a->rule].event]));
            fputs(",\"file\":", err);
            json_string(err, istr(img, a->file));
            fprintf(err, ",\"line\":%u,\"column\":%u", a->line, a->col);
            const KrTypeTally *t = what == R_MISTYPED ? reads->tally(reads->src, i) : NULL;
            if (t) {
                fprintf(err, ",\"read_as\":\"%s\",\"carried\":%llu,\"other_type\":%llu,\"first\":",
                        tag_phrase(a->tag) + 2, (unsigned long long)t->carried, (unsigned long long)t->other);
                kt_json_str(err, t->first, t->first_len);
                char ts[40];
                kr_fmt_time(t->first_time, ts, sizeof ts);
                fprintf(err, ",\"first_time\":\"%s\"", ts);
            }
            fputc('}', err);
        }
    }
    fputs("],\"unseen_triggers\":[", err);
    trigger_warnings(err, img, reads->in, T_JSON);
    fputs("]}\n", err);
}

/* Edit distance of a and b (Levenshtein), capped: more than cap gives cap + 1. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb, size_t cap)
{
    if ((na > nb ? na - nb : nb - na) > cap || nb > 256) return cap + 1;
    size_t row[257];
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0], best;
        row[0] = best = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t v = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best) best = v;
        }
        if (best > cap) return cap + 1;
    }
    return row[nb];
}

/* explain --customer ID with an ID absent from the logs: the error, with
 * the closest ids (edit distance at most 2, or a third of the id's
 * length), else a few ids of the logs. */
static void no_such_customer(FILE *err, const char *want, const KrPool *customers)
{
    enum { SHOW = 3 };
    size_t nw = strlen(want), cap = nw / 3 > 2 ? nw / 3 : 2;
    uint32_t best[SHOW];
    size_t bd[SHOW], nbest = 0;
    uint32_t n = kr_pool_count(customers);
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *id = kr_pool_str(customers, i, &len);
        if (!id) continue;
        size_t d = edit_distance(want, nw, id, len, cap);
        if (d > cap) continue;
        /* keep the SHOW closest, ties by id bytes */
        size_t at = nbest;
        while (at > 0) {
            const char *o = kr_pool_str(customers, best[at - 1], NULL);
            if (bd[at - 1] < d || (bd[at - 1] == d && strcmp(o, id) <= 0)) break;
            at--;
        }
        if (at >= SHOW) continue;
        size_t last = nbest < SHOW ? nbest : SHOW - 1;
        for (size_t k = last; k > at; k--) { best[k] = best[k - 1]; bd[k] = bd[k - 1]; }
        best[at] = i;
        bd[at] = d;
        if (nbest < SHOW) nbest++;
    }
    fprintf(err, "kairos: customer '%s' does not appear in the event logs", want);
    if (nbest) {
        fputs("; did you mean ", err);
        for (size_t k = 0; k < nbest; k++)
            fprintf(err, "%s'%s'", k == 0 ? "" : k + 1 == nbest ? " or " : ", ",
                    kr_pool_str(customers, best[k], NULL));
        fputs("?\n", err);
    } else if (n) {
        fprintf(err, " (%u customer%s, e.g. ", n, n == 1 ? "" : "s");
        for (uint32_t k = 0; k < n && k < SHOW; k++)
            fprintf(err, "%s'%s'", k ? ", " : "", kr_pool_str(customers, k, NULL));
        fputs(")\n", err);
    } else {
        fputs(" (they have no events)\n", err);
    }
}

/* simulate_partitioned -- kr_simulate without explain: the partitioned
 * replay (partition.c). */
static int simulate_partitioned(const KImage *img, const KrOptions *opt, FILE *err)
{
    int status = 1;
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    KrInput *in = NULL;
    KpRun *run = NULL;
    KoWriter *w = NULL;
    if (!customers || !values) { fprintf(err, "kairos: out of memory\n"); goto done; }
    in = ki_open(img, opt, customers, values, err);
    if (!in) goto done;
    run = kp_new(img, opt, customers, values);
    if (!run) { fprintf(err, "kairos: out of memory\n"); goto done; }
    w = ko_open(opt->out, opt->out_fresh, opt->out_name, opt->format, img, customers, err);
    if (!w) goto done;
    if (kp_read(run, in, err) != 0) goto done;          /* the reader printed the message */
    /* The default horizon is the latest event of the whole input, other
     * shards' rows included, so it does not depend on the sharding. */
    int64_t horizon = opt->has_until ? opt->until : kp_last_time(run);
    if (!opt->has_until && ki_other_shards_latest(in) > horizon) horizon = ki_other_shards_latest(in);
    int rc = kp_replay(run, horizon, ko_emit, w);
    if (rc == -2 || (rc == 0 && ko_failed(w))) {
        ko_close(w, true);                          /* prints the write error */
        w = NULL;
        goto done;
    }
    if (rc != 0) {
        if (kp_error(run)) fprintf(err, "kairos: %s\n", kp_error(run));
        else fprintf(err, "kairos: out of memory\n");
        goto done;
    }
    int wc = ko_close(w, true);
    w = NULL;
    if (wc != 0) goto done;
    if (ki_rows_skipped(in) && !opt->stats)
        fprintf(err, "kairos: skipped %llu bad row%s\n", (unsigned long long)ki_rows_skipped(in),
                plural(ki_rows_skipped(in)));
    Reads reads = { run_unseen, run_tally, run, in };
    attr_warnings(err, img, &reads, false);
    trigger_warnings(err, img, in, T_WARN);
    kr_bad_zones_warn(err, img, kp_bad_zones(run), values);
    if (opt->stats && opt->stats_json) {
        print_stats_json(err, img, kp_stats(run), &reads, ki_rows_read(in), ki_rows_skipped(in));
    } else if (opt->stats) {
        print_stats(err, img, kp_stats(run), ki_rows_read(in), ki_rows_skipped(in));
        attr_warnings(err, img, &reads, true);
        trigger_warnings(err, img, in, T_STATS);
    }
    status = 0;
done:
    if (w) ko_close(w, false);
    kp_free(run);
    if (in) ki_close(in);
    kr_pool_free(customers);
    kr_pool_free(values);
    return status;
}

int kr_simulate(const KImage *img, const KrOptions *opt, FILE *err)
{
    int status = 1;
    bool explain = opt->explain_customer != NULL;
    if (!explain) return simulate_partitioned(img, opt, err);
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    KrInput *in = NULL;
    KoWriter *w = NULL;
    KrEngine *eng = NULL;
    FILE *story = NULL;
    char *story_buf = NULL;
    size_t story_len = 0;
    if (!customers || !values) { fprintf(err, "kairos: out of memory\n"); goto done; }
    if (explain && opt->explain_rule) {
        bool found = false;
        for (uint32_t i = 0; i < img->nrules && !found; i++)
            found = img->rules[i].name < img->nstrings &&
                    strcmp(img->strings[img->rules[i].name], opt->explain_rule) == 0;
        if (!found) {
            fprintf(err, "kairos: the policy has no rule named '%s'; its rules: ", opt->explain_rule);
            for (uint32_t i = 0; i < img->nrules; i++)
                fprintf(err, "%s%s", i ? ", " : "", istr(img, img->rules[i].name));
            fputs(img->nrules ? "\n" : "(none)\n", err);
            goto done;
        }
    }
    /* explain: the story is held back, so that its first lines (the
     * summaries) can come before it and a missing customer prints nothing */
    FILE *story_out = opt->explain_out ? opt->explain_out : stdout;
    if (explain && !(story = open_memstream(&story_buf, &story_len))) {
        fprintf(err, "kairos: out of memory\n");
        goto done;
    }
    in = ki_open(img, opt, customers, values, err);
    if (!in) goto done;
    /* Time-sorted files are streamed (see ki_stream); an unsorted one makes
     * the reader start over, and the run with it.  Not with explain, whose
     * story goes out as it is told. */
    if (!explain) ki_stream(in);
    KrEngineOpts eo = {
        .has_until = opt->has_until, .until = opt->until,
        .has_horizon = opt->has_until, .horizon = opt->until,
        .emit = explain ? NULL : ko_emit, .emit_ctx = w,
        .explain_customer = opt->explain_customer, .explain_rule = opt->explain_rule,
        .explain_jsonl = opt->explain_jsonl,
        .explain_out = story,
        .has_explain_from = opt->has_explain_from, .explain_from = opt->explain_from,
    };
start:
    if (!explain) {
        eo.emit_ctx = w = ko_open(opt->out, opt->out_fresh, opt->out_name, opt->format, img,
                                    customers, err);
        if (!w) goto done;
    }
    eng = kr_engine_new(img, customers, values, &eo);
    if (!eng) { fprintf(err, "kairos: out of memory\n"); goto done; }

    bool progress = opt->progress && isatty(fileno(err));
    bool shown = false;
    double start = progress ? seconds() : 0;
    uint64_t n = 0;
    KrEvent ev;
    int rc;
    bool bounded = opt->has_until;
    while ((rc = ki_next(in, &ev)) == 1) {
        /* explain reads every row before the first (the inputs are not
         * streamed): its horizon is known, and the `every` bound is
         * checked against it at each customer's first event, as the
         * partitioned replay does (SPEC 9.3) */
        int64_t latest;
        if (!bounded && ki_latest(in, &latest)) kr_engine_set_horizon(eng, latest);
        bounded = true;
        uint32_t next = ki_peek_customer(in);
        if (next != KB_NONE) kr_engine_prefetch(eng, next);
        if (kr_engine_event(eng, &ev) != 0) { rc = -2; break; }
        if (progress && ++n % PROGRESS_EVERY == 0) {
            double el = seconds() - start;
            if (el > 1.0) {
                fprintf(err, "\rkairos: %llu events, %.1f MB read, %.1f s",
                        (unsigned long long)n, (double)ki_bytes_read(in) / 1e6, el);
                shown = true;
            }
        }
    }
    if (rc == 2) {
        /* an input is not sorted: the reader starts over, so does the run */
        if (shown) fputs("\r\033[K", err);
        kr_engine_free(eng);
        eng = NULL;
        if (w) ko_close(w, false);
        w = NULL;
        goto start;
    }
    if (rc == 0) {
        /* The default horizon is the latest event of the whole input, other
         * shards' rows included, so it does not depend on the sharding. */
        int64_t horizon = opt->has_until ? opt->until : kr_engine_last_time(eng);
        if (!opt->has_until && ki_other_shards_latest(in) > horizon)
            horizon = ki_other_shards_latest(in);
        if (kr_engine_finish(eng, horizon) != 0)
            rc = -2;
    }
    if (shown) fputs("\r\033[K", err);
    if (rc == -2) {
        /* the emitter failed (ko_close prints why) or memory ran out */
        if (w && ko_failed(w)) { ko_close(w, true); w = NULL; }
        else if (kr_engine_error(eng)) fprintf(err, "kairos: %s\n", kr_engine_error(eng));
        else fprintf(err, "kairos: out of memory\n");
        goto done;
    }
    if (rc < 0) goto done;                  /* the reader printed the message */
    if (w) {
        int wc = ko_close(w, true);
        w = NULL;
        if (wc != 0) goto done;
    } else if (explain) {
        if (!kr_engine_explained(eng)) {
            no_such_customer(err, opt->explain_customer, customers);
            goto done;
        }
        if (fflush(story) != 0) { fprintf(err, "kairos: out of memory\n"); goto done; }
        if (kr_engine_summaries(eng, story_out) > 0 && !opt->explain_jsonl) fputc('\n', story_out);
        fwrite(story_buf, 1, story_len, story_out);
        if (fflush(story_out) != 0 || ferror(story_out)) {
            int e = errno ? errno : EIO;
            if (story_out == stdout) {
                fprintf(err, "kairos: error writing standard output: %s\n", strerror(e));
                clearerr(stdout);
            } else {
                fprintf(err, "kairos: error writing the explanation: %s\n", strerror(e));
            }
            goto done;
        }
    }
    if (ki_rows_skipped(in) && !opt->stats)
        fprintf(err, "kairos: skipped %llu bad row%s\n", (unsigned long long)ki_rows_skipped(in),
                plural(ki_rows_skipped(in)));
    Reads reads = { engine_unseen, engine_tally, eng, in };
    if (!explain) {
        attr_warnings(err, img, &reads, false);
        kr_bad_zones_warn(err, img, kr_engine_bad_zones(eng), values);
    }
    if (opt->stats && opt->stats_json) {
        print_stats_json(err, img, kr_engine_stats(eng), &reads, ki_rows_read(in), ki_rows_skipped(in));
    } else if (opt->stats) {
        print_stats(err, img, kr_engine_stats(eng), ki_rows_read(in), ki_rows_skipped(in));
        attr_warnings(err, img, &reads, true);
        trigger_warnings(err, img, in, T_STATS);
    }
    status = 0;
done:
    if (story) fclose(story);
    free(story_buf);
    if (w) ko_close(w, false);
    kr_engine_free(eng);
    if (in) ki_close(in);
    kr_pool_free(customers);
    kr_pool_free(values);
    return status;
}
