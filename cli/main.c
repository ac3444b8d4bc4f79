/* main.c -- the `kairos` command-line driver.
 *
 * Parses the command line, then calls the front end (lang/lang.h) and the
 * runtime (runtime/runtime.h).  Exit status: 0 success, 1 an error in a
 * policy or an input, 2 bad usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lang/util.h"
#include "lang/lang.h"
#include "lang/sarif.h"
#include "runtime/runtime.h"
#include "cli.h"


typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} Command;

static int cmd_check(int argc, char **argv);
static int cmd_compile(int argc, char **argv);
static int cmd_disasm(int argc, char **argv);
static int cmd_simulate(int argc, char **argv);
static int cmd_explain(int argc, char **argv);
static int cmd_fmt(int argc, char **argv);
static int cmd_merge(int argc, char **argv);
static int cmd_lsp(int argc, char **argv);
static int cmd_test(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_diff(int argc, char **argv) { return cli_diff(argc, argv); }
static int cmd_readout(int argc, char **argv) { return cli_readout(argc, argv); }
static int cmd_report(int argc, char **argv) { return cli_report(argc, argv); }

static const Command commands[] = {
    { "check", cmd_check,
      "kairos check [--strict] [--Werror] [--format text|json|github|sarif] [--summary|--no-summary]\n"
      "             FILE|DIR...",
      "Parses and checks policies. Prints every diagnostic as FILE:LINE:COL: error|warning: MESSAGE\n"
      "with the source line and a caret. A directory stands for every *.kai file below it (sorted,\n"
      "hidden directories skipped). Exit 0 when there is no error (warnings allowed), 1 on any error.\n"
      "  --strict          every undeclared event is an error\n"
      "  --Werror          warnings are errors\n"
      "  --format F        text (default), json, github (workflow commands), sarif (one SARIF 2.1.0\n"
      "                    log for all files)\n"
      "  --color WHEN      auto (default), always, never\n"
      "  --summary         end with a line 'N errors, M warnings in K files' on standard error\n"
      "                    (the default when standard error is a terminal)\n"
      "  --no-summary      no closing line, even on a terminal\n" },
    { "compile", cmd_compile,
      "kairos compile [--strict] [--Werror] FILE.kai [-o FILE.kbc]",
      "Checks a policy and compiles it to a bytecode file (default: the input's name with .kbc).\n"
      "The output is written to a temporary file and renamed: a failed run leaves no partial file.\n"
      "  -o FILE           the bytecode file to write (- for standard output)\n"
      "  --strict          every undeclared event is an error\n"
      "  --Werror          warnings are errors: a policy with warnings is not compiled\n" },
    { "disasm", cmd_disasm,
      "kairos disasm FILE.kbc|FILE.kai",
      "Prints a readable listing of a policy's bytecode: tables, each rule with its code and source\n"
      "lines, and the retention table. A .kai file is compiled in memory first.\n" },
    { "simulate", cmd_simulate,
      "kairos simulate POLICY EVENTS... [-o OUT] [--until TIME] [--format csv|jsonl|json] [--stats]\n"
      "                [--stats-format text|json] [--skip-bad-rows] [--shard K/N]\n"
      "                [--stdin-format csv|jsonl] [--no-progress] [--jobs N] [--memory SIZE]\n"
      "                " CLI_SOURCE_SYNOPSIS,
      "Replays event logs (CSV, JSON Lines, optionally .gz; - for standard input) through a policy\n"
      "(.kai, compiled in memory, or .kbc) and writes the send schedule as CSV\n"
      "(time,customer,rule,action,survey,channel,attempt,variant) or JSON Lines.\n"
      "  -o FILE           write to FILE (via a temporary file and rename) instead of standard output\n"
      "  --until TIME      horizon (RFC 3339 or Unix seconds); default: the latest event's time\n"
      "  --format F        csv (default) or jsonl; json: JSON Lines, and --stats as JSON\n"
      "  --stats           print a summary on standard error: asks per rule and asks spared, by reason\n"
      "  --stats-format F  text (default) or json: the summary as one JSON document (implies --stats)\n"
      "  --skip-bad-rows   skip malformed rows (counted on standard error) instead of failing\n"
      "  --shard K/N       keep only customers whose FNV-1a 64 hash of the id is K modulo N\n"
      "  --stdin-format F  format of standard input and unnamed streams (csv or jsonl; default csv)\n"
      "  --no-progress     no progress line on a terminal\n"
      "  --jobs N          replay on N threads (default: one per CPU); the output is the same for any N\n"
      "  --memory SIZE     memory ceiling (K, M or G suffix; default 512M): rows waiting for the\n"
      "                    replay spill to a temporary file past an eighth of it (8M at most)\n"
      CLI_SOURCE_HELP
      "  -o may also name a table: postgresql://...?table=T or sqlite:PATH?table=T (one transaction)\n" },
    { "explain", cmd_explain,
      "kairos explain POLICY EVENTS... --customer ID [--rule NAME] [--format text|jsonl] [--from TIME]\n"
      "               [--until TIME] [--skip-bad-rows] [--stdin-format csv|jsonl] [--no-progress]\n"
      "               " CLI_SOURCE_SYNOPSIS,
      "Replays like simulate and tells the story of one customer on standard output: first one line\n"
      "per trigger saying what became of it and why, then every event, trigger, scheduled ask, check\n"
      "(with the values it saw) and decision.\n"
      "  --customer ID     the customer whose story is told (required; an id absent from the logs\n"
      "                    is an error naming the closest ids)\n"
      "  --rule NAME       only this rule's story (an unknown rule is an error listing the rules)\n"
      "  --format F        text (default: TIME  RULE  STEP  DETAIL lines) or jsonl (one object a line)\n"
      "  --from TIME       leave out the story before TIME (the replay still starts at the beginning)\n"
      "  --until TIME      horizon (RFC 3339 or Unix seconds); default: the latest event's time\n"
      "  --skip-bad-rows   skip malformed event rows instead of failing\n"
      "  --stdin-format F  format of standard input and unnamed streams (csv or jsonl; default csv)\n"
      "  --no-progress     accepted as for simulate\n"
      CLI_SOURCE_HELP },
    { "diff", cmd_diff,
      "kairos diff OLD NEW EVENTS... [--format text|markdown|json|csv|html] [-o OUT] [--until TIME]\n"
      "                [--fail-if-changed] [--fail-if EXPR] [--stamp] [--shard K/N] [--skip-bad-rows]\n"
      "                [--stdin-format csv|jsonl] " CLI_REPLAY_SYNOPSIS " " CLI_SOURCE_SYNOPSIS,
      "Replays two policies (.kai or .kbc) over the same event logs, read once, and shows what the\n"
      "change does: asks, reminders and tasks per rule, survey and channel before -> after; the\n"
      "customers who gain and lose asks; contact pressure (asks per customer in any 30 days: share\n"
      "at 0, 1, 2, 3+, and the most); sends that only moved in time (same customer, rule, trigger\n"
      "and attempt) with the median shift; rules present in only one policy.\n"
      "  --format F         text (default), markdown (a pull-request comment), json (every number\n"
      "                     of the summary), csv (the schedules' difference as a multiset:\n"
      "                     change,time,customer,rule,action,survey,channel,attempt,variant with\n"
      "                     change - (only in OLD) or + (only in NEW)), html (the page of\n"
      "                     'kairos report' for both policies side by side)\n"
      "  -o FILE            write to FILE (via a temporary file and rename)\n"
      "  --stamp            html: show the generation time (otherwise the page is byte-identical\n"
      "                     for the same inputs)\n"
      "  --until TIME       horizon (RFC 3339 or Unix seconds); default: the latest event's time\n"
      "  --fail-if-changed  exit 3 when the schedules differ (after writing the output)\n"
      "  --fail-if EXPR     exit 3 when FIELD OP NUMBER holds on the json summary's fields (OP one of\n"
      "                     < <= > >= == !=; a field with before and after may leave them out to mean\n"
      "                     after: 'pressure.max > 2', 'totals.asks > 1000'); repeatable (any that\n"
      "                     holds is enough)\n"
      "  --shard K/N        keep only customers whose FNV-1a 64 hash of the id is K modulo N\n"
      "  --skip-bad-rows    skip malformed rows (counted on standard error) instead of failing\n"
      "  --stdin-format F   format of standard input and unnamed streams (csv or jsonl; default csv)\n"
      CLI_REPLAY_HELP
      CLI_SOURCE_HELP
      "Exit status: 0 (whether or not the schedules differ), 1 error, 2 bad usage (also a --fail-if\n"
      "field the summary lacks: nothing is written), 3 the schedules differ and --fail-if-changed was\n"
      "given, or a --fail-if condition holds (each one that holds is named on standard error).\n" },
    { "readout", cmd_readout,
      "kairos readout POLICY EVENTS... [--window DUR] [--format text|csv|json] [-o OUT]\n"
      "                [--until TIME] [--by customer.TRAIT] [--shard K/N] [--skip-bad-rows]\n"
      "                " CLI_REPLAY_SYNOPSIS " " CLI_SOURCE_SYNOPSIS,
      "What the asks achieved: replays the policy and attributes each `response` event (attribute\n"
      "survey) to the latest sent attempt of that survey to that customer at or before it, within\n"
      "the window; an ask is answered if any response is attributed to any of its sent attempts.\n"
      "  --window DUR       attribution window (default 7d; units s m h d w, e.g. 48h, 1h30m)\n"
      "  --format F         text (default), csv (rule,variant,asks,answered,rate,low,high with a\n"
      "                     Wilson 95% interval), json\n"
      "  --by customer.T    split every table by the customer's trait T (e.g. customer.segment)\n"
      "  -o FILE            write to FILE (via a temporary file and rename)\n"
      "  --until TIME       horizon (RFC 3339 or Unix seconds); default: the latest event's time\n"
      "  --shard K/N        keep only customers whose FNV-1a 64 hash of the id is K modulo N\n"
      "  --skip-bad-rows    skip malformed rows (counted on standard error) instead of failing\n"
      "  --stdin-format F   format of standard input and unnamed streams (csv or jsonl; default csv)\n"
      CLI_REPLAY_HELP
      CLI_SOURCE_HELP
      "Text and JSON add per variant the difference to the rule's first variant (Newcombe hybrid\n"
      "score 95% interval), the scores (NPS = % promoters - % detractors; other surveys: mean),\n"
      "rates by channel, attempt and local hour of the send, time to response (median, p90), the\n"
      "benchmark band per channel, and warnings for experiments shorter than 28 days or arms with\n"
      "fewer than 100 asks.\n" },
    { "report", cmd_report,
      "kairos report POLICY EVENTS... -o report.html [--window DUR] [--until TIME] [--stamp]\n"
      "                [--shard K/N] [--skip-bad-rows] [--stdin-format csv|jsonl]\n"
      "                " CLI_REPLAY_SYNOPSIS " " CLI_SOURCE_SYNOPSIS,
      "Replays the policy over the event logs and writes one self-contained HTML page (inline SVG\n"
      "and CSS: no script, no network request) that shows what the policy does to customers: sends\n"
      "per day by rule (reminders hatched), asks per customer in any 30 days against the caps, why\n"
      "asks were spared (per rule and reason), sends by local hour and weekday (quiet hours\n"
      "marked), channel mix and reminder chains, the readout (response rate per rule and variant\n"
      "with 95% intervals) when the logs have responses, the run's facts and the inputs' warnings.\n"
      "Every chart has its table. The same inputs give a byte-identical page.\n"
      "  -o FILE            write to FILE (via a temporary file and rename); default standard output\n"
      "  --window DUR       the readout's attribution window (default 7d)\n"
      "  --until TIME       horizon (RFC 3339 or Unix seconds); default: the latest event's time\n"
      "  --stamp            show the generation time on the page\n"
      "  --format html      the only format (accepted for symmetry with diff)\n"
      "  --shard K/N        keep only customers whose FNV-1a 64 hash of the id is K modulo N\n"
      "  --skip-bad-rows    skip malformed rows (counted on the page) instead of failing\n"
      "  --stdin-format F   format of standard input and unnamed streams (csv or jsonl; default csv)\n"
      CLI_REPLAY_HELP
      CLI_SOURCE_HELP
      "Exit status: 0, 1 error in the policy or the input (no output file), 2 bad usage.\n" },
    { "merge", cmd_merge,
      "kairos merge POLICY SCHEDULE... [-o OUT]",
      "Merges the schedules of disjoint customer shards (as 'simulate --shard K/N' wrote them, all\n"
      "CSV or all JSON Lines; - for standard input) into exactly the schedule one 'simulate' over\n"
      "every customer writes, streaming. Fails, naming the file and line, when an input is not a\n"
      "schedule of POLICY (unknown rule, survey or variant), is out of order, or shares a customer\n"
      "with another input. Given readouts ('readout --format csv' of shards) instead, it adds their\n"
      "counts and computes rate and interval again: the readout of every customer.\n"
      "  -o FILE           write to FILE (via a temporary file and rename) instead of standard output;\n"
      "                    a table (postgresql://...?table=T, sqlite:PATH?table=T) takes CSV schedules\n" },
    { "lsp", cmd_lsp,
      "kairos lsp",
      "Runs a Language Server Protocol server on standard input and output (for editors):\n"
      "diagnostics as you type, formatting, hover, go to definition, completion and document\n"
      "symbols. Exit 0 after a 'shutdown' request and 'exit', 1 if the input ends without them.\n" },
    { "fmt", cmd_fmt,
      "kairos fmt [--check|--diff|-w] [--color WHEN] FILE|DIR...",
      "Formats policies in the canonical layout (the meaning never changes) and prints them on\n"
      "standard output. A directory stands for every *.kai file below it (sorted, hidden\n"
      "directories skipped); FILE - is standard input. A file with a syntax error is reported and\n"
      "left as it is. Exit 1 if a file cannot be read or parsed (or would change, with --check or\n"
      "--diff).\n"
      "  --check           list the files that would change, one a line; change nothing\n"
      "  --diff, -d        print a unified diff for each file that would change\n"
      "  -w, --write       rewrite each file that changes, in place\n"
      "  --color WHEN      colour the diagnostics: auto (default), always, never\n" },
    { "test", cmd_test,
      "kairos test [--update] [--format text|junit] [-o FILE] [--junit FILE] [FILE.yaml|DIR]...",
      "Runs policy tests written in YAML (default: every *.test.yaml under the current\n"
      "directory). Prints one line per test, a diff or the failed assertion for each failure, and\n"
      "a closing line 'N passed, M failed'. Exit 1 on any failure.\n"
      "  --format junit    write JUnit XML (to -o FILE, or standard output)\n"
      "  --junit FILE      write JUnit XML to FILE and the text report to standard output\n"
      "  --update          rewrite the expected schedule of each test whose schedule differs (the\n"
      "                    inline list or the schedule file) and say what changed\n" },
    { "help", cmd_help,
      "kairos help [COMMAND]",
      "Shows help for a command.\n" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ---- usage helpers ----------------------------------------------------- */

