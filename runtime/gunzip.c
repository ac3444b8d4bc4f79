/* gunzip.c -- the .gz reader of the event-log inputs (ki_gz_), on zlib's
 * inflate (SPEC.md section 5.1).
 *
 * Strict where gzread is lenient: a file that does not start with the gzip
 * magic is not read as text; a stream that ends early (cut anywhere, even at
 * a row boundary, or without its 8-byte trailer) is an error, and so are
 * bytes after the last member that are not another member.  Members
 * concatenated one after the other (`cat a.gz b.gz`) are one valid file,
 * read as their contents concatenated, as gzip -d reads them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "input_impl.h"

#define IN_BLOCK (128u << 10)

struct KiGz {
    int fd;
    z_stream z;
    bool z_ready;                 /* inflateInit2 done */
    unsigned char *in;
    bool in_eof;                  /* read() returned 0 */
    uint64_t file_pos;            /* bytes read from the file */
    bool in_member;               /* inside a member (header seen) */
    uint32_t members;             /* members completed */
    bool done;
    char msg[160];
};

KiGz *ki_gz_open(int fd)
{
    KiGz *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->fd = fd;
    g->in = malloc(IN_BLOCK);
    /* 16 + MAX_WBITS: a gzip wrapper, and only that */
    if (!g->in || inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        free(g->in);
        free(g);
        return NULL;
    }
    g->z_ready = true;
    return g;
}

void ki_gz_close(KiGz *g)
{
    if (!g) return;
    if (g->z_ready) inflateEnd(&g->z);
    if (g->fd >= 0) close(g->fd);
    free(g->in);
    free(g);
}

static long fail(KiGz *g, const char **msg, const char *fmt, const char *arg)
{
    snprintf(g->msg, sizeof g->msg, fmt, arg);
    *msg = g->msg;
    return -1;
}

/* More input after what is left unread (moved to the front).  0, or -1. */
static int more_input(KiGz *g, const char **msg)
{
    if (g->in_eof) return 0;
    if (g->z.avail_in && g->z.next_in != g->in) memmove(g->in, g->z.next_in, g->z.avail_in);
    g->z.next_in = g->in;
    ssize_t n;
    do n = read(g->fd, g->in + g->z.avail_in, IN_BLOCK - g->z.avail_in); while (n < 0 && errno == EINTR);
    if (n < 0) return (int)fail(g, msg, "read error: %s", strerror(errno));
    if (n == 0) g->in_eof = true;
    g->z.avail_in += (uInt)n;
    g->file_pos += (uint64_t)n;
    return 0;
}

long ki_gz_read(KiGz *g, void *buf, size_t n, const char **msg)
{
    if (g->done || n == 0) return 0;
    if (n > (1u << 30)) n = 1u << 30;
    g->z.next_out = buf;
    g->z.avail_out = (uInt)n;
    while (g->z.avail_out == n) {
        if (!g->in_member) {
            /* a member starts here, or the file ends: look at two bytes */
            while (g->z.avail_in < 2 && !g->in_eof)
                if (more_input(g, msg) != 0) return -1;
            if (g->z.avail_in == 0 && g->members > 0) { g->done = true; break; }
            if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b) {
                if (g->members == 0) return fail(g, msg, "not a gzip file%s", "");
                char at[32];
                snprintf(at, sizeof at, "%llu",
                         (unsigned long long)(g->file_pos - g->z.avail_in));
                return fail(g, msg, "unexpected bytes after the end of the gzip data at byte %s", at);
            }
            g->in_member = true;
        }
        if (g->z.avail_in == 0) {
            if (more_input(g, msg) != 0) return -1;
            if (g->z.avail_in == 0) return fail(g, msg, "truncated gzip file (the data ends early)%s", "");
        }
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            g->members++;
            g->in_member = false;
            if (inflateReset(&g->z) != Z_OK) return fail(g, msg, "bad gzip data: %s", "inflateReset failed");
            continue;
        }
        if (rc == Z_MEM_ERROR) return fail(g, msg, "out of memory%s", "");
        if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR)
            return fail(g, msg, "bad gzip data: %s", g->z.msg ? g->z.msg : "corrupt stream");
        /* Z_OK or Z_BUF_ERROR: progress made or more input needed */
    }
    return (long)(n - g->z.avail_out);
}
