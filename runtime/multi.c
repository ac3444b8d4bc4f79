/* multi.c -- one read of the event logs feeding several engines (kr_multi_,
 * used by diff, readout and report): the partitioned replay (partition.c)
 * with one lane per policy.
 *
 * The reader (input.c) turns names into the indexes of one image.  Two
 * policies number their events and attributes differently, so the reader
 * works on a reader image: the union of the policies' event and attribute
 * names (the first policy's first and in its order, then the names only the
 * next one has), each event keeping every attribute some policy keeps, plus
 * an extra trait the caller asks for (readout --by).  Pass 1 routes each
 * row once, in the reader image's terms; pass 2 translates each record for
 * each engine: its event index, and the attributes that engine's image
 * keeps (ki_image_wants), in that image's index order.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* A reader image owns its tables; its strings point into the source
 * images (or at extra, for the extra trait). */
typedef struct Names { uint32_t *si; uint32_t n; } Names;

static uint32_t find_name(const KImage *u, const Names *t, const char *s)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (strcmp(u->strings[t->si[i]], s) == 0) return i;
    return KB_NONE;
}

static uint32_t add_string(KImage *u, const char *s, size_t len)
{
    u->strings[u->nstrings] = (char *)(uintptr_t)s;
    u->string_lens[u->nstrings] = (uint32_t)len;
    return u->nstrings++;
}

void kr_reader_image_free(KImage *u)
{
    if (!u) return;
    if (u->retention)
        for (uint32_t e = 0; e < u->nevents; e++) free(u->retention[e].attrs);
    free(u->retention);
    free(u->strings);
    free(u->string_lens);
    free(u->events);
    free(u->attrs);
    free(u->traits);
    free(u);
}

KImage *kr_reader_image(const KImage *const *imgs, uint32_t n, const char *extra_trait)
{
    KImage *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    size_t cap = 1;
    for (uint32_t k = 0; k < n; k++) cap += imgs[k]->nevents + imgs[k]->nattrs;
    u->strings = calloc(cap, sizeof *u->strings);
    u->string_lens = calloc(cap, sizeof *u->string_lens);
    u->events = calloc(cap, sizeof *u->events);
    u->attrs = calloc(cap, sizeof *u->attrs);
    u->traits = calloc(cap, sizeof *u->traits);
    if (!u->strings || !u->string_lens || !u->events || !u->attrs || !u->traits) goto fail;
    Names ev = { u->events, 0 }, at = { u->attrs, 0 };
    for (uint32_t k = 0; k < n; k++) {
        const KImage *img = imgs[k];
        for (uint32_t e = 0; e < img->nevents; e++) {
            const char *s = img->strings[img->events[e]];
            if (find_name(u, &ev, s) == KB_NONE)
                ev.si[ev.n++] = add_string(u, s, img->string_lens[img->events[e]]);
        }
        for (uint32_t a = 0; a < img->nattrs; a++) {
            const char *s = img->strings[img->attrs[a]];
            if (find_name(u, &at, s) == KB_NONE)
                at.si[at.n++] = add_string(u, s, img->string_lens[img->attrs[a]]);
        }
    }
    if (extra_trait && find_name(u, &at, extra_trait) == KB_NONE)
        at.si[at.n++] = add_string(u, extra_trait, strlen(extra_trait));
    u->nevents = ev.n;
    u->nattrs = at.n;
    /* retention: every attribute some image keeps with the event */
    u->retention = calloc(u->nevents ? u->nevents : 1u, sizeof *u->retention);
    if (!u->retention) goto fail;
    for (uint32_t e = 0; e < u->nevents; e++) {
        u->retention[e].attrs = calloc(u->nattrs + 1u, sizeof(uint32_t));
        if (!u->retention[e].attrs) goto fail;
    }
    for (uint32_t k = 0; k < n; k++) {
        const KImage *img = imgs[k];
        uint32_t words = img->nattrs / 64u + 1u;
        uint64_t *bits = calloc((size_t)(img->nevents + 1u) * words, sizeof *bits);
        if (!bits) goto fail;
        ki_image_wants(img, bits, words);
        for (uint32_t e = 0; e < img->nevents; e++) {
            KbRetention *r = &u->retention[find_name(u, &ev, img->strings[img->events[e]])];
            for (uint32_t a = 0; a < img->nattrs; a++) {
                if (!((bits[(size_t)e * words + a / 64u] >> (a % 64u)) & 1u)) continue;
                uint32_t ua = find_name(u, &at, img->strings[img->attrs[a]]);
                bool dup = false;
                for (uint32_t i = 0; i < r->nattrs && !dup; i++) dup = r->attrs[i] == ua;
                if (!dup) r->attrs[r->nattrs++] = ua;
            }
        }
        for (uint32_t t = 0; t < img->ntraits; t++) {
            uint32_t ua = find_name(u, &at, img->strings[img->attrs[img->traits[t]]]);
            bool dup = false;
            for (uint32_t i = 0; i < u->ntraits && !dup; i++) dup = u->traits[i] == ua;
            if (!dup) u->traits[u->ntraits++] = ua;
        }
        free(bits);
    }
    if (extra_trait) {
        uint32_t ua = find_name(u, &at, extra_trait);
        bool dup = false;
        for (uint32_t i = 0; i < u->ntraits && !dup; i++) dup = u->traits[i] == ua;
        if (!dup) u->traits[u->ntraits++] = ua;
    }
    u->timezone = KB_NONE;
    u->policy_name = KB_NONE;
    return u;
fail:
    kr_reader_image_free(u);
    return NULL;
}

