/* schema.c -- mapping a log's own schema onto Kairos's (SPEC.md 5.11):
 * `--map KAIROS=SOURCE,...` and `--schema FILE.yaml` (read with libyaml):
 * source names of the required fields, attributes renamed or dropped,
 * attribute types, the unit of numeric times, a format and zone for text
 * times, and the input kind (segment).  Also the hint for a header that
 * lacks a required column.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "../lang/util.h"
#include "input_impl.h"
#include "source.h"

static const char *const role_names[3] = { "time", "customer", "event" };

KrSchema *kr_schema_new(void)
{
    return calloc(1, sizeof(KrSchema));
}

void kr_schema_free(KrSchema *sc)
{
    if (!sc) return;
    for (int i = 0; i < 3; i++) { free(sc->role_from[i]); free(sc->role_origin[i]); }
    for (size_t i = 0; i < sc->nren; i++) { free(sc->ren[i].a); free(sc->ren[i].b); free(sc->ren[i].origin); }
    for (size_t i = 0; i < sc->ntypes; i++) { free(sc->types[i].a); free(sc->types[i].b); }
    for (size_t i = 0; i < sc->ndrop; i++) free(sc->drop[i]);
    free(sc->ren); free(sc->types); free(sc->drop);
    free(sc->tformat); free(sc->tzone);
    free(sc);
}

int kr_schema_input(const KrSchema *sc) { return !sc || !sc->input_said ? -1 : sc->segment; }

static int role_of(const char *name)
{
    for (int i = 0; i < 3; i++) if (strcmp(name, role_names[i]) == 0) return i;
    return -1;
}

/* push_pair -- appends (a, b), and for a renamed attribute where the
 * mapping was given ("--map" or the schema file), which the readers name in
 * "missing column ... (the plan, by --map)" (csv.c). */
static int push_pair(KsPair **v, size_t *n, const char *a, size_t alen, const char *b, size_t blen,
                     const char *origin)
{
    KsPair *nv = realloc(*v, (*n + 1u) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    nv[*n].a = strndup(a, alen);
    nv[*n].b = strndup(b, blen);
    nv[*n].origin = origin ? strdup(origin) : NULL;
    if (!nv[*n].a || !nv[*n].b || (origin && !nv[*n].origin)) {
        free(nv[*n].a); free(nv[*n].b); free(nv[*n].origin);
        return -1;
    }
    (*n)++;
    return 0;
}

/* source_use -- the Kairos name that source name v already feeds (by an
 * earlier mapping), or NULL: one source column or key holds one name. */
static const char *source_use(const KrSchema *sc, const char *v, size_t vlen)
{
    for (int r = 0; r < 3; r++)
        if (sc->role_from[r] && strlen(sc->role_from[r]) == vlen && memcmp(sc->role_from[r], v, vlen) == 0)
            return role_names[r];
    for (size_t i = 0; i < sc->nren; i++)
        if (strlen(sc->ren[i].a) == vlen && memcmp(sc->ren[i].a, v, vlen) == 0) return sc->ren[i].b;
    return NULL;
}

/* add_map -- Kairos name k comes from source name v. */
static int add_map(KrSchema *sc, const char *k, size_t klen, const char *v, size_t vlen,
                   const char *origin, char *msg, size_t cap)
{
    char kn[128];
    if (klen == 0 || vlen == 0 || klen >= sizeof kn) {
        snprintf(msg, cap, "expected KAIROS=SOURCE, like customer=user_id");
        return -1;
    }
    memcpy(kn, k, klen);
    kn[klen] = 0;
    int r = role_of(kn);
    const char *used = source_use(sc, v, vlen);
    if (used && strcmp(used, kn) != 0) {         /* (the same pair twice: "mapped twice" below) */
        snprintf(msg, cap, "%.*s is mapped twice: to %s and to %s", (int)vlen, v, used, kn);
        return -1;
    }
    if (r >= 0) {
        if (sc->role_from[r]) {
            snprintf(msg, cap, "%s is mapped twice (%s and %.*s)", kn, sc->role_from[r], (int)vlen, v);
            return -1;
        }
        sc->role_from[r] = strndup(v, vlen);
        sc->role_origin[r] = strdup(origin);
        if (!sc->role_from[r] || !sc->role_origin[r]) { snprintf(msg, cap, "out of memory"); return -1; }
    } else {
        for (size_t i = 0; i < sc->nren; i++)
            if (strcmp(sc->ren[i].b, kn) == 0) {
                snprintf(msg, cap, "%s is mapped twice (%s and %.*s)", kn, sc->ren[i].a, (int)vlen, v);
                return -1;
            }
        if (push_pair(&sc->ren, &sc->nren, v, vlen, k, klen, origin) != 0) { snprintf(msg, cap, "out of memory"); return -1; }
    }
    sc->mapped = true;
    return 0;
}

int kr_schema_map(KrSchema *sc, const char *spec, char *msg, size_t cap)
{
    const char *p = spec;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            snprintf(msg, cap, "--map: '%.*s' is not KAIROS=SOURCE (like customer=user_id)", (int)n, p);
            return -1;
        }
        char m[200];
        if (add_map(sc, p, (size_t)(eq - p), eq + 1, n - (size_t)(eq - p) - 1u, "--map", m, sizeof m) != 0) {
            snprintf(msg, cap, "--map: %s", m);
            return -1;
        }
        if (!end) return 0;
        p = end + 1;
    }
}

