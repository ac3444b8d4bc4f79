/* test_bytecode.c -- the bytecode image: opcode table, FNV-1a, the .kbc
 * format (round trip, every truncation, every byte flip, mutations with a
 * repaired checksum), the verifier's negative cases and the disassembler.
 * Images are built by hand here, independent of the front end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "units.h"
#include "../../lang/bytecode.h"

/* ---- building images by hand -------------------------------------------- */

static void *dup_mem(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(q);
    if (n) memcpy(q, p, n);
    return q;
}
#define DUP_ARR(a) dup_mem((a), sizeof (a))

static const char *const sample_strings[] = {
    "t", "identify", "response", "opt_out", "opt_in", "consent_granted",
    "consent_revoked", "ticket_closed", "channel", "survey", "score", "tz",
    "kind", "email", "sms", "NPS", "technical", "r1", "Europe/Oslo", "a",
};
#define NSTR (sizeof sample_strings / sizeof *sample_strings)

/* An image with the sample tables and the given code and functions. */
static KImage *image_with(const uint32_t *code, uint32_t ncode, const KbFunc *funcs, uint32_t nfuncs)
{
    KImage *img = calloc(1, sizeof *img);
    ck_assert_ptr_nonnull(img);
    img->nstrings = NSTR;
    img->strings = calloc(NSTR, sizeof *img->strings);
    img->string_lens = calloc(NSTR, sizeof *img->string_lens);
    for (uint32_t i = 0; i < NSTR; i++) {
        img->strings[i] = strdup(sample_strings[i]);
        img->string_lens[i] = (uint32_t)strlen(sample_strings[i]);
    }
    img->policy_name = 0;
    img->timezone = 18;
    img->source_hash = 0x0123456789abcdefULL;

    KbConst consts[3] = {
        { .tag = KB_STR, .str = 16 }, { .tag = KB_NUM, .num = 0 }, { .tag = KB_DUR, .i = 604800 },
    };
    img->consts = DUP_ARR(consts);
    img->nconsts = 3;
    img->code = dup_mem(code, ncode * sizeof *code);
    img->lines = calloc(ncode ? ncode : 1, sizeof *img->lines);
    img->ncode = ncode;
    for (uint32_t i = 0; i < ncode; i++) img->lines[i] = 3;
    img->funcs = dup_mem(funcs, nfuncs * sizeof *funcs);
    img->nfuncs = nfuncs;

    uint32_t events[7] = { 1, 2, 3, 4, 5, 6, 7 };
    img->events = DUP_ARR(events);
    img->nevents = 7;
    img->retention = calloc(7, sizeof *img->retention);
    uint32_t keep[2] = { 4, 2 };
    img->retention[6].window = KB_FOREVER;
    img->retention[6].flags = KB_RET_LAST;
    img->retention[6].attrs = DUP_ARR(keep);
    img->retention[6].nattrs = 2;
    uint32_t keep_survey[1] = { 1 };
    img->retention[1].window = 604800;
    img->retention[1].attrs = DUP_ARR(keep_survey);
    img->retention[1].nattrs = 1;
    uint32_t attrs[5] = { 8, 9, 10, 11, 12 };
    img->attrs = DUP_ARR(attrs);
    img->nattrs = 5;
    uint32_t channels[2] = { 13, 14 };
    img->channels = DUP_ARR(channels);
    img->nchannels = 2;
    uint32_t surveys[1] = { 15 };
    img->surveys = DUP_ARR(surveys);
    img->nsurveys = 1;
    uint32_t traits[1] = { 3 };
    img->traits = DUP_ARR(traits);
    img->ntraits = 1;

    KbRule r = {
        .name = 17, .line = 3, .target = 0, .trigger = KB_TRIG_AFTER, .event = 6,
        .delay = 86400, .where_fn = KB_NONE, .every_at = -1,
        .if_fn = nfuncs > 1 ? 1 : (nfuncs ? 0 : KB_NONE), .unless_fn = KB_NONE,
        .has_cap = true, .cap_n = 1, .cap_window = 30 * 86400, .priority = 2,
        .at = KB_AT_WINDOW, .at_days = 0x1f, .at_start = 540, .at_end = 960,
        .best_event = KB_NONE,
    };
    KbAttempt att[2] = { { 0, 0 }, { 1, 86400 } };
    r.attempts = DUP_ARR(att);
    r.nattempts = 2;
    KbVariant var[1] = { { .name = 19, .pct = 50, .has_delay = true, .delay = 3600, .channel = KB_NONE } };
    r.variants = DUP_ARR(var);
    r.nvariants = 1;
    img->rules = dup_mem(&r, sizeof r);
    img->nrules = 1;

    KbCap cap = { 1, 30 * 86400, UINT64_MAX };
    img->caps = dup_mem(&cap, sizeof cap);
    img->ncaps = 1;
    KbQuiet q = { 1200, 480, 2 };
    img->quiets = dup_mem(&q, sizeof q);
    img->nquiets = 1;
    img->consent_channels = 2;
    img->sent_window = 30 * 86400;
    return img;
}

