/* bytecode.h -- the bytecode image and the .kbc file (prefix kb_).
 *
 * This header is the whole contract between lang/ (which produces a KImage,
 * by compiling or by loading a .kbc file) and runtime/ (which executes one).
 * The runtime includes this header and nothing else from lang/.
 *
 * Code is an array of 32-bit words.  An instruction is one opcode word
 * followed by its operand words (the count is fixed per opcode, see
 * KB_OPCODES).  Jump operands are signed offsets in words, relative to the
 * word after the instruction.  A function is a range of code words; it
 * leaves exactly one value on the stack and ends with RET.
 *
 * Values on the stack are typed (KbValue): unknown, number, string, bool,
 * duration, time, weekday.  Every operation on unknown yields unknown,
 * except AND/OR/NOT which follow Kleene's three-valued logic.
 */
#ifndef KAIROS_BYTECODE_H
#define KAIROS_BYTECODE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define KB_NONE       UINT32_MAX          /* "no index" operand */
#define KB_FOREVER    INT64_MAX           /* a window with no bound */
#define KB_MAX_STACK  256                 /* verifier bound on stack depth */
#define KB_MAX_CHANNELS 64                /* channel sets are 64-bit masks */
#define KB_MAX_NEST   32                  /* verifier bound on nested COUNT where-functions */

/* Value tags, used by constants, by the type operands of ATTR/TATTR/TRAIT/
 * LAST, and by the VM. */
typedef enum KbTag {
    KB_UNKNOWN = 0, KB_NUM, KB_STR, KB_BOOL, KB_DUR, KB_TIME, KB_WEEKDAY,
    KB_UNTYPED,     /* only as an expected-type operand: accept number or string as is */
} KbTag;

/* ---- instruction set -------------------------------------------------
 * X(NAME, NOPERANDS, STACK_IN, STACK_OUT, "doc")
 * Every entry's doc matches the opcode's entry in SPEC.md.  IN_N (for IN)
 * marks a pop count taken from the operand.                            */
#define KB_IN_N 255
#define KB_OPCODES(X) \
  X(CONST,    1, 0, 1, "CONST k: push constant k") \
  X(TRUE,     0, 0, 1, "TRUE: push true") \
  X(FALSE,    0, 0, 1, "FALSE: push false") \
  X(UNKNOWN,  0, 0, 1, "UNKNOWN: push unknown") \
  X(ATTR,     2, 0, 1, "ATTR a t: push attribute a of the current event (the counted event inside a where-function, else the trigger), coerced to tag t; unknown if absent or not coercible") \
  X(TATTR,    2, 0, 1, "TATTR a t: push attribute a of the trigger event, coerced to tag t") \
  X(TRAIT,    2, 0, 1, "TRAIT a t: push the customer's profile trait a (from identify), coerced to tag t") \
  X(NOW,      0, 0, 1, "NOW: push the send time (time)") \
  X(HOUR,     0, 0, 1, "HOUR: push the local hour 0-23 of the send time (number)") \
  X(WEEKDAY,  0, 0, 1, "WEEKDAY: push the local weekday of the send time") \
  X(COUNT,    3, 0, 1, "COUNT e f w: push the number of the customer's events e in (now - w, now] (w: constant index of a duration, or NONE for all time) for which function f (NONE: always) returns true") \
  X(SINCE,    1, 0, 1, "SINCE e: push now minus the time of the customer's last event e at or before now (duration); unknown if none") \
  X(LAST,     3, 0, 1, "LAST e a t: push attribute a (coerced to t) of the customer's last event e at or before now; unknown if none or absent") \
  X(AGG,      4, 0, 1, "AGG k e a w: push sum(k=0) avg(1) min(2) max(3) of numeric attribute a over events e in (now - w, now] (w as for COUNT); sum of none is 0, avg/min/max of none are unknown") \
  X(ASKED,    2, 0, 1, "ASKED s w: push whether survey s was sent to the customer (an ask's first sent attempt, by any rule) in (now - w, now] (w as for COUNT)") \
  X(RESPONDED,2, 0, 1, "RESPONDED s w: push whether a response event with survey == name of s arrived in (now - w, now]") \
  X(NEG,      0, 1, 1, "NEG: negate a number or duration") \
  X(ADD,      0, 2, 1, "ADD: a + b (number+number, duration+duration, time+duration)") \
  X(SUB,      0, 2, 1, "SUB: a - b (number, duration, time-duration -> time, time-time -> duration)") \
  X(MUL,      0, 2, 1, "MUL: a * b (number*number, duration*number, number*duration)") \
  X(DIV,      0, 2, 1, "DIV: a / b (number/number, duration/number -> duration, duration/duration -> number); division by zero is unknown") \
  X(EQ,       0, 2, 1, "EQ: a == b; unknown if either is unknown") \
  X(NE,       0, 2, 1, "NE: a != b") \
  X(LT,       0, 2, 1, "LT: a < b (numbers, durations, times, weekdays; strings byte-wise)") \
  X(LE,       0, 2, 1, "LE: a <= b") \
  X(GT,       0, 2, 1, "GT: a > b") \
  X(GE,       0, 2, 1, "GE: a >= b") \
  X(NOT,      0, 1, 1, "NOT: Kleene not: true<->false, unknown stays unknown") \
  X(AND,      0, 2, 1, "AND: Kleene and of a and b") \
  X(OR,       0, 2, 1, "OR: Kleene or of a and b") \
  X(JFALSE,   1, 1, 1, "JFALSE off: if the top is false, jump by off keeping it; else pop it (short-circuit of AND)") \
  X(JTRUE,    1, 1, 1, "JTRUE off: if the top is true, jump by off keeping it; else pop it (short-circuit of OR)") \
  X(JUMP,     1, 0, 0, "JUMP off: jump by off") \
  X(IN,       1, KB_IN_N, 1, "IN n: pop n items then a value x; push true if x equals an item, else unknown if x or an item is unknown, else false") \
  X(RET,      0, 1, 0, "RET: return the top of the stack as the function's value") \
  X(DUP,      0, 1, 2, "DUP: push a copy of the top (short-circuit AND/OR: a; DUP; JFALSE L; b; L: AND)")

