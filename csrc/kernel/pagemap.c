/* pagemap.c - PAGEMAP_SCAN (Linux 6.7) on /proc/self/pagemap: which pages of a
 * range were written since they were write-protected by a userfaultfd with
 * UFFD_FEATURE_WP_ASYNC (the kernel resolves those write faults itself and only
 * notes them), optionally protecting them again in the same walk. The system
 * headers predate it: the uapi definitions are here. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WRITTEN (1 << 1)
#endif

int gk_pagemap_written(uintptr_t start, uint64_t len, int reprotect, uint64_t *bitmap, uint64_t *npages)
{
    if (!gk_is_page_aligned(start) || !gk_is_page_aligned(len) || !bitmap)
        return -EINVAL;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct page_region vec[256];
    uint64_t ps = (uint64_t)gk_page_size(), count = 0, pos = start, end = start + len;
    int rc = 0;
    while (pos < end) {
        struct pm_scan_arg a = {
            .size = sizeof a, .flags = PM_SCAN_CHECK_WPASYNC | (reprotect ? PM_SCAN_WP_MATCHING : 0),
            .start = pos, .end = end, .vec = (uintptr_t)vec, .vec_len = 256,
            .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
        };
        int n = ioctl(fd, PAGEMAP_SCAN, &a);
        if (n < 0) {
            rc = -errno;
            break;
        }
        for (int i = 0; i < n; i++)
            for (uint64_t a2 = vec[i].start; a2 < vec[i].end; a2 += ps) {
                uint64_t p = (a2 - start) / ps;
                bitmap[p / 64] |= 1ull << (p % 64);
                count++;
            }
        if (a.walk_end <= pos)
            break;
        pos = a.walk_end;
    }
    close(fd);
    if (npages)
        *npages = count;
    return rc;
}
