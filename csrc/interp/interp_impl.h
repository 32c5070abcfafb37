/* interp_impl.h - internal definitions of the interpreter (not fed to cdef).
 *
 *   load.c      program image -> code objects, modules; the bytecode verifier
 *   object.c    the value model: allocation, ints, floats, str, list, tuple, dict
 *   set.c       set and frozenset (CPython's table, so iteration order matches)
 *   hash.c      CPython's hashes of ints, floats, tuples, frozensets; str hash
 *   classes.c   class objects, instances, attribute lookup, MRO, super, descriptors
 *   call.c      argument binding, calls from C (nested runs), generators
 *   iter.c      iterators: sequences, dicts, sets, enumerate, zip, map, ...
 *   format.c    str()/repr() of every value, float repr, format specs, % formatting
 *   ops.c       truth, equality, ordering, arithmetic (special methods included)
 *   builtins.c  the built-in functions and types
 *   methods.c   methods of the built-in types (list, dict, str, set, ...)
 *   modules.c   native modules: math, _random, array, gc, time, sys
 *   vm.c        frames, the dispatch loop, exceptions, tracebacks, setup
 *
 * Every value is the address of an object in the managed heap (the runtime's
 * collector traces every non-zero reference word as an address, so ints are
 * boxed; -5..1024 are cached). Rooting: the interpreter's value stack (locals +
 * operands of every frame, and the temporaries of C code between frames), its
 * constants, globals and singletons live in the VM's own root slots
 * [GI_ROOT_BASE, roots_hw); a few C-side tables hold heap references too (class
 * objects, module objects, interned name strings, the attribute cache): the
 * VM's root provider visits them all, so the collector updates them when it
 * moves objects.
 * INVARIANT: no raw object address is held in a C variable across a call that
 * may allocate or run program code (vm_alloc*, vm_call*, anything that calls
 * them): values that must survive are kept in root slots and reloaded after.
 * INVARIANT: every store of a reference into a heap object goes through
 * vm_store_ref / vm_copy_refs (the runtime's write barrier).
 */
#ifndef GCHEAP_INTERP_IMPL_H
#define GCHEAP_INTERP_IMPL_H

#include "gcheap/interp.h"
#include "runtime/runtime_impl.h"

#include <setjmp.h>
#include <stdbool.h>

typedef uintptr_t V;
struct gi_vm;

/* What a value is (its runtime class maps to one of these). A user class's
 * instances have their own runtime class whose kind is the layout it extends:
 * K_INST (object), K_LIST, K_DICT, K_SET or K_EXC. */
enum gi_kind {
    K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_SET,
    K_FUNC, K_CLASS, K_INST, K_BOUND, K_BUILTIN, K_EXC, K_RANGE, K_ITER,
    K_CELL, K_GEN, K_SLICE, K_MODULE, K_SUPER, K_WRAP, K_ARRAY, K_FILE, K_VIEW,
    K_NKINDS
};

/* Field words (index into fields(obj)) of the built-in layouts: refs, then scalars. */
#define STR_DATA 0      /* ref: runtime string of UTF-8 bytes */
#define STR_CPLEN 1     /* code points */
#define STR_HASH 2      /* cached hash + 1 (0 = not computed) */
#define LIST_ITEMS 0    /* ref: ref array (capacity = its length) */
#define LIST_ATTRS 1    /* ref: attribute values of a list subclass's instance, or 0 */
#define LIST_LEN 2
#define DICT_KEYS 0     /* ref arrays of entries (insertion order; deleted key = 0) */
#define DICT_VALS 1
#define DICT_HASHES 2   /* i64 array */
#define DICT_INDEX 3    /* i64 array, open addressing: -1 empty, -2 deleted, else entry */
#define DICT_ATTRS 4
#define DICT_USED 5     /* entries used (including deleted) */
#define DICT_COUNT 6    /* live entries */
#define SET_KEYS 0      /* ref array of mask + 1 entries (0 unused, the dummy object deleted), or 0 */
#define SET_HASHES 1    /* i64 array beside it */
#define SET_ATTRS 2
#define SET_FILL 3
#define SET_USED 4
#define SET_MASK 5
#define SET_FINGER 6
#define SET_FROZEN 7
#define SET_HASH 8      /* frozenset: cached hash + 1 (0 = not computed) */
#define FUNC_DEFAULTS 0 /* ref: tuple or 0 */
#define FUNC_KWDEFAULTS 1 /* ref: dict or 0 */
#define FUNC_CLOSURE 2  /* ref: tuple of cells or 0 */
#define FUNC_CODE 3
#define CLASS_NAME 0    /* ref: str */
#define CLASS_BASES 1   /* ref: tuple */
#define CLASS_MRO 2     /* ref: tuple: the class, then its bases' linearisation */
#define CLASS_DICT 3    /* ref: dict of its attributes (str keys) */
#define CLASS_INDEX 4   /* vm->classes[] */
#define INST_OVERFLOW 0 /* ref: attributes beyond the inline ones (ref array), or 0 */
#define INST_INLINE 1   /* first inline attribute; then the identity hash after cap of them */
#define BOUND_SELF 0
#define BOUND_FUNC 1
#define BUILTIN_ID 0
#define EXC_ARGS 0      /* ref: tuple */
#define EXC_TB 1        /* ref: i64 array of (code, line) pairs, innermost first; or 0 */
#define EXC_ATTRS 2
#define EXC_CAUSE 3     /* ref: __cause__ (raise ... from ...), or 0 */
#define EXC_TYPE 4      /* builtin id of its nearest built-in exception class */
#define EXC_TBLEN 5     /* pairs used in EXC_TB */
#define EXC_IDHASH 6
#define RANGE_START 0
#define RANGE_STOP 1
#define RANGE_STEP 2
#define ITER_SEQ 0      /* ref: what is iterated */
#define ITER_A 1        /* ref: per-type extra (map's function, zip's tuple, ...) */
#define ITER_B 2
#define ITER_TYPE 3     /* IT_* */
#define ITER_POS 4
#define ITER_END 5
#define ITER_STEP 6
#define CELL_VALUE 0
#define GEN_SAVED 0     /* ref: ref array of nlocals + max_stack: the suspended frame's slots */
#define GEN_BLOCKS 1    /* ref: i64 array of handler blocks (handler << 32 | depth), or 0 */
#define GEN_FUNC 2      /* ref: the generator function */
#define GEN_CODE 3
#define GEN_PC 4
#define GEN_DEPTH 5     /* operands saved above the locals */
#define GEN_NBLOCKS 6
#define GEN_STATE 7     /* GS_* */
#define SLICE_START 0
#define SLICE_STOP 1
#define SLICE_STEP 2
#define MODULE_NAME 0
#define MODULE_INDEX 1
#define SUPER_TYPE 0
#define SUPER_OBJ 1
#define WRAP_A 0        /* staticmethod/classmethod: the function; property: fget */
#define WRAP_B 1        /* property: fset */
#define WRAP_C 2        /* property: fdel */
#define WRAP_WHICH 3    /* W_* */
#define ARRAY_DATA 0    /* ref: i64 or f64 array (capacity = its length) */
#define ARRAY_ATTRS 1
#define ARRAY_LEN 2
#define ARRAY_CODE 3    /* typecode character */
#define FILE_FD 0
#define VIEW_DICT 0
#define VIEW_WHICH 1    /* 0 keys 1 values 2 items */

