/* fork.c - fork() with runtimes in the process.
 *
 * A child has only the forking thread. Any other thread might have been in
 * the middle of an allocation (a bumped TLAB, no header yet), holding a
 * runtime lock, or inside a pause; in the child none of that can finish. So
 * the prepare hook (rank GK_FORK_RUNTIME, csrc/kernel/fork.c: it runs before
 * the concurrent compactor's, which then waits for its cycles) takes, for every
 * open runtime in creation order:
 *
 *     gc_lock  (no collection or pause in progress; none can start)
 *     stop the world  (every mutator out of the core: no half-made object)
 *     class_lock, handle_lock, roots_lock, stats_lock
 *
 * and the parent hook releases them in reverse. In the child, the locks are
 * re-initialised, every mutator slot but the forking thread's is released (its
 * TLAB stays with the slot and is retired as a filler at the next pause), the
 * root providers of interpreter programs (their threads stayed in the parent)
 * are dropped, and the world resumes: the child's runtime works, collecting stop-the-world if
 * its collector's threads stayed with the parent (cmc: see csrc/cmc/fork.c).
 *
 * The forking thread must not be inside the core (os.fork() from Python never
 * is): it would wait for itself to leave it.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "runtime/runtime_impl.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gr_runtime *registry;     /* newest first */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int hooks_rc;

/* Runtimes in creation order (oldest first) walk the list backwards: small list. */
#define FOR_EACH_OPEN(rt) for (struct gr_runtime *rt = registry; rt; rt = rt->fork_next) if (!atomic_load(&rt->closed))

static void prepare(void)
{
    pthread_mutex_lock(&registry_mu);
    FOR_EACH_OPEN(rt) {
        pthread_mutex_lock(&rt->gc_lock);
        if (atomic_load(&rt->closed)) {         /* closed while we waited */
            pthread_mutex_unlock(&rt->gc_lock);
            continue;
        }
        gr_stop_world_locked(rt);
        pthread_mutex_lock(&rt->class_lock);
        pthread_mutex_lock(&rt->handle_lock);
        pthread_mutex_lock(&rt->roots_lock);
        pthread_mutex_lock(&rt->stats_lock);
        rt->fork_held = 1;
    }
}

static void parent(void)
{
    for (struct gr_runtime *rt = registry; rt; rt = rt->fork_next) {
        if (!rt->fork_held)
            continue;
        rt->fork_held = 0;
        pthread_mutex_unlock(&rt->stats_lock);
        pthread_mutex_unlock(&rt->roots_lock);
        pthread_mutex_unlock(&rt->handle_lock);
        pthread_mutex_unlock(&rt->class_lock);
        gr_resume_world_locked(rt);
        pthread_mutex_unlock(&rt->gc_lock);
    }
    pthread_mutex_unlock(&registry_mu);
}

static void child(void)
{
    for (struct gr_runtime *rt = registry; rt; rt = rt->fork_next) {
        if (!rt->fork_held)
            continue;
        rt->fork_held = 0;
        pthread_mutex_init(&rt->class_lock, NULL);
        pthread_mutex_init(&rt->handle_lock, NULL);
        pthread_mutex_init(&rt->stats_lock, NULL);
        pthread_mutex_init(&rt->roots_lock, NULL);
        pthread_mutex_init(&rt->pause_lock, NULL);
        pthread_cond_init(&rt->pause_cond, NULL);
        pthread_mutex_init(&rt->gate_mu, NULL);    /* the snapshot layer's fork hook left it open */
        pthread_cond_init(&rt->gate_cv, NULL);
        rt->gate_hurrying = 0;
        gr_mutators_after_fork(rt);
        /* Programs ran in threads that stayed in the parent: their roots go
         * (their objects become garbage) and close() no longer waits for them. */
        for (struct gr_root_provider **pp = &rt->providers; *pp;) {
            if ((*pp)->is_program)
                *pp = (*pp)->next;
            else
                pp = &(*pp)->next;
        }
        atomic_store(&rt->programs, 0);
        atomic_store(&rt->pause_requested, 0);
        if (rt->ops->fork_child)
            rt->ops->fork_child(rt);
        pthread_mutex_init(&rt->gc_lock, NULL);
    }
    pthread_mutex_init(&registry_mu, NULL);
}

static void install(void)
{
    hooks_rc = gk_atfork(GK_FORK_RUNTIME, prepare, parent, child);
}

int gr_fork_register(struct gr_runtime *rt)
{
    pthread_once(&once, install);
    if (hooks_rc < 0)
        return hooks_rc;
    pthread_mutex_lock(&registry_mu);
    rt->fork_next = registry;
    registry = rt;
    pthread_mutex_unlock(&registry_mu);
    return 0;
}
