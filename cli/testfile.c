/* testfile.c -- `kairos test`: reads a test file and checks it against the
 * schema of SPEC.md section 7 (sections 7.1-7.4), building a KqFile.
 *
 * The schema is strict: unknown or duplicate keys, values of the wrong kind
 * and missing required keys are errors.  Every error is collected (with the
 * position of the offending YAML node) and the file is then refused as a
 * whole.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "lang/util.h"
#include "runtime/runtime.h"
#include "testfile.h"

#define MAX_FILE_BYTES (64u << 20)

typedef struct Err {
    unsigned line, col;
    size_t seq;                   /* report order, for equal positions */
    char *msg;
} Err;

/* Errors are collected with their positions and added to errs sorted by
 * position when the file has been read. */
typedef struct Ctx {
    const char *path;
    KqMsgs *errs;
    int nerr;
    Err *v;
    size_t n, cap;
    GHashTable *names;            /* the tests' names so far (duplicates: one lookup each) */
} Ctx;

static void err(Ctx *c, const KqNode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void err(Ctx *c, const KqNode *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->nerr++;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        Err *v = realloc(c->v, cap * sizeof *v);
        if (!v) { c->errs->oom = true; return; }
        c->v = v;
        c->cap = cap;
    }
    char *m = strdup(msg);
    if (!m) { c->errs->oom = true; return; }
    c->v[c->n] = (Err){ n->line, n->col, c->n, m };
    c->n++;
}

static int cmp_err(const void *x, const void *y)
{
    const Err *a = x, *b = y;
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Moves the collected errors, sorted, into c->errs. */
static void flush_errors(Ctx *c)
{
    if (c->n > 1)
        qsort(c->v, c->n, sizeof *c->v, cmp_err);   /* by position, then report order */
    for (size_t i = 0; i < c->n; i++) {
        kq_msg(c->errs, "%s:%u:%u: error: %s", c->path, c->v[i].line, c->v[i].col, c->v[i].msg);
        free(c->v[i].msg);
    }
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

static const char *kind_name(const KqNode *n)
{
    return n->kind == KQ_SEQ ? "a list" : n->kind == KQ_MAP ? "a mapping" : "a text";
}

/* Shortens a text for messages (the caller's buffer). */
const char *kq_clip(const char *s, char buf[64])
{
    size_t n = strlen(s);
    if (n < 60) return s;
    size_t k = ku_utf8_cut(s, 56);                                      /* between characters */
    memcpy(buf, s, k);
    memcpy(buf + k, "...", 4);
    return buf;
}

/* Checks that every key of map m is a text from allowed[] (NULL-ended) and
 * appears once.  Returns false after reporting the first problem of each
 * key. */
static bool check_keys(Ctx *c, const KqNode *m, const char *where, const char *const *allowed)
{
    bool ok = true;
    for (size_t i = 0; i < m->n; i++) {
        const KqNode *k = m->items[2 * i];
        if (k->kind != KQ_SCALAR || k->is_null) {
            err(c, k, "a key in %s must be a text", where);
            ok = false;
            continue;
        }
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(k->text, *a) == 0 && strlen(*a) == k->len;
        if (!known) {
            char list[256] = "", buf[64];
            for (const char *const *a = allowed; *a; a++) {
                if (a != allowed) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, *a, sizeof list - strlen(list) - 1);
            }
            err(c, k, "unknown key '%s' in %s (expected: %s)", kq_clip(k->text, buf), where, list);
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const KqNode *p = m->items[2 * j];
            if (p->kind == KQ_SCALAR && strcmp(p->text, k->text) == 0) {
                err(c, k, "duplicate key '%s' in %s (first at line %u)", k->text, where, p->line);
                ok = false;
                break;
            }
        }
    }
    return ok;
}

/* The value of key in map m (first occurrence), or NULL. */
static const KqNode *get(const KqNode *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        const KqNode *k = m->items[2 * i];
        if (k->kind == KQ_SCALAR && strcmp(k->text, key) == 0 && k->len == strlen(key))
            return m->items[2 * i + 1];
    }
    return NULL;
}

/* A text value: reports (and returns NULL) for a list, a mapping, a NUL
 * byte, or (unless allow_empty) an empty or null value. */
