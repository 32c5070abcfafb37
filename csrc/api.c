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

#include "runtime.h"

static _Atomic uint64_t next_runtime_serial = 1;
/* ---- lifecycle ------------------------------------------------------------- */

int gr_runtime_new(uint64_t heap_size, int collector, int options, gr_runtime **out)
{
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("popcnt"))
        return -ENOTSUP;
#endif
    const struct gr_collector_ops *ops = gr_collector_ops(collector);
    if (!ops || (options & ~(GR_OPT_VERIFY | GR_OPT_STRESS)))
        return -EINVAL;
    struct gr_runtime *rt;
    if (posix_memalign((void **)&rt, 64, sizeof *rt))
        return -ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->serial = atomic_fetch_add(&next_runtime_serial, 1);
    rt->options = options;
    rt->collector = collector;
    rt->ops = ops;
    rt->collect = ops->collect;
    pthread_mutex_init(&rt->class_lock, NULL);
    pthread_mutex_init(&rt->handle_lock, NULL);
    pthread_mutex_init(&rt->pause_lock, NULL);
    pthread_cond_init(&rt->pause_cond, NULL);
    pthread_mutex_init(&rt->gc_lock, NULL);
    pthread_mutex_init(&rt->stats_lock, NULL);
    int rc;
    if ((rc = gr_classes_init(rt)) || (rc = gr_roots_init(rt)) || (rc = gr_heap_init(rt, heap_size)) ||
        (ops->init && (rc = ops->init(rt)))) {
        gr_heap_fini(rt);
        gr_roots_fini(rt);
        free(rt->classes);
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int gr_runtime_close(gr_runtime *rt)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    if (atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        return 0;
    }
    atomic_store(&rt->closed, 1);
    gr_cmc_fini(rt);    /* the heap must be whole before it goes */
    gr_stop_world_locked(rt);
    if (rt->ops->fini)
        rt->ops->fini(rt);
    gr_heap_fini(rt);
    gr_roots_fini(rt);
    free(rt->classes);
    rt->classes = NULL;
    rt->cx.classes = NULL;
    free(rt->mark_stack);
    rt->mark_stack = NULL;
    rt->mark_cap = 0;
    gr_resume_world_locked(rt);
    pthread_mutex_unlock(&rt->gc_lock);
    return 0;
}

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

int gr_gc(gr_runtime *rt, struct gr_pause *out)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    int rc = gr_collect(rt, GR_CAUSE_EXPLICIT, out);
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}

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

int gr_heap_info(gr_runtime *rt, struct gr_heap_info *out)
{
    if (!rt)
        return -EBADF;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rt->gc_lock);
    int rc = 0;
    if (atomic_load(&rt->closed)) {
        rc = -ESHUTDOWN;
    } else {
        out->address = (uintptr_t)rt->heap;
        out->capacity = rt->capacity;
        out->used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
        out->live = rt->last_live;
        out->page_size = GR_PAGE;
        out->tlab_bytes = rt->tlab_bytes;
    }
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}

int64_t gr_debug_compact_to_buffer(gr_runtime *rt, char *out, uint64_t cap)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    int64_t rc = 0;
    if (atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        return -ESHUTDOWN;
    }
    gr_stop_world_locked(rt);
    gr_retire_all_tlabs(rt);
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    char *image = malloc(used + GR_PAGE);
    if (!image) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(image, rt->heap, used);
    if ((rc = gr_phase_mark(rt)) < 0)
        goto out;
    gr_phase_compute_liveness(rt);
    uint64_t moved;
    gr_phase_compute_page_metadata(rt, &moved);
    if (rt->cx.n_dst_pages * GR_PAGE > cap) {
        rc = -ERANGE;
        goto out;
    }
    for (uint64_t p = 0; p < rt->cx.n_dst_pages && rc == 0; p++)
        rc = gr_compact_page(&rt->cx, p, image, out + p * GR_PAGE);
    if (rc == 0)
        rc = (int64_t)rt->cx.live_bytes;
out:
    free(image);
    gr_resume_world_locked(rt);
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}