#define OP(x) KB_OP_##x
/* fn 0: kind == "technical" (a count where-function);
 * fn 1: count(ticket_closed where fn0 within 7d) > 0 and score >= 0 */
static const uint32_t sample_code[] = {
    /* 0 */ OP(ATTR), 4, KB_STR, OP(CONST), 0, OP(EQ), OP(RET),
    /* 7 */ OP(COUNT), 6, 0, 2, OP(CONST), 1, OP(GT), OP(DUP), OP(JFALSE), 6,
    /* 17 */ OP(TATTR), 2, KB_NUM, OP(CONST), 1, OP(GE),
    /* 23 */ OP(AND), OP(RET),
};
static const KbFunc sample_funcs[] = { { 0, 7, 0 }, { 7, 18, 0 } };

static KImage *sample(void)
{
    KImage *img = image_with(sample_code, sizeof sample_code / sizeof *sample_code, sample_funcs, 2);
    /* debug: rule 0 reads score of its trigger at t:3:5 as a number; the GT
     * at word 13 leaves the value of let `a` */
    KbAttrRead ar = { 0, 2, 0, 3, 5, KB_NUM };
    img->attr_reads = dup_mem(&ar, sizeof ar);
    img->nattr_reads = 1;
    KbLetName ln = { 13, 19 };
    img->let_names = dup_mem(&ln, sizeof ln);
    img->nlet_names = 1;
    return img;
}

static void write_ok(const KImage *img, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(kb_write(img, buf, len), 0);
    ck_assert_ptr_nonnull(*buf);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_opinfo)
{
    ck_assert_str_eq(kb_opinfo[KB_OP_CONST].name, "CONST");
    ck_assert_int_eq(kb_opinfo[KB_OP_COUNT].noperands, 3);
    ck_assert_int_eq(kb_opinfo[KB_OP_AGG].noperands, 4);
    ck_assert_int_eq(kb_opinfo[KB_OP_IN].stack_in, KB_IN_N);
    ck_assert_str_eq(kb_opinfo[KB_OP_DUP].name, "DUP");
    ck_assert_int_eq(kb_opinfo[KB_OP_DUP].stack_out, 2);
    for (int i = 0; i < KB_OP__COUNT; i++) {
        ck_assert_ptr_nonnull(kb_opinfo[i].name);
        ck_assert(strncmp(kb_opinfo[i].doc, kb_opinfo[i].name, strlen(kb_opinfo[i].name)) == 0);
    }
}
END_TEST

