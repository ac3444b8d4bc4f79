/* kbc.c -- the .kbc file format: kb_write serializes an image, kb_read
 * loads one, bounds-checking every read, then hands it to kb_verify.
 *
 * The layout is documented byte by byte in doc/internals/bytecode.md, section 4:
 * a fixed 52-byte header, fifteen sections in a fixed order (each an id
 * byte, a u32 payload length and the payload; the last, debug, since
 * format version 2), and an FNV-1a 64 checksum
 * of everything before it.  All integers little-endian, fixed width, no
 * padding, no pointers, no timestamps: the same image always gives the
 * same bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bytecode.h"

#define KBC_HEADER_SIZE 52u
#define KBC_BYTE_ORDER  0x12345678u
#define KBC_NUM_CHECK   370.5

static const uint8_t kbc_magic[4]    = { 0x7f, 'K', 'B', 'C' };
static const uint8_t kbc_sentinel[4] = { '\r', '\n', 0x1a, '\n' };

enum {
    SEC_STRINGS = 1, SEC_CONSTS, SEC_CODE, SEC_FUNCS, SEC_EVENTS, SEC_ATTRS,
    SEC_CHANNELS, SEC_SURVEYS, SEC_TRAITS, SEC_RULES, SEC_CAPS, SEC_QUIETS,
    SEC_CONSENT, SEC_SENT_WINDOW, SEC_DEBUG, SEC__COUNT
};
static const char *const sec_names[SEC__COUNT] = {
    "?", "strings", "constants", "code", "functions", "events", "attributes",
    "channels", "surveys", "traits", "rules", "caps", "quiets", "consent",
    "sent_window", "debug",
};

/* ---- writing ----------------------------------------------------------- */

typedef struct Wr {
    uint8_t *b;
    size_t n, cap;
    bool oom;
} Wr;

static void w_bytes(Wr *w, const void *p, size_t n)
{
    if (w->oom) return;
    if (n > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 1024;
        while (n > cap - w->n) {
            if (cap > SIZE_MAX / 2) { w->oom = true; return; }
            cap *= 2;
        }
        uint8_t *nb = realloc(w->b, cap);
        if (!nb) { w->oom = true; return; }
        w->b = nb;
        w->cap = cap;
    }
    if (n) memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_u8(Wr *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u32(Wr *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    w_bytes(w, b, 4);
}

static void w_u64(Wr *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_i32(Wr *w, int32_t v) { w_u32(w, (uint32_t)v); }
static void w_i64(Wr *w, int64_t v) { w_u64(w, (uint64_t)v); }

static void w_f64(Wr *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    w_u64(w, bits);
}

static void w_patch_u32(Wr *w, size_t at, uint32_t v)
{
    if (w->oom) return;
    for (int i = 0; i < 4; i++) w->b[at + i] = (uint8_t)(v >> (8 * i));
}

/* Starts a section: id byte and a length placeholder; returns the
 * placeholder's offset for w_end_section. */
static size_t w_begin_section(Wr *w, uint8_t id)
{
    w_u8(w, id);
    size_t at = w->n;
    w_u32(w, 0);
    return at;
}

static void w_end_section(Wr *w, size_t at)
{
    if (w->oom) return;
    size_t len = w->n - at - 4;
    if (len > UINT32_MAX) { w->oom = true; return; }
    w_patch_u32(w, at, (uint32_t)len);
}

static void w_index_table(Wr *w, uint8_t id, const uint32_t *v, uint32_t n)
{
    size_t s = w_begin_section(w, id);
    w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) w_u32(w, v[i]);
    w_end_section(w, s);
}

static void w_const(Wr *w, const KbConst *c)
{
    w_u8(w, c->tag);
    switch (c->tag) {
    case KB_NUM:  w_f64(w, c->num); break;
    case KB_STR:  w_u32(w, c->str); w_u32(w, 0); break;
    case KB_BOOL: w_u8(w, c->b ? 1 : 0); w_bytes(w, "\0\0\0\0\0\0\0", 7); break;
    default:      w_i64(w, c->i); break;          /* DUR, TIME, WEEKDAY */
    }
}

static void w_flag(Wr *w, bool v) { w_u8(w, v ? 1 : 0); }

static void w_attempts(Wr *w, const KbAttempt *a, uint32_t n)
{
    w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        w_u32(w, a[i].channel);
        w_i64(w, a[i].after);
    }
}

static void w_variants(Wr *w, const KbVariant *v, uint32_t n)
{
    w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        w_u32(w, v[i].name);
        w_u32(w, v[i].pct);
        w_u8(w, v[i].has_delay ? 1 : 0);
        w_i64(w, v[i].delay);
        w_u32(w, v[i].channel);
    }
}

