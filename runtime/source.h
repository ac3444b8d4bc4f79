/* source.h -- private to the event-log readers: the schema mapping
 * (schema.c: --map, --schema), the Segment-spec reader (segment.c) and the
 * database sources (src_pg.c, src_sqlite.c) and schedule sinks.  See
 * SPEC.md sections 5.11 to 5.13.
 */
#ifndef KAIROS_SOURCE_H
#define KAIROS_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "internal.h"
typedef struct KrInputCtx KrInputCtx;

/* ---- schema (schema.c) ----------------------------------------------- */

enum { KS_TIME = 0, KS_CUST = 1, KS_EVENT = 2, KS_ATTR = 3, KS_DROP = 4 };
enum { KS_T_AUTO = 0, KS_T_STRING, KS_T_NUMBER, KS_T_BOOL };

typedef struct KsPair { char *a, *b; char *origin; } KsPair;   /* origin: ren only (below) */

struct KrSchema {
    char *role_from[3];           /* source names of time, customer, event (NULL: the default) */
    char *role_origin[3];         /* where each was given ("--map", a file) */
    KsPair *ren; size_t nren;     /* attribute: a = source name, b = Kairos name, origin = where
                                     the mapping was given ("--map" or the schema file) */
    char **drop; size_t ndrop;    /* source names not read */
    KsPair *types; size_t ntypes; /* a = Kairos attribute name, b = "string" | "number" | "bool" */
    int64_t unit;                 /* numeric times: 1 (s), 1000 (ms), 1000000 (us); 0: not given */
    char *tformat;                /* text time format, or NULL */
    char *tzone;                  /* zone name for tformat (required unless it has %z) */
    KzZone *zone;
    bool segment;                 /* input: segment */
    bool input_said;              /* input: given (rows or segment) */
    bool mapped;                  /* any of the above given */
};

/* ks_column -- what a source column (CSV header name, JSON key) holds:
 * KS_TIME, KS_CUST, KS_EVENT, KS_DROP, or KS_ATTR with the Kairos
 * attribute name in *an, *alen.  sc may be NULL. */
int ks_column(const KrSchema *sc, const char *name, size_t len, const char **an, size_t *alen);
/* The source column name of a role (KS_TIME..KS_EVENT). */
const char *ks_role_name(const KrSchema *sc, int role);
/* Attribute type (KS_T_*) of the Kairos attribute name. */
int ks_type(const KrSchema *sc, const char *name);
/* Whether times need more than kr_parse_time (a unit or a format). */
static inline bool ks_custom_time(const KrSchema *sc) { return sc && (sc->unit || sc->tformat); }
/* ks_time -- a time cell under the schema (unit, format); 0 and *out, or
 * -1 with msg and hint ("" if none) set. */
int ks_time(const KrSchema *sc, const char *s, size_t len, bool json, int64_t *out,
            char *msg, size_t mcap, char *hint, size_t hcap);
/* ks_typed -- a cell of an attribute with a declared type: 0 with *out
 * set, 1 missing, -1 a type error (msg set), -2 out of memory. */
int ks_typed(KrInputCtx *c, int type, const char *s, size_t len, KrValue *out, char *msg, size_t mcap);
/* ks_check_typed -- the text s of attribute a checked against its declared
 * type, nothing kept (another shard's row, SPEC 5.9): 0, or -1 with msg set
 * to "NAME: why"; a string, or no declared type, always passes. */
int ks_check_typed(KrInputCtx *c, uint32_t a, const char *s, size_t len, char *msg, size_t mcap);
/* Whether the inputs are Segment-spec JSON Lines (--input segment, or
 * input: segment in the schema file). */
bool ks_segment_input(const KrOptions *o);
/* Fills c->attr_type from the schema's types (NULL if none); 0 or -1. */
int  ks_attr_types(KrInputCtx *c);
/* The name of image attribute a. */
const char *ks_attr_name(const KImage *img, uint32_t a);
/* ks_hint -- for a missing required column: the closest names among
 * cols (n names) as a hint ("" if none looks close). */