/* ---- the schema file ------------------------------------------------------ */

typedef struct Yl { const char *path; FILE *err; yaml_document_t *doc; } Yl;

static int yerr(Yl *y, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int yerr(Yl *y, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    if (n) fprintf(y->err, "%s:%lu:%lu: error: ", y->path, (unsigned long)n->start_mark.line + 1u,
                   (unsigned long)n->start_mark.column + 1u);
    else fprintf(y->err, "%s: error: ", y->path);
    va_start(ap, fmt);
    ku_vshow(y->err, fmt, ap);        /* the names it quotes shown escaped, on one line */
    va_end(ap);
    fputc('\n', y->err);
    return -1;
}

static const char *scalar(Yl *y, yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_SCALAR_NODE) { yerr(y, n, "%s: expected a text value", what); return NULL; }
    if (n->data.scalar.length == 0) { yerr(y, n, "%s: empty value", what); return NULL; }
    return (const char *)n->data.scalar.value;
}

static int check_format(const char *f, bool *has_zone, char *msg, size_t cap);

/* dup_key -- the key of pair p of mapping m appeared before it in m: an
 * error (as the test files' reader says it: cli/testfile.c).  0 if not. */
static int dup_key(Yl *y, yaml_node_t *m, yaml_node_pair_t *p, const char *where)
{
    yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
    if (!k || k->type != YAML_SCALAR_NODE) return 0;
    for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *e = yaml_document_get_node(y->doc, q->key);
        if (e && e->type == YAML_SCALAR_NODE && e->data.scalar.length == k->data.scalar.length
            && memcmp(e->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
            return yerr(y, k, "duplicate key \"%s\" in %s (first at line %lu)", (const char *)k->data.scalar.value,
                        where, (unsigned long)e->start_mark.line + 1u);
    }
    return 0;
}

/* check_drop -- the names under drop (node v) once every mapping is known:
 * a required field's column, or a mapped attribute's, cannot be dropped. */
static int check_drop(Yl *y, const KrSchema *sc, yaml_node_t *v)
{
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(y->doc, *it);
        const char *d = (const char *)n->data.scalar.value;
        for (int r = 0; r < 3; r++)
            if (strcmp(d, ks_role_name(sc, r)) == 0) {
                if (!sc->role_from[r])
                    return yerr(y, n, "cannot drop \"%s\": it is the required field %s", d, role_names[r]);
                return yerr(y, n, "cannot drop \"%s\": it holds the required field %s (by %s)", d, role_names[r],
                            sc->role_origin[r]);
            }
        for (size_t i = 0; i < sc->nren; i++)
            if (strcmp(d, sc->ren[i].a) == 0) {
                return yerr(y, n, "cannot drop \"%s\": it holds the attribute %s (by %s)", d, sc->ren[i].b,
                            sc->ren[i].origin ? sc->ren[i].origin : "--map");
            }
    }
    return 0;
}

