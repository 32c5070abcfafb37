"""gcheap.kernel: the kernel primitives the concurrent compactor stands on.

- ``probe()`` reports what this kernel and process allow (cached ``Capabilities``).
- ``Region`` is a private anonymous mapping; ``mremap_dontunmap`` moves its pages
  to another Region and leaves the source reserved and empty.
- ``Userfaultfd`` opens, registers, resolves (copy, zeropage, move, poison) and
  reads typed events. EEXIST is raised as ``UffdPageExists`` (the page is there:
  usually treat as done), an EAGAIN that cannot make progress as ``UffdPartial``;
  both carry ``done``, the bytes completed. A negative result is never a count.

Every access to mapped memory (``Region.read``/``write``) runs in C with the GIL
released, so a Python thread can serve the faults of another blocked thread.
"""
from __future__ import annotations

import errno
import functools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Union

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, KernelError, RegionClosed, UffdUnavailable

# UFFD_FEATURE_* bit numbers (include/uapi/linux/userfaultfd.h).
FEATURE_BITS: dict[str, int] = {
    "pagefault_flag_wp": 0, "event_fork": 1, "event_remap": 2, "event_remove": 3,
    "missing_hugetlbfs": 4, "missing_shmem": 5, "event_unmap": 6, "sigbus": 7,
    "thread_id": 8, "minor_hugetlbfs": 9, "minor_shmem": 10, "exact_address": 11,
    "wp_hugetlbfs_shmem": 12, "wp_unpopulated": 13, "poison": 14, "wp_async": 15,
    "move": 16,
}
# _UFFDIO_* ioctl numbers: bit n of a register/API answer means ioctl n works.
IOCTL_BITS: dict[str, int] = {
    "register": 0, "unregister": 1, "wake": 2, "copy": 3, "zeropage": 4, "move": 5,
    "writeprotect": 6, "continue": 7, "poison": 8, "api": 0x3F,
}

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4
MADV_DONTNEED = 4
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15

GVISOR_UNAME_VERSION = "#1 SMP Sun Jan 10 15:06:54 PST 2016"


def _names(bits: int, table: dict[str, int]) -> frozenset[str]:
    return frozenset(name for name, bit in table.items() if bits >> bit & 1)