static const Command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    fprintf(out,
        "kairos %s -- feedback timing policies: check, compile, replay\n\n"
        "usage:\n", KAIROS_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out,
        "\n  kairos --help | --version\n\n"
        "Run 'kairos help COMMAND' for a command's options. Exit status: 0 success, 1 an error in a\n"
        "policy or an input, 2 bad usage.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kairos%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    ku_vshow(stderr, fmt, ap);        /* what it quotes of the command line shown escaped */
    va_end(ap);
    fputc('\n', stderr);
    const Command *c = cmd ? find_command(cmd) : NULL;
    if (c)
        fprintf(stderr, "usage: %s\n", c->synopsis);
    else
        fprintf(stderr, "run 'kairos --help' for usage\n");
    return 2;
}

/* ---- option parsing ------------------------------------------------------
 * Options may come before, after or between operands; "--name=value" and
 * "--name value" are both accepted; "--" ends options. */

typedef struct Args {
    const char *cmd;
    int argc, i;
    char **argv;
    char **pos;              /* operands, in order */
    int npos;
    const char *opt;         /* the current option, for messages */
    const char *name;        /* ... its name (without "=value") */
    const char *inline_val;  /* value after '=' */
    int only_pos;
    CliSeen seen;            /* options given a value so far */
} Args;

