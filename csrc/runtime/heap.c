/* heap.c - the heap reservation, thread-local allocation buffers (TLABs) and
 * the one allocation choke point.
 *
 * Invariants: [heap, top) is parseable object by object; [top, end) is zero
 * (fresh mapping, or released with MADV_DONTNEED / zeroed by the collector),
 * except in the dirty range [heap + dirty_lo, heap + dirty_hi): free pages a
 * cmc cycle's fill moved there from from-space as they were (csrc/cmc/recycle.c),
 * which the claim that takes them zeroes (HotSpot zeroes its TLABs the same way;
 * elsewhere allocation never clears memory). A TLAB [tlab_top, tlab_end) belongs
 * to one mutator; when it is retired its unused tail becomes a filler object. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime_impl.h"

uint64_t gr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Maps size bytes (private anonymous, read/write) aligned to align. */
static int map_aligned(uint64_t size, uint64_t align, int extra_flags, char **out)
{
    uint64_t span = size + align;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (raw == MAP_FAILED)
        return -errno;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    uint64_t head = start - (uintptr_t)raw;
    uint64_t tail = span - head - size;
    if (head && munmap(raw, head) != 0)
        return -errno;
    if (tail && munmap((char *)start + size, tail) != 0)
        return -errno;
    *out = (char *)start;
    return 0;
}

static uint64_t round_page(uint64_t n) { return (n + GR_PAGE - 1) & ~(uint64_t)(GR_PAGE - 1); }

/* Validates sizing against heap_max and fills in the defaults. */
static int sizing_init(struct gr_runtime *rt, const struct gr_heap_sizing *in)
{
    struct gr_heap_sizing s = *in;
    if (s.target_utilization == 0)
        s.target_utilization = GR_DEFAULT_TARGET_UTILIZATION_PCT / 100.0;
    if (!(s.target_utilization > 0 && s.target_utilization <= 1))
        return -EINVAL;
    if (s.min_free == 0)
        s.min_free = GR_DEFAULT_MIN_FREE;
    if (s.max_free == 0)
        s.max_free = s.min_free > GR_DEFAULT_MAX_FREE ? s.min_free : GR_DEFAULT_MAX_FREE;
    if (s.max_free < s.min_free)
        return -EINVAL;
    if (s.initial == 0)
        s.initial = GR_DEFAULT_INITIAL_HEAP;
    if (s.initial > rt->capacity)
        s.initial = rt->capacity;
    rt->sizing = s;
    atomic_store(&rt->soft_limit, round_page(s.initial));
    return 0;
}

int gr_heap_init(struct gr_runtime *rt, const struct gr_config *cfg)
{
    if (sysconf(_SC_PAGESIZE) != GR_PAGE)
        return -ENOTSUP;
    uint64_t size = cfg->heap_max;
    if (size == 0 || size > GR_MAX_HEAP)
        return -EINVAL;
    size = (size + GR_HEAP_ALIGN - 1) & ~(uint64_t)(GR_HEAP_ALIGN - 1);
    /* Large heaps are aligned to 1 GiB so that moving their page tables (the
     * cmc flip) skips empty gigabytes at the PUD level. */
    uint64_t align = size >= (UINT64_C(1) << 30) ? (UINT64_C(1) << 30) : GR_HEAP_ALIGN;
    int rc;
    if (cfg->heap_address) {
        /* a restored snapshot: exactly where its pointers say, never over anything */
        if (cfg->heap_address % GR_HEAP_ALIGN)
            return -EINVAL;
        void *p = mmap((void *)cfg->heap_address, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED)
            return errno == EEXIST ? -EADDRINUSE : -errno;
        if ((uintptr_t)p != cfg->heap_address) {     /* a kernel that took the flag as a hint */
            munmap(p, size);
            return -EADDRINUSE;
        }
        rt->heap = p;
    } else if ((rc = map_aligned(size, align, MAP_NORESERVE, &rt->heap))) {
        return rc;
    }
    rt->capacity = size;
#if defined(GR_BARRIER_CARD)
    if ((rt->cards = mmap(NULL, size >> 9, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                          -1, 0)) == MAP_FAILED)
        return -ENOMEM;
#endif
    if ((rc = sizing_init(rt, &cfg->sizing)))
        return rc;
    atomic_store(&rt->top, (uintptr_t)rt->heap);
    rt->high_water = (uintptr_t)rt->heap;
    rt->claim_hint = UINTPTR_MAX;
    rt->tlab_bytes = size / 64 < GR_TLAB_BYTES ? size / 64 : GR_TLAB_BYTES;
    return 0;
}

