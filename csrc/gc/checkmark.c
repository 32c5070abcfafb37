/* checkmark.c - verifying concurrent marking (debug options of collector cmc).
 *
 *   GR_CHECK_MARK  at remark, with the world stopped and marking complete:
 *                  a stop-the-world re-mark from the roots with separate bits
 *                  (Go's gccheckmark). Every reachable object must be marked or
 *                  allocated during marking (above TAMS); one that is not fails
 *                  the cycle, naming its address and the path that reaches it.
 *   GR_CHECK_SATB  the missing-log verifier: the start pause records the
 *                  snapshot (what is reachable then); at remark every object of
 *                  it must be marked. A store that overwrote a reference without
 *                  going through the barrier shows up here, even when the object
 *                  is unreachable by remark (which checkmark cannot see).
 * Both cost a full traversal in a pause: they are for tests, not production. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc_impl.h"

struct visit {
    uintptr_t obj;
    int64_t parent;             /* index into the visit list, or -1 - root number */
};

struct trav {
    struct gr_runtime *rt;
    uint64_t *bits;             /* visited, by heap word */
    struct visit *v;
    uint64_t n, cap;
    uint64_t *stack;            /* indices into v */
    uint64_t sp, scap;
    uintptr_t *root_slots;
    uint64_t nroots, rcap;
    int err;
};

static void visit(struct trav *t, uintptr_t obj, int64_t parent)
{
    uint64_t w = (obj - (uintptr_t)t->rt->heap) / GR_WORD;
    if (t->err || ((t->bits[w / 64] >> (w % 64)) & 1))
        return;
    t->bits[w / 64] |= UINT64_C(1) << (w % 64);
    if (t->n == t->cap) {
        uint64_t cap = t->cap ? 2 * t->cap : 4096;
        struct visit *nv = realloc(t->v, cap * sizeof *nv);
        if (!nv) {
            t->err = -ENOMEM;
            return;
        }
        t->v = nv;
        t->cap = cap;
    }
    if (t->sp == t->scap) {
        uint64_t cap = t->scap ? 2 * t->scap : 4096;
        uint64_t *ns = realloc(t->stack, cap * sizeof *ns);
        if (!ns) {
            t->err = -ENOMEM;
            return;
        }
        t->stack = ns;
        t->scap = cap;
    }
    t->v[t->n] = (struct visit){obj, parent};
    t->stack[t->sp++] = t->n++;
}

static void root(uintptr_t *slot, void *arg)
{
    struct trav *t = arg;
    if (t->nroots == t->rcap) {
        uint64_t cap = t->rcap ? 2 * t->rcap : 1024;
        uintptr_t *nr = realloc(t->root_slots, cap * sizeof *nr);
        if (!nr) {
            t->err = -ENOMEM;
            return;
        }
        t->root_slots = nr;
        t->rcap = cap;
    }
    t->root_slots[t->nroots] = (uintptr_t)slot;
    visit(t, *slot, -1 - (int64_t)t->nroots);
    t->nroots++;
}

/* Every object reachable from the roots, once, with how it was reached. */
static int traverse(struct gr_runtime *rt, struct trav *t, uint64_t limit_bytes)
{
    memset(t, 0, sizeof *t);
    t->rt = rt;
    t->bits = calloc(limit_bytes / GR_WORD / 64 + 1, sizeof(uint64_t));
    if (!t->bits)
        return -ENOMEM;
    gr_visit_roots(rt, root, t);
    while (t->sp && !t->err) {
        uint64_t i = t->stack[--t->sp];
        uintptr_t obj = t->v[i].obj;
        uint64_t hdr = *(const uint64_t *)obj;
        const struct gr_class *c = gr_class_at(rt, gr_hdr_class(hdr));
        uint64_t first, count;
        gr_ref_words(c, gr_hdr_length(hdr), &first, &count);
        for (uint64_t k = 0; k < count; k++) {
            uintptr_t r = ((const uintptr_t *)obj)[first + k];
            if (r)
                visit(t, r, (int64_t)i);
        }
    }
    return t->err;
}

static void trav_free(struct trav *t)
{
    free(t->bits);
    free(t->v);
    free(t->stack);
    free(t->root_slots);
}

