"""What this kernel and this process allow: ``probe() -> Capabilities``.

Every route to a userfaultfd is tried (syscall, /dev/userfaultfd, user-mode-only
syscall), the features are read from a throwaway fd's UFFDIO_API answer, and
MREMAP_DONTUNMAP is tried on one page. ``remedy`` says what to do when the
concurrent compactor cannot run here; ``gcheap doctor`` prints all of it.
"""
from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass, field
from typing import Iterable

from gcheap import _lowlevel as ll
from gcheap.errors import InvalidArgument, KernelError

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
        "syscall": ll.OPEN_NO_DEV,
        "dev": ll.OPEN_NO_SYSCALL,
        "syscall-user-mode-only": ll.OPEN_NO_DEV | ll.OPEN_USER_MODE_ONLY,
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
