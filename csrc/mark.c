/* mark.c - phase mark: trace the object graph from the roots with an explicit
 * mark stack (no recursion). Marking an object sets the live-words bitmap bit
 * of EVERY word it occupies, so the bitmap is both the mark set (bit of the
 * first word) and the input of compute_liveness. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

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
static void mark_push(struct mark_state *st, uintptr_t obj)
{
    struct gr_runtime *rt = st->rt;
    if (gr_is_marked(&rt->cx, obj))
        return;
    set_bits(rt->cx.live_words, (obj - rt->cx.heap_start) / GR_WORD, gr_object_size(rt, obj) / GR_WORD);
    if (st->sp == rt->mark_cap) {
        uint64_t cap = rt->mark_cap ? 2 * rt->mark_cap : 4096;
        uintptr_t *s = realloc(rt->mark_stack, cap * sizeof *s);
        if (!s) {
            st->err = -ENOMEM;
            return;
        }
        rt->mark_stack = s;
        rt->mark_cap = cap;
    }
    rt->mark_stack[st->sp++] = obj;
}

static void mark_root(uintptr_t *slot, void *arg) { mark_push(arg, *slot); }

/* World stopped, TLABs retired. Leaves: live-words bitmap of [heap, top) set
 * for every word of every reachable object; rt->cx.scan_limit = top offset.
 * Changes nothing in the heap, so a failure (-ENOMEM) leaves it intact. */
int gr_phase_mark(struct gr_runtime *rt)
{
    uint64_t used = atomic_load(&rt->top) - rt->cx.heap_start;
    rt->cx.scan_limit = used;
    memset(rt->cx.live_words, 0, (used / GR_WORD + 63) / 64 * sizeof(uint64_t));
    struct mark_state st = {rt, 0, 0};
    gr_visit_roots(rt, mark_root, &st);
    while (st.sp && !st.err) {
        uintptr_t obj = rt->mark_stack[--st.sp];
        uint64_t hdr = *(uint64_t *)obj;
        const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
        uint64_t first, count;
        gr_ref_words(c, gr_hdr_length(hdr), &first, &count);
        const uintptr_t *w = (const uintptr_t *)obj + first;
        for (uint64_t i = 0; i < count && !st.err; i++)
            if (w[i])
                mark_push(&st, w[i]);
    }
    return st.err;
}
