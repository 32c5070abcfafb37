/* cmc_pages.c - building and installing destination pages (the hot path).
 *
 * Everything here may run inside a SIGBUS handler: no malloc, no locks, only
 * atomics, futex(2), ioctl(2), madvise(2) and the page builder (which is
 * async-signal-safe by contract). See cmc.h for the page state machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cmc/cmc_impl.h"

#define INSTALL_ATTEMPTS 4      /* a failing install ioctl is retried at once this often */
#define INSTALL_EAGAIN_SPINS 64 /* EAGAIN without progress this often counts as one failure */

double cmc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void futex_wait(uint32_t *word, uint32_t val, long timeout_ns)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = timeout_ns };
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- fault injection: the nth run of a step fails, and the times-1 after it ---- */
static int injected(struct cmc_injection *inj, int point)
{
    if (LOAD(&inj->point) != point)
        return 0;
    int64_t left = ADD(&inj->count, -1);
    if (left > 0)
        return 0;                       /* not yet the nth run */
    int64_t k = 1 - left;               /* this is failure number k */
    if (inj->times >= 0) {
        if (k > inj->times)
            return 0;                   /* raced with the disarming below */
        if (k == inj->times)
            STORE(&inj->point, CMC_INJ_NONE);
    }
    return inj->err > 0 ? -inj->err : -EIO;
}

static int arm(struct cmc_injection *inj, int point, int nth, int times, int err)
{
    if (point < CMC_INJ_NONE || point > CMC_INJ_REMAP_MMAP || nth < 1 || times == 0 || err < 0)
        return -EINVAL;
    STORE(&inj->point, CMC_INJ_NONE);
    inj->err = err;
    inj->times = times < 0 ? -1 : times;
    STORE(&inj->count, (int64_t)nth);
    STORE(&inj->point, point);
    return 0;
}

int cmc_injected(struct cmc *c, int point)
{
    return injected(&c->inj, point);
}

int cmc_inject(struct cmc *c, int point, int nth, int times, int err)
{
    if (!c)
        return -EINVAL;
    return arm(&c->inj, point, nth, times, err);
}

static struct cmc_injection g_inj;

int cmc_injected_global(int point)
{
    return injected(&g_inj, point);
}

int cmc_inject_global(int point, int nth, int times, int err)
{
    return arm(&g_inj, point, nth, times, err);
}

/* ---- statistics ---- */
void cmc_note_error(struct cmc *c, int err, int point)
{
    STORE(&c->st.last_error, err);
    STORE(&c->st.last_error_point, point);
}

void cmc_log_stall(struct cmc *c, double seconds)
{
    if (!gk_stall_log_add(c->stall_log, c->heap_pages, &c->st.stalls, seconds))
        ADD(&c->st.stalls_dropped, 1);
}

