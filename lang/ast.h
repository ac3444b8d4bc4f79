/* ast.h -- the syntax tree of a policy (prefix ka_), shared by the parser
 * (lang/parser.y, lang/lexer.l), the checker (lang/check.c), the code
 * generator (lang/codegen.c) and the formatter.
 *
 * Every node lives in one arena per compilation (KArena) and is freed with
 * it in one call.  Every node carries a KSpan (byte offsets).
 *
 * The parser builds the tree; the checker fills in the fields marked
 * "checker:" (types and name resolution); the code generator reads both.
 */
#ifndef KAIROS_AST_H
#define KAIROS_AST_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "diag.h"

/* ---- arena ---------------------------------------------------------- */

typedef struct KArenaBlock KArenaBlock;
typedef struct KArena { KArenaBlock *head; } KArena;

void  ka_arena_init(KArena *a);
void  ka_arena_free(KArena *a);
void *ka_alloc(KArena *a, size_t n);              /* zeroed, 16-aligned */
char *ka_strndup(KArena *a, const char *s, size_t n);

/* ---- types ---------------------------------------------------------- */

typedef enum KType {
    KT_ERROR = 0,   /* already reported; suppresses cascades */
    KT_UNTYPED,     /* attribute of an undeclared event or a trait: takes the context's type */
    KT_NUMBER,
    KT_STRING,
    KT_BOOL,        /* three-valued: true, false, unknown */
    KT_DURATION,    /* seconds */
    KT_TIME,        /* Unix seconds, UTC */
    KT_WEEKDAY,     /* 0 = mon .. 6 = sun */
} KType;

const char *ka_type_name(KType t);   /* "number", "string", ... */

/* ---- expressions ---------------------------------------------------- */

typedef enum KExprKind {
    KEX_NUM,       /* num */
    KEX_STR,       /* str, slen (escapes decoded; may hold NUL) */
    KEX_BOOL,      /* bval */
    KEX_DUR,       /* dur (seconds) */
    KEX_WEEKDAY,   /* weekday (0..6) */
    KEX_NAME,      /* name: a let, now/hour/weekday, an event (operand of
                     within/no/count...), or an attribute */
    KEX_FIELD,     /* base.name: trigger.attr, customer.attr, last(E).attr,
                     E.attr (inside sum/avg/min/max) */
    KEX_CALL,      /* name(args...) [where] [within]: count since last sum avg
                     min max asked responded */
    KEX_UNARY,     /* op a */
    KEX_BINARY,    /* a op b */
    KEX_IN,        /* a in [items] */
    KEX_WITHIN,    /* a within dur_expr (a should name an event) */
} KExprKind;

typedef enum KOp {
    KOP_NEG, KOP_NOT, KOP_NO,                          /* unary */
    KOP_ADD, KOP_SUB, KOP_MUL, KOP_DIV,                /* arithmetic */
    KOP_EQ, KOP_NE, KOP_LT, KOP_LE, KOP_GT, KOP_GE,    /* comparison */
    KOP_AND, KOP_OR,
} KOp;

/* What a name (KEX_NAME, or the name of a KEX_FIELD) resolved to. */
typedef enum KRes {
    KRES_NONE = 0,
    KRES_LET,           /* res_let */
    KRES_NOW, KRES_HOUR, KRES_WEEKDAY_NOW,
    KRES_EVENT,         /* res_id = event id */
    KRES_SURVEY,        /* res_id = survey id */
    KRES_TRIGGER_ATTR,  /* res_id = attribute id: attribute of the trigger event */
    KRES_EVENT_ATTR,    /* res_id = attribute id: attribute of the event being
                         counted/aggregated (inside count(... where ...)) */
    KRES_TRAIT,         /* res_id = attribute id: customer.attr */
} KRes;

typedef struct KExpr KExpr;
typedef struct KDecl KDecl;

struct KExpr {
    KExprKind kind;
    KSpan span;
    bool paren;             /* written inside ( ) */
    bool bad;               /* KEX_STR: the lexer reported it (unclosed, a bad escape or
                               byte): typed KT_ERROR, so nothing else is said of it */
    union {
        double num;
        struct { char *str; size_t slen; };
        bool bval;           /* KEX_BOOL */
        int64_t dur;
        int weekday;
        char *name;         /* KEX_NAME; KEX_CALL function name */
    };
    KOp op;                 /* KEX_UNARY, KEX_BINARY */
    KExpr *a, *b;           /* operands; KEX_FIELD: a = base, name = field;
                               KEX_WITHIN: a = operand, b = duration expr */
    char *field;            /* KEX_FIELD: the field name */
    KSpan field_span;
    KExpr **args;           /* KEX_CALL args, KEX_IN items */
    uint32_t nargs;
    KExpr *where;           /* KEX_CALL: count(E where X) */
    KExpr *within;          /* KEX_CALL: trailing `within D` of the last
                               argument, peeled off by the parser */

