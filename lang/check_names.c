/* check_names.c -- the checker's warnings about names that are accepted
 * silently but are probably typos (SPEC 1.6): undeclared events close to
 * other events (kc_post_events), and bare names read as attributes of an
 * event whose attributes are not declared (kc_bare_*).  They run after every
 * rule is checked, so that every use of every name is known. */
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "check_impl.h"

/* Two names are close when their edit distance is 1 or 2, whatever their
 * lengths (LANGUAGE.md section 2, fixed; SPEC 1.6). */
#define KC_TYPO_DISTANCE 2

/* The comparisons of names with names are quadratic: a search that would
 * compare more than this many pairs is left out (SPEC 1.6; only generated
 * policies with thousands of names get there). */
#define KC_TWIN_PAIRS ((uint64_t)4 << 20)

/* A did-you-mean names at most this many names (the first by name). */
#define KC_NEAR_SHOWN 3

static bool is_policy(const KCheck *c, KSpan s) { return s.src == c->policy_src; }

/* The edit distance of two names when they are close (1 or 2), else UINT32_MAX. */
static unsigned distance(const char *typed, const char *cand)
{
    unsigned d = kd_distance_at_most(typed, cand, KC_TYPO_DISTANCE);
    return d >= 1 && d <= KC_TYPO_DISTANCE ? d : UINT32_MAX;
}

/* The names closest to a name: those at the smallest distance, the first
 * KC_NEAR_SHOWN of them by name (byte order), and how many there are. */
typedef struct Near {
    unsigned d;                   /* UINT32_MAX: none */
    uint32_t n;
    const char *shown[KC_NEAR_SHOWN];
} Near;

static void near_init(Near *m) { m->d = UINT32_MAX; m->n = 0; }

static void near_add(Near *m, const char *typed, const char *cand)
{
    unsigned d = distance(typed, cand);
    if (d == UINT32_MAX || d > m->d) return;
    if (d < m->d) { m->d = d; m->n = 0; }
    uint32_t shown = m->n < KC_NEAR_SHOWN ? m->n : KC_NEAR_SHOWN;
    for (uint32_t k = 0; k < shown; k++)
        if (strcmp(m->shown[k], cand) == 0) return;      /* a let and an attribute of one name */
    m->n++;
    uint32_t k = shown;
    while (k > 0 && strcmp(m->shown[k - 1], cand) > 0) {
        if (k < KC_NEAR_SHOWN) m->shown[k] = m->shown[k - 1];
        k--;
    }
    if (k < KC_NEAR_SHOWN) m->shown[k] = cand;
}

/* The did-you-mean hint: "did you mean `a`?", "`a` or `b`?", "`a`, `b` or
 * `c`?", and for more "`a`, `b`, `c` (or N others as close)?". */
