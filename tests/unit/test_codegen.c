/* test_codegen.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *codegen_suite(void)
{
    return suite_create("codegen");
}
