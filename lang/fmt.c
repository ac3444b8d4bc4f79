/* fmt.c -- the formatter (kf_): prints a policy in the canonical layout of
 * SPEC "kairos fmt" without changing what it means.
 *
 * How it works.  The parser (kp_parse) says whether the file is valid and
 * where each declaration starts.  The formatter then works on its own
 * token stream of the file (comments included), so nothing the user wrote
 * can be lost: every declaration and every rule clause is printed from its
 * own tokens, with canonical spacing, in a canonical line layout:
 *
 *   - declarations in source order, each on one line (an event or survey
 *     body written over several lines gets one attribute per line);
 *   - a named rule: `rule NAME:`, then `ask SURVEY [via ...]` and every
 *     other clause on its own line, indented by two, in the canonical
 *     clause order (via, after/every, if, unless, at, cap, priority,
 *     variants in their order, on retrigger);
 *   - an unnamed rule written on one line stays on one line (clauses in
 *     canonical order); written on several, it is laid out like a named
 *     rule without the header line;
 *   - comments stay with the token they followed (end of line) or precede
 *     (own line); a comment inside a clause breaks the line after it.
 *
 * An unnamed rule's name is SURVEY@LINE, LINE being the line of its ask
 * keyword, so that line must not move: blank lines between declarations
 * are added or removed to keep it.  When that is impossible, the
 * declaration in the way keeps its source line structure (every token
 * stays on its line; only the spacing inside lines is made canonical).
 *
 * Before returning, the result is checked: it must parse, hold the same
 * tokens and comments, and keep every unnamed rule's line.  If not, the
 * formatter refuses (error K0799) rather than change a policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lang.h"
#include "clauses.h"
#include "util.h"

/* ---- a growable string (lang/util.h) ------------------------------------- */

typedef KuBuf Buf;

static void buf_c(Buf *b, char c) { ku_buf_add(b, &c, 1); }
static void buf_spaces(Buf *b, int n) { while (n-- > 0) buf_c(b, ' '); }

/* ---- tokens -------------------------------------------------------------- */

typedef enum { FT_NAME, FT_NUM, FT_DUR, FT_CLOCK, FT_STR, FT_PUNCT, FT_COMMENT } FTKind;

typedef struct FTok {
    FTKind kind;
    uint32_t lo, hi;       /* bytes of the source */
    uint32_t line;         /* 1-based */
    uint32_t nl_before;    /* newlines since the previous token (or the file start) */
} FTok;

typedef struct FToks { FTok *v; uint32_t n, cap; } FToks;

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

/* Splits text into tokens the way the scanner does (a valid file is
 * assumed; anything odd becomes a one-byte punctuation token).  -1 on
 * out of memory. */
static int lex(const char *s, size_t len, FToks *out)
{
    uint32_t line = 1, nl = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') { line++; nl++; i++; continue; }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { i++; continue; }
        size_t lo = i;
        FTKind kind;
        if (c == '#') {
            while (i < len && s[i] != '\n') i++;
            kind = FT_COMMENT;
        } else if (c == '"') {
            i++;
            while (i < len && s[i] != '\n' && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < len && s[i + 1] != '\n') i += 2;
                else i++;
            }
            if (i < len && s[i] == '"') i++;
            kind = FT_STR;
        } else if (is_digit(c)) {
            bool colon = false;
            i++;
            while (i < len) {
                if (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i])) i++;
                else if ((s[i] == '.' || s[i] == ':') && i + 1 < len && is_digit((unsigned char)s[i + 1])) {
                    if (s[i] == ':') colon = true;
                    i++;
                } else break;
            }
            kind = colon ? FT_CLOCK : is_alpha((unsigned char)s[i - 1]) ? FT_DUR : FT_NUM;
        } else if (is_alpha(c)) {
            while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]))) i++;
            kind = FT_NAME;
        } else {
            i++;
            if (i < len && s[i] == '=' && (c == '=' || c == '!' || c == '<' || c == '>')) i++;
            kind = FT_PUNCT;
        }
        if (KU_RESERVE(out->v, out->n, out->cap, 256) != 0) return -1;
        out->v[out->n++] = (FTok){ kind, (uint32_t)lo, (uint32_t)i, line, nl };
        nl = 0;
    }
    return 0;
}

/* ---- canonical token text ---------------------------------------------------- */

/* Appends the canonical spelling of a token: numbers without redundant
 * zeros, clock times with two-digit hours, strings with the canonical
 * escapes, comments without trailing blanks; everything else as written
 * (durations keep their spelling: `1h30m` stays). */
static void put_canon(Buf *b, const char *src, const FTok *t)
{
    const char *s = src + t->lo;
    size_t n = t->hi - t->lo;
    switch (t->kind) {
    case FT_NUM: {
        size_t dot = n, k;
        for (k = 0; k < n; k++) {
            if (s[k] == '.') { if (dot != n) break; dot = k; }
            else if (!is_digit((unsigned char)s[k])) break;
        }
        if (k < n || dot == 0 || dot == n - 1) { ku_buf_add(b, s, n); return; } /* not plain decimal */
        size_t ib = 0;
        while (ib + 1 < dot && s[ib] == '0') ib++;
        ku_buf_add(b, s + ib, dot - ib);
        if (dot < n) {
            size_t end = n;
            while (end > dot + 1 && s[end - 1] == '0') end--;
            if (end > dot + 1) ku_buf_add(b, s + dot, end - dot);
        }
        return;
    }
    case FT_CLOCK:
        if (n >= 2 && s[1] == ':') buf_c(b, '0');
        ku_buf_add(b, s, n);
        return;
    case FT_STR:
        buf_c(b, '"');
        for (size_t k = 1; k < n; k++) {
            char c = s[k];
            if (c == '"' && k == n - 1) break;        /* the closing quote */
            if (c == '\\' && k + 1 < n) {
                char e = s[++k];
                if (e == 'n') ku_buf_str(b, "\\n");
                else if (e == 't') ku_buf_str(b, "\\t");
                else if (e == '"') ku_buf_str(b, "\\\"");
                else if (e == '\\') ku_buf_str(b, "\\\\");
                else { buf_c(b, '\\'); buf_c(b, e); }  /* not valid: kept */
            } else if (c == '\t') ku_buf_str(b, "\\t");
            else buf_c(b, c);
        }
        buf_c(b, '"');
        return;
    case FT_COMMENT:
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\f' || s[n - 1] == '\v')) n--;
        ku_buf_add(b, s, n);
        return;
    default:
        ku_buf_add(b, s, n);
        return;
    }
}

