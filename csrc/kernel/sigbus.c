/* sigbus.c - SIGBUS self-service for SIGBUS-mode userfaultfds: a client of the
 * process's one SIGBUS dispatcher (fault.c).
 *
 * With UFFD_FEATURE_SIGBUS a missing fault on a registered range raises SIGBUS
 * in the faulting thread instead of queueing an event. The faulting thread then
 * resolves its own page in the handler and returns; the kernel retries the
 * access. No handler thread, no scheduling round trip: this is the mode
 * Android's collector settled on.
 *
 * A served range is one dispatcher slot whose context is one of our slots
 * (source image, how to resolve, statistics). The resolver is async-signal-
 * safe: ioctl(2), atomic counter updates, nothing else. Unserving unregisters
 * the dispatcher slot first, which waits for handlers inside it, so the source
 * image may be freed once gk_sigbus_unserve returns.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

enum { SLOT_FREE = 0, SLOT_BUSY = 1, SLOT_ACTIVE = 2 };

struct sigbus_slot {
    int state;                  /* SLOT_* (atomic) */
    int fault_slot;             /* the dispatcher's slot */
    int uffd;
    int how;                    /* GK_SERVE_* */
    uintptr_t start;
    uint64_t len;
    uintptr_t source;
    uint64_t psize;
    struct gk_sigbus_stats stats;   /* fields updated atomically */
};

static struct sigbus_slot slots[GK_SIGBUS_SLOTS];

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* The dispatcher's callback: resolves the page holding addr; 0 when it is (now) present. */
static int resolve(void *ctx, uintptr_t addr)
{
    struct sigbus_slot *s = ctx;
    uintptr_t page = addr & ~(uintptr_t)(s->psize - 1);
    uint64_t off = page - s->start;
    uint64_t done;
    int rc;
    switch (s->how) {
    case GK_SERVE_COPY:
        rc = gk_uffd_copy(s->uffd, page, s->source + off, s->psize, GK_RETRY_EAGAIN, &done);
        break;
    case GK_SERVE_ZEROPAGE:
        rc = gk_uffd_zeropage(s->uffd, page, s->psize, GK_RETRY_EAGAIN, &done);
        break;
    case GK_SERVE_MOVE:
        rc = gk_uffd_move(s->uffd, page, s->source + off, s->psize, GK_RETRY_EAGAIN, &done);
        break;
    default:
        rc = -EINVAL;
    }
    if (rc == -EEXIST) {            /* another thread (or a copier) won the race */
        ADD(&s->stats.eexist, 1);
        rc = 0;
    }
    STORE(&s->stats.last_tid, (int32_t)syscall(SYS_gettid));
    STORE(&s->stats.last_address, (uint64_t)addr);
    STORE(&s->stats.last_error, rc);
    ADD(rc == 0 ? &s->stats.served : &s->stats.errors, 1);
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
    for (int i = 0; i < GK_SIGBUS_SLOTS; i++) {
        struct sigbus_slot *s = &slots[i];
        int expect = SLOT_FREE;
        if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_BUSY, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        s->uffd = uffd;
        s->how = how;
        s->start = start;
        s->len = len;
        s->source = source;
        s->psize = (uint64_t)gk_page_size();
        memset(&s->stats, 0, sizeof(s->stats));
        int fs = gk_fault_register(start, len, resolve, s);
        if (fs < 0) {
            STORE(&s->state, SLOT_FREE);
            return fs;
        }
        s->fault_slot = fs;
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
    if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_BUSY, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return -ENOENT;
    gk_fault_unregister(s->fault_slot);     /* waits for handlers inside it */
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
