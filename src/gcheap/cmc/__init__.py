"""gcheap.cmc: the concurrent compactor's machinery, usable on its own (tests, benchmarks).

``Compactor`` drives the C layer (csrc/cmc) over any page-aligned region with a
built-in page builder; the runtime's collector "cmc" (gcheap.runtime.cmc) uses
the same layer with gr_compact_page as the builder.
"""
from gcheap.cmc.compactor import PAGE, CmcOptions, Compactor, flip_error, unavailable_reason

__all__ = ["PAGE", "CmcOptions", "Compactor", "flip_error", "unavailable_reason"]
