"""collector="cmc" for gcheap.Runtime: options, fallback, gc/wait_gc, reports.

The C side (csrc/cmc_collector.c) runs the runtime's phases in a pause and then
flips; this module switches a runtime to it, falls back to stop-the-world when
the kernel cannot do it (one warning per process), and turns the C statistics
into a CmcReport.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np

from gcheap import _lowlevel as _ll
from gcheap.cmc.compactor import CmcOptions, unavailable_reason
from gcheap.errors import AddressRangeStolen, HeapCorruption, InvalidOption, KernelError
from gcheap.runtime.report import GCReport

OPTION_NAMES = ("fault_mode", "install", "gc_threads", "flip", "require_concurrent",
                "run_pages", "release_batch_pages", "worker_delay_us", "end_delay_us",
                "install_deadline_ms")
_warned = False
FORKED_REASON = ("forked child: the userfaultfd and GC threads belong to the parent process; "
                 "compacted stop-the-world")


@dataclass(frozen=True)
class CmcReport(GCReport):
    """A GCReport of collector "cmc". pause_s = sum(pauses.values()) of the top-level
    pauses ("mark", "flip"); "flip.*" are parts of "flip". RSS figures here are the
    process's (/proc/self/statm), sampled at the flip and during the cycle."""

    concurrent: bool = False
    complete: bool = True                   # False for gc(wait=False) before wait_gc()
    pauses: dict = field(default_factory=dict)
    pages_by_gc: int = 0
    pages_by_mutator: int = 0
    zero_pages: int = 0
    fault_stalls_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ioctls: dict = field(default_factory=dict)
    eexist: int = 0
    eagain: int = 0
    ioctl_errors: int = 0
    worker_failures: int = 0
    process_rss_before: int = 0
    peak_rss: int = 0
    released_bytes: int = 0
    compaction_s: float = 0.0
    install: str = "copy"
    move_fallback: bool = False
    error: str | None = None                # what went wrong (the cycle still completed)

    def __str__(self) -> str:
        p = ", ".join(f"{k} {v * 1e3:.3f}" for k, v in self.pauses.items())
        return (f"cmc gc #{self.seq} ({self.cause}) concurrent={self.concurrent}: pause {self.pause_s * 1e3:.3f} ms "
                f"[{p}] compaction {self.compaction_s * 1e3:.2f} ms, pages gc/mutator "
                f"{self.pages_by_gc}/{self.pages_by_mutator}, live {self.live_bytes} B"
                + (f", error: {self.error}" if self.error else ""))


def split_options(collector: str, options: dict) -> CmcOptions | None:
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise InvalidOption(f"unknown option(s) {sorted(unknown)}")
    if collector != "cmc":
        if options:
            raise InvalidOption(f"options {sorted(options)} apply to collector='cmc' only")
        return None
    if "require_concurrent" in options and not isinstance(options["require_concurrent"], bool):
        raise InvalidOption("require_concurrent: expected True or False")
    try:
        return CmcOptions(**options)
    except InvalidOption:
        raise
    except (TypeError, ValueError) as e:
        raise InvalidOption(str(e)) from e


