/* csv.c -- the CSV event-log parser (RFC 4180): header row with the
 * required columns time, customer, event in any order, other columns
 * attributes; LF or CRLF; quoted fields with commas, doubled quotes and line
 * breaks; a leading UTF-8 BOM ignored.  Parses a file row by row
 * (ki_csv_step) into compact rows (ki_row_commit), keeping only the columns
 * the image can read.
 *
 * Speed: a record is cut with memchr (line end, then commas); a field is
 * only copied when it holds doubled quotes; cells of columns nobody reads
 * are never looked at again.
 */
#include <stdlib.h>
#include <string.h>
#include "input_impl.h"
#include "source.h"

/* A record holding more than this many bytes, its line end (LF, CR LF, a
 * CR that ends the input, or nothing at the end of the input) not counted,
 * is an error: the same record is refused or taken whatever ends it
 * (SPEC 9.2). */
#define MAX_RECORD (64u << 20)

typedef struct CsvField {
    const char *p;                  /* content (inside the quotes) */
    uint32_t len;
    uint8_t quoted, esc;            /* esc: holds doubled quotes */
} CsvField;

/* A cut record waiting in the batch (ki_csv_step): its length with the
 * line end, line breaks inside quoted fields, fields seen (its fields are
 * CsvState.fb[i * stride ...]); a blank line (skipped) is len bytes with
 * blank set; hashed: h is kr_hash_bytes of its customer id, whose pool
 * slot is on its way to the cache. */
typedef struct CsvRec { uint32_t len, nl, nf; bool blank, hashed; uint64_t h; } CsvRec;

#define BATCH 32u                   /* records cut ahead, at most */
#define BATCH_FIELDS (4u << 10)     /* ... and fields held for them, at most */
#define KEY_AHEAD 4u                /* a row's long id's stored bytes start loading
                                       this many rows before it (kr_pool_prefetch_key) */

/* How far a record not yet whole in the buffer has been looked through
 * (wait_scan): a record that arrives in pieces (a pipe gives 64 KiB a
 * read) is looked through once, each read's bytes as they come, instead of
 * cut from its start after every read (that was quadratic: 7 s for a
 * 64 MiB record from a pipe, 0.08 s from the file). */
enum {
    W_FIELD,                        /* a field starts at off */
    W_PLAIN,                        /* in an unquoted field (the byte before off is in it) */
    W_QUOTED,                       /* in a quoted field */
    W_QUOTE,                        /* just after a quote in a quoted field: its end, or "" */
    W_LF,                           /* after a closing quote and a byte other than a comma: a
                                       CR LF or an error, which cut() says once a line feed is in */
};
typedef struct CsvWait {
    bool on;
    uint8_t mode;                   /* W_*, at off */
    uint64_t at;                    /* the record's offset in the input (as s->bytes counts) */
    size_t off;                     /* its bytes looked through */
} CsvWait;

typedef struct CsvState {
    uint32_t ncols;
    uint32_t c_time, c_cust, c_event;
    /* per event kind e (nevents + 1 kinds): columns to keep, as pairs
     * keep_col[i], keep_attr[i] for i in keep_off[e] .. keep_off[e + 1] */
    uint32_t *keep_col, *keep_attr, *keep_off;
    CsvField *f;                    /* the fields cut() and cut_fast() fill: ncols + 1,
                                       inside fb once the header is read */
    CsvField *fb;                   /* the batch's fields, stride (ncols + 1) per record */
    CsvRec b[BATCH]; uint32_t bn, bi, bcap;  /* the batch: records bi .. bn wait; bcap at most */
    char *scratch; size_t scap;     /* unescaped cells */
    KiTimeCache tcache;
    KiRow rows[2];                  /* filled alternately: the last committed
                                       row stays valid while the next is parsed */
    uint32_t next;                  /* the one to fill */
    KiCustMemo memo;                /* the last customer (input_impl.h) */
    uint8_t same_run;               /* rows of the memo's customer lately (ki_run_note: a log
                                       grouped by customer: no batches, the memo takes the rows) */
    uint64_t hashed;                /* rows hashed in the batch (summed into batch_hashed at the end) */
    CsvWait wait;                   /* the record at s->pos, not whole yet (waiting) */
} CsvState;

/* Result of cutting one record. */
typedef struct CsvCut {
    uint32_t nf;                    /* fields seen (only ncols + 1 stored) */
    uint32_t nl;                    /* line breaks inside quoted fields */
    const char *bad;                /* structural error position */
    const char *bad_field;          /* start of the field holding it */
    const char *msg;
} CsvCut;

/* too_long -- whether the r bytes at p, a whole record (its line end
 * included, as cut() returns it), hold more than MAX_RECORD bytes without
 * their line end. */
static bool too_long(const char *p, long r)
{
    size_t n = (size_t)r;
    if (n > 0 && p[n - 1] == '\n') n--;
    if (n > 0 && p[n - 1] == '\r') n--;          /* CR LF, or a CR that ends the input */
    return n > MAX_RECORD;
}

