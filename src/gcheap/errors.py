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
