/* object.c - the interpreter's value model on the managed heap.
 *
 * Every value is an object address. Built-in layouts are runtime instance classes
 * defined at load (interp_impl.h lists their fields); tuples are bare runtime ref
 * arrays; strings are a K_STR instance pointing at a runtime string of UTF-8 bytes
 * (so the code-point length and hash are cached beside the bytes). Small ints
 * -5..1024, None, True and False are preallocated in root slots.
 *
 * Allocation discipline (see interp_impl.h): anything that allocates may move every
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

/* ---- temporaries: a stack of root slots above every frame in use */

uint32_t vm_reserve(struct gi_vm *vm, uint32_t n)
{
    uint32_t t = vm->ctop;
    if ((uint64_t)t + n + 64 > vm->stack_limit)
        vm_fatal(vm, E2BIG, "the interpreter's root table is exhausted");
    vm->ctop = t + n;
    if (vm->ctop > vm->roots_hw)
        vm->roots_hw = vm->ctop;
    return t;
}

void vm_release(struct gi_vm *vm, uint32_t mark)
{
    if (vm->ctop > mark)
        memset(&vm->roots[mark], 0, (size_t)(vm->ctop - mark) * sizeof(V));
    vm->ctop = mark;
}

/* THE allocation point of the interpreter: the runtime's choke point (which may
 * collect). Heap exhaustion becomes the program's MemoryError (preallocated, so
 * raising it needs no memory); any other runtime failure is fatal. */
V vm_alloc_slow(struct gi_vm *vm, uint64_t size, uint64_t hdr)
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
    return p;
oom:
    vm->roots[vm->r_exc] = vm->roots[vm->r_memerr]; /* the preallocated MemoryError */
    if (vm->roots[vm->r_exc])
        fields(vm->roots[vm->r_exc])[EXC_TBLEN] = 0;
    return 0;
}

V vm_alloc_instance(struct gi_vm *vm, uint32_t cls)
{
    return vm_alloc_small(vm, vm->rt->classes[cls].size, gr_make_hdr(cls, 0));
}

V vm_alloc_array(struct gi_vm *vm, uint32_t cls, uint64_t length)
{
    if (length > GR_MAX_LENGTH) {
        vm_raise(vm, B_MEMORYERROR, "array of %llu elements", (unsigned long long)length);
        return 0;
    }
    uint64_t size = gr_size_of(&vm->rt->classes[cls], (uint32_t)length);
    return vm_alloc_small(vm, size, gr_make_hdr(cls, (uint32_t)length));
}

/* `bytes` must not point into the managed heap (it may move during allocation). */
V vm_new_str(struct gi_vm *vm, const char *bytes, size_t n)
{
    if (n == 0 && vm->roots[vm->r_empty_str])
        return vm->roots[vm->r_empty_str];
    if (n > GR_MAX_LENGTH) {
        vm_raise(vm, B_MEMORYERROR, "string too large");
        return 0;
    }
    V data = vm_alloc_array(vm, GR_CLASS_STRING, n);
    if (!data)
        return 0;
    uint32_t tmp = vm_reserve(vm, 1);
    vm->roots[tmp] = data;
    /* VM_BYTES_STEP at a time, with a safepoint poll between steps (a huge
     * result of replace or join): the data array, rooted, holds bytes only */
    uint64_t cps = 0;
    for (uint64_t done = 0; done < n;) {
        if (done)
            vm_native_poll(vm);
        uint64_t k = n - done < VM_BYTES_STEP ? n - done : VM_BYTES_STEP;
        memcpy(str_bytes_of_data(vm->roots[tmp]) + done, bytes + done, k);
        cps += cps_of(bytes + done, k);
        done += k;
    }
    V s = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    data = vm->roots[tmp];
    vm_release(vm, tmp);
    if (!s)
        return 0;
    vm_store_ref(vm, s, &fields(s)[STR_DATA], data);
    fields(s)[STR_CPLEN] = cps;
    return s;
}

bool vm_set_out_str(struct gi_vm *vm, uint32_t out, const char *s, size_t n)
{
    V v = vm_new_str(vm, s, n);
    if (!v)
        return FAIL;
    vm->roots[out] = v;
    return true;
}

