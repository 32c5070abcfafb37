/* interp_builtins.c - the built-in functions and the methods of list, dict and str.
 * Arguments arrive in consecutive root slots (the caller's operand stack); the
 * result is stored into out_slot only once every argument has been consumed. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/interp_impl.h"

const char *const gi_builtin_names[B_COUNT] = {
    "print", "len", "range", "abs", "min", "max", "isinstance", "str", "int", "float",
    "bool", "list", "dict", "tuple",
    "Exception", "ArithmeticError", "LookupError", "ZeroDivisionError", "OverflowError",
    "IndexError", "KeyError", "ValueError", "TypeError", "AttributeError", "RuntimeError",
    "RecursionError", "NotImplementedError", "AssertionError", "NameError",
    "UnboundLocalError", "MemoryError", "BaseException", "KeyboardInterrupt",
    "time.perf_counter", "gc.collect", "gc.heap_stats",
};

/* CPython's hierarchy among the subset's exception classes. */
static int exc_parent(int t)
{
    switch (t) {
    case B_ZERODIVISIONERROR: case B_OVERFLOWERROR: return B_ARITHMETICERROR;
    case B_INDEXERROR: case B_KEYERROR: return B_LOOKUPERROR;
    case B_RECURSIONERROR: case B_NOTIMPLEMENTEDERROR: return B_RUNTIMEERROR;
    case B_UNBOUNDLOCALERROR: return B_NAMEERROR;
    case B_EXCEPTION: case B_KEYBOARDINTERRUPT: return B_BASEEXCEPTION;
    case B_BASEEXCEPTION: return -1;
    default: return B_EXCEPTION;
    }
}

bool gi_exc_subclass(int sub, int sup)
{
    for (int t = sub; t >= 0; t = exc_parent(t))
        if (t == sup)
            return true;
    return false;
}

#define ARG(i) (vm->roots[args + (i)])

static bool set_out(struct gi_vm *vm, uint32_t out, V v)
{
    if (!v)
        return FAIL;
    vm->roots[out] = v;
    return true;
}

static bool arity(struct gi_vm *vm, const char *name, uint32_t argc, uint32_t lo, uint32_t hi)
{
    if (argc >= lo && argc <= hi)
        return true;
    if (lo == hi)
        return vm_raise(vm, B_TYPEERROR, "%s() takes exactly %u argument%s (%u given)", name, lo, lo == 1 ? "" : "s", argc);
    if (argc < lo)
        return vm_raise(vm, B_TYPEERROR, "%s expected at least %u argument%s, got %u", name, lo, lo == 1 ? "" : "s", argc);
    return vm_raise(vm, B_TYPEERROR, "%s expected at most %u arguments, got %u", name, hi, argc);
}

static bool get_index(struct gi_vm *vm, V v, int64_t *out)
{
    int k = vm_kind(vm, v);
    if (k != K_INT && k != K_BOOL)
        return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, v));
    *out = (int64_t)fields(v)[0];
    return true;
}

static bool b_len(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "len", argc, 1, 1))
        return FAIL;
    V v = ARG(0);
    int k = vm_kind(vm, v);
    int64_t n;
    switch (k) {
    case K_STR: n = (int64_t)fields(v)[STR_CPLEN]; break;
    case K_LIST: n = (int64_t)fields(v)[LIST_LEN]; break;
    case K_DICT: n = (int64_t)fields(v)[DICT_COUNT]; break;
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        n = sc > 0 ? (sp > st ? (sp - st + sc - 1) / sc : 0) : (st > sp ? (st - sp - sc - 1) / -sc : 0);
        break;
    }
    default:
        if (cls_of(v) == GR_CLASS_REF_ARRAY) {
            n = arr_len(v);
            break;
        }
        return vm_raise(vm, B_TYPEERROR, "object of type '%s' has no len()", vm_type_name(vm, v));
    }
    return set_out(vm, out, vm_new_int(vm, n));
}

static bool b_range(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "range", argc, 1, 3))
        return FAIL;
    int64_t v[3] = {0, 0, 0};
    for (uint32_t i = 0; i < argc; i++)
        if (!get_index(vm, ARG(i), &v[i]))
            return FAIL;
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
    vm->roots[out] = r;
    return true;
}

