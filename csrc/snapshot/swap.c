/* swap.c - a swapped-out heap: its page server, its file, swap-in, and the
 * second swap-out that writes only what changed.
 *
 * States (struct gs_swap.state); the collection gate is closed in all but NONE:
 *
 *   NONE --swap_out--> OUT --swap_in--> IN --filler done--> TRACKING --swap_out--> OUT ...
 *                       |                                      |
 *             pages fault back from the file         resident; writes are noted
 *
 *   any state but NONE --a collection, close, fork--> everything back in, NONE
 *
 * The page server is armed with write-protection (where the kernel has it):
 * every page it installs from the file is protected, and the first write to it
 * is a WP fault that marks it dirty (gk_ps_dirty). So at the next swap-out into
 * the same file a chunk whose pages are all still missing (never touched since)
 * or present and clean is not written again: its old place in the file is still
 * right. New chunks go after the old file's end, the new metadata after them,
 * the header last (until then the file is the last swap-out's image). A
 * collection drops the tracking: it moves objects, everything changes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

static int same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Re-reserves staging: every page in it goes, the reservation stays. */
static void empty_staging(struct gs_swap *sw)
{
    mmap((void *)sw->staging, sw->capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
         -1, 0);
}

static int wp_available(void)
{
    uint64_t avail = 0;
    int fd = gk_uffd_open(GK_OPEN_NONBLOCK | GK_OPEN_USER_MODE_ONLY, NULL, NULL);
    if (fd < 0)
        return 0;
    int rc = gk_uffd_api(fd, 0xAA, 0, &avail, NULL);
    close(fd);
    return rc == 0 && (avail & 1);      /* UFFD_FEATURE_PAGEFAULT_FLAG_WP */
}

int gs_swap_prepare(struct gs_swap *sw, struct gs_op *op)
{
    pthread_mutex_lock(&sw->mu);
    int rc = sw->op ? -EBUSY : 0;
    if (rc == 0 && !sw->ps) {
        sw->capacity = op->capacity;
        sw->cp = op->cp;
        sw->chunks = calloc(op->capacity / op->chunk_bytes + 1, sizeof *sw->chunks);
        sw->fd = fcntl(op->fd, F_DUPFD_CLOEXEC, 0);
        rc = !sw->chunks ? -ENOMEM : sw->fd < 0 ? -errno : 0;
        if (rc == 0) {
            struct gk_ps_config pc = {
                .start = op->heap, .len = op->capacity, .block_pages = (uint32_t)op->cp,
                .mode = op->cfg.fault_mode, .source = GK_PS_COPY, .region = op->staging,
                .wp = wp_available(), .fd = sw->fd, .chunks = sw->chunks, .verify = 1,
                .name = "the swap file",
            };
            rc = gk_ps_create(&pc, &sw->ps);
        }
        if (rc == 0) {
            sw->staging = op->staging;
            sw->file_end = op->psize;
            sw->nchunks = 0;
        } else {
            free(sw->chunks);
            sw->chunks = NULL;
            if (sw->fd >= 0)
                close(sw->fd);
            sw->fd = -1;
        }
    } else if (rc == 0) {
        /* the next swap-out: the same file, chunking and staging */
        rc = op->cp != sw->cp ? -EINVAL : !same_file(sw->fd, op->fd) ? -EXDEV : 0;
        if (rc == 0) {
            gk_unmap(op->staging, op->capacity);    /* reserved by the caller: use the swap's */
            op->staging = sw->staging;
            gk_ps_fill_stop(sw->ps);                /* no claim may run into the pause */
        }
    }
    if (rc == 0) {
        op->sw = sw;
        op->ps = sw->ps;
        op->chunks = sw->chunks;
        op->file_pos = sw->file_end;
        sw->op = op;
        STORE(&sw->state, SWAP_OUT);
    }
    pthread_mutex_unlock(&sw->mu);
    return rc;
}

/* World stopped, before gs_flip. Decides which chunks of the last swap-out are
 * unchanged, disarms the server and makes it ready for the new range. */
