/* src_pg.c -- PostgreSQL (libpq) as an event source and a schedule sink
 * (SPEC.md 5.13).
 *
 * Source: in one transaction started READ ONLY (reading never changes
 * the database), the query (table=NAME: SELECT * FROM NAME) is prepared
 * to learn its columns (errors shown with their position), then streamed
 * with COPY (...) TO STDOUT (FORMAT csv, HEADER), sent by the extended
 * protocol (one statement): the CSV reader (csv.c) does the parsing,
 * memory stays flat.  Some columns are rendered otherwise
 * than COPY would, in a SELECT around the query, so that they read as the
 * CSV reader's values (SPEC 5.4): timestamp with time zone as RFC 3339
 * (to_json), a time; boolean as true/false, a boolean (COPY: t/f);
 * real, double precision and numeric infinities as 1e999/-1e999, a number
 * (COPY: Infinity, a string), as the SQLite source renders them.
 *
 * The query is sent without what trails its last token (a ';', blanks,
 * comments: sql_len), and a position in a server message is counted back
 * from the text sent (COPY (...) around it) to the user's query.
 *
 * Sink: one transaction: CREATE TABLE IF NOT EXISTS, DELETE FROM, COPY
 * FROM STDIN (FORMAT csv, HEADER), COMMIT only when the run succeeded.
 */
#include <dlfcn.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "source.h"

/* libpq is loaded (dlopen) when a postgresql: source or table is first
 * used, not linked: with its own dependencies (TLS, Kerberos, LDAP) it
 * was two thirds of every run's start-up (4 ms against 1 ms for a program
 * linking the other libraries), run by every command, needed by none but
 * these.  Its functions are called through pq, under their own names. */
#define PQ_FUNCS(X) X(PQclear) X(PQconnectdb) X(PQdescribePrepared) X(PQerrorMessage) \
    X(PQescapeIdentifier) X(PQexec) X(PQexecParams) X(PQfinish) X(PQfname) X(PQfreemem) X(PQftype)   \
    X(PQgetCopyData) X(PQgetResult) X(PQnfields) X(PQprepare) X(PQputCopyData)        \
    X(PQputCopyEnd) X(PQresultErrorField) X(PQresultErrorMessage) X(PQresultStatus)   \
    X(PQstatus) X(PQsetNoticeProcessor) X(PQconninfoParse) X(PQconninfoFree)
#define PQ_LIB "libpq.so.5"

static struct {
#define PQ_MEMBER(f) __typeof__(f) *f_##f;
    PQ_FUNCS(PQ_MEMBER)
#undef PQ_MEMBER
} pq;

