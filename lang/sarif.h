/* sarif.h -- diagnostics as one SARIF 2.1.0 log (prefix kd_sarif_).
 *
 * A command that checks several files adds each file's diagnostics as it
 * goes (their sources may be freed afterwards), then writes one log with
 * one run: the tool with its version and every code as a rule, the results
 * with locations relative to %SRCROOT% (the directory given, normally the
 * current one), notes as related locations, did-you-mean hints as fixes.
 * The layout is SPEC.md 2.1.
 */
#ifndef KAIROS_SARIF_H
#define KAIROS_SARIF_H

#include <stdbool.h>
#include <stdio.h>
#include "diag.h"

typedef struct KSarif KSarif;

/* root: an absolute directory (%SRCROOT%); NULL makes every URI absolute.
 * version: the tool's version.  NULL when out of memory. */
KSarif *kd_sarif_new(const char *root, const char *version);
/* Renders the results of d (in print order).  False when out of memory. */
bool kd_sarif_add(KSarif *s, const KDiags *d);
/* Writes the log.  False on a write error (errno set). */
bool kd_sarif_write(KSarif *s, FILE *out);
void kd_sarif_free(KSarif *s);

#endif