static const char *text_of(Ctx *c, const KqNode *n, const char *what, bool allow_empty)
{
    if (n->kind != KQ_SCALAR) {
        err(c, n, "%s must be a text, not %s", what, kind_name(n));
        return NULL;
    }
    if (strlen(n->text) != n->len) {
        err(c, n, "%s holds a NUL character", what);
        return NULL;
    }
    if (n->is_null) {
        if (allow_empty) return "";
        err(c, n, "%s is empty", what);
        return NULL;
    }
    if (!allow_empty && n->len == 0) {
        err(c, n, "%s is empty", what);
        return NULL;
    }
    return n->text;
}

static bool parse_time_node(Ctx *c, const KqNode *n, const char *what, int64_t *out)
{
    const char *s = text_of(c, n, what, false);
    if (!s) return false;
    if (kr_parse_time(s, strlen(s), out) != 0) {
        char buf[64];
        err(c, n, "%s '%s' is not an RFC 3339 time or Unix seconds", what, kq_clip(s, buf));
        return false;
    }
    return true;
}

/* A non-negative integer (no sign) up to KQ_MAX_INT; -1 after an error. */
static long parse_int_node(Ctx *c, const KqNode *n, const char *what, bool allow_zero)
{
    const char *s = text_of(c, n, what, false);
    if (!s) return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        char buf[64];
        if (*p < '0' || *p > '9') {
            err(c, n, "%s must be a %s integer, not '%s'", what, allow_zero ? "non-negative" : "positive",
                kq_clip(s, buf));
            return -1;
        }
        v = v * 10 + (*p - '0');
        if (v > KQ_MAX_INT) {
            err(c, n, "%s must be at most 1000000000, not '%s'", what, kq_clip(s, buf));
            return -1;
        }
    }
    if (v == 0 && !allow_zero) {
        char buf[64];
        err(c, n, "%s must be a positive integer, not '%s'", what, kq_clip(s, buf));
        return -1;
    }
    return v;
}

/* ---- events ------------------------------------------------------------------ */

/* Builds the CSV text of inline event rows (7.2).  Columns are found through
 * a hash table and a row's duplicate keys through the row number each column
 * last saw, so rows with many distinct keys cost their size, not its cube. */
static bool inline_events(Ctx *c, const KqNode *seq, KqTest *t)
{
    /* columns: time, customer, event, then other keys by first appearance */
    GPtrArray *cols = g_ptr_array_new();
    GArray *seen_in = g_array_new(FALSE, TRUE, sizeof(size_t));   /* per column: last row + 1 */
    GHashTable *index = g_hash_table_new(g_str_hash, g_str_equal);  /* name -> column + 1 */
    static const char *const req[] = { "time", "customer", "event" };
    for (int r = 0; r < 3; r++) {
        g_ptr_array_add(cols, (gpointer)req[r]);
        g_hash_table_insert(index, (gpointer)req[r], GSIZE_TO_POINTER(r + 1));
    }
    g_array_set_size(seen_in, 3);
    bool ok = true;
    for (size_t i = 0; i < seq->n; i++) {
        const KqNode *row = seq->items[i];
        if (row->kind != KQ_MAP) {
            err(c, row, "an inline event must be a mapping, not %s (or give file names only)",
                kind_name(row));
            ok = false;
            continue;
        }
        for (size_t k = 0; k < row->n; k++) {
            const KqNode *key = row->items[2 * k], *val = row->items[2 * k + 1];
            const char *name = text_of(c, key, "an event key", false);
            if (!name) { ok = false; continue; }
            size_t col = GPOINTER_TO_SIZE(g_hash_table_lookup(index, name));
            if (!col) {
                g_ptr_array_add(cols, (gpointer)name);
                g_array_set_size(seen_in, cols->len);
                col = cols->len;
                g_hash_table_insert(index, (gpointer)name, GSIZE_TO_POINTER(col));
            }
            size_t *seen = &g_array_index(seen_in, size_t, col - 1);
            if (*seen == i + 1) { err(c, key, "duplicate key '%s' in an event", name); ok = false; continue; }
            *seen = i + 1;
            if (!text_of(c, val, "an event value", true)) ok = false;
        }
        for (int r = 0; r < 3; r++) {
            const KqNode *v = get(row, req[r]);
            if (!v || (v->kind == KQ_SCALAR && (v->is_null || v->len == 0))) {
                err(c, v ? v : row, "an inline event has no '%s'", req[r]);
                ok = false;
            }
        }
        int64_t tm;
        const KqNode *tv = get(row, "time");
        if (tv && tv->kind == KQ_SCALAR && !tv->is_null && tv->len && !parse_time_node(c, tv, "time", &tm))
            ok = false;
    }
    if (ok) {
        KqBuf b = {0};
        for (size_t j = 0; j < cols->len; j++) {
            if (j) kq_buf_add(&b, ",", 1);
            const char *name = g_ptr_array_index(cols, j);
            kq_buf_csv_field(&b, name, strlen(name));
        }
        kq_buf_add(&b, "\n", 1);
        const KqNode **vals = g_new0(const KqNode *, cols->len);
        for (size_t i = 0; i < seq->n; i++) {
            const KqNode *row = seq->items[i];
            for (size_t k = 0; k < row->n; k++)
                vals[GPOINTER_TO_SIZE(g_hash_table_lookup(index, row->items[2 * k]->text)) - 1] =
                    row->items[2 * k + 1];
            for (size_t j = 0; j < cols->len; j++) {
                if (j) kq_buf_add(&b, ",", 1);
                if (vals[j] && !vals[j]->is_null)
                    kq_buf_csv_field(&b, vals[j]->text, vals[j]->len);
                vals[j] = NULL;
            }
            kq_buf_add(&b, "\n", 1);
        }
        g_free(vals);
        t->inline_len = b.n;
        t->inline_csv = kq_buf_take(&b);
        if (!t->inline_csv) { err(c, seq, "out of memory"); ok = false; }
        t->inline_events = ok;
    }
    g_hash_table_destroy(index);
    g_array_free(seen_in, TRUE);
    g_ptr_array_free(cols, TRUE);
    return ok;
}

