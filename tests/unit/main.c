/* main.c -- runs every unit-test suite listed in units.h. */
#include <stdlib.h>
#include "units.h"

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define KAIROS_ADD_SUITE(name) srunner_add_suite(sr, name##_suite());
    KAIROS_SUITES(KAIROS_ADD_SUITE)
#undef KAIROS_ADD_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
