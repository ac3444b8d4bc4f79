/* disasm.c -- the bytecode disassembler (kb_disasm): a readable,
 * deterministic listing of an image that documents the policy: header,
 * top-level caps, quiet hours and consent, then each rule's summary and
 * code (word offsets, opcode names, decoded operands, source lines), then
 * the retention table.  Every index is range-checked so that even an
 * unverified image prints without crashing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bytecode.h"
#include "util.h"

static const char *const weekday_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const char *const period_names[] = { "day", "week", "month", "quarter", "year", "duration" };
static const char *const agg_names[4] = { "sum", "avg", "min", "max" };
static const char *const tag_names[] = {
    "unknown", "number", "string", "bool", "duration", "time", "weekday", "untyped",
};

/* Prints a string table entry quoted, with escapes; "?N" if out of range. */
static void put_quoted(const KImage *img, uint32_t si, FILE *out)
{
    if (si >= img->nstrings || !img->strings || !img->strings[si]) {
        fprintf(out, "?%u", si);
        return;
    }
    ku_lang_str(img->strings[si], img->string_lens[si], ku_put_file, out);
}

/* Prints a name (an identifier string) bare; "?N" if out of range. */
static void put_name(const KImage *img, uint32_t si, FILE *out)
{
    if (si >= img->nstrings || !img->strings || !img->strings[si]) fprintf(out, "?%u", si);
    else fputs(img->strings[si], out);
}

static void put_indexed(const KImage *img, const uint32_t *table, uint32_t n, uint32_t i, FILE *out)
{
    if (i >= n || !table) fprintf(out, "?%u", i);
    else put_name(img, table[i], out);
}

#define EVENT(i)   put_indexed(img, img->events, img->nevents, (i), out)
#define ATTRN(i)   put_indexed(img, img->attrs, img->nattrs, (i), out)
#define CHANNEL(i) put_indexed(img, img->channels, img->nchannels, (i), out)
#define SURVEY(i)  put_indexed(img, img->surveys, img->nsurveys, (i), out)

/* Durations print in d/h/m/s units: 90000 -> "1d1h". */
static void put_dur(int64_t s, FILE *out)
{
    char b[KU_DUR_BUF];
    if (s == KB_FOREVER) { fputs("forever", out); return; }
    ku_fmt_dur(s, false, b);
    fputs(b, out);
}

static void put_clock(int32_t minutes, FILE *out)
{
    if (minutes < 0 || minutes > 1440) fprintf(out, "?%d", minutes);
    else fprintf(out, "%02d:%02d", minutes / 60, minutes % 60);
}

static void put_num(double d, FILE *out)
{
    char buf[KU_NUM_TEXT];
    ku_num_text(d, buf);
    fputs(buf, out);
}

static void put_const(const KImage *img, uint32_t k, FILE *out)
{
    if (k >= img->nconsts || !img->consts) { fprintf(out, "?%u", k); return; }
    const KbConst *c = &img->consts[k];
    switch (c->tag) {
    case KB_NUM: put_num(c->num, out); break;
    case KB_STR: put_quoted(img, c->str, out); break;
    case KB_BOOL: fputs(c->b ? "true" : "false", out); break;
    case KB_DUR: put_dur(c->i, out); break;
    case KB_WEEKDAY:
        if (c->i >= 0 && c->i < 7) fputs(weekday_names[c->i], out);
        else fprintf(out, "weekday?%" PRId64, c->i);
        break;
    case KB_TIME: {
        time_t t = (time_t)c->i;
        struct tm tm;
        char buf[40];
        if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
            fputs(buf, out);
        else
            fprintf(out, "@%" PRId64, c->i);
        break;
    }
    default: fprintf(out, "?tag%u", c->tag); break;
    }
}

static void put_window(const KImage *img, uint32_t w, FILE *out)
{
    if (w == KB_NONE) fputs("all time", out);
    else { fputs("within ", out); put_const(img, w, out); }
}

static void put_tag(uint32_t t, FILE *out)
{
    if (t < sizeof tag_names / sizeof *tag_names) fputs(tag_names[t], out);
    else fprintf(out, "?%u", t);
}

static void put_mask(const KImage *img, uint64_t m, FILE *out)
{
    if (m == UINT64_MAX) { fputs("all channels", out); return; }
    if (m == 0) { fputs("no channel", out); return; }
    const char *sep = "";
    for (uint32_t i = 0; i < 64; i++)
        if (m >> i & 1) {
            fputs(sep, out);
            CHANNEL(i);
            sep = ", ";
        }
}

