/* units.h -- the unit-test suites (Check).  Each tests/unit/test_*.c file
 * defines one or more of these; main.c runs them all. */
#ifndef KAIROS_UNITS_H
#define KAIROS_UNITS_H
#include <check.h>

#define KAIROS_SUITES(X) \
  X(diag)     /* test_diag.c     lang/diag.c */ \
  X(lexer)    /* test_lexer.c    lang/lexer.l */ \
  X(parser)   /* test_parser.c   lang/parser.y */ \
  X(checker)  /* test_check.c    lang/check.c */ \
  X(bytecode) /* test_bytecode.c lang/bytecode.c: file format, verifier, corruption */ \
  X(codegen)  /* test_codegen.c  lang/codegen.c */ \
  X(vm)       /* test_vm.c       runtime/vm.c: every opcode */ \
  X(replay)   /* test_replay.c   runtime/replay.c */ \
  X(input)    /* test_input.c    runtime CSV and JSON Lines readers, time parsing */ \
  X(tz)       /* test_tz.c       runtime time zones */ \
  X(stats)    /* test_stats.c    runtime/stats.c: Wilson and Newcombe intervals */ \
  X(dstsweep) /* test_dstsweep.c runtime/sendtime.c across DST, against a brute-force scan */ \
  X(tables)   /* test_tables.c   lang/clauses.h, KB_RULE_FIELDS: the one-source tables */ \
  X(util)     /* test_util.c     lang/util.c: ALWAYS/NEVER, files, durations, buffers */ \
  X(partition) /* test_partition.c runtime/partition.c: same as one engine, any --jobs, spilling */

#define KAIROS_DECLARE_SUITE(name) Suite *name##_suite(void);
KAIROS_SUITES(KAIROS_DECLARE_SUITE)
#undef KAIROS_DECLARE_SUITE

#endif
