"""gcheap: concurrent heap compaction on userfaultfd and mremap(MREMAP_DONTUNMAP)."""
from gcheap.errors import GCHeapError, KernelError, UffdPageExists, UffdPartial, UffdUnavailable

__all__ = ["GCHeapError", "KernelError", "UffdPageExists", "UffdPartial", "UffdUnavailable"]
__version__ = "0.1.0"
