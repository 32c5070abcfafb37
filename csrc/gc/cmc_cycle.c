/* cmc_cycle.c - one collection of collector "cmc", phase by phase.
 *
 * gc_lock is held for the whole cycle up to the flip (a second collection, a
 * verify or a fork waits for it); the mutators run between the pauses. Each
 * pause does only work bounded by the roots, the mutators' barrier buffers and
 * what was allocated since the previous pause, never a scan of the heap:
 *
 *   finish_previous   (concurrent) the last cycle's compaction completes; its
 *                     record is closed; the bitmaps are cleared
 *   START pause       TLABs retired; TAMS = top rounded up to a chunk; roots
 *                     greyed; barrier on (what is allocated from now on is
 *                     black: above TAMS, no bits set yet)
 *   mark              (concurrent) drain the mark stack and the full barrier
 *                     buffers until both are empty (precleaning)
 *   CATCHUP pause     the mutators' partial barrier buffers queued; then
 *                     precleaning again, concurrently
 *   REMARK pause      the mutators' partial buffers; drain for at most the
 *                     remark budget: when that is not enough, resume and go
 *                     back to mark (the last allowed attempt drains it all);
 *                     checks (debug); barrier off; allocation hook on (it
 *                     sets the bits of each object allocated from now on)
 *   prepare           (concurrent) the bits of what was allocated while
 *                     marking, [TAMS, top at remark), by one walk; chunk
 *                     offsets, page metadata, from-space sources of
 *                     everything below the top at remark
 *   CATCHUP pause(s)  while more than catchup_kib was allocated since:
 *                     TLABs retired; prepare goes on up to their top
 *   FLIP pause        TLABs retired; black allocation off; offsets and
 *                     metadata of what was allocated since the last catch-up
 *                     (or remark); roots forwarded; mremap + register;
 *                     top = live
 *   compaction        (concurrent) GC workers and faulting mutators (csrc/cmc)
 *
 * A failed cycle (a check found an unmarked object, a flip that cannot be
 * undone) leaves the heap as it was: marking only wrote bitmaps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gc/cmc_impl.h"

#define TIMED(phase, stmt) do { uint64_t t_ = gr_now_ns(); stmt; out->phase_ns[phase] += gr_now_ns() - t_; } while (0)
#define DEFAULT_REMARK_BUDGET_US 300
#define DEFAULT_REMARK_ATTEMPTS 8
/* Prepare goes on past the top at remark (after a catch-up pause) while more
 * than catchup_kib was allocated since what it covers: the flip pause computes
 * the offsets and metadata of the rest, about 55 ns per KiB (Splay), so that
 * 2 MiB cost it ~0.1 ms. */
#define DEFAULT_CATCHUP_KIB 2048
#define CATCHUP_ROUNDS 4

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void stress_delay(struct gr_cmc *g)
{
    int max_us = g->cfg.stress_delay_us;
    if (max_us > 0) {
        struct timespec ts = {0, (long)(gr_now_ns() % (uint64_t)max_us) * 1000};
        nanosleep(&ts, NULL);
    }
}

uint64_t gr_allocated_bytes(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->stats_lock);          /* dead_bytes_allocated is written under it */
    uint64_t sum = rt->dead_bytes_allocated;
    pthread_mutex_unlock(&rt->stats_lock);
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++)
        sum += __atomic_load_n(&rt->mutators[i].bytes_allocated, __ATOMIC_RELAXED);
    return sum;
}

static uint64_t chunks_of(uint64_t bytes) { return (bytes + GR_CHUNK_BYTES - 1) / GR_CHUNK_BYTES; }

/* ---- the cycle log ---- */

static void log_cycle(struct gr_cmc *g, const struct gr_cycle *c, int open)
{
    pthread_mutex_lock(&g->log_mu);
    if (g->nlog == g->caplog) {
        uint64_t cap = g->caplog ? 2 * g->caplog : 64;
        struct gr_cycle *n = realloc(g->log, cap * sizeof *n);
        if (n) {
            g->log = n;
            g->caplog = cap;
        }
    }
    if (g->nlog < g->caplog) {
        g->log[g->nlog] = *c;
        g->open_cycle = open ? (int64_t)g->nlog : -1;
        g->nlog++;
    }
    pthread_mutex_unlock(&g->log_mu);
}

