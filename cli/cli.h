/* cli.h -- shared by the files of cli/: the command-line driver. */
#ifndef KAIROS_CLI_H
#define KAIROS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "lang/lang.h"

#define KAIROS_VERSION "0.1.0"

/* Prints "kairos CMD: message" and the command's usage line; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Compiles a .kai (diagnostics on stderr) or loads a .kbc; NULL on error. */
KImage *cli_load_image(const char *path, const KlOptions *lopt, bool color);
/* The same, and the messages also go, without colour, to `also` (if not NULL). */
KImage *cli_load_image_also(const char *path, const KlOptions *lopt, bool color, FILE *also);
/* ---- output (cli/output_file.c; SPEC.md section 6, "Output files") ---- */

/* An output being written: o.f is the stream to write to. */
typedef struct CliOut {
    FILE *f;
    const char *name;             /* as given, for messages */
    bool is_stdout;               /* "-", /dev/stdout, /dev/fd/1 */
    int err;                      /* a write error the caller saw (errno), or 0 */
    char *target;                 /* the file a rename replaces (links followed) */
    char *tmp;                    /* NAME.tmp.XXXXXX, or NULL when written in place */
    char *buf;                    /* f's buffer (OUT_BUF bytes), or NULL: stdio's own */
} CliOut;

/* Whether an output path names standard output itself: "-", /dev/stdout,
 * /dev/fd/1, /proc/self/fd/1. */
bool cli_out_is_stdout(const char *path);
/* Opens path for writing: standard output for "-" and /dev/stdout; a
 * temporary file beside a regular (or new) file; a device or FIFO in place;
 * a directory is an error.  0, or -1 after "PATH: error: cannot write: REASON". */
int cli_out_open(CliOut *o, const char *path);
/* For a command whose -o writes a file: 2 after a usage error when path
 * names a database table (postgresql://, postgres://, sqlite:), which only
 * simulate and merge write (SPEC 6: a file of such a name is ./NAME);
 * else 0.  cli_out_open refuses such a path too. */
int cli_out_file_only(const char *cmd, const char *path);
/* 2 after a usage error when the output path is the same regular file as
 * one of the n inputs (links followed): writing it would replace an input
 * the command reads, e.g. 'simulate p.kai log.csv -o log.csv'; else 0.
 * An SQLite output is also refused onto an input file or the same SQLite
 * table, a PostgreSQL one onto the same name.  Inputs "-", devices and
 * FIFOs are skipped; NULL out is no output. */
int cli_out_not_input(const char *cmd, const char *out, const char *const *inputs, int n);
/* The same, the output named by another option in the message (test --junit). */
int cli_out_not_input_as(const char *cmd, const char *flag, const char *out, const char *const *inputs, int n);
/* 2 after a usage error when two of the n event logs are the same regular
 * file (by name, link or hard link): its events would be replayed twice;
 * else 0; so are two names of one SQLite file with the same table= or
 * query=, and a PostgreSQL name given twice.  "-", devices and FIFOs are
 * skipped. */
int cli_inputs_distinct(const char *cmd, const char *const *inputs, int n);
/* The same for merge's inputs (schedules or readouts): "its rows would be
 * merged twice". */
int cli_merge_inputs_distinct(const char *const *inputs, int n);
/* Both, for a command that reads pos[0, npos) (npol policies, then event
 * logs) and a --schema file (or NULL): the output is none of them, and no
 * event log is given twice.  2 after a usage error, else 0. */
int cli_check_io(const char *cmd, const char *out, const char *const *pos, int npos, int npol, const char *schema);
/* 2 after a usage error when the output's name ends in an extension that
 * names another format than the one written (written, or also_ok: NULL for
 * none), e.g. 'simulate ... -o s.jsonl' without --format jsonl, or 'compile
 * -o p.kai'; else 0 (no output, "-", a table, an extension not known). */
int cli_out_format(const char *cmd, const char *out, const char *written, const char *also_ok);
int cli_out_format_as(const char *cmd, const char *flag, const char *out, const char *written, const char *also_ok);
/* commit: flushes, fsyncs and renames the temporary file over the target;
 * else removes it.  0, or -1 (after "PATH: error: write error: REASON" when commit). */
