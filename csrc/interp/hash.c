/* hash.c - hash() of every hashable value.
 *
 * Ints, floats, tuples and frozensets hash exactly as in CPython 3.11 (numbers
 * modulo 2**61 - 1, tuples with the xxHash-based combination), so that sets of
 * them, whose iteration order depends on the hashes, iterate in CPython's order.
 * Strings use FNV-1a (CPython randomises its string hash per process, so no
 * program can depend on it); instances hash by identity through a number
 * assigned at allocation (addresses change when the heap is compacted).
 */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "interp/interp_impl.h"

#define HASH_BITS 61
#define HASH_MODULUS ((1ULL << HASH_BITS) - 1)
#define HASH_INF 314159

uint64_t hash_int(int64_t v)
{
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t h = mag % HASH_MODULUS;
    int64_t r = v < 0 ? -(int64_t)h : (int64_t)h;
    if (r == -1)
        r = -2;
    return (uint64_t)r;
}

uint64_t hash_double(double v, V obj)
{
    if (!isfinite(v)) {
        if (isinf(v))
            return v > 0 ? HASH_INF : (uint64_t)-HASH_INF;
        return (uint64_t)obj >> 4;   /* nan: by identity, as CPython 3.10+ */
    }
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    uint64_t x = 0, y;
    while (m) {
        x = ((x << 28) & HASH_MODULUS) | x >> (HASH_BITS - 28);
        m *= 268435456.0;
        e -= 28;
        y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_MODULUS)
            x -= HASH_MODULUS;
    }
    e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
    x = ((x << e) & HASH_MODULUS) | x >> (HASH_BITS - e);
    x = x * (uint64_t)(int64_t)sign;
    if (x == (uint64_t)-1)
        x = (uint64_t)-2;
    return x;
}

uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    h ^= h >> 29;
    if (h == (uint64_t)-1)
        h = (uint64_t)-2;
    return h;
}

#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define XXROTATE(x) ((x << 31) | (x >> 33))

/* Tuples nest: bound the C recursion. */
static __thread int hash_nesting;

static bool hash_tuple(struct gi_vm *vm, uint32_t slot, uint64_t *out)
{
    uint64_t acc = XXPRIME_5;
    uint32_t n = arr_len(vm->roots[slot]);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t lane;
        if (!vm_hash(vm, arr_items(vm->roots[slot])[i], &lane))
            return FAIL;
        acc += lane * XXPRIME_2;
        acc = XXROTATE(acc);
        acc *= XXPRIME_1;
    }
    acc += (uint64_t)n ^ (XXPRIME_5 ^ 3527539UL);
    if (acc == (uint64_t)-1)
        acc = 1546275796;
    *out = acc;
    return true;
}

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

static bool user_hash(struct gi_vm *vm, V v, uint64_t *out, bool *done)
{
    *done = false;
    int c = vm_user_class(vm, v);
    if (c < 0)
        return true;
    uint64_t sp = vm->classes[c].specials;
    if (!(sp >> S_HASH & 1) && !(sp >> S_EQ & 1))
        return true;
    /* the nearest class defining __eq__ or __hash__ decides: __eq__ alone makes
     * instances unhashable (CPython sets __hash__ = None there) */
    V hf = 0;
    int r = vm_class_lookup(vm, vm->class_objs[c], vm->special_ids[S_HASH], &hf);
    if (r == 1 && vm_kind(vm, hf) == K_NONE) {
        *done = true;
        return vm_raise(vm, B_TYPEERROR, "unhashable type: '%s'", vm->classes[c].name);
    }
    if (r == 1 && vm_kind(vm, hf) == K_BUILTIN)
        return true;   /* object.__hash__ */
    if (r != 1)
        return true;
    *done = true;
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = v;
    bool found;
    bool ok = vm_call_special(vm, S_HASH, t, t + 1, 0, t + 1, &found);
    if (ok) {
        V h = vm->roots[t + 1];
        int k = vm_kind(vm, h);
        if (k == K_INT || k == K_BOOL)
            *out = hash_int(int_val(h));
        else
            ok = vm_raise(vm, B_TYPEERROR, "__hash__ method should return an integer");
    }
    vm_release(vm, t);
    return ok;
}

