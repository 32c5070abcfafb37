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
 * So once every page is built, the worker ending the cycle zeroes the
 * garbage from-space pages and moves them (UFFDIO_MOVE, up to FILL_RUN pages
 * per ioctl) into the free pages the prefault window would populate, above
 * the mutators' allocation frontier ([fill_lo, fill_hi): registered for the
 * move, unregistered after; the VMA split that registering makes merges back,
 * both parts sharing the heap's anon_vma). A page a mutator touched first is
 * present (EEXIST: skipped); a mutator that faults inside the range while it
 * is registered is served a zero page through the usual claim protocol.
 * Before that, cmc_maybe_release holds back as many consumed pages as the
 * fill can take (cmc_fill_budget), so the resident set is no larger than
 * without the fill once the cycle ends.
 *
 * What is not moved (a failed ioctl, a fork child sharing the pages: EBUSY,
 * no room) is released as before. Pages below fill_lo still come from
 * prefault.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cmc/cmc_impl.h"

#define FILL_RUN 64             /* pages per UFFDIO_MOVE */
#define MINCORE_CHUNK 4096      /* from-space pages per mincore(2) */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

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

uint64_t cmc_fill_budget(struct cmc *c)
{
    if (!c->cfg.recycle_free || c->cfg.flip != CMC_FLIP_DONTUNMAP || c->forked)
        return 0;
    uint64_t lo, hi;
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

/* Under mu, every page built, [0, used_pages) still registered. */
void cmc_recycle_free(struct cmc *c)
{
    uint64_t lo, hi;
    STORE(&c->present_end, 0);          /* what is above the built pages is released */
    if (!cmc_fill_budget(c))
        return;
    fill_range(c, &lo, &hi);
    uint64_t t0 = cmc_now_ns();
    STORE(&c->fill_lo, lo);
    STORE(&c->fill_hi, hi);
    uint64_t ioctls = 0;
    int rc = gk_uffd_register(c->uffd, c->heap + lo * c->psize, (hi - lo) * c->psize, GK_MODE_MISSING, &ioctls);
    if (rc < 0 || !(ioctls & (1ull << 5))) {
        if (rc == 0)
            gk_uffd_unregister(c->uffd, c->heap + lo * c->psize, (hi - lo) * c->psize);
        STORE(&c->fill_hi, 0);
        STORE(&c->fill_lo, 0);
        cmc_note_error(c, rc < 0 ? rc : -EOPNOTSUPP, CMC_INJ_REGISTER);
        return;
    }
    if (c->cfg.fill_delay_us > 0) {
        struct timespec ts = { c->cfg.fill_delay_us / 1000000, (c->cfg.fill_delay_us % 1000000) * 1000L };
        nanosleep(&ts, NULL);
    }
    unsigned char vec[MINCORE_CHUNK];
    uint64_t vec_at = 0, vec_n = 0;     /* vec describes from-space pages [vec_at, vec_at + vec_n) */
    uint64_t d = lo, s = c->released, moved = 0;
    while (d < hi && s < c->moved_pages) {
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
        char *src = (char *)(c->from + s * c->psize);
        memset(src, 0, got * c->psize);
        rc = cmc_install_run(c, d, got, src, 1, -1);
        if (rc < 0)
            break;                      /* given back; the rest is released */
        moved += got;
        d += got;
        s += got;
    }
    /* out of the range before it is unregistered: a fault there now passes
     * (and retries until the unregister) rather than be served a zero page
     * through an ioctl the unregister would fail */
    STORE(&c->fill_hi, 0);
    STORE(&c->fill_lo, 0);
    rc = gk_uffd_unregister(c->uffd, c->heap + lo * c->psize, (hi - lo) * c->psize);
    if (rc < 0)
        cmc_note_error(c, rc, CMC_INJ_REGISTER);
    if (s > c->released)
        c->released = s;
    STORE(&c->present_end, d * c->psize);
    c->pf_skip_lo = lo * c->psize;      /* under mu, as the window is */
    c->pf_skip_hi = d * c->psize;
    ADD(&c->st.fill_pages, moved);
    ADD(&c->fill_pages_total, moved);
    ADD(&c->fill_ns_total, cmc_now_ns() - t0);
}
