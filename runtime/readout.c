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

/* What the run leaves for the attribution, one record each (sorted by
 * customer, time, then order of arrival: seq, shared by the three kinds),
 * kept in a KrSort within the memory budget. */
enum { I_SEND, I_RESP, I_TRAIT };
typedef struct RItem {
    int64_t time;
    uint32_t cust, seq;
    uint8_t kind, action;         /* action: a send's */
    bool has_score;               /* a response's */
    union {
        struct { int64_t trigger; KzZone *zone; uint32_t rule, attempt, channel, variant; } s;
        struct { double score; uint32_t survey; } p;   /* survey: value pool id, KB_NONE if not a string */
        uint32_t label;           /* a trait's */
    } u;
} RItem;

typedef struct RChain {
    uint32_t rule, variant, group, arm;
    int64_t ask_time;
    bool asked, answered, scored;
    int64_t delay;                /* first attributed response - its attempt */
    double score;
} RChain;

#define VEC(T, name) T *name; size_t n_##name, cap_##name
typedef struct Readout {
    const KImage *img, *u;
    const KrReadoutOptions *ro;
    KrPool *values, *labels;
    KrSort *items;
    uint32_t seq;
    uint64_t responses;
    bool failed;
    uint32_t ev_response, ev_identify, a_survey, a_score, a_trait;
    uint32_t *survey_val;         /* rule -> value id of its survey name (KB_NONE: task) */
    uint32_t *arm_base, narms;    /* rule -> first arm; arms: (rule, variant or none) */
    uint32_t maxattempt;
    /* one customer's items at a time, in (time, seq) order */
    VEC(RItem, sends);
    VEC(RItem, resps);
    VEC(RItem, traits);
    VEC(uint32_t, idx);           /* sends in chain order */
    VEC(uint32_t, chain_of);      /* [send] its chain */
    VEC(uint32_t, hits);          /* [send] responses attributed to it */
    VEC(RChain, chains);
    uint32_t nsv, *svs, *rsv;     /* surveys of the rules; rule -> index in svs */
    size_t *last;                 /* [survey index] latest send of the survey so far */
    bool *seen;                   /* [survey index] last[] holds one */
} Readout;

