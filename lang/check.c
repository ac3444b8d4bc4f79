/* check.c -- the checker (prefix kc_): loads a policy with the prelude and
 * its imports, builds the program's name tables (events, attributes,
 * surveys, channels, lets, rules, caps, quiet hours, consent), checks every
 * declaration and rule (check_expr.c checks expressions), and emits the
 * program-level warnings.  See SPEC.md section 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include "check_impl.h"
#include "util.h"

/* ---- growable tables (malloc'd; freed by kc_free) ----------------------------- */

/* Appends one pointer-sized or struct element to a malloc'd array. */
static bool grow(void **v, uint32_t n, size_t elem)
{
    if ((n & (n - 1)) != 0 && n != 0) return true;    /* capacity is the next power of two */
    size_t cap = n ? (size_t)n * 2 : 4;
    void *nv = realloc(*v, cap * elem);
    if (!nv) return false;
    *v = nv;
    return true;
}
#define PUSH(c, arr, n, val) \
    do { if (grow((void **)&(arr), (n), sizeof *(arr))) (arr)[(n)++] = (val); else oom(c); } while (0)

static void oom(KCheck *c)
{
    kd_error(c->d, ((KSpan){ c->policy_src, 0, 0 }), "K0002", "out of memory");
}

static char *astr(KCheck *c, const char *s)
{
    char *r = ka_strndup(&c->p->arena, s, strlen(s));
    if (!r) oom(c);
    return r ? r : (char *)"";
}

static bool is_policy(const KCheck *c, KSpan s) { return s.src == c->policy_src; }

static uint32_t line_of(KCheck *c, KSpan s)
{
    uint32_t line, col;
    kd_line_col(&c->p->sources.v[s.src], s.lo, &line, &col);
    return line;
}

/* ---- name index ---- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static uint32_t index_get(const KIndex *x, const char *key)
{
    if (!x->cap) return KC_NONE;
    for (uint32_t i = hash_str(key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        if (!x->keys[i]) return KC_NONE;
        if (strcmp(x->keys[i], key) == 0) return x->ids[i];
    }
}

/* Adds key (which must outlive the index); false when out of memory. */
static bool index_put(KIndex *x, const char *key, uint32_t id)
{
    if ((x->n + 1) * 2 > x->cap) {
        uint32_t nc = x->cap ? x->cap * 2 : 64;
        KIndex y = { calloc(nc, sizeof *y.keys), calloc(nc, sizeof *y.ids), nc, 0 };
        if (!y.keys || !y.ids) { free(y.keys); free(y.ids); return false; }
        for (uint32_t i = 0; i < x->cap; i++)
            if (x->keys[i]) index_put(&y, x->keys[i], x->ids[i]);
        free(x->keys);
        free(x->ids);
        *x = y;
    }
    uint32_t i = hash_str(key) & (x->cap - 1);
    while (x->keys[i]) i = (i + 1) & (x->cap - 1);
    x->keys[i] = key;
    x->ids[i] = id;
    x->n++;
    return true;
}

static void index_free(KIndex *x)
{
    free(x->keys);
    free(x->ids);
    memset(x, 0, sizeof *x);
}

/* ---- names ---------------------------------------------------------------------- */

uint32_t kc_attr_id(KCheck *c, const char *name)
{
    KProgram *p = c->p;
    uint32_t id = index_get(&c->attr_index, name);
    if (id != KC_NONE) return id;
    PUSH(c, p->attrs, p->nattrs, astr(c, name));
    if (!index_put(&c->attr_index, p->attrs[p->nattrs - 1], p->nattrs - 1)) oom(c);
    return p->nattrs - 1;
}

uint32_t kc_attr_find(KCheck *c, const char *name)
{
    return index_get(&c->attr_index, name);
}

uint32_t kc_event_find(KCheck *c, const char *name)
{
    return index_get(&c->event_index, name);
}

static uint32_t event_add(KCheck *c, const char *name)
{
    KProgram *p = c->p;
    KEventInfo e;
    memset(&e, 0, sizeof e);
    e.name = astr(c, name);
    PUSH(c, p->events, p->nevents, e);
    if (!index_put(&c->event_index, e.name, p->nevents - 1)) oom(c);
    if (p->nevents > c->cap_events) {
        KSpan *nv = realloc(c->event_policy_use, (size_t)p->nevents * 2 * sizeof *nv);
        if (nv) c->event_policy_use = nv;
        uint32_t *nu = realloc(c->event_uses, (size_t)p->nevents * 2 * sizeof *nu);
        if (nu) c->event_uses = nu;
        if (!nv || !nu) { oom(c); return p->nevents - 1; }
        for (uint32_t i = c->cap_events; i < p->nevents * 2; i++) {
            nv[i] = (KSpan){ 0, 0, 0 };
            nu[i] = 0;
        }
        c->cap_events = p->nevents * 2;
    }
    return p->nevents - 1;
}