typedef enum KbOp {
#define KB_X_ENUM(name, nops, in, out, doc) KB_OP_##name,
    KB_OPCODES(KB_X_ENUM)
#undef KB_X_ENUM
    KB_OP__COUNT
} KbOp;

typedef struct KbOpInfo {
    const char *name;
    uint8_t noperands, stack_in, stack_out;
    const char *doc;
} KbOpInfo;
extern const KbOpInfo kb_opinfo[KB_OP__COUNT];

/* ---- the image ------------------------------------------------------ */

typedef struct KbConst {
    uint8_t tag;                  /* KbTag: NUM, STR, BOOL, DUR, TIME, WEEKDAY */
    union { double num; int64_t i; uint32_t str; bool b; };   /* str: string index */
} KbConst;

typedef struct KbFunc {
    uint32_t start, len;          /* code words */
    uint32_t max_stack;           /* computed by the verifier */
} KbFunc;

typedef enum KbTrigger { KB_TRIG_AFTER = 0, KB_TRIG_EVERY = 1 } KbTrigger;
typedef enum KbPeriod {
    KB_PER_DAY = 0, KB_PER_WEEK, KB_PER_MONTH, KB_PER_QUARTER, KB_PER_YEAR,
    KB_PER_DURATION,
} KbPeriod;
typedef enum KbAt { KB_AT_NONE = 0, KB_AT_WINDOW, KB_AT_BEST_TIME } KbAt;
/* AGG's first operand: which aggregate. */
typedef enum KbAgg { KB_AGG_SUM = 0, KB_AGG_AVG = 1, KB_AGG_MIN = 2, KB_AGG_MAX = 3 } KbAgg;
/* KbRule.retrigger: what a trigger does while the rule has a pending chain. */
typedef enum KbRetrigger { KB_RETRIGGER_RESTART = 0, KB_RETRIGGER_KEEP = 1 } KbRetrigger;

typedef struct KbAttempt {
    uint32_t channel;             /* channel index */
    int64_t after;                /* seconds after the previous attempt (0 for the first) */
} KbAttempt;

typedef struct KbVariant {
    uint32_t name;                /* string index */
    uint32_t pct;                 /* 0..100 */
    bool has_delay;  int64_t delay;
    uint32_t channel;             /* KB_NONE: keep the chain's first channel */
} KbVariant;

/* A rule's fields, in the order of the .kbc file: X(KIND, NAME, SHOW).
 * From this one list come KbRule, the .kbc writer and reader (lang/kbc.c),
 * KB_RULE_MIN_SIZE and the disassembler's rule summary (lang/disasm.c).
 * KIND is the encoding (KB_FIELD_TYPE_* below): u8, u32, i32, i64 (little
 * endian), flag (one byte, 0 or 1), attempts and variants (a u32 count,
 * then the entries).  SHOW says how `kairos disasm` prints the field:
 * `hand` -- written out by its rule summary; num, dur, clock, days -- a
 * line "NAME VALUE" when the field is not 0, so that a new field is shown
 * without touching the disassembler. */