static bool b_abs(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "abs", argc, 1, 1))
        return FAIL;
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (k == K_INT || k == K_BOOL) {
        int64_t x = (int64_t)fields(v)[0];
        if (x == INT64_MIN)
            return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
        return set_out(vm, out, vm_new_int(vm, x < 0 ? -x : x));
    }
    if (k == K_FLOAT)
        return set_out(vm, out, vm_new_float(vm, fabs(float_val(v))));
    return vm_raise(vm, B_TYPEERROR, "bad operand type for abs(): '%s'", vm_type_name(vm, v));
}

static bool b_sequence(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool tuple);

static bool b_minmax(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool is_max)
{
    const char *name = is_max ? "max" : "min";
    if (argc == 0)
        return vm_raise(vm, B_TYPEERROR, "%s expected at least 1 argument, got 0", name);
    V *items;
    uint64_t n;
    V only = ARG(0);
    if (argc == 1) {
        int k = vm_kind(vm, only);
        if (k == K_STR || k == K_DICT || k == K_RANGE) { /* any other iterable: as a list */
            if (!b_sequence(vm, args, 1, args, false))
                return FAIL;
            only = ARG(0);
            k = K_LIST;
        }
        if (k == K_LIST) {
            items = arr_items(fields(only)[LIST_ITEMS]);
            n = fields(only)[LIST_LEN];
        } else if (k == -1 && cls_of(only) == GR_CLASS_REF_ARRAY) {
            items = arr_items(only);
            n = arr_len(only);
        } else {
            return vm_raise(vm, B_TYPEERROR, "'%s' object is not iterable", vm_type_name(vm, only));
        }
        if (n == 0)
            return vm_raise(vm, B_VALUEERROR, "%s() iterable argument is empty", name);
    } else {
        items = &vm->roots[args];
        n = argc;
    }
    /* comparisons raise (allocating) only on failure, after which items is not used */
    V best = items[0];
    for (uint64_t i = 1; i < n; i++) {
        int c = vm_compare(vm, is_max ? 2 : 0, items[i], best);
        if (c < 0)
            return FAIL;
        if (c)
            best = items[i];
    }
    vm->roots[out] = best;
    return true;
}

static bool isinstance_one(struct gi_vm *vm, V obj, V t, int *res)
{
    int kt = vm_kind(vm, t);
    int k = vm_kind(vm, obj);
    if (kt == K_CLASS) {
        *res = k == -2 && (uint32_t)vm->user_class_of[cls_of(obj)] == fields(t)[CLASS_INDEX];
        return true;
    }
    if (kt == K_BUILTIN) {
        int id = (int)fields(t)[BUILTIN_ID];
        switch (id) {
        case B_INT: *res = k == K_INT || k == K_BOOL; return true;
        case B_BOOL: *res = k == K_BOOL; return true;
        case B_FLOAT: *res = k == K_FLOAT; return true;
        case B_STR: *res = k == K_STR; return true;
        case B_LIST: *res = k == K_LIST; return true;
        case B_DICT: *res = k == K_DICT; return true;
        case B_TUPLE: *res = k == -1 && cls_of(obj) == GR_CLASS_REF_ARRAY; return true;
        default:
            if (id >= B_FIRST_EXC && id <= B_LAST_EXC) {
                *res = k == K_EXC && gi_exc_subclass((int)fields(obj)[EXC_TYPE], id);
                return true;
            }
        }
    }
    return vm_raise(vm, B_TYPEERROR, "isinstance() arg 2 must be a type, a tuple of types, or a union");
}

static bool b_isinstance(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "isinstance", argc, 2, 2))
        return FAIL;
    V obj = ARG(0), t = ARG(1);
    int res = 0;
    if (vm_kind(vm, t) == -1 && cls_of(t) == GR_CLASS_REF_ARRAY) {
        for (uint32_t i = 0; i < arr_len(t) && !res; i++)
            if (!isinstance_one(vm, obj, arr_items(t)[i], &res))
                return FAIL;
    } else if (!isinstance_one(vm, obj, t, &res)) {
        return FAIL;
    }
    vm->roots[out] = vm_bool(vm, res);
    return true;
}

