"""pyperformance's benchmark files under gcheap and under CPython, side by side.

The files come from the installed pyperformance package (a test extra); both
interpreters run them unmodified with gcheap's pyperf stand-in (lib/pyperf.py:
CPython gets it from a small shim directory on PYTHONPATH), so both print the
same `NAME: RESULT` lines.

    python -m gcheap.interp.pyperformance [--repeat N] [--collectors stw,cmc] [NAME ...]

runs each benchmark in its timing configuration (TIMING) under CPython and
gcheap, alternating, and prints the wall time of each process (start-up and
compilation included), the time the benchmark itself measured, their ratios,
and gcheap's GC figures under each collector (pauses, longest pause, pages
built by GC threads and by mutators), from one more run with --stats-json (the
timed runs do not compute them).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The benchmarks that run unmodified, in the order, then the others.
BENCHMARKS = ["richards", "deltablue", "nbody", "nqueens", "fannkuch", "float", "spectral_norm",
              "gc_collect", "gc_traversal", "unpack_sequence", "meteor_contest", "scimark",
              "barnes_hut", "chaos", "go", "hexiom", "raytrace", "richards_super", "generators"]

# Short configurations (the benchmarks' own options): the differential tests.
QUICK = {
    "nbody": ["--iterations", "2000"],
    "barnes_hut": ["--iterations", "10", "--particles", "100"],
    "chaos": ["--iterations", "2000"],
    "raytrace": ["--width", "40", "--height", "40"],
    "hexiom": ["--level", "2"],
}

# Timing configurations: each runs about 1-3 s under CPython.
TIMING = {
    "richards": ["--loops", "20"],
    "deltablue": ["--loops", "200"],
    "nbody": ["--loops", "2", "--iterations", "100000"],
    "nqueens": ["--loops", "10"],
    "fannkuch": ["--loops", "2"],
    "float": ["--loops", "10"],
    "spectral_norm": ["--loops", "10"],
    "gc_collect": ["--loops", "100"],
    "gc_traversal": ["--loops", "100"],
    "unpack_sequence": ["--loops", "200000"],
    "meteor_contest": ["--loops", "6"],
    "scimark": ["--loops", "3"],
    "barnes_hut": ["--loops", "2"],
    "chaos": ["--loops", "20"],
    "go": ["--loops", "10"],
    "hexiom": ["--loops", "100"],
    "raytrace": ["--loops", "5"],
    "richards_super": ["--loops", "20"],
    "generators": ["--loops", "20"],
}

STAND_IN = pathlib.Path(__file__).resolve().parent / "lib" / "pyperf.py"
GCHEAP = [sys.executable, "-c", "import sys; from gcheap.cli import main; sys.exit(main())", "run"]


def benchmarks_dir() -> pathlib.Path:
    import pyperformance
    d = pathlib.Path(pyperformance.__file__).parent / "data-files" / "benchmarks"
    if not d.is_dir():
        raise FileNotFoundError(f"no benchmark files under {d}")
    return d


def benchmark_file(name: str) -> pathlib.Path:
    return benchmarks_dir() / f"bm_{name}" / "run_benchmark.py"


def shim_dir() -> pathlib.Path:
    """A directory holding only the stand-in, as `pyperf` (for CPython's side)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="gcheap-pyperf-"))
    shutil.copy(STAND_IN, d / "pyperf.py")
    return d


def run_cpython(name: str, args, shim: pathlib.Path, timeout: float = 600):
    env = dict(os.environ, PYTHONPATH=str(shim))
    return subprocess.run([sys.executable, str(benchmark_file(name)), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def run_gcheap(name: str, args, options=(), timeout: float = 600):
    src = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run([*GCHEAP, *options, str(benchmark_file(name)), "--", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def measured_seconds(stderr: str) -> float | None:
    """The time the stand-in reports: the benchmark's own measurement if it made one."""
    m = re.search(r": ([0-9.]+) s", stderr)
    return float(m.group(1)) if m else None


def _timed(run):
    t0 = time.perf_counter()
    r = run()
    return time.perf_counter() - t0, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gcheap.interp.pyperformance", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="benchmarks (default: all of BENCHMARKS)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--collectors", default="stw,cmc")
    ap.add_argument("--heap", default="256M")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    names = args.names or BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    try:
        benchmarks_dir()
    except ImportError:
        ap.error("the benchmark files come from the pyperformance package: pip install pyperformance==1.14.0")
    collectors = args.collectors.split(",")
    shim = shim_dir()
    rows = []
    try:
        for name in names:
            bargs = TIMING.get(name, [])
            times = {"cpython": [], **{c: [] for c in collectors}}
            inner = {"cpython": [], **{c: [] for c in collectors}}
            stats = {}
            for _ in range(args.repeat):
                t, r = _timed(lambda: run_cpython(name, bargs, shim))
                if r.returncode != 0:
                    raise SystemExit(f"{name} under CPython failed:\n{r.stderr}")
                ref = r.stdout
                times["cpython"].append(t)
                inner["cpython"].append(measured_seconds(r.stderr))
                for c in collectors:
                    t, g = _timed(lambda: run_gcheap(name, bargs, ["--collector", c, "--heap", args.heap]))
                    if g.returncode != 0 or g.stdout != ref:
                        raise SystemExit(f"{name} [{c}]: failed or output differs from CPython's:\n{g.stderr}")
                    times[c].append(t)
                    inner[c].append(measured_seconds(g.stderr))
            for c in collectors:
                # GC figures from one more run: --stats-json computes them after the
                # run (numpy's import included), which the timed runs do not pay
                with tempfile.NamedTemporaryFile(suffix=".json") as js:
                    g = run_gcheap(name, bargs, ["--collector", c, "--heap", args.heap, "--stats-json", js.name])
                    if g.returncode != 0 or g.stdout != ref:
                        raise SystemExit(f"{name} [{c}]: failed or output differs from CPython's:\n{g.stderr}")
                    stats[c] = json.loads(pathlib.Path(js.name).read_text())["pauses"]
            row = {"name": name, "args": bargs}
            for k in times:
                row[k] = {"wall": statistics.median(times[k]),
                          "measured": statistics.median([x for x in inner[k] if x is not None] or [0.0])}
            for c in collectors:
                row[c]["ratio_wall"] = row[c]["wall"] / row["cpython"]["wall"]
                row[c]["ratio_measured"] = (row[c]["measured"] / row["cpython"]["measured"]
                                            if row["cpython"]["measured"] else None)
                row[c]["gc"] = stats[c]
            rows.append(row)
            _print_row(row, collectors)
            sys.stdout.flush()
    finally:
        shutil.rmtree(shim, ignore_errors=True)
    print()
    for c in collectors:
        for key in ("ratio_wall", "ratio_measured"):
            vals = [r[c][key] for r in rows if r[c][key]]
            geo = math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else float("nan")
            print(f"geometric mean {key} [{c}]: {geo:.2f}  (worst {max(vals):.2f})")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def _print_row(row, collectors):
    cp = row["cpython"]
    line = f"{row['name']:<16} cpython {cp['wall']:6.2f} s ({cp['measured']:6.2f})"
    for c in collectors:
        r = row[c]
        g = r["gc"]
        pages = g.get("cmc_pages") or {}
        extra = (f"; {g['count']} pauses, max {g['max_ms']:.2f} ms"
                 + (f", pages {pages.get('pages_by_gc', 0)} GC / {pages.get('pages_by_mutator', 0)} mutators"
                    if pages else ""))
        rm = f"{r['ratio_measured']:.2f}" if r["ratio_measured"] else "-"
        line += f" | {c} {r['wall']:6.2f} s ({r['measured']:6.2f}) x{r['ratio_wall']:.2f} ({rm}){extra}"
    print(line)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:       # the benchmark processes got the SIGINT too
        sys.exit(130)
