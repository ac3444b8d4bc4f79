/* test.c -- `kairos test`: not implemented yet (issue 6). */
#include <stdio.h>
#include "cli.h"

int cli_test(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "kairos test: not implemented yet\n");
    return 2;
}
