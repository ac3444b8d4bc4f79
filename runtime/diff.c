/* diff.c -- kr_diff (runtime.h): two policies replayed over one read of the
 * events (multi.c), their schedules compared as multisets of rows
 * (LANGUAGE.md section 7, SPEC.md section "diff and readout"), rendered as
 * the fixed CSV difference, a text summary, Markdown or JSON.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "../lang/util.h"

#define D30 (30 * 86400LL)
#define TOP_CUSTOMERS 10
#define MD_ROWS 50                /* CSV rows shown in the Markdown details */

/* A schedule row with its names as ids in the diff's name pool (so that
 * rows of two images compare): rule, survey (task name for a task),
 * channel, variant ("" = id 0). */
typedef struct DRow {
    int64_t time, trigger;
    uint32_t cust, rule, survey, chan, variant, attempt;
    uint8_t action;
} DRow;

typedef struct Sched {
    const KImage *img;
    DRow *rows; size_t n, cap;
    uint32_t *rule_name, *rule_survey;    /* [nrules] name ids */
    uint32_t *chan_name;                  /* [nchannels] */
    uint32_t **var_name;                  /* [nrules][nvariants] */
    bool failed;
} Sched;

typedef struct Diff {
    KrPool *names, *customers, *values;
    Sched s[2];
    /* display orders (name ids): rules, surveys, channels of both images */
    uint32_t *rules, nrules, *surveys, nsurveys, *chans, nchans;
    /* the CSV difference: sign (-1 old, +1 new) and row */
    struct { int sign; const DRow *r; } *d; size_t nd, capd;
} Diff;

/* ---- collecting -------------------------------------------------------------- */

static int emit_row(void *ctx, const KrRow *row)
{
    Sched *s = ctx;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        DRow *nr = realloc(s->rows, nc * sizeof *nr);
        if (!nr) { s->failed = true; return -1; }
        s->rows = nr;
        s->cap = nc;
    }
    const KbRule *r = &s->img->rules[row->rule];
    DRow *d = &s->rows[s->n++];
    d->time = row->time;
    d->trigger = row->trigger;
    d->cust = row->customer;
    d->rule = s->rule_name[row->rule];
    d->survey = s->rule_survey[row->rule];
    d->chan = row->channel < s->img->nchannels ? s->chan_name[row->channel] : 0;
    d->variant = row->variant < r->nvariants ? s->var_name[row->rule][row->variant] : 0;
    d->attempt = row->attempt;
    d->action = row->action;
    return 0;
}

static uint32_t name_id(Diff *d, const KImage *img, uint32_t si)
{
    if (si >= img->nstrings) return 0;
    return kr_intern(d->names, img->strings[si], img->string_lens[si]);
}

static void list_add(uint32_t *list, uint32_t *n, uint32_t id)
{
    for (uint32_t i = 0; i < *n; i++) if (list[i] == id) return;
    list[(*n)++] = id;
}

static int sched_init(Diff *d, Sched *s, const KImage *img)
{
    s->img = img;
    s->rule_name = calloc(img->nrules + 1u, sizeof(uint32_t));
    s->rule_survey = calloc(img->nrules + 1u, sizeof(uint32_t));
    s->chan_name = calloc(img->nchannels + 1u, sizeof(uint32_t));
    s->var_name = calloc(img->nrules + 1u, sizeof(uint32_t *));
    if (!s->rule_name || !s->rule_survey || !s->chan_name || !s->var_name) return -1;
    for (uint32_t c = 0; c < img->nchannels; c++) s->chan_name[c] = name_id(d, img, img->channels[c]);
    for (uint32_t i = 0; i < img->nrules; i++) {
        const KbRule *r = &img->rules[i];
        s->rule_name[i] = name_id(d, img, r->name);
        s->rule_survey[i] = r->is_task ? name_id(d, img, r->target)
                          : r->target < img->nsurveys ? name_id(d, img, img->surveys[r->target]) : 0;
        s->var_name[i] = calloc(r->nvariants + 1u, sizeof(uint32_t));
        if (!s->var_name[i]) return -1;
        for (uint32_t v = 0; v < r->nvariants; v++) s->var_name[i][v] = name_id(d, img, r->variants[v].name);
    }
    return 0;
}

static void sched_free(Sched *s)
{
    if (s->var_name && s->img)
        for (uint32_t i = 0; i < s->img->nrules; i++) free(s->var_name[i]);
    free(s->var_name); free(s->rule_name); free(s->rule_survey); free(s->chan_name); free(s->rows);
}

/* ---- the multiset difference ------------------------------------------------- */

