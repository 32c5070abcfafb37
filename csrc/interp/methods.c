/* methods.c - methods of the built-in types: object, int, float, str, list,
 * tuple, dict, set, generators, exceptions, range, property, the standard
 * streams. args[0] is self. Strings are UTF-8: positions given to and returned
 * by the str methods are code points; case mappings and character classes
 * are the C library's (C.UTF-8 locale), one code point at a time. */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

#define R (vm->roots)
#define ARG(i) (R[args + (i)])
#define NATIVE(fn) bool fn(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out)

bool vm_getitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out);
bool vm_setitem_builtin(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value);
int gen_throw(struct gi_vm *vm, uint32_t gen_slot, uint32_t exc_slot, uint32_t out);
bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);
bool vm_store_attr_slot(struct gi_vm *vm, V obj, uint32_t index, V value);

static bool set_out(struct gi_vm *vm, uint32_t out, V v)
{
    if (!v)
        return FAIL;
    R[out] = v;
    return true;
}

static bool ret_none(struct gi_vm *vm, uint32_t out)
{
    R[out] = vm_none(vm);
    return true;
}

static bool need_str(struct gi_vm *vm, V v, const char *what)
{
    if (vm_kind(vm, v) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "%s must be str, not %s", what, vm_type_name(vm, v));
    return true;
}

/* ---- object */

NATIVE(m_object_init)
{
    if (argc - kw_count(vm, kwn) > 1 || kw_count(vm, kwn))
        return vm_raise(vm, B_TYPEERROR, "object.__init__() takes exactly one argument (the instance to initialize)");
    return ret_none(vm, out);
}

NATIVE(m_object_new)
{
    V cls = ARG(0);
    if (vm_kind(vm, cls) == K_CLASS)
        return vm_alloc_user_instance(vm, (uint32_t)fields(cls)[CLASS_INDEX], out);
    if (vm_kind(vm, cls) == K_BUILTIN && fields(cls)[BUILTIN_ID] == B_OBJECT) {
        V o = vm_alloc_instance(vm, vm->gr_class[K_INST]);
        if (!o)
            return FAIL;
        fields(o)[INST_INLINE] = (V)++vm->next_idhash;
        R[out] = o;
        return true;
    }
    return vm_raise(vm, B_TYPEERROR, "object.__new__(X): X is not a type object");
}

NATIVE(m_object_setattr)
{
    if (vm_kind(vm, ARG(1)) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "attribute name must be string");
    uint32_t id = vm_intern_n(vm, str_ptr(ARG(1)), str_nbytes(ARG(1)));
    int c = vm_user_class(vm, ARG(0));
    if (c >= 0) {
        /* bypass a __setattr__ override: store the slot directly */
        int idx = class_key_index(vm, c, id);
        if (idx >= 0 && vm_store_attr_slot(vm, ARG(0), (uint32_t)idx, ARG(2)))
            return ret_none(vm, out);
        uint64_t saved = vm->classes[c].specials;
        vm->classes[c].specials &= ~(1ULL << S_SETATTR);
        bool ok = vm_setattr(vm, args, id, args + 2);
        vm->classes[c].specials = saved;
        if (!ok)
            return FAIL;
        return ret_none(vm, out);
    }
    if (!vm_setattr(vm, args, id, args + 2))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_object_repr)
{
    struct gi_buf b = {0};
    V v = ARG(0);
    int c = vm_user_class(vm, v);
    char tmp[64];
    buf_puts(&b, "<");
    if (c >= 0) {
        buf_puts(&b, vm->modules[vm->classes[c].module].name);
        buf_puts(&b, ".");
        buf_puts(&b, vm->classes[c].name);
    } else {
        buf_puts(&b, vm_type_name(vm, v));
    }
    snprintf(tmp, sizeof tmp, " object at 0x%012" PRIxPTR ">", (uintptr_t)v);
    buf_puts(&b, tmp);
    bool ok = !b.oom && vm_set_out_str(vm, out, b.p, b.len);
    free(b.p);
    return ok;
}

NATIVE(m_object_str)
{
    return set_out(vm, out, vm_str_of(vm, args, true));
}

NATIVE(m_object_hash)
{
    V v = ARG(0);
    uint64_t id;
    int k = vm_kind(vm, v);
    if (k == K_INST)
        id = fields(v)[vm->rt->classes[cls_of(v)].nrefs];
    else if (k == K_EXC)
        id = fields(v)[EXC_IDHASH];
    else {
        uint64_t h;
        if (!vm_hash(vm, v, &h))
            return FAIL;
        return set_out(vm, out, vm_new_int(vm, (int64_t)h));
    }
    return set_out(vm, out, vm_new_int(vm, (int64_t)((id * 0x9E3779B97F4A7C15ULL) >> 4)));
}

NATIVE(m_object_eq)
{
    R[out] = ARG(0) == ARG(1) ? vm_bool(vm, true) : R[vm->r_notimpl];
    return true;
}

NATIVE(m_object_ne)
{
    R[out] = ARG(0) == ARG(1) ? vm_bool(vm, false) : R[vm->r_notimpl];
    return true;
}

/* ---- int, float */

NATIVE(m_int_bit_length)
{
    int64_t x = int_val(ARG(0));
    uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    return set_out(vm, out, vm_new_int(vm, mag ? 64 - __builtin_clzll(mag) : 0));
}

NATIVE(m_int_conjugate)
{
    return set_out(vm, out, vm_new_int(vm, int_val(ARG(0))));
}

NATIVE(m_float_is_integer)
{
    double d = float_val(ARG(0));
    R[out] = vm_bool(vm, isfinite(d) && d == floor(d));
    return true;
}

NATIVE(m_float_hex)
{
    char buf[64];
    double d = float_val(ARG(0));
    if (!isfinite(d) || d == 0) {
        snprintf(buf, sizeof buf, isnan(d) ? "nan" : isinf(d) ? (d > 0 ? "inf" : "-inf") : signbit(d) ? "-0x0.0p+0" : "0x0.0p+0");
    } else {
        snprintf(buf, sizeof buf, "%a", d);
    }
    return vm_set_out_str(vm, out, buf, strlen(buf));
}

/* ---- str */

uint64_t cps_of(const char *p, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* cps_of over bytes [from, to) of the str in slot s: at once when it is ASCII,
 * else VM_BYTES_STEP bytes at a time with a safepoint poll between steps. */
static uint64_t cps_of_polling(struct gi_vm *vm, uint32_t s, uint64_t from, uint64_t to)
{
    if (fields(R[s])[STR_CPLEN] == str_nbytes(R[s]))
        return to - from;
    uint64_t c = 0;
    for (uint64_t at = from; at < to;) {
        if (at > from)
            vm_native_poll(vm);
        uint64_t k = to - at < VM_BYTES_STEP ? to - at : VM_BYTES_STEP;
        c += cps_of(str_ptr(R[s]) + at, k);
        at += k;
    }
    return c;
}

static bool new_str_out(struct gi_vm *vm, uint32_t out, struct gi_buf *b)
{
    if (b->oom) {
        free(b->p);
        return vm_raise(vm, B_MEMORYERROR, "out of memory");
    }
    bool ok = vm_set_out_str(vm, out, b->p ? b->p : "", b->len);
    free(b->p);
    return ok;
}

/* [start, end) of a str method's optional start/end arguments, as byte offsets.
 * *empty: the range is empty before clamping (start past the end or past the
 * string), where even an empty substring is not found, as in CPython. */
static bool str_range(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t from, uint64_t *bs, uint64_t *be,
                      bool *empty)
{
    V s = ARG(0);
    int64_t len = (int64_t)fields(s)[STR_CPLEN];
    int64_t st = 0, en = len, st_raw = 0;
    for (uint32_t i = 0; i < 2 && from + i < argc; i++) {
        V v = ARG(from + i);
        if (vm_kind(vm, v) == K_NONE)
            continue;
        int64_t x;
        if (!vm_index_value(vm, v, &x))
            return FAIL;
        if (x < 0) {
            x += len;
            if (x < 0)
                x = 0;
        }
        if (i == 0)
            st_raw = x;
        if (x > len)
            x = len;
        if (i == 0)
            st = x;
        else
            en = x;
    }
    *empty = st_raw > en;
    if (en < st)
        en = st;
    s = ARG(0);
    *bs = str_cp_offset(s, (uint64_t)st);
    *be = str_cp_offset(s, (uint64_t)en);
    return true;
}

NATIVE(m_str_join)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = vm_to_list(vm, args + 1, t);
    if (!ok)
        goto out;
    V sep = ARG(0), l = R[t];
    uint64_t n = fields(l)[LIST_LEN], total = 0, cps = 0;
    V *items = arr_items(fields(l)[LIST_ITEMS]);
    for (uint64_t i = 0; i < n; i++) {
        if (vm_kind(vm, items[i]) != K_STR) {
            ok = vm_raise(vm, B_TYPEERROR, "sequence item %" PRIu64 ": expected str instance, %s found", i,
                          vm_type_name(vm, items[i]));
            goto out;
        }
        total += str_nbytes(items[i]) + (i ? str_nbytes(sep) : 0);
        cps += fields(items[i])[STR_CPLEN] + (i ? fields(sep)[STR_CPLEN] : 0);
    }
    if (n == 1) {
        R[out] = items[0];
        goto out;
    }
    if (total > GR_MAX_LENGTH) {
        ok = vm_raise(vm, B_MEMORYERROR, "string too large");
        goto out;
    }
    V data = vm_alloc_array(vm, GR_CLASS_STRING, total);
    if (!data) {
        ok = false;
        goto out;
    }
    /* with a safepoint poll every VM_BYTES_STEP bytes (and inside a huge item):
     * data is rooted, and the raw addresses are read again after a poll */
    uint32_t d = vm_reserve(vm, 2);
    R[d] = data;
    sep = ARG(0);
    items = arr_items(fields(R[t])[LIST_ITEMS]);
    char *dst = str_bytes_of_data(data);
    uint64_t nsep = str_nbytes(sep), off = 0, since = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i) {
            memcpy(dst + off, str_ptr(sep), nsep);
            off += nsep;
        }
        uint64_t m = str_nbytes(items[i]);
        bool moved = false;
        if (m > VM_BYTES_STEP) {
            R[d + 1] = items[i];
            vm_copy_str_polling(vm, d, off, d + 1, 0, m);
            moved = true;
        } else {
            memcpy(dst + off, str_ptr(items[i]), m);
        }
        off += m;
        if (vm_poll_bytes(vm, &since, m + nsep) || moved) {
            dst = str_bytes_of_data(R[d]);
            sep = ARG(0);
            items = arr_items(fields(R[t])[LIST_ITEMS]);
        }
    }
    R[t] = R[d];
    V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    if (!s) {
        ok = false;
        goto out;
    }
    vm_store_ref(vm, s, &fields(s)[STR_DATA], R[t]);
    fields(s)[STR_CPLEN] = cps;
    R[out] = s;
