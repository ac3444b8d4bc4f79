/* output.c -- the schedule writer (ko_): CSV
 * (time,customer,rule,action,survey,channel,attempt,variant) or JSON Lines
 * with the same keys.
 *
 * The writer never opens files (the command-line tool does: cli/output_file.c).
 * It writes to a stream it is given: a fresh file of the caller's (its
 * temporary file) as rows come, anything else (standard output, a device,
 * a FIFO) held back -- in memory, spilling to an unlinked temporary file
 * past MEM_LIMIT -- and copied out by ko_close(w, true) only, so a failed
 * run writes nothing there.  A write error gives "NAME: error: write error:
 * REASON", on standard output "kairos: error writing standard output: REASON".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "../lang/util.h"
#include "source.h"

/* standard output held in memory up to this: past it the schedule goes to
 * the temporary file, so memory does not grow with the schedule's length
 * (at 64 MiB, 10M events over 900 days peaked at 49 MB on /dev/null against
 * 20 MB to a file) */
#define MEM_LIMIT (1u << 20)
#define LINE_MAX_GUESS 512

/* A row's tail: everything after the customer (",rule,action,survey,
 * channel,attempt,variant" and the line end, or the JSON keys), which is
 * the same for every row of one rule, action, channel, attempt and
 * variant: formatted once and kept in a table of TAILS entries by a hash
 * of the five (a clash formats it again).  The rows of a schedule come from
 * a few such tails: formatting them field by field was most of a row's
 * cost (about 2,300 instructions a row, with the time). */
typedef struct Tail {
    uint32_t rule, channel, attempt, variant;
    uint8_t action, used;
    uint32_t len;
    char *s;
} Tail;
#define TAILS 256u

struct KoWriter {
    KrOutFormat fmt;
    const KImage *img;
    const KrPool *customers;
    FILE *err;
    const char *path;             /* the output's name; NULL: standard output */
    FILE *f;                      /* where the schedule goes */
    bool fresh;                   /* f is the caller's new file: written as rows come */
    char *mem; size_t len, cap;   /* else held back ... */
    int spill;                    /* ... past MEM_LIMIT in a temporary file (-1: none), */
    uint64_t spilled;             /* holding this many bytes before mem's */
    bool nospill;                 /* no temporary file (none could be made or written): in memory */
    int error;                    /* errno of the first write error, or 0 */
    KsSink *db;                   /* a database table (source.h), else NULL */
    char *line; size_t lcap;      /* the row being formatted */
    size_t llen;
    /* the date part of the last row's time ("YYYY-MM-DDT"), for its day */
    int64_t day; char date[11];
    Tail tails[TAILS];            /* rows' tails by what they are made of (tail_of) */
};

/* ---- formatting ---------------------------------------------------------- */

static int line_reserve(KoWriter *w, size_t more)
{
    if (w->llen + more <= w->lcap) return 0;
    size_t nc = w->lcap ? w->lcap : LINE_MAX_GUESS;
    while (nc < w->llen + more) nc *= 2;
    char *nl = realloc(w->line, nc);
    if (!nl) return -1;
    w->line = nl;
    w->lcap = nc;
    return 0;
}

static void put(KoWriter *w, const char *s, size_t n)
{
    if (line_reserve(w, n) != 0) { if (!w->error) w->error = ENOMEM; return; }
    memcpy(w->line + w->llen, s, n);
    w->llen += n;
}

static void puts0(KoWriter *w, const char *s) { put(w, s, strlen(s)); }

/* put() for the quoting of lang/util.h: CSV fields (RFC 4180 quoting as
 * needed) and JSON strings. */
static void put_cb(void *w, const char *s, size_t n) { put(w, s, n); }
static void csv_field(KoWriter *w, const char *s, size_t n) { ku_csv_field(s, n, put_cb, w); }
static void json_string(KoWriter *w, const char *s, size_t n) { ku_json_str(s, n, put_cb, w); }

static void field(KoWriter *w, const char *key, const char *s, size_t n, bool first)
{
    if (w->fmt == KR_OUT_CSV) {
        if (!first) put(w, ",", 1);
        csv_field(w, s, n);
    } else {
        puts0(w, first ? "{\"" : ",\"");
        puts0(w, key);
        puts0(w, "\":");
        json_string(w, s, n);
    }
}

