/* lsp.c -- `kairos lsp`: a Language Server Protocol server on standard
 * input/output (JSON-RPC 2.0 with Content-Length framing).
 *
 * Every answer comes from the front end itself (lang/lang.h): the document's
 * current text is parsed and checked on each change (a policy is small: a
 * check takes well under a millisecond per hundred lines), so diagnostics,
 * symbols, hover, definitions and completion always agree with `kairos
 * check` and formatting with `kairos fmt`.
 *
 * Capabilities: incremental text sync; publishDiagnostics (the checker's and
 * the lints', with codes, hints and notes as related information);
 * formatting; hover (keywords and built-ins with their meaning; lets with
 * their definition; events with their attributes; surveys, channels);
 * definition (lets, events, surveys, channels, rules in the document, and
 * the installed standard library for its names); completion (keywords,
 * built-ins, events, surveys, channels, lets, attributes after `.`);
 * document symbols (rules, lets, events, surveys, channels).
 *
 * A document is its bytes and their length: a "\u0000" sent by the client
 * is a NUL byte of the text, as in a file, not its end (json_parse).
 *
 * Positions are UTF-16 code units as LSP requires.  Bad input never stops
 * the server: a malformed message gets a JSON-RPC error (or is dropped when
 * it cannot be answered); a message over 64 MiB ends the session.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "lang/lang.h"
#include "cli.h"
#include "lang/util.h"
#include "lang/clauses.h"

#define LSP_MAX_MESSAGE (64u << 20)

/* ---- output buffer --------------------------------------------------------- */

typedef KuBuf Buf;                /* lang/util.h */

/* A JSON string (ku_json_str: bytes that are not UTF-8 become \ufffd, so
 * the output stays JSON). */
static void b_jstr(Buf *b, const char *s, size_t n) { ku_json_str(s, n, ku_put_buf, b); }

static void b_jcstr(Buf *b, const char *s) { b_jstr(b, s, strlen(s)); }

/* ---- documents ------------------------------------------------------------- */

typedef struct Doc { char *uri; char *text; size_t len; } Doc;

static Doc *docs;
static size_t ndocs;

static Doc *doc_find(const char *uri)
{
    for (size_t i = 0; i < ndocs; i++)
        if (strcmp(docs[i].uri, uri) == 0) return &docs[i];
    return NULL;
}

/* The open document a request names, or NULL. */
static Doc *doc_of(yajl_val params);

/* Byte offset of an LSP position (UTF-16 units), clamped to the text. */
static size_t pos_to_off(const char *t, size_t len, long line, long ch)
{
    size_t i = 0;
    for (long l = 0; l < line && i < len; i++)
        if (t[i] == '\n') l++;
    if (line > 0 && i >= len) return len;
    long u = 0;
    while (i < len && t[i] != '\n' && u < ch) {
        unsigned char c = (unsigned char)t[i];
        size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (i + k > len) k = len - i;
        u += k == 4 ? 2 : 1;
        i += k;
    }
    return i;
}

static void off_to_pos(const char *t, size_t len, size_t off, long *line, long *ch)
{
    if (off > len) off = len;
    long l = 0;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (t[i] == '\n') { l++; start = i + 1; }
    long u = 0;
    for (size_t i = start; i < off;) {
        unsigned char c = (unsigned char)t[i];
        size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        u += k == 4 ? 2 : 1;
        i += k;
    }
    *line = l;
    *ch = u;
}

static void b_range(Buf *b, const char *t, size_t len, size_t lo, size_t hi)
{
    long l0, c0, l1, c1;
    off_to_pos(t, len, lo, &l0, &c0);
    off_to_pos(t, len, hi, &l1, &c1);
    ku_buf_fmt(b, "{\"start\":{\"line\":%ld,\"character\":%ld},\"end\":{\"line\":%ld,\"character\":%ld}}",
             l0, c0, l1, c1);
}

/* The file path of a file:// URI (percent-decoded), for messages and the
 * policy's default name; other URIs are used as they are. */
static char *uri_path(const char *uri)
{
    const char *s = strncmp(uri, "file://", 7) == 0 ? uri + 7 : uri;
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hex[3] = { s[1], s[2], 0 };
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0') { *o++ = (char)v; s += 2; continue; }
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* ---- JSON access --------------------------------------------------------------- */

static yajl_val jget(yajl_val v, const char *a, const char *b, const char *c)
{
    const char *path[4] = { a, b, c, NULL };
    return v ? yajl_tree_get(v, path, yajl_t_any) : NULL;
}

/* yajl's tree keeps each string as a C string, and a "\u0000" in the JSON
 * is one NUL byte in it: a document's text would end at its first NUL,
 * so the server would not see the bytes `kairos check` sees.  When a
 * message holds "\u0000", json_parse runs yajl's event parser over it as
 * well (the same parser and options yajl_tree_parse uses, so the same
 * strings in the same order: each key, then its value) and notes the
 * byte length of every string, keys included; the strings that hold a
 * NUL are listed here (for the current message, sorted by address). */
typedef struct JLen { const char *s; size_t n; } JLen;
static JLen *jlens;
static size_t njlens, capjlens;

typedef struct JSeq { size_t *v, n, cap, next; bool oom; } JSeq;

static int jseq_add(void *ctx, const unsigned char *s, size_t n)
{
    (void)s;
    JSeq *q = ctx;
    if (KU_RESERVE(q->v, q->n, q->cap, 64) != 0) { q->oom = true; return 0; }
    q->v[q->n++] = n;
    return 1;
}

static int jlen_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const JLen *)a)->s, y = (uintptr_t)((const JLen *)b)->s;
    return x < y ? -1 : x > y;
}

