/* readout.c -- `kairos readout POLICY EVENTS...`: options (cli_report_args),
 * then kr_readout (runtime/readout.c). */
#include <stdlib.h>
#include <string.h>
#include "runtime/runtime.h"
#include "cli.h"

int cli_readout(int argc, char **argv)
{
    CliReport r;
    int st = cli_report_args(&r, "readout", argc, argv);
    if (st != 0) return cli_report_done(&r, st);
    KrReadoutOptions ropt = { .format = KR_READ_TEXT, .window = r.window, .by_trait = r.by_trait,
                              .policy_name = r.pos[0] };
    if (r.format) {
        if (strcmp(r.format, "text") == 0) ropt.format = KR_READ_TEXT;
        else if (strcmp(r.format, "csv") == 0) ropt.format = KR_READ_CSV;
        else if (strcmp(r.format, "json") == 0) ropt.format = KR_READ_JSON;
        else {
            return cli_report_done(&r, cli_usage_error(
                "readout", "unknown format '%s' (text, csv or json)", r.format));
        }
    }
    if (cli_out_format("readout", r.output, r.format ? r.format : "text", NULL)) return cli_report_done(&r, 2);
    if (ropt.format == KR_READ_CSV && ropt.by_trait) {
        return cli_report_done(&r, cli_usage_error(
            "readout", "--by applies to the text and json formats (the csv form is fixed)"));
    }
    KImage *img = cli_report_image(&r, 0);
    int status = 1;
    if (img) {
        char *buf = NULL;
        size_t len = 0;
        status = kr_readout(img, &ropt, &r.ro, &buf, &len, stderr);
        if (status == 0) status = cli_report_write(r.output, buf, len);
        free(buf);
        kb_free(img);
    }
    return cli_report_done(&r, status);
}
