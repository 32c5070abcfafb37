/* ops.c - truth, equality, ordering, arithmetic, containment, len and subscripts,
 * with Python's semantics (floor division, sign of %, int/float mixing; special
 * methods of user classes with NotImplemented and the reflected operands) on
 * 64-bit ints: a result outside the int64 range raises OverflowError instead of
 * wrapping. Anything that may run program code takes its operands in root slots.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"
#include "interp/opcodes.h"

#define R (vm->roots)

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);
V vm_array_item(struct gi_vm *vm, V a, uint64_t i);
bool array_store(struct gi_vm *vm, uint32_t a, uint64_t i, uint32_t v);
bool array_slice(struct gi_vm *vm, uint32_t a, uint32_t key, uint32_t out);
bool array_assign_slice(struct gi_vm *vm, uint32_t a, uint32_t key, uint32_t v);
bool array_binary(struct gi_vm *vm, int op, uint32_t a, uint32_t b, uint32_t out);

static inline bool is_notimpl(struct gi_vm *vm, V v) { return v == R[vm->r_notimpl]; }

/* ---- truth */

int vm_truthy(struct gi_vm *vm, V v)
{
    if (vm_user_class(vm, v) >= 0 && (has_special(vm, v, S_BOOL) || has_special(vm, v, S_LEN))) {
        uint32_t t = vm_reserve(vm, 2);
        R[t] = v;
        bool found, ok;
        int r = -1;
        if (has_special(vm, v, S_BOOL)) {
            ok = vm_call_special(vm, S_BOOL, t, t, 0, t + 1, &found);
            if (ok) {
                int k = vm_kind(vm, R[t + 1]);
                if (k != K_BOOL)
                    vm_raise(vm, B_TYPEERROR, "__bool__ should return bool, returned %s", vm_type_name(vm, R[t + 1]));
                else
                    r = fields(R[t + 1])[0] != 0;
            }
        } else {
            int64_t n;
            if (vm_len(vm, t, &n))
                r = n != 0;
        }
        vm_release(vm, t);
        return r;
    }
    switch (vm_kind(vm, v)) {
    case K_NONE: return 0;
    case K_BOOL:
    case K_INT: return fields(v)[0] != 0;
    case K_FLOAT: return float_val(v) != 0.0;
    case K_STR: return str_nbytes(v) != 0;
    case K_LIST: return fields(v)[LIST_LEN] != 0;
    case K_TUPLE: return arr_len(v) != 0;
    case K_DICT: return fields(v)[DICT_COUNT] != 0;
    case K_SET: return fields(v)[SET_USED] != 0;
    case K_ARRAY: return fields(v)[ARRAY_LEN] != 0;
    case K_VIEW: return fields(fields(v)[VIEW_DICT])[DICT_COUNT] != 0;
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        return sc > 0 ? st < sp : st > sp;
    }
    default:
        return 1;
    }
}

/* ---- equality */

#define MAX_NESTING 10000
static __thread int nesting;

static int int_float_eq(int64_t i, double f)
{
    if (f != f || f < -9.3e18 || f > 9.3e18 || f != floor(f) || f >= 9.2233720368547758e18)
        return 0;
    return (int64_t)f == i;
}

/* 1 / 0 when decidable without program code (and without allocating); 2 when a
 * user class's __eq__ (or a dict/set comparison) has to run. */
int vm_equal_pure(struct gi_vm *vm, V a, V b)
{
    if (a == b)
        return 1;
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if (is_num(ka) && is_num(kb)) {
        if (ka != K_FLOAT && kb != K_FLOAT)
            return fields(a)[0] == fields(b)[0];
        if (ka == K_FLOAT && kb == K_FLOAT)
            return float_val(a) == float_val(b);
        return ka == K_FLOAT ? int_float_eq((int64_t)fields(b)[0], float_val(a))
                             : int_float_eq((int64_t)fields(a)[0], float_val(b));
    }
    if (vm_user_class(vm, a) >= 0 && (has_special(vm, a, S_EQ) || has_special(vm, a, S_NE)))
        return 2;
    if (vm_user_class(vm, b) >= 0 && (has_special(vm, b, S_EQ) || has_special(vm, b, S_NE)))
        return 2;
    if (ka != kb)
        return 0;
    switch (ka) {
    case K_STR: {
        uint32_t n = str_nbytes(a);
        return n == str_nbytes(b) && memcmp(str_ptr(a), str_ptr(b), n) == 0;
    }
    case K_LIST: case K_TUPLE: {
        V *ia, *ib;
        uint64_t na, nb;
        vm_seq(vm, a, &ia, &na);
        vm_seq(vm, b, &ib, &nb);
        if (na != nb)
            return 0;
        if (nesting >= MAX_NESTING)
            return 2;
        nesting++;
        int r = 1;
        for (uint64_t i = 0; i < na && r == 1; i++)
            r = vm_equal_pure(vm, ia[i], ib[i]);
        nesting--;
        return r;
    }
    case K_DICT: case K_SET: case K_ARRAY: case K_SLICE: case K_RANGE:
        return 2;
    case K_BUILTIN:
        return fields(a)[BUILTIN_ID] == fields(b)[BUILTIN_ID];
    case K_BOUND:
        return fields(a)[BOUND_SELF] == fields(b)[BOUND_SELF] && fields(a)[BOUND_FUNC] == fields(b)[BOUND_FUNC];
    default:
        return 0;
    }
}

static int rich_compare(struct gi_vm *vm, int op, uint32_t a, uint32_t b);

/* == with the identity shortcut of containers: 1, 0, -1 raised. */
int vm_equal_slots(struct gi_vm *vm, uint32_t a, uint32_t b)
{
    vm_native_step(vm);   /* callers hold values in slots: __eq__ may run */
    V x = R[a], y = R[b];
    if (x == y)
        return 1;
    int r = vm_equal_pure(vm, x, y);
    if (r != 2)
        return r;
    if (nesting >= MAX_NESTING) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded in comparison");
        return -1;
    }
    nesting++;
    r = rich_compare(vm, 0, a, b);
    nesting--;
    return r;
}

int vm_equal(struct gi_vm *vm, V a, V b)
{
    if (a == b)
        return 1;
    int r = vm_equal_pure(vm, a, b);
    if (r != 2)
        return r;
    uint32_t t = vm_reserve(vm, 2);
    R[t] = a;
    R[t + 1] = b;
    r = vm_equal_slots(vm, t, t + 1);
    vm_release(vm, t);
    return r;
}

/* Containers compared element by element through slots (program code may run). */
static int seq_equal(struct gi_vm *vm, uint32_t a, uint32_t b)
{
    V *ia, *ib;
    uint64_t na, nb;
    vm_seq(vm, R[a], &ia, &na);
    vm_seq(vm, R[b], &ib, &nb);
    if (na != nb)
        return 0;
    uint32_t t = vm_reserve(vm, 2);
    int r = 1;
    for (uint64_t i = 0; r == 1; i++) {
        vm_seq(vm, R[a], &ia, &na);
        vm_seq(vm, R[b], &ib, &nb);
        if (i >= na || i >= nb)
            break;
        R[t] = ia[i];
        R[t + 1] = ib[i];
        r = vm_equal_slots(vm, t, t + 1);
    }
    vm_release(vm, t);
    return r;
}