/* ---- the run: the partitioned replay with one lane per image -------------- */

int kr_multi_run(const KrMulti *m, const KImage *u, const KrOptions *opt, KrPool *customers,
                 KrPool *values, FILE *err)
{
    int status = 1;
    KrInput *in = NULL;
    KpRun *run = NULL;
    uint32_t nl = m->nimgs < KR_MULTI_MAX ? m->nimgs : KR_MULTI_MAX;
    in = ki_open(u, opt, customers, values, err);
    if (!in) goto done;
    run = kp_new_lanes(u, m->imgs, nl, opt, customers, values);
    if (!run) { fprintf(err, "kairos: out of memory\n"); goto done; }
    if (m->on_event) kp_on_row(run, m->on_event, m->event_ctx);
    if (kp_read(run, in, err) != 0) goto done;          /* the reader printed the message */
    /* the horizon as kr_simulate's: other shards' rows included */
    int64_t horizon = opt->has_until ? opt->until : kp_last_time(run);
    if (!opt->has_until && ki_other_shards_latest(in) > horizon) horizon = ki_other_shards_latest(in);
    int rc = m->pull ? kp_replay_lanes(run, horizon, NULL, NULL) : kp_replay_lanes(run, horizon, m->emit, m->emit_ctx);
    if (rc != 0) {
        /* a limit (SPEC 9.3), else memory (an emitter fails only then) */
        fprintf(err, "kairos: %s\n", rc == -1 && kp_error(run) ? kp_error(run) : "out of memory");
        goto done;
    }
    if (m->pull && (rc = m->pull(m->pull_ctx, run)) != 0) {
        if (rc != -2) fprintf(err, "kairos: out of memory\n");
        goto done;
    }
    if (ki_rows_skipped(in))
        fprintf(err, "kairos: skipped %llu bad rows\n", (unsigned long long)ki_rows_skipped(in));
    kr_bad_zones_warn(err, m->nimgs == 1 ? m->imgs[0] : NULL, kp_bad_zones(run), values);
    if (m->on_finish)
        for (uint32_t k = 0; k < nl; k++)
            m->on_finish(m->event_ctx, k, kp_lane_stats(run, k), horizon, ki_rows_skipped(in), kp_bad_zones(run));
    status = 0;
done:
    kp_free(run);
    if (in) ki_close(in);
    return status;
}
