/* util.h -- small helpers used by every layer (ku_): "cannot happen"
 * checks, reading a whole file, durations as text, a growable byte buffer.
 * It knows nothing of the language or the runtime. */
#ifndef KAIROS_UTIL_H
#define KAIROS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ALWAYS(X) and NEVER(X) mark conditions believed always true or never
 * true (SQLite's macros): `if (NEVER(p == NULL)) return -1;`.  A debug
 * build (-DKAIROS_DEBUG: `make asan`) stops on a broken belief with an
 * assertion; a release build takes the safe fallback path the code gives. */
#ifdef KAIROS_DEBUG
#include <assert.h>
#define ALWAYS(X) ((X) ? 1 : (assert(!"ALWAYS(" #X ") failed"), 0))
#define NEVER(X)  ((X) ? (assert(!"NEVER(" #X ") failed"), 1) : 0)
#else
#define ALWAYS(X) (!!(X))
#define NEVER(X)  (!!(X))
#endif

/* ---- files ------------------------------------------------------------ */

/* Reads the whole file at path (NULL: standard input) into a new buffer
 * (*buf, NUL-terminated, *len bytes without the NUL).  max > 0: a file
 * longer than max bytes fails with EFBIG.  0, or -1 with errno set
 * (fopen's, the read's, ENOMEM, EFBIG); *buf is then untouched. */
int ku_read_file(const char *path, size_t max, char **buf, size_t *len);

/* Whether a file is bytecode (SPEC 3.1): its name ends in .kbc, or its n
 * bytes at b start with the magic 7F 4B 42 43 (or are a proper prefix of
 * it: truncated bytecode).  check and fmt refuse such a file (K0003);
 * the commands that load a policy read it as bytecode. */
bool ku_is_bytecode(const char *name, const char *b, size_t n);

/* ---- time zone names -------------------------------------------------- */

/* The one rule for what names a time zone (SPEC 2, `timezone`): the
 * policy's `timezone` (lang/check.c), an identify event's tz and an input
 * schema's zone (runtime/tz.c kz_zone), a test file's quiet tz
 * (cli/testfile.c).  Only a name it accepts may be handed to GLib's
 * g_time_zone_new_identifier, which also takes paths, POSIX TZ strings
 * and offsets, and reports a file of another format with a GLib-CRITICAL.
 *
 * ku_zone_name_form: the form of an IANA zone name: components separated
 * by '/' (none empty, so no leading or trailing '/'), each starting with
 * an ASCII letter and made of letters, digits, '_', '-' and '+' (so no
 * '.' or '..'), at most 255 bytes; not "localtime" or "posixrules" (links
 * to other zones), nor under "right/" (clocks counting leap seconds) or
 * "posix/" (copies).
 *
 * ku_zone_name: "UTC", or a name of that form whose file in the zone
 * directory ($TZDIR, else /usr/share/zoneinfo, as GLib) is a regular
 * file beginning with a TZif header. */
bool ku_zone_name_form(const char *name);
bool ku_zone_name(const char *name);

/* ---- durations as text ------------------------------------------------ */

enum { KU_DUR_BUF = 48 };         /* room for any int64 duration */

/* Writes seconds s as the language writes durations: "0s", "1d1h",
 * "1h30m", "-5m"; with one_unit, in the largest unit that divides it
 * exactly ("72h", "90m", "93784s"; days only from a week on: "14d"). */
void ku_fmt_dur(int64_t s, bool one_unit, char buf[KU_DUR_BUF]);

/* Parses the n bytes at s as a duration of the language (SPEC 2: digits
 * and a unit w, d, h, m or s, repeated with units from largest to
 * smallest, each once: "7d", "1h30m") into seconds.  KU_DUR_OK, or
 * KU_DUR_BAD (not a duration), KU_DUR_ORDER (units out of order or
 * repeated), KU_DUR_BIG (more than max seconds); *out is set only on
 * KU_DUR_OK.  The lexer and the command line's durations (--window, a
 * test file's per:) both read durations with it. */
enum { KU_DUR_OK = 0, KU_DUR_BAD = -1, KU_DUR_ORDER = -2, KU_DUR_BIG = -3 };
int ku_parse_dur(const char *s, size_t n, int64_t max, int64_t *out);

/* ---- growable arrays and text ----------------------------------------- */

/* Returns array v (items of elem bytes, capacity *cap) grown to hold at
 * least need items: the capacity doubles, from `first`.  NULL when out of
 * memory (v is then still valid, *cap unchanged). */
void *ku_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first);

/* KU_RESERVE(v, n, cap, first): makes room in array v (n items held,
 * capacity cap, cap a uint32_t or a size_t) for item n, growing it as
 * ku_grow does.  0, or -1 when out of memory (v and cap then unchanged). */
#define KU_RESERVE(v, n, cap, first) \
    ku_reserve((void **)&(v), (n), &(cap), sizeof (cap), sizeof *(v), (first))
int ku_reserve(void **v, size_t n, void *cap, size_t capsize, size_t elem, size_t first);

/* ---- quoting: CSV fields and JSON strings ----------------------------- */

/* Where quoted text goes: put(ctx, bytes, n) -- a FILE (ku_put_file), a
 * KuBuf (ku_put_buf) or the caller's own writer. */
typedef void (*KuPut)(void *ctx, const char *p, size_t n);
void ku_put_file(void *file, const char *p, size_t n);
void ku_put_buf(void *kubuf, const char *p, size_t n);

