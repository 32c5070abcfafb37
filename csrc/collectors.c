/* collectors.c - the collector registry: collector id -> driver and hooks.
 * A new collector (cmc) adds its GR_COLLECTOR_* id in api_runtime.h, an entry
 * here, and its name in gcheap.runtime.COLLECTORS. */
#include "runtime.h"

static const struct gr_collector_ops stw_ops = {
    .name = "stw",
    .collect = gr_stw_collect,
    .init = NULL,
    .fini = NULL,
};

const struct gr_collector_ops *gr_collector_ops(int collector)
{
    switch (collector) {
    case GR_COLLECTOR_STW: return &stw_ops;
    default: return NULL;
    }
}
