/* test_parser.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *parser_suite(void)
{
    return suite_create("parser");
}
