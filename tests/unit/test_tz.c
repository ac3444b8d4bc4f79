/* test_tz.c -- runtime/tz.c: zone loading and cache, offsets around DST
 * transitions, local wall time of an instant, and the instant of a wall
 * time (nonexistent -> end of the gap, ambiguous -> first occurrence) in
 * Europe/Oslo and America/New_York; the civil calendar helpers; the
 * zone-name rule (lang/util.c ku_zone_name) that check and kz_zone share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "units.h"
#include "../../runtime/internal.h"
#include "../../lang/util.h"

/* 2026-03-29T01:00:00Z: Oslo springs forward 02:00 CET -> 03:00 CEST. */
#define OSLO_SPRING 1774746000LL
/* 2026-10-25T01:00:00Z: Oslo falls back 03:00 CEST -> 02:00 CET. */
#define OSLO_FALL   1792890000LL
/* 2026-03-08T07:00:00Z: New York springs forward 02:00 EST -> 03:00 EDT. */
#define NY_SPRING   1772953200LL
/* 2026-11-01T06:00:00Z: New York falls back 02:00 EDT -> 01:00 EST. */
#define NY_FALL     1793512800LL

START_TEST(test_load_and_cache)
{
    KzZone *a = kz_zone("Europe/Oslo");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, kz_zone("Europe/Oslo"));
    ck_assert_str_eq(kz_name(a), "Europe/Oslo");
    ck_assert_ptr_null(kz_zone("Mars/Olympus"));
    ck_assert_ptr_null(kz_zone("+02:00"));
    ck_assert_ptr_null(kz_zone("CET-1CEST"));
    ck_assert_ptr_null(kz_zone("../etc/passwd"));
    ck_assert_ptr_null(kz_zone(""));
    ck_assert_ptr_null(kz_zone("Europe"));
    ck_assert_ptr_null(kz_zone(NULL));
    ck_assert_ptr_nonnull(kz_utc());
    ck_assert_ptr_eq(kz_zone("UTC"), kz_utc());
    ck_assert_int_eq(kz_offset(kz_utc(), 1700000000), 0);
}
END_TEST

/* The one zone-name rule (lang/util.h ku_zone_name), which check and
 * kz_zone share: the form, then a TZif file in the zone directory. */
START_TEST(test_zone_names)
{
    static const struct { const char *name; bool form; } forms[] = {
        { "Europe/Oslo", true }, { "America/Argentina/Buenos_Aires", true }, { "Etc/GMT+5", true },
        { "Etc/GMT-14", true }, { "EST5EDT", true }, { "UTC", true }, { "Port-au-Prince", true },
        { "", false }, { "/usr/share/zoneinfo/Asia/Tokyo", false }, { "Etc/../Asia/Tokyo", false },
        { "./UTC", false }, { "Asia/./Tokyo", false }, { "Asia//Tokyo", false }, { "Asia/", false },
        { "zone.tab", false }, { "localtime", false }, { "posixrules", false },
        { "right/Asia/Tokyo", false }, { "posix/Asia/Tokyo", false }, { "+02:00", false },
        { "+05", false }, { "-05", false }, { "Asia/+Tokyo", false }, { "CET-1CEST,M3.5.0,M10.5.0/3", false },
        { ":Europe/Oslo", false }, { "Europe/Oslo ", false }, { "Europe\\Oslo", false },
        { "Europe/Osl\xc3\xb8", false }, { "rightish/Zone", true }, { "Right/Zone", true },
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        ck_assert_msg(ku_zone_name_form(forms[i].name) == forms[i].form, "form of \"%s\"", forms[i].name);
    ck_assert(!ku_zone_name_form(NULL));
    ck_assert(!ku_zone_name(NULL));
    char longname[300];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert(!ku_zone_name_form(longname));

    /* the system's database: the runtime's kz_zone gives the same answer */
    static const struct { const char *name; bool zone; } sys[] = {
        { "Europe/Oslo", true }, { "Asia/Tokyo", true }, { "Etc/GMT+5", true }, { "UTC", true },
        { "Etc/UTC", true }, { "Mars/Olympus", false }, { "Asia", false }, { "zone.tab", false },
        { "iso3166.tab", false }, { "tzdata.zi", false }, { "leap-seconds.list", false },
        { "leapseconds", false }, { "localtime", false }, { "posixrules", false },
        { "right/Asia/Tokyo", false }, { "posix/Asia/Tokyo", false },
        { "/usr/share/zoneinfo/Asia/Tokyo", false }, { "Etc/../Asia/Tokyo", false },
    };
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
        ck_assert_msg(ku_zone_name(sys[i].name) == sys[i].zone, "zone \"%s\"", sys[i].name);
        ck_assert_msg((kz_zone(sys[i].name) != NULL) == sys[i].zone, "kz_zone \"%s\"", sys[i].name);
    }

    /* a zone directory of our own ($TZDIR): only a regular file with a
     * whole TZif header is a zone; GLib is not asked about any of them */
    char dir[] = "/tmp/kairos-tzdir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    static const struct { const char *name; const char *bytes; size_t n; } files[] = {
        { "Good", "TZif2", 44 }, { "Short", "TZif", 4 }, { "Text", "# tzdb leap seconds", 19 },
        { "Nearly", "TZiF", 44 },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char buf[64] = { 0 };
        memcpy(buf, files[i].bytes, strlen(files[i].bytes));
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, files[i].n, f), files[i].n);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/Dir", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    const char *old = getenv("TZDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZDIR", dir, 1);
    ck_assert(ku_zone_name("Good"));
    ck_assert(!ku_zone_name("Short"));
    ck_assert(!ku_zone_name("Text"));
    ck_assert(!ku_zone_name("Nearly"));
    ck_assert(!ku_zone_name("Dir"));
    ck_assert(!ku_zone_name("Missing"));
    ck_assert(ku_zone_name("UTC"));                /* with or without a database */
    if (saved) setenv("TZDIR", saved, 1); else unsetenv("TZDIR");
    free(saved);
    static const char *const names[] = { "Good", "Short", "Text", "Nearly", "Dir" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ck_assert_int_eq(i == 4 ? rmdir(path) : unlink(path), 0);
    }
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_offsets_at_transitions)
{
    KzZone *o = kz_zone("Europe/Oslo"), *n = kz_zone("America/New_York");
    ck_assert_int_eq(kz_offset(o, OSLO_SPRING - 1), 3600);
    ck_assert_int_eq(kz_offset(o, OSLO_SPRING), 7200);
    ck_assert_int_eq(kz_offset(o, OSLO_FALL - 1), 7200);
    ck_assert_int_eq(kz_offset(o, OSLO_FALL), 3600);
    ck_assert_int_eq(kz_offset(n, NY_SPRING - 1), -5 * 3600);
    ck_assert_int_eq(kz_offset(n, NY_SPRING), -4 * 3600);
    ck_assert_int_eq(kz_offset(n, NY_FALL - 1), -4 * 3600);
    ck_assert_int_eq(kz_offset(n, NY_FALL), -5 * 3600);
    /* far future (POSIX rule of the database's footer) and the past */
    ck_assert_int_eq(kz_offset(o, 2224627200LL), 7200);     /* 2040-06-30 */
    ck_assert_int_eq(kz_offset(o, 2208988800LL), 3600);     /* 2040-01-01 */
    ck_assert_int_eq(kz_offset(n, 0), -5 * 3600);           /* 1970-01-01 */
}
END_TEST

