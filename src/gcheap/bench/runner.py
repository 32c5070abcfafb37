"""One benchmark run, in a process of its own:

    python -m gcheap.bench.runner SPEC.json RESULT.json

SPEC (written by gcheap.bench.sweep) names the workload, collector, options,
heap size, and where the trace goes. The runner builds the runtime, starts a
timeline Recorder, runs the workload, and writes RESULT: the raw material of
every metric (pause log, cmc cycles, fault stalls, RSS samples, unit stamps),
times relative to the run's start, in seconds. Metrics are computed by the
harness from these (gcheap.bench.results), so they are computed in one place.

collector "cpython" runs a program under this CPython instead (runpy), with its
cyclic collector's pauses taken from gc.callbacks.

Exit status 0 when RESULT was written (whatever the workload's own outcome,
which is its "status"); anything else means the runner itself failed.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
import traceback


def _rel(t_ns: int, t0_ns: int) -> float:
    return round((t_ns - t0_ns) / 1e9, 9)


class _Ctx:
    """What an API workload sees (gcheap.bench.api_workloads)."""

    def __init__(self, rt, units, recorder) -> None:
        self.rt = rt
        self.units = units
        self._recorder = recorder

    def note(self, report) -> None:
        self._recorder.note_report(report)


def run_gcheap(spec: dict) -> dict:
    from gcheap.bench.units import UNITS_FLAG, UnitClock, deterministic_output, parse_units
    from gcheap.errors import GCHeapError, SubsetError
    from gcheap.runtime import Runtime
    from gcheap.runtime.timeline import Recorder, timeline, write_chrome_trace

    # A benchmark heap is a fixed size (as -Xms = -Xmx for the JVM): the soft
    # limit starts at the maximum, so heap multiples set how often it collects.
    rt = Runtime(spec["heap_bytes"], collector=spec["collector"], heap_initial=spec["heap_bytes"],
                 **spec.get("options", {}))
    status, error, extra, digest = "ok", None, {}, None
    units = ([], [])
    try:
        rec = Recorder(rt, poll_s=spec.get("poll_s", 0.001), sample_s=spec.get("sample_s", 0.01))
        c0 = time.process_time()
        if spec["kind"] == "program":
            from gcheap.interp.run import run_file
            argv = list(spec["args"]) + ([UNITS_FLAG] if spec.get("units") else [])
            with tempfile.TemporaryFile("w+") as out:
                rec.start()
                try:
                    res = run_file(spec["target"], argv, runtime=rt, stdout_fd=out.fileno())
                except SubsetError as e:
                    res = None
                    status, error = "error", f"not in the gcheap subset: {e}"
                rec.stop()
                out.seek(0)
                s, e, other = parse_units(out.read())
            units = (s, e)
            digest = hashlib.sha256("\n".join(deterministic_output(other)).encode()).hexdigest()[:16]
            if res is not None and res.status != "ok":
                status = "error"
                error = (f"{res.exc_type}: {res.message}" if res.status == "exception"
                         else f"runtime failed: {res.message}")
        else:
            from gcheap.bench import api_workloads
            fn = getattr(api_workloads, spec["target"])
            clock = UnitClock()
            rec.start()
            try:
                extra = fn(_Ctx(rt, clock, rec), *spec["args"]) or {}
            except (GCHeapError, MemoryError, RuntimeError, AssertionError) as e:
                status, error = "error", f"{type(e).__name__}: {e}"
            rec.stop()
            units = (clock.starts, clock.ends)
        cpu_s = time.process_time() - c0
        tl = timeline(rt, units)
    finally:
        rt.close()
    if spec.get("trace"):
        write_chrome_trace(tl, spec["trace"], name=spec.get("label", "gcheap"))
    t0 = tl["t0_ns"]
    stalls = [round(x, 9) for c in tl["cycles"] for x in c["stalls_s"]]
    s = tl["samples"]
    return {
        "status": status, "error": error, "wall_s": (tl["t1_ns"] - t0) / 1e9, "cpu_s": cpu_s,
        "pauses": [{"kind": p["kind"], "start_s": _rel(p["start_ns"], t0), "duration_s": p["pause_ns"] / 1e9,
                    "cause": p["cause"], "phases": {k: v / 1e9 for k, v in p["phases"].items()}}
                   for p in tl["pauses"]],
        "cycles": [{"seq": c["seq"], "cause": c["cause"], "marking": c["marking"],
                    "start_s": _rel(c["start_ns"], t0), "duration_s": (c["end_ns"] - c["start_ns"]) / 1e9,
                    "compaction_s": c["compaction_s"], "longest_pause_s": c["longest_pause_s"],
                    "gc_cpu_s": c["gc_cpu_s"], "alloc_stalls": c["alloc_stalls"],
                    "floating_bytes": c["floating_bytes"],
                    "phases": [[name, _rel(a, t0), (b - a) / 1e9] for name, a, b in c["phases"]],
                    "pages_by_gc": c["pages_by_gc"], "pages_by_mutator": c["pages_by_mutator"],
                    "fault_stalls": len(c["stalls_s"])} for c in tl["cycles"]],
        "unobserved_cycles": tl["unobserved_cycles"],
        "fault_stalls_s": stalls,
        "rss": [[_rel(t, t0), b] for t, b in zip(s["t_ns"], s["rss_bytes"])],
        "allocated": [[_rel(t, t0), b] for t, b in zip(s["t_ns"], s["allocated_bytes"])],
        "units": [[round(a - t0 / 1e9, 9), round(b - t0 / 1e9, 9)] for a, b in zip(*units)],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "output_digest": digest, "extra": extra,
    }


def run_cpython(spec: dict) -> dict:
    """The program under this CPython: wall time, its cyclic GC's pauses
    (gc.callbacks), RSS samples, units. Its output is captured, not printed."""
    import runpy

    from gcheap.bench.units import UNITS_FLAG, deterministic_output, parse_units
    from gcheap.runtime.timeline import process_rss

    pauses: list[list[int]] = []

    def on_gc(phase, info):
        if phase == "start":
            pauses.append([time.monotonic_ns(), 0])
        elif pauses:
            pauses[-1][1] = time.monotonic_ns() - pauses[-1][0]

    rss: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(spec.get("sample_s", 0.01)):
            rss.append((time.monotonic_ns(), process_rss()))

    argv = [spec["target"], *spec["args"]] + ([UNITS_FLAG] if spec.get("units") else [])
    out = io.StringIO()
    status, error = "ok", None
    old_argv = sys.argv
    sys.argv = argv
    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.monotonic_ns()
    c0 = time.process_time()
    gc.callbacks.append(on_gc)
    sampler.start()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(spec["target"], run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            status, error = "error", f"SystemExit: {e.code}"
    except BaseException as e:      # noqa: BLE001 - the program's exception is its outcome
        if isinstance(e, KeyboardInterrupt):
            raise
        status, error = "error", f"{type(e).__name__}: {e}"
        traceback.print_exc()
    finally:
        gc.callbacks.remove(on_gc)
        stop.set()
        sys.argv = old_argv
    t1 = time.monotonic_ns()
    cpu_s = time.process_time() - c0
    sampler.join()
    s, e, other = parse_units(out.getvalue())
    if spec.get("trace"):
        from gcheap.runtime.timeline import write_chrome_trace
        tl = {"t0_ns": t0, "t1_ns": t1, "collector": "cpython", "unobserved_cycles": None, "cycles": [],
              "pauses": [{"seq": i + 1, "kind": "cpython-gc", "collector": "cpython", "cause": "threshold",
                          "start_ns": a, "pause_ns": d, "phases": {}, "extra": {}} for i, (a, d) in enumerate(pauses)],
              "samples": {"t_ns": [t for t, _ in rss], "rss_bytes": [b for _, b in rss],
                          "allocated_bytes": [0 for _ in rss]},
              "units": {"start_s": s, "end_s": e}}
        write_chrome_trace(tl, spec["trace"], name=spec.get("label", "cpython"))
    return {
        "status": status, "error": error, "wall_s": (t1 - t0) / 1e9, "cpu_s": cpu_s,
        "pauses": [{"kind": "cpython-gc", "start_s": _rel(a, t0), "duration_s": d / 1e9, "cause": "threshold",
                    "phases": {}} for a, d in pauses],
        "cycles": [], "unobserved_cycles": None, "fault_stalls_s": [],
        "rss": [[_rel(t, t0), b] for t, b in rss], "allocated": [],
        "units": [[round(a - t0 / 1e9, 9), round(b - t0 / 1e9, 9)] for a, b in zip(s, e)],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "output_digest": hashlib.sha256("\n".join(deterministic_output(other)).encode()).hexdigest()[:16],
        "extra": {},
    }


def run(spec: dict) -> dict:
    if spec["collector"] == "cpython":
        return run_cpython(spec)
    return run_gcheap(spec)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m gcheap.bench.runner SPEC.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        spec = json.load(f)
    try:
        result = run(spec)
    except Exception as e:          # noqa: BLE001 - recorded as the run's outcome, with the traceback on stderr
        traceback.print_exc()
        result = {"status": "error", "error": f"{type(e).__name__}: {e}"}
    tmp = argv[1] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main(sys.argv[1:]))