static bool add_event_file(Ctx *c, const KqNode *n, KqTest *t)
{
    const char *s = text_of(c, n, "an event file name", false);
    if (!s) return false;
    char **v = realloc(t->event_files, (t->nevent_files + 1) * sizeof *v);
    if (!v) { err(c, n, "out of memory"); return false; }
    t->event_files = v;
    if (!(v[t->nevent_files] = kq_path_join(c->path, s))) { err(c, n, "out of memory"); return false; }
    /* one file twice (`[ev.csv, ./ev.csv]`) would replay its events twice, which simulate refuses */
    for (size_t i = 0; i < t->nevent_files; i++)
        if (kq_same_file(v[i], v[t->nevent_files])) {
            err(c, n, "the event file %s is also %s in this list: its events would be replayed twice",
                v[t->nevent_files], v[i]);
            free(v[t->nevent_files]);
            return false;
        }
    t->nevent_files++;
    return true;
}

static bool parse_events(Ctx *c, const KqNode *n, KqTest *t)
{
    if (n->kind == KQ_MAP) {
        err(c, n, "events must be a file name or a list (of file names or of events), not a mapping");
        return false;
    }
    if (n->kind == KQ_SCALAR)
        return add_event_file(c, n, t);
    if (n->n > 0 && n->items[0]->kind == KQ_SCALAR) {
        bool ok = true;
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->kind != KQ_SCALAR) {
                err(c, n->items[i], "events mixes file names and %s", kind_name(n->items[i]));
                ok = false;
            } else if (!add_event_file(c, n->items[i], t)) {
                ok = false;
            }
        }
        return ok;
    }
    return inline_events(c, n, t);
}

/* ---- schedule ------------------------------------------------------------------ */

