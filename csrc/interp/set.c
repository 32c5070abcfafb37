/* set.c - set and frozenset with CPython 3.11's table (setobject.c), so that a set
 * iterates in the same order as under CPython when its elements hash the same
 * (ints, floats, tuples of them: hash.c).
 *
 * The table is two parallel arrays in the heap: SET_KEYS (refs: 0 unused, the
 * VM's dummy object for a deleted entry) and SET_HASHES (i64). An empty set has
 * no arrays yet (mask 7 implied). Probing: linear runs of LINEAR_PROBES entries,
 * then perturbed open addressing, exactly as CPython, including the resize
 * thresholds and sizes. Comparisons may run a program's __eq__: the probe loop
 * then re-reads the table and restarts if the set changed meanwhile.
 */
#define _GNU_SOURCE
#include <string.h>

#include "interp/interp_impl.h"

#define LINEAR_PROBES 9
#define PERTURB_SHIFT 5
#define SET_MINSIZE 8

int vm_equal_pure(struct gi_vm *vm, V a, V b);

V vm_new_set(struct gi_vm *vm, bool frozen)
{
    V s = vm_alloc_instance(vm, vm->gr_class[K_SET]);
    if (s) {
        fields(s)[SET_MASK] = SET_MINSIZE - 1;
        fields(s)[SET_FROZEN] = frozen;
    }
    return s;
}

static inline V dummy(struct gi_vm *vm) { return vm->roots[vm->r_dummy]; }

/* Gives the set in slot ss empty table arrays of `size` entries. */
static bool alloc_table(struct gi_vm *vm, uint32_t ss, uint64_t size)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = false;
    V keys = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, size);
    if (keys) {
        vm->roots[t] = keys;
        V hashes = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, size);
        if (hashes) {
            V s = vm->roots[ss];
            vm_store_ref(vm, s, &fields(s)[SET_KEYS], vm->roots[t]);
            vm_store_ref(vm, s, &fields(s)[SET_HASHES], hashes);
            fields(s)[SET_MASK] = size - 1;
            ok = true;
        }
    }
    vm_release(vm, t);
    return ok;
}

