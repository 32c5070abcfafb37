/* vm.c - the dispatch loop, exceptions and tracebacks, output, and setting a
 * program up on a runtime (layouts, root slots, module objects).
 *
 * Frames are C structs (vm->frames), but every value they hold lives in root slots:
 *
 *   roots (vm->roots, the VM's own; a root provider of the runtime):
 *          [GI_ROOT_BASE: singletons | small ints | natives | constants | globals ]
 *          [ frame 0: locals | operands ][ C temporaries ][ frame 1 ] ...   ctop ... limit
 *
 * A call's arguments are already in place on the caller's operand stack and become
 * the callee's first locals (call.c). The collector updates root slots when it
 * moves objects, so the loop re-reads values from slots after anything that may
 * allocate or run code and never caches an address across it.
 * Safepoints: every LOOP (backward jump) and every function entry poll the
 * runtime's pause flag, and every allocation may collect.
 * The loop is re-entrant: C code calls program code through vm_call, which pushes
 * a frame flagged F_CENTRY and runs a nested loop until that frame ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "interp/interp_impl.h"
#include "interp/opcodes.h"

bool call_object(struct gi_vm *vm, uint32_t fslot, uint32_t argbase, uint32_t argc, uint32_t kwn, uint32_t ret,
                 uint16_t flags, bool *pushed);
void pop_frame(struct gi_vm *vm);
bool push_code_frame(struct gi_vm *vm, struct gi_code *code, uint32_t base, uint32_t ret, uint16_t flags);
bool gen_push_frame(struct gi_vm *vm, uint32_t gen_slot, uint32_t base, uint32_t ret, uint16_t flags,
                    uint32_t send_slot);
bool gen_suspend(struct gi_vm *vm, struct gi_frame *fr, uint32_t sp, uint32_t pc);
void gen_finish(struct gi_vm *vm, struct gi_frame *fr);
int vm_eq_op(struct gi_vm *vm, bool ne, uint32_t a, uint32_t b);
int64_t dict_find_name(struct gi_vm *vm, V d, uint32_t name_id);
bool vm_dict_update_from(struct gi_vm *vm, uint32_t dst, uint32_t src);
bool vm_store_attr_slot(struct gi_vm *vm, V obj, uint32_t index, V value);
void build_method_map(struct gi_vm *vm);
void layouts_begin(struct gi_vm *vm);
int layout_get(struct gi_vm *vm, uint32_t nrefs, uint32_t nscalars, bool in_core);
void native_module_attrs(const char *module, void (*fn)(void *arg, const char *name, int native, int attr), void *arg);
bool native_attr_value(struct gi_vm *vm, int attr, uint32_t out);
bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

/* ---- output */

void vm_flush_out(struct gi_vm *vm)
{
    size_t off = 0;
    while (off < vm->outlen) {
        ssize_t w = write(vm->out_fd, vm->out + off, vm->outlen - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* a closed pipe: drop the output, like CPython's at exit */
        }
        off += (size_t)w;
    }
    vm->outlen = 0;
}

void vm_write_out(struct gi_vm *vm, const char *s, size_t n)
{
    if (vm->outlen + n > vm->outcap) {
        vm_flush_out(vm);
        if (n > vm->outcap) {
            char *old = vm->out;
            vm->out = (char *)s;
            vm->outlen = n;
            vm_flush_out(vm);
            vm->out = old;
            return;
        }
    }
    memcpy(vm->out + vm->outlen, s, n);
    vm->outlen += n;
}

void vm_write_err(struct gi_vm *vm, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(vm->err_fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* ---- collection requested by the program (gc.collect()) */

bool vm_collect(struct gi_vm *vm)
{
    struct gr_runtime *rt = vm->rt;
    struct gr_pause rep;
    uint64_t allocs = vm_allocations(vm);
    gr_leave(vm->m);
    int rc = gr_gc(rt, &rep);
    /* gc.collect() means "a full collection now": with a concurrent collector,
     * wait (out of core) until the cycle it started is complete. */
    if (rc == 0 && rt->ops->wait)
        rc = rt->ops->wait(rt, -1);
    vm->m = gr_enter(rt);
    if (!vm->m)
        vm_fatal(vm, gr_enter_err, "re-entering the runtime after gc.collect()");
    vm->allocs_base = vm->m->objects_allocated - allocs;   /* perhaps another mutator slot */
    if (rc < 0)
        vm_fatal(vm, rc, "gc.collect()");
    return true;
}

/* ---- SIGINT (GI_OPT_SIGINT): the handler only sets a flag; the first VM to
 * poll it raises KeyboardInterrupt in its program. Installed by the first
 * such run, the previous disposition restored by the last. A collection in
 * progress is never interrupted: the flag is read only at the VM's polls. */
static _Atomic int sigint_pending;
static int sigint_users;
static struct sigaction sigint_prev;
static pthread_mutex_t sigint_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&sigint_pending, 1);
}

static int sigint_acquire(void)
{
    int rc = 0;
    pthread_mutex_lock(&sigint_mu);
    if (sigint_users == 0) {
        struct sigaction act;
        memset(&act, 0, sizeof act);
        act.sa_handler = on_sigint;
        sigemptyset(&act.sa_mask);
        act.sa_flags = SA_RESTART;
        atomic_store(&sigint_pending, 0);
        if (sigaction(SIGINT, &act, &sigint_prev) != 0)
            rc = -errno;
    }
    if (rc == 0)
        sigint_users++;
    pthread_mutex_unlock(&sigint_mu);
    return rc;
}

static void sigint_release(void)
{
    pthread_mutex_lock(&sigint_mu);
    if (--sigint_users == 0)
        sigaction(SIGINT, &sigint_prev, NULL);
    pthread_mutex_unlock(&sigint_mu);
}

/* Parks at a requested pause; false with KeyboardInterrupt pending when a
 * SIGINT arrived (the caller has saved pc/sp and unwinds). Counts towards the
 * budget of GI_OPT_BUDGET runs. */
static inline bool poll_safepoint(struct gi_vm *vm)
{
    if (__builtin_expect(++vm->polls > vm->budget, 0))
        vm_fatal(vm, ETIME, "instruction budget exhausted");
    if (__builtin_expect(atomic_load_explicit(&vm->rt->pause_requested, memory_order_relaxed), 0) &&
        gr_safepoint_poll(vm->rt, vm->m) < 0)
        vm_fatal(vm, ESHUTDOWN, "the runtime was closed under the program");
    if (__builtin_expect(atomic_load_explicit(&sigint_pending, memory_order_relaxed), 0) &&
        (vm->options & GI_OPT_SIGINT) && atomic_exchange(&sigint_pending, 0))
        return vm_raise_value(vm, B_KEYBOARDINTERRUPT, 0);
    return true;
}

/* A native loop's safepoint (vm_native_step, every 1024 steps): parks at a
 * requested pause. A SIGINT waits for the next LOOP or call. */
void vm_native_poll(struct gi_vm *vm)
{
    if (atomic_load_explicit(&vm->rt->pause_requested, memory_order_relaxed) &&
        gr_safepoint_poll(vm->rt, vm->m) < 0)
        vm_fatal(vm, ESHUTDOWN, "the runtime was closed under the program");
}

/* Binary arithmetic fast paths: two floats, or a float and an int (converted as
 * CPython converts it: correctly rounded). */
static inline bool mixed_floats(int ka, int kb)
{
    return (ka == K_FLOAT && (kb == K_FLOAT || kb == K_INT)) || (kb == K_FLOAT && ka == K_INT);
}

static inline double num_as_double(V v, int k)
{
    return k == K_FLOAT ? float_val(v) : (double)int_val(v);
}

static inline bool exact_double(int64_t i)
{
    return i >= -(INT64_C(1) << 53) && i <= (INT64_C(1) << 53);
}

/* The call of a function with positional parameters only (gi_code.simple) and
 * exactly as many arguments, already at base: its frame, in the loop. false: the
 * general path (call_object) decides, and raises what must be raised. */
static inline bool simple_frame(struct gi_vm *vm, V f, uint32_t base, uint32_t argc, uint32_t ret)
{
    struct gi_code *code = &vm->codes[fields(f)[FUNC_CODE]];
    if (!code->simple || argc != code->argcount || vm->nframes >= (uint32_t)vm->recursion_limit ||
        vm->nframes >= GI_MAX_FRAMES || (uint64_t)base + code->nlocals + code->max_stack + 256 > vm->stack_limit)
        return false;
    V *R = vm->roots;
    for (uint32_t i = argc; i < code->nlocals; i++)
        R[base + i] = 0;
    vm_push_frame_struct(vm, code, base, ret, 0, vm->ctop);
    return true;
}

/* The truth of v when no program code can decide it (bool, None, int, list, an
 * instance without __bool__ or __len__); -1: ask vm_truthy. */
static inline int quick_truth(struct gi_vm *vm, V v)
{
    if (v == vm->roots[vm->r_true])
        return 1;
    if (v == vm->roots[vm->r_false] || v == vm->roots[vm->r_none])
        return 0;
    int k = vm->kind_of_class[cls_of(v)];
    if (k == K_INT)
        return int_val(v) != 0;
    if (k == K_LIST)
        return fields(v)[LIST_LEN] != 0;
    if (k == K_INST) {
        int c = vm_user_class(vm, v);
        if (c < 0 || !(vm->classes[c].specials & (1ull << S_BOOL | 1ull << S_LEN)))
            return 1;
    }
    return -1;
}

/* ---- tracebacks */

static void tb_append(struct gi_vm *vm, uint32_t code, uint32_t line)
{
    V e = vm->roots[vm->r_exc];
    if (!e || vm_kind(vm, e) != K_EXC)
        return;
    uint64_t n = fields(e)[EXC_TBLEN];
    V tb = fields(e)[EXC_TB];
    if (n >= 200) /* keep the innermost frames and the outermost one beyond this */
        n = 199;
    if (!tb || 2 * n + 2 > arr_len(tb)) {
        V bigger = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, 2 * n + 16);
        if (!bigger)
            return;
        e = vm->roots[vm->r_exc];
        tb = fields(e)[EXC_TB];
        if (tb)
            memcpy(arr_i64(bigger), arr_i64(tb), 16 * n);
        vm_store_ref(vm, e, &fields(e)[EXC_TB], bigger);
        tb = bigger;
    }
    arr_i64(tb)[2 * n] = code;
    arr_i64(tb)[2 * n + 1] = line;
    fields(e)[EXC_TBLEN] = n + 1;
}

static void print_traceback(struct gi_vm *vm)
{
    V e = vm->roots[vm->r_exc];
    struct gi_buf b = {0};
    int type = vm_exc_type_of_obj(vm, e);
    const char *cname = vm_exc_class_name(vm, e);
    int c = vm_user_class(vm, e);
    char qual[300];
    if (c >= 0 && strcmp(vm->modules[vm->classes[c].module].name, "__main__"))
        snprintf(qual, sizeof qual, "%s.%s", vm->modules[vm->classes[c].module].name, cname);
    else
        snprintf(qual, sizeof qual, "%s", cname);
    struct gi_buf msg = {0};
    uint32_t t = vm_reserve(vm, 1);
    vm->roots[t] = e;
    bool have_msg = vm_to_text(vm, t, false, &msg) && msg.len;
    e = vm->roots[t];
    vm->roots[vm->r_exc] = e;
    vm_release(vm, t);
    if (type == B_SYSTEMEXIT) {
        /* no traceback: the code (or its text) decides the exit status */
        V args = fields(e)[EXC_ARGS];
        V code = arr_len(args) ? arr_items(args)[0] : vm_none(vm);
        int k = vm_kind(vm, code);
        vm->exit_code = k == K_NONE ? 0 : is_intlike(k) ? (int)int_val(code) : 1;
        if (k != K_NONE && !is_intlike(k) && have_msg) {
            vm_flush_out(vm);
            buf_put(&msg, "\n", 1);
            vm_write_err(vm, msg.p, msg.len);
        }
        if (vm->result) {
            vm->result->exc_builtin = B_SYSTEMEXIT;
            snprintf(vm->result->message, sizeof vm->result->message, "SystemExit: %d", vm->exit_code);
        }
        free(msg.p);
        return;
    }
    buf_puts(&b, "Traceback (most recent call last):\n");
    uint64_t n = fields(e)[EXC_TBLEN];
    V tb = fields(e)[EXC_TB];
    int innermost_line = -1;
    for (uint64_t i = n; i-- > 0;) {
        uint32_t code = (uint32_t)arr_i64(tb)[2 * i], line = (uint32_t)arr_i64(tb)[2 * i + 1];
        char tmp[700];
        const char *file = code < vm->ncodes ? vm->modules[vm->codes[code].module].name : "?";
        if (code < vm->ncodes && vm->codes[code].module == 0)
            file = vm->filename;
        else if (code < vm->ncodes)
            file = vm->modules[vm->codes[code].module].name;
        snprintf(tmp, sizeof tmp, "  File \"%s\", line %u, in %s\n", file, line,
                 code < vm->ncodes ? vm->codes[code].name : "?");
        buf_puts(&b, tmp);
        if (i == 0)
            innermost_line = (int)line;
    }
    size_t before = b.len;
    buf_puts(&b, qual);
    if (have_msg) {
        buf_puts(&b, ": ");
        buf_put(&b, msg.p, msg.len);
    }
    buf_puts(&b, "\n");
    if (vm->result) {
        vm->result->exc_builtin = type;
        vm->result->exc_line = innermost_line;
        snprintf(vm->result->message, sizeof vm->result->message, "%.*s", (int)(b.len - before - 1), b.p + before);
    }
    vm_flush_out(vm);
    if (!b.oom)
        vm_write_err(vm, b.p, b.len);
    free(b.p);
    free(msg.p);
}

