/* svg.c -- HTML and SVG writing for `kairos report` (svg.h). */
#include <math.h>
#include <string.h>
#include "svg.h"
#include "../lang/util.h"

const char *const kh_cat[KH_NCAT] = {
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
};
const char *const kh_seq[KH_NSEQ] = { "#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c" };

void kh_esc(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t bad = 1, len = c < 0x80 ? 1 : ku_utf8_char(s + i, n - i, &bad);
        if (len == 0) {                   /* ill-formed UTF-8 (a file name, an attribute): one U+FFFD */
            fputs("&#65533;", f);
            i += bad;
            continue;
        }
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') fputs("&#65533;", f);   /* no control characters in HTML */
            else fwrite(s + i, 1, len, f);
        }
        i += len;
    }
}

void kh_escz(FILE *f, const char *s) { kh_esc(f, s, strlen(s)); }

void kh_coord(FILE *f, double x)
{
    long v = lround(x * 10.0);
    if (v < 0) { fputc('-', f); v = -v; }
    if (v % 10) fprintf(f, "%ld.%ld", v / 10, v % 10);
    else fprintf(f, "%ld", v / 10);
}

void kh_count(FILE *f, uint64_t n)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) fputs("&#8201;", f);
        fputc(buf[i], f);
    }
}

double kh_nice_step(double max, int ticks, int integer, double *top)
{
    if (!(max > 0)) max = 1;
    double raw = max / (ticks > 0 ? ticks : 1);
    double p = pow(10.0, floor(log10(raw)));
    double step = p;
    if (raw > 5 * p) step = 10 * p;
    else if (raw > 2 * p) step = 5 * p;
    else if (raw > p) step = 2 * p;
    if (integer && step < 1) step = 1;
    double t = ceil(max / step - 1e-9) * step;
    if (t < step) t = step;
    *top = t;
    return step;
}

void kh_svg_open(FILE *f, const char *id, int width, int height, const char *title)
{
    fprintf(f, "<svg class=\"chart\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"", id, width, height, width, height);
    kh_escz(f, title);
    fputs("\"><title>", f);
    kh_escz(f, title);
    fputs("</title>\n", f);
}

void kh_svg_close(FILE *f) { fputs("</svg>\n", f); }

static void tick_label(FILE *f, double v, int pct)
{
    if (pct) fprintf(f, "%.0f%%", v * 100.0);
    else if (v == floor(v)) fprintf(f, "%.0f", v);
    else fprintf(f, "%g", v);
}

void kh_yaxis(FILE *f, const KhPlot *p, double top, double step, const char *label, int pct)
{
    int n = (int)lround(top / step);
    for (int i = 0; i <= n; i++) {
        double v = i * step, y = p->y + p->h - p->h * v / top;
        fputs("<line class=\"grid\" x1=\"", f); kh_coord(f, p->x);
        fputs("\" x2=\"", f); kh_coord(f, p->x + p->w);
        fputs("\" y1=\"", f); kh_coord(f, y);
        fputs("\" y2=\"", f); kh_coord(f, y);
        fputs("\"/><text class=\"tick\" text-anchor=\"end\" x=\"", f); kh_coord(f, p->x - 4);
        fputs("\" y=\"", f); kh_coord(f, y + 3.5);
        fputs("\">", f);
        tick_label(f, v, pct);
        fputs("</text>\n", f);
    }
    fputs("<line class=\"axis\" x1=\"", f); kh_coord(f, p->x);
    fputs("\" x2=\"", f); kh_coord(f, p->x);
    fputs("\" y1=\"", f); kh_coord(f, p->y);
    fputs("\" y2=\"", f); kh_coord(f, p->y + p->h);
    fputs("\"/>\n<text class=\"label\" text-anchor=\"middle\" transform=\"translate(12,", f);
    kh_coord(f, p->y + p->h / 2);
    fputs(") rotate(-90)\">", f);
    kh_escz(f, label);
    fputs("</text>\n", f);
}

void kh_xaxis_values(FILE *f, const KhPlot *p, double top, double step, const char *label, int pct)
{
    int n = (int)lround(top / step);
    for (int i = 0; i <= n; i++) {
        double v = i * step, x = p->x + p->w * v / top;
        fputs("<line class=\"grid\" x1=\"", f); kh_coord(f, x);
        fputs("\" x2=\"", f); kh_coord(f, x);
        fputs("\" y1=\"", f); kh_coord(f, p->y);
        fputs("\" y2=\"", f); kh_coord(f, p->y + p->h);
        fputs("\"/><text class=\"tick\" text-anchor=\"middle\" x=\"", f); kh_coord(f, x);
        fputs("\" y=\"", f); kh_coord(f, p->y + p->h + 14);
        fputs("\">", f);
        tick_label(f, v, pct);
        fputs("</text>\n", f);
    }
    fputs("<line class=\"axis\" x1=\"", f); kh_coord(f, p->x);
    fputs("\" x2=\"", f); kh_coord(f, p->x + p->w);
    fputs("\" y1=\"", f); kh_coord(f, p->y + p->h);
    fputs("\" y2=\"", f); kh_coord(f, p->y + p->h);
    fputs("\"/>\n", f);
    kh_text(f, p->x + p->w / 2, p->y + p->h + 32, "middle", "label", label);
}

void kh_xlabel(FILE *f, const KhPlot *p, const char *label)
{
    kh_text(f, p->x + p->w / 2, p->y + p->h + 34, "middle", "label", label);
}

void kh_text(FILE *f, double x, double y, const char *anchor, const char *cls, const char *s)
{
    fputs("<text", f);
    if (cls) fprintf(f, " class=\"%s\"", cls);
    if (anchor && strcmp(anchor, "start") != 0) fprintf(f, " text-anchor=\"%s\"", anchor);
    fputs(" x=\"", f); kh_coord(f, x);
    fputs("\" y=\"", f); kh_coord(f, y);
    fputs("\">", f);
    kh_escz(f, s);
    fputs("</text>\n", f);
}

void kh_rect(FILE *f, double x, double y, double w, double h, const char *fill, const char *tip)
{
    fputs("<rect x=\"", f); kh_coord(f, x);
    fputs("\" y=\"", f); kh_coord(f, y);
    fputs("\" width=\"", f); kh_coord(f, w);
    fputs("\" height=\"", f); kh_coord(f, h);
    fprintf(f, "\" fill=\"%s\"", fill);
    if (tip) {
        fputs("><title>", f);
        kh_escz(f, tip);
        fputs("</title></rect>\n", f);
    } else fputs("/>\n", f);
}