enum { GS_CREATED, GS_SUSPENDED, GS_RUNNING, GS_DONE };
enum { W_STATIC, W_CLASS, W_PROPERTY };
enum {
    IT_LIST, IT_TUPLE, IT_STR, IT_RANGE, IT_DICT, IT_SET, IT_ENUMERATE, IT_ZIP, IT_MAP,
    IT_FILTER, IT_REVERSED, IT_ARRAY, IT_SEQ, IT_CALLABLE, IT_NONE
};

static inline V *fields(V obj) { return (V *)obj + 1; }
static inline uint32_t cls_of(V obj) { return gr_hdr_class(*(uint64_t *)obj); }
static inline uint32_t arr_len(V obj) { return gr_hdr_length(*(uint64_t *)obj); }
static inline V *arr_items(V obj) { return (V *)obj + 1; }
static inline int64_t *arr_i64(V obj) { return (int64_t *)obj + 1; }
static inline double *arr_f64(V obj) { return (double *)obj + 1; }
static inline char *str_bytes_of_data(V data) { return (char *)data + 8; }

/* ---- code */

#define CO_VARARGS 1
#define CO_VARKW 2
#define CO_GENERATOR 4
#define CO_CLASSBODY 8

struct gi_code {
    char *name;                     /* co_name: what tracebacks print */
    char *qualname;
    uint32_t flags;                 /* CO_* */
    uint32_t argcount, kwonlycount, nlocals, nfree, max_stack, ncode;
    bool simple;                    /* positional parameters only, no cells from outside,
                                       not a generator: the loop's own call path */
    uint32_t module;                /* vm->modules[] it belongs to */
    uint32_t *code;
    uint32_t *lines;
    uint32_t nconsts, const_base;   /* constants in root slots [const_base, +nconsts) */
    uint32_t nnames;
    char **names;
    char **local_names;             /* parameters first (positional, keyword-only, *args, **kw) */
    uint32_t *local_ids;            /* interned ids of the local names */
    uint32_t *name_ids;             /* interned attribute name ids (vm->names) */
    struct gi_cache *cache;         /* GI_CACHE_WAYS entries per instruction */
};

/* Inline cache of an attribute instruction: for receivers of runtime class `cls`
 * at class-table version `version`, the answer is (kind, index) (CA_* in classes.c). */
/* An attribute instruction's inline cache: GI_CACHE_WAYS entries (receivers of
 * different classes at one site: a polymorphic cache), most recently filled first;
 * an entry is valid while vm->class_version is its version. */
#define GI_CACHE_WAYS 4
struct gi_cache {
    uint32_t cls;
    uint32_t version;
    uint32_t index;
    uint16_t kind;
    uint16_t aux;
};

/* ---- attribute resolution (classes.c): what an attribute instruction caches.
 * Receivers are keyed by their runtime class, except class objects, modules and
 * built-in type objects, which share one runtime class each: */
