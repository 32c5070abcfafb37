/* runtime.h - internal definitions of the managed runtime (not fed to cdef).
 *
 * The pieces, one file each:
 *   object.c     object model: header, class table (outside the heap), sizes
 *   heap.c       the reservation, TLABs, the allocation choke point
 *   roots.c      handle table and global roots
 *   safepoint.c  mutator registry and the pause protocol
 *   barrier.c    the write barrier (one function, empty for stw)
 *   mark.c       phase mark: explicit mark stack, sets the live-words bitmap
 *   liveness.c   phase compute_liveness: chunk offsets; forward()
 *   pagemeta.c   phase compute_page_metadata: first object of every destination page
 *   compact.c    gr_compact_page, THE per-page routine shared by stw and cmc
 *   stw.c        the stop-the-world driver running the phases in order
 *   stats.c      pause log
 *   verify.c     heap and root walker
 *   api.c        public entry points: lifecycle, allocation, handles, globals, gc
 *   access.c     public entry points: field and element access, strings
 *   collectors.c the collector registry
 *
 * Heap layout (one private anonymous mapping, 2 MiB aligned, never replaced):
 *
 *   heap                       top                         heap + capacity
 *   |obj|obj|filler|obj|...|obj|   zero (never touched or released)   |
 *
 * Everything in [heap, top) is parseable object by object (the retired tail
 * of every TLAB holds a filler object); everything in [top, end) is zero.
 */
#ifndef GCHEAP_RUNTIME_H
#define GCHEAP_RUNTIME_H

#include "gcheap.h"

/* forward() and the bitmap walks are popcount-heavy: without this, gcc calls
 * libgcc's software __popcountdi2. gr_runtime_new refuses (-ENOTSUP) to run
 * on a CPU without the instruction. */
#if defined(__x86_64__)
#pragma GCC target("popcnt")
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define GR_WORD 8u
#define GR_PAGE 4096u
#define GR_HEAP_ALIGN (2u << 20)
/* A chunk is the 64 words covered by one uint64_t of the live-words bitmap. */
#define GR_CHUNK_WORDS 64u
#define GR_CHUNK_BYTES (GR_CHUNK_WORDS * GR_WORD)
#define GR_MAX_MUTATORS 256
#define GR_MAX_CLASSES 4096
#define GR_MAX_GLOBALS 65536
#define GR_HANDLE_BLOCK 4096u
#define GR_MAX_HANDLE_BLOCKS 16384u
#define GR_TLAB_BYTES (32u << 10)
#define GR_MAX_LENGTH 0xffffffffu

/* ---- object model ---------------------------------------------------------
 * Header (one word): low 32 bits class id, high 32 bits length (elements of
 * an array, bytes of a string, words of a filler; 0 for instances).
 * Instances: header, then every reference field, then every scalar field, one
 * word each (refs first, so a class's reference map is a single word range). */
enum gr_kind {
    GR_KIND_FILLER = 0,
    GR_KIND_INSTANCE,
    GR_KIND_REF_ARRAY,
    GR_KIND_U8_ARRAY,
    GR_KIND_I64_ARRAY,
    GR_KIND_F64_ARRAY,
    GR_KIND_STRING,
};

struct gr_class {
    uint32_t kind;
    uint32_t nrefs;     /* instances only */
    uint32_t nscalars;  /* instances only */
    uint32_t size;      /* instances: bytes including the header */
};

static inline uint32_t gr_hdr_class(uint64_t hdr) { return (uint32_t)hdr; }
static inline uint32_t gr_hdr_length(uint64_t hdr) { return (uint32_t)(hdr >> 32); }
static inline uint64_t gr_make_hdr(uint32_t cls, uint32_t len) { return (uint64_t)len << 32 | cls; }

/* Bytes of an object of class c with this header's length (8-byte multiple). */
static inline uint64_t gr_size_of(const struct gr_class *c, uint32_t len)
{
    switch (c->kind) {
    case GR_KIND_FILLER: return (uint64_t)len * GR_WORD;
    case GR_KIND_INSTANCE: return c->size;
    case GR_KIND_REF_ARRAY:
    case GR_KIND_I64_ARRAY:
    case GR_KIND_F64_ARRAY: return GR_WORD + (uint64_t)len * GR_WORD;
    default: return GR_WORD + (((uint64_t)len + 7) & ~(uint64_t)7);
    }
}

