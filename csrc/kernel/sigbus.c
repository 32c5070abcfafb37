/* kernel_sigbus.c - SIGBUS self-service for SIGBUS-mode userfaultfds.
 *
 * With UFFD_FEATURE_SIGBUS a missing fault on a registered range raises SIGBUS
 * (si_code BUS_ADRERR, si_addr = the address) in the faulting thread instead of
 * queueing an event. The faulting thread then resolves its own page in the
 * handler and returns; the kernel retries the access. No handler thread, no
 * scheduling round trip: this is the mode Android's collector settled on.
 *
 * Invariants:
 *  - The handler is async-signal-safe: it only reads the slot table, does
 *    ioctl(2) and atomic counter updates, and keeps errno unchanged.
 *  - A slot is read by handlers only while state == SLOT_ACTIVE. A handler
 *    announces itself in `inflight` BEFORE re-checking the state; unserve sets
 *    the state first and then waits for inflight == 0 (both seq_cst), so after
 *    unserve returns no handler can still be reading the slot's source image.
 *  - A SIGBUS that is not ours goes to the previously installed disposition
 *    (Python's faulthandler under pytest) or kills the process as the default
 *    action would; we never swallow a real bus error.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

enum { SLOT_FREE = 0, SLOT_BUSY = 1, SLOT_ACTIVE = 2 };

struct sigbus_slot {
    int state;                  /* SLOT_* (atomic) */
    int inflight;               /* handlers inside this slot (atomic) */
    int uffd;
    int how;                    /* GK_SERVE_* */
    uintptr_t start;
    uint64_t len;
    uintptr_t source;
    struct gk_sigbus_stats stats;   /* fields updated atomically */
};

static struct sigbus_slot slots[GK_SIGBUS_SLOTS];
static struct sigaction prev_action;    /* written under install_lock, before our handler runs */
static int installed;                   /* atomic */
static uintptr_t page_mask;             /* cached: sysconf is not async-signal-safe */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* Resolves the page holding addr; 0 when the page is (now) present. */
static int resolve(struct sigbus_slot *s, uintptr_t addr)
{
    uintptr_t page = addr & page_mask;
    uint64_t off = page - s->start;
    uint64_t psize = ~page_mask + 1;
    uint64_t done;
    int rc;
    switch (s->how) {
    case GK_SERVE_COPY:
        rc = gk_uffd_copy(s->uffd, page, s->source + off, psize, GK_RETRY_EAGAIN, &done);
        break;
    case GK_SERVE_ZEROPAGE:
        rc = gk_uffd_zeropage(s->uffd, page, psize, GK_RETRY_EAGAIN, &done);
        break;
    case GK_SERVE_MOVE:
        rc = gk_uffd_move(s->uffd, page, s->source + off, psize, GK_RETRY_EAGAIN, &done);
        break;
    default:
        rc = -EINVAL;
    }
    if (rc == -EEXIST) {            /* another thread (or a copier) won the race */
        ADD(&s->stats.eexist, 1);
        rc = 0;
    }
    return rc;
}

