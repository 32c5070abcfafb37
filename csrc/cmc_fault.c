/* cmc_fault.c - mutator fault service, in two modes.
 *
 * fault_mode="sigbus": the userfaultfd has UFFD_FEATURE_SIGBUS, so a mutator
 *   touching a missing heap page gets SIGBUS (BUS_ADRERR, si_addr in the heap)
 *   in its own thread. The handler compacts that page into a scratch page taken
 *   from a small lock-free pool, installs it, and returns: the access retries.
 *   Pure C and async-signal-safe (atomics, futex, ioctl; no malloc, no locks,
 *   no Python). Any other SIGBUS goes to the handler installed before ours
 *   (Python's faulthandler under pytest), so a real bus error is never eaten.
 *   cmc_flip re-checks that we are still the disposition (cmc_sigbus_ensure).
 *
 * fault_mode="thread": one C thread per cmc polls the userfaultfd, reads fault
 *   events and serves them. It never waits on a page someone else is building:
 *   that claimant's ioctl wakes the blocked mutator.
 *
 * Stall times: sigbus mode logs handler entry to page present; thread mode
 * logs event read to page present (the wake-up and scheduling of the faulting
 * thread are not visible to the server; bench/cmc_bench.py measures the
 * mutator's own view).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cmc.h"

static struct cmc *instances[CMC_MAX_INSTANCES];
static struct sigaction prev_action;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int inflight;            /* SIGBUS handlers or fault threads inside a cmc (atomic) */

int cmc_handlers_inflight(void)
{
    return LOAD(&inflight);
}

static int grab_slot(struct cmc *c)
{
    for (;;) {
        uint64_t m = LOAD(&c->mut_free);
        if (m == 0) {
            sched_yield();      /* 64 threads faulting at once: wait for a slot */
            continue;
        }
        int i = __builtin_ctzll(m);
        if (CAS(&c->mut_free, &m, m & ~(1ull << i)))
            return i;
    }
}

static void put_slot(struct cmc *c, int i)
{
    __atomic_fetch_or(&c->mut_free, 1ull << i, __ATOMIC_SEQ_CST);
}

