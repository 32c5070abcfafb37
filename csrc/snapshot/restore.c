/* restore.c - a runtime from a snapshot file, in a new process.
 *
 *   check      header and metadata (format.c); with verify, every chunk too
 *   create     a runtime whose heap is exactly at the recorded address
 *              (MAP_FIXED_NOREPLACE: -EADDRINUSE when the range is taken)
 *   state      classes, globals, top, soft limit, live bytes as they were (the
 *              caller may give other heap sizing, not another capacity)
 *   pages      lazy:  the heap's used range registered MISSING with a page
 *                     server whose source is the file (each chunk read whole and
 *                     its checksum checked before its pages are installed), a
 *                     background filler; collections wait at the gate (and ask
 *                     the restore to fill the rest first); when every page is in,
 *                     the range is unregistered and the gate opens
 *              eager: every chunk read straight into the heap, checked
 * Nothing is mapped when any check fails: the runtime is closed again.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

static void set_state(struct gr_runtime *rt, const struct gs_state *st, uint64_t soft_limit)
{
    const struct gs_header *h = &st->hdr;
    memcpy(rt->classes, st->classes, h->nclasses * sizeof(struct gr_class));
    atomic_store(&rt->nclasses, (uint32_t)h->nclasses);
    memcpy(rt->globals, st->globals, h->nglobals * sizeof(uint64_t));
    atomic_store(&rt->globals_hw, h->nglobals);
    atomic_store(&rt->top, (uintptr_t)rt->heap + h->used);
    rt->high_water = (uintptr_t)rt->heap + h->used;
    atomic_store(&rt->soft_limit, soft_limit > h->used ? soft_limit : h->used);
    __atomic_store_n(&rt->last_live, h->live, __ATOMIC_RELAXED);
}

/* Eager: chunk by chunk into the heap (stored pages where they belong; the
 * zero pages are zero already), each checked. */