/* partial_too_long -- whether the n bytes at p, the start of a record
 * whose end is not in the buffer yet, already hold more than MAX_RECORD
 * bytes of it: a CR last may be the start of its CR LF, not counted. */
static bool partial_too_long(const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r') n--;
    return n > MAX_RECORD;
}

/* wait_scan -- goes on looking through the record at p, n bytes of it in
 * the buffer, from where w left off.  Returns true while it is surely not
 * whole there (cut() would return 0: no line end outside quotes yet, a
 * quote last, or no line feed yet after a closing quote and the byte after
 * it, a CR or an error), saving where it is; false once it may be.  Each
 * byte is looked at once, over all the calls. */
static bool wait_scan(CsvWait *w, const char *p, size_t n)
{
    size_t i = w->off, lf = SIZE_MAX;         /* lf: the first line feed at or after i (n: none) */
    uint8_t m = w->mode;
    while (i < n) {
        switch (m) {
        case W_FIELD:
            if (p[i] == '"') { m = W_QUOTED; i++; break; }
            if (p[i] == '\n') return false;
            m = p[i] == ',' ? W_FIELD : W_PLAIN;       /* a comma: the field is empty */
            i++;
            break;
        case W_PLAIN: {
            /* the record ends at the next line feed, unless a quote right
             * after a comma (a field's first byte) comes first: a quote
             * inside an unquoted field is a byte like any other */
            if (lf == SIZE_MAX || lf < i) {
                const char *x = memchr(p + i, '\n', n - i);
                lf = x ? (size_t)(x - p) : n;
            }
            const char *q = p + i;
            while ((q = memchr(q, '"', lf - (size_t)(q - p))) != NULL && q[-1] != ',') q++;
            if (q) { m = W_QUOTED; i = (size_t)(q - p) + 1u; break; }
            if (lf < n) return false;
            i = n;
            break;
        }
        case W_QUOTED: {
            const char *q = memchr(p + i, '"', n - i);
            if (!q) { i = n; break; }
            m = W_QUOTE;
            i = (size_t)(q - p) + 1u;
            break;
        }
        case W_QUOTE:
            if (p[i] == '\n') return false;
            m = p[i] == '"' ? W_QUOTED : p[i] == ',' ? W_FIELD : W_LF;     /* "" */
            i++;
            break;
        case W_LF:
            if (memchr(p + i, '\n', n - i)) return false;
            i = n;
            break;
        }
    }
    w->mode = m;
    w->off = n;
    return true;
}

/* wait_begin -- the record at s->pos is not whole in the buffer: waiting()
 * is to look through it from here on, once. */
static void wait_begin(KiSrc *s, CsvWait *w)
{
    *w = (CsvWait){ .on = true, .mode = W_FIELD, .at = s->bytes - (s->end - s->pos), .off = 0 };
}

/* waiting -- whether the record at s->pos, which wait_begin was told was
 * not whole, is still not whole (only the bytes read since are looked at):
 * then there is no need to cut it. */
static bool waiting(KiSrc *s, CsvWait *w)
{
    if (!w->on) return false;
    size_t n = s->end - s->pos;
    if (s->eof || w->at != s->bytes - n || w->off > n || !wait_scan(w, s->buf + s->pos, n)) {
        w->on = false;
        return false;
    }
    return true;
}

/* cut -- cuts the record starting at p.  Returns its length including the
 * line end (> 0), 0 if more input is needed, -1 on a structural error
 * (cut->msg, cut->bad_field; cut->bad is where the error was seen). */
