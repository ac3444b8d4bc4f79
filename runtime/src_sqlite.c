/* src_sqlite.c -- SQLite (libsqlite3) as an event source and a schedule
 * sink (SPEC.md 5.13).
 *
 * Source: the file opened read-only, the query (table=NAME: SELECT * FROM
 * "NAME"; one statement, refused unless sqlite3_stmt_readonly) is stepped
 * row by row; each row is written out as one CSV record (header first: the
 * column names) for the CSV reader (csv.c), so a row reads exactly as the
 * same row exported to a CSV file would.  NULL is an empty cell, an
 * integer its decimal digits, a real the shortest text that reads back
 * as the same double (%.17g at most; an infinity 1e999 or -1e999), text
 * and blobs their bytes.
 *
 * Sink: BEGIN IMMEDIATE, CREATE TABLE IF NOT EXISTS, DELETE FROM, one
 * INSERT per schedule row, COMMIT only when the run succeeded.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "../lang/util.h"
#include "source.h"

typedef struct SqRaw {
    KsRaw base;
    const char *name;
    FILE *err;
    sqlite3 *db;
    sqlite3_stmt *st;
    char *sql;
    char *line; size_t llen, lcap, lpos;   /* the record being handed over */
    bool header_done, done;
} SqRaw;

static int put(SqRaw *q, const char *s, size_t n)
{
    if (q->llen + n > q->lcap) {
        size_t nc = q->lcap ? q->lcap : 256;
        while (nc < q->llen + n) nc *= 2;
        char *nb = realloc(q->line, nc);
        if (!nb) return -1;
        q->line = nb;
        q->lcap = nc;
    }
    memcpy(q->line + q->llen, s, n);
    q->llen += n;
    return 0;
}

static int put_field(SqRaw *q, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) return put(q, s, n);
    if (put(q, "\"", 1)) return -1;
    for (size_t i = 0; i < n; i++)
        if ((s[i] == '"' && put(q, "\"", 1)) || put(q, s + i, 1)) return -1;
    return put(q, "\"", 1);
}

static void shortest(double d, char *buf, size_t cap)
{
    /* an infinite real as a decimal too large for a double, which reads
     * back as that infinity (SPEC 5.4); "%g" would give the string "inf"
     * (SQLite stores no NaN: it makes it NULL) */
    if (isinf(d)) { snprintf(buf, cap, "%s", d < 0 ? "-1e999" : "1e999"); return; }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

/* record -- the next CSV record into q->line: 1, 0 at the end, -1 error. */
static int record(SqRaw *q)
{
    q->llen = q->lpos = 0;
    int n = sqlite3_column_count(q->st);
    if (!q->header_done) {
        q->header_done = true;
        for (int i = 0; i < n; i++) {
            const char *c = sqlite3_column_name(q->st, i);
            if ((i && put(q, ",", 1)) || put_field(q, c ? c : "", c ? strlen(c) : 0)) return -2;
        }
        return put(q, "\n", 1) ? -2 : 1;
    }
    int rc = sqlite3_step(q->st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) {
        ks_sql_error(q->err, q->name, q->sql, 0, "query failed: %s", sqlite3_errmsg(q->db));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (i && put(q, ",", 1)) return -2;
        char num[40];
        switch (sqlite3_column_type(q->st, i)) {
        case SQLITE_NULL: break;
        case SQLITE_INTEGER:
            snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(q->st, i));
            if (put(q, num, strlen(num))) return -2;
            break;
        case SQLITE_FLOAT:
            shortest(sqlite3_column_double(q->st, i), num, sizeof num);
            if (put(q, num, strlen(num))) return -2;
            break;
        default: {
            const char *t = (const char *)sqlite3_column_text(q->st, i);
            int len = sqlite3_column_bytes(q->st, i);
            if (put_field(q, t ? t : "", t ? (size_t)len : 0)) return -2;
        }
        }
    }
    return put(q, "\n", 1) ? -2 : 1;
}

