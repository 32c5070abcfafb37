/* recycle.c - from-space pages recycled into the heap's free pages at the end
 * of a cycle.
 *
 * The flip moves every heap page to from-space. Compaction builds the live
 * pages [0, n_build) (install "move": in consumed from-space pages); the rest
 * of from-space is garbage once they are built. Released, those pages go back
 * to the kernel, and the mutators then fault fresh pages in above n_build as
 * they allocate (prefault.c does some of it ahead of them). On this VM a page
 * the guest freed is reported to the host (page_reporting) and a fresh one
 * costs several times a reused one: in the page fault, and again when it is
 * first read (the next cycle's marking ran at half the rate over freshly
 * faulted pages). stw keeps its free pages present and zeroes them.
 *
 * So once every page is built, the worker ending the cycle moves the garbage
 * from-space pages into the free pages the prefault window would populate, above
 * the mutators' allocation frontier ([fill_lo, fill_hi): registered for the
 * move, unregistered after; the VMA split that registering makes merges back,
 * both parts sharing the heap's anon_vma). A page a mutator touched first is
 * present (EEXIST: skipped); a mutator that faults inside the range while it
 * is registered is served a zero page through the usual claim protocol.
 * Before that, cmc_maybe_release holds back as many consumed pages as the
 * fill can take (cmc_fill_budget). Once the cycle ends the free pages below
 * the soft limit are present, as stw keeps them: the resident set is larger
 * than without the fill by the pages moved, and the mutators do not fault
 * them in.
 *
 * With the allocator's hooks (cmc_set_alloc_hooks) the pages go as they are:
 * the dirty range it is told covers them, and its claims zero what they take
 * (csrc/runtime/heap.c); whole 2 MiB from-space chunks inside the range go
 * back to their own offsets with one mremap each (move_chunk), the rest with
 * UFFDIO_MOVE, up to FILL_RUN pages per ioctl. Without hooks each page is
 * zeroed first and moved page by page.
 *
 * What is not moved (a failed ioctl, no room) is released as before; a
 * kernel without UFFDIO_MOVE (< 6.8) gets no fill. A page a fork child still
 * shares is copied by the memset (copy on write) and the copy moved. Pages
 * below fill_lo still come from prefault.c. The fill runs under mu (as the
 * rest of cmc_end_cycle): cmc_want_present's trylock fails meanwhile, so a
 * mutator allocating fast may reach the range and take zero pages in it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cmc/cmc_impl.h"

#define FILL_RUN 64             /* pages per UFFDIO_MOVE */
#define MINCORE_CHUNK 4096      /* from-space pages per mincore(2) */

uint64_t cmc_present_end(struct cmc *c)
{
    return c ? LOAD(&c->present_end) : 0;
}

int cmc_in_fill(struct cmc *c, uint64_t p)
{
    return p >= LOAD(&c->fill_lo) && p < LOAD(&c->fill_hi);
}

/* The free pages [*lo, *hi) a fill would cover now. */
static void fill_range(struct cmc *c, uint64_t *lo, uint64_t *hi)
{
    uint64_t from = LOAD(&c->pf_want);
    if (from < LOAD(&c->pf_next))
        from = LOAD(&c->pf_next);
    *lo = (from + c->psize - 1) / c->psize;
    if (*lo < c->used_pages)
        *lo = c->used_pages;
    *hi = min_u64(LOAD(&c->pf_hi) / c->psize, c->heap_pages);
    if (*hi < *lo)
        *hi = *lo;
}

static int fill_enabled(struct cmc *c)
{
    return c->cfg.recycle_free && c->cfg.flip == CMC_FLIP_DONTUNMAP && !c->forked && !c->move_fallback &&
           !LOAD(&c->fill_unsupported);
}

uint64_t cmc_fill_budget(struct cmc *c)
{
    uint64_t lo, hi;
    if (!fill_enabled(c))
        return 0;
    fill_range(c, &lo, &hi);
    return hi - lo;
}

/* Claims up to n EMPTY pages from p on; returns how many (a prefix). */
static uint64_t claim_run(struct cmc *c, uint64_t p, uint64_t n)
{
    uint64_t k = 0;
    while (k < n) {
        uint32_t expect = PG_EMPTY;
        if (!CAS(&c->state[p + k], &expect, PG_CLAIMED))
            break;
        k++;
    }
    if (k)
        cmc_note_touched(c, p + k - 1);
    return k;
}

