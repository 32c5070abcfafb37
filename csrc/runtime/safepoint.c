/* safepoint.c - mutator threads and the pause protocol.
 *
 * Every thread that calls into the C core is a mutator, attached on first use
 * (a slot in rt->mutators, found again through a thread-local cache). A thread
 * outside the core is at a safepoint: all its roots are handles.
 *
 *   mutator entry:  in_core = 1 (seq_cst); if pause_requested: in_core = 0, wait, retry
 *   collector:      pause_requested = 1 (seq_cst); wait until every in_core == 0
 *
 * Both sides store then load with seq_cst, so at least one sees the other: a
 * mutator is either seen in core (and waited for) or sees the request (and parks).
 * Fast path: one store, one load, one branch (plus the closed check). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "runtime/runtime_impl.h"

__thread int gr_enter_err;

static _Atomic uint64_t next_thread_serial = 1;
static __thread uint64_t tl_serial;
static __thread struct gr_runtime *tl_rt;
static __thread struct gr_mutator *tl_m;

/* Every (runtime, slot) this thread holds, released when the thread exits.
 * Runtime structs are never freed (see gr_runtime_close), so this stays valid. */
struct attach_rec {
    struct gr_runtime *rt;
    struct gr_mutator *m;
};
static __thread struct attach_rec *tl_recs;
static __thread int tl_nrecs, tl_caprecs;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void release_slot(struct gr_runtime *rt, struct gr_mutator *m)
{
    pthread_mutex_lock(&rt->stats_lock);
    rt->dead_bytes_allocated += m->bytes_allocated;
    rt->dead_objects_allocated += m->objects_allocated;
    __atomic_store_n(&m->bytes_allocated, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&m->objects_allocated, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&rt->stats_lock);
    /* The TLAB stays with the slot: the next owner keeps bumping in it. */
    atomic_store(&m->in_core, 0);
    atomic_store(&m->waiting_gc, 0);
    atomic_store(&m->owner, 0);
}

static void on_thread_exit(void *unused)
{
    for (int i = 0; i < tl_nrecs; i++)
        release_slot(tl_recs[i].rt, tl_recs[i].m);
    free(tl_recs);
    tl_recs = NULL;
    tl_nrecs = tl_caprecs = 0;
    tl_rt = NULL;
    tl_m = NULL;
}

static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static int remember(struct gr_runtime *rt, struct gr_mutator *m)
{
    if (tl_nrecs == tl_caprecs) {
        /* drop records of closed runtimes before growing */
        int j = 0;
        for (int i = 0; i < tl_nrecs; i++)
            if (!atomic_load(&tl_recs[i].rt->closed))
                tl_recs[j++] = tl_recs[i];
        tl_nrecs = j;
    }
    if (tl_nrecs == tl_caprecs) {
        int cap = tl_caprecs ? 2 * tl_caprecs : 8;
        struct attach_rec *r = realloc(tl_recs, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        tl_recs = r;
        tl_caprecs = cap;
    }
    tl_recs[tl_nrecs++] = (struct attach_rec){rt, m};
    pthread_once(&exit_once, make_exit_key);
    pthread_setspecific(exit_key, (void *)1);
    return 0;
}

/* Finds or claims this thread's slot in rt (slow path of gr_enter). */
static struct gr_mutator *attach(struct gr_runtime *rt)
{
    if (!tl_serial)
        tl_serial = atomic_fetch_add(&next_thread_serial, 1);
    struct gr_mutator *m = NULL;
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n && !m; i++)
        if (atomic_load(&rt->mutators[i].owner) == tl_serial)
            m = &rt->mutators[i];   /* attached before; only the cache missed */
    for (int i = 0; i < GR_MAX_MUTATORS && !m; i++) {
        uint64_t zero = 0;
        if (atomic_load(&rt->mutators[i].owner) == 0 &&
            atomic_compare_exchange_strong(&rt->mutators[i].owner, &zero, tl_serial)) {
            /* publish the slot (nmutators) before it can ever be in core */
            int hw = atomic_load(&rt->nmutators);
            while (hw < i + 1 && !atomic_compare_exchange_weak(&rt->nmutators, &hw, i + 1))
                ;
            if (remember(rt, &rt->mutators[i]) < 0) {
                atomic_store(&rt->mutators[i].owner, 0);
                gr_enter_err = -ENOMEM;
                return NULL;
            }
            m = &rt->mutators[i];
        }
    }
    if (!m) {
        gr_enter_err = -EAGAIN; /* every slot is taken by a live thread */
        return NULL;
    }
    tl_rt = rt;
    tl_m = m;
    return m;
}

