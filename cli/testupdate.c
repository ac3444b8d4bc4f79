/* testupdate.c -- `kairos test --update`: rewrites the expected schedule of
 * tests whose schedule differed (SPEC.md 7.5), like snapshot testing.
 *
 * A schedule file is rewritten whole (header and rows, as simulate writes
 * it).  An inline `schedule:` list is replaced in the test file's text, in
 * the style it was written (block: one `- {...}` line per row at the
 * list's indentation; flow: `[...]` with one row per line); the rest of the
 * file, comments included, is kept byte for byte.  The new test file is
 * read back and must give exactly the new rows, else the old text is put
 * back and the update is reported as failed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "testfile.h"
#include "../lang/util.h"

/* The code point of the well-formed character of k bytes at s. */
static unsigned code_point(const unsigned char *s, size_t k)
{
    if (k == 1) return s[0];
    unsigned cp = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) cp = cp << 6 | (s[i] & 0x3f);
    return cp;
}

/* Whether YAML keeps code point cp as it is inside a scalar: printable
 * (YAML 1.1's set, which leaves out C0 but tab, DEL, C1, U+FFFE and U+FFFF)
 * and not a line break that libyaml folds (NEL, U+2028, U+2029), nor a BOM. */
static bool yaml_keeps(unsigned cp)
{
    return (cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp != 0x2028 && cp != 0x2029 &&
                                         cp != 0xfeff && cp != 0xfffe && cp != 0xffff);
}

/* A value as a YAML flow scalar: plain when YAML reads it back as the same
 * text, else double-quoted, with every character yaml_keeps refuses written
 * as an escape (test files are UTF-8: the values are well-formed). */
static void yaml_scalar(KqBuf *b, const char *s)
{
    size_t n = strlen(s);
    bool plain = n > 0 && !(n == 1 && s[0] == '~') && strcmp(s, "null") && strcmp(s, "Null") &&
                 strcmp(s, "NULL") && !strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) && s[0] != ' ' &&
                 s[n - 1] != ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t bad = 0, k = c < 0x80 ? 1 : ku_utf8_char(s + i, n - i, &bad);
        if (!k || !yaml_keeps(code_point((const unsigned char *)s + i, k))) {
            plain = false;
            break;
        }
        if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}' || c == '"' || c == '\\' ||
            (c == '#' && i > 0 && s[i - 1] == ' ') || (c == ':' && (i + 1 == n || s[i + 1] == ' ')))
            plain = false;
        i += k - 1;
    }
    if (plain) { kq_buf_str(b, s); return; }
    kq_buf_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t bad = 0, k = c < 0x80 ? 1 : ku_utf8_char(s + i, n - i, &bad);
        if (!k) k = bad ? bad : 1;        /* cannot happen (see above): kept as bytes */
        unsigned cp = code_point((const unsigned char *)s + i, k);
        if (c == '"' || c == '\\') kq_buf_fmt(b, "\\%c", c);
        else if (c == '\n') kq_buf_str(b, "\\n");
        else if (c == '\t') kq_buf_str(b, "\\t");
        else if (!yaml_keeps(cp)) kq_buf_fmt(b, "\\u%04x", cp);
        else kq_buf_add(b, s + i, k);
        i += k - 1;
    }
    kq_buf_str(b, "\"");
}

static void yaml_row(KqBuf *b, const KqRow *r)
{
    kq_buf_str(b, "{");
    for (int c = 0; c < KQ_NCOLS; c++) {
        if (c == KQ_VARIANT && !r->f[c][0]) continue;
        kq_buf_fmt(b, "%s%s: ", c ? ", " : "", kq_columns[c]);
        yaml_scalar(b, r->f[c]);
    }
    kq_buf_str(b, "}");
}

/* The replacement text of an inline schedule node.  col0: the node's
 * column (0-based), where its first character stands. */
static void yaml_schedule(KqBuf *b, const KqNode *node, const KqRows *rows)
{
    unsigned col0 = node->lo_col - 1;
    /* (a list in its key's column: `[]` there would be read as a key, so
     * two columns in, which makes it the key's value) */
    if (rows->n == 0) { kq_buf_str(b, node->indentless ? "  []" : "[]"); return; }
    if (!node->flow) {
        for (size_t i = 0; i < rows->n; i++) {
            if (i) kq_buf_fmt(b, "\n%*s", (int)col0, "");
            kq_buf_str(b, "- ");
            yaml_row(b, &rows->v[i]);
        }
        return;
    }
    kq_buf_str(b, "[");
    for (size_t i = 0; i < rows->n; i++) {
        kq_buf_fmt(b, "%s\n%*s", i ? "," : "", (int)col0 + 2, "");
        yaml_row(b, &rows->v[i]);
    }
    kq_buf_fmt(b, "\n%*s]", (int)col0, "");
}

