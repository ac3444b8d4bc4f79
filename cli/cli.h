/* cli.h -- shared by the files of cli/: the command-line driver. */
#ifndef KAIROS_CLI_H
#define KAIROS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "lang/lang.h"

/* Prints "kairos CMD: message" and the command's usage line; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Compiles a .kai (diagnostics on stderr) or loads a .kbc; NULL on error. */
KImage *cli_load_image(const char *path, const KlOptions *lopt, bool color);
/* The same, and the messages also go, without colour, to `also` (if not NULL). */
KImage *cli_load_image_also(const char *path, const KlOptions *lopt, bool color, FILE *also);
/* Writes data to path through a temporary file and rename; -1 on error (printed). */
int cli_write_atomic(const char *path, const void *data, size_t len);

/* Opens path for streaming output (cli/outfile.c): a regular or new file
 * through a temporary file (*tmp, renamed by cli_output_close), a device or
 * FIFO directly; a directory is an error.  -1 on error (printed). */
int cli_output_open(const char *path, FILE **f, char **tmp);
/* Flushes and closes; renames the temporary file when ok, removes it
 * otherwise.  -1 on a write error (printed) or when !ok. */
int cli_output_close(const char *path, FILE *f, char *tmp, bool ok);
/* kairos merge (cli/merge.c): schedules of disjoint shards into one. */
int cli_merge(const KImage *img, char **paths, int n, const char *outpath);

#define KAIROS_VERSION "0.1.0"

/* kairos fmt (cli/fmt.c), kairos test (cli/test.c) and kairos lsp
 * (cli/lsp.c): argv[0] is the command name. */
int cli_fmt(int argc, char **argv);
int cli_test(int argc, char **argv);
int cli_lsp(int argc, char **argv);

#endif
