/* modules.c - the native modules: math, _random (CPython's Mersenne Twister, so
 * seeded programs get CPython's numbers; random.py in lib/ builds on it), array,
 * gc, time, sys. Module functions are natives named "module.name"; the module's
 * other attributes (constants, sys.argv, ...) are listed in native_attrs below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/interp_impl.h"

#define R (vm->roots)
#define ARG(i) (R[args + (i)])
#define NATIVE(fn) bool fn(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out)

bool double_to_int(struct gi_vm *vm, double d, int64_t *out);
bool float_divmod(struct gi_vm *vm, double x, double y, double *div, double *mod);
bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

static bool set_out(struct gi_vm *vm, uint32_t out, V v)
{
    if (!v)
        return FAIL;
    R[out] = v;
    return true;
}

static bool ret_float(struct gi_vm *vm, uint32_t out, double d) { return set_out(vm, out, vm_new_float(vm, d)); }

/* ---- math: CPython's error conventions (ValueError "math domain error",
 * OverflowError "math range error") over libm */

static bool to_double(struct gi_vm *vm, V v, double *d)
{
    int k = vm_kind(vm, v);
    if (k == K_FLOAT) {
        *d = float_val(v);
        return true;
    }
    if (is_intlike(k)) {
        *d = (double)(int64_t)fields(v)[0];
        return true;
    }
    if (has_special(vm, v, S_FLOAT)) {
        uint32_t t = vm_reserve(vm, 1);
        R[t] = v;
        bool found;
        bool ok = vm_call_special(vm, S_FLOAT, t, t, 0, t, &found);
        if (ok && vm_kind(vm, R[t]) == K_FLOAT)
            *d = float_val(R[t]);
        else if (ok)
            ok = vm_raise(vm, B_TYPEERROR, "__float__ returned non-float");
        vm_release(vm, t);
        return ok;
    }
    return vm_raise(vm, B_TYPEERROR, "must be real number, not %s", vm_type_name(vm, v));
}

/* f(x) with CPython's checks: a nan result from a non-nan argument is a domain
 * error; an infinite result from a finite argument a range error (unless
 * `inf_ok`, for functions like log(0) that report a domain error instead). */
static bool math1(struct gi_vm *vm, uint32_t args, uint32_t out, double (*f)(double), bool overflow_is_range)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    errno = 0;
    double r = f(x);
    if (isnan(r) && !isnan(x))
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    if (isinf(r) && isfinite(x))
        return overflow_is_range ? vm_raise(vm, B_OVERFLOWERROR, "math range error")
                                 : vm_raise(vm, B_VALUEERROR, "math domain error");
    return ret_float(vm, out, r);
}

#define MATH1(name, fn, range) NATIVE(f_math_##name) { return math1(vm, args, out, fn, range); }
MATH1(sin, sin, true)
MATH1(cos, cos, true)
MATH1(tan, tan, true)
MATH1(asin, asin, true)
MATH1(acos, acos, true)
MATH1(atan, atan, true)
MATH1(sinh, sinh, true)
MATH1(cosh, cosh, true)
MATH1(tanh, tanh, true)
MATH1(exp, exp, true)
MATH1(expm1, expm1, true)
MATH1(fabs, fabs, true)
MATH1(erf, erf, true)
MATH1(log2, log2, false)
MATH1(log10, log10, false)
MATH1(log1p, log1p, false)

NATIVE(f_math_gamma)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    if (x == floor(x) && x <= 0)
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    double r = tgamma(x);
    if (isinf(r) && isfinite(x))
        return vm_raise(vm, B_OVERFLOWERROR, "math range error");
    return ret_float(vm, out, r);
}

NATIVE(f_math_sqrt)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    if (x < 0)
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    return ret_float(vm, out, sqrt(x));
}

NATIVE(f_math_log)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    if (x <= 0)
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    double r = log(x);
    if (argc == 2) {
        double b;
        if (!to_double(vm, ARG(1), &b))
            return FAIL;
        if (b <= 0)
            return vm_raise(vm, B_VALUEERROR, "math domain error");
        double lb = log(b);
        if (lb == 0)
            return vm_raise(vm, B_ZERODIVISIONERROR, "float division by zero");
        r = r / lb;
    }
    return ret_float(vm, out, r);
}

NATIVE(f_math_atan2)
{
    double y, x;
    if (!to_double(vm, ARG(0), &y) || !to_double(vm, ARG(1), &x))
        return FAIL;
    return ret_float(vm, out, atan2(y, x));
}

NATIVE(f_math_pow)
{
    double x, y;
    if (!to_double(vm, ARG(0), &x) || !to_double(vm, ARG(1), &y))
        return FAIL;
    if (x == 0 && y < 0)
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    if (x < 0 && y != floor(y) && isfinite(y))
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    double r = pow(x, y);
    if (isinf(r) && isfinite(x) && isfinite(y))
        return vm_raise(vm, B_OVERFLOWERROR, "math range error");
    return ret_float(vm, out, r);
}

static bool to_int_result(struct gi_vm *vm, uint32_t args, uint32_t out, double (*f)(double), int special)
{
    V v = ARG(0);
    if (is_intlike(vm_kind(vm, v)))
        return set_out(vm, out, vm_new_int(vm, int_val(v)));
    if (vm_user_class(vm, v) >= 0 && special >= 0) {
        V m;
        const char *names[] = {"__floor__", "__ceil__", "__trunc__"};
        if (vm_class_lookup(vm, vm->class_objs[vm_user_class(vm, v)], vm_intern(vm, names[special]), &m) == 1) {
            uint32_t t = vm_reserve(vm, 2);
            R[t] = m;
            R[t + 1] = v;
            bool ok = vm_call(vm, t, 1, 0, out);
            vm_release(vm, t);
            return ok;
        }
    }
    double x;
    if (!to_double(vm, v, &x))
        return FAIL;
    int64_t r;
    if (!double_to_int(vm, f(x), &r))
        return FAIL;
    return set_out(vm, out, vm_new_int(vm, r));
}