/* ---- the formatter's state ------------------------------------------------------ */

/* A code token with the comments attached to it. */
typedef struct CTok {
    uint32_t t;            /* index into toks */
    uint32_t lead, nlead;  /* own-line comments right before it: toks[lead..lead+nlead) */
    int64_t eol;           /* end-of-line comment after it (toks index), or -1 */
    uint32_t pin;          /* an unnamed rule's ask/task keyword: its line; else 0 */
    bool decl_start;
} CTok;

/* One output line.  Blank lines before it are counted, not stored. */
typedef struct OLine {
    char *text;            /* indentation and code (or an own-line comment) */
    char *cmt;             /* end-of-line comment, or NULL */
    uint32_t blank;        /* blank lines before it */
    uint32_t pin;          /* must be this line number (0: free) */
    bool flex;             /* the blank lines before it may change */
    bool unit;             /* first line of a declaration (with its comments) */
    uint32_t unit_idx;     /* the declaration it belongs to (ndecls: the end) */
} OLine;

typedef struct F {
    const char *src;
    size_t len;
    FToks toks;
    CTok *ct;  uint32_t nct;
    uint32_t trail, ntrail;   /* own-line comments after the last code token */
    uint32_t *decls; uint32_t ndecls;   /* ct index of each declaration's first token */

    OLine *lines; uint32_t nlines, caplines;
    Buf cur;                  /* the line being built */
    bool open;
    int64_t cur_cmt;          /* its end-of-line comment (toks index) or -1 */
    uint32_t cur_pin;
    uint32_t pend_blank;      /* attributes for the next line opened */
    bool pend_flex, pend_unit;
    int next_indent;          /* indentation of a line opened by a break */
    int64_t prev_ct;          /* last code token printed on the current line, or -1 */
    uint32_t cur_unit;        /* the declaration being printed */
    bool *keep;               /* per declaration: keeps its source lines */
    uint32_t *tok_oline;      /* per token: the output line it was printed on */
    bool oom;
} F;

static const char *tx(const F *f, uint32_t ti) { return f->src + f->toks.v[ti].lo; }
static size_t tlen(const F *f, uint32_t ti) { return f->toks.v[ti].hi - f->toks.v[ti].lo; }

static bool tok_is(const F *f, uint32_t ti, const char *w)
{
    size_t n = strlen(w);
    return tlen(f, ti) == n && memcmp(tx(f, ti), w, n) == 0;
}

/* The ct index's token is the word w. */
static bool ct_is(const F *f, uint32_t ci, const char *w) { return ci < f->nct && tok_is(f, f->ct[ci].t, w); }
static FTKind ct_kind(const F *f, uint32_t ci) { return f->toks.v[f->ct[ci].t].kind; }

/* Words after which `(` is not a call and `-` is a prefix minus. */
static const struct { const char *word; bool fmt; } keywords[] = {
#define KF_KEYWORD_(tok, word, fmt) { word, fmt },
    KAIROS_KEYWORDS(KF_KEYWORD_)
#undef KF_KEYWORD_
};

static bool is_keyword(const F *f, uint32_t ti)
{
    if (f->toks.v[ti].kind != FT_NAME) return false;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (keywords[i].fmt && tok_is(f, ti, keywords[i].word)) return true;
    return false;
}

static bool is_weekday(const F *f, uint32_t ti)
{
    static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
    for (int i = 0; i < 7; i++)
        if (tok_is(f, ti, days[i])) return true;
    return false;
}

/* Is the `-` at code token ci a prefix minus (judged by the token before it)? */
static bool is_prefix_minus(const F *f, uint32_t ci)
{
    if (ci == 0 || f->ct[ci].decl_start) return true;
    uint32_t p = f->ct[ci - 1].t;
    if (f->toks.v[p].kind == FT_PUNCT)
        return !(tok_is(f, p, ")") || tok_is(f, p, "]") || tok_is(f, p, "}") || tok_is(f, p, "%"));
    return is_keyword(f, p);
}

/* Is the `-` at code token ci the dash of a range: 08:00-20:00, mon-fri,
 * or a survey scale `scale: 0-10`? */
static bool is_range_dash(const F *f, uint32_t ci)
{
    if (ci == 0 || ci + 1 >= f->nct || !ct_is(f, ci, "-")) return false;
    FTKind a = ct_kind(f, ci - 1), b = ct_kind(f, ci + 1);
    if (a == FT_CLOCK && b == FT_CLOCK) return true;
    /* mon-fri is one token (a range) only when written without spaces;
     * mon - fri is a subtraction and keeps them */
    const FTok *l = &f->toks.v[f->ct[ci - 1].t], *d = &f->toks.v[f->ct[ci].t], *r = &f->toks.v[f->ct[ci + 1].t];
    if (is_weekday(f, f->ct[ci - 1].t) && is_weekday(f, f->ct[ci + 1].t))
        return l->hi == d->lo && d->hi == r->lo;
    return a == FT_NUM && b == FT_NUM && ci >= 2 && ct_is(f, ci - 2, ":");
}

/* Spaces between code tokens a and b printed next to each other (b follows
 * a in the source: clauses never start with a token that this depends on
 * beyond "a space"). */