/* ---- helpers of the loop */

#define SLOT(i) (vm->roots[(i)])

/* An exception class: a built-in exception type or a user class deriving from one. */
static bool is_exc_class(struct gi_vm *vm, V t)
{
    int k = vm_kind(vm, t);
    if (k == K_BUILTIN)
        return (gi_natives[fields(t)[BUILTIN_ID]].flags & N_EXC) != 0;
    if (k == K_CLASS)
        return vm->classes[fields(t)[CLASS_INDEX]].kind == K_EXC;
    return false;
}

/* The value of `raise v` into the pending exception (instantiating a class). */
static bool raise_value(struct gi_vm *vm, uint32_t slot)
{
    V v = SLOT(slot);
    if (vm_kind(vm, v) == K_EXC) {
        fields(v)[EXC_TBLEN] = 0;
        SLOT(vm->r_exc) = v;
        return FAIL;
    }
    if (is_exc_class(vm, v)) {
        uint32_t t = vm_reserve(vm, 1);
        SLOT(t) = v;
        const char *tname = vm_type_name(vm, v);   /* v may move during the call */
        if (vm_call(vm, t, 0, 0, t)) {
            if (vm_kind(vm, SLOT(t)) == K_EXC) {
                fields(SLOT(t))[EXC_TBLEN] = 0;
                SLOT(vm->r_exc) = SLOT(t);
            } else {
                vm_raise(vm, B_TYPEERROR, "calling %s should have returned an instance of BaseException", tname);
            }
        }
        vm_release(vm, t);
        return FAIL;
    }
    return vm_raise(vm, B_TYPEERROR, "exceptions must derive from BaseException");
}

static bool exc_match(struct gi_vm *vm, V e, V t, int *res)
{
    if (vm_kind(vm, t) == K_TUPLE) {
        *res = 0;
        for (uint32_t i = 0; i < arr_len(t) && !*res; i++)
            if (!exc_match(vm, e, arr_items(t)[i], res))
                return FAIL;
        return true;
    }
    if (!is_exc_class(vm, t))
        return vm_raise(vm, B_TYPEERROR, "catching classes that do not inherit from BaseException is not allowed");
    return vm_isinstance(vm, e, t, res);
}

/* LOAD_NAME: the class namespace (local 0), then the module's globals, then the
 * built-ins. */
static bool load_name(struct gi_vm *vm, struct gi_frame *fr, uint32_t name_id, uint32_t out)
{
    V ns = SLOT(fr->base);
    if (ns && vm_kind(vm, ns) == K_DICT) {
        int64_t e = dict_find_name(vm, ns, name_id);
        if (e >= 0) {
            SLOT(out) = arr_items(fields(ns)[DICT_VALS])[e];
            return true;
        }
    }
    int g = module_global(vm, fr->code->module, name_id);
    if (g >= 0 && SLOT(vm->global_base + g)) {
        SLOT(out) = SLOT(vm->global_base + g);
        return true;
    }
    if (vm->name_builtin[name_id] >= 0) {
        SLOT(out) = SLOT(vm->r_builtins + vm->name_builtin[name_id]);
        return true;
    }
    return vm_raise(vm, B_NAMEERROR, "name '%s' is not defined", vm->names[name_id]);
}

static bool store_name(struct gi_vm *vm, struct gi_frame *fr, uint32_t name_id, uint32_t value)
{
    if (!SLOT(fr->base) || vm_kind(vm, SLOT(fr->base)) != K_DICT)
        return vm_raise(vm, B_TYPEERROR, "STORE_NAME outside a class body");
    uint32_t t = vm_reserve(vm, 1);
    V s = vm_str_from_name(vm, name_id);
    bool ok = s != 0;
    if (ok) {
        SLOT(t) = s;
        ok = dict_set(vm, fr->base, t, value);
    }
    vm_release(vm, t);
    return ok;
}

/* Unpacks the sequence in `slot` into slot .. slot+n-1, first item on top. */
static bool unpack(struct gi_vm *vm, uint32_t slot, uint32_t n)
{
    V v = SLOT(slot);
    int k = vm_kind(vm, v);
    if ((k != K_LIST && k != K_TUPLE) || vm_user_class(vm, v) >= 0) {
        uint32_t t = vm_reserve(vm, 1);
        SLOT(t) = v;
        bool ok = vm_to_list(vm, t, t);
        if (ok)
            SLOT(slot) = SLOT(t);
        else if (vm_exc_matches(vm, SLOT(vm->r_exc), B_TYPEERROR) && !vm_get_iter(vm, slot))
            /* the value from its slot: raising allocated (and may have moved it) */
            vm_raise(vm, B_TYPEERROR, "cannot unpack non-iterable %s object", vm_type_name(vm, SLOT(t)));
        vm_release(vm, t);
        if (!ok)
            return FAIL;
        v = SLOT(slot);
    }
    V *items;
    uint64_t len;
    vm_seq(vm, v, &items, &len);
    if (len != n) {
        if (len > n)
            return vm_raise(vm, B_VALUEERROR, "too many values to unpack (expected %u)", n);
        return vm_raise(vm, B_VALUEERROR, "not enough values to unpack (expected %u, got %llu)", n, (unsigned long long)len);
    }
    for (uint32_t i = 0; i < n; i++)
        SLOT(slot + i) = items[n - 1 - i];
    return true;
}

/* a, *b, c = seq: `before` items, a list, `after` items, first on top. */
static bool unpack_ex(struct gi_vm *vm, uint32_t slot, uint32_t before, uint32_t after)
{
    uint32_t t = vm_reserve(vm, 2);
    bool ok = vm_to_list(vm, slot, t);
    if (ok) {
        uint64_t len = fields(SLOT(t))[LIST_LEN];
        if (len < (uint64_t)before + after) {
            ok = vm_raise(vm, B_VALUEERROR, "not enough values to unpack (expected at least %u, got %llu)",
                          before + after, (unsigned long long)len);
        } else {
            uint64_t mid = len - before - after;
            V rest = vm_new_list(vm, mid);
            ok = rest != 0;
            if (ok) {
                V l = SLOT(t);
                V *items = arr_items(fields(l)[LIST_ITEMS]);
                vm_copy_refs(vm, fields(rest)[LIST_ITEMS], arr_items(fields(rest)[LIST_ITEMS]), items + before, mid);
                fields(rest)[LIST_LEN] = mid;
                SLOT(t + 1) = rest;
                uint32_t n = before + 1 + after;
                /* slot + n - 1 (top) gets the first item */
                for (uint32_t i = 0; i < before; i++)
                    SLOT(slot + n - 1 - i) = items[i];
                SLOT(slot + after) = SLOT(t + 1);
                for (uint32_t i = 0; i < after; i++)
                    SLOT(slot + after - 1 - i) = items[before + mid + i];
            }
        }
    }
    vm_release(vm, t);
    return ok;
}

static bool build_string(struct gi_vm *vm, uint32_t first, uint32_t n)
{
    uint64_t total = 0, cps = 0;
    for (uint32_t i = 0; i < n; i++)
        if (vm_kind(vm, SLOT(first + i)) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "BUILD_STRING of a non-str");
    for (uint32_t i = 0; i < n; i++) {
        total += str_nbytes(SLOT(first + i));
        cps += fields(SLOT(first + i))[STR_CPLEN];
    }
    if (total > GR_MAX_LENGTH)
        return vm_raise(vm, B_MEMORYERROR, "string too large");
    V data = vm_alloc_array(vm, GR_CLASS_STRING, total);
    if (!data)
        return FAIL;
    char *dst = str_bytes_of_data(data);
    for (uint32_t i = 0; i < n; i++) {
        V s = SLOT(first + i);
        memcpy(dst, str_ptr(s), str_nbytes(s));
        dst += str_nbytes(s);
    }
    SLOT(first) = data; /* the parts are consumed: their first slot roots the bytes */
    V w = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    if (!w)
        return FAIL;
    vm_store_ref(vm, w, &fields(w)[STR_DATA], SLOT(first));
    fields(w)[STR_CPLEN] = cps;
    SLOT(first) = w;
    return true;
}

static bool format_value(struct gi_vm *vm, uint32_t vslot, uint32_t flags, uint32_t spec_slot)
{
    if (flags & 14) {
        V s = vm_str_of(vm, vslot, !(flags & 2));
        if (!s)
            return FAIL;
        SLOT(vslot) = s;
    }
    const char *spec = "";
    size_t n = 0;
    char *copy = NULL;
    if (flags & 1) {
        V sp = SLOT(spec_slot);
        if (vm_kind(vm, sp) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "format spec must be a str");
        n = str_nbytes(sp);
        copy = malloc(n + 1);
        if (!copy)
            return vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
        memcpy(copy, str_ptr(sp), n);
        copy[n] = 0;
        spec = copy;
    } else if (vm_kind(vm, SLOT(vslot)) == K_STR && vm_user_class(vm, SLOT(vslot)) < 0) {
        return true;
    }
    struct gi_buf b = {0};
    bool ok = vm_format_spec(vm, vslot, spec, n, &b);
    free(copy);
    if (ok && b.oom)
        ok = vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
    if (ok)
        ok = vm_set_out_str(vm, vslot, b.p ? b.p : "", b.len);
    free(b.p);
    return ok;
}

static bool make_function(struct gi_vm *vm, uint32_t first, uint32_t code_index, uint32_t flags)
{
    struct gi_code *code = &vm->codes[code_index];
    uint32_t at = first;
    uint32_t d = 0, kd = 0, cl = 0;
    if (flags & 1) {
        d = at++;
        if (vm_kind(vm, SLOT(d)) != K_TUPLE)
            return vm_raise(vm, B_TYPEERROR, "function defaults must be a tuple");
        if (arr_len(SLOT(d)) > code->argcount)
            return vm_raise(vm, B_TYPEERROR, "more defaults than parameters");
    }
    if (flags & 2) {
        kd = at++;
        if (vm_kind(vm, SLOT(kd)) != K_DICT)
            return vm_raise(vm, B_TYPEERROR, "keyword defaults must be a dict");
    }
    if (flags & 4) {
        cl = at++;
        V c = SLOT(cl);
        if (vm_kind(vm, c) != K_TUPLE || arr_len(c) != code->nfree)
            return vm_raise(vm, B_TYPEERROR, "closure of the wrong size");
        for (uint32_t i = 0; i < arr_len(c); i++)
            if (vm_kind(vm, arr_items(c)[i]) != K_CELL)
                return vm_raise(vm, B_TYPEERROR, "closure items must be cells");
    } else if (code->nfree) {
        return vm_raise(vm, B_TYPEERROR, "function needs a closure");
    }
    V f = vm_alloc_instance(vm, vm->gr_class[K_FUNC]);
    if (!f)
        return FAIL;
    if (d)
        vm_store_ref(vm, f, &fields(f)[FUNC_DEFAULTS], SLOT(d));
    if (kd)
        vm_store_ref(vm, f, &fields(f)[FUNC_KWDEFAULTS], SLOT(kd));
    if (cl)
        vm_store_ref(vm, f, &fields(f)[FUNC_CLOSURE], SLOT(cl));
    fields(f)[FUNC_CODE] = code_index;
    SLOT(first) = f;
    return true;
}

/* f self|NULL args kwargs? at s: a call with *args / **kwargs, its arguments
 * spread into a fresh area above everything in use. */
