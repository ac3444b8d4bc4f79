/* test.c -- `kairos test`: runs policy tests written in YAML
 * (SPEC.md section 7).
 *
 * Finds the test files, loads each (cli/testfile.c) and its policy once,
 * replays every test through kr_simulate into a private temporary
 * directory, reads the schedule back and checks it (cli/testcheck.c).
 * Reports one line per test on standard output, and optionally JUnit XML.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "cli.h"
#include "testfile.h"
#include "lang/util.h"

/* ---- results -------------------------------------------------------------- */

typedef struct CaseResult {
    char *name;
    bool ok;
    KqMsgs details;
    double secs;                  /* how long it ran */
    KqRows *actual;               /* --update: the schedule, when it differed */
    bool updated;                 /* --update: its expected schedule was rewritten */
} CaseResult;

typedef struct FileResult {
    char *path;
    bool unusable;                /* errors: the file ran no test */
    KqMsgs errors;                /* for an unusable file */
    CaseResult *cases;
    size_t ncases;
    double secs;                  /* loading the file and its policy, and every test */
    time_t started;
} FileResult;

typedef struct Run {
    FileResult *files;
    size_t nfiles, cap;
    size_t passed, failed;
    bool text;                    /* text report on stdout */
    const char *tmpdir;
    bool color;
    double secs;                  /* the whole run */
    bool update;                  /* --update */
    size_t nupdated;
    KqSeen seen;                  /* --update: the schedule files expected so far */
} Run;

/* Seconds on a monotonic clock. */
static double now_secs(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static FileResult *add_file(Run *r, const char *path)
{
    if (KU_RESERVE(r->files, r->nfiles, r->cap, 8) != 0) return NULL;
    FileResult *f = &r->files[r->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return NULL;
    r->nfiles++;
    return f;
}

static void free_run(Run *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        FileResult *f = &r->files[i];
        free(f->path);
        kq_msgs_free(&f->errors);
        for (size_t k = 0; k < f->ncases; k++) {
            free(f->cases[k].name);
            kq_msgs_free(&f->cases[k].details);
            if (f->cases[k].actual) {
                kq_rows_free(f->cases[k].actual);
                free(f->cases[k].actual);
            }
        }
        free(f->cases);
    }
    free(r->files);
}

/* Marks a file unusable: its errors go to stderr, "FAIL PATH" to the report. */
static void file_failed(Run *r, FileResult *f)
{
    f->unusable = true;
    for (size_t i = 0; i < f->errors.n; i++)
        fprintf(stderr, "%s\n", f->errors.v[i]);
    if (f->errors.oom)
        fprintf(stderr, "%s: error: out of memory\n", f->path);
    if (r->text)
        printf("FAIL %s\n", f->path);
    cli_flush_stdout();
    r->failed++;
}

/* ---- discovery ------------------------------------------------------------- */

typedef struct PathList {
    char **v;
    size_t n, cap;
} PathList;

static int path_add(PathList *l, char *p)
{
    if (!p) return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) { free(p); return -1; }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return 0;
}

