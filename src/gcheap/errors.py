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
