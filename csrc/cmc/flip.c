/* cmc_flip.c - the flip (start of a cycle) and the end of a cycle.
 *
 * flip="dontunmap" (the design):
 *     mremap(heap -> from-space, MAYMOVE|FIXED|DONTUNMAP)  ->  register
 *     [heap, heap+used) MISSING  ->  MADV_DONTNEED [heap, heap+used)
 *   The heap range stays mapped at every instant (the source of a DONTUNMAP
 *   move keeps its VMA, empty), so no other thread can take it. The move comes
 *   before the registration because the kernel moves whole page tables (PMD
 *   level, ~10x cheaper) only for VMAs without a userfaultfd registration
 *   (vma_has_uffd_without_event_remap). Once registered, no page - huge or
 *   not - can appear in the range without going through us; the DONTNEED then
 *   drops anything that slipped in between (nothing should: mutators are
 *   paused). A failed registration moves the pages back.
 *
 * flip="remap" (legacy, pre-5.7 kernels, for the range-theft experiment):
 *     mremap(heap -> from-space, MAYMOVE|FIXED)  ->  [heap range UNMAPPED]
 *     ->  mmap(heap, MAP_FIXED_NOREPLACE)  ->  register
 *   Any mmap by another thread inside the window can take the heap's range.
 *   That is detected (EEXIST), the heap is moved back once the range is free
 *   again, and the flip fails with -EADDRINUSE.
 *
 * Validate, then act: every check that can fail runs before the first step
 * that changes a mapping, and every later failure is rolled back so that the
 * heap's contents are where they were.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cmc/cmc_impl.h"

#define REMAP_RECOVERY_TRIES 1000000

/* Turns from-space back into an empty PROT_NONE reservation (frees its pages). */
static int rereserve_from_space(struct cmc *c)
{
    void *p = mmap((void *)c->from, c->heap_size, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    return 0;
}

/* Rollback: the heap's pages go back from from-space to the heap range,
 * atomically replacing the (empty) mapping there. */
static int move_back(struct cmc *c, uint64_t len)
{
    uintptr_t got = 0;
    int rc = gk_mremap_dontunmap(c->from, len, c->heap, &got);
    if (rc == 0 && got != c->heap)
        rc = -EFAULT;
    if (rc == 0)
        rc = rereserve_from_space(c);
    return rc;
}

static int register_range(struct cmc *c, uint64_t len)
{
    uint64_t ioctls = 0;
    int rc = cmc_injected(c, CMC_INJ_REGISTER);
    if (rc == 0)
        rc = gk_uffd_register(c->uffd, c->heap, len, GK_MODE_MISSING, &ioctls);
    if (rc < 0)
        return rc;
    /* ioctl bits: WAKE 2, COPY 3, ZEROPAGE 4, MOVE 5 */
    uint64_t need = (1ull << 2) | (1ull << 3) | (1ull << 4);
    if (c->install == CMC_INSTALL_MOVE)
        need |= 1ull << 5;      /* _UFFDIO_MOVE */
    if ((ioctls & need) != need) {
        gk_uffd_unregister(c->uffd, c->heap, len);
        return -EOPNOTSUPP;
    }
    STORE(&c->registered, 1);
    return 0;
}

/* Gives the heap's VMA (empty after the DONTUNMAP move, its anon_vma unlinked)
 * from-space's anon_vma: one page of from-space above the sources (the
 * allocator's frontier at the flip, the old top) is moved back to the same
 * offset, where its VMA merges into the heap's, and its page is dropped.
 * Everything installed in the heap later then shares that anon_vma with the
 * from-space chunks that recycle.c mremaps back to their offsets, and the
 * heap's VMAs merge into one when the cycle unregisters (measured on 6.18: with
 * a fresh anon_vma of its own the heap stays split in one VMA per mremapped
 * chunk, and the next flip, which moves the whole heap, would fail). 0 when
 * done; nothing changed otherwise. */
static int anchor(struct cmc *c, uint64_t len, uint64_t move_len)
{
    if (!c->frontier || c->heap % CMC_CHUNK_BYTES || c->from % CMC_CHUNK_BYTES)
        return -EINVAL;
    uint64_t x = (c->frontier(c->hooks_ctx) + c->psize - 1) & ~(c->psize - 1);
    if (x < len || x + c->psize > move_len)
        return -ENOSPC;         /* no page above the sources */
    uintptr_t got = 0;
    int rc = cmc_injected(c, CMC_INJ_MREMAP);
    if (rc == 0)
        rc = gk_mremap_dontunmap(c->from + x, c->psize, c->heap + x, &got);
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_MREMAP);
        return rc;              /* nothing moved: the cycle goes on without chunk moves */
    }
    gk_madvise(c->heap + x, c->psize, GK_MADV_DONTNEED);       /* above the old top: garbage */
    return 0;
}

