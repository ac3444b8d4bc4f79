/* test_diag.c -- diagnostics (lang/diag.c): line/column computation
 * (columns in characters), the text format with caret and hint, sorting,
 * notes, duplicates, --Werror, the machine formats, edit distance. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "lang/diag.h"

/* Prints d in fmt into a malloc'd string. */
static char *render(KDiags *d, KDiagFormat fmt)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    kd_print(d, f, fmt, false);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    size_t r = fread(buf, 1, (size_t)n, f);
    buf[r] = '\0';
    fclose(f);
    return buf;
}

START_TEST(line_col)
{
    KSources s;
    kd_sources_init(&s);
    const char *t = "ab\nc\xc3\xa9x\n\nz";
    uint32_t id = kd_source_add(&s, "t.kai", t, strlen(t), false);
    uint32_t line, col;
    kd_line_col(&s.v[id], 0, &line, &col);
    ck_assert_uint_eq(line, 1); ck_assert_uint_eq(col, 1);
    kd_line_col(&s.v[id], 2, &line, &col);
    ck_assert_uint_eq(line, 1); ck_assert_uint_eq(col, 3);
    kd_line_col(&s.v[id], 6, &line, &col);     /* the x after a 2-byte character */
    ck_assert_uint_eq(line, 2); ck_assert_uint_eq(col, 3);
    kd_line_col(&s.v[id], 9, &line, &col);
    ck_assert_uint_eq(line, 4); ck_assert_uint_eq(col, 1);
    kd_line_col(&s.v[id], 1000, &line, &col);  /* clamped */
    ck_assert_uint_eq(line, 4); ck_assert_uint_eq(col, 2);
    kd_sources_free(&s);
}
END_TEST

