/* input.c -- the event input (ki_ API of internal.h): opens the event
 * files, drives the CSV / JSON Lines parsers (whose rows wait in each
 * file's row store, rows.c), and merges the files into
 * replay order: by time, ties by file order on the command line, then row
 * order within the file.
 *
 * Memory: a time-sorted file costs a fixed buffer whatever its length (its
 * rows wait in the temporary file); an unsorted file is loaded whole and
 * stably sorted.  See SPEC.md section 5.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../lang/util.h"
#include "input_impl.h"
#include "source.h"

/* Raw read size.  Fuzz builds (fuzz/run.sh) read in 4 KiB blocks: ten
 * times more inputs per second under AddressSanitizer, and records that
 * straddle blocks even in small inputs. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define RAW_BLOCK   (4u << 10)
#else
#define RAW_BLOCK   (1u << 20)
#endif

/* Stream mode (ki_stream) keeps every input open during the merge, so it
 * is used for at most this many files; more are parsed one at a time. */
#define KI_STREAM_FILES 64

struct KrInput {
    KrInputCtx ctx;
    KiSrc *srcs; uint32_t nsrcs;
    bool prepared, failed;
    bool stream;                        /* stream mode (ki_stream) */
    uint32_t to_close;                  /* stream mode: file to close at the next
                                           ki_next (index + 1; 0: none) */
    uint32_t peek;                      /* customer of the next event, or KB_NONE */
    uint32_t *heap; uint32_t nheap;     /* merge heap of source indexes */
    atomic_uint_fast64_t par_bytes;     /* ctx.par_bytes */
};

/* ---- name tables ----------------------------------------------------- */

/* Slot of a key (length, first 16 bytes) in a table of mask + 1 slots. */
static inline uint32_t key_slot(const uint64_t k[2], size_t len, uint32_t mask)
{
    uint64_t h = (k[0] * 0x9E3779B97F4A7C15ULL) ^ (k[1] * 0xC2B2AE3D27D4EB4FULL) ^ len;
    h ^= h >> 31;
    h *= 0xFF51AFD7ED558CCDULL;
    return (uint32_t)(h >> 40) & mask;
}

/* build_table -- open-addressing table of n names (index i has the image
 * string names[i]). */
static KiName *build_table(const KImage *img, const uint32_t *names, uint32_t n, uint32_t *mask)
{
    uint32_t size = 16;
    while (size < n * 2u + 2u) size *= 2u;
    KiName *t = calloc(size, sizeof *t);
    if (!t) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t si = names[i];
        if (si >= img->nstrings) continue;
        uint64_t k[2];
        kr_prefix16(img->strings[si], img->string_lens[si], k);
        uint32_t h = key_slot(k, img->string_lens[si], size - 1u);
        while (t[h].idx1) h = (h + 1u) & (size - 1u);
        t[h] = (KiName){ { k[0], k[1] }, img->string_lens[si], i + 1u, si };
    }
    *mask = size - 1u;
    return t;
}

/* The index of name s (its key k: kr_prefix16) in table t, or KB_NONE. */
static inline uint32_t table_find_key(const KImage *img, const KiName *t, uint32_t mask, const uint64_t k[2],
                               const char *s, size_t len)
{
    for (uint32_t h = key_slot(k, len, mask);; h = (h + 1u) & mask) {
        const KiName *e = &t[h];
        if (!e->idx1) return KB_NONE;
        if (e->len == len && e->k[0] == k[0] && e->k[1] == k[1]
            && (len <= 16 || memcmp(img->strings[e->si] + 16, s + 16, len - 16) == 0))
            return e->idx1 - 1u;
    }
}

static uint32_t table_find(const KImage *img, const KiName *t, uint32_t mask, const char *s, size_t len)
{
    uint64_t k[2];
    kr_prefix16(s, len, k);
    return table_find_key(img, t, mask, k, s, len);
}

/* ---- the event kinds the rows named ---------------------------------------
 * For the warning about a rule whose trigger no row was (SPEC 4.14): which
 * image events some row taken named (a row skipped as bad names none), and
 * the names of those the policy does not name.  Of these only names that
 * may be close to a rule's trigger (of a length within 2 of its) are kept,
 * at most KI_UNNAMED_MAX, the byte-wise smallest (not the first met), so
 * that what is kept does not depend on how the input was split into parts
 * or ordered; nor a name longer than KI_UNNAMED_LEN bytes. */
#define KI_UNNAMED_MAX 256u
#define KI_UNNAMED_LEN 200u
struct KiKinds {
    uint32_t n;                           /* names kept */
    uint32_t top;                         /* the greatest kept, once n == KI_UNNAMED_MAX */
    char *name[KI_UNNAMED_MAX]; size_t len[KI_UNNAMED_MAX];
    KiName slot[2u * KI_UNNAMED_MAX];     /* by the key of ki_event_index's table; idx1: name index + 1 */
    bool near[KI_UNNAMED_LEN + 1u];       /* a name of this length may be close to a trigger's */
    /* the name the row being read named, if the policy does not name it
     * and it may be kept (KrInputCtx.kind_pend): noted once the row is
     * taken (ki_kind_commit) */
    uint32_t pend_len; uint64_t pend_key[2]; char pend[KI_UNNAMED_LEN];
    uint8_t named[];                      /* [nevents]: some row named image event e */
};

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static void unnamed_slots(struct KiKinds *k)
{
    memset(k->slot, 0, sizeof k->slot);
    for (uint32_t i = 0; i < k->n; i++) {
        uint64_t key[2];
        kr_prefix16(k->name[i], k->len[i], key);
        uint32_t h = key_slot(key, k->len[i], 2u * KI_UNNAMED_MAX - 1u);
        while (k->slot[h].idx1) h = (h + 1u) & (2u * KI_UNNAMED_MAX - 1u);
        k->slot[h] = (KiName){ { key[0], key[1] }, k->len[i], i + 1u, 0 };
    }
}

