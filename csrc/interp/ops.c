/* interp_ops.c - truth, equality, ordering and the arithmetic operators, with
 * Python's semantics (floor division, sign of %, int/float mixing) on 64-bit ints:
 * a result outside the int64 range raises OverflowError instead of wrapping. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

bool vm_truthy(struct gi_vm *vm, V v)
{
    switch (vm_kind(vm, v)) {
    case K_NONE: return false;
    case K_BOOL:
    case K_INT: return fields(v)[0] != 0;
    case K_FLOAT: return float_val(v) != 0.0;
    case K_STR: return str_nbytes(v) != 0;
    case K_LIST: return fields(v)[LIST_LEN] != 0;
    case K_DICT: return fields(v)[DICT_COUNT] != 0;
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        return sc > 0 ? st < sp : st > sp;
    }
    default:
        if (cls_of(v) == GR_CLASS_REF_ARRAY)
            return arr_len(v) != 0;
        return true;
    }
}

static bool is_num(int k) { return k == K_INT || k == K_BOOL || k == K_FLOAT; }
static double num_f(int k, V v) { return k == K_FLOAT ? float_val(v) : (double)(int64_t)fields(v)[0]; }

/* Nesting depth of the recursive comparisons/hashing below: containers nested
 * deeper than this (built in a loop, e.g. a = [a]) would overflow the C stack. */
#define MAX_NESTING 10000
static __thread int nesting;

static int equal_rec(struct gi_vm *vm, V a, V b);

/* 1 equal, 0 not. Never allocates, never raises (Python's == falls back to identity;
 * so do containers nested deeper than MAX_NESTING, where CPython raises). */
int vm_equal(struct gi_vm *vm, V a, V b)
{
    if (a == b)
        return 1;
    if (nesting >= MAX_NESTING)
        return 0;
    nesting++;
    int r = equal_rec(vm, a, b);
    nesting--;
    return r;
}

static int equal_rec(struct gi_vm *vm, V a, V b)
{
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if (is_num(ka) && is_num(kb)) {
        if (ka != K_FLOAT && kb != K_FLOAT)
            return fields(a)[0] == fields(b)[0];
        if (ka == K_FLOAT && kb == K_FLOAT)
            return float_val(a) == float_val(b);
        /* int vs float: exact comparison */
        double f = ka == K_FLOAT ? float_val(a) : float_val(b);
        int64_t i = (int64_t)fields(ka == K_FLOAT ? b : a)[0];
        if (f != f || f < -9.3e18 || f > 9.3e18)
            return 0;
        if (f != floor(f))
            return 0;
        if (f >= 9.2233720368547758e18)
            return 0;
        return (int64_t)f == i;
    }
    if (ka != kb)
        return 0;
    if (ka == K_STR) {
        uint32_t n = str_nbytes(a);
        return n == str_nbytes(b) && memcmp(str_ptr(a), str_ptr(b), n) == 0;
    }
    if (ka == K_LIST || (ka == -1 && cls_of(a) == GR_CLASS_REF_ARRAY && cls_of(b) == GR_CLASS_REF_ARRAY)) {
        V *ia, *ib;
        uint64_t na, nb;
        if (ka == K_LIST) {
            ia = arr_items(fields(a)[LIST_ITEMS]);
            ib = arr_items(fields(b)[LIST_ITEMS]);
            na = fields(a)[LIST_LEN];
            nb = fields(b)[LIST_LEN];
        } else {
            ia = arr_items(a);
            ib = arr_items(b);
            na = arr_len(a);
            nb = arr_len(b);
        }
        if (na != nb)
            return 0;
        for (uint64_t i = 0; i < na; i++)
            if (!vm_equal(vm, ia[i], ib[i]))
                return 0;
        return 1;
    }
    if (ka == K_DICT) {
        if (fields(a)[DICT_COUNT] != fields(b)[DICT_COUNT])
            return 0;
        uint64_t used = fields(a)[DICT_USED];
        for (uint64_t e = 0; e < used; e++) {
            V k = arr_items(fields(a)[DICT_KEYS])[e];
            if (!k)
                continue;
            bool err = false;
            int64_t f = dict_lookup(vm, b, k, &err);
            if (err || f < 0)
                return 0;
            if (!vm_equal(vm, arr_items(fields(a)[DICT_VALS])[e], arr_items(fields(b)[DICT_VALS])[f]))
                return 0;
        }
        return 1;
    }
    if (ka == K_BUILTIN)
        return fields(a)[BUILTIN_ID] == fields(b)[BUILTIN_ID];
    return 0;
}

