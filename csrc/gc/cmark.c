/* cmark.c - concurrent marking: the marker (one GC thread), the SATB write
 * barrier and black allocation. The protocol is described in gc_impl.h; the
 * cycle that runs it is cmc_cycle.c.
 *
 * Black allocation costs the mutators nothing while marking runs: everything
 * between TAMS and the top at the final remark is live, and its bits are set
 * after remark by one walk of that range (gr_cmark_black_range, a GC thread).
 * From remark to the flip the allocation hook sets each new object's bits
 * (gr_black_alloc), which the catch-up rounds and the flip pause read.
 *
 * Who writes what, so that no bitmap word has two writers:
 *   obj_starts, live_words below TAMS   the marker only (relaxed atomics: the
 *                                       barrier reads obj_starts to filter)
 *   ... from TAMS to the top at remark  the GC thread that walks them, after remark
 *   ... above the top at remark         the mutator whose TLAB (or large object)
 *                                       covers the word: TLABs start on chunk
 *                                       (512-byte) boundaries while the hook is on
 *   heap reference fields               mutators (release stores, gr_store_ref);
 *                                       the marker reads them (acquire loads)
 * A field the marker reads late may already hold a newer value: marking it is
 * harmless (it is live or garbage allocated black); the value it replaced was
 * logged by the barrier. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gc/gc_impl.h"

#define RELAXED_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define RELAXED_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define PREFETCH_RING 16
#define DEADLINE_CHECK 256          /* objects scanned between clock reads */

/* ---- testing: random delays (GR_CHECK-free stress mode) ---- */
static __thread uint64_t rng_state;

static void stress_delay(int max_us)
{
    if (max_us <= 0)
        return;
    if (!rng_state)
        rng_state = (uint64_t)(uintptr_t)&rng_state ^ gr_now_ns();
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    if ((rng_state & 15) == 0) {        /* one call in 16 waits */
        struct timespec ts = {0, (long)(rng_state >> 20) % ((long)max_us * 1000)};
        nanosleep(&ts, NULL);
    }
}

int gr_marker_init(struct gr_marker *mk, uintptr_t heap)
{
    memset(mk, 0, sizeof *mk);
    mk->heap = heap;
    return -pthread_mutex_init(&mk->q_mu, NULL);
}

static void free_list(struct gr_satb_buf *b)
{
    while (b) {
        struct gr_satb_buf *n = b->next;
        free(b);
        b = n;
    }
}

void gr_marker_fini(struct gr_marker *mk)
{
    free(mk->stack);
    free(mk->sstack);
    mk->sstack = NULL;
    free_list(mk->full);
    free_list(mk->spare);
    mk->stack = NULL;
    mk->full = mk->spare = NULL;
    pthread_mutex_destroy(&mk->q_mu);
}

/* ---- bits ---- */
static inline uint64_t word_of(const struct gr_compact_ctx *cx, uintptr_t a) { return (a - cx->heap_start) / GR_WORD; }

int gr_cmark_is_marked(const struct gr_compact_ctx *cx, uintptr_t obj)
{
    uint64_t w = word_of(cx, obj);
    return (RELAXED_LOAD(&cx->obj_starts[w / 64]) >> (w % 64)) & 1;
}

/* Sets bits [w, w + n) of a bitmap whose words here have one writer (us). */
static inline void set_bits_owned(uint64_t *bm, uint64_t w, uint64_t n)
{
    while (n) {
        uint64_t bit = w % 64;
        uint64_t take = 64 - bit < n ? 64 - bit : n;
        uint64_t mask = take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1) << bit;
        RELAXED_STORE(&bm[w / 64], RELAXED_LOAD(&bm[w / 64]) | mask);
        w += take;
        n -= take;
    }
}

/* ---- the marker ---- */

/* Marks obj (below TAMS, not yet marked) and pushes it on the main stack, or
 * on the SATB stack when it is reached from a logged reference; on a full
 * stack that cannot grow, it stays marked and unscanned (grey in the bitmap).
 * Returns 1 when obj was newly marked. */
