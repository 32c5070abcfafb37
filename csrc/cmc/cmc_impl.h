/* cmc.h - internal header of the concurrent compactor (not fed to cdef).
 *
 * Page state machine, one 32-bit word per heap page (a futex word):
 *
 *     EMPTY --claim (CAS)--> CLAIMED --install ok--> INSTALLED
 *       ^                       |  \
 *       +---- install failed ---+   +--waiter sets WAITERS, futex-waits
 *
 * Exactly one thread wins the claim of a page, builds it (or, above n_build,
 * maps the zero page) and installs it with one ioctl; everyone else either
 * waits on the futex (GC workers, SIGBUS handlers) or, in thread fault mode,
 * relies on the installing ioctl's wake-up of the blocked faulting thread.
 *
 * From-space release: src_first[p] is non-decreasing, so once every page below
 * P is INSTALLED no page that is still to be built reads from-space below
 * src_first[P]: [released, src_first[P]) can go (MADV_DONTNEED, batched).
 * With install="move" the most recently consumed of those pages are kept as a
 * pool instead: a GC worker builds a run straight into consumed from-space
 * pages and UFFDIO_MOVEs them into the heap (ART's recycling: no page is
 * allocated, zeroed or freed for it). Grabbing and releasing happen under the
 * same try-lock and both only advance `released`, so a grabbed page is never
 * released under the worker that builds into it.
 */
#ifndef GCHEAP_CMC_IMPL_H
#define GCHEAP_CMC_IMPL_H

#include "gcheap/cmc.h"
#include "kernel/kernel_impl.h"

#include <pthread.h>
#include <signal.h>

enum { PG_EMPTY = 0, PG_CLAIMED = 1, PG_INSTALLED = 2, PG_WAITERS = 4 };
enum { BY_GC = 0, BY_MUTATOR = 1 };
/* What failed when a page could not be made present (cmc_stuck.c names them). */
enum { CMC_OP_NONE = 0, CMC_OP_BUILD, CMC_OP_COPY, CMC_OP_MOVE, CMC_OP_ZEROPAGE };

#define CMC_CHUNK_BYTES (2ull << 20)    /* one page table: mremap moves it whole */
#define CMC_MUT_SLOTS 64        /* scratch pages for SIGBUS handlers */
#define CMC_SERVER_PENDING 64   /* pages the fault thread retries itself */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define CAS(p, e, v) __atomic_compare_exchange_n((p), (e), (v), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

/* A fault-injection point: run number `count` (counting down) fails, and so
 * do the `times`-1 runs after it (times < 0: forever). */
struct cmc_injection {
    int point;                  /* atomic; CMC_INJ_NONE when disarmed */
    int err;
    int times;
    int64_t count;              /* atomic countdown */
};

/* One thread's retries of one page that would not become present (cmc_stuck.c). */
struct cmc_retry {
    uint64_t first_ns;          /* CLOCK_MONOTONIC of the first failure; 0: none yet */
    uint64_t backoff_ns;        /* the next wait */
};

/* A page the fault thread failed to install: it retries it (thread mode). */
struct cmc_pending {
    uint64_t page;
    uint64_t cycle_id;
    uint64_t due_ns;
    struct cmc_retry retry;
};

/* install="auto": a GC worker's timing of its installs (ns per page, running
 * averages; 0: not measured yet) and its current run of copies. */
struct cmc_choice {
    uint64_t move_ns, copy_ns;
    uint32_t copy_left;         /* runs still to copy before a move is tried again */
    uint32_t span;              /* length of the last run of copies (doubles while moves stay dear) */
};

struct cmc_worker {
    struct cmc *c;
    pthread_t thread;
    int started;
    char *buf;                  /* run_pages pages */
    struct cmc_choice choice;
};

