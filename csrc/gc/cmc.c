/* cmc.c - collector "cmc": the runtime's phases in a pause, then the
 * flip, then concurrent compaction by the cmc machinery (csrc/cmc) with
 * gr_compact_page as the page builder.
 *
 * The pause (gr_pause_run stops the world and retires TLABs, then calls us):
 *   wait for the previous cycle      (a collection never starts mid-cycle)
 *   mark, compute_liveness,          (the stw phases; "mark" pause)
 *   compute_page_metadata
 *   update_roots                     ("flip.roots": handles, globals)
 *   cmc_flip                         ("flip.register", "flip.mremap")
 *   top = heap + live                (allocation continues above the new top)
 * After the pause GC workers and faulting mutators build the pages; the
 * compact context (bitmap, chunk offsets, page metadata) stays untouched until
 * the cycle ends, because the next collection waits for it first.
 *
 * If the flip fails, the heap is intact where it was and the roots already
 * point to post-compaction addresses: the stw slide finishes the collection in
 * the same pause (the report says concurrent=0 and the flip's error).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/gc_impl.h"

struct gr_cmc {
    struct cmc *c;
    uint32_t *src_first;        /* one per possible destination page */
    uint64_t src_first_bytes;
    struct gr_cmc_info info;
    struct cmc_stats last;      /* stats of the last complete cycle */
};

static int build_page(void *ctx, uint64_t dst_page, const char *from_image, char *dst_buf)
{
    return gr_compact_page(ctx, dst_page, from_image, dst_buf);
}

static void snapshot(struct gr_cmc *g)
{
    cmc_get_stats(g->c, &g->last);
}

#define TIMED(phase, stmt) do { uint64_t t_ = gr_now_ns(); stmt; out->phase_ns[phase] = gr_now_ns() - t_; } while (0)

/* The pause: world stopped, TLABs retired (gr_pause_run). */
static int cmc_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gr_cmc *g = rt->gc->cmc;
    int rc;
    uint64_t moved = 0;
    if (cmc_active(g->c)) {
        /* An allocation ran out during a cycle: finish it (workers need no mutator). */
        rc = cmc_wait(g->c, -1);
        if (rc < 0)
            return rc;
    }
    snapshot(g);
    if (rt->options & GR_OPT_VERIFY) {
        uint64_t t = gr_now_ns();
        rc = gr_verify_stopped(rt, rt->verify_msg, sizeof rt->verify_msg);
        out->phase_ns[GR_PHASE_VERIFY_BEFORE] = gr_now_ns() - t;
        if (rc < 0)
            return rc;
    }
    TIMED(GR_PHASE_MARK, rc = gr_phase_mark(rt));
    if (rc < 0)
        return rc;
    TIMED(GR_PHASE_COMPUTE_LIVENESS, gr_phase_compute_liveness(rt));
    int objects;
    TIMED(GR_PHASE_COMPUTE_PAGE_METADATA, objects = gr_phase_compute_page_metadata(rt, &moved));
    TIMED(GR_PHASE_UPDATE_ROOTS, gr_phase_update_roots(rt));
    out->live_bytes = gr_cx(rt)->live_bytes;
    out->moved_bytes = moved;
    out->live_objects = (uint64_t)objects;

    /* The flip moves the WHOLE heap, not just [heap, high water): moving part
     * of the mapping leaves it split in two VMAs for good (the moved part gets
     * a fresh anon_vma), and moving empty page tables costs next to nothing.
     * Pages above the new top are then served as zero pages on first touch. */
    uint64_t t = gr_now_ns();
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t used = atomic_load(&rt->top) == (uintptr_t)rt->heap && rt->high_water == (uintptr_t)rt->heap
                    ? 0 : rt->capacity;
    for (uint64_t p = 0; p < cx->n_dst_pages; p++)
        g->src_first[p] = (uint32_t)(cx->pages[p].first_obj / GR_PAGE);
    rc = used ? cmc_flip(g->c, used, cx->n_dst_pages, g->src_first) : -ENODATA;
    g->info.flip_error = rc == -ENODATA ? 0 : rc;
    g->info.concurrent = rc == 0;
    if (rc == -ENOTRECOVERABLE)
        return -EFAULT;     /* flip="remap" lost the heap's range for good */
    if (rc == 0) {
        atomic_store(&rt->top, (uintptr_t)rt->heap + cx->live_bytes);
        rt->high_water = (uintptr_t)rt->heap + cx->live_bytes;
        rt->last_live = cx->live_bytes;
        gr_heap_resize(rt, cx->live_bytes);
    } else {
        /* Heap intact in place, roots already forwarded: slide stop-the-world. */
        gr_phase_compact(rt);
        gr_phase_release(rt);
    }
    out->phase_ns[GR_PHASE_COMPACT] = gr_now_ns() - t;
    g->info.roots_ns = out->phase_ns[GR_PHASE_UPDATE_ROOTS];
    g->info.mark_ns = out->phase_ns[GR_PHASE_SAFEPOINT] + out->phase_ns[GR_PHASE_VERIFY_BEFORE] +
                      out->phase_ns[GR_PHASE_MARK] + out->phase_ns[GR_PHASE_COMPUTE_LIVENESS] +
                      out->phase_ns[GR_PHASE_COMPUTE_PAGE_METADATA];
    g->info.pause_seq = atomic_load(&rt->gc_epoch) + 1;
    return 0;
}

