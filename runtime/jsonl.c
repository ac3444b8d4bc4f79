/* jsonl.c -- the JSON Lines event-log parser (.jsonl, .ndjson): one object
 * per line with the keys time, customer, event, other keys attributes.
 * Parsed with yajl's streaming (callback) API, one yajl_parse call per
 * line; only keys the image can read are kept.  The common line (one flat
 * object, strings without escapes) is tokenized by fast_line instead, which
 * makes the very callbacks yajl would make, with the same arguments; any
 * other line, or one a callback refuses, is parsed again by yajl from the
 * start, so every message comes from one place.
 *
 * Values: a number, or a string typed like a CSV cell (a string that parses
 * as a number is a number, "true"/"false" are booleans, an empty string is
 * missing); true/false are booleans; null is missing; nested arrays and
 * objects are ignored (missing).  An attribute key given twice: the last
 * value wins, whatever it is (a missing one makes the attribute missing);
 * time, customer or event given twice: an error, whatever the values.
 *
 * With many customers, the lines PEEK ahead are glanced at for their
 * customer id (the customer's key as the lines spell it, then a string
 * without escapes), whose pool slot, and for a long id its stored bytes,
 * start loading (jsonl_ahead): one line's lookup at a time would each wait
 * for memory, as the CSV reader's batches do not.  A glance is only a
 * hint: a wrong one loads a slot for nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif
#include "../lang/util.h"
#include "input_impl.h"
#include "source.h"

/* A line holding more than this many bytes, its line end (LF, CR LF, a CR
 * that ends the input, or nothing at the end of the input) not counted, is
 * an error: the same line is refused or taken whatever ends it, as a CSV
 * record (SPEC 9.2). */
#define MAX_LINE (64u << 20)

enum { K_SKIP = 0, K_TIME, K_CUST, K_EVENT, K_ATTR };

/* An attribute seen on the current line; strings wait in the scratch
 * buffer until the event (and so whether it is kept) is known. */
typedef struct Pending {
    uint32_t attr;
    uint8_t tag;                    /* KB_NUM, KB_STR (soff/slen), KB_BOOL; KB_UNKNOWN: missing
                                     * (null, "", a nested value: it hides an earlier value) */
    bool b;
    double num;
    size_t soff, slen;
} Pending;

#define KEY_MEMO 32u                /* keys remembered (a power of two) */
#define PEEK 8u                     /* lines glanced at ahead (a power of two) */
static uint32_t PEEK_POOL = KI_AHEAD_POOL;   /* ... once the pool holds this many customers */
static _Atomic uint64_t glanced_total;   /* over the states freed (for tests) */

void ki_jsonl_peek(bool always, uint64_t *glanced)
{
    PEEK_POOL = always ? 0 : KI_AHEAD_POOL;
    if (glanced) *glanced = glanced_total;
}

typedef struct JState {
    KiSrc *s;
    yajl_handle h;
    int depth;                      /* open maps/arrays */
    bool done;                      /* the line's object has ended */
    int key;                        /* K_*: what the next value at depth 1 is */
    uint32_t key_attr;
    const char *key_name;           /* for messages: "time", "customer", "event" */
    bool has_time, has_cust, has_event;   /* a value (not null or "") was given */
    uint8_t seen_req;               /* the keys of time, customer, event met (bits 1 << (K_* - K_TIME)) */
    const char *val_at;             /* fast_line: where the value being handed over starts */
    int64_t time;
    uint32_t event;
    size_t cust_off, cust_len;      /* in scratch */
    char msg[200];                  /* a row error found in a callback */
    char hint[320];                 /* its hint ("" if none) */
    const char *lp; size_t ll;      /* the line being parsed */
    const char *err_at;             /* where in it the error is, or NULL */
    Pending *pend; uint32_t npend, cappend;
    char *scratch; size_t slen, scap;
    KiTimeCache tcache;
    bool in_yajl;                   /* yajl is parsing the line (not fast_line) */
    size_t obj_end;                 /* then: the bytes up to the end of the object */
    KiRow rows[2];                  /* filled alternately (see csv.c) */
    uint32_t next;
    KiCustMemo memo;                /* the last customer (input_impl.h) */
    /* what cb_map_key made of a key (ks_column, ki_attr_index: the same
     * for every row of a reader), by its bytes: a line's keys are the
     * last line's, most of the time */
    struct KeyMemo { char k[24]; uint32_t len; int key; uint32_t attr; const char *name; } keys[KEY_MEMO];
    /* jsonl_ahead: the customer's key as the lines write it (learned by
     * cb_map_key; 0: not yet, or not one to glance for); the lines from
     * s->pos glanced at (peek_n of them, from peek_head in the ring: the
     * id and its hash, or len 0), while s->bytes is peek_gen (a read moves
     * the buffer); where the next one starts; rows of the memo's customer
     * lately (ki_run_note) */
    char ckey[24]; uint32_t ckey_len;
    struct Peek { const char *p; uint32_t len; uint64_t h; } peek[PEEK];
    uint32_t peek_n, peek_head;
    uint64_t peek_gen; const char *peek_buf; size_t peek_at;
    uint8_t same_run;
    uint64_t glanced;               /* ids glanced at (summed into glanced_total when freed) */
} JState;