static bool jlen_note(const char *s, size_t n)
{
    if (KU_RESERVE(jlens, njlens, capjlens, 16) != 0) return false;
    jlens[njlens++] = (JLen){ s, n };
    return true;
}

/* Walks v in document order beside q's lengths.  A string value holding
 * a NUL is noted in jlens; a key holding one is emptied, so that no
 * lookup (all by names without NUL) takes it for its first part. */
static bool jlen_walk(yajl_val v, JSeq *q)
{
    if (YAJL_IS_STRING(v)) {
        if (q->next >= q->n) return false;
        size_t n = q->v[q->next++];
        return n == strlen(v->u.string) || jlen_note(v->u.string, n);
    }
    if (YAJL_IS_OBJECT(v)) {
        for (size_t i = 0; i < v->u.object.len; i++) {
            if (q->next >= q->n) return false;
            if (q->v[q->next++] != strlen(v->u.object.keys[i])) ((char *)v->u.object.keys[i])[0] = '\0';
            if (!jlen_walk(v->u.object.values[i], q)) return false;
        }
    } else if (YAJL_IS_ARRAY(v)) {
        for (size_t i = 0; i < v->u.array.len; i++)
            if (!jlen_walk(v->u.array.values[i], q)) return false;
    }
    return true;
}

/* Parses a message body (len bytes, no NUL byte in them); NULL if it is
 * not JSON, nests deeper than KU_JSON_MAX_DEPTH (or on out of memory). */
static yajl_val json_parse(const char *msg, size_t len)
{
    njlens = 0;
    char err[256];
    /* (yajl's tree, and jlen_walk, recurse a frame a level) */
    if (ku_json_deeper(msg, len, KU_JSON_MAX_DEPTH)) return NULL;
    yajl_val v = yajl_tree_parse(msg, err, sizeof err);
    if (!v || !strstr(msg, "\\u0000")) return v;
    static const yajl_callbacks cb = { .yajl_string = jseq_add, .yajl_map_key = jseq_add };
    JSeq q = {0};
    yajl_handle h = yajl_alloc(&cb, NULL, &q);
    bool ok = h != NULL;
    if (ok) {
        yajl_config(h, yajl_allow_comments, 1);
        ok = yajl_parse(h, (const unsigned char *)msg, len) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok && !q.oom;
        yajl_free(h);
    }
    ok = ok && jlen_walk(v, &q) && q.next == q.n;
    free(q.v);
    if (!ok) { yajl_tree_free(v); njlens = 0; return NULL; }
    qsort(jlens, njlens, sizeof *jlens, jlen_cmp);
    return v;
}

/* A string's bytes and length (a NUL in it included), or NULL. */
static const char *jstrn(yajl_val v, size_t *n)
{
    if (!YAJL_IS_STRING(v)) return NULL;
    JLen key = { v->u.string, 0 };
    const JLen *l = njlens ? bsearch(&key, jlens, njlens, sizeof *jlens, jlen_cmp) : NULL;
    *n = l ? l->n : strlen(v->u.string);
    return v->u.string;
}

/* A string without a NUL in it (a URI, a method name), or NULL. */
static const char *jstr(yajl_val v)
{
    size_t n;
    const char *s = jstrn(v, &n);
    return s && strlen(s) == n ? s : NULL;
}
static long jint(yajl_val v, long dflt) { return YAJL_IS_INTEGER(v) ? (long)YAJL_GET_INTEGER(v) : dflt; }

static Doc *doc_of(yajl_val params)
{
    const char *uri = jstr(jget(params, "textDocument", "uri", NULL));
    return uri ? doc_find(uri) : NULL;
}

/* ---- sending ----------------------------------------------------------------------- */

static void send(Buf *body)
{
    if (body->oom) return;
    printf("Content-Length: %zu\r\n\r\n", body->n);
    fwrite(body->s, 1, body->n, stdout);
    fflush(stdout);
}

/* The JSON text of a request's id (number or string), to echo back. */
static void b_id(Buf *b, yajl_val id)
{
    if (YAJL_IS_NUMBER(id) && id->u.number.r) ku_buf_str(b, id->u.number.r);   /* as sent: 1.0, 1e400, 2^64 */
    else if (YAJL_IS_INTEGER(id)) ku_buf_fmt(b, "%lld", (long long)YAJL_GET_INTEGER(id));
    else if (YAJL_IS_STRING(id)) { size_t n; const char *s = jstrn(id, &n); b_jstr(b, s, n); }
    else ku_buf_str(b, "null");
}

static void reply(yajl_val id, const char *result_json)
{
    Buf b = {0};
    ku_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
    b_id(&b, id);
    ku_buf_str(&b, ",\"result\":");
    ku_buf_str(&b, result_json ? result_json : "null");
    ku_buf_str(&b, "}");
    send(&b);
    free(b.s);
}

