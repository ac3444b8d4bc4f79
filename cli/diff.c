/* diff.c -- `kairos diff OLD NEW EVENTS...` and the option parsing it
 * shares with `kairos readout` (cli_report_args).  The work is kr_diff
 * (runtime/diff.c); the output goes to standard output or, with -o, to a
 * temporary file renamed over OUT (no partial file on failure).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/runtime.h"
#include "lang/util.h"
#include "cli.h"

#define FAIL_IF_CHANGED_STATUS 3

/* The value of a source option (cli_source_option), inline or the next argument. */
typedef struct SrcVal { const char *val; int *i; int argc; char **argv; const char *cmd, *name; CliSeen *seen; } SrcVal;
static const char *src_value(void *ctx)
{
    SrcVal *v = ctx;
    const char *val = v->val;
    if (!val) {
        if (*v->i + 1 >= v->argc) { cli_usage_error(v->cmd, "option %s needs a value", v->name); return NULL; }
        val = v->argv[++*v->i];
    }
    return cli_once(v->seen, v->cmd, v->name, val) == 0 ? val : NULL;
}

int cli_report_args(CliReport *r, const char *cmd, int argc, char **argv)
{
    memset(r, 0, sizeof *r);
    r->pos = calloc((size_t)argc + 1, sizeof *r->pos);
    if (!r->pos) { fprintf(stderr, "kairos: out of memory\n"); return 1; }
    r->window = 7 * 86400;
    bool only_pos = false;
    CliSeen seen = {0};
    for (int i = 1; i < argc; i++) {
        char *s = argv[i];
        if (!only_pos && strcmp(s, "--") == 0) { only_pos = true; continue; }
        if (only_pos || s[0] != '-' || strcmp(s, "-") == 0) { r->pos[r->npos++] = s; continue; }
        char name[64];
        const char *val = NULL;
        const char *eq = s[1] == '-' ? strchr(s, '=') : NULL;
        size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, s, nlen);
        name[nlen] = '\0';
        if (eq) val = eq + 1;
        SrcVal sv = { eq ? eq + 1 : NULL, &i, argc, argv, cmd, name, &seen };
        int so = cli_source_option(&r->sources, cmd, name, src_value, &sv);   /* --map, --schema, --input */
        if (so < 0) return 2;
        if (so > 0) continue;
        bool is_diff = strcmp(cmd, "diff") == 0;
        bool takes = strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0 || strcmp(name, "--format") == 0 ||
                     strcmp(name, "--until") == 0 || strcmp(name, "--shard") == 0 ||
                     strcmp(name, "--stdin-format") == 0 || strcmp(name, "--jobs") == 0 ||
                     strcmp(name, "--memory") == 0 || (is_diff && strcmp(name, "--fail-if") == 0) ||
                     (!is_diff && (strcmp(name, "--window") == 0 || strcmp(name, "--by") == 0));
        bool is_report = strcmp(cmd, "report") == 0;
        bool flag = strcmp(name, "--skip-bad-rows") == 0 ||
                    (is_diff && strcmp(name, "--fail-if-changed") == 0) ||
                    ((is_diff || is_report) && strcmp(name, "--stamp") == 0);
        if (!takes && !flag) return cli_usage_error(cmd, "unknown option %s", name);
        if (flag && val) return cli_usage_error(cmd, "option %s takes no value", name);
        if (takes && !val) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "option %s needs a value", name);
            val = argv[++i];
        }
        if (takes && cli_once(&seen, cmd, name, val) != 0) return 2;
        if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
            if (cli_out_file_only(cmd, val)) return 2;
            r->output = val;
        }
        else if (strcmp(name, "--format") == 0) r->format = val;
        else if (strcmp(name, "--until") == 0) {
            if (kr_parse_time(val, strlen(val), &r->ro.until) != 0)
                return cli_usage_error(cmd, "--until: '%s' is not an RFC 3339 time or Unix seconds", val);
            r->ro.has_until = true;
        } else if (strcmp(name, "--shard") == 0) {
            if (cli_parse_shard(cmd, val, &r->ro.shard_k, &r->ro.shard_n) != 0) return 2;
        } else if (strcmp(name, "--stdin-format") == 0) {
            if (strcmp(val, "csv") && strcmp(val, "jsonl"))
                return cli_usage_error(cmd, "--stdin-format takes csv or jsonl");
            r->ro.stdin_format = val;
        } else if (strcmp(name, "--fail-if") == 0) {     /* diff only: cli_diff frees them */
            if (!r->fail_if && !(r->fail_if = calloc((size_t)argc + 1, sizeof *r->fail_if))) {
                fprintf(stderr, "kairos: out of memory\n");
                return 1;
            }
            if (cli_fail_if_parse(val, &r->fail_if[r->nfail_if++]) != 0) return 2;
        } else if (strcmp(name, "--jobs") == 0) {
            if (cli_parse_jobs(cmd, val, &r->ro.jobs) != 0) return 2;
        } else if (strcmp(name, "--memory") == 0) {
            if (cli_parse_memory(cmd, val, &r->ro.memory) != 0) return 2;
        } else if (strcmp(name, "--window") == 0) {
            int rc = ku_parse_dur(val, strlen(val), 100LL * 365 * 86400, &r->window);
            if (rc == KU_DUR_BIG)
                return cli_usage_error(cmd, "--window: '%s' is longer than 100 years (36500d)", val);
            if (rc != KU_DUR_OK)
                return cli_usage_error(cmd, "--window: '%s' is not a duration such as 7d, 48h or 1h30m%s", val,
                                       rc == KU_DUR_ORDER ? " (units from largest to smallest, each once)" : "");
        } else if (strcmp(name, "--by") == 0) {
            if (strncmp(val, "customer.", 9) != 0 || !val[9])
                return cli_usage_error(cmd, "--by takes customer.TRAIT, e.g. --by customer.segment");
            r->by_trait = val + 9;
        } else if (strcmp(name, "--skip-bad-rows") == 0) r->ro.skip_bad_rows = true;
        else if (strcmp(name, "--fail-if-changed") == 0) r->fail_if_changed = true;
        else if (strcmp(name, "--stamp") == 0) r->stamp = true;
    }
    int npol = strcmp(cmd, "diff") == 0 ? 2 : 1;
    if (r->npos < npol) return cli_usage_error(cmd, npol == 2 && r->npos == 1 ? "no NEW policy given" : "no policy file given");
    if (r->npos < npol + 1) return cli_usage_error(cmd, "no event file given");
    int nstdin = 0;
    for (int i = npol; i < r->npos; i++) nstdin += strcmp(r->pos[i], "-") == 0;
    for (int i = 0; i < npol; i++)
        if (strcmp(r->pos[i], "-") == 0) nstdin = 2;
    if (nstdin > 1) return cli_usage_error(cmd, "standard input can be read once, as an event file");
    if (cli_check_io(cmd, r->output, (const char *const *)r->pos, r->npos, npol, r->sources.schema_file)) return 2;
    r->ro.inputs = (const char **)(r->pos + npol);
    r->ro.ninputs = (uint32_t)(r->npos - npol);
    return cli_sources_apply(&r->sources, &r->ro);
}

