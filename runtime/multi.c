/* multi.c -- one read of the event logs feeding several engines (kr_multi_,
 * used by diff and readout).
 *
 * The reader (input.c) turns names into the indexes of one image.  Two
 * policies number their events and attributes differently, so the reader
 * works on a reader image: the union of the policies' event and attribute
 * names (the first policy's first and in its order, then the names only the
 * next one has), each event keeping every attribute some policy keeps, plus
 * an extra trait the caller asks for (readout --by).  Each event is then
 * translated for each engine: its event index, and the attributes that
 * engine's image keeps (ki_image_wants), in that image's index order.
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

/* ---- translation per engine ---------------------------------------------- */

typedef struct Lane {
    const KImage *img;
    KrEngine *eng;
    uint32_t *evmap;              /* reader event -> image event or KB_NONE */
    uint32_t *atmap;              /* reader attribute -> image attribute or KB_NONE */
    uint64_t *bits; uint32_t words;   /* ki_image_wants of img */
    uint32_t *ids; KrValue *vals; /* the translated attributes */
} Lane;

static void lane_free(Lane *l)
{
    free(l->evmap); free(l->atmap); free(l->bits); free(l->ids); free(l->vals);
}

static int lane_init(Lane *l, const KImage *u, const KImage *img)
{
    memset(l, 0, sizeof *l);
    l->img = img;
    l->evmap = calloc(u->nevents + 1u, sizeof *l->evmap);
    l->atmap = calloc(u->nattrs + 1u, sizeof *l->atmap);
    l->words = img->nattrs / 64u + 1u;
    l->bits = calloc((size_t)(img->nevents + 1u) * l->words, sizeof *l->bits);
    l->ids = calloc(u->nattrs + 1u, sizeof *l->ids);
    l->vals = calloc(u->nattrs + 1u, sizeof *l->vals);
    if (!l->evmap || !l->atmap || !l->bits || !l->ids || !l->vals) return -1;
    for (uint32_t e = 0; e < u->nevents; e++) l->evmap[e] = kb_find_event(img, u->strings[u->events[e]]);
    for (uint32_t a = 0; a < u->nattrs; a++) l->atmap[a] = kb_find_attr(img, u->strings[u->attrs[a]]);
    ki_image_wants(img, l->bits, l->words);
    return 0;
}

static void translate(Lane *l, const KrEvent *ev, KrEvent *out)
{
    *out = *ev;
    uint32_t e = ev->event == KB_NONE ? KB_NONE : l->evmap[ev->event];
    out->event = e;
    out->nattrs = 0;
    out->attr_ids = l->ids;
    out->attr_vals = l->vals;
    if (e == KB_NONE) return;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        uint32_t a = l->atmap[ev->attr_ids[i]];
        if (a == KB_NONE || !((l->bits[(size_t)e * l->words + a / 64u] >> (a % 64u)) & 1u)) continue;
        uint32_t j = n++;
        while (j > 0 && l->ids[j - 1] > a) { l->ids[j] = l->ids[j - 1]; l->vals[j] = l->vals[j - 1]; j--; }
        l->ids[j] = a;
        l->vals[j] = ev->attr_vals[i];
    }
    out->nattrs = n;
}

int kr_multi_run(const KrMulti *m, const KImage *u, const KrOptions *opt, KrPool *customers,
                 KrPool *values, FILE *err)
{
    int status = 1;
    Lane lanes[KR_MULTI_MAX];
    uint32_t nl = m->nimgs < KR_MULTI_MAX ? m->nimgs : KR_MULTI_MAX;
    memset(lanes, 0, sizeof lanes);
    KrInput *in = NULL;
    for (uint32_t k = 0; k < nl; k++)
        if (lane_init(&lanes[k], u, m->imgs[k]) != 0) { fprintf(err, "kairos: out of memory\n"); goto done; }
    in = ki_open(u, opt, customers, values, err);
    if (!in) goto done;
    ki_stream(in);
start:
    for (uint32_t k = 0; k < nl; k++) {
        KrEngineOpts eo = { .has_until = opt->has_until, .until = opt->until,
                            .emit = m->emit[k], .emit_ctx = m->emit_ctx[k] };
        lanes[k].eng = kr_engine_new(m->imgs[k], customers, values, &eo);
        if (!lanes[k].eng) { fprintf(err, "kairos: out of memory\n"); goto done; }
    }
    KrEvent ev, tev;
    int rc;
    int64_t last = INT64_MIN;
    while ((rc = ki_next(in, &ev)) == 1) {
        if (m->on_event && m->on_event(m->event_ctx, &ev) != 0) { rc = -2; break; }
        if (ev.time > last) last = ev.time;
        for (uint32_t k = 0; k < nl && rc == 1; k++) {
            translate(&lanes[k], &ev, &tev);
            if (kr_engine_event(lanes[k].eng, &tev) != 0) rc = -2;
        }
        if (rc != 1) break;
    }
    if (rc == 2) {
        for (uint32_t k = 0; k < nl; k++) { kr_engine_free(lanes[k].eng); lanes[k].eng = NULL; }
        if (m->on_restart) m->on_restart(m->event_ctx);
        goto start;
    }
    if (rc == 0) {
        int64_t horizon = opt->has_until ? opt->until : last;
        if (!opt->has_until && ki_other_shards_latest(in) > horizon) horizon = ki_other_shards_latest(in);
        for (uint32_t k = 0; k < nl && rc == 0; k++)
            if (kr_engine_finish(lanes[k].eng, horizon) != 0) rc = -2;
    }
    if (rc == -2) {
        const char *why = NULL;            /* a limit (SPEC 9.3), else memory */
        for (uint32_t k = 0; k < nl && !why; k++)
            if (lanes[k].eng) why = kr_engine_error(lanes[k].eng);
        fprintf(err, "kairos: %s\n", why ? why : "out of memory");
        goto done;
    }
    if (rc < 0) goto done;
    if (ki_rows_skipped(in))
        fprintf(err, "kairos: skipped %llu bad rows\n", (unsigned long long)ki_rows_skipped(in));
    if (m->on_finish) {
        int64_t horizon = opt->has_until ? opt->until : last;
        if (!opt->has_until && ki_other_shards_latest(in) > horizon) horizon = ki_other_shards_latest(in);
        for (uint32_t k = 0; k < nl; k++)
            m->on_finish(m->event_ctx, k, kr_engine_stats(lanes[k].eng), horizon, ki_rows_skipped(in));
    }
    status = 0;
done:
    for (uint32_t k = 0; k < nl; k++) { kr_engine_free(lanes[k].eng); lane_free(&lanes[k]); }
    if (in) ki_close(in);
    return status;
}
