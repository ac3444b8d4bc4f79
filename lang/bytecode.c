/* bytecode.c -- the bytecode image's shared helpers: the opcode table
 * generated from the KB_OPCODES X-macro, freeing an image, name lookups,
 * and the FNV-1a 64 hash used for source hashes, variants and shards. */
#include <stdlib.h>
#include <string.h>
#include "bytecode.h"

const KbOpInfo kb_opinfo[KB_OP__COUNT] = {
#define KB_X_INFO(name, nops, in, out, doc) { #name, nops, in, out, doc },
    KB_OPCODES(KB_X_INFO)
#undef KB_X_INFO
};

uint64_t kb_fnv1a64(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void kb_free(KImage *img)
{
    if (!img) return;
    if (img->strings)
        for (uint32_t i = 0; i < img->nstrings; i++) free(img->strings[i]);
    free(img->strings);
    free(img->string_lens);
    free(img->consts);
    free(img->code);
    free(img->lines);
    free(img->funcs);
    free(img->events);
    free(img->attr_reads);
    free(img->let_names);
    if (img->retention)
        for (uint32_t i = 0; i < img->nevents; i++) free(img->retention[i].attrs);
    free(img->retention);
    free(img->attrs);
    free(img->channels);
    free(img->surveys);
    free(img->traits);
    if (img->rules)
        for (uint32_t i = 0; i < img->nrules; i++) {
            free(img->rules[i].attempts);
            free(img->rules[i].variants);
        }
    free(img->rules);
    free(img->caps);
    free(img->quiets);
    free(img);
}

/* True when string index si of img holds exactly the C string s. */
static bool string_is(const KImage *img, uint32_t si, const char *s)
{
    if (si >= img->nstrings || !img->strings || !img->strings[si]) return false;
    size_t n = strlen(s);
    return img->string_lens[si] == n && memcmp(img->strings[si], s, n) == 0;
}

uint32_t kb_find_string(const KImage *img, const char *s)
{
    for (uint32_t i = 0; i < img->nstrings; i++)
        if (string_is(img, i, s)) return i;
    return KB_NONE;
}

/* Index in table[0..n) whose string is s, or KB_NONE. */
static uint32_t find_in(const KImage *img, const uint32_t *table, uint32_t n, const char *s)
{
    for (uint32_t i = 0; i < n; i++)
        if (string_is(img, table[i], s)) return i;
    return KB_NONE;
}

uint32_t kb_find_event(const KImage *img, const char *name)
{
    return find_in(img, img->events, img->nevents, name);
}

uint32_t kb_find_attr(const KImage *img, const char *name)
{
    return find_in(img, img->attrs, img->nattrs, name);
}

uint32_t kb_find_channel(const KImage *img, const char *name)
{
    return find_in(img, img->channels, img->nchannels, name);
}
