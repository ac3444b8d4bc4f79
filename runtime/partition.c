/* partition.c -- the partitioned replay (kp_ of internal.h), used by
 * `kairos simulate` (SPEC.md section 5.7) and, with one engine per policy
 * (lanes), by diff, readout and report (multi.c).
 *
 * Customers are independent (LANGUAGE.md section 4), so the replay does
 * not need the whole log in one time order, only each customer's events in
 * theirs.  Pass 1 (kp_read) reads the inputs once, in command-line order,
 * and appends each kept row as a fixed-layout record to the bucket of its
 * customer: a hash of the customer id's bytes modulo the bucket count, a
 * power of two chosen from the input size so that a bucket holds a few MiB
 * of records.  Past the memory budget (an eighth of --memory), every
 * bucket's records are written to one unlinked temporary file, as a chunk
 * per bucket, and the buffers start again.  Large files are read in
 * parts at once (ki_drain_parts, input_par.c): each part (Part) keeps its
 * records per bucket apart (Seg), with its own pages, its share of the
 * budget and customer ids of its own pool until the parts are read; a
 * bucket's records are its segments in part order, which is input order.
 *
 * Pass 2 (kp_replay) replays each bucket with an engine of its own (its
 * customers interned in a pool of their own, in the order of their first
 * record; a part's records are put in the shared pools' ids first): the bucket's
 * records are fed to the engine in time order as they lie, or customer by
 * customer when they are grouped so (each customer finished at the horizon
 * before the next: customers are independent), or else after a stable
 * radix sort by time (ties stay in input order: files in command-line
 * order, rows in file order, the same rule as the reader's merge); the
 * engine finishes at the common horizon (replay_bucket).  Buckets go to
 * worker threads (--jobs); each collects its schedule rows, put in the
 * schedule's order, and the rows of all
 * buckets are merged at the end.  Statistics are sums, so they do not
 * depend on the number of threads or the order the buckets were replayed.
 *
 * Lanes: the records are in the indexes of the reader image given to
 * kp_new_lanes (for diff: the union of two policies' names, multi.c); each
 * bucket is replayed by one engine per lane image, every record translated
 * to that image's event and attribute indexes (and attributes), and each
 * lane's rows are merged on their own.  A lane whose image reads the
 * records as they are (the reader image itself, or one with the same
 * names and kept attributes) skips the translation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "../lang/util.h"

#define NB_MIN      64u              /* buckets, at least */
#define NB_MAX      65536u           /* ... at most */
#define NB_INPUT    (2u << 20)       /* input bytes per bucket aimed at */
#define JOBS_MAX    64u
#define BUFFER_MAX  (8ull << 20)     /* records buffered, at most (and schedule rows kept: a quarter) */
#define PAGE_MIN    (1u << 10)       /* record pages: budget / (2 * buckets), within these */
#define PAGE_MAX    (64u << 10)

/* A record: a header, then nattrs attribute indexes (uint32_t, padded to
 * 8 bytes), then nattrs values.  No file or line: the engine prints no row
 * messages (bad rows are reported in pass 1).  The header is 16 bytes
 * (PRec16: event and attribute count in 16 bits each, event 0xffff for
 * KB_NONE) when the image has fewer than 65,535 events and at most 65,535
 * attributes, else 24 (PRec, KpRun.wide); PRec is what both decode to. */
typedef struct PRec {
    int64_t time;
    uint32_t cust;                /* global customer pool id */
    uint32_t event;
    uint32_t nattrs;
    uint32_t pad;
} PRec;

typedef struct PRec16 {
    int64_t time;
    uint32_t cust;
    uint16_t event, nattrs;
} PRec16;

static inline size_t rec_head(bool wide) { return wide ? sizeof(PRec) : sizeof(PRec16); }

/* Where a record of n attributes has its values; its size. */
static inline size_t rec_vals(bool wide, uint32_t n) { return rec_head(wide) + (((size_t)n * 4u + 7u) & ~(size_t)7u); }
static inline size_t rec_size(bool wide, uint32_t n) { return rec_vals(wide, n) + (size_t)n * sizeof(KrValue); }

/* The header at q; returns the size of the record. */
static inline size_t rec_get(bool wide, const char *q, PRec *h)
{
    if (wide) memcpy(h, q, sizeof *h);
    else {
        PRec16 c;
        memcpy(&c, q, sizeof c);
        *h = (PRec){ c.time, c.cust, c.event == 0xffffu ? KB_NONE : c.event, c.nattrs, 0 };
    }
    return rec_size(wide, h->nattrs);
}

/* rec_event -- the record at q as an event (its customer id as stored);
 * returns the record's size. */
static inline size_t rec_event(bool wide, const char *q, KrEvent *ev)
{
    PRec h;
    size_t size = rec_get(wide, q, &h);
    *ev = (KrEvent){ h.time, h.cust, h.event, h.nattrs, (const uint32_t *)(const void *)(q + rec_head(wide)),
                     (const KrValue *)(const void *)(q + rec_vals(wide, h.nattrs)), "", 0, 0 };
    return size;
}

typedef struct Chunk { uint64_t off; size_t len; } Chunk;

/* Records not spilled yet lie in pages of KpRun.psize bytes (a record never
 * straddles two; a record larger than a page gets a page of its own size),
 * taken from one free list: pass 1 allocates at most its budget, whatever
 * the log's length and order, and never copies a record to grow a buffer. */
typedef struct Page {
    struct Page *next;
    size_t len, cap;              /* bytes used, bytes of data[] */
    char data[];                  /* records (the header is 24 bytes: 8-aligned) */
} Page;

/* One lane's schedule rows of one bucket. */
typedef struct Rows {
    KrRow *rows; size_t nrows, caprows;           /* replay's rows, in order */
    /* rows moved to the temporary file (rows_spilled of them at rows_off);
     * the merge then reads them back through rows[0, caprows) */
    uint64_t rows_off, rows_spilled, rows_read;
    size_t rpos;                  /* merge position in rows[0, nrows) */
    /* rows[rpos]'s time and idkey, copied beside the heap by head_key so
     * that a comparison does not follow k->rows (reading them from the rows
     * measured 2 % slower on 12M events of 1M customers) */
    int64_t key_time; uint64_t key_id[2];
} Rows;

/* A bucket's records from one part of the input (KiParts; one part when
 * the input is read on one thread). */
typedef struct Seg {
    /* what routing a record touches, first (one cache line): the tail
     * page's free room, so that the page's own header is not read per
     * record (tail->len is brought up to date by seg_close) */
    char *cur, *lim;              /* the tail page's free room, or NULL, NULL */
    size_t len;                   /* bytes of the records not spilled */
    int64_t first, last;          /* time of the first and the last record */
    bool any, unsorted;           /* records came; not in time order */
    bool pages_shared;            /* its pages' records have the shared pools' ids (walk_rows,
                                     replay_bucket) */
    uint32_t last_cust, runs;     /* customer of the last record; runs of one customer's
                                     records (a hint for replay_bucket: a log grouped by
                                     customer has far fewer runs than records) */
    uint64_t nrec;                /* records */
    Page *head, *tail;            /* the records not spilled */
    Chunk *chunks; uint32_t nchunks, capchunks;   /* spilled, in order */
} Seg;

typedef struct Bucket {
    Rows out[KP_LANES];           /* per lane */
} Bucket;

/* One part of pass 1, read on a thread of its own: its pages and budget,
 * and once it is read the maps from its records' customer and value ids to
 * the shared pools' (cmap, vmap; NULL: the ids are the shared pools'). */
typedef struct Part {
    _Alignas(128) struct KpRun *r;   /* (a part's thread writes its Part per row: no
                                         cache line shared with another part's) */
    uint32_t idx;
    uint32_t *cmap, *vmap; uint32_t nc, nv;
    Page *free_pages;             /* pages spilled, for reuse */
    size_t buffered, budget, peak, psize;   /* bytes of pages allocated, the most before
                                               spilling, the most of buffered, the page size */
    bool nospill;
    bool began;                   /* read in parts (KiParts.begin): on_row waits for walk_rows */
    int64_t first_time, last_time;   /* the earliest and latest row's time */
    uint64_t nrows;
    /* rows of an event the image does not name (none_row): per customer
     * (this part's ids) whether one is recorded (a bit); the customer and
     * time of the last one recorded; the rows counted instead of recorded */
    uint64_t *none_bits; uint32_t none_cap;
    uint32_t none_last; int64_t none_last_time;
    uint64_t none_counted;
} Part;

#define ROWS_BACK 256u            /* rows read back at a time per spilled bucket, at most */
#define RUN_FANIN_DEFAULT 64u     /* runs of one bucket's rows merged at once (keep_runs) */
static uint32_t RUN_FANIN = RUN_FANIN_DEFAULT;
static size_t RUN_ROWS_FORCED;       /* kp_row_runs_force */
static size_t LOAD_LIMIT_FORCED;     /* kp_load_limit_force */

void kp_load_limit_force(size_t bytes) { LOAD_LIMIT_FORCED = bytes; }

void kp_row_runs_force(size_t rows, uint32_t fanin)
{
    RUN_ROWS_FORCED = rows;
    RUN_FANIN = fanin < 2u ? RUN_FANIN_DEFAULT : fanin;
}

/* A run of a bucket's rows in the temporary file, in the schedule's order. */
typedef struct RowRun { uint64_t off, n; } RowRun;

/* A record's place in the replay order. */
typedef struct Ord { uint64_t key; const char *rec; } Ord;

/* What a worker sums over the buckets it replayed, per lane; and the
 * lane's translated attributes of the record being fed. */
typedef struct AccLane {
    uint64_t events, customers;
    uint64_t (*st)[KR_ST__COUNT];
    uint8_t *carried, *seen;
    KrTypeTally *types;
    KrBadZones badz;
    uint32_t *ids; KrValue *vals;
    KrRow *rows; size_t nrows, caprows;   /* the bucket's rows as emitted (kept from bucket to bucket) */
    /* the bucket's rows past KpRun.run_rows, each run_rows of them put in
     * order and written to the temporary file as a run (write_run) */
    RowRun *runs; size_t nruns, capruns;
    bool norun;                   /* a run could not be written: the rest stay in memory */
} AccLane;

typedef struct Acc {
    KpRun *run;
    AccLane l[KP_LANES];
    int fail;                     /* 0, -1 memory, -2 emit */
    Ord *ord, *tmp; size_t capord;   /* scratch, kept from bucket to bucket */
    KrRow *rtmp; size_t caprtmp;     /* ... and sort_rows' */
    char *chunk; size_t capchunk;    /* a spilled chunk read back */
    KrPool *pool; uint32_t ncust;    /* the bucket's customers, in the order of their first record */
    uint32_t *l2g; uint32_t capl2g;  /* ... their ids in the shared pool */
    uint64_t *lt; uint32_t ltmask;   /* ... and back (local_id) */
    bool oom;                        /* out of memory (stops every worker) */
    uint32_t fail_bucket;            /* the earliest bucket that hit a limit */
    int64_t fail_time, errtime;      /* its failure time; this bucket's */
    char errmsg[512], firstmsg[512]; /* the engine's message: this bucket's, the lowest's */
} Acc;

/* One KrTypeTally per trigger attribute read of img, none counted yet. */
static KrTypeTally *tallies_new(const KImage *img)
{
    KrTypeTally *t = calloc(img->nattr_reads + 1u, sizeof *t);
    for (uint32_t i = 0; t && i <= img->nattr_reads; i++) t[i].first_time = INT64_MAX;
    return t;
}

/* An engine's view of the records (pass 2). */
typedef struct Lane {
    const KImage *img;
    bool ident;                   /* the records are already in img's terms */
    uint32_t *evmap;              /* reader event -> img event or KB_NONE */
    uint32_t *atmap;              /* reader attribute -> img attribute or KB_NONE */
    uint64_t *bits; uint32_t words;   /* ki_image_wants of img */
    KrStats stats;                /* summed over the buckets */
    uint8_t *carried, *seen;
    KrTypeTally *types;
    KrBadZones badz;
} Lane;

struct KpRun {
    const KImage *img;               /* the reader image: the records' indexes */
    Lane lane[KP_LANES]; uint32_t nlanes;
    int (*on_row)(void *ctx, const KrEvent *ev); void *on_row_ctx;
    const KrOptions *opt;
    KrPool *customers, *values;
    Bucket *b; uint32_t nb;
    Seg *seg;                        /* part p's records of bucket i: seg[p * nb + i] */
    Part *part; uint32_t nparts;     /* (aligned_alloc: see Part) */
    bool wide;                       /* 24-byte record headers (see PRec) */
    size_t budget;                   /* bytes of pages, at most, all parts together */
    uint32_t rows_back;              /* rows a spilled bucket reads back at a time */
    uint64_t memory;                 /* --memory, or the default */
    size_t load_limit;               /* bytes a worker loads of an unsorted bucket, at most
                                        (more: external_bycust) */
    atomic_uint_fast64_t sorted_runs;   /* runs an unsorted bucket was sorted in (kp_sorted_runs) */
    size_t run_rows;                 /* rows a worker holds per lane while replaying a
                                        bucket; past them, runs (write_run) */
    int spill_fd;
    atomic_uint_fast64_t spill_end;  /* end of the temporary file */
    atomic_uint_fast64_t spilled;    /* bytes of records written to it */
    atomic_size_t rows_mem;          /* pass 2: bytes of rows kept in memory */
    pthread_mutex_t spill_lock;      /* creating the temporary file (parts, workers) */
    int64_t first_time, last_time;
    /* the progress line (opt->progress on a terminal) */
    KrInput *in; FILE *err; bool progress, shown;
    double start;
    atomic_uint_fast64_t nrows;      /* rows routed, counted by every part in steps of 65,536 */
    /* pass 2 */
    int64_t horizon;
    atomic_uint next;
    atomic_int failed;
    /* when the run fails (kr_every_bound_first): its earliest customer's
     * first event, past which every engine is cut (KrEngineOpts) */
    bool has_deadline;
    int64_t deadline;
    atomic_uint_fast64_t row_runs;   /* runs of rows written (write_run; kp_row_runs) */
    atomic_uint grouped, regrouped;  /* buckets replayed customer by customer as they lay;
                                        taken for such and not, then sorted by customer
                                        (kp_bucket_modes) */
    char errmsg[512];                /* an engine limit's message, or "" */
};

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* lane_init -- lane l reads the records of reader image u through img:
 * the maps of names, img's kept attributes, and whether the records can go
 * to img's engine as they are (same names at the same indexes, the same
 * attributes kept per event).  0, or -1 out of memory. */
