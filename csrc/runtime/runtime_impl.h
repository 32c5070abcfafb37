/* runtime_impl.h - internal definitions of the managed runtime (not fed to cdef).
 *
 * The runtime layer knows objects, the heap, roots, mutators and pauses; it
 * knows no collector. Collectors (csrc/gc) plug in through struct
 * gr_collector_ops, roots come from the handle table, the global roots and
 * registered root providers (an interpreter's frames and value stack).
 *
 * The pieces, one file each:
 *   object.c     object model: built-in classes, user class definition
 *   heap.c       the reservation, the soft limit, TLABs, the allocation choke point
 *   roots.c      handle table, global roots, root providers, the root visitor
 *   safepoint.c  mutator registry and the pause protocol
 *   pause.c      one pause: stop, retire TLABs, run, resume, log
 *   lifecycle.c  create and close a runtime (with its collector's ops)
 *   api.c        public entry points: allocation, handles, globals, gc, info
 *   access.c     public entry points: field and element access, strings
 *   stats.c      pause log
 *   verify.c     heap and root walker
 *
 * Heap layout (one private anonymous mapping, 2 MiB aligned, never replaced):
 *
 *   heap                     top          heap + soft_limit        heap + capacity
 *   |obj|obj|filler|obj|...|obj|  zero ...  |  zero, reserved, never touched  |
 *
 * Everything in [heap, top) is parseable object by object (the retired tail
 * of every TLAB holds a filler object); everything in [top, end) is zero.
 * Allocation stays below heap + soft_limit; the collector moves the soft limit
 * after each collection (see heap.c).
 */
#ifndef GCHEAP_RUNTIME_IMPL_H
#define GCHEAP_RUNTIME_IMPL_H

#include "gcheap/runtime.h"
#include "kernel/kernel_impl.h"

/* forward() and the bitmap walks are popcount-heavy: without this, gcc calls
 * libgcc's software __popcountdi2. gr_runtime_create refuses (-ENOTSUP) to run
 * on a CPU without the instruction. */
#if defined(__x86_64__)
#pragma GCC target("popcnt")
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

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

/* ---- mutators ------------------------------------------------------------- */
struct gr_mutator {
    _Atomic int in_core;          /* 1 while the thread runs inside the C core */
    _Atomic uint64_t owner;       /* thread serial, 0 = free slot */
    _Atomic int waiting_gc;       /* the owner is blocked waiting for a collection (gr_mutators_busy) */
    char *tlab_top, *tlab_end;    /* touched only by the owner in core, or in a pause */
    uint64_t bytes_allocated;
    uint64_t objects_allocated;
    void *gc_local;               /* the collector's per-mutator state (e.g. a barrier buffer) */
} __attribute__((aligned(64)));

/* ---- roots ------------------------------------------------------------------ */
typedef void (*gr_root_visitor)(uintptr_t *slot, void *arg);

/* A source of roots besides the handle table and the global roots: e.g. a
 * running interpreter's frames and value stack. visit() is called with the
 * world stopped (or by the thread that owns the roots, in core) and calls fn
 * on every slot that holds an object. Providers are added and removed out of
 * core, under gc_lock, so a collection sees a stable list. */
struct gr_root_provider {
    const char *name;
    void (*visit)(struct gr_root_provider *p, gr_root_visitor fn, void *arg);
    int is_program;               /* an interpreter run: close() refuses while one exists */
    struct gr_root_provider *next;
};