static bool call_ex(struct gi_vm *vm, uint32_t s, bool has_kw, bool *pushed)
{
    V args = SLOT(s + 2);
    if (vm_kind(vm, args) != K_TUPLE) {
        if (!vm_to_list(vm, s + 2, s + 2))
            return FAIL;
        uint32_t t = vm_reserve(vm, 0);
        V l = SLOT(s + 2);
        V tup = vm_new_tuple(vm, fields(l)[LIST_LEN]);
        vm_release(vm, t);
        if (!tup)
            return FAIL;
        l = SLOT(s + 2);
        vm_copy_refs(vm, tup, arr_items(tup), arr_items(fields(l)[LIST_ITEMS]), fields(l)[LIST_LEN]);
        SLOT(s + 2) = tup;
    }
    uint32_t npos = arr_len(SLOT(s + 2)), nkw = 0;
    if (has_kw) {
        V d = SLOT(s + 3);
        if (vm_kind(vm, d) != K_DICT)
            return vm_raise(vm, B_TYPEERROR, "argument after ** must be a mapping, not %s", vm_type_name(vm, d));
        nkw = (uint32_t)fields(d)[DICT_COUNT];
    }
    bool self = SLOT(s + 1) != 0;
    uint32_t m = vm_reserve(vm, npos + nkw + 4);
    SLOT(m) = SLOT(s);
    SLOT(m + 1) = SLOT(s + 1);
    uint32_t argbase = m + 2;
    for (uint32_t i = 0; i < npos; i++)
        SLOT(argbase + i) = arr_items(SLOT(s + 2))[i];
    uint32_t kwn = 0;
    if (nkw) {
        V names = vm_new_tuple(vm, nkw);
        if (!names) {
            vm_release(vm, m);
            return FAIL;
        }
        V d = SLOT(s + 3);
        uint32_t j = 0;
        for (uint64_t e = 0; e < fields(d)[DICT_USED]; e++) {
            V k = arr_items(fields(d)[DICT_KEYS])[e];
            if (!k)
                continue;
            if (vm_kind(vm, k) != K_STR) {
                vm_release(vm, m);
                return vm_raise(vm, B_TYPEERROR, "keywords must be strings");
            }
            vm_store_ref(vm, names, &arr_items(names)[j], k);
            SLOT(argbase + npos + j) = arr_items(fields(d)[DICT_VALS])[e];
            j++;
        }
        kwn = argbase + npos + nkw;
        SLOT(kwn) = names;
    }
    if (self) {
        argbase = m + 1;
        npos++;
    }
    bool ok = call_object(vm, m, argbase, npos + nkw, kwn, s, 0, pushed);
    if (ok && *pushed) {
        /* the frame's slots stay in the reserved area: free it with the frame */
        vm->frames[vm->nframes - 1].saved_ctop = m;
    } else {
        vm_release(vm, m);
    }
    return ok;
}

/* Attribute instructions outside the caches: full lookup, then the cache. */
/* The valid entry of the instruction's cache ic for receivers keyed key, or NULL. */
static struct gi_cache *cache_find(struct gi_vm *vm, struct gi_cache *ic, uint32_t key)
{
    for (int w = 0; w < GI_CACHE_WAYS; w++)
        if (ic[w].cls == key && ic[w].version == vm->class_version && ic[w].kind != CA_NONE)
            return &ic[w];
    return NULL;
}

/* The entry to fill: the first stale one, else the least recently filled (the
 * others move down one: most recent first). */
static struct gi_cache *cache_victim(struct gi_vm *vm, struct gi_cache *ic)
{
    for (int w = 0; w < GI_CACHE_WAYS; w++)
        if (ic[w].version != vm->class_version || ic[w].kind == CA_NONE)
            return &ic[w];
    memmove(&ic[1], &ic[0], (GI_CACHE_WAYS - 1) * sizeof *ic);
    return &ic[0];
}

static void fill_cache(struct gi_vm *vm, struct gi_cache *ic, V obj, uint32_t key, struct gi_attr a)
{
    ic = cache_victim(vm, ic);
    ic->cls = key;
    ic->version = vm->class_version;
    ic->kind = a.kind;
    ic->index = a.index;
    ic->aux = 0;
    if (a.kind == CA_SLOT && vm_kind(vm, obj) == K_INST) {
        int c = vm_user_class(vm, obj);
        ic->aux = c >= 0 && a.index < vm->classes[c].inline_cap;
    }
}

int vm_mro_lookup(struct gi_vm *vm, V mro, uint32_t from, uint32_t name_id, V *out);

/* super(type, obj).name: the MRO of obj's class after `type`. out gets the
 * value; with self_out (LOAD_METHOD) a function is left unbound and self_out
 * gets what to bind it to (or NULL). */
static bool super_lookup(struct gi_vm *vm, uint32_t sslot, uint32_t name_id, uint32_t out, uint32_t self_out)
{
    V s = SLOT(sslot);
    V type = fields(s)[SUPER_TYPE], obj = fields(s)[SUPER_OBJ];
    V start = vm_kind(vm, obj) == K_CLASS ? obj : vm_type_of(vm, obj);
    V v = 0;
    if (vm_kind(vm, start) == K_CLASS) {
        V mro = fields(start)[CLASS_MRO];
        uint32_t i = 0, n = arr_len(mro);
        while (i < n && arr_items(mro)[i] != type)
            i++;
        if (i < n && vm_mro_lookup(vm, mro, i + 1, name_id, &v) != 1)
            v = 0;
    }
    if (!v)
        return vm_raise(vm, B_ATTRIBUTEERROR, "'super' object has no attribute '%s'", vm->names[name_id]);
    int vk = vm_kind(vm, v);
    bool is_class = vm_kind(vm, obj) == K_CLASS;
    V bind_to = 0;
    if (vk == K_WRAP && fields(v)[WRAP_WHICH] == W_STATIC) {
        v = fields(v)[WRAP_A];
    } else if (vk == K_WRAP && fields(v)[WRAP_WHICH] == W_CLASS) {
        v = fields(v)[WRAP_A];
        bind_to = is_class ? obj : vm_type_of(vm, obj);
    } else if (vk == K_WRAP && fields(v)[WRAP_WHICH] == W_PROPERTY) {
        uint32_t t = vm_reserve(vm, 2);
        SLOT(t) = fields(v)[WRAP_A];
        SLOT(t + 1) = obj;
        bool ok = SLOT(t) && vm_call(vm, t, 1, 0, out);
        vm_release(vm, t);
        if (self_out)
            SLOT(self_out) = 0;
        return ok;
    } else if (!is_class && (vk == K_FUNC || (vk == K_BUILTIN && (gi_natives[fields(v)[BUILTIN_ID]].flags & N_METHOD)))) {
        bind_to = obj;
    }
    if (self_out) {
        SLOT(out) = v;
        SLOT(self_out) = bind_to;
        return true;
    }
    if (!bind_to) {
        SLOT(out) = v;
        return true;
    }
    uint32_t t = vm_reserve(vm, 2);
    SLOT(t) = bind_to;
    SLOT(t + 1) = v;
    V b = vm_alloc_instance(vm, vm->gr_class[K_BOUND]);
    if (b) {
        vm_store_ref(vm, b, &fields(b)[BOUND_SELF], SLOT(t));
        vm_store_ref(vm, b, &fields(b)[BOUND_FUNC], SLOT(t + 1));
        SLOT(out) = b;
    }
    vm_release(vm, t);
    return b != 0;
}

/* LOAD_ATTR slow path: obj in slot, result in slot. */
static bool load_attr_slow(struct gi_vm *vm, struct gi_cache *ic, uint32_t slot, uint32_t name_id)
{
    V obj = SLOT(slot);
    if (vm_kind(vm, obj) == K_SUPER)
        return super_lookup(vm, slot, name_id, slot, 0);
    uint32_t key = attr_key(vm, obj);
    struct gi_cache *e = cache_find(vm, ic, key);
    if (e) {
        int kind = e->kind;
        if (attr_produce(vm, (struct gi_attr){e->kind, e->index}, slot, slot))
            return true;
        if (SLOT(vm->r_exc) && kind == CA_PROPERTY)
            return FAIL;
    }
    struct gi_attr a;
    if (attr_resolve(vm, obj, key, name_id, &a)) {
        fill_cache(vm, ic, obj, key, a);
        if (a.kind != CA_PROPERTY && attr_produce(vm, a, slot, slot))
            return true;
    }
    return vm_getattr(vm, slot, name_id, slot);
}

/* LOAD_METHOD: obj in slot -> callable in slot, self (or NULL) in slot + 1. */
static bool load_method_slow(struct gi_vm *vm, struct gi_cache *ic, uint32_t slot, uint32_t name_id)
{
    V obj = SLOT(slot);
    if (vm_kind(vm, obj) == K_SUPER)
        return super_lookup(vm, slot, name_id, slot, slot + 1);
    uint32_t key = attr_key(vm, obj);
    struct gi_attr a;
    struct gi_cache *e = cache_find(vm, ic, key);
    bool have = e != NULL;
    if (have) {
        a.kind = e->kind;
        a.index = e->index;
    } else if (attr_resolve(vm, obj, key, name_id, &a)) {
        fill_cache(vm, ic, obj, key, a);
        have = true;
    }
    if (have) {
        switch (a.kind) {
        case CA_METHOD:
            SLOT(slot + 1) = obj;
            SLOT(slot) = vm->resolved[a.index];
            return true;
        case CA_NATIVE_METHOD:
            SLOT(slot + 1) = obj;
            SLOT(slot) = SLOT(vm->r_builtins + a.index);
            return true;
        case CA_CLASSMETHOD:
            SLOT(slot + 1) = vm_kind(vm, obj) == K_CLASS ? obj : vm_type_of(vm, obj);
            SLOT(slot) = vm->resolved[a.index];
            return true;
        default:
            SLOT(slot + 1) = 0;
            if (attr_produce(vm, a, slot, slot))
                return true;
            if (SLOT(vm->r_exc) && a.kind == CA_PROPERTY)
                return FAIL;
        }
    }
    SLOT(slot + 1) = 0;
    SLOT(slot + 1) = 0;
    return vm_getattr(vm, slot, name_id, slot);
}

static bool store_attr_slow(struct gi_vm *vm, struct gi_cache *ic, uint32_t obj_slot, uint32_t value_slot,
                            uint32_t name_id)
{
    if (!vm_setattr(vm, obj_slot, name_id, value_slot))
        return FAIL;
    V obj = SLOT(obj_slot);
    int c = vm_user_class(vm, obj);
    if (c >= 0 && vm_kind(vm, obj) == K_INST && !has_special(vm, obj, S_SETATTR)) {
        V v;
        if (vm_class_lookup(vm, vm->class_objs[c], name_id, &v) == 1 && vm_kind(vm, v) == K_WRAP &&
            fields(v)[WRAP_WHICH] == W_PROPERTY)
            return true;
        int idx = class_key_index(vm, c, name_id);
        if (idx >= 0 && (uint32_t)idx < vm->classes[c].inline_cap) {
            ic = cache_victim(vm, ic);
            ic->cls = cls_of(obj);
            ic->version = vm->class_version;
            ic->kind = CA_SLOT;
            ic->index = (uint32_t)idx;
            ic->aux = 1;
        }
    }
    return true;
}

static bool with_enter(struct gi_vm *vm, uint32_t slot)
{
    /* mgr in slot -> exit in slot, enter result in slot + 1 */
    uint32_t t = vm_reserve(vm, 2);
    bool ok = false;
    SLOT(t) = SLOT(slot);
    int r = vm_getattr_opt(vm, t, vm_intern(vm, "__exit__"), t + 1);
    if (r <= 0) {
        if (r == 0)
            vm_raise(vm, B_TYPEERROR, "'%s' object does not support the context manager protocol",
                     vm_type_name(vm, SLOT(t)));
        goto out;
    }
    bool found;
    ok = vm_call_method(vm, t, vm_intern(vm, "__enter__"), t, 0, slot + 1, &found);
    if (!ok) {
        if (!found)
            vm_raise(vm, B_TYPEERROR, "'%s' object does not support the context manager protocol",
                     vm_type_name(vm, SLOT(t)));
        goto out;
    }
    SLOT(slot) = SLOT(t + 1);
out:
    vm_release(vm, t);
    return ok;
}

/* exit(type, exc, None) for the exception in slot + 1; *swallow: it returned true. */
static bool with_exit(struct gi_vm *vm, uint32_t slot, bool exc, bool *swallow)
{
    uint32_t t = vm_reserve(vm, 4);
    SLOT(t) = SLOT(slot);
    if (exc) {
        SLOT(t + 1) = vm_type_of(vm, SLOT(slot + 1));
        SLOT(t + 2) = SLOT(slot + 1);
    } else {
        SLOT(t + 1) = SLOT(t + 2) = vm_none(vm);
    }
    SLOT(t + 3) = vm_none(vm);
    bool ok = vm_call(vm, t, 3, 0, t);
    if (ok && swallow) {
        int r = vm_truthy(vm, SLOT(t));
        ok = r >= 0;
        *swallow = r == 1;
    }
    vm_release(vm, t);
    return ok;
}

