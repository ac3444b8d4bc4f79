/* fuzz_gz.c -- libFuzzer target: arbitrary bytes as a gzip'ed CSV event log
 * (the strict reader of runtime/gunzip.c, then the CSV reader; see
 * fuzz_input.h).  Seeds in corpus/gz/: whole, multi-member, cut and padded
 * streams. */
#define FUZZ_INPUT_EXT ".csv.gz"
#include "fuzz_input.h"
