/* check_expr.c -- the checker's expression half: resolves every name
 * (lets, built-ins, events, attributes, surveys), computes and checks the
 * type of every node, and fills KExpr.type/res/res_id/res_let.
 *
 * Name resolution of a bare name: a let; else now/hour/weekday; else, in an
 * event position (operand of within, no, count, since, last, sum..., after,
 * best_time) an event; else an attribute: of the counted event inside
 * count(E where ...), otherwise of the trigger event.  A let's body is
 * checked once on its own (neutral context, for its type and cycles) and
 * again at each use inside a rule, in the context of that use (so inside
 * count(E where ...) its bare names are attributes of E). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check_impl.h"

static KType set(KExpr *e, KType t)
{
    e->type = t;
    return t;
}

/* Where to report a problem found in e: at e, or at the policy use site
 * when e is inside a standard-library let. */
static KSpan at(KCheck *c, const KCtx *x, KExpr *e)
{
    if (e->span.src != c->policy_src && x->site.hi) return x->site;
    return e->span;
}

static bool is_builtin_value(const char *n)
{
    return !strcmp(n, "now") || !strcmp(n, "hour") || !strcmp(n, "weekday");
}

static const char *const functions[] = {
    "count", "since", "last", "sum", "avg", "min", "max", "asked", "responded", NULL
};

static const char *article(KType t)
{
    return t == KT_UNTYPED || t == KT_ERROR ? "an" : "a";
}

/* Resolves e as an event name (event position).  Returns the event id or
 * KC_NONE after an error. */
static uint32_t event_operand(KCheck *c, const KCtx *x, KExpr *e, const char *what)
{
    if (e->kind != KEX_NAME || e->paren) {
        kd_error(c->d, at(c, x, e), "K0401", "%s needs an event name", what);
        kd_hint(c->d, "e.g. `login within 7d`, `count(ticket_opened)`, `since(purchase)`");
        set(e, KT_ERROR);
        return KC_NONE;
    }
    if (kc_let_find(c, e->name) != KC_NONE) {
        kd_error(c->d, at(c, x, e), "K0401", "%s needs an event name; `%s` is a let", what, e->name);
        set(e, KT_ERROR);
        return KC_NONE;
    }
    if (is_builtin_value(e->name) || !strcmp(e->name, "trigger") || !strcmp(e->name, "customer")) {
        kd_error(c->d, at(c, x, e), "K0401", "%s needs an event name; `%s` is a built-in", what, e->name);
        set(e, KT_ERROR);
        return KC_NONE;
    }
    uint32_t id = kc_event_use(c, x, e->name, e->span);
    e->res = KRES_EVENT;
    e->res_id = id;
    set(e, KT_UNTYPED);
    return id;
}

/* Checks a `within D` duration operand: a duration (K0402), fixed when
 * the policy is compiled and not negative (K0422: the history a rule
 * needs is sized from its windows). */
static void duration_operand(KCheck *c, const KCtx *x, KExpr *d)
{
    KType t = kc_expr(c, x, d);
    if (t == KT_ERROR) return;
    if (t != KT_DURATION) {
        kd_error(c->d, at(c, x, d), "K0402", "`within` needs a duration, found %s %s", article(t), ka_type_name(t));
        if (d->kind == KEX_NUM) kd_hint(c->d, "durations have a unit: write `%gd` (or h, m, s, w)", d->num);
        return;
    }
    int64_t secs = 0;
    int k = kl_const_duration(d, &secs);
    if (k == 0) {
        kd_error(c->d, at(c, x, d), "K0422", "a `within` window must be a constant duration");
        kd_hint(c->d, "write it with durations and numbers (`7d`, `(1d - 12h)`) or a let of one; "
                      "a window is fixed when the policy is compiled");
        d->type = KT_ERROR;
    } else if (k < 0 || secs < 0) {
        kd_error(c->d, at(c, x, d), "K0422", "a `within` window must be a duration of 0s or more%s",
                 k < 0 ? " (this one has no value: an overflow or a division by zero)" : "");
        d->type = KT_ERROR;
    }
}

/* Both operand types after an untyped one adopts the other's type. */
static KType unify(KType a, KType b)
{
    if (a == KT_ERROR || b == KT_ERROR) return KT_ERROR;
    if (a == KT_UNTYPED) return b;
    if (b == KT_UNTYPED) return a;
    return a == b ? a : KT_ERROR;
}

