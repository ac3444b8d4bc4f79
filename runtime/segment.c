/* segment.c -- Segment-spec JSON Lines (--input segment, or `input:
 * segment` in a schema file; SPEC.md 5.12): one call a line, as written by
 * Segment, RudderStack and other customer-data tools.
 *
 *   track             the event named by "event", "properties" as attributes
 *   identify          Kairos's identify: "traits" as traits, context.timezone as tz
 *   page, screen      the events page and screen: "name" and "properties"
 *   anything else     (alias, group, unknown) skipped, counted, reported
 *
 * Nested objects are flattened with '.' ({"plan":{"tier":"pro"}} is the
 * attribute plan.tier); arrays are ignored.  customer = userId, or
 * anonymousId where there is none; time = timestamp (RFC 3339).  A line is
 * parsed with yajl's tree API (which keeps every duplicate key).
 *
 * Duplicate keys (as jsonl.c): one of the call's own keys -- type, event,
 * timestamp, userId, anonymousId -- given twice is an error, whatever the
 * values; any other key given twice in one object (the call, properties,
 * traits, context, a nested object) is read from its last value only, the
 * earlier ones not at all; and of two keys that flatten to one attribute
 * name the later wins, a missing value (null, "", an array) too: the
 * values are collected first (leaf) and only each name's last is read, so
 * an earlier one is never checked against the attribute's type either.
 */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>
#include "../lang/util.h"
#include "input_impl.h"
#include "source.h"

#define MAX_KEY 512

typedef struct Skipped { char name[32]; uint64_t n; } Skipped;

typedef struct SState {
    char *line; size_t lcap;        /* the line, NUL-terminated */
    KiRow rows[2];
    uint32_t next;
    Skipped skipped[8]; uint32_t nskipped;
    uint64_t nskip_total;
    uint32_t a_tz, a_name;
    struct Leaf { uint32_t a; yajl_val v; } *leaf;  /* the call's values, in order */
    size_t nleaf, leafcap;
    uint32_t *last;                 /* per attribute: 1 + its last leaf, or 0 */
} SState;

static const char *str_of(yajl_val v, size_t *len)
{
    if (YAJL_IS_STRING(v)) { *len = strlen(v->u.string); return v->u.string; }
    if (YAJL_IS_NUMBER(v)) { *len = strlen(v->u.number.r); return v->u.number.r; }
    return NULL;
}

/* get -- the value of key in obj: its last one, if the key is given more
 * than once (the last value wins, whatever it is). */
static yajl_val get(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj)) return NULL;
    for (size_t i = obj->u.object.len; i-- > 0;)
        if (strcmp(obj->u.object.keys[i], key) == 0) return obj->u.object.values[i];
    return NULL;
}

/* The call's own keys: given twice, an error whatever the values (the
 * required keys of JSON Lines, 5.3; SPEC.md 5.12). */
static const char *const call_keys[] = { "type", "event", "timestamp", "userId", "anonymousId" };
enum { NCALL_KEYS = sizeof call_keys / sizeof call_keys[0] };

/* dup_call_key -- the first of the call's own keys met a second time in
 * root (in the line's order), or NULL. */
static const char *dup_call_key(yajl_val root)
{
    unsigned seen = 0;
    for (size_t i = 0; i < root->u.object.len; i++)
        for (unsigned k = 0; k < NCALL_KEYS; k++)
            if (strcmp(root->u.object.keys[i], call_keys[k]) == 0) {
                if (seen & (1u << k)) return call_keys[k];
                seen |= 1u << k;
                break;
            }
    return NULL;
}

typedef struct KeyAt { const char *k; size_t i; } KeyAt;

