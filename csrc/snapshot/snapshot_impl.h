/* snapshot_impl.h - internal definitions of the snapshot layer (not fed to cdef).
 *
 * The pieces, one file each:
 *   format.c    the file: header, metadata sections, reading and checking them
 *   flip.c      the pause: capture the runtime state, move the heap's pages to
 *               staging (mremap DONTUNMAP), arm the page server on the heap
 *   writer.c    the writer thread: chunks of staging to the file, then each
 *               chunk's pages back to the heap (snapshot) or to the file (swap)
 *   op.c        snapshot and swap-out operations: start, wait, finish, the
 *               collection gate's hurry, fork, swap-in
 *   restore.c   a runtime from a file, lazily or eagerly
 *   ablation.c  the same snapshot by write-protection and by a stop-the-world write
 *
 * Who owns the heap's pages, and so the collection gate (runtime/pause.c):
 *   snapshot   the op, from the pause until every staged page is back
 *   swap-out   the runtime's struct gs_swap, from the pause until the heap is
 *              resident again and a collection (or close) asks for it
 *   restore    the restore's page server, until every page is in
 */
#ifndef GCHEAP_SNAPSHOT_IMPL_H
#define GCHEAP_SNAPSHOT_IMPL_H

#include "gcheap/snapshot.h"
#include "runtime/runtime_impl.h"

#include <pthread.h>

#define GS_MAGIC "GCHEAPSN"
#define GS_DEFAULT_CHUNK_PAGES 16
#define GS_DEFAULT_BATCH (1u << 20)

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)

/* The runtime state a restore needs, captured in the pause. */
struct gs_state {
    struct gs_header hdr;                 /* heap fields filled */
    struct gr_class *classes;
    uint64_t *globals;
};

enum { OP_RUNNING = 0, OP_WRITTEN = 1, OP_DIED = 2, OP_DONE = 3 };

struct gs_swap;

struct gs_op {
    gr_runtime *rt;
    struct gs_config cfg;
    int kind;
    int fd;
    uint64_t psize, cp, chunk_bytes;
    uint64_t used, used_pages, reg_len, nchunks;
    uintptr_t heap, staging;
    uint64_t capacity;
    struct gk_ps *ps;             /* serves the heap while staged (swap: the swap's) */
    struct gk_ps_chunk *chunks;   /* the file's chunk table (swap: the swap's) */
    uint8_t *reuse;               /* swap: chunk c is unchanged since the last swap-out */
    struct gs_state state;
    uint64_t file_pos;            /* where the next data chunk goes */
    uint64_t given_back;          /* chunks below are back (snapshot) or released (swap) */
    struct gs_swap *sw;

    pthread_t writer;
    int writer_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int status;                   /* OP_*, under mu */
    int finishing;                /* atomic: one thread finishes */
    int inj_count;                /* atomic countdown for cfg.inject_* */
    int statm_fd;
    uint64_t t0_ns, t_write_ns;
    struct gs_report rep;
    char *meta;                   /* our copy of cfg.meta */
    double *stalls;               /* the stall log of the faults served during the op, copied at its end */
    int nstalls;
};
#define GS_STALLS (1 << 20)

struct gs_swap {
    gr_runtime *rt;
    int fd;                       /* our dup of the swap file */
    struct gk_ps *ps;             /* armed on [heap, reg_len): pages back from the file */
    struct gk_ps_chunk *chunks;   /* the file's chunk table (capacity / chunk bytes entries) */
    uintptr_t staging;            /* kept from one swap-out to the next */
    uint64_t capacity, cp;
    uint64_t nchunks;             /* chunks of the last complete swap-out (0: none) */
    uint64_t file_end;            /* the next swap-out's chunks go here */
    int state;                    /* SWAP_* (atomic) */
    int forked;                   /* a fork child's copy: its threads are the parent's */
    struct gs_op *op;             /* the swap-out writing now */
    pthread_mutex_t mu;
};
enum { SWAP_NONE = 0, SWAP_OUT = 1, SWAP_IN = 2, SWAP_TRACKING = 3 };

/* A lazy restore in progress (restore.c). */
struct gs_restore {
    gr_runtime *rt;
    int fd;
    struct gk_ps *ps;
    struct gk_ps_chunk *chunks;
    int done;                     /* atomic: every page is in, the gate open */
    int forked;
    pthread_mutex_t mu;
};

/* format.c */
int gs_write_all(int fd, const void *buf, uint64_t len, uint64_t off);
int gs_read_all(int fd, void *buf, uint64_t len, uint64_t off);
/* Writes classes, globals, meta and the chunk table at op->file_pos, then the
 * header at 0 (last: a file without its header is not a snapshot). */
int gs_write_metadata(struct gs_op *op);
/* Reads and checks a file: header and metadata into st (caller frees with
 * gs_state_free), the chunk table into *chunks (malloc). */
int gs_read_file(int fd, struct gs_state *st, struct gk_ps_chunk **chunks, char *meta, uint64_t meta_cap);
void gs_state_free(struct gs_state *st);
uint64_t gs_header_checksum(const struct gs_header *h);

/* flip.c (world stopped, TLABs retired) */
void gs_capture_state(struct gr_runtime *rt, struct gs_state *st);
int gs_flip(struct gs_op *op);
/* Moves every page of staging back over the heap (a failed flip). */
int gs_move_back(struct gs_op *op);

/* writer.c */
void *gs_writer_main(void *arg);
int gs_write_chunks(struct gs_op *op, uintptr_t image, uint64_t c0, uint64_t c1, uint64_t *bytes);
uint64_t gs_rss(struct gs_op *op);
int gs_injected(struct gs_op *op, int point);
/* Snapshot: staged pages [p0, p0 + n) back to the heap; returns how many it installed. */
uint64_t gs_give_back(struct gs_op *op, uint64_t p0, uint64_t n);
/* Ends the op: rc < 0 gives every staged page back first. Idempotent. */
void gs_finish(struct gs_op *op, int rc);

/* op.c */
double gs_now(void);
struct gs_op *gs_op_new(gr_runtime *rt, int fd, const struct gs_config *cfg, int kind);
void gs_op_release(struct gs_op *op);
struct gs_swap *gs_swap_of(gr_runtime *rt, int create);
/* Lazy restores by runtime (restore.c registers them, fork waits for them). */
int gs_restore_register(struct gs_restore *r);
struct gs_restore *gs_restore_of(gr_runtime *rt, int remove);

/* swap.c */
int gs_swap_prepare(struct gs_swap *sw, struct gs_op *op);     /* gc_lock held, gate owned */
int gs_swap_pause(struct gs_op *op);                          /* world stopped, before gs_flip */
void gs_swap_abort(struct gs_swap *sw, struct gs_op *op);      /* the start failed */
void gs_swap_finished(struct gs_swap *sw, struct gs_op *op, int rc);
void gs_swap_hurry(void *ctx);
/* Everything back in, the tracking dropped, the gate open (gs_release, close). */
void gs_swap_drop(struct gs_swap *sw);

/* ablation.c */
int gs_snapshot_stw(struct gs_op *op);
int gs_snapshot_wp(struct gs_op *op);

#endif
