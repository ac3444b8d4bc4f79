/* fuzz_policy.c -- libFuzzer target: arbitrary bytes as a policy (.kai).
 *
 * The whole front end: kc_load_text (scan, parse, check, with the prelude),
 * every diagnostic printed (line/column and caret computation), and for a
 * policy without errors kg_compile, kb_write, kb_read (which verifies the
 * code) and kb_disasm.  Invariants: the compiler's image is accepted by the
 * loader; the file format round-trips byte for byte; `kairos fmt` is
 * idempotent and keeps the meaning: the formatted policy compiles to the
 * same bytecode apart from source line numbers and the source hash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lang/lang.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* meaning_bytes -- the .kbc bytes of img without what formatting may
 * change (line numbers, source hash, positions of attribute reads);
 * malloc'd, NULL when out of memory. */
static uint8_t *meaning_bytes(KImage *img, size_t *len)
{
    for (uint32_t i = 0; i < img->ncode; i++)
        img->lines[i] = 0;
    for (uint32_t i = 0; i < img->nattr_reads; i++)
        img->attr_reads[i].line = img->attr_reads[i].col = 0;
    for (uint32_t i = 0; i < img->nrules; i++)
        img->rules[i].line = 0;
    img->source_hash = 0;
    uint8_t *b = NULL;
    return kb_write(img, &b, len) == 0 ? b : NULL;
}

/* compile_text -- the image of a policy text without errors, or NULL. */
static KImage *compile_text(const char *text, size_t len)
{
    KDiags d;
    kd_init(&d, NULL);
    KlOptions opt = { 0 };
    KProgram *p = kc_load_text("fuzz.kai", text, len, &opt, &d);
    KImage *img = p && !kd_failed(&d) ? kg_compile(p) : NULL;
    kd_free(&d);
    if (p)
        kc_free(p);
    return img;
}

/* check_fmt -- fmt(x) is a fixed point of fmt and means what x means
 * (img: x's image, modified). */
static void check_fmt(KProgram *p, KImage *img)
{
    KDiags d;
    kd_init(&d, &p->sources);
    size_t len = 0;
    char *once = kf_format(&p->sources, p->files[0]->src, &d, &len);
    kd_free(&d);
    if (!once)
        return;
    KSources s2;
    kd_sources_init(&s2);
    uint32_t id = kd_source_add(&s2, "fuzz.kai", once, len, false);
    if (id != UINT32_MAX) {
        KDiags d2;
        kd_init(&d2, &s2);
        size_t len2 = 0;
        char *twice = kf_format(&s2, id, &d2, &len2);
        FUZZ_ASSERT(twice != NULL, "formatting the formatted text failed");
        FUZZ_ASSERT(len2 == len && memcmp(once, twice, len) == 0, "fmt is not idempotent");
        free(twice);
        kd_free(&d2);
    }
    kd_sources_free(&s2);

    KImage *fimg = compile_text(once, len);
    FUZZ_ASSERT(fimg != NULL, "the formatted policy does not compile");
    size_t alen = 0, blen = 0;
    uint8_t *a = meaning_bytes(img, &alen), *b = meaning_bytes(fimg, &blen);
    if (a && b)
        FUZZ_ASSERT(alen == blen && memcmp(a, b, alen) == 0, "fmt changed the compiled policy");
    free(a);
    free(b);
    kb_free(fimg);
    free(once);
}

/* compile_and_round_trip -- image -> .kbc -> image -> .kbc, all equal. */
static void compile_and_round_trip(KProgram *p)
{
    KImage *img = kg_compile(p);
    if (!img)
        return;                                  /* out of memory only */
    char err[512];
    FUZZ_ASSERT(kb_verify(img, err, sizeof err) == 0, "compiled image fails verification: %s", err);
    fuzz_kbc_round_trip(img);
    check_fmt(p, img);
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