/* ---- the loop */

/* Runs until the F_CENTRY frame on top at entry ends: RUN_RETURNED (its result in
 * its ret_slot), RUN_YIELDED (a generator's value), RUN_EXC (pending exception). */
int run_loop(struct gi_vm *vm, bool throw_first)
{
    static void *const labels[OP_COUNT] = {
#define L(op) [OP_##op] = &&L_##op
        L(NOP), L(LOAD_CONST), L(LOAD_LOCAL), L(STORE_LOCAL), L(DELETE_LOCAL), L(LOAD_GLOBAL),
        L(STORE_GLOBAL), L(DELETE_GLOBAL), L(LOAD_BUILTIN), L(LOAD_DEREF), L(STORE_DEREF),
        L(DELETE_DEREF), L(LOAD_CLOSURE), L(MAKE_CELL), L(LOAD_NAME), L(STORE_NAME), L(PUSH_NULL),
        L(POP), L(DUP), L(DUP2), L(ROT2), L(ROT3), L(ROT4),
        L(ADD), L(SUB), L(MUL), L(TRUEDIV), L(FLOORDIV), L(MOD), L(POW), L(LSHIFT), L(RSHIFT),
        L(AND), L(OR), L(XOR), L(INPLACE_ADD), L(INPLACE_SUB), L(INPLACE_MUL), L(INPLACE_TRUEDIV),
        L(INPLACE_FLOORDIV), L(INPLACE_MOD), L(INPLACE_POW), L(INPLACE_LSHIFT), L(INPLACE_RSHIFT),
        L(INPLACE_AND), L(INPLACE_OR), L(INPLACE_XOR), L(NEG), L(POS), L(NOT), L(INVERT),
        L(EQ), L(NE), L(LT), L(LE), L(GT), L(GE), L(IS), L(IS_NOT), L(IN), L(NOT_IN),
        L(JUMP), L(LOOP), L(POP_JUMP_IF_FALSE), L(POP_JUMP_IF_TRUE), L(JUMP_IF_FALSE_OR_POP),
        L(JUMP_IF_TRUE_OR_POP), L(GET_ITER), L(FOR_ITER), L(BUILD_LIST), L(BUILD_TUPLE),
        L(BUILD_DICT), L(BUILD_SET), L(BUILD_STRING), L(BUILD_SLICE), L(LIST_APPEND), L(SET_ADD),
        L(DICT_SET), L(LIST_EXTEND), L(SET_UPDATE), L(DICT_UPDATE), L(LIST_TO_TUPLE), L(FORMAT),
        L(UNPACK_SEQUENCE), L(UNPACK_EX), L(LOAD_SUBSCR), L(STORE_SUBSCR), L(DELETE_SUBSCR),
        L(LOAD_ATTR), L(STORE_ATTR), L(DELETE_ATTR), L(LOAD_METHOD), L(CALL), L(CALL_METHOD),
        L(CALL_KW), L(CALL_EX), L(CALL_BUILTIN), L(RETURN_VALUE), L(YIELD_VALUE), L(MAKE_FUNCTION),
        L(BUILD_CLASS), L(SETUP_EXCEPT), L(POP_BLOCK), L(EXC_MATCH), L(RAISE), L(RAISE_FROM),
        L(RERAISE), L(RAISE_ASSERT), L(IMPORT_NAME), L(IMPORT_FROM), L(WITH_ENTER), L(WITH_EXIT),
        L(WITH_EXIT_EXC),
#undef L
    };
    struct gi_frame *fr = &vm->frames[vm->nframes - 1];
    struct gi_code *code = fr->code;
    uint32_t pc = fr->pc, sp = fr->sp, insn, arg;
    V *R = vm->roots;
    const int8_t *kind_of = vm->kind_of_class;
    V *locals = R + fr->base;       /* the frame's locals (R never moves; LOAD() follows frames) */
#define PUSH(v) (R[sp++] = (v))
#define TOP R[sp - 1]
#define SAVE() (fr->pc = pc, fr->sp = sp)
#define LOAD() (fr = &vm->frames[vm->nframes - 1], code = fr->code, pc = fr->pc, sp = fr->sp, \
                locals = R + fr->base)
#define CHECK(expr) do { SAVE(); if (!(expr)) goto error; } while (0)
#define DISPATCH() do { insn = code->code[pc++]; arg = insn >> 8; goto *labels[insn & 0xFF]; } while (0)
#define KIND(v) (kind_of[cls_of(v)])
    if (throw_first)
        goto error;
    DISPATCH();

L_NOP:
    DISPATCH();
L_LOAD_CONST:
    PUSH(R[code->const_base + arg]);
    DISPATCH();
L_LOAD_LOCAL: {
    V v = locals[arg];
    if (__builtin_expect(!v, 0)) {
        SAVE();
        vm_raise(vm, B_UNBOUNDLOCALERROR, "cannot access local variable '%s' where it is not associated with a value",
                 code->local_names[arg]);
        goto error;
    }
    PUSH(v);
    DISPATCH();
}
L_STORE_LOCAL:
    locals[arg] = R[--sp];
    DISPATCH();
L_DELETE_LOCAL:
    if (!locals[arg]) {
        SAVE();
        vm_raise(vm, B_UNBOUNDLOCALERROR, "cannot access local variable '%s' where it is not associated with a value",
                 code->local_names[arg]);
        goto error;
    }
    locals[arg] = 0;
    DISPATCH();
L_LOAD_GLOBAL: {
    V v = R[vm->global_base + arg];
    if (__builtin_expect(!v, 0)) {
        int b = vm->global_builtin[arg];
        if (b < 0) {
            SAVE();
            vm_raise(vm, B_NAMEERROR, "name '%s' is not defined", vm->global_names[arg]);
            goto error;
        }
        v = R[vm->r_builtins + b];
    }
    PUSH(v);
    DISPATCH();
}
L_STORE_GLOBAL:
    R[vm->global_base + arg] = R[--sp];
    DISPATCH();
L_DELETE_GLOBAL:
    if (!R[vm->global_base + arg]) {
        SAVE();
        vm_raise(vm, B_NAMEERROR, "name '%s' is not defined", vm->global_names[arg]);
        goto error;
    }
    R[vm->global_base + arg] = 0;
    DISPATCH();
L_LOAD_BUILTIN:
    PUSH(R[vm->r_builtins + arg]);
    DISPATCH();
L_LOAD_DEREF: {
    V c = locals[arg];
    if (__builtin_expect(!c || KIND(c) != K_CELL || !fields(c)[CELL_VALUE], 0)) {
        SAVE();
        if (!c || KIND(c) != K_CELL)
            vm_raise(vm, B_TYPEERROR, "LOAD_DEREF of a slot without a cell");
        else
            vm_raise(vm, B_NAMEERROR, "cannot access free variable '%s' where it is not associated with a value in enclosing scope",
                     code->local_names[arg]);
        goto error;
    }
    PUSH(fields(c)[CELL_VALUE]);
    DISPATCH();
}
L_STORE_DEREF: {
    V c = locals[arg];
    if (__builtin_expect(!c || KIND(c) != K_CELL, 0)) {
        SAVE();
        vm_raise(vm, B_TYPEERROR, "STORE_DEREF of a slot without a cell");
        goto error;
    }
    vm_store_ref(vm, c, &fields(c)[CELL_VALUE], R[--sp]);
    DISPATCH();
}
L_DELETE_DEREF: {
    V c = locals[arg];
    if (!c || KIND(c) != K_CELL || !fields(c)[CELL_VALUE]) {
        SAVE();
        vm_raise(vm, B_NAMEERROR, "cannot access free variable '%s'", code->local_names[arg]);
        goto error;
    }
    vm_store_ref(vm, c, &fields(c)[CELL_VALUE], 0);
    DISPATCH();
}
L_LOAD_CLOSURE: {
    V c = locals[arg];
    if (!c || KIND(c) != K_CELL) {
        SAVE();
        vm_raise(vm, B_TYPEERROR, "LOAD_CLOSURE of a slot without a cell");
        goto error;
    }
    PUSH(c);
    DISPATCH();
}
L_MAKE_CELL: {
    SAVE();
    V c = vm_new_cell(vm, fr->base + arg);
    if (!c)
        goto error;
    locals[arg] = c;
    DISPATCH();
}
L_LOAD_NAME:
    SAVE();
    if (!load_name(vm, fr, code->name_ids[arg], sp))
        goto error;
    sp++;
    DISPATCH();
L_STORE_NAME:
    SAVE();
    if (!store_name(vm, fr, code->name_ids[arg], sp - 1))
        goto error;
    sp--;
    DISPATCH();
L_PUSH_NULL:
    PUSH(0);
    DISPATCH();
L_POP:
    sp--;
    DISPATCH();
L_DUP:
    R[sp] = R[sp - 1];
    sp++;
    DISPATCH();
L_DUP2:
    R[sp] = R[sp - 2];
    R[sp + 1] = R[sp - 1];
    sp += 2;
    DISPATCH();
