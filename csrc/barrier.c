/* barrier.c - the write barrier. Every reference store into a heap object goes
 * through gr_write_barrier before the store. Empty for the stop-the-world
 * collector (it never runs concurrently with mutators); concurrent marking
 * will record the overwritten or the new reference here. */
#include "runtime.h"

void gr_write_barrier(struct gr_runtime *rt, uintptr_t obj, uintptr_t *slot, uintptr_t value)
{
    (void)rt;
    (void)obj;
    (void)slot;
    (void)value;
}
