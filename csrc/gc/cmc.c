/* cmc.c - collector "cmc": its ops, its public entry points, and the pacer's
 * driver thread. A cycle itself, phase by phase, is cmc_cycle.c; the
 * kernel-facing machinery (flip, page states, workers, fault service) is csrc/cmc.
 *
 * Who runs a cycle: the thread that holds gc_lock and calls ops->collect: a
 * caller of gc(), an allocation that found the heap full (it has stopped
 * anyway), or the driver thread, woken by the pacer's trigger when used bytes
 * reach the soft limit less the headroom the last cycle needed. The marking is
 * done by that thread while the mutators run; compaction by the cmc workers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <time.h>

#include "gc/cmc_impl.h"

static int build_page(void *ctx, uint64_t dst_page, const char *from_image, char *dst_buf)
{
    return gr_compact_page(ctx, dst_page, from_image, dst_buf);
}

/* The fill moves garbage pages into the free pages unzeroed; the runtime's
 * claims zero them (csrc/runtime/heap.c, csrc/cmc/recycle.c). */
static uint64_t alloc_frontier(void *ctx)
{
    return gr_heap_frontier(ctx);
}

static void alloc_dirty(void *ctx, uint64_t lo, uint64_t hi, int narrow)
{
    if (narrow)
        gr_heap_narrow_dirty(ctx, lo, hi);
    else
        gr_heap_note_dirty(ctx, lo, hi);
}

/* install="auto": GC threads copy while a mutator may be running. */
static int mutators_busy(void *ctx)
{
    return gr_mutators_busy(ctx);
}

static bool is_cmc(gr_runtime *rt) { return rt && rt->ops == &gr_cmc_ops && rt->gc && rt->gc->cmc; }

static int cmc_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    return gr_cmc_cycle(rt, cause, out);
}

/* ---- the pacer's driver thread ---- */

/* Locks gc_lock unless the collector is being torn down (fini holds gc_lock
 * while it joins us). 0 when locked. */
static int lock_gc(struct gr_runtime *rt, struct gr_cmc *g)
{
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_timedlock(&rt->gc_lock, &ts) == 0)
            return 0;
        pthread_mutex_lock(&g->drv_mu);
        int stop = g->drv_stop;
        pthread_mutex_unlock(&g->drv_mu);
        if (stop)
            return -1;
    }
}

static void *driver_main(void *arg)
{
    struct gr_runtime *rt = arg;
    struct gr_cmc *g = gr_cmc_of(rt);
    pthread_mutex_lock(&g->drv_mu);
    for (;;) {
        while (!g->drv_stop && !g->drv_request)
            pthread_cond_wait(&g->drv_cv, &g->drv_mu);
        if (g->drv_stop)
            break;
        g->drv_request = 0;
        uint64_t epoch = atomic_load(&rt->gc_epoch);
        pthread_mutex_unlock(&g->drv_mu);
        if (lock_gc(rt, g) < 0) {
            pthread_mutex_lock(&g->drv_mu);
            break;
        }
        if (!atomic_load(&rt->closed) && atomic_load(&rt->gc_epoch) == epoch) {
            struct gr_pause p;
            if (gr_collect(rt, GR_CAUSE_PACED, &p) == 0)
                g->paced_cycles++;
        } else {
            gr_cmc_arm_trigger(rt);                  /* someone collected meanwhile */
        }
        pthread_mutex_unlock(&rt->gc_lock);
        pthread_mutex_lock(&g->drv_mu);
    }
    pthread_mutex_unlock(&g->drv_mu);
    return NULL;
}

/* ops->trigger: a mutator in core, from the allocation slow path. Must not
 * block: it only wakes the driver. */