/* pq_load -- loads libpq once; 0, or -1 after "NAME: error: ..." on err. */
static int pq_load(const char *name, FILE *err)
{
    static int state;                 /* 0 not tried, 1 loaded, -1 failed */
    static char why[300];
    if (state == 0) {
        void *h = dlopen(PQ_LIB, RTLD_NOW | RTLD_LOCAL);
        const char *missing = NULL;
        if (!h) snprintf(why, sizeof why, "%s", dlerror());
#define PQ_LOAD(f) \
        if (h && !missing && !(*(void **)(&pq.f_##f) = dlsym(h, #f))) missing = #f;
        PQ_FUNCS(PQ_LOAD)
#undef PQ_LOAD
        if (missing) snprintf(why, sizeof why, "%s has no %s", PQ_LIB, missing);
        state = h && !missing ? 1 : -1;
    }
    if (state < 0 && err)
        fprintf(err, "%s: error: cannot load the PostgreSQL client library (" PQ_LIB ", Debian package libpq5): %s\n",
                name, why);
    return state > 0 ? 0 : -1;
}

#define PQclear pq.f_PQclear
#define PQsetNoticeProcessor pq.f_PQsetNoticeProcessor
#define PQconnectdb pq.f_PQconnectdb
#define PQdescribePrepared pq.f_PQdescribePrepared
#define PQerrorMessage pq.f_PQerrorMessage
#define PQescapeIdentifier pq.f_PQescapeIdentifier
#define PQexec pq.f_PQexec
#define PQexecParams pq.f_PQexecParams
#define PQfinish pq.f_PQfinish
#define PQfname pq.f_PQfname
#define PQfreemem pq.f_PQfreemem
#define PQftype pq.f_PQftype
#define PQgetCopyData pq.f_PQgetCopyData
#define PQgetResult pq.f_PQgetResult
#define PQnfields pq.f_PQnfields
#define PQprepare pq.f_PQprepare
#define PQputCopyData pq.f_PQputCopyData
#define PQputCopyEnd pq.f_PQputCopyEnd
#define PQresultErrorField pq.f_PQresultErrorField
#define PQresultErrorMessage pq.f_PQresultErrorMessage
#define PQresultStatus pq.f_PQresultStatus
#define PQstatus pq.f_PQstatus
#define PQconninfoParse pq.f_PQconninfoParse
#define PQconninfoFree pq.f_PQconninfoFree

#define OID_BOOL 16
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_TIMESTAMPTZ 1184
#define OID_NUMERIC 1700

#define SQLSTATE_READ_ONLY "25006"     /* read_only_sql_transaction */
#define SQLSTATE_SYNTAX "42601"        /* syntax_error */
#define SQLSTATE_NOT_SUPPORTED "0A000" /* feature_not_supported */

typedef struct PgRaw {
    KsRaw base;
    const char *name;
    FILE *err;
    PGconn *conn;
    char *sql;                      /* the query, for messages */
    long sent;                      /* its characters sent (what trails its last token is not) */
    long shift;                     /* characters before it in what is run: COPY (, a SELECT */
    char *chunk; size_t clen, cpos; /* the row being handed over */
    bool done;
} PgRaw;

/* first line of a libpq message, without the "ERROR:  " prefix */
static void pg_message(const char *m, char *out, size_t cap)
{
    if (!m) m = "unknown error";
    if (strncmp(m, "ERROR:  ", 8) == 0) m += 8;
    size_t n = strcspn(m, "\n");
    snprintf(out, cap, "%.*s", (int)(n > 300 ? 300 : n), m);
}

/* The server's position (characters, 1-based, in the statement run: the
 * query, or COPY (...) around it) as a position in the user's query: none
 * when it falls in the text before the query, the query's end when after. */
static void result_error(PgRaw *p, PGresult *res, const char *what)
{
    char m[400];
    const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    pg_message(prim ? prim : res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn), m, sizeof m);
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    long at = pos ? strtol(pos, NULL, 10) - p->shift : 0;
    if (at < 1) at = 0;
    else if (at > p->sent + 1) at = p->sent + 1;
    /* the query wrote (DELETE ... RETURNING, a data-modifying WITH): the
     * server names the statement, which is SELECT for the WITH */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool ro = state && strcmp(state, SQLSTATE_READ_ONLY) == 0;
    ks_sql_error(p->err, p->name, p->sql, at, "%s: %s%s", what, m,
                 ro ? " (a source is only read: query= must not change the database)" : "");
}

static long utf8_chars(const char *s, size_t n)
{
    long c = 0;
    for (size_t i = 0; i < n; i++) if (((unsigned char)s[i] & 0xC0u) != 0x80u) c++;
    return c;
}

static bool ident_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

/* sql_len -- the bytes of q up to the end of its last token that is not a
 * ';' (PostgreSQL's lexing: blanks, -- and nested slash-star comments;
 * '...', E'...' with backslashes, "...", $tag$...$tag$ are tokens), so
 * that a trailing ';' followed by blanks or comments goes, and a query of
 * only those is 0.  What does not close (a string, a comment) runs to the
 * end and is kept: the server reports it. */
static size_t sql_len(const char *q)
{
    size_t i = 0, end = 0, n = strlen(q);
    while (i < n) {
        unsigned char c = (unsigned char)q[i];
        if (isspace(c) || c == ';') { i++; continue; }
        if (c == '-' && q[i + 1] == '-') { i += strcspn(q + i, "\n"); continue; }
        if (c == '/' && q[i + 1] == '*') {
            size_t j = i + 2;
            int depth = 1;
            while (j < n && depth > 0) {
                if (q[j] == '/' && q[j + 1] == '*') { depth++; j += 2; }
                else if (q[j] == '*' && q[j + 1] == '/') { depth--; j += 2; }
                else j++;
            }
            if (depth > 0) return n;            /* unterminated: the server says so */
            i = j;
            continue;
        }
        size_t j = i + 1;
        if (c == '\'' || c == '"' || ((c == 'e' || c == 'E') && q[i + 1] == '\'')) {
            bool bs = c != '"' && c != '\'';  /* E'...': backslash escapes */
            char quote = (char)(c == '"' ? '"' : '\'');
            if (bs) j++;
            for (;;) {
                if (j >= n) return n;
                if (bs && q[j] == '\\' && j + 1 < n) { j += 2; continue; }
                if (q[j] == quote) {
                    if (q[j + 1] == quote) { j += 2; continue; }
                    j++;
                    break;
                }
                j++;
            }
        } else if (c == '$' && (q[i + 1] == '$' || ((isalpha((unsigned char)q[i + 1]) || q[i + 1] == '_' || (unsigned char)q[i + 1] >= 0x80)))) {
            size_t t = i + 1;                     /* $tag$ ... $tag$, or a $ of something else */
            while (t < n && q[t] != '$' && ident_char((unsigned char)q[t])) t++;
            if (t < n && q[t] == '$') {
                size_t tl = t + 1 - i;
                const char *close = NULL;
                for (const char *x = q + t + 1; (x = strchr(x, '$')) != NULL; x++)
                    if (strncmp(x, q + i, tl) == 0) { close = x; break; }
                if (!close) return n;
                j = (size_t)(close - q) + tl;
            } else j = t;
        } else if (ident_char(c)) {
            while (j < n && ident_char((unsigned char)q[j])) j++;
        }
        i = end = j;
    }
    return end;
}

static long pg_read(KsRaw *r, char *buf, size_t cap)
{
    PgRaw *p = (PgRaw *)r;
    size_t o = 0;
    while (o < cap) {
        if (p->cpos < p->clen) {
            size_t n = p->clen - p->cpos;
            if (n > cap - o) n = cap - o;
            memcpy(buf + o, p->chunk + p->cpos, n);
            p->cpos += n;
            o += n;
            continue;
        }
        if (p->chunk) { PQfreemem(p->chunk); p->chunk = NULL; }
        if (p->done) break;
        char *row = NULL;
        int n = PQgetCopyData(p->conn, &row, 0);
        if (n > 0) {
            p->chunk = row;
            p->clen = (size_t)n;
            p->cpos = 0;
            continue;
        }
        if (row) PQfreemem(row);
        p->done = true;
        PGresult *res = PQgetResult(p->conn);
        bool ok = n == -1 && res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            result_error(p, res, "query failed");
            PQclear(res);
            return -1;
        }
        PQclear(res);
        while ((res = PQgetResult(p->conn)) != NULL) PQclear(res);
    }
    return (long)o;
}

static void pg_close(KsRaw *r)
{
    PgRaw *p = (PgRaw *)r;
    if (p->chunk) PQfreemem(p->chunk);
    if (p->conn) PQfinish(p->conn);
    free(p->sql);
    free(p);
}

static void quiet_notice(void *arg, const char *msg) { (void)arg; (void)msg; }

static PGconn *connect_to(const char *name, const char *base, FILE *err)
{
    if (pq_load(name, err) != 0) return NULL;
    PGconn *c = PQconnectdb(base);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char m[400];
        pg_message(c ? PQerrorMessage(c) : "out of memory", m, sizeof m);
        if (err) fprintf(err, "%s: error: cannot connect: %s\n", name, m);
        if (c) PQfinish(c);
        return NULL;
    }
    /* the server's notices ("relation ... already exists, skipping") and
     * warnings are not Kairos's messages: a failure says its own */
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

/* A table name as SQL: a plain (possibly schema-qualified) name as it is,
 * anything else quoted as one identifier. */
static char *table_sql(PGconn *c, const char *t)
{
    if (ks_plain_table(t)) return strdup(t);
    char *q = PQescapeIdentifier(c, t, strlen(t));
    char *r = q ? strdup(q) : NULL;
    if (q) PQfreemem(q);
    return r;
}

static char *sprintf_alloc(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1u;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *ks_pg_conn_key(const char *base)
{
    if (pq_load(base, NULL) != 0) return NULL;
    char *errmsg = NULL;
    PQconninfoOption *o = PQconninfoParse(base, &errmsg);
    if (!o) { PQfreemem(errmsg); return NULL; }
    size_t n = 0, len = 1;
    for (PQconninfoOption *x = o; x->keyword; x++)
        if (x->val && strcmp(x->keyword, "password") != 0) { n++; len += strlen(x->keyword) + strlen(x->val) + 2u; }
    char **kv = calloc(n ? n : 1, sizeof *kv), *key = malloc(len);
    size_t k = 0;
    for (PQconninfoOption *x = o; kv && key && x->keyword; x++)
        if (x->val && strcmp(x->keyword, "password") != 0) {
            if (!(kv[k] = malloc(strlen(x->keyword) + strlen(x->val) + 2u))) break;
            sprintf(kv[k++], "%s=%s", x->keyword, x->val);
        }
    if (kv && key && k == n) {
        qsort(kv, n, sizeof *kv, cmp_str);
        key[0] = 0;
        for (size_t i = 0; i < n; i++) { strcat(key, kv[i]); strcat(key, "\n"); }
    } else {
        free(key);
        key = NULL;
    }
    for (size_t i = 0; kv && i < k; i++) free(kv[i]);
    free(kv);
    PQconninfoFree(o);
    return key;
}

/* run_copy -- the COPY by the extended protocol: one statement, whatever
 * the text holds (PQexec would run "...; DELETE ...; ..." as three). */
static PGresult *run_copy(PGconn *c, const char *copy)
{
    return PQexecParams(c, copy, 0, NULL, NULL, NULL, NULL, 0);
}

KsRaw *ks_pg_open(const char *name, const char *uri, FILE *err)
{
    KsUri u;
    if (ks_uri_split(name, uri, false, &u, err) != 0) return NULL;
    PgRaw *p = calloc(1, sizeof *p);
    if (!p) { ks_uri_free(&u); if (err) fprintf(err, "%s: error: out of memory\n", name); return NULL; }
    p->base.read = pg_read;
    p->base.close = pg_close;
    p->name = name;
    p->err = err;
    char *copy = NULL, *cols = NULL, *q = NULL;
    PGresult *res = NULL;
    if (!(p->conn = connect_to(name, u.base, err))) goto fail;
    /* Reading never changes the database: everything from here on runs in
     * one transaction started READ ONLY, which the query cannot make
     * read-write (PostgreSQL refuses that after the transaction's first
     * query), and the query is one statement (PQprepare refuses two, and
     * the COPY around it goes by the extended protocol, which runs one).
     * A query that writes (INSERT/UPDATE/DELETE ... RETURNING, a
     * data-modifying WITH, SELECT ... FOR UPDATE) is refused by the server
     * before it reads or writes a row.  Times of timestamptz columns in
     * UTC, whatever the server's default. */
    res = PQexec(p->conn, "SET TimeZone = 'UTC'");
    PQclear(res);
    res = PQexec(p->conn, "BEGIN READ ONLY");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) { result_error(p, res, "cannot start a read-only transaction"); goto fail; }
    PQclear(res);
    res = NULL;
    if (u.table) {
        char *t = table_sql(p->conn, u.table);
        p->sql = t ? sprintf_alloc("SELECT * FROM %s", t, NULL) : NULL;
        free(t);
        q = p->sql ? strdup(p->sql) : NULL;
    } else {
        /* the query as given in messages; sent without a trailing ';' and
         * the blanks and comments after it (it goes inside COPY (...)) */
        size_t n = sql_len(u.query);
        if (n == 0) {
            if (err) fprintf(err, "%s: error: query= holds no statement\n", name);
            goto fail;
        }
        p->sql = strdup(u.query);
        q = strndup(u.query, n);
    }
    if (!p->sql || !q) { if (err) fprintf(err, "%s: error: out of memory\n", name); goto fail; }
    p->sent = utf8_chars(q, strlen(q));
    res = PQprepare(p->conn, "", q, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) { result_error(p, res, "query error"); goto fail; }
    PQclear(res);
    res = PQdescribePrepared(p->conn, "");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) { result_error(p, res, "query error"); goto fail; }
    int nf = PQnfields(res);
    bool wrap = false;
    for (int i = 0; i < nf; i++) {
        Oid t = PQftype(res, i);
        wrap |= t == OID_TIMESTAMPTZ || t == OID_BOOL || t == OID_FLOAT4 || t == OID_FLOAT8 || t == OID_NUMERIC;
    }
    /* two columns of one name: the header's "duplicate column" (5.6), as the
     * query gives it (the wrapper would only name them ambiguous) */
    for (int i = 0; i < nf && wrap; i++)
        for (int j = 0; j < i && wrap; j++) wrap = strcmp(PQfname(res, i), PQfname(res, j)) != 0;
    if (wrap) {
        /* SELECT "a", to_json("t")#>>'{}' AS "t", "b"::text AS "b",
         * CASE "x"::text WHEN 'Infinity' ... END AS "x" FROM (query) AS kairos_q */
        size_t cap = 64, len = 0;
        cols = malloc(cap);
        for (int i = 0; i < nf && cols; i++) {
            char *id = PQescapeIdentifier(p->conn, PQfname(res, i), strlen(PQfname(res, i)));
            if (!id) { free(cols); cols = NULL; break; }
            size_t need = len + 4u * strlen(id) + 120u;
            if (need > cap) {
                while (cap < need) cap *= 2;
                char *nc = realloc(cols, cap);
                if (!nc) { PQfreemem(id); free(cols); cols = NULL; break; }
                cols = nc;
            }
            const char *sep = i ? ", " : "";
            switch (PQftype(res, i)) {
            case OID_TIMESTAMPTZ:           /* RFC 3339, a time (5.5) */
                len += (size_t)snprintf(cols + len, cap - len, "%sto_json(%s)#>>'{}' AS %s", sep, id, id);
                break;
            case OID_BOOL:                  /* true/false, a boolean (5.4); COPY: t/f */
                len += (size_t)snprintf(cols + len, cap - len, "%s%s::text AS %s", sep, id, id);
                break;
            case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
                /* an infinity as a number (5.4), as SQLite's; NaN stays NaN, a string */
                len += (size_t)snprintf(cols + len, cap - len,
                                        "%sCASE %s::text WHEN 'Infinity' THEN '1e999' WHEN '-Infinity' THEN '-1e999' "
                                        "ELSE %s::text END AS %s", sep, id, id, id);
                break;
            default:
                len += (size_t)snprintf(cols + len, cap - len, "%s%s", sep, id);
            }
            PQfreemem(id);
        }
        if (cols) copy = malloc(strlen(cols) + strlen(q) + 100u);
        if (copy) {
            int at = sprintf(copy, "COPY (SELECT %s FROM (", cols);
            p->shift = utf8_chars(copy, (size_t)at);  /* the characters before the query */
            sprintf(copy + at, "%s) AS kairos_q) TO STDOUT (FORMAT csv, HEADER)", q);
        }
    } else {
        copy = sprintf_alloc("COPY (%s) TO STDOUT (FORMAT csv, HEADER)", q, NULL);
        p->shift = 6;                   /* "COPY (" */
    }
    PQclear(res);
    res = NULL;
    if (!copy) { if (err) fprintf(err, "%s: error: out of memory\n", name); goto fail; }
    res = run_copy(p->conn, copy);
    if (PQresultStatus(res) != PGRES_COPY_OUT && wrap) {
        /* A query that writes is no subquery: INSERT ... RETURNING is a
         * syntax error in the SELECT around it, a data-modifying WITH "must
         * be at the top level".  Run as it is, in a new read-only
         * transaction, such a query is refused as a write before any row;
         * that is the error to give.  (Any other outcome keeps the first
         * error; a COPY that started is dropped with the connection.) */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, SQLSTATE_SYNTAX) == 0 || strcmp(state, SQLSTATE_NOT_SUPPORTED) == 0)) {
            PGresult *r2 = PQexec(p->conn, "ROLLBACK");
            PQclear(r2);
            r2 = PQexec(p->conn, "BEGIN READ ONLY");
            bool began = PQresultStatus(r2) == PGRES_COMMAND_OK;
            PQclear(r2);
            char *plain = began ? sprintf_alloc("COPY (%s) TO STDOUT (FORMAT csv, HEADER)", q, NULL) : NULL;
            r2 = plain ? run_copy(p->conn, plain) : NULL;
            free(plain);
            const char *s2 = r2 ? PQresultErrorField(r2, PG_DIAG_SQLSTATE) : NULL;
            if (s2 && strcmp(s2, SQLSTATE_READ_ONLY) == 0) {
                PQclear(res);
                res = r2;
                p->shift = 6;           /* "COPY (" */
            } else PQclear(r2);
        }
    }
    if (PQresultStatus(res) != PGRES_COPY_OUT) { result_error(p, res, "query error"); goto fail; }
    PQclear(res);
    free(copy);
    free(cols);
    free(q);
    ks_uri_free(&u);
    return &p->base;