static const char *const cmp_sym[4] = {"<", "<=", ">", ">="};

static int cmp_result(int op, int c)
{
    switch (op) {
    case 0: return c < 0;
    case 1: return c <= 0;
    case 2: return c > 0;
    default: return c >= 0;
    }
}

static int compare_rec(struct gi_vm *vm, int op, V a, V b);

/* Ordering: 1 true, 0 false, -1 raised (TypeError, RecursionError). */
int vm_compare(struct gi_vm *vm, int op, V a, V b)
{
    if (nesting >= MAX_NESTING) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded in comparison");
        return -1;
    }
    nesting++;
    int r = compare_rec(vm, op, a, b);
    nesting--;
    return r;
}

static int compare_rec(struct gi_vm *vm, int op, V a, V b)
{
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if (is_num(ka) && is_num(kb)) {
        if (ka != K_FLOAT && kb != K_FLOAT) {
            int64_t x = (int64_t)fields(a)[0], y = (int64_t)fields(b)[0];
            return cmp_result(op, (x > y) - (x < y));
        }
        double x = num_f(ka, a), y = num_f(kb, b);
        if (x != x || y != y)
            return 0;
        return cmp_result(op, (x > y) - (x < y));
    }
    if (ka == K_STR && kb == K_STR) {
        uint32_t na = str_nbytes(a), nb = str_nbytes(b);
        int c = memcmp(str_ptr(a), str_ptr(b), na < nb ? na : nb);
        if (!c)
            c = (na > nb) - (na < nb);
        return cmp_result(op, c);
    }
    bool seq_a = ka == K_LIST || (ka == -1 && cls_of(a) == GR_CLASS_REF_ARRAY);
    bool seq_b = kb == K_LIST || (kb == -1 && cls_of(b) == GR_CLASS_REF_ARRAY);
    if (seq_a && seq_b && ka == kb) {
        uint64_t na = ka == K_LIST ? fields(a)[LIST_LEN] : arr_len(a);
        uint64_t nb = kb == K_LIST ? fields(b)[LIST_LEN] : arr_len(b);
        for (uint64_t i = 0; i < na && i < nb; i++) {
            V x = ka == K_LIST ? arr_items(fields(a)[LIST_ITEMS])[i] : arr_items(a)[i];
            V y = kb == K_LIST ? arr_items(fields(b)[LIST_ITEMS])[i] : arr_items(b)[i];
            if (!vm_equal(vm, x, y))
                return vm_compare(vm, op, x, y);
        }
        return cmp_result(op, (na > nb) - (na < nb));
    }
    vm_raise(vm, B_TYPEERROR, "'%s' not supported between instances of '%s' and '%s'",
             cmp_sym[op], vm_type_name(vm, a), vm_type_name(vm, b));
    return -1;
}

/* 1 / 0, or -1 raised. */
int vm_contains(struct gi_vm *vm, V c, V item)
{
    int k = vm_kind(vm, c);
    if (k == K_DICT) {
        bool err = false;
        int64_t e = dict_lookup(vm, c, item, &err);
        return err ? -1 : e >= 0;
    }
    if (k == K_STR) {
        if (vm_kind(vm, item) != K_STR) {
            vm_raise(vm, B_TYPEERROR, "'in <string>' requires string as left operand, not %s", vm_type_name(vm, item));
            return -1;
        }
        uint32_t n = str_nbytes(item);
        if (n == 0)
            return 1;
        return memmem(str_ptr(c), str_nbytes(c), str_ptr(item), n) != NULL;
    }
    if (k == K_LIST || (k == -1 && cls_of(c) == GR_CLASS_REF_ARRAY)) {
        uint64_t n = k == K_LIST ? fields(c)[LIST_LEN] : arr_len(c);
        for (uint64_t i = 0; i < n; i++) {
            V x = k == K_LIST ? arr_items(fields(c)[LIST_ITEMS])[i] : arr_items(c)[i];
            if (vm_equal(vm, x, item))
                return 1;
        }
        return 0;
    }
    if (k == K_RANGE) {
        int ki = vm_kind(vm, item);
        if (ki != K_INT && ki != K_BOOL)
            return 0;
        int64_t x = (int64_t)fields(item)[0];
        int64_t st = (int64_t)fields(c)[RANGE_START], sp = (int64_t)fields(c)[RANGE_STOP], sc = (int64_t)fields(c)[RANGE_STEP];
        if (sc > 0 ? (x < st || x >= sp) : (x > st || x <= sp))
            return 0;
        return (x - st) % sc == 0;
    }
    vm_raise(vm, B_TYPEERROR, "argument of type '%s' is not iterable", vm_type_name(vm, c));
    return -1;
}

