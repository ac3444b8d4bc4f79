/* input_impl.h -- private to the event-log readers (input.c, rows.c, csv.c,
 * jsonl.c, timeparse.c).  The rest of the runtime uses the ki_ API of
 * internal.h only.
 *
 * Flow, full mode (the default): ki_open opens every file; the first
 * ki_next parses each file once (csv.c / jsonl.c) into packed rows (rows.c),
 * held in memory and spilled to an unlinked temporary file past a
 * threshold, while noting whether the file's times are non-decreasing.
 * Then ki_next merges the files' rows: sorted files stream back from their
 * spill, an unsorted file is loaded and stably sorted.
 *
 * Stream mode (ki_stream): each file is parsed one row at a time as the
 * merge needs it (no row store at all); the parsers hand over their own row
 * (KiSrc.row).  When a file turns out not to be time-sorted, the reader
 * reopens every file in full mode and ki_next returns 2 (the caller starts
 * over).  Row messages are held per file and the first error in file order
 * is printed, as full mode would.
 */
#ifndef KAIROS_INPUT_IMPL_H
#define KAIROS_INPUT_IMPL_H

#include <stdatomic.h>
#include <zlib.h>
#include "internal.h"

/* ---- cell parsers (timeparse.c) ---------------------------------------- */
int64_t ki_days_from_civil(int64_t y, unsigned m, unsigned d);
int     ki_parse_int64(const char *s, size_t len, int64_t *out);
/* The month of the last date read ("YYYY-MM-" as a word), the days of its
 * first day since the epoch and its length: a log's rows mostly fall in
 * the month of the row before, so only the day is then read. */
typedef struct KiTimeCache { uint64_t month8; int64_t day1; unsigned dim; bool valid; } KiTimeCache;
/* kr_parse_time with a cache of the date part (same results). */
int     ki_parse_time_cached(KiTimeCache *c, const char *s, size_t len, int64_t *out);
bool    ki_parse_num(const char *s, size_t len, double *out);

/* ---- rows ----------------------------------------------------------------
 * The most attributes one row can keep (more are ignored: no image has
 * this many distinct attribute names an event can keep). */
#define KI_MAX_ATTRS 256

/* A row as the parsers fill it and as the merge hands it out. */
typedef struct KiRow {
    int64_t time;
    uint64_t line;
    uint32_t customer, event, nattrs;
    uint32_t route;               /* the high half of kr_hash_bytes of the customer id */
    uint32_t ids[KI_MAX_ATTRS];
    KrValue vals[KI_MAX_ATTRS];
} KiRow;

/* Packed rows (rows.c), the form rows wait in (memory, then a temporary
 * file): LEB128 varints zigzag(time - previous time), line - previous line,
 * customer, event + 1 (0: unknown event), nattrs; then per attribute its
 * index, a tag byte and the payload: KI_P_NUM 8 bytes (the double), KI_P_INT
 * a zigzag varint (an integral number), KI_P_STR a varint (value pool id),
 * KI_P_TRUE / KI_P_FALSE nothing.  "previous" is the previous row of the
 * same file in file order. */
enum { KI_P_NUM = 1, KI_P_INT, KI_P_STR, KI_P_TRUE, KI_P_FALSE };
#define KI_MAX_PACKED (10u + 10u + 5u + 5u + 5u + KI_MAX_ATTRS * (5u + 1u + 10u))

/* An unsorted file's row, for the stable sort. */
typedef struct KiKey { int64_t time; uint64_t line; size_t off; } KiKey;

enum { KI_FMT_CSV = 0, KI_FMT_JSONL = 1, KI_FMT_SEGMENT = 2 };
#define KI_BUF_PAD 64

typedef struct KrInputCtx KrInputCtx;

/* ---- .gz files (gunzip.c) -------------------------------------------------
 * Strict gzip: not gzip, truncated, corrupt, or followed by other bytes is
 * an error; concatenated members are one file.  ki_gz_open takes the
 * descriptor (NULL: out of memory); ki_gz_read returns bytes read, 0 at the
 * end, -1 with *msg set ("not a gzip file", "truncated gzip file ...",
 * "bad gzip data: incorrect data check", ...).  With ahead, a thread of
 * its own inflates ahead of the reads (for a regular file: a read never
 * blocks for long), unless it cannot be started. */
typedef struct KiGz KiGz;
KiGz *ki_gz_open(int fd, bool ahead);
long  ki_gz_read(KiGz *g, void *buf, size_t n, const char **msg);
void  ki_gz_close(KiGz *g);
bool  ki_gz_ahead(const KiGz *g);     /* its read-ahead runs (for tests) */