#define KB_RULE_FIELDS(X) \
    X(u32,      name,       hand)   /* string index: the effective name */ \
    X(u32,      line,       hand)   /* source line of the ask/task keyword */ \
    X(flag,     is_task,    hand) \
    X(u32,      target,     hand)   /* survey index (ask) / string index of the task name (task) */ \
    X(u8,       trigger,    hand)   /* KbTrigger */ \
    X(u32,      event,      hand)   /* after: event index */ \
    X(i64,      delay,      hand)   /* after: + DUR (0 if none) */ \
    X(u32,      where_fn,   hand)   /* after: function index, or KB_NONE */ \
    X(u8,       period,     hand)   /* every: KbPeriod */ \
    X(i64,      period_dur, hand)   /* every: KB_PER_DURATION length */ \
    X(i32,      every_at,   hand)   /* every: minutes after local midnight, -1 none */ \
    X(u32,      if_fn,      hand)   /* function index or KB_NONE */ \
    X(u32,      unless_fn,  hand)   /* function index or KB_NONE */ \
    X(attempts, attempts,   hand)   /* >= 1; nattempts */ \
    X(flag,     has_cap,    hand) \
    X(u32,      cap_n,      hand) \
    X(i64,      cap_window, hand) \
    X(i32,      priority,   hand) \
    X(variants, variants,   hand)   /* nvariants */ \
    X(u8,       retrigger,  hand)   /* KbRetrigger */ \
    X(u8,       at,         hand)   /* KbAt */ \
    X(u8,       at_days,    hand)   /* bit d: weekday d (0 = mon) allowed */ \
    X(i32,      at_start,   hand)   /* minutes; end excluded; end may be 1440; start < end */ \
    X(i32,      at_end,     hand) \
    X(u32,      best_event, hand)   /* KB_AT_BEST_TIME: event index */

/* The C declaration and the smallest encoding of each KIND. */
#define KB_FIELD_DECL_u8(f)       uint8_t f;
#define KB_FIELD_DECL_u32(f)      uint32_t f;
#define KB_FIELD_DECL_i32(f)      int32_t f;
#define KB_FIELD_DECL_i64(f)      int64_t f;
#define KB_FIELD_DECL_flag(f)     bool f;
#define KB_FIELD_DECL_attempts(f) KbAttempt *f; uint32_t n##f;
#define KB_FIELD_DECL_variants(f) KbVariant *f; uint32_t n##f;
#define KB_FIELD_SIZE_u8       1
#define KB_FIELD_SIZE_u32      4
#define KB_FIELD_SIZE_i32      4
#define KB_FIELD_SIZE_i64      8
#define KB_FIELD_SIZE_flag     1
#define KB_FIELD_SIZE_attempts 4          /* the count; entries are 12 bytes */
#define KB_FIELD_SIZE_variants 4          /* the count; entries are 21 bytes */

typedef struct KbRule {
#define KB_RULE_DECL_(kind, name, show) KB_FIELD_DECL_##kind(name)
    KB_RULE_FIELDS(KB_RULE_DECL_)
#undef KB_RULE_DECL_
} KbRule;

/* Encoded size of one rule with no attempts and no variants. */
#define KB_RULE_SIZE_(kind, name, show) + KB_FIELD_SIZE_##kind
enum { KB_RULE_MIN_SIZE = 0 KB_RULE_FIELDS(KB_RULE_SIZE_) };
#undef KB_RULE_SIZE_

/* The .kbc format version (lang/kbc.c writes it, kb_read accepts only it).
 * A change of KB_RULE_FIELDS changes the file: bump the version, and the
 * rule size it is known by here. */
#define KBC_VERSION 3u
_Static_assert(KBC_VERSION != 3u || KB_RULE_MIN_SIZE == 91,
               "KB_RULE_FIELDS changed the .kbc rule layout: bump KBC_VERSION");

typedef struct KbCap {            /* top-level cap N per WINDOW [on channels] */
    uint32_t n;
    int64_t window;
    uint64_t channels;            /* mask; all ones = every channel */
} KbCap;

typedef struct KbQuiet {          /* quiet START-END [on channels], local minutes */
    int32_t start, end;           /* start == end is empty; start > end wraps midnight */
    uint64_t channels;            /* mask; all ones = every channel */
} KbQuiet;

/* Retention: how much history of an event kind the policy can ever read.
 * The runtime keeps exactly this and nothing more. */
enum {
    KB_RET_COUNT = 1,             /* a running total count is read (count(E) with no where/window) */
    KB_RET_LAST  = 2,             /* the last event is read (since, last, best_time...) */
};
typedef struct KbRetention {
    uint8_t flags;                /* KB_RET_* */
    int64_t window;               /* keep events newer than now - window; 0 none; KB_FOREVER all */
    uint32_t *attrs;              /* attribute indexes to keep with each kept event */
    uint32_t nattrs;
} KbRetention;