/* Passes a SIGBUS that is not ours to whoever had it before. */
static void chain(int sig, siginfo_t *si, void *uctx)
{
    if ((prev_action.sa_flags & SA_SIGINFO) && prev_action.sa_sigaction) {
        prev_action.sa_sigaction(sig, si, uctx);
        return;
    }
    if (prev_action.sa_handler == SIG_DFL || prev_action.sa_handler == SIG_IGN) {
        /* Default action: restore it and let the signal take effect. A fault
         * re-executes and raises again; a sent signal is re-raised (pending
         * until we return, since SIGBUS is blocked while we run). */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        STORE(&installed, 0);
        raise(sig);
        return;
    }
    prev_action.sa_handler(sig);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    uintptr_t addr = (uintptr_t)si->si_addr;
    if (si->si_code == BUS_ADRERR) {
        for (int i = 0; i < GK_SIGBUS_SLOTS; i++) {
            struct sigbus_slot *s = &slots[i];
            if (LOAD(&s->state) != SLOT_ACTIVE)
                continue;
            ADD(&s->inflight, 1);
            if (LOAD(&s->state) == SLOT_ACTIVE && addr >= s->start && addr - s->start < s->len) {
                int rc = resolve(s, addr);
                STORE(&s->stats.last_tid, (int32_t)syscall(SYS_gettid));
                STORE(&s->stats.last_address, (uint64_t)addr);
                STORE(&s->stats.last_error, rc);
                ADD(rc == 0 ? &s->stats.served : &s->stats.errors, 1);
                ADD(&s->inflight, -1);
                if (rc == 0) {
                    errno = saved_errno;
                    return;
                }
                break;          /* could not resolve: a real error, chain it */
            }
            ADD(&s->inflight, -1);
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

int gk_sigbus_installed(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int gk_sigbus_install(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    if (rc == 0) {
        /* Not (or no longer) ours: whatever is there now becomes the handler we
         * chain to. Fill prev_action before our handler can run. */
        struct sigaction act, old;
        memset(&act, 0, sizeof(act));
        act.sa_sigaction = sigbus_handler;
        act.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigemptyset(&act.sa_mask);
        page_mask = ~(uintptr_t)(gk_page_size() - 1);
        if (sigaction(SIGBUS, NULL, &old) != 0) {
            rc = gk_neg_errno();
        } else {
            prev_action = old;
            rc = sigaction(SIGBUS, &act, NULL) == 0 ? 0 : gk_neg_errno();
        }
        if (rc == 0)
            STORE(&installed, 1);
    } else if (rc == 1) {
        rc = 0;
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int gk_sigbus_uninstall(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = 0;
    for (int i = 0; i < GK_SIGBUS_SLOTS; i++)
        if (LOAD(&slots[i].state) != SLOT_FREE)
            rc = -EBUSY;
    if (rc == 0) {
        rc = ours_installed_locked();
        if (rc == 1)    /* still ours: put the previous one back */
            rc = sigaction(SIGBUS, &prev_action, NULL) == 0 ? 0 : gk_neg_errno();
        if (rc == 0)
            STORE(&installed, 0);
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

int gk_sigbus_serve(int uffd, uintptr_t start, uint64_t len, uintptr_t source, int how)
{
    if (uffd < 0 || len == 0 || !gk_is_page_aligned(start) || !gk_is_page_aligned(len) ||
        start + len < start)
        return -EINVAL;
    if (how != GK_SERVE_COPY && how != GK_SERVE_ZEROPAGE && how != GK_SERVE_MOVE)
        return -EINVAL;
    if (how != GK_SERVE_ZEROPAGE && (source == 0 || !gk_is_page_aligned(source)))
        return -EINVAL;
    int rc = gk_sigbus_install();
    if (rc < 0)
        return rc;
    for (int i = 0; i < GK_SIGBUS_SLOTS; i++) {
        struct sigbus_slot *s = &slots[i];
        int expect = SLOT_FREE;
        if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_BUSY, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        s->uffd = uffd;
        s->how = how;
        s->start = start;
        s->len = len;
        s->source = source;
        memset(&s->stats, 0, sizeof(s->stats));
        STORE(&s->state, SLOT_ACTIVE);
        return i;
    }
    return -ENOSPC;
}

int gk_sigbus_unserve(int slot)
{
    if (slot < 0 || slot >= GK_SIGBUS_SLOTS)
        return -EINVAL;
    struct sigbus_slot *s = &slots[slot];
    int expect = SLOT_ACTIVE;
    if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_BUSY, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return -ENOENT;
    while (LOAD(&s->inflight) != 0)
        sched_yield();
    STORE(&s->state, SLOT_FREE);
    return 0;
}

int gk_sigbus_stats(int slot, struct gk_sigbus_stats *out)
{
    if (slot < 0 || slot >= GK_SIGBUS_SLOTS || !out)
        return -EINVAL;
    struct sigbus_slot *s = &slots[slot];
    out->served = LOAD(&s->stats.served);
    out->eexist = LOAD(&s->stats.eexist);
    out->errors = LOAD(&s->stats.errors);
    out->last_tid = LOAD(&s->stats.last_tid);
    out->last_error = LOAD(&s->stats.last_error);
    out->last_address = LOAD(&s->stats.last_address);
    return 0;
}