/* buf gets YYYY-MM-DDTHH:MM:SSZ (years outside 0-9999 are printed with
 * snprintf); returns the length. */
static size_t fmt_time(int64_t t, char *buf)
{
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) { sod += 86400; days--; }
    int y, mo, d;
    kz_civil_from_days(days, &y, &mo, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), se = (int)(sod % 60);
    if (y < 0 || y > 9999)
        return (size_t)snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, se);
    const int parts[6] = { y / 100, y % 100, mo, d, h, mi };
    static const char seps[6] = { 0, 0, '-', '-', 'T', ':' };
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        if (seps[i]) buf[n++] = seps[i];
        buf[n++] = (char)('0' + parts[i] / 10);
        buf[n++] = (char)('0' + parts[i] % 10);
    }
    buf[n++] = ':';
    buf[n++] = (char)('0' + se / 10);
    buf[n++] = (char)('0' + se % 10);
    buf[n++] = 'Z';
    return n;
}

/* Image string si, or "" if out of range. */
static const char *istr(const KImage *img, uint32_t si, size_t *n)
{
    if (si >= img->nstrings) { *n = 0; return ""; }
    *n = img->string_lens[si];
    return img->strings[si];
}


/* spill_out -- moves memory's bytes to the end of the temporary file
 * (made at the first call, in $TMPDIR).  When none can be made or written
 * (a small or full $TMPDIR), the file's bytes come back into memory and
 * the rest of the schedule is held there: the schedule does not fail for
 * want of a temporary file (SPEC 4.13). */