static int lane_init(Lane *l, const KImage *u, const KImage *img)
{
    l->img = img;
    l->evmap = calloc(u->nevents + 1u, sizeof *l->evmap);
    l->atmap = calloc(u->nattrs + 1u, sizeof *l->atmap);
    l->words = img->nattrs / 64u + 1u;
    l->bits = calloc((size_t)(img->nevents + 1u) * l->words, sizeof *l->bits);
    l->stats.nrules = img->nrules;
    l->stats.rule = calloc(img->nrules + 1u, sizeof *l->stats.rule);
    l->carried = calloc(img->nattr_reads + 1u, 1);
    l->seen = calloc(img->nevents + 1u, 1);
    l->types = tallies_new(img);
    if (!l->evmap || !l->atmap || !l->bits || !l->stats.rule || !l->carried || !l->seen || !l->types) return -1;
    ki_image_wants(img, l->bits, l->words);
    if (img == u) { l->ident = true; return 0; }
    bool same = u->nevents == img->nevents && u->nattrs == img->nattrs;
    for (uint32_t e = 0; e < u->nevents; e++) {
        l->evmap[e] = kb_find_event(img, u->strings[u->events[e]]);
        same = same && l->evmap[e] == e;
    }
    for (uint32_t a = 0; a < u->nattrs; a++) {
        l->atmap[a] = kb_find_attr(img, u->strings[u->attrs[a]]);
        same = same && l->atmap[a] == a;
    }
    if (same) {
        uint64_t *ub = calloc((size_t)(u->nevents + 1u) * l->words, sizeof *ub);
        if (!ub) return -1;
        ki_image_wants(u, ub, l->words);
        same = memcmp(ub, l->bits, (size_t)u->nevents * l->words * sizeof *ub) == 0;
        free(ub);
    }
    l->ident = same;
    return 0;
}

static void lane_free(Lane *l)
{
    free(l->evmap); free(l->atmap); free(l->bits);
    free(l->stats.rule); free(l->carried); free(l->seen); free(l->types);
}

/* ---- pass 1 --------------------------------------------------------------- */

static void part_budget(Part *w, size_t budget);
static int walk_rows(KpRun *r);

KpRun *kp_new(const KImage *img, const KrOptions *opt, KrPool *customers, KrPool *values)
{
    return kp_new_lanes(img, &img, 1, opt, customers, values);
}

void kp_on_row(KpRun *r, int (*fn)(void *ctx, const KrEvent *ev), void *ctx)
{
    r->on_row = fn;
    r->on_row_ctx = ctx;
}


KpRun *kp_new_lanes(const KImage *u, const KImage *const *imgs, uint32_t n, const KrOptions *opt,
                    KrPool *customers, KrPool *values)
{
    KpRun *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->spill_lock, NULL);
    r->spill_fd = -1;
    r->img = u;
    r->nlanes = n < KP_LANES ? n : KP_LANES;
    for (uint32_t k = 0; k < r->nlanes; k++)
        if (lane_init(&r->lane[k], u, imgs[k]) != 0) { kp_free(r); return NULL; }
    r->opt = opt;
    r->customers = customers;
    r->values = values;
    r->first_time = INT64_MAX;
    r->last_time = INT64_MIN;
    r->wide = u->nevents >= 0xffffu || u->nattrs > 0xffffu;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < opt->ninputs; i++) {
        struct stat st;
        const char *p = opt->inputs[i];
        size_t n = strlen(p);
        if (strcmp(p, "-") == 0 || stat(p, &st) != 0) continue;
        bytes += (uint64_t)st.st_size * (n > 3 && strcmp(p + n - 3, ".gz") == 0 ? 6u : 1u);
    }
    r->nb = NB_MIN;
    while (r->nb < NB_MAX && (uint64_t)r->nb * NB_INPUT < bytes) r->nb *= 2u;
    /* parts: one per thread, for inputs read in parts (input_par.c) */
    uint32_t jobs = ki_jobs(opt);
    r->nparts = jobs < KI_PARTS_MAX ? jobs : KI_PARTS_MAX;
    /* the budget: an eighth of --memory, at most BUFFER_MAX, shared by the
     * parts (8 MiB per part measured 20 % slower on 10M events of 100,000
     * customers: larger pages, more cache misses routing a row) */
    uint64_t mem = opt->memory ? opt->memory : KR_MEMORY_DEFAULT;
    r->memory = mem;
    r->budget = (size_t)(mem / 8u < BUFFER_MAX ? mem / 8u : BUFFER_MAX);
    if (r->budget < (64u << 10)) r->budget = 64u << 10;
    r->b = calloc(r->nb, sizeof *r->b);
    r->seg = calloc((size_t)r->nparts * r->nb, sizeof *r->seg);
    r->part = aligned_alloc(_Alignof(Part), r->nparts * sizeof *r->part);
    if (!r->b || !r->seg || !r->part) { kp_free(r); return NULL; }
    for (uint32_t p = 0; p < r->nparts; p++) {
        r->part[p] = (Part){ .r = r, .idx = p, .first_time = INT64_MAX, .last_time = INT64_MIN };
        part_budget(&r->part[p], r->budget);      /* read on one thread */
    }
    return r;
}

/* part_budget -- part w may buffer `budget` bytes of records: its page size
 * (half the budget spread over the buckets, within PAGE_MIN..PAGE_MAX). */
static void part_budget(Part *w, size_t budget)
{
    KpRun *r = w->r;
    w->budget = budget;
    w->psize = budget / (2u * r->nb);
    if (w->psize < PAGE_MIN) w->psize = PAGE_MIN;
    if (w->psize > PAGE_MAX) w->psize = PAGE_MAX;
}

/* spill_open -- the temporary file (created on first use in $TMPDIR or
 * /tmp, unlinked at once; under spill_lock: parts and workers share it). */
static int spill_open(KpRun *r)
{
    pthread_mutex_lock(&r->spill_lock);
    int rc = 0;
    if (r->spill_fd < 0) {
        int fd = kr_temp_fd("kairos-part");
        if (fd < 0) rc = -1;
        else r->spill_fd = fd;
    }
    pthread_mutex_unlock(&r->spill_lock);
    return rc;
}

/* Writes the iovecs v[0, n) at `at` of the temporary file (v is used up);
 * 0 or -1. */
static int writev_at(int fd, struct iovec *v, size_t n, uint64_t at)
{
    while (n > 0) {
        ssize_t w = pwritev(fd, v, n > 1024 ? 1024 : (int)n, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        at += (uint64_t)w;
        size_t got = (size_t)w;
        while (n > 0 && got >= v->iov_len) { got -= v->iov_len; v++; n--; }
        if (n > 0) {                  /* written in part */
            v->iov_base = (char *)v->iov_base + got;
            v->iov_len -= got;
        }
    }
    return 0;
}

/* pages_free -- frees the list of pages from p. */
static void pages_free(Page *p)
{
    for (Page *n; p; p = n) {
        n = p->next;
        free(p);
    }
}

static void page_release(Part *w, Page *p)
{
    if (p->cap > w->psize) {          /* a record's own page */
        w->buffered -= p->cap;
        free(p);
        return;
    }
    p->next = w->free_pages;
    w->free_pages = p;
}

/* bucket_of -- the bucket of a row whose customer id hashes to route
 * (KrEvent.route): from the id's bytes, the same in every part whatever
 * the part's pool ids; from the top 16 bits of the hash, not from the low
 * bits of its high half: those are a pool's table index, and a bucket's
 * customers all sharing them would pile up in one run of its pool's
 * table (nb <= 65,536). */
static inline uint32_t bucket_of(const KpRun *r, uint32_t route)
{
    return (route >> 16) & (r->nb - 1u);
}

static inline Seg *seg_of(const KpRun *r, uint32_t part, uint32_t bucket)
{
    return &r->seg[(size_t)part * r->nb + bucket];
}

/* seg_close -- the tail page's len from the bucket's write position (sink
 * keeps only that): before its pages are read or spilled. */
static void seg_close(Seg *k)
{
    if (k->tail) k->tail->len = (size_t)(k->cur - k->tail->data);
}

/* spill_all -- appends every bucket's records of part w to the temporary
 * file (one contiguous region: a chunk per bucket, in bucket order) and
 * puts their pages on the free list.  If that fails the records stay in
 * memory from then on. */
static void spill_all(Part *w)
{
    KpRun *r = w->r;
    if (spill_open(r) != 0) { w->nospill = true; return; }
    size_t nv = 0, capv = 0, total = 0;
    for (uint32_t i = 0; i < r->nb; i++) {
        Seg *k = seg_of(r, w->idx, i);
        seg_close(k);
        for (Page *p = k->head; p; p = p->next) capv++;
    }
    struct iovec *v = malloc((capv ? capv : 1u) * sizeof *v);
    if (!v) { w->nospill = true; return; }
    for (uint32_t i = 0; i < r->nb; i++) {
        Seg *k = seg_of(r, w->idx, i);
        if (!k->len) continue;
        if (k->nchunks == k->capchunks) {
            uint32_t nc = k->capchunks ? k->capchunks * 2u : 4u;
            Chunk *c = realloc(k->chunks, nc * sizeof *c);
            if (!c) { free(v); w->nospill = true; return; }
            k->chunks = c;
            k->capchunks = nc;
        }
        for (Page *p = k->head; p; p = p->next)
            if (p->len) v[nv++] = (struct iovec){ p->data, p->len };
        total += k->len;
    }
    uint64_t off = atomic_fetch_add(&r->spill_end, total);
    if (writev_at(r->spill_fd, v, nv, off) != 0) {
        free(v);
        w->nospill = true;        /* disk full: the partial region is ignored */
        return;
    }
    free(v);
    atomic_fetch_add(&r->spilled, total);
    for (uint32_t i = 0; i < r->nb; i++) {
        Seg *k = seg_of(r, w->idx, i);
        if (k->len) {
            k->chunks[k->nchunks++] = (Chunk){ off, k->len };
            off += k->len;
        }
        for (Page *p = k->head, *n; p; p = n) {
            n = p->next;
            page_release(w, p);
        }
        k->head = k->tail = NULL;
        k->cur = k->lim = NULL;
        k->len = 0;
    }
}

/* A page with room for need bytes (spilling first when the budget is
 * reached); NULL when out of memory. */
static Page *page_get(Part *w, size_t need)
{
    if (need <= w->psize && w->free_pages) {
        Page *p = w->free_pages;
        w->free_pages = p->next;
        p->next = NULL;
        p->len = 0;
        return p;
    }
    size_t cap = need > w->psize ? need : w->psize;
    if (w->buffered + cap > w->budget && !w->nospill) {
        spill_all(w);
        if (need <= w->psize && w->free_pages) return page_get(w, need);
    }
    Page *p = malloc(sizeof *p + cap);
    if (!p) return NULL;
    p->next = NULL;
    p->len = 0;
    p->cap = cap;
    w->buffered += cap;
    if (w->buffered > w->peak) w->peak = w->buffered;
    return p;
}

/* none_row -- whether a row of an event the image does not name is only
 * counted: the engine reads nothing of it but its time, which matters only
 * when it is the customer's first event (new_customer: the customer count,
 * `every` boundaries) and otherwise only advances the clock, which the next
 * record or the finish does as well (timers fire in due order whatever the
 * steps).  So such a row is counted only when a row of its customer with
 * an earlier or equal time is known to be recorded in this part, and
 * recorded otherwise: the earliest is always among those recorded, in
 * every part.  Known: a bit per customer says one is recorded, and either
 * no row before this one in the part has a later time (at_max: a log in
 * time order), or the last row recorded is of the same customer and not
 * later (a log grouped by customer).  In a shuffled log most such rows are
 * recorded (as all were before).  One bit per customer, no times: a time
 * per customer cost 8 bytes each and a cache miss per row with many.  Not
 * when the rows are looked at (on_row: from the records, for inputs read
 * in parts), nor when the bits cannot grow (recorded then). */
static bool none_row(Part *w, const KrEvent *ev, bool at_max)
{
    uint32_t ci = ev->customer;
    if (ci >= w->none_cap) {
        uint32_t nc = w->none_cap ? w->none_cap : 1024u;
        while (nc <= ci && nc < (1u << 31)) nc *= 2u;
        if (nc <= ci) return false;
        uint64_t *b = realloc(w->none_bits, (size_t)nc / 64u * sizeof *b);
        if (!b) return false;
        memset(b + w->none_cap / 64u, 0, (size_t)(nc - w->none_cap) / 64u * sizeof *b);
        w->none_bits = b;
        w->none_cap = nc;
    }
    uint64_t *word = &w->none_bits[ci / 64u], bit = 1ull << (ci % 64u);
    if ((*word & bit) && (at_max || (ci == w->none_last && w->none_last_time <= ev->time))) {
        w->none_counted++;
        return true;
    }
    *word |= bit;
    w->none_last = ci;
    w->none_last_time = ev->time;
    return false;
}

/* none_forget -- part w's none_row bits go (pass 1 is over, or the part
 * is dropped and its ids with it). */
static void none_forget(Part *w)
{
    free(w->none_bits);
    w->none_bits = NULL;
    w->none_cap = 0;
}

static int sink(void *arg, uint32_t file, const KrEvent *ev)
{
    Part *w = arg;
    KpRun *r = w->r;
    if (r->on_row && !w->began && r->on_row(r->on_row_ctx, ev) != 0) return -1;
    bool at_max = ev->time >= w->last_time;
    if (at_max) w->last_time = ev->time;
    if (ev->time < w->first_time) w->first_time = ev->time;
    if (ev->event == KB_NONE && !r->on_row && none_row(w, ev, at_max)) goto counted;
    Seg *k = seg_of(r, w->idx, bucket_of(r, ev->route));
    size_t need = rec_size(r->wide, ev->nattrs);
    char *d = k->cur;
    if (!d || (size_t)(k->lim - d) < need) {
        seg_close(k);
        Page *pg = page_get(w, need);                 /* may spill: k emptied */
        if (!pg) return -1;
        if (k->tail) k->tail->next = pg;
        else k->head = pg;
        k->tail = pg;
        d = pg->data;
        k->lim = pg->data + pg->cap;
    }
    k->cur = d + need;
    if (!k->any) k->first = ev->time;
    else if (ev->time < k->last) k->unsorted = true;
    k->any = true;
    k->last = ev->time;
    k->runs += k->nrec == 0 || ev->customer != k->last_cust;
    k->last_cust = ev->customer;
    k->nrec++;
    if (r->wide) {
        PRec h = { ev->time, ev->customer, ev->event, ev->nattrs, 0 };
        memcpy(d, &h, sizeof h);
        d += sizeof h;
    } else {
        PRec16 h = { ev->time, ev->customer, ev->event == KB_NONE ? 0xffffu : (uint16_t)ev->event,
                     (uint16_t)ev->nattrs };
        memcpy(d, &h, sizeof h);
        d += sizeof h;
    }
    if (ev->nattrs) {
        memcpy(d, ev->attr_ids, (size_t)ev->nattrs * 4u);
        d += ((size_t)ev->nattrs * 4u + 7u) & ~(size_t)7u;
        memcpy(d, ev->attr_vals, (size_t)ev->nattrs * sizeof(KrValue));
    }
    k->len += need;
counted:
    (void)file;
    if (r->progress && ++w->nrows % 65536u == 0) {
        /* every part counts; the first one prints */
        uint64_t all = atomic_fetch_add_explicit(&r->nrows, 65536u, memory_order_relaxed) + 65536u;
        double el = w->idx == 0 ? seconds() - r->start : 0;
        if (el > 1.0) {
            fprintf(r->err, "\rkairos: %llu events, %.1f MB read, %.1f s", (unsigned long long)all,
                    (double)ki_bytes_read(r->in) / 1e6, el);
            r->shown = true;
        }
    }
    return 0;
}

/* sink_ahead -- KiParts.ahead: where a row of that route will be appended
 * starts loading, for writing (the reader knows a batch of routes before
 * the rows come).  With hundreds of buckets written in turn, the record's
 * line is most often not in the caches, and a store that misses, with
 * others queued behind it, stalls the row's parsing: 0.95x on 12M events
 * of 1M customers against loading only the segment.  The segment itself
 * is read here; loading it a batch ahead and its record's line a few rows
 * ahead measured no better. */
static void sink_ahead(void *arg, uint32_t route)
{
    const Part *w = arg;
    const KpRun *r = w->r;
#if defined(__GNUC__)
    const Seg *k = seg_of(r, w->idx, bucket_of(r, route));
    if (k->cur) {                  /* the record may reach into the next line */
        __builtin_prefetch(k->cur, 1);
        __builtin_prefetch(k->cur + 63, 1);
    }
#else
    (void)r;
#endif
}

/* KiParts' callbacks (internal.h): part w begins (with its share of the
 * budget); forgets its records; takes its maps. */
static int part_begin(void *arg)
{
    Part *w = arg;
    part_budget(w, w->r->budget / w->r->nparts);
    w->began = true;
    return 0;
}

static void part_drop(void *arg)
{
    Part *w = arg;
    KpRun *r = w->r;
    for (uint32_t i = 0; i < r->nb; i++) {
        Seg *k = seg_of(r, w->idx, i);
        for (Page *p = k->head, *n; p; p = n) {
            n = p->next;
            page_release(w, p);
        }
        free(k->chunks);
        *k = (Seg){ 0 };
    }
    w->first_time = INT64_MAX;
    w->last_time = INT64_MIN;
    none_forget(w);
    w->none_counted = 0;
}

static int part_remap(void *arg, uint32_t *cmap, uint32_t nc, uint32_t *vmap, uint32_t nv)
{
    Part *w = arg;
    w->cmap = cmap;
    w->nc = nc;
    w->vmap = vmap;
    w->nv = nv;
    return 0;
}

int kp_read(KpRun *r, KrInput *in, FILE *err)
{
    r->in = in;
    r->err = err;
    r->progress = err && r->opt->progress && isatty(fileno(err));
    r->start = r->progress ? seconds() : 0;
    KiParts kp = { .n = r->nparts, .sink = sink,
                   .begin = part_begin, .drop = part_drop, .remap = part_remap, .ahead = sink_ahead };
    for (uint32_t p = 0; p < r->nparts; p++) kp.arg[p] = &r->part[p];
    int rc = ki_drain_parts(in, &kp);
    for (size_t i = 0; i < (size_t)r->nparts * r->nb; i++) seg_close(&r->seg[i]);
    if (rc == 0 && r->on_row && r->part[0].began && walk_rows(r) != 0) {
        if (err) fprintf(err, "kairos: out of memory\n");
        rc = -1;
    }
    for (uint32_t p = 0; p < r->nparts; p++) {
        Part *w = &r->part[p];
        if (w->last_time > r->last_time) r->last_time = w->last_time;
        if (w->first_time < r->first_time) r->first_time = w->first_time;
        pages_free(w->free_pages);                    /* pass 1 is over */
        w->free_pages = NULL;
        none_forget(w);
    }
    if (r->shown) fputs("\r\033[K", err);
    return rc;
}

int64_t kp_last_time(const KpRun *r) { return r->last_time; }
uint64_t kp_spilled(const KpRun *r) { return atomic_load(&r->spilled); }
uint64_t kp_rows_spilled(const KpRun *r)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < r->nb; i++)
        for (uint32_t k = 0; k < r->nlanes; k++) n += r->b[i].out[k].rows_spilled;
    return n;
}
uint64_t kp_row_runs(const KpRun *r) { return atomic_load(&r->row_runs); }
uint64_t kp_sorted_runs(const KpRun *r) { return atomic_load(&r->sorted_runs); }
uint32_t kp_buckets(const KpRun *r) { return r->nb; }
void kp_bucket_modes(const KpRun *r, uint32_t *grouped, uint32_t *regrouped)
{
    *grouped = atomic_load(&r->grouped);
    *regrouped = atomic_load(&r->regrouped);
}
size_t kp_buffered_peak(const KpRun *r)
{
    size_t n = 0;
    for (uint32_t p = 0; p < r->nparts; p++) n += r->part[p].peak;
    return n;
}
size_t kp_budget(const KpRun *r) { return r->budget; }