static int key_at_cmp(const void *a, const void *b)
{
    const KeyAt *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* shadowed -- for an object with a key given more than once: a calloc'd
 * array, true at the index of every value a later equal key overrides
 * (NULL: no duplicates, or *oom set). */
static bool *shadowed(yajl_val obj, bool *oom)
{
    size_t n = obj->u.object.len;
    const char **keys = obj->u.object.keys;
    bool *sh = NULL;
    *oom = false;
    if (n < 2) return NULL;
    if (n <= 16) {
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(keys[i], keys[j]) == 0) {
                    if (!sh && !(sh = calloc(n, sizeof *sh))) { *oom = true; return NULL; }
                    sh[i] = true;
                    break;
                }
        return sh;
    }
    KeyAt *ka = malloc(n * sizeof *ka);
    if (!ka) { *oom = true; return NULL; }
    for (size_t i = 0; i < n; i++) { ka[i].k = keys[i]; ka[i].i = i; }
    qsort(ka, n, sizeof *ka, key_at_cmp);
    for (size_t i = 0; i + 1 < n; i++)
        if (strcmp(ka[i].k, ka[i + 1].k) == 0) {
            if (!sh && !(sh = calloc(n, sizeof *sh))) { *oom = true; break; }
            sh[ka[i].i] = true;
        }
    free(ka);
    return sh;
}

/* drop -- attribute a is missing from the row (a later null, "" or array
 * hides an earlier value of the same name). */
static void drop(KiRow *r, uint32_t a)
{
    for (uint32_t at = 0; at < r->nattrs; at++)
        if (r->ids[at] == a) {
            memmove(&r->ids[at], &r->ids[at + 1], (r->nattrs - at - 1u) * sizeof r->ids[0]);
            memmove(&r->vals[at], &r->vals[at + 1], (r->nattrs - at - 1u) * sizeof r->vals[0]);
            r->nattrs--;
            return;
        }
}

/* add -- one attribute value into the row (the last of equal names wins,
 * a missing value -- null, "", an array -- too: it drops an earlier one;
 * the row's attributes stay in increasing index order).  0, 1 (a type
 * error: msg set), -1 out of memory. */
static int add(KiSrc *s, KiRow *r, uint32_t a, yajl_val v, char *msg, size_t mcap)
{
    KrInputCtx *c = s->ctx;
    if (a == KB_NONE || !ki_wants(c, r->event, a)) return 0;
    KrValue val;
    size_t len = 0;
    const char *t = str_of(v, &len);
    if (c->attr_type && c->attr_type[a]) {
        if (YAJL_IS_TRUE(v)) { t = "true"; len = 4; }
        else if (YAJL_IS_FALSE(v)) { t = "false"; len = 5; }
        if (!t) { drop(r, a); return 0; }             /* null, arrays: missing */
        char m[256];
        int k = ks_typed(c, c->attr_type[a], t, len, &val, m, sizeof m);
        if (k == -2) return -1;
        if (k == 1) { drop(r, a); return 0; }         /* "": missing */
        if (k == -1) { snprintf(msg, mcap, "%s: %s", ks_attr_name(c->img, a), m); return 1; }
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        val.tag = KB_BOOL; val.i = 0; val.b = YAJL_IS_TRUE(v);
    } else if (YAJL_IS_NUMBER(v)) {
        val.tag = KB_NUM;
        if (!ki_parse_num(t, len, &val.num)) val.num = YAJL_IS_DOUBLE(v) ? v->u.number.d : 0;
    } else if (YAJL_IS_STRING(v)) {
        if (len == 0) { drop(r, a); return 0; }       /* missing */
        if (ki_cell_value(c, t, len, &val) != 0) return -1;
    } else {
        drop(r, a);                                   /* null, arrays: missing */
        return 0;
    }
    uint32_t at = 0;
    while (at < r->nattrs && r->ids[at] < a) at++;
    if (at < r->nattrs && r->ids[at] == a) { r->vals[at] = val; return 0; }
    if (r->nattrs >= KI_MAX_ATTRS) return 0;
    memmove(&r->ids[at + 1], &r->ids[at], (r->nattrs - at) * sizeof r->ids[0]);
    memmove(&r->vals[at + 1], &r->vals[at], (r->nattrs - at) * sizeof r->vals[0]);
    r->ids[at] = a;
    r->vals[at] = val;
    r->nattrs++;
    return 0;
}