static void unnamed_top(struct KiKinds *k)
{
    k->top = 0;
    for (uint32_t i = 1; i < k->n; i++)
        if (name_cmp(k->name[i], k->len[i], k->name[k->top], k->len[k->top]) > 0) k->top = i;
}

/* unnamed_note -- keeps the name s (its key in key) if it is new and among
 * the smallest; false when memory ran out. */
static bool unnamed_note(struct KiKinds *k, const uint64_t key[2], const char *s, size_t len)
{
    if (len > KI_UNNAMED_LEN || !k->near[len]) return true;
    const uint32_t mask = 2u * KI_UNNAMED_MAX - 1u;
    uint32_t h = key_slot(key, len, mask);
    for (;; h = (h + 1u) & mask) {
        const KiName *x = &k->slot[h];
        if (!x->idx1) break;
        if (x->len == len && x->k[0] == key[0] && x->k[1] == key[1]
            && (len <= 16 || memcmp(k->name[x->idx1 - 1u] + 16, s + 16, len - 16) == 0))
            return true;
    }
    if (k->n == KI_UNNAMED_MAX && name_cmp(s, len, k->name[k->top], k->len[k->top]) >= 0) return true;
    char *d = malloc(len + 1u);
    if (!d) return false;
    memcpy(d, s, len);
    d[len] = '\0';
    if (k->n == KI_UNNAMED_MAX) {         /* the greatest kept makes room */
        free(k->name[k->top]);
        k->name[k->top] = d;
        k->len[k->top] = len;
        unnamed_top(k);
        unnamed_slots(k);
        return true;
    }
    k->slot[h] = (KiName){ { key[0], key[1] }, (uint32_t)len, k->n + 1u, 0 };
    k->name[k->n] = d;
    k->len[k->n++] = len;
    if (k->n == KI_UNNAMED_MAX) unnamed_top(k);
    return true;
}

void ki_kinds_begin(KrInputCtx *c)
{
    const KImage *img = c->img;
    struct KiKinds *k = c->kinds = calloc(1, sizeof *c->kinds + img->nevents + 1u);
    c->kinds_lost = !k;
    c->kind_named = k ? k->named : NULL;
    c->kind_pend = false;
    for (uint32_t r = 0; k && r < img->nrules; r++) {
        if (img->rules[r].trigger != KB_TRIG_AFTER || img->rules[r].event >= img->nevents) continue;
        uint32_t si = img->events[img->rules[r].event];
        size_t n = si < img->nstrings ? img->string_lens[si] : 0;
        for (size_t l = n > 2 ? n - 2 : 0; l <= n + 2 && l <= KI_UNNAMED_LEN; l++) k->near[l] = true;
    }
}

uint32_t ki_event_index(KrInputCtx *c, const char *s, size_t len)
{
    uint64_t key[2];
    kr_prefix16(s, len, key);
    uint32_t e = table_find_key(c->img, c->ev_slots, c->ev_mask, key, s, len);
    if (e != KB_NONE) return e;              /* noted by ki_kind_commit */
    struct KiKinds *k = c->kinds;
    c->kind_pend = k && len <= KI_UNNAMED_LEN && k->near[len];
    if (c->kind_pend) {
        memcpy(k->pend, s, len);
        k->pend_len = (uint32_t)len;
        k->pend_key[0] = key[0];
        k->pend_key[1] = key[1];
    }
    return e;
}

void ki_kind_unnamed(KrInputCtx *c)
{
    struct KiKinds *k = c->kinds;
    if (k && !unnamed_note(k, k->pend_key, k->pend, k->pend_len)) c->kinds_lost = true;
    c->kind_pend = false;
}

void ki_row_other_shard(KrInputCtx *c, int64_t time, uint32_t e)
{
    if (time > c->other_shards_latest) c->other_shards_latest = time;
    c->rows_read++;                 /* every shard reads every row (SPEC 6, merge) */
    ki_kind_commit(c, e);
}

void ki_kinds_merge(KrInputCtx *c, KrInputCtx *part)
{
    struct KiKinds *p = part->kinds, *k = p ? c->kinds : NULL;
    if (part->kinds_lost) c->kinds_lost = true;
    if (k) {
        for (uint32_t e = 0; e < c->img->nevents; e++) k->named[e] |= p->named[e];
        for (uint32_t i = 0; i < p->n; i++) {
            uint64_t key[2];
            kr_prefix16(p->name[i], p->len[i], key);
            if (!unnamed_note(k, key, p->name[i], p->len[i])) c->kinds_lost = true;
        }
    }
    ki_kinds_free(part);
}

void ki_kinds_free(KrInputCtx *c)
{
    for (uint32_t i = 0; c->kinds && i < c->kinds->n; i++) free(c->kinds->name[i]);
    free(c->kinds);
    c->kinds = NULL;
    c->kind_named = NULL;
}

bool ki_kind_seen(const KrInput *in, uint32_t e, bool *known)
{
    const KrInputCtx *c = &in->ctx;
    *known = !c->kinds_lost;
    return c->kinds && e < c->img->nevents && c->kinds->named[e];
}

const char *ki_unnamed_closest(const KrInput *in, const char *want, size_t *len)
{
    const struct KiKinds *k = in->ctx.kinds;
    long best = k ? ks_closest(want, (const char *const *)k->name, k->len, k->n) : -1;
    if (best < 0) return NULL;
    *len = k->len[best];
    return k->name[best];
}

uint32_t ki_attr_index(const KrInputCtx *c, const char *s, size_t len)
{
    return table_find(c->img, c->at_slots, c->at_mask, s, len);
}

/* ---- attributes to keep per event kind ------------------------------- */

static void want_add(const KImage *img, uint64_t *bits, uint32_t words, uint32_t e, uint32_t a)
{
    if (a == KB_NONE || a >= img->nattrs) return;
    bits[(size_t)e * words + a / 64u] |= 1ULL << (a % 64u);
}

static bool ev_is(const KImage *img, uint32_t e, const char *name)
{
    uint32_t si = img->events[e];
    return si < img->nstrings && strcmp(img->strings[si], name) == 0;
}

