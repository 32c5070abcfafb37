/* cmc_testing.c - a page builder and memory helpers for testing and
 * benchmarking the concurrent machinery without the runtime.
 *
 * The XOR builder makes destination page p from from-space page p XOR a
 * pattern, so every page's expected contents are known and a page built twice,
 * built from the wrong source or never installed shows up as a mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include "cmc.h"

struct xor_ctx {
    uint64_t pattern;
    uint64_t psize;
};

static int xor_build(void *ctx, uint64_t dst_page, const char *from_image, char *dst_buf)
{
    struct xor_ctx *x = ctx;
    const uint64_t *src = (const uint64_t *)(from_image + dst_page * x->psize);
    uint64_t *dst = (uint64_t *)dst_buf;
    for (uint64_t i = 0; i < x->psize / 8; i++)
        dst[i] = src[i] ^ x->pattern;
    return 0;
}

static struct xor_ctx xor_ctxs[CMC_MAX_INSTANCES];

int cmc_use_xor_builder(struct cmc *c, uint64_t pattern)
{
    if (!c || c->instance >= CMC_MAX_INSTANCES)
        return -EINVAL;
    /* One context per cmc slot; thread-mode cmcs have no slot: use the last. */
    struct xor_ctx *x = &xor_ctxs[c->instance >= 0 ? c->instance : CMC_MAX_INSTANCES - 1];
    x->pattern = pattern;
    x->psize = c->psize;
    return cmc_set_builder(c, xor_build, x);
}

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

void cmc_test_fill(uintptr_t addr, uint64_t len, uint64_t seed)
{
    uint64_t *w = (uint64_t *)addr;
    for (uint64_t i = 0; i < len / 8; i++)
        w[i] = mix(seed + ((addr / 8) + i));
}

int64_t cmc_test_check(uintptr_t addr, uint64_t len, uint64_t seed, uint64_t pattern)
{
    const uint64_t *w = (const uint64_t *)addr;
    for (uint64_t i = 0; i < len / 8; i++)
        if (w[i] != (mix(seed + ((addr / 8) + i)) ^ pattern))
            return (int64_t)i;
    return -1;
}

void cmc_test_touch(uintptr_t addr, uint64_t n, uint64_t stride, int write, uint64_t val,
                    double *times)
{
    uint64_t ps = (uint64_t)gk_page_size();
    for (uint64_t i = 0; i < n; i++) {
        volatile uint64_t *w = (volatile uint64_t *)(addr + i * stride * ps);
        double t0 = cmc_now();
        if (write)
            *w ^= val;
        else
            (void)*w;
        if (times)
            times[i] = cmc_now() - t0;
    }
}

int64_t cmc_test_hammer(uintptr_t addr, double seconds, volatile int *stop)
{
    uint64_t ps = (uint64_t)gk_page_size();
    double end = cmc_now() + seconds;
    int64_t stolen = 0;
    unsigned iter = 0;
    while (!(stop && *stop)) {
        void *p = mmap((void *)addr, ps, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != MAP_FAILED) {
            if ((uintptr_t)p == addr)
                stolen++;
            munmap(p, ps);
        }
        if ((++iter & 255) == 0 && cmc_now() > end)
            break;
    }
    return stolen;
}

/* ---- raw kernel costs ---- */
#include <pthread.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

struct raw_server {
    int uffd;
    int stop;
    uintptr_t start, source;
    uint64_t ps;
};

static void *raw_server_main(void *arg)
{
    struct raw_server *s = arg;
    struct gk_uffd_event ev[16];
    while (!LOAD(&s->stop)) {
        int n = gk_uffd_read_events(s->uffd, ev, 16, 10);
        for (int i = 0; i < n; i++) {
            if (ev[i].event != GK_EV_PAGEFAULT)
                continue;
            uintptr_t page = (uintptr_t)ev[i].address & ~(uintptr_t)(s->ps - 1);
            uint64_t done;
            gk_uffd_copy(s->uffd, page, s->source + (page - s->start), s->ps, GK_RETRY_EAGAIN, &done);
        }
    }
    return NULL;
}

static int raw_uffd(int sigbus)
{
    int via, dev_err;
    int fd = gk_uffd_open(GK_OPEN_NONBLOCK, &via, &dev_err);
    if (fd < 0)
        return fd;
    uint64_t f, io;
    int rc = gk_uffd_api(fd, 0xAA, sigbus ? (1ull << 7) : 0, &f, &io);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int cmc_raw_fault_bench(int mode, uint64_t npages, double *times)
{
    uint64_t ps = (uint64_t)gk_page_size(), len = npages * ps;
    uintptr_t src, dst;
    int rc = gk_map_anon(len, 2 << 20, &src);
    if (rc < 0)
        return rc;
    memset((void *)src, 0x5a, len);
    if ((rc = gk_map_anon(len, 2 << 20, &dst)) < 0) {
        gk_unmap(src, len);
        return rc;
    }
    int fd = raw_uffd(mode == CMC_FAULT_SIGBUS);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    uint64_t io;
    if ((rc = gk_uffd_register(fd, dst, len, GK_MODE_MISSING, &io)) < 0)
        goto out_fd;
    if (mode == CMC_FAULT_SIGBUS) {
        int slot = gk_sigbus_serve(fd, dst, len, src, GK_SERVE_COPY);
        if (slot < 0) {
            rc = slot;
            goto out_fd;
        }
        cmc_test_touch(dst, npages, 1, 0, 0, times);
        gk_sigbus_unserve(slot);
    } else {
        struct raw_server s = { .uffd = fd, .start = dst, .source = src, .ps = ps };
        pthread_t t;
        if ((rc = -pthread_create(&t, NULL, raw_server_main, &s)) < 0)
            goto out_fd;
        cmc_test_touch(dst, npages, 1, 0, 0, times);
        STORE(&s.stop, 1);
        pthread_join(t, NULL);
    }
    rc = 0;
out_fd:
    close(fd);
out:
    gk_unmap(dst, len);
    gk_unmap(src, len);
    return rc;
}

double cmc_raw_copy_bench(uint64_t npages, uint64_t batch)
{
    uint64_t ps = (uint64_t)gk_page_size(), len = npages * ps;
    uintptr_t src, dst;
    if (gk_map_anon(len, 2 << 20, &src) < 0)
        return -1;
    memset((void *)src, 0x5a, len);
    if (gk_map_anon(len, 2 << 20, &dst) < 0) {
        gk_unmap(src, len);
        return -1;
    }
    double t = -1;
    int fd = raw_uffd(0);
    uint64_t io, done;
    if (fd >= 0 && gk_uffd_register(fd, dst, len, GK_MODE_MISSING, &io) == 0) {
        double t0 = cmc_now();
        for (uint64_t p = 0; p < npages; p += batch) {
            uint64_t n = npages - p < batch ? npages - p : batch;
            if (gk_uffd_copy(fd, dst + p * ps, src + p * ps, n * ps, GK_RETRY_EAGAIN, &done) < 0)
                break;
        }
        t = cmc_now() - t0;
    }
    if (fd >= 0)
        close(fd);
    gk_unmap(dst, len);
    gk_unmap(src, len);
    return t;
}