#define KEY_CLASS 0x80000000u       /* | class index: a class object as receiver */
#define KEY_MODULE 0x40000000u      /* | module index */
#define KEY_TYPE 0x20000000u        /* | native id: a built-in type object */
enum {
    CA_NONE,
    CA_SLOT,            /* index: the instance attribute (absent: look further) */
    CA_METHOD,          /* resolved[index]: a function; bound to the receiver */
    CA_VALUE,           /* resolved[index]: the value itself */
    CA_CLASSMETHOD,     /* resolved[index]: a function; bound to the receiver's class */
    CA_PROPERTY,        /* resolved[index]: a property; its getter is called */
    CA_NATIVE_METHOD,   /* index: a native method id; bound to the receiver */
    CA_MODULE,          /* index: a global slot */
};
struct gi_attr { uint16_t kind; uint32_t index; };
uint32_t attr_key(struct gi_vm *vm, V obj);
int attr_resolve(struct gi_vm *vm, V obj, uint32_t key, uint32_t name_id, struct gi_attr *out); /* 1, 0 */
bool attr_produce(struct gi_vm *vm, struct gi_attr a, uint32_t obj_slot, uint32_t out); /* value of obj.attr */
bool attr_getattr_slow(struct gi_vm *vm, uint32_t obj_slot, uint32_t name_id, uint32_t out, bool missing_ok, bool *missing);
int class_key_index(struct gi_vm *vm, int class_index, uint32_t name_id);
bool dict_set_hashed(struct gi_vm *vm, uint32_t dslot, uint32_t kslot, uint32_t vslot, uint64_t h);

/* ---- classes (C side; the class object is vm->class_objs[index]) */

struct gi_class {
    char *name;
    uint32_t gr_class;              /* the runtime class of its instances */
    uint8_t kind;                   /* layout: K_INST, K_LIST, K_DICT, K_SET or K_EXC */
    uint8_t slots_only;             /* __slots__ everywhere in the MRO: no other attributes */
    uint16_t exc_type;              /* K_EXC: builtin id of the nearest built-in base */
    uint32_t inline_cap;            /* K_INST: inline attribute words */
    uint32_t nkeys, capkeys;
    uint32_t *keys;                 /* attribute name ids, in slot order */
    uint64_t specials;              /* bit S_x: some class in the MRO (not object) defines it */
    uint32_t module;                /* the module that defined it */
};

/* ---- modules (C side; the module object is vm->module_objs[index]) */

struct gi_module {
    char *name;
    uint32_t code;                  /* body code index (Python modules), or UINT32_MAX */
    uint32_t global_start, nglobals;/* its namespace: global slots */
    uint8_t state;                  /* 0 not imported, 1 importing, 2 imported */
    uint8_t native;
};

struct gi_block {
    uint32_t handler;
    uint32_t depth;                 /* operand stack depth (relative to the frame's stack base) */
};

#define GI_MAX_BLOCKS 20
#define GI_MAX_FRAMES 1000          /* CPython's default recursion limit */
#define GI_MAX_CDEPTH 600           /* nested runs (program code called from C) */
#define GI_VM_ROOTS (1u << 18)      /* root slots of one VM: constants, globals, value stack */
#define GI_ROOT_BASE 1              /* slot 0 means "none" in the VM's calling conventions */

#define F_INIT 1                    /* __init__: the caller keeps the instance; None required */
#define F_CENTRY 2                  /* called from C: returning ends the nested run */
#define F_GEN_FOR 4                 /* a generator resumed by FOR_ITER */
#define F_DISCARD 8                 /* the result is dropped (sp = ret_slot) */
#define F_MODULE 16                 /* a module body: the caller gets the module object */

struct gi_frame {
    struct gi_code *code;
    uint32_t pc;
    uint32_t base;                  /* root slot of local 0 */
    uint32_t stack;                 /* root slot of operand 0 = base + nlocals */
    uint32_t sp;                    /* root slot of the next free operand */
    uint32_t ret_slot;              /* where the result goes in the caller */
    uint32_t saved_ctop;            /* vm->ctop before this frame was pushed */
    uint32_t gen_slot;              /* root slot holding the running generator, or 0 */
    uint32_t module_slot;           /* F_MODULE: root slot holding the module object */
    uint16_t nblocks;
    uint16_t flags;                 /* F_* */
    struct gi_block blocks[GI_MAX_BLOCKS];
};

/* Special methods the VM looks up on user classes (bit i of gi_class.specials). */
enum {
    S_INIT, S_REPR, S_STR, S_EQ, S_NE, S_LT, S_LE, S_GT, S_GE, S_HASH, S_BOOL, S_LEN,
    S_GETITEM, S_SETITEM, S_DELITEM, S_CONTAINS, S_ITER, S_NEXT, S_CALL, S_GETATTR,
    S_ENTER, S_EXIT, S_NEG, S_POS, S_INVERT, S_ABS, S_INDEX, S_INT, S_FLOAT, S_FORMAT,
    S_SETATTR, S_NEW,
    /* binary operators: forward, reflected and in-place, in bytecode order (ADD..XOR) */
    S_ADD, S_SUB, S_MUL, S_TRUEDIV, S_FLOORDIV, S_MOD, S_POW, S_LSHIFT, S_RSHIFT, S_AND,
    S_OR, S_XOR,
    S_RADD, S_RSUB, S_RMUL, S_RTRUEDIV, S_RFLOORDIV, S_RMOD, S_RPOW, S_RLSHIFT,
    S_RRSHIFT, S_RAND, S_ROR, S_RXOR,
    S_IADD, S_ISUB, S_IMUL, S_ITRUEDIV, S_IFLOORDIV, S_IMOD, S_IPOW, S_ILSHIFT,
    S_IRSHIFT, S_IAND, S_IOR, S_IXOR,
    S_COUNT
};
extern const char *const gi_special_names[S_COUNT];

