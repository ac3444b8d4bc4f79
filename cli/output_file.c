/* output_file.c -- every file the command-line tool writes, and standard
 * output (SPEC.md section 6, "Output files").
 *
 * cli_out_open decides how a path is written:
 *   "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N
 *                      the open descriptor itself (dup'ed), written in place;
 *   a regular file, or a name that does not exist yet (after following
 *   symbolic links to their final target)
 *                      a temporary file NAME.tmp.XXXXXX beside the target,
 *                      renamed over it by cli_out_close(o, true) only;
 *   anything else that exists (a device, a FIFO, a socket)
 *                      opened and written in place: never renamed over;
 *   a directory        an error.
 * Temporary files are registered with cli_cleanup_add, so SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE remove them (cli_io_init installs the handler, and
 * gives the runtime the registry for the SQLite database -o creates and
 * its journals: KrCleanup).
 *
 * Standard output: cli_io_init makes sure descriptors 0, 1 and 2 are open
 * (a closed one gets /dev/null opened read-only, so a write to a closed
 * standard output fails with EBADF instead of landing in a file the program
 * opened later); cli_finish_stdout checks every write at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "lang/util.h"

/* The longest file name (a path's last part) of the file systems written
 * to: a temporary name stays within it. */
#define TMP_NAME_MAX 255u

/* ---- cleanup on signals ---------------------------------------------------- */

#define MAX_CLEANUP 8
/* Paths removed by the signal handler, newest last.  A slot is written only
 * with the signals blocked, so the handler sees whole pointers. */
static char *volatile cleanup[MAX_CLEANUP];
static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
#define NCAUGHT (sizeof caught / sizeof caught[0])

/* Async-signal-safe: unlink, rmdir, sigaction, raise, pthread_sigmask
 * only.  The caught signals are blocked while it runs (the sa_mask of
 * cli_io_init), so a second one cannot end the process halfway through the
 * removals: `timeout` sends its signal to the command and then to its whole
 * process group, i.e. twice (tests/io sig-test left an empty schedule.csv
 * in kairos test's directory under load when the second SIGINT found the
 * default action already back, as SA_RESETHAND had put it).  Then the
 * default action, the signal raised again and let through. */
static void on_signal(int sig)
{
    int saved = errno;
    for (int i = MAX_CLEANUP - 1; i >= 0; i--) {
        char *p = cleanup[i];
        if (p && unlink(p) != 0) rmdir(p);          /* a directory (emptied first) */
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    errno = saved;
    raise(sig);                                     /* pending: blocked in here */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);       /* delivered: the default action */
}

