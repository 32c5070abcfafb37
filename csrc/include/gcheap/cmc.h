#ifndef GCHEAP_CMC_H
#define GCHEAP_CMC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* api_cmc.h - public API of the concurrent compactor's kernel-facing machinery
 * (csrc/cmc_*.c). Plain declarations only: fed to cffi's cdef unchanged.
 *
 * One `struct cmc` per heap. It is generic over a PAGE BUILDER: a pure-C,
 * lock-free, async-signal-safe function that writes destination page `dst_page`
 * of the compacted heap into `dst_buf` (one page), reading object bytes only
 * from `from_image` (the from-space address that corresponds to the heap start).
 * The runtime plugs in its compact_page; tests use the XOR builder below.
 *
 * A cycle:  cmc_flip (inside the caller's safepoint pause)  ->  GC workers and
 * faulting mutators build every destination page exactly once  ->  the last
 * page installed ends the cycle (unregister, release from-space)  ->  cmc_wait.
 * Functions return >= 0 or -errno.
 */
typedef int (*cmc_build_fn)(void *ctx, uint64_t dst_page, const char *from_image, char *dst_buf);
/* The allocator's side of the fill (cmc_set_alloc_hooks): the heap offset every
 * allocation so far lies below; free memory [lo_off, hi_off) that may hold garbage
 * (narrow = 0: widen to cover it, before; narrow = 1: nothing outside it is, after). */
typedef uint64_t (*cmc_frontier_fn)(void *ctx);
typedef void (*cmc_dirty_fn)(void *ctx, uint64_t lo_off, uint64_t hi_off, int narrow);
/* The runtime's side of install="auto" (cmc_set_busy_hook): nonzero while a mutator
 * may be running, so that a move's TLB shootdown would interrupt it. */
typedef int (*cmc_busy_fn)(void *ctx);

#define CMC_FAULT_SIGBUS 0
#define CMC_FAULT_THREAD 1
#define CMC_INSTALL_COPY 0
#define CMC_INSTALL_MOVE 1
/* auto: GC threads copy while the busy hook (cmc_set_busy_hook) says a mutator
 * may be running: every UFFDIO_MOVE shoots down the TLB of every CPU running the
 * process, and the interrupted mutator pays for it (the IPI, then a TLB refilled
 * through two-level page walks in a VM) where the mover's timing cannot see it
 * (Splay, TLB shootdowns per run: 2666-3323 under "auto" before the hook, which
 * moved nearly everything; 409-512 copying; RMS 1.74x -> 1.67x a run that never
 * collects, docs/cmc.md). Otherwise they move while a move costs less than a copy plus the
 * release of the from-space page a move would have recycled, both timed per page
 * as they run. Mutators' fault services copy (the mutator is running by
 * definition). MOVE missing: copy. */
#define CMC_INSTALL_AUTO 2
#define CMC_FLIP_DONTUNMAP 0
#define CMC_FLIP_REMAP 1

/* Fault-injection points: the nth time the step runs it fails with -err, and
 * so do the times-1 runs after it (times < 0: every run from the nth on). */
#define CMC_INJ_NONE 0
#define CMC_INJ_RESERVE 1       /* from-space reservation (cmc_create) */
#define CMC_INJ_UFFD 2          /* opening the userfaultfd (cmc_create) */
#define CMC_INJ_THREAD 3        /* starting a GC worker / fault thread (cmc_create) */
#define CMC_INJ_REGISTER 4      /* UFFDIO_REGISTER at the flip */
#define CMC_INJ_MREMAP 5        /* the flip's mremap */
#define CMC_INJ_IOCTL 6         /* an install ioctl (COPY/MOVE/ZEROPAGE) */
#define CMC_INJ_WORKER 7        /* a GC worker dies at the start of its cycle */
#define CMC_INJ_REMAP_MMAP 8    /* flip="remap": the re-mapping of the heap range */

struct cmc_config {
    int fault_mode;             /* CMC_FAULT_* */
    int install;                /* CMC_INSTALL_* (requested) */
    int gc_threads;             /* >= 1 */
    int flip;                   /* CMC_FLIP_* */
    int run_pages;              /* pages per GC-worker install (batch), 1..256 */
    int release_batch_pages;    /* from-space pages released per madvise, >= 1 */
    int worker_delay_us;        /* testing: GC workers start this late, so mutators fault first */
    int end_delay_us;           /* testing: the last GC worker waits this long before ending a cycle */
    int install_deadline_ms;    /* a page that cannot be made present for this long aborts the
                                   process (0: CMC_INSTALL_DEADLINE_MS); see cmc_stuck.c */
    int remap_gap_us;           /* testing, flip=CMC_FLIP_REMAP: hold the unmapped window open this
                                   long (the range-theft experiment, independent of scheduling) */
    int recycle_free;           /* at a cycle's end, move garbage from-space pages into the free
                                   pages above the allocation frontier (recycle.c): zeroed first,
                                   unless the allocator zeroes them (cmc_set_alloc_hooks) */
    int fill_delay_us;          /* testing: the fill waits this long once its range is registered
                                   (so that mutators fault inside it) */
};
#define CMC_INSTALL_DEADLINE_MS 10000

struct cmc_stats {
    uint64_t cycles;
    int32_t active;             /* a cycle is running */
    int32_t install;            /* effective CMC_INSTALL_* */
    int32_t move_fallback;      /* MOVE requested but the kernel lacks it */
    int32_t last_error;         /* last -errno seen by any step, 0 if none */
    int32_t last_error_point;   /* CMC_INJ_* numbering of the step that failed */
    int32_t worker_failures;
    uint64_t n_build;           /* destination pages built this cycle */
    uint64_t used_pages;        /* pages registered this cycle */
    uint64_t pages_by_gc;
    uint64_t pages_by_mutator;
    uint64_t zero_pages;
    uint64_t faults;            /* fault services (SIGBUS entries or events) */
    uint64_t ioctl_copy;
    uint64_t ioctl_move;
    uint64_t ioctl_zeropage;
    uint64_t ioctl_wake;
    uint64_t ioctl_errors;
    uint64_t eexist;
    uint64_t eagain;
    uint64_t moved_bytes;       /* bytes of built pages installed */
    uint64_t released_bytes;    /* from-space released while the cycle ran (its present pages) */
    uint64_t recycled_pages;    /* move: pages built in consumed from-space and moved */
    uint64_t fill_pages;        /* recycle_free: from-space pages moved into free heap pages */
    uint64_t auto_copy_pages;   /* auto: pages GC threads copied (a mutator ran, or moving cost more) */
    uint64_t chunk_pages;       /* pages that went into the heap in whole 2 MiB chunks by mremap
                                   (built in place in from-space, or the fill's) */
    uint64_t rss_before;        /* at the flip */
    uint64_t peak_rss;          /* sampled during the cycle */
    uint64_t thefts;            /* flip="remap": times the heap range was taken */
    uint64_t stalls;            /* entries in the stall log this cycle */
    uint64_t stalls_dropped;
    double flip_s;              /* cmc_flip total */
    double flip_register_s;
    double flip_mremap_s;
    double flip_prepare_s;      /* validation, state reset (part of flip_s) */
    double flip_dontneed_s;     /* dropping what slipped into the heap range */
    double compaction_s;        /* flip end to last page installed */
    double gc_cpu_s;            /* CPU time of the GC workers in this cycle */
};

/* Totals over every cycle of a cmc: the completed cycles plus, while one
 * runs, its counts so far. (struct cmc_stats is the current/last cycle's.) */
struct cmc_totals {
    uint64_t cycles;            /* completed cycles */
    uint64_t pages_by_gc;
    uint64_t pages_by_mutator;
    uint64_t zero_pages;
    uint64_t faults;
    uint64_t ioctl_errors;
    uint64_t eexist;
    uint64_t eagain;
    uint64_t worker_failures;
    uint64_t moved_bytes;
    uint64_t released_bytes;
    uint64_t recycled_pages;
    uint64_t stalls;
    uint64_t prefault_pages;    /* free pages made present ahead of allocation (prefault.c) */
    uint64_t fill_pages;        /* free pages filled with recycled from-space pages (recycle.c) */
    uint64_t chunk_pages;       /* of the built and filled pages, those moved in whole chunks */
    double flip_s;
    double compaction_s;
    double gc_cpu_s;
    double prefault_s;
    double fill_s;              /* time the fills took (part of the cycles' GC CPU) */
};

struct cmc;

/* Validates, reserves from-space (same size, 2 MiB aligned), opens and
 * configures the userfaultfd, installs the SIGBUS handler and starts the
 * threads. On failure nothing is left behind. */
int cmc_create(uintptr_t heap, uint64_t heap_size, const struct cmc_config *cfg,
               struct cmc **out);
/* Waits for a running cycle, stops threads, releases everything. */
void cmc_destroy(struct cmc *c);
int cmc_set_builder(struct cmc *c, cmc_build_fn fn, void *ctx);
/* Lets the fill (recycle_free) move garbage from-space pages into the free pages
 * without zeroing them: it calls dirty(lo, hi, 0), then moves nothing below
 * frontier() (read after it, before each run), then dirty(lo', hi', 1) with the
 * pages it moved; the allocator zeroes what it claims inside the dirty range (its
 * claims must read the range after they take memory, both sides seq_cst). Without
 * hooks the fill zeroes each page before it moves it. -EBUSY while a cycle runs. */
int cmc_set_alloc_hooks(struct cmc *c, cmc_frontier_fn frontier, cmc_dirty_fn dirty, void *ctx);
/* install="auto": while busy(ctx) returns nonzero (read before each GC worker's
 * run), GC workers copy. Without a hook they take every mutator as idle. -EBUSY
 * while a cycle runs. */
int cmc_set_busy_hook(struct cmc *c, cmc_busy_fn busy, void *ctx);
uintptr_t cmc_from_space(struct cmc *c);

/* The flip. Caller guarantees no mutator touches the heap until it returns.
 * A fork() waits for a flip in progress and for the cycle it starts.
 * used_len: bytes from the heap start moved and registered (page multiple);
 * n_build: destination pages [0, n_build) are built, [n_build, used) are zero;
 * src_first[p] (p < n_build): the lowest from-space page page p reads
 * (non-decreasing). On failure the heap is intact and no cycle runs. */
int cmc_flip(struct cmc *c, uint64_t used_len, uint64_t n_build, const uint32_t *src_first);
/* The same, moving [heap, heap + move_len) (>= used_len) but registering only
 * [heap, heap + used_len): the mutators' first touches above used_len (where they
 * allocate after the flip) are then ordinary page faults. flip="dontunmap" only. */
int cmc_flip_moving(struct cmc *c, uint64_t move_len, uint64_t used_len, uint64_t n_build,
                    const uint32_t *src_first);
/* Stores src_first[first .. first + count) for the next flip ahead of it, outside
 * any pause (validated: non-decreasing, also against entry first - 1, below the
 * heap's page count; -EBUSY while a cycle runs). cmc_flip with src_first == NULL
 * then uses entries [0, n_build), which must all have been set since the last flip:
 * the flip itself does O(1) work for them. */
int cmc_set_src_first(struct cmc *c, uint64_t first, uint64_t count, const uint32_t *values);
/* The free heap pages made present ahead of allocation (csrc/cmc/prefault.c): after
 * a flip (or a stop-the-world fallback), [heap + from_off, heap + to_off) is the
 * window the GC workers populate ahead of the mutators' allocation frontier, between
 * cycles, its first 4 MiB (CMC_PF_AHEAD) at once. from_off must lie above the
 * registered range (else the window is empty), page aligned. The mutators report
 * their frontier (a heap offset) with cmc_want_present once it reaches the offset
 * either call returns (UINT64_MAX: not before the next window). flip="dontunmap"
 * only; elsewhere, and in a fork child, both return UINT64_MAX and do nothing. */
uint64_t cmc_set_prefault(struct cmc *c, uint64_t from_off, uint64_t to_off);
uint64_t cmc_want_present(struct cmc *c, uint64_t frontier_off);
/* on != 0: the GC workers populate nothing ahead of allocation until
 * cmc_prefault_hold(c, 0) (the caller's own concurrent work runs meanwhile). */
void cmc_prefault_hold(struct cmc *c, int on);
/* The heap offset below which the last cycle's fill (csrc/cmc/recycle.c) and the
 * prefault left the free pages present: they went to from-space with the flip, and
 * a window up to here gets them back (0 when there is none). */
uint64_t cmc_present_end(struct cmc *c);
/* Lets the GC workers start on the flipped cycle (idempotent; cmc_wait calls it). */
void cmc_start(struct cmc *c);
/* 1 while a cycle runs. */
int cmc_active(struct cmc *c);
/* Waits for the cycle to end (timeout_ms < 0: forever), finishing it in the
 * calling thread when no worker is left. 0, or -ETIMEDOUT, or the cycle's error. */
int cmc_wait(struct cmc *c, int timeout_ms);
int cmc_get_stats(struct cmc *c, struct cmc_stats *out);
int cmc_get_totals(struct cmc *c, struct cmc_totals *out);
/* Copies up to max per-fault stall times (seconds) of the current/last cycle. */
int cmc_get_stalls(struct cmc *c, double *out, int max);
int cmc_inject(struct cmc *c, int point, int nth, int times, int err);
/* Global injection for steps that run before a struct cmc exists. */
int cmc_inject_global(int point, int nth, int times, int err);
/* 1 in a process forked from the cmc's owner: the cmc has no threads and no
 * userfaultfd here, cmc_flip returns -ECHILD (csrc/cmc_fork.c). */
int cmc_forked(struct cmc *c);
/* 1 when our SIGBUS handler is the current disposition. */
int cmc_sigbus_installed(void);
/* cdef-end */
#endif