out:
    vm_release(vm, t);
    return ok;
}

/* Appends str bytes [from, to) of the str in slot s to the list in slot l. */
static bool append_part(struct gi_vm *vm, uint32_t l, uint32_t s, uint64_t from, uint64_t to, uint32_t tmp)
{
    V v = vm_substr(vm, s, from, to, cps_of_polling(vm, s, from, to));
    if (!v)
        return FAIL;
    R[tmp] = v;
    return list_append(vm, l, tmp);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* From i up, the first index of the str in slot s whose byte is not (ws: is not
 * whitespace; !ws: is whitespace), or n; rscan_ws: from e down, the end of the
 * bytes before it that are (not) whitespace, or lo. VM_BYTES_STEP bytes between
 * safepoint polls: split() over a huge string. */
static uint64_t scan_ws(struct gi_vm *vm, uint32_t s, uint64_t i, uint64_t n, bool ws)
{
    for (;;) {
        const char *p = str_ptr(R[s]);
        uint64_t lim = n - i > VM_BYTES_STEP ? i + VM_BYTES_STEP : n;
        while (i < lim && is_ws(p[i]) == ws)
            i++;
        if (i < lim || lim == n)
            return i;
        vm_native_poll(vm);
    }
}

static uint64_t rscan_ws(struct gi_vm *vm, uint32_t s, uint64_t lo, uint64_t e, bool ws)
{
    for (;;) {
        const char *p = str_ptr(R[s]);
        uint64_t lim = e - lo > VM_BYTES_STEP ? e - VM_BYTES_STEP : lo;
        while (e > lim && is_ws(p[e - 1]) == ws)
            e--;
        if (e > lim || lim == lo)
            return e;
        vm_native_poll(vm);
    }
}

static bool split(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out, bool right)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    int sepk = npos > 1 ? (int)(args + 1) : kw_find(vm, args, argc, kwn, "sep");
    int maxk = npos > 2 ? (int)(args + 2) : kw_find(vm, args, argc, kwn, "maxsplit");
    int64_t maxsplit = -1;
    if (maxk && !vm_index_value(vm, R[maxk], &maxsplit))
        return FAIL;
    bool ws = !sepk || vm_kind(vm, R[sepk]) == K_NONE;
    if (!ws && !need_str(vm, R[sepk], "sep"))
        return FAIL;
    if (!ws && str_nbytes(R[sepk]) == 0)
        return vm_raise(vm, B_VALUEERROR, "empty separator");
    uint32_t t = vm_reserve(vm, 3);
    V l = vm_new_list(vm, 4);
    bool ok = l != 0;
    if (!ok)
        goto out;
    R[t] = l;
    R[t + 1] = ARG(0);
    uint64_t n = str_nbytes(R[t + 1]);
    /* parts are collected left to right; rsplit with a limit splits from the right */
    if (ws) {
        if (!right || maxsplit < 0) {
            uint64_t i = 0;
            int64_t splits = 0;
            while (ok) {
                i = scan_ws(vm, t + 1, i, n, true);
                if (i >= n)
                    break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    uint64_t e = right ? rscan_ws(vm, t + 1, i, n, true) : n;
                    ok = append_part(vm, t, t + 1, i, e, t + 2);     /* split keeps the rest's trailing whitespace */
                    break;
                }
                uint64_t j = scan_ws(vm, t + 1, i, n, false);
                ok = append_part(vm, t, t + 1, i, j, t + 2);
                splits++;
                i = j;
            }
        } else {
            /* rsplit(None, maxsplit): from the right */
            int64_t e = (int64_t)n, splits = 0;
            uint32_t u = vm_reserve(vm, 1);
            V parts = vm_new_list(vm, 4);
            ok = parts != 0;
            if (ok)
                R[u] = parts;
            while (ok) {
                e = (int64_t)rscan_ws(vm, t + 1, 0, (uint64_t)e, true);
                if (e <= 0)
                    break;
                if (splits >= maxsplit) {
                    ok = append_part(vm, u, t + 1, 0, (uint64_t)e, t + 2);
                    break;
                }
                int64_t s = (int64_t)rscan_ws(vm, t + 1, 0, (uint64_t)e, false);
                ok = append_part(vm, u, t + 1, (uint64_t)s, (uint64_t)e, t + 2);
                splits++;
                e = s;
            }
            if (ok) {
                /* reverse into the result */
                V src = R[u];
                uint64_t m = fields(src)[LIST_LEN];
                for (uint64_t i = m; i-- > 0 && ok;) {
                    R[t + 2] = arr_items(fields(R[u])[LIST_ITEMS])[i];
                    ok = list_append(vm, t, t + 2);
                }
            }
            vm_release(vm, u);
        }
    } else {
        uint32_t sn = str_nbytes(R[sepk]);
        if (!right || maxsplit < 0) {
            uint64_t i = 0;
            int64_t splits = 0;
            while (ok) {
                int64_t hit = (maxsplit >= 0 && splits >= maxsplit) ? -1
                              : vm_find_str_polling(vm, t + 1, i, n, (uint32_t)sepk);
                if (hit < 0) {
                    ok = append_part(vm, t, t + 1, i, n, t + 2);
                    break;
                }
                uint64_t j = (uint64_t)hit;
                ok = append_part(vm, t, t + 1, i, j, t + 2);
                splits++;
                i = j + sn;
            }
        } else {
            uint32_t u = vm_reserve(vm, 1);
            V parts = vm_new_list(vm, 4);
            ok = parts != 0;
            if (ok)
                R[u] = parts;
            int64_t e = (int64_t)n, splits = 0;
            while (ok) {
                int64_t hit = -1;
                if (splits < maxsplit)
                    hit = vm_rfind_str_polling(vm, t + 1, 0, (uint64_t)e, (uint32_t)sepk);
                if (hit < 0) {
                    ok = append_part(vm, u, t + 1, 0, (uint64_t)e, t + 2);
                    break;
                }
                ok = append_part(vm, u, t + 1, (uint64_t)hit + sn, (uint64_t)e, t + 2);
                splits++;
                e = hit;
            }
            if (ok) {
                uint64_t m = fields(R[u])[LIST_LEN];
                for (uint64_t i = m; i-- > 0 && ok;) {
                    R[t + 2] = arr_items(fields(R[u])[LIST_ITEMS])[i];
                    ok = list_append(vm, t, t + 2);
                }
            }
            vm_release(vm, u);
        }
    }
    if (ok)
        R[out] = R[t];