START_TEST(test_to_local)
{
    KzZone *o = kz_zone("Europe/Oslo");
    KzLocal l;
    kz_to_local(o, OSLO_SPRING - 1, &l);            /* 01:59:59 CET, Sunday */
    ck_assert_int_eq(l.year, 2026); ck_assert_int_eq(l.month, 3); ck_assert_int_eq(l.day, 29);
    ck_assert_int_eq(l.hour, 1); ck_assert_int_eq(l.minute, 59); ck_assert_int_eq(l.second, 59);
    ck_assert_int_eq(l.wday, 6);
    kz_to_local(o, OSLO_SPRING, &l);                /* 03:00 CEST */
    ck_assert_int_eq(l.hour, 3); ck_assert_int_eq(l.minute, 0);
    kz_to_local(kz_utc(), 0, &l);                   /* Thursday */
    ck_assert_int_eq(l.year, 1970); ck_assert_int_eq(l.wday, 3);
    kz_to_local(kz_utc(), -1, &l);                  /* 1969-12-31 23:59:59 Wednesday */
    ck_assert_int_eq(l.year, 1969); ck_assert_int_eq(l.month, 12); ck_assert_int_eq(l.day, 31);
    ck_assert_int_eq(l.hour, 23); ck_assert_int_eq(l.wday, 2);
    kz_to_local(kz_zone("America/New_York"), NY_FALL - 1800, &l);   /* 01:30 EDT */
    ck_assert_int_eq(l.hour, 1); ck_assert_int_eq(l.minute, 30);
    kz_to_local(kz_zone("America/New_York"), NY_FALL + 1800, &l);   /* 01:30 EST */
    ck_assert_int_eq(l.hour, 1); ck_assert_int_eq(l.minute, 30);
}
END_TEST

