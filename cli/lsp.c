/* lsp.c -- `kairos lsp`: a Language Server Protocol server on standard
 * input and output (SPEC.md 6.3).
 *
 * Messages are JSON-RPC 2.0 with Content-Length headers; requests are
 * parsed with yajl's tree API.  The server keeps the text of every open
 * document (full or incremental sync), checks it after each change with
 * the same front end as `kairos check` (kc_load_text: diagnostics and
 * lints) and publishes the diagnostics; it answers formatting (the
 * formatter, as `kairos fmt`), document symbols (rules, lets, events,
 * surveys, channels) and go to definition.  Positions are LSP's: lines
 * from 0, characters in UTF-16 code units.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "lang/lang.h"
#include "cli.h"
#include "testfile.h"

#ifndef KAIROS_STDLIB_DIR
#define KAIROS_STDLIB_DIR "/usr/local/share/kairos"
#endif

typedef struct Doc {
    char *uri;
    char *text;
    size_t len;
} Doc;

typedef struct Server {
    Doc *docs;
    size_t ndocs, cap;
    bool shutdown;
} Server;

/* ---- JSON output ------------------------------------------------------------- */

static void jstr(KqBuf *b, const char *s, size_t n)
{
    kq_buf_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') kq_buf_fmt(b, "\\%c", c);
        else if (c == '\n') kq_buf_str(b, "\\n");
        else if (c == '\r') kq_buf_str(b, "\\r");
        else if (c == '\t') kq_buf_str(b, "\\t");
        else if (c < 0x20) kq_buf_fmt(b, "\\u%04x", c);
        else kq_buf_add(b, &s[i], 1);
    }
    kq_buf_str(b, "\"");
}

static void jcstr(KqBuf *b, const char *s) { jstr(b, s, strlen(s)); }

/* Sends one message (the body in b, which is reset). */
static void send_msg(KqBuf *b)
{
    if (b->oom) { free(b->s); memset(b, 0, sizeof *b); return; }
    printf("Content-Length: %zu\r\n\r\n", b->n);
    fwrite(b->s, 1, b->n, stdout);
    fflush(stdout);
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* The id of a request, as JSON text (number or string), into b. */
static void put_id(KqBuf *b, yajl_val id)
{
    if (id && YAJL_IS_NUMBER(id)) kq_buf_str(b, YAJL_GET_NUMBER(id));
    else if (id && YAJL_IS_STRING(id)) jcstr(b, YAJL_GET_STRING(id));
    else kq_buf_str(b, "null");
}

static void reply_error(yajl_val id, int code, const char *msg)
{
    KqBuf b = {0};
    kq_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":");
    put_id(&b, id);
    kq_buf_fmt(&b, ",\"error\":{\"code\":%d,\"message\":", code);
    jcstr(&b, msg);
    kq_buf_str(&b, "}}");
    send_msg(&b);
}

