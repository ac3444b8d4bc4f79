/* pool.c -- string interning pools (kr_pool_*, kr_intern, kr_lookup).
 *
 * A pool gives each distinct byte string a dense id from 0.  The bytes live
 * in big chunks that are never moved (a pointer from kr_pool_str stays valid
 * until kr_pool_free), each string NUL-terminated.  Lookup is an open-
 * addressing table (linear probing, load <= 3/4) whose 24-byte slots hold
 * a 27-bit fingerprint of the hash with the length (up to 30), the id and
 * the first 16 bytes of a string of at most 16 bytes: finding such a
 * string reads one slot and nothing else.  A longer string's slot holds
 * its first 8 bytes and where its bytes are stored (preceded there by its
 * length), so that finding it reads one slot and the bytes: not the id's
 * PoolStr first (with a million UUIDs, two dependent cache misses per
 * lookup were half of a replay's time).  The table index comes from the
 * other half of the 64-bit hash (kept per string in PoolStr for growing
 * the table).
 */
#define _GNU_SOURCE                     /* mremap (Linux): a large table grows where it lies */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "internal.h"

#define POOL_CHUNK (256u * 1024u)       /* bytes per storage chunk */

typedef struct PoolStr { const char *p; uint32_t len; uint32_t hash; } PoolStr;

/* A table slot (24 bytes).  A string of up to 16 bytes sits in the slot
 * whole, so a lookup of a short string touches one cache line; of a longer
 * one, its first 8 bytes and its stored copy's address (slot_bytes). */
typedef struct Slot {
    uint32_t tag;                       /* fingerprint (high 27 bits) | min(len, LEN_BIG) */
    uint32_t id1;                       /* id + 1; 0: empty */
    uint64_t k[2];                      /* first 16 bytes, zero-padded; longer than 16:
                                           k[0] the first 8, k[1] the stored bytes' address */
} Slot;

#define LEN_BIG 31u                     /* tag length field: 31 = 31 bytes or more */
#define LEN_SLOT 16u                    /* longer strings: their address in the slot */

/* slot_bytes -- a long string's stored bytes (its length is the 4 bytes
 * before them: store). */
static inline const char *slot_bytes(const Slot *e)
{
    return (const char *)(uintptr_t)e->k[1];
}

struct KrPool {
    PoolStr *strs; uint32_t n, cap;     /* id -> string */
    bool refs;                          /* holds kr_pool_add_ref strings (no table entries) */
    Slot *slots; uint32_t mask;         /* hash table, size mask + 1 */
    size_t mapped;                      /* slots' bytes when mapped by table_map, else 0 (calloc) */
    char **chunks; uint32_t nchunks, capchunks;
    char *cur; size_t curfree;          /* free tail of the newest chunk */
};

static inline uint64_t load8(const char *s) { uint64_t w; memcpy(&w, s, 8); return w; }
static inline uint32_t load4(const char *s) { uint32_t w; memcpy(&w, s, 4); return w; }

#define MIX(h, w) do { (h) = ((h) ^ (w)) * 0xFF51AFD7ED558CCDULL; (h) ^= (h) >> 31; } while (0)

/* kr_hash_bytes -- a fast 64-bit hash for short keys: 8 bytes at a time
 * (the last word overlapping), multiply-xorshift mixing, murmur3's
 * finalizer (without it, ids that differ only in their last digits
 * cluster).  Not FNV: this one is only for tables, never for
 * anything that must be stable across versions. */
uint64_t kr_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (len * 0xC2B2AE3D27D4EB4FULL);
    if (len >= 8) {
        const char *last = s + len - 8;
        for (; s < last; s += 8) MIX(h, load8(s));
        MIX(h, load8(last));
    } else if (len >= 4) {
        MIX(h, load4(s) | ((uint64_t)load4(s + len - 4) << 32));
    } else if (len > 0) {
        MIX(h, (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len / 2] << 8
               | (uint64_t)(unsigned char)s[len - 1] << 16);
    }
    h ^= h >> 33;                       /* murmur3's finalizer */
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

static void table_free(KrPool *p);

KrPool *kr_pool_new(void)
{
    KrPool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->mask = 255;
    p->slots = calloc(p->mask + 1u, sizeof *p->slots);
    if (!p->slots) { free(p); return NULL; }
    return p;
}

void kr_pool_free(KrPool *p)
{
    if (!p) return;
    for (uint32_t i = 0; i < p->nchunks; i++) free(p->chunks[i]);
    free(p->chunks);
    free(p->strs);
    table_free(p);
    free(p);
}

/* A looked-up string: its bytes, hash (table index bits), slot tag and
 * 16-byte prefix. */
