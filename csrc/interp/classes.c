/* classes.c - names, classes, instances and attribute lookup.
 *
 * A class is a heap object (name, bases, MRO tuple, namespace dict) plus a C-side
 * struct gi_class: the runtime class of its instances and the attribute table of
 * those instances (name ids in slot order; per class, like CPython's shared-key
 * dictionaries). A K_INST instance keeps its first `inline_cap` attributes in
 * reference fields of its own and the rest in an overflow ref array; instances
 * of list/dict/set/exception subclasses keep theirs in the overflow array.
 * The inline capacity is estimated when the class is built, from the attributes
 * its methods assign to `self` (LOAD_LOCAL 0; STORE_ATTR n in their code).
 *
 * Lookup: attr_resolve() answers "what is obj.name" for a receiver key (its
 * runtime class; class objects, modules and type objects have keys of their
 * own) as a struct gi_attr: an instance slot, a class attribute (kept in
 * vm->resolved, a root-visited array), a native method, a module global. The
 * answers are memoised per (key, name) and cached per instruction by the loop;
 * both are dropped when a class's namespace changes (vm->class_version).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"
#include "interp/opcodes.h"

const char *const gi_special_names[S_COUNT] = {
    "__init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__hash__", "__bool__", "__len__", "__getitem__", "__setitem__", "__delitem__", "__contains__",
    "__iter__", "__next__", "__call__", "__getattr__", "__enter__", "__exit__", "__neg__", "__pos__",
    "__invert__", "__abs__", "__index__", "__int__", "__float__", "__format__", "__setattr__", "__new__",
    "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__lshift__",
    "__rshift__", "__and__", "__or__", "__xor__",
    "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__", "__rmod__", "__rpow__",
    "__rlshift__", "__rrshift__", "__rand__", "__ror__", "__rxor__",
    "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
    "__ilshift__", "__irshift__", "__iand__", "__ior__", "__ixor__",
};

/* ---- interned names */

uint32_t vm_intern_n(struct gi_vm *vm, const char *name, size_t n)
{
    uint64_t h = hash_bytes(name, n);
    if (vm->name_table_cap) {
        uint32_t mask = vm->name_table_cap - 1;
        for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
            uint32_t e = vm->name_table[i];
            if (!e)
                break;
            const char *s = vm->names[e - 1];
            if (vm->name_hashes[e - 1] == h && strlen(s) == n && !memcmp(s, name, n))
                return e - 1;
        }
    }
    if (vm->nnames == vm->capnames) {
        uint32_t cap = vm->capnames ? vm->capnames * 2 : 256;
        char **p = realloc(vm->names, cap * sizeof *p);
        uint64_t *hp = realloc(vm->name_hashes, cap * sizeof *hp);
        int32_t *bp = realloc(vm->name_builtin, cap * sizeof *bp);
        if (p) vm->names = p;
        if (hp) vm->name_hashes = hp;
        if (bp) vm->name_builtin = bp;
        V *sp = realloc(vm->name_strs, cap * sizeof *sp);
        if (sp)
            vm->name_strs = sp;
        if (!p || !hp || !bp || !sp)
            vm_fatal(vm, ENOMEM, "interning a name");
        vm->capnames = cap;
    }
    if ((vm->nnames + 1) * 2 > vm->name_table_cap) {
        uint32_t cap = vm->name_table_cap ? vm->name_table_cap * 2 : 1024;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t)
            vm_fatal(vm, ENOMEM, "interning a name");
        for (uint32_t id = 0; id < vm->nnames; id++) {
            uint32_t i = (uint32_t)vm->name_hashes[id] & (cap - 1);
            while (t[i])
                i = (i + 1) & (cap - 1);
            t[i] = id + 1;
        }
        free(vm->name_table);
        vm->name_table = t;
        vm->name_table_cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        vm_fatal(vm, ENOMEM, "interning a name");
    memcpy(copy, name, n);
    copy[n] = 0;
    uint32_t id = vm->nnames++;
    vm->names[id] = copy;
    vm->name_hashes[id] = h;
    vm->name_builtin[id] = -1;
    vm->name_strs[id] = 0;
    uint32_t mask = vm->name_table_cap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (vm->name_table[i])
        i = (i + 1) & mask;
    vm->name_table[i] = id + 1;
    return id;
}

uint32_t vm_intern(struct gi_vm *vm, const char *name)
{
    return vm_intern_n(vm, name, strlen(name));
}

V vm_str_from_name(struct gi_vm *vm, uint32_t id)
{
    if (vm->name_strs[id])
        return vm->name_strs[id];
    V s = vm_new_str(vm, vm->names[id], strlen(vm->names[id]));
    if (s) {
        fields(s)[STR_HASH] = vm->name_hashes[id] + 1;
        vm->name_strs[id] = s;
    }
    return s;
}

/* Entry of str key (bytes s, hash h) in dict d, or -1. Never allocates, never runs
 * program code: only str keys are compared. */
