/* runtime_support.c - test support for the runtime: a reference store that
 * bypasses the write barrier (what the marking verifiers must catch). */
#define _GNU_SOURCE
#include <errno.h>

#include "gcheap/testing.h"
#include "runtime/runtime_impl.h"

int gr_test_store_ref_unbarriered(gr_runtime *rt, int64_t h, int64_t idx, int64_t value_h)
{
    GR_ENTER(rt, m);
    int rc = 0;
    uintptr_t obj = gr_handle_get(rt, h);
    int64_t v = gr_value_of(rt, value_h);
    if (!obj || v < 0) {
        rc = -EBADF;
    } else {
        const struct gr_class *c = gr_class_at(rt, gr_hdr_class(*(uint64_t *)obj));
        if (c->kind != GR_KIND_INSTANCE || idx < 1 || idx > c->nrefs)
            rc = -ERANGE;
        else
            __atomic_store_n((uintptr_t *)obj + idx, (uintptr_t)v, __ATOMIC_RELEASE);
    }
    gr_leave(m);
    return rc;
}
