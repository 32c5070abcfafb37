/* liveness.c - phase compute_liveness: chunk offsets from the live-words bitmap.
 *
 * chunk_offset[c] = live bytes in chunks 0..c-1 (a chunk = the 64 words of one
 * bitmap word), so forward(addr) = heap_start + chunk_offset[chunk(addr)]
 * + 8 * popcount(live bits of the chunk below addr): O(1), and no forwarding
 * word is ever written into the heap (see gr_forward in gc_impl.h).
 * The concurrent collector computes them in two ranges: the chunks below the
 * top at remark while the mutators run, the chunks allocated since in the flip. */
#include "gc/gc_impl.h"

uint64_t gr_liveness_range(struct gr_compact_ctx *cx, uint64_t c0, uint64_t c1)
{
    uint64_t sum = cx->chunk_offset[c0];
    for (uint64_t c = c0; c < c1; c++) {
        cx->chunk_offset[c] = sum;
        sum += (uint64_t)__builtin_popcountll(__atomic_load_n(&cx->live_words[c], __ATOMIC_RELAXED)) * GR_WORD;
    }
    cx->chunk_offset[c1] = sum;
    return sum;
}

/* Bitmap set by mark. Leaves chunk offsets, live_bytes (= the post-compaction
 * top offset) and n_dst_pages. */
void gr_phase_compute_liveness(struct gr_runtime *rt)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t nchunks = (cx->scan_limit / GR_WORD + 63) / 64;
    cx->chunk_offset[0] = 0;
    uint64_t sum = gr_liveness_range(cx, 0, nchunks);
    cx->live_bytes = sum;
    cx->n_dst_pages = (sum + GR_PAGE - 1) / GR_PAGE;
}
