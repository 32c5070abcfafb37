/* call.c - calls: argument binding, frames, callables of every kind, calls from C
 * (nested runs of the loop), generators, imports.
 *
 * Calling convention: the callable is in a root slot; its arguments follow in
 * consecutive slots (argbase..). A function's frame is built in place: its
 * arguments become its first locals. The slot just before the arguments is free
 * when the call came in method form with no self (`f NULL args`), so a bound
 * method or a class can put self there; otherwise the arguments move up by one
 * (the verifier leaves two spare slots above every operand stack for this).
 * The result goes into ret: at once for a native, or when the frame returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

#define R (vm->roots)

static const char *qual(struct gi_code *c) { return c->qualname ? c->qualname : c->name; }

/* ---- frames */

void pop_frame(struct gi_vm *vm)
{
    vm_pop_frame(vm);
}

static bool frame_room(struct gi_vm *vm, uint32_t base, struct gi_code *code)
{
    if (vm->nframes >= (uint32_t)vm->recursion_limit || vm->nframes >= GI_MAX_FRAMES ||
        (uint64_t)base + code->nlocals + code->max_stack + 256 > vm->stack_limit)
        return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
    return true;
}

/* ---- argument binding */

static int param_index(struct gi_vm *vm, struct gi_code *code, V name)
{
    uint32_t n = code->argcount + code->kwonlycount;
    const char *s = str_ptr(name);
    uint32_t len = str_nbytes(name);
    for (uint32_t i = 0; i < n; i++)
        if (strlen(code->local_names[i]) == len && !memcmp(code->local_names[i], s, len))
            return (int)i;
    return -1;
}

static bool missing_error(struct gi_vm *vm, struct gi_code *code, uint32_t base, uint32_t from, uint32_t to,
                          const char *what)
{
    char names[400] = "";
    uint32_t n = 0, total = 0;
    for (uint32_t i = from; i < to; i++)
        if (!R[base + i])
            total++;
    for (uint32_t i = from; i < to; i++) {
        if (R[base + i])
            continue;
        n++;
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s'%s'", n == 1 ? "" : n == total ? (total == 2 ? " and " : ", and ") : ", ",
                 code->local_names[i]);
    }
    return vm_raise(vm, B_TYPEERROR, "%s() missing %u required %s argument%s: %s", qual(code), total, what,
                    total == 1 ? "" : "s", names);
}

/* The general case: keywords, defaults, *args, **kwargs. The locals are built in
 * place over the arguments; keyword values and extra positionals are first
 * copied above the new frame. */
