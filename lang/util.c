/* util.c -- small helpers used by every layer (ku_); see util.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

/* ---- files ------------------------------------------------------------ */

int ku_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    bool is_stdin = path == NULL;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return -1;
    int err = 0;
    /* a regular file's size is known before reading; anything else
     * (a pipe, /dev/zero) is stopped once it passes max */
    struct stat st;
    if (max && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        err = EFBIG;
    size_t cap = 1 << 16, n = 0;
    char *b = err ? NULL : malloc(cap);
    if (!err && !b) err = ENOMEM;
    while (!err) {
        if (cap - n < 2) {
            size_t nc = cap <= SIZE_MAX / 2 ? cap * 2 : 0;
            if (max && nc > max + 2) nc = max + 2;      /* room for max + 1 bytes and the NUL */
            char *nb = nc > cap ? realloc(b, nc) : NULL;
            if (!nb) { err = ENOMEM; break; }
            b = nb;
            cap = nc;
        }
        size_t want = cap - n - 1;
        if (max && want > max + 1 - n) want = max + 1 - n;    /* one byte past max is enough */
        errno = 0;
        size_t r = fread(b + n, 1, want, f);
        n += r;
        if (max && n > max) err = EFBIG;
        else if (r == 0 && ferror(f)) err = errno ? errno : EIO;
        else if (r == 0) break;
    }
    if (!is_stdin) fclose(f);
    if (err) {
        free(b);
        errno = err;
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* ---- time zone names -------------------------------------------------- */

static bool ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool ku_zone_name_form(const char *name)
{
    if (!name) return false;
    size_t n = strlen(name);
    if (n == 0 || n > 255) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool starts = i == 0 || name[i - 1] == '/';
        if (starts && !ascii_letter(c)) return false;      /* also: no empty component */
        if (!(ascii_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+' || c == '/'))
            return false;
    }
    if (name[n - 1] == '/') return false;
    if (strcmp(name, "localtime") == 0 || strcmp(name, "posixrules") == 0) return false;
    if (strncmp(name, "right/", 6) == 0 || strncmp(name, "posix/", 6) == 0) return false;
    return true;
}

bool ku_zone_name(const char *name)
{
    if (name && strcmp(name, "UTC") == 0) return true;
    if (!ku_zone_name_form(name)) return false;
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path) return false;
    /* O_NONBLOCK: a FIFO there must not hang the open */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    /* 44 bytes: the TZif header GLib asserts on (struct tzhead) */
    unsigned char head[44];
    size_t got = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        while (got < sizeof head) {
            ssize_t r = read(fd, head + got, sizeof head - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
    }
    close(fd);
    return got == sizeof head && memcmp(head, "TZif", 4) == 0;
}

/* ---- durations as text ------------------------------------------------ */

static const struct { int64_t len; char unit; } dur_units[] = {
    { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
};

void ku_fmt_dur(int64_t s, bool one_unit, char buf[KU_DUR_BUF])
{
    size_t k = 0;
    if (s == 0 || s == INT64_MIN) { snprintf(buf, KU_DUR_BUF, "%" PRId64 "s", s); return; }
    if (s < 0) { buf[k++] = '-'; s = -s; }
    buf[k] = '\0';
    if (one_unit) {               /* seconds always divide: one unit */
        size_t i = s >= 7 * 86400 ? 0 : 1;
        while (s % dur_units[i].len != 0) i++;
        snprintf(buf + k, KU_DUR_BUF - k, "%" PRId64 "%c", s / dur_units[i].len, dur_units[i].unit);
        return;
    }
    for (size_t i = 0; i < 4; i++)
        if (s >= dur_units[i].len) {
            int w = snprintf(buf + k, KU_DUR_BUF - k, "%" PRId64 "%c", s / dur_units[i].len, dur_units[i].unit);
            k += (size_t)w;
            s %= dur_units[i].len;
        }
}

int ku_parse_dur(const char *s, size_t n, int64_t max, int64_t *out)
{
    static const char units[] = "wdhms";
    static const int64_t secs[] = { 7 * 86400, 86400, 3600, 60, 1 };
    int64_t total = 0;
    int last = -1;
    bool big = false;
    if (n == 0) return KU_DUR_BAD;
    for (size_t p = 0; p < n;) {
        size_t q = p;
        int64_t num = 0;
        for (; q < n && s[q] >= '0' && s[q] <= '9'; q++) {
            int d = s[q] - '0';
            if (big || num > (INT64_MAX - d) / 10) big = true;
            else num = num * 10 + d;
        }
        if (q == p || q == n || s[q] == '\0') return KU_DUR_BAD;
        const char *u = strchr(units, s[q]);
        if (!u) return KU_DUR_BAD;
        int ui = (int)(u - units);
        if (ui <= last) return KU_DUR_ORDER;
        last = ui;
        if (num > (max - total) / secs[ui]) big = true;
        else total += num * secs[ui];
        p = q + 1;
    }
    if (big) return KU_DUR_BIG;
    *out = total;
    return KU_DUR_OK;
}

/* ---- growable arrays and text ----------------------------------------- */

void *ku_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap) return v;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return NULL;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return NULL;
    void *nv = realloc(v, nc * elem);
    if (!nv) return NULL;
    *cap = nc;
    return nv;
}

int ku_reserve(void **v, size_t n, void *cap, size_t capsize, size_t elem, size_t first)
{
    uint32_t c32 = 0;
    size_t c;
    if (capsize == sizeof c32) { memcpy(&c32, cap, sizeof c32); c = c32; }
    else memcpy(&c, cap, sizeof c);
    if (n < c) return 0;
    if (n == SIZE_MAX) return -1;
    void *nv = ku_grow(*v, &c, n + 1, elem, first);
    if (!nv) return -1;
    if (capsize == sizeof c32) {
        if (c > UINT32_MAX) c = UINT32_MAX;
        c32 = (uint32_t)c;
        memcpy(cap, &c32, sizeof c32);
    } else memcpy(cap, &c, sizeof c);
    *v = nv;
    return 0;
}

void ku_buf_add(KuBuf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->cap - b->n <= n) {
        char *s = ku_grow(b->s, &b->cap, b->n + n + 1, 1, 64);
        if (!s) { b->oom = true; return; }
        b->s = s;
    }
    if (n) memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void ku_buf_str(KuBuf *b, const char *s) { ku_buf_add(b, s, strlen(s)); }

void ku_buf_fmt(KuBuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = true; return; }
    if ((size_t)n < sizeof small) { ku_buf_add(b, small, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ku_buf_add(b, big, (size_t)n);
    free(big);
}

char *ku_buf_take(KuBuf *b)
{
    if (!b->oom && !b->s) ku_buf_add(b, "", 0);
    char *s = b->oom ? NULL : b->s;
    if (b->oom) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

/* ---- quoting: CSV fields and JSON strings ----------------------------- */

void ku_put_file(void *file, const char *p, size_t n) { fwrite(p, 1, n, file); }
void ku_put_buf(void *kubuf, const char *p, size_t n) { ku_buf_add(kubuf, p, n); }

size_t ku_fmt_uint(uint64_t v, char *buf)
{
    char tmp[20];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1u - i];
    return n;
}

void ku_csv_field(const char *s, size_t n, KuPut put, void *ctx)
{
    bool q = false;
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!q) { put(ctx, s, n); return; }
    put(ctx, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') { put(ctx, s + from, i - from + 1); put(ctx, "\"", 1); from = i + 1; }
    put(ctx, s + from, n - from);
    put(ctx, "\"", 1);
}

size_t ku_utf8_cut(const char *s, size_t at)
{
    while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80) at--;
    return at;
}

size_t ku_num_text(double d, char *buf)
{
    snprintf(buf, KU_NUM_TEXT, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, KU_NUM_TEXT, "%.17g", d);
    return strlen(buf);
}

size_t ku_utf8_step(const char *s, size_t n)
{
    if ((unsigned char)s[0] < 0x80) return 1;
    size_t bad = 1, len = ku_utf8_char(s, n, &bad);
    return len ? len : bad;
}

size_t ku_shown_byte(unsigned char c, char *out)
{
    if (c == '\n' || c == '\r' || c == '\t') {
        out[0] = '\\';
        out[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        return 2;
    }
    if (c < 0x20 || c == 0x7F) {
        static const char hex[] = "0123456789ABCDEF";
        out[0] = '\\'; out[1] = 'x'; out[2] = hex[c >> 4]; out[3] = hex[c & 15];
        return 4;
    }
    out[0] = (char)c;
    return 1;
}

void ku_vshow(FILE *f, const char *fmt, va_list ap)
{
    char small[512], *text = small;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (text = malloc((size_t)n + 1u)) != NULL) vsnprintf(text, (size_t)n + 1u, fmt, again);
    va_end(again);
    if (!text) text = small;                  /* out of memory: what fitted */
    const char *run = text;                   /* bytes shown as they are go out together */
    for (const char *p = text; n > 0 && *p; p++) {
        char b[4];
        size_t k = ku_shown_byte((unsigned char)*p, b);
        if (k == 1) continue;
        fwrite(run, 1, (size_t)(p - run), f);
        fwrite(b, 1, k, f);
        run = p + 1;
    }
    if (n > 0) fputs(run, f);
    if (text != small) free(text);
}

void ku_show(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ku_vshow(f, fmt, ap);
    va_end(ap);
}

void ku_text_pos(const char *text, size_t len, size_t off, size_t *line, size_t *col)
{
    if (off > len) off = len;
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i += ku_utf8_step(text + i, len - i)) {
        if (text[i] == '\n') { ++*line; *col = 1; }
        else ++*col;
    }
}

size_t ku_utf8_char(const char *s, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0) { if (bad) *bad = 0; return 0; }
    unsigned char b = p[0];
    if (b < 0x80) return 1;
    /* the length the lead byte announces and the range of the second byte
     * (the others are 80..BF): E0 and F0 exclude overlong forms, ED the
     * surrogates, F4 what lies above U+10FFFF */
    size_t len = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    unsigned char lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    size_t k = 1;
    while (len && k < len && k < n && p[k] >= (k == 1 ? lo : 0x80) && p[k] <= (k == 1 ? hi : 0xBF)) k++;
    if (len && k == len) return len;
    if (bad) *bad = k;
    return 0;
}

