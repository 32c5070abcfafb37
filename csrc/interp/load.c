/* interp_load.c - program image -> code objects, classes, attribute-name table.
 *
 * Image format (little-endian; written by gcheap/interp/image.py):
 *   "GCI1" str filename  u32 nargv {str}  u32 nglobals {str}
 *   u32 nclasses { str name  u32 nslots {str}  u32 nmethods {str} }
 *   u32 ncodes { str name  u32 argcount nlocals max_stack ncode  u32 code[ncode]
 *                u32 lines[ncode]  u32 nconsts {u8 tag payload}  u32 nnames {str}
 *                u32 nlocal_names {str} }
 *   str = u32 length + bytes; const tags: 0 None 1 True 2 False 3 i64 4 f64 5 str.
 * Everything is validated here (counts, opcode numbers, operand ranges, jump
 * targets) so the dispatch loop can trust the code it runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"
#include "interp/opcodes.h"

struct reader {
    const unsigned char *p, *end;
    bool bad;
};

static uint32_t rd_u32(struct reader *r)
{
    if (r->end - r->p < 4) {
        r->bad = true;
        return 0;
    }
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

/* A count of items that take at least min_bytes each: more than the image
 * has left is malformed (and would make us allocate for nothing). */
static uint32_t rd_count(struct reader *r, uint32_t min_bytes)
{
    uint32_t n = rd_u32(r);
    if (!r->bad && (uint64_t)n * min_bytes > (uint64_t)(r->end - r->p))
        r->bad = true;
    return r->bad ? 0 : n;
}

/* Strict UTF-8 (what CPython's str holds): no overlong forms, no surrogates,
 * nothing above U+10FFFF, no truncated sequence. The VM's str operations
 * decode code points without checking again. */
