/* test_vm.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *vm_suite(void)
{
    return suite_create("vm");
}