static bool parse_schedule(Ctx *c, const KqNode *n, KqTest *t)
{
    t->has_schedule = true;
    t->schedule_node = n;
    if (n->kind == KQ_SCALAR) {
        const char *s = text_of(c, n, "schedule", false);
        if (!s) return false;
        char *p = kq_path_join(c->path, s);
        if (!p) { err(c, n, "out of memory"); return false; }
        int r = kq_rows_read_csv(p, &t->schedule, c->errs);
        if (r != 0) c->nerr++;          /* the reader printed FILE:LINE: ... */
        t->schedule_file = p;
        return r == 0;
    }
    if (n->kind != KQ_SEQ) {
        err(c, n, "schedule must be a file name or a list of rows, not %s", kind_name(n));
        return false;
    }
    static const char *const keys[] = {
        "time", "customer", "rule", "action", "survey", "channel", "attempt", "variant", NULL
    };
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        const KqNode *row = n->items[i];
        if (row->kind != KQ_MAP) {
            err(c, row, "a schedule row must be a mapping, not %s", kind_name(row));
            ok = false;
            continue;
        }
        if (!check_keys(c, row, "a schedule row", keys)) { ok = false; continue; }
        char *f[KQ_NCOLS];
        bool row_ok = true;
        for (int col = 0; col < KQ_NCOLS; col++) {
            const KqNode *v = get(row, kq_columns[col]);
            f[col] = "";
            if (!v) {
                if (col != KQ_VARIANT) {
                    err(c, row, "a schedule row has no '%s'", kq_columns[col]);
                    row_ok = false;
                }
                continue;
            }
            const char *s = text_of(c, v, kq_columns[col], col == KQ_VARIANT);
            if (!s) { row_ok = false; continue; }
            f[col] = (char *)s;
        }
        const char *why;
        int bad;
        char buf[64];
        if (row_ok && kq_rows_add(&t->schedule, f, &why, &bad) != 0) {
            if (bad < 0) err(c, row, "%s", why);
            else err(c, get(row, kq_columns[bad]), "bad schedule row: %s '%s' %s", kq_columns[bad], kq_clip(f[bad], buf), why);
            row_ok = false;
        }
        ok = ok && row_ok;
    }
    return ok;
}

/* ---- assertions ---------------------------------------------------------------- */

/* Reads the filter keys of an assertion's mapping m; keys listed in extra
 * are left to the caller. */
static bool parse_filter(Ctx *c, const KqNode *m, const char *kind, const char *const *extra,
                         KqFilter *f)
{
    bool ok = true;
    for (size_t i = 0; i < m->n; i++) {
        const KqNode *k = m->items[2 * i], *v = m->items[2 * i + 1];
        const char *name = text_of(c, k, "a key", false);
        if (!name) { ok = false; continue; }
        bool is_extra = false;
        for (const char *const *e = extra; *e && !is_extra; e++)
            is_extra = strcmp(*e, name) == 0;
        int col = -1;
        for (int j = 0; j < KQ_NCOLS; j++)
            if (strcmp(kq_columns[j], name) == 0) col = j;
        if (strcmp(name, "at") == 0) col = KQ_TIME;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            const char *o = m->items[2 * j]->text;
            if (m->items[2 * j]->kind != KQ_SCALAR) continue;
            dup = strcmp(o, name) == 0 ||
                  (col == KQ_TIME && (strcmp(o, "at") == 0 || strcmp(o, "time") == 0));
        }
        if (dup) {
            err(c, k, "duplicate key '%s' in %s", name, kind);
            ok = false;
            continue;
        }
        if (is_extra) continue;
        if (col < 0) {
            char list[256] = "time (or at), customer, rule, action, survey, channel, attempt, variant", buf[64];
            for (const char *const *e = extra; *e; e++) {
                strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, *e, sizeof list - strlen(list) - 1);
            }
            err(c, k, "unknown key '%s' in %s (expected: %s)", kq_clip(name, buf), kind, list);
            ok = false;
            continue;
        }
        const char *s;
        switch (col) {
        case KQ_TIME:
            if (!parse_time_node(c, v, name, &f->time)) { ok = false; continue; }
            s = v->text;
            break;
        case KQ_ATTEMPT:
            if ((f->attempt = parse_int_node(c, v, "attempt", false)) < 0) { ok = false; continue; }
            s = v->text;
            break;
        default:
            /* a forgotten value (`survey:`, `rule: null`) would match no row, or every row
             * of a not_sent: refused; only `variant` gives null a meaning (no variant) */
            if (col != KQ_VARIANT && v->kind == KQ_SCALAR && v->is_null) {
                err(c, v, "%s has no value (a filter value must be a text; only variant may be null)", name);
                ok = false;
                continue;
            }
            if (!(s = text_of(c, v, name, true))) { ok = false; continue; }
            if (col == KQ_ACTION && strcmp(s, "ask") && strcmp(s, "remind") && strcmp(s, "task")) {
                char buf[64];
                err(c, v, "action must be ask, remind or task, not '%s'", kq_clip(s, buf));
                ok = false;
                continue;
            }
        }
        f->has[col] = true;
        f->val[col] = s;
    }
    return ok;
}