static bool bind_args(struct gi_vm *vm, uint32_t fslot, struct gi_code *code, uint32_t base, uint32_t argc,
                      uint32_t kwn)
{
    uint32_t nkw = kwn ? arr_len(R[kwn]) : 0;
    uint32_t npos = argc - nkw;
    uint32_t ac = code->argcount, nparams = ac + code->kwonlycount;
    bool varargs = code->flags & CO_VARARGS, varkw = code->flags & CO_VARKW;
    uint32_t t = vm_reserve(vm, nkw + 3);
    bool ok = false;
    R[t] = kwn ? R[kwn] : 0;
    for (uint32_t i = 0; i < nkw; i++)
        R[t + 3 + i] = R[base + npos + i];
    if (npos > ac && !varargs) {
        V d = fields(R[fslot])[FUNC_DEFAULTS];
        uint32_t nd = d ? arr_len(d) : 0;
        if (nd)
            vm_raise(vm, B_TYPEERROR, "%s() takes from %u to %u positional arguments but %u were given", qual(code),
                     ac - nd, ac, npos);
        else
            vm_raise(vm, B_TYPEERROR, "%s() takes %u positional argument%s but %u %s given", qual(code), ac,
                     ac == 1 ? "" : "s", npos, npos == 1 ? "was" : "were");
        goto out;
    }
    if (varargs) {
        uint32_t n = npos > ac ? npos - ac : 0;
        V tup = vm_new_tuple(vm, n);
        if (!tup)
            goto out;
        for (uint32_t i = 0; i < n; i++)
            vm_store_ref(vm, tup, &arr_items(tup)[i], R[base + ac + i]);
        R[t + 1] = tup;
    }
    for (uint32_t i = npos < ac ? npos : ac; i < code->nlocals; i++)
        R[base + i] = 0;
    if (varkw) {
        V d = vm_new_dict(vm);
        if (!d)
            goto out;
        R[t + 2] = d;
    }
    for (uint32_t j = 0; j < nkw; j++) {
        V name = arr_items(R[t])[j];
        if (vm_kind(vm, name) != K_STR) {
            vm_raise(vm, B_TYPEERROR, "keywords must be strings");
            goto out;
        }
        int p = param_index(vm, code, name);
        if (p >= 0) {
            if (R[base + p]) {
                vm_raise(vm, B_TYPEERROR, "%s() got multiple values for argument '%s'", qual(code),
                         code->local_names[p]);
                goto out;
            }
            R[base + p] = R[t + 3 + j];
        } else if (varkw) {
            uint32_t u = vm_reserve(vm, 1);
            R[u] = arr_items(R[t])[j];
            bool k = dict_set(vm, t + 2, u, t + 3 + j);
            vm_release(vm, u);
            if (!k)
                goto out;
        } else {
            vm_raise(vm, B_TYPEERROR, "%s() got an unexpected keyword argument '%.*s'", qual(code),
                     (int)str_nbytes(name), str_ptr(name));
            goto out;
        }
    }
    V defaults = fields(R[fslot])[FUNC_DEFAULTS];
    uint32_t nd = defaults ? arr_len(defaults) : 0;
    for (uint32_t i = npos; i < ac; i++)
        if (!R[base + i] && i + nd >= ac)
            R[base + i] = arr_items(defaults)[i + nd - ac];
    for (uint32_t i = npos; i < ac; i++)
        if (!R[base + i]) {
            missing_error(vm, code, base, npos, ac, "positional");
            goto out;
        }
    V kwd = fields(R[fslot])[FUNC_KWDEFAULTS];
    for (uint32_t i = ac; i < nparams; i++) {
        if (R[base + i] || !kwd)
            continue;
        uint32_t id = code->local_ids[i];
        for (uint64_t e = 0; e < fields(kwd)[DICT_USED]; e++) {
            V k = arr_items(fields(kwd)[DICT_KEYS])[e];
            if (k && vm_kind(vm, k) == K_STR && str_nbytes(k) == strlen(vm->names[id]) &&
                !memcmp(str_ptr(k), vm->names[id], str_nbytes(k)))
                R[base + i] = arr_items(fields(kwd)[DICT_VALS])[e];
        }
    }
    for (uint32_t i = ac; i < nparams; i++)
        if (!R[base + i]) {
            missing_error(vm, code, base, ac, nparams, "keyword-only");
            goto out;
        }
    if (varargs)
        R[base + nparams] = R[t + 1];
    if (varkw)
        R[base + nparams + varargs] = R[t + 2];
    ok = true;
out:
    vm_release(vm, t);
    return ok;
}

/* Turns the frame just pushed (arguments bound) into a suspended generator in ret. */
static bool make_generator_from(struct gi_vm *vm, uint32_t fslot)
{
    struct gi_frame *fr = &vm->frames[vm->nframes - 1];
    struct gi_code *code = fr->code;
    uint32_t ret = fr->ret_slot;
    uint32_t t = vm_reserve(vm, 1);
    bool ok = false;
    V saved = vm_alloc_array(vm, GR_CLASS_REF_ARRAY, (uint64_t)code->nlocals + code->max_stack);
    if (saved) {
        R[t] = saved;
        V g = vm_alloc_instance(vm, vm->gr_class[K_GEN]);
        if (g) {
            fr = &vm->frames[vm->nframes - 1];
            saved = R[t];
            vm_copy_refs(vm, saved, arr_items(saved), &R[fr->base], code->nlocals);
            vm_store_ref(vm, g, &fields(g)[GEN_SAVED], saved);
            vm_store_ref(vm, g, &fields(g)[GEN_FUNC], R[fslot]);
            fields(g)[GEN_CODE] = (V)(code - vm->codes);
            fields(g)[GEN_STATE] = GS_CREATED;
            R[t] = g;
            ok = true;
        }
    }
    V g = R[t];
    vm_release(vm, t);
    pop_frame(vm);
    if (ok)
        R[ret] = g;
    return ok;
}