static void wait_pause_end(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->pause_lock);
    while (atomic_load(&rt->pause_requested))
        pthread_cond_wait(&rt->pause_cond, &rt->pause_lock);
    pthread_mutex_unlock(&rt->pause_lock);
}

struct gr_mutator *gr_enter(struct gr_runtime *rt)
{
    struct gr_mutator *m;
    if (__builtin_expect(tl_rt == rt && rt != NULL, 1)) {
        m = tl_m;
    } else {
        if (!rt) {
            gr_enter_err = -EBADF;
            return NULL;
        }
        if (atomic_load(&rt->closed)) {
            gr_enter_err = -ESHUTDOWN;
            return NULL;
        }
        m = attach(rt);
        if (!m)
            return NULL;
    }
    for (;;) {
        atomic_store(&m->in_core, 1);
        if (__builtin_expect(!atomic_load(&rt->pause_requested), 1))
            break;
        atomic_store(&m->in_core, 0);
        wait_pause_end(rt);
    }
    if (__builtin_expect(atomic_load_explicit(&rt->closed, memory_order_relaxed), 0)) {
        gr_leave(m);
        gr_enter_err = -ESHUTDOWN;
        return NULL;
    }
    return m;
}

/* Long C loops call this: parks the thread if a pause was requested. Returns
 * -ESHUTDOWN if the runtime was closed meanwhile (the caller must not touch the
 * heap then, and must still gr_leave), else 0. Raw heap addresses held across
 * the call are stale: resolve handles again. */
int gr_safepoint_poll(struct gr_runtime *rt, struct gr_mutator *m)
{
    while (atomic_load(&rt->pause_requested)) {
        gr_leave(m);
        wait_pause_end(rt);
        atomic_store(&m->in_core, 1);
    }
    return atomic_load(&rt->closed) ? -ESHUTDOWN : 0;
}

/* gc_lock held, caller out of core: requests the pause and waits until every
 * mutator has left the core (or parked). */
static void stop_world(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->pause_lock);
    atomic_store(&rt->pause_requested, 1);
    pthread_mutex_unlock(&rt->pause_lock);
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++) {
        unsigned spins = 0;
        while (atomic_load(&rt->mutators[i].in_core)) {
            if (++spins < 64)
                __builtin_ia32_pause();
            else
                sched_yield();
        }
    }
}

static void resume_world(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->pause_lock);
    atomic_store(&rt->pause_requested, 0);
    pthread_cond_broadcast(&rt->pause_cond);
    pthread_mutex_unlock(&rt->pause_lock);
}

/* The collector hook: stop every mutator (caller must be out of core). */
void gr_pause_begin(struct gr_runtime *rt)
{
    pthread_mutex_lock(&rt->gc_lock);
    stop_world(rt);
}

void gr_pause_end(struct gr_runtime *rt)
{
    resume_world(rt);
    pthread_mutex_unlock(&rt->gc_lock);
}

/* Fork child (fork.c, world stopped, locks re-initialised): the slots of the
 * threads that stayed in the parent are released; their TLABs stay with the
 * slots (retired as fillers at the next pause). */
void gr_mutators_after_fork(struct gr_runtime *rt)
{
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++) {
        struct gr_mutator *m = &rt->mutators[i];
        uint64_t owner = atomic_load(&m->owner);
        if (owner == 0 || (tl_serial && owner == tl_serial))
            continue;
        rt->dead_bytes_allocated += m->bytes_allocated;
        rt->dead_objects_allocated += m->objects_allocated;
        m->bytes_allocated = m->objects_allocated = 0;
        atomic_store(&m->in_core, 0);
        atomic_store(&m->owner, 0);
    }
}

/* Same with gc_lock already held (the allocation path takes it itself). */
void gr_stop_world_locked(struct gr_runtime *rt) { stop_world(rt); }
void gr_resume_world_locked(struct gr_runtime *rt) { resume_world(rt); }

int gr_mutators_busy(struct gr_runtime *rt)
{
    int n = atomic_load(&rt->nmutators);
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&rt->mutators[i].owner, memory_order_relaxed) != 0 &&
            !atomic_load_explicit(&rt->mutators[i].waiting_gc, memory_order_relaxed))
            return 1;
    return 0;
}

void gr_waiting_gc(struct gr_runtime *rt, int on)
{
    struct gr_mutator *m = tl_rt == rt ? tl_m : NULL;
    for (int i = 0; i < tl_nrecs && !m; i++)
        if (tl_recs[i].rt == rt)
            m = tl_recs[i].m;
    if (m)
        atomic_store(&m->waiting_gc, on);
}
