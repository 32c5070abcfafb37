/* interp.h - internal definitions of the interpreter (not fed to cdef).
 *
 *   interp_load.c     program image -> code objects, classes, constants
 *   interp_object.c   value model: boxed ints/floats, str, list, tuple, dict, instances
 *   interp_format.c   str()/repr() of every value, float repr, format specs
 *   interp_ops.c      arithmetic, comparison, hashing, truth
 *   interp_builtins.c built-in functions and methods
 *   interp_vm.c       frames, the dispatch loop, calls, exceptions, tracebacks
 *
 * Every value is the address of an object in the managed heap (the runtime's
 * collector traces only real addresses, so ints are boxed; -5..1024 are cached).
 * Rooting: the interpreter's value stack (locals + operands of every frame), its
 * constants, globals and singletons live in the VM's own root slots
 * [GI_ROOT_BASE, GI_VM_ROOTS), which the VM registers with the runtime as a root
 * provider; the collector updates them when it moves objects. Programs on one
 * runtime share nothing but the heap.
 * INVARIANT: no raw object address is held in a C variable across a call that may
 * allocate (vm_alloc and everything that calls it): values that must survive an
 * allocation are pushed on the value stack first and reloaded after.
 */
#ifndef GCHEAP_INTERP_IMPL_H
#define GCHEAP_INTERP_IMPL_H

#include "gcheap/interp.h"
#include "runtime/runtime_impl.h"

#include <setjmp.h>
#include <stdbool.h>

typedef uintptr_t V;

/* Built-in instance layouts: (nrefs, nscalars); words after the header. */
enum gi_kind {
    K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_LIST, K_DICT, K_FUNC, K_CLASS, K_BOUND,
    K_BUILTIN, K_EXC, K_RANGE, K_ITER, K_NKINDS
};

/* Field words (index into ((V *)obj)[1 + i]) of the built-in layouts. */
#define STR_DATA 0      /* ref: GR string of UTF-8 bytes */
#define STR_CPLEN 1     /* code points */
#define STR_HASH 2      /* cached hash, 0 = not computed */
#define LIST_ITEMS 0    /* ref: GR ref array (capacity = its length) */
#define LIST_LEN 1
#define DICT_KEYS 0     /* ref arrays of entries (insertion order; deleted key = 0) */
#define DICT_VALS 1
#define DICT_HASHES 2   /* i64 array */
#define DICT_INDEX 3    /* i64 array, open addressing: -1 empty, -2 deleted, else entry */
#define DICT_USED 4     /* entries used (including deleted) */
#define DICT_COUNT 5    /* live entries */
#define FUNC_DEFAULTS 0 /* ref: tuple or 0 */
#define FUNC_CODE 1
#define CLASS_METHODS 0 /* ref: tuple of functions, in ClassInfo.methods order */
#define CLASS_INDEX 1
#define BOUND_SELF 0
#define BOUND_FUNC 1
#define BUILTIN_ID 0
#define EXC_ARG 0       /* ref: the argument (0: none) */
#define EXC_TB 1        /* ref: i64 array of (code, line) pairs, innermost first; or 0 */
#define EXC_TYPE 2      /* builtin id of its class */
#define EXC_TBLEN 3     /* pairs used in EXC_TB */
#define RANGE_START 0
#define RANGE_STOP 1
#define RANGE_STEP 2
#define ITER_SEQ 0      /* ref: list, tuple, str, dict or 0 (range iterator) */
#define ITER_POS 1      /* index / byte offset / entry, or current value for ranges */
#define ITER_END 2      /* range stop */
#define ITER_STEP 3     /* range step; 0 for non-range iterators */

static inline V *fields(V obj) { return (V *)obj + 1; }
static inline uint32_t cls_of(V obj) { return gr_hdr_class(*(uint64_t *)obj); }
static inline uint32_t arr_len(V obj) { return gr_hdr_length(*(uint64_t *)obj); }
static inline V *arr_items(V obj) { return (V *)obj + 1; }
static inline int64_t *arr_i64(V obj) { return (int64_t *)obj + 1; }
static inline char *str_bytes_of_data(V data) { return (char *)data + 8; }

struct gi_code {
    char *name;
    uint32_t argcount, nlocals, max_stack, ncode;
    uint32_t *code;
    uint32_t *lines;
    uint32_t nconsts, const_base;   /* constants in root slots [const_base, +nconsts) */
    uint32_t nnames;
    char **names;
    char **local_names;
    uint32_t *name_ids;             /* interned attribute name ids (vm->attr_names) */
    struct gi_cache *cache;         /* one inline cache per instruction */
};

/* Inline cache of LOAD_ATTR / STORE_ATTR / CALL_METHOD: for receivers of class
 * `cls`, the attribute is slot `index` (kind 1) or method `index` (kind 2). */
struct gi_cache {
    uint32_t cls;
    uint16_t kind;
    uint16_t index;
};