/* Resident set size in bytes (second field of /proc/self/statm). */
uint64_t cmc_rss(struct cmc *c)
{
    char buf[96];
    if (c->statm_fd < 0)
        return 0;
    ssize_t n = pread(c->statm_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = buf;
    while (*p && *p != ' ')
        p++;
    uint64_t pages = 0;
    while (*p == ' ')
        p++;
    while (*p >= '0' && *p <= '9')
        pages = pages * 10 + (uint64_t)(*p++ - '0');
    return pages * c->psize;
}

void cmc_sample_rss(struct cmc *c)
{
    uint64_t rss = cmc_rss(c);
    uint64_t peak = LOAD(&c->st.peak_rss);
    while (rss > peak && !CAS(&c->st.peak_rss, &peak, rss))
        ;
}

/* ---- the state machine ---- */

/* Marks n pages from p installed, wakes futex waiters, counts them. by < 0:
 * someone outside the claim protocol installed them (EEXIST). */
static void mark_installed(struct cmc *c, uint64_t p, uint64_t n, int by)
{
    /* Count before publishing INSTALLED: a worker that sees the last page
     * installed must also see installed == n_build, or nobody ends the cycle.
     * Only the pages' claimant gets here, so the count is exact. One atomic add
     * per counter per run, not per page (they were 6% of a GC thread's time). */
    uint64_t built = 0, zero = 0;
    for (uint64_t i = p; i < p + n; i++) {
        if (LOAD(&c->state[i]) != PG_INSTALLED) {
            if (i < c->n_build)
                built++;
            else
                zero++;
        }
    }
    if (built) {
        ADD(&c->installed, built);
        if (by == BY_GC)
            ADD(&c->st.pages_by_gc, built);
        else if (by == BY_MUTATOR)
            ADD(&c->st.pages_by_mutator, built);
        if (by >= 0)
            ADD(&c->st.moved_bytes, built * c->psize);
    }
    if (zero && by >= 0)
        ADD(&c->st.zero_pages, zero);
    for (uint64_t i = p; i < p + n; i++) {
        uint32_t old = XCHG(&c->state[i], PG_INSTALLED);
        if (old & PG_WAITERS)
            futex_wake(&c->state[i]);
    }
}

/* Gives claimed pages back (their install failed); waiters retry the claim. */
static void unclaim(struct cmc *c, uint64_t p, uint64_t n)
{
    for (uint64_t i = p; i < p + n; i++) {
        uint32_t old = XCHG(&c->state[i], PG_EMPTY);
        if (old & PG_WAITERS)
            futex_wake(&c->state[i]);
    }
}

static int install_op(const char *buf, int move)
{
    if (!buf)
        return CMC_OP_ZEROPAGE;
    return move ? CMC_OP_MOVE : CMC_OP_COPY;
}

/* A mutator's fault service (and the rescue): the configured install; "auto" copies. */
static int fault_moves(const struct cmc *c)
{
    return c->install == CMC_INSTALL_MOVE && !c->auto_install;
}

/* Installs the claimed pages [p0, p0+n): built pages from buf, or zero pages
 * when buf is NULL, with as few ioctls as the kernel allows.
 *   EEXIST: the page is already there - resolved; wake it and go on after it.
 *   EAGAIN: partial progress or the mm is changing - retry the remainder
 *           (without progress INSTALL_EAGAIN_SPINS times: one failure).
 *   other:  retried a few times; then the unfinished claims are given back and
 *           the error returned: the caller's retry with backoff (cmc_stuck.c)
 *           takes over.
 * While the cycle is ending (range being unregistered) errors are benign: the
 * retried access faults in an ordinary page. */
static int install_run(struct cmc *c, uint64_t p0, uint64_t n, char *buf, int move, int by)
{
    uint64_t off = 0;
    int failures = 0, spins = 0;
    while (off < n) {
        uintptr_t dst = c->heap + (p0 + off) * c->psize;
        uint64_t len = (n - off) * c->psize;
        uint64_t done = 0;
        int rc = cmc_injected(c, CMC_INJ_IOCTL);
        if (rc == 0) {
            if (!buf) {
                ADD(&c->st.ioctl_zeropage, 1);
                rc = gk_uffd_zeropage(c->uffd, dst, len, 0, &done);
            } else if (move) {
                ADD(&c->st.ioctl_move, 1);
                rc = gk_uffd_move(c->uffd, dst, (uintptr_t)buf + off * c->psize, len, 0, &done);
            } else {
                ADD(&c->st.ioctl_copy, 1);
                rc = gk_uffd_copy(c->uffd, dst, (uintptr_t)buf + off * c->psize, len, 0, &done);
            }
        }
        uint64_t np = done / c->psize;
        if (np)
            mark_installed(c, p0 + off, np, by);
        off += np;
        if (rc == 0 || off >= n)
            continue;
        if (rc == -EEXIST) {
            ADD(&c->st.eexist, 1);
            ADD(&c->st.ioctl_wake, 1);
            gk_uffd_wake(c->uffd, c->heap + (p0 + off) * c->psize, c->psize);
            mark_installed(c, p0 + off, 1, -1);
            off++;
            continue;
        }
        if (rc == -EAGAIN) {
            ADD(&c->st.eagain, 1);
            if (np || ++spins < INSTALL_EAGAIN_SPINS) {
                sched_yield();
                continue;
            }
        }
        if (LOAD(&c->registered) != 1 || (p0 + off >= c->used_pages && !cmc_in_fill(c, p0 + off))) {
            /* the range is being (or was) unregistered: the retried access
             * faults in an ordinary page */
            mark_installed(c, p0 + off, n - off, -1);
            return 0;
        }
        spins = 0;
        ADD(&c->st.ioctl_errors, 1);
        cmc_note_error(c, rc, CMC_INJ_IOCTL);
        if (++failures >= INSTALL_ATTEMPTS) {
            unclaim(c, p0 + off, n - off);
            return rc;
        }
        sched_yield();
    }
    return 0;
}

void cmc_mark_installed(struct cmc *c, uint64_t p, uint64_t n)
{
    mark_installed(c, p, n, -1);
}

void cmc_unclaim(struct cmc *c, uint64_t p, uint64_t n)
{
    unclaim(c, p, n);
}

/* Builds (below n_build) or zero-fills the page p that the caller claimed. */
static int build_and_install_claimed(struct cmc *c, uint64_t p, char *buf, int by, int *op)
{
    if (p >= c->n_build) {
        *op = CMC_OP_ZEROPAGE;
        return install_run(c, p, 1, NULL, 0, by);
    }
    int rc = c->build(c->build_ctx, p, (const char *)c->from, buf);
    if (rc < 0) {
        *op = CMC_OP_BUILD;
        cmc_note_error(c, rc, CMC_INJ_NONE);
        unclaim(c, p, 1);
        return rc;
    }
    int move = fault_moves(c);
    *op = install_op(buf, move);
    return install_run(c, p, 1, buf, move, by);
}

/* Makes page p present, whoever does it. wait != 0: return only once it is
 * installed (futex-waiting on another claimant); wait == 0 (fault thread):
 * leave a page claimed by someone else to them - their ioctl wakes the
 * faulting thread. buf: one scratch page owned by the caller. A failure
 * (< 0, *op says what failed) has given the page back. */
int cmc_serve_page(struct cmc *c, uint64_t p, char *buf, int by, int wait, int *op)
{
    int dummy;
    if (!op)
        op = &dummy;
    for (;;) {
        uint32_t s = LOAD(&c->state[p]);
        if (s == PG_INSTALLED)
            return 0;
        if (s == PG_EMPTY) {
            if (CAS(&c->state[p], &s, PG_CLAIMED)) {
                cmc_note_touched(c, p);
                return build_and_install_claimed(c, p, buf, by, op);
            }
            continue;
        }
        if (!wait)
            return 0;
        if (!(s & PG_WAITERS)) {
            if (!CAS(&c->state[p], &s, s | PG_WAITERS))
                continue;
            s |= PG_WAITERS;
        }
        futex_wait(&c->state[p], s, 1000000);
        if (LOAD(&c->registered) != 1)
            return 0;
    }
}

/* cmc_serve_page(wait=1) until the page is present or the cycle is over:
 * a failure backs off and retries; past the install deadline it aborts. */
void cmc_serve_page_until(struct cmc *c, uint64_t p, char *buf, int by)
{
    struct cmc_retry r = { 0, 0 };
    for (;;) {
        int op = CMC_OP_NONE;
        int rc = cmc_serve_page(c, p, buf, by, 1, &op);
        if (rc == 0 || LOAD(&c->registered) != 1)
            return;
        cmc_sleep_ns(cmc_retry_after(c, &r, p, op, rc));
    }
}

/* install="move" leaves the scratch pages of the last run as holes (their
 * pages went into the heap). Refill them with one madvise instead of one page
 * fault per page while building. Best effort: a kernel without
 * MADV_POPULATE_WRITE (5.14) just takes the faults. */
static void populate_scratch(char *buf, uint64_t len)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    madvise(buf, len, MADV_POPULATE_WRITE);
}