static void put_days(uint8_t days, FILE *out)
{
    if ((days & 0x7f) == 0x7f) { fputs("every day", out); return; }
    const char *sep = "";
    for (int d = 0; d < 7; d++)
        if (days >> d & 1) {
            fprintf(out, "%s%s", sep, weekday_names[d]);
            sep = ",";
        }
}

/* ---- code -------------------------------------------------------------- */

/* Prints the decoded operands of the instruction at pc (next = the word after it). */
static void put_operands(const KImage *img, KbOp op, const uint32_t *o, uint32_t next, FILE *out)
{
    switch (op) {
    case KB_OP_CONST: put_const(img, o[0], out); break;
    case KB_OP_ATTR: case KB_OP_TATTR: case KB_OP_TRAIT:
        ATTRN(o[0]); fputs(" as ", out); put_tag(o[1], out);
        break;
    case KB_OP_COUNT:
        EVENT(o[0]);
        if (o[1] != KB_NONE) fprintf(out, " where fn %u", o[1]);
        fputc(' ', out); put_window(img, o[2], out);
        break;
    case KB_OP_SINCE: EVENT(o[0]); break;
    case KB_OP_LAST:
        EVENT(o[0]); fputc('.', out); ATTRN(o[1]); fputs(" as ", out); put_tag(o[2], out);
        break;
    case KB_OP_AGG:
        fprintf(out, "%s ", o[0] < 4 ? agg_names[o[0]] : "?");
        EVENT(o[1]); fputc('.', out); ATTRN(o[2]);
        fputc(' ', out); put_window(img, o[3], out);
        break;
    case KB_OP_ASKED: case KB_OP_RESPONDED:
        SURVEY(o[0]); fputc(' ', out); put_window(img, o[1], out);
        break;
    case KB_OP_JFALSE: case KB_OP_JTRUE: case KB_OP_JUMP:
        fprintf(out, "-> %04" PRIu64, (uint64_t)next + (uint64_t)(int64_t)(int32_t)o[0]);
        break;
    case KB_OP_IN: fprintf(out, "%u items", o[0]); break;
    default: break;
    }
}

static void put_code(const KImage *img, uint32_t f, FILE *out)
{
    const KbFunc *fn = &img->funcs[f];
    uint64_t end = (uint64_t)fn->start + fn->len;
    if (end > img->ncode) end = img->ncode;
    for (uint32_t pc = fn->start; pc < end; ) {
        uint32_t op = img->code[pc];
        if (op >= KB_OP__COUNT) {
            fprintf(out, "    %04u  ??? %u\n", pc, op);
            pc++;
            continue;
        }
        uint32_t nops = kb_opinfo[op].noperands;
        if (pc + 1 + (uint64_t)nops > end) {
            fprintf(out, "    %04u  %s (truncated)\n", pc, kb_opinfo[op].name);
            break;
        }
        /* the operand text goes through a memory stream so that columns line up */
        char *text = NULL;
        size_t tlen = 0;
        FILE *m = open_memstream(&text, &tlen);
        if (m) {
            put_operands(img, (KbOp)op, &img->code[pc + 1], pc + 1 + nops, m);
            fclose(m);
        }
        uint32_t line = img->lines ? img->lines[pc] : 0;
        int w = fprintf(out, "    %04u  %-9s %s", pc, kb_opinfo[op].name, text ? text : "");
        uint32_t let = KB_NONE;
        for (uint32_t i = 0; img->let_names && i < img->nlet_names; i++)
            if (img->let_names[i].pc == pc) let = img->let_names[i].name;
        if (line || let != KB_NONE) fprintf(out, "%*s", w < 52 ? 52 - w : 1, "");
        if (let != KB_NONE) {                   /* the instruction leaves the let's value */
            fputs("; let ", out);
            put_name(img, let, out);
            if (line) fputc(' ', out);
        }
        if (line) fprintf(out, "; line %u", line);
        fputc('\n', out);
        free(text);
        pc += 1 + nops;
    }
}

/* Prints function f with its label, after the where-functions it names
 * (so that each appears once, before its first use). */
static void put_func(const KImage *img, uint32_t f, const char *label, bool *done, FILE *out)
{
    if (f >= img->nfuncs || done[f]) return;
    done[f] = true;
    const KbFunc *fn = &img->funcs[f];
    uint64_t end = (uint64_t)fn->start + fn->len;
    if (end > img->ncode) end = img->ncode;
    for (uint32_t pc = fn->start; pc < end; ) {
        uint32_t op = img->code[pc];
        if (op >= KB_OP__COUNT) break;
        uint32_t nops = kb_opinfo[op].noperands;
        if (pc + 1 + (uint64_t)nops > end) break;
        if (op == KB_OP_COUNT && img->code[pc + 2] != KB_NONE)
            put_func(img, img->code[pc + 2], "count where", done, out);
        pc += 1 + nops;
    }
    fprintf(out, "\n  fn %u: %s  (words %u-%" PRIu64 ", max stack %u)\n",
            f, label, fn->start, end ? end - 1 : 0, fn->max_stack);
    put_code(img, f, out);
}

