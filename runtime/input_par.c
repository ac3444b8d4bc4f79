/* input_par.c -- the parallel first pass of the partitioned replay
 * (ki_par_file, used by ki_drain_jobs; SPEC.md section 5.10).
 *
 * A regular, uncompressed CSV file whose header has been read, or a JSON
 * Lines file, is cut into ranges of about RANGE_BYTES, each starting just
 * after a line feed.  Threads take the ranges in file order and parse
 * each with a reader context of their own (customer and value pools of
 * their own, kept from range to range; nothing printed), keeping the
 * range's rows as records with thread-local pool ids.  The calling thread
 * hands the ranges' rows to the sink in file order, after interning the
 * strings new to the parsing thread's pools in the shared pools in their
 * first-seen order: the pool ids, hence everything after, are those a
 * sequential read gives.  While the next range is not parsed yet, it
 * parses one itself; at most `jobs` ranges are parsed or waiting at a
 * time, counting from the one to hand over next (bounded memory: about
 * 0.6 MiB a range, and a 320 KiB input buffer per thread).
 *
 * A range that failed (a bad row that stops the run, out of memory) or
 * that held a record that could not be cut (a quote problem: the range
 * before a cut that fell inside a quoted field with a line break always
 * sees an unterminated quoted field, so the first such range starts at a
 * true record boundary) ends the parallel read: the file is read on
 * sequentially from that range's start, with the line number the ranges
 * before it counted, and prints exactly what a sequential read prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "input_impl.h"

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static uint64_t RANGE_BYTES = 16u << 10;
#else
static uint64_t RANGE_BYTES = 256u << 10;
#endif

void ki_par_range_bytes(uint64_t n) { RANGE_BYTES = n ? n : 1u; }

static uint64_t handed_total, fallbacks_total;    /* for tests (ki_par_counts) */
void ki_par_counts(uint64_t *handed, uint64_t *fallbacks)
{
    *handed = handed_total;
    *fallbacks = fallbacks_total;
}
#define JOBS_MAX    64u
#define THREAD_STACK (256u << 10)
#define AS_MIN      (256ull << 20)   /* address space below which the read is sequential */

/* A record as a range keeps it: this header, nattrs attribute indexes
 * (padded to 8 bytes), nattrs values. */
typedef struct RRec { int64_t time; uint32_t cust, event, nattrs, line; } RRec;   /* line: in the range, from 0 */

static inline size_t rrec_size(uint32_t n)
{
    return sizeof(RRec) + (((size_t)n * 4u + 7u) & ~(size_t)7u) + (size_t)n * sizeof(KrValue);
}

enum { RS_WAIT, RS_TAKEN, RS_OK, RS_FAILED };

/* A string a thread's pool got while parsing a range (the bytes stay put
 * until the pool is freed). */
typedef struct NewStr { const char *p; size_t len; } NewStr;

/* A parsing thread: its reader context with pools of its own (kept from
 * range to range), and, used by the main thread only, the shared pools'
 * ids of the first `n` ids of each of its pools. */
typedef struct Worker {
    KrInputCtx *ctx;
    char *buf; size_t cap;          /* the input buffer, kept from range to range */
    uint32_t *cmap, *vmap; uint32_t nc, nv, capc, capv;
} Worker;

typedef struct Range {
    uint64_t start, stop;           /* file offsets; stop 0: to the end of the file */
    Worker *w;                      /* the thread that parsed it */
    char *rec; size_t len, cap;     /* its records */
    NewStr *news; uint32_t newc, newv;   /* the customers, then the values, new to w's pools */
    uint64_t base;                  /* the line number its parse starts from (not 1
                                       but for a file's first byte: a BOM is only
                                       allowed on line 1) */
    uint64_t lines;                 /* line feeds consumed */
    uint64_t end;                   /* file offset reached */
    uint64_t rows_read, rows_skipped; int64_t other_latest;
    int state;
} Range;

