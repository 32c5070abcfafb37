/* writer.c - the writer thread: staging to the file, chunk by chunk, and each
 * written chunk's pages out of staging.
 *
 * A batch (batch_bytes of chunks): for each chunk, find its non-zero pages
 * (zero pages are never written: a clear bit in the chunk's present mask), sum
 * them (xxHash64), write them with one pwritev per batch straight from staging
 * (no copy in user space). Then, per kind:
 *   snapshot  every page of the batch goes back to the heap: UFFDIO_MOVE of the
 *             pages no mutator touched (zero-copy: nothing is copied twice), and
 *             the staged original of a page a mutator copied is dropped; without
 *             UFFDIO_MOVE in the kernel, UFFDIO_COPY and every staged page dropped
 *   swap      every chunk's source becomes the file (its staged pages dropped);
 *             a chunk a mutator took meanwhile stays resident
 * Staging is never written by anyone, so what the file gets is the heap at the
 * flip, whatever the mutators do meanwhile.
 *
 * Failure (a write error: disk full, RLIMIT_FSIZE; an injected death of the
 * thread): every page still staged goes back to the heap (gs_finish), the heap
 * is intact and the error is reported; a dead writer's work is finished by
 * whoever waits for the op or needs the heap (the collection gate's hurry).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

#define GS_IOV 1024     /* <= IOV_MAX (1024 on Linux) */

