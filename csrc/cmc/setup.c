/* cmc_setup.c - creating and destroying a concurrent compactor, its GC worker
 * threads, statistics export.
 *
 * Everything that can fail before a cycle (from-space reservation, the
 * userfaultfd and its features, buffers, threads, the SIGBUS handler) is done
 * here, once, so that the flip itself has as little left to fail as possible.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cmc/cmc_impl.h"

#define HUGE_ALIGN (2ull << 20)
#define GIANT_ALIGN (1ull << 30)    /* like the heap (csrc/runtime/heap.c): page tables move by PUD */

/* ---- GC workers ---- */
static void *worker_main(void *arg)
{
    struct cmc_worker *w = arg;
    struct cmc *c = w->c;
    uint64_t seen = 0;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        /* Between cycles: the free pages ahead of allocation (prefault.c). Not
         * before a cycle's pages are built: a page a mutator has to build costs
         * it far more than a page fault (meteor_contest: 4x the pages built by
         * mutators when the window came first). */
        while (!c->stopping && c->cycle_seq == seen && (!cmc_prefault_pending(c) || LOAD(&c->pf_hold)))
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        if (c->cycle_seq == seen) {
            cmc_prefault_step_locked(c);
            continue;
        }
        seen = c->cycle_seq;
        /* This cycle cannot end before we leave workers_running: it is ours. */
        uint64_t my_cycle = c->cycle_id;
        pthread_mutex_unlock(&c->mu);

        if (c->cfg.worker_delay_us > 0) {
            struct timespec ts = { c->cfg.worker_delay_us / 1000000, (c->cfg.worker_delay_us % 1000000) * 1000L };
            nanosleep(&ts, NULL);
        }
        struct timespec cpu0, cpu1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
        int rc = cmc_injected(c, CMC_INJ_WORKER);
        if (rc < 0) {
            ADD(&c->st.worker_failures, 1);
            cmc_note_error(c, rc, CMC_INJ_WORKER);
        } else {
            rc = cmc_drive(c, w->buf, c->cfg.run_pages, &w->choice);
            if (rc < 0) {
                ADD(&c->st.worker_failures, 1);
                cmc_note_error(c, rc, CMC_INJ_WORKER);
            }
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
        pthread_mutex_lock(&c->mu);
        c->st.gc_cpu_s += (double)(cpu1.tv_sec - cpu0.tv_sec) + (double)(cpu1.tv_nsec - cpu0.tv_nsec) * 1e-9;
        if (rc < 0 && c->cycle_error == 0)
            c->cycle_error = rc;
        int last = --c->workers_running == 0;
        if (last && LOAD(&c->installed) == c->n_build) {
            c->worker_ending = 1;               /* cmc_wait waits for us, not rescues */
            pthread_mutex_unlock(&c->mu);
            if (c->cfg.end_delay_us > 0) {
                struct timespec ts = { c->cfg.end_delay_us / 1000000, (c->cfg.end_delay_us % 1000000) * 1000L };
                nanosleep(&ts, NULL);
            }
            cmc_end_cycle(c, my_cycle);
            pthread_mutex_lock(&c->mu);
        } else if (last) {
            pthread_cond_broadcast(&c->cv);     /* cmc_wait finishes the cycle */
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int cmc_workers_start(struct cmc *c)
{
    c->workers = calloc((size_t)c->cfg.gc_threads, sizeof(*c->workers));
    if (!c->workers)
        return -ENOMEM;
    for (int i = 0; i < c->cfg.gc_threads; i++) {
        struct cmc_worker *w = &c->workers[i];
        w->c = c;
        uintptr_t buf;
        int rc = gk_map_anon((uint64_t)c->cfg.run_pages * c->psize, 0, &buf);
        if (rc < 0)
            return rc;
        w->buf = (char *)buf;
        rc = cmc_injected(c, CMC_INJ_THREAD);
        if (rc == 0)
            rc = -pthread_create(&w->thread, NULL, worker_main, w);
        if (rc < 0)
            return rc;
        pthread_setname_np(w->thread, "cmc-gc");
        w->started = 1;
    }
    return 0;
}

void cmc_workers_stop(struct cmc *c)
{
    if (!c->workers)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->cfg.gc_threads; i++) {
        struct cmc_worker *w = &c->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        if (w->buf)
            gk_unmap((uintptr_t)w->buf, (uint64_t)c->cfg.run_pages * c->psize);
    }
    free(c->workers);
    c->workers = NULL;
}

/* ---- userfaultfd ---- */
static int open_uffd(struct cmc *c)
{
    int rc = cmc_injected(c, CMC_INJ_UFFD);
    if (rc == 0)
        rc = cmc_injected_global(CMC_INJ_UFFD);
    if (rc < 0)
        return rc;
    /* Probe what the kernel offers on a throwaway fd, then ask for only what we use. */
    int via, dev_err;
    int fd = gk_uffd_open(GK_OPEN_NONBLOCK, &via, &dev_err);
    if (fd < 0)
        fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, &via, &dev_err);
    if (fd < 0)
        return fd;
    uint64_t avail = 0, ioctls = 0;
    rc = gk_uffd_api(fd, 0xAA, 0, &avail, &ioctls);
    close(fd);
    if (rc < 0)
        return rc;
    const uint64_t F_SIGBUS = 1ull << 7, F_MOVE = 1ull << 16;
    uint64_t want = 0;
    if (c->cfg.fault_mode == CMC_FAULT_SIGBUS) {
        if (!(avail & F_SIGBUS))
            return -EOPNOTSUPP;
        want |= F_SIGBUS;
    }
    c->install = c->cfg.install;
    if (c->install == CMC_INSTALL_AUTO) {
        c->install = CMC_INSTALL_MOVE;
        c->auto_install = 1;
    }
    if (c->install == CMC_INSTALL_MOVE) {
        if (avail & F_MOVE)
            want |= F_MOVE;
        else {
            c->install = CMC_INSTALL_COPY;     /* reported as move_fallback */
            c->move_fallback = 1;
            c->auto_install = 0;
        }
    }
    fd = gk_uffd_open(GK_OPEN_NONBLOCK, &via, &dev_err);
    if (fd < 0)
        fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, &via, &dev_err);
    if (fd < 0)
        return fd;
    rc = gk_uffd_api(fd, 0xAA, want, &avail, &ioctls);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->uffd = fd;
    return 0;
}