static void args_init(Args *a, const char *cmd, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
    a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
}

/* Returns the next option name (without its value), or NULL at the end;
 * operands are collected in a->pos on the way. */
static const char *args_next(Args *a)
{
    while (a->i < a->argc) {
        char *s = a->argv[a->i++];
        if (!a->only_pos && strcmp(s, "--") == 0) {
            a->only_pos = 1;
            continue;
        }
        if (a->only_pos || s[0] != '-' || strcmp(s, "-") == 0) {
            a->pos[a->npos++] = s;
            continue;
        }
        a->opt = s;
        a->inline_val = NULL;
        char *eq = strchr(s, '=');
        if (eq && s[1] == '-') {
            static char name[128];
            size_t n = (size_t)(eq - s);
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, s, n);
            name[n] = '\0';
            a->inline_val = eq + 1;
            return a->name = name;
        }
        return a->name = s;
    }
    return NULL;
}

/* The value of the current option, or NULL (after a usage message: no
 * value, or the option given twice: cli_once). */
static const char *args_value(Args *a)
{
    const char *v = a->inline_val;
    if (!v) {
        if (a->i >= a->argc) {
            cli_usage_error(a->cmd, "option %s needs a value", a->opt);
            return NULL;
        }
        v = a->argv[a->i++];
    }
    return cli_once(&a->seen, a->cmd, a->name, v) == 0 ? v : NULL;
}