void ks_hint(const char *role, const char *const *cols, const size_t *lens, size_t n, char *hint, size_t cap);
/* ks_closest -- of the n names, the one closest to want (an edit distance
 * of at most 2, and at most a third of want's length; ASCII case ignored;
 * ties: the byte-wise smallest), or -1 if none is that close. */
long ks_closest(const char *want, const char *const *names, const size_t *lens, size_t n);

/* ---- database sources (src_pg.c, src_sqlite.c) ------------------------ */

/* A raw byte source: the rows of a query as CSV text (header first). */
typedef struct KsRaw KsRaw;
struct KsRaw {
    long (*read)(KsRaw *r, char *buf, size_t cap);
    void (*close)(KsRaw *r);
};
/* Whether a name is a database source (postgresql://, postgres://, sqlite:). */
bool    ks_is_db(const char *name);
/* Opens a database source (name: the uri as messages show it, kept by
 * the source); NULL after printing "NAME: error: ...". */
KsRaw  *ks_raw_open(const char *uri, const char *name, FILE *err);
/* The uri as messages show it when it holds a password (user:***@host,
 * password=***; malloc'd), else NULL: show the uri itself. */
char   *ks_display_name(const char *uri);
/* Up to cap bytes of CSV; 0 at the end, -1 after printing an error. */
long    ks_raw_read(KsRaw *r, char *buf, size_t cap);
void    ks_raw_close(KsRaw *r);

/* A schedule sink: CSV lines (the header first) into a table, in one
 * transaction committed by ks_sink_close(ok = true) only. */
typedef struct KsSink KsSink;
struct KsSink {
    int (*write)(KsSink *k, const char *line, size_t len);
    int (*close)(KsSink *k, bool ok);
};
KsSink *ks_sink_open(const char *name, FILE *err);
int     ks_sink_write(KsSink *k, const char *line, size_t len);   /* 0 or -1 (printed) */
int     ks_sink_close(KsSink *k, bool ok);                         /* 0 or -1 (printed) */

/* The registry kr_set_cleanup installed, or NULL. */
const KrCleanup *ks_cleanup(void);

/* per-backend entry points (NULL names: the backend is not built in) */
KsRaw  *ks_pg_open(const char *name, const char *uri, FILE *err);
KsRaw  *ks_sqlite_open(const char *name, const char *uri, FILE *err);
KsSink *ks_pg_sink(const char *uri, FILE *err);
KsSink *ks_sqlite_sink(const char *name, const char *uri, FILE *err);

/* URI helpers (srcuri.c): splits "BASE?k=v&..." taking out table= and
 * query= (query= runs to the end of the name, so SQL may hold & and ?);
 * the rest of the parameters stay on the base.  Percent escapes in the
 * table and query are decoded.  A sink's URI (sink) must name a table.
 * 0, or -1 with "NAME: error: MESSAGE" printed on err (when not NULL). */
typedef struct KsUri { char *base, *table, *query; } KsUri;
int  ks_uri_split(const char *name, const char *uri, bool sink, KsUri *u, FILE *err);
void ks_uri_free(KsUri *u);
/* Whether a table= name is used as it is in SQL (letters, digits, `_`
 * and `.`, not starting with a digit: `schema.table` works); any other is
 * quoted as one identifier (SPEC 5.13). */
bool ks_plain_table(const char *t);
/* KrDbId's parts (srcuri.c kr_db_id): the canonical connection of a
 * PostgreSQL URI without the Kairos parameters (malloc'd; NULL when libpq
 * cannot be loaded or parse it); the file an SQLite name opens (a `file:`
 * URI decoded when this SQLite takes them), its device and inode (0, or
 * -1 when it does not exist); whether an SQLite query reads a table. */
char *ks_pg_conn_key(const char *base);
int  ks_sqlite_file(const char *base, char **path, uint64_t *dev, uint64_t *ino);
bool ks_sqlite_reads(const char *path, const char *query, const char *table);
/* "NAME: error: MESSAGE" then the SQL with a caret under the 1-based
 * character position pos (0: none). */
void ks_sql_error(FILE *err, const char *name, const char *sql, long pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