NATIVE(f_math_floor) { return to_int_result(vm, args, out, floor, 0); }
NATIVE(f_math_ceil) { return to_int_result(vm, args, out, ceil, 1); }
NATIVE(f_math_trunc) { return to_int_result(vm, args, out, trunc, 2); }

NATIVE(f_math_hypot)
{
    double acc = 0, vals[64];
    if (argc == 2) {
        double x, y;
        if (!to_double(vm, ARG(0), &x) || !to_double(vm, ARG(1), &y))
            return FAIL;
        return ret_float(vm, out, hypot(x, y));
    }
    if (argc > 64)
        return vm_raise(vm, B_TYPEERROR, "gcheap: math.hypot of more than 64 values");
    double mx = 0;
    for (uint32_t i = 0; i < argc; i++) {
        if (!to_double(vm, ARG(i), &vals[i]))
            return FAIL;
        vals[i] = fabs(vals[i]);
        if (vals[i] > mx)
            mx = vals[i];
    }
    if (mx == 0 || isinf(mx))
        return ret_float(vm, out, mx);
    for (uint32_t i = 0; i < argc; i++)
        acc += (vals[i] / mx) * (vals[i] / mx);
    return ret_float(vm, out, mx * sqrt(acc));
}

static const double deg_to_rad = 3.141592653589793238462643383279502884197 / 180.0;
static const double rad_to_deg = 180.0 / 3.141592653589793238462643383279502884197;

NATIVE(f_math_degrees)
{
    double x;
    return to_double(vm, ARG(0), &x) && ret_float(vm, out, x * rad_to_deg);
}

NATIVE(f_math_radians)
{
    double x;
    return to_double(vm, ARG(0), &x) && ret_float(vm, out, x * deg_to_rad);
}

static bool math_pred(struct gi_vm *vm, uint32_t args, uint32_t out, int which)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    R[out] = vm_bool(vm, which == 0 ? isnan(x) : which == 1 ? isinf(x) : isfinite(x));
    return true;
}

NATIVE(f_math_isnan) { return math_pred(vm, args, out, 0); }
NATIVE(f_math_isinf) { return math_pred(vm, args, out, 1); }
NATIVE(f_math_isfinite) { return math_pred(vm, args, out, 2); }

NATIVE(f_math_copysign)
{
    double x, y;
    return to_double(vm, ARG(0), &x) && to_double(vm, ARG(1), &y) && ret_float(vm, out, copysign(x, y));
}

NATIVE(f_math_fmod)
{
    double x, y;
    if (!to_double(vm, ARG(0), &x) || !to_double(vm, ARG(1), &y))
        return FAIL;
    if (y == 0 && !isnan(x))
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    if (isinf(x) && !isnan(y))
        return vm_raise(vm, B_VALUEERROR, "math domain error");
    return ret_float(vm, out, fmod(x, y));
}