/* A bad time value s[0..len) (a JSON number if json): message, hint and
 * position (when s points into the line: yajl hands over numbers and
 * strings without escapes in place). */
static int bad_time(JState *j, const char *s, size_t len, bool json)
{
    ki_bad_time_text(s, len, json, j->msg, sizeof j->msg, j->hint, sizeof j->hint);
    if (s >= j->lp && s + len <= j->lp + j->ll) j->err_at = json ? s : s - 1;
    return 0;                       /* cancels the parse */
}

static int fail(JState *j, const char *fmt, const char *a, size_t alen)
{
    snprintf(j->msg, sizeof j->msg, fmt, (int)(alen > 40 ? 40 : alen), a);
    return 0;                       /* cancels the parse */
}

static bool keep(JState *j, const char *p, size_t len, size_t *off)
{
    *off = j->slen;
    if (len == 0) return true;
    if (j->scap - j->slen < len) {
        size_t nc = j->scap ? j->scap * 2u : 256u;
        while (nc - j->slen < len) nc *= 2u;
        char *nb = realloc(j->scratch, nc);
        if (!nb) return false;
        j->scratch = nb;
        j->scap = nc;
    }
    memcpy(j->scratch + j->slen, p, len);
    *off = j->slen;
    j->slen += len;
    return true;
}

static Pending *pend(JState *j)
{
    if (j->npend == j->cappend) {
        uint32_t nc = j->cappend ? j->cappend * 2u : 16u;
        Pending *np = realloc(j->pend, nc * sizeof *np);
        if (!np) return NULL;
        j->pend = np;
        j->cappend = nc;
    }
    Pending *p = &j->pend[j->npend++];
    p->attr = j->key_attr;
    return p;
}

/* scalar -- common checks for a value; returns 1 if it belongs to a key of
 * the line's object (depth 1), 0 if it is to be ignored (nested), -1 if the
 * line is bad (message set). */
static int scalar(JState *j)
{
    if (j->depth == 0) { fail(j, "expected a JSON object%.*s", "", 0); return -1; }
    return j->depth == 1 ? 1 : 0;
}

/* missing -- the current attribute's value is null, "" or nested: the
 * attribute is missing, and an earlier value of the same key is dropped
 * (the last value wins). */
static int missing(JState *j)
{
    if (j->key != K_ATTR) return 1;
    Pending *p = pend(j);
    if (!p) return fail(j, "out of memory%.*s", "", 0);
    p->tag = KB_UNKNOWN;
    return 1;
}

static int cb_null(void *ctx)
{
    JState *j = ctx;
    int k = scalar(j);
    if (k <= 0) return k == 0;
    return missing(j);              /* null: missing, for every key */
}

static int cb_string(void *ctx, const unsigned char *us, size_t len);

/* typed -- the current attribute has a declared type (--schema): its
 * value is kept as text and typed by ks_typed (source.h). */
static bool typed(const JState *j)
{
    const KrInputCtx *c = j->s->ctx;
    return c->attr_type && c->attr_type[j->key_attr];
}

/* custom_time -- a time under the schema's unit or format (source.h). */
static int custom_time(JState *j, const char *s, size_t len, bool json)
{
    if (ks_time(j->s->ctx->schema, s, len, json, &j->time, j->msg, sizeof j->msg, j->hint, sizeof j->hint) == 0)
        return 1;
    if (s >= j->lp && s + len <= j->lp + j->ll) j->err_at = json ? s : s - 1;
    return 0;
}

static int cb_bool(void *ctx, int b)
{
    JState *j = ctx;
    int k = scalar(j);
    if (k <= 0) return k == 0;
    switch (j->key) {
    case K_TIME: {                  /* the message and column of "time":1.5 (bad_time) */
        size_t len = b ? 4u : 5u;
        const char *at = j->val_at;         /* fast_line; yajl: just past the literal */
        if (j->in_yajl) {
            size_t end = yajl_get_bytes_consumed(j->h);
            at = end >= len && end <= j->ll ? j->lp + (end - len) : NULL;
        }
        if (at && at >= j->lp && (size_t)(at - j->lp) + len <= j->ll && memcmp(at, b ? "true" : "false", len) == 0)
            j->err_at = at;
        return fail(j, "bad time %.*s (expected an RFC 3339 string or integer Unix seconds)", b ? "true" : "false", len);
    }
    case K_CUST: return fail(j, "bad customer: %.*s (expected a string or a number)", b ? "true" : "false", b ? 4 : 5);
    case K_EVENT: return fail(j, "bad event: %.*s (expected a string)", b ? "true" : "false", b ? 4 : 5);
    case K_ATTR: {
        if (typed(j)) return cb_string(ctx, (const unsigned char *)(b ? "true" : "false"), b ? 4 : 5);
        Pending *p = pend(j);
        if (!p) return fail(j, "out of memory%.*s", "", 0);
        p->tag = KB_BOOL;
        p->b = b != 0;
        return 1;
    }
    default: return 1;
    }
}

