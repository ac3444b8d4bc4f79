/* diag.c -- source texts and diagnostics: collecting, sorting and printing
 * them as text (with the source line and a caret), JSON Lines, GitHub
 * workflow commands or SARIF 2.1.0.  Also the edit distance used by
 * did-you-mean hints. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "diag.h"
#include "sarif.h"
#include "util.h"

/* ---- sources ------------------------------------------------------------ */

void kd_sources_init(KSources *s)
{
    memset(s, 0, sizeof *s);
}

void kd_sources_free(KSources *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].text);
        free(s->v[i].line_starts);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

uint32_t kd_source_add(KSources *s, const char *name, const char *text, size_t len, bool builtin)
{
    if (KU_RESERVE(s->v, s->n, s->cap, 4) != 0) return UINT32_MAX;
    KSource *src = &s->v[s->n];
    /* a UTF-8 byte order mark opening a policy (an editor's) is not part
     * of its text, as it is not of an event log's (SPEC 2) */
    if (!builtin && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { text += 3; len -= 3; }
    src->name = strdup(name);
    src->text = malloc(len + 1);
    if (!src->name || !src->text) {
        free(src->name);
        free(src->text);
        return UINT32_MAX;
    }
    if (len) memcpy(src->text, text, len);
    src->text[len] = '\0';
    src->len = len;
    src->builtin = builtin;
    src->line_starts = NULL;
    src->nlines = 0;
    src->col_off = src->col_val = 0;
    return s->n++;
}

uint32_t kd_source_read(KSources *s, const char *path)
{
    char *buf;
    size_t n;
    if (ku_read_file(path, KD_MAX_SOURCE, &buf, &n) != 0) return UINT32_MAX;
    uint32_t id = kd_source_add(s, path, buf, n, false);
    free(buf);
    if (id == UINT32_MAX) errno = ENOMEM;
    return id;
}

/* A UTF-8 continuation byte does not start a character. */
static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* The offset after the column that starts at i: one character, or one
 * maximal ill-formed subpart (a stray continuation byte is one: a terminal
 * shows each as its own U+FFFD). */
static uint32_t next_col(const KSource *src, uint32_t i)
{
    return i + (uint32_t)ku_utf8_step(src->text + i, src->len - i);
}

/* Builds the table of line starts of a source.  It is a cache of the
 * (immutable) text, so it is filled in through a const pointer. */
static bool line_table(const KSource *src)
{
    if (src->line_starts) return true;
    uint32_t n = 1;
    for (size_t i = 0; i < src->len; i++)
        if (src->text[i] == '\n') n++;
    uint32_t *v = malloc(n * sizeof *v);
    if (!v) return false;
    uint32_t k = 0;
    v[k++] = 0;
    for (size_t i = 0; i < src->len; i++)
        if (src->text[i] == '\n') v[k++] = (uint32_t)i + 1;
    KSource *w = (KSource *)src;
    w->line_starts = v;
    w->nlines = n;
    return true;
}

void kd_line_col(const KSource *src, uint32_t off, uint32_t *line, uint32_t *col)
{
    if (off > src->len) off = (uint32_t)src->len;
    uint32_t l = 1, start = 0;
    if (line_table(src)) {
        /* the last line start <= off */
        uint32_t lo = 0, hi = src->nlines;
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (src->line_starts[mid] <= off) lo = mid;
            else hi = mid;
        }
        l = lo + 1;
        start = src->line_starts[lo];
    } else {
        for (uint32_t i = 0; i < off; i++)
            if (src->text[i] == '\n') { l++; start = i + 1; }
    }
    uint32_t c = 1, from = start;
    KSource *w = (KSource *)src;      /* the column cache, see line_table */
    if (src->col_off >= start && src->col_off <= off && src->col_val > 0) {
        from = src->col_off;
        c = src->col_val;
    }
    uint32_t i = from;
    for (; i < off; c++) i = next_col(src, i);
    if (i == off) {                   /* (off inside a character: no resuming there) */
        w->col_off = off;
        w->col_val = c;
    }
    *line = l;
    *col = c;
}

