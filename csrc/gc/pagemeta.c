/* pagemeta.c - phase compute_page_metadata: for every destination page, the
 * first object that lands on it.
 *
 *   source:       |A....|  B  |...C.......|      (live objects, in address order)
 *   destination:  |A....B..C..|.......|          (same order, slid to the start)
 *                 page p      page p+1
 *   pages[p+1] = {first_obj = C's source offset, bytes_before = bytes of C on page p,
 *                 C's class and length}
 *
 * Computed from the bitmaps, not by walking the heap: the source word that lands
 * on destination offset p*PAGE is the k-th live word of the chunk whose chunk
 * offset range holds p*PAGE; its object is the last object start at or before it.
 * Only one header per distinct first object is read (to copy class and length). */
#include "gc/gc_impl.h"

/* Index of the k-th (0-based) set bit of x; x has more than k bits set. */
static inline unsigned select_bit(uint64_t x, unsigned k)
{
    unsigned base = 0;
    for (;;) {
        unsigned c = (unsigned)__builtin_popcountll(x & 0xff);
        if (k < c)
            break;
        k -= c;
        x >>= 8;
        base += 8;
    }
    while (k--)
        x &= x - 1;
    return base + (unsigned)__builtin_ctzll(x);
}

/* The last object start at or before word w (one exists: w is a live word). */
static inline uint64_t prev_start(const uint64_t *starts, uint64_t w)
{
    uint64_t i = w / 64;
    uint64_t bits = starts[i] & ((UINT64_C(2) << (w % 64)) - 1);
    while (!bits)
        bits = starts[--i];
    return i * 64 + 63 - (uint64_t)__builtin_clzll(bits);
}

void gr_pagemeta_range(struct gr_compact_ctx *cx, uint64_t p0, uint64_t p1)
{
    uint64_t c = 0;
    uint64_t cur = UINT64_MAX, cur_end = 0, cur_dst = 0; /* the current first object (words) */
    uint32_t cur_cls = 0, cur_len = 0;
    for (uint64_t p = p0; p < p1; p++) {
        uint64_t target = p * GR_PAGE;
        if (c == 0 && p == p0) {
            /* the chunk whose offset range holds target: binary search */
            uint64_t lo = 0, hi = (cx->scan_limit / GR_WORD + 63) / 64;
            while (lo + 1 < hi) {
                uint64_t mid = (lo + hi) / 2;
                if (cx->chunk_offset[mid] <= target)
                    lo = mid;
                else
                    hi = mid;
            }
            c = lo;
        }
        while (cx->chunk_offset[c + 1] <= target)
            c++;
        uint64_t k = (target - cx->chunk_offset[c]) / GR_WORD;
        uint64_t w = c * 64 + select_bit(cx->live_words[c], (unsigned)k);
        if (cur == UINT64_MAX || w >= cur_end) {
            cur = prev_start(cx->obj_starts, w);
            uint64_t hdr = *(const uint64_t *)(cx->heap_start + cur * GR_WORD);
            cur_cls = gr_hdr_class(hdr);
            cur_len = gr_hdr_length(hdr);
            cur_end = cur + gr_size_of(&cx->classes[cur_cls], cur_len) / GR_WORD;
            cur_dst = gr_forward(cx, cx->heap_start + cur * GR_WORD) - cx->heap_start;
        }
        cx->pages[p] = (struct gr_page_meta){cur * GR_WORD, target - cur_dst, cur_cls, cur_len};
    }
}

/* The bytes of objects whose address changes: all objects after the first
 * dead word move, none before it. */
static uint64_t moved_bytes_of(const struct gr_compact_ctx *cx)
{
    uint64_t nwords = cx->scan_limit / GR_WORD;
    uint64_t nchunks = (nwords + 63) / 64;
    uint64_t w0 = 0; /* the first dead word */
    while (w0 / 64 < nchunks && cx->live_words[w0 / 64] == ~UINT64_C(0))
        w0 += 64;
    if (w0 / 64 < nchunks)
        w0 += (uint64_t)__builtin_ctzll(~cx->live_words[w0 / 64]);
    return w0 >= nwords ? 0 : cx->live_bytes - w0 * GR_WORD;
}

/* Liveness computed. Leaves pages[0 .. n_dst_pages); returns the live object
 * count and, in *moved_bytes, the bytes of objects whose address changes. */
int gr_phase_compute_page_metadata(struct gr_runtime *rt, uint64_t *moved_bytes)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    gr_pagemeta_range(cx, 0, cx->n_dst_pages);
    *moved_bytes = moved_bytes_of(cx);
    return (int)(rt->gc->live_objects > 0x7fffffff ? 0x7fffffff : rt->gc->live_objects);
}

uint64_t gr_moved_bytes(const struct gr_compact_ctx *cx)
{
    return moved_bytes_of(cx);
}
