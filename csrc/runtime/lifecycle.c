/* lifecycle.c - creating and closing a runtime.
 *
 * A runtime is created with its collector's ops (csrc/gc picks them by id):
 * the class table, the root tables and the heap reservation first, then the
 * collector's init. Close refuses while an interpreter program runs on the
 * runtime (its thread would touch the heap after it is gone), then ends the
 * collector's concurrent work, stops the world and frees everything but the
 * small struct, so that a late call gets -ESHUTDOWN instead of a crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_impl.h"

static _Atomic uint64_t next_runtime_serial = 1;

static void free_tables(struct gr_runtime *rt)
{
    gr_heap_fini(rt);
    gr_roots_fini(rt);
    free(rt->classes);
    rt->classes = NULL;
}

int gr_runtime_create(const struct gr_config *cfg, const struct gr_collector_ops *ops, gr_runtime **out)
{
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("popcnt"))
        return -ENOTSUP;
#endif
    if (!cfg || !ops || !ops->init || !ops->collect || !out || (cfg->options & ~(GR_OPT_VERIFY | GR_OPT_STRESS)))
        return -EINVAL;
    struct gr_runtime *rt;
    if (posix_memalign((void **)&rt, 64, sizeof *rt))
        return -ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->serial = atomic_fetch_add(&next_runtime_serial, 1);
    rt->options = cfg->options;
    rt->ops = ops;
    pthread_mutex_init(&rt->class_lock, NULL);
    pthread_mutex_init(&rt->handle_lock, NULL);
    pthread_mutex_init(&rt->pause_lock, NULL);
    pthread_cond_init(&rt->pause_cond, NULL);
    pthread_mutex_init(&rt->gc_lock, NULL);
    pthread_mutex_init(&rt->stats_lock, NULL);
    pthread_mutex_init(&rt->roots_lock, NULL);
    pthread_mutex_init(&rt->gate_mu, NULL);
    pthread_cond_init(&rt->gate_cv, NULL);
    atomic_store(&rt->gc_trigger, UINT64_MAX);
    int rc;
    if ((rc = gr_classes_init(rt)) || (rc = gr_roots_init(rt)) || (rc = gr_heap_init(rt, cfg)) ||
        (rc = ops->init(rt, cfg->collector_config))) {
        free_tables(rt);
        free(rt);
        return rc;
    }
    if ((rc = gr_fork_register(rt)) < 0) {     /* last: from now on a fork holds our locks */
        if (ops->fini)
            ops->fini(rt);
        free_tables(rt);
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int gr_runtime_close(gr_runtime *rt)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    if (!atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        gr_gate_pass(rt);       /* a snapshot, swap or restore finishes first: the heap must be whole */
        pthread_mutex_lock(&rt->gc_lock);
    }
    if (atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        return 0;
    }
    pthread_mutex_lock(&rt->roots_lock);   /* no program starts between the check and closed */
    if (atomic_load(&rt->programs) > 0) {
        pthread_mutex_unlock(&rt->roots_lock);
        pthread_mutex_unlock(&rt->gc_lock);
        return -EBUSY;
    }
    pthread_mutex_lock(&rt->stats_lock);    /* statistics readers check closed under it */
    atomic_store(&rt->closed, 1);
    pthread_mutex_unlock(&rt->stats_lock);
    pthread_mutex_unlock(&rt->roots_lock);
    if (rt->ops->fini)
        rt->ops->fini(rt);      /* the heap must be whole before it goes */
    gr_stop_world_locked(rt);
    free_tables(rt);
    gr_resume_world_locked(rt);
    pthread_mutex_unlock(&rt->gc_lock);
    return 0;
}