L_ROT2: {
    V t = R[sp - 1];
    R[sp - 1] = R[sp - 2];
    R[sp - 2] = t;
    DISPATCH();
}
L_ROT3: {
    V c = R[sp - 1];
    R[sp - 1] = R[sp - 2];
    R[sp - 2] = R[sp - 3];
    R[sp - 3] = c;
    DISPATCH();
}
L_ROT4: {
    V d = R[sp - 1];
    R[sp - 1] = R[sp - 2];
    R[sp - 2] = R[sp - 3];
    R[sp - 3] = R[sp - 4];
    R[sp - 4] = d;
    DISPATCH();
}
L_ADD: L_INPLACE_ADD: {
    V a = R[sp - 2], b = R[sp - 1];
    int ka = KIND(a), kb = KIND(b);
    if (ka == K_INT && kb == K_INT) {
        int64_t r;
        if (!__builtin_add_overflow(int_val(a), int_val(b), &r)) {
            SAVE();
            V v = vm_new_int(vm, r);
            if (!v)
                goto error;
            R[--sp - 1] = v;
            DISPATCH();
        }
    } else if (mixed_floats(ka, kb)) {
        SAVE();
        V v = vm_new_float(vm, num_as_double(a, ka) + num_as_double(b, kb));
        if (!v)
            goto error;
        R[--sp - 1] = v;
        DISPATCH();
    }
    CHECK(vm_binary(vm, (int)(insn & 0xFF) - OP_ADD, sp - 2, sp - 1, sp - 2));
    sp--;
    DISPATCH();
}
L_SUB: L_INPLACE_SUB: {
    V a = R[sp - 2], b = R[sp - 1];
    int ka = KIND(a), kb = KIND(b);
    if (ka == K_INT && kb == K_INT) {
        int64_t r;
        if (!__builtin_sub_overflow(int_val(a), int_val(b), &r)) {
            SAVE();
            V v = vm_new_int(vm, r);
            if (!v)
                goto error;
            R[--sp - 1] = v;
            DISPATCH();
        }
    } else if (mixed_floats(ka, kb)) {
        SAVE();
        V v = vm_new_float(vm, num_as_double(a, ka) - num_as_double(b, kb));
        if (!v)
            goto error;
        R[--sp - 1] = v;
        DISPATCH();
    }
    CHECK(vm_binary(vm, (int)(insn & 0xFF) - OP_ADD, sp - 2, sp - 1, sp - 2));
    sp--;
    DISPATCH();
}
L_MUL: L_INPLACE_MUL: {
    V a = R[sp - 2], b = R[sp - 1];
    int ka = KIND(a), kb = KIND(b);
    if (mixed_floats(ka, kb)) {
        SAVE();
        V v = vm_new_float(vm, num_as_double(a, ka) * num_as_double(b, kb));
        if (!v)
            goto error;
        R[--sp - 1] = v;
        DISPATCH();
    }
    if (ka == K_INT && kb == K_INT) {
        int64_t r;
        if (!__builtin_mul_overflow(int_val(a), int_val(b), &r)) {
            SAVE();
            V v = vm_new_int(vm, r);
            if (!v)
                goto error;
            R[--sp - 1] = v;
            DISPATCH();
        }
    }
    CHECK(vm_binary(vm, (int)(insn & 0xFF) - OP_ADD, sp - 2, sp - 1, sp - 2));
    sp--;
    DISPATCH();
}
L_TRUEDIV: L_FLOORDIV: L_MOD: L_POW: L_LSHIFT: L_RSHIFT: L_AND: L_OR: L_XOR:
L_INPLACE_TRUEDIV: L_INPLACE_FLOORDIV: L_INPLACE_MOD: L_INPLACE_POW: L_INPLACE_LSHIFT:
L_INPLACE_RSHIFT: L_INPLACE_AND: L_INPLACE_OR: L_INPLACE_XOR: {
    int op = (int)(insn & 0xFF) - OP_ADD;
    V a = R[sp - 2], b = R[sp - 1];
    int ka = KIND(a), kb = KIND(b);
    /* true division: floats, or ints within +-2**53 (exactly representable: the
     * quotient of the doubles is CPython's correctly rounded one) */
    if ((op == 3 || op == 15) && (mixed_floats(ka, kb) || (ka == K_INT && kb == K_INT &&
        exact_double(int_val(a)) && exact_double(int_val(b)))) && num_as_double(b, kb) != 0) {
        SAVE();
        V v = vm_new_float(vm, num_as_double(a, ka) / num_as_double(b, kb));
        if (!v)
            goto error;
        R[--sp - 1] = v;
        DISPATCH();
    }
    CHECK(vm_binary(vm, op, sp - 2, sp - 1, sp - 2));
    sp--;
    DISPATCH();
}
L_NEG: L_POS: L_INVERT: {
    V v = TOP;
    if (KIND(v) == K_FLOAT && (insn & 0xFF) == OP_NEG) {
        SAVE();
        V r = vm_new_float(vm, -float_val(v));
        if (!r)
            goto error;
        TOP = r;
        DISPATCH();
    }
    CHECK(vm_unary(vm, (int)(insn & 0xFF), sp - 1));
    DISPATCH();
}
L_NOT: {
    V v = TOP;
    int k = KIND(v);
    if (k == K_BOOL) {
        TOP = vm_bool(vm, !fields(v)[0]);
        DISPATCH();
    }
    SAVE();
    int t = vm_truthy(vm, v);
    if (t < 0)
        goto error;
    TOP = vm_bool(vm, !t);
    DISPATCH();
}
L_EQ: L_NE: {
    V a = R[sp - 2], b = R[sp - 1];
    bool ne = (insn & 0xFF) == OP_NE;
    int r;
    if (a == b && KIND(a) != K_FLOAT && vm_user_class(vm, a) < 0)
        r = 1;
    else if (KIND(a) == K_INT && KIND(b) == K_INT)
        r = int_val(a) == int_val(b);
    else {
        SAVE();
        r = vm_eq_op(vm, false, sp - 2, sp - 1);
        if (r < 0)
            goto error;
    }
    sp--;
    TOP = vm_bool(vm, ne ? !r : r);
    DISPATCH();
}
L_LT: L_LE: L_GT: L_GE: {
    V a = R[sp - 2], b = R[sp - 1];
    int op = (int)(insn & 0xFF) - OP_LT, r;
    int ka = KIND(a), kb = KIND(b);
    if (ka == K_INT && kb == K_INT) {
        int64_t x = int_val(a), y = int_val(b);
        r = op == 0 ? x < y : op == 1 ? x <= y : op == 2 ? x > y : x >= y;
    } else if (ka == K_FLOAT && kb == K_FLOAT) {
        double x = float_val(a), y = float_val(b);
        r = op == 0 ? x < y : op == 1 ? x <= y : op == 2 ? x > y : x >= y;
    } else {
        SAVE();
        r = vm_compare_slots(vm, op, sp - 2, sp - 1);
        if (r < 0)
            goto error;
    }
    sp--;
    TOP = vm_bool(vm, r);
    DISPATCH();
}
L_IS: L_IS_NOT: {
    bool same = R[sp - 2] == R[sp - 1];
    sp--;
    TOP = vm_bool(vm, (insn & 0xFF) == OP_IS ? same : !same);
    DISPATCH();
}
L_IN: L_NOT_IN: {
    SAVE();
    int r = vm_contains(vm, sp - 1, sp - 2);
    if (r < 0)
        goto error;
    sp--;
    TOP = vm_bool(vm, (insn & 0xFF) == OP_IN ? r : !r);
    DISPATCH();
}
L_JUMP:
    pc = arg;
    DISPATCH();
L_LOOP:
    SAVE();             /* a KeyboardInterrupt's traceback names the loop's last line */
    if (!poll_safepoint(vm))
        goto error;
    pc = arg;
    DISPATCH();
L_POP_JUMP_IF_FALSE: L_POP_JUMP_IF_TRUE: {
    V v = R[--sp];
    int t = quick_truth(vm, v);
    if (t < 0) {
        SAVE();
        fr->sp = sp + 1;
        t = vm_truthy(vm, v);
        if (t < 0)
            goto error;
    }
    if (t == ((insn & 0xFF) == OP_POP_JUMP_IF_TRUE))
        pc = arg;
    DISPATCH();
}
L_JUMP_IF_FALSE_OR_POP: L_JUMP_IF_TRUE_OR_POP: {
    int t = quick_truth(vm, TOP);
    if (t < 0) {
        SAVE();
        t = vm_truthy(vm, TOP);
    }
    if (t < 0)
        goto error;
    if (t == ((insn & 0xFF) == OP_JUMP_IF_TRUE_OR_POP))
        pc = arg;
    else
        sp--;
    DISPATCH();
}
L_GET_ITER:
    CHECK(vm_get_iter(vm, sp - 1));
    DISPATCH();
L_FOR_ITER: {
    V it = TOP;
    if (KIND(it) == K_ITER) {
        uint64_t t = fields(it)[ITER_TYPE];
        if (t == IT_LIST) {
            V seq = fields(it)[ITER_SEQ];
            uint64_t pos = fields(it)[ITER_POS];
            if (pos < fields(seq)[LIST_LEN]) {
                fields(it)[ITER_POS] = pos + 1;
                PUSH(arr_items(fields(seq)[LIST_ITEMS])[pos]);
            } else {
                sp--;
                pc = arg;
            }
            DISPATCH();
        }
        if (t == IT_RANGE) {
            int64_t cur = (int64_t)fields(it)[ITER_POS], end = (int64_t)fields(it)[ITER_END],
                    step = (int64_t)fields(it)[ITER_STEP];
            if (step > 0 ? cur >= end : cur <= end) {
                sp--;
                pc = arg;
                DISPATCH();
            }
            int64_t next;
            if (__builtin_add_overflow(cur, step, &next))
                next = step > 0 ? INT64_MAX : INT64_MIN;
            fields(it)[ITER_POS] = (V)next;
            if (cur >= SMALL_INT_MIN && cur <= SMALL_INT_MAX) {
                PUSH(R[vm->r_small_ints + (cur - SMALL_INT_MIN)]);
                DISPATCH();
            }
            SAVE();
            V v = vm_new_int(vm, cur);
            if (!v)
                goto error;
            PUSH(v);
            DISPATCH();
        }
        if (t == IT_TUPLE) {
            V seq = fields(it)[ITER_SEQ];
            uint64_t pos = fields(it)[ITER_POS];
            if (pos < arr_len(seq)) {
                fields(it)[ITER_POS] = pos + 1;
                PUSH(arr_items(seq)[pos]);
            } else {
                sp--;
                pc = arg;
            }
            DISPATCH();
        }
    } else if (KIND(it) == K_GEN) {
        if (fields(it)[GEN_STATE] == GS_DONE) {
            sp--;
            pc = arg;
            DISPATCH();
        }
        SAVE();
        if (!gen_push_frame(vm, sp - 1, sp + 1, sp, F_GEN_FOR, 0))
            goto error;
        LOAD();
        DISPATCH();
    }
    SAVE();
    int r = vm_next(vm, sp - 1, sp);
    if (r < 0)
        goto error;
    if (r)
        sp++;
    else {
        sp--;
        pc = arg;
    }
    DISPATCH();
}
L_BUILD_LIST: {
    SAVE();
    V l = vm_new_list(vm, arg);
    if (!l)
        goto error;
    V items = fields(l)[LIST_ITEMS];
    vm_copy_refs(vm, items, arr_items(items), &R[sp - arg], arg);
    fields(l)[LIST_LEN] = arg;
    sp -= arg;
    PUSH(l);
    DISPATCH();
}
L_BUILD_TUPLE: {
    SAVE();
    V t = vm_new_tuple(vm, arg);
    if (!t)
        goto error;
    vm_copy_refs(vm, t, arr_items(t), &R[sp - arg], arg);
    sp -= arg;
    PUSH(t);
    DISPATCH();
}
L_BUILD_DICT: {
    SAVE();
    V d = vm_new_dict(vm);
    if (!d)
        goto error;
    R[sp] = d;
    fr->sp = sp + 1;
    uint32_t first = sp - 2 * arg;
    for (uint32_t i = 0; i < arg; i++)
        if (!dict_set(vm, sp, first + 2 * i, first + 2 * i + 1))
            goto error;
    R[first] = R[sp];
    sp = first + 1;
    DISPATCH();
}
L_BUILD_SET: {
    SAVE();
    V s = vm_new_set(vm, false);
    if (!s)
        goto error;
    R[sp] = s;
    fr->sp = sp + 1;
    uint32_t first = sp - arg;
    for (uint32_t i = 0; i < arg; i++)
        if (!set_add(vm, sp, first + i))
            goto error;
    R[first] = R[sp];
    sp = first + 1;
    DISPATCH();
}
L_BUILD_STRING:
    if (arg == 0) {
        PUSH(R[vm->r_empty_str]);
        DISPATCH();
    }
    CHECK(build_string(vm, sp - arg, arg));
    sp -= arg - 1;
    DISPATCH();
L_BUILD_SLICE: {
    SAVE();
    V s = vm_alloc_instance(vm, vm->gr_class[K_SLICE]);
    if (!s)
        goto error;
    uint32_t first = sp - arg;
    vm_store_ref(vm, s, &fields(s)[SLICE_START], R[first]);
    vm_store_ref(vm, s, &fields(s)[SLICE_STOP], R[first + 1]);
    vm_store_ref(vm, s, &fields(s)[SLICE_STEP], arg == 3 ? R[first + 2] : vm_none(vm));
    R[first] = s;
    sp = first + 1;
    DISPATCH();
}
L_LIST_APPEND: {
    uint32_t ls = sp - 1 - arg;
    if (KIND(R[ls]) != K_LIST) {
        SAVE();
        vm_raise(vm, B_TYPEERROR, "LIST_APPEND to a non-list");
        goto error;
    }
    SAVE();
    if (!list_append(vm, ls, sp - 1))
        goto error;
    sp--;
    DISPATCH();
}
L_SET_ADD: {
    uint32_t ss = sp - 1 - arg;
    SAVE();
    if (KIND(R[ss]) != K_SET) {
        vm_raise(vm, B_TYPEERROR, "SET_ADD to a non-set");
        goto error;
    }
    if (!set_add(vm, ss, sp - 1))
        goto error;
    sp--;
    DISPATCH();
}
L_DICT_SET: {
    uint32_t ds = sp - 2 - arg;
    SAVE();
    if (KIND(R[ds]) != K_DICT) {
        vm_raise(vm, B_TYPEERROR, "DICT_SET to a non-dict");
        goto error;
    }
    if (!dict_set(vm, ds, sp - 2, sp - 1))
        goto error;
    sp -= 2;
    DISPATCH();
}
L_LIST_EXTEND:
    SAVE();
    if (KIND(R[sp - 2]) != K_LIST) {
        vm_raise(vm, B_TYPEERROR, "LIST_EXTEND to a non-list");
        goto error;
    }
    if (!vm_iterate_into_list(vm, sp - 1, sp - 2)) {
        if (vm_exc_matches(vm, R[vm->r_exc], B_TYPEERROR) && KIND(R[sp - 1]) != K_ITER)
            vm_raise(vm, B_TYPEERROR, "Value after * must be an iterable, not %s", vm_type_name(vm, R[sp - 1]));
        goto error;
    }
    sp--;
    DISPATCH();
L_SET_UPDATE:
    SAVE();
    if (KIND(R[sp - 2]) != K_SET) {
        vm_raise(vm, B_TYPEERROR, "SET_UPDATE to a non-set");
        goto error;
    }
    if (!set_update(vm, sp - 2, sp - 1))
        goto error;
    sp--;
    DISPATCH();
L_DICT_UPDATE:
    SAVE();
    if (KIND(R[sp - 2]) != K_DICT) {
        vm_raise(vm, B_TYPEERROR, "DICT_UPDATE to a non-dict");
        goto error;
    }
    if (KIND(R[sp - 1]) != K_DICT && vm_user_class(vm, R[sp - 1]) < 0) {
        vm_raise(vm, B_TYPEERROR, "'%s' object is not a mapping", vm_type_name(vm, R[sp - 1]));
        goto error;
    }
    if (!vm_dict_update_from(vm, sp - 2, sp - 1))
        goto error;
    sp--;
    DISPATCH();