/* Records a use of an event (declared or not) and returns its id. */
uint32_t kc_event_use(KCheck *c, const KCtx *x, const char *name, KSpan span)
{
    uint32_t id = kc_event_find(c, name);
    if (id == KC_NONE) {
        id = event_add(c, name);
        c->p->events[id].first_use = span;
    }
    KEventInfo *e = &c->p->events[id];
    if (!e->used) e->first_use = span;
    e->used = true;
    if (id < c->cap_events) c->event_uses[id]++;
    if (id < c->cap_events && c->event_policy_use[id].hi == 0) {
        if (is_policy(c, span)) c->event_policy_use[id] = span;
        else if (x && x->site.hi) c->event_policy_use[id] = x->site;
    }
    return id;
}

/* The did-you-mean candidate among names[0..n) for typed, or NULL. */
static const char *closest(const char *typed, const char *const *names, uint32_t n)
{
    const char *best = NULL;
    unsigned bd = ~0u;
    for (uint32_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        unsigned dist = kd_name_distance(typed, names[i]);
        if (dist < bd) { bd = dist; best = names[i]; }
        if (bd == 1) break;                  /* no closer name exists (0 is not a correction) */
    }
    return best;
}

static const char *attr_type_list_hint(KCheck *c, const KEventInfo *e, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < e->nattrs && k < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s", i ? ", " : "", c->p->attrs[e->attrs[i]]);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k >= n && n > 4) strcpy(buf + n - 4, "...");
    return buf;
}

/* Type of attribute attr of event ev; reports an attribute a declared
 * event does not have. */
KType kc_event_attr(KCheck *c, const KCtx *x, uint32_t ev, const char *attr, KSpan span, uint32_t *attr_id)
{
    *attr_id = kc_attr_id(c, attr);
    kc_attr_used(c, *attr_id, span);
    if (ev == KC_NONE) return KT_UNTYPED;
    KEventInfo *e = &c->p->events[ev];
    for (uint32_t i = 0; i < e->nattrs; i++)
        if (e->attrs[i] == *attr_id) return e->attr_types[i];
    if (!e->declared || strcmp(e->name, "identify") == 0) return KT_UNTYPED;
    KSpan at = span;
    if (!is_policy(c, span) && x && x->site.hi) at = x->site;
    kd_error(c->d, at, "K0310", "event `%s` has no attribute `%s`", e->name, attr);
    const char *names[64];
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->nattrs && n < 64; i++) names[n++] = c->p->attrs[e->attrs[i]];
    const char *best = closest(attr, names, n);
    char buf[200];
    if (best) kd_hint(c->d, "did you mean `%s`?", best);
    else if (e->nattrs)
        kd_hint(c->d, "its attributes are: %s", attr_type_list_hint(c, e, buf, sizeof buf));
    else
        kd_hint(c->d, "`event %s` declares no attributes; add them: `event %s { %s: number }`", e->name, e->name, attr);
    return KT_ERROR;
}

uint32_t kc_survey_find(KCheck *c, const char *name)
{
    return index_get(&c->survey_index, name);
}

/* The error for an unknown survey or channel n (what: "survey" or
 * "channel"; decls: the declared ones), with the closest declared name as
 * a hint, or else how to declare it. */
static void unknown_declared(KCheck *c, KName n, const char *code, const char *what,
                             KDecl *const *decls, uint32_t ndecls)
{
    kd_error(c->d, n.span, code, "unknown %s `%s`", what, n.s);
    const char *names[256];
    uint32_t k = 0;
    for (uint32_t i = 0; i < ndecls && k < 256; i++)
        names[k++] = decls[i]->kind == KDECL_SURVEY ? decls[i]->survey.name.s : decls[i]->channel.name.s;
    const char *best = closest(n.s, names, k);
    if (best) kd_hint(c->d, "did you mean `%s`?", best);
    else kd_hint(c->d, "declare it: `%s %s`", what, n.s);
}

void kc_unknown_survey(KCheck *c, KName n)
{
    unknown_declared(c, n, "K0304", "survey", c->p->surveys, c->p->nsurveys);
}