bool push_function_frame(struct gi_vm *vm, uint32_t fslot, uint32_t base, uint32_t argc, uint32_t kwn,
                         uint32_t ret, uint16_t flags, bool *pushed)
{
    V f = R[fslot];
    struct gi_code *code = &vm->codes[fields(f)[FUNC_CODE]];
    *pushed = false;
    if (!frame_room(vm, base, code))
        return FAIL;
    uint32_t saved_ctop = vm->ctop;
    uint32_t end = base + code->nlocals + code->max_stack;
    if (end > vm->ctop)
        vm->ctop = end;
    if (vm->ctop > vm->roots_hw)
        vm->roots_hw = vm->ctop;
    if (!kwn && argc == code->argcount && !(code->flags & (CO_VARARGS | CO_VARKW)) && !code->kwonlycount) {
        for (uint32_t i = argc; i < code->nlocals; i++)
            R[base + i] = 0;
    } else if (!kwn && argc < code->argcount && !(code->flags & (CO_VARARGS | CO_VARKW)) && !code->kwonlycount &&
               fields(f)[FUNC_DEFAULTS] && argc + arr_len(fields(f)[FUNC_DEFAULTS]) >= code->argcount) {
        V d = fields(f)[FUNC_DEFAULTS];
        uint32_t nd = arr_len(d), ac = code->argcount;
        for (uint32_t i = argc; i < ac; i++)
            R[base + i] = arr_items(d)[i + nd - ac];
        for (uint32_t i = ac; i < code->nlocals; i++)
            R[base + i] = 0;
    } else if (!bind_args(vm, fslot, code, base, argc, kwn)) {
        vm->ctop = saved_ctop;
        return FAIL;
    }
    if (code->nfree) {
        V cl = fields(R[fslot])[FUNC_CLOSURE];
        if (!cl || arr_len(cl) != code->nfree) {
            vm->ctop = saved_ctop;
            return vm_raise(vm, B_TYPEERROR, "%s(): closure of the wrong size", qual(code));
        }
        for (uint32_t i = 0; i < code->nfree; i++)
            R[base + code->nlocals - code->nfree + i] = arr_items(cl)[i];
    }
    vm_push_frame_struct(vm, code, base, ret, flags, saved_ctop);
    if (code->flags & CO_GENERATOR)
        return make_generator_from(vm, fslot);
    *pushed = true;
    return true;
}

/* A frame for a code object with no arguments (a module body) at base. */
bool push_code_frame(struct gi_vm *vm, struct gi_code *code, uint32_t base, uint32_t ret, uint16_t flags)
{
    if (!frame_room(vm, base, code))
        return FAIL;
    uint32_t saved = vm->ctop;
    for (uint32_t i = 0; i < code->nlocals; i++)
        R[base + i] = 0;
    vm_push_frame_struct(vm, code, base, ret, flags, saved);
    return true;
}

/* ---- callables */

/* Makes R[argbase-1] hold v, moving the arguments (and the kwnames slot right
 * after them, if it is there) up by one when that slot is the callable's. */
static void insert_first(struct gi_vm *vm, uint32_t fslot, uint32_t *argbase, uint32_t *argc, uint32_t *kwn, V v)
{
    if (*argbase - 1 > fslot) {
        R[*argbase - 1] = v;
        (*argbase)--;
        (*argc)++;
        return;
    }
    uint32_t n = *argc;
    if (*kwn && *kwn == *argbase + n) {
        n++;
        (*kwn)++;
    }
    memmove(&R[*argbase + 1], &R[*argbase], (size_t)n * sizeof(V));
    R[*argbase] = v;
    (*argc)++;
}