static const char *op_text(KOp op)
{
    switch (op) {
    case KOP_NEG: return "-";
    case KOP_NOT: return "not";
    case KOP_NO: return "no";
    case KOP_ADD: return "+";
    case KOP_SUB: return "-";
    case KOP_MUL: return "*";
    case KOP_DIV: return "/";
    case KOP_EQ: return "==";
    case KOP_NE: return "!=";
    case KOP_LT: return "<";
    case KOP_LE: return "<=";
    case KOP_GT: return ">";
    case KOP_GE: return ">=";
    case KOP_AND: return "and";
    case KOP_OR: return "or";
    }
    return "?";
}

/* A hint for a number that should have been a duration. */
static void hint_duration(KCheck *c, KExpr *a, KType ta, KExpr *b, KType tb)
{
    KExpr *num = NULL;
    if (ta == KT_DURATION && tb == KT_NUMBER) num = b;
    if (tb == KT_DURATION && ta == KT_NUMBER) num = a;
    if (!num) return;
    if (num->kind == KEX_NUM)
        kd_hint(c->d, "durations have a unit: write `%gd` (or h, m, s, w)", num->num);
    else
        kd_hint(c->d, "durations have a unit, e.g. `14d`; multiply a number by a duration: `n * 1d`");
}

static KType check_binary(KCheck *c, const KCtx *x, KExpr *e)
{
    KType ta = kc_expr(c, x, e->a), tb = kc_expr(c, x, e->b);
    if (ta == KT_ERROR || tb == KT_ERROR) return set(e, KT_ERROR);
    switch (e->op) {
    case KOP_AND:
    case KOP_OR: {
        bool ok = true;
        if (ta != KT_BOOL && ta != KT_UNTYPED) {
            kd_error(c->d, at(c, x, e->a), "K0403", "`%s` needs a bool on its left, found %s %s", op_text(e->op),
                     article(ta), ka_type_name(ta));
            ok = false;
        }
        if (tb != KT_BOOL && tb != KT_UNTYPED) {
            kd_error(c->d, at(c, x, e->b), "K0403", "`%s` needs a bool on its right, found %s %s", op_text(e->op),
                     article(tb), ka_type_name(tb));
            ok = false;
        }
        return set(e, ok ? KT_BOOL : KT_ERROR);
    }
    case KOP_EQ: case KOP_NE: case KOP_LT: case KOP_LE: case KOP_GT: case KOP_GE: {
        KType t = unify(ta, tb);
        if (t == KT_ERROR) {
            kd_error(c->d, at(c, x, e), "K0404", "cannot compare %s %s with %s %s", article(ta), ka_type_name(ta),
                     article(tb), ka_type_name(tb));
            hint_duration(c, e->a, ta, e->b, tb);
            return set(e, KT_ERROR);
        }
        if (t == KT_BOOL && e->op != KOP_EQ && e->op != KOP_NE) {
            kd_error(c->d, at(c, x, e), "K0405", "bools have no order: `%s` compares numbers, durations, times, strings or weekdays",
                     op_text(e->op));
            return set(e, KT_ERROR);
        }
        return set(e, KT_BOOL);
    }
    case KOP_ADD: case KOP_SUB: case KOP_MUL: case KOP_DIV: {
        KType a = ta, b = tb;
        /* an untyped operand takes the type that makes the operation valid;
         * where several would (untyped + duration: a duration or a time),
         * the result stays untyped and adapts to its own context */
        if (a == KT_UNTYPED && b == KT_UNTYPED) return set(e, KT_NUMBER);
        if (a == KT_UNTYPED || b == KT_UNTYPED) {
            KType o = a == KT_UNTYPED ? b : a;
            bool left = a == KT_UNTYPED;
            KType r = KT_ERROR;
            switch (e->op) {
            case KOP_ADD:
                r = o == KT_NUMBER ? KT_NUMBER : o == KT_DURATION ? KT_UNTYPED : o == KT_TIME ? KT_TIME : KT_ERROR;
                break;
            case KOP_SUB:
                if (o == KT_NUMBER) r = KT_NUMBER;
                else if (o == KT_DURATION) r = left ? KT_UNTYPED : KT_DURATION;
                else if (o == KT_TIME) r = left ? KT_DURATION : KT_UNTYPED;
                break;
            case KOP_MUL:
                r = o == KT_NUMBER ? KT_NUMBER : o == KT_DURATION ? KT_DURATION : KT_ERROR;
                break;
            case KOP_DIV:
                if (o == KT_NUMBER) r = KT_NUMBER;
                else if (o == KT_DURATION) r = left ? KT_NUMBER : KT_DURATION;
                break;
            default: break;
            }
            if (r == KT_ERROR)
                kd_error(c->d, at(c, x, e), "K0406", "cannot apply `%s` to %s %s and %s %s", op_text(e->op),
                         article(ta), ka_type_name(ta), article(tb), ka_type_name(tb));
            return set(e, r);
        }
        KType r = KT_ERROR;
        switch (e->op) {
        case KOP_ADD:
            if (a == KT_NUMBER && b == KT_NUMBER) r = KT_NUMBER;
            else if (a == KT_DURATION && b == KT_DURATION) r = KT_DURATION;
            else if ((a == KT_TIME && b == KT_DURATION) || (a == KT_DURATION && b == KT_TIME)) r = KT_TIME;
            break;
        case KOP_SUB:
            if (a == KT_NUMBER && b == KT_NUMBER) r = KT_NUMBER;
            else if (a == KT_DURATION && b == KT_DURATION) r = KT_DURATION;
            else if (a == KT_TIME && b == KT_DURATION) r = KT_TIME;
            else if (a == KT_TIME && b == KT_TIME) r = KT_DURATION;
            break;
        case KOP_MUL:
            if (a == KT_NUMBER && b == KT_NUMBER) r = KT_NUMBER;
            else if ((a == KT_NUMBER && b == KT_DURATION) || (a == KT_DURATION && b == KT_NUMBER)) r = KT_DURATION;
            break;
        case KOP_DIV:
            if (a == KT_NUMBER && b == KT_NUMBER) r = KT_NUMBER;
            else if (a == KT_DURATION && b == KT_NUMBER) r = KT_DURATION;
            else if (a == KT_DURATION && b == KT_DURATION) r = KT_NUMBER;
            break;
        default: break;
        }
        if (r == KT_ERROR) {
            kd_error(c->d, at(c, x, e), "K0406", "cannot apply `%s` to %s %s and %s %s", op_text(e->op),
                     article(ta), ka_type_name(ta), article(tb), ka_type_name(tb));
            hint_duration(c, e->a, ta, e->b, tb);
        }
        return set(e, r);
    }
    default:
        return set(e, KT_ERROR);
    }
}