/* Moves [heap, heap + move_len) and registers [heap, heap + len) (len <= move_len):
 * pages above len, where the mutators allocate after the flip, then fault as
 * ordinary anonymous memory instead of through us. */
static int flip_dontunmap(struct cmc *c, uint64_t len, uint64_t move_len)
{
    double t = cmc_now();
    uintptr_t got = 0;
    int rc = cmc_injected(c, CMC_INJ_MREMAP);
    if (rc == 0)
        rc = gk_mremap_dontunmap(c->heap, move_len, c->from, &got);
    c->st.flip_mremap_s = cmc_now() - t;
    if (rc == 0 && got != c->from)
        rc = -EFAULT;           /* MREMAP_FIXED cannot do this; be safe */
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_MREMAP);
        return rc;              /* nothing moved */
    }
    STORE(&c->chunk_moves, 0);
    if (c->cfg.recycle_free && anchor(c, len, move_len) == 0) {
        STORE(&c->chunk_moves, 1);
    } else if (len < move_len) {
        /* Registering part of the VMA splits it; unregistering at the end of the
         * cycle merges it back only if both parts share one anon_vma. The moved-
         * from VMA has none (DONTUNMAP unlinks it), and the part we leave
         * unregistered would get one of its own at the mutators' first fault
         * (flags differ then). One write now gives the whole VMA its anon_vma;
         * the DONTNEED below drops the page. */
        *(volatile char *)c->heap = 0;
    }
    t = cmc_now();
    rc = register_range(c, len);
    c->st.flip_register_s = cmc_now() - t;
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_REGISTER);
        int rb = move_back(c, move_len);
        return rb < 0 ? -ENOTRECOVERABLE : rc;
    }
    t = cmc_now();
    rc = gk_madvise(c->heap, len, GK_MADV_DONTNEED);
    c->st.flip_dontneed_s = cmc_now() - t;
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_MREMAP);
        STORE(&c->registered, 0);
        gk_uffd_unregister(c->uffd, c->heap, len);
        int rb = move_back(c, move_len);
        return rb < 0 ? -ENOTRECOVERABLE : rc;
    }
    return 0;
}

static int flip_remap(struct cmc *c, uint64_t len)
{
    double t = cmc_now();
    uintptr_t got = 0;
    int rc = cmc_injected(c, CMC_INJ_MREMAP);
    if (rc == 0)
        rc = gk_mremap_raw(c->heap, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, c->from, &got);
    if (rc < 0) {
        c->st.flip_mremap_s = cmc_now() - t;
        cmc_note_error(c, rc, CMC_INJ_MREMAP);
        return rc;
    }
    /* ---- window: [heap, heap+len) is unmapped; anyone's mmap may land here ---- */
    if (c->cfg.remap_gap_us > 0) {
        struct timespec ts = { 0, c->cfg.remap_gap_us * 1000L };
        nanosleep(&ts, NULL);
    }
    rc = cmc_injected(c, CMC_INJ_REMAP_MMAP);
    if (rc == 0)
        rc = gk_map_anon_noreplace(c->heap, len);
    c->st.flip_mremap_s = cmc_now() - t;
    if (rc < 0) {
        if (rc == -EEXIST)
            ADD(&c->st.thefts, 1);
        cmc_note_error(c, rc == -EEXIST ? -EADDRINUSE : rc, CMC_INJ_REMAP_MMAP);
        /* Get the range back (the thief may let go), then move the heap home. */
        int got_back = -1;
        for (long i = 0; i < REMAP_RECOVERY_TRIES; i++) {
            got_back = gk_map_anon_noreplace(c->heap, len);
            if (got_back == 0)
                break;
            sched_yield();
        }
        if (got_back != 0)
            return -ENOTRECOVERABLE;    /* heap lives on in from-space only */
        int rb = move_back(c, len);
        if (rb < 0)
            return -ENOTRECOVERABLE;
        return rc == -EEXIST ? -EADDRINUSE : rc;
    }
    t = cmc_now();
    rc = register_range(c, len);
    c->st.flip_register_s = cmc_now() - t;
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_REGISTER);
        int rb = move_back(c, len);
        return rb < 0 ? -ENOTRECOVERABLE : rc;
    }
    return 0;
}

