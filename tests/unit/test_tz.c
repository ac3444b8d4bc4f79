/* test_tz.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *tz_suite(void)
{
    return suite_create("tz");
}