/* collect -- value v of attribute a, to be read by apply if no later value
 * of the call names a.  0, or -1 out of memory. */
static int collect(KiSrc *s, const KiRow *r, uint32_t a, yajl_val v)
{
    SState *st = s->priv;
    KrInputCtx *c = s->ctx;
    if (a == KB_NONE || !ki_wants(c, r->event, a)) return 0;
    if (!st->last && !(st->last = calloc(c->img->nattrs, sizeof *st->last))) return -1;
    if (st->nleaf == st->leafcap) {
        size_t cap = st->leafcap ? st->leafcap * 2 : 16;
        struct Leaf *l = realloc(st->leaf, cap * sizeof *l);
        if (!l) return -1;
        st->leaf = l;
        st->leafcap = cap;
    }
    st->leaf[st->nleaf++] = (struct Leaf){ a, v };
    st->last[a] = (uint32_t)st->nleaf;
    return 0;
}

static void forget(SState *st)
{
    for (size_t i = 0; i < st->nleaf; i++) st->last[st->leaf[i].a] = 0;
    st->nleaf = 0;
}

/* check -- value v of attribute a against a declared number or bool type,
 * nothing kept (another shard's call): 0, or 1 a type error with msg set. */
static int check(KiSrc *s, uint32_t a, yajl_val v, char *msg, size_t mcap)
{
    size_t len = 0;
    const char *t = str_of(v, &len);
    if (YAJL_IS_TRUE(v)) { t = "true"; len = 4; }
    else if (YAJL_IS_FALSE(v)) { t = "false"; len = 5; }
    return t && len && ks_check_typed(s->ctx, a, t, len, msg, mcap) != 0;   /* (no text: missing) */
}

/* apply -- the collected values into the row, each attribute's last only
 * (as add: 0, 1 a type error with msg set, -1 out of memory); with
 * check_only, only checked (another shard's call). */
static int apply(KiSrc *s, KiRow *r, char *msg, size_t mcap, bool check_only)
{
    SState *st = s->priv;
    int rc = 0;
    for (size_t i = 0; i < st->nleaf && rc == 0; i++) {
        uint32_t a = st->leaf[i].a;
        if (st->last[a] != i + 1) continue;
        rc = check_only ? check(s, a, st->leaf[i].v, msg, mcap) : add(s, r, a, st->leaf[i].v, msg, mcap);
    }
    forget(st);
    return rc;
}

/* flatten -- the leaves of obj as attributes named prefix.key... (of a
 * key given twice in obj, only the last value is read) */
static int flatten(KiSrc *s, KiRow *r, yajl_val obj, char *key, size_t klen)
{
    if (!YAJL_IS_OBJECT(obj)) return 0;
    bool oom;
    bool *sh = shadowed(obj, &oom);
    if (oom) return -1;
    int rc = 0;
    for (size_t i = 0; i < obj->u.object.len && rc == 0; i++) {
        if (sh && sh[i]) continue;
        const char *k = obj->u.object.keys[i];
        size_t n = strlen(k), nl = klen + (klen ? 1u : 0u) + n;
        if (nl >= MAX_KEY) continue;
        if (klen) key[klen] = '.';
        memcpy(key + klen + (klen ? 1u : 0u), k, n);
        key[nl] = 0;
        yajl_val v = obj->u.object.values[i];
        if (YAJL_IS_OBJECT(v)) {
            rc = flatten(s, r, v, key, nl);
        } else {
            const char *an;
            size_t alen;
            int kind = ks_column(s->ctx->schema, key, nl, &an, &alen);
            if (kind == KS_DROP) rc = 0;
            else {
                if (kind != KS_ATTR) { an = key; alen = nl; }
                rc = collect(s, r, ki_attr_index(s->ctx, an, alen), v);
            }
        }
    }
    free(sh);
    return rc;
}