/* The customer id: a string, or a number's text as written. */
static int set_customer(JState *j, const char *s, size_t len)
{
    j->has_cust = true;
    if (!keep(j, s, len, &j->cust_off)) return fail(j, "out of memory%.*s", "", 0);
    j->cust_len = len;
    return 1;
}

static int cb_number(void *ctx, const char *s, size_t len)
{
    JState *j = ctx;
    int k = scalar(j);
    if (k <= 0) return k == 0;
    switch (j->key) {
    case K_TIME:
        j->has_time = true;
        if (ks_custom_time(j->s->ctx->schema)) return custom_time(j, s, len, true);
        if (kr_parse_time(s, len, &j->time) != 0) return bad_time(j, s, len, true);
        return 1;
    case K_CUST: return set_customer(j, s, len);
    case K_EVENT: return fail(j, "bad event %.*s (expected a string)", s, len);
    case K_ATTR: {
        if (typed(j)) return cb_string(ctx, (const unsigned char *)s, len);
        Pending *p = pend(j);
        if (!p) return fail(j, "out of memory%.*s", "", 0);
        p->tag = KB_NUM;
        if (!ki_parse_num(s, len, &p->num)) p->num = 0;     /* cannot happen: yajl checked it */
        return 1;
    }
    default: return 1;
    }
}

static int cb_string(void *ctx, const unsigned char *us, size_t len)
{
    JState *j = ctx;
    const char *s = (const char *)us;
    int k = scalar(j);
    if (k <= 0) return k == 0;
    switch (j->key) {
    case K_TIME:
        if (len == 0) return 1;                          /* missing */
        j->has_time = true;
        if (ks_custom_time(j->s->ctx->schema)) return custom_time(j, s, len, false);
        if (ki_parse_time_cached(&j->tcache, s, len, &j->time) != 0) return bad_time(j, s, len, false);
        return 1;
    case K_CUST: return set_customer(j, s, len);
    case K_EVENT:
        if (len == 0) return 1;                          /* missing */
        j->has_event = true;
        j->event = ki_event_index(j->s->ctx, s, len);
        return 1;
    case K_ATTR: {
        if (len == 0) return missing(j);
        Pending *p = pend(j);
        if (!p || !keep(j, s, len, &p->soff)) return fail(j, "out of memory%.*s", "", 0);
        p->tag = KB_STR;
        p->slen = len;
        return 1;
    }
    default: return 1;
    }
}

/* An object or array opens: it cannot be the value of time, customer or
 * event (bad: the message then, "bad %.*s: an object" or "... an array");
 * as an attribute's value it is ignored: the attribute is missing. */
static int open_nested(JState *j, const char *bad)
{
    if (j->depth == 1 && (j->key == K_TIME || j->key == K_CUST || j->key == K_EVENT))
        return fail(j, bad, j->key_name, strlen(j->key_name));
    if (j->depth == 1 && !missing(j)) return 0;
    j->depth++;
    return 1;
}

static int cb_start_map(void *ctx)
{
    JState *j = ctx;
    if (j->depth == 0 && j->done) return fail(j, "more than one JSON value on the line%.*s", "", 0);
    return open_nested(j, "bad %.*s: an object");
}

static int cb_end_map(void *ctx)
{
    JState *j = ctx;
    if (--j->depth == 0) {
        j->done = true;
        if (j->in_yajl) j->obj_end = yajl_get_bytes_consumed(j->h);   /* just past the '}' */
    }
    return 1;
}

static int cb_start_array(void *ctx)
{
    JState *j = ctx;
    if (j->depth == 0) return fail(j, "expected a JSON object, not an array%.*s", "", 0);
    return open_nested(j, "bad %.*s: an array");
}

static int cb_end_array(void *ctx)
{
    JState *j = ctx;
    j->depth--;
    return 1;
}

/* required -- the key just read is time, customer or event (after --map
 * and --schema): a second one in the object is an error, whatever either
 * value is (null, "", anything).  The message names the key as the log
 * writes it (the source name of the mapping). */
static int required(JState *j)
{
    if (j->key != K_TIME && j->key != K_CUST && j->key != K_EVENT) return 1;
    uint8_t bit = (uint8_t)(1u << (j->key - K_TIME));
    if (j->seen_req & bit) {
        const char *name = ks_role_name(j->s->ctx->schema, j->key - K_TIME);
        return fail(j, "duplicate key \"%.*s\"", name, strlen(name));
    }
    j->seen_req |= bit;
    return 1;
}