static int flip_locked(struct cmc *c, uint64_t used_len, uint64_t move_len, uint64_t n_build,
                       const uint32_t *src_first);

/* A fork() cannot happen while we flip (cmc/fork.c); a fork child's cmc has
 * no userfaultfd and no threads of its own: it never flips. */
int cmc_flip_moving(struct cmc *c, uint64_t move_len, uint64_t used_len, uint64_t n_build,
                    const uint32_t *src_first)
{
    if (!c || !c->build)
        return -EINVAL;
    if (c->forked)
        return -ECHILD;
    cmc_fork_flip_begin();
    /* mu for the whole flip: it writes the cycle's statistics, which readers take
     * under mu. (No cycle runs: the workers are asleep, they do not contend.) */
    pthread_mutex_lock(&c->mu);
    int rc = flip_locked(c, used_len, move_len, n_build, src_first);
    pthread_mutex_unlock(&c->mu);
    cmc_fork_flip_end();
    return rc;
}

int cmc_flip(struct cmc *c, uint64_t used_len, uint64_t n_build, const uint32_t *src_first)
{
    return cmc_flip_moving(c, used_len, used_len, n_build, src_first);
}

static int flip_locked(struct cmc *c, uint64_t used_len, uint64_t move_len, uint64_t n_build,
                       const uint32_t *src_first)
{
    double t0 = cmc_now();
    if (LOAD(&c->active))
        return -EBUSY;
    if (used_len == 0 || used_len % c->psize || move_len % c->psize || used_len > move_len ||
        move_len > c->heap_size || (c->cfg.flip == CMC_FLIP_REMAP && move_len != used_len))
        return -EINVAL;
    uint64_t used_pages = used_len / c->psize, moved_pages = move_len / c->psize;
    if (n_build > used_pages)
        return -EINVAL;
    if (src_first) {
        for (uint64_t p = 0; p < n_build; p++)
            if (src_first[p] >= moved_pages || (p && src_first[p] < src_first[p - 1]))
                return -EINVAL;
    } else if (n_build > c->src_ready || (n_build && c->src_first[n_build - 1] >= moved_pages)) {
        return -EINVAL;         /* set ahead, non-decreasing: the last entry bounds them all */
    }
    if (c->cfg.fault_mode == CMC_FAULT_SIGBUS) {
        int rc = cmc_sigbus_ensure();   /* someone (faulthandler) may have replaced it */
        if (rc < 0)
            return rc;
    }
    while (cmc_handlers_inflight())
        sched_yield();

    /* Prepare the cycle; nothing irreversible yet. (Page states are all EMPTY:
     * the end of the last cycle reset the ones it touched.) */
    if (n_build && src_first)
        memcpy(c->src_first, src_first, n_build * sizeof(uint32_t));
    c->src_ready = 0;
    uint64_t cycles = c->st.cycles;
    int install = c->install, move_fallback = c->move_fallback;
    memset(&c->st, 0, sizeof(c->st));
    c->st.cycles = cycles;
    c->st.install = c->auto_install ? CMC_INSTALL_AUTO : install;
    c->st.move_fallback = move_fallback;
    c->st.n_build = n_build;
    c->st.used_pages = used_pages;
    c->used_pages = used_pages;
    c->moved_pages = moved_pages;
    c->n_build = n_build;
    c->cursor = 0;
    c->installed = 0;
    c->prefix = 0;
    c->released = 0;
    c->consumed = 0;
    c->cycle_error = 0;
    STORE(&c->fill_lo, 0);
    STORE(&c->fill_hi, 0);
    c->st.rss_before = cmc_rss(c);
    c->st.peak_rss = c->st.rss_before;
    c->st.flip_prepare_s = cmc_now() - t0;

    int rc = c->cfg.flip == CMC_FLIP_REMAP ? flip_remap(c, used_len) : flip_dontunmap(c, used_len, move_len);
    if (rc < 0) {
        c->st.flip_s = cmc_now() - t0;
        return rc;
    }
    STORE(&c->active, 1);
    c->st.active = 1;
    c->t_flip_end = cmc_now();
    c->st.flip_s = c->t_flip_end - t0;
    c->workers_running = c->cfg.gc_threads;
    c->worker_ending = 0;
    c->started = 0;
    ADD(&c->cycle_id, 1);       /* the fault thread reads it without mu */
    return 0;
}