class CmcState:
    """Per-runtime state of collector "cmc" (rt._cmc)."""

    def __init__(self, rt, options: CmcOptions, rc: int = 0) -> None:
        """rc: the -errno with which creating the runtime with collector "cmc" failed
        (it was then created "stw"), or 0."""
        global _warned
        self.rt = rt
        self.options = options
        self.fallback_reason: str | None = None
        self._pending: dict | None = None       # pause of a gc(wait=False) not yet reported
        if rc < 0:
            err = unavailable_reason(-rc)
            if options.require_concurrent:
                raise err
            self.fallback_reason = str(err)
            if not _warned:
                _warned = True
                warnings.warn(f"gcheap: collector 'cmc' falls back to stop-the-world compaction: {err}",
                              RuntimeWarning, stacklevel=4)

    @property
    def concurrent_capable(self) -> bool:
        return self.fallback_reason is None and not self.forked

    @property
    def forked(self) -> bool:
        """True in a process forked from the runtime's owner: the userfaultfd and the
        GC threads stayed with the parent, collections compact stop-the-world here."""
        return self.fallback_reason is None and bool(_ll.gr_cmc_info(self.rt._c)[0]["forked"])

    def gc(self, wait: bool = True) -> CmcReport:
        rt = self.rt
        if self.concurrent_capable:
            self._wait()                        # never start mid-cycle
        self._pending = None                    # its statistics are reset by this flip
        rc, p = _ll.gc(rt._c)
        if rc:
            raise rt._error(rc, "gc")
        info, _ = _ll.gr_cmc_info(rt._c)
        if self.concurrent_capable and info["flip_error"] == -__import__("errno").EADDRINUSE:
            # The heap was moved back and compacted stop-the-world; report loudly.
            raise AddressRangeStolen(f"collection #{p['seq']} completed stop-the-world after the theft")
        if not wait:
            self._pending = p
            return self._report(p, complete=not _ll.gr_cmc_active(rt._c))
        self._wait()
        return self._report(p, complete=True)

    def wait_gc(self) -> CmcReport | None:
        """Waits for the running cycle; returns the report of the gc(wait=False) it finishes."""
        self._wait()
        p, self._pending = self._pending, None
        return self._report(p, complete=True) if p is not None else None

    def _wait(self) -> None:
        if not self.concurrent_capable:
            return
        rc = _ll.gr_cmc_wait_rc(self.rt._c, -1)
        if rc < 0:
            raise KernelError(-rc, "concurrent compaction could not complete")

    def _report(self, p: dict, complete: bool) -> CmcReport:
        base = GCReport.from_pause(p)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(GCReport)}
        fields["collector"] = "cmc"
        if not self.concurrent_capable:
            return CmcReport(**fields, concurrent=False, complete=True,
                             pauses={"mark": base.pause_s, "flip": 0.0},
                             error=self.fallback_reason or FORKED_REASON)
        info, st = _ll.gr_cmc_info(self.rt._c)
        mark = info["mark_ns"] / 1e9
        flip = max(p["pause_ns"] / 1e9 - mark, 0.0)
        pauses = {"mark": mark, "flip": flip, "flip.roots": info["roots_ns"] / 1e9,
                  "flip.mremap": st["flip_mremap_s"], "flip.register": st["flip_register_s"]}
        error = None
        if info["flip_error"]:
            error = f"flip failed ({_ll.CMC_POINT_NAMES.get(st['last_error_point'], '?')}: " \
                    f"{_errno_name(info['flip_error'])}); compacted stop-the-world"
        elif st["last_error"]:
            error = (f"{_ll.CMC_POINT_NAMES.get(st['last_error_point'], 'build')} failed "
                     f"({_errno_name(st['last_error'])}); recovered, heap complete")
        stalls = _ll.gr_cmc_stalls(self.rt._c, max(int(st["stalls"]), 1)) if info["concurrent"] else np.zeros(0)
        fields["pause_s"] = mark + flip
        return CmcReport(
            **fields, concurrent=bool(info["concurrent"]), complete=complete, pauses=pauses,
            pages_by_gc=st["pages_by_gc"], pages_by_mutator=st["pages_by_mutator"],
            zero_pages=st["zero_pages"], fault_stalls_s=stalls,
            ioctls={"copy": st["ioctl_copy"], "move": st["ioctl_move"], "zeropage": st["ioctl_zeropage"],
                    "wake": st["ioctl_wake"]},
            eexist=st["eexist"], eagain=st["eagain"], ioctl_errors=st["ioctl_errors"],
            worker_failures=st["worker_failures"], process_rss_before=st["rss_before"],
            peak_rss=st["peak_rss"], released_bytes=st["released_bytes"],
            compaction_s=st["compaction_s"] if complete else 0.0,
            install="move" if st["install"] == _ll.CMC_INSTALL_MOVE else "copy",
            move_fallback=bool(st["move_fallback"]), error=error)

    def totals(self) -> dict:
        """Sums over every concurrent cycle of this runtime (completed ones, plus the
        running one so far): cycles, pages_by_gc, pages_by_mutator, zero_pages, faults,
        ioctl_errors, eexist, eagain, worker_failures, moved_bytes, released_bytes,
        recycled_pages, stalls, flip_s, compaction_s. All zero after a fallback."""
        return _ll.gr_cmc_totals(self.rt._c)

    def inject(self, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
        """The nth run of the step fails with err, and the times-1 runs after it (-1: forever)."""
        if not self.concurrent_capable:
            raise InvalidOption("fault injection needs a concurrent cmc runtime")
        _ll.gr_cmc_inject(self.rt._c, point, nth, err, times)


def _errno_name(rc: int) -> str:
    import errno
    return errno.errorcode.get(-rc, str(rc))


__all__ = ["CmcReport", "CmcState", "split_options", "HeapCorruption"]
