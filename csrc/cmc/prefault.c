/* prefault.c - the heap's free pages made present ahead of the mutators'
 * allocation, by the GC workers.
 *
 * A flip moves every heap page to from-space, which is released as compaction
 * proceeds; the free part of the heap above the built pages is then empty, and
 * each page the mutators allocate in after the flip would cost them a page
 * fault (allocating, zeroing and charging the page in their own time: a third
 * of fannkuch's run). Instead the runtime reports its allocation frontier when
 * a claim passes a threshold (cmc_want_present), and a GC worker makes the
 * window up to CMC_PF_AHEAD beyond it present with MADV_POPULATE_WRITE, a
 * CMC_PF_CHUNK at a time, between cycles (once a cycle's pages are all built:
 * a page a mutator has to build costs it far more than a page fault). The
 * work follows allocation: a heap no one allocates in gets the first window
 * only.
 *
 * The workers do it, not a thread of its own: on two cores a third runnable
 * thread competes with the mutator for its core (measured: fannkuch slower with
 * a helper thread, whole window or 4 MiB, than with the worker doing it).
 *
 * The window [pf_next, pf_hi) is set per flip (cmc_set_prefault) above the
 * registered range, so no populate faults a page through us. A chunk of the
 * previous window still in flight at a flip is harmless: before the
 * registration its pages are zero pages above the new top or are dropped by
 * the flip's MADV_DONTNEED; after it, a registered page fails the populate
 * (SIGBUS mode) or is built like a mutator's fault (thread mode).
 *
 * The pages a cycle's fill put in (recycle.c) are present already: the
 * window skips them ([pf_skip_lo, pf_skip_hi)).
 *
 * Locks: the window is written under mu, read with atomics. A mutator takes mu
 * only with trylock (a GC thread may hold it for a while at the end of a
 * cycle): when it is busy, the mutator asks again at its next claim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "cmc/cmc_impl.h"

/* The frontier at which the runtime should call cmc_want_present again. */
static uint64_t next_call(struct cmc *c)
{
    uint64_t want = LOAD(&c->pf_want), hi = LOAD(&c->pf_hi);
    if (want >= hi)
        return UINT64_MAX;      /* all of the window is wanted: nothing until the next one */
    return want > CMC_PF_AHEAD / 2 ? want - CMC_PF_AHEAD / 2 : 0;
}

void cmc_prefault_hold(struct cmc *c, int on)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    STORE(&c->pf_hold, on);
    if (!on)
        pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int cmc_prefault_pending(struct cmc *c)
{
    return LOAD(&c->pf_next) < min_u64(LOAD(&c->pf_want), LOAD(&c->pf_hi));
}

/* Under mu: populates one chunk of the window (mu released meanwhile). */
void cmc_prefault_step_locked(struct cmc *c)
{
    uint64_t from = LOAD(&c->pf_next), to = min_u64(LOAD(&c->pf_want), LOAD(&c->pf_hi));
    if (from >= c->pf_skip_lo && from < c->pf_skip_hi) {
        from = c->pf_skip_hi;                   /* the fill's pages: present already */
        STORE(&c->pf_next, from < to ? from : to);
    }
    if (from >= to)
        return;
    if (to - from > CMC_PF_CHUNK)
        to = from + CMC_PF_CHUNK;
    if (from < c->pf_skip_lo && to > c->pf_skip_lo)
        to = c->pf_skip_lo;
    uint64_t gen = c->pf_gen;
    STORE(&c->pf_next, to);                     /* ours: another worker takes the next one */
    pthread_mutex_unlock(&c->mu);
    uint64_t t0 = cmc_now_ns();
    int rc = gk_madvise(c->heap + from, to - from, GK_MADV_POPULATE_WRITE);
    uint64_t dt = cmc_now_ns() - t0;
    pthread_mutex_lock(&c->mu);
    if (gen != c->pf_gen)
        return;                                 /* a new window was set meanwhile */
    ADD(&c->pf_ns, dt);
    if (rc == 0) {
        ADD(&c->pf_pages, (to - from) / c->psize);
        if (to > LOAD(&c->present_end))
            STORE(&c->present_end, to);
    }
    else
        STORE(&c->pf_hi, from);                 /* the rest of this window faults as before */
}

uint64_t cmc_set_prefault(struct cmc *c, uint64_t from_off, uint64_t to_off)
{
    if (!c || c->forked || from_off % c->psize || to_off % c->psize || to_off > c->heap_size ||
        c->cfg.flip != CMC_FLIP_DONTUNMAP)
        return UINT64_MAX;
    pthread_mutex_lock(&c->mu);
    if (LOAD(&c->active) && from_off < c->used_pages * c->psize)
        to_off = from_off = 0;                  /* registered: no window */
    if (to_off < from_off)
        to_off = from_off;
    c->pf_gen++;
    c->pf_skip_lo = c->pf_skip_hi = 0;
    STORE(&c->pf_next, from_off);
    STORE(&c->pf_hi, to_off);
    STORE(&c->pf_want, min_u64(from_off + CMC_PF_AHEAD, to_off));
    if (!LOAD(&c->active))
        pthread_cond_broadcast(&c->cv);         /* else the workers get to it when the cycle ends */
    uint64_t next = next_call(c);
    pthread_mutex_unlock(&c->mu);
    return next;
}

uint64_t cmc_want_present(struct cmc *c, uint64_t frontier_off)
{
    if (!c || c->forked || c->cfg.flip != CMC_FLIP_DONTUNMAP)
        return UINT64_MAX;
    /* page aligned: the window's chunks start where the last one ended, and
     * madvise(2) rejects an unaligned start (EINVAL: the window was dropped) */
    uint64_t want = (frontier_off + CMC_PF_AHEAD + c->psize - 1) & ~(c->psize - 1);
    if (want <= LOAD(&c->pf_want))
        return next_call(c);
    if (pthread_mutex_trylock(&c->mu) != 0)
        return frontier_off;                    /* busy: again at the next claim */
    if (want > LOAD(&c->pf_want) && LOAD(&c->pf_want) < LOAD(&c->pf_hi)) {
        STORE(&c->pf_want, min_u64(want, LOAD(&c->pf_hi)));
        pthread_cond_broadcast(&c->cv);
    }
    uint64_t next = next_call(c);
    pthread_mutex_unlock(&c->mu);
    return next;
}
