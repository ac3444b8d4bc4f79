/* report.c -- kr_report (runtime.h): one self-contained HTML page showing
 * what one policy (kairos report) or two (kairos diff --format html) do to
 * customers, drawn as inline SVG (svg.c), every chart with its table.
 *
 * One read of the logs (multi.c) feeds one engine per policy; per policy
 * the sends are counted per day, rule and action, the contact pressure is
 * found as the asks come (KrPressure, shared with diff), the heat map,
 * channel and attempt counts are summed as rows arrive, the engine's
 * statistics give the reasons asks were spared, and the readout collector
 * (readout.c) attributes the responses.  The page is byte-identical for the
 * same inputs: no clock unless --stamp, no randomness, numbers in the C
 * locale.  SPEC.md section 6.4 documents the page.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "../lang/util.h"
#include "spared.h"
#include "svg.h"

#define D30 (30 * 86400LL)
#define MAX_BUCKETS 120           /* bars of the sends chart */
#define MAX_PRESSURE_BINS 40      /* bins of the pressure histogram (last: that many or more) */
#define MAX_ATTEMPT 12            /* attempts shown (last: that many or more) */
#define CHART_W 720

/* Sends of one rule and action (ask, remind) on one day (UTC). */
typedef struct RRow { int32_t day; uint32_t rule; uint8_t action; uint64_t n; } RRow;

typedef struct Pol {
    const KImage *img;
    const char *name;
    /* the sends per day, rule and action: rows come in time order, so a
     * day's entries are made once (at_of: [rule * 2 + action], the entry
     * last made for it, counted on while its day lasts), not one per row */
    RRow *rows; size_t nrows, caprows;
    size_t *at_of;
    KrPressure press_w;           /* asks in any 30 days, as they come */
    uint64_t heat[7][24];
    uint64_t (*chan)[3];          /* [nchannels][KR_ACT_*] */
    uint64_t (*att)[MAX_ATTEMPT + 1];   /* [nrules][attempt] sent attempts (asks, reminders) */
    uint64_t (*stats)[KR_ST__COUNT];    /* [nrules], copied at the end of the run */
    uint32_t *grule;              /* rule -> page-wide rule index (colour) */
    uint64_t tot[3];
    uint64_t (*rtot)[3];          /* [nrules][KR_ACT_*] rows per rule */
    KrReadoutRun *ro;
    KrReadoutArm *arms; size_t narms;
    uint64_t responses, attributed;
    uint64_t press[MAX_PRESSURE_BINS];  /* customers by most asks in any 30 days */
    uint32_t pmax;
    bool failed;
} Pol;

typedef struct Rep {
    const KrReportOptions *rp;
    const KrOptions *opt;
    Pol p[2]; uint32_t np;
    KImage *u;
    KrPool *customers, *values;
    uint64_t events, skipped;
    KrBadZones badz;              /* tz names that are no time zone (SPEC 4.11) */
    int64_t tmin, tmax, horizon;
    uint64_t *evseen;             /* [u->nevents] */
    uint8_t *attrseen;            /* [u->nevents * u->nattrs] */
    const char **gnames; uint32_t ngrules;   /* rule names of every policy, first policy's first */
    KrReadoutOptions rdo;
} Rep;

static const char *istr(const KImage *img, uint32_t si) { return si < img->nstrings ? img->strings[si] : ""; }

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* ---- collecting ---------------------------------------------------------------- */

static int emit_row(void *ctx, const KrRow *row)
{
    Pol *p = ctx;
    if (p->ro && kr_readout_emit(p->ro, row) != 0) { p->failed = true; return -1; }
    uint8_t a = row->action <= KR_ACT_TASK ? row->action : KR_ACT_TASK;
    p->tot[a]++;
    p->rtot[row->rule][a]++;
    if (row->channel < p->img->nchannels) p->chan[row->channel][a]++;
    if (a == KR_ACT_TASK) return 0;
    int32_t day = (int32_t)floordiv(row->time, 86400);
    size_t slot = (size_t)row->rule * 2u + (a == KR_ACT_ASK ? 0u : 1u);
    size_t at = p->at_of[slot];
    if (at < p->nrows && p->rows[at].day == day && p->rows[at].rule == row->rule && p->rows[at].action == a)
        p->rows[at].n++;
    else {
        if (KU_RESERVE(p->rows, p->nrows, p->caprows, 256) != 0) { p->failed = true; return -1; }
        p->at_of[slot] = p->nrows;
        p->rows[p->nrows++] = (RRow){ day, row->rule, a, 1 };
    }
    if (a == KR_ACT_ASK && kr_pressure_add(&p->press_w, row->customer, row->time) != 0) {
        p->failed = true;
        return -1;
    }
    p->att[row->rule][row->attempt < MAX_ATTEMPT ? row->attempt : MAX_ATTEMPT]++;
    KzLocal l;
    kz_to_local(row->zone ? row->zone : kz_utc(), row->time, &l);
    if (l.wday >= 0 && l.wday < 7 && l.hour >= 0 && l.hour < 24) p->heat[l.wday][l.hour]++;
    return 0;
}

static int on_event(void *ctx, const KrEvent *ev)
{
    Rep *r = ctx;
    if (r->events == 0 || ev->time < r->tmin) r->tmin = ev->time;
    if (r->events == 0 || ev->time > r->tmax) r->tmax = ev->time;
    r->events++;
    if (ev->event != KB_NONE && ev->event < r->u->nevents) {
        r->evseen[ev->event]++;
        for (uint32_t i = 0; i < ev->nattrs; i++)
            if (ev->attr_ids[i] < r->u->nattrs) r->attrseen[(size_t)ev->event * r->u->nattrs + ev->attr_ids[i]] = 1;
    }
    for (uint32_t k = 0; k < r->np; k++)
        if (kr_readout_event(r->p[k].ro, ev) != 0) return -1;
    return 0;
}

static void on_finish(void *ctx, uint32_t k, const KrStats *st, int64_t horizon, uint64_t skipped,
                      const KrBadZones *badz)
{
    Rep *r = ctx;
    r->horizon = horizon;
    r->skipped = skipped;
    r->badz = *badz;
    if (k < r->np && st->rule)
        memcpy(r->p[k].stats, st->rule, r->p[k].img->nrules * sizeof *r->p[k].stats);
}

static void press_one(void *arg, uint32_t cust, uint32_t most)
{
    Pol *p = arg;
    (void)cust;
    p->press[most < MAX_PRESSURE_BINS - 1 ? most : MAX_PRESSURE_BINS - 1]++;
    if (most > p->pmax) p->pmax = most;
}

/* ---- page pieces ---------------------------------------------------------------- */

static const char *rule_colour(uint32_t g) { return kh_cat[g % KH_NCAT]; }

static void date_of(int64_t day, char *buf, size_t n)
{
    int y, m, d;
    kz_civil_from_days(day, &y, &m, &d);
    snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
}

static void time_utc(FILE *f, int64_t t)
{
    char b[48];
    size_t n = kt_time(t, b, sizeof b);
    /* 2026-01-05T09:00:00Z -> 2026-01-05 09:00:00 UTC */
    if (n == 20) { b[10] = ' '; b[19] = '\0'; fprintf(f, "%s UTC", b); }
    else fwrite(b, 1, n, f);
}

static void dur(FILE *f, int64_t s)
{
    char *b = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&b, &n);
    if (!m) return;
    kt_duration(m, s, false);
    fclose(m);
    kh_esc(f, b, n);
    free(b);
}

