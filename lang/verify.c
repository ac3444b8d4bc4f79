/* verify.c -- the bytecode verifier (kb_verify).
 *
 * Whatever produced an image (the compiler or an untrusted .kbc file), the
 * VM runs it only after this check: every table index in range, every
 * opcode known with its operands inside its function, every jump forward
 * onto an instruction start of the same function, the stack balanced and
 * bounded on every path, every function ending in RET with one value, no
 * cycle of COUNT where-functions, and the rule / cap / quiet tables sane.
 * It also computes each function's max_stack.  The rules and messages are
 * listed in doc/internals/bytecode.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bytecode.h"
#include "util.h"

typedef struct Vf {
    KImage *img;
    char *err;
    size_t errlen;
    bool bad;
} Vf;

static int vfail(Vf *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(Vf *v, const char *fmt, ...)
{
    if (!v->bad && v->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->err, v->errlen, fmt, ap);
        va_end(ap);
    }
    v->bad = true;
    return -1;
}

/* A channel mask is valid when it is all ones or names declared channels only. */
static bool mask_ok(const KImage *img, uint64_t m)
{
    if (m == UINT64_MAX) return true;
    if (img->nchannels >= 64) return true;
    return (m >> img->nchannels) == 0;
}

static int check_strings(Vf *v)
{
    KImage *img = v->img;
    if (img->nstrings && (!img->strings || !img->string_lens))
        return vfail(v, "string table missing");
    for (uint32_t i = 0; i < img->nstrings; i++)
        if (!img->strings[i] || img->strings[i][img->string_lens[i]] != '\0')
            return vfail(v, "string %u is not terminated", i);
    if (img->policy_name >= img->nstrings)
        return vfail(v, "policy name: string index %u out of range", img->policy_name);
    if (img->timezone != KB_NONE && img->timezone >= img->nstrings)
        return vfail(v, "time zone: string index %u out of range", img->timezone);
    return 0;
}

static int check_consts(Vf *v)
{
    KImage *img = v->img;
    if (img->nconsts && !img->consts)
        return vfail(v, "constant table missing");
    for (uint32_t i = 0; i < img->nconsts; i++) {
        const KbConst *c = &img->consts[i];
        switch (c->tag) {
        case KB_NUM: case KB_BOOL: case KB_DUR: case KB_TIME:
            break;
        case KB_STR:
            if (c->str >= img->nstrings)
                return vfail(v, "constant %u: string index %u out of range", i, c->str);
            break;
        case KB_WEEKDAY:
            if (c->i < 0 || c->i > 6)
                return vfail(v, "constant %u: weekday %lld out of range", i, (long long)c->i);
            break;
        default:
            return vfail(v, "constant %u: bad tag %u", i, c->tag);
        }
    }
    return 0;
}

/* Whether string si is a name as the compiler writes one: an identifier
 * ([A-Za-z_][A-Za-z0-9_]*) for events, attributes, channels, surveys and
 * tasks; for rules and variants (label true) printable ASCII without
 * spaces, quotes, commas or backslashes (a rule without a name is named
 * after its survey or task and line, NPS@2).  A .kbc made by hand could
 * hold any bytes there, and they would go to the schedule and the
 * terminal as they are (control characters, line breaks). */
static bool is_name(const KImage *img, uint32_t si, bool label)
{
    const char *s = img->strings[si];
    uint32_t n = img->string_lens[si];
    if (n == 0) return false;
    for (uint32_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok && label) ok = c > ' ' && c < 0x7f && c != '"' && c != ',' && c != '\\';
        if (!ok) return false;
    }
    return true;
}

/* name_fail -- the message for string si (an index in range) that should
 * be a name: its first bytes, control characters and the like escaped. */
static int name_fail(Vf *v, const char *what, uint32_t i, uint32_t si)
{
    uint32_t n = v->img->string_lens[si];
    KuBuf q = { 0 };
    ku_lang_str(v->img->strings[si], n > 64u ? 64u : n, ku_put_buf, &q);
    int rc = vfail(v, "%s %u: %s%s is not a name", what, i, q.s && !q.oom ? q.s : "(a string)", n > 64u ? "..." : "");
    free(q.s);
    return rc;
}