/* ---- tables ------------------------------------------------------------ */

static void put_rule(const KImage *img, uint32_t i, bool *done, FILE *out)
{
    const KbRule *r = &img->rules[i];
    fputs("\nrule ", out);
    put_name(img, r->name, out);
    fprintf(out, "  (line %u)\n", r->line);
    if (r->is_task) { fputs("  task      ", out); put_name(img, r->target, out); }
    else { fputs("  ask       ", out); SURVEY(r->target); }
    fputs("\n  trigger   ", out);
    if (r->trigger == KB_TRIG_AFTER) {
        fputs("after ", out);
        EVENT(r->event);
        if (r->delay) { fputs(" + ", out); put_dur(r->delay, out); }
        if (r->where_fn != KB_NONE) fprintf(out, " where fn %u", r->where_fn);
    } else {
        fputs("every ", out);
        if (r->period == KB_PER_DURATION) put_dur(r->period_dur, out);
        else if (r->period < KB_PER_DURATION) fputs(period_names[r->period], out);
        else fprintf(out, "?%u", r->period);
        if (r->every_at >= 0) { fputs(" at ", out); put_clock(r->every_at, out); }
    }
    fputs("\n  chain     ", out);
    for (uint32_t a = 0; r->attempts && a < r->nattempts; a++) {
        if (a) { fputs(", then ", out); }
        CHANNEL(r->attempts[a].channel);
        if (a) { fputs(" after ", out); put_dur(r->attempts[a].after, out); }
    }
    if (r->if_fn != KB_NONE) fprintf(out, "\n  if        fn %u", r->if_fn);
    if (r->unless_fn != KB_NONE) fprintf(out, "\n  unless    fn %u", r->unless_fn);
    if (r->has_cap) {
        fprintf(out, "\n  cap       %u per ", r->cap_n);
        put_dur(r->cap_window, out);
    }
    fprintf(out, "\n  priority  %d", r->priority);
    if (r->nvariants && r->variants) {
        uint32_t sum = 0;
        for (uint32_t k = 0; k < r->nvariants; k++) {
            const KbVariant *v = &r->variants[k];
            fputs("\n  variant   ", out);
            put_name(img, v->name, out);
            fprintf(out, " %u%% (buckets %u-%u)", v->pct, sum, sum + v->pct - (v->pct ? 1 : 0));
            sum += v->pct;
            if (v->has_delay) { fputs(" + ", out); put_dur(v->delay, out); }
            if (v->channel != KB_NONE) { fputs(" via ", out); CHANNEL(v->channel); }
        }
        if (sum < 100) fprintf(out, "\n  holdout   %u%%", 100 - sum);
    }
    if (r->at == KB_AT_WINDOW) {
        fputs("\n  at        ", out);
        put_days(r->at_days, out);
        fputc(' ', out);
        put_clock(r->at_start, out);
        fputc('-', out);
        put_clock(r->at_end, out);
    } else if (r->at == KB_AT_BEST_TIME) {
        fputs("\n  at        best_time(", out);
        EVENT(r->best_event);
        fputc(')', out);
    }
    /* Every field of KB_RULE_FIELDS not written out above: NAME VALUE. */
#define SHOW_hand(f)
#define SHOW_num(f)   if (r->f) fprintf(out, "\n  %-9s %lld", #f, (long long)r->f);
#define SHOW_dur(f)   if (r->f) { fprintf(out, "\n  %-9s ", #f); put_dur(r->f, out); }
#define SHOW_clock(f) if (r->f) { fprintf(out, "\n  %-9s ", #f); put_clock(r->f, out); }
#define SHOW_days(f)  if (r->f) { fprintf(out, "\n  %-9s ", #f); put_days(r->f, out); }
#define SHOW_FIELD(kind, name, show) SHOW_##show(name)
    KB_RULE_FIELDS(SHOW_FIELD)
#undef SHOW_FIELD
    fprintf(out, "\n  retrigger %s\n", r->retrigger ? "keep" : "restart");
    if (r->where_fn != KB_NONE) put_func(img, r->where_fn, "where (at trigger time)", done, out);
    if (r->if_fn != KB_NONE) put_func(img, r->if_fn, "if (at send time)", done, out);
    if (r->unless_fn != KB_NONE) put_func(img, r->unless_fn, "unless (at send time)", done, out);
}

