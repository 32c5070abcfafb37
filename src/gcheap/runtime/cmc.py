"""collector="cmc" for gcheap.Runtime: options, fallback, gc/wait_gc, reports.

The C side (csrc/gc/cmc*.c) runs a cycle: a start pause, concurrent marking, a
remark pause (or a few), concurrent preparation, the flip pause, concurrent
compaction (csrc/cmc). This module validates its options, falls back to
stop-the-world compaction when the kernel cannot do it (one warning per
process), and turns the C cycle record and statistics into a CmcReport.
"""
from __future__ import annotations

import dataclasses
import warnings
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gcheap import _lowlevel as _ll
from gcheap.cmc.compactor import CmcOptions, unavailable_reason
from gcheap.errors import AddressRangeStolen, HeapCorruption, InvalidOption, KernelError
from gcheap.runtime.report import GCReport

if TYPE_CHECKING:
    import numpy as np

MACHINERY_OPTIONS = ("fault_mode", "install", "gc_threads", "flip", "require_concurrent",
                     "run_pages", "release_batch_pages", "worker_delay_us", "end_delay_us",
                     "install_deadline_ms", "remap_gap_us", "recycle_free",
                     "fill_delay_us")
CYCLE_OPTIONS = ("marking", "checks", "remark_budget_us", "remark_attempts", "pacing", "stress_delay_us",
                 "mark_stack_limit", "hold_after_start_ms", "catchup_kib", "remark_flush")
OPTION_NAMES = MACHINERY_OPTIONS + CYCLE_OPTIONS
_warned = False
FORKED_REASON = ("forked child: the userfaultfd and GC threads belong to the parent process; "
                 "compacted stop-the-world")