static bool valid_utf8(const unsigned char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
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
    if (r->bad || (uint64_t)(r->end - r->p) < n || !valid_utf8(r->p, n)) {
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

uint32_t vm_intern(struct gi_vm *vm, const char *name)
{
    for (uint32_t i = 0; i < vm->nattr; i++)
        if (!strcmp(vm->attr_names[i], name))
            return i;
    if (vm->nattr == vm->capattr) {
        uint32_t cap = vm->capattr ? vm->capattr * 2 : 64;
        char **p = realloc(vm->attr_names, cap * sizeof *p);
        if (!p)
            return UINT32_MAX;
        vm->attr_names = p;
        vm->capattr = cap;
    }
    vm->attr_names[vm->nattr] = strdup(name);
    if (!vm->attr_names[vm->nattr])
        return UINT32_MAX;
    return vm->nattr++;
}

/* Stack effect of one instruction: up to two successors (next pc / jump target)
 * with their depth change. Mirrors compiler._effects (the Python verifier). */
struct succ {
    int n;
    uint32_t pc[2];
    int32_t delta[2];
};

static void effects(uint32_t pc, uint32_t op, uint32_t arg, struct succ *s)
{
    int32_t lo = (int32_t)(arg & 0xFFFF), hi = (int32_t)(arg >> 16), a = (int32_t)arg;
    s->n = 1;
    s->pc[0] = pc + 1;
    switch (op) {
    case OP_NOP: case OP_ROT2: case OP_ROT3: case OP_GET_ITER: case OP_LOAD_ATTR: case OP_POP_BLOCK:
    case OP_NEG: case OP_POS: case OP_NOT: case OP_INVERT: case OP_CHECK_METHOD:
        s->delta[0] = 0; break;
    case OP_LOAD_CONST: case OP_LOAD_LOCAL: case OP_LOAD_GLOBAL: case OP_LOAD_BUILTIN:
    case OP_LOAD_ARGV: case OP_DUP:
        s->delta[0] = 1; break;
    case OP_DUP2: s->delta[0] = 2; break;
    case OP_STORE_LOCAL: case OP_STORE_GLOBAL: case OP_POP: case OP_LOAD_SUBSCR: case OP_EXC_MATCH:
        s->delta[0] = -1; break;
    case OP_STORE_SUBSCR: s->delta[0] = -3; break;
    case OP_DELETE_SUBSCR: case OP_SLICE: case OP_STORE_ATTR: s->delta[0] = -2; break;
    case OP_BUILD_LIST: case OP_BUILD_TUPLE: case OP_BUILD_STRING: s->delta[0] = 1 - a; break;
    case OP_BUILD_DICT: s->delta[0] = 1 - 2 * a; break;
    case OP_FORMAT: s->delta[0] = -a; break;
    case OP_UNPACK_SEQUENCE: s->delta[0] = a - 1; break;
    case OP_CALL: s->delta[0] = -a; break;
    case OP_CALL_METHOD: s->delta[0] = -hi; break;
    case OP_CALL_BUILTIN: s->delta[0] = 1 - hi; break;
    case OP_CALL_PRINT: s->delta[0] = 1 - lo - (hi & 1) - ((hi >> 1) & 1); break;
    case OP_MAKE_FUNCTION: case OP_BUILD_CLASS: s->delta[0] = 1 - hi; break;
    case OP_JUMP: case OP_LOOP: s->pc[0] = arg; s->delta[0] = 0; break;
    case OP_POP_JUMP_IF_FALSE: case OP_POP_JUMP_IF_TRUE:
        s->n = 2; s->delta[0] = -1; s->pc[1] = arg; s->delta[1] = -1; break;
    case OP_JUMP_IF_FALSE_OR_POP: case OP_JUMP_IF_TRUE_OR_POP:
        s->n = 2; s->delta[0] = -1; s->pc[1] = arg; s->delta[1] = 0; break;
    case OP_FOR_ITER: s->n = 2; s->delta[0] = 1; s->pc[1] = arg; s->delta[1] = -1; break;
    case OP_SETUP_EXCEPT: s->n = 2; s->delta[0] = 0; s->pc[1] = arg; s->delta[1] = 1; break;
    case OP_RETURN_VALUE: case OP_RAISE: case OP_RERAISE: s->n = 0; break;
    case OP_RAISE_ASSERT: s->n = 0; break;
    default: /* binary operators and comparisons */
        s->delta[0] = -1; break;
    }
}

/* How many operands an instruction reads from the stack (all of them popped or
 * replaced): the verifier requires at least that depth before it. */
static int32_t operands_read(uint32_t op, uint32_t arg)
{
    int32_t lo = (int32_t)(arg & 0xFFFF), hi = (int32_t)(arg >> 16), a = (int32_t)arg;
    switch (op) {
    case OP_NOP: case OP_LOAD_CONST: case OP_LOAD_LOCAL: case OP_LOAD_GLOBAL: case OP_LOAD_BUILTIN:
    case OP_LOAD_ARGV: case OP_JUMP: case OP_LOOP: case OP_SETUP_EXCEPT: case OP_POP_BLOCK:
        return 0;
    case OP_ROT3: case OP_STORE_SUBSCR: case OP_SLICE: return 3;
    case OP_DUP2: case OP_ROT2: case OP_LOAD_SUBSCR: case OP_DELETE_SUBSCR: case OP_STORE_ATTR:
    case OP_EXC_MATCH: return 2;
    case OP_BUILD_LIST: case OP_BUILD_TUPLE: case OP_BUILD_STRING: return a;
    case OP_BUILD_DICT: return 2 * a;
    case OP_FORMAT: return 1 + a;
    case OP_CALL: return a + 1;
    case OP_CALL_METHOD: return hi + 1;
    case OP_CALL_BUILTIN: case OP_MAKE_FUNCTION: case OP_BUILD_CLASS: return hi;
    case OP_CALL_PRINT: return lo + (hi & 1) + ((hi >> 1) & 1);
    case OP_RAISE_ASSERT: return a ? 1 : 0;
    default:
        if (op >= OP_ADD && op <= OP_NOT_IN && !(op >= OP_NEG && op <= OP_INVERT))
            return 2; /* binary operators and comparisons */
        return 1;     /* unary, stores, POP, DUP, jumps that test, iteration, returns, raises */
    }
}

/* The operand stack depth at every reachable instruction is the same on every path,
 * never negative, never above max_stack; the instructions that pop operands find
 * them; no path falls off the end. Then the loop needs no bounds checks. */
static bool check_stack(struct gi_code *c)
{
    int32_t *depth = malloc(sizeof(int32_t) * c->ncode);
    uint32_t *work = malloc(sizeof(uint32_t) * c->ncode);
    if (!depth || !work) {
        free(depth);
        free(work);
        return false;
    }
    for (uint32_t i = 0; i < c->ncode; i++)
        depth[i] = -1;
    uint32_t nwork = 0;
    bool ok = true;
    depth[0] = 0;
    work[nwork++] = 0;
    while (nwork && ok) {
        uint32_t pc = work[--nwork];
        uint32_t op = c->code[pc] & 0xFF, arg = c->code[pc] >> 8;
        int32_t d = depth[pc];
        if (d < operands_read(op, arg)) {
            ok = false;
            break;
        }
        struct succ s;
        effects(pc, op, arg, &s);
        for (int i = 0; i < s.n; i++) {
            int32_t nd = d + s.delta[i];
            /* CALL of a bound method / class shifts the arguments up by one slot */
            if (nd < 0 || nd + 1 > (int32_t)c->max_stack || s.pc[i] >= c->ncode) {
                ok = false;
                break;
            }
            if (depth[s.pc[i]] < 0) {
                depth[s.pc[i]] = nd;
                work[nwork++] = s.pc[i];
            } else if (depth[s.pc[i]] != nd) {
                ok = false;
                break;
            }
        }
    }
    free(depth);
    free(work);
    return ok;
}

static bool check_code(struct gi_vm *vm, struct gi_code *c, uint32_t nconsts, uint32_t nglobals)
{
    for (uint32_t pc = 0; pc < c->ncode; pc++) {
        uint32_t op = c->code[pc] & 0xFF, arg = c->code[pc] >> 8;
        uint32_t lo = arg & 0xFFFF, hi = arg >> 16;
        switch (op) {
        case OP_LOAD_CONST: if (arg >= nconsts) return false; break;
        case OP_LOAD_LOCAL: case OP_STORE_LOCAL: if (arg >= c->nlocals) return false; break;
        case OP_LOAD_GLOBAL: case OP_STORE_GLOBAL: if (arg >= nglobals) return false; break;
        case OP_LOAD_BUILTIN: if (arg >= B_COUNT) return false; break;
        case OP_CALL_BUILTIN: if (lo >= B_COUNT) return false; break;
        case OP_LOAD_ATTR: case OP_STORE_ATTR: case OP_CHECK_METHOD: if (arg >= c->nnames) return false; break;
        case OP_CALL_METHOD: if (lo >= c->nnames) return false; break;
        case OP_MAKE_FUNCTION: if (lo >= vm->ncodes || lo == 0 || hi > vm->codes[lo].argcount) return false; break;
        case OP_BUILD_CLASS: if (lo >= vm->nclasses || hi != vm->classes[lo].nmethods) return false; break;
        case OP_JUMP: case OP_LOOP: case OP_POP_JUMP_IF_FALSE: case OP_POP_JUMP_IF_TRUE:
        case OP_JUMP_IF_FALSE_OR_POP: case OP_JUMP_IF_TRUE_OR_POP: case OP_FOR_ITER:
        case OP_SETUP_EXCEPT:
            if (arg >= c->ncode) return false;
            break;
        default:
            if (op >= OP_COUNT) return false;
        }
    }
    return c->ncode > 0 && check_stack(c);
}

int vm_load(struct gi_vm *vm, const char *image, uint64_t len, char ***argv_out, uint32_t *argc_out,
            struct gi_const ***consts_out)
{
    struct reader r = {(const unsigned char *)image, (const unsigned char *)image + len, false};
    if (len < 4 || memcmp(image, "GCI1", 4))
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
    vm->nglobals = rd_count(&r, 4);
    if (r.bad || vm->nglobals > 60000)
        return -EINVAL;
    vm->global_names = calloc(vm->nglobals + 1, sizeof(char *));
    if (!vm->global_names)
        return -ENOMEM;
    for (uint32_t i = 0; i < vm->nglobals && !r.bad; i++)
        vm->global_names[i] = rd_str(&r, NULL);
    vm->nclasses = rd_count(&r, 4);
    if (r.bad || vm->nclasses > 1000)
        return -EINVAL;
    vm->classes = calloc(vm->nclasses + 1, sizeof *vm->classes);
    if (!vm->classes)
        return -ENOMEM;
    for (uint32_t i = 0; i < vm->nclasses && !r.bad; i++) {
        struct gi_class *k = &vm->classes[i];
        k->name = rd_str(&r, NULL);
        k->nslots = rd_count(&r, 4);
        if (r.bad || k->nslots > 60000)
            return -EINVAL;
        k->slot_names = calloc(k->nslots + 1, sizeof(uint32_t));
        if (!k->slot_names)
            return -ENOMEM;
        for (uint32_t j = 0; j < k->nslots && !r.bad; j++) {
            char *s = rd_str(&r, NULL);
            k->slot_names[j] = s ? vm_intern(vm, s) : 0;
            free(s);
        }
        k->nmethods = rd_count(&r, 4);
        if (r.bad || k->nmethods > 255)
            return -EINVAL;
        k->method_names = calloc(k->nmethods + 1, sizeof(uint32_t));
        if (!k->method_names)
            return -ENOMEM;
        k->init_method = -1;
        for (uint32_t j = 0; j < k->nmethods && !r.bad; j++) {
            char *s = rd_str(&r, NULL);
            if (s && !strcmp(s, "__init__"))
                k->init_method = (int32_t)j;
            k->method_names[j] = s ? vm_intern(vm, s) : 0;
            free(s);
        }
    }
    vm->ncodes = rd_count(&r, 4);
    if (r.bad || vm->ncodes == 0 || vm->ncodes > 60000)
        return -EINVAL;
    vm->codes = calloc(vm->ncodes, sizeof *vm->codes);
    struct gi_const **consts = calloc(vm->ncodes, sizeof *consts);
    if (!vm->codes || !consts)
        return -ENOMEM;
    *consts_out = consts;
    for (uint32_t i = 0; i < vm->ncodes && !r.bad; i++) {
        struct gi_code *c = &vm->codes[i];
        c->name = rd_str(&r, NULL);
        c->argcount = rd_u32(&r);
        c->nlocals = rd_u32(&r);
        c->max_stack = rd_u32(&r);
        c->ncode = rd_u32(&r);
        if (r.bad || c->ncode > (1u << 24) || c->argcount > c->nlocals || c->nlocals > 60000 ||
            c->max_stack > 60000 || (uint64_t)(r.end - r.p) < 8ull * c->ncode)
            return -EINVAL;
        c->code = malloc(4ull * c->ncode + 4);
        c->lines = malloc(4ull * c->ncode + 4);
        c->cache = calloc(c->ncode + 1, sizeof *c->cache);
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
        for (uint32_t j = 0; j < c->nconsts && !r.bad; j++) {
            struct gi_const *k = &consts[i][j];
            if (r.p >= r.end) {
                r.bad = true;
                break;
            }
            k->tag = *r.p++;
            if (k->tag == 3 || k->tag == 4) {
                if (r.end - r.p < 8) {
                    r.bad = true;
                    break;
                }
                memcpy(k->tag == 3 ? (void *)&k->i : (void *)&k->f, r.p, 8);
                r.p += 8;
            } else if (k->tag == 5) {
                k->s = rd_str(&r, &k->slen);
            } else if (k->tag > 2) {
                r.bad = true;
            }
        }
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
        if (!c->local_names)
            return -ENOMEM;
        for (uint32_t j = 0; j < nln && !r.bad; j++)
            c->local_names[j] = rd_str(&r, NULL);
    }
    if (r.bad || r.p != r.end)
        return -EINVAL;
    if (vm->codes[0].argcount != 0)
        return -EINVAL;
    for (uint32_t i = 0; i < vm->ncodes; i++)
        if (!check_code(vm, &vm->codes[i], vm->codes[i].nconsts, vm->nglobals))
            return -EINVAL;
    return 0;
}

void vm_unload(struct gi_vm *vm)
{
    for (uint32_t i = 0; vm->codes && i < vm->ncodes; i++) {
        struct gi_code *c = &vm->codes[i];
        free(c->name);
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
    }
    free(vm->codes);
    for (uint32_t i = 0; vm->classes && i < vm->nclasses; i++) {
        free(vm->classes[i].name);
        free(vm->classes[i].slot_names);
        free(vm->classes[i].method_names);
    }
    free(vm->classes);
    for (uint32_t i = 0; vm->global_names && i < vm->nglobals; i++)
        free(vm->global_names[i]);
    free(vm->global_names);
    for (uint32_t i = 0; i < vm->nattr; i++)
        free(vm->attr_names[i]);
    free(vm->attr_names);
    free(vm->filename);
}