struct gi_class {
    char *name;
    uint32_t gr_class;              /* the runtime class id of its instances */
    uint32_t nslots, nmethods;
    uint32_t *slot_names;           /* attr name ids */
    uint32_t *method_names;
    int32_t init_method;            /* index of __init__ or -1 */
    uint32_t root;                  /* root slot of the class object once built */
};

struct gi_block {
    uint32_t handler;
    uint32_t depth;                 /* operand stack depth (relative to the frame's stack base) */
};

#define GI_MAX_BLOCKS 20
#define GI_MAX_FRAMES 1000
#define GI_VM_ROOTS 65536            /* root slots of one VM: constants, globals, value stack */
#define GI_ROOT_BASE 1              /* slot 0 means "none" in the VM's calling conventions */          /* CPython's default recursion limit */

struct gi_frame {
    struct gi_code *code;
    uint32_t pc;
    uint32_t base;                  /* root slot of local 0 */
    uint32_t stack;                 /* root slot of operand 0 = base + nlocals */
    uint32_t sp;                    /* root slot of the next free operand */
    uint32_t nblocks;
    uint8_t init_call;              /* __init__ frame: the caller gets the instance */
    uint32_t ret_slot;              /* where the result goes in the caller */
    struct gi_block blocks[GI_MAX_BLOCKS];
};

struct gi_vm {
    gr_runtime *rt;
    struct gr_mutator *m;
    V *roots;                       /* the VM's root slots (GI_VM_ROOTS), a root provider */
    uint32_t roots_hw;              /* slots [GI_ROOT_BASE, roots_hw) may be in use */
    struct gr_root_provider provider;
    uint32_t nroots_fixed;          /* first free slot above constants/globals */
    uint32_t stack_limit;           /* GI_VM_ROOTS */
    int out_fd, err_fd, options;
    char *filename;
    uint32_t gr_class[K_NKINDS];    /* runtime class id of each built-in layout */
    int kind_of_class[GR_MAX_CLASSES]; /* runtime class id -> K_* or -1 (user instance: -2) */
    int user_class_of[GR_MAX_CLASSES]; /* runtime class id -> gi_class index */
    uint32_t ncodes, nclasses, nglobals;
    struct gi_code *codes;
    struct gi_class *classes;
    char **global_names;
    uint32_t global_base;
    /* root slots of singletons */
    uint32_t r_none, r_true, r_false, r_small_ints, r_builtins, r_argv, r_exc, r_empty_str;
    uint32_t r_scratch;             /* a few scratch roots for multi-step allocations */
    /* interned attribute names */
    char **attr_names;
    uint32_t nattr, capattr;
    uint64_t next_idhash;
    struct gi_frame *frames;
    uint32_t nframes;
    uint64_t instructions, allocations;
    uint64_t budget;                /* stop after this many instructions (tests) */
    /* output buffer */
    char *out;
    size_t outlen, outcap;
    /* failure unwinding: a runtime failure under the program (not a program error) */
    jmp_buf fatal_jmp;
    int fatal_errno;
    char fatal_msg[200];
    struct gi_result *result;
};

#define SMALL_INT_MIN (-5)
#define SMALL_INT_MAX 1024

/* builtin ids: must match gcheap/interp/bytecode.py BUILTINS (checked by a test) */
enum {
    B_PRINT, B_LEN, B_RANGE, B_ABS, B_MIN, B_MAX, B_ISINSTANCE, B_STR, B_INT, B_FLOAT,
    B_BOOL, B_LIST, B_DICT, B_TUPLE,
    B_EXCEPTION, B_ARITHMETICERROR, B_LOOKUPERROR, B_ZERODIVISIONERROR, B_OVERFLOWERROR,
    B_INDEXERROR, B_KEYERROR, B_VALUEERROR, B_TYPEERROR, B_ATTRIBUTEERROR, B_RUNTIMEERROR,
    B_RECURSIONERROR, B_NOTIMPLEMENTEDERROR, B_ASSERTIONERROR, B_NAMEERROR,
    B_UNBOUNDLOCALERROR, B_MEMORYERROR, B_BASEEXCEPTION, B_KEYBOARDINTERRUPT,
    B_PERF_COUNTER, B_GC_COLLECT, B_HEAP_STATS,
    B_COUNT
};
#define B_FIRST_EXC B_EXCEPTION
#define B_LAST_EXC B_KEYBOARDINTERRUPT
extern const char *const gi_builtin_names[B_COUNT];
bool gi_exc_subclass(int sub, int sup);

/* ---- stack and roots */
static inline V vm_root(struct gi_vm *vm, uint32_t slot) { return vm->roots[slot]; }
static inline V vm_none(struct gi_vm *vm) { return vm->roots[vm->r_none]; }
static inline V vm_bool(struct gi_vm *vm, bool b) { return vm->roots[b ? vm->r_true : vm->r_false]; }

