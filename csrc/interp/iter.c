/* iter.c - iteration: iterators over the built-in containers (one K_ITER layout,
 * ITER_TYPE says which), enumerate/zip/map/filter/reversed, generators, and the
 * iterator protocol of user classes (__iter__, __next__, or __getitem__ with
 * indexes from 0 until IndexError). */
#define _GNU_SOURCE
#include <string.h>

#include "interp/interp_impl.h"

#define R (vm->roots)

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

static bool new_iter_into(struct gi_vm *vm, uint32_t slot, int type)
{
    V it = vm_new_iter(vm, type, slot);
    if (!it)
        return FAIL;
    R[slot] = it;
    return true;
}

bool vm_get_iter(struct gi_vm *vm, uint32_t slot)
{
    V v = R[slot];
    int k = vm_kind(vm, v);
    if (k == K_ITER || k == K_GEN)
        return true;
    if (vm_user_class(vm, v) >= 0 && has_special(vm, v, S_ITER)) {
        bool found;
        if (!vm_call_special(vm, S_ITER, slot, slot, 0, slot, &found))
            return FAIL;
        V r = R[slot];
        int rk = vm_kind(vm, r);
        if (rk != K_ITER && rk != K_GEN && !has_special(vm, r, S_NEXT))
            return vm_raise(vm, B_TYPEERROR, "iter() returned non-iterator of type '%s'", vm_type_name(vm, r));
        return true;
    }
    switch (k) {
    case K_LIST: return new_iter_into(vm, slot, IT_LIST);
    case K_TUPLE: return new_iter_into(vm, slot, IT_TUPLE);
    case K_STR: return new_iter_into(vm, slot, IT_STR);
    case K_ARRAY: return new_iter_into(vm, slot, IT_ARRAY);
    case K_RANGE: {
        V it = vm_new_iter(vm, IT_RANGE, 0);
        if (!it)
            return FAIL;
        v = R[slot];
        fields(it)[ITER_POS] = fields(v)[RANGE_START];
        fields(it)[ITER_END] = fields(v)[RANGE_STOP];
        fields(it)[ITER_STEP] = fields(v)[RANGE_STEP];
        R[slot] = it;
        return true;
    }
    case K_DICT: case K_VIEW: {
        uint64_t which = 0;
        if (k == K_VIEW) {
            which = fields(v)[VIEW_WHICH];
            R[slot] = fields(v)[VIEW_DICT];
        }
        V it = vm_new_iter(vm, IT_DICT, slot);
        if (!it)
            return FAIL;
        fields(it)[ITER_END] = which;
        fields(it)[ITER_STEP] = fields(R[slot])[DICT_COUNT];
        R[slot] = it;
        return true;
    }
    case K_SET: {
        V it = vm_new_iter(vm, IT_SET, slot);
        if (!it)
            return FAIL;
        fields(it)[ITER_STEP] = fields(R[slot])[SET_USED];
        R[slot] = it;
        return true;
    }
    default:
        if (has_special(vm, v, S_GETITEM))
            return new_iter_into(vm, slot, IT_SEQ);
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not iterable", vm_type_name(vm, v));
    }
}

static bool one_char(struct gi_vm *vm, V s, uint64_t pos, uint64_t *end, uint32_t out)
{
    uint64_t n = str_nbytes(s), e = pos + 1;
    while (e < n && ((unsigned char)str_ptr(s)[e] & 0xC0) == 0x80)
        e++;
    *end = e;
    char ch[8];
    memcpy(ch, str_ptr(s) + pos, e - pos);
    V c = vm_new_str(vm, ch, e - pos);
    if (!c)
        return FAIL;
    R[out] = c;
    return true;
}

static V box_array_item(struct gi_vm *vm, V a, uint64_t i)
{
    char code = (char)fields(a)[ARRAY_CODE];
    V data = fields(a)[ARRAY_DATA];
    if (code == 'd' || code == 'f')
        return vm_new_float(vm, arr_f64(data)[i]);
    return vm_new_int(vm, arr_i64(data)[i]);
}

