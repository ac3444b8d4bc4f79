/* lang.h -- the front end's one public header: parse, check, compile.
 *
 * Layers (prefixes):  kx_ scanner (lexer.l), kp_ parser (parser.y),
 * kc_ checker (check.c), kg_ code generator (codegen.c), kb_ bytecode file
 * (bytecode.h), kf_ formatter (fmt.c), kd_ diagnostics (diag.h),
 * ka_ syntax tree (ast.h), kl_ linter (lint.c), ks_ embedded standard
 * library (generated), kval_ values (value.h, shared with the VM), ku_
 * helpers (util.h).  Enum constants follow the same rooms: KEX_ expression
 * kinds, KRES_ name resolutions, KDECL_ declaration kinds (ast.h), KPI_
 * parser items, KCL_ rule clauses (clauses.h), KX_ scanner limits, KD_
 * diagnostics, KB_ bytecode.
 *
 * lang/ knows nothing of the runtime.  Its product is a KImage (bytecode.h).
 */
#ifndef KAIROS_LANG_H
#define KAIROS_LANG_H

#include "diag.h"
#include "ast.h"
#include "bytecode.h"

/* ---- embedded standard library -------------------------------------- */

/* Text of an embedded stdlib module by import name ("std/prelude",
 * "std/support", ...), or NULL.  Generated from stdlib/ at build time. */
const char *ks_stdlib_text(const char *name, size_t *len);
/* NULL-terminated list of module names, for did-you-mean hints. */
const char *const *ks_stdlib_names(void);

/* ---- parsing -------------------------------------------------------- */

/* Parses one source into a list of declarations.  Syntax errors go to
 * diags; the parser recovers at the next declaration or rule, so the
 * returned file holds every declaration it could read.  Never NULL. */
KFile *kp_parse(KArena *arena, KSources *sources, uint32_t src, KDiags *diags);

/* ---- checking: the resolved program --------------------------------- */

typedef struct KEventInfo {
    char *name;
    bool declared;                /* declared by an `event` (or reserved) */
    bool reserved;                /* identify, response, opt_out, ... */
    bool used;
    KDecl *decl;                  /* NULL if undeclared */
    uint32_t *attrs;              /* declared attributes: attribute ids */
    KType *attr_types;
    uint32_t nattrs, capattrs;    /* capattrs: room in attrs/attr_types (arena) */
    KSpan first_use;
} KEventInfo;

typedef struct KProgram {
    KArena arena;
    KSources sources;
    KFile **files;                /* the policy first, then imports, prelude last */
    uint32_t nfiles;

    char *policy_name;            /* `policy "X"` or the file's base name */
    char *timezone;               /* NULL: UTC */
    uint64_t source_hash;         /* FNV-1a 64 of the policy file's bytes */

    KEventInfo *events;   uint32_t nevents;     /* event ids */
    char **attrs;         uint32_t nattrs;      /* attribute-name ids (global) */
    KDecl **surveys;      uint32_t nsurveys;    /* survey ids */
    KDecl **channels;     uint32_t nchannels;   /* channel ids */
    KDecl **lets;         uint32_t nlets;
    KRule **rules;        uint32_t nrules;      /* declaration order */
    KDecl **caps;         uint32_t ncaps;       /* top-level caps */
    KDecl **quiets;       uint32_t nquiets;
    KDecl **consents;     uint32_t nconsents;
} KProgram;

typedef struct KlOptions {
    bool strict;                  /* undeclared events are errors */
    bool werror;                  /* warnings are errors */
} KlOptions;

/* Reads, parses and checks a policy file (with the prelude and its
 * imports).  Returns the program, or NULL if the file cannot be read
 * (message in diags as a file-level error).  Check kd_failed(diags)
 * before compiling.  Free with kc_free. */
KProgram *kc_load(const char *path, const KlOptions *opt, KDiags *diags);
/* Same for in-memory text (tests, fuzzing, `kairos test`). */
KProgram *kc_load_text(const char *name, const char *text, size_t len,
                       const KlOptions *opt, KDiags *diags);
void kc_free(KProgram *p);

/* ---- code generation ------------------------------------------------ */

/* Compiles a checked program (no errors) to a bytecode image.  The image
 * is self-contained (owns all its memory); free with kb_free. */
KImage *kg_compile(const KProgram *p);

/* The VM opcode of a binary operator (+ - * / == != < <= > >=), for code
 * and for folding with lang/value.h. */
KbOp kg_vm_op(KOp op);

/* ---- formatting and lints (fmt.c, lint.c) --------------------------- */

/* Formats source `src` of `sources` in the canonical layout (SPEC "kairos
 * fmt"), keeping its meaning and the line of every unnamed rule's
 * ask/task keyword.  Syntax errors go to diags and NULL is returned; so
 * does an internal failure (error K0799: the file is left as it is).
 * Otherwise returns the text (malloc'd, NUL-terminated), length in *len. */
char *kf_format(KSources *sources, uint32_t src, KDiags *diags, size_t *len);

/* Adds the lint warnings (codes K0701..K0706) about the policy file of a
 * checked program without errors. */
void kl_lint(const KProgram *p, KDiags *diags);
/* Removes the warnings silenced by a `# kairos:ignore CODE...` comment on
 * the line above them (with their notes).  Errors are never removed. */
void kl_apply_ignores(const KProgram *p, KDiags *diags);
/* The comment [s, end) (from its '#') starts `# kairos:ignore`: where its
 * codes begin (just past the keyword), else NULL.  The one test for such a
 * comment (kl_apply_ignores; kairos fmt keeps its next line). */
const char *kl_ignore_start(const char *s, const char *end);
/* The value of a duration expression of a checked program, folded with
 * the VM's semantics (lets followed): 1 and *secs when it is a constant
 * duration, -1 when it is constant without a value (an overflow, a
 * division by zero), 0 when it is not a constant. */
int kl_const_duration(const KExpr *e, int64_t *secs);

#endif