static int load_time(Yl *y, KrSchema *sc, yaml_node_t *m)
{
    if (m->type != YAML_MAPPING_NODE) return yerr(y, m, "time: expected a mapping (unit, format, zone)");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key), *v = yaml_document_get_node(y->doc, p->value);
        const char *key = scalar(y, k, "time key");
        if (!key || dup_key(y, m, p, "time") != 0) return -1;
        const char *val = scalar(y, v, key);
        if (!val) return -1;
        if (strcmp(key, "unit") == 0) {
            if (strcmp(val, "s") == 0) sc->unit = 1;
            else if (strcmp(val, "ms") == 0) sc->unit = 1000;
            else if (strcmp(val, "us") == 0) sc->unit = 1000000;
            else return yerr(y, v, "unknown time unit \"%s\" (expected s, ms or us)", val);
        } else if (strcmp(key, "format") == 0) {
            free(sc->tformat);
            if (!(sc->tformat = strdup(val))) return yerr(y, v, "out of memory");
        } else if (strcmp(key, "zone") == 0) {
            free(sc->tzone);
            if (!(sc->tzone = strdup(val))) return yerr(y, v, "out of memory");
            if (!(sc->zone = kz_zone(val))) return yerr(y, v, "unknown time zone \"%s\"", val);
        } else {
            return yerr(y, k, "unknown key \"%s\" under time (expected unit, format, zone)", key);
        }
    }
    if (sc->tformat) {
        bool hz = false;
        char msg[200];
        if (check_format(sc->tformat, &hz, msg, sizeof msg) != 0) return yerr(y, m, "time format: %s", msg);
        if (!hz && !sc->zone)
            return yerr(y, m, "time format \"%s\" has no %%z: say which zone its times are in (zone: UTC, or a name like Europe/Paris)",
                        sc->tformat);
    } else if (sc->zone) {
        return yerr(y, m, "time zone given without a time format (RFC 3339 times carry their offset)");
    }
    sc->mapped = true;
    return 0;
}

/* A schema nests three levels; libyaml's loader takes time quadratic in the
 * nesting (a 2 MB file of '[' ran for minutes).  One pass over the events
 * first: deeper than SCHEMA_MAX_DEPTH is an error at that node, as for a
 * test file.  0, or -1 after a message (a YAML error is left to the load,
 * which reports it). */
