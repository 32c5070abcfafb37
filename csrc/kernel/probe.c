/* kernel.c - page size and the mapping primitives (anonymous regions,
 * reservations, memfd, mlock, madvise) the rest of the kernel layer and the
 * runtime build on. Every wrapper returns 0 / a count or -errno. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

long gk_page_size(void)
{
    static long cached;
    if (!cached)
        cached = sysconf(_SC_PAGESIZE);
    return cached;
}

static int valid_align(uint64_t align)
{
    return align == 0 || ((align & (align - 1)) == 0 && align >= (uint64_t)gk_page_size());
}

/* Maps size + align bytes, then trims the head and tail so that exactly
 * [aligned, aligned + size) stays mapped. The trims can only fail for reasons
 * that leave the whole over-mapping in place, which we then unmap. */
static int map_aligned(uint64_t size, uint64_t align, int prot, int flags, uintptr_t *addr_out)
{
    if (size == 0 || !gk_is_page_aligned(size) || !valid_align(align) || !addr_out)
        return -EINVAL;
    uint64_t ps = (uint64_t)gk_page_size();
    if (align <= ps) {
        void *p = mmap(NULL, size, prot, flags, -1, 0);
        if (p == MAP_FAILED)
            return gk_neg_errno();
        *addr_out = (uintptr_t)p;
        return 0;
    }
    if (size > UINT64_MAX - align)
        return -ENOMEM;
    uint64_t span = size + align;
    void *p = mmap(NULL, span, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return gk_neg_errno();
    uintptr_t base = (uintptr_t)p;
    uintptr_t aligned = (base + align - 1) & ~(uintptr_t)(align - 1);
    uint64_t head = aligned - base;
    uint64_t tail = span - head - size;
    if ((head && munmap(p, head) != 0) || (tail && munmap((void *)(aligned + size), tail) != 0)) {
        int err = gk_neg_errno();
        munmap(p, span);
        return err;
    }
    *addr_out = aligned;
    return 0;
}

int gk_map_anon(uint64_t size, uint64_t align, uintptr_t *addr_out)
{
    return map_aligned(size, align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, addr_out);
}

int gk_reserve(uint64_t size, uint64_t align, uintptr_t *addr_out)
{
    return map_aligned(size, align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, addr_out);
}

int gk_unmap(uintptr_t addr, uint64_t size)
{
    if (!gk_is_page_aligned(addr) || size == 0)
        return -EINVAL;
    return munmap((void *)addr, size) == 0 ? 0 : gk_neg_errno();
}

int gk_madvise(uintptr_t addr, uint64_t size, int advice)
{
    return madvise((void *)addr, size, advice) == 0 ? 0 : gk_neg_errno();
}

int gk_mlock(uintptr_t addr, uint64_t size)
{
    return mlock((void *)addr, size) == 0 ? 0 : gk_neg_errno();
}

int gk_munlock(uintptr_t addr, uint64_t size)
{
    return munlock((void *)addr, size) == 0 ? 0 : gk_neg_errno();
}

int gk_map_anon_noreplace(uintptr_t addr, uint64_t size)
{
    if (!gk_is_page_aligned(addr) || !gk_is_page_aligned(size) || size == 0 || addr == 0)
        return -EINVAL;
    void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return gk_neg_errno();
    if ((uintptr_t)p != addr) {
        /* Kernels before 4.17 ignore the flag and treat addr as a hint. */
        munmap(p, size);
        return -EEXIST;
    }
    return 0;
}

int gk_map_memfd(uint64_t size, int *fd_out, uintptr_t *addr_out)
{
    if (size == 0 || !gk_is_page_aligned(size) || !fd_out || !addr_out)
        return -EINVAL;
    int fd = (int)syscall(SYS_memfd_create, "gcheap", MFD_CLOEXEC);
    if (fd < 0)
        return gk_neg_errno();
    if (ftruncate(fd, (off_t)size) != 0) {
        int err = gk_neg_errno();
        close(fd);
        return err;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = gk_neg_errno();
        close(fd);
        return err;
    }
    *fd_out = fd;
    *addr_out = (uintptr_t)p;
    return 0;
}

int gk_close(int fd)
{
    return close(fd) == 0 ? 0 : gk_neg_errno();
}

long gk_fd_read(int fd, uintptr_t buf, uint64_t len)
{
    ssize_t n = read(fd, (void *)buf, len);
    return n >= 0 ? (long)n : gk_neg_errno();
}

void gk_memcpy(uintptr_t dst, uintptr_t src, uint64_t len)
{
    memcpy((void *)dst, (const void *)src, len);
}