static int read_eagerly(int fd, struct gr_runtime *rt, const struct gs_state *st, const struct gk_ps_chunk *ch)
{
    uint64_t ps = st->hdr.page_size, cp = st->hdr.chunk_pages;
    for (uint64_t c = 0; c < st->hdr.nchunks; c++) {
        struct iovec iov[GK_PS_MAX_BLOCK_PAGES];
        int n = 0;
        uint64_t bytes = 0;
        struct gk_sum sum;
        gk_sum_init(&sum);
        for (uint64_t i = 0; i < cp; i++)
            if (ch[c].present >> i & 1) {
                char *pg = rt->heap + (c * cp + i) * ps;
                if (n && (char *)iov[n - 1].iov_base + iov[n - 1].iov_len == pg)
                    iov[n - 1].iov_len += ps;
                else
                    iov[n++] = (struct iovec){ pg, ps };
                bytes += ps;
            }
        uint64_t off = ch[c].offset, left = bytes;
        struct iovec *v = iov;
        while (left) {
            ssize_t r = preadv(fd, v, n, (off_t)off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return r == 0 ? -ENODATA : -errno;
            off += (uint64_t)r, left -= (uint64_t)r;
            while (n && (uint64_t)r >= v->iov_len) {
                r -= (ssize_t)v->iov_len;
                v++, n--;
            }
            if (n && r) {
                v->iov_base = (char *)v->iov_base + r;
                v->iov_len -= (size_t)r;
            }
        }
        for (uint64_t i = 0; i < cp; i++)
            if (ch[c].present >> i & 1)
                gk_sum_update(&sum, rt->heap + (c * cp + i) * ps, ps);
        if (bytes && gk_sum_final(&sum) != ch[c].checksum)
            return -EBADMSG;
    }
    return 0;
}

static void restore_done(void *ctx)
{
    struct gs_restore *r = ctx;
    gk_ps_disarm(r->ps);
    if (!XCHG(&r->done, 1))
        gr_gate_open(r->rt);
}

/* The gate's hurry: a collection (or close) needs every page in. */
static void restore_hurry(void *ctx)
{
    struct gs_restore *r = ctx;
    if (!LOAD(&r->done)) {
        gk_ps_fill_wait(r->ps, -1);
        restore_done(r);
    }
}

int gs_restore(int fd, const struct gs_restore_config *cfg, gr_runtime **out)
{
    if (fd < 0 || !cfg || !out || (cfg->fault_mode != GK_PS_SIGBUS && cfg->fault_mode != GK_PS_THREAD))
        return -EINVAL;
    struct gs_state st;
    struct gk_ps_chunk *chunks = NULL;
    int rc = gs_read_file(fd, &st, &chunks, NULL, 0);
    if (rc < 0)
        return rc;
    uint64_t bad;
    if (cfg->verify && (rc = gs_file_verify(fd, &bad)) < 0) {
        free(chunks);
        gs_state_free(&st);
        return rc;
    }
    const struct gs_header *h = &st.hdr;
    /* the sizing is the file's but for what the caller gives (validated against
     * it by the Python layer; gr_runtime_new checks it again) */
    const struct gr_heap_sizing *s = &cfg->sizing;
    struct gr_config gc = {
        .heap_max = h->heap_capacity, .collector = cfg->collector, .options = cfg->options,
        .collector_config = cfg->collector_config, .heap_address = h->heap_address,
        .sizing = { .initial = s->initial ? s->initial : h->sizing_initial,
                    .min_free = s->min_free ? s->min_free : h->sizing_min_free,
                    .max_free = s->max_free ? s->max_free : h->sizing_max_free,
                    .target_utilization = s->target_utilization > 0 ? s->target_utilization
                                                                    : h->target_utilization },
    };
    gr_runtime *rt = NULL;
    rc = gr_runtime_new(&gc, &rt);
    if (rc == 0 && (rt->capacity != h->heap_capacity || (uintptr_t)rt->heap != h->heap_address))
        rc = -EBADMSG;
    /* the soft limit as recorded, or where the caller's initial put it (gr_heap_init) */
    if (rc == 0)
        set_state(rt, &st, s->initial ? atomic_load(&rt->soft_limit) : h->soft_limit);
    uint64_t reg_len = h->nchunks * h->chunk_pages * h->page_size;
    /* the stored pages above top may hold what a cmc fill left there (the
     * snapshot does not record the dirty range): the claims zero them */
    if (rc == 0 && reg_len > h->used)
        gr_heap_note_dirty(rt, h->used, reg_len);
    struct gs_restore *r = NULL;
    if (rc == 0 && reg_len && !cfg->lazy) {
        rc = read_eagerly(fd, rt, &st, chunks);
    } else if (rc == 0 && reg_len) {
        r = calloc(1, sizeof *r);
        rc = r ? 0 : -ENOMEM;
        if (rc == 0) {
            r->rt = rt;
            r->chunks = chunks;
            pthread_mutex_init(&r->mu, NULL);
            struct gk_ps_config pc = {
                .start = (uintptr_t)rt->heap, .len = reg_len, .block_pages = h->chunk_pages,
                .mode = cfg->fault_mode, .source = GK_PS_FILE, .fd = fd, .file_mmap = cfg->file_mmap,
                .chunks = chunks, .verify = 1, .name = cfg->name,
            };
            rc = gk_ps_create(&pc, &r->ps);
        }
        if (rc == 0)
            rc = gr_gate_close(rt, restore_hurry, r);
        if (rc == 0)
            rc = gk_ps_arm(r->ps, 0);
        if (rc == 0)
            rc = gs_restore_register(r);
        if (rc == 0) {
            chunks = NULL;      /* the restore's now */
            /* without a filler (asked, or it cannot start) faults still serve, and
             * a collection fills the rest first */
            if (!cfg->no_filler)
                gk_ps_fill_start(r->ps, cfg->fill_min ? cfg->fill_min : 64u << 10,
                                 cfg->fill_max ? cfg->fill_max : 4u << 20, restore_done, r);
        }
    }
    if (rc < 0) {
        if (r && r->ps) {
            gk_ps_destroy(r->ps);
            r->ps = NULL;
        }
        if (rt) {
            if (r)
                gr_gate_open(rt);
            gr_runtime_close(rt);       /* unmaps the heap: nothing stays mapped */
        }
        if (r) {
            gs_restore_of(rt, 1);
            free(r);
        }
        free(chunks);
        gs_state_free(&st);
        return rc;
    }
    free(chunks);
    gs_state_free(&st);
    *out = rt;
    return 0;
}

int gs_restore_wait(gr_runtime *rt, int timeout_ms)
{
    struct gs_restore *r = rt ? gs_restore_of(rt, 0) : NULL;
    if (!r || LOAD(&r->done))
        return 0;
    int rc = gk_ps_fill_wait(r->ps, timeout_ms);
    if (rc == 0)
        restore_done(r);
    return rc;
}

int gs_server_stats(gr_runtime *rt, struct gk_ps_stats *out)
{
    if (!rt || !out)
        return -EINVAL;
    struct gs_restore *r = gs_restore_of(rt, 0);
    if (r && r->ps)
        return gk_ps_stats(r->ps, out);
    struct gs_swap *sw = gs_swap_of(rt, 0);
    if (sw && sw->ps)
        return gk_ps_stats(sw->ps, out);
    return -ENOENT;
}

/* Before close: every operation on rt is over and its server gone. */
int gs_release(gr_runtime *rt)
{
    if (!rt)
        return -EINVAL;
    gr_gate_pass(rt);                   /* a snapshot finishes, a swap comes back in, a restore fills */
    struct gs_restore *r = gs_restore_of(rt, 1);
    if (r) {
        if (!r->forked) {
            restore_hurry(r);
            gk_ps_destroy(r->ps);
        }
        gr_gate_quiesce(rt);
        free(r->chunks);
        free(r);
    }
    gr_gate_quiesce(rt);
    return 0;
}