static void record_pause(struct gr_cycle *cy, const struct gr_pause *p)
{
    if (cy->npauses < (int32_t)(sizeof cy->pause_seq / sizeof cy->pause_seq[0]))
        cy->pause_seq[cy->npauses] = p->seq;
    cy->npauses++;
    cy->total_pause_ns += p->pause_ns;
    if (p->pause_ns > cy->longest_pause_ns)
        cy->longest_pause_ns = p->pause_ns;
}

/* A record's allocation stalls: those that ended from its start until now. The
 * next record's window starts where this one ends (begin_record), so that no
 * stall falls between them. */
static void close_stall_window(struct gr_runtime *rt, struct gr_cmc *g, struct gr_cycle *cy)
{
    g->carry_ns = atomic_load(&rt->alloc_stall_ns);
    g->carry_stalls = atomic_load(&rt->alloc_stalls);
    g->stall_carry = 1;
    cy->alloc_stall_ns = g->carry_ns - g->stall_ns_at_start;
    cy->alloc_stalls = g->carry_stalls - g->stalls_at_start;
}

/* The compaction of the last cycle is over (or there is none): close its
 * record and clear the bitmaps for the next marking. */
int gr_cmc_finish_previous(struct gr_runtime *rt)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    if (cmc_active(g->c)) {
        int rc = cmc_wait(g->c, -1);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&g->log_mu);
    if (g->open_cycle >= 0) {
        struct gr_cycle *cy = &g->log[g->open_cycle];
        struct cmc_stats st;
        cmc_get_stats(g->c, &st);
        cy->compaction_ns = (uint64_t)(st.compaction_s * 1e9);
        cy->end_ns = cy->flip_end_ns + cy->compaction_ns;
        cy->gc_cpu_ns += (uint64_t)(st.gc_cpu_s * 1e9);
        /* the stalls that ended from the cycle's start until now, counted and
         * timed over the same window (a stall is counted when it ends) */
        close_stall_window(rt, g, cy);
        if (cy->live_bytes)
            g->compact_per_byte = st.compaction_s / (double)cy->live_bytes;
        g->open_cycle = -1;
    }
    pthread_mutex_unlock(&g->log_mu);
    if (g->bitmap_dirty) {
        struct gr_compact_ctx *cx = gr_cx(rt);
        uint64_t words = chunks_of(g->bitmap_dirty);
        memset(cx->live_words, 0, words * sizeof(uint64_t));
        memset(cx->obj_starts, 0, words * sizeof(uint64_t));
        g->bitmap_dirty = 0;
    }
    return 0;
}

/* ---- the pacer ---- */

/* The pacer, after a flip. Cycles cannot overlap: the next one marks only
 * once this one's compaction is over. So the free space must carry the
 * mutators through this compaction and the next marking, at the allocation
 * rate seen during the last cycles (with a 50% margin): the soft limit is raised
 * to live + that headroom when the usual sizing (gr_heap_resize) gives less,
 * and the next cycle is triggered when the free space left is what its own
 * marking and preparing needed last time, with the same margin. Until there is
 * a history, a cycle starts at three quarters of the soft limit. */
void gr_cmc_arm_trigger(struct gr_runtime *rt)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    if (g->cfg.no_pacing || cmc_forked(g->c)) {
        atomic_store(&rt->gc_trigger, UINT64_MAX);
        return;
    }
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    uint64_t live = __atomic_load_n(&rt->last_live, __ATOMIC_RELAXED);
    uint64_t soft = atomic_load(&rt->soft_limit);
    uint64_t trigger = soft - soft / 4;
    if (g->alloc_rate > 0) {
        double compact_s = g->compact_per_byte * (double)live;
        uint64_t mark_room = (uint64_t)(1.5 * g->alloc_rate * g->mark_s) + (1u << 20);
        uint64_t cycle_room = (uint64_t)(1.5 * g->alloc_rate * (g->mark_s + compact_s)) + (2u << 20);
        if (soft < live + cycle_room) {
            uint64_t want = live + cycle_room;
            want = (want + GR_PAGE - 1) & ~(uint64_t)(GR_PAGE - 1);
            soft = want < rt->capacity ? want : rt->capacity;
            atomic_store(&rt->soft_limit, soft);
        }
        trigger = soft > mark_room ? soft - mark_room : 0;
    }
    if (trigger < used)
        trigger = used;         /* already due: the next allocation slow path asks */
    atomic_store(&rt->gc_trigger, trigger);
}

/* ---- the pauses ---- */

