/* cmc_fault.c - mutator fault service, in two modes.
 *
 * fault_mode="sigbus": the userfaultfd has UFFD_FEATURE_SIGBUS, so a mutator
 *   touching a missing heap page gets SIGBUS (BUS_ADRERR, si_addr in the heap)
 *   in its own thread. The handler compacts that page into a scratch page taken
 *   from a small lock-free pool, installs it, and returns: the access retries.
 *   Pure C and async-signal-safe (atomics, futex, ioctl; no malloc, no locks,
 *   no Python). The handler is the process's one SIGBUS dispatcher
 *   (csrc/kernel/fault.c), which passes any other SIGBUS to the handler
 *   installed before it, so a real bus error is never eaten. cmc_flip
 *   re-checks that the dispatcher is still the disposition (cmc_sigbus_ensure).
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

#include "cmc/cmc_impl.h"

static int inflight;            /* SIGBUS handlers or fault threads inside a cmc (atomic) */

int cmc_handlers_inflight(void)
{
    return LOAD(&inflight);
}

/* Fork child (cmc/fork.c): the threads counted in inflight do not exist here. */
void cmc_fault_forget_inflight(void)
{
    STORE(&inflight, 0);
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

/* A SIGBUS for addr in c's heap. The page may also be present by now.
 * Returns 0 when it was this cycle's page, GK_FAULT_PASS when no cycle holds it. */
static int serve_sigbus(struct cmc *c, uintptr_t addr)
{
    if (LOAD(&c->registered) != 1)
        return GK_FAULT_PASS;   /* cycle over: another owner's, or it faults normally */
    uint64_t p = (addr - c->heap) / c->psize;
    if (p >= c->used_pages && !cmc_in_fill(c, p))
        return GK_FAULT_PASS;
    double t0 = cmc_now();
    ADD(&c->st.faults, 1);
    int slot = grab_slot(c);
    char *buf = c->mut_pool + (uint64_t)slot * c->psize;
    /* A failing install is retried with backoff, up to the install deadline
     * (then the process aborts with a report: cmc_stuck.c). */
    cmc_serve_page_until(c, p, buf, BY_MUTATOR);
    put_slot(c, slot);
    cmc_log_stall(c, cmc_now() - t0);
    return 0;
}

/* The SIGBUS dispatcher's callback for c's heap (csrc/kernel/fault.c). Announces
 * itself in inflight before looking at the cycle: a flip waits for inflight == 0
 * before it resets the page states. Outside a cycle it passes (GK_FAULT_PASS):
 * the heap may be served by someone else then (a snapshot's page server), and
 * when nobody serves it the dispatcher retries the access, which faults normally
 * (the range is unregistered). */
static int sigbus_fault(void *ctx, uintptr_t addr)
{
    struct cmc *c = ctx;
    ADD(&inflight, 1);
    int rc = serve_sigbus(c, addr);
    ADD(&inflight, -1);
    return rc;
}

int cmc_sigbus_installed(void)
{
    return gk_fault_installed();
}

int cmc_sigbus_ensure(void)
{
    return gk_fault_ensure();
}

/* Makes c's heap a range of the process's SIGBUS dispatcher. */
int cmc_fault_attach(struct cmc *c)
{
    int slot = gk_fault_register(c->heap, c->heap_size, sigbus_fault, c);
    if (slot < 0)
        return slot;
    c->instance = slot;
    return 0;
}

/* Returns once no handler is inside c (the dispatcher waits for its slot). */
void cmc_fault_detach(struct cmc *c)
{
    if (c->instance >= 0) {
        gk_fault_unregister(c->instance);
        c->instance = -1;
    }
}

/* ---- fault_mode="thread" ---- */

/* Serves page p for the fault thread (never waits on another claimant).
 * Announces itself before looking at the cycle (as the SIGBUS handler does): a
 * flip waits for inflight == 0 before it resets the page states, so a stale
 * event or retry can never mark a page of the next cycle.
 * SERVED: present or someone else's to install; STALE: not a page of the
 * running cycle (the caller wakes the thread); < 0: failed, given back. */
enum { SERVED = 1, STALE = 2 };

static int server_serve(struct cmc *c, uint64_t p, uint64_t cycle_id, int *op)
{
    ADD(&inflight, 1);
    int rc = STALE;
    /* registered first: it is stored after used_pages (and the flip's other
     * writes), so reading it first makes them visible */
    if (LOAD(&c->registered) == 1 && LOAD(&c->cycle_id) == cycle_id &&
        (p < c->used_pages || cmc_in_fill(c, p))) {
        rc = cmc_serve_page(c, p, c->server_buf, BY_MUTATOR, 0, op);
        if (rc == 0)
            rc = SERVED;
    }
    ADD(&inflight, -1);
    return rc;
}

/* The install of page p failed and was given back. The faulting thread stays
 * blocked in the kernel until some ioctl installs p: a GC worker's re-scan
 * will (for p < n_build) - but there may be no worker left (a dead worker, a
 * zero page above n_build), so the fault thread retries p itself. */
static void server_add_pending(struct cmc *c, uint64_t p, uint64_t cycle_id, int op, int err)
{
    if (c->n_pending == CMC_SERVER_PENDING)
        return;                 /* 64 failing pages at once: leave the rest to the workers */
    struct cmc_pending *e = &c->pending[c->n_pending++];
    e->page = p;
    e->cycle_id = cycle_id;
    e->retry.first_ns = 0;
    e->due_ns = cmc_now_ns() + cmc_retry_after(c, &e->retry, p, op, err);
}

/* Retries the pending pages that are due; returns the poll timeout (ms). */
static int server_retry_pending(struct cmc *c)
{
    uint64_t now = cmc_now_ns(), next = UINT64_MAX;
    for (int i = 0; i < c->n_pending;) {
        struct cmc_pending *e = &c->pending[i];
        if (e->due_ns <= now) {
            int op = CMC_OP_NONE;
            int rc = server_serve(c, e->page, e->cycle_id, &op);
            if (rc > 0) {
                c->pending[i] = c->pending[--c->n_pending];
                continue;
            }
            cmc_note_error(c, rc, CMC_INJ_IOCTL);
            now = cmc_now_ns();
            e->due_ns = now + cmc_retry_after(c, &e->retry, e->page, op, rc);
        }
        if (e->due_ns < next)
            next = e->due_ns;
        i++;
    }
    if (c->n_pending == 0)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void *server_main(void *arg)
{
    struct cmc *c = arg;
    struct pollfd pf[2] = { { .fd = c->uffd, .events = POLLIN }, { .fd = c->stop_fd, .events = POLLIN } };
    struct gk_uffd_event ev[32];
    int timeout = -1;
    for (;;) {
        int n = poll(pf, 2, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cmc_note_error(c, -errno, CMC_INJ_THREAD);
            break;
        }
        if (n > 0 && pf[1].revents)
            break;
        int got = 0;
        if (n > 0 && (pf[0].revents & POLLIN)) {
            got = gk_uffd_read_events(c->uffd, ev, 32, 0);
            if (got < 0) {
                cmc_note_error(c, got, CMC_INJ_THREAD);
                break;
            }
        }
        for (int i = 0; i < got; i++) {
            if (ev[i].event != GK_EV_PAGEFAULT)
                continue;
            double t0 = cmc_now();
            uintptr_t addr = (uintptr_t)ev[i].address;
            uint64_t p = (addr - c->heap) / c->psize;
            uint64_t cycle_id = LOAD(&c->cycle_id);
            int op = CMC_OP_NONE;
            int rc = addr < c->heap ? STALE : server_serve(c, p, cycle_id, &op);
            if (rc == STALE) {
                gk_uffd_wake(c->uffd, addr & ~(uintptr_t)(c->psize - 1), c->psize);
                continue;
            }
            ADD(&c->st.faults, 1);
            if (rc < 0) {
                cmc_note_error(c, rc, CMC_INJ_IOCTL);
                server_add_pending(c, p, cycle_id, op, rc);
            }
            cmc_log_stall(c, cmc_now() - t0);
        }
        timeout = c->n_pending ? server_retry_pending(c) : -1;
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