typedef struct Par {
    KiSrc *src;                     /* the file, header read */
    Range *r; uint32_t nr;
    uint32_t next;                  /* the next range to parse */
    uint32_t handed;                /* ranges handed to the sink */
    uint32_t ahead;                 /* ranges that may be parsed past `handed` */
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Worker *w;                      /* per thread (0: the main thread) */
    /* record buffers of handed ranges, for the next ranges (fresh pages
     * would cost a page fault and a clearing each) */
    char *spare[JOBS_MAX + 1u]; size_t spare_cap[JOBS_MAX + 1u]; uint32_t nspare;
} Par;

static int range_sink(void *arg, uint32_t file, const KrEvent *ev)
{
    Range *g = arg;
    size_t need = rrec_size(ev->nattrs);
    if (g->cap - g->len < need) {
        size_t nc = g->cap ? g->cap * 2u : (size_t)(RANGE_BYTES + RANGE_BYTES / 4u);
        while (nc - g->len < need) nc *= 2u;
        char *nb = realloc(g->rec, nc);
        if (!nb) return -1;
        g->rec = nb;
        g->cap = nc;
    }
    char *d = g->rec + g->len;
    RRec h = { ev->time, ev->customer, ev->event, ev->nattrs, (uint32_t)(ev->line - g->base) };
    memcpy(d, &h, sizeof h);
    d += sizeof h;
    if (ev->nattrs) {
        memcpy(d, ev->attr_ids, (size_t)ev->nattrs * 4u);
        d += ((size_t)ev->nattrs * 4u + 7u) & ~(size_t)7u;
        memcpy(d, ev->attr_vals, (size_t)ev->nattrs * sizeof(KrValue));
    }
    g->len += need;
    (void)file;
    return 0;
}

/* worker_init -- a context of its own for a parsing thread; 0 or -1. */
static int worker_init(Worker *w, const KrInputCtx *shared)
{
    KrInputCtx *c = malloc(sizeof *c);
    if (!c) return -1;
    *c = *shared;                   /* the shared read-only tables */
    memset(c->memo, 0, sizeof c->memo);
    c->customers = kr_pool_new();
    c->values = kr_pool_new();
    c->err = NULL;                  /* a message is printed by the sequential read */
    c->spill_fd = -1;
    c->spill_end = 0;
    c->sink = range_sink;
    c->sink_file = 0;
    w->ctx = c;
    return c->customers && c->values ? 0 : -1;
}

static void worker_free(Worker *w)
{
    if (w->ctx) {
        kr_pool_free(w->ctx->customers);
        kr_pool_free(w->ctx->values);
        free(w->ctx);
    }
    free(w->cmap);
    free(w->vmap);
    free(w->buf);
}

