/* bench_raw.c - raw costs of the kernel primitives, timed in C.
 *
 * Every benchmark prepares its mappings outside the timed section, times only
 * the operation itself with CLOCK_MONOTONIC, and restores the state (drops
 * the pages) between repetitions, also untimed. 4 KiB pages throughout:
 * MADV_NOHUGEPAGE keeps THP out of the per-page figures, except for mremap,
 * whose PMD-level table moves are what the aligned case is about.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"
#include "gcheap/testing.h"

#define HPAGE (2ULL << 20)
#define BARRIER() __asm__ volatile("" ::: "memory")

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t psz(void)
{
    return (uint64_t)gk_page_size();
}

/* A private anonymous 4 KiB-page mapping, optionally populated. */
static int map_small(uint64_t bytes, int populate, uintptr_t *out)
{
    int rc = gk_map_anon(bytes, HPAGE, out);
    if (rc < 0)
        return rc;
    rc = gk_madvise(*out, bytes, MADV_NOHUGEPAGE);
    if (rc == 0 && populate)
        memset((void *)*out, 0x5a, bytes);
    if (rc < 0)
        gk_unmap(*out, bytes);
    return rc;
}

/* A userfaultfd with `features`, registered MISSING on [addr, addr+len). */
static int open_registered(uint64_t features, uintptr_t addr, uint64_t len)
{
    int fd = gk_uffd_open(GK_OPEN_USER_MODE_ONLY | GK_OPEN_NONBLOCK, NULL, NULL);
    if (fd < 0)
        return fd;
    int rc = gk_uffd_api(fd, 0xAA, features, NULL, NULL);
    if (rc == 0)
        rc = gk_uffd_register(fd, addr, len, GK_MODE_MISSING, NULL);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int gkb_memcpy(uint64_t pages, int reps, uint64_t *ns_out)
{
    uint64_t bytes = pages * psz();
    uintptr_t src, dst;
    int rc = map_small(bytes, 1, &src);
    if (rc < 0)
        return rc;
    rc = map_small(bytes, 1, &dst);
    if (rc < 0) {
        gk_unmap(src, bytes);
        return rc;
    }
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        memcpy((void *)dst, (const void *)src, bytes);
        BARRIER();
        ns_out[r] = now_ns() - t0;
    }
    gk_unmap(src, bytes);
    gk_unmap(dst, bytes);
    return 0;
}

int gkb_first_touch(uint64_t pages, int reps, uint64_t *ns_out)
{
    uint64_t ps = psz(), bytes = pages * ps;
    for (int r = 0; r < reps; r++) {
        uintptr_t area;
        int rc = map_small(bytes, 0, &area);
        if (rc < 0)
            return rc;
        uint64_t t0 = now_ns();
        for (uint64_t off = 0; off < bytes; off += ps)
            *(volatile char *)(area + off) = 1;
        ns_out[r] = now_ns() - t0;
        gk_unmap(area, bytes);
    }
    return 0;
}

enum uffd_bench { B_COPY, B_ZEROPAGE, B_MOVE };

static int bench_resolve(enum uffd_bench kind, uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out)
{
    uint64_t ps = psz(), bytes = pages * ps, step = batch * ps;
    if (batch == 0 || pages % batch)
        return -EINVAL;
    uintptr_t src = 0, dst;
    int rc = map_small(bytes, 0, &dst);
    if (rc < 0)
        return rc;
    if (kind != B_ZEROPAGE && (rc = map_small(bytes, 1, &src)) < 0) {
        gk_unmap(dst, bytes);
        return rc;
    }
    int fd = open_registered(kind == B_MOVE ? UFFD_FEATURE_MOVE : 0, dst, bytes);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    for (int r = 0; r < reps && rc == 0; r++) {
        uint64_t done;
        uint64_t t0 = now_ns();
        for (uint64_t off = 0; off < bytes && rc == 0; off += step) {
            if (kind == B_COPY)
                rc = gk_uffd_copy(fd, dst + off, src + off, step, 0, &done);
            else if (kind == B_ZEROPAGE)
                rc = gk_uffd_zeropage(fd, dst + off, step, 0, &done);
            else
                rc = gk_uffd_move(fd, dst + off, src + off, step, 0, &done);
        }
        ns_out[r] = now_ns() - t0;
        /* untimed: empty the destination again, refill a moved-out source */
        if (rc == 0)
            rc = gk_madvise(dst, bytes, MADV_DONTNEED);
        if (rc == 0 && kind == B_MOVE)
            memset((void *)src, 0x5a, bytes);
    }
    close(fd);
out:
    gk_unmap(dst, bytes);
    if (src)
        gk_unmap(src, bytes);
    return rc;
}

int gkb_uffd_copy(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out)
{
    return bench_resolve(B_COPY, pages, batch, reps, ns_out);
}

int gkb_uffd_zeropage(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out)
{
    return bench_resolve(B_ZEROPAGE, pages, batch, reps, ns_out);
}

int gkb_uffd_move(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out)
{
    return bench_resolve(B_MOVE, pages, batch, reps, ns_out);
}

/* The classic fault-handler thread: poll, read the message, UFFDIO_COPY the
 * page from the source image, which wakes the faulting thread. */
