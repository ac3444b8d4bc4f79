/* srcuri.c -- database source names (SPEC.md 5.13): recognizing them,
 * taking the Kairos parameters table= and query= out of them, dispatching
 * to the PostgreSQL (src_pg.c) and SQLite (src_sqlite.c) backends, and
 * showing SQL errors with the query's position.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "source.h"

const char *kr_sources(void)
{
    return "csv jsonl segment postgresql sqlite";
}

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static bool is_pg(const char *s) { return starts(s, "postgresql://") || starts(s, "postgres://"); }
static bool is_sqlite(const char *s) { return starts(s, "sqlite:"); }

bool ks_is_db(const char *name) { return is_pg(name) || is_sqlite(name); }

bool kr_output_is_table(const char *name) { return name && ks_is_db(name); }

static const KrCleanup *cleanup_registry;
void kr_set_cleanup(const KrCleanup *c) { cleanup_registry = c; }
const KrCleanup *ks_cleanup(void) { return cleanup_registry; }

KrTableOut *kr_table_open(const char *name, FILE *err) { return ks_sink_open(name, err); }
int kr_table_write(KrTableOut *t, const char *line, size_t len) { return ks_sink_write(t, line, len); }
int kr_table_close(KrTableOut *t, bool ok) { return ks_sink_close(t, ok); }

/* ---- identity (KrDbId, runtime.h) ---------------------------------------- */

/* t in lower case (ASCII); without the schema prefix drop (a plain name,
 * "main." or "public.", case-insensitive) */
static char *canon_table(const char *t, const char *drop, bool fold_quoted)
{
    bool plain = ks_plain_table(t);
    size_t dn = strlen(drop);
    if (plain && strncasecmp(t, drop, dn) == 0 && t[dn]) t += dn;
    char *c = strdup(t);
    for (char *x = c; c && *x && (plain || fold_quoted); x++) *x = (char)tolower((unsigned char)*x);
    return c;
}

void kr_db_id(const char *name, KrDbId *id)
{
    memset(id, 0, sizeof *id);
    KsUri u;
    if (!name || !ks_is_db(name) || ks_uri_split(name, is_pg(name) ? name : name + 7, false, &u, NULL) != 0) return;
    bool ok;
    if (is_pg(name)) {
        id->conn = ks_pg_conn_key(u.base);
        if (!id->conn) id->conn = strdup(name);      /* (libpq not loaded: the whole name) */
        ok = id->conn != NULL;
        id->kind = 2;
        if (u.table) ok = ok && (id->table = canon_table(u.table, "public.", false)) != NULL;
    } else {
        ok = ks_sqlite_file(u.base, &id->path, &id->dev, &id->ino) == 0;
        id->kind = 1;
        /* SQLite compares names without (ASCII) case, quoted or not */
        if (ok && u.table) ok = (id->table = canon_table(u.table, "main.", true)) != NULL;
    }
    if (ok && u.query) ok = (id->query = strdup(u.query)) != NULL;
    ks_uri_free(&u);
    if (!ok) kr_db_id_free(id);
}

void kr_db_id_free(KrDbId *id)
{
    free(id->conn); free(id->table); free(id->query); free(id->path);
    memset(id, 0, sizeof *id);
}

bool kr_db_query_reads(const KrDbId *q, const char *t)
{
    return q->kind == 1 && q->query && t && ks_sqlite_reads(q->path, q->query, t);
}

KsRaw *ks_raw_open(const char *uri, const char *name, FILE *err)
{
    return is_pg(uri) ? ks_pg_open(name, uri, err) : ks_sqlite_open(name, uri + 7, err);
}

char *ks_display_name(const char *uri)
{
    if (!is_pg(uri)) return NULL;
    size_t n = strlen(uri);
    char *o = malloc(n + 1u);
    if (!o) return NULL;
    bool hid = false;
    size_t k = 0, i = 0;
    const char *auth = strstr(uri, "://") + 3;
    size_t aend = (size_t)(auth - uri) + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', aend - (size_t)(auth - uri));
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    while (i < n) {
        if (colon && uri + i == colon + 1) {             /* user:PASSWORD@host */
            memcpy(o + k, "***", 3); k += 3;
            i = (size_t)(at - uri);
            hid = true;
            continue;
        }
        if (i > aend && (uri[i - 1] == '?' || uri[i - 1] == '&')) {
            if (strncmp(uri + i, "query=", 6) == 0) { memcpy(o + k, uri + i, n - i); k += n - i; break; }
            if (strncmp(uri + i, "password=", 9) == 0) {
                memcpy(o + k, "password=***", 12); k += 12;
                i += strcspn(uri + i, "&");
                hid = true;
                continue;
            }
        }
        o[k++] = uri[i++];
    }
    o[k] = 0;
    if (!hid) { free(o); return NULL; }
    return o;
}

long ks_raw_read(KsRaw *r, char *buf, size_t cap) { return r->read(r, buf, cap); }
void ks_raw_close(KsRaw *r) { if (r) r->close(r); }