/* Figures side by side, one per policy. */
static void cols_open(const Rep *r, FILE *f) { fputs(r->np > 1 ? "<div class=\"cols\">\n" : "<div>\n", f); }
static void fig_open(const Rep *r, FILE *f, uint32_t k)
{
    fputs("<figure>", f);
    if (r->np > 1) {
        fprintf(f, "<figcaption>%s: <code>", k == 0 ? "Before (OLD)" : "After (NEW)");
        kh_escz(f, r->p[k].name);
        fputs("</code></figcaption>", f);
    }
    fputc('\n', f);
}

static void table_open(FILE *f, const char *summary)
{
    fputs("<details><summary>", f);
    kh_escz(f, summary);
    fputs("</summary>\n<table>\n", f);
}
static void table_close(FILE *f) { fputs("</table></details>\n", f); }

static void swatch(FILE *f, const char *colour, bool hatched, const char *label)
{
    if (hatched)
        fprintf(f, "<li><span class=\"sw\" style=\"background:repeating-linear-gradient(45deg,%s 0 2px,#fff 2px 4px)\">&#160;</span>",
                colour);
    else fprintf(f, "<li><span class=\"sw\" style=\"background:%s\">&#160;</span>", colour);
    kh_escz(f, label);
    fputs("</li>", f);
}

static void hatch_def(FILE *f, const char *id, const char *colour)
{
    fprintf(f, "<pattern id=\"%s\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" "
               "patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#fff\"/>"
               "<rect width=\"2\" height=\"4\" fill=\"%s\"/></pattern>\n", id, colour);
}

static void no_data(FILE *f, const char *what)
{
    fputs("<p class=\"empty\">", f);
    kh_escz(f, what);
    fputs("</p>\n", f);
}

/* ---- 1. sends per day ------------------------------------------------------------- */

static void sec_sends(const Rep *r, FILE *f)
{
    fputs("<section id=\"sends\"><h2>1. Sends over time</h2>\n", f);
    int64_t d0 = floordiv(r->tmin, 86400), d1 = floordiv(r->tmax > r->horizon ? r->tmax : r->horizon, 86400);
    for (uint32_t k = 0; k < r->np; k++)
        for (size_t i = 0; i < r->p[k].nrows; i++) if (r->p[k].rows[i].day > d1) d1 = r->p[k].rows[i].day;
    if (r->events == 0) { no_data(f, "No events."); fputs("</section>\n", f); return; }
    int64_t span = d1 - d0 + 1, bd = 1;
    if (span > MAX_BUCKETS) {
        bd = 7 * ((span + 7 * MAX_BUCKETS - 1) / (7 * MAX_BUCKETS));
        d0 -= ((d0 + 3) % 7 + 7) % 7;             /* back to a Monday (day 0 was a Thursday) */
    }
    int64_t nb = (d1 - d0) / bd + 1;
    const char *unit = bd == 1 ? "day" : bd == 7 ? "week" : "period";
    fprintf(f, "<p class=\"note\">Asks (solid) and reminders (hatched) sent per %s", unit);
    if (bd > 7) fprintf(f, " of %lld days", (long long)bd);
    fputs(", stacked by rule; tasks are not sends (see the facts). Days in UTC.</p>\n", f);
    size_t ng = r->ngrules;
    uint64_t *cnt = calloc((size_t)nb * ng * 2 * r->np + 1, sizeof *cnt);
    if (!cnt) { no_data(f, "Out of memory."); fputs("</section>\n", f); return; }
#define CNT(k, b, g, a) cnt[((((size_t)(k) * (size_t)nb + (size_t)(b)) * ng + (g)) * 2) + (a)]
    uint64_t ymax = 0;
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        for (size_t i = 0; i < p->nrows; i++) {
            int64_t b = (p->rows[i].day - d0) / bd;
            if (b < 0) b = 0;
            if (b >= nb) b = nb - 1;
            CNT(k, b, p->grule[p->rows[i].rule], p->rows[i].action == KR_ACT_ASK ? 0 : 1) += p->rows[i].n;
        }
        for (int64_t b = 0; b < nb; b++) {
            uint64_t s = 0;
            for (size_t g = 0; g < ng; g++) s += CNT(k, b, g, 0) + CNT(k, b, g, 1);
            if (s > ymax) ymax = s;
        }
    }
    double top, step = kh_nice_step((double)ymax, 5, 1, &top);
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        char id[64];
        snprintf(id, sizeof id, "t-sends-%u", k);
        kh_svg_open(f, id, CHART_W, 270, "Sends per day, stacked by rule");
        fputs("<defs>", f);
        for (size_t g = 0; g < ng; g++) {
            char hid[64];
            snprintf(hid, sizeof hid, "h%u-%zu", k, g);
            hatch_def(f, hid, rule_colour((uint32_t)g));
        }
        fputs("</defs>\n", f);
        KhPlot pl = { 56, 12, CHART_W - 70, 200 };
        kh_yaxis(f, &pl, top, step, "sends", 0);
        double bw = pl.w / (double)nb, gap = bw > 4 ? bw * 0.15 : 0;
        for (int64_t b = 0; b < nb; b++) {
            double y = pl.y + pl.h;
            char date[64];
            date_of(d0 + b * bd, date, sizeof date);
            for (size_t g = 0; g < ng; g++)
                for (int a = 0; a < 2; a++) {
                    uint64_t c = CNT(k, b, g, a);
                    if (!c) continue;
                    double h = pl.h * (double)c / top;
                    y -= h;
                    char tip[320], fill[40];
                    snprintf(tip, sizeof tip, "%s %s: %llu %s", date, r->gnames[g], (unsigned long long)c,
                             a ? (c == 1 ? "reminder" : "reminders") : (c == 1 ? "ask" : "asks"));
                    if (a) snprintf(fill, sizeof fill, "url(#h%u-%zu)", k, g);
                    else snprintf(fill, sizeof fill, "%s", rule_colour((uint32_t)g));
                    kh_rect(f, pl.x + b * bw + gap / 2, y, bw - gap, h, fill, tip);
                }
        }
        int64_t every = (nb + 6) / 7;
        for (int64_t b = 0; b < nb; b += every) {
            char date[64];
            date_of(d0 + b * bd, date, sizeof date);
            kh_text(f, pl.x + (b + 0.5) * bw, pl.y + pl.h + 14, "middle", "tick", date);
        }
        kh_xlabel(f, &pl, bd == 1 ? "day (UTC)" : bd == 7 ? "week starting Monday (UTC)" : "period starting (UTC)");
        kh_svg_close(f);
        fputs("<ul class=\"legend\">", f);
        bool *used = calloc(ng + 1, sizeof *used);
        for (uint32_t ri = 0; ri < p->img->nrules; ri++)
            if (!p->img->rules[ri].is_task && used) used[p->grule[ri]] = true;
        for (size_t g = 0; g < ng; g++) {
            if (!used || !used[g]) continue;
            swatch(f, rule_colour((uint32_t)g), false, r->gnames[g]);
        }
        fputs("<li><span class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#555 0 2px,#fff 2px 4px)\">&#160;</span>"
              "hatched: reminders</li></ul>\n", f);
        table_open(f, "Table: sends per rule");
        fprintf(f, "<tr><th>%s (UTC)</th>", bd == 1 ? "day" : "from");
        for (size_t g = 0; g < ng; g++) {
            if (!used || !used[g]) continue;
            fputs("<th>", f); kh_escz(f, r->gnames[g]); fputs(" asks</th><th>", f);
            kh_escz(f, r->gnames[g]); fputs(" reminders</th>", f);
        }
        fputs("</tr>\n", f);
        for (int64_t b = 0; b < nb; b++) {
            char date[64];
            date_of(d0 + b * bd, date, sizeof date);
            fprintf(f, "<tr><td>%s</td>", date);
            for (size_t g = 0; g < ng; g++) {
                if (!used || !used[g]) continue;
                fprintf(f, "<td>%llu</td><td>%llu</td>", (unsigned long long)CNT(k, b, g, 0),
                        (unsigned long long)CNT(k, b, g, 1));
            }
            fputs("</tr>\n", f);
        }
        table_close(f);
        free(used);
        fputs("</figure>\n", f);
    }
