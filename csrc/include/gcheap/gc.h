#ifndef GCHEAP_GC_H
#define GCHEAP_GC_H
#include "gcheap/cmc.h"
#include "gcheap/runtime.h"
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* gc.h - public API of the collector layer (csrc/gc): the collectors, the
 * constructor that picks one, and collector "cmc"'s reports. Between cdef-begin
 * and cdef-end: plain declarations, fed to cffi's cdef unchanged.
 *
 * Collectors:
 *   stw  stop-the-world sliding mark-compact: every phase in one pause.
 *   cmc  the concurrent compactor: the phases in a pause, then the flip and
 *        concurrent compaction with gr_compact_page as the page builder
 *        (collector_config: struct cmc_config). */
struct gr_compact_ctx;
#define GR_COLLECTOR_STW 0
#define GR_COLLECTOR_CMC 1

/* A new runtime with the collector cfg->collector. -EINVAL: unknown collector
 * or option; -ENOMEM: the reservation was refused; cmc: -errno of what the
 * kernel lacks (no userfaultfd, no DONTUNMAP, ...), with nothing left behind. */
int gr_runtime_new(const struct gr_config *cfg, gr_runtime **out);
/* ---- the shared per-page routine (see compact.c) -------------------------------
 * Builds destination page dst_page of the compacted heap into dst_buf (GR_PAGE
 * bytes), reading object bytes only from from_image (the address that stands for
 * the heap start) and rewriting every reference to forward(ref). Pure C, no
 * locks, no malloc, async-signal-safe. Returns 0, or -ERANGE past the last page. */
int gr_compact_page(const struct gr_compact_ctx *ctx, uint64_t dst_page, const char *from_image, char *dst_buf);

/* Test hook: marks, computes liveness and page metadata with the world stopped,
 * then builds every destination page with gr_compact_page from a private copy
 * of the heap into a buffer (capacity bytes), without changing the heap.
 * Returns the number of bytes built (the post-compaction top offset). */
int64_t gr_debug_compact_to_buffer(gr_runtime *rt, char *out, uint64_t cap);

/* ---- collector "cmc" -------------------------------------------------------------
 * A cycle (docs/cmc.md):  START pause (roots greyed, SATB barrier and black
 * allocation on) -> concurrent mark (one GC thread; full barrier buffers drained)
 * -> REMARK pause (the mutators' buffers; what is left, bounded: over budget,
 * the mutators resume and marking goes on) -> concurrent prepare (chunk offsets,
 * page metadata, from-space sources) -> FLIP pause (objects allocated since
 * remark, roots forwarded, mremap + register) -> concurrent compaction.
 * Cycles start when gc() is called, when an allocation finds the heap full, or
 * earlier, when the pacer sees the free space run short. */

/* Options of collector "cmc" (gr_config.collector_config). A zero field takes
 * its default. */
#define GR_MARK_CONCURRENT 0      /* marking: concurrent, SATB barrier (default) */
#define GR_MARK_IN_PAUSE 1        /* marking: inside one pause with the flip (the baseline) */
#define GR_CHECK_MARK 1           /* checkmark: at remark, a stop-the-world re-mark with separate
                                   * bits; a reachable object left unmarked fails the cycle */
#define GR_CHECK_SATB 2           /* missing-log verifier: the start pause records the snapshot;
                                   * at remark every snapshot object must be marked */
struct gr_cmc_config {
    struct cmc_config machinery;
    int32_t marking;              /* GR_MARK_* */
    int32_t checks;               /* GR_CHECK_* bits */
    int32_t remark_budget_us;     /* remark drains at most this long, else resumes (default 300) */
    int32_t remark_attempts;      /* after this many resumed remarks, the next finishes (default 8) */
    int32_t no_pacing;            /* 0: the pacer starts cycles early; 1: only gc() / a full heap */
    int32_t stress_delay_us;      /* testing: random delays up to this long between phases,
                                   * in the barrier and in the marker */
    uint64_t mark_stack_limit;    /* testing: mark stack entries at most (0: unlimited) */
    int32_t hold_after_start_ms;  /* testing: the cycle waits this long after its start pause
                                   * before it marks (the mutators run meanwhile) */
    int32_t catchup_kib;          /* after remark, a catch-up pause (and more prepare) while more
                                   * than this was allocated since what prepare covers (0: 2048) */
    int32_t no_remark_flush;      /* 1: no catch-up pause that queues the mutators' partial barrier
                                   * buffers before each remark (the remark takes them; ablation) */
    int32_t reserved;
};

