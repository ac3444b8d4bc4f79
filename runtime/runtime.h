/* runtime.h -- the runtime's one public header (prefixes: kv_ VM, kr_ replay,
 * kz_ time zones, ki_ event input readers, ko_ schedule output).
 *
 * The runtime sees only a loaded KImage (lang/bytecode.h), never the syntax
 * tree: the same whether the image was compiled in memory or read from a
 * .kbc file.
 */
#ifndef KAIROS_RUNTIME_H
#define KAIROS_RUNTIME_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "../lang/bytecode.h"

typedef enum { KR_OUT_CSV = 0, KR_OUT_JSONL = 1 } KrOutFormat;

typedef struct KrOptions {
    const char **inputs;          /* event files; "-" is standard input (CSV
                                     unless input_format says otherwise) */
    uint32_t ninputs;
    FILE *out;                    /* where the schedule goes; NULL: standard output */
    bool out_fresh;               /* out is a new file of the caller's (e.g. its
                                     temporary file): written as the replay goes
                                     (emptied if it starts over).  Otherwise the
                                     schedule is held back and written to out
                                     only when the replay succeeded. */
    const char *out_name;         /* out's name in messages */
    KrOutFormat format;
    bool has_until;
    int64_t until;                /* horizon, Unix seconds */
    bool stats;                   /* summary on stderr */
    bool stats_json;              /* ... as one JSON document (SPEC.md 4.14) */
    bool skip_bad_rows;           /* skip bad rows, count them on stderr */
    uint32_t shard_k, shard_n;    /* shard_n == 0: no sharding */
    bool progress;                /* progress line on stderr if a terminal */
    uint32_t jobs;                /* replay threads (0: one per online CPU) */
    uint64_t memory;              /* memory ceiling in bytes (0: the default, 512 MiB);
                                     rows waiting to be replayed spill to a temporary
                                     file past an eighth of it, 8 MiB at most */
    const char *stdin_format;     /* "csv" or "jsonl" for "-" (default csv) */
    /* explain (may be NULL): customer id whose decisions are traced */
    const char *explain_customer;
    const char *explain_rule;     /* NULL: all rules */
    bool explain_jsonl;
    FILE *explain_out;            /* where the story goes (NULL: standard output) */
    /* the log's schema (--map, --schema; NULL: Kairos's own names) and
     * whether the logs are Segment-spec JSON Lines (--input segment) */
    const struct KrSchema *schema;
    bool segment;
    bool has_explain_from;
    int64_t explain_from;         /* explain --from: story lines before it are left out */
} KrOptions;

/* ---- mapping a log's schema (schema.c, SPEC.md 5.11) ---------------------- */
typedef struct KrSchema KrSchema;
KrSchema *kr_schema_new(void);
/* Adds "--map KAIROS=SOURCE,..."; 0, or -1 with msg set (bad usage). */
int  kr_schema_map(KrSchema *sc, const char *spec, char *msg, size_t cap);
/* Reads a schema file (YAML); 0, or -1 after printing FILE:LINE:COL: error. */
int  kr_schema_load(KrSchema *sc, const char *path, FILE *err);
/* What the schema file said of its input: 1 `input: segment`, 0 `input:
 * rows`, -1 nothing. */
int  kr_schema_input(const KrSchema *sc);
void kr_schema_free(KrSchema *sc);
/* Files a run creates beside the output-file machinery of the command-line
 * tool, which a signal must remove like its temporary files (SPEC 6,
 * "Signals"): an SQLite database that -o creates, and its journals.  The
 * tool installs its signal handler's registry once, at start; without one
 * (the default) nothing is registered.
 *   create: creates path (open with O_CREAT | O_EXCL, the mode given) and
 *           registers it, with no signal delivered in between: an open
 *           descriptor, or -1 with errno set (EEXIST: path exists);
 *   add:    registers path (a file that may not exist yet);
 *   remove: unregisters path.
 * A registered path must stay valid until it is unregistered. */
typedef struct KrCleanup {
    int  (*create)(char *path, int mode);
    void (*add)(char *path);
    void (*remove)(const char *path);
} KrCleanup;
void kr_set_cleanup(const KrCleanup *c);
/* Whether -o names a database table (postgresql://, postgres://, sqlite:):
 * then out is NULL and out_name the table's URI; the runtime writes it. */
bool kr_output_is_table(const char *name);
/* A schedule written into such a table by another command (merge): CSV
 * lines, the header first, in one transaction committed by
 * kr_table_close(ok = true) only (SPEC 5.13).  open: NULL after printing
 * "NAME: error: ..." (a password shown as ***); write, close: 0 or -1
 * (printed). */
/* A database source's identity, so that two spellings of one table
 * compare equal (cli: an input given twice, -o onto an input; SPEC 6):
 * kind 0 when name is no database source or cannot be resolved (an SQLite
 * file that does not exist), 1 SQLite (the file's device and inode: a
 * `file:` URI name is decoded as SQLite does), 2 PostgreSQL (conn: the
 * connection's parameters, parsed by libpq and sorted, the password left
 * out; the whole name when libpq cannot be loaded).  table: as the
 * database resolves it (SQLite: without case and without `main.`;
 * PostgreSQL: a plain name folded to lower case, without `public.`), or
 * NULL for a query= source (query: its text). */
