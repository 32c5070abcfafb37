/* state.c - the collector's tables, outside the heap: the live-words and
 * object-start bitmaps, chunk offsets, per-page metadata, the mark stack and
 * the stw slide's scratch page. Mapped MAP_NORESERVE and committed on first
 * touch, so a large reservation costs address space, not memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "gc/gc_impl.h"

static uint64_t round_page(uint64_t n) { return (n + GR_PAGE - 1) & ~(uint64_t)(GR_PAGE - 1); }

static int map_table(uint64_t bytes, void **out)
{
    void *p = mmap(NULL, round_page(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

int gr_gc_state_init(struct gr_runtime *rt)
{
    /* aligned as its type (64: the marker's cache lines, gc_impl.h); calloc gives 16 */
    size_t size = (sizeof(struct gr_gc) + _Alignof(struct gr_gc) - 1) & ~(_Alignof(struct gr_gc) - 1);
    struct gr_gc *g = aligned_alloc(_Alignof(struct gr_gc), size);
    if (!g)
        return -ENOMEM;
    memset(g, 0, size);
    rt->gc = g;                 /* gr_gc_state_fini frees what was mapped */
    uint64_t words = rt->capacity / GR_WORD;
    g->bitmap_bytes = round_page(words / 8);
    g->chunk_bytes = round_page(words / GR_CHUNK_WORDS * sizeof(uint64_t) + sizeof(uint64_t));
    g->pagemeta_bytes = round_page(rt->capacity / GR_PAGE * sizeof(struct gr_page_meta));
    void *p = NULL;
    int rc;
    if ((rc = map_table(g->bitmap_bytes, &p)))
        return rc;
    g->cx.live_words = p;
    if ((rc = map_table(g->bitmap_bytes, &p)))
        return rc;
    g->cx.obj_starts = p;
    if ((rc = map_table(g->chunk_bytes, &p)))
        return rc;
    g->cx.chunk_offset = p;
    if ((rc = map_table(g->pagemeta_bytes, &p)))
        return rc;
    g->cx.pages = p;
    if ((rc = map_table(GR_PAGE, &p)))
        return rc;
    g->scratch = p;
    g->cx.heap_start = (uintptr_t)rt->heap;
    g->cx.classes = rt->classes;
    return 0;
}

void gr_gc_state_fini(struct gr_runtime *rt)
{
    struct gr_gc *g = rt->gc;
    if (!g)
        return;
    if (g->cx.live_words)
        munmap(g->cx.live_words, g->bitmap_bytes);
    if (g->cx.obj_starts)
        munmap(g->cx.obj_starts, g->bitmap_bytes);
    if (g->cx.chunk_offset)
        munmap(g->cx.chunk_offset, g->chunk_bytes);
    if (g->cx.pages)
        munmap(g->cx.pages, g->pagemeta_bytes);
    if (g->scratch)
        munmap(g->scratch, GR_PAGE);
    free(g->mark_stack);
    free(g);
    rt->gc = NULL;
}