int64_t dict_find_name(struct gi_vm *vm, V d, uint32_t name_id)
{
    V index = fields(d)[DICT_INDEX];
    if (!index)
        return -1;
    uint64_t h = vm->name_hashes[name_id];
    const char *s = vm->names[name_id];
    size_t n = strlen(s);
    uint64_t mask = arr_len(index) - 1, i = h & mask, perturb = h;
    for (;;) {
        int64_t e = arr_i64(index)[i];
        if (e == -1)
            return -1;
        if (e >= 0 && (uint64_t)arr_i64(fields(d)[DICT_HASHES])[e] == h) {
            V k = arr_items(fields(d)[DICT_KEYS])[e];
            if (vm_kind(vm, k) == K_STR && str_nbytes(k) == n && !memcmp(str_ptr(k), s, n))
                return e;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
}

/* ---- methods of built-in types: (kind, name id) -> native id */

static int kind_of_type_prefix(const char *name, size_t n)
{
    static const struct { const char *p; int k; } m[] = {
        {"int", K_INT}, {"float", K_FLOAT}, {"str", K_STR}, {"list", K_LIST}, {"tuple", K_TUPLE},
        {"dict", K_DICT}, {"set", K_SET}, {"frozenset", K_SET + 100}, {"generator", K_GEN},
        {"BaseException", K_EXC}, {"range", K_RANGE}, {"property", K_WRAP},
        {"TextIOWrapper", K_FILE}, {"array", K_ARRAY}, {"object", -100}};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (strlen(m[i].p) == n && !memcmp(m[i].p, name, n))
            return m[i].k;
    return -1;
}

/* The map is open addressing over (slot kind * 2^20 + name id) -> native id + 1;
 * slot kind: a K_* value, K_SET + 100 for frozensets, -100 (stored as 127) for object. */
static uint32_t mkey(int k, uint32_t name) { return (uint32_t)(k < 0 ? 127 : k) << 20 | name; }

static void method_map_put(struct gi_vm *vm, uint32_t key, int32_t id)
{
    uint32_t mask = vm->method_cap - 1;
    uint32_t i = (key * 2654435761u) & mask;
    while (vm->method_of[2 * i + 1])
        i = (i + 1) & mask;
    vm->method_of[2 * i] = (int32_t)key;
    vm->method_of[2 * i + 1] = id + 1;
}

void build_method_map(struct gi_vm *vm)
{
    vm->method_cap = 1024;
    vm->method_of = calloc(2 * vm->method_cap, sizeof(int32_t));
    if (!vm->method_of)
        vm_fatal(vm, ENOMEM, "method table");
    for (uint32_t id = 0; id < N_COUNT; id++) {
        if (!(gi_natives[id].flags & N_METHOD))
            continue;
        const char *name = gi_natives[id].name;
        const char *dot = strrchr(name, '.');
        int k = kind_of_type_prefix(name, (size_t)(dot - name));
        if (k == -1)
            continue;
        method_map_put(vm, mkey(k, vm_intern(vm, dot + 1)), (int32_t)id);
    }
}

static int32_t method_map_get(struct gi_vm *vm, uint32_t key)
{
    uint32_t mask = vm->method_cap - 1;
    for (uint32_t i = (key * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (!vm->method_of[2 * i + 1])
            return -1;
        if ((uint32_t)vm->method_of[2 * i] == key)
            return vm->method_of[2 * i + 1] - 1;
    }
}

/* The native method `name` of built-in values of kind k (frozen: frozenset), with
 * object's methods last. */
static int32_t native_method_of(struct gi_vm *vm, int k, bool frozen, uint32_t name_id)
{
    int32_t id = -1;
    if (k == K_BOOL)
        k = K_INT;
    if (k >= 0)
        id = method_map_get(vm, mkey(frozen ? K_SET + 100 : k, name_id));
    if (id < 0)
        id = method_map_get(vm, mkey(-100, name_id));
    return id;
}

int32_t builtin_method(struct gi_vm *vm, int kind, uint32_t name_id)
{
    return native_method_of(vm, kind, false, name_id);
}

/* ---- builtin types as classes: kind of their instances and their MRO */

static int kind_of_builtin_type(uint32_t id)
{
    switch (id) {
    case B_OBJECT: return K_INST;
    case B_LIST: return K_LIST;
    case B_DICT: return K_DICT;
    case B_SET: return K_SET;
    case B_FROZENSET: return K_SET + 100;
    case B_INT: return K_INT;
    case B_BOOL: return K_BOOL;
    case B_FLOAT: return K_FLOAT;
    case B_STR: return K_STR;
    case B_TUPLE: return K_TUPLE;
    case B_RANGE: return K_RANGE;
    case T_ARRAY: return K_ARRAY;
    default:
        if (id >= B_FIRST_EXC && id <= B_LAST_EXC)
            return K_EXC;
        return -1;
    }
}

static bool is_type_object(struct gi_vm *vm, V v)
{
    int k = vm_kind(vm, v);
    return k == K_CLASS || (k == K_BUILTIN && (gi_natives[fields(v)[BUILTIN_ID]].flags & N_TYPE));
}

/* ---- the memo: (key, name) -> gi_attr, valid for one class_version */

struct gi_memo_entry { uint32_t key, name, index; uint16_t kind, used; };
struct gi_memo { uint32_t cap, n; struct gi_memo_entry *e; };

void memo_free(struct gi_vm *vm)
{
    if (vm->memo) {
        free(vm->memo->e);
        free(vm->memo);
        vm->memo = NULL;
    }
}

static void memo_clear(struct gi_vm *vm)
{
    if (vm->memo && vm->memo->e) {
        memset(vm->memo->e, 0, vm->memo->cap * sizeof *vm->memo->e);
        vm->memo->n = 0;
    }
    if (vm->resolved && vm->nresolved)
        memset(vm->resolved, 0, vm->nresolved * sizeof(V));
    vm->nresolved = 0;
}

static struct gi_memo_entry *memo_find(struct gi_vm *vm, uint32_t key, uint32_t name, bool insert)
{
    struct gi_memo *m = vm->memo;
    if (!m) {
        m = vm->memo = calloc(1, sizeof *m);
        if (!m)
            vm_fatal(vm, ENOMEM, "attribute memo");
    }
    if (insert && (m->n + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        struct gi_memo_entry *e = calloc(cap, sizeof *e);
        if (!e)
            vm_fatal(vm, ENOMEM, "attribute memo");
        for (uint32_t i = 0; i < m->cap; i++) {
            if (!m->e[i].used)
                continue;
            uint32_t j = (m->e[i].key * 31 + m->e[i].name) * 2654435761u & (cap - 1);
            while (e[j].used)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (key * 31 + name) * 2654435761u & mask;; i = (i + 1) & mask) {
        struct gi_memo_entry *e = &m->e[i];
        if (!e->used) {
            if (!insert)
                return NULL;
            e->used = 1;
            e->key = key;
            e->name = name;
            m->n++;
            return e;
        }
        if (e->key == key && e->name == name)
            return e;
    }
}

static uint32_t resolved_add(struct gi_vm *vm, V v)
{
    if (vm->nresolved == vm->capresolved) {
        uint32_t cap = vm->capresolved ? vm->capresolved * 2 : 256;
        V *p = realloc(vm->resolved, cap * sizeof(V));
        if (!p)
            vm_fatal(vm, ENOMEM, "attribute cache");
        memset(p + vm->capresolved, 0, (cap - vm->capresolved) * sizeof(V));
        vm->resolved = p;
        vm->capresolved = cap;
    }
    vm->resolved[vm->nresolved] = v;
    return vm->nresolved++;
}

/* ---- class lookup along the MRO (no allocation, no program code) */

static int class_lookup_in(struct gi_vm *vm, V mro, uint32_t from, uint32_t name_id, V *out, V *owner)
{
    uint32_t n = arr_len(mro);
    for (uint32_t i = from; i < n; i++) {
        V c = arr_items(mro)[i];
        if (vm_kind(vm, c) == K_CLASS) {
            V d = fields(c)[CLASS_DICT];
            int64_t e = dict_find_name(vm, d, name_id);
            if (e >= 0) {
                *out = arr_items(fields(d)[DICT_VALS])[e];
                if (owner)
                    *owner = c;
                return 1;
            }
        } else {
            int k = kind_of_builtin_type((uint32_t)fields(c)[BUILTIN_ID]);
            int32_t id = k == K_SET + 100 ? native_method_of(vm, K_SET, true, name_id)
                                          : native_method_of(vm, k == K_INST ? -100 : k, false, name_id);
            if (k == K_INST)
                id = method_map_get(vm, mkey(-100, name_id));
            if (id >= 0) {
                *out = vm->roots[vm->r_builtins + id];
                if (owner)
                    *owner = c;
                return 1;
            }
        }
    }
    return 0;
}

int vm_mro_lookup(struct gi_vm *vm, V mro, uint32_t from, uint32_t name_id, V *out)
{
    return class_lookup_in(vm, mro, from, name_id, out, NULL);
}

int vm_class_lookup(struct gi_vm *vm, V cls, uint32_t name_id, V *out)
{
    return class_lookup_in(vm, fields(cls)[CLASS_MRO], 0, name_id, out, NULL);
}

V vm_special(struct gi_vm *vm, V obj, int s)
{
    int c = vm_user_class(vm, obj);
    if (c < 0 || !(vm->classes[c].specials >> s & 1))
        return 0;
    V f;
    if (vm_class_lookup(vm, vm->class_objs[c], vm->special_ids[s], &f) == 1)
        return f;
    return 0;
}

/* Specials a class's own MRO defines in Python (a user class first). */
static uint64_t compute_specials(struct gi_vm *vm, V cls)
{
    uint64_t bits = 0;
    V mro = fields(cls)[CLASS_MRO];
    for (int s = 0; s < S_COUNT; s++) {
        for (uint32_t i = 0; i < arr_len(mro); i++) {
            V c = arr_items(mro)[i];
            if (vm_kind(vm, c) != K_CLASS)
                break;   /* a built-in base: its behaviour is native */
            if (dict_find_name(vm, fields(c)[CLASS_DICT], vm->special_ids[s]) >= 0) {
                bits |= 1ULL << s;
                break;
            }
        }
    }
    return bits;
}

void classes_invalidate(struct gi_vm *vm)
{
    vm->class_version++;
    memo_clear(vm);
    for (uint32_t i = 0; i < vm->nclasses; i++)
        if (vm->class_objs[i])
            vm->classes[i].specials = compute_specials(vm, vm->class_objs[i]);
}

/* ---- instance attributes */

int class_key_index(struct gi_vm *vm, int c, uint32_t name_id)
{
    struct gi_class *k = &vm->classes[c];
    for (uint32_t i = 0; i < k->nkeys; i++)
        if (k->keys[i] == name_id)
            return (int)i;
    return -1;
}

static int class_add_key(struct gi_vm *vm, int c, uint32_t name_id)
{
    struct gi_class *k = &vm->classes[c];
    if (k->nkeys == k->capkeys) {
        uint32_t cap = k->capkeys ? k->capkeys * 2 : 8;
        uint32_t *p = realloc(k->keys, cap * sizeof *p);
        if (!p)
            vm_fatal(vm, ENOMEM, "attribute table");
        k->keys = p;
        k->capkeys = cap;
    }
    k->keys[k->nkeys] = name_id;
    return (int)k->nkeys++;
}

static int overflow_field(int kind)
{
    switch (kind) {
    case K_LIST: return LIST_ATTRS;
    case K_DICT: return DICT_ATTRS;
    case K_SET: return SET_ATTRS;
    case K_EXC: return EXC_ATTRS;
    case K_ARRAY: return ARRAY_ATTRS;
    default: return INST_OVERFLOW;
    }
}

V *inst_attr_slot(struct gi_vm *vm, V obj, uint32_t index)
{
    int c = vm_user_class(vm, obj);
    if (c < 0)
        return NULL;
    int kind = vm_kind(vm, obj);
    uint32_t cap = kind == K_INST ? vm->classes[c].inline_cap : 0;
    if (index < cap)
        return &fields(obj)[INST_INLINE + index];
    V ov = fields(obj)[overflow_field(kind)];
    if (!ov || index - cap >= arr_len(ov))
        return NULL;
    return &arr_items(ov)[index - cap];
}

/* Makes room for attribute `index` of the instance in slot s. */
static bool ensure_attr_slot(struct gi_vm *vm, uint32_t s, uint32_t index)
{
    V obj = vm->roots[s];
    int c = vm_user_class(vm, obj);
    int kind = vm_kind(vm, obj);
    uint32_t cap = kind == K_INST ? vm->classes[c].inline_cap : 0;
    if (index < cap)
        return true;
    int f = overflow_field(kind);
    V ov = fields(obj)[f];
    uint32_t need = index - cap + 1;
    if (ov && need <= arr_len(ov))
        return true;
    uint32_t n = vm->classes[c].nkeys - cap;
    if (n < need)
        n = need;
    if (ov && n < 2 * arr_len(ov))
        n = 2 * arr_len(ov);
    V bigger = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, n);
    if (!bigger)
        return FAIL;
    obj = vm->roots[s];
    ov = fields(obj)[f];
    if (ov)
        vm_copy_refs(vm, bigger, arr_items(bigger), arr_items(ov), arr_len(ov));
    vm_store_ref(vm, obj, &fields(obj)[f], bigger);
    return true;
}

/* ---- receivers and resolution */

uint32_t attr_key(struct gi_vm *vm, V obj)
{
    int k = vm_kind(vm, obj);
    if (k == K_CLASS)
        return KEY_CLASS | (uint32_t)fields(obj)[CLASS_INDEX];
    if (k == K_MODULE)
        return KEY_MODULE | (uint32_t)fields(obj)[MODULE_INDEX];
    if (k == K_BUILTIN && (gi_natives[fields(obj)[BUILTIN_ID]].flags & N_TYPE))
        return KEY_TYPE | (uint32_t)fields(obj)[BUILTIN_ID];
    return cls_of(obj);
}

int module_global(struct gi_vm *vm, uint32_t m, uint32_t name_id)
{
    struct gi_module *mod = &vm->modules[m];
    const char *name = vm->names[name_id];
    for (uint32_t i = 0; i < mod->nglobals; i++)
        if (!strcmp(vm->global_names[mod->global_start + i], name))
            return (int)(mod->global_start + i);
    return -1;
}

/* What a class attribute found in a class dict means for an instance. */
static void classify(struct gi_vm *vm, V v, bool on_class, struct gi_attr *a)
{
    int k = vm_kind(vm, v);
    if (k == K_WRAP) {
        uint64_t w = fields(v)[WRAP_WHICH];
        if (w == W_STATIC) {
            a->kind = CA_VALUE;
            a->index = resolved_add(vm, fields(v)[WRAP_A]);
            return;
        }
        if (w == W_CLASS) {
            a->kind = CA_CLASSMETHOD;
            a->index = resolved_add(vm, fields(v)[WRAP_A]);
            return;
        }
        a->kind = on_class ? CA_VALUE : CA_PROPERTY;
        a->index = resolved_add(vm, v);
        return;
    }
    if (k == K_FUNC && !on_class) {
        a->kind = CA_METHOD;
        a->index = resolved_add(vm, v);
        return;
    }
    if (k == K_BUILTIN && (gi_natives[fields(v)[BUILTIN_ID]].flags & N_METHOD) && !on_class) {
        a->kind = CA_NATIVE_METHOD;
        a->index = (uint32_t)fields(v)[BUILTIN_ID];
        return;
    }
    a->kind = CA_VALUE;
    a->index = resolved_add(vm, v);
}

static int resolve_uncached(struct gi_vm *vm, V obj, uint32_t key, uint32_t name_id, struct gi_attr *a)
{
    int k = vm_kind(vm, obj);
    V v;
    if (key & KEY_MODULE && !(key & KEY_CLASS)) {
        int g = module_global(vm, key & ~KEY_MODULE, name_id);
        if (g < 0)
            return 0;
        a->kind = CA_MODULE;
        a->index = (uint32_t)g;
        return 1;
    }
    if (key & KEY_CLASS) {
        if (class_lookup_in(vm, fields(obj)[CLASS_MRO], 0, name_id, &v, NULL) != 1)
            return 0;
        if (vm_kind(vm, v) == K_WRAP && fields(v)[WRAP_WHICH] == W_CLASS) {
            a->kind = CA_CLASSMETHOD;
            a->index = resolved_add(vm, fields(v)[WRAP_A]);
            return 1;
        }
        classify(vm, v, true, a);
        return 1;
    }
    if (key & KEY_TYPE && !(key & (KEY_CLASS | KEY_MODULE))) {
        uint32_t tid = key & ~KEY_TYPE;
        int tk = kind_of_builtin_type(tid);
        if (tk == -1)
            return 0;
        int32_t id = tk == K_SET + 100 ? native_method_of(vm, K_SET, true, name_id)
                                       : native_method_of(vm, tk == K_INST ? -100 : tk, false, name_id);
        if (id < 0)
            return 0;
        a->kind = id == M_DICT_FROMKEYS ? CA_NATIVE_METHOD : CA_VALUE;
        a->index = id == M_DICT_FROMKEYS ? (uint32_t)id : resolved_add(vm, vm->roots[vm->r_builtins + id]);
        return 1;
    }
    int c = vm_user_class(vm, obj);
    if (c >= 0) {
        V owner;
        int found = class_lookup_in(vm, fields(vm->class_objs[c])[CLASS_MRO], 0, name_id, &v, &owner);
        if (found && vm_kind(vm, v) == K_WRAP && fields(v)[WRAP_WHICH] == W_PROPERTY) {
            a->kind = CA_PROPERTY;
            a->index = resolved_add(vm, v);
            return 1;
        }
        int slot = class_key_index(vm, c, name_id);
        if (slot >= 0) {
            a->kind = CA_SLOT;
            a->index = (uint32_t)slot;
            return 1;
        }
        if (found) {
            classify(vm, v, false, a);
            return 1;
        }
        return 0;
    }
    /* a built-in value */
    int32_t id = native_method_of(vm, k, k == K_SET && fields(obj)[SET_FROZEN], name_id);
    if (id < 0)
        return 0;
    a->kind = CA_NATIVE_METHOD;
    a->index = (uint32_t)id;
    return 1;
}

int attr_resolve(struct gi_vm *vm, V obj, uint32_t key, uint32_t name_id, struct gi_attr *out)
{
    struct gi_memo_entry *e = memo_find(vm, key, name_id, false);
    if (e) {
        out->kind = e->kind;
        out->index = e->index;
        return e->kind != CA_NONE;
    }
    struct gi_attr a = {CA_NONE, 0};
    int r = resolve_uncached(vm, obj, key, name_id, &a);
    e = memo_find(vm, key, name_id, true);
    e->kind = r ? a.kind : CA_NONE;
    e->index = a.index;
    *out = a;
    return r;
}

/* A bound method object (self, func) into out. */
static bool make_bound(struct gi_vm *vm, uint32_t self_slot, V func_or_0, uint32_t func_slot, uint32_t out)
{
    uint32_t t = vm_reserve(vm, 2);
    vm->roots[t] = vm->roots[self_slot];
    vm->roots[t + 1] = func_or_0 ? func_or_0 : vm->roots[func_slot];
    V b = vm_alloc_instance(vm, vm->gr_class[K_BOUND]);
    if (b) {
        vm_store_ref(vm, b, &fields(b)[BOUND_SELF], vm->roots[t]);
        vm_store_ref(vm, b, &fields(b)[BOUND_FUNC], vm->roots[t + 1]);
        vm->roots[out] = b;
    }
    vm_release(vm, t);
    return b != 0;
}

bool attr_produce(struct gi_vm *vm, struct gi_attr a, uint32_t obj_slot, uint32_t out)
{
    V obj = vm->roots[obj_slot];
    switch (a.kind) {
    case CA_SLOT: {
        V *p = inst_attr_slot(vm, obj, a.index);
        if (!p || !*p)
            return FAIL;   /* caller falls back to the slow path */
        vm->roots[out] = *p;
        return true;
    }
    case CA_VALUE:
        vm->roots[out] = vm->resolved[a.index];
        return true;
    case CA_MODULE: {
        V v = vm->roots[vm->global_base + a.index];
        if (!v)
            return FAIL;
        vm->roots[out] = v;
        return true;
    }
    case CA_METHOD:
        return make_bound(vm, obj_slot, vm->resolved[a.index], 0, out);
    case CA_CLASSMETHOD: {
        uint32_t t = vm_reserve(vm, 1);
        vm->roots[t] = vm_kind(vm, obj) == K_CLASS ? obj : vm_type_of(vm, obj);
        bool ok = make_bound(vm, t, vm->resolved[a.index], 0, out);
        vm_release(vm, t);
        return ok;
    }
    case CA_NATIVE_METHOD:
        return make_bound(vm, obj_slot, vm->roots[vm->r_builtins + a.index], 0, out);
    case CA_PROPERTY: {
        V prop = vm->resolved[a.index];
        if (!fields(prop)[WRAP_A])
            return vm_raise(vm, B_ATTRIBUTEERROR, "unreadable attribute");
        uint32_t t = vm_reserve(vm, 2);
        vm->roots[t] = fields(prop)[WRAP_A];
        vm->roots[t + 1] = vm->roots[obj_slot];
        bool ok = vm_call(vm, t, 1, 0, out);
        vm_release(vm, t);
        return ok;
    }
    default:
        return FAIL;
    }
}

/* ---- attributes outside the caches: __class__, __dict__, __name__, ... */

static bool set_name_str(struct gi_vm *vm, const char *s, uint32_t out)
{
    return vm_set_out_str(vm, out, s, strlen(s));
}

static bool dict_snapshot_of_instance(struct gi_vm *vm, uint32_t obj_slot, uint32_t out)
{
    uint32_t t = vm_reserve(vm, 3);
    bool ok = false;
    V d = vm_new_dict(vm);
    if (!d)
        goto done;
    vm->roots[t] = d;
    int c = vm_user_class(vm, vm->roots[obj_slot]);
    if (c >= 0) {
        for (uint32_t i = 0; i < vm->classes[c].nkeys; i++) {
            V *p = inst_attr_slot(vm, vm->roots[obj_slot], i);
            if (!p || !*p)
                continue;
            vm->roots[t + 2] = *p;
            V k = vm_str_from_name(vm, vm->classes[c].keys[i]);
            if (!k)
                goto done;
            vm->roots[t + 1] = k;
            if (!dict_set(vm, t, t + 1, t + 2))
                goto done;
        }
    }
    vm->roots[out] = vm->roots[t];
    ok = true;
done:
    vm_release(vm, t);
    return ok;
}

static int special_attr(struct gi_vm *vm, uint32_t obj_slot, uint32_t name_id, uint32_t out)
{
    V obj = vm->roots[obj_slot];
    const char *name = vm->names[name_id];
    int k = vm_kind(vm, obj);
    if (!strcmp(name, "__class__")) {
        vm->roots[out] = vm_type_of(vm, obj);
        return 1;
    }
    if (k == K_CLASS) {
        if (!strcmp(name, "__name__"))
            return vm->roots[out] = fields(obj)[CLASS_NAME], 1;
        if (!strcmp(name, "__mro__"))
            return vm->roots[out] = fields(obj)[CLASS_MRO], 1;
        if (!strcmp(name, "__bases__"))
            return vm->roots[out] = fields(obj)[CLASS_BASES], 1;
        if (!strcmp(name, "__dict__")) {
            uint32_t t = vm_reserve(vm, 1);
            vm->roots[t] = fields(obj)[CLASS_DICT];
            V d = vm_new_dict(vm);
            bool ok = d != 0;
            if (ok) {
                vm->roots[out] = d;
                uint32_t u = vm_reserve(vm, 1);
                vm->roots[u] = d;
                extern bool vm_dict_update_from(struct gi_vm *vm, uint32_t dst, uint32_t src);
                ok = vm_dict_update_from(vm, u, t);
                vm->roots[out] = vm->roots[u];
                vm_release(vm, u);
            }
            vm_release(vm, t);
            return ok ? 1 : -1;
        }
        if (!strcmp(name, "__doc__"))
            return vm->roots[out] = vm_none(vm), 1;
        return 0;
    }
    if (k == K_BUILTIN) {
        const struct gi_native *n = &gi_natives[fields(obj)[BUILTIN_ID]];
        if (!strcmp(name, "__name__") || !strcmp(name, "__qualname__")) {
            const char *s = n->name;
            if (n->flags & N_TYPE) {
                const char *dot = strrchr(s, '.');
                s = dot ? dot + 1 : s;
            } else if (!(n->flags & N_METHOD)) {
                const char *dot = strrchr(s, '.');
                s = dot ? dot + 1 : s;
            } else if (!strcmp(name, "__name__")) {
                s = strrchr(s, '.') + 1;
            }
            return set_name_str(vm, s, out) ? 1 : -1;
        }
        if (!strcmp(name, "__doc__"))
            return vm->roots[out] = vm_none(vm), 1;
        if (!strcmp(name, "__module__"))
            return set_name_str(vm, "builtins", out) ? 1 : -1;
        return 0;
    }
    if (k == K_FUNC || k == K_BOUND) {
        V f = k == K_BOUND ? fields(obj)[BOUND_FUNC] : obj;
        if (k == K_BOUND && !strcmp(name, "__self__"))
            return vm->roots[out] = fields(obj)[BOUND_SELF], 1;
        if (k == K_BOUND && !strcmp(name, "__func__"))
            return vm->roots[out] = f, 1;
        if (vm_kind(vm, f) == K_FUNC) {
            struct gi_code *code = &vm->codes[fields(f)[FUNC_CODE]];
            if (!strcmp(name, "__name__"))
                return set_name_str(vm, code->name, out) ? 1 : -1;
            if (!strcmp(name, "__qualname__"))
                return set_name_str(vm, code->qualname, out) ? 1 : -1;
            if (!strcmp(name, "__module__"))
                return set_name_str(vm, vm->modules[code->module].name, out) ? 1 : -1;
            if (!strcmp(name, "__doc__"))
                return vm->roots[out] = vm_none(vm), 1;
            if (!strcmp(name, "__defaults__"))
                return vm->roots[out] = fields(f)[FUNC_DEFAULTS] ? fields(f)[FUNC_DEFAULTS] : vm_none(vm), 1;
        }
        return 0;
    }
    if (k == K_MODULE) {
        if (!strcmp(name, "__name__"))
            return vm->roots[out] = fields(obj)[MODULE_NAME], 1;
        return 0;
    }
    if (k == K_EXC) {
        if (!strcmp(name, "args"))
            return vm->roots[out] = fields(obj)[EXC_ARGS], 1;
        int t = (int)fields(obj)[EXC_TYPE];
        if ((!strcmp(name, "value") && gi_exc_subclass(t, B_STOPITERATION)) ||
            (!strcmp(name, "code") && gi_exc_subclass(t, B_SYSTEMEXIT))) {
            V args = fields(obj)[EXC_ARGS];
            vm->roots[out] = arr_len(args) ? arr_items(args)[0] : vm_none(vm);
            return 1;
        }
        if (!strcmp(name, "__cause__") && fields(obj)[EXC_CAUSE])
            return vm->roots[out] = fields(obj)[EXC_CAUSE], 1;
        if (!strcmp(name, "__traceback__") || !strcmp(name, "__cause__") || !strcmp(name, "__context__"))
            return vm->roots[out] = vm_none(vm), 1;
    }
    if ((k == K_INST || vm_user_class(vm, obj) >= 0) && !strcmp(name, "__dict__"))
        return dict_snapshot_of_instance(vm, obj_slot, out) ? 1 : -1;
    if (k == K_INT || k == K_BOOL) {
        if (!strcmp(name, "real") || !strcmp(name, "numerator"))
            return vm->roots[out] = obj, 1;
        if (!strcmp(name, "imag"))
            return vm->roots[out] = vm_new_int(vm, 0), 1;
        if (!strcmp(name, "denominator"))
            return vm->roots[out] = vm_new_int(vm, 1), 1;
    }
    if (k == K_FLOAT) {
        if (!strcmp(name, "real"))
            return vm->roots[out] = obj, 1;
        if (!strcmp(name, "imag")) {
            V z = vm_new_float(vm, 0.0);
            return z ? (vm->roots[out] = z, 1) : -1;
        }
    }
    if (k == K_SLICE || k == K_RANGE) {
        int i = !strcmp(name, "start") ? 0 : !strcmp(name, "stop") ? 1 : !strcmp(name, "step") ? 2 : -1;
        if (i < 0)
            return 0;
        if (k == K_SLICE)
            return vm->roots[out] = fields(obj)[i], 1;
        V v = vm_new_int(vm, (int64_t)fields(obj)[i]);
        return v ? (vm->roots[out] = v, 1) : -1;
    }
    if (k == K_ARRAY) {
        if (!strcmp(name, "typecode")) {
            char c = (char)fields(obj)[ARRAY_CODE];
            return set_name_str(vm, (char[]){c, 0}, out) ? 1 : -1;
        }
        if (!strcmp(name, "itemsize")) {
            char c = (char)fields(obj)[ARRAY_CODE];
            int size = strchr("bB", c) ? 1 : strchr("hHu", c) ? 2 : strchr("iIf", c) ? 4 : 8;
            V v = vm_new_int(vm, size);
            return v ? (vm->roots[out] = v, 1) : -1;
        }
    }
    if (k == K_WRAP) {
        if (!strcmp(name, "__func__") || !strcmp(name, "fget"))
            return vm->roots[out] = fields(obj)[WRAP_A] ? fields(obj)[WRAP_A] : vm_none(vm), 1;
        if (!strcmp(name, "fset"))
            return vm->roots[out] = fields(obj)[WRAP_B] ? fields(obj)[WRAP_B] : vm_none(vm), 1;
    }
    if (k == K_GEN && !strcmp(name, "__name__"))
        return set_name_str(vm, vm->codes[fields(obj)[GEN_CODE]].name, out) ? 1 : -1;
    return 0;
}

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

/* The whole lookup of obj.name (obj in obj_slot). missing_ok: an absent attribute
 * sets *missing instead of raising AttributeError. */
bool attr_getattr_slow(struct gi_vm *vm, uint32_t obj_slot, uint32_t name_id, uint32_t out, bool missing_ok,
                       bool *missing)
{
    if (missing)
        *missing = false;
    V obj = vm->roots[obj_slot];
    struct gi_attr a;
    if (attr_resolve(vm, obj, attr_key(vm, obj), name_id, &a)) {
        if (attr_produce(vm, a, obj_slot, out))
            return true;
        if (vm->roots[vm->r_exc] && a.kind == CA_PROPERTY)
            return FAIL;
        if (a.kind == CA_SLOT) {
            /* no instance value: a class attribute of that name, if any */
            int c = vm_user_class(vm, obj);
            V v;
            if (c >= 0 && vm_class_lookup(vm, vm->class_objs[c], name_id, &v) == 1) {
                struct gi_attr b;
                classify(vm, v, false, &b);
                if (attr_produce(vm, b, obj_slot, out))
                    return true;
                return FAIL;
            }
        } else if (a.kind != CA_MODULE) {
            return FAIL;
        }
    }
    int r = special_attr(vm, obj_slot, name_id, out);
    if (r < 0)
        return FAIL;
    if (r > 0)
        return true;
    obj = vm->roots[obj_slot];
    if (has_special(vm, obj, S_GETATTR)) {
        uint32_t t = vm_reserve(vm, 2);
        vm->roots[t] = obj;
        V s = vm_str_from_name(vm, name_id);
        bool ok = false, found;
        if (s) {
            vm->roots[t + 1] = s;
            ok = vm_call_special(vm, S_GETATTR, t, t + 1, 1, out, &found);
        }
        vm_release(vm, t);
        if (!ok && missing_ok && vm_exc_matches(vm, vm->roots[vm->r_exc], B_ATTRIBUTEERROR)) {
            vm_clear_exc(vm);
            *missing = true;
        }
        return ok;
    }
    if (missing_ok) {
        *missing = true;
        return FAIL;
    }
    const char *name = vm->names[name_id];
    int k = vm_kind(vm, obj);
    if (k == K_MODULE) {
        V mn = fields(obj)[MODULE_NAME];
        return vm_raise(vm, B_ATTRIBUTEERROR, "module '%.*s' has no attribute '%s'", (int)str_nbytes(mn), str_ptr(mn), name);
    }
    if (k == K_CLASS)
        return vm_raise(vm, B_ATTRIBUTEERROR, "type object '%s' has no attribute '%s'",
                        vm->classes[fields(obj)[CLASS_INDEX]].name, name);
    if (k == K_BUILTIN && (gi_natives[fields(obj)[BUILTIN_ID]].flags & N_TYPE))
        return vm_raise(vm, B_ATTRIBUTEERROR, "type object '%s' has no attribute '%s'",
                        gi_natives[fields(obj)[BUILTIN_ID]].name, name);
    return vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute '%s'", vm_type_name(vm, obj), name);
}

bool vm_getattr(struct gi_vm *vm, uint32_t obj, uint32_t name_id, uint32_t out)
{
    return attr_getattr_slow(vm, obj, name_id, out, false, NULL);
}

int vm_getattr_opt(struct gi_vm *vm, uint32_t obj, uint32_t name_id, uint32_t out)
{
    bool missing;
    if (attr_getattr_slow(vm, obj, name_id, out, true, &missing))
        return 1;
    if (missing)
        return 0;
    if (vm_exc_matches(vm, vm->roots[vm->r_exc], B_ATTRIBUTEERROR)) {
        vm_clear_exc(vm);
        return 0;
    }
    return -1;
}

bool vm_module_getattr(struct gi_vm *vm, V module, uint32_t name_id, uint32_t out)
{
    int g = module_global(vm, (uint32_t)fields(module)[MODULE_INDEX], name_id);
    if (g < 0 || !vm->roots[vm->global_base + g])
        return FAIL;
    vm->roots[out] = vm->roots[vm->global_base + g];
    return true;
}

bool vm_setattr(struct gi_vm *vm, uint32_t obj_slot, uint32_t name_id, uint32_t value)
{
    V obj = vm->roots[obj_slot];
    int k = vm_kind(vm, obj);
    if (k == K_CLASS) {
        if (!strcmp(vm->names[name_id], "__name__"))
            return vm_raise(vm, B_TYPEERROR, "gcheap: a class's __name__ cannot be changed");
        uint32_t t = vm_reserve(vm, 2);
        vm->roots[t] = fields(obj)[CLASS_DICT];
        V s = vm_str_from_name(vm, name_id);
        bool ok = s != 0;
        if (ok) {
            vm->roots[t + 1] = s;
            ok = dict_set(vm, t, t + 1, value);
        }
        vm_release(vm, t);
        classes_invalidate(vm);
        return ok;
    }
    if (k == K_MODULE) {
        int g = module_global(vm, (uint32_t)fields(obj)[MODULE_INDEX], name_id);
        if (g < 0)
            return vm_raise(vm, B_ATTRIBUTEERROR, "gcheap: module attribute '%s' cannot be created at run time",
                            vm->names[name_id]);
        vm->roots[vm->global_base + g] = vm->roots[value];
        return true;
    }
    int c = vm_user_class(vm, obj);
    if (c < 0) {
        if (k == K_FUNC)
            return vm_raise(vm, B_ATTRIBUTEERROR, "gcheap: functions have no attributes ('%s')", vm->names[name_id]);
        return vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute '%s'", vm_type_name(vm, obj),
                        vm->names[name_id]);
    }
    V v;
    if (vm_class_lookup(vm, vm->class_objs[c], name_id, &v) == 1 && vm_kind(vm, v) == K_WRAP &&
        fields(v)[WRAP_WHICH] == W_PROPERTY) {
        if (!fields(v)[WRAP_B])
            return vm_raise(vm, B_ATTRIBUTEERROR, "can't set attribute '%s'", vm->names[name_id]);
        uint32_t t = vm_reserve(vm, 3);
        vm->roots[t] = fields(v)[WRAP_B];
        vm->roots[t + 1] = vm->roots[obj_slot];
        vm->roots[t + 2] = vm->roots[value];
        bool ok = vm_call(vm, t, 2, 0, t);
        vm_release(vm, t);
        return ok;
    }
    if (has_special(vm, obj, S_SETATTR)) {
        uint32_t t = vm_reserve(vm, 3);
        vm->roots[t] = obj;
        V s = vm_str_from_name(vm, name_id);
        bool ok = false, found;
        if (s) {
            vm->roots[t + 1] = s;
            vm->roots[t + 2] = vm->roots[value];
            ok = vm_call_special(vm, S_SETATTR, t, t + 1, 2, t, &found);
        }
        vm_release(vm, t);
        return ok;
    }
    int idx = class_key_index(vm, c, name_id);
    if (idx < 0) {
        if (vm->classes[c].slots_only)
            return vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute '%s'", vm->classes[c].name,
                            vm->names[name_id]);
        idx = class_add_key(vm, c, name_id);
        classes_invalidate(vm);   /* cached answers for this name may now be wrong */
    }
    if (!ensure_attr_slot(vm, obj_slot, (uint32_t)idx))
        return FAIL;
    obj = vm->roots[obj_slot];
    V *p = inst_attr_slot(vm, obj, (uint32_t)idx);
    int kind = vm_kind(vm, obj);
    V holder = kind == K_INST && (uint32_t)idx < vm->classes[c].inline_cap ? obj : fields(obj)[overflow_field(kind)];
    vm_store_ref(vm, holder, p, vm->roots[value]);
    return true;
}

/* Stores into an existing attribute slot (the loop's cached path). */
bool vm_store_attr_slot(struct gi_vm *vm, V obj, uint32_t index, V value)
{
    int c = vm_user_class(vm, obj);
    int kind = vm_kind(vm, obj);
    V *p = inst_attr_slot(vm, obj, index);
    if (!p)
        return false;
    V holder = kind == K_INST && index < vm->classes[c].inline_cap ? obj : fields(obj)[overflow_field(kind)];
    vm_store_ref(vm, holder, p, value);
    return true;
}

bool vm_delattr(struct gi_vm *vm, uint32_t obj_slot, uint32_t name_id)
{
    V obj = vm->roots[obj_slot];
    if (vm_kind(vm, obj) == K_CLASS) {
        uint32_t t = vm_reserve(vm, 2);
        vm->roots[t] = fields(obj)[CLASS_DICT];
        V s = vm_str_from_name(vm, name_id);
        int r = -1;
        if (s) {
            vm->roots[t + 1] = s;
            r = dict_delete(vm, t, t + 1);
        }
        vm_release(vm, t);
        classes_invalidate(vm);
        if (r == 0)
            return vm_raise(vm, B_ATTRIBUTEERROR, "type object has no attribute '%s'", vm->names[name_id]);
        return r > 0;
    }
    int c = vm_user_class(vm, obj);
    int idx = c >= 0 ? class_key_index(vm, c, name_id) : -1;
    V *p = idx >= 0 ? inst_attr_slot(vm, obj, (uint32_t)idx) : NULL;
    if (!p || !*p)
        return vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute '%s'", vm_type_name(vm, obj),
                        vm->names[name_id]);
    vm_store_attr_slot(vm, obj, (uint32_t)idx, 0);
    return true;
}

/* ---- types */

V vm_type_of(struct gi_vm *vm, V v)
{
    int c = vm_user_class(vm, v);
    if (c >= 0)
        return vm->class_objs[c];
    uint32_t id;
    switch (vm_kind(vm, v)) {
    case K_NONE: id = T_NONETYPE; break;
    case K_BOOL: id = B_BOOL; break;
    case K_INT: id = B_INT; break;
    case K_FLOAT: id = B_FLOAT; break;
    case K_STR: id = B_STR; break;
    case K_TUPLE: id = B_TUPLE; break;
    case K_LIST: id = B_LIST; break;
    case K_DICT: id = B_DICT; break;
    case K_SET: id = fields(v)[SET_FROZEN] ? B_FROZENSET : B_SET; break;
    case K_FUNC: id = T_FUNCTION; break;
    case K_CLASS: id = B_TYPE; break;
    case K_BOUND: id = T_METHOD; break;
    case K_BUILTIN: id = (gi_natives[fields(v)[BUILTIN_ID]].flags & N_TYPE) ? B_TYPE : T_BUILTIN_FUNCTION; break;
    case K_EXC: id = (uint32_t)fields(v)[EXC_TYPE]; break;
    case K_RANGE: id = B_RANGE; break;
    case K_ITER: id = T_ITERATOR; break;
    case K_CELL: id = T_CELL; break;
    case K_GEN: id = T_GENERATOR; break;
    case K_SLICE: id = B_SLICE; break;
    case K_MODULE: id = T_MODULE; break;
    case K_SUPER: id = B_SUPER; break;
    case K_WRAP: id = fields(v)[WRAP_WHICH] == W_STATIC ? B_STATICMETHOD : fields(v)[WRAP_WHICH] == W_CLASS ? B_CLASSMETHOD : B_PROPERTY; break;
    case K_ARRAY: id = T_ARRAY; break;
    case K_FILE: id = T_FILE; break;
    case K_VIEW: id = T_DICT_KEYS + (uint32_t)fields(v)[VIEW_WHICH]; break;
    default: id = B_OBJECT; break;
    }
    return vm->roots[vm->r_builtins + id];
}

/* Is type object sub a subclass of type object sup? */
bool vm_issubclass(struct gi_vm *vm, V sub, V sup, int *res)
{
    if (!is_type_object(vm, sub))
        return vm_raise(vm, B_TYPEERROR, "issubclass() arg 1 must be a class");
    if (vm_kind(vm, sup) == K_TUPLE) {
        *res = 0;
        for (uint32_t i = 0; i < arr_len(sup) && !*res; i++)
            if (!vm_issubclass(vm, sub, arr_items(sup)[i], res))
                return FAIL;
        return true;
    }
    if (!is_type_object(vm, sup))
        return vm_raise(vm, B_TYPEERROR, "issubclass() arg 2 must be a class, a tuple of classes, or a union");
    if (sub == sup) {
        *res = 1;
        return true;
    }
    if (vm_kind(vm, sup) == K_BUILTIN && fields(sup)[BUILTIN_ID] == B_OBJECT) {
        *res = 1;
        return true;
    }
    if (vm_kind(vm, sub) == K_CLASS) {
        V mro = fields(sub)[CLASS_MRO];
        for (uint32_t i = 0; i < arr_len(mro); i++) {
            V c = arr_items(mro)[i];
            if (c == sup) {
                *res = 1;
                return true;
            }
            if (vm_kind(vm, c) == K_BUILTIN && vm_kind(vm, sup) == K_BUILTIN) {
                uint32_t a = (uint32_t)fields(c)[BUILTIN_ID], b = (uint32_t)fields(sup)[BUILTIN_ID];
                if (a >= B_FIRST_EXC && a <= B_LAST_EXC && b >= B_FIRST_EXC && b <= B_LAST_EXC &&
                    gi_exc_subclass((int)a, (int)b)) {
                    *res = 1;
                    return true;
                }
            }
        }
        *res = 0;
        return true;
    }
    uint32_t a = (uint32_t)fields(sub)[BUILTIN_ID];
    if (vm_kind(vm, sup) != K_BUILTIN) {
        *res = 0;
        return true;
    }
    uint32_t b = (uint32_t)fields(sup)[BUILTIN_ID];
    if (a >= B_FIRST_EXC && a <= B_LAST_EXC && b >= B_FIRST_EXC && b <= B_LAST_EXC)
        *res = gi_exc_subclass((int)a, (int)b);
    else
        *res = (a == B_BOOL && b == B_INT);
    return true;
}

bool vm_isinstance(struct gi_vm *vm, V obj, V cls, int *res)
{
    if (vm_kind(vm, cls) == K_TUPLE) {
        *res = 0;
        for (uint32_t i = 0; i < arr_len(cls) && !*res; i++)
            if (!vm_isinstance(vm, obj, arr_items(cls)[i], res))
                return FAIL;
        return true;
    }
    if (!is_type_object(vm, cls))
        return vm_raise(vm, B_TYPEERROR, "isinstance() arg 2 must be a type, a tuple of types, or a union");
    if (vm_kind(vm, cls) == K_BUILTIN) {
        uint32_t id = (uint32_t)fields(cls)[BUILTIN_ID];
        int k = vm_kind(vm, obj);
        switch (id) {
        case B_OBJECT: *res = 1; return true;
        case B_INT: *res = k == K_INT || k == K_BOOL; return true;
        case B_BOOL: *res = k == K_BOOL; return true;
        case B_FLOAT: *res = k == K_FLOAT; return true;
        case B_STR: *res = k == K_STR; return true;
        case B_LIST: *res = k == K_LIST; return true;
        case B_DICT: *res = k == K_DICT; return true;
        case B_TUPLE: *res = k == K_TUPLE; return true;
        case B_SET: *res = k == K_SET && !fields(obj)[SET_FROZEN]; return true;
        case B_FROZENSET: *res = k == K_SET && fields(obj)[SET_FROZEN]; return true;
        case B_RANGE: *res = k == K_RANGE; return true;
        case B_SLICE: *res = k == K_SLICE; return true;
        case B_TYPE: *res = is_type_object(vm, obj); return true;
        default:
            if (id >= B_FIRST_EXC && id <= B_LAST_EXC) {
                *res = k == K_EXC && gi_exc_subclass((int)fields(obj)[EXC_TYPE], (int)id);
                return true;
            }
            *res = vm_type_of(vm, obj) == cls;
            return true;
        }
    }
    return vm_issubclass(vm, vm_type_of(vm, obj), cls, res);
}

/* ---- building a class: BUILD_CLASS (name bases... namespace) */

/* Identity of an MRO entry that does not move: class index, or -(native id + 1). */
static int64_t mro_ident(struct gi_vm *vm, V c)
{
    return vm_kind(vm, c) == K_CLASS ? (int64_t)fields(c)[CLASS_INDEX] : -(int64_t)fields(c)[BUILTIN_ID] - 1;
}

static V mro_value(struct gi_vm *vm, int64_t ident)
{
    return ident >= 0 ? vm->class_objs[ident] : vm->roots[vm->r_builtins + (uint32_t)(-ident - 1)];
}

/* The linearisation of a built-in type: itself, its built-in bases, object. */
static int builtin_mro(uint32_t id, int64_t *out)
{
    int n = 0;
    if (id >= B_FIRST_EXC && id <= B_LAST_EXC) {
        for (int t = (int)id; t >= 0; t = gi_exc_parent(t))
            out[n++] = -(int64_t)t - 1;
    } else {
        out[n++] = -(int64_t)id - 1;
    }
    if (id != B_OBJECT)
        out[n++] = -(int64_t)B_OBJECT - 1;
    return n;
}

/* C3: merges the bases' linearisations and the list of bases. */
static int c3_merge(int64_t **seqs, int *lens, int nseq, int64_t *out, int cap)
{
    int n = 0;
    int *pos = calloc((size_t)nseq, sizeof(int));
    if (!pos)
        return -1;
    for (;;) {
        bool any = false;
        for (int i = 0; i < nseq; i++)
            if (pos[i] < lens[i])
                any = true;
        if (!any)
            break;
        int64_t cand = 0;
        bool found = false;
        for (int i = 0; i < nseq && !found; i++) {
            if (pos[i] >= lens[i])
                continue;
            cand = seqs[i][pos[i]];
            bool in_tail = false;
            for (int j = 0; j < nseq && !in_tail; j++)
                for (int k = pos[j] + 1; k < lens[j]; k++)
                    if (seqs[j][k] == cand) {
                        in_tail = true;
                        break;
                    }
            if (!in_tail)
                found = true;
        }
        if (!found || n >= cap) {
            free(pos);
            return -1;
        }
        out[n++] = cand;
        for (int i = 0; i < nseq; i++)
            if (pos[i] < lens[i] && seqs[i][pos[i]] == cand)
                pos[i]++;
    }
    free(pos);
    return n;
}

/* Runtime classes are a fixed table (GR_MAX_CLASSES) that never shrinks, so the
 * layouts a runtime got for one program are reused by the next program run on it,
 * by shape. Defining a new one leaves the core (a safepoint). The cache of a runtime
 * (found by its serial; four runtimes at most, then one is evicted) is shared by
 * the programs running on it at once. Which of its classes a VM has taken is the
 * VM's own: those its kind_of_class maps (a mark in the shared cache was cleared
 * by the next program to start, and the first could then give two of its kinds
 * one class). */
struct layout_cache {
    uint64_t serial;
    uint32_t n;
    uint32_t nrefs[GR_MAX_CLASSES], nscalars[GR_MAX_CLASSES], id[GR_MAX_CLASSES];
};
static struct layout_cache *layout_caches[4];
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;

void layouts_begin(struct gi_vm *vm)
{
    pthread_mutex_lock(&layout_lock);
    struct layout_cache *lc = NULL;
    for (int i = 0; i < 4 && !lc; i++)
        if (layout_caches[i] && layout_caches[i]->serial == vm->rt->serial)
            lc = layout_caches[i];
    if (!lc) {
        static unsigned victim;
        unsigned v = victim++ % 4;
        if (!layout_caches[v])
            layout_caches[v] = calloc(1, sizeof **layout_caches);
        lc = layout_caches[v];
        if (lc) {
            lc->n = 0;
            lc->serial = vm->rt->serial;
        }
    }
    vm->layouts = lc;
    pthread_mutex_unlock(&layout_lock);
}

/* A runtime class of this shape not yet used by this VM (not in its kind_of_class:
 * callers map the class they get before they ask again). -1: table full. */
int layout_get(struct gi_vm *vm, uint32_t nrefs, uint32_t nscalars, bool in_core)
{
    /* the cache may have been given to another runtime since layouts_begin */
    struct layout_cache *lc = vm->layouts;
    pthread_mutex_lock(&layout_lock);
    if (lc && lc->serial == vm->rt->serial) {
        for (uint32_t j = 0; j < lc->n; j++)
            if (lc->nrefs[j] == nrefs && lc->nscalars[j] == nscalars && vm->kind_of_class[lc->id[j]] < 0) {
                pthread_mutex_unlock(&layout_lock);
                return (int)lc->id[j];
            }
    }
    pthread_mutex_unlock(&layout_lock);
    if (in_core)
        gr_leave(vm->m);
    int id = gr_define_class(vm->rt, nrefs, nscalars);
    if (in_core) {
        vm->m = gr_enter(vm->rt);
        if (!vm->m)
            vm_fatal(vm, gr_enter_err, "re-entering the runtime after defining a class");
    }
    if (id < 0)
        return -1;
    pthread_mutex_lock(&layout_lock);
    if (lc && lc->n < GR_MAX_CLASSES && lc->serial == vm->rt->serial) {
        lc->nrefs[lc->n] = nrefs;
        lc->nscalars[lc->n] = nscalars;
        lc->id[lc->n] = (uint32_t)id;
        lc->n++;
    }
    pthread_mutex_unlock(&layout_lock);
    return id;
}

/* Names a function assigns to its first parameter's attributes. */
static void scan_self_attrs(struct gi_vm *vm, V f, int c)
{
    if (vm_kind(vm, f) == K_WRAP)
        f = fields(f)[WRAP_A];
    if (!f || vm_kind(vm, f) != K_FUNC)
        return;
    struct gi_code *code = &vm->codes[fields(f)[FUNC_CODE]];
    if (code->argcount == 0)
        return;
    for (uint32_t pc = 1; pc < code->ncode; pc++) {
        uint32_t op = code->code[pc] & 0xFF, prev = code->code[pc - 1];
        if (op == OP_STORE_ATTR && prev == (uint32_t)OP_LOAD_LOCAL) {
            uint32_t name = code->name_ids[code->code[pc] >> 8];
            if (class_key_index(vm, c, name) < 0)
                class_add_key(vm, c, name);
        }
    }
}

static bool base_info(struct gi_vm *vm, V b, int *kind, int *exc, bool *slots_only)
{
    if (vm_kind(vm, b) == K_CLASS) {
        struct gi_class *k = &vm->classes[fields(b)[CLASS_INDEX]];
        *kind = k->kind;
        *exc = k->exc_type;
        *slots_only = k->slots_only;
        return true;
    }
    if (vm_kind(vm, b) != K_BUILTIN || !(gi_natives[fields(b)[BUILTIN_ID]].flags & N_TYPE))
        return vm_raise(vm, B_TYPEERROR, "bases must be types");
    uint32_t id = (uint32_t)fields(b)[BUILTIN_ID];
    int k = kind_of_builtin_type(id);
    if (k != K_INST && k != K_LIST && k != K_DICT && k != K_SET && k != K_EXC)
        return vm_raise(vm, B_TYPEERROR, "gcheap: subclassing the built-in type '%s' is not supported",
                        gi_natives[id].name);
    *kind = k;
    *exc = k == K_EXC ? (int)id : -1;
    *slots_only = k == K_INST;
    return true;
}

bool vm_build_class(struct gi_vm *vm, uint32_t first, uint32_t nbases, uint32_t out)
{
    uint32_t ns = first + 1 + nbases;
    if (vm_kind(vm, vm->roots[first]) != K_STR || vm_kind(vm, vm->roots[ns]) != K_DICT)
        return vm_raise(vm, B_TYPEERROR, "BUILD_CLASS of a non-class body");
    uint32_t t = vm_reserve(vm, 4);   /* bases tuple, mro tuple, class, scratch */
    bool ok = false;
    uint32_t nseqs = 0, nb = 0, ci = 0;
    int nmro = 0;
    int64_t *mro_ids = NULL, **seqs = NULL;
    int *lens = NULL;
    int kind = K_INST, exc = -1;
    bool slots_only = true;
    /* bases */
    V bases = vm_new_tuple(vm, nbases ? nbases : 1);
    if (!bases)
        goto out;
    if (nbases == 0)
        vm_store_ref(vm, bases, &arr_items(bases)[0], vm->roots[vm->r_builtins + B_OBJECT]);
    for (uint32_t i = 0; i < nbases; i++)
        vm_store_ref(vm, bases, &arr_items(bases)[i], vm->roots[first + 1 + i]);
    vm->roots[t] = bases;
    nb = arr_len(bases);
    for (uint32_t i = 0; i < nb; i++) {
        int bk = K_INST, be = -1;
        bool bs = false;
        if (!base_info(vm, arr_items(vm->roots[t])[i], &bk, &be, &bs))
            goto out;
        if (bk != K_INST) {
            if (kind != K_INST && kind != bk) {
                vm_raise(vm, B_TYPEERROR, "multiple bases have instance lay-out conflict");
                goto out;
            }
            kind = bk;
        }
        if (be >= 0 && exc < 0)
            exc = be;
        slots_only = slots_only && bs;
        for (uint32_t j = 0; j < i; j++)
            if (arr_items(vm->roots[t])[j] == arr_items(vm->roots[t])[i]) {
                vm_raise(vm, B_TYPEERROR, "duplicate base class");
                goto out;
            }
    }
    /* MRO */
    seqs = calloc(nb + 1, sizeof *seqs);
    lens = calloc(nb + 1, sizeof *lens);
    if (!seqs || !lens)
        vm_fatal(vm, ENOMEM, "class MRO");
    nseqs = nb + 1;
    int total = 1;
    for (uint32_t i = 0; i < nb; i++) {
        V b = arr_items(vm->roots[t])[i];
        int64_t tmp[64];
        int n;
        if (vm_kind(vm, b) == K_CLASS) {
            V m = fields(b)[CLASS_MRO];
            n = (int)arr_len(m);
            seqs[i] = malloc(sizeof(int64_t) * (size_t)n);
            if (seqs[i])
                for (int j = 0; j < n; j++)
                    seqs[i][j] = mro_ident(vm, arr_items(m)[j]);
        } else {
            n = builtin_mro((uint32_t)fields(b)[BUILTIN_ID], tmp);
            seqs[i] = malloc(sizeof(int64_t) * (size_t)n);
            if (seqs[i])
                memcpy(seqs[i], tmp, sizeof(int64_t) * (size_t)n);
        }
        if (!seqs[i])
            vm_fatal(vm, ENOMEM, "class MRO");
        lens[i] = n;
        total += n;
    }
    seqs[nb] = malloc(sizeof(int64_t) * nb);
    if (!seqs[nb])
        vm_fatal(vm, ENOMEM, "class MRO");
    for (uint32_t i = 0; i < nb; i++)
        seqs[nb][i] = mro_ident(vm, arr_items(vm->roots[t])[i]);
    lens[nb] = (int)nb;
    mro_ids = malloc(sizeof(int64_t) * (size_t)(total + nb + 1));
    if (!mro_ids)
        vm_fatal(vm, ENOMEM, "class MRO");
    nmro = c3_merge(seqs, lens, (int)nb + 1, mro_ids + 1, total + (int)nb);
    if (nmro < 0) {
        vm_raise(vm, B_TYPEERROR, "Cannot create a consistent method resolution order (MRO)");
        goto out;
    }
    /* the C-side class */
    if (vm->nclasses == vm->capclasses) {
        uint32_t cap = vm->capclasses ? vm->capclasses * 2 : 64;
        struct gi_class *p = realloc(vm->classes, cap * sizeof *p);
        V *q = realloc(vm->class_objs, cap * sizeof *q);
        if (p)
            vm->classes = p;
        if (q)
            vm->class_objs = q;
        if (!p || !q)
            vm_fatal(vm, ENOMEM, "class table");
        vm->capclasses = cap;
    }
    ci = vm->nclasses;
    mro_ids[0] = ci;
    struct gi_class *k = &vm->classes[ci];
    memset(k, 0, sizeof *k);
    V name = vm->roots[first];
    k->name = strndup(str_ptr(name), str_nbytes(name));
    k->kind = (uint8_t)kind;
    k->exc_type = (uint16_t)(exc < 0 ? 0 : exc);
    k->module = vm->frames[vm->nframes - 1].code->module;
    vm->class_objs[ci] = 0;
    vm->nclasses++;
    /* attribute table: the bases' attributes first, then __slots__ or what the
     * methods assign to self */
    for (int i = nmro; i >= 1; i--) {
        int64_t id = mro_ids[i];
        if (id < 0 || id == ci)
            continue;
        struct gi_class *b = &vm->classes[id];
        for (uint32_t j = 0; j < b->nkeys; j++)
            if (class_key_index(vm, (int)ci, b->keys[j]) < 0)
                class_add_key(vm, (int)ci, b->keys[j]);
    }
    uint32_t slots_id = vm_intern(vm, "__slots__");
    V nsd = vm->roots[ns];
    int64_t se = dict_find_name(vm, nsd, slots_id);
    if (se >= 0) {
        V sl = arr_items(fields(nsd)[DICT_VALS])[se];
        V *items;
        uint64_t n;
        if (vm_kind(vm, sl) == K_STR) {
            class_add_key(vm, (int)ci, vm_intern_n(vm, str_ptr(sl), str_nbytes(sl)));
        } else if (vm_seq(vm, sl, &items, &n)) {
            for (uint64_t j = 0; j < n; j++) {
                if (vm_kind(vm, items[j]) != K_STR) {
                    vm_raise(vm, B_TYPEERROR, "__slots__ items must be strings");
                    goto out_class;
                }
                uint32_t id = vm_intern_n(vm, str_ptr(items[j]), str_nbytes(items[j]));
                if (class_key_index(vm, (int)ci, id) < 0)
                    class_add_key(vm, (int)ci, id);
            }
        } else {
            vm_raise(vm, B_TYPEERROR, "gcheap: __slots__ must be a str, tuple or list");
            goto out_class;
        }
        k = &vm->classes[ci];
        k->slots_only = slots_only;
    } else {
        k->slots_only = false;
        uint64_t used = fields(nsd)[DICT_USED];
        for (uint64_t e = 0; e < used; e++) {
            V key = arr_items(fields(nsd)[DICT_KEYS])[e];
            if (key)
                scan_self_attrs(vm, arr_items(fields(nsd)[DICT_VALS])[e], (int)ci);
        }
    }
    k = &vm->classes[ci];
    k->inline_cap = kind == K_INST ? (k->nkeys < 48 ? k->nkeys : 48) : 0;
    /* the runtime class of its instances: the base layout's shape */
    uint32_t nrefs, nsc;
    if (kind == K_INST) {
        nrefs = 1 + k->inline_cap;
        nsc = 1;
    } else {
        uint32_t bc = kind == K_SET ? vm->gr_class[K_SET] : vm->gr_class[kind];
        nrefs = vm->rt->classes[bc].nrefs;
        nsc = vm->rt->classes[bc].nscalars;
    }
    int gid = layout_get(vm, nrefs, nsc, true);
    if (gid < 0) {
        vm_raise(vm, B_MEMORYERROR, "gcheap: too many classes (the runtime's class table is full)");
        goto out_class;
    }
    k = &vm->classes[ci];
    k->gr_class = (uint32_t)gid;
    /* MRO tuple and the class object */
    V mro = vm_new_tuple(vm, (uint64_t)nmro + 1);
    if (!mro)
        goto out_class;
    vm->roots[t + 1] = mro;
    V cls = vm_alloc_instance(vm, vm->gr_class[K_CLASS]);
    if (!cls)
        goto out_class;
    vm->roots[t + 2] = cls;
    vm_store_ref(vm, cls, &fields(cls)[CLASS_NAME], vm->roots[first]);
    vm_store_ref(vm, cls, &fields(cls)[CLASS_BASES], vm->roots[t]);
    vm_store_ref(vm, cls, &fields(cls)[CLASS_DICT], vm->roots[ns]);
    fields(cls)[CLASS_INDEX] = ci;
    vm->class_objs[ci] = cls;
    mro = vm->roots[t + 1];
    for (int i = 0; i <= nmro; i++)
        vm_store_ref(vm, mro, &arr_items(mro)[i], mro_value(vm, mro_ids[i]));
    vm_store_ref(vm, cls, &fields(cls)[CLASS_MRO], mro);
    vm->kind_of_class[gid] = (int8_t)kind;
    vm->user_class_of[gid] = (int32_t)ci;
    /* the __class__ cell of its methods */
    uint32_t cc = vm_intern(vm, "__classcell__");
    int64_t ce = dict_find_name(vm, vm->roots[ns], cc);
    if (ce >= 0) {
        V cell = arr_items(fields(vm->roots[ns])[DICT_VALS])[ce];
        if (vm_kind(vm, cell) == K_CELL)
            vm_store_ref(vm, cell, &fields(cell)[CELL_VALUE], vm->roots[t + 2]);
        V s = vm_str_from_name(vm, cc);
        if (!s)
            goto out;
        vm->roots[t + 3] = s;
        if (dict_delete(vm, ns, t + 3) < 0)
            goto out;
    }
    /* as CPython: a class that defines __eq__ but not __hash__ gets __hash__ = None */
    if (dict_find_name(vm, vm->roots[ns], vm->special_ids[S_EQ]) >= 0 &&
        dict_find_name(vm, vm->roots[ns], vm->special_ids[S_HASH]) < 0) {
        V s = vm_str_from_name(vm, vm->special_ids[S_HASH]);
        if (!s)
            goto out;
        vm->roots[t + 3] = s;
        if (!dict_set(vm, ns, t + 3, vm->r_none))
            goto out;
    }
    vm->classes[ci].specials = compute_specials(vm, vm->roots[t + 2]);
    vm->roots[out] = vm->roots[t + 2];
    ok = true;
    goto out;
out_class:
    /* keep the half-built class out of every lookup */
    vm->class_objs[ci] = 0;
out:
    for (uint32_t i = 0; i < nseqs; i++)
        free(seqs[i]);
    free(seqs);
    free(lens);
    free(mro_ids);
    vm_release(vm, t);
    return ok;
}

/* A new instance of user class c into out (its fields initialised for its layout). */
bool vm_alloc_user_instance(struct gi_vm *vm, uint32_t c, uint32_t out)
{
    struct gi_class *k = &vm->classes[c];
    int kind = k->kind;
    if (kind == K_LIST) {
        V items = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, 4);
        if (!items)
            return FAIL;
        uint32_t t = vm_reserve(vm, 1);
        vm->roots[t] = items;
        V l = vm_alloc_instance(vm, vm->classes[c].gr_class);
        if (l)
            vm_store_ref(vm, l, &fields(l)[LIST_ITEMS], vm->roots[t]);
        vm_release(vm, t);
        if (!l)
            return FAIL;
        vm->roots[out] = l;
        return true;
    }
    V o = vm_alloc_instance(vm, k->gr_class);
    if (!o)
        return FAIL;
    k = &vm->classes[c];
    if (kind == K_INST) {
        fields(o)[INST_INLINE + k->inline_cap] = (V)++vm->next_idhash;
    } else if (kind == K_SET) {
        fields(o)[SET_MASK] = 7;
    } else if (kind == K_EXC) {
        fields(o)[EXC_TYPE] = k->exc_type;
        fields(o)[EXC_IDHASH] = (V)++vm->next_idhash;
        vm->roots[out] = o;
        V args = vm_new_tuple(vm, 0);
        if (!args)
            return FAIL;
        o = vm->roots[out];
        vm_store_ref(vm, o, &fields(o)[EXC_ARGS], args);
    }
    vm->roots[out] = o;
    return true;
}