V vm_array_item(struct gi_vm *vm, V a, uint64_t i) { return box_array_item(vm, a, i); }

/* next() of the iterator in it_slot into out: 1 item, 0 exhausted, -1 raised. */
int vm_next(struct gi_vm *vm, uint32_t it_slot, uint32_t out)
{
    vm_native_step(vm);   /* callers hold values in slots: vm_next may run code */
    V it = R[it_slot];
    int k = vm_kind(vm, it);
    if (k == K_GEN) {
        int r = gen_resume(vm, it_slot, 0, out);
        return r == RUN_YIELDED ? 1 : r == RUN_RETURNED ? 0 : -1;
    }
    if (k != K_ITER) {
        bool found;
        if (vm_call_special(vm, S_NEXT, it_slot, it_slot, 0, out, &found))
            return 1;
        if (!found)
            return vm_raise(vm, B_TYPEERROR, "'%s' object is not an iterator", vm_type_name(vm, it)), -1;
        if (vm_exc_matches(vm, R[vm->r_exc], B_STOPITERATION)) {
            vm_clear_exc(vm);
            return 0;
        }
        return -1;
    }
    uint64_t pos = fields(it)[ITER_POS];
    V seq = fields(it)[ITER_SEQ];
    switch (fields(it)[ITER_TYPE]) {
    case IT_LIST:
        if (pos >= fields(seq)[LIST_LEN])
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        R[out] = arr_items(fields(seq)[LIST_ITEMS])[pos];
        return 1;
    case IT_TUPLE:
        if (pos >= arr_len(seq))
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        R[out] = arr_items(seq)[pos];
        return 1;
    case IT_STR: {
        if (pos >= str_nbytes(seq))
            return 0;
        uint64_t end;
        if (!one_char(vm, seq, pos, &end, out))
            return -1;
        fields(R[it_slot])[ITER_POS] = end;
        return 1;
    }
    case IT_RANGE: {
        int64_t cur = (int64_t)pos, end = (int64_t)fields(it)[ITER_END], step = (int64_t)fields(it)[ITER_STEP];
        if (step > 0 ? cur >= end : cur <= end)
            return 0;
        int64_t next;
        if (__builtin_add_overflow(cur, step, &next))
            next = step > 0 ? INT64_MAX : INT64_MIN;
        fields(it)[ITER_POS] = (V)next;
        V v = vm_new_int(vm, cur);
        if (!v)
            return -1;
        R[out] = v;
        return 1;
    }
    case IT_DICT: {
        if (fields(seq)[DICT_COUNT] != fields(it)[ITER_STEP]) {
            fields(it)[ITER_STEP] = (V)-1;
            vm_raise(vm, B_RUNTIMEERROR, "dictionary changed size during iteration");
            return -1;
        }
        uint64_t used = fields(seq)[DICT_USED];
        while (pos < used && !arr_items(fields(seq)[DICT_KEYS])[pos])
            pos++;
        if (pos >= used)
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        uint64_t which = fields(it)[ITER_END];
        if (which == 0) {
            R[out] = arr_items(fields(seq)[DICT_KEYS])[pos];
        } else if (which == 1) {
            R[out] = arr_items(fields(seq)[DICT_VALS])[pos];
        } else {
            V t = vm_new_tuple(vm, 2);
            if (!t)
                return -1;
            seq = fields(R[it_slot])[ITER_SEQ];
            vm_store_ref(vm, t, &arr_items(t)[0], arr_items(fields(seq)[DICT_KEYS])[pos]);
            vm_store_ref(vm, t, &arr_items(t)[1], arr_items(fields(seq)[DICT_VALS])[pos]);
            R[out] = t;
        }
        return 1;
    }
    case IT_SET: {
        if (fields(seq)[SET_USED] != fields(it)[ITER_STEP]) {
            fields(it)[ITER_STEP] = (V)-1;
            vm_raise(vm, B_RUNTIMEERROR, "Set changed size during iteration");
            return -1;
        }
        V key;
        if (!set_next(vm, seq, &pos, &key)) {
            fields(it)[ITER_POS] = pos;
            return 0;
        }
        fields(it)[ITER_POS] = pos;
        R[out] = key;
        return 1;
    }
    case IT_ARRAY: {
        if (pos >= fields(seq)[ARRAY_LEN])
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        V v = box_array_item(vm, seq, pos);
        if (!v)
            return -1;
        R[out] = v;
        return 1;
    }
    case IT_REVERSED: {
        /* pos counts down; ITER_END holds index + 1 of the next item (0: done) */
        uint64_t i1 = fields(it)[ITER_END];
        int sk = vm_kind(vm, seq);
        uint64_t len = sk == K_LIST ? fields(seq)[LIST_LEN] : sk == K_TUPLE ? arr_len(seq) : 0;
        if (i1 == 0 || i1 > len) {
            fields(it)[ITER_END] = 0;
            return 0;
        }
        fields(it)[ITER_END] = i1 - 1;
        R[out] = sk == K_LIST ? arr_items(fields(seq)[LIST_ITEMS])[i1 - 1] : arr_items(seq)[i1 - 1];
        return 1;
    }
    case IT_ENUMERATE: {
        uint32_t t = vm_reserve(vm, 3);
        R[t] = seq;
        int r = vm_next(vm, t, t + 1);
        if (r == 1) {
            it = R[it_slot];
            V n = vm_new_int(vm, (int64_t)fields(it)[ITER_POS]);
            V tup = 0;
            if (n) {
                R[t + 2] = n;
                tup = vm_new_tuple(vm, 2);
            }
            if (tup) {
                vm_store_ref(vm, tup, &arr_items(tup)[0], R[t + 2]);
                vm_store_ref(vm, tup, &arr_items(tup)[1], R[t + 1]);
                fields(R[it_slot])[ITER_POS]++;
                R[out] = tup;
            } else {
                r = -1;
            }
        }
        vm_release(vm, t);
        return r;
    }
    case IT_ZIP: {
        uint32_t n = arr_len(seq);
        if (fields(it)[ITER_END])
            return 0;
        uint32_t t = vm_reserve(vm, n + 2);
        int r = 1;
        for (uint32_t i = 0; i < n && r == 1; i++) {
            R[t + n] = arr_items(fields(R[it_slot])[ITER_SEQ])[i];
            r = vm_next(vm, t + n, t + i);
        }
        if (r == 1) {
            V tup = vm_new_tuple(vm, n);
            if (!tup) {
                r = -1;
            } else {
                for (uint32_t i = 0; i < n; i++)
                    vm_store_ref(vm, tup, &arr_items(tup)[i], R[t + i]);
                R[out] = tup;
            }
        } else if (r == 0) {
            fields(R[it_slot])[ITER_END] = 1;
        }
        vm_release(vm, t);
        return r;
    }
    case IT_MAP: {
        uint32_t n = arr_len(seq);
        uint32_t t = vm_reserve(vm, n + 2);
        R[t] = fields(it)[ITER_A];
        int r = 1;
        for (uint32_t i = 0; i < n && r == 1; i++) {
            R[t + n + 1] = arr_items(fields(R[it_slot])[ITER_SEQ])[i];
            r = vm_next(vm, t + n + 1, t + 1 + i);
        }
        if (r == 1 && !vm_call(vm, t, n, 0, out))
            r = -1;
        vm_release(vm, t);
        return r;
    }
    case IT_FILTER: {
        uint32_t t = vm_reserve(vm, 4);
        int r;
        for (;;) {
            R[t] = fields(R[it_slot])[ITER_SEQ];
            r = vm_next(vm, t, t + 1);
            if (r != 1)
                break;
            V f = fields(R[it_slot])[ITER_A];
            int truth;
            if (vm_kind(vm, f) == K_NONE) {
                truth = vm_truthy(vm, R[t + 1]);
            } else {
                R[t + 2] = f;
                R[t + 3] = R[t + 1];
                if (!vm_call(vm, t + 2, 1, 0, t + 2)) {
                    r = -1;
                    break;
                }
                truth = vm_truthy(vm, R[t + 2]);
            }
            if (truth < 0) {
                r = -1;
                break;
            }
            if (truth) {
                R[out] = R[t + 1];
                break;
            }
        }
        vm_release(vm, t);
        return r;
    }
    case IT_SEQ: {
        if (fields(it)[ITER_END])
            return 0;
        uint32_t t = vm_reserve(vm, 2);
        R[t] = seq;
        V i = vm_new_int(vm, (int64_t)pos);
        int r = -1;
        if (i) {
            R[t + 1] = i;
            if (vm_getitem(vm, t, t + 1, out)) {
                fields(R[it_slot])[ITER_POS]++;
                r = 1;
            } else if (vm_exc_matches(vm, R[vm->r_exc], B_INDEXERROR) ||
                       vm_exc_matches(vm, R[vm->r_exc], B_STOPITERATION)) {
                vm_clear_exc(vm);
                fields(R[it_slot])[ITER_END] = 1;
                r = 0;
            }
        }
        vm_release(vm, t);
        return r;
    }
    case IT_CALLABLE: {
        if (fields(it)[ITER_END])
            return 0;
        uint32_t t = vm_reserve(vm, 2);
        R[t] = seq;
        int r = -1;
        if (vm_call(vm, t, 0, 0, t + 1)) {
            int eq = vm_equal(vm, R[t + 1], fields(R[it_slot])[ITER_A]);
            if (eq == 1) {
                fields(R[it_slot])[ITER_END] = 1;
                r = 0;
            } else if (eq == 0) {
                R[out] = R[t + 1];
                r = 1;
            }
        }
        vm_release(vm, t);
        return r;
    }
    default:
        return 0;
    }
}