enum { SCHEMA_MAX_DEPTH = 64, SCHEMA_MAX_BYTES = 1 << 20 };
static int too_deep(const Yl *y, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > SCHEMA_MAX_DEPTH) {
                fprintf(y->err, "%s:%lu:%lu: error: YAML nested deeper than %d levels\n", y->path,
                        (unsigned long)ev.start_mark.line + 1u, (unsigned long)ev.start_mark.column + 1u,
                        SCHEMA_MAX_DEPTH);
                rc = -1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (rc != 0 || t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* The message of a YAML error of p (text[0..len) parsed) on err: at the
 * byte a reader error (bad UTF-8, a control character) names, else at
 * the parser's mark. */
static void yaml_failed(const char *path, const yaml_parser_t *p, const char *text, size_t len, FILE *err)
{
    size_t line = p->problem_mark.line + 1u, col = p->problem_mark.column + 1u;
    if (p->error == YAML_READER_ERROR) ku_text_pos(text, len, p->problem_offset, &line, &col);
    fprintf(err, "%s:%zu:%zu: error: invalid YAML: %s\n", path, line, col, p->problem ? p->problem : "?");
}

int kr_schema_load(KrSchema *sc, const char *path, FILE *err)
{
    Yl y = { path, err, NULL };
    /* read whole (a pipe works: the text is parsed twice), bounded as a test file is */
    char *text;
    size_t tlen;
    if (ku_read_file(path, SCHEMA_MAX_BYTES, &text, &tlen) != 0) {
        fprintf(err, "%s: error: cannot read file: %s\n", path,
                errno == EFBIG ? "file too large (over 1 MiB)" : strerror(errno));
        return -1;
    }
    if (too_deep(&y, text, tlen) != 0) { free(text); return -1; }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, tlen);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_failed(path, &parser, text, tlen, err);
        yaml_parser_delete(&parser);
        free(text);
        return -1;
    }
    /* one document: what follows a `---` would be dropped without a word
     * (as a test file, SPEC 7.1); an empty one after it is harmless */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        yaml_failed(path, &parser, text, tlen, err);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        free(text);
        return -1;
    }
    yaml_node_t *more = yaml_document_get_root_node(&next);
    if (more) {
        fprintf(err, "%s:%lu:%lu: error: a schema file holds one YAML document\n", path,
                (unsigned long)next.start_mark.line + 1u, (unsigned long)next.start_mark.column + 1u);
        yaml_document_delete(&next);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        free(text);
        return -1;
    }
    yaml_document_delete(&next);
    yaml_parser_delete(&parser);
    free(text);
    y.doc = &doc;
    int rc = 0;
    /* a NUL (written \0 or \x00) would end a name or value there, and the
     * rest be ignored */
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
            rc = yerr(&y, n, "a NUL character in a text: no name or value may hold one");
            goto done;
        }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yerr(&y, root, "expected a mapping with the keys input, columns, time, drop, types");
        goto done;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && rc == 0; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(&y, k, "key");
        if (!key || dup_key(&y, root, p, "the schema") != 0) { rc = -1; break; }
        if (strcmp(key, "input") == 0) {
            const char *val = scalar(&y, v, key);
            sc->input_said = true;
            if (!val) rc = -1;
            else if (strcmp(val, "segment") == 0) sc->segment = true;
            else if (strcmp(val, "rows") != 0) rc = yerr(&y, v, "unknown input \"%s\" (expected rows or segment)", val);
        } else if (strcmp(key, "columns") == 0) {
            if (v->type != YAML_MAPPING_NODE) { rc = yerr(&y, v, "columns: expected a mapping KAIROS_NAME: SOURCE_NAME"); break; }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top && rc == 0; q++) {
                yaml_node_t *ck = yaml_document_get_node(&doc, q->key), *cv = yaml_document_get_node(&doc, q->value);
                const char *a = scalar(&y, ck, "columns"), *b = a ? scalar(&y, cv, a) : NULL;
                char msg[200];
                if (!a || !b || dup_key(&y, v, q, "columns") != 0) rc = -1;
                else if (add_map(sc, a, strlen(a), b, strlen(b), path, msg, sizeof msg) != 0) rc = yerr(&y, ck, "%s", msg);
            }
        } else if (strcmp(key, "time") == 0) {
            rc = load_time(&y, sc, v);
        } else if (strcmp(key, "drop") == 0) {
            if (v->type != YAML_SEQUENCE_NODE) { rc = yerr(&y, v, "drop: expected a list of source names"); break; }
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top && rc == 0; it++) {
                const char *d = scalar(&y, yaml_document_get_node(&doc, *it), "drop");
                char **nd = d ? realloc(sc->drop, (sc->ndrop + 1u) * sizeof *nd) : NULL;
                if (!nd) { rc = -1; break; }
                sc->drop = nd;
                if (!(nd[sc->ndrop] = strdup(d))) { rc = -1; break; }
                sc->ndrop++;
            }
            sc->mapped = true;
        } else if (strcmp(key, "types") == 0) {
            if (v->type != YAML_MAPPING_NODE) { rc = yerr(&y, v, "types: expected a mapping ATTRIBUTE: string|number|bool"); break; }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top && rc == 0; q++) {
                yaml_node_t *tk = yaml_document_get_node(&doc, q->key), *tv = yaml_document_get_node(&doc, q->value);
                const char *a = scalar(&y, tk, "types"), *b = a ? scalar(&y, tv, a) : NULL;
                if (!a || !b || dup_key(&y, v, q, "types") != 0) rc = -1;
                else if (strcmp(b, "string") && strcmp(b, "number") && strcmp(b, "bool"))
                    rc = yerr(&y, tv, "unknown type \"%s\" for %s (expected string, number or bool)", b, a);
                else if (role_of(a) >= 0)
                    rc = yerr(&y, tk, "%s is not an attribute: its type is fixed", a);
                else if (push_pair(&sc->types, &sc->ntypes, a, strlen(a), b, strlen(b), NULL) != 0)
                    rc = yerr(&y, tk, "out of memory");
            }
            sc->mapped = true;
        } else {
            rc = yerr(&y, k, "unknown key \"%s\" (expected input, columns, time, drop, types)", key);
        }
    }
    /* drop, checked once every mapping (--map, columns) is known */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && rc == 0; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        if (strcmp((const char *)k->data.scalar.value, "drop") == 0)
            rc = check_drop(&y, sc, yaml_document_get_node(&doc, p->value));
    }