static void path_list_free(PathList *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_test_name(const char *name)
{
    size_t n = strlen(name), s = strlen(".test.yaml");
    return n > s && strcmp(name + n - s, ".test.yaml") == 0;
}

/* dir joined with name; "." as dir gives name alone. */
static char *join_dir(const char *dir, const char *name)
{
    if (strcmp(dir, ".") == 0) return strdup(name);
    size_t dn = strlen(dir), nn = strlen(name);
    bool slash = dn > 0 && dir[dn - 1] == '/';
    char *p = malloc(dn + nn + 2);
    if (!p) return NULL;
    memcpy(p, dir, dn);
    if (!slash) p[dn++] = '/';
    memcpy(p + dn, name, nn + 1);
    return p;
}

/* Collects *.test.yaml below dir (not following symbolic links to
 * directories, skipping hidden directories); errors go to errs. */
static void walk(const char *dir, PathList *out, KqMsgs *errs, int depth)
{
    if (depth > 64) {
        kq_msg(errs, "%s: error: directories nested too deep", dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        kq_msg(errs, "%s: error: cannot read directory: %s", dir, strerror(errno));
        return;
    }
    PathList subdirs = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        char *p = join_dir(dir, name);
        if (!p) { kq_msg(errs, "%s: error: out of memory", dir); break; }
        struct stat st;
        if (lstat(p, &st) != 0) { free(p); continue; }
        if (S_ISDIR(st.st_mode)) {
            if (name[0] == '.') free(p);
            else if (path_add(&subdirs, p) != 0) kq_msg(errs, "%s: error: out of memory", dir);
            continue;
        }
        /* a link to a test file is one; a dangling link is kept too, so that
         * it fails when read instead of being skipped without a word */
        if (is_test_name(name) && (S_ISREG(st.st_mode) ||
                                   (S_ISLNK(st.st_mode) && (stat(p, &st) != 0 || S_ISREG(st.st_mode))))) {
            if (path_add(out, p) != 0) kq_msg(errs, "%s: error: out of memory", dir);
            continue;
        }
        free(p);
    }
    closedir(d);
    for (size_t i = 0; i < subdirs.n; i++)
        walk(subdirs.v[i], out, errs, depth + 1);
    path_list_free(&subdirs);
}

/* ---- one test ----------------------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    int e = fclose(f);
    return w == len && e == 0 ? 0 : -1;
}

/* Adds the lines of text (captured replay messages) to out. */
static void add_lines(KqMsgs *out, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || text[i] == '\n') {
            if (i > start) kq_msg(out, "%.*s", (int)(i - start), text + start);
            start = i + 1;
        }
}

static bool run_case(Run *r, const KImage *img, const KqTest *t, CaseResult *cr)
{
    KqMsgs *out = &cr->details;
    char *events_path = join_dir(r->tmpdir, "events.csv");
    char *sched_path = join_dir(r->tmpdir, "schedule.csv");
    bool ok = false;
    if (!events_path || !sched_path) { kq_msg(out, "out of memory"); goto done; }

    const char *inline_input[1] = { events_path };
    KrOptions ro;
    memset(&ro, 0, sizeof ro);
    if (t->inline_events) {
        if (write_file(events_path, t->inline_csv, t->inline_len) != 0) {
            kq_msg(out, "%s: cannot write the inline events: %s", events_path, strerror(errno));
            goto done;
        }
        ro.inputs = inline_input;
        ro.ninputs = 1;
    } else {
        ro.inputs = (const char **)t->event_files;
        ro.ninputs = (uint32_t)t->nevent_files;
    }
    ro.out_name = sched_path;
    ro.out_fresh = true;
    ro.format = KR_OUT_CSV;
    ro.has_until = t->has_until;
    ro.until = t->until;
    ro.progress = false;

    char *msgs = NULL;
    size_t msglen = 0;
    FILE *err = open_memstream(&msgs, &msglen);
    if (!err) { kq_msg(out, "out of memory"); goto done; }
    if (!(ro.out = fopen(sched_path, "w"))) {
        kq_msg(out, "%s: cannot write: %s", sched_path, strerror(errno));
        fclose(err);
        free(msgs);
        goto done;
    }
    int status = kr_simulate(img, &ro, err);
    if (fclose(ro.out) != 0 && status == 0) {
        fprintf(err, "%s: error: write error: %s\n", sched_path, strerror(errno));
        status = 1;
    }
    fclose(err);
    if (status != 0) {
        kq_msg(out, "the replay failed (exit status %d):", status);
        add_lines(out, msgs, msglen);
        free(msgs);
        goto done;
    }

    KqRows actual = {0};
    KqMsgs rerr = {0};
    if (kq_rows_read_csv(sched_path, &actual, &rerr) != 0) {
        kq_msg(out, "cannot read the replay's schedule:");
        for (size_t i = 0; i < rerr.n; i++) kq_msg(out, "%s", rerr.v[i]);
        kq_msgs_free(&rerr);
        kq_rows_free(&actual);
        free(msgs);
        goto done;
    }
    kq_msgs_free(&rerr);
    ok = true;
    bool differs = t->has_schedule && !kq_check_schedule(&t->schedule, &actual, out);
    for (size_t i = 0; i < t->nasserts; i++)
        if (!kq_check_assert(&t->asserts[i], i, &actual, out))
            ok = false;
    if (differs) {
        /* --update keeps the new schedule to write; the diff stays as the
         * report of what changes */
        if (r->update && (cr->actual = malloc(sizeof *cr->actual))) {
            *cr->actual = actual;
            actual = (KqRows){0};
        } else {
            ok = false;
        }
    }
    kq_rows_free(&actual);
    /* a failed test shows what the replay warned of (a value of another
     * type than the policy reads, ...): often the reason it failed */
    if (!ok && msglen) {
        kq_msg(out, "the replay warned:");
        add_lines(out, msgs, msglen);
    }
    free(msgs);
done:
    if (events_path) unlink(events_path);
    if (sched_path) unlink(sched_path);
    free(events_path);
    free(sched_path);
    if (out->oom) ok = false;
    return ok;
}