static int dict_equal(struct gi_vm *vm, uint32_t a, uint32_t b)
{
    if (fields(R[a])[DICT_COUNT] != fields(R[b])[DICT_COUNT])
        return 0;
    uint32_t t = vm_reserve(vm, 2);
    int r = 1;
    for (uint64_t e = 0; r == 1 && e < fields(R[a])[DICT_USED]; e++) {
        V k = arr_items(fields(R[a])[DICT_KEYS])[e];
        if (!k)
            continue;
        bool err;
        int64_t f = dict_lookup(vm, R[b], k, &err);
        if (err) {
            r = -1;
            break;
        }
        if (f < 0) {
            r = 0;
            break;
        }
        R[t] = arr_items(fields(R[a])[DICT_VALS])[e];
        R[t + 1] = arr_items(fields(R[b])[DICT_VALS])[f];
        r = vm_equal_slots(vm, t, t + 1);
    }
    vm_release(vm, t);
    return r;
}

static const int reflect[6] = {1, 0, 4, 5, 2, 3};  /* EQ NE LT LE GT GE -> reflected */
static const int op_special[6] = {S_EQ, S_NE, S_LT, S_LE, S_GT, S_GE};
static const char *const cmp_sym[6] = {"==", "!=", "<", "<=", ">", ">="};

static int cmp_result(int op, int c)
{
    switch (op) {
    case 0: return c == 0;
    case 1: return c != 0;
    case 2: return c < 0;
    case 3: return c <= 0;
    case 4: return c > 0;
    default: return c >= 0;
    }
}

/* Built-in comparisons (op 0 == .. 5 >=): 1, 0, -1 raised, 2 not supported. */
static int builtin_compare(struct gi_vm *vm, int op, uint32_t a, uint32_t b)
{
    V x = R[a], y = R[b];
    int ka = vm_kind(vm, x), kb = vm_kind(vm, y);
    if (is_num(ka) && is_num(kb)) {
        if (ka != K_FLOAT && kb != K_FLOAT) {
            int64_t i = (int64_t)fields(x)[0], j = (int64_t)fields(y)[0];
            return cmp_result(op, (i > j) - (i < j));
        }
        if (op <= 1) {
            int eq = vm_equal_pure(vm, x, y);
            return op == 0 ? eq : !eq;
        }
        double f = num_f(ka, x), g = num_f(kb, y);
        if (f != f || g != g)
            return 0;
        return cmp_result(op, (f > g) - (f < g));
    }
    if (op <= 1) {
        int eq;
        if (ka == K_DICT && kb == K_DICT)
            eq = dict_equal(vm, a, b);
        else if (ka == K_SET && kb == K_SET)
            eq = set_compare(vm, 4, x, y);
        else if ((ka == K_LIST && kb == K_LIST) || (ka == K_TUPLE && kb == K_TUPLE))
            eq = seq_equal(vm, a, b);
        else if (ka == K_ARRAY && kb == K_ARRAY) {
            uint64_t n = fields(x)[ARRAY_LEN];
            eq = n == fields(y)[ARRAY_LEN];
            for (uint64_t i = 0; eq && i < n; i++) {
                double p = fields(x)[ARRAY_CODE] == 'd' || fields(x)[ARRAY_CODE] == 'f' ? arr_f64(fields(x)[ARRAY_DATA])[i] : (double)arr_i64(fields(x)[ARRAY_DATA])[i];
                double q = fields(y)[ARRAY_CODE] == 'd' || fields(y)[ARRAY_CODE] == 'f' ? arr_f64(fields(y)[ARRAY_DATA])[i] : (double)arr_i64(fields(y)[ARRAY_DATA])[i];
                eq = p == q;
            }
        } else if (ka == K_RANGE && kb == K_RANGE) {
            eq = fields(x)[RANGE_START] == fields(y)[RANGE_START] && fields(x)[RANGE_STOP] == fields(y)[RANGE_STOP] &&
                 fields(x)[RANGE_STEP] == fields(y)[RANGE_STEP];
        } else if (ka == K_SLICE && kb == K_SLICE) {
            eq = 1;
            uint32_t t = vm_reserve(vm, 2);
            for (int i = 0; i < 3 && eq == 1; i++) {
                R[t] = fields(R[a])[i];
                R[t + 1] = fields(R[b])[i];
                eq = vm_equal_slots(vm, t, t + 1);
            }
            vm_release(vm, t);
        } else
            eq = vm_equal_pure(vm, x, y);
        if (eq < 0)
            return -1;
        if (eq == 2)
            eq = x == y;
        return op == 0 ? eq : !eq;
    }
    if (ka == K_STR && kb == K_STR) {
        uint32_t na = str_nbytes(x), nb = str_nbytes(y);
        int c = memcmp(str_ptr(x), str_ptr(y), na < nb ? na : nb);
        if (!c)
            c = (na > nb) - (na < nb);
        return cmp_result(op, c);
    }
    if ((ka == K_LIST && kb == K_LIST) || (ka == K_TUPLE && kb == K_TUPLE)) {
        uint32_t t = vm_reserve(vm, 2);
        int r = 2;
        for (uint64_t i = 0;; i++) {
            V *ia, *ib;
            uint64_t na, nb;
            vm_seq(vm, R[a], &ia, &na);
            vm_seq(vm, R[b], &ib, &nb);
            if (i >= na || i >= nb) {
                r = cmp_result(op, (na > nb) - (na < nb));
                break;
            }
            R[t] = ia[i];
            R[t + 1] = ib[i];
            int eq = vm_equal_slots(vm, t, t + 1);
            if (eq < 0) {
                r = -1;
                break;
            }
            if (!eq) {
                r = vm_compare_slots(vm, op - 2, t, t + 1);
                break;
            }
        }
        vm_release(vm, t);
        return r;
    }
    if (ka == K_SET && kb == K_SET)
        return set_compare(vm, op - 2, x, y);
    return 2;
}

/* The rich comparison protocol: a.__op__(b), then b.__reflected__(a), then the
 * built-in comparison; == and != fall back to identity. 1, 0, -1 raised. */
static int rich_compare(struct gi_vm *vm, int op, uint32_t a, uint32_t b)
{
    uint32_t t = vm_reserve(vm, 3);
    int r = -1;
    bool found;
    for (int side = 0; side < 2; side++) {
        uint32_t self = side ? b : a, other = side ? a : b;
        int s = op_special[side ? reflect[op] : op];
        if (!has_special(vm, R[self], s)) {
            if (s == S_NE && has_special(vm, R[self], S_EQ)) {
                /* default __ne__: the negation of __eq__ */
                if (!vm_call_special(vm, S_EQ, self, other, 1, t, &found))
                    goto out;
                if (!is_notimpl(vm, R[t])) {
                    int v = vm_truthy(vm, R[t]);
                    r = v < 0 ? -1 : !v;
                    goto out;
                }
            }
            continue;
        }
        if (!vm_call_special(vm, s, self, other, 1, t, &found))
            goto out;
        if (!is_notimpl(vm, R[t])) {
            r = vm_truthy(vm, R[t]);
            goto out;
        }
    }
    r = builtin_compare(vm, op, a, b);
    if (r == 2) {
        if (op <= 1) {
            r = (R[a] == R[b]) == (op == 0);
        } else {
            vm_raise(vm, B_TYPEERROR, "'%s' not supported between instances of '%s' and '%s'", cmp_sym[op],
                     vm_type_name(vm, R[a]), vm_type_name(vm, R[b]));
            r = -1;
        }
    }
out:
    vm_release(vm, t);
    return r;
}

/* Ordering (op 0 <, 1 <=, 2 >, 3 >=) of values in slots: 1, 0, -1 raised. */
int vm_compare_slots(struct gi_vm *vm, int op, uint32_t a, uint32_t b)
{
    if (nesting >= MAX_NESTING) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded in comparison");
        return -1;
    }
    nesting++;
    int r = rich_compare(vm, op + 2, a, b);
    nesting--;
    return r;
}

