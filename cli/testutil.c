/* testutil.c -- `kairos test` helpers: message lists, byte buffers, paths. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

void kq_buf_csv_field(KqBuf *b, const char *s, size_t n) { ku_csv_field(s, n, ku_put_buf, b); }

char *kq_path_join(const char *base, const char *p)
{
    const char *slash = strrchr(base, '/');
    size_t dn = (p[0] == '/' || !slash) ? 0 : (size_t)(slash - base) + 1;
    /* a test file in the current directory: a name that the commands read
     * as something else than a file (`-`, standard input; `sqlite:...`, a
     * source) is still a file beside it (SPEC 7.2) */
    const char *dir = dn ? base : p[0] != '/' && (strcmp(p, "-") == 0 || strchr(p, ':')) ? "./" : "";
    if (!dn) dn = strlen(dir);
    size_t pn = strlen(p);
    char *s = malloc(dn + pn + 1);
    if (!s) return NULL;
    memcpy(s, dir, dn);
    memcpy(s + dn, p, pn + 1);
    return s;
}

bool kq_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && S_ISREG(sa.st_mode) && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