def _bits(names: Iterable[str], table: dict[str, int], what: str) -> int:
    out = 0
    for name in names:
        key = name.lower()
        if key not in table:
            raise InvalidArgument(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
        out |= 1 << table[key]
    return out


# ---------------------------------------------------------------- probe

@dataclass(frozen=True)
class Capabilities:
    """What this kernel and this process allow. ``remedy`` says what to do when
    the concurrent compactor cannot run; ``notes`` lists optional limits."""

    kernel: str
    page_size: int
    uffd_available: bool
    uffd_via: str | None
    uffd_error: str | None
    features: frozenset
    mremap_dontunmap: bool
    thp: str | None
    concurrent_compaction: bool
    remedy: str | None
    routes: dict = field(default_factory=dict)
    notes: tuple = ()
    seccomp: str | None = None
    unprivileged_userfaultfd: int | None = None
    cap_sys_ptrace: bool = False
    gvisor: bool = False

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["features"] = sorted(self.features)
        d["notes"] = list(self.notes)
        d["routes"] = dict(self.routes)
        return d


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _status_field(name: str) -> str | None:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _thp_mode() -> str | None:
    text = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    if not text:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def _route_result(rc: int) -> str:
    if rc >= 0:
        ll.close_fd(rc)
        return "ok"
    return errno.errorcode.get(-rc, str(-rc))


def _probe_dontunmap(ps: int) -> tuple[bool, str | None]:
    """Moves one page with DONTUNMAP: the destination must hold the byte, the source read 0."""
    src = ll.map_anon(ps)
    dst = 0
    try:
        ll.write_memory(src, b"\x5a")
        dst = ll.mremap_dontunmap(src, ps)
        ok = ll.read_memory(dst, 1) == b"\x5a" and ll.read_memory(src, 1) == b"\x00"
        return ok, None if ok else "moved page has the wrong content"
    except KernelError as e:
        return False, str(e)
    finally:
        ll.unmap(src, ps)
        if dst:
            ll.unmap(dst, ps)


def _uffd_remedy(errs: dict[str, int], seccomp: str | None, gvisor: bool, kernel: str) -> str:
    sys_err = errs.get("syscall-user-mode-only") or errs.get("syscall")
    if gvisor:
        return ("gVisor (runsc) does not implement userfaultfd: run on a regular Linux kernel "
                "(runc container, VM or host)")
    if seccomp == "2" and sys_err in (errno.EPERM, errno.ENOSYS):
        return ("a seccomp filter blocks userfaultfd(2) (Docker's default profile does): run the "
                "container with a profile that allows userfaultfd (--security-opt seccomp=<profile>) "
                "or pass --device /dev/userfaultfd (Linux >= 6.1) so the /dev route can be used")
    if sys_err == errno.EPERM:
        return ("unprivileged userfaultfd is disabled (vm.unprivileged_userfaultfd=0) and this kernel "
                "has no UFFD_USER_MODE_ONLY (Linux < 5.11): run `sysctl -w vm.unprivileged_userfaultfd=1`, "
                "grant CAP_SYS_PTRACE, or give this user read/write access to /dev/userfaultfd")
    if sys_err == errno.ENOSYS:
        return (f"kernel {kernel} has no userfaultfd (needs CONFIG_USERFAULTFD=y, Linux >= 4.14 for "
                "SIGBUS mode; >= 5.7 for MREMAP_DONTUNMAP)")
    return "userfaultfd cannot be opened here: " + ", ".join(f"{k}: {os.strerror(v)}" for k, v in errs.items())


def _probe() -> Capabilities:
    uname = os.uname()
    ps = ll.page_size()
    seccomp = _status_field("Seccomp")
    cap_eff = _status_field("CapEff")
    cap_ptrace = bool(cap_eff and int(cap_eff, 16) >> 19 & 1)
    sysctl_text = _read("/proc/sys/vm/unprivileged_userfaultfd")
    sysctl = int(sysctl_text) if sysctl_text and sysctl_text.strip().isdigit() else None
    gvisor = uname.version == GVISOR_UNAME_VERSION

    # Every route, best first: a full fd by syscall, a full fd by /dev, a
    # user-mode-only fd by syscall (what gcheap itself needs).
    attempts = {
        "syscall": ll.GK.GK_OPEN_NO_DEV,
        "dev": ll.GK.GK_OPEN_NO_SYSCALL,
        "syscall-user-mode-only": ll.GK.GK_OPEN_NO_DEV | ll.GK.GK_OPEN_USER_MODE_ONLY,
    }
    routes: dict[str, str] = {}
    errs: dict[str, int] = {}
    via = None
    features: frozenset = frozenset()
    for route, flags in attempts.items():
        rc, _, _ = ll.uffd_open_raw(flags)
        if rc >= 0 and via is None:
            try:
                feats, _ = ll.uffd_api(rc, 0)
                features = _names(feats, FEATURE_BITS)
                via = route
            except KernelError as e:
                errs[route] = e.errno
        if rc < 0:
            errs[route] = -rc
        routes[route] = _route_result(rc)

    uffd_error = None
    if via is None:
        uffd_error = "; ".join(f"{k}: {os.strerror(v)}" for k, v in errs.items())
    dontunmap, _ = _probe_dontunmap(ps)
    thp = _thp_mode()

    notes = []
    remedy = None
    if via is None:
        remedy = _uffd_remedy(errs, seccomp, gvisor, uname.release)
    elif "sigbus" not in features:
        remedy = f"kernel {uname.release} lacks UFFD_FEATURE_SIGBUS: upgrade to Linux >= 4.14"
    if not dontunmap:
        more = f"kernel {uname.release} lacks MREMAP_DONTUNMAP for private anonymous memory: upgrade to Linux >= 5.7"
        remedy = more if remedy is None else f"{remedy}; {more}"
    if via is not None and "move" not in features:
        notes.append("UFFDIO_MOVE needs Linux >= 6.8 (optional: the compactor copies instead of moving)")
    if via == "syscall-user-mode-only":
        notes.append("only user-mode-only userfaultfds are allowed for this user "
                     f"(vm.unprivileged_userfaultfd={sysctl}, no CAP_SYS_PTRACE, no access to "
                     "/dev/userfaultfd): enough for gcheap, which never hands heap memory to a "
                     "system call; for kernel-mode faults run `sysctl -w vm.unprivileged_userfaultfd=1`")
    if thp in (None, "never"):
        notes.append("transparent huge pages are off: PMD-sized moves fall back to 4 KiB pages")

    return Capabilities(
        kernel=uname.release, page_size=ps, uffd_available=via is not None, uffd_via=via,
        uffd_error=uffd_error, features=features, mremap_dontunmap=dontunmap, thp=thp,
        concurrent_compaction=via is not None and "sigbus" in features and dontunmap,
        remedy=remedy, routes=routes, notes=tuple(notes), seccomp=seccomp,
        unprivileged_userfaultfd=sysctl, cap_sys_ptrace=cap_ptrace, gvisor=gvisor)


@functools.lru_cache(maxsize=1)
def _probe_cached() -> Capabilities:
    return _probe()


def probe(*, refresh: bool = False) -> Capabilities:
    """The capability report of this kernel and process (computed once, then cached)."""
    if refresh:
        _probe_cached.cache_clear()
    return _probe_cached()


# ---------------------------------------------------------------- regions

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
        _track(self)

    @classmethod
    def _adopt(cls, address: int, size: int, owner: bool) -> "Region":
        self = cls.__new__(cls)
        self._address, self._size, self._owner, self._closed = address, size, owner, False
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
        return self._closed

    @property
    def owner(self) -> bool:
        """True when close() unmaps the memory (False for slices)."""
        return self._owner

    def _check_open(self) -> None:
        if self._closed:
            raise RegionClosed("Region is closed")

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
        return Region._adopt(self._address + offset, length, owner=False)

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
    for line in (_read("/proc/self/maps") or "").splitlines():
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
    inside_owned = dst and replaced is None and _owning_region(dst, dst + size) is not None
    return Region._adopt(new, size, owner=not inside_owned)


# ---------------------------------------------------------------- userfaultfd

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
    if ev == ll.GK.GK_EV_PAGEFAULT:
        return PageFault(addr, bool(flags & 1), bool(flags & 2), bool(flags & 4), ptid)
    if ev == ll.GK.GK_EV_FORK:
        return Fork(a1)
    if ev == ll.GK.GK_EV_REMAP:
        return Remap(addr, a1, a2)
    if ev == ll.GK.GK_EV_REMOVE:
        return Remove(addr, a1)
    if ev == ll.GK.GK_EV_UNMAP:
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
        base = ll.GK.GK_OPEN_NONBLOCK
        umo = ll.GK.GK_OPEN_USER_MODE_ONLY if user_mode_only else 0
        routes = [("syscall", base | umo | ll.GK.GK_OPEN_NO_DEV),
                  ("dev", base | umo | ll.GK.GK_OPEN_NO_SYSCALL)]
        if user_mode_only:   # kernels < 5.11 reject the flag: a full fd also does the job
            routes += [("syscall", base | ll.GK.GK_OPEN_NO_DEV), ("dev", base | ll.GK.GK_OPEN_NO_SYSCALL)]
        fd, errs = -1, []
        for route, flags in routes:
            rc, _, _ = ll.uffd_open_raw(flags)
            if rc >= 0:
                fd, self.via = rc, route
                self.user_mode_only = bool(flags & ll.GK.GK_OPEN_USER_MODE_ONLY)
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
        mode = (missing and ll.GK.GK_MODE_MISSING) | (wp and ll.GK.GK_MODE_WP) | (minor and ll.GK.GK_MODE_MINOR)
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
        return (0 if wake else ll.GK.GK_DONTWAKE) | (ll.GK.GK_RETRY_EAGAIN if retry else 0)

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
        flags = self._flags(wake, retry) | (ll.GK.GK_MOVE_ALLOW_SRC_HOLES if allow_src_holes else 0)
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

_SERVE = {"copy": "GK_SERVE_COPY", "zeropage": "GK_SERVE_ZEROPAGE", "move": "GK_SERVE_MOVE"}


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
        self._slot = ll.sigbus_serve(uffd.fileno(), start, n, int(source), getattr(ll.GK, _SERVE[how]))

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