struct cmc {
    /* fixed at create */
    uintptr_t heap;
    uint64_t heap_size;
    uint64_t heap_pages;
    uint64_t psize;
    uintptr_t from;             /* from-space reservation, same size and alignment */
    struct cmc_config cfg;
    int uffd;
    int install;                /* effective CMC_INSTALL_* */
    int move_fallback;
    int statm_fd;
    cmc_build_fn build;
    void *build_ctx;
    cmc_frontier_fn frontier;   /* under mu: the allocator's hooks (NULL: the fill zeroes) */
    cmc_dirty_fn dirty;
    void *hooks_ctx;
    cmc_busy_fn busy;           /* install="auto": copy while it says a mutator may run */
    void *busy_ctx;
    uint32_t *state;            /* heap_pages futex words; EMPTY at and above state_hw */
    uint64_t state_hw;          /* atomic: 1 + the highest page whose state left EMPTY */
    uint32_t *src_first;        /* heap_pages entries */
    uint64_t src_ready;         /* entries [0, src_ready) set by cmc_set_src_first since the last flip */
    double *stall_log;          /* heap_pages entries */
    char *mut_pool;             /* CMC_MUT_SLOTS scratch pages */
    uint64_t mut_free;          /* bit i set: slot i free */
    char *server_buf;           /* page 0: fault thread's, page 1: cmc_wait's rescue */
    struct cmc_worker *workers;
    pthread_t server;
    int server_started;
    int stop_fd;                /* eventfd that stops the fault thread */
    int instance;               /* slot in the SIGBUS handler's table */
    struct cmc *fork_next;      /* cmc_fork.c's registry */
    int forked;                 /* this process is a fork child of the cmc's owner */

    /* cycle control */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t rescue_mu;  /* one cmc_wait at a time finishes a cycle (one rescue page) */
    uint64_t cycle_seq;         /* bumped per cycle start; workers wait for a change */
    int started;                /* cmc_start ran for this cycle */
    uint64_t cycle_id;          /* bumped per flip (under mu) */
    int stopping;
    int active;                 /* atomic: cycle running */
    int registered;             /* atomic: [heap, heap+used) registered */
    int workers_running;        /* atomic */
    int auto_install;           /* install="auto" (c->install is then MOVE) */
    uint64_t release_ns;        /* atomic: ns per from-space page released (running average) */
    int worker_ending;          /* under mu: the last worker is ending the cycle (cmc_wait must not rescue
                                   it); set by that worker, cleared at the next flip (waiters stop at !active) */
    int cycle_error;            /* first fatal -errno of the cycle */
    uint64_t used_pages;        /* registered this cycle */
    uint64_t moved_pages;       /* moved to from-space this cycle (>= used_pages) */
    uint64_t n_build;
    uint64_t cursor;            /* atomic: next page a worker sweeps */
    uint64_t installed;         /* atomic: pages < n_build installed */
    uint64_t prefix;            /* all pages below are installed (releaser only) */
    uint64_t released;          /* from-space pages below are released or recycled */
    uint64_t consumed;          /* move: no page left to build reads below this one */
    int releasing;              /* atomic try-lock of the releaser */
    double t_flip_end;
    /* prefault.c: the window [pf_next, pf_hi), populated up to pf_want (written
     * under mu, read atomically); pf_gen counts windows */
    uint64_t pf_gen, pf_next, pf_hi, pf_want;
    int pf_hold;                /* atomic: no prefault (cmc_prefault_hold) */
    uint64_t pf_skip_lo, pf_skip_hi;    /* under mu: present already (the fill's pages) */
    uint64_t pf_pages, pf_ns;   /* atomic: totals of the prefault work */
    /* recycle.c: [fill_lo, fill_hi) registered while from-space pages are moved
     * into it (atomic; 0, 0 otherwise) */
    uint64_t fill_lo, fill_hi;
    uint64_t fill_pages_total, fill_ns_total;   /* atomic */
    uint64_t present_end;       /* atomic: see cmc_present_end */
    int fill_unsupported;       /* under mu: the kernel has no UFFDIO_MOVE: no fill */
    int chunk_moves;            /* atomic, per cycle: the heap's VMA shares from-space's anon_vma
                                   (flip.c's anchor), so whole 2 MiB from-space chunks may be
                                   mremapped back to the same offsets (recycle.c) */

    /* fault thread only: pages whose install it gave back and retries */
    struct cmc_pending pending[CMC_SERVER_PENDING];
    int n_pending;

    struct cmc_injection inj;   /* fault injection */

    struct cmc_stats st;        /* this cycle's counters, updated atomically */
    struct cmc_totals totals;   /* completed cycles' sums (under mu, at each cycle's end) */
};

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Page p's state left EMPTY: the next flip resets states below state_hw only,
 * so a flip costs what the last cycle touched, not the size of the reservation. */
