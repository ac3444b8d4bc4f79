/* fuzz_yaml.c -- libFuzzer target: arbitrary bytes as a `kairos test` file.
 *
 * kq_yaml_parse (libyaml events -> node tree) and kq_node_render on the
 * bytes; then the whole loader kq_file_load (schema checks, inline events,
 * durations, quiet windows) on the bytes written to a file; then the
 * schedule reader kq_rows_read_csv on the same file.  Every error must be a
 * message, never a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/testfile.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input's file in the temporary directory, made once (a cache). */
static const char *fuzz_path;

static void fuzz_init_once(void)
{
    if (!fuzz_path)
        fuzz_path = fuzz_tmp_file("t.test.yaml");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init_once();

    KqMsgs errs = { 0 };
    KqNode *root = kq_yaml_parse("fuzz.yaml", data, size, &errs);
    if (root) {
        free(kq_node_render(root));
        kq_node_free(root);
    } else {
        FUZZ_ASSERT(errs.n > 0 || errs.oom, "kq_yaml_parse failed without a message");
    }
    kq_msgs_free(&errs);

    fuzz_write_file(fuzz_path, data, size);

    KqMsgs ferrs = { 0 };
    KqFile *tf = kq_file_load(fuzz_path, &ferrs);
    if (tf)
        kq_file_free(tf);
    else
        FUZZ_ASSERT(ferrs.n > 0 || ferrs.oom, "kq_file_load failed without a message");
    kq_msgs_free(&ferrs);

    KqRows rows = { 0 };
    KqMsgs cerrs = { 0 };
    (void)kq_rows_read_csv(fuzz_path, &rows, &cerrs);
    for (size_t i = 0; i < rows.n; i++)
        free(kq_row_csv(&rows.v[i]));
    kq_rows_free(&rows);
    kq_msgs_free(&cerrs);

    if (size < 64) {
        char s[64];
        int64_t d;
        memcpy(s, data, size);
        s[size] = '\0';
        (void)kq_parse_duration(s, &d);
    }
    return 0;
}