/* ---- the collector interface -------------------------------------------------
 * Everything a collector plugs into the runtime; the registry is in csrc/gc
 * (collectors.c). Hooks other than init and collect may be NULL.
 *
 *   init         once, after the heap and root tables exist, before any
 *                mutator: sets up rt->gc. config is the collector's own
 *                (struct cmc_config for cmc) or NULL for its defaults.
 *   fini         at close, gc_lock held, world running (nothing in core
 *                can touch the heap: closed is set): ends any concurrent
 *                work and frees rt->gc. The heap is unmapped after it.
 *   collect      a collection: gc_lock held, the calling thread out of core.
 *                Runs its pause(s) through gr_pause_run; fills out with the
 *                main pause's record; may leave concurrent work running.
 *   after_pause  right after a pause resumed the world (gc_lock still held):
 *                the moment to let GC threads go.
 *   wait         out of core: until no concurrent work of earlier
 *                collections is left (timeout_ms < 0: forever).
 *   barrier      the write barrier's slow path, in core: called only while
 *                rt->barrier_on is set, BEFORE *slot = value, and only for a
 *                holder below rt->barrier_floor.
 *   alloc        in core, after a successful allocation while rt->alloc_hook_on.
 *                While it is on, TLABs and large objects start on a chunk
 *                (GR_CHUNK_BYTES) boundary, so that the bitmap words of one
 *                TLAB belong to its mutator alone.
 *   trigger      in core, from the allocation slow path, once used bytes reach
 *                rt->gc_trigger (the collector's pacer sets it; UINT64_MAX: off).
 *                It must not block; the collector starts a cycle elsewhere.
 */
struct gr_pause;
struct gr_collector_ops {
    const char *name;
    int id;
    int (*init)(struct gr_runtime *rt, const void *config);
    void (*fini)(struct gr_runtime *rt);
    int (*collect)(struct gr_runtime *rt, int cause, struct gr_pause *out);
    void (*after_pause)(struct gr_runtime *rt);
    int (*wait)(struct gr_runtime *rt, int timeout_ms);
    void (*barrier)(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uintptr_t *slot, uintptr_t value);
    void (*alloc)(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uint64_t size);
    void (*trigger)(struct gr_runtime *rt);
    /* in core, from the allocation slow path, once a claim's end passes
     * rt->claim_hint (UINTPTR_MAX: off); may be NULL if it never is set */
    void (*claimed)(struct gr_runtime *rt, uintptr_t frontier);
    /* in a fork child (runtime/fork.c, world held): the collector's threads
     * stayed in the parent; whatever they held or counted is reset */
    void (*fork_child)(struct gr_runtime *rt);
};

/* ---- the runtime ---------------------------------------------------------- */
struct gr_gc;                     /* the collector's state (csrc/gc) */

struct gr_runtime {
    uint64_t serial;
    _Atomic int closed;
    int options;
    const struct gr_collector_ops *ops;
    struct gr_gc *gc;             /* owned by the collector */
    _Atomic int barrier_on;       /* the collector's barrier slow path must run */
    _Atomic int alloc_hook_on;    /* the collector's alloc hook must run */
    _Atomic int cycle_on;         /* a concurrent cycle runs (start to flip): an allocation
                                   * that finds the soft limit reached raises it (heap.c) */
    /* stores into objects at or above it skip the barrier's slow path (SATB:
     * allocated after the snapshot, nothing of the snapshot to log) */
    _Atomic uintptr_t barrier_floor;
    _Atomic uint64_t gc_trigger;  /* used bytes at which ops->trigger runs (UINT64_MAX: never) */

    /* allocations that had to wait for a collection: count, total wait */
    _Atomic uint64_t alloc_stalls, alloc_stall_ns;
    _Atomic uint64_t soft_limit_raises;   /* the soft limit gave way during concurrent marking */

    /* heap */
    char *heap;
#if defined(GR_BARRIER_CARD)
    volatile uint8_t *cards;      /* measurement build only: a byte per 512 heap bytes */
#endif
    uint64_t capacity;            /* the reservation (maximum heap) */
    _Atomic uint64_t soft_limit;  /* allocation stays below heap + soft_limit */
    struct gr_heap_sizing sizing;
    _Atomic uintptr_t top;        /* global bump pointer (absolute address) */
    uintptr_t high_water;         /* highest top since the last release */
    _Atomic uintptr_t claim_hint; /* a claim ending above calls ops->claimed */
    /* [heap + dirty_lo, heap + dirty_hi): free pages above top that may hold
     * garbage (a cmc fill moved unzeroed from-space pages there); a claim zeroes
     * its part of it (gr_heap_note_dirty). dirty_hi == 0: none. */
    _Atomic uint64_t dirty_lo, dirty_hi;
    _Atomic uint64_t claim_zeroed_bytes;  /* bytes those claims zeroed */
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