void ki_image_wants(const KImage *img, uint64_t *bits, uint32_t words)
{
    uint32_t a_tz = kb_find_attr(img, "tz"), a_survey = kb_find_attr(img, "survey");
    uint32_t a_score = kb_find_attr(img, "score"), a_channel = kb_find_attr(img, "channel");
    for (uint32_t e = 0; e < img->nevents; e++) {
        if (img->retention)
            for (uint32_t i = 0; i < img->retention[e].nattrs; i++)
                want_add(img, bits, words, e, img->retention[e].attrs[i]);
        if (ev_is(img, e, KB_EV_IDENTIFY)) {
            for (uint32_t i = 0; i < img->ntraits; i++) want_add(img, bits, words, e, img->traits[i]);
            want_add(img, bits, words, e, a_tz);
        } else if (ev_is(img, e, KB_EV_RESPONSE)) {
            want_add(img, bits, words, e, a_survey);
            want_add(img, bits, words, e, a_score);
        } else if (ev_is(img, e, KB_EV_OPT_OUT) || ev_is(img, e, KB_EV_OPT_IN)
                   || ev_is(img, e, KB_EV_CONSENT_GRANTED) || ev_is(img, e, KB_EV_CONSENT_REVOKED)) {
            want_add(img, bits, words, e, a_channel);
        }
    }
}

/* build_wants -- the attribute sets of ki_open's contract, as bitsets and
 * as sorted lists. */
static int build_wants(KrInputCtx *c)
{
    const KImage *img = c->img;
    uint32_t ne = img->nevents + 1u;
    c->want_words = img->nattrs / 64u + 1u;
    c->want_bits = calloc((size_t)ne * c->want_words, sizeof(uint64_t));
    c->any_bits = calloc(c->want_words, sizeof(uint64_t));
    c->want_off = calloc(ne + 1u, sizeof(uint32_t));
    if (!c->want_bits || !c->any_bits || !c->want_off) return -1;
    ki_image_wants(img, c->want_bits, c->want_words);
    for (size_t i = 0; i < (size_t)ne * c->want_words; i++)
        c->any_bits[i % c->want_words] |= c->want_bits[i];
    size_t total = 0;
    for (uint32_t e = 0; e < ne; e++)
        for (uint32_t a = 0; a < img->nattrs; a++)
            if (ki_wants(c, e == img->nevents ? KB_NONE : e, a)) total++;
    c->want = malloc((total + 1u) * sizeof(uint32_t));
    if (!c->want) return -1;
    total = 0;
    for (uint32_t e = 0; e < ne; e++) {
        c->want_off[e] = (uint32_t)total;
        for (uint32_t a = 0; a < img->nattrs; a++)
            if (ki_wants(c, e == img->nevents ? KB_NONE : e, a)) c->want[total++] = a;
    }
    c->want_off[ne] = (uint32_t)total;
    return 0;
}

/* ---- messages ----------------------------------------------------------
 * One format with the policy diagnostics (SPEC 5.6):
 *     FILE:LINE[:COL]: error: MESSAGE
 *     the line, with a caret under COL (when the parser had the line at hand)
 *           = hint: TEXT                                  (when there is one) */

/* Longest stretch of an input line shown under a message (bytes). */
#define KI_SHOW_WINDOW 160

/* Prints the physical line holding `at` (a record starting at rec, on line
 * `line`), with a caret under `at` when caret is set. */
static void show_line(FILE *f, const KiSrc *s, uint64_t line, const char *rec, const char *at, bool caret)
{
    const char *bend = s->buf + s->end;
    if (at < rec || at > bend) return;
    const char *ls = rec;
    for (const char *x = rec; x < at; x++)
        if (*x == '\n') { ls = x + 1; line++; }
    const char *le = memchr(at, '\n', (size_t)(bend - at));
    if (!le) le = bend;
    if (le > ls && le[-1] == '\r') le--;
    if (at > le) at = le;
    /* a long line: a window around the caret */
    const char *ws = ls, *we = le;
    if (we - ws > KI_SHOW_WINDOW) {
        if (at - ws > KI_SHOW_WINDOW / 2) ws = at - KI_SHOW_WINDOW / 4;
        while (ws > ls && ((unsigned char)*ws & 0xC0) == 0x80) ws--;
        if (we - ws > KI_SHOW_WINDOW) we = ws + KI_SHOW_WINDOW;
        while (we > ws && we < le && ((unsigned char)*we & 0xC0) == 0x80) we--;
    }
    int gw = snprintf(NULL, 0, "%llu", (unsigned long long)line);   /* the gutter: 5, or wider */
    if (gw < 5) gw = 5;
    fprintf(f, "%*llu | %s", gw, (unsigned long long)line, ws > ls ? "..." : "");
    for (const char *x = ws; x < we; x++) {
        unsigned char c = (unsigned char)*x;
        fputc(c < 0x20 || c == 0x7F ? ' ' : c, f);
    }
    fputs(we < le ? "...\n" : "\n", f);
    if (!caret) return;
    fprintf(f, "%*s | %s", gw, "", ws > ls ? "   " : "");
    for (uint64_t k = ki_column(ws, at < we ? at : we); k > 1; k--) fputc(' ', f);
    fputs("^\n", f);
}

/* An error in a .gz input's text: a damaged byte inflates to text that
 * fails to parse before the member's checksum, at its end, shows the
 * damage.  Reads on, up to GZ_DAMAGE_LOOK decompressed bytes (an error in
 * the first rows of a long log stays quick): the stream's error, or NULL. */
#define GZ_DAMAGE_LOOK (64u << 20)
static const char *gz_damage(KiSrc *s)
{
    if (!s->gz || s->gz_failed) return NULL;
    enum { SCRATCH = 1u << 16 };
    char *scratch = malloc(SCRATCH);             /* an error's path only */
    if (!scratch) return NULL;
    const char *m = NULL;
    long n = 0;
    uint64_t seen = 0;
    while (seen < GZ_DAMAGE_LOOK && (n = ki_gz_read(s->gz, scratch, SCRATCH, &m)) > 0) seen += (uint64_t)n;
    free(scratch);
    if (seen >= GZ_DAMAGE_LOOK) return NULL;
    s->gz_failed = n < 0;
    return n < 0 ? m : NULL;
}

