#ifndef GCHEAP_RUNTIME_H
#define GCHEAP_RUNTIME_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* runtime.h - public API of the managed runtime (csrc/runtime): heap, objects,
 * roots, field access, the pause log. The collectors and the constructor that
 * picks one are in gcheap/gc.h. Between cdef-begin and cdef-end: plain
 * declarations, fed to cffi's cdef unchanged.
 *
 * Conventions: functions return >= 0 on success or -errno. A "ref" result is
 * packed: 0 = null, else (class_id << 32) | handle, handle >= 1. Scalar getters
 * return the value itself; on error they return 0 and leave the -errno for
 * gr_last_error() (which callers consult only when they got 0).
 * Errors: -EBADF bad handle, -ERANGE bad index, -EINVAL wrong kind / bad
 * argument, -ENOMEM heap exhausted, -ESHUTDOWN runtime closed,
 * -EFAULT heap corruption found by a verification (message via gr_verify),
 * -ENOSPC a fixed table (classes, globals, handles) is full.
 */
typedef struct gr_runtime gr_runtime;

/* Built-in class ids; user classes are numbered from GR_FIRST_USER_CLASS. */
#define GR_CLASS_FILLER 0
#define GR_CLASS_REF_ARRAY 1
#define GR_CLASS_U8_ARRAY 2
#define GR_CLASS_I64_ARRAY 3
#define GR_CLASS_F64_ARRAY 4
#define GR_CLASS_STRING 5
#define GR_FIRST_USER_CLASS 8

/* The largest heap (gr_config.heap_max; 1 TiB). */
#define GR_MAX_HEAP 1099511627776

/* Options of gr_runtime_new. */
#define GR_OPT_VERIFY 1   /* verify the heap before and after every collection */
#define GR_OPT_STRESS 2   /* collect at every allocation */

/* Phases of a pause, in order (index into gr_pause.phase_ns). */
#define GR_PHASE_SAFEPOINT 0
#define GR_PHASE_VERIFY_BEFORE 1
#define GR_PHASE_MARK 2
#define GR_PHASE_COMPUTE_LIVENESS 3
#define GR_PHASE_COMPUTE_PAGE_METADATA 4
#define GR_PHASE_UPDATE_ROOTS 5
#define GR_PHASE_COMPACT 6
#define GR_PHASE_RELEASE 7
#define GR_PHASE_VERIFY_AFTER 8
#define GR_PHASE_MARK_ROOTS 9         /* start pause: roots greyed, marking turned on */
#define GR_PHASE_SATB_FLUSH 10        /* remark: the mutators' barrier buffers taken */
#define GR_PHASE_REMARK_DRAIN 11      /* remark: what is left to mark, bounded */
#define GR_PHASE_BLACK 12             /* flip: liveness and page metadata of objects allocated after remark */
#define GR_PHASE_FLIP 13              /* flip: mremap + register (the cmc machinery) */
#define GR_PHASE_CHECK 14             /* checkmark / missing-log verification (debug options) */
#define GR_NPHASES 15

/* Which pause of a collection (gr_pause.kind). */
#define GR_PAUSE_FULL 0       /* stw: the whole collection in one pause */
#define GR_PAUSE_MARK_FLIP 1  /* cmc without concurrent marking: mark, then flip */
#define GR_PAUSE_START 2      /* cmc: roots scanned, concurrent marking starts */
#define GR_PAUSE_REMARK 3     /* cmc: the end of marking */
#define GR_PAUSE_FLIP 4       /* cmc: roots forwarded, heap flipped, compaction starts */
#define GR_PAUSE_SNAPSHOT 5   /* snapshot / swap-out: the heap's pages moved to staging (gcheap/snapshot.h) */
#define GR_PAUSE_CATCHUP 6    /* cmc: work handed to a concurrent phase: the mutators' partial barrier
                               * buffers before a remark, or the TLABs retired after prepare so
                               * that it goes on up to their top */

