/* op.c - snapshot and swap-out operations: start (the pause), wait, finish;
 * the swapped-out heap (swap-in, the collection gate's hurry); fork.
 *
 * An op's life:
 *   start    gc_lock; the collector's concurrent work finishes (a running cmc
 *            cycle); the collection gate closes; staging reserved, the page
 *            server made (outside the pause); THE PAUSE (gs_flip); gc_lock
 *            released; the writer thread starts
 *   writing  mutators run; collections wait at the gate
 *   finish   (the writer, or whoever waits for a writer that died) every staged
 *            page is back or in the file; the page server goes (snapshot);
 *            staging unmapped; the gate opens (snapshot, failed swap)
 * A fork() waits for every op and brings every swapped-out heap back first: the
 * child would not inherit the registrations that serve them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot_impl.h"

#define GK_FORK_SNAPSHOT 3      /* above the runtime's rank: its prepare runs first */
#define MAX_SWAPS 64

double gs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- registry: ops in progress and swapped-out heaps, for fork ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gs_swap *swaps[MAX_SWAPS];
static struct gs_op *ops[MAX_SWAPS];
static struct gs_restore *restores[MAX_SWAPS];
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void);
static void fork_parent(void) { pthread_mutex_unlock(&reg_mu); }

/* The child has none of the page servers' threads: its copies are forgotten, never joined. */
static void fork_child(void)
{
    for (int i = 0; i < MAX_SWAPS; i++) {
        if (swaps[i]) {
            swaps[i]->forked = 1;
            pthread_mutex_init(&swaps[i]->mu, NULL);
        }
        if (restores[i])
            restores[i]->forked = 1;
    }
    pthread_mutex_init(&reg_mu, NULL);
}
static void install_fork_hooks(void) { gk_atfork(GK_FORK_SNAPSHOT, fork_prepare, fork_parent, fork_child); }

static int register_op(struct gs_op *op)
{
    pthread_mutex_lock(&reg_mu);
    int rc = -ENOSPC;
    for (int i = 0; i < MAX_SWAPS && rc; i++)
        if (!ops[i]) {
            ops[i] = op;
            rc = 0;
        }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

static void unregister_op(struct gs_op *op)
{
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MAX_SWAPS; i++)
        if (ops[i] == op)
            ops[i] = NULL;
    pthread_mutex_unlock(&reg_mu);
}

struct gs_swap *gs_swap_of(gr_runtime *rt, int create)
{
    pthread_mutex_lock(&reg_mu);
    struct gs_swap *sw = NULL;
    for (int i = 0; i < MAX_SWAPS && !sw; i++)
        if (swaps[i] && swaps[i]->rt == rt)
            sw = swaps[i];
    for (int i = 0; i < MAX_SWAPS && !sw && create; i++)
        if (!swaps[i] && (sw = calloc(1, sizeof *sw))) {
            sw->rt = rt;
            sw->fd = -1;
            pthread_mutex_init(&sw->mu, NULL);
            swaps[i] = sw;
        }
    pthread_mutex_unlock(&reg_mu);
    return sw;
}

