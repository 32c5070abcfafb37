/* checksum.c - the 64-bit checksum of snapshot chunks: xxHash64 (seed 0), written
 * from its published specification. Fast enough not to matter next to a write
 * (8-10 GB/s: four independent multiply lanes), and streaming over segments
 * whose lengths are multiples of 32 bytes (pages), so that a chunk whose stored
 * pages are scattered in memory (zero pages skipped) is summed without a copy. */
#include <string.h>

#include "kernel/kernel_impl.h"

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;           /* little-endian hosts (x86-64, arm64) */
}

static inline uint64_t round1(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    return rotl(acc, 31) * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v)
{
    acc ^= round1(0, v);
    return acc * P1 + P4;
}

void gk_sum_init(struct gk_sum *s)
{
    s->v[0] = P1 + P2;
    s->v[1] = P2;
    s->v[2] = 0;
    s->v[3] = -P1;
    s->len = 0;
}

void gk_sum_update(struct gk_sum *s, const void *data, uint64_t len)
{
    const unsigned char *p = data, *end = p + (len & ~31ull);
    uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];
    for (; p < end; p += 32) {
        v0 = round1(v0, rd64(p));
        v1 = round1(v1, rd64(p + 8));
        v2 = round1(v2, rd64(p + 16));
        v3 = round1(v3, rd64(p + 24));
    }
    s->v[0] = v0, s->v[1] = v1, s->v[2] = v2, s->v[3] = v3;
    s->len += len & ~31ull;     /* callers pass multiples of 32 (pages) */
}

uint64_t gk_sum_final(const struct gk_sum *s)
{
    uint64_t h;
    if (s->len >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++)
            h = merge(h, s->v[i]);
    } else {
        h = P5;
    }
    h += s->len;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t gk_checksum(uintptr_t data, uint64_t len)
{
    struct gk_sum s;
    gk_sum_init(&s);
    gk_sum_update(&s, (const void *)data, len);
    return gk_sum_final(&s);
}
