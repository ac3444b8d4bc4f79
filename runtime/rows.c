/* rows.c -- a file's row store: rows packed as varints (input_impl.h) in
 * memory, spilled to an unlinked temporary file past SPILL_AT bytes, and
 * read back in time order: a sorted file streams back through a small
 * buffer; an unsorted one is loaded whole and stably sorted by time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "input_impl.h"

#define SPILL_AT    (8u << 20)      /* packed bytes kept in memory before spilling */
#define MERGE_BLOCK (1u << 18)      /* read-back block */

/* ---- varints ------------------------------------------------------------ */

static inline char *put_u(char *d, uint64_t v)
{
    while (v >= 0x80u) { *d++ = (char)(v | 0x80u); v >>= 7; }
    *d++ = (char)v;
    return d;
}

static inline char *put_z(char *d, int64_t v)
{
    return put_u(d, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline const char *get_u(const char *p, uint64_t *v)
{
    uint64_t x = (unsigned char)*p++;
    if (x < 0x80u) { *v = x; return p; }
    x &= 0x7Fu;
    for (unsigned sh = 7; sh < 64; sh += 7) {
        uint64_t b = (unsigned char)*p++;
        x |= (b & 0x7Fu) << sh;
        if (b < 0x80u) break;
    }
    *v = x;
    return p;
}

static inline const char *get_z(const char *p, int64_t *v)
{
    uint64_t u;
    p = get_u(p, &u);
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1u);
    return p;
}

/* ---- writing ------------------------------------------------------------- */

/* kr_write_at, kr_read_at (internal.h): all of len bytes at offset at,
 * whatever the calls return in part, through EINTR. */
int kr_write_at(int fd, const void *p, size_t len, uint64_t at)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = pwrite(fd, (const char *)p + off, len - off, (off_t)(at + off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

int kr_read_at(int fd, void *p, size_t len, uint64_t at)
{
    size_t got = 0;
    while (got < len) {
        ssize_t g = pread(fd, (char *)p + got, len - got, (off_t)(at + got));
        if (g < 0 && errno == EINTR) continue;
        if (g <= 0) return -1;
        got += (size_t)g;
    }
    return 0;
}

/* kr_temp_fd (internal.h): the temporary files of every spill, this one's,
 * the partition's and the held-back schedule's. */
int kr_temp_fd(const char *name)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    size_t n = strlen(dir) + strlen(name) + 16u;
    char *path = malloc(n);
    if (!path) { errno = ENOMEM; return -1; }
    snprintf(path, n, "%s/%s-XXXXXX", dir, name);
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    free(path);
    return fd;
}

/* spill -- appends the memory rows to the file's region of the run's
 * temporary file (created on first use in $TMPDIR or /tmp, unlinked at
 * once, one for all files).  Files are parsed one after the other, so each
 * file's region is contiguous; should another file have written since this
 * one's last spill, or should a write fail, the rows simply stay in memory
 * from then on. */
static void spill(KiSrc *s)
{
    KrInputCtx *c = s->ctx;
    if (c->spill_fd < 0) {
        int fd = kr_temp_fd("kairos-rows");
        if (fd < 0) { s->nospill = true; return; }
        c->spill_fd = fd;
        c->spill_end = 0;
    }
    if (s->spilled == 0) s->spill_base = c->spill_end;
    else if (s->spill_base + s->spilled != c->spill_end) { s->nospill = true; return; }
    size_t off = 0;
    while (off < s->rlen) {
        ssize_t w = pwrite(c->spill_fd, s->rbuf + off, s->rlen - off,
                           (off_t)(s->spill_base + s->spilled + off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { s->nospill = true; return; }   /* disk full: the partial write is ignored */
        off += (size_t)w;
    }
    s->spilled += s->rlen;
    c->spill_end = s->spill_base + s->spilled;
    s->rlen = 0;
}

int ki_row_commit(KiSrc *s, const KiRow *r)
{
    KrInputCtx *c = s->ctx;
    ki_kind_commit(c, r->event);
    if (c->sink) {
        /* ki_drain: the row goes to the sink */
        KrEvent ev = { r->time, r->customer, r->event, r->nattrs, r->ids, r->vals, s->name, r->line, r->route };
        s->nrows++;
        c->rows_read++;
        if (c->sink(c->sink_arg, c->sink_file, &ev) != 0)
            return ki_error(s, r->line, 0, "out of memory or temporary space");
        return 0;
    }
    if (s->stream) {
        /* stream mode: the row goes straight to the merge */
        if (s->nrows && r->time < s->last_time) s->sorted = false;
        s->last_time = r->time;
        s->last_line = r->line;
        s->nrows++;
        s->ctx->rows_read++;
        s->row = r;
        return 0;
    }
    if (s->rcap - s->rlen < KI_MAX_PACKED || s->rlen + KI_MAX_PACKED > SPILL_AT) {
        if (s->rlen + KI_MAX_PACKED > SPILL_AT && !s->nospill) spill(s);
        if (s->rcap - s->rlen < KI_MAX_PACKED) {
            size_t ncap = s->rcap ? s->rcap * 2u : (1u << 16);
            char *nb = realloc(s->rbuf, ncap);
            if (!nb) return ki_error(s, r->line, 0, "out of memory");
            s->rbuf = nb;
            s->rcap = ncap;
        }
    }
    char *d = s->rbuf + s->rlen;
    d = put_z(d, r->time - s->last_time);
    d = put_u(d, r->line - s->last_line);
    d = put_u(d, r->customer);
    d = put_u(d, (uint64_t)r->event + 1u);          /* KB_NONE -> 0 */
    d = put_u(d, r->nattrs);
    for (uint32_t i = 0; i < r->nattrs; i++) {
        const KrValue *v = &r->vals[i];
        d = put_u(d, r->ids[i]);
        if (v->tag == KB_STR) { *d++ = KI_P_STR; d = put_u(d, v->str); }
        else if (v->tag == KB_BOOL) *d++ = v->b ? KI_P_TRUE : KI_P_FALSE;
        else if (v->num >= -1e15 && v->num <= 1e15 && v->num == (double)(int64_t)v->num
                 && !(v->num == 0 && 1 / v->num < 0)) {
            *d++ = KI_P_INT;
            d = put_z(d, (int64_t)v->num);
        } else {
            *d++ = KI_P_NUM;
            memcpy(d, &v->num, 8);
            d += 8;
        }
    }
    s->rlen = (size_t)(d - s->rbuf);
    if (s->nrows && r->time < s->last_time) s->sorted = false;
    if (!s->nrows || r->time > s->max_time) s->max_time = r->time;
    s->last_time = r->time;
    s->last_line = r->line;
    s->nrows++;
    s->ctx->rows_read++;
    return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* decode -- one packed row at p into *r, times and lines relative to
 * *time / *line (updated).  Returns the end of the row. */
static const char *decode(const char *p, KiRow *r, int64_t *time, uint64_t *line)
{
    int64_t dt;
    uint64_t u;
    p = get_z(p, &dt);
    *time += dt;
    r->time = *time;
    p = get_u(p, &u);
    *line += u;
    r->line = *line;
    p = get_u(p, &u); r->customer = (uint32_t)u;
    p = get_u(p, &u); r->event = (uint32_t)(u - 1u);
    p = get_u(p, &u); r->nattrs = (uint32_t)u;
    for (uint32_t i = 0; i < r->nattrs; i++) {
        KrValue *v = &r->vals[i];
        p = get_u(p, &u);
        r->ids[i] = (uint32_t)u;
        int tag = *p++;
        v->i = 0;
        switch (tag) {
        case KI_P_STR: v->tag = KB_STR; p = get_u(p, &u); v->str = (uint32_t)u; break;
        case KI_P_TRUE: v->tag = KB_BOOL; v->b = true; break;
        case KI_P_FALSE: v->tag = KB_BOOL; v->b = false; break;
        case KI_P_INT: { int64_t x; v->tag = KB_NUM; p = get_z(p, &x); v->num = (double)x; break; }
        default: v->tag = KB_NUM; memcpy(&v->num, p, 8); p += 8; break;
        }
    }
    return p;
}

/* read_all -- the whole store into one memory block (rbuf). */
static int read_all(KiSrc *s)
{
    if (!s->spilled) return 0;
    size_t total = (size_t)s->spilled + s->rlen;
    char *nb = malloc(total);
    if (!nb) return ki_error(s, 0, 0, "out of memory (loading an unsorted file)");
    size_t off = 0;
    while (off < s->spilled) {
        ssize_t n = pread(s->ctx->spill_fd, nb + off, (size_t)s->spilled - off, (off_t)(s->spill_base + off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { free(nb); return ki_error(s, 0, 0, "temporary file read error"); }
        off += (size_t)n;
    }
    memcpy(nb + off, s->rbuf, s->rlen);
    free(s->rbuf);
    s->rbuf = nb;
    s->rlen = s->rcap = total;
    s->spilled = 0;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    const KiKey *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

void ki_rows_park(KiSrc *s, size_t *mem_total)
{
    if (!s->sorted || s->nospill) return;       /* loaded whole anyway / cannot */
    if (s->spilled == 0) {
        *mem_total += s->rlen;
        if (*mem_total <= SPILL_AT) return;
        *mem_total -= s->rlen;
    }
    if (s->rlen) spill(s);
    if (s->rlen == 0) { free(s->rbuf); s->rbuf = NULL; s->rcap = 0; }
}

int ki_rows_start(KiSrc *s)
{
    s->dtime = 0;
    s->dline = 0;
    s->mpos = 0;
    s->row = &s->cur;
    if (!s->sorted) {
        /* load, index in (time, file position) order: a stable sort */
        if (read_all(s) != 0) return -1;
        s->order = malloc((s->nrows ? s->nrows : 1u) * sizeof *s->order);
        if (!s->order) return ki_error(s, 0, 0, "out of memory (sorting an unsorted file)");
        size_t n = 0;
        const char *p = s->rbuf, *e = s->rbuf + s->rlen;
        while (p < e) {
            KiKey *k = &s->order[n++];
            k->off = (size_t)(p - s->rbuf);
            p = decode(p, &s->cur, &s->dtime, &s->dline);
            k->time = s->cur.time;
            k->line = s->cur.line;
        }
        qsort(s->order, n, sizeof *s->order, cmp_key);
        s->norder = n;
        s->oidx = 0;
    } else if (s->spilled == 0) {
        s->in_memory = true;
    } else {
        s->mcap = MERGE_BLOCK + KI_MAX_PACKED;
        s->mbuf = malloc(s->mcap);
        if (!s->mbuf) return ki_error(s, 0, 0, "out of memory");
        s->mend = 0;
        s->mread = 0;
    }
    return ki_rows_next(s);
}

int ki_rows_next(KiSrc *s)
{
    if (s->order) {
        if (s->oidx == s->norder) { s->has_cur = false; return 0; }
        const KiKey *k = &s->order[s->oidx++];
        int64_t t = k->time;
        uint64_t l = k->line;
        /* the key holds the absolute time and line: decode relative to 0
         * and put them back */
        int64_t zt = 0;
        uint64_t zl = 0;
        decode(s->rbuf + k->off, &s->cur, &zt, &zl);
        s->cur.time = t;
        s->cur.line = l;
        s->has_cur = true;
        return 0;
    }
    if (!s->in_memory) {
        if (s->mend - s->mpos < KI_MAX_PACKED && s->mread < s->spilled) {
            size_t have = s->mend - s->mpos;
            memmove(s->mbuf, s->mbuf + s->mpos, have);
            s->mpos = 0;
            s->mend = have;
            while (s->mend < s->mcap && s->mread < s->spilled) {
                size_t want = s->mcap - s->mend;
                if (want > s->spilled - s->mread) want = (size_t)(s->spilled - s->mread);
                ssize_t n = pread(s->ctx->spill_fd, s->mbuf + s->mend, want,
                                  (off_t)(s->spill_base + s->mread));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return ki_error(s, 0, 0, "temporary file read error: %s", n < 0 ? strerror(errno) : "short read");
                s->mend += (size_t)n;
                s->mread += (uint64_t)n;
            }
        }
        if (s->mpos < s->mend) {
            const char *p = decode(s->mbuf + s->mpos, &s->cur, &s->dtime, &s->dline);
            s->mpos = (size_t)(p - s->mbuf);
            s->has_cur = true;
            return 0;
        }
        s->in_memory = true;                /* spill done: the memory rows follow */
        s->mpos = 0;
    }
    if (s->mpos < s->rlen) {
        const char *p = decode(s->rbuf + s->mpos, &s->cur, &s->dtime, &s->dline);
        s->mpos = (size_t)(p - s->rbuf);
        s->has_cur = true;
    } else {
        s->has_cur = false;
    }
    return 0;
}

void ki_rows_free(KiSrc *s)
{
    free(s->rbuf); s->rbuf = NULL;
    free(s->mbuf); s->mbuf = NULL;
    free(s->order); s->order = NULL;
}