#undef CNT
    fputs("</div></section>\n", f);
    free(cnt);
}

/* ---- 2. contact pressure ------------------------------------------------------------ */

typedef struct CapLine { uint32_t n; char label[160]; } CapLine;

static size_t caps_of(const KImage *img, CapLine *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < img->ncaps && n < max; i++) {
        const KbCap *c = &img->caps[i];
        char *b = NULL;
        size_t bl = 0;
        FILE *m = open_memstream(&b, &bl);
        if (!m) continue;
        fprintf(m, "cap %u per ", c->n);
        kt_duration(m, c->window, false);
        if (c->channels != ~0ULL) {
            fputs(" on", m);
            for (uint32_t ch = 0; ch < img->nchannels && ch < 64; ch++)
                if ((c->channels >> ch) & 1u) fprintf(m, " %s", istr(img, img->channels[ch]));
        } else fputs(" (all rules)", m);
        fclose(m);
        out[n].n = c->n;
        snprintf(out[n].label, sizeof out[n].label, "%s", b ? b : "");
        free(b);
        n++;
    }
    for (uint32_t i = 0; i < img->nrules && n < max; i++) {
        const KbRule *ru = &img->rules[i];
        if (!ru->has_cap || ru->is_task) continue;
        char *b = NULL;
        size_t bl = 0;
        FILE *m = open_memstream(&b, &bl);
        if (!m) continue;
        fprintf(m, "%s: cap %u per ", istr(img, ru->name), ru->cap_n);
        kt_duration(m, ru->cap_window, false);
        fclose(m);
        out[n].n = ru->cap_n;
        snprintf(out[n].label, sizeof out[n].label, "%s", b ? b : "");
        free(b);
        n++;
    }
    return n;
}

static void sec_pressure(const Rep *r, FILE *f)
{
    fputs("<section id=\"pressure\"><h2>2. Asks per customer in any 30 days</h2>\n"
          "<p class=\"note\">Each customer counted once, at the most asks they got in any 30-day window "
          "(t&#8201;&#8722;&#8201;30d,&#8201;t]; customers with no ask at 0. Dashed lines: the policy's caps "
          "(a cap's line is drawn after its limit; caps over other windows are shown at their count).</p>\n", f);
    uint32_t nbins = 1;
    uint64_t ymax = 0;
    CapLine caps[2][32];
    size_t ncaps[2] = { 0, 0 };
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        uint32_t m = p->pmax < MAX_PRESSURE_BINS - 1 ? p->pmax : MAX_PRESSURE_BINS - 1;
        if (m + 1 > nbins) nbins = m + 1;
        ncaps[k] = caps_of(p->img, caps[k], 32);
        for (size_t i = 0; i < ncaps[k]; i++)
            if (caps[k][i].n + 2 > nbins) nbins = caps[k][i].n + 2 < MAX_PRESSURE_BINS ? caps[k][i].n + 2 : MAX_PRESSURE_BINS;
        for (uint32_t b = 0; b < MAX_PRESSURE_BINS; b++) if (p->press[b] > ymax) ymax = p->press[b];
    }
    double top, step = kh_nice_step((double)ymax, 5, 1, &top);
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        char id[64];
        snprintf(id, sizeof id, "t-pressure-%u", k);
        kh_svg_open(f, id, CHART_W, 270, "Customers by the most asks they got in any 30 days");
        KhPlot pl = { 56, 12, CHART_W - 70, 200 };
        kh_yaxis(f, &pl, top, step, "customers", 0);
        double bw = pl.w / nbins, gap = bw * 0.2;
        for (uint32_t b = 0; b < nbins; b++) {
            double h = pl.h * (double)p->press[b] / top;
            char tip[320], lab[16];
            snprintf(tip, sizeof tip, "%s%u asks: %llu customers", b == MAX_PRESSURE_BINS - 1 ? ">= " : "", b,
                     (unsigned long long)p->press[b]);
            if (p->press[b]) kh_rect(f, pl.x + b * bw + gap / 2, pl.y + pl.h - h, bw - gap, h, kh_cat[0], tip);
            snprintf(lab, sizeof lab, "%s%u", b == MAX_PRESSURE_BINS - 1 ? "\xe2\x89\xa5" : "", b);
            /* past 20 bins every other one, and always the last (at 40 bins: "≥39", its
             * neighbour left out so that the two do not overlap) */
            bool tick = nbins <= 20 || b + 1 == nbins || (b % 2 == 0 && b + 2 != nbins);
            if (tick) kh_text(f, pl.x + (b + 0.5) * bw, pl.y + pl.h + 14, "middle", "tick", lab);
        }
        for (size_t i = 0; i < ncaps[k]; i++) {
            /* a cap of 39 or more lies in the last bin, "≥39": its line is the plot's right
             * edge, and its label says so */
            bool beyond = caps[k][i].n + 1 >= MAX_PRESSURE_BINS;
            uint32_t at = beyond ? nbins : caps[k][i].n + 1;
            double x = pl.x + at * bw;
            char label[200];
            snprintf(label, sizeof label, "%s%s", caps[k][i].label, beyond ? ", beyond the last bin" : "");
            fputs("<line class=\"cap\" x1=\"", f); kh_coord(f, x);
            fputs("\" x2=\"", f); kh_coord(f, x);
            fputs("\" y1=\"", f); kh_coord(f, pl.y);
            fputs("\" y2=\"", f); kh_coord(f, pl.y + pl.h);
            fputs("\"/>\n", f);
            /* a label that would run past the chart's right edge (11px text: at most about
             * 6.5px a character) is written leftwards of its line instead */
            size_t nch = 0;
            for (const char *c = label; *c; c++) nch += ((unsigned char)*c & 0xC0) != 0x80;
            bool left = x + 4 + 6.5 * (double)nch > CHART_W - 2;
            kh_text(f, left ? x - 4 : x + 4, pl.y + 12 + 13 * (double)i, left ? "end" : "start", "caplabel", label);
        }
        kh_xlabel(f, &pl, "most asks to one customer in any 30 days");
        kh_svg_close(f);
        table_open(f, "Table: customers by asks in any 30 days");
        fputs("<tr><th>asks in any 30 days</th><th>customers</th></tr>\n", f);
        for (uint32_t b = 0; b < nbins; b++)
            fprintf(f, "<tr><td>%s%u</td><td>%llu</td></tr>\n", b == MAX_PRESSURE_BINS - 1 ? "&#8805;" : "", b,
                    (unsigned long long)p->press[b]);
        fputs("<tr><th>cap</th><th>limit</th></tr>\n", f);
        for (size_t i = 0; i < ncaps[k]; i++) {
            fputs("<tr><td>", f); kh_escz(f, caps[k][i].label);
            fprintf(f, "</td><td>%u</td></tr>\n", caps[k][i].n);
        }
        table_close(f);
        fprintf(f, "<p class=\"kv\">Most asks to one customer in any 30 days: <b class=\"num\" data-key=\"pmax-%u\">%u</b></p>\n",
                k, p->pmax);
        fputs("</figure>\n", f);
    }
    fputs("</div></section>\n", f);
}

