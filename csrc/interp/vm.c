/* interp_vm.c - frames, the dispatch loop, calls, exceptions and tracebacks.
 *
 * Frames are C structs (vm->frames), but every value they hold lives in root slots:
 *
 *   roots (vm->roots, the VM's own; a root provider of the runtime):
 *          [GI_ROOT_BASE: singletons | small ints | builtins | constants | globals |
 *           argv | scratch ][ frame 0: locals | operands ][ frame 1: ... ]  ... limit
 *
 * A call's arguments are already in place on the caller's operand stack and become
 * the callee's first locals (no copying); the callee's result replaces the callable.
 * The collector updates root slots when it moves objects, so the loop re-reads values
 * from slots after anything that may allocate and never caches an address across it.
 * Safepoints: every LOOP (backward jump) and every call poll the runtime's pause flag,
 * and every allocation may collect.
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
            size_t saved = vm->outlen;
            (void)saved;
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

static void write_err(struct gi_vm *vm, const char *s, size_t n)
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
    gr_leave(vm->m);
    int rc = gr_gc(rt, &rep);
    /* gc.collect() means "a full collection now": with a concurrent collector,
     * wait (out of core) until the cycle it started is complete. */
    if (rc == 0 && rt->ops->wait)
        rc = rt->ops->wait(rt, -1);
    vm->m = gr_enter(rt);
    if (!vm->m)
        vm_fatal(vm, gr_enter_err, "re-entering the runtime after gc.collect()");
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
 * SIGINT arrived (the caller has saved pc/sp and unwinds). */
static inline bool poll_safepoint(struct gi_vm *vm)
{
    if (__builtin_expect(atomic_load_explicit(&vm->rt->pause_requested, memory_order_relaxed), 0) &&
        gr_safepoint_poll(vm->rt, vm->m) < 0)
        vm_fatal(vm, ESHUTDOWN, "the runtime was closed under the program");
    if (__builtin_expect(atomic_load_explicit(&sigint_pending, memory_order_relaxed), 0) &&
        (vm->options & GI_OPT_SIGINT) && atomic_exchange(&sigint_pending, 0))
        return vm_raise_value(vm, B_KEYBOARDINTERRUPT, 0);
    return true;
}

/* ---- tracebacks */

static bool tb_append(struct gi_vm *vm, uint32_t code, uint32_t line)
{
    V e = vm->roots[vm->r_exc];
    if (vm_kind(vm, e) != K_EXC)
        return true;
    uint64_t n = fields(e)[EXC_TBLEN];
    V tb = fields(e)[EXC_TB];
    if (n >= 200) /* keep the innermost frames and the outermost one beyond this */
        n = 199;
    if (!tb || 2 * n + 2 > arr_len(tb)) {
        V bigger = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, 2 * n + 16);
        if (!bigger)
            return FAIL;
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
    return true;
}

static const char *short_name(const char *qual)
{
    const char *dot = strrchr(qual, '.');
    return dot ? dot + 1 : qual;
}

static void print_traceback(struct gi_vm *vm)
{
    V e = vm->roots[vm->r_exc];
    struct gi_buf b = {0};
    buf_puts(&b, "Traceback (most recent call last):\n");
    uint64_t n = fields(e)[EXC_TBLEN];
    V tb = fields(e)[EXC_TB];
    int innermost_line = -1;
    for (uint64_t i = n; i-- > 0;) {
        uint32_t code = (uint32_t)arr_i64(tb)[2 * i], line = (uint32_t)arr_i64(tb)[2 * i + 1];
        char tmp[600];
        snprintf(tmp, sizeof tmp, "  File \"%s\", line %u, in %s\n", vm->filename, line,
                 code < vm->ncodes ? short_name(vm->codes[code].name) : "?");
        buf_puts(&b, tmp);
        if (i == 0)
            innermost_line = (int)line;
    }
    int type = (int)fields(e)[EXC_TYPE];
    buf_puts(&b, gi_builtin_names[type]);
    size_t before = b.len;
    struct gi_buf msg = {0};
    if (fields(e)[EXC_ARG] && vm_to_text(vm, e, false, &msg) && msg.len) {
        buf_puts(&b, ": ");
        buf_put(&b, msg.p, msg.len);
    }
    buf_puts(&b, "\n");
    if (vm->result) {
        vm->result->exc_builtin = type;
        vm->result->exc_line = innermost_line;
        snprintf(vm->result->message, sizeof vm->result->message, "%.*s", (int)(b.len - before - 1 + strlen(gi_builtin_names[type])),
                 b.p + before - strlen(gi_builtin_names[type]));
    }
    vm_flush_out(vm);
    if (!b.oom)
        write_err(vm, b.p, b.len);
    free(b.p);
    free(msg.p);
}

/* ---- helpers of the loop */

#define SLOT(i) (vm->roots[(i)])

static bool raise_attr(struct gi_vm *vm, V obj, const char *name)
{
    return vm_raise(vm, B_ATTRIBUTEERROR, "'%s' object has no attribute '%s'", vm_type_name(vm, obj), name);
}

/* Finds attribute `name_id` of a user instance: kind 1 slot (index), 2 method, 0 none.
 * Cached per instruction, keyed by the receiver's runtime class. */
static int lookup_attr(struct gi_vm *vm, struct gi_code *c, uint32_t pc, V obj, uint32_t name_id, uint32_t *index)
{
    struct gi_cache *ic = &c->cache[pc];
    uint32_t cls = cls_of(obj);
    if (ic->cls == cls && ic->kind) {
        *index = ic->index;
        return ic->kind;
    }
    struct gi_class *k = &vm->classes[vm->user_class_of[cls]];
    for (uint32_t i = 0; i < k->nslots; i++)
        if (k->slot_names[i] == name_id) {
            *ic = (struct gi_cache){cls, 1, (uint16_t)i};
            *index = i;
            return 1;
        }
    for (uint32_t i = 0; i < k->nmethods; i++)
        if (k->method_names[i] == name_id) {
            *ic = (struct gi_cache){cls, 2, (uint16_t)i};
            *index = i;
            return 2;
        }
    return 0;
}

static V class_object(struct gi_vm *vm, V inst)
{
    /* the class object is found through the user class's root slot */
    return vm->roots[vm->classes[vm->user_class_of[cls_of(inst)]].root];
}

/* Normalises a Python index against len; false + IndexError when out of range. */
static bool index_of(struct gi_vm *vm, V key, uint64_t len, int64_t *out, const char *what)
{
    int k = vm_kind(vm, key);
    if (k != K_INT && k != K_BOOL)
        return vm_raise(vm, B_TYPEERROR, "%s indices must be integers, not %s", what, vm_type_name(vm, key));
    int64_t i = (int64_t)fields(key)[0];
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return vm_raise(vm, B_INDEXERROR, "%s index out of range", what);
    *out = i;
    return true;
}

/* Byte offset of code point `cp` in str s (ASCII strings: cp itself). */
static uint64_t cp_offset(V s, uint64_t cp)
{
    if (fields(s)[STR_CPLEN] == str_nbytes(s))
        return cp;
    const unsigned char *p = (const unsigned char *)str_ptr(s);
    uint64_t n = str_nbytes(s), i = 0, c = 0;
    while (i < n && c < cp) {
        i++;
        while (i < n && (p[i] & 0xC0) == 0x80)
            i++;
        c++;
    }
    return i;
}