static void block_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < NCAUGHT; i++) sigaddset(&set, caught[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

/* Puts path in the first free slot; the caller has the signals blocked. */
static void slot_add(char *path)
{
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (!cleanup[i]) { cleanup[i] = path; break; }
}

void cli_cleanup_add(char *path)
{
    sigset_t old;
    block_signals(&old);
    slot_add(path);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* mkdtemp and the registration in one step with the signals blocked: no
 * moment where the directory exists and a signal would leave it behind. */
char *cli_mkdtemp(char *tmpl)
{
    sigset_t old;
    block_signals(&old);
    char *r = mkdtemp(tmpl);
    int e = errno;
    if (r) slot_add(tmpl);
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

void cli_cleanup_remove(const char *path)
{
    sigset_t old;
    block_signals(&old);
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (cleanup[i] == path) cleanup[i] = NULL;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* open(path, O_CREAT | O_EXCL) and the registration in one step with the
 * signals blocked, for the runtime (KrCleanup: the SQLite database -o
 * creates): a signal finds the file registered as soon as it exists. */
static int create_registered(char *path, int mode)
{
    sigset_t old;
    block_signals(&old);
    int d;
    do d = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, (mode_t)mode); while (d < 0 && errno == EINTR);
    int e = errno;
    if (d >= 0) slot_add(path);
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return d;
}

static const KrCleanup runtime_cleanup = { create_registered, cli_cleanup_add, cli_cleanup_remove };

/* ---- standard output ----------------------------------------------------- */

static bool stdout_reported;

void cli_io_init(void)
{
    /* descriptors 0-2 open: a closed one gets /dev/null, read-only (writes
     * to it fail with EBADF, as they would on the closed descriptor) */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int n = open("/dev/null", O_RDONLY);
        if (n >= 0 && n != fd) { dup2(n, fd); close(n); }
    }
    for (size_t i = 0; i < NCAUGHT; i++) {
        struct sigaction sa, old;
        if (sigaction(caught[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < NCAUGHT; k++) sigaddset(&sa.sa_mask, caught[k]);
        sigaction(caught[i], &sa, NULL);
    }
    /* a file-size limit (ulimit -f): a write past it fails with EFBIG, which
     * each writer reports and each spill survives (its records stay in
     * memory), instead of SIGXFSZ ending the command with a core dump and
     * its temporary files left behind */
    signal(SIGXFSZ, SIG_IGN);
    kr_set_cleanup(&runtime_cleanup);
}

void cli_stdout_error(int err)
{
    if (stdout_reported) return;
    stdout_reported = true;
    if (err) fprintf(stderr, "kairos: error writing standard output: %s\n", strerror(err));
    else fprintf(stderr, "kairos: error writing standard output\n");
}

int cli_flush_stdout(void)
{
    if (fflush(stdout) == 0) return ferror(stdout) ? -1 : 0;
    cli_stdout_error(errno);
    return -1;
}

int cli_finish_stdout(int status)
{
    bool failed = ferror(stdout) != 0;
    int err = 0;
    if (fflush(stdout) != 0) { failed = true; err = errno; }
    if (fclose(stdout) != 0 && !failed) { failed = true; err = errno; }
    if (!failed) return status;
    cli_stdout_error(err);
    return status == 0 ? 1 : status;
}

/* ---- output files ------------------------------------------------------------ */

/* The descriptor a name stands for (/dev/stdout, /dev/fd/3, ...), or -1. */
static int named_fd(const char *path)
{
    if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0) return 1;
    if (strcmp(path, "/dev/stderr") == 0) return 2;
    const char *digits = NULL;
    if (strncmp(path, "/dev/fd/", 8) == 0) digits = path + 8;
    else if (strncmp(path, "/proc/self/fd/", 14) == 0) digits = path + 14;
    if (!digits || !*digits) return -1;
    long fd = 0;
    for (const char *p = digits; *p; p++) {
        if (*p < '0' || *p > '9' || fd > 65535) return -1;
        fd = fd * 10 + (*p - '0');
    }
    return (int)fd;
}

bool cli_out_is_stdout(const char *path) { return path && named_fd(path) == 1; }

static int open_failed_quiet(CliOut *o)
{
    free(o->target);
    free(o->tmp);
    o->target = o->tmp = NULL;
    o->f = NULL;
    return -1;
}

static int open_failed(CliOut *o, int err)
{
    fprintf(stderr, "%s: error: cannot write: %s\n", o->name, strerror(err));
    return open_failed_quiet(o);
}

/* big_buffer -- gives o->f a buffer of OUT_BUF bytes (glibc's setvbuf
 * ignores the size when it is given no buffer: its own is a block, 4 KiB,
 * a write system call per 4 KiB of schedule); stdio's own if out of memory. */
#define OUT_BUF (1u << 16)
static void big_buffer(CliOut *o)
{
    if ((o->buf = malloc(OUT_BUF)) != NULL && setvbuf(o->f, o->buf, _IOFBF, OUT_BUF) != 0) {
        free(o->buf);
        o->buf = NULL;
    }
}

/* in_place -- o written through descriptor d as it is (a named or a
 * standard descriptor, a device, a FIFO: never replaced), with a big
 * buffer; 0, or -1 after the message (d < 0: errno says why). */
static int in_place(CliOut *o, int d)
{
    if (d < 0 || !(o->f = fdopen(d, "w"))) {
        int e = errno;
        if (d >= 0) close(d);
        return open_failed(o, e);
    }
    big_buffer(o);
    return 0;
}

#define TABLE_ONLY "-o names a database table, which only simulate and merge write (for a file of that name, write ./ before it)"

int cli_out_file_only(const char *cmd, const char *path)
{
    if (!kr_output_is_table(path)) return 0;
    cli_usage_error(cmd, TABLE_ONLY);
    return 2;
}

/* regular_file -- whether path names a regular file (links followed; not
 * "-", not a database table), its stat in *st. */
static bool regular_file(const char *path, struct stat *st)
{
    return path && strcmp(path, "-") != 0 && !kr_output_is_table(path) && stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* Source -- what an input or output name reads or writes, so that two
 * spellings of one source compare equal: a regular file by its device and
 * inode (links followed); a database source by its identity (KrDbId: an
 * SQLite file's device and inode, whatever its spelling, `file:` URIs
 * too; a PostgreSQL connection's parameters, in any order; the table as
 * the database resolves it: `S`, `main.s` and `s` are one SQLite table).
 * Anything else ("-", a device, a FIFO, a file that does not exist) has
 * no identity (SRC_NONE). */
typedef struct {
    enum { SRC_NONE, SRC_FILE, SRC_SQLITE, SRC_PG } kind;
    uint64_t dev, ino;
    KrDbId db;
} Source;

static Source source_of(const char *name)
{
    Source s = { SRC_NONE, 0, 0, { 0 } };
    struct stat st;
    if (!name) return s;
    if (regular_file(name, &st)) {
        s.kind = SRC_FILE;
        s.dev = (uint64_t)st.st_dev;
        s.ino = (uint64_t)st.st_ino;
    } else if (kr_output_is_table(name)) {
        kr_db_id(name, &s.db);
        s.kind = s.db.kind == 1 ? SRC_SQLITE : s.db.kind == 2 ? SRC_PG : SRC_NONE;
        s.dev = s.db.dev;
        s.ino = s.db.ino;
    }
    return s;
}

static void source_free(Source *s) { kr_db_id_free(&s->db); }

static bool same_text(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* reads: out is written and in is read, so an SQLite query that reads
 * out's table is the same source (its authorizer tells) */
static bool same_source(const Source *a, const Source *b, bool reads)
{
    if (a->kind == SRC_NONE || b->kind == SRC_NONE) return false;
    if (a->kind == SRC_PG || b->kind == SRC_PG)
        return a->kind == b->kind && same_text(a->db.conn, b->db.conn) &&
               (same_text(a->db.table, b->db.table) || same_text(a->db.query, b->db.query));
    if (a->dev != b->dev || a->ino != b->ino) return false;
    /* A file and an SQLite database in it are one file: writing one
     * replaces the other. Two SQLite sources are one when they name the
     * same table or query, or (reads) the query reads the table. */
    if (a->kind != b->kind || a->kind == SRC_FILE) return true;
    return same_text(a->db.table, b->db.table) || same_text(a->db.query, b->db.query) ||
           (reads && (kr_db_query_reads(&b->db, a->db.table) || kr_db_query_reads(&a->db, b->db.table)));
}

/* How a message names two equal sources: a file unless both are tables. */
static const char *source_word(const Source *a, const Source *b)
{
    return a->kind == SRC_FILE || b->kind == SRC_FILE ? "file" : "source";
}

int cli_out_not_input(const char *cmd, const char *out, const char *const *inputs, int n)
{
    return cli_out_not_input_as(cmd, "-o", out, inputs, n);
}

int cli_out_not_input_as(const char *cmd, const char *flag, const char *out, const char *const *inputs, int n)
{
    Source so = source_of(out);
    if (so.kind == SRC_NONE) return 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *in = inputs[i];
        Source si = source_of(in);
        if (same_source(&so, &si, true)) {
            if (strcmp(in, out) == 0)
                cli_usage_error(cmd, "%s %s is also an input: writing it would replace what is read", flag, out);
            else if (si.db.query && so.db.table && !same_text(si.db.query, so.db.query))
                cli_usage_error(cmd, "%s %s is also an input (%s reads that table): writing it would replace "
                                "what is read", flag, out, in);
            else
                cli_usage_error(cmd, "%s %s is also an input (%s, the same %s): writing it would replace "
                                "what is read", flag, out, in, source_word(&so, &si));
            rc = 2;
        }
        source_free(&si);
    }
    source_free(&so);
    return rc;
}

/* what: the consequence of reading one input twice, for the message. */
static int inputs_distinct(const char *cmd, const char *const *inputs, int n, const char *what)
{
    Source *seen = calloc((size_t)(n > 0 ? n : 1), sizeof *seen);
    if (!seen) return 0;                  /* (only a check) */
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *in = inputs[i];
        seen[i] = source_of(in);
        for (int j = 0; j < i; j++)
            if (same_source(&seen[j], &seen[i], false)) {
                const char *first = inputs[j];
                if (strcmp(first, in) == 0)
                    cli_usage_error(cmd, "%s is given twice: %s", in, what);
                else
                    cli_usage_error(cmd, "%s and %s are the same %s: %s", first, in,
                                    source_word(&seen[j], &seen[i]), what);
                rc = 2;
                break;
            }
    }
    for (int i = 0; i < n; i++) source_free(&seen[i]);
    free(seen);
    return rc;
}

int cli_inputs_distinct(const char *cmd, const char *const *inputs, int n)
{
    return inputs_distinct(cmd, inputs, n, "its events would be replayed twice");
}

int cli_merge_inputs_distinct(const char *const *inputs, int n)
{
    return inputs_distinct("merge", inputs, n, "its rows would be merged twice");
}

int cli_check_io(const char *cmd, const char *out, const char *const *pos, int npos, int npol, const char *schema)
{
    if (cli_out_not_input(cmd, out, pos, npos) || cli_out_not_input(cmd, out, &schema, 1) ||
        cli_inputs_distinct(cmd, pos + npol, npos - npol))
        return 2;
    return 0;
}

/* The formats that output file extensions name. */
static const struct { const char *ext, *fmt; } ext_formats[] = {
    { ".csv", "csv" }, { ".jsonl", "jsonl" }, { ".ndjson", "jsonl" }, { ".json", "json" },
    { ".html", "html" }, { ".htm", "html" }, { ".md", "markdown" }, { ".markdown", "markdown" },
    { ".kbc", "kbc" }, { ".kai", "kai" }, { ".gz", "gzip" },   /* (no command writes gzip) */
};

int cli_out_format(const char *cmd, const char *out, const char *written, const char *also_ok)
{
    return cli_out_format_as(cmd, "-o", out, written, also_ok);
}

int cli_out_format_as(const char *cmd, const char *flag, const char *out, const char *written, const char *also_ok)
{
    if (!out || strcmp(out, "-") == 0 || kr_output_is_table(out)) return 0;
    size_t n = strlen(out);
    for (size_t i = 0; i < sizeof ext_formats / sizeof *ext_formats; i++) {
        size_t e = strlen(ext_formats[i].ext);
        if (n <= e || strcasecmp(out + n - e, ext_formats[i].ext) != 0) continue;
        const char *f = ext_formats[i].fmt;
        if (strcmp(f, written) == 0 || (also_ok && strcmp(f, also_ok) == 0)) return 0;
        const char *how = strcmp(f, "gzip") == 0 ? "kairos writes no gzip: pipe its standard output to gzip"
                          : strcmp(written, "kbc") == 0 ? "name it .kbc"
                          : strcmp(cmd, "report") == 0 ? "name it .html"
                          : strcmp(cmd, "test") == 0 ? "name it .xml" : "--format chooses it, or another name";
        cli_usage_error(cmd, "%s %s names a %s file, but the output is %s (%s)", flag, out, f, written, how);
        return 2;
    }
    return 0;
}

int cli_out_open(CliOut *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->name = path;
    if (kr_output_is_table(path)) {          /* (the commands check first: cli_out_file_only) */
        fprintf(stderr, "kairos: error: " TABLE_ONLY "\n");
        return -1;
    }
    int fd = named_fd(path);
    if (fd >= 0) {
        o->is_stdout = fd == 1;
        if (o->is_stdout) { o->f = stdout; return 0; }
        return in_place(o, dup(fd));
    }
    if (!(o->target = ku_resolve_links(path))) return open_failed(o, errno);
    struct stat st;
    bool exists = stat(o->target, &st) == 0;
    if (!exists && errno != ENOENT) return open_failed(o, errno);
    if (exists && S_ISDIR(st.st_mode)) return open_failed(o, EISDIR);
    if (exists && !S_ISREG(st.st_mode)) {
        /* a device, a FIFO: written in place, never replaced */
        int d;
        do d = open(o->target, O_WRONLY | O_NOCTTY); while (d < 0 && errno == EINTR);
        return in_place(o, d);
    }
    if (exists && ((st.st_mode & 0222) == 0 || access(o->target, W_OK) != 0)) {
        /* a file its mode or its owner keeps from being written is not
         * replaced by a rename either (as rm asks first, even root) */
        fprintf(stderr, "%s: error: cannot write: %s (it is read-only: chmod u+w to replace it)\n",
                o->name, strerror(EACCES));
        return open_failed_quiet(o);
    }
    size_t n = strlen(o->target);
    if (!(o->tmp = malloc(n + 16))) return open_failed(o, ENOMEM);
    /* NAME.tmp.XXXXXX, NAME cut (between characters) so that the
     * temporary name is no longer than a file name may be */
    const char *base = strrchr(o->target, '/');
    size_t dirlen = base ? (size_t)(base + 1 - o->target) : 0, blen = n - dirlen;
    if (blen > TMP_NAME_MAX - 11u) blen = ku_utf8_cut(o->target + dirlen, TMP_NAME_MAX - 11u);
    snprintf(o->tmp, n + 16, "%.*s.tmp.XXXXXX", (int)(dirlen + blen), o->target);
    sigset_t old;
    block_signals(&old);           /* no window where the file exists unregistered */
    int d = mkstemp(o->tmp);
    int e = errno;
    if (d >= 0) slot_add(o->tmp);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (d < 0) return open_failed(o, e);
    /* the mode: an existing file's, else 0666 less the umask */
    mode_t mode;
    if (exists) {
        mode = st.st_mode & 0777;        /* not set-user-ID and the like */
    } else {
        mode_t um = umask(0);
        umask(um);
        mode = 0666 & ~um;
    }
    if (fchmod(d, mode) != 0 || !(o->f = fdopen(d, "w"))) {
        e = errno;
        close(d);
        cli_cleanup_remove(o->tmp);
        unlink(o->tmp);
        return open_failed(o, e);
    }
    big_buffer(o);
    return 0;
}

int cli_out_close(CliOut *o, bool commit)
{
    int err = 0;
    if (!o->f) return -1;
    if (commit && o->err) err = o->err;
    if (commit && !err && (fflush(o->f) != 0 || ferror(o->f))) err = errno ? errno : EIO;
    if (o->is_stdout) {
        if (commit && err) cli_stdout_error(err);
        o->f = NULL;
        return commit && !err ? 0 : -1;
    }
    if (commit && !err && o->tmp && fsync(fileno(o->f)) != 0 && errno != EINVAL && errno != EROFS)
        err = errno;
    if (fclose(o->f) != 0 && commit && !err) err = errno ? errno : EIO;
    o->f = NULL;
    free(o->buf);
    o->buf = NULL;
    if (o->tmp) {
        if (commit && !err && rename(o->tmp, o->target) != 0) err = errno;
        if (!commit || err) unlink(o->tmp);
        cli_cleanup_remove(o->tmp);
    }
    if (commit && err) fprintf(stderr, "%s: error: write error: %s\n", o->name, strerror(err));
    free(o->tmp);
    free(o->target);
    o->tmp = o->target = NULL;
    return commit && !err ? 0 : -1;
}

int cli_write_file(const char *path, const void *data, size_t len)
{
    CliOut o;
    if (cli_out_open(&o, path) != 0) return -1;
    if (len && fwrite(data, 1, len, o.f) != len) o.err = errno ? errno : EIO;
    return cli_out_close(&o, true);
}