/* ---- 3. why asks were spared -------------------------------------------------------- */

static void sec_spared(const Rep *r, FILE *f)
{
    fputs("<section id=\"spared\"><h2>3. Why asks were spared</h2>\n"
          "<p class=\"note\">Per rule, the triggers that did not become an ask, by reason (the reasons of "
          "<code>simulate --stats</code>).</p>\n", f);
    uint64_t xmax = 0;
    bool any[KR_NSPARED] = { false };
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        for (uint32_t ri = 0; ri < p->img->nrules; ri++) {
            if (p->img->rules[ri].is_task) continue;
            uint64_t s = 0;
            for (size_t i = 0; i < KR_NSPARED; i++) {
                s += p->stats[ri][kr_spared[i].st];
                if (p->stats[ri][kr_spared[i].st]) any[i] = true;
            }
            if (s > xmax) xmax = s;
        }
    }
    double top, step = kh_nice_step((double)xmax, 5, 1, &top);
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        uint32_t nr = 0;
        for (uint32_t ri = 0; ri < p->img->nrules; ri++) nr += !p->img->rules[ri].is_task;
        char id[64];
        snprintf(id, sizeof id, "t-spared-%u", k);
        int h = 24 * (int)(nr ? nr : 1) + 58;
        kh_svg_open(f, id, CHART_W, h, "Asks spared per rule, by reason");
        KhPlot pl = { 160, 10, CHART_W - 180, 24.0 * (nr ? nr : 1) };
        kh_xaxis_values(f, &pl, top, step, "asks spared", 0);
        uint32_t row = 0;
        for (uint32_t ri = 0; ri < p->img->nrules; ri++) {
            if (p->img->rules[ri].is_task) continue;
            double y = pl.y + row * 24 + 4, x = pl.x;
            const char *rn = istr(p->img, p->img->rules[ri].name);
            kh_text(f, pl.x - 6, y + 12, "end", "tick", rn);
            for (size_t i = 0; i < KR_NSPARED; i++) {
                uint64_t c = p->stats[ri][kr_spared[i].st];
                if (!c) continue;
                double w = pl.w * (double)c / top;
                char tip[320];
                snprintf(tip, sizeof tip, "%s, %s: %llu", rn, kr_spared[i].name, (unsigned long long)c);
                kh_rect(f, x, y, w, 16, kr_spared[i].colour, tip);
                x += w;
            }
            row++;
        }
        kh_svg_close(f);
        fputs("<ul class=\"legend\">", f);
        for (size_t i = 0; i < KR_NSPARED; i++)
            if (any[i]) swatch(f, kr_spared[i].colour, false, kr_spared[i].name);
        fputs("</ul>\n", f);
        table_open(f, "Table: triggers, asks sent and spared per rule");
        fputs("<tr><th>rule</th><th>triggered</th><th>asks sent</th>", f);
        for (size_t i = 0; i < KR_NSPARED; i++) fprintf(f, "<th>%s</th>", kr_spared[i].name);
        fputs("</tr>\n", f);
        for (uint32_t ri = 0; ri < p->img->nrules; ri++) {
            if (p->img->rules[ri].is_task) continue;
            fputs("<tr><td>", f);
            kh_escz(f, istr(p->img, p->img->rules[ri].name));
            fprintf(f, "</td><td>%llu</td><td>%llu</td>", (unsigned long long)p->stats[ri][KR_ST_TRIGGERED],
                    (unsigned long long)p->stats[ri][KR_ST_SENT]);
            for (size_t i = 0; i < KR_NSPARED; i++)
                fprintf(f, "<td>%llu</td>", (unsigned long long)p->stats[ri][kr_spared[i].st]);
            fputs("</tr>\n", f);
        }
        table_close(f);
        fputs("</figure>\n", f);
    }
    fputs("</div></section>\n", f);
}

/* ---- 4. local hour x weekday -------------------------------------------------------- */

static bool hour_quiet(const KbQuiet *q, int h)
{
    int a = h * 60, b = a + 60;
    if (q->start == q->end) return false;
    if (q->start < q->end) return a >= q->start && b <= q->end;
    return a >= q->start || b <= q->end;          /* wraps midnight */
}

/* The colour step of a count: a square-root scale (few sends stay visible
 * beside the busiest hour); -1 for none. */
static int heat_level(uint64_t c, uint64_t max)
{
    if (c == 0 || max == 0) return -1;
    int l = (int)ceil(KH_NSEQ * sqrt((double)c / (double)max)) - 1;
    return l < 0 ? 0 : l >= KH_NSEQ ? KH_NSEQ - 1 : l;
}

/* The least count of step l (inverse of heat_level). */
static uint64_t heat_floor(int l, uint64_t max)
{
    if (l <= 0) return 1;
    double q = (double)l / KH_NSEQ;
    uint64_t lo = (uint64_t)floor(q * q * (double)max) + 1;
    while (lo > 1 && heat_level(lo - 1, max) >= l) lo--;
    while (heat_level(lo, max) < l) lo++;
    return lo;
}