V vm_new_list(struct gi_vm *vm, uint64_t capacity)
{
    V items = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, capacity < 4 ? 4 : capacity);
    if (!items)
        return 0;
    uint32_t tmp = vm_reserve(vm, 1);
    vm->roots[tmp] = items;
    V l = vm_alloc_instance(vm, vm->gr_class[K_LIST]);
    items = vm->roots[tmp];
    vm_release(vm, tmp);
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

V vm_new_cell(struct gi_vm *vm, uint32_t value_slot)
{
    V c = vm_alloc_instance(vm, vm->gr_class[K_CELL]);
    if (c && value_slot && vm->roots[value_slot])
        vm_store_ref(vm, c, &fields(c)[CELL_VALUE], vm->roots[value_slot]);
    return c;
}

V vm_new_iter(struct gi_vm *vm, int type, uint32_t seq_slot)
{
    V it = vm_alloc_instance(vm, vm->gr_class[K_ITER]);
    if (!it)
        return 0;
    fields(it)[ITER_TYPE] = (V)type;
    if (seq_slot)
        vm_store_ref(vm, it, &fields(it)[ITER_SEQ], vm->roots[seq_slot]);
    return it;
}

V vm_new_builtin(struct gi_vm *vm, uint32_t id)
{
    if (id < B_COUNT)
        return vm->roots[vm->r_builtins + id];
    V b = vm_alloc_instance(vm, vm->gr_class[K_BUILTIN]);
    if (b)
        fields(b)[BUILTIN_ID] = id;
    return b;
}

#define COPY_STEP 2048u           /* references a bulk copy stores between safepoint polls */

/* Copies n references from the array (or tuple) in root slot src_slot, from src_off
 * on, into the one in dst_slot from dst_off on, COPY_STEP at a time with a safepoint
 * poll before each step, the arrays read again from their slots after it. A list of
 * millions took 12 ms and more to copy, the barrier's share included, and a pause
 * requested meanwhile waited for all of it. What is half copied is safe for the
 * collector: the destination holds what was stored and what it held before. The
 * ranges must not overlap. */
void vm_copy_refs_polling(struct gi_vm *vm, uint32_t dst_slot, uint64_t dst_off, uint32_t src_slot,
                          uint64_t src_off, uint64_t n)
{
    for (uint64_t done = 0; done < n; done += COPY_STEP) {
        vm_native_poll(vm);
        V dst = vm->roots[dst_slot], src = vm->roots[src_slot];
        uint64_t k = n - done < COPY_STEP ? n - done : COPY_STEP;
        vm_copy_refs(vm, dst, arr_items(dst) + dst_off + done, arr_items(src) + src_off + done, k);
    }
}

/* Copies n bytes from byte src_off of the str in src_slot to byte dst_off of the
 * string data array in dst_slot, VM_BYTES_STEP at a time with a safepoint poll
 * between steps, addresses read again after it: concatenating, slicing, repeating
 * huge strings (the copy's first touches of the new array's fresh pages cost more
 * than the copy itself). Both are rooted; the data array holds bytes only, so a
 * half-filled one is nothing to the collector. */
void vm_copy_str_steps(struct gi_vm *vm, uint32_t dst_slot, uint64_t dst_off, uint32_t src_slot,
                       uint64_t src_off, uint64_t n)
{
    for (uint64_t done = 0; done < n;) {
        if (done)
            vm_native_poll(vm);     /* between steps: a short copy never calls out */
        uint64_t k = n - done < VM_BYTES_STEP ? n - done : VM_BYTES_STEP;
        memcpy(str_bytes_of_data(vm->roots[dst_slot]) + dst_off + done,
               str_ptr(vm->roots[src_slot]) + src_off + done, k);
        done += k;
    }
}

/* memmem over windows of step + m - 1 bytes, each starting step after the last
 * (an occurrence starting in one window lies whole in it; step = VM_BYTES_STEP, or
 * m for a longer needle, so that the windows cover the haystack at most twice),
 * with a safepoint poll between windows and the addresses read again after it:
 * `find`, `count` and `in` over a huge string. */
int64_t vm_find_str_polling(struct gi_vm *vm, uint32_t hay_slot, uint64_t from, uint64_t to, uint32_t sub_slot)
{
    uint64_t m = str_nbytes(vm->roots[sub_slot]);
    if (m == 0)
        return from <= to ? (int64_t)from : -1;
    uint64_t step = m > VM_BYTES_STEP ? m : VM_BYTES_STEP;
    for (uint64_t at = from; at + m <= to;) {
        uint64_t end = to - at > step + m - 1 ? at + step + m - 1 : to;
        const char *p = str_ptr(vm->roots[hay_slot]);
        const char *hit = memmem(p + at, end - at, str_ptr(vm->roots[sub_slot]), m);
        if (hit)
            return hit - p;
        if (end == to)
            break;
        at = end - (m - 1);
        vm_native_poll(vm);
    }
    return -1;
}

