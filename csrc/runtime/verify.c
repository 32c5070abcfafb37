/* verify.c - walks the heap and every root; reports the first bad object.
 *
 * Checks: every object in [heap, top) has a known class and ends at or below
 * top; every reference field and every root is 0 (fields only) or the start of
 * a non-filler object in [heap, top); the rest of top's page is zero (but in the heap's dirty range). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_impl.h"

struct vstate {
    struct gr_runtime *rt;
    uint64_t *starts;   /* bit per word: an object (not a filler) starts here */
    uintptr_t top;
    char *msg;
    size_t cap;
    int err;
    const char *what;
};

static bool is_object(struct vstate *v, uintptr_t a)
{
    uintptr_t h = (uintptr_t)v->rt->heap;
    if (a < h || a >= v->top || (a & 7))
        return false;
    uint64_t w = (a - h) / GR_WORD;
    return (v->starts[w / 64] >> (w % 64)) & 1;
}

static void check_root(uintptr_t *slot, void *arg)
{
    struct vstate *v = arg;
    if (v->err || is_object(v, *slot))
        return;
    v->err = -EFAULT;
    snprintf(v->msg, v->cap, "root slot %p holds 0x%" PRIxPTR ", which is not an object", (void *)slot, *slot);
}

/* World stopped, TLABs retired. 0, -EFAULT (message in msg) or -ENOMEM. */
int gr_verify_stopped(struct gr_runtime *rt, char *msg, size_t cap)
{
    uintptr_t heap = (uintptr_t)rt->heap, top = atomic_load(&rt->top);
    uint32_t ncls = atomic_load(&rt->nclasses);
    struct vstate v = {rt, calloc((top - heap) / GR_WORD / 64 + 1, sizeof(uint64_t)), top, msg, cap, 0, NULL};
    if (!v.starts)
        return -ENOMEM;
    msg[0] = 0;
    /* pass 1: parse the heap object by object */
    for (uintptr_t a = heap; a < top;) {
        uint64_t hdr = *(uint64_t *)a;
        uint32_t cls = gr_hdr_class(hdr);
        if (cls >= ncls || (cls > GR_CLASS_STRING && cls < GR_FIRST_USER_CLASS)) {
            snprintf(msg, cap, "object at 0x%" PRIxPTR " (heap offset %" PRIu64 "): bad class id %u",
                     a, (uint64_t)(a - heap), cls);
            v.err = -EFAULT;
            goto out;
        }
        uint64_t size = gr_size_of(&rt->classes[cls], gr_hdr_length(hdr));
        if (size == 0 || size > top - a) {
            snprintf(msg, cap, "object at 0x%" PRIxPTR " (heap offset %" PRIu64 ", class %u): size %" PRIu64
                     " runs past top", a, (uint64_t)(a - heap), cls, size);
            v.err = -EFAULT;
            goto out;
        }
        if (cls != GR_CLASS_FILLER) {
            uint64_t w = (a - heap) / GR_WORD;
            v.starts[w / 64] |= UINT64_C(1) << (w % 64);
        }
        a += size;
    }
    /* pass 2: every reference field points at an object start */
    for (uintptr_t a = heap; a < top;) {
        uint64_t hdr = *(uint64_t *)a;
        const struct gr_class *c = &rt->classes[gr_hdr_class(hdr)];
        uint64_t first, count;
        gr_ref_words(c, gr_hdr_length(hdr), &first, &count);
        for (uint64_t i = 0; i < count; i++) {
            uintptr_t r = ((uintptr_t *)a)[first + i];
            if (r && !is_object(&v, r)) {
                snprintf(msg, cap, "object at 0x%" PRIxPTR " (heap offset %" PRIu64 ", class %u): reference %"
                         PRIu64 " holds 0x%" PRIxPTR ", which is not an object",
                         a, (uint64_t)(a - heap), gr_hdr_class(hdr), i, r);
                v.err = -EFAULT;
                goto out;
            }
        }
        a += gr_size_of(c, gr_hdr_length(hdr));
    }
    /* roots */
    gr_visit_roots(rt, check_root, &v);
    if (v.err)
        goto out;
    /* [top, end of top's page) must be zero, but in the dirty range (which
     * the claims zero): allocation relies on it */
    uintptr_t dirty_lo = heap + atomic_load(&rt->dirty_lo), dirty_hi = heap + atomic_load(&rt->dirty_hi);
    for (uintptr_t a = top; a & (GR_PAGE - 1); a += GR_WORD)
        if (*(uint64_t *)a && !(a >= dirty_lo && a < dirty_hi)) {
            snprintf(msg, cap, "word at 0x%" PRIxPTR " above top (heap offset %" PRIu64 ") is not zero",
                     a, (uint64_t)(a - heap));
            v.err = -EFAULT;
            goto out;
        }
out:
    free(v.starts);
    return v.err;
}
