/* api_kernel.h - public API of the kernel-primitive layer (csrc/kernel*.c).
 *
 * Plain declarations only: the cffi build feeds this file to cdef unchanged
 * (no #include, no #if; `#define NAME <int>` is allowed). C sources see it
 * through gcheap.h.
 *
 * Conventions: every function returns >= 0 on success or -errno on failure and
 * never exits. Range operations (copy, zeropage, move, poison) report the bytes
 * they completed in *done, which is always >= 0 (a negative kernel result is
 * never turned into a byte count); the return value then says why they stopped:
 *   0        the whole range is done
 *   -EEXIST  a page in the range was already present (someone else won the race);
 *            *done covers the pages before it. Callers treat the page as resolved.
 *   -EAGAIN  partial progress or the mm is changing; only returned when the
 *            GK_RETRY_EAGAIN flag is not given (with it the call retries the rest).
 *   other    -errno from the kernel.
 * Addresses are uintptr_t so that Python passes plain ints.
 */

/* ---- probes -------------------------------------------------------------- */
long gk_page_size(void);

/* How a userfaultfd was opened (gk_uffd_open's *via). */
#define GK_VIA_SYSCALL 1
#define GK_VIA_DEV 2

/* Flags for gk_uffd_open. */
#define GK_OPEN_USER_MODE_ONLY 1
#define GK_OPEN_NONBLOCK 2
#define GK_OPEN_NO_DEV 4        /* do not fall back to /dev/userfaultfd */
#define GK_OPEN_NO_SYSCALL 8    /* do not try the syscall (tests the /dev route) */

/* Opens a userfaultfd (O_CLOEXEC always): the syscall first, then
 * /dev/userfaultfd + USERFAULTFD_IOC_NEW. Returns the fd; *via tells the route.
 * On failure returns the errno of the syscall attempt and stores the errno of
 * the /dev attempt in *dev_err (0 if not tried). */
int gk_uffd_open(int flags, int *via, int *dev_err);

/* UFFDIO_API handshake with api 0xAA and `features`. On success stores the
 * kernel's feature bits and supported ioctl bitmask. */
int gk_uffd_api(int fd, uint64_t api, uint64_t features, uint64_t *features_out, uint64_t *ioctls_out);

/* Registration modes (UFFDIO_REGISTER_MODE_*). */
#define GK_MODE_MISSING 1
#define GK_MODE_WP 2
#define GK_MODE_MINOR 4
int gk_uffd_register(int fd, uintptr_t start, uint64_t len, uint64_t mode, uint64_t *ioctls_out);
int gk_uffd_unregister(int fd, uintptr_t start, uint64_t len);
int gk_uffd_wake(int fd, uintptr_t start, uint64_t len);

/* Flags for the range operations. */
#define GK_DONTWAKE 1           /* UFFDIO_*_MODE_DONTWAKE */
#define GK_RETRY_EAGAIN 2       /* retry the remainder on EAGAIN (bounded) */
#define GK_MOVE_ALLOW_SRC_HOLES 4
int gk_uffd_copy(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done);
int gk_uffd_zeropage(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done);
int gk_uffd_move(int fd, uintptr_t dst, uintptr_t src, uint64_t len, int flags, uint64_t *done);
int gk_uffd_poison(int fd, uintptr_t dst, uint64_t len, int flags, uint64_t *done);
int gk_uffd_writeprotect(int fd, uintptr_t start, uint64_t len, int protect, int dontwake);

/* One decoded userfaultfd message (struct uffd_msg). */
#define GK_EV_PAGEFAULT 0x12
#define GK_EV_FORK 0x13
#define GK_EV_REMAP 0x14
#define GK_EV_REMOVE 0x15
#define GK_EV_UNMAP 0x16
struct gk_uffd_event {
    uint32_t event;             /* GK_EV_* */
    uint32_t ptid;              /* faulting thread (UFFD_FEATURE_THREAD_ID) */
    uint64_t flags;             /* pagefault flags: WRITE 1, WP 2, MINOR 4 */
    uint64_t address;           /* fault address / remap from / remove start */
    uint64_t arg1;              /* remap to / remove end / fork: new uffd */
    uint64_t arg2;              /* remap len */
};
/* Reads up to max events; waits up to timeout_ms (-1 forever, 0 poll).
 * Returns the number read (0 on timeout). */
int gk_uffd_read_events(int fd, struct gk_uffd_event *out, int max, int timeout_ms);

/* ---- memory mappings ------------------------------------------------------ */
/* Private anonymous read/write mapping of size bytes whose start is aligned to
 * align (a power of two >= the page size; 0 = page size). Stores the address. */
int gk_map_anon(uint64_t size, uint64_t align, uintptr_t *addr_out);
/* PROT_NONE reservation (MAP_NORESERVE), aligned like gk_map_anon. */
int gk_reserve(uint64_t size, uint64_t align, uintptr_t *addr_out);
int gk_unmap(uintptr_t addr, uint64_t size);
int gk_madvise(uintptr_t addr, uint64_t size, int advice);

/* mremap(src, len, len, MAYMOVE|DONTUNMAP[|FIXED dst]). dst == 0 lets the
 * kernel choose. Validates before acting: page alignment of both ends, len > 0,
 * dst range not overlapping src. The source stays mapped, same size, empty. */
int gk_mremap_dontunmap(uintptr_t src, uint64_t len, uintptr_t dst, uintptr_t *addr_out);
/* Raw mremap for the conformance tests (any flags; returns -errno). */
int gk_mremap_raw(uintptr_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                  uintptr_t new_addr, uintptr_t *addr_out);

/* Copies between a mapping and a buffer. Meant to be called with the GIL
 * released: the access may block on a missing userfaultfd page. */
void gk_memcpy(uintptr_t dst, uintptr_t src, uint64_t len);
