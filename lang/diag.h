/* diag.h -- sources and diagnostics (prefix kd_).
 *
 * A KSources owns the text of every file the front end reads (the policy, the
 * prelude, imported stdlib modules).  Locations everywhere in lang/ are
 * KSpan values: a source id plus a half-open byte range [lo, hi).  Line and
 * column are computed only when a diagnostic is printed; columns count
 * characters (UTF-8 code points), not bytes, from 1.
 *
 * Diagnostics are collected in a KDiags and printed at the end, sorted by
 * source and offset, so that every error of a file is reported.
 */
#ifndef KAIROS_DIAG_H
#define KAIROS_DIAG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>

typedef struct KSpan {
    uint32_t src;       /* index into KSources */
    uint32_t lo, hi;    /* byte offsets, half-open */
} KSpan;

typedef struct KSource {
    char *name;         /* as shown in messages: the path, or "std/prelude" */
    char *text;         /* NUL-terminated copy of the bytes */
    size_t len;
    bool builtin;       /* embedded stdlib text */
    uint32_t *line_starts;  /* cache: byte offset of each line, built on first use */
    uint32_t nlines;
    uint32_t col_off, col_val;  /* cache: the last column computed (for long lines) */
} KSource;

typedef struct KSources {
    KSource *v;
    uint32_t n, cap;
} KSources;

void     kd_sources_init(KSources *s);
void     kd_sources_free(KSources *s);
/* Adds a copy of text; returns its id. */
uint32_t kd_source_add(KSources *s, const char *name, const char *text, size_t len, bool builtin);
/* Reads a file; returns its id, or UINT32_MAX with errno set. */
uint32_t kd_source_read(KSources *s, const char *path);
/* The largest policy file (SPEC 9.1): 2 GiB - 1 bytes, the scanner's int
 * length.  Readers check it before reading (a regular file's size) and
 * while reading (a device or pipe: /dev/zero), failing with EFBIG. */
#define KD_MAX_SOURCE ((size_t)0x7fffffff)

/* 1-based line and character column of a byte offset. */
void kd_line_col(const KSource *src, uint32_t off, uint32_t *line, uint32_t *col);

typedef enum { KD_ERROR, KD_WARNING, KD_NOTE } KSeverity;

typedef struct KDiag {
    KSeverity sev;
    KSpan span;
    const char *code;   /* stable code, e.g. "K0101"; see SPEC.md */
    char *msg;
    char *hint;         /* may be NULL */
    char *file;         /* file name when span.src == KD_NO_SOURCE (cannot read) */
    uint32_t group;     /* index of the diagnostic a note belongs to (itself otherwise) */
} KDiag;

/* At most this many diagnostics (notes excluded) are kept and printed; the
 * rest are counted and summed up in one line. */
#define KD_MAX_DIAGS 200
/* A message or hint longer than this many bytes is cut (it quotes a very
 * long name): SPEC 9.1. */
#define KD_MSG_MAX 1000

/* span.src of a diagnostic about a whole file that has no source text. */
#define KD_NO_SOURCE UINT32_MAX

typedef struct KDiags {
    KDiag *v;
    uint32_t n, cap;
    uint32_t nerrors, nwarnings;
    bool werror;        /* --Werror: warnings count as errors */
    uint32_t dropped;   /* diagnostics not kept beyond KD_MAX_DIAGS (still counted) */
    uint32_t dropped_warnings;  /* of which warnings */
    uint32_t nnotes;
    uint32_t lost;      /* diagnostics not recorded for want of memory (counted) */
    bool last_dropped;
    bool mute_warnings; /* warnings (with their hints and notes) are not recorded */
    bool mute_notes;    /* notes that stand alone (lints such as K0707) are not recorded;
                           notes attached to an error or warning still are */
    const KSources *sources;
} KDiags;

void kd_init(KDiags *d, const KSources *sources);
void kd_free(KDiags *d);
/* Records a diagnostic; code is a static string; fmt is printf-style. */
void kd_add(KDiags *d, KSeverity sev, KSpan span, const char *code,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Attaches a hint to the last diagnostic added. */
void kd_hint(KDiags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a note attached to the last diagnostic (printed right after it,
 * whatever its own position). */
void kd_note(KDiags *d, KSpan span, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error about a whole file without source text: "FILE: error: MSG". */
void kd_file_error(KDiags *d, const char *file, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define kd_error(d, span, code, ...)   kd_add((d), KD_ERROR, (span), (code), __VA_ARGS__)
#define kd_warning(d, span, code, ...) kd_add((d), KD_WARNING, (span), (code), __VA_ARGS__)

/* The errors and warnings as kd_print shows them: an exact duplicate once,
 * warnings as errors under werror, those beyond KD_MAX_DIAGS included;
 * notes are not counted. */
void kd_counts(const KDiags *d, uint32_t *errors, uint32_t *warnings);

/* True when there is an error (or a warning under werror). */
bool kd_failed(const KDiags *d);

typedef enum { KD_FMT_TEXT, KD_FMT_JSON, KD_FMT_GITHUB, KD_FMT_SARIF } KDiagFormat;

/* Prints all diagnostics, sorted by (source, offset), in the given format.
 * Text format (fixed):   FILE:LINE:COL: error: MESSAGE
 *                        the source line
 *                        a caret under COL and ~~~ under the rest of the span
 *                        "      = hint: ..." when there is a hint
 * Notes follow the diagnostic they belong to; exact duplicates are
 * printed once.                                                          */
void kd_print(const KDiags *d, FILE *out, KDiagFormat fmt, bool color);

/* The print order of the diagnostics (sorted, exact duplicates removed, a
 * note right after the diagnostic it belongs to): indexes into d->v, *n of
 * them.  Caller frees; NULL when there are none. */
uint32_t *kd_sorted(const KDiags *d, uint32_t *n);
/* The severity a diagnostic is reported with (a warning under werror is an error). */
KSeverity kd_effective(const KDiags *d, const KDiag *g);

/* The catalogue of stable codes (lang/codes.c, SPEC.md 2.2 and 6.2). */
typedef struct KCodeInfo {
    const char *code;       /* "K0101" */
    KSeverity level;        /* default severity */
    const char *summary;    /* a short description */
    const char *anchor;     /* the SPEC.md section, as a GitHub heading anchor */
} KCodeInfo;
const KCodeInfo *kd_codes(size_t *n);
/* Index of code in the catalogue, or -1. */
int kd_code_index(const char *code);

/* Writes s as a JSON string (quotes, backslashes and control characters
 * escaped; other bytes as they are). */
void kd_json_str(FILE *out, const char *s);

/* Edit distance for did-you-mean hints. */
unsigned kd_edit_distance(const char *a, const char *b);
/* True when cand is a plausible correction of typed (small edit distance,
 * scaled by length; never for equal names). */
bool kd_close_name(const char *typed, const char *cand);
/* The edit distance of cand from typed when cand is close (as for
 * kd_close_name), else UINT_MAX. */
unsigned kd_name_distance(const char *typed, const char *cand);
/* The edit distance of a and b (as kd_edit_distance) when it is at most
 * limit, whatever their lengths (0 for equal names), else UINT_MAX. */
unsigned kd_distance_at_most(const char *a, const char *b, unsigned limit);

#endif