static KType check_unary(KCheck *c, const KCtx *x, KExpr *e)
{
    if (e->op == KOP_NO) {
        KExpr *a = e->a;
        if (a->kind == KEX_WITHIN && !a->paren) {
            kc_expr(c, x, a);
            return set(e, a->type == KT_ERROR ? KT_ERROR : KT_BOOL);
        }
        if (a->kind == KEX_NAME && !a->paren && kc_let_find(c, a->name) == KC_NONE && !is_builtin_value(a->name)) {
            return set(e, event_operand(c, x, a, "`no`") == KC_NONE ? KT_ERROR : KT_BOOL);
        }
        KType t = kc_expr(c, x, a);
        if (t == KT_ERROR) return set(e, KT_ERROR);
        if (t != KT_BOOL && t != KT_UNTYPED) {
            kd_error(c->d, at(c, x, a), "K0407", "`no` needs an event or a bool, found %s %s", article(t), ka_type_name(t));
            return set(e, KT_ERROR);
        }
        return set(e, KT_BOOL);
    }
    KType t = kc_expr(c, x, e->a);
    if (t == KT_ERROR) return set(e, KT_ERROR);
    if (e->op == KOP_NOT) {
        if (t != KT_BOOL && t != KT_UNTYPED) {
            kd_error(c->d, at(c, x, e->a), "K0403", "`not` needs a bool, found %s %s", article(t), ka_type_name(t));
            return set(e, KT_ERROR);
        }
        return set(e, KT_BOOL);
    }
    /* negation */
    if (t == KT_UNTYPED) t = KT_NUMBER;
    if (t != KT_NUMBER && t != KT_DURATION) {
        kd_error(c->d, at(c, x, e->a), "K0406", "cannot negate %s %s", article(t), ka_type_name(t));
        return set(e, KT_ERROR);
    }
    return set(e, t);
}

/* A bare name outside event positions. */
/* After K0310 for a bare name that is an event's: the hint for the event
 * (SPEC 1.6), in a rule's condition and in a count's where alike. */
static void event_name_hint(KCheck *c, const char *name)
{
    uint32_t ev = kc_event_find(c, name);
    if (ev != KC_NONE && (c->p->events[ev].declared || c->p->events[ev].used))
        kd_hint(c->d, "`%s` is an event: write `%s within 7d`, `no %s` or `count(%s) > 0`", name, name, name, name);
}