/* ---- pass 2 --------------------------------------------------------------- */


/* Stable LSD radix sort of o[0..n) by key: as few passes of at most 12
 * bits as the keys' range needs (two for up to 24 bits: 194 days of
 * seconds), the bits split evenly between them; tmp has room for n. */
static void radix_sort(Ord *o, Ord *tmp, size_t n, uint64_t maxkey)
{
    enum { MAXBITS = 12 };
    static _Thread_local size_t count[1u << MAXBITS];
    unsigned bits = 0;
    while (bits < 64 && (maxkey >> bits) != 0) bits++;
    if (bits == 0) return;
    unsigned passes = (bits + MAXBITS - 1) / MAXBITS, width = (bits + passes - 1) / passes;
    size_t radix = (size_t)1 << width, mask = radix - 1;
    Ord *src = o, *dst = tmp;
    for (unsigned sh = 0; sh < bits; sh += width) {
        memset(count, 0, radix * sizeof *count);
        for (size_t i = 0; i < n; i++) count[(src[i].key >> sh) & mask]++;
        size_t sum = 0;
        for (size_t i = 0; i < radix; i++) { size_t c = count[i]; count[i] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) dst[count[(src[i].key >> sh) & mask]++] = src[i];
        Ord *t = src; src = dst; dst = t;
    }
    if (src != o) memcpy(o, src, n * sizeof *o);
}

/* What bucket_emit needs: the lane's rows, the bucket's customers (l2g
 * grows while the bucket is fed), and for write_run the run, the worker,
 * the lane's image and whether the rows come customer after customer
 * (sorted before a run is written) or already in the schedule's order. */
typedef struct EmitCtx {
    AccLane *al; uint32_t *const *l2g; const KrPool *pool;
    KpRun *r; Acc *a; const KImage *img; bool bycust;
} EmitCtx;

static int sort_rows(const KpRun *r, const KImage *img, Acc *a, KrRow *rows, size_t n);

/* id_key -- KrRow.idkey of the customer id s (len bytes).  (kr_prefix16
 * turned to memcmp order does the same: the 1M bench log measured 5 % slower
 * with it, paired, 12M / 1M and 10M / 8k the same; kept as it was.) */
static void id_key(const char *s, size_t len, uint64_t key[2])
{
    unsigned char b[16] = { 0 };
    memcpy(b, s, len < 16u ? len : 16u);
    for (int w = 0; w < 2; w++) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | b[w * 8 + i];
        key[w] = v;
    }
}

/* write_run -- the rows the lane holds (x->al), put in the schedule's
 * order, appended to the temporary file as a run; the lane then holds
 * none.  0; 1 the file could not be written (the rows stay, and so do the
 * bucket's next ones: al->norun); -1 out of memory. */
static int write_run(const EmitCtx *x)
{
    AccLane *k = x->al;
    if (x->bycust && sort_rows(x->r, x->img, x->a, k->rows, k->nrows) != 0) return -1;
    if (KU_RESERVE(k->runs, k->nruns, k->capruns, 8) != 0) return -1;
    size_t bytes = k->nrows * sizeof *k->rows;
    if (spill_open(x->r) != 0) { k->norun = true; return 1; }
    uint64_t at = atomic_fetch_add(&x->r->spill_end, bytes);
    if (kr_write_at(x->r->spill_fd, k->rows, bytes, at) != 0) { k->norun = true; return 1; }
    k->runs[k->nruns++] = (RowRun){ at, k->nrows };
    k->nrows = 0;
    atomic_fetch_add(&x->r->row_runs, 1u);
    return 0;
}

static int bucket_emit(void *ctx, const KrRow *row)
{
    EmitCtx *x = ctx;
    AccLane *k = x->al;
    if (k->nrows >= x->r->run_rows && !k->norun && write_run(x) < 0) return -1;
    if (k->nrows == k->caprows) {
        size_t nc = k->caprows ? k->caprows * 2u : 64u;
        KrRow *nr = realloc(k->rows, nc * sizeof *nr);
        if (!nr) return -1;
        k->rows = nr;
        k->caprows = nc;
    }
    KrRow *d = &k->rows[k->nrows++];
    *d = *row;
    d->customer = (*x->l2g)[row->customer];      /* the bucket's id back to the shared one */
    size_t len;                                  /* the merge's key, from the bucket's pool (in cache) */
    const char *id = kr_pool_str(x->pool, row->customer, &len);
    id_key(id, len, d->idkey);
    return 0;
}

/* The bucket's spilled records in one buffer (the chunks read back, in
 * order; *total bytes), to be freed by the caller; NULL on failure. */
static char *load_chunks(const KpRun *r, const Seg *k, size_t *total)
{
    size_t n = 0;
    for (uint32_t i = 0; i < k->nchunks; i++) n += k->chunks[i].len;
    char *d = malloc(n ? n : 1u);
    if (!d) return NULL;
    size_t at = 0;
    for (uint32_t i = 0; i < k->nchunks; i++) {
        if (kr_read_at(r->spill_fd, d + at, k->chunks[i].len, k->chunks[i].off) != 0) { free(d); return NULL; }
        at += k->chunks[i].len;
    }
    *total = n;
    return d;
}

/* keep_rows -- a replayed bucket's rows (n of them, emitted into the
 * worker's rows[], which the next bucket reuses) kept for the merge: in
 * memory, in a buffer of their size, up to a quarter of the budget in all;
 * past it, in the temporary file (appended at an atomically reserved
 * offset), read back rows_back at a time; in memory if they cannot go
 * there.  (Each bucket growing a buffer of its own left the heap
 * fragmented: 2 MB more at the peak on 10M events of 8,000 customers.)
 * 0, or -1 out of memory. */
static int keep_rows(KpRun *r, Rows *k, const KrRow *rows, size_t n)
{
    size_t bytes = n * sizeof *rows;
    if (n == 0) return 0;
    if (atomic_fetch_add(&r->rows_mem, bytes) + bytes > r->budget / 4u && n > r->rows_back &&
        spill_open(r) == 0) {
        uint64_t at = atomic_fetch_add(&r->spill_end, bytes);
        if (kr_write_at(r->spill_fd, rows, bytes, at) == 0) {
            atomic_fetch_sub(&r->rows_mem, bytes);
            if (!(k->rows = malloc(r->rows_back * sizeof *k->rows))) return -1;
            k->rows_off = at;
            k->rows_spilled = n;
            k->rows_read = 0;
            k->caprows = r->rows_back;
            k->nrows = k->rpos = 0;
            return 0;
        }
    }
    if (!(k->rows = malloc(bytes))) return -1;
    memcpy(k->rows, rows, bytes);
    k->nrows = k->caprows = n;
    return 0;
}

/* next_rows -- refills a spilled bucket's rows from the temporary file;
 * 0, or -1 on a read error. */
static int next_rows(KpRun *r, Rows *k)
{
    uint64_t left = k->rows_spilled - k->rows_read;
    size_t n = left < k->caprows ? (size_t)left : k->caprows;
    if (kr_read_at(r->spill_fd, k->rows, n * sizeof *k->rows, k->rows_off + k->rows_read * sizeof *k->rows) != 0)
        return -1;
    k->rows_read += n;
    k->nrows = n;
    k->rpos = 0;
    return 0;
}

/* translate -- record ev in lane l's terms: its event, and the attributes
 * l's image keeps, in that image's index order (into ids/vals). */
