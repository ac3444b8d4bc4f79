/* check_names.c -- the checker's warnings about names that are accepted
 * silently but are probably typos (SPEC 1.6): undeclared events close to
 * other events (kc_post_events), and bare names read as attributes of an
 * event whose attributes are not declared (kc_bare_*).  They run after every
 * rule is checked, so that every use of every name is known. */
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "check_impl.h"

/* The largest edit distance of a did-you-mean between names (LANGUAGE.md
 * section 2); shorter names allow less (kd_name_distance). */
#define KC_TYPO_DISTANCE 2

/* The comparisons of names with names are quadratic: a search that would
 * compare more than this many pairs is left out (SPEC 1.6; only generated
 * policies with thousands of names get there). */
#define KC_TWIN_PAIRS ((uint64_t)4 << 20)

static bool is_policy(const KCheck *c, KSpan s) { return s.src == c->policy_src; }

static unsigned distance(const char *typed, const char *cand)
{
    size_t lt = strlen(typed), lc = strlen(cand);
    if (lt > lc + KC_TYPO_DISTANCE || lc > lt + KC_TYPO_DISTANCE) return UINT32_MAX;
    unsigned d = kd_name_distance(typed, cand);
    return d <= KC_TYPO_DISTANCE ? d : UINT32_MAX;
}

/* ---- undeclared events ---------------------------------------------------------- */

static bool policy_used(const KCheck *c, uint32_t i)
{
    return i < c->cap_events && c->event_policy_use[i].hi != 0;
}

/* The closest declared event (of decl[0..ndecl)) to event i (within
 * KC_TYPO_DISTANCE), or KC_NONE. */
static uint32_t closest_declared(const KCheck *c, uint32_t i, const uint32_t *decl, uint32_t ndecl)
{
    uint32_t best = KC_NONE;
    unsigned bd = UINT32_MAX;
    for (uint32_t k = 0; k < ndecl; k++) {
        uint32_t j = decl[k];
        if (j == i) continue;
        unsigned d = distance(c->p->events[i].name, c->p->events[j].name);
        if (d < bd) { bd = d; best = j; }
    }
    return best;
}

/* The closest other undeclared, used event to event i (within
 * KC_TYPO_DISTANCE): of those as close, one used only by the standard
 * library (its names are right by construction), then the most used. */
static uint32_t closest_undeclared(const KCheck *c, uint32_t i)
{
    uint32_t best = KC_NONE;
    unsigned bd = UINT32_MAX;
    for (uint32_t j = 0; j < c->p->nevents && j < c->cap_events; j++) {
        const KEventInfo *o = &c->p->events[j];
        if (j == i || o->declared || !o->used) continue;
        unsigned d = distance(c->p->events[i].name, o->name);
        if (d == UINT32_MAX || d > bd) continue;
        if (d == bd) {
            bool lib_j = !policy_used(c, j), lib_b = !policy_used(c, best);
            if (lib_b && !lib_j) continue;
            if (lib_j == lib_b && c->event_uses[j] <= c->event_uses[best]) continue;
        }
        bd = d;
        best = j;
    }
    return best;
}

/* Undeclared events used by the policy (LANGUAGE.md section 2; SPEC 1.6):
 * close to a declared event: error K0302 with a did-you-mean; else close to
 * an event used only by the standard library, or to a more used spelling
 * that is not itself suspect: warning K0301 with a did-you-mean; close to a
 * spelling used as often: warning K0301 at the later one, naming both and
 * suggesting neither.  With --strict every undeclared event is K0302. */
