/* fmt.c -- `kairos fmt`: not implemented yet (issue 6). */
#include <stdio.h>
#include "cli.h"

int cli_fmt(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "kairos fmt: not implemented yet\n");
    return 2;
}
