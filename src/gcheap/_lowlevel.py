"""The only module that touches the generated cffi ``lib``.

C functions return -errno (or a status); this module turns them into typed
Python exceptions and plain Python values. Everything above it is pure Python.
"""
from __future__ import annotations

from gcheap._native import ffi, lib  # noqa: F401  (re-exported for this module only)

from gcheap.errors import kernel_error


def check(rc: int, operation: str, detail: str | None = None) -> int:
    """Return rc when >= 0, else raise the OSError subclass for -rc."""
    if rc < 0:
        raise kernel_error(-rc, operation, detail)
    return rc


# ---------------------------------------------------------------- kernel layer

def page_size() -> int:
    return int(lib.gk_page_size())
