"""The cffi extension, the one error-checking helper every layer module uses, and
the conversion of C double arrays to numpy."""
from __future__ import annotations

from gcheap._native import ffi, lib  # noqa: F401  (re-exported for gcheap._lowlevel only)

from gcheap.errors import kernel_error


def check(rc: int, operation: str, detail: str | None = None) -> int:
    """Return rc when >= 0, else raise the OSError subclass for -rc."""
    if rc < 0:
        raise kernel_error(-rc, operation, detail)
    return rc


def doubles(buf, n: int):
    """The first n doubles of a cffi buffer as a numpy array of its own (n <= 0:
    an empty one). numpy is imported here, not up front: it takes ~0.1 s, which
    `import gcheap.runtime` (say, in a process that restores a snapshot and reads
    one object) should not pay; and callers fill buf in C first, so no step they
    time pays for the first import either."""
    import numpy as np
    if n <= 0:
        return np.zeros(0)
    return np.frombuffer(ffi.buffer(buf, n * 8), dtype=np.float64).copy()
