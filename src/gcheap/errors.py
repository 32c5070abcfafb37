"""Typed errors. Each derives from GCHeapError and from the matching builtin."""
from __future__ import annotations

import errno as _errno
import os


class GCHeapError(Exception):
    """Base class of every error gcheap raises itself."""


class KernelError(GCHeapError, OSError):
    """A kernel primitive failed; carries errno and the operation that failed."""

    def __init__(self, err: int, operation: str, detail: str | None = None) -> None:
        msg = f"{operation}: {os.strerror(err)}"
        if detail:
            msg += f" ({detail})"
        OSError.__init__(self, err, msg)
        self.operation = operation


class UffdUnavailable(GCHeapError, OSError):
    """userfaultfd (or a feature the caller needs) cannot be used here."""

    def __init__(self, reason: str, remedy: str | None = None, err: int = _errno.ENOSYS) -> None:
        msg = reason if not remedy else f"{reason}; remedy: {remedy}"
        OSError.__init__(self, err, msg)
        self.reason = reason
        self.remedy = remedy


def kernel_error(err: int, operation: str, detail: str | None = None) -> KernelError:
    """The OSError subclass for a negative C return code."""
    return KernelError(err, operation, detail)


class UffdPageExists(KernelError, FileExistsError):
    """A userfaultfd range operation met a page that is already present (EEXIST).

    Someone else (another thread, a background copier) resolved that page
    first: callers normally treat it as done. ``done`` holds the bytes the call
    completed before the existing page, so ``address + done`` is that page.
    """

    def __init__(self, operation: str, done: int) -> None:
        KernelError.__init__(self, _errno.EEXIST, operation, f"{done} bytes done before the present page")
        self.done = done


class UffdPartial(KernelError, BlockingIOError):
    """A userfaultfd range operation stopped early with EAGAIN and no way forward.

    The mm is changing (for example an event such as fork or remap waits to be
    read). ``done`` holds the bytes completed; retry the rest after reading events.
    """

    def __init__(self, operation: str, done: int) -> None:
        KernelError.__init__(self, _errno.EAGAIN, operation, f"{done} bytes done")
        self.done = done


class InvalidArgument(GCHeapError, ValueError):
    """A caller passed a value gcheap rejects before touching the kernel."""


class RegionClosed(GCHeapError, ValueError):
    """The Region (or Userfaultfd) was closed or handed over to another object."""


# ---- concurrent compactor

class AddressRangeStolen(GCHeapError, OSError):
    """flip="remap": another thread mapped memory into the heap's range while it
    was unmapped (the window that MREMAP_DONTUNMAP closes). The heap was moved
    back once the range was free; the collection completed stop-the-world."""

    def __init__(self, detail: str) -> None:
        OSError.__init__(self, _errno.EADDRINUSE, f"heap address range stolen during the flip: {detail}")

# ---- runtime errors (gcheap.Runtime and its Refs)

class RuntimeClosed(GCHeapError, RuntimeError):
    """The runtime was closed; its heap and handles are gone."""


class RuntimeBusy(GCHeapError, RuntimeError):
    """The runtime cannot do that now: e.g. close() while an interpreter program runs on it."""


class HeapExhausted(GCHeapError, MemoryError):
    """Live data does not fit in the heap even after a full collection.
    The heap is intact and usable."""


class HeapCorruption(GCHeapError, RuntimeError):
    """verify() (or a collection with verify=True) found a bad object or root."""


class TableFull(GCHeapError, MemoryError):
    """A fixed-size runtime table (classes, globals, handles, mutator threads) is full."""


class UnknownField(GCHeapError, AttributeError):
    """The object's class has no field of that name."""


class WrongType(GCHeapError, TypeError):
    """A value or index of the wrong type (e.g. a str into an i64 field)."""


class BadIndex(GCHeapError, IndexError):
    """An array index out of range."""


class ForeignRef(GCHeapError, ValueError):
    """A Ref (or class) that belongs to another runtime."""


class StaleRef(GCHeapError, ValueError):
    """A Ref used after the scope() that created it ended."""


class ValueOutOfRange(GCHeapError, ValueError):
    """A scalar that does not fit the field (i64 overflow, u8 outside 0..255)."""


class InvalidOption(GCHeapError, ValueError):
    """A bad option or argument; the message names it."""


# ---------------------------------------------------------------- interpreter

class SubsetError(GCHeapError, SyntaxError):
    """A program uses a construct outside the gcheap Python subset (or does not parse).

    str() is `file:line:col: what` with a 1-based column, like a compiler's message."""

    def __init__(self, filename: str, line: int, col: int, what: str) -> None:
        SyntaxError.__init__(self, what, (filename, line, col, None))
        self.filename, self.lineno, self.offset, self.what = filename, line, col, what

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}:{self.offset}: {self.what}"


class ProgramError(GCHeapError, RuntimeError):
    """A program run by the interpreter ended with an uncaught exception.

    exc_type is the program's exception class name, message its str(), traceback
    the formatted traceback (as CPython would print it), exit_status 1."""

    def __init__(self, exc_type: str, message: str, traceback: str) -> None:
        RuntimeError.__init__(self, f"{exc_type}: {message}" if message else exc_type)
        self.exc_type, self.message, self.traceback = exc_type, message, traceback


# ---------------------------------------------------------------- snapshots

class SnapshotError(GCHeapError, OSError):
    """A snapshot, swap-out or restore failed (errno and message say why)."""

    def __init__(self, err: int, message: str, path: str | None = None) -> None:
        OSError.__init__(self, err, message)
        self.path = path

    def __str__(self) -> str:
        return self.strerror if self.path is None else f"{self.path}: {self.strerror}"


class SnapshotFormatError(SnapshotError, ValueError):
    """The file is not a snapshot this gcheap can read. Nothing was mapped."""


class SnapshotCorrupt(SnapshotFormatError):
    """A checksum or a field of the file does not hold (bit rot, a foreign writer)."""


class SnapshotTruncated(SnapshotFormatError):
    """The file is shorter than its header says."""


class SnapshotVersionError(SnapshotFormatError):
    """The file is of another format version (or was written with another page size)."""


class SnapshotWriteError(SnapshotError):
    """The snapshot could not be written (disk full, file size limit, a writer that
    died). The program goes on: the heap is intact. The partial file of a snapshot
    or of a first swap-out was removed; a failed swap-out into the file of the
    previous one keeps that file, which still holds the previous image."""


class HeapAddressInUse(SnapshotError):
    """restore: the address range the snapshot's heap must live at is taken in
    this process (by another runtime, say). Nothing was mapped."""
