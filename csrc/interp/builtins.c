/* builtins.c - the built-in functions and types of the namespace (print, len,
 * range, the constructors of the built-in types, exceptions, ...).
 * Arguments arrive in consecutive root slots (natives.c's calling convention);
 * the result is stored into out only once every argument has been consumed. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

#define R (vm->roots)
#define ARG(i) (R[args + (i)])
#define NATIVE(fn) bool fn(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out)

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);
bool vm_sort_values(struct gi_vm *vm, uint32_t list_slot, uint32_t key_slot, bool reverse);
int vm_eq_op(struct gi_vm *vm, bool ne, uint32_t a, uint32_t b);
bool float_divmod(struct gi_vm *vm, double x, double y, double *div, double *mod);

/* CPython's hierarchy among the built-in exception classes. */
int gi_exc_parent(int t)
{
    switch (t) {
    case B_BASEEXCEPTION: return -1;
    case B_EXCEPTION: case B_KEYBOARDINTERRUPT: case B_GENERATOREXIT: case B_SYSTEMEXIT: return B_BASEEXCEPTION;
    case B_ZERODIVISIONERROR: case B_OVERFLOWERROR: case B_FLOATINGPOINTERROR: return B_ARITHMETICERROR;
    case B_INDEXERROR: case B_KEYERROR: return B_LOOKUPERROR;
    case B_RECURSIONERROR: case B_NOTIMPLEMENTEDERROR: return B_RUNTIMEERROR;
    case B_UNBOUNDLOCALERROR: return B_NAMEERROR;
    case B_MODULENOTFOUNDERROR: return B_IMPORTERROR;
    case B_UNICODEERROR: return B_VALUEERROR;
    case B_USERWARNING: case B_DEPRECATIONWARNING: case B_RUNTIMEWARNING: return B_WARNING;
    default: return B_EXCEPTION;
    }
}

bool gi_exc_subclass(int sub, int sup)
{
    for (int t = sub; t >= 0; t = gi_exc_parent(t))
        if (t == sup)
            return true;
    return false;
}

uint32_t kw_count(struct gi_vm *vm, uint32_t kwn)
{
    return kwn ? arr_len(R[kwn]) : 0;
}

/* Slot of keyword argument `name`, or 0. */
int kw_find(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, const char *name)
{
    if (!kwn)
        return 0;
    uint32_t nkw = arr_len(R[kwn]);
    size_t n = strlen(name);
    for (uint32_t i = 0; i < nkw; i++) {
        V k = arr_items(R[kwn])[i];
        if (str_nbytes(k) == n && !memcmp(str_ptr(k), name, n))
            return (int)(args + argc - nkw + i);
    }
    return 0;
}

/* Every keyword is one of `allowed` (NULL-terminated). */
static bool kw_only(struct gi_vm *vm, uint32_t kwn, const char *fname, const char *const *allowed)
{
    for (uint32_t i = 0; i < kw_count(vm, kwn); i++) {
        V k = arr_items(R[kwn])[i];
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strlen(*a) == str_nbytes(k) && !memcmp(*a, str_ptr(k), str_nbytes(k));
        if (!ok)
            return vm_raise(vm, B_TYPEERROR, "%s() got an unexpected keyword argument '%.*s'", fname,
                            (int)str_nbytes(k), str_ptr(k));
    }
    return true;
}

bool kw_none(struct gi_vm *vm, const char *fname, uint32_t kwn)
{
    if (kw_count(vm, kwn))
        return vm_raise(vm, B_TYPEERROR, "%s() takes no keyword arguments", fname);
    return true;
}

static bool set_out(struct gi_vm *vm, uint32_t out, V v)
{
    if (!v)
        return FAIL;
    R[out] = v;
    return true;
}

static bool get_int(struct gi_vm *vm, V v, int64_t *out)
{
    return vm_index_value(vm, v, out);
}

NATIVE(b_not_callable)
{
    return vm_raise(vm, B_TYPEERROR, "'%s' object is not callable",
                    vm->native_id == B_NOTIMPLEMENTED ? "NotImplementedType" : "ellipsis");
}

NATIVE(b_not_constructible)
{
    return vm_raise(vm, B_TYPEERROR, "gcheap: this type cannot be instantiated directly");
}

/* ---- output */

bool vm_print(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn)
{
    static const char *const allowed[] = {"sep", "end", "file", "flush", NULL};
    if (!kw_only(vm, kwn, "print", allowed))
        return FAIL;
    uint32_t npos = argc - kw_count(vm, kwn);
    int sep = kw_find(vm, args, argc, kwn, "sep"), end = kw_find(vm, args, argc, kwn, "end");
    int file = kw_find(vm, args, argc, kwn, "file");
    V sv = sep ? R[sep] : 0, ev = end ? R[end] : 0;
    for (int i = 0; i < 2; i++) {
        V v = i ? ev : sv;
        if (v && vm_kind(vm, v) != K_NONE && vm_kind(vm, v) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "%s must be None or a string, not %s", i ? "end" : "sep", vm_type_name(vm, v));
    }
    struct gi_buf b = {0};
    for (uint32_t i = 0; i < npos; i++) {
        if (i) {
            V s = sep ? R[sep] : 0;
            if (s && vm_kind(vm, s) == K_STR)
                buf_put(&b, str_ptr(s), str_nbytes(s));
            else
                buf_puts(&b, " ");
        }
        if (!vm_to_text(vm, args + i, false, &b)) {
            free(b.p);
            return FAIL;
        }
    }
    V e = end ? R[end] : 0;
    if (e && vm_kind(vm, e) == K_STR)
        buf_put(&b, str_ptr(e), str_nbytes(e));
    else
        buf_puts(&b, "\n");
    if (b.oom) {
        free(b.p);
        return vm_raise(vm, B_MEMORYERROR, "out of memory printing");
    }
    bool ok = true;
    V f = file ? R[file] : 0;
    if (!f || vm_kind(vm, f) == K_NONE || (vm_kind(vm, f) == K_FILE && fields(f)[FILE_FD] == 1)) {
        vm_write_out(vm, b.p, b.len);
    } else if (vm_kind(vm, f) == K_FILE) {
        vm_flush_out(vm);
        vm_write_err(vm, b.p, b.len);
    } else {
        /* any object with a write method */
        uint32_t t = vm_reserve(vm, 2);
        ok = vm_set_out_str(vm, t + 1, b.p ? b.p : "", b.len);
        if (ok) {
            bool found;
            R[t] = R[file];
            ok = vm_call_method(vm, t, vm_intern(vm, "write"), t + 1, 1, t, &found);
            if (!ok && !found)
                ok = vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute 'write'", vm_type_name(vm, R[file]));
        }
        vm_release(vm, t);
    }
    free(b.p);
    return ok;
}