static int args_flag_only(Args *a)
{
    if (a->inline_val) {
        cli_usage_error(a->cmd, "option %s takes no value", a->name);
        return 0;
    }
    return 1;
}

static void args_free(Args *a) { free(a->pos); }

/* ---- loading policies ---------------------------------------------------- */

static bool use_color(const char *when)
{
    if (strcmp(when, "always") == 0) return true;
    if (strcmp(when, "never") == 0) return false;
    return isatty(STDERR_FILENO) && getenv("NO_COLOR") == NULL;
}

/* Compiles (with diagnostics on stderr) or loads a policy, reading the file
 * once.  NULL on error (message printed). */
KImage *cli_load_image(const char *path, const KlOptions *lopt, bool color)
{
    return cli_load_image_also(path, lopt, color, NULL);
}

KImage *cli_load_image_also(const char *path, const KlOptions *lopt, bool color, FILE *also)
{
    uint8_t *buf;
    size_t len;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    char *text;
    if (ku_read_file(strcmp(path, "-") == 0 ? NULL : path, KD_MAX_SOURCE, &text, &len) != 0) {
        int e = errno;
        fprintf(stderr, "%s: error: cannot read file: %s\n", name, strerror(e));
        if (also) fprintf(also, "%s: error: cannot read file: %s\n", name, strerror(e));
        return NULL;
    }
    buf = (uint8_t *)text;
    if (ku_is_bytecode(path, (const char *)buf, len)) {
        char err[256];
        KImage *img = kb_read(buf, len, err, sizeof err);
        free(buf);
        if (img && img->timezone != KB_NONE && !ku_zone_name(img->strings[img->timezone])) {
            /* compiled elsewhere (another tz database) or made by hand: the
             * source's check (K0314) never ran here, and a replay must not
             * fall back to UTC without a word */
            snprintf(err, sizeof err, "the bytecode's time zone '%.100s' is not a zone of this system's database",
                     img->strings[img->timezone]);
            kb_free(img);
            img = NULL;
        }
        if (!img) {
            fprintf(stderr, "%s: error: %s\n", name, err);
            if (also) fprintf(also, "%s: error: %s\n", name, err);
        }
        return img;
    }
    KDiags d;
    kd_init(&d, NULL);
    d.mute_notes = true;       /* lint notes are for `check`, not every run */
    d.werror = lopt->werror;
    KProgram *p = kc_load_text(name, (const char *)buf, len, lopt, &d);
    free(buf);
    kd_print(&d, stderr, KD_FMT_TEXT, color);
    if (also) kd_print(&d, also, KD_FMT_TEXT, false);
    KImage *img = NULL;
    if (p && !kd_failed(&d))
        img = kg_compile(p);
    kd_free(&d);
    if (p) kc_free(p);
    return img;
}