START_TEST(test_fnv)
{
    /* published FNV-1a 64 test vectors */
    ck_assert_uint_eq(kb_fnv1a64("", 0, KB_FNV_OFFSET), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(kb_fnv1a64("a", 1, KB_FNV_OFFSET), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(kb_fnv1a64("foobar", 6, KB_FNV_OFFSET), 0x85944171f73967e8ULL);
    /* chaining equals hashing the concatenation */
    uint64_t h = kb_fnv1a64("foo", 3, KB_FNV_OFFSET);
    ck_assert_uint_eq(kb_fnv1a64("bar", 3, h), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_find)
{
    KImage *img = sample();
    ck_assert_uint_eq(kb_find_string(img, "kind"), 12);
    ck_assert_uint_eq(kb_find_event(img, "ticket_closed"), 6);
    ck_assert_uint_eq(kb_find_event(img, "response"), 1);
    ck_assert_uint_eq(kb_find_event(img, "nope"), KB_NONE);
    ck_assert_uint_eq(kb_find_attr(img, "score"), 2);
    ck_assert_uint_eq(kb_find_channel(img, "sms"), 1);
    ck_assert_uint_eq(kb_find_channel(img, "smss"), KB_NONE);
    kb_free(img);
    kb_free(NULL);
}
END_TEST

START_TEST(test_verify_sample)
{
    KImage *img = sample();
    char err[200];
    ck_assert_msg(kb_verify(img, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(img->funcs[0].max_stack, 2);
    ck_assert_uint_eq(img->funcs[1].max_stack, 3);
    kb_free(img);
}
END_TEST

START_TEST(test_round_trip)
{
    KImage *img = sample();
    char err[200];
    ck_assert_int_eq(kb_verify(img, err, sizeof err), 0);
    uint8_t *a, *b;
    size_t alen, blen;
    write_ok(img, &a, &alen);
    KImage *back = kb_read(a, alen, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    write_ok(back, &b, &blen);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
    ck_assert_uint_eq(back->source_hash, 0x0123456789abcdefULL);
    ck_assert_str_eq(back->strings[back->timezone], "Europe/Oslo");
    ck_assert_uint_eq(back->rules[0].nattempts, 2);
    ck_assert_int_eq(back->rules[0].attempts[1].after, 86400);
    ck_assert_uint_eq(back->rules[0].variants[0].pct, 50);
    ck_assert_uint_eq(back->funcs[1].max_stack, 3);
    ck_assert_int_eq(back->retention[6].window, KB_FOREVER);
    ck_assert_uint_eq(back->quiets[0].channels, 2);
    ck_assert_uint_eq(back->nattr_reads, 1);
    ck_assert_uint_eq(back->attr_reads[0].attr, 2);
    ck_assert_uint_eq(back->attr_reads[0].col, 5);
    ck_assert_uint_eq(back->attr_reads[0].tag, KB_NUM);
    ck_assert_uint_eq(back->nlet_names, 1);
    ck_assert_uint_eq(back->let_names[0].pc, 13);
    ck_assert_uint_eq(back->let_names[0].name, 19);
    /* the header as documented */
    ck_assert(memcmp(a, "\x7f" "KBC\x03\0\0\0\r\n\x1a\n\x78\x56\x34\x12", 16) == 0);
    ck_assert_uint_eq(a[28] | a[29] << 8, alen);
    kb_free(back);
    free(a);
    free(b);
    kb_free(img);
}
END_TEST

START_TEST(test_strings_with_nul)
{
    KImage *img = sample();
    free(img->strings[16]);
    img->strings[16] = dup_mem("te\0ch", 6);
    img->string_lens[16] = 5;
    uint8_t *a;
    size_t alen;
    write_ok(img, &a, &alen);
    char err[200];
    KImage *back = kb_read(a, alen, err, sizeof err);
    ck_assert_msg(back != NULL, "%s", err);
    ck_assert_uint_eq(back->string_lens[16], 5);
    ck_assert(memcmp(back->strings[16], "te\0ch", 6) == 0);
    kb_free(back);
    free(a);
    kb_free(img);
}
END_TEST

START_TEST(test_read_messages)
{
    KImage *img = sample();
    uint8_t *a;
    size_t alen;
    write_ok(img, &a, &alen);
    char err[200];

    ck_assert_ptr_null(kb_read((const uint8_t *)"hello world", 11, err, sizeof err));
    ck_assert_str_eq(err, "not a kairos bytecode file");
    ck_assert_ptr_null(kb_read(a, 0, err, sizeof err));
    ck_assert_str_eq(err, "not a kairos bytecode file");
    ck_assert_ptr_null(kb_read(a, 100, err, sizeof err));
    ck_assert_str_eq(err, "bad kairos bytecode: truncated at byte 100");
    ck_assert_ptr_null(kb_read(a, 30, err, sizeof err));
    ck_assert_str_eq(err, "bad kairos bytecode: truncated at byte 30");

    uint8_t *c = dup_mem(a, alen);
    c[4] = (uint8_t)(KBC_VERSION + 1);
    ck_assert_ptr_null(kb_read(c, alen, err, sizeof err));
    char vmsg[80];
    snprintf(vmsg, sizeof vmsg, "built by format version %u, this kairos reads %u", KBC_VERSION + 1, KBC_VERSION);
    ck_assert_str_eq(err, vmsg);
    memcpy(c, a, alen);
    c[100] ^= 0x20;
    ck_assert_ptr_null(kb_read(c, alen, err, sizeof err));
    ck_assert_str_eq(err, "bad kairos bytecode: checksum mismatch (file damaged)");
    memcpy(c, a, alen);
    c[8] = '\n';                        /* CR LF -> LF LF: text-mode damage */
    ck_assert_ptr_null(kb_read(c, alen, err, sizeof err));
    ck_assert(strstr(err, "sentinel") != NULL);
    free(c);

    /* trailing garbage */
    c = malloc(alen + 3);
    memcpy(c, a, alen);
    memset(c + alen, 0, 3);
    ck_assert_ptr_null(kb_read(c, alen + 3, err, sizeof err));
    char want[100];
    snprintf(want, sizeof want, "bad kairos bytecode: 3 bytes after the end of the file at byte %zu", alen);
    ck_assert_str_eq(err, want);
    free(c);
    free(a);
    kb_free(img);
}
END_TEST

/* Re-stamps the checksum after a deliberate change, so that the section
 * parser and the verifier see the damage. */
static void restamp(uint8_t *b, size_t len)
{
    if (len < 8) return;
    uint64_t h = kb_fnv1a64(b, len - 8, KB_FNV_OFFSET);
    for (int i = 0; i < 8; i++) b[len - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

/* kb_read must give NULL with a message, or an image that verifies. */
static void read_must_be_safe(const uint8_t *b, size_t len)
{
    char err[200];
    err[0] = '\0';
    KImage *img = kb_read(b, len, err, sizeof err);
    if (img) {
        char err2[200];
        ck_assert_int_eq(kb_verify(img, err2, sizeof err2), 0);
        /* and its listing does not crash either */
        FILE *null = fopen("/dev/null", "w");
        if (null) { kb_disasm(img, null); fclose(null); }
        kb_free(img);
    } else {
        ck_assert_msg(err[0] != '\0', "no message at length %zu", len);
    }
}

START_TEST(test_corruption)
{
    KImage *img = sample();
    uint8_t *a;
    size_t alen;
    write_ok(img, &a, &alen);
    uint8_t *c = malloc(alen);
    char err[200];

    /* every truncation */
    for (size_t n = 0; n < alen; n++) {
        memcpy(c, a, n);
        ck_assert_ptr_null(kb_read(c, n, err, sizeof err));
        ck_assert(err[0] != '\0');
    }
    /* every byte flipped: the checksum (or the header checks) catch it */
    for (size_t i = 0; i < alen; i++) {
        memcpy(c, a, alen);
        c[i] ^= 0xff;
        ck_assert_ptr_null(kb_read(c, alen, err, sizeof err));
        ck_assert(err[0] != '\0');
    }
    /* every byte changed to several values with the checksum repaired:
     * the section reader and the verifier must hold */
    static const uint8_t deltas[] = { 0x01, 0x80, 0xff, 0x10 };
    for (size_t d = 0; d < sizeof deltas; d++)
        for (size_t i = 0; i + 8 < alen; i++) {
            memcpy(c, a, alen);
            c[i] ^= deltas[d];
            restamp(c, alen);
            read_must_be_safe(c, alen);
        }
    /* bytes set to 0 or 0xff (counts to 0 / huge) */
    for (size_t i = 52; i + 8 < alen; i++) {
        memcpy(c, a, alen);
        c[i] = 0xff;
        if (i + 1 + 8 < alen) c[i + 1] = 0xff;
        restamp(c, alen);
        read_must_be_safe(c, alen);
        memcpy(c, a, alen);
        memset(c + i, 0, alen - 8 - i < 4 ? alen - 8 - i : 4);
        restamp(c, alen);
        read_must_be_safe(c, alen);
    }
    free(c);
    free(a);
    kb_free(img);
}
END_TEST

START_TEST(test_random_mutations)
{
    KImage *img = sample();
    uint8_t *a;
    size_t alen;
    write_ok(img, &a, &alen);
    uint8_t *c = malloc(alen);
    uint64_t s = 88172645463325252ULL;       /* xorshift64: deterministic */
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(c, a, alen);
        int nmut = 1 + iter % 4;
        for (int m = 0; m < nmut; m++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            size_t at = 52 + (size_t)(s % (alen - 60));
            c[at] = (uint8_t)(s >> 32);
        }
        restamp(c, alen);
        read_must_be_safe(c, alen);
    }
    free(c);
    free(a);
    kb_free(img);
}
END_TEST

/* Verifies an image built from code words; returns the verifier's message
 * ("" when it passes). */
static const char *verify_code(const uint32_t *code, uint32_t ncode, const KbFunc *funcs, uint32_t nfuncs)
{
    static char err[200];
    KImage *img = image_with(code, ncode, funcs, nfuncs);
    if (kb_verify(img, err, sizeof err) == 0) err[0] = '\0';
    kb_free(img);
    return err;
}
#define VERIFY1(...) ({ static const uint32_t c_[] = { __VA_ARGS__ }; \
    KbFunc f_ = { 0, sizeof c_ / sizeof *c_, 0 }; verify_code(c_, f_.len, &f_, 1); })

START_TEST(test_verify_negative)
{
    /* a good one first */
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(DUP), OP(JFALSE), 1, OP(FALSE), OP(AND), OP(RET)), "");
    ck_assert_str_eq(VERIFY1(OP(CONST), 1, OP(CONST), 1, OP(CONST), 1, OP(IN), 2, OP(RET)), "");
    /* unknown opcode */
    ck_assert_str_eq(VERIFY1(OP(TRUE), 200, OP(RET)), "function 0, word 1: unknown opcode 200");
    /* bad jump: into the middle of an instruction, past the end, backward */
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(JFALSE), 1, OP(CONST), 1, OP(AND), OP(RET)),
                     "function 0, word 1 (JFALSE): jump target 4 is not an instruction of the function");
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(JUMP), 5, OP(RET)),
                     "function 0, word 1 (JUMP): jump target 8 is not an instruction of the function");
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(JUMP), (uint32_t)-3, OP(RET)),
                     "function 0, word 1 (JUMP): backward jump");
    /* bad indexes */
    ck_assert_str_eq(VERIFY1(OP(CONST), 99, OP(RET)),
                     "function 0, word 0 (CONST): constant index 99 out of range");
    ck_assert_str_eq(VERIFY1(OP(ATTR), 5, KB_NUM, OP(RET)),
                     "function 0, word 0 (ATTR): attribute index 5 out of range");
    ck_assert_str_eq(VERIFY1(OP(ATTR), 1, 9, OP(RET)), "function 0, word 0 (ATTR): bad type tag 9");
    ck_assert_str_eq(VERIFY1(OP(COUNT), 7, KB_NONE, KB_NONE, OP(RET)),
                     "function 0, word 0 (COUNT): event index 7 out of range");
    ck_assert_str_eq(VERIFY1(OP(COUNT), 6, KB_NONE, 0, OP(RET)),
                     "function 0, word 0 (COUNT): window 0 is not a duration constant");
    ck_assert_str_eq(VERIFY1(OP(ASKED), 1, KB_NONE, OP(RET)),
                     "function 0, word 0 (ASKED): survey index 1 out of range");
    ck_assert_str_eq(VERIFY1(OP(AGG), 4, 6, 2, KB_NONE, OP(RET)),
                     "function 0, word 0 (AGG): bad aggregate kind 4");
    /* a where-function naming itself */
    ck_assert_str_eq(VERIFY1(OP(COUNT), 6, 0, KB_NONE, OP(RET)),
                     "function 0, word 0 (COUNT): where-function 0 must come before the function using it");
    /* unbalanced stack: two values at RET, underflow, paths that disagree */
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(TRUE), OP(RET)),
                     "function 0, word 2 (RET): returns with 2 values on the stack, not 1");
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(AND), OP(RET)),
                     "function 0, word 1 (AND): stack underflow (depth 1, needs 2)");
    ck_assert_str_eq(VERIFY1(OP(FALSE), OP(TRUE), OP(JFALSE), 2, OP(TRUE), OP(AND), OP(RET)),
                     "function 0, word 6: stack depth 2 on one path, 1 on another");
    ck_assert_str_eq(VERIFY1(OP(IN), 0, OP(RET)),
                     "function 0, word 0 (IN): stack underflow (depth 0, needs 1)");
    /* missing RET, operands past the end */
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(NOT)), "function 0 does not end with RET");
    ck_assert_str_eq(VERIFY1(OP(TRUE), OP(RET), OP(CONST)),
                     "function 0, word 2 (CONST): operands run past the function's end");
    /* a function outside the code */
    static const uint32_t c1[] = { OP(TRUE), OP(RET) };
    KbFunc f1 = { 1, 5, 0 };
    ck_assert_str_eq(verify_code(c1, 2, &f1, 1), "function 0: code range 1+5 outside the code (2 words)");
}
END_TEST