    /* root providers (under roots_lock; visited with the world stopped) */
    pthread_mutex_t roots_lock;
    struct gr_root_provider *providers;
    _Atomic int programs;         /* providers with is_program set */

    /* safepoints */
    _Atomic int pause_requested;
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    pthread_mutex_t gc_lock;      /* one collector (or verifier) at a time */
    _Atomic uint64_t gc_epoch;    /* completed collections */
    _Atomic int nmutators;        /* slots in use high-water */
    struct gr_mutator mutators[GR_MAX_MUTATORS];

    struct gr_runtime *fork_next; /* fork.c's registry (runtimes are never freed) */
    int fork_held;                /* fork.c: its locks are held across a fork */

    /* the collection gate (pause.c): closed while someone outside the collector owns
     * the heap's pages (a snapshot being written, a swapped-out heap, a lazy restore) */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate_closed;
    uint64_t gate_gen;            /* bumped at each open */
    void (*gate_hurry)(void *ctx);
    void *gate_ctx;
    int gate_hurrying;            /* hurry calls in progress */

    /* stats */
    pthread_mutex_t stats_lock;
    struct gr_pause *pauses;
    uint64_t npauses, pauses_cap;
    uint64_t total_pause_ns, max_pause_ns;
    uint64_t dead_bytes_allocated, dead_objects_allocated; /* from released slots */
    char verify_msg[1024];        /* the last verification failure (or checkmark report) */
};

/* object.c */
int gr_classes_init(struct gr_runtime *rt);
static inline const struct gr_class *gr_class_at(const struct gr_runtime *rt, uint32_t cls) { return &rt->classes[cls]; }
static inline uint64_t gr_object_size(const struct gr_runtime *rt, uintptr_t obj)
{
    uint64_t hdr = *(const uint64_t *)obj;
    return gr_size_of(&rt->classes[gr_hdr_class(hdr)], gr_hdr_length(hdr));
}

/* lifecycle.c: creates a runtime whose collector is ops (collector_config is
 * passed to ops->init). */
int gr_runtime_create(const struct gr_config *cfg, const struct gr_collector_ops *ops, gr_runtime **out);

/* fork.c: every open runtime, for fork(); registers the fork hooks on first use. */
int gr_fork_register(struct gr_runtime *rt);

/* heap.c */
int gr_heap_init(struct gr_runtime *rt, const struct gr_config *cfg);
void gr_heap_fini(struct gr_runtime *rt);
uintptr_t gr_alloc(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size, int *err);

/* An object of `size` bytes was just placed at p for m: counted in m's statistics
 * (only m's owner writes them, stats() reads them from other threads: relaxed
 * atomic stores, plain movs), and passed to the collector's alloc hook when it is
 * on (concurrent marking allocates black). */
static inline void gr_alloc_done(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t p, uint64_t size)
{
    __atomic_store_n(&m->bytes_allocated, m->bytes_allocated + size, __ATOMIC_RELAXED);
    __atomic_store_n(&m->objects_allocated, m->objects_allocated + 1, __ATOMIC_RELAXED);
    if (__builtin_expect(atomic_load_explicit(&rt->alloc_hook_on, memory_order_relaxed), 0))
        rt->ops->alloc(rt, m, p, size);
}

/* gr_alloc's fast path, inline for hot callers (the interpreter's small
 * objects): a bump in m's TLAB and gr_alloc_done, when no collection is due at
 * every allocation and the TLAB has room. 0: call gr_alloc. (With the alloc hook
 * on it used to return 0: vm_alloc_slow and gr_alloc were 5% of Splay's samples
 * while it marked.) */