/* install="move": k consumed from-space pages to build a run in, or NULL. */
static char *grab_recycled(struct cmc *c, uint64_t k)
{
    if (XCHG(&c->releasing, 1))
        return NULL;
    char *r = NULL;
    if (c->consumed >= c->released + k) {
        r = (char *)c->from + c->released * c->psize;
        c->released += k;
    }
    STORE(&c->releasing, 0);
    return r;
}

static uint64_t average(uint64_t avg, uint64_t x)
{
    return avg ? (3 * avg + x) / 4 : x;
}

/* install="auto": does the worker's next run move (or copy)? */
static int choose_move(const struct cmc *c, struct cmc_choice *ch)
{
    if (c->install != CMC_INSTALL_MOVE)
        return 0;
    if (!c->auto_install || !ch)
        return 1;
    if (c->busy && c->busy(c->busy_ctx))
        return 0;               /* a mutator may run: a move would shoot down its TLB */
    if (ch->copy_left) {
        ch->copy_left--;
        return 0;
    }
    return 1;
}

/* install="auto": a worker's run of `pages` (> 0) was installed in `ns`. A move
 * that cost more per page than a copy plus the release of the from-space page the
 * move would have recycled starts a run of copies (8 runs, doubling up to 256
 * while the moves tried between them stay dear); then a move is tried again. */