/* ---- commands ----------------------------------------------------------- */

/* cli_expand_policies' report for check: a directory's error as a K0001
 * diagnostic of the file (printed "DIR: error: MESSAGE" as text). */
static void dir_diag(void *ctx, const char *dir, const char *msg)
{
    kd_file_error(ctx, dir, "K0001", "%s", msg);
}

static int cmd_check(int argc, char **argv)
{
    Args a;
    args_init(&a, "check", argc, argv);
    KlOptions lopt = {0};
    KDiagFormat fmt = KD_FMT_TEXT;
    const char *color = "auto";
    int summary = -1;                 /* -1: when standard error is a terminal */
    const char *o;
    while ((o = args_next(&a))) {
        if (strcmp(o, "--strict") == 0) { if (!args_flag_only(&a)) goto usage; lopt.strict = true; }
        else if (strcmp(o, "--summary") == 0) { if (!args_flag_only(&a)) goto usage; summary = 1; }
        else if (strcmp(o, "--no-summary") == 0) { if (!args_flag_only(&a)) goto usage; summary = 0; }
        else if (strcmp(o, "--Werror") == 0) { if (!args_flag_only(&a)) goto usage; lopt.werror = true; }
        else if (strcmp(o, "--format") == 0) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (strcmp(v, "text") == 0) fmt = KD_FMT_TEXT;
            else if (strcmp(v, "json") == 0) fmt = KD_FMT_JSON;
            else if (strcmp(v, "github") == 0) fmt = KD_FMT_GITHUB;
            else if (strcmp(v, "sarif") == 0) fmt = KD_FMT_SARIF;
            else { cli_usage_error("check", "unknown format '%s' (text, json, github, sarif)", v); goto usage; }
        } else if (strcmp(o, "--color") == 0) {
            if (!(color = args_value(&a))) goto usage;
            if (strcmp(color, "auto") && strcmp(color, "always") && strcmp(color, "never")) {
                cli_usage_error("check", "--color takes auto, always or never"); goto usage;
            }
        } else { cli_usage_error("check", "unknown option %s", o); goto usage; }
    }
    if (a.npos == 0) { cli_usage_error("check", "no policy file given"); goto usage; }
    int nstdin = 0;
    for (int i = 0; i < a.npos; i++) nstdin += strcmp(a.pos[i], "-") == 0;
    if (nstdin > 1) { cli_usage_error("check", "standard input can be read once: '-' given %d times", nstdin); goto usage; }

    char **files;
    int nfiles;
    KDiags all;
    /* a directory's errors are diagnostics too (K0001, at the directory),
     * in every format: first, as they are found before any file is read */
    KDiags direrr;
    kd_init(&direrr, NULL);
    int ndir = cli_expand_policies("check", a.pos, a.npos, &files, &nfiles, dir_diag, &direrr);
    uint32_t nerr = 0, nwarn = 0;
    int status = ndir ? 1 : 0;
    /* Each file is checked on its own; json/github are line oriented and
     * printed per file, SARIF is one log for all files (one run). */
    KSarif *sarif = NULL;
    char *cwd = NULL;
    if (fmt == KD_FMT_SARIF) {
        cwd = getcwd(NULL, 0);
        if (!(sarif = kd_sarif_new(cwd, KAIROS_VERSION))) {
            fprintf(stderr, "kairos check: out of memory\n");
            free(cwd);
            kd_free(&direrr);
            cli_free_paths(files, nfiles);
            args_free(&a);
            return 1;
        }
    }
    for (int i = -1; i < nfiles; i++) {
        KProgram *p = NULL;
        if (i < 0) {                                /* the directories' errors */
            all = direrr;
            if (!ndir) { kd_free(&all); continue; }
        } else if (strcmp(files[i], "-") == 0) {    /* standard input, read once */
            kd_init(&all, NULL);
            all.werror = lopt.werror;
            char *buf;
            size_t len;
            if (ku_read_file(NULL, KD_MAX_SOURCE, &buf, &len) != 0)
                kd_file_error(&all, "<stdin>", "K0001", "cannot read file: %s", strerror(errno));
            else {
                p = kc_load_text("<stdin>", buf, len, &lopt, &all);
                free(buf);
            }
        } else {
            kd_init(&all, NULL);
            all.werror = lopt.werror;
            p = kc_load(files[i], &lopt, &all);
        }
        if (sarif) {
            if (!kd_sarif_add(sarif, &all)) {
                fprintf(stderr, "%s: out of memory\n", files[i]);
                status = 1;
            }
        } else if (fmt == KD_FMT_TEXT) {
            kd_print(&all, stderr, fmt, use_color(color));
        } else {
            /* through a buffer: a write error on standard output keeps its
             * reason (kd_print's own flush would lose it) */
            char *mbuf = NULL;
            size_t mlen = 0;
            FILE *mem = open_memstream(&mbuf, &mlen);
            kd_print(&all, mem ? mem : stdout, fmt, use_color(color));
            if (mem && fclose(mem) == 0 && mlen && fwrite(mbuf, 1, mlen, stdout) != mlen)
                cli_stdout_error(errno);
            free(mbuf);
            cli_flush_stdout();
        }
        if (kd_failed(&all)) status = 1;
        uint32_t e, w;
        kd_counts(&all, &e, &w);
        nerr += e;
        nwarn += w;
        kd_free(&all);
        if (p) kc_free(p);
    }
    if (sarif) {
        if (!kd_sarif_write(sarif, stdout)) {
            cli_stdout_error(errno);
            status = 1;
        }
        kd_sarif_free(sarif);
        free(cwd);
    }
    /* the closing line: by default on a terminal */
    if (summary == 1 || (summary == -1 && isatty(STDERR_FILENO)))
        fprintf(stderr, "%u error%s, %u warning%s in %d file%s\n", nerr, nerr == 1 ? "" : "s",
                nwarn, nwarn == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s");
    cli_free_paths(files, nfiles);
    args_free(&a);
    return status;
usage:
    args_free(&a);
    return 2;
}