int cli_report_write(const char *output, const char *buf, size_t len)
{
    /* the one output function (cli/output_file.c): standard output, a
     * file through a temporary file and rename, a device or FIFO in place */
    return cli_write_file(output ? output : "-", buf, len) == 0 ? 0 : 1;
}

int cli_report_done(CliReport *r, int status)
{
    free(r->pos);
    free(r->fail_if);
    cli_sources_free(&r->sources);
    return status;
}

KImage *cli_report_image(const CliReport *r, int i)
{
    KlOptions lopt = {0};
    return cli_load_image(r->pos[i], &lopt, false);
}

/* diff_gate -- the --fail-if conditions on the summary (KrDiffOptions.gate). */
static int diff_gate(void *ctx, const char *json)
{
    const CliReport *r = ctx;
    return cli_fail_if_eval(r->fail_if, r->nfail_if, json, stderr);
}

int cli_diff(int argc, char **argv)
{
    CliReport r;
    int status = cli_report_args(&r, "diff", argc, argv);
    KImage *old = NULL, *new_ = NULL;
    if (status != 0) goto done;
    int gate = 0;
    KrDiffOptions dopt = { .format = KR_DIFF_TEXT, .old_name = r.pos[0], .new_name = r.pos[1] };
    if (r.nfail_if) {
        dopt.gate = diff_gate;
        dopt.gate_ctx = &r;
        dopt.gate_status = &gate;
    }
    bool html = false;
    if (r.format) {
        if (strcmp(r.format, "text") == 0) dopt.format = KR_DIFF_TEXT;
        else if (strcmp(r.format, "markdown") == 0) dopt.format = KR_DIFF_MARKDOWN;
        else if (strcmp(r.format, "json") == 0) dopt.format = KR_DIFF_JSON;
        else if (strcmp(r.format, "csv") == 0) dopt.format = KR_DIFF_CSV;
        else if (strcmp(r.format, "html") == 0) html = true;
        else {
            status = cli_usage_error("diff", "unknown format '%s' (text, markdown, json, csv or html)", r.format);
            goto done;
        }
    }
    if (r.stamp && !html) {
        status = cli_usage_error("diff", "--stamp applies to --format html");
        goto done;
    }
    if ((status = cli_out_format("diff", r.output, r.format ? r.format : "text", NULL)) != 0) goto done;
    status = 1;
    old = cli_report_image(&r, 0);
    new_ = old ? cli_report_image(&r, 1) : NULL;
    if (!old || !new_) goto done;
    bool changed = false;
    if (html) {
        KImage *imgs[2] = { old, new_ };
        /* --fail-if-changed or --fail-if with html: the difference decides,
         * and the gates are evaluated before the page is written */
        status = 0;
        if (r.fail_if_changed || r.nfail_if) {
            KrDiffOptions copt = dopt;
            copt.format = KR_DIFF_CSV;
            copt.discard = true;
            status = kr_diff(old, new_, &copt, &r.ro, &changed, stderr);
        }
        if (status == 0 && (gate == 0 || gate == 3)) status = cli_report_html(&r, imgs, 2);
        if (status == 0) status = gate;
    } else {
        /* the difference goes where simulate's schedule goes: a file
         * through its temporary file, anything else held back to the end;
         * the gates are evaluated before it is written (an error there
         * writes nothing), the output written whatever they say */
        CliOut out = {0};
        if (r.output && cli_out_open(&out, r.output) != 0) goto done;
        r.ro.out_name = r.output;
        if (r.output && !out.is_stdout) {
            r.ro.out = out.f;
            r.ro.out_fresh = out.tmp != NULL;
        }
        status = kr_diff(old, new_, &dopt, &r.ro, &changed, stderr);
        bool commit = status == 0 && (gate == 0 || gate == 3);
        if (out.f && cli_out_close(&out, commit) != 0 && commit) status = 1;
        if (status == 0) status = gate;
    }
    /* any --fail-if condition that holds exits 3, as the schedules
     * differing does with --fail-if-changed */
    if (status == 0 && changed && r.fail_if_changed) status = FAIL_IF_CHANGED_STATUS;
done:
    if (old) kb_free(old);
    if (new_) kb_free(new_);
    return cli_report_done(&r, status);
}