static void sec_heat(const Rep *r, FILE *f)
{
    static const char *const days[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
    fputs("<section id=\"heat\"><h2>4. Sends by local hour and weekday</h2>\n"
          "<p class=\"note\">Asks and reminders by the customer's local time (the policy's zone, or the "
          "customer's <code>tz</code>). White cells: no send. Hatched outline: hours inside a quiet window.</p>\n", f);
    uint64_t max = 0;
    for (uint32_t k = 0; k < r->np; k++)
        for (int d = 0; d < 7; d++)
            for (int h = 0; h < 24; h++) if (r->p[k].heat[d][h] > max) max = r->p[k].heat[d][h];
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        char id[64];
        snprintf(id, sizeof id, "t-heat-%u", k);
        const double cw = 26, ch = 22, x0 = 40, y0 = 22;
        kh_svg_open(f, id, CHART_W, 22 + 7 * 22 + 40, "Sends by local hour and weekday");
        char qid[64];
        snprintf(qid, sizeof qid, "q%u", k);
        fprintf(f, "<defs><pattern id=\"%s\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
                   "patternTransform=\"rotate(45)\"><rect width=\"1.5\" height=\"6\" fill=\"#888\"/></pattern></defs>\n", qid);
        for (int h = 0; h < 24; h++) {
            char lab[64];
            snprintf(lab, sizeof lab, "%02d", h);
            kh_text(f, x0 + h * cw + cw / 2, y0 - 6, "middle", "tick", lab);
        }
        kh_rect(f, x0, y0, 24 * cw, 7 * ch, "#cfcfcf", NULL);     /* the grid between the cells */
        for (int d = 0; d < 7; d++) {
            kh_text(f, x0 - 6, y0 + d * ch + 15, "end", "tick", days[d]);
            for (int h = 0; h < 24; h++) {
                uint64_t c = p->heat[d][h];
                int lvl = heat_level(c, max);
                char tip[320];
                snprintf(tip, sizeof tip, "%s %02d:00-%02d:59: %llu sends", days[d], h, h, (unsigned long long)c);
                kh_rect(f, x0 + h * cw + 1, y0 + d * ch + 1, cw - 2, ch - 2, lvl < 0 ? "#ffffff" : kh_seq[lvl], tip);
                bool quiet = false;
                for (uint32_t q = 0; q < p->img->nquiets && !quiet; q++) quiet = hour_quiet(&p->img->quiets[q], h);
                if (quiet) {
                    fputs("<rect class=\"quiet\" x=\"", f); kh_coord(f, x0 + h * cw + 1);
                    fputs("\" y=\"", f); kh_coord(f, y0 + d * ch + 1);
                    fputs("\" width=\"", f); kh_coord(f, cw - 2);
                    fputs("\" height=\"", f); kh_coord(f, ch - 2);
                    fprintf(f, "\" fill=\"url(#%s)\" fill-opacity=\"0.5\"/>\n", qid);
                }
            }
        }
        kh_text(f, x0 + 12 * cw, y0 + 7 * ch + 30, "middle", "label", "local hour of the send (rows: weekday)");
        kh_svg_close(f);
        fputs("<ul class=\"legend\"><li><span class=\"sw\" style=\"background:#fff\">&#160;</span>0</li>", f);
        for (int l = 0; l < KH_NSEQ && max > 0; l++) {
            uint64_t lo = heat_floor(l, max), hi = l + 1 < KH_NSEQ ? heat_floor(l + 1, max) - 1 : max;
            if (hi < lo) continue;
            char lab[64];
            if (lo == hi) snprintf(lab, sizeof lab, "%llu", (unsigned long long)lo);
            else snprintf(lab, sizeof lab, "%llu-%llu", (unsigned long long)lo, (unsigned long long)hi);
            swatch(f, kh_seq[l], false, lab);
        }
        if (p->img->nquiets) {
            fputs("<li><span class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#888 0 1px,#fff 1px 4px)\">"
                  "&#160;</span>quiet hours", f);
            for (uint32_t q = 0; q < p->img->nquiets; q++) {
                const KbQuiet *qq = &p->img->quiets[q];
                fprintf(f, "%s %02d:%02d-%02d:%02d", q ? "," : "", qq->start / 60, qq->start % 60, qq->end / 60, qq->end % 60);
                if (qq->channels != ~0ULL) {
                    fputs(" on", f);
                    for (uint32_t c = 0; c < p->img->nchannels && c < 64; c++)
                        if ((qq->channels >> c) & 1u) { fputc(' ', f); kh_escz(f, istr(p->img, p->img->channels[c])); }
                }
            }
            fputs("</li>", f);
        }
        fputs("</ul>\n", f);
        table_open(f, "Table: sends by local hour and weekday");
        fputs("<tr><th>hour</th>", f);
        for (int d = 0; d < 7; d++) fprintf(f, "<th>%s</th>", days[d]);
        fputs("</tr>\n", f);
        for (int h = 0; h < 24; h++) {
            fprintf(f, "<tr><td>%02d:00</td>", h);
            for (int d = 0; d < 7; d++) fprintf(f, "<td>%llu</td>", (unsigned long long)p->heat[d][h]);
            fputs("</tr>\n", f);
        }
        table_close(f);
        fputs("</figure>\n", f);
    }
    fputs("</div></section>\n", f);
}

/* ---- 5. channels and reminder chains ----------------------------------------------- */

static void sec_channels(const Rep *r, FILE *f)
{
    fputs("<section id=\"channels\"><h2>5. Channel mix and reminder chains</h2>\n"
          "<p class=\"note\">Left: sent attempts per channel, asks solid and reminders hatched. Right: sent "
          "attempts by their number in the chain (attempt 1 is the first attempt; how many chains reach "
          "attempt 2, 3, &#8230;), stacked by rule.</p>\n", f);
    uint64_t cmax = 0, amax = 0;
    uint32_t natt = 1;
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        for (uint32_t c = 0; c < p->img->nchannels; c++)
            if (p->chan[c][0] + p->chan[c][1] > cmax) cmax = p->chan[c][0] + p->chan[c][1];
        for (uint32_t a = 1; a <= MAX_ATTEMPT; a++) {
            uint64_t s = 0;
            for (uint32_t ri = 0; ri < p->img->nrules; ri++) s += p->att[ri][a];
            if (s > amax) amax = s;
            if (s && a > natt) natt = a;
        }
    }
    double ctop, cstep = kh_nice_step((double)cmax, 4, 1, &ctop);
    double atop, astep = kh_nice_step((double)amax, 4, 1, &atop);
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        uint32_t nch = 0;
        for (uint32_t c = 0; c < p->img->nchannels; c++) nch += p->chan[c][0] + p->chan[c][1] > 0;
        char id[64];
        snprintf(id, sizeof id, "t-channels-%u", k);
        int h = 24 * (int)(nch ? nch : 1) + 58;
        kh_svg_open(f, id, CHART_W / 2, h, "Sent attempts per channel");
        fprintf(f, "<defs>");
        char hid[64];
        snprintf(hid, sizeof hid, "hc%u", k);
        hatch_def(f, hid, kh_cat[0]);
        fputs("</defs>\n", f);
        KhPlot pl = { 90, 10, CHART_W / 2 - 110, 24.0 * (nch ? nch : 1) };
        kh_xaxis_values(f, &pl, ctop, cstep, "sent attempts", 0);
        uint32_t row = 0;
        for (uint32_t c = 0; c < p->img->nchannels; c++) {
            const uint64_t *v = p->chan[c];
            if (v[0] + v[1] == 0) continue;
            const char *cn = istr(p->img, p->img->channels[c]);
            double y = pl.y + row * 24 + 4, x = pl.x;
            kh_text(f, pl.x - 6, y + 12, "end", "tick", cn);
            for (int a = 0; a < 2; a++) {
                if (!v[a]) continue;
                double w = pl.w * (double)v[a] / ctop;
                char tip[320], fill[32];
                snprintf(tip, sizeof tip, "%s: %llu %s", cn, (unsigned long long)v[a], a ? "reminders" : "asks");
                snprintf(fill, sizeof fill, a ? "url(#%s)" : "%s", a ? hid : kh_cat[0]);
                kh_rect(f, x, y, w, 16, fill, tip);
                x += w;
            }
            row++;
        }
        kh_svg_close(f);
        snprintf(id, sizeof id, "t-chains-%u", k);
        kh_svg_open(f, id, CHART_W / 2, 270, "Sent attempts by attempt number");
        KhPlot pa = { 56, 12, CHART_W / 2 - 70, 200 };
        kh_yaxis(f, &pa, atop, astep, "sent attempts", 0);
        double bw = pa.w / natt, gap = bw * 0.25;
        for (uint32_t a = 1; a <= natt; a++) {
            double y = pa.y + pa.h;
            for (uint32_t ri = 0; ri < p->img->nrules; ri++) {
                uint64_t c = p->att[ri][a];
                if (!c) continue;
                double hh = pa.h * (double)c / atop;
                y -= hh;
                char tip[320];
                snprintf(tip, sizeof tip, "%s, attempt %s%u: %llu", istr(p->img, p->img->rules[ri].name),
                         a == MAX_ATTEMPT ? ">= " : "", a, (unsigned long long)c);
                kh_rect(f, pa.x + (a - 1) * bw + gap / 2, y, bw - gap, hh, rule_colour(p->grule[ri]), tip);
            }
            char lab[64];
            snprintf(lab, sizeof lab, "%s%u", a == MAX_ATTEMPT ? "\xe2\x89\xa5" : "", a);
            kh_text(f, pa.x + (a - 0.5) * bw, pa.y + pa.h + 14, "middle", "tick", lab);
        }
        kh_xlabel(f, &pa, "attempt number");
        kh_svg_close(f);
        table_open(f, "Table: channels and attempts");
        fputs("<tr><th>channel</th><th>asks</th><th>reminders</th><th>tasks</th></tr>\n", f);
        for (uint32_t c = 0; c < p->img->nchannels; c++) {
            const uint64_t *v = p->chan[c];
            if (v[0] + v[1] + v[2] == 0) continue;
            fputs("<tr><td>", f);
            kh_escz(f, istr(p->img, p->img->channels[c]));
            fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>\n", (unsigned long long)v[0],
                    (unsigned long long)v[1], (unsigned long long)v[2]);
        }
        fputs("<tr><th>rule</th>", f);
        for (uint32_t a = 1; a <= natt; a++) fprintf(f, "<th>attempt %s%u</th>", a == MAX_ATTEMPT ? "&#8805;" : "", a);
        fputs("</tr>\n", f);
        for (uint32_t ri = 0; ri < p->img->nrules; ri++) {
            if (p->img->rules[ri].is_task) continue;
            fputs("<tr><td>", f);
            kh_escz(f, istr(p->img, p->img->rules[ri].name));
            fputs("</td>", f);
            for (uint32_t a = 1; a <= natt; a++) fprintf(f, "<td>%llu</td>", (unsigned long long)p->att[ri][a]);
            fputs("</tr>\n", f);
        }
        table_close(f);
        fputs("</figure>\n", f);
    }
    fputs("</div></section>\n", f);
}