static void note_install_cost(struct cmc *c, struct cmc_choice *ch, int move, uint64_t ns, uint64_t pages)
{
    uint64_t per = ns / pages;
    if (!move) {
        ch->copy_ns = average(ch->copy_ns, per);
        ADD(&c->st.auto_copy_pages, pages);
        return;
    }
    ch->move_ns = average(ch->move_ns, per);
    /* copy not timed yet: it is tried once a move costs more than a release */
    uint64_t copy_cost = ch->copy_ns + LOAD(&c->release_ns);
    if (per > copy_cost) {
        ch->span = ch->span ? (ch->span < 128 ? 2 * ch->span : 256) : 8;
        ch->copy_left = ch->span;
    } else {
        ch->span = 0;
    }
}

/* install="move", chunk_moves (flip.c's anchor): the from-space pages at the
 * destination's own offsets [s, s + k), once no page still to be built reads
 * them (consumed) and neither the recycling nor the releaser took them (they
 * only take pages from `released` on). The consumed pages skipped below s are
 * released. NULL: build elsewhere. */
static void release_to(struct cmc *c, uint64_t q);
static void release_range(struct cmc *c, uint64_t s, uint64_t k);

static char *grab_in_place(struct cmc *c, uint64_t s, uint64_t k)
{
    if (XCHG(&c->releasing, 1))
        return NULL;
    char *r = NULL;
    if (c->released <= s && c->consumed >= s + k) {
        if (s > c->released)
            release_to(c, s);
        c->released = s + k;
        r = (char *)c->from + s * c->psize;
    }
    STORE(&c->releasing, 0);
    return r;
}

int cmc_remap_chunk(struct cmc *c, uint64_t s, uint64_t k, int by)
{
    uintptr_t dst = c->heap + s * c->psize, at = 0;
    uint64_t len = k * c->psize;
    int rc = cmc_injected(c, CMC_INJ_MREMAP);
    if (rc == 0)
        rc = gk_mremap_dontunmap(c->from + s * c->psize, len, dst, &at);
    if (rc < 0) {
        cmc_note_error(c, rc, CMC_INJ_MREMAP);
        return -1;
    }
    mark_installed(c, s, k, by);
    ADD(&c->st.chunk_pages, k);
    if (by >= 0)
        ADD(&c->st.ioctl_wake, 1);
    gk_uffd_wake(c->uffd, dst, len);    /* threads blocked on a claimed page (thread mode) */
    return 0;
}

/* Builds and installs [s, e): claims each page just before building it into
 * rbuf (page s at rbuf), installs each contiguous claimed stretch with one
 * ioctl - or, when `chunk` and the whole of it was claimed, with one mremap. */