static uint32_t channel_find(KCheck *c, const char *name)
{
    for (uint32_t i = 0; i < c->p->nchannels; i++)
        if (strcmp(c->p->channels[i]->channel.name.s, name) == 0) return i;
    return KC_NONE;
}

static void check_channel(KCheck *c, KName n)
{
    if (!n.s || channel_find(c, n.s) != KC_NONE) return;
    unknown_declared(c, n, "K0303", "channel", c->p->channels, c->p->nchannels);
}

static void check_channels(KCheck *c, KNameList l)
{
    for (uint32_t i = 0; i < l.n; i++) {
        check_channel(c, l.v[i]);
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(l.v[i].s, l.v[j].s) == 0) {
                kd_warning(c->d, l.v[i].span, "K0604", "channel `%s` is listed twice", l.v[i].s);
                break;
            }
    }
}

uint32_t kc_let_find(KCheck *c, const char *name)
{
    return index_get(&c->let_index, name);
}

/* Checks a let's body in the neutral context (once), detecting cycles.
 * Returns its type, or KT_ERROR for a let on a cycle. */
KType kc_let_neutral(KCheck *c, uint32_t id, KSpan use)
{
    KDecl *l = c->p->lets[id];
    switch (c->let_state[id]) {
    case LET_DONE: return c->let_type[id];
    case LET_BAD: return KT_ERROR;
    case LET_ACTIVE: {
        /* a cycle: the stack from id's entry to the top */
        uint32_t from = 0;
        for (uint32_t i = 0; i < c->nlet_stack; i++)
            if (c->let_stack[i] == id) from = i;
        /* a -> b -> a; past KD_MSG_MAX the message is cut, marked "..." (vformat),
         * so what does not fit here is never shown */
        char buf[KD_MSG_MAX + 64];
        size_t k = 0;
        for (uint32_t i = from; i <= c->nlet_stack; i++) {
            const char *parts[2] = { i < c->nlet_stack ? c->p->lets[c->let_stack[i]]->let.name.s : l->let.name.s,
                                     i < c->nlet_stack ? " -> " : "" };
            for (int j = 0; j < 2; j++) {
                size_t n = strlen(parts[j]);
                if (n > sizeof buf - 1 - k) n = sizeof buf - 1 - k;
                memcpy(buf + k, parts[j], n);
                k += n;
            }
        }
        buf[k] = '\0';
        if (c->nlet_stack - from == 1)
            kd_error(c->d, use, "K0309", "let `%s` refers to itself", l->let.name.s);
        else
            kd_error(c->d, use, "K0309", "lets refer to each other in a cycle: %s", buf);
        kd_hint(c->d, "a let is expanded where it is used, so it cannot depend on itself");
        for (uint32_t i = from; i < c->nlet_stack; i++) c->let_state[c->let_stack[i]] = LET_BAD;
        return KT_ERROR;
    }
    case LET_UNSEEN: break;
    }
    if (c->nlet_stack >= KC_MAX_LET_DEPTH) {
        kd_error(c->d, use, "K0317", "lets are nested too deeply (more than %d levels)", KC_MAX_LET_DEPTH);
        kd_hint(c->d, "write part of the condition out instead of using a let");
        c->let_state[id] = LET_BAD;
        for (uint32_t i = 0; i < c->nlet_stack; i++) c->let_state[c->let_stack[i]] = LET_BAD;
        return KT_ERROR;
    }
    c->let_state[id] = LET_ACTIVE;
    c->let_stack[c->nlet_stack++] = id;
    KCtx x;
    memset(&x, 0, sizeof x);
    x.trigger = KC_NONE;
    x.counted = KC_NONE;
    KType t = kc_expr(c, &x, l->let.value);
    c->nlet_stack--;
    if (c->let_state[id] == LET_BAD) return KT_ERROR;
    c->let_state[id] = LET_DONE;
    c->let_type[id] = t;
    return t;
}

/* ---- loading ------------------------------------------------------------------------- */

static KFile *add_file(KCheck *c, uint32_t src)
{
    KFile *f = kp_parse(&c->p->arena, &c->p->sources, src, c->d);
    PUSH(c, c->p->files, c->p->nfiles, f);
    return f;
}

static bool module_loaded(KCheck *c, const char *name)
{
    for (uint32_t i = 0; i < c->p->nfiles; i++)
        if (strcmp(c->p->sources.v[c->p->files[i]->src].name, name) == 0) return true;
    return false;
}