static int cb_map_key(void *ctx, const unsigned char *uk, size_t len)
{
    JState *j = ctx;
    if (j->depth != 1) return 1;
    const char *k = (const char *)uk;
    struct KeyMemo *m = NULL;
    if (len > 0 && len <= sizeof m->k) {
        m = &j->keys[(len * 7u + (unsigned char)k[0] + (unsigned char)k[len - 1u] * 3u) & (KEY_MEMO - 1u)];
        if (m->len == len && memcmp(m->k, k, len) == 0) {
            j->key = m->key;
            if (m->key == K_ATTR) j->key_attr = m->attr;
            else if (m->key != K_SKIP) j->key_name = m->name;
            return required(j);
        }
    }
    KrInputCtx *c = j->s->ctx;
    const char *an;                     /* the Kairos name (--map, --schema: source.h) */
    size_t alen;
    int kind = ks_column(c->schema, k, len, &an, &alen);
    if (kind == KS_TIME) { j->key = K_TIME; j->key_name = "time"; }
    else if (kind == KS_CUST) {
        j->key = K_CUST;
        j->key_name = "customer";
        if (len <= sizeof j->ckey && !memchr(k, '\\', len)) {
            memcpy(j->ckey, k, len);
            j->ckey_len = (uint32_t)len;
        }
    }
    else if (kind == KS_EVENT) { j->key = K_EVENT; j->key_name = "event"; }
    else if (kind == KS_DROP) j->key = K_SKIP;
    else {
        uint32_t a = ki_attr_index(c, an, alen);
        if (a != KB_NONE && ((c->any_bits[a / 64u] >> (a % 64u)) & 1u)) { j->key = K_ATTR; j->key_attr = a; }
        else j->key = K_SKIP;
    }
    if (m) {
        memcpy(m->k, k, len);
        m->len = (uint32_t)len;
        m->key = j->key;
        m->attr = j->key_attr;
        m->name = j->key_name;
    }
    return required(j);
}

static const yajl_callbacks callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array,
};

static int new_handle(JState *j)
{
    if (j->h) yajl_free(j->h);
    j->h = yajl_alloc(&callbacks, NULL, j);
    if (!j->h) return -1;
    yajl_config(j->h, yajl_allow_multiple_values, 1);
    yajl_config(j->h, yajl_dont_validate_strings, 1);
    return 0;
}

/* finish -- the line's object is complete: check it, make the row. */
/* Whether pending value i has a later one of its key on the line (the last
 * of duplicate keys wins, a missing one too). */
static bool later_value(const JState *j, uint32_t i)
{
    for (uint32_t m = i + 1u; m < j->npend; m++)
        if (j->pend[m].attr == j->pend[i].attr) return true;
    return false;
}

static int finish(JState *j, uint64_t line)
{
    KiSrc *s = j->s;
    KrInputCtx *c = s->ctx;
    KiRow *r = &j->rows[j->next];
    if (!j->has_time) return ki_row_error(s, true, line, j->lp, NULL, NULL, "missing time");
    if (!j->has_event) return ki_row_error(s, true, line, j->lp, NULL, NULL, "missing event");
    if (!j->has_cust || j->cust_len == 0) return ki_row_error(s, true, line, j->lp, NULL, NULL, "missing customer");
    const char *id = j->scratch + j->cust_off;
    int k;
    bool same = ki_memo_take(&j->memo, c, id, j->cust_len, r, &k);
    ki_run_note(&j->same_run, same);
    if (!same) {
        const char *why = ki_bad_id(id, j->cust_len);
        if (why) return ki_row_error(s, true, line, j->lp, NULL, NULL, "bad customer id: %s", why);
        k = ki_customer(c, id, j->cust_len, r);
        ki_memo_keep(&j->memo, c, id, j->cust_len, r, k);
    }
    if (k < 0) return ki_error(s, line, 0, "out of memory");
    if (k == 0) {
        /* another shard's row must be as valid as in the unsharded run
         * (SPEC 5.9): its typed values are checked too (not kept) */
        for (uint32_t i = j->npend; c->attr_type && i-- > 0;) {
            const Pending *p = &j->pend[i];
            if (p->tag != KB_STR || !ki_wants(c, j->event, p->attr) || later_value(j, i)) continue;
            char msg[320];
            if (ks_check_typed(c, p->attr, j->scratch + p->soff, p->slen, msg, sizeof msg) != 0)
                return ki_row_error(s, true, line, j->lp, NULL, NULL, "%s", msg);
        }
        ki_row_other_shard(c, j->time, j->event);
        return 0;
    }
    r->time = j->time;
    r->event = j->event;
    r->line = line;
    /* the last of duplicate keys wins, a missing value (KB_UNKNOWN: null,
     * "", nested) too: a pending with a later one of its key is skipped */
    uint32_t n = 0;
    for (uint32_t i = j->npend; i-- > 0 && n < KI_MAX_ATTRS;) {
        const Pending *p = &j->pend[i];
        if (p->tag == KB_UNKNOWN || !ki_wants(c, j->event, p->attr) || later_value(j, i)) continue;
        KrValue *v = &r->vals[n];
        if (p->tag == KB_STR && c->attr_type && c->attr_type[p->attr]) {     /* declared type (source.h) */
            char msg[256];
            int t = ks_typed(c, c->attr_type[p->attr], j->scratch + p->soff, p->slen, v, msg, sizeof msg);
            if (t == -2) return ki_error(s, line, 0, "out of memory");
            if (t == -1) return ki_row_error(s, true, line, j->lp, NULL, NULL, "%s: %s",
                                             ks_attr_name(c->img, p->attr), msg);
        } else if (p->tag == KB_STR) {
            if (ki_cell_value(c, j->scratch + p->soff, p->slen, v) != 0) return ki_error(s, line, 0, "out of memory");
        } else if (p->tag == KB_NUM) {
            v->tag = KB_NUM; v->num = p->num;
        } else {
            v->tag = KB_BOOL; v->i = 0; v->b = p->b;
        }
        /* insert in increasing attribute index order */
        uint32_t at = n++;
        KrValue nv = *v;
        while (at > 0 && r->ids[at - 1u] > p->attr) {
            r->ids[at] = r->ids[at - 1u];
            r->vals[at] = r->vals[at - 1u];
            at--;
        }
        r->ids[at] = p->attr;
        r->vals[at] = nv;
    }
    r->nattrs = n;
    j->next ^= 1u;
    return ki_row_commit(s, r);
}