/* The message: printed at once, or in stream mode held until ki_next knows
 * it is the one to print.  rec/at (may be NULL): the record and the place
 * in it to show; col 0 with at set shows the line without a caret. */
static void vreport(KiSrc *s, uint64_t line, uint64_t col, const char *rec, const char *at,
                    const char *hint, const char *fmt, va_list ap)
{
    FILE *err = s->ctx->err;
    if (!err) return;
    if (s->stream && s->msg) return;
    const char *damage = gz_damage(s);
    if (damage) {                 /* the damage is the error, not the text it made */
        char note[96];
        if (line) snprintf(note, sizeof note, " (its text had already failed to read at line %llu)",
                           (unsigned long long)line);
        else note[0] = '\0';
        size_t n = strlen(s->name) + strlen(damage) + strlen(note) + 64;
        char *m = malloc(n);
        if (!m) return;
        snprintf(m, n, "%s: error: %s\n      = hint: the file is damaged%s\n", s->name, damage, note);
        if (s->stream) {
            s->msg = m;
            return;
        }
        fputs(m, err);
        free(m);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        fprintf(err, "%s: error: out of memory\n", s->name);
        return;
    }
    if (rec && at && col == 0 && at >= rec) {
        const char *ls = rec;         /* the column counts on at's own physical line */
        for (const char *x = rec; x < at; x++) if (*x == '\n') ls = x + 1;
        col = ki_column(ls, at);
    }
    /* the message on one line, whatever names it quotes (a schema's, a
     * --map's, a log's: SPEC 5.6) */
    ku_show(f, "%s", s->name);
    if (col) fprintf(f, ":%llu:%llu", (unsigned long long)line, (unsigned long long)col);
    else if (line) fprintf(f, ":%llu", (unsigned long long)line);
    fputs(": error: ", f);
    ku_vshow(f, fmt, ap);
    fputc('\n', f);
    if (rec && at) show_line(f, s, line, rec, at, true);
    else if (rec) show_line(f, s, line, rec, rec, false);
    if (hint) {
        fputs("      = hint: ", f);
        ku_show(f, "%s", hint);
        fputc('\n', f);
    }
    if (fclose(f) != 0 || !text) {
        free(text);
        fprintf(err, "%s: error: out of memory\n", s->name);
        return;
    }
    if (s->stream) {
        s->msg = text;
        return;
    }
    fwrite(text, 1, len, err);
    free(text);
}