static KType check_name(KCheck *c, const KCtx *x, KExpr *e)
{
    if (e->name[0] == '\0') return set(e, KT_ERROR);    /* the parser's placeholder (K0221) */
    uint32_t lid = kc_let_find(c, e->name);
    if (lid != KC_NONE) {
        e->res = KRES_LET;
        e->res_let = c->p->lets[lid];
        e->res_id = lid;
        KType t = kc_let_neutral(c, lid, e->span);
        if (t == KT_ERROR || !x->rule) return set(e, t);
        /* re-check the body in this rule's context */
        if (c->depth >= KC_MAX_LET_DEPTH) {
            kd_error(c->d, x->site.hi ? x->site : e->span, "K0317", "lets are nested too deeply (more than %d levels)",
                     KC_MAX_LET_DEPTH);
            kd_hint(c->d, "write part of the condition out instead of using a let");
            return set(e, KT_ERROR);
        }
        if (c->let_size && c->depth == 0) {   /* the budget of written-out lets (K0318) */
            uint64_t n = c->let_size[lid];
            if (n > c->max_expanded - c->expanded) {
                if (c->expansion_reported) return set(e, KT_ERROR);
                c->expansion_reported = true;
                kd_error(c->d, at(c, x, e), "K0318",
                         "lets used inside one another write out too large an expression here (more than %llu nodes in all)",
                         (unsigned long long)c->max_expanded);
                kd_hint(c->d, "a let is expanded at every use: a let that uses another one twice doubles it");
                return set(e, KT_ERROR);
            }
            c->expanded += n;
        }
        KCtx y = *x;                      /* a let's bare names mean what they would mean
                                             here: inside count(E where ...), attributes of E */
        if (!y.site.hi && e->span.src == c->policy_src) y.site = e->span;
        y.site_let = e->name;
        uint32_t before = c->d->nerrors;
        c->depth++;
        t = kc_expr(c, &y, e->res_let->let.value);
        c->depth--;
        /* the body checked alone had no error: this one comes from what
         * its names mean here (an attribute of this rule's trigger, of
         * the counted event): the use that makes it, as a note; once, at
         * the outermost let written in the policy */
        const KDiag *last = c->d->n && !c->d->last_dropped ? &c->d->v[c->d->v[c->d->n - 1].group] : NULL;
        bool at_use = last && last->span.src == e->span.src && last->span.lo == e->span.lo &&
                      last->span.hi == e->span.hi;         /* (already shown here: K0317) */
        if (c->d->nerrors > before && last && !at_use && e->span.src == c->policy_src && !x->site_let)
            kd_note(c->d, e->span, "through let `%s`, used here in rule `%s`", e->name, x->rule->default_name);
        return set(e, t);
    }
    if (!strcmp(e->name, "now")) { e->res = KRES_NOW; return set(e, KT_TIME); }
    if (!strcmp(e->name, "hour")) { e->res = KRES_HOUR; return set(e, KT_NUMBER); }
    if (!strcmp(e->name, "weekday")) { e->res = KRES_WEEKDAY_NOW; return set(e, KT_WEEKDAY); }
    if (!strcmp(e->name, "trigger") || !strcmp(e->name, "customer")) {
        kd_error(c->d, at(c, x, e), "K0408", "`%s` needs an attribute: `%s.ATTR`", e->name, e->name);
        return set(e, KT_ERROR);
    }
    /* an attribute */
    if (x->counted != KC_NONE) {
        e->res = KRES_EVENT_ATTR;
        KType t = kc_event_attr(c, x, x->counted, e->name, e->span, &e->res_id);
        if (t != KT_ERROR) kc_bare_use(c, x, e, x->counted);
        else event_name_hint(c, e->name);
        return set(e, t);
    }
    if (x->no_trigger) {
        kd_error(c->d, at(c, x, e), "K0409", "`%s` is not a let or a built-in, and this rule has no trigger event to read it from",
                 e->name);
        kd_hint(c->d, "a rule with an `every` trigger has no trigger attributes; use `customer.%s` for a profile trait",
                e->name);
        return set(e, KT_ERROR);
    }
    e->res = KRES_TRIGGER_ATTR;
    KType t = kc_event_attr(c, x, x->trigger, e->name, e->span, &e->res_id);
    if (t != KT_ERROR) kc_bare_use(c, x, e, x->trigger);
    if (t == KT_ERROR) event_name_hint(c, e->name);
    return set(e, t);
}

