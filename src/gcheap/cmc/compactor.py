"""``Compactor``: the C layer (csrc/cmc) over any page-aligned region with a
built-in page builder; ``CmcOptions``: the options of the machinery, which the
runtime's collector "cmc" (gcheap.runtime.cmc) takes too."""
from __future__ import annotations

import errno
from dataclasses import dataclass

from gcheap import _lowlevel as ll
from gcheap.errors import AddressRangeStolen, GCHeapError, InvalidArgument, KernelError, UffdUnavailable

PAGE = ll.page_size()


@dataclass(frozen=True)
class CmcOptions:
    """Options of collector="cmc" (validated on construction)."""

    fault_mode: str = "sigbus"
    # "auto": GC threads copy while a mutator may be running (the runtime's busy hook:
    # a move shoots down the TLB of every CPU running the process, and the running
    # mutator pays for it); otherwise they use UFFDIO_MOVE (Linux 6.8) while it costs
    # less per page than UFFDIO_COPY plus the release of the from-space page a move
    # recycles, both timed as they run. Mutators' faults copy.
    # "move" / "copy": always that one. Without UFFDIO_MOVE: copy (move_fallback).
    install: str = "auto"
    gc_threads: int = 1
    flip: str = "dontunmap"
    require_concurrent: bool = False
    run_pages: int = 128            # pages a GC thread builds and installs with one ioctl
    release_batch_pages: int = 1024  # from-space pages released per madvise
    worker_delay_us: int = 0        # testing: let mutators fault first
    end_delay_us: int = 0           # testing: the last GC worker ends a cycle this late
    install_deadline_ms: int = ll.CMC_INSTALL_DEADLINE_MS   # a page not installable this long aborts
    remap_gap_us: int = 0           # testing, flip="remap": the unmapped window is held open this long
    # at a cycle's end, move the garbage from-space pages into the heap's free pages
    # above the allocation frontier instead of releasing them (csrc/cmc/recycle.c):
    # under a Runtime its allocations zero them; this standalone Compactor zeroes them first
    recycle_free: bool = True
    fill_delay_us: int = 0          # testing: the fill waits this long with its range registered

    def __post_init__(self) -> None:
        if self.fault_mode not in ll.CMC_FAULT_MODES:
            raise InvalidArgument(f"fault_mode must be one of {sorted(ll.CMC_FAULT_MODES)}, not {self.fault_mode!r}")
        if self.install not in ll.CMC_INSTALLS:
            raise InvalidArgument(f"install must be one of {sorted(ll.CMC_INSTALLS)}, not {self.install!r}")
        if self.flip not in ll.CMC_FLIPS:
            raise InvalidArgument(f"flip must be one of {sorted(ll.CMC_FLIPS)}, not {self.flip!r}")
        for name, lo, hi in (("gc_threads", 1, 64), ("run_pages", 1, 256), ("release_batch_pages", 1, 1 << 30),
                             ("worker_delay_us", 0, 10_000_000), ("end_delay_us", 0, 10_000_000),
                             ("install_deadline_ms", 1, 3_600_000), ("remap_gap_us", 0, 1_000_000),
                             ("fill_delay_us", 0, 10_000_000)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise InvalidArgument(f"{name} must be an int in [{lo}, {hi}], not {v!r}")
        if not isinstance(self.recycle_free, bool):
            raise InvalidArgument(f"recycle_free: expected True or False, got {self.recycle_free!r}")

    def c_config(self):
        return ll.cmc_config(self.fault_mode, self.install, self.gc_threads, self.flip,
                             self.run_pages, self.release_batch_pages, self.worker_delay_us,
                             self.end_delay_us, self.install_deadline_ms, self.remap_gap_us,
                             self.recycle_free, self.fill_delay_us)


def unavailable_reason(err: int) -> UffdUnavailable:
    """The UffdUnavailable for a failed cmc_create / gr_cmc_enable."""
    reasons = {
        errno.ENOSYS: ("userfaultfd is not available (syscall missing or filtered)",
                       "run on Linux >= 5.7 outside seccomp filters that block userfaultfd"),
        errno.EPERM: ("userfaultfd is not permitted",
                      "sysctl vm.unprivileged_userfaultfd=1, CAP_SYS_PTRACE, or access to /dev/userfaultfd"),
        errno.EOPNOTSUPP: ("a required userfaultfd feature is missing (SIGBUS mode or an ioctl)",
                           "use fault_mode='thread' or a newer kernel"),
        errno.EINVAL: ("mremap(MREMAP_DONTUNMAP) or a userfaultfd request was refused",
                       "Linux >= 5.7 is needed for MREMAP_DONTUNMAP"),
        errno.ENOSPC: ("every fault range of this process's SIGBUS dispatcher is taken (one per open "
                       "cmc runtime, compactor or page server)",
                       "close() the runtimes no longer in use"),
    }
    reason, remedy = reasons.get(err, (f"concurrent compaction setup failed: {errno.errorcode.get(err, err)}", None))
    return UffdUnavailable(reason, remedy, err or errno.ENOSYS)


def flip_error(rc: int) -> GCHeapError:
    if rc == -errno.ECHILD:
        return UffdUnavailable("this process is a fork child of the compactor's owner: its userfaultfd "
                               "and threads stayed with the parent", "create a new Compactor in the child",
                               errno.ECHILD)
    if rc == -errno.EADDRINUSE:
        return AddressRangeStolen("another mapping landed in the unmapped heap range")
    return KernelError(-rc, "cmc flip")


class Compactor:
    """The concurrent machinery over [heap, heap + size) with the XOR page
    builder: destination page p = from-space page p XOR pattern."""

    def __init__(self, heap: int, size: int, options: CmcOptions | None = None, pattern: int = 0x5A5A5A5A) -> None:
        self.options = options or CmcOptions()
        self.heap = heap
        self.size = size
        self.pattern = pattern
        try:
            self._c = ll.cmc_create(heap, size, self.options.c_config())
        except KernelError as e:
            raise unavailable_reason(e.errno) from e
        ll.cmc_use_xor_builder(self._c, pattern)

    def flip(self, used_len: int | None = None, n_build: int | None = None, src_first=None) -> None:
        used_len = self.size if used_len is None else used_len
        n_build = used_len // PAGE if n_build is None else n_build
        src_first = range(n_build) if src_first is None else src_first
        rc = ll.cmc_flip_rc(self._c, used_len, n_build, src_first)
        if rc < 0:
            raise flip_error(rc)
        ll.cmc_start(self._c)

    def wait(self, timeout: float | None = None) -> None:
        rc = ll.cmc_wait(self._c, -1 if timeout is None else int(timeout * 1000))
        if rc < 0:
            raise KernelError(-rc, "cmc wait")

    @property
    def active(self) -> bool:
        return ll.cmc_active(self._c)

    def stats(self) -> dict:
        return ll.cmc_stats(self._c)

    def totals(self) -> dict:
        """Sums over every cycle (stats() is the current or last cycle's)."""
        return ll.cmc_totals(self._c)

    def stalls(self):
        return ll.cmc_stalls(self._c, self.size // PAGE)

    def inject(self, point: str, nth: int = 1, err: int = errno.EIO, times: int = 1) -> None:
        """The nth run of the step fails with err, and the times-1 runs after it
        (times=-1: forever)."""
        ll.cmc_inject(self._c, point, nth, err, times)

    def close(self) -> None:
        if self._c is not None:
            ll.cmc_destroy(self._c)
            self._c = None

    def __enter__(self) -> "Compactor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