int cli_out_close(CliOut *o, bool commit);
/* The two together for a buffer.  0, or -1 after a message. */
int cli_write_file(const char *path, const void *data, size_t len);
#define cli_write_atomic cli_write_file   /* the former name */

/* Once, first thing in main: descriptors 0-2 open, signal handlers that
 * remove the registered temporary files (and the runtime's: kr_set_cleanup). */
void cli_io_init(void);
/* Registers a path (file or empty directory) the signal handler removes;
 * path must stay valid until cli_cleanup_remove.  At most 8 at a time. */
void cli_cleanup_add(char *path);
void cli_cleanup_remove(const char *path);
/* mkdtemp(tmpl) with tmpl registered as by cli_cleanup_add, signals
 * blocked in between; NULL (errno set) on failure. */
char *cli_mkdtemp(char *tmpl);
/* Prints "kairos: error writing standard output: REASON" (once per run). */
void cli_stdout_error(int err);
/* Flushes standard output; on an error prints the message above with its
 * reason (a later flush would not know it) and returns -1. */
int cli_flush_stdout(void);
/* At exit: flushes and closes standard output; on any write error since the
 * start prints the message above and returns 1 (if status was 0). */
int cli_finish_stdout(int status);

/* The policy operands of check and fmt (cli/paths.c): a directory stands
 * for the *.kai files below it, sorted byte-wise; other operands are kept
 * as they are.  *files (n in *nfiles) is malloc'd, free with
 * cli_free_paths.  Returns the number of errors: a directory's ("cannot
 * read directory: ...", "no *.kai file in this directory") go to
 * report(ctx, DIR, MESSAGE) when it is given (check: a diagnostic of each
 * output format), else to standard error as "DIR: error: MESSAGE". */
typedef void (*CliDirError)(void *ctx, const char *dir, const char *msg);
int cli_expand_policies(const char *cmd, char *const *operands, int n, char ***files, int *nfiles,
                        CliDirError report, void *ctx);
void cli_free_paths(char **files, int n);
/* kairos merge (cli/merge.c): schedules of disjoint shards into one. */
int cli_merge(const KImage *img, char **paths, int n, const char *outpath);

/* kairos lsp (cli/lsp.c): a language server on stdin/stdout; the exit
 * status (0 after shutdown, 1 otherwise). */
int cli_lsp(void);

/* kairos fmt (cli/fmt.c) and kairos test (cli/test.c): argv[0] is the command name. */
int cli_fmt(int argc, char **argv);
int cli_test(int argc, char **argv);

/* kairos diff (cli/diff.c) and kairos readout (cli/readout.c). */
#include "runtime/runtime.h"
/* ---- event sources (cli/sources.c): --map, --schema, --input, shared by
 * every command that reads event logs ---------------------------------- */
struct KrOptions;
typedef struct CliSources {
    struct KrSchema *schema;      /* NULL until --map or --schema */
    const char *schema_file;
    const char *input;            /* --input: "segment" or "rows", NULL if not given */
} CliSources;
/* Whether o is a source option; if so takes its value with value(ctx)
 * (NULL: a usage message was printed) and returns 1, or -1 on bad usage
 * (printed); 0 if o is not a source option. */
int  cli_source_option(CliSources *cs, const char *cmd, const char *o,
                       const char *(*value)(void *ctx), void *ctx);
/* Loads the schema file (if any) and sets ro->schema, ro->segment; 0, or 1
 * after printing an error in the schema file. */
int  cli_sources_apply(CliSources *cs, struct KrOptions *ro);
void cli_sources_free(CliSources *cs);
/* The option lines of `kairos help` for these options. */
#define CLI_SOURCE_HELP \
    "  --map K=SRC,...   the log's own names: customer=user_id,time=ts,event=type (any attribute too)\n" \
    "  --schema FILE     a schema file (YAML): names, time unit or format and zone, drops, types\n" \
    "  --input segment   the logs are Segment-spec JSON Lines (track, identify, page, screen)\n" \
    "  EVENTS may also be postgresql://...?table=T (or &query=SQL), sqlite:PATH?table=T (or ?query=SQL)\n"
