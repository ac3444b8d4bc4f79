/* fuzz_jsonl.c -- libFuzzer target: arbitrary bytes as a JSON Lines event
 * log (see fuzz_input.h). */
#define FUZZ_INPUT_EXT ".jsonl"
#include "fuzz_input.h"