/* parse -- range i with w's context; RS_OK or RS_FAILED. */
static int parse(Par *p, Worker *w, uint32_t i)
{
    Range *g = &p->r[i];
    const KiSrc *src = p->src;
    KrInputCtx *c = w->ctx;
    g->w = w;
    if (!c || !c->customers || !c->values) return RS_FAILED;
    c->rows_read = c->rows_skipped = 0;
    c->other_shards_latest = INT64_MIN;
    c->sink_arg = g;
    uint32_t c0 = kr_pool_count(c->customers), v0 = kr_pool_count(c->values);
    KiSrc *s = calloc(1, sizeof *s);
    if (!s) return RS_FAILED;
    s->ctx = c;
    s->name = src->name;
    s->fmt = src->fmt;
    s->regular = true;
    s->sorted = true;
    s->begun = true;
    g->base = g->start == 0 ? 1u : 2u;
    s->line = g->base;
    if (!w->buf) {                  /* a range's bytes fit (ki_fill reads no more) */
        w->cap = (size_t)RANGE_BYTES + (64u << 10);
        if (!(w->buf = malloc(w->cap + KI_BUF_PAD))) w->cap = 0;
    }
    s->buf = w->buf;
    s->cap = w->cap;
    w->buf = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->nspare && !g->rec) {
        p->nspare--;
        g->rec = p->spare[p->nspare];
        g->cap = p->spare_cap[p->nspare];
    }
    pthread_mutex_unlock(&p->mu);
    int st = RS_FAILED;
    do s->fd = open(src->name, O_RDONLY); while (s->fd < 0 && errno == EINTR);
    if (s->fd >= 0 && (src->fmt == KI_FMT_CSV ? ki_csv_clone(s, src) : ki_src_begin(s)) == 0
        && ki_src_window(s, g->start, g->stop) == 0) {
        int r;
        while ((r = ki_src_step(s)) == 1) {}
        if (r == 0 && !s->suspect) st = RS_OK;
    }
    g->lines = s->line - g->base;
    g->end = s->bytes;
    g->rows_read = c->rows_read;
    g->rows_skipped = c->rows_skipped;
    g->other_latest = c->other_shards_latest;
    w->buf = s->buf;                /* kept for the next range */
    w->cap = s->cap;
    s->buf = NULL;
    ki_src_close(s);
    free(s->msg);
    free(s);
    /* the strings new to the pools, for the main thread (which must not
     * read a pool another thread is growing) */
    uint32_t c1 = kr_pool_count(c->customers), v1 = kr_pool_count(c->values);
    g->newc = c1 - c0;
    g->newv = v1 - v0;
    if (c1 - c0 + v1 - v0 > 0) {
        g->news = malloc(((size_t)(c1 - c0) + (v1 - v0)) * sizeof *g->news);
        if (!g->news) return RS_FAILED;
        for (uint32_t k = c0; k < c1; k++) g->news[k - c0].p = kr_pool_str(c->customers, k, &g->news[k - c0].len);
        for (uint32_t k = v0; k < v1; k++)
            g->news[g->newc + k - v0].p = kr_pool_str(c->values, k, &g->news[g->newc + k - v0].len);
    }
    return st;
}

/* take -- under the lock: the next range to parse, or UINT32_MAX. */
static uint32_t take(Par *p)
{
    if (p->stop || p->next >= p->nr || p->next >= p->handed + p->ahead) return UINT32_MAX;
    uint32_t i = p->next++;
    p->r[i].state = RS_TAKEN;
    return i;
}

static void parse_locked(Par *p, Worker *w, uint32_t i)
{
    pthread_mutex_unlock(&p->mu);
    int st = parse(p, w, i);
    pthread_mutex_lock(&p->mu);
    p->r[i].state = st;
    pthread_cond_broadcast(&p->cv);
}

typedef struct ThreadArg { Par *p; Worker *w; } ThreadArg;