NATIVE(b_print)
{
    if (!vm_print(vm, args, argc, kwn))
        return FAIL;
    R[out] = vm_none(vm);
    return true;
}

/* ---- numbers and sequences */

NATIVE(b_len)
{
    int64_t n;
    if (!vm_len(vm, args, &n))
        return FAIL;
    return set_out(vm, out, vm_new_int(vm, n));
}

NATIVE(b_range)
{
    int64_t v[3] = {0, 0, 0};
    for (uint32_t i = 0; i < argc; i++) {
        V a = ARG(i);
        if (!is_intlike(vm_kind(vm, a)) && !has_special(vm, a, S_INDEX))
            return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, a));
        if (!get_int(vm, a, &v[i]))
            return FAIL;
    }
    int64_t st = 0, sp, sc = 1;
    if (argc == 1) {
        sp = v[0];
    } else {
        st = v[0];
        sp = v[1];
        if (argc == 3)
            sc = v[2];
    }
    if (sc == 0)
        return vm_raise(vm, B_VALUEERROR, "range() arg 3 must not be zero");
    V r = vm_alloc_instance(vm, vm->gr_class[K_RANGE]);
    if (!r)
        return FAIL;
    fields(r)[RANGE_START] = (V)st;
    fields(r)[RANGE_STOP] = (V)sp;
    fields(r)[RANGE_STEP] = (V)sc;
    R[out] = r;
    return true;
}

NATIVE(b_abs)
{
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (is_intlike(k)) {
        int64_t x = (int64_t)fields(v)[0];
        if (x == INT64_MIN)
            return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
        return set_out(vm, out, vm_new_int(vm, x < 0 ? -x : x));
    }
    if (k == K_FLOAT)
        return set_out(vm, out, vm_new_float(vm, fabs(float_val(v))));
    if (has_special(vm, v, S_ABS)) {
        bool found;
        return vm_call_special(vm, S_ABS, args, args, 0, out, &found);
    }
    return vm_raise(vm, B_TYPEERROR, "bad operand type for abs(): '%s'", vm_type_name(vm, v));
}

static bool minmax(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out, bool is_max)
{
    static const char *const allowed[] = {"key", "default", NULL};
    const char *name = is_max ? "max" : "min";
    if (!kw_only(vm, kwn, name, allowed))
        return FAIL;
    uint32_t npos = argc - kw_count(vm, kwn);
    int key = kw_find(vm, args, argc, kwn, "key"), dflt = kw_find(vm, args, argc, kwn, "default");
    if (key && vm_kind(vm, R[key]) == K_NONE)
        key = 0;
    if (npos == 0)
        return vm_raise(vm, B_TYPEERROR, "%s expected at least 1 argument, got 0", name);
    if (npos > 1 && dflt)
        return vm_raise(vm, B_TYPEERROR, "Cannot specify a default for %s() with multiple positional arguments", name);
    uint32_t t = vm_reserve(vm, 6);   /* iterator, item, best, item key, best key, key fn */
    bool ok = false;
    if (npos == 1) {
        R[t] = ARG(0);
    } else {
        V tup = vm_new_tuple(vm, npos);
        if (!tup)
            goto out;
        for (uint32_t i = 0; i < npos; i++)
            vm_store_ref(vm, tup, &arr_items(tup)[i], ARG(i));
        R[t] = tup;
    }
    if (!vm_get_iter(vm, t))
        goto out;
    bool have = false;
    for (;;) {
        int r = vm_next(vm, t, t + 1);
        if (r < 0)
            goto out;
        if (!r)
            break;
        if (key) {
            R[t + 5] = R[key];
            R[t + 3] = R[t + 1];   /* argument */
            uint32_t m = vm_reserve(vm, 2);
            R[m] = R[key];
            R[m + 1] = R[t + 1];
            bool k = vm_call(vm, m, 1, 0, t + 3);
            vm_release(vm, m);
            if (!k)
                goto out;
        } else {
            R[t + 3] = R[t + 1];
        }
        if (!have) {
            R[t + 2] = R[t + 1];
            R[t + 4] = R[t + 3];
            have = true;
            continue;
        }
        int c = vm_compare_slots(vm, is_max ? 2 : 0, t + 3, t + 4);
        if (c < 0)
            goto out;
        if (c) {
            R[t + 2] = R[t + 1];
            R[t + 4] = R[t + 3];
        }
    }
    if (!have) {
        if (dflt) {
            R[out] = R[dflt];
            ok = true;
            goto out;
        }
        vm_raise(vm, B_VALUEERROR, "%s() arg is an empty sequence", name);
        goto out;
    }
    R[out] = R[t + 2];
    ok = true;
out:
    vm_release(vm, t);
    return ok;
}

NATIVE(b_min) { return minmax(vm, args, argc, kwn, out, false); }
NATIVE(b_max) { return minmax(vm, args, argc, kwn, out, true); }

NATIVE(b_isinstance)
{
    int res = 0;
    if (!vm_isinstance(vm, ARG(0), ARG(1), &res))
        return FAIL;
    R[out] = vm_bool(vm, res);
    return true;
}

NATIVE(b_issubclass)
{
    int res = 0;
    if (!vm_issubclass(vm, ARG(0), ARG(1), &res))
        return FAIL;
    R[out] = vm_bool(vm, res);
    return true;
}

