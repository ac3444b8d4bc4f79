/* test_util.c -- lang/util.c: ALWAYS/NEVER, whole-file reading, duration
 * text (format and parse), the growable buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "../../lang/util.h"

/* The true paths hold in every build; the fallbacks (a release build)
 * return the condition's value instead of stopping. */
START_TEST(test_always_never)
{
    int n = 0;
    ck_assert_int_eq(ALWAYS(++n == 1), 1);          /* evaluated once */
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(NEVER(n == 2), 0);
    ck_assert_int_eq(ALWAYS(7), 1);
#ifndef KAIROS_DEBUG
    ck_assert_int_eq(ALWAYS(n == 2), 0);
    ck_assert_int_eq(NEVER(n == 1), 1);
#endif
}
END_TEST

Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, test_always_never);
    suite_add_tcase(s, tc);
    return s;
}
