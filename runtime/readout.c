/* readout.c -- kr_readout (runtime.h): what the asks achieved.  The policy
 * is replayed (multi.c, one engine) while the `response` events (and, for
 * --by, the trait's identify values) of the same read are kept; then each
 * response is attributed to the latest sent attempt of its survey to that
 * customer at or before it, within the window (LANGUAGE.md section 7), and
 * the tables are rendered (SPEC.md section "diff and readout").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "../lang/util.h"

#define MIN_DAYS 28
#define MIN_ASKS 100

typedef struct RSend {
    int64_t time, trigger;
    KzZone *zone;
    uint32_t cust, rule, attempt, channel, variant, seq, chain, hits;
    uint8_t action;
} RSend;

typedef struct RResp {
    int64_t time;
    uint32_t cust, survey, seq;   /* survey: value pool id, KB_NONE if not a string */
    bool has_score;
    double score;
} RResp;

typedef struct RTrait { int64_t time; uint32_t cust, label, seq; } RTrait;

typedef struct RChain {
    uint32_t cust, rule, variant, group, arm;
    int64_t ask_time;
    bool asked, answered, scored;
    int64_t delay;                /* first attributed response - its attempt */
    double score;
} RChain;

#define VEC(T, name) T *name; size_t n_##name, cap_##name
typedef struct Readout {
    const KImage *img, *u;
    const KrReadoutOptions *ro;
    KrPool *customers, *values, *labels;
    VEC(RSend, sends);
    VEC(RResp, resps);
    VEC(RTrait, traits);
    uint32_t seq;
    bool failed;
    uint32_t ev_response, ev_identify, a_survey, a_score, a_trait;
    uint32_t *survey_val;         /* rule -> value id of its survey name (KB_NONE: task) */
    uint32_t *arm_base, narms;    /* rule -> first arm; arms: (rule, variant or none) */
    uint32_t maxattempt;
} Readout;

