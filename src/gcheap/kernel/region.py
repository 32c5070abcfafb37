"""Regions (private anonymous mappings) and mremap(MREMAP_DONTUNMAP).

``mremap_dontunmap(region)`` moves a Region's pages to a new Region; the source
stays mapped, same size, empty: the from-space flip of the concurrent compactor.
"""
from __future__ import annotations

import threading
from typing import Union

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, RegionClosed

# mremap(2) flags for gcheap's own ll.mremap_raw callers (uapi values).
MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4
MADV_DONTNEED = ll.MADV_DONTNEED
MADV_HUGEPAGE = ll.MADV_HUGEPAGE
MADV_NOHUGEPAGE = ll.MADV_NOHUGEPAGE


_live_lock = threading.Lock()
_live: dict[int, "Region"] = {}     # owning regions by address


class Region:
    """A private anonymous read/write mapping.

    ``read``/``write`` copy in C with the GIL released: if the memory is
    registered with a userfaultfd, the call blocks until the page is served and
    other Python threads keep running. ``numpy()`` returns a view that touches
    the memory directly (with the GIL held): do not use it on pages that may be
    missing, and drop it before ``close()``.
    """

    def __init__(self, size: int, *, align: int | None = None) -> None:
        ps = ll.page_size()
        if not isinstance(size, int) or size <= 0:
            raise InvalidArgument(f"Region size must be a positive int, got {size!r}")
        if align is not None and (not isinstance(align, int) or align < ps or align & (align - 1)):
            raise InvalidArgument(f"align must be a power of two >= the page size ({ps}), got {align!r}")
        size = -(-size // ps) * ps
        self._address = ll.map_anon(size, align or 0)
        self._size = size
        self._owner = True
        self._closed = False
        self._parent = None
        _track(self)

    @classmethod
    def _adopt(cls, address: int, size: int, owner: bool, parent: "Region | None" = None) -> "Region":
        """parent: for a non-owning Region, the Region whose mapping holds it; when
        the parent is closed (its memory unmapped) this one is closed too."""
        self = cls.__new__(cls)
        self._address, self._size, self._owner, self._closed = address, size, owner, False
        self._parent = parent
        if owner:
            _track(self)
        return self

    @property
    def address(self) -> int:
        self._check_open()
        return self._address

    @property
    def size(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        r = self
        while r is not None:
            if r._closed:
                return True
            r = r._parent
        return False

    @property
    def owner(self) -> bool:
        """True when close() unmaps the memory (False for slices)."""
        return self._owner

    def _check_open(self) -> None:
        if self._closed:
            raise RegionClosed("Region is closed")
        if self._parent is not None and self._parent.closed:
            raise RegionClosed("Region is closed: the Region that maps it was closed")

    def _check_range(self, offset: int, length: int) -> None:
        self._check_open()
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0 \
                or offset + length > self._size:
            raise InvalidArgument(f"range {offset}+{length} outside the Region of {self._size} bytes")

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        return ll.read_memory(self._address + offset, length)

    def write(self, offset: int, data) -> int:
        n = memoryview(data).nbytes
        self._check_range(offset, n)
        return ll.write_memory(self._address + offset, data)

    def numpy(self, dtype="u1"):
        import numpy as np

        self._check_open()
        dt = np.dtype(dtype)
        if self._size % dt.itemsize:
            raise InvalidArgument(f"Region size {self._size} is not a multiple of {dt} itemsize")
        return np.frombuffer(ll.memory_view(self._address, self._size), dtype=dt)

    def slice(self, offset: int, length: int) -> "Region":
        """A page-aligned sub-range that this Region keeps owning (close() of the
        slice does not unmap). Lets callers move part of a mapping."""
        ps = ll.page_size()
        self._check_range(offset, length)
        if offset % ps or length % ps or length == 0:
            raise InvalidArgument(f"slice {offset}+{length} is not page aligned")
        return Region._adopt(self._address + offset, length, owner=False, parent=self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owner:
            _untrack(self)
            ll.unmap(self._address, self._size)

    def _retire(self) -> None:
        """Closed without unmapping: another Region now owns the memory."""
        self._closed = True
        if self._owner:
            _untrack(self)

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._address:#x}"
        return f"<Region {state} size={self._size}{'' if self._owner else ' slice'}>"


def _track(r: Region) -> None:
    with _live_lock:
        _live[r._address] = r


def _untrack(r: Region) -> None:
    with _live_lock:
        if _live.get(r._address) is r:
            del _live[r._address]


def _mappings() -> list[tuple[int, int]]:
    out = []
    with open("/proc/self/maps") as f:
        lines = f.read().splitlines()
    for line in lines:
        lo, hi = line.split(None, 1)[0].split("-")
        out.append((int(lo, 16), int(hi, 16)))
    return out


def _owning_region(start: int, end: int) -> Region | None:
    with _live_lock:
        for r in _live.values():
            if r._address <= start and end <= r._address + r._size:
                return r
    return None


def mremap_dontunmap(region: Region, dest_address: Union[int, Region, None] = None) -> Region:
    """Moves the pages of ``region`` to a new Region and returns it.

    The source stays mapped, same size, empty (a later access reads zeros or is
    delivered to a userfaultfd registered on it). ``dest_address`` (an int or a
    Region of the same size) picks the destination (MREMAP_FIXED): it must be
    page aligned, must not overlap the source, and must be either unmapped or
    memory a live gcheap Region owns, so nothing foreign is ever unmapped.
    All checks happen before the call; a failure leaves the source as it was.
    """
    if not isinstance(region, Region):
        raise InvalidArgument(f"mremap_dontunmap needs a Region, got {type(region).__name__}")
    region._check_open()
    ps = ll.page_size()
    src, size = region._address, region._size
    replaced: Region | None = None
    if dest_address is None:
        dst = 0
    else:
        if isinstance(dest_address, Region):
            dest_address._check_open()
            if dest_address._size != size:
                raise InvalidArgument(f"destination Region has {dest_address._size} bytes, source {size}")
            if dest_address._owner:
                replaced = dest_address
            dst = dest_address._address
        elif isinstance(dest_address, int):
            dst = dest_address
        else:
            raise InvalidArgument(f"dest_address must be an int or a Region, got {type(dest_address).__name__}")
        if dst <= 0 or dst % ps:
            raise InvalidArgument(f"dest_address {dst:#x} is not page aligned")
        if dst < src + size and src < dst + size:
            raise InvalidArgument("destination overlaps the source")
        owner_region = _owning_region(dst, dst + size)
        if owner_region is None and any(lo < dst + size and dst < hi for lo, hi in _mappings()):
            raise InvalidArgument(f"destination {dst:#x}+{size:#x} overlaps memory gcheap does not own")
        if owner_region is not None and replaced is None and owner_region._address == dst \
                and owner_region._size == size:
            replaced = owner_region
    new = ll.mremap_dontunmap(src, size, dst)
    # The kernel acted: only bookkeeping from here on, nothing that can fail.
    if replaced is not None:
        replaced._retire()
    holder = _owning_region(dst, dst + size) if dst and replaced is None else None
    return Region._adopt(new, size, owner=holder is None, parent=holder)