/* Moves the k from-space pages at src into the claimed heap pages from
 * d on. Returns the pages it moved; *taken: the heap pages it is done with
 * (moved, or present already: EEXIST, left as they are). A failure gives the
 * rest back and returns with *taken < k: the caller stops. */
static uint64_t move_run(struct cmc *c, uint64_t d, uint64_t k, uintptr_t src, uint64_t *taken)
{
    uint64_t off = 0, moved = 0;
    int spins = 0;
    while (off < k) {
        uint64_t done = 0;
        int rc = gk_uffd_move(c->uffd, c->heap + (d + off) * c->psize, src + moved * c->psize,
                              (k - off) * c->psize, 0, &done);
        uint64_t np = done / c->psize;
        if (np) {
            cmc_mark_installed(c, d + off, np);
            off += np;
            moved += np;
            spins = 0;
        }
        if (rc == 0 || off >= k)
            continue;
        if (rc == -EEXIST) {            /* a mutator's page (before the registration): keep it */
            gk_uffd_wake(c->uffd, c->heap + (d + off) * c->psize, c->psize);
            cmc_mark_installed(c, d + off, 1);
            off++;
            continue;
        }
        if (rc == -EAGAIN && ++spins < 64)
            continue;
        cmc_unclaim(c, d + off, k - off);
        break;
    }
    *taken = off;
    return moved;
}

/* The from-space chunk [a, a + chunk) goes back to the same heap pages with one
 * mremap (its page table moves whole: ~10 ns a page against ~150 for
 * UFFDIO_MOVE; measured, docs/cmc.md). The heap pages must be untouched: all
 * EMPTY (claimed here, so a fault there waits for us) and none present (a
 * page outside the claim protocol - a stale populate - would be unmapped).
 * Returns the pages moved; 0 when the chunk was left as it was; -1 when the
 * mremap failed (no more chunks this cycle). */
static int64_t move_chunk(struct cmc *c, uint64_t a, uint64_t chunk)
{
    uint64_t got = claim_run(c, a, chunk);
    int64_t n = 0;
    if (got < chunk || cmc_present_pages(c, c->heap, a, a + chunk) != 0)
        goto leave;
    n = cmc_present_pages(c, c->from, a, a + chunk);
    if (n <= 0)
        goto leave;
    if (cmc_remap_chunk(c, a, chunk, -1) < 0) {
        cmc_unclaim(c, a, chunk);
        return -1;
    }
    return n;
leave:
    cmc_unclaim(c, a, got);
    return 0;
}

