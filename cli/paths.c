/* paths.c -- policy operands of `check` and `fmt`: a directory stands for
 * every *.kai file below it (SPEC section 6, "Directories").
 *
 * The walk does not follow symbolic links to directories and skips
 * directories whose name starts with a dot; a symbolic link to a regular
 * *.kai file is taken.  The files found under one operand are sorted
 * byte-wise by path, so the order does not depend on the file system.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Directories nested deeper than this are an error (a loop of bind mounts). */
#define MAX_DEPTH 64

typedef struct List { char **v; int n, cap; } List;

static int list_add(List *l, char *p)
{
    if (!p) return -1;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) { free(p); return -1; }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_kai(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".kai") == 0;
}

static char *join(const char *dir, const char *name)
{
    size_t dn = strlen(dir), nn = strlen(name);
    char *p = malloc(dn + nn + 2);
    if (!p) return NULL;
    memcpy(p, dir, dn);
    if (dn == 0 || dir[dn - 1] != '/') p[dn++] = '/';
    memcpy(p + dn, name, nn + 1);
    return p;
}

/* Where a directory's error goes (cli_expand_policies). */
typedef struct Sink { CliDirError report; void *ctx; } Sink;

static void dir_error(const Sink *k, const char *dir, const char *msg)
{
    if (k->report) k->report(k->ctx, dir, msg);
    else fprintf(stderr, "%s: error: %s\n", dir, msg);
}

/* Adds the *.kai files below dir to out; returns the number of errors
 * (dir_error). */
static int walk(const char *cmd, const char *dir, List *out, int depth, const Sink *k)
{
    if (depth > MAX_DEPTH) {
        dir_error(k, dir, "directories nested too deep");
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot read directory: %s", strerror(errno));
        dir_error(k, dir, msg);
        return 1;
    }
    int errors = 0;
    List subdirs = { 0 };
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        char *p = join(dir, name);
        if (!p) { fprintf(stderr, "kairos %s: out of memory\n", cmd); errors++; break; }
        struct stat st;
        if (lstat(p, &st) != 0) { free(p); continue; }
        if (S_ISDIR(st.st_mode)) {
            if (name[0] == '.') free(p);
            else if (list_add(&subdirs, p) != 0) { fprintf(stderr, "kairos %s: out of memory\n", cmd); errors++; }
            continue;
        }
        if (is_kai(name) && (S_ISREG(st.st_mode) ||
                             (S_ISLNK(st.st_mode) && stat(p, &st) == 0 && S_ISREG(st.st_mode)))) {
            if (list_add(out, p) != 0) { fprintf(stderr, "kairos %s: out of memory\n", cmd); errors++; }
            continue;
        }
        free(p);
    }
    closedir(d);
    for (int i = 0; i < subdirs.n; i++) {
        errors += walk(cmd, subdirs.v[i], out, depth + 1, k);
        free(subdirs.v[i]);
    }
    free(subdirs.v);
    return errors;
}

int cli_expand_policies(const char *cmd, char *const *operands, int n, char ***files, int *nfiles,
                        CliDirError report, void *ctx)
{
    Sink k = { report, ctx };
    List out = { 0 };
    int errors = 0;
    for (int i = 0; i < n; i++) {
        const char *p = operands[i];
        struct stat st;
        if (strcmp(p, "-") != 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            int first = out.n;
            int werr = walk(cmd, p, &out, 0, &k);
            errors += werr;
            if (out.n == first && !werr) {
                dir_error(&k, p, "no *.kai file in this directory");
                errors++;
            } else if (out.n - first > 1) {
                qsort(out.v + first, (size_t)(out.n - first), sizeof *out.v, cmp_path);
            }
        } else if (list_add(&out, strdup(p)) != 0) {        /* a missing file fails when read */
            fprintf(stderr, "kairos %s: out of memory\n", cmd);
            errors++;
        }
    }
    *files = out.v;
    *nfiles = out.n;
    return errors;
}

void cli_free_paths(char **files, int n)
{
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}