static void translate(const Lane *l, const KrEvent *ev, KrEvent *out, uint32_t *ids, KrValue *vals)
{
    *out = *ev;
    uint32_t e = ev->event == KB_NONE ? KB_NONE : l->evmap[ev->event];
    out->event = e;
    out->nattrs = 0;
    out->attr_ids = ids;
    out->attr_vals = vals;
    if (e == KB_NONE) return;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        uint32_t a = l->atmap[ev->attr_ids[i]];
        if (a == KB_NONE || !((l->bits[(size_t)e * l->words + a / 64u] >> (a % 64u)) & 1u)) continue;
        uint32_t j = n++;
        while (j > 0 && ids[j - 1] > a) { ids[j] = ids[j - 1]; vals[j] = vals[j - 1]; j--; }
        ids[j] = a;
        vals[j] = ev->attr_vals[i];
    }
    out->nattrs = n;
}

/* local_id -- the id of shared customer g in the bucket's pool: from the
 * bucket's table (a->lt: g + 1 in the high half, the id in the low; a few
 * KiB, in cache, where an array over every customer would cost a cache
 * miss per record), else, at the customer's first record, added to the
 * bucket's pool as a reference to the shared pool's bytes (kr_pool_add_ref:
 * the customers are distinct already; interning them, hashed and copied,
 * took a quarter of pass 2 on 12M events of 1M customers).  UINT32_MAX:
 * out of memory. */
static inline uint32_t lt_slot(uint32_t g, uint32_t mask) { return (uint32_t)((g * 0x9E3779B97F4A7C15ULL) >> 40) & mask; }

static uint32_t local_id(const KpRun *r, Acc *a, uint32_t g)
{
    uint64_t key = (uint64_t)(g + 1u) << 32;
    uint32_t i = lt_slot(g, a->ltmask);
    for (;; i = (i + 1u) & a->ltmask) {
        uint64_t e = a->lt[i];
        if ((e & 0xFFFFFFFF00000000ULL) == key) return (uint32_t)e;
        if (e == 0) break;
    }
    if (KU_RESERVE(a->l2g, a->ncust, a->capl2g, 1024) != 0) return UINT32_MAX;
    size_t len;
    const char *s = kr_pool_str(r->customers, g, &len);
    if (kr_pool_add_ref(a->pool, s, len) != a->ncust) return UINT32_MAX;
    uint32_t id = a->ncust++;
    a->l2g[id] = g;
    a->lt[i] = key | id;
    if ((uint64_t)a->ncust * 2u > a->ltmask) {      /* load 1/2 at most: grow */
        uint32_t nmask = a->ltmask * 2u + 1u;
        uint64_t *nt = calloc((size_t)nmask + 1u, sizeof *nt);
        if (!nt) return UINT32_MAX;
        for (uint32_t j = 0; j < a->ncust; j++) {
            uint32_t k = lt_slot(a->l2g[j], nmask);
            while (nt[k]) k = (k + 1u) & nmask;
            nt[k] = ((uint64_t)(a->l2g[j] + 1u) << 32) | j;
        }
        free(a->lt);
        a->lt = nt;
        a->ltmask = nmask;
    }
    return id;
}

/* feed_event -- one event, its customer the bucket's id, to the lanes'
 * engines (each in turn): 0, or -1 (an engine failed; *at: its time).
 * feed_one -- the record at q so (its customer looked up: local_id): its
 * size, or 0 (out of memory, or an engine failed). */
static inline int feed_event(const KpRun *r, Acc *a, KrEngine *const *eng, const KrEvent *ev, int64_t *at)
{
    for (uint32_t k = 0; k < r->nlanes; k++) {
        const Lane *l = &r->lane[k];
        KrEvent tev;
        if (!l->ident) translate(l, ev, &tev, a->l[k].ids, a->l[k].vals);
        if (kr_engine_event(eng[k], l->ident ? ev : &tev) != 0) { *at = ev->time; return -1; }
    }
    return 0;
}

static inline size_t feed_one(const KpRun *r, Acc *a, KrEngine *const *eng, const char *q, int64_t *at)
{
    KrEvent ev;
    size_t size = rec_event(r->wide, q, &ev);
    if ((ev.customer = local_id(r, a, ev.customer)) == UINT32_MAX) return 0;
    return feed_event(r, a, eng, &ev, at) == 0 ? size : 0;
}

/* Prefetching the customers ahead (pass 2): a customer's first record in
 * the bucket reads its id from the shared pool (local_id), and with many
 * customers that pool is far larger than the caches, so records AHEAD_ENTRY
 * ahead start loading their customer's pool entry and records AHEAD_BYTES
 * ahead (whose entry has arrived by then) the id's bytes; only when the
 * shared pool holds at least AHEAD_CUSTOMERS. */
#define AHEAD_ENTRY 16u
#define AHEAD_BYTES 8u
#define AHEAD_CUSTOMERS_DEFAULT (1u << 17)   /* 100,000 customers: measured the same either way */
static uint32_t AHEAD_CUSTOMERS = AHEAD_CUSTOMERS_DEFAULT;

void kp_ahead_customers(uint32_t n) { AHEAD_CUSTOMERS = n == UINT32_MAX ? AHEAD_CUSTOMERS_DEFAULT : n; }

/* prefetch_cust -- starts loading the shared pool entry (bytes false) or
 * the id's bytes (true) of the customer of the record at q. */
static inline void prefetch_cust(const KpRun *r, const char *q, bool bytes)
{
    uint32_t c;
    memcpy(&c, q + offsetof(PRec, cust), sizeof c);
    kr_pool_prefetch_str(r->customers, c, bytes);
}

/* prefetch_next -- prefetch_cust of the record at p + *off when it is
 * before len, and *off past it. */
static inline void prefetch_next(const KpRun *r, const char *p, size_t len, size_t *off, bool bytes)
{
    if (*off >= len) return;
    PRec h;
    prefetch_cust(r, p + *off, bytes);
    *off += rec_get(r->wide, p + *off, &h);
}

/* feed -- the records p[0, len) to the engines as they lie.  0 or -1 (an
 * engine failed; *at: the time of the record). */
static int feed(const KpRun *r, Acc *a, KrEngine *const *eng, const char *p, size_t len, int64_t *at)
{
    size_t ahead1 = 0, ahead2 = 0;       /* the records AHEAD_ENTRY and AHEAD_BYTES ahead */
    bool pre = kr_pool_count(r->customers) >= AHEAD_CUSTOMERS;
    for (uint32_t i = 0; pre && i < AHEAD_ENTRY; i++) {
        prefetch_next(r, p, len, &ahead1, false);
        if (i < AHEAD_BYTES) ahead2 = ahead1;
    }
    for (size_t off = 0; off < len;) {
        if (pre) {
            prefetch_next(r, p, len, &ahead1, false);
            prefetch_next(r, p, len, &ahead2, true);
        }
        size_t size = feed_one(r, a, eng, p + off, at);
        if (size == 0) return -1;
        off += size;
    }
    return 0;
}

/* The records of ord[0, n) to the engines in that order. */
static int feed_ord(const KpRun *r, Acc *a, KrEngine *const *eng, const Ord *ord, size_t n, int64_t *at)
{
    bool pre = kr_pool_count(r->customers) >= AHEAD_CUSTOMERS;
    for (size_t i = 0; i < n; i++) {
        if (pre && i + AHEAD_ENTRY < n) prefetch_cust(r, ord[i + AHEAD_ENTRY].rec, false);
        if (pre && i + AHEAD_BYTES < n) prefetch_cust(r, ord[i + AHEAD_BYTES].rec, true);
        if (feed_one(r, a, eng, ord[i].rec, at) == 0) return -1;
    }
    return 0;
}

/* Appends the records p[0, len) to a->ord (key: the time); tmin, tmax
 * widened.  0, or -1 out of memory. */
static int index_records(const KpRun *r, Acc *a, size_t *n, const char *p, size_t len, int64_t *tmin,
                         int64_t *tmax)
{
    for (size_t off = 0; off < len; (*n)++) {
        PRec h;
        size_t size = rec_get(r->wide, p + off, &h);
        if (*n == a->capord) {
            size_t nc = a->capord ? a->capord * 2u : 4096u;
            Ord *o = realloc(a->ord, nc * sizeof *o);
            if (!o) return -1;
            a->ord = o;
            if (!(o = realloc(a->tmp, nc * sizeof *o))) return -1;
            a->tmp = o;
            a->capord = nc;
        }
        if (h.time < *tmin) *tmin = h.time;
        if (h.time > *tmax) *tmax = h.time;
        a->ord[*n].key = (uint64_t)h.time;
        a->ord[*n].rec = p + off;
        off += size;
    }
    return 0;
}

/* Reads spilled chunk c into *buf (grown to *cap bytes as needed); *buf, or
 * NULL on failure. */
static char *read_chunk(const KpRun *r, char **buf, size_t *cap, const Chunk *c)
{
    if (*cap < c->len) {
        char *nb = realloc(*buf, c->len);
        if (!nb) return NULL;
        *buf = nb;
        *cap = c->len;
    }
    return kr_read_at(r->spill_fd, *buf, c->len, c->off) == 0 ? *buf : NULL;
}

/* normalize -- the records p[0, len) of part w in the shared pools' ids
 * (customer, string values), in place. */
static int walk(KpRun *r, const char *p, size_t len);

static void normalize(const KpRun *r, const Part *w, char *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        PRec h;
        char *q = p + off;
        off += rec_get(r->wide, q, &h);
        uint32_t c = w->cmap[h.cust];
        memcpy(q + offsetof(PRec, cust), &c, sizeof c);      /* at the same offset in PRec16 */
        KrValue *v = (KrValue *)(void *)(q + rec_vals(r->wide, h.nattrs));
        for (uint32_t i = 0; i < h.nattrs; i++)
            if (v[i].tag == KB_STR) v[i].str = w->vmap[v[i].str];
    }
}

/* walk_rows -- on_row for every record of a file read in parts, part after
 * part, bucket after bucket (a customer's records in file order: what
 * on_row's users need, SPEC.md 5.10), with the shared pools' ids; a part's
 * pages are left in those ids (Seg.pages_shared).  0, or -1 (out of
 * memory, a read error, or on_row failed). */
static int walk_rows(KpRun *r)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint32_t p = 0; p < r->nparts && rc == 0; p++) {
        const Part *w = &r->part[p];
        for (uint32_t bi = 0; bi < r->nb && rc == 0; bi++) {
            Seg *k = seg_of(r, p, bi);
            for (uint32_t c = 0; c < k->nchunks && rc == 0; c++) {
                char *q = read_chunk(r, &buf, &cap, &k->chunks[c]);
                if (!q) { rc = -1; break; }
                if (w->cmap) normalize(r, w, q, k->chunks[c].len);
                rc = walk(r, q, k->chunks[c].len);
            }
            for (Page *pg = k->head; pg && rc == 0; pg = pg->next) {
                if (w->cmap) normalize(r, w, pg->data, pg->len);
                rc = walk(r, pg->data, pg->len);
            }
            k->pages_shared = true;
        }
    }
    free(buf);
    return rc;
}

/* walk -- on_row for the records p[0, len) (shared ids). */
static int walk(KpRun *r, const char *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        KrEvent ev;
        off += rec_event(r->wide, p + off, &ev);
        if (r->on_row(r->on_row_ctx, &ev) != 0) return -1;
    }
    return 0;
}

/* The ways a bucket is replayed (replay_bucket): customers are independent
 * (LANGUAGE.md section 4), so each customer's records in time order (ties
 * in input order) give each customer the sends of a replay of the whole
 * log in time order, whether the bucket's customers go one after another
 * or interleaved. */
typedef enum Mode {
    M_STREAM,                     /* the records came in time order: as they lie */
    M_GROUPED,                    /* in runs of one customer, each in time order and the
                                     customer's only one: as they lie, customer by customer */
    M_BYCUST,                     /* else: loaded whole, sorted by customer (in the order of
                                     their first record) and time, customer by customer */
    M_SORTED                      /* after an engine limit customer by customer (or keys too
                                     wide for M_BYCUST): loaded whole, sorted by time, in time
                                     order (a limit's message is then that of the earliest
                                     failure, as for any --jobs) */
} Mode;

/* next_customer -- the record about to be fed is customer c's (*cur: the
 * customer of the last record fed, UINT32_MAX before the first): when c
 * is another, the engines finish the customers fed so far
 * (kr_engine_finish_customers).  0, or -1 an engine failed. */
static int next_customer(const KpRun *r, KrEngine *const *eng, uint32_t c, uint32_t *cur)
{
    if (c != *cur && *cur != UINT32_MAX)
        for (uint32_t l = 0; l < r->nlanes; l++)
            if (kr_engine_finish_customers(eng[l], r->horizon) != 0) return -1;
    *cur = c;
    return 0;
}

/* feed_grouped -- the records p[0, len), grouped by customer
 * (grouped_bucket), to the engines customer by customer (next_customer).
 * 0, or 1 an engine failed (replay_bucket then replays the bucket
 * M_SORTED). */
static int feed_grouped(const KpRun *r, Acc *a, KrEngine *const *eng, const char *p, size_t len, uint32_t *cur)
{
    for (size_t off = 0; off < len;) {
        uint32_t c;
        memcpy(&c, p + off + offsetof(PRec, cust), sizeof c);
        if (next_customer(r, eng, c, cur) != 0) return 1;
        size_t size = feed_one(r, a, eng, p + off, &a->errtime);
        if (size == 0) return 1;
        off += size;
    }
    return 0;
}

/* each_span -- bucket bi's records in input order, a span at a time, to
 * fn(ctx, p, len) until it returns nonzero: part after part, its spilled
 * chunks (read back into a->chunk, in the shared pools' ids), then its
 * pages (in those ids already: replay_bucket).  What fn returned, 0, or -1
 * when a chunk cannot be read. */
static int each_span(const KpRun *r, Acc *a, uint32_t bi, int (*fn)(void *ctx, const char *p, size_t len),
                     void *ctx)
{
    int g = 0;
    for (uint32_t p = 0; p < r->nparts && g == 0; p++) {
        const Seg *k = seg_of(r, p, bi);
        const Part *w = &r->part[p];
        for (uint32_t c = 0; c < k->nchunks && g == 0; c++) {
            char *q = read_chunk(r, &a->chunk, &a->capchunk, &k->chunks[c]);
            if (!q) return -1;
            if (w->cmap) normalize(r, w, q, k->chunks[c].len);
            g = fn(ctx, q, k->chunks[c].len);
        }
        for (const Page *pg = k->head; pg && g == 0; pg = pg->next) g = fn(ctx, pg->data, pg->len);
    }
    return g;
}

