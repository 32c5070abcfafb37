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

#include "cmc/cmc_impl.h"
#include "gcheap/testing.h"

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

static struct xor_ctx xor_ctxs[GK_FAULT_SLOTS + 1];

int cmc_use_xor_builder(struct cmc *c, uint64_t pattern)
{
    if (!c || c->instance >= GK_FAULT_SLOTS)
        return -EINVAL;
    /* One context per cmc slot; thread-mode cmcs have no slot: use the last. */
    struct xor_ctx *x = &xor_ctxs[c->instance >= 0 ? c->instance : GK_FAULT_SLOTS];
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