/* Loads the modules a file imports (recursively), after it in p->files. */
static void load_imports(KCheck *c, KFile *f, unsigned depth)
{
    for (KDecl *d = f->decls; d; d = d->next) {
        if (d->kind != KDECL_IMPORT) continue;
        const char *name = d->import.str;
        if (strcmp(name, "std/prelude") == 0) continue;
        size_t len;
        const char *text = ks_stdlib_text(name, &len);
        if (!text) {
            kd_error(c->d, d->import.str_span, "K0308", "unknown module `%s`", name);
            const char *const *names = ks_stdlib_names();
            uint32_t n = 0;
            while (names && names[n]) n++;
            const char *best = closest(name, names, n);
            if (!best && strncmp(name, "std/", 4) != 0) {
                char buf[256];
                snprintf(buf, sizeof buf, "std/%s", name);
                for (uint32_t i = 0; i < n; i++)
                    if (strcmp(names[i], buf) == 0) best = names[i];
            }
            if (best) kd_hint(c->d, "did you mean `%s`?", best);
            else {
                char list[400];
                size_t k = 0;
                list[0] = '\0';
                for (uint32_t i = 0; i < n && k < sizeof list - 40; i++)
                    if (strcmp(names[i], "std/prelude") != 0)
                        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "", names[i]);
                kd_hint(c->d, "the standard library has: %s", k ? list : "(no modules)");
            }
            continue;
        }
        if (module_loaded(c, name) || depth > 16) continue;
        uint32_t src = kd_source_add(&c->p->sources, name, text, len, true);
        if (src == UINT32_MAX) { oom(c); continue; }
        KFile *g = add_file(c, src);
        load_imports(c, g, depth + 1);
    }
}

/* ---- declarations ---------------------------------------------------------------------- */

typedef struct Reserved { const char *name; const char *attrs[2]; KType types[2]; uint32_t n; } Reserved;
static const Reserved reserved[] = {
    { "identify", { NULL, NULL }, { KT_ERROR, KT_ERROR }, 0 },
    { "response", { "survey", "score" }, { KT_STRING, KT_NUMBER }, 2 },
    { "opt_out", { "channel", NULL }, { KT_STRING, KT_ERROR }, 1 },
    { "opt_in", { "channel", NULL }, { KT_STRING, KT_ERROR }, 1 },
    { "consent_granted", { "channel", NULL }, { KT_STRING, KT_ERROR }, 1 },
    { "consent_revoked", { "channel", NULL }, { KT_STRING, KT_ERROR }, 1 },
};

/* Appends an attribute to e; the arrays live in the arena, so they grow
 * by doubling (an event of 40,000 attributes once took 6 GB, each
 * attribute copying all the ones before it). */
static void event_add_attr(KCheck *c, KEventInfo *e, uint32_t attr, KType t)
{
    if (e->nattrs == e->capattrs) {
        uint32_t nc = e->capattrs ? e->capattrs * 2 : 8;
        uint32_t *na = ka_alloc(&c->p->arena, (size_t)nc * sizeof *na);
        KType *nt = ka_alloc(&c->p->arena, (size_t)nc * sizeof *nt);
        if (!na || !nt) { oom(c); return; }
        if (e->nattrs) {
            memcpy(na, e->attrs, e->nattrs * sizeof *na);
            memcpy(nt, e->attr_types, e->nattrs * sizeof *nt);
        }
        e->attrs = na;
        e->attr_types = nt;
        e->capattrs = nc;
    }
    e->attrs[e->nattrs] = attr;
    e->attr_types[e->nattrs] = t;
    e->nattrs++;
}

static void add_reserved(KCheck *c)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        uint32_t id = event_add(c, reserved[i].name);
        KEventInfo *e = &c->p->events[id];
        e->declared = true;
        e->reserved = true;
        for (uint32_t k = 0; k < reserved[i].n; k++)
            event_add_attr(c, e, kc_attr_id(c, reserved[i].attrs[k]), reserved[i].types[k]);
    }
}

static const char *where_declared(KCheck *c, KSpan s)
{
    return c->p->sources.v[s.src].name;
}

static void dup_decl(KCheck *c, KName n, KSpan first, const char *what)
{
    if (!is_policy(c, first) && is_policy(c, n.span))
        kd_error(c->d, n.span, "K0307", "%s `%s` is already declared in %s", what, n.s, where_declared(c, first));
    else
        kd_error(c->d, n.span, "K0307", "%s `%s` is declared twice", what, n.s);
    kd_note(c->d, first, "the first declaration is here");
}

