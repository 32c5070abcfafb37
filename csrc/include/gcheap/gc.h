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

/* Waits until the running compaction cycle (if any) is complete. */
int gr_cmc_wait(gr_runtime *rt, int timeout_ms);
int gr_cmc_active(gr_runtime *rt);

struct gr_cmc_info {
    int32_t enabled;            /* collector is cmc */
    int32_t concurrent;         /* last collection ran concurrently */
    int32_t flip_error;         /* -errno of a failed flip (then stw compacted), 0 if none */
    int32_t forked;             /* this process is a fork child: collections are stop-the-world */
    uint64_t pause_seq;         /* the gr_pause seq of the last collection */
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