/* Checks a name table: every entry a string index, and a name. */
static int check_names(Vf *v, const char *what, const uint32_t *t, uint32_t n)
{
    if (n && !t)
        return vfail(v, "%s table missing", what);
    for (uint32_t i = 0; i < n; i++) {
        if (t[i] >= v->img->nstrings)
            return vfail(v, "%s %u: string index %u out of range", what, i, t[i]);
        if (!is_name(v->img, t[i], false)) return name_fail(v, what, i, t[i]);
    }
    return 0;
}

static int check_tables(Vf *v)
{
    KImage *img = v->img;
    if (check_names(v, "event", img->events, img->nevents) ||
        check_names(v, "attribute", img->attrs, img->nattrs) ||
        check_names(v, "channel", img->channels, img->nchannels) ||
        check_names(v, "survey", img->surveys, img->nsurveys))
        return -1;
    if (img->nchannels > KB_MAX_CHANNELS)
        return vfail(v, "%u channels, at most %u allowed", img->nchannels, KB_MAX_CHANNELS);
    if (img->ntraits && !img->traits)
        return vfail(v, "trait table missing");
    for (uint32_t i = 0; i < img->ntraits; i++)
        if (img->traits[i] >= img->nattrs)
            return vfail(v, "trait %u: attribute index %u out of range", i, img->traits[i]);
    static const char *const reserved[] = {
        KB_EV_IDENTIFY, KB_EV_RESPONSE, KB_EV_OPT_OUT, KB_EV_OPT_IN,
        KB_EV_CONSENT_GRANTED, KB_EV_CONSENT_REVOKED,
    };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (kb_find_event(img, reserved[i]) == KB_NONE)
            return vfail(v, "reserved event `%s` missing from the event table", reserved[i]);
    if (img->nevents && !img->retention)
        return vfail(v, "retention table missing");
    for (uint32_t e = 0; e < img->nevents; e++) {
        const KbRetention *rt = &img->retention[e];
        if (rt->flags & ~(KB_RET_COUNT | KB_RET_LAST))
            return vfail(v, "event %u: bad retention flags %u", e, rt->flags);
        if (rt->window < 0)
            return vfail(v, "event %u: negative retention window", e);
        if (rt->nattrs && !rt->attrs)
            return vfail(v, "event %u: retention attributes missing", e);
        for (uint32_t j = 0; j < rt->nattrs; j++)
            if (rt->attrs[j] >= img->nattrs)
                return vfail(v, "event %u: retained attribute index %u out of range", e, rt->attrs[j]);
    }
    return 0;
}

/* A window operand: KB_NONE, or a constant holding a non-negative duration. */
static bool window_ok(const KImage *img, uint32_t w)
{
    if (w == KB_NONE) return true;
    return w < img->nconsts && img->consts[w].tag == KB_DUR && img->consts[w].i >= 0;
}

static bool tag_ok(uint32_t t)
{
    return t >= KB_NUM && t <= KB_UNTYPED;
}