void gr_heap_fini(struct gr_runtime *rt)
{
    if (rt->heap)
        munmap(rt->heap, rt->capacity);
    rt->heap = NULL;
}

/* The soft limit after a collection that left `live` bytes: live / target
 * utilisation, with min_free..max_free free bytes above live, between the
 * initial soft limit and the reservation. (ART's heap growth: the footprint
 * follows live data, not the largest heap the program ever had.) */
void gr_heap_resize(struct gr_runtime *rt, uint64_t live)
{
    const struct gr_heap_sizing *s = &rt->sizing;
    double want = (double)live / s->target_utilization;
    uint64_t limit = want >= (double)rt->capacity ? rt->capacity : (uint64_t)want;
    if (limit < live + s->min_free)
        limit = live + s->min_free;
    if (limit > live + s->max_free)
        limit = live + s->max_free;
    if (limit < s->initial)
        limit = s->initial;
    limit = round_page(limit);
    if (limit > rt->capacity)
        limit = rt->capacity;
    atomic_store(&rt->soft_limit, limit);
}

/* Raises the soft limit so that `need` more bytes fit above top (live data
 * outgrew the target); false when the reservation itself is too small. */
static bool grow_for(struct gr_runtime *rt, uint64_t need)
{
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    if (need > rt->capacity - used)
        return false;
    uint64_t want = used + need + rt->sizing.min_free;
    if (want > rt->capacity)
        want = rt->capacity;
    want = round_page(want);
    if (want > rt->capacity)
        want = rt->capacity;
    uint64_t cur = atomic_load(&rt->soft_limit);
    while (cur < want && !atomic_compare_exchange_weak(&rt->soft_limit, &cur, want))
        ;
    return true;
}

/* Releases [from, to) to the kernel (MADV_DONTNEED: reads back as zero),
 * or zeroes it if the kernel refuses, so that the zero invariant holds. */
void gr_heap_release(struct gr_runtime *rt, uintptr_t from, uintptr_t to)
{
    if (to > from && madvise((void *)from, to - from, MADV_DONTNEED) != 0)
        memset((void *)from, 0, to - from);
}

void gr_heap_note_dirty(struct gr_runtime *rt, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return;
    uint64_t cur_hi = atomic_load(&rt->dirty_hi), cur_lo = atomic_load(&rt->dirty_lo);
    if (cur_hi && cur_lo < lo)
        lo = cur_lo;
    if (cur_hi > hi)
        hi = cur_hi;
    /* lo first: a claim that reads the new hi reads this lo or a later one */
    atomic_store(&rt->dirty_lo, lo);
    atomic_store(&rt->dirty_hi, hi);
}

void gr_heap_narrow_dirty(struct gr_runtime *rt, uint64_t lo, uint64_t hi)
{
    uint64_t cur_lo = atomic_load(&rt->dirty_lo), cur_hi = atomic_load(&rt->dirty_hi);
    if (lo < cur_lo)
        lo = cur_lo;
    if (hi > cur_hi)
        hi = cur_hi;
    if (hi <= lo)
        lo = hi = 0;
    /* every state in between covers [lo, hi) */
    atomic_store(&rt->dirty_hi, hi);
    atomic_store(&rt->dirty_lo, lo);
}

void gr_heap_clear_dirty(struct gr_runtime *rt)
{
    atomic_store(&rt->dirty_hi, 0);
    atomic_store(&rt->dirty_lo, 0);
}

uint64_t gr_heap_frontier(struct gr_runtime *rt)
{
    return atomic_load(&rt->top) - (uintptr_t)rt->heap;
}

/* [start, next) was just claimed and the dirty range may reach into it. */
static __attribute__((noinline)) void zero_dirty(struct gr_runtime *rt, uintptr_t start, uintptr_t next,
                                                 uint64_t hi)
{
    uintptr_t a = (uintptr_t)rt->heap + atomic_load(&rt->dirty_lo), b = (uintptr_t)rt->heap + hi;
    if (a < start)
        a = start;
    if (b > next)
        b = next;
    if (a < b) {
        memset((void *)a, 0, b - a);
        atomic_fetch_add_explicit(&rt->claim_zeroed_bytes, b - a, memory_order_relaxed);
    }
}

/* Makes [from, to) one filler object (a dead, parseable gap); nothing if empty. */
void gr_fill(uintptr_t from, uintptr_t to)
{
    if (to > from)
        *(uint64_t *)from = gr_make_hdr(GR_CLASS_FILLER, (uint32_t)((to - from) / GR_WORD));
}