START_TEST(test_verify_stack_bound)
{
    uint32_t code[2 * (KB_MAX_STACK + 1) + 2];
    uint32_t n = 0;
    for (int i = 0; i <= KB_MAX_STACK; i++) code[n++] = OP(TRUE);
    code[n++] = OP(IN);
    code[n++] = KB_MAX_STACK;
    code[n++] = OP(RET);
    KbFunc f = { 0, n, 0 };
    ck_assert_str_eq(verify_code(code, n, &f, 1), "function 0, word 256: stack deeper than 256");
}
END_TEST

START_TEST(test_verify_tables)
{
    char err[200];
    KImage *img = sample();
    img->rules[0].at_start = 960;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: `at` window 960-960 is empty or out of range");
    img->rules[0].at_start = 540;
    img->rules[0].variants[0].pct = 101;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: variant 0: 101% is over 100");
    img->rules[0].variants[0].pct = 50;
    img->rules[0].nattempts = 0;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: no attempt");
    img->rules[0].nattempts = 2;
    img->rules[0].if_fn = 7;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: if function 7 out of range");
    img->rules[0].if_fn = 1;
    img->quiets[0].channels = 4;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "quiet 0: channel mask names unknown channels");
    img->quiets[0].channels = 2;
    img->events[1] = 0;                 /* "response" renamed: reserved event missing */
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "reserved event `response` missing from the event table");
    img->events[1] = 2;
    img->consts[0].str = 99;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "constant 0: string index 99 out of range");
    img->consts[0].str = 16;
    img->let_names[0].pc = 12;          /* an operand word */
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "debug: let 0: code word 12 is not an instruction start");
    img->let_names[0].pc = 13;
    img->attr_reads[0].rule = 1;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "debug: attribute read 0: index out of range");
    img->attr_reads[0].rule = 0;
    img->attr_reads[0].line = 0;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "debug: attribute read 0: position 0:5 (lines and columns count from 1)");
    img->attr_reads[0].line = 3;
    img->attr_reads[0].tag = KB_UNTYPED + 1;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "debug: attribute read 0: bad type tag 8");
    img->attr_reads[0].tag = KB_NUM;
    ck_assert_int_eq(kb_verify(img, err, sizeof err), 0);
    /* names: what the compiler writes, nothing else (a .kbc made by hand) */
    uint32_t zone = img->timezone, ev0 = img->events[0], rule0 = img->rules[0].name;
    img->events[0] = zone;              /* "Europe/Oslo" */
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "event 0: \"Europe/Oslo\" is not a name");
    img->events[0] = ev0;
    ((char *)img->strings[rule0])[0] = '\x1b';
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: \"\\x1b1\" is not a name");
    ((char *)img->strings[rule0])[0] = '"';    /* shown as the language writes it */
    ck_assert_int_eq(kb_verify(img, err, sizeof err), -1);
    ck_assert_str_eq(err, "rule 0: \"\\\"1\" is not a name");
    kb_free(img);
}
END_TEST