/* The first `\uXXXX` escape of a surrogate that is not half of a pair
 * (`\ud800` alone), or with nul a `\u0000` too, or -1.  yajl decodes a
 * lone surrogate to `?`, so that "c\ud800x" and "c?x" would become one
 * string: an error instead (the line parsed, so escapes are well formed).
 * (A NUL matters where strings are read NUL-terminated: Segment calls.) */
int ki_json_bad_escape(const char *p, size_t len, bool nul, size_t *at)
{
    if (!memchr(p, '\\', len)) return -1;
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"') { in = !in; continue; }
        if (!in || p[i] != '\\' || i + 1 >= len) continue;
        if (p[i + 1] != 'u' || i + 6 > len) { i++; continue; }
        int u = ku_hex4(p + i + 2);
        if (u >= 0xD800 && u <= 0xDBFF) {
            int lo = i + 12 <= len && p[i + 6] == '\\' && p[i + 7] == 'u' ? ku_hex4(p + i + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) { *at = i; return u; }
            i += 11;
        } else if ((u >= 0xDC00 && u <= 0xDFFF) || (nul && u == 0)) {
            *at = i;
            return u;
        } else {
            i += 5;
        }
    }
    return -1;
}


/* The end of a string that starts at q (after its opening quote), at its
 * closing quote; NULL if it has an escape or a control byte (yajl's
 * business) or does not end on the line. */
static const char *scan_string(const char *q, const char *e)
{
#if defined(__SSE2__) && defined(__GNUC__)
    /* sixteen bytes at a time: the first quote, backslash or byte below
     * 0x20 by one mask (a quarter of the reader's instructions went to this
     * loop a byte at a time) */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
    for (; e - q >= 16; q += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) {
            q += __builtin_ctz(m);
            return *q == '"' ? q : NULL;
        }
    }
#endif
    for (; q < e; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') return q;
        if (c == '\\' || c < 0x20) return NULL;
    }
    return NULL;
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

/* The end of a JSON number at q (RFC 8259 grammar), or NULL. */
static const char *scan_number(const char *q, const char *e)
{
    if (q < e && *q == '-') q++;
    if (q == e) return NULL;
    if (*q == '0') q++;
    else if (digit(*q)) while (q < e && digit(*q)) q++;
    else return NULL;
    if (q < e && *q == '.') {
        q++;
        if (q == e || !digit(*q)) return NULL;
        while (q < e && digit(*q)) q++;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < e && (*q == '+' || *q == '-')) q++;
        if (q == e || !digit(*q)) return NULL;
        while (q < e && digit(*q)) q++;
    }
    return q;
}

/* fast_line -- the line as one flat object: the callbacks yajl would make,
 * in its order, with the same arguments (strings and numbers in place).
 * 1: the object was read to its end and nothing but blanks follows;
 * 0: anything else (nesting, an escape, invalid JSON, a callback refusing
 * a value): the caller starts over with yajl. */
