/* load.c - the program image (gcheap/interp/image.py) -> code objects, modules,
 * constants; and the bytecode verifier.
 *
 * Everything in an image is checked before anything runs: counts are bounded by
 * the bytes left, strings are valid UTF-8, every operand is in range (constants,
 * locals, globals, names, codes, modules, jump targets), and the operand stack
 * depth is the same on every path to an instruction, never negative, never
 * above max_stack - 2 (calls may shift their arguments up by up to two slots),
 * and enough for what each instruction reads. What a verifier cannot know (that
 * a local holds a cell, that a tuple of keyword names holds str, ...) the loop
 * checks. A crafted image is rejected (-EINVAL) or runs to an ordinary end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"
#include "interp/opcodes.h"

void memo_free(struct gi_vm *vm);

struct reader {
    const unsigned char *p, *end;
    bool bad;
};

static uint32_t rd_u32(struct reader *r)
{
    if (r->bad || r->end - r->p < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

/* A count of items of at least min_size bytes each: bounded by the bytes left. */
static uint32_t rd_count(struct reader *r, uint32_t min_size)
{
    uint32_t n = rd_u32(r);
    if (!r->bad && (uint64_t)n * min_size > (uint64_t)(r->end - r->p))
        r->bad = true;
    return r->bad ? 0 : n;
}