/* Whether the UTF-8 at p starts with a C1 control (U+0080..U+009F, two bytes). */
static bool is_c1(const unsigned char *p)
{
    return p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
}

/* A test's name or a detail as one line of the text report: control
 * characters (C0, DEL, C1: a line break in a customer id too) as `?`. */
static void put_one_line(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (is_c1(c)) { putchar('?'); c++; continue; }
        putchar(*c < 0x20 || *c == 0x7f ? '?' : *c);
    }
    putchar('\n');
}

/* Counts a test and prints its report line and details. */
static void report_case(Run *r, const char *path, const CaseResult *cr)
{
    if (cr->ok) r->passed++;
    else r->failed++;
    if (!r->text) return;
    printf("%s %s: ", !cr->ok ? "FAIL" : cr->updated ? "upd " : "ok  ", path);
    put_one_line(cr->name ? cr->name : "?");
    for (size_t k = 0; k < cr->details.n; k++) {
        fputs("    ", stdout);
        put_one_line(cr->details.v[k]);
    }
    if (cr->details.oom)
        printf("    (some details are missing: out of memory)\n");
    cli_flush_stdout();
}

/* ---- one file ------------------------------------------------------------------- */

static void run_file(Run *r, const char *path)
{
    FileResult *fr = add_file(r, path);
    if (!fr) {
        fprintf(stderr, "%s: error: out of memory\n", path);
        r->failed++;
        return;
    }
    KqFile *f = kq_file_load(path, &fr->errors);
    if (!f) { file_failed(r, fr); return; }
    cli_flush_stdout();
    KlOptions lopt = {0};
    /* the loader prints the policy's diagnostics on stderr; a copy is kept
     * as the cause of the file's error in the JUnit report */
    char *cause = NULL;
    size_t cause_len = 0;
    FILE *mem = open_memstream(&cause, &cause_len);
    KImage *img = cli_load_image_also(f->policy, &lopt, r->color, mem);
    if (mem) fclose(mem);
    if (!img) {
        kq_msg(&fr->errors, "%s: error: the policy %s cannot be used", path, f->policy);
        /* the loader printed its diagnostics; print only the summary */
        fr->unusable = true;
        fprintf(stderr, "%s\n", fr->errors.n ? fr->errors.v[fr->errors.n - 1] : path);
        for (char *line = cause, *nl; line && *line; line = nl + 1) {
            if (!(nl = strchr(line, '\n'))) nl = line + strlen(line) - 1;
            else *nl = '\0';
            kq_msg(&fr->errors, "%s", line);
        }
        free(cause);
        if (r->text) printf("FAIL %s\n", path);
        cli_flush_stdout();
        r->failed++;
        kq_file_free(f);
        return;
    }
    free(cause);
    fr->cases = calloc(f->ntests, sizeof *fr->cases);
    if (!fr->cases) {
        kq_msg(&fr->errors, "%s: error: out of memory", path);
        file_failed(r, fr);
        kb_free(img);
        kq_file_free(f);
        return;
    }
    for (size_t i = 0; i < f->ntests; i++) {
        CaseResult *cr = &fr->cases[i];
        fr->ncases++;
        cr->name = strdup(f->tests[i].name);
        double t0 = now_secs();
        cr->ok = run_case(r, img, &f->tests[i], cr) && cr->name;
        cr->secs = now_secs() - t0;
        if (!r->update) report_case(r, path, cr);
    }
    if (r->update) {
        /* rewrite the schedules that differed, then report */
        KqRows **actual = calloc(f->ntests, sizeof *actual);
        bool *failed = calloc(f->ntests, sizeof *failed);
        KqMsgs done = {0}, errs = {0};
        if (!actual || !failed) {
            for (size_t i = 0; i < f->ntests; i++)
                if (fr->cases[i].actual) fr->cases[i].ok = false;
            fprintf(stderr, "%s: error: out of memory\n", path);
        } else {
            bool any = false;
            for (size_t i = 0; i < f->ntests; i++) any |= (actual[i] = fr->cases[i].actual) != NULL;
            if (any) kq_update_schedules(f, actual, failed, &done, &errs, &r->seen);
            kq_seen_add(&r->seen, f, actual, failed);
            for (size_t i = 0; i < f->ntests; i++) {
                if (!actual[i]) continue;
                if (failed[i]) fr->cases[i].ok = false;
                else { fr->cases[i].updated = true; r->nupdated++; }
            }
        }
        for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s\n", errs.v[i]);
        for (size_t i = 0; i < f->ntests; i++) report_case(r, path, &fr->cases[i]);
        if (r->text)
            for (size_t i = 0; i < done.n; i++) printf("updated %s\n", done.v[i]);
        cli_flush_stdout();
        kq_msgs_free(&done);
        kq_msgs_free(&errs);
        free(actual);
        free(failed);
    }
    kb_free(img);
    kq_file_free(f);
}

