"""gcheap.kernel: the kernel primitives the concurrent compactor stands on.

- ``probe()`` reports what this kernel and process allow (cached ``Capabilities``).
- ``Region`` is a private anonymous mapping; ``mremap_dontunmap`` moves its pages
  to another Region and leaves the source reserved and empty.
- ``PageServer`` serves a Region's missing faults from a source (another Region
  by copy or move, zero pages, poison, a file) with a background filler.
- ``Userfaultfd`` opens, registers, resolves (copy, zeropage, move, poison) and
  reads typed events. EEXIST is raised as ``UffdPageExists`` (the page is there:
  usually treat as done), an EAGAIN that cannot make progress as ``UffdPartial``;
  both carry ``done``, the bytes completed. A negative result is never a count.

Every access to mapped memory (``Region.read``/``write``) runs in C with the GIL
released, so a Python thread can serve the faults of another blocked thread.
"""
from gcheap.kernel.pageserver import Chunk, PageServer, dense_chunks
from gcheap.kernel.probe import FEATURE_BITS, IOCTL_BITS, Capabilities, probe
from gcheap.kernel.region import (MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MREMAP_DONTUNMAP,
                           MREMAP_FIXED, MREMAP_MAYMOVE, Region, mremap_dontunmap)
from gcheap.kernel.uffd import (Event, Fork, PageFault, Remap, Remove, SigbusService, Unmap, UnknownEvent,
                         Userfaultfd, sigbus_handler_installed)

__all__ = [
    "FEATURE_BITS", "IOCTL_BITS", "Capabilities", "probe",
    "MADV_DONTNEED", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE", "MREMAP_DONTUNMAP", "MREMAP_FIXED",
    "MREMAP_MAYMOVE", "Region", "mremap_dontunmap",
    "Event", "Fork", "PageFault", "Remap", "Remove", "SigbusService", "Unmap", "UnknownEvent",
    "Userfaultfd", "sigbus_handler_installed", "PageServer", "Chunk", "dense_chunks",
]
