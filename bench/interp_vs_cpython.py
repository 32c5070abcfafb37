"""gcheap vs CPython on the same files, side by side in one run.

    python bench/interp_vs_cpython.py [--repeat N] [--quick] [--json FILE]

Workloads (BENCHMARKS.md): binarytrees depth 16, GCBench at full size, Splay.
Each is run by CPython and by `gcheap run` with every collector available here
(stw; cmc once merged), alternating, N times; the table reports the median wall
time with min and max, and the ratio gcheap/CPython of the medians (target <= 1.0).
Wall time is measured around the whole process (start-up and compile included).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WORKLOADS = [("binarytrees", "binarytrees.py", ["16"], "256M"),
             ("gcbench", "gcbench.py", [], "64M"),
             ("splay", "splay.py", [], "256M")]
QUICK = [("binarytrees", "binarytrees.py", ["12"], "64M"),
         ("gcbench", "gcbench.py", ["4"], "32M"),
         ("splay", "splay.py", ["5", "2000"], "64M")]
GCHEAP = [sys.executable, "-c", "import sys; from gcheap.cli import main; sys.exit(main())", "run"]


def collectors() -> list[str]:
    from gcheap.runtime import COLLECTORS
    return sorted(COLLECTORS)


def timed(cmd, env=None) -> tuple[float, str, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
    return t, r.stdout, r.stderr


def deterministic(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if not ln.startswith(("#time", "#heap"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test of the harness)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "interp_vs_cpython.json"))
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cols = collectors()
    rows = []
    for name, file, pargs, heap in (QUICK if args.quick else WORKLOADS):
        times: dict[str, list[float]] = {"cpython": []}
        for c in cols:
            times[c] = []
        pauses: dict[str, str] = {}
        for _ in range(args.repeat):
            t, ref_out, _ = timed([sys.executable, str(EXAMPLES / file), *pargs])
            times["cpython"].append(t)
            for c in cols:
                t, out, err = timed([*GCHEAP, "--collector", c, "--heap", heap, "--stats",
                                     str(EXAMPLES / file), "--", *pargs], env)
                if deterministic(out) != deterministic(ref_out):
                    raise SystemExit(f"{name} [{c}]: output differs from CPython's")
                times[c].append(t)
                pauses[c] = err.strip().splitlines()[-1]
        base = statistics.median(times["cpython"])
        row = {"workload": name, "args": pargs, "heap": heap, "repeat": args.repeat,
               "cpython_s": {"median": base, "min": min(times["cpython"]), "max": max(times["cpython"])}}
        for c in cols:
            med = statistics.median(times[c])
            row[c] = {"median": med, "min": min(times[c]), "max": max(times[c]), "ratio": med / base,
                      "pauses": pauses[c]}
        rows.append(row)
    print(f"{'workload':<12} {'cpython s (min-max)':<24}" + "".join(f"{c + ' s (min-max)':<24}{'ratio':>7}  " for c in cols))
    for row in rows:
        cp = row["cpython_s"]
        line = f"{row['workload'] + ' ' + ' '.join(row['args']):<12} {cp['median']:6.2f} ({cp['min']:.2f}-{cp['max']:.2f}){'':<8}"
        for c in cols:
            r = row[c]
            line += f"{r['median']:6.2f} ({r['min']:.2f}-{r['max']:.2f}){'':<8}{r['ratio']:7.2f}  "
        print(line)
    for row in rows:
        for c in cols:
            print(f"  {row['workload']}: {row[c]['pauses']}")
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": os.uname().nodename, "rows": rows}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