static void declare_event(KCheck *c, KDecl *d)
{
    const char *name = d->event.name.s;
    uint32_t id = kc_event_find(c, name);
    if (id != KC_NONE && c->p->events[id].decl) {
        dup_decl(c, d->event.name, c->p->events[id].decl->event.name.span, "event");
        return;
    }
    if (id == KC_NONE) id = event_add(c, name);
    KEventInfo *e = &c->p->events[id];
    e->declared = true;
    e->decl = d;
    uint32_t reserved = e->nattrs;           /* a reserved event's own attributes */
    KIndex seen = { 0 };                     /* name -> first declaration in d */
    for (uint32_t i = 0; i < d->event.nattrs; i++) {
        KAttrDecl *a = &d->event.attrs[i];
        uint32_t j = index_get(&seen, a->name.s);
        if (j != KC_NONE) {
            kd_error(c->d, a->name.span, "K0311", "attribute `%s` is declared twice", a->name.s);
            kd_note(c->d, d->event.attrs[j].name.span, "the first declaration is here");
            continue;
        }
        if (!index_put(&seen, a->name.s, i)) oom(c);
        uint32_t aid = kc_attr_id(c, a->name.s);
        bool found = false;
        for (uint32_t k = 0; k < reserved; k++)
            if (e->attrs[k] == aid) {
                found = true;
                if (e->attr_types[k] != a->type && a->type != KT_UNTYPED) {
                    kd_error(c->d, a->type_span, "K0312", "reserved attribute `%s.%s` is a %s", name,
                             a->name.s, ka_type_name(e->attr_types[k]));
                    kd_hint(c->d, "a redeclared reserved event keeps its reserved attributes and their types");
                }
            }
        if (!found) event_add_attr(c, e, aid, a->type);
    }
    index_free(&seen);
}

static void declare(KCheck *c, KDecl *d, bool policy_file)
{
    KProgram *p = c->p;
    switch (d->kind) {
    case KDECL_POLICY:
        if (!policy_file) break;
        if (p->policy_name && c->d) {
            for (KDecl *o = p->files[0]->decls; o && o != d; o = o->next)
                if (o->kind == KDECL_POLICY) {
                    kd_error(c->d, d->policy.str_span, "K0306", "the policy is named twice");
                    kd_note(c->d, o->policy.str_span, "the first name is here");
                    return;
                }
        }
        if (d->policy.str[0] == '\0' || strchr(d->policy.str, '/')) {
            kd_error(c->d, d->policy.str_span, "K0313", "a policy name must be non-empty and contain no `/`");
            kd_hint(c->d, "the name is used in variant hashing as POLICY/RULE/CUSTOMER");
            break;
        }
        p->policy_name = d->policy.str;
        break;
    case KDECL_IMPORT:
        break;
    case KDECL_TIMEZONE: {
        if (!policy_file) break;
        if (p->timezone) {
            kd_error(c->d, d->timezone.str_span, "K0306", "the time zone is given twice");
            break;
        }
        /* the name rule first (ku_zone_name, shared with the runtime's kz_zone):
         * GLib also takes paths, TZ strings and non-zone files */
        GTimeZone *tz = ku_zone_name(d->timezone.str) ? g_time_zone_new_identifier(d->timezone.str) : NULL;
        if (!tz) {
            kd_error(c->d, d->timezone.str_span, "K0314", "unknown time zone `%s`", d->timezone.str);
            kd_hint(c->d, "use an IANA zone name such as \"Europe/Oslo\", \"America/New_York\" or \"UTC\"");
            break;
        }
        g_time_zone_unref(tz);
        p->timezone = d->timezone.str;
        break;
    }
    case KDECL_EVENT:
        declare_event(c, d);
        break;
    case KDECL_SURVEY: {
        uint32_t id = kc_survey_find(c, d->survey.name.s);
        if (id != KC_NONE) { dup_decl(c, d->survey.name, p->surveys[id]->survey.name.span, "survey"); break; }
        PUSH(c, p->surveys, p->nsurveys, d);
        if (p->nsurveys && p->surveys[p->nsurveys - 1] == d && !index_put(&c->survey_index, d->survey.name.s, p->nsurveys - 1)) oom(c);
        break;
    }
    case KDECL_CHANNEL: {
        uint32_t id = channel_find(c, d->channel.name.s);
        if (id != KC_NONE) { dup_decl(c, d->channel.name, p->channels[id]->channel.name.span, "channel"); break; }
        if (p->nchannels == KB_MAX_CHANNELS) {
            kd_error(c->d, d->channel.name.span, "K0316", "too many channels: at most %d (the prelude's included)",
                     KB_MAX_CHANNELS);
            break;
        }
        PUSH(c, p->channels, p->nchannels, d);
        break;
    }
    case KDECL_LET: {
        const char *n = d->let.name.s;
        static const char *const builtins[] = { "now", "hour", "weekday", "trigger", "customer" };
        for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
            if (strcmp(n, builtins[i]) == 0) {
                kd_error(c->d, d->let.name.span, "K0315", "`%s` is a built-in name and cannot be redefined", n);
                return;
            }
        uint32_t id = kc_let_find(c, n);
        if (id != KC_NONE) { dup_decl(c, d->let.name, p->lets[id]->let.name.span, "let"); break; }
        PUSH(c, p->lets, p->nlets, d);
        if (p->nlets && p->lets[p->nlets - 1] == d && !index_put(&c->let_index, n, p->nlets - 1)) oom(c);
        break;
    }
    case KDECL_CAP:
        PUSH(c, p->caps, p->ncaps, d);
        break;
    case KDECL_QUIET:
        PUSH(c, p->quiets, p->nquiets, d);
        break;
    case KDECL_CONSENT:
        PUSH(c, p->consents, p->nconsents, d);
        break;
    case KDECL_RULE:
        d->rule.index = p->nrules;
        PUSH(c, p->rules, p->nrules, &d->rule);
        break;
    }
}