/* ---- natives: built-in functions, types, methods and module functions */

struct gi_vm;
/* args: argc values in consecutive root slots; when kwnames (a root slot holding a
 * tuple of str) is non-zero, the last len(kwnames) values are keyword arguments.
 * The result goes into out (which may be one of the argument slots) only after
 * every argument has been consumed. */
typedef bool (*gi_native_fn)(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames, uint32_t out);

#define N_KW 1          /* accepts keyword arguments */
#define N_TYPE 2        /* a type object (int, list, ValueError, ...) */
#define N_METHOD 4      /* a method of a built-in type: args[0] is self */
#define N_EXC 8         /* an exception class */

struct gi_native {
    const char *name;               /* "len", "list.append", "math.sin" */
    gi_native_fn fn;
    int16_t min, max;               /* positional arguments (max -1: any), self included */
    uint16_t flags;
};

#include "interp/builtin_ids.h"

extern const struct gi_native gi_natives[];
extern const uint32_t gi_nnatives;
bool gi_exc_subclass(int sub, int sup);
int gi_exc_parent(int t);

/* ---- the VM */

struct gi_memo;                     /* (class, name) -> resolved attribute (classes.c) */

struct gi_vm {
    gr_runtime *rt;
    struct gr_mutator *m;
    V *roots;                       /* the VM's root slots (GI_VM_ROOTS), a root provider */
    uint32_t roots_hw;              /* slots [GI_ROOT_BASE, roots_hw) may be in use */
    uint32_t ctop;                  /* first root slot free for frames and C temporaries */
    struct gr_root_provider provider;
    uint32_t nroots_fixed;          /* first free slot above constants/globals */
    uint32_t stack_limit;           /* GI_VM_ROOTS */
    int out_fd, err_fd, options;
    char *filename;
    uint32_t gr_class[K_NKINDS];    /* runtime class of each built-in layout */
    uint32_t gr_frozenset;          /* frozensets: the set layout, a class of their own */
    int8_t kind_of_class[GR_MAX_CLASSES];   /* runtime class -> K_* (-1: not a value) */
    int32_t user_class_of[GR_MAX_CLASSES];  /* runtime class -> vm->classes[] or -1 */
    struct layout_cache *layouts;   /* the runtime's layouts this VM may reuse (classes.c) */
    /* program */
    uint32_t ncodes, nglobals, nmodules;
    struct gi_code *codes;
    char **global_names;
    int32_t *global_builtin;        /* global slot -> builtin id it falls back to, or -1 */
    uint32_t global_base;
    struct gi_module *modules;
    V *module_objs;                 /* root-visited */
    /* classes */
    struct gi_class *classes;
    V *class_objs;                  /* root-visited */
    uint32_t nclasses, capclasses;
    uint32_t class_version;         /* bumped when a class attribute changes */
    struct gi_memo *memo;
    V *resolved;                    /* root-visited: resolved class attributes */
    uint32_t nresolved, capresolved;
    /* root slots of singletons */
    uint32_t r_none, r_true, r_false, r_small_ints, r_builtins, r_argv, r_exc, r_empty_str;
    uint32_t r_notimpl, r_dummy, r_memerr, r_stdout, r_stderr, r_ellipsis;
    /* interned names */
    char **names;
    uint32_t nnames, capnames;
    uint32_t *name_table;           /* open addressing: id + 1, 0 empty */
    uint32_t name_table_cap;
    V *name_strs;                   /* root-visited: str object of each name, or 0 */
    uint64_t *name_hashes;          /* hash of each name as a str */
    int32_t *name_builtin;          /* name id -> builtin id (the namespace), or -1 */
    uint32_t special_ids[S_COUNT];
    int32_t *method_of;             /* (kind, name id) -> native id: see builtin_method() */
    uint32_t method_cap;
    uint64_t next_idhash;
    struct gi_frame *frames;
    uint32_t nframes;
    uint32_t cdepth;                /* nested runs */
    uint32_t native_id;             /* the native being called (natives shared by several ids) */
    uint64_t allocs_base;           /* allocations: vm->m->objects_allocated - allocs_base */
    uint64_t budget;                /* stop after this many loops and calls (tests) */
    uint64_t polls;
    uint32_t native_steps;          /* vm_native_step's counter */
    uint64_t int_size, int_hdr, float_size, float_hdr;   /* boxed ints and floats */
    bool gc_enabled;
    uint64_t allocs_at_last_collect, live_at_last_collect;
    int recursion_limit;
    /* _random: one Mersenne Twister state per Random instance lives in the heap;
     * nothing here */
    /* output buffer */
    char *out;
    size_t outlen, outcap;
    /* failure unwinding: a runtime failure under the program (not a program error) */
    jmp_buf fatal_jmp;
    int fatal_errno;
    char fatal_msg[200];
    struct gi_result *result;
    int exit_code;                  /* SystemExit */
    bool exiting;
};

#define SMALL_INT_MIN (-5)
#define SMALL_INT_MAX 1024

