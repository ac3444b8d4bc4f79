/* textout.c -- small writers shared by diff.c and readout.c (kt_): times as
 * the schedule writes them, RFC 4180 CSV fields, JSON strings, durations.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "../lang/util.h"

size_t kt_time(int64_t t, char *buf, size_t n)
{
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) { sod += 86400; days--; }
    int y, mo, d;
    kz_civil_from_days(days, &y, &mo, &d);
    int len = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, (int)(sod / 3600),
                       (int)(sod / 60 % 60), (int)(sod % 60));
    return len < 0 ? 0 : (size_t)len;
}

void kt_csv_field(FILE *f, const char *s, size_t n) { ku_csv_field(s, n, ku_put_file, f); }

void kt_json_str(FILE *f, const char *s, size_t n) { ku_json_str(s, n, ku_put_file, f); }

void kt_md_text(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '_' || c == '<' || c == '>' || c == '[' || c == ']' ||
            c == '&')                           /* &amp; would show as & */
            fputc('\\', f);
        fputc(c < 0x20 ? ' ' : c, f);
    }
}

void kt_duration(FILE *f, int64_t s, bool sign)
{
    if (s < 0) { fputc('-', f); s = s == INT64_MIN ? INT64_MAX : -s; }
    else if (s > 0 && sign) fputc('+', f);
    int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (s == 0) { fputs("0s", f); return; }
    if (d) fprintf(f, "%lldd", (long long)d);
    if (h) fprintf(f, "%lldh", (long long)h);
    if (m) fprintf(f, "%lldm", (long long)m);
    if (sec) fprintf(f, "%llds", (long long)sec);
}

int64_t kt_median(int64_t *v, size_t n)
{
    return kt_quantile(v, n, 0.5);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int64_t kt_quantile(int64_t *v, size_t n, double q)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    /* nearest rank: the smallest value with at least q of the values at
     * or below it (the median of an even count is the lower middle) */
    size_t k = (size_t)ceil(q * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}