/* ---- rules --------------------------------------------------------------------------------- */

static void check_rule(KCheck *c, KRule *r)
{
    KProgram *p = c->p;
    /* name */
    if (r->name.s) r->default_name = r->name.s;
    else {
        /* SURVEY@LINE, whatever the survey's length */
        size_t tn = strlen(r->target.s);
        char at[16];
        int an = snprintf(at, sizeof at, "@%u", line_of(c, r->kw_span));
        char *nm = ka_alloc(&c->p->arena, tn + (size_t)an + 1);
        if (!nm) { oom(c); r->default_name = ""; }
        else {
            memcpy(nm, r->target.s, tn);
            memcpy(nm + tn, at, (size_t)an + 1);
            r->default_name = nm;
        }
    }
    uint32_t other = index_get(&c->rule_index, r->default_name);
    if (other == KC_NONE && !index_put(&c->rule_index, r->default_name, r->index)) oom(c);
    if (other != KC_NONE) {
        KRule *o = p->rules[other];
        KSpan at = r->name.s ? r->name.span : r->kw_span;
        kd_error(c->d, at, "K0305", "two rules are named `%s`", r->default_name);
        if (!r->name.s) kd_hint(c->d, "give the rules names: `rule NAME: ask ...`");
        kd_note(c->d, o->name.s ? o->name.span : o->kw_span, "the other one is here");
    }
    /* target */
    if (!r->is_task && kc_survey_find(c, r->target.s) == KC_NONE) kc_unknown_survey(c, r->target);

    KCtx x;
    memset(&x, 0, sizeof x);
    x.rule = r;
    x.trigger = KC_NONE;
    x.counted = KC_NONE;
    /* trigger */
    if (r->after_span.hi) {
        x.trigger = kc_event_use(c, &x, r->after_event.s, r->after_event.span);
        if (r->where) {
            x.in_where_of_trigger = true;
            kc_cond(c, &x, r->where, "where");
            x.in_where_of_trigger = false;
        }
    } else if (r->every_span.hi) {
        x.no_trigger = true;
    } else {
        kd_error(c->d, r->kw_span, "K0501", "this %s has no trigger", r->is_task ? "task" : "ask");
        kd_hint(c->d, "add `after EVENT [+ DURATION]` or `every PERIOD`");
    }
    /* channels */
    for (uint32_t i = 0; i < r->nattempts; i++) check_channel(c, r->attempts[i].channel);
    if (r->is_task && r->nattempts > 1) {
        kd_error(c->d, r->attempts[1].span, "K0503", "a task has no reminder chain");
        kd_hint(c->d, "tasks are internal work items: give one channel, `via phone`");
    }
    if (r->if_expr) kc_cond(c, &x, r->if_expr, "if");
    if (r->unless_expr) kc_cond(c, &x, r->unless_expr, "unless");
    if (r->at_kind == KAT_BEST_TIME) kc_event_use(c, &x, r->best_event.s, r->best_event.span);
    if (r->is_task && r->cap_span.hi) {
        kd_error(c->d, r->cap_span, "K0504", "a task has no cap");
        kd_hint(c->d, "tasks are not customer contacts: caps, quiet hours and consent do not apply to them");
    }
    if (r->is_task && r->nvariants) {
        kd_error(c->d, r->variants[0].span, "K0505", "a task has no variants");
        kd_hint(c->d, "experiments are for asks");
    }
    /* variants */
    double sum = 0;
    KIndex seen = { 0 };                     /* name -> first variant of that name */
    for (uint32_t i = 0; i < r->nvariants; i++) {
        KVariant *v = &r->variants[i];
        uint32_t j = index_get(&seen, v->name.s);
        if (j != KC_NONE) {
            kd_error(c->d, v->name.span, "K0507", "variant `%s` is declared twice in this rule", v->name.s);
            kd_note(c->d, r->variants[j].name.span, "the first one is here");
        } else if (!index_put(&seen, v->name.s, i))
            oom(c);
        if (v->has_channel) check_channel(c, v->channel);
        double before = sum;
        sum += v->pct;
        if (sum > 100 && before <= 100) {
            kd_error(c->d, v->span, "K0506", "the variants' percentages add up to more than 100%%");
            kd_hint(c->d, "the arms share 100%% of customers; what is left over is the holdout");
        }
    }
    index_free(&seen);
    /* warnings: caps */
    if (!r->is_task) {
        if (!r->cap_span.hi && p->ncaps == 0) {
            kd_warning(c->d, r->kw_span, "K0601", "ask `%s` has no frequency cap", r->default_name);
            kd_hint(c->d, "add a top-level `cap 1 per 30d` or a clause `cap 1 per 30d`");
        }
        if (r->cap_span.hi) {
            for (uint32_t i = 0; i < p->ncaps; i++) {
                KDecl *t = p->caps[i];
                if (t->cap.channels.n) continue;
                /* looser: more asks per unit of time than the top-level cap allows */
                double rule_rate = (double)r->cap_n / (double)r->cap_window;
                double top_rate = (double)t->cap.n / (double)t->cap.window;
                if (rule_rate > top_rate) {
                    /* the top-level cap as fmt writes it, whatever its spelling */
                    char dur[KU_DUR_BUF];
                    ku_fmt_dur(t->cap.window, false, dur);
                    kd_warning(c->d, r->cap_span, "K0602", "this cap is looser than the top-level `cap %u per %s`, which still applies",
                               t->cap.n, dur);
                    kd_hint(c->d, "a rule's cap can only make the top-level cap stricter; remove it or tighten it");
                    kd_note(c->d, t->span, "the top-level cap is here");
                    break;
                }
            }
        }
    }
}

