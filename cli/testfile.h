/* testfile.h -- `kairos test`: the test-file model shared by cli/test*.c.
 *
 *   testutil.c   messages, byte buffers, paths
 *   testyaml.c   YAML text -> a small node tree with positions (libyaml events)
 *   testfile.c   node tree -> KqFile (the schema of SPEC.md section 7)
 *   testcheck.c  schedule rows: CSV reading, exact comparison with a diff,
 *                assertions
 *   test.c       the command: discovery, replay, report, JUnit
 *
 * Prefix: kq_ (q: quality checks; kt_ would clash with the KType values
 * KT_* of lang/ast.h).  Nothing here prints except through the FILE *
 * arguments.
 */
#ifndef KAIROS_CLI_TESTFILE_H
#define KAIROS_CLI_TESTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "lang/util.h"

/* ---- messages ---------------------------------------------------------- */

/* A growable list of formatted messages (errors of one test file, or the
 * detail lines of one failed test). */
typedef struct KqMsgs {
    char **v;
    size_t n, cap;
    bool oom;                     /* an allocation failed: some are missing */
} KqMsgs;

void kq_msg(KqMsgs *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kq_msgs_free(KqMsgs *m);

/* A growable byte string; on allocation failure it sets oom and stops
 * growing (callers check oom once at the end). */
/* The largest expected-schedule file a test reads (SPEC 7.5). */
#define KQ_MAX_SCHEDULE_BYTES ((size_t)256 << 20)
/* The largest count a test file may write (assertions' N, a row's attempt: SPEC 7.4). */
#define KQ_MAX_INT 1000000000L

typedef KuBuf KqBuf;              /* lang/util.h */

static inline void kq_buf_add(KqBuf *b, const void *p, size_t n) { ku_buf_add(b, p, n); }
static inline void kq_buf_str(KqBuf *b, const char *s) { ku_buf_str(b, s); }
#define kq_buf_fmt ku_buf_fmt
/* Appends s as one CSV field (quoted when it holds , " CR or LF). */
void kq_buf_csv_field(KqBuf *b, const char *s, size_t n);
/* Returns the NUL-terminated text and resets b; NULL if an allocation failed. */
static inline char *kq_buf_take(KqBuf *b) { return ku_buf_take(b); }

/* ---- YAML node tree (testyaml.c) -------------------------------------- */

typedef enum { KQ_SCALAR, KQ_SEQ, KQ_MAP } KqNodeKind;

typedef struct KqNode {
    KqNodeKind kind;
    unsigned line, col;           /* from 1 */
    char *text;                   /* scalar: NUL-terminated bytes */
    size_t len;                   /* scalar: length (may hold NULs) */
    bool is_null;                 /* a plain scalar ~, null, Null, NULL or empty */
    bool plain;                   /* scalar written without quotes */
    bool flow;                    /* seq or map written in flow style ([...] or {...}) */
    bool indentless;              /* a block seq whose `-` lines stand in its key's column */
    size_t lo, hi;                /* the node's text: characters (not bytes) [lo, hi)
                                     from the start (libyaml marks); for a block
                                     collection hi is its last child's end; for a
                                     block sequence lo is its first `-`, after any
                                     anchor or tag */
    unsigned lo_col;              /* the column of lo, from 1 */
    struct KqNode **items;        /* seq: n items; map: n pairs (key, value, ...) */
    size_t n;
    size_t nitems, cap;           /* items held and allocated (a map cut short
                                     by an error may end with a lone key) */
} KqNode;

/* Parses one YAML document.  On error returns NULL and adds
 * "PATH:LINE:COL: error: message" to errs.  Free with kq_node_free. */
KqNode *kq_yaml_parse(const char *path, const unsigned char *text, size_t len, KqMsgs *errs);
void kq_node_free(KqNode *n);
/* Renders a node in YAML flow style (for messages); malloc'ed, or NULL. */
char *kq_node_render(const KqNode *n);

/* ---- schedule rows (testcheck.c) -------------------------------------- */

enum { KQ_TIME, KQ_CUSTOMER, KQ_RULE, KQ_ACTION, KQ_SURVEY, KQ_CHANNEL,
       KQ_ATTEMPT, KQ_VARIANT, KQ_NCOLS };
extern const char *const kq_columns[KQ_NCOLS];

typedef struct KqRow {
    char *f[KQ_NCOLS];            /* text of each field; f[KQ_TIME] in UTC Z form */
    int64_t time;
    long attempt;
} KqRow;

typedef struct KqRows {
    KqRow *v;
    size_t n, cap;
} KqRows;

void kq_rows_free(KqRows *r);
/* Appends a row built from 8 field texts: parses and normalizes time and
 * attempt.  Returns 0, or -1 with a reason in why (static text: what is
 * wrong with field *col, "is not a positive integer"; *col -1 when no
 * field is: out of memory). */
int kq_rows_add(KqRows *r, char *const f[KQ_NCOLS], const char **why, int *col);
/* s for a message: whole when shorter than 60 bytes, else its first 56 at
 * most (cut between characters) and "..." in buf. */
const char *kq_clip(const char *s, char buf[64]);
/* Reads a schedule CSV (header line required).  On error returns -1 and
 * adds "PATH:LINE: error: ..." to errs. */
int kq_rows_read_csv(const char *path, KqRows *out, KqMsgs *errs);
/* The row as a CSV line (no newline), quoted as simulate quotes. */
char *kq_row_csv(const KqRow *r);

/* ---- the model (testfile.c) ------------------------------------------- */

typedef struct KqFilter {
    bool has[KQ_NCOLS];
    const char *val[KQ_NCOLS];    /* borrowed from the node tree */
    int64_t time;
    long attempt;
} KqFilter;

typedef enum { KQ_SENT, KQ_NOT_SENT, KQ_COUNT, KQ_AT_MOST, KQ_QUIET } KqAssertKind;

typedef struct KqAssert {
    KqAssertKind kind;
    char *text;                   /* e.g. "at_most {asks: 1, per: 30d}" (owned) */
    KqFilter filter;
    bool has_eq, has_min, has_max;
    long eq, min, max;            /* count */
    long limit;                   /* at_most */
    int64_t per;                  /* at_most: window, seconds */
    bool asks_only;               /* at_most asks: (else rows:) */
    int from_sec, to_sec;         /* quiet: local seconds of the day */
    const char *tz;               /* quiet: zone name (borrowed), "UTC" default */
    void *gtz;                    /* quiet: GTimeZone * (owned) */
} KqAssert;

typedef struct KqTest {
    const char *name;             /* borrowed from the node tree */
    char **event_files;           /* resolved paths (owned) */
    size_t nevent_files;
    bool inline_events;
    char *inline_csv;             /* inline rows as CSV text (owned) */
    size_t inline_len;
    bool has_until;
    int64_t until;
    bool has_schedule;
    KqRows schedule;
    const KqNode *schedule_node;  /* the value of `schedule` (borrowed) */
    char *schedule_file;          /* its resolved path when it names a file (owned) */
    KqAssert *asserts;
    size_t nasserts;
} KqTest;

typedef struct KqFile {
    char *path;                   /* as given */
    char *policy;                 /* resolved path */
    KqTest *tests;
    size_t ntests;
    KqNode *root;                 /* owns the borrowed strings */
} KqFile;

/* Reads and validates a test file.  Returns NULL (with every error in
 * errs, as "PATH:LINE:COL: error: message") if it cannot be used. */
KqFile *kq_file_load(const char *path, KqMsgs *errs);
void kq_file_free(KqFile *f);
/* Byte offset of character index ci in text (UTF-8; for KqNode.lo/hi). */
size_t kq_char_to_byte(const char *text, size_t len, size_t ci);

/* Joins a path relative to the directory of base ("" dir: p itself). */
char *kq_path_join(const char *base, const char *p);
/* Whether paths a and b (NULL: neither) name one regular file (links
 * followed: `s.csv`, `./s.csv`, a hard link). */
bool kq_same_file(const char *a, const char *b);

/* ---- checking (testcheck.c) ------------------------------------------- */

/* Compares the exact schedule; on a mismatch adds a diff to out and
 * returns false. */
bool kq_check_schedule(const KqRows *expected, const KqRows *actual, KqMsgs *out);
/* Checks one assertion (index i for messages); adds details to out and
 * returns false when it fails. */
bool kq_check_assert(const KqAssert *a, size_t i, const KqRows *actual, KqMsgs *out);
/* The schedule files the test files of one `kairos test --update` run
 * expected so far, each with the rows it holds now (as CSV text) and the
 * first test that expects it: a later test file's test may rewrite one
 * only with the same rows (kq_update_schedules). */
typedef struct KqSeen {
    struct KqSeenFile { char *path, *test_file, *test, *csv; } *v;
    size_t n, cap;
} KqSeen;
/* Adds the schedule files f's tests expect, as they are after
 * kq_update_schedules (actual[i] the rows test i wrote unless failed[i]). */
void kq_seen_add(KqSeen *s, const KqFile *f, KqRows *const *actual, const bool *failed);
void kq_seen_free(KqSeen *s);
/* kairos test --update (testupdate.c): rewrites the expected schedule of
 * each test i of f with actual[i] != NULL (an inline list in the test file,
 * or the schedule file it names; not a file another test of f, or of an
 * earlier test file of the run (seen), expects with other rows).  One
 * line per rewrite goes to done, errors to errs; failed[i] is set for a
 * test that could not be updated.  Returns false if any could not. */
bool kq_update_schedules(const KqFile *f, KqRows *const *actual, bool *failed, KqMsgs *done,
                         KqMsgs *errs, const KqSeen *seen);
/* The longest per: of an assertion: 100,000 years of 366 days. */
#define KQ_MAX_PER ((int64_t)100000 * 366 * 86400)
/* Parses a Kairos duration (30s, 15m, 24h, 7d, 2w, 1h30m) of at most
 * KQ_MAX_PER into *out: 0, -1 not a duration, -2 a longer one. */
int kq_parse_duration(const char *s, int64_t *out);

#endif