/* Checks one instruction's operands (ops points at them). */
static int check_operands(Vf *v, uint32_t f, uint32_t pc, KbOp op, const uint32_t *o)
{
    const KImage *img = v->img;
    const char *name = kb_opinfo[op].name;
#define BAD(...) return vfail(v, "function %u, word %u (%s): " __VA_ARGS__)
    switch (op) {
    case KB_OP_CONST:
        if (o[0] >= img->nconsts) BAD("constant index %u out of range", f, pc, name, o[0]);
        break;
    case KB_OP_ATTR: case KB_OP_TATTR: case KB_OP_TRAIT:
        if (o[0] >= img->nattrs) BAD("attribute index %u out of range", f, pc, name, o[0]);
        if (!tag_ok(o[1])) BAD("bad type tag %u", f, pc, name, o[1]);
        break;
    case KB_OP_COUNT:
        if (o[0] >= img->nevents) BAD("event index %u out of range", f, pc, name, o[0]);
        if (o[1] != KB_NONE && o[1] >= img->nfuncs) BAD("function index %u out of range", f, pc, name, o[1]);
        if (!window_ok(img, o[2])) BAD("window %u is not a duration constant", f, pc, name, o[2]);
        break;
    case KB_OP_SINCE:
        if (o[0] >= img->nevents) BAD("event index %u out of range", f, pc, name, o[0]);
        break;
    case KB_OP_LAST:
        if (o[0] >= img->nevents) BAD("event index %u out of range", f, pc, name, o[0]);
        if (o[1] >= img->nattrs) BAD("attribute index %u out of range", f, pc, name, o[1]);
        if (!tag_ok(o[2])) BAD("bad type tag %u", f, pc, name, o[2]);
        break;
    case KB_OP_AGG:
        if (o[0] > 3) BAD("bad aggregate kind %u", f, pc, name, o[0]);
        if (o[1] >= img->nevents) BAD("event index %u out of range", f, pc, name, o[1]);
        if (o[2] >= img->nattrs) BAD("attribute index %u out of range", f, pc, name, o[2]);
        if (!window_ok(img, o[3])) BAD("window %u is not a duration constant", f, pc, name, o[3]);
        break;
    case KB_OP_ASKED: case KB_OP_RESPONDED:
        if (o[0] >= img->nsurveys) BAD("survey index %u out of range", f, pc, name, o[0]);
        if (!window_ok(img, o[1])) BAD("window %u is not a duration constant", f, pc, name, o[1]);
        break;
    case KB_OP_IN:
        if (o[0] > KB_MAX_STACK) BAD("item count %u too large", f, pc, name, o[0]);
        break;
    default:
        break;
    }
#undef BAD
    return 0;
}

/* Checks function f's code and computes its max_stack, with depth[] a
 * scratch array of fn->len entries. */
static int check_code(Vf *v, uint32_t f, int32_t *depth)
{
    KImage *img = v->img;
    KbFunc *fn = &img->funcs[f];
    uint32_t start = fn->start, end = fn->start + fn->len;
    /* depth[i - start]: stack depth before word i; -1 = not an instruction
     * start, -2 = an instruction start not reached yet. */
    for (uint32_t i = 0; i < fn->len; i++) depth[i] = -1;

    /* pass 1: instruction boundaries and operands */
    uint32_t pc = start, last = start;
    while (pc < end) {
        uint32_t op = img->code[pc];
        if (op >= KB_OP__COUNT)
            return vfail(v, "function %u, word %u: unknown opcode %u", f, pc, op);
        uint32_t nops = kb_opinfo[op].noperands;
        if (nops > end - pc - 1)
            return vfail(v, "function %u, word %u (%s): operands run past the function's end",
                         f, pc, kb_opinfo[op].name);
        if (check_operands(v, f, pc, (KbOp)op, &img->code[pc + 1]) != 0) return -1;
        depth[pc - start] = -2;
        last = pc;
        pc += 1 + nops;
    }
    if (img->code[last] != KB_OP_RET)
        return vfail(v, "function %u does not end with RET", f);

    /* pass 2: stack depths; jumps only go forward, so one pass in address
     * order sees every predecessor of an instruction before it. */
    depth[0] = 0;
    int32_t max = 0;
    for (pc = start; pc < end; ) {
        KbOp op = (KbOp)img->code[pc];
        uint32_t nops = kb_opinfo[op].noperands, next = pc + 1 + nops;
        int32_t d = depth[pc - start];
        if (d < 0) { pc = next; continue; }      /* unreachable */
        int32_t in = kb_opinfo[op].stack_in, out = kb_opinfo[op].stack_out;
        if (op == KB_OP_IN) in = (int32_t)img->code[pc + 1] + 1;
        if (d < in)
            return vfail(v, "function %u, word %u (%s): stack underflow (depth %d, needs %d)",
                         f, pc, kb_opinfo[op].name, d, in);
        int32_t after = d - in + out;               /* fall-through, or jump for JFALSE/JTRUE */
        if (after > max) max = after;
        if (max > KB_MAX_STACK)
            return vfail(v, "function %u, word %u: stack deeper than %d", f, pc, KB_MAX_STACK);
        bool falls = true;
        if (op == KB_OP_JUMP || op == KB_OP_JFALSE || op == KB_OP_JTRUE) {
            int32_t off = (int32_t)img->code[pc + 1];
            if (off < 0)
                return vfail(v, "function %u, word %u (%s): backward jump", f, pc, kb_opinfo[op].name);
            uint64_t target = (uint64_t)next + (uint64_t)off;
            if (target >= end || depth[target - start] == -1)
                return vfail(v, "function %u, word %u (%s): jump target %llu is not an instruction of the function",
                             f, pc, kb_opinfo[op].name, (unsigned long long)target);
            int32_t *td = &depth[target - start];
            if (*td == -2) *td = after;
            else if (*td != after) return vfail(v, "function %u, word %llu: stack depth %d on one path, %d on another",
                             f, (unsigned long long)target, *td, after);
            if (op == KB_OP_JUMP) falls = false;
            else after = d - 1;                     /* not taken: the top is popped */
        } else if (op == KB_OP_RET) {
            if (d != 1)
                return vfail(v, "function %u, word %u (RET): returns with %d values on the stack, not 1",
                             f, pc, d);
            falls = false;
        }
        if (falls) {
            /* next < end: the last instruction is RET, which does not fall */
            int32_t *nd = &depth[next - start];
            if (*nd == -2) *nd = after;
            else if (*nd != after) return vfail(v, "function %u, word %u: stack depth %d on one path, %d on another",
                             f, next, *nd, after);
        }
        pc = next;
    }
    fn->max_stack = (uint32_t)max;
    return 0;
}