static KType check_field(KCheck *c, const KCtx *x, KExpr *e)
{
    KExpr *b = e->a;
    if (b->kind == KEX_NAME && !b->paren && !strcmp(b->name, "trigger") && kc_let_find(c, "trigger") == KC_NONE) {
        set(b, KT_UNTYPED);
        if (x->no_trigger) {
            kd_error(c->d, at(c, x, e), "K0409", "a rule with an `every` trigger has no trigger event");
            kd_hint(c->d, "use `customer.%s` for a profile trait", e->field);
            return set(e, KT_ERROR);
        }
        e->res = KRES_TRIGGER_ATTR;
        return set(e, kc_event_attr(c, x, x->trigger, e->field, e->field_span, &e->res_id));
    }
    if (b->kind == KEX_NAME && !b->paren && !strcmp(b->name, "customer")) {
        set(b, KT_UNTYPED);
        e->res = KRES_TRAIT;
        e->res_id = kc_attr_id(c, e->field);
        return set(e, KT_UNTYPED);
    }
    if (b->kind == KEX_CALL && !b->paren && !strcmp(b->name, "last")) {
        set(b, KT_UNTYPED);
        if (b->where || b->within) {
            kd_error(c->d, at(c, x, b), "K0410", "`last(EVENT)` takes no `where` or `within`");
            return set(e, KT_ERROR);
        }
        if (b->nargs != 1) {
            kd_error(c->d, at(c, x, b), "K0411", "`last` takes one event: `last(EVENT).ATTR`");
            return set(e, KT_ERROR);
        }
        uint32_t ev = event_operand(c, x, b->args[0], "`last`");
        if (ev == KC_NONE) return set(e, KT_ERROR);
        e->res = KRES_EVENT_ATTR;
        return set(e, kc_event_attr(c, x, ev, e->field, e->field_span, &e->res_id));
    }
    kd_error(c->d, at(c, x, e), "K0412", "`.%s`: only `trigger.ATTR`, `customer.ATTR` and `last(EVENT).ATTR` read attributes",
             e->field);
    if (b->kind == KEX_NAME)
        kd_hint(c->d, "an event's attribute is read through `last(%s).%s`, or aggregated: `sum(%s.%s within 30d)`",
                b->name, e->field, b->name, e->field);
    if (b->kind == KEX_NAME) set(b, KT_UNTYPED);   /* said above: not also a bare name (an event's, say) */
    else kc_expr(c, x, b);
    return set(e, KT_ERROR);
}

static bool no_where(KCheck *c, const KCtx *x, KExpr *e)
{
    if (!e->where) return true;
    kd_error(c->d, at(c, x, e->where), "K0410", "`%s` takes no `where`; only `count` filters", e->name);
    return false;
}

static bool no_within(KCheck *c, const KCtx *x, KExpr *e)
{
    if (!e->within) return true;
    kd_error(c->d, at(c, x, e->within), "K0410", "`%s` takes no `within`", e->name);
    return false;
}

static bool one_arg(KCheck *c, const KCtx *x, KExpr *e, const char *form)
{
    if (e->nargs == 1) return true;
    kd_error(c->d, at(c, x, e), "K0411", "`%s` takes one argument: `%s`", e->name, form);
    return false;
}

/* K0607: `count(t where no login within 2d)` -- the trailing `within` is
 * always the count's window (LANGUAGE.md 3, fixed), though the text puts
 * it after an event, where it reads as that event's window.  Warns when
 * the where's last operand (down its unparenthesised right side, as the
 * parser took the window off) is an event. */
static void within_of_count(KCheck *c, const KCtx *x, const KExpr *e, uint32_t counted)
{
    const KExpr *w = e->where;
    while (w && !w->paren && (w->kind == KEX_BINARY || w->kind == KEX_UNARY))
        w = w->kind == KEX_BINARY ? w->b : w->a;
    if (!w || w->paren || w->kind != KEX_NAME) return;
    /* a bare name read as an attribute of an undeclared counted event
     * (`count(purchase where login within 2d)`: each purchase's attribute, which
     * no purchase has, so the count is always 0): marked on its bare use, and
     * warned after every rule is checked, K0607, unless the name turns out to be
     * an event's, which K0606 says (one mistake, one warning) */
    if (w->res == KRES_EVENT_ATTR && counted != KC_NONE && !c->p->events[counted].declared) {
        kc_bare_ends_count(c, w, at(c, x, e->within));
        return;
    }
    if (w->res != KRES_EVENT) return;
    kd_warning(c->d, at(c, x, e->within), "K0607",
               "this `within` is the window of the `count`, not of `%s`: the count's `where` ends at `%s`",
               w->name, w->name);
    kd_hint(c->d, "for `%s` in that window, put it in parentheses: `(... %s within D)`; to keep this reading "
                  "without the warning, write `(... %s) within D`", w->name, w->name, w->name);
}

