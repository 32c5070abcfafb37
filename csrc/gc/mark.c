/* mark.c - phase mark: trace the object graph from the roots with an explicit
 * mark stack (no recursion).
 *
 * Marking an object sets its bit in the object-start bitmap (the mark set) and
 * pushes it; scanning it later sets the live-words bitmap bit of EVERY word it
 * occupies (the input of compute_liveness) and pushes its referents. Pushing
 * reads nothing from the object, and popped objects wait in a small FIFO ring
 * (prefetched) before they are scanned, so the header and field loads of a
 * random object graph overlap instead of stalling one by one. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc_impl.h"

#define PREFETCH_RING 16

static void set_bits(uint64_t *bm, uint64_t w, uint64_t n)
{
    while (n) {
        uint64_t bit = w % 64;
        uint64_t take = 64 - bit < n ? 64 - bit : n;
        uint64_t mask = take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1) << bit;
        bm[w / 64] |= mask;
        w += take;
        n -= take;
    }
}

struct mark_state {
    struct gr_runtime *rt;
    uint64_t sp;
    int err;
};

/* Marks obj (if not yet) and pushes it for scanning. */
static inline void mark_push(struct mark_state *st, uintptr_t obj)
{
    struct gr_runtime *rt = st->rt;
    uint64_t w = (obj - gr_cx(rt)->heap_start) / GR_WORD;
    uint64_t bit = UINT64_C(1) << (w % 64);
    if (gr_cx(rt)->obj_starts[w / 64] & bit)
        return;
    gr_cx(rt)->obj_starts[w / 64] |= bit;
    __builtin_prefetch((void *)obj);
    if (st->sp == rt->gc->mark_cap) {
        uint64_t cap = rt->gc->mark_cap ? 2 * rt->gc->mark_cap : 4096;
        uintptr_t *s = realloc(rt->gc->mark_stack, cap * sizeof *s);
        if (!s) {
            st->err = -ENOMEM;
            return;
        }
        rt->gc->mark_stack = s;
        rt->gc->mark_cap = cap;
    }
    rt->gc->mark_stack[st->sp++] = obj;
}

static void mark_root(uintptr_t *slot, void *arg) { mark_push(arg, *slot); }

/* Sets the live words of obj and pushes the objects it references. */
static inline void scan(struct mark_state *st, uintptr_t obj)
{
    struct gr_runtime *rt = st->rt;
    uint64_t hdr = *(uint64_t *)obj;
    const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
    uint32_t len = gr_hdr_length(hdr);
    set_bits(gr_cx(rt)->live_words, (obj - gr_cx(rt)->heap_start) / GR_WORD, gr_size_of(c, len) / GR_WORD);
    uint64_t first, count;
    gr_ref_words(c, len, &first, &count);
    const uintptr_t *w = (const uintptr_t *)obj + first;
    for (uint64_t i = 0; i < count && !st->err; i++)
        if (w[i])
            mark_push(st, w[i]);
}

/* World stopped, TLABs retired. Leaves: for [heap, top), the object-start bit of
 * every reachable object and the live-words bit of every word of it;
 * gr_cx(rt)->scan_limit = top offset; rt->gc->live_objects. Writes nothing into the
 * heap, so a failure (-ENOMEM) leaves it intact. */
int gr_phase_mark(struct gr_runtime *rt)
{
    uint64_t used = atomic_load(&rt->top) - gr_cx(rt)->heap_start;
    uint64_t nwords = (used / GR_WORD + 63) / 64;
    gr_cx(rt)->scan_limit = used;
    memset(gr_cx(rt)->live_words, 0, nwords * sizeof(uint64_t));
    memset(gr_cx(rt)->obj_starts, 0, nwords * sizeof(uint64_t));
    struct mark_state st = {rt, 0, 0};
    gr_visit_roots(rt, mark_root, &st);
    uintptr_t ring[PREFETCH_RING];
    unsigned head = 0, n = 0;
    while (!st.err) {
        while (n < PREFETCH_RING && st.sp) {
            uintptr_t o = rt->gc->mark_stack[--st.sp];
            /* the first four lines: the header and the first 31 reference words */
            __builtin_prefetch((void *)o);
            __builtin_prefetch((void *)(o + 64));
            __builtin_prefetch((void *)(o + 128));
            __builtin_prefetch((void *)(o + 192));
            ring[(head + n) % PREFETCH_RING] = o;
            n++;
        }
        if (!n)
            break;
        uintptr_t obj = ring[head];
        head = (head + 1) % PREFETCH_RING;
        n--;
        scan(&st, obj);
    }
    uint64_t objects = 0;
    for (uint64_t i = 0; i < nwords; i++)
        objects += (uint64_t)__builtin_popcountll(gr_cx(rt)->obj_starts[i]);
    rt->gc->live_objects = objects;
    return st.err;
}