static long sq_read(KsRaw *r, char *buf, size_t cap)
{
    SqRaw *q = (SqRaw *)r;
    size_t o = 0;
    while (o < cap) {
        if (q->lpos < q->llen) {
            size_t n = q->llen - q->lpos;
            if (n > cap - o) n = cap - o;
            memcpy(buf + o, q->line + q->lpos, n);
            q->lpos += n;
            o += n;
            continue;
        }
        if (q->done) break;
        int k = record(q);
        if (k == -2) { if (q->err) fprintf(q->err, "%s: error: out of memory\n", q->name); return -1; }
        if (k < 0) return -1;
        if (k == 0) q->done = true;
    }
    return (long)o;
}

static void sq_close(KsRaw *r)
{
    SqRaw *q = (SqRaw *)r;
    if (q->st) sqlite3_finalize(q->st);
    if (q->db) sqlite3_close(q->db);
    free(q->sql);
    free(q->line);
    free(q);
}

static char *quote_ident(const char *t)
{
    if (ks_plain_table(t)) return strdup(t);      /* main.events: a schema and a table */
    size_t n = strlen(t), k = 0;
    char *o = malloc(2u * n + 3u);
    if (!o) return NULL;
    o[k++] = '"';
    for (size_t i = 0; i < n; i++) { if (t[i] == '"') o[k++] = '"'; o[k++] = t[i]; }
    o[k++] = '"';
    o[k] = 0;
    return o;
}