/* The last occurrence of the str in sub_slot starting in [from, to - m], or -1:
 * starts tried from the right, max(1, VM_BYTES_STEP / m) of them between safepoint
 * polls (so about VM_BYTES_STEP bytes compared at worst), the addresses read again
 * after each poll: `rfind`, `rindex` and `rsplit` over a huge string. */
int64_t vm_rfind_str_polling(struct gi_vm *vm, uint32_t hay_slot, uint64_t from, uint64_t to, uint32_t sub_slot)
{
    uint64_t m = str_nbytes(vm->roots[sub_slot]);
    if (to < from || to - from < m)
        return -1;
    if (m == 0)
        return (int64_t)to;
    uint64_t per = VM_BYTES_STEP / m ? VM_BYTES_STEP / m : 1;
    for (uint64_t i = to - m;;) {       /* i: the next start to try */
        const char *p = str_ptr(vm->roots[hay_slot]), *sp = str_ptr(vm->roots[sub_slot]);
        uint64_t lo = i - from >= per ? i - per + 1 : from;
        for (uint64_t j = i + 1; j-- > lo;)
            if (p[j] == sp[0] && !memcmp(p + j, sp, m))
                return (int64_t)j;
        if (lo == from)
            return -1;
        i = lo - 1;
        vm_native_poll(vm);
    }
}

/* Moves n items of the list in list_slot from index src to index dst (the ranges
 * may overlap, as memmove), COPY_STEP at a time with a safepoint poll before each
 * step: list.insert and list.pop near the front of a long list. The steps go in
 * the direction that never overwrites an item before it is moved, so a half-done
 * shift holds every item (one of them twice): safe for the collector, and no
 * other program thread runs meanwhile. */
void vm_shift_list_polling(struct gi_vm *vm, uint32_t list_slot, uint64_t dst, uint64_t src, uint64_t n)
{
    for (uint64_t done = 0; done < n;) {
        vm_native_poll(vm);
        uint64_t k = n - done < COPY_STEP ? n - done : COPY_STEP;
        uint64_t at = dst <= src ? done : n - done - k;     /* upward: from the end */
        V items = fields(vm->roots[list_slot])[LIST_ITEMS];
        vm_copy_refs(vm, items, arr_items(items) + dst + at, arr_items(items) + src + at, k);
        done += k;
    }
}

/* Grows the list in list_slot to hold at least n items. */
bool list_reserve(struct gi_vm *vm, uint32_t list_slot, uint64_t n)
{
    V l = vm->roots[list_slot];
    V items = fields(l)[LIST_ITEMS];
    if (n <= arr_len(items))
        return true;
    uint64_t cap = arr_len(items) * 2 + 4;
    if (cap < n)
        cap = n;
    uint32_t s = vm_reserve(vm, 2);
    V bigger = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, cap);
    if (!bigger) {
        vm_release(vm, s);
        return FAIL;
    }
    vm->roots[s] = bigger;
    l = vm->roots[list_slot];           /* the allocation may have moved it */
    vm->roots[s + 1] = fields(l)[LIST_ITEMS];
    vm_copy_refs_polling(vm, s, 0, s + 1, 0, fields(l)[LIST_LEN]);
    l = vm->roots[list_slot];
    vm_store_ref(vm, l, &fields(l)[LIST_ITEMS], vm->roots[s]);
    vm_release(vm, s);
    return true;
}

bool list_append(struct gi_vm *vm, uint32_t list_slot, uint32_t value_slot)
{
    V l = vm->roots[list_slot];
    V items = fields(l)[LIST_ITEMS];
    uint64_t len = fields(l)[LIST_LEN];
    if (len == arr_len(items)) {
        if (!list_reserve(vm, list_slot, len + 1))
            return FAIL;
        l = vm->roots[list_slot];
        items = fields(l)[LIST_ITEMS];
    }
    vm_store_ref(vm, items, &arr_items(items)[len], vm->roots[value_slot]);
    fields(l)[LIST_LEN] = len + 1;
    return true;
}