bool call_object(struct gi_vm *vm, uint32_t fslot, uint32_t argbase, uint32_t argc, uint32_t kwn, uint32_t ret,
                 uint16_t flags, bool *pushed)
{
    V f = R[fslot];
    *pushed = false;
    switch (vm_kind(vm, f)) {
    case K_FUNC:
        return push_function_frame(vm, fslot, argbase, argc, kwn, ret, flags, pushed);
    case K_BUILTIN: {
        uint32_t id = (uint32_t)fields(f)[BUILTIN_ID];
        return vm_call_native(vm, id, argbase, argc, kwn, ret);
    }
    case K_BOUND: {
        if ((uint64_t)argbase + argc + 8 > vm->stack_limit)
            return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
        V self = fields(f)[BOUND_SELF];
        R[fslot] = fields(f)[BOUND_FUNC];
        insert_first(vm, fslot, &argbase, &argc, &kwn, self);
        return call_object(vm, fslot, argbase, argc, kwn, ret, flags, pushed);
    }
    case K_WRAP:
        if (fields(f)[WRAP_WHICH] == W_STATIC) {
            R[fslot] = fields(f)[WRAP_A];
            return call_object(vm, fslot, argbase, argc, kwn, ret, flags, pushed);
        }
        break;
    case K_CLASS: {
        uint32_t c = (uint32_t)fields(f)[CLASS_INDEX];
        if (!vm->class_objs[c])
            return vm_raise(vm, B_TYPEERROR, "a class that failed to build cannot be called");
        /* the instance goes into the slot before the arguments (self of __init__) */
        uint32_t t = vm_reserve(vm, 1);
        V newf;
        bool custom_new = false;
        if ((vm->classes[c].specials >> S_NEW & 1) &&
            vm_class_lookup(vm, f, vm->special_ids[S_NEW], &newf) == 1 &&
            !(vm_kind(vm, newf) == K_BUILTIN && fields(newf)[BUILTIN_ID] == M_OBJECT_NEW)) {
            /* a user __new__(cls, *args, **kwargs) makes the object; __init__ runs
             * only when it is an instance of the class */
            if (vm_kind(vm, newf) == K_WRAP && fields(newf)[WRAP_WHICH] == W_STATIC)
                newf = fields(newf)[WRAP_A];
            custom_new = true;
            uint32_t m = vm_reserve(vm, argc + 3);
            R[m] = newf;
            R[m + 1] = R[fslot];
            memcpy(&R[m + 2], &R[argbase], (size_t)argc * sizeof(V));
            if (kwn)
                R[m + 2 + argc] = R[kwn];
            bool ok = vm_call(vm, m, argc + 1, kwn ? m + 2 + argc : 0, t);
            vm_release(vm, m);
            int is = 0;
            if (ok)
                ok = vm_isinstance(vm, R[t], R[fslot], &is);
            if (!ok || !is) {
                if (ok)
                    R[ret] = R[t];
                vm_release(vm, t);
                return ok;
            }
        } else if (!vm_alloc_user_instance(vm, c, t)) {
            vm_release(vm, t);
            return FAIL;
        }
        V inst = R[t];
        if (vm->classes[c].kind == K_EXC && !custom_new) {
            /* BaseException.__new__ keeps the call's arguments as args */
            uint32_t nkw = kwn ? arr_len(R[kwn]) : 0;
            V args = vm_new_tuple(vm, argc - nkw);
            if (!args) {
                vm_release(vm, t);
                return FAIL;
            }
            for (uint32_t i = 0; i < argc - nkw; i++)
                vm_store_ref(vm, args, &arr_items(args)[i], R[argbase + i]);
            inst = R[t];
            vm_store_ref(vm, inst, &fields(inst)[EXC_ARGS], args);
        }
        V init;
        f = R[fslot];
        int found = vm_class_lookup(vm, f, vm->special_ids[S_INIT], &init);
        vm_release(vm, t);
        if (found && vm_kind(vm, init) == K_BUILTIN && fields(init)[BUILTIN_ID] == M_OBJECT_INIT) {
            if (argc && !custom_new)
                return vm_raise(vm, B_TYPEERROR, "%s() takes no arguments", vm->classes[c].name);
            R[ret] = inst;
            return true;
        }
        if (!found) {
            R[ret] = inst;
            return true;
        }
        insert_first(vm, fslot, &argbase, &argc, &kwn, inst);
        R[fslot] = init;
        if (vm_kind(vm, init) == K_FUNC)
            return push_function_frame(vm, fslot, argbase, argc, kwn, ret, flags | F_INIT, pushed);
        bool ok = call_object(vm, fslot, argbase, argc, kwn, fslot, flags, pushed);
        if (ok && !*pushed)
            R[ret] = R[argbase];
        return ok;
    }
    default:
        break;
    }
    if (has_special(vm, f, S_CALL)) {
        V call = vm_special(vm, f, S_CALL);
        insert_first(vm, fslot, &argbase, &argc, &kwn, f);
        R[fslot] = call;
        return call_object(vm, fslot, argbase, argc, kwn, ret, flags, pushed);
    }
    return vm_raise(vm, B_TYPEERROR, "'%s' object is not callable", vm_type_name(vm, f));
}

