/* roots.c - the handle table, the global roots and the root providers.
 *
 * Python never holds a heap address: a Ref holds a handle, an index into this
 * table, whose slot the collector updates when the object moves. Slots live in
 * fixed blocks reached through a preallocated block directory, so a slot never
 * moves and the directory is never reallocated under a reader.
 * Slot encoding: an object address (8-byte aligned, nonzero) when in use, or
 * (next_free << 1) | 1 when on the free list. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "runtime/runtime_impl.h"

int gr_roots_init(struct gr_runtime *rt)
{
    rt->handle_blocks = calloc(GR_MAX_HANDLE_BLOCKS, sizeof(uintptr_t *));
    rt->globals = calloc(GR_MAX_GLOBALS, sizeof(uintptr_t));
    if (!rt->handle_blocks || !rt->globals)
        return -ENOMEM;
    return 0;
}

void gr_roots_fini(struct gr_runtime *rt)
{
    if (rt->handle_blocks)
        for (uint64_t b = 0; b < GR_MAX_HANDLE_BLOCKS && rt->handle_blocks[b]; b++)
            free(rt->handle_blocks[b]);
    free(rt->handle_blocks);
    free(rt->globals);
    rt->handle_blocks = NULL;
    rt->globals = NULL;
    rt->handle_hw = 0;
}

static inline uintptr_t *slot_of(struct gr_runtime *rt, uint64_t h)
{
    return &rt->handle_blocks[(h - 1) / GR_HANDLE_BLOCK][(h - 1) % GR_HANDLE_BLOCK];
}

/* In core: a new handle for obj, or -ENOSPC / -ENOMEM. */
int64_t gr_handle_new(struct gr_runtime *rt, uintptr_t obj)
{
    int64_t h;
    pthread_mutex_lock(&rt->handle_lock);
    if (rt->handle_free) {
        h = (int64_t)rt->handle_free;
        rt->handle_free = *slot_of(rt, (uint64_t)h) >> 1;
    } else {
        uint64_t next = rt->handle_hw + 1;
        uint64_t b = (next - 1) / GR_HANDLE_BLOCK;
        if (b >= GR_MAX_HANDLE_BLOCKS || next > 0x7fffffff) {
            pthread_mutex_unlock(&rt->handle_lock);
            return -ENOSPC;
        }
        if (!rt->handle_blocks[b]) {
            rt->handle_blocks[b] = calloc(GR_HANDLE_BLOCK, sizeof(uintptr_t));
            if (!rt->handle_blocks[b]) {
                pthread_mutex_unlock(&rt->handle_lock);
                return -ENOMEM;
            }
        }
        /* publish the slot's block before the handle number (lock-free readers) */
        atomic_store_explicit(&rt->handle_hw, next, memory_order_release);
        h = (int64_t)next;
    }
    *slot_of(rt, (uint64_t)h) = obj;
    __atomic_store_n(&rt->handles_live, rt->handles_live + 1, __ATOMIC_RELAXED);  /* under handle_lock */
    pthread_mutex_unlock(&rt->handle_lock);
    return h;
}

/* In core: the object a handle refers to, 0 if the handle is not in use.
 * handle_hw only grows and blocks are never freed while the runtime is open,
 * so reading without the lock is safe; the slot itself is ours (our Ref). */
uintptr_t gr_handle_get(struct gr_runtime *rt, int64_t h)
{
    if (h < 1 || (uint64_t)h > atomic_load_explicit(&rt->handle_hw, memory_order_acquire))
        return 0;
    uintptr_t v = *slot_of(rt, (uint64_t)h);
    return (v & 1) ? 0 : v;
}

int gr_handle_free(gr_runtime *rt, int64_t h)
{
    GR_ENTER(rt, m);
    int rc = 0;
    pthread_mutex_lock(&rt->handle_lock);
    if (h < 1 || (uint64_t)h > rt->handle_hw || (*slot_of(rt, (uint64_t)h) & 1) || !*slot_of(rt, (uint64_t)h)) {
        rc = -EBADF;
    } else {
        *slot_of(rt, (uint64_t)h) = (rt->handle_free << 1) | 1;
        rt->handle_free = (uint64_t)h;
        __atomic_store_n(&rt->handles_live, rt->handles_live - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&rt->handle_lock);
    gr_leave(m);
    return rc;
}

/* Out of core (roots_lock is taken by pauses with the world stopped: waiting
 * for it in core would deadlock). */
int gr_roots_add_provider(struct gr_runtime *rt, struct gr_root_provider *p)
{
    pthread_mutex_lock(&rt->roots_lock);
    int rc = 0;
    if (atomic_load(&rt->closed)) {
        rc = -ESHUTDOWN;
    } else {
        p->next = rt->providers;
        rt->providers = p;
        if (p->is_program)
            atomic_fetch_add(&rt->programs, 1);
    }
    pthread_mutex_unlock(&rt->roots_lock);
    return rc;
}

void gr_roots_remove_provider(struct gr_runtime *rt, struct gr_root_provider *p)
{
    pthread_mutex_lock(&rt->roots_lock);
    for (struct gr_root_provider **pp = &rt->providers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            if (p->is_program)
                atomic_fetch_sub(&rt->programs, 1);
            break;
        }
    }
    p->next = NULL;
    pthread_mutex_unlock(&rt->roots_lock);
}

/* World stopped: calls fn on every root slot that holds an object. */
void gr_visit_roots(struct gr_runtime *rt, gr_root_visitor fn, void *arg)
{
    for (uint64_t h = 1; h <= rt->handle_hw; h++) {
        uintptr_t *s = slot_of(rt, h);
        if (*s && !(*s & 1))
            fn(s, arg);
    }
    uint64_t ng = atomic_load(&rt->globals_hw);
    for (uint64_t g = 0; g < ng; g++)
        if (rt->globals[g])
            fn(&rt->globals[g], arg);
    pthread_mutex_lock(&rt->roots_lock);
    for (struct gr_root_provider *p = rt->providers; p; p = p->next)
        p->visit(p, fn, arg);
    pthread_mutex_unlock(&rt->roots_lock);
}