/* Debug information: read only by messages and explain, never by the
 * schedule.  An attribute read of a rule's trigger event (TATTR in its
 * where/if/unless functions), once per (rule, attribute), at the first
 * place the source names it; and the lets: the instruction at code word
 * pc leaves the value of the let named name (the outermost let when
 * several end there). */
typedef struct KbAttrRead {
    uint32_t rule, attr;          /* rule index, attribute index */
    uint32_t file;                /* string index: the source file's name */
    uint32_t line, col;           /* of the name, from 1 */
    uint32_t tag;                 /* the type tag every TATTR of this rule and attribute
                                     reads it as; KB_UNTYPED when they differ (version 3) */
} KbAttrRead;
typedef struct KbLetName {
    uint32_t pc;                  /* code word of an instruction start; ascending */
    uint32_t name;                /* string index */
} KbLetName;

typedef struct KImage {
    /* strings: every name and string constant, each NUL-terminated (and
     * with an explicit length: string constants may hold NUL bytes). */
    char **strings; uint32_t *string_lens; uint32_t nstrings;

    uint32_t policy_name;         /* string index */
    uint32_t timezone;            /* string index, or KB_NONE for UTC */
    uint64_t source_hash;         /* FNV-1a 64 of the source file */

    KbConst *consts;   uint32_t nconsts;
    uint32_t *code;    uint32_t ncode;
    uint32_t *lines;   /* lines[i]: source line of the instruction starting at word i (0 elsewhere) */
    KbFunc *funcs;     uint32_t nfuncs;

    uint32_t *events;  uint32_t nevents;    /* event index -> string index of its name;
                                               the reserved events are always present */
    KbRetention *retention;                 /* [nevents] */
    uint32_t *attrs;   uint32_t nattrs;     /* attribute index -> string index */
    uint32_t *channels; uint32_t nchannels; /* channel index -> string index */
    uint32_t *surveys; uint32_t nsurveys;   /* survey index -> string index */
    uint32_t *traits;  uint32_t ntraits;    /* attribute indexes read as customer.attr */

    KbRule *rules;     uint32_t nrules;     /* declaration order */
    KbCap *caps;       uint32_t ncaps;
    KbQuiet *quiets;   uint32_t nquiets;
    uint64_t consent_channels;              /* require consent on these */
    int64_t sent_window;                    /* how long the send history must be kept
                                               (longest cap / asked window; KB_FOREVER) */
    KbAttrRead *attr_reads; uint32_t nattr_reads;   /* debug: see KbAttrRead */
    KbLetName *let_names; uint32_t nlet_names;
} KImage;

/* Reserved event names (LANGUAGE.md section 5). */
#define KB_EV_IDENTIFY        "identify"
#define KB_EV_RESPONSE        "response"
#define KB_EV_OPT_OUT         "opt_out"
#define KB_EV_OPT_IN          "opt_in"
#define KB_EV_CONSENT_GRANTED "consent_granted"
#define KB_EV_CONSENT_REVOKED "consent_revoked"

/* ---- functions (lang/bytecode.c) ------------------------------------- */

void kb_free(KImage *img);

/* Looks up a string / event / attribute / channel by name; KB_NONE if absent. */
uint32_t kb_find_string(const KImage *img, const char *s);
uint32_t kb_find_event(const KImage *img, const char *name);
uint32_t kb_find_attr(const KImage *img, const char *name);
uint32_t kb_find_channel(const KImage *img, const char *name);

/* Serializes an image to the .kbc format (byte-identical for the same
 * image).  Returns 0, or -1 on out of memory. Caller frees *out. */
int kb_write(const KImage *img, uint8_t **out, size_t *outlen);

/* Loads and verifies a .kbc image from memory.  On failure returns NULL
 * and writes one message (without the file name), e.g.
 * "bad kairos bytecode: truncated at byte 412" into err. */
KImage *kb_read(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Verifies an image's code and tables (jumps, indexes, stack depth, every
 * function ends in RET) and fills funcs[].max_stack.  Returns 0 or -1 with
 * a message in err.  kb_read calls it; so does the compiler in debug. */
int kb_verify(KImage *img, char *err, size_t errlen);

/* Writes a readable listing: header, tables, per-rule summary and code
 * with source lines, retention table. */
void kb_disasm(const KImage *img, FILE *out);

/* FNV-1a 64 (used for the source hash, variants and shards). */
uint64_t kb_fnv1a64(const void *data, size_t len, uint64_t h);
#define KB_FNV_OFFSET 0xcbf29ce484222325ULL

#endif