L_LIST_TO_TUPLE: {
    SAVE();
    V l = TOP;
    if (KIND(l) != K_LIST) {
        vm_raise(vm, B_TYPEERROR, "LIST_TO_TUPLE of a non-list");
        goto error;
    }
    V t = vm_new_tuple(vm, fields(l)[LIST_LEN]);
    if (!t)
        goto error;
    l = TOP;
    vm_copy_refs(vm, t, arr_items(t), arr_items(fields(l)[LIST_ITEMS]), fields(l)[LIST_LEN]);
    TOP = t;
    DISPATCH();
}
L_FORMAT: {
    SAVE();
    uint32_t vslot = sp - 1 - (arg & 1);
    if (!format_value(vm, vslot, arg, sp - 1))
        goto error;
    sp = vslot + 1;
    DISPATCH();
}
L_UNPACK_SEQUENCE: {
    V v = TOP;
    if (KIND(v) == K_TUPLE && arr_len(v) == arg) {
        for (uint32_t i = 0; i < arg; i++)
            R[sp - 1 + i] = arr_items(v)[arg - 1 - i];
        sp += arg - 1;
        DISPATCH();
    }
    if (KIND(v) == K_LIST && fields(v)[LIST_LEN] == arg) {
        V items = fields(v)[LIST_ITEMS];
        for (uint32_t i = 0; i < arg; i++)
            R[sp - 1 + i] = arr_items(items)[arg - 1 - i];
        sp += arg - 1;
        DISPATCH();
    }
    CHECK(unpack(vm, sp - 1, arg));
    sp += arg - 1;
    DISPATCH();
}
L_UNPACK_EX:
    CHECK(unpack_ex(vm, sp - 1, arg & 0xFF, arg >> 8));
    sp += (arg & 0xFF) + (arg >> 8);
    DISPATCH();
L_LOAD_SUBSCR: {
    V o = R[sp - 2], k = R[sp - 1];
    if (KIND(o) == K_LIST && KIND(k) == K_INT) {
        int64_t i = int_val(k), n = (int64_t)fields(o)[LIST_LEN];
        if (i < 0)
            i += n;
        if ((uint64_t)i < (uint64_t)n) {
            R[sp - 2] = arr_items(fields(o)[LIST_ITEMS])[i];
            sp--;
            DISPATCH();
        }
    }
    CHECK(vm_getitem(vm, sp - 2, sp - 1, sp - 2));
    sp--;
    DISPATCH();
}
L_STORE_SUBSCR: {
    V o = R[sp - 2], k = R[sp - 1];
    if (KIND(o) == K_LIST && KIND(k) == K_INT && vm_user_class(vm, o) < 0) {
        int64_t i = int_val(k), n = (int64_t)fields(o)[LIST_LEN];
        if (i < 0)
            i += n;
        if ((uint64_t)i < (uint64_t)n) {
            V items = fields(o)[LIST_ITEMS];
            vm_store_ref(vm, items, &arr_items(items)[i], R[sp - 3]);
            sp -= 3;
            DISPATCH();
        }
    }
    CHECK(vm_setitem(vm, sp - 2, sp - 1, sp - 3));
    sp -= 3;
    DISPATCH();
}
L_DELETE_SUBSCR:
    CHECK(vm_delitem(vm, sp - 2, sp - 1));
    sp -= 2;
    DISPATCH();
L_LOAD_ATTR: {
    V obj = TOP;
    struct gi_cache *ic0 = &code->cache[(size_t)(pc - 1) * GI_CACHE_WAYS], *ic = ic0;
    uint32_t cls = cls_of(obj);
    for (int w = 0; w < GI_CACHE_WAYS; w++, ic++) {
        if (ic->cls != cls)
            continue;
        if (ic->version != vm->class_version)
            break;
        if (ic->kind == CA_SLOT && ic->aux) {
            V v = fields(obj)[INST_INLINE + ic->index];
            if (v) {
                TOP = v;
                DISPATCH();
            }
        } else if (ic->kind == CA_VALUE) {
            TOP = vm->resolved[ic->index];
            DISPATCH();
        }
        break;
    }
    CHECK(load_attr_slow(vm, ic0, sp - 1, code->name_ids[arg]));
    DISPATCH();
}
L_STORE_ATTR: {
    V obj = R[sp - 1];
    struct gi_cache *ic0 = &code->cache[(size_t)(pc - 1) * GI_CACHE_WAYS], *ic = ic0;
    uint32_t cls = cls_of(obj);
    for (int w = 0; w < GI_CACHE_WAYS; w++, ic++) {
        if (ic->cls != cls)
            continue;
        if (ic->version == vm->class_version && ic->kind == CA_SLOT && ic->aux) {
            vm_store_ref(vm, obj, &fields(obj)[INST_INLINE + ic->index], R[sp - 2]);
            sp -= 2;
            DISPATCH();
        }
        break;
    }
    CHECK(store_attr_slow(vm, ic0, sp - 1, sp - 2, code->name_ids[arg]));
    sp -= 2;
    DISPATCH();
}
L_DELETE_ATTR:
    CHECK(vm_delattr(vm, sp - 1, code->name_ids[arg]));
    sp--;
    DISPATCH();
L_LOAD_METHOD: {
    V obj = TOP;
    struct gi_cache *ic0 = &code->cache[(size_t)(pc - 1) * GI_CACHE_WAYS], *ic = ic0;
    uint32_t cls = cls_of(obj);
    for (int w = 0; w < GI_CACHE_WAYS; w++, ic++) {
        if (ic->cls != cls)
            continue;
        if (ic->version != vm->class_version)
            break;
        if (ic->kind == CA_METHOD) {
            R[sp] = obj;
            R[sp - 1] = vm->resolved[ic->index];
            sp++;
            DISPATCH();
        }
        if (ic->kind == CA_NATIVE_METHOD) {
            R[sp] = obj;
            R[sp - 1] = R[vm->r_builtins + ic->index];
            sp++;
            DISPATCH();
        }
        break;
    }
    SAVE();
    if (!load_method_slow(vm, ic0, sp - 1, code->name_ids[arg]))
        goto error;
    sp++;
    DISPATCH();
}
L_CALL: {
    uint32_t s = sp - arg - 1;
    bool pushed;
    fr->pc = pc;
    fr->sp = s + 1; /* the caller's stack after the call: the result in slot s */
    if (KIND(R[s]) == K_FUNC && simple_frame(vm, R[s], s + 1, arg, s)) {
        bool ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
        DISPATCH();
    }
    if (!call_object(vm, s, s + 1, arg, 0, s, 0, &pushed)) {
        fr->sp = sp;
        goto error;
    }
    if (pushed) {
        bool ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
    } else {
        sp = s + 1;
    }
    DISPATCH();
}
L_CALL_METHOD: {
    uint32_t s = sp - arg - 2;
    bool pushed, ok;
    fr->pc = pc;
    fr->sp = s + 1;
    V f = R[s];
    if (KIND(f) == K_FUNC && (R[s + 1] ? simple_frame(vm, f, s + 1, arg + 1, s) : simple_frame(vm, f, s + 2, arg, s))) {
        ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
        DISPATCH();
    }
    if (R[s + 1]) {
        if (KIND(f) == K_BUILTIN) {
            uint32_t id = (uint32_t)fields(f)[BUILTIN_ID];
            if (id == M_LIST_APPEND && arg == 1 && KIND(R[s + 1]) == K_LIST) {
                ok = list_append(vm, s + 1, s + 2);
                if (!ok) {
                    fr->sp = sp;
                    goto error;
                }
                R[s] = R[vm->r_none];
                sp = s + 1;
                DISPATCH();
            }
        }
        ok = call_object(vm, s, s + 1, arg + 1, 0, s, 0, &pushed);
    } else {
        ok = call_object(vm, s, s + 2, arg, 0, s, 0, &pushed);
    }
    if (!ok) {
        fr->sp = sp;
        goto error;
    }
    if (pushed) {
        ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
    } else {
        sp = s + 1;
    }
    DISPATCH();
}
L_CALL_KW: {
    uint32_t s = sp - arg - 3, kwn = sp - 1;
    V names = R[kwn];
    if (KIND(names) != K_TUPLE || arr_len(names) > arg) {
        SAVE();
        vm_raise(vm, B_TYPEERROR, "CALL_KW without a tuple of keyword names");
        goto error;
    }
    for (uint32_t i = 0; i < arr_len(names); i++)
        if (KIND(arr_items(names)[i]) != K_STR) {
            SAVE();
            vm_raise(vm, B_TYPEERROR, "keywords must be strings");
            goto error;
        }
    bool pushed, ok;
    fr->pc = pc;
    fr->sp = s + 1;
    if (R[s + 1])
        ok = call_object(vm, s, s + 1, arg + 1, kwn, s, 0, &pushed);
    else
        ok = call_object(vm, s, s + 2, arg, kwn, s, 0, &pushed);
    if (!ok) {
        fr->sp = sp;
        goto error;
    }
    if (pushed) {
        ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
    } else {
        sp = s + 1;
    }
    DISPATCH();
}
L_CALL_EX: {
    uint32_t s = sp - 3 - (arg & 1);
    bool pushed;
    fr->pc = pc;
    fr->sp = s + 1;
    if (!call_ex(vm, s, arg & 1, &pushed)) {
        fr->sp = sp;
        goto error;
    }
    if (pushed) {
        bool ok = poll_safepoint(vm);
        LOAD();
        if (!ok)
            goto error;
    } else {
        sp = s + 1;
    }
    DISPATCH();
}
L_CALL_BUILTIN: {
    uint32_t argc = arg >> 16, id = arg & 0xFFFF;
    uint32_t s = sp - argc;
    SAVE();
    if (id == B_LEN && argc == 1) {
        V v = R[s];
        int k = KIND(v);
        int64_t n = -1;
        if (vm_user_class(vm, v) < 0) {
            if (k == K_LIST)
                n = (int64_t)fields(v)[LIST_LEN];
            else if (k == K_TUPLE)
                n = arr_len(v);
            else if (k == K_STR)
                n = (int64_t)fields(v)[STR_CPLEN];
            else if (k == K_DICT)
                n = (int64_t)fields(v)[DICT_COUNT];
        }
        if (n >= 0 && n <= SMALL_INT_MAX) {
            R[s] = R[vm->r_small_ints + (n - SMALL_INT_MIN)];
            sp = s + 1;
            DISPATCH();
        }
    }
    if (!vm_call_native(vm, id, s, argc, 0, s))
        goto error;
    sp = s + 1;
    DISPATCH();
}
L_RETURN_VALUE: {
    V v = R[sp - 1];
    uint32_t ret = fr->ret_slot;
    uint16_t flags = fr->flags;
    bool init_error = false;
    const char *init_type = NULL;
    if (fr->gen_slot)
        gen_finish(vm, fr);
    if (flags & F_INIT) {
        if (KIND(v) != K_NONE) {
            init_error = true;
            init_type = vm_type_name(vm, v);
        }
        V self = R[fr->base];
        if (self && KIND(self) == K_CELL)
            self = fields(self)[CELL_VALUE];
        v = self;
    }
    if (flags & F_MODULE) {
        vm->modules[code->module].state = 2;
        v = vm->module_objs[code->module];
    }
    vm_pop_frame(vm);
    if (init_error) {
        vm_raise(vm, B_TYPEERROR, "__init__() should return None, not '%s'", init_type);
        if (flags & F_CENTRY)
            return RUN_EXC;
        LOAD();
        goto error;
    }
    if (flags & F_GEN_FOR) {
        /* the generator is exhausted: FOR_ITER's exit (the iterator popped) */
        LOAD();
        sp = ret - 1;
        pc = code->code[pc - 1] >> 8;
        DISPATCH();
    }
    R[ret] = v;
    if (flags & F_CENTRY)
        return RUN_RETURNED;
    LOAD();
    sp = (flags & F_DISCARD) ? ret : ret + 1;
    DISPATCH();
}
L_YIELD_VALUE: {
    if (!fr->gen_slot) {
        SAVE();
        vm_fatal(vm, EINVAL, "YIELD_VALUE outside a generator (malformed image)");
    }
    sp--;
    if (!gen_suspend(vm, fr, sp, pc)) {
        sp++;
        SAVE();
        goto error;
    }
    fr = &vm->frames[vm->nframes - 1];
    V v = R[sp];
    uint32_t ret = fr->ret_slot;
    uint16_t flags = fr->flags;
    vm_pop_frame(vm);
    R[ret] = v;
    if (flags & F_CENTRY)
        return RUN_YIELDED;
    LOAD();
    sp = ret + 1;
    DISPATCH();
}
L_MAKE_FUNCTION: {
    uint32_t flags = arg >> 16;
    uint32_t n = __builtin_popcount(flags & 7);
    uint32_t first = sp - n;
    SAVE();
    if (!make_function(vm, first, arg & 0xFFFF, flags))
        goto error;
    sp = first + 1;
    DISPATCH();
}
L_BUILD_CLASS: {
    uint32_t first = sp - arg - 2;
    SAVE();
    if (!vm_build_class(vm, first, arg, first))
        goto error;
    sp = first + 1;
    DISPATCH();
}
L_SETUP_EXCEPT:
    if (fr->nblocks >= GI_MAX_BLOCKS) {
        SAVE();
        vm_raise(vm, B_RUNTIMEERROR, "too many nested try blocks");
        goto error;
    }
    fr->blocks[fr->nblocks++] = (struct gi_block){arg, sp - fr->stack};
    DISPATCH();
