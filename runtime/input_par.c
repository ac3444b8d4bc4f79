/* input_par.c -- the parallel first pass of the partitioned replay
 * (ki_drain_parts; SPEC.md section 5.10).
 *
 * When every input is a regular uncompressed CSV or JSON Lines file, their
 * rows (after each CSV header) are taken as one sequence, in command-line
 * order, and cut into as many parts as threads, each cut just after a line
 * feed (or at the start of a file's rows); a part is a run of windows, a
 * window being a byte range of one file.  Part p is parsed by a thread of
 * its own and its rows go straight to the caller's sink for part p (the
 * partitioned replay keeps each part's records apart and replays a
 * customer's records part after part, which is input order).  Part 0 uses
 * the shared customer and value pools; every other part pools of its own,
 * so no lock is taken per row.  When all parts are parsed, the strings of
 * parts 1, 2, ... are interned in the shared pools in that order, which
 * gives every string the id a sequential read gives it, and the caller is
 * handed each part's map from its ids to the shared ones.
 *
 * Nothing is printed while the headers and the parts are read.  A header
 * that cannot be read makes the whole read sequential.  A part that failed
 * (a bad row that stops the run, out of memory) or that held a record that
 * could not be cut (a CSV quote problem, even one --skip-bad-rows skips:
 * the part before a cut that fell inside a quoted field ends inside it, so
 * the first such part starts at a true record boundary) is dropped with
 * every part after it, and the inputs are read on sequentially from its
 * start, printing exactly what a sequential read prints.
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

/* An input as the parts see it: its header read (a CSV file's column
 * plan in hdr.priv), where its rows start and on which line, its size. */
typedef struct File {
    KiSrc hdr;
    uint64_t rows, size;             /* offset of the first row; bytes */
    uint64_t line;                   /* line number of the first row */
} File;

/* A byte range [start, stop) of one file (stop 0: to its end). */
typedef struct Win { uint32_t file; uint64_t start, stop; uint64_t lines; } Win;

/* One part: its windows, its reader context (a copy of the shared one;
 * part 0: with the shared pools), what came of it. */
typedef struct Part {
    Win *w; uint32_t nw;
    KrInputCtx ctx;
    const KiParts *parts; uint32_t idx;
    const File *files;
    int ok;                          /* parsed to its end, nothing suspect */
} Part;

/* A position in the inputs' rows: file, offset. */
typedef struct Pos { uint32_t file; uint64_t off; } Pos;

/* next_line -- the offset just after the first line feed at or after o
 * in fd (size bytes), or 0 if there is none before the end; UINT64_MAX on
 * a read error. */
static uint64_t next_line(int fd, uint64_t o, uint64_t size)
{
    char blk[4096];
    while (o < size) {
        ssize_t g;
        do g = pread(fd, blk, sizeof blk, (off_t)o); while (g < 0 && errno == EINTR);
        if (g < 0) return UINT64_MAX;
        if (g == 0) return 0;
        const char *nl = memchr(blk, '\n', (size_t)g);
        if (nl) return o + (uint64_t)(nl - blk) + 1u;
        o += (uint64_t)g;
    }
    return 0;
}

/* cuts -- at most n part starts over the files' rows (at[0]: the first
 * file's first row), each just after a line feed or at a file's first row,
 * every part about as long; their count (>= 1), 0 on a read error. */
static uint32_t cuts(const File *f, uint32_t nf, uint64_t total, Pos *at, uint32_t n)
{
    uint32_t k = 0;
    at[k++] = (Pos){ 0, f[0].rows };
    for (uint32_t i = 1; i < n; i++) {
        uint64_t want = total / n * i, cum = 0;
        uint32_t j = 0;
        while (j < nf && cum + (f[j].size - f[j].rows) <= want) cum += f[j].size - f[j].rows, j++;
        if (j == nf) break;
        Pos p = { j, f[j].rows + (want - cum) };
        if (p.off > f[j].rows) {
            int fd;
            do fd = open(f[j].hdr.name, O_RDONLY); while (fd < 0 && errno == EINTR);
            if (fd < 0) return 0;
            uint64_t o = next_line(fd, p.off - 1u, f[j].size);
            close(fd);
            if (o == UINT64_MAX) return 0;
            if (o == 0 || o >= f[j].size) {          /* no line feed left: the next file */
                if (j + 1u == nf) break;
                p = (Pos){ j + 1u, f[j + 1u].rows };
            } else {
                p.off = o;
            }
        }
        const Pos *q = &at[k - 1u];
        if (p.file < q->file || (p.file == q->file && p.off <= q->off)) continue;
        at[k++] = p;
    }
    return k;
}