/* "HH:MM" as seconds of the day; -1 after an error. */
static int parse_clock(Ctx *c, const KqNode *n, const char *what)
{
    const char *s = text_of(c, n, what, false);
    if (!s) return -1;
    size_t len = strlen(s);
    const char *colon = strchr(s, ':');
    int h = -1, m = -1;
    if (colon && colon - s == 2 && strlen(colon + 1) == 2 && len == 5) {   /* as the language's (K0107) */
        h = 0;
        for (const char *p = s; p < colon; p++)
            h = (*p >= '0' && *p <= '9' && h >= 0) ? h * 10 + (*p - '0') : -1;
        if (colon[1] >= '0' && colon[1] <= '5' && colon[2] >= '0' && colon[2] <= '9')
            m = (colon[1] - '0') * 10 + (colon[2] - '0');
    }
    if (h < 0 || h > 23 || m < 0) {
        char buf[64];
        if (len == 4 && s[1] == ':' && s[0] >= '0' && s[0] <= '9' && s[2] >= '0' && s[2] <= '5' &&
            s[3] >= '0' && s[3] <= '9')
            err(c, n, "%s must be a clock time HH:MM (00:00 to 23:59), not '%s' (write '0%s')", what,
                kq_clip(s, buf), s);
        else
            err(c, n, "%s must be a clock time HH:MM (00:00 to 23:59), not '%s'", what, kq_clip(s, buf));
        return -1;
    }
    return h * 3600 + m * 60;
}