typedef struct Key { const char *s; size_t len; uint32_t hash, tag; uint64_t k[2]; } Key;

static inline void make_key_h(Key *q, const char *s, size_t len, uint64_t h)
{
    q->s = s;
    q->len = len;
    q->hash = (uint32_t)(h >> 32);
    q->tag = ((uint32_t)h & ~LEN_BIG) | (len < LEN_BIG ? (uint32_t)len : LEN_BIG);
    kr_prefix16(s, len, q->k);
    if (len > LEN_SLOT) q->k[1] = 0;    /* (the slot holds an address there) */
}

static inline void make_key(Key *q, const char *s, size_t len)
{
    make_key_h(q, s, len, kr_hash_bytes(s, len));
}

void kr_pool_prefetch(const KrPool *p, uint64_t h)
{
#if defined(__GNUC__)
    /* the home slot and the next (a probe goes on to it about a third of
     * the time): 48 bytes, two cache lines when they straddle one */
    const char *s = (const char *)&p->slots[(uint32_t)(h >> 32) & p->mask];
    __builtin_prefetch(s);
    __builtin_prefetch(s + 2u * sizeof(Slot) - 1u);
#else
    (void)p; (void)h;
#endif
}

void kr_pool_prefetch_key(const KrPool *p, uint64_t h, const char *s, size_t len)
{
#if defined(__GNUC__)
    if (len <= LEN_SLOT || p->refs) return;
    Key q;
    make_key_h(&q, s, len, h);
    for (uint32_t i = q.hash & p->mask;; i = (i + 1u) & p->mask) {
        const Slot *e = &p->slots[i];
        if (e->id1 == 0) return;
        if (e->tag == q.tag && e->k[0] == q.k[0]) {
            __builtin_prefetch(slot_bytes(e) - 4);
            return;
        }
    }
#else
    (void)p; (void)h; (void)s; (void)len;
#endif
}

void kr_pool_prefetch_str(const KrPool *p, uint32_t id, bool bytes)
{
#if defined(__GNUC__)
    if (id >= p->n) return;
    if (bytes) __builtin_prefetch(p->strs[id].p);
    else __builtin_prefetch(&p->strs[id]);
#else
    (void)p; (void)id; (void)bytes;
#endif
}

/* find -- slot index holding the key, or the empty slot where it would go. */
static uint32_t find(const KrPool *p, const Key *q)
{
    uint32_t i = q->hash & p->mask;
    for (;;) {
        const Slot *e = &p->slots[i];
        if (e->id1 == 0) return i;
        if (e->tag == q->tag && e->k[0] == q->k[0]) {
            /* the tag holds the exact length up to 30 */
            if (q->len <= LEN_SLOT) {
                if (e->k[1] == q->k[1]) return i;
            } else {
                const char *b = slot_bytes(e);
                if ((q->len < LEN_BIG || load4(b - 4) == q->len) && memcmp(b + 8, q->s + 8, q->len - 8) == 0)
                    return i;
            }
        }
        i = (i + 1u) & p->mask;
    }
}

uint32_t kr_lookup(const KrPool *p, const char *s, size_t len)
{
    if (p->refs) return UINT32_MAX;     /* no table (kr_pool_add_ref) */
    Key q;
    make_key(&q, s, len);
    const Slot *e = &p->slots[find(p, &q)];
    return e->id1 ? e->id1 - 1u : UINT32_MAX;
}

#define HUGE_PAGE (2u << 20)
#define HUGE_MIN  (4u << 20)     /* tables this large are mapped (table_map) */
#define WRAP_STACK 64u           /* grow_in_place: wrapped slots held without malloc */

/* prefault -- every page of p[0, bytes) written once now.  A fresh page
 * that is read before it is written maps the shared zero page, and the
 * write that follows costs a second fault and a TLB flush that, with other
 * threads of the process running, interrupts every core (with two threads
 * and a pool of 1M customers, a fifth of the CPU time). */
static void prefault(char *p, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 4096u) ((volatile char *)p)[i] = 0;
}

/* table_map -- bytes (a multiple of HUGE_PAGE) of zeroed memory of its own
 * mapping at a HUGE_PAGE boundary, in 2 MiB pages where the system allows
 * it (transparent huge pages, "madvise" or "always": probed at random, a
 * table of tens of MiB in 4 KiB pages costs a TLB miss on nearly every
 * probe), not yet written; NULL if it cannot be mapped. */