/* The words of an object that hold references: [first, first + count). */
static inline void gr_ref_words(const struct gr_class *c, uint32_t len, uint64_t *first, uint64_t *count)
{
    *first = 1;
    if (c->kind == GR_KIND_INSTANCE)
        *count = c->nrefs;
    else if (c->kind == GR_KIND_REF_ARRAY)
        *count = len;
    else
        *count = 0;
}

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

/* ---- mutators ------------------------------------------------------------- */
struct gr_mutator {
    _Atomic int in_core;          /* 1 while the thread runs inside the C core */
    _Atomic uint64_t owner;       /* thread serial, 0 = free slot */
    char *tlab_top, *tlab_end;    /* touched only by the owner in core, or in a pause */
    uint64_t bytes_allocated;
    uint64_t objects_allocated;
} __attribute__((aligned(64)));

/* ---- the runtime ---------------------------------------------------------- */
struct gr_runtime;
typedef int (*gr_collect_fn)(struct gr_runtime *rt, int cause, struct gr_pause *out);

/* A collector: its driver (called by gr_collect inside a pause, world stopped,
 * TLABs retired) and optional setup/teardown (called by gr_runtime_new after
 * the heap exists / by gr_runtime_close with the world stopped). The registry
 * is gr_collector_ops() in collectors.c. */
struct gr_collector_ops {
    const char *name;
    gr_collect_fn collect;
    int (*init)(struct gr_runtime *rt);
    void (*fini)(struct gr_runtime *rt);
};
const struct gr_collector_ops *gr_collector_ops(int collector);

struct gr_runtime {
    uint64_t serial;
    _Atomic int closed;
    int options;
    int collector;
    gr_collect_fn collect;        /* the collector's driver (stw: gr_stw_collect) */
    const struct gr_collector_ops *ops;
    void *collector_state;        /* owned by the collector (cmc: from-space, uffd, ...) */

    /* heap */
    char *heap;
    uint64_t capacity;
    _Atomic uintptr_t top;        /* global bump pointer (absolute address) */
    uintptr_t high_water;         /* highest top since the last release */
    uint64_t tlab_bytes;
    uint64_t last_live;

    /* classes (fixed capacity: never reallocated, so readable from a signal handler) */
    struct gr_class *classes;
    _Atomic uint32_t nclasses;
    pthread_mutex_t class_lock;

    /* handles: slot = object address (even), or (next_free << 1) | 1 when free */
    pthread_mutex_t handle_lock;
    uintptr_t **handle_blocks;
    _Atomic uint64_t handle_hw;   /* handles 1..handle_hw have a slot (release-published) */
    uint64_t handle_free;         /* head of the free list, 0 = empty */
    uint64_t handles_live;

    /* globals: slot = object address or 0 */
    uintptr_t *globals;
    _Atomic uint64_t globals_hw;  /* slots [0, globals_hw) may be nonzero */

    /* safepoints */
    _Atomic int pause_requested;
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    pthread_mutex_t gc_lock;      /* one collector (or verifier) at a time */
    _Atomic uint64_t gc_epoch;    /* completed collections */
    _Atomic int nmutators;        /* slots in use high-water */
    struct gr_mutator mutators[GR_MAX_MUTATORS];

    /* collector state (outside the heap) */
    struct gr_compact_ctx cx;
    uint64_t bitmap_bytes, chunk_bytes, pagemeta_bytes;
    uint64_t live_objects;        /* from the last mark */
    uintptr_t *mark_stack;
    uint64_t mark_cap;
    char *scratch;                /* one page: the destination buffer of the stw slide */

    /* stats */
    pthread_mutex_t stats_lock;
    struct gr_pause *pauses;
    uint64_t npauses, pauses_cap;
    uint64_t total_pause_ns, max_pause_ns;
    uint64_t dead_bytes_allocated, dead_objects_allocated; /* from released slots */
    char verify_msg[256];         /* the last verification failure */

    /* collector "cmc" (cmc_collector.c); NULL for stw */
    struct gr_cmc *cmc;
};

/* object.c */
int gr_classes_init(struct gr_runtime *rt);
static inline const struct gr_class *gr_class_at(const struct gr_runtime *rt, uint32_t cls) { return &rt->classes[cls]; }
static inline uint64_t gr_object_size(const struct gr_runtime *rt, uintptr_t obj)
{
    uint64_t hdr = *(const uint64_t *)obj;
    return gr_size_of(&rt->classes[gr_hdr_class(hdr)], gr_hdr_length(hdr));
}