#define PUSH(r, name) (KU_RESERVE((r)->name, (r)->n_##name, (r)->cap_##name, 64) \
                       ? NULL : &(r)->name[(r)->n_##name++])

static int item_cmp(const void *pa, const void *pb)
{
    const RItem *a = pa, *b = pb;
    if (a->cust != b->cust) return a->cust < b->cust ? -1 : 1;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static RItem *item_add(Readout *r, uint8_t kind, int64_t time, uint32_t cust)
{
    RItem *x = kr_sort_slot(r->items);
    if (!x) { r->failed = true; return NULL; }
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->time = time;
    x->cust = cust;
    x->seq = r->seq++;
    return x;
}

static int emit_row(void *ctx, const KrRow *row)
{
    Readout *r = ctx;
    if (r->img->rules[row->rule].is_task) return 0;
    RItem *x = item_add(r, I_SEND, row->time, row->customer);
    if (!x) return -1;
    x->action = row->action;
    x->u.s.trigger = row->trigger;
    x->u.s.zone = row->zone;
    x->u.s.rule = row->rule;
    x->u.s.attempt = row->attempt;
    x->u.s.channel = row->channel;
    x->u.s.variant = row->variant;
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
        r->responses++;
        const KrValue *sv = attr_in(ev, r->a_survey), *sc = attr_in(ev, r->a_score);
        if (!sv || sv->tag != KB_STR) return 0;     /* of no survey: attributed to no ask */
        RItem *x = item_add(r, I_RESP, ev->time, ev->customer);
        if (!x) return -1;
        x->u.p.survey = sv->str;
        if (sc && sc->tag == KB_NUM) { x->has_score = true; x->u.p.score = sc->num; }
    } else if (ev->event == r->ev_identify && ev->event != KB_NONE && r->a_trait != KB_NONE) {
        const KrValue *v = attr_in(ev, r->a_trait);
        if (!v) return 0;
        uint32_t label = label_of(r, v);
        if (label == UINT32_MAX) return -1;
        RItem *x = item_add(r, I_TRAIT, ev->time, ev->customer);
        if (!x) return -1;
        x->u.label = label;
    }
    return 0;
}

/* ---- attribution --------------------------------------------------------------- */

typedef struct Counts { uint64_t n, hit; } Counts;

typedef struct Group {
    uint32_t label;               /* KB_NONE: no trait / no --by */
    Counts *arm;                  /* [narms] asks, answered */
    uint64_t *nscore, *prom, *detr; double *sum;  /* [narms] */
    KrTally *delay;               /* [narms] times to the first response of the answered asks */
    Counts *chan, *att, hour[24];
    int64_t *first_ask, *last_ask;                 /* [nrules] */
} Group;

typedef struct Result {
    Group *g; uint32_t ng;
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
    g->delay = calloc(r->narms + 1, sizeof *g->delay);
    g->chan = calloc(r->img->nchannels + 1, sizeof *g->chan);
    g->att = calloc(r->maxattempt + 1, sizeof *g->att);
    g->first_ask = malloc((r->img->nrules + 1) * sizeof(int64_t));
    g->last_ask = malloc((r->img->nrules + 1) * sizeof(int64_t));
    if (!g->arm || !g->nscore || !g->prom || !g->detr || !g->sum || !g->delay || !g->chan || !g->att ||
        !g->first_ask || !g->last_ask) return -1;
    for (uint32_t i = 0; i <= r->img->nrules; i++) { g->first_ask[i] = INT64_MAX; g->last_ask[i] = INT64_MIN; }
    return 0;
}

static void result_free(Result *res, uint32_t narms)
{
    for (uint32_t i = 0; i < res->ng; i++) {
        Group *g = &res->g[i];
        free(g->arm); free(g->nscore); free(g->prom); free(g->detr); free(g->sum);
        if (g->delay) for (uint32_t a = 0; a <= narms; a++) kr_tally_free(&g->delay[a]);
        free(g->delay);
        free(g->chan); free(g->att); free(g->first_ask); free(g->last_ask);
    }
    free(res->g);
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

/* The customer's sends in chain order: (rule, trigger, then as sent). */
static const RItem *g_sends;
static int chain_cmp(const void *pa, const void *pb)
{
    const RItem *a = &g_sends[*(const uint32_t *)pa], *b = &g_sends[*(const uint32_t *)pb];
    if (a->u.s.rule != b->u.s.rule) return a->u.s.rule < b->u.s.rule ? -1 : 1;
    if (a->u.s.trigger != b->u.s.trigger) return a->u.s.trigger < b->u.s.trigger ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The label of the customer's trait in force at time t (KB_NONE: none). */
static uint32_t trait_at(const Readout *r, int64_t t)
{
    size_t lo = 0, hi = r->n_traits;
    while (lo < hi) {                     /* the first entry after t: a binary search */
        size_t m = (lo + hi) / 2;
        if (r->traits[m].time <= t) lo = m + 1; else hi = m;
    }
    return lo > 0 ? r->traits[lo - 1].u.label : KB_NONE;
}

/* Attributes one customer's responses (r->resps) to its sends (r->sends)
 * and adds both to the tallies.  Customers come in id order, and each
 * customer's chains in (rule, trigger) order: the order the sums of scores
 * are taken in. */
static int attribute_customer(Readout *r, Result *res)
{
    size_t ns = r->n_sends;
    if (!ns) return 0;
    r->n_idx = r->n_chain_of = r->n_hits = r->n_chains = 0;
    if (KU_RESERVE(r->idx, ns - 1u, r->cap_idx, 64) != 0 || KU_RESERVE(r->chain_of, ns - 1u, r->cap_chain_of, 64) != 0 ||
        KU_RESERVE(r->hits, ns - 1u, r->cap_hits, 64) != 0) return -1;
    for (size_t i = 0; i < ns; i++) { r->idx[i] = (uint32_t)i; r->hits[i] = 0; }
    g_sends = r->sends;
    qsort(r->idx, ns, sizeof *r->idx, chain_cmp);
    /* chains: (rule, trigger) */
    for (size_t i = 0; i < ns;) {
        const RItem *a = &r->sends[r->idx[i]];
        size_t e = i;
        while (e < ns && r->sends[r->idx[e]].u.s.rule == a->u.s.rule && r->sends[r->idx[e]].u.s.trigger == a->u.s.trigger) e++;
        RChain *c = PUSH(r, chains);
        if (!c) return -1;
        *c = (RChain){ .rule = a->u.s.rule, .variant = a->u.s.variant };
        for (size_t k = i; k < e; k++) {
            const RItem *x = &r->sends[r->idx[k]];
            r->chain_of[r->idx[k]] = (uint32_t)(r->n_chains - 1u);
            if (x->action == KR_ACT_ASK && !c->asked) { c->asked = true; c->ask_time = x->time; }
        }
        /* its group: the trait in force at the ask */
        uint32_t label = r->ro->by_trait ? trait_at(r, c->ask_time) : KB_NONE;
        uint32_t gi = group_index(res, label);
        if (gi == KB_NONE) {
            if (group_add(res, r, label) != 0) return -1;
            gi = res->ng - 1;
        }
        c->group = gi;
        const KbRule *rule = &r->img->rules[c->rule];
        c->arm = r->arm_base[c->rule] + (c->variant < rule->nvariants ? c->variant : 0);
        i = e;
    }
    /* responses -> the latest sent attempt of the survey at or before, in
     * the window: both in time order, so each send is passed once */
    for (uint32_t x = 0; x < r->nsv; x++) r->seen[x] = false;
    size_t k = 0;
    for (size_t i = 0; i < r->n_resps; i++) {
        const RItem *p = &r->resps[i];
        for (; k < ns && r->sends[k].time <= p->time; k++) {
            uint32_t sx = r->rsv[r->sends[k].u.s.rule];
            r->last[sx] = k;
            r->seen[sx] = true;
        }
        uint32_t x = 0;
        while (x < r->nsv && r->svs[x] != p->u.p.survey) x++;
        if (x == r->nsv || !r->seen[x]) continue;
        size_t b = r->last[x];
        if (p->time - r->sends[b].time > r->ro->window) continue;
        res->attributed++;
        r->hits[b]++;
        RChain *c = &r->chains[r->chain_of[b]];
        if (!c->answered) { c->answered = true; c->delay = p->time - r->sends[b].time; }
        if (!c->scored && p->has_score) { c->scored = true; c->score = p->u.p.score; }
    }
    /* tallies */
    for (size_t i = 0; i < r->n_chains; i++) {
        const RChain *c = &r->chains[i];
        if (!c->asked) continue;
        Group *g = &res->g[c->group];
        g->arm[c->arm].n++;
        g->arm[c->arm].hit += c->answered;
        if (c->ask_time < g->first_ask[c->rule]) g->first_ask[c->rule] = c->ask_time;
        if (c->ask_time > g->last_ask[c->rule]) g->last_ask[c->rule] = c->ask_time;
        if (c->answered && kr_tally_add(&g->delay[c->arm], c->delay) != 0) return -1;
        if (c->scored) {
            g->nscore[c->arm]++;
            g->sum[c->arm] += c->score;
            g->prom[c->arm] += c->score >= 9;
            g->detr[c->arm] += c->score <= 6;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        const RItem *x = &r->sends[i];
        Group *g = &res->g[r->chains[r->chain_of[i]].group];
        bool hit = r->hits[i] > 0;
        if (x->u.s.channel < r->img->nchannels) { g->chan[x->u.s.channel].n++; g->chan[x->u.s.channel].hit += hit; }
        if (x->u.s.attempt <= r->maxattempt) { g->att[x->u.s.attempt].n++; g->att[x->u.s.attempt].hit += hit; }
        KzLocal l;
        kz_to_local(x->u.s.zone ? x->u.s.zone : kz_utc(), x->time, &l);
        if (l.hour >= 0 && l.hour < 24) { g->hour[l.hour].n++; g->hour[l.hour].hit += hit; }
    }
    return 0;
}

/* After the run: the items in customer order, one customer at a time. */
static int attribute(Readout *r, Result *res)
{
    if (r->failed || kr_sort_finish(r->items) != 0) return -1;
    res->responses = r->responses;
    uint32_t nr = r->img->nrules;
    r->svs = malloc((nr + 1u) * sizeof *r->svs);
    r->rsv = malloc((nr + 1u) * sizeof *r->rsv);
    r->last = malloc((nr + 1u) * sizeof *r->last);
    r->seen = malloc((nr + 1u) * sizeof *r->seen);
    if (!r->svs || !r->rsv || !r->last || !r->seen) return -1;
    for (uint32_t ri = 0; ri < nr; ri++) {      /* rule -> index of its survey */
        uint32_t v = r->survey_val[ri], x = 0;
        while (x < r->nsv && r->svs[x] != v) x++;
        if (x == r->nsv) r->svs[r->nsv++] = v;
        r->rsv[ri] = x;
    }
    if (group_add(res, r, KB_NONE) != 0) return -1;
    RItem buf;
    const RItem *it;
    uint32_t cur = UINT32_MAX;
    for (;;) {
        it = kr_sort_next(r->items, &buf);
        if (!it || it->cust != cur) {
            if (cur != UINT32_MAX && attribute_customer(r, res) != 0) return -1;
            if (!it) break;
            cur = it->cust;
            r->n_sends = r->n_resps = r->n_traits = 0;
        }
        RItem *x = it->kind == I_SEND ? PUSH(r, sends) : it->kind == I_RESP ? PUSH(r, resps) : PUSH(r, traits);
        if (!x) return -1;
        *x = *it;
    }
    if (kr_sort_failed(r->items)) return -1;
    /* groups in label order, "no trait" last; group 0 stays first without --by */
    if (r->ro->by_trait) {
        for (uint32_t a = 1; a < res->ng; a++)
            for (uint32_t b = a; b > 0 && label_cmp_pool(r->labels, res->g[b - 1].label, res->g[b].label) > 0; b--) {
                Group t = res->g[b]; res->g[b] = res->g[b - 1]; res->g[b - 1] = t;
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


static void text_group(const Readout *r, Result *res, uint32_t gi, FILE *f)
{
    const KImage *img = r->img;
    Group *g = &res->g[gi];
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
        if (g->delay[a].total) {
            FILE *m = fmemopen(b4, sizeof b4, "w");
            if (m) {
                int64_t p90 = kr_tally_quantile(&g->delay[a], 0.9), med = kr_tally_quantile(&g->delay[a], 0.5);
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

static void text_out(const Readout *r, Result *res, FILE *f)
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
        text_group(r, res, gi, f);
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

static void json_out(const Readout *r, Result *res, FILE *f)
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
        Group *g = &res->g[gi];
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
            fputs(",\"time_to_response\":", f);
            if (g->delay[a].total) {
                int64_t med = kr_tally_quantile(&g->delay[a], 0.5);
                int64_t p90 = kr_tally_quantile(&g->delay[a], 0.9);
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

/* ---- the collector (also used by report.c) --------------------------------------- */

static void readout_free(Readout *r)
{
    kr_sort_free(r->items);
    free(r->sends); free(r->resps); free(r->traits);
    free(r->idx); free(r->chain_of); free(r->hits); free(r->chains);
    free(r->svs); free(r->rsv); free(r->last); free(r->seen);
    free(r->survey_val); free(r->arm_base);
    kr_pool_free(r->labels);
}

/* Prepares r for a run over reader image u whose value pool is values,
 * keeping at most budget bytes of sends, responses and traits in memory
 * (the rest waits in a temporary file). */
static int readout_init(Readout *r, const KImage *img, const KImage *u, const KrReadoutOptions *ropt,
                        KrPool *values, uint64_t budget)
{
    memset(r, 0, sizeof *r);
    r->img = img;
    r->ro = ropt;
    r->u = u;
    r->values = values;
    r->labels = kr_pool_new();
    r->survey_val = calloc(img->nrules + 1u, sizeof(uint32_t));
    r->arm_base = calloc(img->nrules + 1u, sizeof(uint32_t));
    r->items = kr_sort_new(sizeof(RItem), item_cmp, (size_t)budget, "kairos-readout");
    if (!r->labels || !r->survey_val || !r->arm_base || !r->items) return -1;
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

KrReadoutRun *kr_readout_begin(const KImage *img, const KImage *u, const KrReadoutOptions *ropt, KrPool *values,
                               uint64_t budget)
{
    KrReadoutRun *x = malloc(sizeof *x);
    if (!x) return NULL;
    if (readout_init(&x->r, img, u, ropt, values, budget) != 0) { readout_free(&x->r); free(x); return NULL; }
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
    if (r->failed || attribute(r, &res) != 0) { result_free(&res, r->narms); return -1; }
    KrReadoutArm *v = calloc(r->narms + 1u, sizeof *v);
    if (!v) { result_free(&res, r->narms); return -1; }
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
    result_free(&res, r->narms);
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
    *out = NULL;
    *outlen = 0;
    KrPool *customers = kr_pool_new(), *values = kr_pool_new();
    KImage *u = NULL;
    if (!customers || !values) goto oom;
    const KImage *imgs[1] = { img };
    u = kr_reader_image(imgs, 1, ropt->by_trait);
    if (!u || readout_init(&r, img, u, ropt, values, kr_sort_budget(opt)) != 0) goto oom;
    KrMulti m = { .imgs = { img }, .nimgs = 1, .emit = { emit_row }, .emit_ctx = { &r },
                  .on_event = on_event, .event_ctx = &r };
    if (kr_multi_run(&m, u, opt, customers, values, err) != 0) goto done;
    if (attribute(&r, &res) != 0) goto oom;
    char *obuf = NULL;
    size_t olen = 0;
    FILE *f = open_memstream(&obuf, &olen);
    if (!f) goto oom;
    if (ropt->format == KR_READ_CSV) csv_out(&r, &res, f);
    else if (ropt->format == KR_READ_JSON) json_out(&r, &res, f);
    else text_out(&r, &res, f);
    if (fclose(f) != 0) { free(obuf); goto oom; }
    *out = obuf;
    *outlen = olen;
    status = 0;
    goto done;
oom:
    fprintf(err, "kairos: out of memory\n");
done:
    result_free(&res, r.narms);
    kr_reader_image_free(u);
    readout_free(&r);
    kr_pool_free(customers); kr_pool_free(values);
    return status;
}