static int verify_before(struct gr_runtime *rt, struct gr_pause *out)
{
    if (!(rt->options & GR_OPT_VERIFY))
        return 0;
    int rc;
    TIMED(GR_PHASE_VERIFY_BEFORE, rc = gr_verify_stopped(rt, rt->verify_msg, sizeof rt->verify_msg));
    return rc;
}

static int start_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gr_cmc *g = arg;
    struct gr_marker *mk = &rt->gc->mk;
    int rc = verify_before(rt, out);
    if (rc < 0)
        return rc;
    out->live_bytes = out->used_before;             /* nothing is freed in this pause */
    TIMED(GR_PHASE_MARK_ROOTS, gr_cmark_start(rt, mk));
    g->bitmap_dirty = atomic_load(&rt->top) - (uintptr_t)rt->heap;   /* grows with the cycle */
    if (g->cfg.checks & GR_CHECK_SATB) {
        TIMED(GR_PHASE_CHECK, rc = gr_check_snapshot(rt, g->snap, mk->tams - (uintptr_t)rt->heap));
        if (rc < 0) {
            atomic_store(&rt->barrier_on, 0);
            atomic_store(&rt->cycle_on, 0);
            return rc;
        }
    }
    g->alloc_at_start = gr_allocated_bytes(rt);
    atomic_store(&rt->gc_trigger, UINT64_MAX);       /* a cycle is running */
    return 0;
}

struct remark_arg {
    struct gr_cmc *g;
    int final;                  /* drain it all, whatever the budget */
    int done;
};

/* World stopped: abandon the marking (a check failed); the heap is untouched. */
static void abandon_marking(struct gr_runtime *rt)
{
    struct gr_marker *mk = &rt->gc->mk;
    gr_cmark_end(rt, mk);                           /* barrier off, buffers emptied */
    atomic_store(&rt->alloc_hook_on, 0);
    atomic_store(&rt->cycle_on, 0);
    mk->sp = mk->ssp = 0;
    mk->overflow = 0;
}

static int remark_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct remark_arg *ra = arg;
    struct gr_cmc *g = ra->g;
    struct gr_marker *mk = &rt->gc->mk;
    out->live_bytes = out->used_before;
    TIMED(GR_PHASE_SATB_FLUSH, gr_cmark_take_satb(rt, mk, 1));
    int done;
    uint64_t t = gr_now_ns();
    if (atomic_load(&mk->satb_lost)) {
        gr_cmark_full_remark(rt, mk);               /* a barrier buffer was lost: no shortcut */
        done = 1;
    } else {
        int budget = g->cfg.remark_budget_us > 0 ? g->cfg.remark_budget_us : DEFAULT_REMARK_BUDGET_US;
        uint64_t deadline = ra->final ? 0 : t + (uint64_t)budget * 1000u;
        done = gr_cmark_drain(rt, mk, deadline) && gr_cmark_rescan(rt, mk, deadline);
    }
    out->phase_ns[GR_PHASE_REMARK_DRAIN] += gr_now_ns() - t;
    ra->done = done;
    if (!done)
        return 0;               /* over budget: the mutators resume, marking goes on */
    int rc = 0;
    if (g->cfg.checks & GR_CHECK_SATB)
        TIMED(GR_PHASE_CHECK, rc = gr_check_snapshot_marked(rt, g->snap, mk->tams));
    uint64_t floating = 0;
    if (rc == 0 && (g->cfg.checks & GR_CHECK_MARK)) {
        TIMED(GR_PHASE_CHECK, rc = gr_checkmark(rt, mk->tams, &floating));
        if (rc == 0)
            mk->floating_checked = (int64_t)floating;
    }
    if (rc < 0) {
        abandon_marking(rt);
        return rc;
    }
    gr_cmark_end(rt, mk);                           /* marking complete: barrier off */
    g->remark_top = atomic_load(&rt->top);          /* TLABs retired: everything below is final */
    atomic_store(&rt->alloc_hook_on, 1);            /* bits for what comes above it */
    return 0;
}

/* The lowest from-space page destination page p reads: where the word that
 * lands at its start comes from (gr_compact_page reads nothing below it; not
 * its first object's start, which for a large object spanning many pages would
 * hold back the release and recycling of every page under it until the whole
 * object is built). */
static uint32_t src_page(const struct gr_compact_ctx *cx, uint64_t p)
{
    return (uint32_t)((cx->pages[p].first_obj + cx->pages[p].bytes_before) / GR_PAGE);
}