NATIVE(b_str)
{
    if (argc == 0)
        return set_out(vm, out, R[vm->r_empty_str]);
    return set_out(vm, out, vm_str_of(vm, args, false));
}

NATIVE(b_repr)
{
    return set_out(vm, out, vm_str_of(vm, args, true));
}

static bool parse_int(struct gi_vm *vm, uint32_t slot, int base, int64_t *out)
{
    V s = R[slot];
    uint32_t n = str_nbytes(s);
    const char *p = str_ptr(s);
    while (n && strchr(" \t\n\r\f\v", *p))
        p++, n--;
    while (n && strchr(" \t\n\r\f\v", p[n - 1]))
        n--;
    bool neg = false, ok = n > 0;
    size_t i = 0;
    if (ok && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (ok && i + 1 < n && p[i] == '0') {
        char c = (char)(p[i + 1] | 0x20);
        if ((c == 'x' && (base == 16 || base == 0)) || (c == 'o' && (base == 8 || base == 0)) ||
            (c == 'b' && (base == 2 || base == 0))) {
            base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
            i += 2;
        }
    }
    if (base == 0)
        base = 10;
    uint64_t acc = 0;
    bool any = false, over = false, prev_digit = false;
    for (; ok && i < n; i++) {
        char c = p[i];
        if (c == '_' && prev_digit && i + 1 < n) {
            prev_digit = false;
            continue;
        }
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
        if (d >= base) {
            ok = false;
            break;
        }
        if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            over = true;
        acc = acc * (uint64_t)base + (uint64_t)d;
        any = true;
        prev_digit = true;
    }
    if (!ok || !any || !prev_digit) {
        V r = vm_str_of(vm, slot, true);
        if (!r)
            return FAIL;
        return vm_raise(vm, B_VALUEERROR, "invalid literal for int() with base %d: %.*s", base, (int)str_nbytes(r), str_ptr(r));
    }
    if (over || acc > (uint64_t)INT64_MAX + neg)
        return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

bool double_to_int(struct gi_vm *vm, double d, int64_t *out)
{
    if (isnan(d))
        return vm_raise(vm, B_VALUEERROR, "cannot convert float NaN to integer");
    if (isinf(d))
        return vm_raise(vm, B_OVERFLOWERROR, "cannot convert float infinity to integer");
    d = trunc(d);
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
    *out = (int64_t)d;
    return true;
}

NATIVE(b_int)
{
    if (argc == 0)
        return set_out(vm, out, vm_new_int(vm, 0));
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (argc == 2) {
        int64_t base;
        if (k != K_STR)
            return vm_raise(vm, B_TYPEERROR, "int() can't convert non-string with explicit base");
        if (!get_int(vm, ARG(1), &base))
            return FAIL;
        if (base != 0 && (base < 2 || base > 36))
            return vm_raise(vm, B_VALUEERROR, "int() base must be >= 2 and <= 36, or 0");
        int64_t x;
        if (!parse_int(vm, args, (int)base, &x))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, x));
    }
    if (k == K_INT)
        return set_out(vm, out, v);
    if (k == K_BOOL)
        return set_out(vm, out, vm_new_int(vm, (int64_t)fields(v)[0]));
    if (k == K_FLOAT) {
        int64_t x;
        if (!double_to_int(vm, float_val(v), &x))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, x));
    }
    if (k == K_STR) {
        int64_t x = 0;
        if (!parse_int(vm, args, 10, &x))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, x));
    }
    bool found;
    if (has_special(vm, v, S_INT))
        return vm_call_special(vm, S_INT, args, args, 0, out, &found);
    if (has_special(vm, v, S_INDEX))
        return vm_call_special(vm, S_INDEX, args, args, 0, out, &found);
    return vm_raise(vm, B_TYPEERROR, "int() argument must be a string, a bytes-like object or a real number, not '%s'",
                    vm_type_name(vm, v));
}

NATIVE(b_float)
{
    if (argc == 0)
        return set_out(vm, out, vm_new_float(vm, 0.0));
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (k == K_FLOAT)
        return set_out(vm, out, v);
    if (is_intlike(k))
        return set_out(vm, out, vm_new_float(vm, (double)(int64_t)fields(v)[0]));
    if (k == K_STR) {
        char buf[128];
        uint32_t n = str_nbytes(v);
        const char *p = str_ptr(v);
        while (n && strchr(" \t\n\r\f\v", *p))
            p++, n--;
        while (n && strchr(" \t\n\r\f\v", p[n - 1]))
            n--;
        bool ok = n > 0 && n < sizeof buf;
        size_t o = 0;
        if (ok) {
            for (uint32_t i = 0; i < n; i++) {
                if (p[i] == '_')
                    continue;
                if (!strchr("0123456789+-.eEinfatyINFATY", p[i]))
                    ok = false;
                buf[o++] = p[i];
            }
            buf[o] = 0;
        }
        char *end = NULL;
        double d = ok ? strtod(buf, &end) : 0;
        if (!ok || end != buf + o || (o && (buf[0] == 'n' || buf[0] == 'N' || buf[1] == 'x' || buf[1] == 'X'))) {
            if (ok && end == buf + o && (buf[0] == 'n' || buf[0] == 'N'))
                return set_out(vm, out, vm_new_float(vm, d));
            V r = vm_str_of(vm, args, true);
            if (!r)
                return FAIL;
            return vm_raise(vm, B_VALUEERROR, "could not convert string to float: %.*s", (int)str_nbytes(r), str_ptr(r));
        }
        return set_out(vm, out, vm_new_float(vm, d));
    }
    bool found;
    if (has_special(vm, v, S_FLOAT))
        return vm_call_special(vm, S_FLOAT, args, args, 0, out, &found);
    return vm_raise(vm, B_TYPEERROR, "float() argument must be a string or a real number, not '%s'", vm_type_name(vm, v));
}

NATIVE(b_bool)
{
    if (argc == 0) {
        R[out] = vm_bool(vm, false);
        return true;
    }
    int t = vm_truthy(vm, ARG(0));
    if (t < 0)
        return FAIL;
    R[out] = vm_bool(vm, t);
    return true;
}