    uint32_t depth;         /* parser: nesting depth (bounded, see SPEC) */

    /* checker: */
    KType type;
    KRes res;
    uint32_t res_id;
    KDecl *res_let;
};

/* ---- declarations --------------------------------------------------- */

typedef enum KDeclKind {
    KDECL_POLICY, KDECL_IMPORT, KDECL_TIMEZONE, KDECL_EVENT, KDECL_SURVEY, KDECL_CHANNEL,
    KDECL_LET, KDECL_CAP, KDECL_QUIET, KDECL_CONSENT, KDECL_RULE,
} KDeclKind;

typedef struct KName {            /* a name with its location */
    char *s;
    KSpan span;
} KName;

typedef struct KNameList {
    KName *v;
    uint32_t n;
} KNameList;

typedef struct KAttrDecl {
    KName name;
    KType type;                   /* number, string, bool, time */
    KSpan type_span;
} KAttrDecl;

typedef enum KPeriod {
    KPER_DAY, KPER_WEEK, KPER_MONTH, KPER_QUARTER, KPER_YEAR,
    KPER_DURATION,                /* every 90d */
} KPeriod;

typedef enum KRetrigger { KRT_RESTART = 0, KRT_KEEP = 1 } KRetrigger;

typedef enum KAtKind { KAT_NONE = 0, KAT_WINDOW, KAT_BEST_TIME } KAtKind;

typedef struct KAttempt {         /* one step of a `via` chain */
    KName channel;
    int64_t after;                /* seconds after the previous attempt; 0 for the first */
    KSpan span;
} KAttempt;

typedef struct KVariant {
    KName name;
    double pct;                   /* 0..100, integral */
    bool has_delay;
    int64_t delay;                /* replaces the trigger's + DUR */
    bool has_channel;
    KName channel;                /* replaces the first attempt's channel */
    KSpan span;
} KVariant;

/* Clause presence: each clause's span, hi == 0 when absent. */
typedef struct KRule {
    KName name;                   /* name.s NULL when unnamed; default name
                                     SURVEY@LINE is set by the checker */
    char *default_name;           /* checker: the rule's effective name */
    bool is_task;
    KName target;                 /* survey (ask) or task name */
    KSpan kw_span;                /* the `ask`/`task` keyword */

    KSpan via_span;
    KAttempt *attempts;           /* via chain; nattempts == 0: default email */
    uint32_t nattempts;

    KSpan after_span;             /* trigger `after E [+ D] [where X]` */
    KName after_event;
    bool has_delay;
    int64_t delay;
    KExpr *where;

    KSpan every_span;             /* trigger `every PERIOD [at HH:MM]` */
    KPeriod period;
    int64_t period_dur;           /* KPER_DURATION */
    int every_at;                 /* minutes after local midnight, -1 if none */

    KSpan if_span;    KExpr *if_expr;
    KSpan unless_span; KExpr *unless_expr;

    KSpan at_span;                /* `at DAYS HH:MM-HH:MM` or `at best_time(E)` */
    KAtKind at_kind;
    uint8_t at_days;              /* bit d set = weekday d allowed (0=mon) */
    int at_start, at_end;         /* minutes after midnight; end may be 1440 */
    KName best_event;

    KSpan cap_span; uint32_t cap_n; int64_t cap_window;
    KSpan priority_span; int32_t priority;
    KVariant *variants; uint32_t nvariants;
    KSpan retrigger_span; KRetrigger retrigger;

    uint32_t index;               /* checker: declaration order among rules */
} KRule;

struct KDecl {
    KDeclKind kind;
    KSpan span;                   /* whole declaration */
    KDecl *next;                  /* next declaration of the file */
    union {
        struct { char *str; KSpan str_span; } policy, import, timezone;
        struct { KName name; KAttrDecl *attrs; uint32_t nattrs; bool has_body; } event;
        struct { KName name; bool has_scale; double scale_lo, scale_hi; } survey;
        struct { KName name; } channel;
        struct { KName name; KExpr *value; } let;
        struct { uint32_t n; int64_t window; KNameList channels; } cap;
        struct { int start, end; KNameList channels; } quiet;   /* minutes */
        struct { KNameList channels; } consent;
        KRule rule;
    };
};

/* Comments are kept for the formatter: every comment of a file, in order.
 * The span covers the `#` up to (not including) the end of the line. */
typedef struct KComment { KSpan span; } KComment;

/* A parsed file. */
typedef struct KFile {
    uint32_t src;                 /* source id */
    KDecl *decls;                 /* in source order */
    KComment *comments;           /* every comment, in source order */
    uint32_t ncomments;
} KFile;

#endif