/* Byte range [*ls, *le) of the line holding off, without its newline. */
static void line_bounds(const KSource *src, uint32_t off, uint32_t *ls, uint32_t *le)
{
    uint32_t line, col;
    kd_line_col(src, off, &line, &col);
    if (src->line_starts && line <= src->nlines) {
        *ls = src->line_starts[line - 1];
        *le = line < src->nlines ? src->line_starts[line] - 1 : (uint32_t)src->len;
        return;
    }
    uint32_t a = off, b = off;
    while (a > 0 && src->text[a - 1] != '\n') a--;
    while (b < src->len && src->text[b] != '\n') b++;
    *ls = a;
    *le = b;
}

/* ---- collecting ----------------------------------------------------------- */

void kd_init(KDiags *d, const KSources *sources)
{
    memset(d, 0, sizeof *d);
    d->sources = sources;
}

void kd_free(KDiags *d)
{
    for (uint32_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].hint);
        free(d->v[i].file);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    /* a message quoting a name of megabytes stays small (SPEC 9.1): cut
     * between characters, marked "..." */
    if (s && n > KD_MSG_MAX) memcpy(s + ku_utf8_cut(s, KD_MSG_MAX - 3), "...", 4);
    /* one line: a control character a string of the policy holds
     * (timezone "a\nb") is shown as '?', as explain shows them */
    for (char *p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) *p = '?';
    return s;
}

static KDiag *push_diag(KDiags *d)
{
    if (KU_RESERVE(d->v, d->n, d->cap, 16) != 0) return NULL;
    KDiag *g = &d->v[d->n++];
    memset(g, 0, sizeof *g);
    return g;
}

static void vadd(KDiags *d, KSeverity sev, KSpan span, const char *code, bool attached,
                 const char *fmt, va_list ap)
{
    if ((sev == KD_WARNING && d->mute_warnings) || (sev == KD_NOTE && !attached && d->mute_notes)) {
        d->last_dropped = true;     /* its hint and notes go with it */
        return;
    }
    if (sev == KD_ERROR) d->nerrors++;
    else if (sev == KD_WARNING) d->nwarnings++;
    /* past the limit: count only (a note goes with its dropped head) */
    if ((sev != KD_NOTE && d->n - d->nnotes >= KD_MAX_DIAGS) || (sev == KD_NOTE && d->last_dropped)) {
        if (sev != KD_NOTE) {
            d->dropped++;
            if (sev == KD_WARNING) d->dropped_warnings++;
            d->last_dropped = true;
        }
        return;
    }
    if (sev != KD_NOTE) d->last_dropped = false;
    char *msg = vformat(fmt, ap);
    KDiag *g = msg ? push_diag(d) : NULL;
    if (!g) {                   /* out of memory: kd_print still says so */
        free(msg);
        if (sev != KD_NOTE) d->lost++;
        return;
    }
    g->sev = sev;
    g->span = span;
    g->code = code;
    g->msg = msg;
    g->group = attached && d->n > 1 ? d->v[d->n - 2].group : d->n - 1;
    if (sev == KD_NOTE) d->nnotes++;
}

void kd_add(KDiags *d, KSeverity sev, KSpan span, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(d, sev, span, code, false, fmt, ap);
    va_end(ap);
}

void kd_note(KDiags *d, KSpan span, const char *fmt, ...)
{
    if (d->n == 0) return;
    const char *code = d->v[d->n - 1].code;
    va_list ap;
    va_start(ap, fmt);
    vadd(d, KD_NOTE, span, code, true, fmt, ap);
    va_end(ap);
}

void kd_hint(KDiags *d, const char *fmt, ...)
{
    if (d->n == 0 || d->last_dropped) return;
    va_list ap;
    va_start(ap, fmt);
    char *h = vformat(fmt, ap);
    va_end(ap);
    if (!h) return;
    free(d->v[d->n - 1].hint);
    d->v[d->n - 1].hint = h;
}

void kd_file_error(KDiags *d, const char *file, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(d, KD_ERROR, (KSpan){ KD_NO_SOURCE, 0, 0 }, code, false, fmt, ap);
    va_end(ap);
    if (!d->last_dropped && d->n && d->v[d->n - 1].span.src == KD_NO_SOURCE && !d->v[d->n - 1].file)
        d->v[d->n - 1].file = strdup(file);
}

bool kd_failed(const KDiags *d)
{
    return d->nerrors > 0 || (d->werror && d->nwarnings > 0);
}

/* ---- sorting ---------------------------------------------------------------- */

typedef struct SortCtx { const KDiags *d; } SortCtx;