#define CLI_SOURCE_SYNOPSIS "[--map K=SRC,...] [--schema FILE] [--input segment]"

/* --jobs N and --memory SIZE of the partitioned replay (runopts.c; simulate,
 * diff, readout, report): 0, or -1 after the usage message. */
/* The options a command line gave a value so far (cli_once). */
#define CLI_SEEN_MAX 32
typedef struct CliSeen { char name[CLI_SEEN_MAX][24]; int n; } CliSeen;
/* Before an option's value is taken: -1 after a usage error when the option
 * was given before (a second value would silently replace the first; -o
 * and --output are one option; --map and --fail-if add up), or when -o or
 * --junit is given an empty name; else 0. */
int cli_once(CliSeen *seen, const char *cmd, const char *name, const char *val);
/* --shard K/N (digits only, 0 <= K < N <= 1,000,000); -1 after a usage error. */
int cli_parse_shard(const char *cmd, const char *v, uint32_t *k, uint32_t *n);
int cli_parse_jobs(const char *cmd, const char *v, uint32_t *jobs);
int cli_parse_memory(const char *cmd, const char *v, uint64_t *bytes);
#define CLI_REPLAY_SYNOPSIS "[--jobs N] [--memory SIZE]"
#define CLI_REPLAY_HELP \
    "  --jobs N           replay on N threads (default: one per CPU); the output is the same for any N\n" \
    "  --memory SIZE      memory ceiling (K, M or G suffix; default 512M): rows waiting for the\n" \
    "                     replay spill to a temporary file past an eighth of it (8M at most)\n"

/* diff --fail-if EXPR (failif.c): FIELD OP NUMBER over the JSON summary. */
typedef struct CliFailIf {
    const char *text;                 /* as given */
    char field[128];
    int op;
    double number;
} CliFailIf;
/* 0, or -1 after the usage message. */
int cli_fail_if_parse(const char *expr, CliFailIf *f);
/* Evaluates f[0..n) on the JSON summary: 0 none holds, 3 some holds (one
 * line on err per condition that holds), 2 a field the summary lacks
 * (message on err), 1 error. */
int cli_fail_if_eval(const CliFailIf *f, int n, const char *json, FILE *err);

typedef struct CliReport {
    char **pos; int npos;             /* operands: policies, then event files */
    const char *output, *format;
    KrOptions ro;                     /* inputs, until, shard, stdin format, skip-bad-rows,
                                         jobs, memory */
    bool fail_if_changed;             /* diff */
    CliFailIf *fail_if; int nfail_if; /* diff --fail-if, in order */
    int64_t window;                   /* readout (seconds) */
    const char *by_trait;             /* readout --by customer.TRAIT: the TRAIT */
    CliSources sources;               /* --map, --schema, --input (cli/sources.c) */
    bool stamp;                       /* report, diff --format html: show the generation time */
} CliReport;
/* Parses the options of diff/readout (cmd); 0, or the exit status 2 after
 * a usage message, or 1 after an error in the --schema file (cli_report_done
 * frees r in every case). */
int cli_report_args(CliReport *r, const char *cmd, int argc, char **argv);
/* Frees what cli_report_args allocated in r; returns status. */
int cli_report_done(CliReport *r, int status);
/* Loads policy i of r (r->pos[i]); NULL after its diagnostics. */
KImage *cli_report_image(const CliReport *r, int i);
/* Writes the rendered output to standard output or atomically to output; 0 or 1. */
int cli_report_write(const char *output, const char *buf, size_t len);
int cli_diff(int argc, char **argv);
int cli_readout(int argc, char **argv);
/* kairos report (cli/report.c); cli_report_html also serves diff --format html. */
int cli_report(int argc, char **argv);
int cli_report_html(const CliReport *r, KImage *const *imgs, int n);

#endif