static void reply_error(yajl_val id, int code, const char *msg)
{
    Buf b = {0};
    ku_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
    b_id(&b, id);
    ku_buf_fmt(&b, ",\"error\":{\"code\":%d,\"message\":", code);
    b_jcstr(&b, msg);
    ku_buf_str(&b, "}}");
    send(&b);
    free(b.s);
}

/* ---- analysis ------------------------------------------------------------------------ */

typedef struct Analysis {
    KDiags diags;
    KProgram *p;          /* NULL if the text could not be read at all */
    uint32_t src;         /* the document's source id in p */
    char *path;
} Analysis;

static bool analyse(const Doc *d, Analysis *a)
{
    memset(a, 0, sizeof *a);
    a->path = uri_path(d->uri);
    if (!a->path) return false;
    kd_init(&a->diags, NULL);
    KlOptions opt = {0};
    a->p = kc_load_text(a->path, d->text, d->len, &opt, &a->diags);
    a->src = a->p && a->p->nfiles ? a->p->files[0]->src : 0;
    return true;
}

static void analysis_free(Analysis *a)
{
    if (a->p) kc_free(a->p);
    kd_free(&a->diags);
    free(a->path);
}

static void publish_diagnostics(const Doc *d)
{
    Analysis a;
    if (!analyse(d, &a)) return;
    Buf b = {0};
    ku_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/publishDiagnostics\",\"params\":{\"uri\":");
    b_jcstr(&b, d->uri);
    ku_buf_str(&b, ",\"diagnostics\":[");
    bool first = true;
    for (uint32_t i = 0; i < a.diags.n; i++) {
        const KDiag *g = &a.diags.v[i];
        if (g->sev == KD_NOTE) continue;
        bool here = a.p && g->span.src == a.src;
        if (!first) ku_buf_str(&b, ",");
        first = false;
        ku_buf_str(&b, "{\"range\":");
        if (here) b_range(&b, d->text, d->len, g->span.lo, g->span.hi > g->span.lo ? g->span.hi : g->span.lo);
        else b_range(&b, d->text, d->len, 0, 0);
        bool err = g->sev == KD_ERROR || a.diags.werror;
        ku_buf_fmt(&b, ",\"severity\":%d,\"source\":\"kairos\"", err ? 1 : 2);
        if (g->code) { ku_buf_str(&b, ",\"code\":"); b_jcstr(&b, g->code); }
        Buf m = {0};
        if (!here && g->span.src != KD_NO_SOURCE && a.p && g->span.src < a.p->sources.n) {
            uint32_t line, col;
            kd_line_col(&a.p->sources.v[g->span.src], g->span.lo, &line, &col);
            ku_buf_fmt(&m, "%s:%u:%u: ", a.p->sources.v[g->span.src].name, line, col);
        }
        ku_buf_str(&m, g->msg ? g->msg : "");
        if (g->hint) { ku_buf_str(&m, "\nhint: "); ku_buf_str(&m, g->hint); }
        ku_buf_str(&b, ",\"message\":");
        b_jstr(&b, m.s ? m.s : "", m.n);
        free(m.s);
        /* notes of this diagnostic, in the document, as related information */
        bool rel = false;
        for (uint32_t j = 0; j < a.diags.n; j++) {
            const KDiag *nt = &a.diags.v[j];
            if (nt->sev != KD_NOTE || nt->group != i || !a.p || nt->span.src != a.src) continue;
            ku_buf_str(&b, rel ? "," : ",\"relatedInformation\":[");
            rel = true;
            ku_buf_str(&b, "{\"location\":{\"uri\":");
            b_jcstr(&b, d->uri);
            ku_buf_str(&b, ",\"range\":");
            b_range(&b, d->text, d->len, nt->span.lo, nt->span.hi);
            ku_buf_str(&b, "},\"message\":");
            b_jcstr(&b, nt->msg ? nt->msg : "");
            ku_buf_str(&b, "}");
        }
        if (rel) ku_buf_str(&b, "]");
        ku_buf_str(&b, "}");
    }
    ku_buf_str(&b, "]}}");
    send(&b);
    free(b.s);
    analysis_free(&a);
}

/* ---- words and names ------------------------------------------------------------------ */

static bool is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

/* The identifier around offset off: [*lo, *hi). */
static bool word_at(const char *t, size_t len, size_t off, size_t *lo, size_t *hi)
{
    size_t l = off, h = off;
    while (l > 0 && is_word(t[l - 1])) l--;
    while (h < len && is_word(t[h])) h++;
    if (l == h) return false;
    *lo = l;
    *hi = h;
    return true;
}

typedef struct Help { const char *word, *text; } Help;