/* Sort key of a diagnostic: its group's head (notes stay behind it). */
static int cmp_idx(const void *pa, const void *pb, void *vctx)
{
    const KDiags *d = ((SortCtx *)vctx)->d;
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const KDiag *a = &d->v[ia], *b = &d->v[ib];
    const KDiag *ha = &d->v[a->group], *hb = &d->v[b->group];
    if (ha->span.src != hb->span.src) return ha->span.src < hb->span.src ? -1 : 1;
    if (ha->span.lo != hb->span.lo) return ha->span.lo < hb->span.lo ? -1 : 1;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

/* A small merge sort (qsort_r is not portable C11). */
static void sort_idx(uint32_t *v, uint32_t *tmp, uint32_t n, SortCtx *ctx)
{
    if (n < 2) return;
    uint32_t h = n / 2;
    sort_idx(v, tmp, h, ctx);
    sort_idx(v + h, tmp, n - h, ctx);
    uint32_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_idx(&v[j], &v[i], ctx) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static bool same_diag(const KDiag *a, const KDiag *b)
{
    return a->sev == b->sev && a->span.src == b->span.src && a->span.lo == b->span.lo &&
           a->span.hi == b->span.hi && strcmp(a->msg, b->msg) == 0;
}

/* Sorted order of the diagnostics, exact duplicates (e.g. from a let
 * checked at several use sites) removed.  Caller frees. */
static uint32_t *sorted(const KDiags *d, uint32_t *n_out)
{
    *n_out = 0;
    if (d->n == 0) return NULL;
    uint32_t *v = malloc(d->n * sizeof *v), *tmp = malloc(d->n * sizeof *tmp);
    bool *dropped = calloc(d->n, sizeof *dropped);
    if (!v || !tmp || !dropped) { free(v); free(tmp); free(dropped); return NULL; }
    for (uint32_t i = 0; i < d->n; i++) v[i] = i;
    SortCtx ctx = { d };
    sort_idx(v, tmp, d->n, &ctx);
    free(tmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < d->n; i++) {
        bool dup = false;
        const KDiag *g = &d->v[v[i]];
        if (g->group == v[i]) {
            /* an identical head sorts next to it: look back over the kept ones at the same place */
            for (uint32_t j = k; j-- > 0 && !dup;) {
                const KDiag *h = &d->v[v[j]];
                const KDiag *hh = &d->v[h->group];
                if (hh->span.src != g->span.src || hh->span.lo != g->span.lo) break;
                if (h->group == v[j] && same_diag(h, g)) dup = true;
            }
            dropped[v[i]] = dup;
        } else {
            dup = dropped[g->group];      /* a note goes with its head */
        }
        if (!dup) v[k++] = v[i];
    }
    free(dropped);
    *n_out = k;
    return v;
}

uint32_t *kd_sorted(const KDiags *d, uint32_t *n)
{
    return sorted(d, n);
}

/* Source lines longer than this many bytes are shown as a window. */
#define KD_LINE_WINDOW 240

/* ---- printing helpers --------------------------------------------------------- */

/* Under --Werror a warning is reported as an error. */
static KSeverity eff(const KDiags *d, const KDiag *g)
{
    return d->werror && g->sev == KD_WARNING ? KD_ERROR : g->sev;
}

KSeverity kd_effective(const KDiags *d, const KDiag *g)
{
    return eff(d, g);
}

static const char *sev_name(KSeverity s)
{
    return s == KD_ERROR ? "error" : s == KD_WARNING ? "warning" : "note";
}

static const KSource *source_of(const KDiags *d, const KDiag *g)
{
    if (!d->sources || g->span.src == KD_NO_SOURCE || g->span.src >= d->sources->n) return NULL;
    return &d->sources->v[g->span.src];
}

static const char *file_of(const KDiags *d, const KDiag *g)
{
    const KSource *s = source_of(d, g);
    if (s) return s->name;
    return g->file ? g->file : "<unknown>";
}

/* Span end as line/col: the position of the last character (inclusive). */
static void span_end(const KSource *s, KSpan sp, uint32_t *line, uint32_t *col)
{
    uint32_t hi = sp.hi > sp.lo ? sp.hi : sp.lo;
    kd_line_col(s, hi, line, col);
    if (sp.hi > sp.lo && *col > 1) (*col)--;
}

static void print_text(const KDiags *d, const KDiag *g, FILE *out, bool color)
{
    const KSource *s = source_of(d, g);
    const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    KSeverity sev = eff(d, g);
    const char *sc = !color ? "" : sev == KD_ERROR ? "\033[1;31m"
                               : sev == KD_WARNING ? "\033[1;35m" : "\033[1;36m";
    const char *blue = color ? "\033[1;34m" : "", *green = color ? "\033[1;32m" : "";
    if (!s) {
        fprintf(out, "%s%s:%s %s%s:%s %s%s%s\n", bold, file_of(d, g), reset, sc, sev_name(sev),
                reset, bold, g->msg, reset);
        if (g->hint) fprintf(out, "      %s=%s hint: %s\n", blue, reset, g->hint);
        return;
    }
    uint32_t line, col;
    kd_line_col(s, g->span.lo, &line, &col);
    fprintf(out, "%s%s:%u:%u:%s %s%s:%s %s%s%s\n", bold, s->name, line, col, reset, sc,
            sev_name(sev), reset, bold, g->msg, reset);
    /* the source line */
    uint32_t lo = g->span.lo > s->len ? (uint32_t)s->len : g->span.lo;
    uint32_t ls, le;
    line_bounds(s, lo, &ls, &le);
    uint32_t shown_le = le;
    if (shown_le > ls && s->text[shown_le - 1] == '\r') shown_le--;
    /* a very long line is shown as a window around the column */
    uint32_t ws = ls;
    bool cut_left = false, cut_right = false;
    if (lo - ls > KD_LINE_WINDOW / 2) {
        ws = lo - KD_LINE_WINDOW / 4;
        while (ws > ls && is_cont((unsigned char)s->text[ws])) ws--;
        cut_left = true;
    }
    if (shown_le - ws > KD_LINE_WINDOW) {
        shown_le = ws + KD_LINE_WINDOW;
        while (shown_le > ws && is_cont((unsigned char)s->text[shown_le])) shown_le--;
        cut_right = true;
    }
    int gw = snprintf(NULL, 0, "%u", line);      /* the gutter: 5, or wider (line 100000 on) */
    if (gw < 5) gw = 5;
    fprintf(out, "%s%*u |%s %s", blue, gw, line, reset, cut_left ? "..." : "");
    for (uint32_t i = ws; i < shown_le; i++) {
        unsigned char c = (unsigned char)s->text[i];
        fputc(c < 0x20 || c == 0x7F ? ' ' : c, out);     /* tabs, CRs, stray control bytes */
    }
    fprintf(out, "%s\n", cut_right ? "..." : "");
    fprintf(out, "%s%*s |%s %s", blue, gw, "", reset, cut_left ? "   " : "");
    for (uint32_t i = ws; i < lo; i = next_col(s, i)) fputc(' ', out);
    fprintf(out, "%s^", green);
    uint32_t hi = g->span.hi;
    if (hi > le) hi = le;
    if (hi > shown_le && shown_le >= lo) hi = shown_le;
    for (uint32_t i = next_col(s, lo); i < hi; i = next_col(s, i)) fputc('~', out);
    fprintf(out, "%s\n", reset);
    if (g->hint) fprintf(out, "      %s=%s hint: %s\n", blue, reset, g->hint);
}

void kd_json_str(FILE *out, const char *s) { ku_json_str(s, strlen(s), ku_put_file, out); }

static void positions(const KDiags *d, const KDiag *g, uint32_t pos[4])
{
    const KSource *s = source_of(d, g);
    if (!s) { pos[0] = pos[1] = pos[2] = pos[3] = 1; return; }
    kd_line_col(s, g->span.lo, &pos[0], &pos[1]);
    span_end(s, g->span, &pos[2], &pos[3]);
}

static void print_json(const KDiags *d, const KDiag *g, FILE *out)
{
    uint32_t p[4];
    positions(d, g, p);
    fputs("{\"file\":", out);
    kd_json_str(out, file_of(d, g));
    fprintf(out, ",\"line\":%u,\"column\":%u,\"endLine\":%u,\"endColumn\":%u,\"severity\":\"%s\",\"code\":",
            p[0], p[1], p[2], p[3], sev_name(eff(d, g)));
    kd_json_str(out, g->code ? g->code : "");
    fputs(",\"message\":", out);
    kd_json_str(out, g->msg);
    if (g->hint) {
        fputs(",\"hint\":", out);
        kd_json_str(out, g->hint);
    }
    fputs("}\n", out);
}

/* GitHub workflow command data: %, CR and LF escaped; properties also : and ,. */
static void gh_escape(FILE *out, const char *s, bool prop)
{
    for (; *s; s++) {
        if (*s == '%') fputs("%25", out);
        else if (*s == '\r') fputs("%0D", out);
        else if (*s == '\n') fputs("%0A", out);
        else if (prop && *s == ':') fputs("%3A", out);
        else if (prop && *s == ',') fputs("%2C", out);
        else fputc(*s, out);
    }
}

static void print_github(const KDiags *d, const KDiag *g, FILE *out)
{
    uint32_t p[4];
    positions(d, g, p);
    KSeverity sev = eff(d, g);
    fprintf(out, "::%s file=", sev == KD_ERROR ? "error" : sev == KD_WARNING ? "warning" : "notice");
    gh_escape(out, file_of(d, g), true);
    fprintf(out, ",line=%u,col=%u,endLine=%u,endColumn=%u,title=", p[0], p[1], p[2], p[3]);
    gh_escape(out, g->code ? g->code : "kairos", true);
    fputs("::", out);
    gh_escape(out, g->msg, false);
    if (g->hint) {
        fputs(" (hint: ", out);
        gh_escape(out, g->hint, false);
        fputs(")", out);
    }
    fputc('\n', out);
}

void kd_print(const KDiags *d, FILE *out, KDiagFormat fmt, bool color)
{
    uint32_t n;
    uint32_t *idx = sorted(d, &n);
    if (!idx) n = d->n;     /* out of memory: unsorted, but every diagnostic still printed */
    if (fmt == KD_FMT_SARIF) {
        /* one file's log, URIs relative to the current directory */
        free(idx);
        char *cwd = getcwd(NULL, 0);
        KSarif *s = kd_sarif_new(cwd, NULL);
        if (s && kd_sarif_add(s, d)) kd_sarif_write(s, out);
        kd_sarif_free(s);
        free(cwd);
        return;
    }
    /* Standard error is unbuffered: render in memory, write in blocks. */
    char *mbuf = NULL;
    size_t mlen = 0;
    FILE *mem = open_memstream(&mbuf, &mlen);
    FILE *w = mem ? mem : out;
    uint32_t block = 0;         /* first diagnostic of the block rendered in memory */
    for (uint32_t k = 0; k < n; k++) {
        const KDiag *g = &d->v[idx ? idx[k] : k];
        switch (fmt) {
        case KD_FMT_TEXT: print_text(d, g, w, color); break;
        case KD_FMT_JSON: print_json(d, g, w); break;
        case KD_FMT_GITHUB: print_github(d, g, w); break;
        case KD_FMT_SARIF: break;
        }
        if (mem && (k % 256 == 255 || k + 1 == n)) {
            if (fflush(mem) != 0 || ferror(mem)) {
                /* out of memory (the policy took it all): the block again,
                 * straight to out, so that the error is still seen */
                fclose(mem);
                free(mbuf);
                mem = NULL;
                w = out;
                k = block - 1;
                continue;
            }
            fwrite(mbuf, 1, mlen, out);
            rewind(mem);
            fflush(mem);
            block = k + 1;
        }
    }
    if (mem) {
        fclose(mem);
        free(mbuf);
    }
    if (d->lost && fmt != KD_FMT_JSON) {
        const char *file = d->sources && d->sources->n ? d->sources->v[0].name : "kairos";
        char what[64];
        if (d->lost == 1) snprintf(what, sizeof what, "a diagnostic could not be recorded");
        else snprintf(what, sizeof what, "%u diagnostics could not be recorded", d->lost);
        if (fmt == KD_FMT_TEXT) fprintf(out, "%s: error: out of memory (%s)\n", file, what);
        else fprintf(out, "::error title=kairos::out of memory (%s)\n", what);
    }
    if (d->dropped && n > 0) {
        const KDiag *last = &d->v[idx ? idx[n - 1] : n - 1];
        const char *file = file_of(d, last);
        if (fmt == KD_FMT_TEXT)
            fprintf(out, "%s: note: %u more diagnostics not shown\n", file, d->dropped);
        else if (fmt == KD_FMT_GITHUB)
            fprintf(out, "::notice title=kairos::%u more diagnostics not shown\n", d->dropped);
    }
    free(idx);
    fflush(out);
}

void kd_counts(const KDiags *d, uint32_t *errors, uint32_t *warnings)
{
    uint32_t n, e = 0, w = 0;
    uint32_t *idx = sorted(d, &n);
    if (!idx && d->n) { e = d->nerrors; w = d->nwarnings; n = 0; }     /* out of memory: raw counts */
    for (uint32_t k = 0; k < n; k++) {
        const KDiag *g = &d->v[idx[k]];
        if (g->group != idx[k]) continue;
        KSeverity s = eff(d, g);
        if (s == KD_ERROR) e++;
        else if (s == KD_WARNING) w++;
    }
    free(idx);
    uint32_t dw = d->dropped_warnings, de = d->dropped - dw;
    if (d->werror) { de += dw; dw = 0; }
    *errors = e + de;
    *warnings = w + dw;
}

/* ---- edit distance ------------------------------------------------------------ */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps). */
unsigned kd_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return la > lb ? (unsigned)la : (unsigned)lb;
    unsigned d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned c = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + c < v) v = d[i - 1][j - 1] + c;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* The largest edit distance a correction of a name of length n may have. */
