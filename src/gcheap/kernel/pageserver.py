"""``PageServer``: serves the missing faults of a Region from a source, in C.

The source of each block (``block_pages`` pages: the unit of a claim, of a file
read and of a checksum) is one of

- ``"copy"`` / ``"move"``: the pages of another Region (``region=``) at the same
  offsets (move is zero-copy: the page leaves the source; a hole there becomes a
  zero page),
- ``"zeropage"``, ``"poison"`` (an access raises SIGBUS),
- ``"file"``: the block's stored pages in a file (``file=``), read with pread or
  copied from a read-only mapping (``mmap=True``), checked against the block's
  checksum (``verify=True``); a block's pages that are not stored are zero pages.

Faults are served in the faulting thread (``mode="sigbus"``, through the
process's one SIGBUS dispatcher) or by one C thread (``mode="thread"``). The
owner may install blocks itself (``install``), change the source of blocks that
are still missing (``set_source``), and start a background filler
(``fill``) that installs what is missing in chunks that grow from 64 KiB to
4 MiB while no fault arrives and fall back to 64 KiB at each fault (CRIU's
lazy-pages policy). A block is installed exactly once, whoever gets to it.

A file block that cannot be read back intact ends the process with a message on
stderr naming the page and the file: zeros in place of data would corrupt the
program silently.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, RegionClosed
from gcheap.kernel.region import Region

_MODES = {"sigbus": ll.PS_SIGBUS, "thread": ll.PS_THREAD}


@dataclass(frozen=True)
class Chunk:
    """Where a "file" block lives: its stored pages back to back at ``offset``;
    bit i of ``present``: page i is stored (a clear bit is a zero page)."""

    offset: int
    checksum: int
    present: int


def dense_chunks(path_or_fd, nblocks: int, block_bytes: int, base: int = 0) -> list[Chunk]:
    """Chunks of a file that holds every page of the range, block after block
    from ``base``, with their checksums (reads the file)."""
    fd = path_or_fd if isinstance(path_or_fd, int) else os.open(path_or_fd, os.O_RDONLY | os.O_CLOEXEC)
    try:
        full = (1 << (block_bytes // ll.page_size())) - 1
        out = []
        for b in range(nblocks):
            data = os.pread(fd, block_bytes, base + b * block_bytes)
            if len(data) != block_bytes:
                raise InvalidArgument(f"the file ends before block {b} ({base + b * block_bytes})")
            out.append(Chunk(base + b * block_bytes, ll.checksum(data), full))
        return out
    finally:
        if not isinstance(path_or_fd, int):
            os.close(fd)


class PageServer:
    """Serves the missing faults of ``target`` (a Region) from a source.

    ``PageServer(target, source="copy", region=staging)`` and then ``arm()``
    (or ``arm=True``, the default) registers the range and drops what is mapped
    in it: from then on every access to a block of it goes through the server.
    ``close()`` unregisters (a page still missing becomes ordinary zero-fill
    memory) and stops the server's threads.
    """

    def __init__(self, target: Region, *, source: str = "copy", region: "Region | int | None" = None,
                 file=None, chunks: "Iterable[Chunk] | None" = None, mode: str = "sigbus",
                 block_pages: int = 1, verify: bool = False, mmap: bool = False, wp: bool = False,
                 arm: bool = True) -> None:
        if not isinstance(target, Region):
            raise InvalidArgument(f"PageServer serves a Region, got {type(target).__name__}")
        target._check_open()
        if source not in ll.PS_SOURCES:
            raise InvalidArgument(f"source must be one of {sorted(ll.PS_SOURCES)}, got {source!r}")
        if mode not in _MODES:
            raise InvalidArgument(f"mode must be 'sigbus' or 'thread', got {mode!r}")
        if not isinstance(block_pages, int) or not 1 <= block_pages <= 64 or block_pages & (block_pages - 1):
            raise InvalidArgument(f"block_pages must be a power of two in 1..64, got {block_pages!r}")
        ps = ll.page_size()
        self.block_bytes = block_pages * ps
        if target.size % self.block_bytes:
            raise InvalidArgument(f"the Region ({target.size} bytes) is not a whole number of "
                                  f"{self.block_bytes}-byte blocks")
        self.nblocks = target.size // self.block_bytes
        self._target = target
        self._region = region
        self._fd = -1
        self._chunks = None
        region_addr = 0
        if source in ("copy", "move") or region is not None:
            if isinstance(region, Region):
                region._check_open()
                if region.size < target.size:
                    raise InvalidArgument(f"the source Region ({region.size} bytes) is smaller than the target")
                region_addr = region.address
            elif isinstance(region, int) and region > 0 and region % ps == 0:
                region_addr = region
            else:
                raise InvalidArgument(f"source {source!r} needs region= (a Region or a page-aligned address)")
        name = ""
        if source == "file" or file is not None:
            if file is None:
                raise InvalidArgument("source 'file' needs file= (a path or an open file descriptor)")
            if isinstance(file, int):
                self._fd = os.dup(file)
                name = f"fd {file}"
            else:
                name = os.fspath(file)
                self._fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            if chunks is None:
                chunks = [Chunk(b * self.block_bytes, 0, (1 << block_pages) - 1) for b in range(self.nblocks)]
                if verify:
                    chunks = dense_chunks(self._fd, self.nblocks, self.block_bytes)
            chunks = list(chunks)
            if len(chunks) != self.nblocks:
                os.close(self._fd)
                raise InvalidArgument(f"{len(chunks)} chunks for {self.nblocks} blocks")
            self._chunks = ll.ps_chunks(self.nblocks)
            for i, c in enumerate(chunks):
                self._chunks[i].offset, self._chunks[i].checksum, self._chunks[i].present = \
                    c.offset, c.checksum, c.present
        try:
            self._ps = ll.ps_create(target.address, target.size, block_pages, _MODES[mode], ll.PS_SOURCES[source],
                                    wp=wp, region=region_addr, fd=self._fd, file_mmap=mmap,
                                    chunks=self._chunks, verify=verify, name=name)
        except BaseException:
            if self._fd >= 0:
                os.close(self._fd)
            raise
        self.mode, self.source, self.wp = mode, source, wp
        self.armed = False
        if arm:
            self.arm()

    def _check(self):
        if self._ps is None:
            raise RegionClosed("the PageServer is closed")
        return self._ps

    def arm(self) -> None:
        """Registers the range (MISSING, and WP with wp=True) and drops its pages."""
        ll.ps_arm(self._check())
        self.armed = True

    def install(self, first: int = 0, n: "int | None" = None, how: "str | None" = None,
                drop_present: bool = False) -> int:
        """Installs the missing blocks of [first, first + n) (from ``how``, or each
        block's own source); returns how many it installed. drop_present: the
        region pages of blocks already present are released."""
        n = self.nblocks - first if n is None else n
        h = 0 if how is None else ll.PS_SOURCES[how]
        return ll.ps_install(self._check(), first, n, h, ll.PS_DROP_PRESENT if drop_present else 0)

    def set_source(self, first: int, n: int, source: str, *, drop_region: bool = False) -> int:
        """The new source of the missing blocks of [first, first + n) (n <= 64);
        returns a mask of the blocks that were present (bit i: block first + i)."""
        return ll.ps_set_source(self._check(), first, n, ll.PS_SOURCES[source],
                                ll.PS_DROP_REGION if drop_region else 0)

    def block_state(self, block: int) -> str:
        return ll.ps_block_state(self._check(), block)

    def fill(self, min_bytes: int = 64 << 10, max_bytes: int = 4 << 20) -> None:
        """Starts the background filler (CRIU's adaptive chunks)."""
        ll.ps_fill_start(self._check(), min_bytes, max_bytes)

    def wait_filled(self, timeout: "float | None" = None) -> bool:
        """Waits until every block is present (fills the rest itself when the
        filler is gone); False on timeout."""
        return ll.ps_fill_wait(self._check(), -1 if timeout is None else int(timeout * 1000))

    def stats(self) -> dict:
        return ll.ps_stats(self._check())

    def stalls(self, max_n: int = 1 << 20):
        """Per-fault stall times in seconds (numpy array), fault entry to block present."""
        return ll.ps_stalls(self._check(), max_n)

    def dirty_pages(self, clear: bool = False) -> list[int]:
        """wp=True: the page numbers written since they were installed."""
        import numpy as np
        words = ll.ps_dirty(self._check(), self._target.size // ll.page_size(), clear)
        bits = np.unpackbits(words.view(np.uint8), bitorder="little")
        return [int(i) for i in np.flatnonzero(bits[: self._target.size // ll.page_size()])]

    def inject(self, point: str, nth: int = 1, err: int = 0) -> None:
        """Fault injection (tests): "filler_dies" at its nth round, "install" fails once."""
        ll.ps_inject(self._check(), ll.PS_INJ[point], nth, err)

    def disarm(self) -> None:
        ll.ps_disarm(self._check())
        self.armed = False

    def close(self) -> None:
        if getattr(self, "_ps", None) is not None:
            ll.ps_destroy(self._ps)
            self._ps = None
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "PageServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<PageServer {self.source} {self.mode} {self.nblocks} blocks of {self.block_bytes}>"
