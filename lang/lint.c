/* lint.c -- lints (kl_): warnings about policies that check but are
 * probably not what their author meant, and the `# kairos:ignore` filter.
 *
 *   K0701  a rule that can never fire (constant-false `where`/`if`,
 *          constant-true `unless`, any of them constant-unknown, variants
 *          that leave 0% to every arm)
 *   K0702  a reminder chain at least as long as the cap window
 *   K0703  an ask on sms without quiet hours for sms
 *   K0704  an ask on sms or whatsapp without `require consent` for it
 *   K0705  an ask that no cap limits, although top-level caps exist (they
 *          are all on other channels; the checker reports the case of no
 *          cap at all)
 *   K0706  an unnamed rule in a policy with several rules
 *   K0707  (a note) a reminder chain whose later attempts can reach a
 *          customer on a channel its first attempt cannot: how caps count it
 *   K0708  a policy file without rules
 *
 * Lints look only at the policy file (not at the prelude or imported
 * modules) of a program that checked without errors.  Each is documented
 * in SPEC.md section 6.2 with an example and a fix.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lang.h"
#include "value.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------------ */

static const char *rule_name(const KRule *r)
{
    if (r->name.s) return r->name.s;
    if (r->default_name) return r->default_name;
    return r->target.s ? r->target.s : "?";
}

static bool list_has(const KNameList *l, const char *name)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i].s && strcmp(l->v[i].s, name) == 0) return true;
    return false;
}

/* One channel an ask may send on, with where it is named. */
typedef struct Chan { const char *name; KSpan span; bool first; } Chan;

/* The channels of an ask: every attempt of its chain (the first is
 * prelude's email when there is no `via`) and every variant override.
 * `first` marks the channels of first attempts.  Returns the count. */
static uint32_t ask_channels(const KRule *r, Chan *out, uint32_t max)
{
    uint32_t n = 0;
    if (r->nattempts == 0 && n < max)
        out[n++] = (Chan){ "email", r->kw_span, true };
    for (uint32_t i = 0; i < r->nattempts && n < max; i++)
        out[n++] = (Chan){ r->attempts[i].channel.s, r->attempts[i].channel.span, i == 0 };
    for (uint32_t i = 0; i < r->nvariants && n < max; i++)
        if (r->variants[i].has_channel)
            out[n++] = (Chan){ r->variants[i].channel.s, r->variants[i].channel.span, true };
    return n;
}

/* ---- constant folding (K0701) ------------------------------------------------------ */

/* A constant: its value (lang/value.h, the VM's semantics) and, for a
 * string, its bytes.  folded is false when e is not a constant. */
typedef struct CVal {
    bool folded;
    KValue v;
    const char *s; size_t slen;
} CVal;

static CVal cv_none(void) { return (CVal){ .folded = false }; }
static CVal cv_val(KValue v) { return (CVal){ .folded = true, .v = v }; }

/* The KValue of folded operand c for kval_relation/kval_in/kval_arith: a
 * string gets the id `id` (its index into the folded operands); any other
 * value is left as it is (the id shares the value's storage, so setting
 * it on a number, a boolean or a duration would change the value). */
static KValue cv_kv(const CVal *c, uint32_t id)
{
    KValue v = c->v;
    if (v.tag == KB_STR) v.str = id;
    return v;
}

/* String ids of folded operands index an array of CVals. */
static const char *cv_str(const void *ctx, uint32_t id, size_t *len)
{
    const CVal *c = ((const CVal *const *)ctx)[id];
    *len = c->slen;
    return c->s ? c->s : "";
}