L_POP_BLOCK:
    if (fr->nblocks == 0) {
        SAVE();
        vm_fatal(vm, EINVAL, "POP_BLOCK without a block (malformed image)");
    }
    fr->nblocks--;
    DISPATCH();
L_EXC_MATCH: {
    SAVE();
    int res = 0;
    if (!exc_match(vm, R[sp - 2], R[sp - 1], &res))
        goto error;
    sp--;
    TOP = vm_bool(vm, res);
    DISPATCH();
}
L_RAISE:
    SAVE();
    raise_value(vm, sp - 1);
    goto error;
L_RAISE_FROM: {
    SAVE();
    V cause = R[sp - 1];
    if (KIND(cause) != K_NONE && KIND(cause) != K_EXC && !is_exc_class(vm, cause)) {
        vm_raise(vm, B_TYPEERROR, "exception causes must derive from BaseException");
        goto error;
    }
    raise_value(vm, sp - 2);
    if (R[vm->r_exc] && KIND(R[vm->r_exc]) == K_EXC) {
        /* the exception's __cause__ (an instance: a class given is called) */
        uint32_t t = vm_reserve(vm, 2);
        R[t] = R[vm->r_exc];
        R[vm->r_exc] = 0;
        bool ok = true;
        if (KIND(R[sp - 1]) == K_NONE || KIND(R[sp - 1]) == K_EXC)
            R[t + 1] = R[sp - 1];
        else
            ok = vm_call_value(vm, R[sp - 1], t, 0, t + 1);
        if (ok) {
            vm_store_ref(vm, R[t], &fields(R[t])[EXC_CAUSE], R[t + 1]);
            R[vm->r_exc] = R[t];
        }
        vm_release(vm, t);
    }
    goto error;
}
L_RERAISE:
    if (KIND(R[sp - 1]) != K_EXC) {
        SAVE();
        vm_raise(vm, B_TYPEERROR, "exceptions must derive from BaseException");
        goto error;
    }
    R[vm->r_exc] = R[sp - 1];
    sp--;
    SAVE();
    goto unwind; /* keeps the traceback: no entry for this frame again */
L_RAISE_ASSERT:
    SAVE();
    vm_raise_value(vm, B_ASSERTIONERROR, arg ? sp - 1 : 0);
    goto error;
L_IMPORT_NAME: {
    bool pushed;
    SAVE();
    fr->sp = sp + 1;
    if (arg >= vm->nmodules || !vm_import(vm, arg, sp, &pushed)) {
        fr->sp = sp;
        goto error;
    }
    if (pushed) {
        LOAD();
        DISPATCH();
    }
    sp++;
    DISPATCH();
}
L_IMPORT_FROM: {
    V m = TOP;
    SAVE();
    uint32_t name = code->name_ids[arg];
    if (KIND(m) != K_MODULE || !vm_module_getattr(vm, m, name, sp)) {
        if (KIND(m) == K_MODULE) {
            V mn = fields(m)[MODULE_NAME];
            vm_raise(vm, B_IMPORTERROR, "cannot import name '%s' from '%.*s'", vm->names[name], (int)str_nbytes(mn), str_ptr(mn));
        } else {
            vm_raise(vm, B_IMPORTERROR, "cannot import name '%s'", vm->names[name]);
        }
        goto error;
    }
    sp++;
    DISPATCH();
}
L_WITH_ENTER:
    CHECK(with_enter(vm, sp - 1));
    sp++;
    DISPATCH();
L_WITH_EXIT:
    CHECK(with_exit(vm, sp - 1, false, NULL));
    sp--;
    DISPATCH();
L_WITH_EXIT_EXC: {
    bool swallow = false;
    SAVE();
    if (KIND(R[sp - 1]) != K_EXC) {
        vm_raise(vm, B_TYPEERROR, "WITH_EXIT_EXC without an exception");
        goto error;
    }
    if (!with_exit(vm, sp - 2, true, &swallow))
        goto error;
    if (!swallow) {
        R[vm->r_exc] = R[sp - 1];
        sp -= 2;
        SAVE();
        goto unwind;
    }
    sp -= 2;
    DISPATCH();
}

error:
    /* the pending exception is in R[r_exc]; fr->pc is past the failing instruction,
     * or 0 when it was raised as the frame was entered (the call's safepoint poll
     * took a KeyboardInterrupt): then it names the frame's first line */
    fr = &vm->frames[vm->nframes - 1];
    tb_append(vm, (uint32_t)(fr->code - vm->codes), fr->code->lines[fr->pc ? fr->pc - 1 : 0]);
unwind:
    for (;;) {
        fr = &vm->frames[vm->nframes - 1];
        if (fr->nblocks) {
            struct gi_block b = fr->blocks[--fr->nblocks];
            fr->sp = fr->stack + b.depth;
            R[fr->sp++] = R[vm->r_exc];
            R[vm->r_exc] = 0;
            fr->pc = b.handler;
            break;
        }
        uint16_t flags = fr->flags;
        if (fr->gen_slot) {
            gen_finish(vm, fr);
            if (vm_exc_matches(vm, R[vm->r_exc], B_STOPITERATION))
                vm_raise(vm, B_RUNTIMEERROR, "generator raised StopIteration");
        }
        if (flags & F_MODULE)
            vm->modules[fr->code->module].state = 0;
        vm_pop_frame(vm);
        if (flags & F_CENTRY)
            return RUN_EXC;
        fr = &vm->frames[vm->nframes - 1];
        tb_append(vm, (uint32_t)(fr->code - vm->codes), fr->code->lines[fr->pc - 1]);
    }
    LOAD();
    DISPATCH();
#undef PUSH
#undef TOP
#undef SAVE
#undef LOAD
#undef CHECK
#undef DISPATCH
#undef KIND
}

/* ---- setup */

struct gi_layout_shape { uint32_t nrefs, nscalars; };
static const struct gi_layout_shape shapes[K_NKINDS] = {
    [K_NONE] = {0, 1}, [K_BOOL] = {0, 1}, [K_INT] = {0, 1}, [K_FLOAT] = {0, 1},
    [K_STR] = {1, 2}, [K_TUPLE] = {0, 0}, [K_LIST] = {2, 1}, [K_DICT] = {5, 2}, [K_SET] = {3, 6},
    [K_FUNC] = {3, 1}, [K_CLASS] = {4, 1}, [K_INST] = {1, 1}, [K_BOUND] = {2, 0}, [K_BUILTIN] = {0, 1},
    [K_EXC] = {4, 3}, [K_RANGE] = {0, 3}, [K_ITER] = {3, 4}, [K_CELL] = {1, 0}, [K_GEN] = {3, 5},
    [K_SLICE] = {3, 0}, [K_MODULE] = {1, 1}, [K_SUPER] = {2, 0}, [K_WRAP] = {3, 1}, [K_ARRAY] = {2, 2},
    [K_FILE] = {0, 1}, [K_VIEW] = {1, 1},
};

static bool define_layouts(struct gi_vm *vm)
{
    layouts_begin(vm);
    for (int i = 0; i < GR_MAX_CLASSES; i++) {
        vm->kind_of_class[i] = -1;
        vm->user_class_of[i] = -1;
    }
    for (int k = 0; k < K_NKINDS; k++) {
        if (k == K_TUPLE) {
            vm->gr_class[k] = GR_CLASS_REF_ARRAY;
            vm->kind_of_class[GR_CLASS_REF_ARRAY] = K_TUPLE;
            continue;
        }
        int id = layout_get(vm, shapes[k].nrefs, shapes[k].nscalars, false);
        if (id < 0)
            return false;
        vm->gr_class[k] = (uint32_t)id;
        vm->kind_of_class[id] = (int8_t)k;
    }
    int id = layout_get(vm, shapes[K_SET].nrefs, shapes[K_SET].nscalars, false);
    if (id < 0)
        return false;
    vm->gr_frozenset = (uint32_t)id;
    vm->kind_of_class[id] = K_SET;
    vm->int_size = vm->rt->classes[vm->gr_class[K_INT]].size;
    vm->int_hdr = gr_make_hdr(vm->gr_class[K_INT], 0);
    vm->float_size = vm->rt->classes[vm->gr_class[K_FLOAT]].size;
    vm->float_hdr = gr_make_hdr(vm->gr_class[K_FLOAT], 0);
    return true;
}

/* Native modules get global slots after the program's: one per attribute. */
struct layout_ctx { struct gi_vm *vm; uint32_t module; int32_t *native; int32_t *attr; };

static void count_attr(void *arg, const char *name, int native, int attr)
{
    (void)name; (void)native; (void)attr;
    (*(uint32_t *)arg)++;
}


static void add_attr(void *arg, const char *name, int native, int attr)
{
    struct layout_ctx *c = arg;
    struct gi_vm *vm = c->vm;
    uint32_t g = vm->nglobals++;
    vm->global_names[g] = strdup(name);
    c->native[g] = native;
    c->attr[g] = attr;
}

/* Lays out the fixed root slots and fills them (in core). */
static bool init_roots(struct gi_vm *vm, char **argv, uint32_t argc, struct gi_const **consts, int32_t *gnative,
                       int32_t *gattr)
{
    uint32_t next = GI_ROOT_BASE;
    vm->r_none = next++;
    vm->r_true = next++;
    vm->r_false = next++;
    vm->r_empty_str = next++;
    vm->r_exc = next++;
    vm->r_argv = next++;
    vm->r_notimpl = next++;
    vm->r_dummy = next++;
    vm->r_memerr = next++;
    vm->r_stdout = next++;
    vm->r_stderr = next++;
    vm->r_ellipsis = next++;
    vm->r_small_ints = next;
    next += SMALL_INT_MAX - SMALL_INT_MIN + 1;
    vm->r_builtins = next;
    next += N_COUNT;
    for (uint32_t i = 0; i < vm->ncodes; i++) {
        vm->codes[i].const_base = next;
        next += vm->codes[i].nconsts;
    }
    vm->global_base = next;
    next += vm->nglobals;
    if (next + 4096 > GI_VM_ROOTS)
        return false;
    vm->nroots_fixed = next;
    vm->roots_hw = next;
    vm->ctop = next;
    vm->stack_limit = GI_VM_ROOTS;

    V v;
#define NEW(slot, expr) do { if (!(v = (expr))) return false; vm->roots[slot] = v; } while (0)
    NEW(vm->r_none, vm_alloc_instance(vm, vm->gr_class[K_NONE]));
    NEW(vm->r_true, vm_alloc_instance(vm, vm->gr_class[K_BOOL]));
    fields(v)[0] = 1;
    NEW(vm->r_false, vm_alloc_instance(vm, vm->gr_class[K_BOOL]));
    NEW(vm->r_dummy, vm_alloc_instance(vm, vm->gr_class[K_NONE]));
    for (int64_t i = SMALL_INT_MIN; i <= SMALL_INT_MAX; i++) {
        NEW(vm->r_small_ints + (uint32_t)(i - SMALL_INT_MIN), vm_alloc_instance(vm, vm->gr_class[K_INT]));
        fields(v)[0] = (V)i;
    }
    NEW(vm->r_empty_str, vm_new_str(vm, "", 0));
    for (uint32_t b = 0; b < N_COUNT; b++) {
        NEW(vm->r_builtins + b, vm_alloc_instance(vm, vm->gr_class[K_BUILTIN]));
        fields(v)[BUILTIN_ID] = (V)b;
    }
    vm->roots[vm->r_notimpl] = vm->roots[vm->r_builtins + B_NOTIMPLEMENTED];
    vm->roots[vm->r_ellipsis] = vm->roots[vm->r_builtins + B_ELLIPSIS];
    NEW(vm->r_memerr, vm_new_exc(vm, B_MEMORYERROR, 0)); /* raised when the heap is exhausted */
    NEW(vm->r_stdout, vm_alloc_instance(vm, vm->gr_class[K_FILE]));
    fields(v)[FILE_FD] = 1;
    NEW(vm->r_stderr, vm_alloc_instance(vm, vm->gr_class[K_FILE]));
    fields(v)[FILE_FD] = 2;
    /* constants (tuples of constants built depth first through a temporary) */
    for (uint32_t i = 0; i < vm->ncodes; i++)
        for (uint32_t j = 0; j < vm->codes[i].nconsts; j++) {
            extern bool vm_make_const(struct gi_vm *vm, struct gi_const *c, uint32_t out);
            if (!vm_make_const(vm, &consts[i][j], vm->codes[i].const_base + j))
                return false;
        }
    NEW(vm->r_argv, vm_new_list(vm, argc));
    uint32_t tmp = vm_reserve(vm, 1);
    for (uint32_t i = 0; i < argc; i++) {
        NEW(tmp, vm_new_str(vm, argv[i] ? argv[i] : "", argv[i] ? strlen(argv[i]) : 0));
        if (!list_append(vm, vm->r_argv, tmp))
            return false;
    }
    vm_release(vm, tmp);
    /* module objects */
    for (uint32_t m = 0; m < vm->nmodules; m++) {
        V name = vm_new_str(vm, vm->modules[m].name, strlen(vm->modules[m].name));
        if (!name)
            return false;
        tmp = vm_reserve(vm, 1);
        vm->roots[tmp] = name;
        V mo = vm_alloc_instance(vm, vm->gr_class[K_MODULE]);
        if (!mo)
            return false;
        vm_store_ref(vm, mo, &fields(mo)[MODULE_NAME], vm->roots[tmp]);
        fields(mo)[MODULE_INDEX] = m;
        vm->module_objs[m] = mo;
        vm_release(vm, tmp);
    }
    /* native modules' attributes */
    for (uint32_t g = 0; g < vm->nglobals; g++) {
        if (gnative[g] >= 0)
            vm->roots[vm->global_base + g] = vm->roots[vm->r_builtins + gnative[g]];
        else if (gattr[g] >= 0 && !native_attr_value(vm, gattr[g], vm->global_base + g))
            return false;
    }
    /* interned names as str objects: class dicts are keyed by them */
    for (uint32_t i = 0; i < vm->nnames; i++)
        if (!vm_str_from_name(vm, i))
            return false;
#undef NEW
    return true;
}