static long cut(CsvState *st, const char *p, const char *end, bool eof, CsvCut *c)
{
    const char *q = p;
    uint32_t n = 0, maxf = st->ncols + 1u;
    c->nl = 0;
    const char *le = memchr(q, '\n', (size_t)(end - q));
    if (!le) { if (!eof) return 0; le = end; }
    for (;;) {
        CsvField *f = n < maxf ? &st->f[n] : NULL;
        if (q < end && *q == '"') {
            const char *fs = q, *r = q + 1, *cq;
            bool esc = false;
            for (;;) {
                cq = memchr(r, '"', (size_t)(end - r));
                if (!cq) {
                    if (!eof) return 0;
                    c->msg = "unterminated quoted field"; c->bad = end; c->bad_field = fs;
                    return -1;
                }
                if (cq + 1 < end && cq[1] == '"') { esc = true; r = cq + 2; continue; }
                if (cq + 1 == end && !eof) return 0;
                break;
            }
            for (const char *x = fs + 1; (x = memchr(x, '\n', (size_t)(cq - x))) != NULL; x++) c->nl++;
            if (f) { f->p = fs + 1; f->len = (uint32_t)(cq - fs - 1); f->quoted = 1; f->esc = esc; }
            n++;
            q = cq + 1;
            if (q > le) { le = memchr(q, '\n', (size_t)(end - q)); if (!le) { if (!eof) return 0; le = end; } }
            if (q == end) break;
            if (*q == ',') { q++; continue; }
            if (*q == '\n') { q++; break; }
            if (*q == '\r' && q + 1 < end && q[1] == '\n') { q += 2; break; }
            if (*q == '\r' && q + 1 == end && eof) { q++; break; }
            c->msg = "unexpected character after a closing quote"; c->bad = q; c->bad_field = fs;
            return -1;
        } else {
            const char *cm = memchr(q, ',', (size_t)(le - q));
            if (cm) {
                if (f) { f->p = q; f->len = (uint32_t)(cm - q); f->quoted = 0; f->esc = 0; }
                n++;
                q = cm + 1;
                continue;
            }
            const char *fe = le;
            if (fe > q && fe[-1] == '\r') fe--;
            if (f) { f->p = q; f->len = (uint32_t)(fe - q); f->quoted = 0; f->esc = 0; }
            n++;
            q = le < end ? le + 1 : le;
            break;
        }
    }
    c->nf = n;
    return (long)(q - p);
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* cut_fast -- cut() for the usual record without any quote, 16 bytes at a
 * time: bitmasks of the commas and of the line feeds and quotes of each
 * block; the commas before the block's first line feed or quote are the
 * record's field ends (no byte is looked at again).  Returns as cut()
 * does, or -2 when the record holds a quote (then cut() does the work).
 * Reads up to 15 bytes past end (the buffer has KI_BUF_PAD bytes of slack
 * there); those bytes are masked off. */
static long cut_fast(CsvState *st, const char *p, const char *end, bool eof, CsvCut *c)
{
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"');
    uint32_t n = 0, maxf = st->ncols + 1u;
    CsvField *f = st->f;
    const char *fs = p;
    for (const char *blk = p; blk < end; blk += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)blk);
        uint32_t cm = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma));
        uint32_t sm = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, quote)));
        if (end - blk < 16) {
            uint32_t in = (1u << (end - blk)) - 1u;
            cm &= in;
            sm &= in;
        }
        if (sm) cm &= (sm & -sm) - 1u;   /* the commas before the first stop */
        for (; cm; cm &= cm - 1u) {
            const char *x = blk + __builtin_ctz(cm);
            if (n < maxf) { f[n].p = fs; f[n].len = (uint32_t)(x - fs); f[n].quoted = 0; f[n].esc = 0; }
            n++;
            fs = x + 1;
        }
        if (!sm) continue;
        const char *x = blk + __builtin_ctz(sm);
        if (*x == '"') return -2;
        const char *fe = x > fs && x[-1] == '\r' ? x - 1 : x;
        if (n < maxf) { f[n].p = fs; f[n].len = (uint32_t)(fe - fs); f[n].quoted = 0; f[n].esc = 0; }
        c->nf = n + 1u;
        c->nl = 0;
        return (long)(x + 1 - p);
    }
    if (!eof) return 0;
    const char *fe = end > fs && end[-1] == '\r' ? end - 1 : end;
    if (n < maxf) { f[n].p = fs; f[n].len = (uint32_t)(fe - fs); f[n].quoted = 0; f[n].esc = 0; }
    c->nf = n + 1u;
    c->nl = 0;
    return (long)(end - p);
}
#else
static long cut_fast(CsvState *st, const char *p, const char *end, bool eof, CsvCut *c)
{
    (void)st; (void)p; (void)end; (void)eof; (void)c;
    return -2;
}
#endif

/* cut_record -- cut_fast, and cut() when the record holds a quote. */
static long cut_record(CsvState *st, const char *p, const char *end, bool eof, CsvCut *c)
{
    long r = cut_fast(st, p, end, eof, c);
    return r == -2 ? cut(st, p, end, eof, c) : r;
}

/* cell -- the bytes of a field, unescaped into the scratch buffer if it
 * holds doubled quotes.  NULL when out of memory. */
static const char *cell(CsvState *st, const CsvField *f, size_t *len)
{
    if (!f->esc) { *len = f->len; return f->p; }
    if (st->scap < f->len) {
        char *nb = realloc(st->scratch, f->len);
        if (!nb) return NULL;
        st->scratch = nb;
        st->scap = f->len;
    }
    size_t o = 0;
    for (uint32_t i = 0; i < f->len; i++) {
        st->scratch[o++] = f->p[i];
        if (f->p[i] == '"') i++;            /* "" -> " */
    }
    *len = o;
    return st->scratch;
}

/* field_at -- where a field starts (its opening quote if quoted). */
static const char *field_at(const CsvField *f)
{
    return f->p - f->quoted;
}

/* column_hint -- "the closest column: ..." for a column name the header
 * lacks (schema.c ks_hint), or "". */
