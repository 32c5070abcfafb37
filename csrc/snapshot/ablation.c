/* ablation.c - the same snapshot taken two other ways, to measure the design
 * against them (bench/snapshot.py):
 *
 * STW  stop-the-world write: the whole heap written inside the pause (what a
 *      runtime without any of this would do). The pause grows with the heap.
 *
 * WP   write-protection, live-migration style pre-copy: the heap is registered
 *      with a userfaultfd that has UFFD_FEATURE_WP_ASYNC (+ WP_UNPOPULATED) and
 *      write-protected; the writes that follow are resolved by the kernel, which
 *      only notes them. Round 1 writes every chunk from the live heap; each
 *      next round asks PAGEMAP_SCAN which pages were written since (protecting
 *      them again in the same walk) and writes their chunks again (appended: the
 *      chunk table points at the newest copy), until few are left; the last ones
 *      are written in a pause, which is the snapshot instant. The pause grows
 *      with the pages written during the last round, plus a page-table walk.
 *      (QEMU's background snapshot uses synchronous WP faults instead, with a
 *      copy per written page; before 6.4 it first had to populate every page.)
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

/* World stopped: every chunk straight from the heap. */
int gs_snapshot_stw(struct gs_op *op)
{
    op->t_write_ns = (uint64_t)(gs_now() * 1e9);
    op->file_pos = op->psize;
    int rc = op->nchunks ? gs_write_chunks(op, op->heap, 0, op->nchunks, NULL) : 0;
    op->rep.write_s = gs_now() - (double)op->t_write_ns * 1e-9;
    return rc;
}

#define UFFD_FEATURE_WP_UNPOPULATED_BIT (1ull << 13)
#define UFFD_FEATURE_WP_ASYNC_BIT (1ull << 15)
#define WP_MIN_DIRTY_CHUNKS 64      /* stop pre-copying when a round leaves fewer */

struct wp_round {
    struct gs_op *op;
    uint64_t *dirty;                /* a bit per page */
    uint64_t words;
    int rc;
};

/* Chunks with a page set in dirty, or at and past `from`, written again. */
static int rewrite(struct gs_op *op, const uint64_t *dirty, uint64_t nchunks, uint64_t from, uint64_t *pages)
{
    uint64_t n = 0;
    for (uint64_t c = 0; c < nchunks;) {
        int d = c >= from;
        for (uint64_t i = 0; i < op->cp && !d; i++) {
            uint64_t p = c * op->cp + i;
            d = dirty[p / 64] >> (p % 64) & 1;
        }
        if (!d) {
            c++;
            continue;
        }
        int rc = gs_write_chunks(op, op->heap, c, c + 1, NULL);
        if (rc < 0)
            return rc;
        n += op->cp;
        c++;
    }
    if (pages)
        *pages = n;
    return 0;
}

static int final_pause(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct wp_round *w = arg;
    struct gs_op *op = w->op;
    uint64_t t = gr_now_ns();
    /* The rounds wrote the chunk holding round 1's top with its pages above that
     * top as zero pages (used_pages is round 1's until now), whatever the
     * mutators had allocated there: that chunk is written again here, with every
     * chunk above it, not only when it is dirty. */
    uint64_t from = op->used_pages / op->cp;
    gs_capture_state(rt, &op->state);
    op->used = op->state.hdr.used;
    op->used_pages = (op->used + op->psize - 1) / op->psize;
    op->nchunks = (op->used_pages + op->cp - 1) / op->cp;
    op->reg_len = op->nchunks * op->chunk_bytes;
    op->rep.heap_bytes = op->used;
    memset(w->dirty, 0, w->words * 8);
    w->rc = gk_pagemap_written(op->heap, op->capacity, 0, w->dirty, NULL);
    uint64_t pages = 0;
    if (w->rc == 0)
        w->rc = rewrite(op, w->dirty, op->nchunks, from, &pages);
    op->rep.wp_final_pages = pages;
    out->live_bytes = out->used_before;
    out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
    op->rep.flip_s = (double)out->phase_ns[GR_PHASE_FLIP] * 1e-9;
    return 0;
}