int vm_compare(struct gi_vm *vm, int op, V a, V b)
{
    uint32_t t = vm_reserve(vm, 2);
    R[t] = a;
    R[t + 1] = b;
    int r = vm_compare_slots(vm, op, t, t + 1);
    vm_release(vm, t);
    return r;
}

/* The EQ/NE opcodes: like vm_equal_slots but without the identity shortcut for
 * values that define equality (nan != nan, __eq__ always called). */
int vm_eq_op(struct gi_vm *vm, bool ne, uint32_t a, uint32_t b)
{
    V x = R[a], y = R[b];
    if (vm_kind(vm, x) == K_FLOAT && vm_kind(vm, y) == K_FLOAT)
        return (float_val(x) == float_val(y)) != ne;
    if (vm_user_class(vm, x) < 0 && vm_user_class(vm, y) < 0) {
        int r = vm_equal_pure(vm, x, y);
        if (r != 2)
            return ne ? !r : r;
    }
    if (nesting >= MAX_NESTING) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded in comparison");
        return -1;
    }
    nesting++;
    int r = rich_compare(vm, ne ? 1 : 0, a, b);
    nesting--;
    return r;
}

/* ---- containment and len */

int vm_contains(struct gi_vm *vm, uint32_t cs, uint32_t is)
{
    V c = R[cs], item = R[is];
    if (vm_user_class(vm, c) >= 0 && has_special(vm, c, S_CONTAINS)) {
        uint32_t t = vm_reserve(vm, 1);
        bool found;
        int r = -1;
        if (vm_call_special(vm, S_CONTAINS, cs, is, 1, t, &found))
            r = vm_truthy(vm, R[t]);
        vm_release(vm, t);
        return r;
    }
    int k = vm_kind(vm, c);
    switch (k) {
    case K_DICT: {
        bool err = false;
        int64_t e = dict_lookup(vm, c, item, &err);
        return err ? -1 : e >= 0;
    }
    case K_VIEW: {
        V d = fields(c)[VIEW_DICT];
        if (fields(c)[VIEW_WHICH] == 0) {
            bool err = false;
            int64_t e = dict_lookup(vm, d, item, &err);
            return err ? -1 : e >= 0;
        }
        break;   /* values/items: by iteration */
    }
    case K_SET:
        return set_contains(vm, c, item);
    case K_STR:
        if (vm_kind(vm, item) != K_STR) {
            vm_raise(vm, B_TYPEERROR, "'in <string>' requires string as left operand, not %s", vm_type_name(vm, item));
            return -1;
        }
        if (str_nbytes(item) == 0)
            return 1;
        return vm_find_str_polling(vm, cs, 0, str_nbytes(c), is) >= 0;
    case K_LIST: case K_TUPLE: {
        uint32_t t = vm_reserve(vm, 1);
        int r = 0;
        for (uint64_t i = 0;; i++) {
            V *items;
            uint64_t n;
            vm_seq(vm, R[cs], &items, &n);
            if (i >= n)
                break;
            R[t] = items[i];
            r = vm_equal_slots(vm, t, is);
            if (r)
                break;
        }
        vm_release(vm, t);
        return r;
    }
    case K_RANGE: {
        int ki = vm_kind(vm, item);
        if (ki == K_FLOAT) {
            double f = float_val(item);
            if (f != floor(f))
                return 0;
        } else if (!is_intlike(ki)) {
            break;
        }
        int64_t x = ki == K_FLOAT ? (int64_t)float_val(item) : (int64_t)fields(item)[0];
        int64_t st = (int64_t)fields(c)[RANGE_START], sp = (int64_t)fields(c)[RANGE_STOP], sc = (int64_t)fields(c)[RANGE_STEP];
        if (sc > 0 ? (x < st || x >= sp) : (x > st || x <= sp))
            return 0;
        return (x - st) % sc == 0;
    }
    default:
        break;
    }
    /* any iterable: by iteration */
    uint32_t t = vm_reserve(vm, 2);
    R[t] = c;
    int r = -1;
    if (!vm_get_iter(vm, t)) {
        if (vm_exc_matches(vm, R[vm->r_exc], B_TYPEERROR)) {
            vm_raise(vm, B_TYPEERROR, "argument of type '%s' is not iterable", vm_type_name(vm, R[cs]));
        }
        goto out;
    }
    for (;;) {
        int n = vm_next(vm, t, t + 1);
        if (n <= 0) {
            r = n;
            break;
        }
        int eq = vm_equal_slots(vm, t + 1, is);
        if (eq) {
            r = eq;
            break;
        }
    }
out:
    vm_release(vm, t);
    return r;
}

bool vm_len(struct gi_vm *vm, uint32_t slot, int64_t *out)
{
    V v = R[slot];
    if (vm_user_class(vm, v) >= 0 && has_special(vm, v, S_LEN)) {
        uint32_t t = vm_reserve(vm, 1);
        bool found;
        bool ok = vm_call_special(vm, S_LEN, slot, slot, 0, t, &found);
        if (ok) {
            V n = R[t];
            if (!is_intlike(vm_kind(vm, n)))
                ok = vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, n));
            else if ((int64_t)fields(n)[0] < 0)
                ok = vm_raise(vm, B_VALUEERROR, "__len__() should return >= 0");
            else
                *out = (int64_t)fields(n)[0];
        }
        vm_release(vm, t);
        return ok;
    }
    switch (vm_kind(vm, v)) {
    case K_STR: *out = (int64_t)fields(v)[STR_CPLEN]; return true;
    case K_LIST: *out = (int64_t)fields(v)[LIST_LEN]; return true;
    case K_TUPLE: *out = arr_len(v); return true;
    case K_DICT: *out = (int64_t)fields(v)[DICT_COUNT]; return true;
    case K_SET: *out = (int64_t)fields(v)[SET_USED]; return true;
    case K_ARRAY: *out = (int64_t)fields(v)[ARRAY_LEN]; return true;
    case K_VIEW: *out = (int64_t)fields(fields(v)[VIEW_DICT])[DICT_COUNT]; return true;
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        *out = sc > 0 ? (sp > st ? (int64_t)(((uint64_t)sp - (uint64_t)st - 1) / (uint64_t)sc + 1) : 0)
                      : (st > sp ? (int64_t)(((uint64_t)st - (uint64_t)sp - 1) / (uint64_t)-sc + 1) : 0);
        return true;
    }
    default:
        return vm_raise(vm, B_TYPEERROR, "object of type '%s' has no len()", vm_type_name(vm, v));
    }
}

bool vm_index_value(struct gi_vm *vm, V v, int64_t *out)
{
    if (is_intlike(vm_kind(vm, v))) {
        *out = (int64_t)fields(v)[0];
        return true;
    }
    if (has_special(vm, v, S_INDEX)) {
        uint32_t t = vm_reserve(vm, 1);
        R[t] = v;
        bool found;
        bool ok = vm_call_special(vm, S_INDEX, t, t, 0, t, &found);
        if (ok) {
            if (is_intlike(vm_kind(vm, R[t])))
                *out = (int64_t)fields(R[t])[0];
            else
                ok = vm_raise(vm, B_TYPEERROR, "__index__ returned non-int (type %s)", vm_type_name(vm, R[t]));
        }
        vm_release(vm, t);
        return ok;
    }
    return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, v));
}

/* ---- arithmetic. op is the bytecode's binary opcode order:
 * 0 ADD 1 SUB 2 MUL 3 TRUEDIV 4 FLOORDIV 5 MOD 6 POW 7 LSHIFT 8 RSHIFT 9 AND 10 OR 11 XOR,
 * 12..23 the in-place forms in the same order. */
static const char *const op_sym[12] = {"+", "-", "*", "/", "//", "%", "** or pow()", "<<", ">>", "&", "|", "^"};

static bool overflow(struct gi_vm *vm)
{
    return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
}