void kc_post_events(KCheck *c)
{
    KProgram *p = c->p;
    uint32_t n = p->nevents < c->cap_events ? p->nevents : c->cap_events;
    /* suspect[i]: i has a twin that would be suggested for it */
    bool *suspect = calloc(n ? n : 1, sizeof *suspect);
    uint32_t *twin = calloc(n ? n : 1, sizeof *twin);
    if (!suspect || !twin) { free(suspect); free(twin); return; }
    /* how many names are compared with how many */
    uint64_t nu = 0;
    uint32_t ndecl = 0;
    uint32_t *decl = malloc((p->nevents ? p->nevents : 1) * sizeof *decl);
    if (!decl) { free(suspect); free(twin); return; }
    for (uint32_t i = 0; i < p->nevents; i++) {
        if (p->events[i].declared) decl[ndecl++] = i;
        else if (policy_used(c, i)) nu++;
    }
    bool with_declared = nu * ndecl <= KC_TWIN_PAIRS;
    bool with_undeclared = nu * p->nevents <= KC_TWIN_PAIRS;
    for (uint32_t i = 0; i < n; i++) {
        twin[i] = KC_NONE;
        if (p->events[i].declared || !policy_used(c, i)) continue;
        uint32_t d = with_declared ? closest_declared(c, i, decl, ndecl) : KC_NONE;
        if (d != KC_NONE) { twin[i] = d; suspect[i] = true; continue; }
        uint32_t u = with_undeclared ? closest_undeclared(c, i) : KC_NONE;
        twin[i] = u;
        if (u != KC_NONE && (!policy_used(c, u) || c->event_uses[u] > c->event_uses[i])) suspect[i] = true;
    }
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
        uint32_t t = twin[i];
        bool declared = t != KC_NONE && p->events[t].declared;
        /* a suggestion: a declared or library event, or a more used spelling that is no typo itself */
        uint32_t best = KC_NONE;
        if (t != KC_NONE && (declared || !policy_used(c, t) || (suspect[i] && !suspect[t]))) best = t;
        if (c->opt.strict || declared) {
            kd_error(c->d, use, "K0302", "unknown event `%s`", e->name);
            if (best != KC_NONE) kd_hint(c->d, "did you mean `%s`?", p->events[best].name);
            else kd_hint(c->d, "with --strict every event must be declared: `event %s`", e->name);
        } else if (best != KC_NONE) {
            kd_warning(c->d, use, "K0301", "event `%s` is not declared", e->name);
            kd_hint(c->d, "did you mean `%s`?", p->events[best].name);
        } else if (t != KC_NONE && c->event_uses[t] == c->event_uses[i] && c->event_policy_use[t].lo < use.lo) {
            kd_warning(c->d, use, "K0301", "event `%s` is not declared, and neither is `%s`, used as often",
                       e->name, p->events[t].name);
            kd_hint(c->d, "if they are one event, one spelling is a typo: fix it, and declare the event");
            kd_note(c->d, c->event_policy_use[t], "`%s` is used here", p->events[t].name);
        }
    }
    free(suspect);
    free(twin);
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
    c->bare[c->nbare++] = (KBareUse){ e->name, e->span, ev, x->counted != KC_NONE };
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

static void consider(const char *typed, const char *cand, const char **best, unsigned *bd)
{
    unsigned d = distance(typed, cand);
    if (d < *bd) { *bd = d; *best = cand; }
}

/* Where the attribute of a bare use is read from, for messages. */
static void read_from(const KCheck *c, const KBareUse *u, char *buf, size_t n)
{
    if (u->event == KC_NONE) snprintf(buf, n, "the trigger event");
    else if (u->counted) snprintf(buf, n, "each counted `%s`", c->p->events[u->event].name);
    else snprintf(buf, n, "the trigger event `%s`", c->p->events[u->event].name);
}

/* The bare names read as attributes of undeclared events: K0606 when the
 * name is an event's, K0605 when it is close to a let, a built-in, or an
 * attribute declared or used more often elsewhere. */
void kc_bare_names(KCheck *c)
{
    static const char *const builtins[] = { "now", "hour", "weekday", "trigger", "customer", NULL };
    if (c->nbare == 0) return;
    bool *declared = declared_attrs(c);
    if (!declared) return;
    bool compare = (uint64_t)c->nbare * (c->p->nlets + c->p->nattrs) <= KC_TWIN_PAIRS;
    for (uint32_t i = 0; i < c->nbare; i++) {
        const KBareUse *u = &c->bare[i];
        char from[160];
        read_from(c, u, from, sizeof from);
        uint32_t ev = kc_event_find(c, u->name);
        if (ev != KC_NONE && (c->p->events[ev].declared || c->p->events[ev].used)) {
            kd_warning(c->d, u->span, "K0606", "`%s` is an event, but here it is read as an attribute of %s", u->name,
                       from);
            kd_hint(c->d, "an attribute no such event carries is unknown, and an unknown condition never holds; "
                    "for the event write `%s within 7d`, `no %s` or `count(%s) > 0`", u->name, u->name, u->name);
            continue;
        }
        uint32_t self = kc_attr_find(c, u->name);
        if (self != KC_NONE && declared[self]) continue;
        if (!compare) continue;
        const char *best = NULL;
        unsigned bd = UINT32_MAX;
        for (uint32_t k = 0; k < c->p->nlets; k++) consider(u->name, c->p->lets[k]->let.name.s, &best, &bd);
        for (int k = 0; builtins[k]; k++) consider(u->name, builtins[k], &best, &bd);
        uint32_t own = self != KC_NONE ? attr_uses(c, self) : 0;
        for (uint32_t k = 0; k < c->p->nattrs; k++) {
            if (k == self) continue;
            if (declared[k] || attr_uses(c, k) > own) consider(u->name, c->p->attrs[k], &best, &bd);
        }
        if (!best) continue;
        kd_warning(c->d, u->span, "K0605", "`%s` is not a let or a built-in, so it is read as an attribute of %s",
                   u->name, from);
        kd_hint(c->d, "did you mean `%s`?", best);
    }
    free(declared);
}