/* ---- 6. the readout ---------------------------------------------------------------- */

static void sec_readout(const Rep *r, FILE *f)
{
    fputs("<section id=\"readout\"><h2>6. Response rate (readout)</h2>\n", f);
    bool any = false;
    double hmax = 0;
    for (uint32_t k = 0; k < r->np; k++) {
        any |= r->p[k].responses > 0;
        for (size_t i = 0; i < r->p[k].narms; i++) if (r->p[k].arms[i].high > hmax) hmax = r->p[k].arms[i].high;
    }
    if (!any) {
        no_data(f, "The logs have no response events: no readout.");
        fputs("</section>\n", f);
        return;
    }
    fputs("<p class=\"note\">Per rule and variant: the share of asks answered (a response within the window "
          "after a sent attempt of the survey), with its Wilson 95&#8201;% interval as a whisker "
          "(<code>kairos readout</code>). Window: ", f);
    dur(f, r->rdo.window);
    fputs(".</p>\n", f);
    double top, step = kh_nice_step(hmax, 5, 0, &top);
    cols_open(r, f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        fig_open(r, f, k);
        fprintf(f, "<p class=\"kv\">%llu of %llu responses attributed.</p>\n", (unsigned long long)p->attributed,
                (unsigned long long)p->responses);
        char id[64];
        snprintf(id, sizeof id, "t-readout-%u", k);
        size_t n = p->narms ? p->narms : 1;
        kh_svg_open(f, id, CHART_W, 24 * (int)n + 58, "Response rate per rule and variant with 95% intervals");
        KhPlot pl = { 200, 10, CHART_W - 300, 24.0 * (double)n };
        kh_xaxis_values(f, &pl, top, step, "response rate", 1);
        for (size_t i = 0; i < p->narms; i++) {
            const KrReadoutArm *a = &p->arms[i];
            const KbRule *ru = &p->img->rules[a->rule];
            char lab[256], val[96];
            snprintf(lab, sizeof lab, "%s%s%s", istr(p->img, ru->name), a->variant == KB_NONE ? "" : " / ",
                     a->variant == KB_NONE ? "" : istr(p->img, ru->variants[a->variant].name));
            double rate = (double)a->answered / (double)a->asks, y = pl.y + 24.0 * (double)i + 12;
            kh_text(f, pl.x - 6, y + 4, "end", "tick", lab);
            fputs("<line class=\"whisker\" x1=\"", f); kh_coord(f, pl.x + pl.w * a->low / top);
            fputs("\" x2=\"", f); kh_coord(f, pl.x + pl.w * a->high / top);
            fputs("\" y1=\"", f); kh_coord(f, y);
            fputs("\" y2=\"", f); kh_coord(f, y);
            fprintf(f, "\" stroke=\"%s\"/>\n<circle cx=\"", rule_colour(p->grule[a->rule]));
            kh_coord(f, pl.x + pl.w * rate / top);
            fputs("\" cy=\"", f); kh_coord(f, y);
            fprintf(f, "\" r=\"4.5\" fill=\"%s\"><title>", rule_colour(p->grule[a->rule]));
            kh_escz(f, lab);
            fprintf(f, ": %.1f%% [%.1f%%, %.1f%%]</title></circle>\n", 100 * rate, 100 * a->low, 100 * a->high);
            snprintf(val, sizeof val, "%.1f%% of %llu", 100 * rate, (unsigned long long)a->asks);
            kh_text(f, pl.x + pl.w + 8, y + 4, "start", "tick", val);
        }
        kh_svg_close(f);
        table_open(f, "Table: response rate per rule and variant");
        fputs("<tr><th>rule</th><th>variant</th><th>asks</th><th>answered</th><th>rate</th><th>low</th><th>high</th></tr>\n", f);
        for (size_t i = 0; i < p->narms; i++) {
            const KrReadoutArm *a = &p->arms[i];
            const KbRule *ru = &p->img->rules[a->rule];
            fputs("<tr><td>", f);
            kh_escz(f, istr(p->img, ru->name));
            fputs("</td><td>", f);
            if (a->variant != KB_NONE) kh_escz(f, istr(p->img, ru->variants[a->variant].name));
            fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%.4f</td><td>%.4f</td><td>%.4f</td></tr>\n",
                    (unsigned long long)a->asks, (unsigned long long)a->answered,
                    (double)a->answered / (double)a->asks, a->low, a->high);
        }
        table_close(f);
        fputs("</figure>\n", f);
    }
    fputs("</div></section>\n", f);
}

/* ---- 7. facts and warnings -------------------------------------------------------- */

static bool reserved_event(const char *s)
{
    static const char *const r[] = { KB_EV_IDENTIFY, KB_EV_RESPONSE, KB_EV_OPT_OUT, KB_EV_OPT_IN,
                                     KB_EV_CONSENT_GRANTED, KB_EV_CONSENT_REVOKED };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) if (strcmp(s, r[i]) == 0) return true;
    return false;
}

