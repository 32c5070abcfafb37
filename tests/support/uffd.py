"""Helpers for tests that need userfaultfd.

``require_uffd(feature=None)``: call it at the top of a test (or use the
``uffd_caps`` fixture, or mark the test ``@pytest.mark.uffd`` /
``@pytest.mark.uffd("move")``). It skips with a reason when this kernel or
process lacks userfaultfd or the named feature(s); under GCHEAP_REQUIRE_UFFD=1
(CI) a missing userfaultfd or MREMAP_DONTUNMAP FAILS the test instead, so CI can
never go green by skipping the interesting half of the suite.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterable

import pytest

from gcheap.kernel import Capabilities, probe


def uffd_required() -> bool:
    return os.environ.get("GCHEAP_REQUIRE_UFFD") == "1"


def require_uffd(feature: str | Iterable[str] | None = None) -> Capabilities:
    """Returns the Capabilities when userfaultfd (and every named feature) is usable."""
    caps = probe()
    if not caps.uffd_available or not caps.mremap_dontunmap:
        why = []
        if not caps.uffd_available:
            why.append(f"userfaultfd unavailable ({caps.uffd_error})")
        if not caps.mremap_dontunmap:
            why.append("mremap(MREMAP_DONTUNMAP) unavailable")
        reason = "; ".join(why) + (f"; remedy: {caps.remedy}" if caps.remedy else "")
        if uffd_required():
            pytest.fail(f"GCHEAP_REQUIRE_UFFD=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    wanted = [feature] if isinstance(feature, str) else list(feature or ())
    missing = sorted(set(f.lower() for f in wanted) - caps.features)
    if missing:
        pytest.skip(f"kernel {caps.kernel} lacks userfaultfd feature(s) {missing}")
    return caps


def smaps_entry(address: int) -> dict[str, str]:
    """The /proc/self/smaps fields of the VMA containing address (VmFlags,
    AnonHugePages, Rss, ...); {} when nothing is mapped there."""
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    entry: dict[str, str] | None = None
    for line in lines:
        head = line.split(None, 1)[0]
        if "-" in head and ":" not in head:
            if entry is not None:
                return entry
            lo, hi = (int(x, 16) for x in head.split("-"))
            entry = {"range": head} if lo <= address < hi else None
        elif entry is not None:
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
    return entry or {}


class BlockedReader:
    """A thread that reads a Region range (in C, GIL released): it blocks on a
    missing registered page until someone serves it."""

    def __init__(self, region, offset: int, length: int) -> None:
        self.data: bytes | None = None
        self.error: BaseException | None = None
        self.thread_id: int | None = None
        self._thread = threading.Thread(target=self._run, args=(region, offset, length), daemon=True)
        self._thread.start()

    def _run(self, region, offset, length) -> None:
        self.thread_id = threading.get_native_id()
        try:
            self.data = region.read(offset, length)
        except BaseException as e:  # reported by result()
            self.error = e

    def alive(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float = 10.0) -> bytes:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "reader still blocked on a missing page"
        if self.error is not None:
            raise self.error
        assert self.data is not None
        return self.data


@contextmanager
def reading(region, offset: int, length: int, uffd):
    """Starts a BlockedReader; on exit closes uffd (which wakes a reader that is
    still blocked: the page then reads as zeros) and joins it, so the Region is
    never unmapped under a running reader."""
    reader = BlockedReader(region, offset, length)
    try:
        yield reader
    finally:
        uffd.close()
        reader._thread.join(10)