static void spill_out(KoWriter *w)
{
    if (w->spill < 0 && (w->spill = kr_temp_fd("kairos-out")) < 0) { w->nospill = true; return; }
    size_t done = 0;
    while (done < w->len) {
        ssize_t r = write(w->spill, w->mem + done, w->len - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += (size_t)r;
    }
    if (done == w->len) {
        w->spilled += w->len;
        w->len = 0;
        return;
    }
    /* the file's bytes, and those of this write that reached it, stay
     * where they are in order: read the file back in front of memory */
    uint64_t keep = w->spilled + done;
    char *nm = keep + (w->len - done) <= SIZE_MAX ? malloc((size_t)keep + (w->len - done) + 1u) : NULL;
    if (!nm) { w->error = ENOMEM; return; }
    for (uint64_t at = 0; at < keep;) {
        ssize_t r = pread(w->spill, nm + at, (size_t)(keep - at), (off_t)at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { free(nm); w->error = r < 0 ? errno : EIO; return; }
        at += (uint64_t)r;
    }
    memcpy(nm + keep, w->mem + done, w->len - done);
    free(w->mem);
    w->mem = nm;
    w->len = w->cap = (size_t)keep + (w->len - done);
    w->cap++;
    close(w->spill);
    w->spill = -1;
    w->spilled = 0;
    w->nospill = true;
}

/* ---- the sink ------------------------------------------------------------ */

static void sink(KoWriter *w, const char *p, size_t n)
{
    if (w->error) return;
    if (w->db) {                  /* one CSV line into the table (source.h) */
        if (ks_sink_write(w->db, p, n) != 0) w->error = -1;
        return;
    }
    if (w->fresh) {
        if (fwrite(p, 1, n, w->f) != n) w->error = errno ? errno : EIO;
        return;
    }
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? w->cap : 1u << 16;
        while (nc < w->len + n) nc *= 2;
        char *nm = realloc(w->mem, nc);
        if (!nm) { w->error = ENOMEM; return; }
        w->mem = nm;
        w->cap = nc;
    }
    memcpy(w->mem + w->len, p, n);
    w->len += n;
    if (w->len > MEM_LIMIT && !w->nospill) spill_out(w);
}

static const char header[] = "time,customer,rule,action,survey,channel,attempt,variant\n";

/* ko_writer -- a writer to f (standard output when NULL), not yet told
 * what it writes. */
static KoWriter *ko_writer(FILE *f, bool fresh, const char *name, FILE *err)
{
    KoWriter *w = calloc(1, sizeof *w);
    if (!w) { fprintf(err, "kairos: out of memory\n"); return NULL; }
    w->spill = -1;
    w->err = err;
    w->f = f ? f : stdout;
    w->fresh = f && fresh;
    w->path = name && f && f != stdout ? name : NULL;
    if (w->fresh) {
        /* a run that starts over starts the file over */
        if (fflush(w->f) != 0 || fseeko(w->f, 0, SEEK_SET) != 0 || ftruncate(fileno(w->f), 0) != 0) {
            fprintf(err, "%s: error: write error: %s\n", name ? name : "-", strerror(errno));
            free(w);
            return NULL;
        }
    }
    return w;
}

KoWriter *ko_open(FILE *f, bool fresh, const char *name, KrOutFormat fmt, const KImage *img,
                  const KrPool *customers, FILE *err)
{
    bool db = !f && name && ks_is_db(name);
    KoWriter *w = ko_writer(db ? NULL : f, fresh, name, err);
    if (!w) return NULL;
    w->fmt = fmt;
    w->img = img;
    w->customers = customers;
    if (db) {                                      /* a database table (source.h, SPEC 5.13) */
        if (fmt != KR_OUT_CSV) {
            char *shown = ks_display_name(name);
            fprintf(err, "%s: error: a schedule goes into a table as rows: only --format csv applies\n",
                    shown ? shown : name);
            free(shown);
            free(w);
            return NULL;
        }
        if (!(w->db = ks_sink_open(name, err))) { free(w); return NULL; }
    }
    if (fmt == KR_OUT_CSV) sink(w, header, sizeof header - 1);
    return w;
}

KoWriter *ko_open_bytes(FILE *f, bool fresh, const char *name, FILE *err)
{
    return ko_writer(f, fresh, name, err);
}

int ko_bytes(KoWriter *w, const char *p, size_t n)
{
    sink(w, p, n);
    return w->error ? -1 : 0;
}

/* fmt_row_time -- the row's time as field "time" (the date part made
 * once per day). */
static void fmt_row_time(KoWriter *w, int64_t t)
{
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) { sod += 86400; days--; }
    if (t < 0 || t >= 253402300800LL) {            /* years outside 1970-9999: the general way */
        char tbuf[40];
        field(w, "time", tbuf, fmt_time(t, tbuf), true);
        return;
    }
    if (days != w->day || w->date[0] == '\0') {
        char d[40];
        fmt_time(days * 86400, d);
        memcpy(w->date, d, sizeof w->date);
        w->day = days;
    }
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), se = (int)(sod % 60);
    char b[20];
    memcpy(b, w->date, sizeof w->date);
    b[11] = (char)('0' + h / 10); b[12] = (char)('0' + h % 10); b[13] = ':';
    b[14] = (char)('0' + mi / 10); b[15] = (char)('0' + mi % 10); b[16] = ':';
    b[17] = (char)('0' + se / 10); b[18] = (char)('0' + se % 10); b[19] = 'Z';
    field(w, "time", b, sizeof b, true);
}

/* fmt_tail -- appends row r's tail (Tail) to the line. */
static void fmt_tail(KoWriter *w, const KrRow *r)
{
    const KImage *img = w->img;
    const KbRule *rule = &img->rules[r->rule];
    static const char *const actions[] = { "ask", "remind", "task" };
    size_t n;
    const char *s = istr(img, rule->name, &n);
    field(w, "rule", s, n, false);
    s = actions[r->action < 3 ? r->action : 0];
    field(w, "action", s, strlen(s), false);
    if (rule->is_task) s = istr(img, rule->target, &n);
    else s = rule->target < img->nsurveys ? istr(img, img->surveys[rule->target], &n) : istr(img, KB_NONE, &n);
    field(w, "survey", s, n, false);
    s = r->channel < img->nchannels ? istr(img, img->channels[r->channel], &n) : istr(img, KB_NONE, &n);
    field(w, "channel", s, n, false);
    char abuf[20];
    size_t an = ku_fmt_uint(r->attempt, abuf);
    if (w->fmt == KR_OUT_CSV) { put(w, ",", 1); put(w, abuf, an); }
    else { puts0(w, ",\"attempt\":"); put(w, abuf, an); }
    if (r->variant != KB_NONE && r->variant < rule->nvariants)
        s = istr(img, rule->variants[r->variant].name, &n);
    else { s = ""; n = 0; }
    field(w, "variant", s, n, false);
    put(w, w->fmt == KR_OUT_CSV ? "\n" : "}\n", w->fmt == KR_OUT_CSV ? 1 : 2);
}

