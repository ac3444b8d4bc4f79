/* fmt.c -- `kairos fmt [--check|--diff|-w] FILE...`: prints policies in the
 * canonical layout (lang/fmt.c does the formatting).
 *
 *   (default)  the formatted text on standard output
 *   -w         rewrites each file that changes, in place (temporary file
 *              and rename; the file's permissions and symlinks are kept)
 *   --check    lists the files that would change, one per line
 *   --diff     prints a unified diff for each file that would change
 *
 * A file with a syntax error is reported (diagnostics on standard error)
 * and left unchanged.  Exit status: 0 all files already formatted (or
 * formatted, for the default and -w), 1 a file would change (--check,
 * --diff) or could not be read or parsed, 2 bad usage.  FILE `-` is
 * standard input (not with -w).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lang/util.h"
#include "cli.h"

typedef enum { MODE_STDOUT, MODE_WRITE, MODE_CHECK, MODE_DIFF } Mode;

/* ---- unified diff (Myers' O(ND) algorithm) ----------------------------------- */

typedef struct Lines { const char **p; size_t *n; size_t count; bool last_nl; } Lines;

/* Splits text into lines (without their '\n').  -1 on out of memory. */
static int split_lines(const char *s, size_t len, Lines *L)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n') count++;
    L->last_nl = len == 0 || s[len - 1] == '\n';
    if (!L->last_nl) count++;
    L->p = malloc((count + 1) * sizeof *L->p);
    L->n = malloc((count + 1) * sizeof *L->n);
    if (!L->p || !L->n) return -1;
    L->count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len ? start < len : s[i] == '\n') {
            L->p[L->count] = s + start;
            L->n[L->count++] = i - start;
            start = i + 1;
        }
    }
    return 0;
}

/* A last line without its '\n' differs from the same text with one (as in
 * diff(1): the change shows, and patch(1) applies it). */
static bool ends_line(const Lines *L, size_t i) { return i + 1 < L->count || L->last_nl; }

static bool same_line(const Lines *a, size_t i, const Lines *b, size_t j)
{
    return a->n[i] == b->n[j] && memcmp(a->p[i], b->p[j], a->n[i]) == 0 &&
           ends_line(a, i) == ends_line(b, j);
}

typedef enum { OP_EQ, OP_DEL, OP_INS } Op;

/* The edit script turning a into b: ops[0..*nops) in order.  Beyond a
 * few thousand differences the script is "delete all, insert all".
 * NULL on out of memory. */
static Op *edit_script(const Lines *a, const Lines *b, size_t *nops)
{
    long n = (long)a->count, m = (long)b->count, max = n + m;
    Op *ops = malloc(((size_t)max + 1) * sizeof *ops);
    if (!ops) return NULL;
    const long limit = 3000;
    long *v = calloc((size_t)(2 * max + 3), sizeof *v);
    long **trace = calloc((size_t)(max < limit ? max : limit) + 1, sizeof *trace);
    if (!v || !trace) { free(v); free(trace); free(ops); return NULL; }
    long off = max + 1, dfound = -1;
    for (long d = 0; d <= max && d <= limit && dfound < 0; d++) {
        /* keep V as it was before step d: entries k in [-d-1, d+1] */
        trace[d] = malloc((size_t)(2 * d + 3) * sizeof **trace);
        if (!trace[d]) break;
        memcpy(trace[d], v + off - d - 1, (size_t)(2 * d + 3) * sizeof *v);
        for (long k = -d; k <= d; k += 2) {
            long x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
                         ? v[off + k + 1] : v[off + k - 1] + 1;
            long y = x - k;
            while (x < n && y < m && same_line(a, (size_t)x, b, (size_t)y)) { x++; y++; }
            v[off + k] = x;
            if (x >= n && y >= m) { dfound = d; break; }
        }
    }
    size_t cnt = 0;
    if (dfound < 0) {                          /* too different: replace everything */
        for (long i = 0; i < n; i++) ops[cnt++] = OP_DEL;
        for (long j = 0; j < m; j++) ops[cnt++] = OP_INS;
    } else {
        /* walk back from (n, m), writing ops from the end */
        size_t w = (size_t)max + 1;
        long x = n, y = m;
        for (long d = dfound; d >= 0; d--) {
            if (d == 0) {                       /* the first snake, from (0, 0) */
                while (x > 0 && y > 0) { ops[--w] = OP_EQ; x--; y--; }
                break;
            }
            long *pv = trace[d] + d + 1;        /* pv[k] = V[k] before step d */
            long k = x - y;
            bool down = k == -d || (k != d && pv[k - 1] < pv[k + 1]);
            long pk = down ? k + 1 : k - 1, px = pv[pk], py = px - pk;
            long sx = down ? px : px + 1;       /* where this step's snake starts */
            while (x > sx) { ops[--w] = OP_EQ; x--; y--; }
            ops[--w] = down ? OP_INS : OP_DEL;
            x = px;
            y = py;
        }
        cnt = (size_t)max + 1 - w;
        memmove(ops, ops + w, cnt * sizeof *ops);
    }
    for (long d = 0; d <= max && d <= limit; d++) free(trace[d]);
    free(trace);
    free(v);
    *nops = cnt;
    return ops;
}

