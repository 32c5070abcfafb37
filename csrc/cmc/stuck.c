/* cmc_stuck.c - what happens when a destination page will not become present.
 *
 * During a cycle the heap range is registered MISSING: a page that is not
 * installed blocks every mutator that touches it (thread mode: in the kernel;
 * SIGBUS mode: in our handler). The only way to make such a page present while
 * mutators run is an install ioctl (UFFDIO_COPY/MOVE/ZEROPAGE). So a failing
 * install is retried - install_run retries at once a few times, then gives the
 * claim back, and whoever needs the page (a GC worker's re-scan, the faulting
 * SIGBUS handler, the fault thread's pending list, cmc_wait's rescue) retries
 * it with exponential backoff. Transient errors (ENOMEM under memory pressure,
 * EAGAIN while the mm changes) recover that way.
 *
 * A page that stays impossible to install for install_deadline_ms cannot be
 * recovered soundly (docs/cmc.md, "Failure handling" explains why): we write
 * one line to fd 2 naming the page, the operation and errno, and abort().
 * A page builder error (corrupt metadata: the builder is a pure function, so
 * retrying cannot help) aborts at once.
 *
 * Everything here is async-signal-safe: clock_gettime, nanosleep, write, abort.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cmc/cmc_impl.h"

#define BACKOFF_FIRST_NS 1000000ull         /* 1 ms */
#define BACKOFF_MAX_NS 64000000ull          /* 64 ms */

uint64_t cmc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cmc_sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t deadline_ns(struct cmc *c)
{
    int ms = c->cfg.install_deadline_ms > 0 ? c->cfg.install_deadline_ms : CMC_INSTALL_DEADLINE_MS;
    return (uint64_t)ms * 1000000ull;
}

uint64_t cmc_retry_after(struct cmc *c, struct cmc_retry *r, uint64_t p, int op, int err)
{
    uint64_t now = cmc_now_ns();
    if (op == CMC_OP_BUILD)
        cmc_fatal(c, p, op, err, 0);
    if (r->first_ns == 0) {
        r->first_ns = now;
        r->backoff_ns = BACKOFF_FIRST_NS;
    }
    uint64_t stuck = now - r->first_ns, limit = deadline_ns(c);
    if (stuck >= limit)
        cmc_fatal(c, p, op, err, stuck);
    uint64_t wait = r->backoff_ns;
    if (wait > limit - stuck)
        wait = limit - stuck;           /* wake up for the last attempt at the deadline */
    r->backoff_ns = r->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : r->backoff_ns * 2;
    return wait;
}

/* ---- the fatal report: formatted by hand (no stdio in a signal handler) ---- */

struct line {
    char buf[512];
    size_t n;
};

static void put(struct line *l, const char *s)
{
    while (*s && l->n < sizeof(l->buf) - 1)
        l->buf[l->n++] = *s++;
}

static void put_u64(struct line *l, uint64_t v, int base)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % (uint64_t)base];
        v /= (uint64_t)base;
    } while (v);
    if (base == 16)
        put(l, "0x");
    while (i > 0 && l->n < sizeof(l->buf) - 1)
        l->buf[l->n++] = tmp[--i];
}

static const char *errno_name(int e)
{
    switch (e) {
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case EIO: return "EIO";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case EBADF: return "EBADF";
    case EINTR: return "EINTR";
    default: return "?";
    }
}

static const char *op_name(int op)
{
    switch (op) {
    case CMC_OP_BUILD: return "page build";
    case CMC_OP_COPY: return "UFFDIO_COPY";
    case CMC_OP_MOVE: return "UFFDIO_MOVE";
    case CMC_OP_ZEROPAGE: return "UFFDIO_ZEROPAGE";
    default: return "install";
    }
}

static int fatal_once;

void cmc_fatal(struct cmc *c, uint64_t p, int op, int err, uint64_t stuck_ns)
{
    if (__atomic_exchange_n(&fatal_once, 1, __ATOMIC_SEQ_CST) != 0) {
        for (;;)
            pause();            /* the first thread here is writing its line and aborts */
    }
    {
        int e = err < 0 ? -err : err;
        struct line l = { .n = 0 };
        put(&l, "gcheap cmc: FATAL: heap page ");
        put_u64(&l, p, 10);
        put(&l, " (address ");
        put_u64(&l, c->heap + p * c->psize, 16);
        put(&l, ") cannot be made present: ");
        put(&l, op_name(op));
        put(&l, " failed with errno ");
        put_u64(&l, (uint64_t)e, 10);
        put(&l, " (");
        put(&l, errno_name(e));
        put(&l, ")");
        if (op != CMC_OP_BUILD) {
            put(&l, " for ");
            put_u64(&l, stuck_ns / 1000000ull, 10);
            put(&l, " ms (install deadline ");
            put_u64(&l, deadline_ns(c) / 1000000ull, 10);
            put(&l, " ms)");
        }
        put(&l, "; mutators touching it would block forever and the heap cannot be made "
                "consistent; aborting\n");
        size_t off = 0;
        while (off < l.n) {
            ssize_t w = write(2, l.buf + off, l.n - off);
            if (w <= 0 && errno != EINTR)
                break;
            if (w > 0)
                off += (size_t)w;
        }
    }
    abort();
}
