/* kernel.h - internal header of the kernel-primitive layer (not fed to cdef).
 *
 * Brings in the Linux uapi headers and defines, under #ifndef, what the build
 * machine's headers (Linux 6.1 on Debian 12) may lack. Values are the kernel's
 * uapi values; they never change once released.
 */
#ifndef GCHEAP_KERNEL_IMPL_H
#define GCHEAP_KERNEL_IMPL_H

#include "gcheap/kernel.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* ---- mremap / mmap ---- */
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4                      /* Linux 5.7 */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000            /* Linux 4.17 */
#endif

/* ---- userfaultfd creation ---- */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1                   /* Linux 5.11 */
#endif
#ifndef USERFAULTFD_IOC
#define USERFAULTFD_IOC 0xAA
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)   /* /dev/userfaultfd, 6.1 */
#endif

/* ---- feature bits newer than the 6.1 headers ---- */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)   /* 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)           /* 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)         /* 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)             /* 6.8 */
#endif

/* ---- UFFDIO_MOVE (6.8) ---- */
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
    __u64 mode;
    __s64 move;     /* written by the kernel: bytes moved or -errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* ---- UFFDIO_POISON (6.6) ---- */
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
#endif
#ifndef UFFDIO_POISON
struct uffdio_poison {
    struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
    __u64 mode;
    __s64 updated;  /* written by the kernel: bytes poisoned or -errno */
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

/* Our ABI mirrors the kernel's: keep the public constants honest. */
_Static_assert(GK_MODE_MISSING == UFFDIO_REGISTER_MODE_MISSING, "mode");
_Static_assert(GK_MODE_WP == UFFDIO_REGISTER_MODE_WP, "mode");
_Static_assert(GK_MODE_MINOR == UFFDIO_REGISTER_MODE_MINOR, "mode");
_Static_assert(GK_EV_PAGEFAULT == UFFD_EVENT_PAGEFAULT, "event");
_Static_assert(GK_EV_UNMAP == UFFD_EVENT_UNMAP, "event");
_Static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg");
_Static_assert(GK_MADV_DONTNEED == MADV_DONTNEED, "madvise");
_Static_assert(GK_MADV_HUGEPAGE == MADV_HUGEPAGE, "madvise");
_Static_assert(GK_MADV_NOHUGEPAGE == MADV_NOHUGEPAGE, "madvise");
#ifdef MADV_POPULATE_WRITE
_Static_assert(GK_MADV_POPULATE_WRITE == MADV_POPULATE_WRITE, "madvise");
#endif

/* fork.c: hooks around fork(), run in layer order: prepare from the highest
 * rank down, parent and child from the lowest up. Register once per facility. */
#define GK_FORK_KERNEL 0
#define GK_FORK_CMC 1
#define GK_FORK_RUNTIME 2
int gk_atfork(int rank, void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* checksum.c: xxHash64 over segments whose lengths are multiples of 32 bytes. */
struct gk_sum {
    uint64_t v[4];
    uint64_t len;
};
void gk_sum_init(struct gk_sum *s);
void gk_sum_update(struct gk_sum *s, const void *data, uint64_t len);
uint64_t gk_sum_final(const struct gk_sum *s);

/* pageserver.c: fatal report for a page that cannot be served (async-signal-safe). */
void gk_ps_fatal_line(const char *what, uintptr_t page, const char *name, int err);

static inline int gk_is_page_aligned(uint64_t v)
{
    return (v & (uint64_t)(gk_page_size() - 1)) == 0;
}

/* errno as a negative return value; never 0 even if errno was not set. */
static inline int gk_neg_errno(void)
{
    return errno ? -errno : -EIO;
}

#endif