/* Offsets, metadata and sources of what was allocated since the prepared part,
 * up to heap offset f (TLABs retired there: its chunk is final, the next claim
 * starts on the next chunk boundary): chunks [prepared_chunks, chunks_of(f)),
 * destination pages from prepared_pages on. Leaves cx->live_bytes and
 * n_dst_pages; returns the live bytes. (A catch-up round, or the flip pause.) */
static uint64_t prepare_since(struct gr_runtime *rt, struct gr_cmc *g, uint64_t f)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t cf = chunks_of(f);
    if (cf < g->prepared_chunks)
        cf = g->prepared_chunks;
    cx->scan_limit = cf * GR_CHUNK_BYTES;
    uint64_t live = gr_liveness_range(cx, g->prepared_chunks, cf);
    cx->live_bytes = live;
    cx->n_dst_pages = (live + GR_PAGE - 1) / GR_PAGE;
    gr_pagemeta_range(cx, g->prepared_pages, cx->n_dst_pages);
    for (uint64_t p = g->prepared_pages; p < cx->n_dst_pages; p++)
        g->src_first[p] = src_page(cx, p);
    if (g->bitmap_dirty < f)
        g->bitmap_dirty = f;
    return live;
}

/* Before a remark: the mutators' partial barrier buffers go to the marker's
 * queue, which it drains concurrently; the remark then finds only what they
 * logged since (Splay's remarks had spent their whole 0.3 ms budget marking
 * from those buffers). */
static int flush_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    (void)arg;
    out->live_bytes = out->used_before;
    gr_satb_release_all(rt, &rt->gc->mk);
    return 0;
}

static int catchup_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gr_cmc *g = arg;
    out->live_bytes = out->used_before;
    g->catch_top = atomic_load(&rt->top);           /* TLABs retired: everything below is final */
    return 0;
}

/* Concurrent: prepare_since up to f, the new pages' sources handed to cmc, and
 * the prepared part advanced to f. */
static void advance_prepared(struct gr_runtime *rt, struct gr_cmc *g, uint64_t f)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t p0 = g->prepared_pages;
    prepare_since(rt, g, f);
    if (cmc_set_src_first(g->c, p0, cx->n_dst_pages - p0, g->src_first + p0) < 0)
        return;                 /* (cannot happen: no cycle runs) the flip sets them */
    g->prepared_chunks = cx->scan_limit / GR_CHUNK_BYTES;
    g->prepared_pages = cx->n_dst_pages;
}

/* Concurrent, after remark: the bits of what was allocated while marking, then
 * offsets, metadata and sources of everything below the top at remark (new
 * TLABs start on a chunk boundary above it). */
static void prepare(struct gr_runtime *rt, struct gr_cmc *g)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    gr_cmark_black_range(rt, rt->gc->mk.tams, g->remark_top);
    cx->chunk_offset[0] = 0;
    g->prepared_chunks = g->prepared_pages = 0;
    advance_prepared(rt, g, g->remark_top - cx->heap_start);
    g->moved_bytes = gr_moved_bytes(cx);
    g->moved_live = cx->live_bytes;
}

static void update_root(uintptr_t *slot, void *arg) { *slot = gr_forward(arg, *slot); }

/* The flip moves the WHOLE heap (moving part of the mapping would leave it split
 * in two VMAs for good: the moved part gets a fresh anon_vma; moving empty page
 * tables costs next to nothing) but registers only the destination pages: the
 * mutators allocate above them after the flip, and those first touches are then
 * ordinary page faults, not zero pages served through the userfaultfd. */
static int flip(struct gr_cmc *g, struct gr_runtime *rt, uint64_t n_build, const uint32_t *src_first)
{
    if (g->cfg.machinery.flip == CMC_FLIP_REMAP)
        return cmc_flip(g->c, rt->capacity, n_build, src_first);
    uint64_t reg = (n_build ? n_build : 1) * GR_PAGE;
    return cmc_flip_moving(g->c, rt->capacity, reg, n_build, src_first);
}

/* rt->claim_hint from the heap offset cmc_set_prefault / cmc_want_present return. */
static void set_claim_hint(struct gr_runtime *rt, uint64_t next)
{
    atomic_store(&rt->claim_hint, next == UINT64_MAX ? UINTPTR_MAX : (uintptr_t)rt->heap + next);
}

/* The claimed op: an allocation claim reached rt->claim_hint. */
void gr_cmc_claimed(struct gr_runtime *rt, uintptr_t frontier)
{
    set_claim_hint(rt, cmc_want_present(gr_cmc_of(rt)->c, frontier - (uintptr_t)rt->heap));
}