static void put_retention(const KImage *img, FILE *out)
{
    fputs("\nretention\n", out);
    for (uint32_t e = 0; e < img->nevents; e++) {
        const KbRetention *rt = img->retention ? &img->retention[e] : NULL;
        fputs("  ", out);
        char *name = NULL;
        size_t nlen = 0;
        FILE *m = open_memstream(&name, &nlen);
        if (m) { put_indexed(img, img->events, img->nevents, e, m); fclose(m); }
        fprintf(out, "%-18s", name ? name : "?");
        free(name);
        if (!rt || (!rt->flags && !rt->window && !rt->nattrs)) {
            fputs(" nothing\n", out);
            continue;
        }
        if (rt->flags & KB_RET_COUNT) fputs(" count", out);
        if (rt->flags & KB_RET_LAST) fputs(" last", out);
        if (rt->window) { fputs(" events ", out); put_dur(rt->window, out); }
        if (rt->nattrs && rt->attrs) {
            fputs(" attrs ", out);
            for (uint32_t j = 0; j < rt->nattrs; j++) {
                if (j) fputs(", ", out);
                ATTRN(rt->attrs[j]);
            }
        }
        fputc('\n', out);
    }
}

void kb_disasm(const KImage *img, FILE *out)
{
    fputs("; kairos bytecode listing\npolicy      ", out);
    put_quoted(img, img->policy_name, out);
    fprintf(out, "\nsource      fnv1a64 %016" PRIx64 "\ntimezone    ", img->source_hash);
    if (img->timezone == KB_NONE) fputs("UTC (default)", out);
    else put_name(img, img->timezone, out);
    fputs("\nsent_window ", out);
    if (img->sent_window) put_dur(img->sent_window, out);
    else fputs("not kept", out);
    fprintf(out, "\ncounts      %u strings, %u constants, %u code words, %u functions, %u rules\n",
            img->nstrings, img->nconsts, img->ncode, img->nfuncs, img->nrules);

    fputs("\nchannels   ", out);
    for (uint32_t i = 0; i < img->nchannels; i++) { fputc(' ', out); CHANNEL(i); }
    fputs("\nsurveys    ", out);
    for (uint32_t i = 0; i < img->nsurveys; i++) { fputc(' ', out); SURVEY(i); }
    fputs("\ntraits     ", out);
    if (!img->ntraits) fputs(" (none)", out);
    for (uint32_t i = 0; img->traits && i < img->ntraits; i++) { fputc(' ', out); ATTRN(img->traits[i]); }

    fputs("\n\ncaps", out);
    if (!img->ncaps) fputs(" (none)", out);
    for (uint32_t i = 0; img->caps && i < img->ncaps; i++) {
        fprintf(out, "\n  cap %u per ", img->caps[i].n);
        put_dur(img->caps[i].window, out);
        fputs(" on ", out);
        put_mask(img, img->caps[i].channels, out);
    }
    fputs("\nquiet", out);
    if (!img->nquiets) fputs(" (none)", out);
    for (uint32_t i = 0; img->quiets && i < img->nquiets; i++) {
        fputs("\n  quiet ", out);
        put_clock(img->quiets[i].start, out);
        fputc('-', out);
        put_clock(img->quiets[i].end, out);
        fputs(" on ", out);
        put_mask(img, img->quiets[i].channels, out);
    }
    fputs("\nconsent\n  ", out);
    if (img->consent_channels) { fputs("required on ", out); put_mask(img, img->consent_channels, out); }
    else fputs("not required", out);
    fputc('\n', out);

    bool *done = calloc(img->nfuncs ? img->nfuncs : 1, sizeof *done);
    if (!done) return;
    for (uint32_t i = 0; img->rules && i < img->nrules; i++) put_rule(img, i, done, out);
    bool header = false;
    for (uint32_t f = 0; img->funcs && f < img->nfuncs; f++)
        if (!done[f]) {
            if (!header) fputs("\nother functions\n", out);
            header = true;
            put_func(img, f, "unreferenced", done, out);
        }
    free(done);
    put_retention(img, out);
    fputs("\ntrigger attributes read", out);
    if (!img->nattr_reads) fputs(" (none)", out);
    for (uint32_t i = 0; img->attr_reads && i < img->nattr_reads; i++) {
        const KbAttrRead *a = &img->attr_reads[i];
        fputs("\n  ", out);
        if (img->rules && a->rule < img->nrules) put_name(img, img->rules[a->rule].name, out);
        fputs("  ", out);
        ATTRN(a->attr);
        fputs(" as ", out);
        put_tag(a->tag, out);
        fputs("  at ", out);
        put_name(img, a->file, out);
        fprintf(out, ":%u:%u", a->line, a->col);
    }
    fputc('\n', out);
}