done:
    yaml_document_delete(&doc);
    return rc;
}

/* ---- lookups ------------------------------------------------------------------ */

int ks_column(const KrSchema *sc, const char *name, size_t len, const char **an, size_t *alen)
{
    *an = name;
    *alen = len;
    for (int r = 0; r < 3; r++) {
        const char *want = sc && sc->role_from[r] ? sc->role_from[r] : role_names[r];
        if (strlen(want) == len && memcmp(want, name, len) == 0) return r;
    }
    if (!sc) return KS_ATTR;
    for (size_t i = 0; i < sc->ndrop; i++)
        if (strlen(sc->drop[i]) == len && memcmp(sc->drop[i], name, len) == 0) return KS_DROP;
    for (size_t i = 0; i < sc->nren; i++)
        if (strlen(sc->ren[i].a) == len && memcmp(sc->ren[i].a, name, len) == 0) {
            *an = sc->ren[i].b;
            *alen = strlen(sc->ren[i].b);
            return KS_ATTR;
        }
    /* a column with the Kairos name of an attribute mapped from another
     * source is not that attribute (nor any other): not read */
    for (size_t i = 0; i < sc->nren; i++)
        if (strlen(sc->ren[i].b) == len && memcmp(sc->ren[i].b, name, len) == 0) return KS_DROP;
    return KS_ATTR;
}

const char *ks_role_name(const KrSchema *sc, int role)
{
    return sc && sc->role_from[role] ? sc->role_from[role] : role_names[role];
}

int ks_type(const KrSchema *sc, const char *name)
{
    if (!sc) return KS_T_AUTO;
    for (size_t i = 0; i < sc->ntypes; i++)
        if (strcmp(sc->types[i].a, name) == 0)
            return sc->types[i].b[0] == 's' ? KS_T_STRING : sc->types[i].b[0] == 'n' ? KS_T_NUMBER : KS_T_BOOL;
    return KS_T_AUTO;
}

/* ---- times ---------------------------------------------------------------------- */

static int check_format(const char *f, bool *has_zone, char *msg, size_t cap)
{
    *has_zone = false;
    bool seen[128] = { false };
    for (; *f; f++) {
        if (*f != '%') continue;
        f++;
        if (!*f || !strchr("YmdHMSfzb%", *f)) {
            snprintf(msg, cap, "unknown directive %%%c (known: %%Y %%m %%d %%H %%M %%S %%f %%z %%b %%%%)", *f ? *f : ' ');
            return -1;
        }
        if (*f == 'z') *has_zone = true;
        seen[(unsigned char)*f] = true;
    }
    if (!seen['Y'] || !(seen['m'] || seen['b']) || !seen['d']) {
        snprintf(msg, cap, "needs at least %%Y, %%m (or %%b) and %%d");
        return -1;
    }
    return 0;
}

static bool digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || !isdigit((unsigned char)**p)) return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return true;
}

