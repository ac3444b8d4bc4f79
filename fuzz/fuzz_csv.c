/* fuzz_csv.c -- libFuzzer target: arbitrary bytes as a CSV event log
 * (see fuzz_input.h). */
#define FUZZ_INPUT_EXT ".csv"
#include "fuzz_input.h"