static int spacing(const F *f, uint32_t a, uint32_t b)
{
    uint32_t ta = f->ct[a].t, tb = f->ct[b].t;
    if (tok_is(f, tb, ",") || tok_is(f, tb, ")") || tok_is(f, tb, "]") || tok_is(f, tb, "%") ||
        tok_is(f, tb, ".") || tok_is(f, tb, ":"))
        return 0;
    if (tok_is(f, ta, "(") || tok_is(f, ta, "[") || tok_is(f, ta, "."))
        return 0;
    if (tok_is(f, ta, "{") && tok_is(f, tb, "}")) return 0;
    if (b == a + 1 && is_range_dash(f, b)) return 0;
    if (b == a + 1 && is_range_dash(f, a)) return 0;
    if (b == a + 1 && tok_is(f, ta, "-") && is_prefix_minus(f, a)) return 0;
    if (tok_is(f, tb, "("))
        return f->toks.v[ta].kind == FT_NAME && !is_keyword(f, ta) ? 0 : 1;
    return 1;
}

/* ---- building output lines ----------------------------------------------------------- */

static void line_push(F *f, char *text, char *cmt, uint32_t blank, bool flex, bool unit, uint32_t pin)
{
    if (!text) { free(cmt); f->oom = true; return; }
    if (f->nlines == f->caplines) {
        uint32_t nc = f->caplines ? f->caplines * 2 : 64;
        OLine *nv = realloc(f->lines, nc * sizeof *nv);
        if (!nv) { free(text); free(cmt); f->oom = true; return; }
        f->lines = nv;
        f->caplines = nc;
    }
    f->lines[f->nlines++] = (OLine){ text, cmt, blank, pin, flex, unit, f->cur_unit };
}

static char *tok_text(F *f, uint32_t ti)
{
    Buf b = { 0 };
    put_canon(&b, f->src, &f->toks.v[ti]);
    char *s = ku_buf_take(&b);
    if (!s) f->oom = true;
    return s;
}

/* Drops every output line (before laying the file out again). */
static void reset_lines(F *f)
{
    for (uint32_t i = 0; i < f->nlines; i++) { free(f->lines[i].text); free(f->lines[i].cmt); }
    f->nlines = 0;
    free(f->cur.s);
    memset(&f->cur, 0, sizeof f->cur);
    f->open = false;
    f->cur_cmt = -1;
    f->cur_pin = 0;
    f->pend_blank = 0;
    f->pend_flex = f->pend_unit = false;
    f->prev_ct = -1;
}

/* Finishes the line being built, if any. */
static void close_line(F *f)
{
    if (!f->open) return;
    char *cmt = f->cur_cmt >= 0 ? tok_text(f, (uint32_t)f->cur_cmt) : NULL;
    line_push(f, ku_buf_take(&f->cur), cmt, f->pend_blank, f->pend_flex, f->pend_unit, f->cur_pin);
    f->open = false;
    f->pend_blank = 0;
    f->pend_flex = f->pend_unit = false;
    f->cur_cmt = -1;
    f->cur_pin = 0;
    f->prev_ct = -1;
}

static void open_line(F *f, int indent)
{
    close_line(f);
    f->open = true;
    buf_spaces(&f->cur, indent);
}

/* Notes that token ti goes on the line being built (the next line pushed). */
static void mark_tok(F *f, uint32_t ti)
{
    if (f->tok_oline) f->tok_oline[ti] = f->nlines;
}

/* An own-line comment as a line of its own. */
static void comment_line(F *f, uint32_t ti, int indent)
{
    open_line(f, indent);
    mark_tok(f, ti);
    put_canon(&f->cur, f->src, &f->toks.v[ti]);
    close_line(f);
}

/* Prints code token ci on the current line (opening one at next_indent
 * if needed), with its comments: own-line comments before it break the
 * line; an end-of-line comment after it ends the line. */
static void put_tok(F *f, uint32_t ci)
{
    const CTok *c = &f->ct[ci];
    if (c->nlead) {
        close_line(f);
        for (uint32_t k = 0; k < c->nlead; k++) comment_line(f, c->lead + k, f->next_indent);
    }
    if (!f->open) open_line(f, f->next_indent);
    else if (f->prev_ct >= 0) buf_spaces(&f->cur, spacing(f, (uint32_t)f->prev_ct, ci));
    put_canon(&f->cur, f->src, &f->toks.v[c->t]);
    mark_tok(f, c->t);
    if (c->pin) f->cur_pin = c->pin;
    f->prev_ct = ci;
    if (c->eol >= 0) {
        f->cur_cmt = c->eol;
        close_line(f);
    }
}

enum {
    RUN_CONTINUE = 1,   /* continue the open line (one space) */
    RUN_NO_LEAD = 2,    /* the first token's own-line comments were printed already */
    RUN_BODY_ML = 4,    /* a `{ ... }` body: one entry per line */
};

/* Prints code tokens [a, b): the first on a new line at indent (after its
 * own-line comments, at indent too), or continuing the open line; lines
 * broken inside the run are indented by cont. */
static void put_run(F *f, uint32_t a, uint32_t b, int indent, int cont, int flags)
{
    if (a >= b) return;
    if ((flags & RUN_CONTINUE) && f->open && f->ct[a].nlead == 0) {
        buf_c(&f->cur, ' ');
        f->prev_ct = -1;
    } else {
        close_line(f);
        if (!(flags & RUN_NO_LEAD))
            for (uint32_t k = 0; k < f->ct[a].nlead; k++)
                comment_line(f, f->ct[a].lead + k, indent);
        open_line(f, indent);
    }
    f->next_indent = cont;
    int depth = 0;
    for (uint32_t ci = a; ci < b; ci++) {
        CTok saved = f->ct[ci];
        if (ci == a) f->ct[ci].nlead = 0;     /* printed above (or none) */
        if ((flags & RUN_BODY_ML) && ct_is(f, ci, "}") && depth == 1) {
            /* on a line of its own, in column 1: it closes an event's or a
             * survey's body, which may (SPEC 1.3) */
            close_line(f);
            f->next_indent = indent;
        }
        put_tok(f, ci);
        f->ct[ci] = saved;
        if (flags & RUN_BODY_ML) {
            if (ct_is(f, ci, "{") && depth++ == 0) {
                close_line(f);
                f->next_indent = indent + 2;
            } else if (ct_is(f, ci, "}")) {
                depth--;
            } else if (ct_is(f, ci, ",") && depth == 1) {
                close_line(f);
            }
        }
    }
}