/* While the collector's alloc hook is on a claim starts on a chunk boundary,
 * the gap before it a filler: the bitmap words of one TLAB or large object are
 * then written by its mutator alone (csrc/gc/cmark.c). */
static inline uintptr_t claim_start(struct gr_runtime *rt, uintptr_t old)
{
    if (__builtin_expect(atomic_load_explicit(&rt->alloc_hook_on, memory_order_relaxed), 0))
        return (old + GR_CHUNK_BYTES - 1) & ~(uintptr_t)(GR_CHUNK_BYTES - 1);
    return old;
}

/* The pacer: used bytes reached the collector's trigger. */
static inline void check_trigger(struct gr_runtime *rt, uintptr_t new_top)
{
    if (__builtin_expect(new_top - (uintptr_t)rt->heap >= atomic_load_explicit(&rt->gc_trigger, memory_order_relaxed), 0))
        rt->ops->trigger(rt);
}

/* Claims `size` bytes from the global bump pointer, or all the room up to
 * `want` when there is more (a TLAB); 0 when `size` does not fit. */
static uintptr_t claim(struct gr_runtime *rt, uint64_t size, uint64_t want, uint64_t *got)
{
    uintptr_t end = (uintptr_t)rt->heap + atomic_load_explicit(&rt->soft_limit, memory_order_relaxed);
    uintptr_t old = atomic_load_explicit(&rt->top, memory_order_relaxed);
    uintptr_t start, next;
    do {
        start = claim_start(rt, old);
        if (start > end || size > end - start)
            return 0;
        uint64_t room = end - start;
        *got = room < want ? room : want;
        next = start + *got;
    } while (!atomic_compare_exchange_weak(&rt->top, &old, next));
    /* seq_cst after the claim: a fill that widened the dirty range before
     * this load is seen here; one that widens it later sees this claim in
     * the frontier and moves nothing below it (gr_heap_note_dirty) */
    uint64_t dirty_hi = atomic_load(&rt->dirty_hi);
    if (__builtin_expect(dirty_hi > start - (uintptr_t)rt->heap, 0))
        zero_dirty(rt, start, next, dirty_hi);
    gr_fill(old, start);
    check_trigger(rt, next);
    if (__builtin_expect(next > atomic_load_explicit(&rt->claim_hint, memory_order_relaxed), 0))
        rt->ops->claimed(rt, next);
    return start;
}

/* A large object, straight from the bump pointer; 0 when it does not fit. */
static uintptr_t bump(struct gr_runtime *rt, uint64_t size)
{
    uint64_t got;
    return claim(rt, size, size, &got);
}

/* Refills m's TLAB with at least `need` bytes; false when the heap is full. */
static bool refill_tlab(struct gr_runtime *rt, struct gr_mutator *m, uint64_t need)
{
    gr_fill((uintptr_t)m->tlab_top, (uintptr_t)m->tlab_end);
    m->tlab_top = m->tlab_end = NULL;
    uint64_t got;
    uintptr_t start = claim(rt, need, rt->tlab_bytes, &got);
    if (!start)
        return false;
    m->tlab_top = (char *)start;
    m->tlab_end = (char *)start + got;
    return true;
}

static uintptr_t try_alloc(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size)
{
    if ((uint64_t)(m->tlab_end - m->tlab_top) >= size) {
        uintptr_t p = (uintptr_t)m->tlab_top;
        m->tlab_top += size;
        return p;
    }
    if (size > rt->tlab_bytes / 2)
        return bump(rt, size); /* large objects bypass TLABs */
    if (!refill_tlab(rt, m, size))
        return 0;
    uintptr_t p = (uintptr_t)m->tlab_top;
    m->tlab_top += size;
    return p;
}

/* Leaves the core, collects (unless someone else collected since `epoch` and
 * force is false), re-enters. Returns 0 or -errno (collection or re-entry). */
static int collect_for_alloc(struct gr_runtime *rt, struct gr_mutator *m, int cause, uint64_t epoch, bool force)
{
    gr_leave(m);
    struct gr_pause rep;
    int rc = 0;
    uint64_t t0 = gr_now_ns();
    atomic_store(&m->waiting_gc, 1);
    pthread_mutex_lock(&rt->gc_lock);     /* a running concurrent cycle holds it until its flip */
    if (force || atomic_load(&rt->gc_epoch) == epoch)
        rc = gr_collect(rt, cause, &rep);
    pthread_mutex_unlock(&rt->gc_lock);
    atomic_store(&m->waiting_gc, 0);
    if (cause != GR_CAUSE_STRESS) {       /* an allocation stall, counted and timed when it ends */
        atomic_fetch_add(&rt->alloc_stall_ns, gr_now_ns() - t0);
        atomic_fetch_add(&rt->alloc_stalls, 1);
    }
    struct gr_mutator *again = gr_enter(rt);
    if (!again)
        return gr_enter_err;
    return rc;
}

