/* testyaml.c -- `kairos test`: reads one YAML document into a KqNode tree.
 *
 * Uses libyaml's event parser (no recursion inside libyaml's parser) and
 * builds the tree with an explicit stack, so deep input cannot overflow the
 * C stack: nesting deeper than KQ_MAX_DEPTH is an error.  Aliases are
 * rejected (a test file never needs them, and expanding them invites
 * exponential blow-up); anchors and tags are ignored.  Every scalar is kept
 * as its text: the schema (testfile.c) decides what a value means.
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "testfile.h"

#define KQ_MAX_DEPTH 64

void kq_node_free(KqNode *n)
{
    if (!n) return;
    /* The tree depth is bounded by KQ_MAX_DEPTH, so recursion is safe. */
    for (size_t i = 0; i < n->nitems; i++)
        kq_node_free(n->items[i]);
    free(n->items);
    free(n->text);
    free(n);
}

static KqNode *node_new(KqNodeKind kind, const yaml_mark_t *m)
{
    KqNode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = (unsigned)m->line + 1;
    n->col = n->lo_col = (unsigned)m->column + 1;
    return n;
}

/* Appends child to a sequence or mapping under construction. */
static int node_push(KqNode *parent, KqNode *child)
{
    if (KU_RESERVE(parent->items, parent->nitems, parent->cap, 4) != 0) return -1;
    parent->items[parent->nitems++] = child;
    parent->n = parent->kind == KQ_MAP ? parent->nitems / 2 : parent->nitems;
    return 0;
}

static bool is_null_text(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static void yaml_error(const char *path, const yaml_parser_t *p, const unsigned char *text,
                       size_t len, KqMsgs *errs)
{
    const yaml_mark_t *m = &p->problem_mark;
    const char *what = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        kq_msg(errs, "%s: error: out of memory while reading YAML", path);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* the reader (a NUL, bad UTF-8) gives a byte offset, not a mark:
         * its line, and its column in characters */
        size_t line, col;
        ku_text_pos((const char *)text, len, p->problem_offset, &line, &col);
        kq_msg(errs, "%s:%zu:%zu: error: YAML syntax: %s", path, line, col, what);
        return;
    }
    if (p->context)
        kq_msg(errs, "%s:%zu:%zu: error: YAML syntax: %s (%s that starts on line %zu)", path,
               m->line + 1, m->column + 1, what, p->context, p->context_mark.line + 1);
    else
        kq_msg(errs, "%s:%zu:%zu: error: YAML syntax: %s", path, m->line + 1, m->column + 1, what);
}