static char *default_kbc_name(const char *in)
{
    size_t n = strlen(in);
    const char *slash = strrchr(in, '/');
    const char *dot = strrchr(in, '.');
    if (dot && (!slash || dot > slash) && dot != in && (!slash || dot != slash + 1))
        n = (size_t)(dot - in);
    char *out = malloc(n + 5);
    if (!out) return NULL;
    memcpy(out, in, n);
    memcpy(out + n, ".kbc", 5);
    return out;
}

static int cmd_compile(int argc, char **argv)
{
    Args a;
    args_init(&a, "compile", argc, argv);
    KlOptions lopt = {0};
    const char *out = NULL;
    const char *o;
    while ((o = args_next(&a))) {
        if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) {
            if (!(out = args_value(&a)) || cli_out_file_only("compile", out)) goto usage;
        } else if (strcmp(o, "--strict") == 0) { if (!args_flag_only(&a)) goto usage; lopt.strict = true; }
        else if (strcmp(o, "--Werror") == 0) { if (!args_flag_only(&a)) goto usage; lopt.werror = true; }
        else { cli_usage_error("compile", "unknown option %s", o); goto usage; }
    }
    if (a.npos != 1) { cli_usage_error("compile", a.npos ? "one policy file at a time" : "no policy file given"); goto usage; }
    const char *in = a.pos[0];
    struct stat st;
    if (!out && strcmp(in, "-") != 0 && stat(in, &st) == 0 &&
        ((!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) || strncmp(in, "/dev/", 5) == 0 || strncmp(in, "/proc/", 6) == 0)) {
        /* a pipe or a device has no name to put .kbc on: /dev/stdin.kbc would land in /dev */
        cli_usage_error("compile", "%s is a pipe, a device or a descriptor, with no file name to put .kbc on: give -o FILE (or -o -)", in);
        goto usage;
    }
    KImage *img = cli_load_image(in, &lopt, use_color("auto"));
    if (!img) { args_free(&a); return 1; }
    uint8_t *bytes;
    size_t len;
    int status = 1;
    if (kb_write(img, &bytes, &len) != 0) {
        fprintf(stderr, "%s: out of memory while writing bytecode\n", in);
    } else {
        char *def = out || strcmp(in, "-") == 0 ? NULL : default_kbc_name(in);
        const char *path = out ? out : def ? def : "-";
        struct stat si, so;
        if (def && stat(in, &si) == 0 && stat(def, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            cli_usage_error("compile", "the default output %s (the input's name with .kbc) is the input itself: "
                            "give -o FILE", def);
            status = 2;
        } else if (cli_out_not_input("compile", path, &in, 1) || cli_out_format("compile", path, "kbc", NULL)) {
            status = 2;
        }
        else status = cli_write_file(path, bytes, len) == 0 ? 0 : 1;
        free(def);
        free(bytes);
    }
    kb_free(img);
    args_free(&a);
    return status;
usage:
    args_free(&a);
    return 2;
}

static int cmd_disasm(int argc, char **argv)
{
    Args a;
    args_init(&a, "disasm", argc, argv);
    const char *o;
    while ((o = args_next(&a))) {
        cli_usage_error("disasm", "unknown option %s", o);
        args_free(&a);
        return 2;
    }
    if (a.npos != 1) {
        cli_usage_error("disasm", a.npos ? "one file at a time" : "no file given");
        args_free(&a);
        return 2;
    }
    KlOptions lopt = {0};
    KImage *img = cli_load_image(a.pos[0], &lopt, use_color("auto"));
    args_free(&a);
    if (!img) return 1;
    kb_disasm(img, stdout);         /* write errors: cli_finish_stdout */
    kb_free(img);
    return 0;
}

