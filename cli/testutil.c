/* testutil.c -- `kairos test` helpers: message lists, byte buffers, paths. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testfile.h"

void kq_msg(KqMsgs *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { m->oom = true; return; }
    char *s = malloc((size_t)n + 1);
    if (!s) { m->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **v = realloc(m->v, cap * sizeof *v);
        if (!v) { free(s); m->oom = true; return; }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = s;
}

void kq_msgs_free(KqMsgs *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
    memset(m, 0, sizeof *m);
}

void kq_buf_add(KqBuf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n <= n) {
            if (cap > ((size_t)-1) / 2) { b->oom = true; return; }
            cap *= 2;
        }
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = true; return; }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void kq_buf_str(KqBuf *b, const char *s)
{
    kq_buf_add(b, s, strlen(s));
}

void kq_buf_fmt(KqBuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = true; return; }
    if ((size_t)n < sizeof small) { kq_buf_add(b, small, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kq_buf_add(b, big, (size_t)n);
    free(big);
}

void kq_buf_csv_field(KqBuf *b, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) { kq_buf_add(b, s, n); return; }
    kq_buf_add(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            kq_buf_add(b, s + start, i + 1 - start);   /* up to and with the quote */
            kq_buf_add(b, "\"", 1);
            start = i + 1;
        }
    kq_buf_add(b, s + start, n - start);
    kq_buf_add(b, "\"", 1);
}

char *kq_buf_take(KqBuf *b)
{
    if (!b->oom && !b->s)
        kq_buf_add(b, "", 0);
    char *s = b->oom ? NULL : b->s;
    if (b->oom) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

char *kq_path_join(const char *base, const char *p)
{
    const char *slash = strrchr(base, '/');
    size_t dn = (p[0] == '/' || !slash) ? 0 : (size_t)(slash - base) + 1;
    size_t pn = strlen(p);
    char *s = malloc(dn + pn + 1);
    if (!s) return NULL;
    memcpy(s, base, dn);
    memcpy(s + dn, p, pn + 1);
    return s;
}