static bool is_cmc(gr_runtime *rt) { return rt && rt->ops == &gr_cmc_ops && rt->gc && rt->gc->cmc; }

static int cmc_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    return gr_pause_run(rt, cause, GR_PAUSE_MARK_FLIP, cmc_pause, NULL, out);
}

/* gr_pause_run, world resumed: the GC workers may go. */
static void cmc_after_pause(struct gr_runtime *rt)
{
    cmc_start(rt->gc->cmc->c);
}

static int cmc_wait_op(struct gr_runtime *rt, int timeout_ms)
{
    return cmc_wait(rt->gc->cmc->c, timeout_ms);
}

static void cmc_fini(struct gr_runtime *rt)
{
    struct gr_gc *gc = rt->gc;
    struct gr_cmc *g = gc ? gc->cmc : NULL;
    if (g) {
        cmc_destroy(g->c);      /* waits for a running cycle first */
        munmap(g->src_first, g->src_first_bytes);
        free(g);
        gc->cmc = NULL;
    }
    gr_gc_state_fini(rt);
}

static int cmc_init(struct gr_runtime *rt, const void *config)
{
    struct cmc_config defaults = {
        .fault_mode = CMC_FAULT_SIGBUS, .install = CMC_INSTALL_COPY, .gc_threads = 1,
        .flip = CMC_FLIP_DONTUNMAP, .run_pages = 16, .release_batch_pages = 64,
    };
    const struct cmc_config *cfg = config ? config : &defaults;
    int rc = gr_gc_state_init(rt);
    struct gr_cmc *g = NULL;
    if (rc == 0 && !(g = calloc(1, sizeof *g)))
        rc = -ENOMEM;
    if (rc == 0) {
        rt->gc->cmc = g;
        /* one entry per possible destination page, committed on first touch */
        g->src_first_bytes = rt->capacity / GR_PAGE * sizeof(uint32_t);
        void *p = mmap(NULL, g->src_first_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            g->src_first = NULL;
            rc = -errno;
        } else {
            g->src_first = p;
        }
    }
    if (rc == 0)
        rc = cmc_create((uintptr_t)rt->heap, rt->capacity, cfg, &g->c);
    if (rc == 0)
        rc = cmc_set_builder(g->c, build_page, gr_cx(rt));
    if (rc < 0) {
        if (g && g->c)
            cmc_destroy(g->c);
        if (g && g->src_first)
            munmap(g->src_first, g->src_first_bytes);
        free(g);
        if (rt->gc)
            rt->gc->cmc = NULL;
        gr_gc_state_fini(rt);
        return rc;
    }
    g->info.enabled = 1;
    return 0;
}

const struct gr_collector_ops gr_cmc_ops = {
    .name = "cmc",
    .id = GR_COLLECTOR_CMC,
    .init = cmc_init,
    .fini = cmc_fini,
    .collect = cmc_collect,
    .after_pause = cmc_after_pause,
    .wait = cmc_wait_op,
};

/* ---- public entry points (gcheap/gc.h) ---- */

int gr_cmc_wait(gr_runtime *rt, int timeout_ms)
{
    if (!rt)
        return -EBADF;
    return is_cmc(rt) ? cmc_wait(rt->gc->cmc->c, timeout_ms) : 0;
}

int gr_cmc_active(gr_runtime *rt)
{
    return is_cmc(rt) ? cmc_active(rt->gc->cmc->c) : 0;
}

int gr_cmc_info(gr_runtime *rt, struct gr_cmc_info *info, struct cmc_stats *stats)
{
    if (!rt)
        return -EBADF;
    if (!is_cmc(rt)) {
        if (info)
            memset(info, 0, sizeof *info);
        if (stats)
            memset(stats, 0, sizeof *stats);
        return 0;
    }
    struct gr_cmc *g = rt->gc->cmc;
    if (info) {
        *info = g->info;
        info->forked = cmc_forked(g->c);
    }
    if (stats)
        cmc_get_stats(g->c, stats);
    return 0;
}

int gr_cmc_totals(gr_runtime *rt, struct cmc_totals *out)
{
    if (!rt || !out)
        return -EBADF;
    if (!is_cmc(rt)) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    return cmc_get_totals(rt->gc->cmc->c, out);
}

int gr_cmc_stalls(gr_runtime *rt, double *out, int max)
{
    if (!is_cmc(rt))
        return -EBADF;
    return cmc_get_stalls(rt->gc->cmc->c, out, max);
}

int gr_cmc_inject(gr_runtime *rt, int point, int nth, int times, int err)
{
    if (!is_cmc(rt))
        return -EBADF;
    return cmc_inject(rt->gc->cmc->c, point, nth, times, err);
}
