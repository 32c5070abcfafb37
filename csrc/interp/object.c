/* interp_object.c - the interpreter's value model on the managed heap.
 *
 * Every value is an object address. Built-in layouts are runtime instance classes
 * defined at load (interp.h lists their fields); tuples are bare runtime ref arrays;
 * strings are a K_STR instance pointing at a runtime string of UTF-8 bytes (so the
 * code-point length and hash are cached beside the bytes). Small ints -5..1024,
 * None, True and False are preallocated in root slots.
 *
 * Allocation discipline (see interp.h): anything that allocates may move every
 * object, so values needed afterwards travel through root slots.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

void vm_fatal(struct gi_vm *vm, int err, const char *what)
{
    vm->fatal_errno = err;
    snprintf(vm->fatal_msg, sizeof vm->fatal_msg, "%s: %s", what, strerror(err < 0 ? -err : err));
    longjmp(vm->fatal_jmp, 1);
}

/* THE allocation point of the interpreter: the runtime's choke point (which may
 * collect). Heap exhaustion becomes the program's MemoryError (preallocated, so
 * raising it needs no memory); any other runtime failure is fatal. */
static V alloc_raw(struct gi_vm *vm, uint64_t size, uint64_t hdr)
{
    if (size > vm->rt->capacity)
        goto oom;
    int err = 0;
    uintptr_t p = gr_alloc(vm->rt, vm->m, size, &err);
    if (!p) {
        if (err == -ENOMEM)
            goto oom;
        vm_fatal(vm, err, "allocation");
    }
    *(uint64_t *)p = hdr;
    vm->allocations++;
    return p;
oom:
    vm->roots[vm->r_exc] = vm->roots[vm->r_scratch + 7]; /* the preallocated MemoryError */
    return 0;
}

V vm_alloc_instance(struct gi_vm *vm, uint32_t cls)
{
    return alloc_raw(vm, vm->rt->classes[cls].size, gr_make_hdr(cls, 0));
}

V vm_alloc_array(struct gi_vm *vm, uint32_t cls, uint64_t length)
{
    if (length > GR_MAX_LENGTH) {
        vm_raise(vm, B_MEMORYERROR, "array of %llu elements", (unsigned long long)length);
        return 0;
    }
    uint64_t size = gr_size_of(&vm->rt->classes[cls], (uint32_t)length);
    return alloc_raw(vm, size, gr_make_hdr(cls, (uint32_t)length));
}

void vm_store_ref(struct gi_vm *vm, V obj, V *slot, V value)
{
    gr_store_ref(vm->rt, vm->m, obj, slot, value);
}

/* n reference stores into holder (bulk copies: growing a list, concatenation). */
void vm_copy_refs(struct gi_vm *vm, V holder, V *dst, const V *src, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        gr_store_ref(vm->rt, vm->m, holder, &dst[i], src[i]);
    }
}

int vm_kind(struct gi_vm *vm, V v)
{
    return vm->kind_of_class[cls_of(v)];
}

V vm_new_int(struct gi_vm *vm, int64_t v)
{
    if (v >= SMALL_INT_MIN && v <= SMALL_INT_MAX)
        return vm->roots[vm->r_small_ints + (v - SMALL_INT_MIN)];
    V o = vm_alloc_instance(vm, vm->gr_class[K_INT]);
    if (o)
        fields(o)[0] = (V)v;
    return o;
}

V vm_new_float(struct gi_vm *vm, double d)
{
    V o = vm_alloc_instance(vm, vm->gr_class[K_FLOAT]);
    if (o)
        memcpy(&fields(o)[0], &d, 8);
    return o;
}

