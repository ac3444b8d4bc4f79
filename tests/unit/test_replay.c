/* test_replay.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *replay_suite(void)
{
    return suite_create("replay");
}
