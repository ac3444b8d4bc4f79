/* test_util.c -- lang/util.c: ALWAYS/NEVER, whole-file reading, duration
 * text (format and parse), the growable buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* The whole file, NUL-terminated; a missing file keeps fopen's errno; a
 * limit gives EFBIG; the buffer grows past its first 64 KiB. */
START_TEST(test_read_file)
{
    char path[] = "/tmp/kairos-util-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200000; i++) fputc('a' + i % 26, f);
    fclose(f);
    char *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(ku_read_file(path, 0, &buf, &len), 0);
    ck_assert_uint_eq(len, 200000);
    ck_assert_int_eq(buf[199999], 'a' + 199999 % 26);
    ck_assert_int_eq(buf[200000], '\0');
    free(buf);
    buf = NULL;
    errno = 0;
    ck_assert_int_eq(ku_read_file(path, 1000, &buf, &len), -1);
    ck_assert_int_eq(errno, EFBIG);
    ck_assert_ptr_null(buf);
    ck_assert_int_eq(ku_read_file(path, 200000, &buf, &len), 0);    /* exactly the limit */
    free(buf);
    remove(path);
    ck_assert_int_eq(ku_read_file(path, 0, &buf, &len), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(ku_read_file("/tmp", 0, &buf, &len), -1);       /* a directory */
    ck_assert_int_eq(errno, EISDIR);
    buf = NULL;
    ck_assert_int_eq(ku_read_file("/dev/zero", 300000, &buf, &len), -1);   /* endless: stopped at the limit */
    ck_assert_int_eq(errno, EFBIG);
    ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(test_durations)
{
    static const struct { int64_t s; bool one; const char *want; } f[] = {
        { 0, false, "0s" }, { 90000, false, "1d1h" }, { 5400, false, "1h30m" }, { 45, false, "45s" },
        { -300, false, "-5m" }, { 259200, false, "3d" }, { 259200, true, "72h" },
        { 1209600, true, "14d" }, { 93784, true, "93784s" }, { 5400, true, "90m" }, { 86400, true, "24h" },
        { INT64_MIN, false, "-9223372036854775808s" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char b[KU_DUR_BUF];
        ku_fmt_dur(f[i].s, f[i].one, b);
        ck_assert_str_eq(b, f[i].want);
    }
    static const struct { const char *s; int64_t max, want; int rc; } p[] = {
        { "7d", 1000000, 604800, 0 }, { "1h30m", 1000000, 5400, 0 }, { "2w", 10000000, 1209600, 0 },
        { "0s", 10, 0, 0 }, { "", 10, 0, -1 }, { "5", 10, 0, -1 }, { "5x", 10, 0, -1 },
        { "h", 10, 0, -1 }, { "11s", 10, 0, -3 }, { "10s", 10, 10, 0 }, { "99999999999s", INT64_MAX, 99999999999, 0 },
        { "99999999999999999999s", INT64_MAX, 0, -3 }, { "1w7d", 10000000, 1209600, 0 },
        /* the language's order: largest to smallest, each once (SPEC 2) */
        { "1d1d", 1000000, 0, -2 }, { "1h1d", 1000000, 0, -2 }, { "1s1s1s", 1000000, 0, -2 },
        { "1d2x", 1000000, 0, -1 }, { "1d ", 1000000, 0, -1 }, { " 1d", 1000000, 0, -1 }, { "1.5h", 1000000, 0, -1 },
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        int64_t d = -1;
        ck_assert_int_eq(ku_parse_dur(p[i].s, strlen(p[i].s), p[i].max, &d), p[i].rc);
        if (p[i].rc == 0) ck_assert_int_eq(d, p[i].want);
    }
}
END_TEST

START_TEST(test_grow_and_buf)
{
    size_t cap = 0;
    int *v = ku_grow(NULL, &cap, 5, sizeof *v, 4);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(cap, 8);
    int *same = ku_grow(v, &cap, 8, sizeof *v, 4);
    ck_assert_ptr_eq(same, v);
    v = ku_grow(v, &cap, 9, sizeof *v, 4);
    ck_assert_uint_eq(cap, 16);
    ck_assert_ptr_null(ku_grow(v, &cap, SIZE_MAX, sizeof *v, 4));
    ck_assert_uint_eq(cap, 16);
    free(v);

    KuBuf b = {0};
    ku_buf_str(&b, "a");
    ku_buf_fmt(&b, "%d-%s", 42, "x");
    for (int i = 0; i < 100; i++) ku_buf_add(&b, "0123456789", 10);
    ck_assert_uint_eq(b.n, 1005);
    char *s = ku_buf_take(&b);
    ck_assert_ptr_nonnull(s);
    ck_assert(strncmp(s, "a42-x0123", 9) == 0);
    ck_assert_uint_eq(strlen(s), 1005);
    ck_assert_ptr_null(b.s);
    free(s);
    s = ku_buf_take(&b);                      /* empty: "" */
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* KU_RESERVE: room for item n in an array with a uint32_t or a size_t
 * capacity, doubling from `first`; the capacity is written back in its own
 * type, and a full array grows only when n reaches it. */
START_TEST(test_reserve)
{
    struct { long *v; uint32_t n, cap; } a = { 0 };
    for (uint32_t i = 0; i < 9; i++) {
        ck_assert_int_eq(KU_RESERVE(a.v, a.n, a.cap, 4), 0);
        a.v[a.n++] = (long)i * 3;
    }
    ck_assert_uint_eq(a.cap, 16);
    for (uint32_t i = 0; i < 9; i++) ck_assert_int_eq(a.v[i], (long)i * 3);
    long *before = a.v;
    ck_assert_int_eq(KU_RESERVE(a.v, 9, a.cap, 4), 0);
    ck_assert_ptr_eq(a.v, before);
    ck_assert_uint_eq(a.cap, 16);
    free(a.v);

    struct { char *v; size_t n, cap; } b = { 0 };
    ck_assert_int_eq(KU_RESERVE(b.v, b.n, b.cap, 3), 0);
    ck_assert_uint_eq(b.cap, 3);
    b.n = 3;
    ck_assert_int_eq(KU_RESERVE(b.v, b.n, b.cap, 3), 0);
    ck_assert_uint_eq(b.cap, 6);
    ck_assert_int_eq(KU_RESERVE(b.v, SIZE_MAX, b.cap, 3), -1);
    ck_assert_uint_eq(b.cap, 6);
    free(b.v);
}
END_TEST

/* ku_csv_field quotes only when needed and doubles quotes; ku_json_str
 * escapes quote, backslash, \n \r \t by name and other control bytes as
 * \u00XX; the FILE and KuBuf sinks receive the same bytes. */
START_TEST(test_quoting)
{
    static const struct { const char *in; size_t n; const char *csv, *json; } cases[] = {
        { "plain", 5, "plain", "\"plain\"" },
        { "a,b", 3, "\"a,b\"", "\"a,b\"" },
        { "say \"hi\"", 8, "\"say \"\"hi\"\"\"", "\"say \\\"hi\\\"\"" },
        { "l1\nl2\r\t\\", 8, "\"l1\nl2\r\t\\\"", "\"l1\\nl2\\r\\t\\\\\"" },
        { "\x01z\x00", 3, "\x01z\x00", "\"\\u0001z\\u0000\"" },
        { "", 0, "", "\"\"" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        KuBuf b = { 0 };
        ku_csv_field(cases[k].in, cases[k].n, ku_put_buf, &b);
        size_t want = strlen(cases[k].csv) + (k == 4);          /* case 4 ends in a NUL byte */
        ck_assert_uint_eq(b.n, want);
        ck_assert_mem_eq(b.s, cases[k].csv, want);
        free(ku_buf_take(&b));
        ku_json_str(cases[k].in, cases[k].n, ku_put_buf, &b);
        char *j = ku_buf_take(&b);
        ck_assert_str_eq(j, cases[k].json);
        char *m = NULL;
        size_t mlen = 0;
        FILE *f = open_memstream(&m, &mlen);
        ck_assert_ptr_nonnull(f);
        ku_json_str(cases[k].in, cases[k].n, ku_put_file, f);
        fclose(f);
        ck_assert_str_eq(m, j);
        free(m);
        free(j);
    }
}
END_TEST

/* ku_utf8_char: the length of a well-formed character, or 0 and the
 * maximal ill-formed subpart (Unicode 3.9); ku_json_str writes each such
 * subpart as one \ufffd (what Python's decode(errors="replace") gives)
 * and well-formed UTF-8 byte for byte, so its output is always UTF-8. */
START_TEST(test_utf8_json)
{
    static const struct { const char *in; size_t len, bad; } ch[] = {
        { "a", 1, 0 }, { "", 1, 0 } /* NUL */, { "\x7f", 1, 0 }, { "\xc3\xa9", 2, 0 },
        { "\xe2\x82\xac", 3, 0 }, { "\xef\xbf\xbd", 3, 0 }, { "\xf0\x9f\x98\x80", 4, 0 },
        { "\xf4\x8f\xbf\xbf", 4, 0 }, { "\xed\x9f\xbf", 3, 0 }, { "\xe0\xa0\x80", 3, 0 },
        { "\xff", 0, 1 }, { "\x80", 0, 1 }, { "\xc0\xaf", 0, 1 }, { "\xc1\xbf", 0, 1 }, { "\xf5\x80", 0, 1 },
        { "\xe0\x80\x80", 0, 1 }, { "\xed\xa0\x80", 0, 1 }, { "\xf4\x90\x80\x80", 0, 1 },
        { "\xf0\x8f\xbf\xbf", 0, 1 }, { "\xc3", 0, 1 }, { "\xc3x", 0, 1 },
        { "\xe2\x82", 0, 2 }, { "\xe2\x82x", 0, 2 }, { "\xf0\x9f\x98", 0, 3 }, { "\xf1\x80\x80\xff", 0, 3 },
    };
    for (size_t k = 0; k < sizeof ch / sizeof ch[0]; k++) {
        size_t n = ch[k].in[0] ? strlen(ch[k].in) : 1, bad = 99;
        ck_assert_uint_eq(ku_utf8_char(ch[k].in, n, &bad), ch[k].len);
        if (!ch[k].len) ck_assert_uint_eq(bad, ch[k].bad);
        else ck_assert_uint_eq(bad, 99);
        ck_assert_uint_eq(ku_utf8_char(ch[k].in, n, NULL), ch[k].len);
    }
    ck_assert_uint_eq(ku_utf8_char("\xc3\xa9", 1, NULL), 0);   /* cut short by n */
    ck_assert_uint_eq(ku_utf8_char("x", 0, NULL), 0);

    static const struct { const char *in, *json; } js[] = {
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \x7f", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \x7f\"" },
        { "\xff", "\"\\ufffd\"" },
        { "s\xff\"\n", "\"s\\ufffd\\\"\\n\"" },
        { "a\xffz", "\"a\\ufffdz\"" },
        { "\xe2\x82", "\"\\ufffd\"" },
        { "\xe2\x82x", "\"\\ufffdx\"" },
        { "\xf0\x9f\x98", "\"\\ufffd\"" },
        { "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
        { "\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "\xf1\x80\x80\xff", "\"\\ufffd\\ufffd\"" },
        { "\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41", "\"\\ufffd\\ufffd\\ufffd\\ufffdA\"" },
        { "\x01\xfe\\", "\"\\u0001\\ufffd\\\\\"" },
    };
    for (size_t k = 0; k < sizeof js / sizeof js[0]; k++) {
        KuBuf b = { 0 };
        ku_json_str(js[k].in, strlen(js[k].in), ku_put_buf, &b);
        char *j = ku_buf_take(&b);
        ck_assert_str_eq(j, js[k].json);
        free(j);
    }
    /* every two-byte string: the output is UTF-8 throughout */
    for (unsigned x = 0; x < 65536; x++) {
        char in[2] = { (char)(x >> 8), (char)(x & 0xff) };
        KuBuf b = { 0 };
        ku_json_str(in, 2, ku_put_buf, &b);
        char *j = ku_buf_take(&b);
        size_t n = strlen(j);
        for (size_t i = 0; i < n;) {
            size_t c = ku_utf8_char(j + i, n - i, NULL);
            ck_assert_uint_ne(c, 0);
            i += c;
        }
        free(j);
    }
    /* the language's quoting keeps such bytes as they are */
    KuBuf b = { 0 };
    ku_lang_str("\xff", 1, ku_put_buf, &b);
    char *l = ku_buf_take(&b);
    ck_assert_str_eq(l, "\"\xff\"");
    free(l);
}
END_TEST

/* ku_fmt_uint: the decimal digits, no NUL, no leading zeros; 0 is "0";
 * the largest value fills the 20 bytes the header asks for. */
/* ku_lang_str: the language's escapes, \xHH for other control bytes and
 * DEL, other bytes (UTF-8 too) as they are; the quotes around. */
START_TEST(test_lang_str)
{
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "", 0, "\"\"" },
        { "plain text", 10, "\"plain text\"" },
        { "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
        { "l1\nl2\tx", 7, "\"l1\\nl2\\tx\"" },
        { "\x1b[0m\r\x7f", 6, "\"\\x1b[0m\\x0d\\x7f\"" },
        { "a\0b", 3, "\"a\\x00b\"" },
        { "\xc3\xa6\xc3\xb8", 4, "\"\xc3\xa6\xc3\xb8\"" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        KuBuf b = { 0 };
        ku_lang_str(cases[k].in, cases[k].n, ku_put_buf, &b);
        ck_assert(!b.oom);
        ck_assert_str_eq(b.s, cases[k].out);
        free(b.s);
    }
}
END_TEST

START_TEST(test_fmt_uint)
{
    static const struct { uint64_t v; const char *s; } cases[] = {
        { 0, "0" }, { 7, "7" }, { 10, "10" }, { 4294967295u, "4294967295" },
        { UINT64_MAX, "18446744073709551615" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char buf[21];
        memset(buf, 'x', sizeof buf);
        size_t n = ku_fmt_uint(cases[k].v, buf);
        ck_assert_uint_eq(n, strlen(cases[k].s));
        ck_assert_mem_eq(buf, cases[k].s, n);
        ck_assert_int_eq(buf[n], 'x');
    }
}
END_TEST

Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, test_always_never);
    tcase_add_test(tc, test_read_file);
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_grow_and_buf);
    tcase_add_test(tc, test_reserve);
    tcase_add_test(tc, test_quoting);
    tcase_add_test(tc, test_fmt_uint);
    tcase_add_test(tc, test_lang_str);
    tcase_add_test(tc, test_utf8_json);
    suite_add_tcase(s, tc);
    return s;
}