/* Testing (writer_delay_us): a sleep after each round, so that mutators surely
 * write between the rounds. */
static void testing_delay(const struct gs_op *op)
{
    if (op->cfg.writer_delay_us > 0) {
        struct timespec ts = { op->cfg.writer_delay_us / 1000000, (op->cfg.writer_delay_us % 1000000) * 1000L };
        nanosleep(&ts, NULL);
    }
}

/* gc_lock held, the gate the op's: pre-copy rounds, then the final pause. */
int gs_snapshot_wp(struct gs_op *op)
{
    struct gr_runtime *rt = op->rt;
    const uint64_t want = UFFD_FEATURE_WP_ASYNC_BIT | UFFD_FEATURE_WP_UNPOPULATED_BIT;
    uint64_t avail = 0, ioctls = 0;
    int fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, NULL, NULL);
    if (fd < 0)
        return fd;
    int rc = gk_uffd_api(fd, 0xAA, 0, &avail, &ioctls);
    close(fd);
    if (rc < 0)
        return rc;
    if ((avail & want) != want)
        return -EOPNOTSUPP;
    fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, NULL, NULL);
    if (fd < 0)
        return fd;
    struct wp_round w = { .op = op, .words = op->capacity / op->psize / 64 + 1 };
    w.dirty = calloc(w.words, 8);
    rc = w.dirty ? gk_uffd_api(fd, 0xAA, want, &avail, &ioctls) : -ENOMEM;
    if (rc == 0)
        rc = gk_uffd_register(fd, op->heap, op->capacity, GK_MODE_WP, &ioctls);
    int registered = rc == 0;
    op->t_write_ns = (uint64_t)(gs_now() * 1e9);
    if (rc == 0)
        rc = gk_uffd_writeprotect(fd, op->heap, op->capacity, 1, 0);
    /* round 1: every chunk, from the live heap */
    op->file_pos = op->psize;
    if (rc == 0) {
        op->used = atomic_load(&rt->top) - op->heap;
        op->used_pages = (op->used + op->psize - 1) / op->psize;
        op->nchunks = (op->used_pages + op->cp - 1) / op->cp;
        rc = op->nchunks ? gs_write_chunks(op, op->heap, 0, op->nchunks, NULL) : 0;
    }
    int max_rounds = op->cfg.wp_rounds ? op->cfg.wp_rounds : 8;
    for (int round = 1; rc == 0 && round < max_rounds; round++) {
        testing_delay(op);
        op->rep.wp_rounds = (uint64_t)round;
        uint64_t n = 0, pages = 0;
        memset(w.dirty, 0, w.words * 8);
        rc = gk_pagemap_written(op->heap, op->capacity, 1, w.dirty, &n);
        if (rc == 0)
            rc = rewrite(op, w.dirty, op->nchunks, op->nchunks, &pages);
        if (rc == 0 && pages / op->cp < WP_MIN_DIRTY_CHUNKS)
            break;
    }
    if (rc == 0) {
        struct gr_pause p;      /* gc_lock is held (op.c) */
        testing_delay(op);
        rc = gr_pause_run(rt, GR_CAUSE_EXPLICIT, GR_PAUSE_SNAPSHOT, final_pause, &w, &p);
        op->rep.pause_s = (double)p.pause_ns * 1e-9;
        if (rc == 0)
            rc = w.rc;
    }
    if (registered)
        gk_uffd_unregister(fd, op->heap, op->capacity);
    close(fd);
    free(w.dirty);
    if (rc == 0)
        rc = gs_write_metadata(op);
    op->rep.write_s = gs_now() - (double)op->t_write_ns * 1e-9;
    return rc;
}
