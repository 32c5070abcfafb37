"""The runtime's timeline and its export as Chrome trace-event JSON (Perfetto UI).

What a timeline holds, all on CLOCK_MONOTONIC (the pause log's clock, and
time.perf_counter()'s on Linux, so a program's own stamps line up):

- every pause, from the C pause log (complete: the log keeps them all), with its
  phases laid end to end from the pause start in execution order. The "kind" is
  the log's own field when it has one, else the collector's name; fields this
  module does not know are carried into the event's args unchanged;
- collector "cmc": every cycle from the C cycle log (complete): its concurrent
  phases on the "gc threads" track, between its pauses: marking (start pause to
  remark, and between resumed remarks), prepare (remark to flip) and compaction
  (flip to the last page installed). Pages built and fault stalls per cycle come
  from the C statistics of the current cycle, which a Recorder polls; a cycle
  whose statistics were not seen before the next one started is counted in
  "unobserved_cycles" (it is on the timeline, without pages and stalls);
- RSS of the process and bytes allocated, sampled by the Recorder;
- units of work of a workload (start, end), when the caller adds them.

    rec = Recorder(rt).start()      # sampler thread; stopped by rec.stop() or rt.close()
    ...                             # run the mutator
    rt.trace("run.json")            # or: write_chrome_trace(timeline(rt), "run.json")
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import numpy as np

from gcheap import _lowlevel as _ll

_PAGE = os.sysconf("SC_PAGE_SIZE")
_COLLECTOR_NAMES = {_ll.GR_COLLECTOR_STW: "stw", _ll.GR_COLLECTOR_CMC: "cmc"}
# Fields of a pause record that become top-level keys of a normalised pause.
_KNOWN = {"seq", "collector", "cause", "start_ns", "pause_ns", "phase_ns", "kind", "phases"}


def process_rss() -> int:
    """Resident bytes of this process (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def normalize_pause(p: dict) -> dict:
    """A pause record (gcheap._lowlevel.pauses() dict, or a later, richer one) as
    {seq, kind, collector, cause, start_ns, pause_ns, phases: {name: ns}, extra: {...}}."""
    collector = p.get("collector")
    collector = _COLLECTOR_NAMES.get(collector, str(collector)) if not isinstance(collector, str) else collector
    cause = p.get("cause")
    cause = _ll.CAUSE_NAMES.get(cause, str(cause)) if not isinstance(cause, str) else cause
    if isinstance(p.get("phases"), dict):
        phases = {str(k): int(v) for k, v in p["phases"].items()}
    else:
        phases = {name: int(ns) for name, ns in zip(_ll.PHASE_NAMES, p.get("phase_ns", ())) if ns}
    if collector == "cmc" and "compact" in phases:
        phases["flip"] = phases.pop("compact")        # cmc's "compact" phase is the flip
    kind = p.get("kind")
    kind = collector if kind is None else str(kind)
    extra = {k: v for k, v in p.items() if k not in _KNOWN}
    return {"seq": int(p.get("seq", 0)), "kind": kind, "collector": collector, "cause": cause,
            "start_ns": int(p["start_ns"]), "pause_ns": int(p["pause_ns"]), "phases": phases, "extra": extra}


class Recorder:
    """Samples a runtime in a background thread: RSS and bytes allocated every
    sample_s, and (collector "cmc") the statistics of each concurrent cycle as it
    ends, polled every poll_s. Calls only C entry points that take no part in the
    safepoint protocol (statistics), so it never holds up a pause."""

    def __init__(self, rt, poll_s: float = 0.001, sample_s: float = 0.01) -> None:
        if poll_s <= 0 or sample_s <= 0:
            raise ValueError("poll_s and sample_s must be positive")
        self.rt = rt
        self.poll_s = poll_s
        self.sample_every = max(1, round(sample_s / poll_s))
        self.t0_ns = time.monotonic_ns()
        self.t1_ns: int | None = None
        self.samples: list[tuple[int, int, int]] = []          # (t_ns, rss bytes, allocated bytes)
        self.cycles: dict[int, dict] = {}
        self.unobserved_cycles = 0
        self._cmc = getattr(rt, "_cmc", None)
        self._concurrent = bool(self._cmc is not None and self._cmc.concurrent_capable)
        self._cycles_before = _ll.gr_cmc_totals(rt._c)["cycles"] if self._concurrent else 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gcheap-timeline", daemon=True)

    def start(self) -> "Recorder":
        self.rt._timeline_recorder = self
        self.t0_ns = time.monotonic_ns()
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> "Recorder":
        """Stops sampling (idempotent). Waits for a running cmc cycle first, so that
        the last one is on the timeline."""
        if self.t1_ns is not None:
            return self
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if not self.rt.closed:
            if self._concurrent:
                self._cmc._wait()
                self._poll_cycle()
                total = _ll.gr_cmc_totals(self.rt._c)["cycles"] - self._cycles_before
                self.unobserved_cycles = max(0, int(total) - len(self.cycles))
            self._sample()
        self.t1_ns = time.monotonic_ns()
        return self

    def note_report(self, rep) -> None:
        """Records the cycle of a complete CmcReport (rt.gc() / rt.wait_gc()): Python
        code that collects explicitly knows each cycle's end, polling may not."""
        if rep is None or not getattr(rep, "concurrent", False) or not rep.complete:
            return
        seq = int(rep.cycle.get("seq", 0)) if getattr(rep, "cycle", None) else rep.seq
        with self._lock:
            self.cycles.setdefault(seq, {
                "seq": seq, "compaction_s": float(rep.compaction_s), "flip_s": float(rep.pauses.get("flip", 0.0)),
                "pages_by_gc": int(rep.pages_by_gc), "pages_by_mutator": int(rep.pages_by_mutator),
                "zero_pages": int(rep.zero_pages), "peak_rss": int(rep.peak_rss),
                "stalls_s": [float(x) for x in rep.fault_stalls_s]})

    # -- sampling ---------------------------------------------------------------
    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(self.poll_s):
            with self._lock:
                if self.rt.closed:
                    return
                try:
                    if self._concurrent:
                        self._poll_cycle()
                    tick += 1
                    if tick % self.sample_every == 0:
                        self._sample()
                except Exception:       # the runtime went away under us: stop quietly
                    return

    def _sample(self) -> None:
        rc, st = _ll.stats(self.rt._c)
        self.samples.append((time.monotonic_ns(), process_rss(), int(st["bytes_allocated"]) if rc == 0 else 0))

    def _poll_cycle(self) -> None:
        c = self.rt._c
        info, st = _ll.gr_cmc_info(c)
        seq = int(info["pause_seq"])            # the cycle these statistics belong to
        if st["active"] or not info["concurrent"] or seq in self.cycles or seq == 0:
            return
        stalls = _ll.gr_cmc_stalls(c, max(int(st["stalls"]), 1)) if st["stalls"] else np.zeros(0)
        info2, st2 = _ll.gr_cmc_info(c)
        if int(info2["pause_seq"]) != seq or st2["active"]:
            return                      # the next cycle flipped meanwhile: these stalls may be its
        self.cycles[seq] = {"seq": seq, "compaction_s": float(st["compaction_s"]), "flip_s": float(st["flip_s"]),
                            "pages_by_gc": int(st["pages_by_gc"]), "pages_by_mutator": int(st["pages_by_mutator"]),
                            "zero_pages": int(st["zero_pages"]), "peak_rss": int(st["peak_rss"]),
                            "stalls_s": [float(x) for x in stalls]}


# ---------------------------------------------------------------- the timeline

def _cmc_cycles(rt, rec, pauses: list[dict]) -> list[dict]:
    """The cycles of the C cycle log with their concurrent intervals (ns)."""
    cmc = getattr(rt, "_cmc", None)
    if rt.closed or cmc is None or not cmc.concurrent_capable:
        return []
    by_seq = {p["seq"]: p for p in pauses}
    polled = dict(rec.cycles) if rec is not None else {}
    if rec is None:                                   # without a recorder: the last cycle's statistics
        cmc._wait()
        info, st = _ll.gr_cmc_info(rt._c)
        if info["concurrent"] and info["pause_seq"]:
            polled[int(info["pause_seq"])] = {
                "pages_by_gc": int(st["pages_by_gc"]), "pages_by_mutator": int(st["pages_by_mutator"]),
                "zero_pages": int(st["zero_pages"]), "peak_rss": int(st["peak_rss"]),
                "stalls_s": [float(x) for x in _ll.gr_cmc_stalls(rt._c, max(int(st["stalls"]), 1))]}
    out = []
    for c in cmc.cycles():
        ps = [by_seq[s] for s in c["pause_seq"] if s in by_seq]
        if not ps or c["failed"]:
            continue
        phases = []
        # between consecutive pauses of the cycle: marking up to its last remark
        # (catch-up pauses before a remark are part of it), prepare after
        last_remark = max((i for i, q in enumerate(ps) if q["kind"] == "remark"), default=len(ps))
        for i, (a, b) in enumerate(zip(ps, ps[1:])):
            name = "prepare" if i >= last_remark else "concurrent mark"
            phases.append((name, a["start_ns"] + a["pause_ns"], b["start_ns"]))
        last = ps[-1]
        flip_end = last["start_ns"] + last["pause_ns"]
        end = int(c["end_s"] * 1e9) if c["end_s"] > c["flip_end_s"] else flip_end
        if c["compacted"] and end > flip_end:
            phases.append(("concurrent compaction", flip_end, end))
        stats = polled.get(c["seq"], {})
        out.append({"seq": c["seq"], "cause": _ll.CAUSE_NAMES.get(c["cause"], str(c["cause"])),
                    "marking": "concurrent" if c["concurrent"] else "pause",
                    "start_ns": ps[0]["start_ns"], "end_ns": max(end, flip_end), "phases": phases,
                    "compaction_s": c["compaction_s"], "flip_s": last["pause_ns"] / 1e9,
                    "longest_pause_s": c["longest_pause_s"], "gc_cpu_s": c["gc_cpu_s"],
                    "alloc_stalls": c["alloc_stalls"], "floating_bytes": c["floating_bytes"],
                    "pages_by_gc": stats.get("pages_by_gc", 0), "pages_by_mutator": stats.get("pages_by_mutator", 0),
                    "zero_pages": stats.get("zero_pages", 0), "peak_rss": stats.get("peak_rss", 0),
                    "stalls_s": stats.get("stalls_s", []), "observed": bool(stats)})
    return out


def timeline(rt, units: "tuple[list[float], list[float]] | None" = None) -> dict:
    """A runtime's timeline as plain data (times in ns, CLOCK_MONOTONIC)."""
    rec: Recorder | None = getattr(rt, "_timeline_recorder", None)
    pauses = [normalize_pause(p) for p in _ll.pauses(rt._c)] if not rt.closed else []
    cycles = _cmc_cycles(rt, rec, pauses)
    unobserved = sum(1 for c in cycles if not c["observed"] and c["marking"] == "concurrent")
    t0 = getattr(rt, "_created_ns", None)
    if rec is not None:
        t0 = rec.t0_ns
    ends = [p["start_ns"] + p["pause_ns"] for p in pauses] + [c["end_ns"] for c in cycles]
    t1 = rec.t1_ns if rec is not None and rec.t1_ns else time.monotonic_ns()
    if t0 is None:
        t0 = min([p["start_ns"] for p in pauses], default=t1)
    t1 = max([t1, *ends])
    out = {"t0_ns": int(t0), "t1_ns": int(t1), "collector": getattr(rt, "collector", "?"),
           "pauses": pauses, "cycles": sorted(cycles, key=lambda c: c["seq"]),
           "unobserved_cycles": unobserved if rec is not None else None,
           "samples": {"t_ns": [s[0] for s in rec.samples] if rec else [],
                       "rss_bytes": [s[1] for s in rec.samples] if rec else [],
                       "allocated_bytes": [s[2] for s in rec.samples] if rec else []}}
    if units is not None:
        out["units"] = {"start_s": list(units[0]), "end_s": list(units[1])}
    return out


# ---------------------------------------------------------------- Chrome trace events

PID = 1
TID_PAUSES, TID_GC, TID_UNITS = 1, 2, 3


def chrome_trace(tl: dict, name: str = "gcheap") -> dict:
    """The timeline as a Chrome trace-event JSON object (times in microseconds from
    the timeline's t0): pauses with nested phases on track "pauses", concurrent
    compaction on "gc threads", units of work on "mutator units", counters for
    RSS and allocation."""
    t0 = tl["t0_ns"]

    def us(ns: float) -> float:
        return round((ns - t0) / 1e3, 3)

    ev: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": name}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": TID_PAUSES, "args": {"name": "pauses"}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": TID_GC, "args": {"name": "gc threads"}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": TID_UNITS, "args": {"name": "mutator units"}},
    ]
    for p in tl["pauses"]:
        start, dur = p["start_ns"], p["pause_ns"]
        args = {"seq": p["seq"], "collector": p["collector"], "cause": p["cause"],
                "pause_ms": dur / 1e6, **{k: v for k, v in p["extra"].items() if _jsonable(v)}}
        ev.append({"name": p["kind"], "cat": "pause", "ph": "X", "ts": us(start), "dur": round(dur / 1e3, 3),
                   "pid": PID, "tid": TID_PAUSES, "args": args})
        at = start
        for phase, ns in p["phases"].items():           # end to end, clamped to the pause
            ns = min(ns, start + dur - at)
            if ns <= 0:
                continue
            ev.append({"name": phase, "cat": "phase", "ph": "X", "ts": us(at), "dur": round(ns / 1e3, 3),
                       "pid": PID, "tid": TID_PAUSES})
            at += ns
    for c in tl["cycles"]:
        st = np.asarray(c.get("stalls_s", ()), dtype=np.float64)
        for name, a, b in c.get("phases", ()):
            args = {"cycle": c["seq"], "cause": c.get("cause")}
            if name == "concurrent compaction":
                args.update(pages_by_gc=c["pages_by_gc"], pages_by_mutator=c["pages_by_mutator"],
                            fault_stalls=int(st.size))
                if st.size:
                    args.update(stall_p50_us=float(np.median(st)) * 1e6, stall_max_us=float(st.max()) * 1e6)
            ev.append({"name": name, "cat": "gc", "ph": "X", "ts": us(a), "dur": round((b - a) / 1e3, 3),
                       "pid": PID, "tid": TID_GC, "args": args})
    s = tl["samples"]
    for t, rss, alloc in zip(s["t_ns"], s["rss_bytes"], s["allocated_bytes"]):
        ev.append({"name": "rss", "ph": "C", "ts": us(t), "pid": PID, "args": {"MiB": round(rss / 2**20, 3)}})
        ev.append({"name": "allocated", "ph": "C", "ts": us(t), "pid": PID,
                   "args": {"MiB": round(alloc / 2**20, 3)}})
    units = tl.get("units")
    if units:
        for i, (a, b) in enumerate(zip(units["start_s"], units["end_s"])):
            ev.append({"name": "unit", "cat": "unit", "ph": "X", "ts": us(a * 1e9), "dur": round((b - a) * 1e6, 3),
                       "pid": PID, "tid": TID_UNITS, "args": {"i": i}})
    other = {"collector": tl.get("collector"), "t0_ns": t0, "duration_s": (tl["t1_ns"] - t0) / 1e9,
             "unobserved_cycles": tl.get("unobserved_cycles")}
    return {"traceEvents": ev, "displayTimeUnit": "ms", "otherData": other}


def _jsonable(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None


def write_chrome_trace(tl: dict, path: "str | os.PathLike", name: str = "gcheap") -> None:
    with open(path, "w") as f:
        json.dump(chrome_trace(tl, name), f, separators=(",", ":"))
        f.write("\n")


def write_trace(rt, path: "str | os.PathLike") -> None:
    """Runtime.trace(path): this runtime's timeline so far as Chrome trace JSON."""
    write_chrome_trace(timeline(rt), path)