/* Appends every item of the iterable in src to the list in list_slot. */
bool vm_iterate_into_list(struct gi_vm *vm, uint32_t src, uint32_t list_slot)
{
    V v = R[src];
    V *items;
    uint64_t n;
    if (vm_seq(vm, v, &items, &n) && vm_user_class(vm, v) < 0) {
        uint64_t len = fields(R[list_slot])[LIST_LEN];
        if (!list_reserve(vm, list_slot, len + n))
            return FAIL;
        v = R[src];
        uint32_t t = vm_reserve(vm, 2);
        R[t] = vm_kind(vm, v) == K_LIST ? fields(v)[LIST_ITEMS] : v;   /* its items' array */
        R[t + 1] = fields(R[list_slot])[LIST_ITEMS];
        vm_copy_refs_polling(vm, t + 1, len, t, 0, n);
        fields(R[list_slot])[LIST_LEN] = len + n;
        vm_release(vm, t);
        return true;
    }
    uint32_t t = vm_reserve(vm, 2);
    R[t] = v;
    bool ok = vm_get_iter(vm, t);
    while (ok) {
        int r = vm_next(vm, t, t + 1);
        if (r < 0)
            ok = false;
        if (r <= 0)
            break;
        ok = list_append(vm, list_slot, t + 1);
    }
    vm_release(vm, t);
    return ok;
}

bool vm_to_list(struct gi_vm *vm, uint32_t src, uint32_t out)
{
    uint32_t t = vm_reserve(vm, 1);
    V v = R[src];
    int k = vm_kind(vm, v);
    uint64_t hint = k == K_LIST ? fields(v)[LIST_LEN] : k == K_TUPLE ? arr_len(v) : 4;
    V l = vm_new_list(vm, hint);
    bool ok = l != 0;
    if (ok) {
        R[t] = l;
        ok = vm_iterate_into_list(vm, src, t);
        if (ok)
            R[out] = R[t];
    }
    vm_release(vm, t);
    return ok;
}

bool vm_to_seq(struct gi_vm *vm, uint32_t slot)
{
    int k = vm_kind(vm, R[slot]);
    if (k == K_LIST || k == K_TUPLE)
        return true;
    return vm_to_list(vm, slot, slot);
}