static inline uintptr_t gr_alloc_fast(struct gr_runtime *rt, struct gr_mutator *m, uint64_t size)
{
    if (__builtin_expect((rt->options & GR_OPT_STRESS) || (uint64_t)(m->tlab_end - m->tlab_top) < size, 0))
        return 0;
    uintptr_t p = (uintptr_t)m->tlab_top;
    m->tlab_top += size;
    gr_alloc_done(rt, m, p, size);
    return p;
}
void gr_retire_all_tlabs(struct gr_runtime *rt);
void gr_heap_reset_top(struct gr_runtime *rt, uintptr_t new_top);
void gr_fill(uintptr_t from, uintptr_t to);   /* [from, to) becomes one filler object */
uint64_t gr_heap_resident(struct gr_runtime *rt);
/* After a collection that left live bytes live and the heap compacted below
 * top: moves the soft limit toward live / target utilisation (see heap.c). */
void gr_heap_resize(struct gr_runtime *rt, uint64_t live);
/* Releases [from, to) (page aligned inside the heap) to the kernel: reads back as zero. */
void gr_heap_release(struct gr_runtime *rt, uintptr_t from, uintptr_t to);
/* Free memory that may hold garbage (heap offsets; see dirty_lo in gr_runtime).
 * note_dirty widens the range to cover [lo, hi) before a word there is written,
 * and is seq_cst: a claim after it zeroes its part, and gr_heap_frontier read
 * after it bounds every claim that did not see it. narrow_dirty: once nothing
 * outside [lo, hi) is garbage any more. clear_dirty: world stopped, nothing
 * above top is garbage (a cmc flip emptied those pages). */
void gr_heap_note_dirty(struct gr_runtime *rt, uint64_t lo, uint64_t hi);
void gr_heap_narrow_dirty(struct gr_runtime *rt, uint64_t lo, uint64_t hi);
void gr_heap_clear_dirty(struct gr_runtime *rt);
uint64_t gr_heap_frontier(struct gr_runtime *rt);
uint64_t gr_now_ns(void);

/* access.c */
int gr_copy_payload(struct gr_runtime *rt, struct gr_mutator *m, int64_t h, uint64_t off, char *buf,
                    uint64_t n, bool into_heap);

/* roots.c */
int gr_roots_init(struct gr_runtime *rt);
void gr_roots_fini(struct gr_runtime *rt);
int64_t gr_handle_new(struct gr_runtime *rt, uintptr_t obj);
uintptr_t gr_handle_get(struct gr_runtime *rt, int64_t h);
/* World stopped: fn on every root slot that holds an object (handles, globals,
 * then every provider). */
void gr_visit_roots(struct gr_runtime *rt, gr_root_visitor fn, void *arg);
/* Out of core (any time: a provider added during concurrent marking holds only
 * objects reachable at the snapshot or allocated since). -ESHUTDOWN if rt is closed. */
int gr_roots_add_provider(struct gr_runtime *rt, struct gr_root_provider *p);
void gr_roots_remove_provider(struct gr_runtime *rt, struct gr_root_provider *p);

/* safepoint.c */
/* Attaches the calling thread on first use and enters the core (the safepoint
 * protocol). NULL on failure, with the -errno in gr_enter_err (-ESHUTDOWN after
 * close, -EBADF for a NULL runtime, -EAGAIN when every mutator slot is taken). */
extern __thread int gr_enter_err;
struct gr_mutator *gr_enter(struct gr_runtime *rt);
#define GR_ENTER(rt, m) struct gr_mutator *m = gr_enter(rt); if (!m) return gr_enter_err
static inline void gr_leave(struct gr_mutator *m) { atomic_store_explicit(&m->in_core, 0, memory_order_release); }
int gr_safepoint_poll(struct gr_runtime *rt, struct gr_mutator *m);  /* -ESHUTDOWN if closed */
/* 1 when a thread holds a mutator slot and is not blocked waiting for a collection:
 * it may be running (a hint, read racily: cmc's install="auto" copies then). */
int gr_mutators_busy(struct gr_runtime *rt);
/* The calling thread waits for a collection (on != 0) or is done waiting: marks its
 * mutator slot of rt, if it holds one (never attaches one). */