static void put_line(FILE *out, char tag, const Lines *L, size_t i)
{
    fputc(tag, out);
    fwrite(L->p[i], 1, L->n[i], out);
    fputc('\n', out);
    if (!ends_line(L, i)) fputs("\\ No newline at end of file\n", out);
}

static void put_range(FILE *out, size_t start, size_t count)
{
    if (count == 1) fprintf(out, "%zu", start + 1);
    else fprintf(out, "%zu,%zu", count ? start + 1 : start, count);
}

/* Prints the unified diff (3 lines of context) of old and new text. */
static int print_diff(FILE *out, const char *name, const char *a, size_t alen,
                      const char *b, size_t blen)
{
    Lines la = { 0 }, lb = { 0 };
    Op *ops = NULL;
    size_t nops = 0;
    int rc = -1;
    if (split_lines(a, alen, &la) < 0 || split_lines(b, blen, &lb) < 0) goto done;
    if (!(ops = edit_script(&la, &lb, &nops))) goto done;
    fprintf(out, "--- %s\n+++ %s\n", name, name);
    const size_t ctx = 3;
    size_t i = 0;
    while (i < nops) {
        if (ops[i] == OP_EQ) { i++; continue; }
        /* a hunk: from ctx lines before this change to ctx lines after the
         * last change that is at most 2*ctx lines from the next */
        size_t start = i >= ctx ? i - ctx : 0, end = i;
        for (size_t j = i; j < nops; j++) {
            if (ops[j] != OP_EQ) end = j + 1;
            else if (j - end >= 2 * ctx) break;
        }
        end = end + ctx < nops ? end + ctx : nops;
        size_t ai = 0, bi = 0;                   /* line numbers at start */
        for (size_t j = 0; j < start; j++) {
            if (ops[j] != OP_INS) ai++;
            if (ops[j] != OP_DEL) bi++;
        }
        size_t ac = 0, bc = 0;
        for (size_t j = start; j < end; j++) {
            if (ops[j] != OP_INS) ac++;
            if (ops[j] != OP_DEL) bc++;
        }
        fputs("@@ -", out);
        put_range(out, ai, ac);
        fputs(" +", out);
        put_range(out, bi, bc);
        fputs(" @@\n", out);
        for (size_t j = start; j < end; j++) {
            if (ops[j] == OP_EQ) { put_line(out, ' ', &la, ai++); bi++; }
            else if (ops[j] == OP_DEL) put_line(out, '-', &la, ai++);
            else put_line(out, '+', &lb, bi++);
        }
        i = end;
    }
    rc = 0;
done:
    free(la.p); free(la.n); free(lb.p); free(lb.n);
    free(ops);
    return rc;
}

/* ---- one file ------------------------------------------------------------------ */

/* Reads standard input into a new source; UINT32_MAX on error. */
static uint32_t read_stdin(KSources *s)
{
    char *buf;
    size_t n;
    if (ku_read_file(NULL, 0, &buf, &n) != 0) return UINT32_MAX;
    uint32_t id = kd_source_add(s, "<stdin>", buf, n, false);
    free(buf);
    return id;
}

/* Writes text over path, keeping the file's permissions and writing
 * through a symbolic link to its target (cli_write_file does both). */
static int write_back(const char *path, const char *text, size_t len)
{
    return cli_write_file(path, text, len);
}

/* Formats one file; returns 0 (nothing to report), 1 (changed, under
 * --check/--diff, or an error). */
