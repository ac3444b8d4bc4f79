/* value.h -- the one value semantics (kval_): Kleene logic, comparison and
 * arithmetic over tagged values.  The code generator folds constants with
 * these functions (lang/codegen.c), the linter judges conditions with them
 * (lang/lint.c) and the VM executes with them (runtime/vm.c), so folding
 * cannot disagree with execution.
 *
 * Every operation on unknown gives unknown, except and/or/not (Kleene
 * logic).  A number that is NaN is unknown; division by zero is unknown;
 * an integer overflow (durations, times) is unknown; operands of types
 * that an operator does not take give unknown. */
#ifndef KAIROS_VALUE_H
#define KAIROS_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bytecode.h"

/* A value.  str is a string id: what it stands for is resolved by a
 * KValStrings (the runtime's value pool, or the code generator's
 * literals); two equal ids are equal strings. */
typedef struct KValue {
    uint8_t tag;                  /* KbTag; KB_UNKNOWN is the unknown value */
    union { double num; int64_t i; uint32_t str; bool b; };
} KValue;

/* Resolves a string id to its bytes (NULL when the id is unknown). */
typedef struct KValStrings {
    const char *(*get)(const void *ctx, uint32_t id, size_t *len);
    const void *ctx;
} KValStrings;

extern const KValue kval_unknown;

KValue kval_num(double d);                      /* NaN is unknown */
KValue kval_bool(bool b);
KValue kval_int(uint8_t tag, int64_t i);        /* KB_DUR, KB_TIME, KB_WEEKDAY */

/* 1 true, 0 false, -1 not a boolean (unknown). */
int kval_truth(const KValue *v);

/* Kleene logic: anything that is not a boolean is unknown. */
KValue kval_not(const KValue *a);
KValue kval_and(const KValue *a, const KValue *b);
KValue kval_or(const KValue *a, const KValue *b);

/* -a for a number or a duration. */
KValue kval_neg(const KValue *a);

/* op is KB_OP_ADD, SUB, MUL or DIV.  number op number; duration +- duration;
 * time +- duration; duration + time; time - time -> duration; duration *
 * number, number * duration, duration / number -> duration (truncated to
 * whole seconds); duration / duration -> number. */
KValue kval_arith(KbOp op, const KValue *a, const KValue *b);

/* Three-way comparison of two known values of one tag: -1, 0, 1; 2 when
 * they cannot be compared (different tags, an unresolvable string).
 * Strings compare byte-wise. */
int kval_compare(const KValue *a, const KValue *b, const KValStrings *ss);

/* op is KB_OP_EQ, NE, LT, LE, GT or GE: a boolean, or unknown when either
 * side is unknown or they cannot be compared. */
KValue kval_relation(KbOp op, const KValue *a, const KValue *b, const KValStrings *ss);

/* x in items[0..n): true if x equals an item, else unknown if x or an item
 * is unknown (or cannot be compared), else false. */
KValue kval_in(const KValue *x, const KValue *items, uint32_t n, const KValStrings *ss);

#endif /* KAIROS_VALUE_H */