/* heap.c */
int gr_heap_init(struct gr_runtime *rt, uint64_t size);
void gr_heap_fini(struct gr_runtime *rt);
uintptr_t gr_alloc(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size, int *err);
void gr_retire_all_tlabs(struct gr_runtime *rt);
void gr_heap_reset_top(struct gr_runtime *rt, uintptr_t new_top);
void gr_fill(uintptr_t from, uintptr_t to);   /* [from, to) becomes one filler object */
uint64_t gr_heap_resident(struct gr_runtime *rt);
uint64_t gr_now_ns(void);

/* access.c */
int gr_copy_payload(struct gr_runtime *rt, struct gr_mutator *m, int64_t h, uint64_t off, char *buf,
                    uint64_t n, bool into_heap);

/* roots.c */
int gr_roots_init(struct gr_runtime *rt);
void gr_roots_fini(struct gr_runtime *rt);
int64_t gr_handle_new(struct gr_runtime *rt, uintptr_t obj);
uintptr_t gr_handle_get(struct gr_runtime *rt, int64_t h);
typedef void (*gr_root_visitor)(uintptr_t *slot, void *arg);
void gr_visit_roots(struct gr_runtime *rt, gr_root_visitor fn, void *arg);

/* safepoint.c */
/* Attaches the calling thread on first use and enters the core (the safepoint
 * protocol). NULL on failure, with the -errno in gr_enter_err (-ESHUTDOWN after
 * close, -EBADF for a NULL runtime, -EAGAIN when every mutator slot is taken). */
extern __thread int gr_enter_err;
struct gr_mutator *gr_enter(struct gr_runtime *rt);
#define GR_ENTER(rt, m) struct gr_mutator *m = gr_enter(rt); if (!m) return gr_enter_err
static inline void gr_leave(struct gr_mutator *m) { atomic_store_explicit(&m->in_core, 0, memory_order_release); }
void gr_pause_begin(struct gr_runtime *rt);   /* caller out of core; takes gc_lock, stops the world */
void gr_pause_end(struct gr_runtime *rt);
int gr_safepoint_poll(struct gr_runtime *rt, struct gr_mutator *m);  /* -ESHUTDOWN if closed */
void gr_stop_world_locked(struct gr_runtime *rt);   /* gc_lock held by the caller */
void gr_resume_world_locked(struct gr_runtime *rt);

/* A packed ref for obj (0 for null): (class id << 32) | a new handle, or -errno. In core. */
static inline int64_t gr_pack(struct gr_runtime *rt, uintptr_t obj)
{
    if (!obj)
        return 0;
    int64_t h = gr_handle_new(rt, obj);
    if (h < 0)
        return h;
    return (int64_t)((uint64_t)gr_hdr_class(*(uint64_t *)obj) << 32) | h;
}

/* The object a reference value's handle stands for (0 for null), or -EBADF. In core. */
static inline int64_t gr_value_of(struct gr_runtime *rt, int64_t vh)
{
    if (vh == 0)
        return 0;
    uintptr_t v = gr_handle_get(rt, vh);
    return v ? (int64_t)v : -EBADF;
}

/* barrier.c */
void gr_write_barrier(struct gr_runtime *rt, uintptr_t obj, uintptr_t *slot, uintptr_t value);

/* the stw phases, in order (each expects the world stopped, TLABs retired) */
int gr_phase_mark(struct gr_runtime *rt);
void gr_phase_compute_liveness(struct gr_runtime *rt);
int gr_phase_compute_page_metadata(struct gr_runtime *rt, uint64_t *moved_bytes);
void gr_phase_update_roots(struct gr_runtime *rt);
void gr_phase_compact(struct gr_runtime *rt);
void gr_phase_release(struct gr_runtime *rt);
int gr_stw_collect(struct gr_runtime *rt, int cause, struct gr_pause *out);
int gr_collect(struct gr_runtime *rt, int cause, struct gr_pause *out);

/* cmc_collector.c: ends a running cycle and frees cmc state (close). */
void gr_cmc_fini(struct gr_runtime *rt);
/* cmc_collector.c: called by gr_collect right after the world resumed. */
void gr_cmc_after_pause(struct gr_runtime *rt);

/* stats.c */
void gr_stats_record(struct gr_runtime *rt, struct gr_pause *p);  /* assigns p->seq */

/* verify.c (world stopped) */
int gr_verify_stopped(struct gr_runtime *rt, char *msg, size_t cap);

#endif
