/* pageserver.c - serving the missing faults of a range from a source, and the
 * background filler (see gcheap/kernel.h for the contract).
 *
 * One 32-bit state word per block (a futex word):
 *
 *     MISSING --CAS--> CLAIMED --installed--> PRESENT
 *        ^                |  \
 *        +---released-----+   +--waiter sets WAITERS, futex-waits (SIGBUS handlers,
 *                                 gk_ps_install, the filler)
 *
 * Exactly one thread wins a block's claim and installs the whole block with as
 * few ioctls as the source allows; in thread mode the fault thread never waits
 * for another claimant: that claimant's ioctl (or, for a block released to a new
 * source, an explicit UFFDIO_WAKE) wakes the faulting thread, which faults again.
 *
 * Sources. COPY reads region pages (holes read as zero); MOVE takes them
 * (zero-copy; a hole in the region becomes a zero page); FILE reads the block's
 * stored pages (one pread for a run of blocks stored back to back, or a copy from
 * a read-only mapping), checks the checksum and installs stored pages by COPY
 * and the others by ZEROPAGE. With wp, every install is write-protected
 * (COPY_MODE_WP, or the other ioctls with DONTWAKE followed by a protect) and
 * the first write to a page is a WP fault that marks it dirty and unprotects it.
 *
 * Everything on the fault path is async-signal-safe: atomics, futex, ioctl,
 * pread, madvise, nothing else. A file block that cannot be read back intact
 * ends the process with a message (gk_ps_fatal_line): serving zeros instead of
 * the data would corrupt the program silently.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"

enum { B_MISSING = 0, B_CLAIMED = 1, B_PRESENT = 2, B_WAITERS = 4 };
#define POOL_SLOTS 64           /* scratch blocks for SIGBUS handlers */
#define INSTALL_ATTEMPTS 2000   /* a failing install is retried (1 ms apart) this often, then fatal */
#define FILE_PAGES_MAX (GK_PS_MAX_BLOCK_PAGES * 64)
_Static_assert(GK_FEATURE_MOVE == UFFD_FEATURE_MOVE, "gcheap/kernel.h names the uapi bit");

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define CAS(p, e, v) __atomic_compare_exchange_n((p), (e), (v), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

struct gk_ps {
    struct gk_ps_config cfg;
    char name[256];
    uint64_t psize, npages, nblocks, bbytes;    /* bbytes: bytes per block; nblocks: served (armed) */
    uint64_t maxblocks;                         /* blocks of the whole range (array sizes) */
    int uffd;
    uint64_t features;          /* UFFD_FEATURE_* bits the userfaultfd was opened with */
    int fd;                     /* FILE: our dup of cfg.fd */
    char *map;                  /* FILE with file_mmap: the file, read-only */
    uint64_t map_len;
    int armed;                  /* atomic: the range is registered */
    uint32_t *state;            /* per block */
    uint8_t *source;            /* per block: GK_PS_* */
    uint64_t *dirty;            /* wp: a bit per page written since it was installed */
    char *zeros;                /* wp: one zero block (a COPY source for zero pages) */
    int slot;                   /* the dispatcher's (SIGBUS mode) */
    char *pool;                 /* POOL_SLOTS blocks */
    uint64_t pool_free;
    char *server_buf;           /* one block: the fault thread's */
    pthread_t server;
    int server_started;
    int stop_fd;
    int inflight;               /* fault handlers inside (atomic) */
    uint64_t present;           /* atomic */
    double *stall_log;
    uint64_t stall_cap;

    /* the filler */
    pthread_mutex_t fill_mu;
    pthread_t filler;
    int filler_started, filler_stop;
    uint64_t fill_min, fill_max;
    char *fill_buf;             /* fill_max bytes */
    void (*on_complete)(void *);
    void *complete_ctx;
    int completed;              /* atomic: on_complete ran (or is running) */

    int inj_point, inj_err;
    int64_t inj_count;
    struct gk_ps_stats st;      /* counters updated atomically */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void futex_wait(uint32_t *w, uint32_t val)
{
    struct timespec ts = { 0, 1000000 };
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int injected(struct gk_ps *ps, int point)
{
    if (LOAD(&ps->inj_point) != point)
        return 0;
    if (ADD(&ps->inj_count, -1) != 0)
        return 0;
    STORE(&ps->inj_point, GK_PS_INJ_NONE);
    return ps->inj_err > 0 ? -ps->inj_err : -EIO;
}

int gk_ps_inject(struct gk_ps *ps, int point, int nth, int err)
{
    if (!ps || point < GK_PS_INJ_NONE || point > GK_PS_INJ_INSTALL || nth < 1 || err < 0)
        return -EINVAL;
    STORE(&ps->inj_point, GK_PS_INJ_NONE);
    ps->inj_err = err;
    STORE(&ps->inj_count, (int64_t)nth);
    STORE(&ps->inj_point, point);
    return 0;
}

/* ---- the fatal report (hand-formatted: no stdio in a signal handler) ---- */

static void put(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n < cap - 1)
        buf[(*n)++] = *s++;
}

static void put_num(char *buf, size_t *n, size_t cap, uint64_t v, int base)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % (uint64_t)base];
        v /= (uint64_t)base;
    } while (v);
    if (base == 16)
        put(buf, n, cap, "0x");
    while (i > 0 && *n < cap - 1)
        buf[(*n)++] = tmp[--i];
}