/* A rule: its fields in KB_RULE_FIELDS order. */
#define W_FIELD_u8(f)       w_u8(w, r->f);
#define W_FIELD_u32(f)      w_u32(w, r->f);
#define W_FIELD_i32(f)      w_i32(w, r->f);
#define W_FIELD_i64(f)      w_i64(w, r->f);
#define W_FIELD_flag(f)     w_flag(w, r->f);
#define W_FIELD_attempts(f) w_attempts(w, r->f, r->n##f);
#define W_FIELD_variants(f) w_variants(w, r->f, r->n##f);
#define W_FIELD(kind, name, show) W_FIELD_##kind(name)

static void w_rule(Wr *w, const KbRule *r)
{
    KB_RULE_FIELDS(W_FIELD)
}

int kb_write(const KImage *img, uint8_t **out, size_t *outlen)
{
    Wr w = {0};
    *out = NULL;
    *outlen = 0;

    /* header */
    w_bytes(&w, kbc_magic, 4);
    w_u32(&w, KBC_VERSION);
    w_bytes(&w, kbc_sentinel, 4);
    w_u32(&w, KBC_BYTE_ORDER);
    w_f64(&w, KBC_NUM_CHECK);
    w_u8(&w, 4);                    /* bytes per code word */
    w_u8(&w, 8);                    /* bytes per number */
    w_u8(&w, 8);                    /* bytes per integer */
    w_u8(&w, 0);                    /* reserved */
    size_t len_at = w.n;
    w_u64(&w, 0);                   /* file length, patched below */
    w_u64(&w, img->source_hash);
    w_u32(&w, img->policy_name);
    w_u32(&w, img->timezone);

    size_t s = w_begin_section(&w, SEC_STRINGS);
    w_u32(&w, img->nstrings);
    for (uint32_t i = 0; i < img->nstrings; i++) {
        w_u32(&w, img->string_lens[i]);
        w_bytes(&w, img->strings[i], img->string_lens[i]);
    }
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_CONSTS);
    w_u32(&w, img->nconsts);
    for (uint32_t i = 0; i < img->nconsts; i++) w_const(&w, &img->consts[i]);
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_CODE);
    w_u32(&w, img->ncode);
    for (uint32_t i = 0; i < img->ncode; i++) w_u32(&w, img->code[i]);
    for (uint32_t i = 0; i < img->ncode; i++) w_u32(&w, img->lines ? img->lines[i] : 0);
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_FUNCS);
    w_u32(&w, img->nfuncs);
    for (uint32_t i = 0; i < img->nfuncs; i++) {
        w_u32(&w, img->funcs[i].start);
        w_u32(&w, img->funcs[i].len);
    }
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_EVENTS);
    w_u32(&w, img->nevents);
    for (uint32_t i = 0; i < img->nevents; i++) {
        const KbRetention *rt = &img->retention[i];
        w_u32(&w, img->events[i]);
        w_u8(&w, rt->flags);
        w_i64(&w, rt->window);
        w_u32(&w, rt->nattrs);
        for (uint32_t j = 0; j < rt->nattrs; j++) w_u32(&w, rt->attrs[j]);
    }
    w_end_section(&w, s);

    w_index_table(&w, SEC_ATTRS, img->attrs, img->nattrs);
    w_index_table(&w, SEC_CHANNELS, img->channels, img->nchannels);
    w_index_table(&w, SEC_SURVEYS, img->surveys, img->nsurveys);
    w_index_table(&w, SEC_TRAITS, img->traits, img->ntraits);

    s = w_begin_section(&w, SEC_RULES);
    w_u32(&w, img->nrules);
    for (uint32_t i = 0; i < img->nrules; i++) w_rule(&w, &img->rules[i]);
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_CAPS);
    w_u32(&w, img->ncaps);
    for (uint32_t i = 0; i < img->ncaps; i++) {
        w_u32(&w, img->caps[i].n);
        w_i64(&w, img->caps[i].window);
        w_u64(&w, img->caps[i].channels);
    }
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_QUIETS);
    w_u32(&w, img->nquiets);
    for (uint32_t i = 0; i < img->nquiets; i++) {
        w_i32(&w, img->quiets[i].start);
        w_i32(&w, img->quiets[i].end);
        w_u64(&w, img->quiets[i].channels);
    }
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_CONSENT);
    w_u64(&w, img->consent_channels);
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_SENT_WINDOW);
    w_i64(&w, img->sent_window);
    w_end_section(&w, s);

    s = w_begin_section(&w, SEC_DEBUG);
    w_u32(&w, img->nattr_reads);
    for (uint32_t i = 0; i < img->nattr_reads; i++) {
        const KbAttrRead *a = &img->attr_reads[i];
        w_u32(&w, a->rule);
        w_u32(&w, a->attr);
        w_u32(&w, a->file);
        w_u32(&w, a->line);
        w_u32(&w, a->col);
        w_u32(&w, a->tag);
    }
    w_u32(&w, img->nlet_names);
    for (uint32_t i = 0; i < img->nlet_names; i++) {
        w_u32(&w, img->let_names[i].pc);
        w_u32(&w, img->let_names[i].name);
    }
    w_end_section(&w, s);

    /* file length (including the checksum), then the checksum */
    if (!w.oom) {
        uint64_t total = (uint64_t)w.n + 8;
        for (int i = 0; i < 8; i++) w.b[len_at + i] = (uint8_t)(total >> (8 * i));
        w_u64(&w, kb_fnv1a64(w.b, w.n, KB_FNV_OFFSET));
    }
    if (w.oom) {
        free(w.b);
        return -1;
    }
    *out = w.b;
    *outlen = w.n;
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