static bool parse_int(struct gi_vm *vm, V s, int64_t *out)
{
    uint32_t n = str_nbytes(s);
    char buf[80];
    const char *p = str_ptr(s);
    while (n && (*p == ' ' || *p == '\t' || *p == '\n'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n'))
        n--;
    size_t o = 0;
    bool ok = n > 0 && n < sizeof buf;
    for (uint32_t i = 0; ok && i < n; i++) {
        char c = p[i];
        if (c == '_' && i > 0 && i + 1 < n && p[i - 1] >= '0' && p[i - 1] <= '9' && p[i + 1] >= '0' && p[i + 1] <= '9')
            continue;
        if (!((c >= '0' && c <= '9') || (i == 0 && (c == '-' || c == '+'))))
            ok = false;
        buf[o++] = c;
    }
    buf[o] = 0;
    if (ok && (o == 0 || ((buf[0] == '-' || buf[0] == '+') && o == 1)))
        ok = false;
    if (!ok) {
        uint32_t tmp = vm->r_scratch + 3;
        vm->roots[tmp] = s;
        V r = vm_str_of(vm, tmp, true);
        vm->roots[tmp] = 0;
        if (!r)
            return FAIL;
        return vm_raise(vm, B_VALUEERROR, "invalid literal for int() with base 10: %.*s", (int)str_nbytes(r), str_ptr(r));
    }
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
    *out = v;
    return true;
}

static bool b_int(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "int", argc, 0, 1))
        return FAIL;
    if (argc == 0)
        return set_out(vm, out, vm_new_int(vm, 0));
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (k == K_INT)
        return set_out(vm, out, v);
    if (k == K_BOOL)
        return set_out(vm, out, vm_new_int(vm, (int64_t)fields(v)[0]));
    if (k == K_FLOAT) {
        double d = float_val(v);
        if (isnan(d))
            return vm_raise(vm, B_VALUEERROR, "cannot convert float NaN to integer");
        if (isinf(d))
            return vm_raise(vm, B_OVERFLOWERROR, "cannot convert float infinity to integer");
        d = trunc(d);
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
        return set_out(vm, out, vm_new_int(vm, (int64_t)d));
    }
    if (k == K_STR) {
        int64_t x = 0;
        if (!parse_int(vm, v, &x))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, x));
    }
    return vm_raise(vm, B_TYPEERROR, "int() argument must be a string, a bytes-like object or a real number, not '%s'", vm_type_name(vm, v));
}