static void near_hint(KCheck *c, const Near *m)
{
    char buf[KD_MSG_MAX + 64];     /* past KD_MSG_MAX the hint is cut, marked "..." */
    size_t k = 0;
    uint32_t shown = m->n < KC_NEAR_SHOWN ? m->n : KC_NEAR_SHOWN;
    for (uint32_t i = 0; i < shown && k < sizeof buf; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == shown && m->n == shown) ? " or " : ", ";
        int w = snprintf(buf + k, sizeof buf - k, "%s`%s`", sep, m->shown[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (m->n > shown && k < sizeof buf)
        snprintf(buf + k, sizeof buf - k, " (or %u other%s as close)", m->n - shown, m->n - shown == 1 ? "" : "s");
    kd_hint(c->d, "did you mean %s?", buf);
}

/* ---- undeclared events ---------------------------------------------------------- */

static bool policy_used(const KCheck *c, uint32_t i)
{
    return i < c->cap_events && c->event_policy_use[i].hi != 0;
}

/* Undeclared events used by the policy (LANGUAGE.md section 2, fixed;
 * SPEC 1.6): close to a declared event (reserved ones included): error
 * K0302 with a did-you-mean naming the closest declared ones; else close to
 * another used event (by the policy or its libraries): warning K0301 with
 * a did-you-mean naming the closest ones.  With --strict every undeclared
 * event is K0302. */
void kc_post_events(KCheck *c)
{
    KProgram *p = c->p;
    uint32_t n = p->nevents < c->cap_events ? p->nevents : c->cap_events;
    /* how many names are compared with how many */
    uint64_t nu = 0;
    uint32_t ndecl = 0;
    uint32_t *decl = malloc((p->nevents ? p->nevents : 1) * sizeof *decl);
    if (!decl) return;
    for (uint32_t i = 0; i < p->nevents; i++) {
        if (p->events[i].declared) decl[ndecl++] = i;
        else if (policy_used(c, i)) nu++;
    }
    bool with_declared = nu * ndecl <= KC_TWIN_PAIRS;
    bool with_undeclared = nu * p->nevents <= KC_TWIN_PAIRS;
    for (uint32_t i = 0; i < n; i++) {
        KEventInfo *e = &p->events[i];
        if (e->declared) {
            if (!e->used && !e->reserved && e->decl && is_policy(c, e->decl->span)) {
                kd_warning(c->d, e->decl->event.name.span, "K0603", "event `%s` is declared but never used", e->name);
                kd_hint(c->d, "remove the declaration, or use the event in a rule");
            }
            continue;
        }
        if (!policy_used(c, i)) continue;     /* only used by the standard library */
        KSpan use = c->event_policy_use[i];
        Near dm, um;
        near_init(&dm);
        near_init(&um);
        if (with_declared)
            for (uint32_t k = 0; k < ndecl; k++) near_add(&dm, e->name, p->events[decl[k]].name);
        if (dm.n == 0 && with_undeclared)
            for (uint32_t j = 0; j < p->nevents; j++) {
                const KEventInfo *o = &p->events[j];
                if (j != i && !o->declared && o->used) near_add(&um, e->name, o->name);
            }
        if (c->opt.strict || dm.n) {
            kd_error(c->d, use, "K0302", "unknown event `%s`", e->name);
            if (dm.n) near_hint(c, &dm);
            else if (um.n) near_hint(c, &um);
            else kd_hint(c->d, "with --strict every event must be declared: `event %s`", e->name);
        } else if (um.n) {
            kd_warning(c->d, use, "K0301", "event `%s` is not declared", e->name);
            near_hint(c, &um);
        }
    }
    free(decl);
}

/* ---- bare names read as attributes -------------------------------------------- */

/* Records a bare name of the policy that the checker read as an attribute
 * of event ev (KC_NONE: the trigger, not known here) whose attributes are
 * not declared; counted: ev is the event counted by count(E where ...). */
void kc_bare_use(KCheck *c, const KCtx *x, const KExpr *e, uint32_t ev)
{
    if (!is_policy(c, e->span)) return;
    if (ev != KC_NONE && c->p->events[ev].declared) return;
    if (!c->bare_at) c->bare_at = g_hash_table_new(g_direct_hash, g_direct_equal);
    gpointer key = GUINT_TO_POINTER(e->span.lo + 1u);
    gpointer at = g_hash_table_lookup(c->bare_at, key);
    if (at) {
        KBareUse *u = &c->bare[GPOINTER_TO_UINT(at) - 1];
        if (u->event == KC_NONE) u->event = ev;
        return;
    }
    if (c->nbare == c->capbare) {
        uint32_t nc = c->capbare ? c->capbare * 2 : 16;
        KBareUse *nv = realloc(c->bare, nc * sizeof *nv);
        if (!nv) return;
        c->bare = nv;
        c->capbare = nc;
    }
    c->bare[c->nbare++] = (KBareUse){ e->name, e->span, ev, x->counted != KC_NONE, false, { 0, 0, 0 } };
    g_hash_table_insert(c->bare_at, key, GUINT_TO_POINTER(c->nbare));
}

/* Counts a use of attribute id in the policy (for the did-you-mean direction). */
void kc_attr_used(KCheck *c, uint32_t id, KSpan span)
{
    if (!is_policy(c, span)) return;
    if (id >= c->cap_attr_uses) {
        uint32_t nc = id + 16 > c->cap_attr_uses * 2 ? id + 16 : c->cap_attr_uses * 2;
        uint32_t *nv = realloc(c->attr_uses, nc * sizeof *nv);
        if (!nv) return;
        memset(nv + c->cap_attr_uses, 0, (nc - c->cap_attr_uses) * sizeof *nv);
        c->attr_uses = nv;
        c->cap_attr_uses = nc;
    }
    c->attr_uses[id]++;
}

static uint32_t attr_uses(const KCheck *c, uint32_t id)
{
    return id < c->cap_attr_uses ? c->attr_uses[id] : 0;
}

/* declared[id]: attribute id is declared by some event (malloc'd, or NULL). */
static bool *declared_attrs(const KCheck *c)
{
    bool *v = calloc(c->p->nattrs ? c->p->nattrs : 1, sizeof *v);
    if (!v) return NULL;
    for (uint32_t i = 0; i < c->p->nevents; i++) {
        const KEventInfo *e = &c->p->events[i];
        for (uint32_t k = 0; k < e->nattrs; k++)
            if (e->attrs[k] < c->p->nattrs) v[e->attrs[k]] = true;
    }
    return v;
}

void kc_bare_ends_count(KCheck *c, const KExpr *e, KSpan window)
{
    gpointer i = c->bare_at ? g_hash_table_lookup(c->bare_at, GUINT_TO_POINTER(e->span.lo + 1u)) : NULL;
    if (!i) return;
    KBareUse *u = &c->bare[GPOINTER_TO_UINT(i) - 1];
    if (u->ends_count) return;
    u->ends_count = true;
    u->window = window;
}

/* Where the attribute of a bare use is read from, for messages. */
static void read_from(const KCheck *c, const KBareUse *u, char *buf, size_t n)
{
    if (u->event == KC_NONE) snprintf(buf, n, "the trigger event");
    else if (u->counted) snprintf(buf, n, "each counted `%s`", c->p->events[u->event].name);
    else snprintf(buf, n, "the trigger event `%s`", c->p->events[u->event].name);
}

/* The bare names read as attributes of undeclared events (LANGUAGE.md
 * section 2, fixed; SPEC 1.6): K0606 when the name is an event's, K0605
 * when it is close to a let, a built-in, or an attribute declared by some
 * event or used elsewhere in the policy. */
void kc_bare_names(KCheck *c)
{
    static const char *const builtins[] = { "now", "hour", "weekday", "trigger", "customer", NULL };
    if (c->nbare == 0) return;
    bool *declared = declared_attrs(c);
    if (!declared) return;
    bool compare = (uint64_t)c->nbare * (c->p->nlets + c->p->nattrs) <= KC_TWIN_PAIRS;
    /* a name that already has an error (K0310 where a let is used with a
     * declared event) gets no warning too: one mistake, one diagnostic */
    GHashTable *failed = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (uint32_t k = 0; k < c->d->n; k++)
        if (c->d->v[k].sev == KD_ERROR && is_policy(c, c->d->v[k].span))
            g_hash_table_add(failed, GUINT_TO_POINTER(c->d->v[k].span.lo + 1u));
    for (uint32_t i = 0; i < c->nbare; i++) {
        const KBareUse *u = &c->bare[i];
        if (g_hash_table_contains(failed, GUINT_TO_POINTER(u->span.lo + 1u))) continue;
        char from[KD_MSG_MAX + 64];     /* a long name: the message is cut at KD_MSG_MAX */
        read_from(c, u, from, sizeof from);
        uint32_t ev = kc_event_find(c, u->name);
        if (ev != KC_NONE && (c->p->events[ev].declared || c->p->events[ev].used)) {
            kd_warning(c->d, u->span, "K0606", "`%s` is an event, but here it is read as an attribute of %s", u->name,
                       from);
            kd_hint(c->d, "an attribute no such event carries is unknown, and an unknown condition never holds; "
                    "for the event write `%s within 7d`, `no %s` or `count(%s) > 0`", u->name, u->name, u->name);
            continue;
        }
        if (u->ends_count) {
            /* `count(purchase where login within 2d)`, `login` no event of the policy: the text
             * reads as login's window, the rule takes it for the count's (K0607, SPEC 1.7) */
            kd_warning(c->d, u->window, "K0607",
                       "this `within` is the window of the `count`, not of `%s`: the count's `where` ends at `%s`",
                       u->name, u->name);
            kd_hint(c->d, "here `%s` is read as an attribute of %s; for the event `%s` in that window, put it in "
                    "parentheses: `(... %s within D)`; to keep this reading without the warning, write "
                    "`(... %s) within D`", u->name, from, u->name, u->name, u->name);
            continue;
        }
        /* a name that is itself an attribute declared by some event is a
         * known name, not a misspelling (the exact match) */
        uint32_t self = kc_attr_find(c, u->name);
        if (self != KC_NONE && declared[self]) continue;
        if (!compare) continue;
        Near m;
        near_init(&m);
        for (uint32_t k = 0; k < c->p->nlets; k++) near_add(&m, u->name, c->p->lets[k]->let.name.s);
        for (int k = 0; builtins[k]; k++) near_add(&m, u->name, builtins[k]);
        for (uint32_t k = 0; k < c->p->nattrs; k++)
            if (k != self && (declared[k] || attr_uses(c, k) > 0)) near_add(&m, u->name, c->p->attrs[k]);
        if (m.n == 0) continue;
        kd_warning(c->d, u->span, "K0605", "`%s` is not a let or a built-in, so it is read as an attribute of %s",
                   u->name, from);
        near_hint(c, &m);
    }
    g_hash_table_destroy(failed);
    free(declared);
}
