/* ast.c -- the arena every syntax-tree node lives in, and type names. */
#include <stdlib.h>
#include <string.h>
#include "ast.h"

/* Blocks are chained; a request larger than the default block size gets a
 * block of its own. */
struct KArenaBlock {
    KArenaBlock *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define KA_BLOCK 65536

void ka_arena_init(KArena *a)
{
    a->head = NULL;
}

void ka_arena_free(KArena *a)
{
    KArenaBlock *b = a->head;
    while (b) {
        KArenaBlock *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

void *ka_alloc(KArena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    KArenaBlock *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > KA_BLOCK ? n : KA_BLOCK;
        KArenaBlock *nb = malloc(sizeof *nb + size);
        if (!nb) return NULL;
        nb->size = size;
        nb->used = 0;
        if (b && n > KA_BLOCK) {
            /* keep filling the current block: put the big one behind it */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *ka_strndup(KArena *a, const char *s, size_t n)
{
    char *p = ka_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *ka_type_name(KType t)
{
    switch (t) {
    case KT_ERROR: return "error";
    case KT_UNTYPED: return "untyped";
    case KT_NUMBER: return "number";
    case KT_STRING: return "string";
    case KT_BOOL: return "bool";
    case KT_DURATION: return "duration";
    case KT_TIME: return "time";
    case KT_WEEKDAY: return "weekday";
    }
    return "?";
}
