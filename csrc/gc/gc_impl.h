/* gc_impl.h - internal definitions of the collector layer (not fed to cdef).
 *
 * The algorithm (which phases run in which order, in which pause) is a
 * collector; the phases are shared. One file each:
 *   collectors.c  the registry: collector id -> struct gr_collector_ops
 *   api.c         gr_runtime_new (the collector chosen by id), debug hooks
 *   state.c       struct gr_gc: the tables every collector's phases use
 *   mark.c        phase mark: explicit mark stack, sets the live-words bitmap
 *   liveness.c    phase compute_liveness: chunk offsets; forward()
 *   pagemeta.c    phase compute_page_metadata: first object of every destination page
 *   compact.c     gr_compact_page, THE per-page routine shared by stw and cmc
 *   stw.c         collector "stw": every phase in one pause
 *   cmc.c         collector "cmc": phases in a pause, then the flip and
 *                 concurrent compaction by the cmc machinery (csrc/cmc)
 */
#ifndef GCHEAP_GC_IMPL_H
#define GCHEAP_GC_IMPL_H

#include "gcheap/cmc.h"
#include "gcheap/gc.h"
#include "runtime/runtime_impl.h"

/* ---- liveness and per-page metadata (what gr_compact_page reads) ----------- */
/* For destination page p of the compacted heap: the object whose bytes cover
 * the page's first byte, as it was before compaction. Its class and length are
 * copied here so that nobody reads a header that may already be overwritten
 * (stw slides in place) or that lives in from-space (cmc). */
struct gr_page_meta {
    uint64_t first_obj;       /* pre-compaction offset from heap start; UINT64_MAX: page empty */
    uint64_t bytes_before;    /* bytes of first_obj that precede the page start */
    uint32_t first_class;
    uint32_t first_length;
};

/* Everything forward() and gr_compact_page need; lives outside the heap. */
struct gr_compact_ctx {
    uintptr_t heap_start;
    uint64_t scan_limit;          /* old top offset: no live word at or above it */
    uint64_t *live_words;         /* bit i = heap word i is part of a live object */
    uint64_t *obj_starts;         /* bit i = a live object starts at word i (mark-time;
                                   * compute_page_metadata uses it, gr_compact_page does not) */
    uint64_t *chunk_offset;       /* bytes of live data before chunk c */
    uint64_t live_bytes;          /* post-compaction top offset */
    uint64_t n_dst_pages;         /* ceil(live_bytes / GR_PAGE) */
    struct gr_page_meta *pages;   /* one per destination page */
    const struct gr_class *classes;
};

/* forward(addr): post-compaction address of the live object at addr (pre-compaction).
 * O(1): chunk offset + 8 * live words before addr inside its chunk. */
static inline uintptr_t gr_forward(const struct gr_compact_ctx *cx, uintptr_t addr)
{
    uint64_t w = (addr - cx->heap_start) / GR_WORD;
    uint64_t bits = cx->live_words[w / 64] & ((UINT64_C(1) << (w % 64)) - 1);
    return cx->heap_start + cx->chunk_offset[w / 64] + (uint64_t)__builtin_popcountll(bits) * GR_WORD;
}

/* First word index >= w whose live bit is set, or limit if none below limit. */
static inline uint64_t gr_next_live_word(const uint64_t *bm, uint64_t w, uint64_t limit)
{
    if (w >= limit)
        return limit;
    uint64_t i = w / 64;
    uint64_t bits = bm[i] & (~UINT64_C(0) << (w % 64));
    uint64_t last = (limit - 1) / 64;
    while (!bits) {
        if (++i > last)
            return limit;
        bits = bm[i];
    }
    uint64_t r = i * 64 + (uint64_t)__builtin_ctzll(bits);
    return r < limit ? r : limit;
}

static inline bool gr_is_marked(const struct gr_compact_ctx *cx, uintptr_t addr)
{
    uint64_t w = (addr - cx->heap_start) / GR_WORD;
    return (cx->live_words[w / 64] >> (w % 64)) & 1;
}

/* ---- the collector's state (rt->gc), outside the heap ---------------------- */
struct gr_cmc;
struct gr_gc {
    struct gr_compact_ctx cx;
    uint64_t bitmap_bytes, chunk_bytes, pagemeta_bytes;
    uint64_t live_objects;        /* from the last mark */
    uintptr_t *mark_stack;
    uint64_t mark_cap;
    char *scratch;                /* one page: the destination buffer of the stw slide */
    struct gr_cmc *cmc;           /* collector "cmc" only */
};

static inline struct gr_compact_ctx *gr_cx(struct gr_runtime *rt) { return &rt->gc->cx; }

/* state.c: the tables (committed on first touch) and their release. */
int gr_gc_state_init(struct gr_runtime *rt);
void gr_gc_state_fini(struct gr_runtime *rt);

/* the phases, in order (each expects the world stopped, TLABs retired) */
int gr_phase_mark(struct gr_runtime *rt);
void gr_phase_compute_liveness(struct gr_runtime *rt);
int gr_phase_compute_page_metadata(struct gr_runtime *rt, uint64_t *moved_bytes);
void gr_phase_update_roots(struct gr_runtime *rt);
void gr_phase_compact(struct gr_runtime *rt);
void gr_phase_release(struct gr_runtime *rt);
/* The pause body of stw: every phase, heap compacted in place. */
int gr_stw_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg);

/* collectors.c */
const struct gr_collector_ops *gr_collector_by_id(int id);
extern const struct gr_collector_ops gr_stw_ops;
extern const struct gr_collector_ops gr_cmc_ops;

#endif