KqNode *kq_yaml_parse(const char *path, const unsigned char *text, size_t len, KqMsgs *errs)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        kq_msg(errs, "%s: error: out of memory while reading YAML", path);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, text, len);

    KqNode *stack[KQ_MAX_DEPTH];
    int depth = 0;
    KqNode *root = NULL;
    int ndocs = 0;
    bool failed = false, done = false;

    while (!done && !failed) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_error(path, &parser, text, len, errs);
            failed = true;
            break;
        }
        const yaml_mark_t *m = &ev.start_mark;
        KqNode *node = NULL;
        KqNode *closed = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                kq_msg(errs, "%s:%zu:%zu: error: a test file holds one YAML document", path,
                       m->line + 1, m->column + 1);
                failed = true;
            }
            break;
        case YAML_ALIAS_EVENT:
            kq_msg(errs, "%s:%zu:%zu: error: YAML aliases (*%s) are not supported in test files",
                   path, m->line + 1, m->column + 1, (const char *)ev.data.alias.anchor);
            failed = true;
            break;
        case YAML_SCALAR_EVENT:
            node = node_new(KQ_SCALAR, m);
            if (node) {
                node->lo = ev.start_mark.index;
                node->hi = ev.end_mark.index;
                size_t n = ev.data.scalar.length;
                node->text = malloc(n + 1);
                if (node->text) {
                    memcpy(node->text, ev.data.scalar.value, n);
                    node->text[n] = '\0';
                    node->len = n;
                    node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                    node->is_null = node->plain && is_null_text(node->text, n);
                } else {
                    free(node);
                    node = NULL;
                }
            }
            goto add;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            node = node_new(ev.type == YAML_SEQUENCE_START_EVENT ? KQ_SEQ : KQ_MAP, m);
            if (node) {
                node->lo = node->hi = ev.start_mark.index;
                node->flow = ev.type == YAML_SEQUENCE_START_EVENT
                    ? ev.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                    : ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
                if (ev.type == YAML_SEQUENCE_START_EVENT && !node->flow) {
                    /* the event ends at the first `-` (its start is an
                     * anchor or tag written before it, if any); just
                     * after it when the `-` lines stand in the key's
                     * column (an "indentless" list: libyaml's parser is
                     * then in that state) */
                    node->indentless = parser.state == YAML_PARSE_INDENTLESS_SEQUENCE_ENTRY_STATE;
                    node->lo = node->hi = ev.end_mark.index - (node->indentless ? 1u : 0u);
                    node->lo_col = (unsigned)ev.end_mark.column + (node->indentless ? 0u : 1u);
                } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
                    /* a flow list starts at its `[`, where the event ends
                     * (its start is an anchor or tag before it, if any:
                     * --update keeps those) */
                    node->lo = node->hi = ev.end_mark.index - 1u;
                    node->lo_col = (unsigned)ev.end_mark.column;
                }
            }
        add:
            if (!node) {
                kq_msg(errs, "%s: error: out of memory while reading YAML", path);
                failed = true;
                break;
            }
            if (depth > 0) {
                if (node_push(stack[depth - 1], node) != 0) {
                    kq_node_free(node);
                    kq_msg(errs, "%s: error: out of memory while reading YAML", path);
                    failed = true;
                    break;
                }
            } else if (!root) {
                root = node;
            } else {
                kq_node_free(node);         /* cannot happen: one root per document */
            }
            if (node->kind != KQ_SCALAR) {
                if (depth == KQ_MAX_DEPTH) {
                    kq_msg(errs, "%s:%zu:%zu: error: YAML nested deeper than %d levels", path,
                           m->line + 1, m->column + 1, KQ_MAX_DEPTH);
                    failed = true;
                    break;
                }
                stack[depth++] = node;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) {
                closed = stack[--depth];
                if (closed->flow) closed->hi = ev.end_mark.index;
                else if (closed->nitems) closed->hi = closed->items[closed->nitems - 1]->hi;
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (failed) {
        kq_node_free(root);
        return NULL;
    }
    if (!root || (root->kind == KQ_SCALAR && root->is_null)) {
        kq_msg(errs, "%s:1:1: error: empty test file (expected a mapping with 'policy' and 'tests')",
               path);
        kq_node_free(root);
        return NULL;
    }
    return root;
}

size_t kq_char_to_byte(const char *text, size_t len, size_t ci)
{
    size_t b = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;  /* libyaml skips a BOM */
    for (size_t c = 0; b < len && c < ci; c++) {
        b++;
        while (b < len && ((unsigned char)text[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

/* ---- rendering ----------------------------------------------------------- */

#define RENDER_MAX 160

static bool needs_quotes(const KqNode *n)
{
    if (n->len == 0) return true;
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->text[i];
        if (c < 0x20 || c == '"' || c == ',' || c == '{' || c == '}' || c == '[' || c == ']' ||
            c == '#' || c == '\\' || c == 0x7f)
            return true;
        if (c == ':' && (i + 1 == n->len || n->text[i + 1] == ' '))
            return true;
    }
    return n->text[0] == ' ' || n->text[n->len - 1] == ' ';
}

static void render(KqBuf *b, const KqNode *n)
{
    if (b->n > RENDER_MAX) return;
    switch (n->kind) {
    case KQ_SCALAR:
        if (n->is_null) { kq_buf_str(b, "~"); break; }
        if (!needs_quotes(n)) { kq_buf_add(b, n->text, n->len); break; }
        /* YAML's double-quoted escapes are the language's; a long scalar
         * is cut (the rendering is cut at RENDER_MAX anyway) */
        ku_lang_str(n->text, n->len > RENDER_MAX ? RENDER_MAX + 1u : n->len, ku_put_buf, b);
        break;
    case KQ_SEQ:
        kq_buf_add(b, "[", 1);
        for (size_t i = 0; i < n->n; i++) {
            if (i) kq_buf_str(b, ", ");
            render(b, n->items[i]);
        }
        kq_buf_add(b, "]", 1);
        break;
    case KQ_MAP:
        kq_buf_add(b, "{", 1);
        for (size_t i = 0; i < n->n; i++) {
            if (i) kq_buf_str(b, ", ");
            render(b, n->items[2 * i]);
            kq_buf_str(b, ": ");
            render(b, n->items[2 * i + 1]);
        }
        kq_buf_add(b, "}", 1);
        break;
    }
}

char *kq_node_render(const KqNode *n)
{
    KqBuf b = {0};
    render(&b, n);
    if (b.n > RENDER_MAX && !b.oom) {
        b.n = ku_utf8_cut(b.s, RENDER_MAX);                                   /* between characters */
        kq_buf_str(&b, "...");
    }
    return kq_buf_take(&b);
}