/* ---- dicts: insertion-ordered entries + an open-addressing index of entry numbers.
 * The index holds entry numbers, never addresses, so moving objects does not
 * disturb it; the hashes are kept per entry so resizing never rehashes keys.
 * Keys are compared with == which may run a program's __eq__: the lookup then
 * re-reads the dict (it may have moved) and starts over if the dict changed. */

V vm_new_dict(struct gi_vm *vm)
{
    V d = vm_alloc_instance(vm, vm->gr_class[K_DICT]);
    if (d) {
        fields(d)[DICT_USED] = 0;
        fields(d)[DICT_COUNT] = 0;
    }
    return d;
}

int vm_equal_pure(struct gi_vm *vm, V a, V b);  /* ops.c: 1, 0, or 2 (needs program code) */

/* Entry index of key (hash h) in the dict in slot ds, or -1 (absent; *free_slot is
 * the index position where it would go); -2 raised. key in slot ks. */
static int64_t find(struct gi_vm *vm, uint32_t ds, uint32_t ks, uint64_t h, int64_t *free_slot)
{
restart:;
    V d = vm->roots[ds], key = vm->roots[ks];
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
            int eq = vm_equal_pure(vm, k, key);
            if (eq == 2) {
                /* a program's __eq__: compare through root slots, then check that
                 * the dict still holds the same entry */
                uint32_t t = vm_reserve(vm, 2);
                vm->roots[t] = k;
                vm->roots[t + 1] = fields(d)[DICT_KEYS];
                eq = vm_equal_slots(vm, t, ks);
                d = vm->roots[ds];
                bool same = fields(d)[DICT_KEYS] == vm->roots[t + 1] &&
                            arr_items(fields(d)[DICT_KEYS])[e] == vm->roots[t];
                vm_release(vm, t);
                if (eq < 0)
                    return -2;
                if (!same)
                    goto restart;
                index = fields(d)[DICT_INDEX];
                key = vm->roots[ks];
            }
            if (eq)
                return e;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

int64_t dict_lookup_hashed(struct gi_vm *vm, V d, V key, uint64_t h, bool *err)
{
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = d;
    vm->roots[t + 1] = key;
    int64_t e = find(vm, t, t + 1, h, NULL);
    vm_release(vm, t);
    *err = e == -2;
    return e < 0 ? -1 : e;
}

int64_t dict_lookup(struct gi_vm *vm, V d, V key, bool *err)
{
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = d;
    vm->roots[t + 1] = key;
    uint64_t h;
    int64_t e;
    if (!vm_hash(vm, key, &h))
        e = -2;
    else
        e = find(vm, t, t + 1, h, NULL);
    vm_release(vm, t);
    *err = e == -2;
    return e < 0 ? -1 : e;
}

#define RESIZE_STEP (16u << 10)     /* bytes of a new dict index filled between safepoint polls */

/* Rebuilds the entry arrays (dropping deleted entries) and the index for `need`
 * live entries. d in root slot dslot. */
static bool dict_resize(struct gi_vm *vm, uint32_t dslot, uint64_t need)
{
    uint64_t cap = 8;
    while (cap < need * 2)
        cap *= 2;
    uint64_t ecap = cap / 2 + 1;
    uint32_t s = vm_reserve(vm, 4);
    bool ok = false;
    if (!(vm->roots[s + 0] = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, ecap)))
        goto out;
    if (!(vm->roots[s + 1] = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, ecap)))
        goto out;
    if (!(vm->roots[s + 2] = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, ecap)))
        goto out;
    if (!(vm->roots[s + 3] = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, cap)))
        goto out;
    /* A large table is filled and rehashed with safepoint polls in between (every
     * RESIZE_STEP bytes of the index, every RESIZE_STEP / 8 entries): its fresh pages
     * fault in as it goes, which took 60-100 ms for a 4 MiB index on this VM, and a
     * pause requested meanwhile waited for all of it. Nothing here is half-built for
     * the collector: the new arrays hold zeros or what was stored, the dict itself
     * changes only at the end. Raw addresses are read again after each poll. */
    for (uint64_t off = 0; off < cap * 8; off += RESIZE_STEP) {
        vm_native_poll(vm);
        uint64_t k = cap * 8 - off < RESIZE_STEP ? cap * 8 - off : RESIZE_STEP;
        memset((char *)arr_i64(vm->roots[s + 3]) + off, 0xff, k); /* -1: empty */
    }
    V d = vm->roots[dslot];
    V nk = vm->roots[s], nv = vm->roots[s + 1], nh = vm->roots[s + 2], index = vm->roots[s + 3];
    uint64_t used = fields(d)[DICT_USED], n = 0;
    V ok_ = fields(d)[DICT_KEYS], ov = fields(d)[DICT_VALS], oh = fields(d)[DICT_HASHES];
    for (uint64_t e = 0; e < used; e++) {
        if (e % (RESIZE_STEP / 8) == RESIZE_STEP / 8 - 1) {
            vm_native_poll(vm);
            d = vm->roots[dslot];
            nk = vm->roots[s], nv = vm->roots[s + 1], nh = vm->roots[s + 2], index = vm->roots[s + 3];
            ok_ = fields(d)[DICT_KEYS], ov = fields(d)[DICT_VALS], oh = fields(d)[DICT_HASHES];
        }
        V k = arr_items(ok_)[e];
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
    ok = true;
out:
    vm_release(vm, s);
    return ok;
}

