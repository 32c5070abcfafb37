"""gcheap: concurrent heap compaction on userfaultfd and mremap(MREMAP_DONTUNMAP)."""
from gcheap.errors import GCHeapError, KernelError, UffdUnavailable

__all__ = ["GCHeapError", "KernelError", "UffdUnavailable"]
__version__ = "0.1.0"