static uint64_t count_code_points(const char *s, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* `bytes` must not point into the managed heap (it may move during allocation). */
V vm_new_str(struct gi_vm *vm, const char *bytes, size_t n)
{
    if (n == 0 && vm->roots[vm->r_empty_str])
        return vm->roots[vm->r_empty_str];
    V data = vm_alloc_array(vm, GR_CLASS_STRING, n);
    if (!data)
        return 0;
    memcpy(str_bytes_of_data(data), bytes, n);
    uint32_t tmp = vm->r_scratch + 6;
    vm->roots[tmp] = data;
    V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    data = vm->roots[tmp];
    vm->roots[tmp] = 0;
    if (!s)
        return 0;
    vm_store_ref(vm, s, &fields(s)[STR_DATA], data);
    fields(s)[STR_CPLEN] = count_code_points(bytes, n);
    return s;
}

V vm_new_list(struct gi_vm *vm, uint64_t capacity)
{
    V items = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, capacity < 4 ? 4 : capacity);
    if (!items)
        return 0;
    uint32_t tmp = vm->r_scratch + 6;
    vm->roots[tmp] = items;
    V l = vm_alloc_instance(vm, vm->gr_class[K_LIST]);
    items = vm->roots[tmp];
    vm->roots[tmp] = 0;
    if (!l)
        return 0;
    vm_store_ref(vm, l, &fields(l)[LIST_ITEMS], items);
    fields(l)[LIST_LEN] = 0;
    return l;
}

V vm_new_tuple(struct gi_vm *vm, uint64_t n)
{
    return vm_alloc_array(vm, GR_CLASS_REF_ARRAY, n);
}

bool list_append(struct gi_vm *vm, uint32_t list_slot, uint32_t value_slot)
{
    V l = vm->roots[list_slot];
    V items = fields(l)[LIST_ITEMS];
    uint64_t len = fields(l)[LIST_LEN];
    if (len == arr_len(items)) {
        V bigger = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, len * 2 + 4);
        if (!bigger)
            return FAIL;
        l = vm->roots[list_slot];
        items = fields(l)[LIST_ITEMS];
        vm_copy_refs(vm, bigger, arr_items(bigger), arr_items(items), len);
        vm_store_ref(vm, l, &fields(l)[LIST_ITEMS], bigger);
        items = bigger;
    }
    vm_store_ref(vm, items, &arr_items(items)[len], vm->roots[value_slot]);
    fields(l)[LIST_LEN] = len + 1;
    return true;
}

/* ---- dicts: insertion-ordered entries + an open-addressing index of entry numbers.
 * The index holds entry numbers, never addresses, so moving objects does not
 * disturb it; the hashes are kept per entry so resizing never rehashes keys. */

V vm_new_dict(struct gi_vm *vm)
{
    V d = vm_alloc_instance(vm, vm->gr_class[K_DICT]);
    if (d) {
        fields(d)[DICT_USED] = 0;
        fields(d)[DICT_COUNT] = 0;
    }
    return d;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static __thread int hash_nesting;

static bool vm_hash_tuple(struct gi_vm *vm, V v, uint64_t *out)
{
    uint64_t h = 0x345678;
    uint32_t n = arr_len(v);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t eh;
        if (!vm_hash(vm, arr_items(v)[i], &eh))
            return FAIL;
        h = mix64(h ^ eh) + i;
    }
    *out = h;
    return true;
}

