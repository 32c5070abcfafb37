"""gcheap.snapshot: snapshot files from the command line (``gcheap snapshot``).

The snapshot machinery itself is part of the runtime (``rt.snapshot``,
``rt.swap_out``, ``Runtime.restore``: gcheap.runtime.snapshot); this package
reads files for people: ``info(path)`` and the CLI in cli.py.
"""
from __future__ import annotations

__all__ = ["info"]


def info(path, verify: bool = True) -> dict:
    """A snapshot file's header, sizes, classes and roots; verify: every chunk's checksum."""
    from gcheap.runtime.snapshot import info as _info
    return _info(path, verify)