/* Whether the report's file (-o, --junit) is one this run reads: a test
 * file (given or found in a directory), or a policy, an event log or an
 * expected schedule a test file names (SPEC 6 "Output files": bad usage,
 * nothing written).  Only an existing regular file can be one. */
static int report_is_input(const char *out, const PathList *files)
{
    struct stat so;
    if (stat(out, &so) != 0 || !S_ISREG(so.st_mode)) return 0;
    for (size_t i = 0; i < files->n; i++) {
        const char *what = NULL;
        if (kq_same_file(files->v[i], out)) what = files->v[i];
        KqMsgs errs = {0};
        KqFile *f = what ? NULL : kq_file_load(files->v[i], &errs);   /* read again when its turn comes */
        kq_msgs_free(&errs);
        if (f && kq_same_file(f->policy, out)) what = f->policy;
        for (size_t t = 0; f && !what && t < f->ntests; t++) {
            const KqTest *x = &f->tests[t];
            for (size_t e = 0; !what && e < x->nevent_files; e++)
                if (kq_same_file(x->event_files[e], out)) what = x->event_files[e];
            if (!what && kq_same_file(x->schedule_file, out)) what = x->schedule_file;
        }
        if (what) {
            if (what == files->v[i])
                cli_usage_error("test", "the report %s is the test file %s: writing it would replace it", out, what);
            else
                cli_usage_error("test", "the report %s is %s, which %s reads: writing it would replace it", out,
                                what, files->v[i]);
        }
        kq_file_free(f);
        if (what) return 2;
    }
    return 0;
}

/* ---- JUnit --------------------------------------------------------------------- */

/* Text for an attribute or an element: escaped, and always well-formed XML
 * 1.0 in UTF-8 -- a byte that is not UTF-8 (a Latin-1 policy's diagnostic,
 * a file name) as U+FFFD, a character XML does not allow (controls, DEL and
 * the C1 controls, U+FFFE, U+FFFF) as "?". */