/* ---- the whole program ------------------------------------------------------------------------ */

static void check_program(KCheck *c)
{
    KProgram *p = c->p;
    add_reserved(c);
    /* declarations: prelude, imports in order, then the policy */
    /* files: [policy, imports..., prelude] */
    KFile *order[64];
    uint32_t no = 0;
    if (p->nfiles > 1) order[no++] = p->files[p->nfiles - 1];              /* prelude */
    for (uint32_t i = 1; i + 1 < p->nfiles && no < 63; i++) order[no++] = p->files[i];
    order[no++] = p->files[0];
    for (uint32_t i = 0; i < no; i++)
        for (KDecl *d = order[i]->decls; d; d = d->next)
            declare(c, d, order[i] == p->files[0]);

    c->let_state = calloc(p->nlets ? p->nlets : 1, sizeof *c->let_state);
    c->let_type = calloc(p->nlets ? p->nlets : 1, sizeof *c->let_type);
    c->let_stack = calloc(p->nlets ? p->nlets : 1, sizeof *c->let_stack);
    if (!c->let_state || !c->let_type || !c->let_stack) { oom(c); return; }

    /* lets, in declaration order */
    for (uint32_t i = 0; i < p->nlets; i++) kc_let_neutral(c, i, p->lets[i]->let.name.span);
    kc_let_sizes(c);
    /* top-level items */
    for (uint32_t i = 0; i < p->ncaps; i++) check_channels(c, p->caps[i]->cap.channels);
    for (uint32_t i = 0; i < p->nquiets; i++) check_channels(c, p->quiets[i]->quiet.channels);
    for (uint32_t i = 0; i < p->nconsents; i++) check_channels(c, p->consents[i]->consent.channels);
    /* rules */
    for (uint32_t i = 0; i < p->nrules; i++) {
        uint32_t errors = c->d->nerrors;
        check_rule(c, p->rules[i]);
        if (c->d->nerrors == errors) kc_rule_budget(c, p->rules[i]);
    }
    kc_post_events(c);
    kc_bare_names(c);
}