/* Keywords and built-ins: what they mean (SPEC.md sections 1 and 4). */
static const Help help[] = {
    { "policy", "`policy \"NAME\"` -- the policy's name (default: the file's name); used in variant hashing." },
    { "import", "`import \"std/NAME\"` -- brings in a standard library module; `std/prelude` is always imported." },
    { "timezone", "`timezone \"Area/City\"` -- the IANA zone of customers whose profile has no `tz` trait (default UTC)." },
    { "event", "`event NAME [{ attr: type, ... }]` -- declares an event and closes its attribute list." },
    { "survey", "`survey NAME [{ ... }]` -- declares a survey (the prelude declares NPS, CSAT, CES)." },
    { "channel", "`channel NAME` -- declares a channel (the prelude declares email, sms, whatsapp, in_app, push, phone)." },
    { "let", "`let NAME = EXPR` -- a named condition or value, evaluated where it is used." },
    { "cap", "`cap N per DUR [on CHANNELS]` -- at most N asks per customer in any window of DUR (top level: all rules; in a rule: that rule). An ask counts at its first sent attempt." },
    { "quiet", "`quiet HH:MM-HH:MM [on CHANNELS]` -- no sends in that local-time window; a send due inside it moves to the window's end." },
    { "require", "`require consent on CHANNELS` -- sends on these channels need a granted consent." },
    { "consent", "`require consent on CHANNELS` -- sends on these channels need a `consent_granted` not followed by `consent_revoked`." },
    { "rule", "`rule NAME:` -- names the ask or task that follows; clauses go on indented lines." },
    { "ask", "`ask SURVEY CLAUSES` -- asks a customer for feedback; exactly one trigger (`after` or `every`)." },
    { "task", "`task NAME CLAUSES` -- an internal follow-up for staff: no caps, quiet hours or consent." },
    { "via", "`via CH [then CH after DUR]...` -- the channel and the reminder chain (default email)." },
    { "then", "`then CH after DUR` -- a reminder: the next attempt, DUR after the previous one." },
    { "after", "`after EVENT [+ DUR] [where EXPR]` -- the trigger: each matching event schedules the ask at event time + DUR." },
    { "where", "`where EXPR` -- checked at trigger time; an unknown value does not match. Inside `count(E where ...)`, bare names are attributes of each counted E." },
    { "every", "`every PERIOD [at HH:MM]` -- a periodic trigger: day, week, month, quarter, year, or a duration counted from the customer's first event." },
    { "if", "`if EXPR` -- checked at send time; the ask is sent only if it is true." },
    { "unless", "`unless EXPR` -- checked at send time; the ask is sent only if it is false." },
    { "at", "`at [DAYS] HH:MM-HH:MM` or `at best_time(EVENT)` -- the allowed send window in local time; a send outside it moves to the next window start." },
    { "priority", "`priority N` -- higher first (default 0); a lower-priority ask yields when a shared cap would leave no room for a pending higher one." },
    { "variant", "`variant NAME P% [{ [+ DUR] [via CH] }]` -- an experiment arm; the rest of 100% is a holdout." },
    { "on", "`on retrigger restart|keep` -- what a new trigger does while an ask is pending (default restart); `on CHANNELS` in cap, quiet and consent." },
    { "retrigger", "`on retrigger restart|keep` -- restart cancels the pending ask and schedules anew; keep ignores new triggers while one is pending." },
    { "within", "`E within DUR` -- `count(E within DUR) > 0`; in `count(...)`, the window (now - DUR, now]." },
    { "no", "`no E [within DUR]` -- `count(E [within DUR]) == 0`; on a boolean: `not`." },
    { "count", "`count(E [where EXPR] [within DUR])` -- the number of this customer's events E (in the window)." },
    { "since", "`since(E)` -- the duration since the customer's last E; unknown if never." },
    { "last", "`last(E).attr` -- an attribute of the customer's last E; unknown if never or absent." },
    { "sum", "`sum(E.attr [within DUR])` -- the sum over the window (0 over no values)." },
    { "avg", "`avg(E.attr [within DUR])` -- the mean over the window (unknown over no values)." },
    { "min", "`min(E.attr [within DUR])` -- the least value over the window (unknown over no values)." },
    { "max", "`max(E.attr [within DUR])` -- the greatest value over the window (unknown over no values)." },
    { "asked", "`asked(SURVEY [within DUR])` -- this customer was sent SURVEY (an ask's first sent attempt) by any rule." },
    { "responded", "`responded(SURVEY [within DUR])` -- a `response` event with that survey." },
    { "best_time", "`at best_time(E)` -- with at least 3 of the customer's E events, 30 minutes before the start of the local hour of the week that holds most of them." },
    { "trigger", "`trigger.attr` -- an attribute of the event that triggered this ask." },
    { "customer", "`customer.attr` -- a profile trait, set by `identify` events." },
    { "now", "`now` -- the send time." },
    { "hour", "`hour` -- the local hour of the send time, 0-23." },
    { "weekday", "`weekday` -- the local weekday of the send time, mon..sun." },
    { "and", "Kleene `and`: false if either side is false, unknown if either is unknown, else true." },
    { "or", "Kleene `or`: true if either side is true, unknown if either is unknown, else false." },
    { "not", "Kleene `not`: unknown stays unknown." },
    { "in", "`X in [A, B, ...]` -- X equals one of the items." },
    { "true", "`true` -- a boolean; with `false` and unknown, the three values of Kleene logic." },
    { "false", "`false` -- a boolean; with `true` and unknown, the three values of Kleene logic." },
    { "per", "`cap N per DUR` -- the cap's window." },
};