static unsigned close_limit(size_t n)
{
    return n <= 2 ? 0 : n <= 4 ? 1 : n <= 7 ? 2 : 3;
}

/* kd_edit_distance(a, b) when it is at most limit, else limit + 1: only
 * the diagonal band |i - j| <= limit is computed, and the search stops at
 * the first row whose every cell exceeds limit (a did-you-mean search over
 * thousands of names costs a few cells per letter instead of a full table). */
static unsigned distance_within(const char *a, size_t la, const char *b, size_t lb, unsigned limit)
{
    enum { W = 64, BIG = 1000 };
    if ((la > lb ? la - lb : lb - la) > limit) return limit + 1;
    /* three rolling rows: i - 2, i - 1, i; cells outside the band are BIG
     * (on the stack for names of up to W bytes, else on the heap: names are
     * close at distance 1 or 2 whatever their lengths, SPEC 1.6) */
    unsigned small[3][W + 2], *heap = NULL;
    unsigned *r2 = small[0], *r1 = small[1], *r0 = small[2];
    if (lb > W) {
        if (!(heap = malloc(3 * (lb + 2) * sizeof *heap))) return limit + 1;
        r2 = heap; r1 = heap + lb + 2; r0 = heap + 2 * (lb + 2);
    }
    for (size_t j = 0; j <= lb + 1; j++) { r1[j] = j <= limit ? (unsigned)j : BIG; r2[j] = BIG; }
    for (size_t i = 1; i <= la; i++) {
        size_t lo = i > limit ? i - limit : 1, hi = i + limit < lb ? i + limit : lb;
        r0[lo - 1] = lo == 1 && i <= limit ? (unsigned)i : BIG;
        if (hi + 1 <= lb + 1) r0[hi + 1] = BIG;
        unsigned row_min = r0[lo - 1];
        for (size_t j = lo; j <= hi; j++) {
            unsigned c = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = r1[j] + 1;
            if (r0[j - 1] + 1 < v) v = r0[j - 1] + 1;
            if (r1[j - 1] + c < v) v = r1[j - 1] + c;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && r2[j - 2] + 1 < v)
                v = r2[j - 2] + 1;
            r0[j] = v;
            if (v < row_min) row_min = v;
        }
        if (row_min > limit) { free(heap); return limit + 1; }
        unsigned *t = r2; r2 = r1; r1 = r0; r0 = t;
    }
    unsigned d = r1[lb] <= limit ? r1[lb] : limit + 1;
    free(heap);
    return d;
}

unsigned kd_name_distance(const char *typed, const char *cand)
{
    size_t lt = strlen(typed), lc = strlen(cand);
    unsigned limit = close_limit(lt);
    unsigned dist = distance_within(typed, lt, cand, lc, limit);
    return dist > 0 && dist <= limit ? dist : UINT_MAX;
}

unsigned kd_distance_at_most(const char *a, const char *b, unsigned limit)
{
    unsigned dist = distance_within(a, strlen(a), b, strlen(b), limit);
    return dist <= limit ? dist : UINT_MAX;
}

bool kd_close_name(const char *typed, const char *cand)
{
    return kd_name_distance(typed, cand) != UINT_MAX;
}