static void xml_text(KqBuf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t bad = 1, k = ku_utf8_char(s + i, n - i, &bad);
        if (k == 0) { kq_buf_str(b, "\xEF\xBF\xBD"); i += bad ? bad : 1; continue; }
        switch (c) {
        case '&': kq_buf_str(b, "&amp;"); break;
        case '<': kq_buf_str(b, "&lt;"); break;
        case '>': kq_buf_str(b, "&gt;"); break;
        case '"': kq_buf_str(b, "&quot;"); break;
        case '\'': kq_buf_str(b, "&apos;"); break;
        case '\n': kq_buf_str(b, "&#10;"); break;
        case '\t': kq_buf_str(b, "&#9;"); break;
        default: {
            const unsigned char *p = (const unsigned char *)s + i;
            bool c1 = k == 2 && is_c1(p);
            bool nonchar = k == 3 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF);
            if ((k == 1 && (c < 0x20 || c == 0x7f)) || c1 || nonchar) kq_buf_str(b, "?");
            else kq_buf_add(b, p, k);
        }
        }
        i += k;
    }
}

/* The details as one text: lines joined with newlines. */
static void xml_lines(KqBuf *b, const KqMsgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        xml_text(b, m->v[i]);
        kq_buf_str(b, "\n");
    }
}

/* A start time as JUnit's timestamp: ISO 8601 in UTC, without a zone
 * (the form Ant's junit task writes and the common JUnit schemas expect). */
static void xml_timestamp(KqBuf *b, time_t t)
{
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(buf, sizeof buf, "1970-01-01T00:00:00");
    kq_buf_str(b, buf);
}

static char *junit_xml(const Run *r, const KqMsgs *operr, time_t started)
{
    KqBuf b = {0};
    kq_buf_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    size_t nerrors = operr->n;          /* unusable files and operands */
    for (size_t i = 0; i < r->nfiles; i++) nerrors += r->files[i].unusable;
    kq_buf_fmt(&b, "<testsuites name=\"kairos test\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n",
               r->passed + r->failed, r->failed - nerrors, nerrors, r->secs);
    if (operr->n) {
        /* operands that gave no test file (an unreadable directory) */
        kq_buf_fmt(&b, "  <testsuite name=\"(operands)\" tests=\"%zu\" failures=\"0\" errors=\"%zu\" "
                   "time=\"0.000\" timestamp=\"", operr->n, operr->n);
        xml_timestamp(&b, started);
        kq_buf_str(&b, "\">\n");
        for (size_t i = 0; i < operr->n; i++) {
            kq_buf_fmt(&b, "    <testcase classname=\"(operands)\" name=\"operand %zu\" time=\"0.000\">\n"
                       "      <error message=\"", i + 1);
            xml_text(&b, operr->v[i]);
            kq_buf_str(&b, "\">");
            xml_text(&b, operr->v[i]);
            kq_buf_str(&b, "\n</error>\n    </testcase>\n");
        }
        kq_buf_str(&b, "  </testsuite>\n");
    }
    for (size_t i = 0; i < r->nfiles; i++) {
        const FileResult *f = &r->files[i];
        size_t fails = 0;
        for (size_t k = 0; k < f->ncases; k++) fails += !f->cases[k].ok;
        kq_buf_str(&b, "  <testsuite name=\"");
        xml_text(&b, f->path);
        if (f->unusable) {
            kq_buf_fmt(&b, "\" tests=\"1\" failures=\"0\" errors=\"1\" time=\"%.3f\" timestamp=\"", f->secs);
            xml_timestamp(&b, f->started);
            kq_buf_str(&b, "\">\n    <testcase classname=\"");
            xml_text(&b, f->path);
            kq_buf_fmt(&b, "\" name=\"(file)\" time=\"%.3f\">\n      <error message=\"", f->secs);
            xml_text(&b, f->errors.n ? f->errors.v[0] : "the test file cannot be used");
            kq_buf_str(&b, "\">");
            xml_lines(&b, &f->errors);
            kq_buf_str(&b, "</error>\n    </testcase>\n  </testsuite>\n");
            continue;
        }
        kq_buf_fmt(&b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\" timestamp=\"",
                   f->ncases, fails, f->secs);
        xml_timestamp(&b, f->started);
        kq_buf_str(&b, "\">\n");
        for (size_t k = 0; k < f->ncases; k++) {
            const CaseResult *c = &f->cases[k];
            kq_buf_str(&b, "    <testcase classname=\"");
            xml_text(&b, f->path);
            kq_buf_str(&b, "\" name=\"");
            xml_text(&b, c->name ? c->name : "?");
            kq_buf_fmt(&b, "\" time=\"%.3f\"", c->secs);
            if (c->ok) { kq_buf_str(&b, "/>\n"); continue; }
            kq_buf_str(&b, ">\n      <failure message=\"");
            xml_text(&b, c->details.n ? c->details.v[0] : "failed");
            kq_buf_str(&b, "\">");
            xml_lines(&b, &c->details);
            kq_buf_str(&b, "</failure>\n    </testcase>\n");
        }
        kq_buf_str(&b, "  </testsuite>\n");
    }
    kq_buf_str(&b, "</testsuites>\n");
    return kq_buf_take(&b);
}