/* A new str from bytes [from, to) of the str in slot s. */
static V substr(struct gi_vm *vm, uint32_t s, uint64_t from, uint64_t to, uint64_t cps)
{
    V data = vm_alloc_array(vm, GR_CLASS_STRING, to - from);
    if (!data)
        return 0;
    memcpy(str_bytes_of_data(data), str_ptr(SLOT(s)) + from, to - from);
    uint32_t tmp = vm->r_scratch + 3;
    SLOT(tmp) = data;
    V w = vm_alloc_instance(vm, vm->gr_class[K_STR]);
    if (!w)
        return 0;
    vm_store_ref(vm, w, &fields(w)[STR_DATA], SLOT(tmp));
    fields(w)[STR_CPLEN] = cps;
    SLOT(tmp) = 0;
    return w;
}

static bool load_subscr(struct gi_vm *vm, uint32_t obj_slot, uint32_t key_slot, uint32_t out)
{
    V obj = SLOT(obj_slot), key = SLOT(key_slot);
    int k = vm_kind(vm, obj);
    int64_t i;
    if (k == K_LIST) {
        if (!index_of(vm, key, fields(obj)[LIST_LEN], &i, "list"))
            return FAIL;
        SLOT(out) = arr_items(fields(SLOT(obj_slot))[LIST_ITEMS])[i];
        return true;
    }
    if (k == K_DICT) {
        bool err = false;
        int64_t e = dict_lookup(vm, obj, key, &err);
        if (err)
            return FAIL;
        if (e < 0)
            return vm_raise_value(vm, B_KEYERROR, key_slot);
        SLOT(out) = arr_items(fields(SLOT(obj_slot))[DICT_VALS])[e];
        return true;
    }
    if (k == K_STR) {
        if (!index_of(vm, key, fields(obj)[STR_CPLEN], &i, "string"))
            return FAIL;
        uint64_t from = cp_offset(obj, (uint64_t)i), to = cp_offset(obj, (uint64_t)i + 1);
        V r = substr(vm, obj_slot, from, to, 1);
        if (!r)
            return FAIL;
        SLOT(out) = r;
        return true;
    }
    if (k == -1 && cls_of(obj) == GR_CLASS_REF_ARRAY) {
        if (!index_of(vm, key, arr_len(obj), &i, "tuple"))
            return FAIL;
        SLOT(out) = arr_items(SLOT(obj_slot))[i];
        return true;
    }
    if (k == K_RANGE) {
        return vm_raise(vm, B_TYPEERROR, "range indexing is not supported in the gcheap subset");
    }
    return vm_raise(vm, B_TYPEERROR, "'%s' object is not subscriptable", vm_type_name(vm, obj));
}

static bool slice_bound(struct gi_vm *vm, V v, int64_t len, int64_t dflt, int64_t *out)
{
    if (vm_kind(vm, v) == K_NONE) {
        *out = dflt;
        return true;
    }
    int k = vm_kind(vm, v);
    if (k != K_INT && k != K_BOOL)
        return vm_raise(vm, B_TYPEERROR, "slice indices must be integers or None");
    int64_t i = (int64_t)fields(v)[0];
    if (i < 0) {
        i += len;
        if (i < 0)
            i = 0;
    } else if (i > len) {
        i = len;
    }
    *out = i;
    return true;
}

static bool do_slice(struct gi_vm *vm, uint32_t obj_slot, uint32_t out)
{
    V obj = SLOT(obj_slot);
    int k = vm_kind(vm, obj);
    bool tuple = k == -1 && cls_of(obj) == GR_CLASS_REF_ARRAY;
    if (k != K_LIST && k != K_STR && !tuple)
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not subscriptable", vm_type_name(vm, obj));
    int64_t len = k == K_LIST ? (int64_t)fields(obj)[LIST_LEN] : k == K_STR ? (int64_t)fields(obj)[STR_CPLEN] : (int64_t)arr_len(obj);
    int64_t lo, hi;
    if (!slice_bound(vm, SLOT(obj_slot + 1), len, 0, &lo) || !slice_bound(vm, SLOT(obj_slot + 2), len, len, &hi))
        return FAIL;
    if (hi < lo)
        hi = lo;
    uint64_t n = (uint64_t)(hi - lo);
    if (k == K_STR) {
        uint64_t from = cp_offset(obj, (uint64_t)lo), to = cp_offset(obj, (uint64_t)hi);
        V r = substr(vm, obj_slot, from, to, n);
        if (!r)
            return FAIL;
        SLOT(out) = r;
        return true;
    }
    V r = k == K_LIST ? vm_new_list(vm, n) : vm_new_tuple(vm, n);
    if (!r)
        return FAIL;
    obj = SLOT(obj_slot);
    V *src = k == K_LIST ? arr_items(fields(obj)[LIST_ITEMS]) : arr_items(obj);
    V *dst = k == K_LIST ? arr_items(fields(r)[LIST_ITEMS]) : arr_items(r);
    V holder = k == K_LIST ? fields(r)[LIST_ITEMS] : r;
    for (uint64_t i = 0; i < n; i++)
        vm_store_ref(vm, holder, &dst[i], src[lo + (int64_t)i]);
    if (k == K_LIST)
        fields(r)[LIST_LEN] = n;
    SLOT(out) = r;
    return true;
}

static bool get_iter(struct gi_vm *vm, uint32_t slot)
{
    V v = SLOT(slot);
    int k = vm_kind(vm, v);
    if (k == K_ITER)
        return true;
    bool tuple = k == -1 && cls_of(v) == GR_CLASS_REF_ARRAY;
    if (k != K_LIST && k != K_STR && k != K_DICT && k != K_RANGE && !tuple)
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not iterable", vm_type_name(vm, v));
    V it = vm_alloc_instance(vm, vm->gr_class[K_ITER]);
    if (!it)
        return FAIL;
    v = SLOT(slot);
    if (k == K_RANGE) {
        fields(it)[ITER_POS] = fields(v)[RANGE_START];
        fields(it)[ITER_END] = fields(v)[RANGE_STOP];
        fields(it)[ITER_STEP] = fields(v)[RANGE_STEP];
    } else {
        vm_store_ref(vm, it, &fields(it)[ITER_SEQ], v);
        fields(it)[ITER_POS] = 0;
        fields(it)[ITER_STEP] = 0;
    }
    SLOT(slot) = it;
    return true;
}

/* 1: pushed the next item into out; 0: exhausted; -1: raised. */
static int for_iter(struct gi_vm *vm, uint32_t it_slot, uint32_t out)
{
    V it = SLOT(it_slot);
    if (vm_kind(vm, it) != K_ITER) { /* only a malformed image gets here */
        vm_raise(vm, B_TYPEERROR, "FOR_ITER on a non-iterator");
        return -1;
    }
    int64_t step = (int64_t)fields(it)[ITER_STEP];
    if (step) {
        int64_t cur = (int64_t)fields(it)[ITER_POS], end = (int64_t)fields(it)[ITER_END];
        if (step > 0 ? cur >= end : cur <= end)
            return 0;
        int64_t next;
        if (__builtin_add_overflow(cur, step, &next))
            next = step > 0 ? INT64_MAX : INT64_MIN;
        fields(it)[ITER_POS] = (V)next;
        V v = vm_new_int(vm, cur);
        if (!v)
            return -1;
        SLOT(out) = v;
        return 1;
    }
    V seq = fields(it)[ITER_SEQ];
    uint64_t pos = fields(it)[ITER_POS];
    int k = vm_kind(vm, seq);
    if (k == K_LIST) {
        if (pos >= fields(seq)[LIST_LEN])
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        SLOT(out) = arr_items(fields(seq)[LIST_ITEMS])[pos];
        return 1;
    }
    if (k == K_DICT) {
        uint64_t used = fields(seq)[DICT_USED];
        while (pos < used && !arr_items(fields(seq)[DICT_KEYS])[pos])
            pos++;
        if (pos >= used)
            return 0;
        fields(it)[ITER_POS] = pos + 1;
        SLOT(out) = arr_items(fields(seq)[DICT_KEYS])[pos];
        return 1;
    }
    if (k == K_STR) {
        uint64_t n = str_nbytes(seq);
        if (pos >= n)
            return 0;
        uint64_t end = pos + 1;
        while (end < n && ((unsigned char)str_ptr(seq)[end] & 0xC0) == 0x80)
            end++;
        fields(it)[ITER_POS] = end;
        char ch[8];
        memcpy(ch, str_ptr(seq) + pos, end - pos);
        V s = vm_new_str(vm, ch, end - pos);
        if (!s)
            return -1;
        SLOT(out) = s;
        return 1;
    }
    /* tuple */
    if (pos >= arr_len(seq))
        return 0;
    fields(it)[ITER_POS] = pos + 1;
    SLOT(out) = arr_items(seq)[pos];
    return 1;
}

