/* hist.h -- a customer's history as the VM and the send-time placing read
 * it (kr_hist_*): the one interface between the engine's customer record
 * (KrCust and KrHist in internal.h, laid out by replay.c) and its readers,
 * the VM (vm.c) and best_time (sendtime.c, given a span by replay.c).
 * Neither reads a field of KrCust or KrHist, so a change of the engine's
 * memory layout edits internal.h, replay.c and this file, never them.  The
 * functions are inline: history opcodes run in the engine's innermost loop.
 *
 * Every function takes the run's KvEnv (image and the engine's map from
 * event kinds to kept histories) and the customer, which may be NULL (no
 * customer: nothing kept). */
#ifndef KAIROS_RUNTIME_HIST_H
#define KAIROS_RUNTIME_HIST_H

#include <stdlib.h>
#include "internal.h"

/* The kept events of one kind, oldest first: records lo .. hi-1, each its
 * time and the values of the image's retention[e].attrs in that order
 * (unknown when the event lacked one). */
struct KrHistSpan {               /* (typedef in internal.h) */
    const KrValue *cells;
    uint32_t lo, hi;              /* live records [lo, hi) */
    uint32_t stride;              /* cells per record */
};

/* The customer's kept events of kind e; false (and an empty span) when the
 * engine keeps none of that kind (only counted, or not read at all). */
static inline bool kr_hist_span(const KvEnv *env, const KrCust *c, uint32_t e, KrHistSpan *sp)
{
    *sp = (KrHistSpan){ NULL, 0, 0, 1 };
    if (!c || !c->hist || e >= env->img->nevents) return false;
    uint32_t h = env->hist_of[e];
    if (h == KB_NONE || (h & KR_COUNTED)) return false;
    const KrHist *k = &c->hist[h];
    *sp = (KrHistSpan){ k->cells, k->head, k->n, 1 + env->img->retention[e].nattrs };
    return true;
}

/* The memo of slot `slot` (KvEnv.memo_slot) of the customer's kept events
 * of kind e, for vm.c's count(E where F), made at its first use; *seq0:
 * the number of the span's record 0 (kr_hist_span: record r is the kind's
 * event number *seq0 + r).  NULL when the kind is not kept or memory ran
 * out: the count then reads the events one by one. */
static inline uint32_t kr_hist_aggs(const KvEnv *env, uint32_t e)
{
    return env->agg_off ? env->agg_off[e + 1u] - env->agg_off[e] : 0;
}

/* The kept events of kind e with their memos (counts, then aggregates)
 * made, *seq0 as below; NULL when the kind is not kept or memory ran out. */
static inline KrHist *kr_hist_memos(const KvEnv *env, const KrCust *c, uint32_t e, uint64_t *seq0)
{
    if (!c || !c->hist || e >= env->img->nevents) return NULL;
    uint32_t h = env->hist_of[e];
    if (h == KB_NONE || (h & KR_COUNTED)) return NULL;
    KrHist *k = &c->hist[h];
    size_t nc = env->memo_count ? env->memo_count[e] : 0;
    if (!k->memo && !(k->memo = calloc(1, nc * sizeof(KrCountMemo) + kr_hist_aggs(env, e) * sizeof(KrAggMemo))))
        return NULL;
    *seq0 = k->total - k->n;
    return k;
}

static inline KrCountMemo *kr_hist_memo(const KvEnv *env, const KrCust *c, uint32_t e, uint32_t slot,
                                        uint64_t *seq0)
{
    if (e >= env->img->nevents || !env->memo_count || slot >= env->memo_count[e]) return NULL;
    KrHist *k = kr_hist_memos(env, c, e, seq0);
    return k ? &k->memo[slot] : NULL;
}

/* The aggregate memo of attribute a of the customer's kept events of kind
 * e (vm.c's sum/avg/min/max), made at its first use, *seq0 as above; NULL
 * when the engine keeps none for it or memory ran out. */
static inline KrAggMemo *kr_hist_agg_memo(const KvEnv *env, const KrCust *c, uint32_t e, uint32_t a,
                                          uint64_t *seq0)
{
    if (e >= env->img->nevents || !kr_hist_aggs(env, e)) return NULL;
    uint32_t slot = 0, n = kr_hist_aggs(env, e);
    while (slot < n && env->agg_attr[env->agg_off[e] + slot] != a) slot++;
    if (slot == n) return NULL;
    KrHist *k = kr_hist_memos(env, c, e, seq0);
    return k ? (KrAggMemo *)(void *)(k->memo + (env->memo_count ? env->memo_count[e] : 0)) + slot : NULL;
}

/* Time of record r of a span. */
static inline int64_t kr_hist_time(const KrHistSpan *sp, uint32_t r)
{
    return sp->cells[(size_t)r * sp->stride].i;
}

/* The kept attribute values of record r (retention[e].attrs order). */
static inline const KrValue *kr_hist_attrs(const KrHistSpan *sp, uint32_t r)
{
    return &sp->cells[(size_t)r * sp->stride + 1];
}

/* Every event of kind e the customer had so far (not only the kept ones),
 * when the engine counts that kind (retention flag KB_RET_COUNT, or any
 * kept kind); false when it does not. */
static inline bool kr_hist_total(const KvEnv *env, const KrCust *c, uint32_t e, uint64_t *n)
{
    if (!c || e >= env->img->nevents) return false;
    uint32_t h = env->hist_of[e];
    if (h == KB_NONE) return false;
    if (h & KR_COUNTED) { *n = kr_cust_totals(c)[h & ~KR_COUNTED]; return true; }
    if (!c->hist) return false;
    *n = c->hist[h].total;
    return true;
}

/* The asks' first sent attempts the engine still keeps for the customer
 * (those a cap or asked() can see), in time order: *n of them. */
static inline const KrSent *kr_hist_sends(const KrCust *c, uint32_t *n)
{
    if (!c || c->nsent <= c->sent_head) { *n = 0; return NULL; }
    *n = c->nsent - c->sent_head;
    return c->sent + c->sent_head;
}

/* Profile trait t (index into img->traits) as the last identify gave it,
 * or unknown. */
static inline KrValue kr_hist_trait(const KrCust *c, uint32_t t)
{
    if (!c || !c->traits) return (KrValue){ .tag = KB_UNKNOWN };
    return c->traits[t];
}

#endif