/* "root slot S -> a (class c) -> b (class d) -> ... -> o": at most the last 8 hops. */
static void describe_path(struct trav *t, uint64_t i, char *msg, size_t cap)
{
    uint64_t hops[8];
    int n = 0, more = 0;
    int64_t at = (int64_t)i;
    while (at >= 0) {
        if (n == 8) {
            memmove(hops, hops + 1, 7 * sizeof hops[0]);
            n = 7;
            more = 1;
        }
        hops[n++] = (uint64_t)at;
        at = t->v[at].parent;
    }
    size_t len = strlen(msg);
    uintptr_t slot = t->root_slots[-1 - at];
    len += (size_t)snprintf(msg + len, cap - len, "; path: root slot %#" PRIxPTR "%s", slot, more ? " -> ..." : "");
    for (int k = n - 1; k >= 0 && len < cap; k--) {
        uintptr_t o = t->v[hops[k]].obj;
        len += (size_t)snprintf(msg + len, cap - len, " -> %#" PRIxPTR " (class %u)", o,
                                gr_hdr_class(*(const uint64_t *)o));
    }
}

struct unreached {
    const uint64_t *reached;    /* object starts, by heap word */
    uint64_t bytes;
};

static void count_unreached(struct gr_runtime *rt, uintptr_t obj, const struct gr_class *c, uint32_t len,
                            uint64_t size, void *arg)
{
    struct unreached *u = arg;
    uint64_t w = (obj - (uintptr_t)rt->heap) / GR_WORD;
    (void)c, (void)len;
    if (!((u->reached[w / 64] >> (w % 64)) & 1))
        u->bytes += size;
}

int gr_checkmark(struct gr_runtime *rt, uintptr_t tams, uint64_t *floating)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    struct trav t;
    uint64_t used = atomic_load(&rt->top) - (uintptr_t)rt->heap;
    int rc = traverse(rt, &t, used);
    for (uint64_t i = 0; rc == 0 && i < t.n; i++) {
        uintptr_t o = t.v[i].obj;
        if (o >= tams || gr_cmark_is_marked(cx, o))
            continue;
        snprintf(rt->verify_msg, sizeof rt->verify_msg,
                 "checkmark: object %#" PRIxPTR " (heap offset %" PRIu64 ", class %u) is reachable but not marked",
                 o, (uint64_t)(o - (uintptr_t)rt->heap), gr_hdr_class(*(const uint64_t *)o));
        describe_path(&t, i, rt->verify_msg, sizeof rt->verify_msg);
        rc = -EFAULT;
    }
    if (rc == 0 && floating) {
        /* the floating garbage, exactly: marked below TAMS or allocated above
         * it (live by construction), and not reachable now */
        uint64_t bytes = 0, nwords = (tams - (uintptr_t)rt->heap) / GR_WORD / 64;
        for (uint64_t i = 0; i < nwords; i++) {
            uint64_t m = __atomic_load_n(&cx->obj_starts[i], __ATOMIC_RELAXED) & ~t.bits[i];
            while (m) {
                uint64_t b = (uint64_t)__builtin_ctzll(m);
                m &= m - 1;
                bytes += gr_object_size(rt, (uintptr_t)rt->heap + (i * 64 + b) * GR_WORD);
            }
        }
        struct unreached u = {t.bits, bytes};
        gr_walk_objects(rt, tams, (uintptr_t)rt->heap + used, count_unreached, &u);
        *floating = u.bytes;
    }
    trav_free(&t);
    return rc;
}

int gr_check_snapshot(struct gr_runtime *rt, uint64_t *snap, uint64_t limit_bytes)
{
    struct trav t;
    int rc = traverse(rt, &t, limit_bytes);
    if (rc == 0)
        memcpy(snap, t.bits, (limit_bytes / GR_WORD / 64 + 1) * sizeof(uint64_t));
    trav_free(&t);
    return rc;
}

int gr_check_snapshot_marked(struct gr_runtime *rt, const uint64_t *snap, uintptr_t tams)
{
    struct gr_compact_ctx *cx = gr_cx(rt);
    uint64_t nwords = (tams - (uintptr_t)rt->heap) / GR_WORD / 64;
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t missing = snap[i] & ~__atomic_load_n(&cx->obj_starts[i], __ATOMIC_RELAXED);
        if (!missing)
            continue;
        uintptr_t o = (uintptr_t)rt->heap + (i * 64 + (uint64_t)__builtin_ctzll(missing)) * GR_WORD;
        snprintf(rt->verify_msg, sizeof rt->verify_msg,
                 "missing barrier log: object %#" PRIxPTR " (heap offset %" PRIu64 ", class %u) was reachable "
                 "when marking started but is not marked at remark: a reference store overwrote the last "
                 "path to it without going through the write barrier",
                 o, (uint64_t)(o - (uintptr_t)rt->heap), gr_hdr_class(*(const uint64_t *)o));
        return -EFAULT;
    }
    return 0;
}