static bool valid_utf8(const unsigned char *s, uint32_t n)
{
    uint32_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t need, cp;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return false;
        if (n - i - 1 < need)
            return false;
        for (uint32_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

static char *rd_str(struct reader *r, uint32_t *len_out)
{
    uint32_t n = rd_u32(r);
    if (r->bad || (uint64_t)(r->end - r->p) < n || !valid_utf8(r->p, n) || memchr(r->p, 0, n)) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n;
    if (len_out)
        *len_out = n;
    return s;
}

static bool rd_const(struct reader *r, struct gi_const *k, int depth)
{
    if (r->p >= r->end || depth > 32)
        return false;
    k->tag = *r->p++;
    switch (k->tag) {
    case 0: case 1: case 2: case 7:
        return true;
    case 3: case 4:
        if (r->end - r->p < 8)
            return false;
        memcpy(k->tag == 3 ? (void *)&k->i : (void *)&k->f, r->p, 8);
        r->p += 8;
        return true;
    case 5:
        k->s = rd_str(r, &k->slen);
        return !r->bad;
    case 6: case 8:
        k->n = rd_count(r, 1);
        if (r->bad || k->n > 65535)
            return false;
        k->items = calloc(k->n + 1, sizeof *k->items);
        if (!k->items)
            return false;
        for (uint32_t i = 0; i < k->n; i++)
            if (!rd_const(r, &k->items[i], depth + 1))
                return false;
        return true;
    default:
        return false;
    }
}

static void free_const(struct gi_const *k)
{
    free(k->s);
    for (uint32_t i = 0; k->items && i < k->n; i++)
        free_const(&k->items[i]);
    free(k->items);
}

void vm_free_consts(struct gi_vm *vm, struct gi_const **consts)
{
    if (!consts)
        return;
    for (uint32_t i = 0; i < vm->ncodes; i++) {
        for (uint32_t j = 0; consts[i] && j < vm->codes[i].nconsts; j++)
            free_const(&consts[i][j]);
        free(consts[i]);
    }
    free(consts);
}

/* Stack effect of one instruction: up to two successors (next pc / jump target)
 * with their depth change. Mirrors compiler._effects (the Python verifier). */
struct succ {
    int n;
    uint32_t pc[2];
    int32_t delta[2];
};

static bool is_binary(uint32_t op) { return op >= OP_ADD && op <= OP_INPLACE_XOR; }
static bool is_compare(uint32_t op) { return op >= OP_EQ && op <= OP_NOT_IN; }

static void effects(uint32_t pc, uint32_t op, uint32_t arg, struct succ *s)
{
    int32_t hi = (int32_t)(arg >> 16), a = (int32_t)arg;
    s->n = 1;
    s->pc[0] = pc + 1;
    s->delta[0] = 0;
    if (is_binary(op) || is_compare(op)) {
        s->delta[0] = -1;
        return;
    }
    switch (op) {
    case OP_NOP: case OP_DELETE_LOCAL: case OP_DELETE_GLOBAL: case OP_DELETE_DEREF: case OP_MAKE_CELL:
    case OP_ROT2: case OP_ROT3: case OP_ROT4: case OP_NEG: case OP_POS: case OP_NOT: case OP_INVERT:
    case OP_GET_ITER: case OP_LIST_TO_TUPLE: case OP_LOAD_ATTR: case OP_YIELD_VALUE: case OP_POP_BLOCK:
        s->delta[0] = 0; break;
    case OP_LOAD_CONST: case OP_LOAD_LOCAL: case OP_LOAD_GLOBAL: case OP_LOAD_BUILTIN: case OP_LOAD_DEREF:
    case OP_LOAD_CLOSURE: case OP_LOAD_NAME: case OP_PUSH_NULL: case OP_DUP: case OP_LOAD_METHOD:
    case OP_IMPORT_NAME: case OP_IMPORT_FROM: case OP_WITH_ENTER:
        s->delta[0] = 1; break;
    case OP_DUP2: s->delta[0] = 2; break;
    case OP_STORE_LOCAL: case OP_STORE_GLOBAL: case OP_STORE_DEREF: case OP_STORE_NAME: case OP_POP:
    case OP_LIST_APPEND: case OP_SET_ADD: case OP_LIST_EXTEND: case OP_SET_UPDATE: case OP_DICT_UPDATE:
    case OP_LOAD_SUBSCR: case OP_DELETE_ATTR: case OP_EXC_MATCH: case OP_WITH_EXIT:
        s->delta[0] = -1; break;
    case OP_DICT_SET: case OP_DELETE_SUBSCR: case OP_STORE_ATTR: case OP_WITH_EXIT_EXC:
        s->delta[0] = -2; break;
    case OP_STORE_SUBSCR: s->delta[0] = -3; break;
    case OP_BUILD_LIST: case OP_BUILD_TUPLE: case OP_BUILD_SET: case OP_BUILD_STRING: case OP_BUILD_SLICE:
        s->delta[0] = 1 - a; break;
    case OP_BUILD_DICT: s->delta[0] = 1 - 2 * a; break;
    case OP_FORMAT: s->delta[0] = -(a & 1); break;
    case OP_UNPACK_SEQUENCE: s->delta[0] = a - 1; break;
    case OP_UNPACK_EX: s->delta[0] = (a & 0xFF) + (a >> 8); break;
    case OP_CALL: s->delta[0] = -a; break;
    case OP_CALL_METHOD: s->delta[0] = -a - 1; break;
    case OP_CALL_KW: s->delta[0] = -a - 2; break;
    case OP_CALL_EX: s->delta[0] = -2 - (a & 1); break;
    case OP_CALL_BUILTIN: s->delta[0] = 1 - hi; break;
    case OP_MAKE_FUNCTION: s->delta[0] = 1 - __builtin_popcount((uint32_t)hi & 7); break;
    case OP_BUILD_CLASS: s->delta[0] = -a - 1; break;
    case OP_JUMP: case OP_LOOP: s->pc[0] = arg; s->delta[0] = 0; break;
    case OP_POP_JUMP_IF_FALSE: case OP_POP_JUMP_IF_TRUE:
        s->n = 2; s->delta[0] = -1; s->pc[1] = arg; s->delta[1] = -1; break;
    case OP_JUMP_IF_FALSE_OR_POP: case OP_JUMP_IF_TRUE_OR_POP:
        s->n = 2; s->delta[0] = -1; s->pc[1] = arg; s->delta[1] = 0; break;
    case OP_FOR_ITER: s->n = 2; s->delta[0] = 1; s->pc[1] = arg; s->delta[1] = -1; break;
    case OP_SETUP_EXCEPT: s->n = 2; s->delta[0] = 0; s->pc[1] = arg; s->delta[1] = 1; break;
    case OP_RETURN_VALUE: case OP_RAISE: case OP_RAISE_FROM: case OP_RERAISE: case OP_RAISE_ASSERT:
        s->n = 0; break;
    default:
        s->n = 0; break;
    }
}

/* How many operands an instruction reads from the stack: the verifier requires
 * at least that depth before it. */
static int32_t operands_read(uint32_t op, uint32_t arg)
{
    int32_t hi = (int32_t)(arg >> 16), a = (int32_t)arg;
    if (is_binary(op) || is_compare(op))
        return 2;
    switch (op) {
    case OP_NOP: case OP_LOAD_CONST: case OP_LOAD_LOCAL: case OP_DELETE_LOCAL: case OP_LOAD_GLOBAL:
    case OP_DELETE_GLOBAL: case OP_LOAD_BUILTIN: case OP_LOAD_DEREF: case OP_DELETE_DEREF:
    case OP_LOAD_CLOSURE: case OP_MAKE_CELL: case OP_LOAD_NAME: case OP_PUSH_NULL: case OP_JUMP:
    case OP_LOOP: case OP_SETUP_EXCEPT: case OP_POP_BLOCK: case OP_IMPORT_NAME:
        return 0;
    case OP_DUP2: case OP_ROT2: case OP_LIST_EXTEND: case OP_SET_UPDATE: case OP_DICT_UPDATE:
    case OP_LOAD_SUBSCR: case OP_DELETE_SUBSCR: case OP_STORE_ATTR: case OP_EXC_MATCH: case OP_RAISE_FROM:
    case OP_WITH_EXIT_EXC:
        return 2;
    case OP_ROT3: case OP_STORE_SUBSCR: return 3;
    case OP_ROT4: return 4;
    case OP_BUILD_LIST: case OP_BUILD_TUPLE: case OP_BUILD_SET: case OP_BUILD_STRING: case OP_BUILD_SLICE:
        return a;
    case OP_BUILD_DICT: return 2 * a;
    case OP_LIST_APPEND: case OP_SET_ADD: return a + 1;
    case OP_DICT_SET: return a + 2;
    case OP_FORMAT: return 1 + (a & 1);
    case OP_CALL: return a + 1;
    case OP_CALL_METHOD: return a + 2;
    case OP_CALL_KW: return a + 3;
    case OP_CALL_EX: return 3 + (a & 1);
    case OP_CALL_BUILTIN: return hi;
    case OP_MAKE_FUNCTION: return __builtin_popcount((uint32_t)hi & 7);
    case OP_BUILD_CLASS: return a + 2;
    case OP_RAISE_ASSERT: return a ? 1 : 0;
    default:
        return 1;   /* stores, POP, DUP, unary, tests, iteration, attributes, returns, raises, ... */
    }
}

/* NULL operands: PUSH_NULL and LOAD_METHOD leave an empty slot (the method-call
 * convention) that only the call reading it as `self|NULL` may touch; any other
 * instruction reading it would dereference NULL. The verifier follows, with the
 * depth, the positions holding such slots (a list, newest first: they are
 * consumed in the order calls nest) and requires it equal where paths join. */
#define NULL_LIMIT 64

struct null_node {
    int32_t pos, next, len;
};

static bool null_lists_equal(const struct null_node *pool, int32_t a, int32_t b)
{
    while (a >= 0 && b >= 0 && a != b) {
        if (pool[a].pos != pool[b].pos)
            return false;
        a = pool[a].next;
        b = pool[b].next;
    }
    return a == b;
}

static bool pushes_null(uint32_t op) { return op == OP_PUSH_NULL || op == OP_LOAD_METHOD; }
static bool reads_null(uint32_t op) { return op == OP_CALL_METHOD || op == OP_CALL_KW || op == OP_CALL_EX; }

static bool check_stack(struct gi_code *c)
{
    int32_t *depth = malloc(sizeof(int32_t) * c->ncode);
    int32_t *nulls = malloc(sizeof(int32_t) * c->ncode);
    uint32_t *work = malloc(sizeof(uint32_t) * c->ncode);
    struct null_node *pool = malloc(sizeof(struct null_node) * c->ncode);
    uint32_t npool = 0;
    if (!depth || !nulls || !work || !pool) {
        free(depth);
        free(nulls);
        free(work);
        free(pool);
        return false;
    }
    for (uint32_t i = 0; i < c->ncode; i++)
        depth[i] = -1;
    uint32_t nwork = 0;
    bool ok = c->max_stack >= 2;
    depth[0] = 0;
    nulls[0] = -1;
    work[nwork++] = 0;
    while (nwork && ok) {
        uint32_t pc = work[--nwork];
        uint32_t op = c->code[pc] & 0xFF, arg = c->code[pc] >> 8;
        int32_t d = depth[pc], k = operands_read(op, arg);
        if (d < k) {
            ok = false;
            break;
        }
        /* the operands read hold no NULL but the one a call reads as self|NULL */
        int32_t nl = nulls[pc];
        if (nl >= 0 && reads_null(op) && pool[nl].pos == d - k + 1)
            nl = pool[nl].next;
        if (nl >= 0 && pool[nl].pos >= d - k) {
            ok = false;
            break;
        }
        if (pushes_null(op)) {
            int32_t len = nl >= 0 ? pool[nl].len + 1 : 1;
            if (len > NULL_LIMIT) {
                ok = false;
                break;
            }
            pool[npool] = (struct null_node){d, nl, len};   /* once per pc: npool < ncode */
            nl = (int32_t)npool++;
        }
        struct succ s;
        effects(pc, op, arg, &s);
        for (int i = 0; i < s.n; i++) {
            int32_t nd = d + s.delta[i];
            /* two spare slots above: calls may shift their arguments up */
            if (nd < 0 || nd + 2 > (int32_t)c->max_stack || s.pc[i] >= c->ncode ||
                (nl >= 0 && pool[nl].pos >= nd)) {
                ok = false;
                break;
            }
            if (depth[s.pc[i]] < 0) {
                depth[s.pc[i]] = nd;
                nulls[s.pc[i]] = nl;
                work[nwork++] = s.pc[i];
            } else if (depth[s.pc[i]] != nd || !null_lists_equal(pool, nulls[s.pc[i]], nl)) {
                ok = false;
                break;
            }
        }
    }
    free(depth);
    free(nulls);
    free(work);
    free(pool);
    return ok;
}

static bool check_code(struct gi_vm *vm, struct gi_code *c, bool *is_body)
{
    for (uint32_t pc = 0; pc < c->ncode; pc++) {
        uint32_t op = c->code[pc] & 0xFF, arg = c->code[pc] >> 8;
        uint32_t lo = arg & 0xFFFF, hi = arg >> 16;
        if (op >= OP_COUNT)
            return false;
        switch (op) {
        case OP_LOAD_CONST: if (arg >= c->nconsts) return false; break;
        case OP_LOAD_LOCAL: case OP_STORE_LOCAL: case OP_DELETE_LOCAL: case OP_LOAD_DEREF:
        case OP_STORE_DEREF: case OP_DELETE_DEREF: case OP_LOAD_CLOSURE: case OP_MAKE_CELL:
            if (arg >= c->nlocals) return false;
            break;
        case OP_LOAD_GLOBAL: case OP_STORE_GLOBAL: case OP_DELETE_GLOBAL:
            if (arg >= vm->nglobals) return false;
            break;
        case OP_LOAD_BUILTIN: if (arg >= B_COUNT) return false; break;
        case OP_CALL_BUILTIN: if (lo >= B_COUNT) return false; break;
        case OP_LOAD_NAME: case OP_STORE_NAME:
            if (arg >= c->nnames || !(c->flags & CO_CLASSBODY) || c->nlocals < 1) return false;
            break;
        case OP_LOAD_ATTR: case OP_STORE_ATTR: case OP_DELETE_ATTR: case OP_LOAD_METHOD: case OP_IMPORT_FROM:
            if (arg >= c->nnames) return false;
            break;
        case OP_IMPORT_NAME: if (arg >= vm->nmodules) return false; break;
        case OP_MAKE_FUNCTION:
            if (lo >= vm->ncodes || is_body[lo] || hi > 7) return false;
            if (((hi & 4) != 0) != (vm->codes[lo].nfree != 0)) return false;
            break;
        case OP_BUILD_SLICE: if (arg != 2 && arg != 3) return false; break;
        case OP_FORMAT: if (arg > 15) return false; break;
        case OP_YIELD_VALUE: if (!(c->flags & CO_GENERATOR)) return false; break;
        case OP_LIST_APPEND: case OP_SET_ADD: case OP_DICT_SET: if (arg == 0 || arg > 255) return false; break;
        case OP_LOOP:   /* the one backward jump: it polls the safepoint (and the budget) */
            if (arg > pc) return false;
            break;
        case OP_JUMP: case OP_POP_JUMP_IF_FALSE: case OP_POP_JUMP_IF_TRUE:
        case OP_JUMP_IF_FALSE_OR_POP: case OP_JUMP_IF_TRUE_OR_POP: case OP_FOR_ITER: case OP_SETUP_EXCEPT:
            if (arg >= c->ncode || arg <= pc) return false;
            break;
        default:
            break;
        }
    }
    return c->ncode > 0 && check_stack(c);
}

int vm_load(struct gi_vm *vm, const char *image, uint64_t len, char ***argv_out, uint32_t *argc_out,
            struct gi_const ***consts_out)
{
    struct reader r = {(const unsigned char *)image, (const unsigned char *)image + len, false};
    if (len < 4 || memcmp(image, "GCI2", 4))
        return -EINVAL;
    r.p += 4;
    vm->filename = rd_str(&r, NULL);
    uint32_t nargv = rd_count(&r, 4);
    if (r.bad || nargv > 4096)
        return -EINVAL;
    char **argv = calloc(nargv + 1, sizeof *argv);
    if (!argv)
        return -ENOMEM;
    *argv_out = argv;
    *argc_out = nargv;
    for (uint32_t i = 0; i < nargv && !r.bad; i++)
        argv[i] = rd_str(&r, NULL);
    vm->nmodules = rd_count(&r, 17);
    if (r.bad || vm->nmodules == 0 || vm->nmodules > 1000)
        return -EINVAL;
    vm->modules = calloc(vm->nmodules + 1, sizeof *vm->modules);
    if (!vm->modules)
        return -ENOMEM;
    for (uint32_t i = 0; i < vm->nmodules && !r.bad; i++) {
        struct gi_module *m = &vm->modules[i];
        m->name = rd_str(&r, NULL);
        if (r.p >= r.end) {
            r.bad = true;
            break;
        }
        uint8_t kind = *r.p++;
        m->code = rd_u32(&r);
        m->global_start = rd_u32(&r);
        m->nglobals = rd_u32(&r);
        if (kind > 2 || (kind != 0 && (m->global_start || m->nglobals)) || (i == 0 && kind != 0))
            r.bad = true;
        m->native = kind;
    }
    vm->nglobals = rd_count(&r, 4);
    if (r.bad || vm->nglobals > 60000)
        return -EINVAL;
    vm->global_names = calloc(vm->nglobals + 1, sizeof(char *));
    if (!vm->global_names)
        return -ENOMEM;
    for (uint32_t i = 0; i < vm->nglobals && !r.bad; i++)
        vm->global_names[i] = rd_str(&r, NULL);
    for (uint32_t i = 0; i < vm->nmodules && !r.bad; i++) {
        struct gi_module *m = &vm->modules[i];
        if ((uint64_t)m->global_start + m->nglobals > vm->nglobals)
            r.bad = true;
    }
    vm->ncodes = rd_count(&r, 52);
    if (r.bad || vm->ncodes == 0 || vm->ncodes > 60000)
        return -EINVAL;
    vm->codes = calloc(vm->ncodes, sizeof *vm->codes);
    struct gi_const **consts = calloc(vm->ncodes, sizeof *consts);
    if (!vm->codes || !consts) {
        free(consts);
        return -ENOMEM;
    }
    *consts_out = consts;
    for (uint32_t i = 0; i < vm->ncodes && !r.bad; i++) {
        struct gi_code *c = &vm->codes[i];
        c->name = rd_str(&r, NULL);
        c->qualname = rd_str(&r, NULL);
        c->flags = rd_u32(&r);
        c->argcount = rd_u32(&r);
        c->kwonlycount = rd_u32(&r);
        c->nlocals = rd_u32(&r);
        c->nfree = rd_u32(&r);
        c->max_stack = rd_u32(&r);
        c->module = rd_u32(&r);
        c->ncode = rd_u32(&r);
        uint64_t params = (uint64_t)c->argcount + c->kwonlycount + !!(c->flags & CO_VARARGS) + !!(c->flags & CO_VARKW);
        if (r.bad || c->ncode > (1u << 24) || c->flags > 15 || params > c->nlocals || c->nlocals > 60000 ||
            c->nfree > c->nlocals - params || c->max_stack > 60000 || c->module >= vm->nmodules ||
            (uint64_t)(r.end - r.p) < 8ull * c->ncode)
            return -EINVAL;
        c->code = malloc(4ull * c->ncode + 4);
        c->lines = malloc(4ull * c->ncode + 4);
        c->cache = calloc((size_t)(c->ncode + 1) * GI_CACHE_WAYS, sizeof *c->cache);
        c->simple = !(c->flags & (CO_VARARGS | CO_VARKW | CO_GENERATOR | CO_CLASSBODY)) && !c->kwonlycount &&
                    !c->nfree;
        if (!c->code || !c->lines || !c->cache)
            return -ENOMEM;
        memcpy(c->code, r.p, 4ull * c->ncode);
        r.p += 4ull * c->ncode;
        memcpy(c->lines, r.p, 4ull * c->ncode);
        r.p += 4ull * c->ncode;
        c->nconsts = rd_count(&r, 1);
        if (r.bad || c->nconsts > 60000)
            return -EINVAL;
        consts[i] = calloc(c->nconsts + 1, sizeof **consts);
        if (!consts[i])
            return -ENOMEM;
        for (uint32_t j = 0; j < c->nconsts && !r.bad; j++)
            if (!rd_const(&r, &consts[i][j], 0))
                r.bad = true;
        c->nnames = rd_count(&r, 4);
        if (r.bad || c->nnames > 60000)
            return -EINVAL;
        c->names = calloc(c->nnames + 1, sizeof(char *));
        c->name_ids = calloc(c->nnames + 1, sizeof(uint32_t));
        if (!c->names || !c->name_ids)
            return -ENOMEM;
        for (uint32_t j = 0; j < c->nnames && !r.bad; j++) {
            c->names[j] = rd_str(&r, NULL);
            c->name_ids[j] = c->names[j] ? vm_intern(vm, c->names[j]) : 0;
        }
        uint32_t nln = rd_count(&r, 4);
        if (r.bad || nln != c->nlocals)
            return -EINVAL;
        c->local_names = calloc(nln + 1, sizeof(char *));
        c->local_ids = calloc(nln + 1, sizeof(uint32_t));
        if (!c->local_names || !c->local_ids)
            return -ENOMEM;
        for (uint32_t j = 0; j < nln && !r.bad; j++) {
            c->local_names[j] = rd_str(&r, NULL);
            c->local_ids[j] = c->local_names[j] ? vm_intern(vm, c->local_names[j]) : 0;
        }
    }
    if (r.bad || r.p != r.end)
        return -EINVAL;
    bool *is_body = calloc(vm->ncodes + 1, 1);
    if (!is_body)
        return -ENOMEM;
    for (uint32_t i = 0; i < vm->nmodules; i++) {
        struct gi_module *m = &vm->modules[i];
        if (m->native)
            continue;
        if (m->code >= vm->ncodes || vm->codes[m->code].argcount || vm->codes[m->code].nfree ||
            (vm->codes[m->code].flags & (CO_GENERATOR | CO_CLASSBODY | CO_VARARGS | CO_VARKW)) ||
            vm->codes[m->code].module != i) {
            free(is_body);
            return -EINVAL;
        }
        is_body[m->code] = true;
    }
    for (uint32_t i = 0; i < vm->ncodes; i++)
        if (!check_code(vm, &vm->codes[i], is_body)) {
            free(is_body);
            return -EINVAL;
        }
    free(is_body);
    return 0;
}

void vm_unload(struct gi_vm *vm)
{
    for (uint32_t i = 0; vm->codes && i < vm->ncodes; i++) {
        struct gi_code *c = &vm->codes[i];
        free(c->name);
        free(c->qualname);
        free(c->code);
        free(c->lines);
        free(c->cache);
        for (uint32_t j = 0; c->names && j < c->nnames; j++)
            free(c->names[j]);
        free(c->names);
        free(c->name_ids);
        for (uint32_t j = 0; c->local_names && j < c->nlocals; j++)
            free(c->local_names[j]);
        free(c->local_names);
        free(c->local_ids);
    }
    free(vm->codes);
    for (uint32_t i = 0; vm->classes && i < vm->nclasses; i++) {
        free(vm->classes[i].name);
        free(vm->classes[i].keys);
    }
    free(vm->classes);
    free(vm->class_objs);
    for (uint32_t i = 0; vm->global_names && i < vm->nglobals; i++)
        free(vm->global_names[i]);
    free(vm->global_names);
    free(vm->global_builtin);
    for (uint32_t i = 0; vm->modules && i < vm->nmodules; i++)
        free(vm->modules[i].name);
    free(vm->modules);
    free(vm->module_objs);
    for (uint32_t i = 0; i < vm->nnames; i++)
        free(vm->names[i]);
    free(vm->names);
    free(vm->name_hashes);
    free(vm->name_builtin);
    free(vm->name_strs);
    free(vm->name_table);
    free(vm->method_of);
    memo_free(vm);
    free(vm->resolved);
    free(vm->filename);
}