static int cmd_lsp(int argc, char **argv)
{
    Args a;
    args_init(&a, "lsp", argc, argv);
    const char *o;
    while ((o = args_next(&a))) {
        /* editors commonly pass --stdio; it is the only transport */
        bool ok = strcmp(o, "--stdio") == 0;
        if (!ok) cli_usage_error("lsp", "unknown option %s", o);
        if (!ok || !args_flag_only(&a)) {
            args_free(&a);
            return 2;
        }
    }
    int npos = a.npos;
    args_free(&a);
    if (npos) return cli_usage_error("lsp", "takes no operands");
    return cli_lsp();
}

static int cmd_merge(int argc, char **argv)
{
    Args a;
    args_init(&a, "merge", argc, argv);
    const char *o, *out = NULL;
    while ((o = args_next(&a))) {
        if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) {
            if (!(out = args_value(&a))) { args_free(&a); return 2; }
        } else {
            cli_usage_error("merge", "unknown option %s", o);
            args_free(&a);
            return 2;
        }
    }
    if (a.npos < 2) {
        cli_usage_error("merge", a.npos ? "no schedule given" : "no policy given");
        args_free(&a);
        return 2;
    }
    int nstdin = 0;
    for (int i = 0; i < a.npos; i++) nstdin += strcmp(a.pos[i], "-") == 0;
    if (nstdin > 1) {
        cli_usage_error("merge", "standard input can be read once: '-' given %d times", nstdin);
        args_free(&a);
        return 2;
    }
    if (cli_out_not_input("merge", out, (const char *const *)a.pos, a.npos) ||
        cli_merge_inputs_distinct((const char *const *)a.pos + 1, a.npos - 1)) {
        args_free(&a);
        return 2;
    }
    KlOptions lopt = {0};
    KImage *img = cli_load_image(a.pos[0], &lopt, use_color("auto"));
    if (!img) { args_free(&a); return 1; }
    int rc = cli_merge(img, a.pos + 1, a.npos - 1, out);
    kb_free(img);
    args_free(&a);
    return rc;
}

static const char *args_value_cb(void *a) { return args_value(a); }