/* A flip succeeded (world stopped): allocation goes on above the `live` bytes
 * compacted to the bottom, under a soft limit sized from them. The pages the
 * mutators allocate in next, [the last built page, the soft limit) - as far as
 * the heap had reached before, or its pages were present (the rest never was) -
 * are made present by cmc's GC workers: at the cycle's end with the garbage
 * from-space pages (csrc/cmc/recycle.c), and ahead of allocation between cycles
 * (csrc/cmc/prefault.c), not by one page fault each. */
static void heap_after_flip(struct gr_cmc *g, struct gr_runtime *rt, uint64_t live, uint64_t n_build)
{
    uintptr_t top = atomic_load(&rt->top);
    uint64_t to = (top > rt->high_water ? top : rt->high_water) - (uintptr_t)rt->heap;
    if (to < cmc_present_end(g->c))
        to = cmc_present_end(g->c);     /* the pages the last fill and prefault kept */
    atomic_store(&rt->top, (uintptr_t)rt->heap + live);
    gr_heap_clear_dirty(rt);            /* every page above the built ones is empty now */
    rt->high_water = (uintptr_t)rt->heap + live;
    __atomic_store_n(&rt->last_live, live, __ATOMIC_RELAXED);
    gr_heap_resize(rt, live);
    if (to > atomic_load(&rt->soft_limit))
        to = atomic_load(&rt->soft_limit);
    to &= ~(uint64_t)(GR_PAGE - 1);
    uint64_t from = (n_build ? n_build : 1) * GR_PAGE;
    set_claim_hint(rt, cmc_set_prefault(g->c, from, to > from ? to : from));
}

/* A flip failed, the heap intact in place (world stopped): slide it
 * stop-the-world. The slide keeps the free pages present: no window. */
static void slide_after_failed_flip(struct gr_cmc *g, struct gr_runtime *rt, struct gr_pause *out)
{
    TIMED(GR_PHASE_COMPACT, gr_phase_compact(rt));
    TIMED(GR_PHASE_RELEASE, gr_phase_release(rt));
    set_claim_hint(rt, cmc_set_prefault(g->c, 0, 0));
}

static int flip_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gr_cmc *g = arg;
    struct gr_compact_ctx *cx = gr_cx(rt);
    atomic_store(&rt->alloc_hook_on, 0);
    atomic_store(&rt->cycle_on, 0);
    /* the hook set bits up to the top: the next cycle clears them even if this
     * pause fails (else it would take stale bits for marks) */
    uint64_t f = atomic_load(&rt->top) - cx->heap_start;
    if (g->bitmap_dirty < f)
        g->bitmap_dirty = f;
    int rc = verify_before(rt, out);
    if (rc < 0)
        return rc;
    uint64_t t = gr_now_ns();
    /* what was allocated since the prepared part: black, its bits set by the allocators */
    uint64_t p0 = g->prepared_pages;
    uint64_t live = prepare_since(rt, g, f);
    out->phase_ns[GR_PHASE_BLACK] = gr_now_ns() - t;
    out->live_bytes = live;
    /* every object after the first dead word moves: what was allocated since
     * prepare too, when that word lies below the top at remark (it nearly always does) */
    out->moved_bytes = g->moved_bytes ? g->moved_bytes + (live - g->moved_live) : 0;
    out->live_objects = rt->gc->mk.marked_objects;
    TIMED(GR_PHASE_UPDATE_ROOTS, gr_visit_roots(rt, update_root, cx));

    t = gr_now_ns();
    rc = cmc_set_src_first(g->c, p0, cx->n_dst_pages - p0, g->src_first + p0);
    if (rc == 0)
        rc = flip(g, rt, cx->n_dst_pages, NULL);
    pthread_mutex_lock(&g->log_mu);
    g->info.flip_error = rc;
    g->info.concurrent = rc == 0;
    pthread_mutex_unlock(&g->log_mu);
    if (rc == -ENOTRECOVERABLE) {
        out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
        return -EFAULT;         /* flip="remap" lost the heap's range for good */
    }
    if (rc == 0) {
        heap_after_flip(g, rt, live, cx->n_dst_pages);
        out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
    } else {
        /* heap intact in place, roots already forwarded */
        out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
        slide_after_failed_flip(g, rt, out);
    }
    pthread_mutex_lock(&g->log_mu);
    g->info.roots_ns = out->phase_ns[GR_PHASE_UPDATE_ROOTS];
    pthread_mutex_unlock(&g->log_mu);
    return 0;
}