static void insert_clean(struct gi_vm *vm, V keys, V hashes, uint64_t mask, V key, uint64_t hash)
{
    uint64_t perturb = hash, i = hash & mask, j;
    for (;;) {
        j = i;
        if (!arr_items(keys)[j])
            goto found;
        if (i + LINEAR_PROBES <= mask) {
            for (int n = 0; n < LINEAR_PROBES; n++) {
                j++;
                if (!arr_items(keys)[j])
                    goto found;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + perturb) & mask;
    }
found:
    vm_store_ref(vm, keys, &arr_items(keys)[j], key);
    arr_i64(hashes)[j] = (int64_t)hash;
}

/* set_table_resize: the smallest power of two > minused (at least 8). */
static bool table_resize(struct gi_vm *vm, uint32_t ss, uint64_t minused)
{
    uint64_t newsize = SET_MINSIZE;
    while (newsize <= minused)
        newsize <<= 1;
    uint32_t t = vm_reserve(vm, 2);
    V s = vm->roots[ss];
    vm->roots[t] = fields(s)[SET_KEYS];
    vm->roots[t + 1] = fields(s)[SET_HASHES];
    uint64_t oldmask = fields(s)[SET_MASK];
    bool ok = alloc_table(vm, ss, newsize);
    if (ok) {
        s = vm->roots[ss];
        V ok_ = vm->roots[t], oh = vm->roots[t + 1];
        V keys = fields(s)[SET_KEYS], hashes = fields(s)[SET_HASHES];
        uint64_t mask = newsize - 1;
        bool no_dummies = fields(s)[SET_FILL] == fields(s)[SET_USED];
        if (!no_dummies)
            fields(s)[SET_FILL] = fields(s)[SET_USED];
        if (ok_) {
            for (uint64_t i = 0; i <= oldmask; i++) {
                V k = arr_items(ok_)[i];
                if (k && (no_dummies || k != dummy(vm)))
                    insert_clean(vm, keys, hashes, mask, k, (uint64_t)arr_i64(oh)[i]);
            }
        }
    }
    vm_release(vm, t);
    return ok;
}

/* Compares table entry j (key k) with the key in slot ks. 1 equal, 0 not, -1 raised,
 * -3 the table changed under a program's __eq__ (restart). */
static int entry_eq(struct gi_vm *vm, uint32_t ss, V keys, uint64_t j, V k, uint32_t ks)
{
    V key = vm->roots[ks];
    if (k == key)
        return 1;
    int eq = vm_equal_pure(vm, k, key);
    if (eq != 2)
        return eq;
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = k;
    vm->roots[t + 1] = keys;
    eq = vm_equal_slots(vm, t, ks);
    V s = vm->roots[ss];
    bool same = fields(s)[SET_KEYS] == vm->roots[t + 1] && arr_items(vm->roots[t + 1])[j] == vm->roots[t];
    vm_release(vm, t);
    if (eq < 0)
        return -1;
    return same ? eq : -3;
}

/* Position of key in the table, or -1 absent; -2 raised. set in ss, key in ks. */
static int64_t lookkey(struct gi_vm *vm, uint32_t ss, uint32_t ks, uint64_t hash)
{
restart:;
    V s = vm->roots[ss];
    V keys = fields(s)[SET_KEYS];
    if (!keys)
        return -1;
    uint64_t mask = fields(s)[SET_MASK], perturb = hash, i = hash & mask;
    for (;;) {
        uint64_t j = i;
        int probes = (i + LINEAR_PROBES <= mask) ? LINEAR_PROBES : 0;
        do {
            V k = arr_items(keys)[j];
            if (!k)
                return -1;
            if (k != dummy(vm) && (uint64_t)arr_i64(fields(vm->roots[ss])[SET_HASHES])[j] == hash) {
                int eq = entry_eq(vm, ss, keys, j, k, ks);
                if (eq == -1)
                    return -2;
                if (eq == -3)
                    goto restart;
                if (eq)
                    return (int64_t)j;
                keys = fields(vm->roots[ss])[SET_KEYS];
            }
            j++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

/* set_add_entry: 1 added, 0 present, -1 raised. */
static int add_entry(struct gi_vm *vm, uint32_t ss, uint32_t ks, uint64_t hash)
{
restart:;
    V s = vm->roots[ss];
    if (!fields(s)[SET_KEYS]) {
        if (!alloc_table(vm, ss, SET_MINSIZE))
            return -1;
        s = vm->roots[ss];
    }
    V keys = fields(s)[SET_KEYS];
    uint64_t mask = fields(s)[SET_MASK], perturb = hash, i = hash & mask;
    int64_t freeslot = -1;
    uint64_t j;
    for (;;) {
        j = i;
        int probes = (i + LINEAR_PROBES <= mask) ? LINEAR_PROBES : 0;
        do {
            V k = arr_items(keys)[j];
            if (!k)
                goto found_unused_or_dummy;
            if (k == dummy(vm)) {
                if (freeslot < 0)
                    freeslot = (int64_t)j;
            } else if ((uint64_t)arr_i64(fields(vm->roots[ss])[SET_HASHES])[j] == hash) {
                int eq = entry_eq(vm, ss, keys, j, k, ks);
                if (eq == -1)
                    return -1;
                if (eq == -3)
                    goto restart;
                if (eq)
                    return 0;
                s = vm->roots[ss];
                keys = fields(s)[SET_KEYS];
                mask = fields(s)[SET_MASK];
            }
            j++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (i * 5 + 1 + perturb) & mask;
    }
found_unused_or_dummy:
    s = vm->roots[ss];
    keys = fields(s)[SET_KEYS];
    if (freeslot >= 0) {
        fields(s)[SET_USED]++;
        vm_store_ref(vm, keys, &arr_items(keys)[freeslot], vm->roots[ks]);
        arr_i64(fields(s)[SET_HASHES])[freeslot] = (int64_t)hash;
        return 1;
    }
    fields(s)[SET_FILL]++;
    fields(s)[SET_USED]++;
    vm_store_ref(vm, keys, &arr_items(keys)[j], vm->roots[ks]);
    arr_i64(fields(s)[SET_HASHES])[j] = (int64_t)hash;
    if (fields(s)[SET_FILL] * 5 < mask * 3)
        return 1;
    uint64_t used = fields(s)[SET_USED];
    if (!table_resize(vm, ss, used > 50000 ? used * 2 : used * 4))
        return -1;
    return 1;
}

int set_contains(struct gi_vm *vm, V set, V key)
{
    /* rooted before hashing: a program's __hash__ may move both */
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = set;
    vm->roots[t + 1] = key;
    uint64_t h;
    int64_t r = -2;
    if (vm_hash(vm, key, &h))
        r = lookkey(vm, t, t + 1, h);
    vm_release(vm, t);
    return r == -2 ? -1 : r >= 0;
}

bool set_add(struct gi_vm *vm, uint32_t ss, uint32_t ks)
{
    uint64_t h;
    if (!vm_hash(vm, vm->roots[ks], &h))
        return FAIL;
    return add_entry(vm, ss, ks, h) >= 0;
}

static int discard_entry(struct gi_vm *vm, uint32_t ss, uint32_t ks, uint64_t h)
{
    int64_t r = lookkey(vm, ss, ks, h);
    if (r == -2)
        return -1;
    if (r < 0)
        return 0;
    V s = vm->roots[ss];
    vm_store_ref(vm, fields(s)[SET_KEYS], &arr_items(fields(s)[SET_KEYS])[r], dummy(vm));
    arr_i64(fields(s)[SET_HASHES])[r] = -1;
    fields(s)[SET_USED]--;
    return 1;
}

int set_discard(struct gi_vm *vm, uint32_t ss, uint32_t ks)
{
    uint64_t h;
    if (!vm_hash(vm, vm->roots[ks], &h))
        return -1;
    return discard_entry(vm, ss, ks, h);
}

void set_clear(struct gi_vm *vm, V s)
{
    vm_store_ref(vm, s, &fields(s)[SET_KEYS], 0);
    vm_store_ref(vm, s, &fields(s)[SET_HASHES], 0);
    fields(s)[SET_MASK] = SET_MINSIZE - 1;
    fields(s)[SET_FILL] = fields(s)[SET_USED] = fields(s)[SET_FINGER] = 0;
}

/* Next active entry at or after *pos (no allocation). */
bool set_next(struct gi_vm *vm, V s, uint64_t *pos, V *key)
{
    V keys = fields(s)[SET_KEYS];
    if (!keys)
        return false;
    uint64_t mask = fields(s)[SET_MASK];
    for (uint64_t i = *pos; i <= mask; i++) {
        V k = arr_items(keys)[i];
        if (k && k != dummy(vm)) {
            *pos = i + 1;
            *key = k;
            return true;
        }
    }
    *pos = mask + 1;
    return false;
}

bool set_pop(struct gi_vm *vm, uint32_t ss, uint32_t out)
{
    V s = vm->roots[ss];
    if (fields(s)[SET_USED] == 0)
        return vm_raise(vm, B_KEYERROR, "pop from an empty set");
    V keys = fields(s)[SET_KEYS];
    uint64_t mask = fields(s)[SET_MASK];
    uint64_t i = fields(s)[SET_FINGER] & mask;
    while (!arr_items(keys)[i] || arr_items(keys)[i] == dummy(vm))
        i = i + 1 > mask ? 0 : i + 1;
    vm->roots[out] = arr_items(keys)[i];
    vm_store_ref(vm, keys, &arr_items(keys)[i], dummy(vm));
    arr_i64(fields(s)[SET_HASHES])[i] = -1;
    fields(s)[SET_USED]--;
    fields(s)[SET_FINGER] = i + 1;
    return true;
}

/* set_merge: adds every element of the set in os. */
static bool set_merge(struct gi_vm *vm, uint32_t ss, uint32_t os)
{
    V s = vm->roots[ss], o = vm->roots[os];
    if (s == o || fields(o)[SET_USED] == 0)
        return true;
    uint64_t so_used = fields(s)[SET_USED], o_used = fields(o)[SET_USED];
    if ((fields(s)[SET_FILL] + o_used) * 5 >= fields(s)[SET_MASK] * 3) {
        if (!table_resize(vm, ss, (so_used + o_used) * 2))
            return FAIL;
    }
    s = vm->roots[ss];
    o = vm->roots[os];
    if (!fields(s)[SET_KEYS] && !alloc_table(vm, ss, SET_MINSIZE))
        return FAIL;
    s = vm->roots[ss];
    o = vm->roots[os];
    V okeys = fields(o)[SET_KEYS], ohashes = fields(o)[SET_HASHES];
    uint64_t omask = fields(o)[SET_MASK];
    if (fields(s)[SET_FILL] == 0 && fields(s)[SET_MASK] == omask && fields(o)[SET_FILL] == fields(o)[SET_USED]) {
        V keys = fields(s)[SET_KEYS];
        for (uint64_t i = 0; i <= omask; i++) {
            V k = arr_items(okeys)[i];
            if (k) {
                vm_store_ref(vm, keys, &arr_items(keys)[i], k);
                arr_i64(fields(s)[SET_HASHES])[i] = arr_i64(ohashes)[i];
            }
        }
        fields(s)[SET_FILL] = fields(o)[SET_FILL];
        fields(s)[SET_USED] = fields(o)[SET_USED];
        return true;
    }
    if (fields(s)[SET_FILL] == 0) {
        V keys = fields(s)[SET_KEYS], hashes = fields(s)[SET_HASHES];
        uint64_t mask = fields(s)[SET_MASK];
        fields(s)[SET_FILL] = fields(o)[SET_USED];
        fields(s)[SET_USED] = fields(o)[SET_USED];
        for (uint64_t i = 0; i <= omask; i++) {
            V k = arr_items(okeys)[i];
            if (k && k != dummy(vm))
                insert_clean(vm, keys, hashes, mask, k, (uint64_t)arr_i64(ohashes)[i]);
        }
        return true;
    }
    uint32_t t = vm_reserve(vm, 1);
    for (uint64_t i = 0; i <= fields(vm->roots[os])[SET_MASK]; i++) {
        o = vm->roots[os];
        V k = arr_items(fields(o)[SET_KEYS])[i];
        if (k && k != dummy(vm)) {
            vm->roots[t] = k;
            if (add_entry(vm, ss, t, (uint64_t)arr_i64(fields(o)[SET_HASHES])[i]) < 0) {
                vm_release(vm, t);
                return FAIL;
            }
        }
    }
    vm_release(vm, t);
    return true;
}

/* set_update_internal: every element of an iterable (sets and dicts with their
 * stored hashes, as CPython). */
bool set_update(struct gi_vm *vm, uint32_t ss, uint32_t os)
{
    V o = vm->roots[os];
    int k = vm_kind(vm, o);
    if (k == K_SET)
        return set_merge(vm, ss, os);
    uint32_t t = vm_reserve(vm, 2);
    bool ok = true;
    if (k == K_DICT) {
        uint64_t n = fields(o)[DICT_COUNT];
        V s = vm->roots[ss];
        if ((fields(s)[SET_FILL] + n) * 5 >= fields(s)[SET_MASK] * 3)
            ok = table_resize(vm, ss, (fields(s)[SET_USED] + n) * 2);
        for (uint64_t e = 0; ok && e < fields(vm->roots[os])[DICT_USED]; e++) {
            o = vm->roots[os];
            V key = arr_items(fields(o)[DICT_KEYS])[e];
            if (!key)
                continue;
            vm->roots[t] = key;
            ok = add_entry(vm, ss, t, (uint64_t)arr_i64(fields(o)[DICT_HASHES])[e]) >= 0;
        }
    } else {
        vm->roots[t] = o;
        ok = vm_get_iter(vm, t);
        while (ok) {
            int r = vm_next(vm, t, t + 1);
            if (r < 0)
                ok = false;
            if (r <= 0)
                break;
            ok = set_add(vm, ss, t + 1);
        }
    }
    vm_release(vm, t);
    return ok;
}

bool set_copy(struct gi_vm *vm, uint32_t src, uint32_t out, bool frozen)
{
    uint32_t t = vm_reserve(vm, 1);
    V s = vm_new_set(vm, frozen);
    bool ok = s != 0;
    if (ok) {
        vm->roots[t] = s;
        ok = set_update(vm, t, src);
        if (ok)
            vm->roots[out] = vm->roots[t];
    }
    vm_release(vm, t);
    return ok;
}

/* Makes the value in slot a set (for the operators' right operand and the
 * methods that take any iterable). */
static bool as_set(struct gi_vm *vm, uint32_t slot)
{
    if (vm_kind(vm, vm->roots[slot]) == K_SET)
        return true;
    return set_copy(vm, slot, slot, false);
}

static bool intersection(struct gi_vm *vm, uint32_t a, uint32_t b, uint32_t out, bool frozen)
{
    uint32_t t = vm_reserve(vm, 4);
    bool ok = false;
    V r = vm_new_set(vm, frozen);
    if (!r)
        goto done;
    vm->roots[t] = r;
    vm->roots[t + 1] = vm->roots[a];
    vm->roots[t + 2] = vm->roots[b];
    if (vm->roots[t + 1] == vm->roots[t + 2]) {
        ok = set_copy(vm, t + 1, out, frozen);
        goto done;
    }
    if (vm_kind(vm, vm->roots[t + 2]) == K_SET) {
        /* iterate the smaller, look up in the larger */
        if (fields(vm->roots[t + 2])[SET_USED] > fields(vm->roots[t + 1])[SET_USED]) {
            V x = vm->roots[t + 1];
            vm->roots[t + 1] = vm->roots[t + 2];
            vm->roots[t + 2] = x;
        }
        uint64_t pos = 0;
        V key;
        while (set_next(vm, vm->roots[t + 2], &pos, &key)) {
            vm->roots[t + 3] = key;
            uint64_t h = (uint64_t)arr_i64(fields(vm->roots[t + 2])[SET_HASHES])[pos - 1];
            int64_t f = lookkey(vm, t + 1, t + 3, h);
            if (f == -2)
                goto done;
            if (f >= 0 && add_entry(vm, t, t + 3, h) < 0)
                goto done;
        }
    } else {
        if (!vm_get_iter(vm, t + 2))
            goto done;
        for (;;) {
            int n = vm_next(vm, t + 2, t + 3);
            if (n < 0)
                goto done;
            if (!n)
                break;
            uint64_t h;
            if (!vm_hash(vm, vm->roots[t + 3], &h))
                goto done;
            int64_t f = lookkey(vm, t + 1, t + 3, h);
            if (f == -2)
                goto done;
            if (f >= 0 && add_entry(vm, t, t + 3, h) < 0)
                goto done;
        }
    }
    vm->roots[out] = vm->roots[t];
    ok = true;
done:
    vm_release(vm, t);
    return ok;
}

/* Removes every element of the iterable in slot o from the set in slot ss. */
static bool difference_update(struct gi_vm *vm, uint32_t ss, uint32_t o)
{
    if (vm->roots[ss] == vm->roots[o]) {
        set_clear(vm, vm->roots[ss]);
        return true;
    }
    uint32_t t = vm_reserve(vm, 2);
    bool ok = false;
    vm->roots[t] = vm->roots[o];
    if (vm_kind(vm, vm->roots[t]) == K_SET) {
        if ((fields(vm->roots[t])[SET_USED] >> 3) > fields(vm->roots[ss])[SET_USED] &&
            !intersection(vm, ss, t, t, false))
            goto done;
        uint64_t pos = 0;
        V key;
        while (set_next(vm, vm->roots[t], &pos, &key)) {
            vm->roots[t + 1] = key;
            if (discard_entry(vm, ss, t + 1, (uint64_t)arr_i64(fields(vm->roots[t])[SET_HASHES])[pos - 1]) < 0)
                goto done;
        }
    } else {
        if (!vm_get_iter(vm, t))
            goto done;
        for (;;) {
            int n = vm_next(vm, t, t + 1);
            if (n < 0)
                goto done;
            if (!n)
                break;
            if (set_discard(vm, ss, t + 1) < 0)
                goto done;
        }
    }
    V s = vm->roots[ss];
    if (fields(s)[SET_FILL] - fields(s)[SET_USED] > fields(s)[SET_MASK] / 4) {
        uint64_t used = fields(s)[SET_USED];
        if (!table_resize(vm, ss, used > 50000 ? used * 2 : used * 4))
            goto done;
    }
    ok = true;
done:
    vm_release(vm, t);
    return ok;
}

static bool difference(struct gi_vm *vm, uint32_t a, uint32_t b, uint32_t out, bool frozen)
{
    V o = vm->roots[b];
    int k = vm_kind(vm, o);
    uint64_t osize = k == K_SET ? fields(o)[SET_USED] : k == K_DICT ? fields(o)[DICT_COUNT] : 0;
    uint32_t t = vm_reserve(vm, 3);
    bool ok = false;
    if ((k != K_SET && k != K_DICT) || (fields(vm->roots[a])[SET_USED] >> 2) > osize) {
        if (!set_copy(vm, a, t, frozen))
            goto done;
        vm->roots[t + 1] = vm->roots[b];
        if (!difference_update(vm, t, t + 1))
            goto done;
        vm->roots[out] = vm->roots[t];
        ok = true;
        goto done;
    }
    V r = vm_new_set(vm, frozen);
    if (!r)
        goto done;
    vm->roots[t] = r;
    vm->roots[t + 1] = vm->roots[a];
    uint64_t pos = 0;
    V key;
    while (set_next(vm, vm->roots[t + 1], &pos, &key)) {
        vm->roots[t + 2] = key;
        uint64_t h = (uint64_t)arr_i64(fields(vm->roots[t + 1])[SET_HASHES])[pos - 1];
        int in;
        if (k == K_SET) {
            int64_t f = lookkey(vm, b, t + 2, h);
            if (f == -2)
                goto done;
            in = f >= 0;
        } else {
            bool err;
            int64_t f = dict_lookup_hashed(vm, vm->roots[b], vm->roots[t + 2], h, &err);
            if (err)
                goto done;
            in = f >= 0;
        }
        if (!in && add_entry(vm, t, t + 2, h) < 0)
            goto done;
    }
    vm->roots[out] = vm->roots[t];
    ok = true;
done:
    vm_release(vm, t);
    return ok;
}

static bool symdiff_update(struct gi_vm *vm, uint32_t ss, uint32_t o)
{
    if (vm->roots[ss] == vm->roots[o]) {
        set_clear(vm, vm->roots[ss]);
        return true;
    }
    uint32_t t = vm_reserve(vm, 2);
    bool ok = false;
    vm->roots[t] = vm->roots[o];
    if (!as_set(vm, t))
        goto done;
    uint64_t pos = 0;
    V key;
    while (set_next(vm, vm->roots[t], &pos, &key)) {
        vm->roots[t + 1] = key;
        uint64_t h = (uint64_t)arr_i64(fields(vm->roots[t])[SET_HASHES])[pos - 1];
        int r = discard_entry(vm, ss, t + 1, h);
        if (r < 0)
            goto done;
        if (r == 0 && add_entry(vm, ss, t + 1, h) < 0)
            goto done;
    }
    ok = true;
done:
    vm_release(vm, t);
    return ok;
}

/* a OP b into out: '|' union, '&' intersection, '-' difference, '^' symmetric
 * difference; the result has a's type (set or frozenset). */
bool set_binop(struct gi_vm *vm, int op, uint32_t a, uint32_t b, uint32_t out)
{
    bool frozen = fields(vm->roots[a])[SET_FROZEN] != 0;
    uint32_t t = vm_reserve(vm, 2);
    bool ok = false;
    switch (op) {
    case '|':
        if (set_copy(vm, a, t, frozen) && set_update(vm, t, b)) {
            vm->roots[out] = vm->roots[t];
            ok = true;
        }
        break;
    case '&':
        ok = intersection(vm, a, b, out, frozen);
        break;
    case '-':
        ok = difference(vm, a, b, out, frozen);
        break;
    default:
        /* CPython: a copy of b, then symmetric_difference_update with a */
        if (set_copy(vm, b, t, frozen)) {
            vm->roots[t + 1] = vm->roots[a];
            if (symdiff_update(vm, t, t + 1)) {
                vm->roots[out] = vm->roots[t];
                ok = true;
            }
        }
        break;
    }
    vm_release(vm, t);
    return ok;
}

bool set_inplace(struct gi_vm *vm, int op, uint32_t a, uint32_t b)
{
    switch (op) {
    case '|': return set_update(vm, a, b);
    case '-': return difference_update(vm, a, b);
    case '^': return symdiff_update(vm, a, b);
    default: {
        uint32_t t = vm_reserve(vm, 1);
        bool ok = intersection(vm, a, b, t, false);
        if (ok) {
            /* adopt the intersection's table */
            V s = vm->roots[a], r = vm->roots[t];
            vm_store_ref(vm, s, &fields(s)[SET_KEYS], fields(r)[SET_KEYS]);
            vm_store_ref(vm, s, &fields(s)[SET_HASHES], fields(r)[SET_HASHES]);
            fields(s)[SET_MASK] = fields(r)[SET_MASK];
            fields(s)[SET_FILL] = fields(r)[SET_FILL];
            fields(s)[SET_USED] = fields(r)[SET_USED];
            fields(s)[SET_FINGER] = 0;
        }
        vm_release(vm, t);
        return ok;
    }
    }
}

/* Every element of a is in b (both sets). 1, 0, -1 raised. */
static int subset_of(struct gi_vm *vm, uint32_t a, uint32_t b)
{
    if (fields(vm->roots[a])[SET_USED] > fields(vm->roots[b])[SET_USED])
        return 0;
    uint32_t t = vm_reserve(vm, 1);
    uint64_t pos = 0;
    V key;
    int res = 1;
    while (set_next(vm, vm->roots[a], &pos, &key)) {
        vm->roots[t] = key;
        int64_t f = lookkey(vm, b, t, (uint64_t)arr_i64(fields(vm->roots[a])[SET_HASHES])[pos - 1]);
        if (f == -2) {
            res = -1;
            break;
        }
        if (f < 0) {
            res = 0;
            break;
        }
    }
    vm_release(vm, t);
    return res;
}

/* op: 0 <, 1 <=, 2 >, 3 >=, 4 ==. */
int set_compare(struct gi_vm *vm, int op, V a, V b)
{
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = a;
    vm->roots[t + 1] = b;
    uint64_t na = fields(a)[SET_USED], nb = fields(b)[SET_USED];
    int r;
    switch (op) {
    case 0: r = na < nb ? subset_of(vm, t, t + 1) : 0; break;
    case 1: r = subset_of(vm, t, t + 1); break;
    case 2: r = na > nb ? subset_of(vm, t + 1, t) : 0; break;
    case 3: r = subset_of(vm, t + 1, t); break;
    default: r = na == nb ? subset_of(vm, t, t + 1) : 0; break;
    }
    vm_release(vm, t);
    return r;
}

static uint64_t shuffle_bits(uint64_t h)
{
    return ((h ^ 89869747UL) ^ (h << 16)) * 3644798167UL;
}

uint64_t frozenset_hash(struct gi_vm *vm, V s)
{
    if (fields(s)[SET_HASH])
        return fields(s)[SET_HASH] - 1;
    uint64_t hash = 0;
    uint64_t mask = fields(s)[SET_MASK];
    V hashes = fields(s)[SET_HASHES];
    for (uint64_t i = 0; i <= mask; i++)
        hash ^= shuffle_bits(hashes ? (uint64_t)arr_i64(hashes)[i] : 0);
    if ((mask + 1 - fields(s)[SET_FILL]) & 1)
        hash ^= shuffle_bits(0);
    if ((fields(s)[SET_FILL] - fields(s)[SET_USED]) & 1)
        hash ^= shuffle_bits((uint64_t)-1);
    hash ^= (fields(s)[SET_USED] + 1) * 1927868237UL;
    hash ^= (hash >> 11) ^ (hash >> 25);
    hash = hash * 69069U + 907133923UL;
    if (hash == (uint64_t)-1)
        hash = 590923713UL;
    fields(s)[SET_HASH] = hash + 1;
    return hash;
}