/* Completion words: every reserved word (lang/clauses.h), then the
 * built-in names that are not reserved. */
static const char *const keywords[] = {
#define LSP_KEYWORD_(tok, word, fmt) word,
    KAIROS_KEYWORDS(LSP_KEYWORD_)
#undef LSP_KEYWORD_
    "restart", "keep", "count", "since", "last", "sum", "avg", "min", "max", "asked",
    "responded", "trigger", "customer", "now", "hour", "weekday",
    "day", "week", "month", "quarter", "year", "number", "string", "bool", "time",
};

static const char *help_for(const char *w)
{
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
        if (strcmp(help[i].word, w) == 0) return help[i].text;
    return NULL;
}

/* A declaration of the program named w (let, event, survey, channel, rule). */
static const KDecl *decl_named(const KProgram *p, const char *w)
{
    for (uint32_t f = 0; f < p->nfiles; f++)
        for (const KDecl *d = p->files[f]->decls; d; d = d->next) {
            const char *n = NULL;
            switch (d->kind) {
            case KDECL_LET: n = d->let.name.s; break;
            case KDECL_EVENT: n = d->event.name.s; break;
            case KDECL_SURVEY: n = d->survey.name.s; break;
            case KDECL_CHANNEL: n = d->channel.name.s; break;
            case KDECL_RULE: n = d->rule.name.s; break;
            default: break;
            }
            if (n && strcmp(n, w) == 0) return d;
        }
    return NULL;
}

static KSpan decl_name_span(const KDecl *d)
{
    switch (d->kind) {
    case KDECL_LET: return d->let.name.span;
    case KDECL_EVENT: return d->event.name.span;
    case KDECL_SURVEY: return d->survey.name.span;
    case KDECL_CHANNEL: return d->channel.name.span;
    case KDECL_RULE: return d->rule.name.span;
    default: return d->span;
    }
}

/* ---- requests ---------------------------------------------------------------------------- */

/* The open document and the identifier at the position a request names
 * (malloc'd; *lo, *hi its bytes), or NULL. */
static char *word_request(yajl_val params, Doc **dp, size_t *lo, size_t *hi)
{
    Doc *d = *dp = doc_of(params);
    if (!d) return NULL;
    size_t off = pos_to_off(d->text, d->len, jint(jget(params, "position", "line", NULL), 0),
                            jint(jget(params, "position", "character", NULL), 0));
    if (!word_at(d->text, d->len, off, lo, hi)) return NULL;
    return strndup(d->text + *lo, *hi - *lo);
}

static void on_hover(yajl_val id, yajl_val params)
{
    size_t lo, hi;
    Doc *d;
    char *w = word_request(params, &d, &lo, &hi);
    if (!w) { reply(id, NULL); return; }
    Analysis a;
    Buf md = {0};
    if (w && analyse(d, &a)) {
        const KDecl *dc = a.p ? decl_named(a.p, w) : NULL;
        if (dc) {
            const KSource *s = &a.p->sources.v[dc->span.src];
            ku_buf_str(&md, "```kairos\n");
            ku_buf_add(&md, s->text + dc->span.lo, dc->span.hi - dc->span.lo);
            ku_buf_str(&md, "\n```");
            if (s->builtin) { ku_buf_str(&md, "\nfrom `"); ku_buf_str(&md, s->name); ku_buf_str(&md, "`"); }
        } else if (a.p) {
            for (uint32_t e = 0; e < a.p->nevents; e++) {
                const KEventInfo *ev = &a.p->events[e];
                if (strcmp(ev->name, w) != 0) continue;
                ku_buf_fmt(&md, "event `%s`%s", w, ev->reserved ? " (reserved)" : ev->declared ? "" :
                         " (undeclared: its attributes are untyped)");
                for (uint32_t k = 0; k < ev->nattrs; k++)
                    ku_buf_fmt(&md, "%s`%s: %s`", k ? ", " : "\n\n", a.p->attrs[ev->attrs[k]],
                             ka_type_name(ev->attr_types[k]));
                break;
            }
        }
        if (md.n == 0) {
            const char *h = help_for(w);
            if (h) ku_buf_str(&md, h);
        }
        analysis_free(&a);
    }
    if (md.n == 0) { reply(id, NULL); free(md.s); free(w); return; }
    Buf r = {0};
    ku_buf_str(&r, "{\"contents\":{\"kind\":\"markdown\",\"value\":");
    b_jstr(&r, md.s, md.n);
    ku_buf_str(&r, "},\"range\":");
    b_range(&r, d->text, d->len, lo, hi);
    ku_buf_str(&r, "}");
    reply(id, r.oom ? NULL : r.s);
    free(r.s);
    free(md.s);
    free(w);
}

/* The installed standard library file of a builtin source ("std/prelude" ->
 * DIR/prelude.kai, "std/NAME" -> DIR/std/NAME.kai), if it exists. */