int ki_error(KiSrc *s, uint64_t line, uint64_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(s, line, col, NULL, NULL, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int ki_bad_row(KiSrc *s, uint64_t line, uint64_t col, const char *fmt, ...)
{
    if (s->ctx->opt->skip_bad_rows) { s->ctx->rows_skipped++; return 0; }
    va_list ap;
    va_start(ap, fmt);
    vreport(s, line, col, NULL, NULL, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int ki_row_error(KiSrc *s, bool row, uint64_t line, const char *rec, const char *at, const char *hint,
                 const char *fmt, ...)
{
    if (row && s->ctx->opt->skip_bad_rows) { s->ctx->rows_skipped++; return 0; }
    va_list ap;
    va_start(ap, fmt);
    vreport(s, line, 0, rec, at, hint, fmt, ap);
    va_end(ap);
    return -1;
}

uint64_t ki_column(const char *linestart, const char *p)
{
    /* a column per character, and per maximal ill-formed subpart (as policies count, SPEC 2.1) */
    uint64_t col = 1;
    for (const char *q = linestart; q < p; col++) q += ku_utf8_step(q, (size_t)(p - q));
    return col;
}

/* ---- raw reading ------------------------------------------------------- */

long ki_fill(KiSrc *s)
{
    if (s->eof) return 0;
    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->end - s->pos);
        s->end -= s->pos;
        s->pos = 0;
    }
    /* (a window that fits in the buffer needs no more) */
    if (s->cap - s->end < RAW_BLOCK / 2 && !(s->stop && s->stop >= s->bytes && s->cap - s->end >= s->stop - s->bytes)) {
        size_t ncap = s->cap ? s->cap * 2u : RAW_BLOCK;
        if (ncap < s->end + RAW_BLOCK) ncap = s->end + RAW_BLOCK;
        char *nb = realloc(s->buf, ncap + KI_BUF_PAD);  /* readable slack for 16-byte loads */
        if (!nb) return ki_error(s, 0, 0, "out of memory");
        s->buf = nb;
        s->cap = ncap;
    }
    size_t want = s->cap - s->end;
    long got;
    if (s->raw) {                       /* a database source (source.h) */
        got = ks_raw_read(s->raw, s->buf + s->end, want);
        if (got < 0) return -1;
    } else if (s->gz) {
        const char *m;
        long n = ki_gz_read(s->gz, s->buf + s->end, want, &m);
        if (n < 0) {
            s->gz_failed = true;
            return ki_error(s, 0, 0, "%s", m);
        }
        got = n;
    } else {
        if (s->stop) {                  /* a window (ki_src_window) */
            uint64_t left = s->stop > s->bytes ? s->stop - s->bytes : 0;
            if (want > left) want = (size_t)left;
        }
        ssize_t n = 0;
        if (want > 0)
            do n = read(s->fd, s->buf + s->end, want); while (n < 0 && errno == EINTR);
        if (n < 0) return ki_error(s, 0, 0, "read error: %s", strerror(errno));
        got = (long)n;
    }
    if (got == 0) s->eof = true;
    s->end += (size_t)got;
    s->bytes += (uint64_t)got;
    if (s->shared_bytes) atomic_fetch_add_explicit(s->shared_bytes, (uint64_t)got, memory_order_relaxed);
    return got;
}

/* ---- row helpers ------------------------------------------------------ */

/* SPEC 5.4: a customer id is a byte string; it must be valid UTF-8 (no
 * overlong forms, no encoded surrogates, at most U+10FFFF) and hold no NUL
 * byte, so that every output format (CSV, JSON Lines, explain) can carry
 * it exactly and two distinct ids never print alike.  Returns NULL, or
 * what is wrong. */
const char *ki_bad_id(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    /* ASCII without NUL, 8 bytes at a time (most ids are all such): no
     * byte with its high bit set, none zero */
    const uint64_t hi = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    for (; e - p >= 8; p += 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        /* (each byte | 0x80) - 1 keeps the high bit unless the byte is 0 */
        if ((w & hi) != 0 || (((w | hi) - ones) & hi) != hi) break;
    }
    while (p < e) {
        if (*p >= 0x01 && *p < 0x80) { p++; continue; }    /* the ASCII tail: no call */
        if (*p == 0) return "it holds a NUL byte";
        size_t n = ku_utf8_char((const char *)p, (size_t)(e - p), NULL);
        if (n == 0) return "it is not valid UTF-8";
        p += n;
    }
    return NULL;
}

const char *kr_bad_customer_id(const char *s, size_t len) { return ki_bad_id(s, len); }

bool ki_gzip_data(KiSrc *s, const char *p, size_t n)
{
    if (n < 3 || memcmp(p, "\x1F\x8B\x08", 3) != 0) return false;
    ki_error(s, 1, 0, "%s", s->gzip
             ? "gzip data inside the gzip data (compressed twice?): decompress it once first, "
               "e.g. gunzip -c FILE.gz >ONCE.gz"
             : s->is_stdin || s->fd >= 0
             ? "this is gzip data, and only files named .gz are decompressed: pipe it through gunzip "
               "(or zcat), or name the file .gz"
             : "this is gzip data, which a database column cannot hold as an event log");
    return true;
}

int ki_customer_hashed(KrInputCtx *c, const char *s, size_t len, uint64_t h, KiRow *r)
{
    const KrOptions *o = c->opt;
    if (o->shard_n > 0 && kb_fnv1a64(s, len, KB_FNV_OFFSET) % o->shard_n != o->shard_k) return 0;
    r->customer = kr_intern_hashed(c->customers, s, len, h);
    r->route = (uint32_t)(h >> 32);
    return r->customer == UINT32_MAX ? -1 : 1;
}

int ki_customer(KrInputCtx *c, const char *s, size_t len, KiRow *r)
{
    return ki_customer_hashed(c, s, len, kr_hash_bytes(s, len), r);
}

int ki_cell_value(KrInputCtx *c, const char *s, size_t len, KrValue *out)
{
    KiMemo *m = NULL;
    if (len <= 16) {
        uint64_t k[2];
        kr_prefix16(s, len, k);
        m = &c->memo[key_slot(k, len, KI_MEMO - 1u)];
        if (m->len1 == len + 1u && m->k[0] == k[0] && m->k[1] == k[1]) { *out = m->v; return 0; }
        m->len1 = 0;
        m->k[0] = k[0];
        m->k[1] = k[1];
    }
    double d;
    if (ki_parse_num(s, len, &d)) {
        out->tag = KB_NUM;
        out->num = d;
    } else if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0)) {
        out->tag = KB_BOOL;                 /* LANGUAGE.md 5: a cell true or false is a boolean */
        out->i = 0;
        out->b = len == 4;
    } else {
        uint32_t id = kr_intern(c->values, s, len);
        if (id == UINT32_MAX) return -1;
        out->tag = KB_STR;
        out->i = 0;
        out->str = id;
    }
    if (m) { m->v = *out; m->len1 = (uint32_t)len + 1u; }
    return 0;
}

/* ---- open / close --------------------------------------------------------- */

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static int attach(KiSrc *s, int fd);

static int open_src(KrInput *in, KiSrc *s, const char *path)
{
    s->ctx = &in->ctx;
    s->fd = -1;
    s->line = 1;
    s->sorted = true;
    if (strcmp(path, "-") == 0) {
        s->name = "<stdin>";
        s->is_stdin = true;
        s->fd = 0;
        const char *f = in->ctx.opt->stdin_format;
        s->fmt = f && strcmp(f, "jsonl") == 0 ? KI_FMT_JSONL : KI_FMT_CSV;
        if (ks_segment_input(in->ctx.opt)) s->fmt = KI_FMT_SEGMENT;
        return 0;
    }
    s->name = path;
    if (ks_is_db(path)) {               /* a database: its rows as CSV (source.h) */
        s->fmt = KI_FMT_CSV;
        if ((s->shown = ks_display_name(path)) != NULL) s->name = s->shown;
        s->raw = ks_raw_open(path, s->name, in->ctx.err);
        return s->raw ? 0 : -1;
    }
    size_t n = strlen(path);
    bool gz = has_suffix(path, n, ".gz");
    if (gz) n -= 3;
    if (has_suffix(path, n, ".jsonl") || has_suffix(path, n, ".ndjson"))
        s->fmt = ks_segment_input(in->ctx.opt) ? KI_FMT_SEGMENT : KI_FMT_JSONL;
    else if (has_suffix(path, n, ".csv")) s->fmt = KI_FMT_CSV;
    else {
        /* a stream with no name to tell its format (bash's <(...) is
         * /dev/fd/63, a FIFO, a terminal): as standard input, CSV unless
         * --stdin-format jsonl (SPEC 5.1) */
        struct stat st;
        if (gz || stat(path, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)))
            return ki_error(s, 0, 0, "unknown event file format (expected .csv, .jsonl or .ndjson, optionally .gz)");
        const char *f = in->ctx.opt->stdin_format;
        s->fmt = f && strcmp(f, "jsonl") == 0 ? KI_FMT_JSONL : KI_FMT_CSV;
        if (ks_segment_input(in->ctx.opt)) s->fmt = KI_FMT_SEGMENT;
    }
    s->gzip = gz;
    int fd;
    do fd = open(path, O_RDONLY); while (fd < 0 && errno == EINTR);
    if (fd < 0) return ki_error(s, 0, 0, "cannot open: %s", strerror(errno));
    /* A regular file is only checked here and opened again when its parsing
     * begins, so that 1,500 files need no more descriptors than one (SPEC
     * 9.2); a pipe or device stays open (it cannot be opened twice). */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        close(fd);
        s->lazy = true;
        s->regular = true;
        return 0;
    }
    return attach(s, fd);
}