static int fast_line(JState *j, const char *p, size_t len)
{
    const char *q = p, *e = p + len;
#define FAST_WS() while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++
    FAST_WS();
    if (q == e || *q != '{' || !cb_start_map(j)) return 0;
    q++;
    FAST_WS();
    if (q < e && *q == '}') q++;
    else for (;;) {
        FAST_WS();
        if (q == e || *q != '"') return 0;
        const char *ks = ++q;
        if (!(q = scan_string(q, e)) || !cb_map_key(j, (const unsigned char *)ks, (size_t)(q - ks))) return 0;
        q++;
        FAST_WS();
        if (q == e || *q != ':') return 0;
        q++;
        FAST_WS();
        if (q == e) return 0;
        int ok;
        j->val_at = q;
        if (*q == '"') {
            const char *vs = ++q;
            if (!(q = scan_string(q, e))) return 0;
            ok = cb_string(j, (const unsigned char *)vs, (size_t)(q - vs));
            q++;
        } else if (*q == 't' && e - q >= 4 && memcmp(q, "true", 4) == 0) {
            q += 4;
            ok = cb_bool(j, 1);
        } else if (*q == 'f' && e - q >= 5 && memcmp(q, "false", 5) == 0) {
            q += 5;
            ok = cb_bool(j, 0);
        } else if (*q == 'n' && e - q >= 4 && memcmp(q, "null", 4) == 0) {
            q += 4;
            ok = cb_null(j);
        } else if (*q == '-' || digit(*q)) {
            const char *ns = q;
            if (!(q = scan_number(q, e))) return 0;
            ok = cb_number(j, ns, (size_t)(q - ns));
        } else {
            return 0;                   /* an object, an array, or not JSON */
        }
        if (!ok) return 0;
        FAST_WS();
        if (q == e) return 0;
        if (*q == '}') { q++; break; }
        if (*q != ',') return 0;
        q++;
    }
#undef FAST_WS
    if (!cb_end_map(j)) return 0;
    while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    return q == e;
}

static void reset_line(JState *j, const char *p, size_t len)
{
    j->depth = 0; j->done = false; j->key = K_SKIP;
    j->has_time = j->has_cust = j->has_event = false;
    j->seen_req = 0; j->val_at = NULL;
    j->event = KB_NONE;
    j->npend = 0; j->slen = 0; j->msg[0] = 0; j->hint[0] = 0;
    j->lp = p; j->ll = len; j->err_at = NULL;
}

void ki_json_wording(const char *t, char *msg, size_t mcap)
{
    if (strncmp(t, "parse error: ", 13) == 0) t += 13;
    else if (strncmp(t, "lexical error: ", 15) == 0) t += 15;
    size_t n = strcspn(t, "\n");
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '.')) n--;
    snprintf(msg, mcap, "invalid JSON: %.*s", (int)(n > 120 ? 120 : n), t);
}

/* The message for the fault handle h stopped at on line (yajl's, worded
 * as the readers word theirs) and its offset in the line. */
static size_t json_fault(yajl_handle h, const char *line, size_t len, char *msg, size_t mcap)
{
    size_t at = yajl_get_bytes_consumed(h);
    unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)line, len);
    const char *t = e ? (const char *)e : "invalid JSON";
    if (strstr(t, "trailing garbage")) {
        /* at the first byte after the object that is not a blank (yajl's
         * count may be past a token, or 0 when the end of the line made it) */
        KuJsonShape sh;
        ku_json_shape(line, len, SIZE_MAX, &sh);
        at = sh.end;
        while (at < len && (line[at] == ' ' || line[at] == '\t' || line[at] == '\r')) at++;
        snprintf(msg, mcap, "invalid JSON: something follows the object (expected one object per line)");
    } else if (strstr(t, "comment")) {
        if (at >= len) at = len ? len - 1 : 0;          /* at the comment's first '/' */
        while (at > 0 && line[at] != '/') at--;
        if (at > 0 && line[at - 1] == '/') at--;
        if (at + 1 < len && (line[at + 1] == '/' || line[at + 1] == '*'))
            snprintf(msg, mcap, "invalid JSON: a comment (JSON has none)");
        else                                            /* "a":1/2, "a":/x */
            snprintf(msg, mcap, "invalid JSON: a '/' outside a string");
    } else {
        ki_json_wording(t, msg, mcap);
    }
    if (e) yajl_free_error(h, e);
    return at < len ? at : len;
}

int ki_json_strict(const char *line, size_t len, size_t *at, char *msg, size_t mcap)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h) return -2;
    yajl_status st = yajl_parse(h, (const unsigned char *)line, len);
    if (st == yajl_status_ok && (st = yajl_complete_parse(h)) != yajl_status_ok) {
        /* the line ended inside the object: as parse_line says it, no column */
        snprintf(msg, mcap, "incomplete JSON object (expected one object per line)");
        *at = len;
    } else if (st != yajl_status_ok) {
        *at = json_fault(h, line, len, msg, mcap);
    }
    yajl_free(h);
    return st == yajl_status_ok ? 0 : -1;
}

