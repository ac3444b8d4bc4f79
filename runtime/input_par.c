/* input_par.c -- the parallel first pass of the partitioned replay
 * (ki_drain_parts; SPEC.md section 5.10).
 *
 * The only input, a regular uncompressed CSV file whose header has been
 * read or a JSON Lines file, is cut into as many parts as threads, each
 * starting just after a line feed.  Part p is parsed by a thread of its own
 * and its rows go straight to the caller's sink for part p (the
 * partitioned replay keeps each part's records apart and replays a
 * customer's records part after part, which is file order).  Part 0 uses
 * the shared customer and value pools; every other part pools of its own,
 * so no lock is taken per row.  When all parts are parsed, the strings of
 * parts 1, 2, ... are interned in the shared pools in that order, which
 * gives every string the id a sequential read gives it, and the caller is
 * handed each part's map from its ids to the shared ones.
 *
 * Nothing is printed while the parts are parsed.  A part that failed (a bad
 * row that stops the run, out of memory) or that held a record that could
 * not be cut (a CSV quote problem, even one --skip-bad-rows skips: the part
 * before a cut that fell inside a quoted field ends inside it, so the first
 * such part starts at a true record boundary) is dropped with every part
 * after it, and the file is read on sequentially from its start, printing
 * exactly what a sequential read prints.
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
#define MIN_PART_DEFAULT (16u << 10)
#else
#define MIN_PART_DEFAULT (1u << 20)       /* bytes a part holds, at least */
#endif
static uint64_t MIN_PART = MIN_PART_DEFAULT;

void ki_par_min_part(uint64_t n) { MIN_PART = n ? n : MIN_PART_DEFAULT; }

static uint64_t parallel_total, fallbacks_total;    /* for tests (ki_par_counts) */
void ki_par_counts(uint64_t *parallel, uint64_t *fallbacks)
{
    *parallel = parallel_total;
    *fallbacks = fallbacks_total;
}

#define THREAD_STACK (256u << 10)
#define AS_MIN      (256ull << 20)   /* address space below which the read is sequential */

/* One part: its byte range, its reader (context and source of its own),
 * what came of it. */
typedef struct Part {
    uint64_t start, stop;            /* file offsets; stop 0: to the end */
    KrInputCtx ctx;                  /* a copy of the shared one (part 0: the shared pools) */
    KiSrc src;
    const KiParts *parts; uint32_t idx;
    const KiSrc *file;               /* the file, header read */
    uint64_t base;                   /* the line number its parse starts from */
    int ok;                          /* parsed to its end, nothing suspect */
} Part;

/* ki_par_cuts -- n part starts for the rows at offsets [h, size) of the
 * file fd: at[0] = h, each other just after the first line feed at or past
 * h + i * (size - h) / n.  Returns how many (>= 1; fewer than n when line
 * feeds are scarce), 0 on a read error. */
uint32_t ki_par_cuts(int fd, uint64_t h, uint64_t size, uint64_t *at, uint32_t n)
{
    char blk[4096];
    uint32_t k = 0;
    at[k++] = h;
    for (uint32_t i = 1; i < n; i++) {
        uint64_t want = h + (size - h) / n * i;
        if (want <= at[k - 1u]) continue;
        uint64_t o = want - 1u, found = 0;
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
        at[k++] = found;
    }
    return k;
}

/* parse -- part g to its end on this thread; sets g->ok. */
static void *parse(void *arg)
{
    Part *g = arg;
    KiSrc *s = &g->src;
    KrInputCtx *c = &g->ctx;
    g->ok = 0;
    if (!c->customers || !c->values) return NULL;
    if (g->parts->begin(g->parts->arg[g->idx], c->customers) != 0) return NULL;
    s->ctx = c;
    s->name = g->file->name;
    s->fmt = g->file->fmt;
    s->regular = true;
    s->sorted = true;
    s->begun = true;
    s->fd = -1;
    s->line = g->base;
    s->shared_bytes = c->par_bytes;
    do s->fd = open(g->file->name, O_RDONLY); while (s->fd < 0 && errno == EINTR);
    if (s->fd < 0) return NULL;
    if ((s->fmt == KI_FMT_CSV ? ki_csv_clone(s, g->file) : ki_src_begin(s)) != 0) return NULL;
    if (ki_src_window(s, g->start, g->stop) != 0) return NULL;
    int r;
    while ((r = ki_src_step(s)) == 1) {}
    g->ok = r == 0 && !s->suspect;
    return NULL;
}

static void part_free(Part *g)
{
    ki_src_close(&g->src);
    free(g->src.msg);
    if (g->idx > 0) {
        kr_pool_free(g->ctx.customers);
        kr_pool_free(g->ctx.values);
    }
}

/* map_pool -- the shared pool's ids of every string of pool from, in id
 * order (interning them); NULL (out of memory) or the map (*n entries). */
static uint32_t *map_pool(KrPool *to, const KrPool *from, uint32_t *n)
{
    *n = kr_pool_count(from);
    uint32_t *m = malloc(((size_t)*n + 1u) * sizeof *m);
    if (!m) return NULL;
    for (uint32_t i = 0; i < *n; i++) {
        size_t len;
        const char *p = kr_pool_str(from, i, &len);
        if ((m[i] = kr_intern(to, p, len)) == UINT32_MAX) { free(m); return NULL; }
    }
    return m;
}

