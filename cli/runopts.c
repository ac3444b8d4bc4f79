/* runopts.c -- the options of the partitioned replay (SPEC.md 5.10), one
 * parser for every command that replays through it: simulate, diff,
 * readout and report. */
#include <stdlib.h>
#include "runtime/runtime.h"
#include "cli.h"

int cli_parse_jobs(const char *cmd, const char *v, uint32_t *jobs)
{
    char *end;
    unsigned long j = strtoul(v, &end, 10);
    if (end == v || *end || v[0] == '-' || j < 1 || j > 64) {
        cli_usage_error(cmd, "--jobs takes a number of threads from 1 to 64");
        return -1;
    }
    *jobs = (uint32_t)j;
    return 0;
}

int cli_parse_memory(const char *cmd, const char *v, uint64_t *bytes)
{
    char *end;
    unsigned long long m = strtoull(v, &end, 10);
    unsigned long long unit = 1;
    if (*end == 'K' || *end == 'k') { unit = 1ull << 10; end++; }
    else if (*end == 'M' || *end == 'm') { unit = 1ull << 20; end++; }
    else if (*end == 'G' || *end == 'g') { unit = 1ull << 30; end++; }
    if (end == v || *end || v[0] == '-' || m == 0 || m > (1ull << 50) / unit || m * unit < (16ull << 20)) {
        cli_usage_error(cmd, "--memory takes a size of at least 16M, e.g. 512M or 2G");
        return -1;
    }
    *bytes = m * unit;
    return 0;
}
