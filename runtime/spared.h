/* spared.h -- why an ask was spared: the statistics of `--stats`
 * (simulate.c: the text line and the JSON keys) and the report's "why
 * asks were spared" figure (report.c: its colours), in one order. */
#ifndef KAIROS_SPARED_H
#define KAIROS_SPARED_H

#include "internal.h"

static const struct {
    int st;                       /* KR_ST_* */
    const char *name;             /* --stats text, report legend */
    const char *key;              /* --stats JSON key */
    const char *colour;           /* report figure */
} kr_spared[] = {
    { KR_ST_COND,    "if/unless false",   "if_unless_false",   "#0072B2" },
    { KR_ST_CAP,     "cap",               "cap",               "#D55E00" },
    { KR_ST_YIELD,   "yielded",           "yielded",           "#E69F00" },
    { KR_ST_OPTOUT,  "opt-out",           "opt_out",           "#CC79A7" },
    { KR_ST_CONSENT, "consent",           "consent",           "#009E73" },
    { KR_ST_HOLDOUT, "holdout",           "holdout",           "#56B4E9" },
    { KR_ST_HORIZON, "horizon",           "horizon",           "#F0E442" },
    { KR_ST_KEEP,    "keep-ignored",      "keep_ignored",      "#999999" },
    { KR_ST_RESTART, "restart-cancelled", "restart_cancelled", "#000000" },
    { KR_ST_NOTIME,  "no allowed time",   "no_allowed_time",   "#5F4B3A" },
};
#define KR_NSPARED (sizeof kr_spared / sizeof kr_spared[0])

#endif