static bool set_int(struct gi_vm *vm, uint32_t out, int64_t r)
{
    V v = vm_new_int(vm, r);
    if (!v)
        return FAIL;
    R[out] = v;
    return true;
}

static bool set_float(struct gi_vm *vm, uint32_t out, double r)
{
    V v = vm_new_float(vm, r);
    if (!v)
        return FAIL;
    R[out] = v;
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

bool float_divmod(struct gi_vm *vm, double x, double y, double *div, double *mod)
{
    if (y == 0)
        return vm_raise(vm, B_ZERODIVISIONERROR, "float divmod()");
    double m = fmod(x, y);
    double d = (x - m) / y;
    if (m) {
        if ((y < 0) != (m < 0)) {
            m += y;
            d -= 1.0;
        }
    } else {
        m = copysign(0.0, y);
    }
    double fd;
    if (d) {
        fd = floor(d);
        if (d - fd > 0.5)
            fd += 1.0;
    } else {
        fd = copysign(0.0, x / y);
    }
    *div = fd;
    *mod = m;
    return true;
}

/* x / y for ints (y != 0), correctly rounded as CPython's: direct when both are
 * exact doubles, else a quotient of at least 55 bits with a sticky bit for the
 * remainder, converted once (so rounded once) and scaled back. */
static double int_true_divide(int64_t x, int64_t y)
{
    const int64_t exact = INT64_C(1) << 53;
    if (x >= -exact && x <= exact && y >= -exact && y <= exact)
        return (double)x / (double)y;
    bool neg = (x < 0) != (y < 0);
    uint64_t ux = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    uint64_t uy = y < 0 ? (uint64_t)0 - (uint64_t)y : (uint64_t)y;
    if (ux == 0)
        return neg ? -0.0 : 0.0;
    int nx = 64 - __builtin_clzll(ux), ny = 64 - __builtin_clzll(uy);
    int shift = ny - nx + 55;        /* the quotient gets 55 or 56 bits */
    unsigned __int128 num = ux, den = uy;
    if (shift >= 0)
        num <<= shift;
    else
        den <<= -shift;
    unsigned __int128 q = num / den;
    if (num % den)
        q |= 1;                      /* sticky: below the rounding position */
    double r = ldexp((double)(uint64_t)q, -shift);
    return neg ? -r : r;
}

static bool float_op(struct gi_vm *vm, int op, double x, double y, uint32_t out)
{
    switch (op) {
    case 0: return set_float(vm, out, x + y);
    case 1: return set_float(vm, out, x - y);
    case 2: return set_float(vm, out, x * y);
    case 3:
        if (y == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "float division by zero");
        return set_float(vm, out, x / y);
    case 4:
    case 5: {
        if (y == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, op == 4 ? "float floor division by zero" : "float modulo");
        double d, m;
        float_divmod(vm, x, y, &d, &m);
        return set_float(vm, out, op == 4 ? d : m);
    }
    case 6: {
        if (x == 0 && y < 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y))
            return vm_raise(vm, B_VALUEERROR, "gcheap: negative number raised to a fractional power (complex result)");
        double r = pow(x, y);
        if (isinf(r) && !isinf(x) && !isinf(y))
            return vm_raise(vm, B_OVERFLOWERROR, "(34, 'Numerical result out of range')");
        return set_float(vm, out, r);
    }
    default:
        return 2;
    }
}

static bool concat_seq(struct gi_vm *vm, uint32_t a_slot, uint32_t b_slot, uint32_t out, int kind);
static bool repeat(struct gi_vm *vm, uint32_t seq_slot, int64_t n, uint32_t out, int kind, bool inplace);