#define PUSH(r, name) (KU_RESERVE((r)->name, (r)->n_##name, (r)->cap_##name, 1024) \
                       ? NULL : &(r)->name[(r)->n_##name++])

static int emit_row(void *ctx, const KrRow *row)
{
    Readout *r = ctx;
    if (r->img->rules[row->rule].is_task) return 0;
    RSend *s = PUSH(r, sends);
    if (!s) { r->failed = true; return -1; }
    *s = (RSend){ .time = row->time, .trigger = row->trigger, .zone = row->zone, .cust = row->customer,
                  .rule = row->rule, .attempt = row->attempt, .channel = row->channel,
                  .variant = row->variant, .seq = r->seq++, .action = row->action };
    if (row->attempt > r->maxattempt) r->maxattempt = row->attempt;
    return 0;
}

static const KrValue *attr_in(const KrEvent *ev, uint32_t a)
{
    if (a == KB_NONE) return NULL;
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (ev->attr_ids[i] == a) return &ev->attr_vals[i];
    return NULL;
}

/* A trait value as a label (numbers as %.15g, -0 as 0, so that the two
 * are one group as they are one number; booleans true/false). */
static uint32_t label_of(Readout *r, const KrValue *v)
{
    char buf[64];
    const char *s = buf;
    size_t n;
    if (v->tag == KB_STR) s = kr_pool_str(r->values, v->str, &n);
    else if (v->tag == KB_NUM) n = (size_t)snprintf(buf, sizeof buf, "%.15g", v->num == 0 ? 0.0 : v->num);
    else if (v->tag == KB_BOOL) { s = v->b ? "true" : "false"; n = strlen(s); }
    else return KB_NONE;
    if (!s) return KB_NONE;
    return kr_intern(r->labels, s, n);
}

static int on_event(void *ctx, const KrEvent *ev)
{
    Readout *r = ctx;
    if (ev->event == r->ev_response && ev->event != KB_NONE) {
        RResp *x = PUSH(r, resps);
        if (!x) return -1;
        const KrValue *sv = attr_in(ev, r->a_survey), *sc = attr_in(ev, r->a_score);
        *x = (RResp){ .time = ev->time, .cust = ev->customer, .seq = r->seq++,
                      .survey = sv && sv->tag == KB_STR ? sv->str : KB_NONE };
        if (sc && sc->tag == KB_NUM) { x->has_score = true; x->score = sc->num; }
    } else if (ev->event == r->ev_identify && ev->event != KB_NONE && r->a_trait != KB_NONE) {
        const KrValue *v = attr_in(ev, r->a_trait);
        if (!v) return 0;
        RTrait *t = PUSH(r, traits);
        if (!t) return -1;
        *t = (RTrait){ .time = ev->time, .cust = ev->customer, .label = label_of(r, v), .seq = r->seq++ };
        if (t->label == UINT32_MAX) return -1;
    }
    return 0;
}

/* ---- attribution --------------------------------------------------------------- */

static int send_by_cust_time(const void *pa, const void *pb)
{
    const RSend *a = pa, *b = pb;
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}
static int resp_cmp(const void *pa, const void *pb)
{
    const RResp *a = pa, *b = pb;
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}
static int trait_cmp(const void *pa, const void *pb)
{
    const RTrait *a = pa, *b = pb;
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}
static const RSend *g_sends;
static int chain_cmp(const void *pa, const void *pb)
{
    const RSend *a = &g_sends[*(const uint32_t *)pa], *b = &g_sends[*(const uint32_t *)pb];
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    if (a->rule != b->rule) return a->rule < b->rule ? -1 : 1;
    if (a->trigger != b->trigger) return a->trigger < b->trigger ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The label of the customer's trait in force at time t (KB_NONE: none). */
static uint32_t trait_at(const Readout *r, uint32_t cust, int64_t t)
{
    size_t lo = 0, hi = r->n_traits;
    while (lo < hi) {                     /* the first entry after (cust, t): a binary search,
                                             not a walk through the customer's traits */
        size_t m = (lo + hi) / 2;
        const RTrait *x = &r->traits[m];
        if (x->cust < cust || (x->cust == cust && x->time <= t)) lo = m + 1; else hi = m;
    }
    return lo > 0 && r->traits[lo - 1].cust == cust ? r->traits[lo - 1].label : KB_NONE;
}

typedef struct Counts { uint64_t n, hit; } Counts;

typedef struct Group {
    uint32_t label;               /* KB_NONE: no trait / no --by */
    Counts *arm;                  /* [narms] asks, answered */
    uint64_t *nscore, *prom, *detr; double *sum;  /* [narms] */
    Counts *chan, *att, hour[24];
    int64_t *first_ask, *last_ask;                 /* [nrules] */
} Group;

typedef struct Result {
    Group *g; uint32_t ng;
    RChain *chains; size_t nchains;
    uint64_t attributed, responses;
} Result;

static uint32_t group_index(Result *res, uint32_t label)
{
    for (uint32_t i = 0; i < res->ng; i++) if (res->g[i].label == label) return i;
    return KB_NONE;
}

static int group_add(Result *res, const Readout *r, uint32_t label)
{
    Group *ng = realloc(res->g, (res->ng + 1) * sizeof *ng);
    if (!ng) return -1;
    res->g = ng;
    Group *g = &res->g[res->ng++];
    memset(g, 0, sizeof *g);
    g->label = label;
    g->arm = calloc(r->narms + 1, sizeof *g->arm);
    g->nscore = calloc(r->narms + 1, sizeof *g->nscore);
    g->prom = calloc(r->narms + 1, sizeof *g->prom);
    g->detr = calloc(r->narms + 1, sizeof *g->detr);
    g->sum = calloc(r->narms + 1, sizeof *g->sum);
    g->chan = calloc(r->img->nchannels + 1, sizeof *g->chan);
    g->att = calloc(r->maxattempt + 1, sizeof *g->att);
    g->first_ask = malloc((r->img->nrules + 1) * sizeof(int64_t));
    g->last_ask = malloc((r->img->nrules + 1) * sizeof(int64_t));
    if (!g->arm || !g->nscore || !g->prom || !g->detr || !g->sum || !g->chan || !g->att ||
        !g->first_ask || !g->last_ask) return -1;
    for (uint32_t i = 0; i <= r->img->nrules; i++) { g->first_ask[i] = INT64_MAX; g->last_ask[i] = INT64_MIN; }
    return 0;
}

static void result_free(Result *res)
{
    for (uint32_t i = 0; i < res->ng; i++) {
        Group *g = &res->g[i];
        free(g->arm); free(g->nscore); free(g->prom); free(g->detr); free(g->sum);
        free(g->chan); free(g->att); free(g->first_ask); free(g->last_ask);
    }
    free(res->g);
    free(res->chains);
}

static int label_cmp_pool(const KrPool *p, uint32_t a, uint32_t b)
{
    if (a == b) return 0;
    if (a == KB_NONE) return 1;
    if (b == KB_NONE) return -1;
    size_t na, nb;
    const char *x = kr_pool_str(p, a, &na), *y = kr_pool_str(p, b, &nb);
    int c = memcmp(x, y, na < nb ? na : nb);
    return c ? c : na < nb ? -1 : na > nb;
}

static int attribute(Readout *r, Result *res)
{
    RSend *s = r->sends;
    size_t ns = r->n_sends;
    if (r->n_traits) qsort(r->traits, r->n_traits, sizeof *r->traits, trait_cmp);
    /* chains: (customer, rule, trigger) */
    uint32_t *idx = malloc((ns + 1) * sizeof *idx);
    res->chains = calloc(ns + 1, sizeof *res->chains);
    if (!idx || !res->chains) { free(idx); return -1; }
    for (size_t i = 0; i < ns; i++) idx[i] = (uint32_t)i;
    g_sends = s;
    if (ns) qsort(idx, ns, sizeof *idx, chain_cmp);
    for (size_t i = 0; i < ns;) {
        size_t e = i;
        const RSend *a = &s[idx[i]];
        while (e < ns && s[idx[e]].cust == a->cust && s[idx[e]].rule == a->rule && s[idx[e]].trigger == a->trigger) e++;
        RChain *c = &res->chains[res->nchains];
        *c = (RChain){ .cust = a->cust, .rule = a->rule, .variant = a->variant };
        for (size_t k = i; k < e; k++) {
            RSend *x = &s[idx[k]];
            x->chain = (uint32_t)res->nchains;
            if (x->action == KR_ACT_ASK && !c->asked) { c->asked = true; c->ask_time = x->time; }
        }
        res->nchains++;
        i = e;
    }
    free(idx);
    /* groups: the trait in force at the ask */
    if (group_add(res, r, KB_NONE) != 0) return -1;
    for (size_t i = 0; i < res->nchains; i++) {
        RChain *c = &res->chains[i];
        uint32_t label = r->ro->by_trait ? trait_at(r, c->cust, c->ask_time) : KB_NONE;
        uint32_t gi = group_index(res, label);
        if (gi == KB_NONE) {
            if (group_add(res, r, label) != 0) return -1;
            gi = res->ng - 1;
        }
        c->group = gi;
        const KbRule *rule = &r->img->rules[c->rule];
        c->arm = r->arm_base[c->rule] + (c->variant < rule->nvariants ? c->variant : 0);
    }
    /* responses -> the latest sent attempt of the survey at or before, in the window */
    if (ns) qsort(s, ns, sizeof *s, send_by_cust_time);
    if (r->n_resps) qsort(r->resps, r->n_resps, sizeof *r->resps, resp_cmp);
    res->responses = r->n_resps;
    /* one pass over both, each sorted by (customer, time): for each
     * response the sends of its customer up to its time have been passed,
     * and the latest of each survey noted (last[], valid for the customer
     * of stamp[]), so a customer with n sends and m responses costs n + m
     * steps, not n x m */
    uint32_t nsv = 0, *svs = malloc((r->img->nrules + 1u) * sizeof *svs);
    uint32_t *rsv = malloc((r->img->nrules + 1u) * sizeof *rsv);
    size_t *last = malloc((r->img->nrules + 1u) * sizeof *last);
    uint64_t *stamp = calloc(r->img->nrules + 1u, sizeof *stamp), run = 0;
    if (!svs || !rsv || !last || !stamp) { free(svs); free(rsv); free(last); free(stamp); return -1; }
    for (uint32_t ri = 0; ri < r->img->nrules; ri++) {      /* rule -> index of its survey */
        uint32_t v = r->survey_val[ri], x = 0;
        while (x < nsv && svs[x] != v) x++;
        if (x == nsv) svs[nsv++] = v;
        rsv[ri] = x;
    }
    size_t k = 0;
    uint32_t cur = UINT32_MAX;
    for (size_t i = 0; i < r->n_resps; i++) {
        const RResp *p = &r->resps[i];
        if (p->survey == KB_NONE) continue;
        if (p->cust != cur) {                     /* a new customer: its first send */
            cur = p->cust;
            run++;
            while (k < ns && s[k].cust < p->cust) k++;
        }
        for (; k < ns && s[k].cust == p->cust && s[k].time <= p->time; k++) {
            last[rsv[s[k].rule]] = k;
            stamp[rsv[s[k].rule]] = run;
        }
        uint32_t x = 0;
        while (x < nsv && svs[x] != p->survey) x++;
        const RSend *best = x < nsv && stamp[x] == run ? &s[last[x]] : NULL;
        if (!best || p->time - best->time > r->ro->window) continue;
        res->attributed++;
        RSend *b = &s[best - s];
        b->hits++;
        RChain *c = &res->chains[b->chain];
        if (!c->answered) { c->answered = true; c->delay = p->time - b->time; }
        if (!c->scored && p->has_score) { c->scored = true; c->score = p->score; }
    }
    free(svs); free(rsv); free(last); free(stamp);
    /* tallies */
    for (size_t i = 0; i < res->nchains; i++) {
        const RChain *c = &res->chains[i];
        if (!c->asked) continue;
        Group *g = &res->g[c->group];
        g->arm[c->arm].n++;
        g->arm[c->arm].hit += c->answered;
        if (c->ask_time < g->first_ask[c->rule]) g->first_ask[c->rule] = c->ask_time;
        if (c->ask_time > g->last_ask[c->rule]) g->last_ask[c->rule] = c->ask_time;
        if (c->scored) {
            g->nscore[c->arm]++;
            g->sum[c->arm] += c->score;
            g->prom[c->arm] += c->score >= 9;
            g->detr[c->arm] += c->score <= 6;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        const RSend *x = &s[i];
        Group *g = &res->g[res->chains[x->chain].group];
        if (x->channel < r->img->nchannels) { g->chan[x->channel].n++; g->chan[x->channel].hit += x->hits > 0; }
        if (x->attempt <= r->maxattempt) { g->att[x->attempt].n++; g->att[x->attempt].hit += x->hits > 0; }
        KzLocal l;
        kz_to_local(x->zone ? x->zone : kz_utc(), x->time, &l);
        if (l.hour >= 0 && l.hour < 24) { g->hour[l.hour].n++; g->hour[l.hour].hit += x->hits > 0; }
    }
    /* groups in label order, "no trait" last; group 0 stays first without --by */
    if (r->ro->by_trait) {
        for (uint32_t a = 1; a < res->ng; a++)
            for (uint32_t b = a; b > 0 && label_cmp_pool(r->labels, res->g[b - 1].label, res->g[b].label) > 0; b--) {
                Group t = res->g[b]; res->g[b] = res->g[b - 1]; res->g[b - 1] = t;
                for (size_t i = 0; i < res->nchains; i++) {
                    if (res->chains[i].group == b) res->chains[i].group = b - 1;
                    else if (res->chains[i].group == b - 1) res->chains[i].group = b;
                }
            }
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------------------ */

static const char *istr(const KImage *img, uint32_t si)
{
    return si < img->nstrings ? img->strings[si] : "";
}

static const char *variant_name(const KbRule *rule, const KImage *img, uint32_t v)
{
    return rule->nvariants ? istr(img, rule->variants[v].name) : "";
}

/* Benchmark band per channel (DOMAIN.md, response rates). */
static bool bench_band(const char *ch, int *lo, int *hi)
{
    static const struct { const char *ch; int lo, hi; } b[] = {
        { "email", 8, 12 }, { "in_app", 15, 25 }, { "sms", 25, 35 }, { "whatsapp", 20, 30 },
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        if (strcmp(b[i].ch, ch) == 0) { *lo = b[i].lo; *hi = b[i].hi; return true; }
    return false;
}

static bool is_nps(const KImage *img, const KbRule *rule)
{
    return !rule->is_task && rule->target < img->nsurveys && strcmp(istr(img, img->surveys[rule->target]), "NPS") == 0;
}

/* Response delays (seconds) of the answered asks of arm a in group gi. */
static size_t delays(const Result *res, uint32_t gi, uint32_t a, int64_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nchains; i++) {
        const RChain *c = &res->chains[i];
        if (c->asked && c->answered && c->group == gi && c->arm == a) out[n++] = c->delay;
    }
    return n;
}

/* One row of the readout: an arm (rule, variant) of group g with asks,
 * in rule and variant order (tasks have none), with the Wilson interval
 * of its rate and, for a variant after a first one with asks, the
 * difference from the first and its Newcombe interval.  Walk them with
 * `for (Arm it = {0}; next_arm(r, g, &it);)`. */
typedef struct Arm {
    uint32_t ri, v, a;            /* rule, variant (0 without variants), arm */
    bool started;                 /* v is the variant last returned */
    const KbRule *rule;
    const Counts *c;
    double lo, hi;
    bool vs_first;
    double d, dl, dh;
} Arm;

static bool next_arm(const Readout *r, const Group *g, Arm *it)
{
    const KImage *img = r->img;
    while (it->ri < img->nrules) {
        const KbRule *rule = &img->rules[it->ri];
        uint32_t nv = rule->nvariants ? rule->nvariants : 1;
        it->v = it->started ? it->v + 1 : 0;
        it->started = true;
        if (rule->is_task || it->v >= nv) { it->ri++; it->started = false; continue; }
        it->a = r->arm_base[it->ri] + it->v;
        const Counts *c = &g->arm[it->a], *c0 = &g->arm[r->arm_base[it->ri]];
        if (!c->n) continue;
        it->rule = rule;
        it->c = c;
        kr_wilson(c->hit, c->n, KR_Z95, &it->lo, &it->hi);
        it->vs_first = it->v > 0 && c0->n;
        if (it->vs_first) {
            it->d = (double)c->hit / (double)c->n - (double)c0->hit / (double)c0->n;
            kr_newcombe(c->hit, c->n, c0->hit, c0->n, KR_Z95, &it->dl, &it->dh);
        }
        return true;
    }
    return false;
}

static void csv_out(const Readout *r, const Result *res, FILE *f)
{
    fputs("rule,variant,asks,answered,rate,low,high\n", f);
    for (Arm it = { 0 }; next_arm(r, &res->g[0], &it);) {
        const Counts *c = it.c;
        const char *rn = istr(r->img, it.rule->name), *vn = variant_name(it.rule, r->img, it.v);
        kt_csv_field(f, rn, strlen(rn));
        fputc(',', f);
        kt_csv_field(f, vn, strlen(vn));
        fprintf(f, ",%llu,%llu,%.4f,%.4f,%.4f\n", (unsigned long long)c->n, (unsigned long long)c->hit,
                (double)c->hit / (double)c->n, it.lo, it.hi);
    }
}


static void text_group(const Readout *r, const Result *res, uint32_t gi, FILE *f, int64_t *buf)
{
    const KImage *img = r->img;
    const Group *g = &res->g[gi];
    fprintf(f, "%-20s %-12s %6s %8s %7s %-17s %-26s %-12s %s\n", "rule", "variant", "asks", "answered",
            "rate", "95% interval", "vs first variant (95%)", "score", "time to response (median, p90)");
    const KbRule *named = NULL;             /* the rule whose name was last shown */
    for (Arm it = { 0 }; next_arm(r, g, &it);) {
        const KbRule *rule = it.rule;
        const Counts *c = it.c;
        uint32_t v = it.v, a = it.a;
        bool first_row = rule != named;         /* (not v == 0: that variant may have no row) */
        named = rule;
        char b1[64], b2[64], b3[64], b4[96];
        snprintf(b1, sizeof b1, "[%.1f%%, %.1f%%]", 100 * it.lo, 100 * it.hi);
        if (it.vs_first)
            snprintf(b2, sizeof b2, "%+.1f pts [%+.1f, %+.1f]", 100 * it.d, 100 * it.dl, 100 * it.dh);
        else snprintf(b2, sizeof b2, "%s", v > 0 ? "n/a" : "-");
        if (!g->nscore[a]) snprintf(b3, sizeof b3, "-");
        else if (is_nps(img, rule))
            snprintf(b3, sizeof b3, "NPS %+.1f", 100.0 * ((double)g->prom[a] - (double)g->detr[a]) / (double)g->nscore[a]);
        else snprintf(b3, sizeof b3, "mean %.2f", g->sum[a] / (double)g->nscore[a]);
        size_t nd = delays(res, gi, a, buf);
        if (nd) {
            FILE *m = fmemopen(b4, sizeof b4, "w");
            if (m) {
                int64_t p90 = kt_quantile(buf, nd, 0.9), med = kt_median(buf, nd);
                kt_duration(m, med, false); fputs(", ", m); kt_duration(m, p90, false);
                fputc('\0', m);
                fclose(m);
            } else b4[0] = '\0';
        } else snprintf(b4, sizeof b4, "-");
        fprintf(f, "%-20s %-12s %6llu %8llu %7.1f%% %-17s %-26s %-12s %s\n", first_row ? istr(img, rule->name) : "",
                variant_name(rule, img, v), (unsigned long long)c->n, (unsigned long long)c->hit,
                100.0 * (double)c->hit / (double)c->n, b1, b2, b3, b4);
    }
    fprintf(f, "\nsent attempts by channel:\n  %-10s %6s %8s %7s  %s\n", "channel", "sent", "answered", "rate", "benchmark");
    for (uint32_t ch = 0; ch < img->nchannels; ch++) {
        const Counts *c = &g->chan[ch];
        if (!c->n) continue;
        const char *cn = istr(img, img->channels[ch]);
        int lo, hi;
        fprintf(f, "  %-10s %6llu %8llu %6.1f%%", cn, (unsigned long long)c->n, (unsigned long long)c->hit,
                100.0 * (double)c->hit / (double)c->n);
        if (bench_band(cn, &lo, &hi)) fprintf(f, "  %d-%d%%", lo, hi);
        fputc('\n', f);
    }
    fprintf(f, "\nsent attempts by attempt:\n  %-10s %6s %8s %7s\n", "attempt", "sent", "answered", "rate");
    for (uint32_t k = 1; k <= r->maxattempt; k++) {
        const Counts *c = &g->att[k];
        if (!c->n) continue;
        fprintf(f, "  %-10u %6llu %8llu %6.1f%%\n", k, (unsigned long long)c->n, (unsigned long long)c->hit,
                100.0 * (double)c->hit / (double)c->n);
    }
    fprintf(f, "\nsent attempts by local hour of the send:\n  %-10s %6s %8s %7s\n", "hour", "sent", "answered", "rate");
    for (int h = 0; h < 24; h++) {
        const Counts *c = &g->hour[h];
        if (!c->n) continue;
        fprintf(f, "  %02d:00      %6llu %8llu %6.1f%%\n", h, (unsigned long long)c->n, (unsigned long long)c->hit,
                100.0 * (double)c->hit / (double)c->n);
    }
}

/* Warnings of group gi: experiments shorter than 28 days, arms under 100 asks. */
typedef void (*WarnFn)(void *arg, const char *rule, const char *variant, int kind, double value);

static void warnings(const Readout *r, const Result *res, uint32_t gi, WarnFn fn, void *arg)
{
    const KImage *img = r->img;
    const Group *g = &res->g[gi];
    for (uint32_t ri = 0; ri < img->nrules; ri++) {
        const KbRule *rule = &img->rules[ri];
        if (rule->is_task || rule->nvariants == 0) continue;
        /* shown with one decimal, cut (not rounded) so that 27.96 days reads 27.9, not 28.0:
         * whole tenths of a day, counted in integers; an experiment without asks has no span,
         * but each of its arms is under 100 asks (0), which the table, holding no row of
         * the rule, would not show */
        if (g->first_ask[ri] != INT64_MAX) {
            int64_t span = g->last_ask[ri] - g->first_ask[ri];
            if (span < (int64_t)MIN_DAYS * 86400)
                fn(arg, istr(img, rule->name), NULL, 0, (double)(span / 8640) / 10.0);
        }
        for (uint32_t v = 0; v < rule->nvariants; v++) {
            const Counts *c = &g->arm[r->arm_base[ri] + v];
            if (c->n < MIN_ASKS) fn(arg, istr(img, rule->name), istr(img, rule->variants[v].name), 1, (double)c->n);
        }
    }
}

static void text_warn(void *arg, const char *rule, const char *variant, int kind, double value)
{
    FILE *f = arg;
    if (kind == 0)
        fprintf(f, "  warning: rule %s: the experiment's asks span %.1f days (< %d): too early to call\n",
                rule, value, MIN_DAYS);
    else
        fprintf(f, "  warning: rule %s, variant %s: %.0f asks (< %d): too early to call\n", rule, variant,
                value, MIN_ASKS);
}

static const char *label_str(const Readout *r, uint32_t label, size_t *n)
{
    if (label == KB_NONE) { *n = 0; return NULL; }
    return kr_pool_str(r->labels, label, n);
}

static void text_out(const Readout *r, const Result *res, FILE *f, int64_t *buf)
{
    fprintf(f, "kairos readout: %s (window ", r->ro->policy_name ? r->ro->policy_name : "policy");
    kt_duration(f, r->ro->window, false);
    fprintf(f, "; %llu of %llu responses attributed)\n", (unsigned long long)res->attributed,
            (unsigned long long)res->responses);
    for (uint32_t gi = 0; gi < res->ng; gi++) {
        bool any = false;
        for (uint32_t a = 0; a < r->narms && !any; a++) any = res->g[gi].arm[a].n > 0;
        if (r->ro->by_trait) {
            if (!any) continue;
            size_t n;
            const char *s = label_str(r, res->g[gi].label, &n);
            if (s) fprintf(f, "\ncustomer.%s = %.*s\n", r->ro->by_trait, (int)n, s);
            else fprintf(f, "\ncustomer.%s not set\n", r->ro->by_trait);
        }
        fputc('\n', f);
        if (!any) { fputs("no asks were sent\n", f); continue; }
        text_group(r, res, gi, f, buf);
        fputc('\n', f);
        warnings(r, res, gi, text_warn, f);
    }
}

static void json_num(FILE *f, double x) { fprintf(f, "%.4f", x); }

typedef struct JWarn { FILE *f; bool first; } JWarn;
static void json_warn(void *arg, const char *rule, const char *variant, int kind, double value)
{
    JWarn *w = arg;
    fputs(w->first ? "{" : ",{", w->f);
    w->first = false;
    fputs("\"rule\":", w->f);
    kt_json_str(w->f, rule, strlen(rule));
    if (kind == 0) fprintf(w->f, ",\"kind\":\"short_experiment\",\"days\":%.1f}", value);
    else {
        fputs(",\"variant\":", w->f);
        kt_json_str(w->f, variant, strlen(variant));
        fprintf(w->f, ",\"kind\":\"few_asks\",\"asks\":%.0f}", value);
    }
}

static void json_counts(FILE *f, const Counts *c)
{
    fprintf(f, "\"sent\":%llu,\"answered\":%llu,\"rate\":", (unsigned long long)c->n, (unsigned long long)c->hit);
    json_num(f, c->n ? (double)c->hit / (double)c->n : 0.0);
}

/* The objects {"KEY":K,counts} of c[lo..hi] with asks, comma-separated. */
static void json_counts_list(FILE *f, const char *key, const Counts *c, uint32_t lo, uint32_t hi)
{
    bool first = true;
    for (uint32_t k = lo; k <= hi; k++) {
        if (!c[k].n) continue;
        fprintf(f, "%s{\"%s\":%u,", first ? "" : ",", key, k);
        first = false;
        json_counts(f, &c[k]);
        fputc('}', f);
    }
}

static void json_out(const Readout *r, const Result *res, FILE *f, int64_t *buf)
{
    const KImage *img = r->img;
    fputs("{\"policy\":", f);
    const char *pn = r->ro->policy_name ? r->ro->policy_name : "";
    kt_json_str(f, pn, strlen(pn));
    fprintf(f, ",\"window_seconds\":%lld,\"responses\":%llu,\"attributed\":%llu,\"by\":", (long long)r->ro->window,
            (unsigned long long)res->responses, (unsigned long long)res->attributed);
    if (r->ro->by_trait) kt_json_str(f, r->ro->by_trait, strlen(r->ro->by_trait));
    else fputs("null", f);
    fputs(",\"groups\":[", f);
    bool firstg = true;
    for (uint32_t gi = 0; gi < res->ng; gi++) {
        const Group *g = &res->g[gi];
        bool any = false;
        for (uint32_t a = 0; a < r->narms && !any; a++) any = g->arm[a].n > 0;
        if (!any && r->ro->by_trait) continue;
        fputs(firstg ? "{\"trait\":" : ",{\"trait\":", f);
        firstg = false;
        size_t ln;
        const char *ls = label_str(r, g->label, &ln);
        if (ls) kt_json_str(f, ls, ln); else fputs("null", f);
        fputs(",\"arms\":[", f);
        bool firsta = true;
        for (Arm it = { 0 }; next_arm(r, g, &it);) {
            const KbRule *rule = it.rule;
            const Counts *c = it.c;
            uint32_t v = it.v, a = it.a;
            fputs(firsta ? "{\"rule\":" : ",{\"rule\":", f);
            firsta = false;
            const char *rn = istr(img, rule->name), *vn = variant_name(rule, img, v);
            kt_json_str(f, rn, strlen(rn));
            fputs(",\"variant\":", f);
            kt_json_str(f, vn, strlen(vn));
            fprintf(f, ",\"asks\":%llu,\"answered\":%llu,\"rate\":", (unsigned long long)c->n,
                    (unsigned long long)c->hit);
            json_num(f, (double)c->hit / (double)c->n);
            fputs(",\"low\":", f); json_num(f, it.lo);
            fputs(",\"high\":", f); json_num(f, it.hi);
            fputs(",\"vs_first\":", f);
            if (it.vs_first) {
                fputs("{\"difference\":", f); json_num(f, it.d);
                fputs(",\"low\":", f); json_num(f, it.dl);
                fputs(",\"high\":", f); json_num(f, it.dh);
                fputc('}', f);
            } else fputs("null", f);
            fputs(",\"score\":", f);
            if (!g->nscore[a]) fputs("null", f);
            else if (is_nps(img, rule))
                fprintf(f, "{\"kind\":\"nps\",\"responses\":%llu,\"promoters\":%llu,\"detractors\":%llu,\"value\":%.4f}",
                        (unsigned long long)g->nscore[a], (unsigned long long)g->prom[a],
                        (unsigned long long)g->detr[a],
                        100.0 * ((double)g->prom[a] - (double)g->detr[a]) / (double)g->nscore[a]);
            else
                fprintf(f, "{\"kind\":\"mean\",\"responses\":%llu,\"value\":%.4f}",
                        (unsigned long long)g->nscore[a], g->sum[a] / (double)g->nscore[a]);
            size_t nd = delays(res, gi, a, buf);
            fputs(",\"time_to_response\":", f);
            if (nd) {
                int64_t med = kt_median(buf, nd);
                int64_t p90 = kt_quantile(buf, nd, 0.9);
                fprintf(f, "{\"median_seconds\":%lld,\"p90_seconds\":%lld}", (long long)med, (long long)p90);
            } else fputs("null", f);
            fputc('}', f);
        }
        fputs("],\"channels\":[", f);
        bool first = true;
        for (uint32_t ch = 0; ch < img->nchannels; ch++) {
            if (!g->chan[ch].n) continue;
            const char *cn = istr(img, img->channels[ch]);
            fputs(first ? "{\"channel\":" : ",{\"channel\":", f);
            first = false;
            kt_json_str(f, cn, strlen(cn));
            fputc(',', f);
            json_counts(f, &g->chan[ch]);
            int lo, hi;
            if (bench_band(cn, &lo, &hi)) fprintf(f, ",\"benchmark\":{\"low\":%.2f,\"high\":%.2f}}", lo / 100.0, hi / 100.0);
            else fputs(",\"benchmark\":null}", f);
        }
        fputs("],\"attempts\":[", f);
        json_counts_list(f, "attempt", g->att, 1, r->maxattempt);
        fputs("],\"hours\":[", f);
        json_counts_list(f, "hour", g->hour, 0, 23);
        fputs("],\"warnings\":[", f);
        JWarn w = { f, true };
        warnings(r, res, gi, json_warn, &w);
        fputs("]}", f);
    }
    fputs("]}\n", f);
}

/* ---- the command ---------------------------------------------------------------- */

/* ---- the collector (also used by report.c) --------------------------------------- */

static void readout_free(Readout *r)
{
    free(r->sends); free(r->resps); free(r->traits);
    free(r->survey_val); free(r->arm_base);
    kr_pool_free(r->labels);
}

/* Prepares r for a run over reader image u whose value pool is values. */
static int readout_init(Readout *r, const KImage *img, const KImage *u, const KrReadoutOptions *ropt,
                        KrPool *values)
{
    memset(r, 0, sizeof *r);
    r->img = img;
    r->ro = ropt;
    r->u = u;
    r->values = values;
    r->labels = kr_pool_new();
    r->survey_val = calloc(img->nrules + 1u, sizeof(uint32_t));
    r->arm_base = calloc(img->nrules + 1u, sizeof(uint32_t));
    if (!r->labels || !r->survey_val || !r->arm_base) return -1;
    r->ev_response = kb_find_event(u, KB_EV_RESPONSE);
    r->ev_identify = kb_find_event(u, KB_EV_IDENTIFY);
    r->a_survey = kb_find_attr(u, "survey");
    r->a_score = kb_find_attr(u, "score");
    r->a_trait = ropt->by_trait ? kb_find_attr(u, ropt->by_trait) : KB_NONE;
    for (uint32_t i = 0; i < img->nrules; i++) {
        const KbRule *rule = &img->rules[i];
        r->arm_base[i] = r->narms;
        r->narms += rule->nvariants ? rule->nvariants : 1;
        r->survey_val[i] = KB_NONE;
        if (!rule->is_task && rule->target < img->nsurveys) {
            uint32_t si = img->surveys[rule->target];
            r->survey_val[i] = kr_intern(r->values, istr(img, si), si < img->nstrings ? img->string_lens[si] : 0);
            if (r->survey_val[i] == UINT32_MAX) return -1;
        }
    }
    return 0;
}

struct KrReadoutRun { Readout r; };

KrReadoutRun *kr_readout_begin(const KImage *img, const KImage *u, const KrReadoutOptions *ropt, KrPool *values)
{
    KrReadoutRun *x = malloc(sizeof *x);
    if (!x) return NULL;
    if (readout_init(&x->r, img, u, ropt, values) != 0) { readout_free(&x->r); free(x); return NULL; }
    return x;
}
int kr_readout_emit(void *ctx, const KrRow *row) { return emit_row(&((KrReadoutRun *)ctx)->r, row); }
int kr_readout_event(void *ctx, const KrEvent *ev) { return on_event(&((KrReadoutRun *)ctx)->r, ev); }

int kr_readout_end(KrReadoutRun *x, KrReadoutArm **arms, size_t *narms, uint64_t *responses, uint64_t *attributed)
{
    Readout *r = &x->r;
    Result res;
    memset(&res, 0, sizeof res);
    *arms = NULL;
    *narms = 0;
    if (r->failed || attribute(r, &res) != 0) { result_free(&res); return -1; }
    KrReadoutArm *v = calloc(r->narms + 1u, sizeof *v);
    if (!v) { result_free(&res); return -1; }
    size_t n = 0;
    for (Arm it = { 0 }; next_arm(r, &res.g[0], &it);) {   /* the csv form's rows, in its order */
        KrReadoutArm *a = &v[n++];
        a->rule = it.ri;
        a->variant = it.rule->nvariants ? it.v : KB_NONE;
        a->asks = it.c->n;
        a->answered = it.c->hit;
        a->low = it.lo;
        a->high = it.hi;
    }
    *arms = v;
    *narms = n;
    *responses = res.responses;
    *attributed = res.attributed;
    result_free(&res);
    return 0;
}

void kr_readout_free(KrReadoutRun *x)
{
    if (!x) return;
    readout_free(&x->r);
    free(x);
}

/* ---- the command ---------------------------------------------------------------- */

int kr_readout(const KImage *img, const KrReadoutOptions *ropt, const KrOptions *opt,
               char **out, size_t *outlen, FILE *err)
{
    int status = 1;
    Readout r;
    memset(&r, 0, sizeof r);
    Result res;
    memset(&res, 0, sizeof res);
    int64_t *buf = NULL;
    *out = NULL;
    *outlen = 0;
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    KImage *u = NULL;
    if (!customers || !values) goto oom;
    const KImage *imgs[1] = { img };
    u = kr_reader_image(imgs, 1, ropt->by_trait);
    if (!u || readout_init(&r, img, u, ropt, values) != 0) goto oom;
    r.customers = customers;
    KrMulti m = { .imgs = { img }, .nimgs = 1, .emit = { emit_row }, .emit_ctx = { &r },
                  .on_event = on_event, .event_ctx = &r };
    if (kr_multi_run(&m, u, opt, customers, values, err) != 0) goto done;
    if (r.failed || attribute(&r, &res) != 0) goto oom;
    buf = malloc((r.n_sends + 1) * sizeof *buf);
    if (!buf) goto oom;
    char *obuf = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&obuf, &olen);
    if (!f) goto oom;
    if (ropt->format == KR_READ_CSV) csv_out(&r, &res, f);
    else if (ropt->format == KR_READ_JSON) json_out(&r, &res, f, buf);
    else text_out(&r, &res, f, buf);
    if (fclose(f) != 0) { free(obuf); goto oom; }
    *out = obuf;
    *outlen = olen;
    status = 0;
    goto done;
oom:
    fprintf(err, "kairos: out of memory\n");
done:
    free(buf);
    result_free(&res);
    kr_reader_image_free(u);
    readout_free(&r);
    kr_pool_free(customers); kr_pool_free(values);
    return status;
}