static char *stdlib_file(const char *name)
{
    char path[1024];
#ifdef KAIROS_STDLIB_DIR
    const char *dir = getenv("KAIROS_STDLIB") ? getenv("KAIROS_STDLIB") : KAIROS_STDLIB_DIR;
#else
    const char *dir = getenv("KAIROS_STDLIB") ? getenv("KAIROS_STDLIB") : "/usr/local/share/kairos";
#endif
    if (strcmp(name, "std/prelude") == 0) snprintf(path, sizeof path, "%s/prelude.kai", dir);
    else snprintf(path, sizeof path, "%s/%s.kai", dir, name);
    if (access(path, R_OK) != 0) return NULL;
    return strdup(path);
}

static void on_definition(yajl_val id, yajl_val params)
{
    size_t lo, hi;
    Doc *d;
    char *w = word_request(params, &d, &lo, &hi);
    if (!w) { reply(id, NULL); return; }
    Analysis a;
    Buf r = {0};
    if (w && analyse(d, &a)) {
        const KDecl *dc = a.p ? decl_named(a.p, w) : NULL;
        if (dc) {
            KSpan sp = decl_name_span(dc);
            const KSource *s = &a.p->sources.v[sp.src];
            if (sp.src == a.src) {
                ku_buf_str(&r, "{\"uri\":");
                b_jcstr(&r, d->uri);
                ku_buf_str(&r, ",\"range\":");
                b_range(&r, d->text, d->len, sp.lo, sp.hi);
                ku_buf_str(&r, "}");
            } else if (s->builtin) {
                char *file = stdlib_file(s->name);
                if (file) {
                    ku_buf_str(&r, "{\"uri\":");
                    Buf u = {0};
                    ku_buf_str(&u, "file://");
                    ku_buf_str(&u, file);
                    b_jstr(&r, u.s, u.n);
                    free(u.s);
                    ku_buf_str(&r, ",\"range\":");
                    b_range(&r, s->text, s->len, sp.lo, sp.hi);
                    ku_buf_str(&r, "}");
                    free(file);
                }
            }
        }
        analysis_free(&a);
    }
    reply(id, r.n && !r.oom ? r.s : NULL);
    free(r.s);
    free(w);
}

static void add_item(Buf *b, bool *first, const char *label, int kind, const char *detail)
{
    ku_buf_str(b, *first ? "{\"label\":" : ",{\"label\":");
    *first = false;
    b_jcstr(b, label);
    ku_buf_fmt(b, ",\"kind\":%d", kind);
    if (detail) { ku_buf_str(b, ",\"detail\":"); b_jcstr(b, detail); }
    ku_buf_str(b, "}");
}

static void on_completion(yajl_val id, yajl_val params)
{
    Doc *d = doc_of(params);
    if (!d) { reply(id, "[]"); return; }
    size_t off = pos_to_off(d->text, d->len, jint(jget(params, "position", "line", NULL), 0),
                            jint(jget(params, "position", "character", NULL), 0));
    size_t lo = off;
    while (lo > 0 && is_word(d->text[lo - 1])) lo--;
    bool after_dot = lo > 0 && d->text[lo - 1] == '.';
    Analysis a;
    Buf r = {0};
    bool first = true;
    ku_buf_str(&r, "{\"isIncomplete\":false,\"items\":[");
    if (analyse(d, &a)) {
        const KProgram *p = a.p;
        if (after_dot) {
            for (uint32_t i = 0; p && i < p->nattrs; i++) add_item(&r, &first, p->attrs[i], 5, "attribute");
        } else {
            for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
                add_item(&r, &first, keywords[i], 14, help_for(keywords[i]) ? "keyword" : NULL);
            for (uint32_t i = 0; p && i < p->nevents; i++) add_item(&r, &first, p->events[i].name, 23, "event");
            for (uint32_t i = 0; p && i < p->nsurveys; i++) add_item(&r, &first, p->surveys[i]->survey.name.s, 22, "survey");
            for (uint32_t i = 0; p && i < p->nchannels; i++) add_item(&r, &first, p->channels[i]->channel.name.s, 20, "channel");
            for (uint32_t i = 0; p && i < p->nlets; i++) add_item(&r, &first, p->lets[i]->let.name.s, 6, "let");
        }
        analysis_free(&a);
    }
    ku_buf_str(&r, "]}");
    reply(id, r.oom ? "[]" : r.s);
    free(r.s);
}

static void symbol(Buf *b, bool *first, const Doc *d, const char *name, int kind, KSpan whole, KSpan sel)
{
    if (!name) return;
    ku_buf_str(b, *first ? "{\"name\":" : ",{\"name\":");
    *first = false;
    b_jcstr(b, name);
    ku_buf_fmt(b, ",\"kind\":%d,\"range\":", kind);
    b_range(b, d->text, d->len, whole.lo, whole.hi);
    ku_buf_str(b, ",\"selectionRange\":");
    b_range(b, d->text, d->len, sel.lo, sel.hi);
    ku_buf_str(b, "}");
}