static void cmc_trigger(struct gr_runtime *rt)
{
    struct gr_cmc *g = gr_cmc_of(rt);
    atomic_store(&rt->gc_trigger, UINT64_MAX);       /* once per arming */
    if (!g->driver_started || cmc_forked(g->c))     /* a fork child has no driver */
        return;
    pthread_mutex_lock(&g->drv_mu);
    g->drv_request = 1;
    pthread_cond_signal(&g->drv_cv);
    pthread_mutex_unlock(&g->drv_mu);
}

/* gr_pause_run, world resumed: the GC workers may go. */
static void cmc_after_pause(struct gr_runtime *rt)
{
    cmc_start(rt->gc->cmc->c);
}

static int cmc_wait_op(struct gr_runtime *rt, int timeout_ms)
{
    gr_waiting_gc(rt, 1);       /* not running: GC threads may move (gr_mutators_busy) */
    int rc = cmc_wait(rt->gc->cmc->c, timeout_ms);
    gr_waiting_gc(rt, 0);
    return rc;
}

static void driver_stop(struct gr_cmc *g)
{
    if (!g->driver_started)
        return;
    pthread_mutex_lock(&g->drv_mu);
    g->drv_stop = 1;
    pthread_cond_broadcast(&g->drv_cv);
    pthread_mutex_unlock(&g->drv_mu);
    if (!cmc_forked(g->c))                          /* in a fork child it does not exist */
        pthread_join(g->driver, NULL);
    g->driver_started = 0;
}

static void cmc_fini(struct gr_runtime *rt)
{
    struct gr_gc *gc = rt->gc;
    struct gr_cmc *g = gc ? gc->cmc : NULL;
    if (g) {
        driver_stop(g);
        atomic_store(&rt->gc_trigger, UINT64_MAX);
        cmc_wait(g->c, -1);     /* what a gr_cmc_wait caller waits for */
        while (atomic_load(&g->api_users))      /* closed is set: no new one enters */
            sched_yield();
        cmc_destroy(g->c);
        munmap(g->src_first, g->src_first_bytes);
        free(g->snap);
        free(g->log);
        pthread_mutex_destroy(&g->log_mu);
        free(g);
        gc->cmc = NULL;
    }
    if (gc)
        gr_marker_fini(&gc->mk);
    gr_gc_state_fini(rt);
}