static bool pair_out(struct gi_vm *vm, uint32_t out, V a_or_0, double a, V b_or_0, double b)
{
    uint32_t t = vm_reserve(vm, 2);
    bool ok = true;
    /* both rooted before boxing: the allocations may move a given value */
    R[t] = a_or_0;
    R[t + 1] = b_or_0;
    if (!R[t])
        R[t] = vm_new_float(vm, a);
    ok = R[t] != 0;
    if (ok && !R[t + 1]) {
        R[t + 1] = vm_new_float(vm, b);
        ok = R[t + 1] != 0;
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

NATIVE(f_math_modf)
{
    double x, ip;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    double fp = modf(x, &ip);
    return pair_out(vm, out, 0, fp, 0, ip);
}

NATIVE(f_math_frexp)
{
    double x;
    if (!to_double(vm, ARG(0), &x))
        return FAIL;
    int e = 0;
    double m = frexp(x, &e);
    uint32_t t = vm_reserve(vm, 1);
    V ev = vm_new_int(vm, e);
    bool ok = ev != 0;
    if (ok) {
        R[t] = ev;
        ok = pair_out(vm, out, 0, m, R[t], 0);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(f_math_ldexp)
{
    double x;
    int64_t e;
    if (!to_double(vm, ARG(0), &x) || !vm_index_value(vm, ARG(1), &e))
        return FAIL;
    if (e > 100000)
        e = 100000;
    if (e < -100000)
        e = -100000;
    double r = ldexp(x, (int)e);
    if (isinf(r) && isfinite(x))
        return vm_raise(vm, B_OVERFLOWERROR, "math range error");
    return ret_float(vm, out, r);
}

NATIVE(f_math_gcd)
{
    uint64_t g = 0;
    for (uint32_t i = 0; i < argc; i++) {
        int64_t x;
        if (!vm_index_value(vm, ARG(i), &x))
            return FAIL;
        uint64_t a = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
        while (a) {
            uint64_t r = g % a;
            g = a;
            a = r;
        }
    }
    if (g > INT64_MAX)
        return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
    return set_out(vm, out, vm_new_int(vm, (int64_t)g));
}

NATIVE(f_math_factorial)
{
    int64_t n;
    if (!is_intlike(vm_kind(vm, ARG(0))))
        return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, ARG(0)));
    n = int_val(ARG(0));
    if (n < 0)
        return vm_raise(vm, B_VALUEERROR, "factorial() not defined for negative values");
    if (n > 20)
        return vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
    int64_t r = 1;
    for (int64_t i = 2; i <= n; i++)
        r *= i;
    return set_out(vm, out, vm_new_int(vm, r));
}

NATIVE(f_math_isclose)
{
    double a, b, rel = 1e-09, abs_ = 0.0;
    if (!to_double(vm, ARG(0), &a) || !to_double(vm, ARG(1), &b))
        return FAIL;
    int rk = kw_find(vm, args, argc, kwn, "rel_tol"), ak = kw_find(vm, args, argc, kwn, "abs_tol");
    if ((rk && !to_double(vm, R[rk], &rel)) || (ak && !to_double(vm, R[ak], &abs_)))
        return FAIL;
    if (rel < 0 || abs_ < 0)
        return vm_raise(vm, B_VALUEERROR, "tolerances must be non-negative");
    bool r;
    if (a == b)
        r = true;
    else if (isinf(a) || isinf(b))
        r = false;
    else {
        double diff = fabs(b - a);
        r = (diff <= fabs(rel * b)) || (diff <= fabs(rel * a)) || (diff <= abs_);
    }
    R[out] = vm_bool(vm, r);
    return true;
}

/* fsum: Shewchuk's exact partial sums, rounded as CPython's math.fsum. */
NATIVE(f_math_fsum)
{
    uint32_t t = vm_reserve(vm, 2);
    R[t] = ARG(0);
    bool ok = vm_get_iter(vm, t);
    double *p = NULL;
    size_t n = 0, cap = 0;
    double special = 0, inf_sum = 0;
    while (ok) {
        int r = vm_next(vm, t, t + 1);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        double x;
        if (!to_double(vm, R[t + 1], &x)) {
            ok = false;
            break;
        }
        if (!isfinite(x)) {
            if (isinf(x))
                inf_sum += x;
            special += x;
            continue;
        }
        size_t i = 0;
        for (size_t j = 0; j < n; j++) {
            double y = p[j];
            if (fabs(x) < fabs(y)) {
                double tmp = x;
                x = y;
                y = tmp;
            }
            double hi = x + y;
            double lo = y - (hi - x);
            if (lo != 0.0)
                p[i++] = lo;
            x = hi;
        }
        n = i;
        if (x != 0.0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                double *q = realloc(p, cap * sizeof *q);
                if (!q) {
                    ok = vm_raise(vm, B_MEMORYERROR, "math.fsum partials");
                    break;
                }
                p = q;
            }
            p[n++] = x;
        }
    }
    double hi = 0.0;
    if (ok) {
        if (special != 0.0) {
            if (isnan(inf_sum))
                ok = vm_raise(vm, B_VALUEERROR, "-inf + inf in fsum");
            else
                hi = special;
        } else if (n > 0) {
            hi = p[--n];
            double lo = 0;
            while (n > 0) {
                double x = hi;
                double y = p[--n];
                hi = x + y;
                double yr = hi - x;
                lo = y - yr;
                if (lo != 0.0)
                    break;
            }
            if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
                double y = lo * 2.0;
                double x = hi + y;
                double yr = x - hi;
                if (y == yr)
                    hi = x;
            }
        }
    }
    free(p);
    vm_release(vm, t);
    return ok && ret_float(vm, out, hi);
}

/* ---- _random: MT19937 as CPython's _randommodule.c. The state is an i64
 * array: 624 words of state, then the index. */

#define MT_N 624
#define MT_M 397

static uint32_t genrand(int64_t *st)
{
    static const uint32_t mag01[2] = {0x0U, 0x9908b0dfU};
    uint32_t y;
    int64_t idx = st[MT_N];
    if (idx >= MT_N) {
        int kk;
        uint32_t mt[MT_N];
        for (int i = 0; i < MT_N; i++)
            mt[i] = (uint32_t)st[i];
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        y = (mt[MT_N - 1] & 0x80000000U) | (mt[0] & 0x7fffffffU);
        mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 0x1U];
        for (int i = 0; i < MT_N; i++)
            st[i] = mt[i];
        idx = 0;
    }
    y = (uint32_t)st[idx++];
    st[MT_N] = idx;
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

static void init_genrand(int64_t *st, uint32_t s)
{
    uint32_t prev = s;
    st[0] = s;
    for (int i = 1; i < MT_N; i++) {
        uint32_t v = 1812433253U * (prev ^ (prev >> 30)) + (uint32_t)i;
        st[i] = v;
        prev = v;
    }
    st[MT_N] = MT_N;
}

static void init_by_array(int64_t *st, const uint32_t *key, size_t keylen)
{
    init_genrand(st, 19650218U);
    uint32_t mt[MT_N];
    for (int i = 0; i < MT_N; i++)
        mt[i] = (uint32_t)st[i];
    size_t i = 1, j = 0, k = MT_N > keylen ? MT_N : keylen;
    for (; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= keylen)
            j = 0;
    }
    for (k = MT_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000U;
    for (int q = 0; q < MT_N; q++)
        st[q] = mt[q];
    st[MT_N] = MT_N;
}

static bool state_arg(struct gi_vm *vm, V v)
{
    if (cls_of(v) != GR_CLASS_I64_ARRAY || arr_len(v) != MT_N + 1)
        return vm_raise(vm, B_TYPEERROR, "_random: not a generator state");
    return true;
}

