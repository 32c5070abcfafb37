/* fork.c - fork() hooks, run in layer order.
 *
 * Every layer that must make fork() safe (hold its locks across it, wait for
 * its threads' work, repair its state in the child) registers hooks here with
 * its rank. One pthread_atfork calls the prepare hooks from the highest rank
 * down, and the parent and child hooks from the lowest up. That order is what
 * makes it deadlock-free: the runtime (rank GK_FORK_RUNTIME) first takes its
 * collection lock and stops its mutators, so no pause is in progress when the
 * concurrent compactor (GK_FORK_CMC) then waits for its cycles and takes its
 * flip lock; the kernel's SIGBUS dispatcher (GK_FORK_KERNEL) repairs its
 * counters in the child before anyone else runs there.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "kernel/kernel_impl.h"

#define MAX_HOOKS 16

struct hook {
    int rank;
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};

static struct hook hooks[MAX_HOOKS];
static int nhooks;
static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_rc;

static void prepare(void)
{
    pthread_mutex_lock(&hooks_mu);      /* no registration during a fork */
    for (int i = nhooks - 1; i >= 0; i--)
        if (hooks[i].prepare)
            hooks[i].prepare();
}

static void parent(void)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].parent)
            hooks[i].parent();
    pthread_mutex_unlock(&hooks_mu);
}

static void child(void)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].child)
            hooks[i].child();
    pthread_mutex_init(&hooks_mu, NULL);
}

static void install(void)
{
    install_rc = -pthread_atfork(prepare, parent, child);
}

int gk_atfork(int rank, void (*prepare_fn)(void), void (*parent_fn)(void), void (*child_fn)(void))
{
    pthread_once(&once, install);
    if (install_rc < 0)
        return install_rc;
    pthread_mutex_lock(&hooks_mu);
    int rc = 0;
    if (nhooks == MAX_HOOKS) {
        rc = -ENOSPC;
    } else {
        /* keep hooks sorted by rank (stable): prepare walks them backwards */
        int i = nhooks;
        while (i > 0 && hooks[i - 1].rank > rank) {
            hooks[i] = hooks[i - 1];
            i--;
        }
        hooks[i] = (struct hook){rank, prepare_fn, parent_fn, child_fn};
        nhooks++;
    }
    pthread_mutex_unlock(&hooks_mu);
    return rc;
}