static sqlite3 *open_db(const char *name, const char *path, int flags, FILE *err)
{
    sqlite3 *db = NULL;
    const char *other = strchr(path, '?');
    if (other) {                    /* a parameter SQLite's file name would swallow */
        if (err) fprintf(err, "%s: error: unknown parameter '%.*s' (a SQLite source takes table= or query=)\n",
                         name, (int)strcspn(other + 1, "&"), other + 1);
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        if (err) fprintf(err, "%s: error: cannot open: %s\n", name, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

KsRaw *ks_sqlite_open(const char *name, const char *uri, FILE *err)
{
    KsUri u;
    if (ks_uri_split(name, uri, false, &u, err) != 0) return NULL;
    SqRaw *q = calloc(1, sizeof *q);
    if (!q) { ks_uri_free(&u); if (err) fprintf(err, "%s: error: out of memory\n", name); return NULL; }
    q->base.read = sq_read;
    q->base.close = sq_close;
    q->name = name;
    q->err = err;
    if (!(q->db = open_db(name, u.base, SQLITE_OPEN_READONLY, err))) goto fail;
    if (u.table) {
        char *t = quote_ident(u.table);
        q->sql = t ? malloc(strlen(t) + 20u) : NULL;
        if (q->sql) sprintf(q->sql, "SELECT * FROM %s", t);
        free(t);
    } else {
        q->sql = strdup(u.query);
    }
    if (!q->sql) { if (err) fprintf(err, "%s: error: out of memory\n", name); goto fail; }
    const char *tail = NULL;
    if (sqlite3_prepare_v2(q->db, q->sql, -1, &q->st, &tail) != SQLITE_OK) {
        int off = sqlite3_error_offset(q->db);
        long pos = 0;
        if (off >= 0) {             /* byte offset -> character position */
            pos = 1;
            for (int i = 0; i < off && q->sql[i]; i++) if (((unsigned char)q->sql[i] & 0xC0u) != 0x80u) pos++;
        }
        ks_sql_error(err, name, q->sql, pos, "query error: %s", sqlite3_errmsg(q->db));
        goto fail;
    }
    if (!q->st) {                   /* only blanks, comments, semicolons */
        if (err) fprintf(err, "%s: error: query= holds no statement\n", name);
        goto fail;
    }
    /* one statement: SQLite would run the first and drop the rest without a
     * word (PostgreSQL refuses them) */
    sqlite3_stmt *more = NULL;
    int rc = tail ? sqlite3_prepare_v2(q->db, tail, -1, &more, NULL) : SQLITE_OK;
    sqlite3_finalize(more);
    if (rc != SQLITE_OK || more) {
        if (err) fprintf(err, "%s: error: query= holds more than one statement: give one SELECT\n", name);
        goto fail;
    }
    /* a statement that writes is refused before it runs: the file is opened
     * read-only, so DELETE ... RETURNING would fail only at its first step
     * (after the header), and VACUUM INTO 'other.db' would write that file
     * (SQLite attaches it read-write whatever the connection) */
    if (!sqlite3_stmt_readonly(q->st)) {
        ks_sql_error(err, name, q->sql, 0, "query error: the statement writes "
                     "(a source is only read: query= must not change the database)");
        goto fail;
    }
    /* a parameter (?, ?1, :name, @name, $name) would be bound to NULL and
     * match nothing, without a word (PostgreSQL refuses it) */
    if (sqlite3_bind_parameter_count(q->st) > 0) {
        const char *pn = sqlite3_bind_parameter_name(q->st, 1);
        if (err) fprintf(err, "%s: error: query= holds a parameter (%s) that nothing binds: write the value in the query\n",
                         name, pn ? pn : "?");
        goto fail;
    }
    ks_uri_free(&u);
    return &q->base;
fail:
    ks_uri_free(&u);
    sq_close(&q->base);
    return NULL;
}

/* ---- identity (srcuri.c kr_db_id) -------------------------------------------- */

/* file_path -- the file an SQLite name opens: a file: URI decoded as
 * SQLite decodes it when it takes URIs (file:PATH, file:///PATH,
 * file://localhost/PATH, %XX escapes, no #fragment), any other name as it
 * is; malloc'd.  NULL for a name that opens no file ("": a temporary
 * database, ":memory:"), a URI naming another host, or out of memory. */
static char *file_path(const char *base)
{
    const char *p = base;
    char *dec = NULL;
    if (strncmp(p, "file:", 5) == 0 && sqlite3_compileoption_used("USE_URI")) {
        p += 5;
        if (p[0] == '/' && p[1] == '/') {
            p += 2;
            const char *sl = strchr(p, '/');
            if (!sl || (sl != p && !(sl - p == 9 && strncmp(p, "localhost", 9) == 0))) return NULL;
            p = sl;
        }
        size_t n = strcspn(p, "#");
        dec = malloc(n + 1u);
        if (!dec) return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)p[i + 1]) && isxdigit((unsigned char)p[i + 2])) {
                char h[3] = { p[i + 1], p[i + 2], 0 };
                dec[k++] = (char)strtol(h, NULL, 16);
                i += 2;
            } else dec[k++] = p[i];
        }
        dec[k] = 0;
        p = dec;
    }
    if (!*p || strcmp(p, ":memory:") == 0) { free(dec); return NULL; }
    return dec ? dec : strdup(p);
}

int ks_sqlite_file(const char *base, char **path, uint64_t *dev, uint64_t *ino)
{
    char *p = file_path(base);
    struct stat st;
    if (!p || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) { free(p); return -1; }
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    *path = p;
    return 0;
}

typedef struct Reads { const char *table; bool hit; } Reads;

static int reads_cb(void *arg, int action, const char *a1, const char *a2, const char *db, const char *via)
{
    (void)a2; (void)via;
    Reads *r = arg;
    if (action == SQLITE_READ && a1 && sqlite3_stricmp(a1, r->table) == 0 && (!db || strcmp(db, "main") == 0))
        r->hit = true;
    return SQLITE_OK;
}

bool ks_sqlite_reads(const char *path, const char *query, const char *table)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) { sqlite3_close(db); return false; }
    Reads r = { table, false };
    sqlite3_set_authorizer(db, reads_cb, &r);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, query, -1, &st, NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r.hit;
}

/* ---- the schedule sink ------------------------------------------------------ */