/* parse -- part g's windows on this thread; sets g->ok. */
static void *parse(void *arg)
{
    Part *g = arg;
    KrInputCtx *c = &g->ctx;
    g->ok = 0;
    if (!c->customers || !c->values) return NULL;
    if (g->parts->begin(g->parts->arg[g->idx]) != 0) return NULL;
    for (uint32_t i = 0; i < g->nw; i++) {
        Win *w = &g->w[i];
        const File *f = &g->files[w->file];
        KiSrc s;
        memset(&s, 0, sizeof s);
        s.ctx = c;
        s.name = f->hdr.name;
        s.fmt = f->hdr.fmt;
        s.regular = true;
        s.sorted = true;
        s.begun = true;
        s.shared_bytes = c->par_bytes;
        /* a window at a file's first row counts its lines from there; another
         * from 2 (not line 1: a BOM is only skipped on line 1) */
        uint64_t base = w->start == f->rows ? f->line : 2u;
        s.line = base;
        c->sink_file = w->file;
        int ok = 0;
        do s.fd = open(f->hdr.name, O_RDONLY); while (s.fd < 0 && errno == EINTR);
        if (s.fd >= 0 && (s.fmt == KI_FMT_CSV ? ki_csv_clone(&s, &f->hdr) : ki_src_begin(&s)) == 0
            && ki_src_window(&s, w->start, w->stop) == 0) {
            int r;
            while ((r = ki_src_step(&s)) == 1) {}
            ok = r == 0 && !s.suspect;
        }
        w->lines = s.line - base;
        ki_src_close(&s);
        free(s.msg);
        if (!ok) return NULL;
    }
    g->ok = 1;
    return NULL;
}

/* map_pool -- the shared pool's ids of every string of pool from, in id
 * order (interning them); NULL (out of memory) or the map (*n entries).
 * The strings MAP_AHEAD ahead are hashed and their slots in `to` start
 * loading (and halfway, the stored bytes a long one will be compared to):
 * a part of a log of a million customers holds nearly all of them, and
 * one slot after another would each wait for memory (this runs on one
 * thread, between the parts and the replay). */
#define MAP_AHEAD 16u
static uint32_t *map_pool(KrPool *to, const KrPool *from, uint32_t *n)
{
    *n = kr_pool_count(from);
    uint32_t *m = malloc(((size_t)*n + 1u) * sizeof *m);
    if (!m) return NULL;
    struct { const char *p; size_t len; uint64_t h; } q[MAP_AHEAD];   /* string i at q[i % MAP_AHEAD] */
    for (uint32_t i = 0; i < *n + MAP_AHEAD; i++) {
        uint32_t k = i % MAP_AHEAD;
        if (i >= MAP_AHEAD / 2u && i - MAP_AHEAD / 2u < *n) {   /* halfway: a long string's bytes */
            uint32_t b = (i - MAP_AHEAD / 2u) % MAP_AHEAD;
            kr_pool_prefetch_key(to, q[b].h, q[b].p, q[b].len);
        }
        if (i >= MAP_AHEAD) {              /* string i - MAP_AHEAD, hashed MAP_AHEAD steps ago */
            uint32_t j = i - MAP_AHEAD;
            if ((m[j] = kr_intern_hashed(to, q[k].p, q[k].len, q[k].h)) == UINT32_MAX) { free(m); return NULL; }
        }
        if (i < *n) {
            q[k].p = kr_pool_str(from, i, &q[k].len);
            q[k].h = kr_hash_bytes(q[k].p, q[k].len);
            kr_pool_prefetch(to, q[k].h);
        }
    }
    return m;
}

