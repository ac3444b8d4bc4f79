/* sarif.c -- diagnostics as one SARIF 2.1.0 log (see sarif.h, SPEC.md 2.1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "sarif.h"

#ifndef KAIROS_DOC_DIR
#define KAIROS_DOC_DIR "/usr/local/share/doc/kairos"
#endif
#ifndef KAIROS_STDLIB_DIR
#define KAIROS_STDLIB_DIR "/usr/local/share/kairos"
#endif

struct KSarif {
    char *root;             /* normalised absolute directory, no trailing slash ("" for /) */
    char *version;
    FILE *res;              /* the results rendered so far */
    char *rbuf;
    size_t rlen;
    uint32_t nresults;
    bool uses_root, uses_stdlib;
    unsigned long dropped;  /* diagnostics not kept beyond KD_MAX_DIAGS */
};

/* ---- strings and URIs -------------------------------------------------------- */

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* A path as a URI path: RFC 3986 unreserved characters and `/` kept, every
 * other byte (UTF-8 included) percent-encoded. */
static void put_uri_path(FILE *out, const char *p)
{
    for (const unsigned char *c = (const unsigned char *)p; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~' || *c == '/')
            fputc(*c, out);
        else
            fprintf(out, "%%%02X", *c);
    }
}

/* The absolute form of path (relative ones against base), with `.`, `..`
 * and repeated slashes removed lexically.  Caller frees. */
static char *normalise(const char *base, const char *path)
{
    size_t lb = base ? strlen(base) : 0, lp = strlen(path);
    char *in = malloc(lb + lp + 3);
    char *out = malloc(lb + lp + 3);
    if (!in || !out) { free(in); free(out); return NULL; }
    if (path[0] == '/' || !base) snprintf(in, lb + lp + 3, "/%s", path);
    else snprintf(in, lb + lp + 3, "%s/%s", base, path);
    size_t k = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/') p++;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t n = (size_t)(e - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (k > 0 && out[k - 1] != '/') k--;
            if (k > 0) k--;
        } else {
            out[k++] = '/';
            memcpy(out + k, p, n);
            k += n;
        }
        p = e;
    }
    out[k] = '\0';
    free(in);
    return out;
}

/* "uri" (and "uriBaseId") of an artifact location for a source or file name. */
static void put_artifact(KSarif *s, FILE *out, const char *name, bool builtin)
{
    fputs("\"artifactLocation\": { \"uri\": \"", out);
    if (builtin) {
        /* std/prelude is installed as prelude.kai, std/NAME as std/NAME.kai */
        const char *rel = strcmp(name, "std/prelude") == 0 ? "prelude" : name;
        put_uri_path(out, rel);
        fputs(".kai\", \"uriBaseId\": \"KAIROS_STDLIB\" }", out);
        s->uses_stdlib = true;
        return;
    }
    char *abs = normalise(s->root, name);
    size_t lr = s->root ? strlen(s->root) : 0;
    if (abs && s->root && strncmp(abs, s->root, lr) == 0 && abs[lr] == '/' && abs[lr + 1]) {
        put_uri_path(out, abs + lr + 1);
        fputs("\", \"uriBaseId\": \"SRCROOT\" }", out);
        s->uses_root = true;
    } else {
        fputs("file://", out);
        put_uri_path(out, abs ? abs : name);
        fputs("\" }", out);
    }
    free(abs);
}

static void put_file_uri_dir(FILE *out, const char *dir)
{
    fputs("\"file://", out);
    put_uri_path(out, dir);
    if (!*dir || dir[strlen(dir) - 1] != '/') fputc('/', out);
    fputc('"', out);
}

static const char *level_name(KSeverity sev)
{
    return sev == KD_ERROR ? "error" : sev == KD_WARNING ? "warning" : "note";
}

/* ---- results ------------------------------------------------------------------- */

static const KSource *source_of(const KDiags *d, const KDiag *g)
{
    if (!d->sources || g->span.src == KD_NO_SOURCE || g->span.src >= d->sources->n) return NULL;
    return &d->sources->v[g->span.src];
}

/* Region of a span: 1-based lines and columns (code points), end exclusive;
 * an empty span covers the character at its start. */
static void put_region(FILE *out, const KSource *src, uint32_t lo, uint32_t hi, bool exact)
{
    uint32_t l1, c1, l2, c2;
    kd_line_col(src, lo, &l1, &c1);
    if (hi > lo) kd_line_col(src, hi, &l2, &c2);
    else { l2 = l1; c2 = exact ? c1 : c1 + 1; }
    fprintf(out, "\"region\": { \"startLine\": %u, \"startColumn\": %u, \"endLine\": %u, \"endColumn\": %u }",
            l1, c1, l2, c2);
}