@dataclass(frozen=True)
class CycleOptions:
    """The options of a cmc cycle (beside the machinery's CmcOptions):

    marking           "concurrent" (SATB barrier, the default) or "pause" (marking
                      inside the flip pause: the baseline)
    checks            debug verification: "checkmark" (a stop-the-world re-mark at
                      remark: a reachable object left unmarked fails the cycle with
                      its path) and/or "barrier" (the missing-log verifier: every
                      object reachable at the start must be marked at remark)
    remark_budget_us  how long a remark pause may drain (default 300); over it the
                      mutators resume and marking goes on
    remark_attempts   resumed remarks before one finishes regardless (default 8)
    remark_flush      True (default): before each remark, a catch-up pause queues the
                      mutators' partial barrier buffers and the marker drains them
                      concurrently, so that the remark finds only what was logged
                      since; False: the remark takes them (ablation)
    catchup_kib       after remark, while more than this many KiB were allocated since
                      what prepare covers, a catch-up pause retires the TLABs and
                      prepare goes on up to their top (default 2048; at most 4 rounds):
                      the flip pause then handles only the rest
    pacing            True: the pacer starts cycles before the heap fills
    stress_delay_us   testing: random delays up to this long between phases, in the
                      barrier and in the marker
    mark_stack_limit  testing: the mark stack's entries at most (0: unlimited); an
                      overflow falls back to rescanning the bitmap
    hold_after_start_ms  testing: the cycle waits this long after its start pause
                      before it marks (the mutators run meanwhile)
    """

    marking: str = "concurrent"
    checks: tuple = ()
    remark_budget_us: int = 0
    remark_attempts: int = 0
    pacing: bool = True
    stress_delay_us: int = 0
    mark_stack_limit: int = 0
    hold_after_start_ms: int = 0
    catchup_kib: int = 0
    remark_flush: bool = True

    def __post_init__(self) -> None:
        if self.marking not in _ll.GR_MARKINGS:
            raise InvalidOption(f"marking must be one of {sorted(_ll.GR_MARKINGS)}, not {self.marking!r}")
        checks = (self.checks,) if isinstance(self.checks, str) else self.checks
        if not isinstance(checks, (tuple, list, set, frozenset)) or any(c not in _ll.GR_CHECKS for c in checks):
            raise InvalidOption(f"checks: a tuple of {sorted(_ll.GR_CHECKS)}, not {self.checks!r}")
        object.__setattr__(self, "checks", tuple(sorted(set(checks))))
        for name in ("pacing", "remark_flush"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidOption(f"{name}: expected True or False, got {getattr(self, name)!r}")
        for name, hi in (("remark_budget_us", 10_000_000), ("remark_attempts", 1000), ("stress_delay_us", 100_000),
                         ("mark_stack_limit", 1 << 40), ("hold_after_start_ms", 60_000),
                         ("catchup_kib", 1 << 30)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
                raise InvalidOption(f"{name} must be an int in [0, {hi}], not {v!r}")

    def c_config(self, machinery: CmcOptions):
        return _ll.gr_cmc_config(machinery.c_config(), self.marking, self.checks, self.remark_budget_us,
                                 self.remark_attempts, self.pacing, self.stress_delay_us, self.mark_stack_limit,
                                 self.hold_after_start_ms, self.catchup_kib, self.remark_flush)


@dataclass(frozen=True)
class CmcOptionsAll:
    machinery: CmcOptions
    cycle: CycleOptions

    @property
    def require_concurrent(self) -> bool:
        return self.machinery.require_concurrent

    def c_config(self):
        return self.cycle.c_config(self.machinery)


@dataclass(frozen=True)
class CmcReport(GCReport):
    """A GCReport of collector "cmc": one cycle. pause_s = the sum of its pauses
    (pauses: "start", "remark" (all of them), "catchup" (all of them, if any),
    "flip" for concurrent marking; "mark" and "flip" when marking ran in the
    pause); "flip.*" are parts of "flip";
    longest_pause_s is the longest single one. cycle: the C cycle record (its
    concurrent phases, GC CPU, allocation stalls, floating garbage, ...). RSS
    figures here are the process's (/proc/self/statm), sampled at the flip and
    during the cycle."""

    concurrent: bool = False
    marking: str = "pause"
    longest_pause_s: float = 0.0
    cycle: dict = field(default_factory=dict)
    complete: bool = True                   # False for gc(wait=False) before wait_gc()
    pauses: dict = field(default_factory=dict)
    pages_by_gc: int = 0
    pages_by_mutator: int = 0
    zero_pages: int = 0
    fault_stalls_s: np.ndarray = field(default_factory=lambda: _ll.doubles(None, 0))
    ioctls: dict = field(default_factory=dict)
    eexist: int = 0
    eagain: int = 0
    ioctl_errors: int = 0
    worker_failures: int = 0
    process_rss_before: int = 0
    peak_rss: int = 0
    released_bytes: int = 0
    compaction_s: float = 0.0
    install: str = "copy"                   # copy, move or auto (see CmcOptions)
    auto_copy_pages: int = 0                # install="auto": pages GC threads copied, not moved
    move_fallback: bool = False
    error: str | None = None                # what went wrong (the cycle still completed)

    def __str__(self) -> str:
        p = ", ".join(f"{k} {v * 1e3:.3f}" for k, v in self.pauses.items())
        return (f"cmc gc #{self.seq} ({self.cause}) concurrent={self.concurrent}: pause {self.pause_s * 1e3:.3f} ms "
                f"[{p}] compaction {self.compaction_s * 1e3:.2f} ms, pages gc/mutator "
                f"{self.pages_by_gc}/{self.pages_by_mutator}, live {self.live_bytes} B"
                + (f", error: {self.error}" if self.error else ""))


def split_options(collector: str, options: dict) -> CmcOptionsAll | None:
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
        return CmcOptionsAll(CmcOptions(**{k: v for k, v in options.items() if k in MACHINERY_OPTIONS}),
                             CycleOptions(**{k: v for k, v in options.items() if k in CYCLE_OPTIONS}))
    except InvalidOption:
        raise
    except (TypeError, ValueError) as e:
        raise InvalidOption(str(e)) from e


class CmcState:
    """Per-runtime state of collector "cmc" (rt._cmc)."""

    def __init__(self, rt, options: CmcOptionsAll, rc: int = 0) -> None:
        """rc: the -errno with which creating the runtime with collector "cmc" failed
        (it was then created "stw"), or 0."""
        # (numpy, which the reports' fault-stall arrays need, is imported by the first
        # report, not here: `gcheap run --collector cmc` builds none, and paid ~50 ms
        # of its start-up for it; a report's figures are taken in C before the import)
        global _warned
        self.rt = weakref.proxy(rt)     # no cycle: a dropped runtime is freed at once
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

    def cycles(self) -> list[dict]:
        """Every cycle so far (gr_cycle records; times in seconds)."""
        if self.fallback_reason is not None:
            return []
        return _ll.gr_cycles(self.rt._c)

    def _report(self, p: dict, complete: bool) -> CmcReport:
        base = GCReport.from_pause(p)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(GCReport)}
        fields["collector"] = "cmc"
        if self.fallback_reason is not None:
            return CmcReport(**fields, concurrent=False, complete=True, longest_pause_s=base.pause_s,
                             pauses={"mark": base.pause_s, "flip": 0.0}, error=self.fallback_reason)
        cycles = _ll.gr_cycles(self.rt._c)
        cycle = cycles[-1] if cycles else {}
        by_seq = {q["seq"]: q for q in _ll.pauses(self.rt._c)[-16:]}
        pauses: dict = {}
        for seq in cycle.get("pause_seq", [p["seq"]]):
            q = by_seq.get(seq)
            if q is None:
                continue
            name = {"start": "start", "remark": "remark", "flip": "flip", "mark+flip": "flip"}.get(q["kind"], q["kind"])
            pauses[name] = pauses.get(name, 0.0) + q["pause_ns"] / 1e9
        if p["kind"] == "mark+flip":     # marking in the pause: split it as before
            ph = dict(zip(_ll.PHASE_NAMES, p["phase_ns"]))
            mark = (ph["safepoint"] + ph["verify_before"] + ph["mark"] + ph["compute_liveness"] +
                    ph["compute_page_metadata"]) / 1e9
            pauses = {"mark": mark, "flip": max(p["pause_ns"] / 1e9 - mark, 0.0)}
        info, st = _ll.gr_cmc_info(self.rt._c)
        pauses["flip.roots"] = info["roots_ns"] / 1e9
        pauses["flip.mremap"] = st["flip_mremap_s"]
        pauses["flip.register"] = st["flip_register_s"]
        if p["kind"] == "flip":
            pauses["flip.black"] = dict(zip(_ll.PHASE_NAMES, p["phase_ns"]))["black_allocations"] / 1e9
        error = None
        if self.forked:
            error = FORKED_REASON
        elif info["flip_error"]:
            error = f"flip failed ({_ll.CMC_POINT_NAMES.get(st['last_error_point'], '?')}: " \
                    f"{_errno_name(info['flip_error'])}); compacted stop-the-world"
        elif st["last_error"]:
            error = (f"{_ll.CMC_POINT_NAMES.get(st['last_error_point'], 'build')} failed "
                     f"({_errno_name(st['last_error'])}); recovered, heap complete")
        compacted = bool(info["concurrent"])
        stalls = _ll.gr_cmc_stalls(self.rt._c, max(int(st["stalls"]), 1)) if compacted else _ll.doubles(None, 0)
        fields["pause_s"] = cycle.get("total_pause_s", base.pause_s)
        return CmcReport(
            **fields, concurrent=compacted, marking="concurrent" if cycle.get("concurrent") else "pause",
            longest_pause_s=cycle.get("longest_pause_s", base.pause_s), cycle=cycle,
            complete=complete, pauses=pauses,
            pages_by_gc=st["pages_by_gc"], pages_by_mutator=st["pages_by_mutator"],
            zero_pages=st["zero_pages"], fault_stalls_s=stalls,
            ioctls={"copy": st["ioctl_copy"], "move": st["ioctl_move"], "zeropage": st["ioctl_zeropage"],
                    "wake": st["ioctl_wake"]},
            eexist=st["eexist"], eagain=st["eagain"], ioctl_errors=st["ioctl_errors"],
            worker_failures=st["worker_failures"], process_rss_before=st["rss_before"],
            peak_rss=st["peak_rss"], released_bytes=st["released_bytes"],
            compaction_s=st["compaction_s"] if complete and compacted else 0.0,
            install=_ll.CMC_INSTALL_NAMES.get(st["install"], "copy"), auto_copy_pages=st["auto_copy_pages"],
            move_fallback=bool(st["move_fallback"]), error=error)

    def totals(self) -> dict:
        """Sums over every concurrent cycle of this runtime (completed ones, plus the
        running one so far): cycles, pages_by_gc, pages_by_mutator, zero_pages, faults,
        ioctl_errors, eexist, eagain, worker_failures, moved_bytes, released_bytes,
        recycled_pages, stalls, flip_s, compaction_s; prefault_pages and prefault_s (free pages
        made present ahead of allocation, csrc/cmc/prefault.c); fill_pages and fill_s (free pages
        filled with recycled from-space pages at a cycle's end, csrc/cmc/recycle.c). All zero
        after a fallback."""
        return _ll.gr_cmc_totals(self.rt._c)

    def inject(self, point: str, nth: int = 1, err: int = 5, times: int = 1) -> None:
        """The nth run of the step fails with err, and the times-1 runs after it (-1: forever)."""
        if not self.concurrent_capable:
            raise InvalidOption("fault injection needs a concurrent cmc runtime")
        _ll.gr_cmc_inject(self.rt._c, point, nth, err, times)


def _errno_name(rc: int) -> str:
    import errno
    return errno.errorcode.get(-rc, str(rc))


__all__ = ["CmcReport", "CmcState", "CycleOptions", "split_options", "HeapCorruption"]