/* ---- the command ------------------------------------------------------------------ */

/* Removes the temporary directory and whatever a run left in it. */
static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *p = join_dir(dir, e->d_name);
            if (p) unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int cli_test(int argc, char **argv)
{
    const char *format = "text", *output = NULL;
    bool by_junit = false, text_given = false;   /* --junit FILE; --format text */
    bool update = false;
    PathList operands = {0};
    bool only_pos = false;
    int status = 2;
    CliSeen seen = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (path_add(&operands, strdup(a)) != 0) { fprintf(stderr, "kairos test: out of memory\n"); status = 1; goto out; }
            continue;
        }
        if (strcmp(a, "--") == 0) { only_pos = true; continue; }
        const char *val = NULL;
        size_t nlen = strlen(a);
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq) { nlen = (size_t)(eq - a); val = eq + 1; }
        #define OPT(s) (nlen == strlen(s) && strncmp(a, s, nlen) == 0)
        if (OPT("--update")) {
            if (val) { cli_usage_error("test", "--update takes no value"); goto out; }
            update = true;
            continue;
        }
        bool takes = OPT("--format") || OPT("-o") || OPT("--output") || OPT("--junit");
        if (!takes) { cli_usage_error("test", "unknown option %.*s", (int)nlen, a); goto out; }
        if (!val) {
            if (i + 1 >= argc) { cli_usage_error("test", "option %s needs a value", a); goto out; }
            val = argv[++i];
        }
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)nlen, a);
        if (cli_once(&seen, "test", name, val) != 0) goto out;
        if (output && !OPT("--format")) { cli_usage_error("test", "-o and --junit both name the report: give one"); goto out; }
        if (OPT("--format")) {
            if (strcmp(val, "text") && strcmp(val, "junit")) {
                cli_usage_error("test", "unknown format '%s' (text or junit)", val);
                goto out;
            }
            format = val;
            text_given = strcmp(val, "text") == 0;
        } else if (OPT("--junit")) {
            format = "junit";
            output = val;
            by_junit = true;
        } else {
            output = val;
        }
        if (output == val && cli_out_file_only("test", val)) goto out;
        #undef OPT
    }
    if (by_junit && text_given) {
        cli_usage_error("test", "--junit writes JUnit XML, but --format text was given: give one");
        goto out;
    }
    bool junit = by_junit || strcmp(format, "junit") == 0;
    if (output && !junit) { cli_usage_error("test", "-o needs --format junit"); goto out; }
    /* the XML onto standard output (-o -, /dev/stdout, /dev/fd/1) replaces the text
     * report there, instead of the two interleaving */
    if (output && (!*output || cli_out_is_stdout(output))) output = NULL;
    if (cli_out_not_input_as("test", by_junit ? "--junit" : "-o", output, (const char *const *)operands.v, (int)operands.n)) goto out;

    /* the test files, in order */
    PathList files = {0};
    KqMsgs operr = {0};
    if (operands.n == 0) {
        walk(".", &files, &operr, 0);
        if (files.n > 1)
            qsort(files.v, files.n, sizeof *files.v, cmp_str);
    }
    for (size_t i = 0; i < operands.n; i++) {
        struct stat st;
        const char *p = operands.v[i];
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t first = files.n;
            walk(p, &files, &operr, 0);
            if (files.n - first > 1)
                qsort(files.v + first, files.n - first, sizeof *files.v, cmp_str);
        } else if (path_add(&files, strdup(p)) != 0) {   /* a missing file fails when read */
            kq_msg(&operr, "%s: error: out of memory", p);
        }
    }

    if (output && (cli_out_format_as("test", by_junit ? "--junit" : "-o", output, "xml", NULL) || report_is_input(output, &files))) {
        status = 2;
        path_list_free(&files);
        kq_msgs_free(&operr);
        goto out;
    }

    Run run;
    memset(&run, 0, sizeof run);
    run.text = !junit || output;
    run.update = update;
    run.color = isatty(STDERR_FILENO) && getenv("NO_COLOR") == NULL;
    for (size_t i = 0; i < operr.n; i++) {
        fprintf(stderr, "%s\n", operr.v[i]);
        run.failed++;
    }
    if (files.n == 0 && operr.n == 0) {
        if (!junit) {
            fprintf(stderr, "kairos test: no *.test.yaml file found\n");
            status = 1;
            goto out2;
        }
        /* the JUnit report says so (an error), so that no earlier report stays in its place */
        kq_msg(&operr, "kairos test: no *.test.yaml file found");
        fprintf(stderr, "%s\n", operr.v[0]);
        run.failed++;
    }

    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *tmpl = join_dir(base, "kairos-test.XXXXXX");
    if (!tmpl || !cli_mkdtemp(tmpl)) {
        fprintf(stderr, "kairos test: cannot create a temporary directory in %s: %s\n", base,
                tmpl ? strerror(errno) : "out of memory");
        free(tmpl);
        status = 1;
        goto out2;
    }
    run.tmpdir = tmpl;
    /* a signal removes the directory and the two files a test writes there */
    char *tmpfiles[2] = { join_dir(tmpl, "events.csv"), join_dir(tmpl, "schedule.csv") };
    for (int k = 0; k < 2; k++) if (tmpfiles[k]) cli_cleanup_add(tmpfiles[k]);
    time_t started = time(NULL);
    double run_t0 = now_secs();
    for (size_t i = 0; i < files.n; i++) {
        size_t before = run.nfiles;
        time_t file_started = time(NULL);
        double t0 = now_secs();
        run_file(&run, files.v[i]);
        if (run.nfiles > before) {
            run.files[before].secs = now_secs() - t0;
            run.files[before].started = file_started;
        }
    }
    run.secs = now_secs() - run_t0;
    /* removed first, unregistered after: a signal in between finds nothing
     * to remove, never a directory left behind */
    remove_tmpdir(tmpl);
    for (int k = 0; k < 2; k++) { cli_cleanup_remove(tmpfiles[k]); free(tmpfiles[k]); }
    cli_cleanup_remove(tmpl);
    free(tmpl);

    if (run.text) {
        if (run.update)
            printf("updated the expected schedule of %zu test%s\n", run.nupdated, run.nupdated == 1 ? "" : "s");
        printf("%zu passed, %zu failed\n", run.passed, run.failed);
        cli_flush_stdout();
    }
    status = run.failed ? 1 : 0;
    if (junit) {
        char *xml = junit_xml(&run, &operr, started);
        if (!xml) {
            fprintf(stderr, "kairos test: out of memory while writing the JUnit report\n");
            status = 1;
        } else if (output) {
            if (cli_write_file(output, xml, strlen(xml)) != 0) status = 1;
        } else {
            fputs(xml, stdout);
        }
        free(xml);
    }
out2:
    kq_seen_free(&run.seen);
    free_run(&run);
    kq_msgs_free(&operr);
    path_list_free(&files);
out:
    path_list_free(&operands);
    return status;
}