/* Under mu, every page built, [0, used_pages) still registered. */
void cmc_recycle_free(struct cmc *c)
{
    uint64_t lo, hi;
    STORE(&c->present_end, 0);          /* what is above the built pages is released */
    if (!fill_enabled(c))
        return;
    fill_range(c, &lo, &hi);
    if (lo == hi)
        return;
    uint64_t t0 = cmc_now_ns();
    uintptr_t range = c->heap + lo * c->psize;
    uint64_t range_len = (hi - lo) * c->psize;
    STORE(&c->fill_lo, lo);
    STORE(&c->fill_hi, hi);
    uint64_t ioctls = 0;
    int rc = gk_uffd_register(c->uffd, range, range_len, GK_MODE_MISSING, &ioctls);
    if (rc < 0 || !(ioctls & (1ull << 5))) {
        STORE(&c->fill_hi, 0);
        STORE(&c->fill_lo, 0);
        gk_uffd_unregister(c->uffd, range, range_len);
        if (rc == 0)
            STORE(&c->fill_unsupported, 1);     /* no UFFDIO_MOVE: never again */
        else
            cmc_note_error(c, rc, CMC_INJ_REGISTER);
        return;
    }
    if (c->cfg.fill_delay_us > 0) {
        struct timespec ts = { c->cfg.fill_delay_us / 1000000, (c->cfg.fill_delay_us % 1000000) * 1000L };
        nanosleep(&ts, NULL);
        t0 += (uint64_t)c->cfg.fill_delay_us * 1000;    /* testing: not work */
    }
    /* with the allocator's hooks the pages go in as they are: the claims that
     * take them zero them (and no page below the frontier gets one) */
    int lazy = c->frontier != NULL;
    if (lazy)
        c->dirty(c->hooks_ctx, lo * c->psize, hi * c->psize, 0);
    unsigned char vec[MINCORE_CHUNK];
    uint64_t d = lo, s = c->released, moved = 0;
    uint64_t moved_lo = hi, moved_hi = lo;      /* the heap pages moved into lie in [moved_lo, moved_hi) */
    uint64_t chunk = CMC_CHUNK_BYTES / c->psize, chunks_end = lo;
    if (lazy && LOAD(&c->chunk_moves)) {
        /* whole chunks at their own offsets first; what is left goes page by page */
        uint64_t end = min_u64(hi, c->moved_pages);
        uint64_t a = ((lo > s ? lo : s) + chunk - 1) / chunk * chunk;
        for (; a + chunk <= end; a += chunk) {
            uint64_t f = (c->frontier(c->hooks_ctx) + c->psize - 1) / c->psize;
            if (a < f) {
                a = (f + chunk - 1) / chunk * chunk - chunk;    /* next: the chunk at or above f */
                continue;
            }
            int64_t n = move_chunk(c, a, chunk);
            if (n < 0)
                break;
            if (n > 0) {
                moved += (uint64_t)n;
                moved_lo = min_u64(moved_lo, a);
                moved_hi = a + chunk;
                chunks_end = a + chunk;
            }
        }
    }
    uint64_t vec_at = 0, vec_n = 0;     /* vec describes from-space pages [vec_at, vec_at + vec_n) */
    while (d < hi && s < c->moved_pages) {
        while (d < hi && LOAD(&c->state[d]) != PG_EMPTY)
            d++;                        /* a moved chunk, a mutator's page */
        if (d >= hi)
            break;
        if (lazy) {
            uint64_t f = (c->frontier(c->hooks_ctx) + c->psize - 1) / c->psize;
            if (d < f) {
                d = f;                  /* claimed already: its claim did not zero */
                continue;
            }
        }
        if (s >= vec_at + vec_n) {
            vec_at = s;
            vec_n = min_u64(MINCORE_CHUNK, c->moved_pages - s);
            if (mincore((void *)(c->from + s * c->psize), vec_n * c->psize, vec) < 0)
                break;
        }
        if (!(vec[s - vec_at] & 1)) {
            s++;                        /* a hole: nothing to recycle */
            continue;
        }
        uint64_t k = 1;
        uint64_t most = min_u64(min_u64(FILL_RUN, hi - d), vec_at + vec_n - s);
        while (k < most && (vec[s + k - vec_at] & 1))
            k++;
        uint64_t got = claim_run(c, d, k);
        if (!got) {
            d++;                        /* a mutator's (or being served): leave it */
            continue;
        }
        uintptr_t src = c->from + s * c->psize;
        if (!lazy)
            memset((void *)src, 0, got * c->psize);
        uint64_t taken = 0, m = move_run(c, d, got, src, &taken);
        if (m) {
            moved_lo = min_u64(moved_lo, d);
            if (d + taken > moved_hi)
                moved_hi = d + taken;
        }
        moved += m;
        d += taken;
        s += m;                         /* a skipped (EEXIST) page's source stays for the next */
        if (taken < got)
            break;                      /* failed: the rest is released */
    }
    /* out of the range before it is unregistered: a fault there now passes
     * (and retries until the unregister) rather than be served a zero page
     * through an ioctl the unregister would fail */
    STORE(&c->fill_hi, 0);
    STORE(&c->fill_lo, 0);
    for (int i = 0; i < 3; i++) {
        rc = gk_uffd_unregister(c->uffd, range, range_len);
        if (rc == 0)
            break;
        cmc_note_error(c, rc, CMC_INJ_REGISTER);
    }
    if (lazy)
        c->dirty(c->hooks_ctx, moved_lo * c->psize, moved_hi * c->psize, 1);
    if (s > c->released)
        c->released = s;
    if (d < chunks_end)
        d = chunks_end;
    STORE(&c->present_end, d * c->psize);
    c->pf_skip_lo = lo * c->psize;      /* under mu, as the window is */
    c->pf_skip_hi = d * c->psize;
    ADD(&c->st.fill_pages, moved);
    ADD(&c->fill_pages_total, moved);
    ADD(&c->fill_ns_total, cmc_now_ns() - t0);
}
