/* parse_impl.h -- private to the scanner (lexer.l) and the parser
 * (parser.y): the state both share while one source is parsed. */
#ifndef KAIROS_PARSE_IMPL_H
#define KAIROS_PARSE_IMPL_H

#include <setjmp.h>
#include "lang.h"
#include "clauses.h"

/* Byte-offset location of a token or a production. */
typedef struct KLoc { uint32_t lo, hi; } KLoc;

typedef struct KParse {
    KArena *arena;
    KSources *sources;
    KDiags *diags;
    uint32_t src;
    const char *text;             /* the source bytes */
    size_t len;
    uint32_t off;                 /* scanner position (byte offset) */

    KDecl *first, *last;          /* declarations read so far */
    KComment *comments;           /* malloc'd while scanning; copied to the arena */
    uint32_t ncomments, capcomments;

    int prev_tok, cur_tok;        /* the last two tokens handed to the parser */
    KLoc prev_loc, cur_loc;
    /* the layout rule (SPEC 1.3): kp_lex puts DECL_START before a token in
     * column 1 and holds that token back for the next call */
    bool held;                    /* a token is held back */
    int held_tok;
    KLoc held_loc;
    _Alignas(16) unsigned char held_val[32];   /* its YYSTYPE (parser.y asserts the size) */
    uint32_t decl_starts;         /* DECL_STARTs handed out so far */
    uint32_t decl_line;           /* the line of the last one */
    int brace_owner;              /* the last EVENT, SURVEY or VARIANT token */
    bool body_open;               /* an event's or survey's `{` is open (its `}` may be in column 1) */
    uint32_t prev_decl_line;      /* the line of the one before */
    bool recovering;              /* a syntax error, and no DECL_START since */
    bool col1_reported;           /* K0222 reported at col1_lo */
    uint32_t col1_lo;
    bool too_deep;                /* K0221 reported */
    uint32_t err_base;            /* diags->nerrors when scanning began */
    bool stopped;                 /* K0109 reported: the scanner returns end of file */
    uint32_t tok_lo;              /* start of the token being scanned */
    uint32_t bad_tok;             /* start + 1 of the last token the scanner reported (0: none) */
    uint32_t mute_until;          /* scanner errors before this offset are part of one already reported */
    uint32_t skipped_hi;          /* end of the last stray character(s) the scanner reported and
                                     skipped (K0101/K0102), 0: none; a syntax error at the next
                                     token is theirs (`a && b`: one error) */
    void *scanner;                /* the flex scanner (yyscan_t) */
    jmp_buf fatal;                /* out of memory (scanner or parser) jumps here */
} KParse;

/* Values of tokens the scanner has already reported as bad: whatever uses
 * them reports nothing more (one mistake, one error). */
#define KX_BAD_CLOCK (-1)         /* CLOCK */
#define KX_BAD_DUR   (-1)         /* DURATION (valid ones are >= 0) */
/* NUMBER: NAN */

/* Expressions nest at most this deep (checker and code generator recurse). */
#define KP_MAX_DEPTH 200

/* Allocation from the arena; on failure jumps to ps->fatal (kp_parse
 * reports "out of memory"), so it never returns NULL. */
void *kp_alloc(KParse *ps, size_t n);
char *kp_strndup(KParse *ps, const char *s, size_t n);
KSpan kp_span(const KParse *ps, KLoc l);

/* The scanner (lexer.l): creates it over ps->text (in ps->scanner), 0 or
 * -1; frees it (scanner is a yyscan_t). */
int kx_scan_begin(KParse *ps);
void kx_scan_end(void *scanner);


/* ---- parser-only helper lists ----------------------------------------- */

typedef struct KExprNode { KExpr *e; struct KExprNode *next; } KExprNode;
typedef struct KNameNode { KName name; struct KNameNode *next; } KNameNode;
typedef struct KAttrNode { KAttrDecl attr; struct KAttrNode *next; } KAttrNode;

/* One clause item of a rule, before the rule is assembled. */
typedef enum KItemKind {
#define KPI_ENUM_(item, clause, opens) KPI_##item,
    KAIROS_ITEMS(KPI_ENUM_)
#undef KPI_ENUM_
} KItemKind;

typedef struct KItem {
    KItemKind kind;
    KSpan span, kw;               /* the whole item; its keyword */
    KName name;                   /* channel, event, period, variant or retrigger word */
    bool has_delay;
    int64_t dur;
    KExpr *expr;
    int start, end;               /* clock minutes */
    uint8_t days;
    double num;
    KSpan num_span;
    KVariant *variant;
    struct KItem *next;
} KItem;

/* Variant body parts. */
typedef struct KVPart { bool is_delay; int64_t dur; KName channel; KSpan span; struct KVPart *next; } KVPart;

#endif /* KAIROS_PARSE_IMPL_H */