uint64_t gs_rss(struct gs_op *op)
{
    char buf[96];
    if (op->statm_fd < 0)
        return 0;
    ssize_t n = pread(op->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strchr(buf, ' ');
    return p ? strtoull(p + 1, NULL, 10) * op->psize : 0;
}

int gs_injected(struct gs_op *op, int point)
{
    if (op->cfg.inject_point != point)
        return 0;
    if (ADD(&op->inj_count, -1) != 0)
        return 0;
    return op->cfg.inject_err > 0 ? -op->cfg.inject_err : -EIO;
}

static int page_is_zero(const char *p, uint64_t len)
{
    const uint64_t *w = (const uint64_t *)p, *end = (const uint64_t *)(p + len);
    for (; w < end; w += 8)
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
            return 0;
    return 1;
}

/* Writes chunks [c0, c1) of image (the address standing for the heap start:
 * staging, or the heap itself in a pause) at op->file_pos, filling their chunk
 * table entries. *bytes: data bytes written. */
int gs_write_chunks(struct gs_op *op, uintptr_t image, uint64_t c0, uint64_t c1, uint64_t *bytes)
{
    struct iovec iov[GS_IOV];
    int niov = 0;
    uint64_t total = 0, zero = 0, pages = 0, flushed = 0;
    for (uint64_t c = c0; c < c1; c++) {
        uint64_t present = 0, stored = 0;
        struct gk_sum sum;
        gk_sum_init(&sum);
        for (uint64_t i = 0; i < op->cp; i++) {
            uint64_t p = c * op->cp + i;
            const char *pg = (const char *)image + p * op->psize;
            if (p >= op->used_pages || page_is_zero(pg, op->psize)) {
                zero += p < op->used_pages;
                continue;
            }
            present |= 1ull << i;
            gk_sum_update(&sum, pg, op->psize);
            if (niov && (char *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == pg)
                iov[niov - 1].iov_len += op->psize;
            else {
                iov[niov].iov_base = (void *)pg;
                iov[niov].iov_len = op->psize;
                niov++;
            }
            stored += op->psize;
        }
        op->chunks[c].offset = op->file_pos + total;
        op->chunks[c].checksum = gk_sum_final(&sum);
        op->chunks[c].present = present;
        total += stored;
        pages += stored / op->psize;
        if (niov >= (int)(sizeof iov / sizeof iov[0]) - (int)op->cp || c + 1 == c1) {
            /* flush: one pwritev per batch (or per full iovec array) */
            uint64_t off = op->file_pos + flushed;
            uint64_t left = total - flushed;
            flushed = total;
            struct iovec *v = iov;
            int n = niov;
            while (left) {
                int rc = gs_injected(op, GS_INJ_WRITE);
                ssize_t w = rc < 0 ? (errno = -rc, -1) : pwritev(op->fd, v, n, (off_t)off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    return w == 0 ? -ENOSPC : -errno;
                off += (uint64_t)w, left -= (uint64_t)w;
                while (n && (uint64_t)w >= v->iov_len) {
                    w -= (ssize_t)v->iov_len;
                    v++, n--;
                }
                if (n && w) {
                    v->iov_base = (char *)v->iov_base + w;
                    v->iov_len -= (size_t)w;
                }
            }
            niov = 0;
        }
    }
    op->file_pos += total;
    op->rep.bytes_written += total;
    op->rep.pages_written += pages;
    op->rep.zero_pages += zero;
    if (bytes)
        *bytes = total;
    return 0;
}

/* Every page not present yet is installed from staging and every staged page
 * dropped: by UFFDIO_MOVE (zero-copy: the page leaves staging; the staged
 * originals of pages a mutator copied are dropped) where the kernel has it;
 * else (move_fallback, known before the pause) by UFFDIO_COPY, then the staged
 * pages dropped a batch at a time, so that the copies never double the heap. */
uint64_t gs_give_back(struct gs_op *op, uint64_t p0, uint64_t n)
{
    uint64_t total = 0;
    if (!op->rep.move_fallback) {
        gk_ps_install(op->ps, p0, n, GK_PS_MOVE, GK_PS_DROP_PRESENT, &total);
        return total;
    }
    uint64_t per = op->cfg.batch_bytes / op->psize;
    for (uint64_t p = p0; p < p0 + n; p += per) {
        uint64_t k = p0 + n - p < per ? p0 + n - p : per, done = 0;
        gk_ps_install(op->ps, p, k, GK_PS_COPY, 0, &done);      /* waits for blocks faults hold */
        gk_madvise(op->staging + p * op->psize, k * op->psize, GK_MADV_DONTNEED);
        total += done;
    }
    return total;
}

/* Snapshot: the pages of chunks [c0, c1) go back to the heap. */
static void give_back(struct gs_op *op, uint64_t c0, uint64_t c1)
{
    op->rep.pages_moved_back += gs_give_back(op, c0 * op->cp, (c1 - c0) * op->cp);
}

/* Swap: chunks [c0, c1) are in the file now; their staged pages go. */
static void release_to_file(struct gs_op *op, uint64_t c0, uint64_t c1)
{
    for (uint64_t c = c0; c < c1; c += 64) {
        uint64_t n = c1 - c < 64 ? c1 - c : 64, present = 0;
        gk_ps_set_source(op->ps, c, n, GK_PS_FILE, GK_PS_DROP_REGION, &present);
        for (uint64_t i = 0; i < n; i++)        /* a mutator took it: resident, drop the original */
            if (present >> i & 1)
                gk_madvise(op->staging + (c + i) * op->chunk_bytes, op->chunk_bytes, GK_MADV_DONTNEED);
    }
}

static void sample_rss(struct gs_op *op)
{
    uint64_t rss = gs_rss(op);
    if (rss > op->rep.rss_before && rss - op->rep.rss_before > op->rep.peak_extra_rss)
        op->rep.peak_extra_rss = rss - op->rep.rss_before;
}

static int write_loop(struct gs_op *op)
{
    uint64_t per = op->cfg.batch_bytes / op->chunk_bytes;
    if (per == 0)
        per = 1;
    for (uint64_t c = op->given_back; c < op->nchunks;) {
        uint64_t e = c + per < op->nchunks ? c + per : op->nchunks;
        if (op->reuse) {            /* swap: unchanged chunks keep their place in the file */
            while (c < e && op->reuse[c]) {
                op->rep.pages_reused += (uint64_t)__builtin_popcountll(op->chunks[c].present);
                release_to_file(op, c, c + 1);
                op->given_back = ++c;
            }
            uint64_t k = c;
            while (k < e && !op->reuse[k])
                k++;
            e = k;
            if (c == e)
                continue;
        }
        int rc = gs_write_chunks(op, op->staging, c, e, NULL);
        if (rc < 0)
            return rc;
        if (op->kind == GS_KIND_SNAPSHOT)
            give_back(op, c, e);
        else
            release_to_file(op, c, e);
        op->given_back = e;
        sample_rss(op);
        c = e;
        if (op->cfg.writer_delay_us > 0) {
            struct timespec ts = { op->cfg.writer_delay_us / 1000000, (op->cfg.writer_delay_us % 1000000) * 1000L };
            nanosleep(&ts, NULL);
        }
        if (gs_injected(op, GS_INJ_WRITER_DIES) < 0)
            return 1;               /* the thread "dies" here: its work is left undone */
    }
    return 0;
}

void *gs_writer_main(void *arg)
{
    struct gs_op *op = arg;
    op->t_write_ns = (uint64_t)(gs_now() * 1e9);
    if (op->reg_len < op->capacity)     /* staged zeros above the data: nothing to write */
        gk_madvise(op->staging + op->reg_len, op->capacity - op->reg_len, GK_MADV_DONTNEED);
    int rc = write_loop(op);
    if (rc == 1) {
        pthread_mutex_lock(&op->mu);
        op->status = OP_DIED;
        pthread_cond_broadcast(&op->cv);
        pthread_mutex_unlock(&op->mu);
        return NULL;
    }
    if (rc == 0)
        rc = gs_write_metadata(op);
    op->rep.write_s = gs_now() - (double)op->t_write_ns * 1e-9;
    gs_finish(op, rc);
    return NULL;
}