/* ---- errors: raising sets the pending exception (root r_exc) and returns false */
#define FAIL false
bool vm_raise(struct gi_vm *vm, int type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool vm_raise_value(struct gi_vm *vm, int type, uint32_t arg_slot);  /* arg from a root slot */
void vm_fatal(struct gi_vm *vm, int err, const char *what) __attribute__((noreturn));

/* ---- allocation (may collect: see the invariant above) */
V vm_alloc_instance(struct gi_vm *vm, uint32_t gr_class);
V vm_alloc_array(struct gi_vm *vm, uint32_t gr_class, uint64_t length);
V vm_new_int(struct gi_vm *vm, int64_t v);
V vm_new_float(struct gi_vm *vm, double d);
V vm_new_str(struct gi_vm *vm, const char *bytes, size_t n);
V vm_new_list(struct gi_vm *vm, uint64_t capacity);   /* empty list */
V vm_new_tuple(struct gi_vm *vm, uint64_t n);         /* n items = None? no: 0 */
V vm_new_dict(struct gi_vm *vm);
V vm_new_exc(struct gi_vm *vm, int type, uint32_t arg_slot); /* arg_slot 0 = no argument */
void vm_store_ref(struct gi_vm *vm, V obj, V *slot, V value);
void vm_copy_refs(struct gi_vm *vm, V holder, V *dst, const V *src, uint64_t n);

/* ---- kinds and unboxing */
int vm_kind(struct gi_vm *vm, V v);   /* K_* or -2 for a user instance */
static inline int64_t int_val(V v) { return (int64_t)fields(v)[0]; }
static inline double float_val(V v) { double d; memcpy(&d, &fields(v)[0], 8); return d; }
static inline const char *str_ptr(V s) { return str_bytes_of_data(fields(s)[STR_DATA]); }
static inline uint32_t str_nbytes(V s) { return arr_len(fields(s)[STR_DATA]); }
const char *vm_type_name(struct gi_vm *vm, V v);

/* ---- lists and dicts (values passed through root slots where they must survive) */
bool list_append(struct gi_vm *vm, uint32_t list_slot, uint32_t value_slot);
bool dict_set(struct gi_vm *vm, uint32_t dict_slot, uint32_t key_slot, uint32_t value_slot);
int64_t dict_lookup(struct gi_vm *vm, V dict, V key, bool *err);  /* entry index or -1 */
bool dict_delete(struct gi_vm *vm, V dict, V key);
bool vm_hash(struct gi_vm *vm, V v, uint64_t *out);

/* ---- operations */
bool vm_truthy(struct gi_vm *vm, V v);
int vm_equal(struct gi_vm *vm, V a, V b);             /* 1, 0, -1 error */
int vm_compare(struct gi_vm *vm, int op, V a, V b);   /* op: 0 <, 1 <=, 2 >, 3 >= */
bool vm_binary(struct gi_vm *vm, int op, uint32_t a_slot, uint32_t b_slot, uint32_t out_slot);
int vm_contains(struct gi_vm *vm, V container, V item);

/* ---- text */
struct gi_buf { char *p; size_t len, cap; bool oom; };
void buf_put(struct gi_buf *b, const char *s, size_t n);
static inline void buf_puts(struct gi_buf *b, const char *s) { buf_put(b, s, strlen(s)); }
bool vm_to_text(struct gi_vm *vm, V v, bool repr, struct gi_buf *b);  /* str() or repr() */
void format_float_repr(double d, char *out, size_t cap);
bool vm_format_spec(struct gi_vm *vm, V v, const char *spec, size_t speclen, struct gi_buf *b);
V vm_str_of(struct gi_vm *vm, uint32_t slot, bool repr);  /* new str object; 0 on error */
void vm_write_out(struct gi_vm *vm, const char *s, size_t n);
void vm_flush_out(struct gi_vm *vm);

/* ---- builtins */
bool vm_call_builtin(struct gi_vm *vm, int id, uint32_t args_slot, uint32_t argc, uint32_t out_slot);
bool vm_call_builtin_method(struct gi_vm *vm, uint32_t obj_slot, const char *name,
                            uint32_t argc, uint32_t out_slot, bool *found);
bool vm_collect(struct gi_vm *vm);
bool vm_has_builtin_method(struct gi_vm *vm, V obj, const char *name);

/* ---- loading */
struct gi_const {
    uint8_t tag;                    /* 0 None 1 True 2 False 3 int 4 float 5 str */
    int64_t i;
    double f;
    char *s;
    uint32_t slen;
};
int vm_load(struct gi_vm *vm, const char *image, uint64_t len, char ***argv_out, uint32_t *argc_out,
            struct gi_const ***consts_out);
void vm_unload(struct gi_vm *vm);
uint32_t vm_intern(struct gi_vm *vm, const char *name);

#endif
