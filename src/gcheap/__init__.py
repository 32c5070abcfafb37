"""gcheap: concurrent heap compaction on userfaultfd and mremap(MREMAP_DONTUNMAP)."""
from gcheap.errors import (AddressRangeStolen, BadIndex, ForeignRef, GCHeapError, HeapAddressInUse, HeapCorruption,
                           HeapExhausted, InvalidOption, KernelError, RuntimeBusy, RuntimeClosed, SnapshotCorrupt,
                           SnapshotError, SnapshotFormatError, SnapshotTruncated, SnapshotVersionError,
                           SnapshotWriteError, StaleRef, TableFull, UffdPageExists, UffdPartial, UffdUnavailable,
                           UnknownField, ValueOutOfRange, WrongType)

__all__ = ["GCHeapError", "KernelError", "UffdPageExists", "UffdPartial", "UffdUnavailable",
           "Runtime", "Ref", "GCReport", "RuntimeBusy", "RuntimeClosed", "HeapExhausted", "HeapCorruption",
           "TableFull", "UnknownField", "WrongType", "BadIndex", "ForeignRef", "StaleRef",
           "ValueOutOfRange", "InvalidOption", "AddressRangeStolen", "SnapshotError", "SnapshotFormatError",
           "SnapshotCorrupt", "SnapshotTruncated", "SnapshotVersionError", "SnapshotWriteError", "HeapAddressInUse",
           "SnapshotReport"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # The runtime needs the compiled core; import it lazily so that
    # `import gcheap` (errors, doctor) works before the extension is built.
    if name in ("Runtime", "Ref", "GCReport"):
        from gcheap import runtime
        return getattr(runtime, name)
    if name == "SnapshotReport":
        from gcheap.runtime.snapshot import SnapshotReport
        return SnapshotReport
    raise AttributeError(f"module 'gcheap' has no attribute {name!r}")
