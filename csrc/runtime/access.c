/* access.c - field and element access: instance fields, arrays, strings.
 *
 * Every entry point enters the core, resolves its handle, checks the object's
 * class against what the call expects (kind, field range, index range), and
 * only then touches the object. Scalar getters return the value itself and
 * leave an error for gr_last_error() (callers look only when they got 0). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/runtime_impl.h"

static __thread int tl_last_error;

/* The write barrier's slow path (runtime_impl.h): the collector's barrier,
 * then the store. Not inlined, on purpose. A holder at or above the floor
 * (allocated while marking) needs no call: most of a program's stores while
 * marking go into objects it has just made. */
__attribute__((noinline)) void gr_store_ref_slow(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj,
                                                 uintptr_t *slot, uintptr_t value)
{
    if (obj < atomic_load_explicit(&rt->barrier_floor, memory_order_relaxed))
        rt->ops->barrier(rt, m, obj, slot, value);
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

int gr_last_error(void)
{
    int e = tl_last_error;
    tl_last_error = 0;
    return e;
}

/* In core: copies between a payload (from byte offset `off` of the object
 * behind h, past its header) and a buffer outside the heap, 1 MiB at a time,
 * polling for a pause in between; the handle is resolved again after each poll
 * because the object may have moved. */
#define GR_COPY_STEP (1u << 20)
int gr_copy_payload(struct gr_runtime *rt, struct gr_mutator *m, int64_t h, uint64_t off, char *buf,
                    uint64_t n, bool into_heap)
{
    for (uint64_t done = 0; done < n;) {
        uint64_t step = n - done < GR_COPY_STEP ? n - done : GR_COPY_STEP;
        char *payload = (char *)gr_handle_get(rt, h) + GR_WORD + off + done;
        if (into_heap)
            memcpy(payload, buf + done, step);
        else
            memcpy(buf + done, payload, step);
        done += step;
        if (done < n && gr_safepoint_poll(rt, m) < 0)
            return -ESHUTDOWN;
    }
    return 0;
}

/* ---- instance fields ------------------------------------------------------------ */

/* The word idx of the instance behind h if it is a reference (want_ref) or a
 * scalar field; NULL and *err otherwise. In core. */
static inline uintptr_t *field(struct gr_runtime *rt, int64_t h, int64_t idx, bool want_ref, uintptr_t *objp, int *err)
{
    uintptr_t obj = gr_handle_get(rt, h);
    if (!obj) {
        *err = -EBADF;
        return NULL;
    }
    const struct gr_class *c = gr_class_at(rt, gr_hdr_class(*(uint64_t *)obj));
    if (c->kind != GR_KIND_INSTANCE) {
        *err = -EINVAL;
        return NULL;
    }
    bool ok = want_ref ? (idx >= 1 && idx <= c->nrefs) : (idx > c->nrefs && idx <= (int64_t)c->nrefs + c->nscalars);
    if (!ok) {
        *err = -ERANGE;
        return NULL;
    }
    *objp = obj;
    return (uintptr_t *)obj + idx;
}

int64_t gr_get_ref(gr_runtime *rt, int64_t h, int64_t idx)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, true, &obj, &err);
    int64_t r = s ? gr_pack(rt, *s) : err;
    gr_leave(m);
    return r;
}


int gr_set_ref(gr_runtime *rt, int64_t h, int64_t idx, int64_t value_h)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, true, &obj, &err);
    int64_t v = gr_value_of(rt, value_h);
    if (s && v >= 0) {
        gr_store_ref(rt, m, obj, s, (uintptr_t)v);
    } else if (s) {
        err = (int)v;
    }
    gr_leave(m);
    return err;
}

int64_t gr_get_i64(gr_runtime *rt, int64_t h, int64_t idx)
{
    struct gr_mutator *m = gr_enter(rt);
    if (!m) {
        tl_last_error = gr_enter_err;
        return 0;
    }
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, false, &obj, &err);
    int64_t r = s ? (int64_t)*s : 0;
    gr_leave(m);
    if (!s)
        tl_last_error = err;
    return r;
}

int gr_set_i64(gr_runtime *rt, int64_t h, int64_t idx, int64_t v)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, false, &obj, &err);
    if (s)
        *(int64_t *)s = v;
    gr_leave(m);
    return err;
}

double gr_get_f64(gr_runtime *rt, int64_t h, int64_t idx)
{
    struct gr_mutator *m = gr_enter(rt);
    if (!m) {
        tl_last_error = gr_enter_err;
        return 0.0;
    }
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, false, &obj, &err);
    double r = 0.0;
    if (s)
        memcpy(&r, s, sizeof r);
    gr_leave(m);
    if (!s)
        tl_last_error = err;
    return r;
}

int gr_set_f64(gr_runtime *rt, int64_t h, int64_t idx, double v)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = field(rt, h, idx, false, &obj, &err);
    if (s)
        memcpy(s, &v, sizeof v);
    gr_leave(m);
    return err;
}

/* ---- arrays and strings ---------------------------------------------------------- */

