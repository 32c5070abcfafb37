/* stats.c - the pause log: every pause with its phase breakdown. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_impl.h"

static const char *const phase_names[GR_NPHASES] = {
    "safepoint", "verify_before", "mark", "compute_liveness", "compute_page_metadata",
    "update_roots", "compact", "release", "verify_after", "mark_roots", "satb_flush", "remark_drain",
    "black_allocations", "flip", "check",
};

const char *gr_phase_name(int phase)
{
    return phase >= 0 && phase < GR_NPHASES ? phase_names[phase] : "";
}

void gr_stats_record(struct gr_runtime *rt, struct gr_pause *p)
{
    pthread_mutex_lock(&rt->stats_lock);
    if (rt->npauses == rt->pauses_cap) {
        uint64_t cap = rt->pauses_cap ? 2 * rt->pauses_cap : 64;
        struct gr_pause *n = realloc(rt->pauses, cap * sizeof *n);
        if (n) {
            rt->pauses = n;
            rt->pauses_cap = cap;
        }
    }
    rt->npauses++;
    p->seq = rt->npauses;
    if (rt->npauses <= rt->pauses_cap) {
        rt->pauses[rt->npauses - 1] = *p;
        rt->pauses[rt->npauses - 1].seq = rt->npauses;
    }
    rt->total_pause_ns += p->pause_ns;
    if (p->pause_ns > rt->max_pause_ns)
        rt->max_pause_ns = p->pause_ns;
    pthread_mutex_unlock(&rt->stats_lock);
}

int gr_stats(gr_runtime *rt, struct gr_stats *out)
{
    if (!rt)
        return -EBADF;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rt->stats_lock);
    out->collections = atomic_load(&rt->gc_epoch);   /* a concurrent cycle has several pauses */
    out->total_pause_ns = rt->total_pause_ns;
    out->max_pause_ns = rt->max_pause_ns;
    out->bytes_allocated = rt->dead_bytes_allocated;
    out->objects_allocated = rt->dead_objects_allocated;
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++) {
        out->bytes_allocated += __atomic_load_n(&rt->mutators[i].bytes_allocated, __ATOMIC_RELAXED);
        out->objects_allocated += __atomic_load_n(&rt->mutators[i].objects_allocated, __ATOMIC_RELAXED);
        out->mutators += atomic_load(&rt->mutators[i].owner) != 0;
    }
    out->handles_live = __atomic_load_n(&rt->handles_live, __ATOMIC_RELAXED);
    out->classes = atomic_load(&rt->nclasses) - GR_FIRST_USER_CLASS;
    out->alloc_stalls = atomic_load(&rt->alloc_stalls);
    out->alloc_stall_ns = atomic_load(&rt->alloc_stall_ns);
    out->soft_limit_raises = atomic_load(&rt->soft_limit_raises);
    out->claim_zeroed_bytes = atomic_load(&rt->claim_zeroed_bytes);
    pthread_mutex_unlock(&rt->stats_lock);
    return atomic_load(&rt->closed) ? -ESHUTDOWN : 0;
}

int64_t gr_pause_count(gr_runtime *rt)
{
    if (!rt)
        return -EBADF;
    pthread_mutex_lock(&rt->stats_lock);
    int64_t n = (int64_t)(rt->npauses < rt->pauses_cap ? rt->npauses : rt->pauses_cap);
    pthread_mutex_unlock(&rt->stats_lock);
    return n;
}

int gr_pause_get(gr_runtime *rt, int64_t i, struct gr_pause *out)
{
    if (!rt)
        return -EBADF;
    int rc = 0;
    pthread_mutex_lock(&rt->stats_lock);
    uint64_t n = rt->npauses < rt->pauses_cap ? rt->npauses : rt->pauses_cap;
    if (i < 0 || (uint64_t)i >= n)
        rc = -ERANGE;
    else
        *out = rt->pauses[i];
    pthread_mutex_unlock(&rt->stats_lock);
    return rc;
}
