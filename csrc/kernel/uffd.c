/* kernel_uffd.c - userfaultfd: opening (syscall or /dev/userfaultfd), the API
 * handshake, registration, the range-resolving ioctls and event reading.
 *
 * The range ioctls (COPY, ZEROPAGE, MOVE, POISON) report progress in a signed
 * result field that holds either the bytes done or -errno. We keep the two
 * apart: *done only ever grows by positive results; the return value carries
 * the reason a call stopped (see api_kernel.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

/* How often a range op retries an EAGAIN that made no progress before it
 * gives up and reports it (the mm may be changing under an unread event). */
#define GK_EAGAIN_RETRIES 200

int gk_uffd_open(int flags, int *via, int *dev_err)
{
    int oflags = O_CLOEXEC;
    if (flags & GK_OPEN_NONBLOCK)
        oflags |= O_NONBLOCK;
    if (flags & GK_OPEN_USER_MODE_ONLY)
        oflags |= UFFD_USER_MODE_ONLY;
    if (dev_err)
        *dev_err = 0;

    int sys_errno = 0;
    if (!(flags & GK_OPEN_NO_SYSCALL)) {
#ifdef SYS_userfaultfd
        int fd = (int)syscall(SYS_userfaultfd, oflags);
        if (fd >= 0) {
            if (via)
                *via = GK_VIA_SYSCALL;
            return fd;
        }
        sys_errno = errno ? errno : EIO;
#else
        sys_errno = ENOSYS;
#endif
    }

    int dev_errno = 0;
    if (!(flags & GK_OPEN_NO_DEV)) {
        int dfd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dfd >= 0) {
            int fd = ioctl(dfd, USERFAULTFD_IOC_NEW, oflags);
            dev_errno = fd < 0 ? (errno ? errno : EIO) : 0;
            close(dfd);
            if (fd >= 0) {
                if (via)
                    *via = GK_VIA_DEV;
                return fd;
            }
        } else {
            dev_errno = errno ? errno : EIO;
        }
        if (dev_err)
            *dev_err = dev_errno;
    }

    if (flags & GK_OPEN_NO_SYSCALL)
        return dev_errno ? -dev_errno : -EINVAL;
    return -sys_errno;
}

int gk_uffd_api(int fd, uint64_t api, uint64_t features, uint64_t *features_out, uint64_t *ioctls_out)
{
    struct uffdio_api a = { .api = api, .features = features };
    if (ioctl(fd, UFFDIO_API, &a) != 0)
        return gk_neg_errno();
    if (features_out)
        *features_out = a.features;
    if (ioctls_out)
        *ioctls_out = a.ioctls;
    return 0;
}

int gk_uffd_register(int fd, uintptr_t start, uint64_t len, uint64_t mode, uint64_t *ioctls_out)
{
    struct uffdio_register r = { .range = { .start = start, .len = len }, .mode = mode };
    if (ioctl(fd, UFFDIO_REGISTER, &r) != 0)
        return gk_neg_errno();
    if (ioctls_out)
        *ioctls_out = r.ioctls;
    return 0;
}

int gk_uffd_unregister(int fd, uintptr_t start, uint64_t len)
{
    struct uffdio_range r = { .start = start, .len = len };
    return ioctl(fd, UFFDIO_UNREGISTER, &r) == 0 ? 0 : gk_neg_errno();
}

int gk_uffd_wake(int fd, uintptr_t start, uint64_t len)
{
    struct uffdio_range r = { .start = start, .len = len };
    return ioctl(fd, UFFDIO_WAKE, &r) == 0 ? 0 : gk_neg_errno();
}

enum range_op { OP_COPY, OP_ZEROPAGE, OP_MOVE, OP_POISON };

/* One ioctl on [dst+off, dst+len). Returns the ioctl's result (0 or -errno)
 * and stores the kernel's signed result field in *res. */
static int range_ioctl(enum range_op op, int fd, uintptr_t dst, uintptr_t src, uint64_t len,
                       int flags, int64_t *res)
{
    int rc;
    int dontwake = (flags & GK_DONTWAKE) != 0;
    switch (op) {
    case OP_COPY: {
        struct uffdio_copy c = { .dst = dst, .src = src, .len = len,
                                 .mode = (dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0) |
                                         ((flags & GK_COPY_WP) ? UFFDIO_COPY_MODE_WP : 0) };
        rc = ioctl(fd, UFFDIO_COPY, &c) == 0 ? 0 : gk_neg_errno();
        *res = c.copy;
        break;
    }
    case OP_ZEROPAGE: {
        struct uffdio_zeropage z = { .range = { .start = dst, .len = len },
                                     .mode = dontwake ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0 };
        rc = ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0 ? 0 : gk_neg_errno();
        *res = z.zeropage;
        break;
    }
    case OP_MOVE: {
        struct uffdio_move m = { .dst = dst, .src = src, .len = len,
                                 .mode = (dontwake ? UFFDIO_MOVE_MODE_DONTWAKE : 0) |
                                         ((flags & GK_MOVE_ALLOW_SRC_HOLES) ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) };
        rc = ioctl(fd, UFFDIO_MOVE, &m) == 0 ? 0 : gk_neg_errno();
        *res = m.move;
        break;
    }
    case OP_POISON: {
        struct uffdio_poison p = { .range = { .start = dst, .len = len },
                                   .mode = dontwake ? UFFDIO_POISON_MODE_DONTWAKE : 0 };
        rc = ioctl(fd, UFFDIO_POISON, &p) == 0 ? 0 : gk_neg_errno();
        *res = p.updated;
        break;
    }
    default:
        return -EINVAL;
    }
    return rc;
}