fail:
    if (res) PQclear(res);          /* (libpq may not be loaded) */
    free(copy);
    free(cols);
    free(q);
    ks_uri_free(&u);
    pg_close(&p->base);
    return NULL;
}

/* ---- the schedule sink ------------------------------------------------------ */

typedef struct PgSink {
    KsSink base;
    const char *name;               /* the uri, or shown (a password hidden) */
    char *shown;
    FILE *err;
    PGconn *conn;
    bool failed;
} PgSink;

static int exec_ok(PgSink *k, const char *sql)
{
    PGresult *res = PQexec(k->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char m[400];
        pg_message(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), m, sizeof m);
        if (k->err) fprintf(k->err, "%s: error: %s\n", k->name, m);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

static int pg_sink_write(KsSink *s, const char *line, size_t len)
{
    PgSink *k = (PgSink *)s;
    if (k->failed) return -1;
    if (PQputCopyData(k->conn, line, (int)len) != 1) {
        char m[400];
        pg_message(PQerrorMessage(k->conn), m, sizeof m);
        if (k->err) fprintf(k->err, "%s: error: write error: %s\n", k->name, m);
        k->failed = true;
        return -1;
    }
    return 0;
}

static int pg_sink_close(KsSink *s, bool ok)
{
    PgSink *k = (PgSink *)s;
    int rc = 0;
    ok = ok && !k->failed;
    if (PQputCopyEnd(k->conn, ok ? NULL : "kairos: the run failed") != 1) ok = false;
    PGresult *res;
    while ((res = PQgetResult(k->conn)) != NULL) {
        if (ok && PQresultStatus(res) != PGRES_COMMAND_OK) {
            char m[400];
            pg_message(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), m, sizeof m);
            if (k->err) fprintf(k->err, "%s: error: %s\n", k->name, m);
            ok = false;
            rc = -1;
        }
        PQclear(res);
    }
    if (ok) { if (exec_ok(k, "COMMIT") != 0) rc = -1; }
    else { res = PQexec(k->conn, "ROLLBACK"); PQclear(res); if (!rc) rc = -1; }
    PQfinish(k->conn);
    free(k->shown);
    free(k);
    return rc;
}