int ki_par_file(KiSrc *s, const KiParts *kp)
{
    uint32_t n = kp->n;
    if (n < 2u || (s->fmt != KI_FMT_CSV && s->fmt != KI_FMT_JSONL) || s->fd < 0 || s->gz || s->raw
        || s->is_stdin || !s->regular || !s->priv)
        return 1;
    if (n > KI_PARTS_MAX) n = KI_PARTS_MAX;
    /* under a tight address-space limit (ulimit -v below AS_MIN) the few
     * MiB the threads need are not worth risking: read sequentially */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < AS_MIN) return 1;
    struct stat sb;
    if (fstat(s->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 1;
    uint64_t size = (uint64_t)sb.st_size;
    uint64_t h = s->bytes - (uint64_t)(s->end - s->pos);    /* the first row's offset */
    if (size <= h) return 1;
    if ((size - h) / n < MIN_PART) n = (uint32_t)((size - h) / MIN_PART);
    if (n < 2u) return 1;
    uint64_t at[KI_PARTS_MAX];
    n = ki_par_cuts(s->fd, h, size, at, n);
    if (n < 2u) return 1;
    Part *g = calloc(n, sizeof *g);
    if (!g) return 1;
    KrInputCtx *c = s->ctx;
    for (uint32_t i = 0; i < n; i++) {
        g[i].start = at[i];
        g[i].stop = i + 1u < n ? at[i + 1u] : 0;
        g[i].ctx = *c;                /* the shared read-only tables */
        memset(g[i].ctx.memo, 0, sizeof g[i].ctx.memo);
        g[i].ctx.err = NULL;          /* a message is printed by the sequential read */
        g[i].ctx.spill_fd = -1;
        g[i].ctx.spill_end = 0;
        g[i].ctx.rows_read = g[i].ctx.rows_skipped = 0;
        g[i].ctx.other_shards_latest = INT64_MIN;
        g[i].ctx.sink = kp->sink;
        g[i].ctx.sink_arg = kp->arg[i];
        if (i > 0) {
            g[i].ctx.customers = kr_pool_new();
            g[i].ctx.values = kr_pool_new();
        }
        g[i].parts = kp;
        g[i].idx = i;
        g[i].file = s;
        g[i].base = i == 0 ? s->line : 1u;
    }
    /* the header's buffer: the sequential read, if any, reads anew */
    uint64_t line0 = s->line;
    free(s->buf);
    s->buf = NULL;
    s->cap = s->pos = s->end = 0;
    pthread_attr_t attr;             /* parsing needs little stack */
    bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok) pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_t th[KI_PARTS_MAX];
    bool started[KI_PARTS_MAX] = { false };
    for (uint32_t i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], attr_ok ? &attr : NULL, parse, &g[i]) == 0;
    if (attr_ok) pthread_attr_destroy(&attr);
    parse(&g[0]);
    for (uint32_t i = 1; i < n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    parallel_total++;
    /* the first part that failed (or was never started): it and those after it are read again */
    uint32_t f = 0;
    while (f < n && g[f].ok) f++;
    uint64_t line = line0;
    int rc = 0;
    for (uint32_t i = 0; i < f && rc == 0; i++) {
        if (i > 0) {
            uint32_t nc, nv;
            uint32_t *cm = map_pool(c->customers, g[i].ctx.customers, &nc);
            uint32_t *vm = cm ? map_pool(c->values, g[i].ctx.values, &nv) : NULL;
            if (!vm || kp->remap(kp->arg[i], cm, nc, vm, nv) != 0) {
                free(cm);
                free(vm);
                rc = ki_error(s, 0, 0, "out of memory");
                break;
            }
        }
        c->rows_read += g[i].ctx.rows_read;
        c->rows_skipped += g[i].ctx.rows_skipped;
        if (g[i].ctx.other_shards_latest > c->other_shards_latest)
            c->other_shards_latest = g[i].ctx.other_shards_latest;
        line += g[i].src.line - g[i].base;
        s->bytes = g[i].src.bytes;
    }
    atomic_store(c->par_bytes, 0);      /* s->bytes has them now */
    for (uint32_t i = f; i < n; i++) kp->drop(kp->arg[i]);
    if (rc == 0 && f < n) {
        /* read on sequentially from part f's start, into part f (the shared
         * pools' ids: no map) */
        fallbacks_total++;
        s->line = line;
        c->sink = kp->sink;
        c->sink_arg = kp->arg[f];
        rc = kp->begin(kp->arg[f], c->customers) != 0 ? ki_error(s, 0, 0, "out of memory")
                                                       : ki_src_window(s, g[f].start, 0);
        while (rc == 0 && (rc = ki_src_step(s)) == 1) rc = 0;
    }
    for (uint32_t i = 0; i < n; i++) part_free(&g[i]);
    free(g);
    return rc == 0 ? 0 : -1;
}