/* One collection of collector "cmc": its pauses and its concurrent phases. */
struct gr_cycle {
    uint64_t seq;                 /* 1, 2, ... */
    int32_t cause;                /* GR_CAUSE_* */
    int32_t concurrent;           /* 1: concurrent marking; 0: marked in a pause (full, fallback) */
    int32_t compacted;            /* 1: concurrent compaction; 0: slid stop-the-world */
    int32_t remarks;              /* remark pauses (over-budget ones resumed the mutators) */
    int32_t npauses;
    int32_t failed;               /* -errno: the cycle was abandoned (heap intact), 0 if none */
    int32_t catchups;             /* catch-up pauses: before each remark (remark_flush) and
                                   * the rounds after prepare */
    uint64_t pause_seq[32];       /* gr_pause seqs of its pauses, in order (the first 32 of npauses) */
    uint64_t start_ns;            /* CLOCK_MONOTONIC: the cycle began (before its first pause) */
    uint64_t flip_end_ns;         /* the flip pause ended */
    uint64_t end_ns;              /* compaction complete (0 while it runs) */
    uint64_t longest_pause_ns;
    uint64_t total_pause_ns;
    uint64_t mark_ns;             /* concurrent marking (start pause end .. last remark begin) */
    uint64_t preclean_ns;         /* of which: draining barrier buffers */
    uint64_t prepare_ns;          /* remark end .. flip pause begin */
    uint64_t compaction_ns;       /* flip end .. last page installed */
    uint64_t gc_cpu_ns;           /* CPU time of the GC threads for this cycle (marker, compaction) */
    uint64_t alloc_stalls;        /* allocations that waited for this cycle */
    uint64_t alloc_stall_ns;
    uint64_t marked_objects;
    uint64_t marked_bytes;        /* objects marked below the mark start (traced) */
    uint64_t black_bytes;         /* bytes allocated during marking: live without tracing */
    uint64_t satb_entries;        /* overwritten references the barrier logged */
    uint64_t floating_bytes;      /* estimate of floating garbage: bytes first marked from a logged
                                   * (deleted) reference, an upper bound of what died while marking */
    int64_t floating_checked_bytes; /* checks "checkmark": the floating garbage at the final remark,
                                   * exactly (marked or allocated while marking, unreachable then);
                                   * -1 without the check */
    uint64_t mark_stack_overflows;
    uint64_t bitmap_rescans;
    uint64_t live_bytes;          /* after compaction */
    uint64_t used_before;
};
int64_t gr_cycle_count(gr_runtime *rt);
int gr_cycle_get(gr_runtime *rt, int64_t i, struct gr_cycle *out);

/* Waits until the running compaction cycle (if any) is complete. */
int gr_cmc_wait(gr_runtime *rt, int timeout_ms);
int gr_cmc_active(gr_runtime *rt);

struct gr_cmc_info {
    int32_t enabled;            /* collector is cmc */
    int32_t concurrent;         /* last collection ran concurrently */
    int32_t flip_error;         /* -errno of a failed flip (then stw compacted), 0 if none */
    int32_t forked;             /* this process is a fork child: collections are stop-the-world */
    uint64_t pause_seq;         /* the seq of the last cycle (gr_cycle.seq): cmc_stats are its */
    uint64_t roots_ns;          /* flip.roots */
    uint64_t mark_ns;           /* marking pause part: safepoint .. page metadata */
};
int gr_cmc_info(gr_runtime *rt, struct gr_cmc_info *info, struct cmc_stats *stats);
/* Totals over every cycle of rt's cmc (zeros when rt is not concurrent). */
int gr_cmc_totals(gr_runtime *rt, struct cmc_totals *out);
int gr_cmc_stalls(gr_runtime *rt, double *out, int max);
int gr_cmc_inject(gr_runtime *rt, int point, int nth, int times, int err);
/* cdef-end */
#endif