/* A name table slot: the name's length and first 16 bytes (kr_prefix16),
 * its image string, and index + 1 (0: empty). */
typedef struct KiName { uint64_t k[2]; uint32_t len, idx1, si; } KiName;

/* A remembered cell value: len + 1 (0: empty), the bytes (kr_prefix16). */
#define KI_MEMO 256
typedef struct KiMemo { uint64_t k[2]; uint32_t len1; KrValue v; } KiMemo;

/* One input file, its raw reader, its parsed rows. */
typedef struct KiSrc {
    KrInputCtx *ctx;
    const char *name;             /* as given ("-" shown as "<stdin>") */
    int fmt;
    int fd;                       /* plain file or stdin, else -1 */
    KiGz *gz;                     /* .gz file, else NULL (gunzip.c) */
    bool gz_failed;               /* ki_gz_read reported an error */
    bool is_stdin;
    struct KsRaw *raw;            /* a database source (source.h), else NULL */
    char *shown;                  /* its name with the password hidden (name), or NULL */
    bool regular;                 /* a regular file: can be opened and read again */
    bool lazy;                    /* a regular file, opened when its parsing begins
                                     (ki_raw_open): never more open files than the
                                     parsing needs at once */
    bool gzip;                    /* the name ends in .gz */

    /* raw input buffer: bytes [pos, end) are unread; eof once read() says so;
     * KI_BUF_PAD bytes after cap may be read (never used) by vector loads */
    char *buf; size_t cap, pos, end;
    bool eof;
    uint64_t line;                /* line number of the byte at pos (1-based) */
    uint64_t bytes;               /* raw bytes read */
    uint64_t line_at; size_t line_seen;   /* ki_line_next: the line at this offset (as bytes
                                     counts) has no line feed in its first line_seen bytes,
                                     so a line arriving in pieces is looked through once */
    atomic_uint_fast64_t *shared_bytes;   /* a part of a file (input_par.c): bytes read are
                                     added there too, for the progress line */
    uint64_t stop;                /* a window of a regular file (ki_src_window): read
                                     up to this file offset only (0: to the end) */
    bool suspect;                 /* a record could not be cut (CSV structural
                                     error), even if skipped: input_par.c falls back */

    /* row store (rows.c): rows [0, spilled) at spill_base in the run's
     * temporary file (ctx->spill_fd, shared by every file: one descriptor
     * however many files), then [0, rlen) of rbuf */
    char *rbuf; size_t rlen, rcap;
    uint64_t spill_base;          /* offset of this file's rows in the temporary file */
    bool nospill;                 /* spilling failed: keep rows in memory */
    uint64_t spilled;             /* bytes in the spill file */
    uint64_t nrows;
    int64_t last_time; uint64_t last_line;   /* of the last row stored */
    int64_t max_time;             /* of the latest row stored (nrows > 0) */
    bool sorted;                  /* times non-decreasing so far */

    /* parser-private state (freed by priv_free) */
    void *priv;
    void (*priv_free)(void *);

    /* stream mode (input.c) */
    bool stream;                  /* rows go to the merge, not the row store */
    bool begun, done;             /* header read; end of file reached */
    char *msg;                    /* the held error message (stream mode) */
    const KiRow *row;             /* the current row (&cur, or the parser's) */

    /* reading the rows back (rows.c) */
    char *mbuf; size_t mcap, mpos, mend;     /* read-back buffer */
    uint64_t mread;               /* spill bytes read back */
    bool in_memory;               /* reading rbuf now */
    int64_t dtime; uint64_t dline;           /* decoder state */
    KiKey *order; size_t norder, oidx;       /* unsorted file: rows in time order */
    bool has_cur;
    KiRow cur;                    /* the current row */
} KiSrc;

/* Reader state shared by every file of one ki_open. */
struct KrInputCtx {
    const KImage *img;
    const KrOptions *opt;
    KrPool *customers, *values;
    FILE *err;
    uint64_t rows_read, rows_skipped;
    int64_t other_shards_latest;  /* latest time of rows dropped by --shard (INT64_MIN: none) */
    int spill_fd;                 /* the run's temporary file (rows.c), -1 until the first spill */
    uint64_t spill_end;           /* bytes written to it */

