/* test_input.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *input_suite(void)
{
    return suite_create("input");
}
