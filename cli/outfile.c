/* outfile.c -- streaming output to a named file: a regular file (or a new
 * one) is written to a temporary file beside it and renamed over it at the
 * end, so a failed run leaves no partial file and an old file intact;
 * anything else that exists (a device, a FIFO) is written to directly; a
 * directory is an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_output_open(const char *path, FILE **f, char **tmp)
{
    struct stat st;
    *f = NULL;
    *tmp = NULL;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: error: cannot write: %s\n", path, strerror(EISDIR));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            *f = fopen(path, "wb");
            if (!*f) { fprintf(stderr, "%s: error: cannot write: %s\n", path, strerror(errno)); return -1; }
            return 0;
        }
    }
    size_t n = strlen(path);
    *tmp = malloc(n + 16);
    if (!*tmp) { fprintf(stderr, "%s: error: cannot write: %s\n", path, strerror(ENOMEM)); return -1; }
    snprintf(*tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0 || !(*f = fdopen(fd, "wb"))) {
        fprintf(stderr, "%s: error: cannot write: %s\n", path, strerror(errno));
        if (fd >= 0) { close(fd); unlink(*tmp); }
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    return 0;
}

int cli_output_close(const char *path, FILE *f, char *tmp, bool ok)
{
    int rc = 0;
    if (f == stdout) {
        if (fflush(stdout) != 0 && ok) {
            fprintf(stderr, "kairos: error writing standard output: %s\n", strerror(errno));
            rc = -1;
        }
        return rc;
    }
    if (ok && (fflush(f) != 0 || ferror(f))) {
        fprintf(stderr, "%s: error: write error: %s\n", path, strerror(errno ? errno : EIO));
        ok = false;
        rc = -1;
    }
    if (fclose(f) != 0 && ok) {
        fprintf(stderr, "%s: error: write error: %s\n", path, strerror(errno));
        ok = false;
        rc = -1;
    }
    if (tmp) {
        if (ok && rename(tmp, path) != 0) {
            fprintf(stderr, "%s: error: write error: %s\n", path, strerror(errno));
            rc = -1;
            ok = false;
        }
        if (!ok) unlink(tmp);
        free(tmp);
    }
    return ok ? rc : (rc ? rc : -1);
}
