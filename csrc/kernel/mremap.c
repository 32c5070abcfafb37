/* kernel_mremap.c - mremap(MREMAP_DONTUNMAP): move a range's page tables to a
 * new address while the source stays mapped, same size, same protections, empty.
 *
 *   before:  src [ p0 p1 p2 p3 ]           dst [ reserved or chosen ]
 *   after:   src [ -- -- -- -- ] (empty)   dst [ p0 p1 p2 p3 ]
 *
 * A later access to src gets a fresh zero page, or is delivered to a
 * userfaultfd registered on src (registration survives the move).
 */
#define _GNU_SOURCE
#include "kernel/kernel_impl.h"

int gk_mremap_raw(uintptr_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                  uintptr_t new_addr, uintptr_t *addr_out)
{
    void *p = mremap((void *)old_addr, old_len, new_len, flags, (void *)new_addr);
    if (p == MAP_FAILED)
        return gk_neg_errno();
    if (addr_out)
        *addr_out = (uintptr_t)p;
    return 0;
}

/* Validate everything we can check ourselves before the kernel acts: the
 * kernel's own checks come first in its code path since the v7 fix, but a
 * caller-side mistake must never reach it. */
int gk_mremap_dontunmap(uintptr_t src, uint64_t len, uintptr_t dst, uintptr_t *addr_out)
{
    if (len == 0 || !gk_is_page_aligned(src) || !gk_is_page_aligned(len) || !gk_is_page_aligned(dst))
        return -EINVAL;
    if (src + len < src || (dst && dst + len < dst))
        return -EINVAL;
    if (dst && dst < src + len && src < dst + len)
        return -EINVAL;     /* overlapping ranges: the kernel would refuse too */
    int flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP | (dst ? MREMAP_FIXED : 0);
    uintptr_t got = 0;
    int rc = gk_mremap_raw(src, len, len, flags, dst, &got);
    if (rc < 0)
        return rc;
    if (addr_out)
        *addr_out = got;
    return 0;
}