bool vm_hash(struct gi_vm *vm, V v, uint64_t *out)
{
    int k = vm_kind(vm, v);
    if (k == -1 && cls_of(v) == GR_CLASS_REF_ARRAY) { /* tuples nest: bound the C recursion */
        if (hash_nesting >= 10000)
            return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded while hashing");
        hash_nesting++;
        bool ok = vm_hash_tuple(vm, v, out);
        hash_nesting--;
        return ok;
    }
    switch (k) {
    case K_NONE: *out = 0x9e3779b97f4a7c15ULL; return true;
    case K_BOOL: *out = mix64((uint64_t)fields(v)[0]); return true;
    case K_INT: *out = mix64((uint64_t)int_val(v)); return true;
    case K_FLOAT: {
        double d = float_val(v);
        if (d == (double)(int64_t)d && d >= -9.2e18 && d <= 9.2e18) {
            *out = mix64((uint64_t)(int64_t)d); /* equal numbers hash equal */
            return true;
        }
        uint64_t bits;
        memcpy(&bits, &d, 8);
        *out = mix64(bits ^ 0x5555);
        return true;
    }
    case K_STR: {
        uint64_t h = fields(v)[STR_HASH];
        if (!h) {
            const unsigned char *p = (const unsigned char *)str_ptr(v);
            uint32_t n = str_nbytes(v);
            h = 1469598103934665603ULL;
            for (uint32_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 1099511628211ULL;
            h = mix64(h) | 1;
            fields(v)[STR_HASH] = h;
        }
        *out = h;
        return true;
    }
    case -2: /* user instance: identity, through a hash assigned at allocation */
        *out = mix64((uint64_t)fields(v)[vm->rt->classes[cls_of(v)].nrefs]);
        return true;
    default:
        return vm_raise(vm, B_TYPEERROR, "unhashable type: '%s'", vm_type_name(vm, v));
    }
}

/* Entry index of key, or -1 (absent); *err set when hashing/equality raised. */
static int64_t find(struct gi_vm *vm, V d, V key, uint64_t h, bool *err, int64_t *free_slot)
{
    *err = false;
    if (free_slot)
        *free_slot = -1;
    V index = fields(d)[DICT_INDEX];
    if (!index)
        return -1;
    uint64_t mask = arr_len(index) - 1;
    uint64_t i = h & mask, perturb = h;
    for (;;) {
        int64_t e = arr_i64(index)[i];
        if (e == -1) {
            if (free_slot && *free_slot < 0)
                *free_slot = (int64_t)i;
            return -1;
        }
        if (e == -2) {
            if (free_slot && *free_slot < 0)
                *free_slot = (int64_t)i;
        } else if ((uint64_t)arr_i64(fields(d)[DICT_HASHES])[e] == h) {
            V k = arr_items(fields(d)[DICT_KEYS])[e];
            if (k == key)
                return e;
            int eq = vm_equal(vm, k, key);
            if (eq < 0) {
                *err = true;
                return -1;
            }
            if (eq)
                return e;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

int64_t dict_lookup(struct gi_vm *vm, V d, V key, bool *err)
{
    uint64_t h;
    if (!vm_hash(vm, key, &h)) {
        *err = true;
        return -1;
    }
    return find(vm, d, key, h, err, NULL);
}

/* Rebuilds the entry arrays (dropping deleted entries) and the index for `need`
 * live entries. d in root slot dslot. */
static bool dict_resize(struct gi_vm *vm, uint32_t dslot, uint64_t need)
{
    uint64_t cap = 8;
    while (cap < need * 2)
        cap *= 2;
    uint64_t ecap = cap / 2 + 1;
    uint32_t s = vm->r_scratch;
    vm->roots[s + 0] = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, ecap);
    if (!vm->roots[s + 0])
        return FAIL;
    vm->roots[s + 1] = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, ecap);
    if (!vm->roots[s + 1])
        goto fail;
    vm->roots[s + 2] = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, ecap);
    if (!vm->roots[s + 2])
        goto fail;
    V index = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, cap);
    if (!index)
        goto fail;
    V d = vm->roots[dslot];
    V nk = vm->roots[s], nv = vm->roots[s + 1], nh = vm->roots[s + 2];
    memset(arr_i64(index), 0xff, cap * 8); /* -1: empty */
    uint64_t used = fields(d)[DICT_USED], n = 0;
    V ok = fields(d)[DICT_KEYS], ov = fields(d)[DICT_VALS], oh = fields(d)[DICT_HASHES];
    for (uint64_t e = 0; e < used; e++) {
        V k = arr_items(ok)[e];
        if (!k)
            continue;
        vm_store_ref(vm, nk, &arr_items(nk)[n], k);
        vm_store_ref(vm, nv, &arr_items(nv)[n], arr_items(ov)[e]);
        uint64_t h = (uint64_t)arr_i64(oh)[e];
        arr_i64(nh)[n] = (int64_t)h;
        uint64_t i = h & (cap - 1), perturb = h;
        while (arr_i64(index)[i] != -1) {
            perturb >>= 5;
            i = (i * 5 + 1 + perturb) & (cap - 1);
        }
        arr_i64(index)[i] = (int64_t)n;
        n++;
    }
    vm_store_ref(vm, d, &fields(d)[DICT_KEYS], nk);
    vm_store_ref(vm, d, &fields(d)[DICT_VALS], nv);
    vm_store_ref(vm, d, &fields(d)[DICT_HASHES], nh);
    vm_store_ref(vm, d, &fields(d)[DICT_INDEX], index);
    fields(d)[DICT_USED] = n;
    fields(d)[DICT_COUNT] = n;
    vm->roots[s] = vm->roots[s + 1] = vm->roots[s + 2] = 0;
    return true;
fail:
    vm->roots[s] = vm->roots[s + 1] = vm->roots[s + 2] = 0;
    return FAIL;
}