START_TEST(test_from_local_gap_and_overlap)
{
    KzZone *o = kz_zone("Europe/Oslo"), *n = kz_zone("America/New_York");
    /* ordinary */
    ck_assert_int_eq(kz_from_local(o, 2026, 2, 10, 8, 0, 0), 1770706800LL);   /* 07:00Z */
    /* nonexistent: 02:30 on the spring-forward night -> 03:00 CEST */
    ck_assert_int_eq(kz_from_local(o, 2026, 3, 29, 2, 30, 0), OSLO_SPRING);
    ck_assert_int_eq(kz_from_local(o, 2026, 3, 29, 2, 0, 0), OSLO_SPRING);
    ck_assert_int_eq(kz_from_local(o, 2026, 3, 29, 3, 0, 0), OSLO_SPRING);
    ck_assert_int_eq(kz_from_local(o, 2026, 3, 29, 1, 59, 59), OSLO_SPRING - 1);
    ck_assert_int_eq(kz_from_local(n, 2026, 3, 8, 2, 30, 0), NY_SPRING);
    /* ambiguous: the first occurrence */
    ck_assert_int_eq(kz_from_local(o, 2026, 10, 25, 2, 30, 0), OSLO_FALL - 1800);
    ck_assert_int_eq(kz_from_local(n, 2026, 11, 1, 1, 30, 0), NY_FALL - 1800);
    ck_assert_int_eq(kz_from_local(n, 2026, 11, 1, 1, 0, 0), NY_FALL - 3600);
    ck_assert_int_eq(kz_from_local(n, 2026, 11, 1, 2, 0, 0), NY_FALL + 3600);
    /* at or after tmin: the second occurrence, then none */
    ck_assert_int_eq(kz_next_local(n, 2026, 11, 1, 1, 30, 0, NY_FALL - 1799), NY_FALL + 1800);
    ck_assert_int_eq(kz_next_local(n, 2026, 11, 1, 1, 30, 0, NY_FALL + 1800), NY_FALL + 1800);
    ck_assert(kz_next_local(n, 2026, 11, 1, 1, 30, 0, NY_FALL + 1801) == KZ_NONE);
    ck_assert(kz_next_local(o, 2026, 3, 29, 2, 30, 0, OSLO_SPRING + 1) == KZ_NONE);
    /* out-of-range fields normalize */
    ck_assert_int_eq(kz_from_local(kz_utc(), 2026, 1, 32, 0, 0, 0), kz_from_local(kz_utc(), 2026, 2, 1, 0, 0, 0));
    ck_assert_int_eq(kz_from_local(kz_utc(), 2026, 13, 1, 0, 0, 0), kz_from_local(kz_utc(), 2027, 1, 1, 0, 0, 0));
    ck_assert_int_eq(kz_from_local(kz_utc(), 2026, 3, 0, 0, 0, 0), kz_from_local(kz_utc(), 2026, 2, 28, 0, 0, 0));
    ck_assert_int_eq(kz_from_local(kz_utc(), 2026, 1, 1, 0, 1440, 0), kz_from_local(kz_utc(), 2026, 1, 2, 0, 0, 0));
    ck_assert_int_eq(kz_from_local(kz_utc(), 2026, 0, 1, 0, 0, 0), kz_from_local(kz_utc(), 2025, 12, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_round_trip_year)
{
    /* every 7 minutes for a year: local -> instant -> local is stable
     * outside the gap, and instants map back to the first occurrence */
    const char *zones[] = { "Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata" };
    for (int zi = 0; zi < 4; zi++) {
        KzZone *z = kz_zone(zones[zi]);
        ck_assert_ptr_nonnull(z);
        for (int64_t t = 1767225600LL; t < 1767225600LL + 366 * 86400LL; t += 7 * 60) {
            KzLocal l;
            kz_to_local(z, t, &l);
            int64_t u = kz_from_local(z, l.year, l.month, l.day, l.hour, l.minute, l.second);
            ck_assert(u <= t);
            KzLocal m;
            kz_to_local(z, u, &m);
            ck_assert_int_eq(m.hour, l.hour);
            ck_assert_int_eq(m.minute, l.minute);
            ck_assert_int_eq(m.day, l.day);
        }
    }
}
END_TEST

START_TEST(test_civil)
{
    int y, m, d;
    ck_assert_int_eq(kz_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(kz_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(kz_days_from_civil(1969, 12, 31), -1);
    kz_civil_from_days(11016, &y, &m, &d);
    ck_assert_int_eq(y, 2000); ck_assert_int_eq(m, 2); ck_assert_int_eq(d, 29);
    kz_civil_from_days(-719468, &y, &m, &d);
    ck_assert_int_eq(y, 0); ck_assert_int_eq(m, 3); ck_assert_int_eq(d, 1);
    for (int64_t days = -800000; days < 3000000; days += 997) {
        kz_civil_from_days(days, &y, &m, &d);
        ck_assert_int_eq(kz_days_from_civil(y, m, d), days);
    }
}
END_TEST

Suite *tz_suite(void)
{
    Suite *s = suite_create("tz");
    TCase *tc = tcase_create("tz");
    tcase_add_test(tc, test_load_and_cache);
    tcase_add_test(tc, test_zone_names);
    tcase_add_test(tc, test_offsets_at_transitions);
    tcase_add_test(tc, test_to_local);
    tcase_add_test(tc, test_from_local_gap_and_overlap);
    tcase_add_test(tc, test_round_trip_year);
    tcase_add_test(tc, test_civil);
    suite_add_tcase(s, tc);
    return s;
}