/* The value of an expression if it is a constant (lets are followed). */
static CVal cfold(const KExpr *e, int depth)
{
    if (!e || depth > 64) return cv_none();
    switch (e->kind) {
    case KEX_NUM: return cv_val(kval_num(e->num));
    case KEX_STR: {
        CVal c = cv_val((KValue){ .tag = KB_STR });
        c.s = e->str;
        c.slen = e->slen;
        return c;
    }
    case KEX_BOOL: return cv_val(kval_bool(e->bval));
    case KEX_DUR: return cv_val(kval_int(KB_DUR, e->dur));
    case KEX_NAME:
        if (e->res == KRES_LET && e->res_let && e->res_let->kind == KDECL_LET)
            return cfold(e->res_let->let.value, depth + 1);
        return cv_none();
    case KEX_UNARY: {
        CVal a = cfold(e->a, depth + 1);
        if (!a.folded) return cv_none();
        return cv_val(e->op == KOP_NEG ? kval_neg(&a.v) : kval_not(&a.v));
    }
    case KEX_BINARY: {
        CVal a = cfold(e->a, depth + 1), b = cfold(e->b, depth + 1);
        if (e->op == KOP_AND || e->op == KOP_OR) {
            int dominant = e->op == KOP_OR;      /* true for or, false for and */
            if ((a.folded && kval_truth(&a.v) == dominant) || (b.folded && kval_truth(&b.v) == dominant))
                return cv_val(kval_bool(dominant));
            if (!a.folded || !b.folded) return cv_none();
            return cv_val(e->op == KOP_AND ? kval_and(&a.v, &b.v) : kval_or(&a.v, &b.v));
        }
        if (!a.folded || !b.folded) return cv_none();
        KValue x = cv_kv(&a, 0), y = cv_kv(&b, 1);
        if (e->op == KOP_ADD || e->op == KOP_SUB || e->op == KOP_MUL || e->op == KOP_DIV)
            return cv_val(kval_arith(kg_vm_op(e->op), &x, &y));
        const CVal *strs[2] = { &a, &b };
        KValStrings ss = { cv_str, strs };
        return cv_val(kval_relation(kg_vm_op(e->op), &x, &y, &ss));
    }
    case KEX_IN: {
        CVal a = cfold(e->a, depth + 1);
        if (!a.folded) return cv_none();
        KValue unk = kval_unknown;
        bool found = false, unknown = false;
        for (uint32_t i = 0; i < e->nargs && !found; i++) {
            CVal x = cfold(e->args[i], depth + 1);
            if (!x.folded) return cv_none();
            KValue av = cv_kv(&a, 0), xv = cv_kv(&x, 1);
            const CVal *strs[2] = { &a, &x };
            KValStrings ss = { cv_str, strs };
            /* x in [items] is kval_in: one item at a time */
            KValue r = kval_in(&av, &xv, 1, &ss);
            if (r.tag == KB_BOOL && r.b) found = true;
            else if (r.tag == KB_UNKNOWN) unknown = true;
        }
        return cv_val(found ? kval_bool(true) : unknown ? unk : kval_bool(false));
    }
    default:
        return cv_none();
    }
}

int kl_const_duration(const KExpr *e, int64_t *secs)
{
    CVal v = cfold(e, 0);
    if (!v.folded) return 0;
    if (v.v.tag != KB_DUR) return -1;
    *secs = v.v.i;
    return 1;
}

/* The constant truth of condition e (kval_truth: 1, 0, or -1 for unknown),
 * or -2 when e is not a constant. */
static int const_truth(const KExpr *e)
{
    CVal v = cfold(e, 0);
    return v.folded ? kval_truth(&v.v) : -2;
}

/* A rule fires only when its `where` and `if` are true and its `unless`
 * is false: a constant unknown stops it as surely as the wrong boolean
 * (SPEC 4.4: an unknown `where` does not match; 4.6: unknown sends nothing). */
static void lint_never_fires(const KRule *r, KDiags *d)
{
    static const char *const msg[3][2] = {
        { "its `where` condition is always false",
          "its `where` condition is always unknown, and an unknown `where` does not match" },
        { "its `if` condition is always false",
          "its `if` condition is always unknown, and unknown sends nothing" },
        { "its `unless` condition is always true",
          "its `unless` condition is always unknown, and unknown sends nothing" },
    };
    const KExpr *conds[3] = { r->where, r->if_expr, r->unless_expr };
    const char *what = NULL;
    const KExpr *e = NULL;
    for (int i = 0; i < 3 && !e; i++) {
        if (!conds[i]) continue;
        int t = const_truth(conds[i]);
        if (t == (i == 2 ? 1 : 0)) what = msg[i][0];
        else if (t == -1) what = msg[i][1];
        else continue;
        e = conds[i];
    }
    if (e) {
        kd_warning(d, e->span, "K0701", "rule `%s` can never fire: %s", rule_name(r), what);
        kd_hint(d, "fix the condition, or remove the rule");
        return;
    }
    if (r->nvariants > 0) {
        double sum = 0;
        for (uint32_t i = 0; i < r->nvariants; i++) sum += r->variants[i].pct;
        if (sum == 0) {
            kd_warning(d, r->variants[0].span, "K0701",
                       "rule `%s` can never fire: its variants take 0%% of the customers, "
                       "so all of them are in the holdout", rule_name(r));
            kd_hint(d, "give a variant a share above 0%%, or remove the rule");
        }
    }
}