NATIVE(f_random_new)
{
    V s = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, MT_N + 1);
    if (!s)
        return FAIL;
    init_genrand(arr_i64(s), 5489U);
    R[out] = s;
    return true;
}

NATIVE(f_random_seed)
{
    if (!state_arg(vm, ARG(0)))
        return FAIL;
    V a = ARG(1);
    uint64_t mag;
    if (vm_kind(vm, a) == K_NONE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        mag = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    } else if (is_intlike(vm_kind(vm, a))) {
        int64_t x = int_val(a);
        mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    } else {
        return vm_raise(vm, B_TYPEERROR, "gcheap: random.seed() takes an int (or None)");
    }
    uint32_t key[2] = {(uint32_t)mag, (uint32_t)(mag >> 32)};
    init_by_array(arr_i64(ARG(0)), key, key[1] ? 2 : 1);
    R[out] = vm_none(vm);
    return true;
}

NATIVE(f_random_random)
{
    if (!state_arg(vm, ARG(0)))
        return FAIL;
    int64_t *st = arr_i64(ARG(0));
    uint32_t a = genrand(st) >> 5, b = genrand(st) >> 6;
    return ret_float(vm, out, (a * 67108864.0 + b) * (1.0 / 9007199254740992.0));
}

NATIVE(f_random_getrandbits)
{
    if (!state_arg(vm, ARG(0)))
        return FAIL;
    int64_t k;
    if (!vm_index_value(vm, ARG(1), &k))
        return FAIL;
    if (k < 0)
        return vm_raise(vm, B_VALUEERROR, "number of bits must be non-negative");
    if (k > 63)
        return vm_raise(vm, B_OVERFLOWERROR, "gcheap: getrandbits(k) for k > 63 needs big ints");
    int64_t *st = arr_i64(ARG(0));
    if (k == 0)
        return set_out(vm, out, vm_new_int(vm, 0));
    if (k <= 32)
        return set_out(vm, out, vm_new_int(vm, (int64_t)(genrand(st) >> (32 - k))));
    uint64_t lo = genrand(st), hi = genrand(st) >> (64 - k);
    return set_out(vm, out, vm_new_int(vm, (int64_t)(hi << 32 | lo)));
}

NATIVE(f_random_getstate)
{
    if (!state_arg(vm, ARG(0)))
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    V tup = vm_new_tuple(vm, MT_N + 1);
    bool ok = tup != 0;
    if (ok) {
        R[t] = tup;
        for (int i = 0; ok && i <= MT_N; i++) {
            V v = vm_new_int(vm, arr_i64(ARG(0))[i]);
            ok = v != 0;
            if (ok)
                vm_store_ref(vm, R[t], &arr_items(R[t])[i], v);
        }
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(f_random_setstate)
{
    if (!state_arg(vm, ARG(0)))
        return FAIL;
    V tup = ARG(1);
    if (vm_kind(vm, tup) != K_TUPLE || arr_len(tup) != MT_N + 1)
        return vm_raise(vm, B_VALUEERROR, "state vector is the wrong size");
    for (int i = 0; i <= MT_N; i++) {
        V v = arr_items(tup)[i];
        if (!is_intlike(vm_kind(vm, v)))
            return vm_raise(vm, B_TYPEERROR, "state vector items must be integers");
        arr_i64(ARG(0))[i] = i < MT_N ? (int64_t)(uint32_t)int_val(v) : int_val(v);
    }
    if (arr_i64(ARG(0))[MT_N] < 0 || arr_i64(ARG(0))[MT_N] > MT_N)
        return vm_raise(vm, B_VALUEERROR, "invalid state");
    R[out] = vm_none(vm);
    return true;
}

/* ---- array.array: typecodes b B h H i I l L q Q f d; items in an i64 or f64
 * array (f rounded to single precision on store) */

static bool is_float_code(char c) { return c == 'd' || c == 'f'; }

static bool code_range(char c, int64_t *lo, int64_t *hi)
{
    switch (c) {
    case 'b': *lo = -128; *hi = 127; return true;
    case 'B': *lo = 0; *hi = 255; return true;
    case 'h': *lo = -32768; *hi = 32767; return true;
    case 'H': *lo = 0; *hi = 65535; return true;
    case 'i': *lo = INT32_MIN; *hi = INT32_MAX; return true;
    case 'I': *lo = 0; *hi = UINT32_MAX; return true;
    case 'l': case 'q': *lo = INT64_MIN; *hi = INT64_MAX; return true;
    case 'L': case 'Q': *lo = 0; *hi = INT64_MAX; return true;
    default: return false;
    }
}

/* Converts v for an array of typecode c into the word *w. */
static bool array_word(struct gi_vm *vm, char c, V v, int64_t *w)
{
    int k = vm_kind(vm, v);
    if (is_float_code(c)) {
        double d;
        if (!is_num(k))
            return vm_raise(vm, B_TYPEERROR, "must be real number, not %s", vm_type_name(vm, v));
        d = num_f(k, v);
        if (c == 'f')
            d = (double)(float)d;
        memcpy(w, &d, 8);
        return true;
    }
    if (!is_intlike(k))
        return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, v));
    int64_t x = int_val(v), lo, hi;
    code_range(c, &lo, &hi);
    if (x < lo || x > hi) {
        const char *what = c == 'b' ? "signed char" : c == 'B' ? "unsigned byte integer" : c == 'h' ? "signed short integer"
                         : c == 'H' ? "unsigned short" : c == 'i' ? "signed integer" : "unsigned int";
        if (c == 'B' || c == 'H' || c == 'I' || c == 'L' || c == 'Q')
            return vm_raise(vm, B_OVERFLOWERROR, "%s is %s", what, x < lo ? "less than minimum" : "greater than maximum");
        return vm_raise(vm, B_OVERFLOWERROR, "%s is %s", what, x < lo ? "less than minimum" : "greater than maximum");
    }
    *w = x;
    return true;
}