static void *worker(void *arg)
{
    ThreadArg *a = arg;
    Par *p = a->p;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->next < p->nr) {
        uint32_t i = take(p);
        if (i == UINT32_MAX) { pthread_cond_wait(&p->cv, &p->mu); continue; }
        parse_locked(p, a->w, i);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* map_news -- the shared pools' ids of n new strings of a worker's pool,
 * appended to its map; 0 or -1 (out of memory). */
static int map_news(KrPool *pool, const NewStr *ns, uint32_t n, uint32_t **map, uint32_t *len, uint32_t *cap)
{
    if (*len + n > *cap) {
        uint32_t nc = *cap ? *cap : 1024u;
        while (nc < *len + n) nc *= 2u;
        uint32_t *m = realloc(*map, (size_t)nc * sizeof *m);
        if (!m) return -1;
        *map = m;
        *cap = nc;
    }
    for (uint32_t i = 0; i < n; i++)
        if (((*map)[(*len)++] = kr_intern(pool, ns[i].p, ns[i].len)) == UINT32_MAX) return -1;
    return 0;
}

/* hand -- range g's rows to the sink with the shared pools' ids (line:
 * the file's line number at the range's start); 0 or -1 (printed).  A
 * thread parses its ranges in file order and they are handed in file
 * order, so its strings are interned in the shared pools in first-seen
 * order. */
static int hand(KiSrc *s, Range *g, uint64_t line)
{
    KrInputCtx *c = s->ctx;
    Worker *w = g->w;
    if (map_news(c->customers, g->news, g->newc, &w->cmap, &w->nc, &w->capc) != 0
        || map_news(c->values, g->news + g->newc, g->newv, &w->vmap, &w->nv, &w->capv) != 0)
        return ki_error(s, 0, 0, "out of memory");
    const uint32_t *cmap = w->cmap, *vmap = w->vmap;
    KrValue vals[KI_MAX_ATTRS];
    for (size_t off = 0; off < g->len;) {
        const char *q = g->rec + off;
        RRec h;
        memcpy(&h, q, sizeof h);
        off += rrec_size(h.nattrs);
        q += sizeof h;
        const uint32_t *ids = (const uint32_t *)(const void *)q;
        memcpy(vals, q + (((size_t)h.nattrs * 4u + 7u) & ~(size_t)7u), (size_t)h.nattrs * sizeof *vals);
        for (uint32_t a = 0; a < h.nattrs; a++)
            if (vals[a].tag == KB_STR) vals[a].str = vmap[vals[a].str];
        KrEvent ev = { h.time, cmap[h.cust], h.event, h.nattrs, ids, vals, s->name, line + h.line };
        s->nrows++;
        if (c->sink(c->sink_arg, c->sink_file, &ev) != 0)
            return ki_error(s, line + h.line, 0, "out of memory or temporary space");
    }
    c->rows_read += g->rows_read;
    c->rows_skipped += g->rows_skipped;
    if (g->other_latest > c->other_shards_latest) c->other_shards_latest = g->other_latest;
    s->bytes = g->end;
    return 0;
}

/* ki_par_cuts -- the range boundaries after offset h of a file of size size:
 * just after the first line feed at or past each multiple of RANGE_BYTES.
 * Returns the number of ranges (>= 1), or 0 on a read error. */
uint32_t ki_par_cuts(int fd, uint64_t h, uint64_t size, uint64_t *at, uint32_t max)
{
    char blk[4096];
    uint32_t n = 0;
    at[n++] = h;
    uint64_t want = h + RANGE_BYTES;
    while (n < max && want < size) {
        uint64_t o = want - 1u;
        uint64_t found = 0;
        while (o < size && !found) {
            ssize_t g;
            do g = pread(fd, blk, sizeof blk, (off_t)o); while (g < 0 && errno == EINTR);
            if (g < 0) return 0;
            if (g == 0) break;
            const char *nl = memchr(blk, '\n', (size_t)g);
            if (nl) found = o + (uint64_t)(nl - blk) + 1u;
            else o += (uint64_t)g;
        }
        if (!found || found >= size) break;
        at[n++] = found;
        want = found + RANGE_BYTES;
    }
    return n;
}

int ki_par_file(KiSrc *s, uint32_t jobs)
{
    if ((s->fmt != KI_FMT_CSV && s->fmt != KI_FMT_JSONL) || s->fd < 0 || s->gz || s->raw || s->is_stdin
        || !s->regular || !s->priv)
        return 1;
    /* under a tight address-space limit (ulimit -v below AS_MIN) the few
     * MiB the threads need, and the fragmentation they leave, are not
     * worth risking: read sequentially */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < AS_MIN) return 1;
    struct stat sb;
    if (fstat(s->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 1;
    uint64_t size = (uint64_t)sb.st_size;
    uint64_t h = s->bytes - (uint64_t)(s->end - s->pos);    /* the first row's offset */
    if (size <= h || size - h < 2u * (uint64_t)RANGE_BYTES) return 1;
    if (jobs > JOBS_MAX) jobs = JOBS_MAX;
    uint32_t max = (uint32_t)((size - h) / RANGE_BYTES + 2u);
    uint64_t *at = malloc((size_t)max * sizeof *at);
    Par p;
    memset(&p, 0, sizeof p);
    if (!at) return 1;
    p.nr = ki_par_cuts(s->fd, h, size, at, max);
    if (p.nr < 2) { free(at); return 1; }
    p.r = calloc(p.nr, sizeof *p.r);
    if (!p.r) { free(at); return 1; }
    for (uint32_t i = 0; i < p.nr; i++) {
        p.r[i].start = at[i];
        p.r[i].stop = i + 1u < p.nr ? at[i + 1u] : 0;      /* the last: to the end */
    }
    free(at);
    p.src = s;
    free(s->buf);                    /* the header's buffer (the fallback reads anew) */
    s->buf = NULL;
    s->cap = s->pos = s->end = 0;
    p.ahead = jobs;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th[JOBS_MAX];
    ThreadArg ta[JOBS_MAX];
    uint32_t nth = 0;
    p.w = calloc(jobs, sizeof *p.w);
    bool wok = p.w != NULL;
    for (uint32_t j = 0; wok && j < jobs; j++) wok = worker_init(&p.w[j], s->ctx) == 0;
    if (!wok) {                      /* out of memory: read on sequentially */
        for (uint32_t j = 0; p.w && j < jobs; j++) worker_free(&p.w[j]);
        free(p.w);
        free(p.r);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        if (ki_src_window(s, h, 0) != 0) return -1;
        return 1;
    }
    pthread_attr_t attr;             /* parsing needs little stack */
    bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok) pthread_attr_setstacksize(&attr, THREAD_STACK);
    for (uint32_t j = 1; j < jobs && j < p.nr; j++) {
        ta[nth] = (ThreadArg){ &p, &p.w[j] };
        if (pthread_create(&th[nth], attr_ok ? &attr : NULL, worker, &ta[nth]) == 0) nth++;
    }
    if (attr_ok) pthread_attr_destroy(&attr);
    int rc = 0;
    uint64_t line = s->line;        /* of the first row of range i */
    uint32_t i = 0;
    for (; i < p.nr; i++) {
        pthread_mutex_lock(&p.mu);
        while (p.r[i].state != RS_OK && p.r[i].state != RS_FAILED) {
            uint32_t j = take(&p);
            if (j == UINT32_MAX) pthread_cond_wait(&p.cv, &p.mu);
            else parse_locked(&p, &p.w[0], j);
        }
        int st = p.r[i].state;
        pthread_mutex_unlock(&p.mu);
        if (st != RS_OK) break;
        rc = hand(s, &p.r[i], line);
        handed_total++;
        line += p.r[i].lines;
        free(p.r[i].news);
        p.r[i].news = NULL;
        pthread_mutex_lock(&p.mu);
        if (p.nspare < JOBS_MAX + 1u) {
            p.spare[p.nspare] = p.r[i].rec;
            p.spare_cap[p.nspare++] = p.r[i].cap;
        } else {
            free(p.r[i].rec);
        }
        p.r[i].rec = NULL;
        p.handed = i + 1u;
        if (rc != 0) p.stop = true;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (rc != 0) break;
    }
    pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (uint32_t j = 0; j < nth; j++) pthread_join(th[j], NULL);
    if (rc == 0 && i < p.nr) {
        /* range i failed: read on sequentially from its start */
        s->line = line;
        fallbacks_total++;
        rc = ki_src_window(s, p.r[i].start, 0);
        while (rc == 0 && (rc = ki_src_step(s)) == 1) rc = 0;
    }
    for (uint32_t k = 0; k < p.nr; k++) {
        free(p.r[k].rec);
        free(p.r[k].news);
    }
    for (uint32_t j = 0; j < jobs; j++) worker_free(&p.w[j]);
    for (uint32_t k = 0; k < p.nspare; k++) free(p.spare[k]);
    free(p.w);
    free(p.r);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc == 0 ? 0 : -1;
}