static char *table_map(size_t bytes)
{
    size_t span = bytes + HUGE_PAGE;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    char *h = (char *)(((uintptr_t)m + HUGE_PAGE - 1u) & ~(uintptr_t)(HUGE_PAGE - 1u));
    if (h > m) munmap(m, (size_t)(h - m));
    if (m + span > h + bytes) munmap(h + bytes, (size_t)(m + span - (h + bytes)));
#if defined(MADV_HUGEPAGE)
    madvise(h, bytes, MADV_HUGEPAGE);   /* a hint: refused, the pages stay small */
#endif
    return h;
}

/* table_alloc -- a zeroed table of n slots, every page written (prefault):
 * mapped from HUGE_MIN bytes on (*mapped its bytes), else from calloc
 * (*mapped 0); NULL when out of memory. */
static Slot *table_alloc(size_t n, size_t *mapped)
{
    size_t bytes = n * sizeof(Slot);
    *mapped = 0;
    if (bytes >= HUGE_MIN && bytes % HUGE_PAGE == 0) {
        char *h = table_map(bytes);
        if (h) {
            prefault(h, bytes);
            *mapped = bytes;
            return (Slot *)(void *)h;
        }
    }
    Slot *t = calloc(n, sizeof(Slot));
    if (t) prefault((char *)t, bytes);
    return t;
}

static void table_free(KrPool *p)
{
    if (p->mapped) munmap(p->slots, p->mapped);
    else free(p->slots);
}

/* place -- slot e of pool p into table t (mask + 1 slots) at the first
 * empty slot from its home. */
static inline void place(const KrPool *p, Slot *t, uint32_t mask, const Slot *e)
{
    uint32_t i = p->strs[e->id1 - 1u].hash & mask;
    while (t[i].id1) i = (i + 1u) & mask;
    t[i] = *e;
}

/* wrapped -- the occupied slot i lies before its home: its probe wrapped
 * from the table's end (grow_in_place). */
static inline bool wrapped(const KrPool *p, uint32_t i)
{
    return (p->strs[p->slots[i].id1 - 1u].hash & p->mask) > i;
}

/* grow_in_place -- a mapped table doubled where it lies (Linux): its pages
 * moved, not copied, to the start of a mapping twice their size (mremap),
 * and its slots moved within it; so growing writes only the fresh half
 * (each growth of a 1M-customer table wrote the whole new table, with the
 * old one beside it).  The slots are taken in order: first those of the
 * run that wraps from the old end to slot 0 (each before its home), put
 * aside; then slot 0 to the old end, each taken out and put at the first
 * empty slot from its new home, which is at most its old place, or in the
 * new half (or past the end, at the start: again before its old place,
 * which was just emptied): so no slot not yet moved ever lies on the probe
 * path of one moved, and emptying it later breaks none; last the slots
 * put aside.  0, or -1 with the table as it was (then grow copies). */
static int grow_in_place(KrPool *p)
{
#if defined(MREMAP_FIXED) && defined(MREMAP_MAYMOVE)
    uint32_t n = p->mask + 1u;
    size_t bytes = p->mapped;
    if (!bytes || bytes != (size_t)n * sizeof(Slot)) return -1;
    /* the run from slot 0 (its wrapped slots, and those at or after their
     * home between them) */
    uint32_t run = 0, nwrap = 0;
    for (; run < n && p->slots[run].id1; run++) nwrap += wrapped(p, run);
    Slot stack[WRAP_STACK], *aside = nwrap <= WRAP_STACK ? stack : malloc(nwrap * sizeof *aside);
    if (!aside) return -1;
    char *q = table_map(2u * bytes);
    if (!q || mremap(p->slots, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, q) == MAP_FAILED) {
        if (q) munmap(q, 2u * bytes);
        if (aside != stack) free(aside);
        return -1;
    }
    prefault(q + bytes, bytes);
    Slot *s = (Slot *)(void *)q;
    p->slots = s;
    uint32_t na = 0;
    for (uint32_t i = 0; i < run; i++)
        if (wrapped(p, i)) {
            aside[na++] = s[i];
            s[i].id1 = 0;
        }
    p->mapped = 2u * bytes;
    p->mask = 2u * n - 1u;
    for (uint32_t i = 0; i < n; i++) {
        if (!s[i].id1) continue;
        Slot e = s[i];
        s[i].id1 = 0;
        place(p, s, p->mask, &e);
    }
    for (uint32_t k = 0; k < na; k++) place(p, s, p->mask, &aside[k]);
    if (aside != stack) free(aside);
    return 0;
#else
    (void)p;
    return -1;
#endif
}

/* grow -- doubles the table and moves every slot: where it lies when it
 * is mapped (grow_in_place), else into a new table. */
