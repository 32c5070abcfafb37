"""What the write barrier costs when no collection runs, and what a card-marking
barrier would cost instead (the measurement behind the SATB choice, docs/cmc.md).

Builds two measurement variants of the C core next to the normal one
(GCHEAP_BARRIER=none: no barrier at all; GCHEAP_BARRIER=card: an unconditional
card mark per reference store, as ART and CMS do, before the same SATB check)
into build/barrier-*/, then runs binarytrees 16 and GCBench under each, in a
heap so large that they never collect (0 pauses, checked), interleaved, and
reports the median wall time of each and the ratio to the barrier-free build.

    python bench/barrier_cost.py [--repeat 5] [--programs binarytrees,gcbench]
    python bench/barrier_cost.py --instructions   # valgrind: instructions inside gi_run

On a shared machine wall times vary by more than the barrier costs; with
--instructions the programs run (smaller: binarytrees 13, GCBench shift 2) under
valgrind's callgrind, which counts the instructions executed inside the VM
(gi_run and what it calls): repeatable to the instruction, whatever else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = {"binarytrees": ("examples/binarytrees.py", ["16"]), "gcbench": ("examples/gcbench.py", [])}


def build_variant(name: str) -> Path:
    """build/barrier-<name>/pkg holding gcheap with that variant's C core."""
    out = ROOT / "build" / f"barrier-{name}"
    pkg = out / "pkg"
    env = dict(os.environ, GCHEAP_BARRIER=name, PYTHONWARNINGS="ignore")
    subprocess.run([sys.executable, "setup.py", "-q", "build_clib", "--build-clib", str(out / "clib"), "build_ext",
                    "--build-lib", str(out / "lib"), "--build-temp", str(out / "tmp"), "-L", str(out / "clib")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    if pkg.exists():
        shutil.rmtree(pkg)
    shutil.copytree(ROOT / "src" / "gcheap", pkg / "gcheap", ignore=shutil.ignore_patterns("_native*.so", "__pycache__"))
    for so in (out / "lib" / "gcheap").glob("_native*.so"):
        shutil.copy(so, pkg / "gcheap")
    return pkg


def run(pkg: Path, program: str, args: list[str]) -> float:
    with tempfile.NamedTemporaryFile(suffix=".json") as js:
        env = dict(os.environ, PYTHONPATH=str(pkg))
        subprocess.run([sys.executable, "-m", "gcheap", "run", "--heap", "8G", "--heap-initial", "8G", "--stats-json", js.name,
                        str(ROOT / program), "--", *args], env=env, check=True, capture_output=True, cwd=ROOT)
        d = json.load(open(js.name))
    assert d["pauses"]["count"] == 0, f"{program} collected: pick a larger heap"
    return d["wall_s"]


def instructions(pkg: Path, program: str, args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, PYTHONPATH=str(pkg))
        subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=gi_run", f"--callgrind-out-file={d}/cg",
                        sys.executable, "-m", "gcheap", "run", "--heap", "8G", "--heap-initial", "8G",
                        str(ROOT / program), "--", *args], env=env, check=True, capture_output=True, cwd=ROOT)
        for line in open(f"{d}/cg"):
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no callgrind totals")


SMALL = {"binarytrees": ["13"], "gcbench": ["2"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--programs", default="binarytrees,gcbench")
    ap.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    a = ap.parse_args()
    variants = {"none": build_variant("none"), "satb (gcheap)": ROOT / "src", "card": build_variant("card")}
    progs = a.programs.split(",")
    if a.instructions:
        print("instructions executed inside gi_run (valgrind --tool=callgrind), no collection")
        print(f"{'program':<16} {'barrier':<14} {'instructions':>14} {'/ none':>8}")
        for p in progs:
            prog, _ = PROGRAMS[p]
            counts = {v: instructions(pkg, prog, SMALL[p]) for v, pkg in variants.items()}
            for v, n in counts.items():
                print(f"{p + ' ' + SMALL[p][0]:<16} {v:<14} {n:>14,} {n / counts['none']:>8.4f}")
        return
    times: dict = {(v, p): [] for v in variants for p in progs}
    for _ in range(a.repeat):
        for p in progs:
            for v, pkg in variants.items():
                times[(v, p)].append(run(pkg, *PROGRAMS[p]))
    print(f"wall time with no collection, median of {a.repeat} interleaved runs (min-max)")
    print(f"{'program':<12} {'barrier':<14} {'wall s':>8} {'min-max':>14} {'/ none':>7}")
    for p in progs:
        base = statistics.median(times[("none", p)])
        for v in variants:
            t = times[(v, p)]
            print(f"{p:<12} {v:<14} {statistics.median(t):>8.3f} {min(t):>6.3f}-{max(t):<7.3f} "
                  f"{statistics.median(t) / base:>7.3f}")


if __name__ == "__main__":
    main()