static void on_symbols(yajl_val id, yajl_val params)
{
    Doc *d = doc_of(params);
    if (!d) { reply(id, "[]"); return; }
    Analysis a;
    Buf r = {0};
    bool first = true;
    ku_buf_str(&r, "[");
    if (analyse(d, &a) && a.p && a.p->nfiles) {
        for (const KDecl *dc = a.p->files[0]->decls; dc; dc = dc->next) {
            switch (dc->kind) {
            case KDECL_RULE: {
                const KRule *ru = &dc->rule;
                const char *n = ru->name.s ? ru->name.s : ru->default_name;
                symbol(&r, &first, d, n, 12, dc->span, ru->name.s ? ru->name.span : ru->kw_span);
                break;
            }
            case KDECL_LET: symbol(&r, &first, d, dc->let.name.s, 13, dc->span, dc->let.name.span); break;
            case KDECL_EVENT: symbol(&r, &first, d, dc->event.name.s, 24, dc->span, dc->event.name.span); break;
            case KDECL_SURVEY: symbol(&r, &first, d, dc->survey.name.s, 23, dc->span, dc->survey.name.span); break;
            case KDECL_CHANNEL: symbol(&r, &first, d, dc->channel.name.s, 22, dc->span, dc->channel.name.span); break;
            default: break;
            }
        }
    }
    if (a.path) analysis_free(&a);
    ku_buf_str(&r, "]");
    reply(id, r.oom ? "[]" : r.s);
    free(r.s);
}

static void on_formatting(yajl_val id, yajl_val params)
{
    Doc *d = doc_of(params);
    if (!d) { reply(id, NULL); return; }
    KSources srcs;
    kd_sources_init(&srcs);
    uint32_t s = kd_source_add(&srcs, "policy", d->text, d->len, false);
    KDiags diags;
    kd_init(&diags, &srcs);
    size_t len = 0;
    char *out = kf_format(&srcs, s, &diags, &len);
    if (!out) {
        /* a syntax error: formatting changes nothing (the diagnostics say why) */
        reply(id, "[]");
    } else if (len == d->len && memcmp(out, d->text, len) == 0) {
        reply(id, "[]");
    } else {
        Buf r = {0};
        ku_buf_str(&r, "[{\"range\":");
        b_range(&r, d->text, d->len, 0, d->len);
        ku_buf_str(&r, ",\"newText\":");
        b_jstr(&r, out, len);
        ku_buf_str(&r, "}]");
        reply(id, r.oom ? NULL : r.s);
        free(r.s);
    }
    free(out);
    kd_free(&diags);
    kd_sources_free(&srcs);
}

/* ---- notifications ----------------------------------------------------------------------- */

static void on_did_open(yajl_val params)
{
    const char *uri = jstr(jget(params, "textDocument", "uri", NULL));
    size_t tl;
    const char *text = jstrn(jget(params, "textDocument", "text", NULL), &tl);
    if (!uri || !text) return;
    Doc *d = doc_find(uri);
    if (!d) {
        Doc *nd = realloc(docs, (ndocs + 1) * sizeof *docs);
        if (!nd) return;
        docs = nd;
        d = &docs[ndocs];
        d->uri = strdup(uri);
        d->text = NULL;
        if (!d->uri) return;
        ndocs++;
    }
    free(d->text);
    d->text = malloc(tl + 1);
    d->len = d->text ? tl : 0;
    if (!d->text) d->text = strdup("");
    else { memcpy(d->text, text, tl); d->text[tl] = '\0'; }
    publish_diagnostics(d);
}

static void on_did_change(yajl_val params)
{
    Doc *d = doc_of(params);
    yajl_val changes = jget(params, "contentChanges", NULL, NULL);
    if (!d || !YAJL_IS_ARRAY(changes)) return;
    for (size_t i = 0; i < changes->u.array.len; i++) {
        yajl_val c = changes->u.array.values[i];
        size_t tl;
        const char *text = jstrn(jget(c, "text", NULL, NULL), &tl);
        if (!text) continue;
        yajl_val range = jget(c, "range", NULL, NULL);
        if (!range) {
            char *nt = malloc(tl + 1);
            if (!nt) continue;
            memcpy(nt, text, tl);
            nt[tl] = '\0';
            free(d->text);
            d->text = nt;
            d->len = tl;
            continue;
        }
        size_t lo = pos_to_off(d->text, d->len, jint(jget(range, "start", "line", NULL), 0),
                               jint(jget(range, "start", "character", NULL), 0));
        size_t hi = pos_to_off(d->text, d->len, jint(jget(range, "end", "line", NULL), 0),
                               jint(jget(range, "end", "character", NULL), 0));
        if (hi < lo) { size_t t = lo; lo = hi; hi = t; }
        char *nt = malloc(d->len - (hi - lo) + tl + 1);
        if (!nt) continue;
        memcpy(nt, d->text, lo);
        memcpy(nt + lo, text, tl);
        memcpy(nt + lo + tl, d->text + hi, d->len - hi);
        d->len = d->len - (hi - lo) + tl;
        nt[d->len] = '\0';
        free(d->text);
        d->text = nt;
    }
    publish_diagnostics(d);
}

static void on_did_close(yajl_val params)
{
    const char *uri = jstr(jget(params, "textDocument", "uri", NULL));
    Doc *d = uri ? doc_find(uri) : NULL;
    if (!d) return;
    Buf b = {0};
    ku_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/publishDiagnostics\",\"params\":{\"uri\":");
    b_jcstr(&b, uri);
    ku_buf_str(&b, ",\"diagnostics\":[]}}");
    send(&b);
    free(b.s);
    free(d->uri);
    free(d->text);
    *d = docs[--ndocs];
}