static inline int mark_push(struct gr_compact_ctx *cx, struct gr_marker *mk, uintptr_t obj, int satb)
{
    if (obj >= mk->tams)
        return 0;               /* allocated during marking: black already */
    uint64_t w = word_of(cx, obj);
    uint64_t *word = &cx->obj_starts[w / 64];
    uint64_t bit = UINT64_C(1) << (w % 64);
    uint64_t old = RELAXED_LOAD(word);
    if (old & bit)
        return 0;
    RELAXED_STORE(word, old | bit);
    __builtin_prefetch((void *)obj);
    uintptr_t **stack = satb ? &mk->sstack : &mk->stack;
    uint64_t *sp = satb ? &mk->ssp : &mk->sp, *capp = satb ? &mk->scap : &mk->cap;
    if (*sp == *capp) {
        uint64_t cap = *capp ? 2 * *capp : 4096;
        if (mk->limit && cap > mk->limit)
            cap = mk->limit;
        uintptr_t *s = cap > *capp ? realloc(*stack, cap * sizeof *s) : NULL;
        if (!s) {
            if (!mk->overflow)
                mk->overflows++;
            mk->overflow = 1;   /* gr_cmark_rescan finds it in the bitmap */
            return 1;
        }
        *stack = s;
        *capp = cap;
    }
    (*stack)[(*sp)++] = obj;
    return 1;
}

static void mark_root(uintptr_t *slot, void *arg)
{
    void **a = arg;
    mark_push(a[0], a[1], *slot, 0);
}

/* Sets obj's live words and greys its referents (onto the stack it came from). */
static inline void scan(struct gr_runtime *rt, struct gr_compact_ctx *cx, struct gr_marker *mk, uintptr_t obj,
                        int satb)
{
    uint64_t hdr = *(const uint64_t *)obj;
    const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
    uint32_t len = gr_hdr_length(hdr);
    uint64_t size = gr_size_of(c, len);
    set_bits_owned(cx->live_words, word_of(cx, obj), size / GR_WORD);
    mk->marked_objects++;
    mk->marked_bytes += size;
    if (satb)
        mk->floating_bytes += size;
    uint64_t first, count;
    gr_ref_words(c, len, &first, &count);
    uintptr_t *f = (uintptr_t *)obj + first;
    for (uint64_t i = 0; i < count; i++) {
        uintptr_t v = __atomic_load_n(&f[i], __ATOMIC_ACQUIRE);
        if (v)
            mark_push(cx, mk, v, satb);
    }
}

/* Start pause, world stopped, TLABs retired, bitmaps clear. */
void gr_cmark_start(struct gr_runtime *rt, struct gr_marker *mk)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    /* TAMS on a chunk boundary: the words below are the marker's, above the allocators' */
    uintptr_t top = atomic_load(&rt->top);
    uintptr_t tams = (top + GR_CHUNK_BYTES - 1) & ~(uintptr_t)(GR_CHUNK_BYTES - 1);
    uintptr_t end = (uintptr_t)rt->heap + rt->capacity;
    if (tams > end)
        tams = end;
    gr_fill(top, tams);
    atomic_store(&rt->top, tams);
    mk->tams = tams;
    mk->sp = mk->ssp = 0;
    mk->overflow = 0;
    mk->marked_objects = mk->marked_bytes = mk->satb_entries = mk->floating_bytes = 0;
    mk->overflows = mk->rescans = 0;
    mk->floating_checked = -1;
    atomic_store(&mk->satb_lost, 0);
    cx->scan_limit = tams - cx->heap_start;
    void *arg[2] = {cx, mk};
    gr_visit_roots(rt, mark_root, arg);
    atomic_store(&rt->cycle_on, 1);
    atomic_store(&rt->barrier_floor, tams);
    atomic_store(&rt->barrier_on, 1);
}

/* Drains one stack (its objects' referents go onto the same stack). */
static int drain_stack(struct gr_runtime *rt, struct gr_compact_ctx *cx, struct gr_marker *mk, int satb,
                       uint64_t deadline_ns)
{
    uintptr_t *const *stack = satb ? &mk->sstack : &mk->stack;
    uint64_t *sp = satb ? &mk->ssp : &mk->sp, *cap = satb ? &mk->scap : &mk->cap;
    uintptr_t ring[PREFETCH_RING];
    unsigned head = 0, n = 0, since = 0;
    for (;;) {
        while (n < PREFETCH_RING && *sp) {
            uintptr_t o = (*stack)[--*sp];
            __builtin_prefetch((void *)o);
            __builtin_prefetch((void *)(o + 64));
            ring[(head + n) % PREFETCH_RING] = o;
            n++;
        }
        if (!n)
            return 1;
        uintptr_t obj = ring[head];
        head = (head + 1) % PREFETCH_RING;
        n--;
        scan(rt, cx, mk, obj, satb);
        if (++since == DEADLINE_CHECK) {
            since = 0;
            stress_delay(mk->stress_delay_us);
            if (deadline_ns && gr_now_ns() >= deadline_ns) {
                /* put the prefetched ones back: they are marked, still unscanned
                 * (no room: they stay grey in the bitmap, which the rescan finds) */
                while (n) {
                    if (*sp < *cap)
                        (*stack)[(*sp)++] = ring[head];
                    else
                        mk->overflow = 1;
                    head = (head + 1) % PREFETCH_RING;
                    n--;
                }
                return 0;
            }
        }
    }
}