/* Element i (negative: from the end) of the array behind h, of class want. */
static inline void *element(struct gr_runtime *rt, int64_t h, int64_t i, uint32_t want, uintptr_t *objp, int *err)
{
    uintptr_t obj = gr_handle_get(rt, h);
    if (!obj) {
        *err = -EBADF;
        return NULL;
    }
    uint64_t hdr = *(uint64_t *)obj;
    if (gr_hdr_class(hdr) != want) {
        *err = -EINVAL;
        return NULL;
    }
    int64_t n = gr_hdr_length(hdr);
    if (i < 0)
        i += n;
    if (i < 0 || i >= n) {
        *err = -ERANGE;
        return NULL;
    }
    *objp = obj;
    return want == GR_CLASS_U8_ARRAY ? (void *)(obj + GR_WORD + (uint64_t)i) : (void *)(obj + GR_WORD * (1 + (uint64_t)i));
}

int64_t gr_length(gr_runtime *rt, int64_t h)
{
    GR_ENTER(rt, m);
    uintptr_t obj = gr_handle_get(rt, h);
    int64_t r;
    if (!obj)
        r = -EBADF;
    else if (gr_class_at(rt, gr_hdr_class(*(uint64_t *)obj))->kind == GR_KIND_INSTANCE)
        r = -EINVAL;
    else
        r = gr_hdr_length(*(uint64_t *)obj);
    gr_leave(m);
    return r;
}

int64_t gr_aget_ref(gr_runtime *rt, int64_t h, int64_t i)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = element(rt, h, i, GR_CLASS_REF_ARRAY, &obj, &err);
    int64_t r = s ? gr_pack(rt, *s) : err;
    gr_leave(m);
    return r;
}

int gr_aset_ref(gr_runtime *rt, int64_t h, int64_t i, int64_t value_h)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uintptr_t *s = element(rt, h, i, GR_CLASS_REF_ARRAY, &obj, &err);
    int64_t v = gr_value_of(rt, value_h);
    if (s && v >= 0) {
        gr_store_ref(rt, m, obj, s, (uintptr_t)v);
    } else if (s) {
        err = (int)v;
    }
    gr_leave(m);
    return err;
}

int64_t gr_aget_i64(gr_runtime *rt, int64_t h, int64_t i)
{
    struct gr_mutator *m = gr_enter(rt);
    if (!m) {
        tl_last_error = gr_enter_err;
        return 0;
    }
    int err = 0;
    uintptr_t obj = 0;
    int64_t *s = element(rt, h, i, GR_CLASS_I64_ARRAY, &obj, &err);
    int64_t r = s ? *s : 0;
    gr_leave(m);
    if (!s)
        tl_last_error = err;
    return r;
}

int gr_aset_i64(gr_runtime *rt, int64_t h, int64_t i, int64_t v)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    int64_t *s = element(rt, h, i, GR_CLASS_I64_ARRAY, &obj, &err);
    if (s)
        *s = v;
    gr_leave(m);
    return err;
}

double gr_aget_f64(gr_runtime *rt, int64_t h, int64_t i)
{
    struct gr_mutator *m = gr_enter(rt);
    if (!m) {
        tl_last_error = gr_enter_err;
        return 0.0;
    }
    int err = 0;
    uintptr_t obj = 0;
    double *s = element(rt, h, i, GR_CLASS_F64_ARRAY, &obj, &err);
    double r = s ? *s : 0.0;
    gr_leave(m);
    if (!s)
        tl_last_error = err;
    return r;
}

int gr_aset_f64(gr_runtime *rt, int64_t h, int64_t i, double v)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    double *s = element(rt, h, i, GR_CLASS_F64_ARRAY, &obj, &err);
    if (s)
        *s = v;
    gr_leave(m);
    return err;
}

int64_t gr_aget_u8(gr_runtime *rt, int64_t h, int64_t i)
{
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uint8_t *s = element(rt, h, i, GR_CLASS_U8_ARRAY, &obj, &err);
    int64_t r = s ? *s : err;
    gr_leave(m);
    return r;
}

int gr_aset_u8(gr_runtime *rt, int64_t h, int64_t i, int64_t v)
{
    if (v < 0 || v > 255)
        return -EDOM;
    GR_ENTER(rt, m);
    int err = 0;
    uintptr_t obj = 0;
    uint8_t *s = element(rt, h, i, GR_CLASS_U8_ARRAY, &obj, &err);
    if (s)
        *s = (uint8_t)v;
    gr_leave(m);
    return err;
}

int gr_read_payload(gr_runtime *rt, int64_t h, uint64_t offset, uint64_t nbytes, void *out)
{
    GR_ENTER(rt, m);
    uintptr_t obj = gr_handle_get(rt, h);
    int rc = 0;
    if (!obj) {
        rc = -EBADF;
    } else {
        uint64_t hdr = *(uint64_t *)obj;
        const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
        uint64_t len = gr_hdr_length(hdr), payload;
        switch (c->kind) {
        case GR_KIND_U8_ARRAY:
        case GR_KIND_STRING: payload = len; break;
        case GR_KIND_I64_ARRAY:
        case GR_KIND_F64_ARRAY: payload = len * GR_WORD; break;
        default: payload = 0; rc = -EINVAL;
        }
        if (!rc && (offset > payload || nbytes > payload - offset))
            rc = -ERANGE;
        if (!rc)
            rc = gr_copy_payload(rt, m, h, offset, out, nbytes, false);
    }
    gr_leave(m);
    return rc;
}