static void build_run(struct cmc *c, uint64_t s, uint64_t e, char *rbuf, int move, int chunk, char *buf,
                      struct cmc_choice *choice)
{
    uint64_t p = s;
    /* A chunk built in place that a faulting mutator broke into, while one may be
     * running (install="auto"): its stretches are copied out, not moved (a move
     * shoots down the running mutator's TLB once per page), and its from-space
     * goes back once they are in. A whole chunk still goes by one mremap. */
    int copy_out = chunk && move && c->auto_install && c->busy && c->busy(c->busy_ctx), copied = 0;
    if (copy_out)
        move = 0;
    cmc_note_touched(c, e - 1);     /* once per run, before any of its claims */
    while (p < e) {
        uint64_t q = p;
        while (q < e) {
            uint32_t expect = PG_EMPTY;
            if (!CAS(&c->state[q], &expect, PG_CLAIMED))
                break;
            int rc = c->build(c->build_ctx, q, (const char *)c->from, rbuf + (q - s) * c->psize);
            if (rc < 0) {
                cmc_note_error(c, rc, CMC_INJ_NONE);
                cmc_fatal(c, q, CMC_OP_BUILD, rc, 0);   /* pure function: no retry helps */
            }
            q++;
        }
        if (q > p) {
            if (chunk && p == s && q == e && cmc_remap_chunk(c, s, e - s, BY_GC) == 0) {
                ADD(&c->st.recycled_pages, e - s);
                cmc_maybe_release(c, 0);
                return;
            }
            /* A failure gave the unfinished pages back: the re-scan retries them. */
            int timed = choice && c->auto_install && !chunk;
            uint64_t t0 = timed ? cmc_now_ns() : 0;
            install_run(c, p, q - p, rbuf + (p - s) * c->psize, move, BY_GC);
            if (timed)
                note_install_cost(c, choice, move, cmc_now_ns() - t0, q - p);
            if (rbuf != buf && move)
                ADD(&c->st.recycled_pages, q - p);
            if (copy_out) {
                ADD(&c->st.auto_copy_pages, q - p);
                copied = 1;
            }
            cmc_maybe_release(c, 0);
            p = q;
        } else {
            p++;            /* someone else holds it */
        }
    }
    if (copied)
        release_range(c, s, e - s);
}

/* A run of ordinary pages: recycled from-space pages to build in (move), else
 * the worker's own scratch pages. */
static void plain_run(struct cmc *c, uint64_t s, uint64_t e, char *buf, struct cmc_choice *choice)
{
    char *rbuf = buf;
    int move = choose_move(c, choice);
    if (move) {
        rbuf = grab_recycled(c, e - s);
        if (!rbuf) {
            rbuf = buf;
            populate_scratch(buf, (e - s) * c->psize);
        }
    }
    build_run(c, s, e, rbuf, move, 0, buf, choice);
}

/* A GC worker's share of a cycle: sweep [0, n_build) in runs taken from the
 * shared cursor, claiming each page just before building it so that a faulting
 * mutator can still take pages the worker has not reached; install each
 * contiguous claimed run with one ioctl. A worker whose run starts a 2 MiB chunk
 * takes the whole chunk when no one has taken its next run yet, and builds it in
 * place in from-space when it can (grab_in_place): then one mremap installs it.
 * Then re-scan for pages that were given back or skipped (a failed install, a
 * dead worker) and wait for the pages that mutators are building. Returns 0 once
 * every page is installed (a page that cannot be installed before the deadline
 * aborts: cmc_stuck.c). */
int cmc_drive(struct cmc *c, char *buf, int run_pages, struct cmc_choice *choice)
{
    uint64_t n_build = c->n_build, run = (uint64_t)run_pages;
    uint64_t chunk = CMC_CHUNK_BYTES / c->psize;
    int chunks = choice && LOAD(&c->chunk_moves) && c->install == CMC_INSTALL_MOVE && chunk % run == 0;
    for (;;) {
        uint64_t s = ADD(&c->cursor, run) - run;
        if (s >= n_build)
            break;
        uint64_t e = s + run < n_build ? s + run : n_build;
        uint64_t expect = s + run;
        if (chunks && s % chunk == 0 && s + chunk <= n_build && run < chunk &&
            CAS(&c->cursor, &expect, s + chunk)) {
            char *ip = grab_in_place(c, s, chunk);
            if (ip) {
                build_run(c, s, s + chunk, ip, 1, 1, buf, choice);
            } else {
                for (uint64_t r = s; r < s + chunk; r += run)
                    plain_run(c, r, r + run, buf, choice);
            }
            continue;
        }
        plain_run(c, s, e, buf, choice);
    }
    for (uint64_t p = 0; p < n_build; p++) {
        if (LOAD(&c->state[p]) != PG_INSTALLED)
            cmc_serve_page_until(c, p, buf, BY_GC);
        if (LOAD(&c->registered) != 1)
            break;
    }
    return 0;
}

