#ifndef GCHEAP_KERNEL_H
#define GCHEAP_KERNEL_H
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* api_kernel.h - public API of the kernel-primitive layer (csrc/kernel*.c).
 *
 * Plain declarations only: the cffi build feeds this file to cdef unchanged
 * (no #include, no #if; `#define NAME <int>` is allowed). C sources see it
 * through gcheap.h.
 *
 * Conventions: every function returns >= 0 on success or -errno on failure and
 * never exits. Range operations (copy, zeropage, move, poison) report the bytes
 * they completed in *done, which is always >= 0 (a negative kernel result is
 * never turned into a byte count); the return value then says why they stopped:
 *   0        the whole range is done
 *   -EEXIST  a page in the range was already present (someone else won the race);
 *            *done covers the pages before it. Callers treat the page as resolved.
 *   -EAGAIN  the mm is changing (an event waits to be read) and no progress is
 *            possible. A call that made progress always continues with the rest;
 *            with GK_RETRY_EAGAIN a call that makes none retries (bounded) first.
 *   other    -errno from the kernel.
 * Addresses are uintptr_t so that Python passes plain ints.
 */

/* ---- probes -------------------------------------------------------------- */
long gk_page_size(void);

/* How a userfaultfd was opened (gk_uffd_open's *via). */
#define GK_VIA_SYSCALL 1
#define GK_VIA_DEV 2

/* Flags for gk_uffd_open. */
#define GK_OPEN_USER_MODE_ONLY 1
#define GK_OPEN_NONBLOCK 2
#define GK_OPEN_NO_DEV 4        /* do not fall back to /dev/userfaultfd */
#define GK_OPEN_NO_SYSCALL 8    /* do not try the syscall (tests the /dev route) */

/* Opens a userfaultfd (O_CLOEXEC always): the syscall first, then
 * /dev/userfaultfd + USERFAULTFD_IOC_NEW. Returns the fd; *via tells the route.
 * On failure returns -errno of the syscall attempt (of the /dev attempt when
 * GK_OPEN_NO_SYSCALL is given) and stores the errno (positive) of the /dev
 * attempt in *dev_err (0 if not tried). via and dev_err may be NULL. */
int gk_uffd_open(int flags, int *via, int *dev_err);

/* UFFDIO_API handshake with api 0xAA and `features`. On success stores the
 * kernel's feature bits and supported ioctl bitmask. */
int gk_uffd_api(int fd, uint64_t api, uint64_t features, uint64_t *features_out, uint64_t *ioctls_out);

/* Registration modes (UFFDIO_REGISTER_MODE_*). */
#define GK_MODE_MISSING 1
#define GK_MODE_WP 2
#define GK_MODE_MINOR 4
int gk_uffd_register(int fd, uintptr_t start, uint64_t len, uint64_t mode, uint64_t *ioctls_out);
int gk_uffd_unregister(int fd, uintptr_t start, uint64_t len);
int gk_uffd_wake(int fd, uintptr_t start, uint64_t len);

/* Flags for the range operations. */
#define GK_DONTWAKE 1           /* UFFDIO_*_MODE_DONTWAKE */
#define GK_RETRY_EAGAIN 2       /* retry the remainder on EAGAIN (bounded: 200 yields) */
#define GK_MOVE_ALLOW_SRC_HOLES 4
#define GK_COPY_WP 8            /* UFFDIO_COPY_MODE_WP: the copied page is write-protected */
int gk_uffd_copy(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done);
int gk_uffd_zeropage(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done);
int gk_uffd_move(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done);
int gk_uffd_poison(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done);
int gk_uffd_writeprotect(int fd, uintptr_t start, uint64_t len, int protect, int dontwake);

/* One decoded userfaultfd message (struct uffd_msg). */
#define GK_EV_PAGEFAULT 0x12
#define GK_EV_FORK 0x13
#define GK_EV_REMAP 0x14
#define GK_EV_REMOVE 0x15
#define GK_EV_UNMAP 0x16
struct gk_uffd_event {
    uint32_t event;             /* GK_EV_* */
    uint32_t ptid;              /* faulting thread (UFFD_FEATURE_THREAD_ID) */
    uint64_t flags;             /* pagefault flags: WRITE 1, WP 2, MINOR 4 */
    uint64_t address;           /* fault address / remap from / remove start */
    uint64_t arg1;              /* remap to / remove end / fork: new uffd */
    uint64_t arg2;              /* remap len */
};
/* Reads up to max events; waits up to timeout_ms (-1 forever, 0 poll).
 * Returns the number read (0 on timeout). -EINTR when a signal interrupted the
 * wait (the caller decides whether to retry). A timeout needs an fd opened
 * with GK_OPEN_NONBLOCK (poll() on a blocking userfaultfd reports POLLERR);
 * on a blocking fd only timeout_ms == -1 is accepted (-EINVAL otherwise). */
int gk_uffd_read_events(int fd, struct gk_uffd_event *out, int max, int timeout_ms);
int gk_close(int fd);

/* ---- memory mappings ------------------------------------------------------ */
/* Private anonymous read/write mapping of size bytes whose start is aligned to
 * align (a power of two >= the page size; 0 = page size). Stores the address. */
int gk_map_anon(uint64_t size, uint64_t align, uintptr_t *addr_out);
/* PROT_NONE reservation (MAP_NORESERVE), aligned like gk_map_anon. */
int gk_reserve(uint64_t size, uint64_t align, uintptr_t *addr_out);
int gk_unmap(uintptr_t addr, uint64_t size);
int gk_madvise(uintptr_t addr, uint64_t size, int advice);
/* madvise advice values (Linux uapi) for callers that cannot see sys/mman.h. */
#define GK_MADV_DONTNEED 4
#define GK_MADV_HUGEPAGE 14
#define GK_MADV_NOHUGEPAGE 15
#define GK_MADV_POPULATE_WRITE 23   /* Linux 5.14; EINVAL before */
int gk_mlock(uintptr_t addr, uint64_t size);
int gk_munlock(uintptr_t addr, uint64_t size);
/* Anonymous read/write mapping exactly at addr with MAP_FIXED_NOREPLACE:
 * -EEXIST when anything is mapped there (nothing is replaced). */
int gk_map_anon_noreplace(uintptr_t addr, uint64_t size);
/* A memfd of size bytes mapped MAP_SHARED read/write; the fd stays open
 * (close it with gk_close after unmapping). */
int gk_map_memfd(uint64_t size, int *fd_out, uintptr_t *addr_out);
/* read(2) from fd into [buf, buf+len): a kernel-mode access to that memory.
 * Returns the bytes read or -errno. */
long gk_fd_read(int fd, uintptr_t buf, uint64_t len);

/* mremap(src, len, len, MAYMOVE|DONTUNMAP[|FIXED dst]). dst == 0 lets the
 * kernel choose. Validates before acting: page alignment of both ends, len > 0,
 * dst range not overlapping src. The source stays mapped, same size, empty. */
int gk_mremap_dontunmap(uintptr_t src, uint64_t len, uintptr_t dst, uintptr_t *addr_out);
/* Raw mremap for the conformance tests (any flags; returns -errno). */
int gk_mremap_raw(uintptr_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                  uintptr_t new_addr, uintptr_t *addr_out);

/* Copies between a mapping and a buffer. Meant to be called with the GIL
 * released: the access may block on a missing userfaultfd page. */
void gk_memcpy(uintptr_t dst, uintptr_t src, uint64_t len);

/* ---- the SIGBUS dispatcher (csrc/kernel/fault.c) ------------------------------
 * One process-wide SIGBUS handler for every range whose missing faults raise
 * SIGBUS (UFFD_FEATURE_SIGBUS): the concurrent compactor's heaps, the SIGBUS
 * service below, page servers. fn(ctx, addr) runs in the faulting thread, in
 * the signal handler (it must be async-signal-safe), and returns 0 once the
 * page holding addr is present (the access is retried), GK_FAULT_PASS (not
 * its fault now: the next range holding addr is asked) or < 0 (the fault is a
 * real error). Any other SIGBUS goes to the disposition installed before ours
 * (Python's faulthandler, say), once, or takes the default action. */
typedef int (*gk_fault_fn)(void *ctx, uintptr_t addr);
#define GK_FAULT_SLOTS 16
/* fn's answer "not mine now": the range is registered but its owner is not
 * serving it at the moment (a cmc heap between cycles while a snapshot serves the
 * same heap). The dispatcher asks the other ranges that hold addr; when every one
 * passes, the access is retried (an unregistered page then faults normally). */
#define GK_FAULT_PASS 1
/* Installs the handler if it is not the current disposition (whoever replaced
 * it becomes the handler we chain to) and serves [start, start+len) with fn:
 * the slot (>= 0), or -ENOSPC / -EINVAL. */
int gk_fault_register(uintptr_t start, uint64_t len, gk_fault_fn fn, void *ctx);
/* Stops serving a slot; returns once no handler is inside it. */
int gk_fault_unregister(int slot);
/* Puts our handler back if someone replaced it (idempotent). */
int gk_fault_ensure(void);
/* 1 when our handler is the current SIGBUS disposition, 0 when not. */
int gk_fault_installed(void);
/* Restores the previous disposition when no slot is in use; -EBUSY otherwise. */
int gk_fault_uninstall(void);
/* Foreign SIGBUS signals passed on so far (for tests). */
uint64_t gk_fault_chained(void);
/* The ranges served now: up to max of them into starts/lens; returns how many
 * slots are in use (tests: a range left registered after its owner is gone). */
int gk_fault_ranges(uint64_t *starts, uint64_t *lens, int max);

/* ---- SIGBUS self-service (csrc/kernel/sigbus.c) ----------------------------------
 * A client of the dispatcher above: serves a range's missing faults in the
 * faulting thread with UFFDIO_COPY from a source image, UFFDIO_ZEROPAGE or
 * UFFDIO_MOVE. Ranges live in a small fixed table; unserving a range waits for
 * handlers still serving it, so the source image may be freed after. */
#define GK_SERVE_COPY 1         /* copy the page from source + (page - start) */
#define GK_SERVE_ZEROPAGE 2     /* map the zero page */
#define GK_SERVE_MOVE 3         /* move the page from source + (page - start) */
#define GK_SIGBUS_SLOTS 8
struct gk_sigbus_stats {
    uint64_t served;            /* faults resolved by this slot */
    uint64_t eexist;            /* of which: the page was already there */
    uint64_t errors;            /* resolution failed (the fault was chained) */
    int32_t last_tid;           /* thread that took the last fault */
    int32_t last_error;         /* last -errno from the resolving ioctl, 0 if none */
    uint64_t last_address;      /* last faulting address (si_addr) */
};
/* Serves [start, start+len) through uffd; returns the slot (>= 0) or -ENOSPC,
 * -EINVAL (unaligned, how unknown, source missing for COPY/MOVE). */
int gk_sigbus_serve(int uffd, uintptr_t start, uint64_t len, uintptr_t source, int how);
/* Stops serving a slot; waits until no handler is inside it. */
int gk_sigbus_unserve(int slot);
int gk_sigbus_stats(int slot, struct gk_sigbus_stats *out);

/* ---- the page server (csrc/kernel/pageserver.c) ------------------------------------
 * Serves the missing faults of a registered range [start, start + len) from a
 * source, in blocks of block_pages pages (the unit of a claim, of a file read and
 * of a checksum), in SIGBUS mode (the faulting thread serves itself through the
 * dispatcher above) or thread mode (one C thread reads the fault events). Each
 * block has a source: COPY or MOVE from a region (region + (addr - start)),
 * ZEROPAGE, POISON, or FILE (its stored pages read with pread, or copied from a
 * read-only mapping of the file, checked against the block's checksum). The
 * owner can install blocks itself (a writer giving staged pages back, a
 * background filler) and change a block's source, always under the same
 * per-block claim that faults take: every block is installed exactly once.
 *
 *   MISSING --claim--> CLAIMED --installed--> PRESENT
 *      ^                  |
 *      +---- released ----+  (source changed; waiters woken and retry)
 *
 * A file block that cannot be read back whole and intact (short read, I/O
 * error, checksum mismatch) is fatal: one line on fd 2 names the page, the file
 * and the cause, then abort() - never zeros in place of data. */
#define GK_PS_SIGBUS 0
#define GK_PS_THREAD 1
#define GK_PS_COPY 1            /* copy from region (holes read as zero) */
#define GK_PS_MOVE 2            /* move from region (zero-copy; holes become zero pages) */
#define GK_PS_ZEROPAGE 3
#define GK_PS_POISON 4          /* accesses raise SIGBUS (BUS_MCEERR_AR) */
#define GK_PS_FILE 5            /* the block's chunk of the file (see struct gk_ps_chunk) */
#define GK_PS_MAX_BLOCK_PAGES 64

/* Where a FILE block lives: its stored pages (bit i of present: page i of the
 * block is stored; a clear bit is a zero page, never written) are contiguous
 * at offset; checksum is gk_checksum over them (verified when cfg.verify). */
struct gk_ps_chunk {
    uint64_t offset;
    uint64_t checksum;
    uint64_t present;
};

struct gk_ps_config {
    uintptr_t start;            /* the served range, page aligned */
    uint64_t len;
    uint32_t block_pages;       /* power of two, 1..GK_PS_MAX_BLOCK_PAGES */
    int32_t mode;               /* GK_PS_SIGBUS or GK_PS_THREAD */
    int32_t source;             /* every block's initial source (GK_PS_*) */
    int32_t wp;                 /* register MISSING|WP and install pages write-protected */
    uintptr_t region;           /* COPY/MOVE: the address that stands for start */
    int32_t fd;                 /* FILE: an open descriptor (the server dups it) */
    int32_t file_mmap;          /* FILE: 1 = copy from a read-only mapping instead of pread */
    struct gk_ps_chunk *chunks; /* FILE: one per block, owned by the caller, may change
                                   while the block is claimed (gk_ps_set_source) */
    int32_t verify;             /* FILE: check each block's checksum before installing it */
    int32_t reserved;
    const char *name;           /* FILE: named in the fatal message (copied) */
};

struct gk_ps_stats {
    uint64_t nblocks;
    uint64_t present;           /* blocks present now */
    uint64_t faults;            /* faults served (SIGBUS entries or fault events) */
    uint64_t blocks_by_fault;   /* blocks installed for a fault */
    uint64_t blocks_installed;  /* blocks installed by gk_ps_install and the filler */
    uint64_t bytes_read;        /* from the file */
    uint64_t eexist;
    uint64_t eagain;
    uint64_t errors;            /* failed installs (retried) */
    uint64_t stalls;            /* entries in the stall log */
    uint64_t filler_rounds;
    uint64_t filler_resets;     /* a fault arrived: the chunk went back to its minimum */
    uint64_t filler_chunk;      /* the filler's current chunk (bytes) */
    uint64_t filler_max_chunk;  /* the largest it reached */
    int32_t filler_state;       /* GK_FILL_* */
    int32_t last_error;
};
#define GK_FILL_IDLE 0
#define GK_FILL_RUNNING 1
#define GK_FILL_DONE 2
#define GK_FILL_DIED 3          /* the filler thread ended before the range was full */

/* Fault injection (tests): the nth time the point runs it fails. */
#define GK_PS_INJ_NONE 0
#define GK_PS_INJ_FILLER_DIES 1 /* the filler thread exits at its nth round */
#define GK_PS_INJ_INSTALL 2     /* an install ioctl fails with err (retried) */

/* Flags of gk_ps_install / gk_ps_set_source. */
#define GK_PS_DROP_PRESENT 1    /* install: for blocks already present, MADV_DONTNEED their
                                   region pages (nobody reads them again) */
#define GK_PS_DROP_REGION 2     /* set_source: MADV_DONTNEED the region pages of the blocks */

struct gk_ps;
/* Opens the userfaultfd (features by mode and wp), allocates the block states,
 * attaches to the dispatcher (SIGBUS) or starts the fault thread. Does not
 * register the range: gk_ps_arm does. Nothing is left behind on failure. */
int gk_ps_create(const struct gk_ps_config *cfg, struct gk_ps **out);
/* Registers [start, start + len) MISSING (|WP) - len 0: the whole range, else a
 * prefix of whole blocks (the rest is not served: installs and the filler stop
 * there) - then drops whatever is mapped there (MADV_DONTNEED): from now on
 * every access to a block of it goes through us. */
int gk_ps_arm(struct gk_ps *ps, uint64_t len);
/* Unregisters: a page still missing becomes ordinary (zero-fill) memory. */
int gk_ps_disarm(struct gk_ps *ps);
/* Stops the threads, waits for handlers, releases everything (disarms first). */
void gk_ps_destroy(struct gk_ps *ps);
int gk_ps_uffd(struct gk_ps *ps);
/* The UFFD_FEATURE_* bits the server's userfaultfd was opened with. Installing
 * by GK_PS_MOVE (gk_ps_install, gk_ps_set_source, cfg.source) needs
 * GK_FEATURE_MOVE (Linux 6.8): -EOPNOTSUPP without it. */
uint64_t gk_ps_features(struct gk_ps *ps);
#define GK_FEATURE_MOVE 65536
/* Makes the missing blocks of [first, first + n) present with `how` (0: each
 * block's own source); waits for blocks other threads hold. *installed: blocks
 * it installed. Returns 0 or -errno. */
int gk_ps_install(struct gk_ps *ps, uint64_t first, uint64_t n, int how, int flags, uint64_t *installed);
/* Changes the source of the missing blocks of [first, first + n) (n <= 64)
 * under their claim; bit i of *present_mask: block first + i was present
 * (unchanged). Waiters are woken and re-fault onto the new source. */
int gk_ps_set_source(struct gk_ps *ps, uint64_t first, uint64_t n, int source, int flags,
                     uint64_t *present_mask);
/* 0 missing, 1 claimed, 2 present (-EINVAL out of range). */
int gk_ps_block_state(struct gk_ps *ps, uint64_t block);
/* The background filler: installs the missing blocks in order, CRIU-style in
 * chunks that start at min_bytes and grow by min_bytes per round while no fault
 * arrives (up to max_bytes), back to min_bytes at each fault. on_complete(ctx)
 * runs once, in the thread that finds every block present. */
int gk_ps_fill_start(struct gk_ps *ps, uint64_t min_bytes, uint64_t max_bytes,
                     void (*on_complete)(void *ctx), void *ctx);
/* Waits until every block is present (timeout_ms < 0: forever); when the filler
 * is gone (died, never started) the caller fills what is left itself. */
int gk_ps_fill_wait(struct gk_ps *ps, int timeout_ms);
/* Stops the filler (if any) and waits for it; the blocks it claimed are installed. */
void gk_ps_fill_stop(struct gk_ps *ps);
/* Not armed: every block missing again, with its configured source, and the
 * statistics and stall log cleared (a server reused for the next flip of the
 * same range). -EBUSY while armed. */
int gk_ps_reset(struct gk_ps *ps);
int gk_ps_stats(struct gk_ps *ps, struct gk_ps_stats *out);
/* Copies up to max stall times (seconds: fault entry to block present). */
int gk_ps_stalls(struct gk_ps *ps, double *out, int max);
int gk_ps_inject(struct gk_ps *ps, int point, int nth, int err);
/* Testing: page servers created from now on treat these UFFD_FEATURE_* bits as
 * absent, as a kernel without them would (their userfaultfd is opened without
 * them); 0 clears. */
int gk_ps_mask_features(uint64_t features);
/* wp: the pages written since they were installed, a bit each (words >= npages/64
 * rounded up); clear != 0 clears them as it reads. */
int gk_ps_dirty(struct gk_ps *ps, uint64_t *out, uint64_t words, int clear);

/* PAGEMAP_SCAN (6.7): sets bit p of bitmap for every page p of [start, start +
 * len) written since a WP_ASYNC userfaultfd protected it; reprotect: protect
 * them again in the same walk. *npages: how many. -EINVAL/-ENOTTY where the
 * kernel lacks it. */
int gk_pagemap_written(uintptr_t start, uint64_t len, int reprotect, uint64_t *bitmap, uint64_t *npages);

/* 64-bit checksum of a block's stored pages (xxHash64, seed 0). */
uint64_t gk_checksum(uintptr_t data, uint64_t len);
/* cdef-end */

/* A fault-stall log (seconds), shared by the page server and the concurrent
 * compactor: faulting threads append without a lock (the slot is taken by an
 * atomic count; past cap an entry is counted, not stored: false), reporters
 * copy up to max entries while appends go on. */
static inline int gk_stall_log_add(double *log, uint64_t cap, uint64_t *count, double seconds)
{
    uint64_t i = __atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
    if (i >= cap)
        return 0;
    __atomic_store(&log[i], &seconds, __ATOMIC_RELAXED);
    return 1;
}

static inline int gk_stall_log_copy(const double *log, uint64_t cap, const uint64_t *count, double *out, int max)
{
    if (!out || max < 0)
        return -EINVAL;
    uint64_t n = __atomic_load_n(count, __ATOMIC_SEQ_CST);
    if (n > cap)
        n = cap;
    if (n > (uint64_t)max)
        n = (uint64_t)max;
    for (uint64_t i = 0; i < n; i++)
        __atomic_load(&log[i], &out[i], __ATOMIC_RELAXED);
    return (int)n;
}
#endif