int gs_swap_pause(struct gs_op *op)
{
    struct gs_swap *sw = op->sw;
    uint64_t maxchunks = op->capacity / op->chunk_bytes;
    op->reuse = calloc(maxchunks + 1, 1);
    if (!op->reuse)
        return -ENOMEM;
    uint8_t *was_missing = calloc(maxchunks + 1, 1);
    uint64_t words = (maxchunks * sw->cp + 63) / 64 + 1;
    uint64_t *dirty = calloc(words, 8);
    int rc = !was_missing || !dirty ? -ENOMEM : 0;
    int tracked = rc == 0 && sw->nchunks && gk_ps_dirty(sw->ps, dirty, words, 1) == 0;
    for (uint64_t c = 0; rc == 0 && c < sw->nchunks && c < op->nchunks; c++) {
        int st = gk_ps_block_state(sw->ps, c);
        int clean = tracked;
        for (uint64_t i = 0; i < sw->cp && clean; i++) {
            uint64_t p = c * sw->cp + i;
            clean = !(dirty[p / 64] >> (p % 64) & 1);
        }
        was_missing[c] = st == 0;
        op->reuse[c] = st == 0 || (st == 2 && clean);
    }
    if (rc == 0)
        rc = gk_ps_disarm(sw->ps);
    if (rc == 0)
        rc = gk_ps_reset(sw->ps);
    /* a chunk that stayed missing is in the file, not in staging */
    for (uint64_t c = 0; rc == 0 && c < sw->nchunks && c < op->nchunks; c++)
        if (was_missing[c])
            rc = gk_ps_set_source(sw->ps, c, 1, GK_PS_FILE, 0, NULL);
    free(was_missing);
    free(dirty);
    return rc;
}

void gs_swap_abort(struct gs_swap *sw, struct gs_op *op)
{
    pthread_mutex_lock(&sw->mu);
    if (sw->op == op)
        sw->op = NULL;
    pthread_mutex_unlock(&sw->mu);
    if (op->staging == sw->staging)
        op->staging = 0;            /* the swap's: not the op's to unmap */
    gs_swap_drop(sw);
}

/* The writer is done (rc == 0: the file is complete) or failed (every staged
 * page went back to the heap in gs_finish). */
void gs_swap_finished(struct gs_swap *sw, struct gs_op *op, int rc)
{
    pthread_mutex_lock(&sw->mu);
    sw->op = NULL;
    if (rc == 0) {
        sw->nchunks = op->nchunks;
        sw->file_end = op->state.hdr.file_bytes;
        empty_staging(sw);
    }
    pthread_mutex_unlock(&sw->mu);
    if (rc < 0)
        gs_swap_drop(sw);
}

static void fill_done(void *ctx)
{
    struct gs_swap *sw = ctx;
    int expect = SWAP_IN;
    __atomic_compare_exchange_n(&sw->state, &expect, SWAP_TRACKING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int start_swap_in(struct gs_swap *sw)
{
    int expect = SWAP_OUT;
    if (!__atomic_compare_exchange_n(&sw->state, &expect, SWAP_IN, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return 0;
    return gk_ps_fill_start(sw->ps, 64u << 10, 4u << 20, fill_done, sw);
}

void gs_swap_drop(struct gs_swap *sw)
{
    pthread_mutex_lock(&sw->mu);
    if (sw->ps && !sw->forked) {
        start_swap_in(sw);
        gk_ps_fill_wait(sw->ps, -1);    /* every page back in (fills the rest itself) */
        gk_ps_destroy(sw->ps);          /* disarms: no tracking any more */
    }
    sw->ps = NULL;
    if (sw->staging && !sw->forked)
        gk_unmap(sw->staging, sw->capacity);
    sw->staging = 0;
    free(sw->chunks);
    sw->chunks = NULL;
    if (sw->fd >= 0)
        close(sw->fd);
    sw->fd = -1;
    sw->nchunks = 0;
    int was = XCHG(&sw->state, SWAP_NONE);
    pthread_mutex_unlock(&sw->mu);
    if (was != SWAP_NONE && gr_gate_owner(sw->rt) == sw)
        gr_gate_open(sw->rt);
}

/* The gate's hurry: a collection, close or fork needs the heap whole and untracked. */
void gs_swap_hurry(void *ctx)
{
    struct gs_swap *sw = ctx;
    pthread_mutex_lock(&sw->mu);
    struct gs_op *op = sw->op;
    pthread_mutex_unlock(&sw->mu);
    if (op)
        gs_op_wait(op, -1, NULL);
    gs_swap_drop(sw);
}

int gs_swap_in(gr_runtime *rt, int wait)
{
    struct gs_swap *sw = rt ? gs_swap_of(rt, 0) : NULL;
    if (!sw)
        return 0;
    pthread_mutex_lock(&sw->mu);
    struct gs_op *op = sw->op;
    pthread_mutex_unlock(&sw->mu);
    if (op)
        gs_op_wait(op, -1, NULL);       /* the swap-out finishes writing first */
    pthread_mutex_lock(&sw->mu);
    int rc = sw->ps ? start_swap_in(sw) : 0;
    if (rc == 0 && wait && sw->ps)
        rc = gk_ps_fill_wait(sw->ps, -1);
    if (rc == 0 && wait && sw->ps)
        fill_done(sw);
    pthread_mutex_unlock(&sw->mu);
    return rc;
}

int gs_swap_state(gr_runtime *rt)
{
    struct gs_swap *sw = rt ? gs_swap_of(rt, 0) : NULL;
    return sw ? LOAD(&sw->state) : SWAP_NONE;
}