out:
    vm_release(vm, t);
    return ok;
}

NATIVE(m_str_split) { return split(vm, args, argc, kwn, out, false); }
NATIVE(m_str_rsplit) { return split(vm, args, argc, kwn, out, true); }

static bool strip(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool left, bool right)
{
    V s = ARG(0);
    const char *chars = NULL;
    size_t nchars = 0;
    if (argc > 1 && vm_kind(vm, ARG(1)) != K_NONE) {
        if (!need_str(vm, ARG(1), "strip arg"))
            return FAIL;
        chars = str_ptr(ARG(1));
        nchars = str_nbytes(ARG(1));
    }
    const char *p = str_ptr(s);
    uint64_t n = str_nbytes(s), i = 0, e = n;
#define STRIPPED(c) (chars ? memchr(chars, (c), nchars) != NULL : is_ws(c))
    if (left)
        while (i < e && STRIPPED(p[i]))
            i++;
    if (right)
        while (e > i && STRIPPED(p[e - 1]))
            e--;
#undef STRIPPED
    if (i == 0 && e == n)
        return set_out(vm, out, s);
    return set_out(vm, out, vm_substr(vm, args, i, e, cps_of(p + i, e - i)));
}

NATIVE(m_str_strip) { return strip(vm, args, argc, out, true, true); }
NATIVE(m_str_lstrip) { return strip(vm, args, argc, out, true, false); }
NATIVE(m_str_rstrip) { return strip(vm, args, argc, out, false, true); }

static bool starts_ends(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, bool ends)
{
    uint64_t bs, be;
    bool empty;
    if (!str_range(vm, args, argc, 2, &bs, &be, &empty))
        return FAIL;
    V pre = ARG(1);
    V *items = &R[args + 1];
    uint64_t np = 1;
    if (vm_kind(vm, pre) == K_TUPLE) {
        items = arr_items(pre);
        np = arr_len(pre);
    }
    const char *p = str_ptr(ARG(0));
    bool res = false;
    for (uint64_t i = 0; i < np && !res; i++) {
        if (vm_kind(vm, items[i]) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "%s first arg must be str or a tuple of str, not %s",
                            ends ? "endswith" : "startswith", vm_type_name(vm, items[i]));
        uint64_t m = str_nbytes(items[i]);
        if (m > be - bs || empty)
            continue;
        res = !memcmp(ends ? p + be - m : p + bs, str_ptr(items[i]), m);
    }
    R[out] = vm_bool(vm, res);
    return true;
}

NATIVE(m_str_startswith) { return starts_ends(vm, args, argc, out, false); }
NATIVE(m_str_endswith) { return starts_ends(vm, args, argc, out, true); }

/* Appends bytes [from, to) of the str in slot s to b, VM_BYTES_STEP at a time with
 * safepoint polls counted by *since (addresses read again after each). */
static void buf_put_polling(struct gi_vm *vm, struct gi_buf *b, uint32_t s, uint64_t from, uint64_t to,
                            uint64_t *since)
{
    while (from < to) {
        uint64_t k = to - from < VM_BYTES_STEP ? to - from : VM_BYTES_STEP;
        buf_put(b, str_ptr(R[s]) + from, k);
        from += k;
        vm_poll_bytes(vm, since, k);
    }
}

NATIVE(m_str_replace)
{
    if (!need_str(vm, ARG(1), "replace() argument 1") || !need_str(vm, ARG(2), "replace() argument 2"))
        return FAIL;
    int64_t count = -1;
    if (argc > 3 && !vm_index_value(vm, ARG(3), &count))
        return FAIL;
    /* the search and the copies poll (a huge string): addresses are read from the
     * argument slots after each */
    uint64_t n = str_nbytes(ARG(0)), on = str_nbytes(ARG(1)), nn = str_nbytes(ARG(2));
    struct gi_buf b = {0};
    uint64_t i = 0, since = 0;
    int64_t done = 0;
    if (on == 0) {
        /* insert new between every code point */
        for (uint64_t j = 0; j <= n; done++) {
            if (count >= 0 && done >= count) {
                buf_put_polling(vm, &b, args, j, n, &since);
                break;
            }
            buf_put(&b, str_ptr(ARG(2)), nn);
            if (j == n)
                break;
            const char *p = str_ptr(ARG(0));
            uint64_t k = j + 1;
            while (k < n && ((unsigned char)p[k] & 0xC0) == 0x80)
                k++;
            buf_put(&b, p + j, k - j);
            vm_poll_bytes(vm, &since, nn + k - j);
            j = k;
        }
        return new_str_out(vm, out, &b);
    }
    while (i < n) {
        int64_t hit = (count >= 0 && done >= count) ? -1 : vm_find_str_polling(vm, args, i, n, args + 1);
        if (hit < 0) {
            buf_put_polling(vm, &b, args, i, n, &since);
            break;
        }
        buf_put_polling(vm, &b, args, i, (uint64_t)hit, &since);
        buf_put(&b, str_ptr(ARG(2)), nn);
        vm_poll_bytes(vm, &since, nn);
        i = (uint64_t)hit + on;
        done++;
    }
    if (done == 0) {
        free(b.p);
        return set_out(vm, out, ARG(0));
    }
    return new_str_out(vm, out, &b);
}

/* 1: byte offset of sub in [bs, be) (from the right with rev), 0 absent. */
static bool find_sub(struct gi_vm *vm, uint32_t args, uint32_t argc, bool rev, int64_t *cp)
{
    if (!need_str(vm, ARG(1), "must be str"))
        return FAIL;
    uint64_t bs, be;
    bool empty;
    if (!str_range(vm, args, argc, 2, &bs, &be, &empty))
        return FAIL;
    uint64_t m = str_nbytes(ARG(1));
    int64_t found = -1;
    if (m <= be - bs && !empty)         /* both poll: the string is read from its slot */
        found = rev ? vm_rfind_str_polling(vm, args, bs, be, args + 1)
                    : vm_find_str_polling(vm, args, bs, be, args + 1);
    *cp = found < 0 ? -1 : (int64_t)cps_of_polling(vm, args, 0, (uint64_t)found);
    return true;
}

NATIVE(m_str_find)
{
    int64_t i;
    return find_sub(vm, args, argc, false, &i) && set_out(vm, out, vm_new_int(vm, i));
}

NATIVE(m_str_rfind)
{
    int64_t i;
    return find_sub(vm, args, argc, true, &i) && set_out(vm, out, vm_new_int(vm, i));
}

NATIVE(m_str_index)
{
    int64_t i;
    if (!find_sub(vm, args, argc, false, &i))
        return FAIL;
    if (i < 0)
        return vm_raise(vm, B_VALUEERROR, "substring not found");
    return set_out(vm, out, vm_new_int(vm, i));
}

NATIVE(m_str_rindex)
{
    int64_t i;
    if (!find_sub(vm, args, argc, true, &i))
        return FAIL;
    if (i < 0)
        return vm_raise(vm, B_VALUEERROR, "substring not found");
    return set_out(vm, out, vm_new_int(vm, i));
}

NATIVE(m_str_count)
{
    if (!need_str(vm, ARG(1), "must be str"))
        return FAIL;
    uint64_t bs, be;
    bool empty;
    if (!str_range(vm, args, argc, 2, &bs, &be, &empty))
        return FAIL;
    uint64_t m = str_nbytes(ARG(1));
    int64_t c = 0;
    if (empty) {
        c = 0;
    } else if (m == 0) {
        c = (int64_t)cps_of_polling(vm, args, bs, be) + 1;
    } else {
        uint64_t i = bs, since = 0;
        while (i + m <= be) {
            int64_t hit = vm_find_str_polling(vm, args, i, be, args + 1);
            if (hit < 0)
                break;
            c++;
            vm_poll_bytes(vm, &since, (uint64_t)hit + m - i);    /* many hits close together */
            i = (uint64_t)hit + m;
        }
    }
    return set_out(vm, out, vm_new_int(vm, c));
}