void gk_ps_fatal_line(const char *what, uintptr_t page, const char *name, int err)
{
    static int once;
    if (__atomic_exchange_n(&once, 1, __ATOMIC_SEQ_CST))
        for (;;)
            pause();            /* another thread is reporting and aborts */
    char buf[768];
    size_t n = 0;
    put(buf, &n, sizeof buf, "gcheap page server: FATAL: page ");
    put_num(buf, &n, sizeof buf, page, 16);
    put(buf, &n, sizeof buf, " cannot be served from ");
    put(buf, &n, sizeof buf, name && *name ? name : "its source");
    put(buf, &n, sizeof buf, ": ");
    put(buf, &n, sizeof buf, what);
    if (err) {
        put(buf, &n, sizeof buf, " (errno ");
        put_num(buf, &n, sizeof buf, (uint64_t)(err < 0 ? -err : err), 10);
        put(buf, &n, sizeof buf, ")");
    }
    put(buf, &n, sizeof buf, "; the data is gone and zeros would corrupt the program: aborting\n");
    for (size_t off = 0; off < n;) {
        ssize_t w = write(2, buf + off, n - off);
        if (w <= 0 && errno != EINTR)
            break;
        if (w > 0)
            off += (size_t)w;
    }
    abort();
}

/* ---- installing ---- */

/* One install ioctl over [dst, dst + len) from src (COPY/MOVE), driven to the end:
 * EEXIST (present already) wakes that page and goes on after it, a hole in a
 * MOVE source becomes a zero page, EAGAIN and other errors are retried, a page
 * that cannot be installed for INSTALL_ATTEMPTS ms is fatal. */
static void install_range(struct gk_ps *ps, int how, uintptr_t dst, uintptr_t src, uint64_t len)
{
    uint64_t off = 0;
    int failures = 0;
    int wp = ps->cfg.wp;
    while (off < len) {
        uint64_t done = 0;
        int rc = injected(ps, GK_PS_INJ_INSTALL);
        int flags = wp ? GK_DONTWAKE : 0;
        if (rc == 0) {
            switch (how) {
            case GK_PS_COPY:
                rc = gk_uffd_copy(ps->uffd, dst + off, src + off, len - off, wp ? GK_COPY_WP : 0, &done);
                break;
            case GK_PS_MOVE:
                rc = gk_uffd_move(ps->uffd, dst + off, src + off, len - off, flags, &done);
                if (rc == -ENOENT) {            /* a hole in the source: a zero page */
                    off += done;
                    done = 0;
                    rc = gk_uffd_zeropage(ps->uffd, dst + off, ps->psize, flags, &done);
                }
                break;
            case GK_PS_ZEROPAGE:
                if (wp)                         /* a zero page cannot be write-protected: copy zeros */
                    rc = gk_uffd_copy(ps->uffd, dst + off, (uintptr_t)ps->zeros,
                                      len - off < ps->bbytes ? len - off : ps->bbytes, GK_COPY_WP, &done);
                else
                    rc = gk_uffd_zeropage(ps->uffd, dst + off, len - off, 0, &done);
                break;
            case GK_PS_POISON:
                rc = gk_uffd_poison(ps->uffd, dst + off, len - off, 0, &done);
                break;
            default:
                rc = -EINVAL;
            }
        }
        if (wp && done && how != GK_PS_COPY && how != GK_PS_ZEROPAGE && how != GK_PS_POISON) {
            gk_uffd_writeprotect(ps->uffd, dst + off, done, 1, 1);
            gk_uffd_wake(ps->uffd, dst + off, done);
        }
        off += done;
        if (rc == 0 || off >= len) {
            failures = 0;
            continue;
        }
        if (rc == -EEXIST) {
            ADD(&ps->st.eexist, 1);
            gk_uffd_wake(ps->uffd, dst + off, ps->psize);
            off += ps->psize;
            continue;
        }
        if (rc == -EAGAIN) {
            ADD(&ps->st.eagain, 1);
            if (done)
                continue;
        }
        ADD(&ps->st.errors, 1);
        STORE(&ps->st.last_error, rc);
        if (!LOAD(&ps->armed))
            return;             /* unregistered meanwhile: ordinary memory now */
        if (++failures >= INSTALL_ATTEMPTS)
            gk_ps_fatal_line("the install ioctl keeps failing", dst + off, ps->name, rc);
        sleep_ns(rc == -EAGAIN ? 10000 : 1000000);
    }
}

/* FILE: reads blocks [b0, b1) (stored back to back in the file) into buf,
 * checks them, installs them. */
