/* fuzz_kbc.c -- libFuzzer target: arbitrary bytes as a .kbc file.
 *
 * kb_read must reject every malformed file with a message (no crash, no
 * leak, no undefined behaviour); an image it accepts must be listable by
 * kb_disasm and must survive a write/read round trip unchanged.
 *
 * A mutated file almost never has the right length field and checksum, so
 * each input is tried twice: as is, and with the header's file length
 * (bytes 28..35) and the trailing FNV-1a 64 checksum recomputed, which lets
 * the fuzzer reach the section readers and the verifier
 * (doc/internals/bytecode.md gives the layout).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lang/bytecode.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_file(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_file(data, size);
    uint8_t *b = fuzz_kbc_fixed_up(data, size);
    if (b) {
        one_file(b, size);
        free(b);
    }
    return 0;
}

static void one_file(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    KImage *img = kb_read(data, size, err, sizeof err);
    if (!img) {
        FUZZ_ASSERT(err[0] != '\0', "kb_read failed without a message");
        FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL, "unterminated message");
        return;
    }
    kb_disasm(img, fuzz_sink());

    /* An accepted image writes back to a file that reads again and writes
     * the same bytes (the format is canonical for a given image). */
    fuzz_kbc_round_trip(img);
    kb_free(img);
}