int gs_restore_register(struct gs_restore *r)
{
    pthread_once(&fork_once, install_fork_hooks);
    pthread_mutex_lock(&reg_mu);
    int rc = -ENOSPC;
    for (int i = 0; i < MAX_SWAPS && rc; i++)
        if (!restores[i]) {
            restores[i] = r;
            rc = 0;
        }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

struct gs_restore *gs_restore_of(gr_runtime *rt, int remove)
{
    pthread_mutex_lock(&reg_mu);
    struct gs_restore *r = NULL;
    for (int i = 0; i < MAX_SWAPS && !r; i++)
        if (restores[i] && restores[i]->rt == rt) {
            r = restores[i];
            if (remove)
                restores[i] = NULL;
        }
    pthread_mutex_unlock(&reg_mu);
    return r;
}

/* Every op finishes and every swapped-out heap comes back before a fork; the
 * registry stays locked (no new op) until the parent hook. Runs before the
 * runtime's prepare (higher rank), so no gc_lock is held and mutators run. */
static void fork_prepare(void)
{
    for (;;) {
        pthread_mutex_lock(&reg_mu);
        struct gs_op *op = NULL;
        gr_runtime *rt = NULL;
        for (int i = 0; i < MAX_SWAPS && !op && !rt; i++) {
            if (ops[i])
                op = ops[i];
            else if (swaps[i] && LOAD(&swaps[i]->state) != SWAP_NONE && !swaps[i]->forked)
                rt = swaps[i]->rt;
            else if (restores[i] && !LOAD(&restores[i]->done) && !restores[i]->forked)
                rt = restores[i]->rt;
        }
        if (!op && !rt)
            return;             /* reg_mu stays held across the fork */
        pthread_mutex_unlock(&reg_mu);
        if (op)
            gs_op_wait(op, -1, NULL);   /* it unregisters itself when it finishes */
        else
            gr_gate_pass(rt);           /* the owner's hurry: back in (swap), filled (restore) */
    }
}

/* ---- an op ---- */

struct gs_op *gs_op_new(gr_runtime *rt, int fd, const struct gs_config *cfg, int kind)
{
    struct gs_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->rt = rt;
    op->cfg = *cfg;
    op->kind = kind;
    op->fd = fd;
    op->psize = GR_PAGE;
    op->cp = cfg->chunk_pages ? cfg->chunk_pages : GS_DEFAULT_CHUNK_PAGES;
    op->chunk_bytes = op->cp * op->psize;
    op->file_pos = op->psize;           /* data after the header page */
    if (!op->cfg.batch_bytes)
        op->cfg.batch_bytes = GS_DEFAULT_BATCH;
    op->heap = (uintptr_t)rt->heap;
    op->capacity = rt->capacity;
    op->inj_count = cfg->inject_nth > 0 ? cfg->inject_nth : 1;
    op->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    op->rep.kind = kind;
    op->rep.mode = cfg->mode;
    pthread_mutex_init(&op->mu, NULL);
    pthread_cond_init(&op->cv, NULL);
    op->stalls = malloc(GS_STALLS * sizeof(double));
    op->meta = malloc(cfg->meta_len + 1);       /* the caller's buffer may go before the writer is done */
    if (op->meta && cfg->meta_len)
        memcpy(op->meta, cfg->meta, cfg->meta_len);
    op->cfg.meta = op->meta;
    op->state.classes = malloc(GR_MAX_CLASSES * sizeof(struct gr_class));
    op->state.globals = malloc(GR_MAX_GLOBALS * sizeof(uint64_t));
    if (!op->state.classes || !op->state.globals || !op->stalls || !op->meta) {
        gs_op_release(op);
        return NULL;
    }
    return op;
}

void gs_op_release(struct gs_op *op)
{
    if (op->statm_fd >= 0)
        close(op->statm_fd);
    gs_state_free(&op->state);
    if (!op->sw)
        free(op->chunks);       /* a swap's table belongs to the swap */
    free(op->reuse);
    free(op->stalls);
    free(op->meta);
    pthread_mutex_destroy(&op->mu);
    pthread_cond_destroy(&op->cv);
    free(op);
}

static int validate(const struct gs_config *cfg)
{
    uint32_t cp = cfg->chunk_pages;
    if (cfg->mode < GS_MODE_DONTUNMAP || cfg->mode > GS_MODE_STW ||
        (cfg->fault_mode != GK_PS_SIGBUS && cfg->fault_mode != GK_PS_THREAD) ||
        (cp && (cp > GK_PS_MAX_BLOCK_PAGES || (cp & (cp - 1)))) || (cfg->meta_len && !cfg->meta) ||
        cfg->inject_point < GS_INJ_NONE || cfg->inject_point > GS_INJ_FLIP || cfg->wp_rounds < 0 ||
        cfg->writer_delay_us < 0 || cfg->writer_delay_us > 1000000)
        return -EINVAL;
    return 0;
}

/* World stopped (gr_pause_run's body): capture, then move and arm. */
static int pause_body(struct gr_runtime *rt, struct gr_pause *out, void *arg)
{
    struct gs_op *op = arg;
    uint64_t t = gr_now_ns();
    gs_capture_state(rt, &op->state);
    op->used = op->state.hdr.used;
    op->used_pages = (op->used + op->psize - 1) / op->psize;
    op->nchunks = (op->used_pages + op->cp - 1) / op->cp;
    op->reg_len = op->nchunks * op->chunk_bytes;
    op->rep.heap_bytes = op->used;
    op->rep.rss_before = gs_rss(op);
    out->live_bytes = out->used_before;
    int rc = 0;
    if (op->sw)
        rc = gs_swap_pause(op);
    if (rc == 0 && op->cfg.mode == GS_MODE_STW)
        rc = gs_snapshot_stw(op);
    else if (rc == 0 && op->reg_len && op->cfg.mode == GS_MODE_DONTUNMAP)
        rc = gs_flip(op);
    out->phase_ns[GR_PHASE_FLIP] = gr_now_ns() - t;
    op->rep.flip_s = (double)out->phase_ns[GR_PHASE_FLIP] * 1e-9;
    return rc;
}

/* The hurry of a snapshot's gate: finish it now (a collection or close waits). */
static void op_hurry(void *ctx)
{
    gs_op_wait(ctx, -1, NULL);
}

/* Everything of a snapshot before the pause that can fail, or that decides how
 * it goes: its chunk table, its page server and whether it can move pages. */
static int prepare_snapshot(struct gs_op *op)
{
    op->chunks = calloc(op->capacity / op->chunk_bytes + 1, sizeof *op->chunks);
    if (!op->chunks)
        return -ENOMEM;
    if (op->cfg.mode != GS_MODE_DONTUNMAP)
        return 0;
    /* a mutator's fault copies one page: its stall is one page's */
    struct gk_ps_config pc = {
        .start = op->heap, .len = op->capacity, .mode = op->cfg.fault_mode, .source = GK_PS_COPY,
        .region = op->staging, .fd = -1, .block_pages = 1,
    };
    int rc = gk_ps_create(&pc, &op->ps);
    /* the give-back's MOVE needs Linux 6.8: without it, every page goes back by
     * COPY (gs_give_back); known here, before the pause, and reported */
    if (rc == 0)
        op->rep.move_fallback = !(gk_ps_features(op->ps) & GK_FEATURE_MOVE);
    return rc;
}

static void release_prepared(struct gs_op *op)
{
    if (op->ps && !op->sw)
        gk_ps_destroy(op->ps);
    op->ps = NULL;
    if (op->staging && !op->sw)
        gk_unmap(op->staging, op->capacity);
    op->staging = 0;
}

/* gc_lock held: the collector's concurrent work is over, the gate is ours. */
static int start_locked(struct gs_op *op)
{
    struct gr_runtime *rt = op->rt;
    struct gr_pause p;
    int rc = gr_pause_run(rt, GR_CAUSE_EXPLICIT, GR_PAUSE_SNAPSHOT, pause_body, op, &p);
    op->rep.pause_s = (double)p.pause_ns * 1e-9;
    return rc;
}

static int start(gr_runtime *rt, int fd, const struct gs_config *cfg, int kind, struct gs_op **out)
{
    if (!rt || fd < 0 || !cfg || !out)
        return -EINVAL;
    int rc = validate(cfg);
    if (rc < 0)
        return rc;
    pthread_once(&fork_once, install_fork_hooks);
    struct gs_op *op = gs_op_new(rt, fd, cfg, kind);
    if (!op)
        return -ENOMEM;
    op->t0_ns = (uint64_t)(gs_now() * 1e9);
    struct gs_swap *sw = NULL;
    pthread_mutex_lock(&rt->gc_lock);
    if (atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        gs_op_release(op);
        return -ESHUTDOWN;
    }
    if (rt->ops->wait && (rc = rt->ops->wait(rt, -1)) < 0) {   /* a running cmc cycle finishes first */
        pthread_mutex_unlock(&rt->gc_lock);
        gs_op_release(op);
        return rc;
    }
    /* one owner of the heap's pages at a time: another one finishes first
     * (a swap-out over a swapped-out heap is the incremental one: it stays) */
    sw = kind == GS_KIND_SWAP ? gs_swap_of(rt, 1) : NULL;
    if (kind == GS_KIND_SWAP && !sw)
        rc = -ENOMEM;
    if (rc == 0 && (!sw || gr_gate_owner(rt) != sw))
        gr_gate_pass(rt);
    uint64_t align = op->capacity >= (1ull << 30) ? (1ull << 30) : (2ull << 20);
    if (rc == 0)
        rc = gk_reserve(op->capacity, align, &op->staging);   /* aligned like the heap: page tables move whole */
    int gate = 0;
    if (rc == 0 && sw) {
        if (gr_gate_owner(rt) != sw && (rc = gr_gate_close(rt, gs_swap_hurry, sw)) == 0)
            gate = 1;
        if (rc == 0)
            rc = gs_swap_prepare(sw, op);
    } else if (rc == 0) {
        if ((rc = gr_gate_close(rt, op_hurry, op)) == 0)
            gate = 1;
        if (rc == 0)
            rc = prepare_snapshot(op);
    }
    if (rc == 0)
        rc = register_op(op);
    if (rc == 0) {
        /* WP pre-copies with gc_lock held (a collection waits for it there: it
         * must not wait at the gate while holding the lock the last pause needs) */
        rc = op->cfg.mode == GS_MODE_WP ? gs_snapshot_wp(op) : start_locked(op);
        if (rc < 0)
            unregister_op(op);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&rt->gc_lock);
        if (op->sw)
            gs_swap_abort(op->sw, op);      /* back in, tracking dropped, gate open */
        release_prepared(op);
        if (!op->sw && gate)
            gr_gate_open(rt);
        gr_gate_quiesce(rt);
        gs_op_release(op);
        return rc;
    }
    pthread_mutex_unlock(&rt->gc_lock);
    if (op->cfg.mode == GS_MODE_WP) {
        gs_finish(op, 0);               /* written, metadata too */
    } else if (op->cfg.mode == GS_MODE_STW || op->reg_len == 0) {
        rc = gs_write_metadata(op);     /* the data was written in the pause (or there is none) */
        gs_finish(op, rc);
    } else {
        rc = -pthread_create(&op->writer, NULL, gs_writer_main, op);
        if (rc == 0) {
            pthread_setname_np(op->writer, "gs-writer");
            op->writer_started = 1;
        } else {
            gs_finish(op, rc);  /* every page goes back */
        }
    }
    *out = op;
    return 0;
}