static int grow(KrPool *p)
{
    if (grow_in_place(p) == 0) return 0;
    uint32_t nmask = p->mask * 2u + 1u;
    size_t mapped;
    Slot *ns = table_alloc((size_t)nmask + 1u, &mapped);
    if (!ns) return -1;
    for (uint32_t j = 0; j <= p->mask; j++)
        if (p->slots[j].id1) place(p, ns, nmask, &p->slots[j]);
    table_free(p);
    p->slots = ns;
    p->mask = nmask;
    p->mapped = mapped;
    return 0;
}

/* room -- n bytes of chunk storage; NULL when out of memory. */
static char *room(KrPool *p, size_t n)
{
    if (n > p->curfree) {
        size_t sz = n > POOL_CHUNK / 4 ? n : POOL_CHUNK;
        if (p->nchunks == p->capchunks) {
            uint32_t nc = p->capchunks ? p->capchunks * 2u : 16u;
            char **c = realloc(p->chunks, nc * sizeof *c);
            if (!c) return NULL;
            p->chunks = c; p->capchunks = nc;
        }
        char *c = malloc(sz);
        if (!c) return NULL;
        p->chunks[p->nchunks++] = c;
        if (sz != POOL_CHUNK) return c;        /* a big string: a chunk of its own */
        p->cur = c;
        p->curfree = sz;
    }
    char *d = p->cur;
    p->cur += n;
    p->curfree -= n;
    return d;
}

/* store -- copies s (NUL-terminated) into chunk storage, a string longer
 * than LEN_SLOT preceded by its length (4 bytes: slot_bytes). */
static const char *store(KrPool *p, const char *s, size_t len)
{
    size_t pre = len > LEN_SLOT ? sizeof(uint32_t) : 0;
    char *d = room(p, pre + len + 1u);
    if (!d) return NULL;
    if (pre) {
        uint32_t n = (uint32_t)len;
        memcpy(d, &n, sizeof n);
        d += pre;
    }
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

/* kr_intern -- id of s, inserting it if new; UINT32_MAX when out of memory
 * (or more than 2^32 - 2 strings). */
uint32_t kr_intern(KrPool *p, const char *s, size_t len)
{
    return kr_intern_hashed(p, s, len, kr_hash_bytes(s, len));
}

/* strs_room -- room in p->strs for one more; -1 out of memory. */
static int strs_room(KrPool *p)
{
    if (p->n < p->cap) return 0;
    uint32_t nc = p->cap ? p->cap * 2u : 64u;
    PoolStr *ns = realloc(p->strs, (size_t)nc * sizeof *ns);
    if (!ns) return -1;
    p->strs = ns;
    p->cap = nc;
    return 0;
}

uint32_t kr_pool_add_ref(KrPool *p, const char *s, size_t len)
{
    if ((p->n > 0 && !p->refs) || len > UINT32_MAX - 1u || p->n >= UINT32_MAX - 2u || strs_room(p) != 0)
        return UINT32_MAX;
    p->refs = true;
    p->strs[p->n] = (PoolStr){ s, (uint32_t)len, 0 };
    return p->n++;
}

uint32_t kr_intern_hashed(KrPool *p, const char *s, size_t len, uint64_t h)
{
    if (p->refs) return UINT32_MAX;
    Key q;
    make_key_h(&q, s, len, h);
    uint32_t i = find(p, &q);
    if (p->slots[i].id1) return p->slots[i].id1 - 1u;
    if (len > UINT32_MAX - 1u || p->n >= UINT32_MAX - 2u) return UINT32_MAX;
    if ((uint64_t)(p->n + 1u) * 4u > ((uint64_t)p->mask + 1u) * 3u) {
        if (grow(p) != 0) return UINT32_MAX;
        i = find(p, &q);
    }
    if (strs_room(p) != 0) return UINT32_MAX;
    const char *d = store(p, s, len);
    if (!d) return UINT32_MAX;
    uint32_t id = p->n++;
    p->strs[id] = (PoolStr){ d, (uint32_t)len, q.hash };
    Slot *e = &p->slots[i];
    e->tag = q.tag;
    e->id1 = id + 1u;
    e->k[0] = q.k[0];
    e->k[1] = len > LEN_SLOT ? (uint64_t)(uintptr_t)d : q.k[1];
    return id;
}

const char *kr_pool_str(const KrPool *p, uint32_t id, size_t *len)
{
    if (id >= p->n) { if (len) *len = 0; return NULL; }
    if (len) *len = p->strs[id].len;
    return p->strs[id].p;
}

uint32_t kr_pool_count(const KrPool *p)
{
    return p->n;
}
