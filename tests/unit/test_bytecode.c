/* test_bytecode.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *bytecode_suite(void)
{
    return suite_create("bytecode");
}