/* Releases from-space below src_first of the first page not yet installed
 * (see cmc.h). One releaser at a time; others skip (they will come back). */
void cmc_maybe_release(struct cmc *c, int force)
{
    if (XCHG(&c->releasing, 1))
        return;
    uint64_t P = c->prefix;
    while (P < c->n_build && LOAD(&c->state[P]) == PG_INSTALLED)
        P++;
    c->prefix = P;
    /* all installed: from-space up to the last page read can go (what is above
     * was never read this cycle; cmc_end_cycle re-reserves the whole of it) */
    uint64_t q = P < c->n_build ? c->src_first[P] : c->n_build ? c->src_first[c->n_build - 1] + 1 : 0;
    if (q > c->moved_pages)
        q = c->moved_pages;
    if (c->install == CMC_INSTALL_MOVE && !force) {
        /* keep a pool of consumed pages for recycling; release what is beyond it */
        uint64_t pool = 4ull * (uint64_t)c->cfg.run_pages * (uint64_t)c->cfg.gc_threads;
        if (q > c->consumed)
            c->consumed = q;
        q = q > pool ? q - pool : 0;
    }
    if (!force) {
        /* recycle.c moves these into the free pages at the cycle's end */
        uint64_t hold = cmc_fill_budget(c);
        q = q > hold ? q - hold : 0;
    }
    if (q > c->released && (force || q - c->released >= (uint64_t)c->cfg.release_batch_pages))
        release_to(c, q);
    STORE(&c->releasing, 0);
}

int64_t cmc_present_pages(struct cmc *c, uintptr_t base, uint64_t p, uint64_t q)
{
    unsigned char vec[4096];
    int64_t n = 0;
    while (p < q) {
        uint64_t k = min_u64(q - p, sizeof vec);
        if (mincore((void *)(base + p * c->psize), k * c->psize, vec) < 0)
            return -1;
        for (uint64_t i = 0; i < k; i++)
            n += vec[i] & 1;
        p += k;
    }
    return n;
}

/* From-space [s, s + k), taken out of the releaser's reach by grab_in_place, goes
 * back to the kernel (its present pages count as released). */
static void release_range(struct cmc *c, uint64_t s, uint64_t k)
{
    cmc_sample_rss(c);              /* the chunk was held twice: its copies and from-space */
    int64_t present = cmc_present_pages(c, c->from, s, s + k);
    if (gk_madvise(c->from + s * c->psize, k * c->psize, GK_MADV_DONTNEED) == 0 && present > 0)
        ADD(&c->st.released_bytes, (uint64_t)present * c->psize);
}

/* Holding `releasing`: from-space [released, q) goes back to the kernel. Only
 * its present pages count as released: a range released at the cycle's end
 * holds holes where whole chunks went back to the heap by mremap (recycle.c)
 * and where nothing was ever moved in; counting those reported 480 MB where
 * about 5 MB were (1 GiB half-live heap). */
static void release_to(struct cmc *c, uint64_t q)
{
    cmc_sample_rss(c);
    uint64_t len = (q - c->released) * c->psize;
    int64_t present = cmc_present_pages(c, c->from, c->released, q);
    if (present < 0)
        present = (int64_t)(q - c->released);   /* (cannot happen: from-space stays reserved) */
    uint64_t t0 = c->auto_install ? cmc_now_ns() : 0;
    if (gk_madvise(c->from + c->released * c->psize, len, GK_MADV_DONTNEED) == 0) {
        if (c->auto_install)        /* what a copy adds per page: see note_install_cost */
            STORE(&c->release_ns, average(LOAD(&c->release_ns), (cmc_now_ns() - t0) / (q - c->released)));
        ADD(&c->st.released_bytes, (uint64_t)present * c->psize);
        c->released = q;
    }
}