/* ---- rules --------------------------------------------------------------------- */

/* Clause kinds (KClause, lang/clauses.h) are numbered in canonical order. */
typedef struct Clause { KClause kind; uint32_t a, b; } Clause;

/* The clause a token starts (at bracket depth 0), or KCL_OTHER: a clause
 * word of lang/clauses.h, followed by its next word when the row has one. */
static KClause clause_kw(const F *f, uint32_t ci, uint32_t e)
{
    for (size_t i = 0; i < sizeof kclause_words / sizeof kclause_words[0]; i++)
        if (ct_is(f, ci, kclause_words[i].word) &&
            (!kclause_words[i].next || (ci + 1 < e && ct_is(f, ci + 1, kclause_words[i].next))))
            return kclause_words[i].clause;
    return KCL_OTHER;
}

/* Splits the clauses of a rule, code tokens [a, e) after its target.
 * Returns the count, or -1 (out of memory).  *odd is set when the
 * clauses cannot safely be reordered. */
static int split_clauses(const F *f, uint32_t a, uint32_t e, Clause **out, bool *odd)
{
    Clause *v = malloc(((size_t)(e - a) + 1) * sizeof *v);
    if (!v) return -1;
    int n = 0, depth = 0;
    for (uint32_t ci = a; ci < e; ci++) {
        if (ct_is(f, ci, "(") || ct_is(f, ci, "[") || ct_is(f, ci, "{")) depth++;
        else if (ct_is(f, ci, ")") || ct_is(f, ci, "]") || ct_is(f, ci, "}")) depth--;
        KClause k = depth == 0 ? clause_kw(f, ci, e) : KCL_OTHER;
        KClause cur = n ? v[n - 1].kind : KCL_OTHER;
        bool is_every = n && ct_is(f, v[n - 1].a, "every");
        if (k != KCL_OTHER) {
            /* `then CH after DUR` continues a via chain; `every day at 09:00`
             * is one clause. */
            if (k == KCL_TRIGGER && ct_is(f, ci, "after") && cur == KCL_VIA && ci + 1 < e &&
                ct_kind(f, ci + 1) == FT_DUR)
                k = KCL_OTHER;
            else if (k == KCL_AT && is_every && ci + 1 < e && ct_kind(f, ci + 1) == FT_CLOCK &&
                     !(ci + 2 < e && ct_is(f, ci + 2, "-")))
                k = KCL_OTHER;
        }
        if (depth == 0 && (ct_is(f, ci, "then") && cur != KCL_VIA))
            *odd = true;
        if (depth == 0 && ct_is(f, ci, "where") && (cur != KCL_TRIGGER || is_every))
            *odd = true;
        if (k != KCL_OTHER) {
            v[n++] = (Clause){ k, ci, ci + 1 };
        } else if (n == 0) {
            *odd = true;                 /* tokens before any clause */
            v[n++] = (Clause){ KCL_OTHER, ci, ci + 1 };
        } else {
            v[n - 1].b = ci + 1;
        }
    }
    *out = v;
    return n;
}

/* Prints the rule whose code tokens are [a, e). */
static int render_rule(F *f, uint32_t a, uint32_t e)
{
    bool named = ct_is(f, a, "rule");
    uint32_t h = a;                              /* the ask/task keyword */
    if (named) {
        if (e - a < 3 || !ct_is(f, a + 2, ":")) return 1;
        h = a + 3;
    }
    if (h + 2 > e || !(ct_is(f, h, "ask") || ct_is(f, h, "task"))) return 1;
    uint32_t body = h + 2;
    Clause *cl = NULL;
    bool odd = false;
    int n = split_clauses(f, body, e, &cl, &odd);
    if (n < 0) return -1;
    if (!odd) {                                  /* stable insertion sort by kind */
        for (int i = 1; i < n; i++) {
            Clause c = cl[i];
            int j = i;
            while (j > 0 && cl[j - 1].kind > c.kind) { cl[j] = cl[j - 1]; j--; }
            cl[j] = c;
        }
    }
    bool one_line = !named &&
        f->toks.v[f->ct[a].t].line == f->toks.v[f->ct[e - 1].t].line;
    if (one_line) {
        /* The line's end-of-line comment follows the last token written;
         * after reordering it goes to the end of the line. */
        int64_t eol = f->ct[e - 1].eol;
        f->ct[e - 1].eol = -1;
        put_run(f, a, body, 0, 2, RUN_NO_LEAD);
        for (int i = 0; i < n; i++) put_run(f, cl[i].a, cl[i].b, 0, 2, RUN_CONTINUE);
        f->ct[e - 1].eol = eol;
        if (eol >= 0 && f->open) f->cur_cmt = eol;
        close_line(f);
        free(cl);
        return 0;
    }
    int ind = 0;
    if (named) {
        put_run(f, a, h, 0, 2, RUN_NO_LEAD);
        close_line(f);
        ind = 2;
        put_run(f, h, body, ind, ind + 2, 0);
    } else {
        put_run(f, h, body, 0, 2, RUN_NO_LEAD);
        ind = 2;
    }
    int i = 0;
    if (n > 0 && cl[0].kind == KCL_VIA) {
        put_run(f, cl[0].a, cl[0].b, ind, ind + 2, RUN_CONTINUE);
        i = 1;
    }
    for (; i < n; i++) put_run(f, cl[i].a, cl[i].b, ind, ind + 2, 0);
    close_line(f);
    free(cl);
    return 0;
}

/* ---- the layout ------------------------------------------------------------------ */

static bool starts_rule(const F *f, uint32_t ci)
{
    return ct_is(f, ci, "rule") || ct_is(f, ci, "ask") || ct_is(f, ci, "task");
}

static uint32_t ct_line(const F *f, uint32_t ci) { return f->toks.v[f->ct[ci].t].line; }