/* attach -- reads the file through descriptor fd (gzip-decompressed for a
 * .gz name). */
static int attach(KiSrc *s, int fd)
{
    if (s->gzip) {
        /* read ahead on a thread of its own: a regular file, when more
         * than one thread may run (--jobs) */
        s->gz = ki_gz_open(fd, s->regular && ki_jobs(s->ctx->opt) > 1u && !ki_tight_memory());
        if (!s->gz) { close(fd); return ki_error(s, 0, 0, "cannot open: out of memory"); }
    } else {
        s->fd = fd;
    }
    return 0;
}

/* raw_open -- opens a lazy file (open_src) when its parsing begins. */
static int raw_open(KiSrc *s)
{
    if (!s->lazy) return 0;
    s->lazy = false;
    int fd;
    do fd = open(s->name, O_RDONLY); while (fd < 0 && errno == EINTR);
    if (fd < 0) return ki_error(s, 0, 0, "cannot open: %s", strerror(errno));
    return attach(s, fd);
}

/* map_conflict -- an attribute mapped from the column or key that holds a
 * required field by its own name (--map plan=customer, the customer not
 * mapped elsewhere): one source holds one name (SPEC.md 5.11).  Known only
 * once every --map and --schema is read, hence here. */
static int map_conflict(const KrSchema *sc, FILE *err)
{
    /* a required field mapped from another's own column (--map customer=event);
     * ks_role_name(NULL, r) is the field's own name */
    for (int r = 0; sc && r < 3; r++)
        for (int o = 0; o < 3 && sc->role_from[r]; o++)
            if (o != r && !sc->role_from[o] && strcmp(sc->role_from[r], ks_role_name(NULL, o)) == 0) {
                const char *own = ks_role_name(NULL, o);
                if (err)
                    fprintf(err, "kairos: error: %s is mapped twice: to %s (by its own name: the %s is not mapped to another source) and to %s\n",
                            own, own, own, ks_role_name(NULL, r));     /* (no name of the user's) */
                return -1;
            }
    for (size_t i = 0; sc && i < sc->nren; i++)
        for (int r = 0; r < 3; r++)
            if (!sc->role_from[r] && strcmp(sc->ren[i].a, ks_role_name(sc, r)) == 0) {
                if (err) {
                    fputs("kairos: error: ", err);
                    ku_show(err, "%s is mapped twice: to %s (by its own name: the %s is not mapped to another source) and to %s",
                            sc->ren[i].a, sc->ren[i].a, sc->ren[i].a, sc->ren[i].b);
                    fputc('\n', err);
                }
                return -1;
            }
    return 0;
}

KrInput *ki_open(const KImage *img, const KrOptions *opt, KrPool *customers,
                 KrPool *values, FILE *err)
{
    if (map_conflict(opt->schema, err) != 0) return NULL;
    KrInput *in = calloc(1, sizeof *in);
    if (!in) { if (err) fprintf(err, "kairos: out of memory\n"); return NULL; }
    KrInputCtx *c = &in->ctx;
    c->img = img; c->opt = opt; c->customers = customers; c->values = values; c->err = err;
    c->other_shards_latest = INT64_MIN;
    c->spill_fd = -1;
    atomic_init(&in->par_bytes, 0);
    c->par_bytes = &in->par_bytes;
    c->ev_slots = build_table(img, img->events, img->nevents, &c->ev_mask);
    c->at_slots = build_table(img, img->attrs, img->nattrs, &c->at_mask);
    ki_kinds_begin(c);
    in->srcs = calloc(opt->ninputs ? opt->ninputs : 1u, sizeof *in->srcs);
    in->heap = calloc(opt->ninputs ? opt->ninputs : 1u, sizeof *in->heap);
    c->schema = opt->schema;
    if (!c->ev_slots || !c->at_slots || !in->srcs || !in->heap || build_wants(c) != 0
        || ks_attr_types(c) != 0) {
        if (err) fprintf(err, "kairos: out of memory\n");
        ki_close(in);
        return NULL;
    }
    /* a row delivers at most KI_MAX_ATTRS attributes: a policy that reads
     * more of one event would lose some, which ones depending on the
     * log's format (SPEC 9.2) */
    for (uint32_t e = 0; e <= img->nevents; e++) {
        uint32_t n = c->want_off[e + 1u] - c->want_off[e];
        if (n <= KI_MAX_ATTRS) continue;
        uint32_t si = e < img->nevents ? img->events[e] : KB_NONE;
        if (err) fprintf(err, "kairos: error: the policy reads %u attributes of event `%s`; a replay delivers at most %u "
                         "of one event\n", n, si < img->nstrings ? img->strings[si] : "?", KI_MAX_ATTRS);
        ki_close(in);
        return NULL;
    }
    for (uint32_t i = 0; i < opt->ninputs; i++) {
        in->nsrcs = i + 1u;
        if (open_src(in, &in->srcs[i], opt->inputs[i]) != 0) { ki_close(in); return NULL; }
    }
    return in;
}

static void close_raw(KiSrc *s)
{
    if (s->raw) { ks_raw_close(s->raw); s->raw = NULL; }
    if (s->gz) { ki_gz_close(s->gz); s->gz = NULL; }
    if (s->fd > 0) close(s->fd);            /* never close stdin */
    s->fd = -1;
    free(s->buf); s->buf = NULL;
    if (s->priv_free) s->priv_free(s->priv);
    else free(s->priv);
    s->priv = NULL;
    s->priv_free = NULL;
}