static inline void cmc_note_touched(struct cmc *c, uint64_t p)
{
    uint64_t hw = __atomic_load_n(&c->state_hw, __ATOMIC_RELAXED);
    while (hw < p + 1 && !__atomic_compare_exchange_n(&c->state_hw, &hw, p + 1, 1, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
}

/* cmc_pages.c */
/* op (may be NULL): set to the CMC_OP_* that failed when the result is < 0. */
int cmc_serve_page(struct cmc *c, uint64_t p, char *buf, int by, int wait, int *op);
/* Makes page p present, retrying with backoff; aborts past the install deadline. */
void cmc_serve_page_until(struct cmc *c, uint64_t p, char *buf, int by);
int cmc_drive(struct cmc *c, char *buf, int run_pages, struct cmc_choice *choice);
void cmc_maybe_release(struct cmc *c, int force);
/* pages claimed outside the protocol's own installs (recycle.c): installed, or given back */
void cmc_mark_installed(struct cmc *c, uint64_t p, uint64_t n);
void cmc_unclaim(struct cmc *c, uint64_t p, uint64_t n);
/* The claimed pages [s, s + k) (one aligned 2 MiB chunk), present in from-space at
 * the same offsets, go into the heap with one mremap (their page table moves
 * whole; recycle.c's move_chunk says why the same offsets), counted as `by`
 * installs (mark_installed). 0, or -1: nothing moved, the pages still claimed. */
int cmc_remap_chunk(struct cmc *c, uint64_t s, uint64_t k, int by);
/* The present pages (mincore) of [base + p pages, base + q pages); -1 if it fails. */
int64_t cmc_present_pages(struct cmc *c, uintptr_t base, uint64_t p, uint64_t q);
/* recycle.c */
int cmc_in_fill(struct cmc *c, uint64_t p);
uint64_t cmc_fill_budget(struct cmc *c);
void cmc_recycle_free(struct cmc *c);
void cmc_sample_rss(struct cmc *c);
uint64_t cmc_rss(struct cmc *c);
void cmc_note_error(struct cmc *c, int err, int point);
void cmc_log_stall(struct cmc *c, double seconds);
double cmc_now(void);
int cmc_injected(struct cmc *c, int point);
int cmc_injected_global(int point);

/* cmc_stuck.c - a page that will not become present */
uint64_t cmc_now_ns(void);
/* After a failed attempt (-err, operation op) at page p: past the install
 * deadline counted from r's first failure, reports and aborts; otherwise
 * returns how long to back off (ns). Async-signal-safe. */
uint64_t cmc_retry_after(struct cmc *c, struct cmc_retry *r, uint64_t p, int op, int err);
void cmc_sleep_ns(uint64_t ns);
/* Writes one line naming page, operation and errno to fd 2, then abort(). */
__attribute__((noreturn)) void cmc_fatal(struct cmc *c, uint64_t p, int op, int err, uint64_t stuck_ns);

/* cmc_setup.c */
/* totals += the cycle's counts in st (cycles excepted: the caller counts). */
void cmc_add_cycle_totals(struct cmc_totals *totals, const struct cmc_stats *st);

/* fault.c: SIGBUS handlers or fault threads inside a cmc right now */
int cmc_handlers_inflight(void);

/* cmc_flip.c */
/* Ends cycle `cycle_id` if it is still the running one (a late caller of an
 * earlier cycle must not end - or release the from-space of - the next one). */
void cmc_end_cycle(struct cmc *c, uint64_t cycle_id);
#define CMC_PF_AHEAD (4ull << 20)  /* the window wanted ahead of the allocation frontier */
#define CMC_PF_CHUNK (1ull << 20)  /* one MADV_POPULATE_WRITE */
int cmc_prefault_pending(struct cmc *c);
void cmc_prefault_step_locked(struct cmc *c);

/* cmc_fault.c */
int cmc_fault_attach(struct cmc *c);
void cmc_fault_detach(struct cmc *c);
int cmc_sigbus_ensure(void);
int cmc_server_start(struct cmc *c);
void cmc_server_stop(struct cmc *c);

/* cmc_fork.c */
int cmc_fork_register(struct cmc *c);
void cmc_fork_unregister(struct cmc *c);
void cmc_fork_flip_begin(void);
void cmc_fork_flip_end(void);

/* cmc_setup.c (GC workers) */
int cmc_workers_start(struct cmc *c);
void cmc_workers_stop(struct cmc *c);

#endif