/* Does declaration u+1 start on the line where declaration u ends? */
static bool shares_line(const F *f, uint32_t u)
{
    if (u + 1 >= f->ndecls) return false;
    uint32_t a = f->decls[u + 1];
    return a > 0 && f->ct[a].nlead == 0 && f->ct[a - 1].eol < 0 && ct_line(f, a) == ct_line(f, a - 1);
}

/* Own-line comments as the leading lines of a unit (a declaration or the
 * end of the file): blank lines kept (at most one), flexible. */
static void lead_lines(F *f, uint32_t lead, uint32_t nlead, uint32_t unit_blank)
{
    for (uint32_t k = 0; k < nlead; k++) {
        f->pend_blank = k == 0 ? unit_blank : (f->toks.v[lead + k].nl_before >= 2);
        f->pend_flex = true;
        f->pend_unit = k == 0;
        comment_line(f, lead + k, 0);
    }
}

/* Declaration u in the canonical layout. */
static int render_canonical(F *f, uint32_t u)
{
    uint32_t a = f->decls[u], e = u + 1 < f->ndecls ? f->decls[u + 1] : f->nct;
    bool rule = starts_rule(f, a), prev_rule = u > 0 && starts_rule(f, f->decls[u - 1]);
    const CTok *c = &f->ct[a];
    uint32_t first_tok = c->nlead ? c->lead : c->t;
    uint32_t blank = u == 0 ? 0 : (rule || prev_rule) ? 1 : f->toks.v[first_tok].nl_before >= 2;
    lead_lines(f, c->lead, c->nlead, blank);
    f->pend_blank = c->nlead ? f->toks.v[c->t].nl_before >= 2 : blank;
    f->pend_flex = true;
    f->pend_unit = c->nlead == 0;
    if (rule) {
        int r = render_rule(f, a, e);
        if (r < 0) return -1;
        if (r > 0) put_run(f, a, e, 0, 2, RUN_NO_LEAD);
    } else {
        int flags = RUN_NO_LEAD;
        /* an event or survey body written over several lines: one entry per line */
        if (ct_is(f, a, "event") || ct_is(f, a, "survey")) {
            for (uint32_t ci = a; ci < e; ci++)
                if (ct_is(f, ci, "{")) {
                    uint32_t cj = ci;
                    while (cj < e && !ct_is(f, cj, "}")) cj++;
                    if (cj < e && ct_line(f, cj) != ct_line(f, ci)) flags |= RUN_BODY_ML;
                    break;
                }
        }
        put_run(f, a, e, 0, 2, flags);
    }
    close_line(f);
    return 0;
}

/* Declaration u with every token on its source line (each line pinned to
 * it); only the spacing inside lines is canonical.  A declaration that
 * starts on the line where the previous one ends continues its line. */
static void render_keep(F *f, uint32_t u)
{
    uint32_t a = f->decls[u], e = u + 1 < f->ndecls ? f->decls[u + 1] : f->nct;
    uint32_t line = f->open && a > 0 ? ct_line(f, a - 1) : 0;
    bool rule = starts_rule(f, a), body = ct_is(f, a, "event") || ct_is(f, a, "survey");
    int depth = 0;                 /* brackets open before token ci */
    for (uint32_t ci = a; ci < e; ci++) {
        const CTok *c = &f->ct[ci];
        for (uint32_t k = 0; k < c->nlead; k++) {
            const FTok *t = &f->toks.v[c->lead + k];
            close_line(f);
            f->pend_blank = t->nl_before ? t->nl_before - 1 : 0;
            f->pend_flex = f->pend_unit = true;
            open_line(f, ci == a ? 0 : 2);
            put_canon(&f->cur, f->src, t);
            mark_tok(f, c->lead + k);
            f->cur_pin = t->line;
            close_line(f);
        }
        const FTok *t = &f->toks.v[c->t];
        if (!f->open || t->line != line) {
            close_line(f);
            f->pend_blank = t->nl_before ? t->nl_before - 1 : 0;
            f->pend_flex = f->pend_unit = true;
            /* a body's closing brace in column 1 only in an event or survey
             * (in a rule it would start a declaration: SPEC 1.3); in a
             * rule, a line that continues a clause (a broken expression,
             * not a clause word, an action or a brace) two columns more */
            bool cont = rule && depth == 0 && clause_kw(f, ci, e) == KCL_OTHER && !starts_rule(f, ci) &&
                        !ct_is(f, ci, "}");
            open_line(f, ci == a || (ct_is(f, ci, "}") && body) ? 0 : cont ? 4 : 2);
            f->cur_pin = t->line;
            line = t->line;
        } else if (f->prev_ct >= 0) {
            buf_spaces(&f->cur, spacing(f, (uint32_t)f->prev_ct, ci));
        }
        put_canon(&f->cur, f->src, t);
        mark_tok(f, c->t);
        f->prev_ct = ci;
        if (ct_is(f, ci, "(") || ct_is(f, ci, "[") || ct_is(f, ci, "{")) depth++;
        else if (ct_is(f, ci, ")") || ct_is(f, ci, "]") || ct_is(f, ci, "}")) depth--;
        if (c->eol >= 0) {
            f->cur_cmt = c->eol;
            close_line(f);
        }
    }
    if (!shares_line(f, u)) close_line(f);
}

/* All declarations, each in its mode, then the comments at the end. */
static int layout(F *f)
{
    for (uint32_t u = 0; u < f->ndecls; u++) {
        f->cur_unit = u;
        if (f->keep[u]) render_keep(f, u);
        else if (render_canonical(f, u) < 0) return -1;
    }
    f->cur_unit = f->ndecls;
    close_line(f);
    if (f->ntrail) {
        uint32_t blank = f->nct == 0 ? 0 : f->toks.v[f->trail].nl_before >= 2;
        if (f->ndecls && starts_rule(f, f->decls[f->ndecls - 1])) blank = 1;
        lead_lines(f, f->trail, f->ntrail, blank);
    }
    return f->oom ? -1 : 0;
}