static int check_func(Vf *v, uint32_t f)
{
    const KbFunc *fn = &v->img->funcs[f];
    if (fn->len == 0)
        return vfail(v, "function %u is empty", f);
    if ((uint64_t)fn->start + fn->len > v->img->ncode)
        return vfail(v, "function %u: code range %u+%u outside the code (%u words)",
                     f, fn->start, fn->len, v->img->ncode);
    int32_t *depth = malloc(sizeof *depth * fn->len);
    if (!depth)
        return vfail(v, "out of memory");
    int rc = check_code(v, f, depth);
    free(depth);
    return rc;
}

/* COUNT's where-function must have a lower index than the function that
 * names it (so there is no cycle), and where-functions nest at most
 * KB_MAX_NEST deep (so the VM's recursion is bounded).  One pass in index
 * order: nest[f] = 1 + the deepest nest of the functions f names. */
static int check_calls(Vf *v)
{
    KImage *img = v->img;
    uint32_t *nest = calloc(img->nfuncs, sizeof *nest);
    if (!nest)
        return vfail(v, "out of memory");
    for (uint32_t f = 0; f < img->nfuncs; f++) {
        const KbFunc *fn = &img->funcs[f];
        nest[f] = 1;
        for (uint32_t pc = fn->start; pc < fn->start + fn->len; pc += 1 + kb_opinfo[img->code[pc]].noperands) {
            if (img->code[pc] != KB_OP_COUNT || img->code[pc + 2] == KB_NONE) continue;
            uint32_t g = img->code[pc + 2];
            if (g >= f) {
                free(nest);
                return vfail(v, "function %u, word %u (COUNT): where-function %u must come before the function using it",
                             f, pc, g);
            }
            if (nest[g] + 1 > nest[f]) nest[f] = nest[g] + 1;
        }
        if (nest[f] > KB_MAX_NEST) {
            free(nest);
            return vfail(v, "function %u: count where-functions nested deeper than %d", f, KB_MAX_NEST);
        }
    }
    free(nest);
    return 0;
}

static int check_fn_ref(Vf *v, uint32_t r, const char *what, uint32_t f)
{
    if (f != KB_NONE && f >= v->img->nfuncs)
        return vfail(v, "rule %u: %s function %u out of range", r, what, f);
    return 0;
}

