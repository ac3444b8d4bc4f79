/* fuzz_policy.c -- libFuzzer target: arbitrary bytes as a policy (.kai).
 *
 * The whole front end: kc_load_text (scan, parse, check, with the prelude),
 * every diagnostic printed (line/column and caret computation), and for a
 * policy without errors kg_compile, kb_write, kb_read (which verifies the
 * code) and kb_disasm.  Invariants: the compiler's image is accepted by the
 * loader; the file format round-trips byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lang/lang.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* compile_and_round_trip -- image -> .kbc -> image -> .kbc, all equal. */
static void compile_and_round_trip(const KProgram *p)
{
    KImage *img = kg_compile(p);
    if (!img)
        return;                                  /* out of memory only */
    char err[512];
    FUZZ_ASSERT(kb_verify(img, err, sizeof err) == 0, "compiled image fails verification: %s", err);
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (kb_write(img, &a, &alen) == 0) {
        KImage *back = kb_read(a, alen, err, sizeof err);
        FUZZ_ASSERT(back != NULL, "kb_read rejects kb_write's output: %s", err);
        kb_disasm(back, fuzz_sink());
        FUZZ_ASSERT(kb_write(back, &b, &blen) == 0, "second kb_write failed");
        FUZZ_ASSERT(alen == blen && memcmp(a, b, alen) == 0,
                    ".kbc round trip changed the bytes (%zu vs %zu)", alen, blen);
        kb_free(back);
    }
    free(a);
    free(b);
    kb_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions opt = { .strict = (size & 1) != 0, .werror = false };
    KProgram *p = kc_load_text("fuzz.kai", (const char *)data, size, &opt, &d);
    kd_print(&d, fuzz_sink(), KD_FMT_TEXT, false);
    static const KDiagFormat other[] = { KD_FMT_JSON, KD_FMT_GITHUB, KD_FMT_SARIF };
    kd_print(&d, fuzz_sink(), other[size % 3], (size & 2) != 0);
    if (p && !kd_failed(&d))
        compile_and_round_trip(p);
    kd_free(&d);
    if (p)
        kc_free(p);
    return 0;
}
