/* cmc_fork.c - fork() and the concurrent compactor.
 *
 * A child forked while a cycle runs would see the heap's uninstalled pages as
 * zeros: without UFFD_FEATURE_EVENT_FORK the child's copy of the heap VMA is
 * not registered, and the child has neither GC workers nor a fault thread.
 * So fork waits for the cycles (fork hooks of rank GK_FORK_CMC, csrc/kernel/
 * fork.c, installed once by the first cmc_create; a runtime's hooks run
 * before these, so no pause that could flip is in progress):
 *
 *   prepare  lock the registry (no cmc created or destroyed meanwhile); take
 *            the flip lock for writing (a flip in progress finishes, no new
 *            flip starts: flips hold it for reading); then for every cmc
 *            cmc_wait() (workers finish the cycle; no worker left: this thread
 *            does, like wait_gc()) and take its rescue and cycle mutexes, so
 *            no worker is inside them at the fork.
 *   parent   release everything in reverse.
 *   child    only the forking thread exists: every inherited cmc is marked
 *            forked. Its threads are forgotten (never joined: they do not
 *            exist here), its mutexes and condition variable re-initialised,
 *            its userfaultfd (the parent's context) closed. cmc_flip returns
 *            -ECHILD; the runtime then compacts stop-the-world in the same
 *            pause (report concurrent=False), the heap is complete and usable.
 *
 * Deadlocks: the forking thread holds the GIL (os.fork) and our locks while it
 * waits; the cycle needs neither - GC workers and fault service are pure C and
 * take only the cmc's own mutex, which prepare takes after the wait. A pause
 * that wants to flip blocks on the flip lock until the fork is done; its
 * previous cycle was already finished by its own cmc_wait. A fork waits at
 * most as long as the cycle (bounded by the install deadline: cmc_stuck.c).
 * A thread that forks from inside the C core (no such path exists) would wait
 * for itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "cmc/cmc_impl.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t flip_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cmc *registry;            /* linked through fork_next */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_rc;

extern void cmc_fault_forget_inflight(void);

static void prepare(void)
{
    pthread_mutex_lock(&registry_mu);
    pthread_rwlock_wrlock(&flip_lock);
    for (struct cmc *c = registry; c; c = c->fork_next) {
        if (c->forked)
            continue;                   /* inherited from an earlier fork: no cycles */
        cmc_wait(c, -1);
        pthread_mutex_lock(&c->rescue_mu);
        pthread_mutex_lock(&c->mu);
    }
}

static void parent(void)
{
    for (struct cmc *c = registry; c; c = c->fork_next) {
        if (c->forked)
            continue;
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->rescue_mu);
    }
    pthread_rwlock_unlock(&flip_lock);
    pthread_mutex_unlock(&registry_mu);
}

static void child(void)
{
    for (struct cmc *c = registry; c; c = c->fork_next) {
        c->forked = 1;
        /* Threads of the parent: never join or signal them here. */
        for (int i = 0; c->workers && i < c->cfg.gc_threads; i++)
            c->workers[i].started = 0;
        c->server_started = 0;
        c->n_pending = 0;
        c->mut_free = ~0ull;
        c->releasing = 0;
        pthread_mutex_init(&c->mu, NULL);
        pthread_mutex_init(&c->rescue_mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        if (c->uffd >= 0) {
            close(c->uffd);             /* the parent's context: an ioctl would act on its mm */
            c->uffd = -1;
        }
    }
    cmc_fault_forget_inflight();
    pthread_rwlock_init(&flip_lock, NULL);
    pthread_mutex_init(&registry_mu, NULL);
}

static void install_atfork(void)
{
    atfork_rc = gk_atfork(GK_FORK_CMC, prepare, parent, child);
}

int cmc_fork_register(struct cmc *c)
{
    pthread_once(&atfork_once, install_atfork);
    if (atfork_rc < 0)
        return atfork_rc;
    pthread_mutex_lock(&registry_mu);
    c->fork_next = registry;
    registry = c;
    pthread_mutex_unlock(&registry_mu);
    return 0;
}

void cmc_fork_unregister(struct cmc *c)
{
    pthread_mutex_lock(&registry_mu);
    for (struct cmc **pp = &registry; *pp; pp = &(*pp)->fork_next) {
        if (*pp == c) {
            *pp = c->fork_next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
}

void cmc_fork_flip_begin(void)
{
    pthread_rwlock_rdlock(&flip_lock);
}

void cmc_fork_flip_end(void)
{
    pthread_rwlock_unlock(&flip_lock);
}

int cmc_forked(struct cmc *c)
{
    return c ? c->forked : 0;
}