bool dict_set_hashed(struct gi_vm *vm, uint32_t dslot, uint32_t kslot, uint32_t vslot, uint64_t h)
{
    int64_t e = find(vm, dslot, kslot, h, NULL);
    if (e == -2)
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
    /* the free position: the key is known absent, so no comparison runs */
    V index = fields(d)[DICT_INDEX];
    uint64_t mask = arr_len(index) - 1, i = h & mask, perturb = h;
    while (arr_i64(index)[i] >= 0) {
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
    V keys = fields(d)[DICT_KEYS], vals = fields(d)[DICT_VALS];
    vm_store_ref(vm, keys, &arr_items(keys)[used], vm->roots[kslot]);
    vm_store_ref(vm, vals, &arr_items(vals)[used], vm->roots[vslot]);
    arr_i64(fields(d)[DICT_HASHES])[used] = (int64_t)h;
    arr_i64(index)[i] = (int64_t)used;
    fields(d)[DICT_USED] = used + 1;
    fields(d)[DICT_COUNT]++;
    return true;
}

bool dict_set(struct gi_vm *vm, uint32_t dslot, uint32_t kslot, uint32_t vslot)
{
    uint64_t h;
    if (!vm_hash(vm, vm->roots[kslot], &h))
        return FAIL;
    return dict_set_hashed(vm, dslot, kslot, vslot, h);
}

int dict_delete(struct gi_vm *vm, uint32_t dslot, uint32_t kslot)
{
    uint64_t h;
    if (!vm_hash(vm, vm->roots[kslot], &h))
        return -1;
    int64_t e = find(vm, dslot, kslot, h, NULL);
    if (e == -2)
        return -1;
    if (e < 0)
        return 0;
    V d = vm->roots[dslot];
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
    if (fields(d)[DICT_COUNT] == 0) {   /* start over: no deleted entries pile up */
        vm_store_ref(vm, d, &fields(d)[DICT_KEYS], 0);
        vm_store_ref(vm, d, &fields(d)[DICT_VALS], 0);
        vm_store_ref(vm, d, &fields(d)[DICT_HASHES], 0);
        vm_store_ref(vm, d, &fields(d)[DICT_INDEX], 0);
        fields(d)[DICT_USED] = 0;
    }
    return 1;
}

/* ---- exceptions */

V vm_new_exc(struct gi_vm *vm, int type, uint32_t arg_slot)
{
    uint32_t t = vm_reserve(vm, 1);
    V args = vm_new_tuple(vm, arg_slot ? 1 : 0);
    V e = 0;
    if (args) {
        if (arg_slot)
            vm_store_ref(vm, args, &arr_items(args)[0], vm->roots[arg_slot]);
        vm->roots[t] = args;
        e = vm_alloc_instance(vm, vm->gr_class[K_EXC]);
        if (e) {
            vm_store_ref(vm, e, &fields(e)[EXC_ARGS], vm->roots[t]);
            fields(e)[EXC_TYPE] = (V)type;
            fields(e)[EXC_TBLEN] = 0;
            fields(e)[EXC_IDHASH] = (V)++vm->next_idhash;
        }
    }
    vm_release(vm, t);
    return e;
}

bool vm_raise_value(struct gi_vm *vm, int type, uint32_t arg_slot)
{
    V e = vm_new_exc(vm, type, arg_slot);
    if (e)
        vm->roots[vm->r_exc] = e;
    return FAIL;
}

bool vm_raise_exc(struct gi_vm *vm, uint32_t exc_slot)
{
    vm->roots[vm->r_exc] = vm->roots[exc_slot];
    return FAIL;
}

bool vm_raise(struct gi_vm *vm, int type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t tmp = vm_reserve(vm, 1);
    V s = vm_new_str(vm, msg, strlen(msg));
    if (s) {
        vm->roots[tmp] = s;
        vm_raise_value(vm, type, tmp);
    }
    vm_release(vm, tmp);
    return FAIL;
}

int vm_exc_type_of_obj(struct gi_vm *vm, V v)
{
    if (v && vm_kind(vm, v) == K_EXC)
        return (int)fields(v)[EXC_TYPE];
    return -1;
}

bool vm_exc_matches(struct gi_vm *vm, V exc, int builtin_type)
{
    int t = vm_exc_type_of_obj(vm, exc);
    return t >= 0 && gi_exc_subclass(t, builtin_type);
}

void vm_clear_exc(struct gi_vm *vm)
{
    vm->roots[vm->r_exc] = 0;
}

const char *vm_exc_class_name(struct gi_vm *vm, V e)
{
    int c = vm_user_class(vm, e);
    if (c >= 0)
        return vm->classes[c].name;
    return gi_natives[fields(e)[EXC_TYPE]].name;
}

const char *vm_type_name(struct gi_vm *vm, V v)
{
    static const char *const names[K_NKINDS] = {
        [K_NONE] = "NoneType", [K_BOOL] = "bool", [K_INT] = "int", [K_FLOAT] = "float",
        [K_STR] = "str", [K_TUPLE] = "tuple", [K_LIST] = "list", [K_DICT] = "dict",
        [K_SET] = "set", [K_FUNC] = "function", [K_CLASS] = "type", [K_INST] = "object",
        [K_BOUND] = "method", [K_BUILTIN] = "builtin_function_or_method", [K_EXC] = "exception",
        [K_RANGE] = "range", [K_ITER] = "iterator", [K_CELL] = "cell", [K_GEN] = "generator",
        [K_SLICE] = "slice", [K_MODULE] = "module", [K_SUPER] = "super", [K_WRAP] = "staticmethod",
        [K_ARRAY] = "array.array", [K_FILE] = "_io.TextIOWrapper", [K_VIEW] = "dict_keys"};
    int c = vm_user_class(vm, v);
    if (c >= 0)
        return vm->classes[c].name;
    int k = vm_kind(vm, v);
    switch (k) {
    case K_EXC: return gi_natives[fields(v)[EXC_TYPE]].name;
    case K_SET: return fields(v)[SET_FROZEN] ? "frozenset" : "set";
    case K_WRAP: return fields(v)[WRAP_WHICH] == W_STATIC ? "staticmethod" : fields(v)[WRAP_WHICH] == W_CLASS ? "classmethod" : "property";
    case K_VIEW: return fields(v)[VIEW_WHICH] == 0 ? "dict_keys" : fields(v)[VIEW_WHICH] == 1 ? "dict_values" : "dict_items";
    case K_BUILTIN: return (gi_natives[fields(v)[BUILTIN_ID]].flags & N_TYPE) ? "type" : "builtin_function_or_method";
    case K_ITER: {
        static const char *const it[] = {"list_iterator", "tuple_iterator", "str_iterator", "range_iterator",
                                         "dict_keyiterator", "set_iterator", "enumerate", "zip", "map", "filter",
                                         "list_reverseiterator", "arrayiterator", "iterator", "callable_iterator",
                                         "iterator"};
        uint64_t t = fields(v)[ITER_TYPE];
        if (t == IT_REVERSED && !fields(v)[ITER_STEP])
            return "reversed";
        if (t == IT_STR && vm_kind(vm, fields(v)[ITER_SEQ]) == K_STR &&
            fields(fields(v)[ITER_SEQ])[STR_CPLEN] == str_nbytes(fields(v)[ITER_SEQ]))
            return "str_ascii_iterator";
        return t < sizeof it / sizeof *it ? it[t] : "iterator";
    }
    default:
        return k >= 0 ? names[k] : "object";
    }
}
