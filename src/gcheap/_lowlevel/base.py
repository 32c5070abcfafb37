"""The cffi extension and the one error-checking helper every layer module uses."""
from __future__ import annotations

from gcheap._native import ffi, lib  # noqa: F401  (re-exported for gcheap._lowlevel only)

from gcheap.errors import kernel_error


def check(rc: int, operation: str, detail: str | None = None) -> int:
    """Return rc when >= 0, else raise the OSError subclass for -rc."""
    if rc < 0:
        raise kernel_error(-rc, operation, detail)
    return rc
