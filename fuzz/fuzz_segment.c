/* fuzz_segment.c -- libFuzzer target: arbitrary bytes as a Segment-spec
 * JSON Lines log (--input segment, SPEC.md 5.12; see fuzz_input.h). */
#define FUZZ_INPUT_EXT ".jsonl"
#define FUZZ_SEGMENT 1
#include "fuzz_input.h"