static bool b_float(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "float", argc, 0, 1))
        return FAIL;
    if (argc == 0)
        return set_out(vm, out, vm_new_float(vm, 0.0));
    V v = ARG(0);
    int k = vm_kind(vm, v);
    if (k == K_FLOAT)
        return set_out(vm, out, v);
    if (k == K_INT || k == K_BOOL)
        return set_out(vm, out, vm_new_float(vm, (double)(int64_t)fields(v)[0]));
    if (k == K_STR) {
        char buf[128];
        uint32_t n = str_nbytes(v);
        const char *p = str_ptr(v);
        while (n && (*p == ' ' || *p == '\n' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t'))
            n--;
        bool ok = n > 0 && n < sizeof buf;
        if (ok) {
            memcpy(buf, p, n);
            buf[n] = 0;
            for (uint32_t i = 0; i < n; i++)
                if (!strchr("0123456789+-.eEinfatyINFATY", buf[i]))
                    ok = false;
        }
        char *end = NULL;
        double d = ok ? strtod(buf, &end) : 0;
        if (!ok || end != buf + n) {
            uint32_t tmp = vm->r_scratch + 3;
            vm->roots[tmp] = v;
            V r = vm_str_of(vm, tmp, true);
            vm->roots[tmp] = 0;
            if (!r)
                return FAIL;
            return vm_raise(vm, B_VALUEERROR, "could not convert string to float: %.*s", (int)str_nbytes(r), str_ptr(r));
        }
        return set_out(vm, out, vm_new_float(vm, d));
    }
    return vm_raise(vm, B_TYPEERROR, "float() argument must be a string or a real number, not '%s'", vm_type_name(vm, v));
}

/* list(x) / tuple(x): copies of a list, tuple, str, dict (keys) or range. */
static bool b_sequence(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool tuple)
{
    if (!arity(vm, tuple ? "tuple" : "list", argc, 0, 1))
        return FAIL;
    uint32_t tmp = vm->r_scratch + 3;
    V r = vm_new_list(vm, 4);
    if (!r)
        return FAIL;
    vm->roots[tmp] = r;
    if (argc == 1) {
        V src = ARG(0);
        int k = vm_kind(vm, src);
        uint32_t item = vm->r_scratch + 4;
        if (k == K_LIST || (k == -1 && cls_of(src) == GR_CLASS_REF_ARRAY)) {
            uint64_t n = k == K_LIST ? fields(src)[LIST_LEN] : arr_len(src);
            for (uint64_t i = 0; i < n; i++) {
                src = ARG(0);
                vm->roots[item] = k == K_LIST ? arr_items(fields(src)[LIST_ITEMS])[i] : arr_items(src)[i];
                if (!list_append(vm, tmp, item))
                    return FAIL;
            }
        } else if (k == K_DICT) {
            for (uint64_t e = 0; e < fields(ARG(0))[DICT_USED]; e++) {
                V key = arr_items(fields(ARG(0))[DICT_KEYS])[e];
                if (!key)
                    continue;
                vm->roots[item] = key;
                if (!list_append(vm, tmp, item))
                    return FAIL;
            }
        } else if (k == K_RANGE) {
            int64_t st = (int64_t)fields(src)[RANGE_START], sp = (int64_t)fields(src)[RANGE_STOP], sc = (int64_t)fields(src)[RANGE_STEP];
            for (int64_t x = st; sc > 0 ? x < sp : x > sp; x += sc) {
                V iv = vm_new_int(vm, x);
                if (!iv)
                    return FAIL;
                vm->roots[item] = iv;
                if (!list_append(vm, tmp, item))
                    return FAIL;
            }
        } else if (k == K_STR) {
            uint32_t n = str_nbytes(src);
            for (uint32_t i = 0; i < n;) {
                uint32_t j = i + 1;
                while (j < n && ((unsigned char)str_ptr(ARG(0))[j] & 0xC0) == 0x80)
                    j++;
                char ch[8];
                memcpy(ch, str_ptr(ARG(0)) + i, j - i);
                V c = vm_new_str(vm, ch, j - i);
                if (!c)
                    return FAIL;
                vm->roots[item] = c;
                if (!list_append(vm, tmp, item))
                    return FAIL;
                i = j;
            }
        } else {
            return vm_raise(vm, B_TYPEERROR, "'%s' object is not iterable", vm_type_name(vm, src));
        }
        vm->roots[item] = 0;
    }
    if (tuple) {
        uint64_t n = fields(vm->roots[tmp])[LIST_LEN];
        V t = vm_new_tuple(vm, n);
        if (!t)
            return FAIL;
        V l = vm->roots[tmp];
        for (uint64_t i = 0; i < n; i++)
            vm_store_ref(vm, t, &arr_items(t)[i], arr_items(fields(l)[LIST_ITEMS])[i]);
        vm->roots[tmp] = t;
    }
    vm->roots[out] = vm->roots[tmp];
    vm->roots[tmp] = 0;
    return true;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* gc.heap_stats(): a dict of the heap now and around the last collection:
 *   occupied_bytes   bytes of the pages the used part of the heap spans now
 *   rss_bytes        resident bytes of the heap mapping now
 *   collections      collections so far
 *   live_bytes       live data found by the last collection (0 if none ran)
 *   used_before      bytes in use when the last collection started
 *   rss_before, rss_after   resident bytes around the last collection */
static bool b_heap_stats(struct gi_vm *vm, uint32_t out)
{
    struct gr_runtime *rt = vm->rt;
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    uint64_t occupied = (used + GR_PAGE - 1) / GR_PAGE * GR_PAGE;
    struct gr_pause last = {0};
    int64_t np = gr_pause_count(rt);
    if (np > 0)
        gr_pause_get(rt, np - 1, &last);
    uint64_t n = atomic_load(&rt->gc_epoch);
    enum { NSTATS = 7 };
    const char *keys[NSTATS] = {"occupied_bytes", "rss_bytes", "collections", "live_bytes",
                                "used_before", "rss_before", "rss_after"};
    int64_t vals[NSTATS] = {(int64_t)occupied, (int64_t)gr_heap_resident(rt), (int64_t)n,
                            (int64_t)last.live_bytes, (int64_t)last.used_before,
                            (int64_t)last.rss_before,
                            /* cmc compacts after its pause: the pause cannot know it */
                            (int64_t)(last.rss_after ? last.rss_after : gr_heap_resident(rt))};
    uint32_t d = vm->r_scratch + 3, k = vm->r_scratch + 4, v = vm->r_scratch + 5;
    V dict = vm_new_dict(vm);
    if (!dict)
        return FAIL;
    vm->roots[d] = dict;
    for (int i = 0; i < NSTATS; i++) {
        V ks = vm_new_str(vm, keys[i], strlen(keys[i]));
        if (!ks)
            return FAIL;
        vm->roots[k] = ks;
        V vs = vm_new_int(vm, vals[i]);
        if (!vs)
            return FAIL;
        vm->roots[v] = vs;
        if (!dict_set(vm, d, k, v))
            return FAIL;
    }
    vm->roots[out] = vm->roots[d];
    vm->roots[d] = vm->roots[k] = vm->roots[v] = 0;
    return true;
}

bool vm_call_builtin(struct gi_vm *vm, int id, uint32_t args, uint32_t argc, uint32_t out)
{
    switch (id) {
    case B_LEN: return b_len(vm, args, argc, out);
    case B_RANGE: return b_range(vm, args, argc, out);
    case B_ABS: return b_abs(vm, args, argc, out);
    case B_MIN: return b_minmax(vm, args, argc, out, false);
    case B_MAX: return b_minmax(vm, args, argc, out, true);
    case B_ISINSTANCE: return b_isinstance(vm, args, argc, out);
    case B_STR:
        if (!arity(vm, "str", argc, 0, 1))
            return FAIL;
        if (argc == 0)
            return set_out(vm, out, vm_new_str(vm, "", 0));
        return set_out(vm, out, vm_str_of(vm, args, false));
    case B_INT: return b_int(vm, args, argc, out);
    case B_FLOAT: return b_float(vm, args, argc, out);
    case B_BOOL:
        if (!arity(vm, "bool", argc, 0, 1))
            return FAIL;
        vm->roots[out] = vm_bool(vm, argc && vm_truthy(vm, ARG(0)));
        return true;
    case B_LIST: return b_sequence(vm, args, argc, out, false);
    case B_TUPLE: return b_sequence(vm, args, argc, out, true);
    case B_DICT:
        if (!arity(vm, "dict", argc, 0, 0))
            return FAIL;
        return set_out(vm, out, vm_new_dict(vm));
    case B_PERF_COUNTER:
        if (!arity(vm, "perf_counter", argc, 0, 0))
            return FAIL;
        return set_out(vm, out, vm_new_float(vm, now_seconds()));
    case B_GC_COLLECT:
        if (!arity(vm, "collect", argc, 0, 0))
            return FAIL;
        if (!vm_collect(vm))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, 0));
    case B_HEAP_STATS:
        if (!arity(vm, "heap_stats", argc, 0, 0))
            return FAIL;
        return b_heap_stats(vm, out);
    default:
        if (id >= B_FIRST_EXC && id <= B_LAST_EXC) {
            if (argc > 1)
                return vm_raise(vm, B_TYPEERROR, "gcheap exceptions take at most one argument");
            V e = vm_new_exc(vm, id, argc ? args : 0);
            return set_out(vm, out, e);
        }
        return vm_raise(vm, B_TYPEERROR, "'%s' is not callable here", gi_builtin_names[id]);
    }
}