/* ---- caps and reminder chains (K0702, K0705) ------------------------------------- */

/* Does top-level cap c count asks whose first attempt is on channel ch? */
static bool cap_covers(const KDecl *c, const char *ch)
{
    return c->cap.channels.n == 0 || list_has(&c->cap.channels, ch);
}

static void lint_caps(const KProgram *p, const KRule *r, KDiags *d)
{
    Chan ch[64];
    uint32_t nch = ask_channels(r, ch, 64);
    bool rule_cap = r->cap_span.hi != 0;

    /* K0702: the chain lasts from the first attempt to the last reminder. */
    int64_t chain = 0;
    for (uint32_t i = 1; i < r->nattempts; i++)
        if (r->attempts[i].after > 0 && chain <= INT64_MAX - r->attempts[i].after)
            chain += r->attempts[i].after;
    if (chain > 0) {
        int64_t window = rule_cap ? r->cap_window : 0;
        const char *first = r->attempts[0].channel.s;
        for (uint32_t i = 0; i < p->ncaps; i++)
            if (first && cap_covers(p->caps[i], first) && p->caps[i]->cap.window > window)
                window = p->caps[i]->cap.window;
        if (window > 0 && chain >= window) {
            char a[KU_DUR_BUF], b[KU_DUR_BUF];
            ku_fmt_dur(chain, false, a);
            ku_fmt_dur(window, false, b);
            kd_warning(d, r->via_span.hi ? r->via_span : r->kw_span, "K0702",
                       "the reminder chain of rule `%s` lasts %s, as long as or longer than "
                       "its cap window of %s: a new ask may be sent while reminders of the "
                       "last one are still due", rule_name(r), a, b);
            kd_hint(d, "shorten the chain, or widen the cap window to more than %s", a);
        }
    }

    /* K0705: no cap at all (the checker's case) is not reported again. */
    if (rule_cap || p->ncaps == 0) return;
    for (uint32_t i = 0; i < nch; i++) {
        if (!ch[i].first || !ch[i].name) continue;
        bool covered = false;
        for (uint32_t k = 0; k < p->ncaps && !covered; k++) covered = cap_covers(p->caps[k], ch[i].name);
        if (!covered) {
            kd_warning(d, ch[i].span, "K0705",
                       "no cap limits rule `%s` on `%s`: the top-level caps count only "
                       "other channels", rule_name(r), ch[i].name);
            kd_hint(d, "add `cap N per DURATION` to the rule, or a top-level cap without `on`");
            return;
        }
    }
}

/* ---- quiet hours and consent (K0703, K0704) ---------------------------------------- */

static bool quiet_covers(const KProgram *p, const char *ch)
{
    for (uint32_t i = 0; i < p->nquiets; i++) {
        const KNameList *l = &p->quiets[i]->quiet.channels;
        if (l->n == 0 || list_has(l, ch)) return true;
    }
    return false;
}

static bool consent_covers(const KProgram *p, const char *ch)
{
    for (uint32_t i = 0; i < p->nconsents; i++)
        if (list_has(&p->consents[i]->consent.channels, ch)) return true;
    return false;
}

/* A send window that excludes part of every day: a rule's own quiet hours. */
static bool has_hour_window(const KRule *r)
{
    return r->at_span.hi != 0 && r->at_kind == KAT_WINDOW && (r->at_start > 0 || r->at_end < 1440);
}

static void lint_sms_quiet(const KProgram *p, const KRule *r, KDiags *d)
{
    if (has_hour_window(r) || quiet_covers(p, "sms")) return;
    Chan ch[64];
    uint32_t n = ask_channels(r, ch, 64);
    for (uint32_t i = 0; i < n; i++)
        if (ch[i].name && strcmp(ch[i].name, "sms") == 0) {
            kd_warning(d, ch[i].span, "K0703",
                       "rule `%s` sends SMS without quiet hours on sms", rule_name(r));
            kd_hint(d, "add `quiet 20:00-08:00 on sms`: no texts outside 08:00-20:00 local time");
            return;
        }
}