/* ---- the loop ------------------------------------------------------------------------------- */

#define LSP_MAX_HEADER_LINES 64

/* Reads one message body (malloc'd, NUL-terminated); NULL at the end of
 * input or on a framing error that ends the session. */
static char *read_message(size_t *len)
{
    char line[1024];
    long n = -1;
    for (int k = 0;; k++) {
        /* headers are a line or two: an endless one (/dev/zero, `yes`) is no framing */
        if (k == LSP_MAX_HEADER_LINES) {
            fprintf(stderr, "kairos lsp: a message header longer than %d lines of %zu bytes (not LSP framing)\n",
                    LSP_MAX_HEADER_LINES, sizeof line - 1);
            return NULL;
        }
        if (!fgets(line, sizeof line, stdin)) {
            /* the end of the input between messages is the client's going */
            if (k > 0) fprintf(stderr, "kairos lsp: the input ended inside a message header\n");
            return NULL;
        }
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0) break;
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            /* digits, blanks around them, nothing else: "abc" or "2x" is no length */
            char *p = line + 15, *end;
            while (*p == ' ' || *p == '\t') p++;
            errno = 0;
            long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -2;
            if (v >= 0) {
                while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
                if (errno || *end) v = -2;
            }
            /* a second, different length: which one frames the message? */
            if (n != -1 && v != n) {
                fprintf(stderr, "kairos lsp: two different Content-Length headers in one message\n");
                return NULL;
            }
            n = v;
        }
    }
    if (n < 0 || (unsigned long)n > LSP_MAX_MESSAGE) {
        fprintf(stderr, "kairos lsp: bad or missing Content-Length (limit %u bytes)\n", LSP_MAX_MESSAGE);
        return NULL;
    }
    char *b = malloc((size_t)n + 1);
    if (!b) return NULL;
    size_t got = fread(b, 1, (size_t)n, stdin);
    if (got != (size_t)n) {
        fprintf(stderr, "kairos lsp: the input ended after %zu of the %ld bytes of a message\n", got, n);
        free(b);
        return NULL;
    }
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

int cli_lsp(void)
{
    bool shutdown = false;
    size_t len;
    char *msg;
    while ((msg = read_message(&len))) {
        yajl_val v = strlen(msg) == len ? json_parse(msg, len) : NULL;
        free(msg);
        if (!v || !YAJL_IS_OBJECT(v)) {
            reply_error(NULL, -32700, "parse error: not a JSON object");
            yajl_tree_free(v);
            continue;
        }
        yajl_val mv = jget(v, "method", NULL, NULL);
        const char *method = jstr(mv);
        if (!method && YAJL_IS_STRING(mv)) method = "";   /* a name with a NUL: not supported */
        yajl_val id = jget(v, "id", NULL, NULL);
        yajl_val params = jget(v, "params", NULL, NULL);
        if (id && !YAJL_IS_NUMBER(id) && !YAJL_IS_STRING(id) && !YAJL_IS_NULL(id)) {
            reply_error(NULL, -32600, "invalid request: an id is a number or a string");
        } else if (!method) {
            if (id) reply_error(id, -32600, "invalid request: no method");
        } else if (strcmp(method, "initialize") == 0) {
            reply(id, "{\"capabilities\":{"
                      "\"textDocumentSync\":{\"openClose\":true,\"change\":2},"
                      "\"documentFormattingProvider\":true,"
                      "\"hoverProvider\":true,"
                      "\"definitionProvider\":true,"
                      "\"documentSymbolProvider\":true,"
                      "\"completionProvider\":{\"triggerCharacters\":[\".\"]}},"
                      "\"serverInfo\":{\"name\":\"kairos\",\"version\":\"" KAIROS_VERSION "\"}}");
        } else if (strcmp(method, "shutdown") == 0) {
            shutdown = true;
            reply(id, NULL);
        } else if (strcmp(method, "exit") == 0) {
            yajl_tree_free(v);
            break;
        } else if (strcmp(method, "textDocument/didOpen") == 0) {
            on_did_open(params);
        } else if (strcmp(method, "textDocument/didChange") == 0) {
            on_did_change(params);
        } else if (strcmp(method, "textDocument/didClose") == 0) {
            on_did_close(params);
        } else if (strcmp(method, "textDocument/hover") == 0) {
            on_hover(id, params);
        } else if (strcmp(method, "textDocument/definition") == 0) {
            on_definition(id, params);
        } else if (strcmp(method, "textDocument/completion") == 0) {
            on_completion(id, params);
        } else if (strcmp(method, "textDocument/documentSymbol") == 0) {
            on_symbols(id, params);
        } else if (strcmp(method, "textDocument/formatting") == 0) {
            on_formatting(id, params);
        } else if (id) {
            reply_error(id, -32601, "method not supported by kairos lsp");
        }
        yajl_tree_free(v);
    }
    for (size_t i = 0; i < ndocs; i++) { free(docs[i].uri); free(docs[i].text); }
    free(docs);
    docs = NULL;
    ndocs = 0;
    free(jlens);
    jlens = NULL;
    njlens = capjlens = 0;
    return shutdown ? 0 : 1;
}