KsSink *ks_sink_open(const char *uri, FILE *err)
{
    return is_pg(uri) ? ks_pg_sink(uri, err) : ks_sqlite_sink(uri, uri + 7, err);
}

int ks_sink_write(KsSink *k, const char *line, size_t len) { return k->write(k, line, len); }
int ks_sink_close(KsSink *k, bool ok) { return k->close(k, ok); }

bool ks_plain_table(const char *t)
{
    bool plain = t[0] && (t[0] < '0' || t[0] > '9');
    for (const char *x = t; *x && plain; x++)
        plain = (*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') || (*x >= '0' && *x <= '9') || *x == '_' || *x == '.';
    return plain;
}

/* decode -- the n bytes at s with %XX decoded; *nul set when one decodes
 * to a NUL byte (which no name or query may hold: it would end it). */
static char *decode(const char *s, size_t n, bool *nul)
{
    char *o = malloc(n + 1u);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char h[3] = { s[i + 1], s[i + 2], 0 };
            o[k++] = (char)strtol(h, NULL, 16);
            if (!o[k - 1]) *nul = true;
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = 0;
    return o;
}

static int uri_split(const char *uri, KsUri *u, char *msg, size_t cap)
{
    memset(u, 0, sizeof *u);
    const char *q = strchr(uri, '?');
    size_t blen = q ? (size_t)(q - uri) : strlen(uri);
    size_t bcap = strlen(uri) + 1u;
    u->base = malloc(bcap);
    if (!u->base) { snprintf(msg, cap, "out of memory"); return -1; }
    memcpy(u->base, uri, blen);
    u->base[blen] = 0;
    bool first = true, nul = false, twice = false;
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        if (starts(p, "query=")) {                  /* to the end of the name */
            u->query = decode(p + 6, strlen(p + 6), &nul);
            break;
        }
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (starts(p, "table=")) {
            twice |= u->table != NULL;      /* a second one would replace the first without a word */
            free(u->table);
            u->table = decode(p + 6, n - 6, &nul);
        } else if (n > 0) {
            size_t bl = strlen(u->base);
            u->base[bl] = first ? '?' : '&';
            memcpy(u->base + bl + 1, p, n);
            u->base[bl + 1 + n] = 0;
            first = false;
        }
        p = amp ? amp + 1 : NULL;
    }
    if (twice) {
        snprintf(msg, cap, "table= given twice: give one table");
        ks_uri_free(u);
        return -1;
    }
    if (nul) {
        snprintf(msg, cap, "%%00 (a NUL byte) in table= or query=: it would end the name there");
        ks_uri_free(u);
        return -1;
    }
    if ((u->table && !u->table[0]) || (u->query && !u->query[0])) {
        snprintf(msg, cap, "empty %s= parameter", u->table && !u->table[0] ? "table" : "query");
        ks_uri_free(u);
        return -1;
    }
    if (!u->table == !u->query) {
        snprintf(msg, cap, "%s", u->table ? "give table=NAME or query=SQL, not both"
                                          : "no table=NAME or query=SQL parameter (e.g. ?table=events)");
        ks_uri_free(u);
        return -1;
    }
    return 0;
}

int ks_uri_split(const char *name, const char *uri, bool sink, KsUri *u, FILE *err)
{
    char msg[200];
    if (uri_split(uri, u, msg, sizeof msg) != 0) {
        if (err) fprintf(err, "%s: error: %s\n", name, msg);
        return -1;
    }
    if (sink && !u->table) {
        if (err) fprintf(err, "%s: error: the schedule goes to a table: give table=NAME, not query=\n", name);
        ks_uri_free(u);
        return -1;
    }
    return 0;
}

void ks_uri_free(KsUri *u)
{
    free(u->base); free(u->table); free(u->query);
    memset(u, 0, sizeof *u);
}

void ks_sql_error(FILE *err, const char *name, const char *sql, long pos, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    fprintf(err, "%s: error: ", name);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    if (!sql) return;
    /* the line of the SQL holding position pos (characters, 1-based) */
    const char *ls = sql, *p = sql;
    long ch = 1;
    while (*p && (pos <= 0 || ch < pos)) {
        if (*p == '\n') ls = p + 1;
        p++;
        while (((unsigned char)*p & 0xC0u) == 0x80u) p++;
        ch++;
    }
    if (pos <= 0) p = ls;
    const char *le = strchr(ls, '\n');
    size_t n = le ? (size_t)(le - ls) : strlen(ls);
    fprintf(err, "      | ");
    for (size_t i = 0; i < n && i < 160; i++) fputc((unsigned char)ls[i] < 0x20 ? ' ' : ls[i], err);
    fputc('\n', err);
    if (pos > 0) {
        fprintf(err, "      | ");
        for (const char *x = ls; x < p; x++) if (((unsigned char)*x & 0xC0u) != 0x80u) fputc(' ', err);
        fprintf(err, "^\n");
    }
}
