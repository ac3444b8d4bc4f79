/* test_check.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *checker_suite(void)
{
    return suite_create("checker");
}