static int check_rule(Vf *v, uint32_t i)
{
    const KImage *img = v->img;
    const KbRule *r = &img->rules[i];
    if (r->name >= img->nstrings)
        return vfail(v, "rule %u: name index %u out of range", i, r->name);
    if (r->is_task ? r->target >= img->nstrings : r->target >= img->nsurveys)
        return vfail(v, "rule %u: %s index %u out of range", i, r->is_task ? "task name" : "survey", r->target);
    if (!is_name(img, r->name, true)) return name_fail(v, "rule", i, r->name);
    if (r->is_task && !is_name(img, r->target, false)) return name_fail(v, "rule task", i, r->target);
    if (r->trigger == KB_TRIG_AFTER) {
        if (r->event >= img->nevents)
            return vfail(v, "rule %u: trigger event %u out of range", i, r->event);
        if (r->delay < 0)
            return vfail(v, "rule %u: negative delay", i);
    } else if (r->trigger == KB_TRIG_EVERY) {
        if (r->period > KB_PER_DURATION)
            return vfail(v, "rule %u: bad period %u", i, r->period);
        if (r->period == KB_PER_DURATION && r->period_dur <= 0)
            return vfail(v, "rule %u: period length must be positive", i);
        if (r->every_at < -1 || r->every_at >= 1440)
            return vfail(v, "rule %u: `every ... at` time %d out of range", i, r->every_at);
        if (r->where_fn != KB_NONE)
            return vfail(v, "rule %u: a periodic rule has no where", i);
    } else {
        return vfail(v, "rule %u: bad trigger kind %u", i, r->trigger);
    }
    if (check_fn_ref(v, i, "where", r->where_fn) || check_fn_ref(v, i, "if", r->if_fn) ||
        check_fn_ref(v, i, "unless", r->unless_fn))
        return -1;
    if (r->nattempts < 1 || !r->attempts)
        return vfail(v, "rule %u: no attempt", i);
    for (uint32_t a = 0; a < r->nattempts; a++) {
        if (r->attempts[a].channel >= img->nchannels)
            return vfail(v, "rule %u: attempt %u: channel index %u out of range", i, a + 1, r->attempts[a].channel);
        if (r->attempts[a].after < 0 || (a == 0 && r->attempts[a].after != 0))
            return vfail(v, "rule %u: attempt %u: bad delay", i, a + 1);
    }
    if (r->has_cap && r->cap_window <= 0)
        return vfail(v, "rule %u: cap window must be positive", i);
    if (r->nvariants && !r->variants)
        return vfail(v, "rule %u: variants missing", i);
    uint64_t pct = 0;
    for (uint32_t k = 0; k < r->nvariants; k++) {
        const KbVariant *va = &r->variants[k];
        if (va->name >= img->nstrings)
            return vfail(v, "rule %u: variant %u: name index out of range", i, k);
        if (!is_name(img, va->name, true)) {
            char what[40];
            snprintf(what, sizeof what, "rule %u: variant", i);
            return name_fail(v, what, k, va->name);
        }
        if (va->pct > 100)
            return vfail(v, "rule %u: variant %u: %u%% is over 100", i, k, va->pct);
        pct += va->pct;
        if (va->has_delay && va->delay < 0)
            return vfail(v, "rule %u: variant %u: negative delay", i, k);
        if (va->channel != KB_NONE && va->channel >= img->nchannels)
            return vfail(v, "rule %u: variant %u: channel index out of range", i, k);
    }
    if (pct > 100)
        return vfail(v, "rule %u: variants sum to %llu%%, over 100", i, (unsigned long long)pct);
    if (r->retrigger > 1)
        return vfail(v, "rule %u: bad retrigger mode %u", i, r->retrigger);
    switch (r->at) {
    case KB_AT_NONE:
        break;
    case KB_AT_WINDOW:
        if (r->at_days == 0 || (r->at_days & 0x80))
            return vfail(v, "rule %u: bad `at` weekday set 0x%02x", i, r->at_days);
        if (r->at_start < 0 || r->at_start >= r->at_end || r->at_end > 1440)
            return vfail(v, "rule %u: `at` window %d-%d is empty or out of range", i, r->at_start, r->at_end);
        break;
    case KB_AT_BEST_TIME:
        if (r->best_event >= img->nevents)
            return vfail(v, "rule %u: best_time event %u out of range", i, r->best_event);
        break;
    default:
        return vfail(v, "rule %u: bad `at` kind %u", i, r->at);
    }
    return 0;
}