static bool parse_assert(Ctx *c, const KqNode *item, KqAssert *a)
{
    static const char *const kinds[] = { "sent", "not_sent", "count", "at_most", "quiet", NULL };
    if (item->kind != KQ_MAP || item->n != 1) {
        err(c, item, "an assertion is a mapping with one key (sent, not_sent, count, at_most, quiet)%s",
            item->kind == KQ_MAP ? "; write one list item per assertion" : "");
        return false;
    }
    if (!check_keys(c, item, "an assertion", kinds))
        return false;
    const KqNode *k = item->items[0], *v = item->items[1];
    const char *kind = k->text;
    a->kind = !strcmp(kind, "sent") ? KQ_SENT : !strcmp(kind, "not_sent") ? KQ_NOT_SENT
            : !strcmp(kind, "count") ? KQ_COUNT : !strcmp(kind, "at_most") ? KQ_AT_MOST : KQ_QUIET;
    a->tz = "UTC";
    if (v->kind != KQ_MAP) {
        err(c, v, "%s takes a mapping (a row filter%s), not %s", kind,
            a->kind == KQ_COUNT ? " with equals, min or max" : a->kind == KQ_AT_MOST ? " with asks and per"
            : a->kind == KQ_QUIET ? " with from and to" : "", kind_name(v));
        return false;
    }
    char *r = kq_node_render(v);
    KqBuf b = {0};
    kq_buf_fmt(&b, "%s %s", kind, r ? r : "{...}");
    free(r);
    a->text = kq_buf_take(&b);

    static const char *const none[] = { NULL };
    static const char *const count_keys[] = { "equals", "min", "max", NULL };
    static const char *const at_most_keys[] = { "asks", "rows", "per", NULL };
    static const char *const quiet_keys[] = { "from", "to", "tz", NULL };
    const char *const *extra = a->kind == KQ_COUNT ? count_keys : a->kind == KQ_AT_MOST ? at_most_keys
                             : a->kind == KQ_QUIET ? quiet_keys : none;
    bool ok = parse_filter(c, v, kind, extra, &a->filter);
    const KqNode *x;
    switch (a->kind) {
    case KQ_SENT:
    case KQ_NOT_SENT:
        break;
    case KQ_COUNT:
        if ((x = get(v, "equals"))) { a->has_eq = true; ok = (a->eq = parse_int_node(c, x, "equals", true)) >= 0 && ok; }
        if ((x = get(v, "min")))    { a->has_min = true; ok = (a->min = parse_int_node(c, x, "min", true)) >= 0 && ok; }
        if ((x = get(v, "max")))    { a->has_max = true; ok = (a->max = parse_int_node(c, x, "max", true)) >= 0 && ok; }
        if (!a->has_eq && !a->has_min && !a->has_max) {
            err(c, v, "count needs equals, min or max");
            ok = false;
        } else if (ok && a->has_min && a->has_max && a->min > a->max) {
            err(c, get(v, "max"), "count's max (%ld) is below its min (%ld): no count passes", (long)a->max, (long)a->min);
            ok = false;
        } else if (ok && a->has_eq && ((a->has_min && a->eq < a->min) || (a->has_max && a->eq > a->max))) {
            err(c, get(v, "equals"), "count's equals (%ld) is outside its min and max: no count passes", (long)a->eq);
            ok = false;
        }
        break;
    case KQ_AT_MOST: {
        const KqNode *asks = get(v, "asks"), *rows = get(v, "rows"), *per = get(v, "per");
        if (asks && rows) { err(c, rows, "at_most takes asks or rows, not both"); ok = false; }
        else if (!asks && !rows) { err(c, v, "at_most needs asks: N (or rows: N)"); ok = false; }
        else {
            a->asks_only = asks != NULL;
            ok = (a->limit = parse_int_node(c, asks ? asks : rows, asks ? "asks" : "rows", true)) >= 0 && ok;
        }
        if (asks && a->filter.has[KQ_ACTION]) {
            err(c, get(v, "action"), "at_most with asks counts asks only: use rows: N to filter by action");
            ok = false;
        }
        if (!per) { err(c, v, "at_most needs per: DURATION (e.g. per: 30d)"); ok = false; }
        else {
            const char *s = text_of(c, per, "per", false);
            if (!s) ok = false;
            else {
                int rc = kq_parse_duration(s, &a->per);
                char buf[64];
                if (rc == -2) err(c, per, "per must be at most 36600000d (100000 years of 366 days), not '%s'", kq_clip(s, buf));
                else if (rc != 0) err(c, per, "per must be a duration such as 30d, 24h or 1h30m, not '%s'", kq_clip(s, buf));
                ok = ok && rc == 0;
            }
        }
        break;
    }
    case KQ_QUIET: {
        const KqNode *from = get(v, "from"), *to = get(v, "to"), *tz = get(v, "tz");
        if (!from || !to) { err(c, v, "quiet needs from: HH:MM and to: HH:MM"); ok = false; break; }
        a->from_sec = parse_clock(c, from, "from");
        a->to_sec = parse_clock(c, to, "to");
        if (a->from_sec < 0 || a->to_sec < 0) { ok = false; }
        else if (a->from_sec == a->to_sec) { err(c, to, "quiet: from and to are equal (an empty window)"); ok = false; }
        if (tz) {
            const char *s = text_of(c, tz, "tz", false);
            if (!s) { ok = false; break; }
            a->tz = s;
        }
        /* the zone-name rule of the language (ku_zone_name) before GLib */
        GTimeZone *g = ku_zone_name(a->tz) ? g_time_zone_new_identifier(a->tz) : NULL;
        if (!g) {
            char buf[64];
            err(c, tz ? tz : v, "unknown time zone '%s'", kq_clip(a->tz, buf));
            ok = false;
        }
        a->gtz = g;
        break;
    }
    }
    return ok;
}

/* ---- tests ----------------------------------------------------------------- */