static int cmc_init(struct gr_runtime *rt, const void *config)
{
    struct gr_cmc_config defaults = {
        .machinery = {.fault_mode = CMC_FAULT_SIGBUS, .install = CMC_INSTALL_AUTO, .gc_threads = 1,
                      .flip = CMC_FLIP_DONTUNMAP, .run_pages = 128, .release_batch_pages = 1024,
                      .recycle_free = 1},
    };
    const struct gr_cmc_config *cfg = config ? config : &defaults;
    if (cfg->marking != GR_MARK_CONCURRENT && cfg->marking != GR_MARK_IN_PAUSE)
        return -EINVAL;
    if ((cfg->checks & ~(GR_CHECK_MARK | GR_CHECK_SATB)) || cfg->remark_budget_us < 0 ||
        cfg->remark_attempts < 0 || cfg->stress_delay_us < 0 || cfg->stress_delay_us > 100000 ||
        cfg->hold_after_start_ms < 0 || cfg->hold_after_start_ms > 60000 ||
        (cfg->no_pacing != 0 && cfg->no_pacing != 1))
        return -EINVAL;
    int rc = gr_gc_state_init(rt);
    if (rc == 0)
        rc = gr_marker_init(&rt->gc->mk, (uintptr_t)rt->heap);
    struct gr_cmc *g = NULL;
    if (rc == 0 && !(g = calloc(1, sizeof *g)))
        rc = -ENOMEM;
    if (rc == 0) {
        rt->gc->cmc = g;
        g->cfg = *cfg;
        g->open_cycle = -1;
        rt->gc->mk.stress_delay_us = cfg->stress_delay_us;
        rt->gc->mk.limit = cfg->mark_stack_limit;
        pthread_mutex_init(&g->log_mu, NULL);
        pthread_mutex_init(&g->drv_mu, NULL);
        pthread_cond_init(&g->drv_cv, NULL);
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
    if (rc == 0 && (cfg->checks & GR_CHECK_SATB)) {
        g->snap_words = rt->capacity / GR_WORD / 64 + 1;
        if (!(g->snap = calloc(g->snap_words, sizeof(uint64_t))))
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = cmc_create((uintptr_t)rt->heap, rt->capacity, &cfg->machinery, &g->c);
    if (rc == 0)
        rc = cmc_set_builder(g->c, build_page, gr_cx(rt));
    if (rc == 0)
        rc = cmc_set_alloc_hooks(g->c, alloc_frontier, alloc_dirty, rt);
    if (rc == 0)
        rc = cmc_set_busy_hook(g->c, mutators_busy, rt);
    if (rc == 0 && !cfg->no_pacing) {
        rc = -pthread_create(&g->driver, NULL, driver_main, rt);
        if (rc == 0) {
            pthread_setname_np(g->driver, "cmc-driver");
            g->driver_started = 1;
        }
    }
    if (rc < 0) {
        if (g && g->c)
            cmc_destroy(g->c);
        if (g && g->src_first)
            munmap(g->src_first, g->src_first_bytes);
        if (g)
            free(g->snap);
        free(g);
        if (rt->gc) {
            rt->gc->cmc = NULL;
            gr_marker_fini(&rt->gc->mk);
        }
        gr_gc_state_fini(rt);
        return rc;
    }
    g->info.enabled = 1;
    gr_cmc_arm_trigger(rt);
    return 0;
}

/* Fork child: the driver thread, and any thread that was inside a public entry
 * point or held the log or the barrier queue, stayed in the parent. No cycle
 * was marking (the fork holds gc_lock); the compaction machinery is marked
 * forked by csrc/cmc/fork.c. Without this, close() in the child waited forever
 * for api_users that no thread will release. */
static void cmc_fork_child(struct gr_runtime *rt)
{
    struct gr_cmc *g = rt->gc ? rt->gc->cmc : NULL;
    if (!g)
        return;
    atomic_store(&g->api_users, 0);
    pthread_mutex_init(&g->log_mu, NULL);
    pthread_mutex_init(&g->drv_mu, NULL);
    pthread_cond_init(&g->drv_cv, NULL);
    g->driver_started = 0;                          /* the driver is not in this process */
    g->drv_request = 0;
    pthread_mutex_init(&rt->gc->mk.q_mu, NULL);
}

const struct gr_collector_ops gr_cmc_ops = {
    .name = "cmc",
    .id = GR_COLLECTOR_CMC,
    .init = cmc_init,
    .fini = cmc_fini,
    .collect = cmc_collect,
    .after_pause = cmc_after_pause,
    .wait = cmc_wait_op,
    .barrier = gr_satb_barrier,
    .alloc = gr_black_alloc,
    .trigger = cmc_trigger,
    .claimed = gr_cmc_claimed,
    .fork_child = cmc_fork_child,
};

/* ---- public entry points (gcheap/gc.h) ---- */

/* The public entry points below may race close() from another thread: each
 * enters (under stats_lock, which close takes to set `closed`) and counts
 * itself in api_users; cmc_fini waits for them before it frees anything. */
static struct gr_cmc *api_enter(gr_runtime *rt)
{
    pthread_mutex_lock(&rt->stats_lock);
    struct gr_cmc *g = !atomic_load(&rt->closed) && is_cmc(rt) ? rt->gc->cmc : NULL;
    if (g)
        atomic_fetch_add(&g->api_users, 1);
    pthread_mutex_unlock(&rt->stats_lock);
    return g;
}

static void api_leave(struct gr_cmc *g)
{
    atomic_fetch_sub(&g->api_users, 1);
}

int gr_cmc_wait(gr_runtime *rt, int timeout_ms)
{
    if (!rt)
        return -EBADF;
    struct gr_cmc *g = api_enter(rt);
    if (!g)
        return 0;
    gr_waiting_gc(rt, 1);       /* not running: GC threads may move (gr_mutators_busy) */
    int rc = cmc_wait(g->c, timeout_ms);
    gr_waiting_gc(rt, 0);
    api_leave(g);
    return rc;
}

int gr_cmc_active(gr_runtime *rt)
{
    struct gr_cmc *g = rt ? api_enter(rt) : NULL;
    if (!g)
        return 0;
    int rc = cmc_active(g->c);
    api_leave(g);
    return rc;
}

int gr_cmc_info(gr_runtime *rt, struct gr_cmc_info *info, struct cmc_stats *stats)
{
    if (!rt)
        return -EBADF;
    struct gr_cmc *g = api_enter(rt);
    if (!g) {
        if (info)
            memset(info, 0, sizeof *info);
        if (stats)
            memset(stats, 0, sizeof *stats);
        return 0;
    }
    if (info) {
        pthread_mutex_lock(&g->log_mu);     /* the cycle writes it under log_mu */
        *info = g->info;
        pthread_mutex_unlock(&g->log_mu);
        info->forked = cmc_forked(g->c);
    }
    if (stats)
        cmc_get_stats(g->c, stats);
    api_leave(g);
    return 0;
}

int gr_cmc_totals(gr_runtime *rt, struct cmc_totals *out)
{
    if (!rt || !out)
        return -EBADF;
    struct gr_cmc *g = api_enter(rt);
    if (!g) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    int rc = cmc_get_totals(g->c, out);
    api_leave(g);
    return rc;
}

int gr_cmc_stalls(gr_runtime *rt, double *out, int max)
{
    struct gr_cmc *g = rt ? api_enter(rt) : NULL;
    if (!g)
        return -EBADF;
    int rc = cmc_get_stalls(g->c, out, max);
    api_leave(g);
    return rc;
}

int64_t gr_cycle_count(gr_runtime *rt)
{
    if (!rt)
        return -EBADF;
    struct gr_cmc *g = api_enter(rt);
    if (!g)
        return 0;
    pthread_mutex_lock(&g->log_mu);
    int64_t n = (int64_t)g->nlog;
    pthread_mutex_unlock(&g->log_mu);
    api_leave(g);
    return n;
}

int gr_cycle_get(gr_runtime *rt, int64_t i, struct gr_cycle *out)
{
    if (!rt || !out)
        return -EBADF;
    struct gr_cmc *g = api_enter(rt);
    if (!g)
        return -ERANGE;
    pthread_mutex_lock(&g->log_mu);
    int rc = 0;
    if (i < 0 || (uint64_t)i >= g->nlog) {
        rc = -ERANGE;
    } else {
        *out = g->log[i];
        if (i == g->open_cycle && !cmc_active(g->c)) {
            /* compaction ended since: its figures, without closing the record (the next cycle does) */
            struct cmc_stats st;
            cmc_get_stats(g->c, &st);
            out->compaction_ns = (uint64_t)(st.compaction_s * 1e9);
            out->end_ns = out->flip_end_ns + out->compaction_ns;
            out->gc_cpu_ns += (uint64_t)(st.gc_cpu_s * 1e9);
            out->alloc_stall_ns = atomic_load(&rt->alloc_stall_ns) - g->stall_ns_at_start;
            out->alloc_stalls = atomic_load(&rt->alloc_stalls) - g->stalls_at_start;
        }
    }
    pthread_mutex_unlock(&g->log_mu);
    api_leave(g);
    return rc;
}

int gr_cmc_inject(gr_runtime *rt, int point, int nth, int times, int err)
{
    struct gr_cmc *g = rt ? api_enter(rt) : NULL;
    if (!g)
        return -EBADF;
    int rc = cmc_inject(g->c, point, nth, times, err);
    api_leave(g);
    return rc;
}
