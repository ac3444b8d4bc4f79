/* gunzip.c -- the .gz reader of the event-log inputs (ki_gz_), on zlib's
 * inflate (SPEC.md section 5.1).
 *
 * Strict where gzread is lenient: a file that does not start with the gzip
 * magic is not read as text; a stream that ends early (cut anywhere, even at
 * a row boundary, or without its 8-byte trailer) is an error, and so are
 * bytes after the last member that are not another member.  Members
 * concatenated one after the other (`cat a.gz b.gz`) are one valid file,
 * read as their contents concatenated, as gzip -d reads them.
 *
 * Read ahead: for a regular file (ki_gz_open's ahead), a thread of its own
 * inflates the next blocks while the caller parses the last one, a ring of
 * AHEAD_BLOCKS blocks between them; the caller sees the same bytes, the
 * same end and the same message at the same place as without it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "input_impl.h"

#define IN_BLOCK (128u << 10)
#define AHEAD_BLOCKS 4u               /* inflated blocks between the thread and the caller */
#define AHEAD_SIZE (256u << 10)
#define AHEAD_STACK (256u << 10)

/* The ring of a read-ahead: the thread fills block tail % AHEAD_BLOCKS,
 * the caller reads block head % AHEAD_BLOCKS from off; a block's len is
 * its bytes, 0 at the end, -1 for an error (msg). */
typedef struct Ahead {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t filled, emptied;
    char *blk[AHEAD_BLOCKS];
    long len[AHEAD_BLOCKS];
    unsigned head, tail;          /* blocks taken, blocks filled (tail - head <= AHEAD_BLOCKS) */
    size_t off;
    bool stop;                    /* ki_gz_close: the thread ends */
} Ahead;

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
    char msg[160];                /* the error (written by the thread, if any, before its block) */
    Ahead *ahead;                 /* the read-ahead, or NULL */
};

static void *ahead_main(void *arg);

/* ahead_start -- starts g's read-ahead thread; false (g reads on the
 * caller's thread) when it cannot. */
static bool ahead_start(KiGz *g)
{
    Ahead *a = calloc(1, sizeof *a);
    if (!a) return false;
    bool ok = true;
    for (unsigned i = 0; i < AHEAD_BLOCKS && ok; i++) ok = (a->blk[i] = malloc(AHEAD_SIZE)) != NULL;
    pthread_attr_t attr;
    bool attr_ok = ok && pthread_attr_init(&attr) == 0;
    if (attr_ok) pthread_attr_setstacksize(&attr, AHEAD_STACK);
    if (ok) {
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->filled, NULL);
        pthread_cond_init(&a->emptied, NULL);
        g->ahead = a;
        ok = kr_thread_start(&a->th, attr_ok ? &attr : NULL, ahead_main, g) == 0;
        if (!ok) {
            g->ahead = NULL;
            pthread_mutex_destroy(&a->mu);
            pthread_cond_destroy(&a->filled);
            pthread_cond_destroy(&a->emptied);
        }
    }
    if (attr_ok) pthread_attr_destroy(&attr);
    if (ok) return true;
    for (unsigned i = 0; i < AHEAD_BLOCKS; i++) free(a->blk[i]);
    free(a);
    return false;
}

KiGz *ki_gz_open(int fd, bool ahead)
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
    if (ahead) ahead_start(g);
    return g;
}

bool ki_gz_ahead(const KiGz *g) { return g->ahead != NULL; }

void ki_gz_close(KiGz *g)
{
    if (!g) return;
    Ahead *a = g->ahead;
    if (a) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->emptied);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL);
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->filled);
        pthread_cond_destroy(&a->emptied);
        for (unsigned i = 0; i < AHEAD_BLOCKS; i++) free(a->blk[i]);
        free(a);
    }
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

/* inflate_some -- up to n bytes of the decompressed stream into buf: bytes
 * read, 0 at its end, -1 with *msg (g->msg). */
static long inflate_some(KiGz *g, void *buf, size_t n, const char **msg)
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

/* The read-ahead thread: fills the ring's blocks in turn until the end of
 * the stream, an error, or ki_gz_close. */
static void *ahead_main(void *arg)
{
    KiGz *g = arg;
    Ahead *a = g->ahead;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (a->tail - a->head == AHEAD_BLOCKS && !a->stop) pthread_cond_wait(&a->emptied, &a->mu);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop) break;
        unsigned slot = a->tail % AHEAD_BLOCKS;
        const char *m;
        long n = inflate_some(g, a->blk[slot], AHEAD_SIZE, &m);
        pthread_mutex_lock(&a->mu);
        a->len[slot] = n;
        a->tail++;
        pthread_cond_signal(&a->filled);
        pthread_mutex_unlock(&a->mu);
        if (n <= 0) break;
    }
    return NULL;
}

long ki_gz_read(KiGz *g, void *buf, size_t n, const char **msg)
{
    Ahead *a = g->ahead;
    if (!a) return inflate_some(g, buf, n, msg);
    if (n == 0) return 0;
    pthread_mutex_lock(&a->mu);
    while (a->tail == a->head) pthread_cond_wait(&a->filled, &a->mu);
    unsigned slot = a->head % AHEAD_BLOCKS;
    long len = a->len[slot];
    pthread_mutex_unlock(&a->mu);
    if (len < 0) { *msg = g->msg; return -1; }   /* the end and an error stay */
    if (len == 0) return 0;
    size_t k = (size_t)len - a->off;
    if (k > n) k = n;
    memcpy(buf, a->blk[slot] + a->off, k);
    a->off += k;
    if (a->off == (size_t)len) {
        a->off = 0;
        pthread_mutex_lock(&a->mu);
        a->head++;
        pthread_cond_signal(&a->emptied);
        pthread_mutex_unlock(&a->mu);
    }
    return (long)k;
}