/* The main stack first: what is still reachable from it is then marked from it,
 * and what the SATB stack marks after is reachable only through references the
 * mutators deleted while marking (floating garbage, or moved elsewhere). */
int gr_cmark_drain(struct gr_runtime *rt, struct gr_marker *mk, uint64_t deadline_ns)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    return drain_stack(rt, cx, mk, 0, deadline_ns) && drain_stack(rt, cx, mk, 1, deadline_ns);
}

int gr_cmark_rescan(struct gr_runtime *rt, struct gr_marker *mk, uint64_t deadline_ns)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    while (mk->overflow) {
        mk->overflow = 0;
        mk->rescans++;
        uint64_t nwords = (mk->tams - cx->heap_start) / GR_WORD / 64;
        for (uint64_t i = 0; i < nwords; i++) {
            uint64_t grey = RELAXED_LOAD(&cx->obj_starts[i]) & ~RELAXED_LOAD(&cx->live_words[i]);
            while (grey) {
                uint64_t b = (uint64_t)__builtin_ctzll(grey);
                grey &= grey - 1;
                scan(rt, cx, mk, cx->heap_start + (i * 64 + b) * GR_WORD, 0);
                if (!gr_cmark_drain(rt, mk, deadline_ns)) {
                    mk->overflow = 1;       /* not done: the next call rescans from the start */
                    return 0;
                }
            }
        }
    }
    return 1;
}

/* ---- the SATB queue ---- */

static struct gr_satb_buf *new_buf(struct gr_marker *mk)
{
    struct gr_satb_buf *b = mk->spare;
    if (b) {
        mk->spare = b->next;
    } else if (!(b = malloc(sizeof *b))) {
        return NULL;
    }
    b->next = NULL;
    b->n = 0;
    return b;
}

/* A mutator's buffer is full (or it has none): queue it, take a fresh one. */
static struct gr_satb_buf *swap_buf(struct gr_marker *mk, struct gr_mutator *m)
{
    pthread_mutex_lock(&mk->q_mu);
    struct gr_satb_buf *full = m->gc_local;
    if (full && full->n) {
        full->next = mk->full;
        mk->full = full;
        full = NULL;
    }
    struct gr_satb_buf *b = full ? full : new_buf(mk);
    pthread_mutex_unlock(&mk->q_mu);
    m->gc_local = b;
    return b;
}

static void release_mutator(struct gr_marker *mk, struct gr_mutator *m)
{
    struct gr_satb_buf *b = m->gc_local;
    m->gc_local = NULL;
    if (!b)
        return;
    pthread_mutex_lock(&mk->q_mu);
    b->next = b->n ? mk->full : mk->spare;
    if (b->n)
        mk->full = b;
    else
        mk->spare = b;
    pthread_mutex_unlock(&mk->q_mu);
}

/* World stopped: every mutator's partial buffer goes to the queue of full ones. */
void gr_satb_release_all(struct gr_runtime *rt, struct gr_marker *mk)
{
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++)
        release_mutator(mk, &rt->mutators[i]);
}

/* The barrier's slow path (rt->barrier_on): BEFORE *slot = value, log the
 * reference about to be overwritten if it points below TAMS and is unmarked.
 * Stores into objects allocated during marking (above TAMS) need no logging:
 * their old values were stored after the snapshot; gr_store_ref_slow does not
 * call us for them (rt->barrier_floor is TAMS). */
void gr_satb_barrier(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uintptr_t *slot, uintptr_t value)
{
    struct gr_marker *mk = &rt->gc->mk;
    (void)obj;
    if (__builtin_expect(mk->stress_delay_us > 0, 0))
        stress_delay(mk->stress_delay_us);
    uintptr_t tams = mk->tams;
    uintptr_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!old || old >= tams || gr_cmark_is_marked(&rt->gc->cx, old))
        return;
    struct gr_satb_buf *b = m->gc_local;
    if (!b || b->n == GR_SATB_ENTRIES) {
        b = swap_buf(mk, m);
        if (!b) {
            atomic_store(&mk->satb_lost, 1);    /* remark then re-marks in the pause */
            return;
        }
    }
    b->e[b->n++] = old;
}

/* The allocation hook (rt->alloc_hook_on, from the final remark to the flip):
 * the object is live (allocated black). */
void gr_black_alloc(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uint64_t size)
{
    struct gr_compact_ctx *cx = &rt->gc->cx;
    uint64_t w = word_of(cx, obj);
    set_bits_owned(cx->obj_starts, w, 1);
    set_bits_owned(cx->live_words, w, size / GR_WORD);
}