static KType check_call(KCheck *c, const KCtx *x, KExpr *e)
{
    const char *f = e->name;
    if (!strcmp(f, "count")) {
        if (!one_arg(c, x, e, "count(EVENT [where COND] [within DURATION])")) return set(e, KT_ERROR);
        uint32_t ev = event_operand(c, x, e->args[0], "`count`");
        bool ok = ev != KC_NONE;
        if (e->where && x->where_depth >= KC_MAX_WHERE_DEPTH) {
            kd_error(c->d, at(c, x, e), "K0420", "`count(... where ...)` is nested too deeply (more than %d levels)",
                     KC_MAX_WHERE_DEPTH);
            kd_hint(c->d, "move the inner conditions into fewer `where` clauses");
            if (x->site_let && x->site.hi) kd_note(c->d, x->site, "through let `%s`, used here", x->site_let);
            return set(e, KT_ERROR);
        }
        if (e->where) {
            KCtx y = *x;
            y.where_depth++;
            y.counted = ev == KC_NONE ? KC_NONE : ev;
            if (ev == KC_NONE) { kc_expr(c, &y, e->where); ok = false; }
            else kc_cond(c, &y, e->where, "where");
            if (e->where->type == KT_ERROR) ok = false;
        }
        if (e->within) {
            duration_operand(c, x, e->within);
            if (e->within->type != KT_DURATION) ok = false;
        }
        if (ok && e->where && e->within) within_of_count(c, x, e, ev);
        return set(e, ok ? KT_NUMBER : KT_ERROR);
    }
    if (!strcmp(f, "since")) {
        bool ok = no_where(c, x, e) & no_within(c, x, e) & one_arg(c, x, e, "since(EVENT)");
        if (!ok) return set(e, KT_ERROR);
        return set(e, event_operand(c, x, e->args[0], "`since`") == KC_NONE ? KT_ERROR : KT_DURATION);
    }
    if (!strcmp(f, "last")) {
        kd_error(c->d, at(c, x, e), "K0413", "`last(EVENT)` needs an attribute: `last(EVENT).ATTR`");
        kd_hint(c->d, "for the time since the last event, write `since(EVENT)`");
        return set(e, KT_ERROR);
    }
    if (!strcmp(f, "sum") || !strcmp(f, "avg") || !strcmp(f, "min") || !strcmp(f, "max")) {
        bool ok = no_where(c, x, e) & one_arg(c, x, e, "sum(EVENT.ATTR [within DURATION])");
        if (!ok) return set(e, KT_ERROR);
        KExpr *a = e->args[0];
        if (a->kind != KEX_FIELD || a->paren || a->a->kind != KEX_NAME || a->a->paren) {
            kd_error(c->d, at(c, x, a), "K0414", "`%s` aggregates an event attribute: `%s(EVENT.ATTR)`", f, f);
            return set(e, KT_ERROR);
        }
        uint32_t ev = event_operand(c, x, a->a, "an aggregate");
        if (ev == KC_NONE) return set(e, KT_ERROR);
        a->res = KRES_EVENT_ATTR;
        KType t = kc_event_attr(c, x, ev, a->field, a->field_span, &a->res_id);
        set(a, t);
        if (t == KT_ERROR) return set(e, KT_ERROR);
        if (t != KT_NUMBER && t != KT_UNTYPED) {
            kd_error(c->d, at(c, x, a), "K0415", "`%s` needs a number attribute; `%s` is %s %s", f, a->field,
                     article(t), ka_type_name(t));
            return set(e, KT_ERROR);
        }
        if (e->within) {
            duration_operand(c, x, e->within);
            if (e->within->type != KT_DURATION) return set(e, KT_ERROR);
        }
        return set(e, KT_NUMBER);
    }
    if (!strcmp(f, "asked") || !strcmp(f, "responded")) {
        bool ok = no_where(c, x, e) & one_arg(c, x, e, !strcmp(f, "asked") ? "asked(SURVEY [within DURATION])"
                                                                           : "responded(SURVEY [within DURATION])");
        if (!ok) return set(e, KT_ERROR);
        KExpr *a = e->args[0];
        if (a->kind != KEX_NAME || a->paren) {
            kd_error(c->d, at(c, x, a), "K0416", "`%s` needs a survey name", f);
            return set(e, KT_ERROR);
        }
        uint32_t s = kc_survey_find(c, a->name);
        if (s == KC_NONE) {
            KName n = { a->name, at(c, x, a) };
            kc_unknown_survey(c, n);
            return set(e, KT_ERROR);
        }
        a->res = KRES_SURVEY;
        a->res_id = s;
        set(a, KT_UNTYPED);
        if (e->within) {
            duration_operand(c, x, e->within);
            if (e->within->type != KT_DURATION) return set(e, KT_ERROR);
        }
        return set(e, KT_BOOL);
    }
    if (!strcmp(f, "best_time")) {
        kd_error(c->d, at(c, x, e), "K0417", "`best_time` is only a send window: `at best_time(EVENT)`");
        return set(e, KT_ERROR);
    }
    kd_error(c->d, at(c, x, e), "K0418", "unknown function `%s`", f);
    const char *best = NULL;
    for (int i = 0; functions[i]; i++)
        if (kd_close_name(f, functions[i])) { best = functions[i]; break; }
    if (best) kd_hint(c->d, "did you mean `%s`?", best);
    else kd_hint(c->d, "the functions are count, since, last, sum, avg, min, max, asked, responded");
    for (uint32_t i = 0; i < e->nargs; i++) kc_expr(c, x, e->args[i]);
    return set(e, KT_ERROR);
}