/* ---- stack and roots */
static inline V vm_root(struct gi_vm *vm, uint32_t slot) { return vm->roots[slot]; }
static inline V vm_none(struct gi_vm *vm) { return vm->roots[vm->r_none]; }
static inline V vm_bool(struct gi_vm *vm, bool b) { return vm->roots[b ? vm->r_true : vm->r_false]; }
/* n temporaries above everything in use; released (and cleared) by vm_release. */
uint32_t vm_reserve(struct gi_vm *vm, uint32_t n);
void vm_release(struct gi_vm *vm, uint32_t mark);

/* ---- errors: raising sets the pending exception (root r_exc) and returns false */
#define FAIL false
bool vm_raise(struct gi_vm *vm, int type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool vm_raise_value(struct gi_vm *vm, int type, uint32_t arg_slot);  /* arg from a root slot */
bool vm_raise_exc(struct gi_vm *vm, uint32_t exc_slot);              /* an exception object */
void vm_fatal(struct gi_vm *vm, int err, const char *what) __attribute__((noreturn));
bool vm_exc_matches(struct gi_vm *vm, V exc, int builtin_type);     /* pending exception type */
void vm_clear_exc(struct gi_vm *vm);

/* ---- allocation (may collect: see the invariant above) */
V vm_alloc_instance(struct gi_vm *vm, uint32_t gr_class);
V vm_alloc_array(struct gi_vm *vm, uint32_t gr_class, uint64_t length);
V vm_alloc_slow(struct gi_vm *vm, uint64_t size, uint64_t hdr);   /* gr_alloc, the choke point */

/* The allocation of small objects: gr_alloc's own fast path inline (a bump in
 * the mutator's TLAB), everything else through gr_alloc. */
static inline V vm_alloc_small(struct gi_vm *vm, uint64_t size, uint64_t hdr)
{
    V p = gr_alloc_fast(vm->rt, vm->m, size);
    if (__builtin_expect(p != 0, 1)) {
        *(uint64_t *)p = hdr;
        return p;
    }
    return vm_alloc_slow(vm, size, hdr);
}

static inline V vm_new_int(struct gi_vm *vm, int64_t v)
{
    if (v >= SMALL_INT_MIN && v <= SMALL_INT_MAX)
        return vm->roots[vm->r_small_ints + (v - SMALL_INT_MIN)];
    V o = vm_alloc_small(vm, vm->int_size, vm->int_hdr);
    if (o)
        fields(o)[0] = (V)v;
    return o;
}

static inline V vm_new_float(struct gi_vm *vm, double d)
{
    V o = vm_alloc_small(vm, vm->float_size, vm->float_hdr);
    if (o)
        memcpy(&fields(o)[0], &d, 8);
    return o;
}
V vm_new_str(struct gi_vm *vm, const char *bytes, size_t n);
V vm_new_list(struct gi_vm *vm, uint64_t capacity);   /* empty list */
V vm_new_tuple(struct gi_vm *vm, uint64_t n);         /* n zero items: fill them before use */
V vm_new_dict(struct gi_vm *vm);
V vm_new_exc(struct gi_vm *vm, int type, uint32_t arg_slot); /* arg_slot 0 = no argument */
V vm_new_set(struct gi_vm *vm, bool frozen);
V vm_new_cell(struct gi_vm *vm, uint32_t value_slot);
V vm_new_iter(struct gi_vm *vm, int type, uint32_t seq_slot);
V vm_new_builtin(struct gi_vm *vm, uint32_t id);
/* THE reference store into a heap object: the runtime's write barrier, then the store. */
static inline void vm_store_ref(struct gi_vm *vm, V obj, V *slot, V value)
{
    gr_store_ref(vm->rt, vm->m, obj, slot, value);
}

/* n reference stores into holder (bulk copies: growing a list, concatenation),
 * each through the barrier. */
static inline void vm_copy_refs(struct gi_vm *vm, V holder, V *dst, const V *src, uint64_t n)
{
    if (dst > src && dst < src + n) {   /* overlapping, copying upward */
        for (uint64_t i = n; i-- > 0;)
            gr_store_ref(vm->rt, vm->m, holder, &dst[i], src[i]);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        gr_store_ref(vm->rt, vm->m, holder, &dst[i], src[i]);
}
/* vm_copy_refs between the arrays in two root slots, polling for safepoints on the
 * way (csrc/interp/object.c): for copies that may be long. */
void vm_copy_refs_polling(struct gi_vm *vm, uint32_t dst_slot, uint64_t dst_off, uint32_t src_slot,
                          uint64_t src_off, uint64_t n);
/* bulk string copies with safepoint polls (csrc/interp/object.c); vm_copy_str_polling
 * below does a short one inline */
void vm_copy_str_steps(struct gi_vm *vm, uint32_t dst_slot, uint64_t dst_off, uint32_t src_slot,
                       uint64_t src_off, uint64_t n);
/* byte offset of the str in sub_slot in bytes [from, to) of the str in hay_slot, or
 * -1; a huge haystack is searched a window at a time with safepoint polls between */
int64_t vm_find_str_polling(struct gi_vm *vm, uint32_t hay_slot, uint64_t from, uint64_t to, uint32_t sub_slot);
int64_t vm_rfind_str_polling(struct gi_vm *vm, uint32_t hay_slot, uint64_t from, uint64_t to, uint32_t sub_slot);
#define VM_BYTES_STEP (256u << 10)     /* bytes a bulk string copy writes between polls */
/* memmove of a list's items with safepoint polls (csrc/interp/object.c) */
void vm_shift_list_polling(struct gi_vm *vm, uint32_t list_slot, uint64_t dst, uint64_t src, uint64_t n);
V vm_str_from_name(struct gi_vm *vm, uint32_t name_id);      /* interned str object */
bool vm_set_out_str(struct gi_vm *vm, uint32_t out, const char *s, size_t n);

/* ---- kinds and unboxing */
static inline int vm_kind(struct gi_vm *vm, V v) { return vm->kind_of_class[cls_of(v)]; }
static inline int64_t int_val(V v) { return (int64_t)fields(v)[0]; }
static inline double float_val(V v) { double d; memcpy(&d, &fields(v)[0], 8); return d; }
static inline const char *str_ptr(V s) { return str_bytes_of_data(fields(s)[STR_DATA]); }
/* n bytes from byte src_off of the str in src_slot to byte dst_off of the string data
 * array in dst_slot: up to VM_BYTES_STEP in one memcpy, more in steps with safepoint
 * polls between them (vm_copy_str_steps) */
static inline void vm_copy_str_polling(struct gi_vm *vm, uint32_t dst_slot, uint64_t dst_off, uint32_t src_slot,
                                       uint64_t src_off, uint64_t n)
{
    if (n <= VM_BYTES_STEP) {
        memcpy(str_bytes_of_data(vm->roots[dst_slot]) + dst_off, str_ptr(vm->roots[src_slot]) + src_off, n);
        return;
    }
    vm_copy_str_steps(vm, dst_slot, dst_off, src_slot, src_off, n);
}
static inline uint32_t str_nbytes(V s) { return arr_len(fields(s)[STR_DATA]); }
static inline bool is_intlike(int k) { return k == K_INT || k == K_BOOL; }
static inline bool is_num(int k) { return k == K_INT || k == K_BOOL || k == K_FLOAT; }
static inline double num_f(int k, V v) { return k == K_FLOAT ? float_val(v) : (double)(int64_t)fields(v)[0]; }
const char *vm_type_name(struct gi_vm *vm, V v);
/* items and length of a list or tuple (others: false) */
static inline bool vm_seq(struct gi_vm *vm, V v, V **items, uint64_t *n)
{
    int k = vm_kind(vm, v);
    if (k == K_LIST) {
        *items = arr_items(fields(v)[LIST_ITEMS]);
        *n = fields(v)[LIST_LEN];
        return true;
    }
    if (k == K_TUPLE) {
        *items = arr_items(v);
        *n = arr_len(v);
        return true;
    }
    *items = NULL;
    *n = 0;
    return false;
}
static inline int vm_user_class(struct gi_vm *vm, V v) { return vm->user_class_of[cls_of(v)]; }

/* ---- lists, dicts, sets (values passed through root slots where they must survive) */
bool list_append(struct gi_vm *vm, uint32_t list_slot, uint32_t value_slot);
bool list_reserve(struct gi_vm *vm, uint32_t list_slot, uint64_t n);
bool dict_set(struct gi_vm *vm, uint32_t dict_slot, uint32_t key_slot, uint32_t value_slot);
int64_t dict_lookup(struct gi_vm *vm, V dict, V key, bool *err);  /* entry index or -1 */
int64_t dict_lookup_hashed(struct gi_vm *vm, V d, V key, uint64_t h, bool *err);
int dict_delete(struct gi_vm *vm, uint32_t dict_slot, uint32_t key_slot); /* 1 deleted, 0 absent, -1 raised */
bool vm_hash(struct gi_vm *vm, V v, uint64_t *out);                /* may run __hash__ */
uint64_t hash_int(int64_t v);
uint64_t hash_double(double d, V obj);
uint64_t hash_bytes(const char *p, size_t n);
int set_contains(struct gi_vm *vm, V set, V key);                 /* -1 raised */
bool set_add(struct gi_vm *vm, uint32_t set_slot, uint32_t key_slot);
int set_discard(struct gi_vm *vm, uint32_t set_slot, uint32_t key_slot); /* 1, 0, -1 */
bool set_update(struct gi_vm *vm, uint32_t set_slot, uint32_t other_slot);
bool set_binop(struct gi_vm *vm, int op, uint32_t a, uint32_t b, uint32_t out); /* op: '|', '&', '-', '^' */
bool set_inplace(struct gi_vm *vm, int op, uint32_t a, uint32_t b);
int set_compare(struct gi_vm *vm, int op, V a, V b);              /* 0 <, 1 <=, 2 >, 3 >=, 4 ==; -1 raised */
bool set_copy(struct gi_vm *vm, uint32_t src, uint32_t out, bool frozen);
bool set_pop(struct gi_vm *vm, uint32_t set_slot, uint32_t out);
void set_clear(struct gi_vm *vm, V set);
bool set_next(struct gi_vm *vm, V set, uint64_t *pos, V *key);    /* no allocation */
uint64_t frozenset_hash(struct gi_vm *vm, V set);

/* ---- operations */
int vm_truthy(struct gi_vm *vm, V v);                 /* 1, 0, -1 raised (may run __bool__/__len__) */
int vm_equal(struct gi_vm *vm, V a, V b);             /* 1, 0, -1 raised */
int vm_compare(struct gi_vm *vm, int op, V a, V b);   /* op: 0 <, 1 <=, 2 >, 3 >=; -1 raised */
int vm_compare_slots(struct gi_vm *vm, int op, uint32_t a, uint32_t b); /* same, values in slots */
int vm_equal_slots(struct gi_vm *vm, uint32_t a, uint32_t b);
bool vm_binary(struct gi_vm *vm, int op, uint32_t a_slot, uint32_t b_slot, uint32_t out_slot);
bool vm_unary(struct gi_vm *vm, int op, uint32_t slot);              /* op: OP_NEG/POS/INVERT/NOT */
int vm_contains(struct gi_vm *vm, uint32_t container_slot, uint32_t item_slot);
bool vm_len(struct gi_vm *vm, uint32_t slot, int64_t *out);
bool vm_index_value(struct gi_vm *vm, V v, int64_t *out);            /* an int or __index__ */

/* ---- subscripts, slices */
bool vm_getitem(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t out);
bool vm_setitem(struct gi_vm *vm, uint32_t obj, uint32_t key, uint32_t value);
bool vm_delitem(struct gi_vm *vm, uint32_t obj, uint32_t key);
/* the bounds of slice over the sequence in slot seq (its length read after their __index__) */
bool slice_indices(struct gi_vm *vm, V slice, uint32_t seq, int64_t *start, int64_t *stop, int64_t *step, int64_t *n);
V vm_substr(struct gi_vm *vm, uint32_t s, uint64_t from, uint64_t to, uint64_t cps);
uint64_t cps_of(const char *p, size_t n);   /* code points in n bytes of valid UTF-8 */
uint64_t str_cp_offset(V s, uint64_t cp);

/* ---- text */
struct gi_buf { char *p; size_t len, cap; bool oom; };
void buf_put(struct gi_buf *b, const char *s, size_t n);
static inline void buf_puts(struct gi_buf *b, const char *s) { buf_put(b, s, strlen(s)); }
bool vm_to_text(struct gi_vm *vm, uint32_t slot, bool repr, struct gi_buf *b);  /* may run __repr__ */
void format_float_repr(double d, char *out, size_t cap);
bool vm_format_spec(struct gi_vm *vm, uint32_t slot, const char *spec, size_t speclen, struct gi_buf *b);
V vm_str_of(struct gi_vm *vm, uint32_t slot, bool repr);  /* new str object; 0 on error */
bool vm_percent_format(struct gi_vm *vm, uint32_t fmt_slot, uint32_t args_slot, uint32_t out);
bool vm_str_format(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames, uint32_t out);
void vm_write_out(struct gi_vm *vm, const char *s, size_t n);
void vm_flush_out(struct gi_vm *vm);
void vm_write_err(struct gi_vm *vm, const char *s, size_t n);
bool vm_print(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames);

/* ---- calls */
bool vm_call(struct gi_vm *vm, uint32_t f_slot, uint32_t argc, uint32_t kwnames, uint32_t out);
bool vm_call_value(struct gi_vm *vm, V f, uint32_t args, uint32_t argc, uint32_t out); /* copies */
bool vm_call_method(struct gi_vm *vm, uint32_t self_slot, uint32_t name_id, uint32_t args, uint32_t argc,
                    uint32_t out, bool *found);
bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);
bool vm_call_native(struct gi_vm *vm, uint32_t id, uint32_t args, uint32_t argc, uint32_t kwnames, uint32_t out);
int vm_run_nested(struct gi_vm *vm);  /* runs until the F_CENTRY frame on top ends: RUN_* */
enum { RUN_EXC = 0, RUN_RETURNED = 1, RUN_YIELDED = 2 };
int gen_resume(struct gi_vm *vm, uint32_t gen_slot, uint32_t send_slot, uint32_t out); /* RUN_* */
bool push_function_frame(struct gi_vm *vm, uint32_t f_slot, uint32_t base, uint32_t npos, uint32_t kwnames,
                         uint32_t ret_slot, uint16_t flags, bool *pushed);
bool make_generator(struct gi_vm *vm);  /* the top frame becomes a suspended generator */
bool vm_import(struct gi_vm *vm, uint32_t module, uint32_t out, bool *pushed);

/* ---- iteration */
bool vm_get_iter(struct gi_vm *vm, uint32_t slot);          /* replaces the value by an iterator */
int vm_next(struct gi_vm *vm, uint32_t it_slot, uint32_t out); /* 1 item, 0 exhausted, -1 raised */
bool vm_iterate_into_list(struct gi_vm *vm, uint32_t src_slot, uint32_t list_slot);
bool vm_to_list(struct gi_vm *vm, uint32_t src_slot, uint32_t out);   /* new list (lists copied) */
bool vm_to_seq(struct gi_vm *vm, uint32_t slot);  /* lists/tuples stay, other iterables become lists */

/* ---- classes and attributes */
bool vm_getattr(struct gi_vm *vm, uint32_t obj, uint32_t name_id, uint32_t out);
int vm_getattr_opt(struct gi_vm *vm, uint32_t obj, uint32_t name_id, uint32_t out); /* 1, 0 absent, -1 */
bool vm_setattr(struct gi_vm *vm, uint32_t obj, uint32_t name_id, uint32_t value);
bool vm_delattr(struct gi_vm *vm, uint32_t obj, uint32_t name_id);
bool vm_build_class(struct gi_vm *vm, uint32_t first, uint32_t nbases, uint32_t out); /* name bases.. ns */
bool vm_isinstance(struct gi_vm *vm, V obj, V cls, int *res);
bool vm_issubclass(struct gi_vm *vm, V sub, V sup, int *res);
V vm_type_of(struct gi_vm *vm, V v);    /* class object or builtin type object (never allocates) */
int vm_class_lookup(struct gi_vm *vm, V cls, uint32_t name_id, V *out); /* 1 found (no alloc), 0 */
V vm_special(struct gi_vm *vm, V obj, int special);  /* user class special method or 0 (no alloc) */
static inline bool has_special(struct gi_vm *vm, V obj, int s)
{
    int c = vm->user_class_of[cls_of(obj)];
    return c >= 0 && (vm->classes[c].specials >> s & 1);
}
V *inst_attr_slot(struct gi_vm *vm, V obj, uint32_t index); /* address of an attribute word, or NULL */
uint32_t vm_intern(struct gi_vm *vm, const char *name);
uint32_t vm_intern_n(struct gi_vm *vm, const char *name, size_t n);
int32_t builtin_method(struct gi_vm *vm, int kind, uint32_t name_id);  /* native id or -1 */
void classes_invalidate(struct gi_vm *vm);
bool vm_module_getattr(struct gi_vm *vm, V module, uint32_t name_id, uint32_t out);
int module_global(struct gi_vm *vm, uint32_t module, uint32_t name_id);  /* global index or -1 */
bool vm_alloc_user_instance(struct gi_vm *vm, uint32_t class_index, uint32_t out);

/* ---- builtins */
bool vm_collect(struct gi_vm *vm);
bool kw_none(struct gi_vm *vm, const char *fname, uint32_t kwnames);
int kw_find(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames, const char *name); /* slot or 0 */
uint32_t kw_count(struct gi_vm *vm, uint32_t kwnames);
bool vm_sort_list(struct gi_vm *vm, uint32_t list_slot, uint32_t key_slot, bool reverse);
bool vm_exc_init(struct gi_vm *vm, uint32_t exc_slot, uint32_t args, uint32_t argc);
int vm_exc_type_of_obj(struct gi_vm *vm, V v);       /* builtin exception id of an exception value, -1 */
const char *vm_exc_class_name(struct gi_vm *vm, V e);
void modules_init_natives(struct gi_vm *vm);
bool vm_native_module_attr(struct gi_vm *vm, const char *module, const char *attr, uint32_t out, bool *found);

/* ---- loading */
struct gi_const {
    uint8_t tag;                    /* 0 None 1 True 2 False 3 int 4 float 5 str 6 tuple 7 Ellipsis 8 frozenset */
    int64_t i;
    double f;
    char *s;
    uint32_t slen;
    uint32_t n;                     /* tuple: items */
    struct gi_const *items;
};
struct gi_image;
int vm_load(struct gi_vm *vm, const char *image, uint64_t len, char ***argv_out, uint32_t *argc_out,
            struct gi_const ***consts_out);
void vm_unload(struct gi_vm *vm);
void vm_free_consts(struct gi_vm *vm, struct gi_const **consts);

/* Native loops (iteration, comparisons) reach a safepoint every 1024 steps; as
 * any allocation, it may move objects: only at points where the caller holds its
 * values in root slots. */
void vm_native_poll(struct gi_vm *vm);
/* For loops that copy many small pieces: counts the bytes written and polls once
 * VM_BYTES_STEP of them are done. true when it polled (raw addresses are stale). */
static inline bool vm_poll_bytes(struct gi_vm *vm, uint64_t *since, uint64_t n)
{
    *since += n;
    if (*since < VM_BYTES_STEP)
        return false;
    *since = 0;
    vm_native_poll(vm);
    return true;
}
static inline void vm_native_step(struct gi_vm *vm)
{
    if (__builtin_expect((++vm->native_steps & 1023) == 0, 0))
        vm_native_poll(vm);
}

static inline uint64_t vm_allocations(struct gi_vm *vm)
{
    return vm->m->objects_allocated - vm->allocs_base;
}

/* Pushes the frame struct of code at base (locals already in place). */
static inline struct gi_frame *vm_push_frame_struct(struct gi_vm *vm, struct gi_code *code, uint32_t base,
                                                    uint32_t ret, uint16_t flags, uint32_t saved_ctop)
{
    uint32_t end = base + code->nlocals + code->max_stack;
    struct gi_frame *fr = &vm->frames[vm->nframes++];
    fr->code = code;
    fr->pc = 0;
    fr->base = base;
    fr->stack = base + code->nlocals;
    fr->sp = fr->stack;
    fr->ret_slot = ret;
    fr->saved_ctop = saved_ctop;
    fr->gen_slot = 0;
    fr->module_slot = 0;
    fr->nblocks = 0;
    fr->flags = flags;
    if (end > vm->ctop)
        vm->ctop = end;
    if (vm->ctop > vm->roots_hw)
        vm->roots_hw = vm->ctop;
    return fr;
}

/* Pops the top frame, clearing its slots (dead locals keep nothing alive); a
 * plain loop: frames are a few dozen slots, a memset call costs more. */
static inline void vm_pop_frame(struct gi_vm *vm)
{
    struct gi_frame *fr = &vm->frames[vm->nframes - 1];
    V *p = &vm->roots[fr->base];
    for (uint32_t i = 0, n = fr->code->nlocals + fr->code->max_stack; i < n; i++)
        p[i] = 0;
    vm->ctop = fr->saved_ctop;
    vm->nframes--;
}

#endif