/* ---- arithmetic. op is the bytecode's binary opcode order:
 * 0 ADD 1 SUB 2 MUL 3 TRUEDIV 4 FLOORDIV 5 MOD 6 POW 7 LSHIFT 8 RSHIFT 9 AND 10 OR 11 XOR
 * 12 INPLACE_ADD 13 INPLACE_MUL */
static const char *const op_sym[14] = {"+", "-", "*", "/", "//", "%", "** or pow()", "<<", ">>",
                                       "&", "|", "^", "+=", "*="};

static bool overflow(struct gi_vm *vm)
{
    return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
}

static bool set_int(struct gi_vm *vm, uint32_t out, int64_t r)
{
    V v = vm_new_int(vm, r);
    if (!v)
        return FAIL;
    vm->roots[out] = v;
    return true;
}

static bool set_float(struct gi_vm *vm, uint32_t out, double r)
{
    V v = vm_new_float(vm, r);
    if (!v)
        return FAIL;
    vm->roots[out] = v;
    return true;
}

static bool int_pow(struct gi_vm *vm, int64_t base, int64_t e, uint32_t out)
{
    if (e < 0) {
        if (base == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "0.0 cannot be raised to a negative power");
        return set_float(vm, out, pow((double)base, (double)e));
    }
    int64_t r = 1;
    while (e) {
        if (e & 1) {
            if (__builtin_mul_overflow(r, base, &r))
                return overflow(vm);
        }
        e >>= 1;
        if (e && __builtin_mul_overflow(base, base, &base))
            return overflow(vm);
    }
    return set_int(vm, out, r);
}

static bool float_op(struct gi_vm *vm, int op, double x, double y, uint32_t out)
{
    switch (op) {
    case 0: case 12: return set_float(vm, out, x + y);
    case 1: return set_float(vm, out, x - y);
    case 2: case 13: return set_float(vm, out, x * y);
    case 3:
        if (y == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "float division by zero");
        return set_float(vm, out, x / y);
    case 4:
    case 5: {
        if (y == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, op == 4 ? "float floor division by zero" : "float modulo");
        /* CPython's float_divmod */
        double mod = fmod(x, y);
        double div = (x - mod) / y;
        if (mod) {
            if ((y < 0) != (mod < 0)) {
                mod += y;
                div -= 1.0;
            }
        } else {
            mod = copysign(0.0, y);
        }
        double floordiv;
        if (div) {
            floordiv = floor(div);
            if (div - floordiv > 0.5)
                floordiv += 1.0;
        } else {
            floordiv = copysign(0.0, x / y);
        }
        return set_float(vm, out, op == 4 ? floordiv : mod);
    }
    case 6:
        if (x == 0 && y < 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y))
            return vm_raise(vm, B_VALUEERROR, "negative number raised to a fractional power (complex result)");
        {
            double r = pow(x, y);
            if (isinf(r) && !isinf(x) && !isinf(y))
                return vm_raise(vm, B_OVERFLOWERROR, "(34, 'Numerical result out of range')");
            return set_float(vm, out, r);
        }
    default:
        return FAIL;
    }
}

static bool concat_seq(struct gi_vm *vm, uint32_t a_slot, uint32_t b_slot, uint32_t out, bool list);
static bool repeat(struct gi_vm *vm, uint32_t seq_slot, int64_t n, uint32_t out, int kind, bool inplace);
bool vm_list_extend_inplace(struct gi_vm *vm, uint32_t list_slot, uint32_t other_slot);