static KType check_in(KCheck *c, const KCtx *x, KExpr *e)
{
    KType t = kc_expr(c, x, e->a);
    bool ok = t != KT_ERROR;
    for (uint32_t i = 0; i < e->nargs; i++) {
        KType ti = kc_expr(c, x, e->args[i]);
        if (ti == KT_ERROR || !ok) { ok = false; continue; }
        KType u = unify(t, ti);
        if (u == KT_ERROR) {
            kd_error(c->d, at(c, x, e->args[i]), "K0404", "cannot compare %s %s with %s %s", article(t),
                     ka_type_name(t), article(ti), ka_type_name(ti));
            ok = false;
        } else t = u;
    }
    return set(e, ok ? KT_BOOL : KT_ERROR);
}

KType kc_expr(KCheck *c, const KCtx *x, KExpr *e)
{
    if (!e) return KT_ERROR;
    e->res = KRES_NONE;
    switch (e->kind) {
    case KEX_NUM: return set(e, isnan(e->num) ? KT_ERROR : KT_NUMBER);   /* NAN: a bad number, reported */
    case KEX_STR: return set(e, e->bad ? KT_ERROR : KT_STRING);
    case KEX_BOOL: return set(e, KT_BOOL);
    case KEX_DUR: return set(e, e->dur < 0 ? KT_ERROR : KT_DURATION);  /* < 0: a bad duration, reported */
    case KEX_WEEKDAY: return set(e, KT_WEEKDAY);
    case KEX_NAME: return check_name(c, x, e);
    case KEX_FIELD: return check_field(c, x, e);
    case KEX_CALL: return check_call(c, x, e);
    case KEX_UNARY: return check_unary(c, x, e);
    case KEX_BINARY: return check_binary(c, x, e);
    case KEX_IN: return check_in(c, x, e);
    case KEX_WITHIN: {
        uint32_t ev = event_operand(c, x, e->a, "`within`");
        duration_operand(c, x, e->b);
        if (ev == KC_NONE || e->b->type != KT_DURATION) return set(e, KT_ERROR);
        return set(e, KT_BOOL);
    }
    }
    return set(e, KT_ERROR);
}

void kc_cond(KCheck *c, const KCtx *x, KExpr *e, const char *where)
{
    KType t = kc_expr(c, x, e);
    if (t == KT_ERROR || t == KT_BOOL || t == KT_UNTYPED) return;
    kd_error(c->d, at(c, x, e), "K0419", "`%s` needs a condition (a bool), found %s %s", where, article(t), ka_type_name(t));
    if (t == KT_NUMBER && e->kind == KEX_CALL && !strcmp(e->name, "count"))
        kd_hint(c->d, "compare it: `count(...) > 0`");
}

/* ---- budgets: written-out lets, run-time stack ---------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static uint64_t let_size_of(KCheck *c, uint32_t id);

/* The nodes of e with its lets written out (saturating). */
static uint64_t nodes(KCheck *c, const KExpr *e)
{
    if (!e) return 0;
    if (e->kind == KEX_NAME && e->res == KRES_LET && e->res_let && e->res_id < c->p->nlets)
        return sat_add(1, let_size_of(c, e->res_id));
    uint64_t n = 1;
    if (e->kind == KEX_UNARY || e->kind == KEX_BINARY || e->kind == KEX_FIELD || e->kind == KEX_WITHIN) {
        n = sat_add(n, nodes(c, e->a));
        n = sat_add(n, nodes(c, e->b));
    }
    if (e->kind == KEX_CALL || e->kind == KEX_IN) {
        if (e->kind == KEX_IN) n = sat_add(n, nodes(c, e->a));
        for (uint32_t i = 0; i < e->nargs; i++) n = sat_add(n, nodes(c, e->args[i]));
        n = sat_add(n, nodes(c, e->where));
        n = sat_add(n, nodes(c, e->within));
    }
    return n;
}