/* Code point at s[*i] (UTF-8, already validated), advancing *i. */
static uint32_t next_cp(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if (c < 0xE0) { cp = c & 0x1F; len = 2; }
    else if (c < 0xF0) { cp = c & 0x0F; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (size_t k = 1; k < len && *i + k < n; k++)
        cp = cp << 6 | (s[*i + k] & 0x3F);
    *i += len;
    return cp;
}

static void put_cp(struct gi_buf *b, uint32_t cp)
{
    char e[4];
    size_t n;
    if (cp < 0x80) { e[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { e[0] = (char)(0xC0 | cp >> 6); e[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) { e[0] = (char)(0xE0 | cp >> 12); e[1] = (char)(0x80 | (cp >> 6 & 0x3F)); e[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
    else { e[0] = (char)(0xF0 | cp >> 18); e[1] = (char)(0x80 | (cp >> 12 & 0x3F)); e[2] = (char)(0x80 | (cp >> 6 & 0x3F)); e[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
    buf_put(b, e, n);
}

#include <wctype.h>
#include <locale.h>

/* Unicode case and classes through the C library's UTF-8 locale (ASCII when
 * it has none). */
static locale_t utf8_locale(void)
{
    static locale_t loc;
    static int tried;
    if (!tried) {
        tried = 1;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return loc;
}

static uint32_t cp_upper(uint32_t c)
{
    locale_t l = utf8_locale();
    if (c < 0x80 || !l)
        return (uint32_t)toupper((int)(c < 0x80 ? c : 0)) | (c >= 0x80 ? c : 0);
    return (uint32_t)towupper_l((wint_t)c, l);
}

static uint32_t cp_lower(uint32_t c)
{
    locale_t l = utf8_locale();
    if (c < 0x80 || !l)
        return c < 0x80 ? (uint32_t)tolower((int)c) : c;
    return (uint32_t)towlower_l((wint_t)c, l);
}

static bool cp_alpha(uint32_t c)
{
    locale_t l = utf8_locale();
    return c < 0x80 ? isalpha((int)c) != 0 : (l && iswalpha_l((wint_t)c, l));
}

static bool map_chars(struct gi_vm *vm, uint32_t args, uint32_t out, int mode)
{
    V s = ARG(0);
    size_t n = str_nbytes(s), i = 0;
    char *copy = malloc(n + 1);
    if (!copy)
        return vm_raise(vm, B_MEMORYERROR, "out of memory");
    memcpy(copy, str_ptr(s), n);
    const unsigned char *p = (const unsigned char *)copy;
    struct gi_buf b = {0};
    bool start = true, first = true;
    while (i < n) {
        uint32_t c = next_cp(p, n, &i), r;
        switch (mode) {
        case 0: r = cp_upper(c); break;
        case 1: r = cp_lower(c); break;
        case 2: r = start ? cp_upper(c) : cp_lower(c); break;
        case 3: r = first ? cp_upper(c) : cp_lower(c); break;
        default: r = cp_upper(c) != c ? cp_upper(c) : cp_lower(c); break;
        }
        put_cp(&b, r);
        start = !cp_alpha(c);
        first = false;
    }
    free(copy);
    return new_str_out(vm, out, &b);
}

NATIVE(m_str_upper) { return map_chars(vm, args, out, 0); }
NATIVE(m_str_lower) { return map_chars(vm, args, out, 1); }
NATIVE(m_str_title) { return map_chars(vm, args, out, 2); }
NATIVE(m_str_capitalize) { return map_chars(vm, args, out, 3); }
NATIVE(m_str_swapcase) { return map_chars(vm, args, out, 4); }

/* cls: 0 digit, 1 alpha, 2 alnum, 3 space, 4 upper, 5 lower */
static bool char_class(struct gi_vm *vm, uint32_t args, uint32_t out, int cls)
{
    V s = ARG(0);
    size_t n = str_nbytes(s), i = 0;
    const unsigned char *p = (const unsigned char *)str_ptr(s);
    bool res = n > 0, any_cased = false;
    locale_t l = utf8_locale();
    while (i < n && res) {
        uint32_t c = next_cp(p, n, &i);
        bool digit = c < 0x80 ? isdigit((int)c) != 0 : (l && iswdigit_l((wint_t)c, l));
        bool alpha = cp_alpha(c);
        switch (cls) {
        case 0: res = digit; break;
        case 1: res = alpha; break;
        case 2: res = alpha || digit; break;
        case 3: res = c < 0x80 ? is_ws((char)c) || (c >= 0x1c && c <= 0x1f) : (l && iswspace_l((wint_t)c, l)); break;
        default: {
            bool up = cp_lower(c) != c, low = cp_upper(c) != c;
            if (up || low) {
                any_cased = true;
                if (cls == 4 ? low : up)
                    res = false;
            }
        }
        }
    }
    if (cls >= 4)
        res = res && any_cased;
    R[out] = vm_bool(vm, res);
    return true;
}

NATIVE(m_str_isdigit) { return char_class(vm, args, out, 0); }
NATIVE(m_str_isalpha) { return char_class(vm, args, out, 1); }
NATIVE(m_str_isalnum) { return char_class(vm, args, out, 2); }
NATIVE(m_str_isspace) { return char_class(vm, args, out, 3); }
NATIVE(m_str_isupper) { return char_class(vm, args, out, 4); }
NATIVE(m_str_islower) { return char_class(vm, args, out, 5); }

NATIVE(m_str_isidentifier)
{
    V s = ARG(0);
    uint64_t n = str_nbytes(s);
    const char *p = str_ptr(s);
    bool res = n > 0 && (isalpha((unsigned char)p[0]) || p[0] == '_' || (unsigned char)p[0] >= 0x80);
    for (uint64_t i = 1; i < n && res; i++)
        res = isalnum((unsigned char)p[i]) || p[i] == '_' || (unsigned char)p[i] >= 0x80;
    R[out] = vm_bool(vm, res);
    return true;
}

static bool justify(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, int how)
{
    int64_t width;
    if (!vm_index_value(vm, ARG(1), &width))
        return FAIL;
    const char *fill = " ";
    size_t fn = 1;
    if (argc > 2) {
        V f = ARG(2);
        if (vm_kind(vm, f) != K_STR || fields(f)[STR_CPLEN] != 1)
            return vm_raise(vm, B_TYPEERROR, "The fill character must be exactly one character long");
        fill = str_ptr(f);
        fn = str_nbytes(f);
    }
    V s = ARG(0);
    int64_t len = (int64_t)fields(s)[STR_CPLEN];
    if (width <= len)
        return set_out(vm, out, s);
    int64_t marg = width - len, left;
    if (how == 0)
        left = 0;
    else if (how == 1)
        left = marg;
    else
        left = marg / 2 + (marg & width & 1);
    struct gi_buf b = {0};
    for (int64_t i = 0; i < left; i++)
        buf_put(&b, fill, fn);
    buf_put(&b, str_ptr(ARG(0)), str_nbytes(ARG(0)));
    for (int64_t i = 0; i < marg - left; i++)
        buf_put(&b, fill, fn);
    return new_str_out(vm, out, &b);
}

NATIVE(m_str_ljust) { return justify(vm, args, argc, out, 0); }
NATIVE(m_str_rjust) { return justify(vm, args, argc, out, 1); }
NATIVE(m_str_center) { return justify(vm, args, argc, out, 2); }

NATIVE(m_str_zfill)
{
    int64_t width;
    if (!vm_index_value(vm, ARG(1), &width))
        return FAIL;
    V s = ARG(0);
    int64_t len = (int64_t)fields(s)[STR_CPLEN];
    if (width <= len)
        return set_out(vm, out, s);
    struct gi_buf b = {0};
    const char *p = str_ptr(s);
    size_t n = str_nbytes(s), i = 0;
    if (n && (p[0] == '+' || p[0] == '-')) {
        buf_put(&b, p, 1);
        i = 1;
    }
    for (int64_t k = 0; k < width - len; k++)
        buf_puts(&b, "0");
    buf_put(&b, p + i, n - i);
    return new_str_out(vm, out, &b);
}

NATIVE(m_str_format)
{
    return vm_str_format(vm, args, argc, kwn, out);
}

NATIVE(m_str_splitlines)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    int kk = npos > 1 ? (int)(args + 1) : kw_find(vm, args, argc, kwn, "keepends");
    int keep = kk ? vm_truthy(vm, R[kk]) : 0;
    if (keep < 0)
        return FAIL;
    uint32_t t = vm_reserve(vm, 2);
    V l = vm_new_list(vm, 4);
    bool ok = l != 0;
    if (ok) {
        R[t] = l;
        uint64_t n = str_nbytes(ARG(0)), i = 0;
        while (ok && i < n) {
            const char *p = str_ptr(ARG(0));
            uint64_t j = i;
            while (j < n && p[j] != '\n' && p[j] != '\r')
                j++;
            uint64_t e = j;
            if (j < n) {
                j += (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n') ? 2 : 1;
            }
            ok = append_part(vm, t, args, i, keep ? j : e, t + 1);
            i = j;
        }
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

static bool partition(struct gi_vm *vm, uint32_t args, uint32_t out, bool rev)
{
    if (!need_str(vm, ARG(1), "must be str"))
        return FAIL;
    if (str_nbytes(ARG(1)) == 0)
        return vm_raise(vm, B_VALUEERROR, "empty separator");
    V s = ARG(0), sep = ARG(1);
    const char *p = str_ptr(s);
    uint64_t n = str_nbytes(s), m = str_nbytes(sep);
    int64_t hit = -1;
    if (!rev) {
        const char *h = memmem(p, n, str_ptr(sep), m);
        if (h)
            hit = h - p;
    } else {
        for (int64_t i = (int64_t)n - (int64_t)m; i >= 0; i--)
            if (!memcmp(p + i, str_ptr(sep), m)) {
                hit = i;
                break;
            }
    }
    uint32_t t = vm_reserve(vm, 3);
    bool ok = true;
    if (hit < 0) {
        R[t] = rev ? R[vm->r_empty_str] : ARG(0);
        R[t + 1] = R[vm->r_empty_str];
        R[t + 2] = rev ? ARG(0) : R[vm->r_empty_str];
    } else {
        V a = vm_substr(vm, args, 0, (uint64_t)hit, cps_of(str_ptr(ARG(0)), (size_t)hit));
        ok = a != 0;
        if (ok) {
            R[t] = a;
            R[t + 1] = ARG(1);
            uint64_t from = (uint64_t)hit + str_nbytes(ARG(1));
            V c = vm_substr(vm, args, from, str_nbytes(ARG(0)), cps_of(str_ptr(ARG(0)) + from, str_nbytes(ARG(0)) - from));
            ok = c != 0;
            R[t + 2] = c;
        }
    }
    if (ok) {
        V tup = vm_new_tuple(vm, 3);
        ok = tup != 0;
        if (ok) {
            for (int i = 0; i < 3; i++)
                vm_store_ref(vm, tup, &arr_items(tup)[i], R[t + i]);
            R[out] = tup;
        }
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_str_partition) { return partition(vm, args, out, false); }
NATIVE(m_str_rpartition) { return partition(vm, args, out, true); }

NATIVE(m_str_expandtabs)
{
    int64_t ts = 8;
    if (argc > 1 && !vm_index_value(vm, ARG(1), &ts))
        return FAIL;
    struct gi_buf b = {0};
    const char *p = str_ptr(ARG(0));
    uint64_t n = str_nbytes(ARG(0)), col = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (p[i] == '\t') {
            if (ts > 0) {
                uint64_t spaces = (uint64_t)ts - col % (uint64_t)ts;
                for (uint64_t k = 0; k < spaces; k++)
                    buf_puts(&b, " ");
                col += spaces;
            }
        } else {
            buf_put(&b, p + i, 1);
            col = (p[i] == '\n' || p[i] == '\r') ? 0 : col + (((unsigned char)p[i] & 0xC0) != 0x80);
        }
    }
    return new_str_out(vm, out, &b);
}

NATIVE(m_str_encode)
{
    return vm_raise(vm, B_TYPEERROR, "gcheap: bytes are not supported (str.encode)");
}

/* ---- list (and tuple/array for index/count) */

NATIVE(m_list_append)
{
    if (!list_append(vm, args, args + 1))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_list_pop)
{
    /* the index first, as CPython: its __index__ may run program code that
     * changes the list (the length read before it was stale) */
    int64_t i = -1;
    if (argc == 2 && !vm_index_value(vm, ARG(1), &i))
        return FAIL;
    V l = ARG(0);
    uint64_t len = fields(l)[LIST_LEN];
    if (len == 0)
        return vm_raise(vm, B_INDEXERROR, "pop from empty list");
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return vm_raise(vm, B_INDEXERROR, "pop index out of range");
    uint32_t t = vm_reserve(vm, 1);     /* the item, rooted across the polls */
    R[t] = arr_items(fields(ARG(0))[LIST_ITEMS])[i];
    vm_shift_list_polling(vm, args, (uint64_t)i, (uint64_t)i + 1, len - (uint64_t)i - 1);
    l = ARG(0);
    V items = fields(l)[LIST_ITEMS];
    vm_store_ref(vm, items, &arr_items(items)[len - 1], 0);
    fields(l)[LIST_LEN] = len - 1;
    R[out] = R[t];
    vm_release(vm, t);
    return true;
}

NATIVE(m_list_insert)
{
    int64_t i;
    if (!vm_index_value(vm, ARG(1), &i))
        return FAIL;
    if (!list_append(vm, args, args + 2)) /* grow by one (the value lands at the end) */
        return FAIL;
    V l = ARG(0);
    int64_t len = (int64_t)fields(l)[LIST_LEN] - 1;
    if (i < 0)
        i = i + len < 0 ? 0 : i + len;
    if (i > len)
        i = len;
    vm_shift_list_polling(vm, args, (uint64_t)i + 1, (uint64_t)i, (uint64_t)(len - i));
    l = ARG(0);
    V items = fields(l)[LIST_ITEMS];
    vm_store_ref(vm, items, &arr_items(items)[i], ARG(2));
    return ret_none(vm, out);
}

/* Index of the first item equal to args[1] in the sequence args[0] (within
 * args[2]..args[3]), -1 absent, -2 raised. */
static int64_t seq_index(struct gi_vm *vm, uint32_t args, uint32_t argc)
{
    int64_t len;
    if (!vm_len(vm, args, &len))
        return -2;
    int64_t st = 0, en = len;
    for (uint32_t i = 2; i < argc && i < 4; i++) {
        int64_t x;
        if (!vm_index_value(vm, ARG(i), &x))
            return -2;
        if (x < 0) {
            x += len;
            if (x < 0)
                x = 0;
        }
        if (i == 2)
            st = x;
        else
            en = x;
    }
    uint32_t t = vm_reserve(vm, 2);
    int64_t found = -1;
    R[t] = ARG(0);
    int k = vm_kind(vm, R[t]);
    if (k == K_ARRAY) {
        if (!vm_to_list(vm, t, t))
            found = -2;
    }
    for (int64_t i = st; found == -1 && i < en; i++) {
        V *items;
        uint64_t n;
        vm_seq(vm, R[t], &items, &n);
        if ((uint64_t)i >= n)
            break;
        R[t + 1] = items[i];
        int eq = vm_equal_slots(vm, t + 1, args + 1);
        if (eq < 0)
            found = -2;
        else if (eq)
            found = i;
    }
    vm_release(vm, t);
    return found;
}

NATIVE(m_list_index)
{
    int64_t i = seq_index(vm, args, argc);
    if (i == -2)
        return FAIL;
    if (i < 0) {
        int k = vm_kind(vm, ARG(0));
        if (k == K_LIST) {
            V r = vm_str_of(vm, args + 1, true);
            if (!r)
                return FAIL;
            return vm_raise(vm, B_VALUEERROR, "%.*s is not in list", (int)str_nbytes(r), str_ptr(r));
        }
        return vm_raise(vm, B_VALUEERROR, "%s.index(x): x not in %s", k == K_TUPLE ? "tuple" : "array",
                        k == K_TUPLE ? "tuple" : "array");
    }
    return set_out(vm, out, vm_new_int(vm, i));
}

NATIVE(m_list_count)
{
    uint32_t t = vm_reserve(vm, 2);
    int64_t c = 0;
    bool ok = true;
    R[t] = ARG(0);
    if (vm_kind(vm, R[t]) == K_ARRAY)
        ok = vm_to_list(vm, t, t);
    for (uint64_t i = 0; ok; i++) {
        V *items;
        uint64_t n;
        vm_seq(vm, R[t], &items, &n);
        if (i >= n)
            break;
        R[t + 1] = items[i];
        int eq = vm_equal_slots(vm, t + 1, args + 1);
        if (eq < 0)
            ok = false;
        c += eq == 1;
    }
    vm_release(vm, t);
    return ok && set_out(vm, out, vm_new_int(vm, c));
}

NATIVE(m_list_remove)
{
    int64_t i = seq_index(vm, args, 2);
    if (i == -2)
        return FAIL;
    if (i < 0)
        return vm_raise(vm, B_VALUEERROR, "list.remove(x): x not in list");
    V l = ARG(0);
    uint64_t len = fields(l)[LIST_LEN];
    if ((uint64_t)i >= len)     /* an __eq__ shrank the list: del l[i:i+1] is a no-op */
        return ret_none(vm, out);
    V items = fields(l)[LIST_ITEMS];
    vm_copy_refs(vm, items, arr_items(items) + i, arr_items(items) + i + 1, len - (uint64_t)i - 1);
    vm_store_ref(vm, items, &arr_items(items)[len - 1], 0);
    fields(l)[LIST_LEN] = len - 1;
    return ret_none(vm, out);
}

NATIVE(m_list_extend)
{
    if (!vm_iterate_into_list(vm, args + 1, args))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_list_reverse)
{
    V l = ARG(0);
    uint64_t n = fields(l)[LIST_LEN];
    V items = fields(l)[LIST_ITEMS];
    for (uint64_t i = 0; i < n / 2; i++) {
        V a = arr_items(items)[i], b = arr_items(items)[n - 1 - i];
        vm_store_ref(vm, items, &arr_items(items)[i], b);
        vm_store_ref(vm, items, &arr_items(items)[n - 1 - i], a);
    }
    return ret_none(vm, out);
}

/* ---- sorting: a stable merge sort that compares with < only, as CPython's
 * list.sort (equal keys keep their order, also with reverse=True). The keys
 * and items live in heap arrays rooted in temporaries; comparisons may run
 * program code, so nothing is held across them but indexes. */

static int less(struct gi_vm *vm, uint32_t keys, int64_t i, int64_t j, uint32_t t)
{
    V a = arr_items(R[keys])[i], b = arr_items(R[keys])[j];
    int ka = vm_kind(vm, a), kb = vm_kind(vm, b);
    if (ka == K_INT && kb == K_INT)
        return int_val(a) < int_val(b);
    if (ka == K_FLOAT && kb == K_FLOAT)
        return float_val(a) < float_val(b);
    if (ka == K_STR && kb == K_STR) {
        uint32_t na = str_nbytes(a), nb = str_nbytes(b);
        int c = memcmp(str_ptr(a), str_ptr(b), na < nb ? na : nb);
        return c < 0 || (c == 0 && na < nb);
    }
    R[t] = a;
    R[t + 1] = b;
    return vm_compare_slots(vm, 0, t, t + 1);
}

bool vm_sort_values(struct gi_vm *vm, uint32_t list_slot, uint32_t key_slot, bool reverse)
{
    V l = R[list_slot];
    uint64_t n = fields(l)[LIST_LEN];
    if (n < 2 && !key_slot)
        return true;
    uint32_t t = vm_reserve(vm, 4);   /* keys, items copy, compare temps */
    bool ok = false;
    int64_t *idx = malloc(sizeof(int64_t) * (n ? n : 1) * 2);
    if (!idx) {
        vm_raise(vm, B_MEMORYERROR, "out of memory sorting");
        goto out;
    }
    V items = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, n);
    if (!items)
        goto out;
    l = R[list_slot];
    vm_copy_refs(vm, items, arr_items(items), arr_items(fields(l)[LIST_ITEMS]), n);
    R[t + 1] = items;
    if (key_slot) {
        V keys = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, n);
        if (!keys)
            goto out;
        R[t] = keys;
        for (uint64_t i = 0; i < n; i++) {
            uint32_t m = vm_reserve(vm, 2);
            R[m] = R[key_slot];
            R[m + 1] = arr_items(R[t + 1])[i];
            bool k = vm_call(vm, m, 1, 0, m);
            V kv = R[m];
            vm_release(vm, m);
            if (!k)
                goto out;
            vm_store_ref(vm, R[t], &arr_items(R[t])[i], kv);
        }
    } else {
        R[t] = R[t + 1];
    }
    for (uint64_t i = 0; i < n; i++)
        idx[i] = (int64_t)i;
    int64_t *a = idx, *b = idx + n;
    for (uint64_t width = 1; width < n; width *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * width) {
            uint64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                /* take the right one only if it must come first */
                int c = reverse ? less(vm, t, a[i], a[j], t + 2) : less(vm, t, a[j], a[i], t + 2);
                if (c < 0)
                    goto out;
                b[o++] = c ? a[j++] : a[i++];
            }
            while (i < mid)
                b[o++] = a[i++];
            while (j < hi)
                b[o++] = a[j++];
        }
        int64_t *x = a;
        a = b;
        b = x;
    }
    l = R[list_slot];
    if (fields(l)[LIST_LEN] != n) {
        vm_raise(vm, B_VALUEERROR, "list modified during sort");
        goto out;
    }
    V dst = fields(l)[LIST_ITEMS];
    for (uint64_t i = 0; i < n; i++)
        vm_store_ref(vm, dst, &arr_items(dst)[i], arr_items(R[t + 1])[a[i]]);
    ok = true;
out:
    free(idx);
    vm_release(vm, t);
    return ok;
}

NATIVE(m_list_sort)
{
    static const char *const names[] = {"key", "reverse"};
    if (argc - kw_count(vm, kwn) > 1)
        return vm_raise(vm, B_TYPEERROR, "sort() takes no positional arguments");
    for (uint32_t i = 0; i < kw_count(vm, kwn); i++) {
        V k = arr_items(R[kwn])[i];
        bool known = false;
        for (int j = 0; j < 2; j++)
            known |= strlen(names[j]) == str_nbytes(k) && !memcmp(names[j], str_ptr(k), str_nbytes(k));
        if (!known)
            return vm_raise(vm, B_TYPEERROR, "sort() got an unexpected keyword argument '%.*s'", (int)str_nbytes(k), str_ptr(k));
    }
    int key = kw_find(vm, args, argc, kwn, "key"), rev = kw_find(vm, args, argc, kwn, "reverse");
    int reverse = 0;
    if (rev && (reverse = vm_truthy(vm, R[rev])) < 0)
        return FAIL;
    if (!vm_sort_values(vm, args, key && vm_kind(vm, R[key]) != K_NONE ? (uint32_t)key : 0, reverse))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_list_copy)
{
    return vm_to_list(vm, args, out);
}

NATIVE(m_list_clear)
{
    V l = ARG(0);
    V items = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, 4);
    if (!items)
        return FAIL;
    l = ARG(0);
    vm_store_ref(vm, l, &fields(l)[LIST_ITEMS], items);
    fields(l)[LIST_LEN] = 0;
    return ret_none(vm, out);
}

NATIVE(m_list_init)
{
    V l = ARG(0);
    fields(l)[LIST_LEN] = 0;
    if (argc == 2 && !vm_iterate_into_list(vm, args + 1, args))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_seq_getitem) { return vm_getitem_builtin(vm, args, args + 1, out); }

NATIVE(m_seq_setitem)
{
    if (!vm_setitem_builtin(vm, args, args + 1, args + 2))
        return FAIL;
    return ret_none(vm, out);
}

NATIVE(m_seq_len)
{
    V v = ARG(0);
    int k = vm_kind(vm, v);
    int64_t n = k == K_LIST ? (int64_t)fields(v)[LIST_LEN] : k == K_DICT ? (int64_t)fields(v)[DICT_COUNT] : 0;
    return set_out(vm, out, vm_new_int(vm, n));
}

NATIVE(m_contains)
{
    V c = ARG(0);
    int r;
    if (vm_kind(vm, c) == K_DICT) {
        bool err;
        r = dict_lookup(vm, c, ARG(1), &err) >= 0;
        if (err)
            return FAIL;
    } else {
        r = set_contains(vm, c, ARG(1));
        if (r < 0)
            return FAIL;
    }
    R[out] = vm_bool(vm, r);
    return true;
}

/* ---- dict */

NATIVE(m_dict_get)
{
    bool err = false;
    int64_t e = dict_lookup(vm, ARG(0), ARG(1), &err);
    if (err)
        return FAIL;
    R[out] = e >= 0 ? arr_items(fields(ARG(0))[DICT_VALS])[e] : argc == 3 ? ARG(2) : vm_none(vm);
    return true;
}

static bool view(struct gi_vm *vm, uint32_t args, uint32_t out, int which)
{
    V v = vm_alloc_instance(vm, vm->gr_class[K_VIEW]);
    if (!v)
        return FAIL;
    vm_store_ref(vm, v, &fields(v)[VIEW_DICT], ARG(0));
    fields(v)[VIEW_WHICH] = (V)which;
    R[out] = v;
    return true;
}

NATIVE(m_dict_keys) { return view(vm, args, out, 0); }
NATIVE(m_dict_values) { return view(vm, args, out, 1); }
NATIVE(m_dict_items) { return view(vm, args, out, 2); }

NATIVE(m_dict_pop)
{
    bool err = false;
    int64_t e = dict_lookup(vm, ARG(0), ARG(1), &err);
    if (err)
        return FAIL;
    if (e < 0) {
        if (argc == 3) {
            R[out] = ARG(2);
            return true;
        }
        return vm_raise_value(vm, B_KEYERROR, args + 1);
    }
    uint32_t t = vm_reserve(vm, 1);
    R[t] = arr_items(fields(ARG(0))[DICT_VALS])[e];
    bool ok = dict_delete(vm, args, args + 1) >= 0;
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(m_dict_popitem)
{
    V d = ARG(0);
    if (fields(d)[DICT_COUNT] == 0)
        return vm_raise(vm, B_KEYERROR, "popitem(): dictionary is empty");
    int64_t e = (int64_t)fields(d)[DICT_USED] - 1;
    while (!arr_items(fields(d)[DICT_KEYS])[e])
        e--;
    uint32_t t = vm_reserve(vm, 3);
    bool ok = false;
    R[t] = arr_items(fields(d)[DICT_KEYS])[e];
    R[t + 1] = arr_items(fields(d)[DICT_VALS])[e];
    V tup = vm_new_tuple(vm, 2);
    if (tup) {
        vm_store_ref(vm, tup, &arr_items(tup)[0], R[t]);
        vm_store_ref(vm, tup, &arr_items(tup)[1], R[t + 1]);
        R[t + 2] = tup;
        ok = dict_delete(vm, args, t) >= 0;
        if (ok)
            R[out] = R[t + 2];
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_dict_setdefault)
{
    bool err = false;
    int64_t e = dict_lookup(vm, ARG(0), ARG(1), &err);
    if (err)
        return FAIL;
    if (e >= 0) {
        R[out] = arr_items(fields(ARG(0))[DICT_VALS])[e];
        return true;
    }
    uint32_t t = vm_reserve(vm, 1);
    R[t] = argc == 3 ? ARG(2) : vm_none(vm);
    bool ok = dict_set(vm, args, args + 1, t);
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

/* dst.update(src): a dict, a mapping with keys(), or an iterable of pairs. */
bool vm_dict_update_from(struct gi_vm *vm, uint32_t dst, uint32_t src)
{
    uint32_t t = vm_reserve(vm, 4);
    bool ok = true;
    V s = R[src];
    if (vm_kind(vm, s) == K_DICT) {
        for (uint64_t e = 0; ok && e < fields(R[src])[DICT_USED]; e++) {
            V k = arr_items(fields(R[src])[DICT_KEYS])[e];
            if (!k)
                continue;
            R[t] = k;
            R[t + 1] = arr_items(fields(R[src])[DICT_VALS])[e];
            ok = dict_set_hashed(vm, dst, t, t + 1, (uint64_t)arr_i64(fields(R[src])[DICT_HASHES])[e]);
        }
        vm_release(vm, t);
        return ok;
    }
    R[t + 3] = s;
    bool found = false;
    if (vm_user_class(vm, s) >= 0) {
        V f;
        int c = vm_user_class(vm, s);
        found = vm_class_lookup(vm, vm->class_objs[c], vm_intern(vm, "keys"), &f) == 1;
    }
    if (found) {
        bool f2;
        ok = vm_call_method(vm, t + 3, vm_intern(vm, "keys"), t, 0, t + 2, &f2) && vm_get_iter(vm, t + 2);
        while (ok) {
            int r = vm_next(vm, t + 2, t);
            if (r < 0)
                ok = false;
            if (r <= 0)
                break;
            ok = vm_getitem(vm, t + 3, t, t + 1) && dict_set(vm, dst, t, t + 1);
        }
        vm_release(vm, t);
        return ok;
    }
    R[t + 2] = s;
    ok = vm_get_iter(vm, t + 2);
    for (int64_t i = 0; ok; i++) {
        int r = vm_next(vm, t + 2, t + 3);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        ok = vm_to_seq(vm, t + 3);
        if (!ok) {
            if (vm_exc_matches(vm, R[vm->r_exc], B_TYPEERROR))
                vm_raise(vm, B_TYPEERROR, "cannot convert dictionary update sequence element #%lld to a sequence", (long long)i);
            break;
        }
        V *items;
        uint64_t n;
        vm_seq(vm, R[t + 3], &items, &n);
        if (n != 2) {
            ok = vm_raise(vm, B_VALUEERROR, "dictionary update sequence element #%lld has length %llu; 2 is required",
                          (long long)i, (unsigned long long)n);
            break;
        }
        R[t] = items[0];
        R[t + 1] = items[1];
        ok = dict_set(vm, dst, t, t + 1);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_dict_update)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    if (npos == 2 && !vm_dict_update_from(vm, args, args + 1))
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    for (uint32_t i = 0; ok && i < kw_count(vm, kwn); i++) {
        R[t] = arr_items(R[kwn])[i];
        ok = dict_set(vm, args, t, args + npos + i);
    }
    vm_release(vm, t);
    return ok && ret_none(vm, out);
}

NATIVE(m_dict_copy)
{
    uint32_t t = vm_reserve(vm, 1);
    V d = vm_new_dict(vm);
    bool ok = d != 0;
    if (ok) {
        R[t] = d;
        ok = vm_dict_update_from(vm, t, args);
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_dict_clear)
{
    V d = ARG(0);
    for (int f = DICT_KEYS; f <= DICT_INDEX; f++)
        vm_store_ref(vm, d, &fields(d)[f], 0);
    fields(d)[DICT_USED] = fields(d)[DICT_COUNT] = 0;
    return ret_none(vm, out);
}

NATIVE(m_dict_fromkeys)
{
    uint32_t t = vm_reserve(vm, 3);
    bool ok;
    V cls = ARG(0);
    if (vm_kind(vm, cls) == K_CLASS) {
        R[t] = cls;
        ok = vm_call(vm, t, 0, 0, t);
    } else {
        V d = vm_new_dict(vm);
        ok = d != 0;
        R[t] = d;
    }
    R[t + 1] = ARG(1);
    ok = ok && vm_get_iter(vm, t + 1);
    uint32_t v = argc == 3 ? args + 2 : vm->r_none;
    while (ok) {
        int r = vm_next(vm, t + 1, t + 2);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        ok = vm_setitem(vm, t, t + 2, v);
    }
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(m_dict_init)
{
    uint32_t npos = argc - kw_count(vm, kwn);
    if (npos == 2 && !vm_dict_update_from(vm, args, args + 1))
        return FAIL;
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    for (uint32_t i = 0; ok && i < kw_count(vm, kwn); i++) {
        R[t] = arr_items(R[kwn])[i];
        ok = dict_set(vm, args, t, args + npos + i);
    }
    vm_release(vm, t);
    return ok && ret_none(vm, out);
}

/* ---- set */

NATIVE(m_set_add)
{
    return set_add(vm, args, args + 1) && ret_none(vm, out);
}

NATIVE(m_set_remove)
{
    int r = set_discard(vm, args, args + 1);
    if (r < 0)
        return FAIL;
    if (r == 0)
        return vm_raise_value(vm, B_KEYERROR, args + 1);
    return ret_none(vm, out);
}

NATIVE(m_set_discard)
{
    return set_discard(vm, args, args + 1) >= 0 && ret_none(vm, out);
}

NATIVE(m_set_pop) { return set_pop(vm, args, out); }

NATIVE(m_set_clear)
{
    set_clear(vm, ARG(0));
    return ret_none(vm, out);
}

NATIVE(m_set_copy)
{
    if (fields(ARG(0))[SET_FROZEN] && vm_user_class(vm, ARG(0)) < 0)
        return set_out(vm, out, ARG(0));
    return set_copy(vm, args, out, fields(ARG(0))[SET_FROZEN] != 0);
}

NATIVE(m_set_update)
{
    for (uint32_t i = 1; i < argc; i++)
        if (!set_update(vm, args, args + i))
            return FAIL;
    return ret_none(vm, out);
}

static bool set_multi(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, int op)
{
    uint32_t t = vm_reserve(vm, 2);
    bool ok = set_copy(vm, args, t, fields(ARG(0))[SET_FROZEN] != 0);
    for (uint32_t i = 1; ok && i < argc; i++) {
        R[t + 1] = ARG(i);
        if (vm_kind(vm, R[t + 1]) != K_SET && op != '|')
            ok = set_copy(vm, t + 1, t + 1, false);
        if (ok)
            ok = set_binop(vm, op, t, t + 1, t);
    }
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(m_set_union)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = set_copy(vm, args, t, fields(ARG(0))[SET_FROZEN] != 0);
    for (uint32_t i = 1; ok && i < argc; i++)
        ok = set_update(vm, t, args + i);
    if (ok)
        R[out] = R[t];
    vm_release(vm, t);
    return ok;
}

NATIVE(m_set_intersection) { return set_multi(vm, args, argc, out, '&'); }
NATIVE(m_set_difference) { return set_multi(vm, args, argc, out, '-'); }
NATIVE(m_set_symdiff) { return set_multi(vm, args, argc, out, '^'); }

static bool set_multi_update(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t out, int op)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    for (uint32_t i = 1; ok && i < argc; i++) {
        R[t] = ARG(i);
        if (vm_kind(vm, R[t]) != K_SET)
            ok = set_copy(vm, t, t, false);
        if (ok)
            ok = set_inplace(vm, op, args, t);
    }
    vm_release(vm, t);
    return ok && ret_none(vm, out);
}

NATIVE(m_set_intersection_update) { return set_multi_update(vm, args, argc, out, '&'); }
NATIVE(m_set_difference_update) { return set_multi_update(vm, args, argc, out, '-'); }
NATIVE(m_set_symdiff_update) { return set_multi_update(vm, args, argc, out, '^'); }

static bool set_rel(struct gi_vm *vm, uint32_t args, uint32_t out, int op)
{
    uint32_t t = vm_reserve(vm, 1);
    R[t] = ARG(1);
    bool ok = vm_kind(vm, R[t]) == K_SET || set_copy(vm, t, t, false);
    if (ok) {
        int r;
        if (op == 9) {
            uint32_t u = vm_reserve(vm, 1);
            ok = set_binop(vm, '&', args, t, u);
            r = ok ? fields(R[u])[SET_USED] == 0 : 0;
            vm_release(vm, u);
        } else {
            r = set_compare(vm, op, ARG(0), R[t]);
        }
        if (r < 0)
            ok = false;
        else if (ok)
            R[out] = vm_bool(vm, r);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_set_issubset) { return set_rel(vm, args, out, 1); }
NATIVE(m_set_issuperset) { return set_rel(vm, args, out, 3); }
NATIVE(m_set_isdisjoint) { return set_rel(vm, args, out, 9); }

NATIVE(m_set_init)
{
    set_clear(vm, ARG(0));
    if (argc == 2 && !set_update(vm, args, args + 1))
        return FAIL;
    return ret_none(vm, out);
}

/* ---- generators */

NATIVE(m_gen_send)
{
    int r = gen_resume(vm, args, args + 1, out);
    if (r == RUN_YIELDED)
        return true;
    if (r == RUN_RETURNED) {
        uint32_t t = vm_reserve(vm, 1);
        R[t] = R[out];
        bool none = vm_kind(vm, R[t]) == K_NONE;
        vm_raise_value(vm, B_STOPITERATION, none ? 0 : t);
        vm_release(vm, t);
    }
    return FAIL;
}

NATIVE(m_gen_close)
{
    V g = ARG(0);
    if (fields(g)[GEN_STATE] == GS_RUNNING)
        return vm_raise(vm, B_VALUEERROR, "generator already executing");
    if (fields(g)[GEN_STATE] != GS_SUSPENDED) {
        fields(g)[GEN_STATE] = GS_DONE;
        vm_store_ref(vm, g, &fields(g)[GEN_SAVED], 0);
        return ret_none(vm, out);
    }
    /* GeneratorExit raised at the yield: finally blocks and handlers run */
    uint32_t t = vm_reserve(vm, 1);
    V e = vm_new_exc(vm, B_GENERATOREXIT, 0);
    bool ok = e != 0;
    if (ok) {
        R[t] = e;
        int r = gen_throw(vm, args, t, t);
        if (r == RUN_YIELDED) {
            ok = vm_raise(vm, B_RUNTIMEERROR, "generator ignored GeneratorExit");
        } else if (r != RUN_RETURNED) {
            V x = R[vm->r_exc];
            ok = vm_exc_matches(vm, x, B_GENERATOREXIT) || vm_exc_matches(vm, x, B_STOPITERATION);
            if (ok)
                vm_clear_exc(vm);
        }
    }
    vm_release(vm, t);
    return ok && ret_none(vm, out);
}

NATIVE(m_gen_throw)
{
    uint32_t t = vm_reserve(vm, 1);
    V e = ARG(1);
    bool ok = true;
    if (vm_kind(vm, e) == K_BUILTIN || vm_kind(vm, e) == K_CLASS) {
        R[t] = e;
        if (argc > 2 && vm_kind(vm, ARG(2)) != K_NONE) {
            uint32_t m = vm_reserve(vm, 2);
            R[m] = e;
            R[m + 1] = ARG(2);
            ok = vm_call(vm, m, 1, 0, t);
            vm_release(vm, m);
        } else {
            ok = vm_call(vm, t, 0, 0, t);
        }
    } else {
        R[t] = e;
    }
    if (ok && vm_kind(vm, R[t]) != K_EXC)
        ok = vm_raise(vm, B_TYPEERROR, "exceptions must derive from BaseException");
    if (ok) {
        int r = gen_throw(vm, args, t, out);
        ok = r == RUN_YIELDED;
        if (r == RUN_RETURNED) {
            R[t] = R[out];
            vm_raise_value(vm, B_STOPITERATION, vm_kind(vm, R[t]) == K_NONE ? 0 : t);
        }
    }
    vm_release(vm, t);
    return ok;
}

/* ---- exceptions */

NATIVE(m_exc_init)
{
    uint32_t t = vm_reserve(vm, 1);
    V tup = vm_new_tuple(vm, argc - 1);
    bool ok = tup != 0;
    if (ok) {
        for (uint32_t i = 1; i < argc; i++)
            vm_store_ref(vm, tup, &arr_items(tup)[i - 1], ARG(i));
        V e = ARG(0);
        if (vm_kind(vm, e) == K_EXC)
            vm_store_ref(vm, e, &fields(e)[EXC_ARGS], tup);
        R[out] = vm_none(vm);
    }
    vm_release(vm, t);
    return ok;
}

NATIVE(m_exc_with_traceback)
{
    R[out] = ARG(0);
    return true;
}

/* ---- range */

NATIVE(m_range_index)
{
    V r = ARG(0), x = ARG(1);
    if (is_intlike(vm_kind(vm, x))) {
        int64_t v = (int64_t)fields(x)[0];
        int64_t st = (int64_t)fields(r)[RANGE_START], sp = (int64_t)fields(r)[RANGE_STOP], sc = (int64_t)fields(r)[RANGE_STEP];
        if ((sc > 0 ? (v >= st && v < sp) : (v <= st && v > sp)) && (v - st) % sc == 0)
            return set_out(vm, out, vm_new_int(vm, (v - st) / sc));
    }
    V s = vm_str_of(vm, args + 1, true);
    if (!s)
        return FAIL;
    return vm_raise(vm, B_VALUEERROR, "%.*s is not in range", (int)str_nbytes(s), str_ptr(s));
}

NATIVE(m_range_count)
{
    int r = vm_contains(vm, args, args + 1);
    if (r < 0)
        return FAIL;
    return set_out(vm, out, vm_new_int(vm, r));
}

/* ---- property */

static bool property_with(struct gi_vm *vm, uint32_t args, uint32_t out, int field)
{
    V p = ARG(0);
    V w = vm_alloc_instance(vm, vm->gr_class[K_WRAP]);
    if (!w)
        return FAIL;
    p = ARG(0);
    for (int f = WRAP_A; f <= WRAP_C; f++)
        vm_store_ref(vm, w, &fields(w)[f], f == field ? ARG(1) : fields(p)[f]);
    fields(w)[WRAP_WHICH] = W_PROPERTY;
    R[out] = w;
    return true;
}

NATIVE(m_property_getter) { return property_with(vm, args, out, WRAP_A); }
NATIVE(m_property_setter) { return property_with(vm, args, out, WRAP_B); }
NATIVE(m_property_deleter) { return property_with(vm, args, out, WRAP_C); }

/* ---- sys.stdout / sys.stderr */

NATIVE(m_file_write)
{
    V s = ARG(1);
    if (vm_kind(vm, s) != K_STR)
        return vm_raise(vm, B_TYPEERROR, "write() argument must be str, not %s", vm_type_name(vm, s));
    if (fields(ARG(0))[FILE_FD] == 2) {
        vm_flush_out(vm);
        vm_write_err(vm, str_ptr(s), str_nbytes(s));
    } else {
        vm_write_out(vm, str_ptr(s), str_nbytes(s));
    }
    return set_out(vm, out, vm_new_int(vm, (int64_t)fields(ARG(1))[STR_CPLEN]));
}

NATIVE(m_file_flush)
{
    if (fields(ARG(0))[FILE_FD] == 1)
        vm_flush_out(vm);
    return ret_none(vm, out);
}