/* ---- reminder chains past a consent gate (K0707) ------------------------------------ */

/* A note (not a warning: nothing is wrong) for an ask whose first attempt
 * may be blocked by consent while a later attempt, on another channel, may
 * be sent: that later attempt is then the ask's first sent attempt, which
 * is what caps count (LANGUAGE.md section 4, rule 5). */
static void lint_chain_consent(const KProgram *p, const KRule *r, KDiags *d)
{
    if (r->nattempts < 2) return;
    const char *firsts[65];
    uint32_t nf = 0;
    firsts[nf++] = r->attempts[0].channel.s;
    for (uint32_t i = 0; i < r->nvariants && nf < 65; i++)
        if (r->variants[i].has_channel) firsts[nf++] = r->variants[i].channel.s;
    for (uint32_t f = 0; f < nf; f++) {
        const char *first = firsts[f];
        if (!first || !consent_covers(p, first)) continue;
        for (uint32_t i = 1; i < r->nattempts; i++) {
            const char *ch = r->attempts[i].channel.s;
            if (!ch || strcmp(ch, first) == 0) continue;
            kd_add(d, KD_NOTE, r->attempts[i].channel.span, "K0707",
                   "rule `%s` can reach a customer on %s at attempt %u although its first attempt, on %s, "
                   "needs consent: caps count this ask at its first sent attempt", rule_name(r), ch, i + 1, first);
            kd_hint(d, "a customer without %s consent gets attempt %u as the ask (action `ask`, counted by caps "
                    "and checked against them there); the attempts before it are skipped", first, i + 1);
            return;
        }
    }
}

/* ---- the lints of one program ----------------------------------------------------- */

void kl_lint(const KProgram *p, KDiags *d)
{
    if (!p || p->nfiles == 0 || !p->files[0]) return;
    uint32_t src = p->files[0]->src;
    uint32_t nrules = 0;
    for (uint32_t i = 0; i < p->nrules; i++)
        if (p->rules[i]->kw_span.src == src) nrules++;
    if (nrules == 0) {
        kd_warning(d, ((KSpan){ src, 0, 0 }), "K0708", "the policy has no rules: it never sends anything");
        kd_hint(d, "add a rule, e.g. `ask NPS after ticket_closed + 24h`");
    }
    bool warned_consent[2] = { false, false };
    static const char *const consent_channels[2] = { "sms", "whatsapp" };

    for (uint32_t i = 0; i < p->nrules; i++) {
        const KRule *r = p->rules[i];
        if (r->kw_span.src != src) continue;
        lint_never_fires(r, d);
        if (!r->is_task) {
            lint_caps(p, r, d);
            lint_sms_quiet(p, r, d);
            lint_chain_consent(p, r, d);
            Chan ch[64];
            uint32_t n = ask_channels(r, ch, 64);
            for (uint32_t k = 0; k < n; k++)
                for (int c = 0; c < 2; c++)
                    if (ch[k].name && !warned_consent[c] && strcmp(ch[k].name, consent_channels[c]) == 0 &&
                        !consent_covers(p, consent_channels[c])) {
                        warned_consent[c] = true;
                        kd_warning(d, ch[k].span, "K0704",
                                   "asks are sent on %s without `require consent on %s`",
                                   consent_channels[c], consent_channels[c]);
                        kd_hint(d, "automated messages on %s need the customer's explicit consent: "
                                   "add `require consent on %s`",
                                consent_channels[c], consent_channels[c]);
                    }
        }
        if (!r->name.s && nrules > 1) {
            char suggestion[96];
            size_t k = 0;
            for (const char *s = r->target.s ? r->target.s : "rule"; *s && k < 40; s++)
                suggestion[k++] = (char)tolower((unsigned char)*s);
            suggestion[k] = '\0';
            const char *ev = r->after_event.s;
            if (ev) snprintf(suggestion + k, sizeof suggestion - k, "_after_%.40s", ev);
            kd_warning(d, r->kw_span, "K0706",
                       "unnamed rule `%s` in a policy with several rules: its name changes "
                       "when the lines above it move", rule_name(r));
            kd_hint(d, "name it: `rule %s:` before `%s`", suggestion, r->is_task ? "task" : "ask");
        }
    }
}

