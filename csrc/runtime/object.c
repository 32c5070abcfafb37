/* object.c - the object model: built-in classes and user class definition.
 *
 * The class table is a fixed-capacity malloc'd array outside the heap. Entries
 * are appended and never change once published (nclasses is the publication
 * point), so the collector and a fault handler may read them without a lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "runtime/runtime_impl.h"

int gr_classes_init(struct gr_runtime *rt)
{
    rt->classes = calloc(GR_MAX_CLASSES, sizeof(struct gr_class));
    if (!rt->classes)
        return -ENOMEM;
    rt->classes[GR_CLASS_FILLER].kind = GR_KIND_FILLER;
    rt->classes[GR_CLASS_REF_ARRAY].kind = GR_KIND_REF_ARRAY;
    rt->classes[GR_CLASS_U8_ARRAY].kind = GR_KIND_U8_ARRAY;
    rt->classes[GR_CLASS_I64_ARRAY].kind = GR_KIND_I64_ARRAY;
    rt->classes[GR_CLASS_F64_ARRAY].kind = GR_KIND_F64_ARRAY;
    rt->classes[GR_CLASS_STRING].kind = GR_KIND_STRING;
    /* ids 6, 7 are reserved (kind FILLER with nothing that uses them) */
    atomic_store(&rt->nclasses, GR_FIRST_USER_CLASS);
    return 0;
}

int gr_define_class(gr_runtime *rt, uint32_t nrefs, uint32_t nscalars)
{
    if (nrefs > 65536 || nscalars > 65536)
        return -EINVAL;
    GR_ENTER(rt, m);
    int rc;
    pthread_mutex_lock(&rt->class_lock);
    uint32_t id = atomic_load(&rt->nclasses);
    if (id >= GR_MAX_CLASSES) {
        rc = -ENOSPC;
    } else {
        struct gr_class *c = &rt->classes[id];
        c->kind = GR_KIND_INSTANCE;
        c->nrefs = nrefs;
        c->nscalars = nscalars;
        c->size = GR_WORD * (1 + nrefs + nscalars);
        atomic_store_explicit(&rt->nclasses, id + 1, memory_order_release);
        rc = (int)id;
    }
    pthread_mutex_unlock(&rt->class_lock);
    gr_leave(m);
    return rc;
}
