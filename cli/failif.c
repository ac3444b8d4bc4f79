/* failif.c -- `kairos diff --fail-if EXPR`: a CI gate on the numbers of the
 * diff's JSON summary (SPEC.md 6.3).  EXPR is FIELD OP NUMBER: FIELD a
 * dotted path of the summary's fields (pressure.after.max, rows.added,
 * gaining.customers...), where a field that has a before and an after
 * value may leave them out to mean after (pressure.max, totals.asks); OP
 * one of < <= > >= == !=; NUMBER a decimal, -?DIGITS(.DIGITS)?. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>
#include "cli.h"
#include "runtime/runtime.h"

enum { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE };
static const char *const OPS[] = { "<", "<=", ">", ">=", "==", "!=" };

static int field_value(yajl_val v, const CliFailIf *f, double *out, char *used, size_t cap);

int cli_fail_if_parse(const char *expr, CliFailIf *f)
{
    memset(f, 0, sizeof *f);
    f->text = expr;
    const char *p = expr;
    while (isspace((unsigned char)*p)) p++;
    const char *start = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '+') p++;
    size_t n = (size_t)(p - start);
    if (n == 0 || n >= sizeof f->field) goto bad;
    memcpy(f->field, start, n);
    f->field[n] = '\0';
    if (f->field[0] == '.' || f->field[n - 1] == '.' || strstr(f->field, "..")) goto bad;
    while (isspace((unsigned char)*p)) p++;
    f->op = -1;
    for (int i = 0; i < (int)(sizeof OPS / sizeof OPS[0]); i++) {
        size_t len = strlen(OPS[i]);
        /* the longest operator that matches: "<=" rather than "<" */
        if (strncmp(p, OPS[i], len) == 0 && (f->op < 0 || len > strlen(OPS[f->op]))) f->op = i;
    }
    if (f->op < 0) goto bad;
    p += strlen(OPS[f->op]);
    while (isspace((unsigned char)*p)) p++;
    /* a decimal as the language writes numbers: -?DIGITS(.DIGITS)? (no
     * exponent, no hexadecimal, no inf or nan, which strtod would take) */
    const char *q = p + (*p == '-');
    const char *int_end = q;
    while (isdigit((unsigned char)*int_end)) int_end++;
    if (int_end == q) goto bad;
    const char *end = int_end;
    if (*end == '.') {
        const char *frac = ++end;
        while (isdigit((unsigned char)*end)) end++;
        if (end == frac) goto bad;
    }
    f->number = strtod(p, NULL);
    p = end;
    while (isspace((unsigned char)*p)) p++;
    if (*p) goto bad;
    /* the field, before the run (which may take minutes): is it a number
     * of the summary kr_diff writes? */
    char *shape = kr_diff_summary_shape();
    yajl_val v = shape ? yajl_tree_parse(shape, NULL, 0) : NULL;
    free(shape);
    if (v) {
        double x;
        char used[160];
        int known = field_value(v, f, &x, used, sizeof used);
        yajl_tree_free(v);
        if (known != 0) {
            cli_usage_error("diff", "--fail-if '%s': the summary has no number '%s' (its fields: SPEC.md 6.3, "
                            "e.g. rows.added, gaining.customers, pressure.max, moved.sends)", expr, f->field);
            return -1;
        }
    }
    return 0;
bad:
    cli_usage_error("diff", "--fail-if takes FIELD OP NUMBER with OP one of < <= > >= == !=, "
                    "e.g. --fail-if 'pressure.max > 2' (got '%s')", expr);
    return -1;
}

/* The value at path[0..n) of v, when it is a number or a boolean. */
static int lookup(yajl_val v, const char **path, int n, double *out)
{
    const char *p[16];
    memcpy(p, path, (size_t)n * sizeof *p);
    p[n] = NULL;
    yajl_val x = yajl_tree_get(v, p, yajl_t_any);
    if (!x) return -1;
    if (YAJL_IS_NUMBER(x)) { *out = YAJL_GET_DOUBLE(x); return 0; }
    if (YAJL_IS_TRUE(x)) { *out = 1; return 0; }
    if (YAJL_IS_FALSE(x)) { *out = 0; return 0; }
    return -1;
}

/* The field's value: the path as written, else with "after" put in at the
 * first place where that names a value (pressure.max -> pressure.after.max,
 * totals.asks -> totals.asks.after).  *used: the path that named it. */
static int field_value(yajl_val v, const CliFailIf *f, double *out, char *used, size_t cap)
{
    char buf[sizeof f->field];
    memcpy(buf, f->field, sizeof buf);
    const char *path[16];
    int n = 0;
    for (char *s = strtok(buf, "."); s; s = strtok(NULL, ".")) {
        if (n == 14) return -1;
        path[n++] = s;
    }
    if (lookup(v, path, n, out) == 0) { snprintf(used, cap, "%s", f->field); return 0; }
    for (int at = 1; at <= n; at++) {
        const char *q[16];
        for (int i = 0, j = 0; i <= n; i++) q[i] = i == at ? "after" : path[j++];
        if (lookup(v, q, n + 1, out) == 0) {
            size_t len = 0;
            for (int i = 0; i <= n && len < cap; i++)
                len += (size_t)snprintf(used + len, cap - len, "%s%s", i ? "." : "", q[i]);
            return 0;
        }
    }
    return -1;
}

int cli_fail_if_eval(const CliFailIf *f, int n, const char *json, FILE *err)
{
    char msg[256];
    yajl_val v = yajl_tree_parse(json, msg, sizeof msg);
    if (!v) { fprintf(err, "kairos diff: the summary is not JSON (%s)\n", msg); return 1; }
    int status = 0;
    for (int i = 0; i < n && status != 2; i++) {
        double x;
        char used[160];
        if (field_value(v, &f[i], &x, used, sizeof used) != 0) {
            fprintf(err, "kairos diff: --fail-if '%s': the summary has no number '%s' (its fields: "
                    "SPEC.md 6.3, e.g. rows.added, gaining.customers, pressure.max, moved.sends)\n",
                    f[i].text, f[i].field);
            status = 2;
            break;
        }
        bool holds = false;
        switch (f[i].op) {
        case OP_LT: holds = x < f[i].number; break;
        case OP_LE: holds = x <= f[i].number; break;
        case OP_GT: holds = x > f[i].number; break;
        case OP_GE: holds = x >= f[i].number; break;
        case OP_EQ: holds = x == f[i].number; break;
        default:    holds = x != f[i].number; break;
        }
        if (holds) {
            fprintf(err, "kairos diff: --fail-if '%s' holds: %s is %.15g\n", f[i].text, used, x);
            status = 3;
        }
    }
    yajl_tree_free(v);
    return status;
}