static const char *short_native(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

bool vm_call_native(struct gi_vm *vm, uint32_t id, uint32_t args, uint32_t argc, uint32_t kwn, uint32_t out)
{
    const struct gi_native *n = &gi_natives[id];
    uint32_t nkw = kwn ? arr_len(R[kwn]) : 0;
    if (nkw && !(n->flags & N_KW))
        return vm_raise(vm, B_TYPEERROR, "%s() takes no keyword arguments", short_native(n->name));
    uint32_t npos = argc - nkw;
    if ((int)npos < n->min || (n->max >= 0 && (int)npos > n->max)) {
        int self = (n->flags & N_METHOD) ? 1 : 0;
        int lo = n->min - self, hi = n->max - self, got = (int)npos - self;
        if (self && got < 0)
            return vm_raise(vm, B_TYPEERROR, "descriptor '%s' of '%.*s' object needs an argument", short_native(n->name),
                            (int)(strrchr(n->name, '.') - n->name), n->name);
        if (lo == hi)
            return vm_raise(vm, B_TYPEERROR, "%s() takes %s %d argument%s (%d given)", short_native(n->name),
                            lo == 0 ? "no" : "exactly", lo, lo == 1 ? "" : "s", got);
        if (got < lo)
            return vm_raise(vm, B_TYPEERROR, "%s expected at least %d argument%s, got %d", short_native(n->name), lo,
                            lo == 1 ? "" : "s", got);
        return vm_raise(vm, B_TYPEERROR, "%s expected at most %d argument%s, got %d", short_native(n->name), hi,
                        hi == 1 ? "" : "s", got);
    }
    vm->native_id = id;
    return n->fn(vm, args, argc, kwn, out);
}

/* ---- calls from C */

int run_loop(struct gi_vm *vm, bool throw_first);

int vm_run_nested(struct gi_vm *vm)
{
    if (vm->cdepth >= GI_MAX_CDEPTH) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
        return RUN_EXC;
    }
    vm->cdepth++;
    int r = run_loop(vm, false);
    vm->cdepth--;
    return r;
}

bool vm_call(struct gi_vm *vm, uint32_t f_slot, uint32_t argc, uint32_t kwnames, uint32_t out)
{
    uint32_t m = vm_reserve(vm, argc + 3);
    R[m] = R[f_slot];
    R[m + 1] = 0;
    memcpy(&R[m + 2], &R[f_slot + 1], (size_t)argc * sizeof(V));
    uint32_t kwn = 0;
    if (kwnames) {
        R[m + 2 + argc] = R[kwnames];
        kwn = m + 2 + argc;
    }
    bool pushed;
    bool ok = call_object(vm, m, m + 2, argc, kwn, m, F_CENTRY, &pushed);
    if (ok && pushed)
        ok = vm_run_nested(vm) == RUN_RETURNED;
    if (ok)
        R[out] = R[m];
    vm_release(vm, m);
    return ok;
}

/* f (a value) called with argc arguments copied from args. */
bool vm_call_value(struct gi_vm *vm, V f, uint32_t args, uint32_t argc, uint32_t out)
{
    uint32_t m = vm_reserve(vm, argc + 1);
    R[m] = f;
    memcpy(&R[m + 1], &R[args], (size_t)argc * sizeof(V));
    bool ok = vm_call(vm, m, argc, 0, out);
    vm_release(vm, m);
    return ok;
}

/* self.special(args...) for a user class that defines it; *found false when it
 * does not (nothing raised). */
bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found)
{
    V f = vm_special(vm, R[self_slot], special);
    *found = f != 0;
    if (!f)
        return FAIL;
    if (vm_kind(vm, f) == K_NONE) {
        *found = false;
        return FAIL;
    }
    uint32_t m = vm_reserve(vm, argc + 2);
    int k = vm_kind(vm, f);
    bool ok;
    if (k == K_WRAP && fields(f)[WRAP_WHICH] == W_STATIC) {
        R[m] = fields(f)[WRAP_A];
        memcpy(&R[m + 1], &R[args], (size_t)argc * sizeof(V));
        ok = vm_call(vm, m, argc, 0, out);
    } else {
        R[m] = f;
        R[m + 1] = R[self_slot];
        memcpy(&R[m + 2], &R[args], (size_t)argc * sizeof(V));
        ok = vm_call(vm, m, argc + 1, 0, out);
    }
    vm_release(vm, m);
    return ok;
}

/* obj.name(args...) from C: *found false (nothing raised) when obj has no such
 * attribute. */
bool vm_call_method(struct gi_vm *vm, uint32_t self_slot, uint32_t name_id, uint32_t args, uint32_t argc,
                    uint32_t out, bool *found)
{
    uint32_t m = vm_reserve(vm, argc + 1);
    int r = vm_getattr_opt(vm, self_slot, name_id, m);
    *found = r == 1;
    bool ok = false;
    if (r == 1) {
        memcpy(&R[m + 1], &R[args], (size_t)argc * sizeof(V));
        ok = vm_call(vm, m, argc, 0, out);
    }
    vm_release(vm, m);
    return ok;
}

/* ---- generators */

/* Pushes the frame of the generator in gen_slot at base, resuming it. */
bool gen_push_frame(struct gi_vm *vm, uint32_t gen_slot, uint32_t base, uint32_t ret, uint16_t flags,
                    uint32_t send_slot)
{
    V g = R[gen_slot];
    uint64_t state = fields(g)[GEN_STATE];
    if (state == GS_RUNNING)
        return vm_raise(vm, B_VALUEERROR, "generator already executing");
    struct gi_code *code = &vm->codes[fields(g)[GEN_CODE]];
    if (state == GS_CREATED && send_slot && vm_kind(vm, R[send_slot]) != K_NONE)
        return vm_raise(vm, B_TYPEERROR, "can't send non-None value to a just-started generator");
    if (!frame_room(vm, base, code))
        return FAIL;
    uint32_t saved_ctop = vm->ctop;
    V saved = fields(g)[GEN_SAVED];
    uint32_t depth = (uint32_t)fields(g)[GEN_DEPTH];
    const V *from = arr_items(saved);
    for (uint32_t i = 0, n = code->nlocals + depth; i < n; i++)   /* a few slots: no memcpy call */
        R[base + i] = from[i];
    struct gi_frame *fr = vm_push_frame_struct(vm, code, base, ret, flags, saved_ctop);
    fr->pc = (uint32_t)fields(g)[GEN_PC];
    fr->sp = fr->stack + depth;
    fr->gen_slot = gen_slot;
    uint32_t nb = (uint32_t)fields(g)[GEN_NBLOCKS];
    V blocks = fields(g)[GEN_BLOCKS];
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t b = (uint64_t)arr_i64(blocks)[i];
        fr->blocks[i] = (struct gi_block){(uint32_t)(b >> 32), (uint32_t)b};
    }
    fr->nblocks = (uint16_t)nb;
    if (state == GS_SUSPENDED)
        R[fr->sp++] = send_slot ? R[send_slot] : vm_none(vm);
    fields(g)[GEN_STATE] = GS_RUNNING;
    return true;
}

/* The generator's frame is on top, its value to yield at R[sp]: saves the frame
 * into the generator and pops it. */