struct handler {
    int fd;
    uintptr_t dst, src;
    uint64_t len;
    volatile int stop;
    int error;
};

/* A handler that cannot go on unregisters the range: that wakes the blocked
 * toucher (its page then faults in as a normal zero page) instead of leaving
 * it hanging, and the error is reported after the loop. */
static void handler_fail(struct handler *h, int err)
{
    h->error = err;
    gk_uffd_unregister(h->fd, h->dst, h->len);
}

static void *handler_main(void *arg)
{
    struct handler *h = arg;
    struct uffd_msg msg;
    uint64_t ps = psz();
    while (!h->stop) {
        struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
        int n = poll(&pfd, 1, 10);
        if (n < 0 && errno != EINTR) {
            handler_fail(h, -errno);
            break;
        }
        if (n <= 0)
            continue;
        ssize_t got = read(h->fd, &msg, sizeof(msg));
        if (got < 0) {
            if (errno == EAGAIN)
                continue;
            handler_fail(h, -errno);
            break;
        }
        if (got != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
            continue;
        uintptr_t page = msg.arg.pagefault.address & ~(ps - 1);
        uint64_t done;
        int rc = gk_uffd_copy(h->fd, page, h->src + (page - h->dst), ps, GK_RETRY_EAGAIN, &done);
        if (rc < 0 && rc != -EEXIST) {
            handler_fail(h, rc);
            break;
        }
    }
    return NULL;
}

/* Times a read of each page of [dst, dst+faults pages). */
static void touch_each(uintptr_t dst, uint64_t faults, uint64_t *ns_out)
{
    uint64_t ps = psz();
    for (uint64_t i = 0; i < faults; i++) {
        uint64_t t0 = now_ns();
        (void)*(volatile char *)(dst + i * ps);
        ns_out[i] = now_ns() - t0;
    }
}

/* A populated source image and an empty destination of the same size. */
static int map_image_and_target(uint64_t bytes, uintptr_t *src, uintptr_t *dst)
{
    int rc = map_small(bytes, 1, src);
    if (rc < 0)
        return rc;
    if ((rc = map_small(bytes, 0, dst)) < 0)
        gk_unmap(*src, bytes);
    return rc;
}

int gkb_fault_thread(uint64_t faults, uint64_t *ns_out)
{
    uint64_t bytes = faults * psz();
    uintptr_t src, dst;
    int rc = map_image_and_target(bytes, &src, &dst);
    if (rc < 0)
        return rc;
    struct handler h = { .dst = dst, .src = src, .len = bytes };
    h.fd = open_registered(0, dst, bytes);
    if (h.fd < 0) {
        rc = h.fd;
    } else {
        pthread_t tid;
        rc = -pthread_create(&tid, NULL, handler_main, &h);
        if (rc == 0) {
            touch_each(dst, faults, ns_out);
            h.stop = 1;
            pthread_join(tid, NULL);
            rc = h.error;
        }
        close(h.fd);
    }
    gk_unmap(dst, bytes);
    gk_unmap(src, bytes);
    return rc;
}

int gkb_fault_sigbus(uint64_t faults, uint64_t *ns_out)
{
    uint64_t bytes = faults * psz();
    uintptr_t src, dst;
    int rc = map_image_and_target(bytes, &src, &dst);
    if (rc < 0)
        return rc;
    int fd = open_registered(UFFD_FEATURE_SIGBUS, dst, bytes);
    if (fd < 0) {
        rc = fd;
    } else {
        int slot = gk_sigbus_serve(fd, dst, bytes, src, GK_SERVE_COPY);
        if (slot < 0) {
            rc = slot;
        } else {
            struct gk_sigbus_stats st;
            touch_each(dst, faults, ns_out);
            gk_sigbus_unserve(slot);
            gk_sigbus_stats(slot, &st);
            if (st.served != faults)
                rc = -EIO;      /* a fault was not ours to serve: the figures are wrong */
        }
        close(fd);
    }
    gk_unmap(dst, bytes);
    gk_unmap(src, bytes);
    return rc;
}

int gkb_mremap_dontunmap(uint64_t bytes, uint64_t misalign, int reps, uint64_t *ns_out)
{
    uintptr_t src, res;
    if (bytes == 0 || bytes % HPAGE || misalign % psz() || misalign >= HPAGE)
        return -EINVAL;
    int rc = gk_map_anon(bytes, HPAGE, &src);
    if (rc < 0)
        return rc;
    memset((void *)src, 0x5a, bytes);
    /* The destination lives inside our own reservation, so MREMAP_FIXED only
     * ever replaces memory this function owns. */
    if ((rc = gk_reserve(bytes + HPAGE, HPAGE, &res)) < 0) {
        gk_unmap(src, bytes);
        return rc;
    }
    uintptr_t dst = res + misalign;
    for (int r = 0; r < reps && rc == 0; r++) {
        uintptr_t got;
        uint64_t t0 = now_ns();
        rc = gk_mremap_dontunmap(src, bytes, dst, &got);
        ns_out[r] = now_ns() - t0;
        if (rc == 0)        /* untimed: move the pages home for the next rep */
            rc = gk_mremap_dontunmap(dst, bytes, src, &got);
    }
    gk_unmap(res, bytes + HPAGE);
    gk_unmap(src, bytes);
    return rc;
}