/* ---- methods of built-in types */

static bool norm_index(struct gi_vm *vm, V idx, uint64_t len, int64_t *out, const char *what)
{
    int64_t i;
    if (!get_index(vm, idx, &i))
        return FAIL;
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return vm_raise(vm, B_INDEXERROR, "%s", what);
    *out = i;
    return true;
}

static bool list_method(struct gi_vm *vm, uint32_t self, const char *name, uint32_t argc, uint32_t out, bool *found)
{
    uint32_t args = self + 1;
    *found = true;
    if (!strcmp(name, "append")) {
        if (!arity(vm, "list.append", argc, 1, 1))
            return FAIL;
        if (!list_append(vm, self, args))
            return FAIL;
        vm->roots[out] = vm_none(vm);
        return true;
    }
    if (!strcmp(name, "pop")) {
        if (!arity(vm, "pop", argc, 0, 1))
            return FAIL;
        V l = vm->roots[self];
        uint64_t len = fields(l)[LIST_LEN];
        if (len == 0)
            return vm_raise(vm, B_INDEXERROR, "pop from empty list");
        int64_t i = (int64_t)len - 1;
        if (argc == 1 && !norm_index(vm, ARG(0), len, &i, "pop index out of range"))
            return FAIL;
        l = vm->roots[self];
        V items = fields(l)[LIST_ITEMS];
        V r = arr_items(items)[i];
        for (uint64_t j = (uint64_t)i; j + 1 < len; j++)
            vm_store_ref(vm, items, &arr_items(items)[j], arr_items(items)[j + 1]);
        vm_store_ref(vm, items, &arr_items(items)[len - 1], 0);
        fields(l)[LIST_LEN] = len - 1;
        vm->roots[out] = r;
        return true;
    }
    if (!strcmp(name, "insert")) {
        if (!arity(vm, "insert", argc, 2, 2))
            return FAIL;
        int64_t i;
        if (!get_index(vm, ARG(0), &i))
            return FAIL;
        if (!list_append(vm, self, args + 1)) /* grow by one (value lands at the end) */
            return FAIL;
        V l = vm->roots[self];
        int64_t len = (int64_t)fields(l)[LIST_LEN] - 1; /* length before the insert */
        if (i < 0)
            i = i + len < 0 ? 0 : i + len;
        if (i > len)
            i = len;
        V items = fields(l)[LIST_ITEMS];
        for (int64_t j = len; j > i; j--)
            vm_store_ref(vm, items, &arr_items(items)[j], arr_items(items)[j - 1]);
        vm_store_ref(vm, items, &arr_items(items)[i], ARG(1));
        vm->roots[out] = vm_none(vm);
        return true;
    }
    if (!strcmp(name, "index")) {
        if (!arity(vm, "index", argc, 1, 1))
            return FAIL;
        V l = vm->roots[self];
        uint64_t len = fields(l)[LIST_LEN];
        for (uint64_t i = 0; i < len; i++)
            if (vm_equal(vm, arr_items(fields(l)[LIST_ITEMS])[i], ARG(0)))
                return set_out(vm, out, vm_new_int(vm, (int64_t)i));
        V r = vm_str_of(vm, args, true);
        if (!r)
            return FAIL;
        return vm_raise(vm, B_VALUEERROR, "%.*s is not in list", (int)str_nbytes(r), str_ptr(r));
    }
    *found = false;
    return FAIL;
}