/* MREMAP_DONTUNMAP works here (Linux >= 5.7 and not filtered)? */
static int probe_dontunmap(struct cmc *c)
{
    uintptr_t src, dst;
    int rc = gk_map_anon(c->psize, 0, &src);
    if (rc < 0)
        return rc;
    rc = gk_mremap_dontunmap(src, c->psize, 0, &dst);
    if (rc == 0)
        gk_unmap(dst, c->psize);
    gk_unmap(src, c->psize);
    return rc;
}

uintptr_t cmc_from_space(struct cmc *c)
{
    return c ? c->from : 0;
}

int cmc_set_builder(struct cmc *c, cmc_build_fn fn, void *ctx)
{
    if (!c || !fn)
        return -EINVAL;
    if (LOAD(&c->active))
        return -EBUSY;
    c->build = fn;
    c->build_ctx = ctx;
    return 0;
}

int cmc_set_alloc_hooks(struct cmc *c, cmc_frontier_fn frontier, cmc_dirty_fn dirty, void *ctx)
{
    if (!c || !frontier != !dirty)
        return -EINVAL;
    if (LOAD(&c->active))
        return -EBUSY;
    pthread_mutex_lock(&c->mu);         /* the fill reads them under mu */
    c->frontier = frontier;
    c->dirty = dirty;
    c->hooks_ctx = ctx;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int cmc_set_busy_hook(struct cmc *c, cmc_busy_fn busy, void *ctx)
{
    if (!c)
        return -EINVAL;
    if (LOAD(&c->active))
        return -EBUSY;
    c->busy = busy;
    c->busy_ctx = ctx;
    return 0;
}

static uint64_t round_page(uint64_t n);

static void release_all(struct cmc *c)
{
    cmc_workers_stop(c);
    cmc_server_stop(c);
    cmc_fault_detach(c);
    uint64_t words = round_page(c->heap_pages * sizeof(uint32_t));
    if (c->state)
        gk_unmap((uintptr_t)c->state, words);
    if (c->src_first)
        gk_unmap((uintptr_t)c->src_first, words);
    if (c->stall_log)
        gk_unmap((uintptr_t)c->stall_log, round_page(c->heap_pages * sizeof(double)));
    if (c->mut_pool)
        gk_unmap((uintptr_t)c->mut_pool, CMC_MUT_SLOTS * c->psize);
    if (c->server_buf)
        gk_unmap((uintptr_t)c->server_buf, 2 * c->psize);
    if (c->from)
        gk_unmap(c->from, c->heap_size);
    if (c->uffd >= 0)
        close(c->uffd);
    if (c->statm_fd >= 0)
        close(c->statm_fd);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->rescue_mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static uint64_t round_page(uint64_t n)
{
    uint64_t ps = (uint64_t)gk_page_size();
    return (n + ps - 1) & ~(ps - 1);
}

/* Per-page arrays are sized for the whole reservation but committed on first
 * touch: a cycle touches the entries of the pages in use, and the memory they
 * take follows the heap's use, not its reservation. */
static int map_array(uint64_t bytes, void **out)
{
    uintptr_t a;
    int rc = gk_map_anon(round_page(bytes), 0, &a);
    if (rc == 0)
        *out = (void *)a;
    return rc;
}

/* Small buffers that the first cycle must not fault on: populated now. */
static int map_buffer(uint64_t bytes, void **out)
{
    int rc = map_array(bytes, out);
    if (rc == 0)
        memset(*out, 0, round_page(bytes));
    return rc;
}

int cmc_create(uintptr_t heap, uint64_t heap_size, const struct cmc_config *cfg, struct cmc **out)
{
    uint64_t ps = (uint64_t)gk_page_size();
    if (!out || !cfg || !heap || heap % ps || heap_size == 0 || heap_size % ps)
        return -EINVAL;
    if (cfg->fault_mode != CMC_FAULT_SIGBUS && cfg->fault_mode != CMC_FAULT_THREAD)
        return -EINVAL;
    if (cfg->install != CMC_INSTALL_COPY && cfg->install != CMC_INSTALL_MOVE && cfg->install != CMC_INSTALL_AUTO)
        return -EINVAL;
    if (cfg->flip != CMC_FLIP_DONTUNMAP && cfg->flip != CMC_FLIP_REMAP)
        return -EINVAL;
    if (cfg->gc_threads < 1 || cfg->gc_threads > 64 || cfg->run_pages < 1 || cfg->run_pages > 256 ||
        cfg->release_batch_pages < 1 ||
        cfg->worker_delay_us < 0 || cfg->worker_delay_us > 10000000 ||
        cfg->end_delay_us < 0 || cfg->end_delay_us > 10000000 ||
        cfg->remap_gap_us < 0 || cfg->remap_gap_us > 1000000 ||
        cfg->install_deadline_ms < 0 || cfg->install_deadline_ms > 3600000)
        return -EINVAL;
    if (heap_size / ps > UINT32_MAX)
        return -EINVAL;

    struct cmc *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->heap = heap;
    c->heap_size = heap_size;
    c->psize = ps;
    c->heap_pages = heap_size / ps;
    c->cfg = *cfg;
    c->uffd = -1;
    c->stop_fd = -1;
    c->instance = -1;
    c->mut_free = ~0ull;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->rescue_mu, NULL);
    c->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    int rc = 0;
    if (cfg->flip == CMC_FLIP_DONTUNMAP)
        rc = probe_dontunmap(c);
    if (rc == 0)
        rc = cmc_injected_global(CMC_INJ_RESERVE);
    if (rc == 0)
        rc = gk_reserve(heap_size, heap_size >= GIANT_ALIGN ? GIANT_ALIGN : heap_size >= HUGE_ALIGN ? HUGE_ALIGN : 0,
                        &c->from);
    if (rc == 0)
        rc = open_uffd(c);
    if (rc == 0)
        rc = map_array(c->heap_pages * sizeof(uint32_t), (void **)&c->state);
    if (rc == 0)
        rc = map_array(c->heap_pages * sizeof(uint32_t), (void **)&c->src_first);
    if (rc == 0)
        rc = map_array(c->heap_pages * sizeof(double), (void **)&c->stall_log);
    if (rc == 0)
        rc = map_buffer(CMC_MUT_SLOTS * ps, (void **)&c->mut_pool);
    if (rc == 0)
        rc = map_buffer(2 * ps, (void **)&c->server_buf);
    if (rc == 0 && cfg->fault_mode == CMC_FAULT_SIGBUS) {
        rc = cmc_sigbus_ensure();
        if (rc == 0)
            rc = cmc_fault_attach(c);
    }
    if (rc == 0 && cfg->fault_mode == CMC_FAULT_THREAD) {
        rc = cmc_injected_global(CMC_INJ_THREAD);
        if (rc == 0)
            rc = cmc_server_start(c);
    }
    if (rc == 0) {
        rc = cmc_injected_global(CMC_INJ_THREAD);
        if (rc == 0)
            rc = cmc_workers_start(c);
    }
    if (rc == 0)
        rc = cmc_fork_register(c);      /* last: a fork from now on waits for our cycles */
    if (rc < 0) {
        release_all(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cmc_destroy(struct cmc *c)
{
    if (!c)
        return;
    if (LOAD(&c->active))
        cmc_wait(c, -1);
    cmc_fork_unregister(c);             /* no new cycle can start: we are its owner */
    release_all(c);
}

/* Under mu, which every plain writer of c->st holds (the flip, the end of a
 * cycle, the workers' CPU time); the counters that handlers and workers bump
 * without it are read atomically. */
int cmc_get_stats(struct cmc *c, struct cmc_stats *out)
{
    if (!c || !out)
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    const struct cmc_stats *st = &c->st;
    *out = (struct cmc_stats){
        .cycles = st->cycles, .active = LOAD(&c->active), .install = st->install,
        .move_fallback = st->move_fallback, .last_error = LOAD(&st->last_error),
        .last_error_point = LOAD(&st->last_error_point), .worker_failures = LOAD(&st->worker_failures),
        .n_build = st->n_build, .used_pages = st->used_pages,
        .pages_by_gc = LOAD(&st->pages_by_gc), .pages_by_mutator = LOAD(&st->pages_by_mutator),
        .zero_pages = LOAD(&st->zero_pages), .faults = LOAD(&st->faults), .ioctl_copy = LOAD(&st->ioctl_copy),
        .ioctl_move = LOAD(&st->ioctl_move), .ioctl_zeropage = LOAD(&st->ioctl_zeropage),
        .ioctl_wake = LOAD(&st->ioctl_wake), .ioctl_errors = LOAD(&st->ioctl_errors), .eexist = LOAD(&st->eexist),
        .eagain = LOAD(&st->eagain), .moved_bytes = LOAD(&st->moved_bytes),
        .released_bytes = LOAD(&st->released_bytes), .recycled_pages = LOAD(&st->recycled_pages),
        .fill_pages = LOAD(&st->fill_pages), .auto_copy_pages = LOAD(&st->auto_copy_pages),
        .chunk_pages = LOAD(&st->chunk_pages),
        .rss_before = st->rss_before, .peak_rss = LOAD(&st->peak_rss), .thefts = LOAD(&st->thefts),
        .stalls = LOAD(&st->stalls), .stalls_dropped = LOAD(&st->stalls_dropped), .flip_s = st->flip_s,
        .flip_register_s = st->flip_register_s, .flip_mremap_s = st->flip_mremap_s,
        .flip_prepare_s = st->flip_prepare_s, .flip_dontneed_s = st->flip_dontneed_s,
        .compaction_s = st->compaction_s, .gc_cpu_s = st->gc_cpu_s,
    };
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void cmc_add_cycle_totals(struct cmc_totals *t, const struct cmc_stats *st)
{
    t->pages_by_gc += LOAD(&st->pages_by_gc);
    t->pages_by_mutator += LOAD(&st->pages_by_mutator);
    t->zero_pages += LOAD(&st->zero_pages);
    t->faults += LOAD(&st->faults);
    t->ioctl_errors += LOAD(&st->ioctl_errors);
    t->eexist += LOAD(&st->eexist);
    t->eagain += LOAD(&st->eagain);
    t->worker_failures += (uint64_t)LOAD(&st->worker_failures);
    t->moved_bytes += LOAD(&st->moved_bytes);
    t->released_bytes += LOAD(&st->released_bytes);
    t->recycled_pages += LOAD(&st->recycled_pages);
    t->chunk_pages += LOAD(&st->chunk_pages);
    t->stalls += LOAD(&st->stalls);
    t->flip_s += st->flip_s;
    t->compaction_s += st->compaction_s;
    t->gc_cpu_s += st->gc_cpu_s;
}

int cmc_get_totals(struct cmc *c, struct cmc_totals *out)
{
    if (!c || !out)
        return -EINVAL;
    /* Under mu: a cycle's end adds its counts and clears active in one step,
     * so a running cycle is counted once, live, and an ended one once, summed. */
    pthread_mutex_lock(&c->mu);
    *out = c->totals;
    if (LOAD(&c->active))
        cmc_add_cycle_totals(out, &c->st);
    out->prefault_pages = LOAD(&c->pf_pages);
    out->prefault_s = (double)LOAD(&c->pf_ns) * 1e-9;
    out->fill_pages = LOAD(&c->fill_pages_total);
    out->fill_s = (double)LOAD(&c->fill_ns_total) * 1e-9;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int cmc_get_stalls(struct cmc *c, double *out, int max)
{
    if (!c)
        return -EINVAL;
    return gk_stall_log_copy(c->stall_log, c->heap_pages, &c->st.stalls, out, max);
}