static int fmt_file(const char *path, Mode mode, bool color)
{
    KSources srcs;
    kd_sources_init(&srcs);
    KDiags diags;
    kd_init(&diags, &srcs);
    bool is_stdin = strcmp(path, "-") == 0;
    struct stat st;
    if (mode == MODE_WRITE && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        /* a FIFO, a device: its text is gone once read, and writing it
         * back would wait for a reader (it hung) */
        fprintf(stderr, "%s: error: -w rewrites regular files only; this is %s\n", path,
                S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
        kd_free(&diags);
        kd_sources_free(&srcs);
        return 1;
    }
    uint32_t id = is_stdin ? read_stdin(&srcs) : kd_source_read(&srcs, path);
    int status = 0;
    if (id == UINT32_MAX) {
        fprintf(stderr, "%s: error: cannot read file: %s\n", is_stdin ? "<stdin>" : path,
                strerror(errno));
        status = 1;
        goto done;
    }
    if (ku_is_bytecode(is_stdin ? NULL : path, srcs.v[id].text, srcs.v[id].len)) {
        fprintf(stderr, "%s: error: bytecode (a compiled policy, or a file named .kbc), not policy "
                "source: `kairos disasm` lists bytecode\n", is_stdin ? "<stdin>" : path);
        status = 1;
        goto done;
    }
    size_t len = 0;
    char *out = kf_format(&srcs, id, &diags, &len);
    if (diags.n) kd_print(&diags, stderr, KD_FMT_TEXT, color);
    if (!out) { status = 1; goto done; }
    const KSource *s = &srcs.v[id];
    bool changed = len != s->len || memcmp(out, s->text, len) != 0;
    switch (mode) {
    case MODE_STDOUT:
        if (fwrite(out, 1, len, stdout) != len) { cli_stdout_error(errno); status = 1; }
        break;
    case MODE_WRITE:
        if (changed && write_back(path, out, len) < 0) status = 1;
        break;
    case MODE_CHECK:
        if (changed) { printf("%s\n", path); status = 1; }
        break;
    case MODE_DIFF:
        if (changed) {
            if (print_diff(stdout, is_stdin ? "<stdin>" : path, s->text, s->len, out, len) < 0)
                fprintf(stderr, "kairos fmt: out of memory\n");
            status = 1;
        }
        break;
    }
    free(out);
done:
    kd_free(&diags);
    kd_sources_free(&srcs);
    return status;
}

/* ---- the command -------------------------------------------------------------- */

int cli_fmt(int argc, char **argv)
{
    Mode mode = MODE_STDOUT;
    int nmodes = 0;
    const char *color = "auto";
    char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) { fprintf(stderr, "kairos fmt: out of memory\n"); return 1; }
    int nfiles = 0;
    bool only_files = false;
    CliSeen seen = {0};
    int nstdin = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
            nstdin += strcmp(a, "-") == 0;
            files[nfiles++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) only_files = true;
        else if (strcmp(a, "--check") == 0 || strcmp(a, "--diff") == 0 || strcmp(a, "-d") == 0 ||
                 strcmp(a, "-w") == 0 || strcmp(a, "--write") == 0) {
            Mode m = strcmp(a, "--check") == 0 ? MODE_CHECK
                     : strcmp(a, "--diff") == 0 || strcmp(a, "-d") == 0 ? MODE_DIFF : MODE_WRITE;
            if (nmodes && m == mode) { free(files); return cli_usage_error("fmt", "option %s given twice", a); }
            mode = m;
            nmodes++;
        }
        else if (strncmp(a, "--color=", 8) == 0 || (strcmp(a, "--color") == 0 && i + 1 < argc)) {
            color = a[7] == '=' ? a + 8 : argv[++i];
            if (cli_once(&seen, "fmt", "--color", color) != 0) { free(files); return 2; }
        } else if (strcmp(a, "--color") == 0) { free(files); return cli_usage_error("fmt", "option --color needs a value"); }
        else { free(files); return cli_usage_error("fmt", "unknown option %s", a); }
    }
    if (strcmp(color, "auto") != 0 && strcmp(color, "always") != 0 && strcmp(color, "never") != 0) {
        free(files);
        return cli_usage_error("fmt", "--color takes auto, always or never");
    }
    if (nmodes > 1) { free(files); return cli_usage_error("fmt", "--check, --diff and -w exclude each other"); }
    if (nfiles == 0) { free(files); return cli_usage_error("fmt", "no file given"); }
    if (nstdin > 1) {
        free(files);
        return cli_usage_error("fmt", "standard input can be read once: '-' given %d times", nstdin);
    }
    for (int i = 0; i < nfiles; i++)
        if (mode == MODE_WRITE && strcmp(files[i], "-") == 0) {
            free(files);
            return cli_usage_error("fmt", "-w cannot rewrite standard input");
        }
    bool use_color = strcmp(color, "always") == 0 ||
        (strcmp(color, "auto") == 0 && isatty(STDERR_FILENO) && getenv("NO_COLOR") == NULL);
    char **paths;
    int npaths;
    int status = cli_expand_policies("fmt", files, nfiles, &paths, &npaths, NULL, NULL) ? 1 : 0;
    for (int i = 0; i < npaths; i++)
        if (fmt_file(paths[i], mode, use_color) != 0) status = 1;
    if (cli_flush_stdout() != 0) status = 1;
    cli_free_paths(paths, npaths);
    free(files);
    return status;
}