static char *base_name(KCheck *c, const char *path)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    const char *dot = strrchr(s, '.');
    size_t n = dot && dot != s ? (size_t)(dot - s) : strlen(s);
    char *r = ka_strndup(&c->p->arena, s, n);
    if (!r) oom(c);
    return r ? r : (char *)"policy";
}

/* Loads from a source already added as id 0 of p->sources. */
static KProgram *load(KProgram *p, const char *name, const KlOptions *opt, KDiags *diags)
{
    KCheck c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.d = diags;
    if (opt) c.opt = *opt;
    c.policy_src = 0;
    KSource *src = &p->sources.v[0];
    if (ku_is_bytecode(name, src->text, src->len)) {
        diags->sources = NULL;
        kd_file_error(diags, name, "K0003", "bytecode (a compiled policy, or a file named .kbc), not policy "
                      "source: `kairos disasm` lists bytecode");
        kc_free(p);
        return NULL;
    }
    p->source_hash = kb_fnv1a64(src->text, src->len, KB_FNV_OFFSET);
    uint32_t errors_before = diags->nerrors;
    bool muted = diags->mute_warnings;
    KFile *f = add_file(&c, 0);
    load_imports(&c, f, 0);
    size_t plen;
    const char *ptext = ks_stdlib_text("std/prelude", &plen);
    if (ptext) {
        uint32_t ps = kd_source_add(&p->sources, "std/prelude", ptext, plen, true);
        if (ps == UINT32_MAX) oom(&c);
        else add_file(&c, ps);
    }
    /* A file with a syntax error was not read completely (a declaration
     * was skipped, a string swallowed the rest of its line): warnings
     * about what the program lacks would be guesses, so only errors are
     * reported (SPEC 2.1, "One mistake, one error"). */
    if (diags->nerrors > errors_before) diags->mute_warnings = true;
    if (p->nfiles > 0) check_program(&c);
    diags->mute_warnings = muted;
    if (!p->policy_name) p->policy_name = base_name(&c, name);
    /* Lints (lang/lint.c) run on a program without errors; then every
     * `# kairos:ignore K0xxx` comment silences its codes on the next line. */
    if (diags->nerrors == 0) kl_lint(p, diags);
    kl_apply_ignores(p, diags);
    free(c.let_state);
    free(c.let_type);
    free(c.let_stack);
    free(c.event_policy_use);
    free(c.event_uses);
    free(c.bare);
    if (c.bare_at) g_hash_table_destroy(c.bare_at);
    free(c.attr_uses);
    index_free(&c.event_index);
    index_free(&c.attr_index);
    index_free(&c.rule_index);
    index_free(&c.survey_index);
    index_free(&c.let_index);
    return p;
}

static KProgram *new_program(KDiags *diags)
{
    KProgram *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    ka_arena_init(&p->arena);
    kd_sources_init(&p->sources);
    diags->sources = &p->sources;
    return p;
}

KProgram *kc_load(const char *path, const KlOptions *opt, KDiags *diags)
{
    if (opt && opt->werror) diags->werror = true;
    KProgram *p = new_program(diags);
    if (!p) {
        kd_file_error(diags, path, "K0002", "out of memory");
        return NULL;
    }
    if (kd_source_read(&p->sources, path) == UINT32_MAX) {
        int e = errno;
        diags->sources = NULL;
        kd_file_error(diags, path, "K0001", "cannot read file: %s", strerror(e));
        kc_free(p);
        return NULL;
    }
    return load(p, path, opt, diags);
}

KProgram *kc_load_text(const char *name, const char *text, size_t len, const KlOptions *opt, KDiags *diags)
{
    if (opt && opt->werror) diags->werror = true;
    KProgram *p = new_program(diags);
    if (!p) {
        kd_file_error(diags, name, "K0002", "out of memory");
        return NULL;
    }
    if (kd_source_add(&p->sources, name, text, len, false) == UINT32_MAX) {
        diags->sources = NULL;
        kd_file_error(diags, name, "K0002", "out of memory");
        kc_free(p);
        return NULL;
    }
    return load(p, name, opt, diags);
}

void kc_free(KProgram *p)
{
    if (!p) return;
    free(p->files);
    free(p->events);
    free(p->attrs);
    free(p->surveys);
    free(p->channels);
    free(p->lets);
    free(p->rules);
    free(p->caps);
    free(p->quiets);
    free(p->consents);
    kd_sources_free(&p->sources);
    ka_arena_free(&p->arena);
    free(p);
}