static void put_location(KSarif *s, FILE *out, const KDiags *d, const KDiag *g)
{
    const KSource *src = source_of(d, g);
    fputs("\"physicalLocation\": { ", out);
    if (src) {
        put_artifact(s, out, src->name, src->builtin);
        fputs(", ", out);
        put_region(out, src, g->span.lo, g->span.hi, false);
    } else {
        /* a file without source text: an empty region at its start */
        put_artifact(s, out, g->file ? g->file : "<unknown>", false);
        fputs(", \"region\": { \"startLine\": 1, \"startColumn\": 1, \"endLine\": 1, \"endColumn\": 1 }", out);
    }
    fputs(" }", out);
}

/* A hint "did you mean `NAME`?" on a diagnostic whose span is one word is a
 * mechanical fix: replace the span by NAME.  Returns NAME (malloc'd) or NULL. */
static char *fix_of(const KSource *src, const KDiag *g)
{
    static const char pre[] = "did you mean `", post[] = "`?";
    if (!src || !g->hint || strncmp(g->hint, pre, sizeof pre - 1) != 0) return NULL;
    const char *name = g->hint + sizeof pre - 1;
    const char *end = strstr(name, post);
    if (!end || end[sizeof post - 1] != '\0' || end == name) return NULL;
    for (const char *c = name; c < end; c++)
        if (*c == '`' || *c == ' ') return NULL;
    if (g->span.hi <= g->span.lo || g->span.hi > src->len) return NULL;
    for (uint32_t i = g->span.lo; i < g->span.hi; i++) {
        char c = src->text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '/' || c == '-' || c == '.' || (unsigned char)c >= 0x80))
            return NULL;
    }
    return strndup(name, (size_t)(end - name));
}

static void put_result(KSarif *s, FILE *out, const KDiags *d, const uint32_t *idx, uint32_t k, uint32_t n)
{
    const KDiag *g = &d->v[idx[k]];
    int ri = kd_code_index(g->code);
    fputs(s->nresults++ ? ",\n" : "\n", out);
    fputs("        { \"ruleId\": ", out);
    json_str(out, g->code ? g->code : "kairos");
    if (ri >= 0) fprintf(out, ", \"ruleIndex\": %d", ri);
    fprintf(out, ", \"level\": \"%s\",\n          \"message\": { \"text\": ", level_name(kd_effective(d, g)));
    if (g->hint) {
        size_t len = strlen(g->msg) + strlen(g->hint) + 16;
        char *t = malloc(len);
        if (t) snprintf(t, len, "%s (hint: %s)", g->msg, g->hint);
        json_str(out, t ? t : g->msg);
        free(t);
    } else {
        json_str(out, g->msg);
    }
    fputs(" },\n          \"locations\": [ { ", out);
    put_location(s, out, d, g);
    fputs(" } ]", out);
    /* the notes that follow it */
    uint32_t nn = 0;
    for (uint32_t j = k + 1; j < n && d->v[idx[j]].group == idx[k] && idx[j] != idx[k]; j++) {
        const KDiag *note = &d->v[idx[j]];
        fputs(nn ? ",\n            " : ",\n          \"relatedLocations\": [\n            ", out);
        fprintf(out, "{ \"id\": %u, ", ++nn);
        put_location(s, out, d, note);
        fputs(", \"message\": { \"text\": ", out);
        json_str(out, note->msg);
        fputs(" } }", out);
    }
    if (nn) fputs(" ]", out);
    const KSource *src = source_of(d, g);
    char *fix = fix_of(src, g);
    if (fix) {
        fputs(",\n          \"fixes\": [ { \"description\": { \"text\": ", out);
        size_t len = strlen(fix) + 24;
        char *t = malloc(len);
        if (t) snprintf(t, len, "Replace with `%s`.", fix);
        json_str(out, t ? t : fix);
        free(t);
        fputs(" }, \"artifactChanges\": [ { ", out);
        put_artifact(s, out, src->name, src->builtin);
        fputs(", \"replacements\": [ { \"deletedRegion\": { ", out);
        /* region without the "region" key: reuse put_region's text */
        uint32_t l1, c1, l2, c2;
        kd_line_col(src, g->span.lo, &l1, &c1);
        kd_line_col(src, g->span.hi, &l2, &c2);
        fprintf(out, "\"startLine\": %u, \"startColumn\": %u, \"endLine\": %u, \"endColumn\": %u }, "
                "\"insertedContent\": { \"text\": ", l1, c1, l2, c2);
        json_str(out, fix);
        fputs(" } } ] } ] } ]", out);
        free(fix);
    }
    fputs(" }", out);
}

/* ---- the log --------------------------------------------------------------------- */

KSarif *kd_sarif_new(const char *root, const char *version)
{
    KSarif *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->version = strdup(version ? version : "0");
    s->root = root ? normalise(NULL, root) : NULL;
    s->res = open_memstream(&s->rbuf, &s->rlen);
    if (!s->version || (root && !s->root) || !s->res) {
        kd_sarif_free(s);
        return NULL;
    }
    return s;
}