/* The decimal digits of v into buf (at least 20 bytes; no NUL); returns
 * their count. */
size_t ku_fmt_uint(uint64_t v, char *buf);

/* The n bytes at s as a CSV field, quoted (RFC 4180) only when they hold
 * a comma, a quote or a line break. */
void ku_csv_field(const char *s, size_t n, KuPut put, void *ctx);

/* The length (1 to 4) of the well-formed UTF-8 character the n bytes at
 * s start with (no overlong form, no encoded surrogate, nothing above
 * U+10FFFF; ASCII, NUL too, is 1), or 0 when they start with none (or n
 * is 0): then *bad (when not NULL) is the length (1 to 3) of the maximal
 * ill-formed subpart there -- the bytes that start a character but stop
 * short of one, or the one byte that cannot start any (Unicode 3.9, "U+FFFD
 * substitution of maximal subparts", as WHATWG and Python decode). */
size_t ku_utf8_char(const char *s, size_t n, size_t *bad);

/* The length (at least 1, n > 0) of what a terminal shows as one column at
 * s: an ASCII byte, a well-formed character, or one maximal ill-formed
 * subpart (one U+FFFD).  Columns of diagnostics (lang/diag.c) and of
 * event-log messages (ki_column) walk the text with it. */
size_t ku_utf8_step(const char *s, size_t n);

/* The line and column (both from 1; columns as ku_utf8_step counts them)
 * of byte offset off of text[0..len): where a reader that gives a byte
 * offset (libyaml's for bad UTF-8 or a control character) places a message. */
void ku_text_pos(const char *text, size_t len, size_t off, size_t *line, size_t *col);

/* Byte c as a message shows it, into out (4 bytes): control characters
 * escaped (\n \r \t, else \xHH), others as they are; its length.  Names
 * a message quotes from a log, a schema or the command line go through it,
 * so that no escape sequence or line break of theirs reaches a terminal. */
size_t ku_shown_byte(unsigned char c, char *out);

/* A message's text, printf-formatted, on f with every byte as
 * ku_shown_byte shows it (whole, however long): the one way a message
 * that quotes such names is written. */
void ku_show(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ku_vshow(FILE *f, const char *fmt, va_list ap);

/* Where to cut a text of more than at bytes so that it ends on a whole
 * character: at, moved back over the UTF-8 continuation bytes s[at] is
 * one of (s[at] must be readable). */
size_t ku_utf8_cut(const char *s, size_t at);

/* A double as the shortest of %.15g and %.17g that reads back as the
 * same double, into buf (KU_NUM_TEXT bytes); its length. */
enum { KU_NUM_TEXT = 32 };
size_t ku_num_text(double d, char *buf);

/* The n bytes at s as a JSON string with its quotes: `"` `\` \n \r \t
 * escaped, other control characters as \u00XX, well-formed UTF-8 (and DEL)
 * as it is, each maximal ill-formed subpart (ku_utf8_char) as \ufffd: the
 * one JSON string writer, so every JSON output is UTF-8 (SPEC.md 6, "JSON
 * strings"). */
void ku_json_str(const char *s, size_t n, KuPut put, void *ctx);

/* Whether the JSON text s[0..n) nests arrays and objects deeper than
 * limit (brackets inside strings not counted; the text need not be
 * valid).  yajl's tree is freed by recursion, one frame a level: a
 * reader of untrusted JSON through yajl_tree_parse refuses deeper text
 * first (KU_JSON_MAX_DEPTH). */
enum { KU_JSON_MAX_DEPTH = 512 };
/* One pass over JSON text s[0..n), strings skipped with their escapes:
 * deeper, nested more than limit levels (the pass stops there); slash, a
 * '/' outside the strings (only then can the text hold a comment); end,
 * the offset just past the first value that closes at depth 0 (n if none). */
typedef struct KuJsonShape { bool deeper, slash; size_t end; } KuJsonShape;
void ku_json_shape(const char *s, size_t n, size_t limit, KuJsonShape *out);
bool ku_json_deeper(const char *s, size_t n, size_t limit);

/* path with its symbolic links followed to the final name (which need not
 * exist: a dangling link's target); malloc'd, NULL with errno set (ELOOP
 * after 40 links).  cli/output_file.c writes there; an SQLite output
 * database is made there. */
char *ku_resolve_links(const char *path);

/* The value of the four hex digits at p (a JSON \uXXXX escape's), or -1
 * if they are not four hex digits; p must have four bytes to read. */
int ku_hex4(const char *p);

/* The n bytes at s as a string of the language with its quotes: `"` `\`
 * and line feed and tab escaped as in a policy (SPEC.md 2), other control
 * bytes and DEL as \xHH (which no policy can hold: they come from an
 * image, a log or a test file), other bytes as they are. */
void ku_lang_str(const char *s, size_t n, KuPut put, void *ctx);

/* A growable NUL-terminated text.  An allocation failure sets oom and
 * stops growing (callers check oom once at the end). */
typedef struct KuBuf {
    char *s;
    size_t n, cap;
    bool oom;
} KuBuf;

void ku_buf_add(KuBuf *b, const void *p, size_t n);
void ku_buf_str(KuBuf *b, const char *s);
void ku_buf_fmt(KuBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the text and resets b; NULL (text freed) if an allocation failed. */
char *ku_buf_take(KuBuf *b);

#endif /* KAIROS_UTIL_H */