/* parse_line -- one non-blank line. 0 = done (row made or skipped), -1 = error. */
static int parse_line(JState *j, const char *p, size_t len, uint64_t line)
{
    reset_line(j, p, len);
    if (fast_line(j, p, len) && j->done && j->depth == 0) return finish(j, line);
    reset_line(j, p, len);
    j->in_yajl = true;
    j->obj_end = 0;
    yajl_status st = yajl_parse(j->h, (const unsigned char *)p, len);
    j->in_yajl = false;
    /* only blanks (space, tab, CR) may follow the object on its line: a
     * token begun after it ("{...}t", "{...}\"") would be the start of the
     * next line's text to yajl (an open string swallowed the next line).
     * Whatever follows -- a byte yajl takes for a blank (\v, \f), one its
     * lexer refuses (a non-breaking space), a token ("null", "]") -- is
     * the one message, at that byte; but a second object, "{...} {",
     * is "more than one JSON value on the line" (cb_start_map). */
    const char *trailing = NULL;
    if (j->done && j->depth == 0) {
        for (size_t i = j->obj_end; i < len && !trailing; i++)
            if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') trailing = p + i;
        if (trailing && *trailing == '{' && st != yajl_status_ok) trailing = NULL;
        if (trailing) st = yajl_status_error;
    }
    if (st == yajl_status_ok && j->done && j->depth == 0) {
        size_t at = 0;
        int u = ki_json_bad_escape(p, len, false, &at);
        if (u >= 0)
            return ki_row_error(j->s, true, line, p, p + at, NULL,
                                "invalid JSON: lone surrogate \\u%04x in a string (not Unicode)", u);
        return finish(j, line);
    }
    int rc;
    if (trailing) {
        rc = ki_row_error(j->s, true, line, p, trailing, NULL, "%s",
                          "invalid JSON: something follows the object (expected one object per line)");
    } else if (st == yajl_status_client_canceled || j->msg[0]) {
        if (j->done && j->depth == 0 && !j->hint[0]) {
            /* a second object after a CR: lines ended by a lone CR make the
             * whole file one line (as the CSV reader says of its header) */
            size_t i = j->obj_end;
            while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
            if (i < len && p[i] == '\r')
                snprintf(j->hint, sizeof j->hint, "%s", "are its lines ended by a lone CR? Kairos reads lines "
                         "ended by LF or CR LF; convert the file, e.g. tr '\\r' '\\n'");
        }
        rc = ki_row_error(j->s, true, line, p, j->err_at, j->hint[0] ? j->hint : NULL, "%s", j->msg);
    } else if (st == yajl_status_error) {
        char m[160];
        size_t at = json_fault(j->h, p, len, m, sizeof m);
        rc = ki_row_error(j->s, true, line, p, p + at, NULL, "%s", m);
    } else {
        rc = ki_row_error(j->s, true, line, p, NULL, NULL, "%s",
                          j->depth > 0 ? "incomplete JSON object (expected one object per line)" : "expected a JSON object");
    }
    if (new_handle(j) != 0) return ki_error(j->s, line, 0, "out of memory");
    return rc;
}

static bool blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
    return true;
}

static void free_priv(void *p)
{
    JState *j = p;
    if (!j) return;
    glanced_total += j->glanced;
    if (j->h) yajl_free(j->h);
    free(j->pend);
    free(j->scratch);
    free(j);
}

int ki_jsonl_begin(KiSrc *s)
{
    JState *j = calloc(1, sizeof *j);
    if (!j) return ki_error(s, 0, 0, "out of memory");
    j->s = s;
    s->priv = j;
    s->priv_free = free_priv;
    return new_handle(j) == 0 ? 0 : ki_error(s, 0, 0, "out of memory");
}

/* glance -- the customer id of the line p[0, len), if it is written
 * plainly (j->ckey, a colon, a string without escapes or a number, whose
 * text is the id: SPEC 5.6): *id and its length, else 0. */
static uint32_t glance(const JState *j, const char *p, size_t len, const char **id)
{
    const char *e = p + len, *q = p;
    for (;;) {
        q = memchr(q, '"', (size_t)(e - q));
        if (!q || (size_t)(e - q) < j->ckey_len + 2u) return 0;
        if (memcmp(q + 1, j->ckey, j->ckey_len) == 0 && q[j->ckey_len + 1u] == '"') break;
        q++;
    }
    q += j->ckey_len + 2u;
    while (q < e && (*q == ' ' || *q == '\t')) q++;
    if (q == e || *q++ != ':') return 0;
    while (q < e && (*q == ' ' || *q == '\t')) q++;
    if (q < e && (*q == '-' || (*q >= '0' && *q <= '9'))) {
        const char *n = q;
        while (n < e && ((*n >= '0' && *n <= '9') || *n == '-' || *n == '+' || *n == '.' || *n == 'e' || *n == 'E')) n++;
        *id = q;
        return (uint32_t)(n - q);
    }
    if (q == e || *q++ != '"') return 0;
    const char *end = memchr(q, '"', (size_t)(e - q));
    if (!end || memchr(q, '\\', (size_t)(end - q))) return 0;
    *id = q;
    return (uint32_t)(end - q);
}