/* Drives one range op to completion or to the first real error.
 * A call that made progress and stopped with EAGAIN (the kernel's answer for
 * "partial") is simply continued: each round makes progress, so this ends. */
static int range_loop(enum range_op op, int fd, uintptr_t dst, uintptr_t src, uint64_t len,
                      int flags, uint64_t *done)
{
    uint64_t did = 0;
    int idle_retries = 0;
    int rc = 0;
    if (done)
        *done = 0;
    if (len == 0 || !gk_is_page_aligned(dst) || !gk_is_page_aligned(len) ||
        (op == OP_MOVE && !gk_is_page_aligned(src)))
        return -EINVAL;
    if (flags & ~(GK_DONTWAKE | GK_RETRY_EAGAIN | GK_MOVE_ALLOW_SRC_HOLES | GK_COPY_WP))
        return -EINVAL;
    if ((flags & GK_COPY_WP) && op != OP_COPY)
        return -EINVAL;

    while (did < len) {
        int64_t res = 0;
        rc = range_ioctl(op, fd, dst + did, src ? src + did : 0, len - did, flags, &res);
        if (res > 0)
            did += (uint64_t)res;
        if (rc == 0) {
            if (res <= 0) {         /* success without a count: never expected */
                rc = -EIO;
                break;
            }
            continue;
        }
        if (rc != -EAGAIN)
            break;
        if (res > 0)
            continue;               /* partial progress: go on with the rest */
        if (!(flags & GK_RETRY_EAGAIN) || ++idle_retries > GK_EAGAIN_RETRIES)
            break;
        sched_yield();
    }
    if (did >= len)
        rc = 0;
    if (done)
        *done = did;
    return rc;
}

int gk_uffd_copy(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done)
{
    if (flags & GK_MOVE_ALLOW_SRC_HOLES)
        return -EINVAL;
    return range_loop(OP_COPY, fd, dst, src, len, flags, done);
}

int gk_uffd_zeropage(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done)
{
    if (flags & GK_MOVE_ALLOW_SRC_HOLES)
        return -EINVAL;
    return range_loop(OP_ZEROPAGE, fd, dst, 0, len, flags, done);
}

int gk_uffd_move(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done)
{
    return range_loop(OP_MOVE, fd, dst, src, len, flags, done);
}

int gk_uffd_poison(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done)
{
    if (flags & GK_MOVE_ALLOW_SRC_HOLES)
        return -EINVAL;
    return range_loop(OP_POISON, fd, dst, 0, len, flags, done);
}

int gk_uffd_writeprotect(int fd, uintptr_t start, uint64_t len, int protect, int dontwake)
{
    struct uffdio_writeprotect w = {
        .range = { .start = start, .len = len },
        .mode = (protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0) |
                (dontwake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0),
    };
    return ioctl(fd, UFFDIO_WRITEPROTECT, &w) == 0 ? 0 : gk_neg_errno();
}

static void decode(const struct uffd_msg *m, struct gk_uffd_event *e)
{
    e->event = m->event;
    e->ptid = 0;
    e->flags = 0;
    e->address = e->arg1 = e->arg2 = 0;
    switch (m->event) {
    case UFFD_EVENT_PAGEFAULT:
        e->flags = m->arg.pagefault.flags;
        e->address = m->arg.pagefault.address;
        e->ptid = m->arg.pagefault.feat.ptid;
        break;
    case UFFD_EVENT_FORK:
        e->arg1 = m->arg.fork.ufd;
        break;
    case UFFD_EVENT_REMAP:
        e->address = m->arg.remap.from;
        e->arg1 = m->arg.remap.to;
        e->arg2 = m->arg.remap.len;
        break;
    case UFFD_EVENT_REMOVE:
    case UFFD_EVENT_UNMAP:
        e->address = m->arg.remove.start;
        e->arg1 = m->arg.remove.end;
        break;
    default:
        break;
    }
}

#define GK_READ_BATCH 64

int gk_uffd_read_events(int fd, struct gk_uffd_event *out, int max, int timeout_ms)
{
    if (max <= 0 || !out)
        return -EINVAL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return gk_neg_errno();
    if (fl & O_NONBLOCK) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, timeout_ms);
        if (n < 0)
            return gk_neg_errno();
        if (n == 0)
            return 0;
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        if (pfd.revents & POLLERR)
            return -EIO;    /* e.g. the UFFDIO_API handshake was not done */
        if (!(pfd.revents & POLLIN))
            return 0;
    } else if (timeout_ms != -1) {
        /* poll() on a blocking userfaultfd always reports POLLERR (a fault
         * may be woken before it is read): only an unbounded read works. */
        return -EINVAL;
    }

    struct uffd_msg msgs[GK_READ_BATCH];
    int want = max < GK_READ_BATCH ? max : GK_READ_BATCH;
    /* The kernel blocks (blocking fd) only for the first message of a read and
     * then returns what is queued; a non-blocking fd gives EAGAIN if another
     * reader won the race after poll. */
    ssize_t got = read(fd, msgs, (size_t)want * sizeof(msgs[0]));
    if (got < 0)
        return errno == EAGAIN ? 0 : gk_neg_errno();
    if (got % (ssize_t)sizeof(msgs[0]) != 0)
        return -EIO;
    int count = (int)(got / (ssize_t)sizeof(msgs[0]));
    for (int i = 0; i < count; i++)
        decode(&msgs[i], &out[i]);
    return count;
}