/* Why a collection ran. */
#define GR_CAUSE_EXPLICIT 0
#define GR_CAUSE_ALLOC 1          /* an allocation found the heap full */
#define GR_CAUSE_STRESS 2
#define GR_CAUSE_PACED 3          /* the pacer started a concurrent cycle before the heap filled */
#define GR_CAUSE_FULL 4           /* the heap stayed full after a concurrent cycle: marking in the pause */

struct gr_pause {
    uint64_t seq;             /* 1, 2, ... */
    int32_t collector;
    int32_t cause;
    int32_t kind;             /* GR_PAUSE_* */
    int32_t reserved;
    uint64_t start_ns;        /* CLOCK_MONOTONIC when the pause was requested */
    uint64_t pause_ns;        /* request to resume: the stop-the-world time */
    uint64_t phase_ns[16];    /* GR_PHASE_*; unused entries 0 */
    uint64_t used_before;
    uint64_t live_bytes;
    uint64_t freed_bytes;
    uint64_t moved_bytes;
    uint64_t live_objects;
    uint64_t rss_before;      /* resident bytes of the heap mapping (mincore), not timed */
    uint64_t rss_after;
};

/* How the heap grows and shrinks within its reservation (heap_max), as ART
 * and the JVM do: allocation stays below a soft limit; after each collection
 * the soft limit becomes live / target_utilization, with at least min_free and
 * at most max_free bytes free above live, never more than heap_max. A zero
 * field takes its default (gcheap/runtime.h: GR_DEFAULT_*). */
struct gr_heap_sizing {
    uint64_t initial;             /* the first soft limit */
    uint64_t min_free;
    uint64_t max_free;
    double target_utilization;    /* 0 < u <= 1 */
};
#define GR_DEFAULT_INITIAL_HEAP 8388608     /* 8 MiB */
#define GR_DEFAULT_MIN_FREE 2097152         /* 2 MiB */
#define GR_DEFAULT_MAX_FREE 67108864        /* 64 MiB */
#define GR_DEFAULT_TARGET_UTILIZATION_PCT 50

/* Everything gr_runtime_new (gcheap/gc.h) needs. */
struct gr_config {
    uint64_t heap_max;            /* the reservation: never exceeded, never unmapped */
    struct gr_heap_sizing sizing;
    int32_t collector;            /* GR_COLLECTOR_* */
    int32_t options;              /* GR_OPT_* */
    const void *collector_config; /* the collector's own (struct cmc_config for cmc), or NULL */
    uint64_t heap_address;        /* 0: anywhere; else exactly there (MAP_FIXED_NOREPLACE: -EADDRINUSE
                                   * when anything is mapped in the range) - a restored snapshot */
};

struct gr_heap_info {
    uint64_t address;
    uint64_t capacity;            /* the reservation (heap_max) */
    uint64_t soft_limit;          /* allocation stays below address + soft_limit */
    uint64_t resident;            /* bytes of the heap mapping in memory now (mincore) */
    uint64_t used;            /* top - start (includes unused TLAB space) */
    uint64_t live;            /* live bytes after the last collection */
    uint64_t page_size;
    uint64_t tlab_bytes;
};

struct gr_stats {
    uint64_t collections;
    uint64_t total_pause_ns;
    uint64_t max_pause_ns;
    uint64_t bytes_allocated;
    uint64_t objects_allocated;
    uint64_t handles_live;
    uint64_t mutators;
    uint64_t classes;
    uint64_t alloc_stalls;        /* allocations that waited for a collection */
    uint64_t alloc_stall_ns;      /* their total wait */
    uint64_t soft_limit_raises;   /* allocations that raised the soft limit while a concurrent
                                   * cycle marked, instead of waiting for it */
    uint64_t claim_zeroed_bytes;  /* free memory a cmc fill left unzeroed, zeroed by the
                                   * allocations that took it (csrc/runtime/heap.c) */
};

const char *gr_phase_name(int phase);