/* THE allocation choke point. Called in core; may collect (so callers hold no
 * raw heap address across it). Returns the zeroed object's address, or 0 with
 * *err = -ENOMEM (heap exhausted even after a full collection; the heap is
 * intact), -ESHUTDOWN, or -EFAULT (verification failed in a collection). */
uintptr_t gr_alloc(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size, int *err)
{
    if (rt->options & GR_OPT_STRESS) {
        int rc = collect_for_alloc(rt, m, GR_CAUSE_STRESS, 0, true);
        if (rc < 0) {
            *err = rc;
            return 0;
        }
    }
    for (int attempt = 0;; attempt++) {
        uint64_t epoch = atomic_load(&rt->gc_epoch);
        uintptr_t p = try_alloc(rt, m, size);
        if (p) {
            gr_alloc_done(rt, m, p, size);
            return p;
        }
        /* Exhausted: full collections after our failure and a soft limit
         * raised to the reservation left too little room (other threads
         * refilling their TLABs in between do not count: then we retry, a
         * bounded number of times). */
        if (attempt == 8 || (attempt >= 3 && rt->capacity - rt->last_live < size)) {
            *err = -ENOMEM;
            return 0;
        }
        int rc = 0;
        if (attempt == 0 && atomic_load_explicit(&rt->cycle_on, memory_order_relaxed) && grow_for(rt, size)) {
            /* a concurrent cycle is marking and will free space at its flip: the
             * soft limit gives way rather than stall this thread (the flip sizes
             * it again from the live data); at the reservation, it waits */
            atomic_fetch_add(&rt->soft_limit_raises, 1);
            continue;
        }
        if (attempt == 0) {
            /* below the soft limit: collect, unless another thread just did */
            rc = collect_for_alloc(rt, m, GR_CAUSE_ALLOC, epoch, false);
        } else if (!grow_for(rt, size)) {
            /* a collection since our failure left too little room and the soft
             * limit cannot grow: a full collection that starts now (a
             * concurrent collector marks it in the pause: no floating garbage) */
            rc = collect_for_alloc(rt, m, GR_CAUSE_FULL, epoch, true);
        }
        if (rc < 0) {
            *err = rc;
            return 0;
        }
    }
}

/* World stopped: turns every TLAB tail into a filler and forgets the TLABs. */
void gr_retire_all_tlabs(struct gr_runtime *rt)
{
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++) {
        struct gr_mutator *m = &rt->mutators[i];
        gr_fill((uintptr_t)m->tlab_top, (uintptr_t)m->tlab_end);
        m->tlab_top = m->tlab_end = NULL;
    }
}

/* World stopped, TLABs retired: allocation continues at new_top. (cmc: the
 * post-compaction top is known after compute_liveness; mutators may allocate
 * above it while pages below are still being compacted.) */
void gr_heap_reset_top(struct gr_runtime *rt, uintptr_t new_top)
{
    uintptr_t old = atomic_load(&rt->top);
    if (old > rt->high_water)
        rt->high_water = old;
    atomic_store(&rt->top, new_top);
}

/* Resident bytes of the heap mapping (mincore): its used part and the free
 * pages below the soft limit that the collector kept present for allocation. */
uint64_t gr_heap_resident(struct gr_runtime *rt)
{
    uintptr_t top = atomic_load(&rt->top);
    uintptr_t hi = top > rt->high_water ? top : rt->high_water;
    uintptr_t limit = (uintptr_t)rt->heap + atomic_load(&rt->soft_limit);
    if (limit > hi)
        hi = limit;
    uint64_t len = round_page(hi - (uintptr_t)rt->heap);
    if (len == 0)
        return 0;
    uint64_t npages = len / GR_PAGE;
    unsigned char *vec = malloc(npages);
    if (!vec)
        return 0;
    uint64_t resident = 0;
    if (mincore(rt->heap, len, vec) == 0)
        for (uint64_t i = 0; i < npages; i++)
            resident += vec[i] & 1;
    free(vec);
    return resident * GR_PAGE;
}