/* Adjusts blank lines so that every pinned line lands on its line number.
 * Returns the number of pinned lines that cannot; the declarations they
 * belong to are marked in bad[] (the scan goes on as if each had landed). */
static uint32_t resolve_pins(F *f, bool *bad)
{
    uint32_t lineno = 0;          /* line number of the last line placed */
    uint32_t low = 0;             /* lines before this index are settled */
    uint32_t nbad = 0;
    for (uint32_t i = 0; i < f->nlines; i++) {
        lineno += f->lines[i].blank + 1;
        uint32_t t = f->lines[i].pin;
        if (!t) continue;
        if (lineno < t) {
            uint32_t u = i;       /* pad before the declaration's first line */
            while (u > low && !f->lines[u].unit) u--;
            f->lines[u].blank += t - lineno;
            lineno = t;
        }
        for (uint32_t j = i + 1; lineno > t && j-- > low;) {
            OLine *l = &f->lines[j];
            if (!l->flex) continue;
            uint32_t cut = l->blank < lineno - t ? l->blank : lineno - t;
            l->blank -= cut;
            lineno -= cut;
        }
        if (lineno != t) {
            if (f->lines[i].unit_idx < f->ndecls) bad[f->lines[i].unit_idx] = true;
            nbad++;
            lineno = t;
        }
        low = i + 1;
    }
    return nbad;
}

/* ---- # kairos:ignore comments ---------------------------------------------------- */

/* A `# kairos:ignore CODE...` comment alone on its line silences those
 * codes on the next line (SPEC 6.2, lang/lint.c), so the layout must keep
 * the code tokens of that line exactly: the same tokens on the line right
 * after the comment, no other token joining them, and no line becoming
 * the next line (a blank or comment line stays one).  The test is on any
 * comment that starts like an ignore comment, whatever its codes. */
static bool is_ignore(const F *f, uint32_t ti)
{
    const FTok *t = &f->toks.v[ti];
    if (t->kind != FT_COMMENT || (ti > 0 && t->nl_before == 0)) return false;   /* end of line */
    return kl_ignore_start(f->src + t->lo, f->src + t->hi) != NULL;
}

/* The code tokens on the line after comment ti: toks[ti+1 .. ti+1+n). */
static uint32_t next_line_codes(const F *f, uint32_t ti)
{
    uint32_t j = ti + 1, n = 0;
    if (j >= f->toks.n || f->toks.v[j].nl_before != 1) return 0;     /* a blank line or the end */
    for (; j + n < f->toks.n && f->toks.v[j + n].line == f->toks.v[j].line; n++)
        if (f->toks.v[j + n].kind == FT_COMMENT) break;               /* own line, or end of line */
    return n;
}

/* After the pins hold: marks in bad[] the declaration of every ignore
 * comment whose next line the layout changed.  Returns how many, or
 * UINT32_MAX on out of memory. */
static uint32_t check_ignores(F *f, bool *bad)
{
    uint32_t *codes = calloc((size_t)f->nlines + 1, sizeof *codes);   /* code tokens per output line */
    if (!codes) return UINT32_MAX;
    for (uint32_t ci = 0; ci < f->nct; ci++) {
        uint32_t o = f->tok_oline[f->ct[ci].t];
        if (o < f->nlines) codes[o]++;
    }
    uint32_t nbad = 0;
    for (uint32_t ti = 0; ti < f->toks.n; ti++) {
        if (!is_ignore(f, ti)) continue;
        uint32_t o = f->tok_oline[ti], n = next_line_codes(f, ti);
        if (o >= f->nlines) continue;
        bool next = o + 1 < f->nlines && f->lines[o + 1].blank == 0;  /* a line right after it */
        bool same;
        if (n == 0) {
            same = !next || codes[o + 1] == 0;
        } else {
            same = next && codes[o + 1] == n;
            for (uint32_t k = 0; same && k < n; k++) same = f->tok_oline[ti + 1 + k] == o + 1;
        }
        if (same) continue;
        nbad++;
        if (f->lines[o].unit_idx < f->ndecls) bad[f->lines[o].unit_idx] = true;
    }
    free(codes);
    return nbad;
}

/* Marks declaration u to keep its lines, with the declarations sharing a
 * line with it. */
static void mark_keep(F *f, uint32_t u)
{
    f->keep[u] = true;
    for (uint32_t v = u; v > 0 && shares_line(f, v - 1); v--) f->keep[v - 1] = true;
    for (uint32_t v = u; shares_line(f, v); v++) f->keep[v + 1] = true;
}

/* Lays the file out: canonically, except the declarations that must keep
 * their lines so that every unnamed rule keeps its line and every ignore
 * comment keeps its next line (check_ignores).  Each pass marks
 * the declarations whose pins fail: the declaration itself, or if it keeps
 * its lines already, the nearest canonical one before it.  Every pass
 * marks at least one more declaration, and with all of them keeping their
 * lines every pin holds.  -1 on out of memory. */
static int layout_pinned(F *f)
{
    bool *bad = malloc(((size_t)f->ndecls + 1) * sizeof *bad);
    if (!bad) return -1;
    for (;;) {
        if (layout(f) < 0) { free(bad); return -1; }
        memset(bad, 0, ((size_t)f->ndecls + 1) * sizeof *bad);
        uint32_t nbad = resolve_pins(f, bad);
        if (nbad == 0) nbad = check_ignores(f, bad);
        if (nbad == UINT32_MAX) { free(bad); return -1; }
        if (nbad == 0) break;
        bool marked = false;
        for (uint32_t u = 0; u < f->ndecls; u++) {
            if (!bad[u]) continue;
            uint32_t v = u;
            while (f->keep[v] && v > 0) v--;
            if (f->keep[v]) continue;
            mark_keep(f, v);
            marked = true;
#ifdef KF_DEBUG
            fprintf(stderr, "kf_format: declaration %u keeps its lines\n", v);
#endif
        }
        if (NEVER(!marked)) break;           /* every declaration keeps its lines */
        reset_lines(f);
    }
    free(bad);
    return 0;
}