/* quoted -- ku_lang_str (json false) and ku_json_str (json true): the
 * same quotes and short escapes; they differ in CR (JSON's \r), in how
 * another control byte is written (JSON's \u00XX; DEL too for the
 * language) and in bytes that are not UTF-8 (JSON's \ufffd; as they are
 * for the language). */
static void quoted(const char *s, size_t n, bool json, KuPut put, void *ctx)
{
    put(ctx, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && json) {
            size_t bad = 0, k = ku_utf8_char(s + i, n - i, &bad);
            if (k) { i += k - 1; continue; }
            put(ctx, s + from, i - from);
            put(ctx, "\\ufffd", 6);
            i += bad - 1;
            from = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\' && (json || c != 0x7f)) continue;
        put(ctx, s + from, i - from);
        char esc[8];
        switch (c) {
        case '"':  put(ctx, "\\\"", 2); break;
        case '\\': put(ctx, "\\\\", 2); break;
        case '\n': put(ctx, "\\n", 2); break;
        case '\t': put(ctx, "\\t", 2); break;
        default:
            if (json && c == '\r') put(ctx, "\\r", 2);
            else put(ctx, esc, (size_t)snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", c));
        }
        from = i + 1;
    }
    put(ctx, s + from, n - from);
    put(ctx, "\"", 1);
}

void ku_lang_str(const char *s, size_t n, KuPut put, void *ctx) { quoted(s, n, false, put, ctx); }
void ku_json_str(const char *s, size_t n, KuPut put, void *ctx) { quoted(s, n, true, put, ctx); }

void ku_json_shape(const char *s, size_t n, size_t limit, KuJsonShape *out)
{
    size_t depth = 0;
    bool in_str = false;
    *out = (KuJsonShape){ false, false, n };
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) { out->deeper = true; return; }
        } else if ((c == ']' || c == '}') && depth > 0) {
            if (--depth == 0 && out->end == n) out->end = i + 1;
        } else if (c == '/') {
            out->slash = true;
        }
    }
}

int ku_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

bool ku_json_deeper(const char *s, size_t n, size_t limit)
{
    KuJsonShape sh;
    ku_json_shape(s, n, limit, &sh);
    return sh.deeper;
}

char *ku_resolve_links(const char *path)
{
    char *cur = strdup(path);
    if (!cur) return NULL;
    for (int hops = 0; hops <= 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) { int e = errno; free(cur); errno = e; return NULL; }
        link[n] = '\0';
        char *next;
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) {
            next = strdup(link);
        } else {
            size_t d = (size_t)(slash - cur) + 1;
            next = malloc(d + (size_t)n + 1);
            if (next) { memcpy(next, cur, d); memcpy(next + d, link, (size_t)n + 1); }
        }
        free(cur);
        if (!next) { errno = ENOMEM; return NULL; }
        cur = next;
    }
    free(cur);
    errno = ELOOP;
    return NULL;
}

bool ku_is_bytecode(const char *name, const char *b, size_t n)
{
    size_t pl = name ? strlen(name) : 0;
    if (pl >= 4 && strcmp(name + pl - 4, ".kbc") == 0) return true;
    size_t m = n < 4 ? n : 4;
    return m > 0 && memcmp(b, "\x7f" "KBC", m) == 0;
}