/* Closes source s and frees what it holds (not s itself). */
static void free_src(KiSrc *s)
{
    close_raw(s);
    ki_rows_free(s);
    free(s->msg);
    free(s->shown);
}

void ki_close(KrInput *in)
{
    if (!in) return;
    for (uint32_t i = 0; i < in->nsrcs; i++) free_src(&in->srcs[i]);
    free(in->srcs);
    free(in->heap);
    KrInputCtx *c = &in->ctx;
    if (c->spill_fd >= 0) close(c->spill_fd);
    free(c->ev_slots); free(c->at_slots);
    free(c->want); free(c->want_off); free(c->want_bits); free(c->any_bits);
    free(c->attr_type);
    ki_kinds_free(c);
    free(in);
}

uint64_t ki_rows_read(const KrInput *in) { return in->ctx.rows_read; }
uint64_t ki_rows_skipped(const KrInput *in) { return in->ctx.rows_skipped; }
int64_t ki_other_shards_latest(const KrInput *in) { return in->ctx.other_shards_latest; }

bool ki_latest(const KrInput *in, int64_t *t)
{
    if (in->stream || !in->prepared || in->failed) return false;
    *t = in->ctx.other_shards_latest;
    for (uint32_t i = 0; i < in->nsrcs; i++)
        if (in->srcs[i].nrows && in->srcs[i].max_time > *t) *t = in->srcs[i].max_time;
    return true;
}
uint64_t ki_bytes_read(const KrInput *in)
{
    uint64_t b = atomic_load_explicit(&in->par_bytes, memory_order_relaxed);
    for (uint32_t i = 0; i < in->nsrcs; i++) b += in->srcs[i].bytes;
    return b;
}

/* ---- merge ------------------------------------------------------------------ */

static bool before(const KrInput *in, uint32_t a, uint32_t b)
{
    int64_t x = in->srcs[a].row->time, y = in->srcs[b].row->time;
    return x < y || (x == y && a < b);
}

static void sift_down(KrInput *in, uint32_t i)
{
    for (;;) {
        uint32_t l = 2u * i + 1u, m = i;
        if (l < in->nheap && before(in, in->heap[l], in->heap[m])) m = l;
        if (l + 1u < in->nheap && before(in, in->heap[l + 1u], in->heap[m])) m = l + 1u;
        if (m == i) return;
        uint32_t t = in->heap[i]; in->heap[i] = in->heap[m]; in->heap[m] = t;
        i = m;
    }
}

/* begin, step -- the file's parser (csv.c, jsonl.c). */
static int begin(KiSrc *s)
{
    s->begun = true;
    if (raw_open(s) != 0) return -1;
    if (s->fmt == KI_FMT_SEGMENT) return ki_segment_begin(s);
    return s->fmt == KI_FMT_JSONL ? ki_jsonl_begin(s) : ki_csv_begin(s);
}

static int step(KiSrc *s)
{
    if (s->fmt == KI_FMT_SEGMENT) return ki_segment_step(s);
    return s->fmt == KI_FMT_JSONL ? ki_jsonl_step(s) : ki_csv_step(s);
}

/* prepare -- parses every file, then positions each on its first row. */
static int prepare(KrInput *in)
{
    size_t mem_total = 0;
    for (uint32_t i = 0; i < in->nsrcs; i++) {
        KiSrc *s = &in->srcs[i];
        int r = begin(s);
        while (r == 0 && (r = step(s)) == 1) r = 0;
        close_raw(s);
        if (r != 0) return -1;
        ki_rows_park(s, &mem_total);
    }
    for (uint32_t i = 0; i < in->nsrcs; i++) {
        KiSrc *s = &in->srcs[i];
        if (ki_rows_start(s) != 0) return -1;
        if (s->has_cur) in->heap[in->nheap++] = i;
    }
    for (uint32_t i = in->nheap / 2u; i-- > 0;) sift_down(in, i);
    return 0;
}

static void fill_event(KiSrc *s, KrEvent *ev)
{
    const KiRow *r = s->row;
    ev->time = r->time;
    ev->customer = r->customer;
    ev->route = r->route;
    ev->event = r->event;
    ev->nattrs = r->nattrs;
    ev->attr_ids = r->ids;
    ev->attr_vals = r->vals;
    ev->file = s->name;
    ev->line = r->line;
}

/* ---- drain (partitioned replay) ---------------------------------------------- */

int ki_src_begin(KiSrc *s) { return begin(s); }
int ki_src_step(KiSrc *s) { return step(s); }
void ki_src_close(KiSrc *s) { close_raw(s); }

int ki_src_window(KiSrc *s, uint64_t start, uint64_t stop)
{
    if (s->fd < 0 || s->gz || s->raw) return ki_error(s, 0, 0, "cannot read part of this input");
    if (lseek(s->fd, (off_t)start, SEEK_SET) < 0) return ki_error(s, 0, 0, "seek error: %s", strerror(errno));
    s->pos = s->end = 0;
    s->eof = false;
    s->bytes = start;
    s->stop = stop;
    return 0;
}

/* seq_from -- file s to the sink, sequentially: all of it (start 0), or
 * from offset start (a row's start past its header) with `line` the line
 * number there.  0 or -1 (printed). */
static int seq_from(KiSrc *s, uint64_t start, uint64_t line)
{
    int r = begin(s);
    if (r == 0 && start) {
        r = ki_src_window(s, start, 0);
        s->line = line;
    }
    while (r == 0 && (r = step(s)) == 1) r = 0;
    close_raw(s);
    return r;
}

/* drain -- every file to the sink (kp: in parts, when the files qualify;
 * input_par.c). */
