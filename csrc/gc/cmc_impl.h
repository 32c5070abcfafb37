/* cmc_impl.h - collector "cmc"'s state, shared by cmc.c (ops, public API, the
 * pacer's driver thread) and cmc_cycle.c (the phases of a cycle). */
#ifndef GCHEAP_GC_CMC_IMPL_H
#define GCHEAP_GC_CMC_IMPL_H

#include "gc/gc_impl.h"

struct gr_cmc {
    struct cmc *c;
    struct gr_cmc_config cfg;
    uint32_t *src_first;          /* one per possible destination page: staging for cmc */
    uint64_t src_first_bytes;
    struct gr_cmc_info info;
    struct cmc_stats last;        /* stats of the last complete cycle */

    /* the cycle log (log_mu); the running cycle's record (gc_lock) */
    pthread_mutex_t log_mu;
    struct gr_cycle *log;
    uint64_t nlog, caplog;
    int64_t open_cycle;           /* log index whose compaction end is not recorded yet, or -1 */
    struct gr_cycle cur;
    uint64_t bitmap_dirty;        /* bitmap bits may be set below this heap offset */
    uint64_t *snap;               /* GR_CHECK_SATB: the snapshot (a bitmap) */
    uint64_t snap_words;

    /* between the phases of a running cycle (gc_lock) */
    uintptr_t remark_top;         /* top at the last remark: TLABs after it start above */
    uintptr_t catch_top;          /* top at the last catch-up pause */
    uint64_t prepared_chunks;     /* chunk offsets valid for chunks [0, prepared_chunks] */
    uint64_t prepared_pages;      /* page metadata and sources set for [0, prepared_pages) */
    uint64_t moved_bytes, moved_live; /* at prepare: bytes that move, live bytes below the top at remark */
    uint64_t alloc_at_start;      /* bytes allocated by the mutators when the cycle began */

    /* the pacer: a driver thread runs cycles that the trigger asks for */
    pthread_t driver;
    int driver_started;
    pthread_mutex_t drv_mu;
    pthread_cond_t drv_cv;
    int drv_stop, drv_request;
    uint64_t last_cycle_alloc;    /* bytes allocated between the last cycle's start and flip */
    uint64_t paced_cycles;
    double alloc_rate;            /* bytes/s the mutators allocated during the last cycles (EWMA) */
    double mark_s, compact_per_byte; /* the last cycle's start-to-flip time, compaction s per live byte */
    uint64_t stall_ns_at_start;   /* the open cycle's allocation-stall totals when it began */
    uint64_t stalls_at_start;
    int stall_carry;              /* 1: the totals the last record closed at start the next */
    uint64_t carry_ns, carry_stalls;
    _Atomic int api_users;        /* public entry points running (cmc.c: api_enter) */
};

static inline struct gr_cmc *gr_cmc_of(struct gr_runtime *rt) { return rt->gc->cmc; }

/* cmc_cycle.c */
int gr_cmc_in_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg);  /* marking in the pause */
void gr_cmc_arm_trigger(struct gr_runtime *rt);
void gr_cmc_claimed(struct gr_runtime *rt, uintptr_t frontier);
uint64_t gr_allocated_bytes(struct gr_runtime *rt);

#endif
