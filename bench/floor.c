/* floor.c -- kairos-bench: the benchmark's helper program.
 *
 *   kairos-bench floor FILE      the floor: read FILE in 1 MiB blocks, split
 *                                it into lines (memchr) and fields (commas);
 *                                nothing else.  Prints lines, fields, seconds.
 *   kairos-bench read [--skip-bad-rows] FILE...
 *                                the event reader alone (ki_open/ki_next).
 *   kairos-bench gen [-c N] [-d DAYS] [-n EVENTS] [-s SEED] [-f csv|jsonl] [-i cust|uuid] [-o FILE]
 *   kairos-bench rss CMD ARG...  runs CMD, prints its wall time, peak RSS and
 *                                CPU time (user + system) on stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int floor_cmd(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror(path); return 1; }
    enum { BLOCK = 1 << 20 };
    char *buf = malloc(2 * BLOCK);
    if (!buf) return 1;
    double t0 = bench_now();
    size_t have = 0;
    unsigned long long lines = 0, fields = 0, bytes = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, BLOCK);
        if (n < 0) { perror(path); return 1; }
        bytes += (unsigned long long)n;
        size_t end = have + (size_t)n;
        char *p = buf, *e = buf + end;
        for (;;) {
            char *nl = memchr(p, '\n', (size_t)(e - p));
            if (!nl) { if (n == 0 && p < e) nl = e; else break; }
            lines++;
            fields++;
            for (char *q = p; (q = memchr(q, ',', (size_t)(nl - q))) != NULL; q++) fields++;
            p = nl + 1;
            if (nl == e) break;
        }
        if (n == 0) break;
        have = (size_t)(e > p ? e - p : 0);
        memmove(buf, p, have);
    }
    double dt = bench_now() - t0;
    close(fd);
    free(buf);
    printf("lines %llu fields %llu bytes %llu seconds %.4f\n", lines, fields, bytes, dt);
    return 0;
}

static int rss_cmd(char **argv)
{
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 1; }
    double dt = bench_now() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
               + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(stderr, "wall %.4f maxrss_kb %ld cpu %.4f\n", dt, ru.ru_maxrss, cpu);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "floor") == 0) return floor_cmd(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "read") == 0) return bench_read(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "gen") == 0) return bench_gen(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "rss") == 0) return rss_cmd(argv + 2);
    fprintf(stderr, "usage: kairos-bench floor FILE | read FILE... | gen [options] | rss CMD...\n");
    return 2;
}