static bool dict_method(struct gi_vm *vm, uint32_t self, const char *name, uint32_t argc, uint32_t out, bool *found)
{
    uint32_t args = self + 1;
    *found = true;
    if (!strcmp(name, "get")) {
        if (!arity(vm, "get", argc, 1, 2))
            return FAIL;
        bool err = false;
        int64_t e = dict_lookup(vm, vm->roots[self], ARG(0), &err);
        if (err)
            return FAIL;
        vm->roots[out] = e >= 0 ? arr_items(fields(vm->roots[self])[DICT_VALS])[e] : argc == 2 ? ARG(1) : vm_none(vm);
        return true;
    }
    int which = !strcmp(name, "keys") ? 0 : !strcmp(name, "values") ? 1 : !strcmp(name, "items") ? 2 : -1;
    if (which < 0) {
        *found = false;
        return FAIL;
    }
    if (!arity(vm, name, argc, 0, 0))
        return FAIL;
    /* The views are lists in gcheap (docs/subset.md). */
    uint32_t l = vm->r_scratch + 3, item = vm->r_scratch + 4;
    V lst = vm_new_list(vm, fields(vm->roots[self])[DICT_COUNT]);
    if (!lst)
        return FAIL;
    vm->roots[l] = lst;
    for (uint64_t e = 0; e < fields(vm->roots[self])[DICT_USED]; e++) {
        V d = vm->roots[self];
        V key = arr_items(fields(d)[DICT_KEYS])[e];
        if (!key)
            continue;
        if (which == 2) {
            V t = vm_new_tuple(vm, 2);
            if (!t)
                return FAIL;
            d = vm->roots[self];
            vm_store_ref(vm, t, &arr_items(t)[0], arr_items(fields(d)[DICT_KEYS])[e]);
            vm_store_ref(vm, t, &arr_items(t)[1], arr_items(fields(d)[DICT_VALS])[e]);
            vm->roots[item] = t;
        } else {
            vm->roots[item] = which == 0 ? key : arr_items(fields(d)[DICT_VALS])[e];
        }
        if (!list_append(vm, l, item))
            return FAIL;
    }
    vm->roots[out] = vm->roots[l];
    vm->roots[l] = vm->roots[item] = 0;
    return true;
}