static void skip_type(SState *st, const char *type)
{
    st->nskip_total++;
    for (uint32_t i = 0; i < st->nskipped; i++)
        if (strcmp(st->skipped[i].name, type) == 0) { st->skipped[i].n++; return; }
    if (st->nskipped < 8) {
        snprintf(st->skipped[st->nskipped].name, sizeof st->skipped[0].name, "%s", type);
        st->skipped[st->nskipped++].n = 1;
    }
}

/* call -- one line (NUL-terminated in st->line; lp: the same line in the
 * input buffer, for messages). 0 done, -1 error. */
static int call(KiSrc *s, SState *st, const char *lp, uint64_t line)
{
    KrInputCtx *c = s->ctx;
    char err[256] = "", msg[300] = "";
    size_t llen = strlen(st->line);   /* (the line's text as yajl reads it: up to a NUL) */
    KuJsonShape sh;
    ku_json_shape(st->line, llen, KU_JSON_MAX_DEPTH, &sh);
    if (sh.deeper)
        return ki_row_error(s, true, line, lp, NULL, NULL, "invalid JSON: nested deeper than %d levels",
                            KU_JSON_MAX_DEPTH);
    yajl_val root = yajl_tree_parse(st->line, err, sizeof err);
    if (!root && strstr(err, "invalid bytes in UTF8 string")) {
        /* yajl's tree checks UTF-8 and cannot be told not to: say where and why */
        size_t at = 0;
        while (at < llen && ((unsigned char)st->line[at] < 0x80 || ku_utf8_char(st->line + at, llen - at, NULL)))
            at += ku_utf8_step(st->line + at, llen - at);
        return ki_row_error(s, true, line, lp, at < llen ? lp + at : NULL, NULL,
                            "invalid JSON: bytes that are not UTF-8 in a string (a Segment call is UTF-8 JSON)");
    }
    if (!root || sh.slash) {
        /* a fault yajl's tree names without a column, or a comment it
         * takes (only a line with a '/' can hold one) */
        size_t at = 0;
        int v = ki_json_strict(st->line, llen, &at, msg, sizeof msg);
        if (v == -1) {
            if (root) yajl_tree_free(root);
            return ki_row_error(s, true, line, lp, at < llen ? lp + at : NULL, NULL, "%s", msg);
        }
    }
    if (!root) {
        ki_json_wording(err, msg, sizeof msg);
        return ki_row_error(s, true, line, lp, NULL, NULL, "%s", msg);
    }
    {
        /* yajl's tree turns a lone surrogate into '?' and ends a string at
         * \u0000: "u\ud800x" would be the customer "u?x", "n\u0000x" "n" */
        size_t at = 0;
        int u = ki_json_bad_escape(st->line, llen, true, &at);
        if (u > 0) {
            yajl_tree_free(root);
            return ki_row_error(s, true, line, lp, lp + at, NULL,
                                "invalid JSON: lone surrogate \\u%04x in a string (not Unicode)", u);
        }
        if (u == 0) {
            yajl_tree_free(root);
            return ki_row_error(s, true, line, lp, lp + at, NULL,
                                "\\u0000 (a NUL byte) in a string: no id, name or value may hold one");
        }
    }
    int rc = 0;
    KiRow *r = &st->rows[st->next];
    size_t tlen = 0, clen = 0, elen = 0;
    const char *type, *cust, *ts, *ev = NULL;
    if (!YAJL_IS_OBJECT(root)) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "expected a JSON object"); goto done; }
    {
        /* after the object only spaces, tabs and CRs, as in JSON Lines (5.3): yajl takes a
         * vertical tab or a form feed for a blank */
        size_t end = llen, k = end;
        while (k > 0 && (st->line[k - 1] == ' ' || st->line[k - 1] == '\t' || st->line[k - 1] == '\r' ||
                         st->line[k - 1] == '\v' || st->line[k - 1] == '\f'))
            k--;
        size_t vt = k + strcspn(st->line + k, "\v\f");
        if (vt < end) {
            rc = ki_row_error(s, true, line, lp, lp + vt, NULL,
                              "invalid JSON: something follows the object (expected one object per line)");
            goto done;
        }
    }
    const char *dup = dup_call_key(root);
    if (dup) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "duplicate key \"%s\"", dup); goto done; }
    yajl_val type_v = get(root, "type");
    type = str_of(type_v, &tlen);
    if (type_v && !YAJL_IS_STRING(type_v) && !YAJL_IS_NULL(type_v)) {
        rc = ki_row_error(s, true, line, lp, NULL, NULL, "bad type: the call's type is a string (track, identify, "
                          "page, screen), not %s", YAJL_IS_NUMBER(type_v) ? "a number" : YAJL_IS_OBJECT(type_v)
                          ? "an object" : YAJL_IS_ARRAY(type_v) ? "an array" : "true or false");
        goto done;
    }
    if (!type || !YAJL_IS_STRING(type_v) || tlen == 0) {
        rc = ki_row_error(s, true, line, lp, NULL, NULL, "missing type (track, identify, page, screen)");
        goto done;
    }
    if (strcmp(type, "track") == 0) {
        yajl_val ev_v = get(root, "event");
        ev = YAJL_IS_STRING(ev_v) ? str_of(ev_v, &elen) : NULL;
        if (ev_v && !YAJL_IS_STRING(ev_v) && !YAJL_IS_NULL(ev_v)) {
            rc = ki_row_error(s, true, line, lp, NULL, NULL, "bad event: the name of the tracked event is a string, "
                              "not %s", YAJL_IS_NUMBER(ev_v) ? "a number" : YAJL_IS_OBJECT(ev_v) ? "an object"
                              : YAJL_IS_ARRAY(ev_v) ? "an array" : "true or false");
            goto done;
        }
        if (!ev || elen == 0) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "missing event (the name of the tracked event)"); goto done; }
        r->event = ki_event_index(c, ev, elen);
    } else if (strcmp(type, "identify") == 0) r->event = ki_event_index(c, "identify", 8);
    else if (strcmp(type, "page") == 0) r->event = ki_event_index(c, "page", 4);
    else if (strcmp(type, "screen") == 0) r->event = ki_event_index(c, "screen", 6);
    else { skip_type(st, type); goto done; }
    yajl_val ts_v = get(root, "timestamp");
    ts = YAJL_IS_STRING(ts_v) ? ts_v->u.string : NULL;
    if (ts_v && !YAJL_IS_STRING(ts_v) && !YAJL_IS_NULL(ts_v)) {
        rc = ki_row_error(s, true, line, lp, NULL, NULL, "bad timestamp: %s (expected an RFC 3339 string like "
                          "2026-03-01T09:30:00.000Z)", YAJL_IS_NUMBER(ts_v) ? "a number" : "not a string");
        goto done;
    }
    if (!ts || !ts[0]) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "missing timestamp"); goto done; }
    if (kr_parse_time(ts, strlen(ts), &r->time) != 0 || strlen(ts) < 20) {
        rc = ki_row_error(s, true, line, lp, NULL, NULL, "bad timestamp \"%.40s\" (expected RFC 3339 like 2026-03-01T09:30:00.000Z)", ts);
        goto done;
    }
    static const char *const id_keys[] = { "userId", "anonymousId" };
    for (int k = 0; k < 2; k++) {       /* true, an object, an array: no id, said so */
        yajl_val v = get(root, id_keys[k]);
        if (v && !YAJL_IS_STRING(v) && !YAJL_IS_NUMBER(v) && !YAJL_IS_NULL(v)) {
            rc = ki_row_error(s, true, line, lp, NULL, NULL, "bad customer: %s is %s, not a string or a number",
                              id_keys[k], YAJL_IS_OBJECT(v) ? "an object" : YAJL_IS_ARRAY(v) ? "an array"
                              : YAJL_IS_TRUE(v) ? "true" : "false");
            goto done;
        }
    }
    cust = str_of(get(root, "userId"), &clen);
    if (!cust || clen == 0) cust = str_of(get(root, "anonymousId"), &clen);
    if (!cust || clen == 0) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "missing customer (neither userId nor anonymousId)"); goto done; }
    int k = ki_customer(c, cust, clen, r);
    if (k < 0) { rc = ki_error(s, line, 0, "out of memory"); goto done; }
    /* another shard's call must be as valid as in the unsharded run (SPEC
     * 5.9): with declared types its values are read too, checked, not kept */
    bool mine = k != 0;
    if (!mine && !c->attr_type) {
        ki_row_other_shard(c, r->time, r->event);
        goto done;
    }
    r->nattrs = 0;
    r->line = line;
    char key[MAX_KEY];
    int f = 0;
    if (strcmp(type, "identify") == 0) {
        f = flatten(s, r, get(root, "traits"), key, 0);
        yajl_val tz = get(get(root, "context"), "timezone");
        if (f == 0 && tz && YAJL_IS_STRING(tz) && tz->u.string[0]) f = collect(s, r, st->a_tz, tz);
    } else {
        if (strcmp(type, "track") != 0) {
            yajl_val name = get(root, "name");
            if (name) f = collect(s, r, st->a_name, name);
        }
        if (f == 0) f = flatten(s, r, get(root, "properties"), key, 0);
    }
    if (f == 0) f = apply(s, r, msg, sizeof msg, !mine);
    else forget(st);
    if (f < 0) { rc = ki_error(s, line, 0, "out of memory"); goto done; }
    if (f > 0) { rc = ki_row_error(s, true, line, lp, NULL, NULL, "%s", msg); goto done; }
    if (!mine) {
        ki_row_other_shard(c, r->time, r->event);
        goto done;
    }
    st->next ^= 1u;
    rc = ki_row_commit(s, r);