/* One start bit per object; the live words of each stretch of adjacent
 * objects (between fillers) at once (the range is nearly all live: a bit at a
 * time per object was half of the walk). */
struct black_walk {
    struct gr_compact_ctx *cx;
    uint64_t bytes, run, run_end;   /* live words [run, run_end) not yet set */
};

static void set_black(struct gr_runtime *rt, uintptr_t obj, const struct gr_class *c, uint32_t len, uint64_t size,
                      void *arg)
{
    struct black_walk *b = arg;
    uint64_t w = word_of(b->cx, obj);
    (void)rt, (void)c, (void)len;
    if (w != b->run_end) {          /* a filler before it: the stretch ended */
        set_bits_owned(b->cx->live_words, b->run, b->run_end - b->run);
        b->run = w;
    }
    uint64_t *s = &b->cx->obj_starts[w / 64];
    RELAXED_STORE(s, RELAXED_LOAD(s) | UINT64_C(1) << (w % 64));
    b->run_end = w + size / GR_WORD;
    b->bytes += size;
}

uint64_t gr_cmark_black_range(struct gr_runtime *rt, uintptr_t from, uintptr_t to)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    struct black_walk b = {cx, 0, word_of(cx, from), word_of(cx, from)};
    gr_walk_objects(rt, from, to, set_black, &b);
    set_bits_owned(cx->live_words, b.run, b.run_end - b.run);
    return b.bytes;
}

uint64_t gr_cmark_take_satb(struct gr_runtime *rt, struct gr_marker *mk, int all_mutators)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    if (all_mutators)               /* world stopped: the partial buffers too */
        gr_satb_release_all(rt, mk);
    pthread_mutex_lock(&mk->q_mu);
    struct gr_satb_buf *list = mk->full;
    mk->full = NULL;
    pthread_mutex_unlock(&mk->q_mu);
    uint64_t taken = 0;
    while (list) {
        struct gr_satb_buf *b = list;
        list = b->next;
        for (uint64_t i = 0; i < b->n; i++)
            mark_push(cx, mk, b->e[i], 1);     /* its subgraph counts as floating when scanned */
        taken += b->n;
        b->n = 0;
        pthread_mutex_lock(&mk->q_mu);
        b->next = mk->spare;
        mk->spare = b;
        pthread_mutex_unlock(&mk->q_mu);
    }
    mk->satb_entries += taken;
    return taken;
}

static void push_referents(struct gr_runtime *rt, uintptr_t obj, const struct gr_class *c, uint32_t len,
                           uint64_t size, void *arg)
{
    void **a = arg;
    uint64_t first, count;
    (void)rt, (void)size;
    gr_ref_words(c, len, &first, &count);
    for (uint64_t k = 0; k < count; k++) {
        uintptr_t v = ((uintptr_t *)obj)[first + k];
        if (v)
            mark_push(a[0], a[1], v, 0);
    }
}

/* World stopped: a buffer was lost, so the snapshot may be incomplete. Clear
 * the marks below TAMS and mark everything reachable now, in the pause. */
int gr_cmark_full_remark(struct gr_runtime *rt, struct gr_marker *mk)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t nwords = (mk->tams - cx->heap_start) / GR_WORD / 64;
    memset(cx->obj_starts, 0, nwords * sizeof(uint64_t));
    memset(cx->live_words, 0, nwords * sizeof(uint64_t));
    mk->sp = mk->ssp = 0;
    mk->overflow = 0;
    mk->marked_objects = mk->marked_bytes = mk->floating_bytes = 0;
    void *arg[2] = {cx, mk};
    gr_visit_roots(rt, mark_root, arg);
    /* black objects reference objects below TAMS too: trace from them */
    gr_walk_objects(rt, mk->tams, atomic_load(&rt->top), push_referents, arg);
    gr_cmark_drain(rt, mk, 0);
    gr_cmark_rescan(rt, mk, 0);
    atomic_store(&mk->satb_lost, 0);
    return 0;
}

/* Remark complete (world stopped): no store needs logging any more. */
void gr_cmark_end(struct gr_runtime *rt, struct gr_marker *mk)
{
    atomic_store(&rt->barrier_on, 0);
    gr_satb_release_all(rt, mk);
    pthread_mutex_lock(&mk->q_mu);
    struct gr_satb_buf *list = mk->full;      /* empty after the final drain */
    mk->full = NULL;
    while (list) {
        struct gr_satb_buf *b = list;
        list = b->next;
        b->n = 0;
        b->next = mk->spare;
        mk->spare = b;
    }
    pthread_mutex_unlock(&mk->q_mu);
}