NATIVE(b_list)
{
    if (argc == 0)
        return set_out(vm, out, vm_new_list(vm, 4));
    return vm_to_list(vm, args, out);
}

NATIVE(b_tuple)
{
    if (argc == 0)
        return set_out(vm, out, vm_new_tuple(vm, 0));
    if (vm_kind(vm, ARG(0)) == K_TUPLE && vm_user_class(vm, ARG(0)) < 0)
        return set_out(vm, out, ARG(0));
    uint32_t t = vm_reserve(vm, 1);
    bool ok = vm_to_list(vm, args, t);
    if (ok) {
        V l = R[t];
        uint64_t n = fields(l)[LIST_LEN];
        uint32_t u = vm_reserve(vm, 2);
        V tup = vm_new_tuple(vm, n);
        ok = tup != 0;
        if (ok) {
            R[u] = tup;
            R[u + 1] = fields(R[t])[LIST_ITEMS];
            vm_copy_refs_polling(vm, u, 0, u + 1, 0, n);
            R[out] = R[u];
        }
        vm_release(vm, u);
    }
    vm_release(vm, t);
    return ok;
}

bool vm_dict_update_from(struct gi_vm *vm, uint32_t dst, uint32_t src);

NATIVE(b_dict)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    if (npos > 1)
        return vm_raise(vm, B_TYPEERROR, "dict expected at most 1 argument, got %u", npos);
    uint32_t t = vm_reserve(vm, 2);
    bool ok = false;
    V d = vm_new_dict(vm);
    if (!d)
        goto out;
    R[t] = d;
    if (npos == 1 && !vm_dict_update_from(vm, t, args))
        goto out;
    for (uint32_t i = 0; i < kw_count(vm, kwn); i++) {
        R[t + 1] = arr_items(R[kwn])[i];
        if (!dict_set(vm, t, t + 1, args + npos + i))
            goto out;
    }
    R[out] = R[t];
    ok = true;
out:
    vm_release(vm, t);
    return ok;
}

