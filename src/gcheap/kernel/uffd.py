"""userfaultfd: ``Userfaultfd`` (open, register, resolve, typed events) and
``SigbusService`` (SIGBUS-mode faults resolved in the faulting thread, in C).

EEXIST is raised as ``UffdPageExists`` (the page is there: usually treat as
done), an EAGAIN that retrying does not cure as ``UffdPartial``; both carry
``done``, the bytes completed. A negative kernel result is never a count.
"""
from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from typing import Iterable, Union

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, KernelError, RegionClosed, UffdUnavailable
from gcheap.kernel.probe import FEATURE_BITS, IOCTL_BITS, _bits, _names, probe
from gcheap.kernel.region import Region

@dataclass(frozen=True)
class PageFault:
    address: int
    write: bool
    wp: bool
    minor: bool
    thread_id: int      # 0 unless the fd was opened with "thread_id"


@dataclass(frozen=True)
class Fork:
    uffd: int           # the child's userfaultfd, a new fd in this process: close it


@dataclass(frozen=True)
class Remap:
    old_address: int
    new_address: int
    length: int


@dataclass(frozen=True)
class Remove:
    start: int
    end: int


@dataclass(frozen=True)
class Unmap:
    start: int
    end: int


@dataclass(frozen=True)
class UnknownEvent:
    event: int


Event = Union[PageFault, Fork, Remap, Remove, Unmap, UnknownEvent]


def _event(raw: tuple[int, int, int, int, int, int]) -> Event:
    ev, ptid, flags, addr, a1, a2 = raw
    if ev == ll.EV_PAGEFAULT:
        return PageFault(addr, bool(flags & 1), bool(flags & 2), bool(flags & 4), ptid)
    if ev == ll.EV_FORK:
        return Fork(a1)
    if ev == ll.EV_REMAP:
        return Remap(addr, a1, a2)
    if ev == ll.EV_REMOVE:
        return Remove(addr, a1)
    if ev == ll.EV_UNMAP:
        return Unmap(addr, a1)
    return UnknownEvent(ev)


def _addr_len(address, length) -> tuple[int, int]:
    if isinstance(address, Region):
        return address.address, address.size if length is None else length
    if length is None:
        raise InvalidArgument("length is required with an int address")
    return int(address), int(length)