/* ---- a whole cycle ---- */

static void begin_record(struct gr_runtime *rt, struct gr_cmc *g, int cause, int concurrent)
{
    memset(&g->cur, 0, sizeof g->cur);
    g->cur.floating_checked_bytes = -1;
    g->cur.seq = g->nlog + 1;
    g->cur.cause = cause;
    g->cur.concurrent = concurrent;
    g->cur.start_ns = gr_now_ns();
    g->cur.used_before = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    g->cur.alloc_stalls = g->stall_carry ? g->carry_stalls : atomic_load(&rt->alloc_stalls);  /* deltas at the flip */
    g->cur.alloc_stall_ns = g->stall_carry ? g->carry_ns : atomic_load(&rt->alloc_stall_ns);
    g->stall_carry = 0;
    g->stall_ns_at_start = g->cur.alloc_stall_ns;
    g->stalls_at_start = g->cur.alloc_stalls;
    g->cur.gc_cpu_ns = thread_cpu_ns();
}

static void end_record(struct gr_runtime *rt, struct gr_cmc *g, int rc, const struct gr_pause *flip)
{
    struct gr_cycle *cy = &g->cur;
    struct gr_marker *mk = &rt->gc->mk;
    cy->gc_cpu_ns = thread_cpu_ns() - cy->gc_cpu_ns;
    cy->alloc_stalls = atomic_load(&rt->alloc_stalls) - cy->alloc_stalls;
    cy->alloc_stall_ns = atomic_load(&rt->alloc_stall_ns) - cy->alloc_stall_ns;
    cy->failed = rc < 0 ? rc : 0;
    cy->flip_end_ns = flip && rc == 0 ? flip->start_ns + flip->pause_ns : gr_now_ns();
    if (cy->concurrent) {
        cy->marked_objects = mk->marked_objects;
        cy->marked_bytes = mk->marked_bytes;
        cy->satb_entries = mk->satb_entries;
        cy->floating_bytes = mk->floating_bytes;
        cy->floating_checked_bytes = mk->floating_checked;
        cy->mark_stack_overflows = mk->overflows;
        cy->bitmap_rescans = mk->rescans;
    }
    if (rc == 0) {
        struct gr_compact_ctx *cx = gr_cx(rt);
        cy->live_bytes = cx->live_bytes;
        if (cy->concurrent) {
            uint64_t below = cx->chunk_offset[chunks_of(rt->gc->mk.tams - cx->heap_start)];
            cy->black_bytes = cx->live_bytes - below;
        }
        cy->compacted = g->info.concurrent;
    }
    int open = rc == 0 && cy->compacted;
    if (!open) {
        cy->end_ns = cy->flip_end_ns;
        close_stall_window(rt, g, cy);  /* closed here */
    }
    pthread_mutex_lock(&g->log_mu);
    g->info.pause_seq = cy->seq;        /* gr_cmc_info: the cycle the current statistics belong to */
    pthread_mutex_unlock(&g->log_mu);
    log_cycle(g, cy, open);
}

static int run_pause(struct gr_runtime *rt, int cause, int kind, gr_pause_fn fn, void *arg, struct gr_pause *out)
{
    int rc = gr_pause_run(rt, cause, kind, fn, arg, out);
    if (rc == 0)
        record_pause(&gr_cmc_of(rt)->cur, out);
    return rc;
}

/* A catch-up pause (flush_pause or catchup_pause), counted in the record. */
static int run_catchup(struct gr_runtime *rt, int cause, gr_pause_fn fn, void *arg)
{
    struct gr_pause p;
    int rc = run_pause(rt, cause, GR_PAUSE_CATCHUP, fn, arg, &p);
    if (rc == 0)
        gr_cmc_of(rt)->cur.catchups++;
    return rc;
}

/* Marking: drain the stack, then precleaning rounds (the full barrier buffers)
 * until the stack and the full buffers are empty. */
static void mark_and_preclean(struct gr_runtime *rt, struct gr_cmc *g)
{
    struct gr_marker *mk = &rt->gc->mk;
    uint64_t taken;
    do {
        gr_cmark_drain(rt, mk, 0);
        gr_cmark_rescan(rt, mk, 0);
        uint64_t t = gr_now_ns();
        taken = gr_cmark_take_satb(rt, mk, 0);
        g->cur.preclean_ns += gr_now_ns() - t;
    } while (taken || mk->sp || mk->ssp || mk->overflow);
}