/* Debug information: every index in range, positions from 1, let names
 * at instruction starts in ascending order. */
static int check_debug(Vf *v)
{
    const KImage *img = v->img;
    if ((img->nattr_reads && !img->attr_reads) || (img->nlet_names && !img->let_names))
        return vfail(v, "debug table missing");
    for (uint32_t i = 0; i < img->nattr_reads; i++) {
        const KbAttrRead *a = &img->attr_reads[i];
        if (a->rule >= img->nrules || a->attr >= img->nattrs || a->file >= img->nstrings)
            return vfail(v, "debug: attribute read %u: index out of range", i);
        if (a->line == 0 || a->col == 0)
            return vfail(v, "debug: attribute read %u: position %u:%u (lines and columns count from 1)",
                         i, a->line, a->col);
        if (!tag_ok(a->tag)) return vfail(v, "debug: attribute read %u: bad type tag %u", i, a->tag);
    }
    for (uint32_t i = 0; i < img->nlet_names; i++) {
        const KbLetName *l = &img->let_names[i];
        if (l->name >= img->nstrings)
            return vfail(v, "debug: let %u: string index %u out of range", i, l->name);
        if (i > 0 && l->pc <= img->let_names[i - 1].pc)
            return vfail(v, "debug: let %u: code word %u not after the previous let's", i, l->pc);
        bool start = false;
        for (uint32_t f = 0; f < img->nfuncs && !start; f++) {
            const KbFunc *fn = &img->funcs[f];
            if (l->pc < fn->start || l->pc - fn->start >= fn->len) continue;
            for (uint32_t pc = fn->start; pc <= l->pc && pc < fn->start + fn->len;) {
                if (pc == l->pc) { start = true; break; }
                pc += 1u + kb_opinfo[img->code[pc]].noperands;
            }
        }
        if (!start)
            return vfail(v, "debug: let %u: code word %u is not an instruction start", i, l->pc);
    }
    return 0;
}

int kb_verify(KImage *img, char *err, size_t errlen)
{
    Vf v = { .img = img, .err = err, .errlen = errlen };
    if (errlen) err[0] = '\0';
    if (check_strings(&v) || check_consts(&v) || check_tables(&v)) return -1;
    if (img->ncode && !img->code)
        return vfail(&v, "code missing");
    if (img->nfuncs && !img->funcs)
        return vfail(&v, "function table missing");
    for (uint32_t f = 0; f < img->nfuncs; f++)
        if (check_func(&v, f) != 0) return -1;
    if (img->nfuncs && check_calls(&v) != 0) return -1;
    if (img->nrules && !img->rules)
        return vfail(&v, "rule table missing");
    for (uint32_t i = 0; i < img->nrules; i++)
        if (check_rule(&v, i) != 0) return -1;
    if (img->ncaps && !img->caps)
        return vfail(&v, "cap table missing");
    for (uint32_t i = 0; i < img->ncaps; i++) {
        if (img->caps[i].window <= 0)
            return vfail(&v, "cap %u: window must be positive", i);
        if (!mask_ok(img, img->caps[i].channels))
            return vfail(&v, "cap %u: channel mask names unknown channels", i);
    }
    if (img->nquiets && !img->quiets)
        return vfail(&v, "quiet table missing");
    for (uint32_t i = 0; i < img->nquiets; i++) {
        const KbQuiet *q = &img->quiets[i];
        if (q->start < 0 || q->start > 1440 || q->end < 0 || q->end > 1440)
            return vfail(&v, "quiet %u: time out of range", i);
        if (!mask_ok(img, q->channels))
            return vfail(&v, "quiet %u: channel mask names unknown channels", i);
    }
    if (!mask_ok(img, img->consent_channels))
        return vfail(&v, "consent: channel mask names unknown channels");
    if (img->sent_window < 0)
        return vfail(&v, "negative send-history window");
    return check_debug(&v);
}
