/* stw.c - collector "stw": stop-the-world sliding mark-compact. One driver runs
 * the named phases in order; gr_collect wraps any collector's driver in the
 * pause (stop, retire TLABs, run, resume) and the pause log. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "runtime.h"

static void update_root(uintptr_t *slot, void *arg) { *slot = gr_forward(arg, *slot); }

/* Page metadata computed: rewrites every root (handles, globals) to forward(root).
 * Interior references are rewritten by gr_compact_page as it copies. */
void gr_phase_update_roots(struct gr_runtime *rt)
{
    gr_visit_roots(rt, update_root, &rt->cx);
}

static int verify_phase(struct gr_runtime *rt, struct gr_pause *out, int phase)
{
    uint64_t t = gr_now_ns();
    int rc = gr_verify_stopped(rt, rt->verify_msg, sizeof rt->verify_msg);
    out->phase_ns[phase] = gr_now_ns() - t;
    return rc;
}

#define TIMED(phase, stmt) do { uint64_t t_ = gr_now_ns(); stmt; out->phase_ns[phase] = gr_now_ns() - t_; } while (0)

/* World stopped, TLABs retired. Leaves the heap compacted: [heap, heap + live)
 * holds the live objects in their old order, roots updated, top = heap + live.
 * Fails (heap untouched) before compaction starts: -EFAULT if verify-before
 * finds corruption, -ENOMEM if the mark stack cannot grow. */
int gr_stw_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    int rc;
    uint64_t moved = 0;
    if ((rt->options & GR_OPT_VERIFY) && (rc = verify_phase(rt, out, GR_PHASE_VERIFY_BEFORE)) < 0)
        return rc;
    TIMED(GR_PHASE_MARK, rc = gr_phase_mark(rt));                       /* trace from the roots */
    if (rc < 0)
        return rc;
    TIMED(GR_PHASE_COMPUTE_LIVENESS, gr_phase_compute_liveness(rt));   /* chunk offsets */
    int objects;
    TIMED(GR_PHASE_COMPUTE_PAGE_METADATA, objects = gr_phase_compute_page_metadata(rt, &moved));
    TIMED(GR_PHASE_UPDATE_ROOTS, gr_phase_update_roots(rt));           /* handles, globals */
    TIMED(GR_PHASE_COMPACT, gr_phase_compact(rt));                     /* slide, page by page */
    TIMED(GR_PHASE_RELEASE, gr_phase_release(rt));                     /* MADV_DONTNEED above top */
    out->live_bytes = rt->cx.live_bytes;
    out->moved_bytes = moved;
    out->live_objects = (uint64_t)objects;
    if ((rt->options & GR_OPT_VERIFY) && (rc = verify_phase(rt, out, GR_PHASE_VERIFY_AFTER)) < 0)
        return rc;
    return 0;
}

/* gc_lock held, caller out of core. Runs rt->collect inside a pause and logs it. */
int gr_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load(&rt->closed))
        return -ESHUTDOWN;
    out->collector = rt->collector;
    out->cause = cause;
    out->rss_before = gr_heap_resident(rt); /* sampled just before the pause */
    uint64_t t0 = gr_now_ns();
    out->start_ns = t0;
    gr_stop_world_locked(rt);
    out->phase_ns[GR_PHASE_SAFEPOINT] = gr_now_ns() - t0;
    gr_retire_all_tlabs(rt);
    out->used_before = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    int rc = rt->collect(rt, cause, out);
    gr_resume_world_locked(rt);
    out->pause_ns = gr_now_ns() - t0;
    gr_cmc_after_pause(rt);     /* cmc: GC workers start once the mutators run */
    if (rc < 0)
        return rc;
    out->freed_bytes = out->used_before - out->live_bytes;
    out->rss_after = gr_heap_resident(rt);
    atomic_fetch_add(&rt->gc_epoch, 1);
    gr_stats_record(rt, out);
    return 0;
}