typedef struct Rd {
    const uint8_t *b;
    size_t pos, end;              /* end: the current limit (section end) */
    const char *sect;             /* section being read, or NULL (header) */
    bool bad;
    char *err;
    size_t errlen;
} Rd;

static void r_fail(Rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void r_fail(Rd *r, const char *fmt, ...)
{
    if (r->bad) return;
    r->bad = true;
    int n = snprintf(r->err, r->errlen, "bad kairos bytecode: ");
    if (n < 0 || (size_t)n >= r->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* True when n more bytes can be read; else records the failure. */
static bool r_need(Rd *r, size_t n)
{
    if (r->bad) return false;
    if (n > r->end - r->pos) {
        if (r->sect)
            r_fail(r, "section %s ends too early at byte %zu", r->sect, r->end);
        else
            r_fail(r, "truncated at byte %zu", r->end);
        return false;
    }
    return true;
}

static uint8_t r_u8(Rd *r)
{
    if (!r_need(r, 1)) return 0;
    return r->b[r->pos++];
}

static uint32_t r_u32(Rd *r)
{
    if (!r_need(r, 4)) return 0;
    const uint8_t *p = r->b + r->pos;
    r->pos += 4;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t r_u64(Rd *r)
{
    if (!r_need(r, 8)) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | r->b[r->pos + (size_t)i];
    r->pos += 8;
    return v;
}

static int32_t r_i32(Rd *r) { return (int32_t)r_u32(r); }
static int64_t r_i64(Rd *r) { return (int64_t)r_u64(r); }

static double r_f64(Rd *r)
{
    uint64_t bits = r_u64(r);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static bool r_bool(Rd *r)
{
    size_t at = r->pos;
    uint8_t v = r_u8(r);
    if (v > 1) r_fail(r, "boolean byte %u at byte %zu is neither 0 nor 1", v, at);
    return v == 1;
}

/* Reads a count whose entries take at least min_size bytes each and
 * checks it against the bytes left BEFORE anything is allocated. */
static uint32_t r_count(Rd *r, size_t min_size)
{
    size_t at = r->pos;
    uint32_t n = r_u32(r);
    if (r->bad) return 0;
    if ((uint64_t)n * min_size > r->end - r->pos) {
        r_fail(r, "section %s: count %u at byte %zu exceeds the section's size",
               r->sect ? r->sect : "?", n, at);
        return 0;
    }
    return n;
}

/* Allocates a zeroed array of n elements (at least one byte). */
static void *r_alloc(Rd *r, size_t n, size_t size)
{
    if (r->bad) return NULL;
    void *p = calloc(n ? n : 1, size);
    if (!p) r_fail(r, "out of memory");
    return p;
}

/* Enters section id: checks its id and length; returns the section end. */
static size_t r_begin(Rd *r, uint8_t id, size_t file_end)
{
    r->end = file_end;
    r->sect = NULL;
    size_t at = r->pos;
    uint8_t got = r_u8(r);
    if (r->bad) return 0;
    if (got != id) {
        r_fail(r, "expected section %u (%s) at byte %zu, found %u", id, sec_names[id], at, got);
        return 0;
    }
    uint32_t len = r_u32(r);
    if (r->bad) return 0;
    if (len > file_end - r->pos) {
        r_fail(r, "section %s at byte %zu is longer than the file", sec_names[id], at);
        return 0;
    }
    r->sect = sec_names[id];
    r->end = r->pos + len;
    return r->end;
}

static void r_finish(Rd *r)
{
    if (!r->bad && r->pos != r->end)
        r_fail(r, "section %s has %zu unread bytes at byte %zu", r->sect, r->end - r->pos, r->pos);
}

static uint32_t *r_index_table(Rd *r, uint8_t id, size_t file_end, uint32_t *n)
{
    r_begin(r, id, file_end);
    *n = r_count(r, 4);
    uint32_t *v = r_alloc(r, *n, sizeof *v);
    for (uint32_t i = 0; v && i < *n; i++) v[i] = r_u32(r);
    r_finish(r);
    return v;
}

static void r_const(Rd *r, KbConst *c)
{
    size_t at = r->pos;
    c->tag = r_u8(r);
    uint64_t raw = r_u64(r);
    if (r->bad) return;
    switch (c->tag) {
    case KB_NUM:
        memcpy(&c->num, &raw, 8);
        return;
    case KB_STR:
        c->str = (uint32_t)raw;
        if (raw >> 32) r_fail(r, "string constant at byte %zu has nonzero unused bytes", at);
        return;
    case KB_BOOL:
        c->b = raw == 1;
        if (raw > 1) r_fail(r, "boolean constant at byte %zu is neither 0 nor 1", at);
        return;
    case KB_DUR: case KB_TIME: case KB_WEEKDAY:
        c->i = (int64_t)raw;
        return;
    default:
        r_fail(r, "constant at byte %zu has unknown tag %u", at, c->tag);
    }
}

static KbAttempt *r_attempts(Rd *r, uint32_t *n)
{
    *n = r_count(r, 12);
    KbAttempt *a = r_alloc(r, *n, sizeof *a);
    for (uint32_t i = 0; a && i < *n; i++) {
        a[i].channel = r_u32(r);
        a[i].after = r_i64(r);
    }
    return a;
}

static KbVariant *r_variants(Rd *r, uint32_t *n)
{
    *n = r_count(r, 21);
    KbVariant *v = r_alloc(r, *n, sizeof *v);
    for (uint32_t i = 0; v && i < *n; i++) {
        v[i].name = r_u32(r);
        v[i].pct = r_u32(r);
        v[i].has_delay = r_bool(r);
        v[i].delay = r_i64(r);
        v[i].channel = r_u32(r);
    }
    return v;
}

/* A rule: its fields in KB_RULE_FIELDS order. */
#define R_FIELD_u8(f)       u->f = r_u8(r);
#define R_FIELD_u32(f)      u->f = r_u32(r);
#define R_FIELD_i32(f)      u->f = r_i32(r);
#define R_FIELD_i64(f)      u->f = r_i64(r);
#define R_FIELD_flag(f)     u->f = r_bool(r);
#define R_FIELD_attempts(f) u->f = r_attempts(r, &u->n##f);
#define R_FIELD_variants(f) u->f = r_variants(r, &u->n##f);
#define R_FIELD(kind, name, show) R_FIELD_##kind(name)

static void r_rule(Rd *r, KbRule *u)
{
    KB_RULE_FIELDS(R_FIELD)
}

/* Reads the sections into img (allocated, zeroed).  Stops at the first
 * failure, leaving r->bad set; img is then freed by the caller. */
static void r_sections(Rd *r, KImage *img, size_t file_end)
{
    r_begin(r, SEC_STRINGS, file_end);
    img->nstrings = r_count(r, 4);
    img->strings = r_alloc(r, img->nstrings, sizeof *img->strings);
    img->string_lens = r_alloc(r, img->nstrings, sizeof *img->string_lens);
    for (uint32_t i = 0; !r->bad && i < img->nstrings; i++) {
        uint32_t n = r_u32(r);
        if (!r_need(r, n)) break;
        char *s = r_alloc(r, (size_t)n + 1, 1);
        if (!s) break;
        memcpy(s, r->b + r->pos, n);
        r->pos += n;
        img->strings[i] = s;
        img->string_lens[i] = n;
    }
    r_finish(r);
    if (r->bad) { img->nstrings = img->strings ? img->nstrings : 0; return; }

    r_begin(r, SEC_CONSTS, file_end);
    img->nconsts = r_count(r, 9);
    img->consts = r_alloc(r, img->nconsts, sizeof *img->consts);
    for (uint32_t i = 0; !r->bad && i < img->nconsts; i++) r_const(r, &img->consts[i]);
    r_finish(r);

    r_begin(r, SEC_CODE, file_end);
    img->ncode = r_count(r, 8);
    img->code = r_alloc(r, img->ncode, sizeof *img->code);
    img->lines = r_alloc(r, img->ncode, sizeof *img->lines);
    for (uint32_t i = 0; !r->bad && i < img->ncode; i++) img->code[i] = r_u32(r);
    for (uint32_t i = 0; !r->bad && i < img->ncode; i++) img->lines[i] = r_u32(r);
    r_finish(r);

    r_begin(r, SEC_FUNCS, file_end);
    img->nfuncs = r_count(r, 8);
    img->funcs = r_alloc(r, img->nfuncs, sizeof *img->funcs);
    for (uint32_t i = 0; !r->bad && i < img->nfuncs; i++) {
        img->funcs[i].start = r_u32(r);
        img->funcs[i].len = r_u32(r);
    }
    r_finish(r);
    if (r->bad) return;

    r_begin(r, SEC_EVENTS, file_end);
    uint32_t nev = r_count(r, 17);
    img->events = r_alloc(r, nev, sizeof *img->events);
    img->retention = r_alloc(r, nev, sizeof *img->retention);
    if (r->bad) return;
    img->nevents = nev;
    for (uint32_t i = 0; !r->bad && i < nev; i++) {
        KbRetention *rt = &img->retention[i];
        img->events[i] = r_u32(r);
        rt->flags = r_u8(r);
        rt->window = r_i64(r);
        rt->nattrs = r_count(r, 4);
        rt->attrs = r_alloc(r, rt->nattrs, sizeof *rt->attrs);
        for (uint32_t j = 0; rt->attrs && j < rt->nattrs; j++) rt->attrs[j] = r_u32(r);
    }
    r_finish(r);

    img->attrs = r_index_table(r, SEC_ATTRS, file_end, &img->nattrs);
    img->channels = r_index_table(r, SEC_CHANNELS, file_end, &img->nchannels);
    img->surveys = r_index_table(r, SEC_SURVEYS, file_end, &img->nsurveys);
    img->traits = r_index_table(r, SEC_TRAITS, file_end, &img->ntraits);
    if (r->bad) return;

    r_begin(r, SEC_RULES, file_end);
    uint32_t nrules = r_count(r, KB_RULE_MIN_SIZE);
    img->rules = r_alloc(r, nrules, sizeof *img->rules);
    if (r->bad) return;
    img->nrules = nrules;
    for (uint32_t i = 0; !r->bad && i < nrules; i++) r_rule(r, &img->rules[i]);
    r_finish(r);

    r_begin(r, SEC_CAPS, file_end);
    img->ncaps = r_count(r, 20);
    img->caps = r_alloc(r, img->ncaps, sizeof *img->caps);
    for (uint32_t i = 0; !r->bad && i < img->ncaps; i++) {
        img->caps[i].n = r_u32(r);
        img->caps[i].window = r_i64(r);
        img->caps[i].channels = r_u64(r);
    }
    r_finish(r);

    r_begin(r, SEC_QUIETS, file_end);
    img->nquiets = r_count(r, 16);
    img->quiets = r_alloc(r, img->nquiets, sizeof *img->quiets);
    for (uint32_t i = 0; !r->bad && i < img->nquiets; i++) {
        img->quiets[i].start = r_i32(r);
        img->quiets[i].end = r_i32(r);
        img->quiets[i].channels = r_u64(r);
    }
    r_finish(r);

    r_begin(r, SEC_CONSENT, file_end);
    img->consent_channels = r_u64(r);
    r_finish(r);

    r_begin(r, SEC_SENT_WINDOW, file_end);
    img->sent_window = r_i64(r);
    r_finish(r);
    if (r->bad) return;

    r_begin(r, SEC_DEBUG, file_end);
    uint32_t nar = r_count(r, 24);
    img->attr_reads = r_alloc(r, nar, sizeof *img->attr_reads);
    if (r->bad) return;
    img->nattr_reads = nar;
    for (uint32_t i = 0; !r->bad && i < nar; i++) {
        KbAttrRead *a = &img->attr_reads[i];
        a->rule = r_u32(r);
        a->attr = r_u32(r);
        a->file = r_u32(r);
        a->line = r_u32(r);
        a->col = r_u32(r);
        a->tag = r_u32(r);
    }
    uint32_t nln = r->bad ? 0 : r_count(r, 8);
    img->let_names = r_alloc(r, nln, sizeof *img->let_names);
    if (r->bad) return;
    img->nlet_names = nln;
    for (uint32_t i = 0; !r->bad && i < nln; i++) {
        img->let_names[i].pc = r_u32(r);
        img->let_names[i].name = r_u32(r);
    }
    r_finish(r);

    r->sect = NULL;
    r->end = file_end;
    if (!r->bad && r->pos != file_end)
        r_fail(r, "%zu unexpected bytes after the last section at byte %zu",
               file_end - r->pos, r->pos);
}

KImage *kb_read(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    Rd r = { .b = buf, .pos = 0, .end = len, .err = err, .errlen = errlen };
    if (errlen) err[0] = '\0';

    /* magic: a short prefix of it is a truncated file, anything else is
     * not ours */
    size_t m = len < 4 ? len : 4;
    if (len == 0 || memcmp(buf, kbc_magic, m) != 0) {
        snprintf(err, errlen, "not a kairos bytecode file");
        return NULL;
    }
    if (len < 8) {
        r_fail(&r, "truncated at byte %zu", len);
        return NULL;
    }
    r.pos = 4;
    uint32_t version = r_u32(&r);
    if (version != KBC_VERSION) {
        snprintf(err, errlen, "built by format version %u, this kairos reads %u",
                 version, KBC_VERSION);
        return NULL;
    }
    if (!r_need(&r, 4)) return NULL;
    if (memcmp(buf + 8, kbc_sentinel, 4) != 0) {
        r_fail(&r, "line-ending sentinel damaged (file transferred in text mode?)");
        return NULL;
    }
    r.pos = 12;
    uint32_t order = r_u32(&r);
    double num = r_f64(&r);
    uint8_t wsz = r_u8(&r), nsz = r_u8(&r), isz = r_u8(&r), reserved = r_u8(&r);
    if (r.bad) return NULL;
    if (order != KBC_BYTE_ORDER || num != KBC_NUM_CHECK || wsz != 4 || nsz != 8 ||
        isz != 8 || reserved != 0) {
        r_fail(&r, "byte order, number format or sizes do not match this kairos");
        return NULL;
    }
    uint64_t flen = r_u64(&r);
    if (r.bad) return NULL;
    if (flen > len) {
        r_fail(&r, "truncated at byte %zu", len);
        return NULL;
    }
    if (flen < len) {
        r_fail(&r, "%zu bytes after the end of the file at byte %zu",
               len - (size_t)flen, (size_t)flen);
        return NULL;
    }
    if (len < KBC_HEADER_SIZE + 8) {
        r_fail(&r, "truncated at byte %zu", len);
        return NULL;
    }
    size_t body_end = len - 8;
    uint64_t sum = 0;
    for (int i = 7; i >= 0; i--) sum = sum << 8 | buf[body_end + (size_t)i];
    if (sum != kb_fnv1a64(buf, body_end, KB_FNV_OFFSET)) {
        r_fail(&r, "checksum mismatch (file damaged)");
        return NULL;
    }

    KImage *img = calloc(1, sizeof *img);
    if (!img) {
        r_fail(&r, "out of memory");
        return NULL;
    }
    img->source_hash = r_u64(&r);
    img->policy_name = r_u32(&r);
    img->timezone = r_u32(&r);
    r_sections(&r, img, body_end);
    if (r.bad) {
        kb_free(img);
        return NULL;
    }
    char verr[200];
    if (kb_verify(img, verr, sizeof verr) != 0) {
        r_fail(&r, "%s", verr);
        kb_free(img);
        return NULL;
    }
    return img;
}