static int cust_cmp(const Diff *d, uint32_t a, uint32_t b)
{
    if (a == b) return 0;
    size_t na, nb;
    const char *x = kr_pool_str(d->customers, a, &na), *y = kr_pool_str(d->customers, b, &nb);
    int c = memcmp(x, y, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

static bool same_row(const DRow *a, const DRow *b)
{
    return a->time == b->time && a->cust == b->cust && a->rule == b->rule && a->action == b->action &&
           a->survey == b->survey && a->chan == b->chan && a->attempt == b->attempt && a->variant == b->variant;
}

static int add_d(Diff *d, int sign, const DRow *r)
{
    if (d->nd == d->capd) {
        size_t nc = d->capd ? d->capd * 2 : 256;
        void *nd = realloc(d->d, nc * sizeof *d->d);
        if (!nd) return -1;
        d->d = nd;
        d->capd = nc;
    }
    d->d[d->nd].sign = sign;
    d->d[d->nd++].r = r;
    return 0;
}

/* Both schedules are sorted by (time, customer bytes, ...): walk the
 * groups of equal (time, customer); inside a group, each old row takes
 * the first equal new row not taken yet. */
static int compute_diff(Diff *d)
{
    const Sched *a = &d->s[0], *b = &d->s[1];
    size_t i = 0, j = 0;
    bool *taken = NULL; size_t captaken = 0;
    while (i < a->n || j < b->n) {
        int c;
        if (i >= a->n) c = 1;
        else if (j >= b->n) c = -1;
        else if (a->rows[i].time != b->rows[j].time) c = a->rows[i].time < b->rows[j].time ? -1 : 1;
        else c = cust_cmp(d, a->rows[i].cust, b->rows[j].cust);
        size_t i2 = i, j2 = j;
        if (c <= 0) {
            const DRow *g = &a->rows[i];
            while (i2 < a->n && a->rows[i2].time == g->time && a->rows[i2].cust == g->cust) i2++;
        }
        if (c >= 0) {
            const DRow *g = &b->rows[j];
            while (j2 < b->n && b->rows[j2].time == g->time && b->rows[j2].cust == g->cust) j2++;
        }
        size_t nb = j2 - j;
        if (nb > captaken) {
            bool *nt = realloc(taken, nb * sizeof *nt);
            if (!nt) { free(taken); return -1; }
            taken = nt;
            captaken = nb;
        }
        if (nb) memset(taken, 0, nb * sizeof *taken);
        for (size_t x = i; x < i2; x++) {
            bool found = false;
            for (size_t y = 0; y < nb && !found; y++)
                if (!taken[y] && same_row(&a->rows[x], &b->rows[j + y])) taken[y] = found = true;
            if (!found && add_d(d, -1, &a->rows[x]) != 0) { free(taken); return -1; }
        }
        for (size_t y = 0; y < nb; y++)
            if (!taken[y] && add_d(d, 1, &b->rows[j + y]) != 0) { free(taken); return -1; }
        i = i2;
        j = j2;
    }
    free(taken);
    return 0;
}

/* ---- the summary ---------------------------------------------------------------- */

enum { C_ASK = 0, C_REMIND, C_TASK };

typedef struct Summary {
    uint64_t tot[2][3];
    uint64_t (*by_rule)[2][3], (*by_survey)[2][3], (*by_chan)[2][3];   /* [name id] */
    uint64_t ncust;                       /* customers seen */
    uint32_t *asks[2];                    /* [customer] asks */
    uint64_t gain_cust, gain_asks, lose_cust, lose_asks;
    uint64_t pressure[2][4];              /* customers at 0, 1, 2, 3+ */
    uint32_t pmax[2];
    uint64_t moved;
    int64_t moved_median;
    uint64_t removed, added;
    bool *in_rules[2];                    /* [name id]: rule name in image k */
} Summary;

typedef struct PressureAcc { Summary *sm; int k; uint64_t with; } PressureAcc;
static void pressure_one(void *arg, uint32_t cust, uint32_t best)
{
    PressureAcc *a = arg;
    (void)cust;
    a->sm->pressure[a->k][best >= 3 ? 3 : best]++;
    if (best > a->sm->pmax[a->k]) a->sm->pmax[a->k] = best;
    a->with++;
}

static int pressure(const Diff *d, Summary *sm, int k)
{
    const Sched *s = &d->s[k];
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += s->rows[i].action == KR_ACT_ASK;
    KrAskRef *v = malloc((n + 1) * sizeof *v);
    if (!v) return -1;
    n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->rows[i].action == KR_ACT_ASK) v[n++] = (KrAskRef){ s->rows[i].cust, s->rows[i].time };
    PressureAcc acc = { sm, k, 0 };
    kr_busiest_windows(v, n, D30, pressure_one, &acc);
    sm->pressure[k][0] = sm->ncust > acc.with ? sm->ncust - acc.with : 0;
    free(v);
    return 0;
}

/* Moved sends: a removed and an added row alike in all but time, with the
 * same trigger.  Pairs in order of time within each key. */
typedef struct MKey { const DRow *r; int sign; } MKey;
static int mkey_cmp(const void *pa, const void *pb)
{
    const DRow *a = ((const MKey *)pa)->r, *b = ((const MKey *)pb)->r;
#define K(f) if (a->f != b->f) return a->f < b->f ? -1 : 1
    K(cust); K(rule); K(trigger); K(attempt); K(action); K(survey); K(chan); K(variant);
#undef K
    int sa = ((const MKey *)pa)->sign, sb = ((const MKey *)pb)->sign;
    if (sa != sb) return sa < sb ? -1 : 1;
    return a->time < b->time ? -1 : a->time > b->time;
}

static int moved(const Diff *d, Summary *sm)
{
    MKey *v = malloc((d->nd + 1) * sizeof *v);
    int64_t *shift = malloc((d->nd + 1) * sizeof *shift);
    if (!v || !shift) { free(v); free(shift); return -1; }
    for (size_t i = 0; i < d->nd; i++) v[i] = (MKey){ d->d[i].r, d->d[i].sign };
    if (d->nd) qsort(v, d->nd, sizeof *v, mkey_cmp);
    size_t ns = 0;
    for (size_t i = 0; i < d->nd;) {
        size_t e = i;
        const DRow *g = v[i].r;
        while (e < d->nd && v[e].r->cust == g->cust && v[e].r->rule == g->rule && v[e].r->trigger == g->trigger &&
               v[e].r->attempt == g->attempt && v[e].r->action == g->action && v[e].r->survey == g->survey &&
               v[e].r->chan == g->chan && v[e].r->variant == g->variant) e++;
        size_t m = i;
        while (m < e && v[m].sign < 0) m++;
        size_t nminus = m - i, nplus = e - m;
        for (size_t x = 0; x < nminus && x < nplus; x++) shift[ns++] = v[m + x].r->time - v[i + x].r->time;
        i = e;
    }
    sm->moved = ns;
    sm->moved_median = kt_median(shift, ns);
    free(v);
    free(shift);
    return 0;
}

static int summarize(Diff *d, Summary *sm)
{
    uint32_t nn = kr_pool_count(d->names) + 1u;
    sm->by_rule = calloc(nn, sizeof *sm->by_rule);
    sm->by_survey = calloc(nn, sizeof *sm->by_survey);
    sm->by_chan = calloc(nn, sizeof *sm->by_chan);
    sm->ncust = kr_pool_count(d->customers);
    for (int k = 0; k < 2; k++) {
        sm->asks[k] = calloc(sm->ncust + 1, sizeof(uint32_t));
        sm->in_rules[k] = calloc(nn, sizeof(bool));
        if (!sm->asks[k] || !sm->in_rules[k]) return -1;
    }
    if (!sm->by_rule || !sm->by_survey || !sm->by_chan) return -1;
    for (int k = 0; k < 2; k++) {
        const Sched *s = &d->s[k];
        for (uint32_t r = 0; r < s->img->nrules; r++) sm->in_rules[k][s->rule_name[r]] = true;
        for (size_t i = 0; i < s->n; i++) {
            const DRow *r = &s->rows[i];
            int a = r->action == KR_ACT_ASK ? C_ASK : r->action == KR_ACT_REMIND ? C_REMIND : C_TASK;
            sm->tot[k][a]++;
            sm->by_rule[r->rule][k][a]++;
            sm->by_survey[r->survey][k][a]++;
            sm->by_chan[r->chan][k][a]++;
            if (a == C_ASK && r->cust < sm->ncust) sm->asks[k][r->cust]++;
        }
        if (pressure(d, sm, k) != 0) return -1;
    }
    for (uint64_t c = 0; c < sm->ncust; c++) {
        uint32_t x = sm->asks[0][c], y = sm->asks[1][c];
        if (y > x) { sm->gain_cust++; sm->gain_asks += y - x; }
        if (y < x) { sm->lose_cust++; sm->lose_asks += x - y; }
    }
    for (size_t i = 0; i < d->nd; i++) {
        if (d->d[i].sign < 0) sm->removed++;
        else sm->added++;
    }
    return moved(d, sm);
}

static void summary_free(Summary *sm)
{
    free(sm->by_rule); free(sm->by_survey); free(sm->by_chan);
    for (int k = 0; k < 2; k++) { free(sm->asks[k]); free(sm->in_rules[k]); }
}

/* ---- rendering ------------------------------------------------------------------ */

static const char *nstr(const Diff *d, uint32_t id, size_t *n)
{
    const char *s = kr_pool_str(d->names, id, n);
    if (!s) { *n = 0; return ""; }
    return s;
}

static const char *cstr(const Diff *d, uint32_t id, size_t *n)
{
    const char *s = kr_pool_str(d->customers, id, n);
    if (!s) { *n = 0; return ""; }
    return s;
}

/* Out -- text on its way to f through a buffer of its own (put: a KuPut):
 * a row of diff --format csv is made there, not by a stdio call per field. */
typedef struct Out { FILE *f; size_t n; char b[1024]; } Out;

static void out_put(void *ctx, const char *p, size_t n)
{
    Out *o = ctx;
    if (o->n + n > sizeof o->b) {
        fwrite(o->b, 1, o->n, o->f);
        o->n = 0;
        if (n > sizeof o->b) { fwrite(p, 1, n, o->f); return; }
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void csv_out(const Diff *d, FILE *f)
{
    static const char *const actions[] = { "ask", "remind", "task" };
    Out o = { .f = f };
    fputs("change,time,customer,rule,action,survey,channel,attempt,variant\n", f);
    for (size_t i = 0; i < d->nd; i++) {
        const DRow *r = d->d[i].r;
        char tb[48];
        size_t n;
        const char *s;
        out_put(&o, d->d[i].sign < 0 ? "-," : "+,", 2);
        out_put(&o, tb, kt_time(r->time, tb, sizeof tb));
        out_put(&o, ",", 1);
        s = cstr(d, r->cust, &n); ku_csv_field(s, n, out_put, &o); out_put(&o, ",", 1);
        s = nstr(d, r->rule, &n); ku_csv_field(s, n, out_put, &o); out_put(&o, ",", 1);
        s = actions[r->action < 3 ? r->action : 0]; out_put(&o, s, strlen(s)); out_put(&o, ",", 1);
        s = nstr(d, r->survey, &n); ku_csv_field(s, n, out_put, &o); out_put(&o, ",", 1);
        s = nstr(d, r->chan, &n); ku_csv_field(s, n, out_put, &o);
        char num[20];
        out_put(&o, ",", 1);
        out_put(&o, num, ku_fmt_uint(r->attempt, num));
        out_put(&o, ",", 1);
        s = nstr(d, r->variant, &n); ku_csv_field(s, n, out_put, &o);
        out_put(&o, "\n", 1);
    }
    fwrite(o.b, 1, o.n, f);
}

static void signed_num(FILE *f, uint64_t before, uint64_t after)
{
    if (after >= before) fprintf(f, "+%llu", (unsigned long long)(after - before));
    else fprintf(f, "-%llu", (unsigned long long)(before - after));
}

static double share(uint64_t x, uint64_t n) { return n ? 100.0 * (double)x / (double)n : 0.0; }

static const char *const cols[3] = { "asks", "reminders", "tasks" };

/* One "before -> after (+change)" cell. */
static void cell(FILE *f, const uint64_t v[2][3], int a, bool md)
{
    if (v[0][a] == v[1][a]) fprintf(f, "%llu", (unsigned long long)v[0][a]);
    else {
        fprintf(f, "%llu %s %llu (", (unsigned long long)v[0][a], md ? "→" : "->", (unsigned long long)v[1][a]);
        signed_num(f, v[0][a], v[1][a]);
        fputc(')', f);
    }
}

typedef struct Group { const char *title, *key; const uint32_t *ids; uint32_t n; uint64_t (*v)[2][3]; } Group;

static void text_group(const Diff *d, FILE *f, const Group *g)
{
    fprintf(f, "\nper %s:\n", g->key);
    size_t w = strlen(g->key);
    for (uint32_t i = 0; i < g->n; i++) {
        size_t n;
        nstr(d, g->ids[i], &n);
        if (n > w) w = n;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        size_t n;
        const char *s = nstr(d, g->ids[i], &n);
        fprintf(f, "  %.*s%*s", (int)n, s, (int)(w - n), "");
        for (int a = 0; a < 3; a++) {
            fprintf(f, "  %s ", cols[a]);
            cell(f, (const uint64_t (*)[3])g->v[g->ids[i]], a, false);
        }
        fputc('\n', f);
    }
}

static void pressure_line(FILE *f, const Summary *sm, int k, bool md)
{
    const char *lab = k ? "after" : "before";
    if (md) fprintf(f, "| %s |", lab);
    else fprintf(f, "  %-6s", lab);
    for (int b = 0; b < 4; b++)
        fprintf(f, md ? " %.1f%% |" : " %6.1f%%", share(sm->pressure[k][b], sm->ncust));
    fprintf(f, md ? " %u |\n" : " %5u\n", sm->pmax[k]);
}

/* The name of the i-th rule when only side k (0 OLD, 1 NEW) has it, else NULL. */
static const char *only_rule(const Diff *d, const Summary *sm, int k, uint32_t i, size_t *n)
{
    uint32_t id = d->rules[i];
    if (!sm->in_rules[k][id] || sm->in_rules[!k][id]) return NULL;
    return nstr(d, id, n);
}

static void only_lists(const Diff *d, const Summary *sm, FILE *f, bool md)
{
    for (int k = 0; k < 2; k++) {
        bool any = false;
        for (uint32_t i = 0; i < d->nrules; i++) {
            size_t n;
            const char *s = only_rule(d, sm, k, i, &n);
            if (!s) continue;
            if (!any) fprintf(f, md ? "\n**Rules only in %s:** " : "rules only in %s:", k ? "NEW" : "OLD");
            if (md) { fputs(any ? ", `" : "`", f); fwrite(s, 1, n, f); fputc('`', f); }
            else { fputc(' ', f); fwrite(s, 1, n, f); }
            any = true;
        }
        if (any) fputc('\n', f);
    }
}

static void text_out(const Diff *d, const Summary *sm, const char *on, const char *nn, FILE *f)
{
    fprintf(f, "kairos diff: %s -> %s (%llu customers)\n", on, nn, (unsigned long long)sm->ncust);
    if (sm->removed + sm->added == 0) fprintf(f, "the schedules are identical\n");
    else fprintf(f, "schedule rows: %llu only in OLD, %llu only in NEW\n",
                 (unsigned long long)sm->removed, (unsigned long long)sm->added);
    for (int a = 0; a < 3; a++) {
        fprintf(f, "  %-10s ", cols[a]);
        cell(f, (const uint64_t (*)[3])sm->tot, a, false);
        fputc('\n', f);
    }
    fprintf(f, "customers gaining asks: %llu (+%llu asks); losing asks: %llu (-%llu asks)\n",
            (unsigned long long)sm->gain_cust, (unsigned long long)sm->gain_asks,
            (unsigned long long)sm->lose_cust, (unsigned long long)sm->lose_asks);
    fprintf(f, "contact pressure (asks per customer in any 30 days):\n"
               "               0       1       2      3+   max\n");
    pressure_line(f, sm, 0, false);
    pressure_line(f, sm, 1, false);
    fprintf(f, "moved sends (same customer, rule, trigger and attempt): %llu", (unsigned long long)sm->moved);
    if (sm->moved) { fputs(", median shift ", f); kt_duration(f, sm->moved_median, true); }
    fputc('\n', f);
    only_lists(d, sm, f, false);
    Group g[3] = {
        { "Per rule", "rule", d->rules, d->nrules, sm->by_rule },
        { "Per survey", "survey", d->surveys, d->nsurveys, sm->by_survey },
        { "Per channel", "channel", d->chans, d->nchans, sm->by_chan },
    };
    for (int i = 0; i < 3; i++) text_group(d, f, &g[i]);
}

static void md_group(const Diff *d, FILE *f, const Group *g)
{
    fprintf(f, "\n**%s**\n\n| %s | asks | reminders | tasks |\n|---|---:|---:|---:|\n", g->title, g->key);
    for (uint32_t i = 0; i < g->n; i++) {
        size_t n;
        const char *s = nstr(d, g->ids[i], &n);
        fputs("| ", f);
        kt_md_text(f, s, n);
        for (int a = 0; a < 3; a++) {
            fputs(" | ", f);
            cell(f, (const uint64_t (*)[3])g->v[g->ids[i]], a, true);
        }
        fputs(" |\n", f);
    }
}

typedef struct CDelta { uint32_t cust; int64_t delta; } CDelta;
static const Diff *g_sort_diff;       /* for the comparators below (single-threaded) */
static int cdelta_cmp(const void *pa, const void *pb)
{
    const CDelta *a = pa, *b = pb;
    int64_t x = a->delta < 0 ? -a->delta : a->delta, y = b->delta < 0 ? -b->delta : b->delta;
    if (x != y) return x > y ? -1 : 1;
    return cust_cmp(g_sort_diff, a->cust, b->cust);
}

static void md_customers(const Diff *d, const Summary *sm, FILE *f, int sign)
{
    CDelta *v = malloc((sm->ncust + 1) * sizeof *v);
    if (!v) return;
    size_t n = 0;
    for (uint32_t c = 0; c < sm->ncust; c++) {
        int64_t dl = (int64_t)sm->asks[1][c] - (int64_t)sm->asks[0][c];
        if ((sign > 0 && dl > 0) || (sign < 0 && dl < 0)) v[n++] = (CDelta){ c, dl };
    }
    if (n) {
        g_sort_diff = d;
        qsort(v, n, sizeof *v, cdelta_cmp);
        fprintf(f, "\n**Top customers %s asks**\n\n| customer | asks before | asks after |\n|---|---:|---:|\n",
                sign > 0 ? "gaining" : "losing");
        for (size_t i = 0; i < n && i < TOP_CUSTOMERS; i++) {
            size_t len;
            const char *s = cstr(d, v[i].cust, &len);
            fputs("| ", f);
            kt_md_text(f, s, len);
            fprintf(f, " | %u | %u |\n", sm->asks[0][v[i].cust], sm->asks[1][v[i].cust]);
        }
        if (n > TOP_CUSTOMERS) fprintf(f, "\n…and %zu more.\n", n - TOP_CUSTOMERS);
    }
    free(v);
}

/* The longest run of backticks in the n bytes at s. */
static size_t backtick_run(const char *s, size_t n)
{
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < n; i++) {
        run = s[i] == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    return longest;
}

/* A name as a Markdown code span, shown as it is: no backslash escapes (a
 * code span would show them), delimited by one backtick more than its
 * longest run of them, with spaces inside when it holds any (CommonMark
 * 6.1); control characters as spaces, as kt_md_text writes them. */
static void md_code(FILE *f, const char *s)
{
    size_t longest = backtick_run(s, strlen(s));
    for (size_t i = 0; i <= longest; i++) fputc('`', f);
    if (longest) fputc(' ', f);
    for (const char *p = s; *p; p++) fputc((unsigned char)*p < 0x20 ? ' ' : *p, f);
    if (longest) fputc(' ', f);
    for (size_t i = 0; i <= longest; i++) fputc('`', f);
}

static void md_out(const Diff *d, const Summary *sm, const char *on, const char *nn, FILE *f)
{
    fputs("### kairos diff: ", f);
    md_code(f, on);
    fputs(" → ", f);
    md_code(f, nn);
    fprintf(f, "\n\n");
    if (sm->removed + sm->added == 0) fprintf(f, "The schedules are identical (%llu customers).\n",
                                              (unsigned long long)sm->ncust);
    else fprintf(f, "%llu customers; %llu schedule rows only in OLD, %llu only in NEW.\n",
                 (unsigned long long)sm->ncust, (unsigned long long)sm->removed, (unsigned long long)sm->added);
    fputs("\n| | before | after | change |\n|---|---:|---:|---:|\n", f);
    for (int a = 0; a < 3; a++) {
        fprintf(f, "| %s | %llu | %llu | ", cols[a], (unsigned long long)sm->tot[0][a],
                (unsigned long long)sm->tot[1][a]);
        signed_num(f, sm->tot[0][a], sm->tot[1][a]);
        fputs(" |\n", f);
    }
    fprintf(f, "| customers gaining asks | | | %llu (+%llu asks) |\n", (unsigned long long)sm->gain_cust,
            (unsigned long long)sm->gain_asks);
    fprintf(f, "| customers losing asks | | | %llu (-%llu asks) |\n", (unsigned long long)sm->lose_cust,
            (unsigned long long)sm->lose_asks);
    fprintf(f, "| most asks to one customer in 30 days | %u | %u | ", sm->pmax[0], sm->pmax[1]);
    signed_num(f, sm->pmax[0], sm->pmax[1]);
    fputs(" |\n", f);
    fprintf(f, "| sends only moved in time | | | %llu", (unsigned long long)sm->moved);
    if (sm->moved) { fputs(" (median ", f); kt_duration(f, sm->moved_median, true); fputc(')', f); }
    fputs(" |\n", f);
    fputs("\n**Contact pressure** (share of customers by asks in any 30 days)\n\n"
          "| | 0 | 1 | 2 | 3+ | max |\n|---|---:|---:|---:|---:|---:|\n", f);
    pressure_line(f, sm, 0, true);
    pressure_line(f, sm, 1, true);
    only_lists(d, sm, f, true);
    Group g[3] = {
        { "Per rule", "rule", d->rules, d->nrules, sm->by_rule },
        { "Per survey", "survey", d->surveys, d->nsurveys, sm->by_survey },
        { "Per channel", "channel", d->chans, d->nchans, sm->by_chan },
    };
    md_group(d, f, &g[0]);
    md_customers(d, sm, f, 1);
    md_customers(d, sm, f, -1);
    fputs("\n<details><summary>Per survey, per channel, changed rows</summary>\n", f);
    md_group(d, f, &g[1]);
    md_group(d, f, &g[2]);
    if (d->nd) {
        Diff shown = *d;
        if (shown.nd > MD_ROWS) shown.nd = MD_ROWS;
        /* the fence is longer than any run of backticks in the rows (a
         * customer id may hold a line of ```, which would end it) */
        char *rows = NULL;
        size_t nrows = 0;
        FILE *m = open_memstream(&rows, &nrows);
        if (m) { csv_out(&shown, m); fclose(m); }
        size_t longest = rows ? backtick_run(rows, nrows) : 0;
        size_t fence = longest >= 3 ? longest + 1 : 3;
        fputc('\n', f);
        for (size_t i = 0; i < fence; i++) fputc('`', f);
        fputs("diff\n", f);
        if (rows) fwrite(rows, 1, nrows, f);
        else csv_out(&shown, f);
        for (size_t i = 0; i < fence; i++) fputc('`', f);
        fputc('\n', f);
        free(rows);
        if (d->nd > MD_ROWS) fprintf(f, "\n(%zu more rows: run `kairos diff --format csv`)\n", d->nd - MD_ROWS);
    }
    fputs("\n</details>\n", f);
}

static void json_counts(FILE *f, const uint64_t v[2][3])
{
    for (int a = 0; a < 3; a++)
        fprintf(f, "%s\"%s\":{\"before\":%llu,\"after\":%llu}", a ? "," : "", cols[a],
                (unsigned long long)v[0][a], (unsigned long long)v[1][a]);
}

static void json_group(const Diff *d, FILE *f, const Group *g)
{
    fprintf(f, ",\"%ss\":[", g->key);
    for (uint32_t i = 0; i < g->n; i++) {
        size_t n;
        const char *s = nstr(d, g->ids[i], &n);
        fprintf(f, "%s{\"%s\":", i ? "," : "", g->key);
        kt_json_str(f, s, n);
        fputc(',', f);
        json_counts(f, (const uint64_t (*)[3])g->v[g->ids[i]]);
        fputc('}', f);
    }
    fputc(']', f);
}

static void json_out(const Diff *d, const Summary *sm, const char *on, const char *nn, FILE *f)
{
    fputs("{\"old\":", f);
    kt_json_str(f, on, strlen(on));
    fputs(",\"new\":", f);
    kt_json_str(f, nn, strlen(nn));
    fprintf(f, ",\"customers\":%llu,\"changed\":%s,\"rows\":{\"removed\":%llu,\"added\":%llu},\"totals\":{",
            (unsigned long long)sm->ncust, d->nd ? "true" : "false",
            (unsigned long long)sm->removed, (unsigned long long)sm->added);
    json_counts(f, (const uint64_t (*)[3])sm->tot);
    fprintf(f, "},\"gaining\":{\"customers\":%llu,\"asks\":%llu},\"losing\":{\"customers\":%llu,\"asks\":%llu}",
            (unsigned long long)sm->gain_cust, (unsigned long long)sm->gain_asks,
            (unsigned long long)sm->lose_cust, (unsigned long long)sm->lose_asks);
    fputs(",\"pressure\":{", f);
    for (int k = 0; k < 2; k++) {
        fprintf(f, "%s\"%s\":{", k ? "," : "", k ? "after" : "before");
        static const char *const b[4] = { "0", "1", "2", "3+" };
        for (int i = 0; i < 4; i++)
            fprintf(f, "\"%s\":{\"customers\":%llu,\"share\":%.4f},", b[i],
                    (unsigned long long)sm->pressure[k][i], share(sm->pressure[k][i], sm->ncust) / 100.0);
        fprintf(f, "\"max\":%u}", sm->pmax[k]);
    }
    fprintf(f, "},\"moved\":{\"sends\":%llu,\"median_shift_seconds\":%lld}", (unsigned long long)sm->moved,
            (long long)sm->moved_median);
    for (int k = 0; k < 2; k++) {
        fprintf(f, ",\"only_%s\":[", k ? "new" : "old");
        bool any = false;
        for (uint32_t i = 0; i < d->nrules; i++) {
            size_t n;
            const char *s = only_rule(d, sm, k, i, &n);
            if (!s) continue;
            if (any) fputc(',', f);
            kt_json_str(f, s, n);
            any = true;
        }
        fputc(']', f);
    }
    Group g[3] = {
        { "Per rule", "rule", d->rules, d->nrules, sm->by_rule },
        { "Per survey", "survey", d->surveys, d->nsurveys, sm->by_survey },
        { "Per channel", "channel", d->chans, d->nchans, sm->by_chan },
    };
    for (int i = 0; i < 3; i++) json_group(d, f, &g[i]);
    fputs("}\n", f);
}

/* The JSON summary of a diff of no customer: every field of SPEC 6.3, for
 * checking the fields of --fail-if before a run (the one writer above is
 * the one list of them). */
char *kr_diff_summary_shape(void)
{
    Diff d;
    Summary sm;
    memset(&d, 0, sizeof d);
    memset(&sm, 0, sizeof sm);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    json_out(&d, &sm, "", "", f);
    if (fclose(f) != 0) { free(buf); return NULL; }
    return buf;
}

/* ---- the command ---------------------------------------------------------------- */

int kr_diff(const KImage *old, const KImage *new_, const KrDiffOptions *dopt, const KrOptions *opt,
            char **out, size_t *outlen, bool *changed, FILE *err)
{
    int status = 1;
    Diff d;
    memset(&d, 0, sizeof d);
    Summary sm;
    memset(&sm, 0, sizeof sm);
    KImage *u = NULL;
    FILE *f = NULL;
    *out = NULL;
    *outlen = 0;
    d.names = kr_pool_new();
    d.customers = kr_pool_new();
    d.values = kr_pool_new();
    if (!d.names || !d.customers || !d.values || kr_intern(d.names, "", 0) != 0) goto oom;
    const KImage *imgs[2] = { old, new_ };
    for (int k = 0; k < 2; k++)
        if (sched_init(&d, &d.s[k], imgs[k]) != 0) goto oom;
    uint32_t cap = 1;
    for (int k = 0; k < 2; k++) cap += imgs[k]->nrules + imgs[k]->nchannels;
    d.rules = calloc(cap, sizeof(uint32_t));
    d.surveys = calloc(cap, sizeof(uint32_t));
    d.chans = calloc(cap, sizeof(uint32_t));
    if (!d.rules || !d.surveys || !d.chans) goto oom;
    for (int k = 0; k < 2; k++) {
        const KImage *img = imgs[k];
        for (uint32_t r = 0; r < img->nrules; r++) {
            list_add(d.rules, &d.nrules, d.s[k].rule_name[r]);
            list_add(d.surveys, &d.nsurveys, d.s[k].rule_survey[r]);
            const KbRule *rule = &img->rules[r];
            for (uint32_t a = 0; a < rule->nattempts; a++)
                if (rule->attempts[a].channel < img->nchannels)
                    list_add(d.chans, &d.nchans, d.s[k].chan_name[rule->attempts[a].channel]);
            for (uint32_t v = 0; v < rule->nvariants; v++)
                if (rule->variants[v].channel < img->nchannels)
                    list_add(d.chans, &d.nchans, d.s[k].chan_name[rule->variants[v].channel]);
        }
    }
    u = kr_reader_image(imgs, 2, NULL);
    if (!u) goto oom;
    KrMulti m = { .imgs = { old, new_ }, .nimgs = 2, .emit = { emit_row, emit_row },
                  .emit_ctx = { &d.s[0], &d.s[1] }, .apart = true };
    if (kr_multi_run(&m, u, opt, d.customers, d.values, err) != 0) goto done;
    if (d.s[0].failed || d.s[1].failed) goto oom;
    if (compute_diff(&d) != 0) goto oom;
    *changed = d.nd > 0;
    char *buf = NULL;
    size_t len = 0;
    f = open_memstream(&buf, &len);
    if (!f) goto oom;
    if (dopt->format == KR_DIFF_CSV) csv_out(&d, f);
    else {
        if (summarize(&d, &sm) != 0) { fclose(f); free(buf); f = NULL; goto oom; }
        if (dopt->format == KR_DIFF_MARKDOWN) md_out(&d, &sm, dopt->old_name, dopt->new_name, f);
        else if (dopt->format == KR_DIFF_JSON) json_out(&d, &sm, dopt->old_name, dopt->new_name, f);
        else text_out(&d, &sm, dopt->old_name, dopt->new_name, f);
    }
    if (fclose(f) != 0) { f = NULL; free(buf); goto oom; }
    f = NULL;
    if (dopt->json) {
        char *jb = NULL;
        size_t jl = 0;
        if (dopt->format == KR_DIFF_CSV && summarize(&d, &sm) != 0) { free(buf); goto oom; }
        FILE *j = open_memstream(&jb, &jl);
        if (!j) { free(buf); goto oom; }
        json_out(&d, &sm, dopt->old_name, dopt->new_name, j);
        if (fclose(j) != 0) { free(jb); free(buf); goto oom; }
        *dopt->json = jb;
        *dopt->json_len = jl;
    }
    *out = buf;
    *outlen = len;
    status = 0;
    goto done;
oom:
    fprintf(err, "kairos: out of memory\n");
done:
    summary_free(&sm);
    kr_reader_image_free(u);
    for (int k = 0; k < 2; k++) sched_free(&d.s[k]);
    free(d.rules); free(d.surveys); free(d.chans); free(d.d);
    kr_pool_free(d.names);
    kr_pool_free(d.customers);
    kr_pool_free(d.values);
    return status;
}