/* ---- lifecycle (gr_runtime_new: gcheap/gc.h) ---------------------------------- */
/* Stops the world, unmaps the heap and frees the tables. The small struct stays
 * allocated so that a late call from another thread gets -ESHUTDOWN, not a crash.
 * -EBUSY (nothing done) while an interpreter program runs on rt. */
int gr_runtime_close(gr_runtime *rt);
int gr_last_error(void);

/* ---- classes and allocation ------------------------------------------------ */
int gr_define_class(gr_runtime *rt, uint32_t nrefs, uint32_t nscalars);
int64_t gr_new_instance(gr_runtime *rt, int64_t class_id);
int64_t gr_new_array(gr_runtime *rt, int64_t class_id, int64_t length);
int64_t gr_new_str(gr_runtime *rt, const char *utf8, uint64_t nbytes);

/* ---- handles ----------------------------------------------------------------- */
int gr_handle_free(gr_runtime *rt, int64_t h);
int64_t gr_handle_dup(gr_runtime *rt, int64_t h);
int gr_same(gr_runtime *rt, int64_t h1, int64_t h2);
int64_t gr_class_of(gr_runtime *rt, int64_t h);
int64_t gr_address(gr_runtime *rt, int64_t h);     /* for tests and debugging */

/* ---- instance fields: idx is the field's word (refs 1..nrefs, then scalars) ---- */
int64_t gr_get_ref(gr_runtime *rt, int64_t h, int64_t idx);
int gr_set_ref(gr_runtime *rt, int64_t h, int64_t idx, int64_t value_h);
int64_t gr_get_i64(gr_runtime *rt, int64_t h, int64_t idx);
int gr_set_i64(gr_runtime *rt, int64_t h, int64_t idx, int64_t v);
double gr_get_f64(gr_runtime *rt, int64_t h, int64_t idx);
int gr_set_f64(gr_runtime *rt, int64_t h, int64_t idx, double v);

/* ---- arrays and strings (negative i counts from the end) ---------------------- */
int64_t gr_length(gr_runtime *rt, int64_t h);
int64_t gr_aget_ref(gr_runtime *rt, int64_t h, int64_t i);
int gr_aset_ref(gr_runtime *rt, int64_t h, int64_t i, int64_t value_h);
int64_t gr_aget_i64(gr_runtime *rt, int64_t h, int64_t i);
int gr_aset_i64(gr_runtime *rt, int64_t h, int64_t i, int64_t v);
double gr_aget_f64(gr_runtime *rt, int64_t h, int64_t i);
int gr_aset_f64(gr_runtime *rt, int64_t h, int64_t i, double v);
int64_t gr_aget_u8(gr_runtime *rt, int64_t h, int64_t i);
int gr_aset_u8(gr_runtime *rt, int64_t h, int64_t i, int64_t v);
/* Copies nbytes of a primitive array's or string's payload from byte offset. */
int gr_read_payload(gr_runtime *rt, int64_t h, uint64_t offset, uint64_t nbytes, void *out);

/* ---- global roots -------------------------------------------------------------- */
int gr_global_set(gr_runtime *rt, int64_t idx, int64_t value_h);
int64_t gr_global_get(gr_runtime *rt, int64_t idx);

/* ---- collection, verification, statistics ------------------------------------ */
int gr_gc(gr_runtime *rt, struct gr_pause *out);
int gr_verify(gr_runtime *rt, char *msg, uint64_t cap);
int gr_heap_info(gr_runtime *rt, struct gr_heap_info *out);
int gr_stats(gr_runtime *rt, struct gr_stats *out);
int64_t gr_pause_count(gr_runtime *rt);
int gr_pause_get(gr_runtime *rt, int64_t i, struct gr_pause *out);

/* The message of the last verification failure (also after a collection that
 * returned -EFAULT because verify=True found corruption). */
int gr_last_verify_message(gr_runtime *rt, char *msg, uint64_t cap);
/* cdef-end */
#endif
