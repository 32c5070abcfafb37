/* fault.c - THE process-wide SIGBUS dispatcher: address range -> callback.
 *
 * With UFFD_FEATURE_SIGBUS a missing fault on a registered range raises SIGBUS
 * (si_code BUS_ADRERR, si_addr = the address) in the faulting thread. One
 * handler serves every such range in the process: the concurrent compactor's
 * heaps (csrc/cmc), gcheap.kernel's SigbusService (sigbus.c), snapshot and
 * restore servers. Each registers [start, start + len) with a callback that
 * resolves the page (UFFDIO_COPY/ZEROPAGE/MOVE...) and returns 0, after which
 * the faulting access is retried, or < 0 when it cannot.
 *
 *   handler(sig, si):  range containing si_addr?  --yes-->  callback == 0?  --yes-->  return (retry)
 *                         | no                                   | PASS: next range holding si_addr
 *                         v                                      | (all passed: return, retry)
 *                      chain to the previous disposition,  <-----+ < 0
 *                      once per fault
 *
 * Invariants:
 *  - Async-signal-safe: the handler reads the slot table, calls the callback
 *    (which must be async-signal-safe itself), keeps errno unchanged.
 *  - A slot is used by handlers only while ACTIVE. A handler announces itself
 *    in the slot's inflight count BEFORE re-checking the state; unregister
 *    sets the state first and then waits for inflight == 0 (both seq_cst), so
 *    once it returns no handler is still inside the callback or its context.
 *  - A SIGBUS that is not ours goes to the disposition that was installed
 *    before ours (Python's faulthandler under pytest), or takes the default
 *    action. It reaches that handler ONCE: if the previous handler re-raises
 *    the signal into us (faulthandler reinstalls the handler it replaced,
 *    which may be ours, and raises again), we take the default action instead
 *    of calling it a second time.
 *  - Someone may install another handler over ours (faulthandler.enable());
 *    gk_fault_ensure (called by every user before it relies on the handler:
 *    a cmc flip, a serve) puts ours back and chains to whoever replaced us,
 *    unless that is ourselves.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

enum { SLOT_FREE = 0, SLOT_BUSY = 1, SLOT_ACTIVE = 2 };

struct fault_slot {
    int state;                  /* SLOT_* (atomic) */
    int inflight;               /* handlers inside this slot (atomic) */
    uintptr_t start;
    uint64_t len;
    gk_fault_fn fn;
    void *ctx;
};

/* A foreign SIGBUS recently passed to the previous handler, by thread. */
struct chaining {
    int tid;                    /* atomic; 0 = free */
    uint64_t t_ns;              /* CLOCK_MONOTONIC when it was passed on */
};
#define CHAINING_SLOTS 16

static struct fault_slot slots[GK_FAULT_SLOTS];
static struct chaining chaining[CHAINING_SLOTS];
static struct sigaction prev_action;    /* written under install_lock, before our handler can run */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t chained;                /* foreign faults passed on (atomic; tests) */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define CAS(p, e, v) __atomic_compare_exchange_n((p), (e), (v), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

static void sigbus_handler(int sig, siginfo_t *si, void *uctx);

static void default_action(int sig, siginfo_t *si)
{
    /* Restore the default and let the signal take effect: a fault re-executes
     * and raises again; a sent signal is re-raised (pending until we return,
     * since SIGBUS is blocked while we run). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (si->si_code <= 0 || si->si_code == BUS_ADRERR || si->si_code == BUS_ADRALN || si->si_code == BUS_OBJERR)
        raise(sig);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);    /* async-signal-safe */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A second SIGBUS of the same thread this soon after we passed one on is the
 * previous handler re-raising it into us: it gets the default action. */
#define RECHAIN_WINDOW_NS 100000000u

/* Passes a SIGBUS that is not ours to the previous disposition, once. */
static void chain(int sig, siginfo_t *si, void *uctx)
{
    int tid = (int)syscall(SYS_gettid);
    uint64_t now = now_ns();
    int mine = -1;
    for (int i = 0; i < CHAINING_SLOTS; i++) {
        int t = LOAD(&chaining[i].tid);
        if (t == tid && now - LOAD(&chaining[i].t_ns) < RECHAIN_WINDOW_NS) {
            default_action(sig, si);    /* it came back to us: no second round */
            return;
        }
        if (t == tid)
            mine = i;
    }
    for (int i = 0; i < CHAINING_SLOTS && mine < 0; i++) {
        int t = LOAD(&chaining[i].tid);
        if ((t == 0 || now - LOAD(&chaining[i].t_ns) >= RECHAIN_WINDOW_NS) && CAS(&chaining[i].tid, &t, tid))
            mine = i;
    }
    if (mine >= 0)
        STORE(&chaining[mine].t_ns, now);
    ADD(&chained, 1);
    struct sigaction prev = prev_action;
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction && prev.sa_sigaction != sigbus_handler)
        prev.sa_sigaction(sig, si, uctx);
    else if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN)
        prev.sa_handler(sig);
    else
        default_action(sig, si);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    if (si->si_code == BUS_ADRERR) {
        uintptr_t addr = (uintptr_t)si->si_addr;
        int passed = 0, failed = 0;
        for (int i = 0; i < GK_FAULT_SLOTS && !failed; i++) {
            struct fault_slot *s = &slots[i];
            if (LOAD(&s->state) != SLOT_ACTIVE)
                continue;
            ADD(&s->inflight, 1);
            if (LOAD(&s->state) == SLOT_ACTIVE && addr >= s->start && addr - s->start < s->len) {
                int rc = s->fn(s->ctx, addr);
                ADD(&s->inflight, -1);
                if (rc == 0) {
                    errno = saved_errno;
                    return;
                }
                if (rc == GK_FAULT_PASS)
                    passed = 1;     /* not this owner's now: ask the other ranges */
                else
                    failed = 1;     /* in a served range but unresolved: a real error */
                continue;
            }
            ADD(&s->inflight, -1);
        }
        if (passed && !failed) {    /* nobody serves it now: retry (it faults normally) */
            errno = saved_errno;
            return;
        }
    }
    chain(sig, si, uctx);
    errno = saved_errno;
}