static void column_hint(const CsvState *st, const char *want, char *hint, size_t cap)
{
    const char **names = malloc(st->ncols * sizeof *names);
    size_t *lens = malloc(st->ncols * sizeof *lens);
    hint[0] = '\0';
    if (names && lens) {
        for (uint32_t i = 0; i < st->ncols; i++) { names[i] = st->f[i].p; lens[i] = st->f[i].len; }
        ks_hint(want, names, lens, st->ncols, hint, cap);
    }
    free(names);
    free(lens);
}

/* mapped_sources -- every source column an attribute is mapped from
 * (--map, --schema) must be in the header: a misspelled one would leave
 * the attribute missing without a word.  SPEC.md 5.11. */
static int mapped_sources(KiSrc *s, CsvState *st, const char *rec)
{
    const KrSchema *sc = s->ctx->schema;
    for (size_t k = 0; sc && k < sc->nren; k++) {
        const char *want = sc->ren[k].a, *an = sc->ren[k].b;
        size_t wl = strlen(want);
        bool found = false;
        for (uint32_t i = 0; i < st->ncols && !found; i++) {
            size_t len;
            const char *name = cell(st, &st->f[i], &len);
            if (!name) return ki_error(s, 1, 0, "out of memory");
            found = len == wl && memcmp(name, want, wl) == 0;
        }
        if (found) continue;
        char hint[400];
        column_hint(st, want, hint, sizeof hint);
        return ki_row_error(s, false, 1, rec, rec, hint[0] ? hint : NULL,
                            "missing column \"%.60s\" (the %.60s, by %s) in the header row", want, an,
                            sc->ren[k].origin ? sc->ren[k].origin : "--map");
    }
    return 0;
}

