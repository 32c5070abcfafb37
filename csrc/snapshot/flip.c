/* flip.c - the snapshot's only pause.
 *
 *   capture    classes, globals, heap limits (what a restore needs)
 *   move       mremap(heap, capacity -> staging, MAYMOVE|FIXED|DONTUNMAP)
 *   touch      one write to the heap's first page (see below)
 *   arm        register [heap, heap + reg_len) MISSING with the page server,
 *              MADV_DONTNEED it (drops the touched page)
 *
 * Why this order (the compactor's flip does the same, csrc/cmc/flip.c): the
 * kernel moves whole page tables (PMD/PUD, ~10x cheaper than PTE by PTE) only
 * for a VMA without a userfaultfd registration, so we move first and register
 * after; the move is atomic for every other thread (no window in which a write
 * to the heap is lost or lands after the copy, the race crosvm's vmm-swap had
 * between its memcpy and MADV_REMOVE), and the heap range stays mapped at every
 * instant, so nobody can take it. The whole reservation moves (moving part of
 * a VMA would split it for good); only [heap, reg_len), where the data is, is
 * registered: the mutators' allocations above it are ordinary faults. Registering
 * part of the VMA splits it; unregistering at the end merges it back only if both
 * parts share an anon_vma, which the moved-from VMA lost: the touch gives it one.
 *
 * Rollback: a failed registration moves the pages back; the heap is as it was.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "snapshot/snapshot_impl.h"

void gs_capture_state(struct gr_runtime *rt, struct gs_state *st)
{
    struct gs_header *h = &st->hdr;
    h->collector = rt->ops->id;
    h->heap_address = (uintptr_t)rt->heap;
    h->heap_capacity = rt->capacity;
    h->used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    h->soft_limit = atomic_load(&rt->soft_limit);
    h->live = __atomic_load_n(&rt->last_live, __ATOMIC_RELAXED);
    h->sizing_initial = rt->sizing.initial;
    h->sizing_min_free = rt->sizing.min_free;
    h->sizing_max_free = rt->sizing.max_free;
    h->target_utilization = rt->sizing.target_utilization;
    h->nclasses = atomic_load(&rt->nclasses);
    memcpy(st->classes, rt->classes, h->nclasses * sizeof(struct gr_class));
    h->nglobals = atomic_load(&rt->globals_hw);
    memcpy(st->globals, rt->globals, h->nglobals * sizeof(uint64_t));
}

int gs_move_back(struct gs_op *op)
{
    uintptr_t got = 0;
    int rc = gk_mremap_dontunmap(op->staging, op->capacity, op->heap, &got);
    if (rc == 0 && got != op->heap)
        rc = -EFAULT;
    return rc;
}

int gs_flip(struct gs_op *op)
{
    uintptr_t got = 0;
    int rc = gk_mremap_dontunmap(op->heap, op->capacity, op->staging, &got);
    if (rc == 0 && got != op->staging)
        rc = -EFAULT;
    if (rc < 0)
        return rc;              /* nothing moved */
    if (op->reg_len < op->capacity)
        *(volatile char *)op->heap = 0;
    rc = gs_injected(op, GS_INJ_FLIP);
    if (rc == 0)
        rc = gk_ps_arm(op->ps, op->reg_len);
    if (rc < 0) {
        int rb = gs_move_back(op);
        return rb < 0 ? -ENOTRECOVERABLE : rc;
    }
    return 0;
}