    /* event name -> image event index, attribute name -> image attribute
     * index (open addressing on the length and first 16 bytes) */
    KiName *ev_slots; uint32_t ev_mask;
    KiName *at_slots; uint32_t at_mask;
    /* recent cell values of at most 16 bytes, by their bytes (a cell's
     * value depends on its bytes only): most cells repeat a few values */
    KiMemo memo[KI_MEMO];
    /* per event kind (nevents + 1: the last is "unknown event"): the image
     * attribute indexes to keep, want_off[e] .. want_off[e + 1] in want */
    uint32_t *want, *want_off;
    /* per event kind, a bitset over attribute indexes (ceil(nattrs/64) words) */
    uint64_t *want_bits; uint32_t want_words;
    /* attributes some event keeps (union of the sets above) */
    uint64_t *any_bits;
    /* the log's schema (source.h; NULL: none) and per image attribute its
     * declared type (KS_T_*; NULL: no types declared) */
    const struct KrSchema *schema;
    uint8_t *attr_type;
    /* bytes the parts of a file read in parts have read so far (input_par.c;
     * ki_bytes_read adds them while the parts are read) */
    atomic_uint_fast64_t *par_bytes;
    /* the event kinds the rows named (ki_event_index), made with the
     * context (ki_kinds_begin); kinds_lost when memory for it ran out */
    struct KiKinds *kinds; bool kinds_lost;
    uint8_t *kind_named;          /* kinds' [nevents]: some row taken named event e */
    bool kind_pend;               /* the row being read names an event the policy
                                     does not, kept in kinds till the row is taken */
    /* ki_drain: where the rows go instead of the row store */
    KiSink sink; void *sink_arg; uint32_t sink_file;
    void (*sink_ahead)(void *arg, uint32_t route);   /* KiParts.ahead, or NULL */
};

/* input.c helpers for the parsers */
/* The image event a row's event name s names, or KB_NONE; noted in
 * c->kinds (the kinds the input had: ki_kind_seen, ki_unnamed_closest)
 * when the row is taken: ki_kind_commit(c, the row's event), which
 * ki_row_commit calls, and ki_row_other_shard for a row of another shard
 * (which also counts it read and its time). */
uint32_t ki_event_index(KrInputCtx *c, const char *s, size_t len);
void ki_kind_unnamed(KrInputCtx *c);
static inline void ki_kind_commit(KrInputCtx *c, uint32_t e)
{
    if (e < c->img->nevents) {
        if (c->kind_named) c->kind_named[e] = 1;
    } else if (c->kind_pend) {
        ki_kind_unnamed(c);
    }
}
void ki_row_other_shard(KrInputCtx *c, int64_t time, uint32_t e);
/* c's kinds made anew (a part's context, input_par.c); memory running
 * out is noted as kinds_lost. */
void ki_kinds_begin(KrInputCtx *c);
/* Adds what part's rows named to c's (input_par.c) and frees part's. */
void ki_kinds_merge(KrInputCtx *c, KrInputCtx *part);
void ki_kinds_free(KrInputCtx *c);
uint32_t ki_attr_index(const KrInputCtx *c, const char *s, size_t len);
static inline bool ki_wants(const KrInputCtx *c, uint32_t ev, uint32_t attr)
{
    uint32_t e = ev == KB_NONE ? c->img->nevents : ev;
    return (c->want_bits[(size_t)e * c->want_words + attr / 64u] >> (attr % 64u)) & 1u;
}
/* The first `\uXXXX` escape in the JSON text p of a lone surrogate (or with
 * nul of U+0000), its offset in *at; -1 if none (jsonl.c). */
int ki_json_bad_escape(const char *p, size_t len, bool nul, size_t *at);
/* Parses line[0..len) as strict JSON (one value; no comments, which yajl's
 * tree takes; nothing after it).  0 it is; -1 not: *at is the fault's
 * offset (len when the line ends inside the value: "incomplete JSON
 * object ..."), msg its message ("invalid JSON: ..."); -2 out of memory. */
int ki_json_strict(const char *line, size_t len, size_t *at, char *msg, size_t mcap);
/* yajl's message t as the JSON readers word it: "invalid JSON: " and its
 * first line, without yajl's "parse error: " or "lexical error: ". */
void ki_json_wording(const char *t, char *msg, size_t mcap);
/* Why the bytes s cannot be a customer id (not UTF-8, a NUL byte), or NULL. */
const char *ki_bad_id(const char *s, size_t len);
/* Whether the first bytes p[0, n) of a stream not named .gz are gzip data
 * (1F 8B 08): then an error says so (standard input and unnamed streams are
 * not decompressed, SPEC 5.1), and true. */
bool ki_gzip_data(KiSrc *s, const char *p, size_t n);
/* Customer id of a row: 1 = keep (r->customer and r->route set), 0 =
 * outside the shard, -1 = out of memory. */
