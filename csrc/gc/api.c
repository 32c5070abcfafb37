/* api.c - the collector layer's public entry points: the runtime constructor
 * (the collector picked by id) and the test hook that builds every destination
 * page from a private copy of the heap. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc_impl.h"

int gr_runtime_new(const struct gr_config *cfg, gr_runtime **out)
{
    if (!cfg || !out)
        return -EINVAL;
    const struct gr_collector_ops *ops = gr_collector_by_id(cfg->collector);
    if (!ops)
        return -EINVAL;
    return gr_runtime_create(cfg, ops, out);
}

int64_t gr_debug_compact_to_buffer(gr_runtime *rt, char *out, uint64_t cap)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->gc_lock);
    int64_t rc = 0;
    if (atomic_load(&rt->closed)) {
        pthread_mutex_unlock(&rt->gc_lock);
        return -ESHUTDOWN;
    }
    if (rt->ops->wait && (rc = rt->ops->wait(rt, -1)) < 0) {   /* a cycle reads the tables */
        pthread_mutex_unlock(&rt->gc_lock);
        return rc;
    }
    gr_stop_world_locked(rt);
    gr_retire_all_tlabs(rt);
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    char *image = malloc(used + GR_PAGE);
    if (!image) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(image, rt->heap, used);
    if ((rc = gr_phase_mark(rt)) < 0)
        goto out;
    gr_phase_compute_liveness(rt);
    uint64_t moved;
    gr_phase_compute_page_metadata(rt, &moved);
    if (gr_cx(rt)->n_dst_pages * GR_PAGE > cap) {
        rc = -ERANGE;
        goto out;
    }
    for (uint64_t p = 0; p < gr_cx(rt)->n_dst_pages && rc == 0; p++)
        rc = gr_compact_page(gr_cx(rt), p, image, out + p * GR_PAGE);
    if (rc == 0)
        rc = (int64_t)gr_cx(rt)->live_bytes;
out:
    free(image);
    gr_resume_world_locked(rt);
    pthread_mutex_unlock(&rt->gc_lock);
    return rc;
}
