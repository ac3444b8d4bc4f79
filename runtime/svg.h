/* svg.h -- HTML and SVG writing for `kairos report` (svg.c; runtime/ only).
 * Prefix kh_.  Everything written is deterministic: numbers in the C
 * locale with fixed decimals, no clock, no randomness.
 */
#ifndef KAIROS_SVG_H
#define KAIROS_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The fixed palette (SPEC.md 6.4): Okabe and Ito's eight colours, safe
 * for the common colour-vision deficiencies, for categories (rules,
 * channels, reasons); and a sequential single-hue scale (light to dark
 * blue) for the heat map, readable in grey. */
#define KH_NCAT 8
extern const char *const kh_cat[KH_NCAT];
#define KH_NSEQ 5
extern const char *const kh_seq[KH_NSEQ];

/* Text escaped for HTML content and attribute values; ill-formed UTF-8 and
 * control characters (but tab and line feed) as U+FFFD. */
void kh_esc(FILE *f, const char *s, size_t n);
void kh_escz(FILE *f, const char *s);
/* A coordinate: one decimal, no trailing ".0". */
void kh_coord(FILE *f, double x);
/* Integer with thin grouping ("1 234 567", U+2009 as &#8201;) for display. */
void kh_count(FILE *f, uint64_t n);

/* A "nice" axis: a step of 1, 2 or 5 times a power of ten such that
 * max / step <= ticks (at least 1 when integer: counts); *top is the first
 * multiple of the step >= max (at least one step). */
double kh_nice_step(double max, int ticks, int integer, double *top);

/* The plot area of a chart: pixels of the SVG. */
typedef struct KhPlot { double x, y, w, h; } KhPlot;

/* Opens a chart: <svg class="chart" id=ID viewBox=... role="img"
 * aria-label=TITLE> with a <title> (id unique in the page). */
void kh_svg_open(FILE *f, const char *id, int width, int height, const char *title);
void kh_svg_close(FILE *f);
/* A left value axis over p from 0 to top (ticks every step, gridlines),
 * with its label written vertically; fmt_pct: ticks as percentages of 1. */
void kh_yaxis(FILE *f, const KhPlot *p, double top, double step, const char *label, int pct);
/* The same along the bottom (values left to right from 0 to top). */
void kh_xaxis_values(FILE *f, const KhPlot *p, double top, double step, const char *label, int pct);
/* A label under the plot, centred. */
void kh_xlabel(FILE *f, const KhPlot *p, const char *label);
/* A text element (anchor: "start", "middle" or "end"). */
void kh_text(FILE *f, double x, double y, const char *anchor, const char *cls, const char *s);
/* A rectangle with a fill (and an optional <title> tooltip, may be NULL). */
void kh_rect(FILE *f, double x, double y, double w, double h, const char *fill, const char *tip);

#endif