/* parse_format -- s[0..len) by the format; -1 if it does not match. */
static int parse_format(const KrSchema *sc, const char *s, size_t len, int64_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = s, *end = s + len;
    int Y = -1, m = 1, d = 1, H = 0, M = 0, S = 0;
    bool zoned = false;
    int32_t off = 0;
    for (const char *f = sc->tformat; *f; f++) {
        if (*f != '%') {
            if (p >= end || *p != *f) return -1;
            p++;
            continue;
        }
        switch (*++f) {
        case 'Y': if (!digits(&p, end, 4, &Y)) return -1; break;
        case 'm': if (!digits(&p, end, 2, &m)) return -1; break;
        case 'd': if (!digits(&p, end, 2, &d)) return -1; break;
        case 'H': if (!digits(&p, end, 2, &H)) return -1; break;
        case 'M': if (!digits(&p, end, 2, &M)) return -1; break;
        case 'S': if (!digits(&p, end, 2, &S)) return -1; break;
        case 'f':
            if (p >= end || !isdigit((unsigned char)*p)) return -1;
            while (p < end && isdigit((unsigned char)*p)) p++;
            break;
        case 'b': {
            if (end - p < 3) return -1;
            int k = 0;
            while (k < 12 && strncasecmp(months + 3 * k, p, 3) != 0) k++;
            if (k == 12) return -1;
            m = k + 1;
            p += 3;
            break;
        }
        case 'z': {
            zoned = true;
            if (p < end && (*p == 'Z' || *p == 'z')) { p++; break; }
            if (p >= end || (*p != '+' && *p != '-')) return -1;
            int sign = *p++ == '-' ? -1 : 1, hh, mm = 0;
            if (!digits(&p, end, 2, &hh)) return -1;
            if (p < end && *p == ':') p++;
            if (p < end && isdigit((unsigned char)*p) && !digits(&p, end, 2, &mm)) return -1;
            if (hh > 23 || mm > 59) return -1;
            off = sign * (hh * 3600 + mm * 60);
            break;
        }
        case '%': if (p >= end || *p != '%') return -1; p++; break;
        default: return -1;
        }
    }
    if (p != end || Y < 0 || m < 1 || m > 12 || d < 1 || H > 23 || M > 59 || S > 60) return -1;
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) return -1;
    if (S == 60) S = 59;
    if (zoned) *out = kz_days_from_civil(Y, m, d) * 86400 + H * 3600 + M * 60 + S - off;
    else *out = kz_from_local(sc->zone, Y, m, d, H, M, S);
    return 0;
}

int ks_time(const KrSchema *sc, const char *s, size_t len, bool json, int64_t *out,
            char *msg, size_t mcap, char *hint, size_t hcap)
{
    hint[0] = 0;
    size_t i = len && s[0] == '-' ? 1 : 0, nd = 0;
    while (i + nd < len && isdigit((unsigned char)s[i + nd])) nd++;
    bool integer = nd > 0 && i + nd == len;
    char cell[200];
    ki_shown_cell(s, len, cell, sizeof cell);
    int64_t unit = sc->unit ? sc->unit : 1;
    const char *uname = unit == 1 ? "seconds" : unit == 1000 ? "milliseconds" : "microseconds";
    /* the format the schema names comes first: one of digits only
     * (%Y%m%d%H%M%S) matches an integer cell, read by it, not as Unix time */
    bool by_format = sc->tformat && parse_format(sc, s, len, out) == 0;
    if (integer && !by_format) {
        int64_t v;
        if (nd <= 18 && ki_parse_int64(s, len, &v) == 0) {
            int64_t t = v / unit - (v % unit < 0 ? 1 : 0);     /* toward the earlier second */
            if (t >= KR_TIME_MIN && t <= KR_TIME_MAX) { *out = t; return 0; }
        }
        if (unit == 1) {                /* seconds: the hint about milliseconds (timeparse.c) */
            ki_bad_time_text(s, len, json, msg, mcap, hint, hcap);
            return -1;
        }
        snprintf(msg, mcap, "time %s is out of range for Unix %s (years 0000 to 9999)", cell, uname);
        return -1;
    }
    if (sc->tformat) {
        if (by_format) {
            if (*out >= KR_TIME_MIN && *out <= KR_TIME_MAX) return 0;
            snprintf(msg, mcap, "bad time %s%s%s (after its offset it lies outside 0000-01-01T00:00:00Z to "
                     "9999-12-31T23:59:59Z)", json ? "" : "\"", cell, json ? "" : "\"");
            return -1;
        }
        snprintf(msg, mcap, "bad time %s%s%s (expected the format \"%s\"%s%s%s)", json ? "" : "\"", cell, json ? "" : "\"",
                 sc->tformat, sc->unit ? ", or integer Unix " : "", sc->unit ? uname : "", "");
        return -1;
    }
    if (len >= 20 && kr_parse_time(s, len, out) == 0) return 0;
    snprintf(msg, mcap, "bad time %s%s%s (expected integer Unix %s, or RFC 3339 like 2026-03-01T09:30:00Z)",
             json ? "" : "\"", cell, json ? "" : "\"", uname);
    return -1;
}

