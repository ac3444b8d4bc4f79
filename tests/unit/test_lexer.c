/* test_lexer.c -- placeholder; the owner of this module replaces it. */
#include "units.h"

Suite *lexer_suite(void)
{
    return suite_create("lexer");
}