bool vm_binary(struct gi_vm *vm, int op, uint32_t a_slot, uint32_t b_slot, uint32_t out)
{
    V a = vm->roots[a_slot], b = vm->roots[b_slot];
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if ((ka == K_INT || ka == K_BOOL) && (kb == K_INT || kb == K_BOOL)) {
        int64_t x = (int64_t)fields(a)[0], y = (int64_t)fields(b)[0], r;
        switch (op) {
        case 0: case 12: if (__builtin_add_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 1: if (__builtin_sub_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 2: case 13: if (__builtin_mul_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 3:
            if (y == 0)
                return vm_raise(vm, B_ZERODIVISIONERROR, "division by zero");
            return set_float(vm, out, (double)x / (double)y);
        case 4:
        case 5: {
            if (y == 0)
                return vm_raise(vm, B_ZERODIVISIONERROR, op == 4 ? "integer division or modulo by zero" : "integer modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == 4)
                    return overflow(vm);
                return set_int(vm, out, 0);
            }
            int64_t q = x / y, m = x % y;
            if (m && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            return set_int(vm, out, op == 4 ? q : m);
        }
        case 6: return int_pow(vm, x, y, out);
        case 7:
            if (y < 0)
                return vm_raise(vm, B_VALUEERROR, "negative shift count");
            if (x == 0)
                return set_int(vm, out, 0);
            if (y >= 63 || (x > 0 ? x > (INT64_MAX >> y) : x < (INT64_MIN >> y)))
                return overflow(vm);
            return set_int(vm, out, (int64_t)((uint64_t)x << y));
        case 8:
            if (y < 0)
                return vm_raise(vm, B_VALUEERROR, "negative shift count");
            return set_int(vm, out, y >= 64 ? (x < 0 ? -1 : 0) : x >> y);
        case 9:
            if (ka == K_BOOL && kb == K_BOOL) { vm->roots[out] = vm_bool(vm, x & y); return true; }
            return set_int(vm, out, x & y);
        case 10:
            if (ka == K_BOOL && kb == K_BOOL) { vm->roots[out] = vm_bool(vm, x | y); return true; }
            return set_int(vm, out, x | y);
        case 11:
            if (ka == K_BOOL && kb == K_BOOL) { vm->roots[out] = vm_bool(vm, x ^ y); return true; }
            return set_int(vm, out, x ^ y);
        }
    }
    if (is_num(ka) && is_num(kb) && op <= 6)
        return float_op(vm, op, num_f(ka, a), num_f(kb, b), out);
    if (is_num(ka) && is_num(kb) && (op == 12 || op == 13))
        return float_op(vm, op, num_f(ka, a), num_f(kb, b), out);
    bool tuple_a = ka == -1 && cls_of(a) == GR_CLASS_REF_ARRAY;
    bool tuple_b = kb == -1 && cls_of(b) == GR_CLASS_REF_ARRAY;
    if (op == 0 || op == 12) {
        if (ka == K_STR && kb == K_STR)
            return concat_seq(vm, a_slot, b_slot, out, false);
        if (ka == K_LIST && kb == K_LIST) {
            if (op == 12)
                return vm_list_extend_inplace(vm, a_slot, b_slot) && (vm->roots[out] = vm->roots[a_slot], true);
            return concat_seq(vm, a_slot, b_slot, out, true);
        }
        if (tuple_a && tuple_b)
            return concat_seq(vm, a_slot, b_slot, out, false);
    }
    if (op == 2 || op == 13) {
        uint32_t seq = a_slot;
        V n = b;
        int ks = ka, kn = kb;
        if (ka == K_INT || ka == K_BOOL) {
            seq = b_slot;
            n = a;
            ks = kb;
            kn = ka;
        }
        if ((kn == K_INT || kn == K_BOOL) && (ks == K_STR || ks == K_LIST ||
                                              (ks == -1 && cls_of(vm->roots[seq]) == GR_CLASS_REF_ARRAY)))
            return repeat(vm, seq, (int64_t)fields(n)[0], out, ks, op == 13 && seq == a_slot);
    }
    if (op == 5 && ka == K_STR)
        return vm_raise(vm, B_TYPEERROR, "printf-style formatting is not supported in the gcheap subset");
    return vm_raise(vm, B_TYPEERROR, "unsupported operand type(s) for %s: '%s' and '%s'",
                    op_sym[op], vm_type_name(vm, a), vm_type_name(vm, b));
}

/* str + str, list + list, tuple + tuple: a new object. */
static bool concat_seq(struct gi_vm *vm, uint32_t a_slot, uint32_t b_slot, uint32_t out, bool list)
{
    V a = vm->roots[a_slot];
    int k = vm_kind(vm, a);
    if (k == K_STR) {
        uint64_t na = str_nbytes(a), nb = str_nbytes(vm->roots[b_slot]);
        V data = vm_alloc_array(vm, GR_CLASS_STRING, na + nb);
        if (!data)
            return FAIL;
        memcpy(str_bytes_of_data(data), str_ptr(vm->roots[a_slot]), na);
        memcpy(str_bytes_of_data(data) + na, str_ptr(vm->roots[b_slot]), nb);
        uint64_t cps = fields(vm->roots[a_slot])[STR_CPLEN] + fields(vm->roots[b_slot])[STR_CPLEN];
        uint32_t tmp = vm->r_scratch + 1; /* out may be a_slot: root the bytes elsewhere */
        vm->roots[tmp] = data;
        V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
        data = vm->roots[tmp];
        vm->roots[tmp] = 0;
        if (!s)
            return FAIL;
        vm_store_ref(vm, s, &fields(s)[STR_DATA], data);
        fields(s)[STR_CPLEN] = cps;
        vm->roots[out] = s;
        return true;
    }
    uint64_t na = list ? fields(a)[LIST_LEN] : arr_len(a);
    uint64_t nb = list ? fields(vm->roots[b_slot])[LIST_LEN] : arr_len(vm->roots[b_slot]);
    V r = list ? vm_new_list(vm, na + nb) : vm_new_tuple(vm, na + nb);
    if (!r)
        return FAIL;
    a = vm->roots[a_slot];
    V b = vm->roots[b_slot];
    V holder = list ? fields(r)[LIST_ITEMS] : r;
    V *dst = arr_items(holder);
    vm_copy_refs(vm, holder, dst, list ? arr_items(fields(a)[LIST_ITEMS]) : arr_items(a), na);
    vm_copy_refs(vm, holder, dst + na, list ? arr_items(fields(b)[LIST_ITEMS]) : arr_items(b), nb);
    if (list)
        fields(r)[LIST_LEN] = na + nb;
    vm->roots[out] = r;
    return true;
}

bool vm_list_extend_inplace(struct gi_vm *vm, uint32_t list_slot, uint32_t other_slot)
{
    uint64_t n = fields(vm->roots[other_slot])[LIST_LEN];
    uint32_t tmp = vm->r_scratch + 4;
    for (uint64_t i = 0; i < n; i++) {
        vm->roots[tmp] = arr_items(fields(vm->roots[other_slot])[LIST_ITEMS])[i];
        if (!list_append(vm, list_slot, tmp))
            return FAIL;
    }
    vm->roots[tmp] = 0;
    return true;
}

static bool repeat(struct gi_vm *vm, uint32_t seq_slot, int64_t n, uint32_t out, int kind, bool inplace)
{
    if (n < 0)
        n = 0;
    V s = vm->roots[seq_slot];
    if (kind == K_STR) {
        uint64_t nb = str_nbytes(s), total;
        if (__builtin_mul_overflow(nb, (uint64_t)n, &total) || total > GR_MAX_LENGTH)
            return vm_raise(vm, B_MEMORYERROR, "string too large");
        V data = vm_alloc_array(vm, GR_CLASS_STRING, total);
        if (!data)
            return FAIL;
        s = vm->roots[seq_slot];
        if (nb == 0)
            n = 0;      /* "" * 10**18 is "": no 10**18 empty copies */
        for (int64_t i = 0; i < n; i++)
            memcpy(str_bytes_of_data(data) + i * nb, str_ptr(s), nb);
        uint64_t cps = fields(s)[STR_CPLEN] * (uint64_t)n;
        uint32_t tmp = vm->r_scratch + 1; /* out may be seq_slot: root the bytes elsewhere */
        vm->roots[tmp] = data;
        V w = vm_alloc_instance(vm, vm->gr_class[K_STR]);
        data = vm->roots[tmp];
        vm->roots[tmp] = 0;
        if (!w)
            return FAIL;
        vm_store_ref(vm, w, &fields(w)[STR_DATA], data);
        fields(w)[STR_CPLEN] = cps;
        vm->roots[out] = w;
        return true;
    }
    bool list = kind == K_LIST;
    uint64_t len = list ? fields(s)[LIST_LEN] : arr_len(s), total;
    if (__builtin_mul_overflow(len, (uint64_t)n, &total) || total > GR_MAX_LENGTH)
        return vm_raise(vm, B_MEMORYERROR, "sequence too large");
    V r = list ? vm_new_list(vm, total) : vm_new_tuple(vm, total);
    if (!r)
        return FAIL;
    s = vm->roots[seq_slot];
    V *src = list ? arr_items(fields(s)[LIST_ITEMS]) : arr_items(s);
    V holder = list ? fields(r)[LIST_ITEMS] : r;
    V *dst = arr_items(holder);
    if (len == 0)
        n = 0;          /* [] * 10**18 is []: no 10**18 empty copies */
    for (int64_t i = 0; i < n; i++)
        vm_copy_refs(vm, holder, dst + i * len, src, len);
    if (list) {
        fields(r)[LIST_LEN] = total;
        if (inplace) { /* l *= n mutates l: adopt the new item array */
            vm_store_ref(vm, s, &fields(s)[LIST_ITEMS], fields(r)[LIST_ITEMS]);
            fields(s)[LIST_LEN] = total;
            vm->roots[out] = s;
            return true;
        }
    }
    vm->roots[out] = r;
    return true;
}