bool gen_suspend(struct gi_vm *vm, struct gi_frame *fr, uint32_t sp, uint32_t pc)
{
    uint32_t gs = fr->gen_slot;
    uint32_t depth = sp - fr->stack;
    if (fr->nblocks) {
        V g = R[gs];
        V blocks = fields(g)[GEN_BLOCKS];
        if (!blocks || arr_len(blocks) < fr->nblocks) {
            blocks = vm_alloc_array(vm, GR_CLASS_I64_ARRAY, GI_MAX_BLOCKS);
            if (!blocks)
                return FAIL;
            fr = &vm->frames[vm->nframes - 1];
            g = R[gs];
            vm_store_ref(vm, g, &fields(g)[GEN_BLOCKS], blocks);
        }
        for (uint32_t i = 0; i < fr->nblocks; i++)
            arr_i64(blocks)[i] = (int64_t)((uint64_t)fr->blocks[i].handler << 32 | fr->blocks[i].depth);
    }
    V g = R[gs];
    V saved = fields(g)[GEN_SAVED];
    vm_copy_refs(vm, saved, arr_items(saved), &R[fr->base], (uint64_t)fr->code->nlocals + depth);
    /* drop what the previous suspension left above the live slots */
    for (uint32_t i = fr->code->nlocals + depth; i < arr_len(saved) && arr_items(saved)[i]; i++)
        vm_store_ref(vm, saved, &arr_items(saved)[i], 0);
    fields(g)[GEN_PC] = pc;
    fields(g)[GEN_DEPTH] = depth;
    fields(g)[GEN_NBLOCKS] = fr->nblocks;
    fields(g)[GEN_STATE] = GS_SUSPENDED;
    return true;
}

void gen_finish(struct gi_vm *vm, struct gi_frame *fr)
{
    V g = R[fr->gen_slot];
    fields(g)[GEN_STATE] = GS_DONE;
    vm_store_ref(vm, g, &fields(g)[GEN_SAVED], 0);
    vm_store_ref(vm, g, &fields(g)[GEN_BLOCKS], 0);
}

int gen_resume(struct gi_vm *vm, uint32_t gen_slot, uint32_t send_slot, uint32_t out)
{
    V g = R[gen_slot];
    if (fields(g)[GEN_STATE] == GS_DONE) {
        R[out] = vm_none(vm);
        return RUN_RETURNED;
    }
    uint32_t base = vm->ctop;
    if (!gen_push_frame(vm, gen_slot, base, out, F_CENTRY, send_slot))
        return RUN_EXC;
    return vm_run_nested(vm);
}

/* Resumes the generator with an exception raised at its yield (generator.throw). */
int gen_throw(struct gi_vm *vm, uint32_t gen_slot, uint32_t exc_slot, uint32_t out)
{
    V g = R[gen_slot];
    if (fields(g)[GEN_STATE] == GS_DONE || fields(g)[GEN_STATE] == GS_CREATED) {
        if (fields(g)[GEN_STATE] == GS_CREATED)
            gen_finish(vm, &(struct gi_frame){.gen_slot = gen_slot});
        vm_raise_exc(vm, exc_slot);
        return RUN_EXC;
    }
    uint32_t base = vm->ctop;
    if (!gen_push_frame(vm, gen_slot, base, out, F_CENTRY, 0))
        return RUN_EXC;
    struct gi_frame *fr = &vm->frames[vm->nframes - 1];
    fr->sp--;   /* no sent value: the exception is raised instead */
    R[vm->r_exc] = R[exc_slot];
    if (vm->cdepth >= GI_MAX_CDEPTH) {
        vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded");
        return RUN_EXC;
    }
    vm->cdepth++;
    int r = run_loop(vm, true);
    vm->cdepth--;
    return r;
}

/* ---- imports */

bool vm_import(struct gi_vm *vm, uint32_t m, uint32_t out, bool *pushed)
{
    struct gi_module *mod = &vm->modules[m];
    *pushed = false;
    if (mod->state != 0 || mod->native) {
        if (mod->native == 2)
            return vm_raise(vm, B_MODULENOTFOUNDERROR, "No module named '%s'", mod->name);
        mod->state = 2;
        R[out] = vm->module_objs[m];
        return true;
    }
    mod->state = 1;
    struct gi_code *code = &vm->codes[mod->code];
    uint32_t base = vm->ctop;
    if (!push_code_frame(vm, code, base, out, F_MODULE)) {
        mod->state = 0;
        return FAIL;
    }
    *pushed = true;
    return true;
}
