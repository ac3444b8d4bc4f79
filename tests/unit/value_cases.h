/* value_cases.h -- one table of operations on constants, with the value
 * each must give.  test_codegen.c folds every case at compile time,
 * test_vm.c executes every case in the VM: both must give `want`, so
 * folding and execution agree (both call lang/value.c). */
#ifndef KAIROS_VALUE_CASES_H
#define KAIROS_VALUE_CASES_H
#include <stdint.h>
#include <stdbool.h>
#include "../../lang/bytecode.h"

typedef struct CaseVal { uint8_t tag; double num; int64_t i; bool b; const char *s; } CaseVal;
typedef struct ValueCase { uint32_t op; CaseVal a, b, want; } ValueCase;   /* NEG, NOT: a only */

#define VN(x)  { .tag = KB_NUM, .num = (x) }
#define VD(x)  { .tag = KB_DUR, .i = (x) }
#define VW(x)  { .tag = KB_WEEKDAY, .i = (x) }
#define VB(x)  { .tag = KB_BOOL, .b = (x) }
#define VS(x)  { .tag = KB_STR, .s = (x) }
#define VU     { .tag = KB_UNKNOWN }
#define V0     { .tag = KB_UNKNOWN }

static const ValueCase value_cases[] = {
    { KB_OP_ADD, VN(2), VN(3), VN(5) },
    { KB_OP_ADD, VN(1e308), VN(1e308), VN(1.0 / 0.0) },
    { KB_OP_ADD, VD(60), VD(30), VD(90) },
    { KB_OP_ADD, VD(INT64_MAX - 1), VD(5), VU },                /* overflow */
    { KB_OP_SUB, VN(2), VN(3), VN(-1) },
    { KB_OP_SUB, VD(10), VD(40), VD(-30) },
    { KB_OP_SUB, VD(INT64_MIN + 1), VD(5), VU },                /* overflow */
    { KB_OP_MUL, VN(4), VN(2.5), VN(10) },
    { KB_OP_MUL, VD(60), VN(1.5), VD(90) },
    { KB_OP_MUL, VN(2), VD(3600), VD(7200) },
    { KB_OP_DIV, VN(7), VN(2), VN(3.5) },
    { KB_OP_DIV, VN(1), VN(0), VU },                            /* division by zero */
    { KB_OP_DIV, VN(0), VN(0), VU },
    { KB_OP_DIV, VD(60), VN(2), VD(30) },
    { KB_OP_DIV, VD(60), VN(0), VU },
    { KB_OP_DIV, VD(90), VD(30), VN(3) },
    { KB_OP_DIV, VD(90), VD(0), VU },
    { KB_OP_EQ, VN(1), VN(1), VB(true) },
    { KB_OP_NE, VN(1), VN(1), VB(false) },
    { KB_OP_LT, VN(1), VN(2), VB(true) },
    { KB_OP_GE, VN(-0.0), VN(0), VB(true) },
    { KB_OP_GT, VD(172800), VD(86400), VB(true) },
    { KB_OP_LE, VD(86400), VD(86400), VB(true) },
    { KB_OP_EQ, VW(2), VW(2), VB(true) },
    { KB_OP_LT, VW(4), VW(2), VB(false) },
    { KB_OP_EQ, VS("a"), VS("a"), VB(true) },
    { KB_OP_LT, VS("a"), VS("b"), VB(true) },
    { KB_OP_GT, VS("ab"), VS("a"), VB(true) },
    { KB_OP_LT, VS(""), VS("a"), VB(true) },
    { KB_OP_NE, VS("x"), VS("y"), VB(true) },
    { KB_OP_EQ, VB(true), VB(false), VB(false) },
    { KB_OP_AND, VB(true), VB(false), VB(false) },
    { KB_OP_AND, VB(true), VB(true), VB(true) },
    { KB_OP_OR, VB(false), VB(true), VB(true) },
    { KB_OP_OR, VB(false), VB(false), VB(false) },
    { KB_OP_NOT, VB(true), V0, VB(false) },
    { KB_OP_NEG, VN(5), V0, VN(-5) },
    { KB_OP_NEG, VD(60), V0, VD(-60) },
};
#define NVALUE_CASES (sizeof value_cases / sizeof value_cases[0])

#endif