/* Built-in operators: 1 done, 0 raised, 2 not supported for these types. */
static int builtin_binary(struct gi_vm *vm, int op, bool inplace, uint32_t a_slot, uint32_t b_slot, uint32_t out)
{
    V a = R[a_slot], b = R[b_slot];
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if (is_intlike(ka) && is_intlike(kb)) {
        int64_t x = (int64_t)fields(a)[0], y = (int64_t)fields(b)[0], r;
        switch (op) {
        case 0: if (__builtin_add_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 1: if (__builtin_sub_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 2: if (__builtin_mul_overflow(x, y, &r)) return overflow(vm); return set_int(vm, out, r);
        case 3:
            if (y == 0)
                return vm_raise(vm, B_ZERODIVISIONERROR, "division by zero");
            return set_float(vm, out, int_true_divide(x, y));
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
            if (ka == K_BOOL && kb == K_BOOL) { R[out] = vm_bool(vm, x & y); return true; }
            return set_int(vm, out, x & y);
        case 10:
            if (ka == K_BOOL && kb == K_BOOL) { R[out] = vm_bool(vm, x | y); return true; }
            return set_int(vm, out, x | y);
        case 11:
            if (ka == K_BOOL && kb == K_BOOL) { R[out] = vm_bool(vm, x ^ y); return true; }
            return set_int(vm, out, x ^ y);
        }
    }
    if (is_num(ka) && is_num(kb) && op <= 6)
        return float_op(vm, op, num_f(ka, a), num_f(kb, b), out);
    if (op == 0) {
        if ((ka == K_STR && kb == K_STR) || (ka == K_TUPLE && kb == K_TUPLE))
            return concat_seq(vm, a_slot, b_slot, out, ka);
        if (ka == K_LIST && kb == K_LIST) {
            if (inplace) {
                if (!vm_iterate_into_list(vm, b_slot, a_slot))
                    return FAIL;
                R[out] = R[a_slot];
                return true;
            }
            return concat_seq(vm, a_slot, b_slot, out, K_LIST);
        }
        if (ka == K_LIST && inplace) {   /* l += any iterable */
            if (!vm_iterate_into_list(vm, b_slot, a_slot))
                return FAIL;
            R[out] = R[a_slot];
            return true;
        }
        if (ka == K_ARRAY && kb == K_ARRAY)
            return array_binary(vm, 0, a_slot, b_slot, out);
    }
    if (op == 2) {
        uint32_t seq = a_slot;
        V n = b;
        int ks = ka, kn = kb;
        if (is_intlike(ka)) {
            seq = b_slot;
            n = a;
            ks = kb;
            kn = ka;
        }
        if (is_intlike(kn) && (ks == K_STR || ks == K_LIST || ks == K_TUPLE))
            return repeat(vm, seq, (int64_t)fields(n)[0], out, ks, inplace && seq == a_slot);
        if (is_intlike(kn) && ks == K_ARRAY)
            return array_binary(vm, 2, seq, seq == a_slot ? b_slot : a_slot, out);
    }
    if (op == 5 && ka == K_STR)
        return vm_percent_format(vm, a_slot, b_slot, out);
    if (ka == K_SET && kb == K_SET && (op == 1 || op == 9 || op == 10 || op == 11)) {
        int sop = op == 1 ? '-' : op == 9 ? '&' : op == 10 ? '|' : '^';
        if (inplace && !fields(a)[SET_FROZEN]) {
            if (!set_inplace(vm, sop, a_slot, b_slot))
                return FAIL;
            R[out] = R[a_slot];
            return true;
        }
        return set_binop(vm, sop, a_slot, b_slot, out);
    }
    if (ka == K_VIEW && fields(a)[VIEW_WHICH] != 1 && (op == 1 || op == 9 || op == 10 || op == 11)) {
        /* dict_keys / dict_items with set operators: as sets */
        uint32_t t = vm_reserve(vm, 1);
        bool ok = set_copy(vm, a_slot, t, false);
        if (ok) {
            int sop = op == 1 ? '-' : op == 9 ? '&' : op == 10 ? '|' : '^';
            ok = set_binop(vm, sop, t, b_slot, out);
        }
        vm_release(vm, t);
        return ok;
    }
    /* d |= x takes whatever dict.update takes (pairs, another mapping); d | x a dict only */
    if (ka == K_DICT && op == 10 && (kb == K_DICT || inplace)) {
        extern bool vm_dict_update_from(struct gi_vm *vm, uint32_t dst, uint32_t src);
        if (inplace)
            return vm_dict_update_from(vm, a_slot, b_slot) && (R[out] = R[a_slot], true);
        uint32_t t = vm_reserve(vm, 1);
        V d = vm_new_dict(vm);
        bool ok = d != 0;
        if (ok) {
            R[t] = d;
            ok = vm_dict_update_from(vm, t, a_slot) && vm_dict_update_from(vm, t, b_slot);
            if (ok)
                R[out] = R[t];
        }
        vm_release(vm, t);
        return ok;
    }
    return 2;
}

bool vm_binary(struct gi_vm *vm, int op, uint32_t a_slot, uint32_t b_slot, uint32_t out)
{
    bool inplace = op >= 12;
    int base = inplace ? op - 12 : op;
    V a = R[a_slot], b = R[b_slot];
    bool ua = vm_user_class(vm, a) >= 0, ub = vm_user_class(vm, b) >= 0;
    if (ua || ub) {
        uint32_t t = vm_reserve(vm, 1);
        bool found;
        if (inplace && ua && has_special(vm, a, S_IADD + base)) {
            bool ok = vm_call_special(vm, S_IADD + base, a_slot, b_slot, 1, t, &found);
            if (!ok || !is_notimpl(vm, R[t])) {
                if (ok)
                    R[out] = R[t];
                vm_release(vm, t);
                return ok;
            }
        }
        if (ua && has_special(vm, R[a_slot], S_ADD + base)) {
            bool ok = vm_call_special(vm, S_ADD + base, a_slot, b_slot, 1, t, &found);
            if (!ok || !is_notimpl(vm, R[t])) {
                if (ok)
                    R[out] = R[t];
                vm_release(vm, t);
                return ok;
            }
        }
        if (ub && has_special(vm, R[b_slot], S_RADD + base)) {
            bool ok = vm_call_special(vm, S_RADD + base, b_slot, a_slot, 1, t, &found);
            if (!ok || !is_notimpl(vm, R[t])) {
                if (ok)
                    R[out] = R[t];
                vm_release(vm, t);
                return ok;
            }
        }
        vm_release(vm, t);
    }
    int r = builtin_binary(vm, base, inplace, a_slot, b_slot, out);
    if (r != 2)
        return r;
    a = R[a_slot];
    b = R[b_slot];
    if (base == 6 && inplace)
        return vm_raise(vm, B_TYPEERROR, "unsupported operand type(s) for **=: '%s' and '%s'", vm_type_name(vm, a),
                        vm_type_name(vm, b));
    if (inplace)
        return vm_raise(vm, B_TYPEERROR, "unsupported operand type(s) for %s=: '%s' and '%s'", op_sym[base],
                        vm_type_name(vm, a), vm_type_name(vm, b));
    if (base == 0 && vm_kind(vm, a) == K_STR)
        return vm_raise(vm, B_TYPEERROR, "can only concatenate str (not \"%s\") to str", vm_type_name(vm, b));
    if (base == 0 && vm_kind(vm, a) == K_LIST)
        return vm_raise(vm, B_TYPEERROR, "can only concatenate list (not \"%s\") to list", vm_type_name(vm, b));
    if (base == 0 && vm_kind(vm, a) == K_TUPLE)
        return vm_raise(vm, B_TYPEERROR, "can only concatenate tuple (not \"%s\") to tuple", vm_type_name(vm, b));
    if (base == 2 && (vm_kind(vm, a) == K_STR || vm_kind(vm, a) == K_LIST || vm_kind(vm, a) == K_TUPLE))
        return vm_raise(vm, B_TYPEERROR, "can't multiply sequence by non-int of type '%s'", vm_type_name(vm, b));
    return vm_raise(vm, B_TYPEERROR, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym[base],
                    vm_type_name(vm, a), vm_type_name(vm, b));
}

bool vm_unary(struct gi_vm *vm, int op, uint32_t slot)
{
    V v = R[slot];
    int k = vm_kind(vm, v);
    if (op == OP_NOT) {
        int t = vm_truthy(vm, v);
        if (t < 0)
            return FAIL;
        R[slot] = vm_bool(vm, !t);
        return true;
    }
    int s = op == OP_NEG ? S_NEG : op == OP_POS ? S_POS : S_INVERT;
    if (has_special(vm, v, s)) {
        bool found;
        return vm_call_special(vm, s, slot, slot, 0, slot, &found);
    }
    if (is_intlike(k)) {
        int64_t x = (int64_t)fields(v)[0];
        if (op == OP_NEG && x == INT64_MIN)
            return overflow(vm);
        return set_int(vm, slot, op == OP_NEG ? -x : op == OP_POS ? x : ~x);
    }
    if (k == K_FLOAT && op != OP_INVERT)
        return set_float(vm, slot, op == OP_NEG ? -float_val(v) : float_val(v));
    return vm_raise(vm, B_TYPEERROR, "bad operand type for unary %s: '%s'",
                    op == OP_NEG ? "-" : op == OP_POS ? "+" : "~", vm_type_name(vm, v));
}

/* str + str, list + list, tuple + tuple: a new object. */
static bool concat_seq(struct gi_vm *vm, uint32_t a_slot, uint32_t b_slot, uint32_t out, int kind)
{
    V a = R[a_slot];
    if (kind == K_STR) {
        uint64_t na = str_nbytes(a), nb = str_nbytes(R[b_slot]);
        if (na + nb > GR_MAX_LENGTH)
            return vm_raise(vm, B_MEMORYERROR, "string too large");
        if (nb == 0) {
            R[out] = R[a_slot];
            return true;
        }
        if (na == 0) {
            R[out] = R[b_slot];
            return true;
        }
        V data = vm_alloc_array(vm, GR_CLASS_STRING, na + nb);
        if (!data)
            return FAIL;
        uint32_t tmp = vm_reserve(vm, 1);
        R[tmp] = data;
        vm_copy_str_polling(vm, tmp, 0, a_slot, 0, na);
        vm_copy_str_polling(vm, tmp, na, b_slot, 0, nb);
        uint64_t cps = fields(R[a_slot])[STR_CPLEN] + fields(R[b_slot])[STR_CPLEN];
        V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
        data = R[tmp];
        vm_release(vm, tmp);
        if (!s)
            return FAIL;
        vm_store_ref(vm, s, &fields(s)[STR_DATA], data);
        fields(s)[STR_CPLEN] = cps;
        R[out] = s;
        return true;
    }
    bool list = kind == K_LIST;
    uint64_t na = list ? fields(a)[LIST_LEN] : arr_len(a);
    uint64_t nb = list ? fields(R[b_slot])[LIST_LEN] : arr_len(R[b_slot]);
    V r = list ? vm_new_list(vm, na + nb) : vm_new_tuple(vm, na + nb);
    if (!r)
        return FAIL;
    /* the arrays in root slots, copied with safepoint polls (l + l of a long list) */
    uint32_t t = vm_reserve(vm, 3);
    R[t] = list ? fields(r)[LIST_ITEMS] : r;
    R[t + 1] = list ? fields(R[a_slot])[LIST_ITEMS] : R[a_slot];
    R[t + 2] = list ? fields(R[b_slot])[LIST_ITEMS] : R[b_slot];
    uint32_t keep = vm_reserve(vm, 1);
    R[keep] = r;
    vm_copy_refs_polling(vm, t, 0, t + 1, 0, na);
    vm_copy_refs_polling(vm, t, na, t + 2, 0, nb);
    r = R[keep];
    if (list)
        fields(r)[LIST_LEN] = na + nb;
    R[out] = r;
    vm_release(vm, t);
    return true;
}

#define REPEAT_STEP 2048u         /* references stored between safepoint polls */

static bool repeat(struct gi_vm *vm, uint32_t seq_slot, int64_t n, uint32_t out, int kind, bool inplace)
{
    if (n < 0)
        n = 0;
    V s = R[seq_slot];
    if (kind == K_STR) {
        uint64_t nb = str_nbytes(s), total;
        if (__builtin_mul_overflow(nb, (uint64_t)n, &total) || total > GR_MAX_LENGTH)
            return vm_raise(vm, B_MEMORYERROR, "string too large");
        if (nb == 0)
            n = 0;      /* "" * 10**18 is "": no 10**18 empty copies */
        if (n == 1) {
            R[out] = s;
            return true;
        }
        V data = vm_alloc_array(vm, GR_CLASS_STRING, total);
        if (!data)
            return FAIL;
        uint32_t tmp = vm_reserve(vm, 1);
        R[tmp] = data;
        /* One copy from s, then doubling from what is written (the bytes at
         * off % nb on are the ones due at off), VM_BYTES_STEP at most per memcpy
         * with a safepoint poll between them: addresses read again after it. */
        for (uint64_t off = 0; off < total;) {
            if (off)
                vm_native_poll(vm);
            char *dst = str_bytes_of_data(R[tmp]);
            uint64_t k, at = off % nb;
            const char *src = off < nb ? str_ptr(R[seq_slot]) + off : dst + at;
            k = off < nb ? nb - off : off - at;
            if (k > total - off)
                k = total - off;
            if (k > VM_BYTES_STEP)
                k = VM_BYTES_STEP;
            memcpy(dst + off, src, k);
            off += k;
        }
        s = R[seq_slot];
        uint64_t cps = fields(s)[STR_CPLEN] * (uint64_t)n;
        V w = vm_alloc_instance(vm, vm->gr_class[K_STR]);
        data = R[tmp];
        vm_release(vm, tmp);
        if (!w)
            return FAIL;
        vm_store_ref(vm, w, &fields(w)[STR_DATA], data);
        fields(w)[STR_CPLEN] = cps;
        R[out] = w;
        return true;
    }
    bool list = kind == K_LIST;
    uint64_t len = list ? fields(s)[LIST_LEN] : arr_len(s), total;
    if (__builtin_mul_overflow(len, (uint64_t)n, &total) || total > GR_MAX_LENGTH)
        return vm_raise(vm, B_MEMORYERROR, "sequence too large");
    V r = list ? vm_new_list(vm, total) : vm_new_tuple(vm, total);
    if (!r)
        return FAIL;
    if (len == 0)
        n = 0;          /* [] * 10**18 is []: no 10**18 empty copies */
    /* filled REPEAT_STEP references at a time with a safepoint poll in between
     * (gcbench's [0.0] * 500000 kept pauses waiting 1-2 ms); r is rooted meanwhile
     * and holds what was stored and nulls; raw addresses are read again after
     * each poll */
    uint32_t tmp = vm_reserve(vm, 1);
    R[tmp] = r;
    uint64_t filled = len * (uint64_t)n;    /* total, or 0 for an empty sequence */
    for (uint64_t f = 0; f < filled;) {
        vm_native_poll(vm);
        r = R[tmp];
        s = R[seq_slot];
        V *src = list ? arr_items(fields(s)[LIST_ITEMS]) : arr_items(s);
        V holder = list ? fields(r)[LIST_ITEMS] : r;
        V *dst = arr_items(holder);
        uint64_t stop = filled - f < REPEAT_STEP ? filled : f + REPEAT_STEP;
        if (len == 1) {
            for (V x = src[0]; f < stop; f++)
                vm_store_ref(vm, holder, &dst[f], x);
        } else {
            while (f < stop) {      /* the rest of the copy f is in, up to stop */
                uint64_t at = f % len, k = len - at < stop - f ? len - at : stop - f;
                vm_copy_refs(vm, holder, dst + f, src + at, k);
                f += k;
            }
        }
    }
    r = R[tmp];
    s = R[seq_slot];
    vm_release(vm, tmp);
    if (list) {
        fields(r)[LIST_LEN] = total;
        if (inplace) { /* l *= n mutates l: adopt the new item array */
            vm_store_ref(vm, s, &fields(s)[LIST_ITEMS], fields(r)[LIST_ITEMS]);
            fields(s)[LIST_LEN] = total;
            R[out] = s;
            return true;
        }
    }
    R[out] = r;
    return true;
}

/* ---- subscripts and slices */

static bool slice_part(struct gi_vm *vm, V v, bool *none, int64_t *out)
{
    if (vm_kind(vm, v) == K_NONE) {
        *none = true;
        return true;
    }
    *none = false;
    if (!is_intlike(vm_kind(vm, v)) && !has_special(vm, v, S_INDEX))
        return vm_raise(vm, B_TYPEERROR, "slice indices must be integers or None or have an __index__ method");
    return vm_index_value(vm, v, out);
}

/* Length of the sequence in slot obj now (list, str, tuple, array, range). */
static bool seq_len_now(struct gi_vm *vm, uint32_t obj, int64_t *len)
{
    V o = R[obj];
    switch (vm_kind(vm, o)) {
    case K_LIST: *len = (int64_t)fields(o)[LIST_LEN]; return true;
    case K_STR: *len = (int64_t)fields(o)[STR_CPLEN]; return true;
    case K_ARRAY: *len = (int64_t)fields(o)[ARRAY_LEN]; return true;
    case K_RANGE: return vm_len(vm, obj, len);
    default: *len = arr_len(o); return true;
    }
}

/* CPython's PySlice_Unpack then PySlice_AdjustIndices with the length of the
 * sequence in slot seq read after the bounds' __index__ ran (program code that
 * may have resized it). */
bool slice_indices(struct gi_vm *vm, V slice, uint32_t seq, int64_t *start, int64_t *stop, int64_t *step, int64_t *n)
{
    bool st_none = false, sp_none = false, none;
    int64_t st = 0, sp = 0, sc, len = 0;
    uint32_t t = vm_reserve(vm, 1);
    R[t] = slice;
    bool ok = slice_part(vm, fields(R[t])[SLICE_STEP], &none, &sc);
    if (ok && none)
        sc = 1;
    if (ok && sc == 0)
        ok = vm_raise(vm, B_VALUEERROR, "slice step cannot be zero");
    if (ok)
        ok = slice_part(vm, fields(R[t])[SLICE_START], &st_none, &st);
    if (ok)
        ok = slice_part(vm, fields(R[t])[SLICE_STOP], &sp_none, &sp);
    if (ok)
        ok = seq_len_now(vm, seq, &len);
    if (ok) {
        if (st_none)
            st = sc < 0 ? len - 1 : 0;
        else if (st < 0) {
            st += len;
            if (st < 0)
                st = sc < 0 ? -1 : 0;
        } else if (st >= len)
            st = sc < 0 ? len - 1 : len;
        if (sp_none)
            sp = sc < 0 ? -1 : len;
        else if (sp < 0) {
            sp += len;
            if (sp < 0)
                sp = sc < 0 ? -1 : 0;
        } else if (sp >= len)
            sp = sc < 0 ? len - 1 : len;
        if (sc < 0)
            *n = sp < st ? (st - sp - 1) / (-sc) + 1 : 0;
        else
            *n = st < sp ? (sp - st - 1) / sc + 1 : 0;
        *start = st;
        *stop = sp;
        *step = sc;
    }
    vm_release(vm, t);
    return ok;
}

uint64_t str_cp_offset(V s, uint64_t cp)
{
    if (fields(s)[STR_CPLEN] == str_nbytes(s))
        return cp;
    const unsigned char *p = (const unsigned char *)str_ptr(s);
    uint64_t n = str_nbytes(s), i = 0, c = 0;
    while (i < n && c < cp) {
        i++;
        while (i < n && (p[i] & 0xC0) == 0x80)
            i++;
        c++;
    }
    return i;
}

V vm_substr(struct gi_vm *vm, uint32_t s, uint64_t from, uint64_t to, uint64_t cps)
{
    if (from == 0 && to == str_nbytes(R[s]))
        return R[s];
    V data = vm_alloc_array(vm, GR_CLASS_STRING, to - from);
    if (!data)
        return 0;
    uint32_t tmp = vm_reserve(vm, 1);
    R[tmp] = data;
    vm_copy_str_polling(vm, tmp, 0, s, from, to - from);
    V w = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    data = R[tmp];
    vm_release(vm, tmp);
    if (!w)
        return 0;
    vm_store_ref(vm, w, &fields(w)[STR_DATA], data);
    fields(w)[STR_CPLEN] = cps;
    return w;
}

/* dict subclasses: self.__missing__(key). 1 done, 0 not defined, -1 raised. */
static int dict_missing(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out)
{
    int c = vm_user_class(vm, R[obj]);
    V f;
    if (c < 0 || vm_class_lookup(vm, vm->class_objs[c], vm_intern(vm, "__missing__"), &f) != 1)
        return 0;
    uint32_t t = vm_reserve(vm, 3);
    R[t] = f;
    R[t + 1] = R[obj];
    R[t + 2] = R[key];
    bool ok = vm_call(vm, t, 2, 0, out);
    vm_release(vm, t);
    return ok ? 1 : -1;
}

/* The index key into the sequence in slot obj: its length is read after the
 * key's __index__ ran (program code that may have resized it). */
static bool norm_index(struct gi_vm *vm, V key, uint32_t obj, int64_t *out, const char *what)
{
    int64_t i;
    if (!is_intlike(vm_kind(vm, key)) && !has_special(vm, key, S_INDEX))
        return vm_raise(vm, B_TYPEERROR, "%s indices must be integers or slices, not %s", what, vm_type_name(vm, key));
    if (!vm_index_value(vm, key, &i))
        return FAIL;
    int64_t n;
    if (!seq_len_now(vm, obj, &n))
        return FAIL;
    uint64_t len = (uint64_t)n;
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return vm_raise(vm, B_INDEXERROR, "%s index out of range", what);
    *out = i;
    return true;
}

static bool get_slice(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out)
{
    V o = R[obj];
    int k = vm_kind(vm, o);
    if (k == K_ARRAY)
        return array_slice(vm, obj, key, out);
    int64_t st, sp, sc, n;
    if (!slice_indices(vm, R[key], obj, &st, &sp, &sc, &n))
        return FAIL;
    o = R[obj];
    if (k == K_STR) {
        if (sc == 1) {
            uint64_t from = str_cp_offset(o, (uint64_t)st), to = str_cp_offset(o, (uint64_t)(st + n));
            V r = vm_substr(vm, obj, from, to, (uint64_t)n);
            if (!r)
                return FAIL;
            R[out] = r;
            return true;
        }
        /* build the bytes of the chosen code points */
        struct gi_buf b = {0};
        for (int64_t i = 0, j = st; i < n; i++, j += sc) {
            uint64_t from = str_cp_offset(R[obj], (uint64_t)j), to = str_cp_offset(R[obj], (uint64_t)j + 1);
            buf_put(&b, str_ptr(R[obj]) + from, to - from);
        }
        bool ok = !b.oom && vm_set_out_str(vm, out, b.p ? b.p : "", b.len);
        free(b.p);
        return ok || (b.oom && vm_raise(vm, B_MEMORYERROR, "out of memory"));
    }
    V r = k == K_LIST ? vm_new_list(vm, (uint64_t)n) : vm_new_tuple(vm, (uint64_t)n);
    if (!r)
        return FAIL;
    o = R[obj];
    V *src = k == K_LIST ? arr_items(fields(o)[LIST_ITEMS]) : arr_items(o);
    V holder = k == K_LIST ? fields(r)[LIST_ITEMS] : r;
    if (sc == 1)
        vm_copy_refs(vm, holder, arr_items(holder), src + st, (uint64_t)n);
    else
        for (int64_t i = 0, j = st; i < n; i++, j += sc)
            vm_store_ref(vm, holder, &arr_items(holder)[i], src[j]);
    if (k == K_LIST)
        fields(r)[LIST_LEN] = (uint64_t)n;
    R[out] = r;
    return true;
}

bool vm_getitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out);

bool vm_getitem(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out)
{
    V o = R[obj];
    if (vm_user_class(vm, o) >= 0 && has_special(vm, o, S_GETITEM)) {
        bool found;
        return vm_call_special(vm, S_GETITEM, obj, key, 1, out, &found);
    }
    return vm_getitem_builtin(vm, obj, key, out);
}

/* obj[key] of the built-in types (a subclass's own __getitem__ not consulted). */
bool vm_getitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out)
{
    V o = R[obj], kv = R[key];
    int k = vm_kind(vm, o);
    int64_t i;
    switch (k) {
    case K_LIST:
        if (vm_kind(vm, kv) == K_SLICE)
            return get_slice(vm, obj, key, out);
        if (!norm_index(vm, kv, obj, &i, "list"))
            return FAIL;
        R[out] = arr_items(fields(R[obj])[LIST_ITEMS])[i];
        return true;
    case K_TUPLE:
        if (vm_kind(vm, kv) == K_SLICE)
            return get_slice(vm, obj, key, out);
        if (!norm_index(vm, kv, obj, &i, "tuple"))
            return FAIL;
        R[out] = arr_items(R[obj])[i];
        return true;
    case K_STR: {
        if (vm_kind(vm, kv) == K_SLICE)
            return get_slice(vm, obj, key, out);
        if (!norm_index(vm, kv, obj, &i, "string"))
            return FAIL;
        o = R[obj];
        uint64_t from = str_cp_offset(o, (uint64_t)i), to = str_cp_offset(o, (uint64_t)i + 1);
        V r = vm_substr(vm, obj, from, to, 1);
        if (!r)
            return FAIL;
        R[out] = r;
        return true;
    }
    case K_DICT: {
        bool err = false;
        int64_t e = dict_lookup(vm, o, kv, &err);
        if (err)
            return FAIL;
        if (e < 0) {
            int r = dict_missing(vm, obj, key, out);
            if (r != 0)
                return r > 0;
            return vm_raise_value(vm, B_KEYERROR, key);
        }
        R[out] = arr_items(fields(R[obj])[DICT_VALS])[e];
        return true;
    }
    case K_ARRAY:
        if (vm_kind(vm, kv) == K_SLICE)
            return get_slice(vm, obj, key, out);
        if (!norm_index(vm, kv, obj, &i, "array"))
            return FAIL;
        {
            V v = vm_array_item(vm, R[obj], (uint64_t)i);
            if (!v)
                return FAIL;
            R[out] = v;
        }
        return true;
    case K_RANGE: {
        if (vm_kind(vm, kv) == K_SLICE) {
            int64_t st, sp, sc, n;
            if (!slice_indices(vm, kv, obj, &st, &sp, &sc, &n))
                return FAIL;
            o = R[obj];
            int64_t rs = (int64_t)fields(o)[RANGE_START], rc = (int64_t)fields(o)[RANGE_STEP];
            V r = vm_alloc_instance(vm, vm->gr_class[K_RANGE]);
            if (!r)
                return FAIL;
            fields(r)[RANGE_START] = (V)(rs + st * rc);
            fields(r)[RANGE_STOP] = (V)(rs + sp * rc);
            fields(r)[RANGE_STEP] = (V)(rc * sc);
            R[out] = r;
            return true;
        }
        if (!norm_index(vm, kv, obj, &i, "range object"))
            return FAIL;
        o = R[obj];
        V v = vm_new_int(vm, (int64_t)fields(o)[RANGE_START] + i * (int64_t)fields(o)[RANGE_STEP]);
        if (!v)
            return FAIL;
        R[out] = v;
        return true;
    }
    case K_BUILTIN:
        if (gi_natives[fields(o)[BUILTIN_ID]].flags & N_TYPE) {
            R[out] = o;   /* list[int] and the like: type hints, kept as the type */
            return true;
        }
        break;
    default:
        break;
    }
    return vm_raise(vm, B_TYPEERROR, "'%s' object is not subscriptable", vm_type_name(vm, o));
}