START_TEST(text_format)
{
    KSources s;
    kd_sources_init(&s);
    const char *t = "event ticket_closed\nask NPS after ticket_close + 24h\n";
    kd_source_add(&s, "policy.kai", t, strlen(t), false);
    KDiags d;
    kd_init(&d, &s);
    kd_error(&d, ((KSpan){ 0, 34, 46 }), "K0302", "unknown event `%s`", "ticket_close");
    kd_hint(&d, "did you mean `%s`?", "ticket_closed");
    char *out = render(&d, KD_FMT_TEXT);
    ck_assert_str_eq(out,
        "policy.kai:2:15: error: unknown event `ticket_close`\n"
        "    2 | ask NPS after ticket_close + 24h\n"
        "      |               ^~~~~~~~~~~~\n"
        "      = hint: did you mean `ticket_closed`?\n");
    free(out);
    ck_assert(kd_failed(&d));
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

START_TEST(sorting_notes_duplicates)
{
    KSources s;
    kd_sources_init(&s);
    const char *t = "aaa\nbbb\nccc\n";
    kd_source_add(&s, "p.kai", t, strlen(t), false);
    kd_source_add(&s, "std/prelude", "x\n", 2, true);
    KDiags d;
    kd_init(&d, &s);
    kd_warning(&d, ((KSpan){ 1, 0, 1 }), "K0001", "in prelude");
    kd_error(&d, ((KSpan){ 0, 8, 11 }), "K0001", "third");
    kd_note(&d, ((KSpan){ 0, 0, 3 }), "note of third");
    kd_error(&d, ((KSpan){ 0, 4, 7 }), "K0001", "second");
    kd_error(&d, ((KSpan){ 0, 4, 7 }), "K0001", "second");    /* duplicate */
    char *out = render(&d, KD_FMT_TEXT);
    const char *a = strstr(out, "second"), *b = strstr(out, "third"), *c = strstr(out, "note of third"),
               *p = strstr(out, "std/prelude:1:1: warning: in prelude");
    ck_assert(a && b && c && p);
    ck_assert(a < b && b < c && c < p);
    ck_assert(strstr(a + 1, "second") == NULL || strstr(a + 1, "second") > b);
    ck_assert(strstr(out, "p.kai:1:1: note: note of third") != NULL);
    free(out);
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

START_TEST(werror_and_file_errors)
{
    KDiags d;
    kd_init(&d, NULL);
    kd_file_error(&d, "missing.kai", "K0001", "cannot read file: %s", "No such file or directory");
    char *out = render(&d, KD_FMT_TEXT);
    ck_assert_str_eq(out, "missing.kai: error: cannot read file: No such file or directory\n");
    free(out);
    kd_free(&d);

    KSources s;
    kd_sources_init(&s);
    kd_source_add(&s, "w.kai", "abc", 3, false);
    kd_init(&d, &s);
    kd_warning(&d, ((KSpan){ 0, 0, 3 }), "K0601", "careful");
    ck_assert(!kd_failed(&d));
    out = render(&d, KD_FMT_TEXT);
    ck_assert(strstr(out, "w.kai:1:1: warning: careful") != NULL);
    free(out);
    d.werror = true;
    ck_assert(kd_failed(&d));
    out = render(&d, KD_FMT_TEXT);
    ck_assert(strstr(out, "w.kai:1:1: error: careful") != NULL);
    free(out);
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

START_TEST(machine_formats)
{
    KSources s;
    kd_sources_init(&s);
    const char *t = "ask NPS after x\n";
    kd_source_add(&s, "a,b.kai", t, strlen(t), false);
    KDiags d;
    kd_init(&d, &s);
    kd_error(&d, ((KSpan){ 0, 4, 7 }), "K0304", "unknown survey `%s`", "NPS\"");
    kd_hint(&d, "a: b");
    char *out = render(&d, KD_FMT_JSON);
    ck_assert_str_eq(out, "{\"file\":\"a,b.kai\",\"line\":1,\"column\":5,\"endLine\":1,\"endColumn\":7,"
                          "\"severity\":\"error\",\"code\":\"K0304\",\"message\":\"unknown survey `NPS\\\"`\","
                          "\"hint\":\"a: b\"}\n");
    free(out);
    out = render(&d, KD_FMT_GITHUB);
    ck_assert_str_eq(out, "::error file=a%2Cb.kai,line=1,col=5,endLine=1,endColumn=7,title=K0304::"
                          "unknown survey `NPS\"` (hint: a: b)\n");
    free(out);
    out = render(&d, KD_FMT_SARIF);
    ck_assert(strstr(out, "\"version\": \"2.1.0\"") != NULL);
    ck_assert(strstr(out, "\"ruleId\": \"K0304\"") != NULL);
    ck_assert(strstr(out, "\"startLine\": 1, \"startColumn\": 5") != NULL);
    free(out);
    kd_free(&d);
    kd_init(&d, &s);
    out = render(&d, KD_FMT_SARIF);
    ck_assert(strstr(out, "\"results\": []") != NULL);
    free(out);
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

START_TEST(caret_edge_cases)
{
    KSources s;
    kd_sources_init(&s);
    const char *t = "ab\tc\r\nx \"caf\xc3\xa9\" y\nlast";
    kd_source_add(&s, "e.kai", t, strlen(t), false);
    KDiags d;
    kd_init(&d, &s);
    kd_error(&d, ((KSpan){ 0, 3, 20 }), "K0001", "multi-line span");      /* tab line, CRLF */
    kd_error(&d, ((KSpan){ 0, 8, 15 }), "K0001", "utf8");                 /* "café" */
    kd_error(&d, ((KSpan){ 0, (uint32_t)strlen(t), (uint32_t)strlen(t) }), "K0001", "eof");
    char *out = render(&d, KD_FMT_TEXT);
    ck_assert(strstr(out, "    1 | ab c\n      |    ^\n") != NULL);    /* CR not underlined */
    ck_assert(strstr(out, "e.kai:2:3: error: utf8\n    2 | x \"caf\xc3\xa9\" y\n      |   ^~~~~~\n") != NULL);
    ck_assert(strstr(out, "e.kai:3:5: error: eof\n    3 | last\n      |     ^\n") != NULL);
    free(out);
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

START_TEST(edit_distance)
{
    ck_assert_uint_eq(kd_edit_distance("", ""), 0);
    ck_assert_uint_eq(kd_edit_distance("abc", ""), 3);
    ck_assert_uint_eq(kd_edit_distance("ticket_close", "ticket_closed"), 1);
    ck_assert_uint_eq(kd_edit_distance("emial", "email"), 1);      /* a swap */
    ck_assert_uint_eq(kd_edit_distance("kitten", "sitting"), 3);
    ck_assert(kd_close_name("emial", "email"));
    ck_assert(!kd_close_name("x", "y"));
    ck_assert(!kd_close_name("email", "email"));
    ck_assert(!kd_close_name("login", "purchase"));
    /* with an explicit limit, whatever the lengths (check_names.c) */
    ck_assert_uint_eq(kd_distance_at_most("lgn", "login", 2), 2);
    ck_assert_uint_eq(kd_distance_at_most("vue", "view", 2), 2);
    ck_assert_uint_eq(kd_distance_at_most("ki", "kind", 2), 2);
    ck_assert_uint_eq(kd_distance_at_most("x", "y", 2), 1);
    ck_assert_uint_eq(kd_distance_at_most("same", "same", 2), 0);
    ck_assert_uint_eq(kd_distance_at_most("abc", "xyz", 2), UINT_MAX);
    ck_assert_uint_eq(kd_distance_at_most("kitten", "sitting", 2), UINT_MAX);
}
END_TEST

/* kd_name_distance (banded, stops early) agrees with the full table on
 * every pair: 200,000 seeded pairs over a 3-letter alphabet (many near
 * misses, swaps and length differences). */
START_TEST(name_distance_matches_full_table)
{
    uint32_t x = 12345;
    for (int it = 0; it < 200000; it++) {
        char a[16], b[16];
        x = x * 1103515245u + 12345u;
        size_t la = (x >> 16) % 12, lb;
        for (size_t i = 0; i < la; i++) { x = x * 1103515245u + 12345u; a[i] = "abc"[(x >> 16) % 3]; }
        a[la] = '\0';
        x = x * 1103515245u + 12345u;
        if ((x >> 16) & 1) {                   /* a few edits of a */
            memcpy(b, a, la + 1);
            lb = la;
            for (int k = 0; k < 3 && la > 0; k++) {
                x = x * 1103515245u + 12345u;
                b[(x >> 16) % la] = "abc"[(x >> 8) % 3];
            }
        } else {
            x = x * 1103515245u + 12345u;
            lb = (x >> 16) % 12;
            for (size_t i = 0; i < lb; i++) { x = x * 1103515245u + 12345u; b[i] = "abc"[(x >> 16) % 3]; }
            b[lb] = '\0';
        }
        unsigned full = kd_edit_distance(a, b);
        unsigned limit = la <= 2 ? 0 : la <= 4 ? 1 : la <= 7 ? 2 : 3;
        unsigned want = full > 0 && full <= limit ? full : UINT_MAX;
        ck_assert_msg(kd_name_distance(a, b) == want, "%s vs %s: %u, want %u", a, b,
                      kd_name_distance(a, b), want);
    }
}
END_TEST

START_TEST(limit)
{
    KSources s;
    kd_sources_init(&s);
    kd_source_add(&s, "l.kai", "x", 1, false);
    KDiags d;
    kd_init(&d, &s);
    for (int i = 0; i < KD_MAX_DIAGS + 50; i++) {
        kd_error(&d, ((KSpan){ 0, 0, 1 }), "K0101", "e%d", i);
        kd_hint(&d, "h");
        kd_note(&d, ((KSpan){ 0, 0, 1 }), "n");
    }
    ck_assert_uint_eq(d.nerrors, KD_MAX_DIAGS + 50);
    ck_assert_uint_eq(d.dropped, 50);
    ck_assert(kd_failed(&d));
    char *out = render(&d, KD_FMT_TEXT);
    ck_assert(strstr(out, "l.kai: note: 50 more diagnostics not shown\n") != NULL);
    free(out);
    kd_free(&d);
    kd_sources_free(&s);
}
END_TEST

Suite *diag_suite(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("diag");
    tcase_add_test(tc, line_col);
    tcase_add_test(tc, text_format);
    tcase_add_test(tc, sorting_notes_duplicates);
    tcase_add_test(tc, werror_and_file_errors);
    tcase_add_test(tc, machine_formats);
    tcase_add_test(tc, caret_edge_cases);
    tcase_add_test(tc, edit_distance);
    tcase_add_test(tc, name_distance_matches_full_table);
    tcase_add_test(tc, limit);
    suite_add_tcase(s, tc);
    return s;
}
