/* pagemeta.c - phase compute_page_metadata: for every destination page, the
 * first object that lands on it.
 *
 *   source:       |A....|  B  |...C.......|      (live objects, in address order)
 *   destination:  |A....B..C..|.......|          (same order, slid to the start)
 *                 page p      page p+1
 *   pages[p+1] = {first_obj = C's source offset, bytes_before = bytes of C on page p,
 *                 C's class and length}
 *
 * Walks the live objects once, reading headers from the (still intact) heap. */
#include "runtime.h"

/* Liveness computed. Leaves pages[0 .. n_dst_pages); returns the live object
 * count, and the bytes of objects whose address changes in *moved_bytes. */
int gr_phase_compute_page_metadata(struct gr_runtime *rt, uint64_t *moved_bytes)
{
    struct gr_compact_ctx *cx = &rt->cx;
    uint64_t limit = cx->scan_limit / GR_WORD;
    uint64_t p = 0, moved = 0, objects = 0;
    uint64_t w = gr_next_live_word(cx->live_words, 0, limit);
    while (w < limit) {
        uint64_t src = w * GR_WORD;
        uint64_t hdr = *(const uint64_t *)(cx->heap_start + src);
        uint64_t size = gr_size_of(&cx->classes[gr_hdr_class(hdr)], gr_hdr_length(hdr));
        uint64_t dst = gr_forward(cx, cx->heap_start + src) - cx->heap_start;
        if (dst != src)
            moved += size;
        objects++;
        while (p < cx->n_dst_pages && p * GR_PAGE < dst + size) {
            cx->pages[p] = (struct gr_page_meta){src, p * GR_PAGE - dst, gr_hdr_class(hdr), gr_hdr_length(hdr)};
            p++;
        }
        w = gr_next_live_word(cx->live_words, w + size / GR_WORD, limit);
    }
    *moved_bytes = moved;
    return (int)(objects > 0x7fffffff ? 0x7fffffff : objects);
}