static void sec_facts(const Rep *r, FILE *f)
{
    fputs("<section id=\"facts\"><h2>The run</h2>\n<table class=\"facts\">\n", f);
    for (uint32_t k = 0; k < r->np; k++) {
        const Pol *p = &r->p[k];
        const char *pn = istr(p->img, p->img->policy_name);
        fprintf(f, "<tr><th>%s</th><td><b>", r->np > 1 ? (k ? "new policy" : "old policy") : "policy");
        kh_escz(f, pn[0] ? pn : "(unnamed)");
        fputs("</b> (<code>", f);
        kh_escz(f, p->name);
        fprintf(f, "</code>), source checksum <code>%016llx</code> (FNV-1a 64), %u rules, time zone ",
                (unsigned long long)p->img->source_hash, p->img->nrules);
        kh_escz(f, p->img->timezone == KB_NONE ? "UTC" : istr(p->img, p->img->timezone));
        fputs("</td></tr>\n", f);
        fprintf(f, "<tr><th>schedule%s</th><td><span class=\"num\" data-key=\"asks-%u\">", r->np > 1 ? (k ? " (new)" : " (old)") : "", k);
        kh_count(f, p->tot[0]);
        fputs("</span> asks, ", f);
        kh_count(f, p->tot[1]);
        fputs(" reminders, ", f);
        kh_count(f, p->tot[2]);
        fputs(" tasks</td></tr>\n", f);
    }
    fputs("<tr><th>event logs</th><td>", f);
    for (uint32_t i = 0; i < r->opt->ninputs; i++) {
        if (i) fputs(", ", f);
        fputs("<code>", f);
        kh_escz(f, r->opt->inputs[i]);
        fputs("</code>", f);
    }
    fputs("</td></tr>\n<tr><th>events</th><td><span class=\"num\" data-key=\"events\">", f);
    kh_count(f, r->events);
    fputs("</span></td></tr>\n<tr><th>customers</th><td><span class=\"num\" data-key=\"customers\">", f);
    kh_count(f, kr_pool_count(r->customers));
    fputs("</span></td></tr>\n<tr><th>time range</th><td>", f);
    if (r->events) { time_utc(f, r->tmin); fputs(" &#8211; ", f); time_utc(f, r->tmax); }
    else fputs("no events", f);
    fputs("</td></tr>\n<tr><th>horizon</th><td>", f);
    if (r->events || r->opt->has_until) time_utc(f, r->horizon);
    else fputs("none", f);
    fputs(r->opt->has_until ? " (--until)" : " (the last event)", f);
    fputs("</td></tr>\n", f);
    if (r->opt->shard_n)
        fprintf(f, "<tr><th>shard</th><td>%u of %u</td></tr>\n", r->opt->shard_k, r->opt->shard_n);
    fputs("<tr><th>Kairos</th><td>version ", f);
    kh_escz(f, r->rp->version ? r->rp->version : "?");
    fputs("</td></tr>\n", f);
    if (r->rp->stamp) {
        fputs("<tr><th>generated</th><td>", f);
        time_utc(f, r->rp->stamp_time);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<h3>Warnings about the inputs</h3>\n<ul class=\"warnings\">\n", f);
    int nw = 0;
    if (r->skipped) {
        fprintf(f, "<li>%llu bad row%s skipped (--skip-bad-rows)</li>\n", (unsigned long long)r->skipped,
                r->skipped == 1 ? "" : "s");
        nw++;
    }
    if (r->badz.others) {
        fprintf(f, "<li>%llu identify event%s set <code>tz</code> to a number or a boolean, not a time zone's "
                "name: %s the policy's zone</li>\n", (unsigned long long)r->badz.others,
                r->badz.others == 1 ? "" : "s", kr_bad_zones_keep(r->badz.others));
        nw++;
    }
    if (r->badz.events) {
        fprintf(f, "<li>%llu identify event%s set <code>tz</code> to a name that is not a time zone (",
                (unsigned long long)r->badz.events, r->badz.events == 1 ? "" : "s");
        for (uint32_t i = 0; i < r->badz.n; i++) {
            if (i) fputs(", ", f);
            fputs("<code>", f);
            kh_escz(f, kr_pool_str(r->values, r->badz.ids[i], NULL));
            fputs("</code>", f);
        }
        fprintf(f, "%s): %s the policy's zone</li>\n", r->badz.more ? ", and others" : "",
                kr_bad_zones_keep(r->badz.events));
        nw++;
    }
    const KImage *u = r->u;
    for (uint32_t e = 0; e < u->nevents; e++) {
        const char *en = u->strings[u->events[e]];
        if (!r->evseen[e]) {
            if (reserved_event(en)) continue;
            fputs("<li>event <code>", f);
            kh_escz(f, en);
            fputs("</code> never appears in the logs</li>\n", f);
            nw++;
            continue;
        }
        const KbRetention *rt = &u->retention[e];
        for (uint32_t i = 0; i < rt->nattrs; i++) {
            uint32_t a = rt->attrs[i];
            if (a >= u->nattrs || r->attrseen[(size_t)e * u->nattrs + a]) continue;
            const char *an = u->strings[u->attrs[a]];
            if (reserved_event(en) && strcmp(en, KB_EV_IDENTIFY) != 0) continue;
            fputs("<li>attribute <code>", f);
            kh_escz(f, an);
            fputs("</code> of event <code>", f);
            kh_escz(f, en);
            fputs("</code> is read by the policy but never set in the logs</li>\n", f);
            nw++;
        }
    }
    for (uint32_t k = 0; k < r->np; k++)
        if (r->p[k].responses > r->p[k].attributed) {
            fputs("<li>", f);
            if (r->np > 1) { fputs("<code>", f); kh_escz(f, r->p[k].name); fputs("</code>: ", f); }
            fprintf(f, "%llu of %llu responses could not be attributed to a sent attempt within the window</li>\n",
                    (unsigned long long)(r->p[k].responses - r->p[k].attributed), (unsigned long long)r->p[k].responses);
            nw++;
        }
    if (!nw) fputs("<li class=\"none\">none</li>\n", f);
    fputs("</ul>\n</section>\n", f);
}

/* ---- diff: what changed ----------------------------------------------------------- */

static void change_cell(FILE *f, uint64_t a, uint64_t b, bool present_a, bool present_b)
{
    fputs("<td>", f);
    if (present_a) fprintf(f, "%llu", (unsigned long long)a); else fputs("&#8211;", f);
    fputs("</td><td>", f);
    if (present_b) fprintf(f, "%llu", (unsigned long long)b); else fputs("&#8211;", f);
    fputs("</td><td>", f);
    if (a == b) fputs("0", f);
    else if (b > a) fprintf(f, "+%llu", (unsigned long long)(b - a));
    else fprintf(f, "&#8722;%llu", (unsigned long long)(a - b));
    fputs("</td>", f);
}

static void sec_changes(const Rep *r, FILE *f)
{
    fputs("<section id=\"changes\"><h2>What changes</h2>\n<p class=\"note\">Rows of the two schedules per rule "
          "(by name; &#8211;: the rule is not in that policy). <code>kairos diff --format markdown</code> "
          "adds who gains and loses asks and the sends that only moved.</p>\n<table>\n"
          "<tr><th>rule</th><th>asks before</th><th>asks after</th><th>change</th><th>reminders before</th>"
          "<th>reminders after</th><th>change</th><th>tasks before</th><th>tasks after</th><th>change</th></tr>\n", f);
    for (uint32_t g = 0; g < r->ngrules; g++) {
        uint64_t v[2][3] = { { 0 } };
        bool in[2] = { false, false };
        for (uint32_t k = 0; k < 2; k++)
            for (uint32_t ri = 0; ri < r->p[k].img->nrules; ri++)
                if (r->p[k].grule[ri] == g) {
                    in[k] = true;
                    for (int a = 0; a < 3; a++) v[k][a] += r->p[k].rtot[ri][a];
                }
        fputs("<tr><td>", f);
        kh_escz(f, r->gnames[g]);
        fputs("</td>", f);
        for (int a = 0; a < 3; a++) change_cell(f, v[0][a], v[1][a], in[0], in[1]);
        fputs("</tr>\n", f);
    }
    fputs("<tr><th>total</th>", f);
    for (int a = 0; a < 3; a++) change_cell(f, r->p[0].tot[a], r->p[1].tot[a], true, true);
    fputs("</tr>\n<tr><th>most asks to one customer in any 30 days</th>", f);
    change_cell(f, r->p[0].pmax, r->p[1].pmax, true, true);
    fputs("<td colspan=\"6\"></td></tr>\n</table>\n</section>\n", f);
}