static int drain(KrInput *in, KiSink sink, void *arg, void (*ahead)(void *, uint32_t), const KiParts *kp)
{
    if (in->failed || in->prepared || in->stream) return -1;
    in->prepared = true;
    KrInputCtx *c = &in->ctx;
    c->sink = sink;
    c->sink_arg = arg;
    c->sink_ahead = ahead;
    int p = kp ? ki_par_files(in->srcs, in->nsrcs, c, kp, seq_from) : 1;
    int r = p == 1 ? 0 : p;
    for (uint32_t i = 0; p == 1 && i < in->nsrcs && r == 0; i++) {
        c->sink_file = i;
        r = seq_from(&in->srcs[i], 0, 0);
    }
    c->sink = NULL;
    c->sink_ahead = NULL;
    if (r != 0) in->failed = true;
    return r == 0 ? 0 : -1;
}

int ki_drain(KrInput *in, KiSink sink, void *arg) { return drain(in, sink, arg, NULL, NULL); }

int ki_drain_parts(KrInput *in, const KiParts *kp)
{
    return drain(in, kp->sink, kp->arg[0], kp->ahead, kp->n > 1u ? kp : NULL);
}

/* ---- stream mode ------------------------------------------------------------- */

bool ki_stream(KrInput *in)
{
    if (in->prepared) return in->stream;
    /* every file is open during a streamed merge: only for a few files */
    if (in->nsrcs > KI_STREAM_FILES) return false;
    /* only files that can be read again if one turns out unsorted (not
     * standard input, a pipe or a FIFO: each input is read once) */
    for (uint32_t i = 0; i < in->nsrcs; i++)
        if (in->srcs[i].is_stdin || !in->srcs[i].regular) return false;
    in->stream = true;
    for (uint32_t i = 0; i < in->nsrcs; i++) in->srcs[i].stream = true;
    return true;
}

/* stream_fail -- file j failed (its message is held).  Full mode would
 * have reported the first error of the first file that has one: parse the
 * rest of the files before j for errors, print the right message. */
static int stream_fail(KrInput *in, uint32_t j)
{
    uint32_t first = j;
    for (uint32_t i = 0; i < j && first == j; i++) {
        KiSrc *s = &in->srcs[i];
        if (s->done) continue;
        int r = s->begun ? 0 : begin(s);
        while (r == 0 && (r = step(s)) == 1) r = 0;
        if (r != 0) first = i;
    }
    KiSrc *s = &in->srcs[first];
    if (s->msg && in->ctx.err) fputs(s->msg, in->ctx.err);
    in->failed = true;
    return -1;
}

/* restart -- a file is not time-sorted: reopen every file in full mode.
 * Returns 2 (start over) or -1. */
static int restart(KrInput *in)
{
    KrInputCtx *c = &in->ctx;
    for (uint32_t i = 0; i < in->nsrcs; i++) {
        free_src(&in->srcs[i]);
        memset(&in->srcs[i], 0, sizeof in->srcs[i]);
    }
    in->stream = false;
    in->prepared = false;
    in->nheap = 0;
    c->rows_read = c->rows_skipped = 0;
    if (c->spill_fd >= 0) { close(c->spill_fd); c->spill_fd = -1; }
    c->other_shards_latest = INT64_MIN;
    for (uint32_t i = 0; i < in->nsrcs; i++)
        if (open_src(in, &in->srcs[i], c->opt->inputs[i]) != 0) { in->failed = true; return -1; }
    return 2;
}

/* stream_advance -- the next row of file i in s->row: 1, 0 at its end
 * (the file is closed at the next ki_next: its parser holds the row just
 * delivered), -1 failed, 2 restarted. */
static int stream_advance(KrInput *in, uint32_t i)
{
    KiSrc *s = &in->srcs[i];
    int r = step(s);
    if (r < 0) return stream_fail(in, i);
    if (r == 0) {
        s->done = true;
        in->to_close = i + 1u;
        return 0;
    }
    if (!s->sorted) return restart(in);
    return 1;
}

/* stream_next -- hands out the first file's row, then parses that file's
 * next row at once (the parsers keep the row handed out intact), so that
 * the customer of the event after this one is known (ki_peek_customer). */
static int stream_next(KrInput *in, KrEvent *ev)
{
    if (in->to_close) {
        close_raw(&in->srcs[in->to_close - 1u]);
        in->to_close = 0;
    }
    if (!in->prepared) {
        in->prepared = true;
        for (uint32_t i = 0; i < in->nsrcs; i++) {
            if (begin(&in->srcs[i]) != 0) return stream_fail(in, i);
            int r = stream_advance(in, i);
            if (r < 0 || r == 2) return r;
            if (r == 1) in->heap[in->nheap++] = i;
            if (in->to_close) { close_raw(&in->srcs[i]); in->to_close = 0; }
        }
        for (uint32_t i = in->nheap / 2u; i-- > 0;) sift_down(in, i);
    }
    in->peek = KB_NONE;
    if (in->nheap == 0) return 0;
    uint32_t i = in->heap[0];
    fill_event(&in->srcs[i], ev);
    int r = stream_advance(in, i);
    if (r < 0 || r == 2) return r;
    if (r == 0) in->heap[0] = in->heap[--in->nheap];
    if (in->nheap > 1) sift_down(in, 0);
    if (in->nheap > 0) in->peek = in->srcs[in->heap[0]].row->customer;
    return 1;
}

uint32_t ki_peek_customer(const KrInput *in)
{
    return in->stream ? in->peek : KB_NONE;
}

int ki_next(KrInput *in, KrEvent *ev)
{
    if (in->failed) return -1;
    if (in->stream) return stream_next(in, ev);
    if (!in->prepared) {
        in->prepared = true;
        if (prepare(in) != 0) { in->failed = true; return -1; }
        if (in->nheap == 0) return 0;
        fill_event(&in->srcs[in->heap[0]], ev);
        return 1;
    }
    if (in->nheap == 0) return 0;
    KiSrc *s = &in->srcs[in->heap[0]];
    if (ki_rows_next(s) != 0) { in->failed = true; return -1; }
    if (!s->has_cur) {
        in->heap[0] = in->heap[--in->nheap];
        if (in->nheap == 0) return 0;
    }
    if (in->nheap > 1) sift_down(in, 0);
    fill_event(&in->srcs[in->heap[0]], ev);
    return 1;
}