int  ki_customer(KrInputCtx *c, const char *s, size_t len, KiRow *r);
/* The same with h = kr_hash_bytes(s, len) computed before (and the pool
 * slot prefetched with kr_pool_prefetch). */
int  ki_customer_hashed(KrInputCtx *c, const char *s, size_t len, uint64_t h, KiRow *r);
/* The last customer id a parser turned into an id (when at most 64 bytes:
 * a UUID, most emails): its bytes, the pool the id is of, and what
 * ki_customer gave.  A row of the same customer takes them without hashing
 * or looking up (ki_memo_take): a log grouped by customer, as most exports
 * come, is runs of one customer.  The mapping from bytes to id and shard
 * is a function, so an older entry is as right as the last one. */
typedef struct KiCustMemo {
    char id[64]; uint32_t len;
    const KrPool *pool; uint32_t cust, route; int k;
} KiCustMemo;
/* Whether a[0, n) and b[0, n) are the same bytes (short ones by two
 * fixed-size loads each, kr_prefix16, not a call). */
static inline bool ki_same_bytes(const char *a, const char *b, size_t n)
{
    if (n > 16) return memcmp(a, b, n) == 0;
    uint64_t x[2], y[2];
    kr_prefix16(a, n, x);
    kr_prefix16(b, n, y);
    return x[0] == y[0] && x[1] == y[1];
}
/* Whether s is m's customer: then r's customer and route are set and *k is
 * ki_customer's result. */
static inline bool ki_memo_take(const KiCustMemo *m, const KrInputCtx *c, const char *s, size_t len,
                                KiRow *r, int *k)
{
    if (len != m->len || len == 0 || m->pool != c->customers || !ki_same_bytes(s, m->id, len)) return false;
    r->customer = m->cust;
    r->route = m->route;
    *k = m->k;
    return true;
}
/* A reader's count of rows of its memo's customer lately (a saturating
 * count, up with such a row, down with another): from KI_RUNS on, the rows
 * come in runs of one customer (a log grouped by customer), which the memo
 * takes without a lookup, so the readers do not look ahead at customers
 * (csv.c's batches, jsonl.c's glances). */
#define KI_RUNS 8u
static inline void ki_run_note(uint8_t *run, bool same)
{
    if (same) { if (*run < 2u * KI_RUNS - 1u) (*run)++; }
    else if (*run > 0) (*run)--;
}
/* The readers look ahead at customers once the pool holds this many (its
 * table then outgrows the caches; measured: 8,000 customers a little
 * slower with look-ahead, 100,000 faster); fuzz builds from the first. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define KI_AHEAD_POOL 0u
#else
#define KI_AHEAD_POOL (1u << 16)
#endif
/* Remembers ki_customer's result k (0 or 1) for s, as r has it. */
static inline void ki_memo_keep(KiCustMemo *m, const KrInputCtx *c, const char *s, size_t len,
                                const KiRow *r, int k)
{
    if (k < 0 || len > sizeof m->id) { m->len = 0; return; }
    memcpy(m->id, s, len);
    m->len = (uint32_t)len;
    m->pool = c->customers;
    m->cust = r->customer;
    m->route = r->route;
    m->k = k;
}
/* Reads more raw input: moves [pos, end) to the front, grows the buffer if
 * it is full, reads.  Returns bytes added (0 at end of input), -1 on error
 * (printed). */
long ki_fill(KiSrc *s);
/* The next line of a line-oriented source (JSON Lines, Segment), filling
 * the buffer as needed: *p and *len the line without its line end (a UTF-8
 * BOM at the start of line 1 removed), *adv the bytes to step s->pos over
 * once it is used.  1 a line, 0 at the end, -1 after an error (printed);
 * a line over 64 MiB, its line end not counted, is an error. (jsonl.c) */
int ki_line_next(KiSrc *s, const char **p, size_t *len, size_t *adv);
/* Cell value (a CSV cell after unquoting, or a JSON string): number; else
 * boolean for exactly `true`/`false`; else string interned in the values
 * pool.  0 or -1 (out of memory). */