/* ---- # kairos:ignore ------------------------------------------------------------ */

/* A blank inside a line for the scanner (lang/lexer.l): a CRLF line's `\r`
 * and a form feed are blanks here too, as for `kairos fmt`, which drops them. */
static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

const char *kl_ignore_start(const char *s, const char *end)
{
    s++;                                                 /* '#' */
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    static const char kw[] = "kairos:ignore";
    if ((size_t)(end - s) < sizeof kw - 1 || memcmp(s, kw, sizeof kw - 1) != 0) return NULL;
    return s + sizeof kw - 1;
}

/* Does the comment at [lo, hi) of text, alone on its line, silence code?
 * Form: `# kairos:ignore K0701 K0706` (commas allowed; anything after
 * the codes, e.g. `-- reason`, is a remark). */
static bool ignores(const char *text, uint32_t lo, uint32_t hi, const char *code)
{
    for (uint32_t i = lo; i > 0 && text[i - 1] != '\n'; i--)
        if (!blank(text[i - 1])) return false;           /* not alone */
    const char *s = kl_ignore_start(text + lo, text + hi), *end = text + hi;
    if (!s || (s < end && !blank(*s))) return false;
    size_t clen = strlen(code);
    for (;;) {
        while (s < end && (blank(*s) || *s == ',')) s++;
        const char *w = s;
        while (s < end && !blank(*s) && *s != ',') s++;
        size_t n = (size_t)(s - w);
        if (n != 5 || w[0] != 'K' || !isdigit((unsigned char)w[1]) || !isdigit((unsigned char)w[2]) ||
            !isdigit((unsigned char)w[3]) || !isdigit((unsigned char)w[4]))
            return false;                                /* end of the codes */
        if (n == clen && memcmp(w, code, n) == 0) return true;
    }
}

/* Is the warning at span silenced by a comment on the line above? */
static bool silenced(const KProgram *p, KSpan span, const char *code)
{
    if (!code || span.src >= p->sources.n) return false;
    const KSource *s = &p->sources.v[span.src];
    const KFile *file = NULL;
    for (uint32_t i = 0; i < p->nfiles; i++)
        if (p->files[i] && p->files[i]->src == span.src) file = p->files[i];
    if (!file || span.lo > s->len) return false;
    uint32_t line, col;
    kd_line_col(s, span.lo, &line, &col);
    if (line < 2) return false;
    for (uint32_t i = 0; i < file->ncomments; i++) {
        KSpan c = file->comments[i].span;
        if (c.hi > s->len || c.lo >= c.hi) continue;
        uint32_t cl, cc;
        kd_line_col(s, c.lo, &cl, &cc);
        if (cl == line - 1 && ignores(s->text, c.lo, c.hi, code)) return true;
        if (cl >= line) break;
    }
    return false;
}

void kl_apply_ignores(const KProgram *p, KDiags *d)
{
    if (!p || !d || d->n == 0) return;
    uint32_t *map = malloc(d->n * sizeof *map);
    bool *drop = calloc(d->n, sizeof *drop);
    if (!map || !drop) { free(map); free(drop); return; }
    for (uint32_t i = 0; i < d->n; i++)
        if (d->v[i].sev != KD_ERROR && d->v[i].group == i && silenced(p, d->v[i].span, d->v[i].code))
            drop[i] = true;
    for (uint32_t i = 0; i < d->n; i++)                  /* notes go with their diagnostic */
        if (d->v[i].group < d->n && drop[d->v[i].group]) drop[i] = true;
    uint32_t k = 0;
    for (uint32_t i = 0; i < d->n; i++) {
        if (drop[i]) {
            if (d->v[i].sev == KD_WARNING && d->nwarnings) d->nwarnings--;
            if (d->v[i].sev == KD_NOTE && d->nnotes) d->nnotes--;
            free(d->v[i].msg);
            free(d->v[i].hint);
            free(d->v[i].file);
            map[i] = UINT32_MAX;
            continue;
        }
        map[i] = k;
        d->v[k++] = d->v[i];
    }
    for (uint32_t i = 0; i < k; i++)
        d->v[i].group = d->v[i].group < d->n && map[d->v[i].group] != UINT32_MAX ? map[d->v[i].group] : i;
    d->n = k;
    free(map);
    free(drop);
}
