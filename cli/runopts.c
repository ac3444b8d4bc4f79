/* runopts.c -- option values every command reads the same way: an option
 * given twice (cli_once), the options of the partitioned replay (SPEC.md
 * 5.10: --jobs, --memory) and --shard K/N, one parser for every command
 * that takes them. */
#include <stdlib.h>
#include <string.h>
#include "runtime/runtime.h"
#include "cli.h"

int cli_once(CliSeen *seen, const char *cmd, const char *name, const char *val)
{
    if (strcmp(name, "--map") == 0 || strcmp(name, "--fail-if") == 0) return 0;   /* they add up */
    const char *canon = strcmp(name, "--output") == 0 ? "-o" : name;
    if ((strcmp(canon, "-o") == 0 || strcmp(canon, "--junit") == 0) && !*val) {
        cli_usage_error(cmd, "option %s needs a file name ('-' for standard output)", name);
        return -1;
    }
    for (int i = 0; i < seen->n; i++)
        if (strcmp(seen->name[i], canon) == 0) {
            cli_usage_error(cmd, "option %s given twice (it takes one value)", name);
            return -1;
        }
    if (seen->n < CLI_SEEN_MAX && strlen(canon) < sizeof seen->name[0]) strcpy(seen->name[seen->n++], canon);
    return 0;
}

/* digits -- whether v is one or more decimal digits and nothing else
 * (strtoul alone takes leading spaces and signs). */
static bool digits(const char *v, const char *end)
{
    if (v == end) return false;
    for (const char *p = v; p < end; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

int cli_parse_shard(const char *cmd, const char *v, uint32_t *k, uint32_t *n)
{
    const char *slash = strchr(v, '/');
    bool ok = slash && digits(v, slash) && digits(slash + 1, v + strlen(v));
    unsigned long kk = ok ? strtoul(v, NULL, 10) : 0, nn = ok ? strtoul(slash + 1, NULL, 10) : 0;
    if (!ok || nn == 0 || kk >= nn || nn > 1000000) {
        cli_usage_error(cmd, "--shard takes K/N with 0 <= K < N <= 1000000, e.g. --shard 0/4");
        return -1;
    }
    *k = (uint32_t)kk;
    *n = (uint32_t)nn;
    return 0;
}

int cli_parse_jobs(const char *cmd, const char *v, uint32_t *jobs)
{
    char *end;
    unsigned long j = strtoul(v, &end, 10);
    if (!digits(v, end) || *end || j < 1 || j > 64) {
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
    bool num = digits(v, end);
    unsigned long long unit = 1;
    if (*end == 'K' || *end == 'k') { unit = 1ull << 10; end++; }
    else if (*end == 'M' || *end == 'm') { unit = 1ull << 20; end++; }
    else if (*end == 'G' || *end == 'g') { unit = 1ull << 30; end++; }
    if (!num || *end || m == 0 || m > (1ull << 50) / unit || m * unit < (16ull << 20)) {
        cli_usage_error(cmd, "--memory takes a size from 16M to 1048576G, e.g. 512M or 2G");
        return -1;
    }
    *bytes = m * unit;
    return 0;
}