int  ki_cell_value(KrInputCtx *c, const char *s, size_t len, KrValue *out);
/* Prints "NAME:LINE[:COL]: message" (col 0: none) and returns -1. */
int  ki_error(KiSrc *s, uint64_t line, uint64_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A bad row: with opt->skip_bad_rows counts it and returns 0 (go on),
 * else prints as ki_error and returns -1. */
int  ki_bad_row(KiSrc *s, uint64_t line, uint64_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error shown with its input line (SPEC 5.6): rec is the start of the
 * record (on line `line`, inside s->buf), at the offending byte in it
 * (its column is computed, a caret goes under it) or NULL (the line is
 * shown without a caret); hint may be NULL.  A row error (row true) with
 * opt->skip_bad_rows is counted and returns 0; otherwise returns -1. */
int  ki_row_error(KiSrc *s, bool row, uint64_t line, const char *rec, const char *at, const char *hint,
                  const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* A bad time cell s[0..len): the message (after "FILE:LINE:COL: error: ")
 * and the hint ("" if none) for it.  json: the value is a JSON number. */
void ki_bad_time_text(const char *s, size_t len, bool json, char *msg, size_t mcap, char *hint, size_t hcap);
/* A cell for a message, into out (cap bytes, 200 is enough): at most 40
 * bytes of it, cut between characters and then "...", control characters
 * escaped (\n \r \t, else \xHH: a quoted cell may hold a line break). */
void ki_shown_cell(const char *s, size_t len, char *out, size_t cap);
/* 1-based character (UTF-8) column of p on the line that starts at linestart. */
uint64_t ki_column(const char *linestart, const char *p);

/* rows.c: appends a row to the file's rows; 0 or -1 (printed). */
int  ki_row_commit(KiSrc *s, const KiRow *r);
/* rows.c: after parsing a file: a time-ordered file that has spilled, or
 * whose rows would bring the memory rows of all files (*mem_total) past the
 * budget, moves all its rows to its temporary file, so the merge holds only
 * a read-back buffer per file. */
void ki_rows_park(KiSrc *s, size_t *mem_total);
/* rows.c: after parsing: prepares reading the rows back in time order
 * (an unsorted file is loaded and stably sorted) and reads the first. */
int  ki_rows_start(KiSrc *s);
/* rows.c: the next row into s->cur (s->has_cur false at the end); 0 or -1. */
int  ki_rows_next(KiSrc *s);
/* rows.c: frees the row store. */
void ki_rows_free(KiSrc *s);

/* csv.c / jsonl.c: begin reads what comes before the first row (the CSV
 * header) and sets up s->priv; 0 or -1 (reported).  step parses rows until
 * one is committed (ki_row_commit): 1, or 0 at the end of the file, or -1
 * (reported). */
int  ki_csv_begin(KiSrc *s);
int  ki_csv_step(KiSrc *s);
int  ki_jsonl_begin(KiSrc *s);
int  ki_jsonl_step(KiSrc *s);
int  ki_segment_begin(KiSrc *s);
/* csv.c: gives dst (a fresh source of the same file, same ctx tables) the
 * column plan src's header produced, so that dst can parse rows of a window
 * of the file without the header; 0 or -1 (out of memory). */
int  ki_csv_clone(KiSrc *dst, const KiSrc *src);
int  ki_segment_step(KiSrc *s);

/* input.c: the file's parser begins (opening a lazy file), takes a step
 * (as ki_csv_step), and its raw input is closed (buffer and parser state
 * freed). */
int  ki_src_begin(KiSrc *s);
int  ki_src_step(KiSrc *s);
void ki_src_close(KiSrc *s);
/* input.c: makes a regular, uncompressed file read the bytes from file
 * offset start to stop (0: to the end) next, as if they were all that is
 * left of it (the buffer is emptied; s->line is left as it is).  0 or -1
 * (printed). */
int  ki_src_window(KiSrc *s, uint64_t start, uint64_t stop);
/* input_par.c: the files srcs[0, n) (none begun), in kp->n parts parsed at
 * once (see KiParts), c the shared context; after a part that failed, the
 * rest is read with seq (a file from offset start with line number line,
 * or whole with start 0).  0, -1 after an error (printed), or 1: the files
 * do not qualify (nothing read: read them sequentially, into part 0). */
int  ki_par_files(KiSrc *srcs, uint32_t n, KrInputCtx *c, const KiParts *kp,
                  int (*seq)(KiSrc *s, uint64_t start, uint64_t line));
/* csv.c, for tests: records cut ahead in a batch, at most n, however few
 * customers (0: the defaults); *hashed: rows whose customer id the batches
 * hashed so far. */
void ki_csv_batch(uint32_t n, uint64_t *hashed);
/* Tests: JSON Lines glances ahead at customer ids however few customers the
 * pool holds (always), or as it does by itself (false); *glanced (unless
 * NULL): ids glanced at so far, by every reader (jsonl.c jsonl_ahead). */
void ki_jsonl_peek(bool always, uint64_t *glanced);
/* input_par.c: an address-space limit (ulimit -v) below 256 MiB: the
 * inputs are read on one thread (no parts, no .gz read-ahead). */
bool ki_tight_memory(void);

#endif