/* header -- reads the header row and builds the column plan. */
static int header(KiSrc *s, CsvState *st)
{
    KrInputCtx *c = s->ctx;
    while (s->end - s->pos < 3 && !s->eof) if (ki_fill(s) < 0) return -1;
    if (s->end - s->pos >= 3 && memcmp(s->buf + s->pos, "\xEF\xBB\xBF", 3) == 0) s->pos += 3;
    if (ki_gzip_data(s, s->buf + s->pos, s->end - s->pos)) return -1;
    if (s->pos == s->end) return ki_error(s, 1, 1, "empty file: expected a header row with the columns time, customer, event");
    /* cut the header with room for any number of columns */
    CsvCut ct;
    long r;
    st->ncols = 64;
    for (;;) {
        if (waiting(s, &st->wait)) {
            if (partial_too_long(s->buf + s->pos, s->end - s->pos)) return ki_error(s, 1, 1, "header row longer than 64 MiB");
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        free(st->f);
        st->f = malloc((st->ncols + 1u) * sizeof *st->f);
        if (!st->f) return ki_error(s, 1, 0, "out of memory");
        r = cut(st, s->buf + s->pos, s->buf + s->end, s->eof, &ct);
        if (r == 0) {
            if (partial_too_long(s->buf + s->pos, s->end - s->pos)) return ki_error(s, 1, 1, "header row longer than 64 MiB");
            wait_begin(s, &st->wait);
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        if (r < 0) return ki_row_error(s, false, 1, s->buf + s->pos, ct.bad_field, NULL, "%s", ct.msg);
        /* a complete header can arrive longer than the limit in one read
         * (the buffer doubles): the limit holds for it too */
        if (too_long(s->buf + s->pos, r)) return ki_error(s, 1, 1, "header row longer than 64 MiB");
        if (ct.nf <= st->ncols) break;
        st->ncols = ct.nf;
    }
    const char *rec = s->buf + s->pos;
    st->ncols = ct.nf;
    /* a column name never holds a carriage return: one in the header means
     * lines ended by a lone CR, which would make the whole file one header
     * row and no events (SPEC 5.2) */
    for (uint32_t i = 0; i < st->ncols; i++) {
        const char *cr = st->f[i].quoted ? NULL : memchr(st->f[i].p, '\r', st->f[i].len);
        if (cr)
            return ki_row_error(s, false, 1, rec, cr, "Kairos reads lines ended by LF or CR LF; convert the file, e.g. tr '\\r' '\\n'",
                                "%s", "a carriage return inside the header row: are its lines ended by a lone CR?");
    }
    st->c_time = st->c_cust = st->c_event = UINT32_MAX;
    uint32_t *colattr = malloc(st->ncols * sizeof *colattr);
    /* the names seen so far: an open-addressing set of column index + 1 */
    uint32_t smask = 63;
    while (smask / 2u < st->ncols) smask = smask * 2u + 1u;
    uint32_t *seen = calloc((size_t)smask + 1u, sizeof *seen);
    if (!colattr || !seen) { free(colattr); free(seen); return ki_error(s, 1, 0, "out of memory"); }
    int rc = 0;
    for (uint32_t i = 0; i < st->ncols && rc == 0; i++) {
        size_t len;
        const char *name = cell(st, &st->f[i], &len);
        if (!name) { rc = ki_error(s, 1, 0, "out of memory"); break; }
        colattr[i] = KB_NONE;
        const char *an;                 /* the Kairos name (--map, --schema: source.h) */
        size_t alen;
        int kind = ks_column(c->schema, name, len, &an, &alen);
        uint32_t *role = kind == KS_TIME ? &st->c_time : kind == KS_CUST ? &st->c_cust
                       : kind == KS_EVENT ? &st->c_event : NULL;
        bool dup = role && *role != UINT32_MAX;
        if (!role) {
            colattr[i] = kind == KS_DROP ? KB_NONE : ki_attr_index(c, an, alen);
            /* (names with doubled quotes are not compared: rare, harmless) */
            if (!st->f[i].esc) {
                uint32_t h = (uint32_t)kr_hash_bytes(name, len) & smask;
                for (; seen[h] && !dup; h = (h + 1u) & smask) {
                    const CsvField *g = &st->f[seen[h] - 1u];
                    dup = g->len == len && memcmp(g->p, name, len) == 0;
                }
                if (!dup) seen[h] = i + 1u;
            }
        }
        if (dup) {
            rc = ki_row_error(s, false, 1, rec, field_at(&st->f[i]), NULL, "duplicate column \"%.*s\"",
                              (int)(len > 60 ? 60 : len), name);
            break;
        }
        if (role) *role = i;
    }
    const char *missing = st->c_time == UINT32_MAX ? "time" : st->c_cust == UINT32_MAX ? "customer"
                        : st->c_event == UINT32_MAX ? "event" : NULL;
    if (rc == 0 && missing) {
        /* a hint naming the closest columns (schema.c) */
        int role = missing[0] == 't' ? KS_TIME : missing[0] == 'c' ? KS_CUST : KS_EVENT;
        const char *want = ks_role_name(c->schema, role);
        char hint[400];
        column_hint(st, want, hint, sizeof hint);
        if (strcmp(want, missing) == 0)
            rc = ki_row_error(s, false, 1, rec, rec, hint[0] ? hint : NULL,
                              "missing required column \"%s\" in the header row", missing);
        else
            rc = ki_row_error(s, false, 1, rec, rec, hint[0] ? hint : NULL,
                              "missing column \"%.60s\" (the %s, by %s) in the header row", want, missing,
                              c->schema->role_origin[role]);
    }
    if (rc == 0) rc = mapped_sources(s, st, rec);
    /* the plan: per event kind, the (column, attribute) pairs it keeps */
    uint32_t ne = c->img->nevents + 1u;
    if (rc == 0) {
        st->keep_off = calloc(ne + 1u, sizeof(uint32_t));
        size_t total = 0;
        for (uint32_t e = 0; e < ne; e++)
            for (uint32_t i = 0; i < st->ncols; i++)
                if (colattr[i] != KB_NONE && ki_wants(c, e == c->img->nevents ? KB_NONE : e, colattr[i])) total++;
        st->keep_col = malloc((total + 1u) * sizeof(uint32_t));
        st->keep_attr = malloc((total + 1u) * sizeof(uint32_t));
        if (!st->keep_off || !st->keep_col || !st->keep_attr) rc = ki_error(s, 1, 0, "out of memory");
        total = 0;
        for (uint32_t e = 0; e < ne && rc == 0; e++) {
            st->keep_off[e] = (uint32_t)total;
            for (uint32_t i = 0; i < st->ncols; i++)
                if (colattr[i] != KB_NONE && ki_wants(c, e == c->img->nevents ? KB_NONE : e, colattr[i])) {
                    /* keep the pairs in increasing attribute index order */
                    size_t at = total++;
                    while (at > st->keep_off[e] && st->keep_attr[at - 1u] > colattr[i]) {
                        st->keep_col[at] = st->keep_col[at - 1u];
                        st->keep_attr[at] = st->keep_attr[at - 1u];
                        at--;
                    }
                    st->keep_col[at] = i;
                    st->keep_attr[at] = colattr[i];
                }
        }
        if (rc == 0) st->keep_off[ne] = (uint32_t)total;
    }
    free(colattr);
    free(seen);
    if (rc != 0) return -1;
    s->pos += (size_t)r;
    s->line += 1u + ct.nl;
    return 0;
}

static _Atomic uint64_t batch_hashed;   /* rows hashed in a batch, over the states freed (for tests) */

static void free_state(CsvState *st)
{
    if (!st) return;
    batch_hashed += st->hashed;
    free(st->keep_col); free(st->keep_attr); free(st->keep_off);
    if (!st->fb) free(st->f);       /* the header's, else inside fb */
    free(st->fb); free(st->scratch);
    free(st);
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define BATCH_DEFAULT 3u
#else
#define BATCH_DEFAULT BATCH
#endif
static uint32_t BATCH_MAX = BATCH_DEFAULT, BATCH_POOL = KI_AHEAD_POOL;

void ki_csv_batch(uint32_t n, uint64_t *hashed)
{
    BATCH_MAX = n == 0 || n > BATCH ? BATCH_DEFAULT : n;
    BATCH_POOL = n == 0 ? KI_AHEAD_POOL : 0;
    if (hashed) *hashed = batch_hashed;
}

/* batch_fields -- after the header: the batch's fields (as many records
 * as BATCH_FIELDS fields allow, at least one), st->f the first record's.
 * 0 or -1 (out of memory). */
static int batch_fields(CsvState *st)
{
    uint32_t stride = st->ncols + 1u;
    st->bcap = BATCH_FIELDS / stride;
    if (st->bcap > BATCH_MAX) st->bcap = BATCH_MAX;
    if (st->bcap == 0) st->bcap = 1;
    st->fb = malloc((size_t)st->bcap * stride * sizeof *st->fb);
    if (!st->fb) return -1;
    free(st->f);
    st->f = st->fb;
    return 0;
}

/* row -- turns a cut record into a compact row.  0 = done (kept, dropped by
 * the shard, or skipped), -1 = error (printed). */
static int row(KiSrc *s, CsvState *st, const char *rec, const CsvRec *b)
{
    KrInputCtx *c = s->ctx;
    KiRow *r = &st->rows[st->next];
    uint64_t line = s->line;
    size_t len;
    const char *v;
    /* the customer's pool slot: on its way since the batch was cut (the
     * id is not the row before's then, so not the memo's), or started now
     * (not for the last row's customer: memo) */
    const CsvField *f = &st->f[st->c_cust];
    uint64_t ch = 0;
    int k = 0;
    bool same = !b->hashed && !f->esc && ki_memo_take(&st->memo, c, f->p, f->len, r, &k);
    ki_run_note(&st->same_run, same);
    if (same) {
        /* r->customer and r->route set */
    } else if (b->hashed) {
        ch = b->h;
    } else if (!f->esc) {
        ch = kr_hash_bytes(f->p, f->len);
        kr_pool_prefetch(c->customers, ch);
    }
    f = &st->f[st->c_time];
    if (f->len == 0) return ki_row_error(s, true, line, rec, field_at(f), NULL, "missing time");
    if (!(v = cell(st, f, &len))) return ki_error(s, line, 0, "out of memory");
    if (ks_custom_time(c->schema)) {      /* a unit or format (source.h) */
        char msg[256], hint[320];
        if (ks_time(c->schema, v, len, false, &r->time, msg, sizeof msg, hint, sizeof hint) != 0)
            return ki_row_error(s, true, line, rec, field_at(f), hint[0] ? hint : NULL, "%s", msg);
    } else if (ki_parse_time_cached(&st->tcache, v, len, &r->time) != 0) {
        char msg[256], hint[320];
        ki_bad_time_text(v, len, false, msg, sizeof msg, hint, sizeof hint);
        return ki_row_error(s, true, line, rec, field_at(f), hint[0] ? hint : NULL, "%s", msg);
    }
    f = &st->f[st->c_event];
    if (f->len == 0) return ki_row_error(s, true, line, rec, field_at(f), NULL, "missing event");
    if (!(v = cell(st, f, &len))) return ki_error(s, line, 0, "out of memory");
    r->event = ki_event_index(c, v, len);
    f = &st->f[st->c_cust];
    if (f->len == 0) return ki_row_error(s, true, line, rec, field_at(f), NULL, "missing customer");
    const char *why;
    if (same) {
        /* its bytes were a good id before */
    } else if (!f->esc) {
        if ((why = ki_bad_id(f->p, f->len)) != NULL)
            return ki_row_error(s, true, line, rec, field_at(f), NULL, "bad customer id: %s", why);
        k = ki_customer_hashed(c, f->p, f->len, ch, r);
        ki_memo_keep(&st->memo, c, f->p, f->len, r, k);
    } else if (!(v = cell(st, f, &len))) {
        return ki_error(s, line, 0, "out of memory");
    } else if ((why = ki_bad_id(v, len)) != NULL) {
        return ki_row_error(s, true, line, rec, field_at(f), NULL, "bad customer id: %s", why);
    } else {
        k = ki_customer(c, v, len, r);
    }
    if (k < 0) return ki_error(s, line, 0, "out of memory");
    uint32_t e = r->event == KB_NONE ? c->img->nevents : r->event;
    if (k == 0) {
        /* another shard's row must be as valid as in the unsharded run
         * (SPEC 5.9): its typed cells are checked too (not kept) */
        for (uint32_t i = st->keep_off[e]; c->attr_type && i < st->keep_off[e + 1u]; i++) {
            f = &st->f[st->keep_col[i]];
            if (f->len == 0 || !c->attr_type[st->keep_attr[i]]) continue;
            if (!(v = cell(st, f, &len))) return ki_error(s, line, 0, "out of memory");
            char msg[320];
            if (ks_check_typed(c, st->keep_attr[i], v, len, msg, sizeof msg) != 0)
                return ki_row_error(s, true, line, rec, field_at(f), NULL, "%s", msg);
        }
        ki_row_other_shard(c, r->time, r->event);
        return 0;
    }
    uint32_t n = 0;
    for (uint32_t i = st->keep_off[e]; i < st->keep_off[e + 1u] && n < KI_MAX_ATTRS; i++) {
        f = &st->f[st->keep_col[i]];
        if (f->len == 0) continue;
        if (!(v = cell(st, f, &len))) return ki_error(s, line, 0, "out of memory");
        if (c->attr_type && c->attr_type[st->keep_attr[i]]) {       /* a declared type (source.h) */
            char msg[256];
            int t = ks_typed(c, c->attr_type[st->keep_attr[i]], v, len, &r->vals[n], msg, sizeof msg);
            if (t == -2) return ki_error(s, line, 0, "out of memory");
            if (t == -1) return ki_row_error(s, true, line, rec, field_at(f), NULL, "%s: %s",
                                             ks_attr_name(c->img, st->keep_attr[i]), msg);
        } else if (ki_cell_value(c, v, len, &r->vals[n]) != 0) return ki_error(s, line, 0, "out of memory");
        r->ids[n++] = st->keep_attr[i];
    }
    r->nattrs = n;
    r->line = line;
    st->next ^= 1u;
    return ki_row_commit(s, r);
}

static void free_priv(void *p) { free_state(p); }

int ki_csv_clone(KiSrc *dst, const KiSrc *src)
{
    const CsvState *a = src->priv;
    CsvState *st = calloc(1, sizeof *st);
    if (!st) return -1;
    dst->priv = st;
    dst->priv_free = free_priv;
    uint32_t ne = src->ctx->img->nevents + 1u, total = a->keep_off[ne];
    st->ncols = a->ncols;
    st->c_time = a->c_time;
    st->c_cust = a->c_cust;
    st->c_event = a->c_event;
    st->keep_off = malloc((ne + 1u) * sizeof(uint32_t));
    st->keep_col = malloc((total + 1u) * sizeof(uint32_t));
    st->keep_attr = malloc((total + 1u) * sizeof(uint32_t));
    if (!st->keep_off || !st->keep_col || !st->keep_attr || batch_fields(st) != 0) return -1;
    memcpy(st->keep_off, a->keep_off, (ne + 1u) * sizeof(uint32_t));
    memcpy(st->keep_col, a->keep_col, total * sizeof(uint32_t));
    memcpy(st->keep_attr, a->keep_attr, total * sizeof(uint32_t));
    return 0;
}

int ki_csv_begin(KiSrc *s)
{
    CsvState *st = calloc(1, sizeof *st);
    if (!st) return ki_error(s, 0, 0, "out of memory");
    s->priv = st;
    s->priv_free = free_priv;
    if (header(s, st) != 0) return -1;
    if (batch_fields(st) != 0) return ki_error(s, s->line, 0, "out of memory");
    return 0;
}

/* blank -- the length of the blank line at p (a line feed, CR LF, or a
 * CR that ends the input), or 0. */
static size_t blank(const char *p, const char *end, bool eof)
{
    if (*p == '\n') return 1;
    if (*p != '\r') return 0;
    if (end - p >= 2 && p[1] == '\n') return 2;
    return end - p == 1 && eof ? 1 : 0;
}

/* cut_batch -- cuts the records from s->pos on, as far as the buffer holds
 * whole ones that cut without error (at most bcap), into the batch, without
 * moving s->pos: the buffer stays as it is until the batch is done.  Each
 * record of the right width has its customer id hashed and the pool slot
 * of that hash prefetched, so that the lookups of the batch overlap
 * instead of each waiting for memory (with 100,000 customers and more
 * the pool's table is far larger than the caches); not the rows of the
 * same customer as the row before, which the memo takes.  One record at a
 * time while the pool holds fewer than BATCH_POOL customers (its table is
 * in the caches then, and batches only cost), or while the rows come in
 * runs of one customer (same_run: the memo takes most). */
static void cut_batch(KiSrc *s, CsvState *st)
{
    const char *p = s->buf + s->pos, *end = s->buf + s->end;
    uint32_t stride = st->ncols + 1u;
    const CsvField *prev = st->memo.len ? &(CsvField){ st->memo.id, st->memo.len, 0, 0 } : NULL;
    st->bn = st->bi = 0;
    bool ahead = kr_pool_count(s->ctx->customers) >= BATCH_POOL && st->same_run < KI_RUNS;
    uint32_t cap = ahead ? st->bcap : 1u;
    while (st->bn < cap && p < end) {
        CsvRec *b = &st->b[st->bn];
        size_t n = blank(p, end, s->eof);
        if (n) {
            *b = (CsvRec){ .len = (uint32_t)n, .blank = true };
            st->bn++;
            p += n;
            continue;
        }
        CsvCut ct;
        st->f = st->fb + (size_t)st->bn * stride;
        long r = cut_record(st, p, end, s->eof, &ct);
        if (r <= 0 || too_long(p, r)) break;      /* ki_csv_step sees to it */
        *b = (CsvRec){ .len = (uint32_t)r, .nl = ct.nl, .nf = ct.nf };
        const CsvField *f = &st->f[st->c_cust];
        if (!ahead) {
            /* one record at a time: row() hashes (or takes the memo) */
        } else if (ct.nf == st->ncols && !f->esc) {
            if (!prev || prev->len != f->len || !ki_same_bytes(prev->p, f->p, f->len)) {
                b->h = kr_hash_bytes(f->p, f->len);
                b->hashed = true;
                kr_pool_prefetch(s->ctx->customers, b->h);
                if (s->ctx->sink_ahead) s->ctx->sink_ahead(s->ctx->sink_arg, (uint32_t)(b->h >> 32));
                st->hashed++;
            }
            prev = f;
        } else {
            prev = NULL;
        }
        st->bn++;
        p += r;
    }
}

int ki_csv_step(KiSrc *s)
{
    CsvState *st = s->priv;
    uint64_t before = s->nrows;
    uint32_t stride = st->ncols + 1u;
    for (;;) {
        if (st->bi < st->bn) {
            uint32_t i = st->bi++;
            const CsvRec *b = &st->b[i];
            if (b->blank) {
                s->pos += b->len;
                s->line++;
                continue;
            }
            const char *rec = s->buf + s->pos;
            if (i + KEY_AHEAD < st->bn && st->b[i + KEY_AHEAD].hashed) {
                /* a long id's stored bytes, its slot on its way since the cut */
                const CsvField *g = &st->fb[(size_t)(i + KEY_AHEAD) * stride + st->c_cust];
                kr_pool_prefetch_key(s->ctx->customers, st->b[i + KEY_AHEAD].h, g->p, g->len);
            }
            st->f = st->fb + (size_t)i * stride;
            int rc;
            if (b->nf != st->ncols) {
                const char *at;
                if (b->nf > st->ncols) at = field_at(&st->f[st->ncols]);
                else {
                    const CsvField *lf = &st->f[b->nf - 1u];
                    at = lf->p + lf->len + lf->quoted;
                }
                rc = ki_row_error(s, true, s->line, rec, at, NULL, "wrong number of fields: %u, the header has %u",
                                  b->nf, st->ncols);
            } else {
                rc = row(s, st, rec, b);
            }
            if (rc != 0) { st->bi = st->bn = 0; return -1; }
            s->pos += b->len;
            s->line += 1u + b->nl;
            if (s->nrows != before) return 1;
            continue;
        }
        if (s->pos == s->end) {
            if (s->eof) return 0;
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        if (waiting(s, &st->wait)) {        /* the record at s->pos is still not whole */
            if (partial_too_long(s->buf + s->pos, s->end - s->pos))
                return ki_error(s, s->line, 1, "row longer than 64 MiB (an unterminated quoted field?)");
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        cut_batch(s, st);
        if (st->bn > 0) continue;
        /* the record at s->pos is not whole in the buffer, or too long, or
         * cannot be cut */
        const char *rec = s->buf + s->pos;
        CsvCut ct;
        st->f = st->fb;
        long r = cut_record(st, rec, s->buf + s->end, s->eof, &ct);
        if (r == 0) {
            if (partial_too_long(rec, s->end - s->pos))
                return ki_error(s, s->line, 1, "row longer than 64 MiB (an unterminated quoted field?)");
            wait_begin(s, &st->wait);
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        /* the limit holds for a record that arrived whole in one read too
         * (cut_batch takes any other whole record) */
        if (r > 0) return ki_error(s, s->line, 1, "row longer than 64 MiB (an unterminated quoted field?)");
        if (!s->eof && !memchr(ct.bad, '\n', (size_t)(s->buf + s->end - ct.bad))) {
            if (ki_fill(s) < 0) return -1;       /* see the whole bad line first */
            continue;
        }
        s->suspect = true;
        if (ki_row_error(s, true, s->line, rec, ct.bad_field, NULL, "%s", ct.msg) != 0) return -1;
        /* skipping: go on after the line that holds the error */
        const char *nl = memchr(ct.bad, '\n', (size_t)(s->buf + s->end - ct.bad));
        const char *resume = nl ? nl + 1 : s->buf + s->end;
        for (const char *x = rec; (x = memchr(x, '\n', (size_t)(resume - x))) != NULL; x++) s->line++;
        s->pos = (size_t)(resume - s->buf);
    }
}