/* jsonl_ahead -- before the line at s->pos is parsed: the lines up to PEEK
 * ahead of it that are whole in the buffer are glanced at, their ids'
 * pool slots start loading, and the stored bytes of the id halfway there
 * (its slot has had time to arrive). */
static void jsonl_ahead(JState *j, KiSrc *s)
{
    const KrInputCtx *c = s->ctx;
    if (!j->ckey_len || j->same_run >= KI_RUNS || kr_pool_count(c->customers) < PEEK_POOL) {
        j->peek_n = 0;
        j->peek_gen = UINT64_MAX;
        return;
    }
    if (j->peek_gen != s->bytes || j->peek_buf != s->buf) {   /* the first, or the buffer was read into */
        j->peek_n = 0;
        j->peek_gen = s->bytes;
        j->peek_buf = s->buf;
    }
    if (j->peek_n == 0) {                 /* (a read may have moved the unread bytes to the start) */
        j->peek_head = 0;
        j->peek_at = s->pos;
    }
    while (j->peek_n < PEEK && j->peek_at < s->end) {
        const char *p = s->buf + j->peek_at, *nl = memchr(p, '\n', s->end - j->peek_at);
        if (!nl) break;
        struct Peek *k = &j->peek[(j->peek_head + j->peek_n) & (PEEK - 1u)];
        k->len = glance(j, p, (size_t)(nl - p), &k->p);
        if (k->len) {
            j->glanced++;
            k->h = kr_hash_bytes(k->p, k->len);
            kr_pool_prefetch(c->customers, k->h);
        }
        j->peek_n++;
        j->peek_at = (size_t)(nl + 1 - s->buf);
    }
    if (j->peek_n > PEEK / 2u) {
        const struct Peek *k = &j->peek[(j->peek_head + PEEK / 2u) & (PEEK - 1u)];
        if (k->len) kr_pool_prefetch_key(c->customers, k->h, k->p, k->len);
    }
}

int ki_jsonl_step(KiSrc *s)
{
    JState *j = s->priv;
    uint64_t before = s->nrows;
    for (;;) {
        const char *p;
        size_t len, adv;
        int r = ki_line_next(s, &p, &len, &adv);
        if (r <= 0) return r;
        jsonl_ahead(j, s);
        if (!blank(p, len) && parse_line(j, p, len, s->line) != 0) return -1;
        s->pos += adv;
        s->line++;
        if (j->peek_n > 0) {               /* the line glanced at first is done */
            j->peek_head = (j->peek_head + 1u) & (PEEK - 1u);
            j->peek_n--;
        }
        if (s->nrows != before) return 1;
    }
}

/* line_too_long -- whether the n bytes at p, a line without its LF (or the
 * start of one whose LF has not arrived yet), hold more than MAX_LINE bytes
 * without their line end: a CR last is not counted (the CR of CR LF, a CR
 * that ends the input, or one that may begin the CR LF still to come). */
static bool line_too_long(const KiSrc *s, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r') n--;
    /* a byte order mark opening the first line is not the line's, as the
     * CSV header's is not */
    if (s->line == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) n -= 3;
    return n > MAX_LINE;
}

int ki_line_next(KiSrc *s, const char **pp, size_t *lenp, size_t *adv)
{
    for (;;) {
        if (s->pos == s->end) {
            if (s->eof) return 0;
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        const char *p = s->buf + s->pos;
        size_t avail = s->end - s->pos;
        /* a line still arriving: only the bytes read since are looked at (a
         * 64 MiB line from a pipe was searched from its start after each
         * 64 KiB read) */
        uint64_t at = s->bytes - avail;
        size_t seen = s->line_at == at && s->line_seen <= avail ? s->line_seen : 0;
        const char *nl = memchr(p + seen, '\n', avail - seen);
        if (!nl && !s->eof) {
            if (line_too_long(s, p, avail)) return ki_error(s, s->line, 0, "line longer than 64 MiB");
            s->line_at = at;
            s->line_seen = avail;
            if (ki_fill(s) < 0) return -1;
            continue;
        }
        size_t len = nl ? (size_t)(nl - p) : avail;
        if (line_too_long(s, p, len)) return ki_error(s, s->line, 0, "line longer than 64 MiB");
        *adv = nl ? len + 1u : avail;
        if (s->line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) { p += 3; len -= 3; }
        if (s->line == 1 && ki_gzip_data(s, p, avail)) return -1;
        *pp = p;
        *lenp = len;
        return 1;
    }
}