static int ours_installed_locked(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) != 0)
        return gk_neg_errno();
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sigbus_handler;
}

int gk_fault_installed(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int gk_fault_ensure(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    if (rc == 0) {
        /* Not (or no longer) ours: whatever is there now becomes the handler
         * we chain to. Fill prev_action before our handler can run. */
        struct sigaction act, old;
        memset(&act, 0, sizeof act);
        act.sa_sigaction = sigbus_handler;
        act.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigemptyset(&act.sa_mask);
        if (sigaction(SIGBUS, NULL, &old) != 0) {
            rc = gk_neg_errno();
        } else {
            if (!((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == sigbus_handler))
                prev_action = old;
            rc = sigaction(SIGBUS, &act, NULL) == 0 ? 0 : gk_neg_errno();
        }
    } else if (rc == 1) {
        rc = 0;
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int gk_fault_uninstall(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = 0;
    for (int i = 0; i < GK_FAULT_SLOTS; i++)
        if (LOAD(&slots[i].state) != SLOT_FREE)
            rc = -EBUSY;
    if (rc == 0) {
        rc = ours_installed_locked();
        if (rc == 1)    /* still ours: put the previous one back */
            rc = sigaction(SIGBUS, &prev_action, NULL) == 0 ? 0 : gk_neg_errno();
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void after_fork_child(void);
static void install_atfork(void) { gk_atfork(GK_FORK_KERNEL, NULL, NULL, after_fork_child); }

int gk_fault_register(uintptr_t start, uint64_t len, gk_fault_fn fn, void *ctx)
{
    if (!fn || len == 0 || start + len < start)
        return -EINVAL;
    pthread_once(&atfork_once, install_atfork);
    int rc = gk_fault_ensure();
    if (rc < 0)
        return rc;
    for (int i = 0; i < GK_FAULT_SLOTS; i++) {
        struct fault_slot *s = &slots[i];
        int expect = SLOT_FREE;
        if (!CAS(&s->state, &expect, SLOT_BUSY))
            continue;
        s->start = start;
        s->len = len;
        s->fn = fn;
        s->ctx = ctx;
        STORE(&s->state, SLOT_ACTIVE);
        return i;
    }
    return -ENOSPC;
}

int gk_fault_unregister(int slot)
{
    if (slot < 0 || slot >= GK_FAULT_SLOTS)
        return -EINVAL;
    struct fault_slot *s = &slots[slot];
    int expect = SLOT_ACTIVE;
    if (!CAS(&s->state, &expect, SLOT_BUSY))
        return -ENOENT;
    while (LOAD(&s->inflight) != 0)
        sched_yield();
    STORE(&s->state, SLOT_FREE);
    return 0;
}

uint64_t gk_fault_chained(void)
{
    return LOAD(&chained);
}

int gk_fault_ranges(uint64_t *starts, uint64_t *lens, int max)
{
    int n = 0;
    for (int i = 0; i < GK_FAULT_SLOTS; i++) {
        if (LOAD(&slots[i].state) != SLOT_ACTIVE)
            continue;
        if (n < max && starts && lens) {
            starts[n] = slots[i].start;
            lens[n] = slots[i].len;
        }
        n++;
    }
    return n;
}

/* A fork child has only the forking thread: no handler is inside a slot. */
static void after_fork_child(void)
{
    for (int i = 0; i < GK_FAULT_SLOTS; i++)
        STORE(&slots[i].inflight, 0);
    for (int i = 0; i < CHAINING_SLOTS; i++)
        STORE(&chaining[i].tid, 0);
    pthread_mutex_init(&install_lock, NULL);
}