static bool parse_test(Ctx *c, const KqNode *m, KqTest *t)
{
    static const char *const keys[] = { "name", "events", "until", "schedule", "expect", NULL };
    if (m->kind != KQ_MAP) {
        err(c, m, "a test must be a mapping (name, events, ...), not %s", kind_name(m));
        return false;
    }
    bool ok = check_keys(c, m, "a test", keys);
    const KqNode *n;
    if (!(n = get(m, "name"))) { err(c, m, "a test needs a name"); ok = false; }
    else if (!(t->name = text_of(c, n, "name", false))) ok = false;
    else if (g_hash_table_contains(c->names, t->name)) {
        char buf[64];
        err(c, n, "two tests are named '%s'", kq_clip(t->name, buf));
        ok = false;
    } else {
        g_hash_table_add(c->names, (gpointer)t->name);
    }
    if (!(n = get(m, "events"))) { err(c, m, "a test needs events (a file name or a list)"); ok = false; }
    else if (!parse_events(c, n, t)) ok = false;
    if ((n = get(m, "until"))) {
        t->has_until = true;
        ok = parse_time_node(c, n, "until", &t->until) && ok;
    }
    if ((n = get(m, "schedule")) && !parse_schedule(c, n, t)) ok = false;
    const KqNode *e = get(m, "expect");
    if (e) {
        if (e->kind != KQ_SEQ) {
            err(c, e, "expect must be a list of assertions, not %s", kind_name(e));
            ok = false;
        } else if (e->n > 0) {
            t->asserts = calloc(e->n, sizeof *t->asserts);
            if (!t->asserts) { err(c, e, "out of memory"); return false; }
            t->nasserts = e->n;
            for (size_t i = 0; i < e->n; i++)
                ok = parse_assert(c, e->items[i], &t->asserts[i]) && ok;
        }
    }
    if (!get(m, "schedule") && (!e || (e->kind == KQ_SEQ && e->n == 0))) {
        err(c, m, "a test checks nothing: give a schedule or a non-empty expect list");
        ok = false;
    }
    return ok;
}

static void test_free(KqTest *t)
{
    for (size_t i = 0; i < t->nevent_files; i++)
        free(t->event_files[i]);
    free(t->event_files);
    free(t->inline_csv);
    kq_rows_free(&t->schedule);
    free(t->schedule_file);
    for (size_t i = 0; i < t->nasserts; i++) {
        free(t->asserts[i].text);
        if (t->asserts[i].gtz) g_time_zone_unref(t->asserts[i].gtz);
    }
    free(t->asserts);
}

void kq_file_free(KqFile *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->ntests; i++)
        test_free(&f->tests[i]);
    free(f->tests);
    free(f->path);
    free(f->policy);
    kq_node_free(f->root);
    free(f);
}

KqFile *kq_file_load(const char *path, KqMsgs *errs)
{
    char *raw;
    size_t len;
    if (ku_read_file(path, MAX_FILE_BYTES, &raw, &len) != 0) {
        kq_msg(errs, "%s: error: %s", path, errno == EFBIG ? "file too large (over 64 MiB)" : strerror(errno));
        return NULL;
    }
    unsigned char *text = (unsigned char *)raw;
    KqNode *root = kq_yaml_parse(path, text, len, errs);
    free(text);
    if (!root) return NULL;
    KqFile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        kq_node_free(root);
        kq_msg(errs, "%s: error: out of memory", path);
        return NULL;
    }
    f->root = root;
    Ctx c = { path, errs, 0, NULL, 0, 0, NULL };
    static const char *const keys[] = { "policy", "tests", NULL };
    if (root->kind != KQ_MAP) {
        err(&c, root, "a test file is a mapping with the keys policy and tests, not %s", kind_name(root));
        flush_errors(&c);
        kq_file_free(f);
        return NULL;
    }
    check_keys(&c, root, "the test file", keys);
    const KqNode *n = get(root, "policy");
    if (!n) err(&c, root, "the test file needs a policy (the .kai or .kbc file to test)");
    else {
        const char *s = text_of(&c, n, "policy", false);
        if (s && !(f->policy = kq_path_join(path, s))) err(&c, n, "out of memory");
    }
    const KqNode *tests = get(root, "tests");
    if (!tests) err(&c, root, "the test file needs tests (a list)");
    else if (tests->kind != KQ_SEQ) err(&c, tests, "tests must be a list, not %s", kind_name(tests));
    else if (tests->n == 0) err(&c, tests, "tests is empty");
    else if (!(f->tests = calloc(tests->n, sizeof *f->tests))) err(&c, tests, "out of memory");
    else {
        f->ntests = tests->n;
        c.names = g_hash_table_new(g_str_hash, g_str_equal);     /* (aborts rather than fail) */
        for (size_t i = 0; i < tests->n; i++)
            parse_test(&c, tests->items[i], &f->tests[i]);
        g_hash_table_destroy(c.names);
        c.names = NULL;
    }
    flush_errors(&c);
    if (c.nerr > 0 || errs->oom) {
        kq_file_free(f);
        return NULL;
    }
    return f;
}