/* After prepare: while more than catchup_kib was allocated beyond what it
 * covers, a catch-up pause retires the TLABs and prepare goes on up to their
 * top (at most CATCHUP_ROUNDS times). */
static int prepare_catch_up(struct gr_runtime *rt, struct gr_cmc *g, int cause)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t kib = g->cfg.catchup_kib > 0 ? (uint64_t)g->cfg.catchup_kib : DEFAULT_CATCHUP_KIB;
    for (int i = 0; i < CATCHUP_ROUNDS; i++) {
        if (atomic_load(&rt->top) - cx->heap_start < g->prepared_chunks * GR_CHUNK_BYTES + (kib << 10))
            break;
        int rc = run_catchup(rt, cause, catchup_pause, g);
        if (rc < 0)
            return rc;
        advance_prepared(rt, g, g->catch_top - cx->heap_start);
    }
    return 0;
}

/* Before the start pause (concurrently): the pages of the mark bitmaps exist for
 * the heap up to its soft limit, or up to twice what is in use if less (their RSS
 * follows the heap's use, not a large fixed soft limit). A bitmap page never
 * written (the heap grew) is otherwise first read by a black allocation's
 * read-modify-write - the shared zero page - then written: a copy-on-write fault
 * whose TLB flush interrupts every other CPU running the process (9% of Splay's
 * time while it marked). Best effort: a kernel before 5.14 takes those faults. */
static void populate_bitmaps(struct gr_runtime *rt)
{
    struct gr_gc *gc = rt->gc;
    uint64_t heap_bytes = atomic_load(&rt->soft_limit);
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    if (heap_bytes > 2 * used)
        heap_bytes = 2 * used;
    uint64_t bytes = (heap_bytes / GR_WORD / 8 + GR_PAGE - 1) & ~(uint64_t)(GR_PAGE - 1);
    if (bytes > gc->bitmap_bytes)
        bytes = gc->bitmap_bytes;
    if (!bytes)
        return;
    (void)gk_madvise((uintptr_t)gc->cx.live_words, bytes, GK_MADV_POPULATE_WRITE);
    (void)gk_madvise((uintptr_t)gc->cx.obj_starts, bytes, GK_MADV_POPULATE_WRITE);
}