/* Memoized; a let with errors (cycles and too deep nesting included)
 * counts 1. */
static uint64_t let_size_of(KCheck *c, uint32_t id)
{
    if (c->let_size[id]) return c->let_size[id];
    c->let_size[id] = 1;
    if (c->let_state[id] != LET_DONE) return 1;
    uint64_t n = nodes(c, c->p->lets[id]->let.value);
    c->let_size[id] = n ? n : 1;
    return c->let_size[id];
}

void kc_let_sizes(KCheck *c)
{
    KProgram *p = c->p;
    size_t text = p->nfiles && p->files[0] && p->files[0]->src < p->sources.n ? p->sources.v[p->files[0]->src].len : 0;
    c->max_expanded = text > KC_MIN_EXPANSION ? text : KC_MIN_EXPANSION;
    if (!p->nlets) return;
    c->let_size = ka_alloc(&p->arena, p->nlets * sizeof *c->let_size);
    c->let_need = ka_alloc(&p->arena, p->nlets * sizeof *c->let_need);
    if (!c->let_size || !c->let_need) {
        c->let_size = NULL;             /* no budgets (an allocation this small does not fail) */
        c->let_need = NULL;
        return;
    }
    for (uint32_t i = 0; i < p->nlets; i++) let_size_of(c, i);
}

static uint32_t max_u(uint32_t a, uint32_t b) { return a > b ? a : b; }

static void fn_need(KCheck *c, const KExpr *e);

/* The code generator's chunks of an `in` list (IN_CHUNK in codegen.c). */
#define KC_IN_CHUNK 128

/* An upper bound on the stack the code of e needs (codegen.c: a binary
 * operator holds its left value while the right one is computed; and/or
 * also DUP it; an `in` holds its operand and the items of a chunk); a
 * count's where-function has a stack of its own (checked by fn_need). */
static uint32_t need(KCheck *c, const KExpr *e)
{
    if (!e) return 0;
    switch (e->kind) {
    case KEX_NAME:
        if (e->res == KRES_LET && e->res_let && e->res_id < c->p->nlets && c->let_need) {
            uint32_t id = e->res_id;
            if (!c->let_need[id]) {
                c->let_need[id] = 2;                    /* a cycle guard (cycles are errors) */
                if (c->let_state[id] == LET_DONE) c->let_need[id] = 1 + need(c, e->res_let->let.value);
            }
            return c->let_need[id] - 1;
        }
        return 2;                                       /* an event as a condition: COUNT, CONST, GT */
    case KEX_CALL:
        if (e->where && e->name && !strcmp(e->name, "count")) fn_need(c, e->where);
        return 1;
    case KEX_WITHIN: return 2;
    case KEX_UNARY: return max_u(need(c, e->a), 2);      /* `no E`: COUNT, CONST, EQ */
    case KEX_BINARY: return max_u(max_u(need(c, e->a), 2), need(c, e->b) + 1);
    case KEX_IN: {
        uint32_t nx = need(c, e->a), n = max_u(nx, 2);
        for (uint32_t lo = 0; lo < e->nargs; lo += KC_IN_CHUNK) {
            uint32_t base = lo > 0 ? 1 : 0;             /* the chunks before, or-ed */
            n = max_u(n, base + nx);
            for (uint32_t k = lo; k < e->nargs && k < lo + KC_IN_CHUNK; k++)
                n = max_u(n, base + 1 + (k - lo) + need(c, e->args[k]));
        }
        return n;
    }
    default:
        return 1;
    }
}

/* e is the body of a function of its own: reports when it needs more
 * stack than the verifier allows. */
static void fn_need(KCheck *c, const KExpr *e)
{
    if (need(c, e) <= KB_MAX_STACK) return;
    kd_error(c->d, e->span, "K0421", "this condition needs more than %d values on the stack at run time",
             KB_MAX_STACK);
    kd_hint(c->d, "nest to the left: `(a and b) and c` needs less stack than `a and (b and c)`; "
            "split long `in [...]` lists");
}

void kc_rule_budget(KCheck *c, KRule *r)
{
    if (r->where) fn_need(c, r->where);
    if (r->if_expr) fn_need(c, r->if_expr);
    if (r->unless_expr) fn_need(c, r->unless_expr);
}