int cmc_set_src_first(struct cmc *c, uint64_t first, uint64_t count, const uint32_t *values)
{
    if (!c || (count && !values) || first > c->src_ready || first + count > c->heap_pages)
        return -EINVAL;
    if (LOAD(&c->active))
        return -EBUSY;
    for (uint64_t i = 0; i < count; i++)
        if (values[i] >= c->heap_pages || (first + i && values[i] < (i ? values[i - 1] : c->src_first[first - 1])))
            return -EINVAL;
    memcpy(c->src_first + first, values, count * sizeof(uint32_t));
    c->src_ready = first + count;
    return 0;
}

/* Lets the GC workers go. Separate from the flip so that the runtime can call
 * it after resuming the mutators: waking threads inside the pause invites the
 * scheduler to preempt the pausing thread (measured: up to several ms on 2 cores). */
void cmc_start(struct cmc *c)
{
    pthread_mutex_lock(&c->mu);
    if (LOAD(&c->active) && !c->started) {
        c->started = 1;
        c->cycle_seq++;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

int cmc_active(struct cmc *c)
{
    return c ? LOAD(&c->active) : 0;
}

/* Every destination page is installed: unregister (which also wakes any thread
 * still blocked on a zero-page fault; the retried access gets an ordinary
 * page), drop the rest of from-space, keep its reservation. */
void cmc_end_cycle(struct cmc *c, uint64_t cycle_id)
{
    pthread_mutex_lock(&c->mu);
    if (!LOAD(&c->active) || c->cycle_id != cycle_id) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    struct timespec cpu0, cpu1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    cmc_recycle_free(c);
    cmc_maybe_release(c, 1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    /* GC work too, whichever thread ends the cycle */
    c->st.gc_cpu_s += (double)(cpu1.tv_sec - cpu0.tv_sec) + (double)(cpu1.tv_nsec - cpu0.tv_nsec) * 1e-9;
    c->st.compaction_s = cmc_now() - c->t_flip_end;
    cmc_sample_rss(c);
    STORE(&c->registered, 2);
    int rc = gk_uffd_unregister(c->uffd, c->heap, c->used_pages * c->psize);
    if (rc < 0)
        cmc_note_error(c, rc, CMC_INJ_REGISTER);
    STORE(&c->registered, 0);
    /* No handler of this cycle is left inside (they announce themselves before
     * looking at `registered`): reset the page states it touched, here rather
     * than in the next flip pause. */
    while (cmc_handlers_inflight())
        sched_yield();
    memset(c->state, 0, LOAD(&c->state_hw) * sizeof(uint32_t));
    STORE(&c->state_hw, 0);
    rc = rereserve_from_space(c);
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_RESERVE);
        gk_madvise(c->from, c->heap_size, GK_MADV_DONTNEED);
    }
    c->st.cycles++;
    c->st.active = 0;
    cmc_add_cycle_totals(&c->totals, &c->st);
    c->totals.cycles++;
    STORE(&c->active, 0);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int cmc_wait(struct cmc *c, int timeout_ms)
{
    if (!c)
        return -EINVAL;
    double deadline = timeout_ms < 0 ? 0 : cmc_now() + timeout_ms / 1000.0;
    cmc_start(c);
    pthread_mutex_lock(&c->mu);
    uint64_t id = c->cycle_id;
    /* a last worker ending the cycle (worker_ending) is waited for: a rescue
     * would read the page states its cmc_end_cycle is resetting */
    while (LOAD(&c->active) && (LOAD(&c->workers_running) > 0 || c->worker_ending)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (timeout_ms >= 0 && cmc_now() > deadline && LOAD(&c->active)) {
            pthread_mutex_unlock(&c->mu);
            return -ETIMEDOUT;
        }
        id = c->cycle_id;
    }
    pthread_mutex_unlock(&c->mu);
    if (LOAD(&c->active)) {
        /* No worker left and pages remain (a worker failed): finish here. */
        pthread_mutex_lock(&c->rescue_mu);
        int rc = LOAD(&c->active) && c->cycle_id == id ? cmc_drive(c, c->server_buf + c->psize, 1, NULL) : 0;
        if (rc == 0)
            cmc_end_cycle(c, id);
        pthread_mutex_unlock(&c->rescue_mu);
        if (rc < 0)
            return rc;
    }
    return 0;
}