static V new_array(struct gi_vm *vm, char code, uint64_t cap)
{
    V data = vm_alloc_array(vm, is_float_code(code) ? GR_CLASS_F64_ARRAY : GR_CLASS_I64_ARRAY, cap < 4 ? 4 : cap);
    if (!data)
        return 0;
    uint32_t t = vm_reserve(vm, 1);
    R[t] = data;
    V a = vm_alloc_instance(vm, vm->gr_class[K_ARRAY]);
    if (a) {
        vm_store_ref(vm, a, &fields(a)[ARRAY_DATA], R[t]);
        fields(a)[ARRAY_CODE] = (V)(unsigned char)code;
        fields(a)[ARRAY_LEN] = 0;
    }
    vm_release(vm, t);
    return a;
}

static bool array_reserve(struct gi_vm *vm, uint32_t a, uint64_t n)
{
    V arr = R[a];
    V data = fields(arr)[ARRAY_DATA];
    if (n <= arr_len(data))
        return true;
    uint64_t cap = arr_len(data) * 2 + 4;
    if (cap < n)
        cap = n;
    V bigger = vm_alloc_array(vm, cls_of(data), cap);
    if (!bigger)
        return FAIL;
    arr = R[a];
    memcpy(arr_i64(bigger), arr_i64(fields(arr)[ARRAY_DATA]), fields(arr)[ARRAY_LEN] * 8);
    vm_store_ref(vm, arr, &fields(arr)[ARRAY_DATA], bigger);
    return true;
}

static bool array_push(struct gi_vm *vm, uint32_t a, V v)
{
    int64_t w;
    if (!array_word(vm, (char)fields(R[a])[ARRAY_CODE], v, &w))
        return FAIL;
    uint64_t n = fields(R[a])[ARRAY_LEN];
    if (!array_reserve(vm, a, n + 1))
        return FAIL;
    arr_i64(fields(R[a])[ARRAY_DATA])[n] = w;
    fields(R[a])[ARRAY_LEN] = n + 1;
    return true;
}

