/* stw.c - collector "stw": stop-the-world sliding mark-compact. Every phase
 * runs in one pause (gr_pause_run stops the world and retires TLABs). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "gc/gc_impl.h"

static void update_root(uintptr_t *slot, void *arg) { *slot = gr_forward(arg, *slot); }

/* Page metadata computed: rewrites every root (handles, globals, providers) to
 * forward(root). Interior references are rewritten by gr_compact_page as it copies. */
void gr_phase_update_roots(struct gr_runtime *rt)
{
    gr_visit_roots(rt, update_root, gr_cx(rt));
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
int gr_stw_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
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
    TIMED(GR_PHASE_UPDATE_ROOTS, gr_phase_update_roots(rt));           /* handles, globals, providers */
    TIMED(GR_PHASE_COMPACT, gr_phase_compact(rt));                     /* slide, page by page */
    TIMED(GR_PHASE_RELEASE, gr_phase_release(rt));                     /* free pages: zeroed, or released above the soft limit */
    out->live_bytes = gr_cx(rt)->live_bytes;
    out->moved_bytes = moved;
    out->live_objects = (uint64_t)objects;
    if ((rt->options & GR_OPT_VERIFY) && (rc = verify_phase(rt, out, GR_PHASE_VERIFY_AFTER)) < 0)
        return rc;
    return 0;
}

static int stw_init(struct gr_runtime *rt, const void *config)
{
    if (config)
        return -EINVAL;         /* stw has no options */
    return gr_gc_state_init(rt);
}

static int stw_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    return gr_pause_run(rt, cause, GR_PAUSE_FULL, gr_stw_pause, NULL, out);
}

const struct gr_collector_ops gr_stw_ops = {
    .name = "stw",
    .id = GR_COLLECTOR_STW,
    .init = stw_init,
    .fini = gr_gc_state_fini,
    .collect = stw_collect,
};