/* ---- the page ---------------------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "color:#1a1a1a;background:#fff;margin:0 auto;max-width:1500px;padding:16px 24px}\n"
    "h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd}"
    "h3{font-size:15px}\n"
    ".note{color:#444;max-width:900px;margin:4px 0 8px}.empty{color:#666;font-style:italic}\n"
    ".cols{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:24px}\n"
    "figure{margin:0 0 8px}figcaption{font-weight:600;margin-bottom:4px}\n"
    "svg.chart{max-width:100%;height:auto;display:inline-block;vertical-align:top}\n"
    "svg text{font:11px system-ui,sans-serif;fill:#222}svg .label{font-size:12px;fill:#000}"
    "svg .caplabel{font-size:11px;fill:#000}\n"
    "svg .grid{stroke:#e4e4e4;stroke-width:1}svg .axis{stroke:#333;stroke-width:1}"
    "svg .cap{stroke:#000;stroke-width:1.5;stroke-dasharray:5 3}svg .whisker{stroke-width:2.5}\n"
    "svg rect{stroke:none}\n"
    "ul.legend{list-style:none;padding:0;margin:2px 0 6px;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}\n"
    ".sw{display:inline-block;width:12px;height:12px;border:1px solid #999;margin-right:5px;vertical-align:-2px}\n"
    "details{margin:4px 0 10px}summary{cursor:pointer;color:#0b4f8a}\n"
    "table{border-collapse:collapse;font-size:12px;margin-top:4px}td,th{border:1px solid #ccc;padding:2px 6px;"
    "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\n"
    "table.facts td,table.facts th{text-align:left}\n"
    "ul.warnings li.none{color:#666}\n"
    "footer{margin-top:32px;color:#666;font-size:12px}\n";

static void page(const Rep *r, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    fputs(r->np > 1 ? "Kairos diff: " : "Kairos report: ", f);
    for (uint32_t k = 0; k < r->np; k++) {
        const char *pn = istr(r->p[k].img, r->p[k].img->policy_name);
        if (k) fputs(" vs ", f);
        kh_escz(f, pn[0] ? pn : r->p[k].name);
    }
    fputs("</title>\n<style>\n", f);
    fputs(css, f);
    fputs("</style>\n</head>\n<body>\n<h1>", f);
    if (r->np > 1) {
        fputs("Kairos diff: <code>", f);
        kh_escz(f, r->p[0].name);
        fputs("</code> &#8594; <code>", f);
        kh_escz(f, r->p[1].name);
        fputs("</code>", f);
    } else {
        fputs("Kairos report: policy ", f);
        const char *pn = istr(r->p[0].img, r->p[0].img->policy_name);
        fputs("<q>", f);
        kh_escz(f, pn[0] ? pn : r->p[0].name);
        fputs("</q>", f);
    }
    fputs("</h1>\n<p class=\"note\">All dates and times in UTC unless marked local. Every chart has its numbers in "
          "the table below it.</p>\n", f);
    sec_facts(r, f);
    if (r->np > 1) sec_changes(r, f);
    sec_sends(r, f);
    sec_pressure(r, f);
    sec_spared(r, f);
    sec_heat(r, f);
    sec_channels(r, f);
    sec_readout(r, f);
    fputs("<footer>Made by <code>kairos ", f);
    fputs(r->np > 1 ? "diff --format html" : "report", f);
    fputs("</code>. Colours: Okabe&#8211;Ito palette (categories) and a single-hue blue scale (counts). "
          "The page loads nothing from the network.</footer>\n</body>\n</html>\n", f);
}

/* ---- the command ------------------------------------------------------------------- */

static int pol_init(Rep *r, Pol *p, const KImage *img, const char *name)
{
    p->img = img;
    p->name = name;
    p->press_w = (KrPressure){ .w = D30 };
    p->chan = calloc(img->nchannels + 1u, sizeof *p->chan);
    p->att = calloc(img->nrules + 1u, sizeof *p->att);
    p->stats = calloc(img->nrules + 1u, sizeof *p->stats);
    p->grule = calloc(img->nrules + 1u, sizeof *p->grule);
    p->rtot = calloc(img->nrules + 1u, sizeof *p->rtot);
    p->at_of = calloc((img->nrules + 1u) * 2u, sizeof *p->at_of);
    p->ro = kr_readout_begin(img, r->u, &r->rdo, r->values, kr_sort_budget(r->opt) / r->np);
    if (!p->chan || !p->att || !p->stats || !p->grule || !p->rtot || !p->at_of || !p->ro) return -1;
    for (uint32_t i = 0; i < img->nrules; i++) {
        const char *n = istr(img, img->rules[i].name);
        uint32_t g = 0;
        while (g < r->ngrules && strcmp(r->gnames[g], n) != 0) g++;
        if (g == r->ngrules) r->gnames[r->ngrules++] = n;
        p->grule[i] = g;
    }
    return 0;
}

static void pol_free(Pol *p)
{
    free(p->rows); free(p->at_of); kr_pressure_free(&p->press_w); free(p->chan); free(p->att); free(p->stats); free(p->grule); free(p->rtot);
    free(p->arms);
    kr_readout_free(p->ro);
}

int kr_report(const KrReportOptions *rp, const KrOptions *opt, char **out, size_t *outlen, FILE *err)
{
    int status = 1;
    Rep r;
    memset(&r, 0, sizeof r);
    *out = NULL;
    *outlen = 0;
    r.rp = rp;
    r.opt = opt;
    r.np = rp->npolicies < 2 ? 1 : 2;
    r.rdo = (KrReadoutOptions){ .format = KR_READ_CSV, .window = rp->window > 0 ? rp->window : 7 * 86400 };
    r.customers = kr_pool_new();
    r.values = kr_pool_new();
    if (!r.customers || !r.values) goto oom;
    r.u = kr_reader_image(rp->imgs, r.np, NULL);
    if (!r.u) goto oom;
    r.evseen = calloc(r.u->nevents + 1u, sizeof *r.evseen);
    r.attrseen = calloc((size_t)r.u->nevents * r.u->nattrs + 1u, 1);
    size_t nr = 1;
    for (uint32_t k = 0; k < r.np; k++) nr += rp->imgs[k]->nrules;
    r.gnames = calloc(nr, sizeof *r.gnames);
    if (!r.evseen || !r.attrseen || !r.gnames) goto oom;
    for (uint32_t k = 0; k < r.np; k++)
        if (pol_init(&r, &r.p[k], rp->imgs[k], rp->names[k] ? rp->names[k] : "") != 0) goto oom;
    KrMulti m = { .nimgs = r.np, .on_event = on_event, .on_finish = on_finish,
                  .event_ctx = &r };
    for (uint32_t k = 0; k < r.np; k++) {
        m.imgs[k] = rp->imgs[k];
        m.emit[k] = emit_row;
        m.emit_ctx[k] = &r.p[k];
    }
    if (kr_multi_run(&m, r.u, opt, r.customers, r.values, err) != 0) goto done;
    uint64_t ncust = kr_pool_count(r.customers);
    for (uint32_t k = 0; k < r.np; k++) {
        Pol *p = &r.p[k];
        if (p->failed) goto oom;
        if (kr_readout_end(p->ro, &p->arms, &p->narms, &p->responses, &p->attributed) != 0) goto oom;
        kr_pressure_each(&p->press_w, press_one, p);
        uint64_t with = 0;
        for (uint32_t b = 0; b < MAX_PRESSURE_BINS; b++) with += p->press[b];
        p->press[0] = ncust > with ? ncust - with : 0;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) goto oom;
    page(&r, f);
    if (fclose(f) != 0) { free(buf); goto oom; }
    *out = buf;
    *outlen = len;
    status = 0;
    goto done;
oom:
    fprintf(err, "kairos: out of memory\n");
done:
    for (uint32_t k = 0; k < r.np; k++) pol_free(&r.p[k]);
    free(r.evseen); free(r.attrseen); free(r.gnames);
    kr_reader_image_free(r.u);
    kr_pool_free(r.customers);
    kr_pool_free(r.values);
    return status;
}
