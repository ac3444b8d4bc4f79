/* test_diag.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *diag_suite(void)
{
    return suite_create("diag");
}