KsSink *ks_pg_sink(const char *uri, FILE *err)
{
    KsUri u;
    char *shown = ks_display_name(uri);
    const char *name = shown ? shown : uri;
    if (ks_uri_split(name, uri, true, &u, err) != 0) {
        free(shown);
        return NULL;
    }
    PgSink *k = NULL;
    char *t = NULL, *sql = NULL;
    if (!(k = calloc(1, sizeof *k))) goto oom;
    k->base.write = pg_sink_write;
    k->base.close = pg_sink_close;
    k->name = name;
    k->shown = shown;
    k->err = err;
    if (!(k->conn = connect_to(name, u.base, err))) goto fail;
    if (!(t = table_sql(k->conn, u.table))) goto oom;
    sql = malloc(3u * strlen(t) + 400u);
    if (!sql) goto oom;
    if (exec_ok(k, "BEGIN") != 0) goto fail;
    sprintf(sql, "CREATE TABLE IF NOT EXISTS %s (time timestamptz, customer text, rule text, action text, "
                 "survey text, channel text, attempt integer, variant text)", t);
    if (exec_ok(k, sql) != 0) goto fail;
    sprintf(sql, "DELETE FROM %s", t);
    if (exec_ok(k, sql) != 0) goto fail;
    sprintf(sql, "COPY %s (time, customer, rule, action, survey, channel, attempt, variant) "
                 "FROM STDIN (FORMAT csv, HEADER)", t);
    PGresult *res = PQexec(k->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        char m[400];
        pg_message(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), m, sizeof m);
        if (err) fprintf(err, "%s: error: %s\n", name, m);
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    free(t);
    free(sql);
    ks_uri_free(&u);
    return &k->base;
oom:
    if (err) fprintf(err, "%s: error: out of memory\n", name);
fail:
    if (k && k->conn) PQfinish(k->conn);
    free(k);
    free(shown);
    free(t);
    free(sql);
    ks_uri_free(&u);
    return NULL;
}