/* a[slice] = iterable for a list. */
static bool list_assign_slice(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = false;
    /* the new items, as a list of their own (a[:] = a copies first) */
    if (!vm_to_list(vm, value, t))
        goto out;
    int64_t st, sp, sc, n;
    if (!slice_indices(vm, R[key], obj, &st, &sp, &sc, &n))
        goto out;
    int64_t len = (int64_t)fields(R[obj])[LIST_LEN];
    int64_t m = (int64_t)fields(R[t])[LIST_LEN];
    if (sc != 1) {
        if (m != n) {
            vm_raise(vm, B_VALUEERROR, "attempt to assign sequence of size %lld to extended slice of size %lld",
                     (long long)m, (long long)n);
            goto out;
        }
        V items = fields(R[obj])[LIST_ITEMS], src = fields(R[t])[LIST_ITEMS];
        for (int64_t i = 0, j = st; i < n; i++, j += sc)
            vm_store_ref(vm, items, &arr_items(items)[j], arr_items(src)[i]);
        ok = true;
        goto out;
    }
    if (sp < st)
        sp = st;
    int64_t newlen = len - (sp - st) + m;
    if (!list_reserve(vm, obj, (uint64_t)newlen))
        goto out;
    V l = R[obj];
    V items = fields(l)[LIST_ITEMS];
    /* move the tail, then copy the new items in */
    vm_copy_refs(vm, items, arr_items(items) + st + m, arr_items(items) + sp, (uint64_t)(len - sp));
    for (int64_t i = newlen; i < len; i++)
        vm_store_ref(vm, items, &arr_items(items)[i], 0);
    vm_copy_refs(vm, items, arr_items(items) + st, arr_items(fields(R[t])[LIST_ITEMS]), (uint64_t)m);
    fields(l)[LIST_LEN] = (uint64_t)newlen;
    ok = true;
out:
    vm_release(vm, t);
    return ok;
}

