/* compact.c - THE per-page routine, shared by the stop-the-world slide and the
 * concurrent compactor, and the stw compact and release phases.
 *
 * gr_compact_page builds destination page p into dst_buf from the source image:
 *   1. the first object comes from pages[p] (source offset, bytes that went to
 *      the previous page, class and length: its header is not read);
 *   2. every later object is found with the live-words bitmap (the next set bit
 *      after the current object's end) and its header is read from the image;
 *   3. every reference word copied is rewritten to forward(ref).
 * It reads the image only at source offsets >= the first object's (bytes_before
 * on), which in the in-place slide are never below p's own start: pages < p
 * are already written, page p is written only after it has been built.
 * Pure C: no locks, no malloc, no heap access outside from_image, nothing that
 * is not async-signal-safe (cmc calls it from a SIGBUS handler). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/gc_impl.h"

int gr_compact_page(const struct gr_compact_ctx *cx, uint64_t dst_page, const char *from_image, char *dst_buf)
{
    if (dst_page >= cx->n_dst_pages)
        return -ERANGE;
    const struct gr_page_meta *pm = &cx->pages[dst_page];
    uint64_t limit = cx->scan_limit / GR_WORD;
    uint64_t src = pm->first_obj, skip = pm->bytes_before;
    uint32_t cls = pm->first_class, len = pm->first_length;
    uint64_t out = 0;
    for (;;) {
        if (cls >= GR_MAX_CLASSES)
            return -EFAULT;
        const struct gr_class *c = &cx->classes[cls];
        uint64_t size = gr_size_of(c, len);
        uint64_t n = size - skip;
        if (n > GR_PAGE - out)
            n = GR_PAGE - out;
        memcpy(dst_buf + out, from_image + src + skip, n);
        /* rewrite the reference words among the copied ones: [skip, skip + n) */
        uint64_t first, count;
        gr_ref_words(c, len, &first, &count);
        uint64_t lo = skip / GR_WORD, hi = (skip + n) / GR_WORD;
        if (lo < first)
            lo = first;
        if (hi > first + count)
            hi = first + count;
        for (uint64_t wi = lo; wi < hi; wi++) {
            uintptr_t *slot = (uintptr_t *)(dst_buf + out + wi * GR_WORD - skip);
            if (*slot)
                *slot = gr_forward(cx, *slot);
        }
        out += n;
        if (out == GR_PAGE)
            break;
        uint64_t w = gr_next_live_word(cx->live_words, (src + size) / GR_WORD, limit);
        if (w >= limit)
            break;
        src = w * GR_WORD;
        skip = 0;
        uint64_t hdr = *(const uint64_t *)(from_image + src);
        cls = gr_hdr_class(hdr);
        len = gr_hdr_length(hdr);
    }
    if (out < GR_PAGE)
        memset(dst_buf + out, 0, GR_PAGE - out); /* above the new top: zero */
    return 0;
}

/* Page metadata computed, roots updated. Slides every live object to its
 * forwarding address, page by page in increasing order. A page whose source
 * bytes all lie at or above its end is built directly in place (nothing it
 * reads is on it); otherwise it is built in the scratch page and copied (see
 * the header comment for why that never reads a clobbered byte). */
void gr_phase_compact(struct gr_runtime *rt)
{
    const struct gr_compact_ctx *cx = gr_cx(rt);
    for (uint64_t p = 0; p < cx->n_dst_pages; p++) {
        char *page = rt->heap + p * GR_PAGE;
        uint64_t src = cx->pages[p].first_obj + cx->pages[p].bytes_before;
        if (src >= (p + 1) * GR_PAGE) {
            gr_compact_page(cx, p, rt->heap, page);
        } else {
            gr_compact_page(cx, p, rt->heap, rt->gc->scratch);
            memcpy(page, rt->gc->scratch, GR_PAGE);
        }
    }
}

/* Compacted. Moves top down and the soft limit to follow the live data, and
 * keeps [top, end) zero: the pages above the new top that the mutators will
 * allocate in again (below the new soft limit) are zeroed in place, the rest
 * go back to the kernel (they read back as zero). Zeroing costs less than
 * MADV_DONTNEED here and spares the mutators one page fault per page they
 * allocate in after the pause (measured: fannkuch 0.49 -> 0.27 s, its pauses
 * 0.60 -> 0.12 ms p50; 1 GiB half-live, the pause 113-138 -> 73-76 ms;
 * docs/cmc.md). */
void gr_phase_release(struct gr_runtime *rt)
{
    const struct gr_compact_ctx *cx = gr_cx(rt);
    uintptr_t old_top = atomic_load(&rt->top);
    uintptr_t high = old_top > rt->high_water ? old_top : rt->high_water;
    uintptr_t new_top = cx->heap_start + cx->live_bytes;
    uintptr_t from = (new_top + GR_PAGE - 1) & ~(uintptr_t)(GR_PAGE - 1);
    uintptr_t to = (high + GR_PAGE - 1) & ~(uintptr_t)(GR_PAGE - 1);
    rt->last_live = cx->live_bytes;
    gr_heap_resize(rt, cx->live_bytes);
    uintptr_t keep = (uintptr_t)rt->heap + atomic_load(&rt->soft_limit);
    if (keep < from)
        keep = from;
    if (keep > to)
        keep = to;
    memset((void *)from, 0, keep - from);
    gr_heap_release(rt, keep, to);
    atomic_store(&rt->top, new_top);
    rt->high_water = new_top;
}