class Userfaultfd:
    """A userfaultfd opened by the best available route with only the requested features.

    ``user_mode_only=True`` (the default) asks for UFFD_USER_MODE_ONLY, which any
    user may open; such an fd does not handle faults taken by the kernel on the
    process's behalf (read(2) into a missing page fails with EFAULT).

    The descriptor itself is always O_NONBLOCK, because poll() on a blocking
    userfaultfd only ever reports POLLERR. ``nonblocking=True`` makes
    ``read_events()`` return at once by default instead of waiting.

    Events (fork, remap, remove, unmap) block the thread that caused them until
    they are read. A fork() additionally holds glibc's malloc locks while it
    waits, so a Python monitor thread that is between two ``read_events`` calls
    (allocating) when the fork starts deadlocks with it: keep the monitor
    waiting inside ``read_events`` (a long timeout) around forks.
    """

    def __init__(self, features: Iterable[str] = (), *, user_mode_only: bool = True,
                 nonblocking: bool = False) -> None:
        names = frozenset(f.lower() for f in features)
        bits = _bits(names, FEATURE_BITS, "userfaultfd feature")
        caps = probe()
        missing = names - caps.features
        if caps.uffd_available and missing:
            raise UffdUnavailable(f"kernel {caps.kernel} lacks userfaultfd feature(s) {sorted(missing)}",
                                  "upgrade the kernel (move: >= 6.8, poison: >= 6.6, sigbus: >= 4.14)",
                                  errno.EINVAL)
        base = ll.OPEN_NONBLOCK
        umo = ll.OPEN_USER_MODE_ONLY if user_mode_only else 0
        routes = [("syscall", base | umo | ll.OPEN_NO_DEV),
                  ("dev", base | umo | ll.OPEN_NO_SYSCALL)]
        if user_mode_only:   # kernels < 5.11 reject the flag: a full fd also does the job
            routes += [("syscall", base | ll.OPEN_NO_DEV), ("dev", base | ll.OPEN_NO_SYSCALL)]
        fd, errs = -1, []
        for route, flags in routes:
            rc, _, _ = ll.uffd_open_raw(flags)
            if rc >= 0:
                fd, self.via = rc, route
                self.user_mode_only = bool(flags & ll.OPEN_USER_MODE_ONLY)
                break
            errs.append((route, -rc))
        if fd < 0:
            reason = "cannot open a userfaultfd: " + ", ".join(f"{r}: {os.strerror(e)}" for r, e in errs)
            raise UffdUnavailable(reason, caps.remedy, errs[0][1])
        try:
            kernel_bits, ioctls = ll.uffd_api(fd, bits)
        except KernelError:
            ll.close_fd(fd)
            raise
        self._fd = fd
        self._closed = False
        self.nonblocking = nonblocking
        self.features = names
        self.kernel_features = _names(kernel_bits, FEATURE_BITS)
        self.ioctls = _names(ioctls, IOCTL_BITS)

    # -- lifecycle
    def fileno(self) -> int:
        if self._closed:
            raise RegionClosed("Userfaultfd is closed")
        return self._fd

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            ll.close_fd(self._fd)

    def __enter__(self) -> "Userfaultfd":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True) is False:
            self.close()

    # -- registration
    def register(self, address, length: int | None = None, *, missing: bool = True,
                 wp: bool = False, minor: bool = False) -> frozenset:
        """Registers a range; returns the names of the ioctls usable on it."""
        start, n = _addr_len(address, length)
        mode = (missing and ll.MODE_MISSING) | (wp and ll.MODE_WP) | (minor and ll.MODE_MINOR)
        if not mode:
            raise InvalidArgument("register needs at least one of missing, wp, minor")
        return _names(ll.uffd_register(self.fileno(), start, n, mode), IOCTL_BITS)

    def unregister(self, address, length: int | None = None) -> None:
        start, n = _addr_len(address, length)
        ll.uffd_unregister(self.fileno(), start, n)

    def wake(self, address, length: int | None = None) -> None:
        start, n = _addr_len(address, length)
        ll.uffd_wake(self.fileno(), start, n)

    # -- resolving
    @staticmethod
    def _flags(wake: bool, retry: bool) -> int:
        return (0 if wake else ll.DONTWAKE) | (ll.RETRY_EAGAIN if retry else 0)

    def copy(self, dst: int, src, length: int | None = None, *, wake: bool = True,
             retry: bool = True) -> int:
        """UFFDIO_COPY: fills [dst, dst+length) from ``src`` (a bytes-like object,
        or an int address with ``length``); returns the bytes copied.
        Raises UffdPageExists (EEXIST, ``.done`` bytes before the present page)
        and UffdPartial (EAGAIN that retrying did not cure)."""
        keep = None
        if isinstance(src, int):
            if length is None:
                raise InvalidArgument("copy from an address needs a length")
            addr = src
        else:
            addr, n, keep = ll.buffer_address(src)
            if length is None:
                length = n
            elif length > n:
                raise InvalidArgument(f"length {length} exceeds the source's {n} bytes")
        done = ll.uffd_copy(self.fileno(), int(dst), addr, int(length), self._flags(wake, retry))
        del keep
        return done

    def zeropage(self, dst: int, length: int, *, wake: bool = True, retry: bool = True) -> int:
        return ll.uffd_zeropage(self.fileno(), int(dst), int(length), self._flags(wake, retry))

    def move(self, dst: int, src: int, length: int, *, wake: bool = True, retry: bool = True,
             allow_src_holes: bool = False) -> int:
        """UFFDIO_MOVE (needs the "move" feature): moves pages of this process
        into the registered range without copying. EBUSY if a page is shared (fork)."""
        flags = self._flags(wake, retry) | (ll.MOVE_ALLOW_SRC_HOLES if allow_src_holes else 0)
        return ll.uffd_move(self.fileno(), int(dst), int(src), int(length), flags)

    def poison(self, dst: int, length: int, *, wake: bool = True, retry: bool = True) -> int:
        return ll.uffd_poison(self.fileno(), int(dst), int(length), self._flags(wake, retry))

    def writeprotect(self, address: int, length: int, protect: bool = True, *, wake: bool = True) -> None:
        ll.uffd_writeprotect(self.fileno(), int(address), int(length), protect, not wake)

    # -- events
    def read_events(self, timeout: float | None = None) -> list:
        """Waits up to ``timeout`` seconds (None: forever, or not at all when the
        Userfaultfd is nonblocking; 0: poll) and returns the queued events,
        typed; [] on timeout."""
        if timeout is None and self.nonblocking:
            timeout = 0
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            ms = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
            try:
                return [_event(raw) for raw in ll.uffd_read_events(self.fileno(), ms)]
            except KernelError as e:
                if e.errno != errno.EINTR:
                    raise
                # a signal interrupted the wait: its Python handler has run; go on

    def __repr__(self) -> str:
        return f"<Userfaultfd fd={self._fd} via={self.via} features={sorted(self.features)}>"


# ---------------------------------------------------------------- SIGBUS self-service

_SERVE = {"copy": ll.SERVE_COPY, "zeropage": ll.SERVE_ZEROPAGE, "move": ll.SERVE_MOVE}


class SigbusService:
    """Resolves SIGBUS-mode faults on a range inside the faulting thread, in C.

    The uffd must have been opened with the "sigbus" feature and the range
    registered for missing faults. ``how`` is "copy" (from ``source``, an int
    address of an image of the same length), "zeropage" or "move". The handler
    chains every other SIGBUS to the previously installed one. ``stats()``
    reports faults served and the last faulting thread id.
    """

    def __init__(self, uffd: Userfaultfd, address, length: int | None = None, *,
                 source: int = 0, how: str = "copy") -> None:
        if "sigbus" not in uffd.features:
            raise InvalidArgument("SigbusService needs a Userfaultfd opened with the 'sigbus' feature")
        if how not in _SERVE:
            raise InvalidArgument(f"how must be one of {sorted(_SERVE)}, got {how!r}")
        start, n = _addr_len(address, length)
        self._uffd = uffd      # keep the fd alive while serving
        self._slot = ll.sigbus_serve(uffd.fileno(), start, n, int(source), _SERVE[how])

    def stats(self) -> dict:
        return self._final if self._slot is None else ll.sigbus_stats(self._slot)

    def close(self) -> None:
        if self._slot is not None:
            ll.sigbus_unserve(self._slot)
            self._final = ll.sigbus_stats(self._slot)   # no handler is inside the slot now
            self._slot = None

    def __enter__(self) -> "SigbusService":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sigbus_handler_installed() -> bool:
    """True while gcheap's SIGBUS handler is the process's disposition."""
    return ll.sigbus_installed()