bool dict_set(struct gi_vm *vm, uint32_t dslot, uint32_t kslot, uint32_t vslot)
{
    uint64_t h;
    if (!vm_hash(vm, vm->roots[kslot], &h))
        return FAIL;
    bool err;
    int64_t e = find(vm, vm->roots[dslot], vm->roots[kslot], h, &err, NULL);
    if (err)
        return FAIL;
    V d = vm->roots[dslot];
    if (e >= 0) {
        V vals = fields(d)[DICT_VALS];
        vm_store_ref(vm, vals, &arr_items(vals)[e], vm->roots[vslot]);
        return true;
    }
    uint64_t used = fields(d)[DICT_USED];
    if (!fields(d)[DICT_KEYS] || used == arr_len(fields(d)[DICT_KEYS])) {
        if (!dict_resize(vm, dslot, fields(d)[DICT_COUNT] + 1))
            return FAIL;
        d = vm->roots[dslot];
        used = fields(d)[DICT_USED];
    }
    int64_t slot;
    find(vm, d, vm->roots[kslot], h, &err, &slot); /* cannot raise: key known absent */
    V keys = fields(d)[DICT_KEYS], vals = fields(d)[DICT_VALS];
    vm_store_ref(vm, keys, &arr_items(keys)[used], vm->roots[kslot]);
    vm_store_ref(vm, vals, &arr_items(vals)[used], vm->roots[vslot]);
    arr_i64(fields(d)[DICT_HASHES])[used] = (int64_t)h;
    arr_i64(fields(d)[DICT_INDEX])[slot] = (int64_t)used;
    fields(d)[DICT_USED] = used + 1;
    fields(d)[DICT_COUNT]++;
    return true;
}

bool dict_delete(struct gi_vm *vm, V d, V key)
{
    uint64_t h;
    if (!vm_hash(vm, key, &h))
        return FAIL;
    bool err;
    int64_t e = find(vm, d, key, h, &err, NULL);
    if (err)
        return FAIL;
    if (e < 0)
        return false; /* caller raises KeyError */
    V index = fields(d)[DICT_INDEX];
    uint64_t mask = arr_len(index) - 1, i = h & mask, perturb = h;
    while (arr_i64(index)[i] != e) {
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
    arr_i64(index)[i] = -2;
    V keys = fields(d)[DICT_KEYS], vals = fields(d)[DICT_VALS];
    vm_store_ref(vm, keys, &arr_items(keys)[e], 0);
    vm_store_ref(vm, vals, &arr_items(vals)[e], 0);
    fields(d)[DICT_COUNT]--;
    return true;
}

/* ---- exceptions */

V vm_new_exc(struct gi_vm *vm, int type, uint32_t arg_slot)
{
    V e = vm_alloc_instance(vm, vm->gr_class[K_EXC]);
    if (!e)
        return 0;
    if (arg_slot)
        vm_store_ref(vm, e, &fields(e)[EXC_ARG], vm->roots[arg_slot]);
    fields(e)[EXC_TYPE] = (V)type;
    fields(e)[EXC_TBLEN] = 0;
    return e;
}

bool vm_raise_value(struct gi_vm *vm, int type, uint32_t arg_slot)
{
    V e = vm_new_exc(vm, type, arg_slot);
    if (e)
        vm->roots[vm->r_exc] = e;
    return FAIL;
}

bool vm_raise(struct gi_vm *vm, int type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t tmp = vm->r_scratch + 5;
    V s = vm_new_str(vm, msg, strlen(msg));
    if (!s)
        return FAIL;
    vm->roots[tmp] = s;
    vm_raise_value(vm, type, tmp);
    vm->roots[tmp] = 0;
    return FAIL;
}

const char *vm_type_name(struct gi_vm *vm, V v)
{
    static const char *const names[K_NKINDS] = {
        "NoneType", "bool", "int", "float", "str", "list", "dict", "function", "type",
        "method", "builtin_function_or_method", "exception", "range", "iterator"};
    int k = vm_kind(vm, v);
    if (k == -2)
        return vm->classes[vm->user_class_of[cls_of(v)]].name;
    if (k == K_EXC)
        return gi_builtin_names[fields(v)[EXC_TYPE]];
    if (k >= 0)
        return names[k];
    if (cls_of(v) == GR_CLASS_REF_ARRAY)
        return "tuple";
    return "object";
}
