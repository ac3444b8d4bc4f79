/* value.c -- the one value semantics (kval_); see value.h. */
#include <math.h>
#include <string.h>
#include "value.h"

const KValue kval_unknown = { .tag = KB_UNKNOWN };

KValue kval_num(double d)
{
    KValue v = { .tag = KB_NUM };
    if (isnan(d)) v.tag = KB_UNKNOWN; else v.num = d;
    return v;
}

KValue kval_bool(bool b) { KValue v = { .tag = KB_BOOL }; v.b = b; return v; }

KValue kval_int(uint8_t tag, int64_t i) { KValue v = { .tag = tag }; v.i = i; return v; }

int kval_truth(const KValue *v)
{
    if (v->tag != KB_BOOL) return -1;
    return v->b ? 1 : 0;
}

KValue kval_not(const KValue *a)
{
    int t = kval_truth(a);
    return t < 0 ? kval_unknown : kval_bool(!t);
}

KValue kval_and(const KValue *a, const KValue *b)
{
    int x = kval_truth(a), y = kval_truth(b);
    if (x == 0 || y == 0) return kval_bool(false);
    if (x == 1 && y == 1) return kval_bool(true);
    return kval_unknown;
}

KValue kval_or(const KValue *a, const KValue *b)
{
    int x = kval_truth(a), y = kval_truth(b);
    if (x == 1 || y == 1) return kval_bool(true);
    if (x == 0 && y == 0) return kval_bool(false);
    return kval_unknown;
}

KValue kval_neg(const KValue *a)
{
    if (a->tag == KB_NUM) return kval_num(-a->num);
    if (a->tag == KB_DUR && a->i != INT64_MIN) return kval_int(KB_DUR, -a->i);
    return kval_unknown;
}

/* A duration from a product or quotient in seconds, truncated; unknown
 * outside the int64 range. */
static KValue dur_of(double x)
{
    if (!(x > -9.2e18 && x < 9.2e18)) return kval_unknown;
    return kval_int(KB_DUR, (int64_t)x);
}

KValue kval_arith(KbOp op, const KValue *a, const KValue *b)
{
    if (a->tag == KB_UNKNOWN || b->tag == KB_UNKNOWN) return kval_unknown;
    int64_t r;
    switch (op) {
    case KB_OP_ADD:
        if (a->tag == KB_NUM && b->tag == KB_NUM) return kval_num(a->num + b->num);
        if ((a->tag == KB_DUR || a->tag == KB_TIME) && b->tag == KB_DUR) {
            if (__builtin_add_overflow(a->i, b->i, &r)) return kval_unknown;
            return kval_int(a->tag, r);
        }
        if (a->tag == KB_DUR && b->tag == KB_TIME) {
            if (__builtin_add_overflow(a->i, b->i, &r)) return kval_unknown;
            return kval_int(KB_TIME, r);
        }
        return kval_unknown;
    case KB_OP_SUB:
        if (a->tag == KB_NUM && b->tag == KB_NUM) return kval_num(a->num - b->num);
        if ((a->tag == KB_DUR || a->tag == KB_TIME) && b->tag == KB_DUR) {
            if (__builtin_sub_overflow(a->i, b->i, &r)) return kval_unknown;
            return kval_int(a->tag, r);
        }
        if (a->tag == KB_TIME && b->tag == KB_TIME) {
            if (__builtin_sub_overflow(a->i, b->i, &r)) return kval_unknown;
            return kval_int(KB_DUR, r);
        }
        return kval_unknown;
    case KB_OP_MUL: {
        if (a->tag == KB_NUM && b->tag == KB_NUM) return kval_num(a->num * b->num);
        const KValue *d = a->tag == KB_DUR ? a : b, *n = a->tag == KB_DUR ? b : a;
        if (d->tag != KB_DUR || n->tag != KB_NUM) return kval_unknown;
        return dur_of((double)d->i * n->num);
    }
    case KB_OP_DIV:
        if (a->tag == KB_NUM && b->tag == KB_NUM) {
            if (b->num == 0) return kval_unknown;
            return kval_num(a->num / b->num);
        }
        if (a->tag == KB_DUR && b->tag == KB_NUM) {
            if (b->num == 0) return kval_unknown;
            return dur_of((double)a->i / b->num);
        }
        if (a->tag == KB_DUR && b->tag == KB_DUR) {
            if (b->i == 0) return kval_unknown;
            return kval_num((double)a->i / (double)b->i);
        }
        return kval_unknown;
    default:
        return kval_unknown;
    }
}

int kval_compare(const KValue *a, const KValue *b, const KValStrings *ss)
{
    if (a->tag != b->tag) return 2;
    switch (a->tag) {
    case KB_NUM:
        if (isnan(a->num) || isnan(b->num)) return 2;
        return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
    case KB_BOOL:
        return (int)a->b - (int)b->b;
    case KB_STR: {
        if (a->str == b->str) return 0;
        size_t la = 0, lb = 0;
        const char *sa = ss ? ss->get(ss->ctx, a->str, &la) : NULL;
        const char *sb = ss ? ss->get(ss->ctx, b->str, &lb) : NULL;
        if (!sa || !sb) return 2;
        int c = (la < lb ? la : lb) ? memcmp(sa, sb, la < lb ? la : lb) : 0;
        if (c == 0) c = la < lb ? -1 : la > lb ? 1 : 0;
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case KB_DUR: case KB_TIME: case KB_WEEKDAY:
        return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    default:
        return 2;
    }
}

KValue kval_relation(KbOp op, const KValue *a, const KValue *b, const KValStrings *ss)
{
    if (a->tag == KB_UNKNOWN || b->tag == KB_UNKNOWN) return kval_unknown;
    int c = kval_compare(a, b, ss);
    if (c == 2) return kval_unknown;
    switch (op) {
    case KB_OP_EQ: return kval_bool(c == 0);
    case KB_OP_NE: return kval_bool(c != 0);
    case KB_OP_LT: return kval_bool(c < 0);
    case KB_OP_LE: return kval_bool(c <= 0);
    case KB_OP_GT: return kval_bool(c > 0);
    case KB_OP_GE: return kval_bool(c >= 0);
    default:       return kval_unknown;
    }
}

KValue kval_in(const KValue *x, const KValue *items, uint32_t n, const KValStrings *ss)
{
    bool found = false, unk = x->tag == KB_UNKNOWN;
    for (uint32_t i = 0; i < n && !found; i++) {
        KValue r = kval_relation(KB_OP_EQ, x, &items[i], ss);
        if (r.tag == KB_UNKNOWN) unk = true;
        else if (r.b) found = true;
    }
    return found ? kval_bool(true) : unk ? kval_unknown : kval_bool(false);
}