static bool make_set(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool frozen)
{
    if (argc == 1 && frozen && vm_kind(vm, ARG(0)) == K_SET && fields(ARG(0))[SET_FROZEN] && vm_user_class(vm, ARG(0)) < 0)
        return set_out(vm, out, ARG(0));
    uint32_t t = vm_reserve(vm, 1);
    V s = vm_new_set(vm, frozen);
    bool ok = s != 0;
    if (ok) {
        R[t] = s;
        if (argc == 1)
            ok = set_update(vm, t, args);
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_set) { return make_set(vm, args, argc, out, false); }
NATIVE(b_frozenset) { return make_set(vm, args, argc, out, true); }

NATIVE(b_object)
{
    V o = vm_alloc_instance(vm, vm->gr_class[K_INST]);
    if (!o)
        return FAIL;
    fields(o)[INST_INLINE] = (V)++vm->next_idhash;
    R[out] = o;
    return true;
}

NATIVE(b_type)
{
    if (argc == 1) {
        R[out] = vm_type_of(vm, ARG(0));
        return true;
    }
    if (argc != 3)
        return vm_raise(vm, B_TYPEERROR, "type() takes 1 or 3 arguments");
    V name = ARG(0), bases = ARG(1), ns = ARG(2);
    if (vm_kind(vm, name) != K_STR || vm_kind(vm, bases) != K_TUPLE || vm_kind(vm, ns) != K_DICT)
        return vm_raise(vm, B_TYPEERROR, "type() arguments must be (str, tuple, dict)");
    uint32_t nb = arr_len(bases);
    uint32_t t = vm_reserve(vm, nb + 2);
    R[t] = name;
    for (uint32_t i = 0; i < nb; i++)
        R[t + 1 + i] = arr_items(ARG(1))[i];
    bool ok = vm_new_dict(vm) != 0;
    if (ok) {
        /* the class keeps its namespace: give it a copy */
        V d = vm_new_dict(vm);
        ok = d != 0;
        if (ok) {
            R[t + 1 + nb] = d;
            ok = vm_dict_update_from(vm, t + 1 + nb, args + 2) && vm_build_class(vm, t, nb, out);
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_super)
{
    if (argc == 0)
        return vm_raise(vm, B_RUNTIMEERROR, "super(): no arguments");
    if (argc == 1)
        return vm_raise(vm, B_TYPEERROR, "gcheap: super() with one argument is not supported");
    if (vm_kind(vm, ARG(0)) != K_CLASS)
        return vm_raise(vm, B_TYPEERROR, "super() argument 1 must be a type defined by the program");
    int res = 0;
    V obj = ARG(1);
    if (vm_kind(vm, obj) == K_CLASS) {
        if (!vm_issubclass(vm, obj, ARG(0), &res))
            return FAIL;
    } else if (!vm_isinstance(vm, obj, ARG(0), &res)) {
        return FAIL;
    }
    if (!res)
        return vm_raise(vm, B_TYPEERROR, "super(type, obj): obj must be an instance or subtype of type");
    V s = vm_alloc_instance(vm, vm->gr_class[K_SUPER]);
    if (!s)
        return FAIL;
    vm_store_ref(vm, s, &fields(s)[SUPER_TYPE], ARG(0));
    vm_store_ref(vm, s, &fields(s)[SUPER_OBJ], ARG(1));
    R[out] = s;
    return true;
}

static bool make_wrap(struct gi_vm *vm, uint32_t which, uint32_t a, uint32_t b, uint32_t c, uint32_t out)
{
    V w = vm_alloc_instance(vm, vm->gr_class[K_WRAP]);
    if (!w)
        return FAIL;
    if (a && vm_kind(vm, R[a]) != K_NONE)
        vm_store_ref(vm, w, &fields(w)[WRAP_A], R[a]);
    if (b && vm_kind(vm, R[b]) != K_NONE)
        vm_store_ref(vm, w, &fields(w)[WRAP_B], R[b]);
    if (c && vm_kind(vm, R[c]) != K_NONE)
        vm_store_ref(vm, w, &fields(w)[WRAP_C], R[c]);
    fields(w)[WRAP_WHICH] = which;
    R[out] = w;
    return true;
}

NATIVE(b_staticmethod) { return make_wrap(vm, W_STATIC, args, 0, 0, out); }
NATIVE(b_classmethod) { return make_wrap(vm, W_CLASS, args, 0, 0, out); }

NATIVE(b_property)
{
    static const char *const allowed[] = {"fget", "fset", "fdel", "doc", NULL};
    if (!kw_only(vm, kwn, "property", allowed))
        return FAIL;
    uint32_t npos = argc - kw_count(vm, kwn);
    uint32_t g = npos > 0 ? args : (uint32_t)kw_find(vm, args, argc, kwn, "fget");
    uint32_t s = npos > 1 ? args + 1 : (uint32_t)kw_find(vm, args, argc, kwn, "fset");
    uint32_t d = npos > 2 ? args + 2 : (uint32_t)kw_find(vm, args, argc, kwn, "fdel");
    return make_wrap(vm, W_PROPERTY, g, s, d, out);
}

/* ---- iteration helpers */

NATIVE(b_enumerate)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    int start = npos > 1 ? (int)(args + 1) : kw_find(vm, args, argc, kwn, "start");
    int64_t st = 0;
    if (start && !get_int(vm, R[start], &st))
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    R[t] = ARG(0);
    bool ok = vm_get_iter(vm, t);
    if (ok) {
        V it = vm_new_iter(vm, IT_ENUMERATE, t);
        ok = it != 0;
        if (ok) {
            fields(it)[ITER_POS] = (V)st;
            R[out] = it;
        }
    }
    vm_release(vm, t);
    return ok;
}

/* A tuple of iterators of args[from..argc) into slot. */
static bool iter_tuple(struct gi_vm *vm, uint32_t args, uint32_t from, uint32_t argc, uint32_t slot)
{
    uint32_t n = argc - from;
    uint32_t t = vm_reserve(vm, n + 1);
    bool ok = true;
    for (uint32_t i = 0; i < n && ok; i++) {
        R[t + 1 + i] = ARG(from + i);
        ok = vm_get_iter(vm, t + 1 + i);
    }
    if (ok) {
        V tup = vm_new_tuple(vm, n);
        ok = tup != 0;
        if (ok) {
            for (uint32_t i = 0; i < n; i++)
                vm_store_ref(vm, tup, &arr_items(tup)[i], R[t + 1 + i]);
            R[slot] = tup;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_zip)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = iter_tuple(vm, args, 0, argc, t);
    if (ok) {
        V it = vm_new_iter(vm, IT_ZIP, t);
        ok = it != 0;
        if (ok) {
            if (argc == 0)
                fields(it)[ITER_END] = 1;
            R[out] = it;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_map)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = iter_tuple(vm, args, 1, argc, t);
    if (ok) {
        V it = vm_new_iter(vm, IT_MAP, t);
        ok = it != 0;
        if (ok) {
            vm_store_ref(vm, it, &fields(it)[ITER_A], ARG(0));
            R[out] = it;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_filter)
{
    uint32_t t = vm_reserve(vm, 1);
    R[t] = ARG(1);
    bool ok = vm_get_iter(vm, t);
    if (ok) {
        V it = vm_new_iter(vm, IT_FILTER, t);
        ok = it != 0;
        if (ok) {
            vm_store_ref(vm, it, &fields(it)[ITER_A], ARG(0));
            R[out] = it;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_reversed)
{
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (k == K_RANGE) {
        int64_t n;
        if (!vm_len(vm, args, &n))
            return FAIL;
        V it = vm_new_iter(vm, IT_RANGE, 0);
        if (!it)
            return FAIL;
        v = ARG(0);
        int64_t st = (int64_t)fields(v)[RANGE_START], sc = (int64_t)fields(v)[RANGE_STEP];
        fields(it)[ITER_POS] = (V)(st + (n - 1) * sc);
        fields(it)[ITER_END] = (V)(st - sc);
        fields(it)[ITER_STEP] = (V)-sc;
        R[out] = it;
        return true;
    }
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    R[t] = v;
    if (!((k == K_LIST || k == K_TUPLE) && vm_user_class(vm, v) < 0)) {
        if (vm_user_class(vm, v) >= 0) {
            bool found;
            V f;
            int c = vm_user_class(vm, v);
            if (vm_class_lookup(vm, vm->class_objs[c], vm_intern(vm, "__reversed__"), &f) == 1) {
                uint32_t m = vm_reserve(vm, 2);
                R[m] = f;
                R[m + 1] = v;
                ok = vm_call(vm, m, 1, 0, out);
                vm_release(vm, m);
                vm_release(vm, t);
                (void)found;
                return ok;
            }
        }
        if (k == K_DICT || k == K_STR || k == K_ARRAY || k == K_VIEW || k == K_LIST || has_special(vm, v, S_GETITEM))
            ok = vm_to_list(vm, args, t);
        else
            ok = vm_raise(vm, B_TYPEERROR, "'%s' object is not reversible", vm_type_name(vm, v));
    }
    if (ok) {
        V it = vm_new_iter(vm, IT_REVERSED, t);
        ok = it != 0;
        if (ok) {
            V s = R[t];
            fields(it)[ITER_END] = vm_kind(vm, s) == K_LIST ? fields(s)[LIST_LEN] : arr_len(s);
            fields(it)[ITER_STEP] = k == K_LIST && vm_user_class(vm, ARG(0)) < 0;  /* names the type */
            R[out] = it;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_sorted)
{
    static const char *const allowed[] = {"key", "reverse", NULL};
    if (!kw_only(vm, kwn, "sorted", allowed))
        return FAIL;
    int key = kw_find(vm, args, argc, kwn, "key"), rev = kw_find(vm, args, argc, kwn, "reverse");
    int reverse = 0;
    if (rev && (reverse = vm_truthy(vm, R[rev])) < 0)
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    bool ok = vm_to_list(vm, args, t);
    if (ok)
        ok = vm_sort_values(vm, t, key && vm_kind(vm, R[key]) != K_NONE ? (uint32_t)key : 0, reverse);
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(b_sum)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    int start = npos > 1 ? (int)(args + 1) : kw_find(vm, args, argc, kwn, "start");
    uint32_t t = vm_reserve(vm, 3);
    bool ok = false;
    R[t] = ARG(0);
    R[t + 1] = start ? R[start] : vm->roots[vm->r_small_ints - SMALL_INT_MIN];
    if (vm_kind(vm, R[t + 1]) == K_STR) {
        vm_raise(vm, B_TYPEERROR, "sum() can't sum strings [use ''.join(seq) instead]");
        goto out;
    }
    if (!vm_get_iter(vm, t))
        goto out;
    /* ints and floats stay unboxed while the sum allows it */
    int64_t isum = 0;
    double fsum = 0;
    int mode = 0;   /* 0 generic, 1 int, 2 float */
    V acc = R[t + 1];
    if (vm_kind(vm, acc) == K_INT) {
        mode = 1;
        isum = int_val(acc);
    } else if (vm_kind(vm, acc) == K_FLOAT) {
        mode = 2;
        fsum = float_val(acc);
    }
    for (;;) {
        int r = vm_next(vm, t, t + 2);
        if (r < 0)
            goto out;
        if (!r)
            break;
        V x = R[t + 2];
        int k = vm_kind(vm, x);
        if (mode == 1 && is_intlike(k) && !__builtin_add_overflow(isum, (int64_t)fields(x)[0], &isum))
            continue;
        if (mode == 1 && k == K_FLOAT) {
            mode = 2;
            fsum = (double)isum + float_val(x);
            continue;
        }
        if (mode == 2 && (k == K_FLOAT || is_intlike(k))) {
            fsum += num_f(k, x);
            continue;
        }
        if (mode == 1) {
            V v = vm_new_int(vm, isum);
            if (!v)
                goto out;
            R[t + 1] = v;
        } else if (mode == 2) {
            V v = vm_new_float(vm, fsum);
            if (!v)
                goto out;
            R[t + 1] = v;
        }
        mode = 0;
        if (!vm_binary(vm, 0, t + 1, t + 2, t + 1))
            goto out;
    }
    if (mode == 1)
        ok = set_out(vm, out, vm_new_int(vm, isum));
    else if (mode == 2)
        ok = set_out(vm, out, vm_new_float(vm, fsum));
    else {
        R[out] = R[t + 1];
        ok = true;
    }
out:
    vm_release(vm, t);
    return ok;
}

static bool any_all(struct gi_vm *vm, uint32_t args, uint32_t out, bool all)
{
    uint32_t t = vm_reserve(vm, 2);
    R[t] = ARG(0);
    bool ok = vm_get_iter(vm, t), res = all;
    while (ok) {
        int r = vm_next(vm, t, t + 1);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        int v = vm_truthy(vm, R[t + 1]);
        if (v < 0) {
            ok = false;
            break;
        }
        if (all ? !v : v) {
            res = !all;
            break;
        }
    }
    if (ok)
        R[out] = vm_bool(vm, res);
    vm_release(vm, t);
    return ok;
}

NATIVE(b_any) { return any_all(vm, args, out, false); }
NATIVE(b_all) { return any_all(vm, args, out, true); }

NATIVE(b_iter)
{
    if (argc == 2) {
        V it = vm_new_iter(vm, IT_CALLABLE, args);
        if (!it)
            return FAIL;
        vm_store_ref(vm, it, &fields(it)[ITER_A], ARG(1));
        R[out] = it;
        return true;
    }
    uint32_t t = vm_reserve(vm, 1);
    R[t] = ARG(0);
    bool ok = vm_get_iter(vm, t);
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(b_next)
{
    V it = ARG(0);
    int k = vm_kind(vm, it);
    if (k != K_ITER && k != K_GEN && !has_special(vm, it, S_NEXT))
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not an iterator", vm_type_name(vm, it));
    uint32_t t = vm_reserve(vm, 1);
    int r;
    if (k == K_GEN) {
        /* a generator's return value is StopIteration's */
        int g = gen_resume(vm, args, 0, t);
        r = g == RUN_YIELDED ? 1 : g == RUN_RETURNED ? 0 : -1;
    } else {
        r = vm_next(vm, args, t);
    }
    bool ok = r >= 0;
    if (r == 1) {
        R[out] = R[t];
    } else if (r == 0) {
        if (argc == 2)
            R[out] = ARG(1);
        else
            ok = vm_raise_value(vm, B_STOPITERATION, k == K_GEN && R[t] && vm_kind(vm, R[t]) != K_NONE ? t : 0);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_hash)
{
    uint64_t h;
    if (!vm_hash(vm, ARG(0), &h))
        return FAIL;
    return set_out(vm, out, vm_new_int(vm, (int64_t)h));
}

NATIVE(b_id)
{
    V v = ARG(0);
    uint64_t h;
    int k = vm_kind(vm, v);
    if (k == K_INST || k == K_EXC || k == K_CLASS || k == K_FUNC || k == K_MODULE || k == K_BUILTIN) {
        if (!vm_hash(vm, v, &h))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, (int64_t)(h & 0x7FFFFFFFFFFFULL)));
    }
    /* other values: their current address (gcheap moves objects: not stable
     * across a collection) */
    return set_out(vm, out, vm_new_int(vm, (int64_t)(v - (V)vm->rt->heap)));
}

NATIVE(b_chr)
{
    int64_t x;
    if (!get_int(vm, ARG(0), &x))
        return FAIL;
    if (x < INT32_MIN || x > INT32_MAX)         /* CPython converts to a C int first */
        return vm_raise(vm, B_OVERFLOWERROR, "Python int too large to convert to C int");
    if (x < 0 || x > 0x10FFFF)
        return vm_raise(vm, B_VALUEERROR, "chr() arg not in range(0x110000)");
    char b[4];
    size_t n;
    uint32_t cp = (uint32_t)x;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) { b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | (cp >> 6 & 0x3F)); b[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
    else { b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | (cp >> 12 & 0x3F)); b[2] = (char)(0x80 | (cp >> 6 & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return vm_raise(vm, B_VALUEERROR, "gcheap: surrogate code points are not supported");
    return vm_set_out_str(vm, out, b, n);
}

NATIVE(b_ord)
{
    V s = ARG(0);
    if (vm_kind(vm, s) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "ord() expected string of length 1, but %s found", vm_type_name(vm, s));
    if (fields(s)[STR_CPLEN] != 1)
        return vm_raise(vm, B_TYPEERROR, "ord() expected a character, but string of length %" PRIu64 " found",
                        (uint64_t)fields(s)[STR_CPLEN]);
    const unsigned char *p = (const unsigned char *)str_ptr(s);
    uint32_t cp;
    size_t n = str_nbytes(s);
    if (n == 1) cp = p[0];
    else if (n == 2) cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    else if (n == 3) cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    else cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    return set_out(vm, out, vm_new_int(vm, cp));
}

/* round(x[, n]) with CPython's results: halves to even for ints; floats rounded
 * correctly from their exact binary value (glibc's printf does the same). */
NATIVE(b_round)
{
    V v = ARG(0);
    int k = vm_kind(vm, v);
    bool has_n = argc == 2 && vm_kind(vm, ARG(1)) != K_NONE;
    int64_t nd = 0;
    if (has_n && !get_int(vm, ARG(1), &nd))
        return FAIL;
    v = ARG(0);     /* n's __index__ may have run program code (and moved it) */
    if (is_intlike(k)) {
        int64_t x = (int64_t)fields(v)[0];
        if (!has_n || nd >= 0)
            return set_out(vm, out, vm_new_int(vm, x));
        if (nd < -18)
            return set_out(vm, out, vm_new_int(vm, 0));
        int64_t p = 1;
        for (int64_t i = 0; i < -nd; i++)
            p *= 10;
        int64_t q = x / p, r = x % p;
        if (r < 0) {
            r += p;
            q -= 1;
        }
        if (2 * r > p || (2 * r == p && (q & 1)))
            q += 1;
        int64_t res;
        if (__builtin_mul_overflow(q, p, &res))
            return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
        return set_out(vm, out, vm_new_int(vm, res));
    }
    if (k == K_FLOAT) {
        double d = float_val(v);
        if (!has_n) {
            double r = nearbyint(d);   /* the default rounding mode: halves to even */
            int64_t x;
            if (!double_to_int(vm, r, &x))
                return FAIL;
            return set_out(vm, out, vm_new_int(vm, x));
        }
        if (!isfinite(d) || nd > 323)
            return set_out(vm, out, vm_new_float(vm, d));
        if (nd < -308)
            return set_out(vm, out, vm_new_float(vm, copysign(0.0, d)));
        double r;
        if (nd >= 0) {
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)nd, d);
            r = strtod(buf, NULL);
        } else {
            double p = pow(10.0, (double)-nd);
            double y = d / p;
            double z = nearbyint(y);
            if (fabs(y - z) == 0.5)
                z = 2.0 * nearbyint(y / 2.0);
            r = z * p;
            if (isinf(r))
                return vm_raise(vm, B_OVERFLOWERROR, "rounded value too large to represent");
        }
        return set_out(vm, out, vm_new_float(vm, r));
    }
    V f;
    int c = vm_user_class(vm, v);
    if (c >= 0 && vm_class_lookup(vm, vm->class_objs[c], vm_intern(vm, "__round__"), &f) == 1) {
        uint32_t m = vm_reserve(vm, 3);
        R[m] = f;
        R[m + 1] = v;
        if (argc == 2)
            R[m + 2] = ARG(1);
        bool ok = vm_call(vm, m, argc, 0, out);
        vm_release(vm, m);
        return ok;
    }
    return vm_raise(vm, B_TYPEERROR, "type %s doesn't define __round__ method", vm_type_name(vm, v));
}

NATIVE(b_divmod)
{
    V a = ARG(0), b = ARG(1);
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    uint32_t t = vm_reserve(vm, 2);
    bool ok;
    if (is_num(ka) && is_num(kb) && (ka == K_FLOAT || kb == K_FLOAT)) {
        double d, m;
        ok = float_divmod(vm, num_f(ka, a), num_f(kb, b), &d, &m);
        if (ok) {
            V x = vm_new_float(vm, d);
            ok = x != 0;
            if (ok) {
                R[t] = x;
                V y = vm_new_float(vm, m);
                ok = y != 0;
                R[t + 1] = y;
            }
        }
    } else {
        ok = vm_binary(vm, 4, args, args + 1, t) && vm_binary(vm, 5, args, args + 1, t + 1);
    }
    if (ok) {
        V tup = vm_new_tuple(vm, 2);
        ok = tup != 0;
        if (ok) {
            vm_store_ref(vm, tup, &arr_items(tup)[0], R[t]);
            vm_store_ref(vm, tup, &arr_items(tup)[1], R[t + 1]);
            R[out] = tup;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(b_pow)
{
    if (argc == 3 && vm_kind(vm, ARG(2)) != K_NONE) {
        int64_t b, e, m;
        if (!is_intlike(vm_kind(vm, ARG(0))) || !is_intlike(vm_kind(vm, ARG(1))) || !is_intlike(vm_kind(vm, ARG(2))))
            return vm_raise(vm, B_TYPEERROR, "pow() 3rd argument not allowed unless all arguments are integers");
        b = int_val(ARG(0));
        e = int_val(ARG(1));
        m = int_val(ARG(2));
        if (m == 0)
            return vm_raise(vm, B_VALUEERROR, "pow() 3rd argument cannot be 0");
        if (e < 0)
            return vm_raise(vm, B_VALUEERROR, "gcheap: pow() with a negative exponent and a modulus is not supported");
        __int128 r = 1, x = b % m;
        if (x < 0)
            x += m < 0 ? -m : m;
        __int128 mm = m < 0 ? -(__int128)m : m;
        while (e) {
            if (e & 1)
                r = r * x % mm;
            x = x * x % mm;
            e >>= 1;
        }
        int64_t res = (int64_t)r;
        if (m < 0 && res)
            res += m;
        return set_out(vm, out, vm_new_int(vm, res));
    }
    return vm_binary(vm, 6, args, args + 1, out);
}

NATIVE(b_callable)
{
    V v = ARG(0);
    int k = vm_kind(vm, v);
    bool c = k == K_FUNC || k == K_CLASS || k == K_BOUND ||
             (k == K_BUILTIN && fields(v)[BUILTIN_ID] != B_NOTIMPLEMENTED && fields(v)[BUILTIN_ID] != B_ELLIPSIS) ||
             (k == K_WRAP && fields(v)[WRAP_WHICH] == W_STATIC) || has_special(vm, v, S_CALL);
    R[out] = vm_bool(vm, c);
    return true;
}

static bool attr_name(struct gi_vm *vm, V name, uint32_t *id)
{
    if (vm_kind(vm, name) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "attribute name must be string, not '%s'", vm_type_name(vm, name));
    *id = vm_intern_n(vm, str_ptr(name), str_nbytes(name));
    return true;
}

NATIVE(b_getattr)
{
    uint32_t id;
    if (!attr_name(vm, ARG(1), &id))
        return FAIL;
    if (argc == 2)
        return vm_getattr(vm, args, id, out);
    uint32_t t = vm_reserve(vm, 1);
    int r = vm_getattr_opt(vm, args, id, t);
    if (r == 1)
        R[out] = R[t];
    else if (r == 0)
        R[out] = ARG(2);
    vm_release(vm, t);
    return r >= 0;
}

NATIVE(b_setattr)
{
    uint32_t id;
    if (!attr_name(vm, ARG(1), &id))
        return FAIL;
    if (!vm_setattr(vm, args, id, args + 2))
        return FAIL;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(b_hasattr)
{
    uint32_t id;
    if (!attr_name(vm, ARG(1), &id))
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    int r = vm_getattr_opt(vm, args, id, t);
    vm_release(vm, t);
    if (r < 0)
        return FAIL;
    R[out] = vm_bool(vm, r == 1);
    return true;
}

NATIVE(b_delattr)
{
    uint32_t id;
    if (!attr_name(vm, ARG(1), &id))
        return FAIL;
    if (!vm_delattr(vm, args, id))
        return FAIL;
    R[out] = vm_none(vm);
    return true;
}

static bool int_base(struct gi_vm *vm, uint32_t args, uint32_t out, int base, const char *prefix)
{
    int64_t x;
    if (!get_int(vm, ARG(0), &x))
        return FAIL;
    uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    char digits[80], buf[96];
    int nd = 0;
    do {
        digits[nd++] = "0123456789abcdef"[mag % (uint64_t)base];
        mag /= (uint64_t)base;
    } while (mag);
    size_t o = 0;
    if (x < 0)
        buf[o++] = '-';
    for (const char *p = prefix; *p; p++)
        buf[o++] = *p;
    while (nd)
        buf[o++] = digits[--nd];
    return vm_set_out_str(vm, out, buf, o);
}

NATIVE(b_hex) { return int_base(vm, args, out, 16, "0x"); }
NATIVE(b_oct) { return int_base(vm, args, out, 8, "0o"); }
NATIVE(b_bin) { return int_base(vm, args, out, 2, "0b"); }

NATIVE(b_format)
{
    const char *spec = "";
    size_t n = 0;
    if (argc == 2) {
        if (vm_kind(vm, ARG(1)) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "format() argument 2 must be str, not %s", vm_type_name(vm, ARG(1)));
        n = str_nbytes(ARG(1));
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return vm_raise(vm, B_MEMORYERROR, "out of memory");
    if (n)
        memcpy(copy, str_ptr(ARG(1)), n);
    copy[n] = 0;
    spec = copy;
    struct gi_buf b = {0};
    bool ok = vm_format_spec(vm, args, spec, n, &b);
    free(copy);
    if (ok)
        ok = vm_set_out_str(vm, out, b.p ? b.p : "", b.len);
    free(b.p);
    return ok;
}

NATIVE(b_slice)
{
    V s = vm_alloc_instance(vm, vm->gr_class[K_SLICE]);
    if (!s)
        return FAIL;
    V none = vm_none(vm);
    V a = argc == 1 ? none : ARG(0), b = argc == 1 ? ARG(0) : ARG(1), c = argc == 3 ? ARG(2) : none;
    vm_store_ref(vm, s, &fields(s)[SLICE_START], a);
    vm_store_ref(vm, s, &fields(s)[SLICE_STOP], b);
    vm_store_ref(vm, s, &fields(s)[SLICE_STEP], c);
    R[out] = s;
    return true;
}

NATIVE(b_vars)
{
    if (argc == 0)
        return vm_raise(vm, B_TYPEERROR, "gcheap: vars() without an argument is not supported");
    return vm_getattr(vm, args, vm_intern(vm, "__dict__"), out);
}

/* ---- exception classes: a new exception (args kept as given) */

NATIVE(b_exc_new)
{
    uint32_t type = vm->native_id;
    if (kw_count(vm, kwn))
        return vm_raise(vm, B_TYPEERROR, "%s() takes no keyword arguments", gi_natives[type].name);
    uint32_t t = vm_reserve(vm, 1);
    bool ok = false;
    V tup = vm_new_tuple(vm, argc);
    if (tup) {
        for (uint32_t i = 0; i < argc; i++)
            vm_store_ref(vm, tup, &arr_items(tup)[i], ARG(i));
        R[t] = tup;
        V e = vm_alloc_instance(vm, vm->gr_class[K_EXC]);
        if (e) {
            vm_store_ref(vm, e, &fields(e)[EXC_ARGS], R[t]);
            fields(e)[EXC_TYPE] = type;
            fields(e)[EXC_IDHASH] = (V)++vm->next_idhash;
            R[out] = e;
            ok = true;
        }
    }
    vm_release(vm, t);
    return ok;
}
