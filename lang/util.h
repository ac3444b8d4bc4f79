/* util.h -- small helpers used by every layer (ku_): "cannot happen"
 * checks, reading a whole file, durations as text, a growable byte buffer.
 * It knows nothing of the language or the runtime. */
#ifndef KAIROS_UTIL_H
#define KAIROS_UTIL_H

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

#endif /* KAIROS_UTIL_H */