typedef struct SqSink {
    KsSink base;
    const char *name;
    FILE *err;
    sqlite3 *db;
    sqlite3_stmt *ins;
    bool header_seen, failed;
    /* the database file this run created, or NULL; its rollback journal
     * and write-ahead log as SQLite names them.  All three are registered
     * for removal by a signal (KrCleanup) while the run may fail. */
    char *created, *journal, *wal;
} SqSink;

/* create_db -- creates the file that base opens when there is none, so
 * that this run knows the file is its own (O_EXCL: not a file another
 * process made meanwhile), registered for removal by a signal from the
 * moment it exists (SPEC 6, "Signals"); SQLite opens the empty file as an
 * empty database.  An existing file, a name that opens no file, or a file
 * that cannot be made (SQLite then says why) is left to SQLite. */
static void create_db(SqSink *k, const char *base)
{
    /* a dangling link: the file is made where it leads, so that a failed
     * run removes that file (O_EXCL refuses the link itself) */
    char *name = file_path(base), *path = name ? ku_resolve_links(name) : NULL;
    free(name);
    struct stat st;
    if (!path || stat(path, &st) == 0 || errno != ENOENT) { free(path); return; }
    const KrCleanup *c = ks_cleanup();
    int d;
    if (c) d = c->create(path, 0644);               /* SQLite's own mode for a new file */
    else do d = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, 0644); while (d < 0 && errno == EINTR);
    if (d < 0) { free(path); return; }
    close(d);                       /* (before SQLite opens it: a close drops a process's locks) */
    k->created = path;
}

/* register_journals -- once SQLite has opened the database this run
 * created, before anything is written: its journal files, under the names
 * SQLite gives them, registered too.  When SQLite opened another file than
 * the one made (a name SQLite reads otherwise), the one made goes. */
static void register_journals(SqSink *k)
{
    const KrCleanup *c = ks_cleanup();
    const char *fn = sqlite3_db_filename(k->db, "main");
    struct stat a, b;
    if (!fn || !*fn || stat(fn, &a) != 0 || stat(k->created, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        unlink(k->created);
        if (c) c->remove(k->created);
        free(k->created);
        k->created = NULL;
        return;
    }
    const char *j = sqlite3_filename_journal(fn), *w = sqlite3_filename_wal(fn);
    k->journal = j && *j ? strdup(j) : NULL;
    k->wal = w && *w ? strdup(w) : NULL;
    if (c && k->journal) c->add(k->journal);
    if (c && k->wal) c->add(k->wal);
}

/* forget_created -- the database this run created is no longer its own
 * to remove (committed, or removed): unregistered and forgotten. */
static void forget_created(SqSink *k)
{
    const KrCleanup *c = ks_cleanup();
    char *p[3] = { k->created, k->journal, k->wal };
    for (int i = 0; i < 3; i++) {
        if (p[i] && c) c->remove(p[i]);
        free(p[i]);
    }
    k->created = k->journal = k->wal = NULL;
}

/* A database file this run created goes again when the run fails, as an
 * output file is never left by a failed run (SPEC 5.13, section 6);
 * removed first, unregistered after (a signal in between finds nothing). */
static void drop_created(SqSink *k)
{
    if (!k->created) return;
    unlink(k->created);
    if (k->journal) unlink(k->journal);
    if (k->wal) unlink(k->wal);
    forget_created(k);
}

static int sq_exec(SqSink *k, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(k->db, sql, NULL, NULL, &e) != SQLITE_OK) {
        if (k->err) fprintf(k->err, "%s: error: %s\n", k->name, e ? e : sqlite3_errmsg(k->db));
        sqlite3_free(e);
        return -1;
    }
    return 0;
}

/* sq_sink_write -- one CSV line of the schedule (as output.c formats it:
 * fields quoted when they hold a comma, quote or line break). */