/* ---- assembling the text ---------------------------------------------------------- */

static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

/* Joins the lines; end-of-line comments of consecutive lines are aligned
 * two spaces after the longest code among them. */
static char *assemble(F *f, size_t *len)
{
    Buf b = { 0 };
    for (uint32_t i = 0; i < f->nlines; i++) {
        OLine *l = &f->lines[i];
        for (uint32_t k = 0; k < l->blank; k++) buf_c(&b, '\n');
        ku_buf_str(&b, l->text);
        if (l->cmt) {
            uint32_t j = i;          /* the first line of this comment block */
            while (j > 0 && f->lines[j].blank == 0 && f->lines[j - 1].cmt) j--;
            size_t col = 0;
            for (uint32_t k = j; k < f->nlines && (k == j || f->lines[k].blank == 0) && f->lines[k].cmt; k++)
                if (width(f->lines[k].text) > col) col = width(f->lines[k].text);
            buf_spaces(&b, (int)(col + 2 - width(l->text)));
            ku_buf_str(&b, l->cmt);
        }
        buf_c(&b, '\n');
    }
    char *s = ku_buf_take(&b);
    if (s) *len = strlen(s);
    return s;
}

/* ---- setting up ---------------------------------------------------------------- */

static void f_free(F *f)
{
    free(f->toks.v);
    free(f->ct);
    free(f->decls);
    free(f->keep);
    free(f->tok_oline);
    for (uint32_t i = 0; i < f->nlines; i++) { free(f->lines[i].text); free(f->lines[i].cmt); }
    free(f->lines);
    free(f->cur.s);
}


/* Tokenizes and attaches comments to code tokens.  -1 on out of memory. */
static int f_init(F *f, const char *src, size_t len)
{
    memset(f, 0, sizeof *f);
    f->src = src;
    f->len = len;
    f->cur_cmt = -1;
    f->prev_ct = -1;
    if (lex(src, len, &f->toks) < 0) return -1;
    f->ct = malloc(((size_t)f->toks.n + 1) * sizeof *f->ct);
    if (!f->ct) return -1;
    uint32_t pending = 0, npending = 0;   /* own-line comments waiting for a code token */
    for (uint32_t i = 0; i < f->toks.n; i++) {
        const FTok *t = &f->toks.v[i];
        if (t->kind == FT_COMMENT) {
            if (t->nl_before == 0 && i > 0 && f->nct && npending == 0 &&
                f->ct[f->nct - 1].t == i - 1) {
                f->ct[f->nct - 1].eol = i;
            } else {
                if (npending == 0) pending = i;
                npending++;
            }
            continue;
        }
        f->ct[f->nct++] = (CTok){ i, pending, npending, -1, 0, false };
        npending = 0;
    }
    f->trail = pending;
    f->ntrail = npending;
    return 0;
}

/* Finds the code token starting at byte off (binary search), or UINT32_MAX. */
static uint32_t ct_at(const F *f, uint32_t off)
{
    uint32_t lo = 0, hi = f->nct;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        uint32_t o = f->toks.v[f->ct[mid].t].lo;
        if (o == off) return mid;
        if (o < off) lo = mid + 1; else hi = mid;
    }
    return UINT32_MAX;
}

/* Takes the declaration starts from the parsed file; pins unnamed rules.
 * false if the parse tree does not match the tokens. */
static bool f_decls(F *f, const KFile *file)
{
    uint32_t n = 0;
    for (const KDecl *d = file->decls; d; d = d->next) n++;
    f->decls = malloc(((size_t)n + 1) * sizeof *f->decls);
    if (!f->decls) { f->oom = true; return false; }
    for (const KDecl *d = file->decls; d; d = d->next) {
        uint32_t ci = ct_at(f, d->span.lo);
        if (ci == UINT32_MAX || (f->ndecls && ci <= f->decls[f->ndecls - 1])) return false;
        if (d->kind == KDECL_RULE) {
            if (d->rule.name.s == NULL) {
                if (!(ct_is(f, ci, "ask") || ct_is(f, ci, "task"))) return false;
                f->ct[ci].pin = f->toks.v[f->ct[ci].t].line;
            } else if (!ct_is(f, ci, "rule")) {
                return false;
            }
        } else if (starts_rule(f, ci)) {
            return false;
        }
        f->ct[ci].decl_start = true;
        f->decls[f->ndecls++] = ci;
    }
    if (f->nct && (f->ndecls == 0 || f->decls[0] != 0)) return false;
    return true;
}

/* ---- the safety check ------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted canonical texts of the code tokens (comments: false) or of the
 * comments (true).  NULL on out of memory. */
