/* collectors.c - the collector registry: collector id -> its ops.
 * A new collector adds its GR_COLLECTOR_* id in gcheap/gc.h, its ops (in its
 * own file) here, and its name in gcheap.runtime.COLLECTORS. */
#include "gc/gc_impl.h"

const struct gr_collector_ops *gr_collector_by_id(int id)
{
    switch (id) {
    case GR_COLLECTOR_STW: return &gr_stw_ops;
    case GR_COLLECTOR_CMC: return &gr_cmc_ops;
    default: return NULL;
    }
}