START_TEST(test_disasm)
{
    KImage *img = sample();
    char err[200];
    ck_assert_int_eq(kb_verify(img, err, sizeof err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    kb_disasm(img, m);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(text, "policy      \"t\""));
    ck_assert_ptr_nonnull(strstr(text, "timezone    Europe/Oslo"));
    ck_assert_ptr_nonnull(strstr(text, "cap 1 per 30d on all channels"));
    ck_assert_ptr_nonnull(strstr(text, "quiet 20:00-08:00 on sms"));
    ck_assert_ptr_nonnull(strstr(text, "rule r1  (line 3)"));
    ck_assert_ptr_nonnull(strstr(text, "trigger   after ticket_closed + 1d"));
    ck_assert_ptr_nonnull(strstr(text, "chain     email, then sms after 1d"));
    ck_assert_ptr_nonnull(strstr(text, "variant   a 50% (buckets 0-49) + 1h"));
    ck_assert_ptr_nonnull(strstr(text, "at        mon,tue,wed,thu,fri 09:00-16:00"));
    ck_assert_ptr_nonnull(strstr(text, "COUNT     ticket_closed where fn 0 within 7d"));
    ck_assert_ptr_nonnull(strstr(text, "JFALSE    -> 0023"));
    ck_assert_ptr_nonnull(strstr(text, "ATTR      kind as string"));
    ck_assert_ptr_nonnull(strstr(text, "CONST     \"technical\""));
    ck_assert_ptr_nonnull(strstr(text, "ticket_closed      last events forever attrs kind, score"));
    /* count where-function printed before the if-function that names it */
    ck_assert(strstr(text, "fn 0: count where") < strstr(text, "fn 1: if"));
    free(text);
    kb_free(img);
}
END_TEST

/* The listing of img (malloc'd). */
static char *listing(const KImage *img)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(m);
    kb_disasm(img, m);
    fclose(m);
    return text;
}