void gr_waiting_gc(struct gr_runtime *rt, int on);
void gr_stop_world_locked(struct gr_runtime *rt);   /* gc_lock held by the caller */
/* Fork child: releases every mutator slot but the calling thread's. */
void gr_mutators_after_fork(struct gr_runtime *rt);
void gr_resume_world_locked(struct gr_runtime *rt);

/* pause.c: the one way to run a pause. gc_lock held, caller out of core.
 * Stops the world, retires every TLAB, runs fn (world stopped), resumes the
 * world, calls ops->after_pause, and logs the pause (when fn returned >= 0).
 * out->kind says which pause of a cycle it is (GR_PAUSE_*). */
typedef int (*gr_pause_fn)(struct gr_runtime *rt, struct gr_pause *out, void *arg);
int gr_pause_run(struct gr_runtime *rt, int cause, int kind, gr_pause_fn fn, void *arg, struct gr_pause *out);
/* A collection by the runtime's collector: takes gc_lock (caller out of core). */
int gr_collect(struct gr_runtime *rt, int cause, struct gr_pause *out);

/* The collection gate (pause.c). While something outside the collector owns the
 * heap's pages - a snapshot whose writer still gives staged pages back, a
 * swapped-out heap served from its file, a lazy restore - no collection may move
 * them: gr_collect (and close) pass the gate first. A thread that finds it closed
 * calls the owner's hurry(ctx) (finish now: e.g. bring every swapped page back),
 * without any gate lock, then waits until the owner opens it.
 *   gr_gate_close  -EBUSY when it is closed already (one owner at a time)
 *   gr_gate_open   the owner is done (may be called from inside its hurry)
 *   gr_gate_quiesce  waits until no hurry call runs: then the owner's ctx may go */
int gr_gate_close(struct gr_runtime *rt, void (*hurry)(void *ctx), void *ctx);
void gr_gate_open(struct gr_runtime *rt);
void gr_gate_pass(struct gr_runtime *rt);
void gr_gate_quiesce(struct gr_runtime *rt);
/* The owner's ctx while the gate is closed, else NULL. */
void *gr_gate_owner(struct gr_runtime *rt);

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

/* THE write barrier: every reference store into a heap object goes through
 * gr_store_ref. Off, it costs one load and one predictable branch; on (a
 * concurrent cycle is marking) the store goes through the collector's barrier,
 * which runs before the store (SATB: it logs the value being overwritten).
 *
 * The slow path is a separate function that also does the store, reached by a
 * tail call: the fast path then needs no stack frame (with the call inline,
 * gcc saved and restored registers on every store: 15 instructions instead of
 * 4 in the interpreter's vm_store_ref, +3.6% of GCBench's instructions). */
void gr_store_ref_slow(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uintptr_t *slot,
                       uintptr_t value);

/* A reference store into field/element slot of heap object obj. The store is a
 * release store (a plain mov on x86-64): concurrent GC threads read it. */
static inline void gr_store_ref(struct gr_runtime *rt, struct gr_mutator *m, uintptr_t obj, uintptr_t *slot,
                                uintptr_t value)
{
#if defined(GR_BARRIER_NONE)
    /* measurement build (bench/barrier_cost.py): no barrier at all; only stw may run */
    (void)rt, (void)m, (void)obj;
#else
#if defined(GR_BARRIER_CARD)
    /* measurement build: the card-marking barrier of ART and CMS, unconditional:
     * one byte per 512-byte card of the holder (what it would cost instead) */
    rt->cards[(obj - (uintptr_t)rt->heap) >> 9] = 1;
#endif
    if (__builtin_expect(atomic_load_explicit(&rt->barrier_on, memory_order_relaxed), 0)) {
        gr_store_ref_slow(rt, m, obj, slot, value);
        return;
    }
#endif
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

/* stats.c */
void gr_stats_record(struct gr_runtime *rt, struct gr_pause *p);  /* assigns p->seq */

/* verify.c (world stopped) */
int gr_verify_stopped(struct gr_runtime *rt, char *msg, size_t cap);

#endif
