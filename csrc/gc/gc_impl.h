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

/* ---- concurrent marking (cmark.c, satb.c) -------------------------------------
 * Snapshot-at-the-beginning: the start pause greys the roots and sets TAMS (top
 * at mark start, 512-byte aligned so that the marker's bitmap words and the
 * allocators' never meet). Objects below TAMS are traced by one GC thread; every
 * object allocated from then until the flip is above TAMS and allocated black
 * (its bits set by the allocation hook; TLABs start on chunk boundaries during a
 * cycle, so each mutator owns the bitmap words of its TLAB). The write barrier
 * logs the reference a store overwrites (if it points below TAMS and is not
 * marked yet) into a per-mutator buffer; full buffers go to a queue the marker
 * drains; the remark pause takes the partial ones. Roots need no barrier: they
 * were snapshot in the start pause, and an object unreachable then can never
 * become reachable again. Bitmaps: obj_starts = marked (grey or black),
 * live_words = scanned (every word of a scanned object); grey = a start bit
 * whose live bit is clear, which is what a mark-stack overflow falls back on. */
#define GR_SATB_ENTRIES 1022u
struct gr_satb_buf {
    struct gr_satb_buf *next;
    uint64_t n;
    uintptr_t e[GR_SATB_ENTRIES];
};

/* Cache lines: mutators read heap, tams and stress_delay_us in every barrier and
 * allocation hook call while marking; the marker writes sp and its counters at
 * every push and pop. On one line, every barrier call missed the cache (64% of
 * its samples on the load of tams, the barrier 13% of Splay's time marking). */
struct gr_marker {
    uintptr_t heap, tams;         /* absolute addresses; not written while marking */
    int stress_delay_us;          /* testing: random delays in the barrier and the marker */
    _Alignas(64) uintptr_t *stack; /* greys reached from the snapshot's roots */
    uint64_t sp, cap, limit;      /* limit: testing (0 = unlimited) */
    uintptr_t *sstack;            /* greys reached only from logged (deleted) references so
                                   * far: drained after the main stack, counted as floating */
    uint64_t ssp, scap;
    int overflow;                 /* a push found the stack full: rescan the bitmap */
    uint64_t marked_objects, marked_bytes, satb_entries, floating_bytes, overflows, rescans;
    int64_t floating_checked;     /* checkmark at the final remark: the exact floating garbage; -1: none */
    /* the barrier's queue of full buffers (q_mu), and spare buffers */
    _Alignas(64) pthread_mutex_t q_mu;
    struct gr_satb_buf *full, *spare;
    _Atomic int satb_lost;        /* a buffer could not be allocated: remark re-marks in the pause */
};

/* cmark.c (the marker: the cycle's thread; the barrier and allocation hook: mutators) */
int gr_marker_init(struct gr_marker *mk, uintptr_t heap);
void gr_marker_fini(struct gr_marker *mk);
void gr_cmark_start(struct gr_runtime *rt, struct gr_marker *mk);     /* start pause */
/* Marks until the stack is empty (1) or deadline_ns (CLOCK_MONOTONIC; 0: none) passes (0). */
int gr_cmark_drain(struct gr_runtime *rt, struct gr_marker *mk, uint64_t deadline_ns);
/* Takes the full barrier buffers (concurrently) / every mutator's partial one too
 * (remark pause) and greys their entries. Returns the entries taken. */
uint64_t gr_cmark_take_satb(struct gr_runtime *rt, struct gr_marker *mk, int all_mutators);
/* After an overflow: greys found in the bitmap are scanned; 1 when none is left. */
int gr_cmark_rescan(struct gr_runtime *rt, struct gr_marker *mk, uint64_t deadline_ns);
/* Remark found the barrier lost entries: re-marks everything from the roots (pause). */
int gr_cmark_full_remark(struct gr_runtime *rt, struct gr_marker *mk);
void gr_cmark_end(struct gr_runtime *rt, struct gr_marker *mk);        /* remark done: barrier off */
/* After the final remark (concurrently, one GC thread): sets the bits of every
 * object in [from, to) = [TAMS, top at remark), all allocated black while
 * marking ran; returns their bytes. */