static bool array_extend_from(struct gi_vm *vm, uint32_t a, uint32_t src)
{
    V s = R[src];
    if (vm_kind(vm, s) == K_ARRAY) {
        if (fields(s)[ARRAY_CODE] != fields(R[a])[ARRAY_CODE])
            return vm_raise(vm, B_TYPEERROR, "can only extend with array of same kind");
        uint64_t n = fields(R[a])[ARRAY_LEN], m = fields(s)[ARRAY_LEN];
        if (!array_reserve(vm, a, n + m))
            return FAIL;
        memmove(arr_i64(fields(R[a])[ARRAY_DATA]) + n, arr_i64(fields(R[src])[ARRAY_DATA]), m * 8);
        fields(R[a])[ARRAY_LEN] = n + m;
        return true;
    }
    uint32_t t = vm_reserve(vm, 2);
    R[t] = s;
    bool ok = vm_get_iter(vm, t);
    while (ok) {
        int r = vm_next(vm, t, t + 1);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        ok = array_push(vm, a, R[t + 1]);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_array_new)
{
    V code = ARG(0);
    if (vm_kind(vm, code) != K_STR || str_nbytes(code) != 1)
        return vm_raise(vm, B_TYPEERROR, "array() argument 1 must be a unicode character, not %s", vm_type_name(vm, code));
    char c = str_ptr(code)[0];
    int64_t lo, hi;
    if (!is_float_code(c) && !code_range(c, &lo, &hi))
        return vm_raise(vm, B_VALUEERROR, "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    uint32_t t = vm_reserve(vm, 1);
    V a = new_array(vm, c, argc == 2 && vm_kind(vm, ARG(1)) == K_LIST ? fields(ARG(1))[LIST_LEN] : 4);
    bool ok = a != 0;
    if (ok) {
        R[t] = a;
        if (argc == 2)
            ok = array_extend_from(vm, t, args + 1);
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

bool array_store(struct gi_vm *vm, uint32_t a, uint64_t i, uint32_t v)
{
    int64_t w;
    if (!array_word(vm, (char)fields(R[a])[ARRAY_CODE], R[v], &w))
        return FAIL;
    arr_i64(fields(R[a])[ARRAY_DATA])[i] = w;
    return true;
}

bool array_slice(struct gi_vm *vm, uint32_t a, uint32_t key, uint32_t out)
{
    int64_t st, sp, sc, n;
    if (!slice_indices(vm, R[key], a, &st, &sp, &sc, &n))
        return FAIL;
    V r = new_array(vm, (char)fields(R[a])[ARRAY_CODE], (uint64_t)n);
    if (!r)
        return FAIL;
    int64_t *src = arr_i64(fields(R[a])[ARRAY_DATA]), *dst = arr_i64(fields(r)[ARRAY_DATA]);
    for (int64_t i = 0, j = st; i < n; i++, j += sc)
        dst[i] = src[j];
    fields(r)[ARRAY_LEN] = (uint64_t)n;
    R[out] = r;
    return true;
}

bool array_assign_slice(struct gi_vm *vm, uint32_t a, uint32_t key, uint32_t v)
{
    V src = R[v];
    if (vm_kind(vm, src) != K_ARRAY)
        return vm_raise(vm, B_TYPEERROR, "can only assign array (not \"%s\") to array slice", vm_type_name(vm, src));
    if (fields(src)[ARRAY_CODE] != fields(R[a])[ARRAY_CODE])
        return vm_raise(vm, B_TYPEERROR, "bad argument type for built-in operation");
    int64_t st, sp, sc, n;
    if (!slice_indices(vm, R[key], a, &st, &sp, &sc, &n))
        return FAIL;
    int64_t len = (int64_t)fields(R[a])[ARRAY_LEN];
    int64_t m = (int64_t)fields(R[v])[ARRAY_LEN];
    if (sc != 1) {
        if (m != n)
            return vm_raise(vm, B_VALUEERROR, "attempt to assign array of size %lld to extended slice of size %lld",
                            (long long)m, (long long)n);
        int64_t *s = arr_i64(fields(R[v])[ARRAY_DATA]), *d = arr_i64(fields(R[a])[ARRAY_DATA]);
        int64_t *copy = malloc(sizeof(int64_t) * (size_t)(m ? m : 1));
        if (!copy)
            return vm_raise(vm, B_MEMORYERROR, "out of memory");
        memcpy(copy, s, (size_t)m * 8);
        for (int64_t i = 0, j = st; i < n; i++, j += sc)
            d[j] = copy[i];
        free(copy);
        return true;
    }
    if (sp < st)
        sp = st;
    int64_t newlen = len - (sp - st) + m;
    /* the source may be the array itself: copy it first */
    int64_t *copy = malloc(sizeof(int64_t) * (size_t)(m ? m : 1));
    if (!copy)
        return vm_raise(vm, B_MEMORYERROR, "out of memory");
    memcpy(copy, arr_i64(fields(R[v])[ARRAY_DATA]), (size_t)m * 8);
    bool ok = array_reserve(vm, a, (uint64_t)newlen);
    if (ok) {
        int64_t *d = arr_i64(fields(R[a])[ARRAY_DATA]);
        memmove(d + st + m, d + sp, (size_t)(len - sp) * 8);
        memcpy(d + st, copy, (size_t)m * 8);
        fields(R[a])[ARRAY_LEN] = (uint64_t)newlen;
    }
    free(copy);
    return ok;
}

bool array_binary(struct gi_vm *vm, int op, uint32_t a, uint32_t b, uint32_t out)
{
    V x = R[a];
    char c = (char)fields(x)[ARRAY_CODE];
    if (op == 0) {
        if (fields(R[b])[ARRAY_CODE] != (V)(unsigned char)c)
            return vm_raise(vm, B_TYPEERROR, "bad argument type for built-in operation");
        uint64_t n = fields(x)[ARRAY_LEN], m = fields(R[b])[ARRAY_LEN];
        V r = new_array(vm, c, n + m);
        if (!r)
            return FAIL;
        memcpy(arr_i64(fields(r)[ARRAY_DATA]), arr_i64(fields(R[a])[ARRAY_DATA]), n * 8);
        memcpy(arr_i64(fields(r)[ARRAY_DATA]) + n, arr_i64(fields(R[b])[ARRAY_DATA]), m * 8);
        fields(r)[ARRAY_LEN] = n + m;
        R[out] = r;
        return true;
    }
    int64_t times = int_val(R[b]);
    if (times < 0)
        times = 0;
    uint64_t n = fields(x)[ARRAY_LEN], total;
    if (__builtin_mul_overflow(n, (uint64_t)times, &total) || total > GR_MAX_LENGTH)
        return vm_raise(vm, B_MEMORYERROR, "array too large");
    V r = new_array(vm, c, total);
    if (!r)
        return FAIL;
    int64_t *src = arr_i64(fields(R[a])[ARRAY_DATA]), *dst = arr_i64(fields(r)[ARRAY_DATA]);
    if (n == 1) {
        for (uint64_t i = 0; i < total; i++)
            dst[i] = src[0];
    } else {
        for (int64_t i = 0; i < times; i++)
            memcpy(dst + (uint64_t)i * n, src, n * 8);
    }
    fields(r)[ARRAY_LEN] = total;
    R[out] = r;
    return true;
}

NATIVE(m_array_append)
{
    if (!array_push(vm, args, ARG(1)))
        return FAIL;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(m_array_extend)
{
    if (!array_extend_from(vm, args, args + 1))
        return FAIL;
    R[out] = vm_none(vm);
    return true;
}

V vm_array_item(struct gi_vm *vm, V a, uint64_t i);

NATIVE(m_array_tolist)
{
    uint32_t t = vm_reserve(vm, 2);
    uint64_t n = fields(ARG(0))[ARRAY_LEN];
    V l = vm_new_list(vm, n);
    bool ok = l != 0;
    if (ok)
        R[t] = l;
    for (uint64_t i = 0; ok && i < n; i++) {
        V v = vm_array_item(vm, ARG(0), i);
        ok = v != 0;
        if (ok) {
            R[t + 1] = v;
            ok = list_append(vm, t, t + 1);
        }
    }
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(m_array_pop)
{
    /* the index first: its __index__ may run program code that resizes the array */
    int64_t i = -1;
    if (argc == 2 && !vm_index_value(vm, ARG(1), &i))
        return FAIL;
    V a = ARG(0);
    uint64_t n = fields(a)[ARRAY_LEN];
    if (!n)
        return vm_raise(vm, B_INDEXERROR, "pop from empty array");
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return vm_raise(vm, B_INDEXERROR, "pop index out of range");
    V v = vm_array_item(vm, ARG(0), (uint64_t)i);
    if (!v)
        return FAIL;
    a = ARG(0);
    int64_t *d = arr_i64(fields(a)[ARRAY_DATA]);
    memmove(d + i, d + i + 1, (n - (uint64_t)i - 1) * 8);
    fields(a)[ARRAY_LEN] = n - 1;
    R[out] = v;
    return true;
}

NATIVE(m_array_insert)
{
    int64_t i;
    if (!vm_index_value(vm, ARG(1), &i))
        return FAIL;
    int64_t w;
    if (!array_word(vm, (char)fields(ARG(0))[ARRAY_CODE], ARG(2), &w))
        return FAIL;
    int64_t n = (int64_t)fields(ARG(0))[ARRAY_LEN];
    if (!array_reserve(vm, args, (uint64_t)n + 1))
        return FAIL;
    if (i < 0)
        i = i + n < 0 ? 0 : i + n;
    if (i > n)
        i = n;
    int64_t *d = arr_i64(fields(ARG(0))[ARRAY_DATA]);
    memmove(d + i + 1, d + i, (size_t)(n - i) * 8);
    d[i] = w;
    fields(ARG(0))[ARRAY_LEN] = (uint64_t)n + 1;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(m_array_reverse)
{
    V a = ARG(0);
    uint64_t n = fields(a)[ARRAY_LEN];
    int64_t *d = arr_i64(fields(a)[ARRAY_DATA]);
    for (uint64_t i = 0; i < n / 2; i++) {
        int64_t x = d[i];
        d[i] = d[n - 1 - i];
        d[n - 1 - i] = x;
    }
    R[out] = vm_none(vm);
    return true;
}

/* ---- gc */

NATIVE(f_gc_collect)
{
    /* CPython returns the number of unreachable objects its cycle collector
     * found; a tracing collector frees every unreachable object, so gc.collect()
     * here returns how many objects were freed since the previous gc.collect()
     * (alive then, plus allocated since, minus alive now): 0 when nothing died */
    uint64_t live_before = vm->live_at_last_collect;
    uint64_t allocated_since = vm_allocations(vm) - vm->allocs_at_last_collect;
    if (!vm_collect(vm))
        return FAIL;
    struct gr_pause now = {0};
    int64_t np = gr_pause_count(vm->rt);
    if (np > 0)
        gr_pause_get(vm->rt, np - 1, &now);
    vm->live_at_last_collect = now.live_objects;
    int64_t freed = (int64_t)(live_before + allocated_since) - (int64_t)now.live_objects;
    if (freed < 0)
        freed = 0;
    bool ok = set_out(vm, out, vm_new_int(vm, freed));
    /* the result itself is not counted by the next gc.collect() */
    vm->allocs_at_last_collect = vm_allocations(vm);
    return ok;
}

NATIVE(f_gc_disable)
{
    vm->gc_enabled = false;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(f_gc_enable)
{
    vm->gc_enabled = true;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(f_gc_isenabled)
{
    R[out] = vm_bool(vm, vm->gc_enabled);
    return true;
}

/* gc.heap_stats(): a dict of the heap now and around the last collection:
 *   occupied_bytes   bytes of the pages the used part of the heap spans now
 *   rss_bytes        resident bytes of the heap mapping now
 *   collections      collections so far
 *   live_bytes       live data found by the last collection (0 if none ran)
 *   used_before      bytes in use when the last collection started
 *   rss_before, rss_after   resident bytes around the last collection */
NATIVE(f_gc_heap_stats)
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
                            (int64_t)(last.rss_after ? last.rss_after : gr_heap_resident(rt))};
    uint32_t t = vm_reserve(vm, 3);
    bool ok = false;
    V dict = vm_new_dict(vm);
    if (!dict)
        goto out;
    R[t] = dict;
    for (int i = 0; i < NSTATS; i++) {
        V ks = vm_new_str(vm, keys[i], strlen(keys[i]));
        if (!ks)
            goto out;
        R[t + 1] = ks;
        V vs = vm_new_int(vm, vals[i]);
        if (!vs)
            goto out;
        R[t + 2] = vs;
        if (!dict_set(vm, t, t + 1, t + 2))
            goto out;
    }
    R[out] = R[t];
    ok = true;
out:
    vm_release(vm, t);
    return ok;
}

/* ---- time */

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

NATIVE(f_time_perf_counter) { return ret_float(vm, out, clock_s(CLOCK_MONOTONIC)); }
NATIVE(f_time_perf_counter_ns) { return set_out(vm, out, vm_new_int(vm, clock_ns(CLOCK_MONOTONIC))); }
NATIVE(f_time_time) { return ret_float(vm, out, clock_s(CLOCK_REALTIME)); }
NATIVE(f_time_time_ns) { return set_out(vm, out, vm_new_int(vm, clock_ns(CLOCK_REALTIME))); }
NATIVE(f_time_process_time) { return ret_float(vm, out, clock_s(CLOCK_PROCESS_CPUTIME_ID)); }

NATIVE(f_time_sleep)
{
    double s;
    V v = ARG(0);
    if (!is_num(vm_kind(vm, v)))
        return vm_raise(vm, B_TYPEERROR, "'%s' object cannot be interpreted as an integer", vm_type_name(vm, v));
    s = num_f(vm_kind(vm, v), v);
    if (s < 0)
        return vm_raise(vm, B_VALUEERROR, "sleep length must be non-negative");
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    /* out of core while sleeping: a collection need not wait for us */
    gr_leave(vm->m);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    vm->m = gr_enter(vm->rt);
    if (!vm->m)
        vm_fatal(vm, gr_enter_err, "re-entering the runtime after time.sleep()");
    R[out] = vm_none(vm);
    return true;
}

/* ---- sys */

NATIVE(f_sys_exit)
{
    uint32_t t = vm_reserve(vm, 1);
    R[t] = argc ? ARG(0) : vm_none(vm);
    vm_raise_value(vm, B_SYSTEMEXIT, argc ? t : 0);
    vm_release(vm, t);
    return FAIL;
}

NATIVE(f_sys_getrecursionlimit) { return set_out(vm, out, vm_new_int(vm, vm->recursion_limit)); }

NATIVE(f_sys_setrecursionlimit)
{
    int64_t n;
    if (!vm_index_value(vm, ARG(0), &n))
        return FAIL;
    if (n < 1)
        return vm_raise(vm, B_VALUEERROR, "recursion limit must be greater or equal than 1");
    /* gcheap's frame table has GI_MAX_FRAMES entries: a higher limit is that */
    vm->recursion_limit = n > GI_MAX_FRAMES ? GI_MAX_FRAMES : (int)n;
    R[out] = vm_none(vm);
    return true;
}

NATIVE(f_sys_intern)
{
    if (vm_kind(vm, ARG(0)) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "intern() argument must be str");
    R[out] = ARG(0);
    return true;
}

/* ---- module attributes that are not functions */

enum { A_FLOAT, A_INT, A_STR, A_SLOT };
struct native_attr {
    const char *module, *name;
    int kind;
    double f;
    int64_t i;
    const char *s;
};

static const struct native_attr native_attrs[] = {
    {"math", "pi", A_FLOAT, 3.141592653589793, 0, NULL},
    {"math", "e", A_FLOAT, 2.718281828459045, 0, NULL},
    {"math", "tau", A_FLOAT, 6.283185307179586, 0, NULL},
    {"math", "inf", A_FLOAT, INFINITY, 0, NULL},
    {"math", "nan", A_FLOAT, NAN, 0, NULL},
    {"sys", "maxsize", A_INT, 0, INT64_MAX, NULL},
    {"sys", "version", A_STR, 0, 0, "3.11.7 (gcheap)"},
    {"sys", "platform", A_STR, 0, 0, "linux"},
    {"sys", "byteorder", A_STR, 0, 0, "little"},
    {"sys", "hexversion", A_INT, 0, 0x030B07F0, NULL},
    {"sys", "argv", A_SLOT, 0, 0, NULL},
    {"sys", "stdout", A_SLOT, 0, 1, NULL},
    {"sys", "stderr", A_SLOT, 0, 2, NULL},
    {"sys", "version_info", A_SLOT, 0, 3, NULL},
    {"sys", "path", A_SLOT, 0, 4, NULL},
    {"array", "typecodes", A_STR, 0, 0, "bBuhHiIlLqQfd"},
};

/* Calls fn for every attribute of native module `module`: natives, then the
 * attributes above. */
void native_module_attrs(const char *module, void (*fn)(void *arg, const char *name, int native, int attr), void *arg)
{
    size_t ml = strlen(module);
    for (uint32_t id = 0; id < N_COUNT; id++) {
        const struct gi_native *n = &gi_natives[id];
        if ((n->flags & N_METHOD) || strncmp(n->name, module, ml) || n->name[ml] != '.' || strchr(n->name + ml + 1, '.'))
            continue;
        fn(arg, n->name + ml + 1, (int)id, -1);
    }
    for (size_t i = 0; i < sizeof native_attrs / sizeof *native_attrs; i++)
        if (!strcmp(native_attrs[i].module, module))
            fn(arg, native_attrs[i].name, -1, (int)i);
}

/* The value of attribute `attr` (index into native_attrs) into out. */
bool native_attr_value(struct gi_vm *vm, int attr, uint32_t out)
{
    const struct native_attr *a = &native_attrs[attr];
    switch (a->kind) {
    case A_FLOAT: return ret_float(vm, out, a->f);
    case A_INT: return set_out(vm, out, vm_new_int(vm, a->i));
    case A_STR: return vm_set_out_str(vm, out, a->s, strlen(a->s));
    default:
        switch (a->i) {
        case 0: R[out] = R[vm->r_argv]; return true;
        case 1: R[out] = R[vm->r_stdout]; return true;
        case 2: R[out] = R[vm->r_stderr]; return true;
        case 3: {
            uint32_t t = vm_reserve(vm, 1);
            V tup = vm_new_tuple(vm, 5);
            bool ok = tup != 0;
            if (ok) {
                R[t] = tup;
                int64_t v[5] = {3, 11, 7, 0, 0};
                for (int i = 0; ok && i < 5; i++) {
                    V x = i == 3 ? vm_new_str(vm, "final", 5) : vm_new_int(vm, v[i]);
                    ok = x != 0;
                    if (ok)
                        vm_store_ref(vm, R[t], &arr_items(R[t])[i], x);
                }
                if (ok)
                    R[out] = R[t];
            }
            vm_release(vm, t);
            return ok;
        }
        default:
            return set_out(vm, out, vm_new_list(vm, 0));
        }
    }
}