/* The sample with rule 0 (an `after` rule with an `at` window) or, with
 * every_best, turned into `every 36h at 07:30` with `at best_time(E)`: the
 * fields shown only for the other trigger or `at` kind are shown there. */
static KImage *rule_base(bool every_best)
{
    KImage *img = sample();
    ck_assert_uint_ge(img->nrules, 1);
    KbRule *r = &img->rules[0];
    if (every_best) {
        r->trigger = KB_TRIG_EVERY;
        r->period = KB_PER_DURATION;
        r->period_dur = 36 * 3600;
        r->every_at = 450;
        r->at = KB_AT_BEST_TIME;
        r->best_event = 6;
    }
    return img;
}

/* A change of one field, by its kind: an index or count goes between 0 and
 * 1 (KB_NONE becomes 0), a number moves by one, a duration by an hour, a
 * flag flips, a list loses its last entry. */
#define PERTURB_u8(r, f)       (r)->f = (uint8_t)((r)->f + 1u)
#define PERTURB_u32(r, f)      (r)->f = (r)->f == 0 ? 1u : 0u
#define PERTURB_i32(r, f)      (r)->f += 1
#define PERTURB_i64(r, f)      (r)->f += 3600
#define PERTURB_flag(r, f)     (r)->f = !(r)->f
#define PERTURB_attempts(r, f) (r)->n##f -= 1
#define PERTURB_variants(r, f) (r)->n##f -= 1