void kd_sarif_free(KSarif *s)
{
    if (!s) return;
    if (s->res) fclose(s->res);
    free(s->rbuf);
    free(s->root);
    free(s->version);
    free(s);
}

bool kd_sarif_add(KSarif *s, const KDiags *d)
{
    uint32_t n;
    uint32_t *idx = kd_sorted(d, &n);
    if (!idx && d->n) return false;
    for (uint32_t k = 0; k < n; k++) {
        const KDiag *g = &d->v[idx[k]];
        if (g->group != idx[k]) continue;      /* a note: written with its diagnostic */
        put_result(s, s->res, d, idx, k, n);
    }
    s->dropped += d->dropped;
    free(idx);
    return !ferror(s->res);
}

/* The documentation URI: KAIROS_DOC_URL when the build sets it, else the
 * installed SPEC.md as a file URI. */
static void put_doc_uri(FILE *out, const char *anchor)
{
#ifdef KAIROS_DOC_URL
    fputs("\"" KAIROS_DOC_URL, out);
#else
    fputs("\"file://", out);
    put_uri_path(out, KAIROS_DOC_DIR "/SPEC.md");
#endif
    if (anchor) fprintf(out, "#%s", anchor);
    fputc('"', out);
}

/* A rule's name: its summary in PascalCase ("unknown channel" -> UnknownChannel). */
static void put_rule_name(FILE *out, const char *summary)
{
    fputc('"', out);
    bool up = true;
    for (const char *c = summary; *c; c++) {
        bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        if (!alnum) { up = true; continue; }
        fputc(up && *c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, out);
        up = false;
    }
    fputc('"', out);
}

bool kd_sarif_write(KSarif *s, FILE *out)
{
    if (fflush(s->res) != 0) return false;
    fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
          "  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n"
          "      \"tool\": {\n        \"driver\": {\n          \"name\": \"kairos\",\n"
          "          \"version\": ", out);
    json_str(out, s->version);
    fputs(",\n          \"semanticVersion\": ", out);
    json_str(out, s->version);
    fputs(",\n          \"informationUri\": ", out);
    put_doc_uri(out, NULL);
    fputs(",\n          \"rules\": [", out);
    size_t nc;
    const KCodeInfo *codes = kd_codes(&nc);
    for (size_t i = 0; i < nc; i++) {
        fputs(i ? ",\n" : "\n", out);
        fprintf(out, "            { \"id\": \"%s\", \"name\": ", codes[i].code);
        put_rule_name(out, codes[i].summary);
        fputs(", \"shortDescription\": { \"text\": ", out);
        /* a sentence: capitalised, with a full stop */
        char buf[160];
        snprintf(buf, sizeof buf, "%s.", codes[i].summary);
        if (buf[0] >= 'a' && buf[0] <= 'z') buf[0] = (char)(buf[0] - 'a' + 'A');
        json_str(out, buf);
        fprintf(out, " }, \"defaultConfiguration\": { \"level\": \"%s\" }, \"helpUri\": ",
                level_name(codes[i].level));
        put_doc_uri(out, codes[i].anchor);
        fputs(" }", out);
    }
    fputs("\n          ]\n        }\n      },\n", out);
    if (s->uses_root || s->uses_stdlib) {
        fputs("      \"originalUriBaseIds\": {", out);
        if (s->uses_root) {
            fputs("\n        \"SRCROOT\": { \"uri\": ", out);
            put_file_uri_dir(out, s->root);
            fputs(", \"description\": { \"text\": \"The directory kairos was run in.\" } }", out);
        }
        if (s->uses_stdlib) {
            fputs(s->uses_root ? ",\n" : "\n", out);
            fputs("        \"KAIROS_STDLIB\": { \"uri\": ", out);
            put_file_uri_dir(out, KAIROS_STDLIB_DIR);
            fputs(", \"description\": { \"text\": \"The installed standard library "
                  "(kairos reads the copy built into it).\" } }", out);
        }
        fputs("\n      },\n", out);
    }
    fputs("      \"columnKind\": \"unicodeCodePoints\",\n", out);
    fputs("      \"invocations\": [ { \"executionSuccessful\": true", out);
    if (s->dropped)
        fprintf(out, ", \"toolExecutionNotifications\": [ { \"level\": \"note\", \"message\": "
                "{ \"text\": \"%lu more diagnostics not shown.\" } } ]", s->dropped);
    fputs(" } ],\n      \"results\": [", out);
    fwrite(s->rbuf, 1, s->rlen, out);
    fputs(s->nresults ? "\n      ]\n    }\n  ]\n}\n" : "]\n    }\n  ]\n}\n", out);
    return fflush(out) == 0 && !ferror(out);
}