bool vm_setitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value);

bool vm_setitem(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value)
{
    V o = R[obj];
    if (vm_user_class(vm, o) >= 0 && has_special(vm, o, S_SETITEM)) {
        bool found;
        uint32_t t = vm_reserve(vm, 2);
        R[t] = R[key];
        R[t + 1] = R[value];
        bool ok = vm_call_special(vm, S_SETITEM, obj, t, 2, t, &found);
        vm_release(vm, t);
        return ok;
    }
    return vm_setitem_builtin(vm, obj, key, value);
}

bool vm_setitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value)
{
    V o = R[obj], kv = R[key];
    int k = vm_kind(vm, o);
    int64_t i;
    switch (k) {
    case K_LIST: {
        if (vm_kind(vm, kv) == K_SLICE)
            return list_assign_slice(vm, obj, key, value);
        if (!norm_index(vm, kv, obj, &i, "list assignment"))
            return FAIL;
        V items = fields(R[obj])[LIST_ITEMS];
        vm_store_ref(vm, items, &arr_items(items)[i], R[value]);
        return true;
    }
    case K_DICT:
        return dict_set(vm, obj, key, value);
    case K_ARRAY:
        if (vm_kind(vm, kv) == K_SLICE)
            return array_assign_slice(vm, obj, key, value);
        if (!norm_index(vm, kv, obj, &i, "array assignment"))
            return FAIL;
        return array_store(vm, obj, (uint64_t)i, value);
    default:
        return vm_raise(vm, B_TYPEERROR, "'%s' object does not support item assignment", vm_type_name(vm, o));
    }
}