/* A SIGBUS for addr in c's heap. The page may also be present by now. */
static void serve_sigbus(struct cmc *c, uintptr_t addr)
{
    if (LOAD(&c->registered) != 1)
        return;                 /* cycle over: the retried access faults normally */
    uint64_t p = (addr - c->heap) / c->psize;
    if (p >= c->used_pages)
        return;
    double t0 = cmc_now();
    ADD(&c->st.faults, 1);
    int slot = grab_slot(c);
    char *buf = c->mut_pool + (uint64_t)slot * c->psize;
    for (;;) {
        int rc = cmc_serve_page(c, p, buf, BY_MUTATOR, 1);
        if (rc == 0 || LOAD(&c->registered) != 1)
            break;
        /* Install keeps failing: the page was given back; try again shortly. */
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    put_slot(c, slot);
    cmc_log_stall(c, cmc_now() - t0);
}

static void chain(int sig, siginfo_t *si, void *uctx)
{
    if ((prev_action.sa_flags & SA_SIGINFO) && prev_action.sa_sigaction) {
        prev_action.sa_sigaction(sig, si, uctx);
        return;
    }
    if (prev_action.sa_handler == SIG_DFL || prev_action.sa_handler == SIG_IGN) {
        /* Take the default action: the faulting access re-executes and dies. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        if (si->si_code <= 0)
            raise(sig);
        return;
    }
    prev_action.sa_handler(sig);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    if (si->si_code == BUS_ADRERR) {
        uintptr_t addr = (uintptr_t)si->si_addr;
        ADD(&inflight, 1);
        for (int i = 0; i < CMC_MAX_INSTANCES; i++) {
            struct cmc *c = LOAD(&instances[i]);
            if (c && addr >= c->heap && addr - c->heap < c->heap_size) {
                serve_sigbus(c, addr);
                ADD(&inflight, -1);
                errno = saved_errno;
                return;
            }
        }
        ADD(&inflight, -1);
    }
    chain(sig, si, uctx);
    errno = saved_errno;
}

static int ours_installed_locked(void)
{
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) != 0)
        return -errno;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sigbus_handler;
}

int cmc_sigbus_installed(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    pthread_mutex_unlock(&install_lock);
    return rc;
}

/* Installs our handler unless it is the current one; whatever is there now
 * becomes the handler we chain to. */
int cmc_sigbus_ensure(void)
{
    pthread_mutex_lock(&install_lock);
    int rc = ours_installed_locked();
    if (rc == 0) {
        struct sigaction act, old;
        memset(&act, 0, sizeof(act));
        act.sa_sigaction = sigbus_handler;
        act.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&act.sa_mask);
        if (sigaction(SIGBUS, NULL, &old) != 0) {
            rc = -errno;
        } else {
            prev_action = old;
            rc = sigaction(SIGBUS, &act, NULL) == 0 ? 0 : -errno;
        }
    } else if (rc == 1) {
        rc = 0;
    }
    pthread_mutex_unlock(&install_lock);
    return rc;
}

/* Makes c visible to the SIGBUS handler. */
int cmc_fault_attach(struct cmc *c)
{
    for (int i = 0; i < CMC_MAX_INSTANCES; i++) {
        struct cmc *expect = NULL;
        if (CAS(&instances[i], &expect, c)) {
            c->instance = i;
            return 0;
        }
    }
    return -ENOSPC;
}

void cmc_fault_detach(struct cmc *c)
{
    if (c->instance >= 0) {
        STORE(&instances[c->instance], NULL);
        c->instance = -1;
        while (LOAD(&inflight))
            sched_yield();
    }
}

/* ---- fault_mode="thread" ---- */
static void *server_main(void *arg)
{
    struct cmc *c = arg;
    struct pollfd pf[2] = { { .fd = c->uffd, .events = POLLIN }, { .fd = c->stop_fd, .events = POLLIN } };
    struct gk_uffd_event ev[32];
    for (;;) {
        int n = poll(pf, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cmc_note_error(c, -errno, CMC_INJ_THREAD);
            break;
        }
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        int got = gk_uffd_read_events(c->uffd, ev, 32, 0);
        if (got < 0) {
            cmc_note_error(c, got, CMC_INJ_THREAD);
            break;
        }
        for (int i = 0; i < got; i++) {
            if (ev[i].event != GK_EV_PAGEFAULT)
                continue;
            double t0 = cmc_now();
            uintptr_t addr = (uintptr_t)ev[i].address;
            uint64_t p = (addr - c->heap) / c->psize;
            /* Announce ourselves before looking at the cycle (as the SIGBUS
             * handler does): a flip waits for inflight == 0 before it resets
             * the page states, so a stale event can never mark a page of the
             * next cycle. */
            ADD(&inflight, 1);
            if (addr < c->heap || p >= c->used_pages || LOAD(&c->registered) != 1) {
                ADD(&inflight, -1);
                gk_uffd_wake(c->uffd, addr & ~(uintptr_t)(c->psize - 1), c->psize);
                continue;
            }
            ADD(&c->st.faults, 1);
            int rc = cmc_serve_page(c, p, c->server_buf, BY_MUTATOR, 0);
            ADD(&inflight, -1);
            if (rc < 0)
                cmc_note_error(c, rc, CMC_INJ_IOCTL);   /* the page went back: a worker rebuilds it */
            cmc_log_stall(c, cmc_now() - t0);
        }
    }
    return NULL;
}

int cmc_server_start(struct cmc *c)
{
    c->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (c->stop_fd < 0)
        return -errno;
    int rc = cmc_injected(c, CMC_INJ_THREAD);
    if (rc == 0)
        rc = -pthread_create(&c->server, NULL, server_main, c);
    if (rc < 0) {
        close(c->stop_fd);
        c->stop_fd = -1;
        return rc;
    }
    pthread_setname_np(c->server, "cmc-faults");
    c->server_started = 1;
    return 0;
}

void cmc_server_stop(struct cmc *c)
{
    if (c->server_started) {
        uint64_t one = 1;
        if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
            cmc_note_error(c, -errno, CMC_INJ_THREAD);
        pthread_join(c->server, NULL);
        c->server_started = 0;
    }
    if (c->stop_fd >= 0) {
        close(c->stop_fd);
        c->stop_fd = -1;
    }
}