int gs_snapshot_start(gr_runtime *rt, int fd, const struct gs_config *cfg, struct gs_op **out)
{
    return start(rt, fd, cfg, GS_KIND_SNAPSHOT, out);
}

int gs_swap_out(gr_runtime *rt, int fd, const struct gs_config *cfg, struct gs_op **out)
{
    if (cfg && cfg->mode != GS_MODE_DONTUNMAP)
        return -EINVAL;
    return start(rt, fd, cfg, GS_KIND_SWAP, out);
}

void gs_finish(struct gs_op *op, int rc)
{
    if (XCHG(&op->finishing, 1))
        return;
    struct gr_runtime *rt = op->rt;
    if (op->ps && op->reg_len) {
        if (rc < 0) {
            /* everything still staged goes back: the heap is intact */
            if (op->kind == GS_KIND_SNAPSHOT) {
                op->rep.pages_moved_back += gs_give_back(op, 0, op->reg_len / op->psize);
            } else {
                uint64_t chunks = 0;
                gk_ps_install(op->ps, 0, op->reg_len / op->chunk_bytes, 0, GK_PS_DROP_PRESENT, &chunks);
                op->rep.pages_moved_back += chunks * op->cp;
            }
        }
        /* the server's counters start at this op's pause (a new server, or the
         * swap's reset in gs_swap_pause); a swap's server goes on serving after
         * the op, so what it counts from now on is not the op's */
        struct gk_ps_stats st;
        if (gk_ps_stats(op->ps, &st) == 0)
            op->rep.pages_served = st.blocks_by_fault * (op->kind == GS_KIND_SNAPSHOT ? 1 : op->cp);
    }
    if (op->ps) {
        op->nstalls = gk_ps_stalls(op->ps, op->stalls, GS_STALLS);   /* kept past the server, or its next faults */
        if (op->nstalls < 0)
            op->nstalls = 0;
    }
    if (op->kind == GS_KIND_SNAPSHOT) {
        if (op->ps) {
            gk_ps_disarm(op->ps);
            gk_ps_destroy(op->ps);  /* joins its thread, waits for handlers */
            op->ps = NULL;
        }
    }
    if (op->staging && !op->sw) {
        gk_unmap(op->staging, op->capacity);
        op->staging = 0;
    }
    op->rep.error = rc < 0 ? rc : 0;
    op->rep.done = 1;
    op->rep.total_s = gs_now() - (double)op->t0_ns * 1e-9;
    if (op->kind == GS_KIND_SWAP)
        gs_swap_finished(op->sw, op, rc);
    else
        gr_gate_open(rt);
    unregister_op(op);
    pthread_mutex_lock(&op->mu);
    op->status = OP_DONE;
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

int gs_op_wait(struct gs_op *op, int timeout_ms, struct gs_report *out)
{
    if (!op)
        return -EINVAL;
    double deadline = timeout_ms < 0 ? 0 : gs_now() + timeout_ms / 1000.0;
    pthread_mutex_lock(&op->mu);
    while (op->status == OP_RUNNING) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&op->cv, &op->mu, &ts);
        if (timeout_ms >= 0 && op->status == OP_RUNNING && gs_now() > deadline) {
            pthread_mutex_unlock(&op->mu);
            return -ETIMEDOUT;
        }
    }
    int died = op->status == OP_DIED;
    pthread_mutex_unlock(&op->mu);
    if (died)
        gs_finish(op, -ECANCELED);  /* the writer is gone: its work is finished here */
    pthread_mutex_lock(&op->mu);
    while (op->status != OP_DONE)
        pthread_cond_wait(&op->cv, &op->mu);
    pthread_mutex_unlock(&op->mu);
    if (out)
        *out = op->rep;
    return op->rep.error;
}

int gs_op_stalls(struct gs_op *op, double *out, int max)
{
    if (!op || !out || max < 0)
        return -EINVAL;
    if (LOAD(&op->status) != OP_DONE)
        return -EAGAIN;         /* still writing: ask when it is done */
    int n = op->nstalls < max ? op->nstalls : max;
    memcpy(out, op->stalls, (size_t)n * sizeof(double));
    return n;
}

void gs_op_free(struct gs_op *op)
{
    if (!op)
        return;
    gs_op_wait(op, -1, NULL);
    if (op->writer_started)
        pthread_join(op->writer, NULL);
    gr_gate_quiesce(op->rt);
    gs_op_release(op);
}