static char **tok_texts(F *f, bool comments, uint32_t *n)
{
    char **v = calloc((size_t)f->toks.n + 1, sizeof *v);
    if (!v) return NULL;
    *n = 0;
    for (uint32_t i = 0; i < f->toks.n; i++) {
        if ((f->toks.v[i].kind == FT_COMMENT) != comments) continue;
        if (!(v[(*n)++] = tok_text(f, i))) {
            for (uint32_t k = 0; k < *n; k++) free(v[k]);
            free(v);
            return NULL;
        }
    }
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

/* same_lists -- whether two sorted lists of texts are equal (false when
 * either is NULL: out of memory); frees both. */
static bool same_lists(char **va, uint32_t na, char **vb, uint32_t nb)
{
    bool same = va && vb && na == nb;
    for (uint32_t i = 0; same && i < na; i++) same = strcmp(va[i], vb[i]) == 0;
    for (uint32_t i = 0; va && i < na; i++) free(va[i]);
    for (uint32_t i = 0; vb && i < nb; i++) free(vb[i]);
    free(va);
    free(vb);
    return same;
}

static bool same_texts(F *a, F *b, bool comments)
{
    uint32_t na = 0, nb = 0;
    char **va = tok_texts(a, comments, &na), **vb = tok_texts(b, comments, &nb);
    return same_lists(va, na, vb, nb);
}

/* Sorted keys of the ignore comments: the comment's text, then the sorted
 * texts of the code tokens on its next line.  NULL on out of memory. */
static char **ignore_keys(F *f, uint32_t *n)
{
    char **v = calloc((size_t)f->toks.n + 1, sizeof *v);
    char **w = calloc((size_t)f->toks.n + 1, sizeof *w);
    bool ok = v && w;
    *n = 0;
    for (uint32_t ti = 0; ok && ti < f->toks.n; ti++) {
        if (!is_ignore(f, ti)) continue;
        uint32_t m = next_line_codes(f, ti);
        for (uint32_t k = 0; k < m; k++) w[k] = NULL;
        for (uint32_t k = 0; ok && k < m; k++) ok = (w[k] = tok_text(f, ti + 1 + k)) != NULL;
        Buf b = { 0 };
        put_canon(&b, f->src, &f->toks.v[ti]);
        if (ok) {
            qsort(w, m, sizeof *w, cmp_str);
            for (uint32_t k = 0; k < m; k++) { buf_c(&b, '\n'); ku_buf_str(&b, w[k]); }
        }
        for (uint32_t k = 0; k < m; k++) free(w[k]);
        ok = ok && (v[*n] = ku_buf_take(&b)) != NULL;
        if (!ok) free(b.s);
        else (*n)++;
    }
    free(w);
    if (!ok) {
        for (uint32_t k = 0; v && k < *n; k++) free(v[k]);
        free(v);
        return NULL;
    }
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

/* Every ignore comment has the same tokens on its next line (SPEC 6.2). */
static bool same_ignores(F *a, F *b)
{
    uint32_t na = 0, nb = 0;
    char **va = ignore_keys(a, &na), **vb = ignore_keys(b, &nb);
    return same_lists(va, na, vb, nb);
}

/* The formatted text parses, holds the same tokens and comments, has the
 * same declarations, every unnamed rule keeps its line, and every ignore
 * comment the same next line. */
static bool verify(F *f, const KFile *file, const char *out, size_t outlen)
{
    F g;
    bool ok = f_init(&g, out, outlen) == 0 && same_texts(f, &g, false) && same_texts(f, &g, true) &&
              same_ignores(f, &g);
    KSources srcs;
    kd_sources_init(&srcs);
    KDiags diags;
    kd_init(&diags, &srcs);
    KArena arena;
    ka_arena_init(&arena);
    uint32_t id = ok ? kd_source_add(&srcs, "fmt", out, outlen, false) : UINT32_MAX;
    if (id != UINT32_MAX) {
        KFile *pf = kp_parse(&arena, &srcs, id, &diags);
        ok = diags.nerrors == 0;
        const KDecl *x = file->decls, *y = pf ? pf->decls : NULL;
        for (; ok && x && y; x = x->next, y = y->next) {
            ok = x->kind == y->kind;
            if (ok && x->kind == KDECL_RULE) {
                ok = (x->rule.name.s == NULL) == (y->rule.name.s == NULL);
                if (ok && !x->rule.name.s) {
                    uint32_t cx = ct_at(f, x->rule.kw_span.lo), cy = ct_at(&g, y->rule.kw_span.lo);
                    ok = cx != UINT32_MAX && cy != UINT32_MAX && ct_line(f, cx) == ct_line(&g, cy);
                }
            }
        }
        ok = ok && !x && !y;
    } else {
        ok = false;
    }
    ka_arena_free(&arena);
    kd_free(&diags);
    kd_sources_free(&srcs);
    f_free(&g);
    return ok;
}

/* ---- the entry point ------------------------------------------------------------ */

/* Formats text whose parse is file; NULL on out of memory or when the
 * layout fails its check (*bad set). */
static char *format_parsed(const char *text, size_t len, const KFile *file, size_t *outlen, bool *bad)
{
    F f;
    char *out = NULL;
    *bad = false;
    if (f_init(&f, text, len) < 0) goto done;
    if (!f_decls(&f, file)) { *bad = !f.oom; goto done; }
    f.keep = calloc((size_t)f.ndecls + 1, sizeof *f.keep);
    f.tok_oline = malloc(((size_t)f.toks.n + 1) * sizeof *f.tok_oline);
    if (!f.keep || !f.tok_oline) goto done;
    for (uint32_t i = 0; i < f.toks.n; i++) f.tok_oline[i] = UINT32_MAX;
    /* The canonical layout, with the declarations that must keep their
     * lines; if the result failed its check (a bug), every declaration
     * keeps its lines. */
    if (layout_pinned(&f) < 0 || !(out = assemble(&f, outlen))) goto done;
    if (verify(&f, file, out, *outlen)) goto done;
#ifdef KF_DEBUG
    fprintf(stderr, "kf_format: canonical layout failed its check:\n%s", out);
#endif
    free(out);
    out = NULL;
    for (uint32_t u = 0; u < f.ndecls; u++) f.keep[u] = true;
    reset_lines(&f);
    if (layout_pinned(&f) < 0 || !(out = assemble(&f, outlen))) goto done;
    if (!verify(&f, file, out, *outlen)) {
        free(out);
        out = NULL;
        *bad = true;
    }
done:
    f_free(&f);
    return out;
}

char *kf_format(KSources *sources, uint32_t src, KDiags *diags, size_t *len)
{
    *len = 0;
    KArena arena;
    ka_arena_init(&arena);
    uint32_t before = diags->nerrors;
    KFile *file = kp_parse(&arena, sources, src, diags);
    char *out = NULL;
    if (file && diags->nerrors == before) {
        const KSource *s = &sources->v[src];
        bool bad = false;
        out = format_parsed(s->text, s->len, file, len, &bad);
        if (!out)
            kd_error(diags, ((KSpan){ src, 0, 0 }), "K0799",
                     bad ? "the formatter cannot lay out this file without changing it "
                           "(please report this); the file is left as it is"
                         : "out of memory while formatting");
    }
    ka_arena_free(&arena);
    return out;
}