static int concurrent_cycle(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    struct gr_pause p;
    populate_bitmaps(rt);
    begin_record(rt, g, cause, 1);
    int rc = run_pause(rt, cause, GR_PAUSE_START, start_pause, g, &p);
    if (rc < 0) {
        end_record(rt, g, rc, NULL);
        return rc;
    }
    if (g->cfg.hold_after_start_ms > 0) {
        struct timespec ts = {g->cfg.hold_after_start_ms / 1000, (long)(g->cfg.hold_after_start_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    uint64_t mark0 = p.start_ns + p.pause_ns;
    int attempts = g->cfg.remark_attempts > 0 ? g->cfg.remark_attempts : DEFAULT_REMARK_ATTEMPTS;
    uint64_t remark_begin = mark0;
    for (int remarks = 0;; remarks++) {
        /* mark; then the partial buffers are taken in a catch-up pause and
         * precleaned the same way */
        mark_and_preclean(rt, g);
        if (!g->cfg.no_remark_flush) {
            if ((rc = run_catchup(rt, cause, flush_pause, NULL)) < 0) {
                end_record(rt, g, rc, NULL);
                return rc;
            }
            mark_and_preclean(rt, g);
        }
        stress_delay(g);
        struct remark_arg ra = {g, remarks + 1 >= attempts, 0};
        remark_begin = gr_now_ns();
        g->cur.mark_ns += remark_begin - mark0;
        rc = run_pause(rt, cause, GR_PAUSE_REMARK, remark_pause, &ra, &p);
        g->cur.remarks++;
        if (rc < 0) {
            end_record(rt, g, rc, NULL);
            return rc;
        }
        mark0 = p.start_ns + p.pause_ns;
        if (ra.done)
            break;
    }
    uint64_t prep0 = gr_now_ns();
    prepare(rt, g);
    stress_delay(g);
    if ((rc = prepare_catch_up(rt, g, cause)) < 0) {
        end_record(rt, g, rc, NULL);
        return rc;
    }
    g->cur.prepare_ns = gr_now_ns() - prep0;
    rc = run_pause(rt, cause, GR_PAUSE_FLIP, flip_pause, g, out);
    /* the pacer's history: how fast the mutators allocated, how long marking took */
    g->last_cycle_alloc = gr_allocated_bytes(rt) - g->alloc_at_start;
    double span = (double)(gr_now_ns() - g->cur.start_ns) * 1e-9;
    if (span > 0) {
        double rate = (double)g->last_cycle_alloc / span;
        g->alloc_rate = g->alloc_rate > 0 ? 0.5 * g->alloc_rate + 0.5 * rate : rate;
        g->mark_s = span;
    }
    end_record(rt, g, rc, out);
    if (rc == 0)
        gr_cmc_arm_trigger(rt);
    return rc;
}

/* Marking in the pause (the baseline, a full heap, a fork child): mark,
 * liveness, page metadata and roots, then the flip, in one pause. */
int gr_cmc_in_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    int rc = verify_before(rt, out);
    if (rc < 0)
        return rc;
    uint64_t moved = 0;
    TIMED(GR_PHASE_MARK, rc = gr_phase_mark(rt));
    if (rc < 0)
        return rc;
    TIMED(GR_PHASE_COMPUTE_LIVENESS, gr_phase_compute_liveness(rt));
    int objects;
    TIMED(GR_PHASE_COMPUTE_PAGE_METADATA, objects = gr_phase_compute_page_metadata(rt, &moved));
    TIMED(GR_PHASE_UPDATE_ROOTS, gr_phase_update_roots(rt));
    struct gr_compact_ctx *cx = gr_cx(rt);
    out->live_bytes = cx->live_bytes;
    out->moved_bytes = moved;
    out->live_objects = (uint64_t)objects;
    if (g->bitmap_dirty < cx->scan_limit)
        g->bitmap_dirty = cx->scan_limit;
    /* The flip moves the WHOLE heap, not just [heap, high water): moving part
     * of the mapping leaves it split in two VMAs for good (the moved part gets
     * a fresh anon_vma), and moving empty page tables costs next to nothing. */
    uint64_t t = gr_now_ns();
    uint64_t used = atomic_load(&rt->top) == (uintptr_t)rt->heap && rt->high_water == (uintptr_t)rt->heap
                    ? 0 : rt->capacity;
    for (uint64_t p = 0; p < cx->n_dst_pages; p++)
        g->src_first[p] = src_page(cx, p);
    rc = used ? flip(g, rt, cx->n_dst_pages, g->src_first) : -ENODATA;
    pthread_mutex_lock(&g->log_mu);
    g->info.flip_error = rc == -ENODATA ? 0 : rc;
    g->info.concurrent = rc == 0;
    pthread_mutex_unlock(&g->log_mu);
    if (rc == -ENOTRECOVERABLE)
        return -EFAULT;
    out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
    if (rc == 0)
        heap_after_flip(g, rt, cx->live_bytes, cx->n_dst_pages);
    else
        slide_after_failed_flip(g, rt, out);
    pthread_mutex_lock(&g->log_mu);
    g->info.roots_ns = out->phase_ns[GR_PHASE_UPDATE_ROOTS];
    pthread_mutex_unlock(&g->log_mu);
    return 0;
}

/* gc_lock held, caller out of core. */
int gr_cmc_cycle(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    int rc = gr_cmc_finish_previous(rt);
    if (rc < 0)
        return rc;
    cmc_get_stats(g->c, &g->last);
    if (g->cfg.marking == GR_MARK_CONCURRENT && cause != GR_CAUSE_FULL && !cmc_forked(g->c)) {
        /* the GC workers populate no pages ahead of allocation meanwhile: with the
         * marker running they would be a third runnable thread on two cores, and a
         * mutator waiting for a CPU keeps a pause waiting for it (message_window:
         * 3.7 ms to reach the start pause's safepoint, no sample of the program in
         * it, the marker and a worker each in MADV_POPULATE_WRITE) */
        cmc_prefault_hold(g->c, 1);
        rc = concurrent_cycle(rt, cause, out);
        cmc_prefault_hold(g->c, 0);
        return rc;
    }
    begin_record(rt, g, cause, 0);
    rc = run_pause(rt, cause, GR_PAUSE_MARK_FLIP, gr_cmc_in_pause, NULL, out);
    end_record(rt, g, rc, out);
    if (rc == 0)
        gr_cmc_arm_trigger(rt);
    return rc;
}