/* No field of KB_RULE_FIELDS is invisible to `kairos disasm`: changing any
 * one of them changes the listing of the `after` or of the `every` rule
 * (the summary writes the fields marked `hand` itself, any other by its
 * SHOW kind, so a new field cannot be left out silently). */
START_TEST(test_disasm_shows_every_rule_field)
{
    char *base[2] = { NULL, NULL };
    for (int b = 0; b < 2; b++) {
        KImage *img = rule_base(b == 1);
        ck_assert(img->rules[0].nattempts >= 1 && img->rules[0].nvariants >= 1);
        base[b] = listing(img);
        kb_free(img);
    }
    ck_assert_str_ne(base[0], base[1]);
    int checked = 0;
#define SHOWN_(kind, name, show) \
    { \
        bool differs = false; \
        for (int b = 0; b < 2 && !differs; b++) { \
            KImage *img = rule_base(b == 1); \
            PERTURB_##kind(&img->rules[0], name); \
            char *t = listing(img); \
            differs = strcmp(t, base[b]) != 0; \
            free(t); \
            kb_free(img); \
        } \
        ck_assert_msg(differs, "kairos disasm does not show the rule field " #name); \
        checked++; \
    }
    KB_RULE_FIELDS(SHOWN_)
#undef SHOWN_
    ck_assert_int_ge(checked, 25);
    free(base[0]);
    free(base[1]);
}
END_TEST

Suite *bytecode_suite(void)
{
    Suite *s = suite_create("bytecode");
    TCase *tc = tcase_create("bytecode");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_opinfo);
    tcase_add_test(tc, test_fnv);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_verify_sample);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_strings_with_nul);
    tcase_add_test(tc, test_read_messages);
    tcase_add_test(tc, test_corruption);
    tcase_add_test(tc, test_random_mutations);
    tcase_add_test(tc, test_verify_negative);
    tcase_add_test(tc, test_verify_stack_bound);
    tcase_add_test(tc, test_verify_tables);
    tcase_add_test(tc, test_disasm);
    tcase_add_test(tc, test_disasm_shows_every_rule_field);
    suite_add_tcase(s, tc);
    return s;
}