done:
    yajl_tree_free(root);
    return rc;
}

static void free_priv(void *p)
{
    SState *st = p;
    if (!st) return;
    free(st->line);
    free(st->leaf);
    free(st->last);
    free(st);
}

int ki_segment_begin(KiSrc *s)
{
    SState *st = calloc(1, sizeof *st);
    if (!st) return ki_error(s, 0, 0, "out of memory");
    s->priv = st;
    s->priv_free = free_priv;
    KrInputCtx *c = s->ctx;
    st->a_tz = ki_attr_index(c, "tz", 2);
    st->a_name = ki_attr_index(c, "name", 4);
    return 0;
}

static void report_skipped(KiSrc *s, SState *st)
{
    FILE *err = s->ctx->err;
    if (!st->nskip_total || !err) return;
    fprintf(err, "%s: note: skipped %llu call%s of a type Kairos does not read (", s->name,
            (unsigned long long)st->nskip_total, st->nskip_total == 1 ? "" : "s");
    for (uint32_t i = 0; i < st->nskipped; i++)
        fprintf(err, "%s%s: %llu", i ? ", " : "", st->skipped[i].name, (unsigned long long)st->skipped[i].n);
    fprintf(err, "%s)\n", st->nskip_total > 0 && st->nskipped == 8 ? ", ..." : "");
    st->nskip_total = 0;
}

int ki_segment_step(KiSrc *s)
{
    SState *st = s->priv;
    uint64_t before = s->nrows;
    for (;;) {
        const char *p;
        size_t len, adv;
        int r = ki_line_next(s, &p, &len, &adv);
        if (r < 0) return -1;
        if (r == 0) { report_skipped(s, st); return 0; }
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++) blank = p[i] == ' ' || p[i] == '\t' || p[i] == '\r';
        if (!blank) {
            if (len + 1u > st->lcap) {
                char *nb = realloc(st->line, len + 1u);
                if (!nb) return ki_error(s, s->line, 0, "out of memory");
                st->line = nb;
                st->lcap = len + 1u;
            }
            memcpy(st->line, p, len);
            st->line[len] = 0;
            if (call(s, st, p, s->line) != 0) return -1;
        }
        s->pos += adv;
        s->line++;
        if (s->nrows != before) return 1;
    }
}