/* read_headers -- every input's header (silently, with ctx quiet), its
 * rows' offset and size; 0, or 1 when an input does not qualify or a
 * header cannot be read (the sequential read says why). */
static int read_headers(KiSrc *srcs, uint32_t n, KrInputCtx *quiet, File *f, uint64_t *total)
{
    *total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const KiSrc *s = &srcs[i];
        if ((s->fmt != KI_FMT_CSV && s->fmt != KI_FMT_JSONL) || !s->lazy || !s->regular || s->gzip
            || s->raw || s->is_stdin || s->begun)
            return 1;
        KiSrc *h = &f[i].hdr;
        h->ctx = quiet;
        h->name = s->name;
        h->fmt = s->fmt;
        h->regular = true;
        h->lazy = true;
        h->sorted = true;
        h->fd = -1;
        h->line = 1;
        if (ki_src_begin(h) != 0) return 1;
        struct stat sb;
        if (h->fd < 0 || fstat(h->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 1;
        f[i].rows = h->bytes - (uint64_t)(h->end - h->pos);
        f[i].line = h->line;
        f[i].size = (uint64_t)sb.st_size;
        if (f[i].size < f[i].rows) return 1;
        close(h->fd);                 /* the plan (h->priv) is kept for the parts */
        h->fd = -1;
        free(h->buf);
        h->buf = NULL;
        h->cap = h->pos = h->end = 0;
        *total += f[i].size - f[i].rows;
    }
    return 0;
}

static void files_free(File *f, uint32_t n)
{
    for (uint32_t i = 0; f && i < n; i++) {
        ki_src_close(&f[i].hdr);
        free(f[i].hdr.msg);
    }
    free(f);
}

uint32_t ki_jobs(const KrOptions *opt)
{
    if (opt->jobs) return opt->jobs;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (uint32_t)c : 1u;
}

bool ki_tight_memory(void)
{
    /* under a tight address-space limit (ulimit -v below AS_MIN) the few
     * MiB threads need are not worth risking: read on one thread */
    struct rlimit rl;
    return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < AS_MIN;
}

int ki_par_files(KiSrc *srcs, uint32_t nsrcs, KrInputCtx *c, const KiParts *kp,
                 int (*seq)(KiSrc *s, uint64_t start, uint64_t line))
{
    uint32_t n = kp->n < KI_PARTS_MAX ? kp->n : KI_PARTS_MAX;
    if (n < 2u || nsrcs == 0 || ki_tight_memory()) return 1;
    KrInputCtx quiet = *c;
    quiet.kinds = NULL;               /* (headers name no events) */
    quiet.kind_named = NULL;
    quiet.err = NULL;
    File *f = calloc(nsrcs, sizeof *f);
    uint64_t total;
    if (!f || read_headers(srcs, nsrcs, &quiet, f, &total) != 0) { files_free(f, nsrcs); return 1; }
    if (total / n < MIN_PART) n = (uint32_t)(total / MIN_PART);
    Pos at[KI_PARTS_MAX + 1u];
    if (n >= 2u) n = cuts(f, nsrcs, total, at, n);
    if (n < 2u) { files_free(f, nsrcs); return 1; }
    at[n] = (Pos){ nsrcs, 0 };        /* the end */
    Part *g = calloc(n, sizeof *g);
    Win *wins = calloc((size_t)nsrcs + n, sizeof *wins);
    if (!g || !wins) { free(g); free(wins); files_free(f, nsrcs); return 1; }
    Win *wp = wins;
    for (uint32_t i = 0; i < n; i++) {
        /* windows from at[i] up to at[i + 1] */
        g[i].w = wp;
        for (uint32_t j = at[i].file; j < nsrcs && j <= at[i + 1u].file; j++) {
            uint64_t start = j == at[i].file ? at[i].off : f[j].rows;
            uint64_t stop = j == at[i + 1u].file ? at[i + 1u].off : f[j].size;
            if (stop <= start) continue;
            *wp++ = (Win){ j, start, stop == f[j].size ? 0 : stop, 0 };   /* 0: to the end */
        }
        g[i].nw = (uint32_t)(wp - g[i].w);
        g[i].ctx = *c;                /* the shared read-only tables */
        memset(g[i].ctx.memo, 0, sizeof g[i].ctx.memo);
        g[i].ctx.err = NULL;          /* a message is printed by the sequential read */
        g[i].ctx.spill_fd = -1;
        g[i].ctx.spill_end = 0;
        g[i].ctx.rows_read = g[i].ctx.rows_skipped = 0;
        g[i].ctx.other_shards_latest = INT64_MIN;
        ki_kinds_begin(&g[i].ctx);
        g[i].ctx.sink = kp->sink;
        g[i].ctx.sink_arg = kp->arg[i];
        if (i > 0) {
            g[i].ctx.customers = kr_pool_new();
            g[i].ctx.values = kr_pool_new();
        }
        g[i].parts = kp;
        g[i].idx = i;
        g[i].files = f;
    }
    pthread_attr_t attr;             /* parsing needs little stack */
    bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok) pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_t th[KI_PARTS_MAX];
    bool started[KI_PARTS_MAX] = { false };
    for (uint32_t i = 1; i < n; i++)
        started[i] = kr_thread_start(&th[i], attr_ok ? &attr : NULL, parse, &g[i]) == 0;
    if (attr_ok) pthread_attr_destroy(&attr);
    parse(&g[0]);
    for (uint32_t i = 1; i < n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    parallel_total++;
    /* the first part that failed (or was never started): it and those after it are read again */
    uint32_t fp = 0;
    while (fp < n && g[fp].ok) fp++;
    int rc = 0;
    for (uint32_t i = 0; i < fp && rc == 0; i++) {
        if (i > 0) {
            uint32_t nc, nv;
            uint32_t *cm = map_pool(c->customers, g[i].ctx.customers, &nc);
            uint32_t *vm = cm ? map_pool(c->values, g[i].ctx.values, &nv) : NULL;
            if (!vm || kp->remap(kp->arg[i], cm, nc, vm, nv) != 0) {
                free(cm);
                free(vm);
                rc = ki_error(&srcs[0], 0, 0, "out of memory");
                break;
            }
        }
        c->rows_read += g[i].ctx.rows_read;
        c->rows_skipped += g[i].ctx.rows_skipped;
        ki_kinds_merge(c, &g[i].ctx);
        if (g[i].ctx.other_shards_latest > c->other_shards_latest)
            c->other_shards_latest = g[i].ctx.other_shards_latest;
    }
    atomic_store(c->par_bytes, 0);
    for (uint32_t j = 0; j < (fp < n ? at[fp].file : nsrcs); j++) srcs[j].bytes = f[j].size;   /* read whole */
    for (uint32_t i = fp; i < n; i++) kp->drop(kp->arg[i]);
    if (rc == 0 && fp < n) {
        /* read on sequentially from part fp's start, into part fp (the
         * shared pools' ids: no map): its file from that offset, with the
         * line number the parts before counted, then every file after */
        fallbacks_total++;
        uint32_t j = at[fp].file;
        uint64_t line = f[j].line;
        for (uint32_t i = 0; i < fp; i++)
            for (uint32_t k = 0; k < g[i].nw; k++)
                if (g[i].w[k].file == j) line += g[i].w[k].lines;
        c->sink = kp->sink;
        c->sink_arg = kp->arg[fp];
        if (kp->begin(kp->arg[fp]) != 0) rc = ki_error(&srcs[j], 0, 0, "out of memory");
        for (; rc == 0 && j < nsrcs; j++) {
            c->sink_file = j;
            bool mid = j == at[fp].file && at[fp].off > f[j].rows;
            rc = seq(&srcs[j], mid ? at[fp].off : 0, mid ? line : 0);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        ki_kinds_free(&g[i].ctx);     /* a part read again, or not merged after a failure */
        if (i > 0) {
            kr_pool_free(g[i].ctx.customers);
            kr_pool_free(g[i].ctx.values);
        }
    }
    free(g);
    free(wins);
    files_free(f, nsrcs);
    return rc == 0 ? 0 : -1;
}