/* A walk of a bucket's records (each_span): the run, the worker, the
 * engines and the mode (stream_bucket), the customer of the last record
 * and its time. */
typedef struct Walk { const KpRun *r; Acc *a; KrEngine *const *eng; Mode mode; uint32_t cur; int64_t t; } Walk;

/* grouped_run -- grouped_bucket over the records p[0, len): 0 so far so
 * good, 1 not grouped, -1 out of memory. */
static int grouped_run(void *ctx, const char *p, size_t len)
{
    Walk *x = ctx;
    for (size_t off = 0; off < len;) {
        PRec h;
        off += rec_get(x->r->wide, p + off, &h);
        if (h.cust == x->cur) {
            if (h.time < x->t) return 1;
        } else {
            uint32_t known = x->a->ncust;
            if (local_id(x->r, x->a, h.cust) == UINT32_MAX) return -1;
            if (x->a->ncust == known) return 1;
            x->cur = h.cust;
        }
        x->t = h.time;
    }
    return 0;
}

/* grouped_bucket -- whether bucket bi's records, in input order, are runs
 * of one customer's records, each in time order and its customer's only
 * run (looked at before any is fed, so that a bucket that is not is not
 * replayed twice; its customers get their ids on the way, in the order of
 * their first record, as feeding them would).  0 yes, 1 no, -1 a read
 * failed or out of memory. */
static int grouped_bucket(const KpRun *r, Acc *a, uint32_t bi)
{
    Walk x = { .r = r, .a = a, .cur = UINT32_MAX, .t = INT64_MIN };
    return each_span(r, a, bi, grouped_run, &x);
}

/* feed_bycust -- the records of ord[0, n) (sorted by customer, then
 * time) to the engines customer by customer.  0, or -1 an engine failed. */
static int feed_bycust(const KpRun *r, Acc *a, KrEngine *const *eng, const Ord *ord, size_t n, unsigned tbits,
                       int64_t *at)
{
    uint32_t cur = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)(ord[i].key >> tbits);      /* the bucket's id, in the key */
        if (next_customer(r, eng, c, &cur) != 0) return -1;
        KrEvent ev;
        rec_event(r->wide, ord[i].rec, &ev);
        ev.customer = c;
        if (feed_event(r, a, eng, &ev, at) != 0) return -1;
    }
    return 0;
}

/* feed_as -- the records p[0, len) to the engines as x->mode streams
 * them (stream_bucket). */
static int feed_as(void *ctx, const char *p, size_t len)
{
    Walk *x = ctx;
    if (x->mode == M_GROUPED) return feed_grouped(x->r, x->a, x->eng, p, len, &x->cur);
    return feed(x->r, x->a, x->eng, p, len, &x->a->errtime) != 0 ? -2 : 0;
}

/* stream_bucket -- bucket bi's records to the engines as they lie
 * (M_STREAM) or customer by customer (M_GROUPED).  0; -1 a read failed;
 * -2 an engine failed (M_STREAM); 1 an engine failed (M_GROUPED). */
static int stream_bucket(const KpRun *r, Acc *a, KrEngine *const *eng, uint32_t bi, Mode mode)
{
    Walk x = { .r = r, .a = a, .eng = eng, .mode = mode, .cur = UINT32_MAX };
    return each_span(r, a, bi, feed_as, &x);
}

/* sort_bucket -- bucket bi's records loaded (spilled chunks read back into
 * data[part], in the shared pools' ids; pages where they lie) into a->ord
 * (*n of them) in time order (M_SORTED) or by customer, in the order of
 * their first record, then time (M_BYCUST: the key is the bucket's id of
 * the customer above *tbits_out bits of time, which feed_bycust takes
 * instead of looking it up again), by a stable radix sort: ties stay in
 * input order.  0; -1 out of memory or a read failed; 1 the keys would
 * not fit in 64 bits (M_BYCUST: replay M_SORTED). */
static int sort_bucket(const KpRun *r, Acc *a, uint32_t bi, Mode mode, char **data, size_t *n, unsigned *tbits_out)
{
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    *n = 0;
    for (uint32_t p = 0; p < r->nparts; p++) {
        const Seg *k = seg_of(r, p, bi);
        const Part *w = &r->part[p];
        size_t total = 0;
        if (k->nchunks) {
            if (!(data[p] = load_chunks(r, k, &total))) return -1;
            if (w->cmap) normalize(r, w, data[p], total);
            if (index_records(r, a, n, data[p], total, &tmin, &tmax) != 0) return -1;
        }
        for (const Page *pg = k->head; pg; pg = pg->next)
            if (index_records(r, a, n, pg->data, pg->len, &tmin, &tmax) != 0) return -1;
    }
    uint64_t range = (uint64_t)tmax - (uint64_t)tmin, maxkey = range;
    for (size_t i = 0; i < *n; i++) a->ord[i].key -= (uint64_t)tmin;
    if (mode == M_BYCUST) {
        unsigned tbits = 0;
        while (tbits < 64 && (range >> tbits) != 0) tbits++;
        *tbits_out = tbits;
        for (size_t i = 0; i < *n; i++) {            /* the bucket's ids: in first-record order */
            uint32_t c;
            memcpy(&c, a->ord[i].rec + offsetof(PRec, cust), sizeof c);
            if ((c = local_id(r, a, c)) == UINT32_MAX) return -1;
            if (tbits == 64u || (tbits > 32u && (uint64_t)c >> (64u - tbits))) return 1;
            a->ord[i].key |= (uint64_t)c << tbits;
        }
        maxkey = a->ncust ? ((uint64_t)(a->ncust - 1u) << tbits) | range : range;
    }
    radix_sort(a->ord, a->tmp, *n, maxkey);
    return 0;
}

static int row_before(const KpRun *r, const KImage *img, const KrRow *a, const KrRow *b);

/* row_less -- the schedule's order of two rows of a bucket (KrRow.idkey
 * set by bucket_emit), as the merge's heap_less. */
static bool row_less(const KpRun *r, const KImage *img, const KrRow *a, const KrRow *b)
{
    if (a->time != b->time) return a->time < b->time;
    if (a->idkey[0] != b->idkey[0]) return a->idkey[0] < b->idkey[0];
    if (a->idkey[1] != b->idkey[1]) return a->idkey[1] < b->idkey[1];
    return row_before(r, img, a, b);
}

/* sort_rows -- a bucket's rows, emitted customer after customer (each
 * customer's in the schedule's order), into the schedule's order: a stable
 * bottom-up merge sort (two neighbouring runs already in order are copied
 * as they are), so that rows equal in that order (one customer's) keep the
 * engine's order, as a replay in time order leaves them.  0, or -1 out of
 * memory. */