int ks_typed(KrInputCtx *c, int type, const char *s, size_t len, KrValue *out, char *msg, size_t mcap)
{
    if (len == 0) return 1;
    char cell[200];
    if (type == KS_T_STRING) {
        uint32_t id = kr_intern(c->values, s, len);
        if (id == UINT32_MAX) return -2;
        out->tag = KB_STR;
        out->i = 0;
        out->str = id;
        return 0;
    }
    if (type == KS_T_NUMBER) {
        double d;
        if (ki_parse_num(s, len, &d)) { out->tag = KB_NUM; out->num = d; return 0; }
        ki_shown_cell(s, len, cell, sizeof cell);
        snprintf(msg, mcap, "\"%s\" is not a number (the schema says number)", cell);
        return -1;
    }
    if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0)) {
        out->tag = KB_BOOL;
        out->i = 0;
        out->b = len == 4;
        return 0;
    }
    ki_shown_cell(s, len, cell, sizeof cell);
    snprintf(msg, mcap, "\"%s\" is not true or false (the schema says bool)", cell);
    return -1;
}

/* ---- the hint for a missing required column ----------------------------------- */

static size_t lev(const char *a, size_t n, const char *b, size_t m)
{
    size_t row[256];
    if (m >= 256 || n >= 256) return 99;
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cur = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[m];
}

long ks_closest(const char *want, const char *const *names, const size_t *lens, size_t n)
{
    size_t wl = strlen(want), best_d = 3;
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        size_t d = lev(names[i], lens[i], want, wl);     /* ASCII case ignored */
        if (d > 2 || d * 3u > wl) continue;
        if (best >= 0 && d == best_d) {
            size_t bl = lens[best], l = lens[i] < bl ? lens[i] : bl;
            int c = memcmp(names[i], names[best], l);
            if (c > 0 || (c == 0 && lens[i] >= bl)) continue;
        } else if (d > best_d) {
            continue;
        }
        best = (long)i;
        best_d = d;
    }
    return best;
}

static bool contains_ci(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, w, k) == 0) return true;
    return false;
}

/* score -- how much a column name looks like the role (0: not at all). */
static int score(const char *role, const char *s, size_t n)
{
    static const char *const syn[3][8] = {
        { "time", "ts", "timestamp", "date", "created", "occurred", "at", NULL },
        { "customer", "user", "uid", "client", "account", "person", "contact", "anonymous" },
        { "event", "type", "action", "kind", "name", "activity", NULL, NULL },
    };
    int r = role_of(role);
    if (r < 0) {
        /* a mapped name: close spellings only */
        size_t d = lev(s, n, role, strlen(role));
        return d <= 2 ? 10 - (int)d : 0;
    }
    int best = 0;
    for (int k = 0; k < 8 && syn[r][k]; k++) {
        size_t wl = strlen(syn[r][k]);
        if (n == wl && strncasecmp(s, syn[r][k], n) == 0) best = best > 9 ? best : 9 - k / 4;
        else if (wl >= 4 && contains_ci(s, n, syn[r][k])) best = best > 7 - k / 4 ? best : 7 - k / 4;
        else if (lev(s, n, syn[r][k], wl) <= 2 && wl >= 4) best = best > 5 ? best : 5;
    }
    return best;
}