typedef struct KrDbId {
    int kind;
    uint64_t dev, ino;
    char *conn, *table, *query, *path;
} KrDbId;
void kr_db_id(const char *name, KrDbId *id);
void kr_db_id_free(KrDbId *id);
/* Whether the query of SQLite source q reads table t (as KrDbId.table
 * holds it), by SQLite's own authorizer; false when it cannot tell. */
bool kr_db_query_reads(const KrDbId *q, const char *t);
typedef struct KsSink KrTableOut;
KrTableOut *kr_table_open(const char *name, FILE *err);
int  kr_table_write(KrTableOut *t, const char *line, size_t len);
int  kr_table_close(KrTableOut *t, bool ok);
/* The event sources built in, e.g. "csv jsonl segment postgresql sqlite". */
const char *kr_sources(void);

/* Replays the inputs through the image and writes the schedule.  Errors
 * (unreadable file, bad row, write failure) are printed to err as
 * "FILE:LINE[:COL]: message" and give exit status 1 (a write error on
 * standard output: "kairos: error writing standard output: REASON").  The
 * caller removes a fresh output file after a failure.  Returns the process
 * exit status (0 or 1). */
int kr_simulate(const KImage *img, const KrOptions *opt, FILE *err);

/* ---- diff and readout (LANGUAGE.md section 7; SPEC.md section 8) ---- */

typedef enum { KR_DIFF_TEXT = 0, KR_DIFF_MARKDOWN, KR_DIFF_JSON, KR_DIFF_CSV } KrDiffFormat;
typedef struct KrDiffOptions {
    KrDiffFormat format;
    const char *old_name, *new_name;  /* shown in the summaries */
    bool discard;                     /* no output (the html page's gates only need the difference) */
    /* if not NULL: called with the JSON summary (whatever format is) once
     * the rows are compared; its value goes to *gate_status (if not NULL),
     * and the output is written only when it is 0 or 3 (--fail-if) */
    int (*gate)(void *ctx, const char *json);
    void *gate_ctx;
    int *gate_status;
} KrDiffOptions;
/* Replays OLD and NEW over opt's inputs (read once; opt->format, stats and
 * explain are not used) and writes the difference where kr_simulate writes
 * a schedule (opt->out, out_fresh, out_name: a fresh file as it comes,
 * anything else held back until the end).  The schedules are not kept: the
 * difference is found as their rows come (SPEC 5.10).  *changed: the
 * schedules differ.  Returns 0, or 1 after a message on err. */
int kr_diff(const KImage *old, const KImage *new_, const KrDiffOptions *dopt, const KrOptions *opt,
            bool *changed, FILE *err);
/* The JSON summary kr_diff writes, for no customer (malloc'ed; NULL: no
 * memory): its fields are the ones --fail-if may name. */
char *kr_diff_summary_shape(void);

typedef enum { KR_READ_TEXT = 0, KR_READ_CSV, KR_READ_JSON } KrReadFormat;
typedef struct KrReadoutOptions {
    KrReadFormat format;
    int64_t window;                   /* seconds (default 7 days) */
    const char *by_trait;             /* split by customer.TRAIT, or NULL */
    const char *policy_name;          /* shown in the text and JSON forms */
} KrReadoutOptions;
/* Replays the policy, attributes the `response` events of the same inputs
 * to the sends and renders the readout into *out (as kr_diff). */
int kr_readout(const KImage *img, const KrReadoutOptions *ropt, const KrOptions *opt,
               char **out, size_t *outlen, FILE *err);

/* ---- report (runtime/report.c; SPEC.md section 6.4) ---- */
typedef struct KrReportOptions {
    const KImage *imgs[2];            /* one policy, or OLD and NEW (diff --format html) */
    const char *names[2];             /* their file names as given */
    uint32_t npolicies;
    int64_t window;                   /* the readout's attribution window (seconds) */
    const char *version;              /* Kairos version shown in the facts */
    bool stamp; int64_t stamp_time;   /* --stamp: the generation time shown */
} KrReportOptions;
/* Replays the policies over opt's inputs (read once) and renders the
 * self-contained HTML page into *out (as kr_diff). */
int kr_report(const KrReportOptions *rp, const KrOptions *opt, char **out, size_t *outlen, FILE *err);

/* Statistics (stats.c), 95 % intervals with z = KR_Z95. */
#define KR_Z95 1.959964
/* Wilson score interval of x successes in n trials (n > 0). */
void kr_wilson(uint64_t x, uint64_t n, double z, double *low, double *high);
/* Newcombe's hybrid score interval (his method 10) for p1 - p2. */
void kr_newcombe(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double z, double *low, double *high);

/* Parses an RFC 3339 time or integer Unix seconds; 0 on success. */
int kr_parse_time(const char *s, size_t len, int64_t *out);
/* SPEC 5.4's rule for a customer id (valid UTF-8, no NUL byte): NULL, or
 * what is wrong ("it is not valid UTF-8"), as the readers say it. */
const char *kr_bad_customer_id(const char *s, size_t len);

#endif
