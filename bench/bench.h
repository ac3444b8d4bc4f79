/* bench.h -- the sub-commands of kairos-bench (bench/floor.c is main). */
#ifndef KAIROS_BENCH_H
#define KAIROS_BENCH_H
#include <stdbool.h>
int bench_gen(int argc, char **argv);       /* gen.c */
int bench_read(int argc, char **argv);      /* readbench.c */
double bench_now(void);                     /* floor.c: monotonic seconds */
#endif