/* Whether a column is named as another required field than role is: it
 * holds that field, so it is no candidate for role ("time" is close to
 * "type", a synonym of event, but --map event=time cannot help). */
static bool other_role_column(const char *role, const char *s, size_t n)
{
    for (int r = 0; r < 3; r++)
        if (strcmp(role, role_names[r]) != 0 && n == strlen(role_names[r]) && memcmp(s, role_names[r], n) == 0)
            return true;
    return false;
}

void ks_hint(const char *role, const char *const *cols, const size_t *lens, size_t n, char *hint, size_t cap)
{
    hint[0] = 0;
    int top = 0;
    bool required = role_of(role) >= 0;
    for (size_t i = 0; i < n; i++) {
        if (required && other_role_column(role, cols[i], lens[i])) continue;
        int sc = score(role, cols[i], lens[i]);
        if (sc > top) top = sc;
    }
    size_t o = 0;
    const char *first = NULL;
    size_t flen = 0;
    int shown_n = 0;
    if (top > 0) {
        o += (size_t)snprintf(hint + o, cap - o, "the closest column%s: ", "");
        for (size_t i = 0; i < n && shown_n < 3 && o < cap; i++) {
            if (required && other_role_column(role, cols[i], lens[i])) continue;
            if (score(role, cols[i], lens[i]) != top) continue;
            if (!first) { first = cols[i]; flen = lens[i]; }
            char name[200];
            ki_shown_cell(cols[i], lens[i], name, sizeof name);   /* control characters escaped */
            o += (size_t)snprintf(hint + o, cap - o, "%s\"%s\"", shown_n ? ", " : "", name);
            shown_n++;
        }
    }
    if (o >= cap) return;
    const char *r = role;
    if (role_of(role) < 0) return;              /* a mapped name: no --map advice */
    char fname[200];
    if (first) ki_shown_cell(first, flen, fname, sizeof fname);
    if (first)
        snprintf(hint + o, cap - o, "; use --map %s=%s", r, fname);
    else
        snprintf(hint + o, cap - o, "name the column holding the %s with --map %s=COLUMN", r, r);
}

int ks_check_typed(KrInputCtx *c, uint32_t a, const char *s, size_t len, char *msg, size_t mcap)
{
    int ty = c->attr_type ? c->attr_type[a] : KS_T_AUTO;
    if (ty != KS_T_NUMBER && ty != KS_T_BOOL) return 0;     /* (a string would be interned) */
    char m[256];
    KrValue scratch;
    if (ks_typed(c, ty, s, len, &scratch, m, sizeof m) != -1) return 0;
    snprintf(msg, mcap, "%s: %s", ks_attr_name(c->img, a), m);
    return -1;
}

bool ks_segment_input(const KrOptions *o)
{
    return o->segment || (o->schema && o->schema->segment);
}

int ks_attr_types(KrInputCtx *c)
{
    const KrSchema *sc = c->schema;
    if (!sc || sc->ntypes == 0) return 0;
    const KImage *img = c->img;
    c->attr_type = calloc(img->nattrs + 1u, 1);
    if (!c->attr_type) return -1;
    for (uint32_t a = 0; a < img->nattrs; a++) {
        uint32_t si = img->attrs[a];
        if (si < img->nstrings) c->attr_type[a] = (uint8_t)ks_type(sc, img->strings[si]);
    }
    return 0;
}

const char *ks_attr_name(const KImage *img, uint32_t a)
{
    uint32_t si = a < img->nattrs ? img->attrs[a] : KB_NONE;
    return si < img->nstrings ? img->strings[si] : "?";
}