static int sort_rows(const KpRun *r, const KImage *img, Acc *a, KrRow *rows, size_t n)
{
    if (n < 2) return 0;
    if (n > a->caprtmp) {
        KrRow *t = realloc(a->rtmp, n * sizeof *t);
        if (!t) return -1;
        a->rtmp = t;
        a->caprtmp = n;
    }
    KrRow *src = rows, *dst = a->rtmp;
    for (size_t w = 1; w < n; w *= 2u) {
        for (size_t lo = 0; lo < n; lo += 2u * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2u * w < n ? lo + 2u * w : n;
            size_t i = lo, j = mid, o = lo;
            if (mid == hi || !row_less(r, img, &src[mid], &src[mid - 1u])) {
                memcpy(&dst[lo], &src[lo], (hi - lo) * sizeof *src);    /* in order already */
                continue;
            }
            while (i < mid && j < hi) dst[o++] = row_less(r, img, &src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        KrRow *t = src; src = dst; dst = t;
    }
    if (src != rows) memcpy(rows, src, n * sizeof *rows);
    return 0;
}

/* ---- a bucket's rows in runs (SPEC 5.10, item 3) ----------------------------
 * A bucket whose replay emits more than run_rows rows per lane (one
 * customer with millions of asks) writes them as runs, each in the
 * schedule's order (write_run); when the bucket ends, its runs and the rows
 * still held are merged into one run in the file (keep_runs), which the
 * merge of the buckets then reads like any spilled bucket's rows.  Rows
 * equal in the schedule's order (one customer's) come out in the order
 * they were emitted: runs in the order written, the rows held last. */

/* A source of merge_sources: a run read back from the temporary file a
 * buffer at a time, or rows in memory (all at hand: buf NULL). */
typedef struct RunSrc {
    const KrRow *rows; size_t n, pos;   /* rows at hand, the next one */
    KrRow *buf; size_t cap;             /* the read-back buffer */
    uint64_t off, left;                 /* the run's rows not read yet, in the file */
} RunSrc;

/* src_fill -- the source's next rows at hand; 0, or -1 a read failed. */
static int src_fill(const KpRun *r, RunSrc *s)
{
    size_t n = s->left < s->cap ? (size_t)s->left : s->cap;
    if (kr_read_at(r->spill_fd, s->buf, n * sizeof *s->buf, s->off) != 0) return -1;
    s->off += n * sizeof *s->buf;
    s->left -= n;
    s->rows = s->buf;
    s->n = n;
    s->pos = 0;
    return 0;
}

/* sift_down -- h[i] moved down the min-heap h[0, n) of run indexes, in
 * the order less(ctx, x, y): the merges of runs (merge_sources, xs_merge;
 * the merge of the buckets, on the hot path, has its own: heap_down). */
typedef bool (*RunLess)(const void *ctx, uint32_t x, uint32_t y);
static void sift_down(uint32_t *h, uint32_t n, uint32_t i, RunLess less, const void *ctx)
{
    for (;;) {
        uint32_t l = 2u * i + 1u, m = i;
        if (l < n && less(ctx, h[l], h[m])) m = l;
        if (l + 1u < n && less(ctx, h[l + 1u], h[m])) m = l + 1u;
        if (m == i) return;
        uint32_t t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* The sources of merge_sources, and what their rows are compared by. */
typedef struct SrcSet { const KpRun *r; const KImage *img; const RunSrc *src; } SrcSet;

/* Source x's next row comes before source y's: the schedule's order,
 * then the sources' order. */
static bool src_less(const void *ctx, uint32_t x, uint32_t y)
{
    const SrcSet *q = ctx;
    const KrRow *a = &q->src[x].rows[q->src[x].pos], *b = &q->src[y].rows[q->src[y].pos];
    if (row_less(q->r, q->img, a, b)) return true;
    if (row_less(q->r, q->img, b, a)) return false;
    return x < y;
}

/* merge_sources -- the rows of src[0, n) (each in the schedule's order),
 * merged, into out[] or, out NULL, into the temporary file at `at`
 * through block[0, bcap).  The file runs' buffers are src[i].buf.  0; 1
 * a write failed; -1 a read failed or out of memory. */
static int merge_sources(const KpRun *r, const KImage *img, RunSrc *src, uint32_t n,
                         KrRow *out, uint64_t at, KrRow *block, size_t bcap)
{
    uint32_t *h = malloc((n ? n : 1u) * sizeof *h), nh = 0;
    if (!h) return -1;
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (src[i].buf && src_fill(r, &src[i]) != 0) { rc = -1; goto out; }
        if (src[i].n) h[nh++] = i;
    }
    const SrcSet q = { r, img, src };
    for (uint32_t i = nh / 2u; i-- > 0;) sift_down(h, nh, i, src_less, &q);
    size_t o = 0, fill = 0;
    while (nh) {
        RunSrc *s = &src[h[0]];
        const KrRow *row = &s->rows[s->pos];
        if (out) out[o++] = *row;
        else {
            block[fill++] = *row;
            if (fill == bcap) {
                if (kr_write_at(r->spill_fd, block, fill * sizeof *block, at) != 0) { rc = 1; goto out; }
                at += fill * sizeof *block;
                fill = 0;
            }
        }
        if (++s->pos == s->n) {
            if (s->buf && s->left && src_fill(r, s) != 0) { rc = -1; goto out; }
            if (s->pos == s->n) h[0] = h[--nh];
        }
        if (nh > 1) sift_down(h, nh, 0, src_less, &q);
    }
    if (fill && kr_write_at(r->spill_fd, block, fill * sizeof *block, at) != 0) rc = 1;
out:
    free(h);
    return rc;
}

/* keep_runs -- keep_rows for a bucket's lane that wrote runs: its runs
 * and the rows it still holds (put in the schedule's order first when they
 * came customer after customer) merged into one run of the temporary file,
 * RUN_FANIN runs at a time (consecutive runs, so that equal rows keep
 * their order), read back by the merge of the buckets rows_back at a time;
 * into memory if the file cannot be written.  0, or -1 out of memory or a
 * read failed. */
static int keep_runs(KpRun *r, Acc *a, AccLane *al, const KImage *img, bool bycust, Rows *k)
{
    if (bycust && sort_rows(r, img, a, al->rows, al->nrows) != 0) return -1;
    size_t bcap = r->run_rows / (RUN_FANIN + 1u);
    if (bcap < 16u) bcap = 16u;
    int rc = -1;
    RunSrc *src = calloc(al->nruns + 1u, sizeof *src);
    KrRow *bufs = malloc((RUN_FANIN + 2u) * bcap * sizeof *bufs), *out = NULL;
    if (!src || !bufs) goto done;
    KrRow *block = bufs + (RUN_FANIN + 1u) * bcap;
    /* passes over the runs until one merge takes them all */
    bool file = true;
    while (file && al->nruns + (al->nrows > 0) > RUN_FANIN) {
        size_t m = 0;
        for (size_t g = 0; g < al->nruns; g += RUN_FANIN) {
            uint32_t n = al->nruns - g < RUN_FANIN ? (uint32_t)(al->nruns - g) : RUN_FANIN;
            uint64_t total = 0;
            for (uint32_t i = 0; i < n; i++) {
                const RowRun *u = &al->runs[g + i];
                src[i] = (RunSrc){ .buf = bufs + i * bcap, .cap = bcap, .off = u->off, .left = u->n };
                total += u->n;
            }
            uint64_t at = atomic_fetch_add(&r->spill_end, total * sizeof(KrRow));
            int w = merge_sources(r, img, src, n, NULL, at, block, bcap);
            if (w < 0) goto done;
            if (w > 0) {                          /* the file failed: the runs not merged yet follow */
                memmove(&al->runs[m], &al->runs[g], (al->nruns - g) * sizeof *al->runs);
                al->nruns = m + (al->nruns - g);
                file = false;
                break;
            }
            al->runs[m++] = (RowRun){ at, total };
        }
        if (file) al->nruns = m;
    }
    /* the last merge: every run, then the rows held */
    uint64_t total = al->nrows;
    for (size_t i = 0; i < al->nruns; i++) total += al->runs[i].n;
    uint32_t n = 0;
    if (al->nruns > RUN_FANIN) {                  /* the file failed: a buffer per run */
        free(bufs);
        if (!(bufs = malloc((al->nruns + 1u) * bcap * sizeof *bufs))) goto done;
        block = NULL;
    }
    for (size_t i = 0; i < al->nruns; i++)
        src[n++] = (RunSrc){ .buf = bufs + i * bcap, .cap = bcap, .off = al->runs[i].off, .left = al->runs[i].n };
    if (al->nrows) src[n++] = (RunSrc){ .rows = al->rows, .n = al->nrows };
    if (file && block) {
        uint64_t at = atomic_fetch_add(&r->spill_end, total * sizeof(KrRow));
        int w = merge_sources(r, img, src, n, NULL, at, block, bcap);
        if (w < 0) goto done;
        if (w == 0) {
            if (!(k->rows = malloc(r->rows_back * sizeof *k->rows))) goto done;
            k->rows_off = at;
            k->rows_spilled = total;
            k->rows_read = 0;
            k->caprows = r->rows_back;
            k->nrows = k->rpos = 0;
            rc = 0;
            goto done;
        }
        for (uint32_t i = 0; i < n; i++)          /* again, into memory */
            if (src[i].buf) { src[i].off = al->runs[i].off; src[i].left = al->runs[i].n; src[i].n = src[i].pos = 0; }
            else src[i].pos = 0;
    }
    if (!(out = malloc(total * sizeof *out))) goto done;
    if (merge_sources(r, img, src, n, out, 0, NULL, 0) != 0) goto done;
    atomic_fetch_add(&r->rows_mem, total * sizeof *out);
    k->rows = out;
    out = NULL;
    k->nrows = k->caprows = total;
    rc = 0;
done:
    al->nruns = 0;
    al->nrows = 0;
    free(src);
    free(bufs);
    free(out);
    return rc;
}

/* ---- a bucket too large to load: sorted in runs (SPEC 5.10, item 2) -------
 * An unsorted bucket whose records and their order would take more than
 * KpRun.load_limit is not loaded whole: its records, in input order, are
 * cut into runs of a quarter of that; each run (its customers' records
 * given the bucket's ids, in the order of their first record) is sorted
 * by customer and time (stable: ties in input order) and written to the
 * temporary file; then the runs are merged (by customer, time and run:
 * input order again) and fed to the engines customer by customer, as
 * feed_bycust does.  Memory: a run and its order, then a buffer per run. */

typedef struct XRun { uint64_t off, len; } XRun;

/* The runs of one bucket being cut (xs_span). */
typedef struct XSort {
    KpRun *r; Acc *a;
    char *buf; size_t len, cap;   /* the run being cut: its records (the bucket's customer ids) */
    XRun *runs; uint32_t nruns, capruns;
    char *out; size_t outcap;     /* a sorted run written through this */
} XSort;

/* xs_flush -- the run being cut, sorted by (customer, time), to the
 * temporary file.  0; -1 out of memory; 2 the file could not be made or
 * written. */
static int xs_flush(XSort *x)
{
    const KpRun *r = x->r;
    Acc *a = x->a;
    if (!x->len) return 0;
    size_t n = 0;
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    if (index_records(r, a, &n, x->buf, x->len, &tmin, &tmax) != 0) return -1;
    for (size_t i = 0; i < n; i++) a->ord[i].key -= (uint64_t)tmin;
    radix_sort(a->ord, a->tmp, n, (uint64_t)tmax - (uint64_t)tmin);
    for (size_t i = 0; i < n; i++) {
        uint32_t c;
        memcpy(&c, a->ord[i].rec + offsetof(PRec, cust), sizeof c);
        a->ord[i].key = c;
    }
    radix_sort(a->ord, a->tmp, n, a->ncust ? a->ncust - 1u : 0u);   /* stable: by time within */
    if (KU_RESERVE(x->runs, x->nruns, x->capruns, 8) != 0) return -1;
    if (spill_open(x->r) != 0) return 2;
    uint64_t at = atomic_fetch_add(&x->r->spill_end, x->len), o = 0;
    size_t fill = 0;
    for (size_t i = 0; i < n; i++) {
        PRec h;
        size_t size = rec_get(r->wide, a->ord[i].rec, &h);
        if (fill + size > x->outcap && fill) {
            if (kr_write_at(r->spill_fd, x->out, fill, at + o) != 0) return 2;
            o += fill;
            fill = 0;
        }
        if (size > x->outcap) {
            char *nb = realloc(x->out, size);
            if (!nb) return -1;
            x->out = nb;
            x->outcap = size;
        }
        memcpy(x->out + fill, a->ord[i].rec, size);
        fill += size;
    }
    if (fill && kr_write_at(r->spill_fd, x->out, fill, at + o) != 0) return 2;
    x->runs[x->nruns++] = (XRun){ at, x->len };
    x->len = 0;
    return 0;
}

/* xs_span -- each_span's callback: the records p[0, len) appended to the
 * run being cut (a full run flushed first), their customers given the
 * bucket's ids.  0, or as xs_flush. */
static int xs_span(void *ctx, const char *p, size_t len)
{
    XSort *x = ctx;
    const KpRun *r = x->r;
    for (size_t off = 0; off < len;) {
        PRec h;
        size_t size = rec_get(r->wide, p + off, &h);
        if (x->len + size > x->cap) {
            int f = x->len ? xs_flush(x) : 0;
            if (f != 0) return f;
            if (size > x->cap) {
                char *nb = realloc(x->buf, size);
                if (!nb) return -1;
                x->buf = nb;
                x->cap = size;
            }
        }
        uint32_t c = local_id(r, x->a, h.cust);
        if (c == UINT32_MAX) return -1;
        memcpy(x->buf + x->len, p + off, size);
        memcpy(x->buf + x->len + offsetof(PRec, cust), &c, sizeof c);
        x->len += size;
        off += size;
    }
    return 0;
}

/* A run read back a buffer at a time (xs_merge). */
typedef struct XSrc {
    char *buf; size_t cap, pos, end;   /* bytes at hand: buf[pos, end) */
    uint64_t off, left;                /* the run's bytes not read yet */
    const char *rec; uint32_t cust; int64_t time;   /* the next record (NULL: none) */
} XSrc;

/* xs_next -- the source's next record at hand (s->rec NULL at its end).
 * 0, or -1 a read failed or out of memory. */
static int xs_next(const KpRun *r, XSrc *s)
{
    size_t head = rec_head(r->wide);
    PRec h;
    for (int pass = 0;; pass++) {
        size_t have = s->end - s->pos;
        if (have >= head) {
            size_t size = rec_get(r->wide, s->buf + s->pos, &h);
            if (have >= size) break;
            if (size > s->cap) {                  /* a record larger than the buffer */
                memmove(s->buf, s->buf + s->pos, have);
                char *nb = realloc(s->buf, size);
                if (!nb) return -1;
                s->buf = nb;
                s->cap = size;
                s->pos = 0;
                s->end = have;
            }
        }
        if (!s->left) {
            if (have) return -1;                  /* a cut record: the file is not what was written */
            s->rec = NULL;
            return 0;
        }
        if (pass > 2) return -1;
        memmove(s->buf, s->buf + s->pos, have);
        s->pos = 0;
        s->end = have;
        size_t want = s->cap - have < s->left ? s->cap - have : (size_t)s->left;
        if (kr_read_at(r->spill_fd, s->buf + have, want, s->off) != 0) return -1;
        s->off += want;
        s->left -= want;
        s->end += want;
    }
    s->rec = s->buf + s->pos;
    s->pos += rec_size(r->wide, h.nattrs);
    s->cust = h.cust;
    s->time = h.time;
    return 0;
}

/* Run x's next record comes before run y's: customer, time, then run
 * (input order). */
static bool xs_less(const void *ctx, uint32_t x, uint32_t y)
{
    const XSrc *s = ctx;
    if (s[x].cust != s[y].cust) return s[x].cust < s[y].cust;
    if (s[x].time != s[y].time) return s[x].time < s[y].time;
    return x < y;
}

/* xs_merge -- the runs merged and fed to the engines customer by
 * customer.  0; -1 a read failed or out of memory; 1 an engine failed. */
static int xs_merge(const KpRun *r, Acc *a, KrEngine *const *eng, const XSort *x)
{
    uint32_t n = x->nruns, nh = 0, cur = UINT32_MAX;
    size_t each = r->load_limit / 4u / (n ? n : 1u);
    if (each < (16u << 10)) each = 16u << 10;
    XSrc *s = calloc(n ? n : 1u, sizeof *s);
    uint32_t *h = malloc((n ? n : 1u) * sizeof *h);
    int rc = -1;
    if (!s || !h) goto done;
    for (uint32_t i = 0; i < n; i++) {
        s[i] = (XSrc){ .buf = malloc(each), .cap = each, .off = x->runs[i].off, .left = x->runs[i].len };
        if (!s[i].buf || xs_next(r, &s[i]) != 0) goto done;
        if (s[i].rec) h[nh++] = i;
    }
    for (uint32_t i = nh / 2u; i-- > 0;) sift_down(h, nh, i, xs_less, s);
    while (nh) {
        XSrc *t = &s[h[0]];
        if (next_customer(r, eng, t->cust, &cur) != 0) { rc = 1; goto done; }
        KrEvent ev;
        rec_event(r->wide, t->rec, &ev);
        if (feed_event(r, a, eng, &ev, &a->errtime) != 0) { rc = 1; goto done; }
        if (xs_next(r, t) != 0) goto done;
        if (!t->rec) h[0] = h[--nh];
        if (nh > 1) sift_down(h, nh, 0, xs_less, s);
    }
    rc = 0;
done:
    for (uint32_t i = 0; s && i < n; i++) free(s[i].buf);
    free(s);
    free(h);
    return rc;
}

/* bucket_load -- the bytes bucket bi's records and their order would take
 * loaded whole (sort_bucket). */
static uint64_t bucket_load(const KpRun *r, uint32_t bi)
{
    uint64_t b = 0;
    for (uint32_t p = 0; p < r->nparts; p++) {
        const Seg *k = seg_of(r, p, bi);
        b += k->len + 2u * sizeof(Ord) * k->nrec;
        for (uint32_t c = 0; c < k->nchunks; c++) b += k->chunks[c].len;
    }
    return b;
}

/* external_bycust -- bucket bi replayed customer by customer (as M_BYCUST)
 * through sorted runs in the temporary file.  0; -1 a read failed, or out
 * of memory; 1 an engine failed (replay M_SORTED); 2 the temporary file
 * could not be made or written, before any record was fed (load the
 * bucket whole: its customers have their ids, in the same order). */
static int external_bycust(KpRun *r, Acc *a, KrEngine *const *eng, uint32_t bi)
{
    XSort x = { .r = r, .a = a, .cap = r->load_limit / 4u, .outcap = 64u << 10 };
    int rc = -1;
    if (!(x.buf = malloc(x.cap)) || !(x.out = malloc(x.outcap))) goto done;
    if ((rc = each_span(r, a, bi, xs_span, &x)) != 0 || (rc = xs_flush(&x)) != 0) {
        if (rc != 2) rc = -1;
        goto done;
    }
    rc = -1;
    free(x.buf);
    x.buf = NULL;
    free(x.out);
    x.out = NULL;
    atomic_fetch_add(&r->sorted_runs, x.nruns);
    rc = xs_merge(r, a, eng, &x);
done:
    free(x.buf);
    free(x.out);
    free(x.runs);
    return rc;
}

/* drop_engines -- a try at a bucket undone: its engines, its pool of
 * customers and the records it loaded freed (replay_bucket tries again). */
static void drop_engines(const KpRun *r, KrEngine **eng, KrPool **pool, char **data)
{
    for (uint32_t l = 0; l < r->nlanes; l++) { kr_engine_free(eng[l]); eng[l] = NULL; }
    kr_pool_free(*pool);
    *pool = NULL;
    for (uint32_t p = 0; p < r->nparts; p++) { free(data[p]); data[p] = NULL; }
}

/* replay_bucket -- one bucket through an engine of its own per lane, in
 * the first Mode that applies: records that came in time order stream
 * through (M_STREAM); records in far fewer runs of one customer than
 * records (a log grouped by customer) stream through customer by customer
 * (M_GROUPED), else, or if they turn out not to be grouped, they are
 * loaded whole and sorted by customer (M_BYCUST); after an engine limit
 * or a cut at the deadline the bucket is replayed in time order
 * (M_SORTED), so that the limit's message is the earliest failure's.
 * Rows that came customer by customer are put in the schedule's order
 * (sort_rows).  0; 1 cut at the deadline in time order (another bucket
 * failed earlier: this one's rows do not matter); -1 memory or an engine
 * limit (a->errmsg set). */
static int replay_bucket(KpRun *r, uint32_t bi, Acc *a)
{
    bool any = false, unsorted = false;
    int64_t last = INT64_MIN;
    uint64_t runs = 0, nrec = 0;
    for (uint32_t p = 0; p < r->nparts; p++) {
        Seg *k = seg_of(r, p, bi);
        if (!k->any) continue;
        if (k->unsorted || (any && k->first < last)) unsorted = true;
        any = true;
        last = k->last;
        runs += k->runs;
        nrec += k->nrec;
        /* pages in the shared pools' ids, once (a mode may be tried again) */
        const Part *w = &r->part[p];
        if (w->cmap && !k->pages_shared)
            for (Page *pg = k->head; pg; pg = pg->next) normalize(r, w, pg->data, pg->len);
        k->pages_shared = true;
    }
    if (!any) return 0;
    Mode mode = !unsorted ? M_STREAM : runs * 4u <= nrec ? M_GROUPED : M_BYCUST;
    int rc = -1;
    KrPool *pool = NULL;
    KrEngine *eng[KP_LANES] = { NULL };
    KrEngine *failed = NULL;
    char *data[KI_PARTS_MAX] = { NULL };
again:
    if (!(pool = kr_pool_new())) goto done;
    a->pool = pool;
    a->ncust = 0;
    if (!a->lt || a->ltmask > 1023u) {            /* a table of 1,024 to start with */
        free(a->lt);
        a->ltmask = 1023u;
        if (!(a->lt = malloc((a->ltmask + 1u) * sizeof *a->lt))) goto done;
    }
    memset(a->lt, 0, (a->ltmask + 1u) * sizeof *a->lt);
    EmitCtx ec[KP_LANES];
    for (uint32_t l = 0; l < r->nlanes; l++) {
        a->l[l].nrows = a->l[l].nruns = 0;
        a->l[l].norun = false;
        ec[l] = (EmitCtx){ &a->l[l], &a->l2g, a->pool, r, a, r->lane[l].img, mode == M_GROUPED || mode == M_BYCUST };
        KrEngineOpts eo = { .has_until = r->opt->has_until, .until = r->opt->until,
                            .has_horizon = true, .horizon = r->horizon,
                            .has_deadline = r->has_deadline, .deadline = r->deadline,
                            .emit = bucket_emit, .emit_ctx = &ec[l] };
        if (!(eng[l] = kr_engine_new(r->lane[l].img, pool, r->values, &eo))) goto done;
    }
    int g;
    if (mode == M_GROUPED && (g = grouped_bucket(r, a, bi)) != 0) {
        if (g < 0) goto done;
        atomic_fetch_add(&r->regrouped, 1u);      /* not grouped: again, by customer */
        drop_engines(r, eng, &pool, data);
        mode = M_BYCUST;
        goto again;
    }
    if (mode == M_STREAM || mode == M_GROUPED) {
        g = stream_bucket(r, a, eng, bi, mode);
        if (g == -1) goto done;
        if (g == -2) goto engine_failed;
    } else if (mode != M_BYCUST || bucket_load(r, bi) <= r->load_limit ||
               (g = external_bycust(r, a, eng, bi)) == 2) {
        size_t n;                                 /* (2: the temporary file failed: loaded whole) */
        unsigned tbits = 0;
        g = sort_bucket(r, a, bi, mode, data, &n, &tbits);
        if (g < 0) goto done;
        if (g == 0) {
            if (mode == M_SORTED && feed_ord(r, a, eng, a->ord, n, &a->errtime) != 0) goto engine_failed;
            if (mode == M_BYCUST) g = feed_bycust(r, a, eng, a->ord, n, tbits, &a->errtime) != 0;
        }
    } else if (g < 0) {
        goto done;
    }
    a->errtime = r->horizon;
    for (uint32_t l = 0; l < r->nlanes && g == 0; l++)
        if (kr_engine_finish(eng[l], r->horizon) != 0) {
            if (mode == M_STREAM || mode == M_SORTED) goto engine_failed;
            g = 1;
        }
    if (g != 0) {                                 /* an engine limit customer by customer, or
                                                     keys too wide: again, in time order */
        drop_engines(r, eng, &pool, data);
        mode = M_SORTED;
        goto again;
    }
    for (uint32_t l = 0; l < r->nlanes; l++) {
        const KImage *img = r->lane[l].img;
        AccLane *al = &a->l[l];
        const KrStats *st = kr_engine_stats(eng[l]);
        al->events += st->events;
        al->customers += st->customers;
        for (uint32_t ri = 0; ri < img->nrules; ri++)
            for (int s = 0; s < KR_ST__COUNT; s++) al->st[ri][s] += st->rule[ri][s];
        for (uint32_t j = 0; j < img->nattr_reads; j++) {
            al->carried[j] |= kr_engine_attr_carried(eng[l], j);
            const KrTypeTally *t = kr_engine_type_tally(eng[l], j);
            if (t) kr_type_tally_merge(&al->types[j], t);
        }
        for (uint32_t j = 0; j < img->nevents; j++) al->seen[j] |= kr_engine_event_seen(eng[l], j);
        kr_bad_zones_merge(&al->badz, kr_engine_bad_zones(eng[l]));
    }
    if (mode == M_GROUPED) atomic_fetch_add(&r->grouped, 1u);
    for (uint32_t l = 0; l < r->nlanes; l++) {
        if (a->l[l].nruns) {
            if (keep_runs(r, a, &a->l[l], r->lane[l].img, ec[l].bycust, &r->b[bi].out[l]) != 0) goto done;
            continue;
        }
        if ((mode == M_GROUPED || mode == M_BYCUST) && sort_rows(r, r->lane[l].img, a, a->l[l].rows, a->l[l].nrows) != 0)
            goto done;
        if (keep_rows(r, &r->b[bi].out[l], a->l[l].rows, a->l[l].nrows) != 0) goto done;
    }
    rc = 0;
    goto done;
engine_failed:
    /* a limit of SPEC 9 (its message: of the first lane that has one); an
     * engine cut at the deadline: given up (1); else out of memory (the
     * emitter fails only then) */
    rc = -1;
    for (uint32_t l = 0; l < r->nlanes && !failed; l++)
        if (eng[l] && kr_engine_error(eng[l])) failed = eng[l];
    if (failed) snprintf(a->errmsg, sizeof a->errmsg, "%s", kr_engine_error(failed));
    else
        for (uint32_t l = 0; l < r->nlanes; l++)
            if (eng[l] && kr_engine_cut(eng[l])) rc = 1;
done:
    for (uint32_t l = 0; l < r->nlanes; l++) kr_engine_free(eng[l]);
    kr_pool_free(pool);
    for (uint32_t p = 0; p < r->nparts; p++) {
        free(data[p]);
        Seg *k = seg_of(r, p, bi);
        pages_free(k->head);                          /* the records are done with */
        k->head = k->tail = NULL;
        k->len = 0;
    }
    return rc;
}

static void *worker(void *arg)
{
    Acc *a = arg;
    KpRun *r = a->run;
    for (;;) {
        if (atomic_load(&r->failed)) break;
        unsigned bi = atomic_fetch_add(&r->next, 1u);
        if (bi >= r->nb) break;
        a->errmsg[0] = '\0';
        int rc = replay_bucket(r, bi, a);
        if (rc > 0) continue;          /* cut at the deadline: a failure comes no later */
        if (rc != 0) {
            /* the earliest failure (time of the event being replayed, or
             * the horizon; then the lowest bucket) wins, the same for any
             * --jobs: remember it, let the others finish */
            if (a->errmsg[0] && (!a->fail || a->errtime < a->fail_time ||
                                 (a->errtime == a->fail_time && bi < a->fail_bucket))) {
                memcpy(a->firstmsg, a->errmsg, sizeof a->firstmsg);
                a->fail_bucket = bi;
                a->fail_time = a->errtime;
                a->fail = rc;
                continue;
            }
            if (a->errmsg[0]) continue;
            a->fail = rc;
            a->oom = true;
            atomic_store(&r->failed, 1);
            break;
        }
    }
    return NULL;
}

static int acc_init(Acc *a, KpRun *r)
{
    a->run = r;
    for (uint32_t l = 0; l < r->nlanes; l++) {
        const KImage *img = r->lane[l].img;
        AccLane *al = &a->l[l];
        al->st = calloc(img->nrules + 1u, sizeof *al->st);
        al->carried = calloc(img->nattr_reads + 1u, 1);
        al->seen = calloc(img->nevents + 1u, 1);
        al->types = tallies_new(img);
        al->ids = calloc(r->img->nattrs + 1u, sizeof *al->ids);
        al->vals = calloc(r->img->nattrs + 1u, sizeof *al->vals);
        if (!al->st || !al->carried || !al->seen || !al->types || !al->ids || !al->vals) return -1;
    }
    return 0;
}

static void acc_free(Acc *a)
{
    for (uint32_t l = 0; l < KP_LANES; l++) {
        AccLane *al = &a->l[l];
        free(al->st); free(al->carried); free(al->seen); free(al->types); free(al->ids); free(al->vals);
        free(al->rows);
        free(al->runs);
    }
    free(a->ord);
    free(a->tmp);
    free(a->rtmp);
    free(a->chunk);
    free(a->l2g);
    free(a->lt);
}

/* The schedule's order of two rows of image img (the engine's, replay.c,
 * with time first). */
static int row_before(const KpRun *r, const KImage *img, const KrRow *a, const KrRow *b)
{
    if (a->time != b->time) return a->time < b->time;
    if (a->customer != b->customer) {
        size_t la, lb;
        const char *sa = kr_pool_str(r->customers, a->customer, &la);
        const char *sb = kr_pool_str(r->customers, b->customer, &lb);
        int c = memcmp(sa, sb, la < lb ? la : lb);
        if (c) return c < 0;
        if (la != lb) return la < lb;
    }
    int32_t pa = img->rules[a->rule].priority, pb = img->rules[b->rule].priority;
    if (pa != pb) return pa > pb;
    if (a->rule != b->rule) return a->rule < b->rule;
    return a->attempt < b->attempt;
}

/* head_key -- k's key for its row at rpos (see Rows); and, when this
 * thread writes the rows (pre), the customer ids that row and the next
 * will print start loading (the shared pool is far larger than the caches
 * with many customers, and the row waits in the heap a while before it is
 * written; a caller taking the rows from a merge ahead on another thread
 * loads them itself: KpMerge). */
static void head_key(const KpRun *r, Rows *k, bool pre)
{
    const KrRow *row = &k->rows[k->rpos];
    if (pre) {
        kr_pool_prefetch_str(r->customers, row->customer, true);
        if (k->rpos + 1u < k->nrows) kr_pool_prefetch_str(r->customers, row[1].customer, false);
    }
    k->key_time = row->time;
    k->key_id[0] = row->idkey[0];
    k->key_id[1] = row->idkey[1];
}

/* heap_less -- bucket x's next row comes before bucket y's: by time and
 * the first 16 bytes of the id (KrRow.idkey: rows due at the same instant
 * are common, 08:00 after a quiet night, and the ids lie far apart in the
 * shared pool), then (a prefix order that agrees with row_before's) by the
 * rows. */
static bool heap_less(const KpRun *r, uint32_t lane, uint32_t x, uint32_t y)
{
    const Rows *a = &r->b[x].out[lane], *b = &r->b[y].out[lane];
    if (a->key_time != b->key_time) return a->key_time < b->key_time;
    if (a->key_id[0] != b->key_id[0]) return a->key_id[0] < b->key_id[0];
    if (a->key_id[1] != b->key_id[1]) return a->key_id[1] < b->key_id[1];
    const KrRow *ra = &a->rows[a->rpos], *rb = &b->rows[b->rpos];
    const KImage *img = r->lane[lane].img;
    if (row_before(r, img, ra, rb)) return true;
    if (row_before(r, img, rb, ra)) return false;
    return x < y;
}

static void heap_down(const KpRun *r, uint32_t lane, uint32_t *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2u * i + 1u, m = i;
        if (l < n && heap_less(r, lane, h[l], h[m])) m = l;
        if (l + 1u < n && heap_less(r, lane, h[l + 1u], h[m])) m = l + 1u;
        if (m == i) return;
        uint32_t t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* heap_top -- h[0]'s key changed (or h[0] is new): the heap is mended
 * bottom-up (Floyd): the hole at the top goes down to a leaf along the
 * smaller children (one comparison a level), then h[0]'s bucket rises
 * from there (a step or two: its next row is most often late).  About
 * half the comparisons of heap_down's two a level with many buckets;
 * heap_less is a strict total order, so the rows come out the same. */
static void heap_top(const KpRun *r, uint32_t lane, uint32_t *h, uint32_t n)
{
    uint32_t x = h[0], i = 0;
    for (uint32_t c; (c = 2u * i + 1u) < n; i = c) {
        if (c + 1u < n && heap_less(r, lane, h[c + 1u], h[c])) c++;
        h[i] = h[c];
    }
    while (i > 0) {
        uint32_t p = (i - 1u) / 2u;
        if (!heap_less(r, lane, x, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

#define WRITE_BATCH 1024u
#define WRITE_AHEAD 16u                  /* the customer ids of the rows this far ahead start
                                            loading (entry), half as far (bytes): with many
                                            customers the pool is far larger than the caches */

/* Merge -- a lane's rows of every bucket in the schedule's order, one at
 * a time (merge_next): a heap of the buckets by their next row. */
typedef struct Merge {
    KpRun *r;
    uint32_t lane;
    uint32_t *h, n;                      /* buckets with rows left, a heap */
    bool pre;                            /* the rows are taken on this thread: head_key loads ahead */
} Merge;

static int merge_open(Merge *m, KpRun *r, uint32_t lane, bool pre)
{
    *m = (Merge){ .r = r, .lane = lane, .pre = pre };
    if (!(m->h = malloc((r->nb ? r->nb : 1u) * sizeof *m->h))) return -1;
    for (uint32_t i = 0; i < r->nb; i++) {
        Rows *k = &r->b[i].out[lane];
        if (k->rows_spilled && next_rows(r, k) != 0) return -1;
        if (k->nrows) {
            head_key(r, k, pre);
            m->h[m->n++] = i;
        }
    }
    for (uint32_t i = m->n / 2u; i-- > 0;) heap_down(r, lane, m->h, m->n, i);
    return 0;
}

/* merge_next -- the next row into *row: 1; 0 at the end; -1 when the
 * temporary file could not be read. */
static int merge_next(Merge *m, KrRow *row)
{
    if (!m->n) return 0;
    KpRun *r = m->r;
    Rows *k = &r->b[m->h[0]].out[m->lane];
    *row = k->rows[k->rpos];
    if (++k->rpos == k->nrows && k->rows_read < k->rows_spilled) {
        if (next_rows(r, k) != 0) return -1;
        head_key(r, k, m->pre);
    } else if (k->rpos == k->nrows) {
        free(k->rows);
        k->rows = NULL;
        m->h[0] = m->h[--m->n];
    } else {
        head_key(r, k, m->pre);
    }
    if (m->n > 1) heap_top(r, m->lane, m->h, m->n);
    return 1;
}

/* KpMerge -- Merge for a caller that takes the rows one at a time: diff,
 * which pulls two lanes' at once, and merge_rows, which hands them to an
 * emitter.  With more than one job and rows enough, the merge runs ahead
 * on a thread of its own, a batch of WRITE_BATCH rows at a time into one of
 * two buffers while the caller takes the other: formatting the schedule
 * (about 60 % of the merge) no longer waits for the heap, nor the heap for
 * formatting, and diff's two merges run at once.  The rows come in the
 * same order to one thread: the same bytes.  The caller then starts loading
 * the customer ids of the rows ahead in its batch (the merge, on the other
 * core, does not: head_key's pre).  A batch shorter than WRITE_BATCH is the
 * last (rc: how the merge ended). */
struct KpMerge {
    Merge m;
    bool ahead;
    pthread_t th;
    pthread_mutex_t mu; pthread_cond_t cv;
    KrRow *batch[2]; uint32_t len[2];
    bool ready[2];                       /* batch b filled, not yet taken back */
    bool stop;                           /* the caller closed it: the thread ends */
    int rc;                              /* the merge's end: 0, or -1 */
    uint32_t cb, cpos; bool have;        /* the caller's batch and place in it */
};

static void *ahead_main(void *arg)
{
    KpMerge *a = arg;
    for (uint32_t b = 0;; b ^= 1u) {
        pthread_mutex_lock(&a->mu);
        while (a->ready[b] && !a->stop) pthread_cond_wait(&a->cv, &a->mu);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop) return NULL;
        uint32_t n = 0;
        int rc = 1;
        while (n < WRITE_BATCH && (rc = merge_next(&a->m, &a->batch[b][n])) == 1) n++;
        pthread_mutex_lock(&a->mu);
        a->len[b] = n;
        a->ready[b] = true;
        if (rc < 0) a->rc = -1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (n < WRITE_BATCH) return NULL;
    }
}

/* ahead_pays -- a thread for lane's merge pays: more than one job, and
 * rows enough. */
static bool ahead_pays(const KpRun *r, uint32_t lane)
{
    if (ki_jobs(r->opt) < 2u) return false;
    uint64_t rows = 0;
    for (uint32_t i = 0; i < r->nb; i++) rows += r->b[i].out[lane].nrows + r->b[i].out[lane].rows_spilled;
    return rows >= 4u * WRITE_BATCH;
}

KpMerge *kp_merge_open(KpRun *r, uint32_t lane)
{
    KpMerge *a = lane < r->nlanes ? calloc(1, sizeof *a) : NULL;
    if (!a) return NULL;
    bool pays = ahead_pays(r, lane);
    if (pays && (a->batch[0] = malloc(2u * WRITE_BATCH * sizeof(KrRow)))) a->batch[1] = a->batch[0] + WRITE_BATCH;
    if (merge_open(&a->m, r, lane, !a->batch[0]) != 0) { kp_merge_close(a); return NULL; }
    if (!a->batch[0]) return a;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (kr_thread_start(&a->th, NULL, ahead_main, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        a->m.pre = true;                 /* merged here after all */
        return a;
    }
    a->ahead = true;
    return a;
}

int kp_merge_next(KpMerge *a, KrRow *row)
{
    if (!a->ahead) return merge_next(&a->m, row);
    for (;;) {
        if (!a->have) {
            pthread_mutex_lock(&a->mu);
            while (!a->ready[a->cb]) pthread_cond_wait(&a->cv, &a->mu);
            pthread_mutex_unlock(&a->mu);
            a->have = true;
            a->cpos = 0;
            const KrRow *rows = a->batch[a->cb];
            for (uint32_t i = 0; i < a->len[a->cb] && i < WRITE_AHEAD; i++)
                kr_pool_prefetch_str(a->m.r->customers, rows[i].customer, false);
        }
        uint32_t i = a->cpos, n = a->len[a->cb];
        if (i < n) {
            const KrRow *rows = a->batch[a->cb];
            if (i + WRITE_AHEAD < n) kr_pool_prefetch_str(a->m.r->customers, rows[i + WRITE_AHEAD].customer, false);
            if (i + WRITE_AHEAD / 2u < n) kr_pool_prefetch_str(a->m.r->customers, rows[i + WRITE_AHEAD / 2u].customer, true);
            *row = rows[i];
            a->cpos++;
            return 1;
        }
        if (n < WRITE_BATCH) return a->rc;       /* the last batch */
        pthread_mutex_lock(&a->mu);
        a->ready[a->cb] = false;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        a->cb ^= 1u;
        a->have = false;
    }
}

void kp_merge_close(KpMerge *a)
{
    if (!a) return;
    if (a->ahead) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL);
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
    }
    free(a->batch[0]);
    free(a->m.h);
    free(a);
}

/* merge_rows -- lane's rows of every bucket to emit in the schedule's
 * order (the merge on a thread of its own when that pays: KpMerge).  0; -1
 * out of memory or an unreadable temporary file; -2 emit failed. */
static int merge_rows(KpRun *r, uint32_t lane, KrEmit emit, void *ctx)
{
    KpMerge *m = kp_merge_open(r, lane);
    if (!m) return -1;
    KrRow row;
    int rc;
    while ((rc = kp_merge_next(m, &row)) == 1)
        if (emit && emit(ctx, &row) != 0) { rc = -2; break; }
    kp_merge_close(m);
    return rc;
}

/* merge_lanes -- each lane's rows to its emitter, lane after lane.  The
 * result of the first lane that failed. */
static int merge_lanes(KpRun *r, const KrEmit *emit, void *const *emit_ctx)
{
    int rc = 0;
    for (uint32_t l = 0; l < r->nlanes && rc == 0; l++) rc = merge_rows(r, l, emit[l], emit_ctx[l]);
    return rc;
}

int kp_replay(KpRun *r, int64_t horizon, KrEmit emit, void *emit_ctx)
{
    return kp_replay_lanes(r, horizon, &emit, &emit_ctx);
}

int kp_replay_lanes(KpRun *r, int64_t horizon, const KrEmit *emit, void *const *emit_ctx)
{
    r->horizon = horizon;
    /* the merge reads back up to rows_back rows per bucket and lane: an
     * eighth of the budget in all (half measured no faster on 12M events
     * of 1M customers, and 2 MB more at the peak) */
    size_t back = r->budget / 8u / ((size_t)r->nb * r->nlanes * sizeof(KrRow));
    r->rows_back = back < 4u ? 4u : back > ROWS_BACK ? ROWS_BACK : (uint32_t)back;
    atomic_store(&r->rows_mem, 0);
    /* The engines intern the images' strings into the shared value pool:
     * once here, so that the workers only find them (no writes). */
    for (uint32_t l = 0; l < r->nlanes; l++) {
        KrPool *p = kr_pool_new();
        if (!p) return -1;
        KrEngineOpts eo = { .has_until = false };
        KrEngine *e = kr_engine_new(r->lane[l].img, p, r->values, &eo);
        kr_pool_free(p);
        if (!e) return -1;
        kr_engine_free(e);
    }
    uint32_t jobs = ki_jobs(r->opt);
    if (jobs > JOBS_MAX) jobs = JOBS_MAX;
    uint32_t busy = 0;
    for (uint32_t i = 0; i < r->nb; i++)
        for (uint32_t p = 0; p < r->nparts; p++) {
            const Seg *k = seg_of(r, p, i);
            if (k->len || k->nchunks) { busy++; break; }
        }
    if (jobs > busy) jobs = busy ? busy : 1u;
    /* the rows a worker holds per lane while replaying a bucket: a quarter
     * of the budget over the workers and lanes (more go to runs) */
    r->run_rows = r->budget / 4u / ((size_t)jobs * r->nlanes * sizeof(KrRow));
    if (r->run_rows < 1024u) r->run_rows = 1024u;
    if (RUN_ROWS_FORCED) r->run_rows = RUN_ROWS_FORCED;
    /* an unsorted bucket is loaded whole up to an eighth of --memory over
     * the workers (buckets are a few MiB: only one customer with millions
     * of events, or standard input, which gets 64 buckets, passes it) */
    r->load_limit = (size_t)(r->memory / 8u / jobs);
    if (r->load_limit < (256u << 10)) r->load_limit = 256u << 10;
    if (LOAD_LIMIT_FORCED) r->load_limit = LOAD_LIMIT_FORCED;
    Acc acc[JOBS_MAX];
    memset(acc, 0, sizeof acc);
    pthread_t th[JOBS_MAX];
    bool started[JOBS_MAX] = { false };
    int rc = 0;
    atomic_store(&r->next, 0u);
    atomic_store(&r->failed, 0);
    /* A customer whose `every` boundaries would pass the bound fails at its
     * first event (SPEC 9.3): when the earliest customer does, no failure
     * comes earlier, and every bucket stops past it (cut: given up, or
     * replayed in time order when it went customer by customer, so that
     * the failures at that instant are found and the lowest bucket's
     * reported, for any --jobs). */
    r->has_deadline = false;
    for (uint32_t l = 0; l < r->nlanes; l++)
        if (r->first_time <= kr_every_bound_first(r->lane[l].img, horizon)) r->has_deadline = true;
    r->deadline = r->first_time;
    for (uint32_t j = 0; j < jobs; j++)
        if (acc_init(&acc[j], r) != 0) { rc = -1; goto out; }
    for (uint32_t j = 1; j < jobs; j++)
        started[j] = kr_thread_start(&th[j], NULL, worker, &acc[j]) == 0;
    worker(&acc[0]);               /* this thread is a worker too */
    for (uint32_t j = 1; j < jobs; j++)
        if (started[j]) pthread_join(th[j], NULL);
    uint32_t lowest = UINT32_MAX;
    int64_t ltime = INT64_MAX;
    for (uint32_t j = 0; j < jobs; j++) {
        if (acc[j].oom) rc = -1;
        if (acc[j].fail && !acc[j].oom &&
            (acc[j].fail_time < ltime || (acc[j].fail_time == ltime && acc[j].fail_bucket < lowest))) {
            lowest = acc[j].fail_bucket;
            ltime = acc[j].fail_time;
            memcpy(r->errmsg, acc[j].firstmsg, sizeof r->errmsg);
        }
        for (uint32_t l = 0; l < r->nlanes; l++) {
            Lane *ln = &r->lane[l];
            const KImage *img = ln->img;
            const AccLane *al = &acc[j].l[l];
            ln->stats.events += al->events;
            ln->stats.customers += al->customers;
            for (uint32_t ri = 0; ri < img->nrules; ri++)
                for (int s = 0; s < KR_ST__COUNT; s++) ln->stats.rule[ri][s] += al->st[ri][s];
            for (uint32_t i = 0; i < img->nattr_reads; i++) {
                ln->carried[i] |= al->carried[i];
                kr_type_tally_merge(&ln->types[i], &al->types[i]);
            }
            for (uint32_t i = 0; i < img->nevents; i++) ln->seen[i] |= al->seen[i];
            kr_bad_zones_merge(&ln->badz, &al->badz);
        }
    }
    /* the rows counted in pass 1 (none_row) are events of every lane */
    for (uint32_t p = 0; p < r->nparts; p++)
        for (uint32_t l = 0; l < r->nlanes; l++) r->lane[l].stats.events += r->part[p].none_counted;
    if (rc == 0 && lowest != UINT32_MAX) rc = -1;
    else if (rc != 0) r->errmsg[0] = '\0';       /* out of memory: no limit message */
    if (rc == 0 && emit) rc = merge_lanes(r, emit, emit_ctx);
out:
    for (uint32_t j = 0; j < jobs; j++) acc_free(&acc[j]);
    return rc;
}

const KrStats *kp_stats(const KpRun *r) { return &r->lane[0].stats; }
const KrStats *kp_lane_stats(const KpRun *r, uint32_t lane) { return &r->lane[lane].stats; }
const char *kp_error(const KpRun *r) { return r->errmsg[0] ? r->errmsg : NULL; }

const KrBadZones *kp_bad_zones(const KpRun *r) { return &r->lane[0].badz; }

const KrTypeTally *kp_type_tally(const KpRun *r, uint32_t i)
{
    const Lane *l = &r->lane[0];
    if (i >= l->img->nattr_reads || l->img->attr_reads[i].tag == KB_UNTYPED || !l->types) return NULL;
    return &l->types[i];
}

bool kp_attr_unseen(const KpRun *r, uint32_t i)
{
    const Lane *l = &r->lane[0];
    const KImage *img = l->img;
    if (i >= img->nattr_reads || !l->carried || l->carried[i]) return false;
    const KbRule *rule = &img->rules[img->attr_reads[i].rule];
    return rule->trigger == KB_TRIG_AFTER && rule->event < img->nevents && l->seen[rule->event];
}

void kp_free(KpRun *r)
{
    if (!r) return;
    for (uint32_t p = 0; r->part && p < r->nparts; p++) {
        Part *w = &r->part[p];
        pages_free(w->free_pages);
        free(w->cmap);
        free(w->vmap);
        free(w->none_bits);
    }
    free(r->part);
    for (size_t i = 0; r->seg && i < (size_t)r->nparts * r->nb; i++) {
        pages_free(r->seg[i].head);
        free(r->seg[i].chunks);
    }
    for (uint32_t i = 0; r->b && i < r->nb; i++)
        for (uint32_t l = 0; l < KP_LANES; l++) free(r->b[i].out[l].rows);
    free(r->b);
    free(r->seg);

    if (r->spill_fd >= 0) close(r->spill_fd);
    pthread_mutex_destroy(&r->spill_lock);
    for (uint32_t l = 0; l < KP_LANES; l++) lane_free(&r->lane[l]);
    free(r);
}