/* Unpacks the sequence in `slot` into slot .. slot+n-1, first item on top. */
static bool unpack(struct gi_vm *vm, uint32_t slot, uint32_t n)
{
    V v = SLOT(slot);
    int k = vm_kind(vm, v);
    if (k != K_LIST && !(k == -1 && cls_of(v) == GR_CLASS_REF_ARRAY)) {
        if (k != K_STR && k != K_DICT && k != K_RANGE)
            return vm_raise(vm, B_TYPEERROR, "cannot unpack non-iterable %s object", vm_type_name(vm, v));
        uint32_t args = slot;
        if (!vm_call_builtin(vm, B_LIST, args, 1, slot))
            return FAIL;
        v = SLOT(slot);
        k = K_LIST;
    }
    uint64_t len = k == K_LIST ? fields(v)[LIST_LEN] : arr_len(v);
    if (len != n) {
        if (len > n)
            return vm_raise(vm, B_VALUEERROR, "too many values to unpack (expected %u)", n);
        return vm_raise(vm, B_VALUEERROR, "not enough values to unpack (expected %u, got %llu)", n, (unsigned long long)len);
    }
    V *items = k == K_LIST ? arr_items(fields(v)[LIST_ITEMS]) : arr_items(v);
    for (uint32_t i = 0; i < n; i++)
        SLOT(slot + i) = items[n - 1 - i];
    return true;
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

static bool do_print(struct gi_vm *vm, uint32_t first, uint32_t argc, uint32_t flags)
{
    uint32_t at = first + argc;
    V sep = 0, end = 0;
    if (flags & 1)
        sep = SLOT(at++);
    if (flags & 2)
        end = SLOT(at++);
    for (int i = 0; i < 2; i++) {
        V v = i ? end : sep;
        if (v && vm_kind(vm, v) != K_NONE && vm_kind(vm, v) != K_STR)
            return vm_raise(vm, B_TYPEERROR, "%s must be None or a string, not %s", i ? "end" : "sep", vm_type_name(vm, v));
    }
    struct gi_buf b = {0};
    for (uint32_t i = 0; i < argc; i++) {
        if (i) {
            if (sep && vm_kind(vm, sep) == K_STR)
                buf_put(&b, str_ptr(sep), str_nbytes(sep));
            else
                buf_puts(&b, " ");
        }
        if (!vm_to_text(vm, SLOT(first + i), false, &b)) {
            free(b.p);
            return FAIL;
        }
    }
    if (end && vm_kind(vm, end) == K_STR)
        buf_put(&b, str_ptr(end), str_nbytes(end));
    else
        buf_puts(&b, "\n");
    if (b.oom) {
        free(b.p);
        return vm_raise(vm, B_MEMORYERROR, "out of memory printing");
    }
    vm_write_out(vm, b.p, b.len);
    free(b.p);
    return true;
}

/* ---- calls */

/* Pushes a frame for function f (in slot base-1 or elsewhere) whose argc arguments
 * are in slots base..; ret_slot receives the result. */
static bool push_frame(struct gi_vm *vm, V f, uint32_t base, uint32_t argc, uint32_t ret_slot, bool init_call)
{
    if (vm_kind(vm, f) != K_FUNC)
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not callable", vm_type_name(vm, f));
    struct gi_code *code = &vm->codes[fields(f)[FUNC_CODE]];
    V defaults = fields(f)[FUNC_DEFAULTS];
    uint32_t nd = defaults ? arr_len(defaults) : 0;
    if (nd > code->argcount)
        return vm_raise(vm, B_TYPEERROR, "%s() has more defaults than parameters", short_name(code->name));
    if (argc > code->argcount || argc + nd < code->argcount) {
        const char *name = short_name(code->name);
        if (argc > code->argcount)
            return vm_raise(vm, B_TYPEERROR, "%s() takes %u positional argument%s but %u %s given", name,
                            code->argcount, code->argcount == 1 ? "" : "s", argc, argc == 1 ? "was" : "were");
        uint32_t missing = code->argcount - nd - argc;
        return vm_raise(vm, B_TYPEERROR, "%s() missing %u required positional argument%s: '%s'", name, missing,
                        missing == 1 ? "" : "s", code->local_names[argc]);
    }
    if (vm->nframes >= GI_MAX_FRAMES || (uint64_t)base + code->nlocals + code->max_stack + 2 > vm->stack_limit)
        return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
    if (base + code->nlocals + code->max_stack + 2 > vm->roots_hw)
        vm->roots_hw = base + code->nlocals + code->max_stack + 2;
    for (uint32_t i = argc; i < code->argcount; i++)
        SLOT(base + i) = arr_items(defaults)[i - (code->argcount - nd)];
    for (uint32_t i = code->argcount; i < code->nlocals; i++)
        SLOT(base + i) = 0;
    struct gi_frame *fr = &vm->frames[vm->nframes++];
    fr->code = code;
    fr->pc = 0;
    fr->base = base;
    fr->stack = base + code->nlocals;
    fr->sp = fr->stack;
    fr->nblocks = 0;
    fr->init_call = init_call;
    fr->ret_slot = ret_slot;
    return true;
}

/* Calls the callable in slot s with argc arguments in s+1..; either pushes a frame
 * (*pushed) or stores the result in slot s. */
static bool call_value(struct gi_vm *vm, uint32_t s, uint32_t argc, bool *pushed)
{
    V f = SLOT(s);
    *pushed = false;
    switch (vm_kind(vm, f)) {
    case K_FUNC:
        *pushed = true;
        return push_frame(vm, f, s + 1, argc, s, false);
    case K_BUILTIN:
        return vm_call_builtin(vm, (int)fields(f)[BUILTIN_ID], s + 1, argc, s);
    case K_BOUND:
        if ((uint64_t)s + argc + 2 >= vm->stack_limit)
            return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
        for (uint32_t i = argc; i > 0; i--)
            SLOT(s + 1 + i) = SLOT(s + i);
        SLOT(s + 1) = fields(f)[BOUND_SELF];
        SLOT(s) = fields(f)[BOUND_FUNC];
        *pushed = true;
        return push_frame(vm, SLOT(s), s + 1, argc + 1, s, false);
    case K_CLASS: {
        struct gi_class *k = &vm->classes[fields(f)[CLASS_INDEX]];
        if ((uint64_t)s + argc + 2 >= vm->stack_limit)
            return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
        V inst = vm_alloc_instance(vm, k->gr_class);
        if (!inst)
            return FAIL;
        fields(inst)[k->nslots] = (V)++vm->next_idhash;
        f = SLOT(s);
        if (k->init_method < 0) {
            if (argc)
                return vm_raise(vm, B_TYPEERROR, "%s() takes no arguments", k->name);
            SLOT(s) = inst;
            return true;
        }
        V init = arr_items(fields(f)[CLASS_METHODS])[k->init_method];
        for (uint32_t i = argc; i > 0; i--)
            SLOT(s + 1 + i) = SLOT(s + i);
        SLOT(s) = inst;
        SLOT(s + 1) = inst;
        *pushed = true;
        return push_frame(vm, init, s + 1, argc + 1, s, true);
    }
    default:
        return vm_raise(vm, B_TYPEERROR, "'%s' object is not callable", vm_type_name(vm, f));
    }
}

/* ---- the loop */

/* Replaces the top n operands with one tuple of them (left at the new top). */
static bool pack_tuple(struct gi_vm *vm, struct gi_frame *fr, uint32_t n)
{
    uint32_t first = fr->sp - n;
    V t = vm_new_tuple(vm, n);
    if (!t)
        return FAIL;
    for (uint32_t i = 0; i < n; i++)
        vm_store_ref(vm, t, &arr_items(t)[i], SLOT(first + i));
    SLOT(first) = t;
    fr->sp = first + 1;
    return true;
}

static bool make_function(struct gi_vm *vm, struct gi_frame *fr, uint32_t code_index, uint32_t nd)
{
    uint32_t first = fr->sp - nd;
    if (nd) {
        if (!pack_tuple(vm, fr, nd))
            return FAIL;
    } else {
        SLOT(first) = 0;
        fr->sp = first + 1;
    }
    V f = vm_alloc_instance(vm, vm->gr_class[K_FUNC]);
    if (!f)
        return FAIL;
    vm_store_ref(vm, f, &fields(f)[FUNC_DEFAULTS], SLOT(first));
    fields(f)[FUNC_CODE] = code_index;
    SLOT(first) = f;
    return true;
}

static bool build_class(struct gi_vm *vm, struct gi_frame *fr, uint32_t index, uint32_t n)
{
    uint32_t first = fr->sp - n;
    if (!pack_tuple(vm, fr, n))
        return FAIL;
    V c = vm_alloc_instance(vm, vm->gr_class[K_CLASS]);
    if (!c)
        return FAIL;
    vm_store_ref(vm, c, &fields(c)[CLASS_METHODS], SLOT(first));
    fields(c)[CLASS_INDEX] = index;
    SLOT(first) = c;
    SLOT(vm->classes[index].root) = c;
    return true;
}

/* Runs until the outermost frame returns. true: finished; false: uncaught exception. */
static bool run_loop(struct gi_vm *vm)
{
    struct gi_frame *fr = &vm->frames[vm->nframes - 1];
    struct gi_code *code = fr->code;
    uint32_t pc = fr->pc, sp = fr->sp;
    V *R = vm->roots;
#define PUSH(v) (R[sp++] = (v))
#define TOP R[sp - 1]
#define SAVE() (fr->pc = pc, fr->sp = sp)
#define LOAD() (fr = &vm->frames[vm->nframes - 1], code = fr->code, pc = fr->pc, sp = fr->sp)
#define CHECK(expr) do { SAVE(); if (!(expr)) goto error; } while (0)
    for (;;) {
        uint32_t insn = code->code[pc++];
        uint32_t arg = insn >> 8;
        if (__builtin_expect(++vm->instructions > vm->budget, 0)) {
            SAVE();
            vm_fatal(vm, ETIME, "instruction budget exhausted");
        }
        switch ((enum gi_opcode)(insn & 0xFF)) {
        case OP_NOP:
            break;
        case OP_LOAD_CONST:
            PUSH(R[code->const_base + arg]);
            break;
        case OP_LOAD_LOCAL: {
            V v = R[fr->base + arg];
            if (__builtin_expect(!v, 0)) {
                SAVE();
                vm_raise(vm, B_UNBOUNDLOCALERROR, "cannot access local variable '%s' where it is not associated with a value",
                         code->local_names[arg]);
                goto error;
            }
            PUSH(v);
            break;
        }
        case OP_STORE_LOCAL:
            R[fr->base + arg] = R[--sp];
            break;
        case OP_LOAD_GLOBAL: {
            V v = R[vm->global_base + arg];
            if (__builtin_expect(!v, 0)) {
                SAVE();
                vm_raise(vm, B_NAMEERROR, "name '%s' is not defined", vm->global_names[arg]);
                goto error;
            }
            PUSH(v);
            break;
        }
        case OP_STORE_GLOBAL:
            R[vm->global_base + arg] = R[--sp];
            break;
        case OP_LOAD_BUILTIN:
            PUSH(R[vm->r_builtins + arg]);
            break;
        case OP_LOAD_ARGV:
            PUSH(R[vm->r_argv]);
            break;
        case OP_POP:
            sp--;
            break;
        case OP_DUP:
            R[sp] = R[sp - 1];
            sp++;
            break;
        case OP_DUP2:
            R[sp] = R[sp - 2];
            R[sp + 1] = R[sp - 1];
            sp += 2;
            break;
        case OP_ROT2: {
            V t = R[sp - 1];
            R[sp - 1] = R[sp - 2];
            R[sp - 2] = t;
            break;
        }
        case OP_ROT3: {
            V c = R[sp - 1];
            R[sp - 1] = R[sp - 2];
            R[sp - 2] = R[sp - 3];
            R[sp - 3] = c;
            break;
        }
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_TRUEDIV: case OP_FLOORDIV: case OP_MOD:
        case OP_POW: case OP_LSHIFT: case OP_RSHIFT: case OP_AND: case OP_OR: case OP_XOR:
        case OP_INPLACE_ADD: case OP_INPLACE_MUL: {
            int op = (int)(insn & 0xFF) - OP_ADD;
            V a = R[sp - 2], b = R[sp - 1];
            /* fast path: two ints whose result stays in the small-int cache or needs one box */
            if ((op == 0 || op == 12 || op == 1) && vm->kind_of_class[cls_of(a)] == K_INT && vm->kind_of_class[cls_of(b)] == K_INT) {
                int64_t r;
                if (!(op == 1 ? __builtin_sub_overflow(int_val(a), int_val(b), &r) : __builtin_add_overflow(int_val(a), int_val(b), &r))) {
                    SAVE();
                    V v = vm_new_int(vm, r);
                    if (!v)
                        goto error;
                    R[sp - 2] = v;
                    sp--;
                    break;
                }
            }
            CHECK(vm_binary(vm, op, sp - 2, sp - 1, sp - 2));
            sp--;
            break;
        }
        case OP_NEG: case OP_POS: case OP_INVERT: {
            V v = TOP;
            int k = vm->kind_of_class[cls_of(v)];
            SAVE();
            if (k == K_INT || k == K_BOOL) {
                int64_t x = (int64_t)fields(v)[0];
                int op = insn & 0xFF;
                if (op == OP_NEG && x == INT64_MIN) {
                    vm_raise(vm, B_OVERFLOWERROR, "integer overflow (gcheap ints are 64-bit)");
                    goto error;
                }
                V r = vm_new_int(vm, op == OP_NEG ? -x : op == OP_POS ? x : ~x);
                if (!r)
                    goto error;
                TOP = r;
            } else if (k == K_FLOAT && (insn & 0xFF) != OP_INVERT) {
                V r = vm_new_float(vm, (insn & 0xFF) == OP_NEG ? -float_val(v) : float_val(v));
                if (!r)
                    goto error;
                TOP = r;
            } else {
                vm_raise(vm, B_TYPEERROR, "bad operand type for unary %s: '%s'",
                         (insn & 0xFF) == OP_NEG ? "-" : (insn & 0xFF) == OP_POS ? "+" : "~", vm_type_name(vm, v));
                goto error;
            }
            break;
        }
        case OP_NOT:
            TOP = vm_bool(vm, !vm_truthy(vm, TOP));
            break;
        case OP_EQ: case OP_NE: {
            int eq = vm_equal(vm, R[sp - 2], R[sp - 1]);
            sp--;
            TOP = vm_bool(vm, (insn & 0xFF) == OP_EQ ? eq : !eq);
            break;
        }
        case OP_LT: case OP_LE: case OP_GT: case OP_GE: {
            V a = R[sp - 2], b = R[sp - 1];
            int r;
            if (vm->kind_of_class[cls_of(a)] == K_INT && vm->kind_of_class[cls_of(b)] == K_INT) {
                int64_t x = int_val(a), y = int_val(b);
                int op = (insn & 0xFF) - OP_LT;
                r = op == 0 ? x < y : op == 1 ? x <= y : op == 2 ? x > y : x >= y;
            } else {
                SAVE();
                r = vm_compare(vm, (int)(insn & 0xFF) - OP_LT, a, b);
                if (r < 0)
                    goto error;
            }
            sp--;
            TOP = vm_bool(vm, r);
            break;
        }
        case OP_IS: case OP_IS_NOT: {
            bool same = R[sp - 2] == R[sp - 1];
            sp--;
            TOP = vm_bool(vm, (insn & 0xFF) == OP_IS ? same : !same);
            break;
        }
        case OP_IN: case OP_NOT_IN: {
            SAVE();
            int r = vm_contains(vm, R[sp - 1], R[sp - 2]);
            if (r < 0)
                goto error;
            sp--;
            TOP = vm_bool(vm, (insn & 0xFF) == OP_IN ? r : !r);
            break;
        }
        case OP_JUMP:
            pc = arg;
            break;
        case OP_LOOP:
            SAVE();             /* a KeyboardInterrupt's traceback names the loop's last line */
            if (!poll_safepoint(vm))
                goto error;
            pc = arg;
            break;
        case OP_POP_JUMP_IF_FALSE:
            if (!vm_truthy(vm, R[--sp]))
                pc = arg;
            break;
        case OP_POP_JUMP_IF_TRUE:
            if (vm_truthy(vm, R[--sp]))
                pc = arg;
            break;
        case OP_JUMP_IF_FALSE_OR_POP:
            if (!vm_truthy(vm, TOP))
                pc = arg;
            else
                sp--;
            break;
        case OP_JUMP_IF_TRUE_OR_POP:
            if (vm_truthy(vm, TOP))
                pc = arg;
            else
                sp--;
            break;
        case OP_GET_ITER:
            CHECK(get_iter(vm, sp - 1));
            break;
        case OP_FOR_ITER: {
            SAVE();
            int r = for_iter(vm, sp - 1, sp);
            if (r < 0)
                goto error;
            if (r)
                sp++;
            else {
                sp--;
                pc = arg;
            }
            break;
        }
        case OP_BUILD_LIST: {
            SAVE();
            V l = vm_new_list(vm, arg);
            if (!l)
                goto error;
            V items = fields(l)[LIST_ITEMS];
            for (uint32_t i = 0; i < arg; i++)
                vm_store_ref(vm, items, &arr_items(items)[i], R[sp - arg + i]);
            fields(l)[LIST_LEN] = arg;
            sp -= arg;
            PUSH(l);
            break;
        }
        case OP_BUILD_TUPLE: {
            SAVE();
            V t = vm_new_tuple(vm, arg);
            if (!t)
                goto error;
            for (uint32_t i = 0; i < arg; i++)
                vm_store_ref(vm, t, &arr_items(t)[i], R[sp - arg + i]);
            sp -= arg;
            PUSH(t);
            break;
        }
        case OP_BUILD_DICT: {
            SAVE();
            V d = vm_new_dict(vm);
            if (!d)
                goto error;
            PUSH(d);
            SAVE();
            uint32_t first = sp - 1 - 2 * arg;
            for (uint32_t i = 0; i < arg; i++)
                if (!dict_set(vm, sp - 1, first + 2 * i, first + 2 * i + 1))
                    goto error;
            R[first] = R[sp - 1];
            sp = first + 1;
            break;
        }
        case OP_BUILD_STRING:
            if (arg == 0) {
                SAVE();
                V s = vm_new_str(vm, "", 0);
                if (!s)
                    goto error;
                PUSH(s);
                break;
            }
            CHECK(build_string(vm, sp - arg, arg));
            sp -= arg - 1;
            break;
        case OP_FORMAT: {
            SAVE();
            struct gi_buf b = {0};
            uint32_t vslot = sp - 1 - arg;
            bool ok;
            if (arg) {
                V spec = R[sp - 1];
                if (vm->kind_of_class[cls_of(spec)] != K_STR) {
                    vm_raise(vm, B_TYPEERROR, "format spec must be a str");
                    goto error;
                }
                char specbuf[64];
                size_t n = str_nbytes(spec) < sizeof specbuf ? str_nbytes(spec) : sizeof specbuf - 1;
                memcpy(specbuf, str_ptr(spec), n);
                ok = vm_format_spec(vm, R[vslot], specbuf, n, &b);
            } else {
                if (vm->kind_of_class[cls_of(R[vslot])] == K_STR) {
                    sp = vslot + 1;
                    break;
                }
                ok = vm_to_text(vm, R[vslot], false, &b);
            }
            if (!ok || b.oom) {
                free(b.p);
                if (ok)
                    vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
                goto error;
            }
            V s = vm_new_str(vm, b.p ? b.p : "", b.len);
            free(b.p);
            if (!s)
                goto error;
            R[vslot] = s;
            sp = vslot + 1;
            break;
        }
        case OP_UNPACK_SEQUENCE:
            CHECK(unpack(vm, sp - 1, arg));
            sp += arg - 1;
            break;
        case OP_LOAD_SUBSCR:
            CHECK(load_subscr(vm, sp - 2, sp - 1, sp - 2));
            sp--;
            break;
        case OP_STORE_SUBSCR: {
            V obj = R[sp - 2], key = R[sp - 1];
            int k = vm->kind_of_class[cls_of(obj)];
            SAVE();
            if (k == K_LIST) {
                int64_t i;
                if (!index_of(vm, key, fields(obj)[LIST_LEN], &i, "list assignment"))
                    goto error;
                V items = fields(R[sp - 2])[LIST_ITEMS];
                vm_store_ref(vm, items, &arr_items(items)[i], R[sp - 3]);
            } else if (k == K_DICT) {
                if (!dict_set(vm, sp - 2, sp - 1, sp - 3))
                    goto error;
            } else {
                vm_raise(vm, B_TYPEERROR, "'%s' object does not support item assignment", vm_type_name(vm, obj));
                goto error;
            }
            sp -= 3;
            break;
        }
        case OP_DELETE_SUBSCR: {
            V obj = R[sp - 2], key = R[sp - 1];
            int k = vm->kind_of_class[cls_of(obj)];
            SAVE();
            if (k == K_DICT) {
                bool had = dict_delete(vm, obj, key);
                if (!had) {
                    if (R[vm->r_exc] && vm->kind_of_class[cls_of(R[vm->r_exc])] == K_EXC && fields(R[vm->r_exc])[EXC_TBLEN] == (V)-1)
                        goto error;
                    /* dict_delete returns false both for "absent" and for a raise from hashing */
                    uint64_t h;
                    if (!vm_hash(vm, R[sp - 1], &h))
                        goto error;
                    vm_raise_value(vm, B_KEYERROR, sp - 1);
                    goto error;
                }
            } else if (k == K_LIST) {
                int64_t i;
                uint64_t len = fields(obj)[LIST_LEN];
                if (!index_of(vm, key, len, &i, "list assignment"))
                    goto error;
                V items = fields(obj)[LIST_ITEMS];
                for (uint64_t j = (uint64_t)i; j + 1 < len; j++)
                    vm_store_ref(vm, items, &arr_items(items)[j], arr_items(items)[j + 1]);
                vm_store_ref(vm, items, &arr_items(items)[len - 1], 0);
                fields(obj)[LIST_LEN] = len - 1;
            } else {
                vm_raise(vm, B_TYPEERROR, "'%s' object does not support item deletion", vm_type_name(vm, obj));
                goto error;
            }
            sp -= 2;
            break;
        }
        case OP_SLICE:
            CHECK(do_slice(vm, sp - 3, sp - 3));
            sp -= 2;
            break;
        case OP_LOAD_ATTR: {
            V obj = TOP;
            uint32_t name_id = code->name_ids[arg];
            if (vm->kind_of_class[cls_of(obj)] == -2) {
                uint32_t index;
                int kind = lookup_attr(vm, code, pc - 1, obj, name_id, &index);
                if (kind == 1) {
                    V v = fields(obj)[index];
                    if (v) {
                        TOP = v;
                        break;
                    }
                } else if (kind == 2) {
                    SAVE();
                    V bm = vm_alloc_instance(vm, vm->gr_class[K_BOUND]);
                    if (!bm)
                        goto error;
                    obj = TOP;
                    vm_store_ref(vm, bm, &fields(bm)[BOUND_SELF], obj);
                    vm_store_ref(vm, bm, &fields(bm)[BOUND_FUNC], arr_items(fields(class_object(vm, obj))[CLASS_METHODS])[index]);
                    TOP = bm;
                    break;
                }
            }
            SAVE();
            raise_attr(vm, obj, code->names[arg]);
            goto error;
        }
        case OP_STORE_ATTR: {
            V obj = R[sp - 1];
            if (vm->kind_of_class[cls_of(obj)] == -2) {
                uint32_t index;
                if (lookup_attr(vm, code, pc - 1, obj, code->name_ids[arg], &index) == 1) {
                    vm_store_ref(vm, obj, &fields(obj)[index], R[sp - 2]);
                    sp -= 2;
                    break;
                }
            }
            SAVE();
            raise_attr(vm, obj, code->names[arg]);
            goto error;
        }
        case OP_CALL: {
            bool pushed;
            uint32_t s = sp - arg - 1;
            fr->pc = pc;
            fr->sp = s + 1; /* the caller's stack after the call: the result in slot s */
            if (!call_value(vm, s, arg, &pushed)) {
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
            break;
        }
        case OP_CALL_METHOD: {
            uint32_t argc = arg >> 16, name = arg & 0xFFFF;
            uint32_t s = sp - argc - 1;
            V obj = R[s];
            int k = vm->kind_of_class[cls_of(obj)];
            fr->pc = pc;
            if (k == -2) {
                uint32_t index;
                int kind = lookup_attr(vm, code, pc - 1, obj, code->name_ids[name], &index);
                if (kind == 2) {
                    V f = arr_items(fields(class_object(vm, obj))[CLASS_METHODS])[index];
                    fr->sp = s + 1;
                    if (!push_frame(vm, f, s, argc + 1, s, false)) {
                        fr->sp = sp;
                        goto error;
                    }
                    bool ok = poll_safepoint(vm);
                    LOAD();
                    if (!ok)
                        goto error;
                    break;
                }
                if (kind == 1 && fields(obj)[index]) {
                    /* a callable stored in a slot: call it with the arguments */
                    R[s] = fields(obj)[index];
                    bool pushed;
                    fr->sp = s + 1;
                    if (!call_value(vm, s, argc, &pushed)) {
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
                    break;
                }
                SAVE();
                raise_attr(vm, obj, code->names[name]);
                goto error;
            }
            bool found;
            SAVE();
            if (vm_call_builtin_method(vm, s, code->names[name], argc, s, &found)) {
                sp = s + 1;
                break;
            }
            if (!found)
                raise_attr(vm, R[s], code->names[name]);
            goto error;
        }
        case OP_CALL_BUILTIN: {
            uint32_t argc = arg >> 16, id = arg & 0xFFFF;
            uint32_t s = sp - argc;
            SAVE();
            if (id == B_PRINT) {
                if (!do_print(vm, s, argc, 0))
                    goto error;
                R[s] = vm_none(vm);
            } else if (!vm_call_builtin(vm, (int)id, s, argc, s)) {
                goto error;
            }
            sp = s + 1;
            break;
        }
        case OP_CALL_PRINT: {
            uint32_t argc = arg & 0xFFFF, flags = arg >> 16;
            uint32_t n = argc + ((flags & 1) != 0) + ((flags & 2) != 0);
            uint32_t s = sp - n;
            SAVE();
            if (!do_print(vm, s, argc, flags))
                goto error;
            R[s] = vm_none(vm);
            sp = s + 1;
            break;
        }
        case OP_RETURN_VALUE: {
            V v = R[sp - 1];
            uint32_t ret = fr->ret_slot;
            bool init = fr->init_call;
            vm->nframes--;
            if (init && vm->kind_of_class[cls_of(v)] != K_NONE) {
                LOAD();
                SAVE();
                vm_raise(vm, B_TYPEERROR, "__init__() should return None, not '%s'", vm_type_name(vm, v));
                goto error;
            }
            /* dead locals and operands must not keep objects alive */
            memset(&R[fr->base], 0, ((size_t)code->nlocals + code->max_stack) * sizeof(V));
            if (!init)
                R[ret] = v;
            if (vm->nframes == 0)
                return true;
            LOAD();
            sp = ret + 1;
            break;
        }
        case OP_MAKE_FUNCTION:
            SAVE();
            if (!make_function(vm, fr, arg & 0xFFFF, arg >> 16))
                goto error;
            sp = fr->sp;
            break;
        case OP_BUILD_CLASS:
            SAVE();
            if (!build_class(vm, fr, arg & 0xFFFF, arg >> 16))
                goto error;
            sp = fr->sp;
            break;
        case OP_SETUP_EXCEPT:
            if (fr->nblocks >= GI_MAX_BLOCKS) {
                SAVE();
                vm_raise(vm, B_RUNTIMEERROR, "too many nested try blocks");
                goto error;
            }
            fr->blocks[fr->nblocks++] = (struct gi_block){arg, sp - fr->stack};
            break;
        case OP_POP_BLOCK:
            if (fr->nblocks == 0) {
                SAVE();
                vm_fatal(vm, EINVAL, "POP_BLOCK without a block (malformed image)");
            }
            fr->nblocks--;
            break;
        case OP_EXC_MATCH: {
            V e = R[sp - 2], t = R[sp - 1];
            bool match = false;
            int et = vm->kind_of_class[cls_of(e)] == K_EXC ? (int)fields(e)[EXC_TYPE] : -1;
            if (vm->kind_of_class[cls_of(t)] == K_BUILTIN) {
                match = et >= 0 && gi_exc_subclass(et, (int)fields(t)[BUILTIN_ID]);
            } else if (cls_of(t) == GR_CLASS_REF_ARRAY) {
                for (uint32_t i = 0; i < arr_len(t); i++)
                    if (et >= 0 && vm->kind_of_class[cls_of(arr_items(t)[i])] == K_BUILTIN &&
                        gi_exc_subclass(et, (int)fields(arr_items(t)[i])[BUILTIN_ID]))
                        match = true;
            }
            sp--;
            TOP = vm_bool(vm, match);
            break;
        }
        case OP_RAISE: {
            V v = R[sp - 1];
            int k = vm->kind_of_class[cls_of(v)];
            SAVE();
            if (k == K_BUILTIN && fields(v)[BUILTIN_ID] >= B_FIRST_EXC && fields(v)[BUILTIN_ID] <= B_LAST_EXC) {
                V e = vm_new_exc(vm, (int)fields(v)[BUILTIN_ID], 0);
                if (!e)
                    goto error;
                R[vm->r_exc] = e;
            } else if (k == K_EXC) {
                fields(v)[EXC_TBLEN] = 0;
                R[vm->r_exc] = v;
            } else {
                vm_raise(vm, B_TYPEERROR, "exceptions must derive from BaseException");
            }
            goto error;
        }
        case OP_RERAISE:
            if (vm->kind_of_class[cls_of(R[sp - 1])] != K_EXC) {
                SAVE();
                vm_raise(vm, B_TYPEERROR, "exceptions must derive from BaseException");
                goto error;
            }
            R[vm->r_exc] = R[sp - 1];
            sp--;
            SAVE();
            goto unwind; /* keeps the traceback: no entry for this frame again */
        case OP_RAISE_ASSERT:
            SAVE();
            if (arg) {
                vm_raise_value(vm, B_ASSERTIONERROR, sp - 1);
            } else {
                V e = vm_new_exc(vm, B_ASSERTIONERROR, 0);
                if (e)
                    R[vm->r_exc] = e;
            }
            goto error;
        case OP_CHECK_METHOD: {
            V obj = TOP;
            int k = vm->kind_of_class[cls_of(obj)];
            bool has;
            if (k == -2) {
                uint32_t index;
                has = lookup_attr(vm, code, pc - 1, obj, code->name_ids[arg], &index) != 0;
            } else {
                has = vm_has_builtin_method(vm, obj, code->names[arg]);
            }
            if (!has) {
                SAVE();
                raise_attr(vm, obj, code->names[arg]);
                goto error;
            }
            break;
        }
        default:
            SAVE();
            vm_fatal(vm, EINVAL, "bad opcode");
        }
        continue;
    error:
        /* the pending exception is in R[r_exc]; fr->pc is past the failing instruction */
        fr = &vm->frames[vm->nframes - 1];
        /* on failure a MemoryError replaced the exception: keep unwinding with it */
        (void)tb_append(vm, (uint32_t)(fr->code - vm->codes), fr->code->lines[fr->pc - 1]);
    unwind:
        for (;;) {
            fr = &vm->frames[vm->nframes - 1];
            if (fr->nblocks) {
                struct gi_block b = fr->blocks[--fr->nblocks];
                fr->sp = fr->stack + b.depth;
                R[fr->sp++] = R[vm->r_exc];
                fr->pc = b.handler;
                break;
            }
            memset(&R[fr->base], 0, ((size_t)fr->code->nlocals + fr->code->max_stack) * sizeof(V));
            vm->nframes--;
            if (vm->nframes == 0)
                return false;
            fr = &vm->frames[vm->nframes - 1];
            tb_append(vm, (uint32_t)(fr->code - vm->codes), fr->code->lines[fr->pc - 1]);
        }
        LOAD();
    }
#undef PUSH
#undef TOP
#undef SAVE
#undef LOAD
#undef CHECK
}

/* ---- setup */

/* Runtime classes are a fixed table (GR_MAX_CLASSES) that never shrinks, so the
 * layouts a runtime got for one program are reused by the next program run on it:
 * the built-in layouts, and user-class layouts by shape (number of slots). */
struct layout_cache {
    uint64_t serial;                /* gr_runtime.serial; 0 = free entry */
    uint32_t builtin[K_NKINDS];
    uint32_t n;
    uint32_t nslots[GR_MAX_CLASSES];
    uint32_t id[GR_MAX_CLASSES];
};
static struct layout_cache layout_caches[4];
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;

static bool define_layouts(struct gi_vm *vm)
{
    static const uint32_t shape[K_NKINDS][2] = {
        [K_NONE] = {0, 1}, [K_BOOL] = {0, 1}, [K_INT] = {0, 1}, [K_FLOAT] = {0, 1},
        [K_STR] = {1, 2}, [K_LIST] = {1, 1}, [K_DICT] = {4, 2}, [K_FUNC] = {1, 1},
        [K_CLASS] = {1, 1}, [K_BOUND] = {2, 0}, [K_BUILTIN] = {0, 1}, [K_EXC] = {2, 2},
        [K_RANGE] = {0, 3}, [K_ITER] = {1, 3},
    };
    bool ok = false;
    pthread_mutex_lock(&layout_lock);
    struct layout_cache *lc = NULL;
    for (int i = 0; i < 4 && !lc; i++)
        if (layout_caches[i].serial == vm->rt->serial)
            lc = &layout_caches[i];
    if (!lc) {
        static unsigned victim;
        lc = &layout_caches[victim++ % 4];
        memset(lc, 0, sizeof *lc);
        for (int k = 0; k < K_NKINDS; k++) {
            int id = gr_define_class(vm->rt, shape[k][0], shape[k][1]);
            if (id < 0)
                goto out;
            lc->builtin[k] = (uint32_t)id;
        }
        lc->serial = vm->rt->serial;
    }
    for (int i = 0; i < GR_MAX_CLASSES; i++)
        vm->kind_of_class[i] = -1;
    for (int k = 0; k < K_NKINDS; k++) {
        vm->gr_class[k] = lc->builtin[k];
        vm->kind_of_class[lc->builtin[k]] = k;
    }
    bool *taken = calloc(GR_MAX_CLASSES, 1);
    if (!taken)
        goto out;
    for (uint32_t i = 0; i < vm->nclasses; i++) {
        /* user instances: the slots (references), then an identity hash (scalar) */
        int id = -1;
        for (uint32_t j = 0; j < lc->n && id < 0; j++)
            if (lc->nslots[j] == vm->classes[i].nslots && !taken[j]) {
                taken[j] = true;
                id = (int)lc->id[j];
            }
        if (id < 0) {
            id = gr_define_class(vm->rt, vm->classes[i].nslots, 1);
            if (id < 0 || lc->n >= GR_MAX_CLASSES) {
                free(taken);
                goto out;
            }
            taken[lc->n] = true;
            lc->nslots[lc->n] = vm->classes[i].nslots;
            lc->id[lc->n++] = (uint32_t)id;
        }
        vm->classes[i].gr_class = (uint32_t)id;
        vm->kind_of_class[id] = -2;
        vm->user_class_of[id] = (int)i;
    }
    free(taken);
    ok = true;
out:
    pthread_mutex_unlock(&layout_lock);
    return ok;
}

/* Lays out the fixed root slots and fills them (in core). */
static bool init_roots(struct gi_vm *vm, char **argv, uint32_t argc, struct gi_const **consts)
{
    uint32_t next = GI_ROOT_BASE;
    vm->r_none = next++;
    vm->r_true = next++;
    vm->r_false = next++;
    vm->r_empty_str = next++;
    vm->r_exc = next++;
    vm->r_argv = next++;
    vm->r_scratch = next;
    next += 8;
    vm->r_small_ints = next;
    next += SMALL_INT_MAX - SMALL_INT_MIN + 1;
    vm->r_builtins = next;
    next += B_COUNT;
    for (uint32_t i = 0; i < vm->ncodes; i++) {
        vm->codes[i].const_base = next;
        next += vm->codes[i].nconsts;
    }
    vm->global_base = next;
    next += vm->nglobals;
    for (uint32_t i = 0; i < vm->nclasses; i++)
        vm->classes[i].root = next++;
    if (next + 1000 > GI_VM_ROOTS)
        return vm_raise(vm, B_MEMORYERROR, "program too large for the root table"), false;
    vm->nroots_fixed = next;
    vm->roots_hw = next;
    vm->stack_limit = GI_VM_ROOTS;

    V v;
#define NEW(slot, expr) do { if (!(v = (expr))) return false; vm->roots[slot] = v; } while (0)
    NEW(vm->r_none, vm_alloc_instance(vm, vm->gr_class[K_NONE]));
    NEW(vm->r_true, vm_alloc_instance(vm, vm->gr_class[K_BOOL]));
    fields(v)[0] = 1;
    NEW(vm->r_false, vm_alloc_instance(vm, vm->gr_class[K_BOOL]));
    NEW(vm->r_empty_str, vm_new_str(vm, "", 0));
    NEW(vm->r_scratch + 7, vm_new_exc(vm, B_MEMORYERROR, 0)); /* raised when the heap is exhausted */
    for (int64_t i = SMALL_INT_MIN; i <= SMALL_INT_MAX; i++) {
        NEW(vm->r_small_ints + (uint32_t)(i - SMALL_INT_MIN), vm_alloc_instance(vm, vm->gr_class[K_INT]));
        fields(v)[0] = (V)i;
    }
    for (int b = 0; b < B_COUNT; b++) {
        NEW(vm->r_builtins + (uint32_t)b, vm_alloc_instance(vm, vm->gr_class[K_BUILTIN]));
        fields(v)[BUILTIN_ID] = (V)b;
    }
    for (uint32_t i = 0; i < vm->ncodes; i++)
        for (uint32_t j = 0; j < vm->codes[i].nconsts; j++) {
            struct gi_const *c = &consts[i][j];
            uint32_t slot = vm->codes[i].const_base + j;
            switch (c->tag) {
            case 0: vm->roots[slot] = vm_none(vm); break;
            case 1: vm->roots[slot] = vm_bool(vm, true); break;
            case 2: vm->roots[slot] = vm_bool(vm, false); break;
            case 3: NEW(slot, vm_new_int(vm, c->i)); break;
            case 4: NEW(slot, vm_new_float(vm, c->f)); break;
            default: NEW(slot, vm_new_str(vm, c->s ? c->s : "", c->slen)); break;
            }
        }
    NEW(vm->r_argv, vm_new_list(vm, argc));
    uint32_t tmp = vm->r_scratch + 4;
    for (uint32_t i = 0; i < argc; i++) {
        NEW(tmp, vm_new_str(vm, argv[i] ? argv[i] : "", argv[i] ? strlen(argv[i]) : 0));
        if (!list_append(vm, vm->r_argv, tmp))
            return false;
    }
    vm->roots[tmp] = 0;
#undef NEW
    return true;
}

/* The runtime's root provider for this VM: every slot in use. World stopped. */
static void visit_vm_roots(struct gr_root_provider *p, gr_root_visitor fn, void *arg)
{
    struct gi_vm *vm = (struct gi_vm *)((char *)p - offsetof(struct gi_vm, provider));
    V *roots = vm->roots;
    for (uint32_t i = GI_ROOT_BASE; i < vm->roots_hw; i++)
        if (roots[i])
            fn(&roots[i], arg);
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
    vm->budget = (options & GI_OPT_BUDGET) ? GI_BUDGET_INSTRUCTIONS : UINT64_MAX;
    vm->outcap = 1 << 16;
    vm->out = malloc(vm->outcap);
    vm->frames = calloc(GI_MAX_FRAMES + 1, sizeof *vm->frames);
    vm->roots = calloc(GI_VM_ROOTS, sizeof *vm->roots);
    vm->provider = (struct gr_root_provider){.name = "interpreter", .visit = visit_vm_roots, .is_program = 1};
    volatile bool registered = false, sigint_held = false;
    char **argv = NULL;
    uint32_t argc = 0;
    struct gi_const **consts = NULL;
    volatile int rc = 0;
    if (!vm->out || !vm->frames || !vm->roots) {
        rc = -ENOMEM;
        goto out;
    }
    rc = vm_load(vm, image, image_len, &argv, &argc, &consts);
    if (rc < 0)
        goto out;
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
    if (setjmp(vm->fatal_jmp)) {
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = vm->fatal_errno;
        snprintf(result->message, sizeof result->message, "%s", vm->fatal_msg);
        vm_flush_out(vm);
        goto leave;
    }
    if (!init_roots(vm, argv, argc, consts)) {
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = -ENOMEM;
        snprintf(result->message, sizeof result->message, "heap too small to start the program");
        goto leave;
    }
    /* the module frame: locals (hidden handler slots) start above the fixed roots */
    struct gi_code *module = &vm->codes[0];
    if ((uint64_t)vm->nroots_fixed + module->nlocals + module->max_stack + 2 > vm->stack_limit) {
        /* the module's operand stack would run past the root table */
        result->status = GI_STATUS_FATAL;
        result->fatal_errno = -E2BIG;
        snprintf(result->message, sizeof result->message,
                 "program too large for the root table (%u fixed roots + %u locals + %u stack > %u)",
                 vm->nroots_fixed, module->nlocals, module->max_stack, vm->stack_limit);
        goto leave;
    }
    vm->frames[0] = (struct gi_frame){.code = module, .pc = 0, .base = vm->nroots_fixed,
                                      .stack = vm->nroots_fixed + module->nlocals,
                                      .sp = vm->nroots_fixed + module->nlocals,
                                      .ret_slot = vm->nroots_fixed + module->nlocals};
    vm->nframes = 1;
    vm->roots_hw = vm->nroots_fixed + module->nlocals + module->max_stack + 2;
    if (run_loop(vm)) {
        result->status = GI_STATUS_OK;
        vm_flush_out(vm);
    } else {
        result->status = GI_STATUS_EXCEPTION;
        print_traceback(vm);
    }
leave:
    gr_leave(vm->m);
out:
    if (sigint_held)
        sigint_release();
    if (registered)
        gr_roots_remove_provider(rt, &vm->provider);   /* the program's objects become garbage */
    result->instructions = vm->instructions;
    result->allocations = vm->allocations;
    if (argv) {
        for (uint32_t i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
    }
    if (consts) {
        for (uint32_t i = 0; i < vm->ncodes; i++) {
            for (uint32_t j = 0; consts[i] && j < vm->codes[i].nconsts; j++)
                free(consts[i][j].s);
            free(consts[i]);
        }
        free(consts);
    }
    vm_unload(vm);
    free(vm->out);
    free(vm->frames);
    free(vm->roots);
    free(vm);
    return rc;
}
