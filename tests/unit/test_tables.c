/* test_tables.c -- the one-source tables: lang/clauses.h (reserved words,
 * rule clauses, parser items) and KB_RULE_FIELDS (lang/bytecode.h).  The
 * fuzz dictionary is held to the keyword list here, so it cannot drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "../../lang/bytecode.h"
#include "../../lang/clauses.h"

static const char *const all_keywords[] = {
#define T_KW_(tok, word, fmt) word,
    KAIROS_KEYWORDS(T_KW_)
#undef T_KW_
};

/* fuzz/kairos.dict names every reserved word, quoted ("via"). */
START_TEST(test_fuzz_dict_has_every_keyword)
{
    FILE *f = fopen("fuzz/kairos.dict", "rb");
    ck_assert_msg(f != NULL, "run from the repository root: fuzz/kairos.dict");
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    ck_assert_uint_gt(n, 100);
    size_t nkw = sizeof all_keywords / sizeof all_keywords[0];
    ck_assert_uint_ge(nkw, 30);
    for (size_t i = 0; i < nkw; i++) {
        char q[64];
        snprintf(q, sizeof q, "=\"%s\"\n", all_keywords[i]);
        ck_assert_msg(strstr(text, q) != NULL, "fuzz/kairos.dict lacks the keyword \"%s\"", all_keywords[i]);
    }
}
END_TEST

/* Every clause word is a reserved word; every clause has a word; the
 * clause kinds are numbered in the canonical order of SPEC "kairos fmt". */
START_TEST(test_clause_table)
{
    size_t nkw = sizeof all_keywords / sizeof all_keywords[0];
    for (size_t i = 0; i < sizeof kclause_words / sizeof kclause_words[0]; i++) {
        bool found = false;
        for (size_t k = 0; k < nkw; k++)
            if (!strcmp(kclause_words[i].word, all_keywords[k])) found = true;
        ck_assert_msg(found, "clause word %s is not a keyword", kclause_words[i].word);
    }
    for (int c = 0; c < KCL_OTHER; c++) {
        ck_assert_str_ne(kclause_word((KClause)c), "?");
        ck_assert_ptr_nonnull(kclause_info[c].what);
    }
    ck_assert_int_lt(KCL_VIA, KCL_TRIGGER);
    ck_assert_int_lt(KCL_TRIGGER, KCL_IF);
    ck_assert_int_lt(KCL_IF, KCL_UNLESS);
    ck_assert_int_lt(KCL_UNLESS, KCL_AT);
    ck_assert_int_lt(KCL_AT, KCL_CAP);
    ck_assert_int_lt(KCL_CAP, KCL_PRIORITY);
    ck_assert_int_lt(KCL_PRIORITY, KCL_VARIANT);
    ck_assert_int_lt(KCL_VARIANT, KCL_RETRIGGER);
    ck_assert(kclause_info[KCL_VARIANT].repeatable);
    ck_assert(!kclause_info[KCL_VIA].repeatable);
    ck_assert_str_eq(kclause_word(KCL_RETRIGGER), "on");
}
END_TEST

/* KB_RULE_MIN_SIZE is the encoded size of a rule with no attempts and no
 * variants: a rule written by kb_write takes exactly that many bytes
 * (format version 3: 91, held by a static assertion in bytecode.h). */
START_TEST(test_rule_min_size)
{
    size_t sizes[2];
    for (int k = 0; k < 2; k++) {
        KImage *img = calloc(1, sizeof *img);
        ck_assert_ptr_nonnull(img);
        img->nrules = (uint32_t)k;
        img->rules = calloc(1, sizeof *img->rules);
        img->timezone = KB_NONE;
        uint8_t *buf = NULL;
        ck_assert_int_eq(kb_write(img, &buf, &sizes[k]), 0);
        free(buf);
        free(img->rules);
        free(img);
    }
    ck_assert_uint_eq(sizes[1] - sizes[0], KB_RULE_MIN_SIZE);
}
END_TEST

Suite *tables_suite(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, test_fuzz_dict_has_every_keyword);
    tcase_add_test(tc, test_clause_table);
    tcase_add_test(tc, test_rule_min_size);
    suite_add_tcase(s, tc);
    return s;
}
