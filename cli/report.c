/* report.c -- `kairos report POLICY EVENTS... -o report.html` and the page
 * of `kairos diff --format html`: options (cli_report_args), then kr_report
 * (runtime/report.c); the page goes to standard output or through a
 * temporary file renamed over OUT (no partial file on failure).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runtime/runtime.h"
#include "cli.h"

int cli_report_html(const CliReport *r, KImage *const *imgs, int n)
{
    KrReportOptions rp = { .npolicies = (uint32_t)n, .window = r->window, .version = KAIROS_VERSION,
                           .stamp = r->stamp, .stamp_time = r->stamp ? (int64_t)time(NULL) : 0 };
    for (int k = 0; k < n && k < 2; k++) {
        rp.imgs[k] = imgs[k];
        rp.names[k] = r->pos[k];
    }
    char *buf = NULL;
    size_t len = 0;
    int status = kr_report(&rp, &r->ro, &buf, &len, stderr);
    if (status == 0) status = cli_report_write(r->output, buf, len);
    free(buf);
    return status;
}

int cli_report(int argc, char **argv)
{
    CliReport r;
    int st = cli_report_args(&r, "report", argc, argv);
    if (st != 0) return cli_report_done(&r, st);
    if (r.format && strcmp(r.format, "html") != 0) {
        return cli_report_done(&r, cli_usage_error(
            "report", "unknown format '%s' (report writes html)", r.format));
    }
    if (r.by_trait) {
        return cli_report_done(&r, cli_usage_error("report", "--by applies to kairos readout"));
    }
    if (cli_out_format("report", r.output, "html", NULL)) return cli_report_done(&r, 2);
    KImage *img = cli_report_image(&r, 0);
    int status = 1;
    if (img) {
        status = cli_report_html(&r, &img, 1);
        kb_free(img);
    }
    return cli_report_done(&r, status);
}