static void install_file_run(struct gk_ps *ps, uint64_t b0, uint64_t b1, char *buf)
{
    struct gk_ps_chunk *ch = ps->cfg.chunks;
    uint64_t bytes = 0;
    for (uint64_t b = b0; b < b1; b++)
        bytes += (uint64_t)__builtin_popcountll(ch[b].present) * ps->psize;
    const char *data = buf;
    uintptr_t addr0 = ps->cfg.start + b0 * ps->bbytes;
    if (bytes) {
        uint64_t off = ch[b0].offset;
        if (ps->map) {
            if (off + bytes > ps->map_len)
                gk_ps_fatal_line("the file is shorter than its chunk table says", addr0, ps->name, 0);
            data = ps->map + off;
        } else {
            for (uint64_t got = 0; got < bytes;) {
                ssize_t r = pread(ps->fd, buf + got, bytes - got, (off_t)(off + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0)
                    gk_ps_fatal_line("read failed", addr0, ps->name, -errno);
                if (r == 0)
                    gk_ps_fatal_line("the file ended early (truncated or removed?)", addr0, ps->name, 0);
                got += (uint64_t)r;
            }
        }
        ADD(&ps->st.bytes_read, bytes);
    }
    const char *p = data;
    for (uint64_t b = b0; b < b1; b++) {
        uint64_t mask = ch[b].present, nst = (uint64_t)__builtin_popcountll(mask) * ps->psize;
        uintptr_t base = ps->cfg.start + b * ps->bbytes;
        if (ps->cfg.verify && nst && gk_checksum((uintptr_t)p, nst) != ch[b].checksum)
            gk_ps_fatal_line("checksum mismatch (the file is corrupt)", base, ps->name, 0);
        /* runs of stored pages by COPY, runs of zero pages by ZEROPAGE */
        uint64_t i = 0, k = ps->cfg.block_pages;
        const char *q = p;
        while (i < k) {
            int stored = (int)((mask >> i) & 1);
            uint64_t j = i;
            while (j < k && (int)((mask >> j) & 1) == stored)
                j++;
            uintptr_t dst = base + i * ps->psize;
            uint64_t len = (j - i) * ps->psize;
            if (stored) {
                install_range(ps, GK_PS_COPY, dst, (uintptr_t)q, len);
                q += len;
            } else {
                install_range(ps, GK_PS_ZEROPAGE, dst, 0, len);
            }
            i = j;
        }
        p += nst;
    }
}

static inline int src_of(const struct gk_ps *ps, uint64_t b)
{
    return ps->source[b] ? ps->source[b] : ps->cfg.source;
}

/* Installs claimed blocks [b0, b1) from their sources (how: override, 0 = own). */
static void install_claimed(struct gk_ps *ps, uint64_t b0, uint64_t b1, int how, char *buf)
{
    uint64_t b = b0;
    while (b < b1) {
        int src = how ? how : src_of(ps, b);
        uint64_t e = b + 1;
        while (e < b1 && (how ? how : src_of(ps, e)) == src &&
               (src != GK_PS_FILE || ps->cfg.chunks[e].offset == ps->cfg.chunks[e - 1].offset +
                    (uint64_t)__builtin_popcountll(ps->cfg.chunks[e - 1].present) * ps->psize))
            e++;
        if (src == GK_PS_FILE) {
            uint64_t cap = buf == ps->fill_buf && ps->fill_buf ? ps->fill_max / ps->bbytes : 1;
            if (e - b > cap)
                e = b + cap;
            install_file_run(ps, b, e, buf);
        } else {
            uint64_t off = b * ps->bbytes;
            install_range(ps, src, ps->cfg.start + off, ps->cfg.region + off, (e - b) * ps->bbytes);
        }
        b = e;
    }
}

static void publish(struct gk_ps *ps, uint64_t b0, uint64_t b1)
{
    for (uint64_t b = b0; b < b1; b++) {
        uint32_t old = XCHG(&ps->state[b], B_PRESENT);
        if (old & B_WAITERS)
            futex_wake(&ps->state[b]);
    }
    ADD(&ps->present, b1 - b0);
}

/* Makes block b present; waits for another claimant when wait is set, else
 * leaves the block to it. buf: one scratch block. Returns 1 when this call
 * installed it. */
static int serve_block(struct gk_ps *ps, uint64_t b, char *buf, int wait)
{
    for (;;) {
        uint32_t s = LOAD(&ps->state[b]);
        if (s == B_PRESENT)
            return 0;
        if (s == B_MISSING) {
            if (!CAS(&ps->state[b], &s, B_CLAIMED))
                continue;
            install_claimed(ps, b, b + 1, 0, buf);
            publish(ps, b, b + 1);
            return 1;
        }
        if (!wait)
            return 0;
        if (!(s & B_WAITERS)) {
            if (!CAS(&ps->state[b], &s, s | B_WAITERS))
                continue;
            s |= B_WAITERS;
        }
        futex_wait(&ps->state[b], s);
        if (!LOAD(&ps->armed))
            return 0;
    }
}

static void log_stall(struct gk_ps *ps, double s)
{
    gk_stall_log_add(ps->stall_log, ps->stall_cap, &ps->st.stalls, s);
}

/* A write to a present, write-protected page: note it, unprotect it. */
static void wp_fault(struct gk_ps *ps, uintptr_t page)
{
    uint64_t p = (page - ps->cfg.start) / ps->psize;
    __atomic_fetch_or(&ps->dirty[p / 64], 1ull << (p % 64), __ATOMIC_SEQ_CST);
    gk_uffd_writeprotect(ps->uffd, page, ps->psize, 0, 0);
}

/* ---- SIGBUS mode ---- */

static int grab_slot(struct gk_ps *ps)
{
    for (;;) {
        uint64_t m = LOAD(&ps->pool_free);
        if (m == 0) {
            sched_yield();
            continue;
        }
        int i = __builtin_ctzll(m);
        if (CAS(&ps->pool_free, &m, m & ~(1ull << i)))
            return i;
    }
}

static int sigbus_fault(void *ctx, uintptr_t addr)
{
    struct gk_ps *ps = ctx;
    ADD(&ps->inflight, 1);
    if (!LOAD(&ps->armed)) {
        ADD(&ps->inflight, -1);
        return GK_FAULT_PASS;
    }
    uint64_t t0 = now_ns();
    uint64_t b = (addr - ps->cfg.start) / ps->bbytes;
    if (b >= ps->nblocks) {     /* past the armed prefix: not registered, not ours */
        ADD(&ps->inflight, -1);
        return GK_FAULT_PASS;
    }
    if (LOAD(&ps->state[b]) == B_PRESENT && src_of(ps, b) == GK_PS_POISON) {
        ADD(&ps->inflight, -1);
        return -EHWPOISON;      /* the poison fired: a real error, not ours to retry */
    }
    ADD(&ps->st.faults, 1);
    if (ps->cfg.wp && LOAD(&ps->state[b]) == B_PRESENT) {
        wp_fault(ps, addr & ~(uintptr_t)(ps->psize - 1));
    } else {
        int slot = grab_slot(ps);
        if (serve_block(ps, b, ps->pool + (uint64_t)slot * ps->bbytes, 1))
            ADD(&ps->st.blocks_by_fault, 1);
        __atomic_fetch_or(&ps->pool_free, 1ull << slot, __ATOMIC_SEQ_CST);
    }
    log_stall(ps, (double)(now_ns() - t0) * 1e-9);
    ADD(&ps->inflight, -1);
    return 0;
}

/* ---- thread mode ---- */

static void *server_main(void *arg)
{
    struct gk_ps *ps = arg;
    struct pollfd pf[2] = { { .fd = ps->uffd, .events = POLLIN }, { .fd = ps->stop_fd, .events = POLLIN } };
    struct gk_uffd_event ev[32];
    for (;;) {
        int n = poll(pf, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || pf[1].revents)
            break;
        int got = gk_uffd_read_events(ps->uffd, ev, 32, 0);
        if (got < 0)
            break;
        for (int i = 0; i < got; i++) {
            if (ev[i].event != GK_EV_PAGEFAULT)
                continue;
            uint64_t t0 = now_ns();
            uintptr_t addr = (uintptr_t)ev[i].address;
            uintptr_t page = addr & ~(uintptr_t)(ps->psize - 1);
            ADD(&ps->inflight, 1);
            if (addr >= ps->cfg.start && addr - ps->cfg.start < ps->nblocks * ps->bbytes && LOAD(&ps->armed)) {
                uint64_t b = (addr - ps->cfg.start) / ps->bbytes;
                ADD(&ps->st.faults, 1);
                if (ev[i].flags & 2) {                          /* UFFD_PAGEFAULT_FLAG_WP */
                    wp_fault(ps, page);
                } else if (serve_block(ps, b, ps->server_buf, 0)) {
                    ADD(&ps->st.blocks_by_fault, 1);
                } else if (LOAD(&ps->state[b]) == B_PRESENT) {
                    gk_uffd_wake(ps->uffd, page, ps->psize);    /* a stale event */
                }
                log_stall(ps, (double)(now_ns() - t0) * 1e-9);
            } else {
                gk_uffd_wake(ps->uffd, page, ps->psize);
            }
            ADD(&ps->inflight, -1);
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

static uint64_t round_page(uint64_t n)
{
    uint64_t ps = (uint64_t)gk_page_size();
    return (n + ps - 1) & ~(ps - 1);
}

static int map_zeroed(uint64_t bytes, void **out)
{
    uintptr_t a;
    int rc = gk_map_anon(round_page(bytes), 0, &a);
    if (rc == 0) {
        memset((void *)a, 0, round_page(bytes));   /* populated: no fault on the fault path */
        *out = (void *)a;
    }
    return rc;
}

static uint64_t masked_features;      /* testing: gk_ps_mask_features */

int gk_ps_mask_features(uint64_t features)
{
    STORE(&masked_features, features);
    return 0;
}

static int open_uffd(struct gk_ps *ps)
{
    uint64_t want = 0, avail = 0, ioctls = 0;
    int fd = gk_uffd_open(GK_OPEN_NONBLOCK, NULL, NULL);
    if (fd < 0)
        fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, NULL, NULL);
    if (fd < 0)
        return fd;
    int rc = gk_uffd_api(fd, 0xAA, 0, &avail, &ioctls);
    close(fd);
    if (rc < 0)
        return rc;
    avail &= ~LOAD(&masked_features);
    const uint64_t F_SIGBUS = 1ull << 7, F_POISON = 1ull << 14, F_MOVE = 1ull << 16, F_WP = 1ull << 0;
    if (ps->cfg.mode == GK_PS_SIGBUS)
        want |= F_SIGBUS;
    if (ps->cfg.source == GK_PS_MOVE || ps->cfg.source == GK_PS_FILE || ps->cfg.source == GK_PS_COPY)
        want |= avail & F_MOVE;         /* the owner may install by MOVE (gk_ps_install) */
    if (ps->cfg.source == GK_PS_POISON)
        want |= F_POISON;
    if (ps->cfg.wp)
        want |= F_WP;
    if ((want & avail) != want || (ps->cfg.source == GK_PS_MOVE && !(avail & F_MOVE)))
        return -EOPNOTSUPP;
    fd = gk_uffd_open(GK_OPEN_NONBLOCK, NULL, NULL);
    if (fd < 0)
        fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, NULL, NULL);
    if (fd < 0)
        return fd;
    rc = gk_uffd_api(fd, 0xAA, want, &avail, &ioctls);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    ps->uffd = fd;
    ps->features = want;
    return 0;
}

static int validate(const struct gk_ps_config *c)
{
    uint64_t psz = (uint64_t)gk_page_size();
    if (!c->start || c->start % psz || c->len == 0 || c->block_pages == 0 ||
        c->block_pages > GK_PS_MAX_BLOCK_PAGES || (c->block_pages & (c->block_pages - 1)) ||
        c->len % ((uint64_t)c->block_pages * psz) || c->start + c->len < c->start)
        return -EINVAL;
    if (c->mode != GK_PS_SIGBUS && c->mode != GK_PS_THREAD)
        return -EINVAL;
    if (c->source < GK_PS_COPY || c->source > GK_PS_FILE)
        return -EINVAL;
    if ((c->source == GK_PS_COPY || c->source == GK_PS_MOVE) && (!c->region || c->region % psz))
        return -EINVAL;
    if (c->source == GK_PS_FILE && (c->fd < 0 || !c->chunks))
        return -EINVAL;
    if (c->wp && c->source == GK_PS_POISON)
        return -EINVAL;
    return 0;
}

static void release(struct gk_ps *ps)
{
    if (ps->server_started) {
        uint64_t one = 1;
        if (write(ps->stop_fd, &one, sizeof one) < 0)
            STORE(&ps->st.last_error, -errno);
        pthread_join(ps->server, NULL);
    }
    if (ps->stop_fd >= 0)
        close(ps->stop_fd);
    if (ps->slot >= 0)
        gk_fault_unregister(ps->slot);      /* waits for handlers inside it */
    while (LOAD(&ps->inflight))
        sched_yield();
    if (ps->state)
        gk_unmap((uintptr_t)ps->state, round_page(ps->maxblocks * 4));
    if (ps->source)
        gk_unmap((uintptr_t)ps->source, round_page(ps->maxblocks));
    if (ps->dirty)
        gk_unmap((uintptr_t)ps->dirty, round_page((ps->npages + 63) / 64 * 8));
    if (ps->zeros)
        gk_unmap((uintptr_t)ps->zeros, ps->bbytes);
    if (ps->pool)
        gk_unmap((uintptr_t)ps->pool, POOL_SLOTS * ps->bbytes);
    if (ps->server_buf)
        gk_unmap((uintptr_t)ps->server_buf, ps->bbytes);
    if (ps->fill_buf)
        gk_unmap((uintptr_t)ps->fill_buf, round_page(ps->fill_max));
    if (ps->stall_log)
        gk_unmap((uintptr_t)ps->stall_log, round_page(ps->stall_cap * sizeof(double)));
    if (ps->map)
        munmap(ps->map, ps->map_len);
    if (ps->fd >= 0)
        close(ps->fd);
    if (ps->uffd >= 0)
        close(ps->uffd);
    pthread_mutex_destroy(&ps->fill_mu);
    free(ps);
}

int gk_ps_create(const struct gk_ps_config *cfg, struct gk_ps **out)
{
    if (!cfg || !out)
        return -EINVAL;
    int rc = validate(cfg);
    if (rc < 0)
        return rc;
    struct gk_ps *ps = calloc(1, sizeof *ps);
    if (!ps)
        return -ENOMEM;
    ps->cfg = *cfg;
    ps->cfg.name = NULL;
    if (cfg->name)
        strncpy(ps->name, cfg->name, sizeof ps->name - 1);
    ps->psize = (uint64_t)gk_page_size();
    ps->npages = cfg->len / ps->psize;
    ps->bbytes = (uint64_t)cfg->block_pages * ps->psize;
    ps->nblocks = ps->maxblocks = cfg->len / ps->bbytes;
    ps->uffd = ps->fd = ps->stop_fd = ps->slot = -1;
    ps->pool_free = ~0ull;
    ps->stall_cap = ps->npages < (1u << 20) ? ps->npages : (1u << 20);
    pthread_mutex_init(&ps->fill_mu, NULL);
    ps->st.nblocks = ps->nblocks;

    rc = open_uffd(ps);
    /* per-block arrays: committed as they are touched (a large reservation costs
     * what its used part does); source 0 stands for cfg.source */
    if (rc == 0)
        rc = gk_map_anon(round_page(ps->maxblocks * 4), 0, (uintptr_t *)&ps->state);
    if (rc == 0)
        rc = gk_map_anon(round_page(ps->maxblocks), 0, (uintptr_t *)&ps->source);
    if (rc == 0 && cfg->wp)
        rc = gk_map_anon(round_page((ps->npages + 63) / 64 * 8), 0, (uintptr_t *)&ps->dirty);
    if (rc == 0 && cfg->wp)
        rc = map_zeroed(ps->bbytes, (void **)&ps->zeros);
    if (rc == 0)
        rc = map_zeroed(POOL_SLOTS * ps->bbytes, (void **)&ps->pool);
    if (rc == 0)
        rc = map_zeroed(ps->bbytes, (void **)&ps->server_buf);
    if (rc == 0)
        rc = map_zeroed(ps->stall_cap * sizeof(double), (void **)&ps->stall_log);
    if (rc == 0 && cfg->fd >= 0 && cfg->chunks) {     /* FILE, now or after gk_ps_set_source */
        ps->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
        if (ps->fd < 0)
            rc = -errno;
        struct stat stt;
        if (rc == 0 && cfg->file_mmap) {
            if (fstat(ps->fd, &stt) != 0)
                rc = -errno;
            else if ((ps->map_len = (uint64_t)stt.st_size) > 0) {
                void *m = mmap(NULL, ps->map_len, PROT_READ, MAP_SHARED, ps->fd, 0);
                if (m == MAP_FAILED)
                    rc = -errno;
                else
                    ps->map = m;
            }
        }
    }
    if (rc == 0 && cfg->mode == GK_PS_SIGBUS) {
        rc = gk_fault_register(cfg->start, cfg->len, sigbus_fault, ps);
        if (rc >= 0) {
            ps->slot = rc;
            rc = 0;
        }
    }
    if (rc == 0 && cfg->mode == GK_PS_THREAD) {
        ps->stop_fd = eventfd(0, EFD_CLOEXEC);
        if (ps->stop_fd < 0)
            rc = -errno;
        if (rc == 0)
            rc = -pthread_create(&ps->server, NULL, server_main, ps);
        if (rc == 0) {
            pthread_setname_np(ps->server, "gk-pageserver");
            ps->server_started = 1;
        }
    }
    if (rc < 0) {
        release(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

int gk_ps_arm(struct gk_ps *ps, uint64_t len)
{
    if (!ps || LOAD(&ps->armed) || len > ps->cfg.len || len % ps->bbytes)
        return -EINVAL;
    if (len == 0)
        len = ps->cfg.len;
    ps->nblocks = len / ps->bbytes;     /* served from now on: [0, nblocks) */
    ps->st.nblocks = ps->nblocks;
    if (ps->cfg.mode == GK_PS_SIGBUS) {
        int rc = gk_fault_ensure();     /* faulthandler may have replaced the dispatcher */
        if (rc < 0)
            return rc;
    }
    uint64_t ioctls = 0;
    int rc = gk_uffd_register(ps->uffd, ps->cfg.start, len,
                              GK_MODE_MISSING | (ps->cfg.wp ? GK_MODE_WP : 0), &ioctls);
    if (rc < 0)
        return rc;
    STORE(&ps->armed, 1);
    /* Registered: nothing can appear in the range without us. Drop what is there. */
    rc = gk_madvise(ps->cfg.start, len, GK_MADV_DONTNEED);
    if (rc < 0) {
        STORE(&ps->armed, 0);
        gk_uffd_unregister(ps->uffd, ps->cfg.start, len);
    }
    return rc;
}

int gk_ps_disarm(struct gk_ps *ps)
{
    if (!ps)
        return -EINVAL;
    if (!XCHG(&ps->armed, 0))
        return 0;
    int rc = gk_uffd_unregister(ps->uffd, ps->cfg.start, ps->nblocks * ps->bbytes);   /* wakes any waiter */
    for (uint64_t b = 0; b < ps->nblocks; b++)
        if (LOAD(&ps->state[b]) & B_WAITERS)
            futex_wake(&ps->state[b]);
    return rc;
}


void gk_ps_destroy(struct gk_ps *ps)
{
    if (!ps)
        return;
    gk_ps_fill_stop(ps);
    gk_ps_disarm(ps);
    release(ps);
}

int gk_ps_uffd(struct gk_ps *ps)
{
    return ps ? ps->uffd : -EINVAL;
}

uint64_t gk_ps_features(struct gk_ps *ps)
{
    return ps ? ps->features : 0;
}

int gk_ps_block_state(struct gk_ps *ps, uint64_t block)
{
    if (!ps || block >= ps->nblocks)
        return -EINVAL;
    return (int)(LOAD(&ps->state[block]) & 3);
}

/* Waits until block b is not claimed by someone else; returns its state. */
static uint32_t wait_unclaimed(struct gk_ps *ps, uint64_t b)
{
    for (;;) {
        uint32_t s = LOAD(&ps->state[b]);
        if ((s & 3) != B_CLAIMED)
            return s;
        if (!(s & B_WAITERS) && !CAS(&ps->state[b], &s, s | B_WAITERS))
            continue;
        futex_wait(&ps->state[b], s | B_WAITERS);
    }
}

int gk_ps_install(struct gk_ps *ps, uint64_t first, uint64_t n, int how, int flags, uint64_t *installed)
{
    if (!ps || first > ps->nblocks || n > ps->nblocks - first || how < 0 || how > GK_PS_FILE ||
        (how == GK_PS_FILE && !ps->cfg.chunks))
        return -EINVAL;
    if (installed)
        *installed = 0;
    if (how == GK_PS_MOVE && !(ps->features & UFFD_FEATURE_MOVE))
        return -EOPNOTSUPP;     /* every move would fail: said now, not after INSTALL_ATTEMPTS retries */
    if (!LOAD(&ps->armed))
        return -ENOTCONN;
    char *buf = ps->server_buf;
    char *own = NULL;
    if ((how == GK_PS_FILE || (!how && ps->cfg.source == GK_PS_FILE)) && ps->cfg.mode == GK_PS_THREAD) {
        uintptr_t a;                    /* the fault thread uses server_buf */
        int rc = gk_map_anon(ps->bbytes, 0, &a);
        if (rc < 0)
            return rc;
        buf = own = (char *)a;
    } else if (ps->cfg.mode == GK_PS_SIGBUS) {
        buf = ps->server_buf;           /* unused by faults in SIGBUS mode */
    }
    uint64_t did = 0;
    for (uint64_t b = first; b < first + n;) {
        uint32_t s = wait_unclaimed(ps, b);
        if ((s & 3) == B_PRESENT) {
            if ((flags & GK_PS_DROP_PRESENT) && ps->cfg.region)
                gk_madvise(ps->cfg.region + b * ps->bbytes, ps->bbytes, GK_MADV_DONTNEED);
            b++;
            continue;
        }
        /* claim a run of missing blocks */
        uint64_t e = b;
        while (e < first + n) {
            uint32_t m = B_MISSING;
            if (!CAS(&ps->state[e], &m, B_CLAIMED))
                break;
            e++;
            if (how == GK_PS_FILE || (!how && src_of(ps, b) == GK_PS_FILE))
                break;                  /* one block per file read with this buffer */
        }
        if (e == b)
            continue;                   /* lost a race: look again */
        install_claimed(ps, b, e, how, buf);
        publish(ps, b, e);
        did += e - b;
        ADD(&ps->st.blocks_installed, e - b);
        b = e;
    }
    if (own)
        gk_unmap((uintptr_t)own, ps->bbytes);
    if (installed)
        *installed = did;
    return 0;
}

int gk_ps_set_source(struct gk_ps *ps, uint64_t first, uint64_t n, int source, int flags,
                     uint64_t *present_mask)
{
    if (!ps || n > 64 || first > ps->nblocks || n > ps->nblocks - first || source < GK_PS_COPY ||
        source > GK_PS_FILE || (source == GK_PS_FILE && (ps->fd < 0 || !ps->cfg.chunks)) ||
        ((source == GK_PS_COPY || source == GK_PS_MOVE) && !ps->cfg.region))
        return -EINVAL;
    if (source == GK_PS_MOVE && !(ps->features & UFFD_FEATURE_MOVE))
        return -EOPNOTSUPP;
    uint64_t mask = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = first + i;
        for (;;) {
            uint32_t s = wait_unclaimed(ps, b);
            if ((s & 3) == B_PRESENT) {
                mask |= 1ull << i;
                break;
            }
            if (!CAS(&ps->state[b], &s, B_CLAIMED))
                continue;
            ps->source[b] = (uint8_t)source;
            if ((flags & GK_PS_DROP_REGION) && ps->cfg.region)
                gk_madvise(ps->cfg.region + b * ps->bbytes, ps->bbytes, GK_MADV_DONTNEED);
            uint32_t old = XCHG(&ps->state[b], B_MISSING);
            if (old & B_WAITERS)
                futex_wake(&ps->state[b]);
            if (ps->cfg.mode == GK_PS_THREAD && LOAD(&ps->armed))  /* a faulting thread the fault thread left to us */
                gk_uffd_wake(ps->uffd, ps->cfg.start + b * ps->bbytes, ps->bbytes);
            break;
        }
    }
    if (present_mask)
        *present_mask = mask;
    return 0;
}

/* ---- the filler ---- */

static void complete(struct gk_ps *ps)
{
    if (LOAD(&ps->present) >= ps->nblocks && !XCHG(&ps->completed, 1) && ps->on_complete)
        ps->on_complete(ps->complete_ctx);
}

/* Installs up to `bytes` of missing blocks from *cursor on; 0 when none is left. */
static int fill_round(struct gk_ps *ps, uint64_t *cursor, uint64_t bytes, char *buf)
{
    uint64_t want = bytes / ps->bbytes ? bytes / ps->bbytes : 1;
    uint64_t b = *cursor;
    while (b < ps->nblocks && (LOAD(&ps->state[b]) & 3) != B_MISSING)
        b++;
    if (b >= ps->nblocks) {
        *cursor = b;
        return 0;
    }
    uint64_t e = b;
    while (e < ps->nblocks && e - b < want) {
        uint32_t m = B_MISSING;
        if (!CAS(&ps->state[e], &m, B_CLAIMED))
            break;
        e++;
    }
    if (e > b) {
        install_claimed(ps, b, e, 0, buf);
        publish(ps, b, e);
        ADD(&ps->st.blocks_installed, e - b);
    }
    *cursor = e > b ? e : b + 1;
    return 1;
}

static void *filler_main(void *arg)
{
    struct gk_ps *ps = arg;
    uint64_t cursor = 0, chunk = ps->fill_min, seen = LOAD(&ps->st.faults);
    STORE(&ps->st.filler_chunk, chunk);
    for (uint64_t round = 1;; round++) {
        if (LOAD(&ps->filler_stop) || !LOAD(&ps->armed))
            break;
        if (injected(ps, GK_PS_INJ_FILLER_DIES) < 0) {
            STORE(&ps->st.filler_state, GK_FILL_DIED);
            return NULL;
        }
        if (!fill_round(ps, &cursor, chunk, ps->fill_buf)) {
            if (LOAD(&ps->present) >= ps->nblocks)
                break;
            cursor = 0;                 /* blocks released meanwhile: another pass */
            sched_yield();
            continue;
        }
        ADD(&ps->st.filler_rounds, 1);
        /* CRIU's lazy-pages policy: grow while no fault arrives, reset on a fault */
        uint64_t f = LOAD(&ps->st.faults);
        if (f != seen) {
            if (chunk != ps->fill_min)
                ADD(&ps->st.filler_resets, 1);
            chunk = ps->fill_min;
            seen = f;
        } else if (chunk + ps->fill_min <= ps->fill_max) {
            chunk += ps->fill_min;
        }
        STORE(&ps->st.filler_chunk, chunk);
        if (chunk > LOAD(&ps->st.filler_max_chunk))
            STORE(&ps->st.filler_max_chunk, chunk);
    }
    if (LOAD(&ps->present) >= ps->nblocks) {
        STORE(&ps->st.filler_state, GK_FILL_DONE);
        complete(ps);
    } else {
        STORE(&ps->st.filler_state, GK_FILL_IDLE);
    }
    return NULL;
}

int gk_ps_fill_start(struct gk_ps *ps, uint64_t min_bytes, uint64_t max_bytes,
                     void (*on_complete)(void *ctx), void *ctx)
{
    if (!ps || min_bytes == 0 || max_bytes < min_bytes || max_bytes > (256ull << 20))
        return -EINVAL;
    pthread_mutex_lock(&ps->fill_mu);
    int rc = 0;
    if (ps->filler_started) {
        rc = -EBUSY;
    } else {
        ps->fill_min = min_bytes < ps->bbytes ? ps->bbytes : min_bytes / ps->bbytes * ps->bbytes;
        ps->fill_max = max_bytes < ps->fill_min ? ps->fill_min : max_bytes / ps->bbytes * ps->bbytes;
        ps->on_complete = on_complete;
        ps->complete_ctx = ctx;
        uintptr_t a;
        rc = gk_map_anon(round_page(ps->fill_max), 0, &a);
        if (rc == 0) {
            ps->fill_buf = (char *)a;
            STORE(&ps->st.filler_state, GK_FILL_RUNNING);
            rc = -pthread_create(&ps->filler, NULL, filler_main, ps);
            if (rc == 0) {
                pthread_setname_np(ps->filler, "gk-filler");
                ps->filler_started = 1;
            } else {
                STORE(&ps->st.filler_state, GK_FILL_IDLE);
            }
        }
    }
    pthread_mutex_unlock(&ps->fill_mu);
    return rc;
}

void gk_ps_fill_stop(struct gk_ps *ps)
{
    pthread_mutex_lock(&ps->fill_mu);
    if (ps->filler_started) {
        STORE(&ps->filler_stop, 1);
        pthread_join(ps->filler, NULL);
        ps->filler_started = 0;
        STORE(&ps->filler_stop, 0);
        if (ps->fill_buf)
            gk_unmap((uintptr_t)ps->fill_buf, round_page(ps->fill_max));
        ps->fill_buf = NULL;
        if (LOAD(&ps->st.filler_state) == GK_FILL_RUNNING)
            STORE(&ps->st.filler_state, GK_FILL_IDLE);
    }
    pthread_mutex_unlock(&ps->fill_mu);
}

int gk_ps_reset(struct gk_ps *ps)
{
    if (!ps)
        return -EINVAL;
    if (LOAD(&ps->armed))
        return -EBUSY;
    gk_ps_fill_stop(ps);
    while (LOAD(&ps->inflight))
        sched_yield();
    memset(ps->state, 0, ps->maxblocks * sizeof(uint32_t));
    memset(ps->source, 0, ps->maxblocks);
    STORE(&ps->present, 0);
    STORE(&ps->completed, 0);
    /* the statistics and the stall log start again with the next flip: its owner
     * reports them per flip (a swap-out's pages_served), and a log that ran on
     * would fill up and stop recording */
    memset(&ps->st, 0, sizeof ps->st);
    ps->st.nblocks = ps->nblocks;
    return 0;
}

int gk_ps_fill_wait(struct gk_ps *ps, int timeout_ms)
{
    if (!ps)
        return -EINVAL;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (LOAD(&ps->present) < ps->nblocks && LOAD(&ps->armed)) {
        int state = LOAD(&ps->st.filler_state);
        if (state != GK_FILL_RUNNING) {
            /* no filler (died, never started, stopped): fill the rest here */
            uintptr_t a;
            int rc = gk_map_anon(ps->bbytes, 0, &a);
            if (rc < 0)
                return rc;
            uint64_t cursor = 0;
            while (fill_round(ps, &cursor, ps->bbytes, (char *)a))
                ;
            gk_unmap(a, ps->bbytes);
            for (uint64_t b = 0; b < ps->nblocks; b++)
                wait_unclaimed(ps, b);  /* blocks faults hold */
            continue;
        }
        if (now_ns() >= deadline)
            return -ETIMEDOUT;
        sleep_ns(200000);
    }
    complete(ps);
    return 0;
}

int gk_ps_stats(struct gk_ps *ps, struct gk_ps_stats *out)
{
    if (!ps || !out)
        return -EINVAL;
    *out = (struct gk_ps_stats){
        .nblocks = ps->nblocks, .present = LOAD(&ps->present), .faults = LOAD(&ps->st.faults),
        .blocks_by_fault = LOAD(&ps->st.blocks_by_fault), .blocks_installed = LOAD(&ps->st.blocks_installed),
        .bytes_read = LOAD(&ps->st.bytes_read), .eexist = LOAD(&ps->st.eexist), .eagain = LOAD(&ps->st.eagain),
        .errors = LOAD(&ps->st.errors), .stalls = LOAD(&ps->st.stalls),
        .filler_rounds = LOAD(&ps->st.filler_rounds), .filler_resets = LOAD(&ps->st.filler_resets),
        .filler_chunk = LOAD(&ps->st.filler_chunk), .filler_max_chunk = LOAD(&ps->st.filler_max_chunk),
        .filler_state = LOAD(&ps->st.filler_state), .last_error = LOAD(&ps->st.last_error),
    };
    return 0;
}

int gk_ps_stalls(struct gk_ps *ps, double *out, int max)
{
    if (!ps)
        return -EINVAL;
    return gk_stall_log_copy(ps->stall_log, ps->stall_cap, &ps->st.stalls, out, max);
}

int gk_ps_dirty(struct gk_ps *ps, uint64_t *out, uint64_t words, int clear)
{
    if (!ps || !out || !ps->dirty || words < (ps->npages + 63) / 64)
        return -EINVAL;
    uint64_t n = (ps->npages + 63) / 64;
    for (uint64_t i = 0; i < n; i++)
        out[i] = clear ? XCHG(&ps->dirty[i], 0) : LOAD(&ps->dirty[i]);
    return 0;
}
