#ifndef GCHEAP_SNAPSHOT_H
#define GCHEAP_SNAPSHOT_H
#include "gcheap/gc.h"
#include "gcheap/kernel.h"
#include "gcheap/runtime.h"
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* snapshot.h - public API of the snapshot layer (csrc/snapshot): heap snapshots
 * taken while the program runs, swap-out to a file with lazy swap-in, restore in
 * a new process. Between cdef-begin and cdef-end: plain declarations, fed to
 * cffi's cdef unchanged. Functions return >= 0 or -errno.
 *
 * A snapshot (mode DONTUNMAP, the design; docs/snapshot.md):
 *   pause:   the heap's pages move to a staging reservation (mremap DONTUNMAP),
 *            the heap range is registered MISSING with a page server
 *   then:    a mutator's access to a page copies it from staging (the staged
 *            original stays for the writer); the writer streams staging to the
 *            file in chunks and gives every page it wrote back with UFFDIO_MOVE
 *            (or, when a mutator took a copy, drops the staged original); a
 *            kernel without UFFDIO_MOVE (< 6.8), found before the pause, gets
 *            UFFDIO_COPY and the staged pages dropped (report: move_fallback)
 * The ablation modes take the same snapshot by write-protection (WP: pre-copy
 * rounds with UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN, the last dirty pages in a
 * pause) and by a stop-the-world write (STW).
 *
 * The file (version 1, little-endian, GS_FORMAT_VERSION):
 *   [header: one page][data: chunks, each its non-zero pages back to back]
 *   [classes][globals][meta (the Python layer's JSON)][chunk table]
 * The header is written last; it holds the heap's address and limits, the
 * sizes and offsets of every section, the checksum of the metadata sections and
 * its own. A chunk is chunk_pages pages of the heap: struct gk_ps_chunk gives
 * its stored pages' offset, their xxHash64 and which pages are stored. */
#define GS_FORMAT_VERSION 1
#define GS_MODE_DONTUNMAP 0
#define GS_MODE_WP 1
#define GS_MODE_STW 2
#define GS_KIND_SNAPSHOT 0
#define GS_KIND_SWAP 1

/* Fault injection (tests). */
#define GS_INJ_NONE 0
#define GS_INJ_WRITE 1            /* the nth data write fails with err */
#define GS_INJ_WRITER_DIES 2      /* the writer thread exits at its nth batch */
#define GS_INJ_FLIP 3             /* the flip's registration fails with err */

struct gs_config {
    int32_t mode;                 /* GS_MODE_* */
    int32_t fault_mode;           /* GK_PS_SIGBUS or GK_PS_THREAD */
    uint32_t chunk_pages;         /* pages per chunk, power of two <= 64 (0: 16) */
    int32_t fsync;                /* fsync the file before reporting success */
    uint64_t batch_bytes;         /* bytes per write call (0: 1 MiB) */
    const char *meta;             /* stored as is (the Python layer's JSON) */
    uint64_t meta_len;
    int32_t inject_point;         /* GS_INJ_* */
    int32_t inject_nth;
    int32_t inject_err;
    int32_t wp_rounds;            /* GS_MODE_WP: pre-copy rounds at most (0: 8) */
    int32_t writer_delay_us;      /* testing: the writer sleeps this long after each batch
                                     (mode WP: after each pre-copy round), so that
                                     mutators surely race it */
};

struct gs_report {
    int32_t kind;                 /* GS_KIND_* */
    int32_t mode;
    int32_t done;                 /* 1 once the file is complete (or the operation failed) */
    int32_t error;                /* -errno of a failure (the heap is intact), 0 if none */
    double pause_s;               /* the only stop of the world */
    double flip_s;                /* inside it: mremap + register (DONTUNMAP), or the write (STW) */
    double write_s;               /* first data write to the header written */
    double total_s;               /* request to done */
    uint64_t heap_bytes;          /* used bytes of the heap at the snapshot instant */
    uint64_t bytes_written;       /* data bytes written (zero pages are not) */
    uint64_t file_bytes;
    uint64_t metadata_bytes;      /* header, classes, globals, meta, chunk table */
    uint64_t pages_written;
    uint64_t zero_pages;          /* pages not written: all zero */
    uint64_t pages_served;        /* pages mutators took from staging while it was written */
    uint64_t pages_moved_back;    /* staged pages given back (UFFDIO_MOVE; UFFDIO_COPY with move_fallback) */
    uint64_t pages_reused;        /* swap: chunks' pages not written again (unchanged since the last swap-out) */
    uint64_t rss_before;          /* process RSS at the pause */
    uint64_t peak_extra_rss;      /* process RSS above rss_before, sampled while writing */
    uint64_t wp_rounds;           /* GS_MODE_WP: pre-copy rounds */
    uint64_t wp_final_pages;      /* GS_MODE_WP: pages written in the final pause */
    int32_t move_fallback;        /* DONTUNMAP snapshot: the kernel lacks UFFDIO_MOVE (< 6.8), so staged pages
                                     went back by UFFDIO_COPY and their staged originals were dropped */
};

struct gs_op;                     /* a snapshot or swap-out in progress */
/* Starts a snapshot of rt into fd (opened for writing, empty). A running cmc
 * compaction finishes first; collections wait until it is done. Returns once
 * the pause is over (DONTUNMAP, WP: the writing goes on) or done (STW). */
int gs_snapshot_start(gr_runtime *rt, int fd, const struct gs_config *cfg, struct gs_op **out);
/* Swap-out: the same flip; the writer then releases each written chunk (the
 * heap range stays registered and faults its pages back from the file). A second
 * swap-out into the same file writes only the chunks changed since (write-protect
 * tracking); fd must then be the same file, opened read-write. */
int gs_swap_out(gr_runtime *rt, int fd, const struct gs_config *cfg, struct gs_op **out);
/* Prefetches every swapped-out page in the background (CRIU-style filler). */
int gs_swap_in(gr_runtime *rt, int wait);
/* 0 none, 1 swapped out (pages served from the file), 2 swapping in, 3 resident
 * and tracked (the next swap-out writes only what changed). */
int gs_swap_state(gr_runtime *rt);
/* Waits for the operation (timeout_ms < 0: forever; -ETIMEDOUT); fills out. */
int gs_op_wait(struct gs_op *op, int timeout_ms, struct gs_report *out);
/* Copies up to max stall times (seconds) of mutator faults served during op. */
int gs_op_stalls(struct gs_op *op, double *out, int max);
/* Waits for op, then frees it. */
void gs_op_free(struct gs_op *op);

/* The file's header: its first page (the rest of the page is zero). Public so
 * that the layout has one definition (docs/snapshot.md's table, tests that
 * write a header field by name); readers go through gs_file_info. */
struct gs_header {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    uint32_t page_size;
    uint32_t chunk_pages;
    int32_t collector;
    int32_t kind;
    int32_t mode;
    int32_t reserved;
    uint64_t heap_address;
    uint64_t heap_capacity;
    uint64_t used;                /* top - heap at the snapshot instant */
    uint64_t soft_limit;
    uint64_t live;
    uint64_t sizing_initial;
    uint64_t sizing_min_free;
    uint64_t sizing_max_free;
    double target_utilization;
    uint64_t nclasses, classes_off;       /* struct gr_class[nclasses] */
    uint64_t nglobals, globals_off;       /* uint64_t[nglobals]: addresses, 0 = null */
    uint64_t meta_len, meta_off;
    uint64_t nchunks, chunks_off;         /* struct gk_ps_chunk[nchunks] */
    uint64_t data_off, data_bytes, stored_pages;
    uint64_t file_bytes;
    uint64_t created_ns;
    uint64_t metadata_checksum;           /* over [classes_off, file_bytes) */
    uint64_t header_checksum;             /* over the header up to this field */
};

/* ---- reading a snapshot file ---- */
struct gs_file_info {
    uint32_t version;
    uint32_t page_size;
    uint32_t chunk_pages;
    int32_t collector;            /* the runtime's when it was taken (GR_COLLECTOR_*) */
    int32_t kind;                 /* GS_KIND_* */
    int32_t mode;
    uint64_t heap_address;
    uint64_t heap_capacity;
    uint64_t used;
    uint64_t soft_limit;
    uint64_t live;
    struct gr_heap_sizing sizing; /* the runtime's heap sizing when it was taken */
    uint64_t nclasses;
    uint64_t nglobals;
    uint64_t nchunks;
    uint64_t data_bytes;
    uint64_t stored_pages;
    uint64_t file_bytes;
    uint64_t metadata_bytes;
    uint64_t meta_len;
    uint64_t created_ns;          /* CLOCK_REALTIME */
    uint64_t header_checksum;
};
/* Reads and checks the header and the metadata (not the data): -ENOEXEC not a
 * gcheap snapshot, -EPROTONOSUPPORT another format version or page size,
 * -ENODATA truncated, -EBADMSG a checksum or a field does not hold. meta
 * (optional, meta_cap bytes) receives the meta section. */
int gs_file_info(int fd, struct gs_file_info *out, char *meta, uint64_t meta_cap);
/* Checks every chunk's checksum: 0, or -EBADMSG with *bad_chunk the first bad one. */
int gs_file_verify(int fd, uint64_t *bad_chunk);

/* ---- restore ---- */
struct gs_restore_config {
    int32_t collector;            /* GR_COLLECTOR_* */
    int32_t options;              /* GR_OPT_* */
    const void *collector_config;
    int32_t lazy;                 /* 1: pages served from the file on demand + a background filler */
    int32_t fault_mode;           /* GK_PS_SIGBUS or GK_PS_THREAD */
    int32_t file_mmap;            /* lazy: copy from a read-only mapping of the file */
    int32_t verify;               /* check every chunk before anything is mapped */
    int32_t no_filler;            /* lazy: pages come only when touched (no background filler) */
    int32_t reserved;
    uint64_t fill_min;            /* filler chunk (0: 64 KiB .. 4 MiB) */
    uint64_t fill_max;
    const char *name;             /* the file's name, for the fatal message */
    struct gr_heap_sizing sizing; /* a field that is not 0 replaces the file's; initial also
                                     replaces the recorded soft limit (never below used) */
};
/* A new runtime from the snapshot in fd, its heap at the recorded address and
 * capacity (-EADDRINUSE when that range is taken). Nothing is mapped on failure. A lazy
 * restore holds collections off until every page is in (or a collection asks:
 * then it fills the rest first). */
int gs_restore(int fd, const struct gs_restore_config *cfg, gr_runtime **out);
/* Lazy restore of rt: waits until every page is in (timeout_ms < 0: forever). */
int gs_restore_wait(gr_runtime *rt, int timeout_ms);
/* The page server of rt's lazy restore or swapped-out heap (-ENOENT: none). */
int gs_server_stats(gr_runtime *rt, struct gk_ps_stats *out);
/* Before closing rt: a snapshot finishes, a swapped-out heap comes back in, a
 * restore fills; their page servers go. */
int gs_release(gr_runtime *rt);
/* cdef-end */
#endif
