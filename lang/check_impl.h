/* check_impl.h -- private to the checker (check.c, check_expr.c): the
 * checking state and the expression context. */
#ifndef KAIROS_CHECK_IMPL_H
#define KAIROS_CHECK_IMPL_H

#include "lang.h"

#define KC_NONE UINT32_MAX
/* Lets may use lets this many levels deep (the code generator inlines them). */
#define KC_MAX_LET_DEPTH 100

/* An open-addressing hash index from names to ids (malloc'd). */
typedef struct KIndex { const char **keys; uint32_t *ids; uint32_t cap, n; } KIndex;

/* A bare name of the policy read as an attribute of an event whose
 * attributes are not declared (check_names.c). */
typedef struct KBareUse {
    const char *name;
    KSpan span;
    uint32_t event;               /* KC_NONE: the trigger, not known */
    bool counted;                 /* the event counted by count(E where ...) */
    bool ends_count;              /* the last operand of that where, before the count's
                                     `within` (K0607 unless it is an event: K0606) */
    KSpan window;                 /* that `within`'s duration */
} KBareUse;

typedef enum { LET_UNSEEN = 0, LET_ACTIVE, LET_DONE, LET_BAD } KLetState;

typedef struct KCheck {
    KProgram *p;
    KDiags *d;
    KlOptions opt;
    uint32_t policy_src;          /* source id of the policy file */
    KLetState *let_state;         /* per let id */
    KType *let_type;              /* type in the neutral context */
    uint32_t *let_stack;          /* lets being checked, for cycle messages */
    uint32_t nlet_stack;
    KSpan *event_policy_use;      /* per event id: first use from the policy (hi == 0: none) */
    uint32_t *event_uses;         /* per event id: number of uses */
    uint32_t cap_events;
    unsigned depth;               /* let nesting while checking use sites */
    KIndex event_index, attr_index, rule_index, survey_index, let_index;   /* name -> id */
    uint64_t *let_size;           /* per let: its nodes with its lets written out (arena) */
    uint32_t *let_need;           /* per let: stack its code needs + 1, 0 = not known (arena) */
    uint64_t expanded, max_expanded;   /* let nodes written out at use sites so far; the budget */
    bool expansion_reported;      /* K0318 reported */
    KBareUse *bare;               /* malloc'd */
    void *bare_at;                /* GHashTable: span.lo + 1 -> index + 1 in bare */
    uint32_t nbare, capbare;
    uint32_t *attr_uses;          /* per attribute id: uses in the policy (malloc'd) */
    uint32_t cap_attr_uses;
} KCheck;

/* Lets are written out at every use (the checker re-checks them there, the
 * code generator inlines them): all uses together may write out at most
 * this many nodes, or one per byte of policy text when that is more. */
#define KC_MIN_EXPANSION ((uint64_t)1 << 20)

/* Where an expression is checked. */
typedef struct KCtx {
    KRule *rule;                  /* NULL: a let checked on its own */
    uint32_t trigger;             /* event id of the trigger, KC_NONE if none/unknown */
    bool no_trigger;              /* an `every` rule: no trigger event */
    uint32_t counted;             /* inside count(E where ...): E's id, else KC_NONE */
    bool in_where_of_trigger;     /* the `after E where` clause */
    KSpan site;                   /* use site in the policy (hi == 0: none) */
    const char *site_let;         /* the let whose body is being checked at a use site */
    unsigned where_depth;         /* count(... where ...) levels around this expression */
} KCtx;

/* count(... where ...) nests at most this deep: each level is a where-function,
 * and the verifier allows KB_MAX_NEST functions, the rule's own included. */
#define KC_MAX_WHERE_DEPTH (KB_MAX_NEST - 1)

/* check.c */
uint32_t kc_event_find(KCheck *c, const char *name);
uint32_t kc_event_use(KCheck *c, const KCtx *x, const char *name, KSpan span);
uint32_t kc_attr_id(KCheck *c, const char *name);
/* The id of an attribute name, KC_NONE if it was never seen. */
uint32_t kc_attr_find(KCheck *c, const char *name);
KType kc_event_attr(KCheck *c, const KCtx *x, uint32_t ev, const char *attr, KSpan span, uint32_t *attr_id);
uint32_t kc_survey_find(KCheck *c, const char *name);
uint32_t kc_let_find(KCheck *c, const char *name);
KType kc_let_neutral(KCheck *c, uint32_t let_id, KSpan use);
void kc_unknown_survey(KCheck *c, KName n);

/* check_names.c */
void kc_post_events(KCheck *c);
void kc_bare_use(KCheck *c, const KCtx *x, const KExpr *e, uint32_t ev);
/* Marks the bare use e as the last operand of a count's where, right before
 * the count's `within` (its duration at window): K0607 in kc_bare_names,
 * unless the name is an event's (K0606). */
void kc_bare_ends_count(KCheck *c, const KExpr *e, KSpan window);
void kc_attr_used(KCheck *c, uint32_t id, KSpan span);
void kc_bare_names(KCheck *c);

/* check_expr.c */
KType kc_expr(KCheck *c, const KCtx *x, KExpr *e);
/* Checks e and reports unless its type is bool (untyped is accepted). */
void kc_cond(KCheck *c, const KCtx *x, KExpr *e, const char *where);
/* After the lets' neutral checks: each let's size with its lets written out,
 * and the expansion budget (K0318). */
void kc_let_sizes(KCheck *c);
/* For a rule checked without errors: the stack its code needs, at most
 * KB_MAX_STACK per function (K0421). */
void kc_rule_budget(KCheck *c, KRule *r);

#endif