uint64_t gr_cmark_black_range(struct gr_runtime *rt, uintptr_t from, uintptr_t to);
int gr_cmark_is_marked(const struct gr_compact_ctx *cx, uintptr_t obj);
/* the collector ops' barrier and allocation hook (mutators, in core) */
void gr_satb_barrier(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uintptr_t *slot, uintptr_t value);
void gr_black_alloc(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uint64_t size);
void gr_satb_release_all(struct gr_runtime *rt, struct gr_marker *mk);   /* world stopped */

/* checkmark.c (debug options, world stopped) */
/* GR_CHECK_SATB: marks what is reachable now into snap (a bitmap, cleared first). */
int gr_check_snapshot(struct gr_runtime *rt, uint64_t *snap, uint64_t limit_bytes);
/* 0, or -EFAULT with rt->verify_msg naming the first object of snap (below tams)
 * that is not marked. */
int gr_check_snapshot_marked(struct gr_runtime *rt, const uint64_t *snap, uintptr_t tams);
/* GR_CHECK_MARK: re-marks from the roots with separate bits: 0, or -EFAULT with
 * rt->verify_msg naming an object reachable but neither marked nor allocated
 * black, and the path that reaches it. */
/* ... and on success, *floating (may be NULL): the bytes marked or allocated during
 * marking that are unreachable now, i.e. the floating garbage at remark, exactly. */
int gr_checkmark(struct gr_runtime *rt, uintptr_t tams, uint64_t *floating);

/* Calls fn(rt, obj, class, length, size, arg) for each object of [from, to) in
 * address order, fillers skipped. The range must be parsable: the world
 * stopped, or below the top at a pause that retired the TLABs (their tails and
 * the gaps before chunk-aligned claims are fillers). Inline: a constant fn is
 * inlined into the loop. */
typedef void (*gr_object_fn)(struct gr_runtime *rt, uintptr_t obj, const struct gr_class *c, uint32_t len,
                             uint64_t size, void *arg);
static inline void gr_walk_objects(struct gr_runtime *rt, uintptr_t from, uintptr_t to, gr_object_fn fn, void *arg)
{
    for (uintptr_t p = from; p < to;) {
        uint64_t hdr = *(const uint64_t *)p;
        const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
        uint32_t len = gr_hdr_length(hdr);
        uint64_t size = gr_size_of(c, len);
        if (!size)
            break;              /* (cannot happen: every gap is a filler of at least a word) */
        if (c->kind != GR_KIND_FILLER)
            fn(rt, p, c, len, size, arg);
        p += size;
    }
}

/* liveness.c and pagemeta.c, by range (the concurrent prepare and the flip) */
/* chunk_offset[c] for c in (c0, c1], starting from chunk_offset[c0]; returns chunk_offset[c1]. */
uint64_t gr_liveness_range(struct gr_compact_ctx *cx, uint64_t c0, uint64_t c1);
/* pages[p0 .. p1) from the chunk offsets (valid up to the chunk holding their
 * first objects) and the object-start bitmap. */
void gr_pagemeta_range(struct gr_compact_ctx *cx, uint64_t p0, uint64_t p1);
uint64_t gr_moved_bytes(const struct gr_compact_ctx *cx);

/* ---- the collector's state (rt->gc), outside the heap ---------------------- */
struct gr_cmc;
struct gr_gc {                  /* 64-byte aligned (state.c): see struct gr_marker */
    struct gr_marker mk;          /* concurrent marking (cmc) */
    _Alignas(64) struct gr_compact_ctx cx;
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

/* cmc_cycle.c: one collection of collector cmc (gc_lock held, caller out of core) */
int gr_cmc_cycle(struct gr_runtime *rt, int cause, struct gr_pause *out);
/* The last cycle's compaction is over: its record completed, the bitmaps cleared. */
int gr_cmc_finish_previous(struct gr_runtime *rt);

/* collectors.c */
const struct gr_collector_ops *gr_collector_by_id(int id);
extern const struct gr_collector_ops gr_stw_ops;
extern const struct gr_collector_ops gr_cmc_ops;

#endif