/* Starts a result: {"jsonrpc":"2.0","id":ID,"result": */
static void begin_result(KqBuf *b, yajl_val id)
{
    kq_buf_str(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    put_id(b, id);
    kq_buf_str(b, ",\"result\":");
}

/* ---- positions ------------------------------------------------------------------ */

/* Byte offset -> LSP position (line, UTF-16 units). */
static void to_pos(const char *t, size_t len, size_t off, unsigned *line, unsigned *ch)
{
    if (off > len) off = len;
    size_t ls = 0;
    unsigned l = 0;
    for (size_t i = 0; i < off; i++)
        if (t[i] == '\n') { l++; ls = i + 1; }
    unsigned c = 0;
    for (size_t i = ls; i < off; i++) {
        unsigned char u = (unsigned char)t[i];
        if ((u & 0xC0) == 0x80) continue;
        c += u >= 0xF0 ? 2 : 1;
    }
    *line = l;
    *ch = c;
}

/* LSP position -> byte offset (clamped to the line's end and the text). */
static size_t from_pos(const char *t, size_t len, long line, long ch)
{
    size_t i = 0;
    for (long l = 0; l < line && i < len; i++)
        if (t[i] == '\n') l++;
    if (line > 0 && i == len) return len;
    long c = 0;
    while (i < len && t[i] != '\n' && c < ch) {
        unsigned char u = (unsigned char)t[i];
        c += u >= 0xF0 ? 2 : 1;
        i++;
        while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

static void put_range(KqBuf *b, const char *t, size_t len, size_t lo, size_t hi)
{
    unsigned l1, c1, l2, c2;
    to_pos(t, len, lo, &l1, &c1);
    to_pos(t, len, hi, &l2, &c2);
    kq_buf_fmt(b, "{\"start\":{\"line\":%u,\"character\":%u},\"end\":{\"line\":%u,\"character\":%u}}",
               l1, c1, l2, c2);
}

/* ---- documents ------------------------------------------------------------------- */

static Doc *find_doc(Server *s, const char *uri)
{
    for (size_t i = 0; i < s->ndocs; i++)
        if (strcmp(s->docs[i].uri, uri) == 0) return &s->docs[i];
    return NULL;
}

static Doc *open_doc(Server *s, const char *uri, const char *text)
{
    Doc *d = find_doc(s, uri);
    if (!d) {
        if (s->ndocs == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 8;
            Doc *nv = realloc(s->docs, nc * sizeof *nv);
            if (!nv) return NULL;
            s->docs = nv;
            s->cap = nc;
        }
        d = &s->docs[s->ndocs];
        if (!(d->uri = strdup(uri))) return NULL;
        d->text = NULL;
        s->ndocs++;
    }
    char *t = strdup(text);
    if (!t) return NULL;
    free(d->text);
    d->text = t;
    d->len = strlen(t);
    return d;
}

static void close_doc(Server *s, const char *uri)
{
    Doc *d = find_doc(s, uri);
    if (!d) return;
    free(d->uri);
    free(d->text);
    *d = s->docs[--s->ndocs];
}

/* The file name shown in messages: the URI's path, percent-decoded. */
static char *uri_name(const char *uri)
{
    const char *p = strncmp(uri, "file://", 7) == 0 ? uri + 7 : uri;
    char *out = malloc(strlen(p) + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (; *p; p++) {
        int hi, lo;
        if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%1x%1x", &hi, &lo) == 2) {
            out[k++] = (char)(hi * 16 + lo);
            p += 2;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return out;
}

/* A location in a builtin stdlib source: its installed file. */
static void put_stdlib_uri(KqBuf *b, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "file://%s/%s.kai", KAIROS_STDLIB_DIR,
             strcmp(name, "std/prelude") == 0 ? "prelude" : name);
    jcstr(b, path);
}

/* ---- diagnostics ------------------------------------------------------------------ */

static void publish(Doc *d)
{
    char *name = uri_name(d->uri);
    KDiags diags;
    kd_init(&diags, NULL);
    KlOptions opt = {0};
    KProgram *p = kc_load_text(name ? name : d->uri, d->text, d->len, &opt, &diags);
    KqBuf b = {0};
    kq_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/publishDiagnostics\",\"params\":{\"uri\":");
    jcstr(&b, d->uri);
    kq_buf_str(&b, ",\"diagnostics\":[");
    uint32_t n;
    uint32_t *idx = kd_sorted(&diags, &n);
    bool first = true;
    for (uint32_t k = 0; k < n; k++) {
        const KDiag *g = &diags.v[idx[k]];
        if (g->group != idx[k]) continue;                /* a note */
        if (g->span.src != 0 && g->span.src != KD_NO_SOURCE) continue;   /* in the stdlib */
        kq_buf_str(&b, first ? "{\"range\":" : ",{\"range\":");
        first = false;
        if (g->span.src == 0) put_range(&b, d->text, d->len, g->span.lo, g->span.hi);
        else put_range(&b, d->text, d->len, 0, 0);
        KSeverity sev = kd_effective(&diags, g);
        kq_buf_fmt(&b, ",\"severity\":%d,\"source\":\"kairos\",\"code\":", sev == KD_ERROR ? 1 : sev == KD_WARNING ? 2 : 3);
        jcstr(&b, g->code ? g->code : "kairos");
        kq_buf_str(&b, ",\"message\":");
        if (g->hint) {
            KqBuf m = {0};
            kq_buf_fmt(&m, "%s\nhint: %s", g->msg, g->hint);
            char *t = kq_buf_take(&m);
            jcstr(&b, t ? t : g->msg);
            free(t);
        } else {
            jcstr(&b, g->msg);
        }
        bool rel = false;
        for (uint32_t j = k + 1; j < n && diags.v[idx[j]].group == idx[k]; j++) {
            const KDiag *note = &diags.v[idx[j]];
            if (note->span.src == KD_NO_SOURCE || !diags.sources || note->span.src >= diags.sources->n)
                continue;
            const KSource *src = &diags.sources->v[note->span.src];
            kq_buf_str(&b, rel ? ",{\"location\":{\"uri\":" : ",\"relatedInformation\":[{\"location\":{\"uri\":");
            rel = true;
            if (note->span.src == 0) jcstr(&b, d->uri);
            else put_stdlib_uri(&b, src->name);
            kq_buf_str(&b, ",\"range\":");
            put_range(&b, src->text, src->len, note->span.lo, note->span.hi);
            kq_buf_str(&b, "},\"message\":");
            jcstr(&b, note->msg);
            kq_buf_str(&b, "}");
        }
        if (rel) kq_buf_str(&b, "]");
        kq_buf_str(&b, "}");
    }
    kq_buf_str(&b, "]}}");
    send_msg(&b);
    free(idx);
    kd_free(&diags);
    if (p) kc_free(p);
    free(name);
}

/* ---- requests ------------------------------------------------------------------------- */

static yajl_val get(yajl_val v, const char *a, const char *b)
{
    const char *path[3] = { a, b, NULL };
    return v ? yajl_tree_get(v, path, yajl_t_any) : NULL;
}

static const char *get_str(yajl_val v, const char *a, const char *b)
{
    yajl_val x = get(v, a, b);
    return x && YAJL_IS_STRING(x) ? YAJL_GET_STRING(x) : NULL;
}

static bool get_long(yajl_val v, const char *a, const char *b, long *out)
{
    yajl_val x = get(v, a, b);
    if (!x || !YAJL_IS_INTEGER(x)) return false;
    *out = (long)YAJL_GET_INTEGER(x);
    return true;
}

static void on_initialize(yajl_val id)
{
    KqBuf b = {0};
    begin_result(&b, id);
    kq_buf_str(&b, "{\"capabilities\":{\"textDocumentSync\":{\"openClose\":true,\"change\":2},"
               "\"documentFormattingProvider\":true,\"documentSymbolProvider\":true,"
               "\"definitionProvider\":true,\"hoverProvider\":true,"
               "\"completionProvider\":{\"triggerCharacters\":[\".\"]}},"
               "\"serverInfo\":{\"name\":\"kairos\",\"version\":\"" KAIROS_VERSION "\"}}}");
    send_msg(&b);
}

/* Applies one contentChanges entry: with a range, an incremental edit;
 * without, the whole text.  False if malformed. */
static bool apply_change(Doc *d, yajl_val ch)
{
    const char *text = get_str(ch, "text", NULL);
    if (!text) return false;
    yajl_val range = get(ch, "range", NULL);
    if (!range) {
        char *t = strdup(text);
        if (!t) return false;
        free(d->text);
        d->text = t;
        d->len = strlen(t);
        return true;
    }
    long l1, c1, l2, c2;
    if (!get_long(range, "start", "line", &l1) || !get_long(range, "start", "character", &c1) ||
        !get_long(range, "end", "line", &l2) || !get_long(range, "end", "character", &c2) ||
        l1 < 0 || c1 < 0 || l2 < 0 || c2 < 0)
        return false;
    size_t lo = from_pos(d->text, d->len, l1, c1), hi = from_pos(d->text, d->len, l2, c2);
    if (hi < lo) { size_t x = lo; lo = hi; hi = x; }
    size_t tl = strlen(text), nlen = d->len - (hi - lo) + tl;
    char *t = malloc(nlen + 1);
    if (!t) return false;
    memcpy(t, d->text, lo);
    memcpy(t + lo, text, tl);
    memcpy(t + lo + tl, d->text + hi, d->len - hi);
    t[nlen] = '\0';
    free(d->text);
    d->text = t;
    d->len = nlen;
    return true;
}

static void on_formatting(Server *s, yajl_val id, yajl_val params)
{
    const char *uri = get_str(params, "textDocument", "uri");
    Doc *d = uri ? find_doc(s, uri) : NULL;
    if (!d) { reply_error(id, -32602, "unknown document"); return; }
    KSources srcs;
    kd_sources_init(&srcs);
    KDiags diags;
    kd_init(&diags, &srcs);
    size_t olen = 0;
    uint32_t src = kd_source_add(&srcs, "policy", d->text, d->len, false);
    char *out = src == UINT32_MAX ? NULL : kf_format(&srcs, src, &diags, &olen);
    KqBuf b = {0};
    begin_result(&b, id);
    if (!out) {
        kq_buf_str(&b, "null");                  /* syntax errors: nothing to do */
    } else if (olen == d->len && memcmp(out, d->text, olen) == 0) {
        kq_buf_str(&b, "[]");
    } else {
        kq_buf_str(&b, "[{\"range\":");
        put_range(&b, d->text, d->len, 0, d->len);
        kq_buf_str(&b, ",\"newText\":");
        jstr(&b, out, olen);
        kq_buf_str(&b, "}]");
    }
    kq_buf_str(&b, "}");
    send_msg(&b);
    free(out);
    kd_free(&diags);
    kd_sources_free(&srcs);
}

/* The name declared by d, its span and an LSP SymbolKind; false if none. */
static bool decl_name(const KDecl *d, const char **name, KSpan *span, int *kind)
{
    switch (d->kind) {
    case KD_RULE:
        *name = d->rule.name.s ? d->rule.name.s : d->rule.default_name;
        *span = d->rule.name.s ? d->rule.name.span : d->rule.kw_span;
        *kind = 12;                                /* Function */
        return *name != NULL;
    case KD_LET:     *name = d->let.name.s;     *span = d->let.name.span;     *kind = 14; return *name != NULL;
    case KD_EVENT:   *name = d->event.name.s;   *span = d->event.name.span;   *kind = 24; return *name != NULL;
    case KD_SURVEY:  *name = d->survey.name.s;  *span = d->survey.name.span;  *kind = 23; return *name != NULL;
    case KD_CHANNEL: *name = d->channel.name.s; *span = d->channel.name.span; *kind = 22; return *name != NULL;
    default: return false;
    }
}

static KProgram *load_doc(const Doc *d, KDiags *diags)
{
    char *name = uri_name(d->uri);
    kd_init(diags, NULL);
    KlOptions opt = {0};
    KProgram *p = kc_load_text(name ? name : d->uri, d->text, d->len, &opt, diags);
    free(name);
    return p;
}

static void on_symbols(Server *s, yajl_val id, yajl_val params)
{
    const char *uri = get_str(params, "textDocument", "uri");
    Doc *d = uri ? find_doc(s, uri) : NULL;
    if (!d) { reply_error(id, -32602, "unknown document"); return; }
    KDiags diags;
    KProgram *p = load_doc(d, &diags);
    KqBuf b = {0};
    begin_result(&b, id);
    kq_buf_str(&b, "[");
    bool first = true;
    for (const KDecl *x = p && p->nfiles ? p->files[0]->decls : NULL; x; x = x->next) {
        const char *name;
        KSpan sp;
        int kind;
        if (!decl_name(x, &name, &sp, &kind) || x->span.src != 0) continue;
        kq_buf_str(&b, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        jcstr(&b, name);
        kq_buf_fmt(&b, ",\"kind\":%d,\"range\":", kind);
        put_range(&b, d->text, d->len, x->span.lo, x->span.hi);
        kq_buf_str(&b, ",\"selectionRange\":");
        put_range(&b, d->text, d->len, sp.lo, sp.hi);
        kq_buf_str(&b, "}");
    }
    kq_buf_str(&b, "]}");
    send_msg(&b);
    kd_free(&diags);
    if (p) kc_free(p);
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static void on_definition(Server *s, yajl_val id, yajl_val params)
{
    const char *uri = get_str(params, "textDocument", "uri");
    Doc *d = uri ? find_doc(s, uri) : NULL;
    long line, ch;
    if (!d || !get_long(params, "position", "line", &line) || !get_long(params, "position", "character", &ch)) {
        reply_error(id, -32602, "unknown document or position");
        return;
    }
    size_t at = from_pos(d->text, d->len, line, ch), lo = at, hi = at;
    while (lo > 0 && is_word(d->text[lo - 1])) lo--;
    while (hi < d->len && is_word(d->text[hi])) hi++;
    KDiags diags;
    KProgram *p = load_doc(d, &diags);
    KqBuf b = {0};
    begin_result(&b, id);
    bool found = false;
    /* inside `import "std/NAME"`: the module's installed file */
    for (const KDecl *x = p && p->nfiles ? p->files[0]->decls : NULL; x && !found; x = x->next)
        if (x->kind == KD_IMPORT && x->span.src == 0 && x->import.str && at >= x->import.str_span.lo &&
            at < x->import.str_span.hi && kl_stdlib_text(x->import.str, &(size_t){0})) {
            kq_buf_str(&b, "{\"uri\":");
            put_stdlib_uri(&b, x->import.str);
            kq_buf_str(&b, ",\"range\":{\"start\":{\"line\":0,\"character\":0},\"end\":{\"line\":0,\"character\":0}}}");
            found = true;
        }
    for (uint32_t f = 0; p && hi > lo && f < p->nfiles && !found; f++)
        for (const KDecl *x = p->files[f]->decls; x && !found; x = x->next) {
            const char *name;
            KSpan sp;
            int kind;
            if (!decl_name(x, &name, &sp, &kind) || strlen(name) != hi - lo ||
                memcmp(name, d->text + lo, hi - lo) != 0 || sp.src >= p->sources.n)
                continue;
            const KSource *src = &p->sources.v[sp.src];
            kq_buf_str(&b, "{\"uri\":");
            if (sp.src == 0) jcstr(&b, d->uri);
            else put_stdlib_uri(&b, src->name);
            kq_buf_str(&b, ",\"range\":");
            put_range(&b, src->text, src->len, sp.lo, sp.hi);
            kq_buf_str(&b, "}");
            found = true;
        }
    if (!found) kq_buf_str(&b, "null");
    kq_buf_str(&b, "}");
    send_msg(&b);
    kd_free(&diags);
    if (p) kc_free(p);
}

/* ---- hover and completion ------------------------------------------------------------ */

/* Keywords and built-ins with a one-line description (SPEC.md 1.1-1.5, 4.12). */
static const struct { const char *word, *kind, *doc; } words[] = {
    { "policy", "keyword", "`policy \"NAME\"`: the policy's name (default: the file's base name)." },
    { "import", "keyword", "`import \"std/NAME\"`: a standard-library module (SPEC.md 8)." },
    { "timezone", "keyword", "`timezone \"Area/City\"`: the zone of send windows and quiet hours (default UTC)." },
    { "event", "keyword", "`event NAME { attr: type, ... }`: declares an event and its attributes." },
    { "survey", "keyword", "`survey NAME { scale: LO-HI }`: declares a survey." },
    { "channel", "keyword", "`channel NAME`: declares a channel (email, sms, ... come from the prelude)." },
    { "let", "keyword", "`let NAME = EXPR`: a named condition or value, written out where used." },
    { "cap", "keyword", "`cap N per DURATION [on CHANNELS]`: at most N asks per window." },
    { "per", "keyword", "`cap N per DURATION`: the cap's window." },
    { "on", "keyword", "`on CHANNELS`: the channels a cap or quiet hours apply to; `on retrigger`." },
    { "quiet", "keyword", "`quiet HH:MM-HH:MM [on CHANNELS]`: no sends in this local time window." },
    { "require", "keyword", "`require consent on CHANNELS`: send only after a consent_granted event." },
    { "consent", "keyword", "`require consent on CHANNELS`." },
    { "rule", "keyword", "`rule NAME:` names the ask or task that follows." },
    { "ask", "keyword", "`ask SURVEY [via CH ...] after EVENT ...`: sends a survey." },
    { "task", "keyword", "`task NAME via CH after EVENT ...`: a follow-up task, not a contact." },
    { "via", "keyword", "`via CHANNEL [then CHANNEL after DURATION]...`: the channel and reminder chain." },
    { "then", "keyword", "`then CHANNEL after DURATION`: a reminder." },
    { "after", "keyword", "`after EVENT [+ DURATION] [where COND]`: the trigger; `then CH after D`: a delay." },
    { "where", "keyword", "`where COND`: filters the triggering event (its attributes)." },
    { "every", "keyword", "`every PERIOD [at HH:MM]`: a periodic trigger." },
    { "at", "keyword", "`at [DAYS] HH:MM-HH:MM` or `at best_time(EVENT)`: the send window." },
    { "if", "keyword", "`if COND`: checked when the ask is due; not sent unless true." },
    { "unless", "keyword", "`unless COND`: checked when the ask is due; not sent if true." },
    { "priority", "keyword", "`priority N`: a lower-priority pending ask yields to a higher one." },
    { "variant", "keyword", "`variant NAME PCT% [{ + D via CH }]`: an experiment arm; the rest is the holdout." },
    { "retrigger", "keyword", "`on retrigger restart|keep`: what a new trigger does to a pending ask." },
    { "and", "operator", "logical and (Kleene logic: unknown and false is false)." },
    { "or", "operator", "logical or (Kleene logic)." },
    { "not", "operator", "logical negation." },
    { "no", "operator", "`no EVENT [within D]`: no such event (in the window)." },
    { "in", "operator", "`X in [A, B, ...]`: membership." },
    { "within", "operator", "`EVENT within DURATION`: such an event in the last DURATION." },
    { "true", "constant", "the bool true." },
    { "false", "constant", "the bool false." },
    { "best_time", "keyword", "`at best_time(EVENT)`: the hour of day the customer most often does EVENT." },
    { "now", "built-in", "the current replay time." },
    { "hour", "built-in", "the local hour of the day (0-23) at the check." },
    { "weekday", "built-in", "the local weekday at the check." },
    { "trigger", "built-in", "`trigger.ATTR`: an attribute of the event that triggered the rule." },
    { "customer", "built-in", "`customer.ATTR`: a trait of the customer (from identify events)." },
    { "count", "function", "`count(EVENT [where COND] [within D])`: how many such events." },
    { "since", "function", "`since(EVENT)`: the time since the latest such event (unknown if none)." },
    { "last", "function", "`last(EVENT).ATTR`: an attribute of the latest such event." },
    { "sum", "function", "`sum(EVENT.ATTR [within D])`: the sum of a number attribute." },
    { "avg", "function", "`avg(EVENT.ATTR [within D])`: the average of a number attribute." },
    { "min", "function", "`min(EVENT.ATTR [within D])`: the smallest value." },
    { "max", "function", "`max(EVENT.ATTR [within D])`: the largest value." },
    { "asked", "function", "`asked(SURVEY [within D])`: whether the survey was sent." },
    { "responded", "function", "`responded(SURVEY [within D])`: whether the customer answered it." },
};
#define NWORDS (sizeof words / sizeof words[0])

/* The document with the line holding `at` blanked (a half-typed line does
 * not stop the rest from loading).  Caller frees. */
static char *blank_line(const Doc *d, size_t at)
{
    char *t = malloc(d->len + 1);
    if (!t) return NULL;
    memcpy(t, d->text, d->len + 1);
    size_t a = at, b = at;
    while (a > 0 && t[a - 1] != '\n') a--;
    while (b < d->len && t[b] != '\n') b++;
    memset(t + a, ' ', b - a);
    return t;
}

static KProgram *load_text(const Doc *d, const char *text, KDiags *diags)
{
    char *name = uri_name(d->uri);
    kd_init(diags, NULL);
    KlOptions opt = {0};
    KProgram *p = kc_load_text(name ? name : d->uri, text, d->len, &opt, diags);
    free(name);
    return p;
}

static const KDecl *find_decl(const KProgram *p, const char *w, size_t n)
{
    for (uint32_t f = 0; p && f < p->nfiles; f++)
        for (const KDecl *x = p->files[f]->decls; x; x = x->next) {
            const char *name;
            KSpan sp;
            int kind;
            if (decl_name(x, &name, &sp, &kind) && strlen(name) == n && memcmp(name, w, n) == 0)
                return x;
        }
    return NULL;
}

static void on_hover(Server *s, yajl_val id, yajl_val params)
{
    const char *uri = get_str(params, "textDocument", "uri");
    Doc *d = uri ? find_doc(s, uri) : NULL;
    long line, ch;
    if (!d || !get_long(params, "position", "line", &line) || !get_long(params, "position", "character", &ch)) {
        reply_error(id, -32602, "unknown document or position");
        return;
    }
    size_t at = from_pos(d->text, d->len, line, ch), lo = at, hi = at;
    while (lo > 0 && is_word(d->text[lo - 1])) lo--;
    while (hi < d->len && is_word(d->text[hi])) hi++;
    KqBuf md = {0};
    for (size_t i = 0; i < NWORDS && hi > lo; i++)
        if (strlen(words[i].word) == hi - lo && memcmp(words[i].word, d->text + lo, hi - lo) == 0) {
            kq_buf_fmt(&md, "**%s** (%s): %s", words[i].word, words[i].kind, words[i].doc);
            break;
        }
    KDiags diags;
    kd_init(&diags, NULL);
    KProgram *p = NULL;
    if (md.n == 0 && hi > lo) {
        p = load_text(d, d->text, &diags);
        const KDecl *x = find_decl(p, d->text + lo, hi - lo);
        if (x && x->span.src < p->sources.n) {
            const KSource *src = &p->sources.v[x->span.src];
            size_t n = x->span.hi - x->span.lo;
            if (n > 600) n = 600;
            kq_buf_str(&md, "```kairos\n");
            kq_buf_add(&md, src->text + x->span.lo, n);
            kq_buf_fmt(&md, "%s\n```\n", n < x->span.hi - x->span.lo ? " ..." : "");
            if (x->span.src != 0) kq_buf_fmt(&md, "declared in %s", src->name);
        }
    }
    KqBuf b = {0};
    begin_result(&b, id);
    if (md.n == 0) {
        kq_buf_str(&b, "null");
    } else {
        kq_buf_str(&b, "{\"contents\":{\"kind\":\"markdown\",\"value\":");
        jstr(&b, md.s, md.n);
        kq_buf_str(&b, "},\"range\":");
        put_range(&b, d->text, d->len, lo, hi);
        kq_buf_str(&b, "}");
    }
    kq_buf_str(&b, "}");
    send_msg(&b);
    free(md.s);
    kd_free(&diags);
    if (p) kc_free(p);
}

static void item(KqBuf *b, bool *first, const char *label, int kind, const char *detail)
{
    kq_buf_str(b, *first ? "{\"label\":" : ",{\"label\":");
    *first = false;
    jcstr(b, label);
    kq_buf_fmt(b, ",\"kind\":%d", kind);
    if (detail) { kq_buf_str(b, ",\"detail\":"); jcstr(b, detail); }
    kq_buf_str(b, "}");
}

/* The trigger event of the rule around `at`: the last `after NAME` on the
 * lines from the rule's first line (one that starts at column 0) to `at`. */
static bool trigger_event(const Doc *d, size_t at, char *out, size_t cap)
{
    size_t end = at;
    for (;;) {
        size_t ls = end;
        while (ls > 0 && d->text[ls - 1] != '\n') ls--;
        /* the last `after NAME` in [ls, end) */
        for (size_t i = end; i-- > ls;) {
            if (i + 5 >= end || memcmp(d->text + i, "after", 5) != 0 || (i > ls && is_word(d->text[i - 1])) ||
                (d->text[i + 5] != ' ' && d->text[i + 5] != '\t'))
                continue;
            size_t a = i + 5;
            while (a < end && (d->text[a] == ' ' || d->text[a] == '\t')) a++;
            size_t b = a;
            while (b < end && is_word(d->text[b])) b++;
            if (b > a && b - a < cap) {
                memcpy(out, d->text + a, b - a);
                out[b - a] = '\0';
                return true;
            }
        }
        if (ls == 0 || is_word(d->text[ls])) return false;   /* the rule's first line */
        end = ls - 1;
    }
}

static void on_completion(Server *s, yajl_val id, yajl_val params)
{
    const char *uri = get_str(params, "textDocument", "uri");
    Doc *d = uri ? find_doc(s, uri) : NULL;
    long line, ch;
    if (!d || !get_long(params, "position", "line", &line) || !get_long(params, "position", "character", &ch)) {
        reply_error(id, -32602, "unknown document or position");
        return;
    }
    size_t at = from_pos(d->text, d->len, line, ch), lo = at;
    while (lo > 0 && is_word(d->text[lo - 1])) lo--;
    bool after_trigger = lo >= 8 && d->text[lo - 1] == '.' && memcmp(d->text + lo - 8, "trigger", 7) == 0 &&
                         (lo == 8 || !is_word(d->text[lo - 9]));
    char *t = blank_line(d, at);
    KDiags diags;
    KProgram *p = t ? load_text(d, t, &diags) : (kd_init(&diags, NULL), NULL);
    free(t);
    KqBuf b = {0};
    begin_result(&b, id);
    kq_buf_str(&b, "{\"isIncomplete\":false,\"items\":[");
    bool first = true;
    if (after_trigger) {
        char ev[256];
        if (p && trigger_event(d, lo, ev, sizeof ev))
            for (uint32_t e = 0; e < p->nevents; e++) {
                if (strcmp(p->events[e].name, ev) != 0) continue;
                for (uint32_t a = 0; a < p->events[e].nattrs; a++)
                    item(&b, &first, p->attrs[p->events[e].attrs[a]], 5,
                         ka_type_name(p->events[e].attr_types[a]));
            }
    } else {
        for (size_t i = 0; i < NWORDS; i++)
            item(&b, &first, words[i].word, !strcmp(words[i].kind, "function") ? 3 :
                 !strcmp(words[i].kind, "built-in") ? 6 : 14, words[i].kind);
        for (uint32_t e = 0; p && e < p->nevents; e++)
            if (p->events[e].declared) item(&b, &first, p->events[e].name, 23, "event");
        for (uint32_t i = 0; p && i < p->nsurveys; i++) item(&b, &first, p->surveys[i]->survey.name.s, 7, "survey");
        for (uint32_t i = 0; p && i < p->nchannels; i++) item(&b, &first, p->channels[i]->channel.name.s, 20, "channel");
        for (uint32_t i = 0; p && i < p->nlets; i++) item(&b, &first, p->lets[i]->let.name.s, 21, "let");
    }
    kq_buf_str(&b, "]}}");
    send_msg(&b);
    kd_free(&diags);
    if (p) kc_free(p);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* Reads one message body (malloc'd, NUL-terminated); NULL at end of input
 * or on a malformed header. */
static char *read_msg(void)
{
    char line[1024];
    long n = -1;
    for (;;) {
        if (!fgets(line, sizeof line, stdin)) return NULL;
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0) break;
        if (strncasecmp(line, "Content-Length:", 15) == 0) n = strtol(line + 15, NULL, 10);
    }
    if (n < 0 || n > (64L << 20)) return NULL;
    char *body = malloc((size_t)n + 1);
    if (!body) return NULL;
    if (fread(body, 1, (size_t)n, stdin) != (size_t)n) { free(body); return NULL; }
    body[n] = '\0';
    return body;
}

static void handle(Server *s, const char *body)
{
    char err[256];
    yajl_val msg = yajl_tree_parse(body, err, sizeof err);
    if (!msg || !YAJL_IS_OBJECT(msg)) {
        reply_error(NULL, -32700, "parse error");
        yajl_tree_free(msg);
        return;
    }
    const char *method = get_str(msg, "method", NULL);
    yajl_val id = get(msg, "id", NULL);
    yajl_val params = get(msg, "params", NULL);
    if (!method) {
        /* a response to us (we send no requests): ignored */
    } else if (strcmp(method, "initialize") == 0) {
        on_initialize(id);
    } else if (strcmp(method, "shutdown") == 0) {
        s->shutdown = true;
        KqBuf b = {0};
        begin_result(&b, id);
        kq_buf_str(&b, "null}");
        send_msg(&b);
    } else if (strcmp(method, "textDocument/didOpen") == 0) {
        const char *uri = get_str(params, "textDocument", "uri");
        const char *text = get_str(params, "textDocument", "text");
        Doc *d = uri && text ? open_doc(s, uri, text) : NULL;
        if (d) publish(d);
    } else if (strcmp(method, "textDocument/didChange") == 0) {
        const char *uri = get_str(params, "textDocument", "uri");
        Doc *d = uri ? find_doc(s, uri) : NULL;
        yajl_val changes = get(params, "contentChanges", NULL);
        if (d && changes && YAJL_IS_ARRAY(changes)) {
            for (size_t i = 0; i < YAJL_GET_ARRAY(changes)->len; i++)
                apply_change(d, YAJL_GET_ARRAY(changes)->values[i]);
            publish(d);
        }
    } else if (strcmp(method, "textDocument/didClose") == 0) {
        const char *uri = get_str(params, "textDocument", "uri");
        if (uri) {
            KqBuf b = {0};
            kq_buf_str(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/publishDiagnostics\","
                       "\"params\":{\"uri\":");
            jcstr(&b, uri);
            kq_buf_str(&b, ",\"diagnostics\":[]}}");
            send_msg(&b);
            close_doc(s, uri);
        }
    } else if (strcmp(method, "textDocument/formatting") == 0) {
        on_formatting(s, id, params);
    } else if (strcmp(method, "textDocument/documentSymbol") == 0) {
        on_symbols(s, id, params);
    } else if (strcmp(method, "textDocument/definition") == 0) {
        on_definition(s, id, params);
    } else if (strcmp(method, "textDocument/hover") == 0) {
        on_hover(s, id, params);
    } else if (strcmp(method, "textDocument/completion") == 0) {
        on_completion(s, id, params);
    } else if (id) {
        reply_error(id, -32601, "method not supported");
    }
    /* other notifications (initialized, $/..., exit handled by the loop) */
    yajl_tree_free(msg);
}

int cli_lsp(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--stdio") != 0)
        return cli_usage_error("lsp", "unknown option %s", argv[1]);
    Server s = {0};
    int status = 1;                     /* end of input without shutdown */
    char *body;
    while ((body = read_msg())) {
        bool exit_now = strstr(body, "\"exit\"") != NULL;
        if (exit_now) {
            char err[64];
            yajl_val msg = yajl_tree_parse(body, err, sizeof err);
            const char *m = get_str(msg, "method", NULL);
            exit_now = m && strcmp(m, "exit") == 0;
            yajl_tree_free(msg);
        }
        if (exit_now) {
            free(body);
            status = s.shutdown ? 0 : 1;
            break;
        }
        handle(&s, body);
        free(body);
    }
    for (size_t i = 0; i < s.ndocs; i++) {
        free(s.docs[i].uri);
        free(s.docs[i].text);
    }
    free(s.docs);
    return status;
}
