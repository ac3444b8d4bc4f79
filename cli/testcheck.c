/* testcheck.c -- `kairos test`: schedule rows and the checks on them.
 *
 * Schedule rows come from simulate's CSV output (the actual schedule) and
 * from a test's expected schedule (a CSV file or inline rows).  Here: a
 * small RFC 4180 record splitter, the exact comparison with a unified-style
 * diff, and the assertions of SPEC.md section 7 section 7.4.  Checks take
 * parsed rows only, so they do not depend on how the rows were produced.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <glib.h>

#include "lang/util.h"
#include "runtime/runtime.h"
#include "testfile.h"

const char *const kq_columns[KQ_NCOLS] = {
    "time", "customer", "rule", "action", "survey", "channel", "attempt", "variant"
};

#define MAX_SHOWN_ROWS 20        /* rows printed under a failed assertion */
#define MAX_DIFF_LINES 50        /* differing lines printed by a diff */
#define DIFF_CONTEXT 3
#define DIFF_MAX_CELLS (4u << 20)    /* LCS table limit, in cells (16 MiB) */

/* ---- rows ---------------------------------------------------------------- */

void kq_rows_free(KqRows *r)
{
    for (size_t i = 0; i < r->n; i++)
        for (int c = 0; c < KQ_NCOLS; c++)
            free(r->v[i].f[c]);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Formats Unix seconds as YYYY-MM-DDTHH:MM:SSZ. */
static void format_time(int64_t t, char out[96])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, 96, "@%lld", (long long)t);
        return;
    }
    snprintf(out, 96, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parses a positive decimal integer (no sign, no spaces): -1 if not one,
 * -2 if past KQ_MAX_INT (as an assertion's N is). */
static long parse_count(const char *s, bool allow_zero)
{
    if (!*s) return -1;
    long v = 0;
    bool big = false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        if (!big) v = v * 10 + (*p - '0');
        big |= v > KQ_MAX_INT;
    }
    if (big) return -2;
    if (v == 0 && !allow_zero) return -1;
    return v;
}

int kq_rows_add(KqRows *r, char *const f[KQ_NCOLS], const char **why, int *col)
{
    *col = -1;
    KqRow row;
    memset(&row, 0, sizeof row);
    if (kr_parse_time(f[KQ_TIME], strlen(f[KQ_TIME]), &row.time) != 0) {
        *why = "is not an RFC 3339 time or Unix seconds";
        *col = KQ_TIME;
        return -1;
    }
    row.attempt = parse_count(f[KQ_ATTEMPT], false);
    if (row.attempt < 0) {
        *why = row.attempt == -2 ? "must be at most 1000000000" : "is not a positive integer";
        *col = KQ_ATTEMPT;
        return -1;
    }
    const char *act = f[KQ_ACTION];
    if (strcmp(act, "ask") && strcmp(act, "remind") && strcmp(act, "task")) {
        *why = "is not ask, remind or task";
        *col = KQ_ACTION;
        return -1;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        KqRow *v = realloc(r->v, cap * sizeof *v);
        if (!v) { *why = "out of memory"; return -1; }
        r->v = v;
        r->cap = cap;
    }
    char tbuf[96], abuf[24];
    format_time(row.time, tbuf);
    snprintf(abuf, sizeof abuf, "%ld", row.attempt);
    for (int c = 0; c < KQ_NCOLS; c++) {
        const char *src = c == KQ_TIME ? tbuf : c == KQ_ATTEMPT ? abuf : f[c];
        row.f[c] = strdup(src);
        if (!row.f[c]) {
            for (int k = 0; k < c; k++) free(row.f[k]);
            *why = "out of memory";
            return -1;
        }
    }
    r->v[r->n++] = row;
    return 0;
}

char *kq_row_csv(const KqRow *r)
{
    KqBuf b = {0};
    for (int c = 0; c < KQ_NCOLS; c++) {
        if (c) kq_buf_add(&b, ",", 1);
        kq_buf_csv_field(&b, r->f[c], strlen(r->f[c]));
    }
    return kq_buf_take(&b);
}

/* ---- CSV records --------------------------------------------------------- */

/* Splits the RFC 4180 record that starts at *pos into at most max fields
 * (each malloc'ed into f).  Sets *nf to the number of fields (more than
 * max means too many; those are not kept) and *lines to the number of
 * line ends consumed.  Returns 0, or -1 with a reason in *why. */
static int csv_record(const char *s, size_t len, size_t *pos, char **f, int max, int *nf,
                      unsigned *lines, const char **why)
{
    size_t i = *pos;
    int n = 0;
    *lines = 0;
    for (;;) {
        KqBuf b = {0};
        kq_buf_add(&b, "", 0);
        if (i < len && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) { free(b.s); *why = "unterminated quoted field"; goto fail; }
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') { kq_buf_add(&b, "\"", 1); i += 2; continue; }
                    i++;
                    break;
                }
                if (s[i] == '\n') (*lines)++;
                kq_buf_add(&b, &s[i], 1);
                i++;
            }
            if (i < len && s[i] != ',' && s[i] != '\n' && !(s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
                && !(s[i] == '\r' && i + 1 == len)) {
                free(b.s);
                *why = "a character after a closing quote";
                goto fail;
            }
        } else {
            size_t start = i;
            while (i < len && s[i] != ',' && s[i] != '\n' &&
                   !(s[i] == '\r' && (i + 1 == len || s[i + 1] == '\n'))) {
                if (s[i] == '"') { free(b.s); *why = "a quote inside an unquoted field"; goto fail; }
                i++;
            }
            kq_buf_add(&b, s + start, i - start);
        }
        char *field = kq_buf_take(&b);
        if (!field) { *why = "out of memory"; goto fail; }
        if (n < max) f[n] = field;
        else free(field);
        n++;
        if (i < len && s[i] == ',') { i++; continue; }
        if (i < len && s[i] == '\r') i++;
        if (i < len && s[i] == '\n') { i++; (*lines)++; }
        break;
    }
    *pos = i;
    *nf = n;
    return 0;
