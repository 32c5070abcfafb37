/* pause.c - the one way a collector stops the world, and collections.
 *
 * A pause: request it (mutators park at their next entry or safepoint poll),
 * wait until none is in core, retire every TLAB (so [heap, top) parses), run
 * the collector's pause body, resume, let the collector's threads go
 * (after_pause), log the pause. Each pause of a concurrent cycle (start,
 * remark, flip) is one gr_pause_run with its own kind and log entry.
 * The collection gate lets a snapshot or a swapped-out heap hold collections
 * off while it owns the heap's pages. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "runtime/runtime_impl.h"

int gr_pause_run(struct gr_runtime *rt, int cause, int kind, gr_pause_fn fn, void *arg, struct gr_pause *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load(&rt->closed))
        return -ESHUTDOWN;
    out->collector = rt->ops->id;
    out->cause = cause;
    out->kind = kind;
    out->rss_before = gr_heap_resident(rt); /* sampled just before the pause */
    uint64_t t0 = gr_now_ns();
    out->start_ns = t0;
    gr_stop_world_locked(rt);
    out->phase_ns[GR_PHASE_SAFEPOINT] = gr_now_ns() - t0;
    gr_retire_all_tlabs(rt);
    out->used_before = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    int rc = fn(rt, out, arg);
    /* The pause ends when the world is released: stamp it first, because waking
     * the parked mutators may preempt this thread (2 cores: measured up to ms). */
    out->pause_ns = gr_now_ns() - t0;
    gr_resume_world_locked(rt);
    if (rt->ops->after_pause)
        rt->ops->after_pause(rt);
    if (rc < 0)
        return rc;
    if (out->used_before >= out->live_bytes)
        out->freed_bytes = out->used_before - out->live_bytes;
    out->rss_after = gr_heap_resident(rt);
    gr_stats_record(rt, out);
    return 0;
}

/* ---- the collection gate (runtime_impl.h) ---- */

int gr_gate_close(struct gr_runtime *rt, void (*hurry)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&rt->gate_mu);
    int rc = rt->gate_closed ? -EBUSY : 0;
    if (rc == 0) {
        rt->gate_closed = 1;
        rt->gate_hurry = hurry;
        rt->gate_ctx = ctx;
    }
    pthread_mutex_unlock(&rt->gate_mu);
    return rc;
}

void gr_gate_open(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->gate_mu);
    rt->gate_closed = 0;
    rt->gate_hurry = NULL;
    rt->gate_ctx = NULL;
    rt->gate_gen++;
    pthread_cond_broadcast(&rt->gate_cv);
    pthread_mutex_unlock(&rt->gate_mu);
}

void gr_gate_pass(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->gate_mu);
    while (rt->gate_closed) {
        void (*hurry)(void *) = rt->gate_hurry;
        void *ctx = rt->gate_ctx;
        uint64_t gen = rt->gate_gen;
        rt->gate_hurrying++;
        pthread_mutex_unlock(&rt->gate_mu);
        if (hurry)
            hurry(ctx);                     /* the owner finishes now (may open the gate) */
        pthread_mutex_lock(&rt->gate_mu);
        rt->gate_hurrying--;
        pthread_cond_broadcast(&rt->gate_cv);
        while (rt->gate_closed && rt->gate_gen == gen)
            pthread_cond_wait(&rt->gate_cv, &rt->gate_mu);
    }
    pthread_mutex_unlock(&rt->gate_mu);
}

void gr_gate_quiesce(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->gate_mu);
    while (rt->gate_hurrying)
        pthread_cond_wait(&rt->gate_cv, &rt->gate_mu);
    pthread_mutex_unlock(&rt->gate_mu);
}

void *gr_gate_owner(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->gate_mu);
    void *ctx = rt->gate_closed ? rt->gate_ctx : NULL;
    pthread_mutex_unlock(&rt->gate_mu);
    return ctx;
}

/* gc_lock held, caller out of core. Passes the collection gate first: a
 * collection requested during a snapshot waits for it. A paced one (the
 * collector starting early on its own) is not worth bringing a swapped-out heap
 * back for: it is skipped (-EAGAIN); one the heap needs comes soon enough. */
int gr_collect(struct gr_runtime *rt, int cause, struct gr_pause *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load(&rt->closed))
        return -ESHUTDOWN;
    if (cause == GR_CAUSE_PACED && gr_gate_owner(rt))
        return -EAGAIN;
    gr_gate_pass(rt);
    if (atomic_load(&rt->closed))
        return -ESHUTDOWN;
    int rc = rt->ops->collect(rt, cause, out);
    if (rc == 0)
        atomic_fetch_add(&rt->gc_epoch, 1);
    return rc;
}

int gr_gc(gr_runtime *rt, struct gr_pause *out)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    int rc = gr_collect(rt, GR_CAUSE_EXPLICIT, out);
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}