static char *schedule_csv(const KqRows *rows, size_t *len)
{
    KqBuf b = {0};
    for (int c = 0; c < KQ_NCOLS; c++) kq_buf_fmt(&b, "%s%s", c ? "," : "", kq_columns[c]);
    kq_buf_str(&b, "\n");
    for (size_t i = 0; i < rows->n; i++) {
        char *line = kq_row_csv(&rows->v[i]);
        if (!line) { b.oom = true; break; }
        kq_buf_fmt(&b, "%s\n", line);
        free(line);
    }
    *len = b.n;
    return kq_buf_take(&b);
}

static bool same_rows(const KqRows *a, const KqRows *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        char *x = kq_row_csv(&a->v[i]), *y = kq_row_csv(&b->v[i]);
        bool same = x && y && strcmp(x, y) == 0;
        free(x);
        free(y);
        if (!same) return false;
    }
    return true;
}

typedef struct Edit { size_t lo, hi; char *text; size_t test; } Edit;

static int cmp_edit(const void *a, const void *b)
{
    const Edit *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* same_schedule -- whether two tests' schedule paths name one file: the
 * same text, or (written differently, or a link) the same regular file. */
static bool same_schedule(const char *a, const char *b)
{
    return strcmp(a, b) == 0 || kq_same_file(a, b);
}

void kq_seen_add(KqSeen *s, const KqFile *f, KqRows *const *actual, const bool *failed)
{
    for (size_t i = 0; i < f->ntests; i++) {
        const KqTest *t = &f->tests[i];
        if (!t->schedule_file) continue;
        bool known = false;
        for (size_t k = 0; k < s->n && !known; k++)
            known = same_schedule(s->v[k].path, t->schedule_file);
        if (known) continue;          /* its rows are those of the first (a clash was refused) */
        size_t n;
        char *csv = schedule_csv(actual && actual[i] && !failed[i] ? actual[i] : &t->schedule, &n);
        if (!csv || KU_RESERVE(s->v, s->n, s->cap, 8) != 0) { free(csv); continue; }
        s->v[s->n] = (struct KqSeenFile){ strdup(t->schedule_file), strdup(f->path), strdup(t->name), csv };
        if (!s->v[s->n].path || !s->v[s->n].test_file || !s->v[s->n].test) {
            free(s->v[s->n].path); free(s->v[s->n].test_file); free(s->v[s->n].test); free(csv);
            continue;
        }
        s->n++;
    }
}

void kq_seen_free(KqSeen *s)
{
    for (size_t k = 0; k < s->n; k++) {
        free(s->v[k].path);
        free(s->v[k].test_file);
        free(s->v[k].test);
        free(s->v[k].csv);
    }
    free(s->v);
    *s = (KqSeen){ 0 };
}

bool kq_update_schedules(const KqFile *f, KqRows *const *actual, bool *failed, KqMsgs *done,
                         KqMsgs *errs, const KqSeen *seen)
{
    bool all_ok = true;
    Edit *edits = calloc(f->ntests ? f->ntests : 1, sizeof *edits);
    size_t nedits = 0;
    char *text = NULL;
    size_t len = 0;
    if (!edits) { kq_msg(errs, "%s: error: out of memory", f->path); goto fail_all; }

    for (size_t i = 0; i < f->ntests; i++) {
        const KqTest *t = &f->tests[i];
        if (!actual[i]) continue;
        if (t->schedule_file) {
            /* every other test of this file that expects the same file must
             * get the same new rows (a test that passed keeps expecting the
             * old ones) */
            bool clash = false;
            for (size_t j = 0; j < f->ntests && !clash; j++)
                if (j != i && f->tests[j].schedule_file &&
                    same_schedule(f->tests[j].schedule_file, t->schedule_file) &&
                    (!actual[j] || !same_rows(actual[j], actual[i]))) {
                    kq_msg(errs, "%s: error: test '%s': %s not updated: test '%s' expects %s "
                           "schedule there", f->path, t->name, t->schedule_file, f->tests[j].name,
                           actual[j] ? "a different" : "the present");
                    clash = true;
                }
            size_t n;
            char *csv = clash ? NULL : schedule_csv(actual[i], &n);
            /* ... and so must a test of an earlier test file of the run */
            for (size_t k = 0; csv && seen && k < seen->n && !clash; k++) {
                const struct KqSeenFile *o = &seen->v[k];
                if (same_schedule(o->path, t->schedule_file) &&
                    strcmp(o->csv, csv) != 0) {
                    kq_msg(errs, "%s: error: test '%s': %s not updated: test '%s' of %s expects other rows "
                           "there", f->path, t->name, t->schedule_file, o->test, o->test_file);
                    clash = true;
                }
            }
            if (clash || !csv || cli_write_atomic(t->schedule_file, csv, n) != 0) {
                if (!clash && !csv) kq_msg(errs, "%s: error: out of memory", f->path);
                failed[i] = true;
                all_ok = false;
            } else {
                kq_msg(done, "%s: %s: rewrote %s (%zu row%s, was %zu)", f->path, t->name,
                       t->schedule_file, actual[i]->n, actual[i]->n == 1 ? "" : "s", t->schedule.n);
            }
            free(csv);
            continue;
        }
        edits[nedits].test = i;
        edits[nedits].lo = t->schedule_node->lo;   /* characters until converted */
        edits[nedits].hi = t->schedule_node->hi;
        KqBuf b = {0};
        yaml_schedule(&b, t->schedule_node, actual[i]);
        if (!(edits[nedits].text = kq_buf_take(&b))) {
            kq_msg(errs, "%s: error: out of memory", f->path);
            failed[i] = true;
            all_ok = false;
            continue;
        }
        nedits++;
    }
    if (nedits == 0) goto out;

    if (ku_read_file(f->path, 0, &text, &len) != 0) {
        kq_msg(errs, "%s: error: cannot read it to update: %s", f->path, strerror(errno));
        goto fail_edits;
    }
    for (size_t k = 0; k < nedits; k++) {
        edits[k].lo = kq_char_to_byte(text, len, edits[k].lo);
        edits[k].hi = kq_char_to_byte(text, len, edits[k].hi);
    }
    qsort(edits, nedits, sizeof *edits, cmp_edit);
    /* the new lines end as the file's first line does (CR LF or LF) */
    const char *lf = memchr(text, '\n', len);
    bool crlf = lf && lf > text && lf[-1] == '\r';
    KqBuf nb = {0};
    size_t at = 0;
    for (size_t k = 0; k < nedits; k++) {
        kq_buf_add(&nb, text + at, edits[k].lo - at);
        for (const char *e = edits[k].text; *e; e++) {
            if (*e == '\n' && crlf) kq_buf_add(&nb, "\r", 1);
            kq_buf_add(&nb, e, 1);
        }
        at = edits[k].hi;
    }
    kq_buf_add(&nb, text + at, len - at);
    size_t nlen = nb.n;
    char *ntext = kq_buf_take(&nb);
    if (!ntext) { kq_msg(errs, "%s: error: out of memory", f->path); goto fail_edits; }
    if (cli_write_atomic(f->path, ntext, nlen) != 0) {
        free(ntext);
        kq_msg(errs, "%s: error: not updated", f->path);
        goto fail_edits;
    }
    free(ntext);
    /* read it back: every updated test must now expect exactly its new rows */
    KqMsgs lerr = {0};
    KqFile *nf = kq_file_load(f->path, &lerr);
    bool good = nf && nf->ntests == f->ntests;
    for (size_t k = 0; good && k < nedits; k++)
        good = same_rows(&nf->tests[edits[k].test].schedule, actual[edits[k].test]);
    kq_file_free(nf);
    kq_msgs_free(&lerr);
    if (!good) {
        cli_write_atomic(f->path, text, len);
        kq_msg(errs, "%s: error: the updated file does not read back as the new schedules; "
               "left as it was", f->path);
        goto fail_edits;
    }
    for (size_t k = 0; k < nedits; k++) {
        const KqTest *t = &f->tests[edits[k].test];
        size_t n = actual[edits[k].test]->n;
        kq_msg(done, "%s: %s: rewrote the inline schedule (%zu row%s, was %zu)", f->path, t->name,
               n, n == 1 ? "" : "s", t->schedule.n);
    }
    goto out;

fail_edits:
    for (size_t k = 0; k < nedits; k++) failed[edits[k].test] = true;
    all_ok = false;
    goto out;
fail_all:
    for (size_t i = 0; i < f->ntests; i++) if (actual[i]) failed[i] = true;
    all_ok = false;
out:
    for (size_t k = 0; k < nedits; k++) free(edits[k].text);
    free(edits);
    free(text);
    return all_ok;
}