fail:
    for (int k = 0; k < n && k < max; k++) free(f[k]);
    return -1;
}

int kq_rows_read_csv(const char *path, KqRows *out, KqMsgs *errs)
{
    char *s;
    size_t len;
    /* bounded, as a test file is: a schedule named by mistake (a huge file, /dev/zero) fails at once */
    if (ku_read_file(path, KQ_MAX_SCHEDULE_BYTES, &s, &len) != 0) {
        kq_msg(errs, "%s: error: cannot read: %s", path,
               errno == EFBIG ? "file too large (over 256 MiB)" : strerror(errno));
        return -1;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    unsigned line = 1;
    bool header = true;
    int status = 0;
    const char *nul = memchr(s, '\0', len);
    if (nul) {                        /* a field would end there, and compare equal to less */
        unsigned at = 1, col = 1;
        for (const char *p = s; p < nul; p++) {
            if (*p == '\n') { at++; col = 1; }
            else if (((unsigned char)*p & 0xC0) != 0x80) col++;
        }
        kq_msg(errs, "%s:%u:%u: error: a NUL byte (a schedule is text)", path, at, col);
        free(s);
        return -1;
    }
    while (pos < len) {
        /* a line that is completely empty (nothing, or a lone CR, before its LF) is skipped,
         * as in an event log (SPEC 5.2): an editor's trailing blank line */
        size_t e = pos + (s[pos] == '\r');
        if (e == len || s[e] == '\n') {
            pos = e + (e < len);
            line++;
            continue;
        }
        char *f[KQ_NCOLS];
        int nf;
        unsigned lines;
        const char *why;
        int bad;
        char clipped[64];
        if (csv_record(s, len, &pos, f, KQ_NCOLS, &nf, &lines, &why) != 0) {
            kq_msg(errs, "%s:%u: error: %s", path, line, why);
            status = -1;
            break;
        }
        if (nf != KQ_NCOLS) {
            kq_msg(errs, "%s:%u: error: %d fields, expected %d (%s)", path, line, nf, KQ_NCOLS,
                   "time,customer,rule,action,survey,channel,attempt,variant");
            status = -1;
        } else if (header) {
            for (int c = 0; c < KQ_NCOLS; c++)
                if (strcmp(f[c], kq_columns[c]) != 0) {
                    kq_msg(errs, "%s:%u: error: the header must be "
                           "time,customer,rule,action,survey,channel,attempt,variant", path, line);
                    status = -1;
                    break;
                }
        } else if (kq_rows_add(out, f, &why, &bad) != 0) {
            if (bad < 0) kq_msg(errs, "%s:%u: error: %s", path, line, why);
            else kq_msg(errs, "%s:%u: error: %s '%s' %s", path, line, kq_columns[bad], kq_clip(f[bad], clipped), why);
            status = -1;
        }
        for (int c = 0; c < nf && c < KQ_NCOLS; c++) free(f[c]);
        if (status) break;
        header = false;
        line += lines ? lines : 1;
    }
    if (status == 0 && header) {
        kq_msg(errs, "%s:1: error: empty file (a schedule starts with its header line)", path);
        status = -1;
    }
    free(s);
    return status;
}

/* ---- exact comparison ------------------------------------------------------ */

typedef struct DiffOp { char op; size_t e, a; } DiffOp;   /* ' ', '-', '+' */

/* Whether line s occurs among lines v[from..n) whose row time is t. */
static bool in_time_block(char **v, const KqRows *r, size_t from, size_t n, int64_t t, const char *s)
{
    for (size_t i = from; i < n && r->v[i].time == t; i++)
        if (strcmp(v[i], s) == 0) return true;
    return false;
}

/* The edit script for inputs too large for the LCS table: a merge by time
 * (schedules are sorted by time), matching equal lines within a block of
 * equal times.  Appends to ops from index k; returns the new k. */
static size_t diff_merge(char **el, const KqRows *er, size_t i, size_t n,
                         char **al, const KqRows *ar, size_t j, size_t m, DiffOp *ops, size_t k)
{
    while (i < n || j < m) {
        if (i < n && j < m && strcmp(el[i], al[j]) == 0) {
            ops[k++] = (DiffOp){ ' ', i, j }; i++; j++;
        } else if (j == m || (i < n && er->v[i].time < ar->v[j].time)) {
            ops[k++] = (DiffOp){ '-', i, j }; i++;
        } else if (i == n || ar->v[j].time < er->v[i].time) {
            ops[k++] = (DiffOp){ '+', i, j }; j++;
        } else if (!in_time_block(al, ar, j, m, er->v[i].time, el[i])) {
            ops[k++] = (DiffOp){ '-', i, j }; i++;           /* el[i] is not coming */
        } else if (!in_time_block(el, er, i, n, ar->v[j].time, al[j])) {
            ops[k++] = (DiffOp){ '+', i, j }; j++;           /* al[j] is not coming */
        } else {
            ops[k++] = (DiffOp){ '-', i, j }; i++;           /* reordered */
        }
    }
    return k;
}

/* Edit script from expected lines el[0..n) to actual lines al[0..m):
 * common prefix and suffix, then a longest common subsequence when the
 * table is small enough, else a merge by time. */
static DiffOp *diff_ops(char **el, const KqRows *er, char **al, const KqRows *ar, size_t *nops)
{
    size_t n = er->n, m = ar->n;
    DiffOp *ops = malloc((n + m + 1) * sizeof *ops);
    if (!ops) return NULL;
    size_t k = 0, p = 0, sfx = 0;
    while (p < n && p < m && strcmp(el[p], al[p]) == 0) p++;
    while (sfx < n - p && sfx < m - p && strcmp(el[n - 1 - sfx], al[m - 1 - sfx]) == 0) sfx++;
    for (size_t i = 0; i < p; i++) ops[k++] = (DiffOp){ ' ', i, i };
    size_t a = n - p - sfx, b = m - p - sfx;
    uint32_t *t = NULL;
    if (a && b && (a + 1) <= DIFF_MAX_CELLS / (b + 1))
        t = calloc((a + 1) * (b + 1), sizeof *t);
    if (t) {
        /* t[i][j] = LCS length of el[p+i..p+a) and al[p+j..p+b) */
        for (size_t i = a; i-- > 0;)
            for (size_t j = b; j-- > 0;)
                t[i * (b + 1) + j] = strcmp(el[p + i], al[p + j]) == 0
                    ? t[(i + 1) * (b + 1) + j + 1] + 1
                    : (t[(i + 1) * (b + 1) + j] >= t[i * (b + 1) + j + 1]
                       ? t[(i + 1) * (b + 1) + j] : t[i * (b + 1) + j + 1]);
        size_t i = 0, j = 0;
        while (i < a || j < b) {
            if (i < a && j < b && strcmp(el[p + i], al[p + j]) == 0) {
                ops[k++] = (DiffOp){ ' ', p + i, p + j }; i++; j++;
            } else if (j == b || (i < a && t[(i + 1) * (b + 1) + j] >= t[i * (b + 1) + j + 1])) {
                ops[k++] = (DiffOp){ '-', p + i, p + j }; i++;
            } else {
                ops[k++] = (DiffOp){ '+', p + i, p + j }; j++;
            }
        }
        free(t);
    } else {
        k = diff_merge(el, er, p, p + a, al, ar, p, p + b, ops, k);
    }
    for (size_t i = 0; i < sfx; i++) ops[k++] = (DiffOp){ ' ', n - sfx + i, m - sfx + i };
    *nops = k;
    return ops;
}

static char **row_lines(const KqRows *r)
{
    char **v = calloc(r->n + 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (!(v[i] = kq_row_csv(&r->v[i]))) {
            for (size_t k = 0; k < i; k++) free(v[k]);
            free(v);
            return NULL;
        }
    return v;
}

static void free_lines(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

bool kq_check_schedule(const KqRows *expected, const KqRows *actual, KqMsgs *out)
{
    char **el = row_lines(expected), **al = row_lines(actual);
    size_t nops = 0;
    DiffOp *ops = el && al ? diff_ops(el, expected, al, actual, &nops) : NULL;
    if (!ops) {
        kq_msg(out, "out of memory while comparing schedules");
        free_lines(el, expected->n);
        free_lines(al, actual->n);
        return false;
    }
    size_t changes = 0;
    for (size_t i = 0; i < nops; i++) changes += ops[i].op != ' ';
    bool same = changes == 0;
    if (!same) {
        kq_msg(out, "schedule: %zu expected row%s, %zu actual row%s, %zu line%s differ "
               "(-expected +actual):", expected->n, expected->n == 1 ? "" : "s", actual->n,
               actual->n == 1 ? "" : "s", changes, changes == 1 ? "" : "s");
        size_t shown = 0, i = 0;
        while (i < nops && shown < MAX_DIFF_LINES) {
            while (i < nops && ops[i].op == ' ') i++;
            if (i == nops) break;
            /* a hunk: from DIFF_CONTEXT before this change to DIFF_CONTEXT after
               the last change that is within 2 * DIFF_CONTEXT of the next */
            size_t start = i >= DIFF_CONTEXT ? i - DIFF_CONTEXT : 0, end = i, gap = 0;
            for (size_t j = i; j < nops; j++) {
                if (ops[j].op != ' ') { end = j; gap = 0; }
                else if (++gap > 2 * DIFF_CONTEXT) break;
            }
            end = end + DIFF_CONTEXT + 1 < nops ? end + DIFF_CONTEXT + 1 : nops;
            size_t ne = 0, na = 0;
            for (size_t j = start; j < end; j++) {
                ne += ops[j].op != '+';
                na += ops[j].op != '-';
            }
            kq_msg(out, "@@ -%zu,%zu +%zu,%zu @@", ops[start].e + (ne ? 1 : 0), ne,
                   ops[start].a + (na ? 1 : 0), na);
            for (size_t j = start; j < end; j++) {
                if (ops[j].op != ' ' && shown >= MAX_DIFF_LINES) break;
                const char *text = ops[j].op == '+' ? al[ops[j].a] : el[ops[j].e];
                kq_msg(out, "%c%s", ops[j].op, text);
                shown += ops[j].op != ' ';
            }
            i = end;
        }
        if (changes > shown)
            kq_msg(out, "... %zu more differing lines", changes - shown);
    }
    free(ops);
    free_lines(el, expected->n);
    free_lines(al, actual->n);
    return same;
}

/* ---- assertions ------------------------------------------------------------ */

static bool row_matches(const KqFilter *f, const KqRow *r)
{
    for (int c = 0; c < KQ_NCOLS; c++) {
        if (!f->has[c]) continue;
        if (c == KQ_TIME) { if (r->time != f->time) return false; }
        else if (c == KQ_ATTEMPT) { if (r->attempt != f->attempt) return false; }
        else if (strcmp(r->f[c], f->val[c]) != 0) return false;
    }
    return true;
}

static void show_row(KqMsgs *out, const KqRow *r, const char *note)
{
    char *line = kq_row_csv(r);
    kq_msg(out, "  %s%s", line ? line : "(out of memory)", note ? note : "");
    free(line);
}

/* Prints the rows idx[0..n), at most MAX_SHOWN_ROWS of them. */
static void show_rows(KqMsgs *out, const KqRows *rows, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n && i < MAX_SHOWN_ROWS; i++)
        show_row(out, &rows->v[idx[i]], NULL);
    if (n > MAX_SHOWN_ROWS)
        kq_msg(out, "  ... %zu more rows", n - MAX_SHOWN_ROWS);
}

int kq_parse_duration(const char *s, int64_t *out)
{
    int64_t d;
    int rc = ku_parse_dur(s, strlen(s), KQ_MAX_PER, &d);
    if (rc == KU_DUR_BIG) return -2;
    if (rc != KU_DUR_OK || d <= 0) return -1;
    *out = d;
    return 0;
}

/* Indices of the rows matching a filter (and action ask if asks_only). */
static size_t *matching(const KqFilter *f, const KqRows *rows, bool asks_only, size_t *n)
{
    size_t *idx = malloc((rows->n + 1) * sizeof *idx);
    *n = 0;
    if (!idx) return NULL;
    for (size_t i = 0; i < rows->n; i++)
        if (row_matches(f, &rows->v[i]) && (!asks_only || strcmp(rows->v[i].f[KQ_ACTION], "ask") == 0))
            idx[(*n)++] = i;
    return idx;
}

/* A matching row for the window scan: sorted by customer, then time,
 * then position. */
typedef struct WinRow { const char *customer; int64_t time; size_t idx; } WinRow;

static int cmp_winrow(const void *x, const void *y)
{
    const WinRow *a = x, *b = y;
    int c = strcmp(a->customer, b->customer);
    if (c) return c;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static bool check_at_most(const KqAssert *a, const char *head, const KqRows *rows, KqMsgs *out)
{
    size_t n;
    size_t *idx = matching(&a->filter, rows, a->asks_only, &n);
    WinRow *w = idx ? malloc((n + 1) * sizeof *w) : NULL;
    if (!w) { free(idx); kq_msg(out, "%s: out of memory", head); return false; }
    for (size_t i = 0; i < n; i++)
        w[i] = (WinRow){ rows->v[idx[i]].f[KQ_CUSTOMER], rows->v[idx[i]].time, idx[i] };
    qsort(w, n, sizeof *w, cmp_winrow);
    for (size_t i = 0; i < n; i++)
        idx[i] = w[i].idx;
    free(w);
    bool ok = true;
    size_t lo = 0;
    for (size_t hi = 0; hi < n && ok; hi++) {
        const KqRow *r = &rows->v[idx[hi]];
        if (hi > 0 && strcmp(rows->v[idx[hi - 1]].f[KQ_CUSTOMER], r->f[KQ_CUSTOMER]) != 0)
            lo = hi;
        /* window (t - per, t] */
        while (rows->v[idx[lo]].time <= r->time - a->per) lo++;
        if ((long)(hi - lo + 1) > a->limit) {
            char dur[KU_DUR_BUF];
            ku_fmt_dur(a->per, false, dur);
            kq_msg(out, "%s: customer %s has %zu %s within %s (limit %ld):", head,
                   r->f[KQ_CUSTOMER], hi - lo + 1, a->asks_only ? "asks" : "rows", dur, a->limit);
            show_rows(out, rows, idx + lo, hi - lo + 1);
            ok = false;
        }
    }
    free(idx);
    return ok;
}

static bool check_quiet(const KqAssert *a, const char *head, const KqRows *rows, KqMsgs *out)
{
    GTimeZone *tz = a->gtz;
    size_t bad = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const KqRow *r = &rows->v[i];
        if (!row_matches(&a->filter, r)) continue;
        int iv = g_time_zone_find_interval(tz, G_TIME_TYPE_UNIVERSAL, r->time);
        int64_t local = r->time + (iv >= 0 ? g_time_zone_get_offset(tz, iv) : 0);
        int sod = (int)(((local % 86400) + 86400) % 86400);
        bool in = a->from_sec < a->to_sec ? (sod >= a->from_sec && sod < a->to_sec)
                                          : (sod >= a->from_sec || sod < a->to_sec);
        if (!in) continue;
        if (bad == 0)
            kq_msg(out, "%s: rows inside the quiet window:", head);
        if (bad < MAX_SHOWN_ROWS) {
            char note[64];
            snprintf(note, sizeof note, "   (%02d:%02d:%02d %s)", sod / 3600, sod / 60 % 60,
                     sod % 60, a->tz);
            show_row(out, r, note);
        }
        bad++;
    }
    if (bad > MAX_SHOWN_ROWS)
        kq_msg(out, "  ... %zu more rows", bad - MAX_SHOWN_ROWS);
    return bad == 0;
}

bool kq_check_assert(const KqAssert *a, size_t i, const KqRows *rows, KqMsgs *out)
{
    char head[256];
    snprintf(head, sizeof head, "expect[%zu]: %s", i + 1, a->text ? a->text : "?");
    size_t n;
    size_t *idx;
    bool ok;
    switch (a->kind) {
    case KQ_SENT:
    case KQ_NOT_SENT:
    case KQ_COUNT:
        idx = matching(&a->filter, rows, false, &n);
        if (!idx) { kq_msg(out, "%s: out of memory", head); return false; }
        if (a->kind == KQ_SENT) {
            ok = n > 0;
            if (!ok) {
                KqFilter same = {0};
                const char *who = a->filter.has[KQ_CUSTOMER] ? a->filter.val[KQ_CUSTOMER] : NULL;
                if (who) { same.has[KQ_CUSTOMER] = true; same.val[KQ_CUSTOMER] = who; }
                free(idx);
                idx = matching(&same, rows, false, &n);
                if (!idx) { kq_msg(out, "%s: out of memory", head); return false; }
                if (n == 0 && who)
                    kq_msg(out, "%s: no row matches; customer %s has no rows", head, who);
                else if (n == 0)
                    kq_msg(out, "%s: no row matches; the schedule is empty", head);
                else {
                    kq_msg(out, "%s: no row matches; %s:", head,
                           who ? "the rows of this customer" : "the schedule");
                    show_rows(out, rows, idx, n);
                }
            }
        } else if (a->kind == KQ_NOT_SENT) {
            ok = n == 0;
            if (!ok) {
                kq_msg(out, "%s: %zu row%s match%s:", head, n, n == 1 ? "" : "s", n == 1 ? "es" : "");
                show_rows(out, rows, idx, n);
            }
        } else {
            ok = (!a->has_eq || (long)n == a->eq) && (!a->has_min || (long)n >= a->min) &&
                 (!a->has_max || (long)n <= a->max);
            if (!ok) {
                kq_msg(out, "%s: %zu row%s match%s%s", head, n, n == 1 ? "" : "s",
                       n == 1 ? "es" : "", n ? ":" : "");
                show_rows(out, rows, idx, n);
            }
        }
        free(idx);
        return ok;
    case KQ_AT_MOST:
        return check_at_most(a, head, rows, out);
    case KQ_QUIET:
        return check_quiet(a, head, rows, out);
    }
    return false;
}