bool vm_make_const(struct gi_vm *vm, struct gi_const *c, uint32_t out)
{
    V v;
    switch (c->tag) {
    case 0: vm->roots[out] = vm_none(vm); return true;
    case 1: vm->roots[out] = vm_bool(vm, true); return true;
    case 2: vm->roots[out] = vm_bool(vm, false); return true;
    case 3: v = vm_new_int(vm, c->i); break;
    case 4: v = vm_new_float(vm, c->f); break;
    case 5: v = vm_new_str(vm, c->s ? c->s : "", c->slen); break;
    case 7: v = vm->roots[vm->r_ellipsis]; break;
    default: {
        uint32_t t = vm_reserve(vm, c->n + 1);
        for (uint32_t i = 0; i < c->n; i++)
            if (!vm_make_const(vm, &c->items[i], t + 1 + i)) {
                vm_release(vm, t);
                return false;
            }
        if (c->tag == 8) {
            /* a frozenset built as CPython's compiler leaves it: from the items in
             * the source's order, then again from that set's iteration order (its
             * constant merging rebuilds it), which fixes the iteration order */
            v = vm_new_set(vm, true);
            if (v) {
                vm->roots[t] = v;
                for (uint32_t i = 0; i < c->n && v; i++)
                    if (!set_add(vm, t, t + 1 + i))
                        v = 0;
            }
            if (v) {
                uint64_t pos = 0;
                uint32_t n = 0;     /* equal items (1, 1.0, True) leave fewer than c->n */
                V key;
                while (n < c->n && set_next(vm, vm->roots[t], &pos, &key))
                    vm->roots[t + 1 + n++] = key;
                v = vm_new_set(vm, true);
                if (v) {
                    vm->roots[t] = v;
                    for (uint32_t i = 0; i < n && v; i++)
                        if (!set_add(vm, t, t + 1 + i))
                            v = 0;
                }
            }
            if (v)
                v = vm->roots[t];
        } else {
            v = vm_new_tuple(vm, c->n);
            if (v)
                vm_copy_refs(vm, v, arr_items(v), &vm->roots[t + 1], c->n);
        }
        vm_release(vm, t);
        break;
    }
    }
    if (!v)
        return false;
    vm->roots[out] = v;
    return true;
}

/* The runtime's root provider for this VM: every slot in use, and the C-side
 * tables holding heap references. World stopped. */
static void visit_vm_roots(struct gr_root_provider *p, gr_root_visitor fn, void *arg)
{
    struct gi_vm *vm = (struct gi_vm *)((char *)p - offsetof(struct gi_vm, provider));
    V *roots = vm->roots;
    for (uint32_t i = GI_ROOT_BASE; i < vm->roots_hw; i++)
        if (roots[i])
            fn(&roots[i], arg);
    for (uint32_t i = 0; i < vm->nclasses; i++)
        if (vm->class_objs[i])
            fn(&vm->class_objs[i], arg);
    for (uint32_t i = 0; i < vm->nmodules; i++)
        if (vm->module_objs && vm->module_objs[i])
            fn(&vm->module_objs[i], arg);
    for (uint32_t i = 0; i < vm->nresolved; i++)
        if (vm->resolved[i])
            fn(&vm->resolved[i], arg);
    for (uint32_t i = 0; i < vm->nnames; i++)
        if (vm->name_strs[i])
            fn(&vm->name_strs[i], arg);
}

/* Everything that needs the names: interning the specials and the builtins,
 * the method map, the globals' built-in fallbacks, native module globals. */
static bool prepare(struct gi_vm *vm, int32_t **gnative_out, int32_t **gattr_out)
{
    for (int s = 0; s < S_COUNT; s++)
        vm->special_ids[s] = vm_intern(vm, gi_special_names[s]);
    for (uint32_t b = 0; b < B_COUNT; b++) {
        uint32_t id = vm_intern(vm, gi_natives[b].name);
        vm->name_builtin[id] = (int32_t)b;
    }
    build_method_map(vm);
    /* native modules: their globals */
    uint32_t extra = 0;
    for (uint32_t m = 0; m < vm->nmodules; m++)
        if (vm->modules[m].native == 1)
            native_module_attrs(vm->modules[m].name, count_attr, &extra);
    char **names = realloc(vm->global_names, (vm->nglobals + extra + 1) * sizeof(char *));
    int32_t *gn = calloc(vm->nglobals + extra + 1, sizeof(int32_t));
    int32_t *ga = calloc(vm->nglobals + extra + 1, sizeof(int32_t));
    if (!names || !gn || !ga) {
        free(gn);
        free(ga);
        if (names)
            vm->global_names = names;
        return false;
    }
    vm->global_names = names;
    for (uint32_t g = 0; g < vm->nglobals; g++)
        gn[g] = ga[g] = -1;
    for (uint32_t m = 0; m < vm->nmodules; m++) {
        if (vm->modules[m].native != 1)
            continue;
        struct layout_ctx c = {vm, m, gn, ga};
        vm->modules[m].global_start = vm->nglobals;
        native_module_attrs(vm->modules[m].name, add_attr, &c);
        vm->modules[m].nglobals = vm->nglobals - vm->modules[m].global_start;
    }
    vm->global_builtin = malloc((vm->nglobals + 1) * sizeof(int32_t));
    if (!vm->global_builtin) {
        free(gn);
        free(ga);
        return false;
    }
    for (uint32_t g = 0; g < vm->nglobals; g++) {
        vm->global_builtin[g] = -1;
        for (uint32_t b = 0; b < B_COUNT; b++)
            if (!strcmp(vm->global_names[g], gi_natives[b].name))
                vm->global_builtin[g] = (int32_t)b;
    }
    vm->module_objs = calloc(vm->nmodules + 1, sizeof(V));
    if (!vm->module_objs) {
        free(gn);
        free(ga);
        return false;
    }
    *gnative_out = gn;
    *gattr_out = ga;
    return true;
}

int gi_run(struct gr_runtime *rt, const char *image, uint64_t image_len, int out_fd, int err_fd, int options,
           struct gi_result *result)
{
    if (!rt || !image || !result)
        return -EINVAL;
    memset(result, 0, sizeof *result);
    result->exc_builtin = -1;
    struct gi_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return -ENOMEM;
    vm->rt = rt;
    vm->out_fd = out_fd;
    vm->err_fd = err_fd;
    vm->options = options;
    vm->result = result;
    vm->budget = (options & GI_OPT_BUDGET) ? GI_BUDGET_INSTRUCTIONS / 16 : UINT64_MAX;
    vm->outcap = 1 << 16;
    vm->out = malloc(vm->outcap);
    vm->frames = calloc(GI_MAX_FRAMES + 2, sizeof *vm->frames);
    vm->roots = calloc(GI_VM_ROOTS, sizeof *vm->roots);
    vm->recursion_limit = GI_MAX_FRAMES;
    vm->gc_enabled = true;
    vm->provider = (struct gr_root_provider){.name = "interpreter", .visit = visit_vm_roots, .is_program = 1};
    volatile bool registered = false, sigint_held = false;
    char **argv = NULL;
    uint32_t argc = 0;
    struct gi_const **consts = NULL;
    int32_t *volatile gnative = NULL, *volatile gattr = NULL;
    volatile int rc = 0;
    if (!vm->out || !vm->frames || !vm->roots) {
        rc = -ENOMEM;
        goto out;
    }
    if (setjmp(vm->fatal_jmp)) {
        /* a failure before the program could start (out of C memory) */
        rc = -ENOMEM;
        goto out;
    }
    rc = vm_load(vm, image, image_len, &argv, &argc, &consts);
    if (rc < 0)
        goto out;
    int32_t *gn = NULL, *ga = NULL;
    bool prepared = prepare(vm, &gn, &ga);
    gnative = gn;
    gattr = ga;
    if (!prepared) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = gr_roots_add_provider(rt, &vm->provider)) < 0)  /* -ESHUTDOWN: closed */
        goto out;
    registered = true;
    if ((options & GI_OPT_SIGINT) && (rc = sigint_acquire()) < 0)
        goto out;
    sigint_held = (options & GI_OPT_SIGINT) != 0;
    if (!define_layouts(vm)) {
        rc = -ENOSPC;
        goto out;
    }
    vm->m = gr_enter(rt);
    if (!vm->m) {
        rc = gr_enter_err;
        goto out;
    }
    vm->allocs_base = vm->m->objects_allocated;
    if (setjmp(vm->fatal_jmp)) {
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = vm->fatal_errno;
        snprintf(result->message, sizeof result->message, "%s", vm->fatal_msg);
        vm_flush_out(vm);
        goto leave;
    }
    if (!init_roots(vm, argv, argc, consts, gnative, gattr)) {
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = -ENOMEM;
        snprintf(result->message, sizeof result->message, "heap or root table too small to start the program");
        goto leave;
    }
    /* the main module's frame */
    struct gi_module *main = &vm->modules[0];
    main->state = 1;
    if (!push_code_frame(vm, &vm->codes[main->code], vm->ctop + 1, vm->ctop, F_CENTRY | F_MODULE)) {
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = -E2BIG;
        snprintf(result->message, sizeof result->message, "program too large for the root table");
        goto leave;
    }
    if (run_loop(vm, false) == RUN_RETURNED) {
        result->status = GI_STATUS_OK;
        vm_flush_out(vm);
    } else {
        result->status = GI_STATUS_EXCEPTION;
        print_traceback(vm);
        vm_flush_out(vm);
    }
leave:
    gr_leave(vm->m);
out:
    if (sigint_held)
        sigint_release();
    if (registered)
        gr_roots_remove_provider(rt, &vm->provider);   /* the program's objects become garbage */
    result->instructions = vm->polls;   /* loop iterations and calls (no per-instruction count: it cost a memory increment per instruction) */
    result->allocations = vm->m ? vm_allocations(vm) : 0;
    if (argv) {
        for (uint32_t i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
    }
    vm_free_consts(vm, consts);
    free(gnative);
    free(gattr);
    vm_unload(vm);
    free(vm->out);
    free(vm->frames);
    free(vm->roots);
    free(vm);
    return rc;
}