static bool str_join(struct gi_vm *vm, uint32_t self, uint32_t argc, uint32_t out)
{
    if (!arity(vm, "str.join", argc, 1, 1))
        return FAIL;
    uint32_t args = self + 1;
    V seq = ARG(0);
    int k = vm_kind(vm, seq);
    V *items;
    uint64_t n;
    if (k == K_LIST) {
        items = arr_items(fields(seq)[LIST_ITEMS]);
        n = fields(seq)[LIST_LEN];
    } else if (k == -1 && cls_of(seq) == GR_CLASS_REF_ARRAY) {
        items = arr_items(seq);
        n = arr_len(seq);
    } else {
        return vm_raise(vm, B_TYPEERROR, "can only join an iterable of str (gcheap: a list or tuple)");
    }
    uint64_t sep = str_nbytes(vm->roots[self]), total = 0, cps = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (vm_kind(vm, items[i]) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "sequence item %llu: expected str instance, %s found",
                            (unsigned long long)i, vm_type_name(vm, items[i]));
        total += str_nbytes(items[i]) + (i ? sep : 0);
        cps += fields(items[i])[STR_CPLEN] + (i ? fields(vm->roots[self])[STR_CPLEN] : 0);
    }
    if (total > GR_MAX_LENGTH)
        return vm_raise(vm, B_MEMORYERROR, "string too large");
    V data = vm_alloc_array(vm, GR_CLASS_STRING, total);
    if (!data)
        return FAIL;
    seq = ARG(0);
    items = k == K_LIST ? arr_items(fields(seq)[LIST_ITEMS]) : arr_items(seq);
    char *dst = str_bytes_of_data(data);
    for (uint64_t i = 0; i < n; i++) {
        if (i) {
            memcpy(dst, str_ptr(vm->roots[self]), sep);
            dst += sep;
        }
        memcpy(dst, str_ptr(items[i]), str_nbytes(items[i]));
        dst += str_nbytes(items[i]);
    }
    uint32_t tmp = vm->r_scratch + 3;
    vm->roots[tmp] = data;
    V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    if (!s)
        return FAIL;
    vm_store_ref(vm, s, &fields(s)[STR_DATA], vm->roots[tmp]);
    fields(s)[STR_CPLEN] = cps;
    vm->roots[tmp] = 0;
    vm->roots[out] = s;
    return true;
}

/* obj in obj_slot, arguments in the following slots. *found = false: no such method. */
bool vm_call_builtin_method(struct gi_vm *vm, uint32_t self, const char *name, uint32_t argc, uint32_t out, bool *found)
{
    int k = vm_kind(vm, vm->roots[self]);
    *found = false;
    if (k == K_LIST)
        return list_method(vm, self, name, argc, out, found);
    if (k == K_DICT)
        return dict_method(vm, self, name, argc, out, found);
    if (k == K_STR && !strcmp(name, "join")) {
        *found = true;
        return str_join(vm, self, argc, out);
    }
    return FAIL;
}

bool vm_has_builtin_method(struct gi_vm *vm, V obj, const char *name)
{
    static const char *const list_m[] = {"append", "pop", "insert", "index", NULL};
    static const char *const dict_m[] = {"get", "keys", "values", "items", NULL};
    static const char *const str_m[] = {"join", NULL};
    int k = vm_kind(vm, obj);
    const char *const *m = k == K_LIST ? list_m : k == K_DICT ? dict_m : k == K_STR ? str_m : NULL;
    for (; m && *m; m++)
        if (!strcmp(*m, name))
            return true;
    return false;
}