/* Shared by simulate and explain. */
static int run_replay(const char *cmd, int argc, char **argv, bool explain)
{
    Args a;
    args_init(&a, cmd, argc, argv);
    KrOptions ro = {0};
    CliSources cs = {0};
    ro.progress = true;
    const char *output = NULL;
    const char *o;
    while ((o = args_next(&a))) {
        int so = cli_source_option(&cs, cmd, o, args_value_cb, &a);   /* --map, --schema, --input */
        if (so < 0) goto usage;
        if (so > 0) continue;
        if ((strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) && !explain) {
            if (!(output = args_value(&a))) goto usage;
        } else if (strcmp(o, "--until") == 0) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (kr_parse_time(v, strlen(v), &ro.until) != 0) {
                cli_usage_error(cmd, "--until: '%s' is not an RFC 3339 time or Unix seconds", v);
                goto usage;
            }
            ro.has_until = true;
        } else if (strcmp(o, "--format") == 0) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (strcmp(v, "jsonl") == 0) { ro.format = KR_OUT_JSONL; ro.explain_jsonl = true; }
            else if (strcmp(v, "json") == 0 && !explain) { ro.format = KR_OUT_JSONL; ro.stats_json = true; }
            else if (strcmp(v, explain ? "text" : "csv") == 0) ro.format = KR_OUT_CSV;
            else { cli_usage_error(cmd, "unknown format '%s' (%s)", v, explain ? "text or jsonl" : "csv, jsonl or json"); goto usage; }
        } else if (strcmp(o, "--stats") == 0 && !explain) {
            if (!args_flag_only(&a)) goto usage;
            ro.stats = true;
        } else if (strcmp(o, "--stats-format") == 0 && !explain) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (strcmp(v, "json") == 0) ro.stats_json = true;
            else if (strcmp(v, "text") == 0) ro.stats_json = false;
            else { cli_usage_error(cmd, "--stats-format takes text or json"); goto usage; }
            ro.stats = true;
        } else if (strcmp(o, "--skip-bad-rows") == 0) {
            if (!args_flag_only(&a)) goto usage;
            ro.skip_bad_rows = true;
        } else if (strcmp(o, "--no-progress") == 0) {
            if (!args_flag_only(&a)) goto usage;
            ro.progress = false;
        } else if (strcmp(o, "--stdin-format") == 0) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (strcmp(v, "csv") && strcmp(v, "jsonl")) { cli_usage_error(cmd, "--stdin-format takes csv or jsonl"); goto usage; }
            ro.stdin_format = v;
        } else if (strcmp(o, "--shard") == 0 && !explain) {
            const char *v = args_value(&a);
            if (!v || cli_parse_shard(cmd, v, &ro.shard_k, &ro.shard_n) != 0) goto usage;
        } else if (strcmp(o, "--jobs") == 0 && !explain) {
            const char *v = args_value(&a);
            if (!v || cli_parse_jobs(cmd, v, &ro.jobs) != 0) goto usage;
        } else if (strcmp(o, "--memory") == 0 && !explain) {
            const char *v = args_value(&a);
            if (!v || cli_parse_memory(cmd, v, &ro.memory) != 0) goto usage;
        } else if (strcmp(o, "--customer") == 0 && explain) {
            if (!(ro.explain_customer = args_value(&a))) goto usage;
            /* no row has an empty customer id (5.6), no rule an empty name */
            if (!*ro.explain_customer) { cli_usage_error(cmd, "--customer takes a customer id, not an empty text"); goto usage; }
        } else if (strcmp(o, "--rule") == 0 && explain) {
            if (!(ro.explain_rule = args_value(&a))) goto usage;
            if (!*ro.explain_rule) { cli_usage_error(cmd, "--rule takes a rule name, not an empty text"); goto usage; }
        } else if (strcmp(o, "--from") == 0 && explain) {
            const char *v = args_value(&a);
            if (!v) goto usage;
            if (kr_parse_time(v, strlen(v), &ro.explain_from) != 0) {
                cli_usage_error(cmd, "--from: '%s' is not an RFC 3339 time or Unix seconds", v);
                goto usage;
            }
            ro.has_explain_from = true;
        } else {
            cli_usage_error(cmd, "unknown option %s", o);
            goto usage;
        }
    }
    if (a.npos < 1) { cli_usage_error(cmd, "no policy file given"); goto usage; }
    if (a.npos < 2) { cli_usage_error(cmd, "no event file given"); goto usage; }
    if (explain && !ro.explain_customer) { cli_usage_error(cmd, "--customer ID is required"); goto usage; }
    if (ro.has_explain_from && ro.has_until && ro.explain_from > ro.until) {
        cli_usage_error(cmd, "--from is after --until: the story would be empty");
        goto usage;
    }
    int nstdin = 0;
    for (int i = 0; i < a.npos; i++) nstdin += strcmp(a.pos[i], "-") == 0;
    if (nstdin > 1) { cli_usage_error(cmd, "standard input can be read once: '-' given %d times", nstdin); goto usage; }
    if (cli_check_io(cmd, output, (const char *const *)a.pos, a.npos, 1, cs.schema_file) ||
        cli_out_format(cmd, output, ro.format == KR_OUT_JSONL ? "jsonl" : "csv",
                       ro.format == KR_OUT_JSONL ? "json" : NULL))
        goto usage;
    if (output && kr_output_is_table(output) && ro.format != KR_OUT_CSV) {
        cli_usage_error(cmd, "-o names a database table, which takes the schedule as rows: only --format csv applies");
        goto usage;
    }

    KlOptions lopt = {0};
    KImage *img = cli_load_image(a.pos[0], &lopt, use_color("auto"));
    if (!img) { args_free(&a); cli_sources_free(&cs); return 1; }
    ro.inputs = (const char **)(a.pos + 1);
    ro.ninputs = (uint32_t)(a.npos - 1);
    CliOut out = {0};
    int status = cli_sources_apply(&cs, &ro);
    if (status != 0) { kb_free(img); args_free(&a); cli_sources_free(&cs); return status; }
    if (output && kr_output_is_table(output)) {
        ro.out_name = output;               /* a database table: the runtime writes it (SPEC 5.13) */
    } else if (output) {
        if (cli_out_open(&out, output) != 0) { kb_free(img); args_free(&a); cli_sources_free(&cs); return 1; }
        ro.out_name = output;
        if (!out.is_stdout) {
            ro.out = out.f;
            ro.out_fresh = out.tmp != NULL;      /* a device or FIFO: held back */
        }
    }
    status = kr_simulate(img, &ro, stderr);
    if (out.f && cli_out_close(&out, status == 0) != 0) status = 1;
    kb_free(img);
    args_free(&a);
    cli_sources_free(&cs);
    return status;
usage:
    args_free(&a);
    cli_sources_free(&cs);
    return 2;
}

static int cmd_simulate(int argc, char **argv) { return run_replay("simulate", argc, argv, false); }
static int cmd_explain(int argc, char **argv)  { return run_replay("explain", argc, argv, true); }

static int cmd_fmt(int argc, char **argv)
{
    return cli_fmt(argc, argv);
}

static int cmd_test(int argc, char **argv)
{
    return cli_test(argc, argv);
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stdout);
        return 0;
    }
    const Command *c = find_command(argv[1]);
    if (!c)
        return cli_usage_error(NULL, "no such command '%s'", argv[1]);
    if (argc > 2) return cli_usage_error("help", "takes one command name (got '%s' after '%s')", argv[2], argv[1]);
    printf("usage: %s\n\n%s", c->synopsis, c->help);
    return 0;
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        print_overview(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kairos %s (bytecode format %u; event sources: %s)\n", KAIROS_VERSION, KBC_VERSION, kr_sources());
        return 0;
    }
    const Command *c = find_command(cmd);
    if (!c)
        return cli_usage_error(NULL, "unknown command '%s'", cmd);
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            char *hargv[] = { "help", (char *)c->name, NULL };
            return cmd_help(2, hargv);
        }
    return c->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    cli_io_init();
    return cli_finish_stdout(run_command(argc, argv));
}
