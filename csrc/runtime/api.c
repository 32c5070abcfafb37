/* api.c - the public entry points: lifecycle, allocation, handles, global
 * roots, collection, verification, heap info (field and element access: access.c).
 *
 * Every mutator entry point enters the core (safepoint protocol), validates
 * its arguments against the handle table and the class table, and never keeps
 * a raw heap address across an allocation (which may collect). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_impl.h"

/* ---- allocation -------------------------------------------------------------- */


/* In core: allocates an object of `size` bytes with this header, returns its packed ref. */
static int64_t new_object(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size, uint64_t hdr)
{
    if (size > rt->capacity)
        return -ENOMEM;
    int err = 0;
    uintptr_t p = gr_alloc(rt, m, size, &err);
    if (!p)
        return err;
    *(uint64_t *)p = hdr;
    return gr_pack(rt, p);
}

int64_t gr_new_instance(gr_runtime *rt, int64_t class_id)
{
    GR_ENTER(rt, m);
    int64_t r;
    if (class_id < GR_FIRST_USER_CLASS || class_id >= atomic_load(&rt->nclasses))
        r = -EINVAL;
    else
        r = new_object(rt, m, rt->classes[class_id].size, gr_make_hdr((uint32_t)class_id, 0));
    gr_leave(m);
    return r;
}

int64_t gr_new_array(gr_runtime *rt, int64_t class_id, int64_t length)
{
    if (class_id < GR_CLASS_REF_ARRAY || class_id > GR_CLASS_F64_ARRAY)
        return -EINVAL;
    if (length < 0 || length > (int64_t)GR_MAX_LENGTH)
        return -ERANGE;
    GR_ENTER(rt, m);
    uint64_t size = gr_size_of(&rt->classes[class_id], (uint32_t)length);
    int64_t r = new_object(rt, m, size, gr_make_hdr((uint32_t)class_id, (uint32_t)length));
    gr_leave(m);
    return r;
}

int64_t gr_new_str(gr_runtime *rt, const char *utf8, uint64_t nbytes)
{
    if (nbytes > GR_MAX_LENGTH || (nbytes && !utf8))
        return -ERANGE;
    GR_ENTER(rt, m);
    uint64_t size = gr_size_of(&rt->classes[GR_CLASS_STRING], (uint32_t)nbytes);
    int64_t r = new_object(rt, m, size, gr_make_hdr(GR_CLASS_STRING, (uint32_t)nbytes));
    if (r > 0 && gr_copy_payload(rt, m, r & 0xffffffff, 0, (char *)utf8, nbytes, true) < 0)
        r = -ESHUTDOWN;
    gr_leave(m);
    return r;
}

/* ---- handles ------------------------------------------------------------------ */

int64_t gr_handle_dup(gr_runtime *rt, int64_t h)
{
    GR_ENTER(rt, m);
    uintptr_t obj = gr_handle_get(rt, h);
    int64_t r = obj ? gr_pack(rt, obj) : -EBADF;
    gr_leave(m);
    return r;
}

int gr_same(gr_runtime *rt, int64_t h1, int64_t h2)
{
    GR_ENTER(rt, m);
    uintptr_t a = gr_handle_get(rt, h1), b = gr_handle_get(rt, h2);
    gr_leave(m);
    if (!a || !b)
        return -EBADF;
    return a == b;
}

int64_t gr_class_of(gr_runtime *rt, int64_t h)
{
    GR_ENTER(rt, m);
    uintptr_t a = gr_handle_get(rt, h);
    int64_t r = a ? (int64_t)gr_hdr_class(*(uint64_t *)a) : -EBADF;
    gr_leave(m);
    return r;
}

int64_t gr_address(gr_runtime *rt, int64_t h)
{
    GR_ENTER(rt, m);
    uintptr_t a = gr_handle_get(rt, h);
    gr_leave(m);
    return a ? (int64_t)a : -EBADF;
}

/* ---- global roots ---------------------------------------------------------------- */

int gr_global_set(gr_runtime *rt, int64_t idx, int64_t value_h)
{
    if (idx < 0 || idx >= GR_MAX_GLOBALS)
        return -ERANGE;
    GR_ENTER(rt, m);
    int64_t v = gr_value_of(rt, value_h);
    if (v >= 0) {
        uint64_t hw = atomic_load(&rt->globals_hw);
        while (hw < (uint64_t)idx + 1 && !atomic_compare_exchange_weak(&rt->globals_hw, &hw, (uint64_t)idx + 1))
            ;
        rt->globals[idx] = (uintptr_t)v;
    }
    gr_leave(m);
    return v < 0 ? (int)v : 0;
}

int64_t gr_global_get(gr_runtime *rt, int64_t idx)
{
    if (idx < 0 || idx >= GR_MAX_GLOBALS)
        return -ERANGE;
    GR_ENTER(rt, m);
    int64_t r = gr_pack(rt, rt->globals[idx]);
    gr_leave(m);
    return r;
}

/* ---- collection, verification, info ------------------------------------------------ */

int gr_verify(gr_runtime *rt, char *msg, uint64_t cap)
{
    if (!rt)
        return -EBADF;
    if (cap)
        msg[0] = 0;
    pthread_mutex_lock(&rt->gc_lock);
    int rc;
    if (atomic_load(&rt->closed)) {
        rc = -ESHUTDOWN;
    } else {
        gr_stop_world_locked(rt);
        gr_retire_all_tlabs(rt);
        rc = gr_verify_stopped(rt, rt->verify_msg, sizeof rt->verify_msg);
        gr_resume_world_locked(rt);
    }
    if (cap && rc == -EFAULT) {
        strncpy(msg, rt->verify_msg, cap - 1);
        msg[cap - 1] = 0;
    }
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}

int gr_last_verify_message(gr_runtime *rt, char *msg, uint64_t cap)
{
    if (!rt || !cap)
        return -EINVAL;
    pthread_mutex_lock(&rt->gc_lock);
    strncpy(msg, rt->verify_msg, cap - 1);
    msg[cap - 1] = 0;
    pthread_mutex_unlock(&rt->gc_lock);
    return 0;
}

/* Without gc_lock (a concurrent cycle holds it while it marks): every field is
 * one atomic read; a close() meanwhile is reported as -ESHUTDOWN. */
int gr_heap_info(gr_runtime *rt, struct gr_heap_info *out)
{
    if (!rt)
        return -EBADF;
    memset(out, 0, sizeof *out);
    if (atomic_load(&rt->closed))
        return -ESHUTDOWN;
    out->address = (uintptr_t)rt->heap;
    out->capacity = rt->capacity;
    out->soft_limit = atomic_load(&rt->soft_limit);
    out->used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    out->live = __atomic_load_n(&rt->last_live, __ATOMIC_RELAXED);
    out->page_size = GR_PAGE;
    out->tlab_bytes = rt->tlab_bytes;
    out->resident = gr_heap_resident(rt);
    return atomic_load(&rt->closed) ? -ESHUTDOWN : 0;
}
