/* sources.c -- the options that say how to read event logs (SPEC.md 5.11,
 * 5.12): --map, --schema, --input; one parser for every command that
 * reads events (simulate, explain, and the commands built on them). */
#include <stdlib.h>
#include <string.h>
#include "runtime/runtime.h"
#include "cli.h"

int cli_source_option(CliSources *cs, const char *cmd, const char *o,
                      const char *(*value)(void *ctx), void *ctx)
{
    if (strcmp(o, "--map") == 0) {
        const char *v = value(ctx);
        if (!v) return -1;
        if (!cs->schema && !(cs->schema = kr_schema_new())) { cli_usage_error(cmd, "out of memory"); return -1; }
        char msg[300];
        if (kr_schema_map(cs->schema, v, msg, sizeof msg) != 0) { cli_usage_error(cmd, "%s", msg); return -1; }
        return 1;
    }
    if (strcmp(o, "--schema") == 0) {
        const char *v = value(ctx);
        if (!v) return -1;
        if (cs->schema_file) { cli_usage_error(cmd, "--schema given twice"); return -1; }
        cs->schema_file = v;
        return 1;
    }
    if (strcmp(o, "--input") == 0) {
        const char *v = value(ctx);
        if (!v) return -1;
        if (strcmp(v, "segment") != 0 && strcmp(v, "rows") != 0) {
            cli_usage_error(cmd, "--input takes segment (or rows, the default)");
            return -1;
        }
        cs->input = v;
        return 1;
    }
    return 0;
}

int cli_sources_apply(CliSources *cs, struct KrOptions *ro)
{
    bool segment = cs->input && strcmp(cs->input, "segment") == 0;
    if (cs->schema_file) {
        if (!cs->schema && !(cs->schema = kr_schema_new())) { fprintf(stderr, "kairos: out of memory\n"); return 1; }
        if (kr_schema_load(cs->schema, cs->schema_file, stderr) != 0) return 1;
        /* the command line and the file disagree: neither wins without a word */
        int said = kr_schema_input(cs->schema);
        if (cs->input && said >= 0 && said != segment) {
            fprintf(stderr, "%s: error: the schema says input: %s, the command line --input %s\n",
                    cs->schema_file, said ? "segment" : "rows", cs->input);
            return 1;
        }
    }
    ro->schema = cs->schema;
    ro->segment = segment;
    return 0;
}

void cli_sources_free(CliSources *cs)
{
    kr_schema_free(cs->schema);
    cs->schema = NULL;
}