static int sq_sink_write(KsSink *s, const char *line, size_t len)
{
    SqSink *k = (SqSink *)s;
    if (k->failed) return -1;
    if (!k->header_seen) { k->header_seen = true; return 0; }
    sqlite3_reset(k->ins);
    sqlite3_clear_bindings(k->ins);
    char *buf = malloc(len + 1u);
    if (!buf) { k->failed = true; return -1; }
    size_t i = 0;
    int col = 1;
    while (i <= len && col <= 8) {
        size_t o = 0;
        if (i < len && line[i] == '"') {
            for (i++; i < len; i++) {
                if (line[i] == '"') { if (i + 1 < len && line[i + 1] == '"') { buf[o++] = '"'; i++; continue; } i++; break; }
                buf[o++] = line[i];
            }
        } else {
            while (i < len && line[i] != ',' && line[i] != '\n') buf[o++] = line[i++];
        }
        if (o == 0) sqlite3_bind_null(k->ins, col);
        else if (col == 7) { buf[o] = 0; sqlite3_bind_int64(k->ins, col, strtoll(buf, NULL, 10)); }
        else sqlite3_bind_text(k->ins, col, buf, (int)o, SQLITE_TRANSIENT);
        col++;
        i++;                                  /* the comma or the line end */
    }
    free(buf);
    if (sqlite3_step(k->ins) != SQLITE_DONE) {
        if (k->err) fprintf(k->err, "%s: error: %s\n", k->name, sqlite3_errmsg(k->db));
        k->failed = true;
        return -1;
    }
    return 0;
}

static int sq_sink_close(KsSink *s, bool ok)
{
    SqSink *k = (SqSink *)s;
    int rc = 0;
    sqlite3_finalize(k->ins);
    if (ok && !k->failed) rc = sq_exec(k, "COMMIT");
    else { sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL); rc = -1; }
    sqlite3_close(k->db);
    if (rc != 0) drop_created(k);
    forget_created(k);
    free(k);
    return rc;
}

KsSink *ks_sqlite_sink(const char *name, const char *uri, FILE *err)
{
    KsUri u;
    if (ks_uri_split(name, uri, true, &u, err) != 0) return NULL;
    SqSink *k = calloc(1, sizeof *k);
    char *t = quote_ident(u.table), *sql = t ? malloc(strlen(t) + 300u) : NULL;
    if (!k || !sql) { if (err) fprintf(err, "%s: error: out of memory\n", name); goto fail; }
    k->base.write = sq_sink_write;
    k->base.close = sq_sink_close;
    k->name = name;
    k->err = err;
    if (!strchr(u.base, '?')) create_db(k, u.base);   /* (open_db refuses a '?') */
    if (!(k->db = open_db(name, u.base, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err))) goto fail;
    if (k->created) register_journals(k);
    if (sq_exec(k, "BEGIN IMMEDIATE") != 0) goto fail;
    sprintf(sql, "CREATE TABLE IF NOT EXISTS %s (time TEXT, customer TEXT, rule TEXT, action TEXT, "
                 "survey TEXT, channel TEXT, attempt INTEGER, variant TEXT)", t);
    if (sq_exec(k, sql) != 0) goto fail;
    sprintf(sql, "DELETE FROM %s", t);
    if (sq_exec(k, sql) != 0) goto fail;
    sprintf(sql, "INSERT INTO %s (time, customer, rule, action, survey, channel, attempt, variant) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", t);
    if (sqlite3_prepare_v2(k->db, sql, -1, &k->ins, NULL) != SQLITE_OK) {
        if (err) fprintf(err, "%s: error: %s\n", name, sqlite3_errmsg(k->db));
        goto fail;
    }
    free(t);
    free(sql);
    ks_uri_free(&u);
    return &k->base;
fail:
    if (k && k->db) { sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL); sqlite3_close(k->db); }
    if (k) drop_created(k);
    free(k);
    free(t);
    free(sql);
    ks_uri_free(&u);
    return NULL;
}
