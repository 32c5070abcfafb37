/* liveness.c - phase compute_liveness: chunk offsets from the live-words bitmap.
 *
 * chunk_offset[c] = live bytes in chunks 0..c-1 (a chunk = the 64 words of one
 * bitmap word), so forward(addr) = heap_start + chunk_offset[chunk(addr)]
 * + 8 * popcount(live bits of the chunk below addr): O(1), and no forwarding
 * word is ever written into the heap (see gr_forward in runtime.h). */
#include "gc/gc_impl.h"

/* Bitmap set by mark. Leaves chunk offsets, live_bytes (= the post-compaction
 * top offset) and n_dst_pages. */
void gr_phase_compute_liveness(struct gr_runtime *rt)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t nchunks = (cx->scan_limit / GR_WORD + 63) / 64;
    uint64_t sum = 0;
    for (uint64_t c = 0; c < nchunks; c++) {
        cx->chunk_offset[c] = sum;
        sum += (uint64_t)__builtin_popcountll(cx->live_words[c]) * GR_WORD;
    }
    cx->chunk_offset[nchunks] = sum;
    cx->live_bytes = sum;
    cx->n_dst_pages = (sum + GR_PAGE - 1) / GR_PAGE;
}
