/* extsort.c -- KrSort (internal.h): fixed-size records sorted within a
 * memory budget.  Records are added to a buffer of budget bytes; a full
 * buffer is sorted and written to an unlinked temporary file as one run;
 * at the end the runs and what is left in the buffer are merged through a
 * heap, each run read back a block at a time.  When no temporary file
 * can be made or written, the records stay in memory past the budget (as
 * the partition's and the held-back output's do).  The comparison must be
 * a total order (equal records: the one added first comes first).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "../lang/util.h"

typedef struct Run {
    uint64_t off, n;              /* where in the file, how many records */
    uint64_t next;                /* records read back so far */
    char *buf; size_t pos, len;   /* a block read back: records [pos, len) */
} Run;

struct KrSort {
    size_t size;                  /* of a record */
    int (*cmp)(const void *, const void *);
    const char *name;             /* of the temporary file */
    char *mem; size_t n, cap, max;    /* the buffer: n records of room for cap, max at most */
    Run *runs; size_t nruns, capruns;
    int fd;
    uint64_t end;                 /* the file's length */
    bool failed, merging;
    bool nospill;                 /* a spill failed (no temporary file, no room): memory
                                     grows past the budget instead, as the partition's */
    size_t taken;                 /* merging without runs: the buffer's next record */
    uint32_t *heap; size_t nheap; /* sources by their current record: runs, then the buffer (nruns) */
    size_t block;                 /* records read back at a time per run */
};

#define BUDGET_MAX (4u << 20)     /* bytes of records kept in memory, at most */

uint64_t kr_sort_budget(const KrOptions *opt)
{
    uint64_t b = (opt->memory ? opt->memory : KR_MEMORY_DEFAULT) / 8u;
    return b < BUDGET_MAX ? b : BUDGET_MAX;
}

KrSort *kr_sort_new(size_t size, int (*cmp)(const void *, const void *), size_t budget, const char *name)
{
    KrSort *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->size = size;
    s->cmp = cmp;
    s->name = name;
    s->fd = -1;
    s->max = budget / size;
    if (s->max < 64) s->max = 64;
    return s;
}

/* The buffer sorted and written out as a run. */
static int spill(KrSort *s)
{
    if (s->fd < 0 && (s->fd = kr_temp_fd(s->name)) < 0) return -1;
    if (KU_RESERVE(s->runs, s->nruns, s->capruns, 16) != 0) return -1;
    qsort(s->mem, s->n, s->size, s->cmp);
    if (kr_write_at(s->fd, s->mem, s->n * s->size, s->end) != 0) return -1;
    s->runs[s->nruns++] = (Run){ .off = s->end, .n = s->n };
    s->end += (uint64_t)s->n * s->size;
    s->n = 0;
    return 0;
}

void *kr_sort_slot(KrSort *s)
{
    if (s->failed || s->merging) return NULL;
    if (s->n == s->max && !s->nospill && spill(s) != 0) s->nospill = true;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2u : 256u;
        if (nc > s->max && !s->nospill) nc = s->max;
        char *m = realloc(s->mem, nc * s->size);
        if (!m) { s->failed = true; return NULL; }
        s->mem = m;
        s->cap = nc;
    }
    return s->mem + s->n++ * s->size;
}

/* The current record of source i (a run's, or the buffer's). */
static const void *head_of(const KrSort *s, uint32_t i)
{
    if (i == s->nruns) return s->mem + s->taken * s->size;
    const Run *r = &s->runs[i];
    return r->buf + r->pos * s->size;
}

static bool before(const KrSort *s, uint32_t a, uint32_t b)
{
    int c = s->cmp(head_of(s, a), head_of(s, b));
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(KrSort *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < s->nheap && before(s, s->heap[l], s->heap[m])) m = l;
        if (l + 1 < s->nheap && before(s, s->heap[l + 1], s->heap[m])) m = l + 1;
        if (m == i) return;
        uint32_t t = s->heap[i]; s->heap[i] = s->heap[m]; s->heap[m] = t;
        i = m;
    }
}

/* Reads run i's next block: 1, 0 at its end, -1 on an error. */
static int refill(KrSort *s, Run *r)
{
    r->pos = r->len = 0;
    if (r->next == r->n) return 0;
    uint64_t k = r->n - r->next;
    if (k > s->block) k = s->block;
    if (kr_read_at(s->fd, r->buf, (size_t)k * s->size, r->off + r->next * s->size) != 0) return -1;
    r->next += k;
    r->len = (size_t)k;
    return 1;
}

int kr_sort_finish(KrSort *s)
{
    if (s->failed) return -1;
    s->merging = true;
    if (s->n) qsort(s->mem, s->n, s->size, s->cmp);
    if (!s->nruns) return 0;
    /* a block per run from what the buffer held at most, 4 KiB at least */
    size_t bytes = s->max * s->size / (s->nruns + 1u);
    if (bytes < 4096u) bytes = 4096u;
    s->block = bytes / s->size ? bytes / s->size : 1u;
    s->heap = malloc((s->nruns + 1u) * sizeof *s->heap);
    if (!s->heap) { s->failed = true; return -1; }
    for (size_t i = 0; i < s->nruns; i++) {
        Run *r = &s->runs[i];
        if (!(r->buf = malloc(s->block * s->size))) { s->failed = true; return -1; }
        int rc = refill(s, r);
        if (rc < 0) { s->failed = true; return -1; }
        if (rc > 0) s->heap[s->nheap++] = (uint32_t)i;
    }
    if (s->n) s->heap[s->nheap++] = (uint32_t)s->nruns;
    for (size_t i = s->nheap / 2; i-- > 0;) sift_down(s, i);
    return 0;
}

const void *kr_sort_next(KrSort *s, void *out)
{
    if (s->failed) return NULL;
    if (!s->nruns) {
        if (s->taken == s->n) return NULL;
        return s->mem + s->taken++ * s->size;
    }
    if (!s->nheap) return NULL;
    uint32_t i = s->heap[0];
    memcpy(out, head_of(s, i), s->size);     /* a run's block may be read over next */
    bool more;
    if (i == s->nruns) more = ++s->taken < s->n;
    else {
        Run *r = &s->runs[i];
        more = ++r->pos < r->len;
        if (!more) {
            int rc = refill(s, r);
            if (rc < 0) { s->failed = true; return NULL; }
            more = rc > 0;
        }
    }
    if (!more) s->heap[0] = s->heap[--s->nheap];
    if (s->nheap) sift_down(s, 0);
    return out;
}

bool kr_sort_failed(const KrSort *s) { return s->failed; }
uint64_t kr_sort_spilled(const KrSort *s) { return s->end / s->size; }

void kr_sort_free(KrSort *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nruns; i++) free(s->runs[i].buf);
    free(s->runs);
    free(s->heap);
    free(s->mem);
    if (s->fd >= 0) close(s->fd);
    free(s);
}
