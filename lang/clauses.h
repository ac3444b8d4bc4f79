/* clauses.h -- the reserved words and the rule clauses, each written once.
 *
 * Read by the scanner (keyword lookup, lexer.l), the parser (rule items
 * and the "already has" check, parser.y), the formatter (clause kinds and
 * their canonical order, fmt.c) and a unit test that holds the fuzz
 * dictionary (fuzz/kairos.dict) to this list.  Adding a clause is a row in
 * KAIROS_CLAUSES, its words in KAIROS_CLAUSE_WORDS, its parser items in
 * KAIROS_ITEMS (see doc/internals/ADDING-A-CLAUSE.md). */
#ifndef KAIROS_CLAUSES_H
#define KAIROS_CLAUSES_H

#include <stdbool.h>
#include <stddef.h>

/* Reserved words: X(TOKEN, "word", FMT).  TOKEN is the parser's token
 * (lang/parser.y declares it); FMT is 1 when the formatter treats the word
 * as a keyword -- after it `(` is not a call and `-` is a prefix minus --
 * and 0 for the words that stand for values (true, false, best_time). */
#define KAIROS_KEYWORDS(X) \
    X(POLICY, "policy", 1) X(IMPORT, "import", 1) X(TIMEZONE, "timezone", 1) \
    X(EVENT, "event", 1) X(SURVEY, "survey", 1) X(CHANNEL, "channel", 1) \
    X(LET, "let", 1) X(CAP, "cap", 1) X(PER, "per", 1) X(ON, "on", 1) \
    X(QUIET, "quiet", 1) X(REQUIRE, "require", 1) X(CONSENT, "consent", 1) \
    X(RULE, "rule", 1) X(ASK, "ask", 1) X(TASK, "task", 1) X(VIA, "via", 1) \
    X(THEN, "then", 1) X(AFTER, "after", 1) X(WHERE, "where", 1) X(EVERY, "every", 1) \
    X(AT, "at", 1) X(IF, "if", 1) X(UNLESS, "unless", 1) X(PRIORITY, "priority", 1) \
    X(VARIANT, "variant", 1) X(RETRIGGER, "retrigger", 1) X(AND, "and", 1) \
    X(OR, "or", 1) X(NOT, "not", 1) X(NO, "no", 1) X(IN, "in", 1) X(WITHIN, "within", 1) \
    X(TRUE, "true", 0) X(FALSE, "false", 0) X(BEST_TIME, "best_time", 0)

/* The rule clauses, in canonical order (`kairos fmt` prints a rule's
 * clauses in this order): X(ID, REPEATABLE, WHAT).  A clause that is not
 * REPEATABLE appears at most once in a rule; a second one is K0204 "this
 * rule already has WHAT". */
#define KAIROS_CLAUSES(X) \
    X(VIA,       false, "a `via` clause") \
    X(TRIGGER,   false, "a trigger (a rule has exactly one `after` or `every`)") \
    X(IF,        false, "an `if` clause") \
    X(UNLESS,    false, "an `unless` clause") \
    X(AT,        false, "an `at` window") \
    X(CAP,       false, "a `cap` clause") \
    X(PRIORITY,  false, "a `priority` clause") \
    X(VARIANT,   true,  "a `variant` clause") \
    X(RETRIGGER, false, "an `on retrigger` clause")

/* The words that start a clause: X(ID, "word", "next word" or NULL).  A
 * clause whose row has a next word starts only where both words stand
 * (`on retrigger`; `on` alone continues a top-level declaration). */
#define KAIROS_CLAUSE_WORDS(X) \
    X(VIA, "via", NULL) X(TRIGGER, "after", NULL) X(TRIGGER, "every", NULL) \
    X(IF, "if", NULL) X(UNLESS, "unless", NULL) X(AT, "at", NULL) X(CAP, "cap", NULL) \
    X(PRIORITY, "priority", NULL) X(VARIANT, "variant", NULL) \
    X(RETRIGGER, "on", "retrigger")

/* The parser's rule items (one grammar alternative builds each):
 * X(ITEM, CLAUSE, OPENS).  OPENS is 1 when the item starts its clause, 0
 * when it continues one (`then CH`, the `after DUR` of a reminder, the
 * `at HH:MM` of `every`); CLAUSE OTHER marks an item that is never a rule
 * clause (reported by the parser). */
#define KAIROS_ITEMS(X) \
    X(VIA, VIA, 1) X(THEN, VIA, 0) X(AFTER_DUR, VIA, 0) X(AFTER, TRIGGER, 1) \
    X(EVERY, TRIGGER, 1) X(EVERY_AT, TRIGGER, 0) X(AT_WINDOW, AT, 1) X(AT_BEST, AT, 1) \
    X(IF, IF, 1) X(UNLESS, UNLESS, 1) X(CAP, CAP, 1) X(PRIORITY, PRIORITY, 1) \
    X(VARIANT, VARIANT, 1) X(RETRIGGER, RETRIGGER, 1) X(ON_CHANNELS, OTHER, 0)

typedef enum KClause {
#define KCL_ENUM_(id, rep, what) KCL_##id,
    KAIROS_CLAUSES(KCL_ENUM_)
#undef KCL_ENUM_
    KCL_OTHER,                    /* not a clause (tokens inside one) */
} KClause;

typedef struct KClauseInfo {
    bool repeatable;
    const char *what;             /* "a `via` clause" */
} KClauseInfo;

/* The table row of each clause, indexed by KClause (KCL_OTHER excluded). */
static const KClauseInfo kclause_info[] = {
#define KCL_INFO_(id, rep, what) [KCL_##id] = { rep, what },
    KAIROS_CLAUSES(KCL_INFO_)
#undef KCL_INFO_
};

typedef struct KClauseWord { KClause clause; const char *word, *next; } KClauseWord;

static const KClauseWord kclause_words[] = {
#define KCL_WORD_(id, w, nx) { KCL_##id, w, nx },
    KAIROS_CLAUSE_WORDS(KCL_WORD_)
#undef KCL_WORD_
};

/* The first word of clause c ("on" for `on retrigger`). */
static inline const char *kclause_word(KClause c)
{
    for (size_t i = 0; i < sizeof kclause_words / sizeof kclause_words[0]; i++)
        if (kclause_words[i].clause == c) return kclause_words[i].word;
    return "?";
}

#endif /* KAIROS_CLAUSES_H */