bool vm_hash(struct gi_vm *vm, V v, uint64_t *out)
{
    switch (vm_kind(vm, v)) {
    case K_NONE: *out = 0x9e3779b97f4a7c1ULL; return true;
    case K_BOOL:
    case K_INT: *out = hash_int(int_val(v)); return true;
    case K_FLOAT: *out = hash_double(float_val(v), v); return true;
    case K_STR: {
        uint64_t h = fields(v)[STR_HASH];
        if (!h) {
            h = hash_bytes(str_ptr(v), str_nbytes(v)) + 1;
            fields(v)[STR_HASH] = h;
        }
        *out = h - 1;
        return true;
    }
    case K_TUPLE: {
        if (hash_nesting >= 10000)
            return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded while hashing");
        hash_nesting++;
        uint32_t t = vm_reserve(vm, 1);
        vm->roots[t] = v;
        bool ok = hash_tuple(vm, t, out);
        vm_release(vm, t);
        hash_nesting--;
        return ok;
    }
    case K_SET:
        if (!fields(v)[SET_FROZEN])
            break;
        *out = frozenset_hash(vm, v);
        return true;
    case K_INST: case K_EXC: {
        bool done;
        if (!user_hash(vm, v, out, &done))
            return FAIL;
        if (done)
            return true;
        uint32_t nrefs = vm->rt->classes[cls_of(v)].nrefs;
        uint64_t id = vm_kind(vm, v) == K_EXC ? fields(v)[EXC_IDHASH] : fields(v)[nrefs];
        *out = (id * 0x9E3779B97F4A7C15ULL) >> 4;
        return true;
    }
    case K_LIST: case K_DICT: case K_ARRAY:
        break;
    case K_SLICE:
        break;
    case K_VIEW:
        /* keys and items views compare as sets: unhashable; values by identity */
        if (fields(v)[VIEW_WHICH] != 1)
            break;
        *out = 0x5bd1e995u;
        return true;
    default: {
        bool done;
        if (vm_user_class(vm, v) >= 0) {
            if (!user_hash(vm, v, out, &done))
                return FAIL;
            if (done)
                return true;
        }
        /* functions, classes, builtins, modules, ...: by identity. Their address
         * may change, so use what is stable: the class index, builtin id, code. */
        int k = vm_kind(vm, v);
        uint64_t id;
        if (k == K_CLASS)
            id = fields(v)[CLASS_INDEX] * 2 + 1;
        else if (k == K_BUILTIN)
            id = fields(v)[BUILTIN_ID] * 2 + 0x100000;
        else if (k == K_MODULE)
            id = fields(v)[MODULE_INDEX] * 2 + 0x200000;
        else if (k == K_FUNC)
            id = fields(v)[FUNC_CODE] * 2 + 0x300000;   /* equal codes: collisions only */
        else if (k == K_BOUND) {
            /* the method rooted: hashing self may run its __hash__ (and move it) */
            uint64_t a, b;
            uint32_t t = vm_reserve(vm, 1);
            vm->roots[t] = v;
            bool ok = vm_hash(vm, fields(v)[BOUND_SELF], &a) &&
                      vm_hash(vm, fields(vm->roots[t])[BOUND_FUNC], &b);
            vm_release(vm, t);
            if (!ok)
                return FAIL;
            id = a ^ (b * 31);
        } else
            id = (uint64_t)k * 0x1000 + 7;
        *out = id;
        return true;
    }
    }
    return vm_raise(vm, B_TYPEERROR, "unhashable type: '%s'", vm_type_name(vm, v));
}