bool vm_delitem(struct gi_vm *vm, uint32_t obj, uint32_t key)
{
    V o = R[obj], kv = R[key];
    if (vm_user_class(vm, o) >= 0 && has_special(vm, o, S_DELITEM)) {
        bool found;
        uint32_t t = vm_reserve(vm, 1);
        bool ok = vm_call_special(vm, S_DELITEM, obj, key, 1, t, &found);
        vm_release(vm, t);
        return ok;
    }
    int k = vm_kind(vm, o);
    if (k == K_DICT) {
        int r = dict_delete(vm, obj, key);
        if (r < 0)
            return FAIL;
        if (r == 0)
            return vm_raise_value(vm, B_KEYERROR, key);
        return true;
    }
    if (k == K_LIST) {
        /* the length is read after the index's __index__ ran (it may resize the list) */
        if (vm_kind(vm, kv) == K_SLICE) {
            int64_t st, sp, sc, n;
            if (!slice_indices(vm, kv, obj, &st, &sp, &sc, &n))
                return FAIL;
            o = R[obj];
            uint64_t len = fields(o)[LIST_LEN];
            V items = fields(o)[LIST_ITEMS];
            if (sc < 0) {   /* the same items, walked upward */
                st = st + (n - 1) * sc;
                sc = -sc;
            }
            uint64_t w = (uint64_t)(n ? st : 0), nextdel = (uint64_t)st;
            int64_t deleted = 0;
            for (uint64_t r = n ? (uint64_t)st : len; r < len; r++) {
                if (deleted < n && r == nextdel) {
                    deleted++;
                    nextdel += (uint64_t)sc;
                    continue;
                }
                vm_store_ref(vm, items, &arr_items(items)[w++], arr_items(items)[r]);
            }
            for (uint64_t r = len - (uint64_t)n; r < len; r++)
                vm_store_ref(vm, items, &arr_items(items)[r], 0);
            fields(o)[LIST_LEN] = len - (uint64_t)n;
            return true;
        }
        int64_t i;
        if (!norm_index(vm, kv, obj, &i, "list assignment"))
            return FAIL;
        o = R[obj];
        uint64_t len = fields(o)[LIST_LEN];
        V items = fields(o)[LIST_ITEMS];
        vm_copy_refs(vm, items, arr_items(items) + i, arr_items(items) + i + 1, len - (uint64_t)i - 1);
        vm_store_ref(vm, items, &arr_items(items)[len - 1], 0);
        fields(o)[LIST_LEN] = len - 1;
        return true;
    }
    if (k == K_ARRAY && vm_kind(vm, kv) != K_SLICE) {
        int64_t i;
        if (!norm_index(vm, kv, obj, &i, "array assignment"))
            return FAIL;
        o = R[obj];
        uint64_t len = fields(o)[ARRAY_LEN];
        V data = fields(o)[ARRAY_DATA];
        memmove(arr_i64(data) + i, arr_i64(data) + i + 1, (len - (uint64_t)i - 1) * 8);
        fields(o)[ARRAY_LEN] = len - 1;
        return true;
    }
    return vm_raise(vm, B_TYPEERROR, "'%s' object doesn't support item deletion", vm_type_name(vm, o));
}