/* put_tail -- appends row r's tail, from the table when it is there. */
static void put_tail(KoWriter *w, const KrRow *r)
{
    uint64_t h = ((uint64_t)r->rule * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)r->channel * 0xC2B2AE3D27D4EB4FULL)
               ^ ((uint64_t)r->attempt * 0x165667B19E3779F9ULL) ^ ((uint64_t)r->variant * 0x27D4EB2F165667C5ULL)
               ^ r->action;
    Tail *t = &w->tails[(h ^ (h >> 29) ^ (h >> 47)) & (TAILS - 1u)];
    if (t->used && t->rule == r->rule && t->channel == r->channel && t->attempt == r->attempt &&
        t->variant == r->variant && t->action == r->action) {
        put(w, t->s, t->len);
        return;
    }
    size_t at = w->llen;
    fmt_tail(w, r);
    if (w->error) return;
    char *c = realloc(t->s, w->llen - at);
    if (!c) return;                                 /* (not kept: formatted again next time) */
    memcpy(c, w->line + at, w->llen - at);
    *t = (Tail){ r->rule, r->channel, r->attempt, r->variant, r->action, 1, (uint32_t)(w->llen - at), c };
}

int ko_row(KoWriter *w, const KrRow *r)
{
    if (w->error) return -1;
    w->llen = 0;
    fmt_row_time(w, r->time);
    size_t n;
    const char *s = kr_pool_str(w->customers, r->customer, &n);
    if (!s) { s = ""; n = 0; }
    field(w, "customer", s, n, false);
    put_tail(w, r);
    if (w->error) return -1;
    sink(w, w->line, w->llen);
    return w->error ? -1 : 0;
}

int ko_emit(void *ctx, const KrRow *row) { return ko_row(ctx, row); }

bool ko_failed(const KoWriter *w) { return w && w->error != 0; }

static void ko_free(KoWriter *w)
{
    for (uint32_t i = 0; i < TAILS; i++) free(w->tails[i].s);
    free(w->line);
    free(w);
}

/* Copies the held-back schedule out: the temporary file's bytes, then
 * memory's. */
static void flush_held(KoWriter *w)
{
    if (w->error) return;
    char buf[1 << 16];
    for (uint64_t at = 0; w->spill >= 0 && at < w->spilled;) {
        size_t want = w->spilled - at < sizeof buf ? (size_t)(w->spilled - at) : sizeof buf;
        ssize_t r = pread(w->spill, buf, want, (off_t)at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { w->error = r < 0 ? errno : EIO; return; }
        if (fwrite(buf, 1, (size_t)r, w->f) != (size_t)r) { w->error = errno ? errno : EIO; return; }
        at += (uint64_t)r;
    }
    if (w->len && fwrite(w->mem, 1, w->len, w->f) != w->len) w->error = errno ? errno : EIO;
}

int ko_close(KoWriter *w, bool ok)
{
    if (!w) return ok ? 0 : -1;
    int status = ok ? 0 : -1;
    if (w->db) {                  /* commit or roll back; errors printed by the sink */
        int st = ks_sink_close(w->db, ok && !w->error);
        ko_free(w);
        return ok ? st : -1;
    }
    if (ok) {
        if (!w->fresh) flush_held(w);
        if (!w->error && (fflush(w->f) != 0 || ferror(w->f))) w->error = errno ? errno : EIO;
        if (w->error && w->path) {
            fprintf(w->err, "%s: error: write error: %s\n", w->path, strerror(w->error));
            status = -1;
        } else if (w->error) {
            /* the message the command-line tool gives at exit, given here
             * with its reason; the error is then cleared, as reported */
            fprintf(w->err, "kairos: error writing standard output: %s\n", strerror(w->error));
            if (w->f == stdout) clearerr(stdout);
            status = -1;
        }
    }
    if (w->spill >= 0) close(w->spill);
    free(w->mem);
    ko_free(w);
    return status;
}
